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
//!
//! What an alert says is in `alert.rs`, which providers are configured in `setup.rs`, the
//! [`Notifier`] that decides and sends in `notifier.rs`; the provider settings and
//! [`Secret`] are here.

mod alert;
mod notifier;
mod render;
mod send;
mod setup;
pub mod slack;
mod state;
pub mod teams;
pub mod webhook;

use std::fmt;

pub use crate::support::secret::Secret;
pub use alert::{
    Action, AlertImpact, DriftAlert, DriftChange, Failure, FailureKind, InvalidDeclaration, Kind,
    PromptChange,
};
pub use notifier::{AlertCounters, Delivery, Notifier, NotifyError, NotifyOutcome};
pub use send::{SendError, SendPolicy};
pub use setup::{providers, providers_from_env, providers_from_settings, run_link};
pub use state::{AlertState, Decision, Entry, STATE_FILE, decide, fingerprint};

/// Version of the generic webhook's JSON report ([`webhook::payload`]).
///
/// 2: `impact` is a field of its own (it was rows of `changes`), the actions `partial` and
/// `invalid` are new (both were `failed`), failures carry `kind`, `code` and `resource`, and
/// `declaration` reports invalid policy files.
pub const FORMAT_VERSION: u32 = 2;

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
