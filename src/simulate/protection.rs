//! Who must do MFA across a read directory, before and after a plan: the compiled
//! Conditional Access policies and security defaults of each side ([`AccessPolicies`]), the
//! memberships and role holdings they name laid out once, and per user a [`Verdict`] for
//! `explain` and a [`Coverage`] for the plan and its guard.

use serde::Serialize;

use super::coverage::{Coverage, coverage};
use super::directory::{Directory, Memberships, UserState};
use super::requirement::{AccessPolicies, Effect, PolicyMatch, Reach, Requirement, User};
use crate::msgraph::PerUserMfaState;

/// The state before or after a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The live tenant.
    Before,
    /// The tenant once the plan is applied.
    After,
}

/// Both sides, and the memberships they need.
#[derive(Debug, Clone, Default)]
pub struct Protection {
    before: AccessPolicies,
    after: AccessPolicies,
    groups: Memberships,
    roles: Memberships,
}

/// The groups (object ids, lower case) and role templates whose members the two sides name.
pub fn needs(before: &AccessPolicies, after: &AccessPolicies) -> (Vec<String>, Vec<u128>) {
    let merged = |a: Vec<u128>, b: Vec<u128>| {
        let mut all: Vec<u128> = a.into_iter().chain(b).collect();
        all.sort_unstable();
        all.dedup();
        all
    };
    let groups = merged(before.groups(), after.groups())
        .into_iter()
        .map(super::directory::format_guid)
        .collect();
    (groups, merged(before.roles(), after.roles()))
}

impl Protection {
    /// From the two sides, over `dir` (whose group members and role holders
    /// [`needs`] asked for have been read).
    pub fn new(before: AccessPolicies, after: AccessPolicies, dir: &Directory) -> Self {
        let (groups, roles) = needs(&before, &after);
        let groups: Vec<u128> = groups
            .iter()
            .filter_map(|g| super::directory::parse_guid(g))
            .collect();
        Self {
            groups: dir.memberships(&groups),
            roles: dir.role_memberships(&roles),
            before,
            after,
        }
    }

    /// One side's policies.
    pub fn policies(&self, side: Side) -> &AccessPolicies {
        match side {
            Side::Before => &self.before,
            Side::After => &self.after,
        }
    }

    /// User `index` as the rules see them, with `state`'s per-user MFA. An account whose
    /// `accountEnabled` was not read counts as enabled when the registration report lists it.
    pub fn user<'a>(&'a self, dir: &'a Directory, index: u32, state: &UserState) -> User<'a> {
        let Some(record) = dir.users().get(index as usize) else {
            return User::default();
        };
        User {
            id: record.id,
            upn: &record.upn,
            enabled: record.account.enabled.unwrap_or(record.in_report),
            guest: record.account.guest.unwrap_or(false),
            groups: self.groups.of(index),
            roles: self.roles.of(index),
            per_user_mfa: state.per_user_mfa,
            registered: record.registered,
        }
    }

    /// Every user before and after, naming the first `first` of each list.
    pub fn coverage(
        &self,
        dir: &Directory,
        before_state: &[UserState],
        after_state: &[UserState],
        first: usize,
    ) -> Coverage {
        let default = UserState::default();
        let users = (0..dir.users().len() as u32).map(|i| {
            let state = |s: &[UserState]| *s.get(i as usize).unwrap_or(&default);
            (
                self.user(dir, i, &state(before_state)),
                self.user(dir, i, &state(after_state)),
            )
        });
        coverage(&self.before, &self.after, users, first)
    }

    /// The enabled users whose per-user MFA state was not read and for whom it decides: those
    /// who would lose their MFA requirement unless per-user MFA requires it, and with
    /// `every_side` (for `explain`) those whom nothing else requires MFA of on either side.
    pub fn undecided(&self, dir: &Directory, state: &[UserState], every_side: bool) -> Vec<u32> {
        let default = UserState::default();
        let (mut was, mut is) = (Requirement::default(), Requirement::default());
        (0..dir.users().len() as u32)
            .filter(|&i| {
                let s = state.get(i as usize).unwrap_or(&default);
                if s.per_user_mfa.is_some() {
                    return false;
                }
                let user = self.user(dir, i, s);
                self.before.evaluate(&user, &mut was);
                self.after.evaluate(&user, &mut is);
                let loses = was.requires_mfa() && !is.requires_mfa();
                let unrequired = !was.requires_mfa() || !is.requires_mfa();
                user.enabled && (loses || (every_side && unrequired))
            })
            .collect()
    }

    /// What requires MFA of user `index` on `side`, for people and `explain`.
    pub fn verdict(&self, side: Side, dir: &Directory, index: u32, state: &UserState) -> Verdict {
        let policies = self.policies(side);
        let user = self.user(dir, index, state);
        let r = policies.requirement(&user);
        let names = |matches: &mut dyn Iterator<Item = &PolicyMatch>| -> Vec<String> {
            matches
                .filter_map(|m| policies.policies().get(m.policy))
                .map(|p| p.display_name().to_string())
                .collect()
        };
        let required_by = names(&mut r.with(true, Effect::Requires));
        let blocked_by = names(&mut r.with(true, Effect::Blocks));
        let mfa_required = if !user.enabled {
            MfaRequired::Disabled
        } else if !blocked_by.is_empty() {
            MfaRequired::Blocked
        } else if !required_by.is_empty() {
            MfaRequired::ConditionalAccess
        } else if r.security_defaults {
            MfaRequired::SecurityDefaults
        } else {
            match r.per_user {
                Some(PerUserMfaState::Enforced) => MfaRequired::PerUserEnforced,
                Some(_) => MfaRequired::PerUserEnabled,
                None if state.per_user_mfa.is_none() => MfaRequired::Unknown,
                None => MfaRequired::None,
            }
        };
        Verdict {
            mfa_required,
            guest: user.guest,
            security_defaults: r.security_defaults,
            per_user_mfa: r.per_user,
            required_by,
            blocked_by,
            would_require: names(&mut r.with(false, Effect::Requires)),
            excluded_by: names(&mut r.deliberately_excluded()),
            partly_by: names(&mut r.matches.iter().filter(|m| {
                m.enforced && !m.excluded && matches!(m.reach, Reach::Partial | Reach::Conditional)
            })),
            strength_unmet: names(&mut r.unsatisfiable()),
        }
    }
}

/// What requires MFA of a user, in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum MfaRequired {
    /// An enabled Conditional Access policy, at every sign-in.
    ConditionalAccess,
    /// Security defaults.
    SecurityDefaults,
    /// Legacy per-user MFA, enforced.
    PerUserEnforced,
    /// Legacy per-user MFA, enabled: at every sign-in once registered.
    PerUserEnabled,
    /// An enabled policy blocks every sign-in.
    Blocked,
    /// Nothing requires it at every sign-in.
    None,
    /// Nothing read requires it, and the user's per-user MFA state was not read.
    Unknown,
    /// The account is disabled.
    Disabled,
}

/// What requires MFA of one user, and why, for `explain`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    /// In one word.
    pub mfa_required: MfaRequired,
    /// Whether the account is a guest.
    pub guest: bool,
    /// Security defaults require it.
    pub security_defaults: bool,
    /// Legacy per-user MFA requires it, in this state.
    pub per_user_mfa: Option<PerUserMfaState>,
    /// The enabled policies that require it at every sign-in.
    pub required_by: Vec<String>,
    /// The enabled policies that block every sign-in.
    pub blocked_by: Vec<String>,
    /// The report-only policies that would require it.
    pub would_require: Vec<String>,
    /// The enabled policies that would require it but exclude the user (break-glass).
    pub excluded_by: Vec<String>,
    /// The enabled policies that require MFA or block for some resources or sign-ins only.
    pub partly_by: Vec<String>,
    /// The enabled policies whose strength the user's registered methods cannot satisfy.
    pub strength_unmet: Vec<String>,
}

impl Verdict {
    /// The reasoning, for `explain --user`.
    pub fn describe(&self) -> String {
        let list = |v: &[String]| v.join(", ");
        let mut why = match self.mfa_required {
            MfaRequired::ConditionalAccess => {
                format!(
                    "at every sign-in, by Conditional Access ({})",
                    list(&self.required_by)
                )
            }
            MfaRequired::SecurityDefaults => "by security defaults".into(),
            MfaRequired::PerUserEnforced => {
                "at every sign-in (legacy per-user MFA enforced)".into()
            }
            MfaRequired::PerUserEnabled => {
                "at every sign-in once registered (legacy per-user MFA enabled)".into()
            }
            MfaRequired::Blocked => {
                format!("no: every sign-in is blocked ({})", list(&self.blocked_by))
            }
            MfaRequired::None => "no: nothing requires it at every sign-in".into(),
            MfaRequired::Unknown => {
                "unknown: nothing read requires it, and the per-user MFA state was not read".into()
            }
            MfaRequired::Disabled => "no: the account is disabled".into(),
        };
        if self.mfa_required == MfaRequired::ConditionalAccess && self.security_defaults {
            why.push_str(" and security defaults");
        }
        for (words, names) in [
            ("excluded on purpose by", &self.excluded_by),
            ("only for some resources or sign-ins by", &self.partly_by),
            ("would be required (report-only) by", &self.would_require),
            ("cannot satisfy the strength of", &self.strength_unmet),
        ] {
            if !names.is_empty() {
                why.push_str(&format!("; {words} {}", list(names)));
            }
        }
        if self.guest {
            why.push_str("; a guest (security defaults do not cover guests)");
        }
        format!("MFA required: {why}.")
    }
}
