//! `kind: PerUserMfa`: how its spec is read and checked.
//!
//! # `PerUserMfa`
//!
//! ```yaml
//! spec:
//!   state: disabled              # disabled | enabled | enforced: everyone no exception matches
//!   exceptions:
//!     - group: Legacy VPN Users
//!       state: enforced
//!     - user: svc-nps@contoso.com
//!       state: enabled
//! ```
//!
//! At least one of `state` and a non-empty `exceptions` list is required. For each user:
//!
//! 1. an exception naming the user directly (`user:`) decides;
//! 2. otherwise the first group exception, in the order written, whose group holds the user;
//! 3. otherwise `spec.state`;
//! 4. a user matched by none of them is not managed: their state stays as it is.
//!
//! An exception naming the same group or user as an earlier one never applies (MFA025,
//! warning). `all_users` is not an exception: everyone is `spec.state`.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;

use crate::kinds::Spec;
use crate::kinds::per_user::read::{item_entries, items, target, unknown_keys};
use crate::kinds::per_user::{Item, RuleTarget};
use crate::msgraph::PerUserMfaState;
use crate::source::diagnostic::{Finding, Location, Pos, codes};
use crate::source::spec::Reader;
use crate::source::suggest;
use crate::source::yaml::Node;

const PER_USER_KEYS: &[&str] = &["state", "exceptions"];

/// The declared `PerUserMfa` document: legacy per-user MFA state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeclaredPerUserMfa {
    /// `metadata.name`.
    pub name: String,
    /// Where the document starts.
    pub location: Location,
    /// The state of everyone no exception matches; `None` leaves them unmanaged.
    pub state: Option<PerUserMfaState>,
    /// Where `state` is written.
    pub state_location: Option<Location>,
    /// The exceptions, in the order written.
    pub exceptions: Vec<PerUserMfaException>,
}

/// One item of `PerUserMfa` `exceptions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PerUserMfaException {
    /// The group or user (never [`RuleTarget::AllUsers`]); the resolver overwrites a name with
    /// its object id.
    pub target: RuleTarget,
    /// Their per-user MFA state.
    pub state: PerUserMfaState,
    /// Where the list item starts.
    pub location: Location,
}

impl DeclaredPerUserMfa {
    /// Every exception's target, in the order written.
    pub fn targets(&self) -> Vec<&RuleTarget> {
        self.exceptions.iter().map(|e| &e.target).collect()
    }
}

/// Reads the spec of a `PerUserMfa` document; `spec_pos` is where the `spec` key is.
pub(crate) fn read(at: &Spec<'_>) -> (DeclaredPerUserMfa, Vec<Finding>) {
    let (spec, spec_pos, file) = (at.node, at.key_pos, at.file);
    let (name, location) = (at.name.clone(), at.document.clone());
    let mut reader = Reader::default();
    for e in spec.entries().unwrap_or_default() {
        if !PER_USER_KEYS.contains(&e.key.as_str()) {
            let help = suggest::help(&e.key, PER_USER_KEYS.iter().copied()).unwrap_or_else(|| {
                "PerUserMfa takes `state:` for everyone and `exceptions:` for groups and users"
                    .into()
            });
            reader.findings.push(
                Finding::new(
                    codes::UNKNOWN_KEY,
                    e.key_pos,
                    format!(
                        "unknown key `{}`: PerUserMfa has `state` and `exceptions`",
                        e.key
                    ),
                )
                .help(help),
            );
        }
    }
    let mut state = None;
    let mut state_location = None;
    if let Some(e) = spec.get("state") {
        state = per_user_state(&mut reader, &e.value);
        state_location = state.map(|_| e.key_pos.at(file));
    }
    let mut written: Vec<(PerUserMfaException, Pos)> = Vec::new();
    let exceptions_entry = spec.get("exceptions");
    let mut no_exceptions = exceptions_entry.is_none();
    if let Some(e) = exceptions_entry
        && let Some(items) = items(&mut reader, e, Item::Exception)
    {
        no_exceptions = items.is_empty();
        for node in items {
            if let Some(read) = exception(&mut reader, node, file) {
                written.push(read);
            }
        }
    }
    if spec.get("state").is_none() && no_exceptions {
        let at = exceptions_entry.map_or(spec_pos, |e| e.key_pos);
        reader.findings.push(
            Finding::new(
                codes::MISSING_KEY,
                at,
                "PerUserMfa needs `state` or a non-empty `exceptions` list",
            )
            .help("add `state: disabled` for everyone, or exceptions such as `- {group: Legacy VPN Users, state: enforced}`"),
        );
    }
    // The first exception naming each target, found through a map: a list of 100,000 users
    // must not cost 100,000² comparisons.
    let mut first: HashMap<(&'static str, String), usize> = HashMap::new();
    for (j, (later, at)) in written.iter().enumerate() {
        let earlier = *first.entry(later.target.identity()).or_insert(j);
        if earlier != j
            && let Some((earlier, _)) = written.get(earlier)
        {
            reader.findings.push(
                Finding::new(
                    codes::SAME_TARGET,
                    *at,
                    format!(
                        "the exception for {} never applies: the exception at {} names the same {} first",
                        later.target.describe(),
                        earlier.location,
                        later.target.noun()
                    ),
                )
                .help("the first exception naming a group or user decides: remove this one, or merge the two"),
            );
        }
    }
    let declared = DeclaredPerUserMfa {
        name,
        location,
        state,
        state_location,
        exceptions: written.into_iter().map(|(e, _)| e).collect(),
    };
    (declared, reader.findings)
}

/// Reads one exception; `None` if anything in it is wrong (and reported).
fn exception(reader: &mut Reader, node: &Node, file: &Path) -> Option<(PerUserMfaException, Pos)> {
    let before = reader.findings.len();
    let entries = item_entries(reader, node, Item::Exception)?;
    unknown_keys(reader, entries, Item::Exception);
    let target = target(reader, node, Item::Exception);
    let state = match node.get("state") {
        Some(e) => per_user_state(reader, &e.value),
        None => {
            let label = target.as_ref().map_or_else(
                || "the exception".to_string(),
                |(t, _)| format!("the exception for {}", t.describe()),
            );
            reader.findings.push(
                Finding::new(
                    codes::MISSING_KEY,
                    node.pos,
                    format!("{label} has no `state`"),
                )
                .help("add `state: disabled`, `state: enabled` or `state: enforced`"),
            );
            None
        }
    };
    if reader.findings.len() != before {
        return None;
    }
    let (target, at) = target?;
    Some((
        PerUserMfaException {
            target,
            state: state?,
            location: node.pos.at(file),
        },
        at,
    ))
}

fn per_user_state(reader: &mut Reader, node: &Node) -> Option<PerUserMfaState> {
    let members: Vec<String> = PerUserMfaState::ALL
        .iter()
        .map(|s| s.as_str().to_string())
        .collect();
    let value = reader.enum_value(&members, false, "state", node)?;
    value.as_str().and_then(PerUserMfaState::parse)
}
