//! `mfactl export` of the authentication methods policy: what of the live policy a
//! declaration may hold, so that the file `crate::export` writes is accepted by the loader
//! and plans in sync against the same tenant. Pure.
//!
//!
//! 1. [`declarable`] keeps, of the live authentication methods policy, what a declaration may
//!    write: Graph's own property names, checked against the same CSDL the loader uses
//!    (anything the loader would refuse is left out: read-only properties, OData annotations,
//!    `numberMatchingRequiredState` (MFA018), fido2's deprecated properties (MFA023), nulls
//!    where the property is not nullable, enum values the loader does not take, properties
//!    outside the schema). Method configurations are keyed by their documented path segment
//!    ([`CONFIGURATION_KINDS`]) or, for an external method, their GUID.
//! 2. With `--only-changed`, [`only_changed`] removes every property (and every method) that
//!    equals a fresh tenant's ([`default_policy`]), compared with the plan's own
//!    normalisation ([`crate::kinds::diff::satisfied`], both ways); nested objects keep only
//!    the members that differ.
//! 3. Targets are written `group: <display name>` when the name is unique in the tenant,
//!    else `group: <object id>`; `group: all_users`; `user: <UPN>`; other target types as
//!    Graph's `{id, targetType}`. Their other members (isRegistrationRequired,
//!    authenticationMode, ...) stay as Graph holds them.
//! 4. `crate::export::render` writes the YAML documents, each file with a header comment.

use serde_json::{Map, Value};

use crate::kinds::declarable::clean_object;
use crate::kinds::diff;
use crate::msgraph::methods::{CONFIGURATION_KINDS, default_policy};
use crate::msgraph::schema::is_guid;

use super::EXTERNAL_METHOD_TYPE;

/// The file the authentication methods policy is written to.
pub const METHODS_FILE: &str = "authentication-methods.yaml";

/// Top-level properties of the policy that Graph sets and a declaration may not (the
/// loader refuses them with MFA012), and the configurations list (written as `methods:`).
const POLICY_SKIPPED: &[&str] = &[
    "id",
    "lastModifiedDateTime",
    "policyVersion",
    "description",
    "displayName",
    "authenticationMethodConfigurations",
];

/// Deprecated method properties the validator warns about (MFA023, `super::rules`).
const DEPRECATED: &[(&str, &str)] = &[
    ("fido2", "isAttestationEnforced"),
    ("fido2", "keyRestrictions"),
];

pub use crate::kinds::declarable::{SINGLE_TARGETS, TARGET_LISTS};

/// What a declaration of the authentication methods policy may hold, in Graph JSON (targets
/// still `{id, targetType, ...}` with object ids).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Declarable {
    /// Top-level properties.
    pub properties: Map<String, Value>,
    /// Method configurations: `methods:` key and properties, in the tenant's order.
    pub methods: Vec<(String, Map<String, Value>)>,
    /// Configurations that could not be keyed (an OData type the loader does not know).
    pub skipped_methods: Vec<String>,
}

impl Declarable {
    /// Whether nothing is declared.
    pub fn is_empty(&self) -> bool {
        self.properties.is_empty() && self.methods.is_empty()
    }

    /// Every group id and every user id the targets name (lower case, each once), leaving out
    /// `all_users` and ids that are no GUID (the "nobody" placeholder is no group to look up).
    pub fn target_ids(&self) -> (Vec<String>, Vec<String>) {
        let mut groups = Vec::new();
        let mut users = Vec::new();
        let mut walk_all = |m: &Map<String, Value>| {
            collect_targets(&Value::Object(m.clone()), false, &mut |t| {
                let (Some(id), Some(ty)) = (t["id"].as_str(), t["targetType"].as_str()) else {
                    return;
                };
                if !is_guid(id) || id == NOBODY {
                    return;
                }
                let list = match ty {
                    "group" => &mut groups,
                    "user" => &mut users,
                    _ => return,
                };
                let id = id.to_ascii_lowercase();
                if !list.contains(&id) {
                    list.push(id);
                }
            });
        };
        walk_all(&self.properties);
        for (_, m) in &self.methods {
            walk_all(m);
        }
        (groups, users)
    }
}

/// The "nobody" placeholder id of featureSettings targets.
const NOBODY: &str = "00000000-0000-0000-0000-000000000000";

fn collect_targets(value: &Value, is_target: bool, found: &mut impl FnMut(&Value)) {
    match value {
        Value::Object(map) => {
            if is_target {
                found(value);
            }
            for (k, v) in map {
                if TARGET_LISTS.contains(&k.as_str()) {
                    for item in v.as_array().into_iter().flatten() {
                        collect_targets(item, true, found);
                    }
                } else {
                    collect_targets(v, SINGLE_TARGETS.contains(&k.as_str()), found);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_targets(i, false, found)),
        _ => {}
    }
}

/// Why a live policy cannot be exported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the live authentication methods policy has an unexpected shape: {0}")]
pub struct ShapeError(pub String);

/// The `methods:` key of a live configuration: its documented path segment, or an external
/// method's GUID in lower case. `None` for an OData type the loader does not know.
pub fn method_key(config: &Value) -> Option<String> {
    let ty = config["@odata.type"].as_str()?;
    if ty == EXTERNAL_METHOD_TYPE {
        return config["id"]
            .as_str()
            .filter(|id| is_guid(id))
            .map(str::to_ascii_lowercase);
    }
    let short = ty.trim_start_matches("#microsoft.graph.");
    CONFIGURATION_KINDS
        .iter()
        .find(|k| k.odata_type == short)
        .map(|k| k.segment.to_string())
}

/// What of a live (or default) authentication methods policy a declaration may write.
pub fn declarable(policy: &Value) -> Result<Declarable, ShapeError> {
    let Value::Object(map) = policy else {
        return Err(ShapeError("not a JSON object".into()));
    };
    let configs = map
        .get("authenticationMethodConfigurations")
        .and_then(Value::as_array)
        .ok_or_else(|| ShapeError("no authenticationMethodConfigurations list".into()))?;
    let properties = clean_object("authenticationMethodsPolicy", map, POLICY_SKIPPED);
    let mut methods = Vec::new();
    let mut skipped_methods = Vec::new();
    for config in configs {
        let Some(key) = method_key(config) else {
            skipped_methods.push(
                config["id"]
                    .as_str()
                    .or(config["@odata.type"].as_str())
                    .unwrap_or("?")
                    .to_string(),
            );
            continue;
        };
        let Value::Object(cm) = config else {
            return Err(ShapeError("a configuration is not a JSON object".into()));
        };
        let ty = cm["@odata.type"]
            .as_str()
            .unwrap_or_default()
            .trim_start_matches("#microsoft.graph.");
        let mut skip: Vec<&str> = vec!["id"];
        skip.extend(
            DEPRECATED
                .iter()
                .filter(|(m, _)| *m == key)
                .map(|(_, p)| *p),
        );
        let props = clean_object(ty, cm, &skip);
        methods.push((key, props));
    }
    Ok(Declarable {
        properties,
        methods,
        skipped_methods,
    })
}

/// Equal as the plan compares: each satisfies the other.
fn same(a: &Value, b: &Value, key: &str) -> bool {
    diff::satisfied(a, Some(b), Some(key)) && diff::satisfied(b, Some(a), Some(key))
}

/// The members of `live` that differ from `default`: a nested object (never a target)
/// keeps only its differing members, anything else is kept whole.
fn changed_members(live: &Map<String, Value>, default: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in live {
        let Some(d) = default.get(key) else {
            out.insert(key.clone(), value.clone());
            continue;
        };
        if same(value, d, key) {
            continue;
        }
        let is_target =
            TARGET_LISTS.contains(&key.as_str()) || SINGLE_TARGETS.contains(&key.as_str());
        match (value, d) {
            (Value::Object(l), Value::Object(dm)) if !is_target => {
                let inner = changed_members(l, dm);
                if !inner.is_empty() {
                    out.insert(key.clone(), Value::Object(inner));
                }
            }
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    out
}

/// What differs from a fresh tenant's policy: properties, methods and nested members equal
/// to [`default_policy`]'s are left out. A method the defaults do not have (an external
/// method) is kept whole.
pub fn only_changed(live: &Declarable) -> Declarable {
    // The embedded defaults always have the expected shape (covered by tests).
    let default = declarable(&default_policy()).unwrap_or_default();
    let properties = changed_members(&live.properties, &default.properties);
    let methods = live
        .methods
        .iter()
        .filter_map(|(key, props)| {
            let changed = match default.methods.iter().find(|(k, _)| k == key) {
                Some((_, d)) => changed_members(props, d),
                None => props.clone(),
            };
            (!changed.is_empty()).then(|| (key.clone(), changed))
        })
        .collect();
    Declarable {
        properties,
        methods,
        skipped_methods: live.skipped_methods.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_default_policy_is_declarable_without_what_the_validator_refuses() {
        let d = declarable(&default_policy()).unwrap();
        assert!(d.skipped_methods.is_empty());
        for k in [
            "id",
            "policyVersion",
            "lastModifiedDateTime",
            "displayName",
            "description",
        ] {
            assert!(!d.properties.contains_key(k), "{k}");
        }
        assert!(d.properties.contains_key("systemCredentialPreferences"));
        let keys: Vec<_> = d.methods.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys.len(), CONFIGURATION_KINDS.len());
        let fido = &d.methods.iter().find(|(k, _)| k == "fido2").unwrap().1;
        assert!(!fido.contains_key("isAttestationEnforced"));
        assert!(!fido.contains_key("keyRestrictions"));
        assert!(!fido.contains_key("id"));
        let ma = &d
            .methods
            .iter()
            .find(|(k, _)| k == "microsoftAuthenticator")
            .unwrap()
            .1;
        assert!(
            ma["featureSettings"]
                .get("numberMatchingRequiredState")
                .is_none()
        );
        assert!(only_changed(&d).is_empty());
    }

    #[test]
    fn only_changed_keeps_differing_nested_members_and_external_methods() {
        let mut live = default_policy();
        live["authenticationMethodConfigurations"][1]["featureSettings"]["displayAppInformationRequiredState"]
            ["state"] = json!("enabled");
        live["authenticationMethodConfigurations"][2]["state"] = json!("enabled");
        live["authenticationMethodConfigurations"]
            .as_array_mut()
            .unwrap()
            .push(json!({
                "@odata.type": EXTERNAL_METHOD_TYPE,
                "id": "FDA55161-0D73-48EC-B29F-D29689E3D1B6",
                "state": "enabled",
                "includeTargets": [{"id": "all_users", "targetType": "group"}]
            }));
        let d = only_changed(&declarable(&live).unwrap());
        assert!(d.properties.is_empty());
        let keys: Vec<_> = d.methods.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "microsoftAuthenticator",
                "sms",
                "fda55161-0d73-48ec-b29f-d29689e3d1b6"
            ]
        );
        assert_eq!(
            Value::Object(d.methods[0].1.clone()),
            json!({"featureSettings": {"displayAppInformationRequiredState": {"state": "enabled"}}})
        );
        assert_eq!(
            Value::Object(d.methods[1].1.clone()),
            json!({"state": "enabled"})
        );
    }

    #[test]
    fn target_ids_skip_all_users_and_nobody() {
        let d = Declarable {
            properties: json!({"systemCredentialPreferences": {"excludeTargets": [{"id": "DAD4AE4A-730C-4E52-826C-0D9094971F04", "targetType": "group"}], "includeTargets": [{"id": "all_users", "targetType": "group"}]}}).as_object().cloned().unwrap(),
            methods: vec![("microsoftAuthenticator".into(), json!({"featureSettings": {"x": {"excludeTarget": {"id": NOBODY, "targetType": "group"}}}, "includeTargets": [{"id": "6b0e2c43-9b1f-4f0e-8a51-0f1d7f4b1c2a", "targetType": "user"}]}).as_object().cloned().unwrap())],
            skipped_methods: Vec::new(),
        };
        let (groups, users) = d.target_ids();
        assert_eq!(groups, ["dad4ae4a-730c-4e52-826c-0d9094971f04"]);
        assert_eq!(users, ["6b0e2c43-9b1f-4f0e-8a51-0f1d7f4b1c2a"]);
    }
}
