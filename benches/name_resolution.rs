//! Resolving ~100,000 user targets, the name-resolution stage of `mfactl plan`, against the
//! emulator with Graph-like throttling: wall time, requests and 429s, next to the lower bound
//! the documented limits (FACTS.md §10) and the `$batch` round trips allow.
//!
//! Run: `cargo bench --bench name_resolution` (about 2 minutes).
//!
//! The tenant is generated in this process (`generate::generate`, `USERS` users, 8 groups)
//! and served by an in-process emulator with TLS and Graph throttling, as the sandbox is. The
//! policy is one file written for the run: a `PerUserMfa` document with one `user:` exception
//! per user (`state: disabled`), about 5 MB. One measured run is what `plan` does before it
//! reads per-user state: `policy::load` of the file, `GraphClient::connect` (a fresh token),
//! then `live::resolve` with the progress line on stderr. Every UPN must resolve. Requests
//! and 429s are counted from the emulator's request log: outer HTTP requests (the token POST
//! and the `$batch` POSTs) and the GETs inside `$batch`.
//!
//! Lower bound, for a tenant above 500 users (8,000 resource units per 10 s per app and
//! tenant, 2,000 requests per second per app), each bucket paying its capacity at once and
//! then its rate: one GET per UPN at 1 resource unit (`$select` −1, at least 1), so
//! `(users − 8,000) / 800` s; and the round trips, `ceil(users / 20)` `$batch` POSTs, 8 in
//! flight. Requests: 1 token + `ceil(users / 20)` POSTs holding `users` GETs. mfactl's pacer
//! starts at the strictest tier (3,500 per 10 s) and moves to 8,000 once 500 users have been
//! found, and keeps to 0.98 of each limit; the bench prints that floor too.
//!
//! Environment (optional): `MFACTL_BENCH_USERS` (default 100,000). Without `--bench` (as
//! under `cargo test --benches`) it resolves 2,000 users as a smoke check.

#![allow(clippy::disallowed_macros)]

use std::time::Instant;

use mfactl::config::{CredentialSource, Env, TenantSettings};
use mfactl::emulator::generate::{self, GenerateSpec, WRITER_SECRET};
use mfactl::emulator::{Emulator, EmulatorConfig};
use mfactl::graph::GraphClient;
use mfactl::plan::live;
use mfactl::policy;
use mfactl::printer::Progress;

const SECRET_VAR: &str = "MFACTL_BENCH_CLIENT_SECRET";
/// Resource units per 10 s per app and tenant above 500 users, and requests per `$batch`.
const UNITS_PER_10S: f64 = 8_000.0;
const BATCH: usize = 20;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let users: usize = std::env::var("MFACTL_BENCH_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 100_000 } else { 2_000 });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(users, full));
}

async fn run(users: usize, full: bool) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let state = generate::generate(&GenerateSpec {
        users,
        groups: 8,
        tenants: 1,
        seed: 11,
    });
    let tenant = &state.tenants[0];
    let tenant_id = tenant.id.clone();
    let client_id = tenant
        .apps
        .iter()
        .find(|a| a.secrets.iter().any(|s| s == WRITER_SECRET))
        .map(|a| a.client_id.clone())
        .expect("writer app");
    let mut yaml = String::from(
        "apiVersion: mfactl/v1\nkind: PerUserMfa\nmetadata:\n  name: per-user\nspec:\n  exceptions:\n",
    );
    for u in &tenant.users {
        yaml.push_str(&format!(
            "    - user: {}\n      state: disabled\n",
            u.user_principal_name
        ));
    }
    let dir = std::env::temp_dir().join(format!("mfactl-bench-names-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("per-user.yaml");
    std::fs::write(&file, &yaml).expect("policy file");
    let mut config = EmulatorConfig::new(state);
    config.tls = true;
    config.request_log_limit = users * 2 + 1_000;
    let emulator = Emulator::start(config).await.expect("emulator starts");
    let e = &emulator.endpoints;
    let settings = TenantSettings {
        name: "bench".into(),
        tenant_id,
        client_id,
        credential: CredentialSource::SecretEnv(SECRET_VAR.into()),
        policies: vec![file.clone()],
        graph_url: url::Url::parse(&e.graph_url).expect("graph URL"),
        authority_host: url::Url::parse(&e.login_url).expect("login URL"),
        ca_file: e.ca_file.clone(),
        control: mfactl::config::TenantControl::default(),
        prune: false,
        hardware_oath_seed: None,
        config_file: None,
    };
    let env = Env::empty().with(SECRET_VAR, WRITER_SECRET);

    let started = Instant::now();
    let outcome = policy::load(std::slice::from_ref(&file));
    let set = outcome.set.expect("the policy loads");
    let loaded = started.elapsed();
    let client = GraphClient::connect(&settings, &env).expect("connect");
    let (desired, _) = live::resolve(&client, &set, &Progress::stderr())
        .await
        .expect("every UPN resolves");
    let wall = started.elapsed();
    assert_eq!(desired.named_users.len(), users, "every user resolved");

    let log = emulator.core.log().entries();
    let outer = log.iter().filter(|e| e.batch_id.is_none()).count();
    let inner = log.iter().filter(|e| e.batch_id.is_some()).count();
    let throttled_outer = log
        .iter()
        .filter(|e| e.batch_id.is_none() && e.status == 429)
        .count();
    let throttled_inner = log
        .iter()
        .filter(|e| e.batch_id.is_some() && e.status == 429)
        .count();
    let posts = users.div_ceil(BATCH);
    let bound = ((users as f64 - UNITS_PER_10S) / (UNITS_PER_10S / 10.0)).max(0.0);
    // The pacer: 3,430 at once, then 343/s until 500 users are found (one `$batch` round at
    // most), then 7,840 capacity at 784/s.
    let paced = ((users as f64 - UNITS_PER_10S * 0.98) / (UNITS_PER_10S * 0.098)).max(0.0);
    println!(
        "name_resolution: {} user targets ({:.1} MB policy), load {:.1} s",
        users,
        yaml.len() as f64 / 1e6,
        loaded.as_secs_f64()
    );
    println!(
        "  wall {:.1} s · lower bound {:.1} s (ratio {:.2}) · pacer floor {:.1} s",
        wall.as_secs_f64(),
        bound,
        if bound > 0.0 {
            wall.as_secs_f64() / bound
        } else {
            f64::NAN
        },
        paced
    );
    println!(
        "  HTTP requests {outer} (bound {}: 1 token + {posts} $batch) · inside $batch {inner} (bound {users}) · 429s {throttled_outer} / {throttled_inner}",
        posts + 1
    );
    if !full {
        println!("smoke run (no --bench): the times are not a measurement");
    }
    emulator.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
