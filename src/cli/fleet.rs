//! Several tenants in one run (`--all-tenants`, or `--shard I/N` for one worker's share),
//! `--concurrency N` at a time. Each tenant is planned or reconciled exactly as it would be
//! alone; results are reported in the configuration's tenant order, and alerts are sent one
//! after another (they share the alert state file).

use std::collections::HashMap;
use std::path::PathBuf;

use futures_util::StreamExt;
use serde_json::{Value, json};

use super::common::{RunError, colour, guard, incomplete, load, stop_on_signal};
use super::reconcile::{DEBOUNCE, deliver, once_exit, report_cycle};
use crate::apply::{self, AuditLog};
use crate::cli::exit::ExitCode;
use crate::cli::{ApplyArgs, PlanArgs, ReconcileArgs, SourceArgs};
use crate::config::{self, Env, Settings, TenantSettings};
use crate::controller::{Controller, Metrics};
use crate::graph::{GraphClient, http_client};
use crate::kinds::hardware_oath::seed::SeedKeys;
use crate::notify::{self, Notifier};
use crate::plan::live::PlanningError;
use crate::plan::{FORMAT_VERSION, Plan, live};
use crate::policy::PolicySet;
use crate::printer::{self, Progress};
use crate::report::applied::{self, ApplyFormat};
use crate::report::{self, Format};

/// The configuration and the tenants the flags select, with `--policies` applied.
pub(super) fn select(
    source: &SourceArgs,
    sandbox: bool,
    env: &Env,
) -> Result<(Settings, Vec<TenantSettings>), RunError> {
    if sandbox {
        return Err(RunError::Usage(
            "--sandbox is one tenant: it cannot be combined with --all-tenants or --shard".into(),
        ));
    }
    let cwd = std::env::current_dir().unwrap_or_else(|_| std::path::PathBuf::from("."));
    let settings = config::resolve(source.config.as_deref(), env, &cwd)?;
    let mut tenants = settings.select(None, source.all_tenants, source.shard)?;
    if !source.policies.is_empty() {
        for t in &mut tenants {
            t.policies = source.policies.clone();
        }
    }
    printer::status(&format!(
        "{}{}, {} at a time",
        printer::count(tenants.len(), "tenant", "tenants"),
        source
            .shard
            .map(|s| format!(" in shard {}/{}", s.index, s.count))
            .unwrap_or_default(),
        source.concurrency
    ));
    Ok((settings, tenants))
}

/// What the tenants of one run share: an HTTP client per trust store (one connection pool,
/// TLS sessions reused) and each distinct set of policy files, loaded and validated once.
struct Shared {
    http: HashMap<Option<PathBuf>, reqwest::Client>,
    sets: HashMap<Vec<PathBuf>, Result<PolicySet, usize>>,
}

impl Shared {
    /// Loads what `tenants` need; a policy set with errors is reported once (its tenants
    /// fail with it), a trust store that cannot be read fails the run.
    fn new(tenants: &[TenantSettings], load_policies: bool) -> Result<Self, RunError> {
        let mut shared = Shared {
            http: HashMap::new(),
            sets: HashMap::new(),
        };
        for t in tenants {
            if !shared.http.contains_key(&t.ca_file) {
                let http = http_client(t.ca_file.as_deref())?;
                shared.http.insert(t.ca_file.clone(), http);
            }
            if load_policies && !shared.sets.contains_key(&t.policies) {
                let set = load(&t.policies, t.config_file.as_deref()).map_err(|e| match e {
                    RunError::InvalidPolicy(n) => n,
                    _ => 1,
                });
                shared.sets.insert(t.policies.clone(), set);
            }
        }
        Ok(shared)
    }

    fn client(&self, t: &TenantSettings, env: &Env) -> Result<GraphClient, RunError> {
        let http = match self.http.get(&t.ca_file) {
            Some(h) => h.clone(),
            None => http_client(t.ca_file.as_deref())?,
        };
        Ok(GraphClient::connect_with(t, env, http)?)
    }

    fn set(&self, t: &TenantSettings) -> Result<PolicySet, RunError> {
        match self.sets.get(&t.policies) {
            Some(Ok(set)) => Ok(set.clone()),
            Some(Err(n)) => Err(RunError::InvalidPolicy(*n)),
            None => load(&t.policies, t.config_file.as_deref()),
        }
    }
}

/// The exit code of a run over several tenants: the first failed tenant's (in configuration
/// order), else 1 if any drifted, else 0.
fn combined(results: &[Result<ExitCode, RunError>]) -> Result<ExitCode, RunError> {
    let mut code = ExitCode::Success;
    for r in results {
        match r {
            Err(e) => return Err(clone_code(e)),
            Ok(ExitCode::Drift) => code = ExitCode::Drift,
            Ok(_) => {}
        }
    }
    Ok(code)
}

async fn plan_one(tenant: &TenantSettings, env: &Env, shared: &Shared) -> Result<Plan, RunError> {
    let set = shared.set(tenant)?;
    let client = shared.client(tenant, env)?;
    Ok(live::compute(&client, tenant, &set, &Progress::hidden()).await?)
}

/// `mfactl plan --all-tenants | --shard I/N`.
pub(super) async fn plan(args: &PlanArgs, env: Env) -> Result<ExitCode, RunError> {
    if args.out.is_some() {
        return Err(RunError::Usage(
            "--out saves one tenant's plan: use it with --tenant".into(),
        ));
    }
    let (_, tenants) = select(&args.target.source, args.target.sandbox, &env)?;
    let shared = Shared::new(&tenants, true)?;
    let (env, shared) = (&env, &shared);
    let results: Vec<(String, Result<Plan, RunError>)> = futures_util::stream::iter(&tenants)
        .map(|t| async move { (t.name.clone(), plan_one(t, env, shared).await) })
        .buffered(usize::from(args.target.source.concurrency))
        .collect()
        .await;
    let mut codes = Vec::with_capacity(results.len());
    let mut entries = Vec::with_capacity(results.len());
    for (name, result) in &results {
        match result {
            Ok(plan) => {
                codes.push(Ok(if plan.in_sync {
                    ExitCode::Success
                } else {
                    ExitCode::Drift
                }));
                match args.output {
                    Format::Json => entries.push(json!({"tenant": name, "plan": plan})),
                    format => {
                        printer::data(&format!("{}\n", report::render(plan, format, colour())))
                    }
                }
            }
            Err(e) => {
                printer::event(
                    printer::Level::Error,
                    &format!("{name}: error: {e}"),
                    &[("tenant", name.as_str().into())],
                );
                if args.output == Format::Json {
                    entries.push(json!({"tenant": name, "error": e.to_string()}));
                }
                codes.push(Err(clone_code(e)));
            }
        }
    }
    if args.output == Format::Json {
        let out = json!({"formatVersion": FORMAT_VERSION, "tenants": Value::Array(entries)});
        printer::data(&format!(
            "{}\n",
            serde_json::to_string_pretty(&out).unwrap_or_default()
        ));
    }
    summary(&codes, None);
    combined(&codes)
}

/// A stand-in carrying a tenant's error code and message, for the combined result.
fn clone_code(e: &RunError) -> RunError {
    RunError::Tenant {
        code: crate::cli::exit::for_error(e),
        message: e.to_string(),
    }
}

/// The line counting the tenants by outcome; `applied` (for verbs that apply) is how many of
/// the successful ones were changed, the others being in sync.
fn summary(codes: &[Result<ExitCode, RunError>], applied: Option<usize>) {
    let succeeded = codes
        .iter()
        .filter(|c| matches!(c, Ok(ExitCode::Success)))
        .count();
    let drift = codes
        .iter()
        .filter(|c| matches!(c, Ok(ExitCode::Drift)))
        .count();
    let failed = codes.iter().filter(|c| c.is_err()).count();
    let mut parts = vec![format!(
        "{} in sync",
        succeeded - applied.unwrap_or(0).min(succeeded)
    )];
    if let Some(applied) = applied {
        parts.push(format!("{applied} applied"));
    }
    parts.push(format!("{drift} with drift"));
    parts.push(format!("{failed} failed"));
    printer::status(&format!(
        "{}: {}",
        printer::count(codes.len(), "tenant", "tenants"),
        parts.join(", ")
    ));
}

/// One tenant of the long-running fleet controller.
struct Looping {
    controller: Controller,
    mode: crate::controller::Mode,
    next: std::time::Instant,
    failures: u32,
    succeeded_once: bool,
    /// Cycles started, for the `cycle` field of its lines.
    cycles: u64,
}

/// `mfactl reconcile --all-tenants | --shard I/N` (long-running): every tenant on its own
/// schedule (`--interval`, and `--retry-interval` doubling after a failure), all of them again
/// when the policy files change, `--concurrency` cycles at a time; /readyz is ready once every
/// tenant has had a successful cycle. SIGTERM lets the cycles in flight finish.
async fn reconcile_loop(args: &ReconcileArgs, env: Env) -> Result<ExitCode, RunError> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Instant;
    let (settings, tenants) = select(&args.target.source, args.target.sandbox, &env)?;
    let metrics = Arc::new(Metrics::default());
    let providers = notify::providers(&settings.notifications, &env)?;
    let remind_after = args.remind_after.or(settings.notifications.remind_after);
    let notifier = if providers.is_empty() {
        None
    } else {
        Some(Notifier::new(providers)?.with_remind_after(remind_after))
    };
    let link = notify::run_link(&env);
    let shared = Shared::new(&tenants, false)?;
    let mut paths: Vec<PathBuf> = Vec::new();
    let mut looping: Vec<Looping> = Vec::new();
    for t in tenants {
        if t.control.suspend {
            printer::status(&format!(
                "{}: suspended (`suspend: true` in the configuration); skipped, nothing read or changed",
                t.name
            ));
            continue;
        }
        for p in &t.policies {
            if !paths.contains(p) {
                paths.push(p.clone());
            }
        }
        let mode = args.mode.unwrap_or(t.control.mode);
        let http = shared.http.get(&t.ca_file).cloned();
        let mut controller = Controller::new(
            t,
            env.clone(),
            mode,
            settings.audit_log.clone(),
            Arc::clone(&metrics),
        )
        .with_allowance(args.allow.allowance());
        if let Some(http) = http {
            controller = controller.with_http(http);
        }
        looping.push(Looping {
            controller,
            mode,
            next: Instant::now(),
            failures: 0,
            succeeded_once: false,
            cycles: 0,
        });
    }
    let health = Arc::new(crate::controller::serve::Health {
        metrics: Arc::clone(&metrics),
        ready: AtomicBool::new(looping.is_empty()),
    });
    let bound = crate::controller::serve::serve(args.listen, Arc::clone(&health))
        .await
        .map_err(|e| RunError::Controller(format!("cannot listen on {}: {e}", args.listen)))?;
    let (_watcher, mut changes) =
        crate::controller::watch::watch(crate::controller::watch::Watched {
            roots: paths,
            config: match &settings.source {
                config::ConfigSource::File(path) => Some(path.clone()),
                config::ConfigSource::Environment => None,
            },
        })
        .map_err(|e| RunError::Controller(e.to_string()))?;
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = Arc::new(tokio::sync::Notify::new());
    {
        let (stop, stopped) = (Arc::clone(&stop), Arc::clone(&stopped));
        tokio::spawn(async move {
            stop_on_signal(Arc::clone(&stop)).await;
            stopped.notify_one();
        });
    }
    printer::status(&format!(
        "reconciling {}, {} at a time, on changes to the policy files and every {}; /healthz, /readyz, /metrics on http://{bound}",
        printer::count(looping.len(), "tenant", "tenants"),
        args.target.source.concurrency,
        crate::config::format_duration(args.interval)
    ));
    loop {
        let now = Instant::now();
        let stop_ref = &*stop;
        let outcomes: Vec<(usize, crate::controller::CycleOutcome)> = futures_util::stream::iter(
            looping
                .iter_mut()
                .enumerate()
                .filter(|(_, l)| l.next <= now),
        )
        .map(|(i, l)| async move {
            l.cycles += 1;
            let (tenant, cycle) = (l.controller.tenant().name.clone(), l.cycles);
            let mut lines = |line: printer::Line| {
                line.print(&[("tenant", tenant.as_str().into()), ("cycle", cycle.into())]);
            };
            let outcome = l.controller.cycle(stop_ref, &mut lines).await;
            report_cycle(
                &tenant,
                Some(cycle),
                l.mode,
                l.controller.outside_window(),
                &outcome,
            );
            (i, outcome)
        })
        .buffer_unordered(usize::from(args.target.source.concurrency))
        .collect()
        .await;
        for (i, outcome) in outcomes {
            let l = &mut looping[i];
            deliver(
                notifier.as_ref(),
                &metrics,
                &args.state_dir,
                l.controller.alert(&outcome, link.clone()),
            )
            .await;
            let wait = if outcome.succeeded() {
                l.failures = 0;
                l.succeeded_once = true;
                args.interval
            } else {
                l.failures += 1;
                crate::controller::retry_delay(args.retry_interval, l.failures, args.interval)
            };
            l.next = Instant::now() + wait;
        }
        if looping.iter().all(|l| l.succeeded_once) {
            health.ready.store(true, Ordering::SeqCst);
        }
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let earliest = looping.iter().map(|l| l.next).min();
        let sleep = async {
            match earliest {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = sleep => {}
            Some(()) = changes.recv() => {
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(DEBOUNCE) => break,
                        Some(()) = changes.recv() => {}
                        _ = stopped.notified() => break,
                    }
                }
                let now = Instant::now();
                looping.iter_mut().for_each(|l| l.next = now);
            }
            _ = stopped.notified() => break,
        }
        if stop.load(Ordering::SeqCst) {
            break;
        }
    }
    printer::status("mfactl reconcile: stopped");
    Ok(ExitCode::Success)
}

/// `mfactl reconcile --once --all-tenants | --shard I/N`.
pub(super) async fn reconcile_once(args: &ReconcileArgs, env: Env) -> Result<ExitCode, RunError> {
    if !args.once {
        return reconcile_loop(args, env).await;
    }
    let (settings, tenants) = select(&args.target.source, args.target.sandbox, &env)?;
    let metrics = std::sync::Arc::new(Metrics::default());
    let providers = notify::providers(&settings.notifications, &env)?;
    let remind_after = args.remind_after.or(settings.notifications.remind_after);
    let notifier = if providers.is_empty() {
        None
    } else {
        Some(Notifier::new(providers)?.with_remind_after(remind_after))
    };
    let link = notify::run_link(&env);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let shared = Shared::new(&tenants, false)?;
    let (env, stop, metrics_ref, shared) = (&env, &stop, &metrics, &shared);
    let audit_log = &settings.audit_log;
    let cycles = futures_util::stream::iter(&tenants)
        .map(|t| async move {
            let mode = args.mode.unwrap_or(t.control.mode);
            if t.control.suspend {
                printer::status(&format!(
                    "{}: suspended (`suspend: true` in the configuration); skipped, nothing read or changed",
                    t.name
                ));
                return None;
            }
            let mut controller = Controller::new(
                t.clone(),
                env.clone(),
                mode,
                audit_log.clone(),
                std::sync::Arc::clone(metrics_ref),
            )
            .with_allowance(args.allow.allowance());
            if let Some(http) = shared.http.get(&t.ca_file) {
                controller = controller.with_http(http.clone());
            }
            let mut lines = |l: printer::Line| l.print(&[("tenant", t.name.as_str().into())]);
            let outcome = controller.cycle(stop, &mut lines).await;
            report_cycle(&t.name, None, mode, controller.outside_window(), &outcome);
            Some((controller, outcome))
        })
        .buffered(usize::from(args.target.source.concurrency))
        .collect::<Vec<_>>()
        .await;
    let mut codes = Vec::with_capacity(cycles.len());
    let mut applied = 0;
    for (controller, outcome) in cycles.into_iter().flatten() {
        deliver(
            notifier.as_ref(),
            &metrics,
            &args.state_dir,
            controller.alert(&outcome, link.clone()),
        )
        .await;
        applied += usize::from(matches!(
            outcome,
            crate::controller::CycleOutcome::Applied(_)
        ));
        codes.push(once_exit(outcome).map_err(|e| clone_code(&e)));
    }
    summary(&codes, Some(applied));
    combined(&codes)
}

/// Plans and applies one tenant of a several-tenant `apply`, and says in one line what
/// happened; the plan itself is not printed (`plan --all-tenants` shows it). `true` when
/// the tenant was changed, `false` when it was in sync; `report` gets what was applied,
/// failed and not attempted, once something was planned.
async fn apply_one(
    tenant: &TenantSettings,
    env: &Env,
    args: &ApplyArgs,
    audit_log: &std::path::Path,
    shared: &Shared,
    report: &mut Option<Value>,
) -> Result<bool, RunError> {
    let set = shared.set(tenant)?;
    let client = shared.client(tenant, env)?;
    let plan = live::compute(&client, tenant, &set, &Progress::hidden()).await?;
    if plan.in_sync {
        *report = Some(applied::in_sync(&plan));
        printer::status(&format!("{}: in sync", tenant.name));
        return Ok(false);
    }
    if let Some(max) = args.max_changes
        && plan.property_count() > max
    {
        return Err(super::apply::max_changes_refusal(&plan, max));
    }
    guard(&plan, args.allow.allowance())?;
    let keys = SeedKeys::for_changes(tenant.hardware_oath_seed.as_ref(), &plan.changes)
        .map_err(|e| RunError::Planning(PlanningError::Seed(e)))?;
    let mut audit = AuditLog::open(audit_log, &tenant.policies)?;
    let stop = std::sync::atomic::AtomicBool::new(false);
    let outcome = apply::apply(
        &client,
        &plan,
        &keys,
        &mut audit,
        &stop,
        &Progress::hidden(),
    )
    .await?;
    apply::migration::report(&plan.tenant, &outcome);
    if outcome.incomplete() {
        *report = Some(applied::tenant(&plan, &outcome, None));
        return Err(incomplete(outcome, Some(&tenant.name)));
    }
    let missing = apply::verify(&client, &plan, &outcome).await?;
    *report = Some(applied::tenant(&plan, &outcome, Some(&missing)));
    if !missing.is_empty() {
        return Err(RunError::NotConverged(missing.join(", ")));
    }
    printer::status(&format!(
        "{}: applied {}; re-read and verified",
        tenant.name,
        plan.extent()
    ));
    Ok(true)
}

/// `mfactl apply --yes --all-tenants | --shard I/N`: each tenant planned, checked by the same
/// guards, applied and verified, `--concurrency` at a time.
pub(super) async fn apply(args: &ApplyArgs, env: Env) -> Result<ExitCode, RunError> {
    if args.plan_file.is_some() {
        return Err(RunError::Usage(
            "a saved plan is one tenant's and names it: apply it without --all-tenants or --shard"
                .into(),
        ));
    }
    if !args.yes {
        return Err(RunError::Usage(
            "applying to several tenants asks no questions: pass --yes".into(),
        ));
    }
    let (settings, tenants) = select(&args.target.source, args.target.sandbox, &env)?;
    let shared = Shared::new(&tenants, true)?;
    let (env, audit_log, shared) = (&env, settings.audit_log.as_path(), &shared);
    let results: Vec<(Result<bool, RunError>, Value)> = futures_util::stream::iter(&tenants)
        .map(|t| async move {
            let mut report = None;
            let result = apply_one(t, env, args, audit_log, shared, &mut report).await;
            let mut entry = json!({"tenant": t.name});
            if let Some(report) = report {
                entry["apply"] = report;
            }
            if let Err(e) = &result {
                printer::event(
                    printer::Level::Error,
                    &format!("{}: error: {e}", t.name),
                    &[("tenant", t.name.as_str().into())],
                );
                entry["error"] = json!(e.to_string());
            }
            (result.map_err(|e| clone_code(&e)), entry)
        })
        .buffered(usize::from(args.target.source.concurrency))
        .collect()
        .await;
    let (results, entries): (Vec<_>, Vec<_>) = results.into_iter().unzip();
    let applied = results.iter().filter(|r| matches!(r, Ok(true))).count();
    let codes: Vec<Result<ExitCode, RunError>> = results
        .into_iter()
        .map(|r| r.map(|_| ExitCode::Success))
        .collect();
    if args.output == ApplyFormat::Json {
        let out = json!({"formatVersion": FORMAT_VERSION, "tenants": Value::Array(entries)});
        printer::data(&applied::text(&out));
    }
    summary(&codes, Some(applied));
    combined(&codes)
}
