//! `mfactl plan` and `mfactl apply` of per-user state on a large tenant, against the
//! emulator with 20 ms injected latency and Graph-like throttling: wall time, requests and
//! 429s of each, next to the lower bound the documented limits, paging and batching allow.
//!
//! Run: `cargo bench --bench per_user_scale`
//!
//! The tenant is generated in this process (`generate::generate`, 100,000 users, 8 groups,
//! one tenant) with 5 % drift in each per-user resource: every 20th user has legacy per-user
//! MFA `enforced` (the rest `disabled`), and every 20th user from the 8th on has
//! `isSystemPreferredAuthenticationMethodEnabled: false` (the rest `true`), two disjoint
//! sets. The state is written to a temporary file and served by the release binary as a
//! separate process (`mfactl emulator --tls --state FILE --latency-ms 20 --throttle graph`),
//! so that each `mfactl` run is its own process too, measured from the outside: wall time
//! (spawn to exit), peak RSS (VmHWM, polled), and the emulator's request log, cleared before
//! each run: outer HTTP requests and the requests inside `$batch` POSTs separately, and the
//! 429s among each.
//!
//! Policies: a PerUserMfa document (`state: disabled`) and a SignInPreferences document with
//! one rule (`group: all_users`, `isSystemPreferredAuthenticationMethodEnabled: true`). The
//! runs, in order, each after an 11 s pause so that the emulator's 10 s buckets (resource
//! units, reports) are full again, as the lower bounds assume:
//! 1. `mfactl plan -o json` — must exit 1 (drift) with ≈ 2 × 5 % of the users to change;
//! 2. `mfactl apply --yes --allow-lockout N` — must exit 0;
//! 3. `mfactl plan -o json` — must exit 0 (in sync).
//!
//! Lower bounds, from the emulator's limits (Graph's documented figures, FACTS.md §10) for a
//! tenant above 500 users, each bucket paying its capacity at once and then its rate:
//! * plan: the report (`ceil(users in report / 1000)` pages, 5 per 10 s, burst 5) runs
//!   alongside the directory and per-user reads (`ceil(users / 999)` `/users` pages and two
//!   GETs per user, 1 resource unit each, 8,000 per 10 s per app and tenant): the larger of
//!   `(pages − 5) / 0.5 s` and `(RU − 8,000) / 800 s`;
//! * apply: the plan's bound, then W PATCHes (3,000 writes per 150 s per app and tenant:
//!   `max(0, W − 3,000) / 20 s`; 18,000 per 5 min per tenant; 1 RU each) and the re-read of
//!   the W users (W RU), whichever of writes and resource units is slower;
//! * requests: 1 token, 1 policy GET, the report and `/users` pages, and one `$batch` POST
//!   per 20 requests (2 × users reads; W writes and W verification reads for apply).
//!
//! mfactl's own pacer keeps to 0.98 of each limit (burst and rate) and starts at the
//! strictest tier (3,500 RU per 10 s) until it has counted the tenant's users; the bench
//! prints what that alone costs next to the bound.
//!
//! Environment (optional): `MFACTL_BENCH_USERS` (default 100,000), `MFACTL_BENCH_LATENCY_MS`
//! (default 20). Without `--bench` (as under `cargo test --benches`) it uses 2,000 users.

#![allow(clippy::disallowed_macros)]

#[path = "support/mod.rs"]
mod support;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mfactl::emulator::generate::{self, GenerateSpec, WRITER_SECRET};
use serde_json::Value;
use support::{EmulatorProcess, clear_log, read_log, start_emulator, vm_hwm_kib};

const SECRET_VAR: &str = "MFACTL_BENCH_CLIENT_SECRET";
/// Users a `/users` page holds (`$top=999`), rows a report page holds (`$top=1000`),
/// requests a `$batch` POST holds.
const USERS_PAGE: f64 = 999.0;
const REPORT_PAGE: f64 = 1_000.0;
const BATCH: f64 = 20.0;
/// The emulator's limits for a tenant above 500 users: (capacity, per second).
const RU: (f64, f64) = (8_000.0, 800.0);
const REPORTS: (f64, f64) = (5.0, 0.5);
const WRITES: (f64, f64) = (3_000.0, 20.0);
const TENANT_WRITES: (f64, f64) = (18_000.0, 60.0);
/// mfactl's pacer: the fraction of every limit it allows itself.
const HEADROOM: f64 = 0.98;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().replace(['_', ','], "").parse().ok())
        .unwrap_or(default)
}

/// Seconds a bucket of `(capacity, rate)` needs to pay `amount` starting full.
fn drain(amount: f64, (capacity, rate): (f64, f64)) -> f64 {
    ((amount - capacity) / rate).max(0.0)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let users = env_usize("MFACTL_BENCH_USERS", if full { 100_000 } else { 2_000 });
    let latency = env_usize("MFACTL_BENCH_LATENCY_MS", 20);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = bench(&runtime, users, latency, full);
    std::process::exit(code);
}

/// What one mfactl run did.
struct Run {
    name: &'static str,
    code: i32,
    wall: Duration,
    peak_rss_kib: u64,
    stdout: PathBuf,
    log: Counts,
    user_changes: Option<usize>,
}

#[derive(Default)]
struct Counts {
    token: usize,
    batch_posts: usize,
    report_pages: usize,
    users_pages: usize,
    other_outer: usize,
    outer_429: usize,
    inner_get: usize,
    inner_write: usize,
    inner_429: usize,
    other_paths: Vec<String>,
}

impl Counts {
    fn of(entries: &[Value]) -> Self {
        let mut c = Counts::default();
        for e in entries {
            let path = e["path"].as_str().unwrap_or_default();
            let method = e["method"].as_str().unwrap_or_default();
            let status = e["status"].as_u64().unwrap_or(0);
            if e.get("batchId").is_some_and(|b| !b.is_null()) {
                if method.eq_ignore_ascii_case("GET") {
                    c.inner_get += 1;
                } else {
                    c.inner_write += 1;
                }
                if status == 429 {
                    c.inner_429 += 1;
                }
                continue;
            }
            if status == 429 {
                c.outer_429 += 1;
            }
            if path.ends_with("/oauth2/v2.0/token") {
                c.token += 1;
            } else if path.ends_with("/$batch") {
                c.batch_posts += 1;
            } else if path.contains("/reports/") {
                c.report_pages += 1;
            } else if path == "/v1.0/users" {
                c.users_pages += 1;
            } else {
                c.other_outer += 1;
                if c.other_paths.len() < 8 {
                    c.other_paths.push(format!("{method} {path}"));
                }
            }
        }
        c
    }

    fn outer(&self) -> usize {
        self.token + self.batch_posts + self.report_pages + self.users_pages + self.other_outer
    }

    fn inner(&self) -> usize {
        self.inner_get + self.inner_write
    }
}

/// The tenant with its drift, and what the bounds need to know of it.
struct Tenant {
    id: String,
    writer: String,
    users: usize,
    in_report: usize,
    mfa_drift: usize,
    sign_in_drift: usize,
}

fn build_state(users: usize, file: &Path) -> Tenant {
    let mut state = generate::generate(&GenerateSpec {
        users,
        groups: 8,
        tenants: 1,
        seed: 42,
    });
    let tenant = &mut state.tenants[0];
    let (mut mfa_drift, mut sign_in_drift) = (0, 0);
    for (i, u) in tenant.users.iter_mut().enumerate() {
        if i % 20 == 0 {
            u.per_user_mfa_state = "enforced".into();
            mfa_drift += 1;
        } else {
            u.per_user_mfa_state = "disabled".into();
        }
        let drifted = i % 20 == 7;
        u.sign_in_preferences
            .is_system_preferred_authentication_method_enabled = Some(!drifted);
        sign_in_drift += usize::from(drifted);
    }
    let t = Tenant {
        id: tenant.id.clone(),
        writer: tenant
            .apps
            .iter()
            .find(|a| a.secrets.iter().any(|s| s == WRITER_SECRET))
            .expect("a writer app")
            .client_id
            .clone(),
        users: tenant.users.len(),
        in_report: tenant.users.iter().filter(|u| u.account_enabled).count(),
        mfa_drift,
        sign_in_drift,
    };
    let f = std::io::BufWriter::new(File::create(file).expect("state file"));
    serde_json::to_writer(f, &state).expect("write state");
    t
}

fn write_project(dir: &Path, emu: &EmulatorProcess, t: &Tenant) {
    let policies = dir.join("policies");
    std::fs::create_dir_all(&policies).expect("policies dir");
    std::fs::write(
        policies.join("per-user.yaml"),
        "apiVersion: mfactl/v1\nkind: PerUserMfa\nmetadata: {name: legacy-per-user-mfa-off}\n\
         spec:\n  state: disabled\n---\n\
         apiVersion: mfactl/v1\nkind: SignInPreferences\nmetadata: {name: system-preferred}\n\
         spec:\n  rules:\n    - group: all_users\n      isSystemPreferredAuthenticationMethodEnabled: true\n",
    )
    .expect("policies");
    let yaml = format!(
        "tenants:\n  - name: bench\n    tenantId: {}\n    clientId: {}\n    credential:\n      \
         clientSecret: {{ env: {SECRET_VAR} }}\n    policies: [policies]\n    graphUrl: {}\n    \
         authorityHost: {}\n    caFile: {}\nauditLog: audit.jsonl\n",
        t.id, t.writer, emu.graph_url, emu.login_url, emu.ca_file
    );
    std::fs::write(dir.join("mfactl.yaml"), yaml).expect("mfactl.yaml");
}

/// Sums the lengths of every `userChanges` array in a plan's JSON.
fn user_changes(v: &Value) -> usize {
    match v {
        Value::Object(o) => o
            .iter()
            .map(|(k, v)| match (k.as_str(), v) {
                ("userChanges", Value::Array(a)) => a.len(),
                _ => user_changes(v),
            })
            .sum(),
        Value::Array(a) => a.iter().map(user_changes).sum(),
        _ => 0,
    }
}

#[allow(clippy::too_many_arguments)]
fn run(
    rt: &tokio::runtime::Runtime,
    http: &reqwest::Client,
    emu: &EmulatorProcess,
    bin: &str,
    dir: &Path,
    name: &'static str,
    args: &[&str],
    json: bool,
) -> Run {
    clear_log(rt, http, emu);
    let stdout = dir.join(format!("{name}.out"));
    let stderr = dir.join(format!("{name}.err"));
    let mut cmd = Command::new(bin);
    cmd.current_dir(dir)
        .args(args)
        .env(SECRET_VAR, WRITER_SECRET)
        .stdin(Stdio::null())
        .stdout(File::create(&stdout).expect("stdout file"))
        .stderr(File::create(&stderr).expect("stderr file"));
    for (k, _) in std::env::vars() {
        if k.starts_with("AZURE_") || k.starts_with("MFACTL_") && k != SECRET_VAR {
            cmd.env_remove(k);
        }
    }
    let started = Instant::now();
    let mut child = cmd.spawn().expect("start mfactl");
    let pid = child.id();
    let mut peak = 0;
    let status = loop {
        if let Some(hwm) = vm_hwm_kib(pid) {
            peak = peak.max(hwm);
        }
        match child.try_wait().expect("wait for mfactl") {
            Some(s) => break s,
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    let wall = started.elapsed();
    let log = Counts::of(&read_log(rt, http, emu));
    let user_changes = json
        .then(|| {
            std::fs::read(&stdout)
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .map(|v| user_changes(&v))
        })
        .flatten();
    let r = Run {
        name,
        code: status.code().unwrap_or(-1),
        wall,
        peak_rss_kib: peak,
        stdout,
        log,
        user_changes,
    };
    eprintln!(
        "{name}: exit {} in {:.1} s; {} outer requests ({} 429), {} in $batch ({} 429)",
        r.code,
        r.wall.as_secs_f64(),
        r.log.outer(),
        r.log.outer_429,
        r.log.inner(),
        r.log.inner_429
    );
    if let Ok(text) = std::fs::read_to_string(&stderr) {
        for line in text
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.contains("progress:"))
            .take(40)
        {
            eprintln!("  {name} | {line}");
        }
    }
    r
}

/// A lower bound: seconds, outer HTTP requests, requests inside `$batch`, and how it is made.
struct Bound {
    secs: f64,
    outer: f64,
    inner: f64,
    why: String,
}

fn plan_bound(t: &Tenant) -> Bound {
    let n = t.users as f64;
    let report_pages = (t.in_report as f64 / REPORT_PAGE).ceil().max(1.0);
    let users_pages = (n / USERS_PAGE).ceil().max(1.0);
    let reads = 2.0 * n;
    let ru = 1.0 + users_pages + reads;
    let report = drain(report_pages, REPORTS);
    let units = drain(ru, RU);
    Bound {
        secs: report.max(units),
        outer: 1.0 + 1.0 + report_pages + users_pages + (reads / BATCH).ceil(),
        inner: reads,
        why: format!(
            "max(report {report_pages} pages: ({report_pages} − 5) / 0.5 = {report:.1} s; \
             {ru} RU (1 policy GET + {users_pages} /users pages + {reads} per-user GETs): \
             ({ru} − 8,000) / 800 = {units:.1} s)"
        ),
    }
}

fn apply_bound(t: &Tenant, w: usize) -> Bound {
    let p = plan_bound(t);
    let w = w as f64;
    let writes = drain(w, WRITES).max(drain(w, TENANT_WRITES));
    // After the plan the RU bucket is empty (the plan is RU-bound): the writes' W RU and
    // the verification's W RU are paid at the refill rate.
    let units = 2.0 * w / RU.1;
    let after = writes.max(units);
    Bound {
        secs: p.secs + after,
        outer: p.outer + 2.0 * (w / BATCH).ceil(),
        inner: p.inner + 2.0 * w,
        why: format!(
            "plan bound {:.1} s + max(writes: ({w} − 3,000) / 20 = {writes:.1} s; \
             {} RU of writes and re-reads at 800/s = {units:.1} s)",
            p.secs,
            2.0 * w
        ),
    }
}

/// What mfactl's own pacer (0.98 of each limit, starting at the 3,500 tier until it has
/// counted the users) allows at best for the plan's reads, and for the writes.
fn pacer_floor(t: &Tenant, w: usize) -> (f64, f64) {
    let n = t.users as f64;
    let users_pages = (n / USERS_PAGE).ceil().max(1.0);
    let report_pages = (t.in_report as f64 / REPORT_PAGE).ceil().max(1.0);
    // The /users pages are paid from the 3,500-tier burst; the bucket is then raised to the
    // 8,000 tier, the difference added (the service's bucket had that size all along).
    let left = RU.0 * HEADROOM - 1.0 - users_pages;
    let reads = ((2.0 * n - left) / (RU.1 * HEADROOM)).max(0.0);
    let report =
        ((report_pages - (REPORTS.0 * HEADROOM).floor()) / (REPORTS.1 * HEADROOM)).max(0.0);
    let writes = ((w as f64 - WRITES.0 * HEADROOM) / (WRITES.1 * HEADROOM)).max(0.0);
    (reads.max(report), writes)
}

fn bench(rt: &tokio::runtime::Runtime, users: usize, latency: usize, full: bool) -> i32 {
    let bin = env!("CARGO_BIN_EXE_mfactl");
    let dir = std::env::temp_dir().join(format!(
        "mfactl-bench-per-user-scale-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let state_file = dir.join("state.json");
    let t0 = Instant::now();
    let tenant = build_state(users, &state_file);
    eprintln!(
        "generated {} users ({} in the report), drift: {} per-user MFA, {} sign-in preferences, in {:.1} s",
        tenant.users,
        tenant.in_report,
        tenant.mfa_drift,
        tenant.sign_in_drift,
        t0.elapsed().as_secs_f64()
    );
    let emu = start_emulator(bin, &dir, &state_file, latency);
    write_project(&dir, &emu, &tenant);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .expect("http client");
    let pause = Duration::from_secs(11);
    let allow = tenant.users.to_string();

    std::thread::sleep(pause);
    let plan1 = run(
        rt,
        &http,
        &emu,
        bin,
        &dir,
        "plan",
        &["plan", "-o", "json", "--config", "mfactl.yaml"],
        true,
    );
    std::thread::sleep(pause);
    let apply = run(
        rt,
        &http,
        &emu,
        bin,
        &dir,
        "apply",
        &[
            "apply",
            "--yes",
            "--allow-lockout",
            &allow,
            "--config",
            "mfactl.yaml",
        ],
        false,
    );
    std::thread::sleep(pause);
    let plan2 = run(
        rt,
        &http,
        &emu,
        bin,
        &dir,
        "plan (in sync)",
        &["plan", "-o", "json", "--config", "mfactl.yaml"],
        true,
    );
    drop(emu);

    let w = plan1.user_changes.unwrap_or(0);
    let pb = plan_bound(&tenant);
    let ab = apply_bound(&tenant, w);
    let (pacer_reads, pacer_writes) = pacer_floor(&tenant, w);

    println!(
        "per_user_scale: {} users ({} in the registration report), 5 % drift in per-user MFA \
         ({} enforced → disabled) and in sign-in preferences ({} system-preferred false → true); \
         emulator as a separate process, {latency} ms injected latency, Graph-like throttling; \
         one run each{}",
        tenant.users,
        tenant.in_report,
        tenant.mfa_drift,
        tenant.sign_in_drift,
        if full {
            ""
        } else {
            " (smoke check: not --bench)"
        }
    );
    println!();
    println!(
        "| run | exit | wall s | lower bound s | ratio | HTTP requests (bound) | in $batch (bound) | 429 outer / in $batch | user changes | peak RSS MiB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (r, b) in [(&plan1, &pb), (&apply, &ab), (&plan2, &pb)] {
        println!(
            "| `{}` | {} | {:.1} | {:.1} | {:.2} | {} ({}) | {} ({}) | {} / {} | {} | {:.1} |",
            r.name,
            r.code,
            r.wall.as_secs_f64(),
            b.secs,
            r.wall.as_secs_f64() / b.secs.max(f64::MIN_POSITIVE),
            r.log.outer(),
            b.outer,
            r.log.inner(),
            b.inner,
            r.log.outer_429,
            r.log.inner_429,
            r.user_changes.map_or("–".to_string(), |n| n.to_string()),
            r.peak_rss_kib as f64 / 1024.0
        );
    }
    println!();
    for r in [&plan1, &apply, &plan2] {
        println!(
            "{}: outer = {} token + {} report pages + {} /users pages + {} $batch POSTs + {} other{}; \
             in $batch: {} GET, {} PATCH",
            r.name,
            r.log.token,
            r.log.report_pages,
            r.log.users_pages,
            r.log.batch_posts,
            r.log.other_outer,
            if r.log.other_paths.is_empty() {
                String::new()
            } else {
                format!(" ({})", r.log.other_paths.join(", "))
            },
            r.log.inner_get,
            r.log.inner_write
        );
    }
    println!();
    println!("plan lower bound: {}", pb.why);
    println!(
        "apply lower bound (W = {w} user changes from the first plan): {}",
        ab.why
    );
    println!(
        "mfactl's pacer alone (0.98 of each limit; 3,500-RU tier until the users are counted, \
         then the 8,000 tier with the difference added): reads ≥ {pacer_reads:.1} s (ratio {:.3} to the \
         plan bound), writes ≥ {pacer_writes:.1} s",
        pacer_reads / pb.secs.max(f64::MIN_POSITIVE)
    );

    let mut ok = true;
    let expect = |r: &Run, code: i32, ok: &mut bool| {
        if r.code != code {
            eprintln!(
                "{}: exit {} (expected {code}); output in {}",
                r.name,
                r.code,
                r.stdout.display()
            );
            *ok = false;
        }
    };
    expect(&plan1, 1, &mut ok);
    expect(&apply, 0, &mut ok);
    expect(&plan2, 0, &mut ok);
    if w != tenant.mfa_drift + tenant.sign_in_drift {
        eprintln!(
            "plan: {w} user changes, expected {} + {}",
            tenant.mfa_drift, tenant.sign_in_drift
        );
        ok = false;
    }
    if ok {
        let _ = std::fs::remove_dir_all(&dir);
        0
    } else {
        eprintln!("kept {} for inspection", dir.display());
        1
    }
}
