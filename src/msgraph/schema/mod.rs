//! Microsoft Graph types for the emulator, read from the CSDL digest in `graph-schema.json`
//! (a verbatim copy of `shared/graph/schema.json`).
//!
//! Request bodies are checked against these types the way the OData layer in front of Graph
//! checks them: unknown properties, wrong primitive types, unknown enum members and nulls in
//! non-nullable properties are all refused with the OData error messages. Responses pass
//! through [`Schema::render`], which hides evolvable enum members unless the caller asked for
//! them with `Prefer: include-unknown-enum-members`.
//!
//! This file holds the types and their lookups; `check.rs` checks request bodies and
//! `render.rs` rewrites responses.

mod check;
mod render;

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::Value;

use super::ApiVersion;

const SCHEMA_JSON: &str = include_str!("../graph-schema.json");

/// Properties that the live service returns and accepts although no CSDL declares them
/// (FACTS.md §3: voice `isCustomGreetingEnabled` appears in the live v1.0 GET).
const UNDECLARED_PROPERTIES: &[(&str, &str, &str)] = &[(
    "voiceAuthenticationMethodConfiguration",
    "isCustomGreetingEnabled",
    "Edm.Boolean",
)];

#[derive(Debug, Deserialize)]
struct RawSchema {
    #[serde(rename = "v1.0")]
    v1: RawVersion,
    beta: RawVersion,
}

#[derive(Debug, Deserialize)]
struct RawVersion {
    types: HashMap<String, TypeDef>,
    enums: HashMap<String, EnumDef>,
}

/// One entity or complex type.
#[derive(Debug, Deserialize)]
pub struct TypeDef {
    #[serde(rename = "baseType")]
    base_type: Option<String>,
    #[serde(default)]
    properties: Vec<PropertyDef>,
    #[serde(default, rename = "openType")]
    open_type: bool,
}

/// One declared property.
#[derive(Debug, Clone, Deserialize)]
pub struct PropertyDef {
    /// Property name as it appears in JSON.
    pub name: String,
    /// `Edm.*` primitive, enum or type name.
    #[serde(rename = "type")]
    pub type_name: String,
    /// Whether the property is a collection.
    #[serde(default)]
    pub collection: bool,
    /// CSDL nullability.
    #[serde(default = "default_true")]
    pub nullable: bool,
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Deserialize)]
struct EnumDef {
    #[serde(rename = "isFlags", default)]
    is_flags: bool,
    members: Vec<EnumMember>,
    #[serde(default, rename = "membersAfterUnknownFutureValue")]
    after_unknown: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct EnumMember {
    name: String,
}

/// The Graph types of both API versions.
pub struct Schema {
    v1: RawVersion,
    beta: RawVersion,
    /// [`UNDECLARED_PROPERTIES`] as property definitions, by type.
    undeclared: Vec<(String, PropertyDef)>,
    /// Types whose values can hold an evolvable enum member somewhere inside them; only
    /// these need [`Schema::render`] to walk them.
    evolvable: HashSet<String>,
}

/// Why a request body does not fit its type; the message is the one the OData layer uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaViolation {
    /// Human-readable reason, phrased like the service's own message.
    pub message: String,
}

impl SchemaViolation {
    fn new(message: String) -> Self {
        Self { message }
    }

    /// The OData layer's refusal of a property the type does not declare.
    pub fn unknown_property(key: &str, type_name: &str) -> Self {
        Self::new(format!(
            "The property '{key}' does not exist on type 'microsoft.graph.{type_name}'. \
             Make sure to only use property names that are defined by the type or mark the type as open type."
        ))
    }
}

/// Whether a key of a JSON object is an instance annotation (`@odata.context`,
/// `includeTargets@odata.context`, ...) rather than a property.
pub fn is_annotation(key: &str) -> bool {
    key.contains('@')
}

impl Schema {
    /// The embedded schema, parsed once.
    pub fn get() -> &'static Schema {
        static SCHEMA: OnceLock<Schema> = OnceLock::new();
        SCHEMA.get_or_init(|| {
            // The file is compiled into the binary and covered by a unit test, so a parse
            // failure is a build defect, not a run-time condition.
            #[allow(clippy::expect_used)]
            let raw: RawSchema =
                serde_json::from_str(SCHEMA_JSON).expect("embedded graph-schema.json parses");
            let mut schema = Schema {
                v1: raw.v1,
                beta: raw.beta,
                undeclared: UNDECLARED_PROPERTIES
                    .iter()
                    .map(|(t, p, ty)| {
                        let def = PropertyDef {
                            name: (*p).to_string(),
                            type_name: (*ty).to_string(),
                            collection: false,
                            nullable: true,
                        };
                        ((*t).to_string(), def)
                    })
                    .collect(),
                evolvable: HashSet::new(),
            };
            schema.evolvable = schema.evolvable_types();
            schema
        })
    }

    fn version(&self, version: ApiVersion) -> (&RawVersion, &RawVersion) {
        match version {
            ApiVersion::V1 => (&self.v1, &self.beta),
            ApiVersion::Beta => (&self.beta, &self.v1),
        }
    }

    fn type_def(&self, version: ApiVersion, name: &str) -> Option<&TypeDef> {
        let (own, other) = self.version(version);
        own.types.get(name).or_else(|| other.types.get(name))
    }

    fn enum_def(&self, version: ApiVersion, name: &str) -> Option<&EnumDef> {
        let (own, other) = self.version(version);
        own.enums.get(name).or_else(|| other.enums.get(name))
    }

    /// Whether `name` is a known type (in either version).
    pub fn has_type(&self, name: &str) -> bool {
        self.v1.types.contains_key(name) || self.beta.types.contains_key(name)
    }

    /// Finds a property on a type, walking the base-type chain. The live service mixes the
    /// versions (FACTS.md §13.2: v1.0 returns and accepts beta members), so a property the
    /// requested version lacks is looked up in the other version too.
    pub fn property(
        &self,
        version: ApiVersion,
        type_name: &str,
        prop: &str,
    ) -> Option<&PropertyDef> {
        for v in [version, version.other()] {
            let (own, _) = self.version(v);
            let mut current = own.types.get(type_name);
            while let Some(t) = current {
                if let Some(p) = t.properties.iter().find(|p| p.name == prop) {
                    return Some(p);
                }
                current = t.base_type.as_deref().and_then(|b| own.types.get(b));
            }
        }
        self.undeclared
            .iter()
            .find(|(t, p)| t == type_name && p.name == prop)
            .map(|(_, p)| p)
    }

    /// `value`, of type `type_name`, without the members that neither CSDL gives its type, at
    /// every depth (open types keep everything): Graph's responses carry such members
    /// (conditional-access FACTS item 24), and a write that sends them back is refused.
    pub fn known_members(&self, version: ApiVersion, type_name: &str, value: &Value) -> Value {
        let Value::Object(map) = value else {
            return value.clone();
        };
        if self.is_open(version, type_name) {
            return value.clone();
        }
        let kept = map.iter().filter_map(|(key, member)| {
            if key.starts_with('@') {
                return Some((key.clone(), member.clone()));
            }
            let prop = self.property(version, type_name, key)?;
            let known = match member {
                Value::Array(items) => Value::Array(
                    items
                        .iter()
                        .map(|i| self.known_members(version, &prop.type_name, i))
                        .collect(),
                ),
                other => self.known_members(version, &prop.type_name, other),
            };
            Some((key.clone(), known))
        });
        Value::Object(kept.collect())
    }

    /// Whether `ty` is `base` or derives from it (base-type chains of either version).
    fn derives_from(&self, version: ApiVersion, ty: &str, base: &str) -> bool {
        let mut current = Some(ty);
        while let Some(t) = current {
            if t == base {
                return true;
            }
            current = self
                .type_def(version, t)
                .and_then(|d| d.base_type.as_deref());
        }
        false
    }

    fn is_open(&self, version: ApiVersion, type_name: &str) -> bool {
        let mut current = self.type_def(version, type_name);
        while let Some(t) = current {
            if t.open_type {
                return true;
            }
            current = t
                .base_type
                .as_deref()
                .and_then(|b| self.type_def(version, b));
        }
        false
    }

    /// Every property of a type in one version, base types included: what a response
    /// writes out, `null` or `[]` when unset.
    pub fn all_properties(&self, version: ApiVersion, type_name: &str) -> Vec<&PropertyDef> {
        let (own, _) = self.version(version);
        let mut out = Vec::new();
        let mut current = own.types.get(type_name);
        while let Some(t) = current {
            out.extend(t.properties.iter());
            current = t.base_type.as_deref().and_then(|b| own.types.get(b));
        }
        out
    }

    /// Every property name of a type, base types included, in either version (sorted, no
    /// duplicates), for suggestions.
    pub fn property_names(&self, type_name: &str) -> Vec<&str> {
        let mut names: Vec<&str> = [ApiVersion::V1, ApiVersion::Beta]
            .iter()
            .flat_map(|&v| self.all_properties(v, type_name))
            .map(|p| p.name.as_str())
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// Whether an enum is a flags enum (comma-separated members in JSON).
    pub fn is_flags(&self, version: ApiVersion, enum_name: &str) -> bool {
        self.enum_def(version, enum_name)
            .is_some_and(|e| e.is_flags)
    }

    /// Every member name of an enum (either version), for messages and generators.
    pub fn enum_members(&self, version: ApiVersion, enum_name: &str) -> Vec<String> {
        self.enum_def(version, enum_name)
            .map(|e| e.members.iter().map(|m| m.name.clone()).collect())
            .unwrap_or_default()
    }
}

/// Whether `s` is a GUID in the 8-4-4-4-12 hexadecimal form.
pub fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn embedded_schema_parses_and_walks_base_types() {
        let s = Schema::get();
        let p = s
            .property(
                ApiVersion::V1,
                "smsAuthenticationMethodConfiguration",
                "state",
            )
            .map(|p| p.type_name.as_str());
        assert_eq!(p, Some("authenticationMethodState"));
        assert!(
            s.property(ApiVersion::V1, "smsAuthenticationMethodConfiguration", "id")
                .is_some()
        );
    }

    #[test]
    fn v1_accepts_beta_only_members_like_the_live_service() {
        let s = Schema::get();
        assert!(
            s.property(
                ApiVersion::V1,
                "authenticationMethodsPolicy",
                "systemCredentialPreferences"
            )
            .is_some()
        );
    }

    #[test]
    fn unknown_property_and_enum_are_refused() {
        let s = Schema::get();
        let err = s
            .check_object(
                ApiVersion::V1,
                "smsAuthenticationMethodConfiguration",
                &json!({"stat": "enabled"}),
            )
            .unwrap_err();
        assert!(
            err.message.contains("'stat' does not exist"),
            "{}",
            err.message
        );
        let err = s
            .check_object(
                ApiVersion::V1,
                "smsAuthenticationMethodConfiguration",
                &json!({"state": "on"}),
            )
            .unwrap_err();
        assert!(
            err.message.contains("Cannot convert the literal 'on'"),
            "{}",
            err.message
        );
    }

    #[test]
    fn boolean_strings_are_normalised() {
        let s = Schema::get();
        let v = s
            .check_object(
                ApiVersion::V1,
                "fido2AuthenticationMethodConfiguration",
                &json!({"isAttestationEnforced": "true"}),
            )
            .unwrap();
        assert_eq!(v["isAttestationEnforced"], json!(true));
    }

    #[test]
    fn boolean_strings_are_refused_where_the_documentation_does_not_show_them() {
        let s = Schema::get();
        for (ty, body) in [
            (
                "fido2AuthenticationMethodConfiguration",
                json!({"isSelfServiceRegistrationAllowed": "true"}),
            ),
            (
                "identitySecurityDefaultsEnforcementPolicy",
                json!({"isEnabled": "false"}),
            ),
        ] {
            let err = s.check_object(ApiVersion::V1, ty, &body).unwrap_err();
            assert!(
                err.message.contains("to the expected type 'Edm.Boolean'"),
                "{ty}: {}",
                err.message
            );
        }
    }

    #[test]
    fn evolvable_enum_members_are_hidden_unless_asked_for() {
        let s = Schema::get();
        let mut v = json!({
            "@odata.type": "#microsoft.graph.x509CertificateAuthenticationMethodConfiguration",
            "authenticationModeConfiguration": {"rules": [{"x509CertificateRuleType": "issuerSubjectAndPolicyOID"}]}
        });
        let mut kept = v.clone();
        s.render(
            ApiVersion::V1,
            "authenticationMethodConfiguration",
            &mut kept,
            true,
        );
        assert_eq!(kept, v);
        s.render(
            ApiVersion::V1,
            "authenticationMethodConfiguration",
            &mut v,
            false,
        );
        assert_eq!(
            v["authenticationModeConfiguration"]["rules"][0]["x509CertificateRuleType"],
            json!("unknownFutureValue")
        );
    }

    #[test]
    fn nested_odata_type_must_fit_and_is_not_kept_when_it_names_the_declared_type() {
        let s = Schema::get();
        let ty = "microsoftAuthenticatorAuthenticationMethodConfiguration";
        let target = |t: &str| json!({"includeTargets": [{"@odata.type": t, "id": "all_users", "targetType": "group"}]});
        let v = s
            .check_object(
                ApiVersion::V1,
                ty,
                &target("#microsoft.graph.microsoftAuthenticatorAuthenticationMethodTarget"),
            )
            .unwrap();
        assert_eq!(
            v,
            json!({"includeTargets": [{"id": "all_users", "targetType": "group"}]})
        );
        let err = s
            .check_object(
                ApiVersion::V1,
                ty,
                &target("#microsoft.graph.fido2AuthenticationMethodConfiguration"),
            )
            .unwrap_err();
        assert!(err.message.contains("is not compatible"), "{}", err.message);
        // A derived type is kept: the value is polymorphic.
        let list = json!({"authenticationMethodConfigurations": [
            {"@odata.type": "#microsoft.graph.smsAuthenticationMethodConfiguration", "id": "Sms"}
        ]});
        let v = s
            .check_object(ApiVersion::V1, "authenticationMethodsPolicy", &list)
            .unwrap();
        assert_eq!(v, list);
    }

    #[test]
    fn only_types_that_can_hold_an_evolvable_enum_are_walked() {
        let s = Schema::get();
        for t in [
            "x509CertificateRule",
            "x509CertificateAuthenticationModeConfiguration",
            "x509CertificateAuthenticationMethodConfiguration",
        ] {
            assert!(s.evolvable.contains(t), "{t}");
        }
        for t in ["smsAuthenticationMethodConfiguration", "signInPreferences"] {
            assert!(!s.evolvable.contains(t), "{t}");
        }
    }

    #[test]
    fn members_outside_the_csdl_are_left_out_at_every_depth() {
        let live = json!({
            "id": "p", "displayName": "P", "state": "enabled", "partialEnablementStrategy": null,
            "conditions": {
                "clientAppTypes": ["all"], "notInTheSchema": [],
                "users": {"includeUsers": ["All"], "alsoNot": 1},
                "applications": {"includeApplications": ["All"]}
            },
            "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}
        });
        let known = Schema::get().known_members(ApiVersion::V1, "conditionalAccessPolicy", &live);
        let mut expected = live.clone();
        for (at, key) in [
            ("", "partialEnablementStrategy"),
            ("/conditions", "notInTheSchema"),
            ("/conditions/users", "alsoNot"),
        ] {
            if let Some(m) = expected.pointer_mut(at).and_then(Value::as_object_mut) {
                m.remove(key);
            }
        }
        assert_eq!(known, expected);
    }

    #[test]
    fn guid_shape() {
        assert!(is_guid("dad4ae4a-730c-4e52-826c-0d9094971f04"));
        assert!(!is_guid("all_users"));
    }
}
