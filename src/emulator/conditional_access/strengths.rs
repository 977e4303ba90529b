//! Authentication strengths (`policies/authenticationStrengthPolicies`, also reached as
//! `identity/conditionalAccess/authenticationStrength/policies`): the three built-in ones,
//! read-only, and custom ones (FACTS.md items 5–10).

use serde_json::{Map, Value, json};

use super::{
    collection, context, entity, find, new_id, now, position, refuse_read_only, schema_error,
};
use crate::emulator::state::Tenant;
use crate::emulator::{ApiResponse, ApiVersion, GraphError};
use crate::msgraph::conditional_access::{
    BUILT_IN_STRENGTH_DATE, BUILT_IN_STRENGTHS, BuiltInStrength, COMBINATIONS_NOT_PATCHABLE,
    built_in_strength, invalid_combinations, is_valid_combination, normalise_combination,
};
use crate::msgraph::schema::Schema;

use crate::msgraph::conditional_access::STRENGTH_READ_ONLY as READ_ONLY;

fn built_in(s: &BuiltInStrength) -> Value {
    json!({
        "id": s.id,
        "createdDateTime": BUILT_IN_STRENGTH_DATE,
        "modifiedDateTime": BUILT_IN_STRENGTH_DATE,
        "displayName": s.display_name,
        "description": s.description,
        "policyType": "builtIn",
        "requirementsSatisfied": "mfa",
        "allowedCombinations": s.combinations,
        "combinationConfigurations": [],
    })
}

/// A strength (built-in or custom) as a policy's `grantControls.authenticationStrength`
/// shows it; `None` when no strength has this id.
pub fn embedded(t: &Tenant, id: &str) -> Option<Value> {
    if let Some(b) = built_in_strength(id) {
        return Some(built_in(b));
    }
    let customs = &t.conditional_access.authentication_strengths;
    position(customs, id).map(|i| customs[i].clone())
}

/// A strength as the collection shows it: `combinationConfigurations` annotated.
fn listed(version: ApiVersion, set: &str, s: Value) -> Value {
    let Value::Object(m) = s else { return s };
    let mut out = Map::new();
    let id = m
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    for (k, v) in m {
        if k == "combinationConfigurations" {
            out.insert(
                "combinationConfigurations@odata.context".into(),
                json!(context(
                    version,
                    &format!("{set}('{id}')/combinationConfigurations")
                )),
            );
        }
        out.insert(k, v);
    }
    Value::Object(out)
}

/// GET the collection: the built-in strengths, then the custom ones.
pub fn list(version: ApiVersion, t: &Tenant, set: &str) -> ApiResponse {
    let value = BUILT_IN_STRENGTHS
        .iter()
        .map(built_in)
        .chain(
            t.conditional_access
                .authentication_strengths
                .iter()
                .cloned(),
        )
        .map(|s| listed(version, set, s))
        .collect();
    collection(version, set, value)
}

/// GET one strength.
pub fn get(
    version: ApiVersion,
    t: &Tenant,
    set: &str,
    id: &str,
) -> Result<ApiResponse, GraphError> {
    let s = embedded(t, id).ok_or_else(|| GraphError::not_found(id))?;
    Ok(entity(version, set, listed(version, set, s), 200))
}

/// Normalises and checks `allowedCombinations` (FACTS.md item 9).
fn combinations(value: &Value) -> Result<Vec<String>, GraphError> {
    let given = value.as_array().cloned().unwrap_or_default();
    let mut out: Vec<String> = Vec::with_capacity(given.len());
    let mut invalid = Vec::new();
    for c in given.iter().filter_map(Value::as_str) {
        let n = normalise_combination(c);
        if !is_valid_combination(&n) {
            invalid.push(c.to_string());
        } else if !out.contains(&n) {
            out.push(n);
        }
    }
    if !invalid.is_empty() {
        return Err(GraphError::bad_request(invalid_combinations(&invalid)));
    }
    if out.is_empty() {
        return Err(GraphError::bad_request(
            "allowedCombinations must name at least one combination.",
        ));
    }
    Ok(out)
}

fn check_body(version: ApiVersion, body: &Value) -> Result<Map<String, Value>, GraphError> {
    let checked = Schema::get()
        .check_object(version, "authenticationStrengthPolicy", body)
        .map_err(schema_error)?;
    let Value::Object(mut m) = checked else {
        return Err(GraphError::bad_request(
            "The request body must be a JSON object.",
        ));
    };
    if let Some(t) = m.remove("@odata.type")
        && t.as_str().map(|s| s.trim_start_matches('#'))
            != Some("microsoft.graph.authenticationStrengthPolicy")
    {
        return Err(GraphError::bad_request(format!(
            "The '@odata.type' {t} does not match the type '#microsoft.graph.authenticationStrengthPolicy' of the resource."
        )));
    }
    refuse_read_only(body, READ_ONLY)?;
    if m.contains_key("combinationConfigurations") {
        return Err(GraphError::bad_request(
            "combinationConfigurations are created through the policy's combinationConfigurations collection.",
        ));
    }
    Ok(m)
}

/// POST: 201 and the custom strength.
pub fn create(
    version: ApiVersion,
    t: &mut Tenant,
    set: &str,
    body: &Value,
) -> Result<ApiResponse, GraphError> {
    let m = check_body(version, body)?;
    let name = m
        .get("displayName")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if name.trim().is_empty() {
        return Err(GraphError::bad_request("displayName is required."));
    }
    let allowed = combinations(m.get("allowedCombinations").unwrap_or(&Value::Null))?;
    let created = now();
    let s = json!({
        "id": new_id(),
        "createdDateTime": created,
        "modifiedDateTime": created,
        "displayName": name,
        "description": m.get("description").cloned().unwrap_or(Value::Null),
        "policyType": "custom",
        "requirementsSatisfied": "mfa",
        "allowedCombinations": allowed,
        "combinationConfigurations": [],
    });
    t.conditional_access
        .authentication_strengths
        .push(s.clone());
    Ok(entity(version, set, listed(version, set, s), 201))
}

fn custom_index(t: &Tenant, id: &str, what: &str) -> Result<usize, GraphError> {
    if built_in_strength(id).is_some() {
        return Err(GraphError::bad_request(format!(
            "You can't {what} a built-in authentication strength policy."
        )));
    }
    find(&t.conditional_access.authentication_strengths, id)
}

/// PATCH: only `displayName` and `description`; 204.
pub fn update(
    version: ApiVersion,
    t: &mut Tenant,
    id: &str,
    body: &Value,
) -> Result<ApiResponse, GraphError> {
    let i = custom_index(t, id, "update")?;
    let m = check_body(version, body)?;
    if m.contains_key("allowedCombinations") {
        return Err(GraphError::bad_request(COMBINATIONS_NOT_PATCHABLE));
    }
    let s = &mut t.conditional_access.authentication_strengths[i];
    for (k, v) in m {
        s[k] = v;
    }
    s["modifiedDateTime"] = json!(now());
    Ok(ApiResponse::no_content())
}

/// Ids of the live policies that require this strength.
fn references(t: &Tenant, id: &str) -> Vec<Value> {
    t.conditional_access
        .policies
        .iter()
        .filter(|p| {
            p["grantControls"]["authenticationStrength"]["id"]
                .as_str()
                .is_some_and(|s| s.eq_ignore_ascii_case(id))
        })
        .map(|p| p["id"].clone())
        .collect()
}

/// DELETE: 204, unless a policy requires the strength.
pub fn delete(t: &mut Tenant, id: &str) -> Result<ApiResponse, GraphError> {
    let i = custom_index(t, id, "delete")?;
    if !references(t, id).is_empty() {
        return Err(GraphError::bad_request(
            "The authentication strength is referenced by one or more Conditional Access policies and cannot be deleted.",
        ));
    }
    t.conditional_access.authentication_strengths.remove(i);
    Ok(ApiResponse::no_content())
}

/// POST `…/updateAllowedCombinations`: 200 and an `updateAllowedCombinationsResult`.
pub fn update_combinations(
    version: ApiVersion,
    t: &mut Tenant,
    id: &str,
    body: &Value,
) -> Result<ApiResponse, GraphError> {
    let i = custom_index(t, id, "update")?;
    let Value::Object(m) = body else {
        return Err(GraphError::bad_request(
            "The request body must be a JSON object.",
        ));
    };
    if let Some(k) = m.keys().find(|k| k.as_str() != "allowedCombinations") {
        return Err(GraphError::bad_request(format!(
            "The parameter '{k}' in the request payload is not a valid parameter for the operation 'updateAllowedCombinations'."
        )));
    }
    let current = combinations(m.get("allowedCombinations").unwrap_or(&Value::Null))?;
    let refs = references(t, id);
    let s = &mut t.conditional_access.authentication_strengths[i];
    let previous: Vec<String> = s["allowedCombinations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    let lowered = current.iter().any(|c| !previous.contains(c)) && !refs.is_empty();
    let info = lowered.then(|| {
        format!(
            "You have lowered the security of the {} authentication strength by adding a lower security combination. This Authentication Strength is referenced by one or more Conditional Access policies. Review conditionalAccessReferences to understand which Conditional Access policies were impacted by this change. To reverse your changes back, use updateAllowedCombinations action with the previousCombinations values.",
            s["displayName"].as_str().unwrap_or_default()
        )
    });
    s["allowedCombinations"] = json!(current);
    s["modifiedDateTime"] = json!(now());
    Ok(ApiResponse::ok(json!({
        "@odata.context": context(version, "microsoft.graph.updateAllowedCombinationsResult"),
        "@odata.type": "#microsoft.graph.updateAllowedCombinationsResult",
        "previousCombinations": previous,
        "currentCombinations": current,
        "conditionalAccessReferences": refs,
        "additionalInformation": info,
    })))
}
