//! The emulator's world: tenants with their app registrations, users, groups and policies.
//!
//! The same structure is read from `--state FILE`, built by `--generate`, and returned by
//! `GET /_emulator/state`, so a test can capture a world and load it again.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The whole emulated world.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct State {
    /// Every tenant the emulator serves.
    pub tenants: Vec<Tenant>,
}

/// One Entra tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Tenant {
    /// Tenant (directory) id, a GUID.
    pub id: String,
    /// Display name of the organisation.
    #[serde(default)]
    pub display_name: String,
    /// Verified domains; the first is the default one. The token endpoint accepts any of
    /// them in place of the tenant id.
    #[serde(default)]
    pub domains: Vec<String>,
    /// Whether the tenant has Entra ID P1/P2; the registration-details report answers 403
    /// without it (FACTS.md §6).
    #[serde(default = "yes")]
    pub premium: bool,
    /// App registrations that may request tokens.
    #[serde(default)]
    pub apps: Vec<App>,
    /// Users of the directory.
    #[serde(default)]
    pub users: Vec<User>,
    /// Groups, whose members are user or group ids.
    #[serde(default)]
    pub groups: Vec<Group>,
    /// The authentication methods policy in Graph's JSON shape (configurations inline,
    /// without `@odata.context` annotations). Missing means a fresh tenant's defaults.
    #[serde(default = "crate::msgraph::methods::default_policy")]
    pub authentication_methods_policy: Value,
    /// Security defaults state.
    #[serde(default)]
    pub security_defaults: SecurityDefaults,
    /// The tenant's Microsoft Entra ID licence; `premium: false` makes it `free` whatever
    /// this says (see [`Tenant::licence`]).
    #[serde(default)]
    pub licence: Licence,
    /// Conditional Access policies, named locations, custom strengths and deleted items.
    #[serde(default)]
    pub conditional_access: ConditionalAccess,
    /// Directory role assignments (`roleManagement/directory/roleAssignments`).
    #[serde(default)]
    pub role_assignments: Vec<RoleAssignment>,
    /// The hardware OATH token inventory and the users' Temporary Access Passes.
    #[serde(default)]
    pub credentials: Credentials,
}

impl Tenant {
    /// The licence in force: `free` when either `premium` is false or `licence` says so.
    pub fn licence(&self) -> Licence {
        if self.premium {
            self.licence
        } else {
            Licence::Free
        }
    }
}

fn yes() -> bool {
    true
}

/// A tenant's Microsoft Entra ID licence level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Licence {
    /// No premium licence: no Conditional Access, no registration report.
    #[serde(rename = "free")]
    Free,
    /// Microsoft Entra ID P1: Conditional Access without risk conditions.
    P1,
    /// Microsoft Entra ID P2: everything, risk conditions included. The default, so that a
    /// state file written before licences existed keeps every feature.
    #[default]
    P2,
}

/// Conditional Access objects in Graph's own JSON shape, as written (without server
/// normalisation, which happens on read).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConditionalAccess {
    /// `conditionalAccessPolicy` objects.
    #[serde(default)]
    pub policies: Vec<Value>,
    /// `ipNamedLocation` and `countryNamedLocation` objects, with `@odata.type`.
    #[serde(default)]
    pub named_locations: Vec<Value>,
    /// Custom `authenticationStrengthPolicy` objects (the built-in ones are always there).
    #[serde(default)]
    pub authentication_strengths: Vec<Value>,
    /// Soft-deleted policies (`deletedItems/policies`), with `deletedDateTime`.
    #[serde(default)]
    pub deleted_policies: Vec<Value>,
    /// Soft-deleted named locations (`deletedItems/namedLocations`), with `deletedDateTime`.
    #[serde(default)]
    pub deleted_named_locations: Vec<Value>,
}

/// Credentials the directory holds for its users (FACTS-CA §E, §F).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Credentials {
    /// The hardware OATH token inventory (beta `directory/authenticationMethodDevices`).
    #[serde(default)]
    pub hardware_oath_devices: Vec<HardwareOathDevice>,
    /// At most one Temporary Access Pass per user.
    #[serde(default)]
    pub temporary_access_passes: Vec<TemporaryAccessPass>,
}

/// A `hardwareOathTokenAuthenticationMethodDevice`, with its secret (never served).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HardwareOathDevice {
    /// Object id.
    pub id: String,
    /// Display name; `null` until set.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Serial number, unique in the tenant.
    pub serial_number: String,
    /// Manufacturer.
    pub manufacturer: String,
    /// Model.
    pub model: String,
    /// The Base32 seed; write-only through Graph.
    pub secret_key: String,
    /// 30 or 60.
    pub time_interval_in_seconds: u32,
    /// `hmacsha1` or `hmacsha256`.
    #[serde(default = "hmacsha1")]
    pub hash_function: String,
    /// Where the token is in its life.
    #[serde(default)]
    pub status: TokenStatus,
    /// The user the token is assigned to (object id).
    #[serde(default)]
    pub assigned_to: Option<String>,
    /// When a code of the token last signed someone in.
    #[serde(default)]
    pub last_used_date_time: Option<String>,
}

fn hmacsha1() -> String {
    "hmacsha1".to_string()
}

/// `hardwareOathTokenStatus`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TokenStatus {
    /// In the inventory, nobody's.
    #[default]
    Available,
    /// Assigned to a user, not yet activated.
    Assigned,
    /// Activated by its user with a verification code: a registered method.
    Activated,
    /// The last activation attempt failed; still assigned.
    FailedActivation,
}

/// A `temporaryAccessPassAuthenticationMethod` without its pass, which only the create
/// response carries.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TemporaryAccessPass {
    /// Object id.
    pub id: String,
    /// The user's object id.
    pub user_id: String,
    /// When it was created (RFC 3339).
    pub created_date_time: String,
    /// When it becomes usable (RFC 3339).
    pub start_date_time: String,
    /// Lifetime from `startDateTime`.
    pub lifetime_in_minutes: u32,
    /// Whether one sign-in uses it up.
    pub is_usable_once: bool,
}

/// One directory role assignment: a principal holds the role of a template id.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleAssignment {
    /// The assignment's id; generated from the other two when absent.
    #[serde(default)]
    pub id: String,
    /// The user (or group) holding the role.
    pub principal_id: String,
    /// The role's template id, e.g. Global Administrator's `62e90394-…`.
    pub role_definition_id: String,
}

/// `identitySecurityDefaultsEnforcementPolicy.isEnabled`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecurityDefaults {
    /// Whether security defaults are enforced.
    pub is_enabled: bool,
}

impl Default for SecurityDefaults {
    fn default() -> Self {
        Self {
            is_enabled: crate::msgraph::SECURITY_DEFAULTS_ON_BY_DEFAULT,
        }
    }
}

/// An app registration with its credentials and granted application permissions.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct App {
    /// Application (client) id.
    pub client_id: String,
    /// Display name.
    #[serde(default)]
    pub display_name: String,
    /// Client secrets that are valid for this app.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// PEM certificates whose keys may sign client assertions.
    #[serde(default)]
    pub certificates: Vec<String>,
    /// Federated identity credentials (workload identity, GitHub Actions, Azure Pipelines).
    #[serde(default)]
    pub federated_credentials: Vec<FederatedCredential>,
    /// Application permissions granted with admin consent, e.g. `Policy.Read.All`.
    #[serde(default)]
    pub roles: Vec<String>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("client_id", &self.client_id)
            .field("display_name", &self.display_name)
            .field(
                "secrets",
                &format_args!("[{} redacted]", self.secrets.len()),
            )
            .field("certificates", &self.certificates.len())
            .field("federated_credentials", &self.federated_credentials)
            .field("roles", &self.roles)
            .finish()
    }
}

/// A federated identity credential: tokens from `issuer` with subject `subject` and one of
/// `audiences` are accepted as client assertions.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FederatedCredential {
    /// Issuer URL of the external identity provider.
    pub issuer: String,
    /// Subject claim, e.g. `repo:org/repo:environment:prod`.
    pub subject: String,
    /// Accepted audiences; Entra's default is `api://AzureADTokenExchange`.
    #[serde(default = "default_audiences")]
    pub audiences: Vec<String>,
}

fn default_audiences() -> Vec<String> {
    vec!["api://AzureADTokenExchange".to_string()]
}

/// A user with the authentication state mfactl reads and writes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct User {
    /// Object id.
    pub id: String,
    /// Sign-in name.
    pub user_principal_name: String,
    /// Display name.
    #[serde(default)]
    pub display_name: String,
    /// `member` or `guest`.
    #[serde(default = "member")]
    pub user_type: String,
    /// Disabled accounts are left out of the registration-details report.
    #[serde(default = "yes")]
    pub account_enabled: bool,
    /// Whether the user holds an admin role.
    #[serde(default)]
    pub is_admin: bool,
    /// Registered methods in the report's vocabulary (`microsoftAuthenticatorPush`,
    /// `mobilePhone`, `passKeyDeviceBound`, ...). Shared between users with the same set.
    #[serde(default)]
    pub methods_registered: Arc<Vec<String>>,
    /// Legacy per-user MFA: `disabled`, `enabled` or `enforced`.
    #[serde(default = "disabled")]
    pub per_user_mfa_state: String,
    /// The user's sign-in preferences (beta `authentication/signInPreferences`).
    #[serde(default)]
    pub sign_in_preferences: SignInPreferences,
    /// Whether self-service password reset is enabled for the user.
    #[serde(default)]
    pub is_sspr_enabled: bool,
    /// When the registration record last changed.
    #[serde(default = "epoch")]
    pub last_updated_date_time: String,
}

fn member() -> String {
    "member".to_string()
}

fn disabled() -> String {
    "disabled".to_string()
}

fn epoch() -> String {
    "2026-01-01T00:00:00Z".to_string()
}

/// `signInPreferences`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignInPreferences {
    /// The user's own system-preferred flag.
    #[serde(default)]
    pub is_system_preferred_authentication_method_enabled: Option<bool>,
    /// The user's default method (`push`, `oath`, `sms`, ...), if chosen.
    #[serde(default)]
    pub user_preferred_method_for_secondary_authentication: Option<String>,
}

/// A security group.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Group {
    /// Object id.
    pub id: String,
    /// Display name; not necessarily unique.
    pub display_name: String,
    /// Direct members: user or group ids.
    #[serde(default)]
    pub members: Vec<String>,
}

/// A direct or transitive member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberRef {
    /// Index into `Tenant::users`.
    User(usize),
    /// Index into `Tenant::groups`.
    Group(usize),
}

/// Look-up tables over a tenant, rebuilt whenever the directory changes.
#[derive(Debug, Default)]
pub struct DirectoryIndex {
    user_by_id: HashMap<String, usize>,
    user_by_upn: HashMap<String, usize>,
    group_by_id: HashMap<String, usize>,
    transitive: std::sync::Mutex<HashMap<usize, Arc<Vec<MemberRef>>>>,
    user_sets: std::sync::Mutex<HashMap<usize, Arc<HashSet<usize>>>>,
}

impl DirectoryIndex {
    /// Indexes users by id and lower-cased UPN, and groups by id.
    pub fn build(tenant: &Tenant) -> Self {
        let mut idx = Self::default();
        for (i, u) in tenant.users.iter().enumerate() {
            idx.user_by_id.insert(u.id.to_ascii_lowercase(), i);
            idx.user_by_upn
                .insert(u.user_principal_name.to_ascii_lowercase(), i);
        }
        for (i, g) in tenant.groups.iter().enumerate() {
            idx.group_by_id.insert(g.id.to_ascii_lowercase(), i);
        }
        idx
    }

    /// A user by object id or UPN, case-insensitively.
    pub fn user(&self, key: &str) -> Option<usize> {
        let k = key.to_ascii_lowercase();
        self.user_by_id
            .get(&k)
            .or_else(|| self.user_by_upn.get(&k))
            .copied()
    }

    /// A group by object id.
    pub fn group(&self, id: &str) -> Option<usize> {
        self.group_by_id.get(&id.to_ascii_lowercase()).copied()
    }

    /// Direct member reference for an id, if it names a user or group of the tenant.
    pub fn member(&self, id: &str) -> Option<MemberRef> {
        let k = id.to_ascii_lowercase();
        self.user_by_id
            .get(&k)
            .map(|&i| MemberRef::User(i))
            .or_else(|| self.group_by_id.get(&k).map(|&i| MemberRef::Group(i)))
    }

    /// Every member of a group, nested groups expanded (each nested group is listed too),
    /// in a stable order; cycles are tolerated. Cached until the index is rebuilt.
    pub fn transitive_members(&self, tenant: &Tenant, group: usize) -> Arc<Vec<MemberRef>> {
        if let Ok(cache) = self.transitive.lock()
            && let Some(hit) = cache.get(&group)
        {
            return Arc::clone(hit);
        }
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        let mut stack = vec![group];
        let mut visited_groups = HashSet::from([group]);
        while let Some(g) = stack.pop() {
            for id in &tenant.groups[g].members {
                let Some(m) = self.member(id) else { continue };
                if seen.insert(m) {
                    out.push(m);
                }
                if let MemberRef::Group(inner) = m
                    && visited_groups.insert(inner)
                {
                    stack.push(inner);
                }
            }
        }
        let out = Arc::new(out);
        if let Ok(mut cache) = self.transitive.lock() {
            cache.insert(group, Arc::clone(&out));
        }
        out
    }

    /// The set of user indexes in a group, transitively. Cached until the index is rebuilt.
    pub fn user_set(&self, tenant: &Tenant, group: usize) -> Arc<HashSet<usize>> {
        if let Ok(cache) = self.user_sets.lock()
            && let Some(hit) = cache.get(&group)
        {
            return Arc::clone(hit);
        }
        let set: Arc<HashSet<usize>> = Arc::new(
            self.transitive_members(tenant, group)
                .iter()
                .filter_map(|m| match m {
                    MemberRef::User(u) => Some(*u),
                    MemberRef::Group(_) => None,
                })
                .collect(),
        );
        if let Ok(mut cache) = self.user_sets.lock() {
            cache.insert(group, Arc::clone(&set));
        }
        set
    }
}
