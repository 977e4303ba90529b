//! How many policy GETs per second the in-process emulator serves, against the best this
//! client and machine can do for the same payload.
//!
//! Run: `cargo bench --bench emulator_throughput`
//!
//! Both servers run in this process on one tokio runtime with 2 worker threads (the machines
//! this project runs on have 2 cores, shared by client and server), on 127.0.0.1:0:
//!
//! * the emulator, throttling off, default generated state, serving
//!   `GET /v1.0/policies/authenticationMethodsPolicy` with a writer bearer token;
//! * a baseline: a bare hyper HTTP/1.1 server that answers every request with a constant
//!   copy of the policy JSON bytes the emulator returned (no auth, routing, logging or JSON
//!   work). Its rate is an upper bound on requests per second — a lower bound on the time per
//!   request — for this client, payload and machine; the ratio emulator/baseline says how much
//!   of that the emulator reaches.
//!
//! The client load is identical for both: `CONCURRENCY` tasks share one reqwest client
//! (HTTP/1.1, keep-alive, so one connection per task) and take requests from a shared
//! counter until `REQUESTS` are done. Every response must be 200 and its body a JSON
//! document with an `authenticationMethodConfigurations` array, else the bench panics: a rate
//! that includes errors would mean nothing. Rounds alternate emulator and baseline so that
//! noise from other work on the machine falls on both; the report gives every round and the
//! medians.
//!
//! Concurrency 32: with 2 cores the client and the server are CPU-bound long before 32
//! requests in flight, so more only adds scheduling; fewer (below ~8) leaves the cores idle
//! while requests cross the loopback.
//!
//! Environment (all optional):
//! * `MFACTL_BENCH_REQUESTS` — requests per round (default 20000);
//! * `MFACTL_BENCH_ROUNDS` — measured rounds per server (default 7);
//! * `MFACTL_BENCH_CONCURRENCY` — client tasks (default 32).
//!
//! Without `--bench` (as under `cargo test --benches`) it runs one small round of each as a
//! smoke check.

#![allow(clippy::disallowed_macros)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use mfactl::emulator::generate::{self, GenerateSpec, WRITER_SECRET};
use mfactl::emulator::throttle::ThrottleMode;
use mfactl::emulator::{Emulator, EmulatorConfig};
use serde::Deserialize;
use serde::de::IgnoredAny;
use tokio::net::TcpListener;

const POLICY_PATH: &str = "/v1.0/policies/authenticationMethodsPolicy";
const CONTENT_TYPE: &str = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";
/// The rate the issue asks the emulator to sustain.
const TARGET_PER_SEC: f64 = 10_000.0;

/// What the bench checks in every body: the whole document is valid JSON (serde reads to the
/// end, skipping what it does not keep) and it has the configurations array.
#[derive(Deserialize)]
struct PolicyBody {
    #[serde(rename = "authenticationMethodConfigurations")]
    configurations: Vec<IgnoredAny>,
}

struct Settings {
    /// `--bench` was given (`cargo bench`); otherwise this is a smoke check.
    full: bool,
    requests: usize,
    rounds: usize,
    concurrency: usize,
    warmup: usize,
}

impl Settings {
    fn from_env() -> Self {
        let full = std::env::args().any(|a| a == "--bench");
        let var = |name: &str, default: usize| {
            std::env::var(name)
                .ok()
                .map(|v| {
                    v.trim()
                        .parse::<usize>()
                        .ok()
                        .filter(|n| *n > 0)
                        .unwrap_or_else(|| panic!("{name} must be a positive integer, not {v:?}"))
                })
                .unwrap_or(default)
        };
        let (requests, rounds) = if full { (20_000, 7) } else { (500, 1) };
        let requests = var("MFACTL_BENCH_REQUESTS", requests);
        let rounds = var("MFACTL_BENCH_ROUNDS", rounds);
        let concurrency = var("MFACTL_BENCH_CONCURRENCY", 32);
        Self {
            full,
            requests,
            rounds,
            concurrency,
            warmup: (requests / 4).max(concurrency * 4),
        }
    }
}

fn main() {
    let settings = Settings::from_env();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run(settings));
}

async fn run(s: Settings) {
    let state = generate::generate(&GenerateSpec::default());
    let tenant = state.tenants[0].id.clone();
    let writer = state.tenants[0]
        .apps
        .iter()
        .find(|a| a.secrets.iter().any(|x| x == WRITER_SECRET))
        .map(|a| a.client_id.clone())
        .expect("generated writer app");
    let emu = Emulator::start(EmulatorConfig {
        throttle: ThrottleMode::Off,
        ..EmulatorConfig::new(state)
    })
    .await
    .expect("emulator starts");

    let setup = client(1);
    let token = fetch_token(&setup, emu.graph_url(), &tenant, &writer).await;
    let authorization: Arc<str> = format!("Bearer {token}").into();
    let emulator_url: Arc<str> = format!("{}{POLICY_PATH}", emu.graph_url()).into();

    // The payload the baseline serves: exactly what the emulator returns.
    let resp = setup
        .get(&*emulator_url)
        .header(reqwest::header::AUTHORIZATION, &*authorization)
        .send()
        .await
        .expect("policy GET");
    assert_eq!(resp.status(), 200, "policy GET");
    let payload = resp.bytes().await.expect("policy body");
    let configs = check_body(&payload);

    let baseline_addr = start_baseline(payload.clone()).await;
    let baseline_url: Arc<str> = format!("http://{baseline_addr}{POLICY_PATH}").into();

    println!(
        "emulator_throughput: GET {POLICY_PATH} ({} bytes, {configs} configurations), \
         {} requests/round, {} rounds, concurrency {}, HTTP/1.1 keep-alive, tokio 2 workers",
        payload.len(),
        s.requests,
        s.rounds,
        s.concurrency
    );

    let emulator_client = client(s.concurrency);
    let baseline_client = client(s.concurrency);
    // Warm-up: opens the connections and pages everything in; not measured.
    load(
        &emulator_client,
        &emulator_url,
        &authorization,
        s.warmup,
        s.concurrency,
    )
    .await;
    load(
        &baseline_client,
        &baseline_url,
        &authorization,
        s.warmup,
        s.concurrency,
    )
    .await;

    println!();
    println!(
        "{:>5}  {:>14}  {:>14}  {:>7}",
        "round", "emulator req/s", "baseline req/s", "ratio"
    );
    let mut emulator_rates = Vec::with_capacity(s.rounds);
    let mut baseline_rates = Vec::with_capacity(s.rounds);
    for round in 1..=s.rounds {
        let e = rate(
            s.requests,
            load(
                &emulator_client,
                &emulator_url,
                &authorization,
                s.requests,
                s.concurrency,
            )
            .await,
        );
        let b = rate(
            s.requests,
            load(
                &baseline_client,
                &baseline_url,
                &authorization,
                s.requests,
                s.concurrency,
            )
            .await,
        );
        println!("{round:>5}  {e:>14.0}  {b:>14.0}  {:>7.3}", e / b);
        emulator_rates.push(e);
        baseline_rates.push(b);
    }
    let e = median(&mut emulator_rates);
    let b = median(&mut baseline_rates);
    println!("{:>5}  {e:>14.0}  {b:>14.0}  {:>7.3}", "med", e / b);
    println!();
    if !s.full {
        println!("smoke run (no --bench): every response checked; the rates are not a measurement");
    } else {
        let verdict = if e >= TARGET_PER_SEC {
            "met"
        } else {
            "NOT MET"
        };
        println!(
            "emulator median {e:.0} req/s = {:.0}% of the baseline; time per request {:.1} us vs the \
             baseline's {:.1} us (the lower bound); target {TARGET_PER_SEC:.0} req/s {verdict} ({:.2}x)",
            100.0 * e / b,
            1e6 / e,
            1e6 / b,
            e / TARGET_PER_SEC
        );
    }
    emu.shutdown().await;
}

/// A keep-alive HTTP/1.1 client for loopback, with room for `connections` idle connections.
fn client(connections: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .http1_only()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(connections)
        .build()
        .expect("reqwest client")
}

async fn fetch_token(http: &reqwest::Client, base: &str, tenant: &str, client_id: &str) -> String {
    let form = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", WRITER_SECRET),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .finish();
    let resp = http
        .post(format!("{base}/{tenant}/oauth2/v2.0/token"))
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(form)
        .send()
        .await
        .expect("token request");
    assert_eq!(resp.status(), 200, "token request");
    let body: serde_json::Value = resp.json().await.expect("token response JSON");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

/// Sends `total` GETs from `concurrency` tasks and returns how long they took.
async fn load(
    http: &reqwest::Client,
    url: &Arc<str>,
    authorization: &Arc<str>,
    total: usize,
    concurrency: usize,
) -> Duration {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency.min(total))
        .map(|_| {
            let (http, url, auth, next) = (
                http.clone(),
                Arc::clone(url),
                Arc::clone(authorization),
                Arc::clone(&next),
            );
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < total {
                    let resp = http
                        .get(&*url)
                        .header(reqwest::header::AUTHORIZATION, &*auth)
                        .send()
                        .await
                        .expect("request sent");
                    let status = resp.status();
                    let body = resp.bytes().await.expect("response body");
                    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
                    check_body(&body);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("client task");
    }
    start.elapsed()
}

/// Panics unless `body` is a JSON policy with configurations; returns how many.
fn check_body(body: &[u8]) -> usize {
    let policy: PolicyBody = serde_json::from_slice(body).unwrap_or_else(|e| {
        panic!(
            "not a policy document ({e}): {}",
            String::from_utf8_lossy(body)
        )
    });
    assert!(
        !policy.configurations.is_empty(),
        "no authenticationMethodConfigurations"
    );
    policy.configurations.len()
}

/// A bare HTTP/1.1 server answering everything with `payload`.
async fn start_baseline(payload: Bytes) -> SocketAddr {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind baseline");
    let addr = listener.local_addr().expect("baseline address");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let _ = stream.set_nodelay(true);
            let payload = payload.clone();
            tokio::spawn(async move {
                let service = service_fn(move |_req: Request<hyper::body::Incoming>| {
                    let payload = payload.clone();
                    async move {
                        Ok::<_, std::convert::Infallible>(
                            Response::builder()
                                .header(hyper::header::CONTENT_TYPE, CONTENT_TYPE)
                                .body(Full::new(payload))
                                .expect("baseline response"),
                        )
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

fn rate(requests: usize, took: Duration) -> f64 {
    requests as f64 / took.as_secs_f64()
}

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}
