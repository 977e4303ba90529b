//! `notifications:` in mfactl.yaml: the alert providers and where their secrets live, and
//! how the raw section is resolved against the configuration's directory.

use std::path::Path;
use std::time::Duration;

use super::checks::{check_env_name, parse_duration};
use super::file::{RawNotifications, RawSecretRef};
use super::located::Seg;
use super::{ConfigError, SecretRef};

/// `notifications:` in mfactl.yaml: where each alert provider's secrets live, never the
/// secrets themselves; [`crate::notify::providers_from_settings`] reads them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NotificationSettings {
    /// `remindAfter`: re-send an unchanged drift after this long; `None` never reminds.
    pub remind_after: Option<Duration>,
    /// The providers, in the order teams, slack, webhook.
    pub providers: Vec<ProviderSource>,
}

/// One alert provider as configured: the places its URL (and key) are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderSource {
    /// `teams: { url }`: a Teams Workflows webhook.
    Teams {
        /// Where the webhook URL lives.
        url: SecretRef,
    },
    /// `slack: { url }`: a Slack incoming webhook.
    Slack {
        /// Where the webhook URL lives.
        url: SecretRef,
    },
    /// `webhook: { url, secret? }`: the generic JSON webhook.
    Webhook {
        /// Where the URL lives.
        url: SecretRef,
        /// Where the HMAC key lives, if the receiver verifies signatures.
        key: Option<SecretRef>,
    },
}

/// Resolves `notifications:`: file paths against the configuration's directory; variable
/// names and `remindAfter` checked.
pub(super) fn notification_settings(
    raw: RawNotifications,
    base: &Path,
    invalid: &dyn Fn(&[Seg<'_>], &str, String) -> ConfigError,
) -> Result<NotificationSettings, ConfigError> {
    let remind_after = match &raw.remind_after {
        Some(text) => Some(parse_duration(text).map_err(|m| {
            let at = [Seg::Key("notifications"), Seg::Key("remindAfter")];
            invalid(&at, "notifications.remindAfter", m)
        })?),
        None => None,
    };
    let resolve = |r: RawSecretRef, provider: &'static str, key: &'static str| match r {
        RawSecretRef::Env(name) => {
            check_env_name(&name).map_err(|m| {
                let at = [
                    Seg::Key("notifications"),
                    Seg::Key(provider),
                    Seg::Key(key),
                    Seg::Key("env"),
                ];
                invalid(&at, &format!("notifications.{provider}.{key}.env"), m)
            })?;
            Ok(SecretRef::Env(name))
        }
        RawSecretRef::File(p) => Ok(SecretRef::File(base.join(p))),
    };
    let mut providers = Vec::new();
    if let Some(t) = raw.teams {
        providers.push(ProviderSource::Teams {
            url: resolve(t.url.0, "teams", "url")?,
        });
    }
    if let Some(s) = raw.slack {
        providers.push(ProviderSource::Slack {
            url: resolve(s.url.0, "slack", "url")?,
        });
    }
    if let Some(w) = raw.webhook {
        providers.push(ProviderSource::Webhook {
            url: resolve(w.url.0, "webhook", "url")?,
            key: w
                .secret
                .map(|k| resolve(k.0, "webhook", "secret"))
                .transpose()?,
        });
    }
    Ok(NotificationSettings {
        remind_after,
        providers,
    })
}
