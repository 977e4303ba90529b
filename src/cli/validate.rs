//! `mfactl validate`: the policy files checked offline, every problem with file:line:column.

use std::path::PathBuf;

use crate::cli::ValidateArgs;
use crate::cli::exit::ExitCode;
use crate::config::{self, Env};
use crate::printer;

use super::common::{RunError, load};

/// `mfactl validate`: offline checks only.
pub async fn validate(args: ValidateArgs, env: Env) -> Result<ExitCode, RunError> {
    let source = &args.source;
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let (paths, config_file) = match config::resolve(source.config.as_deref(), &env, &cwd) {
        Ok(settings) => {
            let tenant = settings.tenant(source.tenant.as_deref())?;
            (tenant.policies.clone(), tenant.config_file.clone())
        }
        // Offline with no configuration at all: the policies beside the working directory.
        // A configuration file that exists but is refused is an error, not a fallback.
        Err(_)
            if source.config.is_none()
                && env.get(config::ENV_CONFIG).is_none()
                && !cwd.join(config::DEFAULT_CONFIG_FILE).exists() =>
        {
            (vec![cwd.join("policies")], None)
        }
        Err(e) => return Err(e.into()),
    };
    let paths = if source.policies.is_empty() {
        paths
    } else {
        source.policies.clone()
    };
    let set = load(&paths, config_file.as_deref())?;
    printer::status(&format!("{} policy file(s) are valid.", set.files.len()));
    Ok(ExitCode::Success)
}
