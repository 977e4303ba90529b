//! The part of the directory the simulation needs, kept compact: a 1,000,000-user tenant
//! costs about a hundred bytes per user (object id as 128 bits, UPN, registered methods as a
//! bit set, per-user state in four bytes) plus the members of the groups that targets name.

use std::collections::HashMap;

use crate::msgraph::{PerUserMfaState, PreferredMethod};

/// The `methodsRegistered` values mfactl knows, one bit each in [`Registered`]. Values not in
/// this list (Microsoft adds them) are tolerated and ignored: they rank nowhere.
pub const KNOWN_REGISTERED: &[&str] = &[
    "temporaryAccessPass",
    "fido2SecurityKey",
    "fido2",
    "passKeyDeviceBound",
    "passKeyDeviceBoundAuthenticator",
    "passKeyDeviceBoundWindowsHello",
    "passKeySynced",
    "windowsHelloForBusiness",
    "macOsSecureEnclaveKey",
    "certificateBasedAuthentication",
    "microsoftAuthenticatorPush",
    "microsoftAuthenticatorPasswordless",
    "externalAuthMethod",
    "softwareOneTimePasscode",
    "hardwareOneTimePasscode",
    "mobilePhone",
    "alternateMobilePhone",
    "officePhone",
    "email",
    "securityQuestion",
    "qrCode",
];

/// A set of registered methods, one bit per [`KNOWN_REGISTERED`] value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Registered(u32);

impl Registered {
    /// The set of the known values among `values`.
    pub fn from_values<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        let mut bits = 0;
        for v in values {
            if let Some(i) = KNOWN_REGISTERED.iter().position(|k| *k == v) {
                bits |= 1 << i;
            }
        }
        Self(bits)
    }

    /// Whether `value` is in the set.
    pub fn has(self, value: &str) -> bool {
        KNOWN_REGISTERED
            .iter()
            .position(|k| *k == value)
            .is_some_and(|i| self.0 & (1 << i) != 0)
    }

    /// Whether any of `values` is in the set.
    pub fn any(self, values: &[&str]) -> bool {
        values.iter().any(|v| self.has(v))
    }

    /// The values in the set, in [`KNOWN_REGISTERED`] order.
    pub fn values(self) -> impl Iterator<Item = &'static str> {
        KNOWN_REGISTERED
            .iter()
            .enumerate()
            .filter(move |(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, v)| *v)
    }

    /// Whether nothing is registered.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether the two sets share a value.
    pub fn overlaps(self, other: Registered) -> bool {
        self.0 & other.0 != 0
    }
}

/// A user's own settings, as read (or as a plan would leave them). `None` means not read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserState {
    /// `userPreferredMethodForSecondaryAuthentication` (`None` when unset or not read).
    pub preferred: Option<PreferredMethod>,
    /// The user's own `isSystemPreferredAuthenticationMethodEnabled`.
    pub system_preferred: Option<bool>,
    /// Legacy per-user MFA.
    pub per_user_mfa: Option<PerUserMfaState>,
    /// Whether `signInPreferences` itself was read (otherwise the two values above come
    /// from the registration-details report, which may lag behind).
    pub sign_in_read: bool,
}

/// One user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Object id.
    pub id: u128,
    /// User principal name.
    pub upn: Box<str>,
    /// Registered methods (from the registration-details report).
    pub registered: Registered,
    /// Whether the registration-details report has a row for the user (it leaves out
    /// disabled accounts).
    pub in_report: bool,
    /// What `/users` says of the account, when it was read.
    pub account: Account,
}

/// `accountEnabled` and `userType`, from `/users` (`None`: not read).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Account {
    /// `accountEnabled`.
    pub enabled: Option<bool>,
    /// `userType` is `Guest` (any case: the report writes `guest`, `/users` `Guest`).
    pub guest: Option<bool>,
}

impl Account {
    /// From a `userType` and an `accountEnabled` as Graph returns them.
    pub fn from_graph(user_type: Option<&str>, enabled: Option<bool>) -> Self {
        Self {
            enabled,
            guest: user_type.map(|t| t.eq_ignore_ascii_case("guest")),
        }
    }

    /// What is known from either.
    fn or(self, other: Account) -> Account {
        Account {
            enabled: self.enabled.or(other.enabled),
            guest: self.guest.or(other.guest),
        }
    }
}

/// Users, their state, and the members of the groups that matter.
#[derive(Debug, Default, Clone)]
pub struct Directory {
    users: Vec<UserRecord>,
    state: Vec<UserState>,
    by_id: HashMap<u128, u32>,
    /// Lower-case group id → sorted user indexes (transitive members).
    groups: HashMap<String, Vec<u32>>,
    /// Directory role template id → sorted indexes of the users assigned it.
    roles: HashMap<u128, Vec<u32>>,
}

impl Directory {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a user, or updates the one with the same id (keeping what `record` does not
    /// know: a row from `/users` does not erase registered methods from the report, nor a
    /// report row the account read from `/users`).
    /// Returns the user's index.
    pub fn upsert(&mut self, record: UserRecord) -> u32 {
        if let Some(&i) = self.by_id.get(&record.id) {
            let existing = &mut self.users[i as usize];
            let account = record.account.or(existing.account);
            if record.in_report {
                *existing = record;
            }
            existing.account = account;
            return i;
        }
        let i = self.users.len() as u32;
        self.by_id.insert(record.id, i);
        self.users.push(record);
        self.state.push(UserState::default());
        i
    }

    /// Every user, in the order added.
    pub fn users(&self) -> &[UserRecord] {
        &self.users
    }

    /// The users' state as read.
    pub fn state(&self) -> &[UserState] {
        &self.state
    }

    /// The state of user `index`, to fill in as it is read.
    pub fn state_mut(&mut self, index: u32) -> Option<&mut UserState> {
        self.state.get_mut(index as usize)
    }

    /// The index of the user with this object id.
    pub fn index_of(&self, id: u128) -> Option<u32> {
        self.by_id.get(&id).copied()
    }

    /// Records the transitive user members of a group (ids of users not in the directory
    /// are added without registration details).
    pub fn set_group(
        &mut self,
        group_id: &str,
        members: impl IntoIterator<Item = (u128, Box<str>)>,
    ) {
        let mut indexes: Vec<u32> = members
            .into_iter()
            .map(|(id, upn)| {
                self.upsert(UserRecord {
                    id,
                    upn,
                    registered: Registered::default(),
                    in_report: false,
                    account: Account::default(),
                })
            })
            .collect();
        indexes.sort_unstable();
        indexes.dedup();
        self.groups.insert(group_id.to_ascii_lowercase(), indexes);
    }

    /// Records who holds a directory role: the user indexes of `principals` (principals that
    /// are not users in the directory, such as role-assignable groups, are left out).
    pub fn set_role(&mut self, role: u128, principals: &[u128]) {
        let mut indexes: Vec<u32> = principals
            .iter()
            .filter_map(|p| self.index_of(*p))
            .collect();
        indexes.sort_unstable();
        indexes.dedup();
        self.roles.insert(role, indexes);
    }

    /// Whether the group's members were read.
    pub fn has_group(&self, group_id: &str) -> bool {
        self.groups.contains_key(&group_id.to_ascii_lowercase())
    }

    /// Whether user `index` is a (transitive) member of the group; false for a group whose
    /// members were not read.
    pub fn is_member(&self, group_id: &str, index: u32) -> bool {
        self.groups
            .get(&group_id.to_ascii_lowercase())
            .is_some_and(|m| m.binary_search(&index).is_ok())
    }

    /// The members of a group (sorted user indexes); empty for a group not read.
    pub fn members(&self, group_id: &str) -> &[u32] {
        self.groups
            .get(&group_id.to_ascii_lowercase())
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
}

/// For every user of a [`Directory`], the groups (or roles) among a given list that they are
/// a transitive member of (or hold): the per-user ids [`super::requirement::User::groups`]
/// and [`super::requirement::User::roles`] want, laid out flat (two allocations for the whole
/// directory, none per user).
#[derive(Debug, Clone, Default)]
pub struct Memberships {
    /// User index → start in `groups`; one more entry than users.
    starts: Vec<u32>,
    groups: Vec<u128>,
}

impl Memberships {
    /// The groups of user `index` (in the order of the list given); empty for an index out
    /// of range.
    pub fn of(&self, index: u32) -> &[u128] {
        let i = index as usize;
        match (self.starts.get(i), self.starts.get(i + 1)) {
            (Some(&start), Some(&end)) => self
                .groups
                .get(start as usize..end as usize)
                .unwrap_or_default(),
            _ => &[],
        }
    }
}

impl Directory {
    /// Who is in which of `groups` (such as [`super::requirement::AccessPolicies::groups`]),
    /// from the members read with [`Directory::set_group`].
    pub fn memberships(&self, groups: &[u128]) -> Memberships {
        self.lay_out(groups, |g| self.members(&format_guid(*g)))
    }

    /// Who holds which of `roles` (such as [`super::requirement::AccessPolicies::roles`]),
    /// from the holders read with [`Directory::set_role`].
    pub fn role_memberships(&self, roles: &[u128]) -> Memberships {
        self.lay_out(roles, |r| {
            self.roles.get(r).map(Vec::as_slice).unwrap_or_default()
        })
    }

    fn lay_out<'a>(&'a self, keys: &[u128], members: impl Fn(&u128) -> &'a [u32]) -> Memberships {
        let mut starts = vec![0u32; self.users.len() + 1];
        for &m in keys.iter().flat_map(&members) {
            if let Some(count) = starts.get_mut(m as usize + 1) {
                *count += 1;
            }
        }
        for i in 1..starts.len() {
            starts[i] += starts[i - 1];
        }
        let mut next = starts.clone();
        let mut flat = vec![0u128; starts.last().copied().unwrap_or_default() as usize];
        for key in keys {
            for &m in members(key) {
                if let Some(at) = next.get_mut(m as usize) {
                    if let Some(slot) = flat.get_mut(*at as usize) {
                        *slot = *key;
                    }
                    *at += 1;
                }
            }
        }
        Memberships {
            starts,
            groups: flat,
        }
    }
}

/// Parses a GUID (any case, with hyphens) into 128 bits.
pub fn parse_guid(s: &str) -> Option<u128> {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    if s.len() != 36 || hex.len() != 32 {
        return None;
    }
    u128::from_str_radix(&hex, 16).ok()
}

/// Formats 128 bits as a lower-case GUID.
pub fn format_guid(id: u128) -> String {
    let h = format!("{id:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_round_trip_and_bad_ones_are_refused() {
        let g = "DAD4AE4A-730C-4E52-826C-0D9094971F04";
        let id = parse_guid(g).unwrap();
        assert_eq!(format_guid(id), g.to_ascii_lowercase());
        for bad in [
            "",
            "dad4ae4a730c4e52826c0d9094971f04",
            "zad4ae4a-730c-4e52-826c-0d9094971f04",
        ] {
            assert_eq!(parse_guid(bad), None, "{bad}");
        }
    }

    #[test]
    fn registered_keeps_known_values_and_ignores_new_ones() {
        let r = Registered::from_values(["mobilePhone", "somethingMicrosoftAddsLater", "fido2"]);
        assert!(r.has("mobilePhone") && r.has("fido2") && !r.has("email"));
        assert_eq!(r.values().collect::<Vec<_>>(), ["fido2", "mobilePhone"]);
        assert!(KNOWN_REGISTERED.len() <= 32);
    }

    #[test]
    fn memberships_lay_out_each_users_groups_among_those_asked() {
        let mut d = Directory::new();
        let (g1, g2, unread) = (0x61, 0x62, 0x63);
        d.set_group(&format_guid(g1), [(1, "a@x".into()), (2, "b@x".into())]);
        d.set_group(&format_guid(g2).to_uppercase(), [(1, "a@x".into())]);
        d.upsert(UserRecord {
            id: 3,
            upn: "c@x".into(),
            registered: Registered::default(),
            in_report: true,
            account: Account::default(),
        });
        let m = d.memberships(&[g1, g2, unread]);
        let of = |id: u128| d.index_of(id).map(|i| m.of(i)).unwrap_or_default();
        assert_eq!((of(1), of(2), of(3)), (&[g1, g2][..], &[g1][..], &[][..]));
        assert!(m.of(99).is_empty());
        let b = d.index_of(2).unwrap();
        assert!(d.memberships(&[g2]).of(b).is_empty());
    }

    #[test]
    fn a_group_row_does_not_erase_report_details() {
        let mut d = Directory::new();
        let id = 7;
        d.upsert(UserRecord {
            id,
            upn: "a@x".into(),
            registered: Registered::from_values(["mobilePhone"]),
            in_report: true,
            account: Account::default(),
        });
        d.set_group("G1", [(id, "a@x".into()), (8, "b@x".into())]);
        assert!(d.users()[0].registered.has("mobilePhone"));
        let listed = Account::from_graph(Some("Guest"), Some(false));
        d.upsert(UserRecord {
            id: 8,
            upn: "b@x".into(),
            registered: Registered::default(),
            in_report: false,
            account: listed,
        });
        d.upsert(UserRecord {
            id: 8,
            upn: "b@x".into(),
            registered: Registered::from_values(["email"]),
            in_report: true,
            account: Account::default(),
        });
        assert_eq!(d.users()[1].account, listed);
        assert!(d.users()[1].registered.has("email"));
        d.set_role(0x62, &[8, 0x99]);
        let roles = d.role_memberships(&[0x61, 0x62]);
        assert_eq!((roles.of(0), roles.of(1)), (&[][..], &[0x62][..]));
        assert!(d.is_member("g1", 0) && d.is_member("g1", 1) && !d.is_member("g2", 0));
        assert_eq!(d.users().len(), 2);
    }
}
