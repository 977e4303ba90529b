//! What only the tenant can tell about the holders of declared tokens, checked when a plan
//! is made, before anything is sent (FACTS-CA item 46): a guest cannot hold a token
//! (MFA046), nobody may hold more than five OATH tokens or authenticator apps (MFA047), and
//! the Hardware OATH method configuration, as the plan leaves it, must be enabled for every
//! holder (MFA048).

use std::collections::{BTreeMap, HashMap, HashSet};

use futures_util::future::try_join_all;
use serde_json::Value;

use super::{DesiredToken, live_holder};
use crate::graph::{GraphClient, GraphError};
use crate::source::diagnostic::{Diagnostic, Severity, codes};

/// "Users can have a combination of up to five OATH hardware tokens or authenticator
/// applications" (FACTS-CA item 46).
pub const MAX_OATH_METHODS: usize = 5;

/// The method configuration's id in the authentication methods policy.
const CONFIGURATION: &str = "hardwareOath";
const SOFTWARE_OATH: &str = "#microsoft.graph.softwareOathAuthenticationMethod";

/// What was read of one holder.
struct Holder {
    guest: bool,
    software_oath: usize,
}

/// Every problem of the holders of `tokens` (names resolved), weighed against the live
/// inventory `live`, the methods policy as the plan leaves it (`policy`, `Null` when not
/// read) and whether the tenant prunes undeclared tokens. Each holder is read once: their
/// user type and their registered methods; the groups the configuration targets are read
/// only when it does not target everyone.
pub async fn check(
    client: &GraphClient,
    tokens: &[DesiredToken],
    live: &[Value],
    policy: &Value,
    prune: bool,
) -> Result<Vec<Diagnostic>, GraphError> {
    let mut by_holder: BTreeMap<&str, Vec<&DesiredToken>> = BTreeMap::new();
    for t in tokens {
        if let Some(h) = &t.holder {
            by_holder.entry(h).or_default().push(t);
        }
    }
    if by_holder.is_empty() {
        return Ok(Vec::new());
    }
    let reads = by_holder.keys().map(|id| read_holder(client, id));
    let read: Vec<Holder> = try_join_all(reads).await?;
    let targeted = targeted(client, policy, by_holder.keys().copied()).await?;
    let declared: HashSet<&str> = tokens
        .iter()
        .map(|t| t.declared.serial_number.as_str())
        .collect();
    let mut out = Vec::new();
    for ((id, held), holder) in by_holder.iter().zip(&read) {
        let kept = if prune {
            0
        } else {
            live.iter()
                .filter(|l| live_holder(l).as_deref() == Some(*id))
                .filter(|l| !declared.contains(l["serialNumber"].as_str().unwrap_or_default()))
                .count()
        };
        let total = held.len() + kept + holder.software_oath;
        for t in held {
            let name = t.declared.assigned_to.as_deref().unwrap_or(id);
            if holder.guest {
                out.push(diagnostic(
                    codes::OATH_GUEST,
                    t,
                    format!(
                        "{name} is a guest; hardware OATH tokens can't be assigned to guest users"
                    ),
                    "assign the token to a member of the tenant, or leave `assignedTo` out",
                ));
            }
            if let Some(Err(reason)) = targeted.get(*id) {
                out.push(diagnostic(
                    codes::OATH_METHOD_OFF,
                    t,
                    format!("token {} is assigned to {name}, but {reason}", t.declared.serial_number),
                    "enable `hardwareOath` in the AuthenticationMethodsPolicy for the holders (its includeTargets), or leave `assignedTo` out",
                ));
            }
        }
        if total > MAX_OATH_METHODS {
            out.push(diagnostic(
                codes::OATH_TOO_MANY,
                held[0],
                format!(
                    "{} would hold {total} OATH methods ({} declared token(s), {kept} other token(s), {} authenticator app(s)); a user can have at most {MAX_OATH_METHODS}",
                    held[0].declared.assigned_to.as_deref().unwrap_or(id),
                    held.len(),
                    holder.software_oath
                ),
                "assign some of these tokens to someone else",
            ));
        }
    }
    Ok(out)
}

fn diagnostic(code: &'static str, t: &DesiredToken, message: String, help: &str) -> Diagnostic {
    Diagnostic {
        code,
        severity: Severity::Error,
        location: t.declared.assignee_at.clone(),
        message,
        help: Some(help.into()),
    }
}

/// Reads a holder's user type and counts their software OATH methods.
async fn read_holder(client: &GraphClient, id: &str) -> Result<Holder, GraphError> {
    let user = client
        .get(&format!("/v1.0/users/{id}?$select=id,userType"))
        .await?;
    let methods = client
        .get_all(&format!("/beta/users/{id}/authentication/methods"))
        .await?;
    Ok(Holder {
        guest: user["userType"]
            .as_str()
            .is_some_and(|t| t.eq_ignore_ascii_case("guest")),
        software_oath: methods
            .iter()
            .filter(|m| m["@odata.type"].as_str() == Some(SOFTWARE_OATH))
            .count(),
    })
}

/// For each holder, `Ok` when the Hardware OATH configuration of `policy` is enabled for
/// them, or why not.
async fn targeted<'a>(
    client: &GraphClient,
    policy: &Value,
    holders: impl Iterator<Item = &'a str>,
) -> Result<HashMap<&'a str, Result<(), String>>, GraphError> {
    let holders: Vec<&str> = holders.collect();
    let configuration = policy["authenticationMethodConfigurations"]
        .as_array()
        .and_then(|c| {
            c.iter().find(|m| {
                m["id"]
                    .as_str()
                    .is_some_and(|id| id.eq_ignore_ascii_case(CONFIGURATION))
            })
        });
    let Some(configuration) = configuration.filter(|c| c["state"] == "enabled") else {
        let reason = "the Hardware OATH method configuration (hardwareOath) is disabled";
        return Ok(holders
            .into_iter()
            .map(|h| (h, Err(reason.into())))
            .collect());
    };
    let ids = |list: &str| -> Vec<String> {
        configuration[list]
            .as_array()
            .map(|targets| {
                targets
                    .iter()
                    .filter_map(|t| t["id"].as_str().map(str::to_ascii_lowercase))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (include, exclude) = (ids("includeTargets"), ids("excludeTargets"));
    let groups: Vec<&String> = include
        .iter()
        .chain(&exclude)
        .filter(|id| *id != "all_users" && !holders.contains(&id.as_str()))
        .collect();
    let members = try_join_all(groups.iter().map(|g| async move {
        client
            .get_all(&format!("/v1.0/groups/{g}/transitiveMembers?$select=id"))
            .await
            .map(|m| {
                let ids: HashSet<String> = m
                    .iter()
                    .filter_map(|u| u["id"].as_str().map(str::to_ascii_lowercase))
                    .collect();
                (g.as_str(), ids)
            })
    }))
    .await?;
    let members: HashMap<&str, HashSet<String>> = members.into_iter().collect();
    let within = |targets: &[String], holder: &str| {
        targets.iter().any(|t| {
            t == "all_users"
                || t == holder
                || members.get(t.as_str()).is_some_and(|m| m.contains(holder))
        })
    };
    Ok(holders
        .into_iter()
        .map(|h| {
            let verdict = if within(&exclude, h) {
                Err("the Hardware OATH method configuration (hardwareOath) excludes them".into())
            } else if within(&include, h) {
                Ok(())
            } else {
                Err(
                    "the Hardware OATH method configuration (hardwareOath) does not target them"
                        .into(),
                )
            };
            (h, verdict)
        })
        .collect())
}
