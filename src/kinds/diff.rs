//! Comparing declared values with live ones, and building the minimal PATCH value.
//!
//! The rules (DESIGN.md, "The minimal PATCH"): only what is declared is compared; ids
//! compare case-insensitively; collections compare as sets (order never matters to Graph
//! here); a nested object is equal when every declared member is; a `null` declared member
//! equals an absent live one.

use serde_json::{Map, Value};

/// Keys whose values are target lists or single targets, matched by `id`.
const TARGET_KEYS: &[&str] = &[
    "includeTargets",
    "excludeTargets",
    "includeTarget",
    "excludeTarget",
];

/// Members that must never be sent even inside a merged nested object: Microsoft refuses
/// any change to number matching, and sending the live value back is pointless.
const NEVER_SENT: &[&str] = &["numberMatchingRequiredState"];

fn same_string(a: &str, b: &str, key: Option<&str>) -> bool {
    if a == b {
        return true;
    }
    // Ids and GUIDs are case-insensitive in Graph (PascalCase `Fido2` vs `fido2`).
    let id_like = key == Some("id")
        || (crate::msgraph::schema::is_guid(a) && crate::msgraph::schema::is_guid(b));
    id_like && a.eq_ignore_ascii_case(b)
}

/// Whether the declared value is satisfied by the live one.
pub fn satisfied(declared: &Value, live: Option<&Value>, key: Option<&str>) -> bool {
    match (declared, live) {
        (Value::Null, None | Some(Value::Null)) => true,
        (_, None) => false,
        (Value::Object(d), Some(Value::Object(l))) => d
            .iter()
            .filter(|(k, _)| !k.starts_with('@'))
            .all(|(k, v)| satisfied(v, l.get(k), Some(k))),
        (Value::Array(d), Some(Value::Array(l))) => same_set(d, l, key),
        (Value::String(d), Some(Value::String(l))) => same_string(d, l, key),
        (Value::Number(d), Some(Value::Number(l))) => d.as_f64() == l.as_f64(),
        (d, Some(l)) => d == l,
    }
}

/// Two collections hold the same elements, in any order: every declared element is
/// satisfied by a distinct live element, and nothing is left over.
fn same_set(declared: &[Value], live: &[Value], key: Option<&str>) -> bool {
    if declared.len() != live.len() {
        return false;
    }
    let mut used = vec![false; live.len()];
    declared.iter().all(|d| {
        let found = live
            .iter()
            .enumerate()
            .find(|(i, l)| !used[*i] && satisfied(d, Some(l), key));
        match found {
            Some((i, _)) => {
                used[i] = true;
                true
            }
            None => false,
        }
    })
}

fn target_id(v: &Value) -> Option<&str> {
    v.get("id").and_then(Value::as_str)
}

/// The value to send for one declared top-level property: the declared value where it
/// speaks, the live value for everything it leaves out, so that the PATCH never resets a
/// sibling the YAML did not mention. Collections are sent whole (Graph replaces them); a
/// target that is also live keeps the live members the declaration omits.
pub fn merged(declared: &Value, live: Option<&Value>, key: &str) -> Value {
    match (declared, live) {
        (Value::Object(d), Some(Value::Object(l))) => {
            let mut out = Map::new();
            for (k, lv) in l {
                if k.starts_with('@') || NEVER_SENT.contains(&k.as_str()) {
                    continue;
                }
                let v = match d.get(k) {
                    Some(dv) => merged(dv, Some(lv), k),
                    None => lv.clone(),
                };
                out.insert(k.clone(), v);
            }
            for (k, dv) in d {
                if !out.contains_key(k) && !NEVER_SENT.contains(&k.as_str()) {
                    out.insert(k.clone(), dv.clone());
                }
            }
            Value::Object(out)
        }
        (Value::Array(d), Some(Value::Array(l))) if TARGET_KEYS.contains(&key) => Value::Array(
            d.iter()
                .map(|dt| {
                    let live_target = target_id(dt).and_then(|id| {
                        l.iter().find(|lt| {
                            target_id(lt).is_some_and(|lid| lid.eq_ignore_ascii_case(id))
                        })
                    });
                    match (dt, live_target) {
                        (Value::Object(_), Some(lt)) => merged(dt, Some(lt), "target"),
                        _ => dt.clone(),
                    }
                })
                .collect(),
        ),
        _ => declared.clone(),
    }
}

/// The value a property will have after the PATCH: what is sent, plus the members the
/// service keeps although they are never sent (number matching). For display and audit.
pub fn resulting(sent: &Value, live: Option<&Value>) -> Value {
    match (sent, live) {
        (Value::Object(s), Some(Value::Object(l))) => {
            let mut out = Map::new();
            for (k, lv) in l {
                if k.starts_with('@') {
                    continue;
                }
                match s.get(k) {
                    Some(sv) => {
                        out.insert(k.clone(), resulting(sv, Some(lv)));
                    }
                    None if NEVER_SENT.contains(&k.as_str()) => {
                        out.insert(k.clone(), lv.clone());
                    }
                    None => {}
                }
            }
            for (k, sv) in s {
                if !out.contains_key(k) {
                    out.insert(k.clone(), sv.clone());
                }
            }
            Value::Object(out)
        }
        _ => sent.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_compare_case_insensitively_and_sets_ignore_order() {
        let live = json!([{"id": "ALL_USERS", "targetType": "group"}, {"id": "DAD4AE4A-730C-4E52-826C-0D9094971F04", "targetType": "group"}]);
        let declared = json!([{"id": "dad4ae4a-730c-4e52-826c-0d9094971f04", "targetType": "group"}, {"id": "all_users", "targetType": "group"}]);
        assert!(satisfied(&declared, Some(&live), Some("includeTargets")));
        let fewer = json!([{"id": "all_users", "targetType": "group"}]);
        assert!(!satisfied(&fewer, Some(&live), Some("includeTargets")));
    }

    #[test]
    fn only_declared_members_of_nested_objects_count() {
        let live = json!({"state": "enabled", "includeTarget": {"id": "all_users", "targetType": "group"}});
        assert!(satisfied(&json!({"state": "enabled"}), Some(&live), None));
        assert!(!satisfied(&json!({"state": "disabled"}), Some(&live), None));
        assert!(satisfied(
            &json!({"callerIdNumber": null}),
            Some(&json!({})),
            None
        ));
        assert!(satisfied(&json!(60), Some(&json!(60.0)), None));
    }

    #[test]
    fn merged_nested_objects_keep_live_siblings_and_drop_number_matching() {
        let live = json!({
            "displayAppInformationRequiredState": {"state": "default", "includeTarget": {"id": "all_users", "targetType": "group"}},
            "displayLocationInformationRequiredState": {"state": "default"},
            "numberMatchingRequiredState": {"state": "enabled"}
        });
        let declared = json!({"displayAppInformationRequiredState": {"state": "enabled"}});
        let m = merged(&declared, Some(&live), "featureSettings");
        assert_eq!(
            m["displayAppInformationRequiredState"]["state"],
            json!("enabled")
        );
        assert_eq!(
            m["displayAppInformationRequiredState"]["includeTarget"]["id"],
            json!("all_users")
        );
        assert_eq!(
            m["displayLocationInformationRequiredState"],
            json!({"state": "default"})
        );
        assert!(m.get("numberMatchingRequiredState").is_none());
        let shown = resulting(&m, Some(&live));
        assert_eq!(
            shown["numberMatchingRequiredState"],
            json!({"state": "enabled"})
        );
        assert_eq!(
            shown["displayAppInformationRequiredState"]["state"],
            json!("enabled")
        );
    }

    #[test]
    fn merged_targets_keep_live_members_the_declaration_omits() {
        let live = json!([{"id": "all_users", "targetType": "group", "isRegistrationRequired": false, "authenticationMode": "push"}]);
        let declared =
            json!([{"id": "all_users", "targetType": "group"}, {"id": "x", "targetType": "group"}]);
        let m = merged(&declared, Some(&live), "includeTargets");
        assert_eq!(m[0]["authenticationMode"], json!("push"));
        assert_eq!(m[1], json!({"id": "x", "targetType": "group"}));
    }
}
