//! Whether the methods a user registered can satisfy an authentication strength.
//!
//! A strength is a list of allowed combinations (conditional-access FACTS item 6, built-in and
//! custom alike); a combination is a comma-separated list of modes, spelled `"password, sms"`
//! on create and `"password,sms"` on read (item 9). The user satisfies the strength when they
//! hold every mode of at least one combination, as [`crate::msgraph::modes`] reads modes from
//! the registration report. So a user whose only method is a Temporary Access Pass satisfies
//! "Multifactor authentication" but not "Phishing resistant MFA" (item 51).
//!
//! This is about what the user *registered*, not what the methods policy lets them use.

use serde::Serialize;
use serde_json::Value;

use super::directory::Registered;
use crate::msgraph::modes::{ModeSource, combination_modes, mode_source};

/// Whether a user's registered methods can satisfy what a policy asks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Satisfaction {
    /// At least one allowed combination is registered.
    Satisfied,
    /// No allowed combination is registered: the user cannot pass the policy as they are.
    NotSatisfied,
    /// The strength the policy names was not given to the simulation.
    #[default]
    Unknown,
}

/// One authentication strength (`authenticationStrengthPolicy`), compiled once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Strength {
    id: String,
    display_name: String,
    /// Per allowed combination, one set per mode that needs a registered method: the user
    /// must hold a value of each. Combinations no report value can show (federated modes,
    /// modes mfactl does not know) are left out: no user is seen to hold them.
    combinations: Vec<Vec<Registered>>,
}

impl Strength {
    /// From the Graph JSON of an `authenticationStrengthPolicy` (as listed, as created, or
    /// inline in a policy's `grantControls.authenticationStrength` on GET: FACTS item 21);
    /// `None` without an `id` or an `allowedCombinations` array.
    pub fn from_graph(policy: &Value) -> Option<Self> {
        let id = policy["id"].as_str()?;
        let combinations = policy["allowedCombinations"]
            .as_array()?
            .iter()
            .filter_map(Value::as_str)
            .filter_map(|combination| {
                let mut needs = Vec::new();
                for mode in combination_modes(combination) {
                    match mode_source(mode)? {
                        ModeSource::Everyone => {}
                        ModeSource::Registered(values) => {
                            needs.push(Registered::from_values(values.iter().copied()))
                        }
                        ModeSource::NotReported => return None,
                    }
                }
                Some(needs)
            })
            .collect();
        Some(Self {
            id: id.to_ascii_lowercase(),
            display_name: policy["displayName"].as_str().unwrap_or(id).to_string(),
            combinations,
        })
    }

    /// The strength's id (lower case).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The strength's display name (its id when it has none).
    pub fn display_name(&self) -> &str {
        &self.display_name
    }

    /// Whether a user who registered `registered` holds every mode of some allowed
    /// combination.
    pub fn satisfied_by(&self, registered: Registered) -> Satisfaction {
        if self
            .combinations
            .iter()
            .any(|needs| needs.iter().all(|need| registered.overlaps(*need)))
        {
            Satisfaction::Satisfied
        } else {
            Satisfaction::NotSatisfied
        }
    }
}
