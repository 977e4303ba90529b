//! Before and after a plan: who is prompted with what, and who is left with no usable method.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::directory::{UserState, format_guid};
use super::explain::{NONE, Simulation};

/// Users prompted with `from` before and `to` after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    /// Prompt method before (`push`, `sms`, ..., `none`).
    pub from: String,
    /// Prompt method after.
    pub to: String,
    /// How many users.
    pub users: usize,
}

/// A user named in an impact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AffectedUser {
    /// Object id.
    pub id: String,
    /// User principal name.
    pub user_principal_name: String,
    /// Prompt method before.
    pub before: String,
}

/// What a plan does to the people of the tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Impact {
    /// Users simulated (those with registration details).
    pub users: usize,
    /// Users whose first prompt changes.
    pub changed: usize,
    /// From→to counts of users whose prompt changes, largest first.
    pub transitions: Vec<Transition>,
    /// Users who had a usable method before and have none after: a lockout.
    pub newly_without: Vec<AffectedUser>,
    /// Users with no usable method before.
    pub without_before: usize,
    /// Users with no usable method after.
    pub without_after: usize,
}

impl Impact {
    /// Users with no usable method before the plan and none after: not a lockout by this
    /// plan, so the guard does not count them, and the plan shows them apart.
    pub fn already_without(&self) -> usize {
        self.without_after.saturating_sub(self.newly_without.len())
    }
}

/// Compares every user with registration details before and after.
pub fn impact(
    before: &Simulation<'_>,
    before_state: &[UserState],
    after: &Simulation<'_>,
    after_state: &[UserState],
) -> Impact {
    let mut out = Impact::default();
    let mut matrix: BTreeMap<(&'static str, &'static str), usize> = BTreeMap::new();
    for (i, user) in before.directory.users().iter().enumerate() {
        if !user.in_report {
            continue;
        }
        let default = UserState::default();
        let b = before
            .outcome(i as u32, before_state.get(i).unwrap_or(&default))
            .method();
        let a = after
            .outcome(i as u32, after_state.get(i).unwrap_or(&default))
            .method();
        out.users += 1;
        out.without_before += usize::from(b == NONE);
        out.without_after += usize::from(a == NONE);
        if a != b {
            out.changed += 1;
            *matrix.entry((b, a)).or_default() += 1;
            if a == NONE {
                out.newly_without.push(AffectedUser {
                    id: format_guid(user.id),
                    user_principal_name: user.upn.to_string(),
                    before: b.to_string(),
                });
            }
        }
    }
    let mut transitions: Vec<Transition> = matrix
        .into_iter()
        .map(|((from, to), users)| Transition {
            from: from.into(),
            to: to.into(),
            users,
        })
        .collect();
    transitions.sort_by(|x, y| {
        y.users
            .cmp(&x.users)
            .then_with(|| (&x.from, &x.to).cmp(&(&y.from, &y.to)))
    });
    out.transitions = transitions;
    out
}

/// Users per prompt method, for a summary.
pub fn summary(sim: &Simulation<'_>, state: &[UserState]) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::new();
    let default = UserState::default();
    for (i, user) in sim.directory.users().iter().enumerate() {
        if user.in_report {
            let m = sim
                .outcome(i as u32, state.get(i).unwrap_or(&default))
                .method();
            *counts.entry(m).or_default() += 1;
        }
    }
    counts
}
