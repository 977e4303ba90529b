//! `mfactl export` of Conditional Access policies: what of a live policy a declaration may
//! hold ([`declarable`]), ids still as Graph holds them, and where each id that a name can
//! stand for is ([`references`]), so that `crate::export` writes the names in their place.
//! Pure.
//!
//! Left out: the read-only and server-set properties, what the loader would refuse, and
//! what Graph writes for "not set" (`null`, `[]`, `{}`, and `clientAppTypes: [all]`, its
//! default), which the plan takes for absent (FACTS-CA item 24). The strength is written as
//! its id, in place of the whole object Graph returns (item 21). A Microsoft-managed policy
//! keeps only its state and the exclusions under `conditions.users`, all a declaration of
//! it may hold (item 31).

use serde_json::{Map, Value, json};

use super::spec::{NAMED_LISTS, is_managed_name};
use crate::kinds::declarable::{clean_object, without_empty};
use crate::msgraph::conditional_access::{POLICY_READ_ONLY, SPECIAL_LOCATIONS};
use crate::msgraph::schema::is_guid;
use crate::tenant::names::NameKind;

/// The file the policies are written to.
pub const POLICIES_FILE: &str = "conditional-access-policies.yaml";

/// Where the strength's id is written: `authenticationStrength: <id>`.
const STRENGTH: &str = "/grantControls/authenticationStrength";

/// What of the live policy `live` a declaration may hold (empty when it is no object).
pub fn declarable(live: &Value) -> Map<String, Value> {
    let Some(m) = live.as_object() else {
        return Map::new();
    };
    let mut skip = POLICY_READ_ONLY.to_vec();
    skip.extend(["displayName", "grantControls"]);
    let mut spec = clean_object("conditionalAccessPolicy", m, &skip);
    if let Some(grant) = m.get("grantControls").and_then(Value::as_object) {
        let mut controls = clean_object(
            "conditionalAccessGrantControls",
            grant,
            &["authenticationStrength"],
        );
        let strength = grant.get("authenticationStrength").map(|s| &s["id"]);
        if let Some(id) = strength.and_then(Value::as_str) {
            controls.insert("authenticationStrength".into(), json!(id));
        }
        spec.insert("grantControls".into(), Value::Object(controls));
    }
    if let Some(conditions) = spec.get_mut("conditions").and_then(Value::as_object_mut)
        && conditions.get("clientAppTypes") == Some(&json!(["all"]))
    {
        conditions.remove("clientAppTypes");
    }
    let spec = match without_empty(&Value::Object(spec)) {
        Some(Value::Object(spec)) => spec,
        _ => Map::new(),
    };
    if m["displayName"].as_str().is_some_and(is_managed_name) {
        managed_only(&spec)
    } else {
        spec
    }
}

/// A Microsoft-managed policy's state and exclusions.
fn managed_only(spec: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(state) = spec.get("state") {
        out.insert("state".into(), state.clone());
    }
    let exclusions: Map<String, Value> = spec
        .get("conditions")
        .and_then(|c| c["users"].as_object())
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.starts_with("exclude"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !exclusions.is_empty() {
        out.insert("conditions".into(), json!({ "users": exclusions }));
    }
    out
}

/// Every id of `spec` (as [`declarable`] gives it) that a name can stand for: where it is
/// (a JSON pointer) and what it is the id of. Keywords, and the legacy trusted-IPs
/// location, are no ids of anything.
pub fn references(spec: &Map<String, Value>) -> Vec<(String, NameKind)> {
    let tree = Value::Object(spec.clone());
    let mut out = Vec::new();
    for (list, kind, _) in NAMED_LISTS {
        let items = tree.pointer(list).and_then(Value::as_array);
        for (i, v) in items.into_iter().flatten().enumerate() {
            if v.as_str()
                .is_some_and(|s| is_guid(s) && !SPECIAL_LOCATIONS.contains(&s))
            {
                out.push((format!("{list}/{i}"), *kind));
            }
        }
    }
    if tree.pointer(STRENGTH).is_some_and(Value::is_string) {
        out.push((STRENGTH.to_string(), NameKind::Strength));
    }
    out
}
