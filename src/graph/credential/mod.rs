//! The token credential for one tenant: one of the kinds in mfactl.yaml (docs/configuration.md
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
mod cache;
mod certificate;
mod oidc;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::{Secret, TokenCredential};
use azure_core::http::{ClientOptions, ExponentialRetryOptions, RetryOptions, Transport};
use azure_identity::{
    AzureCliCredential, AzureCliCredentialOptions, ClientAssertionCredential,
    ClientAssertionCredentialOptions, ClientSecretCredential, ClientSecretCredentialOptions,
    ManagedIdentityCredential, ManagedIdentityCredentialOptions, UserAssignedId,
    WorkloadIdentityCredential, WorkloadIdentityCredentialOptions,
};

use super::GraphError;
use crate::config::{
    AZURE_CLIENT_CERTIFICATE_PASSWORD, AZURE_CLIENT_CERTIFICATE_PATH, AZURE_CLIENT_SECRET,
    AZURE_FEDERATED_TOKEN_FILE, CertificateSource, CredentialSource, Env, ManagedIdentityId,
    SecretRef, TenantSettings,
};
use cache::CachedCredential;
pub use certificate::CertificateAssertion;
pub use oidc::OidcAssertion;

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
/// the chain whose inputs are present (docs/configuration.md "Credentials"): environment (client secret,
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
