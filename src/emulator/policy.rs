//! `policies/authenticationMethodsPolicy`, its method configurations, and
//! `policies/identitySecurityDefaultsEnforcementPolicy`.
//!
//! The policy is kept in Graph's own JSON shape. Writes are checked against the schema and
//! the service's documented rules (FACTS.md §2–§5), then applied with Graph's semantics:
//! top-level properties replace, collections replace whole, and a nested object replaces
//! whole too, its omitted members falling back to the defaults — which is why a client must
//! send a nested object merged from the live one.

use serde_json::{Map, Value, json};

use super::state::{SecurityDefaults, Tenant};
use super::{ApiResponse, ApiVersion, GraphError};
use crate::msgraph::methods::{CONFIGURATION_KINDS, default_policy};
use crate::msgraph::schema::{Schema, SchemaViolation, is_annotation, is_guid};

const CONTEXT_BASE: &str = "https://graph.microsoft.com";
/// Placeholder id meaning "nobody" in featureSettings targets.
const NOBODY: &str = "00000000-0000-0000-0000-000000000000";
const NUMBER_MATCHING_MESSAGE: &str = "Persistance of policy failed with error: Microsoft Authenticator's number matching feature can no longer be toggled as part of featureSettings.";

const EXTERNAL_TYPE: &str = "externalAuthenticationMethodConfiguration";

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

/// GET `/policies/authenticationMethodsPolicy`.
pub fn get_policy(version: ApiVersion, tenant: &Tenant, include_unknown: bool) -> ApiResponse {
    let v = version.segment();
    let stored = &tenant.authentication_methods_policy;
    let mut out = Map::new();
    out.insert(
        "@odata.context".into(),
        json!(format!(
            "{CONTEXT_BASE}/{v}/$metadata#authenticationMethodsPolicy"
        )),
    );
    if version == ApiVersion::V1 {
        out.insert(
            "@microsoft.graph.tips".into(),
            json!("Use $select to choose only the properties your app needs, as this can lead to performance improvements. For example: GET policies/authenticationMethodsPolicy?$select=description,displayName"),
        );
    }
    if let Value::Object(map) = stored {
        for (k, val) in map {
            if k == "authenticationMethodConfigurations" {
                continue;
            }
            // Not in the v1.0 CSDL and not in the live v1.0 response.
            if version == ApiVersion::V1 && k == "microsoftAuthenticatorPlatformSettings" {
                continue;
            }
            out.insert(k.clone(), val.clone());
        }
    }
    out.insert(
        "authenticationMethodConfigurations@odata.context".into(),
        json!(format!("{CONTEXT_BASE}/{v}/$metadata#policies/authenticationMethodsPolicy/authenticationMethodConfigurations")),
    );
    let mut body = Value::Object(out);
    Schema::get().render(
        version,
        "authenticationMethodsPolicy",
        &mut body,
        include_unknown,
    );
    // Each configuration is rendered for its own type, once.
    let configs: Vec<Value> = configurations(stored)
        .iter()
        .map(|c| render_configuration(version, c, false, include_unknown))
        .collect();
    body["authenticationMethodConfigurations"] = Value::Array(configs);
    ApiResponse::ok(body)
}

fn configurations(policy: &Value) -> &[Value] {
    policy["authenticationMethodConfigurations"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn render_configuration(
    version: ApiVersion,
    config: &Value,
    standalone: bool,
    include_unknown: bool,
) -> Value {
    let v = version.segment();
    let id = config["id"].as_str().unwrap_or_default();
    let ty = short_type(config);
    let mut out = Map::new();
    if standalone {
        out.insert(
            "@odata.context".into(),
            json!(format!("{CONTEXT_BASE}/{v}/$metadata#policies/authenticationMethodsPolicy/authenticationMethodConfigurations/$entity")),
        );
    }
    if let Value::Object(map) = config {
        for (k, val) in map {
            if k == "includeTargets" {
                out.insert(
                    "includeTargets@odata.context".into(),
                    json!(format!(
                        "{CONTEXT_BASE}/{v}/$metadata#policies/authenticationMethodsPolicy/authenticationMethodConfigurations('{id}')/microsoft.graph.{ty}/includeTargets"
                    )),
                );
            }
            out.insert(k.clone(), val.clone());
        }
    }
    let mut body = Value::Object(out);
    Schema::get().render(version, ty, &mut body, include_unknown);
    body
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

/// GET `.../authenticationMethodConfigurations`.
pub fn list_configurations(
    version: ApiVersion,
    tenant: &Tenant,
    include_unknown: bool,
) -> ApiResponse {
    let v = version.segment();
    let list: Vec<Value> = configurations(&tenant.authentication_methods_policy)
        .iter()
        .map(|c| render_configuration(version, c, false, include_unknown))
        .collect();
    ApiResponse::ok(json!({
        "@odata.context": format!("{CONTEXT_BASE}/{v}/$metadata#policies/authenticationMethodsPolicy/authenticationMethodConfigurations"),
        "value": list,
    }))
}

/// GET `.../authenticationMethodConfigurations/{id}`.
pub fn get_configuration(
    version: ApiVersion,
    tenant: &Tenant,
    id: &str,
    include_unknown: bool,
) -> Result<ApiResponse, GraphError> {
    let policy = &tenant.authentication_methods_policy;
    let i = find_configuration(policy, id).ok_or_else(|| GraphError::not_found(id))?;
    Ok(ApiResponse::ok(render_configuration(
        version,
        &configurations(policy)[i],
        true,
        include_unknown,
    )))
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

/// PATCH `/policies/authenticationMethodsPolicy`: 200 with the updated policy, as documented.
pub fn patch_policy(
    version: ApiVersion,
    tenant: &mut Tenant,
    body: &Value,
) -> Result<ApiResponse, GraphError> {
    let schema = Schema::get();
    let checked = schema
        .check_object(version, "authenticationMethodsPolicy", body)
        .map_err(|v| GraphError::bad_request(v.message))?;
    let Value::Object(patch) = checked else {
        return Err(GraphError::bad_request(
            "The request body must be a JSON object.",
        ));
    };
    for key in patch.keys() {
        match key.as_str() {
            "id" if patch[key] == json!("authenticationMethodsPolicy") => {}
            // OData lets a body name its own type; only another type is an error.
            "@odata.type" => check_odata_type(&patch[key], "authenticationMethodsPolicy")?,
            "id" | "description" | "displayName" | "lastModifiedDateTime" | "policyVersion" => {
                return Err(read_only(key));
            }
            // Beta only: not in the v1.0 CSDL, and v1.0 GET does not return it (unlike the
            // beta members FACTS.md §2 lists as returned and written on v1.0).
            "microsoftAuthenticatorPlatformSettings" if version == ApiVersion::V1 => {
                return Err(GraphError::bad_request(
                    SchemaViolation::unknown_property(key, "authenticationMethodsPolicy").message,
                ));
            }
            "authenticationMethodConfigurations" => {
                return Err(GraphError::bad_request(
                    "Updating authenticationMethodConfigurations through the policy is not supported. Update each configuration at policies/authenticationMethodsPolicy/authenticationMethodConfigurations/{id}.",
                ));
            }
            _ => {}
        }
    }
    let defaults = default_policy();
    let current = &tenant.authentication_methods_policy;
    let mut updated = Map::new();
    for (key, value) in &patch {
        if key == "id" || key == "@odata.type" {
            continue;
        }
        updated.insert(key.clone(), fill_from(value, &defaults[key.as_str()]));
    }
    if let Some(scp) = updated.get("systemCredentialPreferences") {
        for list in ["includeTargets", "excludeTargets"] {
            let n = scp[list].as_array().map_or(0, Vec::len);
            if n > 1 {
                return Err(GraphError::bad_request(format!(
                    "systemCredentialPreferences supports only one {} target; {n} were given.",
                    if list == "includeTargets" {
                        "include"
                    } else {
                        "exclude"
                    }
                )));
            }
            check_targets(
                tenant,
                &scp[list],
                &format!("systemCredentialPreferences.{list}"),
            )?;
        }
    }
    if let Some(campaign) = updated
        .get("registrationEnforcement")
        .map(|r| &r["authenticationMethodsRegistrationCampaign"])
        .filter(|c| c.is_object())
    {
        let snooze = campaign["snoozeDurationInDays"].as_i64().unwrap_or(0);
        if !(0..=14).contains(&snooze) {
            return Err(invalid_value(
                "snoozeDurationInDays",
                "must be between 0 and 14 days.",
            ));
        }
        for t in campaign["includeTargets"].as_array().into_iter().flatten() {
            let m = t["targetedAuthenticationMethod"]
                .as_str()
                .unwrap_or("microsoftAuthenticator");
            if !m.eq_ignore_ascii_case("microsoftAuthenticator") {
                return Err(invalid_value(
                    "targetedAuthenticationMethod",
                    "only microsoftAuthenticator can be targeted by the registration campaign.",
                ));
            }
        }
        check_targets(
            tenant,
            &campaign["includeTargets"],
            "authenticationMethodsRegistrationCampaign.includeTargets",
        )?;
        check_targets(
            tenant,
            &campaign["excludeTargets"],
            "authenticationMethodsRegistrationCampaign.excludeTargets",
        )?;
    }
    if let Some(rsa) = updated.get("reportSuspiciousActivitySettings") {
        check_targets(
            tenant,
            &Value::Array(vec![rsa["includeTarget"].clone()]),
            "reportSuspiciousActivitySettings.includeTarget",
        )?;
    }
    if let Some(state) = updated.get("policyMigrationState").and_then(Value::as_str) {
        let was = current["policyMigrationState"]
            .as_str()
            .unwrap_or("preMigration");
        if was == "migrationComplete" && state != "migrationComplete" {
            return Err(invalid_value(
                "policyMigrationState",
                "the migration is complete and cannot be reverted.",
            ));
        }
    }
    let Value::Object(stored) = &mut tenant.authentication_methods_policy else {
        return Err(GraphError::new(
            500,
            "InternalServerError",
            "stored policy is not an object",
        ));
    };
    for (k, v) in updated {
        stored.insert(k, v);
    }
    stored.insert(
        "lastModifiedDateTime".into(),
        json!(crate::support::time::now_rfc3339()),
    );
    let mut resp = get_policy(version, tenant, false);
    resp.status = 200;
    Ok(resp)
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
    for t in targets.as_array().into_iter().flatten() {
        let id = t["id"].as_str().unwrap_or_default();
        let kind = t["targetType"].as_str().unwrap_or("group");
        if id.is_empty() {
            return Err(invalid_value(what, "every target needs an id."));
        }
        if id == "all_users" || id == NOBODY {
            continue;
        }
        let exists = match kind {
            "user" => tenant.users.iter().any(|u| u.id.eq_ignore_ascii_case(id)),
            _ => tenant.groups.iter().any(|g| g.id.eq_ignore_ascii_case(id)),
        };
        if !is_guid(id) || !exists {
            return Err(GraphError::bad_request(format!(
                "Invalid target in {what}: the {kind} '{id}' does not exist in the directory."
            )));
        }
    }
    Ok(())
}

/// Defaults for members an include target omits, by target type.
fn include_target_defaults(config_type: &str) -> Value {
    match config_type {
        "microsoftAuthenticatorAuthenticationMethodConfiguration" => {
            json!({"isRegistrationRequired": false, "authenticationMode": "any"})
        }
        "smsAuthenticationMethodConfiguration" => {
            json!({"isRegistrationRequired": false, "isUsableForSignIn": true})
        }
        "fido2AuthenticationMethodConfiguration" => {
            json!({"isRegistrationRequired": false, "allowedPasskeyProfiles": []})
        }
        "verifiableCredentialsAuthenticationMethodConfiguration" => {
            json!({"isRegistrationRequired": false, "verifiedIdProfiles": []})
        }
        _ => json!({"isRegistrationRequired": false}),
    }
}

/// PATCH `.../authenticationMethodConfigurations/{id}`: 204.
pub fn patch_configuration(
    version: ApiVersion,
    tenant: &mut Tenant,
    id: &str,
    body: &Value,
) -> Result<ApiResponse, GraphError> {
    let i = find_configuration(&tenant.authentication_methods_policy, id)
        .ok_or_else(|| GraphError::not_found(id))?;
    let current = configurations(&tenant.authentication_methods_policy)[i].clone();
    let ty = short_type(&current).to_string();
    let Some(given_type) = body.get("@odata.type").and_then(Value::as_str) else {
        return Err(GraphError::bad_request(
            "The request body must specify '@odata.type' to update an authentication method configuration.",
        ));
    };
    if given_type.trim_start_matches("#microsoft.graph.") != ty {
        return Err(GraphError::bad_request(format!(
            "The '@odata.type' '{given_type}' does not match the configuration '{}' of type '#microsoft.graph.{ty}'.",
            current["id"].as_str().unwrap_or(id)
        )));
    }
    let checked = Schema::get()
        .check_object(version, &ty, body)
        .map_err(|v| GraphError::bad_request(v.message))?;
    let Value::Object(patch) = checked else {
        return Err(GraphError::bad_request(
            "The request body must be a JSON object.",
        ));
    };
    if let Some(given) = patch.get("id") {
        let same = given
            .as_str()
            .zip(current["id"].as_str())
            .is_some_and(|(a, b)| a.eq_ignore_ascii_case(b));
        if !same {
            return Err(read_only("id"));
        }
    }
    if ty == EXTERNAL_TYPE && patch.contains_key("appId") && patch["appId"] != current["appId"] {
        return Err(read_only("appId"));
    }
    let default_config = default_configuration(&current);
    let target_defaults = include_target_defaults(&ty);
    let mut updated = current.clone();
    for (key, value) in &patch {
        if key == "id" || key == "@odata.type" {
            continue;
        }
        let new_value = match key.as_str() {
            "includeTargets" => Value::Array(
                value
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|t| fill_from(t, &target_defaults))
                    .collect(),
            ),
            "featureSettings" => feature_settings(
                value,
                &current["featureSettings"],
                &default_config["featureSettings"],
            )?,
            _ => fill_from(value, &default_config[key.as_str()]),
        };
        updated[key.as_str()] = new_value;
    }
    check_targets(tenant, &updated["includeTargets"], "includeTargets")?;
    check_targets(tenant, &updated["excludeTargets"], "excludeTargets")?;
    if ty == "temporaryAccessPassAuthenticationMethodConfiguration" {
        check_temporary_access_pass(&updated)?;
    }
    store_configuration(tenant, i, updated);
    Ok(ApiResponse::no_content())
}

/// featureSettings replaces whole, except number matching, which the service keeps and
/// refuses to change (FACTS.md §3).
fn feature_settings(given: &Value, current: &Value, default: &Value) -> Result<Value, GraphError> {
    // `null` replaces the object with one that sets nothing: every member takes its default.
    let nothing = json!({});
    let given = if given.is_null() { &nothing } else { given };
    if let Some(nm) = given.get("numberMatchingRequiredState")
        && !nm.is_null()
        && nm != &current["numberMatchingRequiredState"]
    {
        return Err(GraphError::bad_request(NUMBER_MATCHING_MESSAGE));
    }
    let mut out = fill_from(given, default);
    if let Some(nm) = current.get("numberMatchingRequiredState") {
        out["numberMatchingRequiredState"] = nm.clone();
    }
    Ok(out)
}

fn check_temporary_access_pass(c: &Value) -> Result<(), GraphError> {
    let int = |k: &str| c[k].as_i64();
    if let Some(len) = int("defaultLength")
        && !(8..=48).contains(&len)
    {
        return Err(invalid_value(
            "defaultLength",
            "must be between 8 and 48 characters.",
        ));
    }
    for k in [
        "minimumLifetimeInMinutes",
        "maximumLifetimeInMinutes",
        "defaultLifetimeInMinutes",
    ] {
        if let Some(v) = int(k)
            && !(10..=43_200).contains(&v)
        {
            return Err(invalid_value(k, "must be between 10 and 43200 minutes."));
        }
    }
    if let (Some(min), Some(max)) = (
        int("minimumLifetimeInMinutes"),
        int("maximumLifetimeInMinutes"),
    ) {
        if min > max {
            return Err(invalid_value(
                "minimumLifetimeInMinutes",
                "must not be greater than maximumLifetimeInMinutes.",
            ));
        }
        if let Some(d) = int("defaultLifetimeInMinutes")
            && (d < min || d > max)
        {
            return Err(invalid_value(
                "defaultLifetimeInMinutes",
                "must be between minimumLifetimeInMinutes and maximumLifetimeInMinutes.",
            ));
        }
    }
    Ok(())
}

fn default_configuration(current: &Value) -> Value {
    let ty = short_type(current);
    configurations(&default_policy())
        .iter()
        .find(|c| short_type(c) == ty)
        .cloned()
        .unwrap_or(Value::Null)
}

fn store_configuration(tenant: &mut Tenant, index: usize, config: Value) {
    let policy = &mut tenant.authentication_methods_policy;
    if let Some(list) = policy["authenticationMethodConfigurations"].as_array_mut() {
        list[index] = config;
    }
    policy["lastModifiedDateTime"] = json!(crate::support::time::now_rfc3339());
}

/// DELETE `.../authenticationMethodConfigurations/{id}`: built-in methods return to their
/// defaults; an external method is removed. 204.
pub fn delete_configuration(tenant: &mut Tenant, id: &str) -> Result<ApiResponse, GraphError> {
    let i = find_configuration(&tenant.authentication_methods_policy, id)
        .ok_or_else(|| GraphError::not_found(id))?;
    let current = configurations(&tenant.authentication_methods_policy)[i].clone();
    let ty = short_type(&current);
    if ty == "hardwareOathAuthenticationMethodConfiguration" {
        // The permissions reference lists DELETE for every built-in id except this one.
        return Err(GraphError::method_not_allowed());
    }
    if ty == EXTERNAL_TYPE {
        if let Some(list) =
            tenant.authentication_methods_policy["authenticationMethodConfigurations"]
                .as_array_mut()
        {
            list.remove(i);
        }
        tenant.authentication_methods_policy["lastModifiedDateTime"] =
            json!(crate::support::time::now_rfc3339());
        return Ok(ApiResponse::no_content());
    }
    let mut reset = default_configuration(&current);
    reset["id"] = current["id"].clone();
    store_configuration(tenant, i, reset);
    Ok(ApiResponse::no_content())
}

/// GET `/policies/identitySecurityDefaultsEnforcementPolicy`.
pub fn get_security_defaults(version: ApiVersion, sd: &SecurityDefaults) -> ApiResponse {
    ApiResponse::ok(json!({
        "@odata.context": format!("{CONTEXT_BASE}/{}/$metadata#policies/identitySecurityDefaultsEnforcementPolicy", version.segment()),
        "description": "Security defaults is a set of basic identity security mechanisms recommended by Microsoft. When enabled, these recommendations will be automatically enforced in your organization. Administrators and users will be better protected from common identity related attacks.",
        "displayName": "Security Defaults",
        "id": "00000000-0000-0000-0000-000000000005",
        "isEnabled": sd.is_enabled,
    }))
}

/// PATCH `/policies/identitySecurityDefaultsEnforcementPolicy`: only `isEnabled`; 204.
pub fn patch_security_defaults(
    version: ApiVersion,
    sd: &mut SecurityDefaults,
    body: &Value,
) -> Result<ApiResponse, GraphError> {
    let checked = Schema::get()
        .check_object(version, "identitySecurityDefaultsEnforcementPolicy", body)
        .map_err(|v| GraphError::bad_request(v.message))?;
    let Value::Object(patch) = checked else {
        return Err(GraphError::bad_request(
            "The request body must be a JSON object.",
        ));
    };
    for (k, v) in &patch {
        match k.as_str() {
            "isEnabled" => {}
            "@odata.type" => check_odata_type(v, "identitySecurityDefaultsEnforcementPolicy")?,
            _ => return Err(read_only(k)),
        }
    }
    match patch.get("isEnabled") {
        Some(Value::Bool(b)) => sd.is_enabled = *b,
        Some(_) => return Err(invalid_value("isEnabled", "must be true or false.")),
        None => {}
    }
    Ok(ApiResponse::no_content())
}

#[cfg(test)]
mod tests {
    use super::*;

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
