//! What of a live Graph object a declaration may hold, checked against the same CSDL the
//! loader reads declarations with, so that what `mfactl export` writes reads back as it
//! is: read-only properties, OData annotations, `numberMatchingRequiredState` (MFA018),
//! nulls where the property is not nullable, enum values the loader does not take and
//! properties outside the schema are left out. Every kind's export cleans through here.

use serde_json::{Map, Value};

use crate::msgraph::ApiVersion;
use crate::msgraph::schema::{Schema, is_guid};
use crate::source::targets::ALL_USERS;

/// The CSDL version the loader checks declarations against.
const VERSION: ApiVersion = ApiVersion::Beta;

/// Members the validator refuses anywhere (MFA018: the service refuses to toggle it).
const NEVER_DECLARED: &[&str] = &["numberMatchingRequiredState"];

/// Keys holding target lists.
pub const TARGET_LISTS: &[&str] = &["includeTargets", "excludeTargets"];
/// Keys holding single targets.
pub const SINGLE_TARGETS: &[&str] = &["includeTarget", "excludeTarget"];

/// The members of `map` (of CSDL type `type_name`) that a declaration may write.
pub(crate) fn clean_object(
    type_name: &str,
    map: &Map<String, Value>,
    skip: &[&str],
) -> Map<String, Value> {
    let schema = Schema::get();
    let mut out = Map::new();
    for (key, value) in map {
        if key.contains('@')
            || skip.contains(&key.as_str())
            || NEVER_DECLARED.contains(&key.as_str())
        {
            continue;
        }
        let Some(prop) = schema.property(VERSION, type_name, key) else {
            continue;
        };
        let cleaned = if value.is_null() {
            prop.nullable.then_some(Value::Null)
        } else if TARGET_LISTS.contains(&key.as_str()) {
            every(value, |t| clean_target(&prop.type_name, t))
        } else if SINGLE_TARGETS.contains(&key.as_str()) {
            clean_target(&prop.type_name, value)
        } else if prop.collection {
            every(value, |i| clean_value(&prop.type_name, i))
        } else {
            clean_value(&prop.type_name, value)
        };
        if let Some(v) = cleaned {
            out.insert(key.clone(), v);
        }
    }
    out
}

/// A list with each item cleaned; `None` if it is no list or an item would not read back
/// (a shorter list would be wrong).
fn every(value: &Value, clean: impl Fn(&Value) -> Option<Value>) -> Option<Value> {
    value
        .as_array()?
        .iter()
        .map(clean)
        .collect::<Option<Vec<_>>>()
        .map(Value::Array)
}

/// One value of `type_name` as the loader would read it back; `None` if it would not.
fn clean_value(type_name: &str, value: &Value) -> Option<Value> {
    let schema = Schema::get();
    match (type_name, value) {
        (_, Value::Null) => None,
        ("Edm.Boolean", Value::Bool(_)) => Some(value.clone()),
        ("Edm.Int32" | "Edm.Int64", Value::Number(n)) => {
            let i = n.as_i64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                    .map(|f| f as i64)
            })?;
            if type_name == "Edm.Int32" && i32::try_from(i).is_err() {
                return None;
            }
            Some(Value::from(i))
        }
        ("Edm.Guid", Value::String(s)) => is_guid(s).then(|| Value::String(s.to_ascii_lowercase())),
        ("Edm.DateTimeOffset", Value::String(s)) => {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .is_ok()
                .then(|| value.clone())
        }
        ("Edm.String", Value::String(_)) => Some(value.clone()),
        (
            "Edm.Boolean" | "Edm.Int32" | "Edm.Int64" | "Edm.Guid" | "Edm.DateTimeOffset"
            | "Edm.String",
            _,
        ) => None,
        (t, _) if t.starts_with("Edm.") => Some(value.clone()),
        (t, v) => {
            let members = schema.enum_members(VERSION, t);
            if !members.is_empty() {
                let text = v.as_str()?;
                let ok = |m: &str| m != "unknownFutureValue" && members.iter().any(|x| x == m);
                let fits = if schema.is_flags(VERSION, t) {
                    text.split(',').map(str::trim).all(ok)
                } else {
                    ok(text)
                };
                return fits.then(|| value.clone());
            }
            if schema.has_type(t) {
                return v
                    .as_object()
                    .map(|m| Value::Object(clean_object(t, m, &[])));
            }
            // A type outside the digest's slice: the loader takes it as written.
            Some(value.clone())
        }
    }
}

/// A target: `id` and `targetType` as Graph holds them, then its other declarable members.
fn clean_target(type_name: &str, target: &Value) -> Option<Value> {
    let map = target.as_object()?;
    let id = map.get("id")?.as_str()?.trim();
    if id.is_empty() {
        return None;
    }
    let target_type = map
        .get("targetType")
        .and_then(Value::as_str)
        .unwrap_or("group");
    let id = if is_guid(id) {
        id.to_ascii_lowercase()
    } else if id.eq_ignore_ascii_case(ALL_USERS) {
        ALL_USERS.to_string()
    } else {
        id.to_string()
    };
    let mut out = Map::new();
    out.insert("id".into(), Value::String(id));
    out.insert("targetType".into(), Value::String(target_type.to_string()));
    out.extend(clean_object(type_name, map, &["id", "targetType"]));
    Some(Value::Object(out))
}

/// `value` without what Graph writes for "not set": every `null`, `[]` and `{}` member
/// (and a member left empty once its own are gone), as the plan takes them for absent.
pub(crate) fn without_empty(value: &Value) -> Option<Value> {
    match value {
        Value::Null => None,
        Value::Array(items) if items.is_empty() => None,
        Value::Object(m) => {
            let kept: Map<String, Value> = m
                .iter()
                .filter_map(|(k, v)| without_empty(v).map(|v| (k.clone(), v)))
                .collect();
            (!kept.is_empty()).then_some(Value::Object(kept))
        }
        other => Some(other.clone()),
    }
}

/// Declarations as `mfactl export` would write them, for the kinds' tests.
#[cfg(test)]
pub(crate) mod testing {
    use serde_json::{Map, Value};

    /// A document of `kind` named `name` declaring `spec`.
    pub(crate) fn document(kind: &str, name: &str, spec: &Map<String, Value>) -> String {
        let yaml = serde_yaml::to_string(spec).unwrap();
        let indented: String = yaml.lines().map(|l| format!("  {l}\n")).collect();
        format!(
            "apiVersion: mfactl/v1\nkind: {kind}\nmetadata: {{name: {}}}\nspec:\n{indented}",
            serde_json::to_string(name).unwrap()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn empty_members_go_at_every_depth_and_objects_left_empty_with_them() {
        let live = json!({"a": null, "b": [], "c": {"d": null, "e": []}, "f": {"g": false, "h": [1]}, "i": ""});
        assert_eq!(
            without_empty(&live),
            Some(json!({"f": {"g": false, "h": [1]}, "i": ""}))
        );
        assert_eq!(without_empty(&json!({"x": null})), None);
    }

    #[test]
    fn members_outside_the_schema_and_read_only_ones_are_left_out() {
        let live = json!({"id": "p", "state": "enabled", "times": null, "conditions": {
            "clientAppTypes": ["all", "unknownFutureValue"], "notInTheSchema": 1,
            "users": {"includeUsers": ["All"], "excludeGroups": []}}});
        let clean = clean_object(
            "conditionalAccessPolicy",
            live.as_object().unwrap(),
            &["id"],
        );
        assert_eq!(
            Value::Object(clean)["conditions"],
            json!({"users": {"includeUsers": ["All"], "excludeGroups": []}})
        );
    }
}
