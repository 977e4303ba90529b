//! The names targets are written with: a group's display name when exactly one group has
//! it, a user's UPN. Two rounds of reads, each one `$batch`: every group and user by id,
//! then every distinct display name by `$filter` (the lookup `plan` makes to resolve it).

use std::collections::HashMap;

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

use crate::graph::{BatchRequest, GraphClient, GraphError};
use crate::msgraph::schema::is_guid;
use crate::policy::ALL_USERS;

/// Object id (lower case) → the name to write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names {
    /// Groups whose display name is unique in the tenant.
    pub groups: HashMap<String, String>,
    /// Users' principal names.
    pub users: HashMap<String, String>,
    /// Groups named like another group: written by object id.
    pub ambiguous: Vec<String>,
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

/// Looks up the names of `groups` and `users` (object ids). A group or user that no longer
/// exists keeps its id; any other failure is an error (never a silently different export).
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
            }
        } else if let (Some(id), Some(upn)) = (users.get(index), body["userPrincipalName"].as_str())
            && !upn.trim().is_empty()
            && upn.trim() == upn
        {
            names.users.insert(id.clone(), upn.to_string());
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
            _ => names.ambiguous.push(id.clone()),
        }
    }
    Ok(names)
}
