//! Desired × live → a plan of minimal PATCHes. Pure: no I/O (the reads and writes are in
//! [`live`] and `crate::apply`).

pub mod diff;
pub mod live;
pub mod names;
pub mod per_user;
pub mod users;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Version of the JSON plan format (`-o json`, `--out`).
pub const FORMAT_VERSION: u32 = 1;

/// The authentication methods policy, read and written on beta: several of its members
/// (systemCredentialPreferences, reportSuspiciousActivitySettings) are beta-only in the
/// CSDL (FACTS.md §2, §13.2).
pub const POLICY_PATH: &str = "/beta/policies/authenticationMethodsPolicy";
/// Security defaults, on v1.0.
pub const SECURITY_DEFAULTS_PATH: &str = "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy";

/// What the policy files declare, with every target resolved to an object id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DesiredState {
    /// The authentication methods policy, if declared.
    pub policy: Option<DesiredPolicy>,
    /// Security defaults on or off, if declared.
    pub security_defaults: Option<bool>,
    /// Legacy per-user MFA, targets resolved to object ids.
    pub per_user_mfa: Option<crate::policy::DeclaredPerUserMfa>,
    /// Sign-in preferences, targets resolved to object ids.
    pub sign_in_preferences: Option<crate::policy::DeclaredSignInPreferences>,
    /// The users that per-user targets name directly: object id and UPN.
    pub named_users: Vec<(String, String)>,
}

/// Declared tenant-wide properties and method configurations.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DesiredPolicy {
    /// Top-level properties in Graph JSON (systemCredentialPreferences, …).
    pub properties: Map<String, Value>,
    /// Declared method configurations.
    pub methods: Vec<DesiredMethod>,
}

/// One declared method configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredMethod {
    /// The path segment (`fido2`) or, for an external method, its GUID.
    pub key: String,
    /// `#microsoft.graph.…AuthenticationMethodConfiguration`.
    pub odata_type: String,
    /// Declared properties in Graph JSON.
    pub properties: Map<String, Value>,
}

/// The tenant as read: only the resources the declaration touches are read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveState {
    /// GET of the authentication methods policy (configurations inline).
    pub methods_policy: Option<Value>,
    /// GET of the security defaults policy.
    pub security_defaults: Option<Value>,
}

/// A change to one property of one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PropertyChange {
    /// Top-level property name.
    pub name: String,
    /// Live value (`null` when absent).
    pub before: Value,
    /// The value after the PATCH (what is sent, with the members the service keeps).
    pub after: Value,
}

/// One PATCH.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceChange {
    /// Human name: `authenticationMethodsPolicy`, `authenticationMethodConfigurations/Fido2`, …
    pub resource: String,
    /// HTTP method (always `PATCH`).
    pub method: String,
    /// Graph path, version included.
    pub path: String,
    /// What changes, property by property.
    pub properties: Vec<PropertyChange>,
    /// The exact request body.
    pub body: Value,
}

/// The plan for one tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// Tenant name from the configuration.
    pub tenant: String,
    /// Digest of the live state the plan was computed from; `apply PLANFILE` refuses to run
    /// if the tenant no longer matches it.
    pub fingerprint: String,
    /// The Graph paths read to make the plan; `apply PLANFILE` reads the same ones.
    pub reads: Vec<String>,
    /// Whether nothing needs to change.
    pub in_sync: bool,
    /// The PATCHes, in the order they will be sent.
    pub changes: Vec<ResourceChange>,
    /// Per-user PATCHes (legacy per-user MFA, sign-in preferences), sent after `changes`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_changes: Vec<per_user::UserChange>,
    /// Declared per-user values that cannot be applied (a default method the user has not
    /// registered).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped_users: Vec<per_user::SkippedUser>,
    /// Users matched by two sign-in rules that set the same property.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overlaps: Vec<per_user::Overlap>,
    /// Who is prompted with what before and after, when the plan can change it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impact: Option<crate::simulate::impact::Impact>,
}

impl Plan {
    /// Whether the authentication methods policy was read.
    pub fn reads_policy(&self) -> bool {
        self.reads.iter().any(|r| r == POLICY_PATH)
    }

    /// Whether security defaults were read.
    pub fn reads_security_defaults(&self) -> bool {
        self.reads.iter().any(|r| r == SECURITY_DEFAULTS_PATH)
    }

    /// Number of property changes, per-user ones included.
    pub fn property_count(&self) -> usize {
        self.changes
            .iter()
            .map(|c| c.properties.len())
            .sum::<usize>()
            + self
                .user_changes
                .iter()
                .map(|c| c.properties.len())
                .sum::<usize>()
    }

    /// Users left with no usable method by this plan.
    pub fn lockouts(&self) -> usize {
        self.impact.as_ref().map_or(0, |i| i.newly_without.len())
    }
}

/// Why a plan cannot be made.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PlanError {
    /// A declared method configuration does not exist in the tenant (a built-in method the
    /// tenant does not offer yet, or an external method that was never created).
    #[error("the tenant has no {odata_type} configuration for methods.{key}")]
    MissingConfiguration {
        /// The YAML key.
        key: String,
        /// Its OData type.
        odata_type: String,
    },
    /// The live policy could not be understood (not an object, no configurations list).
    #[error("the live authentication methods policy has an unexpected shape: {0}")]
    UnexpectedLiveShape(String),
}

fn property_changes(
    declared: &Map<String, Value>,
    live: &Value,
) -> (Vec<PropertyChange>, Map<String, Value>) {
    let mut changes = Vec::new();
    let mut body = Map::new();
    for (name, want) in declared {
        let have = live.get(name);
        if diff::satisfied(want, have, Some(name)) {
            continue;
        }
        let sent = diff::merged(want, have, name);
        changes.push(PropertyChange {
            name: name.clone(),
            before: have.cloned().unwrap_or(Value::Null),
            after: diff::resulting(&sent, have),
        });
        body.insert(name.clone(), sent);
    }
    (changes, body)
}

fn live_configuration<'a>(configs: &'a [Value], method: &DesiredMethod) -> Option<&'a Value> {
    let external = method
        .odata_type
        .ends_with("externalAuthenticationMethodConfiguration");
    configs.iter().find(|c| {
        if external {
            c["id"]
                .as_str()
                .is_some_and(|id| id.eq_ignore_ascii_case(&method.key))
        } else {
            c["@odata.type"] == Value::String(method.odata_type.clone())
        }
    })
}

/// Compares the declaration with the live tenant.
pub fn plan(tenant: &str, desired: &DesiredState, live: &LiveState) -> Result<Plan, PlanError> {
    let mut changes = Vec::new();
    if let Some(policy) = &desired.policy {
        let live_policy = live
            .methods_policy
            .as_ref()
            .filter(|p| p.is_object())
            .ok_or_else(|| PlanError::UnexpectedLiveShape("not a JSON object".into()))?;
        let (properties, body) = property_changes(&policy.properties, live_policy);
        if !properties.is_empty() {
            changes.push(ResourceChange {
                resource: "authenticationMethodsPolicy".into(),
                method: "PATCH".into(),
                path: POLICY_PATH.into(),
                properties,
                body: Value::Object(body),
            });
        }
        let configs = live_policy["authenticationMethodConfigurations"]
            .as_array()
            .ok_or_else(|| {
                PlanError::UnexpectedLiveShape("no authenticationMethodConfigurations list".into())
            })?;
        for method in &policy.methods {
            let live_config = live_configuration(configs, method).ok_or_else(|| {
                PlanError::MissingConfiguration {
                    key: method.key.clone(),
                    odata_type: method.odata_type.clone(),
                }
            })?;
            let (properties, mut body) = property_changes(&method.properties, live_config);
            if properties.is_empty() {
                continue;
            }
            let id = live_config["id"].as_str().unwrap_or(&method.key);
            let mut with_type = Map::new();
            with_type.insert(
                "@odata.type".into(),
                Value::String(method.odata_type.clone()),
            );
            with_type.append(&mut body);
            changes.push(ResourceChange {
                resource: format!("authenticationMethodConfigurations/{id}"),
                method: "PATCH".into(),
                path: format!(
                    "{POLICY_PATH}/authenticationMethodConfigurations/{}",
                    method.key
                ),
                properties,
                body: Value::Object(with_type),
            });
        }
    }
    if let Some(enabled) = desired.security_defaults {
        let have = live
            .security_defaults
            .as_ref()
            .and_then(|sd| sd.get("isEnabled"));
        let want = Value::Bool(enabled);
        if have != Some(&want) {
            changes.push(ResourceChange {
                resource: "identitySecurityDefaultsEnforcementPolicy".into(),
                method: "PATCH".into(),
                path: SECURITY_DEFAULTS_PATH.into(),
                properties: vec![PropertyChange {
                    name: "isEnabled".into(),
                    before: have.cloned().unwrap_or(Value::Null),
                    after: want.clone(),
                }],
                body: serde_json::json!({ "isEnabled": enabled }),
            });
        }
    }
    Ok(Plan {
        format_version: FORMAT_VERSION,
        tenant: tenant.to_string(),
        fingerprint: fingerprint(live),
        reads: [
            live.methods_policy.as_ref().map(|_| POLICY_PATH),
            live.security_defaults
                .as_ref()
                .map(|_| SECURITY_DEFAULTS_PATH),
        ]
        .into_iter()
        .flatten()
        .map(String::from)
        .collect(),
        in_sync: changes.is_empty(),
        changes,
        user_changes: Vec::new(),
        skipped_users: Vec::new(),
        overlaps: Vec::new(),
        impact: None,
    })
}

/// The authentication methods policy as it will be once `changes` are applied: each changed
/// property takes its `after` value.
pub fn after_policy(live: &Value, changes: &[ResourceChange]) -> Value {
    let mut policy = live.clone();
    for change in changes.iter().filter(|c| c.path.starts_with(POLICY_PATH)) {
        let target = match change
            .resource
            .strip_prefix("authenticationMethodConfigurations/")
        {
            None => Some(&mut policy),
            Some(id) => policy["authenticationMethodConfigurations"]
                .as_array_mut()
                .and_then(|configs| {
                    configs.iter_mut().find(|c| {
                        c["id"]
                            .as_str()
                            .is_some_and(|cid| cid.eq_ignore_ascii_case(id))
                    })
                }),
        };
        if let Some(Value::Object(target)) = target {
            for p in &change.properties {
                target.insert(p.name.clone(), p.after.clone());
            }
        }
    }
    policy
}

/// A digest of the live state, ignoring response annotations: equal digests mean nothing
/// the plan depends on has changed (every write also moves `lastModifiedDateTime`).
pub fn fingerprint(live: &LiveState) -> String {
    fn strip(v: &Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .filter(|(k, _)| !k.starts_with('@') && !k.contains("@odata."))
                    .map(|(k, v)| (k.clone(), strip(v)))
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(strip).collect()),
            other => other.clone(),
        }
    }
    let canonical = serde_json::json!([
        live.methods_policy.as_ref().map(strip),
        live.security_defaults.as_ref().map(strip)
    ]);
    let digest = ring::digest::digest(&ring::digest::SHA256, canonical.to_string().as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn live() -> LiveState {
        let mut policy = crate::msgraph::methods::default_policy();
        policy["@odata.context"] =
            json!("https://graph.microsoft.com/beta/$metadata#authenticationMethodsPolicy");
        LiveState {
            methods_policy: Some(policy),
            security_defaults: Some(
                json!({"id": "00000000-0000-0000-0000-000000000005", "isEnabled": true}),
            ),
        }
    }

    fn method(key: &str, ty: &str, props: Value) -> DesiredMethod {
        DesiredMethod {
            key: key.into(),
            odata_type: format!("#microsoft.graph.{ty}"),
            properties: props.as_object().cloned().unwrap_or_default(),
        }
    }

    #[test]
    fn only_differing_declared_properties_are_patched() {
        let desired = DesiredState {
            policy: Some(DesiredPolicy {
                properties: json!({"policyMigrationState": "preMigration", "systemCredentialPreferences": {"state": "enabled"}})
                    .as_object()
                    .cloned()
                    .unwrap(),
                methods: vec![
                    method("sms", "smsAuthenticationMethodConfiguration", json!({"state": "disabled"})),
                    method("fido2", "fido2AuthenticationMethodConfiguration", json!({"isAttestationEnforced": true})),
                ],
            }),
            security_defaults: Some(false),
            ..DesiredState::default()
        };
        let plan = plan("t", &desired, &live()).unwrap();
        assert!(!plan.in_sync);
        assert_eq!(plan.changes.len(), 3);
        let policy = &plan.changes[0];
        assert_eq!(policy.path, POLICY_PATH);
        assert_eq!(
            policy.body,
            json!({"systemCredentialPreferences": {"state": "enabled", "excludeTargets": [], "includeTargets": [{"id": "all_users", "targetType": "group"}]}})
        );
        let fido = &plan.changes[1];
        assert_eq!(fido.resource, "authenticationMethodConfigurations/Fido2");
        assert_eq!(
            fido.path,
            format!("{POLICY_PATH}/authenticationMethodConfigurations/fido2")
        );
        assert_eq!(
            fido.body,
            json!({"@odata.type": "#microsoft.graph.fido2AuthenticationMethodConfiguration", "isAttestationEnforced": true})
        );
        assert_eq!(plan.changes[2].body, json!({"isEnabled": false}));
    }

    #[test]
    fn a_missing_configuration_is_an_error_and_an_empty_plan_is_in_sync() {
        let desired = DesiredState {
            policy: Some(DesiredPolicy {
                properties: Map::new(),
                methods: vec![method(
                    "5f3e6b36-8a2a-4b1e-9d1c-0a4f3c1b2d3e",
                    "externalAuthenticationMethodConfiguration",
                    json!({"state": "enabled"}),
                )],
            }),
            security_defaults: None,
            ..DesiredState::default()
        };
        assert!(matches!(
            plan("t", &desired, &live()),
            Err(PlanError::MissingConfiguration { .. })
        ));
        let empty = plan("t", &DesiredState::default(), &live()).unwrap();
        assert!(empty.in_sync);
    }

    #[test]
    fn fingerprint_ignores_annotations_but_not_values() {
        let a = live();
        let mut b = live();
        b.methods_policy.as_mut().unwrap()["@odata.context"] = json!("elsewhere");
        assert_eq!(fingerprint(&a), fingerprint(&b));
        b.security_defaults = Some(json!({"isEnabled": false}));
        assert_ne!(fingerprint(&a), fingerprint(&b));
    }
}
