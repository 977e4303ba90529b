//! `kind: NamedLocation`: how its spec is read and checked.
//!
//! ```yaml
//! apiVersion: mfactl/v1
//! kind: NamedLocation
//! metadata: {name: Corporate network}      # the location's displayName, and its key
//! spec:
//!   ipRanges: [203.0.113.0/24, "2001:db8::/48"]
//!   isTrusted: true
//! ---
//! kind: NamedLocation
//! metadata: {name: Allowed countries}
//! spec:
//!   countriesAndRegions: [GB, IE]
//!   includeUnknownCountriesAndRegions: false
//!   countryLookupMethod: clientIpAddress
//! ```
//!
//! `ipRanges` makes an `ipNamedLocation` and `countriesAndRegions` a `countryNamedLocation`
//! (FACTS-CA item 13); the other keys are that type's properties in Graph's names, checked
//! against the CSDL. A range is written as CIDR text and sent as Graph's `iPv4CidrRange` or
//! `iPv6CidrRange`; a country as its two-letter ISO 3166 code.

use std::net::IpAddr;

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::kinds::Spec;
use crate::source::diagnostic::{Finding, Location, codes};
use crate::source::spec::{Reader, Shape, child};
use crate::source::yaml::{Node, NodeKind};

/// What Graph sets on a named location and a declaration may not.
pub(super) const READ_ONLY: &[&str] = &[
    "id",
    "createdDateTime",
    "modifiedDateTime",
    "deletedDateTime",
];

/// The declared `NamedLocation`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeclaredNamedLocation {
    /// `metadata.name`: the location's display name.
    pub display_name: String,
    /// `#microsoft.graph.ipNamedLocation` or `#microsoft.graph.countryNamedLocation`.
    pub odata_type: String,
    /// The declared properties in Graph JSON (ranges as Graph's range objects).
    pub properties: Map<String, Value>,
    /// Where the document starts.
    pub location: Location,
}

/// The OData type of a CIDR range, if `text` is one: an address and a prefix no longer than
/// the address.
fn cidr_type(text: &str) -> Option<&'static str> {
    let (address, prefix) = text.split_once('/')?;
    let prefix: u8 = prefix.parse().ok()?;
    match address.parse::<IpAddr>().ok()? {
        IpAddr::V4(_) if prefix <= 32 => Some("#microsoft.graph.iPv4CidrRange"),
        IpAddr::V6(_) if prefix <= 128 => Some("#microsoft.graph.iPv6CidrRange"),
        _ => None,
    }
}

/// Reads `ipRanges`: a list of CIDR strings.
fn ip_ranges(reader: &mut Reader, node: &Node) -> Option<Value> {
    let NodeKind::Seq(items) = &node.kind else {
        reader.findings.push(
            Finding::new(
                codes::WRONG_TYPE,
                node.pos,
                format!("`ipRanges` must be a list, found {}", node.describe()),
            )
            .help("write `ipRanges: [203.0.113.0/24, \"2001:db8::/48\"]`"),
        );
        return None;
    };
    if items.is_empty() {
        reader.findings.push(
            Finding::new(codes::WRONG_TYPE, node.pos, "`ipRanges` is empty")
                .help("an IP named location needs at least one range"),
        );
        return None;
    }
    let mut ranges = Vec::with_capacity(items.len());
    for item in items {
        match item.as_str().and_then(|t| cidr_type(t).map(|ty| (t, ty))) {
            Some((text, odata_type)) => {
                ranges.push(json!({"@odata.type": odata_type, "cidrAddress": text}));
            }
            None => reader.findings.push(
                Finding::new(
                    codes::WRONG_TYPE,
                    item.pos,
                    format!("{} is not an IP range in CIDR notation", item.describe()),
                )
                .help("write an address and a prefix length: 203.0.113.0/24 or 2001:db8::/48"),
            ),
        }
    }
    (ranges.len() == items.len()).then_some(Value::Array(ranges))
}

/// Checks `countriesAndRegions`: two-letter upper-case codes.
fn countries(reader: &mut Reader, node: &Node, value: &Value) -> bool {
    let codes_ok = value.as_array().is_some_and(|list| {
        list.iter().all(|c| {
            c.as_str()
                .is_some_and(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()))
        })
    });
    if !codes_ok {
        reader.findings.push(
            Finding::new(
                codes::WRONG_TYPE,
                node.pos,
                "`countriesAndRegions` must list two-letter ISO 3166 codes in capitals",
            )
            .help("write e.g. `countriesAndRegions: [GB, IE]`"),
        );
    }
    codes_ok
}

/// Reads the spec of a `NamedLocation` document.
pub(crate) fn read(at: &Spec<'_>) -> (Option<DeclaredNamedLocation>, Vec<Finding>) {
    let spec = at.node;
    let mut reader = Reader::default();
    let (ip, country) = (spec.get("ipRanges"), spec.get("countriesAndRegions"));
    let type_name = match (ip, country) {
        (Some(_), None) => "ipNamedLocation",
        (None, Some(_)) => "countryNamedLocation",
        (Some(_), Some(c)) => {
            reader.findings.push(
                Finding::new(
                    codes::UNKNOWN_KEY,
                    c.key_pos,
                    "a named location has `ipRanges` or `countriesAndRegions`, not both",
                )
                .help("declare the IP ranges and the countries as two NamedLocation documents"),
            );
            return (None, reader.findings);
        }
        (None, None) => {
            reader.findings.push(
                Finding::new(
                    codes::MISSING_KEY,
                    at.key_pos,
                    "NamedLocation needs `ipRanges` or `countriesAndRegions`",
                )
                .help("write `ipRanges: [203.0.113.0/24]` or `countriesAndRegions: [GB]`"),
            );
            return (None, reader.findings);
        }
    };
    if let Some(e) = spec.get("displayName") {
        reader.findings.push(
            Finding::new(
                codes::READ_ONLY,
                e.key_pos,
                "a named location's displayName is its `metadata.name`",
            )
            .help("remove `displayName` from the spec and name the document instead"),
        );
    }
    let shape = Shape {
        type_name,
        read_only: READ_ONLY,
        handled: &["ipRanges", "displayName"],
        extra_names: &[],
    };
    let before = reader.findings.len();
    let mut properties = reader.object(spec, &shape, "").unwrap_or_default();
    if let Some(e) = ip {
        reader
            .spans
            .record(&child("", "ipRanges"), e.key_pos, e.value.pos);
        if let Some(ranges) = ip_ranges(&mut reader, &e.value) {
            properties.insert("ipRanges".into(), ranges);
        }
    }
    if let (Some(e), Some(value)) = (country, properties.get("countriesAndRegions")) {
        countries(&mut reader, &e.value, value);
    }
    if reader.findings.len() != before || at.name.is_empty() {
        return (None, reader.findings);
    }
    let declared = DeclaredNamedLocation {
        display_name: at.name.clone(),
        odata_type: format!("#microsoft.graph.{type_name}"),
        properties,
        location: at.document.clone(),
    };
    (Some(declared), reader.findings)
}
