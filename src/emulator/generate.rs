//! Synthetic tenants for tests and benchmarks, built deterministically from a seed.
//!
//! Users get the mixes of registered methods real tenants have (Authenticator push with SMS,
//! passkeys, TOTP only, phone only, nothing, ...), legacy per-user MFA states and sign-in
//! preferences; groups include an all-staff group, a break-glass group and nested groups.

use crate::msgraph::{PerUserMfaState, is_mfa_registration};
use std::sync::Arc;

use super::EmulatorError;
use super::state::{
    App, ConditionalAccess, Credentials, Group, Licence, SecurityDefaults, SignInPreferences,
    State, Tenant, User,
};
use crate::support::rng::SplitMix64;

/// What `--generate users=N,groups=G,tenants=T,seed=S` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenerateSpec {
    /// Users per tenant.
    pub users: usize,
    /// Groups per tenant (the first few are the well-known ones).
    pub groups: usize,
    /// Number of tenants.
    pub tenants: usize,
    /// Seed; the same seed gives the same world.
    pub seed: u64,
}

impl Default for GenerateSpec {
    fn default() -> Self {
        Self {
            users: 50,
            groups: 8,
            tenants: 1,
            seed: 1,
        }
    }
}

impl std::str::FromStr for GenerateSpec {
    type Err = EmulatorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut spec = GenerateSpec::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part.split_once('=').ok_or_else(|| {
                EmulatorError::InvalidGenerateSpec(format!("'{part}' is not KEY=VALUE"))
            })?;
            let n: u64 = value.trim().replace('_', "").parse().map_err(|_| {
                EmulatorError::InvalidGenerateSpec(format!(
                    "'{value}' in '{part}' is not a whole number"
                ))
            })?;
            match key.trim() {
                "users" => spec.users = n as usize,
                "groups" => spec.groups = n as usize,
                "tenants" => spec.tenants = n as usize,
                "seed" => spec.seed = n,
                other => {
                    return Err(EmulatorError::InvalidGenerateSpec(format!(
                        "unknown key '{other}' (expected users, groups, tenants or seed)"
                    )));
                }
            }
        }
        if spec.tenants == 0 {
            return Err(EmulatorError::InvalidGenerateSpec(
                "tenants must be at least 1".into(),
            ));
        }
        Ok(spec)
    }
}

/// Client secret of every generated tenant's read-only app.
pub const READER_SECRET: &str = "emulator-reader-secret";
/// Client secret of every generated tenant's read-write app.
pub const WRITER_SECRET: &str = "emulator-writer-secret";

/// Application permissions of the generated read-only app.
pub const READER_ROLES: &[&str] = &[
    "Policy.Read.All",
    "Policy.Read.AuthenticationMethod",
    "RoleManagement.Read.Directory",
    "Organization.Read.All",
    "AuditLog.Read.All",
    "User.Read.All",
    "GroupMember.Read.All",
    "UserAuthenticationMethod.Read.All",
];

/// Application permissions of the generated read-write app.
pub const WRITER_ROLES: &[&str] = &[
    "Policy.Read.All",
    "Policy.ReadWrite.AuthenticationMethod",
    "Policy.ReadWrite.SecurityDefaults",
    "Policy.ReadWrite.ConditionalAccess",
    "RoleManagement.Read.Directory",
    "Organization.Read.All",
    "AuditLog.Read.All",
    "User.Read.All",
    "GroupMember.Read.All",
    "UserAuthenticationMethod.ReadWrite.All",
];

const ORGS: &[&str] = &[
    "Contoso",
    "Fabrikam",
    "Adatum",
    "Northwind",
    "Tailspin",
    "Woodgrove",
    "Litware",
    "Proseware",
];
const FIRST: &[&str] = &[
    "Alex", "Bianca", "Chen", "Dana", "Elif", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kofi",
    "Lena", "Mateo", "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tara", "Umar", "Vera",
    "Wei", "Yusuf", "Zoe",
];
const LAST: &[&str] = &[
    "Wilber",
    "Pisani",
    "Deyoung",
    "Okafor",
    "Lindqvist",
    "Tanaka",
    "Moreau",
    "Schmidt",
    "Haddad",
    "Novak",
    "Garcia",
    "Kowalski",
    "Nguyen",
    "Silva",
    "Ivanova",
    "Murphy",
    "Rossi",
    "Yilmaz",
    "Jensen",
    "Park",
];
const DEPARTMENTS: &[&str] = &[
    "Finance",
    "Engineering",
    "Sales",
    "Support",
    "Legal",
    "Marketing",
    "Operations",
    "HR",
];

/// Registered-method mixes and how common each is (per mille), as seen in real tenants.
const PROFILES: &[(u32, &[&str])] = &[
    (330, &["microsoftAuthenticatorPush", "mobilePhone"]),
    (150, &["microsoftAuthenticatorPush"]),
    (80, &["passKeyDeviceBound", "microsoftAuthenticatorPush"]),
    (
        40,
        &["passKeySynced", "microsoftAuthenticatorPush", "mobilePhone"],
    ),
    (
        20,
        &["windowsHelloForBusiness", "microsoftAuthenticatorPush"],
    ),
    (20, &["fido2SecurityKey", "mobilePhone"]),
    (70, &["softwareOneTimePasscode"]),
    (
        30,
        &[
            "microsoftAuthenticatorPush",
            "softwareOneTimePasscode",
            "email",
        ],
    ),
    (20, &["hardwareOneTimePasscode", "mobilePhone"]),
    (110, &["mobilePhone"]),
    (20, &["mobilePhone", "alternateMobilePhone"]),
    (10, &["officePhone"]),
    (100, &[]),
];

/// Builds the world described by `spec`.
pub fn generate(spec: &GenerateSpec) -> State {
    let profiles: Vec<(u32, Arc<Vec<String>>)> = PROFILES
        .iter()
        .map(|(w, m)| (*w, Arc::new(m.iter().map(|s| s.to_string()).collect())))
        .collect();
    let total: u32 = profiles.iter().map(|(w, _)| w).sum();
    let tenants = (0..spec.tenants)
        .map(|t| {
            let mut rng = SplitMix64::new(spec.seed.wrapping_mul(1_000_003).wrapping_add(t as u64));
            generate_tenant(spec, t, &mut rng, &profiles, total)
        })
        .collect();
    State { tenants }
}

fn generate_tenant(
    spec: &GenerateSpec,
    index: usize,
    rng: &mut SplitMix64,
    profiles: &[(u32, Arc<Vec<String>>)],
    total_weight: u32,
) -> Tenant {
    let org = ORGS[index % ORGS.len()];
    let domain = format!("{}{}.onmicrosoft.com", org.to_ascii_lowercase(), index + 1);
    let id = rng.guid();
    let apps = vec![
        App {
            client_id: rng.guid(),
            display_name: "mfactl (read-only)".into(),
            secrets: vec![READER_SECRET.into()],
            certificates: Vec::new(),
            federated_credentials: Vec::new(),
            roles: READER_ROLES.iter().map(|s| s.to_string()).collect(),
        },
        App {
            client_id: rng.guid(),
            display_name: "mfactl".into(),
            secrets: vec![WRITER_SECRET.into()],
            certificates: Vec::new(),
            federated_credentials: Vec::new(),
            roles: WRITER_ROLES.iter().map(|s| s.to_string()).collect(),
        },
    ];
    let mut users = Vec::with_capacity(spec.users);
    for n in 0..spec.users {
        let first = FIRST[rng.below(FIRST.len())];
        let last = LAST[rng.below(LAST.len())];
        let roll = rng.below(total_weight as usize) as u32;
        let mut acc = 0;
        let methods = profiles
            .iter()
            .find(|(w, _)| {
                acc += w;
                roll < acc
            })
            .map(|(_, m)| Arc::clone(m))
            .unwrap_or_default();
        let preferred = preferred_for(&methods, rng);
        let mfa = match rng.below(100) {
            0..=79 => PerUserMfaState::Disabled,
            80..=91 => PerUserMfaState::Enabled,
            _ => PerUserMfaState::Enforced,
        };
        // As Entra stores it: `enabled` becomes `enforced` once an MFA method is registered.
        let mfa = mfa.as_stored(methods.iter().any(|m| is_mfa_registration(m)));
        let guest = rng.below(100) < 3;
        users.push(User {
            id: rng.guid(),
            user_principal_name: if guest {
                format!(
                    "{}.{}{}_ext#EXT#@{domain}",
                    first.to_ascii_lowercase(),
                    last.to_ascii_lowercase(),
                    n + 1
                )
            } else {
                format!(
                    "{}.{}{}@{domain}",
                    first.to_ascii_lowercase(),
                    last.to_ascii_lowercase(),
                    n + 1
                )
            },
            display_name: format!("{first} {last}"),
            user_type: if guest { "guest" } else { "member" }.into(),
            account_enabled: rng.below(100) >= 2,
            is_admin: rng.below(100) == 0,
            methods_registered: methods,
            per_user_mfa_state: mfa.as_str().into(),
            sign_in_preferences: SignInPreferences {
                is_system_preferred_authentication_method_enabled: None,
                user_preferred_method_for_secondary_authentication: preferred,
            },
            is_sspr_enabled: rng.below(100) < 60,
            last_updated_date_time: format!(
                "2026-{:02}-{:02}T08:00:00Z",
                1 + rng.below(9),
                1 + rng.below(28)
            ),
        });
    }
    let groups = generate_groups(spec.groups, &users, rng);
    let mut tenant = Tenant {
        id,
        display_name: org.to_string(),
        domains: vec![domain],
        premium: true,
        apps,
        users,
        groups,
        authentication_methods_policy: crate::msgraph::methods::default_policy(),
        security_defaults: SecurityDefaults { is_enabled: false },
        licence: Licence::P1,
        conditional_access: ConditionalAccess::default(),
        role_assignments: Vec::new(),
        credentials: Credentials::default(),
    };
    super::conditional_access::seed_generated(&mut tenant, index, rng);
    tenant
}

fn preferred_for(methods: &[String], rng: &mut SplitMix64) -> Option<String> {
    if rng.below(100) >= 70 {
        return None;
    }
    let has = |m: &str| methods.iter().any(|x| x == m);
    if has("microsoftAuthenticatorPush") {
        Some("push".into())
    } else if has("softwareOneTimePasscode") || has("hardwareOneTimePasscode") {
        Some("oath".into())
    } else if has("mobilePhone") {
        Some("sms".into())
    } else if has("officePhone") {
        Some("voiceOffice".into())
    } else {
        None
    }
}

fn generate_groups(count: usize, users: &[User], rng: &mut SplitMix64) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::with_capacity(count);
    let pick = |rng: &mut SplitMix64, share: usize| -> Vec<String> {
        users
            .iter()
            .filter(|_| rng.below(1000) < share)
            .map(|u| u.id.clone())
            .collect()
    };
    for g in 0..count {
        let id = rng.guid();
        let (name, members) = match g {
            0 => (
                "All Staff".to_string(),
                users
                    .iter()
                    .filter(|u| u.user_type == "member")
                    .map(|u| u.id.clone())
                    .collect(),
            ),
            1 => (
                "Break Glass Accounts".to_string(),
                users.iter().take(2).map(|u| u.id.clone()).collect(),
            ),
            2 => ("MFA Pilot".to_string(), pick(rng, 50)),
            3 => ("Platform Team".to_string(), pick(rng, 20)),
            4 => {
                // Engineering contains Platform Team: a nested group.
                let mut m = pick(rng, 100);
                m.push(groups[3].id.clone());
                ("Engineering".to_string(), m)
            }
            n => {
                let dept = DEPARTMENTS[(n - 5) % DEPARTMENTS.len()];
                let round = (n - 5) / DEPARTMENTS.len();
                let name = if round == 0 {
                    dept.to_string()
                } else {
                    format!("{dept} {}", round + 1)
                };
                (name, pick(rng, 80))
            }
        };
        groups.push(Group {
            id,
            display_name: name,
            members,
        });
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_parses_and_reports_bad_keys() {
        let s: GenerateSpec = "users=1_000,groups=3,tenants=2,seed=9".parse().unwrap();
        assert_eq!(
            s,
            GenerateSpec {
                users: 1000,
                groups: 3,
                tenants: 2,
                seed: 9
            }
        );
        assert!("userz=1".parse::<GenerateSpec>().is_err());
        assert!("users=x".parse::<GenerateSpec>().is_err());
        assert!("tenants=0".parse::<GenerateSpec>().is_err());
    }

    #[test]
    fn same_seed_same_world_and_a_realistic_mix() {
        let spec = GenerateSpec {
            users: 2000,
            groups: 6,
            tenants: 2,
            seed: 42,
        };
        let a = serde_json::to_string(&generate(&spec)).unwrap();
        let b = serde_json::to_string(&generate(&spec)).unwrap();
        assert_eq!(a, b);
        let state = generate(&spec);
        assert_ne!(state.tenants[0].id, state.tenants[1].id);
        let users = &state.tenants[0].users;
        let none = users
            .iter()
            .filter(|u| u.methods_registered.is_empty())
            .count();
        let phone_only = users
            .iter()
            .filter(|u| *u.methods_registered == ["mobilePhone"])
            .count();
        let passkey = users
            .iter()
            .filter(|u| {
                u.methods_registered
                    .iter()
                    .any(|m| m.starts_with("passKey"))
            })
            .count();
        for (what, n) in [
            ("nothing", none),
            ("phone only", phone_only),
            ("passkey", passkey),
        ] {
            assert!(n > 100 && n < 400, "{what}: {n}");
        }
        assert_eq!(
            state.tenants[0].groups[4].members.last(),
            Some(&state.tenants[0].groups[3].id)
        );
    }

    #[test]
    fn generated_tenants_cover_the_starting_points_by_position() {
        let state = generate(&GenerateSpec {
            users: 20,
            groups: 6,
            tenants: 10,
            seed: 5,
        });
        let seen: Vec<(Licence, bool, bool, usize)> = state
            .tenants
            .iter()
            .map(|t| {
                (
                    t.licence(),
                    t.premium,
                    t.security_defaults.is_enabled,
                    t.conditional_access.policies.len(),
                )
            })
            .collect();
        let cycle = [
            (Licence::P1, true, false, 0),
            (Licence::P1, true, false, 4),
            (Licence::P2, true, false, 0),
            (Licence::Free, false, true, 0),
            (Licence::P1, true, true, 0),
        ];
        assert_eq!(seen[..5], cycle);
        assert_eq!(seen[5..], cycle);
        let world =
            super::super::World::from_state(state).expect("a state the service could produce");
        assert_eq!(world.tenants[3].tenant.licence, Licence::Free);
    }

    #[test]
    fn guids_have_the_right_shape() {
        let g = SplitMix64::new(1).guid();
        assert!(crate::msgraph::schema::is_guid(&g), "{g}");
        assert_eq!(&g[14..15], "4");
    }
}
