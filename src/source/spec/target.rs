//! Reading one target (`{group: ...}`, `{user: ...}` or `{id, targetType}`) into Graph's
//! `{id, targetType, ...}`.

use serde_json::{Map, Value};

use super::{Reader, Shape, child};
use crate::source::diagnostic::{Finding, codes};
use crate::source::graph_types::{self, TypeKind};
use crate::source::targets::{ALL_USERS, TARGET_FORMS, normalise_id};
use crate::source::yaml::{Entry, Node};

impl Reader {
    /// Reads one target of `type_name`, written `{group: ...}`, `{user: ...}` or
    /// `{id, targetType}`, into Graph's `{id, targetType, ...}`.
    pub(super) fn target(&mut self, type_name: &str, node: &Node, pointer: &str) -> Option<Value> {
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
