//! `mfactl apply [PLANFILE]`: the minimal PATCHes after the guards and a confirmation, then a
//! re-read to verify; a saved plan is refused if the tenant changed since.

use std::io::IsTerminal;
use std::path::Path;

use crate::apply::{self, AuditLog};
use crate::cli::ApplyArgs;
use crate::cli::exit::ExitCode;
use crate::config::Env;
use crate::graph::GraphClient;
use crate::kinds::hardware_oath::seed::SeedKeys;
use crate::plan::live::{self, PlanningError};
use crate::plan::{self, FORMAT_VERSION, Plan};
use crate::printer::{self, Level, Progress};
use crate::report::applied::{self, ApplyFormat};
use crate::report::{self, Format};

use super::common::{
    RunError, colour, guard, incomplete, load, planning_error, stop_on_signal, target, targeted,
};
use super::fleet;

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
        "Apply {} in tenant {}? [y/N] ",
        plan.extent(),
        plan.tenant
    ));
    if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        Ok(())
    } else {
        Err(RunError::Refused("not confirmed".into()))
    }
}

/// The refusal of a plan with more changes than `--max-changes`.
pub(super) fn max_changes_refusal(plan: &Plan, max: usize) -> RunError {
    RunError::Refused(format!(
        "the plan has {}, more than --max-changes {max}",
        printer::count(plan.property_count(), "change", "changes")
    ))
}

/// `mfactl apply [PLANFILE]`.
pub async fn apply(args: ApplyArgs, env: Env) -> Result<ExitCode, RunError> {
    if args.target.source.many() {
        if !args.targets.is_empty() {
            return Err(RunError::Usage(
                "--target applies one tenant's resources: use it with --tenant".into(),
            ));
        }
        return fleet::apply(&args, env).await;
    }
    // A saved plan names its tenant: that is the tenant, and --tenant may only agree.
    let saved = match args.plan_file.as_deref() {
        Some(path) => Some((path, read_plan_file(path)?)),
        None => None,
    };
    let mut target_args = args.target.clone();
    if let Some((path, saved)) = &saved
        && !target_args.sandbox
    {
        match &target_args.source.tenant {
            Some(named) if *named != saved.tenant => {
                return Err(RunError::Usage(format!(
                    "the plan {} was made for tenant {}, but --tenant names {named}: apply it without --tenant, or make a plan for {named}",
                    path.display(),
                    saved.tenant
                )));
            }
            _ => target_args.source.tenant = Some(saved.tenant.clone()),
        }
    }
    let mut target = target(&target_args, env).await?;
    let (plan, client) = match saved {
        Some((_, saved)) => {
            if saved.tenant != target.tenant.name {
                return Err(RunError::Refused(format!(
                    "the plan is for tenant {}, not {}",
                    saved.tenant, target.tenant.name
                )));
            }
            let client = GraphClient::connect(&target.tenant, &target.env)?;
            let live = live::read(&client, &saved.read_paths()).await?;
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
            let set = targeted(set, &args.targets, &mut target.tenant)?;
            let client = GraphClient::connect(&target.tenant, &target.env)?;
            (
                live::compute(&client, &target.tenant, &set, &Progress::stderr())
                    .await
                    .map_err(planning_error)?,
                client,
            )
        }
    };
    let json = args.output == ApplyFormat::Json;
    if plan.in_sync {
        if json {
            printer::data(&applied::text(&applied::in_sync(&plan)));
        } else {
            printer::data(&report::render(&plan, Format::Human, colour()));
        }
        return Ok(ExitCode::Success);
    }
    printer::status(report::human(&plan, false).trim_end());
    if let Some(max) = args.max_changes
        && plan.property_count() > max
    {
        return Err(max_changes_refusal(&plan, max));
    }
    guard(&plan, args.allow.allowance())?;
    let keys = SeedKeys::for_changes(target.tenant.hardware_oath_seed.as_ref(), &plan.changes)
        .map_err(|e| RunError::Planning(PlanningError::Seed(e)))?;
    confirm(&plan, args.yes)?;
    let mut audit = AuditLog::open(&target.audit_log, &target.tenant.policies)?;
    // From here on SIGINT and SIGTERM stop the run between two PATCHes, never inside one.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = tokio::spawn(stop_on_signal(std::sync::Arc::clone(&stop)));
    printer::status(&format!("applying {}…", plan.extent()));
    let progress = Progress::stderr();
    let outcome = apply::apply(&client, &plan, &keys, &mut audit, &stop, &progress).await?;
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
            "applied      {}",
            printer::count(
                outcome.users_applied.len(),
                "per-user resource",
                "per-user resources"
            )
        ));
    }
    apply::migration::report(&plan.tenant, &outcome);
    if outcome.incomplete() {
        if json {
            printer::data(&applied::text(&applied::tenant(&plan, &outcome, None)));
        }
        return Err(incomplete(outcome, None));
    }
    let missing = apply::verify(&client, &plan, &outcome).await?;
    if json {
        printer::data(&applied::text(&applied::tenant(
            &plan,
            &outcome,
            Some(&missing),
        )));
    }
    if !missing.is_empty() {
        return Err(RunError::NotConverged(missing.join(", ")));
    }
    let done = format!(
        "Tenant {}: applied {}; re-read and verified: the tenant matches the declared policy.\n",
        plan.tenant,
        plan.extent()
    );
    if json {
        printer::status(done.trim_end());
    } else {
        printer::data(&done);
    }
    Ok(ExitCode::Success)
}
