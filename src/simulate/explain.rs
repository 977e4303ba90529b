//! Which method a user will be prompted with first, and why.
//!
//! The model (each step is shown by `mfactl explain --user`):
//!
//! 1. **Usable methods.** A row of [`SYSTEM_PREFERRED_ORDER`] is usable when the user
//!    registered one of its `methodsRegistered` values and a method configuration it names
//!    allows the user: state `enabled`, the user in an include target (`all_users`, a group
//!    the user is a transitive member of, or the user), and in no exclude target (exclusion
//!    wins), plus the row's required flag (voice office needs `isOfficePhoneAllowed`).
//!    Windows Hello for Business and macOS Platform SSO are not governed by the policy.
//! 2. **System-preferred MFA** applies when the tenant's `systemCredentialPreferences` state is
//!    `enabled` or `default` (Microsoft-managed, which Microsoft documents as enabled today)
//!    and the user is included and not excluded. A user excluded there is off whatever else
//!    is set. Otherwise (tenant state `disabled`, or the user not included) the user's own
//!    `isSystemPreferredAuthenticationMethodEnabled` decides. How the tenant setting and the
//!    user's own flag combine is not documented by Microsoft: this is mfactl's reading.
//! 3. **The method prompted first** is the most preferred usable method when system-preferred
//!    MFA applies; otherwise the user's default method (`userPreferredMethodForSecondaryAuthentication`)
//!    if it is usable; otherwise the most preferred usable method (Entra's choice there is not
//!    documented). No usable method: `none`.
//! 4. **Whether MFA is required** comes from legacy per-user MFA (enforced, enabled) and
//!    security defaults; without either, only Conditional Access (not modelled) requires it.
//!    Neither changes which method is prompted. SMS `isUsableForSignIn` lets the user sign in
//!    with a text message as the first factor; it does not change the MFA prompt either.

use std::collections::HashSet;

use serde::Serialize;
use serde_json::Value;

use super::directory::{Directory, UserState};
use crate::msgraph::ALL_USERS;
use crate::msgraph::PreferredMethod;
use crate::msgraph::order::{RankedMethod, SYSTEM_PREFERRED_ORDER};

/// The prompt method of a user with no usable method.
pub const NONE: &str = "none";

/// Who a list of include or exclude targets covers.
#[derive(Debug, Default, Clone)]
pub struct Targets {
    all: bool,
    groups: Vec<String>,
    users: HashSet<u128>,
}

impl Targets {
    /// The targets of an `includeTargets` or `excludeTargets` list (or a single target).
    pub fn read(targets: &Value) -> Self {
        let mut t = Targets::default();
        let list: Vec<&Value> = match targets {
            Value::Array(a) => a.iter().collect(),
            Value::Object(_) => vec![targets],
            _ => Vec::new(),
        };
        for target in list {
            let id = target["id"].as_str().unwrap_or_default();
            if id.eq_ignore_ascii_case(ALL_USERS) {
                t.all = true;
            } else if target["targetType"] == "user" {
                if let Some(u) = super::directory::parse_guid(id) {
                    t.users.insert(u);
                }
            } else {
                t.groups.push(id.to_ascii_lowercase());
            }
        }
        t
    }

    /// The group ids named (lower case), whose members must be read for [`Targets::covers`].
    pub fn groups(&self) -> &[String] {
        &self.groups
    }

    /// Whether user `index` of `dir` is covered: everyone, a group whose members were read,
    /// or the user by id.
    pub fn covers(&self, dir: &Directory, index: u32) -> bool {
        self.all
            || self.groups.iter().any(|g| dir.is_member(g, index))
            || (!self.users.is_empty()
                && dir
                    .users()
                    .get(index as usize)
                    .is_some_and(|u| self.users.contains(&u.id)))
    }

    /// What the targets name, for messages.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.all {
            parts.push("all users".to_string());
        }
        parts.extend(self.groups.iter().map(|g| format!("group {g}")));
        if !self.users.is_empty() {
            parts.push(format!("{} user(s)", self.users.len()));
        }
        if parts.is_empty() {
            "nobody".into()
        } else {
            parts.join(", ")
        }
    }
}

/// One method configuration: its type, state, targets and the Boolean flags it has set.
#[derive(Debug, Clone)]
struct Configuration {
    odata_type: String,
    enabled: bool,
    flags: Vec<String>,
    include: Targets,
    exclude: Targets,
    /// SMS: include targets with `isUsableForSignIn`.
    sign_in: Targets,
}

/// The tenant-wide system-preferred setting.
#[derive(Debug, Clone)]
struct SystemCredentialPreferences {
    state: String,
    include: Targets,
    exclude: Targets,
}

/// The tenant's policy, read once for the simulation of every user.
#[derive(Debug, Clone)]
pub struct TenantPolicy {
    configurations: Vec<Configuration>,
    system_preferred: Option<SystemCredentialPreferences>,
}

impl TenantPolicy {
    /// From the authentication methods policy as Graph returns it (configurations inline)
    /// and the security-defaults state, if known.
    pub fn new(methods_policy: &Value) -> Self {
        let configurations = methods_policy["authenticationMethodConfigurations"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                let sign_in: Vec<Value> = c["includeTargets"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|t| t["isUsableForSignIn"] == true)
                    .cloned()
                    .collect();
                Configuration {
                    odata_type: c["@odata.type"]
                        .as_str()
                        .unwrap_or_default()
                        .trim_start_matches('#')
                        .trim_start_matches("microsoft.graph.")
                        .to_string(),
                    enabled: c["state"] == "enabled",
                    flags: c
                        .as_object()
                        .map(|m| {
                            m.iter()
                                .filter(|(_, v)| v.as_bool() == Some(true))
                                .map(|(k, _)| k.clone())
                                .collect()
                        })
                        .unwrap_or_default(),
                    include: Targets::read(&c["includeTargets"]),
                    exclude: Targets::read(&c["excludeTargets"]),
                    sign_in: Targets::read(&Value::Array(sign_in)),
                }
            })
            .collect();
        let scp = &methods_policy["systemCredentialPreferences"];
        let system_preferred = scp.is_object().then(|| SystemCredentialPreferences {
            state: scp["state"].as_str().unwrap_or("default").to_string(),
            include: Targets::read(&scp["includeTargets"]),
            exclude: Targets::read(&scp["excludeTargets"]),
        });
        Self {
            configurations,
            system_preferred,
        }
    }

    /// Every group id the policy's targets name (lower case), so that their members can be
    /// read before simulating.
    pub fn groups(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut add = |t: &Targets| {
            for g in &t.groups {
                if !out.contains(g) {
                    out.push(g.clone());
                }
            }
        };
        for c in &self.configurations {
            add(&c.include);
            add(&c.exclude);
        }
        if let Some(s) = &self.system_preferred {
            add(&s.include);
            add(&s.exclude);
        }
        out
    }

    /// Whether the tenant's system-preferred setting decides for user `index` (enabled or
    /// Microsoft-managed, and the user included or excluded), so that the user's own flag
    /// plays no part. The report's `isSystemPreferredAuthenticationMethodEnabled` is the
    /// effective value: it is the user's own flag only where this is false.
    pub fn decides_system_preferred(&self, dir: &Directory, index: u32) -> bool {
        self.system_preferred.as_ref().is_some_and(|s| {
            matches!(s.state.as_str(), "enabled" | "default")
                && (s.exclude.covers(dir, index) || s.include.covers(dir, index))
        })
    }

    fn row_allowed(&self, row: &RankedMethod, dir: &Directory, index: u32) -> bool {
        row.configurations.is_empty()
            || self.configurations.iter().any(|c| {
                row.configurations.contains(&c.odata_type.as_str())
                    && row
                        .requires
                        .is_none_or(|flag| c.flags.iter().any(|f| f == flag))
                    && c.enabled
                    && c.include.covers(dir, index)
                    && !c.exclude.covers(dir, index)
            })
    }
}

/// Whether system-preferred MFA applies to the user, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum SystemPreferred {
    /// The tenant enables it (`enabled`) and includes the user.
    Tenant,
    /// The tenant leaves it to Microsoft (`default`), which Microsoft documents as enabled.
    MicrosoftManaged,
    /// The tenant excludes the user: off, whatever the user's own setting.
    Excluded,
    /// The tenant does not apply it to the user; the user's own setting turns it on.
    UserSetting,
    /// Off: neither the tenant nor the user's own setting turns it on.
    Off,
}

impl SystemPreferred {
    /// Whether the most preferred method is prompted.
    pub fn applies(self) -> bool {
        matches!(
            self,
            Self::Tenant | Self::MicrosoftManaged | Self::UserSetting
        )
    }
}

/// Where the prompted method comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Source {
    /// System-preferred MFA: the most preferred usable method.
    SystemPreferred,
    /// The user's default method.
    DefaultMethod,
    /// No usable default: the most preferred usable method (assumed).
    Fallback,
    /// No usable method at all.
    NoUsableMethod,
}

/// The outcome for one user; small and `Copy`, so that a million of them fit easily.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Index into [`SYSTEM_PREFERRED_ORDER`] of the prompted method; `None` for no usable method.
    pub row: Option<u8>,
    /// Where it comes from.
    pub source: Source,
    /// Whether system-preferred MFA applies, and why.
    pub system_preferred: SystemPreferred,
    /// Index of the most preferred usable method (what system-preferred MFA would pick).
    pub most_preferred: Option<u8>,
    /// Usable rows of [`SYSTEM_PREFERRED_ORDER`], one bit each.
    pub usable: u16,
    /// Whether SMS sign-in (first factor) is open to the user.
    pub sms_sign_in: bool,
}

impl Outcome {
    /// The prompted method in the report's vocabulary (`push`, `fido2`, ...), or `none`.
    pub fn method(&self) -> &'static str {
        row_value(self.row)
    }

    /// The method system-preferred MFA would pick, or `none`.
    pub fn most_preferred_method(&self) -> &'static str {
        row_value(self.most_preferred)
    }

    /// The usable methods, most preferred first, without repeats.
    pub fn usable_methods(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for (i, row) in SYSTEM_PREFERRED_ORDER.iter().enumerate() {
            if self.usable & (1 << i) != 0 && !out.contains(&row.report_value) {
                out.push(row.report_value);
            }
        }
        out
    }
}

fn row_value(row: Option<u8>) -> &'static str {
    row.and_then(|r| SYSTEM_PREFERRED_ORDER.get(r as usize))
        .map_or(NONE, |m| m.report_value)
}

/// The simulation of one tenant state: the policy and the directory.
pub struct Simulation<'a> {
    /// The policy.
    pub policy: &'a TenantPolicy,
    /// Users and group members.
    pub directory: &'a Directory,
}

impl Simulation<'_> {
    /// The outcome for user `index` with `state`.
    pub fn outcome(&self, index: u32, state: &UserState) -> Outcome {
        let Some(user) = self.directory.users().get(index as usize) else {
            return Outcome {
                row: None,
                source: Source::NoUsableMethod,
                system_preferred: SystemPreferred::Off,
                most_preferred: None,
                usable: 0,
                sms_sign_in: false,
            };
        };
        let mut usable = 0u16;
        for (i, row) in SYSTEM_PREFERRED_ORDER.iter().enumerate() {
            if user.registered.any(row.registered)
                && self.policy.row_allowed(row, self.directory, index)
            {
                usable |= 1 << i;
            }
        }
        let most_preferred = (0..SYSTEM_PREFERRED_ORDER.len())
            .find(|i| usable & (1 << i) != 0)
            .map(|i| i as u8);
        let system_preferred = self.system_preferred(index, state);
        let default_row = state.preferred.and_then(|p| {
            (0..SYSTEM_PREFERRED_ORDER.len())
                .find(|&i| {
                    usable & (1 << i) != 0 && SYSTEM_PREFERRED_ORDER[i].report_value == p.as_str()
                })
                .map(|i| i as u8)
        });
        let (row, source) = match (most_preferred, system_preferred.applies(), default_row) {
            (None, _, _) => (None, Source::NoUsableMethod),
            (Some(best), true, _) => (Some(best), Source::SystemPreferred),
            (Some(_), false, Some(d)) => (Some(d), Source::DefaultMethod),
            (Some(best), false, None) => (Some(best), Source::Fallback),
        };
        let sms_sign_in = user.registered.has("mobilePhone")
            && self.policy.configurations.iter().any(|c| {
                c.odata_type == "smsAuthenticationMethodConfiguration"
                    && c.enabled
                    && c.sign_in.covers(self.directory, index)
                    && !c.exclude.covers(self.directory, index)
            });
        Outcome {
            row,
            source,
            system_preferred,
            most_preferred,
            usable,
            sms_sign_in,
        }
    }

    fn system_preferred(&self, index: u32, state: &UserState) -> SystemPreferred {
        let user_flag = || {
            if state.system_preferred == Some(true) {
                SystemPreferred::UserSetting
            } else {
                SystemPreferred::Off
            }
        };
        let Some(scp) = &self.policy.system_preferred else {
            return user_flag();
        };
        let on = match scp.state.as_str() {
            "enabled" => SystemPreferred::Tenant,
            "default" => SystemPreferred::MicrosoftManaged,
            _ => return user_flag(),
        };
        if scp.exclude.covers(self.directory, index) {
            SystemPreferred::Excluded
        } else if scp.include.covers(self.directory, index) {
            on
        } else {
            user_flag()
        }
    }

    /// The reasoning for one user, step by step, for people.
    pub fn steps(&self, index: u32, state: &UserState) -> Vec<String> {
        let outcome = self.outcome(index, state);
        let Some(user) = self.directory.users().get(index as usize) else {
            return vec!["unknown user".into()];
        };
        let mut steps = Vec::new();
        let registered: Vec<&str> = user.registered.values().collect();
        steps.push(if !user.in_report {
            "No registration details: the report has no row for this user (a disabled account, or not read).".to_string()
        } else if registered.is_empty() {
            "Registered methods: none.".to_string()
        } else {
            format!("Registered methods: {}.", registered.join(", "))
        });
        for (i, row) in SYSTEM_PREFERRED_ORDER.iter().enumerate() {
            if !user.registered.any(row.registered) {
                continue;
            }
            let verdict = if outcome.usable & (1 << i) != 0 {
                "usable".to_string()
            } else {
                format!("not usable: {}", self.why_not(row, index))
            };
            steps.push(format!(
                "Rank {} {} ({}): {verdict}.",
                row.rank, row.credential, row.report_value
            ));
        }
        let scp = &self.policy.system_preferred;
        let tenant = match scp {
            None => "the tenant policy has no systemCredentialPreferences".to_string(),
            Some(s) => format!(
                "the tenant's state is `{}`{}, include: {}, exclude: {}",
                s.state,
                if s.state == "default" {
                    " (Microsoft-managed, which Microsoft documents as enabled: counted as enabled)"
                } else {
                    ""
                },
                s.include.describe(),
                s.exclude.describe()
            ),
        };
        let own = match state.system_preferred {
            Some(v) => format!("the user's own setting is {v}"),
            None => "the user's own setting was not read".to_string(),
        };
        steps.push(format!(
            "System-preferred MFA: {}; {tenant}; {own}.",
            match outcome.system_preferred {
                SystemPreferred::Tenant => "on (the tenant enables it for this user)",
                SystemPreferred::MicrosoftManaged => "on (Microsoft-managed)",
                SystemPreferred::Excluded => "off (the tenant excludes this user; exclusion wins)",
                SystemPreferred::UserSetting =>
                    "on (the user's own setting; the tenant does not apply it to this user)",
                SystemPreferred::Off => "off",
            }
        ));
        steps.push(match state.preferred {
            Some(p) => format!(
                "Default method: {}{}.",
                p.as_str(),
                if outcome.usable_methods().contains(&p.as_str()) {
                    ""
                } else {
                    " (not usable)"
                }
            ),
            None => "Default method: none set.".to_string(),
        });
        steps.push(match outcome.source {
            Source::SystemPreferred => format!(
                "Prompted first: {} — the most preferred usable method, because system-preferred MFA applies{}.",
                outcome.method(),
                match state.preferred {
                    Some(p) if p.as_str() != outcome.method() => format!(" (the default method {} is ignored)", p.as_str()),
                    _ => String::new(),
                }
            ),
            Source::DefaultMethod => format!("Prompted first: {} — the user's default method.", outcome.method()),
            Source::Fallback => format!(
                "Prompted first: {} — no usable default method, so the most preferred usable one is assumed (Entra does not document its choice here).",
                outcome.method()
            ),
            Source::NoUsableMethod => "Prompted first: none — no registered method is usable: the user cannot complete MFA.".to_string(),
        });
        if outcome.sms_sign_in {
            steps.push("SMS sign-in: on — the user can also sign in with a text message as the first factor.".into());
        }
        steps
    }

    fn why_not(&self, row: &RankedMethod, index: u32) -> String {
        let configs: Vec<&Configuration> = self
            .policy
            .configurations
            .iter()
            .filter(|c| row.configurations.contains(&c.odata_type.as_str()))
            .collect();
        if configs.is_empty() {
            return "the tenant has no configuration for it".into();
        }
        let reasons: Vec<String> = configs
            .iter()
            .map(|c| {
                let name = c
                    .odata_type
                    .trim_end_matches("AuthenticationMethodConfiguration");
                if !c.enabled {
                    format!("{name} is disabled")
                } else if c.exclude.covers(self.directory, index) {
                    format!("{name} excludes the user")
                } else if !c.include.covers(self.directory, index) {
                    format!("{name} does not include the user")
                } else if let Some(flag) = row.requires.filter(|f| !c.flags.iter().any(|x| x == f))
                {
                    format!("{name} has {flag} off")
                } else {
                    format!("{name} allows it")
                }
            })
            .collect();
        reasons.join("; ")
    }
}

/// A user's default method, as the prompt method it names.
pub fn preferred_value(p: Option<PreferredMethod>) -> &'static str {
    p.map_or(NONE, PreferredMethod::as_str)
}
