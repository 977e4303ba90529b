//! Throttling and faults (issue 4): each retry rule through the real client against the
//! emulator's fault injection, `$batch` with inner 429s, target lookups as one batch, and a
//! chaos run of the real binary that must converge without an extra write.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use mfactl::cli::exit::{self, ExitCode};
use mfactl::config::{CredentialSource, Env, TenantSettings};
use mfactl::emulator::EmulatorConfig;
use mfactl::emulator::generate::WRITER_SECRET;
use mfactl::emulator::throttle::ThrottleMode;
use mfactl::graph::{BatchRequest, GraphClient, GraphError, RetryPolicy};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use url::Url;

use crate::cli::Project;
use crate::common::{self, Harness, code, stderr, stdout};

const POLICY: &str = "/v1.0/policies/authenticationMethodsPolicy";
const SMS: &str =
    "/v1.0/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/sms";
const SECRET_VAR: &str = "MFACTL_RESILIENCE_CLIENT_SECRET";

fn sms_body() -> Value {
    json!({"@odata.type": "#microsoft.graph.smsAuthenticationMethodConfiguration", "state": "enabled"})
}

/// An emulator with a TLS token endpoint, 30 users, throttling off.
async fn harness() -> Harness {
    let mut config = EmulatorConfig::new(common::state(30));
    config.tls = true;
    config.throttle = ThrottleMode::Off;
    Harness::with(config).await
}

fn settings(h: &Harness, graph_url: &str) -> TenantSettings {
    TenantSettings {
        name: "resilience".into(),
        tenant_id: h.tenant.clone(),
        client_id: h.writer.clone(),
        credential: CredentialSource::SecretEnv(SECRET_VAR.into()),
        policies: Vec::new(),
        graph_url: Url::parse(graph_url).unwrap(),
        authority_host: Url::parse(&h.emu.endpoints.login_url).unwrap(),
        ca_file: h.emu.endpoints.ca_file.clone(),
        control: mfactl::config::TenantControl::default(),
        prune: false,
        hardware_oath_seed: None,
        config_file: None,
    }
}

/// Short backoffs, so that tests of retries stay quick.
fn quick() -> RetryPolicy {
    RetryPolicy {
        base_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        ..RetryPolicy::default()
    }
}

fn client_for(h: &Harness, graph_url: &str, policy: RetryPolicy) -> GraphClient {
    GraphClient::connect(
        &settings(h, graph_url),
        &Env::empty().with(SECRET_VAR, WRITER_SECRET),
    )
    .unwrap()
    .with_retry_policy(policy)
}

fn writer(h: &Harness) -> GraphClient {
    client_for(h, h.emu.graph_url(), quick())
}

/// Statuses of `method path` in the log, in order.
async fn statuses(h: &Harness, method: &str, path: &str) -> Vec<u64> {
    h.graph_requests()
        .await
        .iter()
        .filter(|e| e["method"] == json!(method) && e["path"] == json!(path))
        .map(|e| e["status"].as_u64().unwrap_or_default())
        .collect()
}

async fn clear_log(h: &Harness) {
    h.call(Method::DELETE, "/_emulator/requests", None, None)
        .await;
}

#[tokio::test]
async fn a_429_waits_its_fractional_retry_after_for_reads_and_writes() {
    let h = harness().await;
    let client = writer(&h);
    h.add_fault(json!({"method": "GET", "pathPrefix": POLICY, "count": 1, "kind": "status", "status": 429, "retryAfter": 0.25})).await;
    let started = Instant::now();
    client.get(POLICY).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert_eq!(statuses(&h, "GET", POLICY).await, [429, 200]);

    // A throttled PATCH was refused before it was acted on: the same PATCH goes again.
    h.add_fault(json!({"method": "PATCH", "pathPrefix": SMS, "count": 1, "kind": "status", "status": 429, "retryAfter": 0.1})).await;
    let started = Instant::now();
    client.patch(SMS, &sms_body()).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(100));
    let patches: Vec<Value> = h
        .graph_requests()
        .await
        .into_iter()
        .filter(|e| e["method"] == "PATCH")
        .collect();
    assert_eq!(patches.len(), 2);
    assert_eq!(patches[0]["status"], 429);
    assert_eq!(patches[1]["status"], 204);
    assert_eq!(patches[0]["body"], patches[1]["body"], "the same PATCH");
}

/// A Graph stand-in that answers the first request with 429 and `Retry-After` as an HTTP
/// date, then 200, recording when each request arrived.
async fn date_throttling_server(
    retry_at: SystemTime,
) -> (String, tokio::task::JoinHandle<Vec<SystemTime>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let date = time::OffsetDateTime::from(retry_at)
        .format(
            &time::format_description::parse_borrowed::<1>(
                "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT",
            )
            .unwrap(),
        )
        .unwrap();
    let task = tokio::spawn(async move {
        let mut arrivals = Vec::new();
        while arrivals.len() < 2 {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = socket.read(&mut chunk).await.unwrap();
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            arrivals.push(SystemTime::now());
            let response = if arrivals.len() == 1 {
                let body =
                    r#"{"error":{"code":"TooManyRequests","message":"Please retry again later."}}"#;
                format!(
                    "HTTP/1.1 429 Too Many Requests\r\nRetry-After: {date}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
            } else {
                let body = r#"{"id":"authenticationMethodsPolicy"}"#;
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
            };
            socket.write_all(response.as_bytes()).await.unwrap();
            let _ = socket.shutdown().await;
        }
        arrivals
    });
    (url, task)
}

#[tokio::test]
async fn a_429_with_an_http_date_retry_after_waits_until_that_date() {
    let h = harness().await;
    // Whole seconds, as an HTTP date has them: the next full second but one.
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let retry_at = SystemTime::UNIX_EPOCH + Duration::from_secs(now + 1);
    let (url, server) = date_throttling_server(retry_at).await;
    let client = client_for(&h, &url, quick());
    let policy = client.get(POLICY).await.unwrap();
    assert_eq!(policy["id"], "authenticationMethodsPolicy");
    let arrivals = server.await.unwrap();
    assert!(
        arrivals[1] >= retry_at,
        "the retry came {:?} before the date",
        retry_at.duration_since(arrivals[1]).unwrap_or_default()
    );
    assert_eq!(client.requests_sent(), 2);
}

#[tokio::test]
async fn a_429_without_retry_after_backs_off_for_reads_and_writes() {
    let h = harness().await;
    let client = writer(&h);
    h.add_fault(
        json!({"method": "GET", "pathPrefix": POLICY, "count": 2, "kind": "status", "status": 429}),
    )
    .await;
    client.get(POLICY).await.unwrap();
    assert_eq!(statuses(&h, "GET", POLICY).await, [429, 429, 200]);
    h.add_fault(
        json!({"method": "PATCH", "pathPrefix": SMS, "count": 1, "kind": "status", "status": 429}),
    )
    .await;
    client.patch(SMS, &sms_body()).await.unwrap();
    assert_eq!(statuses(&h, "PATCH", SMS).await, [429, 204]);
}

#[tokio::test]
async fn server_errors_back_off_and_are_retried_for_reads_only() {
    let h = harness().await;
    let client = writer(&h);
    for status in [500, 502, 503, 504] {
        clear_log(&h).await;
        h.add_fault(json!({"method": "GET", "pathPrefix": POLICY, "count": 2, "kind": "status", "status": status})).await;
        client.get(POLICY).await.unwrap();
        assert_eq!(
            statuses(&h, "GET", POLICY).await,
            [status, status, 200],
            "{status}"
        );
        // A write that met a server error may have been acted on: not sent again.
        clear_log(&h).await;
        h.add_fault(json!({"method": "PATCH", "pathPrefix": SMS, "count": 1, "kind": "status", "status": status})).await;
        let err = client.patch(SMS, &sms_body()).await.unwrap_err();
        assert!(
            matches!(err, GraphError::Server { attempts: 1, .. }),
            "{err:?}"
        );
        assert_eq!(statuses(&h, "PATCH", SMS).await, [status]);
    }
    // Persistent failures stop at the attempt limit.
    clear_log(&h).await;
    let attempts = quick().max_attempts;
    h.add_fault(json!({"method": "GET", "pathPrefix": POLICY, "count": attempts + 1, "kind": "status", "status": 502})).await;
    let err = client.get(POLICY).await.unwrap_err();
    assert!(
        matches!(err, GraphError::Server { status: 502, attempts: a, .. } if a == attempts),
        "{err:?}"
    );
    assert_eq!(statuses(&h, "GET", POLICY).await.len(), attempts as usize);
}

#[tokio::test]
async fn dropped_connections_retry_reads_and_never_resend_a_write() {
    let h = harness().await;
    let client = writer(&h);
    h.add_fault(json!({"method": "GET", "pathPrefix": POLICY, "count": 2, "kind": "drop"}))
        .await;
    client.get(POLICY).await.unwrap();
    assert_eq!(statuses(&h, "GET", POLICY).await, [0, 0, 200]);

    h.add_fault(json!({"method": "PATCH", "pathPrefix": SMS, "count": 1, "kind": "drop"}))
        .await;
    let err = client.patch(SMS, &sms_body()).await.unwrap_err();
    assert!(
        matches!(err, GraphError::Network { attempts: 1, .. }),
        "{err:?}"
    );
    assert_eq!(exit::for_error(&err), ExitCode::Graph);
    assert_eq!(statuses(&h, "PATCH", SMS).await, [0], "exactly one PATCH");
}

#[tokio::test]
async fn a_write_that_could_not_connect_is_retried() {
    let h = harness().await;
    // A port nothing listens on: every attempt fails to connect, so nothing was sent.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let client = client_for(&h, &url, quick());
    let err = client.patch(SMS, &sms_body()).await.unwrap_err();
    match &err {
        GraphError::Network { attempts, .. } => assert_eq!(*attempts, quick().max_attempts),
        other => panic!("{other:?}"),
    }
    assert_eq!(client.requests_sent(), u64::from(quick().max_attempts));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_body_is_an_invalid_response_and_nothing_is_written() {
    let h = harness().await;
    let client = writer(&h);
    h.add_fault(json!({"method": "GET", "pathPrefix": POLICY, "count": 1, "kind": "malformed"}))
        .await;
    let err = client.get(POLICY).await.unwrap_err();
    assert!(matches!(err, GraphError::InvalidResponse { .. }), "{err:?}");
    assert_eq!(statuses(&h, "GET", POLICY).await, [200], "not retried");

    let p = Project::sandbox_tenant().await;
    let fault = json!({"method": "GET", "pathPrefix": "/beta/policies/authenticationMethodsPolicy", "count": 1, "kind": "malformed"});
    p.h.add_fault(fault).await;
    let o = p.run(&["apply", "--yes"]);
    assert_eq!(code(&o), 5, "{}", stderr(&o));
    assert!(stderr(&o).contains("invalid response"), "{}", stderr(&o));
    assert!(
        !p.h.requests().await.iter().any(|e| e["method"] == "PATCH"),
        "no write after a failed read"
    );
}

#[tokio::test]
async fn the_deadline_bounds_a_call() {
    let h = harness().await;
    let client = client_for(
        &h,
        h.emu.graph_url(),
        RetryPolicy {
            deadline: Duration::from_millis(600),
            ..quick()
        },
    );
    // A slow answer is cut off at the deadline, not at the 30 s request timeout.
    h.add_fault(
        json!({"method": "GET", "pathPrefix": POLICY, "count": 1, "kind": "latency", "ms": 3000}),
    )
    .await;
    let started = Instant::now();
    let err = client.get(POLICY).await.unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, GraphError::Deadline { .. }), "{err:?}");
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_millis(1500),
        "{took:?}"
    );

    // A Retry-After beyond the deadline is not waited for.
    h.add_fault(json!({"method": "GET", "pathPrefix": POLICY, "count": 1, "kind": "status", "status": 429, "retryAfter": 5})).await;
    let started = Instant::now();
    let err = client.get(POLICY).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(600));
    match &err {
        GraphError::Deadline { attempts, last, .. } => {
            assert_eq!(*attempts, 1);
            assert!(
                matches!(last.as_deref(), Some(GraphError::Throttled { .. })),
                "{last:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(exit::for_error(&err), ExitCode::Graph);
    assert!(err.to_string().contains("deadline"), "{err}");

    // Graph asked for 5 s of quiet: the pacer holds this tenant's requests back, so the next
    // call gives up at once instead of sending into the throttle.
    let sent = client.requests_sent();
    let err = client.get(POLICY).await.unwrap_err();
    assert!(
        matches!(err, GraphError::Deadline { attempts: 0, .. }),
        "{err:?}"
    );
    assert_eq!(client.requests_sent(), sent);
}

#[tokio::test]
async fn an_inner_batch_429_is_retried_after_its_retry_after() {
    let h = harness().await;
    let client = writer(&h);
    let users: Vec<String> = h.emu.core.world().tenants[0]
        .tenant
        .users
        .iter()
        .take(3)
        .map(|u| u.id.clone())
        .collect();
    let throttled = format!("/v1.0/users/{}", users[1]);
    h.add_fault(json!({"method": "GET", "pathPrefix": throttled, "count": 1, "kind": "status", "status": 429, "retryAfter": 0.3})).await;
    let mut requests: Vec<BatchRequest> = users
        .iter()
        .map(|id| BatchRequest::get(format!("u-{id}"), format!("/v1.0/users/{id}")))
        .collect();
    requests.push(BatchRequest::get(
        "missing",
        "/v1.0/users/nobody@nowhere.example",
    ));
    let started = Instant::now();
    let results = client.batch(requests).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(results.len(), 4);
    for (r, id) in results.iter().zip(&users) {
        assert_eq!(r.id, format!("u-{id}"), "results in request order");
        assert_eq!(r.status, 200);
        assert!(r.error.is_none());
        assert_eq!(
            r.body.as_ref().unwrap()["id"],
            json!(id),
            "correlated by id"
        );
    }
    assert_eq!(results[3].status, 404);
    assert!(
        matches!(results[3].error, Some(GraphError::NotFound { .. })),
        "{:?}",
        results[3].error
    );
    let log = h.graph_requests().await;
    let outer: Vec<&Value> = log.iter().filter(|e| e["path"] == "/v1.0/$batch").collect();
    assert_eq!(
        outer.len(),
        2,
        "the first batch, then one with the throttled request"
    );
    let inner: Vec<u64> = log
        .iter()
        .filter(|e| e["path"] == json!(throttled))
        .map(|e| e["status"].as_u64().unwrap())
        .collect();
    assert_eq!(inner, [429, 200]);
    let retried: Vec<&Value> = log
        .iter()
        .filter(|e| !e["batchId"].is_null() && e["seq"].as_u64() > outer[0]["seq"].as_u64())
        .collect();
    assert_eq!(retried.len(), 1, "only the throttled request goes again");
    assert_eq!(client.requests_sent(), 2);

    // More than twenty requests take several POSTs, each of at most twenty.
    clear_log(&h).await;
    let ids: Vec<String> = h.emu.core.world().tenants[0]
        .tenant
        .users
        .iter()
        .take(25)
        .map(|u| u.id.clone())
        .collect();
    let results = client
        .batch(
            ids.iter()
                .enumerate()
                .map(|(i, id)| BatchRequest::get(i.to_string(), format!("/v1.0/users/{id}")))
                .collect(),
        )
        .await
        .unwrap();
    assert!(
        results
            .iter()
            .zip(&ids)
            .all(|(r, id)| r.body.as_ref().unwrap()["id"] == json!(id))
    );
    let log = h.graph_requests().await;
    assert_eq!(
        log.iter().filter(|e| e["path"] == "/v1.0/$batch").count(),
        2
    );
}

#[tokio::test]
async fn a_400_is_never_retried() {
    let h = harness().await;
    let client = writer(&h);
    h.add_fault(
        json!({"method": "GET", "pathPrefix": POLICY, "count": 3, "kind": "status", "status": 400}),
    )
    .await;
    let err = client.get(POLICY).await.unwrap_err();
    assert!(matches!(err, GraphError::BadRequest { .. }), "{err:?}");
    assert_eq!(statuses(&h, "GET", POLICY).await, [400]);
    h.add_fault(
        json!({"method": "PATCH", "pathPrefix": SMS, "count": 3, "kind": "status", "status": 409}),
    )
    .await;
    let err = client.patch(SMS, &sms_body()).await.unwrap_err();
    assert!(
        matches!(err, GraphError::Rejected { status: 409, .. }),
        "{err:?}"
    );
    assert_eq!(statuses(&h, "PATCH", SMS).await, [409]);
    assert_eq!(client.requests_sent(), 2);
}

#[tokio::test]
async fn clients_of_one_tenant_and_app_share_one_pacer() {
    let h = harness().await;
    let a = writer(&h);
    let b = writer(&h);
    assert!(std::sync::Arc::ptr_eq(a.pacer(), b.pacer()));
    let other = harness().await;
    assert!(!std::sync::Arc::ptr_eq(a.pacer(), writer(&other).pacer()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_looks_every_target_name_up_in_one_batch() {
    let p = Project::sandbox_tenant().await;
    let (users, groups) = {
        let world = p.h.emu.core.world();
        let t = &world.tenants[0].tenant;
        let users: Vec<String> = t
            .users
            .iter()
            .take(2)
            .map(|u| u.user_principal_name.clone())
            .collect();
        let groups: Vec<String> = t
            .groups
            .iter()
            .map(|g| g.display_name.clone())
            .filter(|n| n != "Break Glass Accounts")
            .filter(|n| t.groups.iter().filter(|g| g.display_name == *n).count() == 1)
            .take(2)
            .collect();
        (users, groups)
    };
    assert_eq!(groups.len(), 2);
    let path = p.dir().join("policies/authentication-methods.yaml");
    let extra: String = users
        .iter()
        .map(|u| format!("        - user: {u}\n"))
        .chain(groups.iter().map(|g| format!("        - group: {g}\n")))
        .collect();
    let fido2 =
        "      includeTargets:\n        - group: all_users\n\n    # Microsoft Authenticator";
    let original = std::fs::read_to_string(&path).unwrap();
    assert!(original.contains(fido2));
    let text = original.replacen(
        fido2,
        &format!("      includeTargets:\n        - group: all_users\n{extra}\n    # Microsoft Authenticator"),
        1,
    );
    std::fs::write(&path, text).unwrap();
    let o = p.run(&["plan"]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    let log = p.h.requests().await;
    let outer: Vec<&Value> = log.iter().filter(|e| e["path"] == "/v1.0/$batch").collect();
    assert_eq!(outer.len(), 1, "one request for all five names");
    let inner = log.iter().filter(|e| !e["batchId"].is_null()).count();
    assert_eq!(inner, 5);
    assert!(
        !log.iter().any(|e| e["batchId"].is_null()
            && e["path"].as_str().unwrap().starts_with("/v1.0/groups")
            && !e["path"].as_str().unwrap().ends_with("/transitiveMembers")),
        "no lookup outside the batch (members are read for the impact, after the lookup)"
    );
}

/// 30 % of Graph requests (and of requests inside `$batch`) fail at random: 429 with and
/// without `Retry-After`, 503, a dropped connection, or added latency.
fn chaos() -> Vec<Value> {
    // Five kinds, each firing with probability a: 1 − (1 − a)⁵ = 0.30.
    let a = 1.0 - 0.7f64.powf(1.0 / 5.0);
    ["/v1.0", "/beta"]
        .iter()
        .flat_map(|prefix| {
            [
                json!({"pathPrefix": prefix, "probability": a, "kind": "status", "status": 429, "retryAfter": 0.05}),
                json!({"pathPrefix": prefix, "probability": a, "kind": "status", "status": 429}),
                json!({"pathPrefix": prefix, "probability": a, "kind": "status", "status": 503}),
                json!({"pathPrefix": prefix, "probability": a, "kind": "drop"}),
                json!({"pathPrefix": prefix, "probability": a, "kind": "latency", "ms": 40}),
            ]
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_chaos_apply_converges_without_an_extra_write() {
    let p = Project::sandbox_tenant().await;
    let planned = p.run(&["plan", "-o", "json"]);
    assert_eq!(code(&planned), 1, "{}", stderr(&planned));
    let plan: Value = serde_json::from_str(&stdout(&planned)).unwrap();
    let needed: BTreeMap<String, Value> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["path"].as_str().unwrap().to_string(), c["body"].clone()))
        .collect();
    assert!(needed.len() >= 3, "{plan}");
    p.h.call(Method::DELETE, "/_emulator/requests", None, None)
        .await;
    let r =
        p.h.call(
            Method::POST,
            "/_emulator/faults",
            None,
            Some(&json!(chaos())),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);

    let mut converged = false;
    let mut runs = Vec::new();
    for _ in 0..8 {
        let before = p.h.requests().await.len();
        let o = p.run(&["apply", "--yes"]);
        let log = p.h.requests().await;
        let wrote = log[before..].iter().any(|e| e["method"] == "PATCH");
        runs.push(code(&o));
        match code(&o) {
            0 => {
                converged = true;
                break;
            }
            6 => {}
            // A failure of the run's first write is reported with the write's own exit code
            // (nothing was applied in that run); a failed read never gets here.
            5 if wrote => {}
            other => panic!("run exited {other}: {}", stderr(&o)),
        }
    }
    assert!(converged, "no convergence in 8 runs: {runs:?}");

    // Every PATCH that reached the tenant was a planned one, exactly once, with the planned
    // body; every other PATCH was refused or cut before the handler (injected 429, 503 or
    // drop), so it changed nothing.
    let log = p.h.requests().await;
    let injected = log
        .iter()
        .filter(|e| matches!(e["status"].as_u64(), Some(0 | 429 | 503)))
        .count();
    assert!(injected > 0, "the chaos injected nothing: {runs:?}");
    let mut applied: BTreeMap<String, usize> = BTreeMap::new();
    for e in log.iter().filter(|e| e["method"] == "PATCH") {
        let path = e["path"].as_str().unwrap().to_string();
        let status = e["status"].as_u64().unwrap();
        match status {
            200..=299 => {
                assert_eq!(
                    Some(&e["body"]),
                    needed.get(&path),
                    "{path}: not the planned PATCH"
                );
                *applied.entry(path).or_default() += 1;
            }
            0 | 429 | 503 => {
                assert_eq!(
                    Some(&e["body"]),
                    needed.get(&path),
                    "{path}: not the planned PATCH"
                );
            }
            other => panic!("{path} answered {other}"),
        }
    }
    assert_eq!(
        applied.keys().collect::<Vec<_>>(),
        needed.keys().collect::<Vec<_>>(),
        "every planned change applied"
    );
    assert!(
        applied.values().all(|n| *n == 1),
        "a change written twice: {applied:?}"
    );

    p.h.call(Method::DELETE, "/_emulator/faults", None, None)
        .await;
    let again = p.run(&["plan"]);
    assert_eq!(code(&again), 0, "{}", stdout(&again));
}

/// What, verb, method, path, fault, expected exit code, expected statuses at that path.
type FaultCase = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Value,
    i32,
    Vec<u64>,
);

/// Each fault case once more, through the real binary: the fault hits the first request of
/// its kind (the policy GET for reads, the SMS PATCH for writes), and the exit code and the
/// request log show what mfactl did about it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_fault_case_through_the_binary() {
    use crate::cli::Project;
    const POLICY: &str = "/beta/policies/authenticationMethodsPolicy";
    const SMS: &str =
        "/beta/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/sms";
    let cases: Vec<FaultCase> = vec![
        (
            "429 with fractional Retry-After on a read",
            "plan",
            "GET",
            POLICY,
            json!({"kind": "status", "status": 429, "retryAfter": 0.05}),
            1,
            vec![429, 200],
        ),
        (
            "429 without Retry-After on a read",
            "plan",
            "GET",
            POLICY,
            json!({"kind": "status", "status": 429}),
            1,
            vec![429, 200],
        ),
        (
            "500 on a read",
            "plan",
            "GET",
            POLICY,
            json!({"kind": "status", "status": 500}),
            1,
            vec![500, 200],
        ),
        (
            "502 on a read",
            "plan",
            "GET",
            POLICY,
            json!({"kind": "status", "status": 502}),
            1,
            vec![502, 200],
        ),
        (
            "503 on a read",
            "plan",
            "GET",
            POLICY,
            json!({"kind": "status", "status": 503}),
            1,
            vec![503, 200],
        ),
        (
            "504 on a read",
            "plan",
            "GET",
            POLICY,
            json!({"kind": "status", "status": 504}),
            1,
            vec![504, 200],
        ),
        (
            "dropped connection on a read",
            "plan",
            "GET",
            POLICY,
            json!({"kind": "drop"}),
            1,
            vec![0, 200],
        ),
        (
            "latency on a read",
            "plan",
            "GET",
            POLICY,
            json!({"kind": "latency", "ms": 50}),
            1,
            vec![200],
        ),
        (
            "malformed body on a read",
            "apply",
            "GET",
            POLICY,
            json!({"kind": "malformed"}),
            5,
            vec![200],
        ),
        (
            "429 with Retry-After on a write",
            "apply",
            "PATCH",
            SMS,
            json!({"kind": "status", "status": 429, "retryAfter": 0.05}),
            0,
            vec![429, 204],
        ),
        (
            "503 with Retry-After on a write",
            "apply",
            "PATCH",
            SMS,
            json!({"kind": "status", "status": 503, "retryAfter": 0.05}),
            0,
            vec![503, 204],
        ),
        (
            "500 on a write is not retried",
            "apply",
            "PATCH",
            SMS,
            json!({"kind": "status", "status": 500}),
            6,
            vec![500],
        ),
        (
            "dropped connection on a write is not resent",
            "apply",
            "PATCH",
            SMS,
            json!({"kind": "drop"}),
            6,
            vec![0],
        ),
        (
            "400 on a write is not retried",
            "apply",
            "PATCH",
            SMS,
            json!({"kind": "status", "status": 400}),
            6,
            vec![400],
        ),
    ];
    for (what, verb, method, path, mut fault, exit, statuses) in cases {
        let p = Project::sandbox_tenant().await;
        fault["method"] = json!(method);
        fault["pathPrefix"] = json!(path);
        fault["count"] = json!(1);
        p.h.add_fault(fault).await;
        let args: &[&str] = if verb == "plan" {
            &["plan"]
        } else {
            &["apply", "--yes"]
        };
        let o = p.run(args);
        assert_eq!(code(&o), exit, "{what}: {}", stderr(&o));
        let seen: Vec<u64> =
            p.h.requests()
                .await
                .iter()
                .filter(|e| e["method"] == method && e["path"] == path)
                .map(|e| e["status"].as_u64().unwrap_or(0))
                .collect();
        assert_eq!(seen, statuses, "{what}");
    }
}

/// Verification after apply reads the tenant again until it shows what was written, a bounded
/// number of times: a read that lags the write (conditional-access FACTS item 55) is not a
/// failure, a write that never shows is (exit 5, naming the property), and neither re-sends it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_rides_out_a_lagging_read_and_reports_a_write_that_never_shows() {
    let sms = "/beta/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/sms";
    let policy_reads_after_the_patch = |log: &[Value]| {
        let patched = log
            .iter()
            .position(|e| e["method"] == "PATCH" && e["path"] == sms)
            .unwrap_or(usize::MAX);
        log.iter()
            .skip(patched)
            .filter(|e| {
                e["method"] == "GET" && e["path"] == "/beta/policies/authenticationMethodsPolicy"
            })
            .count()
    };
    for (after_reads, exit, reads) in [(2, 0, 2), (50, 5, 1 + mfactl::apply::VERIFY_PAUSES.len())] {
        let p = Project::sandbox_tenant().await;
        p.h.add_fault(json!({"method": "PATCH", "pathPrefix": sms, "count": 1, "kind": "deferred", "afterReads": after_reads}))
            .await;
        let o = p.run(&["apply", "--yes"]);
        let (out, err) = (stdout(&o), stderr(&o));
        assert_eq!(code(&o), exit, "afterReads {after_reads}: {out}\n{err}");
        let log = p.h.requests().await;
        assert_eq!(
            policy_reads_after_the_patch(&log),
            reads,
            "afterReads {after_reads}"
        );
        let sms_patches = log
            .iter()
            .filter(|e| e["method"] == "PATCH" && e["path"] == sms)
            .count();
        assert_eq!(sms_patches, 1, "verification never writes again");
        if exit == 0 {
            assert!(out.contains("re-read and verified"), "{out}");
        } else {
            assert!(
                err.contains("did not converge")
                    && err.contains("authenticationMethodConfigurations/Sms."),
                "{err}"
            );
        }
    }
}
