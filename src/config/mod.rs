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

mod env;
mod file;
mod shard;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

pub use env::Env;

use crate::source::BoundedYamlError;
use file::{
    INLINE_SECRET_MARKER, Located, RawChangeWindow, RawConfig, RawCredential, RawDay,
    RawManagedIdentity, RawMode, RawNotifications, RawSecretRef, Seg,
};
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

/// `notifications:` in mfactl.yaml: where each alert provider's secrets live, never the
/// secrets themselves; [`crate::notify::providers_from_settings`] reads them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NotificationSettings {
    /// `remindAfter`: re-send an unchanged drift after this long; `None` never reminds.
    pub remind_after: Option<Duration>,
    /// The providers, in the order teams, slack, webhook.
    pub providers: Vec<ProviderSource>,
}

/// One alert provider as configured: the places its URL (and key) are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderSource {
    /// `teams: { url }`: a Teams Workflows webhook.
    Teams {
        /// Where the webhook URL lives.
        url: SecretRef,
    },
    /// `slack: { url }`: a Slack incoming webhook.
    Slack {
        /// Where the webhook URL lives.
        url: SecretRef,
    },
    /// `webhook: { url, secret? }`: the generic JSON webhook.
    Webhook {
        /// Where the URL lives.
        url: SecretRef,
        /// Where the HMAC key lives, if the receiver verifies signatures.
        key: Option<SecretRef>,
    },
}

/// What `mfactl reconcile` may do about a tenant's drift.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Mode {
    /// Report drift; change nothing.
    #[default]
    Observe,
    /// Apply the plan and verify it.
    Enforce,
}

impl std::fmt::Display for Mode {
    /// As written in mfactl.yaml and `--mode`: `observe`, `enforce`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Observe => "observe",
            Mode::Enforce => "enforce",
        })
    }
}

/// How `mfactl reconcile` treats a tenant (`mode`, `suspend`, `changeWindows` in
/// mfactl.yaml). `plan` and `apply` ignore all of it: they are explicit actions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TenantControl {
    /// `mode:` (default observe); `reconcile --mode` overrides it.
    pub mode: Mode,
    /// `suspend: true`: reconcile skips the tenant.
    pub suspend: bool,
    /// `changeWindows:`: when non-empty, enforce only inside one of them; outside, a cycle
    /// observes and reports. Empty: enforce at any time.
    pub change_windows: Vec<ChangeWindow>,
    /// `freezeWindows:`: never enforce inside any of them (a deny list that wins over
    /// `changeWindows`), e.g. a quarter-end freeze.
    pub freeze_windows: Vec<ChangeWindow>,
}

impl TenantControl {
    /// The mode a cycle starting at `now` runs in, given the requested mode (the tenant's,
    /// or `--mode`): enforce becomes observe outside every change window.
    pub fn mode_at(&self, requested: Mode, now: SystemTime) -> Mode {
        match requested {
            Mode::Enforce if !self.enforce_allowed_at(now) => Mode::Observe,
            other => other,
        }
    }

    /// Whether enforcing is allowed at `now`: inside a change window (or none is
    /// configured), and inside no freeze window.
    pub fn enforce_allowed_at(&self, now: SystemTime) -> bool {
        let allowed =
            self.change_windows.is_empty() || self.change_windows.iter().any(|w| w.contains(now));
        allowed && !self.freeze_windows.iter().any(|w| w.contains(now))
    }
}

/// `changeWindows[]`: days of the week and a time range, in UTC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeWindow {
    /// The days the window is open.
    pub days: Vec<time::Weekday>,
    /// Opens at this minute of the day (`from: "08:00"` is 480), inclusive.
    pub from_minute: u16,
    /// Closes at this minute of the day (`to: "18:00"` is 1080; `"24:00"` is 1440),
    /// exclusive; always after `from_minute`.
    pub to_minute: u16,
}

impl ChangeWindow {
    /// Whether `at` (read in UTC) falls inside the window.
    pub fn contains(&self, at: SystemTime) -> bool {
        let at = time::OffsetDateTime::from(at);
        let minute = u16::from(at.hour()) * 60 + u16::from(at.minute());
        self.days.contains(&at.weekday()) && self.from_minute <= minute && minute < self.to_minute
    }
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
    /// The configuration file these settings were read from, if any: never read as a
    /// policy file, even inside a policy directory.
    pub config_file: Option<PathBuf>,
}

/// How a tenant signs in (README "Credentials"). Holds only the names of the places where
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
    /// `auto`: the first kind whose inputs the environment holds (README "Credentials").
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

/// Why the settings could not be resolved. No variant holds a secret value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file could not be read (missing, unreadable, not UTF-8).
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The file is not valid YAML, or has a wrong type, a missing key or an unknown key.
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A client secret, a certificate password, or a notification webhook URL or key is
    /// written in the file itself instead of naming where it lives.
    #[error(
        "{path}:{line}:{column}: a secret (client secret, certificate password, webhook URL \
         or key) must not be written in the configuration file; use `clientSecret: {{ env: \
         VARIABLE }}` or `clientSecret: {{ file: PATH }}` (`password:`, `url:` and `secret:` \
         likewise)"
    )]
    InlineSecret {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// Two tenants have the same name.
    #[error(
        "{path}:{line}:{column}: duplicate tenant name `{name}` (first used at line {first_line})"
    )]
    DuplicateTenant {
        /// The file.
        path: PathBuf,
        /// 1-based line of the second use.
        line: usize,
        /// 1-based column of the second use.
        column: usize,
        /// The name.
        name: String,
        /// 1-based line of the first use.
        first_line: usize,
    },
    /// A value of the right type that cannot be used: a bad URL, tenant or client id, name.
    #[error("{path}:{line}:{column}: {field}: {message}")]
    InvalidValue {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The key, e.g. `graphUrl`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The file declares no tenant.
    #[error("{path}:{line}:{column}: no tenants: declare at least one under `tenants:`")]
    NoTenants {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// An environment variable's value cannot be used.
    #[error("environment variable {variable}: {message}")]
    InvalidEnv {
        /// The variable.
        variable: String,
        /// What is wrong.
        message: String,
    },
    /// No configuration file, and the environment lacks the Azure SDK variables.
    #[error(
        "no {DEFAULT_CONFIG_FILE} in {} and the environment lacks {}; set them, or write \
         {DEFAULT_CONFIG_FILE} (or name one with --config or {ENV_CONFIG})",
        dir.display(),
        missing.join(", ")
    )]
    MissingEnvironment {
        /// The directory searched for the configuration file.
        dir: PathBuf,
        /// The missing (unset or empty) variables.
        missing: Vec<String>,
    },
    /// `--tenant` names a tenant the settings do not have.
    #[error("no tenant named `{name}`; configured: {}", available.join(", "))]
    UnknownTenant {
        /// The name asked for.
        name: String,
        /// The configured names.
        available: Vec<String>,
    },
    /// Several tenants are configured and none was chosen.
    #[error("{} tenants are configured ({}); choose one with --tenant", available.len(), available.join(", "))]
    TenantRequired {
        /// The configured names.
        available: Vec<String>,
    },
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

fn from_file(path: &Path) -> Result<Settings, ConfigError> {
    let text = crate::source::read_bounded_yaml(path).map_err(|e| match e {
        BoundedYamlError::Io(source) => ConfigError::Read {
            path: path.to_path_buf(),
            source,
        },
        BoundedYamlError::Refused(d) => ConfigError::Syntax {
            path: path.to_path_buf(),
            line: d.location.line,
            column: d.location.column,
            message: format!("{} ({})", d.message, d.code),
        },
    })?;
    parse_file(path, &text)
}

/// Parses configuration text as if read from `path` (relative paths in it are resolved
/// against `path`'s directory).
pub fn parse_file(path: &Path, text: &str) -> Result<Settings, ConfigError> {
    let raw: RawConfig = serde_yaml::from_str(text).map_err(|e| syntax_error(path, text, &e))?;
    let located = Located::parse(text);
    let at = |segs: &[Seg<'_>]| {
        located
            .as_ref()
            .and_then(|l| l.find(segs))
            .map(|n| n.pos())
            .map_or((1, 1), |p| (p.line, p.column))
    };
    let invalid = |segs: &[Seg<'_>], field: &str, message: String| {
        let (line, column) = at(segs);
        ConfigError::InvalidValue {
            path: path.to_path_buf(),
            line,
            column,
            field: field.to_string(),
            message,
        }
    };
    if raw.tenants.is_empty() {
        let (line, column) = at(&[Seg::Key("tenants")]);
        return Err(ConfigError::NoTenants {
            path: path.to_path_buf(),
            line,
            column,
        });
    }
    let base = path.parent().unwrap_or(Path::new("")).to_path_buf();
    let mut tenants: Vec<TenantSettings> = Vec::with_capacity(raw.tenants.len());
    for (i, t) in raw.tenants.into_iter().enumerate() {
        let here = |key: &'static str| [Seg::Key("tenants"), Seg::Index(i), Seg::Key(key)];
        check_name(&t.name).map_err(|m| invalid(&here("name"), "name", m))?;
        if let Some(first) = tenants.iter().position(|s| s.name == t.name) {
            let (line, column) = at(&here("name"));
            let (first_line, _) = at(&[Seg::Key("tenants"), Seg::Index(first), Seg::Key("name")]);
            return Err(ConfigError::DuplicateTenant {
                path: path.to_path_buf(),
                line,
                column,
                name: t.name,
                first_line,
            });
        }
        check_tenant_id(&t.tenant_id).map_err(|m| invalid(&here("tenantId"), "tenantId", m))?;
        check_client_id(&t.client_id).map_err(|m| invalid(&here("clientId"), "clientId", m))?;
        let graph_url = match &t.graph_url {
            Some(u) => parse_graph_url(u).map_err(|m| invalid(&here("graphUrl"), "graphUrl", m))?,
            None => default_url(DEFAULT_GRAPH_URL),
        };
        let authority_host = match &t.authority_host {
            Some(u) => parse_authority_host(u)
                .map_err(|m| invalid(&here("authorityHost"), "authorityHost", m))?,
            None => default_url(DEFAULT_AUTHORITY_HOST),
        };
        let at_key = |segs: &[&'static str]| {
            let mut path = vec![Seg::Key("tenants"), Seg::Index(i), Seg::Key("credential")];
            path.extend(segs.iter().map(|s| Seg::Key(s)));
            path
        };
        let check_env = |name: &str, segs: &[&'static str]| {
            check_env_name(name)
                .map_err(|m| invalid(&at_key(segs), &format!("credential.{}", segs.join(".")), m))
        };
        let credential = match t.credential {
            RawCredential::ClientSecret(RawSecretRef::Env(name)) => {
                check_env(&name, &["clientSecret", "env"])?;
                CredentialSource::SecretEnv(name)
            }
            RawCredential::ClientSecret(RawSecretRef::File(p)) => {
                CredentialSource::SecretFile(base.join(p))
            }
            RawCredential::ClientCertificate { file, password } => {
                let password = match password {
                    Some(RawSecretRef::Env(name)) => {
                        check_env(&name, &["clientCertificate", "password", "env"])?;
                        Some(SecretRef::Env(name))
                    }
                    Some(RawSecretRef::File(p)) => Some(SecretRef::File(base.join(p))),
                    None => None,
                };
                CredentialSource::Certificate(CertificateSource {
                    file: base.join(file),
                    password,
                })
            }
            RawCredential::WorkloadIdentity { token_file } => CredentialSource::WorkloadIdentity {
                token_file: token_file.map(|p| base.join(p)),
            },
            RawCredential::ManagedIdentity(id) => {
                let id = match id {
                    RawManagedIdentity::SystemAssigned => ManagedIdentityId::SystemAssigned,
                    RawManagedIdentity::ClientId(v) => {
                        check_client_id(&v).map_err(|m| {
                            let segs = ["managedIdentity", "clientId"];
                            invalid(&at_key(&segs), "credential.managedIdentity.clientId", m)
                        })?;
                        ManagedIdentityId::ClientId(v)
                    }
                    RawManagedIdentity::ObjectId(v) => {
                        check_object_id(&v).map_err(|m| {
                            let segs = ["managedIdentity", "objectId"];
                            invalid(&at_key(&segs), "credential.managedIdentity.objectId", m)
                        })?;
                        ManagedIdentityId::ObjectId(v)
                    }
                    RawManagedIdentity::ResourceId(v) => {
                        check_resource_id(&v).map_err(|m| {
                            let segs = ["managedIdentity", "resourceId"];
                            invalid(&at_key(&segs), "credential.managedIdentity.resourceId", m)
                        })?;
                        ManagedIdentityId::ResourceId(v)
                    }
                };
                CredentialSource::ManagedIdentity(id)
            }
            RawCredential::GithubActions => CredentialSource::GithubActions,
            RawCredential::AzurePipelines {
                service_connection_id,
            } => CredentialSource::AzurePipelines {
                service_connection_id,
            },
            RawCredential::AzureCli => CredentialSource::AzureCli,
            RawCredential::Auto => CredentialSource::Auto,
        };
        let policies = match t.policies {
            Some(list) if list.is_empty() => {
                return Err(invalid(
                    &here("policies"),
                    "policies",
                    "lists no directory or file".to_string(),
                ));
            }
            Some(list) => list.iter().map(|p| base.join(p)).collect(),
            None => vec![base.join(DEFAULT_POLICY_DIR)],
        };
        let windows = |list: Option<Vec<RawChangeWindow>>, name: &'static str| {
            let mut out = Vec::new();
            for (w, window) in list.into_iter().flatten().enumerate() {
                let segs = [
                    Seg::Key("tenants"),
                    Seg::Index(i),
                    Seg::Key(name),
                    Seg::Index(w),
                ];
                out.push(change_window(window).map_err(|(key, m)| {
                    let mut at = segs.to_vec();
                    at.push(Seg::Key(key));
                    invalid(&at, &format!("{name}[{w}].{key}"), m)
                })?);
            }
            Ok::<_, ConfigError>(out)
        };
        let change_windows = windows(t.change_windows, "changeWindows")?;
        let freeze_windows = windows(t.freeze_windows, "freezeWindows")?;
        let control = TenantControl {
            mode: match t.mode {
                Some(RawMode::Enforce) => Mode::Enforce,
                Some(RawMode::Observe) | None => Mode::Observe,
            },
            suspend: t.suspend.unwrap_or(false),
            change_windows,
            freeze_windows,
        };
        tenants.push(TenantSettings {
            name: t.name,
            tenant_id: t.tenant_id,
            client_id: t.client_id,
            credential,
            policies,
            graph_url,
            authority_host,
            ca_file: t.ca_file.map(|p| base.join(p)),
            control,
            config_file: Some(path.to_path_buf()),
        });
    }
    let notifications = match raw.notifications {
        Some(n) => notification_settings(n, &base, &invalid)?,
        None => NotificationSettings::default(),
    };
    Ok(Settings {
        tenants,
        audit_log: base.join(
            raw.audit_log
                .unwrap_or_else(|| PathBuf::from(DEFAULT_AUDIT_LOG)),
        ),
        source: ConfigSource::File(path.to_path_buf()),
        notifications,
    })
}

/// Resolves `notifications:`: file paths against the configuration's directory; variable
/// names and `remindAfter` checked.
fn notification_settings(
    raw: RawNotifications,
    base: &Path,
    invalid: &dyn Fn(&[Seg<'_>], &str, String) -> ConfigError,
) -> Result<NotificationSettings, ConfigError> {
    let remind_after = match &raw.remind_after {
        Some(text) => Some(parse_duration(text).map_err(|m| {
            let at = [Seg::Key("notifications"), Seg::Key("remindAfter")];
            invalid(&at, "notifications.remindAfter", m)
        })?),
        None => None,
    };
    let resolve = |r: RawSecretRef, provider: &'static str, key: &'static str| match r {
        RawSecretRef::Env(name) => {
            check_env_name(&name).map_err(|m| {
                let at = [
                    Seg::Key("notifications"),
                    Seg::Key(provider),
                    Seg::Key(key),
                    Seg::Key("env"),
                ];
                invalid(&at, &format!("notifications.{provider}.{key}.env"), m)
            })?;
            Ok(SecretRef::Env(name))
        }
        RawSecretRef::File(p) => Ok(SecretRef::File(base.join(p))),
    };
    let mut providers = Vec::new();
    if let Some(t) = raw.teams {
        providers.push(ProviderSource::Teams {
            url: resolve(t.url.0, "teams", "url")?,
        });
    }
    if let Some(s) = raw.slack {
        providers.push(ProviderSource::Slack {
            url: resolve(s.url.0, "slack", "url")?,
        });
    }
    if let Some(w) = raw.webhook {
        providers.push(ProviderSource::Webhook {
            url: resolve(w.url.0, "webhook", "url")?,
            key: w
                .secret
                .map(|k| resolve(k.0, "webhook", "secret"))
                .transpose()?,
        });
    }
    Ok(NotificationSettings {
        remind_after,
        providers,
    })
}

/// Checks one change window; an error names the key at fault.
fn change_window(raw: RawChangeWindow) -> Result<ChangeWindow, (&'static str, String)> {
    if let Some(tz) = &raw.timezone
        && !tz.eq_ignore_ascii_case("UTC")
    {
        return Err((
            "timezone",
            format!("`{tz}` is not supported: change windows are in UTC only (`timezone: UTC`)"),
        ));
    }
    if raw.days.is_empty() {
        return Err(("days", "lists no day (mon, tue, … sun)".to_string()));
    }
    let from_minute = minute_of_day(&raw.from, false).map_err(|m| ("from", m))?;
    let to_minute = minute_of_day(&raw.to, true).map_err(|m| ("to", m))?;
    if to_minute <= from_minute {
        return Err((
            "to",
            format!(
                "`{}` is not after `{}`: a window across midnight is written as two windows",
                raw.to, raw.from
            ),
        ));
    }
    let days = raw
        .days
        .iter()
        .map(|d| match d {
            RawDay::Mon => time::Weekday::Monday,
            RawDay::Tue => time::Weekday::Tuesday,
            RawDay::Wed => time::Weekday::Wednesday,
            RawDay::Thu => time::Weekday::Thursday,
            RawDay::Fri => time::Weekday::Friday,
            RawDay::Sat => time::Weekday::Saturday,
            RawDay::Sun => time::Weekday::Sunday,
        })
        .collect();
    Ok(ChangeWindow {
        days,
        from_minute,
        to_minute,
    })
}

/// `HH:MM` (24-hour clock) as a minute of the day; `24:00` only as an end.
fn minute_of_day(text: &str, end: bool) -> Result<u16, String> {
    let bad = || format!("`{text}` is not a time such as \"08:00\" (HH:MM, 24-hour clock)");
    let (h, m) = text.trim().split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u16 = h.parse().map_err(|_| bad())?;
    let m: u16 = m.parse().map_err(|_| bad())?;
    match (h, m) {
        (24, 0) if end => Ok(1440),
        (0..=23, 0..=59) => Ok(h * 60 + m),
        _ => Err(bad()),
    }
}

/// Parses `90s`, `15m`, `1h`, `1h30m` or plain seconds (`--interval`, `remindAfter`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let bad = || format!("'{s}' is not a duration such as 30s, 15m or 1h");
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = 0u64;
    let mut number = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: u64 = number.parse().map_err(|_| bad())?;
        number.clear();
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => return Err(bad()),
        };
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
    }
    if !number.is_empty() || total == 0 {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

fn from_environment(env: &Env, cwd: &Path) -> Result<Settings, ConfigError> {
    let missing: Vec<String> = [AZURE_TENANT_ID, AZURE_CLIENT_ID]
        .into_iter()
        .filter(|v| !env.contains(v))
        .map(String::from)
        .collect();
    let (Some(tenant_id), Some(client_id)) = (env.get(AZURE_TENANT_ID), env.get(AZURE_CLIENT_ID))
    else {
        return Err(ConfigError::MissingEnvironment {
            dir: cwd.to_path_buf(),
            missing,
        });
    };
    check_tenant_id(tenant_id).map_err(bad_env(AZURE_TENANT_ID))?;
    check_client_id(client_id).map_err(bad_env(AZURE_CLIENT_ID))?;
    let authority_host = match env.get(AZURE_AUTHORITY_HOST) {
        Some(u) => parse_authority_host(u).map_err(bad_env(AZURE_AUTHORITY_HOST))?,
        None => default_url(DEFAULT_AUTHORITY_HOST),
    };
    Ok(Settings {
        tenants: vec![TenantSettings {
            name: ENVIRONMENT_TENANT_NAME.to_string(),
            tenant_id: tenant_id.to_string(),
            client_id: client_id.to_string(),
            credential: environment_credential(env, cwd),
            policies: vec![cwd.join(DEFAULT_POLICY_DIR)],
            graph_url: default_url(DEFAULT_GRAPH_URL),
            authority_host,
            ca_file: None,
            control: TenantControl::default(),
            config_file: None,
        }],
        audit_log: cwd.join(DEFAULT_AUDIT_LOG),
        source: ConfigSource::Environment,
        notifications: NotificationSettings::default(),
    })
}

/// Environment mode's credential, as the Azure SDK's EnvironmentCredential and
/// WorkloadIdentityCredential read it: `AZURE_CLIENT_SECRET`, else
/// `AZURE_CLIENT_CERTIFICATE_PATH` (with `AZURE_CLIENT_CERTIFICATE_PASSWORD`), else
/// `AZURE_FEDERATED_TOKEN_FILE`, else `auto`.
fn environment_credential(env: &Env, cwd: &Path) -> CredentialSource {
    if env.contains(AZURE_CLIENT_SECRET) {
        CredentialSource::SecretEnv(AZURE_CLIENT_SECRET.to_string())
    } else if let Some(path) = env.get(AZURE_CLIENT_CERTIFICATE_PATH) {
        CredentialSource::Certificate(CertificateSource {
            file: cwd.join(path),
            password: env
                .contains(AZURE_CLIENT_CERTIFICATE_PASSWORD)
                .then(|| SecretRef::Env(AZURE_CLIENT_CERTIFICATE_PASSWORD.to_string())),
        })
    } else if let Some(path) = env.get(AZURE_FEDERATED_TOKEN_FILE) {
        CredentialSource::WorkloadIdentity {
            token_file: Some(cwd.join(path)),
        }
    } else {
        CredentialSource::Auto
    }
}

fn apply_overrides(settings: &mut Settings, env: &Env, cwd: &Path) -> Result<(), ConfigError> {
    let graph_url = env
        .get(ENV_GRAPH_URL)
        .map(parse_graph_url)
        .transpose()
        .map_err(bad_env(ENV_GRAPH_URL))?;
    let authority_host = env
        .get(ENV_AUTHORITY_HOST)
        .map(parse_authority_host)
        .transpose()
        .map_err(bad_env(ENV_AUTHORITY_HOST))?;
    let ca_file = env.get(ENV_CA_FILE).map(|p| cwd.join(p));
    for t in &mut settings.tenants {
        if let Some(u) = &graph_url {
            t.graph_url = u.clone();
        }
        if let Some(u) = &authority_host {
            t.authority_host = u.clone();
        }
        if let Some(p) = &ca_file {
            t.ca_file = Some(p.clone());
        }
    }
    if let Some(p) = env.get(ENV_AUDIT_LOG) {
        settings.audit_log = cwd.join(p);
    }
    Ok(())
}

/// Places a serde_yaml error at its line and column, and recognises an inline secret.
fn syntax_error(path: &Path, text: &str, e: &serde_yaml::Error) -> ConfigError {
    let (line, column) = e
        .location()
        .map_or((1, 1), |l| (l.line().max(1), l.column().max(1)));
    let full = e.to_string();
    if full.contains(INLINE_SECRET_MARKER) {
        return ConfigError::InlineSecret {
            path: path.to_path_buf(),
            line,
            column,
        };
    }
    // serde_yaml appends " at line L column C"; the location is already in front.
    let suffix = format!(" at line {line} column {column}");
    let message = full.strip_suffix(&suffix).unwrap_or(&full).to_string();
    // An unknown key is placed at the mapping that holds it; point at the key itself.
    let (line, column) = unknown_key_position(text, &message).unwrap_or((line, column));
    ConfigError::Syntax {
        path: path.to_path_buf(),
        line,
        column,
        message,
    }
}

/// For `tenants[1]: unknown field `x`, expected ...`, the position of key `x` there.
fn unknown_key_position(text: &str, message: &str) -> Option<(usize, usize)> {
    let rest = message.split("unknown field `").nth(1)?;
    let key = rest.split('`').next()?;
    let prefix = message.split(": unknown field `").next()?;
    let path_text = if message.starts_with("unknown field `") {
        ""
    } else {
        prefix
    };
    let segs = parse_error_path(path_text)?;
    let located = Located::parse(text)?;
    located.key_pos(&segs, key).map(|p| (p.line, p.column))
}

/// Parses serde_yaml's error path (`tenants[0].credential`) into segments.
fn parse_error_path(text: &str) -> Option<Vec<Seg<'_>>> {
    let mut segs = Vec::new();
    if text.is_empty() || text == "." {
        return Some(segs);
    }
    for part in text.split('.') {
        let (key, mut indexes) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            segs.push(Seg::Key(key));
        }
        while let Some(stripped) = indexes.strip_prefix('[') {
            let end = stripped.find(']')?;
            segs.push(Seg::Index(stripped[..end].parse().ok()?));
            indexes = &stripped[end + 1..];
        }
    }
    Some(segs)
}

/// Turns a check's message into an error naming the environment variable.
fn bad_env(variable: &'static str) -> impl Fn(String) -> ConfigError {
    move |message| ConfigError::InvalidEnv {
        variable: variable.to_string(),
        message,
    }
}

/// One of the constant default URLs above.
fn default_url(s: &'static str) -> Url {
    // A constant that parses (unit-tested below): this cannot fail at run time.
    #[allow(clippy::expect_used)]
    Url::parse(s).expect("constant URL parses")
}

fn check_name(name: &str) -> Result<(), String> {
    let ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a valid tenant name (letters, digits, `-`, `_`, `.`; starting with a letter or digit)"
        ))
    }
}

fn check_tenant_id(id: &str) -> Result<(), String> {
    if !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    {
        Ok(())
    } else {
        Err(format!(
            "`{id}` is neither a tenant GUID nor a domain such as contoso.onmicrosoft.com"
        ))
    }
}

fn is_guid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn check_client_id(id: &str) -> Result<(), String> {
    if is_guid(id) {
        Ok(())
    } else {
        Err(format!(
            "`{id}` is not an application (client) id; expected a GUID like 11111111-2222-3333-4444-555555555555"
        ))
    }
}

fn check_object_id(id: &str) -> Result<(), String> {
    if is_guid(id) {
        Ok(())
    } else {
        Err(format!("`{id}` is not an object id; expected a GUID"))
    }
}

fn check_resource_id(id: &str) -> Result<(), String> {
    let lower = id.to_ascii_lowercase();
    if lower.starts_with("/subscriptions/")
        && lower.contains("/providers/microsoft.managedidentity/userassignedidentities/")
    {
        Ok(())
    } else {
        Err(format!(
            "`{id}` is not a user-assigned identity's resource id \
             (/subscriptions/…/providers/Microsoft.ManagedIdentity/userAssignedIdentities/NAME)"
        ))
    }
}

fn check_env_name(name: &str) -> Result<(), String> {
    if !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
    {
        Ok(())
    } else {
        // The value may be a secret pasted in the wrong place: do not quote it.
        Err("is not an environment variable name (letters, digits and `_`)".to_string())
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Graph's base URL: https, or http on a loopback address (the emulator); no query.
fn parse_graph_url(s: &str) -> Result<Url, String> {
    let url = Url::parse(s).map_err(|e| format!("`{s}` is not a URL: {e}"))?;
    if url.host().is_none() {
        return Err(format!("`{s}` has no host"));
    }
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(format!(
                "`{s}` is plain http: tokens are sent only over https (http is allowed for localhost)"
            ));
        }
        other => return Err(format!("`{s}`: unsupported scheme `{other}`")),
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("`{s}` must not have a query or fragment"));
    }
    Ok(url)
}

/// The token authority: https (azure_identity refuses anything else), no path.
fn parse_authority_host(s: &str) -> Result<Url, String> {
    let url = Url::parse(s).map_err(|e| format!("`{s}` is not a URL: {e}"))?;
    if url.scheme() != "https" {
        return Err(format!(
            "`{s}` must use https (the Azure identity library refuses other schemes)"
        ));
    }
    if url.host().is_none() {
        return Err(format!("`{s}` has no host"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "`{s}` must be a bare origin such as {DEFAULT_AUTHORITY_HOST}: a path is ignored"
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_paths_parse_into_segments() {
        let segs = parse_error_path("tenants[1].credential").unwrap_or_default();
        assert!(matches!(
            segs.as_slice(),
            [Seg::Key("tenants"), Seg::Index(1), Seg::Key("credential")]
        ));
        assert!(parse_error_path("").is_some_and(|s| s.is_empty()));
    }

    #[test]
    fn default_urls_parse() {
        assert_eq!(
            default_url(DEFAULT_GRAPH_URL).as_str(),
            "https://graph.microsoft.com/"
        );
        assert!(parse_authority_host(DEFAULT_AUTHORITY_HOST).is_ok());
    }

    #[test]
    fn urls_are_checked() {
        assert!(parse_graph_url("http://127.0.0.1:8080").is_ok());
        assert!(parse_graph_url("http://localhost:8080").is_ok());
        assert!(parse_graph_url("http://graph.example.com").is_err());
        assert!(parse_graph_url("https://graph.microsoft.com").is_ok());
        assert!(parse_authority_host("http://localhost:1").is_err());
        assert!(parse_authority_host("https://login.microsoftonline.com/tenant").is_err());
        assert!(parse_authority_host("https://localhost:4443").is_ok());
        assert!(is_guid("11111111-1111-1111-1111-111111111111"));
        assert!(!is_guid("11111111-1111-1111-1111-11111111111"));
    }
}
