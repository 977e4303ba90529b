//! `mfactl tap`: Temporary Access Passes for onboarding (`crate::tap`, docs/tap.md).
//!
//! A pass is shown once: on stdout for one user (a line, or the JSON document of `-o json`),
//! in the `--out` file (created with mode 0600, never over an existing file) for a group.
//! Everything else goes to stderr, and no message, log or audit line carries a pass.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Subcommand, ValueEnum};
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::apply::AuditLog;
use crate::cli::exit::ExitCode;
use crate::config::{Env, TenantSettings, parse_duration};
use crate::graph::GraphClient;
use crate::msgraph::methods::{TAP_MAX_LIFETIME_MINUTES, TAP_MIN_LIFETIME_MINUTES};
use crate::printer::{self, Level, Progress};
use crate::tap::{self, Issued, PassInfo, PassRequest, TapError, WaveOutcome};

use super::TenantArgs;
use super::common::{RunError, configured_tenant};

/// The version of `tap`'s JSON documents.
const FORMAT_VERSION: u32 = 1;

/// `mfactl tap` subcommands.
#[derive(Debug, Subcommand)]
pub enum TapCommand {
    /// Create a Temporary Access Pass for a user (printed once, on stdout) or for every member
    /// of a group (written to --out), after checking the tenant's Temporary Access Pass
    /// policy. A user's existing pass is replaced.
    Issue(IssueArgs),
    /// Delete a user's Temporary Access Pass.
    Revoke(RevokeArgs),
}

/// Output on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TapFormat {
    /// The pass alone on a line; messages on stderr.
    Human,
    /// One JSON document.
    Json,
}

/// `mfactl tap issue` flags.
#[derive(Debug, clap::Args)]
pub struct IssueArgs {
    /// Tenant.
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// The user (user principal name or object id).
    #[arg(
        long,
        value_name = "UPN",
        required_unless_present = "group",
        conflicts_with = "group"
    )]
    pub user: Option<String>,
    /// Every transitive member of this group (display name or object id): an onboarding
    /// wave. Needs --out.
    #[arg(long, value_name = "NAME", requires = "out")]
    pub group: Option<String>,
    /// With --group: the new file the passes are written to (`upn,pass,expires`, mode 0600).
    #[arg(long, value_name = "FILE", requires = "group")]
    pub out: Option<PathBuf>,
    /// How long the pass is valid (10m to 720h, within the policy's minimum and maximum;
    /// default: the policy's default lifetime).
    #[arg(long, value_parser = parse_duration)]
    pub lifetime: Option<Duration>,
    /// A pass that can be used once.
    #[arg(long, conflicts_with = "reusable")]
    pub once: bool,
    /// A pass that can be used more than once during its lifetime (if the policy allows).
    #[arg(long)]
    pub reusable: bool,
    /// When the pass becomes valid (RFC 3339, e.g. 2026-03-02T08:00:00Z; default: now).
    #[arg(long, value_name = "TIME")]
    pub start: Option<String>,
    /// Output format on stdout.
    #[arg(short, long, value_enum, default_value_t = TapFormat::Human)]
    pub output: TapFormat,
}

/// `mfactl tap revoke` flags.
#[derive(Debug, clap::Args)]
pub struct RevokeArgs {
    /// Tenant.
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// The user (user principal name or object id).
    #[arg(long, value_name = "UPN")]
    pub user: String,
    /// Output format on stdout.
    #[arg(short, long, value_enum, default_value_t = TapFormat::Human)]
    pub output: TapFormat,
}

/// `mfactl tap`.
pub async fn tap(command: TapCommand, env: Env) -> Result<ExitCode, RunError> {
    match command {
        TapCommand::Issue(args) => issue(args, env).await,
        TapCommand::Revoke(args) => revoke(args, env).await,
    }
}

/// The tenant, its client and its audit log (opened before anything is sent).
fn connect(
    args: &TenantArgs,
    env: &Env,
) -> Result<(TenantSettings, GraphClient, AuditLog), RunError> {
    let (settings, tenant) = configured_tenant(args, env)?;
    let audit = AuditLog::open(&settings.audit_log, &tenant.policies)?;
    let client = GraphClient::connect(&tenant, env)?;
    Ok((tenant, client, audit))
}

/// The request the flags make, checked against Graph's documented limits.
fn request(args: &IssueArgs) -> Result<PassRequest, RunError> {
    let lifetime_minutes = match args.lifetime {
        None => None,
        Some(d) => {
            let secs = d.as_secs();
            let minutes = u32::try_from(secs / 60).unwrap_or(u32::MAX);
            if secs % 60 != 0
                || !(TAP_MIN_LIFETIME_MINUTES..=TAP_MAX_LIFETIME_MINUTES).contains(&minutes)
            {
                return Err(RunError::Usage(format!(
                    "--lifetime must be whole minutes between {TAP_MIN_LIFETIME_MINUTES}m and {}h (Graph's limits)",
                    TAP_MAX_LIFETIME_MINUTES / 60
                )));
            }
            Some(minutes)
        }
    };
    let start = match &args.start {
        None => None,
        Some(s) => Some(
            OffsetDateTime::parse(s, &Rfc3339)
                .ok()
                .and_then(|t| t.to_offset(time::UtcOffset::UTC).format(&Rfc3339).ok())
                .ok_or_else(|| {
                    RunError::Usage(format!(
                        "--start '{s}' is not an RFC 3339 date and time such as 2026-03-02T08:00:00Z"
                    ))
                })?,
        ),
    };
    let once = match (args.once, args.reusable) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    };
    Ok(PassRequest {
        lifetime_minutes,
        once,
        start,
    })
}

/// `mfactl tap issue`.
async fn issue(args: IssueArgs, env: Env) -> Result<ExitCode, RunError> {
    let request = request(&args)?;
    if let (Some(group), Some(out)) = (&args.group, &args.out) {
        return wave(&args, env, group, out, &request).await;
    }
    let user = args
        .user
        .as_deref()
        .ok_or_else(|| RunError::Usage("tap issue needs --user or --group".into()))?;
    let (tenant, client, mut audit) = connect(&args.tenant, &env)?;
    let issued = tap::issue(
        &client,
        &mut audit,
        &tenant.name,
        user,
        &request,
        &Progress::stderr(),
    )
    .await?;
    let Issued {
        user,
        pass,
        info,
        replaced,
    } = issued;
    if let Some(old) = &replaced {
        printer::event(
            Level::Warn,
            &format!(
                "{} had a Temporary Access Pass ({}); Graph deleted it when it created the new one",
                user.upn,
                describe(old)
            ),
            &[("user", user.upn.as_str().into())],
        );
    }
    printer::status(&format!(
        "issued a Temporary Access Pass for {}: {}",
        user.upn,
        describe(&info)
    ));
    match args.output {
        TapFormat::Human => printer::data_line(pass.expose()),
        TapFormat::Json => printer::data_line(
            &json!({
                "formatVersion": FORMAT_VERSION,
                "user": user.upn,
                "userId": user.id,
                "temporaryAccessPass": pass.expose(),
                "id": info.id,
                "startDateTime": info.start,
                "expiresDateTime": info.expires(),
                "lifetimeInMinutes": info.lifetime_minutes,
                "isUsableOnce": info.once,
                "replacedPassId": replaced.map(|r| r.id),
            })
            .to_string(),
        ),
    }
    Ok(ExitCode::Success)
}

/// How a pass is described on stderr: never its code.
fn describe(p: &PassInfo) -> String {
    format!(
        "{}, valid from {} until {}",
        if p.once { "one-time" } else { "reusable" },
        p.start,
        p.expires()
    )
}

/// Creates the passes file: a new file (never an existing one), readable by its owner only.
fn create_out(path: &Path) -> Result<std::fs::File, RunError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => RunError::Usage(format!(
                "{} already exists; passes are only written to a new file",
                path.display()
            )),
            _ => RunError::Write {
                path: path.to_path_buf(),
                source: e,
            },
        })
}

/// A CSV field, quoted when it must be.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `mfactl tap issue --group NAME --out FILE`.
async fn wave(
    args: &IssueArgs,
    env: Env,
    group: &str,
    out: &Path,
    request: &PassRequest,
) -> Result<ExitCode, RunError> {
    let (tenant, client, mut audit) = connect(&args.tenant, &env)?;
    let mut file = create_out(out)?;
    let written = |e: std::io::Error| TapError::Out {
        path: out.to_path_buf(),
        source: e,
    };
    file.write_all(b"upn,pass,expires\n").map_err(written)?;
    let mut rows = 0usize;
    let result = tap::issue_wave(
        &client,
        &mut audit,
        &tenant.name,
        group,
        request,
        &Progress::stderr(),
        |issued| {
            let row = format!(
                "{},{},{}\n",
                csv_field(&issued.user.upn),
                csv_field(issued.pass.expose()),
                csv_field(&issued.info.expires())
            );
            file.write_all(row.as_bytes())
                .and_then(|()| file.sync_data())
                .map_err(written)?;
            rows += 1;
            Ok(())
        },
    )
    .await;
    if rows == 0 {
        // Nothing to keep: a file of no pass would only be mistaken for a wave.
        let _ = std::fs::remove_file(out);
    }
    let outcome = result?;
    report_wave(&outcome, group, out, args.output);
    if outcome.missed() > 0 {
        return Err(RunError::WaveIncomplete {
            issued: outcome.issued.len(),
            missed: outcome.missed(),
        });
    }
    Ok(ExitCode::Success)
}

/// What a wave did: each member without a pass on stderr, and a summary (stderr, or the
/// JSON document on stdout); never a pass.
fn report_wave(outcome: &WaveOutcome, group: &str, out: &Path, format: TapFormat) {
    for (upn, refusal) in &outcome.refused {
        printer::event(
            Level::Warn,
            &format!("refused      {upn}: {refusal}"),
            &[("user", upn.as_str().into())],
        );
    }
    for (upn, error) in &outcome.failed {
        printer::event(
            Level::Error,
            &format!("failed       {upn}: {error}"),
            &[("user", upn.as_str().into())],
        );
    }
    let replaced = outcome.issued.iter().filter(|i| i.replaced).count();
    let written = if outcome.issued.is_empty() {
        String::new()
    } else {
        format!(" into {} (mode 0600)", out.display())
    };
    printer::status(&format!(
        "issued {} Temporary Access Pass(es) for the members of {group}{written} ({replaced} replacing an existing pass); {} member(s) got none",
        outcome.issued.len(),
        outcome.missed()
    ));
    if format == TapFormat::Json {
        let issued: Vec<_> = outcome
            .issued
            .iter()
            .map(|i| json!({"user": i.upn, "expiresDateTime": i.expires, "replaced": i.replaced}))
            .collect();
        let refused: Vec<_> = outcome
            .refused
            .iter()
            .map(|(u, r)| json!({"user": u, "reason": r.to_string()}))
            .collect();
        let failed: Vec<_> = outcome
            .failed
            .iter()
            .map(|(u, e)| json!({"user": u, "reason": e.to_string()}))
            .collect();
        printer::data_line(
            &json!({
                "formatVersion": FORMAT_VERSION,
                "group": group,
                "groupId": outcome.group_id,
                "out": out.display().to_string(),
                "issued": issued,
                "refused": refused,
                "failed": failed,
            })
            .to_string(),
        );
    }
}

/// `mfactl tap revoke`.
async fn revoke(args: RevokeArgs, env: Env) -> Result<ExitCode, RunError> {
    let (tenant, client, mut audit) = connect(&args.tenant, &env)?;
    let (user, revoked) = tap::revoke(&client, &mut audit, &tenant.name, &args.user).await?;
    match &revoked {
        Some(p) => printer::status(&format!(
            "revoked the Temporary Access Pass of {} ({})",
            user.upn,
            describe(p)
        )),
        None => printer::status(&format!(
            "{} has no Temporary Access Pass; nothing was revoked",
            user.upn
        )),
    }
    if args.output == TapFormat::Json {
        printer::data_line(
            &json!({
                "formatVersion": FORMAT_VERSION,
                "user": user.upn,
                "userId": user.id,
                "revokedPassId": revoked.map(|p| p.id),
            })
            .to_string(),
        );
    }
    Ok(ExitCode::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_only_when_they_must_be() {
        assert_eq!(csv_field("+drk#zq@D"), "+drk#zq@D");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("a\"b"), "\"a\"\"b\"");
    }
}
