//! Reading and writing users at tenant scale: the registration-details report, `/users` and
//! group members page by page (memory holds one page at a time plus a compact record per
//! user), and per-user state and changes through `$batch`, twenty requests a POST, several
//! POSTs in flight, paced by the client below Graph's limits.

use futures_util::StreamExt;
use serde_json::Value;

use crate::graph::{BatchRequest, BatchResponse, GraphClient, GraphError, MAX_BATCH};
use crate::msgraph::{PerUserMfaState, PreferredMethod};
use crate::printer::{Counter, Progress};
use crate::simulate::directory::{
    Account, Directory, Registered, UserRecord, format_guid, parse_guid,
};

/// `$batch` POSTs in flight at once: enough to cover the round trip while the pacer keeps
/// the rate below Graph's limits.
pub const BATCHES_IN_FLIGHT: usize = 8;

/// The registration-details report, only the columns the simulation uses.
pub const REPORT_PATH: &str = "/v1.0/reports/authenticationMethods/userRegistrationDetails?$select=id,userPrincipalName,methodsRegistered,userPreferredMethodForSecondaryAuthentication,isSystemPreferredAuthenticationMethodEnabled";
/// Rows asked for per report page: the report is limited in requests, not rows, so big pages
/// make big tenants fast. Its maximum is undocumented; a refusal falls back to its default.
pub const REPORT_TOP: usize = 1000;
/// Every user: id, UPN, and whether the account is enabled and a guest (who security
/// defaults and Conditional Access cover).
pub const USERS_PATH: &str =
    "/v1.0/users?$select=id,userPrincipalName,accountEnabled,userType&$top=999";

/// Who holds a directory role: its assignments, by role template id (a built-in role's
/// `roleDefinitionId` is its template id).
pub fn role_assignments_path(role: u128) -> String {
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
    let filter = format!("roleDefinitionId eq '{}'", format_guid(role));
    format!(
        "/v1.0/roleManagement/directory/roleAssignments?$filter={}&$select=principalId",
        utf8_percent_encode(&filter, NON_ALPHANUMERIC)
    )
}

/// The path of a group's transitive members, ids and UPNs.
pub fn members_path(group_id: &str) -> String {
    format!("/v1.0/groups/{group_id}/transitiveMembers?$select=id,userPrincipalName&$top=999")
}

/// The beta path of a user's sign-in preferences.
pub fn sign_in_preferences_path(user_id: u128) -> String {
    format!(
        "/beta/users/{}/authentication/signInPreferences",
        format_guid(user_id)
    )
}

/// The beta path of a user's legacy per-user MFA state.
pub fn requirements_path(user_id: u128) -> String {
    format!(
        "/beta/users/{}/authentication/requirements",
        format_guid(user_id)
    )
}

/// What to read of the directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirectoryNeeds {
    /// Every user from `/users` (the report leaves out disabled accounts).
    pub all_users: bool,
    /// Groups whose transitive members to read, by object id.
    pub groups: Vec<String>,
    /// Directory roles whose holders to read, by template id.
    pub roles: Vec<u128>,
}

fn row_id(row: &Value) -> Option<u128> {
    row["id"].as_str().and_then(parse_guid)
}

fn row_upn(row: &Value) -> Box<str> {
    row["userPrincipalName"].as_str().unwrap_or_default().into()
}

/// One row of the registration-details report, as kept.
pub struct ReportRow {
    /// The user, with registered methods.
    pub record: UserRecord,
    /// `userPreferredMethodForSecondaryAuthentication`.
    pub preferred: Option<PreferredMethod>,
    /// `isSystemPreferredAuthenticationMethodEnabled`.
    pub system_preferred: Option<bool>,
}

/// Reads the registration-details report page by page (every row, or one user's by UPN),
/// keeping a compact row per user.
pub async fn read_report(
    client: &GraphClient,
    user: Option<&str>,
    progress: &Progress,
) -> Result<Vec<ReportRow>, GraphError> {
    let started = std::time::Instant::now();
    let filter = user
        .map(|upn| {
            use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
            let filter = format!("userPrincipalName eq '{}'", upn.replace('\'', "''"));
            format!(
                "&$filter={}",
                utf8_percent_encode(&filter, NON_ALPHANUMERIC)
            )
        })
        .unwrap_or_default();
    let mut rows = Vec::new();
    let sized = format!("{REPORT_PATH}&$top={REPORT_TOP}{filter}");
    match read_report_pages(client, &sized, &mut rows, progress).await {
        Err(GraphError::BadRequest { .. }) if rows.is_empty() => {
            // The report's largest `$top` is not documented (FACTS.md §14): if the service
            // refuses ours, let it page at its own size.
            tracing::warn!(
                "the registration-details report refused $top={REPORT_TOP}; reading at its own page size"
            );
            read_report_pages(
                client,
                &format!("{REPORT_PATH}{filter}"),
                &mut rows,
                progress,
            )
            .await?;
        }
        other => other?,
    }
    progress.phase(&format!(
        "read {} registration rows in {:.1} s",
        crate::printer::thousands(rows.len() as u64),
        started.elapsed().as_secs_f64()
    ));
    Ok(rows)
}

async fn read_report_pages(
    client: &GraphClient,
    path: &str,
    rows: &mut Vec<ReportRow>,
    progress: &Progress,
) -> Result<(), GraphError> {
    client
        .for_each_page(path, |page| {
            progress.add(Counter::UsersRead, page.len() as u64);
            rows.extend(page.iter().filter_map(|row| {
                let id = row_id(row)?;
                let registered = Registered::from_values(
                    row["methodsRegistered"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str),
                );
                Some(ReportRow {
                    record: UserRecord {
                        id,
                        upn: row_upn(row),
                        registered,
                        in_report: true,
                        account: Account::default(),
                    },
                    preferred: row["userPreferredMethodForSecondaryAuthentication"]
                        .as_str()
                        .and_then(PreferredMethod::parse),
                    system_preferred: row["isSystemPreferredAuthenticationMethodEnabled"].as_bool(),
                })
            }));
            Ok(())
        })
        .await
}

/// Adds report rows to the directory; the default method and system-preferred flag they
/// carry are kept only for users whose sign-in preferences were not read themselves.
pub fn add_report(dir: &mut Directory, rows: Vec<ReportRow>) {
    for row in rows {
        let i = dir.upsert(row.record);
        if let Some(s) = dir.state_mut(i)
            && !s.sign_in_read
        {
            s.preferred = row.preferred;
            s.system_preferred = row.system_preferred;
        }
    }
}

/// Reads `/users` and the members of groups, as `needs` asks (not the report: see
/// [`read_report`]), concurrently, each page by page.
pub async fn read_directory(
    client: &GraphClient,
    needs: &DirectoryNeeds,
    progress: &Progress,
) -> Result<Directory, GraphError> {
    let started = std::time::Instant::now();
    let users = async {
        let mut users = Vec::new();
        if needs.all_users {
            client
                .for_each_page(USERS_PATH, |page| {
                    users.extend(page.iter().filter_map(|u| {
                        let account = Account::from_graph(
                            u["userType"].as_str(),
                            u["accountEnabled"].as_bool(),
                        );
                        Some((row_id(u)?, row_upn(u), account))
                    }));
                    Ok(())
                })
                .await?;
        }
        Ok::<_, GraphError>(users)
    };
    let groups = futures_util::future::try_join_all(needs.groups.iter().map(|g| async move {
        let mut members = Vec::new();
        let read = client
            .for_each_page(&members_path(g), |page| {
                members.extend(
                    page.iter()
                        .filter(|m| {
                            m["@odata.type"]
                                .as_str()
                                .is_none_or(|t| t.eq_ignore_ascii_case("#microsoft.graph.user"))
                        })
                        .filter_map(|m| Some((row_id(m)?, row_upn(m)))),
                );
                Ok(())
            })
            .await;
        match read {
            Ok(()) => {}
            // A group that no longer exists (a policy may name a deleted group: Graph keeps
            // the id) has no members: an answer, not a failed read.
            Err(GraphError::NotFound { .. }) => {
                tracing::warn!("group {g} does not exist; counted as having no members");
                members.clear();
            }
            Err(e) => return Err(e),
        }
        Ok::<_, GraphError>((g.clone(), members))
    }));
    let roles = futures_util::future::try_join_all(needs.roles.iter().map(|&role| async move {
        let mut holders = Vec::new();
        client
            .for_each_page(&role_assignments_path(role), |page| {
                holders.extend(
                    page.iter()
                        .filter_map(|a| a["principalId"].as_str().and_then(parse_guid)),
                );
                Ok(())
            })
            .await?;
        Ok::<_, GraphError>((role, holders))
    }));
    let (users, groups, roles) = tokio::try_join!(users, groups, roles)?;
    let mut dir = Directory::new();
    let listed = users.len();
    for (id, upn, account) in users {
        dir.upsert(UserRecord {
            id,
            upn,
            registered: Registered::default(),
            in_report: false,
            account,
        });
    }
    for (g, members) in groups {
        dir.set_group(&g, members);
    }
    for (role, holders) in roles {
        dir.set_role(role, &holders);
    }
    client.pacer().set_tenant_size(dir.users().len());
    let mut parts = Vec::new();
    if needs.all_users {
        parts.push(format!(
            "{} users",
            crate::printer::thousands(listed as u64)
        ));
    }
    if !needs.groups.is_empty() {
        parts.push(format!("the members of {} group(s)", needs.groups.len()));
    }
    if !needs.roles.is_empty() {
        parts.push(format!("the holders of {} role(s)", needs.roles.len()));
    }
    if !parts.is_empty() {
        progress.phase(&format!(
            "read {} in {:.1} s",
            parts.join(", "),
            started.elapsed().as_secs_f64()
        ));
    }
    Ok(dir)
}

/// Which per-user state to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserResource {
    /// `authentication/signInPreferences`.
    SignInPreferences,
    /// `authentication/requirements`.
    Requirements,
}

impl UserResource {
    /// The beta path for a user.
    pub fn path(self, user_id: u128) -> String {
        match self {
            Self::SignInPreferences => sign_in_preferences_path(user_id),
            Self::Requirements => requirements_path(user_id),
        }
    }
}

/// Sends `requests` in `$batch` POSTs of [`MAX_BATCH`], [`BATCHES_IN_FLIGHT`] at a time,
/// making the requests as they are needed, and hands each POST's responses to `each` as they
/// arrive (in no particular order: correlate by id). Memory holds the POSTs in flight, not
/// the whole run. After an error no new POST is started, the ones in flight are let finish
/// (a PATCH already sent gets its answer), and the first error is returned.
pub async fn batched(
    client: &GraphClient,
    requests: impl Iterator<Item = BatchRequest>,
    mut each: impl FnMut(Vec<BatchResponse>) -> Result<(), GraphError>,
) -> Result<(), GraphError> {
    let failed = std::sync::atomic::AtomicBool::new(false);
    let mut requests = requests.peekable();
    let chunks = std::iter::from_fn(|| {
        if failed.load(std::sync::atomic::Ordering::SeqCst) {
            return None;
        }
        requests.peek()?;
        Some(requests.by_ref().take(MAX_BATCH).collect::<Vec<_>>())
    });
    let mut stream = futures_util::stream::iter(chunks.map(|chunk| client.batch(chunk)))
        .buffer_unordered(BATCHES_IN_FLIGHT);
    let mut first_error = None;
    while let Some(result) = stream.next().await {
        if let Err(e) = result.and_then(&mut each) {
            failed.store(true, std::sync::atomic::Ordering::SeqCst);
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// What one per-user read found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateRead {
    /// `signInPreferences`.
    SignIn {
        /// The default method.
        preferred: Option<PreferredMethod>,
        /// The user's own system-preferred flag.
        system_preferred: bool,
    },
    /// `requirements`.
    Requirements(Option<PerUserMfaState>),
}

/// Reads `resource` for `users` (directory index, object id). A user deleted since it was
/// listed (404) is left out; any other failure fails the read, never an empty state.
pub async fn read_states(
    client: &GraphClient,
    users: &[(u32, u128)],
    resource: UserResource,
    progress: &Progress,
) -> Result<Vec<(u32, StateRead)>, GraphError> {
    let mut out = Vec::with_capacity(users.len());
    if users.is_empty() {
        return Ok(out);
    }
    let started = std::time::Instant::now();
    let requests = users
        .iter()
        .map(|&(i, id)| BatchRequest::get(i.to_string(), resource.path(id)));
    batched(client, requests, |responses| {
        progress.add(Counter::UsersRead, responses.len() as u64);
        for response in responses {
            let Ok(index) = response.id.parse::<u32>() else {
                continue;
            };
            let body = match response.into_result() {
                Ok(body) => body.unwrap_or(Value::Null),
                Err(GraphError::NotFound { .. }) => continue,
                Err(e) => return Err(e),
            };
            out.push((
                index,
                match resource {
                    UserResource::SignInPreferences => StateRead::SignIn {
                        preferred: body["userPreferredMethodForSecondaryAuthentication"]
                            .as_str()
                            .and_then(PreferredMethod::parse),
                        system_preferred: body["isSystemPreferredAuthenticationMethodEnabled"]
                            .as_bool()
                            .unwrap_or(false),
                    },
                    UserResource::Requirements => StateRead::Requirements(
                        body["perUserMfaState"]
                            .as_str()
                            .and_then(PerUserMfaState::parse),
                    ),
                },
            ));
        }
        Ok(())
    })
    .await?;
    progress.phase(&format!(
        "read the {} of {} user(s) in {:.1} s",
        match resource {
            UserResource::SignInPreferences => "sign-in preferences",
            UserResource::Requirements => "per-user MFA state",
        },
        crate::printer::thousands(users.len() as u64),
        started.elapsed().as_secs_f64()
    ));
    Ok(out)
}

/// Records what [`read_states`] found.
pub fn add_states(dir: &mut Directory, reads: Vec<(u32, StateRead)>) {
    for (index, read) in reads {
        let Some(state) = dir.state_mut(index) else {
            continue;
        };
        match read {
            StateRead::SignIn {
                preferred,
                system_preferred,
            } => {
                state.preferred = preferred;
                state.system_preferred = Some(system_preferred);
                state.sign_in_read = true;
            }
            StateRead::Requirements(mfa) => state.per_user_mfa = mfa,
        }
    }
}

/// (index, object id) of the users at `indexes`.
pub fn ids(dir: &Directory, indexes: &[u32]) -> Vec<(u32, u128)> {
    indexes
        .iter()
        .filter_map(|&i| dir.users().get(i as usize).map(|u| (i, u.id)))
        .collect()
}
