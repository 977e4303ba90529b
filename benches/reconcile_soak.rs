//! Soak: many reconcile cycles of the controller against the sandbox tenant while the emulator
//! injects random faults, with drift made between cycles as a portal user would.
//!
//! Reports how each cycle ended, that every failed cycle carried its error, how many faults
//! the emulator injected, and the resident memory (VmRSS) early and at the end, so that a
//! leak shows as growth. Run: `cargo bench --bench reconcile_soak`
//! (`MFACTL_BENCH_CYCLES`, default 1000; `MFACTL_BENCH_FAULT_RATE`, default 0.1).
#![allow(clippy::disallowed_macros)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use mfactl::controller::{Controller, CycleOutcome, Metrics, Mode};
use mfactl::emulator::control::{FaultAction, FaultRule};
use serde_json::json;

fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Resident and peak resident memory of this process, in KiB.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn rule(probability: f64, action: FaultAction) -> FaultRule {
    FaultRule {
        id: 0,
        method: None,
        path_prefix: Some("/".into()),
        count: None,
        probability: Some(probability),
        action,
    }
}

fn main() {
    let measuring = std::env::args().any(|a| a == "--bench");
    let cycles: usize = env_number("MFACTL_BENCH_CYCLES", if measuring { 1000 } else { 20 });
    let rate: f64 = env_number("MFACTL_BENCH_FAULT_RATE", 0.1);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(soak(cycles, rate));
}

async fn soak(cycles: usize, rate: f64) {
    // The authentication-methods baseline: the soak repairs its drift (the Conditional
    // Access part of `policies/` has its own bench, `migration`).
    let policies = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("policies")
        .join("authentication-methods.yaml");
    let sandbox = mfactl::sandbox::start(vec![policies])
        .await
        .expect("sandbox");
    let core = Arc::clone(&sandbox.emulator.core);
    let audit =
        std::env::temp_dir().join(format!("mfactl-soak-audit-{}.jsonl", std::process::id()));
    let metrics = Arc::new(Metrics::default());
    let mut controller = Controller::new(
        sandbox.tenant.clone(),
        sandbox.env.clone(),
        Mode::Enforce,
        audit.clone(),
        Arc::clone(&metrics),
    );
    // Faults on every path, split between the kinds a real tenant meets.
    let share = rate / 5.0;
    core.faults()
        .add(vec![
            rule(
                share,
                FaultAction::Status {
                    status: 429,
                    retry_after: Some(0.01),
                },
            ),
            rule(
                share,
                FaultAction::Status {
                    status: 429,
                    retry_after: None,
                },
            ),
            rule(
                share,
                FaultAction::Status {
                    status: 503,
                    retry_after: Some(0.01),
                },
            ),
            rule(share, FaultAction::Drop),
            rule(share, FaultAction::Latency { ms: 5 }),
        ])
        .expect("fault rules");
    let stop = AtomicBool::new(false);
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    let mut unreported = 0;
    let mut early = (0, 0);
    let mut faulted = 0;
    let started = Instant::now();
    for i in 0..cycles {
        if i % 10 == 5 {
            // Someone turns SMS back on in the portal.
            let mut world = core.world_mut();
            if let Some(configs) =
                world.tenants[0].tenant.authentication_methods_policy["authenticationMethodConfigurations"].as_array_mut()
            {
                for c in configs.iter_mut().filter(|c| c["id"] == "Sms") {
                    c["state"] = json!("enabled");
                }
            }
        }
        let mut lines = |_: mfactl::printer::Line| {};
        let outcome = controller.cycle(&stop, &mut lines).await;
        let kind = match &outcome {
            CycleOutcome::InSync => "in sync",
            CycleOutcome::Observed(_) => "observed",
            CycleOutcome::Applied(_) => "applied",
            CycleOutcome::Partial { error, .. } => {
                unreported += usize::from(error.as_ref().is_none_or(|e| e.to_string().is_empty()));
                "partial"
            }
            CycleOutcome::Invalid { .. } => "invalid",
            CycleOutcome::Failed(e) => {
                unreported += usize::from(e.to_string().is_empty());
                "failed"
            }
        };
        *counts.entry(kind).or_default() += 1;
        if i + 1 == cycles.min(100) {
            early = memory();
        }
        if (i + 1) % 100 == 0 || i + 1 == cycles {
            faulted += core
                .log()
                .entries()
                .iter()
                .filter(|e| matches!(e.status, 0 | 429 | 503))
                .count();
            core.log().clear();
        }
    }
    let took = started.elapsed();
    let end = memory();
    println!(
        "reconcile_soak: {cycles} cycles, enforce mode, fault rate {rate} on every request, SMS drifted every 10 cycles"
    );
    println!("outcomes: {counts:?}");
    println!("failed or partial cycles without an error message: {unreported}");
    println!(
        "requests answered with a fault (429, 503 or a dropped connection): {faulted}; each was retried or ended its cycle with a reported error"
    );
    println!(
        "wall time {:.1} s, {:.1} ms per cycle",
        took.as_secs_f64(),
        took.as_secs_f64() * 1000.0 / cycles as f64
    );
    println!(
        "memory: VmRSS {} KiB after {} cycles, {} KiB at the end ({:+} KiB); peak (VmHWM) {} KiB then {} KiB",
        early.0,
        cycles.min(100),
        end.0,
        end.0 as i64 - early.0 as i64,
        early.1,
        end.1
    );
    let metrics_text = metrics.render();
    let failures = metrics_text
        .lines()
        .find(|l| l.starts_with("mfactl_reconcile_failures_total"))
        .unwrap_or_default();
    println!("metrics: {failures}");
    let _ = std::fs::remove_file(audit);
    assert_eq!(unreported, 0, "every failed cycle reports its error");
}
