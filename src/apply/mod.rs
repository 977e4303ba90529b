//! Executes a plan: one PATCH per resource, in order, stopping at the first failure, with
//! every attempted property recorded in the audit log; then re-reads and checks that the
//! tenant converged.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::graph::{GraphClient, GraphError};
use crate::plan::{LiveState, Plan, ResourceChange, diff};

/// An append-only JSON-lines audit log.
pub struct AuditLog {
    file: File,
    path: PathBuf,
    git_commit: Option<String>,
}

/// Why the audit log cannot be used; checked before anything is sent.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the audit log {path}: {source}")]
pub struct AuditError {
    /// The log file.
    pub path: PathBuf,
    /// The operating system's reason.
    pub source: std::io::Error,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AuditRecord<'a> {
    time: String,
    tenant: &'a str,
    git_commit: Option<&'a str>,
    resource: &'a str,
    property: &'a str,
    before: &'a Value,
    after: &'a Value,
    result: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl AuditLog {
    /// Opens (creating) the log, and notes the git commit of the policies if they are in a
    /// git checkout.
    pub fn open(path: &Path, policies: &[PathBuf]) -> Result<Self, AuditError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| AuditError {
                path: path.to_path_buf(),
                source,
            })?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| AuditError {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Self {
            file,
            path: path.to_path_buf(),
            git_commit: policies.first().and_then(|p| git_commit(p)),
        })
    }

    fn record(
        &mut self,
        tenant: &str,
        change: &ResourceChange,
        result: &str,
        error: Option<&str>,
    ) -> Result<(), AuditError> {
        for p in &change.properties {
            let record = AuditRecord {
                time: crate::emulator::control::now_rfc3339(),
                tenant,
                git_commit: self.git_commit.as_deref(),
                resource: &change.resource,
                property: &p.name,
                before: &p.before,
                after: &p.after,
                result,
                error: error.map(String::from),
            };
            let mut line = serde_json::to_string(&record).unwrap_or_default();
            line.push('\n');
            self.file
                .write_all(line.as_bytes())
                .map_err(|source| AuditError {
                    path: self.path.clone(),
                    source,
                })?;
        }
        self.file.flush().map_err(|source| AuditError {
            path: self.path.clone(),
            source,
        })
    }
}

/// The commit checked out where the policies live, if they are in a git checkout.
fn git_commit(path: &Path) -> Option<String> {
    let dir = if path.is_dir() { path } else { path.parent()? };
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

/// What happened to each change.
#[derive(Debug)]
pub struct ApplyOutcome {
    /// A stop was requested (SIGINT or SIGTERM): the request in flight was let finish and
    /// nothing after it was sent.
    pub interrupted: bool,
    /// Sent and accepted.
    pub applied: Vec<ResourceChange>,
    /// The change that failed, and why; nothing after it was sent.
    pub failed: Option<(ResourceChange, GraphError)>,
    /// Not sent because an earlier change failed.
    pub not_attempted: Vec<ResourceChange>,
}

/// Sends the plan's PATCHes in order, stopping at the first failure, or before the next
/// PATCH once `stop` is set (a PATCH already sent is always let finish).
pub async fn apply(
    client: &GraphClient,
    plan: &Plan,
    audit: &mut AuditLog,
    stop: &std::sync::atomic::AtomicBool,
) -> Result<ApplyOutcome, AuditError> {
    let mut outcome = ApplyOutcome {
        interrupted: false,
        applied: Vec::new(),
        failed: None,
        not_attempted: Vec::new(),
    };
    for change in &plan.changes {
        if !outcome.interrupted && stop.load(std::sync::atomic::Ordering::SeqCst) {
            outcome.interrupted = true;
        }
        if outcome.failed.is_some() || outcome.interrupted {
            audit.record(&plan.tenant, change, "notAttempted", None)?;
            outcome.not_attempted.push(change.clone());
            continue;
        }
        match client.patch(&change.path, &change.body).await {
            Ok(_) => {
                audit.record(&plan.tenant, change, "applied", None)?;
                outcome.applied.push(change.clone());
            }
            Err(e) => {
                audit.record(&plan.tenant, change, "failed", Some(&e.to_string()))?;
                outcome.failed = Some((change.clone(), e));
            }
        }
    }
    Ok(outcome)
}

/// The properties of applied changes that the re-read tenant does not show, as
/// `resource.property` names. Empty means the tenant converged.
pub fn unconverged(applied: &[ResourceChange], live: &LiveState) -> Vec<String> {
    let mut out = Vec::new();
    for change in applied {
        let current = live_resource(change, live);
        for p in &change.properties {
            let have = current.and_then(|c| c.get(&p.name));
            if !diff::satisfied(&p.after, have, Some(&p.name)) {
                out.push(format!("{}.{}", change.resource, p.name));
            }
        }
    }
    out
}

fn live_resource<'a>(change: &ResourceChange, live: &'a LiveState) -> Option<&'a Value> {
    if change.path == crate::plan::SECURITY_DEFAULTS_PATH {
        return live.security_defaults.as_ref();
    }
    let policy = live.methods_policy.as_ref()?;
    match change
        .resource
        .strip_prefix("authenticationMethodConfigurations/")
    {
        None => Some(policy),
        Some(id) => policy["authenticationMethodConfigurations"]
            .as_array()?
            .iter()
            .find(|c| {
                c["id"]
                    .as_str()
                    .is_some_and(|cid| cid.eq_ignore_ascii_case(id))
            }),
    }
}
