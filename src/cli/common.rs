//! What several verbs share: the error they fail with, where they run (a configured tenant
//! or the sandbox), loading the policy files and printing their diagnostics, and the guards
//! and signal handling around an apply.

use std::path::{Path, PathBuf};

use crate::apply::{self, AuditError};
use crate::cli::exit::ExitCode;
use crate::config::{self, ConfigError, Env, NotificationSettings, TenantSettings};
use crate::controller::CycleError;
use crate::graph::GraphError;
use crate::notify;
use crate::plan::Plan;
use crate::plan::guard::Allowance;
use crate::plan::live::PlanningError;
use crate::plan::target::{self, ResourceTarget};
use crate::policy::{self, PolicySet, Severity};
use crate::printer::{self, Level};
use crate::sandbox;

use super::{TargetArgs, TenantArgs};

/// Why a verb failed. Each variant maps to one exit code in `crate::cli::exit`.
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
    /// Holders of declared hardware OATH tokens that the tenant would refuse, each printed
    /// as a diagnostic.
    #[error("{0} hardware OATH token holder problem(s) (MFA046–MFA048); nothing was sent")]
    TokenHolders(usize),
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
    /// Some resources were changed and some were not (each listed above).
    #[error(
        "partial apply: {applied} of {} resources changed (per-user ones included), {failed} not; the next run converges from here",
        applied + failed
    )]
    Partial {
        /// Resources changed, per-user ones included.
        applied: usize,
        /// Resources not changed (failed, or not attempted), per-user ones included.
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
    /// A Temporary Access Pass could not be issued or revoked.
    #[error(transparent)]
    Tap(#[from] crate::tap::TapError),
    /// A `tap issue --group` wave left members without a pass (each listed above).
    #[error("{missed} member(s) got no Temporary Access Pass ({issued} did)")]
    WaveIncomplete {
        /// Passes issued.
        issued: usize,
        /// Members without one.
        missed: usize,
    },
    /// The tenant was changed but does not show the declared values on re-read.
    #[error("applied, but the tenant did not converge: {0}")]
    NotConverged(String),
}

/// Where a verb runs: a configured tenant, or the sandbox (kept alive while in use).
pub(super) struct Target {
    pub(super) tenant: TenantSettings,
    pub(super) env: Env,
    pub(super) audit_log: PathBuf,
    /// `notifications:` from mfactl.yaml (empty in environment mode and the sandbox).
    pub(super) notifications: NotificationSettings,
    _sandbox: Option<crate::sandbox::RunningEmulator>,
}

pub(super) async fn target(args: &TargetArgs, env: Env) -> Result<Target, RunError> {
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
pub(super) fn load(paths: &[PathBuf], config_file: Option<&Path>) -> Result<PolicySet, RunError> {
    load_for(paths, config_file, None)
}

/// [`load`] for one of several tenants: `tenant` begins each line and is a field of it.
pub(super) fn load_for(
    paths: &[PathBuf],
    config_file: Option<&Path>,
    tenant: Option<&str>,
) -> Result<PolicySet, RunError> {
    let excluded: Vec<PathBuf> = config_file.map(Path::to_path_buf).into_iter().collect();
    let outcome = policy::load_excluding(paths, &excluded);
    print_diagnostics_for(&outcome.diagnostics, tenant);
    if let Some(note) = outcome.silenced_note() {
        printer::status(&tenant.map_or(note.clone(), |t| format!("{t}: {note}")));
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

/// The policy set narrowed to `targets` (unchanged without any), with Terraform's warning
/// that the plan may be incomplete. Pruning is off while targeting: what is not targeted is
/// not managed in this run.
pub(super) fn targeted(
    set: PolicySet,
    targets: &[ResourceTarget],
    tenant: &mut TenantSettings,
) -> Result<PolicySet, RunError> {
    if targets.is_empty() {
        return Ok(set);
    }
    let set = target::select(&set, targets).map_err(|e| RunError::Usage(e.to_string()))?;
    tenant.prune = false;
    printer::event(
        Level::Warn,
        "Resource targeting is in effect: this plan covers only the --target resources, so it \
         may be incomplete and not represent every change the policy files ask for (and \
         nothing is pruned). --target is not for routine use: it is for exceptional situations \
         such as recovering from errors or mistakes.",
        &[],
    );
    Ok(set)
}

/// Prints diagnostics one a line (two with a help), paths under the working directory
/// relative to it, as people typed them.
pub(super) fn print_diagnostics(diagnostics: &[policy::Diagnostic]) {
    print_diagnostics_for(diagnostics, None);
}

/// [`print_diagnostics`], each line beginning with `tenant` when one is given.
fn print_diagnostics_for(diagnostics: &[policy::Diagnostic], tenant: Option<&str>) {
    let cwd = cwd_prefix();
    let prefix = tenant.map(|t| format!("{t}: ")).unwrap_or_default();
    let context: Vec<(&str, serde_json::Value)> =
        tenant.map(|t| ("tenant", t.into())).into_iter().collect();
    for d in diagnostics {
        let text = d.to_string();
        let shown = text.strip_prefix(cwd.as_str()).unwrap_or(&text);
        d.line(format!("{prefix}{shown}")).print(&context);
    }
}

/// A planning error as a single-tenant verb reports it: names that do not resolve are
/// printed as MFA038 diagnostics, in `validate`'s format, and counted in the error.
pub(super) fn planning_error(e: PlanningError) -> RunError {
    match e {
        PlanningError::Unresolved { diagnostics } => {
            print_diagnostics(&diagnostics);
            RunError::UnresolvedNames(diagnostics.len())
        }
        PlanningError::Holders { diagnostics } => {
            print_diagnostics(&diagnostics);
            RunError::TokenHolders(diagnostics.len())
        }
        other => RunError::Planning(other),
    }
}

/// Whether a plan on stdout is coloured (`--color`, `NO_COLOR`, `TERM`, a terminal).
pub(super) fn colour() -> bool {
    printer::colour(printer::Stream::Stdout)
}

/// Sets `stop` on the first SIGINT or SIGTERM. Installing the handlers replaces the default
/// action (ending the process), so a PATCH in flight always gets its answer.
pub(super) async fn stop_on_signal(stop: std::sync::Arc<std::sync::atomic::AtomicBool>) {
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

/// Reports what an interrupted or failed apply left undone, and the error it ends with;
/// with several tenants, `tenant` begins each line and is a field of it.
pub(super) fn incomplete(outcome: apply::ApplyOutcome, tenant: Option<&str>) -> RunError {
    const SHOWN: usize = 20;
    let prefix = tenant.map(|t| format!("{t}: ")).unwrap_or_default();
    let line = |level: Level, text: String, resource: Option<&str>| {
        let mut fields: Vec<(&str, serde_json::Value)> = Vec::new();
        if let Some(t) = tenant {
            fields.push(("tenant", t.into()));
        }
        if let Some(r) = resource {
            fields.push(("resource", r.into()));
        }
        printer::event(level, &format!("{prefix}{text}"), &fields);
    };
    if outcome.interrupted {
        line(
            Level::Info,
            "stopping: a stop was requested; the changes in flight finished, nothing after them was sent".into(),
            None,
        );
    }
    for (change, cause) in outcome.failed.iter().take(SHOWN) {
        line(
            Level::Error,
            format!("failed       {}: {cause}", change.resource),
            Some(&change.resource),
        );
    }
    if outcome.failed.len() > SHOWN {
        line(
            Level::Info,
            format!(
                "failed       … and {}",
                printer::count(outcome.failed.len() - SHOWN, "more change", "more changes")
            ),
            None,
        );
    }
    for (change, cause) in outcome.users_failed.iter().take(SHOWN) {
        let resource = apply::user_resource(change);
        line(
            Level::Error,
            format!("failed       {resource}: {cause}"),
            Some(&resource),
        );
    }
    if outcome.users_failed.len() > SHOWN {
        line(
            Level::Info,
            format!(
                "failed       … and {} more",
                printer::count(
                    outcome.users_failed.len() - SHOWN,
                    "per-user resource",
                    "per-user resources"
                )
            ),
            None,
        );
    }
    for c in &outcome.not_attempted {
        line(
            Level::Warn,
            format!("not applied  {}", c.resource),
            Some(&c.resource),
        );
    }
    if outcome.users_not_attempted > 0 {
        line(
            Level::Info,
            format!(
                "not applied  {}",
                printer::count(
                    outcome.users_not_attempted,
                    "per-user resource",
                    "per-user resources"
                )
            ),
            None,
        );
    }
    let (applied, unapplied) = (outcome.applied_count(), outcome.unapplied_count());
    let cause = outcome
        .failed
        .into_iter()
        .next()
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

/// Refuses (exit 7) a plan that leaves more members unprotected or locks out more users
/// than allowed.
pub(super) fn guard(plan: &Plan, allow: Allowance) -> Result<(), RunError> {
    plan.refusal(allow)
        .map_or(Ok(()), |why| Err(RunError::Refused(why)))
}

/// The working directory with a trailing slash, to strip from paths shown to people.
pub(super) fn cwd_prefix() -> String {
    std::env::current_dir()
        .map(|d| format!("{}/", d.display()))
        .unwrap_or_default()
}

/// The configuration `args` names (`--config`, `MFACTL_CONFIG`, or the environment) and the
/// tenant of it `--tenant` chooses.
pub(super) fn configured_tenant(
    args: &TenantArgs,
    env: &Env,
) -> Result<(config::Settings, TenantSettings), RunError> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let settings = config::resolve(args.config.as_deref(), env, &cwd)?;
    let tenant = settings.tenant(args.tenant.as_deref())?.clone();
    Ok((settings, tenant))
}
