//! Reads: GET of the policy, of its configuration list and of one configuration, each
//! rendered as Graph returns it (OData context annotations, evolvable enum members hidden
//! unless asked for).

use serde_json::{Map, Value, json};

use super::{CONTEXT_BASE, configurations, find_configuration, short_type};
use crate::emulator::state::Tenant;
use crate::emulator::{ApiResponse, ApiVersion, GraphError};
use crate::msgraph::schema::Schema;

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
