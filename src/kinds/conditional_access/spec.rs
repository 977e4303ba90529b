//! `kind: ConditionalAccessPolicy`: how its spec is read and checked.
//!
//! ```yaml
//! apiVersion: mfactl/v1
//! kind: ConditionalAccessPolicy
//! metadata: {name: Require MFA for all users}   # the policy's displayName, and its key
//! spec:
//!   state: enabled
//!   conditions:
//!     users:
//!       includeUsers: [All]
//!       excludeGroups: [Break Glass Accounts]    # a display name or an object id
//!     applications:
//!       includeApplications: [All]
//!   grantControls:
//!     operator: OR
//!     builtInControls: [mfa]
//! ```
//!
//! The spec is Graph's `conditionalAccessPolicy` in Graph's names, checked against the CSDL
//! (FACTS-CA items 14–22). Users are written by UPN or object id (or Graph's `All`, `None`,
//! `GuestsOrExternalUsers`), groups by display name or object id; both are resolved against
//! the tenant before planning. `grantControls.authenticationStrength` takes the strength's id
//! (`authenticationStrength: 00000000-0000-0000-0000-000000000004`). Roles, named locations
//! and strengths are written by id for now: their names are not resolved.
//!
//! Checked here: `state` and `conditions` are required; the policy must apply to someone
//! (an include under `conditions.users`) and to something (`includeApplications`,
//! `includeUserActions` or `includeAuthenticationContextClassReferences`), and do something
//! (grant or session controls) — MFA039; `mfa` and an authentication strength are mutually
//! exclusive (MFA040, FACTS-CA item 21); a Microsoft-managed policy (its name starts with
//! `Microsoft-managed:`) may declare only its state and its exclusions (MFA012, item 31).

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::kinds::Spec;
use crate::msgraph::conditional_access::{MANAGED_POLICY_PREFIX, POLICY_READ_ONLY};
use crate::msgraph::schema::is_guid;
use crate::source::diagnostic::{Finding, Location, Pos, codes};
use crate::source::spec::{Reader, Shape, Spans};
use crate::source::yaml::Node;

/// Whether a policy's display name marks it Microsoft-managed (FACTS-CA item 33); the
/// space after the colon is not required.
pub fn is_managed_name(name: &str) -> bool {
    name.starts_with(MANAGED_POLICY_PREFIX.trim_end())
}

/// Graph's keywords in `includeUsers` / `excludeUsers`.
pub const USER_KEYWORDS: &[&str] = &["All", "None", "GuestsOrExternalUsers"];

/// The declared `ConditionalAccessPolicy`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeclaredConditionalAccessPolicy {
    /// `metadata.name`: the policy's display name.
    pub display_name: String,
    /// The declared properties in Graph JSON (`state`, `conditions`, `grantControls`,
    /// `sessionControls`, `description`), users and groups as written.
    pub properties: Map<String, Value>,
    /// JSON pointer of each user and group id (`/conditions/users/includeGroups/0`) → where
    /// it is written, for name resolution.
    pub name_locations: Vec<(String, Location)>,
    /// Where the document starts.
    pub location: Location,
}

/// Reads `grantControls`, taking `authenticationStrength` as the strength's id.
fn grant_controls(reader: &mut Reader, node: &Node) -> Option<Value> {
    let shape = Shape {
        type_name: "conditionalAccessGrantControls",
        read_only: &[],
        handled: &["authenticationStrength"],
        extra_names: &[],
    };
    let mut controls = reader.object(node, &shape, "/grantControls")?;
    if let Some(e) = node.get("authenticationStrength") {
        reader.spans.record(
            "/grantControls/authenticationStrength",
            e.key_pos,
            e.value.pos,
        );
        let id = match (
            e.value.as_str(),
            e.value.get("id").and_then(|i| i.value.as_str()),
        ) {
            (Some(id), _) | (None, Some(id)) => id,
            _ => "",
        };
        if is_guid(id) {
            controls.insert("authenticationStrength".into(), json!({ "id": id }));
        } else {
            reader.findings.push(
                Finding::new(
                    codes::WRONG_TYPE,
                    e.value.pos,
                    format!(
                        "`authenticationStrength` must be a strength's id, found {}",
                        e.value.describe()
                    ),
                )
                .help("write the id: 00000000-0000-0000-0000-000000000002 (Multifactor authentication), …0003 (Passwordless MFA), …0004 (Phishing resistant MFA), or a custom strength's"),
            );
        }
    }
    Some(Value::Object(controls))
}

fn pos_of(spans: &Spans, pointer: &str, fallback: Pos) -> Pos {
    let p = spans.key(pointer);
    if p == Pos::START { fallback } else { p }
}

fn non_empty(v: &Value) -> bool {
    match v {
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        Value::Null => false,
        _ => true,
    }
}

/// MFA039, MFA040: what the CSDL cannot say about a whole policy.
fn rules(spec: &Value, spans: &Spans, spec_pos: Pos, out: &mut Vec<Finding>) {
    let users = &spec["conditions"]["users"];
    let someone = [
        "includeUsers",
        "includeGroups",
        "includeRoles",
        "includeGuestsOrExternalUsers",
    ]
    .iter()
    .any(|k| non_empty(&users[*k]));
    let apps = &spec["conditions"]["applications"];
    let something = [
        "includeApplications",
        "includeUserActions",
        "includeAuthenticationContextClassReferences",
    ]
    .iter()
    .any(|k| non_empty(&apps[*k]));
    let conditions_at = pos_of(spans, "/conditions", spec_pos);
    if !someone {
        out.push(
            Finding::new(codes::APPLIES_TO_NOTHING, pos_of(spans, "/conditions/users", conditions_at), "the policy applies to nobody: `conditions.users` includes no user, group, role or guest")
                .help("include someone, e.g. `users: {includeUsers: [All], excludeGroups: [Break Glass Accounts]}`"),
        );
    }
    if !something {
        out.push(
            Finding::new(codes::APPLIES_TO_NOTHING, pos_of(spans, "/conditions/applications", conditions_at), "the policy applies to no resource: `conditions.applications` includes no application, user action or authentication context")
                .help("write `applications: {includeApplications: [All]}` for every resource"),
        );
    }
    if !non_empty(&spec["grantControls"]) && !non_empty(&spec["sessionControls"]) {
        out.push(
            Finding::new(
                codes::APPLIES_TO_NOTHING,
                spec_pos,
                "the policy does nothing: it has neither `grantControls` nor `sessionControls`",
            )
            .help("write `grantControls: {operator: OR, builtInControls: [mfa]}` to require MFA"),
        );
    }
    let grant = &spec["grantControls"];
    let mfa = grant["builtInControls"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c == "mfa"));
    if mfa && non_empty(&grant["authenticationStrength"]) {
        out.push(
            Finding::new(codes::MFA_WITH_STRENGTH, pos_of(spans, "/grantControls/authenticationStrength", spec_pos), "`mfa` and an `authenticationStrength` are mutually exclusive")
                .help("keep the strength (the built-in `Multifactor authentication` strength is what `mfa` asks for) and remove `mfa` from builtInControls"),
        );
    }
}

/// Only `state` and the exclusions under `conditions.users` may be declared for a
/// Microsoft-managed policy.
fn managed_only(spec: &Value, spans: &Spans, out: &mut Vec<Finding>) {
    const USERS: &str = "/conditions/users";
    let mut offending = Vec::new();
    for (k, v) in spec.as_object().into_iter().flatten() {
        match k.as_str() {
            "state" => {}
            "conditions" => {
                for (c, cv) in v.as_object().into_iter().flatten() {
                    if c != "users" {
                        offending.push(format!("/conditions/{c}"));
                        continue;
                    }
                    for u in cv.as_object().into_iter().flatten().map(|(u, _)| u) {
                        if !u.starts_with("exclude") {
                            offending.push(format!("{USERS}/{u}"));
                        }
                    }
                }
            }
            other => offending.push(format!("/{other}")),
        }
    }
    for pointer in offending {
        out.push(
            Finding::new(codes::READ_ONLY, spans.key(&pointer), format!("a Microsoft-managed policy's `{}` cannot be changed", pointer.trim_start_matches('/').replace('/', ".")))
                .help("only the state and the excluded users, groups and roles of a Microsoft-managed policy can be declared"),
        );
    }
}

/// Where each user id and group id of `conditions.users` is written.
fn names(spec: &Value, spans: &Spans, document: &Location) -> Vec<(String, Location)> {
    let mut out = Vec::new();
    for key in [
        "includeUsers",
        "excludeUsers",
        "includeGroups",
        "excludeGroups",
    ] {
        let list = spec["conditions"]["users"][key].as_array();
        for (i, v) in list.into_iter().flatten().enumerate() {
            let Some(s) = v.as_str() else { continue };
            if is_guid(s) || USER_KEYWORDS.contains(&s) {
                continue;
            }
            let pointer = format!("/conditions/users/{key}/{i}");
            let location = spans.value(&pointer).at(&document.file);
            out.push((pointer, location));
        }
    }
    out
}

/// Reads the spec of a `ConditionalAccessPolicy` document.
pub(crate) fn read(at: &Spec<'_>) -> (Option<DeclaredConditionalAccessPolicy>, Vec<Finding>) {
    let spec = at.node;
    let mut reader = Reader::default();
    if let Some(e) = spec.get("displayName") {
        reader.findings.push(
            Finding::new(
                codes::READ_ONLY,
                e.key_pos,
                "a policy's displayName is its `metadata.name`",
            )
            .help("remove `displayName` from the spec and name the document instead"),
        );
    }
    let shape = Shape {
        type_name: "conditionalAccessPolicy",
        read_only: POLICY_READ_ONLY,
        handled: &["displayName", "grantControls"],
        extra_names: &[],
    };
    let mut properties = reader.object(spec, &shape, "").unwrap_or_default();
    if let Some(e) = spec.get("grantControls") {
        reader
            .spans
            .record("/grantControls", e.key_pos, e.value.pos);
        if let Some(controls) = grant_controls(&mut reader, &e.value) {
            properties.insert("grantControls".into(), controls);
        }
    }
    let managed = is_managed_name(&at.name);
    for required in ["state", "conditions"] {
        if spec.get(required).is_none() && !managed {
            reader.findings.push(
                Finding::new(
                    codes::MISSING_KEY,
                    at.key_pos,
                    format!("ConditionalAccessPolicy needs `{required}`"),
                )
                .help(if required == "state" {
                    "write `state: enabled`, `enabledForReportingButNotEnforced` or `disabled`"
                } else {
                    "write `conditions:` with `users:` and `applications:`"
                }),
            );
        }
    }
    let whole = Value::Object(properties.clone());
    let mut found = Vec::new();
    if managed {
        managed_only(&whole, &reader.spans, &mut found);
    } else if spec.get("conditions").is_some() {
        rules(&whole, &reader.spans, at.key_pos, &mut found);
    }
    reader.findings.extend(found);
    if reader.has_errors() || at.name.is_empty() {
        return (None, reader.findings);
    }
    let declared = DeclaredConditionalAccessPolicy {
        display_name: at.name.clone(),
        name_locations: names(&whole, &reader.spans, &at.document),
        properties,
        location: at.document.clone(),
    };
    (Some(declared), reader.findings)
}
