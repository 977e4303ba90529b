//! [`ConfigError`]: why the settings could not be resolved.

use std::path::PathBuf;

use super::{DEFAULT_CONFIG_FILE, ENV_CONFIG};

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
