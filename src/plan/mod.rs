//! Desired × live → a plan of minimal PATCHes. Pure: no I/O (the reads and writes are in
//! [`live`], [`licence`] and `crate::apply`).

pub mod guard;
pub mod licence;
pub mod live;
pub mod migration;
pub mod names;
pub mod per_user;
pub mod protection;
pub mod target;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::kinds::methods_policy::{DesiredMethod, DesiredPolicy, POLICY_PATH, after_policy};
pub use crate::kinds::security_defaults::SECURITY_DEFAULTS_PATH;
pub use crate::kinds::{DesiredState, LiveState, PlanError, PropertyChange, ResourceChange, diff};

/// Version of the JSON plan format (`-o json`, `--out`).
pub const FORMAT_VERSION: u32 = 1;

/// The plan for one tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// Tenant name from the configuration.
    pub tenant: String,
    /// Digest of the live state the plan was computed from; `apply PLANFILE` refuses to run
    /// if the tenant no longer matches it.
    pub fingerprint: String,
    /// The Graph paths read to make the plan; `apply PLANFILE` reads the same ones.
    pub reads: Vec<String>,
    /// Whether nothing needs to change.
    pub in_sync: bool,
    /// The requests (PATCH; POST and DELETE for collection items), in the order they will
    /// be sent.
    pub changes: Vec<ResourceChange>,
    /// Per-user PATCHes (legacy per-user MFA, sign-in preferences), sent after `changes`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_changes: Vec<crate::kinds::per_user::UserChange>,
    /// Declared per-user values that cannot be applied (a default method the user has not
    /// registered).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped_users: Vec<crate::kinds::per_user::SkippedUser>,
    /// Users matched by two sign-in rules that set the same property.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overlaps: Vec<crate::kinds::per_user::Overlap>,
    /// Why live values that differ from the declaration are nonetheless in sync (per-user MFA
    /// `enforced` where `enabled` is declared, for users who registered an MFA method).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Who is prompted with what before and after, when the plan can change it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impact: Option<crate::simulate::impact::Impact>,
    /// Who must do MFA before and after, when the plan can change it: who loses their
    /// requirement, who is newly blocked or locked out by a strength, who is excluded on
    /// purpose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<crate::simulate::coverage::Coverage>,
    /// Live collection items (named locations, ...) that no document declares: left as
    /// they are, or deleted by this plan when the tenant prunes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmanaged: Vec<crate::kinds::Unmanaged>,
    /// What the plan could not compute, and why (the impact, when no user's registered
    /// methods could be read).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uncomputed: Vec<Uncomputed>,
    /// The display name (a user's principal name) of each group, user, directory role,
    /// named location and authentication strength the changes name by id, by id in lower
    /// case, as read while planning; an id whose name could not be read is not in it.
    #[serde(default, skip_serializing_if = "names::ObjectNames::is_empty")]
    pub names: names::ObjectNames,
}

/// A part of a plan that could not be computed: the plan is made without it and says so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uncomputed {
    /// What is missing ([`IMPACT`], [`COVERAGE`]).
    pub what: String,
    /// Why, with the request that was refused.
    pub reason: String,
}

impl Uncomputed {
    /// The impact on sign-in prompts, which needs every user's registered methods.
    pub fn impact(reason: String) -> Self {
        Self {
            what: IMPACT.into(),
            reason,
        }
    }
}

/// [`Uncomputed::what`] for the impact on sign-in prompts.
pub const IMPACT: &str = "impact";

/// [`Uncomputed::what`] for who must do MFA before and after.
pub const COVERAGE: &str = "coverage";

impl Plan {
    /// The singletons this plan read, by path, for reading them again: only paths of
    /// known singletons, whatever a saved plan file says.
    pub fn read_paths(&self) -> Vec<&'static str> {
        LiveState::PATHS
            .iter()
            .chain(LiveState::COLLECTIONS)
            .copied()
            .filter(|p| self.reads.iter().any(|r| r == p))
            .collect()
    }

    /// Number of changes: properties set to a new value, per-user ones included.
    pub fn property_count(&self) -> usize {
        self.changes
            .iter()
            .map(|c| c.properties.len())
            .sum::<usize>()
            + self
                .user_changes
                .iter()
                .map(|c| c.properties.len())
                .sum::<usize>()
    }

    /// Users whose own settings change (legacy per-user MFA, sign-in preferences), each
    /// counted once however many of their resources change.
    pub fn user_count(&self) -> usize {
        let mut ids: Vec<&str> = self
            .user_changes
            .iter()
            .map(|c| c.user_id.as_str())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids.len()
    }

    /// What the plan changes, in the words every summary uses: `10 changes to 6 resources`,
    /// `67 changes to 60 users`, `77 changes to 6 resources and 60 users`. A change is one
    /// property of one resource or user set to a new value.
    pub fn extent(&self) -> String {
        use crate::printer::count;
        let mut to = Vec::new();
        if !self.changes.is_empty() {
            to.push(count(self.changes.len(), "resource", "resources"));
        }
        let users = self.user_count();
        if users > 0 {
            to.push(count(users, "user", "users"));
        }
        let changes = count(self.property_count(), "change", "changes");
        if to.is_empty() {
            changes
        } else {
            format!("{changes} to {}", to.join(" and "))
        }
    }

    /// Users this plan locks out: left with no usable method, newly blocked, or newly
    /// required a strength their methods cannot satisfy (counted once per reason).
    pub fn lockouts(&self) -> usize {
        self.impact.as_ref().map_or(0, |i| i.newly_without.len())
            + self.coverage.as_ref().map_or(0, |c| c.locked_out())
    }

    /// Enabled members this plan leaves without an MFA requirement they had (deliberate
    /// exclusions apart).
    pub fn unprotected(&self) -> usize {
        self.coverage.as_ref().map_or(0, |c| c.unprotected())
    }

    /// Why nobody can tell whether this plan leaves users with no usable method: it changes
    /// the authentication methods policy, and its impact could not be computed.
    pub fn impact_unknown(&self) -> Option<&str> {
        let changes_methods = self.changes.iter().any(|c| c.path.starts_with(POLICY_PATH));
        self.uncomputed
            .iter()
            .find(|u| u.what == IMPACT)
            .filter(|_| changes_methods)
            .map(|u| u.reason.as_str())
    }

    /// Why who must do MFA could not be weighed, when the plan can change it.
    pub fn coverage_unknown(&self) -> Option<&str> {
        self.uncomputed
            .iter()
            .find(|u| u.what == COVERAGE)
            .map(|u| u.reason.as_str())
    }
}

/// Compares the declaration with the live tenant.
pub fn plan(tenant: &str, desired: &DesiredState, live: &LiveState) -> Result<Plan, PlanError> {
    let (changes, unmanaged) = desired.changes(live, desired.prune)?;
    let changes = migration::stage(changes, desired, live)?;
    Ok(Plan {
        format_version: FORMAT_VERSION,
        tenant: tenant.to_string(),
        fingerprint: fingerprint(live),
        reads: live
            .resources()
            .into_iter()
            .filter(|(_, read)| read.is_some())
            .map(|(path, _)| path.to_string())
            .collect(),
        in_sync: changes.is_empty(),
        changes,
        user_changes: Vec::new(),
        skipped_users: Vec::new(),
        overlaps: Vec::new(),
        notes: Vec::new(),
        impact: None,
        coverage: None,
        unmanaged,
        uncomputed: Vec::new(),
        names: names::ObjectNames::new(),
    })
}

/// A digest of the live state, ignoring response annotations: equal digests mean nothing
/// the plan depends on has changed (every write also moves `lastModifiedDateTime`).
pub fn fingerprint(live: &LiveState) -> String {
    fn strip(v: &Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .filter(|(k, _)| !k.starts_with('@') && !k.contains("@odata."))
                    .map(|(k, v)| (k.clone(), strip(v)))
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(strip).collect()),
            other => other.clone(),
        }
    }
    let canonical = Value::Array(
        live.resources()
            .into_iter()
            .map(|(_, read)| read.as_ref().map_or(Value::Null, strip))
            .collect(),
    );
    let digest = ring::digest::digest(&ring::digest::SHA256, canonical.to_string().as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, json};

    fn live() -> LiveState {
        let mut policy = crate::msgraph::methods::default_policy();
        policy["@odata.context"] =
            json!("https://graph.microsoft.com/beta/$metadata#authenticationMethodsPolicy");
        LiveState {
            methods_policy: Some(policy),
            security_defaults: Some(
                json!({"id": "00000000-0000-0000-0000-000000000005", "isEnabled": true}),
            ),
            ..LiveState::default()
        }
    }

    fn method(key: &str, ty: &str, props: Value) -> DesiredMethod {
        DesiredMethod {
            key: key.into(),
            odata_type: format!("#microsoft.graph.{ty}"),
            properties: props.as_object().cloned().unwrap_or_default(),
        }
    }

    #[test]
    fn only_differing_declared_properties_are_patched() {
        let desired = DesiredState {
            methods_policy: Some(DesiredPolicy {
                properties: json!({"policyMigrationState": "preMigration", "systemCredentialPreferences": {"state": "enabled"}})
                    .as_object()
                    .cloned()
                    .unwrap(),
                methods: vec![
                    method("sms", "smsAuthenticationMethodConfiguration", json!({"state": "disabled"})),
                    method("fido2", "fido2AuthenticationMethodConfiguration", json!({"isAttestationEnforced": true})),
                ],
            }),
            security_defaults: Some(false),
            ..DesiredState::default()
        };
        let plan = plan("t", &desired, &live()).unwrap();
        assert!(!plan.in_sync);
        assert_eq!(plan.changes.len(), 3);
        let policy = &plan.changes[0];
        assert_eq!(policy.path, POLICY_PATH);
        assert_eq!(
            policy.body,
            json!({"systemCredentialPreferences": {"state": "enabled", "excludeTargets": [], "includeTargets": [{"id": "all_users", "targetType": "group"}]}})
        );
        let fido = &plan.changes[1];
        assert_eq!(fido.resource, "authenticationMethodConfigurations/Fido2");
        assert_eq!(
            fido.path,
            format!("{POLICY_PATH}/authenticationMethodConfigurations/fido2")
        );
        assert_eq!(
            fido.body,
            json!({"@odata.type": "#microsoft.graph.fido2AuthenticationMethodConfiguration", "isAttestationEnforced": true})
        );
        assert_eq!(plan.changes[2].body, json!({"isEnabled": false}));
    }

    #[test]
    fn a_missing_configuration_is_an_error_and_an_empty_plan_is_in_sync() {
        let desired = DesiredState {
            methods_policy: Some(DesiredPolicy {
                properties: Map::new(),
                methods: vec![method(
                    "5f3e6b36-8a2a-4b1e-9d1c-0a4f3c1b2d3e",
                    "externalAuthenticationMethodConfiguration",
                    json!({"state": "enabled"}),
                )],
            }),
            security_defaults: None,
            ..DesiredState::default()
        };
        assert!(matches!(
            plan("t", &desired, &live()),
            Err(PlanError::MissingConfiguration { .. })
        ));
        let empty = plan("t", &DesiredState::default(), &live()).unwrap();
        assert!(empty.in_sync);
    }

    #[test]
    fn fingerprint_ignores_annotations_but_not_values() {
        let a = live();
        let mut b = live();
        b.methods_policy.as_mut().unwrap()["@odata.context"] = json!("elsewhere");
        assert_eq!(fingerprint(&a), fingerprint(&b));
        b.security_defaults = Some(json!({"isEnabled": false}));
        assert_ne!(fingerprint(&a), fingerprint(&b));
    }
}
