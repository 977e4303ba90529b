//! The move from security defaults to Conditional Access, staged so that nobody is left
//! without an MFA requirement for longer than a few round trips (FACTS-CA items 28–30, 37).
//!
//! Graph refuses a Conditional Access policy in state `enabled` while security defaults are
//! on, and accepts one in report-only. So when a plan turns security defaults off and
//! enables policies, each policy is first created or updated in
//! `enabledForReportingButNotEnforced` (before the switch, in its own phase), then security
//! defaults go off, then each policy is enabled with its own PATCH — the policies that
//! require MFA of every user for every resource first. A policy created by this plan is
//! enabled through `{created:<resource>}` in its path, which apply replaces with the id the
//! create answered. A plan that enables a policy while security defaults stay on is refused
//! before anything is sent.

use serde_json::{Value, json};

use super::{DesiredState, LiveState, PlanError, PropertyChange, ResourceChange};
use crate::kinds::conditional_access::POLICIES_PATH;
use crate::kinds::security_defaults::SECURITY_DEFAULTS_PATH;

pub use crate::kinds::collection::created;

/// Report-only: evaluated and logged, never enforced.
const REPORT_ONLY: &str = "enabledForReportingButNotEnforced";

/// Whether `change` is a Conditional Access create or update that enables its policy.
pub fn enables(change: &ResourceChange) -> bool {
    change.path.starts_with(POLICIES_PATH)
        && change.method != "DELETE"
        && change.body["state"] == "enabled"
}

/// Whether `change` turns security defaults off.
pub fn switches_off(change: &ResourceChange) -> bool {
    change.path == SECURITY_DEFAULTS_PATH && change.body["isEnabled"] == json!(false)
}

/// Stages `changes` (ordered by phase) for the move off security defaults, or refuses to
/// enable a policy while they stay on. Plans that enable no policy are returned as they are.
pub fn stage(
    changes: Vec<ResourceChange>,
    desired: &DesiredState,
    live: &LiveState,
) -> Result<Vec<ResourceChange>, PlanError> {
    if !changes.iter().any(enables) {
        return Ok(changes);
    }
    let on_now = live
        .security_defaults
        .as_ref()
        .is_some_and(|sd| sd["isEnabled"] == json!(true));
    let Some(switch) = changes.iter().position(switches_off) else {
        if on_now && let Some(change) = changes.iter().find(|c| enables(c)) {
            return Err(PlanError::EnabledWhileSecurityDefaultsOn {
                policy: change.resource.clone(),
            });
        }
        return Ok(changes);
    };
    let everyone = |resource: &str| {
        desired.conditional_access_policies.iter().any(|p| {
            resource.ends_with(&format!("/{}", p.display_name)) && p.requires_mfa_of_everyone()
        })
    };
    let mut staged = Vec::with_capacity(changes.len() * 2);
    let mut enable = Vec::new();
    for (i, mut change) in changes.into_iter().enumerate() {
        if i < switch && enables(&change) {
            let before = change
                .properties
                .iter()
                .find(|p| p.name == "state")
                .map_or(Value::Null, |p| p.before.clone());
            let path = if change.method == "PATCH" {
                change.path.clone()
            } else {
                format!("{POLICIES_PATH}/{}", created(&change.resource))
            };
            if before == json!(REPORT_ONLY) {
                // Already report-only: only the other changes go before the switch.
                change.properties.retain(|p| p.name != "state");
                if let Some(body) = change.body.as_object_mut() {
                    body.remove("state");
                }
            } else {
                change.body["state"] = json!(REPORT_ONLY);
                for p in change.properties.iter_mut().filter(|p| p.name == "state") {
                    p.after = json!(REPORT_ONLY);
                }
            }
            enable.push(ResourceChange {
                resource: change.resource.clone(),
                method: "PATCH".into(),
                path,
                properties: vec![PropertyChange {
                    name: "state".into(),
                    before: json!(REPORT_ONLY),
                    after: json!("enabled"),
                }],
                body: json!({"state": "enabled"}),
            });
            if !change.properties.is_empty() {
                staged.push(change);
            }
            continue;
        }
        let after_switch = i == switch;
        staged.push(change);
        if after_switch {
            // The policies that replace security defaults for everyone go first.
            enable.sort_by_key(|c| !everyone(&c.resource));
            staged.append(&mut enable);
        }
    }
    Ok(staged)
}

#[cfg(test)]
mod tests;
