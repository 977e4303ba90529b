//! What the benches that run mfactl as separate processes share: the emulator as its own
//! process, its request log, and a process's peak memory. Pulled in with `#[path]`.

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// The emulator process; killed when dropped.
pub struct EmulatorProcess {
    pub child: Child,
    pub graph_url: String,
    pub login_url: String,
    pub ca_file: String,
}

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start_emulator(bin: &str, dir: &Path, state: &Path, latency: usize) -> EmulatorProcess {
    use std::io::BufRead;
    let mut child = Command::new(bin)
        .args(["emulator", "--tls", "--ca-file"])
        .arg(dir.join("ca.pem"))
        .arg("--state")
        .arg(state)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--latency-ms",
            &latency.to_string(),
            "--throttle",
            "graph",
            "--request-log-limit",
            "2000000",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(File::create(dir.join("emulator.err")).expect("emulator.err"))
        .spawn()
        .expect("start the emulator");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = std::io::BufReader::new(stdout);
    let mut first = String::new();
    lines.read_line(&mut first).expect("emulator's first line");
    // Keep draining what else it prints, so that it never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut lines, &mut std::io::sink()));
    let endpoints: Value = serde_json::from_str(first.trim())
        .unwrap_or_else(|e| panic!("emulator's first line {first:?}: {e}"));
    let field = |k: &str| endpoints[k].as_str().unwrap_or_default().to_string();
    EmulatorProcess {
        graph_url: field("graphUrl"),
        login_url: field("loginUrl"),
        ca_file: field("caFile"),
        child,
    }
}

pub fn log_url(emu: &EmulatorProcess) -> String {
    format!("{}/_emulator/requests", emu.graph_url)
}

pub fn clear_log(rt: &tokio::runtime::Runtime, http: &reqwest::Client, emu: &EmulatorProcess) {
    rt.block_on(async { http.delete(log_url(emu)).send().await?.error_for_status() })
        .expect("clear the request log");
}

pub fn read_log(
    rt: &tokio::runtime::Runtime,
    http: &reqwest::Client,
    emu: &EmulatorProcess,
) -> Vec<Value> {
    let body: Value = rt
        .block_on(async {
            http.get(log_url(emu))
                .send()
                .await?
                .error_for_status()?
                .json()
                .await
        })
        .expect("read the request log");
    match body {
        Value::Object(mut o) => match o.remove("value") {
            Some(Value::Array(a)) => a,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

pub fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
