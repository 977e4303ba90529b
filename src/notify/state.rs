//! What has been alerted, per tenant and provider, persisted in `STATE_DIR/alerts.json`
//! so that separate runs (a CronJob, `reconcile --once` in CI) alert once per distinct
//! drift; and the pure decision of what to send next.
//!
//! ```json
//! {"formatVersion": 1, "tenants": {"contoso": {"teams": {
//!   "fingerprint": "…", "action": "observed", "changes": 3,
//!   "firstAlerted": "2026-11-22T10:00:00Z", "lastSent": "2026-11-22T10:00:00Z"}}}}
//! ```

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Action, DriftAlert, NotifyError};

/// The state file's name inside the state directory.
pub const STATE_FILE: &str = "alerts.json";

const STATE_VERSION: u32 = 1;

/// What to do for one provider, given what it was last sent and the current pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// No drift, and none outstanding: say nothing.
    Nothing,
    /// The same drift (and the same outcome) was already sent, and no reminder is due.
    Skip,
    /// A new or changed drift, or a new outcome for it (observed → applied): send it.
    Alert,
    /// The same drift as last sent, `remindAfter` ago or more: send it again as a reminder.
    Reminder,
    /// An alerted drift is gone: send "resolved", then forget it.
    Resolved,
}

impl Decision {
    /// `nothing`, `skip`, `alert`, `reminder`, `resolved` (for logs and metrics labels).
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Nothing => "nothing",
            Decision::Skip => "skip",
            Decision::Alert => "alert",
            Decision::Reminder => "reminder",
            Decision::Resolved => "resolved",
        }
    }

    /// Whether a message is due.
    pub fn sends(self) -> bool {
        matches!(
            self,
            Decision::Alert | Decision::Reminder | Decision::Resolved
        )
    }
}

/// The last message delivered to one provider for one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// [`fingerprint`] of the drift alerted.
    pub fingerprint: String,
    /// The outcome alerted: `observed`, `applied`, `appliedInvalid`, `appliedUnverified`,
    /// `partial`, `failed`, `invalid`.
    pub action: String,
    /// How many properties had drifted.
    pub changes: usize,
    /// When this drift was first alerted.
    pub first_alerted: SystemTime,
    /// When it was last sent (alert or reminder).
    pub last_sent: SystemTime,
}

impl Entry {
    /// Whether the alert said the drift was repaired (applied and verified): nothing is
    /// outstanding, so its disappearance needs no "resolved" message.
    pub fn repaired(&self) -> bool {
        self.action == "applied"
    }
}

/// The outcome as recorded: what distinguishes one alert from the next for the same drift.
/// A repair made while the policy files are invalid is not `applied`: the invalid files are
/// still outstanding, and their fix deserves a "resolved".
fn action_key(alert: &DriftAlert) -> &'static str {
    match &alert.action {
        Action::Observed => "observed",
        Action::Applied { verified: true } if alert.declaration.is_some() => "appliedInvalid",
        Action::Applied { verified: true } => "applied",
        Action::Applied { verified: false } => "appliedUnverified",
        Action::Partial { .. } => "partial",
        Action::Failed { .. } => "failed",
        Action::Invalid => "invalid",
        Action::Resolved => "resolved",
    }
}

/// Decides what to send one provider (pure; `now` is the clock).
///
/// - drift (or a failure) with nothing recorded, or a different fingerprint, or a
///   different outcome for the same drift → [`Decision::Alert`];
/// - the same drift and outcome → [`Decision::Skip`], or [`Decision::Reminder`] once
///   `remind_after` has passed since it was last sent;
/// - no drift after an outstanding alert → [`Decision::Resolved`];
/// - no drift, and nothing outstanding (never alerted, or the alert already said
///   "repaired") → [`Decision::Nothing`].
pub fn decide(
    prev: Option<&Entry>,
    alert: &DriftAlert,
    fingerprint: &str,
    remind_after: Option<Duration>,
    now: SystemTime,
) -> Decision {
    if !alert.has_drift() {
        return match prev {
            Some(e) if !e.repaired() => Decision::Resolved,
            _ => Decision::Nothing,
        };
    }
    match prev {
        None => Decision::Alert,
        Some(e) if e.fingerprint != fingerprint || e.action != action_key(alert) => Decision::Alert,
        Some(e) => match remind_after {
            Some(d) if e.last_sent.checked_add(d).is_some_and(|due| now >= due) => {
                Decision::Reminder
            }
            _ => Decision::Skip,
        },
    }
}

/// `value` with every object's keys sorted, so that equal values print equally.
fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for k in keys {
                out.insert(k.clone(), canonical(&m[k.as_str()]));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// The identity of what is alerted: SHA-256 (hex) over
///
/// - the sorted list of drifted (resource, property, declared value), objects' keys
///   sorted. Live values are left out: how a drifted value looks does not make it another
///   drift. The impact is left out too: it follows from the drift and the directory;
/// - for a failure, what the failure is: its kind, the tenant, the resource and the
///   service's code (an `AADSTS` number, a Graph error code, an HTTP status), never its
///   text, which carries per-request trace and correlation ids and timestamps;
/// - for invalid policy files, the commit and the number of errors.
///
/// So one failure is one alert until it changes (another code, another resource) or
/// resolves.
pub fn fingerprint(alert: &DriftAlert) -> String {
    let mut items: Vec<String> = alert
        .changes
        .iter()
        .map(|c| {
            Value::Array(vec![
                Value::String(c.resource.clone()),
                Value::String(c.property.clone()),
                canonical(&c.declared),
            ])
            .to_string()
        })
        .collect();
    items.sort();
    items.dedup();
    if let Some(f) = alert.action.failure() {
        items.push(
            serde_json::json!(["failure", f.kind.as_str(), alert.tenant, f.resource, f.code])
                .to_string(),
        );
    }
    if let Some(d) = &alert.declaration {
        items.push(serde_json::json!(["invalid", d.commit, d.errors]).to_string());
    }
    let text = items.join("\n");
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// RFC 3339 in UTC.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    time::OffsetDateTime::from(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(SystemTime::from)
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEntry {
    fingerprint: String,
    action: String,
    #[serde(default)]
    changes: usize,
    first_alerted: String,
    last_sent: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawState {
    format_version: u32,
    #[serde(default)]
    tenants: BTreeMap<String, BTreeMap<String, RawEntry>>,
}

/// Every tenant's and provider's last delivered alert.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertState {
    tenants: BTreeMap<String, BTreeMap<String, Entry>>,
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl AlertState {
    /// Reads the state file. A missing file is an empty state; an unreadable one is an
    /// error; one that does not parse (truncated by hand, another version) is logged and
    /// treated as empty, so that alerts keep flowing (at the cost of one repeated alert).
    pub fn load(path: &Path) -> Result<Self, NotifyError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => {
                return Err(NotifyError::StateRead {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                });
            }
        };
        let raw: RawState = match serde_json::from_slice(&bytes) {
            Ok(raw) => raw,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "alert state unreadable; starting afresh");
                return Ok(Self::default());
            }
        };
        if raw.format_version != STATE_VERSION {
            tracing::warn!(path = %path.display(), version = raw.format_version, "alert state of another version; starting afresh");
            return Ok(Self::default());
        }
        let tenants = raw
            .tenants
            .into_iter()
            .map(|(tenant, providers)| {
                let entries = providers
                    .into_iter()
                    .filter_map(|(p, e)| {
                        Some((
                            p,
                            Entry {
                                first_alerted: parse_rfc3339(&e.first_alerted)?,
                                last_sent: parse_rfc3339(&e.last_sent)?,
                                fingerprint: e.fingerprint,
                                action: e.action,
                                changes: e.changes,
                            },
                        ))
                    })
                    .collect();
                (tenant, entries)
            })
            .collect();
        Ok(Self { tenants })
    }

    /// Writes the state to `dir`/[`STATE_FILE`] atomically: a temporary file in the same
    /// directory, flushed to disk, then renamed over the old one. Creates `dir` if needed.
    pub fn save(&self, dir: &Path) -> Result<(), NotifyError> {
        let path = dir.join(STATE_FILE);
        let fail = |e: std::io::Error| NotifyError::StateWrite {
            path: path.clone(),
            reason: e.to_string(),
        };
        let raw = RawState {
            format_version: STATE_VERSION,
            tenants: self
                .tenants
                .iter()
                .map(|(t, providers)| {
                    let entries = providers
                        .iter()
                        .map(|(p, e)| {
                            (
                                p.clone(),
                                RawEntry {
                                    fingerprint: e.fingerprint.clone(),
                                    action: e.action.clone(),
                                    changes: e.changes,
                                    first_alerted: rfc3339(e.first_alerted),
                                    last_sent: rfc3339(e.last_sent),
                                },
                            )
                        })
                        .collect();
                    (t.clone(), entries)
                })
                .collect(),
        };
        let mut bytes = serde_json::to_vec_pretty(&raw).map_err(|e| NotifyError::StateWrite {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        bytes.push(b'\n');
        std::fs::create_dir_all(dir).map_err(fail)?;
        let tmp = dir.join(format!(
            ".{STATE_FILE}.{}.{}.tmp",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let written = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(fail(e));
        }
        Ok(())
    }

    /// The last delivered alert for a tenant and provider.
    pub fn entry(&self, tenant: &str, provider: &str) -> Option<&Entry> {
        self.tenants.get(tenant)?.get(provider)
    }

    /// Records that `decision` was carried out (sent with a 2xx, or nothing was due);
    /// returns whether the state changed.
    pub fn record(
        &mut self,
        tenant: &str,
        provider: &str,
        decision: Decision,
        alert: &DriftAlert,
        fingerprint: &str,
        now: SystemTime,
    ) -> bool {
        match decision {
            Decision::Skip => false,
            Decision::Nothing | Decision::Resolved => {
                let Some(providers) = self.tenants.get_mut(tenant) else {
                    return false;
                };
                let removed = providers.remove(provider).is_some();
                if providers.is_empty() {
                    self.tenants.remove(tenant);
                }
                removed
            }
            Decision::Alert => {
                let providers = self.tenants.entry(tenant.to_string()).or_default();
                let first_alerted = providers
                    .get(provider)
                    .filter(|e| e.fingerprint == fingerprint)
                    .map_or(now, |e| e.first_alerted);
                providers.insert(
                    provider.to_string(),
                    Entry {
                        fingerprint: fingerprint.to_string(),
                        action: action_key(alert).to_string(),
                        changes: alert.changes.len(),
                        first_alerted,
                        last_sent: now,
                    },
                );
                true
            }
            Decision::Reminder => match self
                .tenants
                .get_mut(tenant)
                .and_then(|p| p.get_mut(provider))
            {
                Some(e) => {
                    e.last_sent = now;
                    true
                }
                None => false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::{DriftChange, Failure, FailureKind, InvalidDeclaration};
    use serde_json::json;

    fn t(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    fn alert(action: Action, declared: Value) -> DriftAlert {
        DriftAlert {
            tenant: "contoso".into(),
            action,
            changes: vec![DriftChange {
                resource: "authenticationMethodConfigurations/Sms".into(),
                property: "includeTargets".into(),
                live: json!([]),
                declared,
            }],
            impact: None,
            declaration: None,
            link: None,
        }
    }

    fn in_sync() -> DriftAlert {
        DriftAlert {
            changes: vec![],
            ..alert(Action::Observed, json!(null))
        }
    }

    /// Decides, and records as if the send succeeded.
    fn step(
        state: &mut AlertState,
        a: &DriftAlert,
        remind: Option<Duration>,
        now: SystemTime,
    ) -> Decision {
        let fp = fingerprint(a);
        let d = decide(state.entry("contoso", "teams"), a, &fp, remind, now);
        state.record("contoso", "teams", d, a, &fp, now);
        d
    }

    #[test]
    fn fingerprints_ignore_key_order_change_order_and_live_values() {
        let a = alert(Action::Observed, json!({"a": 1, "b": [1, 2]}));
        let mut b = alert(Action::Observed, json!({"b": [1, 2], "a": 1}));
        b.changes[0].live = json!("something else");
        assert_eq!(fingerprint(&a), fingerprint(&b));
        let c = alert(Action::Observed, json!({"a": 1, "b": [2, 1]}));
        assert_ne!(fingerprint(&a), fingerprint(&c));

        let mut two = a.clone();
        two.changes.push(DriftChange {
            resource: "x".into(),
            property: "state".into(),
            live: json!(1),
            declared: json!(2),
        });
        let mut reversed = two.clone();
        reversed.changes.reverse();
        assert_eq!(fingerprint(&two), fingerprint(&reversed));
        assert_ne!(fingerprint(&two), fingerprint(&a));
    }

    #[test]
    fn same_drift_is_skipped_until_a_reminder_is_due() {
        let mut s = AlertState::default();
        let remind = Some(Duration::from_secs(3600));
        let a = alert(Action::Observed, json!(["g1"]));
        assert_eq!(step(&mut s, &a, remind, t(0)), Decision::Alert);
        assert_eq!(step(&mut s, &a, remind, t(600)), Decision::Skip);
        assert_eq!(step(&mut s, &a, remind, t(3599)), Decision::Skip);
        assert_eq!(step(&mut s, &a, remind, t(3600)), Decision::Reminder);
        assert_eq!(step(&mut s, &a, remind, t(4000)), Decision::Skip);
        assert_eq!(step(&mut s, &a, None, t(999_999)), Decision::Skip);
        let e = s.entry("contoso", "teams").cloned();
        assert_eq!(
            e.map(|e| (e.first_alerted, e.last_sent)),
            Some((t(0), t(3600)))
        );
    }

    #[test]
    fn changed_drift_or_outcome_alerts_again_and_gone_drift_resolves_once() {
        let mut s = AlertState::default();
        let a = alert(Action::Observed, json!(["g1"]));
        assert_eq!(step(&mut s, &a, None, t(0)), Decision::Alert);
        let b = alert(Action::Observed, json!(["g2"]));
        assert_eq!(step(&mut s, &b, None, t(10)), Decision::Alert);
        let failed = alert(
            Action::Failed {
                failure: auth_failure("AADSTS7000215", "trace 1"),
            },
            json!(["g2"]),
        );
        assert_eq!(
            s.entry("contoso", "teams").map(|e| e.first_alerted),
            Some(t(10))
        );
        let observed_again = alert(Action::Observed, json!(["g2"]));
        assert_eq!(step(&mut s, &observed_again, None, t(15)), Decision::Skip);
        assert_eq!(step(&mut s, &failed, None, t(20)), Decision::Alert);
        assert_eq!(
            s.entry("contoso", "teams").map(|e| e.first_alerted),
            Some(t(20)),
            "a failure on the drift is another event, first alerted now"
        );
        assert_eq!(step(&mut s, &in_sync(), None, t(30)), Decision::Resolved);
        assert_eq!(s, AlertState::default());
        assert_eq!(step(&mut s, &in_sync(), None, t(40)), Decision::Nothing);
    }

    #[test]
    fn a_repaired_drift_needs_no_resolved_message_but_a_recurring_one_is_alerted() {
        let mut s = AlertState::default();
        let fixed = alert(Action::Applied { verified: true }, json!(["g1"]));
        assert_eq!(step(&mut s, &fixed, None, t(0)), Decision::Alert);
        // Reverted by hand and repaired again before a clean pass: the same event.
        assert_eq!(step(&mut s, &fixed, None, t(10)), Decision::Skip);
        assert_eq!(step(&mut s, &in_sync(), None, t(20)), Decision::Nothing);
        assert_eq!(s, AlertState::default(), "a clean pass forgets the repair");
        assert_eq!(step(&mut s, &fixed, None, t(30)), Decision::Alert);
        let unverified = alert(Action::Applied { verified: false }, json!(["g1"]));
        assert_eq!(step(&mut s, &unverified, None, t(40)), Decision::Alert);
        assert_eq!(step(&mut s, &in_sync(), None, t(50)), Decision::Resolved);
    }

    fn auth_failure(code: &str, trace: &str) -> Failure {
        Failure {
            kind: FailureKind::Auth,
            code: Some(code.into()),
            resource: None,
            error: format!(
                "authentication failed for application x in tenant y ({code}): {code}: Invalid client secret provided.\r\nTrace ID: {trace}\r\nCorrelation ID: {trace}\r\nTimestamp: 2026-12-02 10:00:0{}Z",
                trace.len() % 10
            ),
        }
    }

    fn failed(failure: Failure) -> DriftAlert {
        DriftAlert {
            action: Action::Failed { failure },
            ..in_sync()
        }
    }

    #[test]
    fn a_failure_is_fingerprinted_by_what_it_is_not_by_its_trace_ids() {
        let a = failed(auth_failure(
            "AADSTS7000215",
            "6c3e9a1d-0000-4000-8000-000000000001",
        ));
        let b = failed(auth_failure(
            "AADSTS7000215",
            "0f9d2b77-0000-4000-8000-0000000000ff-x",
        ));
        assert_ne!(a.action, b.action, "the texts differ");
        assert_eq!(fingerprint(&a), fingerprint(&b));
        let other_code = failed(auth_failure(
            "AADSTS700016",
            "6c3e9a1d-0000-4000-8000-000000000001",
        ));
        assert_ne!(fingerprint(&a), fingerprint(&other_code));
        let other_tenant = DriftAlert {
            tenant: "fabrikam".into(),
            ..a.clone()
        };
        assert_ne!(fingerprint(&a), fingerprint(&other_tenant));
        let forbidden = |resource: &str, request_id: &str| {
            failed(Failure {
                kind: FailureKind::Permission,
                code: Some("403 Authorization_RequestDenied".into()),
                resource: Some(resource.into()),
                error: format!("GET {resource} (request-id {request_id}): 403 forbidden"),
            })
        };
        let policy = "/v1.0/policies/authenticationMethodsPolicy";
        assert_eq!(
            fingerprint(&forbidden(policy, "r1")),
            fingerprint(&forbidden(policy, "r2"))
        );
        assert_ne!(
            fingerprint(&forbidden(policy, "r1")),
            fingerprint(&forbidden("/v1.0/users", "r1"))
        );
        assert_ne!(fingerprint(&forbidden(policy, "r1")), fingerprint(&a));

        let mut s = AlertState::default();
        assert_eq!(step(&mut s, &a, None, t(0)), Decision::Alert);
        assert_eq!(step(&mut s, &b, None, t(1)), Decision::Skip);
        assert_eq!(step(&mut s, &other_code, None, t(2)), Decision::Alert);
        assert_eq!(step(&mut s, &in_sync(), None, t(3)), Decision::Resolved);
    }

    #[test]
    fn invalid_policy_files_are_told_apart_by_commit_and_outlast_a_repair() {
        let invalid = |commit: &str| DriftAlert {
            action: Action::Invalid,
            declaration: Some(InvalidDeclaration {
                errors: 1,
                commit: Some(commit.into()),
                last_valid_kept: true,
            }),
            ..in_sync()
        };
        let mut s = AlertState::default();
        assert_eq!(step(&mut s, &invalid("c1"), None, t(0)), Decision::Alert);
        assert_eq!(step(&mut s, &invalid("c1"), None, t(1)), Decision::Skip);
        assert_eq!(step(&mut s, &invalid("c2"), None, t(2)), Decision::Alert);
        // The last valid declaration repaired a drift while the files are still invalid:
        // a new alert, and the files' fix is then worth a "resolved".
        let repaired = DriftAlert {
            declaration: invalid("c2").declaration,
            ..alert(Action::Applied { verified: true }, json!(["g1"]))
        };
        assert_eq!(step(&mut s, &repaired, None, t(3)), Decision::Alert);
        assert_eq!(step(&mut s, &in_sync(), None, t(4)), Decision::Resolved);
    }

    #[test]
    fn the_state_file_round_trips_and_is_replaced_atomically() {
        let dir = std::env::temp_dir().join(format!("mfactl-notify-state-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut s = AlertState::default();
        let a = alert(Action::Observed, json!(["g1"]));
        step(&mut s, &a, None, t(0));
        assert!(s.save(&dir).is_ok());
        let loaded = AlertState::load(&dir.join(STATE_FILE));
        assert_eq!(loaded.ok(), Some(s));
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert_eq!(leftovers, [STATE_FILE]);
        assert!(std::fs::write(dir.join(STATE_FILE), b"{trunc").is_ok());
        assert_eq!(
            AlertState::load(&dir.join(STATE_FILE)).ok(),
            Some(AlertState::default())
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
