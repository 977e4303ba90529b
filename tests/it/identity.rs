//! The Entra client-credentials grant and Graph's token checks.

use std::sync::Arc;

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::{Secret, TokenCredential};
use azure_core::http::{ClientOptions, RetryOptions, Transport};
use azure_identity::{ClientSecretCredential, ClientSecretCredentialOptions};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use mfactl::emulator::EmulatorConfig;
use mfactl::emulator::generate::WRITER_SECRET;
use mfactl::emulator::state::{App, FederatedCredential};
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{self, Harness, error_code};

const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";
const TEST_KEY_PEM: &str = include_str!("../fixtures/test-app-key.pem");

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("JWT payload");
    serde_json::from_slice(&B64URL.decode(payload).expect("base64url")).expect("JSON claims")
}

#[tokio::test]
async fn secret_grant_issues_a_token_bound_to_tenant_and_roles() {
    let h = Harness::small().await;
    let token = h.writer_token().await;
    let claims = claims_of(&token);
    assert_eq!(claims["tid"], json!(h.tenant));
    assert_eq!(claims["appid"], json!(h.writer));
    assert_eq!(claims["aud"], json!("https://graph.microsoft.com"));
    let roles: Vec<&str> = claims["roles"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        roles.contains(&"Policy.ReadWrite.AuthenticationMethod"),
        "{roles:?}"
    );
    let r = h
        .get("/v1.0/policies/authenticationMethodsPolicy", &token)
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn the_tenant_may_be_named_by_a_domain() {
    let h = Harness::small().await;
    let domain = h.emu.core.world().tenants[0].tenant.domains[0].clone();
    let r = h
        .token_request(
            &domain,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &h.writer),
                ("client_secret", WRITER_SECRET),
                ("scope", GRAPH_SCOPE),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        claims_of(r.body["access_token"].as_str().unwrap())["tid"],
        json!(h.tenant)
    );
}

/// A token request that must fail: what, form, status, `error`, AADSTS code.
type TokenCase<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16, &'a str, u64);

#[tokio::test]
async fn bad_token_requests_get_entra_errors() {
    let h = Harness::small().await;
    let cases: Vec<TokenCase> = vec![
        (
            "wrong secret",
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &h.writer),
                ("client_secret", "nope"),
                ("scope", GRAPH_SCOPE),
            ],
            401,
            "invalid_client",
            7000215,
        ),
        (
            "unknown app",
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", "11111111-1111-4111-8111-111111111111"),
                ("client_secret", "x"),
                ("scope", GRAPH_SCOPE),
            ],
            400,
            "unauthorized_client",
            700016,
        ),
        (
            "scope without /.default",
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &h.writer),
                ("client_secret", WRITER_SECRET),
                ("scope", "https://graph.microsoft.com/User.Read"),
            ],
            400,
            "invalid_scope",
            1002012,
        ),
        (
            "password grant",
            vec![
                ("grant_type", "password"),
                ("client_id", &h.writer),
                ("scope", GRAPH_SCOPE),
            ],
            400,
            "unsupported_grant_type",
            70003,
        ),
        (
            "no credential",
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &h.writer),
                ("scope", GRAPH_SCOPE),
            ],
            401,
            "invalid_client",
            7000218,
        ),
    ];
    for (what, form, status, error, code) in cases {
        let r = h.token_request(&h.tenant, &form).await;
        assert_eq!(r.status, status, "{what}: {}", r.body);
        assert_eq!(r.body["error"], json!(error), "{what}");
        assert_eq!(r.body["error_codes"], json!([code]), "{what}");
        assert!(
            r.body["error_description"]
                .as_str()
                .unwrap()
                .starts_with(&format!("AADSTS{code}:")),
            "{what}"
        );
    }
    let r = h
        .token_request(
            "00000000-1111-4222-8333-444444444444",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &h.writer),
                ("client_secret", WRITER_SECRET),
                ("scope", GRAPH_SCOPE),
            ],
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error_codes"], json!([90002]));
}

#[tokio::test]
async fn graph_refuses_missing_forged_and_foreign_tokens() {
    let h = Harness::small().await;
    let r = h
        .call(
            Method::GET,
            "/v1.0/policies/authenticationMethodsPolicy",
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(error_code(&r), "InvalidAuthenticationToken");
    assert!(r.headers.get("www-authenticate").is_some());

    // Same claims, re-signed with another key: the signature check must catch it.
    let token = h.writer_token().await;
    let mut parts: Vec<String> = token.split('.').map(String::from).collect();
    parts[2] = B64URL.encode([7u8; 32]);
    let r = h
        .get(
            "/v1.0/policies/authenticationMethodsPolicy",
            &parts.join("."),
        )
        .await;
    assert_eq!(r.status, 401);

    // A token from another emulator (another signing key) is not valid here either.
    let other = Harness::small().await;
    let foreign = other.writer_token().await;
    let r = h
        .get("/v1.0/policies/authenticationMethodsPolicy", &foreign)
        .await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn a_read_only_app_reads_but_cannot_write_anything() {
    let h = Harness::small().await;
    let reader = h.reader_token().await;
    for path in [
        "/v1.0/policies/authenticationMethodsPolicy",
        "/v1.0/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/sms",
        "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy",
        "/v1.0/reports/authenticationMethods/userRegistrationDetails",
        "/v1.0/users",
        "/v1.0/groups",
    ] {
        assert_eq!(h.get(path, &reader).await.status, 200, "{path}");
    }
    let writes = [
        (
            "/v1.0/policies/authenticationMethodsPolicy",
            json!({"policyMigrationState": "migrationInProgress"}),
        ),
        (
            "/v1.0/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/sms",
            json!({"@odata.type": "#microsoft.graph.smsAuthenticationMethodConfiguration", "state": "enabled"}),
        ),
        (
            "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy",
            json!({"isEnabled": true}),
        ),
    ];
    for (path, body) in writes {
        let r = h.patch(path, &reader, &body).await;
        assert_eq!(r.status, 403, "{path}");
        assert_eq!(error_code(&r), "Authorization_RequestDenied");
    }
    let r = h
        .call(
            Method::DELETE,
            "/v1.0/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/sms",
            Some(&reader),
            None,
        )
        .await;
    assert_eq!(r.status, 403);
    // Nothing changed.
    let sms = h
        .get(
            "/v1.0/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/sms",
            &reader,
        )
        .await;
    assert_eq!(sms.body["state"], json!("disabled"));
}

#[tokio::test]
async fn permissions_follow_the_documented_least_privilege_table() {
    let mut state = common::state(10);
    let t = &mut state.tenants[0];
    let apps = [
        (
            "a0000000-0000-4000-8000-000000000001",
            vec!["Policy.Read.AuthenticationMethod"],
        ),
        (
            "a0000000-0000-4000-8000-000000000002",
            vec!["AuditLog.Read.All"],
        ),
        (
            "a0000000-0000-4000-8000-000000000003",
            vec!["Directory.Read.All"],
        ),
    ];
    for (id, roles) in &apps {
        t.apps.push(App {
            client_id: (*id).into(),
            display_name: String::new(),
            secrets: vec!["s".into()],
            certificates: vec![],
            federated_credentials: vec![],
            roles: roles.iter().map(|r| r.to_string()).collect(),
        });
    }
    let h = Harness::start(state).await;
    let policy_reader = h.token_for(apps[0].0, "s").await;
    let report_reader = h.token_for(apps[1].0, "s").await;
    let directory_reader = h.token_for(apps[2].0, "s").await;
    let policy = "/v1.0/policies/authenticationMethodsPolicy";
    let report = "/v1.0/reports/authenticationMethods/userRegistrationDetails";
    let defaults = "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy";
    assert_eq!(h.get(policy, &policy_reader).await.status, 200);
    assert_eq!(h.get(report, &policy_reader).await.status, 403);
    assert_eq!(
        h.get(defaults, &policy_reader).await.status,
        403,
        "security defaults need Policy.Read.All"
    );
    assert_eq!(h.get(report, &report_reader).await.status, 200);
    assert_eq!(h.get(policy, &report_reader).await.status, 403);
    assert_eq!(h.get("/v1.0/users", &directory_reader).await.status, 200);
    assert_eq!(h.get("/v1.0/groups", &directory_reader).await.status, 200);
    assert_eq!(
        h.get(policy, &directory_reader).await.status,
        403,
        "Directory.Read.All does not cover policies"
    );
}

fn rs256_assertion(claims: &Value, x5t: &str) -> String {
    let header = json!({"alg": "RS256", "typ": "JWT", "x5t": x5t});
    let input = format!(
        "{}.{}",
        B64URL.encode(serde_json::to_vec(&header).unwrap()),
        B64URL.encode(serde_json::to_vec(claims).unwrap())
    );
    let der =
        rustls::pki_types::PrivatePkcs8KeyDer::from_pem_slice(TEST_KEY_PEM.as_bytes()).unwrap();
    let key = ring::signature::RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).unwrap();
    let mut sig = vec![0u8; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .unwrap();
    format!("{input}.{}", B64URL.encode(sig))
}

use rustls::pki_types::pem::PemObject as _;

#[tokio::test]
async fn certificate_assertions_are_verified_against_the_registered_certificate() {
    let key =
        rcgen::KeyPair::from_pem_and_sign_algo(TEST_KEY_PEM, &rcgen::PKCS_RSA_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let x5t = B64URL.encode(ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        cert.der(),
    ));
    let client_id = "c0000000-0000-4000-8000-00000000000c";
    let mut state = common::state(5);
    state.tenants[0].apps.push(App {
        client_id: client_id.into(),
        display_name: "certificate app".into(),
        secrets: vec![],
        certificates: vec![cert.pem()],
        federated_credentials: vec![],
        roles: vec!["Policy.Read.All".into()],
    });
    let h = Harness::start(state).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let aud = format!(
        "https://login.microsoftonline.com/{}/oauth2/v2.0/token",
        h.tenant
    );
    let good = json!({"iss": client_id, "sub": client_id, "aud": aud, "exp": now + 600, "nbf": now, "jti": "1"});
    let form = |assertion: &str| {
        vec![
            ("grant_type".to_string(), "client_credentials".to_string()),
            ("client_id".into(), client_id.into()),
            (
                "client_assertion_type".into(),
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
            ),
            ("client_assertion".into(), assertion.to_string()),
            ("scope".into(), GRAPH_SCOPE.into()),
        ]
    };
    let send = |f: Vec<(String, String)>| {
        let h = &h;
        async move {
            let pairs: Vec<(&str, &str)> =
                f.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            h.token_request(&h.tenant, &pairs).await
        }
    };
    let r = send(form(&rs256_assertion(&good, &x5t))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        claims_of(r.body["access_token"].as_str().unwrap())["appid"],
        json!(client_id)
    );

    // A tampered payload no longer matches the signature.
    let signed = rs256_assertion(&good, &x5t);
    let mut parts: Vec<&str> = signed.split('.').collect();
    let forged_claims = B64URL.encode(
        serde_json::to_vec(
            &json!({"iss": client_id, "sub": client_id, "aud": aud, "exp": now + 9999}),
        )
        .unwrap(),
    );
    parts[1] = &forged_claims;
    let r = send(form(&parts.join("."))).await;
    assert_eq!(r.status, 401, "{}", r.body);
    // An unregistered thumbprint, an expired assertion and a wrong audience are refused.
    assert_eq!(
        send(form(&rs256_assertion(&good, "AAAA"))).await.body["error_codes"],
        json!([700027])
    );
    let expired = json!({"iss": client_id, "sub": client_id, "aud": aud, "exp": now - 10});
    assert_eq!(
        send(form(&rs256_assertion(&expired, &x5t))).await.body["error_codes"],
        json!([700024])
    );
    let wrong_aud = json!({"iss": client_id, "sub": client_id, "aud": "https://example.test/token", "exp": now + 600});
    assert_eq!(
        send(form(&rs256_assertion(&wrong_aud, &x5t))).await.status,
        401
    );
}

#[tokio::test]
async fn federated_assertions_must_match_issuer_subject_and_audience() {
    let client_id = "f0000000-0000-4000-8000-00000000000f";
    let mut state = common::state(5);
    state.tenants[0].apps.push(App {
        client_id: client_id.into(),
        display_name: "github".into(),
        secrets: vec![],
        certificates: vec![],
        federated_credentials: vec![FederatedCredential {
            issuer: "https://token.actions.githubusercontent.com".into(),
            subject: "repo:contoso/mfa-policy:environment:production".into(),
            audiences: vec!["api://AzureADTokenExchange".into()],
        }],
        roles: vec!["Policy.Read.All".into()],
    });
    let h = Harness::start(state).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let jwt = |sub: &str, aud: &str| {
        let h64 = B64URL.encode(br#"{"alg":"RS256","typ":"JWT","kid":"k"}"#);
        let c = json!({"iss": "https://token.actions.githubusercontent.com", "sub": sub, "aud": aud, "exp": now + 300});
        format!(
            "{h64}.{}.{}",
            B64URL.encode(serde_json::to_vec(&c).unwrap()),
            B64URL.encode(b"sig")
        )
    };
    let request = |assertion: String| {
        let h = &h;
        async move {
            h.token_request(
                &h.tenant,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", client_id),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", &assertion),
                    ("scope", GRAPH_SCOPE),
                ],
            )
            .await
        }
    };
    let ok = request(jwt(
        "repo:contoso/mfa-policy:environment:production",
        "api://AzureADTokenExchange",
    ))
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let pr = request(jwt(
        "repo:contoso/mfa-policy:pull_request",
        "api://AzureADTokenExchange",
    ))
    .await;
    assert_eq!(pr.status, 401);
    assert_eq!(pr.body["error_codes"], json!([700213]));
    let aud = request(jwt(
        "repo:contoso/mfa-policy:environment:production",
        "api://other",
    ))
    .await;
    assert_eq!(aud.status, 401);
}

#[tokio::test]
async fn token_requests_are_logged_without_their_secret() {
    let h = Harness::small().await;
    h.writer_token().await;
    let log = h.requests().await;
    let entry = log
        .iter()
        .find(|e| e["path"].as_str().unwrap().ends_with("/oauth2/v2.0/token"))
        .unwrap();
    assert_eq!(entry["body"]["client_secret"], json!("[redacted]"));
    assert!(!serde_json::to_string(&log).unwrap().contains(WRITER_SECRET));
    assert_eq!(entry["app"], json!(h.writer));
}

/// azure_identity's own ClientSecretCredential against the emulator's HTTPS token endpoint,
/// trusting the generated test CA, as mfactl will use it.
#[tokio::test]
async fn azure_identity_client_secret_credential_works_against_the_tls_endpoint() {
    let mut config = EmulatorConfig::new(common::state(5));
    config.tls = true;
    let h = Harness::with(config).await;
    let ca_path = h.emu.endpoints.ca_file.clone().expect("CA file with --tls");
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&ca_path).unwrap()).unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_merge([ca])
        .build()
        .unwrap();
    let mut cloud = CustomConfiguration::default();
    cloud.authority_host = h.emu.endpoints.login_url.clone();
    assert!(cloud.authority_host.starts_with("https://localhost:"));
    let options = ClientSecretCredentialOptions {
        client_options: ClientOptions {
            transport: Some(Transport::new(Arc::new(client))),
            retry: RetryOptions::none(),
            cloud: Some(Arc::new(CloudConfiguration::Custom(cloud))),
            ..Default::default()
        },
    };
    let credential = ClientSecretCredential::new(
        &h.tenant,
        h.writer.clone(),
        Secret::new(WRITER_SECRET),
        Some(options),
    )
    .unwrap();
    let token = credential
        .get_token(&[GRAPH_SCOPE], None)
        .await
        .expect("token over TLS");
    assert_eq!(claims_of(token.token.secret())["tid"], json!(h.tenant));
    let r = h
        .get(
            "/v1.0/policies/authenticationMethodsPolicy",
            token.token.secret(),
        )
        .await;
    assert_eq!(r.status, 200);
    // The same port still serves plain HTTP to Graph callers.
    assert!(h.emu.graph_url().starts_with("http://127.0.0.1:"));

    // A client that does not trust the test CA is refused: TLS is real.
    let untrusting = reqwest::Client::builder()
        .tls_certs_only([])
        .build()
        .unwrap();
    let err = untrusting
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            h.emu.endpoints.login_url, h.tenant
        ))
        .send()
        .await;
    assert!(err.is_err());
}

/// MSAL's way to a token, over HTTP: instance discovery, the tenant's OpenID Connect metadata
/// (the tenant asked for by domain), then the token endpoint that metadata names.
#[tokio::test]
async fn discovery_documents_lead_msal_to_the_token_endpoint() {
    let h = Harness::small().await;
    let domain = h.emu.core.world().tenants[0].tenant.domains[0].clone();
    let base = h.emu.graph_url();
    let authorize = format!("{base}/{domain}/oauth2/v2.0/authorize");
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("api-version", "1.1"),
            ("authorization_endpoint", authorize.as_str()),
        ])
        .finish();
    let instance = common::reply(
        h.http
            .get(h.url(&format!("/common/discovery/instance?{query}")))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(instance.status, 200, "{}", instance.body);
    let tenant_discovery = instance.body["tenant_discovery_endpoint"]
        .as_str()
        .expect("tenant_discovery_endpoint")
        .to_string();
    assert_eq!(
        tenant_discovery,
        format!("{base}/{domain}/v2.0/.well-known/openid-configuration")
    );

    let meta = common::reply(h.http.get(&tenant_discovery).send().await.expect("sent")).await;
    assert_eq!(meta.status, 200, "{}", meta.body);
    assert_eq!(
        meta.body["issuer"],
        json!(format!("{base}/{}/v2.0", h.tenant))
    );
    let token_endpoint = meta.body["token_endpoint"]
        .as_str()
        .expect("token_endpoint");
    assert_eq!(
        token_endpoint,
        format!("{base}/{}/oauth2/v2.0/token", h.tenant)
    );
    // The token endpoint it names is the one the emulator serves.
    let token = h
        .token_request(
            &h.tenant,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &h.writer),
                ("client_secret", WRITER_SECRET),
                ("scope", GRAPH_SCOPE),
            ],
        )
        .await;
    assert_eq!(token.status, 200, "{}", token.body);
    assert_eq!(
        claims_of(token.body["access_token"].as_str().expect("token"))["tid"],
        json!(h.tenant)
    );

    let unknown = common::reply(
        h.http
            .get(h.url("/nowhere.example/v2.0/.well-known/openid-configuration"))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(unknown.status, 400, "{}", unknown.body);
    assert_eq!(unknown.body["error"], "invalid_tenant");
    assert_eq!(unknown.body["error_codes"], json!([90002]));

    let posted = common::reply(h.http.post(&tenant_discovery).send().await.expect("sent")).await;
    assert_eq!(posted.status, 405, "{}", posted.body);
}
