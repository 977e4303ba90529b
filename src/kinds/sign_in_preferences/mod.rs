//! `kind: SignInPreferences`: each user's default MFA method and system-preferred flag, beta
//! `users/{id}/authentication/signInPreferences`. Its spec and resolution order are in
//! [`spec`].

pub mod spec;

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::methods_policy::POLICY_PATH;
use super::per_user::coverage::Coverage;
use super::per_user::{
    KindUserPlan, Overlap, PREFERRED, RuleTarget, SYSTEM_PREFERRED, SkippedUser, UserChange,
    UserChangeKind,
};
use super::{Declare, Kind, PerUser, Phase, PropertyChange, Spec};
use crate::simulate::directory::{Directory, UserState, format_guid};
use crate::source::diagnostic::Finding;
use crate::tenant::names::{Names, Resolution};
use crate::tenant::users::{UserResource, sign_in_preferences_path};

pub use spec::{DeclaredSignInPreferences, SignInRule};

/// The `SignInPreferences` kind.
pub struct SignInPreferences;

impl Kind for SignInPreferences {
    const NAME: &'static str = "SignInPreferences";
    const PHASE: Phase = Phase::Users;
    type Declared = DeclaredSignInPreferences;
    type Desired = DeclaredSignInPreferences;

    fn names(declared: &DeclaredSignInPreferences, names: &mut Names) {
        for r in &declared.rules {
            super::per_user::add_name(&r.target, &r.location, names);
        }
    }

    fn desired(
        declared: &DeclaredSignInPreferences,
        resolved: &Resolution,
    ) -> DeclaredSignInPreferences {
        let mut desired = declared.clone();
        for r in &mut desired.rules {
            super::per_user::resolve(&mut r.target, resolved);
        }
        desired
    }
}

impl Declare for SignInPreferences {
    fn declare(spec: &Spec<'_>) -> (Option<DeclaredSignInPreferences>, Vec<Finding>) {
        let (declared, found) = spec::read(spec);
        (Some(declared), found)
    }
}

impl PerUser for SignInPreferences {
    const RESOURCE: UserResource = UserResource::SignInPreferences;
    /// The live methods policy decides whether a user's own system-preferred flag matters.
    const READS: &'static [&'static str] = &[POLICY_PATH];

    fn targets(desired: &DeclaredSignInPreferences) -> Vec<&RuleTarget> {
        desired.targets()
    }

    fn everyone(_: &DeclaredSignInPreferences) -> bool {
        false
    }

    /// For each property separately, the first rule in the order written that targets the
    /// user and sets it decides; a default method is only set for users who registered a
    /// method that supports it, the others are skipped.
    fn plan(
        desired: &DeclaredSignInPreferences,
        dir: &Directory,
        after: &mut [UserState],
    ) -> KindUserPlan {
        let mut out = KindUserPlan::default();
        let mut overlaps: BTreeMap<(String, usize, usize), usize> = BTreeMap::new();
        let coverage = Coverage::new(desired.targets());
        for (i, user) in dir.users().iter().enumerate() {
            let index = i as u32;
            let live = dir.state()[i];
            let id = format_guid(user.id);
            let matching = coverage.covering(dir, index);
            if matching.is_empty() || !live.sign_in_read {
                continue;
            }
            let first =
                |set: &dyn Fn(&SignInRule) -> bool,
                 property: &str,
                 overlaps: &mut BTreeMap<(String, usize, usize), usize>| {
                    let setting: Vec<usize> = matching
                        .iter()
                        .copied()
                        .filter(|&n| set(&desired.rules[n]))
                        .collect();
                    // An all_users rule is a catch-all, meant to be overridden: no overlap with it.
                    for &later in setting
                        .iter()
                        .skip(1)
                        .filter(|&&n| desired.rules[n].target != RuleTarget::AllUsers)
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
            ) && let Some(want) = desired.rules[n].system_preferred
                && live.system_preferred != Some(want)
            {
                properties.push(PropertyChange {
                    name: SYSTEM_PREFERRED.into(),
                    before: live.system_preferred.map_or(Value::Null, Value::Bool),
                    after: json!(want),
                });
                body.insert(SYSTEM_PREFERRED.into(), json!(want));
                after[i].system_preferred = Some(want);
            }
            if let Some(n) = first(&|r| r.preferred_method.is_some(), PREFERRED, &mut overlaps)
                && let Some(want) = desired.rules[n].preferred_method
                && live.preferred != Some(want)
            {
                if !user.in_report {
                    out.skipped.push((
                        index,
                        SkippedUser {
                            user_id: id.clone(),
                            user_principal_name: user.upn.to_string(),
                            property: PREFERRED.into(),
                            reason:
                                "no registration details (a disabled account, or not in the report)"
                                    .into(),
                        },
                    ));
                } else if !user.registered.any(want.needs()) {
                    out.skipped.push((
                        index,
                        SkippedUser {
                            user_id: id.clone(),
                            user_principal_name: user.upn.to_string(),
                            property: PREFERRED.into(),
                            reason: format!(
                                "{} needs a registered {}",
                                want.as_str(),
                                want.needs().join(" or ")
                            ),
                        },
                    ));
                } else {
                    properties.push(PropertyChange {
                        name: PREFERRED.into(),
                        before: live.preferred.map_or(Value::Null, |p| json!(p.as_str())),
                        after: json!(want.as_str()),
                    });
                    body.insert(PREFERRED.into(), json!(want.as_str()));
                    after[i].preferred = Some(want);
                }
            }
            if !properties.is_empty() {
                out.changes.push((
                    index,
                    UserChange {
                        kind: UserChangeKind::SignInPreferences,
                        user_id: id,
                        user_principal_name: user.upn.to_string(),
                        path: sign_in_preferences_path(user.id),
                        properties,
                        body: Value::Object(body),
                    },
                ));
            }
        }
        out.overlaps = overlaps
            .into_iter()
            .map(|((property, winner, shadowed), users)| Overlap {
                property,
                winner: rule_name(&desired.rules[winner]),
                shadowed: rule_name(&desired.rules[shadowed]),
                users,
            })
            .collect();
        out
    }
}

fn rule_name(rule: &SignInRule) -> String {
    match &rule.name {
        Some(n) => format!("{} ({n}, {})", rule.location, rule.target.describe()),
        None => format!("{} ({})", rule.location, rule.target.describe()),
    }
}
