//! Reads the YAML under `spec` into Graph JSON, checking every key and value against the
//! CSDL, normalising targets, and remembering where each JSON pointer was written.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::diagnostic::{Finding, Pos, codes};
use super::graph_types::{self, TypeKind};
use super::suggest;
use super::targets::{ALL_USERS, TARGET_FORMS, normalise_id};
use super::yaml::{Entry, Node, NodeKind, Resolved};
use crate::msgraph::schema::{PropertyDef, is_guid};

/// Where each JSON pointer of the declared spec was written: one map of both positions, as
/// a spec of many targets records three pointers for each.
#[derive(Debug, Default, Clone)]
pub(crate) struct Spans {
    /// Pointer → (the key of a property, the value of a target id, the start of a list item;
    /// the value itself).
    at: BTreeMap<String, (Pos, Pos)>,
}

impl Spans {
    pub(crate) fn record(&mut self, pointer: &str, key: Pos, value: Pos) {
        self.at.insert(pointer.to_string(), (key, value));
    }

    /// Where the key at `pointer` is written (the start of the file if it is unknown).
    pub(crate) fn key(&self, pointer: &str) -> Pos {
        self.at.get(pointer).map_or(Pos::START, |(key, _)| *key)
    }

    /// Where the value at `pointer` is written (the start of the file if it is unknown).
    pub(crate) fn value(&self, pointer: &str) -> Pos {
        self.at.get(pointer).map_or(Pos::START, |(_, value)| *value)
    }

    /// Every pointer with where its key is written, the map consumed.
    pub(crate) fn into_keys(self) -> impl Iterator<Item = (String, Pos)> {
        self.at
            .into_iter()
            .map(|(pointer, (key, _))| (pointer, key))
    }
}

/// `pointer` extended by one reference token (RFC 6901 escaping).
pub(crate) fn child(pointer: &str, token: &str) -> String {
    format!("{pointer}/{}", token.replace('~', "~0").replace('/', "~1"))
}

/// How to read one mapping: its Graph type, the keys that may not be declared, the keys the
/// caller handles itself, and extra names to suggest for a misspelt key.
pub(crate) struct Shape<'s> {
    pub(crate) type_name: &'s str,
    pub(crate) read_only: &'s [&'s str],
    pub(crate) handled: &'s [&'s str],
    pub(crate) extra_names: &'s [&'s str],
}

impl<'s> Shape<'s> {
    /// A plain Graph type: every declared property may be written.
    pub(crate) fn of(type_name: &'s str) -> Self {
        Shape {
            type_name,
            read_only: &[],
            handled: &[],
            extra_names: &[],
        }
    }
}

/// Accumulates findings and spans while spec values are read.
#[derive(Default)]
pub(crate) struct Reader {
    pub(crate) findings: Vec<Finding>,
    pub(crate) spans: Spans,
}

const TARGET_LISTS: &[&str] = &["includeTargets", "excludeTargets"];
const SINGLE_TARGETS: &[&str] = &["includeTarget", "excludeTarget"];

impl Reader {
    fn push(&mut self, finding: Finding) {
        self.findings.push(finding);
    }

    /// Reads a mapping of `shape.type_name`. Invalid entries are reported and left out; the
    /// rest is returned so that later rules still see it. `None` if `node` is no mapping.
    pub(crate) fn object(
        &mut self,
        node: &Node,
        shape: &Shape<'_>,
        pointer: &str,
    ) -> Option<Map<String, Value>> {
        let Some(entries) = node.entries() else {
            self.push(Finding::new(
                codes::WRONG_TYPE,
                node.pos,
                format!(
                    "expected a mapping of {} properties, found {}",
                    shape.type_name,
                    node.describe()
                ),
            ));
            return None;
        };
        let mut out = Map::new();
        for entry in entries {
            if shape.handled.contains(&entry.key.as_str()) {
                continue;
            }
            if let Some(value) = self.entry(entry, shape, pointer) {
                out.insert(entry.key.clone(), value);
            }
        }
        Some(out)
    }

    fn entry(&mut self, entry: &Entry, shape: &Shape<'_>, pointer: &str) -> Option<Value> {
        let key = entry.key.as_str();
        if key.contains('@') {
            self.push(
                Finding::new(
                    codes::READ_ONLY,
                    entry.key_pos,
                    format!("`{key}` is an OData annotation and cannot be declared"),
                )
                .help("remove it: mfactl sends @odata.type itself"),
            );
            return None;
        }
        if shape.read_only.contains(&key) {
            self.push(
                Finding::new(
                    codes::READ_ONLY,
                    entry.key_pos,
                    format!("`{key}` is read-only on {}", shape.type_name),
                )
                .help("remove it: Microsoft Graph sets it"),
            );
            return None;
        }
        let Some(prop) = graph_types::property(shape.type_name, key) else {
            let names = graph_types::property_names(shape.type_name);
            let candidates = names
                .iter()
                .copied()
                .filter(|n| !shape.read_only.contains(n) && !shape.handled.contains(n))
                .chain(shape.extra_names.iter().copied());
            self.push(
                Finding::new(
                    codes::UNKNOWN_KEY,
                    entry.key_pos,
                    format!(
                        "unknown key `{key}`: {} has no such property",
                        shape.type_name
                    ),
                )
                .maybe_help(suggest::help(key, candidates)),
            );
            return None;
        };
        let at = child(pointer, key);
        self.spans.record(&at, entry.key_pos, entry.value.pos);
        self.property(prop, &entry.value, &at)
    }

    fn property(&mut self, prop: &PropertyDef, node: &Node, pointer: &str) -> Option<Value> {
        if node.is_null() {
            if prop.nullable {
                return Some(Value::Null);
            }
            self.push(
                Finding::new(
                    codes::WRONG_TYPE,
                    node.pos,
                    format!("`{}` cannot be null", prop.name),
                )
                .help("remove the key to leave the property as it is in the tenant"),
            );
            return None;
        }
        let name = prop.name.as_str();
        if SINGLE_TARGETS.contains(&name) {
            return self.target(&prop.type_name, node, pointer);
        }
        if !prop.collection {
            return self.value(&prop.type_name, name, node, pointer);
        }
        let NodeKind::Seq(items) = &node.kind else {
            let help = if TARGET_LISTS.contains(&name) {
                format!("write a list: `{name}: [{{group: all_users}}]`")
            } else {
                format!("write a list: `{name}: [...]`")
            };
            self.push(
                Finding::new(
                    codes::WRONG_TYPE,
                    node.pos,
                    format!("`{name}` must be a list, found {}", node.describe()),
                )
                .help(help),
            );
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let at = child(pointer, &i.to_string());
            self.spans.record(&at, item.pos, item.pos);
            let value = if TARGET_LISTS.contains(&name) {
                self.target(&prop.type_name, item, &at)
            } else if item.is_null() {
                self.push(Finding::new(
                    codes::WRONG_TYPE,
                    item.pos,
                    format!("`{name}` cannot hold null items"),
                ));
                None
            } else {
                self.value(&prop.type_name, name, item, &at)
            };
            match value {
                Some(v) => out.push(v),
                None => ok = false,
            }
        }
        // A list with a bad item is not declared at all: a shorter list would be wrong.
        ok.then_some(Value::Array(out))
    }

    /// Reads one value of `type_name` (never null: callers check nullability).
    fn value(&mut self, type_name: &str, name: &str, node: &Node, pointer: &str) -> Option<Value> {
        match graph_types::type_kind(type_name) {
            TypeKind::Primitive => self.primitive(type_name, name, node),
            TypeKind::Enum { members, flags } => self.enum_value(&members, flags, name, node),
            TypeKind::Structured => self
                .object(node, &Shape::of(type_name), pointer)
                .map(Value::Object),
            TypeKind::Unknown => Some(node.to_json()),
        }
    }

    /// Reads a boolean, with the same diagnostics as a Graph `Edm.Boolean` property.
    pub(crate) fn boolean(&mut self, name: &str, node: &Node) -> Option<bool> {
        self.primitive("Edm.Boolean", name, node)
            .and_then(|v| v.as_bool())
    }

    fn primitive(&mut self, type_name: &str, name: &str, node: &Node) -> Option<Value> {
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

    /// Reads one target of `type_name`, written `{group: ...}`, `{user: ...}` or
    /// `{id, targetType}`, into Graph's `{id, targetType, ...}`.
    fn target(&mut self, type_name: &str, node: &Node, pointer: &str) -> Option<Value> {
        let Some(entries) = node.entries() else {
            let help = match node.as_str() {
                Some(text) => format!("write `group: {text}` or `user: {text}`"),
                None => "write `group: <display name | object id | all_users>` or `user: <UPN | object id>`".into(),
            };
            self.push(
                Finding::new(
                    codes::TARGET_FORM,
                    node.pos,
                    format!(
                        "a target must be a mapping such as `{{group: all_users}}`, found {}",
                        node.describe()
                    ),
                )
                .help(help),
            );
            return None;
        };
        let forms: Vec<&Entry> = entries
            .iter()
            .filter(|e| TARGET_FORMS.contains(&e.key.as_str()))
            .collect();
        let form = match forms.as_slice() {
            [] => {
                self.push(
                    Finding::new(codes::TARGET_FORM, node.pos, "the target names no group, user or id")
                        .help("add `group: <display name | object id | all_users>` or `user: <UPN | object id>`"),
                );
                return None;
            }
            [one] => *one,
            [first, second, ..] => {
                self.push(
                    Finding::new(
                        codes::TARGET_FORM,
                        second.key_pos,
                        format!("the target has both `{}` and `{}`", first.key, second.key),
                    )
                    .help("a target names exactly one group or user: split it into two targets"),
                );
                return None;
            }
        };
        let allowed = graph_types::property(type_name, "targetType")
            .map(|p| match graph_types::type_kind(&p.type_name) {
                TypeKind::Enum { members, .. } => members,
                _ => Vec::new(),
            })
            .unwrap_or_default();
        let declared_type = node.get("targetType");
        let (target_type, type_pos) = if form.key == "id" {
            let Some(tt) = declared_type else {
                self.push(
                    Finding::new(
                        codes::TARGET_FORM,
                        form.key_pos,
                        "a target with `id` also needs `targetType`",
                    )
                    .help("add `targetType: group`, or write `group: <id>` / `user: <id>`"),
                );
                return None;
            };
            let Value::String(t) = self.enum_value(&allowed, false, "targetType", &tt.value)?
            else {
                return None;
            };
            (t, tt.key_pos)
        } else {
            if let Some(tt) = declared_type {
                self.push(
                    Finding::new(
                        codes::TARGET_FORM,
                        tt.key_pos,
                        format!("`targetType` is implied by `{}:`", form.key),
                    )
                    .help(
                        "remove `targetType`, or write the target as `{id: ..., targetType: ...}`",
                    ),
                );
                return None;
            }
            if !allowed.contains(&form.key) {
                self.push(
                    Finding::new(
                        codes::TARGET_FORM,
                        form.key_pos,
                        format!(
                            "this target takes targetType {}, not `{}`",
                            allowed.join(", "),
                            form.key
                        ),
                    )
                    .help("name a group instead"),
                );
                return None;
            }
            (form.key.clone(), form.key_pos)
        };
        let Some(raw) = form.value.as_str().filter(|s| !s.trim().is_empty()) else {
            let (code, help) = if form.value.is_null() || form.value.as_str().is_some() {
                (
                    codes::TARGET_FORM,
                    format!(
                        "write the {target_type}'s name or object id after `{}:`",
                        form.key
                    ),
                )
            } else {
                (
                    codes::WRONG_TYPE,
                    format!("quote it: `{}: \"...\"`", form.key),
                )
            };
            self.push(
                Finding::new(
                    code,
                    form.value.pos,
                    format!(
                        "`{}` must be a non-empty string, found {}",
                        form.key,
                        form.value.describe()
                    ),
                )
                .help(help),
            );
            return None;
        };
        let id = normalise_id(raw);
        if id == ALL_USERS && target_type != "group" {
            self.push(
                Finding::new(
                    codes::TARGET_FORM,
                    form.value.pos,
                    format!("`all_users` is a group, not a {target_type}"),
                )
                .help("write `group: all_users`"),
            );
            return None;
        }
        let id_pointer = child(pointer, "id");
        self.spans
            .record(&id_pointer, form.value.pos, form.value.pos);
        self.spans
            .record(&child(pointer, "targetType"), type_pos, type_pos);
        let mut out = Map::new();
        out.insert("id".into(), Value::String(id));
        out.insert("targetType".into(), Value::String(target_type));
        let shape = Shape {
            type_name,
            read_only: &[],
            handled: &["group", "user", "id", "targetType"],
            extra_names: &["group", "user"],
        };
        let own = self.object(node, &shape, pointer)?;
        out.extend(own);
        Some(Value::Object(out))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::yaml;
    use serde_json::json;

    fn read(type_name: &str, src: &str) -> (Option<Value>, Vec<Finding>, Spans) {
        let (docs, findings) = yaml::parse(src);
        assert!(findings.is_empty(), "{findings:?}");
        let root = docs.into_iter().next().and_then(|d| d.root).unwrap();
        let mut r = Reader::default();
        let v = r
            .object(&root, &Shape::of(type_name), "")
            .map(Value::Object);
        (v, r.findings, r.spans)
    }

    #[test]
    fn targets_are_normalised_to_graph_shape() {
        let (v, f, spans) = read(
            "microsoftAuthenticatorAuthenticationMethodConfiguration",
            "includeTargets:\n  - group: All Staff\n    authenticationMode: push\n  - user: ada@contoso.com\n  - id: DAD4AE4A-730C-4E52-826C-0D9094971F04\n    targetType: group\nexcludeTargets:\n  - group: ALL_USERS\n",
        );
        assert!(f.is_empty(), "{f:?}");
        assert_eq!(
            v.unwrap(),
            json!({
                "includeTargets": [
                    {"id": "All Staff", "targetType": "group", "authenticationMode": "push"},
                    {"id": "ada@contoso.com", "targetType": "user"},
                    {"id": "dad4ae4a-730c-4e52-826c-0d9094971f04", "targetType": "group"}
                ],
                "excludeTargets": [{"id": "all_users", "targetType": "group"}]
            })
        );
        assert_eq!(spans.key("/includeTargets/0/id"), Pos::new(2, 12));
        assert_eq!(
            spans.key("/includeTargets/0/authenticationMode"),
            Pos::new(3, 5)
        );
        assert_eq!(spans.key("/includeTargets/2/targetType"), Pos::new(6, 5));
    }

    #[test]
    fn wrong_types_say_why() {
        let (_, f, _) = read(
            "fido2AuthenticationMethodConfiguration",
            "isSelfServiceRegistrationAllowed: \"true\"\nisAttestationEnforced: yes\nstate: enabeld\n",
        );
        let codes: Vec<_> = f
            .iter()
            .map(|f| (f.code, f.pos.line, f.pos.column))
            .collect();
        assert_eq!(
            codes,
            [
                (codes::WRONG_TYPE, 1, 35),
                (codes::WRONG_TYPE, 2, 24),
                (codes::UNKNOWN_ENUM_VALUE, 3, 8)
            ]
        );
        assert!(
            f[0].help
                .as_deref()
                .unwrap_or_default()
                .contains("remove the quotes")
        );
        assert!(
            f[1].help
                .as_deref()
                .unwrap_or_default()
                .contains("YAML 1.2")
        );
        assert_eq!(f[2].help.as_deref(), Some("did you mean `enabled`?"));
    }

    #[test]
    fn unknown_keys_suggest_the_closest_property() {
        let (_, f, _) = read("smsAuthenticationMethodConfiguration", "stat: enabled\n");
        assert_eq!(f[0].code, codes::UNKNOWN_KEY);
        assert_eq!(f[0].help.as_deref(), Some("did you mean `state`?"));
    }

    #[test]
    fn flags_enums_take_comma_lists() {
        let (v, f, _) = read("passkeyProfile", "passkeyTypes: deviceBound, synced\n");
        assert!(f.is_empty(), "{f:?}");
        assert_eq!(v.unwrap()["passkeyTypes"], json!("deviceBound,synced"));
    }

    #[test]
    fn pointers_escape_slash_and_tilde() {
        assert_eq!(child("/a", "b/c~d"), "/a/b~1c~0d");
    }
}
