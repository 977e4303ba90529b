//! `apply -o json`: what an apply did, per tenant — the requests applied, those that
//! failed (one, or the tokens of a failed bulk create), those not attempted after them, the per-user changes likewise, and whether the
//! re-read showed every change.

use serde_json::{Value, json};

use crate::apply::{ApplyOutcome, user_resource};
use crate::graph::GraphError;
use crate::kinds::ResourceChange;
use crate::kinds::per_user::UserChange;
use crate::plan::{FORMAT_VERSION, Plan};

/// Output formats of `apply` (`-o`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ApplyFormat {
    /// Progress and the result as lines for people.
    Human,
    /// One JSON document on stdout at the end (`formatVersion`, applied, failed, not
    /// attempted); the lines for people stay on stderr.
    Json,
}

fn resource(c: &ResourceChange) -> Value {
    json!({
        "resource": c.resource,
        "method": c.method,
        "path": c.path,
        "properties": c.properties.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
    })
}

fn user(c: &UserChange) -> Value {
    json!({
        "resource": user_resource(c),
        "userId": c.user_id,
        "userPrincipalName": c.user_principal_name,
        "path": c.path,
    })
}

/// Each failed change as `shape` shows it, with its `error`.
fn with_errors<C>(failed: &[(C, GraphError)], shape: impl Fn(&C) -> Value) -> Vec<Value> {
    failed
        .iter()
        .map(|(change, cause)| {
            let mut v = shape(change);
            v["error"] = json!(cause.to_string());
            v
        })
        .collect()
}

/// One tenant's apply; `verify` is what the re-read left unconverged, `None` when it was not
/// done (the apply was incomplete).
pub fn tenant(plan: &Plan, outcome: &ApplyOutcome, unconverged: Option<&[String]>) -> Value {
    let failed = with_errors(&outcome.failed, resource);
    let users_failed = with_errors(&outcome.users_failed, user);
    json!({
        "formatVersion": FORMAT_VERSION,
        "tenant": plan.tenant,
        "inSync": false,
        "interrupted": outcome.interrupted,
        "applied": outcome.applied.iter().map(resource).collect::<Vec<_>>(),
        "failed": failed,
        "notAttempted": outcome.not_attempted.iter().map(resource).collect::<Vec<_>>(),
        "users": {
            "applied": outcome.users_applied.iter().map(user).collect::<Vec<_>>(),
            "failed": users_failed,
            "notAttempted": outcome.users_not_attempted,
        },
        "verified": unconverged.map(<[String]>::is_empty),
        "unconverged": unconverged.unwrap_or_default(),
    })
}

/// A tenant that was already in sync: nothing to apply.
pub fn in_sync(plan: &Plan) -> Value {
    json!({
        "formatVersion": FORMAT_VERSION,
        "tenant": plan.tenant,
        "inSync": true,
        "interrupted": false,
        "applied": [],
        "failed": [],
        "notAttempted": [],
        "users": {"applied": [], "failed": [], "notAttempted": 0},
        "verified": true,
        "unconverged": [],
    })
}

/// Pretty-printed, ending with a newline.
pub fn text(doc: &Value) -> String {
    let mut s = serde_json::to_string_pretty(doc).unwrap_or_default();
    s.push('\n');
    s
}
