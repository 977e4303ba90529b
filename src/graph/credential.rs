//! The token credential for one tenant: one of the kinds in mfactl.yaml (README
//! "Credentials"), built on azure_identity, sending every token request through the same
//! reqwest client as Graph calls (system roots plus the tenant's `caFile`) to the tenant's
//! authority host, and wrapped in a cache so that a tenant's client asks for one token and
//! reuses it until shortly before it expires.
//!
//! Certificates are not azure_identity's `ClientCertificateCredential` (it needs OpenSSL):
//! [`CertificateAssertion`] signs the client assertion with ring, and azure_identity's
//! `ClientAssertionCredential` sends it. GitHub Actions and Azure Pipelines fetch their OIDC
//! token the same way ([`OidcAssertion`]), with the inputs read from the injected [`Env`].
//!
//! Nothing here logs, displays or debug-prints a secret, a key, a token or an assertion.

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::{AccessToken, Secret, TokenCredential, TokenRequestOptions};
use azure_core::error::ErrorKind;
use azure_core::http::{
    ClientMethodOptions, ClientOptions, ExponentialRetryOptions, RetryOptions, Transport,
};
use azure_identity::{
    AzureCliCredential, AzureCliCredentialOptions, ClientAssertion, ClientAssertionCredential,
    ClientAssertionCredentialOptions, ClientSecretCredential, ClientSecretCredentialOptions,
    ManagedIdentityCredential, ManagedIdentityCredentialOptions, UserAssignedId,
    WorkloadIdentityCredential, WorkloadIdentityCredentialOptions,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use ring::rand::SecureRandom as _;
use ring::signature::RsaKeyPair;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use url::Url;

use super::GraphError;
use crate::config::{
    AZURE_CLIENT_CERTIFICATE_PASSWORD, AZURE_CLIENT_CERTIFICATE_PATH, AZURE_CLIENT_SECRET,
    AZURE_FEDERATED_TOKEN_FILE, CertificateSource, CredentialSource, Env, ManagedIdentityId,
    SecretRef, TenantSettings,
};

/// GitHub Actions: the URL a job with `id-token: write` requests its OIDC token from.
pub const ACTIONS_ID_TOKEN_REQUEST_URL: &str = "ACTIONS_ID_TOKEN_REQUEST_URL";
/// GitHub Actions: the bearer token for [`ACTIONS_ID_TOKEN_REQUEST_URL`].
pub const ACTIONS_ID_TOKEN_REQUEST_TOKEN: &str = "ACTIONS_ID_TOKEN_REQUEST_TOKEN";
/// Azure Pipelines: the OIDC request URI (`System.OidcRequestUri`).
pub const SYSTEM_OIDCREQUESTURI: &str = "SYSTEM_OIDCREQUESTURI";
/// Azure Pipelines: the job's access token (`System.AccessToken`, mapped explicitly).
pub const SYSTEM_ACCESSTOKEN: &str = "SYSTEM_ACCESSTOKEN";
/// Azure Pipelines: the service connection id, as the AzureCLI@2 task sets it.
pub const AZURESUBSCRIPTION_SERVICE_CONNECTION_ID: &str = "AZURESUBSCRIPTION_SERVICE_CONNECTION_ID";
/// App Service, Container Apps, Azure Arc: the managed identity endpoint.
pub const IDENTITY_ENDPOINT: &str = "IDENTITY_ENDPOINT";
/// mfactl: opt in to a managed identity under `auto` (`system` or `user`).
pub const MFACTL_MANAGED_IDENTITY: &str = "MFACTL_MANAGED_IDENTITY";
/// The audience Entra expects on a federated token.
pub const FEDERATED_AUDIENCE: &str = "api://AzureADTokenExchange";

/// Retries of a failed token request (three attempts in all, as a Graph request had when this
/// was written; azure_core's default would take a minute or more to give up).
const TOKEN_REQUEST_RETRIES: u32 = 2;
/// How long a certificate-signed client assertion is valid.
const ASSERTION_LIFETIME_SECS: u64 = 600;
/// A token is refreshed this long before it expires (or at half its lifetime if shorter).
const REFRESH_MARGIN_SECS: i64 = 300;

/// Why a tenant's credential could not be built. No variant holds a secret, a key or a
/// token: only where they were looked for and why they could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// The client secret could not be read (variable unset or empty, file missing or empty).
    #[error("cannot read the client secret from {from}: {reason}")]
    Secret {
        /// Where it was looked for.
        from: CredentialSource,
        /// Why it could not be used (never the value).
        reason: String,
    },
    /// The certificate's password could not be read.
    #[error("cannot read the certificate password from {from}: {reason}")]
    Password {
        /// Where it was looked for.
        from: SecretRef,
        /// Why it could not be used (never the value).
        reason: String,
    },
    /// The certificate file could not be read, decrypted or used.
    #[error("cannot use certificate file {}: {reason}", path.display())]
    Certificate {
        /// The file.
        path: PathBuf,
        /// What is wrong (never key material).
        reason: String,
    },
    /// The credential kind needs an input the environment does not hold.
    #[error("the {kind} credential needs {needs}")]
    MissingInput {
        /// The kind, as written in mfactl.yaml.
        kind: &'static str,
        /// What is missing, e.g. the variables to set.
        needs: String,
    },
    /// An environment variable's value cannot be used.
    #[error("environment variable {variable}: {reason}")]
    InvalidEnv {
        /// The variable.
        variable: &'static str,
        /// What is wrong (never the value of a secret).
        reason: String,
    },
    /// azure_identity refused the settings.
    #[error("cannot build the {kind} credential: {reason}")]
    Build {
        /// The kind, as written in mfactl.yaml.
        kind: &'static str,
        /// azure_identity's explanation.
        reason: String,
    },
}

impl From<CredentialError> for GraphError {
    fn from(e: CredentialError) -> Self {
        match e {
            CredentialError::Secret { from, reason } => GraphError::Secret { from, reason },
            other => GraphError::Setup {
                reason: other.to_string(),
            },
        }
    }
}

/// The credential `tenant` uses with `env`: its configured kind, or for `auto` the first of
/// the chain whose inputs are present (README "Credentials"): environment (client secret,
/// then certificate), workload identity, GitHub Actions, Azure Pipelines, managed identity,
/// Azure CLI. Never returns [`CredentialSource::Auto`]; touches neither files nor network.
pub fn choose(tenant: &TenantSettings, env: &Env) -> Result<CredentialSource, CredentialError> {
    if tenant.credential != CredentialSource::Auto {
        return Ok(tenant.credential.clone());
    }
    if env.contains(AZURE_CLIENT_SECRET) {
        return Ok(CredentialSource::SecretEnv(AZURE_CLIENT_SECRET.to_string()));
    }
    if let Some(path) = env.get(AZURE_CLIENT_CERTIFICATE_PATH) {
        return Ok(CredentialSource::Certificate(CertificateSource {
            file: PathBuf::from(path),
            password: env
                .contains(AZURE_CLIENT_CERTIFICATE_PASSWORD)
                .then(|| SecretRef::Env(AZURE_CLIENT_CERTIFICATE_PASSWORD.to_string())),
        }));
    }
    if env.contains(AZURE_FEDERATED_TOKEN_FILE) {
        return Ok(CredentialSource::WorkloadIdentity { token_file: None });
    }
    if env.contains(ACTIONS_ID_TOKEN_REQUEST_URL) && env.contains(ACTIONS_ID_TOKEN_REQUEST_TOKEN) {
        return Ok(CredentialSource::GithubActions);
    }
    if env.contains(SYSTEM_OIDCREQUESTURI)
        && env.contains(SYSTEM_ACCESSTOKEN)
        && env.contains(AZURESUBSCRIPTION_SERVICE_CONNECTION_ID)
    {
        return Ok(CredentialSource::AzurePipelines {
            service_connection_id: None,
        });
    }
    let user_assigned =
        || CredentialSource::ManagedIdentity(ManagedIdentityId::ClientId(tenant.client_id.clone()));
    match env.get(MFACTL_MANAGED_IDENTITY) {
        Some(v) if v.eq_ignore_ascii_case("system") => {
            return Ok(CredentialSource::ManagedIdentity(
                ManagedIdentityId::SystemAssigned,
            ));
        }
        Some(v) if v.eq_ignore_ascii_case("user") => return Ok(user_assigned()),
        Some(_) => {
            return Err(CredentialError::InvalidEnv {
                variable: MFACTL_MANAGED_IDENTITY,
                reason: "must be `system` or `user`".to_string(),
            });
        }
        None if env.contains(IDENTITY_ENDPOINT) => return Ok(user_assigned()),
        None => {}
    }
    Ok(CredentialSource::AzureCli)
}

/// Builds the cached token credential for `tenant`, sending through `http`. Reads the secret,
/// certificate or token file it names (so that a missing one fails here, before any request),
/// sends nothing. Also returns the client secret (empty for other kinds), which the caller
/// scrubs from error text.
pub(crate) fn build(
    tenant: &TenantSettings,
    env: &Env,
    http: &reqwest::Client,
) -> Result<(Arc<dyn TokenCredential>, Secret), CredentialError> {
    let source = choose(tenant, env)?;
    let kind = source.kind();
    let options = client_options(tenant, http);
    let tenant_id = tenant.tenant_id.clone();
    let client_id = tenant.client_id.clone();
    let mut secret = Secret::new(String::new());
    let built = |e: azure_core::Error| CredentialError::Build {
        kind,
        reason: e.to_string(),
    };
    let assertion_options = || ClientAssertionCredentialOptions {
        client_options: options.clone(),
    };
    let inner: Arc<dyn TokenCredential> = match &source {
        CredentialSource::SecretEnv(_) | CredentialSource::SecretFile(_) => {
            secret = read_secret(&source, env)?;
            ClientSecretCredential::new(
                &tenant_id,
                client_id,
                secret.clone(),
                Some(ClientSecretCredentialOptions {
                    client_options: options.clone(),
                }),
            )
            .map_err(|e| CredentialError::Build {
                kind,
                reason: super::scrub(&e.to_string(), secret.secret()),
            })?
        }
        CredentialSource::Certificate(cert) => {
            let assertion = CertificateAssertion::load(cert, env, tenant)?;
            ClientAssertionCredential::new(
                tenant_id,
                client_id,
                assertion,
                Some(assertion_options()),
            )
            .map_err(built)?
        }
        CredentialSource::WorkloadIdentity { token_file } => {
            let path = match token_file {
                Some(p) => p.clone(),
                None => env
                    .get(AZURE_FEDERATED_TOKEN_FILE)
                    .map(PathBuf::from)
                    .ok_or_else(|| CredentialError::MissingInput {
                        kind,
                        needs: format!("`tokenFile` or {AZURE_FEDERATED_TOKEN_FILE}"),
                    })?,
            };
            if let Err(e) = std::fs::metadata(&path) {
                return Err(CredentialError::MissingInput {
                    kind,
                    needs: format!("its token file {}: {e}", path.display()),
                });
            }
            WorkloadIdentityCredential::new(Some(WorkloadIdentityCredentialOptions {
                credential_options: assertion_options(),
                client_id: Some(client_id),
                tenant_id: Some(tenant_id),
                token_file_path: Some(path),
            }))
            .map_err(built)?
        }
        CredentialSource::ManagedIdentity(id) => {
            let user_assigned_id = match id {
                ManagedIdentityId::SystemAssigned => None,
                ManagedIdentityId::ClientId(v) => Some(UserAssignedId::ClientId(v.clone())),
                ManagedIdentityId::ObjectId(v) => Some(UserAssignedId::ObjectId(v.clone())),
                ManagedIdentityId::ResourceId(v) => Some(UserAssignedId::ResourceId(v.clone())),
            };
            ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
                user_assigned_id,
                client_options: options.clone(),
            }))
            .map_err(built)?
        }
        CredentialSource::GithubActions => {
            let assertion = OidcAssertion::github_actions(env, http)?;
            ClientAssertionCredential::new(
                tenant_id,
                client_id,
                assertion,
                Some(assertion_options()),
            )
            .map_err(built)?
        }
        CredentialSource::AzurePipelines {
            service_connection_id,
        } => {
            let assertion =
                OidcAssertion::azure_pipelines(env, http, service_connection_id.as_deref())?;
            ClientAssertionCredential::new(
                tenant_id,
                client_id,
                assertion,
                Some(assertion_options()),
            )
            .map_err(built)?
        }
        CredentialSource::AzureCli => AzureCliCredential::new(Some(AzureCliCredentialOptions {
            tenant_id: Some(tenant_id),
            ..Default::default()
        }))
        .map_err(built)?,
        CredentialSource::Auto => {
            return Err(CredentialError::MissingInput {
                kind,
                needs: "a concrete kind (internal error: auto was not resolved)".to_string(),
            });
        }
    };
    tracing::debug!(tenant = %tenant.name, credential = kind, "credential selected");
    Ok((Arc::new(CachedCredential::new(inner, kind)), secret))
}

/// The client options every credential shares: the tenant's transport and authority host,
/// and a retry budget like a Graph request's.
fn client_options(tenant: &TenantSettings, http: &reqwest::Client) -> ClientOptions {
    let mut cloud = CustomConfiguration::default();
    cloud.authority_host = tenant.authority_host.as_str().to_string();
    // azure_core's default retries up to 8 times over a minute or more (a TLS failure
    // took 82 s to surface: TOOLING.md); the token request gets the same budget as a
    // Graph request instead.
    let retry = RetryOptions::exponential(ExponentialRetryOptions {
        initial_delay: azure_core::time::Duration::milliseconds(200),
        max_retries: TOKEN_REQUEST_RETRIES,
        max_total_elapsed: azure_core::time::Duration::seconds(30),
        max_delay: azure_core::time::Duration::seconds(5),
    });
    ClientOptions {
        transport: Some(Transport::new(Arc::new(http.clone()))),
        cloud: Some(Arc::new(CloudConfiguration::Custom(cloud))),
        retry,
        ..Default::default()
    }
}

/// Reads the client secret; a trailing line break in a file is not part of it.
fn read_secret(source: &CredentialSource, env: &Env) -> Result<Secret, CredentialError> {
    let fail = |reason: &str| CredentialError::Secret {
        from: source.clone(),
        reason: reason.to_string(),
    };
    let value = match source {
        CredentialSource::SecretEnv(name) => env
            .get(name)
            .ok_or_else(|| fail("the variable is not set or is empty"))?
            .to_string(),
        CredentialSource::SecretFile(path) => read_trimmed(path).map_err(|e| fail(&e))?,
        _ => return Err(fail("not a client secret")),
    };
    if value.trim().is_empty() {
        return Err(fail("the secret is empty"));
    }
    Ok(Secret::new(value))
}

/// A file's text without its trailing line break.
fn read_trimmed(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim_end_matches(['\r', '\n']).to_string())
        .map_err(|e| e.to_string())
}

/// A pinned, boxed, sendable future: what `#[async_trait]` methods return.
type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Caches one token per credential (one tenant and app) and refreshes it shortly before it
/// expires; concurrent requests wait for the one refresh in flight. azure_identity caches
/// in most credentials but not all (the Azure CLI one runs `az` per call): this makes the
/// rule the same for every kind.
struct CachedCredential {
    inner: Arc<dyn TokenCredential>,
    kind: &'static str,
    cached: tokio::sync::Mutex<Option<(AccessToken, azure_core::time::OffsetDateTime)>>,
}

impl CachedCredential {
    fn new(inner: Arc<dyn TokenCredential>, kind: &'static str) -> Self {
        Self {
            inner,
            kind,
            cached: tokio::sync::Mutex::new(None),
        }
    }

    async fn token(
        &self,
        scopes: &[&str],
        options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        let mut cached = self.cached.lock().await;
        let now = azure_core::time::OffsetDateTime::now_utc();
        if let Some((token, fetched)) = cached.as_ref() {
            let lifetime = token.expires_on - *fetched;
            let margin = azure_core::time::Duration::seconds(REFRESH_MARGIN_SECS).min(lifetime / 2);
            if token.expires_on - margin > now {
                return Ok(token.clone());
            }
        }
        let token = self.inner.get_token(scopes, options).await?;
        tracing::debug!(
            credential = self.kind,
            expires_in_s = (token.expires_on - now).whole_seconds(),
            "token acquired"
        );
        *cached = Some((token.clone(), now));
        Ok(token)
    }
}

impl fmt::Debug for CachedCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedCredential")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl TokenCredential for CachedCredential {
    // `#[async_trait]` written out: the crate does not depend on async-trait itself.
    fn get_token<'life0, 'life1, 'life2, 'life3, 'async_trait>(
        &'life0 self,
        scopes: &'life1 [&'life2 str],
        options: Option<TokenRequestOptions<'life3>>,
    ) -> BoxFuture<'async_trait, azure_core::Result<AccessToken>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        'life2: 'async_trait,
        'life3: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(self.token(scopes, options))
    }
}

/// A certificate's private key and thumbprint, signing a fresh client assertion (RS256, `x5t`)
/// for every token request.
pub struct CertificateAssertion {
    client_id: String,
    audience: String,
    x5t: String,
    key: RsaKeyPair,
}

impl fmt::Debug for CertificateAssertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateAssertion")
            .field("client_id", &self.client_id)
            .field("audience", &self.audience)
            .field("x5t", &self.x5t)
            .field("key", &"[redacted]")
            .finish()
    }
}

impl CertificateAssertion {
    /// Loads the key and certificate from `source` (PEM: a `CERTIFICATE` and a PKCS#8 or
    /// PKCS#1 RSA `PRIVATE KEY`; otherwise PKCS#12, with its password from `env` or a file).
    pub fn load(
        source: &CertificateSource,
        env: &Env,
        tenant: &TenantSettings,
    ) -> Result<Self, CredentialError> {
        let path = &source.file;
        let fail = |reason: &str| CredentialError::Certificate {
            path: path.clone(),
            reason: reason.to_string(),
        };
        let bytes = std::fs::read(path).map_err(|e| fail(&e.to_string()))?;
        let (key, certs) = if looks_like_pem(&bytes) {
            pem_key_and_certs(&bytes).map_err(|r| fail(&r))?
        } else {
            let password = match &source.password {
                None => String::new(),
                Some(r) => read_password(r, env)?,
            };
            pkcs12_key_and_certs(&bytes, &password).map_err(|r| fail(&r))?
        };
        let public = key.public();
        let leaf = certs
            .iter()
            .find(|der| contains(der, public.as_ref()))
            .ok_or_else(|| fail("no certificate in the file matches its private key"))?;
        let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, leaf);
        let audience = token_endpoint(&tenant.authority_host, &tenant.tenant_id)
            .map_err(|r| fail(&r))?
            .to_string();
        Ok(Self {
            client_id: tenant.client_id.clone(),
            audience,
            x5t: B64URL.encode(sha1.as_ref()),
            key,
        })
    }

    /// The certificate's thumbprint as Entra shows it base64url-encoded (`x5t`).
    pub fn x5t(&self) -> &str {
        &self.x5t
    }

    /// A signed assertion valid for ten minutes from now.
    pub fn sign(&self) -> Result<String, String> {
        let rng = ring::rand::SystemRandom::new();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|_| "the system clock is before 1970".to_string())?
            .as_secs();
        let mut jti = [0u8; 16];
        rng.fill(&mut jti)
            .map_err(|_| "no random numbers from the operating system".to_string())?;
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "x5t": self.x5t});
        let claims = serde_json::json!({
            "aud": self.audience,
            "iss": self.client_id,
            "sub": self.client_id,
            "jti": B64URL.encode(jti),
            "nbf": now,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECS,
        });
        let input = format!(
            "{}.{}",
            B64URL.encode(header.to_string()),
            B64URL.encode(claims.to_string())
        );
        let mut signature = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(
                &ring::signature::RSA_PKCS1_SHA256,
                &rng,
                input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| "signing the client assertion failed".to_string())?;
        Ok(format!("{input}.{}", B64URL.encode(signature)))
    }
}

impl ClientAssertion for CertificateAssertion {
    fn secret<'life0, 'life1, 'async_trait>(
        &'life0 self,
        _options: Option<ClientMethodOptions<'life1>>,
    ) -> BoxFuture<'async_trait, azure_core::Result<String>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        let signed = self
            .sign()
            .map_err(|reason| azure_core::Error::with_message(ErrorKind::Credential, reason));
        Box::pin(async move { signed })
    }
}

/// `{authority}/{tenant}/oauth2/v2.0/token`, as azure_identity builds it.
fn token_endpoint(authority: &Url, tenant_id: &str) -> Result<Url, String> {
    authority
        .join(&format!("/{tenant_id}/oauth2/v2.0/token"))
        .map_err(|e| format!("no token URL for tenant {tenant_id}: {e}"))
}

fn looks_like_pem(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .is_some_and(|i| bytes[i..].starts_with(b"-----BEGIN"))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// The RSA key and every certificate of a PEM file. Parse errors are described, never
/// quoted.
fn pem_key_and_certs(bytes: &[u8]) -> Result<(RsaKeyPair, Vec<Vec<u8>>), String> {
    let text = String::from_utf8_lossy(bytes);
    if text.contains("ENCRYPTED PRIVATE KEY") || text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(
            "the PEM private key is encrypted; decrypt it (`openssl pkey -in KEY -out \
                    KEY.pem`) and protect the file instead, or use a PKCS#12 file with a password"
                .to_string(),
        );
    }
    let certs: Vec<Vec<u8>> = CertificateDer::pem_slice_iter(bytes)
        .filter_map(Result::ok)
        .map(|c| c.as_ref().to_vec())
        .collect();
    if certs.is_empty() {
        return Err("the PEM file holds no CERTIFICATE".to_string());
    }
    let key = PrivateKeyDer::from_pem_slice(bytes)
        .map_err(|_| "the PEM file holds no readable PRIVATE KEY".to_string())?;
    let key = match &key {
        PrivateKeyDer::Pkcs8(k) => RsaKeyPair::from_pkcs8(k.secret_pkcs8_der()),
        PrivateKeyDer::Pkcs1(k) => RsaKeyPair::from_der(k.secret_pkcs1_der()),
        _ => return Err("the private key is not an RSA key (Entra signs with RSA)".to_string()),
    }
    .map_err(|e| format!("the private key is not a usable RSA key ({e})"))?;
    Ok((key, certs))
}

/// The RSA key and the certificates of a PKCS#12 file.
fn pkcs12_key_and_certs(
    bytes: &[u8],
    password: &str,
) -> Result<(RsaKeyPair, Vec<Vec<u8>>), String> {
    let store = p12_keystore::KeyStore::from_pkcs12(
        bytes,
        password,
        p12_keystore::Pkcs12ImportPolicy::Relaxed,
    )
    .map_err(|e| match e {
        p12_keystore::error::Error::MacError(_) => {
            "not a PEM file, and as PKCS#12 the password is wrong".to_string()
        }
        other => format!("not a PEM file, and not a readable PKCS#12 file ({other})"),
    })?;
    let (_, chain) = store
        .private_key_chain()
        .ok_or_else(|| "the PKCS#12 file holds no private key".to_string())?;
    let key = RsaKeyPair::from_pkcs8(chain.key().as_der())
        .map_err(|e| format!("the private key is not a usable RSA key ({e})"))?;
    let mut certs: Vec<Vec<u8>> = chain.certs().iter().map(|c| c.as_der().to_vec()).collect();
    for (_, entry) in store.entries() {
        if let p12_keystore::KeyStoreEntry::Certificate(c) = entry {
            certs.push(c.as_der().to_vec());
        }
    }
    Ok((key, certs))
}

fn read_password(source: &SecretRef, env: &Env) -> Result<String, CredentialError> {
    let fail = |reason: String| CredentialError::Password {
        from: source.clone(),
        reason,
    };
    match source {
        SecretRef::Env(name) => env
            .get(name)
            .map(str::to_string)
            .ok_or_else(|| fail("the variable is not set or is empty".to_string())),
        SecretRef::File(path) => read_trimmed(path).map_err(fail),
    }
}

/// Where an OIDC token comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OidcProvider {
    /// `GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=api://AzureADTokenExchange`, answer
    /// `{"value": JWT}`.
    GithubActions,
    /// `POST $SYSTEM_OIDCREQUESTURI?api-version=7.1&serviceConnectionId=ID`, answer
    /// `{"oidcToken": JWT}`.
    AzurePipelines,
}

impl OidcProvider {
    fn name(self) -> &'static str {
        match self {
            OidcProvider::GithubActions => "GitHub Actions",
            OidcProvider::AzurePipelines => "Azure Pipelines",
        }
    }
}

/// A CI system's OIDC token, fetched afresh for every token request and presented to Entra
/// as a federated client assertion.
pub struct OidcAssertion {
    provider: OidcProvider,
    url: Url,
    request_token: Secret,
    http: reqwest::Client,
}

impl fmt::Debug for OidcAssertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcAssertion")
            .field("provider", &self.provider)
            .field("host", &self.url.host_str())
            .field("request_token", &"[redacted]")
            .finish_non_exhaustive()
    }
}

impl OidcAssertion {
    /// GitHub Actions: `ACTIONS_ID_TOKEN_REQUEST_URL` and `ACTIONS_ID_TOKEN_REQUEST_TOKEN`
    /// (the job needs `permissions: id-token: write`).
    pub fn github_actions(env: &Env, http: &reqwest::Client) -> Result<Self, CredentialError> {
        let missing = || CredentialError::MissingInput {
            kind: "githubActions",
            needs: format!(
                "{ACTIONS_ID_TOKEN_REQUEST_URL} and {ACTIONS_ID_TOKEN_REQUEST_TOKEN}: give the \
                 job `permissions: id-token: write`"
            ),
        };
        let url = env.get(ACTIONS_ID_TOKEN_REQUEST_URL).ok_or_else(missing)?;
        let token = env
            .get(ACTIONS_ID_TOKEN_REQUEST_TOKEN)
            .ok_or_else(missing)?;
        let mut url = oidc_url(ACTIONS_ID_TOKEN_REQUEST_URL, url)?;
        url.query_pairs_mut()
            .append_pair("audience", FEDERATED_AUDIENCE);
        Ok(Self {
            provider: OidcProvider::GithubActions,
            url,
            request_token: Secret::new(token.to_string()),
            http: http.clone(),
        })
    }

    /// Azure Pipelines: `SYSTEM_OIDCREQUESTURI`, `SYSTEM_ACCESSTOKEN` and the service
    /// connection (configured, or `AZURESUBSCRIPTION_SERVICE_CONNECTION_ID`).
    pub fn azure_pipelines(
        env: &Env,
        http: &reqwest::Client,
        service_connection_id: Option<&str>,
    ) -> Result<Self, CredentialError> {
        let missing = |what: &str| CredentialError::MissingInput {
            kind: "azurePipelines",
            needs: what.to_string(),
        };
        let url = env.get(SYSTEM_OIDCREQUESTURI).ok_or_else(|| {
            missing(&format!(
                "{SYSTEM_OIDCREQUESTURI} (set by Azure Pipelines in every job)"
            ))
        })?;
        let token = env.get(SYSTEM_ACCESSTOKEN).ok_or_else(|| {
            missing(&format!(
                "{SYSTEM_ACCESSTOKEN}: map it in the step (`env: SYSTEM_ACCESSTOKEN: $(System.AccessToken)`)"
            ))
        })?;
        let connection = service_connection_id
            .or_else(|| env.get(AZURESUBSCRIPTION_SERVICE_CONNECTION_ID))
            .ok_or_else(|| {
                missing(&format!(
                    "`serviceConnectionId` or {AZURESUBSCRIPTION_SERVICE_CONNECTION_ID}"
                ))
            })?;
        let mut url = oidc_url(SYSTEM_OIDCREQUESTURI, url)?;
        url.query_pairs_mut()
            .append_pair("api-version", "7.1")
            .append_pair("serviceConnectionId", connection);
        Ok(Self {
            provider: OidcProvider::AzurePipelines,
            url,
            request_token: Secret::new(token.to_string()),
            http: http.clone(),
        })
    }

    /// Fetches one OIDC token.
    pub async fn fetch(&self) -> azure_core::Result<String> {
        let name = self.provider.name();
        let request = match self.provider {
            OidcProvider::GithubActions => self
                .http
                .get(self.url.clone())
                .header(reqwest::header::ACCEPT, "application/json"),
            OidcProvider::AzurePipelines => self
                .http
                .post(self.url.clone())
                .header("X-TFS-FedAuthRedirect", "Suppress")
                .header(reqwest::header::CONTENT_LENGTH, "0"),
        }
        .bearer_auth(self.request_token.secret());
        let response = request.send().await.map_err(|e| {
            azure_core::Error::with_message(
                ErrorKind::Credential,
                format!(
                    "{name} OIDC token request failed: {}",
                    super::error_chain(&e)
                ),
            )
        })?;
        let status = response.status().as_u16();
        if !response.status().is_success() {
            return Err(azure_core::Error::with_message(
                ErrorKind::HttpResponse {
                    status: status.into(),
                    error_code: None,
                    raw_response: None,
                },
                format!("{name} OIDC token request answered HTTP {status}"),
            ));
        }
        let body: serde_json::Value = response.json().await.map_err(|_| {
            azure_core::Error::with_message(
                ErrorKind::DataConversion,
                format!("{name} OIDC token response is not JSON"),
            )
        })?;
        let field = match self.provider {
            OidcProvider::GithubActions => "value",
            OidcProvider::AzurePipelines => "oidcToken",
        };
        body.get(field)
            .and_then(serde_json::Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .ok_or_else(|| {
                azure_core::Error::with_message(
                    ErrorKind::DataConversion,
                    format!("{name} OIDC token response has no `{field}`"),
                )
            })
    }
}

impl ClientAssertion for OidcAssertion {
    fn secret<'life0, 'life1, 'async_trait>(
        &'life0 self,
        _options: Option<ClientMethodOptions<'life1>>,
    ) -> BoxFuture<'async_trait, azure_core::Result<String>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(self.fetch())
    }
}

/// An OIDC endpoint from the environment: https, or http on a loopback address (tests).
fn oidc_url(variable: &'static str, value: &str) -> Result<Url, CredentialError> {
    let invalid = |reason: &str| CredentialError::InvalidEnv {
        variable,
        reason: reason.to_string(),
    };
    let url = Url::parse(value).map_err(|_| invalid("not a URL"))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err(invalid(
            "must be an https URL (the request carries a bearer token)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_detection_and_search() {
        assert!(looks_like_pem(b"\n  -----BEGIN CERTIFICATE-----"));
        assert!(!looks_like_pem(&[0x30, 0x82, 0x01]));
        assert!(contains(b"abcdef", b"cde"));
        assert!(!contains(b"abc", b""));
    }

    /// Issues tokens with a fixed lifetime and counts the requests.
    #[derive(Debug)]
    struct Counting {
        lifetime: azure_core::time::Duration,
        calls: std::sync::atomic::AtomicUsize,
    }

    impl TokenCredential for Counting {
        fn get_token<'life0, 'life1, 'life2, 'life3, 'async_trait>(
            &'life0 self,
            _scopes: &'life1 [&'life2 str],
            _options: Option<TokenRequestOptions<'life3>>,
        ) -> BoxFuture<'async_trait, azure_core::Result<AccessToken>>
        where
            'life0: 'async_trait,
            'life1: 'async_trait,
            'life2: 'async_trait,
            'life3: 'async_trait,
            Self: 'async_trait,
        {
            let n = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let token = AccessToken::new(
                Secret::new(format!("token-{n}")),
                azure_core::time::OffsetDateTime::now_utc() + self.lifetime,
            );
            Box::pin(async move { Ok(token) })
        }
    }

    async fn calls_after(lifetime_ms: i64, gets: usize, pause_ms: u64) -> usize {
        let inner = Arc::new(Counting {
            lifetime: azure_core::time::Duration::milliseconds(lifetime_ms),
            calls: std::sync::atomic::AtomicUsize::new(0),
        });
        let cached = CachedCredential::new(inner.clone(), "test");
        for _ in 0..gets {
            cached.get_token(&["s/.default"], None).await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(pause_ms)).await;
        }
        inner.calls.load(std::sync::atomic::Ordering::SeqCst)
    }

    #[tokio::test]
    async fn tokens_are_reused_and_refreshed_before_they_expire() {
        // An hour-long token serves every call.
        assert_eq!(calls_after(3_600_000, 5, 0).await, 1);
        // A 400 ms token is refreshed at half its lifetime: after 250 ms, a new one.
        assert_eq!(calls_after(400, 2, 250).await, 2);
        // Concurrent callers share the one request in flight.
        let inner = Arc::new(Counting {
            lifetime: azure_core::time::Duration::hours(1),
            calls: std::sync::atomic::AtomicUsize::new(0),
        });
        let cached = Arc::new(CachedCredential::new(inner.clone(), "test"));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let c = cached.clone();
                tokio::spawn(async move { c.get_token(&["s/.default"], None).await.is_ok() })
            })
            .collect();
        for t in tasks {
            assert!(t.await.unwrap());
        }
        assert_eq!(inner.calls.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(!format!("{cached:?}").contains("token-0"));
    }

    #[test]
    fn oidc_urls_must_be_https_or_loopback() {
        assert!(oidc_url("X", "https://token.actions.githubusercontent.com/x?a=1").is_ok());
        assert!(oidc_url("X", "http://127.0.0.1:9/x").is_ok());
        assert!(oidc_url("X", "http://example.com/x").is_err());
        assert!(oidc_url("X", "nonsense").is_err());
    }
}
