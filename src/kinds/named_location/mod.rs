//! `kind: NamedLocation`: an item of `/identity/conditionalAccess/namedLocations` (IP ranges
//! or countries), which Conditional Access policies reference by name. Its spec is read in
//! [`spec`]; it converges as a [`Collection`] keyed by display name.

pub mod export;
pub mod spec;

use serde_json::{Map, Value};

use super::collection::{Collection, created, resource, with_display_name};
use super::{Declare, Kind, Phase, Spec};
use crate::source::diagnostic::Finding;
use crate::tenant::names::{NameKind, Names, Resolution};

pub use spec::DeclaredNamedLocation;

pub use crate::msgraph::conditional_access::NAMED_LOCATIONS_PATH;

/// The `NamedLocation` kind.
pub struct NamedLocation;

impl Kind for NamedLocation {
    const NAME: &'static str = "NamedLocation";
    const PHASE: Phase = Phase::References;
    type Declared = DeclaredNamedLocation;
    type Desired = DeclaredNamedLocation;

    /// A policy may name the location before the tenant has it: it resolves to the id its
    /// create will answer.
    fn names(declared: &DeclaredNamedLocation, names: &mut Names) {
        let name = &declared.display_name;
        names.declare(NameKind::Location, name, created(&resource::<Self>(name)));
    }

    fn desired(declared: &DeclaredNamedLocation, _: &Resolution) -> DeclaredNamedLocation {
        declared.clone()
    }
}

impl Declare for NamedLocation {
    fn declare(spec: &Spec<'_>) -> (Option<DeclaredNamedLocation>, Vec<Finding>) {
        spec::read(spec)
    }
}

impl Collection for NamedLocation {
    const PATH: &'static str = NAMED_LOCATIONS_PATH;
    const RESOURCE: &'static str = "namedLocations";

    fn key(desired: &DeclaredNamedLocation) -> &str {
        &desired.display_name
    }

    fn properties(desired: &DeclaredNamedLocation) -> Map<String, Value> {
        with_display_name(&desired.display_name, &desired.properties)
    }

    /// Graph needs the location's type on every write.
    fn always_sent(desired: &DeclaredNamedLocation) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert(
            "@odata.type".into(),
            Value::String(desired.odata_type.clone()),
        );
        out
    }
}

#[cfg(test)]
mod tests;
