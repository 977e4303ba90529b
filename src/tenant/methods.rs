//! Each user's registered methods, for the simulation, on every tenant: from the
//! registration-details report where the tenant has it, and where it has not (the report
//! needs Microsoft Entra ID P1 or P2 and answers 403
//! `Authentication_RequestFromNonPremiumTenantOrB2CTenant` without, FACTS.md §6) from each
//! user's own `authentication/methods` and `authentication/signInPreferences`, read through
//! `$batch` with the same pacing as every per-user read. Either way the result is the rows
//! the report gives, so the planner above does not know which was read.
//!
//! The methods are read on beta: v1.0 does not list hardware OATH tokens (FACTS-CA item 42),
//! and the sign-in preferences, which the report's other two columns come from, exist on
//! beta only (FACTS.md §7); one version puts a user's two reads in the same `$batch` POST.
//! Microsoft advises the report, not these reads, for a whole directory
//! (authentication-list-methods), which is why they are only the fallback.
//!
//! A read that fails is never taken for "nothing registered": a user deleted since the
//! listing (404) is left out, as the report would leave them out; a refusal (403, e.g.
//! without UserAuthenticationMethod.Read.All) leaves every user out and says why, so that
//! the plan is made without the impact rather than with a wrong one; anything else fails.

use std::time::Instant;

use serde_json::Value;

use super::users::{self, ReportRow, USERS_PATH};
use crate::graph::{BatchRequest, GraphClient, GraphError, RequestContext};
use crate::msgraph::PreferredMethod;
use crate::msgraph::user_methods::registered_value;
use crate::printer::{Counter, Progress};
use crate::simulate::directory::{Registered, UserRecord, format_guid, parse_guid};

/// The report's answer on a tenant without P1 or P2 (FACTS.md §6; the emulator's too).
pub const NON_PREMIUM_CODE: &str = "Authentication_RequestFromNonPremiumTenantOrB2CTenant";

/// The beta path of a user's registered methods.
pub fn methods_path(user_id: u128) -> String {
    format!(
        "/beta/users/{}/authentication/methods",
        format_guid(user_id)
    )
}

/// The registration rows read, or why none could be.
#[derive(Default)]
pub struct Registrations {
    /// One row per user read, as [`users::read_report`] gives them.
    pub rows: Vec<ReportRow>,
    /// Why no user's methods could be read (both ways were refused); `rows` is then empty.
    pub unreadable: Option<String>,
}

/// Whether `e` is the report's refusal for a tenant without P1 or P2.
pub fn is_non_premium(e: &GraphError) -> bool {
    matches!(e, GraphError::Forbidden { code, .. } if code.eq_ignore_ascii_case(NON_PREMIUM_CODE))
}

/// Reads the registration rows of every user, or of one by UPN: the report, else each
/// user's methods. When both are refused, the result says why, unless `required` (the
/// caller cannot go on without them: `explain`), which makes the refusal an error.
pub async fn read_registrations(
    client: &GraphClient,
    user: Option<&str>,
    required: bool,
    progress: &Progress,
) -> Result<Registrations, GraphError> {
    let refused = match users::read_report(client, user, progress).await {
        Err(e) if is_non_premium(&e) => e,
        other => {
            return other.map(|rows| Registrations {
                rows,
                unreadable: None,
            });
        }
    };
    tracing::info!(
        "the registration-details report is refused ({refused}); reading each user's registered methods instead"
    );
    match read_methods(client, user, progress).await {
        Err(e @ GraphError::Forbidden { .. }) if !required => Ok(Registrations {
            rows: Vec::new(),
            unreadable: Some(format!(
                "the tenant has no registration-details report (it needs Microsoft Entra ID P1 or P2) and reading each user's registered methods was refused: {e}"
            )),
        }),
        other => other.map(|rows| Registrations {
            rows,
            unreadable: None,
        }),
    }
}

/// The enabled users (or the one named), then their methods and sign-in preferences, two
/// GETs a user in `$batch` POSTs of twenty, paced like every per-user read.
async fn read_methods(
    client: &GraphClient,
    user: Option<&str>,
    progress: &Progress,
) -> Result<Vec<ReportRow>, GraphError> {
    let started = Instant::now();
    let path = match user {
        Some(upn) => {
            use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
            let filter = format!("userPrincipalName eq '{}'", upn.replace('\'', "''"));
            format!(
                "{USERS_PATH}&$filter={}",
                utf8_percent_encode(&filter, NON_ALPHANUMERIC)
            )
        }
        None => USERS_PATH.to_string(),
    };
    let mut people: Vec<(u128, Box<str>)> = Vec::new();
    client
        .for_each_page(&path, |page| {
            people.extend(
                page.iter()
                    .filter(|u| u["accountEnabled"].as_bool() != Some(false))
                    .filter_map(|u| {
                        let id = u["id"].as_str().and_then(parse_guid)?;
                        Some((
                            id,
                            u["userPrincipalName"].as_str().unwrap_or_default().into(),
                        ))
                    }),
            );
            Ok(())
        })
        .await?;
    let mut registered: Vec<Option<Registered>> = vec![None; people.len()];
    let mut preferences: Vec<Option<(Option<PreferredMethod>, Option<bool>)>> =
        vec![None; people.len()];
    let requests = people.iter().enumerate().flat_map(|(i, (id, _))| {
        [
            BatchRequest::get(format!("m{i}"), methods_path(*id)),
            BatchRequest::get(format!("s{i}"), users::sign_in_preferences_path(*id)),
        ]
    });
    users::batched(client, requests, |responses| {
        for response in responses {
            let (kind, index) = response.id.split_at(1);
            let is_methods = kind == "m";
            let Ok(i) = index.parse::<usize>() else {
                continue;
            };
            let Some(&(id, _)) = people.get(i) else {
                continue;
            };
            let body = match response.into_result() {
                Ok(body) => body.unwrap_or(Value::Null),
                Err(GraphError::NotFound { .. }) => continue,
                Err(e) => return Err(e),
            };
            if is_methods {
                registered[i] =
                    Some(
                        registered_of(&body).ok_or_else(|| GraphError::InvalidResponse {
                            request: Box::new(RequestContext {
                                method: "GET".into(),
                                path: methods_path(id),
                                request_id: None,
                            }),
                            status: 200,
                            reason: "the body has no `value` array".into(),
                        })?,
                    );
                progress.add(Counter::UsersRead, 1);
            } else {
                preferences[i] = Some((
                    body["userPreferredMethodForSecondaryAuthentication"]
                        .as_str()
                        .and_then(PreferredMethod::parse),
                    body["isSystemPreferredAuthenticationMethodEnabled"].as_bool(),
                ));
            }
        }
        Ok(())
    })
    .await?;
    let rows: Vec<ReportRow> = people
        .into_iter()
        .zip(registered.into_iter().zip(preferences))
        .filter_map(|((id, upn), read)| match read {
            (Some(registered), Some((preferred, system_preferred))) => Some(ReportRow {
                record: UserRecord {
                    id,
                    upn,
                    registered,
                    in_report: true,
                    account: Default::default(),
                },
                preferred,
                system_preferred,
            }),
            _ => None,
        })
        .collect();
    progress.phase(&format!(
        "read the registered methods of {} user(s) in {:.1} s (no registration-details report without Entra ID P1)",
        crate::printer::thousands(rows.len() as u64),
        started.elapsed().as_secs_f64()
    ));
    Ok(rows)
}

/// The `methodsRegistered` values a methods list stands for; `None` when the body is not a
/// list.
fn registered_of(body: &Value) -> Option<Registered> {
    let methods = body["value"].as_array()?;
    Some(Registered::from_values(
        methods.iter().filter_map(registered_value),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_list_reads_as_report_values_and_anything_else_as_unreadable() {
        let body = json!({"value": [
            {"@odata.type": "#microsoft.graph.passwordAuthenticationMethod", "id": "p"},
            {"@odata.type": "#microsoft.graph.phoneAuthenticationMethod", "phoneType": "office"},
            {"@odata.type": "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod"},
            {"@odata.type": "#microsoft.graph.somethingNewAuthenticationMethod"},
        ]});
        let r = registered_of(&body).unwrap();
        assert_eq!(
            r.values().collect::<Vec<_>>(),
            ["microsoftAuthenticatorPush", "officePhone"]
        );
        assert!(registered_of(&json!({"value": []})).unwrap().is_empty());
        assert_eq!(registered_of(&json!({"error": {}})), None);
        assert_eq!(registered_of(&Value::Null), None);
    }

    #[test]
    fn only_the_non_premium_refusal_falls_back() {
        let forbidden = |code: &str| GraphError::Forbidden {
            request: Box::new(RequestContext {
                method: "GET".into(),
                path: "/v1.0/reports/authenticationMethods/userRegistrationDetails".into(),
                request_id: None,
            }),
            code: code.into(),
            message: "m".into(),
            permission: None,
        };
        assert!(is_non_premium(&forbidden(NON_PREMIUM_CODE)));
        assert!(!is_non_premium(&forbidden("Authorization_RequestDenied")));
        assert!(!is_non_premium(&GraphError::Setup { reason: "x".into() }));
    }
}
