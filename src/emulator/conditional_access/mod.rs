//! Conditional Access (`shared/graph/conditional-access/FACTS.md` §A–§C, §G, §H): policies,
//! named locations and their deleted items, authentication strengths, templates, and the
//! directory reads a policy needs (role templates, role assignments, subscribed SKUs).
//!
//! This file routes and authorises; [`policies`], [`locations`], [`strengths`] and
//! [`catalogue`] implement the resources, and [`normalise`] renders what the service
//! writes back on read.

mod catalogue;
mod consistency;
mod locations;
mod normalise;
mod policies;
mod seed;
mod strengths;

use serde_json::Value;

use super::state::{Licence, Tenant};
use super::{ApiResponse, ApiVersion, GraphError, TenantSlot};
use crate::msgraph::schema::SchemaViolation;

pub use consistency::check_tenant;
pub use policies::check_security_defaults_patch;
pub use seed::seed_generated;

const CONTEXT_BASE: &str = "https://graph.microsoft.com";

const READ_CA: &[&str] = &[
    "Policy.Read.All",
    "Policy.Read.ConditionalAccess",
    "Policy.ReadWrite.ConditionalAccess",
];
const WRITE_CA: &[&str] = &["Policy.ReadWrite.ConditionalAccess"];
const READ_STRENGTHS: &[&str] = &[
    "Policy.Read.All",
    "Policy.Read.ConditionalAccess",
    "Policy.ReadWrite.ConditionalAccess",
    "Policy.ReadWrite.AuthenticationMethod",
];
const WRITE_STRENGTHS: &[&str] = &[
    "Policy.ReadWrite.ConditionalAccess",
    "Policy.ReadWrite.AuthenticationMethod",
];
const READ_ROLES: &[&str] = &[
    "RoleManagement.Read.Directory",
    "RoleManagement.Read.All",
    "RoleManagement.ReadWrite.Directory",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const READ_ORGANIZATION: &[&str] = &[
    "Organization.Read.All",
    "Organization.ReadWrite.All",
    "LicenseAssignment.Read.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];

/// The Conditional Access resources and the directory reads that go with them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaRoute {
    /// `identity/conditionalAccess/policies`
    Policies,
    /// `…/policies/{id}`
    Policy(String),
    /// `identity/conditionalAccess/namedLocations`
    Locations,
    /// `…/namedLocations/{id}`
    Location(String),
    /// `…/deletedItems/policies[/{id}]`
    DeletedPolicies(Option<String>),
    /// `…/deletedItems/namedLocations[/{id}]`
    DeletedLocations(Option<String>),
    /// `POST …/deletedItems/policies/{id}/restore`
    RestorePolicy(String),
    /// `POST …/deletedItems/namedLocations/{id}/restore`
    RestoreLocation(String),
    /// `policies/authenticationStrengthPolicies` or its alias; the entity set for contexts.
    Strengths(&'static str),
    /// One strength, with the entity set it was reached through.
    Strength(&'static str, String),
    /// `…/{id}/updateAllowedCombinations`
    UpdateCombinations(String),
    /// v1.0 `identity/conditionalAccess/templates[/{id}]`
    Templates(Option<String>),
    /// `directoryRoleTemplates[/{id}]`
    RoleTemplates(Option<String>),
    /// `roleManagement/directory/roleAssignments`
    RoleAssignments,
    /// `subscribedSkus`
    SubscribedSkus,
}

const STRENGTHS_SET: &str = "policies/authenticationStrengthPolicies";
const STRENGTHS_ALIAS_SET: &str = "identity/conditionalAccess/authenticationStrength/policies";

/// The route of a path (segments after the version), or `None` when it is not one of these.
pub fn route(version: ApiVersion, segments: &[&str]) -> Option<Result<CaRoute, GraphError>> {
    let lower: Vec<String> = segments.iter().map(|s| s.to_ascii_lowercase()).collect();
    let l: Vec<&str> = lower.iter().map(String::as_str).collect();
    let id = |i: usize| segments[i].to_string();
    let strength = |set: &'static str, rest: &[&str], at: usize| match rest {
        [] => Some(CaRoute::Strengths(set)),
        [_] => Some(CaRoute::Strength(set, id(at))),
        [_, "updateallowedcombinations"] => Some(CaRoute::UpdateCombinations(id(at))),
        _ => None,
    };
    let r = match l.as_slice() {
        ["identity", "conditionalaccess", "policies"] => Some(CaRoute::Policies),
        ["identity", "conditionalaccess", "policies", _] => Some(CaRoute::Policy(id(3))),
        ["identity", "conditionalaccess", "namedlocations"] => Some(CaRoute::Locations),
        ["identity", "conditionalaccess", "namedlocations", _] => Some(CaRoute::Location(id(3))),
        ["identity", "conditionalaccess", "deleteditems", "policies"] => {
            Some(CaRoute::DeletedPolicies(None))
        }
        [
            "identity",
            "conditionalaccess",
            "deleteditems",
            "policies",
            _,
        ] => Some(CaRoute::DeletedPolicies(Some(id(4)))),
        [
            "identity",
            "conditionalaccess",
            "deleteditems",
            "namedlocations",
        ] => Some(CaRoute::DeletedLocations(None)),
        [
            "identity",
            "conditionalaccess",
            "deleteditems",
            "namedlocations",
            _,
        ] => Some(CaRoute::DeletedLocations(Some(id(4)))),
        [
            "identity",
            "conditionalaccess",
            "deleteditems",
            kind,
            _,
            "restore",
        ] => match *kind {
            "policies" => Some(CaRoute::RestorePolicy(id(4))),
            "namedlocations" => Some(CaRoute::RestoreLocation(id(4))),
            _ => None,
        },
        ["policies", "authenticationstrengthpolicies", rest @ ..] => {
            strength(STRENGTHS_SET, rest, 2)
        }
        [
            "identity",
            "conditionalaccess",
            "authenticationstrength",
            "policies",
            rest @ ..,
        ] => strength(STRENGTHS_ALIAS_SET, rest, 4),
        ["identity", "conditionalaccess", "templates", rest @ ..] if rest.len() <= 1 => {
            if version == ApiVersion::Beta {
                return Some(Err(GraphError::no_segment(segments[2])));
            }
            Some(CaRoute::Templates(rest.first().map(|_| id(3))))
        }
        ["directoryroletemplates"] => Some(CaRoute::RoleTemplates(None)),
        ["directoryroletemplates", _] => Some(CaRoute::RoleTemplates(Some(id(1)))),
        ["rolemanagement", "directory", "roleassignments"] => Some(CaRoute::RoleAssignments),
        ["subscribedskus"] => Some(CaRoute::SubscribedSkus),
        _ => None,
    };
    r.map(Ok)
}

/// The permissions that allow `method` on `route`; 405 when the method is not served.
pub fn permissions(route: &CaRoute, method: &str) -> Result<&'static [&'static str], GraphError> {
    use CaRoute as R;
    let allowed: Option<&'static [&'static str]> = match (route, method) {
        (R::Policies | R::Locations, "POST")
        | (R::Policy(_) | R::Location(_), "PATCH" | "DELETE")
        | (R::RestorePolicy(_) | R::RestoreLocation(_), "POST") => Some(WRITE_CA),
        (
            R::Policies
            | R::Policy(_)
            | R::Locations
            | R::Location(_)
            | R::DeletedPolicies(_)
            | R::DeletedLocations(_)
            | R::Templates(_),
            "GET",
        ) => Some(READ_CA),
        (R::Strengths(_) | R::Strength(..), "GET") => Some(READ_STRENGTHS),
        (R::Strengths(_), "POST")
        | (R::Strength(..), "PATCH" | "DELETE")
        | (R::UpdateCombinations(_), "POST") => Some(WRITE_STRENGTHS),
        (R::RoleTemplates(_) | R::RoleAssignments, "GET") => Some(READ_ROLES),
        (R::SubscribedSkus, "GET") => Some(READ_ORGANIZATION),
        _ => None,
    };
    allowed.ok_or_else(GraphError::method_not_allowed)
}

impl CaRoute {
    /// Whether a write to this route carries a JSON body (the restore actions take none).
    pub fn takes_body(&self) -> bool {
        !matches!(
            self,
            CaRoute::RestorePolicy(_) | CaRoute::RestoreLocation(_)
        )
    }
}

/// Serves a GET.
pub fn read(
    version: ApiVersion,
    slot: &TenantSlot,
    route: CaRoute,
    query: &[(String, String)],
) -> Result<ApiResponse, GraphError> {
    let t = &slot.tenant;
    match route {
        CaRoute::Policies => policies::read(version, t, false, None),
        CaRoute::Policy(id) => policies::read(version, t, false, Some(&id)),
        CaRoute::DeletedPolicies(id) => policies::read(version, t, true, id.as_deref()),
        CaRoute::Locations => locations::read(version, t, false, None),
        CaRoute::Location(id) => locations::read(version, t, false, Some(&id)),
        CaRoute::DeletedLocations(id) => locations::read(version, t, true, id.as_deref()),
        CaRoute::Strengths(set) => Ok(strengths::list(version, t, set)),
        CaRoute::Strength(set, id) => strengths::get(version, t, set, &id),
        CaRoute::Templates(id) => catalogue::templates(id.as_deref()),
        CaRoute::RoleTemplates(id) => catalogue::role_templates(version, id.as_deref()),
        CaRoute::RoleAssignments => catalogue::role_assignments(version, t, query),
        CaRoute::SubscribedSkus => Ok(catalogue::subscribed_skus(version, t)),
        CaRoute::UpdateCombinations(_)
        | CaRoute::RestorePolicy(_)
        | CaRoute::RestoreLocation(_) => Err(GraphError::method_not_allowed()),
    }
}

/// Serves a POST, PATCH or DELETE. `body` is `Null` for DELETE.
pub fn write(
    version: ApiVersion,
    tenant: &mut Tenant,
    route: CaRoute,
    method: &str,
    body: &Value,
) -> Result<ApiResponse, GraphError> {
    if matches!(
        route,
        CaRoute::Policies
            | CaRoute::Policy(_)
            | CaRoute::Locations
            | CaRoute::Location(_)
            | CaRoute::RestorePolicy(_)
            | CaRoute::RestoreLocation(_)
    ) && tenant.licence() == Licence::Free
    {
        return Err(GraphError::new(
            403,
            "Forbidden",
            "Conditional Access requires a Microsoft Entra ID P1 or P2 licence, and this tenant has neither.",
        ));
    }
    match (route, method) {
        (CaRoute::Policies, _) => policies::create(version, tenant, body),
        (CaRoute::Policy(id), "DELETE") => policies::delete(tenant, &id),
        (CaRoute::Policy(id), _) => policies::update(version, tenant, &id, body),
        (CaRoute::Locations, _) => locations::create(version, tenant, body),
        (CaRoute::Location(id), "DELETE") => locations::delete(tenant, &id),
        (CaRoute::Location(id), _) => locations::update(version, tenant, &id, body),
        (CaRoute::Strengths(set), _) => strengths::create(version, tenant, set, body),
        (CaRoute::Strength(_, id), "DELETE") => strengths::delete(tenant, &id),
        (CaRoute::Strength(_, id), _) => strengths::update(version, tenant, &id, body),
        (CaRoute::RestorePolicy(id), _) => policies::restore(version, tenant, &id),
        (CaRoute::RestoreLocation(id), _) => locations::restore(version, tenant, &id),
        (CaRoute::UpdateCombinations(id), _) => {
            strengths::update_combinations(version, tenant, &id, body)
        }
        _ => Err(GraphError::method_not_allowed()),
    }
}

/// `https://graph.microsoft.com/{version}/$metadata#{set}`
fn context(version: ApiVersion, set: &str) -> String {
    format!("{CONTEXT_BASE}/{}/$metadata#{set}", version.segment())
}

/// A collection response: `@odata.context` and `value`.
fn collection(version: ApiVersion, set: &str, value: Vec<Value>) -> ApiResponse {
    ApiResponse::ok(serde_json::json!({
        "@odata.context": context(version, set),
        "value": value,
    }))
}

/// One entity with its `@odata.context` first.
fn entity(version: ApiVersion, set: &str, value: Value, status: u16) -> ApiResponse {
    let body = super::directory::annotate(
        value,
        "@odata.context",
        context(version, &format!("{set}/$entity")),
    );
    let mut r = ApiResponse::ok(body);
    r.status = status;
    r
}

/// The position of the object with this id, or a 404.
fn find(items: &[Value], id: &str) -> Result<usize, GraphError> {
    position(items, id).ok_or_else(|| GraphError::not_found(id))
}

/// A collection (no `id`) or one of its members, each rendered with `render`.
fn list_or_get(
    version: ApiVersion,
    set: &str,
    items: &[Value],
    id: Option<&str>,
    render: impl Fn(&Value) -> Value,
) -> Result<ApiResponse, GraphError> {
    match id {
        None => Ok(collection(
            version,
            set,
            items.iter().map(&render).collect(),
        )),
        Some(id) => Ok(entity(version, set, render(&items[find(items, id)?]), 200)),
    }
}

/// The position of the object with this id (case-insensitive).
fn position(items: &[Value], id: &str) -> Option<usize> {
    items
        .iter()
        .position(|v| v["id"].as_str().is_some_and(|i| i.eq_ignore_ascii_case(id)))
}

fn read_only(prop: &str) -> GraphError {
    GraphError::bad_request(format!(
        "The property '{prop}' is read-only and cannot be set."
    ))
}

/// Refuses the read-only members of a write body.
fn refuse_read_only(body: &Value, props: &[&str]) -> Result<(), GraphError> {
    match props.iter().find(|p| body.get(**p).is_some()) {
        Some(p) => Err(read_only(p)),
        None => Ok(()),
    }
}

fn schema_error(v: SchemaViolation) -> GraphError {
    GraphError::bad_request(v.message)
}

/// A fresh object id.
fn new_id() -> String {
    super::control::new_request_id()
}

fn now() -> String {
    crate::support::time::now_rfc3339()
}
