//! Hardware OATH tokens and Temporary Access Passes (`shared/graph/conditional-access/FACTS.md`
//! §E, §F): the beta token inventory under `directory/authenticationMethodDevices`, the
//! users' beta `hardwareOathMethods` (assign, activate, deactivate, unassign) and the
//! users' `temporaryAccessPassMethods` (v1.0 and beta).
//!
//! This file routes and authorises; [`devices`], [`oath_methods`] and [`passes`] implement
//! the resources, [`totp`] checks verification codes.

mod devices;
mod oath_methods;
mod passes;
pub mod totp;

use serde_json::{Map, Value, json};

use super::state::{Tenant, TokenStatus};
use super::{ApiResponse, ApiVersion, GraphError, TenantSlot};
use crate::msgraph::schema::SchemaViolation;

const READ_DEVICES: &[&str] = &["Policy.Read.All", "Policy.ReadWrite.AuthenticationMethod"];
const WRITE_DEVICES: &[&str] = &["Policy.ReadWrite.AuthenticationMethod"];
const READ_OATH: &[&str] = &[
    "UserAuthenticationMethod.Read.All",
    "UserAuthenticationMethod.ReadWrite.All",
    "UserAuthMethod-HardwareOATH.Read.All",
    "UserAuthMethod-HardwareOATH.ReadWrite.All",
];
const WRITE_OATH: &[&str] = &[
    "UserAuthenticationMethod.ReadWrite.All",
    "UserAuthMethod-HardwareOATH.ReadWrite.All",
];
const READ_PASSES: &[&str] = &[
    "UserAuthenticationMethod.Read.All",
    "UserAuthenticationMethod.ReadWrite.All",
    "UserAuthMethod-TAP.ReadWrite.All",
];
const WRITE_PASSES: &[&str] = &[
    "UserAuthenticationMethod.ReadWrite.All",
    "UserAuthMethod-TAP.ReadWrite.All",
];

/// The report's name for an activated hardware OATH token.
const OATH_REGISTERED: &str = "hardwareOneTimePasscode";
/// The report's name for a Temporary Access Pass.
const PASS_REGISTERED: &str = "temporaryAccessPass";

/// The routes of hardware OATH tokens and Temporary Access Passes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialRoute {
    /// beta `directory/authenticationMethodDevices/hardwareOathDevices`
    Devices,
    /// `…/hardwareOathDevices/{id}`
    Device(String),
    /// beta `users/{user}/authentication/hardwareOathMethods`
    OathMethods(String),
    /// `…/hardwareOathMethods/{id}`: user, method id.
    OathMethod(String, String),
    /// `POST …/hardwareOathMethods/{id}/activate`
    Activate(String, String),
    /// `POST …/hardwareOathMethods/{id}/deactivate`
    Deactivate(String, String),
    /// `POST …/hardwareOathMethods/assignAndActivateBySerialNumber`
    AssignAndActivateBySerialNumber(String),
    /// `users/{user}/authentication/temporaryAccessPassMethods`
    Passes(String),
    /// `…/temporaryAccessPassMethods/{id}`: user, pass id.
    Pass(String, String),
}

/// The route of a path (segments after the version), or `None` when it is not one of these.
pub fn route(
    version: ApiVersion,
    segments: &[&str],
) -> Option<Result<CredentialRoute, GraphError>> {
    use CredentialRoute as R;
    let lower: Vec<String> = segments.iter().map(|s| s.to_ascii_lowercase()).collect();
    let l: Vec<&str> = lower.iter().map(String::as_str).collect();
    let s = |i: usize| segments[i].to_string();
    let beta_only = |at: usize, r: Option<R>| match (version, r) {
        (_, None) => None,
        (ApiVersion::V1, Some(_)) => Some(Err(GraphError::no_segment(segments[at]))),
        (ApiVersion::Beta, Some(r)) => Some(Ok(r)),
    };
    match l.as_slice() {
        [
            "directory",
            "authenticationmethoddevices",
            "hardwareoathdevices",
            rest @ ..,
        ] => beta_only(
            1,
            match rest {
                [] => Some(R::Devices),
                [_] => Some(R::Device(s(3))),
                _ => None,
            },
        ),
        [
            "users",
            _,
            "authentication",
            "hardwareoathmethods",
            rest @ ..,
        ] => beta_only(
            3,
            match rest {
                [] => Some(R::OathMethods(s(1))),
                ["assignandactivatebyserialnumber"] => {
                    Some(R::AssignAndActivateBySerialNumber(s(1)))
                }
                [_] => Some(R::OathMethod(s(1), s(4))),
                [_, "activate"] => Some(R::Activate(s(1), s(4))),
                [_, "deactivate"] => Some(R::Deactivate(s(1), s(4))),
                _ => None,
            },
        ),
        ["users", _, "authentication", "temporaryaccesspassmethods"] => Some(Ok(R::Passes(s(1)))),
        [
            "users",
            _,
            "authentication",
            "temporaryaccesspassmethods",
            _,
        ] => Some(Ok(R::Pass(s(1), s(4)))),
        _ => None,
    }
}

/// The permissions that allow `method` on `route`; 405 when the method is not served.
pub fn permissions(
    route: &CredentialRoute,
    method: &str,
) -> Result<&'static [&'static str], GraphError> {
    use CredentialRoute as R;
    let allowed: Option<&'static [&'static str]> = match (route, method) {
        (R::Devices | R::Device(_), "GET") => Some(READ_DEVICES),
        (R::Devices, "POST" | "PATCH") | (R::Device(_), "PATCH" | "DELETE") => Some(WRITE_DEVICES),
        (R::OathMethods(_) | R::OathMethod(..), "GET") => Some(READ_OATH),
        (R::OathMethods(_), "POST")
        | (R::OathMethod(..), "DELETE")
        | (R::Activate(..) | R::Deactivate(..) | R::AssignAndActivateBySerialNumber(_), "POST") => {
            Some(WRITE_OATH)
        }
        (R::Passes(_) | R::Pass(..), "GET") => Some(READ_PASSES),
        (R::Passes(_), "POST") | (R::Pass(..), "DELETE") => Some(WRITE_PASSES),
        _ => None,
    };
    allowed.ok_or_else(GraphError::method_not_allowed)
}

impl CredentialRoute {
    /// Whether a write to this route carries a JSON body (`deactivate` takes none).
    pub fn takes_body(&self) -> bool {
        !matches!(self, CredentialRoute::Deactivate(..))
    }
}

/// Serves a GET.
pub fn read(
    version: ApiVersion,
    slot: &TenantSlot,
    route: CredentialRoute,
) -> Result<ApiResponse, GraphError> {
    use CredentialRoute as R;
    match route {
        R::Devices => Ok(devices::list(version, &slot.tenant)),
        R::Device(id) => devices::get(version, &slot.tenant, &id),
        R::OathMethods(user) => oath_methods::list(version, slot, &user),
        R::OathMethod(user, id) => oath_methods::get(version, slot, &user, &id),
        R::Passes(user) => passes::list(version, slot, &user),
        R::Pass(user, id) => passes::get(version, slot, &user, &id),
        R::Activate(..) | R::Deactivate(..) | R::AssignAndActivateBySerialNumber(_) => {
            Err(GraphError::method_not_allowed())
        }
    }
}

/// Serves a POST, PATCH or DELETE. `body` is `Null` for DELETE and `deactivate`.
pub fn write(
    version: ApiVersion,
    slot: &mut TenantSlot,
    route: CredentialRoute,
    method: &str,
    body: &Value,
) -> Result<ApiResponse, GraphError> {
    use CredentialRoute as R;
    match (route, method) {
        (R::Devices, "PATCH") => devices::bulk(version, slot, body),
        (R::Devices, _) => devices::create(version, slot, body),
        (R::Device(id), "DELETE") => devices::delete(&mut slot.tenant, &id),
        (R::Device(id), _) => devices::update(slot, &id, body),
        (R::OathMethods(user), _) => oath_methods::assign(version, slot, &user, body),
        (R::OathMethod(user, id), _) => oath_methods::unassign(slot, &user, &id),
        (R::Activate(user, id), _) => oath_methods::activate(slot, &user, &id, body),
        (R::Deactivate(user, id), _) => oath_methods::deactivate(slot, &user, &id),
        (R::AssignAndActivateBySerialNumber(user), _) => {
            oath_methods::assign_and_activate_by_serial(slot, &user, body)
        }
        (R::Passes(user), _) => passes::create(version, slot, &user, body),
        (R::Pass(user, id), _) => passes::delete(slot, &user, &id),
    }
}

/// What `authentication/methods` lists for a method type the user has stored objects of:
/// their Temporary Access Pass (without its code) or their activated hardware OATH tokens.
/// `None` when nothing is stored for that type.
pub fn stored_methods(slot: &TenantSlot, user: usize, odata_type: &str) -> Option<Vec<Value>> {
    let t = &slot.tenant;
    let user_id = &t.users[user].id;
    let values: Vec<Value> = match odata_type {
        "temporaryAccessPassAuthenticationMethod" => t
            .credentials
            .temporary_access_passes
            .iter()
            .filter(|p| p.user_id.eq_ignore_ascii_case(user_id))
            .map(|p| passes::render(slot, user, p, None))
            .collect(),
        "hardwareOathAuthenticationMethod" => t
            .credentials
            .hardware_oath_devices
            .iter()
            .filter(|d| {
                d.status == TokenStatus::Activated
                    && d.assigned_to
                        .as_deref()
                        .is_some_and(|a| a.eq_ignore_ascii_case(user_id))
            })
            .map(|d| oath_methods::render(t, d))
            .collect(),
        _ => Vec::new(),
    };
    (!values.is_empty()).then_some(values)
}

/// Checks a loaded state: unique device ids and serial numbers, assignees and pass owners
/// that exist, at most one pass per user.
pub fn check_tenant(t: &Tenant) -> Result<(), String> {
    let user = |id: &str| t.users.iter().any(|u| u.id.eq_ignore_ascii_case(id));
    let mut ids = std::collections::HashSet::new();
    let mut serials = std::collections::HashSet::new();
    for d in &t.credentials.hardware_oath_devices {
        if !ids.insert(d.id.to_ascii_lowercase()) {
            return Err(format!("hardware OATH device id {} appears twice", d.id));
        }
        if !serials.insert(d.serial_number.to_ascii_lowercase()) {
            return Err(format!("serial number {} appears twice", d.serial_number));
        }
        let assigned = d.status != TokenStatus::Available;
        match &d.assigned_to {
            Some(u) if !user(u) => {
                return Err(format!("device {} is assigned to unknown user {u}", d.id));
            }
            None if assigned => {
                return Err(format!("device {} is {:?} but nobody's", d.id, d.status));
            }
            Some(_) if !assigned => {
                return Err(format!("device {} is available but assigned", d.id));
            }
            _ => {}
        }
    }
    let mut owners = std::collections::HashSet::new();
    for p in &t.credentials.temporary_access_passes {
        if !user(&p.user_id) {
            return Err(format!(
                "pass {} belongs to unknown user {}",
                p.id, p.user_id
            ));
        }
        if !owners.insert(p.user_id.to_ascii_lowercase()) {
            return Err(format!("user {} has two passes", p.user_id));
        }
    }
    Ok(())
}

/// The index of a user by id or UPN, or a 404.
fn user_index(slot: &TenantSlot, key: &str) -> Result<usize, GraphError> {
    slot.index
        .user(key)
        .ok_or_else(|| GraphError::not_found(key))
}

/// Adds (`present`) or removes a value of the user's `methodsRegistered`, and stamps the
/// record's `lastUpdatedDateTime` when it changes.
fn set_registered(tenant: &mut Tenant, user: usize, method: &str, present: bool) {
    let u = &mut tenant.users[user];
    let has = u.methods_registered.iter().any(|m| m == method);
    if has == present {
        return;
    }
    let mut methods: Vec<String> = u
        .methods_registered
        .iter()
        .filter(|m| *m != method)
        .cloned()
        .collect();
    if present {
        methods.push(method.to_string());
    }
    u.methods_registered = std::sync::Arc::new(methods);
    u.last_updated_date_time = now();
}

/// `https://graph.microsoft.com/{version}/$metadata#{set}`
fn context(version: ApiVersion, set: &str) -> String {
    format!(
        "https://graph.microsoft.com/{}/$metadata#{set}",
        version.segment()
    )
}

/// A collection response.
fn collection(version: ApiVersion, set: &str, value: Vec<Value>) -> ApiResponse {
    ApiResponse::ok(json!({"@odata.context": context(version, set), "value": value}))
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

/// `@odata.type` first, then the properties.
fn typed(odata_type: &str, properties: Map<String, Value>) -> Value {
    let mut out = Map::new();
    out.insert(
        "@odata.type".into(),
        json!(format!("#microsoft.graph.{odata_type}")),
    );
    out.extend(properties);
    Value::Object(out)
}

/// The body as an object, refusing members outside `allowed` (Graph's OData message) and
/// the read-only ones.
fn members<'a>(
    body: &'a Value,
    type_name: &str,
    allowed: &[&str],
    read_only: &[&str],
) -> Result<&'a Map<String, Value>, GraphError> {
    let m = body
        .as_object()
        .ok_or_else(|| GraphError::bad_request("The request body must be a JSON object."))?;
    for key in m.keys() {
        if key.starts_with('@') {
            continue;
        }
        if read_only.contains(&key.as_str()) {
            return Err(GraphError::bad_request(format!(
                "The property '{key}' is read-only and cannot be set."
            )));
        }
        if !allowed.contains(&key.as_str()) {
            return Err(GraphError::bad_request(
                SchemaViolation::unknown_property(key, type_name).message,
            ));
        }
    }
    Ok(m)
}

/// A fresh object id.
fn new_id() -> String {
    super::control::new_request_id()
}

fn now() -> String {
    crate::support::time::now_rfc3339()
}
