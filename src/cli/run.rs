//! The verbs: settings → load and validate → read → plan → render → apply → verify. Every
//! stage before the first PATCH can stop the run, and nothing is sent until the policy is
//! valid and every name resolves.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use crate::apply::{self, AuditError, AuditLog};
use crate::cli::exit::ExitCode;
use crate::config::{self, ConfigError, Env, NotificationSettings, TenantSettings};
use crate::graph::{GraphClient, GraphError};
use crate::plan::live::{self, PlanningError};
use crate::plan::{self, FORMAT_VERSION, Plan};
use crate::policy::{self, PolicySet, Severity};
use crate::printer::{Level, Progress};
use crate::report::{self, Format};
use crate::{printer, sandbox};

mod fleet;

use super::{
    ApplyArgs, ExplainArgs, NotifyCommand, PlanArgs, ReconcileArgs, TargetArgs, ValidateArgs,
};
use crate::controller::{self, Controller, CycleError, CycleOutcome, Metrics, Mode};
use crate::notify::{self, Notifier};

/// Why a verb failed. Each variant maps to one exit code in `crate::exit`.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// mfactl.yaml or the environment is not usable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The policy files have errors (already printed as diagnostics); nothing was sent.
    #[error("{0} error(s) in the policy files; nothing was sent")]
    InvalidPolicy(usize),
    /// No plan could be made (read failure, unresolved target, declaration that does not fit
    /// the tenant); nothing was sent.
    #[error(transparent)]
    Planning(#[from] PlanningError),
    /// Names in targets do not resolve in the tenant (already printed as MFA038
    /// diagnostics); nothing was sent.
    #[error(
        "{0} target name(s) do not resolve in the tenant to exactly one object; nothing was sent"
    )]
    UnresolvedNames(usize),
    /// Graph or the token endpoint failed.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// The audit log cannot be written; nothing was sent.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// The sandbox emulator could not start.
    #[error("cannot start the sandbox: {0}")]
    Sandbox(#[from] crate::sandbox::EmulatorError),
    /// A saved plan could not be read.
    #[error("cannot read the plan {path}: {reason}")]
    PlanFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// A safety guard refused to apply (no confirmation, too many changes, stale plan).
    #[error("refused: {0}")]
    Refused(String),
    /// Some changes were applied and some were not (each listed above).
    #[error(
        "partial apply: {applied} change(s) applied, {failed} not applied; the next run converges from here"
    )]
    Partial {
        /// Resources changed.
        applied: usize,
        /// Resources not changed.
        failed: usize,
        /// The error that stopped the run; none when a stop was requested.
        #[source]
        cause: Option<GraphError>,
    },
    /// Alerts cannot be set up, or their state cannot be kept.
    #[error(transparent)]
    Notify(#[from] notify::NotifyError),
    /// Some alerts could not be delivered.
    #[error("{0} alert(s) could not be delivered")]
    AlertsFailed(usize),
    /// No alert provider is configured.
    #[error(
        "no alert provider is configured: add `notifications:` to mfactl.yaml, or set \
         MFACTL_TEAMS_WEBHOOK, MFACTL_SLACK_WEBHOOK or MFACTL_WEBHOOK_URL"
    )]
    NoAlertProvider,
    /// A reconcile cycle failed.
    #[error(transparent)]
    Cycle(#[from] CycleError),
    /// The policy files cannot be watched, or the health endpoint cannot listen.
    #[error("cannot start the controller: {0}")]
    Controller(String),
    /// A stop was requested before any change was sent.
    #[error("interrupted before any change was sent")]
    Interrupted,
    /// A tenant of a several-tenant run failed (each failure is reported as it happens); the
    /// run exits with the first failed tenant's code.
    #[error("{message}")]
    Tenant {
        /// The tenant's exit code.
        code: ExitCode,
        /// What went wrong.
        message: String,
    },
    /// The flags ask for something this verb cannot do.
    #[error("{0}")]
    Usage(String),
    /// `explain --user` names a user the registration-details report does not have.
    #[error("no user '{0}' in the registration-details report (unknown, or a disabled account)")]
    NoSuchUser(String),
    /// The tenant was changed but does not show the declared values on re-read.
    #[error("applied, but the tenant did not converge: {0}")]
    NotConverged(String),
}

/// Where a verb runs: a configured tenant, or the sandbox (kept alive while in use).
struct Target {
    tenant: TenantSettings,
    env: Env,
    audit_log: PathBuf,
    /// `notifications:` from mfactl.yaml (empty in environment mode and the sandbox).
    notifications: NotificationSettings,
    _sandbox: Option<crate::sandbox::RunningEmulator>,
}

async fn target(args: &TargetArgs, env: Env) -> Result<Target, RunError> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let source = &args.source;
    if args.sandbox {
        let policies = if source.policies.is_empty() {
            vec![cwd.join("policies")]
        } else {
            source.policies.clone()
        };
        let sb = sandbox::start(policies).await?;
        printer::status(&format!(
            "sandbox: demo tenant {} on an in-process emulator at {} (each run starts from the same drifted tenant)",
            sb.tenant.tenant_id, sb.tenant.graph_url
        ));
        return Ok(Target {
            tenant: sb.tenant,
            env: sb.env,
            // MFACTL_AUDIT_LOG as for a real tenant; else the temp dir, not the current one.
            audit_log: env.get(config::ENV_AUDIT_LOG).map_or_else(
                || std::env::temp_dir().join("mfactl-sandbox-audit.jsonl"),
                |p| cwd.join(p),
            ),
            notifications: NotificationSettings::default(),
            _sandbox: Some(sb.emulator),
        });
    }
    let settings = config::resolve(source.config.as_deref(), &env, &cwd)?;
    let mut tenant = settings.tenant(source.tenant.as_deref())?.clone();
    if !source.policies.is_empty() {
        tenant.policies = source.policies.clone();
    }
    Ok(Target {
        tenant,
        env,
        audit_log: settings.audit_log.clone(),
        notifications: settings.notifications.clone(),
        _sandbox: None,
    })
}

/// Loads and validates the policies (never `config_file` among them), printing every
/// diagnostic.
fn load(paths: &[PathBuf], config_file: Option<&Path>) -> Result<PolicySet, RunError> {
    let excluded: Vec<PathBuf> = config_file.map(Path::to_path_buf).into_iter().collect();
    let outcome = policy::load_excluding(paths, &excluded);
    print_diagnostics(&outcome.diagnostics);
    if let Some(note) = outcome.silenced_note() {
        printer::status(&note);
    }
    let errors = outcome
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    match outcome.set {
        Some(set) if errors == 0 => Ok(set),
        _ => Err(RunError::InvalidPolicy(errors.max(1))),
    }
}

/// Prints diagnostics one a line (two with a help), paths under the working directory
/// relative to it, as people typed them.
fn print_diagnostics(diagnostics: &[policy::Diagnostic]) {
    // Paths under the working directory are shown relative to it, as people typed them.
    let cwd = cwd_prefix();
    for d in diagnostics {
        let text = d.to_string();
        let shown = text.strip_prefix(cwd.as_str()).unwrap_or(&text).to_string();
        d.line(shown).print(&[]);
    }
}

/// A planning error as a single-tenant verb reports it: names that do not resolve are
/// printed as MFA038 diagnostics, in `validate`'s format, and counted in the error.
fn planning_error(e: PlanningError) -> RunError {
    match e {
        PlanningError::Unresolved { diagnostics } => {
            print_diagnostics(&diagnostics);
            RunError::UnresolvedNames(diagnostics.len())
        }
        other => RunError::Planning(other),
    }
}

/// `mfactl validate`: offline checks only.
pub async fn validate(args: ValidateArgs, env: Env) -> Result<ExitCode, RunError> {
    let source = &args.source;
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let (paths, config_file) = match config::resolve(source.config.as_deref(), &env, &cwd) {
        Ok(settings) => {
            let tenant = settings.tenant(source.tenant.as_deref())?;
            (tenant.policies.clone(), tenant.config_file.clone())
        }
        // Offline with no configuration at all: the policies beside the working directory.
        // A configuration file that exists but is refused is an error, not a fallback.
        Err(_)
            if source.config.is_none()
                && env.get(config::ENV_CONFIG).is_none()
                && !cwd.join(config::DEFAULT_CONFIG_FILE).exists() =>
        {
            (vec![cwd.join("policies")], None)
        }
        Err(e) => return Err(e.into()),
    };
    let paths = if source.policies.is_empty() {
        paths
    } else {
        source.policies.clone()
    };
    let set = load(&paths, config_file.as_deref())?;
    printer::status(&format!("{} policy file(s) are valid.", set.files.len()));
    Ok(ExitCode::Success)
}

/// Whether a plan on stdout is coloured (`--color`, `NO_COLOR`, `TERM`, a terminal).
fn colour() -> bool {
    printer::colour(printer::Stream::Stdout)
}

fn write_file(path: &Path, text: &str) -> Result<(), RunError> {
    std::fs::write(path, text).map_err(|source| RunError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// `mfactl plan`: exit 0 in sync, 1 drift.
pub async fn plan(args: PlanArgs, env: Env) -> Result<ExitCode, RunError> {
    if args.target.source.many() {
        return fleet::plan(&args, env).await;
    }
    let target = target(&args.target, env).await?;
    // Validate before any network I/O.
    let set = load(
        &target.tenant.policies,
        target.tenant.config_file.as_deref(),
    )?;
    let client = GraphClient::connect(&target.tenant, &target.env)?;
    let plan = live::compute(&client, &target.tenant.name, &set, &Progress::stderr())
        .await
        .map_err(planning_error)?;
    printer::data(&report::render(&plan, args.output, colour()));
    if let Some(out) = &args.out {
        write_file(out, &report::json(&plan))?;
    }
    Ok(if plan.in_sync {
        ExitCode::Success
    } else {
        ExitCode::Drift
    })
}

fn read_plan_file(path: &Path) -> Result<Plan, RunError> {
    let text = std::fs::read_to_string(path).map_err(|e| RunError::PlanFile {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let plan: Plan = serde_json::from_str(&text).map_err(|e| RunError::PlanFile {
        path: path.to_path_buf(),
        reason: format!("not an mfactl plan: {e}"),
    })?;
    if plan.format_version != FORMAT_VERSION {
        return Err(RunError::PlanFile {
            path: path.to_path_buf(),
            reason: format!(
                "formatVersion {} is not {FORMAT_VERSION}",
                plan.format_version
            ),
        });
    }
    Ok(plan)
}

fn confirm(plan: &Plan, yes: bool) -> Result<(), RunError> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(RunError::Refused(
            "standard input is not a terminal, so nobody can confirm; pass --yes to apply without asking".into(),
        ));
    }
    let answer = printer::ask(&format!(
        "Apply {} change(s) to tenant {}? [y/N] ",
        plan.property_count(),
        plan.tenant
    ));
    if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        Ok(())
    } else {
        Err(RunError::Refused("not confirmed".into()))
    }
}

/// Sets `stop` on the first SIGINT or SIGTERM. Installing the handlers replaces the default
/// action (ending the process), so a PATCH in flight always gets its answer.
async fn stop_on_signal(stop: std::sync::Arc<std::sync::atomic::AtomicBool>) {
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
    let terminated = async {
        match term {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminated => {}
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// `mfactl apply [PLANFILE]`.
pub async fn apply(args: ApplyArgs, env: Env) -> Result<ExitCode, RunError> {
    if args.target.source.many() {
        return fleet::apply(&args, env).await;
    }
    let target = target(&args.target, env).await?;
    let (plan, client) = match args.plan_file.as_deref() {
        Some(path) => {
            let saved = read_plan_file(path)?;
            if saved.tenant != target.tenant.name {
                return Err(RunError::Refused(format!(
                    "the plan is for tenant {}, not {}",
                    saved.tenant, target.tenant.name
                )));
            }
            let client = GraphClient::connect(&target.tenant, &target.env)?;
            let live = live::read(
                &client,
                saved.reads_policy(),
                saved.reads_security_defaults(),
            )
            .await?;
            if plan::fingerprint(&live) != saved.fingerprint
                || apply::stale_users(&client, &saved.user_changes).await? > 0
            {
                return Err(RunError::Refused(
                    "the tenant changed since this plan was made; run plan again".into(),
                ));
            }
            (saved, client)
        }
        None => {
            let set = load(
                &target.tenant.policies,
                target.tenant.config_file.as_deref(),
            )?;
            let client = GraphClient::connect(&target.tenant, &target.env)?;
            (
                live::compute(&client, &target.tenant.name, &set, &Progress::stderr())
                    .await
                    .map_err(planning_error)?,
                client,
            )
        }
    };
    if plan.in_sync {
        printer::data(&report::render(&plan, Format::Human, colour()));
        return Ok(ExitCode::Success);
    }
    printer::status(report::human(&plan, false).trim_end());
    if let Some(max) = args.max_changes
        && plan.property_count() > max
    {
        return Err(RunError::Refused(format!(
            "the plan has {} changes, more than --max-changes {max}",
            plan.property_count()
        )));
    }
    lockout_guard(&plan, args.allow_lockout)?;
    confirm(&plan, args.yes)?;
    let mut audit = AuditLog::open(&target.audit_log, &target.tenant.policies)?;
    // From here on SIGINT and SIGTERM stop the run between two PATCHes, never inside one.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = tokio::spawn(stop_on_signal(std::sync::Arc::clone(&stop)));
    printer::status(&format!(
        "applying {} change(s)…",
        plan.changes.len() + plan.user_changes.len()
    ));
    let progress = Progress::stderr();
    let outcome = apply::apply(&client, &plan, &mut audit, &stop, &progress).await?;
    watcher.abort();
    for c in &outcome.applied {
        printer::event(
            Level::Info,
            &format!("applied      {}", c.resource),
            &[("resource", c.resource.as_str().into())],
        );
    }
    if !outcome.users_applied.is_empty() {
        printer::status(&format!(
            "applied      {} per-user change(s)",
            printer::thousands(outcome.users_applied.len() as u64)
        ));
    }
    if outcome.incomplete() {
        return Err(incomplete(outcome));
    }
    let after = live::read(&client, plan.reads_policy(), plan.reads_security_defaults()).await?;
    let mut missing = apply::unconverged(&outcome.applied, &after);
    missing.extend(apply::unconverged_users(&client, &outcome.users_applied).await?);
    if !missing.is_empty() {
        return Err(RunError::NotConverged(missing.join(", ")));
    }
    printer::data(&format!(
        "Applied {} change(s) to tenant {}; re-read and verified: the tenant matches the declared policy.\n",
        plan.property_count(),
        plan.tenant
    ));
    Ok(ExitCode::Success)
}

/// Reports what an interrupted or failed apply left undone, and the error it ends with.
fn incomplete(outcome: apply::ApplyOutcome) -> RunError {
    const SHOWN: usize = 20;
    if outcome.interrupted {
        printer::status(
            "stopping: a stop was requested; the changes in flight finished, nothing after them was sent",
        );
    }
    if let Some((change, cause)) = &outcome.failed {
        printer::event(
            Level::Error,
            &format!("failed       {}: {cause}", change.resource),
            &[("resource", change.resource.as_str().into())],
        );
    }
    for (change, cause) in outcome.users_failed.iter().take(SHOWN) {
        let resource = apply::user_resource(change);
        printer::event(
            Level::Error,
            &format!("failed       {resource}: {cause}"),
            &[("resource", resource.into())],
        );
    }
    if outcome.users_failed.len() > SHOWN {
        printer::status(&format!(
            "failed       … and {} more per-user change(s)",
            outcome.users_failed.len() - SHOWN
        ));
    }
    for c in &outcome.not_attempted {
        printer::event(
            Level::Warn,
            &format!("not applied  {}", c.resource),
            &[("resource", c.resource.as_str().into())],
        );
    }
    if outcome.users_not_attempted > 0 {
        printer::status(&format!(
            "not applied  {} per-user change(s)",
            printer::thousands(outcome.users_not_attempted as u64)
        ));
    }
    let (applied, unapplied) = (outcome.applied_count(), outcome.unapplied_count());
    let cause = outcome
        .failed
        .map(|(_, e)| e)
        .or_else(|| outcome.users_failed.into_iter().next().map(|(_, e)| e));
    match (applied, cause) {
        (0, Some(e)) => e.into(),
        (0, None) => RunError::Interrupted,
        (applied, cause) => RunError::Partial {
            applied,
            failed: unapplied,
            cause,
        },
    }
}

/// Refuses (exit 7) a plan that leaves more users than `allowed` with no usable method.
fn lockout_guard(plan: &Plan, allowed: usize) -> Result<(), RunError> {
    let Some(impact) = &plan.impact else {
        return Ok(());
    };
    let n = impact.newly_without.len();
    if n <= allowed {
        return Ok(());
    }
    let named: Vec<&str> = impact
        .newly_without
        .iter()
        .take(5)
        .map(|u| u.user_principal_name.as_str())
        .collect();
    Err(RunError::Refused(format!(
        "the plan leaves {n} user(s) with no usable MFA method ({}{}); fix the policy, or pass --allow-lockout {n} if this is intended",
        named.join(", "),
        if n > named.len() { ", …" } else { "" }
    )))
}

/// `mfactl explain`: who will be prompted with which method.
pub async fn explain(args: ExplainArgs, env: Env) -> Result<ExitCode, RunError> {
    let target = target(&args.target, env).await?;
    let set = if args.live {
        PolicySet::default()
    } else {
        load(
            &target.tenant.policies,
            target.tenant.config_file.as_deref(),
        )?
    };
    let client = GraphClient::connect(&target.tenant, &target.env)?;
    let scope = match &args.user {
        Some(upn) => live::ExplainScope::User(upn.clone()),
        None => live::ExplainScope::All,
    };
    let computed = live::compute_full(
        &client,
        &target.tenant.name,
        &set,
        &Progress::stderr(),
        Some(scope),
    )
    .await
    .map_err(planning_error)?;
    let Some(inputs) = computed.simulation else {
        return Err(RunError::Refused(
            "the authentication methods policy could not be read".into(),
        ));
    };
    let (policy, state, basis) = if args.live {
        (&inputs.before, inputs.directory.state(), "live tenant")
    } else {
        (
            &inputs.after,
            inputs.after_state.as_slice(),
            "declared policy, as it will be once applied",
        )
    };
    let sim = crate::simulate::explain::Simulation {
        policy,
        directory: &inputs.directory,
    };
    let format = args.output;
    match &args.user {
        Some(upn) => {
            let index = (0..inputs.directory.users().len())
                .find(|&i| inputs.directory.users()[i].upn.eq_ignore_ascii_case(upn))
                .ok_or_else(|| RunError::NoSuchUser(upn.clone()))?;
            let st = state.get(index).copied().unwrap_or_default();
            printer::data_stream(|out| {
                report::explain::write_user(out, format, &sim, index as u32, &st)
            });
        }
        None => printer::data_stream(|out| {
            report::explain::write_all(out, format, &target.tenant.name, basis, &sim, state)
        }),
    }
    Ok(ExitCode::Success)
}

/// The exit of `reconcile --once`: the codes of plan (observe) or apply (enforce).
fn once_exit(outcome: CycleOutcome) -> Result<ExitCode, RunError> {
    match outcome {
        CycleOutcome::InSync | CycleOutcome::Applied(_) => Ok(ExitCode::Success),
        CycleOutcome::Observed(_) => Ok(ExitCode::Drift),
        CycleOutcome::Partial { applied, error, .. } => Err(RunError::Partial {
            applied,
            failed: 1,
            cause: error,
        }),
        CycleOutcome::Invalid { errors } => Err(RunError::InvalidPolicy(errors)),
        CycleOutcome::Failed(e) => Err(e.into()),
    }
}

/// Sends an alert to every provider (deduplicated through `state_dir`), counting each
/// delivery in the metrics and reporting failures on stderr.
async fn deliver(
    notifier: Option<&Notifier>,
    metrics: &Metrics,
    state_dir: &Path,
    alert: notify::DriftAlert,
) {
    let Some(notifier) = notifier else { return };
    match notifier
        .notify(&alert, state_dir, std::time::SystemTime::now())
        .await
    {
        Ok(outcome) => {
            for d in &outcome.deliveries {
                if let Some(result) = &d.result {
                    metrics.record_alert(d.kind.as_str(), result.is_ok());
                    if let Err(e) = result {
                        printer::event(
                            Level::Error,
                            &format!("alert to {} not delivered: {e}", d.provider),
                            &[
                                ("tenant", alert.tenant.as_str().into()),
                                ("provider", d.provider.to_string().into()),
                            ],
                        );
                    }
                }
            }
        }
        Err(e) => printer::event(
            Level::Error,
            &format!("alerts: {e}"),
            &[("tenant", alert.tenant.as_str().into())],
        ),
    }
}

/// One line on stderr about a finished cycle: its tenant and (in the long-running loop) its
/// number as fields, and the resources it found drifted, applied or failed on.
fn report_cycle(
    tenant: &str,
    cycle: Option<u64>,
    mode: Mode,
    outside_window: bool,
    outcome: &CycleOutcome,
) {
    let resources = |plan: &Plan| {
        serde_json::Value::from(
            plan.changes
                .iter()
                .map(|c| c.resource.clone())
                .collect::<Vec<_>>(),
        )
    };
    let mut fields: Vec<(&str, serde_json::Value)> = vec![("tenant", tenant.into())];
    if let Some(n) = cycle {
        fields.push(("cycle", n.into()));
    }
    fields.push(("mode", mode.to_string().into()));
    let (level, line) = match outcome {
        CycleOutcome::InSync => (Level::Info, format!("{tenant}: in sync")),
        CycleOutcome::Observed(plan) => {
            fields.push(("resources", resources(plan)));
            (
                Level::Warn,
                format!(
                    "{tenant}: drift in {} propert{} ({}); {}, nothing changed",
                    plan.property_count(),
                    if plan.property_count() == 1 {
                        "y"
                    } else {
                        "ies"
                    },
                    plan.changes
                        .iter()
                        .map(|c| c.resource.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    if outside_window {
                        "enforce mode but outside the change windows"
                    } else {
                        "observe mode"
                    }
                ),
            )
        }
        CycleOutcome::Applied(plan) => {
            fields.push(("resources", resources(plan)));
            (
                Level::Info,
                format!(
                    "{tenant}: applied {} change(s); re-read and verified",
                    plan.property_count()
                ),
            )
        }
        CycleOutcome::Partial {
            plan,
            applied,
            error,
        } => {
            fields.push(("resources", resources(plan)));
            (
                Level::Error,
                format!(
                    "{tenant}: partial apply, {applied} resource(s) changed before: {}",
                    controller::partial_failure(error.as_ref()).error
                ),
            )
        }
        CycleOutcome::Invalid { errors } => (
            Level::Error,
            format!(
                "{tenant}: {errors} error(s) in the policy files and no earlier valid declaration; nothing sent"
            ),
        ),
        CycleOutcome::Failed(e) => (
            Level::Error,
            format!("{tenant}: reconcile failed ({mode}): {e}"),
        ),
    };
    printer::event(level, &line, &fields);
}

/// `mfactl reconcile [--once]`.
pub async fn reconcile(args: ReconcileArgs, env: Env) -> Result<ExitCode, RunError> {
    if args.target.source.many() {
        return fleet::reconcile_once(&args, env).await;
    }
    let target = target(&args.target, env).await?;
    let metrics = std::sync::Arc::new(Metrics::default());
    let name = target.tenant.name.clone();
    let mode = args.mode.unwrap_or(target.tenant.control.mode);
    let suspended = target.tenant.control.suspend;
    let mut controller = Controller::new(
        target.tenant.clone(),
        target.env.clone(),
        mode,
        target.audit_log.clone(),
        std::sync::Arc::clone(&metrics),
    );
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // The loop's cycle number, shown as a field of every line a cycle prints.
    let cycle = std::cell::Cell::new(0u64);
    let mut lines = |mut l: printer::Line| {
        if let Some(shown) = l.message.strip_prefix(&cwd_prefix()) {
            l.message = shown.to_string();
        }
        l.print(&[
            ("tenant", name.as_str().into()),
            ("cycle", cycle.get().into()),
        ]);
    };
    let suspended_line = || {
        printer::status(&format!(
            "{name}: suspended (`suspend: true` in the configuration); skipped, nothing read or changed"
        ));
    };
    if suspended && args.once {
        suspended_line();
        return Ok(ExitCode::Success);
    }
    let providers = notify::providers(&target.notifications, &target.env)?;
    let remind_after = args.remind_after.or(target.notifications.remind_after);
    let notifier = if providers.is_empty() {
        None
    } else {
        Some(Notifier::new(providers)?.with_remind_after(remind_after))
    };
    let link = notify::run_link(&target.env);
    let alert = |controller: &Controller, outcome: &CycleOutcome| {
        deliver(
            notifier.as_ref(),
            &metrics,
            &args.state_dir,
            controller.alert(outcome, link.clone()),
        )
    };
    if args.once {
        let outcome = controller.cycle(&stop, &mut lines).await;
        report_cycle(&name, None, mode, controller.outside_window(), &outcome);
        alert(&controller, &outcome).await;
        if let Some(plan) = outcome.plan() {
            printer::data(&report::render(plan, Format::Human, colour()));
        }
        return once_exit(outcome);
    }
    let health = std::sync::Arc::new(controller::serve::Health {
        metrics: std::sync::Arc::clone(&metrics),
        ready: std::sync::atomic::AtomicBool::new(false),
    });
    let bound = controller::serve::serve(args.listen, std::sync::Arc::clone(&health))
        .await
        .map_err(|e| RunError::Controller(format!("cannot listen on {}: {e}", args.listen)))?;
    let (_watcher, mut changes) = controller::watch::watch(controller::watch::Watched {
        roots: controller.policy_paths().to_vec(),
        config: target.tenant.config_file.clone(),
    })
    .map_err(|e| RunError::Controller(e.to_string()))?;
    let stopped = std::sync::Arc::new(tokio::sync::Notify::new());
    {
        let (stop, stopped) = (
            std::sync::Arc::clone(&stop),
            std::sync::Arc::clone(&stopped),
        );
        tokio::spawn(async move {
            stop_on_signal(std::sync::Arc::clone(&stop)).await;
            stopped.notify_one();
        });
    }
    if suspended {
        // Nothing to do until the configuration changes and mfactl restarts; keep serving
        // health so that a Deployment does not restart it in a loop.
        suspended_line();
        printer::status(&format!(
            "/healthz, /readyz, /metrics on http://{bound}; waiting for SIGTERM"
        ));
        health
            .ready
            .store(true, std::sync::atomic::Ordering::SeqCst);
        stopped.notified().await;
        printer::status("mfactl reconcile: stopped");
        return Ok(ExitCode::Success);
    }
    printer::status(&format!(
        "reconciling {name} ({mode}{}) on changes to the policy files and every {}s; /healthz, /readyz, /metrics on http://{bound}",
        if controller.tenant().control.change_windows.is_empty() {
            ""
        } else {
            ", enforcing only inside the change windows"
        },
        args.interval.as_secs()
    ));
    let mut failures = 0u32;
    loop {
        cycle.set(cycle.get() + 1);
        let outcome = controller.cycle(&stop, &mut lines).await;
        report_cycle(
            &name,
            Some(cycle.get()),
            mode,
            controller.outside_window(),
            &outcome,
        );
        alert(&controller, &outcome).await;
        let wait = if outcome.succeeded() {
            health
                .ready
                .store(true, std::sync::atomic::Ordering::SeqCst);
            failures = 0;
            args.interval
        } else {
            failures += 1;
            controller::retry_delay(args.retry_interval, failures, args.interval)
        };
        if stop.load(std::sync::atomic::Ordering::SeqCst) {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            Some(()) = changes.recv() => {
                // A burst of changes (a pull, a symlink swap) becomes one reconcile: wait
                // until the files have been quiet for a moment.
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(DEBOUNCE) => break,
                        Some(()) = changes.recv() => {}
                        _ = stopped.notified() => break,
                    }
                }
            }
            _ = stopped.notified() => break,
        }
        if stop.load(std::sync::atomic::Ordering::SeqCst) {
            break;
        }
    }
    printer::status("mfactl reconcile: stopped");
    Ok(ExitCode::Success)
}

/// How long the policy files must be quiet before a change triggers a reconcile.
const DEBOUNCE: std::time::Duration = std::time::Duration::from_millis(500);

/// The working directory with a trailing slash, to strip from paths shown to people.
fn cwd_prefix() -> String {
    std::env::current_dir()
        .map(|d| format!("{}/", d.display()))
        .unwrap_or_default()
}

/// `mfactl notify test`: a sample alert to every configured provider (mfactl.yaml's
/// `notifications:` and the `MFACTL_*` variables).
pub async fn notify_command(command: NotifyCommand, env: Env) -> Result<ExitCode, RunError> {
    match command {
        NotifyCommand::Test { config } => {
            let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
            let settings = match config::resolve(config.as_deref(), &env, &cwd) {
                Ok(settings) => settings.notifications,
                // No mfactl.yaml and no Azure variables: the MFACTL_* variables alone.
                Err(ConfigError::MissingEnvironment { .. }) => NotificationSettings::default(),
                Err(e) => return Err(e.into()),
            };
            let providers = notify::providers(&settings, &env)?;
            if providers.is_empty() {
                return Err(RunError::NoAlertProvider);
            }
            let outcome = Notifier::new(providers)?.send_test().await;
            for d in &outcome.deliveries {
                let (result, error) = match &d.result {
                    Some(Ok(_)) => ("sent", None),
                    Some(Err(e)) => ("not delivered", Some(e.to_string())),
                    None => ("nothing sent", None),
                };
                if printer::json() {
                    let mut line =
                        serde_json::json!({"provider": d.provider.to_string(), "result": result});
                    if let Some(e) = error {
                        line["error"] = e.into();
                    }
                    printer::data_line(&line.to_string());
                } else {
                    match error {
                        Some(e) => printer::data(&format!("{}: {result}: {e}\n", d.provider)),
                        None => printer::data(&format!("{}: {result}\n", d.provider)),
                    }
                }
            }
            match outcome.failed() {
                0 => Ok(ExitCode::Success),
                n => Err(RunError::AlertsFailed(n)),
            }
        }
    }
}
