//! The display names shown beside object ids in output for people: which ids a value names
//! (by the property or target that holds them), and the annotation that writes each known
//! id's name after it (`"5c1c3233-…-521843a32281 (Break Glass)"`), the same in a unified
//! diff, a table cell, a chat message and an `explain` step.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::simulate::directory::parse_guid;
use crate::tenant::names::NameKind;

/// Display names by object id (lower case): a group's or a role's, a named location's or a
/// strength's display name, a user's principal name.
pub type ObjectNames = BTreeMap<String, String>;

/// Characters of an object id (`8-4-4-4-12` hexadecimal digits).
const GUID_CHARS: usize = 36;

/// The kind of object the ids in a list under `key` are (Conditional Access conditions).
fn list_kind(key: &str) -> Option<NameKind> {
    match key {
        "includeGroups" | "excludeGroups" => Some(NameKind::Group),
        "includeUsers" | "excludeUsers" => Some(NameKind::User),
        "includeRoles" | "excludeRoles" => Some(NameKind::Role),
        "includeLocations" | "excludeLocations" => Some(NameKind::Location),
        _ => None,
    }
}

/// Adds to `out` every object id that `value` names, with its kind: targets (`id` beside
/// `targetType` `group` or `user`), the users, groups, roles and locations of Conditional
/// Access conditions, and a grant's `authenticationStrength`. Keywords (`all_users`, `All`)
/// and the placeholders of ids a create will answer are not object ids and are left out.
pub fn referenced(value: &Value, out: &mut Vec<(NameKind, String)>) {
    walk(None, value, out);
}

fn walk(key: Option<&str>, value: &Value, out: &mut Vec<(NameKind, String)>) {
    let mut push = |kind: NameKind, id: &str| {
        if parse_guid(id).is_some() && !out.iter().any(|(k, i)| *k == kind && i == id) {
            out.push((kind, id.to_string()));
        }
    };
    match value {
        Value::Object(map) => {
            let id = map.get("id").and_then(Value::as_str);
            let target = map
                .get("targetType")
                .and_then(Value::as_str)
                .and_then(NameKind::parse);
            match (id, target) {
                (Some(id), Some(kind)) => push(kind, id),
                (Some(id), None) if key == Some("authenticationStrength") => {
                    push(NameKind::Strength, id)
                }
                _ => {}
            }
            for (k, v) in map {
                walk(Some(k), v, out);
            }
        }
        Value::Array(items) => match key.and_then(list_kind) {
            Some(kind) => items
                .iter()
                .filter_map(Value::as_str)
                .for_each(|id| push(kind, id)),
            None => items.iter().for_each(|v| walk(key, v, out)),
        },
        _ => {}
    }
}

/// Graph's nil id, which names no object: "nobody" as a feature setting's target (FACTS.md,
/// special ids), the legacy "Multifactor authentication trusted IPs" as a location.
const NIL: &str = "00000000-0000-0000-0000-000000000000";

/// The name of an id that means something without an object behind it: the nil id.
pub fn well_known(kind: NameKind, id: &str) -> Option<&'static str> {
    match kind {
        _ if id != NIL => None,
        NameKind::Group | NameKind::User => Some("nobody"),
        NameKind::Location => Some("Multifactor authentication trusted IPs"),
        NameKind::Role | NameKind::Strength => None,
    }
}

/// Where the object ids in `text` are, as byte ranges: 36 characters in the `8-4-4-4-12`
/// shape, not inside a longer word.
pub fn guid_spans(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let word = |i: usize| bytes.get(i).is_some_and(u8::is_ascii_alphanumeric);
    let mut spans = Vec::new();
    let mut i = 0;
    while i + GUID_CHARS <= bytes.len() {
        let shaped = bytes[i..i + GUID_CHARS]
            .iter()
            .enumerate()
            .all(|(j, c)| match j {
                8 | 13 | 18 | 23 => *c == b'-',
                _ => c.is_ascii_hexdigit(),
            });
        if shaped && (i == 0 || !word(i - 1)) && !word(i + GUID_CHARS) {
            spans.push((i, i + GUID_CHARS));
            i += GUID_CHARS;
        } else {
            i += 1;
        }
    }
    spans
}

/// `text` with the name of each object id it holds written right after the id, in
/// parentheses; ids without a known name are left as they are.
pub fn annotate(text: &str, names: &ObjectNames) -> String {
    if names.is_empty() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (start, end) in guid_spans(text) {
        out.push_str(&text[last..end]);
        if let Some(name) = names.get(&text[start..end].to_ascii_lowercase()) {
            out.push_str(&format!(" ({name})"));
        }
        last = end;
    }
    out.push_str(&text[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const GROUP: &str = "5c1c3233-db48-4d41-849f-521843a32281";
    const ROLE: &str = "62e90394-69f5-4237-9190-012177145e10";

    #[test]
    fn ids_are_found_by_the_property_or_target_that_holds_them() {
        let user = "0d1e2f3a-4b5c-4d6e-8f90-a1b2c3d4e5f6";
        let location = "aa1e2f3a-4b5c-4d6e-8f90-a1b2c3d4e5f6";
        let value = json!({
            "excludeTargets": [{"id": GROUP, "targetType": "group"}, {"id": "all_users", "targetType": "group"}],
            "includeTarget": {"targetType": "user", "id": user},
            "conditions": {"users": {"includeUsers": ["All", user], "includeRoles": [ROLE], "excludeGroups": [GROUP]},
                "locations": {"includeLocations": ["AllTrusted", location, "{created:namedLocations/Home}"]}},
            "grantControls": {"authenticationStrength": {"id": "00000000-0000-0000-0000-000000000004"}},
            "id": "11111111-2222-3333-4444-555555555555"
        });
        let mut found = Vec::new();
        referenced(&value, &mut found);
        found.sort();
        let mut expected = vec![
            (NameKind::Group, GROUP.to_string()),
            (NameKind::User, user.to_string()),
            (NameKind::Role, ROLE.to_string()),
            (NameKind::Location, location.to_string()),
            (
                NameKind::Strength,
                "00000000-0000-0000-0000-000000000004".to_string(),
            ),
        ];
        expected.sort();
        assert_eq!(found, expected, "a policy's own id names nothing shown");
    }

    #[test]
    fn each_known_id_gets_its_name_and_an_unknown_one_stays_alone() {
        let names = ObjectNames::from([(GROUP.to_string(), "Break Glass".to_string())]);
        let upper = GROUP.to_ascii_uppercase();
        assert_eq!(
            annotate(&format!("\"id\": \"{GROUP}\", \"{upper}\", {ROLE}"), &names),
            format!("\"id\": \"{GROUP} (Break Glass)\", \"{upper} (Break Glass)\", {ROLE}")
        );
        assert_eq!(annotate("group x", &names), "group x");
        assert_eq!(well_known(NameKind::Group, NIL), Some("nobody"));
        assert_eq!(well_known(NameKind::Group, GROUP), None);
        assert!(guid_spans(&format!("a{GROUP}")).is_empty(), "inside a word");
        assert!(guid_spans(&GROUP[1..]).is_empty());
        assert_eq!(guid_spans(&format!("é {GROUP}")), [(3, 39)]);
    }
}
