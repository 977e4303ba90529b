//! The safety guard of `apply` and `reconcile` in enforce mode: a plan that leaves an enabled
//! member without an MFA requirement they had, or locks anyone out (no usable method left, a
//! block, a strength they cannot satisfy), is refused unless the operator allows that many.

use super::Plan;
use crate::simulate::coverage::AffectedUser;

/// How many users the operator allows a plan to leave unprotected or lock out
/// (`--allow-unprotected`, `--allow-lockout`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Allowance {
    /// Enabled members who may lose their MFA requirement.
    pub unprotected: usize,
    /// Users who may be locked out.
    pub lockout: usize,
}

/// How many users each refusal names.
const NAMED: usize = 5;

fn named(users: &[String], total: usize) -> String {
    let more = if total > users.len() { ", …" } else { "" };
    format!("{}{more}", users.join(", "))
}

fn with_reason(u: &AffectedUser, what: &str) -> String {
    format!("{} ({what} {})", u.name(), u.reasons())
}

impl Plan {
    /// Why the guard refuses this plan under `allow`, naming the first users and the step
    /// or policy responsible; `None` when it may be applied.
    pub fn refusal(&self, allow: Allowance) -> Option<String> {
        let mut why = Vec::new();
        if let Some(reason) = self.impact_unknown() {
            why.push(format!(
                "the plan changes the authentication methods policy, but its impact on sign-in could not be computed ({reason}): nobody can tell whether users are left with no usable MFA method"
            ));
        }
        if let Some(reason) = self.coverage_unknown() {
            why.push(format!(
                "the plan can change who must do MFA, but that could not be weighed ({reason}): nobody can tell whether members are left without an MFA requirement"
            ));
        }
        let unprotected = self.unprotected();
        if let Some(c) = self
            .coverage
            .as_ref()
            .filter(|_| unprotected > allow.unprotected)
        {
            let users: Vec<String> = c
                .lost
                .first
                .iter()
                .filter(|u| !u.guest)
                .take(NAMED)
                .map(|u| with_reason(u, "loses"))
                .collect();
            why.push(format!(
                "the plan leaves {unprotected} enabled member(s) without the MFA requirement they had ({}); declare a Conditional Access policy that requires MFA of them, or pass --allow-unprotected {unprotected} if this is intended",
                named(&users, unprotected)
            ));
        }
        let locked = self.lockouts();
        if locked > allow.lockout {
            let mut users: Vec<String> = self
                .impact
                .iter()
                .flat_map(|i| &i.newly_without)
                .map(|u| {
                    format!(
                        "{} (no usable method left; was {})",
                        u.user_principal_name, u.before
                    )
                })
                .collect();
            if let Some(c) = &self.coverage {
                users.extend(
                    c.newly_blocked
                        .first
                        .iter()
                        .map(|u| with_reason(u, "blocked by")),
                );
                users.extend(
                    c.cannot_satisfy
                        .first
                        .iter()
                        .map(|u| with_reason(u, "cannot satisfy the strength of")),
                );
            }
            users.truncate(NAMED);
            why.push(format!(
                "the plan locks out {locked} user(s) ({}); fix the policy, or pass --allow-lockout {locked} if this is intended",
                named(&users, locked)
            ));
        }
        (!why.is_empty()).then(|| why.join("; and "))
    }
}
