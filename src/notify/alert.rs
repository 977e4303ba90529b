//! What an alert says: the drift, the failure or the invalid policy files of one tenant's
//! pass ([`DriftAlert`]), what mfactl did about it ([`Action`]), and which kind of message
//! carries it ([`Kind`]).

use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::plan::Plan;
use crate::plan::names::ObjectNames;

/// What kind of failure a cycle met: with the service's code and the resource, what
/// identifies a failure across cycles ([`fingerprint`](super::fingerprint)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FailureKind {
    /// A local setting cannot be used (the client secret, a CA file); nothing was sent.
    Config,
    /// The token endpoint refused the credential (an `AADSTS` code), or Graph answered 401.
    Auth,
    /// Graph answered 403: the application lacks a permission.
    Permission,
    /// Graph refused or failed a request (4xx, 429, 5xx, an unreadable answer).
    Graph,
    /// No answer: connection refused or dropped, TLS, timeout, deadline.
    Network,
    /// No plan could be made: a name that does not resolve, a declaration that does not fit.
    Planning,
    /// The plan would newly leave users with no usable MFA method; nothing was applied.
    Lockout,
    /// The audit log cannot be written; nothing was applied.
    Audit,
    /// Applied, but the re-read tenant does not show the declared values.
    Convergence,
    /// A stop was requested during an apply.
    Interrupted,
}

impl FailureKind {
    /// `config`, `auth`, `permission`, `graph`, `network`, `planning`, `lockout`, `audit`,
    /// `convergence`, `interrupted` (also the metrics' `reason` label).
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Config => "config",
            FailureKind::Auth => "auth",
            FailureKind::Permission => "permission",
            FailureKind::Graph => "graph",
            FailureKind::Network => "network",
            FailureKind::Planning => "planning",
            FailureKind::Lockout => "lockout",
            FailureKind::Audit => "audit",
            FailureKind::Convergence => "convergence",
            FailureKind::Interrupted => "interrupted",
        }
    }
}

/// A failure as alerts report it: what it is (`kind`, `code`, `resource`, which
/// [`fingerprint`](super::fingerprint) uses) and what people read (`error`, which it does
/// not: the text carries per-request trace ids and timestamps).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    /// What kind of failure.
    pub kind: FailureKind,
    /// The service's error code: `AADSTS7000215`, `403 Authorization_RequestDenied`, `503`.
    pub code: Option<String>,
    /// What it is about: the Graph path (without its query), the audit log, the resources
    /// that did not converge.
    pub resource: Option<String>,
    /// What went wrong, one line, as logged.
    pub error: String,
}

/// What mfactl did in the cycle, as its log line says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Action {
    /// Drift reported, nothing changed (observe mode, or enforce outside a change window).
    Observed,
    /// The changes were applied; `verified` when re-reading the tenant confirmed every one.
    Applied {
        /// Whether the re-read confirmed every change.
        verified: bool,
    },
    /// Some changes were applied, then one failed (or a stop was requested); the next
    /// cycle converges from there.
    Partial {
        /// Resources changed before the failure.
        applied: usize,
        /// Why the rest was not.
        #[serde(flatten)]
        failure: Failure,
    },
    /// mfactl could not reconcile: the tenant could not be read or written, no plan could
    /// be made, or a guard refused it.
    Failed {
        /// What went wrong.
        #[serde(flatten)]
        failure: Failure,
    },
    /// The policy files are invalid, and nothing else happened: no earlier valid
    /// declaration exists, or the tenant matches the last valid one
    /// ([`DriftAlert::declaration`] says which).
    Invalid,
    /// The drift is gone. [`Notifier::notify`](super::Notifier::notify) sends this itself
    /// when an alerted drift disappears; callers report "no drift" with an empty `changes`
    /// list.
    Resolved,
}

impl Action {
    /// `observed`, `applied`, `partial`, `failed`, `invalid` or `resolved`.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Observed => "observed",
            Action::Applied { .. } => "applied",
            Action::Partial { .. } => "partial",
            Action::Failed { .. } => "failed",
            Action::Invalid => "invalid",
            Action::Resolved => "resolved",
        }
    }

    /// The failure, for a partial or failed cycle.
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            Action::Partial { failure, .. } | Action::Failed { failure } => Some(failure),
            _ => None,
        }
    }
}

/// Policy files that did not validate at this cycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvalidDeclaration {
    /// Error diagnostics.
    pub errors: usize,
    /// The commit checked out where the policies live (`git rev-parse HEAD`), if they are in
    /// a git checkout.
    pub commit: Option<String>,
    /// Whether the cycle used the last valid declaration instead (else nothing was read).
    pub last_valid_kept: bool,
}

/// One from→to change of the method users are first prompted with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptChange {
    /// The method prompted before (`push`, `sms`, `none`, …).
    pub from: String,
    /// The method prompted after.
    pub to: String,
    /// How many users.
    pub users: usize,
}

/// What the drift's repair does to sign-in prompts (from the plan's simulation).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertImpact {
    /// Users whose first prompt changes, by from→to, largest first.
    pub prompts: Vec<PromptChange>,
    /// Users who have a usable MFA method now and would have none (a lockout).
    pub newly_without_mfa: usize,
    /// Enabled members who would lose their MFA requirement (security defaults, a policy or
    /// per-user MFA), deliberate exclusions apart.
    #[serde(default)]
    pub lose_mfa_requirement: usize,
    /// Users who would be newly blocked or asked for a strength they cannot satisfy.
    #[serde(default)]
    pub newly_blocked: usize,
}

/// One drifted property.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftChange {
    /// The resource (`authenticationMethodConfigurations/Fido2`, …).
    pub resource: String,
    /// The top-level property.
    pub property: String,
    /// The live value (`null` when absent).
    pub live: Value,
    /// The declared value (what the PATCH leaves in place).
    pub declared: Value,
}

/// What the controller found and did for one tenant in one pass.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftAlert {
    /// mfactl's name for the tenant.
    pub tenant: String,
    /// What mfactl did.
    pub action: Action,
    /// The drift: every property whose live value differs from the declared one. Empty
    /// when the tenant is in sync.
    pub changes: Vec<DriftChange>,
    /// What repairing the drift does to sign-in prompts, when the plan simulated it.
    pub impact: Option<AlertImpact>,
    /// The policy files, when they did not validate (`None`: they did).
    pub declaration: Option<InvalidDeclaration>,
    /// The CI run or commit behind this pass ([`run_link`](super::run_link)).
    pub link: Option<String>,
    /// The names of the objects the changes name by id ([`Plan::names`]).
    pub names: ObjectNames,
}

impl DriftAlert {
    /// An alert from a plan: one [`DriftChange`] per property change, in plan order; per-user
    /// changes grouped by resource, property and values (`1,200 user(s): authentication/requirements`);
    /// and the impact on sign-in prompts, apart from the changes.
    pub fn from_plan(plan: &Plan, action: Action, link: Option<String>) -> Self {
        let mut changes: Vec<DriftChange> = plan
            .changes
            .iter()
            .flat_map(|c| {
                c.properties.iter().map(|p| DriftChange {
                    resource: c.resource.clone(),
                    property: p.name.clone(),
                    live: p.before.clone(),
                    declared: p.after.clone(),
                })
            })
            .collect();
        let mut grouped: Vec<(String, String, Value, Value, usize)> = Vec::new();
        for c in &plan.user_changes {
            let leaf = c.path.rsplit('/').next().unwrap_or_default().to_string();
            for p in &c.properties {
                match grouped.iter_mut().find(|(l, n, b, a, _)| {
                    *l == leaf && *n == p.name && *b == p.before && *a == p.after
                }) {
                    Some(g) => g.4 += 1,
                    None => grouped.push((
                        leaf.clone(),
                        p.name.clone(),
                        p.before.clone(),
                        p.after.clone(),
                        1,
                    )),
                }
            }
        }
        changes.extend(
            grouped
                .into_iter()
                .map(|(leaf, property, live, declared, n)| DriftChange {
                    resource: format!(
                        "{} user(s): authentication/{leaf}",
                        crate::printer::thousands(n as u64)
                    ),
                    property,
                    live,
                    declared,
                }),
        );
        let impact = (plan.impact.is_some() || plan.coverage.is_some()).then(|| AlertImpact {
            prompts: plan
                .impact
                .iter()
                .flat_map(|i| &i.transitions)
                .map(|t| PromptChange {
                    from: t.from.clone(),
                    to: t.to.clone(),
                    users: t.users,
                })
                .collect(),
            newly_without_mfa: plan.impact.as_ref().map_or(0, |i| i.newly_without.len()),
            lose_mfa_requirement: plan.unprotected(),
            newly_blocked: plan.coverage.as_ref().map_or(0, |c| c.locked_out()),
        });
        Self {
            tenant: plan.tenant.clone(),
            action,
            changes,
            impact,
            declaration: None,
            link,
            names: plan.names.clone(),
        }
    }

    /// Whether there is something to report: drift, a failure, or invalid policy files.
    /// [`Action::Resolved`] never has.
    pub fn has_drift(&self) -> bool {
        match self.action {
            Action::Resolved => false,
            Action::Failed { .. } | Action::Partial { .. } | Action::Invalid => true,
            Action::Observed | Action::Applied { .. } => {
                !self.changes.is_empty() || self.declaration.is_some()
            }
        }
    }

    /// A sample alert, for `mfactl notify test`.
    pub fn sample() -> Self {
        Self {
            tenant: "example".into(),
            action: Action::Observed,
            changes: vec![
                DriftChange {
                    resource: "authenticationMethodConfigurations/Sms".into(),
                    property: "state".into(),
                    live: Value::String("enabled".into()),
                    declared: Value::String("disabled".into()),
                },
                DriftChange {
                    resource: "authenticationMethodConfigurations/Fido2".into(),
                    property: "includeTargets".into(),
                    live: serde_json::json!([{"id": "all_users", "targetType": "group"}]),
                    declared: serde_json::json!([{"id": "00000000-0000-0000-0000-000000000001", "targetType": "group"}]),
                },
            ],
            impact: Some(AlertImpact {
                prompts: vec![PromptChange {
                    from: "sms".into(),
                    to: "push".into(),
                    users: 12,
                }],
                newly_without_mfa: 0,
                lose_mfa_requirement: 0,
                newly_blocked: 0,
            }),
            declaration: None,
            link: None,
            names: ObjectNames::from([(
                "00000000-0000-0000-0000-000000000001".into(),
                "MFA pilot".into(),
            )]),
        }
    }
}

/// Which kind of message a payload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A new or changed drift (or the "resolved" message, when the action is
    /// [`Action::Resolved`]).
    Alert,
    /// The same drift again, after `remindAfter`.
    Reminder {
        /// When this drift was first alerted.
        first_alerted: SystemTime,
    },
    /// `mfactl notify test`.
    Test,
}

impl Kind {
    /// `alert`, `reminder`, `test` (the webhook's `event`; `resolved` comes from the action).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Alert => "alert",
            Kind::Reminder { .. } => "reminder",
            Kind::Test => "test",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alert_from_a_plan_lists_every_property_and_the_impact_apart() {
        let plan = Plan {
            format_version: 1,
            tenant: "contoso".into(),
            fingerprint: String::new(),
            reads: vec![],
            in_sync: false,
            changes: vec![crate::plan::ResourceChange {
                resource: "authenticationMethodConfigurations/Sms".into(),
                method: "PATCH".into(),
                path: "/x".into(),
                properties: vec![crate::plan::PropertyChange {
                    name: "state".into(),
                    before: Value::String("enabled".into()),
                    after: Value::String("disabled".into()),
                }],
                body: Value::Null,
            }],
            user_changes: vec![],
            skipped_users: vec![],
            overlaps: vec![],
            notes: vec![],
            impact: None,
            coverage: None,
            unmanaged: Vec::new(),
            uncomputed: Vec::new(),
            names: Default::default(),
        };
        let mut with_users = plan.clone();
        let user_change = |id: &str, before: &str| crate::kinds::per_user::UserChange {
            kind: crate::kinds::per_user::UserChangeKind::PerUserMfa,
            user_id: id.into(),
            user_principal_name: format!("{id}@x"),
            path: format!("/beta/users/{id}/authentication/requirements"),
            properties: vec![crate::plan::PropertyChange {
                name: "perUserMfaState".into(),
                before: Value::String(before.into()),
                after: Value::String("disabled".into()),
            }],
            body: Value::Null,
        };
        with_users.user_changes = vec![
            user_change("a", "enforced"),
            user_change("b", "enforced"),
            user_change("c", "enabled"),
        ];
        with_users.impact = Some(crate::simulate::impact::Impact {
            transitions: vec![crate::simulate::impact::Transition {
                from: "push".into(),
                to: "sms".into(),
                users: 1234,
            }],
            ..Default::default()
        });
        let a = DriftAlert::from_plan(&with_users, Action::Observed, None);
        let lines: Vec<(String, String, Value, Value)> = a
            .changes
            .iter()
            .map(|c| {
                (
                    c.resource.clone(),
                    c.property.clone(),
                    c.live.clone(),
                    c.declared.clone(),
                )
            })
            .collect();
        let s = |v: &str| Value::String(v.into());
        assert_eq!(
            lines[1..],
            [
                (
                    "2 user(s): authentication/requirements".into(),
                    "perUserMfaState".into(),
                    s("enforced"),
                    s("disabled")
                ),
                (
                    "1 user(s): authentication/requirements".into(),
                    "perUserMfaState".into(),
                    s("enabled"),
                    s("disabled")
                ),
            ]
        );
        assert_eq!(
            a.impact,
            Some(AlertImpact {
                prompts: vec![PromptChange {
                    from: "push".into(),
                    to: "sms".into(),
                    users: 1234,
                }],
                newly_without_mfa: 0,
                lose_mfa_requirement: 0,
                newly_blocked: 0,
            }),
            "the impact is a field of its own, not a change"
        );
        let a = DriftAlert::from_plan(&plan, Action::Observed, None);
        assert_eq!(a.changes.len(), 1);
        assert_eq!(a.changes[0].property, "state");
        assert_eq!(a.changes[0].declared, Value::String("disabled".into()));
        assert!(a.has_drift());
        assert_eq!(a.impact, None, "nothing simulated, nothing to say");
        // Who must do MFA: the members who lose it and the users locked out, counted.
        let list = |members, guests| crate::simulate::coverage::UserList {
            members,
            guests,
            first: Vec::new(),
        };
        let mut unprotecting = plan.clone();
        unprotecting.coverage = Some(crate::simulate::coverage::Coverage {
            lost: list(3, 1),
            newly_blocked: list(1, 0),
            cannot_satisfy: list(0, 2),
            ..Default::default()
        });
        let impact = DriftAlert::from_plan(&unprotecting, Action::Observed, None).impact;
        let impact = impact.unwrap_or_default();
        assert_eq!((impact.lose_mfa_requirement, impact.newly_blocked), (3, 3));
        assert_eq!(
            crate::notify::render::impact_lines(&impact),
            [
                "3 member(s) would lose their MFA requirement",
                "3 user(s) would be blocked or asked for a strength they cannot satisfy"
            ]
        );
    }
}
