//! The [`Notifier`]: decides per provider what to send, sends it, and records what was
//! delivered; with what it reports ([`NotifyOutcome`], [`AlertCounters`]) and its errors
//! ([`NotifyError`]).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use super::{
    Action, AlertState, Decision, DriftAlert, Kind, ProviderConfig, ProviderKind, STATE_FILE,
    SendError, SendPolicy, decide, fingerprint, send, slack, teams, webhook,
};
use crate::config::SecretRef;

/// Why alerts could not be set up or their state kept. A provider that fails to deliver is
/// not an error: [`NotifyOutcome`] reports it, and the other providers still get theirs.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// A webhook URL is not an absolute http(s) URL. The URL itself is not shown: it is a
    /// secret.
    #[error("the {provider} webhook URL is not a valid http or https URL")]
    InvalidUrl {
        /// The provider (`teams`, `slack#2`, …).
        provider: String,
    },
    /// A provider's URL or HMAC key, configured in mfactl.yaml, cannot be read from its
    /// environment variable or file. Names the place, never the value.
    #[error("cannot read the {what} of the {provider} alert provider from {from}: {reason}")]
    Secret {
        /// The provider's kind (`teams`, `slack`, `webhook`).
        provider: &'static str,
        /// `URL` or `HMAC key`.
        what: &'static str,
        /// The variable or file.
        from: SecretRef,
        /// Why (unset, empty, or the operating system's reason).
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot set up the HTTP client for alerts: {reason}")]
    Client {
        /// Why.
        reason: String,
    },
    /// The alert state file exists but cannot be read.
    #[error("cannot read the alert state {}: {reason}", path.display())]
    StateRead {
        /// The state file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The alert state could not be written; the alerts were sent, and may be sent again
    /// on the next run.
    #[error("cannot write the alert state {}: {reason}", path.display())]
    StateWrite {
        /// The state file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// What happened for one provider.
#[derive(Debug)]
pub struct Delivery {
    /// The provider: `teams`, `slack`, `webhook`, or `teams#2` for a second one of a kind.
    pub provider: String,
    /// Its kind.
    pub kind: ProviderKind,
    /// What was decided for it.
    pub decision: Decision,
    /// `None` when nothing was to be sent; `Some(Ok(attempts))` once sent (a 2xx after
    /// `attempts` requests); `Some(Err(_))` when it could not be delivered.
    pub result: Option<Result<u32, SendError>>,
}

impl Delivery {
    /// Whether a message was delivered.
    pub fn sent(&self) -> bool {
        matches!(self.result, Some(Ok(_)))
    }

    /// Whether a message was due and could not be delivered.
    pub fn failed(&self) -> bool {
        matches!(self.result, Some(Err(_)))
    }
}

/// What [`Notifier::notify`] and [`Notifier::send_test`] did, provider by provider.
#[derive(Debug, Default)]
pub struct NotifyOutcome {
    /// One entry per configured provider, in configuration order.
    pub deliveries: Vec<Delivery>,
}

impl NotifyOutcome {
    /// Messages delivered.
    pub fn sent(&self) -> usize {
        self.deliveries.iter().filter(|d| d.sent()).count()
    }

    /// Messages due but not delivered.
    pub fn failed(&self) -> usize {
        self.deliveries.iter().filter(|d| d.failed()).count()
    }

    /// The failures, for reporting.
    pub fn errors(&self) -> impl Iterator<Item = &SendError> {
        self.deliveries
            .iter()
            .filter_map(|d| d.result.as_ref().and_then(|r| r.as_ref().err()))
    }
}

/// Totals since the [`Notifier`] was built, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AlertCounters {
    /// Messages delivered (2xx).
    pub sent: u64,
    /// Messages that could not be delivered after every retry.
    pub failed: u64,
}

struct Provider {
    id: String,
    config: ProviderConfig,
}

/// Sends drift alerts to the configured providers, once per distinct drift.
///
/// Build one per process and reuse it: it holds one HTTP client (connection reuse) and the
/// counters. Cheap to share behind an `Arc`.
pub struct Notifier {
    providers: Vec<Provider>,
    http: reqwest::Client,
    remind_after: Option<Duration>,
    policy: SendPolicy,
    state_lock: tokio::sync::Mutex<()>,
    sent: AtomicU64,
    failed: AtomicU64,
}

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notifier")
            .field(
                "providers",
                &self.providers.iter().map(|p| &p.id).collect::<Vec<_>>(),
            )
            .field("remind_after", &self.remind_after)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Notifier {
    /// A notifier for these providers (none is fine: it then does nothing). Checks that
    /// every URL is an absolute http(s) URL; sends nothing.
    pub fn new(providers: Vec<ProviderConfig>) -> Result<Self, NotifyError> {
        let mut seen: std::collections::BTreeMap<ProviderKind, usize> = Default::default();
        let mut named = Vec::with_capacity(providers.len());
        for config in providers {
            let n = seen.entry(config.kind()).or_default();
            *n += 1;
            let id = if *n == 1 {
                config.kind().to_string()
            } else {
                format!("{}#{n}", config.kind())
            };
            let ok = url::Url::parse(config.url().expose())
                .ok()
                .is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host());
            if !ok {
                return Err(NotifyError::InvalidUrl { provider: id });
            }
            named.push(Provider { id, config });
        }
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let policy = SendPolicy::default();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("mfactl/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| NotifyError::Client {
                reason: send::describe(&e, &[]),
            })?;
        Ok(Self {
            providers: named,
            http,
            remind_after: None,
            policy,
            state_lock: tokio::sync::Mutex::new(()),
            sent: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        })
    }

    /// Re-sends an unchanged drift once this long has passed since it was last sent
    /// (`remindAfter`); `None` (the default) never reminds.
    #[must_use]
    pub fn with_remind_after(mut self, remind_after: Option<Duration>) -> Self {
        self.remind_after = remind_after;
        self
    }

    /// Another retry policy (tests use short backoffs).
    #[must_use]
    pub fn with_send_policy(mut self, policy: SendPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The providers' names (`teams`, `slack`, `webhook`, `teams#2`, …), in order.
    pub fn providers(&self) -> impl Iterator<Item = &str> {
        self.providers.iter().map(|p| p.id.as_str())
    }

    /// Messages delivered and failed since this notifier was built.
    pub fn counters(&self) -> AlertCounters {
        AlertCounters {
            sent: self.sent.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
        }
    }

    /// Reports one tenant's pass: decides per provider from the state in `state_dir`
    /// ([`decide`]), sends what is due (all providers concurrently; one failing does not
    /// stop the others), then records each delivered message in the state file. `now` is
    /// the clock for the decision and the recorded times.
    ///
    /// Errors only when the state cannot be read or written; delivery failures are in the
    /// outcome (and are tried again on the next call, as the state is not updated for them).
    pub async fn notify(
        &self,
        alert: &DriftAlert,
        state_dir: &Path,
        now: SystemTime,
    ) -> Result<NotifyOutcome, NotifyError> {
        if self.providers.is_empty() {
            return Ok(NotifyOutcome::default());
        }
        let path = state_dir.join(STATE_FILE);
        let current = AlertState::load(&path)?;
        let fp = fingerprint(alert);
        let mut plans = Vec::with_capacity(self.providers.len());
        for p in &self.providers {
            let entry = current.entry(&alert.tenant, &p.id);
            let decision = decide(entry, alert, &fp, self.remind_after, now);
            let message = match decision {
                Decision::Alert => Some((alert.clone(), Kind::Alert)),
                Decision::Reminder => Some((
                    alert.clone(),
                    Kind::Reminder {
                        first_alerted: entry.map_or(now, |e| e.first_alerted),
                    },
                )),
                Decision::Resolved => Some((
                    DriftAlert {
                        action: Action::Resolved,
                        changes: Vec::new(),
                        impact: None,
                        declaration: None,
                        ..alert.clone()
                    },
                    Kind::Alert,
                )),
                Decision::Nothing | Decision::Skip => None,
            };
            plans.push((p, decision, message));
        }
        let sends = plans.iter().map(|(p, _, message)| async move {
            match message {
                Some((a, kind)) => Some(self.deliver(p, a, *kind).await),
                None => None,
            }
        });
        let results = futures_util::future::join_all(sends).await;

        let mut outcome = NotifyOutcome::default();
        let mut updates = Vec::new();
        for ((p, decision, _), result) in plans.into_iter().zip(results) {
            let recorded = match &result {
                None => true,
                Some(Ok(_)) => true,
                Some(Err(_)) => false,
            };
            if recorded {
                updates.push((p.id.clone(), decision));
            }
            outcome.deliveries.push(Delivery {
                provider: p.id.clone(),
                kind: p.config.kind(),
                decision,
                result,
            });
        }
        if !updates.is_empty() {
            // Re-read under the lock: another tenant's pass may have written meanwhile.
            let _guard = self.state_lock.lock().await;
            let mut state = AlertState::load(&path)?;
            let mut changed = false;
            for (id, decision) in updates {
                changed |= state.record(&alert.tenant, &id, decision, alert, &fp, now);
            }
            if changed {
                state.save(state_dir)?;
            }
        }
        Ok(outcome)
    }

    /// Sends a sample alert ([`DriftAlert::sample`], marked as a test) to every provider,
    /// ignoring and leaving alone the alert state (`mfactl notify test`).
    pub async fn send_test(&self) -> NotifyOutcome {
        let alert = DriftAlert::sample();
        let sends = self.providers.iter().map(|p| {
            let alert = &alert;
            async move { self.deliver(p, alert, Kind::Test).await }
        });
        let results = futures_util::future::join_all(sends).await;
        NotifyOutcome {
            deliveries: self
                .providers
                .iter()
                .zip(results)
                .map(|(p, r)| Delivery {
                    provider: p.id.clone(),
                    kind: p.config.kind(),
                    decision: Decision::Alert,
                    result: Some(r),
                })
                .collect(),
        }
    }

    async fn deliver(
        &self,
        p: &Provider,
        alert: &DriftAlert,
        kind: Kind,
    ) -> Result<u32, SendError> {
        let (body, signature) = match &p.config {
            ProviderConfig::Teams { .. } => (teams::body(alert, kind), None),
            ProviderConfig::Slack { .. } => (slack::body(alert, kind), None),
            ProviderConfig::Webhook { hmac_key, .. } => {
                let body = webhook::body(alert, kind);
                let sig = hmac_key.as_ref().map(|k| webhook::signature(k, &body));
                (body, sig)
            }
        };
        let result = send::post(
            &self.http,
            &p.id,
            p.config.url(),
            body,
            signature,
            &self.policy,
        )
        .await;
        match &result {
            Ok(attempts) => {
                self.sent.fetch_add(1, Ordering::Relaxed);
                tracing::info!(provider = %p.id, tenant = %alert.tenant, kind = kind.as_str(), action = alert.action.kind(), attempts, "alert sent");
            }
            Err(e) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(provider = %p.id, tenant = %alert.tenant, error = %e, "alert not sent");
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::Secret;

    #[test]
    fn secrets_and_notifiers_never_show_urls_in_debug() {
        let url = "https://example.invalid/hook/s3cr3t-token";
        let configs = vec![
            ProviderConfig::Teams {
                url: Secret::new(url),
            },
            ProviderConfig::Teams {
                url: Secret::new(url),
            },
            ProviderConfig::Webhook {
                url: Secret::new(url),
                hmac_key: Some(Secret::new("k3y")),
            },
        ];
        let text = format!("{configs:?}");
        assert!(!text.contains("s3cr3t") && !text.contains("k3y"), "{text}");
        let Ok(n) = Notifier::new(configs) else {
            panic!("valid URLs")
        };
        let text = format!("{n:?}");
        assert!(!text.contains("s3cr3t"), "{text}");
        assert_eq!(
            n.providers().collect::<Vec<_>>(),
            ["teams", "teams#2", "webhook"]
        );
        let bad = Notifier::new(vec![ProviderConfig::Slack {
            url: Secret::new("hooks.slack.com/s3cr3t"),
        }]);
        let Err(e) = bad else { panic!("not a URL") };
        assert!(!e.to_string().contains("s3cr3t"));
        assert!(e.to_string().contains("slack"));
    }

    #[test]
    fn notifying_can_run_on_any_worker_thread() {
        fn send_sync<T: Send + Sync>(_: &T) {}
        fn send<T: Send>(_: T) {}
        let Ok(n) = Notifier::new(vec![]) else {
            panic!("no providers is fine")
        };
        send_sync(&n);
        let alert = DriftAlert::sample();
        send(n.notify(&alert, Path::new("/nonexistent"), SystemTime::UNIX_EPOCH));
        send(n.send_test());
    }
}
