//! Reads the YAML under `spec` into Graph JSON, checking every key and value against the
//! CSDL, normalising targets, and remembering where each JSON pointer was written.
//!
//! Mappings, properties and lists are read here; scalars and enum members in [`scalars`],
//! targets in [`target`].

mod scalars;
mod target;

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::diagnostic::{Finding, Pos, Severity, codes, severity_of};
use super::graph_types::{self, TypeKind};
use super::suggest;
use super::yaml::{Entry, Node, NodeKind};
use crate::msgraph::schema::PropertyDef;

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
    /// Whether any finding so far is an error (a warning, such as a deprecation, is not).
    pub(crate) fn has_errors(&self) -> bool {
        self.findings
            .iter()
            .any(|f| severity_of(f.code) == Severity::Error)
    }

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
