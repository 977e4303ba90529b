//! Prometheus metrics for the controller, rendered in the text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use super::CycleOutcome;

/// Upper bounds of the reconcile-duration histogram buckets, in seconds.
const BUCKETS: &[f64] = &[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];

#[derive(Debug, Default)]
struct TenantMetrics {
    /// Histogram bucket counts (cumulative when rendered), sum and count.
    buckets: Vec<u64>,
    duration_sum: f64,
    cycles: u64,
    /// Failed cycles by reason.
    failures: BTreeMap<&'static str, u64>,
    /// The policy files at the last cycle.
    declaration: Option<Declaration>,
    /// Drifted properties per resource, from the last cycle that planned.
    drift: BTreeMap<String, usize>,
    changes_applied: u64,
    graph_requests: u64,
    last_success: Option<f64>,
}

/// The policy files a cycle read: valid or not, and the commit they came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Declaration {
    /// They validated.
    Valid {
        /// `git rev-parse HEAD` where they live, if in a git checkout.
        commit: Option<String>,
    },
    /// They did not; the cycle used the last valid declaration, or did nothing.
    Invalid {
        /// Error diagnostics.
        errors: usize,
        /// `git rev-parse HEAD` where they live, if in a git checkout.
        commit: Option<String>,
    },
}

/// The `reason` label of `mfactl_reconcile_failures_total`: `invalid` when the policy
/// files are invalid (whatever the tenant did), `partial`, the failure's kind, or `None`
/// for a successful cycle.
fn failure_reason(outcome: &CycleOutcome, declaration: &Declaration) -> Option<&'static str> {
    if matches!(declaration, Declaration::Invalid { .. }) {
        return Some("invalid");
    }
    match outcome {
        CycleOutcome::InSync | CycleOutcome::Observed(_) | CycleOutcome::Applied(_) => None,
        CycleOutcome::Partial { .. } => Some("partial"),
        CycleOutcome::Invalid { .. } => Some("invalid"),
        CycleOutcome::Failed(e) => Some(e.failure().kind.as_str()),
    }
}

/// Counters and gauges of every tenant; shared by the loop and the HTTP endpoint.
#[derive(Debug, Default)]
pub struct Metrics {
    tenants: Mutex<BTreeMap<String, TenantMetrics>>,
    alerts: Mutex<BTreeMap<(String, bool), u64>>,
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    fn with<R>(&self, tenant: &str, f: impl FnOnce(&mut TenantMetrics) -> R) -> R {
        let mut all = self.tenants.lock().unwrap_or_else(|e| e.into_inner());
        let t = all
            .entry(tenant.to_string())
            .or_insert_with(|| TenantMetrics {
                buckets: vec![0; BUCKETS.len()],
                ..TenantMetrics::default()
            });
        f(t)
    }

    /// Records a finished cycle: its duration, drift, the policy files' validity, and the
    /// success time. A cycle whose policy files are invalid is a failure (reason
    /// `invalid`), even when the last valid declaration was in sync or applied.
    pub fn record_cycle(
        &self,
        tenant: &str,
        outcome: &CycleOutcome,
        declaration: &Declaration,
        took: Duration,
        now: f64,
    ) {
        let secs = took.as_secs_f64();
        self.with(tenant, |t| {
            t.cycles += 1;
            t.duration_sum += secs;
            if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
                t.buckets[i] += 1;
            }
            match failure_reason(outcome, declaration) {
                None => t.last_success = Some(now),
                Some(reason) => *t.failures.entry(reason).or_default() += 1,
            }
            t.declaration = Some(declaration.clone());
            match outcome {
                CycleOutcome::InSync => t.drift.clear(),
                CycleOutcome::Observed(plan) | CycleOutcome::Partial { plan, .. } => {
                    t.drift = plan
                        .changes
                        .iter()
                        .map(|c| (c.resource.clone(), c.properties.len()))
                        .collect();
                }
                CycleOutcome::Applied(_) => t.drift.clear(),
                CycleOutcome::Invalid { .. } | CycleOutcome::Failed(_) => {}
            }
        });
    }

    /// The tenants whose policy files were invalid at their last cycle, with the error count
    /// and the commit.
    pub fn invalid_declarations(&self) -> Vec<(String, usize, Option<String>)> {
        let all = self.tenants.lock().unwrap_or_else(|e| e.into_inner());
        all.iter()
            .filter_map(|(name, t)| match &t.declaration {
                Some(Declaration::Invalid { errors, commit }) => {
                    Some((name.clone(), *errors, commit.clone()))
                }
                _ => None,
            })
            .collect()
    }

    /// Counts Graph requests a cycle sent.
    pub fn record_requests(&self, tenant: &str, n: u64) {
        self.with(tenant, |t| t.graph_requests += n);
    }

    /// Counts changes (resources) applied.
    pub fn record_applied(&self, tenant: &str, n: usize) {
        self.with(tenant, |t| t.changes_applied += n as u64);
    }

    /// Counts an alert sent or failed for a provider.
    pub fn record_alert(&self, provider: &str, sent: bool) {
        *self
            .alerts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((provider.to_string(), sent))
            .or_default() += 1;
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let tenants = self.tenants.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP mfactl_reconcile_duration_seconds Time one reconcile cycle took."
        );
        let _ = writeln!(out, "# TYPE mfactl_reconcile_duration_seconds histogram");
        for (name, t) in tenants.iter() {
            let n = escape(name);
            let mut cumulative = 0;
            for (i, b) in BUCKETS.iter().enumerate() {
                cumulative += t.buckets[i];
                let _ = writeln!(
                    out,
                    "mfactl_reconcile_duration_seconds_bucket{{tenant=\"{n}\",le=\"{b}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "mfactl_reconcile_duration_seconds_bucket{{tenant=\"{n}\",le=\"+Inf\"}} {}",
                t.cycles
            );
            let _ = writeln!(
                out,
                "mfactl_reconcile_duration_seconds_sum{{tenant=\"{n}\"}} {}",
                t.duration_sum
            );
            let _ = writeln!(
                out,
                "mfactl_reconcile_duration_seconds_count{{tenant=\"{n}\"}} {}",
                t.cycles
            );
        }
        let _ = writeln!(
            out,
            "# HELP mfactl_reconcile_failures_total Cycles that ended in an error or read invalid policy files, by reason."
        );
        let _ = writeln!(out, "# TYPE mfactl_reconcile_failures_total counter");
        for (name, t) in tenants.iter() {
            for (reason, n) in &t.failures {
                let _ = writeln!(
                    out,
                    "mfactl_reconcile_failures_total{{tenant=\"{}\",reason=\"{reason}\"}} {n}",
                    escape(name),
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP mfactl_declaration_valid Whether the policy files at the last cycle were valid (1) or not (0), and the commit they came from."
        );
        let _ = writeln!(out, "# TYPE mfactl_declaration_valid gauge");
        for (name, t) in tenants.iter() {
            let (valid, commit) = match &t.declaration {
                Some(Declaration::Valid { commit }) => (1, commit),
                Some(Declaration::Invalid { commit, .. }) => (0, commit),
                None => continue,
            };
            let _ = writeln!(
                out,
                "mfactl_declaration_valid{{tenant=\"{}\",commit=\"{}\"}} {valid}",
                escape(name),
                escape(commit.as_deref().unwrap_or_default())
            );
        }
        let _ = writeln!(
            out,
            "# HELP mfactl_declaration_errors Error diagnostics in the policy files at the last cycle."
        );
        let _ = writeln!(out, "# TYPE mfactl_declaration_errors gauge");
        for (name, t) in tenants.iter() {
            let errors = match &t.declaration {
                Some(Declaration::Valid { .. }) => 0,
                Some(Declaration::Invalid { errors, .. }) => *errors,
                None => continue,
            };
            let _ = writeln!(
                out,
                "mfactl_declaration_errors{{tenant=\"{}\"}} {errors}",
                escape(name)
            );
        }
        let _ = writeln!(
            out,
            "# HELP mfactl_drift_properties Drifted properties per resource at the last plan."
        );
        let _ = writeln!(out, "# TYPE mfactl_drift_properties gauge");
        for (name, t) in tenants.iter() {
            for (resource, n) in &t.drift {
                let _ = writeln!(
                    out,
                    "mfactl_drift_properties{{tenant=\"{}\",resource=\"{}\"}} {n}",
                    escape(name),
                    escape(resource)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP mfactl_changes_applied_total Resources changed by apply."
        );
        let _ = writeln!(out, "# TYPE mfactl_changes_applied_total counter");
        for (name, t) in tenants.iter() {
            let _ = writeln!(
                out,
                "mfactl_changes_applied_total{{tenant=\"{}\"}} {}",
                escape(name),
                t.changes_applied
            );
        }
        let _ = writeln!(
            out,
            "# HELP mfactl_graph_requests_total Requests sent to Microsoft Graph, retries included."
        );
        let _ = writeln!(out, "# TYPE mfactl_graph_requests_total counter");
        for (name, t) in tenants.iter() {
            let _ = writeln!(
                out,
                "mfactl_graph_requests_total{{tenant=\"{}\"}} {}",
                escape(name),
                t.graph_requests
            );
        }
        let _ = writeln!(
            out,
            "# HELP mfactl_last_successful_reconcile_timestamp_seconds When a cycle last succeeded."
        );
        let _ = writeln!(
            out,
            "# TYPE mfactl_last_successful_reconcile_timestamp_seconds gauge"
        );
        for (name, t) in tenants.iter() {
            if let Some(ts) = t.last_success {
                let _ = writeln!(
                    out,
                    "mfactl_last_successful_reconcile_timestamp_seconds{{tenant=\"{}\"}} {ts}",
                    escape(name)
                );
            }
        }
        drop(tenants);
        let alerts = self.alerts.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(
            out,
            "# HELP mfactl_alerts_total Drift alerts by provider and result."
        );
        let _ = writeln!(out, "# TYPE mfactl_alerts_total counter");
        for ((provider, sent), n) in alerts.iter() {
            let result = if *sent { "sent" } else { "failed" };
            let _ = writeln!(
                out,
                "mfactl_alerts_total{{provider=\"{}\",result=\"{result}\"}} {n}",
                escape(provider)
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative_and_labels_are_escaped() {
        let m = Metrics::default();
        let valid = Declaration::Valid { commit: None };
        m.record_cycle(
            "a\"b",
            &CycleOutcome::InSync,
            &valid,
            Duration::from_millis(70),
            100.0,
        );
        m.record_cycle(
            "a\"b",
            &CycleOutcome::InSync,
            &valid,
            Duration::from_secs(3),
            200.0,
        );
        let text = m.render();
        assert!(
            text.contains(
                "mfactl_reconcile_duration_seconds_bucket{tenant=\"a\\\"b\",le=\"0.1\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("mfactl_reconcile_duration_seconds_bucket{tenant=\"a\\\"b\",le=\"5\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("mfactl_reconcile_duration_seconds_count{tenant=\"a\\\"b\"} 2"),
            "{text}"
        );
        assert!(
            text.contains(
                "mfactl_last_successful_reconcile_timestamp_seconds{tenant=\"a\\\"b\"} 200"
            ),
            "{text}"
        );
    }

    #[test]
    fn invalid_policy_files_count_as_a_failure_and_show_their_commit() {
        let m = Metrics::default();
        let invalid = Declaration::Invalid {
            errors: 2,
            commit: Some("abc123".into()),
        };
        m.record_cycle("t", &CycleOutcome::InSync, &invalid, Duration::ZERO, 100.0);
        let text = m.render();
        for line in [
            "mfactl_declaration_valid{tenant=\"t\",commit=\"abc123\"} 0",
            "mfactl_declaration_errors{tenant=\"t\"} 2",
            "mfactl_reconcile_failures_total{tenant=\"t\",reason=\"invalid\"} 1",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
        assert!(!text.contains("mfactl_last_successful_reconcile_timestamp_seconds{"));
        assert_eq!(
            m.invalid_declarations(),
            [("t".into(), 2, Some("abc123".into()))]
        );
        m.record_cycle(
            "t",
            &CycleOutcome::InSync,
            &Declaration::Valid {
                commit: Some("def456".into()),
            },
            Duration::ZERO,
            200.0,
        );
        let text = m.render();
        assert!(text.contains("mfactl_declaration_valid{tenant=\"t\",commit=\"def456\"} 1"));
        assert!(!text.contains("abc123"), "one series per tenant: {text}");
        assert!(m.invalid_declarations().is_empty());
    }
}
