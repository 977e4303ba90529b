//! A user's `authentication/temporaryAccessPassMethods` (FACTS-CA items 47–50): create
//! (201, the pass in this response only), list ("will only return a single object"), get,
//! delete. One pass per user: a new one replaces the previous. Lifetimes between 10 and
//! 43,200 minutes and within the tenant's `TemporaryAccessPass` configuration, which must be
//! enabled; a multi-use pass only where the configuration allows it; none for external
//! guests.

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{
    PASS_REGISTERED, collection, entity, members, new_id, now, set_registered, typed, user_index,
};
use crate::emulator::reports::Targeting;
use crate::emulator::state::TemporaryAccessPass;
use crate::emulator::{ApiResponse, ApiVersion, GraphError, TenantSlot};
use crate::msgraph::methods::{TAP_MAX_LIFETIME_MINUTES, TAP_MIN_LIFETIME_MINUTES};

const TYPE: &str = "temporaryAccessPassAuthenticationMethod";
const WRITABLE: &[&str] = &["startDateTime", "lifetimeInMinutes", "isUsableOnce"];
const READ_ONLY: &[&str] = &[
    "id",
    "temporaryAccessPass",
    "createdDateTime",
    "isUsable",
    "methodUsabilityReason",
];
/// The documented refusal for external guests (FACTS-CA item 50).
const GUEST: &str = "Temporary Access Pass cannot be added to an external guest user";
/// The characters a generated pass is drawn from.
const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789+!#$%&*?@";

/// The pass as Graph serves it; `secret` only in the create response.
pub(super) fn render(
    slot: &TenantSlot,
    user: usize,
    p: &TemporaryAccessPass,
    secret: Option<&str>,
) -> Value {
    let (usable, reason) = usability(slot, user, p);
    let mut m = Map::new();
    m.insert("id".into(), json!(p.id));
    m.insert("temporaryAccessPass".into(), json!(secret));
    m.insert("createdDateTime".into(), json!(p.created_date_time));
    m.insert("startDateTime".into(), json!(p.start_date_time));
    m.insert("lifetimeInMinutes".into(), json!(p.lifetime_in_minutes));
    m.insert("isUsableOnce".into(), json!(p.is_usable_once));
    m.insert("isUsable".into(), json!(usable));
    m.insert("methodUsabilityReason".into(), json!(reason));
    typed(TYPE, m)
}

/// `isUsable` and `methodUsabilityReason` now: not yet started, expired, outside the
/// policy's reach, or usable.
fn usability(slot: &TenantSlot, user: usize, p: &TemporaryAccessPass) -> (bool, &'static str) {
    let now = OffsetDateTime::now_utc();
    let start = OffsetDateTime::parse(&p.start_date_time, &Rfc3339).unwrap_or(now);
    if now < start {
        return (false, "NotYetValid");
    }
    if now >= start + time::Duration::minutes(i64::from(p.lifetime_in_minutes)) {
        return (false, "Expired");
    }
    let config = configuration(slot);
    let u = &slot.tenant.users[user];
    let reached = config["state"] == "enabled"
        && Targeting::resolve(slot, &config["includeTargets"]).covers(user, u)
        && !Targeting::resolve(slot, &config["excludeTargets"]).covers(user, u);
    if reached {
        (true, "EnabledByPolicy")
    } else {
        (false, "DisabledByPolicy")
    }
}

/// The tenant's `TemporaryAccessPass` method configuration (`Null` when absent).
fn configuration(slot: &TenantSlot) -> &Value {
    slot.tenant.authentication_methods_policy["authenticationMethodConfigurations"]
        .as_array()
        .and_then(|a| {
            a.iter().find(|c| {
                c["id"]
                    .as_str()
                    .is_some_and(|i| i.eq_ignore_ascii_case("TemporaryAccessPass"))
            })
        })
        .unwrap_or(&Value::Null)
}

fn set(slot: &TenantSlot, user: usize) -> String {
    format!(
        "users('{}')/authentication/temporaryAccessPassMethods",
        slot.tenant.users[user].id
    )
}

fn find(slot: &TenantSlot, user: usize) -> Option<usize> {
    let id = &slot.tenant.users[user].id;
    slot.tenant
        .credentials
        .temporary_access_passes
        .iter()
        .position(|p| p.user_id.eq_ignore_ascii_case(id))
}

/// `GET …/temporaryAccessPassMethods`: the user's pass, if any, without its code.
pub(super) fn list(
    version: ApiVersion,
    slot: &TenantSlot,
    key: &str,
) -> Result<ApiResponse, GraphError> {
    let user = user_index(slot, key)?;
    let value = find(slot, user)
        .map(|i| {
            render(
                slot,
                user,
                &slot.tenant.credentials.temporary_access_passes[i],
                None,
            )
        })
        .into_iter()
        .collect();
    Ok(collection(version, &set(slot, user), value))
}

/// `GET …/temporaryAccessPassMethods/{id}`
pub(super) fn get(
    version: ApiVersion,
    slot: &TenantSlot,
    key: &str,
    id: &str,
) -> Result<ApiResponse, GraphError> {
    let user = user_index(slot, key)?;
    let i = own(slot, user, id)?;
    let p = &slot.tenant.credentials.temporary_access_passes[i];
    Ok(entity(
        version,
        &set(slot, user),
        render(slot, user, p, None),
        200,
    ))
}

/// `DELETE …/temporaryAccessPassMethods/{id}` → 204.
pub(super) fn delete(
    slot: &mut TenantSlot,
    key: &str,
    id: &str,
) -> Result<ApiResponse, GraphError> {
    let user = user_index(slot, key)?;
    let i = own(slot, user, id)?;
    slot.tenant.credentials.temporary_access_passes.remove(i);
    set_registered(&mut slot.tenant, user, PASS_REGISTERED, false);
    Ok(ApiResponse::no_content())
}

/// `POST …/temporaryAccessPassMethods` → 201 with the pass, replacing the user's previous one.
pub(super) fn create(
    version: ApiVersion,
    slot: &mut TenantSlot,
    key: &str,
    body: &Value,
) -> Result<ApiResponse, GraphError> {
    let m = members(body, TYPE, WRITABLE, READ_ONLY)?;
    let user = user_index(slot, key)?;
    if slot.tenant.users[user]
        .user_type
        .eq_ignore_ascii_case("guest")
    {
        return Err(GraphError::bad_request(GUEST));
    }
    let config = configuration(slot);
    if config["state"] != "enabled" {
        return Err(GraphError::bad_request(
            "Temporary Access Pass is not enabled in the tenant's authentication methods policy.",
        ));
    }
    let lifetime = lifetime(m.get("lifetimeInMinutes"), config)?;
    let is_usable_once = usable_once(m.get("isUsableOnce"), config)?;
    let start = start(m.get("startDateTime"))?;
    let length = config["defaultLength"].as_u64().unwrap_or(8);
    let secret = generate(usize::try_from(length).unwrap_or(8))?;
    let pass = TemporaryAccessPass {
        id: new_id(),
        user_id: slot.tenant.users[user].id.clone(),
        created_date_time: now(),
        start_date_time: start,
        lifetime_in_minutes: lifetime,
        is_usable_once,
    };
    let rendered = render(slot, user, &pass, Some(&secret));
    let passes = &mut slot.tenant.credentials.temporary_access_passes;
    passes.retain(|p| !p.user_id.eq_ignore_ascii_case(&pass.user_id));
    passes.push(pass);
    set_registered(&mut slot.tenant, user, PASS_REGISTERED, true);
    Ok(entity(version, &set(slot, user), rendered, 201))
}

/// The requested lifetime or the policy's default, within 10–43,200 minutes and within
/// the policy's minimum and maximum.
fn lifetime(requested: Option<&Value>, config: &Value) -> Result<u32, GraphError> {
    let minutes = match requested {
        None | Some(Value::Null) => config["defaultLifetimeInMinutes"].as_u64().unwrap_or(60),
        Some(v) => v.as_u64().ok_or_else(|| {
            GraphError::bad_request("'lifetimeInMinutes' must be a whole number of minutes.")
        })?,
    };
    let documented = u64::from(TAP_MIN_LIFETIME_MINUTES)..=u64::from(TAP_MAX_LIFETIME_MINUTES);
    if !documented.contains(&minutes) {
        return Err(GraphError::bad_request(format!(
            "'lifetimeInMinutes' must be between {} and {} (equivalent to 30 days).",
            TAP_MIN_LIFETIME_MINUTES, TAP_MAX_LIFETIME_MINUTES
        )));
    }
    let min = config["minimumLifetimeInMinutes"]
        .as_u64()
        .unwrap_or(*documented.start());
    let max = config["maximumLifetimeInMinutes"]
        .as_u64()
        .unwrap_or(*documented.end());
    if !(min..=max).contains(&minutes) {
        return Err(GraphError::bad_request(format!(
            "'lifetimeInMinutes' must be between the policy's minimumLifetimeInMinutes ({min}) and maximumLifetimeInMinutes ({max})."
        )));
    }
    u32::try_from(minutes).map_err(|_| GraphError::bad_request("'lifetimeInMinutes' is too large."))
}

/// The requested `isUsableOnce` or the policy's; multi-use only where the policy allows it.
fn usable_once(requested: Option<&Value>, config: &Value) -> Result<bool, GraphError> {
    let policy_once = config["isUsableOnce"].as_bool().unwrap_or(false);
    match requested {
        None | Some(Value::Null) => Ok(policy_once),
        Some(Value::Bool(false)) if policy_once => Err(GraphError::bad_request(
            "The authentication methods policy only allows one-time Temporary Access Passes.",
        )),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(GraphError::bad_request("'isUsableOnce' must be a boolean.")),
    }
}

/// `startDateTime` as Graph writes it back (RFC 3339, whole seconds when given so), or now.
fn start(requested: Option<&Value>) -> Result<String, GraphError> {
    let bad = || GraphError::bad_request("'startDateTime' must be an RFC 3339 date and time.");
    let at = match requested {
        None | Some(Value::Null) => OffsetDateTime::now_utc(),
        Some(Value::String(s)) => OffsetDateTime::parse(s, &Rfc3339).map_err(|_| bad())?,
        Some(_) => return Err(bad()),
    };
    at.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .map_err(|_| bad())
}

/// A random pass of `length` characters.
fn generate(length: usize) -> Result<String, GraphError> {
    let mut bytes = vec![0u8; length];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).map_err(|_| {
        GraphError::new(
            500,
            "generalException",
            "No randomness to draw a pass from.",
        )
    })?;
    Ok(bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect())
}

/// The position of the user's pass with this id, or a 404.
fn own(slot: &TenantSlot, user: usize, id: &str) -> Result<usize, GraphError> {
    find(slot, user)
        .filter(|&i| {
            slot.tenant.credentials.temporary_access_passes[i]
                .id
                .eq_ignore_ascii_case(id)
        })
        .ok_or_else(|| GraphError::not_found(id))
}
