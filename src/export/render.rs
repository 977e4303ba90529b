//! Policy YAML: the documents `mfactl export` writes, in the block style the shipped
//! `policies/` use. Strings that YAML (1.2, or 1.1 tools) could read as anything else are
//! double-quoted.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::Names;
use crate::kinds::Kind;
use crate::kinds::methods_policy::MethodsPolicy;
use crate::kinds::methods_policy::export::{Declarable, SINGLE_TARGETS, TARGET_LISTS};
use crate::kinds::security_defaults::SecurityDefaults;
use crate::msgraph::schema::is_guid;
use crate::policy::API_VERSION;
use crate::source::spec::child;
use crate::source::targets::ALL_USERS;

/// Who exported what, for the header comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// mfactl's name for the tenant.
    pub tenant: String,
    /// The Entra tenant id.
    pub tenant_id: String,
    /// When, RFC 3339 UTC.
    pub at: String,
    /// `--only-changed`.
    pub only_changed: bool,
}

impl Header {
    fn comment(&self) -> String {
        let mut out = format!(
            "# Exported from tenant {} ({}) at {} by mfactl {}.\n",
            self.tenant,
            self.tenant_id,
            self.at,
            env!("CARGO_PKG_VERSION")
        );
        out.push_str(
            "# Only what is written here is managed: a property or method left out stays as it is\n# in the tenant and never shows as drift.\n",
        );
        if self.only_changed {
            out.push_str(
                "# --only-changed: properties and methods still at Microsoft's defaults are left out.\n",
            );
        }
        out
    }
}

/// One document of a file.
pub struct Document<'a> {
    /// After `kind:`.
    pub kind: &'a str,
    /// `metadata.name`.
    pub name: &'a str,
    /// The spec.
    pub spec: &'a Map<String, Value>,
    /// Comments written after a scalar of the spec: its JSON pointer → the text.
    pub comments: &'a HashMap<String, String>,
}

/// A file of `documents`, `---` between them, after the header comment.
pub fn documents(header: &Header, documents: &[Document<'_>]) -> String {
    let mut w = Writer {
        out: header.comment(),
        comments: &HashMap::new(),
    };
    for (i, d) in documents.iter().enumerate() {
        if i > 0 {
            w.out.push_str("---\n");
        }
        w.out.push_str(&format!(
            "apiVersion: {API_VERSION}\nkind: {}\nmetadata:\n  name: {}\nspec:\n",
            d.kind,
            scalar_text(&Value::String(d.name.to_string()))
        ));
        w.comments = d.comments;
        w.map(d.spec, 2, "");
    }
    w.out
}

/// The `AuthenticationMethodsPolicy` document.
pub fn methods_policy(header: &Header, policy: &Declarable, names: &Names) -> String {
    let mut spec = Map::new();
    for (k, v) in &policy.properties {
        spec.insert(k.clone(), yaml_targets(k, v, names));
    }
    if !policy.methods.is_empty() {
        let methods = policy
            .methods
            .iter()
            .map(|(key, props)| {
                let props = props
                    .iter()
                    .map(|(k, v)| (k.clone(), yaml_targets(k, v, names)))
                    .collect();
                (key.clone(), Value::Object(props))
            })
            .collect();
        spec.insert("methods".into(), Value::Object(methods));
    }
    document(header, MethodsPolicy::NAME, "authentication-methods", &spec)
}

/// The `SecurityDefaults` document.
pub fn security_defaults(header: &Header, enabled: bool) -> String {
    let mut spec = Map::new();
    spec.insert("enabled".into(), Value::Bool(enabled));
    document(header, SecurityDefaults::NAME, "security-defaults", &spec)
}

fn document(header: &Header, kind: &str, name: &str, spec: &Map<String, Value>) -> String {
    documents(
        header,
        &[Document {
            kind,
            name,
            spec,
            comments: &HashMap::new(),
        }],
    )
}

/// A value with every target under it in the loader's short forms.
fn yaml_targets(key: &str, value: &Value, names: &Names) -> Value {
    match value {
        Value::Array(items) if TARGET_LISTS.contains(&key) => {
            Value::Array(items.iter().map(|t| target(t, names)).collect())
        }
        Value::Object(_) if SINGLE_TARGETS.contains(&key) => target(value, names),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), yaml_targets(k, v, names)))
                .collect(),
        ),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| yaml_targets("", v, names)).collect())
        }
        other => other.clone(),
    }
}

/// `{group: <name | id | all_users>}`, `{user: <UPN | id>}`, or Graph's `{id, targetType}`
/// for other target types; then the target's other members.
fn target(t: &Value, names: &Names) -> Value {
    let Value::Object(m) = t else {
        return t.clone();
    };
    let id = m.get("id").and_then(Value::as_str).unwrap_or_default();
    let ty = m
        .get("targetType")
        .and_then(Value::as_str)
        .unwrap_or("group");
    let mut out = Map::new();
    match ty {
        "group" => {
            let shown = if id == ALL_USERS {
                ALL_USERS
            } else {
                names.group(id).unwrap_or(id)
            };
            out.insert("group".into(), Value::String(shown.to_string()));
        }
        "user" => {
            out.insert(
                "user".into(),
                Value::String(names.user(id).unwrap_or(id).to_string()),
            );
        }
        other => {
            out.insert("id".into(), Value::String(id.to_string()));
            out.insert("targetType".into(), Value::String(other.to_string()));
        }
    }
    for (k, v) in m {
        if k != "id" && k != "targetType" {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

/// Writes YAML in block style, a comment after each scalar that has one.
struct Writer<'a> {
    out: String,
    comments: &'a HashMap<String, String>,
}

impl Writer<'_> {
    fn pad(&mut self, indent: usize) {
        self.out.extend(std::iter::repeat_n(' ', indent));
    }

    fn map(&mut self, m: &Map<String, Value>, indent: usize, pointer: &str) {
        for (k, v) in m {
            self.pad(indent);
            self.out.push_str(&key(k));
            self.out.push(':');
            self.value_after_key(v, indent, &child(pointer, k));
        }
    }

    fn value_after_key(&mut self, v: &Value, indent: usize, pointer: &str) {
        match v {
            Value::Object(m) if m.is_empty() => self.out.push_str(" {}\n"),
            Value::Object(m) => {
                self.out.push('\n');
                self.map(m, indent + 2, pointer);
            }
            Value::Array(a) if a.is_empty() => self.out.push_str(" []\n"),
            Value::Array(a) => {
                self.out.push('\n');
                self.seq(a, indent + 2, pointer);
            }
            scalar => {
                self.out.push(' ');
                self.scalar(scalar, pointer);
            }
        }
    }

    fn seq(&mut self, items: &[Value], indent: usize, pointer: &str) {
        for (i, item) in items.iter().enumerate() {
            let at = child(pointer, &i.to_string());
            self.pad(indent);
            self.out.push_str("- ");
            match item {
                Value::Object(m) if !m.is_empty() => {
                    let mut inner = Writer {
                        out: String::new(),
                        comments: self.comments,
                    };
                    inner.map(m, indent + 2, &at);
                    // The first entry goes on the dash's line.
                    self.out.push_str(&inner.out[indent + 2..]);
                }
                Value::Object(_) => self.out.push_str("{}\n"),
                Value::Array(_) => {
                    // Flow style: JSON is YAML.
                    self.out.push_str(&item.to_string());
                    self.out.push('\n');
                }
                scalar => self.scalar(scalar, &at),
            }
        }
    }

    /// A scalar, its comment, and the end of the line.
    fn scalar(&mut self, v: &Value, pointer: &str) {
        self.out.push_str(&scalar_text(v));
        if let Some(comment) = self.comments.get(pointer) {
            self.out.push_str("  # ");
            self.out.push_str(comment);
        }
        self.out.push('\n');
    }
}

fn key(k: &str) -> String {
    let plain = is_guid(k)
        || k.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            && !reserved(k);
    if plain {
        k.to_string()
    } else {
        Value::String(k.to_string()).to_string()
    }
}

/// Words some YAML reader takes for something other than a string.
fn reserved(s: &str) -> bool {
    matches!(
        s.to_ascii_lowercase().as_str(),
        "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n" | "~"
    )
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => {
            let plain = is_guid(s)
                || s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                    && !s.ends_with(' ')
                    && !s.contains("  ")
                    && s.chars().all(|c| {
                        c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@' | ' ')
                    })
                    && !reserved(s);
            if plain { s.clone() } else { v.to_string() }
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn header() -> Header {
        Header {
            tenant: "t".into(),
            tenant_id: "x".into(),
            at: "2026-01-01T00:00:00Z".into(),
            only_changed: false,
        }
    }

    #[test]
    fn targets_use_the_short_forms_and_ambiguous_strings_are_quoted() {
        let mut names = Names::default();
        names.groups.insert(
            "dad4ae4a-730c-4e52-826c-0d9094971f04".into(),
            "Break Glass".into(),
        );
        let policy = Declarable {
            properties: json!({"systemCredentialPreferences": {"state": "enabled", "excludeTargets": [{"id": "dad4ae4a-730c-4e52-826c-0d9094971f04", "targetType": "group"}], "includeTargets": [{"id": "all_users", "targetType": "group"}]}}).as_object().cloned().unwrap(),
            methods: vec![
                ("voice".into(), json!({"callerIdNumber": "+1 425 555 0100", "isOfficePhoneAllowed": false, "label": "yes", "includeTargets": [{"id": "11111111-2222-3333-4444-555555555555", "targetType": "user", "isRegistrationRequired": true}], "excludeTargets": []}).as_object().cloned().unwrap()),
                ("fda55161-0d73-48ec-b29f-d29689e3d1b6".into(), json!({"state": "enabled"}).as_object().cloned().unwrap()),
            ],
            skipped_methods: Vec::new(),
        };
        let text = methods_policy(&header(), &policy, &names);
        let expected = "spec:
  systemCredentialPreferences:
    state: enabled
    excludeTargets:
      - group: Break Glass
    includeTargets:
      - group: all_users
  methods:
    voice:
      callerIdNumber: \"+1 425 555 0100\"
      isOfficePhoneAllowed: false
      label: \"yes\"
      includeTargets:
        - user: 11111111-2222-3333-4444-555555555555
          isRegistrationRequired: true
      excludeTargets: []
    fda55161-0d73-48ec-b29f-d29689e3d1b6:
      state: enabled
";
        assert!(text.ends_with(expected), "{text}");
        assert!(
            text.starts_with("# Exported from tenant t (x) at 2026-01-01T00:00:00Z by mfactl ")
        );
    }

    #[test]
    fn documents_are_separated_and_ids_kept_carry_their_comment() {
        let spec = json!({"state": "enabled", "conditions": {"users": {"excludeGroups": ["Break Glass", "5b9a3f2e-1c4d-4e8f-9a0b-1c2d3e4f5a6b"]}}, "grantControls": {"authenticationStrength": "6c3e9a1b-2d4f-4e8a-9b0c-1d2e3f4a5b6c"}});
        let spec = spec.as_object().unwrap();
        let comments = HashMap::from([
            (
                "/conditions/users/excludeGroups/1".to_string(),
                "no group has this id in the tenant (deleted?)".to_string(),
            ),
            (
                "/grantControls/authenticationStrength".to_string(),
                "gone".to_string(),
            ),
        ]);
        let none = HashMap::new();
        let text = documents(
            &header(),
            &[
                Document {
                    kind: "ConditionalAccessPolicy",
                    name: "Microsoft-managed: MFA for admins",
                    spec,
                    comments: &comments,
                },
                Document {
                    kind: "ConditionalAccessPolicy",
                    name: "Plain name",
                    spec: &Map::new(),
                    comments: &none,
                },
            ],
        );
        let expected = "apiVersion: mfactl/v1
kind: ConditionalAccessPolicy
metadata:
  name: \"Microsoft-managed: MFA for admins\"
spec:
  state: enabled
  conditions:
    users:
      excludeGroups:
        - Break Glass
        - 5b9a3f2e-1c4d-4e8f-9a0b-1c2d3e4f5a6b  # no group has this id in the tenant (deleted?)
  grantControls:
    authenticationStrength: 6c3e9a1b-2d4f-4e8a-9b0c-1d2e3f4a5b6c  # gone
---
apiVersion: mfactl/v1
kind: ConditionalAccessPolicy
metadata:
  name: Plain name
spec:
";
        assert!(text.ends_with(expected), "{text}");
        let docs: Vec<Value> = serde_yaml::Deserializer::from_str(&text)
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .collect();
        assert_eq!(
            docs[0]["spec"]["conditions"]["users"]["excludeGroups"][1],
            json!("5b9a3f2e-1c4d-4e8f-9a0b-1c2d3e4f5a6b")
        );
    }
}
