//! Who must do MFA: per user, what requires it of them — security defaults, legacy per-user
//! MFA, the Conditional Access policies that require MFA or an authentication strength for
//! every resource — what would (report-only policies), what blocks them, and which policies
//! deliberately leave them out.
//!
//! The rules (conditional-access FACTS items cited):
//!
//! - **State** (item 15): `enabled` policies enforce; `enabledForReportingButNotEnforced`
//!   ones only *would* (reported apart, never as a requirement); `disabled` ones are ignored.
//! - **Who** (item 18): included by `includeUsers` (`All`, the user's id, or
//!   `GuestsOrExternalUsers` for a guest), `includeGroups` (transitive), `includeRoles` (role
//!   template ids held) or `includeGuestsOrExternalUsers`; the same on the exclude side, and
//!   exclusion wins. A guest is a user whose `userType` is `Guest`: the guest-or-external
//!   types `internalGuest` and `b2bCollaborationGuest` cover them, whatever the tenants listed.
//! - **What** (items 19, 20): a policy reaches *every* sign-in when `includeApplications` has
//!   `All`, with no `excludeApplications` nor `applicationFilter`, and no condition narrows it
//!   (`clientAppTypes` absent or `all`, `platforms` and `locations` absent or all with no
//!   exclusion, no risk, device, flow or other condition: item 24's extra members count too).
//!   Otherwise it is *partial* (some resources) or *conditional* (some sign-ins), reported
//!   apart and never as coverage. A policy that targets no resource applies to nothing (item 25).
//! - **Grant** (item 21): `block` blocks; otherwise an `authenticationStrength` or `mfa`
//!   requires MFA (a strength wins when both are set). With operator `OR` and another way
//!   through (a device control, terms of use, a custom factor), MFA is not required: conditional.
//! - **Security defaults** (item 27) require MFA of every enabled member account;
//!   **per-user MFA** `enabled` or `enforced` requires it of the user.
//!
//! Each policy is compiled once ([`AccessPolicies::new`]); [`AccessPolicies::evaluate`] then
//! looks at one user at a time and refills a [`Requirement`] the caller reuses.

use serde::Serialize;
use serde_json::Value;

use super::directory::{Registered, parse_guid};
use super::strength::{Satisfaction, Strength};
use crate::msgraph::PerUserMfaState;
use crate::msgraph::modes::MULTIFACTOR_STRENGTH;

/// One user, as the rules need them: a borrowed view, so that a directory of 100,000 users is
/// walked without an allocation per user.
#[derive(Debug, Clone, Copy, Default)]
pub struct User<'a> {
    /// Object id.
    pub id: u128,
    /// User principal name, to name the user in a coverage.
    pub upn: &'a str,
    /// `accountEnabled`: security defaults cover enabled accounts only, and a coverage
    /// skips disabled ones.
    pub enabled: bool,
    /// `userType` is `Guest`.
    pub guest: bool,
    /// Transitive group ids; only the groups [`AccessPolicies::groups`] lists matter.
    pub groups: &'a [u128],
    /// Directory role template ids held; only [`AccessPolicies::roles`] matter.
    pub roles: &'a [u128],
    /// Legacy per-user MFA, when read.
    pub per_user_mfa: Option<PerUserMfaState>,
    /// The report's `methodsRegistered`.
    pub registered: Registered,
}

/// How much of a user's sign-ins a policy reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Reach {
    /// Every resource, every sign-in.
    Full,
    /// Some resources only: not `All`, or `All` minus excluded applications.
    Partial,
    /// Only some sign-ins: a condition narrows it, or the grant lets another control through.
    Conditional,
}

/// What a policy asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Control {
    Block,
    Mfa,
    /// An authentication strength: index into the strengths, `None` when not given.
    Strength(Option<usize>),
}

/// Who a side of a policy's `users` condition names.
#[derive(Debug, Clone, Default)]
struct Audience {
    all: bool,
    guests: bool,
    users: Vec<u128>,
    groups: Vec<u128>,
    roles: Vec<u128>,
}

impl Audience {
    fn read(users: &Value, side: &str) -> Self {
        let field = |name: &str| strings(&users[format!("{side}{name}")]);
        let ids = |name: &str| {
            let mut ids: Vec<u128> = field(name).filter_map(parse_guid).collect();
            ids.sort_unstable();
            ids.dedup();
            ids
        };
        let guest_types = users[format!("{side}GuestsOrExternalUsers")]["guestOrExternalUserTypes"]
            .as_str()
            .unwrap_or_default();
        Self {
            all: field("Users").any(|u| u.eq_ignore_ascii_case("All")),
            guests: field("Users").any(|u| u.eq_ignore_ascii_case("GuestsOrExternalUsers"))
                || guest_types
                    .split(',')
                    .any(|t| matches!(t.trim(), "internalGuest" | "b2bCollaborationGuest")),
            users: ids("Users"),
            groups: ids("Groups"),
            roles: ids("Roles"),
        }
    }

    fn covers(&self, user: &User<'_>) -> bool {
        let any_of = |held: &[u128], named: &[u128]| {
            !named.is_empty() && held.iter().any(|id| named.binary_search(id).is_ok())
        };
        self.all
            || (self.guests && user.guest)
            || self.users.binary_search(&user.id).is_ok()
            || any_of(user.groups, &self.groups)
            || any_of(user.roles, &self.roles)
    }
}

/// One enabled or report-only Conditional Access policy that requires MFA or blocks,
/// compiled once.
#[derive(Debug, Clone)]
pub struct AccessPolicy {
    id: String,
    display_name: String,
    enforced: bool,
    include: Audience,
    exclude: Audience,
    reach: Reach,
    control: Control,
}

impl AccessPolicy {
    /// From a `conditionalAccessPolicy`'s Graph JSON; `None` when it is disabled, asks for
    /// neither MFA nor a block, or targets no resource.
    fn read(policy: &Value, strengths: &mut Vec<Strength>) -> Option<Self> {
        let enforced = match policy["state"].as_str()? {
            "enabled" => true,
            "enabledForReportingButNotEnforced" => false,
            _ => return None,
        };
        let grant = &policy["grantControls"];
        let built_in: Vec<&str> = strings(&grant["builtInControls"]).collect();
        let strength = &grant["authenticationStrength"];
        let control = if built_in.contains(&"block") {
            Control::Block
        } else if let Some(id) = strength["id"].as_str() {
            let id = id.to_ascii_lowercase();
            let known = strengths.iter().position(|s| s.id() == id);
            Control::Strength(known.or_else(|| {
                strengths.push(Strength::from_graph(strength)?);
                Some(strengths.len() - 1)
            }))
        } else if built_in.contains(&"mfa") {
            Control::Mfa
        } else {
            return None;
        };
        let conditions = &policy["conditions"];
        let apps = &conditions["applications"];
        let all_apps = strings(&apps["includeApplications"]).any(|a| a.eq_ignore_ascii_case("All"));
        let some_apps = ["includeApplications", "includeUserActions"]
            .iter()
            .flat_map(|k| strings(&apps[*k]))
            .chain(strings(
                &apps["includeAuthenticationContextClassReferences"],
            ))
            .any(|a| !a.eq_ignore_ascii_case("None"));
        if !some_apps {
            return None;
        }
        let alternatives = strings(&grant["builtInControls"])
            .filter(|c| *c != "mfa")
            .chain(strings(&grant["customAuthenticationFactors"]))
            .chain(strings(&grant["termsOfUse"]))
            .next()
            .is_some();
        let or = !grant["operator"]
            .as_str()
            .is_some_and(|o| o.eq_ignore_ascii_case("AND"));
        let reach = if narrows(conditions) || (control != Control::Block && or && alternatives) {
            Reach::Conditional
        } else if !all_apps
            || !is_empty(&apps["excludeApplications"])
            || !is_empty(&apps["applicationFilter"])
        {
            Reach::Partial
        } else {
            Reach::Full
        };
        let users = &conditions["users"];
        Some(Self {
            id: policy["id"].as_str().unwrap_or_default().to_string(),
            display_name: policy["displayName"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            enforced,
            include: Audience::read(users, "include"),
            exclude: Audience::read(users, "exclude"),
            reach,
            control,
        })
    }

    /// The policy's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The policy's display name.
    pub fn display_name(&self) -> &str {
        &self.display_name
    }
}

/// Whether a condition other than users and applications narrows the policy to some
/// sign-ins. Conditions mfactl does not know narrow it too, unless empty.
fn narrows(conditions: &Value) -> bool {
    let everywhere = |value: &Value, include: &str, exclude: &str, all: &str| {
        is_empty(value)
            || (strings(&value[include]).all(|v| v.eq_ignore_ascii_case(all))
                && !is_empty(&value[include])
                && is_empty(&value[exclude]))
    };
    conditions.as_object().is_some_and(|map| {
        map.iter().any(|(key, value)| match key.as_str() {
            "users" | "applications" => false,
            "clientAppTypes" => strings(value).any(|t| !t.eq_ignore_ascii_case("all")),
            "platforms" => !everywhere(value, "includePlatforms", "excludePlatforms", "all"),
            "locations" => !everywhere(value, "includeLocations", "excludeLocations", "All"),
            _ => !is_empty(value),
        })
    })
}

/// `null`, `[]`, `""`, `"none"` and objects of those: Graph's ways of saying "not set"
/// (FACTS item 24).
fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        Value::String(s) => s.is_empty() || s == "none",
        Value::Object(map) => map.values().all(is_empty),
        Value::Bool(_) | Value::Number(_) => false,
    }
}

fn strings(value: &Value) -> impl Iterator<Item = &str> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

/// The tenant-wide inputs, compiled once: security defaults, the policies that require MFA
/// or block, and the authentication strengths they name.
#[derive(Debug, Clone, Default)]
pub struct AccessPolicies {
    security_defaults: bool,
    policies: Vec<AccessPolicy>,
    strengths: Vec<Strength>,
    /// The built-in "Multifactor authentication" strength, against which `mfa` is checked.
    multifactor: Option<usize>,
}

impl AccessPolicies {
    /// From Graph JSON: the `conditionalAccessPolicy` objects, the
    /// `authenticationStrengthPolicy` objects (built-in and custom; a strength a policy
    /// carries inline, as GET returns it, is used when the list lacks it), and whether
    /// security defaults are on.
    pub fn new(security_defaults: bool, policies: &[Value], strengths: &[Value]) -> Self {
        let mut strengths: Vec<Strength> =
            strengths.iter().filter_map(Strength::from_graph).collect();
        let policies = policies
            .iter()
            .filter_map(|p| AccessPolicy::read(p, &mut strengths))
            .collect();
        let multifactor = strengths
            .iter()
            .position(|s| s.id() == MULTIFACTOR_STRENGTH);
        Self {
            security_defaults,
            policies,
            strengths,
            multifactor,
        }
    }

    /// The enabled and report-only policies that require MFA or block; a
    /// [`PolicyMatch::policy`] indexes this.
    pub fn policies(&self) -> &[AccessPolicy] {
        &self.policies
    }

    /// The strength a policy requires (for `mfa`, the built-in "Multifactor authentication"
    /// strength when given); `None` for a block or a strength not given.
    pub fn strength(&self, policy: usize) -> Option<&Strength> {
        match self.policies.get(policy)?.control {
            Control::Block => None,
            Control::Strength(index) => self.strengths.get(index?),
            Control::Mfa => self.strengths.get(self.multifactor?),
        }
    }

    /// Every group the policies name (sorted): the only memberships [`User::groups`] needs.
    pub fn groups(&self) -> Vec<u128> {
        self.named(|a| &a.groups)
    }

    /// Every role template the policies name (sorted): the only ones [`User::roles`] needs.
    pub fn roles(&self) -> Vec<u128> {
        self.named(|a| &a.roles)
    }

    fn named(&self, side: impl Fn(&Audience) -> &Vec<u128>) -> Vec<u128> {
        let mut ids: Vec<u128> = self
            .policies
            .iter()
            .flat_map(|p| side(&p.include).iter().chain(side(&p.exclude)))
            .copied()
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// What requires MFA of `user`, into `out` (cleared first, so that one buffer serves
    /// every user).
    pub fn evaluate(&self, user: &User<'_>, out: &mut Requirement) {
        out.security_defaults = self.security_defaults && user.enabled && !user.guest;
        out.per_user = user
            .per_user_mfa
            .filter(|s| *s != PerUserMfaState::Disabled);
        out.mfa_registered = self
            .multifactor
            .and_then(|i| self.strengths.get(i))
            .map_or(Satisfaction::Unknown, |s| s.satisfied_by(user.registered));
        out.matches.clear();
        for (index, policy) in self.policies.iter().enumerate() {
            if !policy.include.covers(user) {
                continue;
            }
            let grant = match policy.control {
                Control::Block => Grant::Block,
                Control::Mfa | Control::Strength(_) => Grant::Mfa(
                    self.strength(index)
                        .map_or(Satisfaction::Unknown, |s| s.satisfied_by(user.registered)),
                ),
            };
            out.matches.push(PolicyMatch {
                policy: index,
                enforced: policy.enforced,
                reach: policy.reach,
                grant,
                excluded: policy.exclude.covers(user),
                strength: matches!(policy.control, Control::Strength(_)),
            });
        }
    }

    /// What requires MFA of `user`, in a new [`Requirement`] (for one user; to walk many,
    /// reuse one with [`AccessPolicies::evaluate`]).
    pub fn requirement(&self, user: &User<'_>) -> Requirement {
        let mut out = Requirement::default();
        self.evaluate(user, &mut out);
        out
    }
}

/// What a policy grants with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Grant {
    /// Blocks access.
    Block,
    /// Requires MFA or an authentication strength, and whether the user's registered methods
    /// can satisfy it (`mfa` is checked against the built-in "Multifactor authentication"
    /// strength: an inference, Microsoft documents no equivalence).
    Mfa(Satisfaction),
}

/// What a matching policy does to the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Effect {
    /// Requires MFA at every sign-in.
    Requires,
    /// Blocks every sign-in.
    Blocks,
    /// Requires MFA or blocks for some resources only.
    Partial,
    /// Requires MFA or blocks for some sign-ins only.
    Conditional,
    /// Includes the user but excludes them too: a deliberate exclusion (break-glass).
    Excluded,
}

/// A policy that includes the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PolicyMatch {
    /// Index into [`AccessPolicies::policies`].
    pub policy: usize,
    /// `enabled` (true) or report-only (false).
    pub enforced: bool,
    /// How much of the user's sign-ins it reaches.
    pub reach: Reach,
    /// What it grants with.
    pub grant: Grant,
    /// Whether an exclusion covers the user (exclusion wins).
    pub excluded: bool,
    /// Whether the policy names an authentication strength (not plain `mfa`).
    pub strength: bool,
}

impl PolicyMatch {
    /// What the policy does to the user.
    pub fn effect(&self) -> Effect {
        match (self.excluded, self.reach, self.grant) {
            (true, _, _) => Effect::Excluded,
            (false, Reach::Partial, _) => Effect::Partial,
            (false, Reach::Conditional, _) => Effect::Conditional,
            (false, Reach::Full, Grant::Block) => Effect::Blocks,
            (false, Reach::Full, Grant::Mfa(_)) => Effect::Requires,
        }
    }
}

/// What requires MFA of one user, and what else the policies do to them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requirement {
    /// Security defaults are on and the user is an enabled member.
    pub security_defaults: bool,
    /// Legacy per-user MFA, when `enabled` or `enforced`.
    pub per_user: Option<PerUserMfaState>,
    /// Whether the user registered a way to do MFA at all: the built-in "Multifactor
    /// authentication" strength, `Unknown` when not given.
    pub mfa_registered: Satisfaction,
    /// Every enabled or report-only policy that includes the user, in policy order.
    pub matches: Vec<PolicyMatch>,
}

impl Requirement {
    /// The policies with this effect: `enforced` true for enabled ones ("requires",
    /// "blocks", "excluded by"), false for report-only ones ("would require", ...).
    pub fn with(&self, enforced: bool, effect: Effect) -> impl Iterator<Item = &PolicyMatch> {
        self.matches
            .iter()
            .filter(move |m| m.enforced == enforced && m.effect() == effect)
    }

    /// Whether anything requires MFA at every sign-in: security defaults, per-user MFA or an
    /// enabled policy.
    pub fn requires_mfa(&self) -> bool {
        self.security_defaults
            || self.per_user.is_some()
            || self.with(true, Effect::Requires).next().is_some()
    }

    /// Whether an enabled policy blocks every sign-in.
    pub fn is_blocked(&self) -> bool {
        self.with(true, Effect::Blocks).next().is_some()
    }

    /// The enabled policies that would require MFA at every sign-in but exclude the user:
    /// deliberate exclusions such as break-glass accounts.
    pub fn deliberately_excluded(&self) -> impl Iterator<Item = &PolicyMatch> {
        self.with(true, Effect::Excluded)
            .filter(|m| m.reach == Reach::Full && matches!(m.grant, Grant::Mfa(_)))
    }

    /// The enabled policies that require an authentication strength the user's registered
    /// methods cannot satisfy (plain `mfa` can be registered for at sign-in: not counted).
    pub fn unsatisfiable(&self) -> impl Iterator<Item = &PolicyMatch> {
        self.with(true, Effect::Requires)
            .filter(|m| m.strength && m.grant == Grant::Mfa(Satisfaction::NotSatisfied))
    }

    /// Whether the user cannot do what is required of them with the methods they registered:
    /// MFA is required and nothing registered satisfies it, or an enabled policy requires a
    /// strength they cannot satisfy. Plain MFA can be registered at sign-in; a strong
    /// strength may not be (conditional-access FACTS item 51).
    pub fn cannot_comply(&self) -> bool {
        (self.requires_mfa() && self.mfa_registered == Satisfaction::NotSatisfied)
            || self.unsatisfiable().next().is_some()
    }
}
