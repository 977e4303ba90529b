//! `users`, `groups`, `groups/{id}/transitiveMembers`, and the beta per-user
//! `authentication/signInPreferences` and `authentication/requirements`.

use serde_json::{Value, json};

use super::odata::{Field, FieldKind, Filter, Query, page};
use super::state::{Group, MemberRef, Tenant, User};
use super::{ApiResponse, ApiVersion, GraphError, TenantSlot};
use crate::msgraph::schema::Schema;
use crate::msgraph::{PerUserMfaState, is_mfa_registration};

const CONTEXT_BASE: &str = "https://graph.microsoft.com";
const MAX_TOP: usize = 999;
const DEFAULT_TOP: usize = 100;

const USER_FIELDS: &[(&str, FieldKind)] = &[
    ("id", FieldKind::Str),
    ("userPrincipalName", FieldKind::Str),
    ("displayName", FieldKind::Str),
    ("userType", FieldKind::Str),
    ("accountEnabled", FieldKind::Bool),
];
const GROUP_FIELDS: &[(&str, FieldKind)] =
    &[("id", FieldKind::Str), ("displayName", FieldKind::Str)];

/// A request for a collection: where it was sent and its query.
pub struct CollectionRequest<'a> {
    /// API version.
    pub version: ApiVersion,
    /// Scheme and authority the client used, for `@odata.nextLink`.
    pub base_url: &'a str,
    /// Request path including the version segment.
    pub path: &'a str,
    /// Query pairs as sent.
    pub query: &'a [(String, String)],
    /// Whether `ConsistencyLevel: eventual` was sent (needed for `$count` on directory objects).
    pub eventual: bool,
}

/// Whether a query's `$select` names one of the properties Graph leaves out of a user by
/// default.
fn selects_extended(query: &[(String, String)]) -> bool {
    query.iter().any(|(k, v)| {
        k == "$select"
            && v.split(',')
                .any(|s| matches!(s.trim(), "accountEnabled" | "userType"))
    })
}

/// A user as Graph returns it: the default properties, and with `extended` the ones only a
/// `$select` brings (`accountEnabled`, and `userType` as `Member` or `Guest`).
fn user_json(u: &User, extended: bool) -> Value {
    let (given, surname) = u
        .display_name
        .split_once(' ')
        .unwrap_or((&u.display_name, ""));
    let mut v = json!({
        "businessPhones": [],
        "displayName": u.display_name,
        "givenName": given,
        "jobTitle": null,
        "mail": if u.user_type == "member" { Value::String(u.user_principal_name.clone()) } else { Value::Null },
        "mobilePhone": null,
        "officeLocation": null,
        "preferredLanguage": null,
        "surname": surname,
        "userPrincipalName": u.user_principal_name,
        "id": u.id,
    });
    if extended {
        v["accountEnabled"] = json!(u.account_enabled);
        v["userType"] = json!(if u.user_type == "guest" {
            "Guest"
        } else {
            "Member"
        });
    }
    v
}

fn group_json(g: &Group) -> Value {
    json!({
        "id": g.id,
        "deletedDateTime": null,
        "classification": null,
        "createdDateTime": "2024-01-01T00:00:00Z",
        "description": null,
        "displayName": g.display_name,
        "groupTypes": [],
        "mail": null,
        "mailEnabled": false,
        "mailNickname": g.display_name.replace(' ', ""),
        "securityEnabled": true,
        "visibility": null,
    })
}

/// Puts an annotation first in an object, where Graph writes it.
pub fn annotate(v: Value, key: &str, value: String) -> Value {
    match v {
        Value::Object(mut m) => {
            let mut out = serde_json::Map::new();
            out.insert(key.to_string(), Value::String(value));
            out.append(&mut m);
            Value::Object(out)
        }
        other => other,
    }
}

/// The `@odata.context` of a single entity.
pub fn entity_context(version: ApiVersion, set: &str) -> String {
    format!(
        "{CONTEXT_BASE}/{}/$metadata#{set}/$entity",
        version.segment()
    )
}

fn with_type(v: Value, ty: &str) -> Value {
    annotate(v, "@odata.type", format!("#microsoft.graph.{ty}"))
}

/// One page of a collection. `matches` are the positions of every matching item; only the
/// page's items are rendered, so paging through a million users costs what a page costs.
fn collection<T: Copy>(
    req: &CollectionRequest<'_>,
    context: &str,
    q: &Query,
    matches: &[T],
    render: impl Fn(T) -> Value,
) -> Result<ApiResponse, GraphError> {
    if q.count && !req.eventual {
        return Err(GraphError::bad_request(
            "The request uses $count, which requires the ConsistencyLevel header set to eventual.",
        ));
    }
    let total = matches.len();
    let (range, next) = page(req.base_url, req.path, req.query, q, DEFAULT_TOP, total);
    let mut body = serde_json::Map::new();
    body.insert(
        "@odata.context".into(),
        json!(format!(
            "{CONTEXT_BASE}/{}/$metadata#{context}",
            req.version.segment()
        )),
    );
    if q.count && q.skip == 0 {
        body.insert("@odata.count".into(), json!(total));
    }
    if let Some(next) = next {
        body.insert("@odata.nextLink".into(), json!(next));
    }
    let page_items: Vec<Value> = matches[range]
        .iter()
        .map(|&m| q.project(render(m)))
        .collect();
    body.insert("value".into(), Value::Array(page_items));
    Ok(ApiResponse::ok(Value::Object(body)))
}

fn user_field<'a>(u: &'a User, name: &str) -> Field<'a> {
    match name {
        "id" => Field::Str(&u.id),
        "userPrincipalName" => Field::Str(&u.user_principal_name),
        "displayName" => Field::Str(&u.display_name),
        "userType" => Field::Str(&u.user_type),
        "accountEnabled" => Field::Bool(u.account_enabled),
        _ => Field::Null,
    }
}

/// A filtered, paged collection over `len` records: `field` exposes a record's properties
/// to `$filter`, `render` turns a record into JSON.
fn filtered_collection<'a>(
    req: &CollectionRequest<'_>,
    context: &str,
    fields: &[(&str, FieldKind)],
    len: usize,
    field: impl Fn(usize, &str) -> Field<'a>,
    render: impl Fn(usize) -> Value,
) -> Result<ApiResponse, GraphError> {
    let q = Query::parse(req.query, MAX_TOP)?;
    let filter = q
        .filter
        .as_deref()
        .map(|f| Filter::parse(f, fields))
        .transpose()?;
    let matches: Vec<usize> = (0..len)
        .filter(|&i| filter.as_ref().is_none_or(|f| f.matches(&|n| field(i, n))))
        .collect();
    collection(req, context, &q, &matches, render)
}

/// GET `/users`. `accountEnabled` and `userType`, outside the default set of properties,
/// come only when `$select` names them, as Graph returns them.
pub fn list_users(req: &CollectionRequest<'_>, tenant: &Tenant) -> Result<ApiResponse, GraphError> {
    let users = &tenant.users;
    filtered_collection(
        req,
        "users",
        USER_FIELDS,
        users.len(),
        |i, n| user_field(&users[i], n),
        |i| user_json(&users[i], selects_extended(req.query)),
    )
}

/// GET `/users/{id | userPrincipalName}`, with its `$select` (which alone brings
/// `accountEnabled` and `userType`).
pub fn get_user(
    version: ApiVersion,
    slot: &TenantSlot,
    key: &str,
    query: &[(String, String)],
) -> Result<ApiResponse, GraphError> {
    let i = slot
        .index
        .user(key)
        .ok_or_else(|| GraphError::not_found(key))?;
    let select = Query::parse(query, usize::MAX)?;
    let v = select.project(user_json(&slot.tenant.users[i], selects_extended(query)));
    Ok(ApiResponse::ok(annotate(
        v,
        "@odata.context",
        entity_context(version, "users"),
    )))
}

/// GET `/groups`, with `$filter=displayName eq '…'` as mfactl resolves names.
pub fn list_groups(
    req: &CollectionRequest<'_>,
    tenant: &Tenant,
) -> Result<ApiResponse, GraphError> {
    let groups = &tenant.groups;
    filtered_collection(
        req,
        "groups",
        GROUP_FIELDS,
        groups.len(),
        |i, n| match n {
            "id" => Field::Str(&groups[i].id),
            "displayName" => Field::Str(&groups[i].display_name),
            _ => Field::Null,
        },
        |i| group_json(&groups[i]),
    )
}

/// GET `/groups/{id}`.
pub fn get_group(
    version: ApiVersion,
    slot: &TenantSlot,
    id: &str,
) -> Result<ApiResponse, GraphError> {
    let i = slot
        .index
        .group(id)
        .ok_or_else(|| GraphError::not_found(id))?;
    let v = group_json(&slot.tenant.groups[i]);
    Ok(ApiResponse::ok(annotate(
        v,
        "@odata.context",
        entity_context(version, "groups"),
    )))
}

/// GET `/groups/{id}/members` (direct) or `/groups/{id}/transitiveMembers` (nested expanded).
pub fn list_members(
    req: &CollectionRequest<'_>,
    slot: &TenantSlot,
    id: &str,
    transitive: bool,
) -> Result<ApiResponse, GraphError> {
    let g = slot
        .index
        .group(id)
        .ok_or_else(|| GraphError::not_found(id))?;
    let q = Query::parse(req.query, MAX_TOP)?;
    if q.filter.is_some() {
        return Err(GraphError::bad_request(
            "$filter on members requires the ConsistencyLevel header set to eventual and $count=true.",
        ));
    }
    let tenant = &slot.tenant;
    let render = |m: MemberRef| match m {
        MemberRef::User(u) => with_type(user_json(&tenant.users[u], false), "user"),
        MemberRef::Group(g) => with_type(group_json(&tenant.groups[g]), "group"),
    };
    if transitive {
        let members = slot.index.transitive_members(tenant, g);
        collection(req, "directoryObjects", &q, &members, render)
    } else {
        let members: Vec<MemberRef> = tenant.groups[g]
            .members
            .iter()
            .filter_map(|m| slot.index.member(m))
            .collect();
        collection(req, "directoryObjects", &q, &members, render)
    }
}

/// GET `/users/{id}/authentication/signInPreferences` (beta).
pub fn get_sign_in_preferences(slot: &TenantSlot, key: &str) -> Result<ApiResponse, GraphError> {
    let i = slot
        .index
        .user(key)
        .ok_or_else(|| GraphError::not_found(key))?;
    let p = &slot.tenant.users[i].sign_in_preferences;
    Ok(ApiResponse::ok(json!({
        "isSystemPreferredAuthenticationMethodEnabled": p.is_system_preferred_authentication_method_enabled.unwrap_or(false),
        "userPreferredMethodForSecondaryAuthentication": p.user_preferred_method_for_secondary_authentication,
    })))
}

/// PATCH `/users/{id}/authentication/signInPreferences` (beta): 204.
pub fn patch_sign_in_preferences(
    slot: &mut TenantSlot,
    key: &str,
    body: &Value,
) -> Result<ApiResponse, GraphError> {
    let i = slot
        .index
        .user(key)
        .ok_or_else(|| GraphError::not_found(key))?;
    let checked = Schema::get()
        .check_object(ApiVersion::Beta, "signInPreferences", body)
        .map_err(|v| GraphError::bad_request(v.message))?;
    let user = &mut slot.tenant.users[i];
    if let Some(v) = checked.get("userPreferredMethodForSecondaryAuthentication") {
        match v.as_str() {
            Some("unknownFutureValue") => {
                return Err(GraphError::bad_request(
                    "Cannot convert the literal 'unknownFutureValue' to the expected type 'microsoft.graph.userDefaultAuthenticationMethodType'.",
                ));
            }
            Some(m) => {
                let needed = crate::msgraph::PreferredMethod::parse(m)
                    .map(crate::msgraph::PreferredMethod::needs)
                    .unwrap_or_default();
                if !needed
                    .iter()
                    .any(|n| user.methods_registered.iter().any(|r| r == n))
                {
                    return Err(GraphError::bad_request(format!(
                        "The user has not registered a method that supports '{m}' as the default sign-in method."
                    )));
                }
                user.sign_in_preferences
                    .user_preferred_method_for_secondary_authentication = Some(m.to_string());
            }
            None => {
                user.sign_in_preferences
                    .user_preferred_method_for_secondary_authentication = None
            }
        }
    }
    if let Some(v) = checked.get("isSystemPreferredAuthenticationMethodEnabled") {
        user.sign_in_preferences
            .is_system_preferred_authentication_method_enabled = v.as_bool();
    }
    Ok(ApiResponse::no_content())
}

/// GET `/users/{id}/authentication/requirements` (beta).
pub fn get_requirements(slot: &TenantSlot, key: &str) -> Result<ApiResponse, GraphError> {
    let i = slot
        .index
        .user(key)
        .ok_or_else(|| GraphError::not_found(key))?;
    Ok(ApiResponse::ok(
        json!({ "perUserMfaState": slot.tenant.users[i].per_user_mfa_state }),
    ))
}

/// PATCH `/users/{id}/authentication/requirements` (beta): 204.
pub fn patch_requirements(
    slot: &mut TenantSlot,
    key: &str,
    body: &Value,
) -> Result<ApiResponse, GraphError> {
    let i = slot
        .index
        .user(key)
        .ok_or_else(|| GraphError::not_found(key))?;
    let checked = Schema::get()
        .check_object(ApiVersion::Beta, "strongAuthenticationRequirements", body)
        .map_err(|v| GraphError::bad_request(v.message))?;
    match checked.get("perUserMfaState").map(|v| v.as_str()) {
        Some(Some(s)) if let Some(state) = PerUserMfaState::parse(s) => {
            let user = &mut slot.tenant.users[i];
            let registered = user
                .methods_registered
                .iter()
                .any(|m| is_mfa_registration(m));
            user.per_user_mfa_state = state.as_stored(registered).as_str().to_string();
        }
        Some(_) => {
            return Err(GraphError::bad_request(
                "Invalid value specified for property 'perUserMfaState': must be disabled, enabled or enforced.",
            ));
        }
        None => {}
    }
    Ok(ApiResponse::no_content())
}
