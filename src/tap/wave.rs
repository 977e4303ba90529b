//! An onboarding wave: a pass for every transitive member of a group. The group's members
//! and the groups the configuration targets are read once; each member's account and
//! current pass are read in `$batch` rounds; the creates go twenty to a `$batch` POST, one
//! POST at a time, through the client's pacer, so that a wave stays below Graph's limits
//! and stops at once when its passes can no longer be written. A member who may not have
//! a pass (a guest, someone the configuration does not target) or whose create fails is
//! reported and the wave goes on.

use std::path::PathBuf;

use super::{
    Issued, PassInfo, PassRequest, Refusal, TapError, TapPolicy, TapUser, audit_issue, directory,
    issued, no_pass, user_path,
};
use crate::apply::AuditLog;
use crate::graph::{BatchRequest, GraphClient, GraphError, MAX_BATCH};
use crate::printer::{Counter, Progress};
use crate::simulate::directory::{format_guid, parse_guid};
use crate::source::diagnostic::Location;
use crate::tenant::names::{self, NameKind, Names};
use crate::tenant::users::batched;

/// A member's pass, as reported (never the code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaveIssued {
    /// User principal name.
    pub upn: String,
    /// When the pass expires.
    pub expires: String,
    /// Whether it replaced a pass the member had.
    pub replaced: bool,
}

/// What a wave did, member by member.
#[derive(Debug, Default)]
pub struct WaveOutcome {
    /// The group's id.
    pub group_id: String,
    /// Passes issued.
    pub issued: Vec<WaveIssued>,
    /// Members the configuration does not allow a pass; nothing was sent for them.
    pub refused: Vec<(String, Refusal)>,
    /// Members whose read or create failed.
    pub failed: Vec<(String, GraphError)>,
}

impl WaveOutcome {
    /// Members who got no pass.
    pub fn missed(&self) -> usize {
        self.refused.len() + self.failed.len()
    }
}

/// The id of the group named `group` (or `group` itself when it is an object id).
async fn group_id(
    client: &GraphClient,
    group: &str,
    progress: &Progress,
) -> Result<String, TapError> {
    if parse_guid(group).is_some() {
        return Ok(group.to_string());
    }
    let mut wanted = Names::default();
    let flag = Location {
        file: PathBuf::from("--group"),
        line: 1,
        column: 1,
    };
    wanted.add(NameKind::Group, group, &flag);
    match names::resolve(client, wanted, progress).await? {
        Ok(resolution) => resolution
            .get(NameKind::Group, group)
            .map(|r| r.id.clone())
            .ok_or_else(|| TapError::UnknownGroup {
                name: group.to_string(),
                reason: "not found".into(),
            }),
        Err(diagnostics) => Err(TapError::UnknownGroup {
            name: group.to_string(),
            reason: diagnostics
                .iter()
                .map(|d| match &d.help {
                    Some(help) => format!("{} ({help})", d.message),
                    None => d.message.clone(),
                })
                .collect::<Vec<_>>()
                .join("; "),
        }),
    }
}

/// A member as read: the account and the current pass, or why they could not be read.
type Read = Result<(TapUser, Option<PassInfo>), GraphError>;

/// Reads every member's account and current pass, two GETs a member in `$batch` rounds.
async fn read_members(
    client: &GraphClient,
    members: &[(String, String)],
) -> Result<Vec<Option<Read>>, GraphError> {
    let mut users: Vec<Option<Result<TapUser, GraphError>>> = vec![None; members.len()];
    let mut passes: Vec<Option<Result<Option<PassInfo>, GraphError>>> = vec![None; members.len()];
    let requests = members.iter().enumerate().flat_map(|(i, (id, _))| {
        [
            BatchRequest::get(format!("u{i}"), user_path(id)),
            BatchRequest::get(format!("p{i}"), super::passes_path(id)),
        ]
    });
    batched(client, requests, |responses| {
        for r in responses {
            let (kind, index) = r.id.split_at(1);
            let is_user = kind == "u";
            let Some(i) = index.parse::<usize>().ok().filter(|&i| i < members.len()) else {
                continue;
            };
            let body = r.into_result().map(Option::unwrap_or_default);
            if is_user {
                users[i] = Some(body.and_then(|u| {
                    TapUser::from_graph(&u).ok_or_else(|| unreadable(&members[i].0))
                }));
            } else {
                passes[i] = Some(body.map(|list| {
                    list["value"]
                        .as_array()
                        .and_then(|a| a.iter().find_map(PassInfo::from_graph))
                }));
            }
        }
        Ok(())
    })
    .await?;
    Ok(users
        .into_iter()
        .zip(passes)
        .map(|(u, p)| match (u?, p?) {
            (Ok(u), Ok(p)) => Some(Ok((u, p))),
            (Err(e), _) | (_, Err(e)) => Some(Err(e)),
        })
        .collect())
}

/// The error for a user object without an id.
fn unreadable(id: &str) -> GraphError {
    GraphError::InvalidResponse {
        request: Box::new(crate::graph::RequestContext {
            method: "GET".into(),
            path: user_path(id),
            request_id: None,
        }),
        status: 200,
        reason: "the user has no `id`".into(),
    }
}

/// Issues a pass for every member of `group` (display name or object id) that the
/// configuration allows, handing each new pass to `write` as it arrives; `write` failing
/// stops the wave before another create is sent.
pub async fn issue_wave(
    client: &GraphClient,
    audit: &mut AuditLog,
    tenant: &str,
    group: &str,
    request: &PassRequest,
    progress: &Progress,
    mut write: impl FnMut(&Issued) -> Result<(), TapError>,
) -> Result<WaveOutcome, TapError> {
    let policy = TapPolicy::read(client).await?;
    policy.check(request).map_err(TapError::Refused)?;
    let group_id = group_id(client, group, progress).await?;
    let dir = directory(client, &policy, std::slice::from_ref(&group_id), progress).await?;
    let members: Vec<(String, String)> = dir
        .members(&group_id)
        .iter()
        .map(|&i| {
            let u = &dir.users()[i as usize];
            (format_guid(u.id), u.upn.to_string())
        })
        .collect();
    let mut outcome = WaveOutcome {
        group_id,
        ..WaveOutcome::default()
    };
    let reads = read_members(client, &members).await?;
    let mut allowed: Vec<(TapUser, Option<PassInfo>)> = Vec::new();
    let indexes = dir.members(&outcome.group_id);
    for (((id, upn), read), &index) in members.iter().zip(reads).zip(indexes) {
        match read {
            Some(Ok((user, current))) => match policy.check_user(&dir, index, &user) {
                Ok(()) => allowed.push((user, current)),
                Err(refusal) => outcome.refused.push((user.upn, refusal)),
            },
            Some(Err(e)) => outcome.failed.push((upn.clone(), e)),
            None => outcome.failed.push((upn.clone(), unreadable(id))),
        }
    }
    let body = request.body();
    let mut chunks = allowed.chunks(MAX_BATCH);
    while let Some(chunk) = chunks.next() {
        let requests = chunk
            .iter()
            .enumerate()
            .map(|(i, (u, _))| BatchRequest::post(i.to_string(), u.passes(), body.clone()))
            .collect();
        let responses = match client.batch(requests).await {
            Ok(r) => r,
            Err(e) => {
                // Whether this POST's creates happened is unknown; none after it is sent.
                let rest = chunk.iter().chain(chunks.flatten());
                for (u, _) in rest {
                    outcome.failed.push((u.upn.clone(), e.clone()));
                }
                break;
            }
        };
        for response in responses {
            let Some((user, current)) =
                response.id.parse::<usize>().ok().and_then(|i| chunk.get(i))
            else {
                continue;
            };
            let result = response.into_result().and_then(|b| {
                issued(user.clone(), b, current.clone()).ok_or_else(|| no_pass(user))
            });
            match result {
                Ok(pass) => {
                    write(&pass)?;
                    audit_issue(
                        audit,
                        tenant,
                        user,
                        current.as_ref(),
                        Some(&pass.info),
                        None,
                    )?;
                    progress.add(Counter::Applied, 1);
                    outcome.issued.push(WaveIssued {
                        upn: user.upn.clone(),
                        expires: pass.info.expires(),
                        replaced: current.is_some(),
                    });
                }
                Err(e) => {
                    let text = e.to_string();
                    audit_issue(audit, tenant, user, current.as_ref(), None, Some(&text))?;
                    outcome.failed.push((user.upn.clone(), e));
                }
            }
        }
    }
    Ok(outcome)
}
