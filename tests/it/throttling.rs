//! Graph-like throttling (FACTS.md §10) through HTTP.

use mfactl::emulator::EmulatorConfig;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{self, Harness, error_code};

const REPORT: &str = "/v1.0/reports/authenticationMethods/userRegistrationDetails?$top=1";

async fn throttled_harness(users: usize) -> Harness {
    Harness::with(EmulatorConfig::new(common::state(users))).await
}

#[tokio::test]
async fn reports_allow_five_requests_per_ten_seconds_then_429_with_retry_after() {
    let h = throttled_harness(10).await;
    let token = h.reader_token().await;
    for i in 0..5 {
        assert_eq!(h.get(REPORT, &token).await.status, 200, "request {i}");
    }
    let r = h.get(REPORT, &token).await;
    assert_eq!(r.status, 429);
    assert_eq!(error_code(&r), "TooManyRequests");
    assert_eq!(r.body["error"]["innerError"]["code"], json!("429"));
    let retry: f64 = r.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("seconds, maybe fractional");
    assert!(retry > 0.0 && retry <= 4.0, "{retry}");
    let scope = r.headers["x-ms-throttle-scope"].to_str().unwrap();
    assert_eq!(
        scope,
        format!("Tenant_Application/Read/{}/{}", h.reader, h.tenant)
    );
    assert!(r.headers.contains_key("x-ms-throttle-information"));
    // Other resources are metered separately.
    assert_eq!(
        h.get("/v1.0/policies/authenticationMethodsPolicy", &token)
            .await
            .status,
        200
    );
    // The writer app has its own bucket.
    let writer = h.writer_token().await;
    assert_eq!(h.get(REPORT, &writer).await.status, 200);
}

#[tokio::test]
async fn honouring_retry_after_gets_the_request_through() {
    let h = throttled_harness(10).await;
    let token = h.reader_token().await;
    for _ in 0..5 {
        h.get(REPORT, &token).await;
    }
    let r = h.get(REPORT, &token).await;
    assert_eq!(r.status, 429);
    let retry: f64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    // Waiting is the behaviour under test: the service promises admission after Retry-After.
    tokio::time::sleep(std::time::Duration::from_secs_f64(retry + 0.05)).await;
    assert_eq!(h.get(REPORT, &token).await.status, 200);
}

#[tokio::test]
async fn identity_and_access_bucket_runs_dry_after_its_resource_units() {
    // A tenant under 50 users: 3,500 resource units per 10 s per app and tenant. `$expand`
    // makes each read cost 2 units, so the bucket runs dry after 1,750 requests, before the
    // 2,000 requests per second per app global limit could.
    let h = throttled_harness(10).await;
    let token = h.reader_token().await;
    let step = |i: usize| json!({"id": i.to_string(), "method": "GET", "url": "/policies/identitySecurityDefaultsEnforcementPolicy?$expand=none"});
    let mut ok = 0;
    let mut throttled = Vec::new();
    let mut saw_percentage = false;
    // Until the first refusal (bounded): the bucket refills at 350 units (175 reads) a
    // second while the batches run, so how many pass depends on how long they take.
    let started = std::time::Instant::now();
    for batch in 0..400 {
        if !throttled.is_empty() {
            break;
        }
        let requests: Vec<Value> = (0..20).map(|i| step(batch * 20 + i)).collect();
        let r = h
            .call(
                Method::POST,
                "/v1.0/$batch",
                Some(&token),
                Some(&json!({ "requests": requests })),
            )
            .await;
        assert_eq!(r.status, 200);
        for inner in r.body["responses"].as_array().unwrap() {
            match inner["status"].as_u64() {
                Some(200) => ok += 1,
                Some(429) => throttled.push(inner.clone()),
                other => panic!("unexpected {other:?}"),
            }
            saw_percentage |= inner["headers"]
                .get("x-ms-throttle-limit-percentage")
                .is_some();
        }
    }
    // Exactly the 1,750 the full bucket holds, plus what refilled during the run.
    let refilled = (started.elapsed().as_secs_f64() * 175.0).ceil() as usize;
    assert!(!throttled.is_empty(), "{ok} admitted and none refused");
    assert!(
        (1_750..=1_750 + refilled + 1).contains(&ok),
        "{ok} admitted, 1,750 + {refilled} refilled expected"
    );
    assert!(
        throttled[0]["headers"]["x-ms-throttle-scope"]
            .as_str()
            .unwrap()
            .starts_with("Tenant_Application/Read/")
    );
    assert_eq!(throttled[0]["headers"]["x-ms-resource-unit"], json!("2"));
    assert!(
        throttled[0]["headers"]["Retry-After"]
            .as_str()
            .unwrap()
            .parse::<f64>()
            .unwrap()
            > 0.0
    );
    assert!(
        saw_percentage,
        "x-ms-throttle-limit-percentage appears above 80% use"
    );
}

#[tokio::test]
async fn throttle_off_never_answers_429() {
    let h = Harness::small().await;
    let token = h.reader_token().await;
    for _ in 0..20 {
        assert_eq!(h.get(REPORT, &token).await.status, 200);
    }
}
