//! The network edge of planning: reading the live tenant, resolving the names declarations
//! write where Graph takes an id, and reading the directory a plan's simulations need: who
//! is prompted with what ([`crate::simulate::impact`]) and who must do MFA before and after
//! ([`crate::simulate::protection`]).

use serde_json::Value;

use super::names::ObjectNames;
use super::{DesiredState, LiveState, POLICY_PATH, Plan, PlanError, SECURITY_DEFAULTS_PATH};
use super::{per_user, protection};
use crate::config::TenantSettings;
use crate::graph::{GraphClient, GraphError};
use crate::kinds::PolicySet;
use crate::kinds::hardware_oath::{holders, seed::SeedError, seed::SeedKeys};
use crate::kinds::per_user::RuleTarget;
use crate::msgraph::conditional_access::{NAMED_LOCATIONS_PATH, STRENGTHS_PATH};
use crate::printer::{Counter, Progress};
use crate::simulate::directory::{Directory, Registered, UserRecord, UserState, parse_guid};
use crate::simulate::explain::{Simulation, TenantPolicy};
use crate::simulate::impact;
use crate::simulate::protection::Protection;
use crate::source::diagnostic::Diagnostic;
use crate::tenant::methods;
use crate::tenant::names::{self, NameKind, Names};
use crate::tenant::users::{self, DirectoryNeeds, UserResource};

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
    /// Holders of declared hardware OATH tokens that the tenant would refuse (a guest, more
    /// than five OATH methods, the method configuration off for them): every one, each a
    /// diagnostic (MFA046–MFA048) where the holder is written. Nothing was sent.
    #[error("{} hardware OATH token holder(s) cannot be given their token; nothing was sent:{}", diagnostics.len(), diagnostics.iter().map(|d| format!("\n{d}")).collect::<String>())]
    Holders {
        /// One per problem, in the order declared.
        diagnostics: Vec<Diagnostic>,
    },
    /// The vendor's seed file cannot give the keys of the tokens the plan creates.
    #[error(transparent)]
    Seed(#[from] SeedError),
}

/// Reads the singletons and collections at `paths` (each a [`crate::kinds::Singleton::PATH`]
/// or [`crate::kinds::Collection::PATH`]; the authentication methods policy comes with its
/// configurations inline: one GET, never one per method), concurrently. A path no kind has
/// is not read.
pub async fn read(client: &GraphClient, paths: &[&str]) -> Result<LiveState, GraphError> {
    let singletons = paths.iter().filter(|p| LiveState::PATHS.contains(p));
    let collections = paths.iter().filter(|p| LiveState::COLLECTIONS.contains(p));
    let reads =
        singletons.map(|path| async move { client.get(path).await.map(|body| (*path, body)) });
    let lists = collections
        .map(|path| async move { client.get_all(path).await.map(|items| (*path, items)) });
    let (bodies, lists) = tokio::try_join!(
        futures_util::future::try_join_all(reads),
        futures_util::future::try_join_all(lists)
    )?;
    let mut live = LiveState::default();
    for (path, body) in bodies {
        live.insert(path, body);
    }
    for (path, items) in lists {
        live.insert_collection(path, items);
    }
    Ok(live)
}

/// Reads the tenant and resolves the declared targets, concurrently (one round of reads),
/// then compares: the whole of `plan` for one tenant. Per-user kinds, and policy changes
/// that can change who is prompted with what, then read the directory (the
/// registration-details report, users, group members, per-user state) to plan per-user
/// changes and the impact.
pub async fn compute(
    client: &GraphClient,
    tenant: &TenantSettings,
    set: &PolicySet,
    progress: &Progress,
) -> Result<Plan, PlanningError> {
    Ok(compute_full(client, tenant, set, progress, None)
        .await?
        .plan)
}

/// How many users each list of a plan's coverage names.
pub const COVERAGE_FIRST: usize = 10;

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
    /// Who must do MFA before and after, when security defaults, the policies and the
    /// strengths were read.
    pub protection: Option<Protection>,
    /// Why who must do MFA could not be weighed, when it could not (`protection` is `None`).
    pub unweighed: Option<String>,
    /// The names of the ids the plan and the live methods policy hold ([`Plan::names`]),
    /// for the reasoning `explain --user` writes.
    pub names: ObjectNames,
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
    tenant: &TenantSettings,
    set: &PolicySet,
    progress: &Progress,
    explain: Option<ExplainScope>,
) -> Result<Computed, PlanningError> {
    let per_user_declared = set.declares_per_user();
    // explain simulates the live policy and security defaults, whatever is declared.
    let mut paths = set.reads();
    if explain.is_some() {
        for path in [POLICY_PATH, SECURITY_DEFAULTS_PATH] {
            if !paths.contains(&path) {
                paths.push(path);
            }
        }
    }
    // Who must do MFA is weighed whenever the declaration can change it: the policies and
    // strengths are read then even when not declared, apart, so that a tenant that may not
    // read them still plans (without a coverage, saying why).
    let weighs_protection = explain.is_some()
        || set.security_defaults.is_some()
        || set.per_user_mfa.is_some()
        || !set.conditional_access_policies.is_empty()
        || !set.authentication_strengths.is_empty();
    let extra: Vec<&str> = protection::READS
        .iter()
        .copied()
        .filter(|p| weighs_protection && !paths.contains(p))
        .collect();
    super::licence::require_p1(client, set).await?;
    let (live, extra_live, desired) = tokio::join!(
        read(client, &paths),
        read(client, &extra),
        resolve(client, set, progress)
    );
    let (mut live, (mut desired, known)) = (live?, desired?);
    let mut uncomputed = None;
    match extra_live {
        Ok(extra) => {
            for (path, value) in extra.resources() {
                match value {
                    Some(Value::Array(items)) if LiveState::COLLECTIONS.contains(&path) => {
                        live.insert_collection(path, items);
                    }
                    Some(value) => {
                        live.insert(path, value);
                    }
                    None => {}
                }
            }
        }
        Err(e @ GraphError::Forbidden { .. }) => {
            uncomputed = Some(format!(
                "who must do MFA before and after: reading security defaults, Conditional Access policies and authentication strengths was refused ({e})"
            ));
        }
        Err(e) => return Err(e.into()),
    }
    desired.prune = tenant.prune;
    let mut plan = super::plan(&tenant.name, &desired, &live)?;
    if !desired.hardware_oath_tokens.is_empty() {
        let policy = live.methods_policy.clone().unwrap_or(Value::Null);
        let diagnostics = holders::check(
            client,
            &desired.hardware_oath_tokens,
            live.hardware_oath_tokens.as_deref().unwrap_or_default(),
            &super::after_policy(&policy, &plan.changes),
            desired.prune,
        )
        .await?;
        if !diagnostics.is_empty() {
            return Err(PlanningError::Holders { diagnostics });
        }
        SeedKeys::for_changes(tenant.hardware_oath_seed.as_ref(), &plan.changes)?;
    }
    let prompts_change = plan.changes.iter().any(|c| c.path.starts_with(POLICY_PATH));
    let protection_changes =
        plan.changes.iter().any(protection::changes_protection) || set.per_user_mfa.is_some();
    let access = if weighs_protection {
        protection::access(&live, &plan.changes)
    } else {
        None
    };
    let unweighed = access.is_none().then(|| {
        uncomputed.clone().unwrap_or_else(|| {
            "security defaults, the Conditional Access policies or the authentication strengths were not read".into()
        })
    });
    if access.is_none() && protection_changes && uncomputed.is_none() {
        uncomputed = Some(
            "who must do MFA before and after: security defaults, the Conditional Access policies or the authentication strengths were not read".into(),
        );
    }
    if let Some(reason) = uncomputed.filter(|_| protection_changes) {
        plan.uncomputed.push(super::Uncomputed {
            what: super::COVERAGE.into(),
            reason,
        });
    }
    if !per_user_declared && !prompts_change && !protection_changes && explain.is_none() {
        plan.names = object_names(client, &plan, &desired, known, &live, explain.is_some()).await;
        return Ok(Computed {
            plan,
            simulation: None,
        });
    }
    let live_policy = live.methods_policy.clone().unwrap_or(Value::Null);
    let before = TenantPolicy::new(&live_policy);
    let after = TenantPolicy::new(&super::after_policy(&live_policy, &plan.changes));
    let simulate = live.methods_policy.is_some();
    let scopes = desired.per_user_scopes();
    let mut groups = per_user::groups(&scopes);
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
    let mut roles = Vec::new();
    if let Some((before, after)) = &access {
        let (policy_groups, policy_roles) = crate::simulate::protection::needs(before, after);
        for g in policy_groups {
            if !groups.contains(&g) {
                groups.push(g);
            }
        }
        roles = policy_roles;
    }
    let needs = DirectoryNeeds {
        // A coverage weighs every enabled account.
        all_users: per_user::needs_all_users(&scopes) || access.is_some(),
        groups,
        roles,
    };
    let mut dir = users::read_directory(client, &needs, progress).await?;
    for (id, upn) in &desired.named_users {
        if let Some(id) = parse_guid(id) {
            dir.upsert(UserRecord {
                id,
                upn: upn.as_str().into(),
                registered: Registered::default(),
                in_report: false,
                account: Default::default(),
            });
        }
    }
    // The report pages slowly (its own small limit), so the per-user reads of the users in
    // scope run alongside it: the run is as long as the slower of the two.
    let mut in_scope: Vec<(UserResource, Vec<(u32, u128)>)> = scopes
        .iter()
        .map(|s| {
            let who = crate::kinds::per_user::scope(&dir, &s.targets, s.everyone);
            (s.resource, users::ids(&dir, &who))
        })
        .collect();
    let protection = access.map(|(before, after)| Protection::new(before, after, &dir));
    if let Some(protection) = &protection {
        // Whether a user who would lose security defaults or a policy (or, for explain, whom
        // nothing else requires MFA of) is required MFA by legacy per-user MFA: their state
        // decides, so it is read too, unless a PerUserMfa scope reads it already.
        let read: std::collections::HashSet<u32> = in_scope
            .iter()
            .filter(|(resource, _)| *resource == UserResource::Requirements)
            .flat_map(|(_, ids)| ids.iter().map(|(i, _)| *i))
            .collect();
        let undecided: Vec<u32> = protection
            .undecided(&dir, dir.state(), explain.is_some())
            .into_iter()
            .filter(|i| !read.contains(i))
            .collect();
        in_scope.push((UserResource::Requirements, users::ids(&dir, &undecided)));
    }
    let report = async {
        if simulate {
            methods::read_registrations(client, one_user.as_deref(), explain.is_some(), progress)
                .await
        } else {
            Ok(methods::Registrations::default())
        }
    };
    let states = async {
        let mut reads = Vec::new();
        for (resource, ids) in &in_scope {
            reads.extend(users::read_states(client, ids, *resource, progress).await?);
        }
        Ok::<_, GraphError>(reads)
    };
    let (report, states) = tokio::try_join!(report, states)?;
    users::add_report(&mut dir, report.rows);
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
    let users_plan = per_user::plan_users(&dir, &desired);
    progress.add(Counter::Planned, users_plan.changes.len() as u64);
    plan.user_changes = users_plan.changes;
    plan.skipped_users = users_plan.skipped;
    plan.overlaps = users_plan.overlaps;
    plan.notes = users_plan.notes;
    plan.in_sync = plan.changes.is_empty() && plan.user_changes.is_empty();
    if let Some(reason) = report
        .unreadable
        .filter(|_| !plan.in_sync && one_user.is_none())
    {
        plan.uncomputed.push(super::Uncomputed::impact(reason));
    } else if simulate && !plan.in_sync && one_user.is_none() {
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
    if let Some(protection) = protection.as_ref().filter(|_| protection_changes)
        && one_user.is_none()
        && !plan.in_sync
    {
        plan.coverage =
            Some(protection.coverage(&dir, dir.state(), &users_plan.after, COVERAGE_FIRST));
    }
    plan.names = object_names(client, &plan, &desired, known, &live, explain.is_some()).await;
    let names = plan.names.clone();
    Ok(Computed {
        plan,
        simulation: Some(SimulationInputs {
            directory: dir,
            before,
            after,
            after_state: users_plan.after,
            protection,
            unweighed,
            names,
        }),
    })
}

/// Turns the loaded policy set into the desired state, resolving every target written by
/// name into an object id, and every user that per-user targets name into id and UPN. Each
/// distinct name is looked up once, in `$batch` rounds ([`names::resolve`]); every name that
/// does not resolve to exactly one object is reported, all at once, before anything is sent.
/// Also the names resolved, by id, for [`object_names`].
pub async fn resolve(
    client: &GraphClient,
    set: &PolicySet,
    progress: &Progress,
) -> Result<(DesiredState, ObjectNames), PlanningError> {
    let mut names = Names::default();
    set.names(&mut names);
    let resolved = names::resolve(client, names, progress)
        .await?
        .map_err(|diagnostics| PlanningError::Unresolved { diagnostics })?;
    let mut desired = set.desired(&resolved);
    desired.named_users = resolved
        .users()
        .map(|(id, upn)| (id.clone(), upn.clone()))
        .collect();
    desired.named_users.sort();
    Ok((desired, resolved.names_by_id().collect()))
}

/// The display names of the groups, users, roles, named locations and strengths that the
/// plan's changes name by id, the targets of the per-user rules its overlaps name, and, for
/// `explain`, the live methods policy's targets: from the names the declaration wrote
/// (`known`), the named locations and strengths read, and, for ids only the tenant holds,
/// one batched round of reads ([`names::described::display_names`]) that never fails the
/// plan.
async fn object_names(
    client: &GraphClient,
    plan: &Plan,
    desired: &DesiredState,
    mut known: ObjectNames,
    live: &LiveState,
    explain: bool,
) -> ObjectNames {
    let mut wanted = Vec::new();
    for p in plan.changes.iter().flat_map(|c| &c.properties) {
        super::names::referenced(&p.before, &mut wanted);
        super::names::referenced(&p.after, &mut wanted);
    }
    let overlapping = |id: &str| {
        plan.overlaps
            .iter()
            .any(|o| o.winner.contains(id) || o.shadowed.contains(id))
    };
    for target in desired.per_user_scopes().iter().flat_map(|s| &s.targets) {
        let (kind, id) = match target {
            RuleTarget::Group(id) => (NameKind::Group, id),
            RuleTarget::User(id) => (NameKind::User, id),
            RuleTarget::AllUsers => continue,
        };
        if overlapping(id) && !wanted.iter().any(|(_, w)| w == id) {
            wanted.push((kind, id.clone()));
        }
    }
    if let Some(policy) = live.methods_policy.as_ref().filter(|_| explain) {
        super::names::referenced(policy, &mut wanted);
    }
    // The names the files write come first; the tenant's listings name the rest.
    for (path, items) in live.resources() {
        if let Some(Value::Array(items)) = items.filter(|_| LISTED.contains(&path)) {
            for (id, name) in names::described::named(&items) {
                known.entry(id).or_insert(name);
            }
        }
    }
    let mut out = ObjectNames::new();
    let mut unknown = Vec::new();
    for (kind, id) in wanted {
        let id = id.to_ascii_lowercase();
        let name = super::names::well_known(kind, &id)
            .map(String::from)
            .or_else(|| known.get(&id).cloned());
        match name {
            Some(name) => {
                out.insert(id, name);
            }
            None => unknown.push((kind, id)),
        }
    }
    out.extend(names::described::display_names(client, &unknown).await);
    out
}

/// The collections whose items' names a plan may show beside their ids.
const LISTED: [&str; 2] = [NAMED_LOCATIONS_PATH, STRENGTHS_PATH];
