//! `kind: AuthenticationMethodsPolicy`: the tenant-wide settings of beta
//! `policies/authenticationMethodsPolicy` and, under `methods:`, its method configurations.
//! How its spec is read is in [`spec`], the service's rules in [`rules`], its lints in
//! [`lints`], and `mfactl export` of it in [`export`].

pub mod export;
pub(crate) mod lints;
pub mod rules;
pub mod spec;

use serde_json::{Map, Value};

use super::change::property_changes;
use super::{Declare, Kind, Phase, PlanError, ResourceChange, Singleton, Spec};
use crate::source::diagnostic::Finding;
use crate::tenant::names::{NameKind, Names, Resolution};

pub use spec::{DeclaredMethod, DeclaredMethodsPolicy, EXTERNAL_METHOD_TYPE};

/// The authentication methods policy, read and written on beta: several of its members
/// (systemCredentialPreferences, reportSuspiciousActivitySettings) are beta-only in the
/// CSDL (FACTS.md §2, §13.2).
pub const POLICY_PATH: &str = "/beta/policies/authenticationMethodsPolicy";

/// The prefix of a method configuration's resource name in a plan.
const CONFIGURATION: &str = "authenticationMethodConfigurations/";

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

/// The `AuthenticationMethodsPolicy` kind.
pub struct MethodsPolicy;

impl Kind for MethodsPolicy {
    const NAME: &'static str = "AuthenticationMethodsPolicy";
    const PHASE: Phase = Phase::Methods;
    type Declared = DeclaredMethodsPolicy;
    type Desired = DesiredPolicy;

    fn names(declared: &DeclaredMethodsPolicy, names: &mut Names) {
        for t in &declared.unresolved_targets() {
            let location = declared
                .locations
                .get(&t.pointer)
                .unwrap_or(&declared.location);
            // Target types other than user and group are refused when the policy loads.
            if let Some(kind) = NameKind::parse(&t.target_type) {
                names.add(kind, &t.name, location);
            }
        }
    }

    fn desired(declared: &DeclaredMethodsPolicy, resolved: &Resolution) -> DesiredPolicy {
        let mut policy = declared.clone();
        for t in &declared.unresolved_targets() {
            if let Some(r) = NameKind::parse(&t.target_type).and_then(|k| resolved.get(k, &t.name))
            {
                policy.set_target_id(&t.pointer, &r.id);
            }
        }
        DesiredPolicy {
            properties: policy.properties,
            methods: policy
                .methods
                .into_iter()
                .map(|m| DesiredMethod {
                    key: m.key,
                    odata_type: m.odata_type,
                    properties: m.properties,
                })
                .collect(),
        }
    }
}

impl Declare for MethodsPolicy {
    fn declare(spec: &Spec<'_>) -> (Option<DeclaredMethodsPolicy>, Vec<Finding>) {
        let (declared, found) = spec::read(spec);
        (Some(declared), found)
    }
}

impl Singleton for MethodsPolicy {
    const PATH: &'static str = POLICY_PATH;

    /// One PATCH of the policy's own properties, then one per method configuration, each
    /// with only what differs; a configuration PATCH always carries `@odata.type`.
    fn changes(
        desired: &DesiredPolicy,
        live: Option<&Value>,
    ) -> Result<Vec<ResourceChange>, PlanError> {
        let mut changes = Vec::new();
        let live_policy = live
            .filter(|p| p.is_object())
            .ok_or_else(|| PlanError::UnexpectedLiveShape("not a JSON object".into()))?;
        let (properties, body) = property_changes(&desired.properties, live_policy);
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
        for method in &desired.methods {
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
                resource: format!("{CONFIGURATION}{id}"),
                method: "PATCH".into(),
                path: format!(
                    "{POLICY_PATH}/authenticationMethodConfigurations/{}",
                    method.key
                ),
                properties,
                body: Value::Object(with_type),
            });
        }
        Ok(changes)
    }

    fn changed<'a>(change: &ResourceChange, live: &'a Value) -> Option<&'a Value> {
        match change.resource.strip_prefix(CONFIGURATION) {
            None => Some(live),
            Some(id) => live["authenticationMethodConfigurations"]
                .as_array()?
                .iter()
                .find(|c| {
                    c["id"]
                        .as_str()
                        .is_some_and(|cid| cid.eq_ignore_ascii_case(id))
                }),
        }
    }
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
