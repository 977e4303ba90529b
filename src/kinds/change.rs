//! What every kind's comparison produces: a change to one property of one resource, one
//! PATCH, and why a plan cannot be made.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::diff;

/// A change to one property of one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PropertyChange {
    /// Top-level property name.
    pub name: String,
    /// Live value (`null` when absent).
    pub before: Value,
    /// The value after the PATCH (what is sent, with the members the service keeps).
    pub after: Value,
}

/// One PATCH.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceChange {
    /// Human name: `authenticationMethodsPolicy`, `authenticationMethodConfigurations/Fido2`, …
    pub resource: String,
    /// HTTP method (always `PATCH`).
    pub method: String,
    /// Graph path, version included.
    pub path: String,
    /// What changes, property by property.
    pub properties: Vec<PropertyChange>,
    /// The exact request body.
    pub body: Value,
}

/// Why a plan cannot be made.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PlanError {
    /// A declared method configuration does not exist in the tenant (a built-in method the
    /// tenant does not offer yet, or an external method that was never created).
    #[error("the tenant has no {odata_type} configuration for methods.{key}")]
    MissingConfiguration {
        /// The YAML key.
        key: String,
        /// Its OData type.
        odata_type: String,
    },
    /// The live policy could not be understood (not an object, no configurations list).
    #[error("the live authentication methods policy has an unexpected shape: {0}")]
    UnexpectedLiveShape(String),
    /// A live collection listed an item without an id or a display name.
    #[error("the live {collection} list has an item without an id or a display name")]
    UnexpectedCollectionShape {
        /// The collection, as the plan names it (`namedLocations`).
        collection: &'static str,
    },
    /// A Conditional Access policy would be enabled while the tenant's security defaults
    /// stay on, which Graph refuses (FACTS-CA item 28).
    #[error(
        "{policy} would be enabled while the tenant's security defaults stay on, which Graph refuses; declare SecurityDefaults `enabled: false` (mfactl then enables the policies right after switching them off) or keep the policy `enabledForReportingButNotEnforced`"
    )]
    EnabledWhileSecurityDefaultsOn {
        /// The policy, as the plan names it.
        policy: String,
    },
    /// The policy set declares kinds that need Microsoft Entra ID P1 (Conditional Access and
    /// what it references), and none of the tenant's subscriptions has a P1 or P2 service
    /// plan (FACTS-CA items 27 and 36). Checked before anything is read or sent.
    #[error(
        "the tenant has no Microsoft Entra ID P1 (no AAD_PREMIUM or AAD_PREMIUM_P2 service plan in its subscribedSkus), which {} need{}; nothing was sent. Without P1, security defaults protect the tenant: start from the baseline in baselines/security-defaults/, which declares them and no Conditional Access",
        kinds.join(", "),
        if kinds.len() == 1 { "s" } else { "" }
    )]
    NoEntraIdP1 {
        /// The declared kinds that need P1, by their `kind:` name.
        kinds: Vec<&'static str>,
    },
}

/// The declared properties that `live` does not satisfy, each as a change, and the PATCH body
/// that sets them: each sent value merged with what the service keeps ([`diff::merged`]).
pub fn property_changes(
    declared: &Map<String, Value>,
    live: &Value,
) -> (Vec<PropertyChange>, Map<String, Value>) {
    let mut changes = Vec::new();
    let mut body = Map::new();
    for (name, want) in declared {
        let have = live.get(name);
        if diff::satisfied(want, have, Some(name)) {
            continue;
        }
        let sent = diff::merged(want, have, name);
        changes.push(PropertyChange {
            name: name.clone(),
            before: have.cloned().unwrap_or(Value::Null),
            after: diff::resulting(&sent, have),
        });
        body.insert(name.clone(), sent);
    }
    (changes, body)
}
