//! JSON batching (FACTS.md §11).

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{Harness, error_code};

fn by_id<'a>(body: &'a Value, id: &str) -> &'a Value {
    body["responses"]
        .as_array()
        .expect("responses")
        .iter()
        .find(|r| r["id"] == json!(id))
        .unwrap_or_else(|| panic!("no response {id} in {body}"))
}

#[tokio::test]
async fn batch_runs_each_request_with_its_own_status_and_not_in_order() {
    let h = Harness::small().await;
    let token = h.writer_token().await;
    let body = json!({"requests": [
        {"id": "1", "method": "GET", "url": "/policies/authenticationMethodsPolicy"},
        {"id": "2", "method": "PATCH", "url": "policies/authenticationMethodsPolicy/authenticationMethodConfigurations/sms",
         "headers": {"Content-Type": "application/json"},
         "body": {"@odata.type": "#microsoft.graph.smsAuthenticationMethodConfiguration", "state": "enabled"}},
        {"id": "3", "method": "GET", "url": "/groups/00000000-1111-4222-8333-444444444444"},
        {"id": "4", "method": "GET", "url": "users?$top=2&$select=id,userPrincipalName"},
    ]});
    let r = h
        .call(Method::POST, "/v1.0/$batch", Some(&token), Some(&body))
        .await;
    assert_eq!(
        r.status, 200,
        "outer status is 200 whatever the inner statuses"
    );
    let ids: Vec<&str> = r.body["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    assert_ne!(
        ids,
        ["1", "2", "3", "4"],
        "responses must not come back in request order"
    );
    assert_eq!(by_id(&r.body, "1")["status"], json!(200));
    assert!(by_id(&r.body, "1")["body"]["authenticationMethodConfigurations"].is_array());
    assert_eq!(by_id(&r.body, "2")["status"], json!(204));
    assert!(by_id(&r.body, "2").get("body").is_none());
    assert_eq!(by_id(&r.body, "3")["status"], json!(404));
    assert_eq!(
        by_id(&r.body, "3")["body"]["error"]["code"],
        json!("Request_ResourceNotFound")
    );
    let users = &by_id(&r.body, "4")["body"];
    assert_eq!(users["value"].as_array().unwrap().len(), 2);
    assert_eq!(
        users["value"][0].as_object().unwrap().len(),
        2,
        "$select applies inside a batch"
    );
    // The PATCH inside the batch really happened, and the log shows each inner request.
    let sms = h
        .get(
            "/v1.0/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/Sms",
            &token,
        )
        .await;
    assert_eq!(sms.body["state"], json!("enabled"));
    let log = h.requests().await;
    let inner: Vec<&Value> = log.iter().filter(|e| e.get("batchId").is_some()).collect();
    assert_eq!(inner.len(), 4);
    let patch = inner
        .iter()
        .find(|e| e["method"] == json!("PATCH"))
        .unwrap();
    assert_eq!(
        patch["path"],
        json!("/v1.0/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/sms")
    );
    assert_eq!(patch["body"]["state"], json!("enabled"));
}

#[tokio::test]
async fn malformed_batches_are_refused_whole() {
    let h = Harness::small().await;
    let token = h.writer_token().await;
    let get = |id: String| json!({"id": id, "method": "GET", "url": "/users"});
    let too_many: Vec<Value> = (1..=21).map(|i| get(i.to_string())).collect();
    let cases = [
        ("21 requests", json!({"requests": too_many})),
        (
            "duplicate ids, differing in case",
            json!({"requests": [
            {"id": "a", "method": "GET", "url": "/users"}, {"id": "A", "method": "GET", "url": "/groups"}]}),
        ),
        (
            "unknown dependency",
            json!({"requests": [{"id": "1", "method": "GET", "url": "/users", "dependsOn": ["9"]}]}),
        ),
        (
            "body without Content-Type",
            json!({"requests": [{"id": "1", "method": "PATCH",
            "url": "/policies/identitySecurityDefaultsEnforcementPolicy", "body": {"isEnabled": false}}]}),
        ),
        (
            "missing url",
            json!({"requests": [{"id": "1", "method": "GET"}]}),
        ),
        (
            "dependency cycle",
            json!({"requests": [
            {"id": "1", "method": "GET", "url": "/users", "dependsOn": ["2"]},
            {"id": "2", "method": "GET", "url": "/users", "dependsOn": ["1"]}]}),
        ),
    ];
    for (what, body) in cases {
        let r = h
            .call(Method::POST, "/v1.0/$batch", Some(&token), Some(&body))
            .await;
        assert_eq!(r.status, 400, "{what}: {}", r.body);
        error_code(&r);
    }
    let twenty: Vec<Value> = (1..=20).map(|i| get(i.to_string())).collect();
    let r = h
        .call(
            Method::POST,
            "/v1.0/$batch",
            Some(&token),
            Some(&json!({"requests": twenty})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["responses"].as_array().unwrap().len(), 20);
    // Security defaults were untouched by the refused batch.
    let sd = h
        .get(
            "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy",
            &token,
        )
        .await;
    assert_eq!(sd.body["isEnabled"], json!(false));
}

#[tokio::test]
async fn a_failed_dependency_gives_424_and_stops_the_chain() {
    let h = Harness::small().await;
    let token = h.writer_token().await;
    let body = json!({"requests": [
        {"id": "1", "method": "PATCH", "url": "/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/sms",
         "headers": {"content-type": "application/json"}, "body": {"state": "enabled"}},
        {"id": "2", "dependsOn": ["1"], "method": "PATCH", "url": "/policies/identitySecurityDefaultsEnforcementPolicy",
         "headers": {"content-type": "application/json"}, "body": {"isEnabled": true}},
        {"id": "3", "dependsOn": ["2"], "method": "GET", "url": "/policies/identitySecurityDefaultsEnforcementPolicy"},
    ]});
    let r = h
        .call(Method::POST, "/v1.0/$batch", Some(&token), Some(&body))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(by_id(&r.body, "1")["status"], json!(400), "no @odata.type");
    assert_eq!(by_id(&r.body, "2")["status"], json!(424));
    assert_eq!(by_id(&r.body, "3")["status"], json!(424));
    let sd = h
        .get(
            "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy",
            &token,
        )
        .await;
    assert_eq!(
        sd.body["isEnabled"],
        json!(false),
        "the dependent PATCH never ran"
    );
}

#[tokio::test]
async fn dependencies_run_first_even_when_listed_later() {
    let h = Harness::small().await;
    let token = h.writer_token().await;
    let body = json!({"requests": [
        {"id": "read", "dependsOn": ["write"], "method": "GET", "url": "/policies/identitySecurityDefaultsEnforcementPolicy"},
        {"id": "write", "method": "PATCH", "url": "/policies/identitySecurityDefaultsEnforcementPolicy",
         "headers": {"Content-Type": "application/json"}, "body": {"isEnabled": true}},
    ]});
    let r = h
        .call(Method::POST, "/beta/$batch", Some(&token), Some(&body))
        .await;
    assert_eq!(by_id(&r.body, "write")["status"], json!(204));
    assert_eq!(by_id(&r.body, "read")["body"]["isEnabled"], json!(true));
}

#[tokio::test]
async fn inner_requests_are_authorised_and_faulted_one_by_one() {
    let h = Harness::small().await;
    let reader = h.reader_token().await;
    let fault = json!({"method": "GET", "pathPrefix": "/v1.0/users", "count": 1, "kind": "status", "status": 429, "retryAfter": 1.5});
    h.add_fault(fault).await;
    let body = json!({"requests": [
        {"id": "1", "method": "GET", "url": "/users"},
        {"id": "2", "method": "PATCH", "url": "/policies/identitySecurityDefaultsEnforcementPolicy",
         "headers": {"Content-Type": "application/json"}, "body": {"isEnabled": true}},
        {"id": "3", "method": "GET", "url": "/groups"},
    ]});
    let r = h
        .call(Method::POST, "/v1.0/$batch", Some(&reader), Some(&body))
        .await;
    assert_eq!(r.status, 200);
    let throttled = by_id(&r.body, "1");
    assert_eq!(throttled["status"], json!(429));
    assert_eq!(throttled["headers"]["Retry-After"], json!("1.5"));
    assert_eq!(by_id(&r.body, "2")["status"], json!(403));
    assert_eq!(by_id(&r.body, "3")["status"], json!(200));
}

#[tokio::test]
async fn batch_needs_a_token_and_post() {
    let h = Harness::small().await;
    let r = h
        .call(
            Method::POST,
            "/v1.0/$batch",
            None,
            Some(&json!({"requests": []})),
        )
        .await;
    assert_eq!(r.status, 401);
    let token = h.writer_token().await;
    let r = h
        .call(Method::GET, "/v1.0/$batch", Some(&token), None)
        .await;
    assert_eq!(r.status, 405);
}
