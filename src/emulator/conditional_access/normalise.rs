//! What the service writes back on read (FACTS.md item 24): every declared member of a
//! complex value, unset collections as `[]` and unset members as `null`, `clientAppTypes`
//! defaulting to `["all"]`, and members no CSDL declares (`times`,
//! `includeProtectionLevels`) that clients must tolerate.

use serde_json::{Map, Value, json};

use crate::emulator::ApiVersion;
use crate::msgraph::schema::Schema;

/// A value of a complex type with every member its type declares in `version`; members
/// that are set and complex are filled the same way, and members the type does not
/// declare in this version are kept as given.
pub fn fill(version: ApiVersion, type_name: &str, value: &Value) -> Value {
    let Value::Object(given) = value else {
        return value.clone();
    };
    let schema = Schema::get();
    let ty = given
        .get("@odata.type")
        .and_then(Value::as_str)
        .map(|t| t.trim_start_matches("#microsoft.graph."))
        .filter(|t| schema.has_type(t))
        .unwrap_or(type_name);
    let mut out = Map::new();
    if let Some(t) = given.get("@odata.type") {
        out.insert("@odata.type".into(), t.clone());
    }
    for p in schema.all_properties(version, ty) {
        let v = match given.get(&p.name) {
            Some(v) if !v.is_null() && !p.collection && schema.has_type(&p.type_name) => {
                fill(version, &p.type_name, v)
            }
            Some(v) if !v.is_null() => v.clone(),
            _ if p.collection => json!([]),
            _ => Value::Null,
        };
        out.insert(p.name.clone(), v);
    }
    for (k, v) in given {
        if !out.contains_key(k) {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

/// A policy's `conditions` as the service returns them.
pub fn conditions(version: ApiVersion, stored: &Value) -> Value {
    let mut c = fill(version, "conditionalAccessConditionSet", stored);
    if c["clientAppTypes"].as_array().is_none_or(Vec::is_empty) {
        c["clientAppTypes"] = json!(["all"]);
    }
    if let Value::Object(m) = &mut c {
        m.entry("times").or_insert(Value::Null);
    }
    if let Some(apps) = c["applications"].as_object_mut() {
        apps.entry("includeProtectionLevels").or_insert(json!([]));
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_members_become_empty_or_null_and_client_apps_default_to_all() {
        let c = conditions(
            ApiVersion::V1,
            &json!({"users": {"includeGroups": ["g"]}, "applications": {"includeApplications": ["All"]}}),
        );
        assert_eq!(c["clientAppTypes"], json!(["all"]));
        assert_eq!(c["signInRiskLevels"], json!([]));
        assert_eq!(c["platforms"], Value::Null);
        assert_eq!(c["times"], Value::Null);
        assert_eq!(c["users"]["excludeUsers"], json!([]));
        assert_eq!(c["users"]["includeGroups"], json!(["g"]));
        assert_eq!(c["users"]["includeGuestsOrExternalUsers"], Value::Null);
        assert_eq!(c["applications"]["includeProtectionLevels"], json!([]));
    }
}
