//! `kind: AuthenticationStrength`: a custom strength of
//! `/policies/authenticationStrengthPolicies`, keyed by display name (FACTS-CA items 5–10).
//!
//! ```yaml
//! apiVersion: mfactl/v1
//! kind: AuthenticationStrength
//! metadata: {name: Registration with a Temporary Access Pass}
//! spec:
//!   description: Phishing-resistant methods, and a one-time pass to register one
//!   allowedCombinations: [fido2, windowsHelloForBusiness, temporaryAccessPassOneTime]
//! ```
//!
//! The three built-in strengths are referenced by id and never declared. A combination is
//! compared as Graph stores it (`"password, sms"` equals `"password,sms"`), and must be one
//! of the built-in Multifactor authentication strength's. A change of combinations goes
//! through `updateAllowedCombinations`, since PATCH cannot change them; a changed
//! description is PATCHed.

pub mod export;

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::change::property_changes;
use super::collection::{Collection, change, created, resource, with_display_name};
use super::{Declare, Kind, Phase, ResourceChange, Spec};
use crate::msgraph::conditional_access::{
    BUILT_IN_STRENGTHS, STRENGTH_READ_ONLY, is_valid_combination, normalise_combination,
};
use crate::source::diagnostic::{Finding, Location, codes};
use crate::source::spec::{Reader, Shape};
use crate::source::yaml::NodeKind;
use crate::tenant::names::{NameKind, Names, Resolution};

pub use crate::msgraph::conditional_access::STRENGTHS_PATH;

/// The declared `AuthenticationStrength`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeclaredStrength {
    /// `metadata.name`: the strength's display name.
    pub display_name: String,
    /// The declared properties in Graph JSON, combinations as Graph stores them.
    pub properties: Map<String, Value>,
    /// Where the document starts.
    pub location: Location,
    /// Where the `allowedCombinations` key is written.
    pub combinations_location: Location,
}

/// The `AuthenticationStrength` kind.
pub struct AuthenticationStrength;

impl Kind for AuthenticationStrength {
    const NAME: &'static str = "AuthenticationStrength";
    const PHASE: Phase = Phase::References;
    type Declared = DeclaredStrength;
    type Desired = DeclaredStrength;

    /// A policy may name the strength before the tenant has it: it resolves to the id its
    /// create will answer.
    fn names(declared: &DeclaredStrength, names: &mut Names) {
        let name = &declared.display_name;
        names.declare(NameKind::Strength, name, created(&resource::<Self>(name)));
    }

    fn desired(declared: &DeclaredStrength, _: &Resolution) -> DeclaredStrength {
        declared.clone()
    }
}

impl Declare for AuthenticationStrength {
    fn declare(at: &Spec<'_>) -> (Option<DeclaredStrength>, Vec<Finding>) {
        let mut reader = Reader::default();
        if let Some(builtin) = BUILT_IN_STRENGTHS
            .iter()
            .find(|b| b.display_name == at.name)
        {
            reader.findings.push(
                Finding::new(
                    codes::READ_ONLY,
                    at.key_pos,
                    format!("`{}` is a built-in strength and cannot be declared", at.name),
                )
                .help(format!(
                    "reference it from a policy by its id ({}), or declare a custom strength under another name",
                    builtin.id
                )),
            );
            return (None, reader.findings);
        }
        let shape = Shape {
            type_name: "authenticationStrengthPolicy",
            read_only: STRENGTH_READ_ONLY,
            handled: &["displayName", "combinationConfigurations"],
            extra_names: &[],
        };
        for handled in ["displayName", "combinationConfigurations"] {
            if let Some(e) = at.node.get(handled) {
                let message = if handled == "displayName" {
                    "a strength's displayName is its `metadata.name`"
                } else {
                    "`combinationConfigurations` (FIDO2 AAGUID restrictions) are not managed yet"
                };
                reader
                    .findings
                    .push(Finding::new(codes::UNKNOWN_KEY, e.key_pos, message));
            }
        }
        let mut properties = reader.object(at.node, &shape, "").unwrap_or_default();
        match (at.node.get("allowedCombinations"), properties.get("allowedCombinations")) {
            (None, _) => reader.findings.push(
                Finding::new(
                    codes::MISSING_KEY,
                    at.key_pos,
                    "AuthenticationStrength needs `allowedCombinations`",
                )
                .help("list the methods that satisfy it, e.g. `allowedCombinations: [fido2, windowsHelloForBusiness]`"),
            ),
            (Some(e), Some(Value::Array(list))) => {
                let normalised: Vec<String> = list
                    .iter()
                    .filter_map(Value::as_str)
                    .map(normalise_combination)
                    .collect();
                let nodes = match &e.value.kind {
                    NodeKind::Seq(items) => items.as_slice(),
                    _ => &[],
                };
                for (combination, node) in normalised.iter().zip(nodes) {
                    if !is_valid_combination(combination) {
                        reader.findings.push(
                            Finding::new(
                                codes::UNKNOWN_ENUM_VALUE,
                                node.pos,
                                format!("`{combination}` is not a combination a strength can allow"),
                            )
                            .help("the combinations are those of the built-in Multifactor authentication strength: fido2, windowsHelloForBusiness, x509CertificateMultiFactor, temporaryAccessPassOneTime, \"password, sms\", …"),
                        );
                    }
                }
                properties.insert("allowedCombinations".into(), json!(normalised));
            }
            _ => {}
        }
        if reader.has_errors() || at.name.is_empty() {
            return (None, reader.findings);
        }
        // Required: without it, MFA024 is already among the findings.
        let Some(combinations) = at.node.get("allowedCombinations") else {
            return (None, reader.findings);
        };
        let declared = DeclaredStrength {
            display_name: at.name.clone(),
            properties,
            location: at.document.clone(),
            combinations_location: combinations.key_pos.at(at.file),
        };
        (Some(declared), reader.findings)
    }
}

impl Collection for AuthenticationStrength {
    const PATH: &'static str = STRENGTHS_PATH;
    const RESOURCE: &'static str = "authenticationStrengths";

    fn key(desired: &DeclaredStrength) -> &str {
        &desired.display_name
    }

    fn properties(desired: &DeclaredStrength) -> Map<String, Value> {
        with_display_name(&desired.display_name, &desired.properties)
    }

    fn protected(live: &Value) -> bool {
        Self::built_in(live)
    }

    fn built_in(live: &Value) -> bool {
        live["policyType"] == "builtIn"
    }

    /// Combinations through `updateAllowedCombinations`, the rest by PATCH.
    fn update(desired: &DeclaredStrength, observed: &Value, id: &str) -> Vec<ResourceChange> {
        let resource = resource::<Self>(&desired.display_name);
        let mut declared = Self::properties(desired);
        let combinations = declared.remove("allowedCombinations");
        let mut out = Vec::new();
        if let Some(want) = combinations {
            let (changes, _) = property_changes(
                &Map::from_iter([("allowedCombinations".to_string(), want.clone())]),
                observed,
            );
            if !changes.is_empty() {
                out.push(change(
                    "POST",
                    resource.clone(),
                    format!("{STRENGTHS_PATH}/{id}/updateAllowedCombinations"),
                    changes,
                    json!({ "allowedCombinations": want }),
                ));
            }
        }
        let (properties, body) = property_changes(&declared, observed);
        if !properties.is_empty() {
            out.push(change(
                "PATCH",
                resource,
                format!("{STRENGTHS_PATH}/{id}"),
                properties,
                Value::Object(body),
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests;
