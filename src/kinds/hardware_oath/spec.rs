//! `kind: HardwareOathTokens`: how its spec is read and checked.
//!
//! ```yaml
//! apiVersion: mfactl/v1
//! kind: HardwareOathTokens
//! metadata: {name: "1234567890"}          # the token's serial number, and its key
//! spec:
//!   manufacturer: Contoso
//!   model: Hardware Token 1000
//!   timeIntervalInSeconds: 30             # 30 or 60
//!   hashFunction: hmacsha1                # or hmacsha256; Graph's default is hmacsha1
//!   displayName: Front desk token
//!   assignedTo: alice@contoso.example     # a UPN or an object id; absent: unassigned
//! ```
//!
//! The properties are Graph's (`hardwareOathTokenAuthenticationMethodDevice`, beta), checked
//! against the CSDL; the secret key is never declared: it comes from the vendor's seed file
//! named in mfactl.yaml, read only when the token is created ([`super::seed`]).

use serde::Serialize;
use serde_json::{Map, Value};

use crate::kinds::Spec;
use crate::source::diagnostic::{Finding, Location, codes};
use crate::source::spec::{Reader, Shape};

/// The Graph type of a token of the inventory.
pub const TYPE: &str = "hardwareOathTokenAuthenticationMethodDevice";

/// What Graph sets on a token, or what a declaration may not hold: the serial number is
/// `metadata.name`, the secret key never enters git.
const READ_ONLY: &[&str] = &[
    "id",
    "status",
    "lastUsedDateTime",
    "serialNumber",
    "secretKey",
    "hardwareOathDevices",
];

/// The properties a token must declare: Graph requires them on create.
const REQUIRED: &[&str] = &["manufacturer", "model", "timeIntervalInSeconds"];

/// The declared token.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeclaredToken {
    /// `metadata.name`: the serial number.
    pub serial_number: String,
    /// The declared properties in Graph JSON (manufacturer, model, timeIntervalInSeconds,
    /// and hashFunction and displayName when declared).
    pub properties: Map<String, Value>,
    /// `assignedTo`: the holder as written (UPN or object id); `None`: unassigned.
    pub assigned_to: Option<String>,
    /// Where `assignedTo` (or, without it, the document) is written.
    pub assignee_at: Location,
    /// Where the document starts.
    pub location: Location,
}

/// Reads the spec of a `HardwareOathTokens` document.
pub(crate) fn read(at: &Spec<'_>) -> (Option<DeclaredToken>, Vec<Finding>) {
    let spec = at.node;
    let mut reader = Reader::default();
    let shape = Shape {
        type_name: TYPE,
        read_only: READ_ONLY,
        handled: &["assignedTo"],
        extra_names: &["assignedTo"],
    };
    let properties = reader.object(spec, &shape, "").unwrap_or_default();
    for key in REQUIRED {
        if spec.get(key).is_none() {
            reader.findings.push(
                Finding::new(
                    codes::MISSING_KEY,
                    at.key_pos,
                    format!("HardwareOathTokens needs `{key}`: Graph requires it to create the token"),
                )
                .help("write the manufacturer, the model and the time interval (30 or 60) the vendor's seed file gives"),
            );
        }
    }
    if let (Some(e), Some(seconds)) = (
        spec.get("timeIntervalInSeconds"),
        properties.get("timeIntervalInSeconds"),
    ) && !matches!(seconds.as_u64(), Some(30 | 60))
    {
        reader.findings.push(
            Finding::new(
                codes::WRONG_TYPE,
                e.value.pos,
                format!("`timeIntervalInSeconds` is {seconds}; a hardware OATH token refreshes its code every 30 or 60 seconds"),
            )
            .help("write `timeIntervalInSeconds: 30` or `timeIntervalInSeconds: 60`"),
        );
    }
    let mut assigned_to = None;
    let mut assignee_at = at.document.clone();
    if let Some(e) = spec.get("assignedTo") {
        match e.value.as_str().map(str::trim).filter(|s| !s.is_empty()) {
            Some(name) => {
                assigned_to = Some(name.to_string());
                assignee_at = e.value.pos.at(at.file);
            }
            None if e.value.is_null() => {}
            None => reader.findings.push(
                Finding::new(
                    codes::WRONG_TYPE,
                    e.value.pos,
                    format!(
                        "`assignedTo` must be a user principal name or an object id, found {}",
                        e.value.describe()
                    ),
                )
                .help("write `assignedTo: alice@contoso.example`, or leave it out for an unassigned token"),
            ),
        }
    }
    if reader.has_errors() || at.name.is_empty() {
        return (None, reader.findings);
    }
    let declared = DeclaredToken {
        serial_number: at.name.clone(),
        properties,
        assigned_to,
        assignee_at,
        location: at.document.clone(),
    };
    (Some(declared), reader.findings)
}
