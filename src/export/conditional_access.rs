//! `mfactl export` of the Conditional Access kinds: one document per policy, named location
//! and custom authentication strength of the tenant, each as its kind's export module
//! declares it, with names written in place of ids wherever they read back as the same
//! object (`plan` resolves them), and beside each id kept a comment saying why.
//!
//! mfactl keys these kinds by display name, so items that share one are left out (and
//! listed as unmanaged by `plan`), as are items without a name or that no declaration can
//! hold; each is reported.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::Names;
use super::render::{self, Document, Header};
use crate::kinds::authentication_strength::{AuthenticationStrength, export as strength};
use crate::kinds::conditional_access::{ConditionalAccessPolicy, export as policy};
use crate::kinds::named_location::{NamedLocation, export as location};
use crate::kinds::{Collection, Kind, LiveState};
use crate::tenant::names::NameKind;

/// Items of one kind: display name and spec, in the tenant's order.
type Items = Vec<(String, Map<String, Value>)>;

/// What of the tenant's Conditional Access the export declares.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exported {
    /// The policies, ids as Graph holds them.
    pub policies: Items,
    /// The named locations.
    pub locations: Items,
    /// The custom authentication strengths.
    pub strengths: Items,
    /// What was left out or left incomplete, and why, one line each.
    pub notes: Vec<String>,
}

/// The items of `live` with a display name that no other item has, each as `declarable`
/// gives it; the others noted, once per name.
fn keyed(
    noun: &str,
    live: &[Value],
    declarable: impl Fn(&Value) -> Option<Map<String, Value>>,
    notes: &mut Vec<String>,
) -> Items {
    let names: Vec<&str> = live
        .iter()
        .map(|v| v["displayName"].as_str().unwrap_or_default())
        .collect();
    let mut out = Vec::new();
    for (i, (item, name)) in live.iter().zip(&names).enumerate() {
        let shared = names.iter().filter(|n| *n == name).count();
        let first = names.iter().position(|n| n == name) == Some(i);
        if name.trim().is_empty() {
            notes.push(format!("a {noun} without a display name: not exported"));
        } else if shared > 1 {
            if first {
                notes.push(format!(
                    "{noun} '{name}': {shared} share this display name, by which mfactl keys them; not exported"
                ));
            }
        } else if let Some(spec) = declarable(item) {
            out.push((name.to_string(), spec));
        } else {
            notes.push(format!(
                "{noun} '{name}': no declaration can hold it (an unknown type, or nothing in it); not exported"
            ));
        }
    }
    out
}

impl Exported {
    /// What of the live collections a declaration may hold (a collection not read holds
    /// nothing). Built-in strengths are referenced, never declared, and not mentioned.
    pub fn from_live(live: &LiveState) -> Self {
        let mut notes = Vec::new();
        let policies = keyed(
            "Conditional Access policy",
            live.conditional_access_policies
                .as_deref()
                .unwrap_or_default(),
            |p| Some(policy::declarable(p)).filter(|s| !s.is_empty()),
            &mut notes,
        );
        let locations = keyed(
            "named location",
            live.named_locations.as_deref().unwrap_or_default(),
            location::declarable,
            &mut notes,
        );
        let custom: Vec<Value> = live
            .authentication_strengths
            .iter()
            .flatten()
            .filter(|s| !AuthenticationStrength::built_in(s))
            .cloned()
            .collect();
        let strengths = keyed(
            "authentication strength",
            &custom,
            strength::declarable,
            &mut notes,
        );
        for s in custom.iter().filter(|s| strength::has_configurations(s)) {
            notes.push(format!(
                "authentication strength '{}': its FIDO2 combination configurations are not managed yet, and not written",
                s["displayName"].as_str().unwrap_or_default()
            ));
        }
        Exported {
            policies,
            locations,
            strengths,
            notes,
        }
    }

    /// The ids of `kind` the policies hold that a name can stand for, in lower case, each
    /// once.
    pub fn references(&self, kind: NameKind) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (_, spec) in &self.policies {
            let tree = Value::Object(spec.clone());
            for (pointer, k) in policy::references(spec) {
                let id = tree.pointer(&pointer).and_then(Value::as_str);
                if let Some(id) = id.filter(|_| k == kind).map(str::to_ascii_lowercase)
                    && !out.contains(&id)
                {
                    out.push(id);
                }
            }
        }
        out
    }

    /// The files, `(name, text)`, of the kinds with at least one document.
    pub fn files(&self, header: &Header, names: &Names) -> Vec<(&'static str, String)> {
        let named: Vec<(Map<String, Value>, HashMap<String, String>)> = self
            .policies
            .iter()
            .map(|(_, spec)| with_names(spec, names))
            .collect();
        let policies: Vec<Document<'_>> = self
            .policies
            .iter()
            .zip(&named)
            .map(|((name, _), (spec, comments))| Document {
                kind: ConditionalAccessPolicy::NAME,
                name,
                spec,
                comments,
            })
            .collect();
        let none = HashMap::new();
        let mut out = Vec::new();
        for (file, documents) in [
            (
                location::LOCATIONS_FILE,
                documents(NamedLocation::NAME, &self.locations, &none),
            ),
            (
                strength::STRENGTHS_FILE,
                documents(AuthenticationStrength::NAME, &self.strengths, &none),
            ),
            (policy::POLICIES_FILE, policies),
        ] {
            if !documents.is_empty() {
                out.push((file, render::documents(header, &documents)));
            }
        }
        out
    }
}

/// The documents of `items`, without comments.
fn documents<'a>(
    kind: &'a str,
    items: &'a Items,
    none: &'a HashMap<String, String>,
) -> Vec<Document<'a>> {
    items
        .iter()
        .map(|(name, spec)| Document {
            kind,
            name,
            spec,
            comments: none,
        })
        .collect()
}

/// `spec` with a name in place of each id that has a usable one, and a comment beside each
/// id kept, by pointer.
fn with_names(
    spec: &Map<String, Value>,
    names: &Names,
) -> (Map<String, Value>, HashMap<String, String>) {
    let mut tree = Value::Object(spec.clone());
    let mut comments = HashMap::new();
    for (pointer, kind) in policy::references(spec) {
        let Some(slot) = tree.pointer_mut(&pointer) else {
            continue;
        };
        let Some(id) = slot.as_str().map(str::to_string) else {
            continue;
        };
        match names.reference(kind, &id) {
            Ok(name) => *slot = Value::String(name.to_string()),
            Err(kept) => {
                comments.insert(pointer, kept.reason(kind));
            }
        }
    }
    match tree {
        Value::Object(m) => (m, comments),
        _ => (Map::new(), comments),
    }
}
