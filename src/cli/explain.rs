//! `mfactl explain`: who will be prompted with which MFA method, per user, from the declared
//! policy or the live tenant.

use crate::cli::ExplainArgs;
use crate::cli::exit::ExitCode;
use crate::config::Env;
use crate::graph::GraphClient;
use crate::plan::live;
use crate::policy::PolicySet;
use crate::printer::{self, Progress};
use crate::report;
use crate::simulate::protection::Side;

use super::common::{RunError, load, planning_error, target};

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
        &target.tenant,
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
    let (policy, state, basis, side) = if args.live {
        (
            &inputs.before,
            inputs.directory.state(),
            "live tenant",
            Side::Before,
        )
    } else {
        (
            &inputs.after,
            inputs.after_state.as_slice(),
            "declared policy, as it will be once applied",
            Side::After,
        )
    };
    let access = inputs.protection.as_ref().map(|p| (p, side));
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
                report::explain::write_user(
                    out,
                    format,
                    (&sim, &computed.plan.names),
                    access,
                    index as u32,
                    &st,
                )
            });
        }
        None => printer::data_stream(|out| {
            report::explain::write_all(out, format, &target.tenant.name, basis, &sim, access, state)
        }),
    }
    Ok(ExitCode::Success)
}
