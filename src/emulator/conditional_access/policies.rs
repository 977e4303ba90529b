//! `identity/conditionalAccess/policies` and `deletedItems/policies`.
//!
//! Bodies are checked against the CSDL (a mismatch is the service's `1007`), then against
//! the tenant: licence (`1039` for risk conditions without P2), named locations (`1040`),
//! authentication strengths, security defaults (no enabled policy while they are on) and
//! the limits on Microsoft-managed policies. PATCH merges top-level properties; a nested
//! object replaces the stored one whole.

use serde_json::{Map, Value, json};

use super::normalise::{conditions, fill};
use super::{entity, find, list_or_get, new_id, now, position, refuse_read_only, strengths};
use crate::emulator::state::{Licence, Tenant};
use crate::emulator::{ApiResponse, ApiVersion, GraphError};
use crate::msgraph::conditional_access::{
    GUESTS_COMBINED, MANAGED_POLICY_PREFIX, P2_FEATURES_REFUSED, POLICY_SCHEMA_MISMATCH,
    SECURITY_DEFAULTS_ENABLED, SPECIAL_LOCATIONS, location_missing,
};
use crate::msgraph::schema::Schema;

const SET: &str = "identity/conditionalAccess/policies";
const DELETED_SET: &str = "identity/conditionalAccess/deletedItems/policies";
use crate::msgraph::conditional_access::POLICY_READ_ONLY as READ_ONLY;
const REQUIRED: &[&str] = &["displayName", "state", "conditions"];
/// What an admin may change on a Microsoft-managed policy besides its state (FACTS.md item 31).
const MANAGED_EDITABLE_USERS: &[&str] = &[
    "excludeUsers",
    "excludeGroups",
    "excludeRoles",
    "excludeGuestsOrExternalUsers",
];

/// Whether a stored policy is one Microsoft deployed and manages.
pub fn is_managed(policy: &Value) -> bool {
    policy["displayName"]
        .as_str()
        .is_some_and(|n| n.starts_with(MANAGED_POLICY_PREFIX))
}

/// A stored policy as the service returns it.
pub fn render(version: ApiVersion, tenant: &Tenant, p: &Value) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), p["id"].clone());
    if version == ApiVersion::V1 {
        out.insert("templateId".into(), p["templateId"].clone());
    }
    for k in ["displayName", "createdDateTime", "modifiedDateTime"] {
        out.insert(k.into(), p[k].clone());
    }
    if let Some(d) = p.get("deletedDateTime") {
        out.insert("deletedDateTime".into(), d.clone());
    }
    if let Some(d) = p.get("description").filter(|d| !d.is_null()) {
        out.insert("description".into(), d.clone());
    }
    out.insert("state".into(), p["state"].clone());
    let session = match &p["sessionControls"] {
        Value::Null => Value::Null,
        s => fill(version, "conditionalAccessSessionControls", s),
    };
    out.insert("sessionControls".into(), session);
    out.insert("conditions".into(), conditions(version, &p["conditions"]));
    out.insert("grantControls".into(), grant_controls(version, tenant, p));
    Value::Object(out)
}

/// `grantControls` with the strength expanded and annotated, as FACTS.md item 21 shows.
fn grant_controls(version: ApiVersion, tenant: &Tenant, p: &Value) -> Value {
    let stored = &p["grantControls"];
    if stored.is_null() {
        return Value::Null;
    }
    let Value::Object(filled) = fill(version, "conditionalAccessGrantControls", stored) else {
        return Value::Null;
    };
    let mut out = Map::new();
    for (k, v) in filled {
        if k == "authenticationStrength"
            && let Some(id) = v["id"].as_str()
        {
            let context = super::context(
                version,
                &format!(
                    "{SET}('{}')/grantControls/authenticationStrength/$entity",
                    p["id"].as_str().unwrap_or_default()
                ),
            );
            out.insert(
                "authenticationStrength@odata.context".into(),
                json!(context),
            );
            out.insert(k, strengths::embedded(tenant, id).unwrap_or(v));
        } else {
            out.insert(k, v);
        }
    }
    Value::Object(out)
}

/// GET the policies, or the deleted ones, or one of them.
pub fn read(
    version: ApiVersion,
    t: &Tenant,
    deleted: bool,
    id: Option<&str>,
) -> Result<ApiResponse, GraphError> {
    let (set, items) = if deleted {
        (DELETED_SET, &t.conditional_access.deleted_policies)
    } else {
        (SET, &t.conditional_access.policies)
    };
    list_or_get(version, set, items, id, |p| render(version, t, p))
}

/// Checks a write body against the CSDL; any mismatch is the service's `1007`.
fn check_body(version: ApiVersion, body: &Value) -> Result<Map<String, Value>, GraphError> {
    let mismatch = || GraphError::bad_request(POLICY_SCHEMA_MISMATCH);
    let checked = Schema::get()
        .check_object(version, "conditionalAccessPolicy", body)
        .map_err(|_| mismatch())?;
    let Value::Object(mut m) = checked else {
        return Err(mismatch());
    };
    if let Some(t) = m.remove("@odata.type")
        && t.as_str().map(|s| s.trim_start_matches('#'))
            != Some("microsoft.graph.conditionalAccessPolicy")
    {
        return Err(mismatch());
    }
    refuse_read_only(body, READ_ONLY)?;
    Ok(m)
}

/// POST: 201 and the policy as the service returns it.
pub fn create(
    version: ApiVersion,
    t: &mut Tenant,
    body: &Value,
) -> Result<ApiResponse, GraphError> {
    let mut p = check_body(version, body)?;
    if REQUIRED.iter().any(|k| !p.contains_key(*k)) {
        return Err(GraphError::bad_request(POLICY_SCHEMA_MISMATCH));
    }
    let mut stored = Map::new();
    stored.insert("id".into(), json!(new_id()));
    stored.insert("templateId".into(), Value::Null);
    stored.insert("createdDateTime".into(), json!(now()));
    stored.insert("modifiedDateTime".into(), Value::Null);
    stored.append(&mut p);
    let stored = Value::Object(stored);
    check_rules(t, &stored)?;
    let rendered = render(version, t, &stored);
    t.conditional_access.policies.push(stored);
    Ok(entity(version, SET, rendered, 201))
}

/// PATCH: 204; top-level properties merged, nested objects replaced whole.
pub fn update(
    version: ApiVersion,
    t: &mut Tenant,
    id: &str,
    body: &Value,
) -> Result<ApiResponse, GraphError> {
    let i = find(&t.conditional_access.policies, id)?;
    let patch = check_body(version, body)?;
    let before = t.conditional_access.policies[i].clone();
    let mut after = before.clone();
    for (k, v) in patch {
        after[k] = v;
    }
    if is_managed(&before) {
        check_managed_change(version, &before, &after)?;
    }
    check_rules(t, &after)?;
    after["modifiedDateTime"] = json!(now());
    t.conditional_access.policies[i] = after;
    Ok(ApiResponse::no_content())
}

/// DELETE: 204; the policy moves to `deletedItems/policies`.
pub fn delete(t: &mut Tenant, id: &str) -> Result<ApiResponse, GraphError> {
    let i = find(&t.conditional_access.policies, id)?;
    if is_managed(&t.conditional_access.policies[i]) {
        return Err(GraphError::bad_request(
            "Microsoft-managed policies cannot be deleted.",
        ));
    }
    let mut p = t.conditional_access.policies.remove(i);
    p["deletedDateTime"] = json!(now());
    t.conditional_access.deleted_policies.push(p);
    Ok(ApiResponse::no_content())
}

/// POST `deletedItems/policies/{id}/restore`: 200 and the policy, live again, if it still
/// meets the rules (its locations and strength exist, security defaults allow its state).
pub fn restore(version: ApiVersion, t: &mut Tenant, id: &str) -> Result<ApiResponse, GraphError> {
    let i = find(&t.conditional_access.deleted_policies, id)?;
    let mut p = t.conditional_access.deleted_policies[i].clone();
    if let Value::Object(m) = &mut p {
        m.remove("deletedDateTime");
    }
    check_rules(t, &p)?;
    t.conditional_access.deleted_policies.remove(i);
    let rendered = render(version, t, &p);
    t.conditional_access.policies.push(p);
    Ok(entity(version, SET, rendered, 200))
}

/// The tenant-level rules a policy must meet to be stored.
pub fn check_rules(t: &Tenant, p: &Value) -> Result<(), GraphError> {
    let c = &p["conditions"];
    let risky = ["signInRiskLevels", "userRiskLevels"]
        .iter()
        .any(|k| c[*k].as_array().is_some_and(|a| !a.is_empty()));
    if risky && t.licence() < Licence::P2 {
        return Err(GraphError::bad_request(P2_FEATURES_REFUSED));
    }
    for k in ["includeLocations", "excludeLocations"] {
        for id in c["locations"][k].as_array().into_iter().flatten() {
            let id = id.as_str().unwrap_or_default();
            let known = SPECIAL_LOCATIONS.iter().any(|s| s.eq_ignore_ascii_case(id))
                || position(&t.conditional_access.named_locations, id).is_some();
            if !known {
                return Err(GraphError::bad_request(location_missing(id)));
            }
        }
    }
    check_guests(c)?;
    let grant = &p["grantControls"];
    check_password_change(c, grant)?;
    if let Some(strength) = grant["authenticationStrength"].as_object() {
        let id = strength
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if strengths::embedded(t, id).is_none() {
            return Err(GraphError::bad_request(format!(
                "The authentication strength policy '{id}' does not exist."
            )));
        }
        let mfa = grant["builtInControls"]
            .as_array()
            .is_some_and(|a| a.iter().any(|c| c == "mfa"));
        if mfa {
            return Err(GraphError::bad_request(
                "The 'mfa' built-in control cannot be combined with an authentication strength.",
            ));
        }
    }
    if p["state"] == "enabled" && t.security_defaults.is_enabled {
        return Err(GraphError::bad_request(SECURITY_DEFAULTS_ENABLED));
    }
    Ok(())
}

/// The string form `GuestsOrExternalUsers` and the object form cannot be used together
/// (FACTS.md item 18, peer-observed).
fn check_guests(c: &Value) -> Result<(), GraphError> {
    let users = &c["users"];
    for (list, object) in [
        ("includeUsers", "includeGuestsOrExternalUsers"),
        ("excludeUsers", "excludeGuestsOrExternalUsers"),
    ] {
        let string_form = users[list]
            .as_array()
            .is_some_and(|a| a.iter().any(|u| u == "GuestsOrExternalUsers"));
        if string_form && !users[object].is_null() {
            return Err(GraphError::bad_request(GUESTS_COMBINED));
        }
    }
    Ok(())
}

/// `passwordChange` "must be accompanied by mfa using an AND operator", "must be used in a
/// policy containing userRiskLevels" and targets all apps (FACTS.md item 21).
fn check_password_change(c: &Value, grant: &Value) -> Result<(), GraphError> {
    let controls = grant["builtInControls"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if !controls.iter().any(|x| x == "passwordChange") {
        return Ok(());
    }
    let with_mfa = controls.iter().any(|x| x == "mfa") && grant["operator"] == "AND";
    let user_risk = c["userRiskLevels"]
        .as_array()
        .is_some_and(|a| !a.is_empty());
    let all_apps = c["applications"]["includeApplications"] == json!(["All"]);
    if with_mfa && user_risk && all_apps {
        Ok(())
    } else {
        Err(GraphError::bad_request(
            "The 'passwordChange' control must be combined with 'mfa' using the AND operator, in a policy with userRiskLevels that targets all applications.",
        ))
    }
}

/// A Microsoft-managed policy may change its state and its exclusions, nothing else.
fn check_managed_change(
    version: ApiVersion,
    before: &Value,
    after: &Value,
) -> Result<(), GraphError> {
    let comparable = |p: &Value| {
        let mut c = conditions(version, &p["conditions"]);
        if let Some(users) = c["users"].as_object_mut() {
            users.retain(|k, _| !MANAGED_EDITABLE_USERS.contains(&k.as_str()));
        }
        json!([
            p["displayName"],
            p["description"],
            c,
            fill(
                version,
                "conditionalAccessGrantControls",
                &p["grantControls"]
            ),
            fill(
                version,
                "conditionalAccessSessionControls",
                &p["sessionControls"]
            ),
        ])
    };
    if comparable(before) == comparable(after) {
        Ok(())
    } else {
        Err(GraphError::bad_request(
            "Microsoft-managed policies can only change their state and their excluded users, groups and roles.",
        ))
    }
}

/// Refuses to turn security defaults on while a policy is enabled (FACTS.md item 30).
pub fn check_security_defaults_patch(t: &Tenant, body: &Value) -> Result<(), GraphError> {
    let on = match &body["isEnabled"] {
        Value::Bool(b) => *b,
        Value::String(s) => s.eq_ignore_ascii_case("true"),
        _ => false,
    };
    let enabling = on && !t.security_defaults.is_enabled;
    let enforced = t
        .conditional_access
        .policies
        .iter()
        .any(|p| p["state"] == "enabled");
    if enabling && enforced {
        return Err(GraphError::bad_request(
            "Security defaults cannot be enabled while Conditional Access policies are enabled in the tenant. Disable those policies (or set them to report-only) first.",
        ));
    }
    Ok(())
}
