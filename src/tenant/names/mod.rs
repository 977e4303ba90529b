//! Resolving the names that declarations write where Graph takes an id — group display
//! names and user principal names in targets, and in Conditional Access policies also
//! directory role, named location and authentication strength display names — into ids, at
//! tenant scale, and reporting every name that does not resolve to exactly one object at
//! once, as MFA038 diagnostics with a suggestion where the tenant has a close name.
//!
//! Users and groups: one GET per distinct name, twenty to a `$batch` POST,
//! [`BATCHES_IN_FLIGHT`](super::users::BATCHES_IN_FLIGHT) POSTs at a
//! time through the client's pacer: a steady-state plan whose names all resolve pays one
//! round of requests (and no more rounds than the pacer needs). Only when some name fails to
//! resolve does a second round run, one `startswith` query per distinct prefix (the
//! first two characters), whose first page is the candidates a suggestion is drawn from.
//!
//! Directory roles, named locations and authentication strengths are few: each collection a
//! name is needed from is listed once, alongside that round, and matched by display name
//! ([`listed`]); its names are the candidates for a suggestion. The built-in strengths are
//! known without a read. A location or strength that a document of the same policy set
//! declares ([`Names::declare`]) and the tenant lacks resolves to the placeholder of the id
//! its create will answer.

pub mod described;
mod listed;

use std::collections::HashMap;

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

use super::users::batched;
use crate::graph::{BatchRequest, GraphClient, GraphError};
use crate::msgraph::conditional_access::{
    NAMED_LOCATIONS_PATH, ROLE_TEMPLATES_PATH, STRENGTHS_PATH,
};
use crate::printer::{Counter, Progress};
use crate::source::diagnostic::{Diagnostic, Location, Severity, codes};

/// What a name is the name of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NameKind {
    /// A group, by display name.
    Group,
    /// A user, by user principal name.
    User,
    /// A directory role, by its template's display name.
    Role,
    /// A named location, by display name.
    Location,
    /// An authentication strength, by display name.
    Strength,
}

/// Characters of a name that a suggestion query asks for as a prefix.
const PREFIX_CHARS: usize = 2;

impl NameKind {
    /// The target type the name is declared under (`group`, `user`).
    pub fn parse(target_type: &str) -> Option<Self> {
        match target_type {
            "group" => Some(Self::Group),
            "user" => Some(Self::User),
            _ => None,
        }
    }

    /// What an object of this kind is called in messages.
    pub fn noun(self) -> &'static str {
        match self {
            Self::Group => "group",
            Self::User => "user",
            Self::Role => "directory role",
            Self::Location => "named location",
            Self::Strength => "authentication strength",
        }
    }

    /// The collection names of this kind are matched in, listed once: `None` for users and
    /// groups, which are looked up one by one.
    fn listing(self) -> Option<&'static str> {
        match self {
            Self::Group | Self::User => None,
            Self::Role => Some(ROLE_TEMPLATES_PATH),
            Self::Location => Some(NAMED_LOCATIONS_PATH),
            Self::Strength => Some(STRENGTHS_PATH),
        }
    }

    /// The GET that finds the object(s) of this name: the user by UPN (404 when there is
    /// none), the groups with exactly this display name (Graph compares it without case), or
    /// the listing of a collection.
    fn lookup_path(self, name: &str) -> String {
        match self {
            Self::User => format!(
                "/v1.0/users/{}?$select=id,userPrincipalName",
                utf8_percent_encode(name, NON_ALPHANUMERIC)
            ),
            Self::Group => {
                let filter = format!("displayName eq '{}'", literal(name));
                format!(
                    "/v1.0/groups?$filter={}&$select=id,displayName",
                    utf8_percent_encode(&filter, NON_ALPHANUMERIC)
                )
            }
            Self::Role | Self::Location | Self::Strength => {
                self.listing().unwrap_or_default().to_string()
            }
        }
    }

    /// The property a suggestion is drawn from.
    fn name_property(self) -> &'static str {
        match self {
            Self::User => "userPrincipalName",
            _ => "displayName",
        }
    }

    /// The first page of users or groups whose name starts with `prefix`: the candidates
    /// for a suggestion. `None` for a listed kind, whose listing is its candidates.
    fn candidates_path(self, prefix: &str) -> Option<String> {
        let set = match self {
            Self::Group => "groups",
            Self::User => "users",
            Self::Role | Self::Location | Self::Strength => return None,
        };
        let property = self.name_property();
        let filter = format!("startswith({property},'{}')", literal(prefix));
        Some(format!(
            "/v1.0/{set}?$filter={}&$select={property}&$top=999",
            utf8_percent_encode(&filter, NON_ALPHANUMERIC)
        ))
    }
}

/// OData string literal: single quotes doubled.
fn literal(s: &str) -> String {
    s.replace('\'', "''")
}

/// What a name resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The object id, or the placeholder of the id a create of the same plan will answer.
    pub id: String,
    /// For a user, the UPN as the directory writes it.
    pub upn: Option<String>,
}

/// The distinct names a declaration uses, each with where it is first written, and the
/// names the declaration itself creates.
#[derive(Debug, Default)]
pub struct Names {
    index: HashMap<(NameKind, String), usize>,
    wanted: Vec<(NameKind, String, Location)>,
    declared: HashMap<(NameKind, String), String>,
}

impl Names {
    /// Adds a name (once: a repeat keeps the first location).
    pub fn add(&mut self, kind: NameKind, name: &str, location: &Location) {
        let key = (kind, name.to_string());
        if !self.index.contains_key(&key) {
            self.index.insert(key, self.wanted.len());
            self.wanted.push((kind, name.to_string(), location.clone()));
        }
    }

    /// Records that a document of the policy set declares the item `name` of `kind`, so
    /// that a name of it which the tenant does not have yet resolves to `placeholder`, the
    /// id its create will answer.
    pub fn declare(&mut self, kind: NameKind, name: &str, placeholder: String) {
        self.declared.insert((kind, name.to_string()), placeholder);
    }

    /// How many distinct names.
    pub fn len(&self) -> usize {
        self.wanted.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.wanted.is_empty()
    }
}

/// Every name, resolved.
#[derive(Debug, Default)]
pub struct Resolution {
    found: HashMap<(NameKind, String), Resolved>,
}

impl Resolution {
    /// What `name` of `kind` resolved to.
    pub fn get(&self, kind: NameKind, name: &str) -> Option<&Resolved> {
        self.found.get(&(kind, name.to_string()))
    }

    /// A resolution of `found`: (kind, name, id) each.
    #[cfg(test)]
    pub(crate) fn of<'a>(found: impl IntoIterator<Item = (NameKind, &'a str, &'a str)>) -> Self {
        let found = found
            .into_iter()
            .map(|(kind, name, id)| {
                let resolved = Resolved {
                    id: id.to_string(),
                    upn: None,
                };
                ((kind, name.to_string()), resolved)
            })
            .collect();
        Resolution { found }
    }

    /// Every name resolved, by the id it resolved to (lower case): a user's principal name
    /// as the directory writes it, any other name as the declaration writes it.
    pub fn names_by_id(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.found.iter().map(|((_, name), r)| {
            let name = r.upn.clone().unwrap_or_else(|| name.clone());
            (r.id.to_ascii_lowercase(), name)
        })
    }

    /// Every user resolved: (id, UPN).
    pub fn users(&self) -> impl Iterator<Item = (&String, &String)> {
        self.found
            .iter()
            .filter(|((k, _), _)| *k == NameKind::User)
            .filter_map(|(_, r)| r.upn.as_ref().map(|upn| (&r.id, upn)))
    }
}

/// How one name fared.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    One(Resolved),
    None,
    Many(usize),
}

/// What one lookup answered: a user's object (or 404), or a page of groups.
fn outcome(kind: NameKind, body: Option<Value>) -> Result<Outcome, &'static str> {
    let body = body.unwrap_or_default();
    let id = |v: &Value| v["id"].as_str().unwrap_or_default().to_string();
    match kind {
        NameKind::User => Ok(Outcome::One(Resolved {
            id: id(&body),
            upn: body["userPrincipalName"].as_str().map(String::from),
        })),
        _ => match &body["value"] {
            Value::Array(groups) => Ok(match groups.as_slice() {
                [one] => Outcome::One(Resolved {
                    id: id(one),
                    upn: None,
                }),
                [] => Outcome::None,
                many => Outcome::Many(many.len()),
            }),
            _ => Err("the page has no `value` array"),
        },
    }
}

/// Resolves every name (see the module documentation). A name that does not resolve to
/// exactly one object is not an error of the call: all of them come back as MFA038
/// diagnostics, in the order written. A read that fails otherwise is the error.
pub async fn resolve(
    client: &GraphClient,
    names: Names,
    progress: &Progress,
) -> Result<Result<Resolution, Vec<Diagnostic>>, GraphError> {
    let mut resolution = Resolution::default();
    if names.is_empty() {
        return Ok(Ok(resolution));
    }
    let started = std::time::Instant::now();
    let Names {
        wanted, declared, ..
    } = names;
    let mut outcomes: Vec<Option<Outcome>> = vec![None; wanted.len()];
    // A page of groups that goes on (more groups of one name than a page holds) is counted
    // to its end afterwards.
    let mut continued: Vec<usize> = Vec::new();
    let mut users_found = 0usize;
    let requests = wanted
        .iter()
        .enumerate()
        .filter(|(_, (kind, _, _))| kind.listing().is_none())
        .map(|(i, (kind, name, _))| BatchRequest::get(i.to_string(), kind.lookup_path(name)));
    let round = batched(client, requests, |responses| {
        progress.add(Counter::NamesResolved, responses.len() as u64);
        for response in responses {
            let Some(i) = response
                .id
                .parse::<usize>()
                .ok()
                .filter(|&i| i < wanted.len())
            else {
                continue;
            };
            let kind = wanted[i].0;
            let status = response.status;
            let body = match response.into_result() {
                Ok(body) => body,
                Err(GraphError::NotFound { .. }) if kind == NameKind::User => {
                    outcomes[i] = Some(Outcome::None);
                    continue;
                }
                Err(e) => return Err(e),
            };
            if kind == NameKind::Group
                && body
                    .as_ref()
                    .is_some_and(|b| !b["@odata.nextLink"].is_null())
            {
                continued.push(i);
                continue;
            }
            let found = outcome(kind, body).map_err(|reason| GraphError::InvalidResponse {
                request: Box::new(crate::graph::RequestContext {
                    method: "GET".into(),
                    path: kind.lookup_path(&wanted[i].1),
                    request_id: None,
                }),
                status,
                reason: reason.into(),
            })?;
            if kind == NameKind::User && matches!(found, Outcome::One(_)) {
                users_found += 1;
            }
            outcomes[i] = Some(found);
        }
        // Each user found is a user of the tenant: once enough are, the pacer may use the
        // larger tier of a larger tenant (it never shrinks).
        client.pacer().set_tenant_size(users_found);
        Ok(())
    });
    let (listings, ()) = tokio::try_join!(listed::read(client, &wanted), round)?;
    for i in continued {
        let (kind, name, _) = &wanted[i];
        let groups = client.get_all(&kind.lookup_path(name)).await?;
        outcomes[i] = Some(
            outcome(*kind, Some(serde_json::json!({ "value": groups }))).unwrap_or(Outcome::None),
        );
    }
    let mut candidates = HashMap::new();
    for (i, (kind, name, _)) in wanted.iter().enumerate() {
        if kind.listing().is_some() {
            progress.add(Counter::NamesResolved, 1);
            let placeholder = declared.get(&(*kind, name.clone()));
            let found = listings.outcome(*kind, name, placeholder);
            if found == Outcome::None {
                candidates.insert((*kind, prefix(name)), listings.names(*kind));
            }
            outcomes[i] = Some(found);
        }
    }
    let mut failed: Vec<(usize, Outcome)> = Vec::new();
    for (i, ((kind, name, _), o)) in wanted.iter().zip(outcomes).enumerate() {
        match o {
            Some(Outcome::One(r)) => {
                resolution.found.insert((*kind, name.clone()), r);
            }
            Some(other) => failed.push((i, other)),
            // Every request has an answer unless the batch failed, which is an error above.
            None => failed.push((i, Outcome::None)),
        }
    }
    progress.phase(&format!(
        "resolved {} name(s) in {:.1} s",
        crate::printer::thousands(wanted.len() as u64),
        started.elapsed().as_secs_f64()
    ));
    if failed.is_empty() {
        return Ok(Ok(resolution));
    }
    let unknown: Vec<(NameKind, &str)> = failed
        .iter()
        .filter(|(_, o)| *o == Outcome::None)
        .map(|(i, _)| (wanted[*i].0, wanted[*i].1.as_str()))
        .collect();
    candidates.extend(suggestions(client, &unknown).await);
    let mut diagnostics: Vec<Diagnostic> = failed
        .into_iter()
        .map(|(i, o)| {
            let (kind, name, location) = &wanted[i];
            diagnostic(*kind, name, location.clone(), &o, &candidates)
        })
        .collect();
    diagnostics.sort_by(|a, b| a.location.cmp(&b.location));
    Ok(Err(diagnostics))
}

/// The prefix a suggestion query asks for: the first characters of the name, lower case.
fn prefix(name: &str) -> String {
    name.chars()
        .take(PREFIX_CHARS)
        .collect::<String>()
        .to_lowercase()
}

/// Users and groups of the tenant whose names start as each unknown name does, by kind and
/// prefix: one `startswith` query per distinct prefix, its first page only. Suggestions are
/// a help, not a result: a query that fails leaves its names without one.
async fn suggestions(
    client: &GraphClient,
    unknown: &[(NameKind, &str)],
) -> HashMap<(NameKind, String), Vec<String>> {
    let mut queries: Vec<(NameKind, String, String)> = Vec::new();
    let mut seen: std::collections::HashSet<(NameKind, String)> = Default::default();
    for &(kind, name) in unknown {
        let key = (kind, prefix(name));
        if key.1.is_empty() || !seen.insert(key.clone()) {
            continue;
        }
        if let Some(path) = kind.candidates_path(&key.1) {
            queries.push((key.0, key.1, path));
        }
    }
    let mut out: HashMap<(NameKind, String), Vec<String>> = HashMap::new();
    let requests = queries
        .iter()
        .enumerate()
        .map(|(i, (_, _, path))| BatchRequest::get(i.to_string(), path.clone()));
    let result = batched(client, requests, |responses| {
        for response in responses {
            let Some((kind, p, _)) = response
                .id
                .parse::<usize>()
                .ok()
                .and_then(|i| queries.get(i))
            else {
                continue;
            };
            let Ok(Some(page)) = response.into_result() else {
                continue;
            };
            let names = page["value"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v[kind.name_property()].as_str().map(String::from))
                .collect();
            out.insert((*kind, p.clone()), names);
        }
        Ok(())
    })
    .await;
    if let Err(e) = result {
        tracing::debug!(error = %e, "reading names to suggest failed");
    }
    out
}

/// The MFA038 diagnostic for a name that did not resolve to exactly one object.
fn diagnostic(
    kind: NameKind,
    name: &str,
    location: Location,
    outcome: &Outcome,
    candidates: &HashMap<(NameKind, String), Vec<String>>,
) -> Diagnostic {
    let (message, help) = match outcome {
        Outcome::Many(count) => (
            format!(
                "{count} {}s are named '{name}'; a target must name exactly one",
                kind.noun()
            ),
            Some(format!(
                "use the {}'s {} instead",
                kind.noun(),
                if kind.listing().is_some() {
                    "id"
                } else {
                    "object id"
                }
            )),
        ),
        _ => {
            let message = match kind {
                NameKind::User => format!("no user '{name}'"),
                _ => format!("no {} is named '{name}'", kind.noun()),
            };
            let help = candidates
                .get(&(kind, prefix(name)))
                .and_then(|c| suggestion(name, c))
                .map(|c| format!("did you mean `{c}`?"));
            (message, help)
        }
    };
    Diagnostic {
        code: codes::UNRESOLVED_NAME,
        severity: Severity::Error,
        location,
        message,
        help,
    }
}

/// The candidate closest to `name`, if close enough (as validate suggests keys).
fn suggestion<'a>(name: &str, candidates: &'a [String]) -> Option<&'a str> {
    crate::source::suggest::did_you_mean(name, candidates.iter().map(String::as_str))
}

#[cfg(test)]
mod tests;
