//! `kind: NamedLocation`: an item of `/identity/conditionalAccess/namedLocations` (IP ranges
//! or countries), which Conditional Access policies reference by name. Its spec is read in
//! [`spec`]; it converges as a [`Collection`] keyed by display name.

pub mod spec;

use serde_json::{Map, Value};

use super::collection::{Collection, with_display_name};
use super::{Declare, Kind, Phase, Spec};
use crate::source::diagnostic::Finding;
use crate::tenant::names::{Names, Resolution};

pub use spec::DeclaredNamedLocation;

/// Named locations, on v1.0; reads and writes are limited to one request a second per
/// tenant (FACTS-CA item 53).
pub const NAMED_LOCATIONS_PATH: &str = "/v1.0/identity/conditionalAccess/namedLocations";

/// The `NamedLocation` kind.
pub struct NamedLocation;

impl Kind for NamedLocation {
    const NAME: &'static str = "NamedLocation";
    const PHASE: Phase = Phase::References;
    type Declared = DeclaredNamedLocation;
    type Desired = DeclaredNamedLocation;

    fn names(_: &DeclaredNamedLocation, _: &mut Names) {}

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
