//! `kind: AuthenticationMethodsPolicy`: the tenant-wide settings of
//! `policies/authenticationMethodsPolicy` and, under `methods:`, its method configurations.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use super::lints;
use super::rules;
use crate::kinds::Spec;
use crate::msgraph::methods::CONFIGURATION_KINDS;
use crate::msgraph::schema::is_guid;
use crate::source::diagnostic::{Finding, Location, codes};
use crate::source::spec::{Reader, Shape, child};
use crate::source::suggest;
use crate::source::targets::{UnresolvedTarget, unresolved_targets_in};

/// The OData type of an external (third-party) authentication method.
pub const EXTERNAL_METHOD_TYPE: &str = "#microsoft.graph.externalAuthenticationMethodConfiguration";

/// Properties of the policy that Graph sets and a declaration may not.
const POLICY_READ_ONLY: &[&str] = &[
    "id",
    "lastModifiedDateTime",
    "policyVersion",
    "description",
    "displayName",
];

/// The declared `AuthenticationMethodsPolicy`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeclaredMethodsPolicy {
    /// `metadata.name`.
    pub name: String,
    /// Where the document starts.
    pub location: Location,
    /// Declared top-level properties in Graph JSON (targets normalised); never contains methods.
    pub properties: Map<String, Value>,
    /// The declared method configurations, in the order written.
    pub methods: Vec<DeclaredMethod>,
    /// JSON pointer → where it was written. A property points at its key, a list item at the
    /// item, a target's `id` at the name or id written (`group: <here>`) and its `targetType`
    /// at the `group`/`user`/`targetType` key. Pointers: `/systemCredentialPreferences/state`,
    /// `/methods/fido2`, `/methods/fido2/includeTargets/0/id`, ...
    pub locations: BTreeMap<String, Location>,
}

/// One declared method configuration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeclaredMethod {
    /// The key under `methods:` (`fido2`, or an external method's GUID in lower case).
    pub key: String,
    /// Full OData type, `#microsoft.graph.fido2AuthenticationMethodConfiguration`.
    pub odata_type: String,
    /// The id GET returns: `Fido2`, or the external method's GUID.
    pub id: String,
    /// Declared properties in Graph JSON (targets normalised), without id and `@odata.type`.
    pub properties: Map<String, Value>,
    /// Where the method's key is written.
    pub location: Location,
}

impl DeclaredMethodsPolicy {
    /// Every target whose id is still a group display name or a UPN, with the pointer of its
    /// `id` in the namespace of [`DeclaredMethodsPolicy::locations`].
    pub fn unresolved_targets(&self) -> Vec<UnresolvedTarget> {
        let mut out = unresolved_targets_in(&self.properties, "");
        for m in &self.methods {
            out.extend(unresolved_targets_in(
                &m.properties,
                &child("/methods", &m.key),
            ));
        }
        out
    }

    /// Replaces the target id at `pointer` (as given by
    /// [`DeclaredMethodsPolicy::unresolved_targets`]) with `id`, typically the object id a
    /// name resolved to. Returns whether the pointer named a string id.
    pub fn set_target_id(&mut self, pointer: &str, id: &str) -> bool {
        let (properties, rest) = match pointer.strip_prefix("/methods/") {
            Some(tail) => {
                let (token, rest) = tail.split_once('/').unwrap_or((tail, ""));
                let key = token.replace("~1", "/").replace("~0", "~");
                match self.methods.iter_mut().find(|m| m.key == key) {
                    Some(m) => (&mut m.properties, format!("/{rest}")),
                    None => return false,
                }
            }
            None => (&mut self.properties, pointer.to_string()),
        };
        let mut tree = Value::Object(std::mem::take(properties));
        let done = match tree.pointer_mut(&rest) {
            Some(slot @ Value::String(_)) => {
                *slot = Value::String(id.to_string());
                true
            }
            _ => false,
        };
        if let Value::Object(map) = tree {
            *properties = map;
        }
        done
    }
}

impl DeclaredMethod {
    /// Whether the method is declared usable, as the lockout rule counts it
    /// ([`rules::usable`]); `None` when its `state` is not declared, so that the tenant's
    /// state decides.
    pub fn usable(&self) -> Option<bool> {
        let state = self.properties.get("state").filter(|s| s.is_string())?;
        let targets = self
            .properties
            .get("includeTargets")
            .unwrap_or(&Value::Null);
        Some(rules::usable(state, targets))
    }
}

/// What `methods:` key names: its GET id and OData type.
fn method_kind(key: &str) -> Option<(String, String)> {
    if let Some(kind) = CONFIGURATION_KINDS.iter().find(|k| k.segment == key) {
        return Some((
            kind.id.to_string(),
            format!("#microsoft.graph.{}", kind.odata_type),
        ));
    }
    is_guid(key).then(|| (key.to_ascii_lowercase(), EXTERNAL_METHOD_TYPE.to_string()))
}

/// Reads the spec of an `AuthenticationMethodsPolicy` document.
pub(crate) fn read(at: &Spec<'_>) -> (DeclaredMethodsPolicy, Vec<Finding>) {
    let (spec, file) = (at.node, at.file);
    let (name, location) = (at.name.clone(), at.document.clone());
    let mut reader = Reader::default();
    let shape = Shape {
        type_name: "authenticationMethodsPolicy",
        read_only: POLICY_READ_ONLY,
        handled: &["methods", "authenticationMethodConfigurations"],
        extra_names: &["methods"],
    };
    let properties = reader.object(spec, &shape, "").unwrap_or_default();
    if let Some(e) = spec.get("authenticationMethodConfigurations") {
        reader.findings.push(
            Finding::new(
                codes::UNKNOWN_KEY,
                e.key_pos,
                "method configurations are declared under `methods:`, not `authenticationMethodConfigurations`",
            )
            .help("write `methods:` with one key per method: `fido2:`, `sms:`, ... or an external method's GUID"),
        );
    }
    let mut methods = Vec::new();
    let mut moved = Vec::new();
    let mut declared = Map::new();
    if let Some(entry) = spec.get("methods") {
        reader
            .spans
            .record("/methods", entry.key_pos, entry.value.pos);
        match entry.value.entries() {
            Some(entries) => {
                for m in entries {
                    let Some((id, odata_type)) = method_kind(&m.key) else {
                        let segments = CONFIGURATION_KINDS.iter().map(|k| k.segment);
                        let help = suggest::help(&m.key, segments)
                            .unwrap_or_else(|| "built-in methods are fido2, microsoftAuthenticator, sms, voice, email, temporaryAccessPass, softwareOath, hardwareOath, x509Certificate, qrCodePin and verifiableCredentials; an external method is keyed by its GUID".into());
                        reader.findings.push(
                            Finding::new(
                                codes::UNKNOWN_METHOD,
                                m.key_pos,
                                format!("unknown method `{}`", m.key),
                            )
                            .help(help),
                        );
                        continue;
                    };
                    let key = if is_guid(&m.key) {
                        m.key.to_ascii_lowercase()
                    } else {
                        m.key.clone()
                    };
                    let pointer = child("/methods", &key);
                    reader.spans.record(&pointer, m.key_pos, m.value.pos);
                    let type_name = odata_type.trim_start_matches("#microsoft.graph.");
                    let shape = Shape {
                        type_name,
                        read_only: &["id"],
                        handled: &[],
                        extra_names: &[],
                    };
                    let props = reader
                        .object(&m.value, &shape, &pointer)
                        .unwrap_or_default();
                    // Moved into the whole spec for the rules, and back after them. An
                    // external method's GUID written twice (in two cases) keeps its own:
                    // the rules see the first.
                    let first = !declared.contains_key(&key);
                    moved.push(first);
                    let properties = if first {
                        declared.insert(key.clone(), Value::Object(props));
                        Map::new()
                    } else {
                        props
                    };
                    methods.push(DeclaredMethod {
                        key,
                        odata_type,
                        id,
                        properties,
                        location: m.key_pos.at(file),
                    });
                }
            }
            None => reader.findings.push(
                Finding::new(
                    codes::WRONG_TYPE,
                    entry.value.pos,
                    format!(
                        "`methods` must be a mapping of method keys, found {}",
                        entry.value.describe()
                    ),
                )
                .help(
                    "write `methods:` followed by `fido2:`, `sms:`, ... each with its properties",
                ),
            ),
        }
    }
    // The rules and lints read the whole spec at once: the properties and the methods are
    // moved into it and back out, never copied (a method's targets may number 100,000).
    let mut whole = properties;
    whole.insert("methods".into(), Value::Object(declared));
    let whole = Value::Object(whole);
    let rule_findings = rules::check(&whole, &reader.spans, "/methods");
    reader.findings.extend(rule_findings);
    let lint_findings = lints::check(&whole, &reader.spans);
    reader.findings.extend(lint_findings);
    let mut properties = match whole {
        Value::Object(whole) => whole,
        _ => Map::new(),
    };
    if let Some(Value::Object(mut declared)) = properties.remove("methods") {
        for (m, moved) in methods.iter_mut().zip(moved) {
            if moved && let Some(Value::Object(props)) = declared.remove(&m.key) {
                m.properties = props;
            }
        }
    }
    let locations = reader
        .spans
        .into_keys()
        .map(|(pointer, pos)| (pointer, pos.at(file)))
        .collect();
    let policy = DeclaredMethodsPolicy {
        name,
        location,
        properties,
        methods,
        locations,
    };
    (policy, reader.findings)
}
