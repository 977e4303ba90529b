//! `identity/conditionalAccess/namedLocations` and `deletedItems/namedLocations`
//! (FACTS.md items 12–13): IP and country locations, `@odata.type` required on every write.

use std::net::IpAddr;

use serde_json::{Map, Value, json};

use super::{entity, find, list_or_get, new_id, now, refuse_read_only, schema_error};
use crate::emulator::state::Tenant;
use crate::emulator::{ApiResponse, ApiVersion, GraphError};
use crate::msgraph::schema::Schema;

const SET: &str = "identity/conditionalAccess/namedLocations";
const DELETED_SET: &str = "identity/conditionalAccess/deletedItems/namedLocations";
const TYPES: &[&str] = &["ipNamedLocation", "countryNamedLocation"];
const READ_ONLY: &[&str] = &[
    "id",
    "createdDateTime",
    "modifiedDateTime",
    "deletedDateTime",
];

/// The location's type without the `#microsoft.graph.` prefix, if it is one of [`TYPES`].
fn location_type(v: &Value) -> Option<&'static str> {
    let given = v["@odata.type"].as_str()?.trim_start_matches('#');
    let short = given.strip_prefix("microsoft.graph.")?;
    TYPES.iter().copied().find(|t| *t == short)
}

/// A stored location as the service returns it: every member of its type.
fn render(version: ApiVersion, l: &Value) -> Value {
    let ty = location_type(l).unwrap_or("namedLocation");
    let mut v = super::normalise::fill(version, ty, l);
    if let Value::Object(m) = &mut v
        && l.get("deletedDateTime").is_none()
    {
        m.remove("deletedDateTime");
    }
    v
}

/// GET the locations, or the deleted ones, or one of them.
pub fn read(
    version: ApiVersion,
    t: &Tenant,
    deleted: bool,
    id: Option<&str>,
) -> Result<ApiResponse, GraphError> {
    let (set, items) = if deleted {
        (DELETED_SET, &t.conditional_access.deleted_named_locations)
    } else {
        (SET, &t.conditional_access.named_locations)
    };
    list_or_get(version, set, items, id, |l| render(version, l))
}

/// Checks a write body: a known `@odata.type` (matching `existing`'s on PATCH), the CSDL,
/// read-only members, and well-formed CIDR ranges.
fn check_body(
    version: ApiVersion,
    body: &Value,
    existing: Option<&'static str>,
) -> Result<(&'static str, Map<String, Value>), GraphError> {
    let ty = location_type(body).ok_or_else(|| {
        GraphError::bad_request(
            "The '@odata.type' of a named location must be '#microsoft.graph.ipNamedLocation' or '#microsoft.graph.countryNamedLocation'.",
        )
    })?;
    if let Some(e) = existing.filter(|e| *e != ty) {
        return Err(GraphError::bad_request(format!(
            "The '@odata.type' #microsoft.graph.{ty} does not match the type '#microsoft.graph.{e}' of the resource."
        )));
    }
    let checked = Schema::get()
        .check_object(version, ty, body)
        .map_err(schema_error)?;
    refuse_read_only(body, READ_ONLY)?;
    let Value::Object(m) = checked else {
        return Err(GraphError::bad_request(
            "The request body must be a JSON object.",
        ));
    };
    for r in m
        .get("ipRanges")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        check_range(r)?;
    }
    Ok((ty, m))
}

/// An `iPv4CidrRange` or `iPv6CidrRange` whose address parses as that family.
fn check_range(r: &Value) -> Result<(), GraphError> {
    let cidr = r["cidrAddress"].as_str().unwrap_or_default();
    let v6 = match r["@odata.type"].as_str().map(|t| t.trim_start_matches('#')) {
        Some("microsoft.graph.iPv4CidrRange") => false,
        Some("microsoft.graph.iPv6CidrRange") => true,
        _ => {
            return Err(GraphError::bad_request(
                "Each ipRange needs an '@odata.type' of '#microsoft.graph.iPv4CidrRange' or '#microsoft.graph.iPv6CidrRange'.",
            ));
        }
    };
    let valid = cidr.split_once('/').is_some_and(|(addr, bits)| {
        let max = if v6 { 128 } else { 32 };
        let ip_ok = match addr.parse::<IpAddr>() {
            Ok(IpAddr::V4(_)) => !v6,
            Ok(IpAddr::V6(_)) => v6,
            Err(_) => false,
        };
        ip_ok && bits.parse::<u8>().is_ok_and(|b| b <= max)
    });
    if valid {
        Ok(())
    } else {
        Err(GraphError::bad_request(format!(
            "'{cidr}' is not a valid CIDR address for its ipRange type."
        )))
    }
}

/// POST: 201 and the location.
pub fn create(
    version: ApiVersion,
    t: &mut Tenant,
    body: &Value,
) -> Result<ApiResponse, GraphError> {
    let (ty, mut m) = check_body(version, body, None)?;
    let required: &[&str] = match ty {
        "ipNamedLocation" => &["displayName", "ipRanges"],
        _ => &["displayName", "countriesAndRegions"],
    };
    if let Some(k) = required.iter().find(|k| !m.contains_key(**k)) {
        return Err(GraphError::bad_request(format!(
            "The property '{k}' is required when creating a {ty}."
        )));
    }
    let created = now();
    let mut stored = Map::new();
    stored.insert(
        "@odata.type".into(),
        json!(format!("#microsoft.graph.{ty}")),
    );
    stored.insert("id".into(), json!(new_id()));
    stored.insert("createdDateTime".into(), json!(created));
    stored.insert("modifiedDateTime".into(), json!(created));
    m.remove("@odata.type");
    stored.append(&mut m);
    let defaults: &[(&str, Value)] = match ty {
        "ipNamedLocation" => &[("isTrusted", json!(false))],
        _ => &[
            ("countryLookupMethod", json!("clientIpAddress")),
            ("includeUnknownCountriesAndRegions", json!(false)),
        ],
    };
    for (k, v) in defaults {
        stored.entry(*k).or_insert_with(|| v.clone());
    }
    let stored = Value::Object(stored);
    let rendered = render(version, &stored);
    t.conditional_access.named_locations.push(stored);
    Ok(entity(version, SET, rendered, 201))
}

/// PATCH: 204; `@odata.type` required, top-level properties merged.
pub fn update(
    version: ApiVersion,
    t: &mut Tenant,
    id: &str,
    body: &Value,
) -> Result<ApiResponse, GraphError> {
    let items = &mut t.conditional_access.named_locations;
    let i = find(items, id)?;
    let (_, m) = check_body(version, body, location_type(&items[i]))?;
    for (k, v) in m {
        if k != "@odata.type" {
            items[i][k] = v;
        }
    }
    items[i]["modifiedDateTime"] = json!(now());
    Ok(ApiResponse::no_content())
}

/// DELETE: 204; the location moves to `deletedItems/namedLocations`. A location that a
/// policy still names is refused.
pub fn delete(t: &mut Tenant, id: &str) -> Result<ApiResponse, GraphError> {
    let i = find(&t.conditional_access.named_locations, id)?;
    let used = t.conditional_access.policies.iter().any(|p| {
        ["includeLocations", "excludeLocations"].iter().any(|k| {
            p["conditions"]["locations"][*k]
                .as_array()
                .is_some_and(|a| {
                    a.iter()
                        .any(|l| l.as_str().is_some_and(|l| l.eq_ignore_ascii_case(id)))
                })
        })
    });
    if used {
        return Err(GraphError::bad_request(format!(
            "The named location {id} is used by one or more Conditional Access policies and cannot be deleted."
        )));
    }
    let mut l = t.conditional_access.named_locations.remove(i);
    l["deletedDateTime"] = json!(now());
    t.conditional_access.deleted_named_locations.push(l);
    Ok(ApiResponse::no_content())
}

/// POST `deletedItems/namedLocations/{id}/restore`: 200 and the location, live again.
pub fn restore(version: ApiVersion, t: &mut Tenant, id: &str) -> Result<ApiResponse, GraphError> {
    let i = find(&t.conditional_access.deleted_named_locations, id)?;
    let mut l = t.conditional_access.deleted_named_locations.remove(i);
    if let Value::Object(m) = &mut l {
        m.remove("deletedDateTime");
    }
    let rendered = render(version, &l);
    t.conditional_access.named_locations.push(l);
    Ok(entity(version, SET, rendered, 200))
}
