//! What a per-user kind's plan holds: one PATCH per user, declared values that cannot be
//! applied, and rules that overlap through group membership.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::kinds::PropertyChange;

/// The per-user resources mfactl writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum UserChangeKind {
    /// `authentication/requirements` (legacy per-user MFA).
    PerUserMfa,
    /// `authentication/signInPreferences`.
    SignInPreferences,
}

/// One per-user PATCH.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserChange {
    /// Which resource.
    pub kind: UserChangeKind,
    /// The user's object id.
    pub user_id: String,
    /// The user's UPN.
    pub user_principal_name: String,
    /// Graph path, version included.
    pub path: String,
    /// What changes.
    pub properties: Vec<PropertyChange>,
    /// The exact request body.
    pub body: Value,
}

/// A declared value that cannot be applied to a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SkippedUser {
    /// The user's object id.
    pub user_id: String,
    /// The user's UPN.
    pub user_principal_name: String,
    /// The property not set.
    pub property: String,
    /// Why.
    pub reason: String,
}

/// Users matched by two rules that set the same property: the earlier rule decides. A later
/// `all_users` rule is a catch-all meant to be overridden, and never reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Overlap {
    /// The property.
    pub property: String,
    /// The rule that decides (file:line:column and target).
    pub winner: String,
    /// The rule that does not apply to these users.
    pub shadowed: String,
    /// How many users.
    pub users: usize,
}

/// What one per-user kind plans, each entry with the index of its user in the directory
/// (the engine merges the kinds' plans user by user).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KindUserPlan {
    /// The PATCHes.
    pub changes: Vec<(u32, UserChange)>,
    /// Declared values that cannot be applied.
    pub skipped: Vec<(u32, SkippedUser)>,
    /// Rule overlaps seen through group membership.
    pub overlaps: Vec<Overlap>,
    /// Why live values that differ from the declaration are nonetheless in sync, for people.
    pub notes: Vec<String>,
}
