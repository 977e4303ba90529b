//! Checks the Conditional Access objects of a loaded state (`--state`, `PUT
//! /_emulator/state`) against the same rules as the API, and fills the server-set members a
//! seeded object may leave out (`id`, `createdDateTime`, …).

use serde_json::{Value, json};

use super::policies::{check_rules, is_managed};
use super::{new_id, now};
use crate::emulator::ApiVersion;
use crate::emulator::state::{Licence, Tenant};
use crate::msgraph::conditional_access::{
    built_in_strength, is_valid_combination, normalise_combination,
};
use crate::msgraph::schema::Schema;

/// Fills server-set members and refuses a tenant whose Conditional Access objects the
/// service could not have produced. The message names the object.
pub fn check_tenant(t: &mut Tenant) -> Result<(), String> {
    if !t.premium {
        t.licence = Licence::Free;
    }
    if t.licence == Licence::Free {
        t.premium = false;
    }
    let ca = &mut t.conditional_access;
    if t.licence == Licence::Free && !(ca.policies.is_empty() && ca.named_locations.is_empty()) {
        return Err(
            "a free tenant cannot hold Conditional Access policies or named locations".into(),
        );
    }
    let schema = Schema::get();
    for l in ca.named_locations.iter_mut() {
        let ty = l["@odata.type"].as_str().unwrap_or_default().to_string();
        let short = ty.trim_start_matches("#microsoft.graph.");
        if !matches!(short, "ipNamedLocation" | "countryNamedLocation") {
            return Err(format!(
                "named location {}: needs an @odata.type of #microsoft.graph.ipNamedLocation or #microsoft.graph.countryNamedLocation",
                l["id"]
            ));
        }
        schema
            .check_object(ApiVersion::V1, short, l)
            .map_err(|v| format!("named location {}: {}", l["id"], v.message))?;
        fill_server_members(l, true);
    }
    for s in ca.authentication_strengths.iter_mut() {
        if !s.is_object() {
            return Err("every authentication strength must be a JSON object".into());
        }
        fill_server_members(s, true);
        let id = s["id"].as_str().unwrap_or_default().to_string();
        if built_in_strength(&id).is_some() {
            return Err(format!(
                "authentication strength {id}: built-in strengths are always present and cannot be seeded"
            ));
        }
        let mut combos = Vec::new();
        for c in s["allowedCombinations"].as_array().into_iter().flatten() {
            let n = normalise_combination(c.as_str().unwrap_or_default());
            if !is_valid_combination(&n) {
                return Err(format!(
                    "authentication strength {id}: invalid combination {c}"
                ));
            }
            combos.push(n);
        }
        s["allowedCombinations"] = json!(combos);
        for (k, v) in [
            ("policyType", json!("custom")),
            ("requirementsSatisfied", json!("mfa")),
            ("combinationConfigurations", json!([])),
        ] {
            if s.get(k).is_none() {
                s[k] = v;
            }
        }
    }
    for p in ca.policies.iter_mut().chain(ca.deleted_policies.iter_mut()) {
        schema
            .check_object(ApiVersion::V1, "conditionalAccessPolicy", p)
            .map_err(|v| format!("policy {}: {}", p["id"], v.message))?;
        fill_server_members(p, false);
        if p.get("templateId").is_none() {
            p["templateId"] = Value::Null;
        }
    }
    for p in &t.conditional_access.policies {
        let name = p["displayName"].as_str().unwrap_or_default();
        check_rules(t, p).map_err(|e| format!("policy '{name}': {}", e.message))?;
        if is_managed(p) && (p["templateId"].is_null() || t.security_defaults.is_enabled) {
            return Err(format!(
                "policy '{name}': a Microsoft-managed policy needs a templateId, and exists only in tenants without security defaults"
            ));
        }
    }
    Ok(())
}

/// Adds `id` and `createdDateTime` when absent; `modifiedDateTime` too, as `null` for a
/// policy and the creation time for the others.
fn fill_server_members(v: &mut Value, modified_at_creation: bool) {
    if v.get("id").and_then(Value::as_str).is_none() {
        v["id"] = json!(new_id());
    }
    if v.get("createdDateTime").is_none() {
        v["createdDateTime"] = json!(now());
    }
    if v.get("modifiedDateTime").is_none() {
        v["modifiedDateTime"] = if modified_at_creation {
            v["createdDateTime"].clone()
        } else {
            Value::Null
        };
    }
}
