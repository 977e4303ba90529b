//! Which alert providers are configured, from mfactl.yaml and from the `MFACTL_*`
//! environment variables, and the link to the CI run an alert names.

use super::{NotifyError, ProviderConfig, Secret};
use crate::config::{Env, NotificationSettings, ProviderSource, SecretRef};

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
    fn an_unreadable_secret_names_what_and_whose_once() {
        let settings = NotificationSettings {
            remind_after: None,
            providers: vec![ProviderSource::Webhook {
                url: SecretRef::Env("HOOK_URL".into()),
                key: None,
            }],
        };
        let Err(e) = providers_from_settings(&settings, &Env::empty()) else {
            panic!("an unset variable is an error");
        };
        assert_eq!(
            e.to_string(),
            "cannot read the URL of the webhook alert provider from environment variable HOOK_URL: the variable is not set or is empty"
        );
    }
}
