//! The names written where Graph holds ids: a group's display name when exactly one group
//! has it, a user's UPN, and the display name of a directory role, named location or
//! authentication strength when exactly one item of its collection has it. Groups and users
//! cost two rounds of reads, each one `$batch`: every group and user by id, then every
//! distinct display name by `$filter` (the lookup `plan` makes to resolve it). Roles,
//! locations and strengths are matched in their collections, as `plan` matches them
//! (`crate::tenant::names`). An id written as itself says why ([`Names::reference`]).

use std::collections::HashMap;

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

use crate::graph::{BatchRequest, GraphClient, GraphError};
use crate::msgraph::conditional_access::{SPECIAL_LOCATIONS, built_in_strength_named};
use crate::msgraph::schema::is_guid;
use crate::policy::ALL_USERS;
use crate::tenant::names::NameKind;

/// Why an id is written as itself rather than by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    /// No object of the tenant has the id (deleted since it was written).
    Missing,
    /// Another object has the same name, so the name would not resolve to this one.
    Shared,
    /// The name would read back as something else: empty, blanks around it, an id or a
    /// keyword.
    Unwritable,
}

impl Kept {
    /// The comment written beside the id.
    pub fn reason(self, kind: NameKind) -> String {
        let noun = kind.noun();
        match self {
            Kept::Missing => format!("no {noun} has this id in the tenant (deleted?)"),
            Kept::Shared => format!("its display name is not unique among the tenant's {noun}s"),
            Kept::Unwritable => "its name would read back as an id or a keyword".into(),
        }
    }
}

/// Object id (lower case) → the name to write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names {
    /// Groups whose display name is unique in the tenant.
    pub groups: HashMap<String, String>,
    /// Users' principal names.
    pub users: HashMap<String, String>,
    /// Groups named like another group: written by object id.
    pub ambiguous: Vec<String>,
    /// Directory roles, named locations and authentication strengths whose display name
    /// is unique in their collection.
    pub listed: HashMap<(NameKind, String), String>,
    /// Why each id read without a usable name is written as itself.
    pub kept: HashMap<(NameKind, String), Kept>,
}

impl Names {
    /// The name to write for a group, if it has a usable one.
    pub fn group(&self, id: &str) -> Option<&str> {
        self.groups
            .get(&id.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// The UPN to write for a user, if known.
    pub fn user(&self, id: &str) -> Option<&str> {
        self.users.get(&id.to_ascii_lowercase()).map(String::as_str)
    }

    /// The name to write for the `kind` object `id`, or why the id is written as itself.
    pub fn reference(&self, kind: NameKind, id: &str) -> Result<&str, Kept> {
        let id = id.to_ascii_lowercase();
        let name = match kind {
            NameKind::Group => self.groups.get(&id),
            NameKind::User => self.users.get(&id),
            _ => self.listed.get(&(kind, id.clone())),
        };
        match name {
            Some(name) => Ok(name),
            None => Err(self.kept.get(&(kind, id)).copied().unwrap_or(Kept::Missing)),
        }
    }

    /// Names the items of a collection read whole (directory role templates, named
    /// locations, authentication strengths): by display name when exactly one item has it
    /// and it reads back as that name, as `plan` resolves it.
    pub fn add_listed(&mut self, kind: NameKind, items: &[Value]) {
        let mut count: HashMap<&str, usize> = HashMap::new();
        for item in items {
            if let Some(name) = item["displayName"].as_str() {
                *count.entry(name).or_default() += 1;
            }
        }
        for item in items {
            let (Some(id), Some(name)) = (item["id"].as_str(), item["displayName"].as_str()) else {
                continue;
            };
            let key = (kind, id.to_ascii_lowercase());
            let reads_as_other = match kind {
                NameKind::Location => SPECIAL_LOCATIONS
                    .iter()
                    .any(|k| k.eq_ignore_ascii_case(name)),
                // `plan` takes a built-in strength's name for the built-in.
                NameKind::Strength => {
                    item["policyType"] != "builtIn" && built_in_strength_named(name).is_some()
                }
                _ => false,
            };
            if !writable_name(name) || reads_as_other {
                self.kept.insert(key, Kept::Unwritable);
            } else if count.get(name).copied().unwrap_or(0) > 1 {
                self.kept.insert(key, Kept::Shared);
            } else {
                self.listed.insert(key, name.to_string());
            }
        }
    }
}

/// Whether a display name, written as `group: <name>`, reads back as that name: not empty,
/// no surrounding blanks (the loader trims), not a GUID nor `all_users` (those are ids).
fn writable_name(name: &str) -> bool {
    !name.is_empty()
        && name.trim() == name
        && !is_guid(name)
        && !name.eq_ignore_ascii_case(ALL_USERS)
}

fn by_name_path(name: &str) -> String {
    let filter = format!("displayName eq '{}'", name.replace('\'', "''"));
    format!(
        "/v1.0/groups?$filter={}&$select=id,displayName",
        utf8_percent_encode(&filter, NON_ALPHANUMERIC)
    )
}

/// Looks up the names of `groups` and `users` (object ids, lower case). A group or user that
/// no longer exists keeps its id; any other failure is an error (never a silently different
/// export).
pub async fn resolve(
    client: &GraphClient,
    groups: &[String],
    users: &[String],
) -> Result<Names, GraphError> {
    let mut names = Names::default();
    let mut requests = Vec::new();
    for (i, id) in groups.iter().enumerate() {
        requests.push(BatchRequest::get(
            format!("g{i}"),
            format!("/v1.0/groups/{id}?$select=id,displayName"),
        ));
    }
    for (i, id) in users.iter().enumerate() {
        requests.push(BatchRequest::get(
            format!("u{i}"),
            format!("/v1.0/users/{id}?$select=id,userPrincipalName"),
        ));
    }
    if requests.is_empty() {
        return Ok(names);
    }
    let responses = client.batch(requests).await?;
    let mut display: Vec<(String, String)> = Vec::new();
    for response in responses {
        let is_group = response.id.starts_with('g');
        let index: usize = response.id[1..].parse().unwrap_or(usize::MAX);
        let body = match response.into_result() {
            Ok(body) => body.unwrap_or(Value::Null),
            Err(GraphError::NotFound { .. }) => continue,
            Err(e) => return Err(e),
        };
        if is_group {
            let (Some(id), Some(name)) = (groups.get(index), body["displayName"].as_str()) else {
                continue;
            };
            if writable_name(name) {
                display.push((id.clone(), name.to_string()));
            } else {
                names
                    .kept
                    .insert((NameKind::Group, id.clone()), Kept::Unwritable);
            }
        } else if let Some(id) = users.get(index) {
            match body["userPrincipalName"].as_str() {
                Some(upn) if !upn.trim().is_empty() && upn.trim() == upn => {
                    names.users.insert(id.clone(), upn.to_string());
                }
                _ => {
                    names
                        .kept
                        .insert((NameKind::User, id.clone()), Kept::Unwritable);
                }
            }
        }
    }
    let mut distinct: Vec<&str> = Vec::new();
    for (_, name) in &display {
        if !distinct.contains(&name.as_str()) {
            distinct.push(name);
        }
    }
    if distinct.is_empty() {
        return Ok(names);
    }
    let requests = distinct
        .iter()
        .enumerate()
        .map(|(i, name)| BatchRequest::get(i.to_string(), by_name_path(name)))
        .collect();
    let responses = client.batch(requests).await?;
    let mut unique: HashMap<&str, Option<String>> = HashMap::new();
    for (name, response) in distinct.iter().zip(responses) {
        let page = response.into_result()?.unwrap_or(Value::Null);
        let only = match (&page["value"], &page["@odata.nextLink"]) {
            (Value::Array(found), Value::Null) if found.len() == 1 => {
                found[0]["id"].as_str().map(str::to_ascii_lowercase)
            }
            _ => None,
        };
        unique.insert(name, only);
    }
    for (id, name) in &display {
        match unique.get(name.as_str()) {
            Some(Some(only)) if only == id => {
                names.groups.insert(id.clone(), name.clone());
            }
            _ => {
                names.ambiguous.push(id.clone());
                names
                    .kept
                    .insert((NameKind::Group, id.clone()), Kept::Shared);
            }
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn listed_items_are_named_only_when_the_name_reads_back_as_them() {
        let mut names = Names::default();
        names.add_listed(
            NameKind::Location,
            &[
                json!({"id": "L1", "displayName": "Office"}),
                json!({"id": "l2", "displayName": "Branch"}),
                json!({"id": "l3", "displayName": "Branch"}),
                json!({"id": "l4", "displayName": "alltrusted"}),
                json!({"id": "l5", "displayName": " Padded"}),
            ],
        );
        names.add_listed(
            NameKind::Strength,
            &[
                json!({"id": "00000000-0000-0000-0000-000000000004", "displayName": "Phishing resistant MFA", "policyType": "builtIn"}),
                json!({"id": "s1", "displayName": "passwordless mfa", "policyType": "custom"}),
            ],
        );
        let l = |id| names.reference(NameKind::Location, id);
        assert_eq!(l("l1"), Ok("Office"));
        assert_eq!(l("l2"), Err(Kept::Shared));
        assert_eq!(l("l4"), Err(Kept::Unwritable));
        assert_eq!(l("l5"), Err(Kept::Unwritable));
        assert_eq!(l("gone"), Err(Kept::Missing));
        assert_eq!(
            names.reference(NameKind::Strength, "00000000-0000-0000-0000-000000000004"),
            Ok("Phishing resistant MFA")
        );
        assert_eq!(
            names.reference(NameKind::Strength, "s1"),
            Err(Kept::Unwritable),
            "plan would take it for the built-in"
        );
        assert_eq!(
            Kept::Shared.reason(NameKind::Location),
            "its display name is not unique among the tenant's named locations"
        );
        assert_eq!(
            Kept::Missing.reason(NameKind::Group),
            "no group has this id in the tenant (deleted?)"
        );
    }
}
