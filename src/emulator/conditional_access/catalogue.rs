//! What a policy refers to and a planner reads beside it: the Conditional Access templates,
//! the admin role templates, who holds each role, and the tenant's licences.

use serde_json::{Value, json};

use super::{collection, entity, find, list_or_get};
use crate::emulator::odata::{Field, FieldKind, Filter, Query};
use crate::emulator::state::{Licence, RoleAssignment, Tenant};
use crate::emulator::{ApiResponse, ApiVersion, GraphError};
use crate::msgraph::conditional_access::{
    ADMIN_ROLE_TEMPLATES, LicenceSku, SKU_P1, SKU_P2, TEMPLATES_JSON,
};

const TEMPLATES_SET: &str = "identity/conditionalAccess/templates";

/// v1.0 `identity/conditionalAccess/templates[/{id}]`, from the documentation's list.
pub fn templates(id: Option<&str>) -> Result<ApiResponse, GraphError> {
    let list: Value = serde_json::from_str(TEMPLATES_JSON)
        .map_err(|e| GraphError::new(500, "InternalServerError", e.to_string()))?;
    let Some(id) = id else {
        return Ok(ApiResponse::ok(list));
    };
    let items = list["value"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let i = find(items, id)?;
    Ok(entity(ApiVersion::V1, TEMPLATES_SET, items[i].clone(), 200))
}

/// `directoryRoleTemplates[/{id}]`: the 14 admin roles of FACTS.md item 35.
pub fn role_templates(version: ApiVersion, id: Option<&str>) -> Result<ApiResponse, GraphError> {
    let items: Vec<Value> = ADMIN_ROLE_TEMPLATES
        .iter()
        .map(|(id, name, description)| {
            json!({"id": id, "deletedDateTime": null, "description": description, "displayName": name})
        })
        .collect();
    list_or_get(version, "directoryRoleTemplates", &items, id, Value::clone)
}

/// An assignment's id: the stored one, or one derived from role and principal.
fn assignment_id(a: &RoleAssignment) -> String {
    if a.id.is_empty() {
        format!("{}_{}", a.role_definition_id, a.principal_id)
    } else {
        a.id.clone()
    }
}

/// `roleManagement/directory/roleAssignments`, with `$filter` on `roleDefinitionId` and
/// `principalId`.
pub fn role_assignments(
    version: ApiVersion,
    t: &Tenant,
    query: &[(String, String)],
) -> Result<ApiResponse, GraphError> {
    let q = Query::parse(query, 999)?;
    let filter = q
        .filter
        .as_deref()
        .map(|f| {
            Filter::parse(
                f,
                &[
                    ("roleDefinitionId", FieldKind::Str),
                    ("principalId", FieldKind::Str),
                ],
            )
        })
        .transpose()?;
    let items = t
        .role_assignments
        .iter()
        .filter(|a| {
            filter.as_ref().is_none_or(|f| {
                f.matches(&|field| match field {
                    "roleDefinitionId" => Field::Str(&a.role_definition_id),
                    "principalId" => Field::Str(&a.principal_id),
                    _ => Field::Null,
                })
            })
        })
        .map(|a| {
            q.project(json!({
                "id": assignment_id(a),
                "principalId": a.principal_id,
                "roleDefinitionId": a.role_definition_id,
                "directoryScopeId": "/",
            }))
        })
        .collect();
    Ok(collection(
        version,
        "roleManagement/directory/roleAssignments",
        items,
    ))
}

fn sku(t: &Tenant, (part, sku_id, _, _): LicenceSku, plans: &[LicenceSku], units: usize) -> Value {
    json!({
        "accountId": t.id,
        "appliesTo": "User",
        "capabilityStatus": "Enabled",
        "consumedUnits": units,
        "id": format!("{}_{sku_id}", t.id),
        "prepaidUnits": {"enabled": units, "suspended": 0, "warning": 0, "lockedOut": 0},
        "servicePlans": plans.iter().map(|(_, _, name, id)| json!({
            "servicePlanId": id,
            "servicePlanName": name,
            "provisioningStatus": "Success",
            "appliesTo": "User",
        })).collect::<Vec<_>>(),
        "skuId": sku_id,
        "skuPartNumber": part,
        "subscriptionIds": [],
    })
}

/// `subscribedSkus`: the tenant's Entra ID P1 or P2 subscription, none when free.
pub fn subscribed_skus(version: ApiVersion, t: &Tenant) -> ApiResponse {
    let units = t.users.len();
    let value = match t.licence() {
        Licence::Free => Vec::new(),
        Licence::P1 => vec![sku(t, SKU_P1, &[SKU_P1], units)],
        Licence::P2 => vec![sku(t, SKU_P2, &[SKU_P1, SKU_P2], units)],
    };
    collection(version, "subscribedSkus", value)
}
