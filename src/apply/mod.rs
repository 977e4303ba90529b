//! Executes a plan: one request per resource (hardware OATH tokens created in bulk), in
//! order, stopping at the first failure, with every attempted property recorded in the audit
//! log; then re-reads and checks that the tenant converged.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

pub mod migration;

use crate::graph::{BatchRequest, GraphClient, GraphError};
use crate::kinds::hardware_oath::seed::SeedKeys;
use crate::kinds::hardware_oath::{DEVICES_PATH, bulk};
use crate::kinds::per_user::{UserChange, UserChangeKind};
use crate::plan::{LiveState, Plan, PropertyChange, ResourceChange, diff};
use crate::printer::{Counter, Progress};
use crate::tenant::users;

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

    /// Appends one line per property: what `resource` was before and after, whether it
    /// was `applied` or `failed` (and why).
    pub fn record(
        &mut self,
        tenant: &str,
        resource: &str,
        properties: &[PropertyChange],
        result: &str,
        error: Option<&str>,
    ) -> Result<(), AuditError> {
        for p in properties {
            let record = AuditRecord {
                time: crate::support::time::now_rfc3339(),
                tenant,
                git_commit: self.git_commit.as_deref(),
                resource,
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
pub fn git_commit(path: &Path) -> Option<String> {
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
    /// The changes that failed, and why: one, or the tokens of a bulk create; nothing after
    /// them was sent.
    pub failed: Vec<(ResourceChange, GraphError)>,
    /// Not sent because an earlier change failed.
    pub not_attempted: Vec<ResourceChange>,
    /// Per-user changes sent and accepted.
    pub users_applied: Vec<UserChange>,
    /// Per-user changes the service refused, with why.
    pub users_failed: Vec<(UserChange, GraphError)>,
    /// Per-user changes not sent (a tenant-wide change failed, or a stop was requested).
    pub users_not_attempted: usize,
    /// Security defaults went off in this run, a later step failed before any Conditional
    /// Access policy was enforced, and they were turned back on: `Ok` when the service
    /// accepted it, the error otherwise.
    pub rolled_back: Option<Result<(), GraphError>>,
    /// How long nobody was required to do MFA by what this run changed: from security
    /// defaults off to the first and the last policy enabled.
    pub window: Option<migration::Window>,
}

impl ApplyOutcome {
    /// Whether anything failed or was left unsent.
    pub fn incomplete(&self) -> bool {
        self.interrupted
            || !self.failed.is_empty()
            || !self.users_failed.is_empty()
            || self.users_not_attempted > 0
    }

    /// Changes applied: resources plus users.
    pub fn applied_count(&self) -> usize {
        self.applied.len() + self.users_applied.len()
    }

    /// Changes not applied: failed and not attempted, resources plus users.
    pub fn unapplied_count(&self) -> usize {
        self.failed.len()
            + self.not_attempted.len()
            + self.users_failed.len()
            + self.users_not_attempted
    }

    /// The first error, if any change failed.
    pub fn first_error(&self) -> Option<&GraphError> {
        self.failed
            .first()
            .map(|(_, e)| e)
            .or_else(|| self.users_failed.first().map(|(_, e)| e))
    }
}

/// Sends the plan's PATCHes in order, stopping at the first failure, or before the next
/// PATCH once `stop` is set (a PATCH already sent is always let finish). Hardware OATH
/// tokens created one after another go in bulk requests ([`bulk`]), each token audited on
/// its own, all failed when their request fails. Then the per-user
/// changes, in `$batch` POSTs of twenty, several in flight: each user's PATCH succeeds or
/// fails on its own, and a stop lets the POSTs in flight finish.
pub async fn apply(
    client: &GraphClient,
    plan: &Plan,
    keys: &SeedKeys,
    audit: &mut AuditLog,
    stop: &std::sync::atomic::AtomicBool,
    progress: &Progress,
) -> Result<ApplyOutcome, AuditError> {
    let mut outcome = ApplyOutcome {
        interrupted: false,
        applied: Vec::new(),
        failed: Vec::new(),
        not_attempted: Vec::new(),
        users_applied: Vec::new(),
        users_failed: Vec::new(),
        users_not_attempted: 0,
        rolled_back: None,
        window: None,
    };
    let mut staging = migration::Staging::default();
    let mut rest = plan.changes.as_slice();
    while let Some(change) = rest.first() {
        if !outcome.interrupted && stop.load(std::sync::atomic::Ordering::SeqCst) {
            outcome.interrupted = true;
        }
        if !outcome.failed.is_empty() || outcome.interrupted {
            audit.record(
                &plan.tenant,
                &change.resource,
                &change.properties,
                "notAttempted",
                None,
            )?;
            outcome.not_attempted.push(change.clone());
            rest = &rest[1..];
            continue;
        }
        let together = bulk::run(rest);
        if together > 1 {
            let (group, after) = rest.split_at(together);
            let group: Vec<ResourceChange> = group.iter().map(|c| staging.resolved(c)).collect();
            let result = client
                .patch(DEVICES_PATH, &bulk::body(&group, keys))
                .await
                .map(|_| ())
                .map_err(|e| keys.redact(e));
            for change in &group {
                settle(audit, &plan.tenant, &mut outcome, change, result.clone())?;
            }
            rest = after;
            continue;
        }
        let change = &staging.resolved(change);
        staging.before(client, change).await;
        let result = send(client, change, keys).await;
        if let Ok(answer) = &result {
            staging.after(change, answer.as_ref());
        }
        settle(
            audit,
            &plan.tenant,
            &mut outcome,
            change,
            result.map(|_| ()),
        )?;
        rest = &rest[1..];
    }
    outcome.window = staging.window();
    if (!outcome.failed.is_empty() || outcome.interrupted) && staging.unprotected() {
        let result = migration::roll_back(client).await;
        let back = migration::rollback();
        let (status, error) = match &result {
            Ok(()) => ("rolledBack", None),
            Err(e) => ("failed", Some(e.to_string())),
        };
        audit.record(
            &plan.tenant,
            &back.resource,
            &back.properties,
            status,
            error.as_deref(),
        )?;
        outcome.rolled_back = Some(result);
    }
    if !outcome.failed.is_empty() || outcome.interrupted {
        for change in &plan.user_changes {
            audit.record(
                &plan.tenant,
                &user_resource(change),
                &change.properties,
                "notAttempted",
                None,
            )?;
        }
        outcome.users_not_attempted = plan.user_changes.len();
        return Ok(outcome);
    }
    apply_users(client, plan, audit, stop, progress, &mut outcome).await?;
    Ok(outcome)
}

/// Sends one change as its method says: PATCH, or POST and DELETE for collection items;
/// the answer's body, if it has one. A hardware OATH token's create gets its secret key
/// from `keys` here, as it leaves: nothing else ever holds it, and an error that echoes it
/// has it taken out.
async fn send(
    client: &GraphClient,
    change: &ResourceChange,
    keys: &SeedKeys,
) -> Result<Option<Value>, GraphError> {
    match change.method.as_str() {
        "POST" => client
            .post(&change.path, &keys.fill(&change.body))
            .await
            .map_err(|e| keys.redact(e)),
        "DELETE" => client.delete(&change.path).await.map(|()| None),
        _ => client.patch(&change.path, &change.body).await,
    }
}

/// Audits `change` as applied or failed, as `result` says, and counts it in `outcome`.
fn settle(
    audit: &mut AuditLog,
    tenant: &str,
    outcome: &mut ApplyOutcome,
    change: &ResourceChange,
    result: Result<(), GraphError>,
) -> Result<(), AuditError> {
    match result {
        Ok(()) => {
            audit.record(
                tenant,
                &change.resource,
                &change.properties,
                "applied",
                None,
            )?;
            outcome.applied.push(change.clone());
        }
        Err(e) => {
            let why = e.to_string();
            audit.record(
                tenant,
                &change.resource,
                &change.properties,
                "failed",
                Some(&why),
            )?;
            outcome.failed.push((change.clone(), e));
        }
    }
    Ok(())
}

/// How a per-user change is named in the audit log and in messages.
pub fn user_resource(change: &UserChange) -> String {
    let leaf = match change.kind {
        UserChangeKind::PerUserMfa => "requirements",
        UserChangeKind::SignInPreferences => "signInPreferences",
    };
    format!("users/{}/authentication/{leaf}", change.user_principal_name)
}

async fn apply_users(
    client: &GraphClient,
    plan: &Plan,
    audit: &mut AuditLog,
    stop: &std::sync::atomic::AtomicBool,
    progress: &Progress,
    outcome: &mut ApplyOutcome,
) -> Result<(), AuditError> {
    if plan.user_changes.is_empty() {
        return Ok(());
    }
    let started = std::time::Instant::now();
    let requests = plan
        .user_changes
        .iter()
        .enumerate()
        .take_while(|_| !stop.load(std::sync::atomic::Ordering::SeqCst))
        .map(|(i, c)| BatchRequest::patch(i.to_string(), c.path.clone(), c.body.clone()));
    let mut sent = vec![false; plan.user_changes.len()];
    let mut audit_error = None;
    let result = users::batched(client, requests, |responses| {
        progress.add(Counter::Applied, responses.len() as u64);
        for response in responses {
            let Some(i) = response
                .id
                .parse::<usize>()
                .ok()
                .filter(|i| *i < sent.len())
            else {
                continue;
            };
            sent[i] = true;
            let change = &plan.user_changes[i];
            let resource = user_resource(change);
            let recorded = match response.into_result() {
                Ok(_) => {
                    outcome.users_applied.push(change.clone());
                    audit.record(&plan.tenant, &resource, &change.properties, "applied", None)
                }
                Err(e) => {
                    let r = audit.record(
                        &plan.tenant,
                        &resource,
                        &change.properties,
                        "failed",
                        Some(&e.to_string()),
                    );
                    outcome.users_failed.push((change.clone(), e));
                    r
                }
            };
            if let Err(e) = recorded {
                audit_error.get_or_insert(e);
            }
        }
        Ok(())
    })
    .await;
    if let Some(e) = audit_error {
        return Err(e);
    }
    // A failed POST (after its retries) leaves the users it carried unknown: they are
    // reported as not applied, and the next run reads them again.
    if let Err(e) = result {
        tracing::warn!(error = %e, "a $batch of per-user changes failed");
        if let Some(i) = sent.iter().position(|s| !s) {
            outcome.users_failed.push((plan.user_changes[i].clone(), e));
            sent[i] = true;
        }
    }
    outcome.interrupted |= stop.load(std::sync::atomic::Ordering::SeqCst);
    for (i, _) in sent.iter().enumerate().filter(|(_, s)| !**s) {
        let change = &plan.user_changes[i];
        audit.record(
            &plan.tenant,
            &user_resource(change),
            &change.properties,
            "notAttempted",
            None,
        )?;
        outcome.users_not_attempted += 1;
    }
    progress.phase(&format!(
        "applied {} of {} in {:.1} s",
        crate::printer::thousands(outcome.users_applied.len() as u64),
        crate::printer::count(
            plan.user_changes.len(),
            "per-user resource",
            "per-user resources"
        ),
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// Reads each change's resource again through `$batch` and hands the change and the body
/// read to `each`.
async fn read_back(
    client: &GraphClient,
    changes: &[UserChange],
    mut each: impl FnMut(&UserChange, &Value),
) -> Result<(), GraphError> {
    let requests = changes
        .iter()
        .enumerate()
        .map(|(i, c)| BatchRequest::get(i.to_string(), c.path.clone()));
    users::batched(client, requests, |responses| {
        for response in responses {
            let Some(change) = response
                .id
                .parse::<usize>()
                .ok()
                .and_then(|i| changes.get(i))
            else {
                continue;
            };
            each(change, &response.into_result()?.unwrap_or_default());
        }
        Ok(())
    })
    .await
}

/// How many of `changes` no longer start from their `before` values (read again now): a
/// saved plan with any is stale.
pub async fn stale_users(
    client: &GraphClient,
    changes: &[UserChange],
) -> Result<usize, GraphError> {
    let mut stale = 0;
    read_back(client, changes, |change, body| {
        if change
            .properties
            .iter()
            .any(|p| body.get(&p.name).unwrap_or(&Value::Null) != &p.before)
        {
            stale += 1;
        }
    })
    .await?;
    Ok(stale)
}

/// Whether a user's property read back shows the value written: as written, or per-user MFA
/// `enabled` stored as `enforced` (Entra's rule for users who registered an MFA method,
/// [`crate::msgraph::PerUserMfaState::as_stored`]).
fn shows(property: &str, written: &Value, read: Option<&Value>) -> bool {
    use crate::msgraph::PerUserMfaState;
    let state = |v: Option<&Value>| v.and_then(Value::as_str).and_then(PerUserMfaState::parse);
    read == Some(written)
        || (property == "perUserMfaState"
            && state(Some(written)).map(|w| w.as_stored(true)) == state(read))
}

/// Re-reads the users whose changes were applied and lists those that do not show the
/// declared values (`upn.property`). Empty means they converged.
pub async fn unconverged_users(
    client: &GraphClient,
    applied: &[UserChange],
) -> Result<Vec<String>, GraphError> {
    let mut missing = Vec::new();
    read_back(client, applied, |change, body| {
        for p in &change.properties {
            if !shows(&p.name, &p.after, body.get(&p.name)) {
                missing.push(format!("{}.{}", change.user_principal_name, p.name));
            }
        }
    })
    .await?;
    missing.sort();
    Ok(missing)
}

/// The pauses before each re-read after the first when verifying: Graph's reads can lag its
/// writes for a while (conditional-access FACTS item 55: peers poll until reads show a created
/// or changed policy), so a value not shown yet is read again before it counts as not applied.
pub const VERIFY_PAUSES: [std::time::Duration; 3] = [
    std::time::Duration::from_secs(1),
    std::time::Duration::from_secs(2),
    std::time::Duration::from_secs(4),
];

/// Re-reads what `plan` read and the users `outcome` changed, until the tenant shows every
/// applied change or [`VERIFY_PAUSES`] run out; the changes it still does not show
/// (`resource.property`, `upn.property`). Empty means the tenant converged.
pub async fn verify(
    client: &GraphClient,
    plan: &Plan,
    outcome: &ApplyOutcome,
) -> Result<Vec<String>, GraphError> {
    let mut pauses = VERIFY_PAUSES.iter();
    loop {
        let after = crate::plan::live::read(client, &plan.read_paths()).await?;
        let mut missing = unconverged(&outcome.applied, &after);
        missing.extend(unconverged_users(client, &outcome.users_applied).await?);
        match pauses.next() {
            Some(pause) if !missing.is_empty() => tokio::time::sleep(*pause).await,
            _ => return Ok(missing),
        }
    }
}

/// The properties of applied changes that the re-read tenant does not show, as
/// `resource.property` names. Empty means the tenant converged.
pub fn unconverged(applied: &[ResourceChange], live: &LiveState) -> Vec<String> {
    let mut out = Vec::new();
    // A property changed twice (a policy created in report-only, then enabled) is checked
    // against its last change only.
    let mut checked = std::collections::HashSet::new();
    for change in applied.iter().rev() {
        let current = live.changed(change);
        for p in &change.properties {
            let name = format!("{}.{}", change.resource, p.name);
            if !checked.insert(name.clone()) {
                continue;
            }
            let have = current.and_then(|c| c.get(&p.name));
            if !diff::satisfied(&p.after, have, Some(&p.name)) {
                out.push(name);
            }
        }
    }
    out.reverse();
    out
}
