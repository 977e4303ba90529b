//! `policies/identitySecurityDefaultsEnforcementPolicy`: GET, and PATCH of `isEnabled`.

use serde_json::{Value, json};

use super::{CONTEXT_BASE, check_odata_type, invalid_value, read_only};
use crate::emulator::state::SecurityDefaults;
use crate::emulator::{ApiResponse, ApiVersion, GraphError};
use crate::msgraph::schema::Schema;

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
