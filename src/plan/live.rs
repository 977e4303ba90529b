//! The network edge of planning: reading the live tenant, and resolving the group names and
//! user principal names that targets use into object ids.

use super::{
    DesiredMethod, DesiredPolicy, DesiredState, LiveState, POLICY_PATH, Plan, PlanError,
    SECURITY_DEFAULTS_PATH,
};
use serde_json::Value;

use super::names::{self, NameKind, Names};
use super::per_user;
use super::users::{self, DirectoryNeeds, UserResource};
use crate::graph::{GraphClient, GraphError};
use crate::msgraph::schema::is_guid;
use crate::policy::{Diagnostic, PolicySet, RuleTarget};
use crate::printer::{Counter, Progress};
use crate::simulate::directory::{Directory, Registered, UserRecord, UserState, parse_guid};
use crate::simulate::explain::{Simulation, TenantPolicy};
use crate::simulate::impact;

/// Why no plan could be made: the tenant could not be read, a target does not resolve, or
/// the declaration does not fit the tenant. Nothing was changed in any case.
#[derive(Debug, thiserror::Error)]
pub enum PlanningError {
    /// Reading the tenant or the directory failed.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// The declaration does not fit the tenant.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// Names in targets that do not resolve in the tenant to exactly one object (none, or
    /// several groups of one name): every one of them, each an MFA038 diagnostic at the
    /// place it is written. Nothing was sent.
    #[error("{} target name(s) do not resolve in the tenant to exactly one object; nothing was sent:{}", diagnostics.len(), diagnostics.iter().map(|d| format!("\n{d}")).collect::<String>())]
    Unresolved {
        /// One per name, in the order written.
        diagnostics: Vec<Diagnostic>,
    },
}

/// Reads what the declaration touches: the authentication methods policy (configurations
/// come inline: one GET, never one per method) and security defaults, concurrently.
pub async fn read(
    client: &GraphClient,
    policy: bool,
    security_defaults: bool,
) -> Result<LiveState, GraphError> {
    let policy = async {
        if policy {
            client.get(POLICY_PATH).await.map(Some)
        } else {
            Ok(None)
        }
    };
    let defaults = async {
        if security_defaults {
            client.get(SECURITY_DEFAULTS_PATH).await.map(Some)
        } else {
            Ok(None)
        }
    };
    let (methods_policy, security_defaults) = tokio::join!(policy, defaults);
    Ok(LiveState {
        methods_policy: methods_policy?,
        security_defaults: security_defaults?,
    })
}

/// Reads the tenant and resolves the declared targets, concurrently (one round of reads),
/// then compares: the whole of `plan` for one tenant. Per-user kinds, and policy changes
/// that can change who is prompted with what, then read the directory (the
/// registration-details report, users, group members, per-user state) to plan per-user
/// changes and the impact.
pub async fn compute(
    client: &GraphClient,
    tenant: &str,
    set: &PolicySet,
    progress: &Progress,
) -> Result<Plan, PlanningError> {
    Ok(compute_full(client, tenant, set, progress, None)
        .await?
        .plan)
}

/// Whom `mfactl explain` simulates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExplainScope {
    /// Every user in the registration-details report.
    All,
    /// One user, by UPN: only their report row and their own state are read.
    User(String),
}

/// What the simulation needs: the directory read, and the policy before and after the plan.
pub struct SimulationInputs {
    /// Users, group members and the state read.
    pub directory: Directory,
    /// The live policy.
    pub before: TenantPolicy,
    /// The policy once the plan is applied.
    pub after: TenantPolicy,
    /// Every user's state once the plan is applied.
    pub after_state: Vec<UserState>,
}

/// A plan, and the simulation inputs when the directory was read.
pub struct Computed {
    /// The plan.
    pub plan: Plan,
    /// Present when the directory was read (per-user kinds, prompt changes, or explain).
    pub simulation: Option<SimulationInputs>,
}

/// [`compute`], keeping what was read for the simulation; `explain` forces the directory
/// to be read even when nothing changes.
pub async fn compute_full(
    client: &GraphClient,
    tenant: &str,
    set: &PolicySet,
    progress: &Progress,
    explain: Option<ExplainScope>,
) -> Result<Computed, PlanningError> {
    let per_user_declared = set.per_user_mfa.is_some() || set.sign_in_preferences.is_some();
    let (live, desired) = tokio::join!(
        read(
            client,
            set.methods_policy.is_some() || set.sign_in_preferences.is_some() || explain.is_some(),
            set.security_defaults.is_some() || explain.is_some()
        ),
        resolve(client, set, progress)
    );
    let (live, desired) = (live?, desired?);
    let mut plan = super::plan(tenant, &desired, &live)?;
    let prompts_change = plan.changes.iter().any(|c| c.path.starts_with(POLICY_PATH));
    if !per_user_declared && !prompts_change && explain.is_none() {
        return Ok(Computed {
            plan,
            simulation: None,
        });
    }
    let security_defaults = live
        .security_defaults
        .as_ref()
        .and_then(|sd| sd["isEnabled"].as_bool());
    let live_policy = live.methods_policy.clone().unwrap_or(Value::Null);
    let before = TenantPolicy::new(&live_policy, security_defaults);
    let after_security_defaults = desired.security_defaults.or(security_defaults);
    let after = TenantPolicy::new(
        &super::after_policy(&live_policy, &plan.changes),
        after_security_defaults,
    );
    let simulate = live.methods_policy.is_some();
    let per_user = desired.per_user_mfa.as_ref();
    let sign_in = desired.sign_in_preferences.as_ref();
    let mut groups = per_user::groups(per_user, sign_in);
    if simulate {
        for g in before.groups().into_iter().chain(after.groups()) {
            if !groups.contains(&g) {
                groups.push(g);
            }
        }
    }
    let one_user = match &explain {
        Some(ExplainScope::User(upn)) => Some(upn.clone()),
        _ => None,
    };
    let needs = DirectoryNeeds {
        all_users: per_user::needs_all_users(per_user, sign_in),
        groups,
    };
    let mut dir = users::read_directory(client, &needs, progress).await?;
    for (id, upn) in &desired.named_users {
        if let Some(id) = parse_guid(id) {
            dir.upsert(UserRecord {
                id,
                upn: upn.as_str().into(),
                registered: Registered::default(),
                in_report: false,
            });
        }
    }
    // The report pages slowly (its own small limit), so the per-user reads of the users in
    // scope run alongside it: the run is as long as the slower of the two.
    let requirements = per_user
        .map(|p| {
            users::ids(
                &dir,
                &per_user::scope(&dir, &p.targets(), p.state.is_some()),
            )
        })
        .unwrap_or_default();
    let sign_ins = sign_in
        .map(|s| users::ids(&dir, &per_user::scope(&dir, &s.targets(), false)))
        .unwrap_or_default();
    let report = async {
        if simulate {
            users::read_report(client, one_user.as_deref(), progress).await
        } else {
            Ok(Vec::new())
        }
    };
    let states = async {
        let mut reads =
            users::read_states(client, &requirements, UserResource::Requirements, progress).await?;
        reads.extend(
            users::read_states(client, &sign_ins, UserResource::SignInPreferences, progress)
                .await?,
        );
        Ok::<_, GraphError>(reads)
    };
    let (report, states) = tokio::try_join!(report, states)?;
    users::add_report(&mut dir, report);
    client.pacer().set_tenant_size(dir.users().len());
    users::add_states(&mut dir, states);
    // The report's system-preferred column is the effective value, the user's own flag only
    // where the live tenant setting does not decide. Where the live setting decides and the
    // declared one does not, the user's own flag matters after the change: read it.
    let own_flag_needed: Vec<u32> = (0..dir.users().len() as u32)
        .filter(|&i| {
            !dir.state()[i as usize].sign_in_read
                && dir.users()[i as usize].in_report
                && before.decides_system_preferred(&dir, i)
                && !after.decides_system_preferred(&dir, i)
        })
        .collect();
    let own_flag_needed = users::ids(&dir, &own_flag_needed);
    let reads = users::read_states(
        client,
        &own_flag_needed,
        UserResource::SignInPreferences,
        progress,
    )
    .await?;
    users::add_states(&mut dir, reads);
    if let Some(upn) = &one_user {
        // One user: their own state is read too, so that every step is shown from it.
        let me: Vec<u32> = (0..dir.users().len() as u32)
            .filter(|&i| dir.users()[i as usize].upn.eq_ignore_ascii_case(upn))
            .collect();
        let me = users::ids(&dir, &me);
        let mut reads =
            users::read_states(client, &me, UserResource::Requirements, progress).await?;
        reads.extend(
            users::read_states(client, &me, UserResource::SignInPreferences, progress).await?,
        );
        users::add_states(&mut dir, reads);
    }
    let users_plan = per_user::plan_users(&dir, per_user, sign_in);
    progress.add(Counter::Planned, users_plan.changes.len() as u64);
    plan.user_changes = users_plan.changes;
    plan.skipped_users = users_plan.skipped;
    plan.overlaps = users_plan.overlaps;
    plan.in_sync = plan.changes.is_empty() && plan.user_changes.is_empty();
    if simulate && !plan.in_sync && one_user.is_none() {
        plan.impact = Some(impact::impact(
            &Simulation {
                policy: &before,
                directory: &dir,
            },
            dir.state(),
            &Simulation {
                policy: &after,
                directory: &dir,
            },
            &users_plan.after,
        ));
    }
    Ok(Computed {
        plan,
        simulation: Some(SimulationInputs {
            directory: dir,
            before,
            after,
            after_state: users_plan.after,
        }),
    })
}

/// Turns the loaded policy set into the desired state, resolving every target written by
/// name into an object id, and every user that per-user targets name into id and UPN. Each
/// distinct name is looked up once, in `$batch` rounds ([`names::resolve`]); every name that
/// does not resolve to exactly one object is reported, all at once, before anything is sent.
pub async fn resolve(
    client: &GraphClient,
    set: &PolicySet,
    progress: &Progress,
) -> Result<DesiredState, PlanningError> {
    let mut desired = DesiredState {
        security_defaults: set.security_defaults.as_ref().map(|sd| sd.is_enabled),
        per_user_mfa: set.per_user_mfa.clone(),
        sign_in_preferences: set.sign_in_preferences.clone(),
        ..DesiredState::default()
    };
    let mut names = Names::default();
    let targets = set
        .methods_policy
        .as_ref()
        .map(|p| p.unresolved_targets())
        .unwrap_or_default();
    if let Some(declared) = &set.methods_policy {
        for t in &targets {
            let location = declared
                .locations
                .get(&t.pointer)
                .unwrap_or(&declared.location);
            // Target types other than user and group are refused when the policy loads.
            if let Some(kind) = NameKind::parse(&t.target_type) {
                names.add(kind, &t.name, location);
            }
        }
    }
    let rule_targets = set
        .per_user_mfa
        .iter()
        .flat_map(|p| p.exceptions.iter().map(|e| (&e.target, &e.location)))
        .chain(
            set.sign_in_preferences
                .iter()
                .flat_map(|s| s.rules.iter().map(|r| (&r.target, &r.location))),
        );
    for (target, location) in rule_targets {
        match target {
            RuleTarget::Group(name) if !is_guid(name) => names.add(NameKind::Group, name, location),
            // Users are looked up by id too: the plan needs their UPN.
            RuleTarget::User(name) => names.add(NameKind::User, name, location),
            _ => {}
        }
    }
    let resolved = names::resolve(client, names, progress)
        .await?
        .map_err(|diagnostics| PlanningError::Unresolved { diagnostics })?;
    desired.named_users = resolved
        .users()
        .map(|(id, upn)| (id.clone(), upn.clone()))
        .collect();
    desired.named_users.sort();
    let fix = |target: &mut RuleTarget| match target {
        RuleTarget::Group(name) if !is_guid(name) => {
            if let Some(r) = resolved.get(NameKind::Group, name) {
                *name = r.id.clone();
            }
        }
        RuleTarget::User(name) => {
            if let Some(r) = resolved.get(NameKind::User, name) {
                *name = r.id.clone();
            }
        }
        _ => {}
    };
    if let Some(p) = desired.per_user_mfa.as_mut() {
        p.exceptions.iter_mut().for_each(|e| fix(&mut e.target));
    }
    if let Some(s) = desired.sign_in_preferences.as_mut() {
        s.rules.iter_mut().for_each(|r| fix(&mut r.target));
    }
    let Some(declared) = &set.methods_policy else {
        return Ok(desired);
    };
    let mut policy = declared.clone();
    for t in &targets {
        if let Some(r) = NameKind::parse(&t.target_type).and_then(|k| resolved.get(k, &t.name)) {
            policy.set_target_id(&t.pointer, &r.id);
        }
    }
    desired.policy = Some(DesiredPolicy {
        properties: policy.properties,
        methods: policy
            .methods
            .into_iter()
            .map(|m| DesiredMethod {
                key: m.key,
                odata_type: m.odata_type,
                properties: m.properties,
            })
            .collect(),
    });
    Ok(desired)
}
