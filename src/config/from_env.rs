//! Settings from the environment: *environment mode* (one tenant from the Azure SDK's
//! variables, no configuration file), and the `MFACTL_*` overrides applied to every tenant
//! whichever the source.

use std::path::Path;

use super::checks::{
    check_client_id, check_tenant_id, default_url, parse_authority_host, parse_graph_url,
};
use super::{
    AZURE_AUTHORITY_HOST, AZURE_CLIENT_CERTIFICATE_PASSWORD, AZURE_CLIENT_CERTIFICATE_PATH,
    AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_FEDERATED_TOKEN_FILE, AZURE_TENANT_ID,
    CertificateSource, ConfigError, ConfigSource, CredentialSource, DEFAULT_AUDIT_LOG,
    DEFAULT_AUTHORITY_HOST, DEFAULT_GRAPH_URL, DEFAULT_POLICY_DIR, ENV_AUDIT_LOG,
    ENV_AUTHORITY_HOST, ENV_CA_FILE, ENV_GRAPH_URL, ENVIRONMENT_TENANT_NAME, Env,
    NotificationSettings, SecretRef, Settings, TenantControl, TenantSettings,
};

pub(super) fn from_environment(env: &Env, cwd: &Path) -> Result<Settings, ConfigError> {
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
            prune: false,
            hardware_oath_seed: None,
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

pub(super) fn apply_overrides(
    settings: &mut Settings,
    env: &Env,
    cwd: &Path,
) -> Result<(), ConfigError> {
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

/// Turns a check's message into an error naming the environment variable.
fn bad_env(variable: &'static str) -> impl Fn(String) -> ConfigError {
    move |message| ConfigError::InvalidEnv {
        variable: variable.to_string(),
        message,
    }
}
