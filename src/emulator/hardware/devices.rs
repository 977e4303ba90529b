//! The beta hardware OATH token inventory,
//! `directory/authenticationMethodDevices/hardwareOathDevices` (FACTS-CA items 43, 46):
//! create with the documented required members, a write-only Base32 secret of at most 128
//! characters, unique serial numbers, 30 or 60 second codes; optional assignment on create;
//! delete only once unassigned.

use serde_json::{Map, Value, json};

use super::oath_methods::{assign_device, check_assignee};
use super::{collection, entity, members, new_id, typed, user_index};
use crate::emulator::state::{HardwareOathDevice, Tenant, TokenStatus};
use crate::emulator::{ApiResponse, ApiVersion, GraphError, TenantSlot};

const SET: &str = "directory/authenticationMethodDevices/hardwareOathDevices";
const TYPE: &str = "hardwareOathTokenAuthenticationMethodDevice";
/// What a create may send.
const CREATE: &[&str] = &[
    "displayName",
    "serialNumber",
    "manufacturer",
    "model",
    "secretKey",
    "timeIntervalInSeconds",
    "hashFunction",
    "assignTo",
];
/// What an update may send (UNVERIFIED: the serial number and the secret stay as created).
const UPDATE: &[&str] = &[
    "displayName",
    "manufacturer",
    "model",
    "timeIntervalInSeconds",
    "hashFunction",
    "assignTo",
];
const READ_ONLY: &[&str] = &["id", "status", "assignedTo", "lastUsedDateTime"];
const SECRET_MAX: usize = 128;

/// The device as Graph serves it: `secretKey` always `null`, `assignedTo` an identity.
pub(super) fn render(tenant: &Tenant, d: &HardwareOathDevice) -> Value {
    let assigned = d.assigned_to.as_ref().map(|id| {
        let name = tenant
            .users
            .iter()
            .find(|u| u.id.eq_ignore_ascii_case(id))
            .map(|u| u.display_name.clone());
        json!({"id": id, "displayName": name})
    });
    let mut m = Map::new();
    m.insert("id".into(), json!(d.id));
    m.insert("displayName".into(), json!(d.display_name));
    m.insert("serialNumber".into(), json!(d.serial_number));
    m.insert("manufacturer".into(), json!(d.manufacturer));
    m.insert("model".into(), json!(d.model));
    m.insert("secretKey".into(), Value::Null);
    m.insert(
        "timeIntervalInSeconds".into(),
        json!(d.time_interval_in_seconds),
    );
    m.insert("status".into(), json!(d.status));
    m.insert("lastUsedDateTime".into(), json!(d.last_used_date_time));
    m.insert("assignedTo".into(), json!(assigned));
    m.insert("hashFunction".into(), json!(d.hash_function));
    typed(TYPE, m)
}

/// `GET …/hardwareOathDevices`
pub(super) fn list(version: ApiVersion, tenant: &Tenant) -> ApiResponse {
    let value = tenant
        .credentials
        .hardware_oath_devices
        .iter()
        .map(|d| render(tenant, d))
        .collect();
    collection(version, SET, value)
}

/// `GET …/hardwareOathDevices/{id}`
pub(super) fn get(
    version: ApiVersion,
    tenant: &Tenant,
    id: &str,
) -> Result<ApiResponse, GraphError> {
    let i = position(tenant, id)?;
    let d = &tenant.credentials.hardware_oath_devices[i];
    Ok(entity(version, SET, render(tenant, d), 200))
}

/// `POST …/hardwareOathDevices` → 201 with the device; a `#$delta` body is the bulk upload.
pub(super) fn create(
    version: ApiVersion,
    slot: &mut TenantSlot,
    body: &Value,
) -> Result<ApiResponse, GraphError> {
    if body.get("@context").is_some() {
        return bulk(version, slot, body);
    }
    let m = members(body, TYPE, CREATE, READ_ONLY)?;
    let i = add(slot, m, false)?;
    let rendered = render(
        &slot.tenant,
        &slot.tenant.credentials.hardware_oath_devices[i],
    );
    Ok(entity(version, SET, rendered, 201))
}

/// The bulk upload, `{"@context": "#$delta", "value": [device, …]}` sent with PATCH or POST
/// (FACTS-CA item 43): every device is checked as a single create would check it (the
/// documented example sends `timeIntervalInSeconds` as a string) and either all are added or
/// none (UNVERIFIED); 200 with a `value` of `hardwareOathAuthenticationMethod` wrappers.
pub(super) fn bulk(
    version: ApiVersion,
    slot: &mut TenantSlot,
    body: &Value,
) -> Result<ApiResponse, GraphError> {
    let items = match (body.get("@context"), body.get("value")) {
        (Some(c), Some(Value::Array(items))) if c == "#$delta" => items,
        _ => {
            return Err(GraphError::bad_request(
                "A bulk upload is {\"@context\": \"#$delta\", \"value\": [ … ]}.",
            ));
        }
    };
    let before = slot.tenant.credentials.hardware_oath_devices.clone();
    let mut added = Vec::with_capacity(items.len());
    for item in items {
        let outcome = members(item, TYPE, CREATE, READ_ONLY).and_then(|m| add(slot, m, true));
        match outcome {
            Ok(i) => added.push(i),
            Err(e) => {
                slot.tenant.credentials.hardware_oath_devices = before;
                return Err(e);
            }
        }
    }
    let t = &slot.tenant;
    let value: Vec<Value> = added
        .into_iter()
        .map(|i| super::oath_methods::render(t, &t.credentials.hardware_oath_devices[i]))
        .collect();
    Ok(ApiResponse::ok(json!({
        "@odata.context": super::context(version, "Collection(microsoft.graph.hardwareOathAuthenticationMethod)"),
        "value": value,
    })))
}

/// Checks one device of a create and adds it; its index.
fn add(slot: &mut TenantSlot, m: &Map<String, Value>, bulk: bool) -> Result<usize, GraphError> {
    let serial_number = required_string(m, "serialNumber")?;
    let serial_taken = slot
        .tenant
        .credentials
        .hardware_oath_devices
        .iter()
        .any(|d| d.serial_number.eq_ignore_ascii_case(&serial_number));
    if serial_taken {
        return Err(GraphError::bad_request(format!(
            "A hardware OATH token with serial number '{serial_number}' already exists."
        )));
    }
    let secret_key = required_string(m, "secretKey")?;
    check_secret(&secret_key)?;
    let seconds = m.get("timeIntervalInSeconds");
    let numeric = match seconds {
        Some(Value::String(s)) if bulk => s.parse::<u64>().ok().map(Value::from),
        other => other.cloned(),
    };
    let mut device = HardwareOathDevice {
        id: new_id(),
        display_name: optional_string(m, "displayName")?,
        serial_number,
        manufacturer: required_string(m, "manufacturer")?,
        model: required_string(m, "model")?,
        secret_key,
        time_interval_in_seconds: interval(numeric.as_ref())?,
        hash_function: hash_function(m.get("hashFunction"))?.unwrap_or("hmacsha1".into()),
        status: TokenStatus::Available,
        assigned_to: None,
        last_used_date_time: None,
    };
    if let Some(target) = m.get("assignTo") {
        let user = assignee(slot, target)?;
        check_assignee(slot, user)?;
        device.assigned_to = Some(slot.tenant.users[user].id.clone());
        device.status = TokenStatus::Assigned;
    }
    slot.tenant.credentials.hardware_oath_devices.push(device);
    Ok(slot.tenant.credentials.hardware_oath_devices.len() - 1)
}

/// `PATCH …/hardwareOathDevices/{id}` → 204.
pub(super) fn update(
    slot: &mut TenantSlot,
    id: &str,
    body: &Value,
) -> Result<ApiResponse, GraphError> {
    let m = members(
        body,
        TYPE,
        UPDATE,
        &[READ_ONLY, &["serialNumber", "secretKey"]].concat(),
    )?;
    let i = position(&slot.tenant, id)?;
    let mut d = slot.tenant.credentials.hardware_oath_devices[i].clone();
    if m.contains_key("displayName") {
        d.display_name = optional_string(m, "displayName")?;
    }
    if m.contains_key("manufacturer") {
        d.manufacturer = required_string(m, "manufacturer")?;
    }
    if m.contains_key("model") {
        d.model = required_string(m, "model")?;
    }
    if let Some(v) = m.get("timeIntervalInSeconds") {
        d.time_interval_in_seconds = interval(Some(v))?;
    }
    if let Some(h) = hash_function(m.get("hashFunction"))? {
        d.hash_function = h;
    }
    slot.tenant.credentials.hardware_oath_devices[i] = d;
    if let Some(target) = m.get("assignTo") {
        let user = assignee(slot, target)?;
        assign_device(slot, i, user)?;
    }
    Ok(ApiResponse::no_content())
}

/// `DELETE …/hardwareOathDevices/{id}` → 204; refused while the token is assigned.
pub(super) fn delete(tenant: &mut Tenant, id: &str) -> Result<ApiResponse, GraphError> {
    let i = position(tenant, id)?;
    if tenant.credentials.hardware_oath_devices[i]
        .assigned_to
        .is_some()
    {
        return Err(GraphError::bad_request(
            "Token needs to be unassigned first.",
        ));
    }
    tenant.credentials.hardware_oath_devices.remove(i);
    Ok(ApiResponse::no_content())
}

/// The device's position by id (case-insensitive), or a 404.
pub(super) fn position(tenant: &Tenant, id: &str) -> Result<usize, GraphError> {
    tenant
        .credentials
        .hardware_oath_devices
        .iter()
        .position(|d| d.id.eq_ignore_ascii_case(id))
        .ok_or_else(|| GraphError::not_found(id))
}

/// The user an `assignTo` (or `device`) reference names: `{"id": …}`.
fn assignee(slot: &TenantSlot, target: &Value) -> Result<usize, GraphError> {
    let id = target.get("id").and_then(Value::as_str).ok_or_else(|| {
        GraphError::bad_request("'assignTo' must name the user: {\"id\": \"…\"}.")
    })?;
    user_index(slot, id)
}

/// "Secret keys are limited to 128 characters … can only contain the characters a-z or
/// A-Z and digits 2-7, and must be encoded in Base32" (FACTS-CA item 46).
fn check_secret(secret: &str) -> Result<(), GraphError> {
    let base32 = secret
        .bytes()
        .all(|b| b.is_ascii_alphabetic() || (b'2'..=b'7').contains(&b));
    if secret.is_empty() || secret.len() > SECRET_MAX || !base32 {
        return Err(GraphError::bad_request(
            "Secret keys are limited to 128 characters, can only contain the characters a-z or A-Z and digits 2-7, and must be encoded in Base32.",
        ));
    }
    Ok(())
}

fn interval(v: Option<&Value>) -> Result<u32, GraphError> {
    match v.and_then(Value::as_u64) {
        Some(30) => Ok(30),
        Some(60) => Ok(60),
        _ => Err(GraphError::bad_request(
            "'timeIntervalInSeconds' is required and must be 30 or 60.",
        )),
    }
}

fn hash_function(v: Option<&Value>) -> Result<Option<String>, GraphError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(h)) if h == "hmacsha1" || h == "hmacsha256" => Ok(Some(h.clone())),
        Some(other) => Err(GraphError::bad_request(format!(
            "The value {other} is not a valid 'microsoft.graph.hardwareOathTokenHashFunction': hmacsha1 or hmacsha256."
        ))),
    }
}

fn required_string(m: &Map<String, Value>, key: &str) -> Result<String, GraphError> {
    match m.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        _ => Err(GraphError::bad_request(format!(
            "The property '{key}' is required and must be a non-empty string."
        ))),
    }
}

fn optional_string(m: &Map<String, Value>, key: &str) -> Result<Option<String>, GraphError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(GraphError::bad_request(format!(
            "The property '{key}' must be a string."
        ))),
    }
}
