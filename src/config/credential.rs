//! How a tenant signs in, as configured: the credential kinds and where their secrets live
//! (never the secrets themselves), with their names as written in mfactl.yaml.

use std::path::PathBuf;

/// How a tenant signs in (docs/configuration.md "Credentials"). Holds only the names of the places where
/// secrets live, never a secret: [`crate::graph::GraphClient::connect`] reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// `clientSecret: { env }`: an environment variable's name.
    SecretEnv(String),
    /// `clientSecret: { file }`: a file whose content (trailing line break removed) is the
    /// secret.
    SecretFile(PathBuf),
    /// `clientCertificate`: a certificate whose key signs a client assertion.
    Certificate(CertificateSource),
    /// `workloadIdentity`: a Kubernetes service-account token, exchanged as a federated
    /// client assertion.
    WorkloadIdentity {
        /// The token file; `None` reads `AZURE_FEDERATED_TOKEN_FILE`.
        token_file: Option<PathBuf>,
    },
    /// `managedIdentity`: the Azure host's managed identity.
    ManagedIdentity(ManagedIdentityId),
    /// `githubActions`: the job's OIDC token, exchanged as a federated client assertion.
    GithubActions,
    /// `azurePipelines`: the service connection's OIDC token.
    AzurePipelines {
        /// The service connection; `None` reads `AZURESUBSCRIPTION_SERVICE_CONNECTION_ID`.
        service_connection_id: Option<String>,
    },
    /// `azureCli`: the Azure CLI's signed-in account (local development).
    AzureCli,
    /// `auto`: the first kind whose inputs the environment holds (docs/configuration.md "Credentials").
    Auto,
}

/// A certificate credential: the file and where its password lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateSource {
    /// A PEM file (certificate and unencrypted private key) or a PKCS#12 (`.pfx`) file.
    pub file: PathBuf,
    /// Where the PKCS#12 password lives; `None` for none.
    pub password: Option<SecretRef>,
}

/// Where a secret other than the client secret lives (a certificate's password).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    /// An environment variable's name.
    Env(String),
    /// A file whose content (trailing line break removed) is the secret.
    File(PathBuf),
}

/// Which managed identity signs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManagedIdentityId {
    /// The host's system-assigned identity.
    SystemAssigned,
    /// A user-assigned identity by client id.
    ClientId(String),
    /// A user-assigned identity by object (principal) id.
    ObjectId(String),
    /// A user-assigned identity by ARM resource id.
    ResourceId(String),
}

impl CredentialSource {
    /// The kind's name as written in mfactl.yaml (`clientSecret`, `githubActions`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            CredentialSource::SecretEnv(_) | CredentialSource::SecretFile(_) => "clientSecret",
            CredentialSource::Certificate(_) => "clientCertificate",
            CredentialSource::WorkloadIdentity { .. } => "workloadIdentity",
            CredentialSource::ManagedIdentity(_) => "managedIdentity",
            CredentialSource::GithubActions => "githubActions",
            CredentialSource::AzurePipelines { .. } => "azurePipelines",
            CredentialSource::AzureCli => "azureCli",
            CredentialSource::Auto => "auto",
        }
    }
}

impl std::fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CredentialSource::SecretEnv(name) => write!(f, "environment variable {name}"),
            CredentialSource::SecretFile(path) => write!(f, "file {}", path.display()),
            CredentialSource::Certificate(c) => {
                write!(f, "client certificate {}", c.file.display())
            }
            CredentialSource::WorkloadIdentity {
                token_file: Some(path),
            } => write!(f, "workload identity (token file {})", path.display()),
            CredentialSource::WorkloadIdentity { token_file: None } => {
                write!(
                    f,
                    "workload identity (token file from AZURE_FEDERATED_TOKEN_FILE)"
                )
            }
            CredentialSource::ManagedIdentity(id) => match id {
                ManagedIdentityId::SystemAssigned => {
                    f.write_str("system-assigned managed identity")
                }
                ManagedIdentityId::ClientId(v) => {
                    write!(f, "user-assigned managed identity (client id {v})")
                }
                ManagedIdentityId::ObjectId(v) => {
                    write!(f, "user-assigned managed identity (object id {v})")
                }
                ManagedIdentityId::ResourceId(v) => {
                    write!(f, "user-assigned managed identity ({v})")
                }
            },
            CredentialSource::GithubActions => f.write_str("GitHub Actions OIDC token"),
            CredentialSource::AzurePipelines {
                service_connection_id: Some(id),
            } => write!(f, "Azure Pipelines service connection {id}"),
            CredentialSource::AzurePipelines {
                service_connection_id: None,
            } => f.write_str("Azure Pipelines service connection"),
            CredentialSource::AzureCli => f.write_str("Azure CLI"),
            CredentialSource::Auto => f.write_str("automatic credential selection"),
        }
    }
}

impl std::fmt::Display for SecretRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretRef::Env(name) => write!(f, "environment variable {name}"),
            SecretRef::File(path) => write!(f, "file {}", path.display()),
        }
    }
}
