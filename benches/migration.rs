//! How long `apply` of the shipped baseline takes on a P1 tenant on security defaults, against
//! the bound Graph's limit of one Conditional Access request a second per tenant sets, and how
//! long nobody is required to do MFA while it runs.
//!
//! Run: `cargo bench --bench migration`
//!
//! Each round starts an in-process emulator with TLS and Graph-like throttling, seeded with a
//! generated tenant (`MFACTL_BENCH_USERS` users, default 10,000; 8 groups, the break-glass
//! group among them) made a P1 tenant on security defaults whose administrators registered a
//! security key (as the sandbox's did: the baseline's phishing-resistant policy would
//! otherwise lock them out, and the guard refuse). It then does what `mfactl apply --yes`
//! does: load the shipped `policies/`, `live::compute` the plan (reads, name resolution, the
//! directory, the coverage), check the guard, `apply::apply` it, and plan again, which must be
//! in sync.
//!
//! Measured per round: the wall time of plan and apply; the Conditional Access requests
//! (everything under `identity/conditionalAccess/policies` and `namedLocations`, reads
//! included), counted in the emulator's log; and the window `apply` measures, from the answer
//! that turned security defaults off to the answers that enabled the first and the last
//! policy.
//!
//! Bounds: Graph allows one Conditional Access request a second per tenant (FACTS-CA item 53),
//! so n of them take at least (n − 1) s; the rest of the work (the same plan and apply
//! without any Conditional Access request: the methods and per-user parts of the baseline,
//! security defaults left on) takes its own median time F. No run can beat max((n − 1) s, F)
//! (the lower bound); a run that sends its writes one after another, as apply does so that
//! the policies are enabled before per-user MFA goes off, cannot beat (n − 1) s + F (the
//! sequential bound). The window's bound: the first policy can be enabled one round trip
//! after security defaults go off (apply waits for the pacer's slot before the switch), the
//! last (enables − 1) s later.
//!
//! Environment: `MFACTL_BENCH_ROUNDS` (default 5), `MFACTL_BENCH_USERS`. Without `--bench`
//! (as under `cargo test --benches`) one round of 200 users runs as a smoke check.

#![allow(clippy::disallowed_macros)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mfactl::apply::{self, ApplyOutcome, AuditLog};
use mfactl::config::{CredentialSource, Env, TenantSettings};
use mfactl::emulator::generate::{self, GenerateSpec, WRITER_SECRET};
use mfactl::emulator::state::State;
use mfactl::emulator::throttle::ThrottleMode;
use mfactl::emulator::{Emulator, EmulatorConfig, RunningEmulator};
use mfactl::graph::GraphClient;
use mfactl::msgraph::conditional_access::is_rate_limited_path;
use mfactl::plan::Plan;
use mfactl::plan::guard::Allowance;
use mfactl::plan::live;
use mfactl::plan::migration::enables;
#[path = "support/policies.rs"]
mod policies;
use mfactl::printer::Progress;
use policies::load;

const SECRET_VAR: &str = "MFACTL_BENCH_CLIENT_SECRET";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A P1 tenant on security defaults, no policy yet, administrators with a security key.
fn tenant(users: usize) -> State {
    let mut state = generate::generate(&GenerateSpec {
        users,
        groups: 8,
        tenants: 1,
        seed: 2026,
    });
    let t = &mut state.tenants[0];
    t.security_defaults.is_enabled = true;
    t.conditional_access = Default::default();
    mfactl::sandbox::give_admins_security_keys(t);
    state
}

/// One round's figures.
struct Round {
    wall: Duration,
    ca_requests: usize,
    enables: usize,
    first: Duration,
    last: Duration,
}

/// An emulator serving a fresh [`tenant`], and the settings of its writer app.
async fn start(users: usize, paths: &[PathBuf]) -> (RunningEmulator, TenantSettings, Env) {
    let state = tenant(users);
    let tenant_id = state.tenants[0].id.clone();
    let client_id = state.tenants[0]
        .apps
        .iter()
        .find(|a| a.secrets.iter().any(|x| x == WRITER_SECRET))
        .map(|a| a.client_id.clone())
        .expect("the writer app");
    let mut config = EmulatorConfig::new(state);
    config.tls = true;
    config.throttle = ThrottleMode::Graph;
    config.request_log_limit = 1_000_000;
    let emulator = Emulator::start(config).await.expect("emulator starts");
    let endpoints = &emulator.endpoints;
    let settings = TenantSettings {
        name: "bench".into(),
        tenant_id,
        client_id,
        credential: CredentialSource::SecretEnv(SECRET_VAR.into()),
        policies: paths.to_vec(),
        graph_url: url::Url::parse(&endpoints.graph_url).expect("graph URL"),
        authority_host: url::Url::parse(&endpoints.login_url).expect("login URL"),
        ca_file: endpoints.ca_file.clone(),
        control: mfactl::config::TenantControl::default(),
        prune: false,
        hardware_oath_seed: None,
        config_file: None,
    };
    (
        emulator,
        settings,
        Env::empty().with(SECRET_VAR, WRITER_SECRET),
    )
}

/// What `mfactl apply --yes` does: load, plan, the guard, apply; timed.
async fn plan_and_apply(
    settings: &TenantSettings,
    env: &Env,
    audit: &Path,
) -> (Plan, ApplyOutcome, Duration) {
    let started = Instant::now();
    let set = load(&settings.policies);
    let client = GraphClient::connect(settings, env).expect("connect");
    let plan = live::compute(&client, settings, &set, &Progress::hidden())
        .await
        .expect("plan");
    if let Some(why) = plan.refusal(Allowance::default()) {
        panic!("the guard refuses the baseline: {why}");
    }
    let mut log = AuditLog::open(audit, &settings.policies).expect("audit log");
    let outcome = apply::apply(
        &client,
        &plan,
        &mfactl::kinds::hardware_oath::seed::SeedKeys::default(),
        &mut log,
        &std::sync::atomic::AtomicBool::new(false),
        &Progress::hidden(),
    )
    .await
    .expect("audit log writes");
    if let Some((change, cause)) = outcome.failed.first() {
        panic!("applying {} failed: {cause}", change.resource);
    }
    (plan, outcome, started.elapsed())
}

/// Plans and applies the baseline on a fresh tenant; panics unless it converges.
async fn round(users: usize, paths: &[PathBuf], audit: &Path) -> Round {
    let (emulator, settings, env) = start(users, paths).await;
    let (plan, outcome, wall) = plan_and_apply(&settings, &env, audit).await;
    let ca_requests = emulator
        .core
        .log()
        .entries()
        .iter()
        .filter(|e| {
            let segments: Vec<&str> = e
                .path
                .split('/')
                .filter(|s| !s.is_empty())
                .skip(1)
                .collect();
            is_rate_limited_path(&segments)
        })
        .count();
    let client = GraphClient::connect(&settings, &env).expect("connect");
    let again = live::compute(&client, &settings, &load(paths), &Progress::hidden())
        .await
        .expect("plan again");
    assert!(
        again.in_sync,
        "not in sync after apply: {:?}",
        again.changes
    );
    let window = outcome.window.expect("a staged plan measures its window");
    emulator.shutdown().await;
    Round {
        wall,
        ca_requests,
        enables: plan.changes.iter().filter(|c| enables(c)).count(),
        first: window.first,
        last: window.last,
    }
}

/// The same plan and apply without any Conditional Access request: the methods policy and
/// per-user MFA alone (security defaults stay on).
async fn floor(users: usize, paths: &[PathBuf], audit: &Path) -> Duration {
    let (emulator, settings, env) = start(users, paths).await;
    let (_, _, wall) = plan_and_apply(&settings, &env, audit).await;
    emulator.shutdown().await;
    wall
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let rounds = if full {
        env_usize("MFACTL_BENCH_ROUNDS", 5)
    } else {
        1
    };
    let users = if full {
        env_usize("MFACTL_BENCH_USERS", 10_000)
    } else {
        200
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let baseline = vec![root.join("policies")];
    let without_ca: Vec<PathBuf> = ["authentication-methods.yaml", "per-user-mfa.yaml"]
        .iter()
        .map(|f| root.join("policies").join(f))
        .collect();
    let dir = std::env::temp_dir().join(format!("mfactl-bench-migration-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let audit = dir.join("audit.jsonl");
    let mut measured = Vec::new();
    let mut floors = Vec::new();
    for r in 0..rounds {
        measured.push(round(users, &baseline, &audit).await);
        floors.push(floor(users, &without_ca, &audit).await);
        let m = &measured[r];
        println!(
            "round {}: {:.2} s, {} Conditional Access requests, window {:.3} s to the first policy, {:.3} s to the last; without Conditional Access {:.2} s",
            r + 1,
            m.wall.as_secs_f64(),
            m.ca_requests,
            m.first.as_secs_f64(),
            m.last.as_secs_f64(),
            floors[r].as_secs_f64()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    let wall = median(measured.iter().map(|m| m.wall).collect());
    let first = median(measured.iter().map(|m| m.first).collect());
    let last = median(measured.iter().map(|m| m.last).collect());
    let floor = median(floors);
    let n = measured[0].ca_requests;
    let enables = measured[0].enables;
    let paced = Duration::from_secs(n.saturating_sub(1) as u64);
    let lower = paced.max(floor);
    let sequential = paced + floor;
    let last_bound = Duration::from_secs(enables.saturating_sub(1) as u64);
    println!(
        "{users} users, {rounds} round(s): median {:.2} s; lower bound max(({n} CA requests − 1) × 1 s, {:.2} s) = {:.2} s, ratio {:.2}; sequential bound {:.2} s, ratio {:.2}",
        wall.as_secs_f64(),
        floor.as_secs_f64(),
        lower.as_secs_f64(),
        wall.as_secs_f64() / lower.as_secs_f64(),
        sequential.as_secs_f64(),
        wall.as_secs_f64() / sequential.as_secs_f64()
    );
    println!(
        "window without an MFA requirement: median {:.3} s to the first policy enabled; {:.2} s to the last of {enables} (bound {:.0} s, ratio {:.2})",
        first.as_secs_f64(),
        last.as_secs_f64(),
        last_bound.as_secs_f64(),
        last.as_secs_f64() / last_bound.as_secs_f64().max(f64::MIN_POSITIVE)
    );
    if !full {
        println!("smoke run (no --bench): the times are not a measurement");
    }
}
