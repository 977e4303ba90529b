//! A burst of reads through mfactl's Graph client against the emulator with Graph-like
//! throttling on: how close client-side pacing gets to the time Graph's documented limit
//! allows, and how many 429s it meets on the way.
//!
//! Run: `cargo bench --bench throttled_reads`
//!
//! The emulator (in this process, 2 worker threads, HTTPS token endpoint) serves a
//! generated tenant of 30 users, so the strictest identity-and-access tier applies: 3,500
//! resource units per 10 s per app and tenant, and 2,000 requests per second per app
//! (FACTS.md §10). `CONCURRENCY` tasks share one `GraphClient` (one pacer) and send
//! `READS` GETs of `/v1.0/users/{id}` (1 resource unit each), cycling through the users.
//!
//! The lower bound is what the documented token buckets allow for that many reads starting
//! with full buckets: every bucket can pay its capacity at once and then its rate, so
//! `max over buckets of (reads × cost − capacity) / rate`. The 429 count is read from the
//! emulator's request log. Wall time runs from the first request (the token request
//! included) to the last response.
//!
//! Passes (exit 0) when the wall time is within 10 % of the lower bound and at most 5
//! requests met a 429; otherwise exits 1.
//!
//! Environment (optional): `MFACTL_BENCH_READS` (default 5000), `MFACTL_BENCH_CONCURRENCY`
//! (default 64). Without `--bench` (as under `cargo test --benches`) it runs a small burst
//! inside the buckets' capacity as a smoke check.

#![allow(clippy::disallowed_macros)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mfactl::config::{CredentialSource, Env, TenantSettings};
use mfactl::emulator::generate::{self, GenerateSpec, WRITER_SECRET};
use mfactl::emulator::throttle::ThrottleMode;
use mfactl::emulator::{Emulator, EmulatorConfig};
use mfactl::graph::GraphClient;

/// Documented identity-and-access limits for a tenant under 50 users (FACTS.md §10):
/// (capacity, refill per second) of each bucket one read draws from, and its cost.
const BUCKETS: &[(&str, f64, f64, f64)] = &[
    ("resource units per app+tenant", 3_500.0, 350.0, 1.0),
    ("requests per app", 2_000.0, 2_000.0, 1.0),
];
const SECRET_VAR: &str = "MFACTL_BENCH_CLIENT_SECRET";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The least time the documented buckets allow for `reads` reads.
fn lower_bound(reads: usize) -> Duration {
    let secs = BUCKETS
        .iter()
        .map(|(_, capacity, rate, cost)| ((reads as f64 * cost - capacity) / rate).max(0.0))
        .fold(0.0, f64::max);
    Duration::from_secs_f64(secs)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let reads = if full {
        env_usize("MFACTL_BENCH_READS", 5_000)
    } else {
        300
    };
    let concurrency = env_usize("MFACTL_BENCH_CONCURRENCY", 64).max(1);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start tokio: {e}");
            std::process::exit(2);
        }
    };
    let code = runtime.block_on(run(full, reads, concurrency));
    std::process::exit(code);
}

async fn run(full: bool, reads: usize, concurrency: usize) -> i32 {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let state = generate::generate(&GenerateSpec {
        users: 30,
        groups: 8,
        tenants: 1,
        seed: 7,
    });
    let tenant = &state.tenants[0];
    let tenant_id = tenant.id.clone();
    let users: Vec<String> = tenant.users.iter().map(|u| u.id.clone()).collect();
    let Some(writer) = tenant
        .apps
        .iter()
        .find(|a| a.secrets.iter().any(|s| s == WRITER_SECRET))
        .map(|a| a.client_id.clone())
    else {
        eprintln!("the generated tenant has no writer app");
        return 2;
    };
    let mut config = EmulatorConfig::new(state);
    config.tls = true;
    config.throttle = ThrottleMode::Graph;
    let emu = match Emulator::start(config).await {
        Ok(e) => e,
        Err(e) => {
            eprintln!("emulator: {e}");
            return 2;
        }
    };
    let parse = |u: &str| url::Url::parse(u).map_err(|e| format!("{u}: {e}"));
    let settings = match (
        parse(&emu.endpoints.graph_url),
        parse(&emu.endpoints.login_url),
    ) {
        (Ok(graph_url), Ok(authority_host)) => TenantSettings {
            name: "bench".into(),
            tenant_id,
            client_id: writer,
            credential: CredentialSource::SecretEnv(SECRET_VAR.into()),
            policies: Vec::new(),
            graph_url,
            authority_host,
            ca_file: emu.endpoints.ca_file.clone(),
            control: mfactl::config::TenantControl::default(),
            prune: false,
            hardware_oath_seed: None,
            config_file: None,
        },
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("emulator URL: {e}");
            return 2;
        }
    };
    let client =
        match GraphClient::connect(&settings, &Env::empty().with(SECRET_VAR, WRITER_SECRET)) {
            Ok(c) => Arc::new(c),
            Err(e) => {
                eprintln!("client: {e}");
                return 2;
            }
        };

    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let client = Arc::clone(&client);
            let next = Arc::clone(&next);
            let failures = Arc::clone(&failures);
            let users = users.clone();
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= reads {
                        break;
                    }
                    let id = &users[i % users.len()];
                    match client.get(&format!("/v1.0/users/{id}")).await {
                        Ok(u) if u["id"].as_str() == Some(id.as_str()) => {}
                        Ok(u) => {
                            eprintln!("unexpected body: {u}");
                            failures.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            eprintln!("read failed: {e}");
                            failures.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        if t.await.is_err() {
            failures.fetch_add(1, Ordering::Relaxed);
        }
    }
    let wall = started.elapsed();

    let log = emu.core.log().entries();
    let graph: Vec<_> = log
        .iter()
        .filter(|e| !e.path.ends_with("/oauth2/v2.0/token"))
        .collect();
    let throttled = graph.iter().filter(|e| e.status == 429).count();
    let bound = lower_bound(reads);
    let ratio = if bound.is_zero() {
        f64::NAN
    } else {
        wall.as_secs_f64() / bound.as_secs_f64()
    };

    println!(
        "throttled_reads: {reads} GET /v1.0/users/{{id}} through GraphClient (pacing on), \
         {concurrency} tasks, emulator with Graph-like throttling, tenant of 30 users"
    );
    for (name, capacity, rate, cost) in BUCKETS {
        println!("  limit: {name}: {capacity} burst, {rate}/s, {cost} per read");
    }
    println!("  wall time:      {:.3} s", wall.as_secs_f64());
    println!(
        "  lower bound:    {:.3} s (from the documented limits)",
        bound.as_secs_f64()
    );
    println!("  ratio:          {ratio:.3}");
    println!("  429 responses:  {throttled}");
    println!(
        "  Graph requests: {} logged, {} sent by the client; failed reads: {}",
        graph.len(),
        client.requests_sent(),
        failures.load(Ordering::Relaxed)
    );
    if failures.load(Ordering::Relaxed) > 0 {
        println!("FAIL: some reads failed");
        return 1;
    }
    if !full {
        println!("smoke run (no --bench): every read checked; the times are not a measurement");
        return 0;
    }
    let ok = ratio <= 1.10 && throttled <= 5;
    println!(
        "{}: within 10 % of the bound: {}; at most 5 429s: {}",
        if ok { "PASS" } else { "FAIL" },
        ratio <= 1.10,
        throttled <= 5
    );
    i32::from(!ok)
}
