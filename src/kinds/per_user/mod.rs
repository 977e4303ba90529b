//! What the two per-user kinds share: state that lives on each user, in beta
//! `users/{id}/authentication/requirements` (`PerUserMfa`) and
//! `users/{id}/authentication/signInPreferences` (`SignInPreferences`).
//!
//! Both kinds say whom they apply to with a [`RuleTarget`]: `group:` (a display name, an object
//! id, or, for sign-in preferences only, `all_users` in any case) or `user:` (a UPN or an
//! object id). Object ids are kept in lower case; names stay as written until the plan stage
//! resolves them, by overwriting the `target` field. Their list items (exceptions, rules) are
//! read by [`read`]; who a list covers is found by [`coverage`]; what a plan changes on a
//! user is a [`change::UserChange`].

pub mod change;
pub mod coverage;
pub(crate) mod read;
#[cfg(test)]
mod tests;

use serde::Serialize;

use crate::msgraph::schema::is_guid;
use crate::source::diagnostic::Location;
use crate::tenant::names::{NameKind, Names, Resolution};

pub use change::{KindUserPlan, Overlap, SkippedUser, UserChange, UserChangeKind};
pub use coverage::{covers, scope};

/// The sign-in preference naming a user's default MFA method.
pub(crate) const PREFERRED: &str = "userPreferredMethodForSecondaryAuthentication";
/// The sign-in preference turning system-preferred MFA on or off for a user.
pub(crate) const SYSTEM_PREFERRED: &str = "isSystemPreferredAuthenticationMethodEnabled";

/// Who a rule or exception applies to, as written, normalised like other targets: object ids
/// in lower case, `all_users` in any case as [`RuleTarget::AllUsers`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", content = "id", rename_all = "camelCase")]
pub enum RuleTarget {
    /// `group: all_users`: every user.
    AllUsers,
    /// A group: its object id, or a display name still to be resolved.
    Group(String),
    /// A user: their object id, or a user principal name still to be resolved.
    User(String),
}

impl RuleTarget {
    /// Whether the target needs no lookup: everyone, or an object id.
    pub fn is_resolved(&self) -> bool {
        match self {
            RuleTarget::AllUsers => true,
            RuleTarget::Group(id) | RuleTarget::User(id) => is_guid(id),
        }
    }

    /// The target for messages: `group 'Finance'`, `group <object id>`, `user ada@contoso.com`,
    /// `all users`.
    pub fn describe(&self) -> String {
        match self {
            RuleTarget::AllUsers => "all users".into(),
            RuleTarget::Group(id) if is_guid(id) => format!("group {id}"),
            RuleTarget::Group(name) => format!("group '{name}'"),
            RuleTarget::User(id) => format!("user {id}"),
        }
    }

    /// Whether both name the same group or user; ids and names compare case-insensitively.
    pub fn same_as(&self, other: &RuleTarget) -> bool {
        self.identity() == other.identity()
    }

    /// What [`RuleTarget::same_as`] compares: the kind, and the name or id without case. Two
    /// targets are the same exactly when their identities are equal, so that a list can be
    /// checked for repeats with a map instead of comparing every pair.
    pub(crate) fn identity(&self) -> (&'static str, String) {
        match self {
            RuleTarget::AllUsers => ("all_users", String::new()),
            RuleTarget::Group(a) => ("group", a.to_lowercase()),
            RuleTarget::User(a) => ("user", a.to_lowercase()),
        }
    }

    pub(crate) fn noun(&self) -> &'static str {
        match self {
            RuleTarget::AllUsers => "all_users",
            RuleTarget::Group(_) => "group",
            RuleTarget::User(_) => "user",
        }
    }
}

/// Which list an item belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Item {
    /// An item of `PerUserMfa` `exceptions`.
    Exception,
    /// An item of `SignInPreferences` `rules`.
    Rule,
}

impl Item {
    pub(crate) fn noun(self) -> &'static str {
        match self {
            Item::Exception => "exception",
            Item::Rule => "rule",
        }
    }

    pub(crate) fn keys(self) -> &'static [&'static str] {
        match self {
            Item::Exception => &["group", "user", "state"],
            Item::Rule => &["name", "group", "user", PREFERRED, SYSTEM_PREFERRED],
        }
    }

    pub(crate) fn has(self) -> &'static str {
        match self {
            Item::Exception => "an exception has `group` or `user`, and `state`",
            Item::Rule => {
                "a rule has `name`, `group` or `user`, userPreferredMethodForSecondaryAuthentication and isSystemPreferredAuthenticationMethodEnabled"
            }
        }
    }

    pub(crate) fn example(self) -> &'static str {
        match self {
            Item::Exception => "`{group: Legacy VPN Users, state: enforced}`",
            Item::Rule => {
                "`{group: all_users, isSystemPreferredAuthenticationMethodEnabled: true}`"
            }
        }
    }

    pub(crate) fn target_help(self) -> &'static str {
        match self {
            Item::Exception => {
                "add `group: <display name | object id>` or `user: <UPN | object id>`"
            }
            Item::Rule => {
                "add `group: <display name | object id | all_users>` or `user: <UPN | object id>`"
            }
        }
    }
}

/// Adds the name a target is written with, to be resolved. Users are looked up by id too:
/// the plan needs their UPN.
pub(crate) fn add_name(target: &RuleTarget, location: &Location, names: &mut Names) {
    match target {
        RuleTarget::Group(name) if !is_guid(name) => names.add(NameKind::Group, name, location),
        RuleTarget::User(name) => names.add(NameKind::User, name, location),
        _ => {}
    }
}

/// Replaces a target's name with the object id it resolved to.
pub(crate) fn resolve(target: &mut RuleTarget, resolved: &Resolution) {
    match target {
        RuleTarget::Group(name) if !is_guid(name) => {
            if let Some(r) = resolved.get(NameKind::Group, name) {
                *name = r.id.clone();
            }
        }
        RuleTarget::User(name) => {
            if let Some(r) = resolved.get(NameKind::User, name) {
                *name = r.id.clone();
            }
        }
        _ => {}
    }
}
