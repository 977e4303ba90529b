//! Steady-state `mfactl plan --all-tenants` of a large fleet: 1,000 generated tenants in one
//! emulator (a separate process, 20 ms added to every request, Graph-like throttling), every
//! tenant already in sync with the policies. Wall time against the lower bound — a token and
//! one round of reads per tenant, `ceil(tenants / concurrency)` such pairs of round trips one
//! after another — and mfactl's peak memory (VmHWM, polled).
//!
//! Run: `cargo bench --bench fleet_plan`
//!
//! Each tenant reads the authentication methods policy and security defaults and resolves one
//! group name (`Break Glass Accounts`, in one `$batch`), all three at once after its token:
//! 2 round trips. The fleet is first brought in sync with one `reconcile --once --mode enforce
//! --all-tenants`. Then, for each concurrency, 3 runs; the median is reported, next to the
//! median of the same plan against a second emulator with no added latency (T0: the CPU that
//! mfactl and the emulator spend, on the same 2 cores), and the ratio to the bound plus T0.
//!
//! Environment (optional): `MFACTL_BENCH_TENANTS` (default 1,000), `MFACTL_BENCH_LATENCY_MS`
//! (default 20), `MFACTL_BENCH_CONCURRENCY` (a comma list, default `16,64,256`). Without
//! `--bench` (as under `cargo test --benches`) it runs 20 tenants once.

#![allow(clippy::disallowed_macros)]

#[path = "support/mod.rs"]
mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mfactl::emulator::generate::{self, GenerateSpec, WRITER_SECRET};
use support::{clear_log, read_log, start_emulator, vm_hwm_kib};

const SECRET_VAR: &str = "MFACTL_BENCH_CLIENT_SECRET";

const POLICY: &str = "apiVersion: mfactl/v1
kind: AuthenticationMethodsPolicy
metadata: {name: fleet}
spec:
  systemCredentialPreferences:
    state: enabled
    includeTargets: [{group: all_users}]
    excludeTargets: [{group: Break Glass Accounts}]
  methods:
    fido2:
      state: enabled
      includeTargets: [{group: all_users}]
    sms:
      state: enabled
      includeTargets: [{group: all_users, isUsableForSignIn: false}]
---
apiVersion: mfactl/v1
kind: SecurityDefaults
metadata: {name: security-defaults}
spec: {enabled: false}
";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// Runs mfactl in `dir`, polling its peak RSS; returns exit code, wall time and VmHWM (KiB).
fn mfactl(bin: &str, dir: &Path, args: &[&str]) -> (i32, Duration, u64) {
    let started = Instant::now();
    let mut child = Command::new(bin)
        .current_dir(dir)
        .args(args)
        .env(SECRET_VAR, WRITER_SECRET)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("mfactl.err")).expect("mfactl.err"))
        .spawn()
        .expect("run mfactl");
    let mut peak = 0;
    let code = loop {
        if let Some(kib) = vm_hwm_kib(child.id()) {
            peak = peak.max(kib);
        }
        match child.try_wait().expect("wait") {
            Some(status) => break status.code().unwrap_or(-1),
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    (code, started.elapsed(), peak)
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let full = std::env::args().any(|a| a == "--bench");
    let tenants = if full {
        env_usize("MFACTL_BENCH_TENANTS", 1_000)
    } else {
        20
    };
    let latency = env_usize("MFACTL_BENCH_LATENCY_MS", 20);
    let concurrencies: Vec<usize> = if full {
        std::env::var("MFACTL_BENCH_CONCURRENCY")
            .unwrap_or_else(|_| "16,64,256".into())
            .split(',')
            .filter_map(|c| c.trim().parse().ok())
            .collect()
    } else {
        vec![8]
    };
    let runs = if full { 3 } else { 1 };
    let bin = env!("CARGO_BIN_EXE_mfactl");
    let dir = std::env::temp_dir().join(format!("mfactl-bench-fleet-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("policies")).expect("bench dir");
    let state = generate::generate(&GenerateSpec {
        users: 20,
        groups: 6,
        tenants,
        seed: 5,
    });
    let state_file = dir.join("state.json");
    std::fs::write(&state_file, serde_json::to_vec(&state).expect("state JSON")).expect("state");
    std::fs::write(dir.join("policies/fleet.yaml"), POLICY).expect("policies");
    // The same fleet twice: with the injected latency, and with none (what mfactl and the
    // emulator cost in CPU alone, the floor the latency adds to).
    let emu = start_emulator(bin, &dir, &state_file, latency);
    let dir0 = dir.join("zero-latency");
    std::fs::create_dir_all(&dir0).expect("zero-latency dir");
    let emu0 = start_emulator(bin, &dir0, &state_file, 0);
    for (config, e) in [("mfactl.yaml", &emu), ("mfactl-0ms.yaml", &emu0)] {
        let mut yaml = String::from("tenants:\n");
        for (i, t) in state.tenants.iter().enumerate() {
            let writer = t
                .apps
                .iter()
                .find(|a| a.secrets.iter().any(|s| s == WRITER_SECRET))
                .expect("writer app");
            yaml.push_str(&format!(
                "  - name: tenant-{i:04}\n    tenantId: {}\n    clientId: {}\n    credential:\n      clientSecret: {{ env: {SECRET_VAR} }}\n    policies: [policies]\n    graphUrl: {}\n    authorityHost: {}\n    caFile: {}\n",
                t.id, writer.client_id, e.graph_url, e.login_url, e.ca_file
            ));
        }
        yaml.push_str("auditLog: audit.jsonl\n");
        std::fs::write(dir.join(config), yaml).expect("config");
        let (code, wall, _) = mfactl(
            bin,
            &dir,
            &[
                "reconcile",
                "--once",
                "--mode",
                "enforce",
                "--all-tenants",
                "--concurrency",
                "64",
                "--state-dir",
                "state",
                "--config",
                config,
            ],
        );
        assert_eq!(
            code,
            0,
            "bringing the fleet in sync: see {}",
            dir.join("mfactl.err").display()
        );
        println!(
            "{tenants} tenants ({config}) brought in sync in {:.1} s",
            wall.as_secs_f64()
        );
    }
    drop(state);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .expect("http client");
    println!(
        "\n| concurrency | runs | median wall | lower bound | ratio | T0 (no latency) | ratio to bound + T0 | requests (per tenant) | 429s | peak RSS |\n|---|---|---|---|---|---|---|---|---|---|"
    );
    for c in concurrencies {
        let mut walls = Vec::new();
        let mut peaks = Vec::new();
        let mut requests = 0;
        let mut throttled = 0;
        for _ in 0..runs {
            clear_log(&rt, &http, &emu);
            let (code, wall, peak) = mfactl(
                bin,
                &dir,
                &[
                    "plan",
                    "--all-tenants",
                    "--concurrency",
                    &c.to_string(),
                    "-o",
                    "json",
                ],
            );
            assert_eq!(
                code,
                0,
                "steady state: every tenant in sync ({})",
                dir.join("mfactl.err").display()
            );
            let log = read_log(&rt, &http, &emu);
            requests = log.iter().filter(|e| e["batchId"].is_null()).count();
            throttled = log.iter().filter(|e| e["status"] == 429).count();
            walls.push(wall);
            peaks.push(peak);
        }
        walls.sort();
        let median = walls[walls.len() / 2];
        let mut zero: Vec<Duration> = (0..runs)
            .map(|_| {
                let (code, wall, _) = mfactl(
                    bin,
                    &dir,
                    &[
                        "plan",
                        "--all-tenants",
                        "--concurrency",
                        &c.to_string(),
                        "-o",
                        "json",
                        "--config",
                        "mfactl-0ms.yaml",
                    ],
                );
                assert_eq!(code, 0, "steady state at zero latency");
                wall
            })
            .collect();
        zero.sort();
        let t0 = zero[zero.len() / 2].as_secs_f64();
        let bound = tenants.div_ceil(c) as f64 * 2.0 * latency as f64 / 1000.0;
        println!(
            "| {c} | {runs} | {:.2} s | {bound:.2} s | {:.2} | {t0:.2} s | {:.2} | {requests} ({:.1}) | {throttled} | {:.1} MiB |",
            median.as_secs_f64(),
            median.as_secs_f64() / bound,
            median.as_secs_f64() / (bound + t0),
            requests as f64 / tenants as f64,
            *peaks.iter().max().unwrap_or(&0) as f64 / 1024.0
        );
    }
    drop(emu);
    drop(emu0);
    let _ = std::fs::remove_dir_all(&dir);
}
