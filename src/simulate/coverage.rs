//! Before and after a change, over every user: who loses their MFA requirement, who is newly
//! blocked, who is newly required a strength their registered methods cannot satisfy, who must
//! register a method first, and who is left out on purpose — the invariant of DESIGN.md ("no apply may leave an enabled member user without an
//! MFA requirement they had before, nor block anyone who could sign in"), in numbers.
//!
//! A user who loses their requirement while an enabled policy includes and excludes them is a
//! deliberate exclusion (a break-glass account, conditional-access FACTS items 31, 34),
//! counted apart from the others. Disabled accounts are skipped; guests are counted apart
//! from members. The rules themselves are in [`super::requirement`].

use serde::{Deserialize, Serialize};

use super::directory::format_guid;
use super::requirement::{AccessPolicies, Effect, PolicyMatch, Requirement, User};
use crate::msgraph::PerUserMfaState;

/// What required MFA of a user, or what blocks or excludes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Responsible {
    /// Security defaults.
    SecurityDefaults,
    /// Legacy per-user MFA in this state.
    PerUserMfa(PerUserMfaState),
    /// A Conditional Access policy, by display name.
    Policy(String),
}

impl std::fmt::Display for Responsible {
    /// For people: `security defaults`, `per-user MFA enforced`, `"<policy>"`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SecurityDefaults => f.write_str("security defaults"),
            Self::PerUserMfa(state) => write!(f, "per-user MFA {}", state.as_str()),
            Self::Policy(name) => write!(f, "\"{name}\""),
        }
    }
}

/// A user named in a [`Coverage`] list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AffectedUser {
    /// Object id.
    pub id: String,
    /// User principal name (empty when not known).
    #[serde(default)]
    pub user_principal_name: String,
    /// Whether the account is a guest.
    pub guest: bool,
    /// What the change is about: the lost requirements (before); the blocking or excluding
    /// policies, or the requirements they cannot meet (after).
    pub responsible: Vec<Responsible>,
}

/// How many users are in one category, and the first of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserList {
    /// Enabled members.
    pub members: usize,
    /// Enabled guests.
    pub guests: usize,
    /// The first users, in the order walked.
    pub first: Vec<AffectedUser>,
}

impl AffectedUser {
    /// How people know the user: the UPN, else the object id.
    pub fn name(&self) -> &str {
        if self.user_principal_name.is_empty() {
            &self.id
        } else {
            &self.user_principal_name
        }
    }

    /// What [`AffectedUser::responsible`] lists, for people: `security defaults, "<policy>"`.
    pub fn reasons(&self) -> String {
        let reasons: Vec<String> = self.responsible.iter().map(ToString::to_string).collect();
        reasons.join(", ")
    }
}

impl UserList {
    fn add(
        &mut self,
        user: &User<'_>,
        limit: usize,
        responsible: impl FnOnce() -> Vec<Responsible>,
    ) {
        if user.guest {
            self.guests += 1;
        } else {
            self.members += 1;
        }
        if self.first.len() < limit {
            self.first.push(AffectedUser {
                id: format_guid(user.id),
                user_principal_name: user.upn.to_string(),
                guest: user.guest,
                responsible: responsible(),
            });
        }
    }
}

/// What a change does to who must do MFA.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Coverage {
    /// Enabled members compared.
    pub members: usize,
    /// Enabled guests compared.
    pub guests: usize,
    /// Had an MFA requirement before, none after, and nothing excludes them on purpose.
    pub lost: UserList,
    /// Had an MFA requirement before, none after, and an enabled policy that would require
    /// it at every sign-in excludes them.
    pub excluded: UserList,
    /// Blocked after, not before.
    pub newly_blocked: UserList,
    /// Newly required an authentication strength that none of their registered methods
    /// satisfies: locked out until they register one, which a strong strength may not let
    /// them do at sign-in (conditional-access FACTS item 51).
    pub cannot_satisfy: UserList,
    /// Newly required to do MFA with nothing registered that does it: asked to register at
    /// their next sign-in (plain MFA can be registered then); to onboard before the change.
    pub must_register: UserList,
}

impl Coverage {
    /// Enabled members who lose their MFA requirement (deliberate exclusions apart): what
    /// `--allow-unprotected` allows.
    pub fn unprotected(&self) -> usize {
        self.lost.members
    }

    /// Users newly blocked or newly required a strength they cannot satisfy: what
    /// `--allow-lockout` allows (with the users left with no usable method).
    pub fn locked_out(&self) -> usize {
        self.newly_blocked.members
            + self.newly_blocked.guests
            + self.cannot_satisfy.members
            + self.cannot_satisfy.guests
    }
}

/// Compares every user before and after: `users` yields each user's view in the state
/// before and in the state after (the same user; per-user MFA or the account may differ).
/// Each list keeps its first `first` users.
pub fn coverage<'u>(
    before: &AccessPolicies,
    after: &AccessPolicies,
    users: impl IntoIterator<Item = (User<'u>, User<'u>)>,
    first: usize,
) -> Coverage {
    let mut out = Coverage::default();
    let (mut was, mut is) = (Requirement::default(), Requirement::default());
    for (user_before, user) in users {
        if !user_before.enabled || !user.enabled {
            continue;
        }
        if user.guest {
            out.guests += 1;
        } else {
            out.members += 1;
        }
        before.evaluate(&user_before, &mut was);
        after.evaluate(&user, &mut is);
        if was.requires_mfa() && !is.requires_mfa() {
            if is.deliberately_excluded().next().is_some() {
                out.excluded
                    .add(&user, first, || names(after, is.deliberately_excluded()));
            } else {
                out.lost.add(&user, first, || requirements(before, &was));
            }
        }
        if is.is_blocked() && !was.is_blocked() {
            out.newly_blocked
                .add(&user, first, || names(after, is.with(true, Effect::Blocks)));
        }
        if is.unsatisfiable().next().is_some() && was.unsatisfiable().next().is_none() {
            out.cannot_satisfy
                .add(&user, first, || names(after, is.unsatisfiable()));
        } else if is.cannot_comply() && !was.cannot_comply() {
            out.must_register
                .add(&user, first, || requirements(after, &is));
        }
    }
    out
}

/// Everything that requires MFA of the user.
fn requirements(policies: &AccessPolicies, r: &Requirement) -> Vec<Responsible> {
    let mut out = Vec::new();
    if r.security_defaults {
        out.push(Responsible::SecurityDefaults);
    }
    if let Some(state) = r.per_user {
        out.push(Responsible::PerUserMfa(state));
    }
    out.extend(names(policies, r.with(true, Effect::Requires)));
    out
}

fn names<'r>(
    policies: &AccessPolicies,
    matches: impl Iterator<Item = &'r PolicyMatch>,
) -> Vec<Responsible> {
    matches
        .filter_map(|m| policies.policies().get(m.policy))
        .map(|p| Responsible::Policy(p.display_name().to_string()))
        .collect()
}
