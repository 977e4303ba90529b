//! Request bodies checked against the Graph types the way the OData layer checks them:
//! unknown properties, wrong primitive types, unknown enum members and nulls in
//! non-nullable properties are refused with the OData error messages.

use serde_json::{Map, Value};

use super::{PropertyDef, Schema, SchemaViolation, is_annotation, is_guid};
use crate::msgraph::ApiVersion;

/// The Boolean properties the documentation shows written as a `"true"`/`"false"` string and
/// the service therefore takes (FACTS.md §13 item 7: the fido2 PATCH example). Everywhere
/// else a string is not a Boolean, since no source shows the service converting one.
const STRING_BOOLEANS: [(&str, &str); 1] = [(
    "fido2AuthenticationMethodConfiguration",
    "isAttestationEnforced",
)];

impl Schema {
    /// Checks a JSON object against `type_name` and returns it normalised (annotations
    /// dropped, `"true"`/`"false"` strings turned into booleans where the documentation
    /// shows the service taking them, [`STRING_BOOLEANS`]). `@odata.type` is kept when present.
    pub fn check_object(
        &self,
        version: ApiVersion,
        type_name: &str,
        value: &Value,
    ) -> Result<Value, SchemaViolation> {
        let Value::Object(map) = value else {
            return Err(SchemaViolation::new(format!(
                "A value of type 'microsoft.graph.{type_name}' was expected, but a {} was found.",
                json_kind(value)
            )));
        };
        let mut out = Map::new();
        for (key, v) in map {
            if key == "@odata.type" {
                out.insert(key.clone(), v.clone());
                continue;
            }
            if is_annotation(key) {
                continue;
            }
            match self.property(version, type_name, key) {
                Some(prop) => {
                    let strings = STRING_BOOLEANS.contains(&(type_name, key.as_str()));
                    out.insert(key.clone(), self.check_property(version, prop, strings, v)?);
                }
                None if self.is_open(version, type_name) => {
                    out.insert(key.clone(), v.clone());
                }
                None => return Err(SchemaViolation::unknown_property(key, type_name)),
            }
        }
        Ok(Value::Object(out))
    }

    fn check_property(
        &self,
        version: ApiVersion,
        prop: &PropertyDef,
        string_booleans: bool,
        value: &Value,
    ) -> Result<Value, SchemaViolation> {
        if value.is_null() {
            if prop.nullable {
                return Ok(Value::Null);
            }
            let ty = qualified(&prop.type_name);
            return Err(SchemaViolation::new(format!(
                "A null value was found for the property named '{}', which has the expected type '{ty}[Nullable=False]'. \
                 The expected type '{ty}[Nullable=False]' does not allow null values.",
                prop.name
            )));
        }
        if prop.collection {
            let Value::Array(items) = value else {
                return Err(SchemaViolation::new(format!(
                    "A node of type '{}' was read from the JSON reader when trying to read the value of the property '{}'; \
                     however, a 'StartArray' node was expected.",
                    json_kind(value),
                    prop.name
                )));
            };
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                if item.is_null() {
                    return Err(SchemaViolation::new(format!(
                        "A null value was found in the collection property '{}'.",
                        prop.name
                    )));
                }
                out.push(self.check_value(version, &prop.name, &prop.type_name, false, item)?);
            }
            return Ok(Value::Array(out));
        }
        self.check_value(version, &prop.name, &prop.type_name, string_booleans, value)
    }

    fn check_value(
        &self,
        version: ApiVersion,
        prop_name: &str,
        type_name: &str,
        string_booleans: bool,
        value: &Value,
    ) -> Result<Value, SchemaViolation> {
        let mismatch = || {
            SchemaViolation::new(format!(
                "Cannot convert the literal '{}' to the expected type '{}'.",
                literal(value),
                qualified(type_name)
            ))
        };
        match type_name {
            "Edm.Boolean" => match value {
                Value::Bool(_) => Ok(value.clone()),
                Value::String(s) if string_booleans && s.eq_ignore_ascii_case("true") => {
                    Ok(Value::Bool(true))
                }
                Value::String(s) if string_booleans && s.eq_ignore_ascii_case("false") => {
                    Ok(Value::Bool(false))
                }
                _ => Err(mismatch()),
            },
            "Edm.Int32" => match value.as_i64() {
                Some(n) if i32::try_from(n).is_ok() => Ok(value.clone()),
                _ => Err(mismatch()),
            },
            "Edm.String" => match value {
                Value::String(_) => Ok(value.clone()),
                _ => Err(mismatch()),
            },
            "Edm.Guid" => match value {
                Value::String(s) if is_guid(s) => Ok(value.clone()),
                _ => Err(mismatch()),
            },
            "Edm.DateTimeOffset" => match value {
                Value::String(s)
                    if time::OffsetDateTime::parse(
                        s,
                        &time::format_description::well_known::Rfc3339,
                    )
                    .is_ok() =>
                {
                    Ok(value.clone())
                }
                _ => Err(mismatch()),
            },
            other => {
                if let Some(e) = self.enum_def(version, other) {
                    let Value::String(s) = value else {
                        return Err(mismatch());
                    };
                    let known = |m: &str| e.members.iter().any(|x| x.name == m);
                    let ok = if e.is_flags {
                        s.split(',').all(|part| known(part.trim()))
                    } else {
                        known(s)
                    };
                    return if ok {
                        Ok(value.clone())
                    } else {
                        Err(mismatch())
                    };
                }
                if self.has_type(other) {
                    let concrete = match value.get("@odata.type").and_then(Value::as_str) {
                        Some(t) => {
                            let short = t.trim_start_matches("#microsoft.graph.");
                            if !self.has_type(short) {
                                return Err(SchemaViolation::new(format!(
                                    "A type named '{t}' could not be resolved by the model."
                                )));
                            }
                            if !self.derives_from(version, short, other) {
                                return Err(SchemaViolation::new(format!(
                                    "A type named '{t}' is not compatible with the expected type 'microsoft.graph.{other}' of the property '{prop_name}'."
                                )));
                            }
                            short.to_string()
                        }
                        None => other.to_string(),
                    };
                    let mut checked = self.check_object(version, &concrete, value)?;
                    // Naming the declared type itself tells the service nothing: it is not
                    // data and is not returned. A derived type's name is kept, since the
                    // value is then polymorphic.
                    if concrete == other
                        && let Value::Object(m) = &mut checked
                    {
                        m.remove("@odata.type");
                    }
                    return Ok(checked);
                }
                // A type outside this project's slice of the schema: accept as given.
                Ok(value.clone())
            }
        }
    }
}

fn qualified(type_name: &str) -> String {
    if type_name.starts_with("Edm.") {
        type_name.to_string()
    } else {
        format!("microsoft.graph.{type_name}")
    }
}

fn literal(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
