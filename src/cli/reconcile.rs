//! `mfactl reconcile [--once]` for one tenant, and what the several-tenant reconcile shares
//! with it: the exit of one cycle, alert delivery, the line about a finished cycle.

use std::path::Path;

use crate::cli::ReconcileArgs;
use crate::cli::exit::ExitCode;
use crate::config::Env;
use crate::controller::{self, Controller, CycleOutcome, Metrics, Mode};
use crate::notify::{self, Notifier};
use crate::plan::Plan;
use crate::printer::{self, Level};
use crate::report::{self, Format};

use super::common::{RunError, colour, cwd_prefix, stop_on_signal, target};
use super::fleet;

/// The exit of `reconcile --once`: the codes of plan (observe) or apply (enforce).
pub(super) fn once_exit(outcome: CycleOutcome) -> Result<ExitCode, RunError> {
    match outcome {
        CycleOutcome::InSync | CycleOutcome::Applied(_) => Ok(ExitCode::Success),
        CycleOutcome::Observed(_) => Ok(ExitCode::Drift),
        CycleOutcome::Partial {
            plan,
            applied,
            error,
        } => Err(RunError::Partial {
            applied,
            failed: (plan.changes.len() + plan.user_changes.len()).saturating_sub(applied),
            cause: error,
        }),
        CycleOutcome::Invalid { errors } => Err(RunError::InvalidPolicy(errors)),
        CycleOutcome::Failed(e) => Err(e.into()),
    }
}

/// Sends an alert to every provider (deduplicated through `state_dir`), counting each
/// delivery in the metrics and reporting failures on stderr.
pub(super) async fn deliver(
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
pub(super) fn report_cycle(
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
                    "{tenant}: drift, {} ({}); {}, nothing changed",
                    plan.extent(),
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
                format!("{tenant}: applied {}; re-read and verified", plan.extent()),
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
                    "{tenant}: partial apply, {applied} of {} resources changed (per-user ones included) before: {}",
                    plan.changes.len() + plan.user_changes.len(),
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
    )
    .with_allowance(args.allow.allowance());
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
        "reconciling {name} ({mode}{}) on changes to the policy files and every {}; /healthz, /readyz, /metrics on http://{bound}",
        if controller.tenant().control.change_windows.is_empty() {
            ""
        } else {
            ", enforcing only inside the change windows"
        },
        crate::config::format_duration(args.interval)
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
pub(super) const DEBOUNCE: std::time::Duration = std::time::Duration::from_millis(500);
