//! The pure decision of what to send one provider next, and the fingerprint that tells one
//! drift (or failure) from another.

use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};

use super::{Entry, action_key};
use crate::notify::DriftAlert;

/// What to do for one provider, given what it was last sent and the current pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// No drift, and none outstanding: say nothing.
    Nothing,
    /// The same drift (and the same outcome) was already sent, and no reminder is due.
    Skip,
    /// A new or changed drift, or a new outcome for it (observed → applied): send it.
    Alert,
    /// The same drift as last sent, `remindAfter` ago or more: send it again as a reminder.
    Reminder,
    /// An alerted drift is gone: send "resolved", then forget it.
    Resolved,
}

impl Decision {
    /// `nothing`, `skip`, `alert`, `reminder`, `resolved` (for logs and metrics labels).
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Nothing => "nothing",
            Decision::Skip => "skip",
            Decision::Alert => "alert",
            Decision::Reminder => "reminder",
            Decision::Resolved => "resolved",
        }
    }

    /// Whether a message is due.
    pub fn sends(self) -> bool {
        matches!(
            self,
            Decision::Alert | Decision::Reminder | Decision::Resolved
        )
    }
}

/// Decides what to send one provider (pure; `now` is the clock).
///
/// - drift (or a failure) with nothing recorded, or a different fingerprint, or a
///   different outcome for the same drift → [`Decision::Alert`];
/// - the same drift and outcome → [`Decision::Skip`], or [`Decision::Reminder`] once
///   `remind_after` has passed since it was last sent;
/// - no drift after an outstanding alert → [`Decision::Resolved`];
/// - no drift, and nothing outstanding (never alerted, or the alert already said
///   "repaired") → [`Decision::Nothing`].
pub fn decide(
    prev: Option<&Entry>,
    alert: &DriftAlert,
    fingerprint: &str,
    remind_after: Option<Duration>,
    now: SystemTime,
) -> Decision {
    if !alert.has_drift() {
        return match prev {
            Some(e) if !e.repaired() => Decision::Resolved,
            _ => Decision::Nothing,
        };
    }
    match prev {
        None => Decision::Alert,
        Some(e) if e.fingerprint != fingerprint || e.action != action_key(alert) => Decision::Alert,
        Some(e) => match remind_after {
            Some(d) if e.last_sent.checked_add(d).is_some_and(|due| now >= due) => {
                Decision::Reminder
            }
            _ => Decision::Skip,
        },
    }
}

/// `value` with every object's keys sorted, so that equal values print equally.
fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for k in keys {
                out.insert(k.clone(), canonical(&m[k.as_str()]));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// The identity of what is alerted: SHA-256 (hex) over
///
/// - the sorted list of drifted (resource, property, declared value), objects' keys
///   sorted. Live values are left out: how a drifted value looks does not make it another
///   drift. The impact is left out too: it follows from the drift and the directory;
/// - for a failure, what the failure is: its kind, the tenant, the resource and the
///   service's code (an `AADSTS` number, a Graph error code, an HTTP status), never its
///   text, which carries per-request trace and correlation ids and timestamps;
/// - for invalid policy files, the commit and the number of errors.
///
/// So one failure is one alert until it changes (another code, another resource) or
/// resolves.
pub fn fingerprint(alert: &DriftAlert) -> String {
    let mut items: Vec<String> = alert
        .changes
        .iter()
        .map(|c| {
            Value::Array(vec![
                Value::String(c.resource.clone()),
                Value::String(c.property.clone()),
                canonical(&c.declared),
            ])
            .to_string()
        })
        .collect();
    items.sort();
    items.dedup();
    if let Some(f) = alert.action.failure() {
        items.push(
            serde_json::json!(["failure", f.kind.as_str(), alert.tenant, f.resource, f.code])
                .to_string(),
        );
    }
    if let Some(d) = &alert.declaration {
        items.push(serde_json::json!(["invalid", d.commit, d.errors]).to_string());
    }
    let text = items.join("\n");
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}
