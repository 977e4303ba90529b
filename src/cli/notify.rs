//! `mfactl notify test`: a sample alert to every configured provider.

use std::path::PathBuf;

use crate::cli::NotifyCommand;
use crate::cli::exit::ExitCode;
use crate::config::{self, ConfigError, Env, NotificationSettings};
use crate::notify::{self, Notifier};
use crate::printer;

use super::common::RunError;

/// `mfactl notify test`: a sample alert to every configured provider (mfactl.yaml's
/// `notifications:` and the `MFACTL_*` variables).
pub async fn notify_command(command: NotifyCommand, env: Env) -> Result<ExitCode, RunError> {
    match command {
        NotifyCommand::Test { config } => {
            let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
            let settings = match config::resolve(config.as_deref(), &env, &cwd) {
                Ok(settings) => settings.notifications,
                // No mfactl.yaml and no Azure variables: the MFACTL_* variables alone.
                Err(ConfigError::MissingEnvironment { .. }) => NotificationSettings::default(),
                Err(e) => return Err(e.into()),
            };
            let providers = notify::providers(&settings, &env)?;
            if providers.is_empty() {
                return Err(RunError::NoAlertProvider);
            }
            let outcome = Notifier::new(providers)?.send_test().await;
            for d in &outcome.deliveries {
                let (result, error) = match &d.result {
                    Some(Ok(_)) => ("sent", None),
                    Some(Err(e)) => ("not delivered", Some(e.to_string())),
                    None => ("nothing sent", None),
                };
                if printer::json() {
                    let mut line =
                        serde_json::json!({"provider": d.provider.to_string(), "result": result});
                    if let Some(e) = error {
                        line["error"] = e.into();
                    }
                    printer::data_line(&line.to_string());
                } else {
                    match error {
                        Some(e) => printer::data(&format!("{}: {result}: {e}\n", d.provider)),
                        None => printer::data(&format!("{}: {result}\n", d.provider)),
                    }
                }
            }
            match outcome.failed() {
                0 => Ok(ExitCode::Success),
                n => Err(RunError::AlertsFailed(n)),
            }
        }
    }
}
