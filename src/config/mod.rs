//! Settings resolution, before any network I/O: which tenants to manage, how to reach them,
//! where their credentials and policies are.
//!
//! Sources, in order of precedence (DESIGN.md "CLI conventions"):
//!
//! 1. The configuration file: `--config FILE`, else `MFACTL_CONFIG`, else `mfactl.yaml` in
//!    the current directory. It names any number of tenants; every relative path in it is
//!    relative to the file's directory.
//! 2. Without a file, *environment mode*: one tenant named `default` from the Azure SDK's own
//!    variables (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_AUTHORITY_HOST`; the credential
//!    from `AZURE_CLIENT_SECRET`, else `AZURE_CLIENT_CERTIFICATE_PATH`, else
//!    `AZURE_FEDERATED_TOKEN_FILE`, else `auto`), policies in `./policies`.
//! 3. Overrides for every tenant, whichever the source: `MFACTL_GRAPH_URL`,
//!    `MFACTL_AUTHORITY_HOST`, `MFACTL_CA_FILE`, and `MFACTL_AUDIT_LOG`; their relative
//!    paths are relative to the current directory.
//!
//! Secrets are never read here and never written in the file: the settings name the
//! environment variable or the file that holds one ([`CredentialSource`]), and
//! [`crate::graph::GraphClient::connect`] reads it.

mod checks;
mod control;
mod credential;
mod env;
mod error;
mod file;
mod from_env;
mod from_file;
mod located;
mod notifications;
mod shard;

use std::path::{Path, PathBuf};

pub use checks::{format_duration, parse_duration};
pub use control::{ChangeWindow, Mode, TenantControl};
pub use credential::{CertificateSource, CredentialSource, ManagedIdentityId, SecretRef};
pub use env::Env;
pub use error::ConfigError;
use from_env::{apply_overrides, from_environment};
use from_file::from_file;
pub use from_file::parse_file;
pub use notifications::{NotificationSettings, ProviderSource};
pub use shard::Shard;
use url::Url;

/// The configuration file looked for in the current directory.
pub const DEFAULT_CONFIG_FILE: &str = "mfactl.yaml";
/// The audit log's file name when none is configured.
pub const DEFAULT_AUDIT_LOG: &str = "mfactl-audit.jsonl";
/// The policy directory when none is configured.
pub const DEFAULT_POLICY_DIR: &str = "policies";
/// Microsoft Graph (global service).
pub const DEFAULT_GRAPH_URL: &str = "https://graph.microsoft.com";
/// Microsoft Entra ID token authority (global service).
pub const DEFAULT_AUTHORITY_HOST: &str = "https://login.microsoftonline.com";
/// The tenant name in environment mode.
pub const ENVIRONMENT_TENANT_NAME: &str = "default";

/// Names the configuration file.
pub const ENV_CONFIG: &str = "MFACTL_CONFIG";
/// Overrides every tenant's Graph base URL.
pub const ENV_GRAPH_URL: &str = "MFACTL_GRAPH_URL";
/// Overrides every tenant's token authority.
pub const ENV_AUTHORITY_HOST: &str = "MFACTL_AUTHORITY_HOST";
/// Overrides every tenant's extra trusted CA file.
pub const ENV_CA_FILE: &str = "MFACTL_CA_FILE";
/// Overrides the audit log path.
pub const ENV_AUDIT_LOG: &str = "MFACTL_AUDIT_LOG";
/// Azure SDK: the tenant (environment mode).
pub const AZURE_TENANT_ID: &str = "AZURE_TENANT_ID";
/// Azure SDK: the application (environment mode).
pub const AZURE_CLIENT_ID: &str = "AZURE_CLIENT_ID";
/// Azure SDK: the client secret (environment mode).
pub const AZURE_CLIENT_SECRET: &str = "AZURE_CLIENT_SECRET";
/// Azure SDK: the token authority (environment mode).
pub const AZURE_AUTHORITY_HOST: &str = "AZURE_AUTHORITY_HOST";
/// Azure SDK: a certificate file (PEM or PKCS#12) for the application (environment mode).
pub const AZURE_CLIENT_CERTIFICATE_PATH: &str = "AZURE_CLIENT_CERTIFICATE_PATH";
/// Azure SDK: the PKCS#12 file's password (environment mode).
pub const AZURE_CLIENT_CERTIFICATE_PASSWORD: &str = "AZURE_CLIENT_CERTIFICATE_PASSWORD";
/// Azure SDK / Kubernetes workload identity: the projected service-account token file.
pub const AZURE_FEDERATED_TOKEN_FILE: &str = "AZURE_FEDERATED_TOKEN_FILE";

/// Everything mfactl needs to know before it touches the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The tenants, in file order; names are unique.
    pub tenants: Vec<TenantSettings>,
    /// Where apply appends its JSON-lines audit records.
    pub audit_log: PathBuf,
    /// Where the settings came from.
    pub source: ConfigSource,
    /// `notifications:` (empty in environment mode, where `MFACTL_*` variables describe the
    /// providers: [`crate::notify::providers_from_env`]).
    pub notifications: NotificationSettings,
}

/// Where [`Settings`] came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// A configuration file (its path as resolved against the current directory).
    File(PathBuf),
    /// The Azure SDK environment variables (no configuration file).
    Environment,
}

/// One managed tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantSettings {
    /// mfactl's name for the tenant (`--tenant NAME`, audit records, reports).
    pub name: String,
    /// The Entra tenant: a GUID or a verified domain.
    pub tenant_id: String,
    /// The application (client) id mfactl signs in as.
    pub client_id: String,
    /// Where the client secret is read from.
    pub credential: CredentialSource,
    /// Policy directories or files, absolute or relative to the current directory.
    pub policies: Vec<PathBuf>,
    /// Graph's base URL, without a version segment.
    pub graph_url: Url,
    /// The token authority (`https://login.microsoftonline.com` in the global cloud).
    pub authority_host: Url,
    /// An extra CA certificate bundle (PEM) to trust besides the system roots.
    pub ca_file: Option<PathBuf>,
    /// What `mfactl reconcile` does with the tenant: mode, suspension, change windows.
    pub control: TenantControl,
    /// `prune: true`: live collection items (named locations, ...) that no document
    /// declares are deleted; by default they are listed as unmanaged and left alone.
    pub prune: bool,
    /// The configuration file these settings were read from, if any: never read as a
    /// policy file, even inside a policy directory.
    pub config_file: Option<PathBuf>,
}

impl Settings {
    /// The tenants a run works on: every tenant (`all`), or this worker's share of them
    /// (`shard`), or the one named (or the only one). A shard may hold no tenant.
    pub fn select(
        &self,
        name: Option<&str>,
        all: bool,
        shard: Option<Shard>,
    ) -> Result<Vec<TenantSettings>, ConfigError> {
        if all || shard.is_some() {
            return Ok(self
                .tenants
                .iter()
                .filter(|t| shard.is_none_or(|s| s.owns(&t.name)))
                .cloned()
                .collect());
        }
        self.tenant(name).map(|t| vec![t.clone()])
    }

    /// The tenant called `name`; with `None`, the only tenant, or an error listing the names
    /// when there are several.
    pub fn tenant(&self, name: Option<&str>) -> Result<&TenantSettings, ConfigError> {
        let available = || self.tenants.iter().map(|t| t.name.clone()).collect();
        match name {
            Some(name) => self.tenants.iter().find(|t| t.name == name).ok_or_else(|| {
                ConfigError::UnknownTenant {
                    name: name.to_string(),
                    available: available(),
                }
            }),
            None => match self.tenants.as_slice() {
                [only] => Ok(only),
                _ => Err(ConfigError::TenantRequired {
                    available: available(),
                }),
            },
        }
    }
}

/// Resolves the settings from `explicit` (`--config`), the environment and the current
/// directory. Reads at most the configuration file; touches no network.
pub fn resolve(explicit: Option<&Path>, env: &Env, cwd: &Path) -> Result<Settings, ConfigError> {
    let named = explicit
        .map(Path::to_path_buf)
        .or_else(|| env.get(ENV_CONFIG).map(PathBuf::from));
    let mut settings = match named {
        Some(path) => from_file(&cwd.join(path))?,
        None => {
            let default = cwd.join(DEFAULT_CONFIG_FILE);
            if default.exists() {
                from_file(&default)?
            } else {
                from_environment(env, cwd)?
            }
        }
    };
    apply_overrides(&mut settings, env, cwd)?;
    Ok(settings)
}
