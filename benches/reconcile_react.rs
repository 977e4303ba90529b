//! Time to react: how long after a policy file changes the running controller has applied
//! the change. Runs the real binary (`mfactl reconcile --sandbox --mode enforce`, interval one
//! hour, so only the file watch can trigger a cycle) on a copy of the shipped policies, flips
//! one method's state N times, and times each edit until the controller reports it applied.
//!
//! Lower bound: the debounce (the files must be quiet for 500 ms, so that a `git pull` is one
//! cycle) plus the time one applying cycle takes, read from the controller's own metrics.
//! Run: `cargo bench --bench reconcile_react` (`MFACTL_BENCH_EDITS`, default 15).
#![allow(clippy::disallowed_macros)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const DEBOUNCE: Duration = Duration::from_millis(500);

fn wait_for(rx: &mpsc::Receiver<String>, what: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains(what) => return line,
            Ok(_) => {}
            Err(e) => panic!("waiting for {what:?}: {e}"),
        }
    }
}

/// The shipped authentication-methods baseline (what the figures in the README were measured
/// with; the Conditional Access part of `policies/` has its own bench, `migration`).
fn copy_policies(to: &Path) {
    std::fs::create_dir_all(to).expect("temp dir");
    let name = "authentication-methods.yaml";
    let from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("policies")
        .join(name);
    std::fs::copy(from, to.join(name)).expect("copy");
}

/// A plain HTTP/1.0 GET, enough for the controller's /metrics.
fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
        return String::new();
    };
    let _ = write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    text
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let measuring = std::env::args().any(|a| a == "--bench");
    let edits: usize = std::env::var("MFACTL_BENCH_EDITS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if measuring { 15 } else { 2 });
    let dir: PathBuf = std::env::temp_dir().join(format!("mfactl-react-{}", std::process::id()));
    copy_policies(&dir);
    let file = dir.join("authentication-methods.yaml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_mfactl"))
        .args([
            "reconcile",
            "--sandbox",
            "--mode",
            "enforce",
            "--interval",
            "1h",
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--policies")
        .arg(&dir)
        .arg("--state-dir")
        .arg(dir.join("state"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mfactl reconcile");
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let start = wait_for(&rx, "/metrics on http://");
    let base = start.rsplit("on ").next().unwrap_or_default().to_string();
    wait_for(&rx, "applied");
    let mut reactions = Vec::new();
    for i in 0..edits {
        let text = std::fs::read_to_string(&file).expect("policy");
        let (from, to) = if i % 2 == 0 {
            ("disabled", "enabled")
        } else {
            ("enabled", "disabled")
        };
        let edited = text.replacen(
            &format!("    voice:\n      state: {from}\n"),
            &format!("    voice:\n      state: {to}\n"),
            1,
        );
        assert_ne!(edited, text, "edit {i}");
        let t0 = Instant::now();
        std::fs::write(&file, edited).expect("write");
        wait_for(&rx, "applied");
        reactions.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    let metrics = http_get(base.trim_start_matches("http://"), "/metrics");
    let value = |name: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
    };
    let cycle_ms = match (
        value("mfactl_reconcile_duration_seconds_sum"),
        value("mfactl_reconcile_duration_seconds_count"),
    ) {
        (Some(sum), Some(count)) if count > 0.0 => sum / count * 1000.0,
        _ => f64::NAN,
    };
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let med = median(reactions.clone());
    let bound = DEBOUNCE.as_secs_f64() * 1000.0 + cycle_ms;
    println!(
        "reconcile_react: {edits} edits of a policy file, controller in enforce mode with a 1 h interval (sandbox, TLS, Graph-like throttling)"
    );
    println!(
        "time to react (edit → applied and verified): median {med:.0} ms, min {:.0} ms, max {:.0} ms",
        reactions.iter().cloned().fold(f64::INFINITY, f64::min),
        reactions.iter().cloned().fold(0.0, f64::max)
    );
    println!(
        "lower bound: debounce {} ms + mean cycle {cycle_ms:.0} ms = {bound:.0} ms; median / bound = {:.2}",
        DEBOUNCE.as_millis(),
        med / bound
    );
}
