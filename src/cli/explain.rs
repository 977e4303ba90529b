//! `mfactl explain`: who will be prompted with which MFA method, per user, from the declared
//! policy or the live tenant; for one tenant, or for each tenant `--all-tenants` or
//! `--shard I/N` selects.

use futures_util::StreamExt;

use crate::cli::ExplainArgs;
use crate::cli::exit::ExitCode;
use crate::config::{Env, TenantSettings};
use crate::graph::GraphClient;
use crate::plan::live::{self, Computed, SimulationInputs};
use crate::policy::PolicySet;
use crate::printer::{self, Progress};
use crate::report;
use crate::report::explain::{ExplainFormat, Heading, Part};
use crate::simulate::protection::Side;

use super::common::{RunError, load, load_for, planning_error, target};

/// `mfactl explain`: who will be prompted with which method.
pub async fn explain(args: ExplainArgs, env: Env) -> Result<ExitCode, RunError> {
    if args.target.source.many() {
        return explain_tenants(&args, env).await;
    }
    let target = target(&args.target, env).await?;
    let set = if args.live {
        PolicySet::default()
    } else {
        load(
            &target.tenant.policies,
            target.tenant.config_file.as_deref(),
        )?
    };
    let inputs = simulate(
        &args,
        &target.tenant,
        &target.env,
        &set,
        &Progress::stderr(),
    )
    .await
    .map_err(|e| match e {
        RunError::Planning(p) => planning_error(p),
        other => other,
    })?;
    write(&args, &target.tenant.name, &inputs, Part::Alone)
}

/// Reads the tenant and simulates who is prompted with what.
async fn simulate(
    args: &ExplainArgs,
    tenant: &TenantSettings,
    env: &Env,
    set: &PolicySet,
    progress: &Progress,
) -> Result<SimulationInputs, RunError> {
    let client = GraphClient::connect(tenant, env)?;
    let scope = match &args.user {
        Some(upn) => live::ExplainScope::User(upn.clone()),
        None => live::ExplainScope::All,
    };
    let Computed { simulation, .. } =
        live::compute_full(&client, tenant, set, progress, Some(scope)).await?;
    simulation.ok_or_else(|| {
        RunError::Refused("the authentication methods policy could not be read".into())
    })
}

/// Writes one tenant's explanation on stdout.
fn write(
    args: &ExplainArgs,
    tenant: &str,
    inputs: &SimulationInputs,
    part: Part,
) -> Result<ExitCode, RunError> {
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
    if let (None, Some(reason)) = (access, &inputs.unweighed) {
        let prefix = match part {
            Part::Alone => String::new(),
            Part::Tenant { .. } => format!("{tenant}: "),
        };
        printer::event(
            printer::Level::Warn,
            &format!("{prefix}mfaRequired is unknown for every user: {reason}"),
            &[("tenant", tenant.into())],
        );
    }
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
                    (&sim, &inputs.names),
                    access,
                    index as u32,
                    &st,
                )
            });
        }
        None => {
            let heading = Heading {
                tenant,
                basis,
                part,
            };
            printer::data_stream(|out| {
                report::explain::write_all(out, format, heading, &sim, access, state)
            })
        }
    }
    Ok(ExitCode::Success)
}

/// `mfactl explain --all-tenants | --shard I/N`: each tenant simulated as alone,
/// `--concurrency` at a time, and written in the configuration's order: one section per
/// tenant (human), `{"formatVersion", "tenants": [...]}` (JSON), a leading `tenant` column
/// (CSV). A tenant that fails is reported on stderr and the others are still explained;
/// the exit code is the first failed tenant's.
async fn explain_tenants(args: &ExplainArgs, env: Env) -> Result<ExitCode, RunError> {
    if args.user.is_some() {
        return Err(RunError::Usage(
            "--user is one user of one tenant: use it with --tenant, not --all-tenants or --shard"
                .into(),
        ));
    }
    let (_, tenants) = super::fleet::select(&args.target.source, args.target.sandbox, &env)?;
    let env = &env;
    let results = futures_util::stream::iter(&tenants)
        .map(|t| async move {
            let set = if args.live {
                Ok(PolicySet::default())
            } else {
                load_for(&t.policies, t.config_file.as_deref(), Some(&t.name))
            };
            let inputs = match set {
                Ok(set) => simulate(args, t, env, &set, &Progress::hidden()).await,
                Err(e) => Err(e),
            };
            (t.name.as_str(), inputs)
        })
        .buffered(usize::from(args.target.source.concurrency));
    futures_util::pin_mut!(results);
    let json = args.output == ExplainFormat::Json;
    if json {
        printer::data(&format!(
            "{{\"formatVersion\":{},\"tenants\":[",
            report::explain::FORMAT_VERSION
        ));
    }
    let (mut first, mut failure) = (true, None);
    while let Some((name, inputs)) = results.next().await {
        let part = Part::Tenant { first };
        match inputs {
            Ok(inputs) => {
                if !first {
                    match args.output {
                        ExplainFormat::Json => printer::data(","),
                        ExplainFormat::Human => printer::data("\n"),
                        ExplainFormat::Csv => {}
                    }
                }
                write(args, name, &inputs, part)?;
                first = false;
            }
            Err(e) => {
                printer::event(
                    printer::Level::Error,
                    &format!("{name}: error: {e}"),
                    &[("tenant", name.into())],
                );
                failure.get_or_insert(RunError::Tenant {
                    code: crate::cli::exit::for_error(&e),
                    message: format!("{name}: {e}"),
                });
            }
        }
    }
    if json {
        printer::data("\n]}\n");
    }
    failure.map_or(Ok(ExitCode::Success), Err)
}
