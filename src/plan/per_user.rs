//! Declared per-user state × the users read → per-user PATCHes. Pure.
//!
//! Resolution order (also in the README):
//! - `PerUserMfa`: an exception naming the user directly wins; then group exceptions in the
//!   order written (first match wins); then `spec.state`. A user matched by none is not
//!   managed.
//! - `SignInPreferences`: for each property separately, the first rule in the order written
//!   that targets the user and sets that property decides.
//!
//! A default method is only set for users who registered a method that supports it; the
//! others are listed as skipped, never as drift that no PATCH could fix.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::PropertyChange;
use super::users::{requirements_path, sign_in_preferences_path};
use crate::msgraph::PerUserMfaState;
use crate::policy::{DeclaredPerUserMfa, DeclaredSignInPreferences, RuleTarget};
use crate::simulate::directory::{Directory, UserState, format_guid, parse_guid};

/// The per-user resources mfactl writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum UserChangeKind {
    /// `authentication/requirements` (legacy per-user MFA).
    PerUserMfa,
    /// `authentication/signInPreferences`.
    SignInPreferences,
}

/// One per-user PATCH.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserChange {
    /// Which resource.
    pub kind: UserChangeKind,
    /// The user's object id.
    pub user_id: String,
    /// The user's UPN.
    pub user_principal_name: String,
    /// Graph path, version included.
    pub path: String,
    /// What changes.
    pub properties: Vec<PropertyChange>,
    /// The exact request body.
    pub body: Value,
}

/// A declared value that cannot be applied to a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SkippedUser {
    /// The user's object id.
    pub user_id: String,
    /// The user's UPN.
    pub user_principal_name: String,
    /// The property not set.
    pub property: String,
    /// Why.
    pub reason: String,
}

/// Users matched by two rules that set the same property: the earlier rule decides. A later
/// `all_users` rule is a catch-all meant to be overridden, and never reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Overlap {
    /// The property.
    pub property: String,
    /// The rule that decides (file:line:column and target).
    pub winner: String,
    /// The rule that does not apply to these users.
    pub shadowed: String,
    /// How many users.
    pub users: usize,
}

/// The per-user part of a plan.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PerUserPlan {
    /// The PATCHes, by user.
    pub changes: Vec<UserChange>,
    /// Declared values that cannot be applied.
    pub skipped: Vec<SkippedUser>,
    /// Rule overlaps seen through group membership.
    pub overlaps: Vec<Overlap>,
    /// Every user's state once the changes are applied.
    pub after: Vec<UserState>,
}

/// Whether `target` covers user `index`. Names must have been resolved to ids.
pub fn covers(target: &RuleTarget, dir: &Directory, index: u32) -> bool {
    match target {
        RuleTarget::AllUsers => true,
        RuleTarget::Group(id) => dir.is_member(id, index),
        RuleTarget::User(id) => parse_guid(id)
            .is_some_and(|u| dir.users().get(index as usize).is_some_and(|r| r.id == u)),
    }
}

/// Whether `targets` need every user listed (an all_users rule, or a state for everyone).
pub fn needs_all_users(
    per_user: Option<&DeclaredPerUserMfa>,
    sign_in: Option<&DeclaredSignInPreferences>,
) -> bool {
    per_user.is_some_and(|p| p.state.is_some())
        || sign_in.is_some_and(|s| s.rules.iter().any(|r| r.target == RuleTarget::AllUsers))
}

/// The groups whose members decide who a declaration covers.
pub fn groups(
    per_user: Option<&DeclaredPerUserMfa>,
    sign_in: Option<&DeclaredSignInPreferences>,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let targets = per_user
        .map(|p| p.targets())
        .unwrap_or_default()
        .into_iter()
        .chain(sign_in.map(|s| s.targets()).unwrap_or_default());
    for t in targets {
        if let RuleTarget::Group(id) = t {
            let id = id.to_ascii_lowercase();
            if !out.contains(&id) {
                out.push(id);
            }
        }
    }
    out
}

/// The targets of one list, indexed so that finding those that cover a user costs that
/// user's own entries plus the group and `all_users` targets (a handful), not the whole list:
/// a declaration naming 100,000 users is planned in time proportionate to the users.
struct Coverage<'a> {
    targets: Vec<&'a RuleTarget>,
    /// Positions of the user targets, by object id, in the order written.
    by_user: std::collections::HashMap<u128, Vec<usize>>,
    /// Positions of the other targets, in the order written.
    others: Vec<usize>,
}

impl<'a> Coverage<'a> {
    fn new(targets: Vec<&'a RuleTarget>) -> Self {
        let mut by_user: std::collections::HashMap<u128, Vec<usize>> = Default::default();
        let mut others = Vec::new();
        for (n, t) in targets.iter().enumerate() {
            match t {
                RuleTarget::User(id) => {
                    // A name left unresolved covers nobody.
                    if let Some(u) = parse_guid(id) {
                        by_user.entry(u).or_default().push(n);
                    }
                }
                _ => others.push(n),
            }
        }
        Self {
            targets,
            by_user,
            others,
        }
    }

    /// The user targets that name user `index`, in the order written.
    fn users(&self, dir: &Directory, index: u32) -> &[usize] {
        dir.users()
            .get(index as usize)
            .and_then(|u| self.by_user.get(&u.id))
            .map_or(&[], Vec::as_slice)
    }

    /// The group and `all_users` targets that cover user `index`, in the order written.
    fn others<'s>(&'s self, dir: &'s Directory, index: u32) -> impl Iterator<Item = usize> + 's {
        self.others
            .iter()
            .copied()
            .filter(move |&n| covers(self.targets[n], dir, index))
    }

    /// Every target that covers user `index`, in the order written.
    fn covering(&self, dir: &Directory, index: u32) -> Vec<usize> {
        let mut out: Vec<usize> = self.users(dir, index).to_vec();
        out.extend(self.others(dir, index));
        out.sort_unstable();
        out
    }
}

/// The users a declaration covers, by index.
pub fn scope(dir: &Directory, targets: &[&RuleTarget], everyone: bool) -> Vec<u32> {
    let coverage = Coverage::new(targets.to_vec());
    (0..dir.users().len() as u32)
        .filter(|&i| {
            everyone
                || !coverage.users(dir, i).is_empty()
                || coverage.others(dir, i).next().is_some()
        })
        .collect()
}

/// An exception naming the user wins, then the first group exception that holds them,
/// then `state`.
fn per_user_target(
    decl: &DeclaredPerUserMfa,
    coverage: &Coverage<'_>,
    dir: &Directory,
    i: u32,
) -> Option<PerUserMfaState> {
    coverage
        .users(dir, i)
        .first()
        .copied()
        .or_else(|| coverage.others(dir, i).next())
        .map(|n| decl.exceptions[n].state)
        .or(decl.state)
}

fn rule_name(rule: &crate::policy::SignInRule) -> String {
    match &rule.name {
        Some(n) => format!("{} ({n}, {})", rule.location, rule.target.describe()),
        None => format!("{} ({})", rule.location, rule.target.describe()),
    }
}

const PREFERRED: &str = "userPreferredMethodForSecondaryAuthentication";
const SYSTEM_PREFERRED: &str = "isSystemPreferredAuthenticationMethodEnabled";

/// The per-user changes that make the users read match the declaration.
pub fn plan_users(
    dir: &Directory,
    per_user: Option<&DeclaredPerUserMfa>,
    sign_in: Option<&DeclaredSignInPreferences>,
) -> PerUserPlan {
    let mut out = PerUserPlan {
        after: dir.state().to_vec(),
        ..PerUserPlan::default()
    };
    let mut overlaps: BTreeMap<(String, usize, usize), usize> = BTreeMap::new();
    let exceptions = per_user.map(|p| Coverage::new(p.targets()));
    let rules = sign_in.map(|s| Coverage::new(s.targets()));
    for (i, user) in dir.users().iter().enumerate() {
        let index = i as u32;
        let live = dir.state()[i];
        let id = format_guid(user.id);
        if let Some(decl) = per_user
            && let Some(coverage) = &exceptions
            && let Some(want) = per_user_target(decl, coverage, dir, index)
            && let Some(have) = live.per_user_mfa
            && have != want
        {
            out.changes.push(UserChange {
                kind: UserChangeKind::PerUserMfa,
                user_id: id.clone(),
                user_principal_name: user.upn.to_string(),
                path: requirements_path(user.id),
                properties: vec![PropertyChange {
                    name: "perUserMfaState".into(),
                    before: json!(have.as_str()),
                    after: json!(want.as_str()),
                }],
                body: json!({"perUserMfaState": want.as_str()}),
            });
            out.after[i].per_user_mfa = Some(want);
        }
        let (Some(decl), Some(coverage)) = (sign_in, &rules) else {
            continue;
        };
        let matching = coverage.covering(dir, index);
        if matching.is_empty() || !live.sign_in_read {
            continue;
        }
        let first = |set: &dyn Fn(&crate::policy::SignInRule) -> bool,
                     property: &str,
                     overlaps: &mut BTreeMap<(String, usize, usize), usize>| {
            let setting: Vec<usize> = matching
                .iter()
                .copied()
                .filter(|&n| set(&decl.rules[n]))
                .collect();
            // An all_users rule is a catch-all, meant to be overridden: no overlap with it.
            for &later in setting
                .iter()
                .skip(1)
                .filter(|&&n| decl.rules[n].target != RuleTarget::AllUsers)
            {
                *overlaps
                    .entry((property.to_string(), setting[0], later))
                    .or_default() += 1;
            }
            setting.first().copied()
        };
        let mut properties = Vec::new();
        let mut body = Map::new();
        if let Some(n) = first(
            &|r| r.system_preferred.is_some(),
            SYSTEM_PREFERRED,
            &mut overlaps,
        ) && let Some(want) = decl.rules[n].system_preferred
            && live.system_preferred != Some(want)
        {
            properties.push(PropertyChange {
                name: SYSTEM_PREFERRED.into(),
                before: live.system_preferred.map_or(Value::Null, Value::Bool),
                after: json!(want),
            });
            body.insert(SYSTEM_PREFERRED.into(), json!(want));
            out.after[i].system_preferred = Some(want);
        }
        if let Some(n) = first(&|r| r.preferred_method.is_some(), PREFERRED, &mut overlaps)
            && let Some(want) = decl.rules[n].preferred_method
            && live.preferred != Some(want)
        {
            if !user.in_report {
                out.skipped.push(SkippedUser {
                    user_id: id.clone(),
                    user_principal_name: user.upn.to_string(),
                    property: PREFERRED.into(),
                    reason: "no registration details (a disabled account, or not in the report)"
                        .into(),
                });
            } else if !user.registered.any(want.needs()) {
                out.skipped.push(SkippedUser {
                    user_id: id.clone(),
                    user_principal_name: user.upn.to_string(),
                    property: PREFERRED.into(),
                    reason: format!(
                        "{} needs a registered {}",
                        want.as_str(),
                        want.needs().join(" or ")
                    ),
                });
            } else {
                properties.push(PropertyChange {
                    name: PREFERRED.into(),
                    before: live.preferred.map_or(Value::Null, |p| json!(p.as_str())),
                    after: json!(want.as_str()),
                });
                body.insert(PREFERRED.into(), json!(want.as_str()));
                out.after[i].preferred = Some(want);
            }
        }
        if !properties.is_empty() {
            out.changes.push(UserChange {
                kind: UserChangeKind::SignInPreferences,
                user_id: id,
                user_principal_name: user.upn.to_string(),
                path: sign_in_preferences_path(user.id),
                properties,
                body: Value::Object(body),
            });
        }
    }
    if let Some(decl) = sign_in {
        out.overlaps = overlaps
            .into_iter()
            .map(|((property, winner, shadowed), users)| Overlap {
                property,
                winner: rule_name(&decl.rules[winner]),
                shadowed: rule_name(&decl.rules[shadowed]),
                users,
            })
            .collect();
    }
    out
}
