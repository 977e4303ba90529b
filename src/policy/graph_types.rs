//! What the CSDL says about a property, for the declared-policy checks.
//!
//! Types, nullability and enum members come from the emulator's [`Schema`], the one reading
//! of the CSDL digest in the crate. `Schema` looks properties up one at a time; to suggest a
//! correction for a misspelt key the loader also needs every property name of a type, and to
//! check `passkeyTypes` it needs to know which enums are flags. Those two facts are read here
//! from the same embedded digest.

use std::collections::{BTreeSet, HashMap};
use std::sync::OnceLock;

use serde::Deserialize;

use crate::emulator::ApiVersion;
use crate::emulator::schema::{PropertyDef, Schema};

const SCHEMA_JSON: &str = include_str!("../emulator/graph-schema.json");

/// The version whose property lookups the loader uses. Beta declares every property that
/// mfactl manages; [`Schema::property`] falls back to v1.0 for the few v1.0-only ones.
const VERSION: ApiVersion = ApiVersion::Beta;

#[derive(Deserialize)]
struct Digest {
    #[serde(rename = "v1.0")]
    v1: DigestVersion,
    beta: DigestVersion,
}

#[derive(Deserialize)]
struct DigestVersion {
    types: HashMap<String, DigestType>,
    enums: HashMap<String, DigestEnum>,
}

#[derive(Deserialize)]
struct DigestType {
    #[serde(rename = "baseType")]
    base_type: Option<String>,
    #[serde(default)]
    properties: Vec<DigestProperty>,
}

#[derive(Deserialize)]
struct DigestProperty {
    name: String,
}

#[derive(Deserialize)]
struct DigestEnum {
    #[serde(rename = "isFlags", default)]
    is_flags: bool,
}

/// Property names by type (base types included, both versions) and the flags enums.
#[derive(Default)]
struct Names {
    properties: HashMap<String, BTreeSet<String>>,
    flags: BTreeSet<String>,
}

fn names() -> &'static Names {
    static NAMES: OnceLock<Names> = OnceLock::new();
    NAMES.get_or_init(|| {
        // The digest is compiled in and a unit test parses it; without it there are simply
        // no suggestions.
        let Ok(digest) = serde_json::from_str::<Digest>(SCHEMA_JSON) else {
            return Names::default();
        };
        let mut out = Names::default();
        for version in [&digest.v1, &digest.beta] {
            for name in version.types.keys() {
                let set = out.properties.entry(name.clone()).or_default();
                let mut current = version.types.get(name);
                while let Some(t) = current {
                    set.extend(t.properties.iter().map(|p| p.name.clone()));
                    current = t.base_type.as_deref().and_then(|b| version.types.get(b));
                }
            }
            out.flags.extend(
                version
                    .enums
                    .iter()
                    .filter(|(_, e)| e.is_flags)
                    .map(|(n, _)| n.clone()),
            );
        }
        out
    })
}

/// The declared property `prop` of `type_name` (base types and both versions searched).
pub(crate) fn property(type_name: &str, prop: &str) -> Option<&'static PropertyDef> {
    Schema::get().property(VERSION, type_name, prop)
}

/// Every property name of `type_name`, for suggestions.
pub(crate) fn property_names(type_name: &str) -> Vec<&'static str> {
    names()
        .properties
        .get(type_name)
        .map(|s| s.iter().map(String::as_str).collect())
        .unwrap_or_default()
}

/// How a CSDL type name is to be checked.
pub(crate) enum TypeKind {
    /// An `Edm.*` primitive.
    Primitive,
    /// An enum with these declarable members (never `unknownFutureValue`).
    Enum { members: Vec<String>, flags: bool },
    /// A complex or entity type known to the digest.
    Structured,
    /// A type outside the digest's slice: taken as written.
    Unknown,
}

/// Classifies a property's type name.
pub(crate) fn type_kind(type_name: &str) -> TypeKind {
    if type_name.starts_with("Edm.") {
        return TypeKind::Primitive;
    }
    let schema = Schema::get();
    let mut members = schema.enum_members(VERSION, type_name);
    if !members.is_empty() {
        members.retain(|m| m != "unknownFutureValue");
        members.dedup();
        return TypeKind::Enum {
            members,
            flags: names().flags.contains(type_name),
        };
    }
    if schema.has_type(type_name) {
        TypeKind::Structured
    } else {
        TypeKind::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_parses_and_names_walk_base_types() {
        let fido = property_names("fido2AuthenticationMethodConfiguration");
        for p in [
            "id",
            "state",
            "excludeTargets",
            "includeTargets",
            "keyRestrictions",
        ] {
            assert!(fido.contains(&p), "{p}");
        }
        assert!(names().flags.contains("passkeyTypes"));
    }

    #[test]
    fn enums_never_offer_unknown_future_value() {
        match type_kind("advancedConfigState") {
            TypeKind::Enum { members, flags } => {
                assert_eq!(members, ["default", "enabled", "disabled"]);
                assert!(!flags);
            }
            _ => panic!("advancedConfigState is an enum"),
        }
        assert!(matches!(type_kind("Edm.Int32"), TypeKind::Primitive));
        assert!(matches!(type_kind("featureTarget"), TypeKind::Structured));
    }
}
