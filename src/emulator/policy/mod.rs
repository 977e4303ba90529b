//! `policies/authenticationMethodsPolicy`, its method configurations, and
//! `policies/identitySecurityDefaultsEnforcementPolicy`.
//!
//! The policy is kept in Graph's own JSON shape. Writes are checked against the schema and
//! the service's documented rules (FACTS.md §2–§5), then applied with Graph's semantics:
//! top-level properties replace, collections replace whole, and a nested object replaces
//! whole too, its omitted members falling back to the defaults — which is why a client must
//! send a nested object merged from the live one.
//!
//! This file holds what the reads and writes share: stored-policy checks, configuration
//! lookup, target checks, the nested-object merge and the error shapes.

mod configuration;
mod read;
mod security_defaults;
mod update;

use serde_json::{Map, Value};

use super::GraphError;
use super::state::Tenant;
use crate::msgraph::conditional_access::ADMIN_ROLE_TEMPLATES;
use crate::msgraph::methods::CONFIGURATION_KINDS;
use crate::msgraph::schema::{is_annotation, is_guid};

pub use configuration::{delete_configuration, patch_configuration};
pub use read::{get_configuration, get_policy, list_configurations};
pub use security_defaults::{get_security_defaults, patch_security_defaults};
pub use update::patch_policy;

const CONTEXT_BASE: &str = "https://graph.microsoft.com";
/// Placeholder id meaning "nobody" in featureSettings targets.
const NOBODY: &str = "00000000-0000-0000-0000-000000000000";

fn short_type(config: &Value) -> &str {
    config["@odata.type"]
        .as_str()
        .unwrap_or_default()
        .trim_start_matches("#microsoft.graph.")
}

/// Checks a stored policy (from a state file) and strips response annotations from it.
pub fn normalise_stored_policy(policy: &mut Value) -> Result<(), String> {
    let Value::Object(map) = policy else {
        return Err("must be a JSON object".into());
    };
    map.retain(|k, _| !is_annotation(k));
    let configs = map
        .entry("authenticationMethodConfigurations")
        .or_insert_with(|| Value::Array(Vec::new()));
    let Value::Array(list) = configs else {
        return Err("authenticationMethodConfigurations must be an array".into());
    };
    for c in list {
        let Value::Object(cm) = c else {
            return Err("each configuration must be an object".into());
        };
        cm.retain(|k, _| k == "@odata.type" || !is_annotation(k));
        // A type the schema does not know yet is fine: Microsoft adds methods, and a state
        // file may model one to check that mfactl leaves it alone.
        if !cm
            .get("@odata.type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.starts_with("#microsoft.graph."))
        {
            return Err(format!(
                "configuration {} needs an @odata.type such as #microsoft.graph.smsAuthenticationMethodConfiguration",
                cm.get("id").unwrap_or(&Value::Null)
            ));
        }
        if cm.get("id").and_then(Value::as_str).is_none() {
            return Err("every configuration needs an id".into());
        }
    }
    Ok(())
}

fn configurations(policy: &Value) -> &[Value] {
    policy["authenticationMethodConfigurations"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn find_configuration(policy: &Value, key: &str) -> Option<usize> {
    let canonical = CONFIGURATION_KINDS
        .iter()
        .find(|k| k.segment.eq_ignore_ascii_case(key) || k.id.eq_ignore_ascii_case(key))
        .map(|k| k.id)
        .unwrap_or(key);
    configurations(policy).iter().position(|c| {
        c["id"]
            .as_str()
            .is_some_and(|id| id.eq_ignore_ascii_case(canonical))
    })
}

fn read_only(prop: &str) -> GraphError {
    GraphError::bad_request(format!(
        "The property '{prop}' is read-only and cannot be set."
    ))
}

/// A body's `@odata.type` must name the resource's own type.
fn check_odata_type(given: &Value, own: &str) -> Result<(), GraphError> {
    match given.as_str() {
        Some(t) if t.trim_start_matches('#') == format!("microsoft.graph.{own}") => Ok(()),
        _ => Err(GraphError::bad_request(format!(
            "The '@odata.type' {given} does not match the type '#microsoft.graph.{own}' of the resource."
        ))),
    }
}

fn invalid_value(prop: &str, why: &str) -> GraphError {
    GraphError::bad_request(format!(
        "Invalid value specified for property '{prop}': {why}"
    ))
}

/// A nested object replaces the stored one whole; members it omits take their defaults.
fn fill_from(value: &Value, default: &Value) -> Value {
    match (value, default) {
        (Value::Object(v), Value::Object(d)) => {
            let mut out = Map::new();
            for (k, dv) in d {
                match v.get(k) {
                    Some(given) => out.insert(k.clone(), fill_from(given, dv)),
                    None => out.insert(k.clone(), dv.clone()),
                };
            }
            for (k, given) in v {
                if !out.contains_key(k) {
                    out.insert(k.clone(), given.clone());
                }
            }
            Value::Object(out)
        }
        _ => value.clone(),
    }
}

/// Include and exclude targets must name `all_users`, an existing group or an existing user.
fn check_targets(tenant: &Tenant, targets: &Value, what: &str) -> Result<(), GraphError> {
    targets
        .as_array()
        .into_iter()
        .flatten()
        .try_for_each(|t| check_target(tenant, t, what))
}

/// The targets inside featureSettings (each feature's `includeTarget` and `excludeTarget`)
/// must exist too: a group, a directory role (its template id) or `all_users`, or the
/// placeholder that names nobody. The emulator's directory holds no administrative units, so
/// a target of that type never exists.
fn check_feature_targets(tenant: &Tenant, settings: &Value) -> Result<(), GraphError> {
    for (feature, setting) in settings.as_object().into_iter().flatten() {
        for side in ["includeTarget", "excludeTarget"] {
            if setting[side].is_object() {
                check_target(
                    tenant,
                    &setting[side],
                    &format!("featureSettings.{feature}.{side}"),
                )?;
            }
        }
    }
    Ok(())
}

/// Each x509 certificate authority scope's `includeTargets` must exist, as the
/// configuration's own must.
fn check_scope_targets(tenant: &Tenant, scopes: &Value) -> Result<(), GraphError> {
    for (i, scope) in scopes.as_array().into_iter().flatten().enumerate() {
        check_targets(
            tenant,
            &scope["includeTargets"],
            &format!("certificateAuthorityScopes[{i}].includeTargets"),
        )?;
    }
    Ok(())
}

fn check_target(tenant: &Tenant, t: &Value, what: &str) -> Result<(), GraphError> {
    let id = t["id"].as_str().unwrap_or_default();
    let kind = t["targetType"].as_str().unwrap_or("group");
    if id.is_empty() {
        return Err(invalid_value(what, "every target needs an id."));
    }
    if id == "all_users" || id == NOBODY {
        return Ok(());
    }
    let exists = match kind {
        "user" => tenant.users.iter().any(|u| u.id.eq_ignore_ascii_case(id)),
        "group" => tenant.groups.iter().any(|g| g.id.eq_ignore_ascii_case(id)),
        "role" => ADMIN_ROLE_TEMPLATES
            .iter()
            .any(|(role, _, _)| role.eq_ignore_ascii_case(id)),
        _ => false,
    };
    if !is_guid(id) || !exists {
        return Err(GraphError::bad_request(format!(
            "Invalid target in {what}: the {kind} '{id}' does not exist in the directory."
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::ApiVersion;
    use crate::msgraph::methods::default_policy;
    use crate::msgraph::schema::Schema;
    use serde_json::json;

    #[test]
    fn default_policy_has_every_builtin_configuration_and_validates() {
        let p = default_policy();
        for kind in CONFIGURATION_KINDS {
            let i = find_configuration(&p, kind.segment).unwrap_or_else(|| panic!("{}", kind.id));
            let c = &configurations(&p)[i];
            assert_eq!(short_type(c), kind.odata_type);
            Schema::get()
                .check_object(ApiVersion::Beta, kind.odata_type, c)
                .unwrap_or_else(|e| panic!("{}: {}", kind.id, e.message));
        }
        let mut top = p.clone();
        top.as_object_mut()
            .unwrap()
            .remove("authenticationMethodConfigurations");
        Schema::get()
            .check_object(ApiVersion::Beta, "authenticationMethodsPolicy", &top)
            .unwrap();
    }

    #[test]
    fn fill_from_keeps_given_and_defaults_missing() {
        let d = json!({"a": 1, "b": {"x": 1, "y": 2}});
        assert_eq!(
            fill_from(&json!({"b": {"x": 5}}), &d),
            json!({"a": 1, "b": {"x": 5, "y": 2}})
        );
        assert_eq!(fill_from(&json!([1]), &d), json!([1]));
    }
}
