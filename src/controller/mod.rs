//! `mfactl reconcile`: one reconcile cycle per tenant, and the loop that runs cycles when the
//! policy files change, every interval, and again after an error with backoff.
//!
//! A cycle has one shape (as kube-rs controllers do): read the declaration, read the tenant,
//! plan, then report (observe) or apply and verify (enforce). An invalid declaration is never
//! applied, not even in part: the cycle keeps the last valid one and reports the diagnostics.

pub mod metrics;
pub mod serve;
pub mod watch;

use crate::plan::guard::Allowance;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::apply::{self, AuditLog};
use crate::config::{Env, TenantSettings};
use crate::graph::{GraphClient, GraphError};
use crate::kinds::hardware_oath::seed::SeedKeys;
use crate::notify::{Action, DriftAlert, Failure, FailureKind, InvalidDeclaration};
use crate::plan::Plan;
use crate::plan::live::{self, PlanningError};
use crate::policy::{self, PolicySet, Severity};
use crate::printer::{Level, Line, Progress};

pub use metrics::Metrics;

/// What a cycle may do about drift (defined with the tenant's settings).
pub use crate::config::Mode;

/// How a cycle ended.
#[derive(Debug)]
pub enum CycleOutcome {
    /// The tenant matches the declaration.
    InSync,
    /// Drift was found and, in observe mode, left as it is.
    Observed(Plan),
    /// Drift was applied and the re-read tenant matches.
    Applied(Plan),
    /// Some changes were applied and some were not.
    Partial {
        /// The plan that was being applied.
        plan: Plan,
        /// Resources changed.
        applied: usize,
        /// The error that stopped the apply; `None` when a stop was requested.
        error: Option<GraphError>,
    },
    /// The policy files are invalid and no earlier valid declaration exists.
    Invalid {
        /// How many error diagnostics.
        errors: usize,
    },
    /// The tenant could not be read or written.
    Failed(CycleError),
}

/// Why a cycle failed.
#[derive(Debug, thiserror::Error)]
pub enum CycleError {
    /// Graph or the token endpoint failed.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// No plan could be made.
    #[error(transparent)]
    Planning(#[from] PlanningError),
    /// The audit log cannot be written.
    #[error(transparent)]
    Audit(#[from] apply::AuditError),
    /// The tenant did not converge after an apply.
    #[error("applied, but the tenant did not converge: {0}")]
    NotConverged(String),
    /// The plan would leave members without their MFA requirement or lock users out
    /// ([`Plan::refusal`]); enforce mode does not apply it.
    #[error("refused: {0}; nothing was applied")]
    Unsafe(String),
}

impl CycleError {
    /// What the failure is, for alerts and metrics: its kind, the service's code and the
    /// resource, never per-request identifiers.
    pub fn failure(&self) -> Failure {
        let (kind, code, resource) = match self {
            CycleError::Graph(e) | CycleError::Planning(PlanningError::Graph(e)) => {
                graph_failure(e)
            }
            CycleError::Planning(PlanningError::Plan(e)) => {
                (FailureKind::Planning, None, Some(e.to_string()))
            }
            // The names and where they are written: the same until the files or the
            // directory change.
            CycleError::Planning(e @ PlanningError::Unresolved { .. }) => (
                FailureKind::Planning,
                Some(crate::policy::codes::UNRESOLVED_NAME.to_string()),
                Some(e.to_string()),
            ),
            CycleError::Planning(e @ PlanningError::Holders { diagnostics }) => (
                FailureKind::Planning,
                diagnostics.first().map(|d| d.code.to_string()),
                Some(e.to_string()),
            ),
            CycleError::Planning(e @ PlanningError::Seed(_)) => {
                (FailureKind::Planning, None, Some(e.to_string()))
            }
            CycleError::Audit(e) => (FailureKind::Audit, None, Some(e.path.display().to_string())),
            CycleError::NotConverged(missing) => {
                (FailureKind::Convergence, None, Some(missing.clone()))
            }
            CycleError::Unsafe(_) => (FailureKind::Lockout, None, None),
        };
        Failure {
            kind,
            code,
            resource,
            error: self.to_string(),
        }
    }
}

/// A Graph or token-endpoint failure's kind, code and resource (the path without its query).
fn graph_failure(e: &GraphError) -> (FailureKind, Option<String>, Option<String>) {
    let resource = e.request().map(|r| {
        r.path
            .split(['?', '#'])
            .next()
            .unwrap_or_default()
            .to_string()
    });
    let with_status = |status: u16, code: &str| {
        Some(if code.is_empty() {
            status.to_string()
        } else {
            format!("{status} {code}")
        })
    };
    let (kind, code) = match e {
        GraphError::Secret { .. } | GraphError::CaFile { .. } | GraphError::Setup { .. } => {
            (FailureKind::Config, None)
        }
        GraphError::Authentication { status: None, .. } => (FailureKind::Network, None),
        GraphError::Authentication { status, code, .. } => (
            FailureKind::Auth,
            code.clone().or_else(|| status.map(|s| s.to_string())),
        ),
        GraphError::Unauthorized { code, .. } => (FailureKind::Auth, with_status(401, code)),
        GraphError::Forbidden { code, .. } => (FailureKind::Permission, with_status(403, code)),
        GraphError::NotFound { code, .. } => (FailureKind::Graph, with_status(404, code)),
        GraphError::BadRequest { code, .. } => (FailureKind::Graph, with_status(400, code)),
        GraphError::Rejected { status, code, .. } | GraphError::Server { status, code, .. } => {
            (FailureKind::Graph, with_status(*status, code))
        }
        GraphError::Throttled { .. } => (FailureKind::Graph, Some("429".into())),
        GraphError::Network { .. } => (FailureKind::Network, None),
        GraphError::Deadline {
            last: Some(last), ..
        } => {
            let (kind, code, _) = graph_failure(last);
            (kind, code)
        }
        GraphError::Deadline { last: None, .. } => (FailureKind::Network, None),
        GraphError::InvalidBatch { .. } => (FailureKind::Graph, Some("invalidBatch".into())),
        GraphError::InvalidResponse { status, .. } => {
            (FailureKind::Graph, with_status(*status, "invalidResponse"))
        }
    };
    (kind, code, resource)
}

impl CycleOutcome {
    /// Whether the cycle ended without an error (drift observed counts as success).
    pub fn succeeded(&self) -> bool {
        matches!(
            self,
            CycleOutcome::InSync | CycleOutcome::Observed(_) | CycleOutcome::Applied(_)
        )
    }

    /// The plan the cycle computed, if it got that far.
    pub fn plan(&self) -> Option<&Plan> {
        match self {
            CycleOutcome::Observed(p)
            | CycleOutcome::Applied(p)
            | CycleOutcome::Partial { plan: p, .. } => Some(p),
            _ => None,
        }
    }
}

/// One tenant under control.
pub struct Controller {
    tenant: TenantSettings,
    env: Env,
    mode: Mode,
    audit_log: PathBuf,
    client: Option<GraphClient>,
    /// The HTTP client to build `client` on, when a fleet shares one.
    http: Option<reqwest::Client>,
    last_valid: Option<PolicySet>,
    /// The policy files at the last cycle, when they were invalid.
    invalid: Option<InvalidDeclaration>,
    /// The commit the policy files came from at the last cycle.
    commit: Option<String>,
    /// Whether the last cycle observed only because it ran outside every change window.
    outside_window: bool,
    metrics: Arc<Metrics>,
    /// What the guard allows in enforce mode.
    allow: Allowance,
}

impl Controller {
    /// A controller for one tenant. `mode` is the requested mode (`--mode`, else the
    /// tenant's `mode:`); the tenant's change windows still turn enforce into observe
    /// outside them ([`Controller::mode_at`]).
    pub fn new(
        tenant: TenantSettings,
        env: Env,
        mode: Mode,
        audit_log: PathBuf,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            tenant,
            env,
            mode,
            audit_log,
            client: None,
            http: None,
            last_valid: None,
            invalid: None,
            commit: None,
            outside_window: false,
            metrics,
            allow: Allowance::default(),
        }
    }

    /// Lets enforce mode apply plans that leave up to `allow` members unprotected or users
    /// locked out (`--allow-unprotected`, `--allow-lockout`).
    pub fn with_allowance(mut self, allow: Allowance) -> Self {
        self.allow = allow;
        self
    }

    /// Builds the tenant's Graph client on `http` (shared by a fleet's controllers in one
    /// runtime: [`GraphClient::connect_with`]).
    pub fn with_http(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// The tenant's settings.
    pub fn tenant(&self) -> &TenantSettings {
        &self.tenant
    }

    /// The mode a cycle starting at `now` runs in: the requested mode, except that enforce
    /// becomes observe outside every change window of the tenant.
    pub fn mode_at(&self, now: SystemTime) -> Mode {
        self.tenant.control.mode_at(self.mode, now)
    }

    /// Whether the last cycle was an enforce cycle that observed only, because it started
    /// outside every change window.
    pub fn outside_window(&self) -> bool {
        self.outside_window
    }

    /// The policy files and directories to watch.
    pub fn policy_paths(&self) -> &[PathBuf] {
        &self.tenant.policies
    }

    /// Reads the declaration: the current files if they are valid, else the last valid ones.
    fn declaration(&mut self, report: &mut dyn FnMut(Line)) -> Result<PolicySet, usize> {
        let outcome =
            policy::load_excluding(&self.tenant.policies, self.tenant.config_file.as_slice());
        let errors = outcome
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count();
        for d in &outcome.diagnostics {
            report(d.line(d.to_string()));
        }
        let valid = outcome.set.is_some() && errors == 0;
        self.commit = self
            .tenant
            .policies
            .first()
            .and_then(|p| apply::git_commit(p));
        self.invalid = (!valid).then(|| InvalidDeclaration {
            errors: errors.max(1),
            commit: self.commit.clone(),
            last_valid_kept: self.last_valid.is_some(),
        });
        match outcome.set {
            Some(set) if valid => {
                self.last_valid = Some(set.clone());
                Ok(set)
            }
            _ => match &self.last_valid {
                Some(set) => {
                    report(Line {
                        level: Level::Warn,
                        message: format!(
                            "{}: the policy files have {errors} error(s); keeping the last valid declaration",
                            self.tenant.name
                        ),
                        fields: vec![("errors", errors.into())],
                    });
                    Ok(set.clone())
                }
                None => Err(errors.max(1)),
            },
        }
    }

    /// The policy files at the last cycle, when they were invalid.
    pub fn invalid_declaration(&self) -> Option<&InvalidDeclaration> {
        self.invalid.as_ref()
    }

    /// One cycle: declaration, tenant, plan, then observe or apply. `stop` is only read
    /// between two PATCHes; a cycle that started applying finishes its plan.
    pub async fn cycle(&mut self, stop: &AtomicBool, report: &mut dyn FnMut(Line)) -> CycleOutcome {
        let started = Instant::now();
        let outcome = self.run_cycle(stop, report).await;
        let declaration = match &self.invalid {
            Some(d) => metrics::Declaration::Invalid {
                errors: d.errors,
                commit: d.commit.clone(),
            },
            None => metrics::Declaration::Valid {
                commit: self.commit.clone(),
            },
        };
        self.metrics.record_cycle(
            &self.tenant.name,
            &outcome,
            &declaration,
            started.elapsed(),
            now_secs(),
        );
        outcome
    }

    async fn run_cycle(&mut self, stop: &AtomicBool, report: &mut dyn FnMut(Line)) -> CycleOutcome {
        let mode = self.mode_at(SystemTime::now());
        self.outside_window = mode != self.mode;
        let set = match self.declaration(report) {
            Ok(set) => set,
            Err(errors) => return CycleOutcome::Invalid { errors },
        };
        // One client per tenant for the controller's life: one token cache, one pacer.
        let client = match &mut self.client {
            Some(c) => &*c,
            slot @ None => match match &self.http {
                Some(http) => GraphClient::connect_with(&self.tenant, &self.env, http.clone()),
                None => GraphClient::connect(&self.tenant, &self.env),
            } {
                Ok(c) => &*slot.insert(c),
                Err(e) => return CycleOutcome::Failed(e.into()),
            },
        };
        let before = client.requests_sent();
        let plan = match live::compute(client, &self.tenant, &set, &Progress::hidden()).await {
            Ok(p) => p,
            Err(e) => return CycleOutcome::Failed(e.into()),
        };
        if plan.in_sync {
            self.metrics
                .record_requests(&self.tenant.name, client.requests_sent() - before);
            return CycleOutcome::InSync;
        }
        if mode == Mode::Observe {
            self.metrics
                .record_requests(&self.tenant.name, client.requests_sent() - before);
            return CycleOutcome::Observed(plan);
        }
        if let Some(why) = plan.refusal(self.allow) {
            self.metrics
                .record_requests(&self.tenant.name, client.requests_sent() - before);
            return CycleOutcome::Failed(CycleError::Unsafe(why));
        }
        let keys =
            match SeedKeys::for_changes(self.tenant.hardware_oath_seed.as_ref(), &plan.changes) {
                Ok(k) => k,
                Err(e) => {
                    return CycleOutcome::Failed(CycleError::Planning(PlanningError::Seed(e)));
                }
            };
        let mut audit = match AuditLog::open(&self.audit_log, &self.tenant.policies) {
            Ok(a) => a,
            Err(e) => return CycleOutcome::Failed(e.into()),
        };
        let outcome =
            match apply::apply(client, &plan, &keys, &mut audit, stop, &Progress::hidden()).await {
                Ok(o) => o,
                Err(e) => return CycleOutcome::Failed(e.into()),
            };
        self.metrics
            .record_applied(&self.tenant.name, outcome.applied_count());
        apply::migration::report(&self.tenant.name, &outcome);
        if outcome.incomplete() {
            self.metrics
                .record_requests(&self.tenant.name, client.requests_sent() - before);
            return CycleOutcome::Partial {
                applied: outcome.applied_count(),
                error: outcome.first_error().cloned(),
                plan,
            };
        }
        let missing = match apply::verify(client, &plan, &outcome).await {
            Ok(m) => m,
            Err(e) => return CycleOutcome::Failed(e.into()),
        };
        self.metrics
            .record_requests(&self.tenant.name, client.requests_sent() - before);
        if missing.is_empty() {
            CycleOutcome::Applied(plan)
        } else {
            CycleOutcome::Failed(CycleError::NotConverged(missing.join(", ")))
        }
    }
}

/// The failure that stopped a partial apply.
pub fn partial_failure(error: Option<&GraphError>) -> Failure {
    match error {
        Some(e) => {
            let (kind, code, resource) = graph_failure(e);
            Failure {
                kind,
                code,
                resource,
                error: e.to_string(),
            }
        }
        None => Failure {
            kind: FailureKind::Interrupted,
            code: None,
            resource: None,
            error: "a stop was requested".into(),
        },
    }
}

impl Controller {
    /// What to tell people about a cycle: what it did (the action its log line says), its
    /// drift, and, apart, the policy files when they are invalid, so that someone fixes
    /// them even when the last valid declaration was in sync or applied.
    pub fn alert(&self, outcome: &CycleOutcome, link: Option<String>) -> DriftAlert {
        let tenant = self.tenant.name.clone();
        let bare = |action: Action| DriftAlert {
            tenant: tenant.clone(),
            action,
            changes: Vec::new(),
            impact: None,
            declaration: None,
            link: link.clone(),
            names: Default::default(),
        };
        let mut alert = match outcome {
            CycleOutcome::InSync if self.invalid.is_some() => bare(Action::Invalid),
            CycleOutcome::InSync => bare(Action::Observed),
            CycleOutcome::Observed(plan) => {
                DriftAlert::from_plan(plan, Action::Observed, link.clone())
            }
            CycleOutcome::Applied(plan) => {
                DriftAlert::from_plan(plan, Action::Applied { verified: true }, link.clone())
            }
            CycleOutcome::Partial {
                plan,
                applied,
                error,
            } => DriftAlert::from_plan(
                plan,
                Action::Partial {
                    applied: *applied,
                    failure: partial_failure(error.as_ref()),
                },
                link.clone(),
            ),
            CycleOutcome::Invalid { .. } => bare(Action::Invalid),
            CycleOutcome::Failed(e) => bare(Action::Failed {
                failure: e.failure(),
            }),
        };
        alert.declaration = self.invalid.clone();
        alert
    }
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The wait before retrying after a failed cycle: `base`, doubled per consecutive failure,
/// at most `cap`.
pub fn retry_delay(base: Duration, consecutive_failures: u32, cap: Duration) -> Duration {
    let factor = 2u32.saturating_pow(consecutive_failures.saturating_sub(1).min(16));
    base.saturating_mul(factor).min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_doubles_up_to_the_cap() {
        let base = Duration::from_secs(60);
        let cap = Duration::from_secs(900);
        assert_eq!(retry_delay(base, 1, cap), Duration::from_secs(60));
        assert_eq!(retry_delay(base, 2, cap), Duration::from_secs(120));
        assert_eq!(retry_delay(base, 3, cap), Duration::from_secs(240));
        assert_eq!(retry_delay(base, 10, cap), cap);
    }
}
