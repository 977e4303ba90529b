//! Applying a plan staged by `crate::plan::migration`: the ids of the items the plan
//! creates filled into the paths that enable them and the bodies that reference them,
//! security defaults switched off only when the first enable can follow at once, the window
//! without an MFA requirement measured, and security defaults turned back on when a step
//! after the switch fails before any policy is enforced.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::graph::pace::Charge;
use crate::graph::{GraphClient, GraphError};
use crate::kinds::conditional_access::POLICIES_PATH;
use crate::kinds::security_defaults::SECURITY_DEFAULTS_PATH;
use crate::plan::migration::{created, enables, switches_off};
use crate::plan::{PropertyChange, ResourceChange};
use crate::printer::{self, Level};

/// How long security defaults were off before Conditional Access enforced MFA.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// From the answer that switched security defaults off to the answer that enabled the
    /// first policy.
    pub first: Duration,
    /// To the answer that enabled the last policy.
    pub last: Duration,
}

/// What apply keeps while it sends a staged plan.
#[derive(Debug, Default)]
pub struct Staging {
    /// Resource → id of each item a create of this run made.
    created: HashMap<String, String>,
    /// When the answer that switched security defaults off arrived.
    switched_off: Option<Instant>,
    /// The window so far.
    window: Option<Window>,
}

impl Staging {
    /// `change` with the id of each item created earlier in this run where its placeholder
    /// stands: in the path (a policy enabled after its create), and as a value of the body
    /// and of the changed properties (a policy naming a location or strength created
    /// before it), so that what is sent, audited and verified carries the id.
    pub fn resolved(&self, change: &ResourceChange) -> ResourceChange {
        let mut out = change.clone();
        for (resource, id) in &self.created {
            let placeholder = created(resource);
            if out.path.contains(&placeholder) {
                out.path = out.path.replace(&placeholder, id);
            }
            fill(&mut out.body, &placeholder, id);
            for p in &mut out.properties {
                fill(&mut p.after, &placeholder, id);
            }
        }
        out
    }

    /// Before sending `change`: when it switches security defaults off, waits until the
    /// pacer would let a Conditional Access request go at once, so that the first enable
    /// follows the switch without waiting for the one-a-second limit.
    pub async fn before(&self, client: &GraphClient, change: &ResourceChange) {
        if switches_off(change) {
            let enable = Charge::of("PATCH", POLICIES_PATH, None);
            let wait = client.pacer().ready_in(enable);
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
        }
    }

    /// After `change` was accepted with `answer`: keeps a created item's id, and times the
    /// window.
    pub fn after(&mut self, change: &ResourceChange, answer: Option<&Value>) {
        let now = Instant::now();
        if change.method == "POST"
            && let Some(id) = answer.and_then(|a| a["id"].as_str())
        {
            self.created.insert(change.resource.clone(), id.to_string());
        }
        if switches_off(change) {
            self.switched_off = Some(now);
        }
        if enables(change)
            && let Some(off) = self.switched_off
        {
            let since = now.duration_since(off);
            self.window = Some(Window {
                first: self.window.map_or(since, |w| w.first),
                last: since,
            });
        }
    }

    /// The window, once a policy was enabled after the switch.
    pub fn window(&self) -> Option<Window> {
        self.window
    }

    /// Whether security defaults went off in this run and no policy has been enabled since:
    /// nobody is required to do MFA by what this run did.
    pub fn unprotected(&self) -> bool {
        self.switched_off.is_some() && self.window.is_none()
    }
}

/// Replaces every string of `value` that is `placeholder` with `id`.
fn fill(value: &mut Value, placeholder: &str, id: &str) {
    match value {
        Value::String(s) if s == placeholder => *s = id.to_string(),
        Value::Array(items) => items.iter_mut().for_each(|v| fill(v, placeholder, id)),
        Value::Object(m) => m.values_mut().for_each(|v| fill(v, placeholder, id)),
        _ => {}
    }
}

/// The change that turns security defaults back on.
pub fn rollback() -> ResourceChange {
    ResourceChange {
        resource: "identitySecurityDefaultsEnforcementPolicy".into(),
        method: "PATCH".into(),
        path: SECURITY_DEFAULTS_PATH.into(),
        properties: vec![PropertyChange {
            name: "isEnabled".into(),
            before: json!(false),
            after: json!(true),
        }],
        body: json!({"isEnabled": true}),
    }
}

/// Sends [`rollback`].
pub async fn roll_back(client: &GraphClient) -> Result<(), GraphError> {
    let change = rollback();
    client.patch(&change.path, &change.body).await.map(|_| ())
}

/// Reports the move off security defaults for `tenant`: how long nobody was required to do
/// MFA by what the run changed, and whether security defaults were turned back on.
pub fn report(tenant: &str, outcome: &super::ApplyOutcome) {
    let fields = [("tenant", Value::String(tenant.to_string()))];
    if let Some(w) = outcome.window {
        printer::event(
            Level::Info,
            &format!(
                "{tenant}: security defaults were off {:.2} s before the first Conditional Access policy was enabled, {:.2} s before the last",
                w.first.as_secs_f64(),
                w.last.as_secs_f64()
            ),
            &fields,
        );
    }
    match &outcome.rolled_back {
        Some(Ok(())) => printer::event(
            Level::Warn,
            &format!(
                "{tenant}: security defaults were turned back on: a step after switching them off failed before any Conditional Access policy was enforced"
            ),
            &fields,
        ),
        Some(Err(e)) => printer::event(
            Level::Error,
            &format!(
                "{tenant}: security defaults are OFF and could not be turned back on ({e}); no Conditional Access policy is enforced: turn them on in the Entra admin center, or run apply again"
            ),
            &fields,
        ),
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_ids_replace_their_placeholders_in_paths_bodies_and_properties() {
        let mut staging = Staging::default();
        let location = ResourceChange {
            resource: "namedLocations/Office".into(),
            method: "POST".into(),
            path: "/v1.0/identity/conditionalAccess/namedLocations".into(),
            properties: Vec::new(),
            body: json!({"displayName": "Office"}),
        };
        staging.after(&location, Some(&json!({"id": "loc-1"})));
        let placeholder = created("namedLocations/Office");
        let conditions =
            json!({"locations": {"includeLocations": ["All"], "excludeLocations": [placeholder]}});
        let policy = ResourceChange {
            resource: "conditionalAccessPolicies/P".into(),
            method: "PATCH".into(),
            path: format!("{POLICIES_PATH}/{}", created("conditionalAccessPolicies/P")),
            properties: vec![PropertyChange {
                name: "conditions".into(),
                before: Value::Null,
                after: conditions.clone(),
            }],
            body: json!({"conditions": conditions, "description": format!("see {placeholder}")}),
        };
        let sent = staging.resolved(&policy);
        let want =
            json!({"locations": {"includeLocations": ["All"], "excludeLocations": ["loc-1"]}});
        assert_eq!(sent.body["conditions"], want);
        assert_eq!(sent.properties[0].after, want);
        assert_eq!(
            sent.body["description"],
            json!(format!("see {placeholder}")),
            "only whole values are placeholders"
        );
        assert_eq!(
            sent.path, policy.path,
            "a policy not created in this run keeps its placeholder"
        );
    }
}
