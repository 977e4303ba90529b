//! Unit tests of the alert state: decisions, fingerprints, and the state file.

use std::time::Duration;

use serde_json::Value;

use super::*;
use crate::notify::{DriftChange, Failure, FailureKind, InvalidDeclaration};
use serde_json::json;

fn t(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

fn alert(action: Action, declared: Value) -> DriftAlert {
    DriftAlert {
        tenant: "contoso".into(),
        action,
        changes: vec![DriftChange {
            resource: "authenticationMethodConfigurations/Sms".into(),
            property: "includeTargets".into(),
            live: json!([]),
            declared,
        }],
        impact: None,
        declaration: None,
        link: None,
        names: Default::default(),
    }
}

fn in_sync() -> DriftAlert {
    DriftAlert {
        changes: vec![],
        ..alert(Action::Observed, json!(null))
    }
}

/// Decides, and records as if the send succeeded.
fn step(
    state: &mut AlertState,
    a: &DriftAlert,
    remind: Option<Duration>,
    now: SystemTime,
) -> Decision {
    let fp = fingerprint(a);
    let d = decide(state.entry("contoso", "teams"), a, &fp, remind, now);
    state.record("contoso", "teams", d, a, &fp, now);
    d
}

#[test]
fn fingerprints_ignore_key_order_change_order_and_live_values() {
    let a = alert(Action::Observed, json!({"a": 1, "b": [1, 2]}));
    let mut b = alert(Action::Observed, json!({"b": [1, 2], "a": 1}));
    b.changes[0].live = json!("something else");
    assert_eq!(fingerprint(&a), fingerprint(&b));
    let c = alert(Action::Observed, json!({"a": 1, "b": [2, 1]}));
    assert_ne!(fingerprint(&a), fingerprint(&c));

    let mut two = a.clone();
    two.changes.push(DriftChange {
        resource: "x".into(),
        property: "state".into(),
        live: json!(1),
        declared: json!(2),
    });
    let mut reversed = two.clone();
    reversed.changes.reverse();
    assert_eq!(fingerprint(&two), fingerprint(&reversed));
    assert_ne!(fingerprint(&two), fingerprint(&a));
}

#[test]
fn same_drift_is_skipped_until_a_reminder_is_due() {
    let mut s = AlertState::default();
    let remind = Some(Duration::from_secs(3600));
    let a = alert(Action::Observed, json!(["g1"]));
    assert_eq!(step(&mut s, &a, remind, t(0)), Decision::Alert);
    assert_eq!(step(&mut s, &a, remind, t(600)), Decision::Skip);
    assert_eq!(step(&mut s, &a, remind, t(3599)), Decision::Skip);
    assert_eq!(step(&mut s, &a, remind, t(3600)), Decision::Reminder);
    assert_eq!(step(&mut s, &a, remind, t(4000)), Decision::Skip);
    assert_eq!(step(&mut s, &a, None, t(999_999)), Decision::Skip);
    let e = s.entry("contoso", "teams").cloned();
    assert_eq!(
        e.map(|e| (e.first_alerted, e.last_sent)),
        Some((t(0), t(3600)))
    );
}

#[test]
fn changed_drift_or_outcome_alerts_again_and_gone_drift_resolves_once() {
    let mut s = AlertState::default();
    let a = alert(Action::Observed, json!(["g1"]));
    assert_eq!(step(&mut s, &a, None, t(0)), Decision::Alert);
    let b = alert(Action::Observed, json!(["g2"]));
    assert_eq!(step(&mut s, &b, None, t(10)), Decision::Alert);
    let failed = alert(
        Action::Failed {
            failure: auth_failure("AADSTS7000215", "trace 1"),
        },
        json!(["g2"]),
    );
    assert_eq!(
        s.entry("contoso", "teams").map(|e| e.first_alerted),
        Some(t(10))
    );
    let observed_again = alert(Action::Observed, json!(["g2"]));
    assert_eq!(step(&mut s, &observed_again, None, t(15)), Decision::Skip);
    assert_eq!(step(&mut s, &failed, None, t(20)), Decision::Alert);
    assert_eq!(
        s.entry("contoso", "teams").map(|e| e.first_alerted),
        Some(t(20)),
        "a failure on the drift is another event, first alerted now"
    );
    assert_eq!(step(&mut s, &in_sync(), None, t(30)), Decision::Resolved);
    assert_eq!(s, AlertState::default());
    assert_eq!(step(&mut s, &in_sync(), None, t(40)), Decision::Nothing);
}

#[test]
fn a_repaired_drift_needs_no_resolved_message_but_a_recurring_one_is_alerted() {
    let mut s = AlertState::default();
    let fixed = alert(Action::Applied { verified: true }, json!(["g1"]));
    assert_eq!(step(&mut s, &fixed, None, t(0)), Decision::Alert);
    // Reverted by hand and repaired again before a clean pass: the same event.
    assert_eq!(step(&mut s, &fixed, None, t(10)), Decision::Skip);
    assert_eq!(step(&mut s, &in_sync(), None, t(20)), Decision::Nothing);
    assert_eq!(s, AlertState::default(), "a clean pass forgets the repair");
    assert_eq!(step(&mut s, &fixed, None, t(30)), Decision::Alert);
    let unverified = alert(Action::Applied { verified: false }, json!(["g1"]));
    assert_eq!(step(&mut s, &unverified, None, t(40)), Decision::Alert);
    assert_eq!(step(&mut s, &in_sync(), None, t(50)), Decision::Resolved);
}

fn auth_failure(code: &str, trace: &str) -> Failure {
    Failure {
        kind: FailureKind::Auth,
        code: Some(code.into()),
        resource: None,
        error: format!(
            "authentication failed for application x in tenant y ({code}): {code}: Invalid client secret provided.\r\nTrace ID: {trace}\r\nCorrelation ID: {trace}\r\nTimestamp: 2026-12-02 10:00:0{}Z",
            trace.len() % 10
        ),
    }
}

fn failed(failure: Failure) -> DriftAlert {
    DriftAlert {
        action: Action::Failed { failure },
        ..in_sync()
    }
}

#[test]
fn a_failure_is_fingerprinted_by_what_it_is_not_by_its_trace_ids() {
    let a = failed(auth_failure(
        "AADSTS7000215",
        "6c3e9a1d-0000-4000-8000-000000000001",
    ));
    let b = failed(auth_failure(
        "AADSTS7000215",
        "0f9d2b77-0000-4000-8000-0000000000ff-x",
    ));
    assert_ne!(a.action, b.action, "the texts differ");
    assert_eq!(fingerprint(&a), fingerprint(&b));
    let other_code = failed(auth_failure(
        "AADSTS700016",
        "6c3e9a1d-0000-4000-8000-000000000001",
    ));
    assert_ne!(fingerprint(&a), fingerprint(&other_code));
    let other_tenant = DriftAlert {
        tenant: "fabrikam".into(),
        ..a.clone()
    };
    assert_ne!(fingerprint(&a), fingerprint(&other_tenant));
    let forbidden = |resource: &str, request_id: &str| {
        failed(Failure {
            kind: FailureKind::Permission,
            code: Some("403 Authorization_RequestDenied".into()),
            resource: Some(resource.into()),
            error: format!("GET {resource} (request-id {request_id}): 403 forbidden"),
        })
    };
    let policy = "/v1.0/policies/authenticationMethodsPolicy";
    assert_eq!(
        fingerprint(&forbidden(policy, "r1")),
        fingerprint(&forbidden(policy, "r2"))
    );
    assert_ne!(
        fingerprint(&forbidden(policy, "r1")),
        fingerprint(&forbidden("/v1.0/users", "r1"))
    );
    assert_ne!(fingerprint(&forbidden(policy, "r1")), fingerprint(&a));

    let mut s = AlertState::default();
    assert_eq!(step(&mut s, &a, None, t(0)), Decision::Alert);
    assert_eq!(step(&mut s, &b, None, t(1)), Decision::Skip);
    assert_eq!(step(&mut s, &other_code, None, t(2)), Decision::Alert);
    assert_eq!(step(&mut s, &in_sync(), None, t(3)), Decision::Resolved);
}

#[test]
fn invalid_policy_files_are_told_apart_by_commit_and_outlast_a_repair() {
    let invalid = |commit: &str| DriftAlert {
        action: Action::Invalid,
        declaration: Some(InvalidDeclaration {
            errors: 1,
            commit: Some(commit.into()),
            last_valid_kept: true,
        }),
        ..in_sync()
    };
    let mut s = AlertState::default();
    assert_eq!(step(&mut s, &invalid("c1"), None, t(0)), Decision::Alert);
    assert_eq!(step(&mut s, &invalid("c1"), None, t(1)), Decision::Skip);
    assert_eq!(step(&mut s, &invalid("c2"), None, t(2)), Decision::Alert);
    // The last valid declaration repaired a drift while the files are still invalid:
    // a new alert, and the files' fix is then worth a "resolved".
    let repaired = DriftAlert {
        declaration: invalid("c2").declaration,
        ..alert(Action::Applied { verified: true }, json!(["g1"]))
    };
    assert_eq!(step(&mut s, &repaired, None, t(3)), Decision::Alert);
    assert_eq!(step(&mut s, &in_sync(), None, t(4)), Decision::Resolved);
}

#[test]
fn the_state_file_round_trips_and_is_replaced_atomically() {
    let dir = std::env::temp_dir().join(format!("mfactl-notify-state-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut s = AlertState::default();
    let a = alert(Action::Observed, json!(["g1"]));
    step(&mut s, &a, None, t(0));
    assert!(s.save(&dir).is_ok());
    let loaded = AlertState::load(&dir.join(STATE_FILE));
    assert_eq!(loaded.ok(), Some(s));
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert_eq!(leftovers, [STATE_FILE]);
    assert!(std::fs::write(dir.join(STATE_FILE), b"{trunc").is_ok());
    assert_eq!(
        AlertState::load(&dir.join(STATE_FILE)).ok(),
        Some(AlertState::default())
    );
    let _ = std::fs::remove_dir_all(&dir);
}
