//! `kind: PerUserMfa`: legacy per-user MFA state, beta
//! `users/{id}/authentication/requirements` (`perUserMfaState`). Its spec and resolution
//! order are in [`spec`].

pub mod spec;

use serde_json::json;

use super::per_user::coverage::Coverage;
use super::per_user::{KindUserPlan, RuleTarget, UserChange, UserChangeKind};
use super::{Declare, Kind, PerUser, Phase, PropertyChange, Spec};
use crate::msgraph::{PerUserMfaState, is_mfa_registration};
use crate::simulate::directory::{Directory, UserState, format_guid};
use crate::source::diagnostic::Finding;
use crate::tenant::names::{Names, Resolution};
use crate::tenant::users::{UserResource, requirements_path};

pub use spec::{DeclaredPerUserMfa, PerUserMfaException};

/// The `PerUserMfa` kind.
pub struct PerUserMfa;

impl Kind for PerUserMfa {
    const NAME: &'static str = "PerUserMfa";
    const PHASE: Phase = Phase::Users;
    type Declared = DeclaredPerUserMfa;
    type Desired = DeclaredPerUserMfa;

    fn names(declared: &DeclaredPerUserMfa, names: &mut Names) {
        for e in &declared.exceptions {
            super::per_user::add_name(&e.target, &e.location, names);
        }
    }

    fn desired(declared: &DeclaredPerUserMfa, resolved: &Resolution) -> DeclaredPerUserMfa {
        let mut desired = declared.clone();
        for e in &mut desired.exceptions {
            super::per_user::resolve(&mut e.target, resolved);
        }
        desired
    }
}

impl Declare for PerUserMfa {
    fn declare(spec: &Spec<'_>) -> (Option<DeclaredPerUserMfa>, Vec<Finding>) {
        let (declared, found) = spec::read(spec);
        (Some(declared), found)
    }
}

impl PerUser for PerUserMfa {
    const RESOURCE: UserResource = UserResource::Requirements;

    fn targets(desired: &DeclaredPerUserMfa) -> Vec<&RuleTarget> {
        desired.targets()
    }

    fn everyone(desired: &DeclaredPerUserMfa) -> bool {
        desired.state.is_some()
    }

    fn plan(
        desired: &DeclaredPerUserMfa,
        dir: &Directory,
        after: &mut [UserState],
    ) -> KindUserPlan {
        let mut out = KindUserPlan::default();
        let coverage = Coverage::new(desired.targets());
        let mut enforced_as_enabled = 0usize;
        for (i, user) in dir.users().iter().enumerate() {
            let index = i as u32;
            let Some(want) = per_user_target(desired, &coverage, dir, index) else {
                continue;
            };
            // Entra stores `enabled` as `enforced` for a user who registered an MFA method;
            // where registrations were not read, `enforced` (the stricter) is taken as meeting it.
            let registered = !user.in_report || user.registered.values().any(is_mfa_registration);
            let have = dir.state()[i].per_user_mfa;
            if have.is_some_and(|h| h != want && h == want.as_stored(registered)) {
                enforced_as_enabled += 1;
                continue;
            }
            if let Some(have) = have
                && have != want
            {
                out.changes.push((
                    index,
                    UserChange {
                        kind: UserChangeKind::PerUserMfa,
                        user_id: format_guid(user.id),
                        user_principal_name: user.upn.to_string(),
                        path: requirements_path(user.id),
                        properties: vec![PropertyChange {
                            name: "perUserMfaState".into(),
                            before: json!(have.as_str()),
                            after: json!(want.as_str()),
                        }],
                        body: json!({"perUserMfaState": want.as_str()}),
                    },
                ));
                after[i].per_user_mfa = Some(want.as_stored(registered));
            }
        }
        if enforced_as_enabled > 0 {
            out.notes.push(format!(
                "{enforced_as_enabled} user(s) declared `enabled` for legacy per-user MFA show `enforced`: Entra turns `enabled` into `enforced` once a user has registered an MFA method, so they are in sync"
            ));
        }
        out
    }
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
