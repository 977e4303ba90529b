//! `mfactl export`: writes the live tenant's authentication methods policy, security
//! defaults, Conditional Access policies, named locations and custom authentication
//! strengths as policy files (`crate::export`).
//!
//! Nothing is written unless everything was read: a failed read is an error (exit 5), never
//! an empty export. Existing files are kept unless `--force` (exit 2 naming the file). The
//! files are loaded and validated before they are written, so that what is written is
//! always a policy set `validate` accepts.

use std::path::{Path, PathBuf};

use crate::cli::exit::ExitCode;
use crate::config::Env;
use crate::export::conditional_access::Exported;
use crate::export::{self, Names, render};
use crate::graph::GraphClient;
use crate::kinds::authentication_strength::STRENGTHS_PATH;
use crate::kinds::authentication_strength::export::STRENGTHS_FILE;
use crate::kinds::conditional_access::POLICIES_PATH;
use crate::kinds::conditional_access::export::POLICIES_FILE;
use crate::kinds::methods_policy::POLICY_PATH;
use crate::kinds::methods_policy::export::{METHODS_FILE, declarable, only_changed};
use crate::kinds::named_location::NAMED_LOCATIONS_PATH;
use crate::kinds::named_location::export::LOCATIONS_FILE;
use crate::kinds::security_defaults::{
    SECURITY_DEFAULTS_FILE, SECURITY_DEFAULTS_PATH, default_security_defaults,
};
use crate::msgraph::conditional_access::ROLE_TEMPLATES_PATH;
use crate::plan::live;
use crate::policy::{self, Severity};
use crate::tenant::names::NameKind;
use crate::{printer, sandbox};

use super::ExportArgs;
use super::common::{RunError, configured_tenant};

/// `mfactl export`.
pub async fn export(args: ExportArgs, env: Env) -> Result<ExitCode, RunError> {
    let files = [
        METHODS_FILE,
        SECURITY_DEFAULTS_FILE,
        LOCATIONS_FILE,
        STRENGTHS_FILE,
        POLICIES_FILE,
    ]
    .map(|f| args.dir.join(f));
    if !args.force {
        refuse_existing(&files)?;
    }
    // The sandbox emulator lives as long as `_sandbox`.
    let (tenant, env, _sandbox) = if args.sandbox {
        let sb = sandbox::start(Vec::new()).await?;
        printer::status(&format!(
            "sandbox: demo tenant {} on an in-process emulator at {}",
            sb.tenant.tenant_id, sb.tenant.graph_url
        ));
        (sb.tenant, sb.env, Some(sb.emulator))
    } else {
        let (_, tenant) = configured_tenant(&args.tenant, &env)?;
        (tenant, env, None)
    };
    let client = GraphClient::connect(&tenant, &env)?;
    let live = live::read(
        &client,
        &[
            POLICY_PATH,
            SECURITY_DEFAULTS_PATH,
            NAMED_LOCATIONS_PATH,
            STRENGTHS_PATH,
            POLICIES_PATH,
        ],
    )
    .await?;
    let policy = live.methods_policy.as_ref().ok_or_else(|| {
        RunError::Refused("the authentication methods policy was not read".into())
    })?;
    let mut declared = declarable(policy).map_err(|e| {
        RunError::Planning(live::PlanningError::Plan(
            crate::plan::PlanError::UnexpectedLiveShape(e.0),
        ))
    })?;
    for skipped in &declared.skipped_methods {
        printer::status(&format!(
            "skipped method configuration {skipped}: mfactl does not know its type"
        ));
    }
    let enabled = live
        .security_defaults
        .as_ref()
        .and_then(|sd| sd["isEnabled"].as_bool());
    let mut security_defaults = enabled;
    if args.only_changed {
        declared = only_changed(&declared);
        security_defaults = enabled.filter(|e| *e != default_security_defaults());
    }
    let conditional_access = Exported::from_live(&live);
    for note in &conditional_access.notes {
        printer::status(note);
    }
    let (mut groups, mut users) = declared.target_ids();
    for (ids, kind) in [(&mut groups, NameKind::Group), (&mut users, NameKind::User)] {
        for id in conditional_access.references(kind) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    let mut names: Names = export::names::resolve(&client, &groups, &users).await?;
    if !conditional_access.references(NameKind::Role).is_empty() {
        let roles = client.get_all(ROLE_TEMPLATES_PATH).await?;
        names.add_listed(NameKind::Role, &roles);
    }
    for (kind, items) in [
        (NameKind::Location, &live.named_locations),
        (NameKind::Strength, &live.authentication_strengths),
    ] {
        names.add_listed(kind, items.as_deref().unwrap_or_default());
    }
    for id in &names.ambiguous {
        printer::status(&format!(
            "group {id}: its display name is not unique in the tenant; written as its object id"
        ));
    }
    let header = render::Header {
        tenant: tenant.name.clone(),
        tenant_id: tenant.tenant_id.clone(),
        at: now(),
        only_changed: args.only_changed,
    };
    let mut out: Vec<(PathBuf, String)> = Vec::new();
    if declared.is_empty() {
        printer::status(
            "authentication methods policy: nothing differs from Microsoft's defaults; not written",
        );
    } else {
        out.push((
            files[0].clone(),
            render::methods_policy(&header, &declared, &names),
        ));
    }
    match security_defaults {
        Some(enabled) => out.push((
            files[1].clone(),
            render::security_defaults(&header, enabled),
        )),
        None if args.only_changed && enabled.is_some() => {
            printer::status("security defaults: still Microsoft's default (on); not written")
        }
        None => printer::status("security defaults: not readable as on or off; not written"),
    }
    for (file, text) in conditional_access.files(&header, &names) {
        out.push((args.dir.join(file), text));
    }
    check(&out)?;
    std::fs::create_dir_all(&args.dir).map_err(|source| RunError::Write {
        path: args.dir.clone(),
        source,
    })?;
    for (path, text) in &out {
        write(path, text, args.force)?;
        printer::data(&format!("wrote {}\n", path.display()));
    }
    printer::status(
        "per-user MFA state and sign-in preferences are not exported: write them as PerUserMfa and SignInPreferences rules",
    );
    Ok(ExitCode::Success)
}

fn now() -> String {
    let t = time::OffsetDateTime::now_utc();
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

fn exists_error(path: &Path) -> RunError {
    RunError::Write {
        path: path.to_path_buf(),
        source: std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "the file exists; nothing was written (pass --force to overwrite it, or choose another --dir)",
        ),
    }
}

fn refuse_existing(files: &[PathBuf]) -> Result<(), RunError> {
    match files.iter().find(|f| f.exists()) {
        Some(f) => Err(exists_error(f)),
        None => Ok(()),
    }
}

fn write(path: &Path, text: &str, force: bool) -> Result<(), RunError> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = options.open(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            exists_error(path)
        } else {
            RunError::Write {
                path: path.to_path_buf(),
                source,
            }
        }
    })?;
    file.write_all(text.as_bytes())
        .map_err(|source| RunError::Write {
            path: path.to_path_buf(),
            source,
        })
}

/// Loads the documents as `validate` would, from a scratch directory, before anything is
/// written: an export the loader refuses is an error, not a file.
fn check(out: &[(PathBuf, String)]) -> Result<(), RunError> {
    if out.is_empty() {
        return Ok(());
    }
    let scratch = std::env::temp_dir().join(format!(
        "mfactl-export-check-{}-{}",
        std::process::id(),
        time::OffsetDateTime::now_utc().unix_timestamp_nanos()
    ));
    std::fs::create_dir_all(&scratch).map_err(|source| RunError::Write {
        path: scratch.clone(),
        source,
    })?;
    let mut paths = Vec::new();
    for (path, text) in out {
        let name = path.file_name().map(PathBuf::from).unwrap_or_default();
        let p = scratch.join(name);
        std::fs::write(&p, text).map_err(|source| RunError::Write {
            path: p.clone(),
            source,
        })?;
        paths.push(p);
    }
    let outcome = policy::load(&paths);
    let _ = std::fs::remove_dir_all(&scratch);
    let prefix = format!("{}/", scratch.display());
    let mut errors = 0;
    // Warnings are about the tenant's settings, and `validate` shows them; errors would
    // make the export unusable.
    for d in outcome
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
    {
        let text = d.to_string();
        printer::status(&format!(
            "export: {}",
            text.strip_prefix(prefix.as_str()).unwrap_or(&text)
        ));
        errors += 1;
    }
    if errors > 0 || outcome.set.is_none() {
        return Err(RunError::InvalidPolicy(errors.max(1)));
    }
    Ok(())
}
