//! mfactl's Graph client against the emulator over TLS: azure_identity signs in through the
//! same reqwest client (trusting the generated CA) that then calls Graph.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mfactl::cli::exit::{self, ExitCode};
use mfactl::config::{CredentialSource, Env, TenantSettings};
use mfactl::emulator::EmulatorConfig;
use mfactl::emulator::generate::{READER_SECRET, WRITER_SECRET};
use mfactl::graph::{GraphClient, GraphError, GraphErrorKind, MAX_ATTEMPTS};
use reqwest::Method;
use serde_json::{Value, json};
use url::Url;

use crate::common::{self, Harness};

const POLICY_V1: &str = "/v1.0/policies/authenticationMethodsPolicy";
const POLICY_BETA: &str = "/beta/policies/authenticationMethodsPolicy";
const SMS: &str =
    "/v1.0/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/sms";
const SECRET_VAR: &str = "MFACTL_TEST_CLIENT_SECRET";

/// An emulator serving its token endpoint over TLS, 30 users, throttling off.
async fn tls_harness() -> Harness {
    let mut config = EmulatorConfig::new(common::state(30));
    config.tls = true;
    config.throttle = mfactl::emulator::throttle::ThrottleMode::Off;
    Harness::with(config).await
}

/// Settings for `client_id` in the harness tenant, its secret in [`SECRET_VAR`].
fn tenant(h: &Harness, client_id: &str) -> TenantSettings {
    let login = &h.emu.endpoints.login_url;
    assert!(login.starts_with("https://localhost:"), "{login}");
    TenantSettings {
        name: "emulated".into(),
        tenant_id: h.tenant.clone(),
        client_id: client_id.to_string(),
        credential: CredentialSource::SecretEnv(SECRET_VAR.into()),
        policies: Vec::new(),
        graph_url: Url::parse(h.emu.graph_url()).unwrap(),
        authority_host: Url::parse(login).unwrap(),
        ca_file: Some(h.emu.endpoints.ca_file.clone().expect("CA file with tls")),
        control: mfactl::config::TenantControl::default(),
        prune: false,
        hardware_oath_seed: None,
        config_file: None,
    }
}

fn env_with(secret: &str) -> Env {
    Env::empty().with(SECRET_VAR, secret)
}

fn writer(h: &Harness) -> GraphClient {
    GraphClient::connect(&tenant(h, &h.writer), &env_with(WRITER_SECRET)).unwrap()
}

async fn count(h: &Harness, method: &str, path: &str) -> usize {
    h.graph_requests()
        .await
        .iter()
        .filter(|e| e["method"] == json!(method) && e["path"] == json!(path))
        .count()
}

async fn clear_log(h: &Harness) {
    h.call(Method::DELETE, "/_emulator/requests", None, None)
        .await;
}

#[tokio::test]
async fn gets_the_policy_with_a_token_from_the_tls_endpoint() {
    let h = tls_harness().await;
    let client = writer(&h);
    assert_eq!(client.requests_sent(), 0, "connect sends nothing");
    let policy = client.get(POLICY_BETA).await.unwrap();
    assert_eq!(policy["id"], json!("authenticationMethodsPolicy"));
    assert!(policy["authenticationMethodConfigurations"].is_array());
    // A second call reuses the cached token.
    client.get(POLICY_V1).await.unwrap();
    let log = h.requests().await;
    let tokens: Vec<&Value> = log
        .iter()
        .filter(|e| e["path"].as_str().unwrap().ends_with("/oauth2/v2.0/token"))
        .collect();
    assert_eq!(tokens.len(), 1, "one token request, then the cache");
    assert_eq!(
        tokens[0]["body"]["scope"],
        json!("https://graph.microsoft.com/.default"),
        "Graph's scope, not one derived from the emulator's URL"
    );
    assert_eq!(tokens[0]["body"]["client_secret"], json!("[redacted]"));
    assert_eq!(client.requests_sent(), 2);
    assert!(!format!("{client:?}").contains(WRITER_SECRET));
}

#[tokio::test]
async fn get_all_follows_next_links_through_every_page() {
    let h = tls_harness().await;
    let users = h.emu.core.world().tenants[0].tenant.users.len();
    assert!(users > 14, "{users} users make at least three pages");
    let client = writer(&h);
    let all = client.get_all("/v1.0/users?$top=7").await.unwrap();
    assert_eq!(all.len(), users);
    let mut ids: Vec<&str> = all.iter().map(|u| u["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), users, "no user twice");
    let pages = users.div_ceil(7);
    assert_eq!(count(&h, "GET", "/v1.0/users").await, pages);
    assert_eq!(client.requests_sent(), pages as u64);
    let log = h.graph_requests().await;
    assert!(
        log.iter()
            .skip(1)
            .all(|e| e["query"].as_str().unwrap().contains("skiptoken")),
        "later pages use the next link: {log:?}"
    );
}

#[tokio::test]
async fn patch_accepts_204_and_200_with_a_body() {
    let h = tls_harness().await;
    let client = writer(&h);
    let sms = json!({"@odata.type": "#microsoft.graph.smsAuthenticationMethodConfiguration", "state": "enabled"});
    assert_eq!(client.patch(SMS, &sms).await.unwrap(), None, "204");
    assert_eq!(client.get(SMS).await.unwrap()["state"], json!("enabled"));

    let body = json!({"policyMigrationState": "migrationInProgress"});
    let updated = client
        .patch(POLICY_V1, &body)
        .await
        .unwrap()
        .expect("200 with the policy");
    assert_eq!(
        updated["policyMigrationState"],
        json!("migrationInProgress")
    );
    assert_eq!(updated["id"], json!("authenticationMethodsPolicy"));
}

#[tokio::test]
async fn a_read_only_app_is_told_which_permission_a_write_needs() {
    let h = tls_harness().await;
    let client = GraphClient::connect(&tenant(&h, &h.reader), &env_with(READER_SECRET)).unwrap();
    client.get(POLICY_V1).await.expect("the reader reads");
    let err = client
        .patch(
            POLICY_V1,
            &json!({"policyMigrationState": "migrationInProgress"}),
        )
        .await
        .unwrap_err();
    match &err {
        GraphError::Forbidden {
            request,
            code,
            permission,
            ..
        } => {
            assert_eq!(code, "Authorization_RequestDenied");
            assert_eq!(*permission, Some("Policy.ReadWrite.AuthenticationMethod"));
            assert_eq!(request.method, "PATCH");
            assert_eq!(request.path, POLICY_V1);
            assert!(request.request_id.is_some(), "Graph's request-id is kept");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.kind(), GraphErrorKind::Auth);
    assert_eq!(exit::for_error(&err), ExitCode::Auth);
    assert!(
        err.to_string()
            .contains("Policy.ReadWrite.AuthenticationMethod"),
        "{err}"
    );
    assert_eq!(count(&h, "PATCH", POLICY_V1).await, 1, "403 is not retried");
}

#[tokio::test]
async fn a_wrong_secret_is_an_authentication_error_that_does_not_quote_it() {
    let h = tls_harness().await;
    let wrong = "Wrong~Secret.For_This_App";
    let client = GraphClient::connect(&tenant(&h, &h.writer), &env_with(wrong)).unwrap();
    let err = client.get(POLICY_V1).await.unwrap_err();
    match &err {
        GraphError::Authentication {
            status,
            code,
            tenant_id,
            ..
        } => {
            assert_eq!(*status, Some(401));
            assert!(
                code.as_deref().is_some_and(|c| c.starts_with("AADSTS")),
                "{err}"
            );
            assert_eq!(tenant_id, &h.tenant);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.kind(), GraphErrorKind::Auth);
    assert_eq!(exit::for_error(&err), ExitCode::Auth);
    let shown = err.to_string();
    assert!(
        shown.contains("(AADSTS7000215): Invalid client secret provided."),
        "{shown}"
    );
    assert!(!shown.contains(wrong) && !format!("{err:?}").contains(wrong));
    assert_eq!(
        client.requests_sent(),
        0,
        "no Graph request without a token"
    );
    assert!(h.graph_requests().await.is_empty());
}

#[tokio::test]
async fn a_missing_secret_or_ca_file_is_a_setup_error_naming_its_place() {
    let h = tls_harness().await;
    let err = GraphClient::connect(&tenant(&h, &h.writer), &Env::empty()).unwrap_err();
    assert!(matches!(err, GraphError::Secret { .. }), "{err:?}");
    assert!(err.to_string().contains(SECRET_VAR), "{err}");
    assert_eq!(exit::for_error(&err), ExitCode::Invalid);

    let mut settings = tenant(&h, &h.writer);
    let dir = std::env::temp_dir().join(format!("mfactl-graph-secret-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let secret_file = dir.join("writer.txt");
    std::fs::write(&secret_file, format!("{WRITER_SECRET}\n")).unwrap();
    settings.credential = CredentialSource::SecretFile(secret_file.clone());
    let client = GraphClient::connect(&settings, &Env::empty()).unwrap();
    client
        .get(POLICY_V1)
        .await
        .expect("secret read from the file");

    std::fs::write(&secret_file, "\n").unwrap();
    let err = GraphClient::connect(&settings, &Env::empty()).unwrap_err();
    assert!(err.to_string().contains("writer.txt"), "{err}");

    settings.credential = CredentialSource::SecretEnv(SECRET_VAR.into());
    settings.ca_file = Some(dir.join("missing-ca.pem"));
    let err = GraphClient::connect(&settings, &env_with(WRITER_SECRET)).unwrap_err();
    assert!(matches!(err, GraphError::CaFile { .. }), "{err:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn an_untrusted_token_endpoint_fails_fast_as_a_network_error() {
    let h = tls_harness().await;
    let mut settings = tenant(&h, &h.writer);
    settings.ca_file = None;
    let client = GraphClient::connect(&settings, &env_with(WRITER_SECRET)).unwrap();
    let started = Instant::now();
    let err = client.get(POLICY_V1).await.unwrap_err();
    assert!(
        matches!(err, GraphError::Authentication { status: None, .. }),
        "{err:?}"
    );
    assert_eq!(err.kind(), GraphErrorKind::Graph);
    assert!(
        err.to_string().contains("invalid peer certificate"),
        "the TLS cause is shown, not the retry policy's wrapper: {err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_503_with_retry_after_is_retried_once_and_succeeds() {
    let h = tls_harness().await;
    let client = writer(&h);
    h.add_fault(json!({"method": "GET", "pathPrefix": POLICY_V1, "count": 1, "kind": "status", "status": 503, "retryAfter": 0.3})).await;
    let started = Instant::now();
    let policy = client.get(POLICY_V1).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "Retry-After honoured"
    );
    assert_eq!(policy["id"], json!("authenticationMethodsPolicy"));
    let log = h.graph_requests().await;
    let statuses: Vec<&Value> = log.iter().map(|e| &e["status"]).collect();
    assert_eq!(statuses, [&json!(503), &json!(200)]);
    assert_eq!(client.requests_sent(), 2);
}

#[tokio::test]
async fn a_429_is_retried_after_retry_after() {
    let h = tls_harness().await;
    let client = writer(&h);
    h.add_fault(json!({"pathPrefix": "/v1.0/users", "count": 2, "kind": "status", "status": 429, "retryAfter": 0.1})).await;
    let users = client.get_all("/v1.0/users?$top=50").await.unwrap();
    assert_eq!(users.len(), 30);
    assert_eq!(count(&h, "GET", "/v1.0/users").await, 3);

    h.add_fault(json!({"pathPrefix": "/v1.0/users", "count": MAX_ATTEMPTS, "kind": "status", "status": 429, "retryAfter": 0.1})).await;
    let err = client.get("/v1.0/users").await.unwrap_err();
    match &err {
        GraphError::Throttled {
            retry_after,
            attempts,
            ..
        } => {
            assert_eq!(*retry_after, Some(Duration::from_millis(100)));
            assert_eq!(*attempts, MAX_ATTEMPTS);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(exit::for_error(&err), ExitCode::Graph);
}

#[tokio::test]
async fn persistent_500s_give_up_after_max_attempts() {
    let h = tls_harness().await;
    let client = writer(&h);
    h.add_fault(json!({"method": "GET", "pathPrefix": POLICY_V1, "count": MAX_ATTEMPTS + 1, "kind": "status", "status": 500})).await;
    let err = client.get(POLICY_V1).await.unwrap_err();
    match &err {
        GraphError::Server {
            status,
            attempts,
            request,
            ..
        } => {
            assert_eq!(*status, 500);
            assert_eq!(*attempts, MAX_ATTEMPTS);
            assert!(request.request_id.is_some());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.kind(), GraphErrorKind::Graph);
    assert_eq!(count(&h, "GET", POLICY_V1).await, MAX_ATTEMPTS as usize);
    assert_eq!(client.requests_sent(), u64::from(MAX_ATTEMPTS));
}

#[tokio::test]
async fn a_malformed_body_is_an_invalid_response_not_empty_state() {
    let h = tls_harness().await;
    let client = writer(&h);
    h.add_fault(json!({"method": "GET", "pathPrefix": POLICY_V1, "count": 1, "kind": "malformed"}))
        .await;
    let err = client.get(POLICY_V1).await.unwrap_err();
    assert!(
        matches!(err, GraphError::InvalidResponse { status: 200, .. }),
        "{err:?}"
    );
    assert_eq!(exit::for_error(&err), ExitCode::Graph);

    h.add_fault(
        json!({"method": "GET", "pathPrefix": "/v1.0/users", "count": 1, "kind": "malformed"}),
    )
    .await;
    let err = client.get_all("/v1.0/users?$top=7").await.unwrap_err();
    assert!(matches!(err, GraphError::InvalidResponse { .. }), "{err:?}");
}

#[tokio::test]
async fn a_dropped_patch_is_not_sent_twice() {
    let h = tls_harness().await;
    let client = writer(&h);
    client.get(POLICY_V1).await.unwrap();
    clear_log(&h).await;
    h.add_fault(json!({"method": "PATCH", "pathPrefix": SMS, "count": 1, "kind": "drop"}))
        .await;
    let body = json!({"@odata.type": "#microsoft.graph.smsAuthenticationMethodConfiguration", "state": "enabled"});
    let err = client.patch(SMS, &body).await.unwrap_err();
    match &err {
        GraphError::Network {
            request, attempts, ..
        } => {
            assert_eq!(request.method, "PATCH");
            assert_eq!(*attempts, 1);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(exit::for_error(&err), ExitCode::Graph);
    assert_eq!(count(&h, "PATCH", SMS).await, 1, "exactly one PATCH");

    // A GET whose connection drops is retried.
    h.add_fault(json!({"method": "GET", "pathPrefix": SMS, "count": 1, "kind": "drop"}))
        .await;
    client.get(SMS).await.expect("retried after the drop");
    assert_eq!(count(&h, "GET", SMS).await, 2);
}

#[tokio::test]
async fn a_patch_is_retried_only_when_graph_refused_it_with_retry_after() {
    let h = tls_harness().await;
    let client = writer(&h);
    let body = json!({"@odata.type": "#microsoft.graph.smsAuthenticationMethodConfiguration", "state": "enabled"});
    h.add_fault(json!({"method": "PATCH", "pathPrefix": SMS, "count": 1, "kind": "status", "status": 503, "retryAfter": 0.1})).await;
    assert_eq!(client.patch(SMS, &body).await.unwrap(), None);
    assert_eq!(count(&h, "PATCH", SMS).await, 2);

    clear_log(&h).await;
    h.add_fault(
        json!({"method": "PATCH", "pathPrefix": SMS, "count": 1, "kind": "status", "status": 500}),
    )
    .await;
    let err = client.patch(SMS, &body).await.unwrap_err();
    assert!(
        matches!(
            err,
            GraphError::Server {
                status: 500,
                attempts: 1,
                ..
            }
        ),
        "{err:?}"
    );
    clear_log(&h).await;
    h.add_fault(
        json!({"method": "PATCH", "pathPrefix": SMS, "count": 1, "kind": "status", "status": 503}),
    )
    .await;
    let err = client.patch(SMS, &body).await.unwrap_err();
    assert!(
        matches!(
            err,
            GraphError::Server {
                status: 503,
                attempts: 1,
                ..
            }
        ),
        "503 without Retry-After may have been acted on: {err:?}"
    );
    assert_eq!(count(&h, "PATCH", SMS).await, 1);
}

#[tokio::test]
async fn a_400_is_not_retried() {
    let h = tls_harness().await;
    let client = writer(&h);
    let err = client
        .patch(POLICY_V1, &json!({"policyVersion": "2.0"}))
        .await
        .unwrap_err();
    match &err {
        GraphError::BadRequest { code, message, .. } => {
            assert!(!code.is_empty());
            assert!(message.contains("policyVersion"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(exit::for_error(&err), ExitCode::Graph);
    assert_eq!(count(&h, "PATCH", POLICY_V1).await, 1);

    let err = client.get("/v1.0/policies/noSuchThing").await.unwrap_err();
    assert!(matches!(err, GraphError::BadRequest { .. }), "{err:?}");
    assert_eq!(count(&h, "GET", "/v1.0/policies/noSuchThing").await, 1);
    assert_eq!(client.requests_sent(), 2);
}

/// A `MakeWriter` target that appends to a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn trace_logs_carry_no_token_and_no_secret() {
    let h = tls_harness().await;
    let captured = Captured::default();
    let writer_target = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer_target.clone())
        .finish();
    crate::common::keep_tracing_callsites_alive();
    let guard = tracing::subscriber::set_default(subscriber);

    let client = writer(&h);
    client.get(POLICY_V1).await.unwrap();
    h.add_fault(json!({"method": "GET", "pathPrefix": POLICY_V1, "count": 1, "kind": "status", "status": 503, "retryAfter": 0.05})).await;
    client.get(POLICY_V1).await.unwrap();
    client
        .patch(SMS, &json!({"@odata.type": "#microsoft.graph.smsAuthenticationMethodConfiguration", "state": "enabled"}))
        .await
        .unwrap();
    let wrong = "Another~Wrong.Secret_99";
    let failing = GraphClient::connect(&tenant(&h, &h.writer), &env_with(wrong)).unwrap();
    failing.get(POLICY_V1).await.unwrap_err();
    drop(guard);

    let text = captured.text();
    assert!(
        text.contains("Graph response"),
        "mfactl's events were captured: {text}"
    );
    assert!(
        text.contains("oauth2/v2.0/token"),
        "azure_identity's events were captured: {text}"
    );
    assert!(text.contains("TRACE") || text.contains("DEBUG"), "{text}");
    // Every token the emulator issues is a JWT: base64url of `{"typ":...` starts `eyJ`.
    assert!(
        !text.contains("eyJ"),
        "a token leaked into the log:\n{text}"
    );
    assert!(!text.contains(WRITER_SECRET), "the secret leaked:\n{text}");
    assert!(!text.contains(wrong), "the wrong secret leaked:\n{text}");
    assert!(!text.to_ascii_lowercase().contains("bearer"), "{text}");
}
