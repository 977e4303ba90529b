//! Temporary Access Passes for onboarding (FACTS-CA §F): a pass for one user or for every
//! member of a group, after checking the live `TemporaryAccessPass` method configuration,
//! and the revocation of a user's pass.
//!
//! Graph creates a pass for any user the policy lets it ("only users included in the policy
//! can sign-in with it", item 49), so mfactl checks before it sends: the method enabled, the
//! lifetime within the configuration's minimum and maximum, a multi-use pass only where the
//! configuration does not force one-time passes, the user not a guest (item 50) and in the
//! configuration's targets. A refusal sends nothing.
//!
//! The pass is in the create response only (item 47). It is held in a [`Secret`] from the
//! moment it is read, handed to the caller, and never logged nor written to the audit log,
//! whose line for a pass holds its id, start, lifetime and one-time setting.

pub mod wave;

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::apply::{AuditError, AuditLog};
use crate::graph::{GraphClient, GraphError};
use crate::kinds::PropertyChange;
use crate::printer::Progress;
use crate::simulate::directory::{Account, Directory, Registered, UserRecord, parse_guid};
use crate::simulate::explain::Targets;
use crate::support::secret::Secret;
use crate::tenant::users::{DirectoryNeeds, read_directory};

pub use wave::{WaveOutcome, issue_wave};

/// The live `TemporaryAccessPass` method configuration (v1.0).
pub const CONFIGURATION_PATH: &str = "/v1.0/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/TemporaryAccessPass";

/// The property an audit line of a pass is recorded under.
const AUDIT_PROPERTY: &str = "temporaryAccessPassMethod";

/// A user's passes (Graph lists at most one).
pub fn passes_path(user_id: &str) -> String {
    format!("/v1.0/users/{user_id}/authentication/temporaryAccessPassMethods")
}

/// The user, by UPN or object id, with what the checks need.
fn user_path(user: &str) -> String {
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
    format!(
        "/v1.0/users/{}?$select=id,userPrincipalName,userType",
        utf8_percent_encode(user, NON_ALPHANUMERIC)
    )
}

/// Why a pass or a revocation failed.
#[derive(Debug, thiserror::Error)]
pub enum TapError {
    /// Graph or the token endpoint failed.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// The tenant's Temporary Access Pass configuration does not allow the pass; nothing
    /// was sent.
    #[error("refused: {0}; nothing was sent")]
    Refused(Refusal),
    /// No user has this UPN or id.
    #[error("no user '{0}' in the tenant")]
    NoSuchUser(String),
    /// The group name does not resolve to exactly one group.
    #[error("group '{name}': {reason}")]
    UnknownGroup {
        /// The name given.
        name: String,
        /// Why it does not resolve.
        reason: String,
    },
    /// The audit log cannot be written.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// The passes of a wave cannot be written to their file.
    #[error("cannot write the passes to {path}: {source}")]
    Out {
        /// The file.
        path: std::path::PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
}

/// Why the tenant's configuration does not allow a pass.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The Temporary Access Pass method is not enabled.
    #[error("the Temporary Access Pass method is not enabled in the authentication methods policy")]
    Disabled,
    /// The lifetime is outside the configuration's bounds.
    #[error(
        "a lifetime of {requested} minutes is outside the policy's {minimum}–{maximum} minutes (minimumLifetimeInMinutes, maximumLifetimeInMinutes)"
    )]
    Lifetime {
        /// Minutes asked for.
        requested: u32,
        /// The configuration's minimum.
        minimum: u32,
        /// The configuration's maximum.
        maximum: u32,
    },
    /// A multi-use pass where the configuration forces one-time passes.
    #[error("the policy allows one-time passes only (isUsableOnce is true); use --once")]
    OneTimeOnly,
    /// The user is a guest.
    #[error(
        "{0} is a guest (userType Guest): Temporary Access Pass cannot be added to an external guest user"
    )]
    Guest(String),
    /// The configuration does not target the user.
    #[error(
        "the Temporary Access Pass method does not target {user} (included: {included}{excluded}), so the pass could not be used to sign in"
    )]
    NotTargeted {
        /// The user's UPN.
        user: String,
        /// Who the configuration includes.
        included: String,
        /// Who it excludes, when it excludes the user.
        excluded: String,
    },
}

/// What the command line asks for; `None` leaves the choice to the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassRequest {
    /// `lifetimeInMinutes`.
    pub lifetime_minutes: Option<u32>,
    /// `isUsableOnce`.
    pub once: Option<bool>,
    /// `startDateTime`, RFC 3339.
    pub start: Option<String>,
}

impl PassRequest {
    /// The create body: only what was asked for (Graph applies the configuration's default
    /// lifetime and one-time setting otherwise).
    fn body(&self) -> Value {
        let mut body = serde_json::Map::new();
        if let Some(s) = &self.start {
            body.insert("startDateTime".into(), json!(s));
        }
        if let Some(l) = self.lifetime_minutes {
            body.insert("lifetimeInMinutes".into(), json!(l));
        }
        if let Some(o) = self.once {
            body.insert("isUsableOnce".into(), json!(o));
        }
        Value::Object(body)
    }
}

/// The tenant's `TemporaryAccessPass` configuration, as the checks use it.
#[derive(Debug, Clone)]
pub struct TapPolicy {
    enabled: bool,
    include: Targets,
    exclude: Targets,
    minimum: u32,
    maximum: u32,
    once_only: bool,
}

impl TapPolicy {
    /// Reads the live configuration (one GET). A failed read is an error, never a default.
    pub async fn read(client: &GraphClient) -> Result<Self, GraphError> {
        Ok(Self::from_graph(&client.get(CONFIGURATION_PATH).await?))
    }

    /// From the configuration as Graph serves it; an absent bound is the documented one.
    pub fn from_graph(c: &Value) -> Self {
        use crate::msgraph::methods::{TAP_MAX_LIFETIME_MINUTES, TAP_MIN_LIFETIME_MINUTES};
        let minutes = |key: &str, default: u32| {
            c[key]
                .as_u64()
                .and_then(|m| u32::try_from(m).ok())
                .unwrap_or(default)
        };
        Self {
            enabled: c["state"] == "enabled",
            include: Targets::read(&c["includeTargets"]),
            exclude: Targets::read(&c["excludeTargets"]),
            minimum: minutes("minimumLifetimeInMinutes", TAP_MIN_LIFETIME_MINUTES),
            maximum: minutes("maximumLifetimeInMinutes", TAP_MAX_LIFETIME_MINUTES),
            once_only: c["isUsableOnce"].as_bool().unwrap_or(false),
        }
    }

    /// The checks that do not depend on the user: enabled, lifetime, one-time setting.
    pub fn check(&self, request: &PassRequest) -> Result<(), Refusal> {
        if !self.enabled {
            return Err(Refusal::Disabled);
        }
        if let Some(requested) = request.lifetime_minutes
            && !(self.minimum..=self.maximum).contains(&requested)
        {
            return Err(Refusal::Lifetime {
                requested,
                minimum: self.minimum,
                maximum: self.maximum,
            });
        }
        if self.once_only && request.once == Some(false) {
            return Err(Refusal::OneTimeOnly);
        }
        Ok(())
    }

    /// The groups whose members decide who is targeted.
    fn groups(&self) -> Vec<String> {
        let mut groups = self.include.groups().to_vec();
        groups.extend(self.exclude.groups().iter().cloned());
        groups
    }

    /// The checks of one user of `dir`: not a guest, and targeted.
    fn check_user(&self, dir: &Directory, index: u32, user: &TapUser) -> Result<(), Refusal> {
        if user.guest {
            return Err(Refusal::Guest(user.upn.clone()));
        }
        let excluded = self.exclude.covers(dir, index);
        if self.include.covers(dir, index) && !excluded {
            return Ok(());
        }
        Err(Refusal::NotTargeted {
            user: user.upn.clone(),
            included: self.include.describe(),
            excluded: if excluded {
                format!("; excluded: {}", self.exclude.describe())
            } else {
                String::new()
            },
        })
    }
}

/// A user a pass is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapUser {
    /// Object id.
    pub id: String,
    /// User principal name.
    pub upn: String,
    /// `userType` is `Guest`.
    pub guest: bool,
}

impl TapUser {
    /// From a user object with `id`, `userPrincipalName` and `userType`.
    fn from_graph(u: &Value) -> Option<Self> {
        Some(Self {
            id: u["id"].as_str()?.to_string(),
            upn: u["userPrincipalName"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            guest: u["userType"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case("guest")),
        })
    }

    /// The directory record the target checks look the user up by.
    fn record(&self) -> Option<UserRecord> {
        Some(UserRecord {
            id: parse_guid(&self.id)?,
            upn: self.upn.as_str().into(),
            registered: Registered::default(),
            in_report: false,
            account: Account::from_graph(None, None),
        })
    }

    /// Where its passes are.
    fn passes(&self) -> String {
        passes_path(&self.id)
    }

    /// How audit lines name it.
    fn resource(&self) -> String {
        format!(
            "users/{}/authentication/temporaryAccessPassMethods",
            self.upn
        )
    }
}

/// A pass as listed (without its code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassInfo {
    /// Its id.
    pub id: String,
    /// `startDateTime`.
    pub start: String,
    /// `lifetimeInMinutes`.
    pub lifetime_minutes: u32,
    /// `isUsableOnce`.
    pub once: bool,
    /// `methodUsabilityReason` (`EnabledByPolicy`, `NotYetValid`, `Expired`, …).
    pub usability: Option<String>,
}

impl PassInfo {
    /// From a `temporaryAccessPassAuthenticationMethod`.
    fn from_graph(p: &Value) -> Option<Self> {
        Some(Self {
            id: p["id"].as_str()?.to_string(),
            start: p["startDateTime"].as_str().unwrap_or_default().to_string(),
            lifetime_minutes: p["lifetimeInMinutes"]
                .as_u64()
                .and_then(|m| u32::try_from(m).ok())
                .unwrap_or_default(),
            once: p["isUsableOnce"].as_bool().unwrap_or(false),
            usability: p["methodUsabilityReason"].as_str().map(str::to_string),
        })
    }

    /// When it expires (RFC 3339), or the start as given when it cannot be read.
    pub fn expires(&self) -> String {
        OffsetDateTime::parse(&self.start, &Rfc3339)
            .ok()
            .map(|s| s + time::Duration::minutes(i64::from(self.lifetime_minutes)))
            .and_then(|e| e.format(&Rfc3339).ok())
            .unwrap_or_else(|| self.start.clone())
    }

    /// What the audit log records of it: never the code.
    fn audited(&self) -> Value {
        json!({
            "id": self.id,
            "startDateTime": self.start,
            "lifetimeInMinutes": self.lifetime_minutes,
            "isUsableOnce": self.once,
        })
    }
}

/// A pass created.
#[derive(Debug, Clone)]
pub struct Issued {
    /// For whom.
    pub user: TapUser,
    /// The code: for the one intended output only.
    pub pass: Secret,
    /// What Graph says of it.
    pub info: PassInfo,
    /// The pass it replaced, if the user had one.
    pub replaced: Option<PassInfo>,
}

/// Reads the create response: the code into a [`Secret`] and the rest.
fn issued(user: TapUser, body: Option<Value>, replaced: Option<PassInfo>) -> Option<Issued> {
    let mut body = body?;
    let pass = match body.get_mut("temporaryAccessPass").map(Value::take) {
        Some(Value::String(code)) => Secret::new(code),
        _ => return None,
    };
    Some(Issued {
        user,
        pass,
        info: PassInfo::from_graph(&body)?,
        replaced,
    })
}

/// The error for a create response without a pass.
fn no_pass(user: &TapUser) -> GraphError {
    GraphError::InvalidResponse {
        request: Box::new(crate::graph::RequestContext {
            method: "POST".into(),
            path: user.passes(),
            request_id: None,
        }),
        status: 201,
        reason: "the created method has no `temporaryAccessPass` or `id`".into(),
    }
}

/// Reads a user by UPN or id; a 404 is [`TapError::NoSuchUser`].
async fn read_user(client: &GraphClient, user: &str) -> Result<TapUser, TapError> {
    match client.get(&user_path(user)).await {
        Ok(u) => TapUser::from_graph(&u).ok_or_else(|| TapError::NoSuchUser(user.to_string())),
        Err(GraphError::NotFound { .. }) => Err(TapError::NoSuchUser(user.to_string())),
        Err(e) => Err(e.into()),
    }
}

/// The user's current pass, if any.
async fn current_pass(client: &GraphClient, user: &TapUser) -> Result<Option<PassInfo>, TapError> {
    let listed = client.get_all(&user.passes()).await?;
    Ok(listed.iter().find_map(PassInfo::from_graph))
}

/// The members of the groups the configuration targets, and of `extra_groups`.
async fn directory(
    client: &GraphClient,
    policy: &TapPolicy,
    extra_groups: &[String],
    progress: &Progress,
) -> Result<Directory, GraphError> {
    let mut groups = policy.groups();
    groups.extend(extra_groups.iter().cloned());
    groups.sort();
    groups.dedup();
    let needs = DirectoryNeeds {
        groups,
        ..DirectoryNeeds::default()
    };
    read_directory(client, &needs, progress).await
}

/// The audit line of a pass created (or not: `error`).
fn audit_issue(
    audit: &mut AuditLog,
    tenant: &str,
    user: &TapUser,
    before: Option<&PassInfo>,
    after: Option<&PassInfo>,
    error: Option<&str>,
) -> Result<(), AuditError> {
    let change = PropertyChange {
        name: AUDIT_PROPERTY.into(),
        before: before.map_or(Value::Null, PassInfo::audited),
        after: after.map_or(Value::Null, PassInfo::audited),
    };
    let result = if error.is_some() { "failed" } else { "applied" };
    audit.record(tenant, &user.resource(), &[change], result, error)
}

/// Issues a pass for one user (UPN or object id) after every check; the user's previous
/// pass, which Graph deletes, is in [`Issued::replaced`].
pub async fn issue(
    client: &GraphClient,
    audit: &mut AuditLog,
    tenant: &str,
    user: &str,
    request: &PassRequest,
    progress: &Progress,
) -> Result<Issued, TapError> {
    let policy = TapPolicy::read(client).await?;
    policy.check(request).map_err(TapError::Refused)?;
    let user = read_user(client, user).await?;
    if user.guest {
        return Err(TapError::Refused(Refusal::Guest(user.upn)));
    }
    let mut dir = directory(client, &policy, &[], progress).await?;
    let record = user
        .record()
        .ok_or_else(|| TapError::NoSuchUser(user.id.clone()))?;
    let index = dir.upsert(record);
    policy
        .check_user(&dir, index, &user)
        .map_err(TapError::Refused)?;
    let replaced = current_pass(client, &user).await?;
    match client.post(&user.passes(), &request.body()).await {
        Ok(body) => {
            let issued = issued(user.clone(), body, replaced).ok_or_else(|| no_pass(&user))?;
            audit_issue(
                audit,
                tenant,
                &user,
                issued.replaced.as_ref(),
                Some(&issued.info),
                None,
            )?;
            Ok(issued)
        }
        Err(e) => {
            audit_issue(
                audit,
                tenant,
                &user,
                replaced.as_ref(),
                None,
                Some(&e.to_string()),
            )?;
            Err(e.into())
        }
    }
}

/// Deletes the user's pass: the pass deleted, or `None` when there was none (nothing sent).
pub async fn revoke(
    client: &GraphClient,
    audit: &mut AuditLog,
    tenant: &str,
    user: &str,
) -> Result<(TapUser, Option<PassInfo>), TapError> {
    let user = read_user(client, user).await?;
    let Some(pass) = current_pass(client, &user).await? else {
        return Ok((user, None));
    };
    let result = client
        .delete(&format!("{}/{}", user.passes(), pass.id))
        .await;
    let change = PropertyChange {
        name: AUDIT_PROPERTY.into(),
        before: pass.audited(),
        after: Value::Null,
    };
    let error = result.as_ref().err().map(ToString::to_string);
    let outcome = if error.is_some() { "failed" } else { "applied" };
    audit.record(
        tenant,
        &user.resource(),
        &[change],
        outcome,
        error.as_deref(),
    )?;
    result?;
    Ok((user, Some(pass)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(extra: Value) -> TapPolicy {
        let mut c = json!({
            "state": "enabled",
            "includeTargets": [{"targetType": "group", "id": "all_users"}],
            "minimumLifetimeInMinutes": 60,
            "maximumLifetimeInMinutes": 480,
            "isUsableOnce": false,
        });
        if let (Some(c), Value::Object(extra)) = (c.as_object_mut(), extra) {
            c.extend(extra);
        }
        TapPolicy::from_graph(&c)
    }

    #[test]
    fn the_configuration_decides_lifetime_and_one_time_use() {
        let lifetime = |m| PassRequest {
            lifetime_minutes: Some(m),
            ..PassRequest::default()
        };
        let p = policy(json!({}));
        assert_eq!(p.check(&lifetime(60)), Ok(()));
        assert_eq!(p.check(&lifetime(480)), Ok(()));
        assert!(matches!(
            p.check(&lifetime(59)),
            Err(Refusal::Lifetime { minimum: 60, .. })
        ));
        assert!(matches!(
            p.check(&lifetime(481)),
            Err(Refusal::Lifetime { maximum: 480, .. })
        ));
        let reusable = PassRequest {
            once: Some(false),
            ..PassRequest::default()
        };
        assert_eq!(p.check(&reusable), Ok(()));
        let once_only = policy(json!({"isUsableOnce": true}));
        assert_eq!(once_only.check(&reusable), Err(Refusal::OneTimeOnly));
        let once = PassRequest {
            once: Some(true),
            ..PassRequest::default()
        };
        assert_eq!(once_only.check(&once), Ok(()));
        assert_eq!(
            policy(json!({"state": "disabled"})).check(&once),
            Err(Refusal::Disabled)
        );
    }

    #[test]
    fn only_what_was_asked_for_is_sent() {
        assert_eq!(PassRequest::default().body(), json!({}));
        let r = PassRequest {
            lifetime_minutes: Some(90),
            once: Some(true),
            start: Some("2099-01-01T00:00:00Z".into()),
        };
        assert_eq!(
            r.body(),
            json!({"startDateTime": "2099-01-01T00:00:00Z", "lifetimeInMinutes": 90, "isUsableOnce": true})
        );
    }

    #[test]
    fn the_code_is_taken_out_of_the_create_response() {
        let user = TapUser {
            id: "u".into(),
            upn: "ada@contoso.com".into(),
            guest: false,
        };
        let body = json!({
            "id": "p1", "temporaryAccessPass": "+drkzqAD",
            "startDateTime": "2022-06-05T00:00:00Z", "lifetimeInMinutes": 60,
            "isUsableOnce": false, "methodUsabilityReason": "NotYetValid",
        });
        let i = issued(user.clone(), Some(body), None).unwrap();
        assert_eq!(i.pass.expose(), "+drkzqAD");
        assert_eq!(i.info.expires(), "2022-06-05T01:00:00Z");
        assert!(!format!("{i:?}").contains("+drkzqAD"));
        assert!(!i.info.audited().to_string().contains("+drkzqAD"));
        let listed = json!({"id": "p1", "temporaryAccessPass": null});
        assert!(issued(user, Some(listed), None).is_none());
    }
}
