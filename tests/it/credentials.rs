//! Every credential kind through mfactl's real code path (`GraphClient::connect`, then Graph
//! calls) against the emulator's HTTPS token endpoint: client secret, certificate (PEM with
//! PKCS#8 or PKCS#1 keys, PKCS#12), workload identity, GitHub Actions and Azure Pipelines
//! OIDC (a local HTTP server stands in for the CI's token service); the `auto` chain; the
//! configuration of every kind; and that no secret, key, token or assertion shows in
//! `Debug` or `Display`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use http_body_util::{BodyExt as _, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use mfactl::cli::exit::{self, ExitCode};
use mfactl::config::{
    self, CertificateSource, ConfigError, CredentialSource, Env, ManagedIdentityId, SecretRef,
    TenantSettings,
};
use mfactl::emulator::EmulatorConfig;
use mfactl::emulator::generate::WRITER_SECRET;
use mfactl::emulator::state::{App, FederatedCredential};
use mfactl::emulator::throttle::ThrottleMode;
use mfactl::graph::credential::{self, CertificateAssertion, CredentialError, OidcAssertion};
use mfactl::graph::{GraphClient, GraphError};
use rustls::pki_types::pem::PemObject as _;
use serde_json::{Value, json};
use url::Url;

use crate::common::{self, Harness};

const POLICY: &str = "/v1.0/policies/authenticationMethodsPolicy";
const TEST_KEY_PEM: &str = include_str!("../fixtures/test-app-key.pem");
const CERT_APP: &str = "c1000000-0000-4000-8000-0000000000c1";
const FEDERATED_APP: &str = "f1000000-0000-4000-8000-0000000000f1";
const AKS_ISSUER: &str = "https://oidc.prod-aks.azure.com/00000000-1111-2222-3333-444444444444/";
const AKS_SUBJECT: &str = "system:serviceaccount:mfactl:mfactl";
const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
const GITHUB_SUBJECT: &str = "repo:contoso/mfa-policy:environment:production";
const PIPELINES_ISSUER: &str = "https://vstoken.dev.azure.com/55555555-6666-7777-8888-999999999999";
const PIPELINES_SUBJECT: &str = "sc://contoso/mfa/mfactl-connection";
const AUDIENCE: &str = "api://AzureADTokenExchange";
const ACTIONS_TOKEN: &str = "ghs_RequestToken.Not-For-Logs_7";
const PIPELINES_TOKEN: &str = "ado_SystemAccessToken.Not-For-Logs_8";
const PFX_PASSWORD: &str = "Pfx~Password.Not-For-Logs_9";

/// A self-signed certificate for the test key (a new serial, hence a new thumbprint, each
/// call).
fn certificate() -> rcgen::Certificate {
    let key = rcgen::KeyPair::from_pem_and_sign_algo(TEST_KEY_PEM, &rcgen::PKCS_RSA_SHA256)
        .expect("test key");
    let mut params = rcgen::CertificateParams::new(vec!["mfactl".to_string()]).expect("params");
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&rand_bytes()));
    params.self_signed(&key).expect("self-signed")
}

fn rand_bytes() -> [u8; 8] {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed) as u128;
    let mut out = ((nanos ^ (n << 64)) as u64).to_be_bytes();
    out[0] &= 0x7f;
    out[0] |= 0x01;
    out
}

static COUNTER: AtomicUsize = AtomicUsize::new(1);

/// An unsigned JWT with these claims (the emulator does not verify federated tokens'
/// signatures; Entra checks them against the issuer's keys).
fn federated_jwt(iss: &str, sub: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = B64URL.encode(br#"{"alg":"RS256","typ":"JWT","kid":"k1"}"#);
    let claims =
        json!({"iss": iss, "sub": sub, "aud": AUDIENCE, "iat": now, "nbf": now, "exp": now + 600});
    format!(
        "{header}.{}.{}",
        B64URL.encode(serde_json::to_vec(&claims).unwrap()),
        B64URL.encode(b"signature")
    )
}

/// The emulator over TLS with two extra apps: one that trusts `certs`, one with federated
/// credentials for AKS, GitHub Actions and Azure Pipelines.
async fn harness(certs: Vec<String>) -> Harness {
    let mut state = common::state(5);
    let roles = vec!["Policy.Read.All".to_string()];
    state.tenants[0].apps.push(App {
        client_id: CERT_APP.into(),
        display_name: "mfactl certificate".into(),
        secrets: vec![],
        certificates: certs,
        federated_credentials: vec![],
        roles: roles.clone(),
    });
    let federated = |issuer: &str, subject: &str| FederatedCredential {
        issuer: issuer.into(),
        subject: subject.into(),
        audiences: vec![AUDIENCE.into()],
    };
    state.tenants[0].apps.push(App {
        client_id: FEDERATED_APP.into(),
        display_name: "mfactl federated".into(),
        secrets: vec![],
        certificates: vec![],
        federated_credentials: vec![
            federated(AKS_ISSUER, AKS_SUBJECT),
            federated(GITHUB_ISSUER, GITHUB_SUBJECT),
            federated(PIPELINES_ISSUER, PIPELINES_SUBJECT),
        ],
        roles,
    });
    let mut config = EmulatorConfig::new(state);
    config.tls = true;
    config.throttle = ThrottleMode::Off;
    Harness::with(config).await
}

fn tenant(h: &Harness, client_id: &str, credential: CredentialSource) -> TenantSettings {
    let login = &h.emu.endpoints.login_url;
    assert!(login.starts_with("https://localhost:"), "{login}");
    TenantSettings {
        name: "emulated".into(),
        tenant_id: h.tenant.clone(),
        client_id: client_id.to_string(),
        credential,
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

/// Token requests in the emulator's log.
async fn token_requests(h: &Harness) -> Vec<Value> {
    h.requests()
        .await
        .into_iter()
        .filter(|e| {
            e["path"]
                .as_str()
                .unwrap_or_default()
                .ends_with("/oauth2/v2.0/token")
        })
        .collect()
}

/// Three Graph calls through `client`; the emulator must have seen exactly one token request,
/// from `client_id`, with the expected grant.
async fn three_calls_one_token(h: &Harness, client: &GraphClient, client_id: &str, form_key: &str) {
    for _ in 0..3 {
        let policy = client.get(POLICY).await.expect("Graph call");
        assert_eq!(policy["id"], json!("authenticationMethodsPolicy"));
    }
    let tokens = token_requests(h).await;
    assert_eq!(tokens.len(), 1, "one token, then the cache: {tokens:?}");
    assert_eq!(tokens[0]["app"], json!(client_id));
    assert_eq!(tokens[0]["body"][form_key], json!("[redacted]"));
    assert_eq!(client.requests_sent(), 3);
}

/// A scratch directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "mfactl-credentials-{name}-{}-{n}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn write(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, content).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The PKCS#1 `RSAPrivateKey` inside the PKCS#8 test key, as an `RSA PRIVATE KEY` PEM.
fn pkcs1_pem() -> String {
    let der =
        rustls::pki_types::PrivatePkcs8KeyDer::from_pem_slice(TEST_KEY_PEM.as_bytes()).unwrap();
    let der = der.secret_pkcs8_der();
    // SEQUENCE(4) INTEGER 0(3) AlgorithmIdentifier rsaEncryption(15) OCTET STRING(4) ...
    assert_eq!(&der[22..24], &[0x04, 0x82], "long-form octet string at 22");
    let inner = &der[26..];
    let b64 = base64::engine::general_purpose::STANDARD.encode(inner);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----\n",
        lines.join("\n")
    )
}

/// A PKCS#12 file holding the test key and `cert`, protected by `password`.
fn pkcs12(cert: &rcgen::Certificate, password: &str) -> Vec<u8> {
    let der =
        rustls::pki_types::PrivatePkcs8KeyDer::from_pem_slice(TEST_KEY_PEM.as_bytes()).unwrap();
    let key = p12_keystore::PrivateKey::from_der(der.secret_pkcs8_der()).unwrap();
    let cert = p12_keystore::Certificate::from_der(cert.der()).unwrap();
    let chain = p12_keystore::PrivateKeyChain::new(vec![1u8, 2, 3, 4], key, vec![cert]);
    let mut store = p12_keystore::KeyStore::new();
    store.add_entry(
        "mfactl",
        p12_keystore::KeyStoreEntry::PrivateKeyChain(chain),
    );
    store.writer(password).write().unwrap()
}

/// Key material that must never appear in output: lines of the key's base64 body.
fn key_fragments() -> Vec<String> {
    let mut out: Vec<String> = TEST_KEY_PEM
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() > 20)
        .map(str::to_string)
        .collect();
    out.extend(
        pkcs1_pem()
            .lines()
            .filter(|l| !l.starts_with("-----") && l.len() > 20)
            .map(str::to_string),
    );
    out
}

/// Fails when `text` shows a secret, key material, a token or an assertion.
fn assert_clean(what: &str, text: &str) {
    for secret in [WRITER_SECRET, ACTIONS_TOKEN, PIPELINES_TOKEN, PFX_PASSWORD] {
        assert!(!text.contains(secret), "{what} shows a secret: {text}");
    }
    for fragment in key_fragments() {
        assert!(
            !text.contains(&fragment),
            "{what} shows key material: {text}"
        );
    }
    // Every JWT (assertion, federated token, access token) starts with base64url `{"`.
    assert!(!text.contains("eyJ"), "{what} shows a JWT: {text}");
}

#[tokio::test]
async fn client_secret_from_env_or_file_gets_one_token_for_several_calls() {
    let h = harness(vec![]).await;
    let env = Env::empty().with("MFACTL_TEST_SECRET", WRITER_SECRET);
    let settings = tenant(
        &h,
        &h.writer,
        CredentialSource::SecretEnv("MFACTL_TEST_SECRET".into()),
    );
    let client = GraphClient::connect(&settings, &env).unwrap();
    three_calls_one_token(&h, &client, &h.writer, "client_secret").await;
    assert_clean("client", &format!("{client:?}"));

    let dir = TempDir::new("secret");
    let file = dir.write("secret.txt", format!("{WRITER_SECRET}\r\n"));
    let settings = tenant(&h, &h.writer, CredentialSource::SecretFile(file));
    let client = GraphClient::connect(&settings, &Env::empty()).unwrap();
    client.get(POLICY).await.expect("secret from a file");
}

#[tokio::test]
async fn a_pem_certificate_signs_fresh_assertions_and_gets_one_token() {
    let cert = certificate();
    let h = harness(vec![cert.pem()]).await;
    let dir = TempDir::new("pem");
    // Certificate and PKCS#8 key in one file, the certificate first.
    let file = dir.write("mfactl.pem", format!("{}{TEST_KEY_PEM}", cert.pem()));
    let source = CertificateSource {
        file,
        password: None,
    };
    let settings = tenant(&h, CERT_APP, CredentialSource::Certificate(source.clone()));
    let client = GraphClient::connect(&settings, &Env::empty()).unwrap();
    three_calls_one_token(&h, &client, CERT_APP, "client_assertion").await;
    assert_eq!(
        token_requests(&h).await[0]["body"]["client_assertion_type"],
        json!("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    );

    // The assertion's shape: RS256, x5t of the certificate, aud the token URL, a fresh jti.
    let assertion = CertificateAssertion::load(&source, &Env::empty(), &settings).unwrap();
    let expected_x5t = B64URL.encode(ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        cert.der(),
    ));
    assert_eq!(assertion.x5t(), expected_x5t);
    let (a, b) = (assertion.sign().unwrap(), assertion.sign().unwrap());
    let part = |jwt: &str, i: usize| -> Value {
        serde_json::from_slice(&B64URL.decode(jwt.split('.').nth(i).unwrap()).unwrap()).unwrap()
    };
    assert_eq!(part(&a, 0)["alg"], json!("RS256"));
    assert_eq!(part(&a, 0)["x5t"], json!(expected_x5t));
    let claims = part(&a, 1);
    assert_eq!(
        claims["aud"],
        json!(format!(
            "{}/{}/oauth2/v2.0/token",
            h.emu.endpoints.login_url.trim_end_matches('/'),
            h.tenant
        ))
    );
    assert_eq!(claims["iss"], json!(CERT_APP));
    assert_eq!(claims["sub"], json!(CERT_APP));
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["nbf"].as_u64().unwrap(),
        600
    );
    assert_ne!(
        claims["jti"],
        part(&b, 1)["jti"],
        "a fresh jti per assertion"
    );
    let debug = format!("{assertion:?}");
    assert!(debug.contains(&expected_x5t), "{debug}");
    assert_clean("assertion", &debug);
}

#[tokio::test]
async fn a_pkcs1_key_and_a_pkcs12_file_work_too() {
    let cert = certificate();
    let h = harness(vec![cert.pem()]).await;
    let dir = TempDir::new("pkcs");
    // PKCS#1 key first, then the certificate.
    let file = dir.write("pkcs1.pem", format!("{}{}", pkcs1_pem(), cert.pem()));
    let settings = tenant(
        &h,
        CERT_APP,
        CredentialSource::Certificate(CertificateSource {
            file,
            password: None,
        }),
    );
    GraphClient::connect(&settings, &Env::empty())
        .unwrap()
        .get(POLICY)
        .await
        .expect("PKCS#1 key");

    let pfx = dir.write("mfactl.pfx", pkcs12(&cert, PFX_PASSWORD));
    let with_password = |password: Option<SecretRef>| {
        tenant(
            &h,
            CERT_APP,
            CredentialSource::Certificate(CertificateSource {
                file: pfx.clone(),
                password,
            }),
        )
    };
    let env = Env::empty().with("PFX_PASSWORD", PFX_PASSWORD);
    let settings = with_password(Some(SecretRef::Env("PFX_PASSWORD".into())));
    GraphClient::connect(&settings, &env)
        .unwrap()
        .get(POLICY)
        .await
        .expect("PKCS#12 with a password from the environment");
    let password_file = dir.write("password.txt", format!("{PFX_PASSWORD}\n"));
    GraphClient::connect(&with_password(Some(SecretRef::File(password_file))), &env)
        .unwrap()
        .get(POLICY)
        .await
        .expect("PKCS#12 with a password from a file");

    // A wrong or missing password is a setup error that shows no password.
    let wrong = Env::empty().with("PFX_PASSWORD", "Wrong~Pfx.Password");
    let err = GraphClient::connect(&settings, &wrong).unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.contains("mfactl.pfx") && shown.contains("password"),
        "{shown}"
    );
    assert!(!shown.contains("Wrong~Pfx.Password"), "{shown}");
    assert_clean("error", &format!("{shown} {err:?}"));
    let err = GraphClient::connect(&settings, &Env::empty()).unwrap_err();
    assert!(err.to_string().contains("PFX_PASSWORD"), "{err}");
    assert_eq!(exit::for_error(&err), ExitCode::Invalid);
}

#[tokio::test]
async fn an_unregistered_or_mismatched_certificate_is_refused() {
    let registered = certificate();
    let h = harness(vec![registered.pem()]).await;
    let dir = TempDir::new("wrong");
    // Same key, another certificate: Entra does not know its thumbprint.
    let other = certificate();
    let file = dir.write("other.pem", format!("{}{TEST_KEY_PEM}", other.pem()));
    let settings = tenant(
        &h,
        CERT_APP,
        CredentialSource::Certificate(CertificateSource {
            file,
            password: None,
        }),
    );
    let client = GraphClient::connect(&settings, &Env::empty()).unwrap();
    let err = client.get(POLICY).await.unwrap_err();
    assert!(
        matches!(
            err,
            GraphError::Authentication {
                status: Some(401),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("AADSTS700027"), "{err}");
    assert_eq!(exit::for_error(&err), ExitCode::Auth);
    assert_eq!(client.requests_sent(), 0, "no Graph call without a token");
    assert_clean("error", &format!("{err} {err:?}"));

    // A certificate of another key: refused before any request.
    let ec_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let ec_cert = rcgen::CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .self_signed(&ec_key)
        .unwrap();
    let file = dir.write("mismatch.pem", format!("{}{TEST_KEY_PEM}", ec_cert.pem()));
    let settings = tenant(
        &h,
        CERT_APP,
        CredentialSource::Certificate(CertificateSource {
            file,
            password: None,
        }),
    );
    let err = GraphClient::connect(&settings, &Env::empty()).unwrap_err();
    assert!(err.to_string().contains("matches its private key"), "{err}");
    assert_clean("error", &format!("{err} {err:?}"));

    // An encrypted PEM key and a key-less file are explained.
    let file = dir.write(
        "encrypted.pem",
        format!(
            "{}-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
            registered.pem()
        ),
    );
    let mut settings = settings;
    settings.credential = CredentialSource::Certificate(CertificateSource {
        file,
        password: None,
    });
    let err = GraphClient::connect(&settings, &Env::empty()).unwrap_err();
    assert!(err.to_string().contains("encrypted"), "{err}");
    let file = dir.write("cert-only.pem", registered.pem());
    settings.credential = CredentialSource::Certificate(CertificateSource {
        file,
        password: None,
    });
    let err = GraphClient::connect(&settings, &Env::empty()).unwrap_err();
    assert!(err.to_string().contains("PRIVATE KEY"), "{err}");
}

#[tokio::test]
async fn workload_identity_exchanges_the_projected_token() {
    let h = harness(vec![]).await;
    let dir = TempDir::new("workload");
    let token_file = dir.write("token", federated_jwt(AKS_ISSUER, AKS_SUBJECT));
    // As Kubernetes sets it: AZURE_FEDERATED_TOKEN_FILE.
    let env = Env::empty().with("AZURE_FEDERATED_TOKEN_FILE", token_file.to_str().unwrap());
    let settings = tenant(
        &h,
        FEDERATED_APP,
        CredentialSource::WorkloadIdentity { token_file: None },
    );
    let client = GraphClient::connect(&settings, &env).unwrap();
    three_calls_one_token(&h, &client, FEDERATED_APP, "client_assertion").await;
    assert_clean("client", &format!("{client:?}"));

    // A token whose subject no federated credential names is refused.
    let wrong = dir.write(
        "wrong",
        federated_jwt(AKS_ISSUER, "system:serviceaccount:x:y"),
    );
    let settings = tenant(
        &h,
        FEDERATED_APP,
        CredentialSource::WorkloadIdentity {
            token_file: Some(wrong),
        },
    );
    let err = GraphClient::connect(&settings, &Env::empty())
        .unwrap()
        .get(POLICY)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("AADSTS700213"), "{err}");
    assert_clean("error", &format!("{err} {err:?}"));

    // No token file at all: a setup error naming the variable.
    let settings = tenant(
        &h,
        FEDERATED_APP,
        CredentialSource::WorkloadIdentity { token_file: None },
    );
    let err = GraphClient::connect(&settings, &Env::empty()).unwrap_err();
    assert!(
        err.to_string().contains("AZURE_FEDERATED_TOKEN_FILE"),
        "{err}"
    );
}

/// A stand-in for a CI system's OIDC token service on 127.0.0.1: answers `method` requests
/// carrying `Authorization: Bearer {bearer}` with `{field: jwt}`, anything else with 401.
struct OidcServer {
    url: String,
    hits: Arc<AtomicUsize>,
    queries: Arc<std::sync::Mutex<Vec<String>>>,
}

async fn oidc_server(
    method: hyper::Method,
    bearer: &'static str,
    field: &'static str,
    jwt: String,
) -> OidcServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let queries = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (h2, q2) = (hits.clone(), queries.clone());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (hits, queries, jwt, method) =
                (h2.clone(), q2.clone(), jwt.clone(), method.clone());
            tokio::spawn(async move {
                let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let (hits, queries, jwt, method) =
                        (hits.clone(), queries.clone(), jwt.clone(), method.clone());
                    async move {
                        let authorized = req
                            .headers()
                            .get(hyper::header::AUTHORIZATION)
                            .and_then(|v| v.to_str().ok())
                            .is_some_and(|v| v.eq_ignore_ascii_case(&format!("bearer {bearer}")));
                        let ok_method = req.method() == method;
                        queries
                            .lock()
                            .unwrap()
                            .push(req.uri().query().unwrap_or_default().to_string());
                        let _ = req.into_body().collect().await;
                        hits.fetch_add(1, Ordering::SeqCst);
                        let (status, body) = if authorized && ok_method {
                            (200, format!("{{\"{field}\":\"{jwt}\"}}"))
                        } else {
                            (401, r#"{"message":"Bad credentials"}"#.to_string())
                        };
                        Ok::<_, std::convert::Infallible>(
                            hyper::Response::builder()
                                .status(status)
                                .header("content-type", "application/json")
                                .body(Full::new(bytes::Bytes::from(body)))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    OidcServer {
        url: format!("http://{addr}/_apis/idtoken?api-version=2.0"),
        hits,
        queries,
    }
}

#[tokio::test]
async fn github_actions_exchanges_the_job_oidc_token() {
    let h = harness(vec![]).await;
    let server = oidc_server(
        hyper::Method::GET,
        ACTIONS_TOKEN,
        "value",
        federated_jwt(GITHUB_ISSUER, GITHUB_SUBJECT),
    )
    .await;
    let env = Env::empty()
        .with("ACTIONS_ID_TOKEN_REQUEST_URL", &server.url)
        .with("ACTIONS_ID_TOKEN_REQUEST_TOKEN", ACTIONS_TOKEN);
    let settings = tenant(&h, FEDERATED_APP, CredentialSource::GithubActions);
    let client = GraphClient::connect(&settings, &env).unwrap();
    assert_eq!(
        server.hits.load(Ordering::SeqCst),
        0,
        "connect sends nothing"
    );
    three_calls_one_token(&h, &client, FEDERATED_APP, "client_assertion").await;
    assert_eq!(server.hits.load(Ordering::SeqCst), 1, "one OIDC token");
    let query = server.queries.lock().unwrap()[0].clone();
    assert!(
        query.contains("api-version=2.0")
            && query.contains("audience=api%3A%2F%2FAzureADTokenExchange"),
        "{query}"
    );
    assert_clean("client", &format!("{client:?}"));
    let assertion = OidcAssertion::github_actions(&env, &reqwest::Client::new()).unwrap();
    assert_clean("assertion", &format!("{assertion:?}"));

    // A wrong request token: GitHub answers 401, mfactl reports an authentication failure.
    let env = env.with("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "ghs_wrong");
    let err = GraphClient::connect(&settings, &env)
        .unwrap()
        .get(POLICY)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("GitHub Actions OIDC"), "{err}");
    assert!(
        matches!(
            err,
            GraphError::Authentication {
                status: Some(401),
                ..
            }
        ),
        "{err:?}"
    );
    assert_clean("error", &format!("{err} {err:?}"));

    // Without `id-token: write` the variables are missing.
    let err = GraphClient::connect(&settings, &Env::empty()).unwrap_err();
    assert!(err.to_string().contains("id-token: write"), "{err}");
}

#[tokio::test]
async fn azure_pipelines_exchanges_the_service_connection_token() {
    let h = harness(vec![]).await;
    let server = oidc_server(
        hyper::Method::POST,
        PIPELINES_TOKEN,
        "oidcToken",
        federated_jwt(PIPELINES_ISSUER, PIPELINES_SUBJECT),
    )
    .await;
    let env = Env::empty()
        .with("SYSTEM_OIDCREQUESTURI", &server.url)
        .with("SYSTEM_ACCESSTOKEN", PIPELINES_TOKEN);
    let settings = tenant(
        &h,
        FEDERATED_APP,
        CredentialSource::AzurePipelines {
            service_connection_id: Some("3f8e1a52-0000-4000-8000-000000000001".into()),
        },
    );
    let client = GraphClient::connect(&settings, &env).unwrap();
    three_calls_one_token(&h, &client, FEDERATED_APP, "client_assertion").await;
    let query = server.queries.lock().unwrap()[0].clone();
    assert!(
        query.contains("serviceConnectionId=3f8e1a52-0000-4000-8000-000000000001"),
        "{query}"
    );
    assert_clean("client", &format!("{client:?}"));

    let settings = tenant(
        &h,
        FEDERATED_APP,
        CredentialSource::AzurePipelines {
            service_connection_id: None,
        },
    );
    let err = GraphClient::connect(&settings, &env).unwrap_err();
    assert!(
        err.to_string()
            .contains("AZURESUBSCRIPTION_SERVICE_CONNECTION_ID"),
        "{err}"
    );
}

#[tokio::test]
async fn managed_identity_and_azure_cli_build_without_sending_anything() {
    let h = harness(vec![]).await;
    for credential in [
        CredentialSource::ManagedIdentity(ManagedIdentityId::SystemAssigned),
        CredentialSource::ManagedIdentity(ManagedIdentityId::ClientId(FEDERATED_APP.into())),
        CredentialSource::AzureCli,
    ] {
        let settings = tenant(&h, FEDERATED_APP, credential.clone());
        let client = GraphClient::connect(&settings, &Env::empty())
            .unwrap_or_else(|e| panic!("{credential}: {e}"));
        assert_eq!(client.requests_sent(), 0);
        assert_clean("client", &format!("{client:?}"));
    }
    assert!(token_requests(&h).await.is_empty());
}

#[test]
fn auto_takes_the_first_kind_whose_inputs_are_present() {
    let settings = TenantSettings {
        name: "t".into(),
        tenant_id: "contoso.onmicrosoft.com".into(),
        client_id: FEDERATED_APP.into(),
        credential: CredentialSource::Auto,
        policies: Vec::new(),
        graph_url: Url::parse("https://graph.microsoft.com").unwrap(),
        authority_host: Url::parse("https://login.microsoftonline.com").unwrap(),
        ca_file: None,
        control: mfactl::config::TenantControl::default(),
        prune: false,
        hardware_oath_seed: None,
        config_file: None,
    };
    let choose = |env: &Env| credential::choose(&settings, env).unwrap();
    let github = [
        ("ACTIONS_ID_TOKEN_REQUEST_URL", "https://x.example/t"),
        ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "t"),
    ];
    let pipelines = [
        ("SYSTEM_OIDCREQUESTURI", "https://dev.azure.com/x"),
        ("SYSTEM_ACCESSTOKEN", "t"),
        ("AZURESUBSCRIPTION_SERVICE_CONNECTION_ID", "c"),
    ];
    let all: Vec<(&str, &str)> = [
        ("AZURE_CLIENT_SECRET", "s"),
        ("AZURE_CLIENT_CERTIFICATE_PATH", "cert.pem"),
        ("AZURE_FEDERATED_TOKEN_FILE", "/var/run/token"),
    ]
    .into_iter()
    .chain(github)
    .chain(pipelines)
    .chain([("IDENTITY_ENDPOINT", "http://localhost:42356/msi/token")])
    .collect();
    let env_from = |skip: usize| -> Env { all.iter().skip(skip).copied().collect() };
    let expected = [
        (0, CredentialSource::SecretEnv("AZURE_CLIENT_SECRET".into())),
        (
            1,
            CredentialSource::Certificate(CertificateSource {
                file: PathBuf::from("cert.pem"),
                password: None,
            }),
        ),
        (2, CredentialSource::WorkloadIdentity { token_file: None }),
        (3, CredentialSource::GithubActions),
        (
            5,
            CredentialSource::AzurePipelines {
                service_connection_id: None,
            },
        ),
        (
            8,
            CredentialSource::ManagedIdentity(ManagedIdentityId::ClientId(FEDERATED_APP.into())),
        ),
        (9, CredentialSource::AzureCli),
    ];
    for (skip, want) in expected {
        assert_eq!(choose(&env_from(skip)), want, "skipping {skip}");
    }
    // Half of a kind's inputs do not select it.
    let env: Env = [github[0]].into_iter().collect();
    assert_eq!(choose(&env), CredentialSource::AzureCli);
    // The certificate password comes along; managed identity by opt-in on a VM.
    let env = Env::empty()
        .with("AZURE_CLIENT_CERTIFICATE_PATH", "c.pfx")
        .with("AZURE_CLIENT_CERTIFICATE_PASSWORD", "p");
    assert_eq!(
        choose(&env),
        CredentialSource::Certificate(CertificateSource {
            file: PathBuf::from("c.pfx"),
            password: Some(SecretRef::Env("AZURE_CLIENT_CERTIFICATE_PASSWORD".into())),
        })
    );
    assert_eq!(
        choose(&Env::empty().with("MFACTL_MANAGED_IDENTITY", "system")),
        CredentialSource::ManagedIdentity(ManagedIdentityId::SystemAssigned)
    );
    assert_eq!(
        choose(&Env::empty().with("MFACTL_MANAGED_IDENTITY", "user")),
        CredentialSource::ManagedIdentity(ManagedIdentityId::ClientId(FEDERATED_APP.into()))
    );
    let err = credential::choose(
        &settings,
        &Env::empty().with("MFACTL_MANAGED_IDENTITY", "yes"),
    )
    .unwrap_err();
    assert!(matches!(err, CredentialError::InvalidEnv { .. }), "{err:?}");
    // A configured kind is kept whatever the environment holds.
    let mut fixed = settings.clone();
    fixed.credential = CredentialSource::AzureCli;
    assert_eq!(
        credential::choose(&fixed, &env_from(0)).unwrap(),
        CredentialSource::AzureCli
    );
}

#[tokio::test]
async fn auto_in_environment_mode_signs_in_with_what_the_environment_holds() {
    let cert = certificate();
    let h = harness(vec![cert.pem()]).await;
    let dir = TempDir::new("auto");
    let pem = dir.write("mfactl.pem", format!("{}{TEST_KEY_PEM}", cert.pem()));
    let base = |client_id: &str| {
        Env::empty()
            .with("AZURE_TENANT_ID", &h.tenant)
            .with("AZURE_CLIENT_ID", client_id)
            .with("AZURE_AUTHORITY_HOST", &h.emu.endpoints.login_url)
            .with("MFACTL_GRAPH_URL", h.emu.graph_url())
            .with(
                "MFACTL_CA_FILE",
                h.emu.endpoints.ca_file.as_ref().unwrap().to_str().unwrap(),
            )
    };
    let token = dir.write("token", federated_jwt(AKS_ISSUER, AKS_SUBJECT));
    let cases = [
        (
            base(&h.writer).with("AZURE_CLIENT_SECRET", WRITER_SECRET),
            "clientSecret",
        ),
        (
            base(CERT_APP).with("AZURE_CLIENT_CERTIFICATE_PATH", pem.to_str().unwrap()),
            "clientCertificate",
        ),
        (
            base(FEDERATED_APP).with("AZURE_FEDERATED_TOKEN_FILE", token.to_str().unwrap()),
            "workloadIdentity",
        ),
    ];
    for (env, kind) in cases {
        let settings = config::resolve(None, &env, &dir.0).unwrap();
        let t = settings.tenant(None).unwrap();
        assert_eq!(t.credential.kind(), kind);
        let client = GraphClient::connect(t, &env).unwrap();
        client
            .get(POLICY)
            .await
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
    }
    // With no credential variable, environment mode is `auto`.
    let settings = config::resolve(None, &base(FEDERATED_APP), &dir.0).unwrap();
    assert_eq!(settings.tenants[0].credential, CredentialSource::Auto);
}

/// `mfactl.yaml` with one tenant whose credential is `credential`.
fn yaml(credential: &str) -> String {
    format!(
        "tenants:\n  - name: contoso\n    tenantId: contoso.onmicrosoft.com\n    clientId: \
         {FEDERATED_APP}\n    credential:{credential}\n"
    )
}

fn parse(credential: &str) -> Result<CredentialSource, ConfigError> {
    config::parse_file(Path::new("/repo/mfactl.yaml"), &yaml(credential))
        .map(|s| s.tenants[0].credential.clone())
}

#[test]
fn every_kind_is_configured_in_mfactl_yaml() {
    let cases: Vec<(&str, CredentialSource)> = vec![
        (
            " { clientSecret: { env: CONTOSO_SECRET } }",
            CredentialSource::SecretEnv("CONTOSO_SECRET".into()),
        ),
        (
            "\n      clientSecret: { file: secrets/contoso.txt }",
            CredentialSource::SecretFile(PathBuf::from("/repo/secrets/contoso.txt")),
        ),
        (
            "\n      clientCertificate: { file: certs/mfactl.pem }",
            CredentialSource::Certificate(CertificateSource {
                file: PathBuf::from("/repo/certs/mfactl.pem"),
                password: None,
            }),
        ),
        (
            "\n      clientCertificate:\n        file: certs/mfactl.pfx\n        password: { env: PFX_PASSWORD }",
            CredentialSource::Certificate(CertificateSource {
                file: PathBuf::from("/repo/certs/mfactl.pfx"),
                password: Some(SecretRef::Env("PFX_PASSWORD".into())),
            }),
        ),
        (
            " { clientCertificate: { file: c.pfx, password: { file: secrets/pfx.txt } } }",
            CredentialSource::Certificate(CertificateSource {
                file: PathBuf::from("/repo/c.pfx"),
                password: Some(SecretRef::File(PathBuf::from("/repo/secrets/pfx.txt"))),
            }),
        ),
        (
            " { workloadIdentity: {} }",
            CredentialSource::WorkloadIdentity { token_file: None },
        ),
        (
            "\n      workloadIdentity:",
            CredentialSource::WorkloadIdentity { token_file: None },
        ),
        (
            " { workloadIdentity: { tokenFile: /var/run/secrets/azure/tokens/azure-identity-token } }",
            CredentialSource::WorkloadIdentity {
                token_file: Some(PathBuf::from(
                    "/var/run/secrets/azure/tokens/azure-identity-token",
                )),
            },
        ),
        (
            " { managedIdentity: {} }",
            CredentialSource::ManagedIdentity(ManagedIdentityId::SystemAssigned),
        ),
        (
            " { managedIdentity: { clientId: 33333333-3333-3333-3333-333333333333 } }",
            CredentialSource::ManagedIdentity(ManagedIdentityId::ClientId(
                "33333333-3333-3333-3333-333333333333".into(),
            )),
        ),
        (
            " { managedIdentity: { objectId: 44444444-4444-4444-4444-444444444444 } }",
            CredentialSource::ManagedIdentity(ManagedIdentityId::ObjectId(
                "44444444-4444-4444-4444-444444444444".into(),
            )),
        ),
        (
            " { managedIdentity: { resourceId: /subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/mfactl } }",
            CredentialSource::ManagedIdentity(ManagedIdentityId::ResourceId(
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/mfactl".into(),
            )),
        ),
        (" { githubActions: {} }", CredentialSource::GithubActions),
        (
            " { azurePipelines: { serviceConnectionId: 3f8e1a52-0000-4000-8000-000000000001 } }",
            CredentialSource::AzurePipelines {
                service_connection_id: Some("3f8e1a52-0000-4000-8000-000000000001".into()),
            },
        ),
        (
            " { azurePipelines: {} }",
            CredentialSource::AzurePipelines {
                service_connection_id: None,
            },
        ),
        (" { azureCli: {} }", CredentialSource::AzureCli),
        (" auto", CredentialSource::Auto),
        (" { auto: {} }", CredentialSource::Auto),
    ];
    for (text, want) in cases {
        match parse(text) {
            Ok(got) => assert_eq!(got, want, "{text}"),
            Err(e) => panic!("{text}: {e}"),
        }
    }
}

#[test]
fn credential_mistakes_are_located_and_secrets_never_quoted() {
    let err = |text: &str| parse(text).unwrap_err();
    // Two kinds, an unknown kind, unknown settings, a bad id.
    let e = err(" { githubActions: {}, azureCli: {} }");
    assert!(e.to_string().contains("exactly one kind"), "{e}");
    let e = err(" { kerberos: {} }");
    assert!(e.to_string().contains("`clientCertificate`"), "{e}");
    let e = err(" { workloadIdentity: { tokenfile: x } }");
    assert!(e.to_string().contains("unknown key `tokenfile`"), "{e}");
    let e = err(" { managedIdentity: { clientId: a, objectId: b } }");
    assert!(e.to_string().contains("at most one"), "{e}");
    let e = err(" { managedIdentity: { clientId: not-a-guid } }");
    match &e {
        ConfigError::InvalidValue { field, line, .. } => {
            assert_eq!(field, "credential.managedIdentity.clientId");
            assert_eq!(*line, 5);
        }
        other => panic!("{other:?}"),
    }
    let e = err(" { clientCertificate: {} }");
    assert!(e.to_string().contains("file: PATH"), "{e}");
    let e = err(" { clientCertificate: { file: c.pfx, password: { env: BAD-NAME } } }");
    assert!(
        matches!(&e, ConfigError::InvalidValue { field, .. } if field == "credential.clientCertificate.password.env"),
        "{e:?}"
    );
    // Secrets written inline are refused and never quoted.
    for text in [
        format!(" {{ clientCertificate: {{ file: c.pfx, password: {PFX_PASSWORD} }} }}"),
        format!(" {{ clientCertificate: {{ file: c.pfx, password: [{PFX_PASSWORD}] }} }}"),
        format!(" {{ clientCertificate: {{ file: c.pfx, {PFX_PASSWORD}: x }} }}"),
        format!(
            " {{ clientCertificate: {{ file: c.pfx, password: {{ value: {PFX_PASSWORD} }} }} }}"
        ),
        format!(" {{ clientCertificate: {PFX_PASSWORD} }}"),
        format!(" {PFX_PASSWORD}"),
    ] {
        let e = err(&text);
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains(PFX_PASSWORD), "{text}: {shown}");
        assert_eq!(
            match &e {
                ConfigError::InlineSecret { line, .. } | ConfigError::Syntax { line, .. } => *line,
                other => panic!("{other:?}"),
            },
            5,
            "{text}: {e}"
        );
    }
    assert!(matches!(
        err(&format!(
            " {{ clientCertificate: {{ file: c.pfx, password: {PFX_PASSWORD} }} }}"
        )),
        ConfigError::InlineSecret { .. }
    ));
}

#[tokio::test]
async fn no_kind_shows_a_secret_key_token_or_assertion() {
    let cert = certificate();
    let h = harness(vec![cert.pem()]).await;
    let dir = TempDir::new("redact");
    let pem = dir.write("mfactl.pem", format!("{}{TEST_KEY_PEM}", cert.pem()));
    let pfx = dir.write("mfactl.pfx", pkcs12(&cert, PFX_PASSWORD));
    let token = dir.write("token", federated_jwt(AKS_ISSUER, AKS_SUBJECT));
    let env = Env::empty()
        .with("SECRET", WRITER_SECRET)
        .with("PFX_PASSWORD", PFX_PASSWORD)
        .with("AZURE_FEDERATED_TOKEN_FILE", token.to_str().unwrap())
        .with("ACTIONS_ID_TOKEN_REQUEST_URL", "https://token.example/x")
        .with("ACTIONS_ID_TOKEN_REQUEST_TOKEN", ACTIONS_TOKEN)
        .with("SYSTEM_OIDCREQUESTURI", "https://dev.example/oidc")
        .with("SYSTEM_ACCESSTOKEN", PIPELINES_TOKEN)
        .with("AZURESUBSCRIPTION_SERVICE_CONNECTION_ID", "c");
    let kinds = [
        CredentialSource::SecretEnv("SECRET".into()),
        CredentialSource::Certificate(CertificateSource {
            file: pem.clone(),
            password: None,
        }),
        CredentialSource::Certificate(CertificateSource {
            file: pfx,
            password: Some(SecretRef::Env("PFX_PASSWORD".into())),
        }),
        CredentialSource::WorkloadIdentity { token_file: None },
        CredentialSource::ManagedIdentity(ManagedIdentityId::SystemAssigned),
        CredentialSource::GithubActions,
        CredentialSource::AzurePipelines {
            service_connection_id: None,
        },
        CredentialSource::AzureCli,
        CredentialSource::Auto,
    ];
    for kind in kinds {
        let settings = tenant(&h, CERT_APP, kind.clone());
        assert_clean("settings", &format!("{settings:?} {kind} {kind:?}"));
        let client =
            GraphClient::connect(&settings, &env).unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_clean("client", &format!("{client:?}"));
    }
    assert_clean("env", &format!("{env:?}"));
    let settings = tenant(&h, CERT_APP, CredentialSource::GithubActions);
    let source = CertificateSource {
        file: pem,
        password: None,
    };
    let assertion = CertificateAssertion::load(&source, &env, &settings).unwrap();
    assert_clean("assertion", &format!("{assertion:?}"));
    assert_clean(
        "pipelines",
        &format!(
            "{:?}",
            OidcAssertion::azure_pipelines(&env, &reqwest::Client::new(), None).unwrap()
        ),
    );
    // Errors of every kind.
    let missing = Env::empty();
    let errors: Vec<String> = [
        CredentialSource::SecretEnv("SECRET".into()),
        CredentialSource::Certificate(CertificateSource {
            file: dir.0.join("mfactl.pfx"),
            password: Some(SecretRef::Env("PFX_PASSWORD".into())),
        }),
        CredentialSource::WorkloadIdentity { token_file: None },
        CredentialSource::GithubActions,
        CredentialSource::AzurePipelines {
            service_connection_id: None,
        },
    ]
    .into_iter()
    .map(|kind| {
        let e = GraphClient::connect(&tenant(&h, CERT_APP, kind), &missing).unwrap_err();
        format!("{e} {e:?}")
    })
    .collect();
    for e in &errors {
        assert_clean("error", e);
    }
    let wrong_password = Env::empty().with("PFX_PASSWORD", "nope");
    let e = GraphClient::connect(
        &tenant(
            &h,
            CERT_APP,
            CredentialSource::Certificate(CertificateSource {
                file: dir.0.join("mfactl.pfx"),
                password: Some(SecretRef::Env("PFX_PASSWORD".into())),
            }),
        ),
        &wrong_password,
    )
    .unwrap_err();
    assert_clean("error", &format!("{e} {e:?}"));
}
