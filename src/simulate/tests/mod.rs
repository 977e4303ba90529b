//! Table-driven tests of the simulation: which method each user is prompted with first
//! (`explain.rs`), before/after comparisons and summaries (`impact.rs`).
//!
//! Policies are built as the JSON Graph returns for GET /policies/authenticationMethodsPolicy
//! (configurations inline, targets as arrays), the directory with `Directory::upsert`,
//! `set_group` and `state_mut`. This file holds those builders and fixtures; the tests are
//! in one file per topic.

mod access;
mod impact;
mod order;
mod requirements;
mod steps;
mod system_preferred;
mod usable;

use serde_json::{Value, json};

use super::directory::{Directory, Registered, UserRecord, UserState};
use super::explain::{Outcome, Simulation, TenantPolicy};
use crate::msgraph::PreferredMethod;
use crate::msgraph::order::{RankedMethod, SYSTEM_PREFERRED_ORDER};

const CONFIG_SUFFIX: &str = "AuthenticationMethodConfiguration";

// Configuration kinds: the @odata.type without `#microsoft.graph.` and the suffix.
const TAP: &str = "temporaryAccessPass";
const FIDO2: &str = "fido2";
const X509: &str = "x509Certificate";
const AUTHENTICATOR: &str = "microsoftAuthenticator";
const EXTERNAL: &str = "external";
const SOFTWARE_OATH: &str = "softwareOath";
const HARDWARE_OATH: &str = "hardwareOath";
const SMS: &str = "sms";
const VOICE: &str = "voice";
const EMAIL: &str = "email";

/// Every method configuration the helpers build.
const KINDS: &[&str] = &[
    TAP,
    FIDO2,
    X509,
    AUTHENTICATOR,
    EXTERNAL,
    SOFTWARE_OATH,
    HARDWARE_OATH,
    SMS,
    VOICE,
    EMAIL,
];

const ADA: u128 = 0xdad4ae4a_730c_4e52_826c_0d9094971f04;
const BOB: u128 = 0x0b0b0b0b_0000_4000_8000_000000000002;
const GROUP_OUTER: &str = "6A1E4C52-0B0F-4C1B-9E0B-8F3C2D1A0001";
const GROUP_OTHER: &str = "6a1e4c52-0b0f-4c1b-9e0b-8f3c2d1a0002";

fn odata_type(kind: &str) -> String {
    format!("#microsoft.graph.{kind}{CONFIG_SUFFIX}")
}

/// The configuration kind of a short OData type as [`SYSTEM_PREFERRED_ORDER`] names it.
fn kind_of(short_type: &str) -> &str {
    short_type
        .strip_suffix(CONFIG_SUFFIX)
        .expect("a method configuration type")
}

fn all_users() -> Value {
    json!([{"targetType": "group", "id": "all_users", "isRegistrationRequired": false}])
}

fn group(id: &str) -> Value {
    json!([{"targetType": "group", "id": id, "isRegistrationRequired": false}])
}

fn user_target(id: &str) -> Value {
    json!([{"targetType": "user", "id": id, "isRegistrationRequired": false}])
}

fn nobody() -> Value {
    json!([])
}

fn config(kind: &str, state: &str, include: Value, exclude: Value) -> Value {
    json!({
        "@odata.type": odata_type(kind),
        "id": kind,
        "state": state,
        "excludeTargets": exclude,
        "includeTargets": include,
    })
}

fn scp_json(state: &str, include: Value, exclude: Value) -> Value {
    json!({"state": state, "excludeTargets": exclude, "includeTargets": include})
}

/// A policy under construction, as Graph's GET of the authentication methods policy.
#[derive(Clone)]
struct Policy {
    configs: Vec<Value>,
    scp: Option<Value>,
}

impl Policy {
    /// Every configuration enabled for all users (office phone allowed), system-preferred MFA
    /// `enabled` for all users.
    fn all_enabled() -> Self {
        let configs = KINDS
            .iter()
            .map(|k| config(k, "enabled", all_users(), nobody()))
            .collect();
        Self {
            configs,
            scp: Some(scp_json("enabled", all_users(), nobody())),
        }
        .set(VOICE, "isOfficePhoneAllowed", json!(true))
        .set(AUTHENTICATOR, "isSoftwareOathEnabled", json!(false))
        .set(
            AUTHENTICATOR,
            "includeTargets",
            json!([{"targetType": "group", "id": "all_users", "isRegistrationRequired": false, "authenticationMode": "any"}]),
        )
        .set(EXTERNAL, "id", json!("c5e1c4b0-7d5f-4a43-9e0a-1f2a3b4c5d6e"))
        .set(EXTERNAL, "appId", json!("a0b1c2d3-0000-4000-8000-000000000001"))
        .set(EXTERNAL, "displayName", json!("Contoso MFA"))
        .set(
            SMS,
            "includeTargets",
            json!([{"targetType": "group", "id": "all_users", "isRegistrationRequired": false, "isUsableForSignIn": false}]),
        )
    }

    /// No method configuration at all, system-preferred MFA `enabled` for all users.
    fn no_configurations() -> Self {
        Self {
            configs: Vec::new(),
            scp: Some(scp_json("enabled", all_users(), nobody())),
        }
    }

    fn config_mut(&mut self, kind: &str) -> &mut Value {
        let t = odata_type(kind);
        self.configs
            .iter_mut()
            .find(|c| c["@odata.type"] == t.as_str())
            .unwrap_or_else(|| panic!("no {kind} configuration"))
    }

    fn set(mut self, kind: &str, key: &str, value: Value) -> Self {
        self.config_mut(kind)[key] = value;
        self
    }

    fn state(self, kind: &str, state: &str) -> Self {
        self.set(kind, "state", json!(state))
    }

    fn include(self, kind: &str, targets: Value) -> Self {
        self.set(kind, "includeTargets", targets)
    }

    fn exclude(self, kind: &str, targets: Value) -> Self {
        self.set(kind, "excludeTargets", targets)
    }

    fn scp(mut self, state: &str, include: Value, exclude: Value) -> Self {
        self.scp = Some(scp_json(state, include, exclude));
        self
    }

    fn without_scp(mut self) -> Self {
        self.scp = None;
        self
    }

    fn json(&self) -> Value {
        let mut p = json!({
            "id": "authenticationMethodsPolicy",
            "displayName": "Authentication Methods Policy",
            "policyVersion": "1.5",
            "authenticationMethodConfigurations": self.configs,
        });
        if let Some(scp) = &self.scp {
            p["systemCredentialPreferences"] = scp.clone();
        }
        p
    }

    fn build(&self) -> TenantPolicy {
        TenantPolicy::new(&self.json())
    }
}

fn add_user(dir: &mut Directory, id: u128, upn: &str, registered: &[&str]) -> u32 {
    dir.upsert(UserRecord {
        id,
        upn: upn.into(),
        registered: Registered::from_values(registered.iter().copied()),
        in_report: true,
        account: Default::default(),
    })
}

fn set_state(dir: &mut Directory, index: u32, state: UserState) {
    *dir.state_mut(index).expect("user index") = state;
}

fn user_state(preferred: Option<PreferredMethod>, own: Option<bool>) -> UserState {
    UserState {
        preferred,
        system_preferred: own,
        per_user_mfa: None,
        ..UserState::default()
    }
}

fn outcome_of(policy: &TenantPolicy, dir: &Directory, index: u32) -> Outcome {
    Simulation {
        policy,
        directory: dir,
    }
    .outcome(index, &dir.state()[index as usize])
}

/// The outcome for a lone user (ADA) with these registered methods and this state.
fn prompt(policy: &Policy, registered: &[&str], state: UserState) -> Outcome {
    let mut dir = Directory::new();
    let i = add_user(&mut dir, ADA, "ada@contoso.com", registered);
    set_state(&mut dir, i, state);
    outcome_of(&policy.build(), &dir, i)
}

fn row_index(report_value: &str) -> usize {
    SYSTEM_PREFERRED_ORDER
        .iter()
        .position(|r| r.report_value == report_value)
        .unwrap_or_else(|| panic!("no row {report_value}"))
}

fn is_usable(o: &Outcome, row: usize) -> bool {
    o.usable & (1 << row) != 0
}

/// The `methodsRegistered` values of rows `from..`.
fn registered_from(from: usize) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for r in &SYSTEM_PREFERRED_ORDER[from..] {
        for v in r.registered {
            if !out.contains(v) {
                out.push(v);
            }
        }
    }
    out
}

fn registers_any(row: &RankedMethod, values: &[&str]) -> bool {
    row.registered.iter().any(|v| values.contains(v))
}
