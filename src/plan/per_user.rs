//! The per-user part of a plan, generic over the per-user kinds (`crate::kinds::PerUser`): who must be
//! read, and the kinds' changes merged user by user. The resolution order of each kind is in
//! its own module (`crate::kinds::per_user_mfa`, `crate::kinds::sign_in_preferences`).
//!
//! A default method is only set for users who registered a method that supports it; the
//! others are listed as skipped, never as drift that no PATCH could fix.

use crate::kinds::per_user::{Overlap, RuleTarget, SkippedUser, UserChange};
use crate::kinds::{DesiredState, UserScope};
use crate::simulate::directory::{Directory, UserState};

/// The per-user part of a plan.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PerUserPlan {
    /// The PATCHes, by user.
    pub changes: Vec<UserChange>,
    /// Declared values that cannot be applied.
    pub skipped: Vec<SkippedUser>,
    /// Rule overlaps seen through group membership.
    pub overlaps: Vec<Overlap>,
    /// Why live values that differ from the declaration are in sync.
    pub notes: Vec<String>,
    /// Every user's state once the changes are applied.
    pub after: Vec<UserState>,
}

/// Whether the per-user kinds need every user listed (a state for everyone, or an
/// `all_users` rule).
pub fn needs_all_users(scopes: &[UserScope<'_>]) -> bool {
    scopes
        .iter()
        .any(|s| s.everyone || s.targets.contains(&&RuleTarget::AllUsers))
}

/// The groups whose members decide who a declaration covers, each once, in the order
/// written.
pub fn groups(scopes: &[UserScope<'_>]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in scopes.iter().flat_map(|s| s.targets.iter()) {
        if let RuleTarget::Group(id) = t {
            let id = id.to_ascii_lowercase();
            if !out.contains(&id) {
                out.push(id);
            }
        }
    }
    out
}

/// The per-user changes that make the users read match the declaration: each kind's, merged
/// user by user (a user's changes in the order of the kinds).
pub fn plan_users(dir: &Directory, desired: &DesiredState) -> PerUserPlan {
    let mut after = dir.state().to_vec();
    let plans = desired.per_user_plans(dir, &mut after);
    let mut changes: Vec<(u32, UserChange)> = Vec::new();
    let mut skipped: Vec<(u32, SkippedUser)> = Vec::new();
    let mut overlaps: Vec<Overlap> = Vec::new();
    let mut notes = Vec::new();
    for plan in plans {
        changes.extend(plan.changes);
        skipped.extend(plan.skipped);
        overlaps.extend(plan.overlaps);
        notes.extend(plan.notes);
    }
    // Stable: a user's changes keep the order of the kinds.
    changes.sort_by_key(|(i, _)| *i);
    skipped.sort_by_key(|(i, _)| *i);
    PerUserPlan {
        changes: changes.into_iter().map(|(_, c)| c).collect(),
        skipped: skipped.into_iter().map(|(_, s)| s).collect(),
        overlaps,
        notes,
        after,
    }
}
