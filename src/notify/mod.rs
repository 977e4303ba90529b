//! Drift alerts in chat: Microsoft Teams (Workflows webhooks), Slack (incoming webhooks) and
//! a generic signed JSON webhook.
//!
//! The controller describes what it found and did in a [`DriftAlert`] and hands it to
//! [`Notifier::notify`], which:
//!
//! 1. decides, per provider, whether to say anything ([`Decision`], from the persisted
//!    [`AlertState`]): one alert per distinct drift, a reminder after `remindAfter`, a
//!    "resolved" message when an alerted drift is gone, and silence otherwise;
//! 2. builds each provider's payload ([`teams::payload`], [`slack::payload`],
//!    [`webhook::payload`]: pure functions, within each service's size limits);
//! 3. POSTs it, retrying 429 and 5xx with the service's `Retry-After` ([`SendPolicy`]);
//!    an alert counts as sent only after a 2xx;
//! 4. records what was sent in the state file (atomically, and only after a 2xx), so that
//!    a CronJob that starts afresh each time never alerts twice for the same drift, and a
//!    failed send is tried again on the next run.
//!
//! Webhook URLs are secrets ([`Secret`]): they never appear in logs, errors or `Debug`
//! output; errors name the provider (`teams`, `slack#2`), not the URL.

mod render;
mod send;
pub mod slack;
mod state;
pub mod teams;
pub mod webhook;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{Env, NotificationSettings, ProviderSource, SecretRef};
use crate::plan::Plan;

pub use send::{SendError, SendPolicy};
pub use state::{AlertState, Decision, Entry, STATE_FILE, decide, fingerprint};

/// Version of the generic webhook's JSON report ([`webhook::payload`]).
///
/// 2: `impact` is a field of its own (it was rows of `changes`), the actions `partial` and
/// `invalid` are new (both were `failed`), failures carry `kind`, `code` and `resource`, and
/// `declaration` reports invalid policy files.
pub const FORMAT_VERSION: u32 = 2;

/// A secret string, such as a webhook URL or an HMAC key. `Debug` never shows it, and it
/// has no `Display`: read it with [`Secret::expose`] where it is used, and nowhere else.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

/// One configured alert destination. The config layer reads the URLs and keys from
/// environment variables or files.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum ProviderConfig {
    /// A Microsoft Teams Workflows webhook ("Post to a channel when a webhook request is
    /// received"); receives an Adaptive Card 1.4.
    Teams {
        /// The workflow's HTTP POST URL.
        url: Secret,
    },
    /// A Slack incoming webhook; receives `text` and Block Kit `blocks`.
    Slack {
        /// The `https://hooks.slack.com/services/…` URL.
        url: Secret,
    },
    /// Any HTTP endpoint; receives the versioned JSON report, signed with
    /// `X-Signature: sha256=HEX` when a key is set.
    Webhook {
        /// Where to POST.
        url: Secret,
        /// The HMAC-SHA256 key, if the receiver verifies signatures.
        hmac_key: Option<Secret>,
    },
}

impl ProviderConfig {
    /// The provider's kind.
    pub fn kind(&self) -> ProviderKind {
        match self {
            ProviderConfig::Teams { .. } => ProviderKind::Teams,
            ProviderConfig::Slack { .. } => ProviderKind::Slack,
            ProviderConfig::Webhook { .. } => ProviderKind::Webhook,
        }
    }

    fn url(&self) -> &Secret {
        match self {
            ProviderConfig::Teams { url }
            | ProviderConfig::Slack { url }
            | ProviderConfig::Webhook { url, .. } => url,
        }
    }
}

/// The kind of a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProviderKind {
    /// Microsoft Teams.
    Teams,
    /// Slack.
    Slack,
    /// The generic JSON webhook.
    Webhook,
}

impl ProviderKind {
    /// `teams`, `slack` or `webhook` (also the metrics label).
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Teams => "teams",
            ProviderKind::Slack => "slack",
            ProviderKind::Webhook => "webhook",
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of failure a cycle met: with the service's code and the resource, what
/// identifies a failure across cycles ([`fingerprint`]).
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
    /// The plan would leave users with no usable MFA method; nothing was applied.
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
/// [`fingerprint`] uses) and what people read (`error`, which it does not: the text carries
/// per-request trace ids and timestamps).
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
    /// The drift is gone. [`Notifier::notify`] sends this itself when an alerted drift
    /// disappears; callers report "no drift" with an empty `changes` list.
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
    /// The CI run or commit behind this pass ([`run_link`]).
    pub link: Option<String>,
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
        let impact = plan.impact.as_ref().map(|i| AlertImpact {
            prompts: i
                .transitions
                .iter()
                .map(|t| PromptChange {
                    from: t.from.clone(),
                    to: t.to.clone(),
                    users: t.users,
                })
                .collect(),
            newly_without_mfa: i.newly_without.len(),
        });
        Self {
            tenant: plan.tenant.clone(),
            action,
            changes,
            impact,
            declaration: None,
            link,
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
            }),
            declaration: None,
            link: None,
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

/// Alert providers described by the environment, as CI secrets usually arrive:
/// `MFACTL_TEAMS_WEBHOOK`, `MFACTL_SLACK_WEBHOOK`, `MFACTL_WEBHOOK_URL` (signed with
/// `MFACTL_WEBHOOK_SECRET` when set).
pub fn providers_from_env(env: &Env) -> Vec<ProviderConfig> {
    let mut out = Vec::new();
    if let Some(url) = env.get("MFACTL_TEAMS_WEBHOOK") {
        out.push(ProviderConfig::Teams {
            url: Secret::new(url),
        });
    }
    if let Some(url) = env.get("MFACTL_SLACK_WEBHOOK") {
        out.push(ProviderConfig::Slack {
            url: Secret::new(url),
        });
    }
    if let Some(url) = env.get("MFACTL_WEBHOOK_URL") {
        out.push(ProviderConfig::Webhook {
            url: Secret::new(url),
            hmac_key: env.get("MFACTL_WEBHOOK_SECRET").map(Secret::new),
        });
    }
    out
}

/// The providers configured under `notifications:` in mfactl.yaml, with their URLs and keys
/// read now from the environment variables or files named there (a file's trailing line
/// break is not part of the secret). Errors name the provider and the variable or file,
/// never the value.
pub fn providers_from_settings(
    settings: &NotificationSettings,
    env: &Env,
) -> Result<Vec<ProviderConfig>, NotifyError> {
    let read = |provider: &'static str, what: &'static str, from: &SecretRef| {
        let fail = |reason: String| NotifyError::Secret {
            provider,
            what,
            from: from.clone(),
            reason,
        };
        let value = match from {
            SecretRef::Env(name) => env
                .get(name)
                .map(str::to_string)
                .ok_or_else(|| fail("the variable is not set or is empty".to_string()))?,
            SecretRef::File(path) => std::fs::read_to_string(path)
                .map(|s| s.trim_end_matches(['\r', '\n']).to_string())
                .map_err(|e| fail(e.to_string()))?,
        };
        if value.trim().is_empty() {
            return Err(fail("it is empty".to_string()));
        }
        Ok(Secret::new(value))
    };
    settings
        .providers
        .iter()
        .map(|p| {
            Ok(match p {
                ProviderSource::Teams { url } => ProviderConfig::Teams {
                    url: read("teams", "URL", url)?,
                },
                ProviderSource::Slack { url } => ProviderConfig::Slack {
                    url: read("slack", "URL", url)?,
                },
                ProviderSource::Webhook { url, key } => ProviderConfig::Webhook {
                    url: read("webhook", "URL", url)?,
                    hmac_key: key
                        .as_ref()
                        .map(|k| read("webhook", "HMAC key", k))
                        .transpose()?,
                },
            })
        })
        .collect()
}

/// Every alert provider: those configured in mfactl.yaml ([`providers_from_settings`]),
/// then those the `MFACTL_*` variables describe ([`providers_from_env`]). The variables add
/// to the file's providers; they do not replace them.
pub fn providers(
    settings: &NotificationSettings,
    env: &Env,
) -> Result<Vec<ProviderConfig>, NotifyError> {
    let mut out = providers_from_settings(settings, env)?;
    out.extend(providers_from_env(env));
    Ok(out)
}

/// The link to this CI run, from the environment: GitHub Actions
/// (`GITHUB_SERVER_URL/GITHUB_REPOSITORY/actions/runs/GITHUB_RUN_ID`), Azure Pipelines
/// (`SYSTEM_COLLECTIONURI` + `SYSTEM_TEAMPROJECT/_build/results?buildId=BUILD_BUILDID`), or
/// none.
pub fn run_link(env: &Env) -> Option<String> {
    if let (Some(server), Some(repo), Some(run)) = (
        env.get("GITHUB_SERVER_URL"),
        env.get("GITHUB_REPOSITORY"),
        env.get("GITHUB_RUN_ID"),
    ) {
        return Some(format!(
            "{}/{repo}/actions/runs/{run}",
            server.trim_end_matches('/')
        ));
    }
    if let (Some(collection), Some(project), Some(build)) = (
        env.get("SYSTEM_COLLECTIONURI"),
        env.get("SYSTEM_TEAMPROJECT"),
        env.get("BUILD_BUILDID"),
    ) {
        let project: String =
            percent_encoding::utf8_percent_encode(project, percent_encoding::NON_ALPHANUMERIC)
                .collect();
        return Some(format!(
            "{}/{project}/_build/results?buildId={build}",
            collection.trim_end_matches('/')
        ));
    }
    None
}

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
    #[error("cannot read the {provider} webhook {what} from {from}: {reason}")]
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

    #[test]
    fn run_links_come_from_github_or_azure_pipelines() {
        let gh = Env::empty()
            .with("GITHUB_SERVER_URL", "https://github.com")
            .with("GITHUB_REPOSITORY", "contoso/mfa")
            .with("GITHUB_RUN_ID", "42");
        assert_eq!(
            run_link(&gh).as_deref(),
            Some("https://github.com/contoso/mfa/actions/runs/42")
        );
        let ado = Env::empty()
            .with("SYSTEM_COLLECTIONURI", "https://dev.azure.com/contoso/")
            .with("SYSTEM_TEAMPROJECT", "Identity Ops")
            .with("BUILD_BUILDID", "7");
        assert_eq!(
            run_link(&ado).as_deref(),
            Some("https://dev.azure.com/contoso/Identity%20Ops/_build/results?buildId=7")
        );
        assert_eq!(run_link(&Env::empty().with("GITHUB_RUN_ID", "1")), None);
    }

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
            impact: None,
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
            }),
            "the impact is a field of its own, not a change"
        );
        let a = DriftAlert::from_plan(&plan, Action::Observed, None);
        assert_eq!(a.changes.len(), 1);
        assert_eq!(a.changes[0].property, "state");
        assert_eq!(a.changes[0].declared, Value::String("disabled".into()));
        assert!(a.has_drift());
    }
}
