//! Targets: who a setting applies to.
//!
//! Users write `{group: <display name | object id | all_users>}`, `{user: <UPN | object id>}`
//! or Graph's own `{id, targetType}`; the loader turns all three into Graph's shape. A group
//! display name or a UPN stays as written in `id` until the plan stage resolves it against
//! the directory: [`unresolved_targets`] lists exactly those.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::msgraph::schema::is_guid;

pub use crate::msgraph::ALL_USERS;

/// The keys that name a target's subject.
pub(crate) const TARGET_FORMS: &[&str] = &["group", "user", "id"];

/// The keys under which Graph holds targets (lists and single targets).
const TARGET_KEYS: &[&str] = &[
    "includeTargets",
    "excludeTargets",
    "includeTarget",
    "excludeTarget",
];

/// A GUID in lower case, `all_users` in any case as `all_users`, anything else as written.
pub(crate) fn normalise_id(raw: &str) -> String {
    let trimmed = raw.trim();
    if is_guid(trimmed) {
        trimmed.to_ascii_lowercase()
    } else if trimmed.eq_ignore_ascii_case(ALL_USERS) {
        ALL_USERS.to_string()
    } else {
        trimmed.to_string()
    }
}

/// A target whose id is still a group display name or a user principal name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnresolvedTarget {
    /// JSON pointer of the `id` member (`/methods/fido2/includeTargets/0/id`).
    pub pointer: String,
    /// `group` or `user` (or another Graph target type, as declared).
    pub target_type: String,
    /// The name as written: a group display name or a UPN.
    pub name: String,
}

/// Every target under `value` whose id is neither a GUID nor `all_users`, with the JSON
/// pointer of its `id`, prefixed by `prefix` (pass `""` for the root). Targets are the items of
/// `includeTargets`/`excludeTargets` and the values of `includeTarget`/`excludeTarget`.
pub fn unresolved_targets(value: &Value, prefix: &str) -> Vec<UnresolvedTarget> {
    let mut out = Vec::new();
    walk(value, prefix, false, &mut out);
    out
}

/// [`unresolved_targets`] of the object whose members are `map`, without building it.
pub fn unresolved_targets_in(map: &Map<String, Value>, prefix: &str) -> Vec<UnresolvedTarget> {
    let mut out = Vec::new();
    walk_map(map, prefix, false, &mut out);
    out
}

fn walk_map(
    map: &Map<String, Value>,
    pointer: &str,
    is_target: bool,
    out: &mut Vec<UnresolvedTarget>,
) {
    if is_target
        && let Some(Value::String(id)) = map.get("id")
        && !is_guid(id)
        && id != ALL_USERS
    {
        out.push(UnresolvedTarget {
            pointer: format!("{pointer}/id"),
            target_type: map
                .get("targetType")
                .and_then(Value::as_str)
                .unwrap_or("group")
                .to_string(),
            name: id.clone(),
        });
    }
    for (key, child) in map {
        let token = key.replace('~', "~0").replace('/', "~1");
        let next = format!("{pointer}/{token}");
        if TARGET_KEYS.contains(&key.as_str()) {
            match child {
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        walk(item, &format!("{next}/{i}"), true, out);
                    }
                }
                single => walk(single, &next, true, out),
            }
        } else {
            walk(child, &next, false, out);
        }
    }
}

fn walk(value: &Value, pointer: &str, is_target: bool, out: &mut Vec<UnresolvedTarget>) {
    match value {
        Value::Object(map) => walk_map(map, pointer, is_target, out),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, &format!("{pointer}/{i}"), false, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_are_normalised() {
        assert_eq!(
            normalise_id(" DAD4AE4A-730C-4E52-826C-0D9094971F04 "),
            "dad4ae4a-730c-4e52-826c-0d9094971f04"
        );
        assert_eq!(normalise_id("All_Users"), "all_users");
        assert_eq!(normalise_id("Helpdesk Admins"), "Helpdesk Admins");
    }

    #[test]
    fn only_names_are_unresolved() {
        let v = json!({
            "systemCredentialPreferences": {
                "includeTargets": [{"id": "all_users", "targetType": "group"}],
                "excludeTargets": [{"id": "Break Glass", "targetType": "group"}]
            },
            "methods": {"fido2": {"includeTargets": [
                {"id": "dad4ae4a-730c-4e52-826c-0d9094971f04", "targetType": "group"},
                {"id": "ada@contoso.com", "targetType": "user"}
            ]},
            "microsoftAuthenticator": {"featureSettings": {"displayAppInformationRequiredState": {
                "includeTarget": {"id": "Pilot", "targetType": "group"}}}}}
        });
        let found = unresolved_targets(&v, "");
        let pointers: Vec<_> = found
            .iter()
            .map(|t| (t.pointer.as_str(), t.target_type.as_str(), t.name.as_str()))
            .collect();
        assert_eq!(
            pointers,
            [
                (
                    "/systemCredentialPreferences/excludeTargets/0/id",
                    "group",
                    "Break Glass"
                ),
                (
                    "/methods/fido2/includeTargets/1/id",
                    "user",
                    "ada@contoso.com"
                ),
                (
                    "/methods/microsoftAuthenticator/featureSettings/displayAppInformationRequiredState/includeTarget/id",
                    "group",
                    "Pilot"
                ),
            ]
        );
    }
}
