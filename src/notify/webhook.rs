//! The generic webhook: the versioned JSON report, with every value in full, signed as
//! Flux signs its notifications: `X-Signature: sha256=HEX`, the HMAC-SHA256 of the exact
//! body bytes.
//!
//! ```json
//! {"formatVersion": 2, "event": "alert", "tenant": "contoso",
//!  "action": {"type": "applied", "verified": true},
//!  "declaration": null,
//!  "fingerprint": "…", "firstAlerted": null,
//!  "changes": [{"resource": "…", "property": "state", "live": "enabled", "declared": "disabled"}],
//!  "impact": {"prompts": [{"from": "push", "to": "sms", "users": 5}], "newlyWithoutMfa": 0,
//!             "loseMfaRequirement": 0, "newlyBlocked": 0},
//!  "link": "https://github.com/…/actions/runs/1",
//!  "names": {"5c1c3233-db48-4d41-849f-521843a32281": "Break Glass"}}
//! ```
//!
//! `event` is `alert`, `reminder` (with `firstAlerted`), `resolved` or `test`;
//! `fingerprint` identifies the drift set ([`fingerprint`]; `null` when resolved);
//! `action.type` is `observed`, `applied`, `partial`, `failed`, `invalid` or `resolved`
//! (`partial` and `failed` with `kind`, `code`, `resource`, `error`); `declaration` is
//! `null` unless the policy files are invalid (`errors`, `commit`, `lastValidKept`);
//! `impact` is `null` when the plan did not simulate sign-in prompts; `names` maps each
//! object id the changes hold (lower case) to its display name (a user's principal name),
//! as read while planning (an id whose name could not be read is not in it).

use serde_json::{Value, json};

use super::{Action, DriftAlert, FORMAT_VERSION, Kind, Secret, fingerprint};

/// The signature header.
pub const SIGNATURE_HEADER: &str = "X-Signature";

/// The report.
pub fn payload(alert: &DriftAlert, kind: Kind) -> Value {
    let event = match (kind, &alert.action) {
        (Kind::Test, _) => "test",
        (_, Action::Resolved) => "resolved",
        (k, _) => k.as_str(),
    };
    let first_alerted = match kind {
        Kind::Reminder { first_alerted } => Some(super::state::rfc3339(first_alerted)),
        _ => None,
    };
    json!({
        "formatVersion": FORMAT_VERSION,
        "event": event,
        "tenant": alert.tenant,
        "action": alert.action,
        "fingerprint": alert.has_drift().then(|| fingerprint(alert)),
        "firstAlerted": first_alerted,
        "declaration": alert.declaration,
        "changes": alert.changes,
        "impact": alert.impact,
        "link": alert.link,
        "names": alert.names,
    })
}

/// The payload's bytes, as sent and signed.
pub(crate) fn body(alert: &DriftAlert, kind: Kind) -> Vec<u8> {
    serde_json::to_vec(&payload(alert, kind)).unwrap_or_default()
}

/// The `X-Signature` value for `body`: `sha256=` and the lowercase hex HMAC-SHA256.
pub fn signature(key: &Secret, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.expose().as_bytes());
    let tag = ring::hmac::sign(&key, body);
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::DriftChange;

    #[test]
    fn the_report_is_versioned_and_carries_full_values() {
        let long = "x".repeat(5000);
        let alert = DriftAlert {
            tenant: "contoso".into(),
            action: Action::Failed {
                failure: crate::notify::Failure {
                    kind: crate::notify::FailureKind::Permission,
                    code: Some("403 Authorization_RequestDenied".into()),
                    resource: Some("/v1.0/policies/authenticationMethodsPolicy".into()),
                    error: "403".into(),
                },
            },
            changes: vec![DriftChange {
                resource: "r".into(),
                property: "p".into(),
                live: json!(null),
                declared: json!(long),
            }],
            impact: None,
            declaration: None,
            link: None,
            names: crate::plan::names::ObjectNames::from([(
                "5c1c3233-db48-4d41-849f-521843a32281".into(),
                "Break Glass".into(),
            )]),
        };
        let p = payload(&alert, Kind::Alert);
        assert_eq!(
            p["names"],
            json!({"5c1c3233-db48-4d41-849f-521843a32281": "Break Glass"}),
            "ids stay ids; their names come beside them"
        );
        assert_eq!(p["formatVersion"], 2);
        assert_eq!(p["event"], "alert");
        assert_eq!(
            p["action"],
            json!({"type": "failed", "kind": "permission", "code": "403 Authorization_RequestDenied",
                   "resource": "/v1.0/policies/authenticationMethodsPolicy", "error": "403"})
        );
        assert_eq!(p["impact"], json!(null));
        assert_eq!(p["changes"][0]["declared"], json!(long));
        assert_eq!(p["changes"][0]["live"], json!(null));
        let resolved = DriftAlert {
            action: Action::Resolved,
            changes: vec![],
            ..alert
        };
        assert_eq!(payload(&resolved, Kind::Alert)["event"], "resolved");
    }

    #[test]
    fn the_signature_is_the_hmac_of_the_body() {
        // RFC 4231 test case 2.
        let sig = signature(&Secret::new("Jefe"), b"what do ya want for nothing?");
        assert_eq!(
            sig,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
