//! Settings from a configuration file: reading it, resolving every tenant's values and
//! paths, and placing serde_yaml's errors at the key they are about.

use std::path::{Path, PathBuf};

use super::checks::{
    check_client_id, check_env_name, check_name, check_object_id, check_resource_id,
    check_tenant_id, default_url, parse_authority_host, parse_graph_url,
};
use super::control::change_window;
use super::file::{
    INLINE_SECRET_MARKER, RawChangeWindow, RawConfig, RawCredential, RawManagedIdentity, RawMode,
    RawSecretRef,
};
use super::located::{Located, Seg};
use super::notifications::notification_settings;
use super::{
    CertificateSource, ConfigError, ConfigSource, CredentialSource, DEFAULT_AUDIT_LOG,
    DEFAULT_AUTHORITY_HOST, DEFAULT_GRAPH_URL, DEFAULT_POLICY_DIR, ManagedIdentityId, Mode,
    NotificationSettings, SecretRef, Settings, TenantControl, TenantSettings,
};
use crate::source::BoundedYamlError;

pub(super) fn from_file(path: &Path) -> Result<Settings, ConfigError> {
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
        let hardware_oath_seed = match t.hardware_oath_seed.map(|s| s.0) {
            Some(RawSecretRef::Env(name)) => {
                check_env_name(&name).map_err(|m| {
                    let at = [
                        Seg::Key("tenants"),
                        Seg::Index(i),
                        Seg::Key("hardwareOathSeed"),
                        Seg::Key("env"),
                    ];
                    invalid(&at, "hardwareOathSeed.env", m)
                })?;
                Some(SecretRef::Env(name))
            }
            Some(RawSecretRef::File(p)) => Some(SecretRef::File(base.join(p))),
            None => None,
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
            prune: t.prune.unwrap_or(false),
            hardware_oath_seed,
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
}
