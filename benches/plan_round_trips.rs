//! How many round trips a steady-state `mfactl plan` makes, how many of them are sequential,
//! and how long it takes against an emulator that adds 20 ms to every request, compared with
//! the lower bound of one token request plus one round of concurrent reads.
//!
//! Run: `cargo bench --bench plan_round_trips`
//!
//! Everything runs in this process on one multi-threaded tokio runtime (the default, as the
//! binary builds it), like `mfactl plan --sandbox`: two emulators with TLS, Graph-like
//! throttling and the sandbox's demo tenant (`mfactl::sandbox::demo_state`), one adding
//! `LATENCY` to every request and one adding nothing. Each is first brought to steady state:
//! the shipped `policies/authentication-methods.yaml` is planned and applied once (`mfactl::apply::apply`, audit log in
//! a temporary file), and a second plan must be in sync, else the bench panics.
//!
//! One measured run is what `mfactl plan` does after choosing its target: `policy::load` of
//! the policies, `GraphClient::connect` (a fresh client, so a fresh token cache and fresh
//! connections: one token request per run, as the CLI makes), then `live::read` and
//! `live::resolve` joined concurrently and `plan::plan`: `live::compute`, exactly what the
//! CLI calls. The plan must be in sync. Round trips are counted from the emulator's
//! request log, cleared before each run, by kind (token POST, Graph GET; anything else is
//! reported). Runs alternate between the two emulators so machine noise falls on both.
//!
//! Rounds are inferred from the log of the latency emulator: an entry's `time` is stamped
//! after the injected delay, so a request arrived at `time - delay` and its response left
//! at about `time`, where `delay` is what a `tokio::time::sleep(LATENCY)` measures on this
//! runtime (tokio rounds sleeps up to its millisecond tick, so 20 ms is about 21). A request that arrived after another's response left waited for it (one
//! round more); requests that overlap are one round.
//!
//! Lower bound = 2 × LATENCY + T0, where T0 is the median wall time of the same run against
//! the zero-latency emulator (the same requests, handshakes and local work, without the
//! injected delay): no plan can do better than one token request followed by one round of
//! reads, each paying the latency once. The ratio median/lower bound is 1.00 when the plan
//! adds nothing but the two unavoidable rounds. It is also given against 2 × delay + T0,
//! which takes tokio's rounding out of the excess.
//!
//! The injected latency is per HTTP request, not per network round trip: TCP and TLS
//! handshakes cost only CPU here (measured separately below, on the zero-latency emulator),
//! whereas against the real service each new connection adds one or two round trips more.
//!
//! Environment (all optional):
//! * `MFACTL_BENCH_ITERATIONS` — measured runs per emulator (default 15);
//! * `MFACTL_BENCH_WARMUPS` — unmeasured runs per emulator first (default 2);
//! * `MFACTL_BENCH_LATENCY_MS` — injected latency (default 20);
//! * `MFACTL_BENCH_POLICIES` — a policy file or directory instead of the shipped
//!   `policies/authentication-methods.yaml` (the whole `policies/` also declares per-user MFA,
//!   whose steady-state plan reads every user's state: that is `per_user_scale`'s subject).
//!
//! Without `--bench` (as under `cargo test --benches`) it makes two runs of each as a smoke
//! check.

#![allow(clippy::disallowed_macros)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mfactl::apply::{self, AuditLog};
use mfactl::config::{CredentialSource, Env, TenantSettings};
use mfactl::emulator::control::LogEntry;
use mfactl::emulator::generate::WRITER_SECRET;
use mfactl::emulator::{Emulator, EmulatorConfig, RunningEmulator};
use mfactl::graph::GraphClient;
use mfactl::plan::live;
#[path = "support/policies.rs"]
mod policies;
use mfactl::printer::Progress;
use policies::load;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Where the bench's tenant secret is handed to `GraphClient::connect`.
const SECRET_VAR: &str = "MFACTL_BENCH_CLIENT_SECRET";

struct Settings {
    /// `--bench` was given (`cargo bench`); otherwise this is a smoke check.
    full: bool,
    iterations: usize,
    warmups: usize,
    latency: Duration,
    policies: PathBuf,
}

impl Settings {
    fn from_env() -> Self {
        let full = std::env::args().any(|a| a == "--bench");
        let var = |name: &str, default: usize, zero_ok: bool| {
            std::env::var(name)
                .ok()
                .map(|v| {
                    v.trim()
                        .parse::<usize>()
                        .ok()
                        .filter(|n| zero_ok || *n > 0)
                        .unwrap_or_else(|| panic!("{name} must be a positive integer, not {v:?}"))
                })
                .unwrap_or(default)
        };
        let (iterations, warmups) = if full { (15, 2) } else { (2, 0) };
        let policies = std::env::var_os("MFACTL_BENCH_POLICIES")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("policies")
                    .join("authentication-methods.yaml")
            });
        Self {
            full,
            iterations: var("MFACTL_BENCH_ITERATIONS", iterations, false),
            warmups: var("MFACTL_BENCH_WARMUPS", warmups, true),
            latency: Duration::from_millis(var("MFACTL_BENCH_LATENCY_MS", 20, false) as u64),
            policies,
        }
    }
}

/// An emulator and the tenant settings that reach it, as `mfactl::sandbox::start` makes them.
struct Target {
    emulator: RunningEmulator,
    tenant: TenantSettings,
    env: Env,
}

/// One measured run.
struct Run {
    load: Duration,
    connect: Duration,
    compute: Duration,
    total: Duration,
    /// When the run started, by the wall clock the log's times use.
    started: OffsetDateTime,
    entries: Vec<LogEntry>,
    graph_requests_sent: u64,
}

fn main() {
    let settings = Settings::from_env();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(bench(settings));
}

async fn bench(s: Settings) {
    let slow = start(s.latency, &s.policies).await;
    let fast = start(Duration::ZERO, &s.policies).await;
    let audit = std::env::temp_dir().join(format!(
        "mfactl-bench-plan-round-trips-{}.jsonl",
        std::process::id()
    ));
    let changes_slow = converge(&slow, &audit).await;
    let changes_fast = converge(&fast, &audit).await;
    let _ = std::fs::remove_file(&audit);
    let workers = std::thread::available_parallelism().map_or(0, |n| n.get());

    println!(
        "plan_round_trips: steady-state plan of {} against the in-process emulator (TLS token \
         endpoint, Graph throttling, sandbox demo tenant), {} ms injected latency vs none; \
         {} measured runs each after {} warm-ups; tokio multi-thread, {workers} CPUs",
        s.policies.display(),
        s.latency.as_millis(),
        s.iterations,
        s.warmups
    );
    println!(
        "steady state: {changes_slow} / {changes_fast} resource change(s) applied first \
         (latency / zero-latency emulator); every measured plan is in sync"
    );

    for _ in 0..s.warmups {
        run(&slow).await;
        run(&fast).await;
    }
    // What the injected delay really is: the emulator sleeps it on this same runtime.
    let slept = sleeps(s.latency, s.iterations.max(5)).await;
    let delay = Duration::from_secs_f64(slept / 1e3);

    println!();
    println!(
        "{:>4}  {:>9}  {:>9}  {:>5}  {:>4}  {:>6}  {:>9}  {:>9}  {:>9}",
        "run", "wall ms", "0-lat ms", "token", "GET", "rounds", "load ms", "connect", "compute"
    );
    let mut slow_runs = Vec::with_capacity(s.iterations);
    let mut fast_totals = Vec::with_capacity(s.iterations);
    let mut fast_phases = Vec::with_capacity(s.iterations);
    for i in 1..=s.iterations {
        let r = run(&slow).await;
        let f = run(&fast).await;
        let counts = Counts::of(&r.entries);
        let fc = Counts::of(&f.entries);
        assert_eq!(
            (counts.token, counts.get, counts.other.len()),
            (fc.token, fc.get, fc.other.len()),
            "both emulators must see the same requests"
        );
        let rounds = rounds(&r.entries, r.started, delay);
        println!(
            "{i:>4}  {:>9.1}  {:>9.1}  {:>5}  {:>4}  {:>6}  {:>9.2}  {:>9.2}  {:>9.1}",
            ms(r.total),
            ms(f.total),
            counts.token,
            counts.get,
            rounds.iter().map(|t| t.round).max().unwrap_or(0),
            ms(r.load),
            ms(r.connect),
            ms(r.compute),
        );
        fast_totals.push(ms(f.total));
        fast_phases.push(f);
        slow_runs.push(r);
    }

    // The run whose wall time is the median: its timeline is the one shown.
    let mut order: Vec<usize> = (0..slow_runs.len()).collect();
    order.sort_by(|a, b| slow_runs[*a].total.cmp(&slow_runs[*b].total));
    let typical = &slow_runs[order[order.len() / 2]];
    let timeline = rounds(&typical.entries, typical.started, delay);
    let counts = Counts::of(&typical.entries);
    let round_count = timeline.iter().map(|t| t.round).max().unwrap_or(0);

    println!();
    println!(
        "timeline of the median run (ms from the start of the run; a request arrives at log \
         time - {slept:.2} ms, the measured injected delay; its response leaves at about log time):"
    );
    println!(
        "{:>5}  {:>8}  {:>8}  {:>6}  {:<6} path",
        "round", "arrives", "answered", "status", "method"
    );
    for t in &timeline {
        let e = &t.entry;
        let query = if e.query.is_empty() {
            String::new()
        } else {
            format!("?{}", e.query)
        };
        println!(
            "{:>5}  {:>8.1}  {:>8.1}  {:>6}  {:<6} {}{query}",
            t.round, t.arrives, t.answered, e.status, e.method, e.path
        );
    }
    let first_arrival = timeline.first().map_or(0.0, |t| t.arrives);
    let last_answer = timeline.iter().map(|t| t.answered).fold(0.0, f64::max);
    println!(
        "local work: {:.1} ms before the first request (load {:.2}, connect {:.2}, credential), \
         {:.1} ms after the last answer (parse, plan)",
        first_arrival,
        ms(typical.load),
        ms(typical.connect),
        ms(typical.total) - last_answer
    );
    for (i, t) in timeline.iter().enumerate() {
        if t.round > 1 {
            let waited: Vec<String> = timeline[..i]
                .iter()
                .filter(|a| a.answered <= t.arrives)
                .map(|a| format!("{} {}", a.entry.method, short(&a.entry.path)))
                .collect();
            println!(
                "  round {}: {} {} arrived {:.1} ms after its run started, after the answer to: {}",
                t.round,
                t.entry.method,
                short(&t.entry.path),
                t.arrives,
                waited.join(", ")
            );
        }
    }
    if !counts.other.is_empty() {
        println!(
            "requests that are neither a token POST nor a GET: {:?}",
            counts.other
        );
    }

    let tls = handshake(&fast, s.iterations).await;

    let mut slow_totals: Vec<f64> = slow_runs.iter().map(|r| ms(r.total)).collect();
    let median_slow = median(&mut slow_totals);
    let t0 = median(&mut fast_totals);
    let latency_ms = ms(s.latency);
    let lower = 2.0 * latency_ms + t0;
    let lower_slept = 2.0 * slept + t0;
    let rounds_latency = round_count as f64 * latency_ms + t0;

    println!();
    println!(
        "round trips per plan: {} ({} token POST, {} GET{}); GraphClient::requests_sent = {}",
        counts.token + counts.get + counts.other.len(),
        counts.token,
        counts.get,
        if counts.other.is_empty() {
            String::new()
        } else {
            format!(", {} other", counts.other.len())
        },
        typical.graph_requests_sent
    );
    println!("sequential rounds: {round_count} (the minimum is 2: the token, then the reads)");
    println!(
        "TLS (zero-latency emulator, medians): a token POST on a new HTTPS connection to \
         localhost {:.2} ms, again on that connection {:.2} ms; on a new plain-HTTP connection \
         to localhost {:.2} ms, to 127.0.0.1 {:.2} ms: the TLS handshake costs {:.2} ms of CPU \
         ({:.0}% of T0), a new connection with the name resolved {:.2} ms more; both inside T0, \
         so inside the lower bound",
        tls.cold_https,
        tls.warm_https,
        tls.cold_http,
        tls.cold_http_ip,
        tls.cold_https - tls.cold_http,
        100.0 * (tls.cold_https - tls.cold_http) / t0,
        tls.cold_http - tls.warm_https,
    );
    println!(
        "zero-latency plan (T0): median {t0:.1} ms (load {:.2}, connect {:.2}, read+resolve+plan \
         {:.2}); with {latency_ms:.0} ms latency: median {median_slow:.1} ms (load {:.2}, connect \
         {:.2}, read+resolve+plan {:.2})",
        phase(&fast_phases, |r| r.load),
        phase(&fast_phases, |r| r.connect),
        phase(&fast_phases, |r| r.compute),
        phase(&slow_runs, |r| r.load),
        phase(&slow_runs, |r| r.connect),
        phase(&slow_runs, |r| r.compute),
    );
    println!(
        "lower bound = 2 x {latency_ms:.0} ms + T0 = {lower:.1} ms; median / lower bound = {:.3} \
         ({:+.1} ms)",
        median_slow / lower,
        median_slow - lower
    );
    println!(
        "tokio rounds a sleep up to its next millisecond tick: a {latency_ms:.0} ms sleep on this \
         runtime takes {slept:.2} ms (median), so the emulator's delay is that long; with it the \
         lower bound is 2 x {slept:.2} ms + T0 = {lower_slept:.1} ms and the ratio {:.3} ({:+.1} ms)",
        median_slow / lower_slept,
        median_slow - lower_slept
    );
    if round_count != 2 {
        println!(
            "with {round_count} sequential rounds the run cannot beat {round_count} x \
             {latency_ms:.0} ms + T0 = {rounds_latency:.1} ms"
        );
    }
    if !s.full {
        println!("smoke run (no --bench): every plan checked; the times are not a measurement");
    }
    slow.emulator.shutdown().await;
    fast.emulator.shutdown().await;
}

/// Starts an emulator like the sandbox's, with `latency`, and the settings of its writer app.
async fn start(latency: Duration, policies: &Path) -> Target {
    let state = mfactl::sandbox::demo_state();
    let tenant_id = state.tenants[0].id.clone();
    let client_id = state.tenants[0]
        .apps
        .iter()
        .find(|a| a.secrets.iter().any(|x| x == WRITER_SECRET))
        .map(|a| a.client_id.clone())
        .expect("demo tenant has the writer app");
    let mut config = EmulatorConfig::new(state);
    config.tls = true;
    config.latency = latency;
    let emulator = Emulator::start(config).await.expect("emulator starts");
    let endpoints = &emulator.endpoints;
    let tenant = TenantSettings {
        name: "bench".into(),
        tenant_id,
        client_id,
        credential: CredentialSource::SecretEnv(SECRET_VAR.into()),
        policies: vec![policies.to_path_buf()],
        graph_url: url::Url::parse(&endpoints.graph_url).expect("graph URL"),
        authority_host: url::Url::parse(&endpoints.login_url).expect("login URL"),
        ca_file: endpoints.ca_file.clone(),
        control: mfactl::config::TenantControl::default(),
        prune: false,
        hardware_oath_seed: None,
        config_file: None,
    };
    Target {
        emulator,
        tenant,
        env: Env::empty().with(SECRET_VAR, WRITER_SECRET),
    }
}

/// Applies the plan until the tenant is in sync; returns the resource changes applied.
async fn converge(target: &Target, audit_path: &Path) -> usize {
    let set = load(&target.tenant.policies);
    let mut applied = 0;
    for _ in 0..3 {
        let client = GraphClient::connect(&target.tenant, &target.env).expect("connect");
        let plan = live::compute(&client, &target.tenant, &set, &Progress::hidden())
            .await
            .expect("plan");
        if plan.in_sync {
            return applied;
        }
        let mut audit = AuditLog::open(audit_path, &target.tenant.policies).expect("audit log");
        let outcome = apply::apply(
            &client,
            &plan,
            &mfactl::kinds::hardware_oath::seed::SeedKeys::default(),
            &mut audit,
            &std::sync::atomic::AtomicBool::new(false),
            &Progress::hidden(),
        )
        .await
        .expect("audit log writes");
        if let Some((change, cause)) = outcome.failed.first() {
            panic!("applying {} failed: {cause}", change.resource);
        }
        applied += outcome.applied.len();
    }
    panic!("the tenant is not in sync after applying the plan three times");
}

/// One `mfactl plan` after target selection: load, connect, read and resolve, plan.
async fn run(target: &Target) -> Run {
    let log = target.emulator.core.log();
    log.clear();
    let started = OffsetDateTime::now_utc();
    let t = Instant::now();
    let set = load(&target.tenant.policies);
    let load_done = t.elapsed();
    let client = GraphClient::connect(&target.tenant, &target.env).expect("connect");
    let connect_done = t.elapsed();
    let plan = live::compute(&client, &target.tenant, &set, &Progress::hidden())
        .await
        .expect("plan");
    let total = t.elapsed();
    assert!(
        plan.in_sync,
        "the measured plan must be in sync: {:?}",
        plan.changes
    );
    let entries = log.entries();
    for e in &entries {
        assert!(
            (200..300).contains(&e.status),
            "{} {} answered {}",
            e.method,
            e.path,
            e.status
        );
    }
    Run {
        load: load_done,
        connect: connect_done - load_done,
        compute: total - connect_done,
        total,
        started,
        entries,
        graph_requests_sent: client.requests_sent(),
    }
}

/// Requests by kind.
struct Counts {
    token: usize,
    get: usize,
    other: Vec<String>,
}

impl Counts {
    fn of(entries: &[LogEntry]) -> Self {
        let mut c = Counts {
            token: 0,
            get: 0,
            other: Vec::new(),
        };
        for e in entries {
            if e.method == "POST" && e.path.ends_with("/oauth2/v2.0/token") {
                c.token += 1;
            } else if e.method == "GET" {
                c.get += 1;
            } else {
                c.other.push(format!("{} {}", e.method, e.path));
            }
        }
        c
    }
}

/// A logged request placed in time, with the round it belongs to.
struct Timed {
    entry: LogEntry,
    /// Milliseconds from the start of the run.
    arrives: f64,
    answered: f64,
    round: usize,
}

/// Places each request in time and in a round: one more than the latest round of any request
/// answered before it arrived.
fn rounds(entries: &[LogEntry], started: OffsetDateTime, latency: Duration) -> Vec<Timed> {
    let mut timed: Vec<Timed> = entries
        .iter()
        .map(|e| {
            let at = OffsetDateTime::parse(&e.time, &Rfc3339)
                .unwrap_or_else(|err| panic!("log time {:?}: {err}", e.time));
            let answered = (at - started).as_seconds_f64() * 1e3;
            Timed {
                entry: e.clone(),
                arrives: answered - ms(latency),
                answered,
                round: 0,
            }
        })
        .collect();
    timed.sort_by(|a, b| a.arrives.total_cmp(&b.arrives));
    for i in 0..timed.len() {
        let before = timed[..i]
            .iter()
            .filter(|a| a.answered <= timed[i].arrives)
            .map(|a| a.round)
            .max()
            .unwrap_or(0);
        timed[i].round = before + 1;
    }
    timed
}

/// Median times of a token POST: on a new HTTPS connection to `localhost` (the login URL),
/// again on that connection, on a new plain-HTTP connection to `localhost`, and on a new
/// plain-HTTP connection to `127.0.0.1` (the Graph URL: no name to resolve).
struct Handshake {
    cold_https: f64,
    warm_https: f64,
    cold_http: f64,
    cold_http_ip: f64,
}

/// Measures what a TLS handshake adds, with a client built as `GraphClient::connect` builds
/// its own (system roots plus the emulator's CA), against the zero-latency emulator.
async fn handshake(target: &Target, samples: usize) -> Handshake {
    let pem = std::fs::read(
        target
            .tenant
            .ca_file
            .as_ref()
            .expect("TLS emulator has a CA"),
    )
    .expect("read CA file");
    let certs = reqwest::Certificate::from_pem_bundle(&pem).expect("CA PEM");
    let client = || {
        reqwest::Client::builder()
            .tls_certs_merge(certs.clone())
            .build()
            .expect("reqwest client")
    };
    let path = format!("/{}/oauth2/v2.0/token", target.tenant.tenant_id);
    let https = format!(
        "{}{path}",
        target.tenant.authority_host.as_str().trim_end_matches('/')
    );
    let http = format!("http://localhost:{}{path}", target.emulator.addr.port());
    let http_ip = format!("{}{path}", target.emulator.graph_url());
    let form = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("grant_type", "client_credentials"),
            ("client_id", target.tenant.client_id.as_str()),
            ("client_secret", WRITER_SECRET),
            ("scope", mfactl::graph::GRAPH_SCOPE),
        ])
        .finish();
    let post = |c: &reqwest::Client, url: &str| {
        let request = c
            .post(url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(form.clone());
        async move {
            let t = Instant::now();
            let resp = request.send().await.expect("token POST");
            let status = resp.status();
            let _ = resp.bytes().await.expect("token body");
            assert_eq!(status, 200, "token POST");
            ms(t.elapsed())
        }
    };
    let (mut cold_https, mut warm_https) = (Vec::new(), Vec::new());
    let (mut cold_http, mut cold_http_ip) = (Vec::new(), Vec::new());
    // One unmeasured round first.
    for i in 0..=samples {
        let c = client();
        let cold = post(&c, &https).await;
        let warm = post(&c, &https).await;
        let plain = post(&client(), &http).await;
        let plain_ip = post(&client(), &http_ip).await;
        if i > 0 {
            cold_https.push(cold);
            warm_https.push(warm);
            cold_http.push(plain);
            cold_http_ip.push(plain_ip);
        }
    }
    target.emulator.core.log().clear();
    Handshake {
        cold_https: median(&mut cold_https),
        warm_https: median(&mut warm_https),
        cold_http: median(&mut cold_http),
        cold_http_ip: median(&mut cold_http_ip),
    }
}

/// The median time a `tokio::time::sleep(latency)` takes on this runtime, as the emulator's
/// injected delay does.
async fn sleeps(latency: Duration, samples: usize) -> f64 {
    let mut took = Vec::with_capacity(samples);
    for _ in 0..samples {
        let t = Instant::now();
        tokio::time::sleep(latency).await;
        took.push(ms(t.elapsed()));
    }
    median(&mut took)
}

/// The last two segments of a path (`policies/authenticationMethodsPolicy`).
fn short(path: &str) -> String {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    segs[segs.len().saturating_sub(2)..].join("/")
}

/// The median of one phase of the runs, in milliseconds.
fn phase(runs: &[Run], f: impl Fn(&Run) -> Duration) -> f64 {
    median(&mut runs.iter().map(|r| ms(f(r))).collect::<Vec<_>>())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
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
