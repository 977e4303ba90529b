//! `mfactl export` of custom authentication strengths: what of a live strength a
//! declaration may hold. Pure. The built-in strengths are never written: they are
//! referenced by name or id, never declared.

use serde_json::{Map, Value};

use super::AuthenticationStrength;
use crate::kinds::collection::Collection;
use crate::kinds::declarable::{clean_object, without_empty};
use crate::msgraph::conditional_access::STRENGTH_READ_ONLY;

/// The file the custom strengths are written to.
pub const STRENGTHS_FILE: &str = "authentication-strengths.yaml";

/// What of the live strength `live` a declaration may hold: its combinations, as Graph
/// stores them, and its description. `None` for a built-in strength, or one without
/// combinations.
pub fn declarable(live: &Value) -> Option<Map<String, Value>> {
    if AuthenticationStrength::built_in(live) {
        return None;
    }
    let mut skip = STRENGTH_READ_ONLY.to_vec();
    skip.extend(["displayName", "combinationConfigurations"]);
    let spec = clean_object("authenticationStrengthPolicy", live.as_object()?, &skip);
    match without_empty(&Value::Object(spec))? {
        Value::Object(spec) if spec.contains_key("allowedCombinations") => Some(spec),
        _ => None,
    }
}

/// Whether the live strength has FIDO2 combination configurations, which mfactl does not
/// manage yet and leaves out.
pub fn has_configurations(live: &Value) -> bool {
    live["combinationConfigurations"]
        .as_array()
        .is_some_and(|c| !c.is_empty())
}
