//! `--sandbox`: the emulator in-process, seeded with a demo tenant that has drifted from the
//! shipped `policies/`, so that `plan` and `apply` run with no credentials and no network.
//!
//! The tenant goes through the same code as a real one: azure_identity's client-secret
//! credential against the emulator's HTTPS token endpoint (trusting its generated test CA),
//! and Graph calls with Graph-like throttling. Each run starts from the same drifted tenant.

use std::path::PathBuf;

use serde_json::json;

use crate::config::{CredentialSource, Env, TenantSettings};
use crate::emulator::generate::{self, GenerateSpec, WRITER_SECRET};
use crate::emulator::state::{State, Tenant};
use crate::emulator::{Emulator, EmulatorConfig};
pub use crate::emulator::{EmulatorError, RunningEmulator};

/// The environment variable the sandbox tenant's secret is handed over in (only inside
/// this process's injected environment, never the real one).
const SECRET_VAR: &str = "MFACTL_SANDBOX_CLIENT_SECRET";

/// A running sandbox: the emulator and the settings that reach it.
pub struct Sandbox {
    /// The in-process emulator (dropped, it stops).
    pub emulator: RunningEmulator,
    /// Tenant settings pointing at it.
    pub tenant: TenantSettings,
    /// The environment the tenant's credential reads its secret from.
    pub env: Env,
}

/// The demo tenant: 200 generated users in the usual groups, with an authentication methods
/// policy and security defaults that differ from the shipped baseline in the ways real
/// tenants do (SMS usable for sign-in, system-preferred MFA off, security defaults on, …).
pub fn demo_state() -> State {
    let mut state = generate::generate(&GenerateSpec {
        users: 200,
        groups: 8,
        tenants: 1,
        seed: 2026,
    });
    let tenant = &mut state.tenants[0];
    tenant.display_name = "Sandbox".into();
    tenant.security_defaults.is_enabled = true;
    give_admins_security_keys(tenant);
    let policy = &mut tenant.authentication_methods_policy;
    if let Some(configs) = policy["authenticationMethodConfigurations"].as_array_mut() {
        for c in configs {
            match c["id"].as_str() {
                Some("Sms") => {
                    c["state"] = json!("enabled");
                    c["includeTargets"] = json!([{"id": "all_users", "targetType": "group", "isRegistrationRequired": false, "isUsableForSignIn": true}]);
                }
                Some("Voice") => c["state"] = json!("enabled"),
                Some("TemporaryAccessPass") => {
                    c["state"] = json!("enabled");
                    c["isUsableOnce"] = json!(false);
                    c["maximumLifetimeInMinutes"] = json!(1440);
                }
                _ => {}
            }
        }
    }
    state
}

/// Registers a security key for every administrator (every holder of a role assignment) who
/// has none, as the phishing-resistant policy of the shipped baseline asks of them: the
/// sandbox and the migration benchmark start from such a tenant.
pub fn give_admins_security_keys(tenant: &mut Tenant) {
    let admins: Vec<String> = tenant
        .role_assignments
        .iter()
        .map(|a| a.principal_id.clone())
        .collect();
    for user in tenant.users.iter_mut().filter(|u| admins.contains(&u.id)) {
        if !user
            .methods_registered
            .iter()
            .any(|m| m == "fido2SecurityKey")
        {
            let mut methods = user.methods_registered.to_vec();
            methods.push("fido2SecurityKey".into());
            user.methods_registered = methods.into();
        }
    }
}

/// Starts the sandbox emulator, with TLS, and returns settings that reach it.
pub async fn start(policies: Vec<PathBuf>) -> Result<Sandbox, EmulatorError> {
    let state = demo_state();
    let tenant_id = state.tenants[0].id.clone();
    let client_id = state.tenants[0]
        .apps
        .iter()
        .find(|a| a.secrets.iter().any(|s| s == WRITER_SECRET))
        .map(|a| a.client_id.clone())
        .unwrap_or_default();
    let mut config = EmulatorConfig::new(state);
    config.tls = true;
    let emulator = Emulator::start(config).await?;
    let endpoints = &emulator.endpoints;
    let parse = |u: &str| {
        url::Url::parse(u).map_err(|e| EmulatorError::Tls(format!("bad emulator URL {u}: {e}")))
    };
    let tenant = TenantSettings {
        name: "sandbox".into(),
        tenant_id,
        client_id,
        credential: CredentialSource::SecretEnv(SECRET_VAR.into()),
        policies,
        graph_url: parse(&endpoints.graph_url)?,
        authority_host: parse(&endpoints.login_url)?,
        ca_file: endpoints.ca_file.clone(),
        control: crate::config::TenantControl::default(),
        prune: false,
        hardware_oath_seed: None,
        config_file: None,
    };
    let env = Env::empty().with(SECRET_VAR, WRITER_SECRET);
    Ok(Sandbox {
        emulator,
        tenant,
        env,
    })
}
