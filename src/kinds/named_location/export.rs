//! `mfactl export` of named locations: what of a live location a declaration may hold.
//! Pure.

use serde_json::{Map, Value};

use super::spec::READ_ONLY;
use crate::kinds::declarable::{clean_object, without_empty};

/// The file the locations are written to.
pub const LOCATIONS_FILE: &str = "named-locations.yaml";

/// What of the live location `live` a declaration may hold: an IP location's ranges as CIDR
/// text and whether it is trusted, a country location's countries and how they are looked
/// up; nulls and empties left out. `None` when no declaration can hold it: a type mfactl
/// does not know, or no range or country at all.
pub fn declarable(live: &Value) -> Option<Map<String, Value>> {
    let m = live.as_object()?;
    let ty = live["@odata.type"]
        .as_str()?
        .trim_start_matches('#')
        .strip_prefix("microsoft.graph.")?;
    let mut skip = READ_ONLY.to_vec();
    skip.extend(["displayName", "ipRanges"]);
    let (mut spec, required) = match ty {
        "ipNamedLocation" => {
            let ranges = live["ipRanges"]
                .as_array()?
                .iter()
                .map(|r| r["cidrAddress"].as_str().map(|c| Value::String(c.into())))
                .collect::<Option<Vec<_>>>()?;
            let mut spec = Map::new();
            spec.insert("ipRanges".into(), Value::Array(ranges));
            spec.extend(clean_object(ty, m, &skip));
            (spec, "ipRanges")
        }
        "countryNamedLocation" => (clean_object(ty, m, &skip), "countriesAndRegions"),
        _ => return None,
    };
    spec = match without_empty(&Value::Object(spec))? {
        Value::Object(spec) => spec,
        _ => return None,
    };
    spec.contains_key(required).then_some(spec)
}
