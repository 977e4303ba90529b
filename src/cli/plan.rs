//! `mfactl plan`: what would change in the tenant (exit 0 in sync, 1 drift), optionally saved
//! for `mfactl apply PLANFILE`.

use std::path::Path;

use crate::cli::PlanArgs;
use crate::cli::exit::ExitCode;
use crate::config::Env;
use crate::graph::GraphClient;
use crate::plan::live;
use crate::printer::{self, Progress};
use crate::report;

use super::common::{RunError, colour, load, planning_error, target, targeted};
use super::fleet;

fn write_file(path: &Path, text: &str) -> Result<(), RunError> {
    std::fs::write(path, text).map_err(|source| RunError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// `mfactl plan`: exit 0 in sync, 1 drift.
pub async fn plan(args: PlanArgs, env: Env) -> Result<ExitCode, RunError> {
    if args.target.source.many() {
        if !args.targets.is_empty() {
            return Err(RunError::Usage(
                "--target plans one tenant's resources: use it with --tenant".into(),
            ));
        }
        return fleet::plan(&args, env).await;
    }
    let mut target = target(&args.target, env).await?;
    // Validate before any network I/O.
    let set = load(
        &target.tenant.policies,
        target.tenant.config_file.as_deref(),
    )?;
    let set = targeted(set, &args.targets, &mut target.tenant)?;
    let client = GraphClient::connect(&target.tenant, &target.env)?;
    let plan = live::compute(&client, &target.tenant, &set, &Progress::stderr())
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
