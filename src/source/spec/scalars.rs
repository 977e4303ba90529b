//! Reading a scalar spec value: a Graph primitive (boolean, integer, string, GUID, date)
//! with a diagnostic that says why a value does not fit, and a member of an enum.

use serde_json::Value;

use super::Reader;
use crate::msgraph::schema::is_guid;
use crate::source::diagnostic::{Finding, codes};
use crate::source::suggest;
use crate::source::yaml::{Node, NodeKind, Resolved};

impl Reader {
    /// Reads a boolean, with the same diagnostics as a Graph `Edm.Boolean` property.
    pub(crate) fn boolean(&mut self, name: &str, node: &Node) -> Option<bool> {
        self.primitive("Edm.Boolean", name, node)
            .and_then(|v| v.as_bool())
    }

    pub(super) fn primitive(&mut self, type_name: &str, name: &str, node: &Node) -> Option<Value> {
        let NodeKind::Scalar(s) = &node.kind else {
            self.push(Finding::new(
                codes::WRONG_TYPE,
                node.pos,
                format!(
                    "`{name}` must be {}, found {}",
                    expected(type_name),
                    node.describe()
                ),
            ));
            return None;
        };
        let fits = match (type_name, &s.value) {
            ("Edm.Boolean", Resolved::Bool(b)) => Some(Value::Bool(*b)),
            ("Edm.Int32", Resolved::Int(i)) if i32::try_from(*i).is_ok() => Some(Value::from(*i)),
            ("Edm.Int64", Resolved::Int(i)) => Some(Value::from(*i)),
            ("Edm.String", Resolved::Str) => Some(Value::String(s.text.clone())),
            ("Edm.Guid", Resolved::Str) if is_guid(&s.text) => {
                Some(Value::String(s.text.to_ascii_lowercase()))
            }
            ("Edm.DateTimeOffset", Resolved::Str)
                if time::OffsetDateTime::parse(
                    &s.text,
                    &time::format_description::well_known::Rfc3339,
                )
                .is_ok() =>
            {
                Some(Value::String(s.text.clone()))
            }
            (
                "Edm.Boolean" | "Edm.Int32" | "Edm.Int64" | "Edm.String" | "Edm.Guid"
                | "Edm.DateTimeOffset",
                _,
            ) => None,
            // Another primitive (none in the managed types today): taken as written.
            _ => Some(node.to_json()),
        };
        if fits.is_some() {
            return fits;
        }
        let lower = s.text.to_ascii_lowercase();
        let help = match (type_name, &s.value) {
            ("Edm.Boolean", Resolved::Str) if s.quoted && (lower == "true" || lower == "false") => {
                Some(format!(
                    "remove the quotes: \"{}\" is a string, {lower} is a boolean",
                    s.text
                ))
            }
            ("Edm.Boolean", Resolved::Str) if !s.quoted => match lower.as_str() {
                "yes" | "y" | "on" => Some(format!(
                    "YAML 1.2 reads `{}` as a string: write `true`",
                    s.text
                )),
                "no" | "n" | "off" => Some(format!(
                    "YAML 1.2 reads `{}` as a string: write `false`",
                    s.text
                )),
                _ => None,
            },
            ("Edm.Int32" | "Edm.Int64", Resolved::Str)
                if s.quoted && s.text.parse::<i64>().is_ok() =>
            {
                Some(format!("remove the quotes: \"{}\" is a string", s.text))
            }
            ("Edm.Int32", Resolved::Int(_)) => {
                Some("the value does not fit a 32-bit integer".into())
            }
            ("Edm.String", Resolved::Bool(_) | Resolved::Int(_) | Resolved::Float(_)) => {
                Some(format!("quote it: `{name}: \"{}\"`", s.text))
            }
            _ => None,
        };
        self.push(
            Finding::new(
                codes::WRONG_TYPE,
                node.pos,
                format!(
                    "`{name}` must be {}, found {}",
                    expected(type_name),
                    node.describe()
                ),
            )
            .maybe_help(help),
        );
        None
    }

    /// Reads a member of an enum (`flags`: a comma-separated list of members), reporting a
    /// non-string as MFA009 and an unknown member as MFA010 with a suggestion.
    pub(crate) fn enum_value(
        &mut self,
        members: &[String],
        flags: bool,
        name: &str,
        node: &Node,
    ) -> Option<Value> {
        let listed = members.join(", ");
        let Some(text) = node.as_str() else {
            self.push(
                Finding::new(
                    codes::WRONG_TYPE,
                    node.pos,
                    format!(
                        "`{name}` must be one of {listed}, found {}",
                        node.describe()
                    ),
                )
                .help(format!("write one of: {listed}")),
            );
            return None;
        };
        let parts: Vec<&str> = if flags {
            text.split(',').map(str::trim).collect()
        } else {
            vec![text]
        };
        let unknown: Vec<&str> = parts
            .iter()
            .copied()
            .filter(|p| !members.iter().any(|m| m == p))
            .collect();
        if unknown.is_empty() {
            return Some(Value::String(parts.join(",")));
        }
        let bad = unknown.join(", ");
        let help = unknown
            .first()
            .and_then(|u| suggest::help(u, members.iter().map(String::as_str)));
        self.push(
            Finding::new(
                codes::UNKNOWN_ENUM_VALUE,
                node.pos,
                format!("`{bad}` is not a valid value for `{name}` (expected one of {listed})"),
            )
            .maybe_help(help),
        );
        None
    }
}

fn expected(type_name: &str) -> &'static str {
    match type_name {
        "Edm.Boolean" => "a boolean (true or false)",
        "Edm.Int32" | "Edm.Int64" => "an integer",
        "Edm.String" => "a string",
        "Edm.Guid" => "a GUID",
        "Edm.DateTimeOffset" => "an RFC 3339 date and time",
        _ => "a scalar",
    }
}
