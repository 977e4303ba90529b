//! `kind: SecurityDefaults`: v1.0 `policies/identitySecurityDefaultsEnforcementPolicy`, on or
//! off. Its spec is read in [`spec`].

pub mod spec;

use serde_json::{Value, json};

use super::{Declare, Kind, Phase, PlanError, PropertyChange, ResourceChange, Singleton, Spec};
use crate::source::diagnostic::Finding;
use crate::tenant::names::{Names, Resolution};

pub use spec::DeclaredSecurityDefaults;

/// Security defaults, on v1.0.
pub const SECURITY_DEFAULTS_PATH: &str = "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy";

/// The file `mfactl export` writes security defaults to.
pub const SECURITY_DEFAULTS_FILE: &str = "security-defaults.yaml";

/// A fresh tenant's security defaults (on, for every tenant created since 2019), which
/// `mfactl export --only-changed` leaves out.
pub fn default_security_defaults() -> bool {
    crate::msgraph::SECURITY_DEFAULTS_ON_BY_DEFAULT
}

/// The `SecurityDefaults` kind.
pub struct SecurityDefaults;

impl Kind for SecurityDefaults {
    const NAME: &'static str = "SecurityDefaults";
    const PHASE: Phase = Phase::Switch;
    type Declared = DeclaredSecurityDefaults;
    /// Graph's `isEnabled`.
    type Desired = bool;

    fn names(_: &DeclaredSecurityDefaults, _: &mut Names) {}

    fn desired(declared: &DeclaredSecurityDefaults, _: &Resolution) -> bool {
        declared.is_enabled
    }
}

impl Declare for SecurityDefaults {
    fn declare(spec: &Spec<'_>) -> (Option<DeclaredSecurityDefaults>, Vec<Finding>) {
        spec::read(spec)
    }
}

impl Singleton for SecurityDefaults {
    const PATH: &'static str = SECURITY_DEFAULTS_PATH;

    fn changes(enabled: &bool, live: Option<&Value>) -> Result<Vec<ResourceChange>, PlanError> {
        let have = live.and_then(|sd| sd.get("isEnabled"));
        let want = Value::Bool(*enabled);
        if have == Some(&want) {
            return Ok(Vec::new());
        }
        Ok(vec![ResourceChange {
            resource: "identitySecurityDefaultsEnforcementPolicy".into(),
            method: "PATCH".into(),
            path: SECURITY_DEFAULTS_PATH.into(),
            properties: vec![PropertyChange {
                name: "isEnabled".into(),
                before: have.cloned().unwrap_or(Value::Null),
                after: want.clone(),
            }],
            body: json!({ "isEnabled": enabled }),
        }])
    }

    fn changed<'a>(_: &ResourceChange, live: &'a Value) -> Option<&'a Value> {
        Some(live)
    }
}
