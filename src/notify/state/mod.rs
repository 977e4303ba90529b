//! What has been alerted, per tenant and provider, persisted in `STATE_DIR/alerts.json`
//! so that separate runs (a CronJob, `reconcile --once` in CI) alert once per distinct
//! drift; and the pure decision of what to send next.
//!
//! ```json
//! {"formatVersion": 1, "tenants": {"contoso": {"teams": {
//!   "fingerprint": "…", "action": "observed", "changes": 3,
//!   "firstAlerted": "2026-11-22T10:00:00Z", "lastSent": "2026-11-22T10:00:00Z"}}}}
//! ```
//!
//! The state file is read and written here; the decision and the fingerprint it compares
//! are in `decision.rs`.

mod decision;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::notify::{Action, DriftAlert, NotifyError};

pub use decision::{Decision, decide, fingerprint};

/// The state file's name inside the state directory.
pub const STATE_FILE: &str = "alerts.json";

const STATE_VERSION: u32 = 1;

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
