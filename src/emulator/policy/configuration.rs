//! Writes to one method configuration: PATCH (type check, include-target defaults,
//! featureSettings and number matching, Temporary Access Pass limits) and DELETE (back to
//! the defaults, or removal of an external method).

use serde_json::{Value, json};

use super::{
    check_feature_targets, check_scope_targets, check_targets, configurations, fill_from,
    find_configuration, invalid_value, read_only, short_type,
};
use crate::emulator::state::Tenant;
use crate::emulator::{ApiResponse, ApiVersion, GraphError};
use crate::msgraph::methods::{TAP_MAX_LIFETIME_MINUTES, TAP_MIN_LIFETIME_MINUTES, default_policy};
use crate::msgraph::schema::Schema;

const NUMBER_MATCHING_MESSAGE: &str = "Persistance of policy failed with error: Microsoft Authenticator's number matching feature can no longer be toggled as part of featureSettings.";

const EXTERNAL_TYPE: &str = "externalAuthenticationMethodConfiguration";

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
    if patch.contains_key("featureSettings") {
        check_feature_targets(tenant, &updated["featureSettings"])?;
    }
    if patch.contains_key("certificateAuthorityScopes") {
        check_scope_targets(tenant, &updated["certificateAuthorityScopes"])?;
    }
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
            && !(i64::from(TAP_MIN_LIFETIME_MINUTES)..=i64::from(TAP_MAX_LIFETIME_MINUTES))
                .contains(&v)
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
