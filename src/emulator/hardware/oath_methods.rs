//! A user's beta `authentication/hardwareOathMethods` (FACTS-CA items 44, 46): assign a
//! token of the inventory (201), activate it with a verification code (204), deactivate it
//! (it "remains assigned"), assign and activate by serial number, and unassign (DELETE).
//! No token for guests; at most five OATH tokens or authenticator apps per user; an
//! activated token is a registered `hardwareOneTimePasscode`.

use serde_json::{Map, Value, json};

use super::devices::{self, position};
use super::{OATH_REGISTERED, collection, entity, members, set_registered, typed, user_index};
use crate::emulator::state::{HardwareOathDevice, Tenant, TokenStatus};
use crate::emulator::{ApiResponse, ApiVersion, GraphError, TenantSlot};

const TYPE: &str = "hardwareOathAuthenticationMethod";
/// "Users can have a combination of up to five OATH hardware tokens or authenticator
/// applications" (FACTS-CA item 46).
const MAX_OATH_PER_USER: usize = 5;
/// The report's name for a software OATH app, which counts towards the five.
const SOFTWARE_OATH: &str = "softwareOneTimePasscode";

/// The method wrapping a device: `{"@odata.type", "id", "device"}`, as in the bulk example,
/// whose device (of the declared type) carries no `@odata.type`.
pub(super) fn render(tenant: &Tenant, d: &HardwareOathDevice) -> Value {
    let mut device = devices::render(tenant, d);
    if let Some(o) = device.as_object_mut() {
        o.remove("@odata.type");
    }
    let mut m = Map::new();
    m.insert("id".into(), json!(d.id));
    m.insert("device".into(), device);
    typed(TYPE, m)
}

fn set(tenant: &Tenant, user: usize) -> String {
    format!(
        "users('{}')/authentication/hardwareOathMethods",
        tenant.users[user].id
    )
}

/// The user's tokens (assigned, activated or failed).
fn owned(tenant: &Tenant, user: usize) -> impl Iterator<Item = &HardwareOathDevice> {
    let id = &tenant.users[user].id;
    tenant
        .credentials
        .hardware_oath_devices
        .iter()
        .filter(move |d| {
            d.assigned_to
                .as_deref()
                .is_some_and(|a| a.eq_ignore_ascii_case(id))
        })
}

/// `GET …/hardwareOathMethods`
pub(super) fn list(
    version: ApiVersion,
    slot: &TenantSlot,
    key: &str,
) -> Result<ApiResponse, GraphError> {
    let user = user_index(slot, key)?;
    let t = &slot.tenant;
    let value = owned(t, user).map(|d| render(t, d)).collect();
    Ok(collection(version, &set(t, user), value))
}

/// `GET …/hardwareOathMethods/{id}`
pub(super) fn get(
    version: ApiVersion,
    slot: &TenantSlot,
    key: &str,
    id: &str,
) -> Result<ApiResponse, GraphError> {
    let user = user_index(slot, key)?;
    let i = owned_position(&slot.tenant, user, id)?;
    let t = &slot.tenant;
    let d = &t.credentials.hardware_oath_devices[i];
    Ok(entity(version, &set(t, user), render(t, d), 200))
}

/// `POST …/hardwareOathMethods` `{"device": {"id": …}}` → 201 with the method.
pub(super) fn assign(
    version: ApiVersion,
    slot: &mut TenantSlot,
    key: &str,
    body: &Value,
) -> Result<ApiResponse, GraphError> {
    let m = members(body, TYPE, &["device"], &["id"])?;
    let user = user_index(slot, key)?;
    let device_id = m
        .get("device")
        .and_then(|d| d.get("id"))
        .and_then(Value::as_str)
        .ok_or_else(|| GraphError::bad_request("'device' must name the token: {\"id\": \"…\"}."))?;
    let i = position(&slot.tenant, device_id)?;
    assign_device(slot, i, user)?;
    let t = &slot.tenant;
    let d = &t.credentials.hardware_oath_devices[i];
    Ok(entity(version, &set(t, user), render(t, d), 201))
}

/// `DELETE …/hardwareOathMethods/{id}` → 204: the token goes back to the inventory.
pub(super) fn unassign(
    slot: &mut TenantSlot,
    key: &str,
    id: &str,
) -> Result<ApiResponse, GraphError> {
    let user = user_index(slot, key)?;
    let i = owned_position(&slot.tenant, user, id)?;
    let d = &mut slot.tenant.credentials.hardware_oath_devices[i];
    d.assigned_to = None;
    d.status = TokenStatus::Available;
    refresh_registration(&mut slot.tenant, user);
    Ok(ApiResponse::no_content())
}

/// `POST …/hardwareOathMethods/{id}/activate` `{verificationCode, displayName}` → 204.
pub(super) fn activate(
    slot: &mut TenantSlot,
    key: &str,
    id: &str,
    body: &Value,
) -> Result<ApiResponse, GraphError> {
    let m = members(body, TYPE, &["verificationCode", "displayName"], &[])?;
    let user = user_index(slot, key)?;
    let i = owned_position(&slot.tenant, user, id)?;
    activate_device(&mut slot.tenant, user, i, m)
}

/// `POST …/hardwareOathMethods/{id}/deactivate` → 204; the token stays assigned.
pub(super) fn deactivate(
    slot: &mut TenantSlot,
    key: &str,
    id: &str,
) -> Result<ApiResponse, GraphError> {
    let user = user_index(slot, key)?;
    let i = owned_position(&slot.tenant, user, id)?;
    slot.tenant.credentials.hardware_oath_devices[i].status = TokenStatus::Assigned;
    refresh_registration(&mut slot.tenant, user);
    Ok(ApiResponse::no_content())
}

/// `POST …/hardwareOathMethods/assignAndActivateBySerialNumber`
/// `{verificationCode, serialNumber, displayName}` → 204.
pub(super) fn assign_and_activate_by_serial(
    slot: &mut TenantSlot,
    key: &str,
    body: &Value,
) -> Result<ApiResponse, GraphError> {
    let m = members(
        body,
        TYPE,
        &["verificationCode", "serialNumber", "displayName"],
        &[],
    )?;
    let user = user_index(slot, key)?;
    let serial = m
        .get("serialNumber")
        .and_then(Value::as_str)
        .ok_or_else(|| GraphError::bad_request("'serialNumber' is required."))?;
    let i = slot
        .tenant
        .credentials
        .hardware_oath_devices
        .iter()
        .position(|d| d.serial_number.eq_ignore_ascii_case(serial))
        .ok_or_else(|| GraphError::not_found(serial))?;
    assign_device(slot, i, user)?;
    activate_device(&mut slot.tenant, user, i, m)
}

/// Assigns the device at `device` to the user at `user`: a token already theirs stays as
/// it is; one of someone else is refused ("only assign each token to a single user").
pub(super) fn assign_device(
    slot: &mut TenantSlot,
    device: usize,
    user: usize,
) -> Result<(), GraphError> {
    let user_id = slot.tenant.users[user].id.clone();
    match &slot.tenant.credentials.hardware_oath_devices[device].assigned_to {
        Some(a) if a.eq_ignore_ascii_case(&user_id) => return Ok(()),
        Some(_) => {
            return Err(GraphError::bad_request(
                "The hardware OATH token is already assigned to another user.",
            ));
        }
        None => {}
    }
    check_assignee(slot, user)?;
    let d = &mut slot.tenant.credentials.hardware_oath_devices[device];
    d.assigned_to = Some(user_id);
    d.status = TokenStatus::Assigned;
    Ok(())
}

/// Refuses guests and users who already have five OATH tokens or apps.
pub(super) fn check_assignee(slot: &TenantSlot, user: usize) -> Result<(), GraphError> {
    let u = &slot.tenant.users[user];
    if u.user_type.eq_ignore_ascii_case("guest") {
        return Err(GraphError::bad_request(
            "Hardware OATH tokens can't be assigned to guest users.",
        ));
    }
    let apps = usize::from(u.methods_registered.iter().any(|m| m == SOFTWARE_OATH));
    if owned(&slot.tenant, user).count() + apps >= MAX_OATH_PER_USER {
        return Err(GraphError::bad_request(
            "Users can have a combination of up to five OATH hardware tokens or authenticator applications.",
        ));
    }
    Ok(())
}

/// Checks the verification code against the token's secret: a good one activates it (and
/// takes `displayName`), a wrong one leaves it `failedActivation` and is refused.
fn activate_device(
    tenant: &mut Tenant,
    user: usize,
    device: usize,
    m: &Map<String, Value>,
) -> Result<ApiResponse, GraphError> {
    let code = m
        .get("verificationCode")
        .and_then(Value::as_str)
        .ok_or_else(|| GraphError::bad_request("'verificationCode' is required."))?;
    let d = &mut tenant.credentials.hardware_oath_devices[device];
    if !super::totp::verify(d, code, unix_now()) {
        d.status = TokenStatus::FailedActivation;
        return Err(GraphError::bad_request("The verification code is invalid."));
    }
    d.status = TokenStatus::Activated;
    if let Some(name) = m.get("displayName").and_then(Value::as_str) {
        d.display_name = Some(name.to_string());
    }
    refresh_registration(tenant, user);
    Ok(ApiResponse::no_content())
}

/// `hardwareOneTimePasscode` in the user's registered methods exactly while one of their
/// tokens is activated.
fn refresh_registration(tenant: &mut Tenant, user: usize) {
    let activated = owned(tenant, user).any(|d| d.status == TokenStatus::Activated);
    set_registered(tenant, user, OATH_REGISTERED, activated);
}

/// The position of one of the user's tokens, or a 404.
fn owned_position(tenant: &Tenant, user: usize, id: &str) -> Result<usize, GraphError> {
    let i = position(tenant, id)?;
    let d = &tenant.credentials.hardware_oath_devices[i];
    let theirs = d
        .assigned_to
        .as_deref()
        .is_some_and(|a| a.eq_ignore_ascii_case(&tenant.users[user].id));
    if theirs {
        Ok(i)
    } else {
        Err(GraphError::not_found(id))
    }
}

fn unix_now() -> u64 {
    time::OffsetDateTime::now_utc()
        .unix_timestamp()
        .unsigned_abs()
}
