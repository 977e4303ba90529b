//! Applying a plan staged by `crate::plan::migration`: the ids of the policies the plan
//! creates filled into the paths that enable them, security defaults switched off only when
//! the first enable can follow at once, the window without an MFA requirement measured, and
//! security defaults turned back on when a step after the switch fails before any policy is
//! enforced.

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
    /// `change` with the id of an item created earlier in this run in its path.
    pub fn resolved(&self, change: &ResourceChange) -> ResourceChange {
        let mut out = change.clone();
        for (resource, id) in &self.created {
            let placeholder = created(resource);
            if out.path.contains(&placeholder) {
                out.path = out.path.replace(&placeholder, id);
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
