//! PATCH of the authentication methods policy's own properties: the read-only and
//! version-only members, the documented limits on targets, the registration campaign and
//! the migration state, then the merge into the stored policy.

use serde_json::{Map, Value, json};

use super::read::get_policy;
use super::{check_odata_type, check_targets, fill_from, invalid_value, read_only};
use crate::emulator::state::Tenant;
use crate::emulator::{ApiResponse, ApiVersion, GraphError};
use crate::msgraph::methods::default_policy;
use crate::msgraph::schema::{Schema, SchemaViolation};

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
