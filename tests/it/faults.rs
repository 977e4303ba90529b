//! The test-control API: fault injection, request log and state.

use mfactl::emulator::State;
use reqwest::Method;
use serde_json::json;

use crate::common::{Harness, error_code};

const POLICY: &str = "/v1.0/policies/authenticationMethodsPolicy";

#[tokio::test]
async fn status_faults_hit_matching_requests_count_times() {
    let h = Harness::small().await;
    let token = h.writer_token().await;
    h.add_fault(json!({"method": "GET", "pathPrefix": "/v1.0/policies", "count": 2, "kind": "status", "status": 503, "retryAfter": 0.25})).await;
    assert_eq!(
        h.get("/v1.0/users", &token).await.status,
        200,
        "other paths are not hit"
    );
    for _ in 0..2 {
        let r = h.get(POLICY, &token).await;
        assert_eq!(r.status, 503);
        assert_eq!(error_code(&r), "ServiceUnavailable");
        assert_eq!(r.headers["retry-after"], "0.25");
    }
    assert_eq!(
        h.get(POLICY, &token).await.status,
        200,
        "the fault is used up"
    );
    let faults = h.call(Method::GET, "/_emulator/faults", None, None).await;
    assert_eq!(faults.body["value"], json!([]));
}

#[tokio::test]
async fn a_deferred_patch_is_answered_at_once_and_read_only_from_the_nth_get_on() {
    let h = Harness::small().await;
    let token = h.writer_token().await;
    let sms = "/beta/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/sms";
    let refused = h
        .call(
            Method::POST,
            "/_emulator/faults",
            None,
            Some(&json!({"pathPrefix": sms, "count": 1, "kind": "deferred", "afterReads": 2})),
        )
        .await;
    assert_eq!(
        refused.status, 400,
        "only a PATCH can be deferred: {:?}",
        refused.body
    );
    h.add_fault(json!({"method": "PATCH", "pathPrefix": sms, "count": 1, "kind": "deferred", "afterReads": 2}))
        .await;
    let state = |r: &crate::common::Reply| r.body["state"].clone();
    let before = state(&h.get(sms, &token).await);
    let want = if before == "enabled" {
        "disabled"
    } else {
        "enabled"
    };
    let r = h
        .patch(sms, &token, &json!({"@odata.type": "#microsoft.graph.smsAuthenticationMethodConfiguration", "state": want}))
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    assert_eq!(
        state(&h.get(sms, &token).await),
        before,
        "the first read lags"
    );
    assert_eq!(
        state(&h.get(sms, &token).await),
        want,
        "the second shows it"
    );
    assert_eq!(state(&h.get(sms, &token).await), want);
}

#[tokio::test]
async fn dropped_connections_and_malformed_bodies() {
    let h = Harness::small().await;
    let token = h.writer_token().await;
    h.add_fault(json!({"pathPrefix": "/v1.0/policies", "count": 1, "kind": "drop"}))
        .await;
    let dropped = h.http.get(h.url(POLICY)).bearer_auth(&token).send().await;
    assert!(dropped.is_err(), "no response at all");
    h.add_fault(json!({"pathPrefix": "/v1.0/policies", "count": 1, "kind": "malformed"}))
        .await;
    let r = h
        .http
        .get(h.url(POLICY))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let bytes = r.bytes().await.unwrap();
    assert!(serde_json::from_slice::<serde_json::Value>(&bytes).is_err());
    h.add_fault(json!({"pathPrefix": "/v1.0/policies", "count": 1, "kind": "latency", "ms": 30}))
        .await;
    assert_eq!(
        h.get(POLICY, &token).await.status,
        200,
        "latency delays but still serves"
    );
    assert_eq!(h.get(POLICY, &token).await.status, 200);
}

#[tokio::test]
async fn probability_faults_are_seeded_and_roughly_that_frequent() {
    let h = Harness::small().await;
    let token = h.writer_token().await;
    h.add_fault(
        json!({"pathPrefix": "/v1.0/groups", "probability": 0.5, "kind": "status", "status": 500}),
    )
    .await;
    let mut failed = 0;
    for _ in 0..200 {
        if h.get("/v1.0/groups", &token).await.status == 500 {
            failed += 1;
        }
    }
    assert!((60..140).contains(&failed), "{failed} of 200");
    assert_eq!(
        h.call(Method::DELETE, "/_emulator/faults", None, None)
            .await
            .status,
        204
    );
    assert_eq!(h.get("/v1.0/groups", &token).await.status, 200);
}

#[tokio::test]
async fn invalid_fault_rules_are_refused() {
    let h = Harness::small().await;
    for bad in [
        json!({"kind": "status", "status": 503}),
        json!({"kind": "status", "status": 200, "count": 1}),
        json!({"kind": "explode", "count": 1}),
        json!({"kind": "drop", "probability": 2.0}),
    ] {
        assert_eq!(
            h.call(Method::POST, "/_emulator/faults", None, Some(&bad))
                .await
                .status,
            400,
            "{bad}"
        );
    }
}

#[tokio::test]
async fn request_log_records_requests_in_order_and_can_be_cleared() {
    let h = Harness::small().await;
    let token = h.writer_token().await;
    h.get(POLICY, &token).await;
    let body = json!({"@odata.type": "#microsoft.graph.smsAuthenticationMethodConfiguration", "state": "enabled"});
    h.patch(
        "/v1.0/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/sms?x=1",
        &token,
        &body,
    )
    .await;
    let log = h.requests().await;
    assert_eq!(log.len(), 3);
    assert_eq!(log[1]["method"], json!("GET"));
    assert_eq!(log[1]["status"], json!(200));
    assert_eq!(log[1]["tenant"], json!(h.tenant));
    assert_eq!(log[1]["app"], json!(h.writer));
    assert_eq!(log[2]["method"], json!("PATCH"));
    assert_eq!(log[2]["query"], json!("x=1"));
    assert_eq!(log[2]["body"], body);
    assert_eq!(log[2]["status"], json!(204));
    assert!(log[0]["seq"].as_u64() < log[1]["seq"].as_u64());
    assert_eq!(
        h.call(Method::DELETE, "/_emulator/requests", None, None)
            .await
            .status,
        204
    );
    assert!(h.requests().await.is_empty());
}

#[tokio::test]
async fn state_round_trips_through_the_control_api() {
    let h = Harness::small().await;
    let token = h.writer_token().await;
    h.patch(
        "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy",
        &token,
        &json!({"isEnabled": true}),
    )
    .await;
    let state = h
        .call(Method::GET, "/_emulator/state", None, None)
        .await
        .body;
    assert_eq!(
        state["tenants"][0]["securityDefaults"]["isEnabled"],
        json!(true)
    );
    let parsed: State = serde_json::from_value(state.clone()).expect("same format as --state");
    let other = Harness::start(parsed).await;
    let again = other
        .call(Method::GET, "/_emulator/state", None, None)
        .await
        .body;
    assert_eq!(again, state);
    // PUT replaces the world.
    let mut edited = state.clone();
    edited["tenants"][0]["securityDefaults"]["isEnabled"] = json!(false);
    let r = h
        .call(Method::PUT, "/_emulator/state", None, Some(&edited))
        .await;
    assert_eq!(r.status, 204);
    let sd = h
        .get(
            "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy",
            &token,
        )
        .await;
    assert_eq!(sd.body["isEnabled"], json!(false));
    let bad = h
        .call(
            Method::PUT,
            "/_emulator/state",
            None,
            Some(&json!({"tenants": [{"idd": "x"}]})),
        )
        .await;
    assert_eq!(bad.status, 400);
}
