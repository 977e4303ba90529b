//! `kind: ConditionalAccessPolicy`: how its spec is read and checked.
//!
//! ```yaml
//! apiVersion: mfactl/v1
//! kind: ConditionalAccessPolicy
//! metadata: {name: Require phishing-resistant MFA for admins}   # displayName, and key
//! spec:
//!   state: enabled
//!   conditions:
//!     users:
//!       includeRoles: [Global Administrator]     # a role's display name or template id
//!       excludeGroups: [Break Glass Accounts]    # a display name or an object id
//!     applications:
//!       includeApplications: [All]               # an appId or All, Office365, ...
//!     locations:
//!       includeLocations: [All]
//!       excludeLocations: [Corporate network]    # a named location's display name or id
//!   grantControls:
//!     operator: OR
//!     authenticationStrength: Phishing-resistant MFA   # a strength's display name or id
//! ```
//!
//! The spec is Graph's `conditionalAccessPolicy` in Graph's names, checked against the CSDL
//! (FACTS-CA items 14–22). Wherever Graph takes an id, a name may be written instead, and is
//! resolved against the tenant before planning (MFA038 when it matches no object or
//! several): users by UPN (or Graph's `All`, `None`, `GuestsOrExternalUsers`), groups,
//! directory roles (their templates, item 18), named locations (besides Graph's `All` and
//! `AllTrusted`, item 13) and authentication strengths by display name.
//! `grantControls.authenticationStrength` takes the strength's name or id, or Graph's
//! `{id: …}`; the built-in strengths' names are known without a read. A location or
//! strength declared in the same policy set that the tenant lacks resolves to the id its
//! create answers (`{created:namedLocations/<name>}` until then). Applications are written
//! by appId or Graph's keywords (`All`, `Office365`, `MicrosoftAdminPortals`, `None`, item
//! 19): anything else is MFA010, with the closest keyword.
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
use crate::msgraph::conditional_access::{
    APPLICATION_KEYWORDS, MANAGED_POLICY_PREFIX, POLICY_READ_ONLY, SPECIAL_LOCATIONS,
};
use crate::msgraph::schema::is_guid;
use crate::source::diagnostic::{Finding, Location, Pos, codes};
use crate::source::spec::{Reader, Shape, Spans};
use crate::source::suggest;
use crate::source::yaml::Node;
use crate::tenant::names::NameKind;

/// Whether a policy's display name marks it Microsoft-managed (FACTS-CA item 33); the
/// space after the colon is not required.
pub fn is_managed_name(name: &str) -> bool {
    name.starts_with(MANAGED_POLICY_PREFIX.trim_end())
}

/// Graph's keywords in `includeUsers` / `excludeUsers`.
pub const USER_KEYWORDS: &[&str] = &["All", "None", "GuestsOrExternalUsers"];

/// The lists of a policy whose items may be names: where they are, the kind of name, and
/// Graph's keywords there, which are not names. A location keyword is taken in any case, as
/// the service takes it.
pub(super) const NAMED_LISTS: &[(&str, NameKind, &[&str])] = &[
    (
        "/conditions/users/includeUsers",
        NameKind::User,
        USER_KEYWORDS,
    ),
    (
        "/conditions/users/excludeUsers",
        NameKind::User,
        USER_KEYWORDS,
    ),
    ("/conditions/users/includeGroups", NameKind::Group, &[]),
    ("/conditions/users/excludeGroups", NameKind::Group, &[]),
    ("/conditions/users/includeRoles", NameKind::Role, &[]),
    ("/conditions/users/excludeRoles", NameKind::Role, &[]),
    (
        "/conditions/locations/includeLocations",
        NameKind::Location,
        SPECIAL_LOCATIONS,
    ),
    (
        "/conditions/locations/excludeLocations",
        NameKind::Location,
        SPECIAL_LOCATIONS,
    ),
];

/// Where the strength's id (or name) is kept: `grantControls.authenticationStrength` is
/// read as Graph's `{id}`.
const STRENGTH_ID: &str = "/grantControls/authenticationStrength/id";

/// The kind of name written at `pointer` (one of [`DeclaredConditionalAccessPolicy::name_locations`]).
pub(super) fn name_kind(pointer: &str) -> Option<NameKind> {
    if pointer == STRENGTH_ID {
        return Some(NameKind::Strength);
    }
    let (list, _) = pointer.rsplit_once('/')?;
    NAMED_LISTS
        .iter()
        .find(|(l, _, _)| *l == list)
        .map(|(_, kind, _)| *kind)
}

/// The declared `ConditionalAccessPolicy`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeclaredConditionalAccessPolicy {
    /// `metadata.name`: the policy's display name.
    pub display_name: String,
    /// The declared properties in Graph JSON (`state`, `conditions`, `grantControls`,
    /// `sessionControls`, `description`), names as written.
    pub properties: Map<String, Value>,
    /// JSON pointer of each name written where Graph takes an id
    /// (`/conditions/users/includeGroups/0`, `/grantControls/authenticationStrength/id`) →
    /// where it is written, for name resolution.
    pub name_locations: Vec<(String, Location)>,
    /// Where the document starts.
    pub location: Location,
}

/// Reads `grantControls`, taking `authenticationStrength` as a strength's display name or
/// id, written alone or as Graph's `{id: …}`, and keeping it as `{id}`.
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
        let written = match (e.value.as_str(), e.value.get("id")) {
            (Some(text), _) => Some((text, e.key_pos, e.value.pos)),
            (None, Some(id)) => id
                .value
                .as_str()
                .map(|text| (text, id.key_pos, id.value.pos)),
            (None, None) => None,
        };
        match written.filter(|(text, _, _)| !text.trim().is_empty()) {
            Some((text, key, value)) => {
                reader.spans.record(STRENGTH_ID, key, value);
                controls.insert("authenticationStrength".into(), json!({ "id": text }));
            }
            None => reader.findings.push(
                Finding::new(
                    codes::WRONG_TYPE,
                    e.value.pos,
                    format!(
                        "`authenticationStrength` must be a strength's display name or id, found {}",
                        e.value.describe()
                    ),
                )
                .help("write a built-in strength's name (Multifactor authentication, Passwordless MFA, Phishing-resistant MFA), a custom strength's name, or an id"),
            ),
        }
    }
    Some(Value::Object(controls))
}

/// MFA010 for each application that is neither an appId nor one of Graph's keywords.
fn applications(spec: &Value, spans: &Spans, out: &mut Vec<Finding>) {
    for key in ["includeApplications", "excludeApplications"] {
        let list = spec["conditions"]["applications"][key].as_array();
        for (i, v) in list.into_iter().flatten().enumerate() {
            let Some(s) = v.as_str() else { continue };
            if is_guid(s) || APPLICATION_KEYWORDS.contains(&s) {
                continue;
            }
            let at = spans.value(&format!("/conditions/applications/{key}/{i}"));
            out.push(
                Finding::new(
                    codes::UNKNOWN_ENUM_VALUE,
                    at,
                    format!("`{s}` in `{key}` is neither an application id (appId) nor one of Graph's keywords"),
                )
                .help(suggest::help(s, APPLICATION_KEYWORDS.iter().copied()).unwrap_or_else(|| {
                    format!(
                        "write the application's appId (a GUID) or one of {}",
                        APPLICATION_KEYWORDS.join(", ")
                    )
                })),
            );
        }
    }
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

/// Where each name is written: every item of [`NAMED_LISTS`] that is neither a GUID nor a
/// keyword of its list, and a strength written by name.
fn names(spec: &Value, spans: &Spans, document: &Location) -> Vec<(String, Location)> {
    let mut out = Vec::new();
    let mut add = |pointer: String| {
        let location = spans.value(&pointer).at(&document.file);
        out.push((pointer, location));
    };
    for (list, kind, keywords) in NAMED_LISTS {
        let items = spec.pointer(list).and_then(Value::as_array);
        for (i, v) in items.into_iter().flatten().enumerate() {
            let Some(s) = v.as_str() else { continue };
            let keyword = keywords.iter().any(|k| match kind {
                NameKind::Location => k.eq_ignore_ascii_case(s),
                _ => *k == s,
            });
            if !is_guid(s) && !keyword {
                add(format!("{list}/{i}"));
            }
        }
    }
    if spec
        .pointer(STRENGTH_ID)
        .and_then(Value::as_str)
        .is_some_and(|s| !is_guid(s))
    {
        add(STRENGTH_ID.to_string());
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
    applications(&whole, &reader.spans, &mut found);
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
