//! Who must do MFA before and after a plan, from what planning read: security defaults, the
//! Conditional Access policies and the authentication strengths, live and as the plan's
//! changes leave them. Pure: the directory reads are in [`super::live`].

use serde_json::{Value, json};

use super::migration::created;
use super::{LiveState, ResourceChange, SECURITY_DEFAULTS_PATH};
use crate::kinds::authentication_strength::STRENGTHS_PATH;
use crate::kinds::conditional_access::POLICIES_PATH;
use crate::simulate::requirement::AccessPolicies;

/// The Graph paths a coverage reads besides the directory.
pub const READS: &[&str] = &[SECURITY_DEFAULTS_PATH, POLICIES_PATH, STRENGTHS_PATH];

/// Whether `change` can change who must do MFA: security defaults, a policy or a strength.
pub fn changes_protection(change: &ResourceChange) -> bool {
    READS.iter().any(|path| change.path.starts_with(path))
}

/// The items of the collection at `path` once `changes` are applied, as Graph would hold
/// them: a create added (its id the `{created:…}` placeholder the plan's later changes and
/// references use), a PATCH merged at the top level (nested objects are sent whole), a
/// delete removed, new combinations set.
pub fn after_items(path: &str, live: &[Value], changes: &[ResourceChange]) -> Vec<Value> {
    let mut items = live.to_vec();
    for change in changes {
        let Some(rest) = change.path.strip_prefix(path) else {
            continue;
        };
        let rest = rest.trim_start_matches('/');
        // A `{created:…}` placeholder holds a `/` of its own.
        let id_end = if rest.starts_with("{created:") {
            rest.find('}').map_or(rest.len(), |i| i + 1)
        } else {
            rest.find('/').unwrap_or(rest.len())
        };
        let (id, action) = rest.split_at(id_end);
        let action = action.trim_start_matches('/');
        let at = items.iter().position(|i| i["id"].as_str() == Some(id));
        match (change.method.as_str(), at, action) {
            ("POST", _, "") if id.is_empty() => {
                let mut item = change.body.clone();
                item["id"] = json!(created(&change.resource));
                items.push(item);
            }
            ("POST", Some(at), "updateAllowedCombinations") => {
                items[at]["allowedCombinations"] = change.body["allowedCombinations"].clone();
            }
            ("PATCH", Some(at), "") => {
                if let (Some(item), Some(body)) =
                    (items[at].as_object_mut(), change.body.as_object())
                {
                    for (k, v) in body {
                        item.insert(k.clone(), v.clone());
                    }
                }
            }
            ("DELETE", Some(at), "") => {
                items.remove(at);
            }
            _ => {}
        }
    }
    items
}

/// The compiled policies before and after `changes`; `None` when security defaults, the
/// policies or the strengths were not read (a failed read is never an empty tenant).
pub fn access(
    live: &LiveState,
    changes: &[ResourceChange],
) -> Option<(AccessPolicies, AccessPolicies)> {
    let on = |sd: &Value| sd["isEnabled"].as_bool();
    let before_sd = live.security_defaults.as_ref().and_then(on)?;
    let after_sd = changes
        .iter()
        .rev()
        .find(|c| c.path == SECURITY_DEFAULTS_PATH)
        .and_then(|c| on(&c.body))
        .unwrap_or(before_sd);
    let policies = live.conditional_access_policies.as_deref()?;
    let strengths = live.authentication_strengths.as_deref()?;
    let before = AccessPolicies::new(before_sd, policies, strengths);
    let after = AccessPolicies::new(
        after_sd,
        &after_items(POLICIES_PATH, policies, changes),
        &after_items(STRENGTHS_PATH, strengths, changes),
    );
    Some((before, after))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::PropertyChange;

    fn change(method: &str, resource: &str, path: String, body: Value) -> ResourceChange {
        ResourceChange {
            resource: resource.into(),
            method: method.into(),
            path,
            properties: Vec::<PropertyChange>::new(),
            body,
        }
    }

    #[test]
    fn the_plan_is_played_onto_the_live_items_and_security_defaults() {
        let live = LiveState {
            security_defaults: Some(json!({"isEnabled": true})),
            conditional_access_policies: Some(vec![
                json!({"id": "p1", "displayName": "Old", "state": "enabled", "conditions": {"users": {"includeUsers": ["All"]}}}),
                json!({"id": "p2", "displayName": "Gone", "state": "disabled"}),
            ]),
            authentication_strengths: Some(vec![
                json!({"id": "s1", "allowedCombinations": ["fido2"]}),
            ]),
            ..LiveState::default()
        };
        let new = "conditionalAccessPolicies/New";
        let changes = vec![
            change(
                "POST",
                new,
                POLICIES_PATH.into(),
                json!({"displayName": "New", "state": "enabledForReportingButNotEnforced"}),
            ),
            change(
                "PATCH",
                "x",
                format!("{POLICIES_PATH}/p1"),
                json!({"state": "disabled"}),
            ),
            change("DELETE", "x", format!("{POLICIES_PATH}/p2"), Value::Null),
            change(
                "PATCH",
                "sd",
                SECURITY_DEFAULTS_PATH.into(),
                json!({"isEnabled": false}),
            ),
            change(
                "PATCH",
                new,
                format!("{POLICIES_PATH}/{}", created(new)),
                json!({"state": "enabled"}),
            ),
            change(
                "POST",
                "s",
                format!("{STRENGTHS_PATH}/s1/updateAllowedCombinations"),
                json!({"allowedCombinations": ["sms"]}),
            ),
        ];
        let policies = after_items(
            POLICIES_PATH,
            live.conditional_access_policies
                .as_deref()
                .unwrap_or_default(),
            &changes,
        );
        assert_eq!(policies.len(), 2);
        assert_eq!(policies[0]["state"], "disabled");
        assert_eq!(
            policies[0]["conditions"]["users"]["includeUsers"],
            json!(["All"])
        );
        assert_eq!(
            (policies[1]["id"].as_str(), policies[1]["state"].as_str()),
            (Some(created(new).as_str()), Some("enabled"))
        );
        let strengths = after_items(
            STRENGTHS_PATH,
            live.authentication_strengths.as_deref().unwrap_or_default(),
            &changes,
        );
        assert_eq!(strengths[0]["allowedCombinations"], json!(["sms"]));
        assert!(access(&live, &changes).is_some());
        let unread = LiveState {
            authentication_strengths: None,
            ..live
        };
        assert!(access(&unread, &changes).is_none());
    }
}
