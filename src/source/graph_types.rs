//! What the CSDL says about a property, for the declared-policy checks.
//!
//! Types, nullability, enum members, property names and flags come from the emulator's
//! [`Schema`], the one reading of the CSDL digest in the crate.

use crate::msgraph::ApiVersion;
use crate::msgraph::schema::{PropertyDef, Schema};

/// The version whose property lookups the loader uses. Beta declares every property that
/// mfactl manages; [`Schema::property`] falls back to v1.0 for the few v1.0-only ones.
const VERSION: ApiVersion = ApiVersion::Beta;

/// The declared property `prop` of `type_name` (base types and both versions searched).
pub(crate) fn property(type_name: &str, prop: &str) -> Option<&'static PropertyDef> {
    Schema::get().property(VERSION, type_name, prop)
}

/// Every property name of `type_name`, for suggestions.
pub(crate) fn property_names(type_name: &str) -> Vec<&'static str> {
    Schema::get().property_names(type_name)
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
            flags: schema.is_flags(VERSION, type_name),
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
        assert!(Schema::get().is_flags(VERSION, "passkeyTypes"));
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
