//! The network edge of planning: reading the live tenant, and resolving the group names and
//! user principal names that targets use into object ids.

use std::collections::BTreeMap;

use super::{
    DesiredMethod, DesiredPolicy, DesiredState, LiveState, POLICY_PATH, Plan, PlanError,
    SECURITY_DEFAULTS_PATH,
};
use serde_json::Value;

use crate::graph::{BatchRequest, GraphClient, GraphError, RequestContext};
use crate::policy::{Location, PolicySet};

/// Why no plan could be made: the tenant could not be read, a target does not resolve, or
/// the declaration does not fit the tenant. Nothing was changed in any case.
#[derive(Debug, thiserror::Error)]
pub enum PlanningError {
    /// Reading the tenant or the directory failed.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// The declaration does not fit the tenant.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// No group has this display name.
    #[error("{location}: no group is named '{name}'")]
    NoSuchGroup {
        /// The display name written.
        name: String,
        /// Where it was written.
        location: Location,
    },
    /// Several groups share this display name; a target must name exactly one.
    #[error("{location}: {count} groups are named '{name}'; use the group's object id instead")]
    AmbiguousGroup {
        /// The display name written.
        name: String,
        /// How many groups have it.
        count: usize,
        /// Where it was written.
        location: Location,
    },
    /// No user has this user principal name.
    #[error("{location}: no user '{name}'")]
    NoSuchUser {
        /// The UPN written.
        name: String,
        /// Where it was written.
        location: Location,
    },
}

/// Reads what the declaration touches: the authentication methods policy (configurations
/// come inline: one GET, never one per method) and security defaults, concurrently.
pub async fn read(
    client: &GraphClient,
    policy: bool,
    security_defaults: bool,
) -> Result<LiveState, GraphError> {
    let policy = async {
        if policy {
            client.get(POLICY_PATH).await.map(Some)
        } else {
            Ok(None)
        }
    };
    let defaults = async {
        if security_defaults {
            client.get(SECURITY_DEFAULTS_PATH).await.map(Some)
        } else {
            Ok(None)
        }
    };
    let (methods_policy, security_defaults) = tokio::join!(policy, defaults);
    Ok(LiveState {
        methods_policy: methods_policy?,
        security_defaults: security_defaults?,
    })
}

/// Reads the tenant and resolves the declared targets, concurrently (one round of reads),
/// then compares: the whole of `plan` for one tenant.
pub async fn compute(
    client: &GraphClient,
    tenant: &str,
    set: &PolicySet,
) -> Result<Plan, PlanningError> {
    let (live, desired) = tokio::join!(
        read(
            client,
            set.methods_policy.is_some(),
            set.security_defaults.is_some()
        ),
        resolve(client, set)
    );
    Ok(super::plan(tenant, &desired?, &live?)?)
}

/// OData string literal: single quotes doubled.
fn literal(s: &str) -> String {
    s.replace('\'', "''")
}

/// Turns the loaded policy set into the desired state, resolving every target written by
/// name into an object id. Each distinct name is looked up once.
pub async fn resolve(client: &GraphClient, set: &PolicySet) -> Result<DesiredState, PlanningError> {
    let mut desired = DesiredState {
        policy: None,
        security_defaults: set.security_defaults.as_ref().map(|sd| sd.is_enabled),
    };
    let Some(declared) = &set.methods_policy else {
        return Ok(desired);
    };
    let mut policy = declared.clone();
    let targets = declared.unresolved_targets();
    // Each distinct name once, all in one `$batch`: one round of reads, however many names.
    let mut names: Vec<(String, String, Location)> = Vec::new();
    for t in &targets {
        if !names
            .iter()
            .any(|(ty, n, _)| *ty == t.target_type && *n == t.name)
        {
            let location = declared
                .locations
                .get(&t.pointer)
                .cloned()
                .unwrap_or_else(|| declared.location.clone());
            names.push((t.target_type.clone(), t.name.clone(), location));
        }
    }
    let resolved = lookup_all(client, names).await?;
    for t in &targets {
        if let Some(id) = resolved.get(&(t.target_type.clone(), t.name.clone())) {
            policy.set_target_id(&t.pointer, id);
        }
    }
    desired.policy = Some(DesiredPolicy {
        properties: policy.properties,
        methods: policy
            .methods
            .into_iter()
            .map(|m| DesiredMethod {
                key: m.key,
                odata_type: m.odata_type,
                properties: m.properties,
            })
            .collect(),
    });
    Ok(desired)
}

/// The Graph path that finds the user whose UPN is `name`, or the groups named `name`.
fn lookup_path(target_type: &str, name: &str) -> String {
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
    if target_type == "user" {
        return format!(
            "/v1.0/users/{}?$select=id",
            utf8_percent_encode(name, NON_ALPHANUMERIC)
        );
    }
    let filter = format!("displayName eq '{}'", literal(name));
    format!(
        "/v1.0/groups?$filter={}&$select=id,displayName",
        utf8_percent_encode(&filter, NON_ALPHANUMERIC)
    )
}

/// Resolves every `(type, name)` into an object id with one `$batch` (one request for up to
/// twenty names, their POSTs concurrent beyond that): one round of reads however many
/// names. A group page that continues (`@odata.nextLink`: more groups of that name than
/// fit a page) is read to its end on its own.
async fn lookup_all(
    client: &GraphClient,
    names: Vec<(String, String, Location)>,
) -> Result<BTreeMap<(String, String), String>, PlanningError> {
    let mut resolved = BTreeMap::new();
    if names.is_empty() {
        return Ok(resolved);
    }
    let requests = names
        .iter()
        .enumerate()
        .map(|(i, (ty, name, _))| BatchRequest::get(i.to_string(), lookup_path(ty, name)))
        .collect();
    let responses = client.batch(requests).await?;
    for ((ty, name, location), response) in names.into_iter().zip(responses) {
        let id = if ty == "user" {
            match response.into_result() {
                Ok(user) => user
                    .as_ref()
                    .and_then(|u| u["id"].as_str())
                    .unwrap_or_default()
                    .to_string(),
                Err(GraphError::NotFound { .. }) => {
                    return Err(PlanningError::NoSuchUser { name, location });
                }
                Err(e) => return Err(e.into()),
            }
        } else {
            let page = response.into_result()?.unwrap_or_default();
            let groups = match (&page["value"], &page["@odata.nextLink"]) {
                (Value::Array(groups), Value::Null) => groups.clone(),
                (Value::Array(_), _) => client.get_all(&lookup_path(&ty, &name)).await?,
                _ => {
                    return Err(GraphError::InvalidResponse {
                        request: Box::new(RequestContext {
                            method: "GET".into(),
                            path: lookup_path(&ty, &name),
                            request_id: None,
                        }),
                        status: 200,
                        reason: "the page has no `value` array".into(),
                    }
                    .into());
                }
            };
            match groups.as_slice() {
                [one] => one["id"].as_str().unwrap_or_default().to_string(),
                [] => return Err(PlanningError::NoSuchGroup { name, location }),
                many => {
                    return Err(PlanningError::AmbiguousGroup {
                        count: many.len(),
                        name,
                        location,
                    });
                }
            }
        };
        resolved.insert((ty, name), id);
    }
    Ok(resolved)
}
