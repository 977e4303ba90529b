//! `mfactl validate`: the policy files checked offline, every problem with file:line:column;
//! for one tenant, or for each tenant `--all-tenants` or `--shard I/N` selects.

use std::path::{Path, PathBuf};

use crate::cli::ValidateArgs;
use crate::cli::exit::ExitCode;
use crate::config::{self, Env};
use crate::policy::{self, Severity};
use crate::printer;
use crate::report::diagnostics::{self, DiagnosticsFormat, Root};

use super::common::{RunError, load, load_for};

/// `mfactl validate`: offline checks only.
pub async fn validate(args: ValidateArgs, env: Env) -> Result<ExitCode, RunError> {
    let source = &args.source;
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    if source.many() {
        return validate_tenants(&args, &env, &cwd);
    }
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
    if args.output == DiagnosticsFormat::Human {
        let set = load(&paths, config_file.as_deref())?;
        printer::status(&format!("{} policy file(s) are valid.", set.files.len()));
        return Ok(ExitCode::Success);
    }
    let excluded: Vec<PathBuf> = config_file.into_iter().collect();
    let outcome = policy::load_excluding(&paths, &excluded);
    let root = Root {
        repo: repository_root(&cwd),
        cwd,
    };
    let d = &outcome.diagnostics;
    printer::data(&match args.output {
        DiagnosticsFormat::Sarif => diagnostics::sarif(d, &outcome.silenced, &root),
        DiagnosticsFormat::Github => diagnostics::github(d, &root),
        DiagnosticsFormat::Json | DiagnosticsFormat::Human => diagnostics::json(d, &root),
    });
    if let Some(note) = outcome.silenced_note() {
        printer::status(&note);
    }
    let errors = d.iter().filter(|d| d.severity == Severity::Error).count();
    match outcome.set {
        Some(set) if errors == 0 => {
            printer::status(&format!("{} policy file(s) are valid.", set.files.len()));
            Ok(ExitCode::Success)
        }
        _ => Err(RunError::InvalidPolicy(errors.max(1))),
    }
}

/// The nearest directory at or above `cwd` holding `.git` (a directory, or a worktree's
/// file), which is what code scanning and workflow commands resolve paths against; `cwd`
/// outside a repository.
fn repository_root(cwd: &Path) -> PathBuf {
    cwd.ancestors()
        .find(|d| d.join(".git").exists())
        .unwrap_or(cwd)
        .to_path_buf()
}

/// `mfactl validate --all-tenants | --shard I/N`: each selected tenant's configured policy
/// files (or `--policies`), every line beginning with the tenant's name; exit 3 when any
/// tenant's files have errors.
fn validate_tenants(
    args: &ValidateArgs,
    env: &Env,
    cwd: &std::path::Path,
) -> Result<ExitCode, RunError> {
    let source = &args.source;
    let settings = config::resolve(source.config.as_deref(), env, cwd)?;
    let tenants = settings.select(None, source.all_tenants, source.shard)?;
    let (mut valid, mut errors, mut invalid) = (0usize, 0usize, 0usize);
    for t in &tenants {
        let paths = if source.policies.is_empty() {
            &t.policies
        } else {
            &source.policies
        };
        match load_for(paths, t.config_file.as_deref(), Some(&t.name)) {
            Ok(set) => {
                valid += 1;
                printer::status(&format!(
                    "{}: {} valid.",
                    t.name,
                    printer::count(set.files.len(), "policy file is", "policy files are")
                ));
            }
            Err(RunError::InvalidPolicy(n)) => {
                invalid += 1;
                errors += n;
                printer::event(
                    printer::Level::Error,
                    &format!(
                        "{}: {} in the policy files",
                        t.name,
                        printer::count(n, "error", "errors")
                    ),
                    &[("tenant", t.name.as_str().into())],
                );
            }
            Err(e) => return Err(e),
        }
    }
    printer::status(&format!(
        "{}: {valid} valid, {invalid} with errors",
        printer::count(tenants.len(), "tenant", "tenants")
    ));
    if invalid > 0 {
        return Err(RunError::InvalidPolicy(errors));
    }
    Ok(ExitCode::Success)
}
