//! Table-driven tests of the simulation: which method each user is prompted with first
//! (`explain.rs`), before/after comparisons and summaries (`impact.rs`).
//!
//! Policies are built as the JSON Graph returns for GET /policies/authenticationMethodsPolicy
//! (configurations inline, targets as arrays), the directory with `Directory::upsert`,
//! `set_group` and `state_mut`.

use serde_json::{Value, json};

use super::directory::{Directory, Registered, UserRecord, UserState, format_guid};
use super::explain::{
    MfaRequirement, NONE, Outcome, Simulation, Source, SystemPreferred, TenantPolicy,
    preferred_value,
};
use super::impact::{AffectedUser, Impact, Transition, impact, summary};
use crate::msgraph::order::{RankedMethod, SYSTEM_PREFERRED_ORDER};
use crate::msgraph::{PerUserMfaState, PreferredMethod};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const CONFIG_SUFFIX: &str = "AuthenticationMethodConfiguration";

// Configuration kinds: the @odata.type without `#microsoft.graph.` and the suffix.
const TAP: &str = "temporaryAccessPass";
const FIDO2: &str = "fido2";
const X509: &str = "x509Certificate";
const AUTHENTICATOR: &str = "microsoftAuthenticator";
const EXTERNAL: &str = "external";
const SOFTWARE_OATH: &str = "softwareOath";
const HARDWARE_OATH: &str = "hardwareOath";
const SMS: &str = "sms";
const VOICE: &str = "voice";
const EMAIL: &str = "email";

/// Every method configuration the helpers build.
const KINDS: &[&str] = &[
    TAP,
    FIDO2,
    X509,
    AUTHENTICATOR,
    EXTERNAL,
    SOFTWARE_OATH,
    HARDWARE_OATH,
    SMS,
    VOICE,
    EMAIL,
];

const ADA: u128 = 0xdad4ae4a_730c_4e52_826c_0d9094971f04;
const BOB: u128 = 0x0b0b0b0b_0000_4000_8000_000000000002;
const GROUP_OUTER: &str = "6A1E4C52-0B0F-4C1B-9E0B-8F3C2D1A0001";
const GROUP_OTHER: &str = "6a1e4c52-0b0f-4c1b-9e0b-8f3c2d1a0002";

fn odata_type(kind: &str) -> String {
    format!("#microsoft.graph.{kind}{CONFIG_SUFFIX}")
}

/// The configuration kind of a short OData type as [`SYSTEM_PREFERRED_ORDER`] names it.
fn kind_of(short_type: &str) -> &str {
    short_type
        .strip_suffix(CONFIG_SUFFIX)
        .expect("a method configuration type")
}

fn all_users() -> Value {
    json!([{"targetType": "group", "id": "all_users", "isRegistrationRequired": false}])
}

fn group(id: &str) -> Value {
    json!([{"targetType": "group", "id": id, "isRegistrationRequired": false}])
}

fn user_target(id: &str) -> Value {
    json!([{"targetType": "user", "id": id, "isRegistrationRequired": false}])
}

fn nobody() -> Value {
    json!([])
}

fn config(kind: &str, state: &str, include: Value, exclude: Value) -> Value {
    json!({
        "@odata.type": odata_type(kind),
        "id": kind,
        "state": state,
        "excludeTargets": exclude,
        "includeTargets": include,
    })
}

fn scp_json(state: &str, include: Value, exclude: Value) -> Value {
    json!({"state": state, "excludeTargets": exclude, "includeTargets": include})
}

/// A policy under construction, as Graph's GET of the authentication methods policy.
#[derive(Clone)]
struct Policy {
    configs: Vec<Value>,
    scp: Option<Value>,
    security_defaults: Option<bool>,
}

impl Policy {
    /// Every configuration enabled for all users (office phone allowed), system-preferred MFA
    /// `enabled` for all users.
    fn all_enabled() -> Self {
        let configs = KINDS
            .iter()
            .map(|k| config(k, "enabled", all_users(), nobody()))
            .collect();
        Self {
            configs,
            scp: Some(scp_json("enabled", all_users(), nobody())),
            security_defaults: None,
        }
        .set(VOICE, "isOfficePhoneAllowed", json!(true))
        .set(AUTHENTICATOR, "isSoftwareOathEnabled", json!(false))
        .set(
            AUTHENTICATOR,
            "includeTargets",
            json!([{"targetType": "group", "id": "all_users", "isRegistrationRequired": false, "authenticationMode": "any"}]),
        )
        .set(EXTERNAL, "id", json!("c5e1c4b0-7d5f-4a43-9e0a-1f2a3b4c5d6e"))
        .set(EXTERNAL, "appId", json!("a0b1c2d3-0000-4000-8000-000000000001"))
        .set(EXTERNAL, "displayName", json!("Contoso MFA"))
        .set(
            SMS,
            "includeTargets",
            json!([{"targetType": "group", "id": "all_users", "isRegistrationRequired": false, "isUsableForSignIn": false}]),
        )
    }

    /// No method configuration at all, system-preferred MFA `enabled` for all users.
    fn no_configurations() -> Self {
        Self {
            configs: Vec::new(),
            scp: Some(scp_json("enabled", all_users(), nobody())),
            security_defaults: None,
        }
    }

    fn config_mut(&mut self, kind: &str) -> &mut Value {
        let t = odata_type(kind);
        self.configs
            .iter_mut()
            .find(|c| c["@odata.type"] == t.as_str())
            .unwrap_or_else(|| panic!("no {kind} configuration"))
    }

    fn set(mut self, kind: &str, key: &str, value: Value) -> Self {
        self.config_mut(kind)[key] = value;
        self
    }

    fn state(self, kind: &str, state: &str) -> Self {
        self.set(kind, "state", json!(state))
    }

    fn include(self, kind: &str, targets: Value) -> Self {
        self.set(kind, "includeTargets", targets)
    }

    fn exclude(self, kind: &str, targets: Value) -> Self {
        self.set(kind, "excludeTargets", targets)
    }

    fn scp(mut self, state: &str, include: Value, exclude: Value) -> Self {
        self.scp = Some(scp_json(state, include, exclude));
        self
    }

    fn without_scp(mut self) -> Self {
        self.scp = None;
        self
    }

    fn security_defaults(mut self, on: Option<bool>) -> Self {
        self.security_defaults = on;
        self
    }

    fn json(&self) -> Value {
        let mut p = json!({
            "id": "authenticationMethodsPolicy",
            "displayName": "Authentication Methods Policy",
            "policyVersion": "1.5",
            "authenticationMethodConfigurations": self.configs,
        });
        if let Some(scp) = &self.scp {
            p["systemCredentialPreferences"] = scp.clone();
        }
        p
    }

    fn build(&self) -> TenantPolicy {
        TenantPolicy::new(&self.json(), self.security_defaults)
    }
}

fn add_user(dir: &mut Directory, id: u128, upn: &str, registered: &[&str]) -> u32 {
    dir.upsert(UserRecord {
        id,
        upn: upn.into(),
        registered: Registered::from_values(registered.iter().copied()),
        in_report: true,
    })
}

fn set_state(dir: &mut Directory, index: u32, state: UserState) {
    *dir.state_mut(index).expect("user index") = state;
}

fn user_state(preferred: Option<PreferredMethod>, own: Option<bool>) -> UserState {
    UserState {
        preferred,
        system_preferred: own,
        per_user_mfa: None,
        ..UserState::default()
    }
}

fn outcome_of(policy: &TenantPolicy, dir: &Directory, index: u32) -> Outcome {
    Simulation {
        policy,
        directory: dir,
    }
    .outcome(index, &dir.state()[index as usize])
}

/// The outcome for a lone user (ADA) with these registered methods and this state.
fn prompt(policy: &Policy, registered: &[&str], state: UserState) -> Outcome {
    let mut dir = Directory::new();
    let i = add_user(&mut dir, ADA, "ada@contoso.com", registered);
    set_state(&mut dir, i, state);
    outcome_of(&policy.build(), &dir, i)
}

fn row_index(report_value: &str) -> usize {
    SYSTEM_PREFERRED_ORDER
        .iter()
        .position(|r| r.report_value == report_value)
        .unwrap_or_else(|| panic!("no row {report_value}"))
}

fn is_usable(o: &Outcome, row: usize) -> bool {
    o.usable & (1 << row) != 0
}

/// The `methodsRegistered` values of rows `from..`.
fn registered_from(from: usize) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for r in &SYSTEM_PREFERRED_ORDER[from..] {
        for v in r.registered {
            if !out.contains(v) {
                out.push(v);
            }
        }
    }
    out
}

fn registers_any(row: &RankedMethod, values: &[&str]) -> bool {
    row.registered.iter().any(|v| values.contains(v))
}

// ---------------------------------------------------------------------------------------------
// 1. The system-preferred order
// ---------------------------------------------------------------------------------------------

#[test]
fn the_helpers_enable_every_configuration_the_order_names() {
    // Otherwise the table-driven tests below would silently test a disabled method.
    for row in SYSTEM_PREFERRED_ORDER {
        for c in row.configurations {
            assert!(
                KINDS.contains(&kind_of(c)),
                "{} names {c}",
                row.report_value
            );
        }
    }
    // Outcome keeps the usable rows in a u16 and a row index in a u8.
    assert!(SYSTEM_PREFERRED_ORDER.len() <= 16);
}

#[test]
fn the_order_is_the_published_one() {
    // Hand-written on purpose: an accidental reorder of the table must fail here.
    let expected: &[(u8, &str)] = &[
        (1, "temporaryAccessPass"),
        (2, "fido2"),
        (2, "windowsHelloForBusiness"),
        (3, "x509Certificate"),
        (4, "push"),
        (5, "externalAuthMethod"),
        (6, "oath"),
        (6, "oath"),
        (7, "sms"),
        (7, "voiceMobile"),
        (7, "voiceAlternateMobile"),
        (7, "voiceOffice"),
    ];
    let actual: Vec<(u8, &str)> = SYSTEM_PREFERRED_ORDER
        .iter()
        .map(|r| (r.rank, r.report_value))
        .collect();
    assert_eq!(actual, expected);
    // Ranks never go down in table order (rows of one rank are tried in table order).
    assert!(
        SYSTEM_PREFERRED_ORDER
            .windows(2)
            .all(|w| w[0].rank <= w[1].rank)
    );
}

#[test]
fn each_row_wins_over_every_lower_row_and_the_next_row_wins_without_it() {
    let policy = Policy::all_enabled();
    for (i, row) in SYSTEM_PREFERRED_ORDER.iter().enumerate() {
        // The row's methods plus every lower-ranked method.
        let from_here = registered_from(i);
        // A row sharing a registered value with an earlier row (voiceMobile shares mobilePhone
        // with sms) is shadowed by it while that row's configuration is enabled.
        let shadow = SYSTEM_PREFERRED_ORDER[..i]
            .iter()
            .position(|r| registers_any(r, &from_here));
        let o = prompt(&policy, &from_here, user_state(None, None));
        let winner = shadow.unwrap_or(i);
        assert_eq!(
            o.method(),
            SYSTEM_PREFERRED_ORDER[winner].report_value,
            "row {i} ({}) with {from_here:?}",
            row.report_value
        );
        assert_eq!(o.row, Some(winner as u8), "row {i}");
        assert_eq!(o.most_preferred, Some(winner as u8), "row {i}");
        assert_eq!(o.source, Source::SystemPreferred, "row {i}");
        assert_eq!(o.system_preferred, SystemPreferred::Tenant, "row {i}");
        assert!(is_usable(&o, i), "row {i} must be usable");
        if let Some(s) = shadow {
            // Disabling the shadowing row's own configurations lets this row win.
            let mut p = policy.clone();
            for c in SYSTEM_PREFERRED_ORDER[s].configurations {
                if !row.configurations.contains(c) {
                    p = p.state(kind_of(c), "disabled");
                }
            }
            let o = prompt(&p, &from_here, user_state(None, None));
            assert_eq!(
                o.method(),
                row.report_value,
                "row {i} once row {s} is disabled"
            );
            assert_eq!(o.row, Some(i as u8));
        }

        // Only lower ranks: the values of rows after i that no row up to i registers.
        let below: Vec<&str> = registered_from(i + 1)
            .into_iter()
            .filter(|v| {
                !SYSTEM_PREFERRED_ORDER[..=i]
                    .iter()
                    .any(|r| r.registered.contains(v))
            })
            .collect();
        let next = (i + 1..SYSTEM_PREFERRED_ORDER.len())
            .find(|&j| registers_any(&SYSTEM_PREFERRED_ORDER[j], &below));
        let o = prompt(&policy, &below, user_state(None, None));
        assert!(
            !is_usable(&o, i),
            "row {i} must not be usable with {below:?}"
        );
        match next {
            Some(j) => {
                assert_eq!(
                    o.method(),
                    SYSTEM_PREFERRED_ORDER[j].report_value,
                    "below row {i} ({}) with {below:?}",
                    row.report_value
                );
                assert_eq!(o.row, Some(j as u8));
                assert_eq!(o.source, Source::SystemPreferred);
            }
            None => {
                assert_eq!(
                    i,
                    SYSTEM_PREFERRED_ORDER.len() - 1,
                    "only below the last row"
                );
                assert_eq!(o.method(), NONE);
                assert_eq!(o.source, Source::NoUsableMethod);
            }
        }
    }
}

/// The current order by hand: each credential with the values that register it and what the
/// user is prompted with (every configuration enabled, system-preferred on).
const CASCADE: &[(&str, &[&str])] = &[
    ("temporaryAccessPass", &["temporaryAccessPass"]),
    (
        "fido2",
        &[
            "fido2SecurityKey",
            "fido2",
            "passKeyDeviceBound",
            "passKeyDeviceBoundAuthenticator",
            "passKeyDeviceBoundWindowsHello",
            "passKeySynced",
        ],
    ),
    (
        "windowsHelloForBusiness",
        &["windowsHelloForBusiness", "macOsSecureEnclaveKey"],
    ),
    ("x509Certificate", &["certificateBasedAuthentication"]),
    (
        "push",
        &[
            "microsoftAuthenticatorPush",
            "microsoftAuthenticatorPasswordless",
        ],
    ),
    ("externalAuthMethod", &["externalAuthMethod"]),
    ("oath", &["softwareOneTimePasscode"]),
    ("oath", &["hardwareOneTimePasscode"]),
    ("sms", &["mobilePhone"]),
    ("voiceAlternateMobile", &["alternateMobilePhone"]),
    ("voiceOffice", &["officePhone"]),
];

#[test]
fn the_current_order_by_hand_tap_passkey_cba_push_external_totp_sms_voice() {
    let policy = Policy::all_enabled();
    for k in 0..CASCADE.len() {
        let registered: Vec<&str> = CASCADE[k..]
            .iter()
            .flat_map(|(_, v)| v.iter().copied())
            .collect();
        let o = prompt(&policy, &registered, user_state(None, None));
        assert_eq!(o.method(), CASCADE[k].0, "with {registered:?}");
        assert_eq!(o.source, Source::SystemPreferred);
    }
    // Nothing left.
    assert_eq!(prompt(&policy, &[], user_state(None, None)).method(), NONE);
    // Telephony: SMS before a voice call to the same mobile phone, which wins once SMS is off.
    let phones = ["mobilePhone", "alternateMobilePhone", "officePhone"];
    assert_eq!(
        prompt(&policy, &phones, user_state(None, None)).method(),
        "sms"
    );
    let no_sms = Policy::all_enabled().state(SMS, "disabled");
    assert_eq!(
        prompt(&no_sms, &phones, user_state(None, None)).method(),
        "voiceMobile"
    );
    // Pairs across adjacent ranks, the higher one first whatever the order of registration.
    let pairs: &[(&str, &str, &str)] = &[
        ("mobilePhone", "temporaryAccessPass", "temporaryAccessPass"),
        ("certificateBasedAuthentication", "passKeySynced", "fido2"),
        (
            "microsoftAuthenticatorPush",
            "certificateBasedAuthentication",
            "x509Certificate",
        ),
        ("externalAuthMethod", "microsoftAuthenticatorPush", "push"),
        (
            "softwareOneTimePasscode",
            "externalAuthMethod",
            "externalAuthMethod",
        ),
        ("mobilePhone", "hardwareOneTimePasscode", "oath"),
        ("officePhone", "mobilePhone", "sms"),
    ];
    for (a, b, expected) in pairs {
        let o = prompt(&policy, &[*a, *b], user_state(None, None));
        assert_eq!(o.method(), *expected, "{a} + {b}");
    }
}

#[test]
fn each_method_alone_is_prompted_as_its_report_value() {
    let policy = Policy::all_enabled();
    for (expected, values) in CASCADE {
        for v in *values {
            let o = prompt(&policy, &[*v], user_state(None, None));
            assert_eq!(o.method(), *expected, "{v} alone");
            // A mobile phone also allows a voice call (same rank, after SMS).
            let usable = if *v == "mobilePhone" {
                vec!["sms", "voiceMobile"]
            } else {
                vec![*expected]
            };
            assert_eq!(o.usable_methods(), usable, "{v} alone");
        }
    }
}

#[test]
fn usable_methods_and_most_preferred_follow_the_order_without_repeats() {
    let o = prompt(
        &Policy::all_enabled().scp("disabled", all_users(), nobody()),
        &[
            "mobilePhone",
            "hardwareOneTimePasscode",
            "softwareOneTimePasscode",
            "microsoftAuthenticatorPush",
        ],
        user_state(Some(PreferredMethod::Sms), Some(false)),
    );
    assert_eq!(o.usable_methods(), ["push", "oath", "sms", "voiceMobile"]);
    assert_eq!(o.most_preferred_method(), "push");
    assert_eq!(o.method(), "sms");
    assert_eq!(o.source, Source::DefaultMethod);
}

#[test]
fn the_default_method_is_ignored_when_system_preferred_applies() {
    let o = prompt(
        &Policy::all_enabled(),
        &["microsoftAuthenticatorPush", "mobilePhone"],
        user_state(Some(PreferredMethod::Sms), Some(false)),
    );
    assert_eq!(o.method(), "push");
    assert_eq!(o.source, Source::SystemPreferred);
}

// ---------------------------------------------------------------------------------------------
// 2. The rules, one by one
// ---------------------------------------------------------------------------------------------

#[test]
fn exclusion_wins_over_inclusion() {
    let policy = Policy::all_enabled()
        .include(FIDO2, group(GROUP_OUTER))
        .exclude(FIDO2, group(GROUP_OTHER))
        .build();
    let mut dir = Directory::new();
    let ada = add_user(
        &mut dir,
        ADA,
        "ada@contoso.com",
        &["fido2SecurityKey", "mobilePhone"],
    );
    let bob = add_user(
        &mut dir,
        BOB,
        "bob@contoso.com",
        &["fido2SecurityKey", "mobilePhone"],
    );
    dir.set_group(
        GROUP_OUTER,
        [
            (ADA, "ada@contoso.com".into()),
            (BOB, "bob@contoso.com".into()),
        ],
    );
    dir.set_group(GROUP_OTHER, [(ADA, "ada@contoso.com".into())]);
    let a = outcome_of(&policy, &dir, ada);
    assert_eq!(a.method(), "sms", "ada is included and excluded: excluded");
    assert!(!is_usable(&a, row_index("fido2")));
    let b = outcome_of(&policy, &dir, bob);
    assert_eq!(b.method(), "fido2", "bob is only included");

    // all_users included, the user excluded by user target.
    let o = prompt(
        &Policy::all_enabled().exclude(AUTHENTICATOR, user_target(&format_guid(ADA))),
        &["microsoftAuthenticatorPush", "mobilePhone"],
        user_state(None, None),
    );
    assert_eq!(o.method(), "sms");
    // Exclusion of a group whose members were not read excludes nobody.
    let o = prompt(
        &Policy::all_enabled().exclude(AUTHENTICATOR, group(GROUP_OTHER)),
        &["microsoftAuthenticatorPush", "mobilePhone"],
        user_state(None, None),
    );
    assert_eq!(o.method(), "push");
}

#[test]
fn a_disabled_configuration_makes_its_methods_unusable() {
    // Specific case: Authenticator disabled, a push + phone user falls to SMS.
    let o = prompt(
        &Policy::all_enabled().state(AUTHENTICATOR, "disabled"),
        &["microsoftAuthenticatorPush", "mobilePhone"],
        user_state(None, None),
    );
    assert_eq!(o.method(), "sms");
    assert_eq!(o.usable_methods(), ["sms", "voiceMobile"]);

    // Every row: disabling each configuration it names makes it unusable; rows with no
    // configuration stay usable.
    for (i, row) in SYSTEM_PREFERRED_ORDER.iter().enumerate() {
        let mut p = Policy::all_enabled();
        for c in row.configurations {
            p = p.state(kind_of(c), "disabled");
        }
        let o = prompt(&p, row.registered, user_state(None, None));
        assert_eq!(
            is_usable(&o, i),
            row.configurations.is_empty(),
            "row {i} ({}) with its configurations disabled",
            row.report_value
        );
        // A configuration absent from the policy is as good as disabled.
        let mut p = Policy::all_enabled();
        p.configs.retain(|c| {
            !row.configurations
                .iter()
                .any(|t| c["@odata.type"] == format!("#microsoft.graph.{t}"))
        });
        let o = prompt(&p, row.registered, user_state(None, None));
        assert_eq!(
            is_usable(&o, i),
            row.configurations.is_empty(),
            "row {i} absent"
        );
    }
}

#[test]
fn a_group_target_covers_transitive_members_only() {
    // The user is in an inner group nested in GROUP_OUTER: Directory::set_group receives the
    // transitive members, so the user is listed among GROUP_OUTER's members.
    let policy = Policy::all_enabled()
        .include(AUTHENTICATOR, group(GROUP_OUTER))
        .build();
    let mut dir = Directory::new();
    // Group read before the report row: the report row must still count.
    dir.set_group(
        GROUP_OUTER.to_ascii_lowercase().as_str(),
        [(ADA, "ada@contoso.com".into())],
    );
    let ada = add_user(
        &mut dir,
        ADA,
        "ada@contoso.com",
        &["microsoftAuthenticatorPush", "mobilePhone"],
    );
    let bob = add_user(
        &mut dir,
        BOB,
        "bob@contoso.com",
        &["microsoftAuthenticatorPush", "mobilePhone"],
    );
    assert_eq!(ada, 0);
    assert_eq!(policy.groups(), [GROUP_OUTER.to_ascii_lowercase()]);
    let a = outcome_of(&policy, &dir, ada);
    assert_eq!(a.method(), "push", "nested member of the included group");
    let b = outcome_of(&policy, &dir, bob);
    assert_eq!(b.method(), "sms", "not a member");
    assert!(!is_usable(&b, row_index("push")));

    // A group whose members were not read covers nobody.
    let o = prompt(
        &Policy::all_enabled().include(AUTHENTICATOR, group(GROUP_OTHER)),
        &["microsoftAuthenticatorPush"],
        user_state(None, None),
    );
    assert_eq!(o.method(), NONE);
}

#[test]
fn a_user_target_covers_that_user_by_guid() {
    for id in [format_guid(ADA), format_guid(ADA).to_ascii_uppercase()] {
        let policy = Policy::all_enabled()
            .include(FIDO2, user_target(&id))
            .build();
        let mut dir = Directory::new();
        let ada = add_user(
            &mut dir,
            ADA,
            "ada@contoso.com",
            &["passKeySynced", "mobilePhone"],
        );
        let bob = add_user(
            &mut dir,
            BOB,
            "bob@contoso.com",
            &["passKeySynced", "mobilePhone"],
        );
        assert_eq!(outcome_of(&policy, &dir, ada).method(), "fido2", "{id}");
        assert_eq!(outcome_of(&policy, &dir, bob).method(), "sms", "{id}");
    }
}

#[test]
fn voice_office_needs_is_office_phone_allowed() {
    let cases: &[(Option<bool>, &str)] = &[
        (Some(true), "voiceOffice"),
        (Some(false), NONE),
        (None, NONE),
    ];
    for (allowed, expected) in cases {
        let mut p = Policy::all_enabled();
        match allowed {
            Some(v) => p = p.set(VOICE, "isOfficePhoneAllowed", json!(v)),
            None => {
                p.config_mut(VOICE)
                    .as_object_mut()
                    .unwrap()
                    .remove("isOfficePhoneAllowed");
            }
        }
        let o = prompt(&p, &["officePhone"], user_state(None, None));
        assert_eq!(o.method(), *expected, "isOfficePhoneAllowed {allowed:?}");
        // The flag does not govern the other phones.
        let o = prompt(&p, &["alternateMobilePhone"], user_state(None, None));
        assert_eq!(o.method(), "voiceAlternateMobile", "{allowed:?}");
    }
    // The flag on another configuration does not count.
    let p = Policy::all_enabled()
        .set(VOICE, "isOfficePhoneAllowed", json!(false))
        .set(SMS, "isOfficePhoneAllowed", json!(true));
    assert_eq!(
        prompt(&p, &["officePhone"], user_state(None, None)).method(),
        NONE
    );
}

#[test]
fn software_totp_is_allowed_by_software_oath_or_authenticator() {
    // (softwareOath, microsoftAuthenticator, hardwareOath) states → prompt for software TOTP,
    // prompt for hardware TOTP.
    let cases: &[(&str, &str, &str, &str, &str)] = &[
        ("enabled", "enabled", "enabled", "oath", "oath"),
        ("enabled", "disabled", "disabled", "oath", NONE),
        ("disabled", "enabled", "disabled", "oath", NONE),
        ("disabled", "disabled", "enabled", NONE, "oath"),
        ("disabled", "disabled", "disabled", NONE, NONE),
    ];
    for (software, authenticator, hardware, soft_expected, hard_expected) in cases {
        let p = Policy::all_enabled()
            .state(SOFTWARE_OATH, software)
            .state(AUTHENTICATOR, authenticator)
            .state(HARDWARE_OATH, hardware);
        let label = format!(
            "softwareOath {software}, authenticator {authenticator}, hardwareOath {hardware}"
        );
        let o = prompt(&p, &["softwareOneTimePasscode"], user_state(None, None));
        assert_eq!(o.method(), *soft_expected, "software TOTP, {label}");
        let o = prompt(&p, &["hardwareOneTimePasscode"], user_state(None, None));
        assert_eq!(o.method(), *hard_expected, "hardware TOTP, {label}");
    }
    // softwareOath excluding the user does not matter while Authenticator allows TOTP.
    let p = Policy::all_enabled().exclude(SOFTWARE_OATH, user_target(&format_guid(ADA)));
    let o = prompt(&p, &["softwareOneTimePasscode"], user_state(None, None));
    assert_eq!(o.method(), "oath");
}

#[test]
fn windows_hello_and_platform_sso_need_no_configuration() {
    for v in ["windowsHelloForBusiness", "macOsSecureEnclaveKey"] {
        let o = prompt(
            &Policy::no_configurations(),
            &[v, "mobilePhone", "fido2SecurityKey"],
            user_state(None, None),
        );
        assert_eq!(o.method(), "windowsHelloForBusiness", "{v}");
        assert_eq!(o.usable_methods(), ["windowsHelloForBusiness"], "{v}");
        assert_eq!(o.source, Source::SystemPreferred);
    }
    // Every configuration disabled changes nothing for it.
    let mut p = Policy::all_enabled();
    for k in KINDS {
        p = p.state(k, "disabled");
    }
    let o = prompt(&p, &["windowsHelloForBusiness"], user_state(None, None));
    assert_eq!(o.method(), "windowsHelloForBusiness");
}

#[test]
fn system_preferred_state_default_counts_as_enabled() {
    let p = Policy::all_enabled().scp("default", all_users(), nobody());
    let mut dir = Directory::new();
    let i = add_user(
        &mut dir,
        ADA,
        "ada@contoso.com",
        &["microsoftAuthenticatorPush", "mobilePhone"],
    );
    set_state(
        &mut dir,
        i,
        user_state(Some(PreferredMethod::Sms), Some(false)),
    );
    let policy = p.build();
    let o = outcome_of(&policy, &dir, i);
    assert_eq!(o.system_preferred, SystemPreferred::MicrosoftManaged);
    assert!(o.system_preferred.applies());
    assert_eq!(o.method(), "push");
    assert_eq!(o.source, Source::SystemPreferred);
    let steps = Simulation {
        policy: &policy,
        directory: &dir,
    }
    .steps(i, &dir.state()[0]);
    let line = steps
        .iter()
        .find(|s| s.starts_with("System-preferred MFA:"))
        .expect("a system-preferred line");
    assert!(line.contains("on (Microsoft-managed)"), "{line}");
    assert!(line.contains("the tenant's state is `default`"), "{line}");
    assert!(
        line.contains("Microsoft-managed, which Microsoft documents as enabled"),
        "{line}"
    );
    // A systemCredentialPreferences without state is read as `default`.
    let mut p = Policy::all_enabled();
    p.scp = Some(json!({"includeTargets": all_users(), "excludeTargets": []}));
    let o = prompt(&p, &["microsoftAuthenticatorPush"], user_state(None, None));
    assert_eq!(o.system_preferred, SystemPreferred::MicrosoftManaged);
}

#[test]
fn system_preferred_disabled_prompts_the_default_method_else_falls_back() {
    let p = Policy::all_enabled().scp("disabled", all_users(), nobody());
    let registered = [
        "microsoftAuthenticatorPush",
        "mobilePhone",
        "softwareOneTimePasscode",
    ];
    // (default method, expected prompt, expected source)
    let cases: &[(Option<PreferredMethod>, &str, Source)] = &[
        (Some(PreferredMethod::Sms), "sms", Source::DefaultMethod),
        (
            Some(PreferredMethod::VoiceMobile),
            "voiceMobile",
            Source::DefaultMethod,
        ),
        (Some(PreferredMethod::Oath), "oath", Source::DefaultMethod),
        (Some(PreferredMethod::Push), "push", Source::DefaultMethod),
        // Registered nowhere: the most preferred usable method.
        (Some(PreferredMethod::VoiceOffice), "push", Source::Fallback),
        (
            Some(PreferredMethod::VoiceAlternateMobile),
            "push",
            Source::Fallback,
        ),
        (None, "push", Source::Fallback),
    ];
    for (preferred, expected, source) in cases {
        let o = prompt(&p, &registered, user_state(*preferred, Some(false)));
        assert_eq!(
            o.method(),
            *expected,
            "default {}",
            preferred_value(*preferred)
        );
        assert_eq!(o.source, *source, "default {}", preferred_value(*preferred));
        assert_eq!(o.system_preferred, SystemPreferred::Off);
        assert_eq!(o.most_preferred_method(), "push");
    }
    // Registered but not usable (SMS disabled): fallback to the most preferred usable one.
    let p = Policy::all_enabled()
        .scp("disabled", all_users(), nobody())
        .state(SMS, "disabled")
        .state(AUTHENTICATOR, "disabled");
    let o = prompt(
        &p,
        &registered,
        user_state(Some(PreferredMethod::Sms), Some(false)),
    );
    assert_eq!(o.method(), "oath");
    assert_eq!(o.source, Source::Fallback);
}

#[test]
fn a_user_excluded_from_system_preferred_is_off_whatever_their_own_flag() {
    let registered = ["microsoftAuthenticatorPush", "mobilePhone"];
    for exclude in [
        user_target(&format_guid(ADA)),
        json!([{"id": "all_users", "targetType": "group"}]),
    ] {
        for state in ["enabled", "default"] {
            let p = Policy::all_enabled().scp(state, all_users(), exclude.clone());
            for own in [Some(true), Some(false), None] {
                let o = prompt(&p, &registered, user_state(Some(PreferredMethod::Sms), own));
                assert_eq!(
                    o.system_preferred,
                    SystemPreferred::Excluded,
                    "{state} {own:?}"
                );
                assert!(!o.system_preferred.applies());
                assert_eq!(o.method(), "sms", "{state} {own:?}: the default method");
                assert_eq!(o.source, Source::DefaultMethod);
            }
        }
    }
    // Excluded through a group, included by another that also holds the user.
    let policy = Policy::all_enabled()
        .scp("enabled", group(GROUP_OUTER), group(GROUP_OTHER))
        .build();
    let mut dir = Directory::new();
    let ada = add_user(&mut dir, ADA, "ada@contoso.com", &registered);
    let bob = add_user(&mut dir, BOB, "bob@contoso.com", &registered);
    dir.set_group(
        GROUP_OUTER,
        [
            (ADA, "ada@contoso.com".into()),
            (BOB, "bob@contoso.com".into()),
        ],
    );
    dir.set_group(GROUP_OTHER, [(ADA, "ada@contoso.com".into())]);
    set_state(
        &mut dir,
        ada,
        user_state(Some(PreferredMethod::Sms), Some(true)),
    );
    set_state(
        &mut dir,
        bob,
        user_state(Some(PreferredMethod::Sms), Some(false)),
    );
    assert_eq!(
        outcome_of(&policy, &dir, ada).system_preferred,
        SystemPreferred::Excluded
    );
    assert_eq!(outcome_of(&policy, &dir, ada).method(), "sms");
    assert_eq!(
        outcome_of(&policy, &dir, bob).system_preferred,
        SystemPreferred::Tenant
    );
    assert_eq!(outcome_of(&policy, &dir, bob).method(), "push");
    let mut groups = policy.groups();
    groups.sort();
    assert_eq!(
        groups,
        [GROUP_OUTER.to_ascii_lowercase(), GROUP_OTHER.to_string()]
    );
}

#[test]
fn the_users_own_flag_decides_where_the_tenant_does_not_apply() {
    let registered = ["microsoftAuthenticatorPush", "mobilePhone"];
    let disabled = Policy::all_enabled().scp("disabled", all_users(), nobody());
    let not_included = Policy::all_enabled().scp("enabled", group(GROUP_OTHER), nobody());
    let absent = Policy::all_enabled().without_scp();
    // With state `disabled` the exclude targets do not matter either: the own flag decides.
    let disabled_excluding =
        Policy::all_enabled().scp("disabled", all_users(), user_target(&format_guid(ADA)));
    let unknown_state = Policy::all_enabled().scp("unknownFutureValue", all_users(), nobody());
    for (label, p) in [
        ("tenant disabled", &disabled),
        ("not in the include group", &not_included),
        ("no systemCredentialPreferences", &absent),
        ("tenant disabled, user excluded", &disabled_excluding),
        ("unknown tenant state", &unknown_state),
    ] {
        let cases: &[(Option<bool>, SystemPreferred, &str, Source)] = &[
            (
                Some(true),
                SystemPreferred::UserSetting,
                "push",
                Source::SystemPreferred,
            ),
            (
                Some(false),
                SystemPreferred::Off,
                "sms",
                Source::DefaultMethod,
            ),
            (None, SystemPreferred::Off, "sms", Source::DefaultMethod),
        ];
        for (own, sp, method, source) in cases {
            let o = prompt(p, &registered, user_state(Some(PreferredMethod::Sms), *own));
            assert_eq!(o.system_preferred, *sp, "{label}, own {own:?}");
            assert_eq!(o.method(), *method, "{label}, own {own:?}");
            assert_eq!(o.source, *source, "{label}, own {own:?}");
        }
    }
    assert!(SystemPreferred::UserSetting.applies());
    assert!(SystemPreferred::Tenant.applies());
    assert!(!SystemPreferred::Off.applies());
}

#[test]
fn no_usable_method_is_none() {
    let cases: &[(&str, Policy, &[&str])] = &[
        ("nothing registered", Policy::all_enabled(), &[]),
        (
            "only email and questions",
            Policy::all_enabled(),
            &["email", "securityQuestion", "qrCode"],
        ),
        (
            "push but Authenticator disabled",
            Policy::all_enabled().state(AUTHENTICATOR, "disabled"),
            &["microsoftAuthenticatorPush"],
        ),
        (
            "no configurations",
            Policy::no_configurations(),
            &["mobilePhone", "fido2", "temporaryAccessPass"],
        ),
    ];
    for (label, p, registered) in cases {
        for state in [
            user_state(Some(PreferredMethod::Push), Some(true)),
            user_state(None, Some(false)),
        ] {
            let o = prompt(p, registered, state);
            assert_eq!(o.method(), NONE, "{label}");
            assert_eq!(o.row, None, "{label}");
            assert_eq!(o.most_preferred, None, "{label}");
            assert_eq!(o.most_preferred_method(), NONE, "{label}");
            assert_eq!(o.usable, 0, "{label}");
            assert!(o.usable_methods().is_empty(), "{label}");
            assert_eq!(o.source, Source::NoUsableMethod, "{label}");
        }
    }
    // A user index the directory does not have.
    let policy = Policy::all_enabled().build();
    let dir = Directory::new();
    let o = Simulation {
        policy: &policy,
        directory: &dir,
    }
    .outcome(3, &UserState::default());
    assert_eq!(o.method(), NONE);
    assert_eq!(o.source, Source::NoUsableMethod);
    assert_eq!(o.mfa, MfaRequirement::Unknown);
}

#[test]
fn a_registered_value_unknown_to_mfactl_is_ignored() {
    let p = Policy::all_enabled();
    let o = prompt(
        &p,
        &["somethingMicrosoftAddsLater", "mobilePhone"],
        user_state(None, None),
    );
    assert_eq!(o.method(), "sms");
    assert_eq!(o.usable_methods(), ["sms", "voiceMobile"]);
    let o = prompt(&p, &["somethingMicrosoftAddsLater"], user_state(None, None));
    assert_eq!(o.method(), NONE);
    assert_eq!(o.source, Source::NoUsableMethod);
    let mut dir = Directory::new();
    add_user(&mut dir, ADA, "ada@contoso.com", &["passKeyFromTheFuture"]);
    assert!(dir.users()[0].registered.is_empty());
}

#[test]
fn mfa_requirement_from_per_user_mfa_and_security_defaults() {
    use MfaRequirement as M;
    use PerUserMfaState as P;
    let cases: &[(Option<P>, Option<bool>, M)] = &[
        (Some(P::Enforced), None, M::PerUserEnforced),
        (Some(P::Enforced), Some(true), M::PerUserEnforced),
        (Some(P::Enforced), Some(false), M::PerUserEnforced),
        (Some(P::Enabled), None, M::PerUserEnabled),
        (Some(P::Enabled), Some(true), M::PerUserEnabled),
        (Some(P::Enabled), Some(false), M::PerUserEnabled),
        (Some(P::Disabled), Some(true), M::SecurityDefaults),
        (None, Some(true), M::SecurityDefaults),
        (Some(P::Disabled), Some(false), M::ConditionalAccessOnly),
        (Some(P::Disabled), None, M::Unknown),
        (None, Some(false), M::Unknown),
        (None, None, M::Unknown),
    ];
    for (per_user, security_defaults, expected) in cases {
        let p = Policy::all_enabled().security_defaults(*security_defaults);
        let state = UserState {
            preferred: None,
            system_preferred: None,
            per_user_mfa: *per_user,
            ..UserState::default()
        };
        let o = prompt(&p, &["microsoftAuthenticatorPush", "mobilePhone"], state);
        assert_eq!(
            o.mfa, *expected,
            "per-user {per_user:?}, security defaults {security_defaults:?}"
        );
        // Neither changes the prompt.
        assert_eq!(
            o.method(),
            "push",
            "per-user {per_user:?}, security defaults {security_defaults:?}"
        );
    }
}

#[test]
fn sms_sign_in_needs_an_sms_target_usable_for_sign_in_and_a_mobile_phone() {
    let sign_in = |v: bool| json!([{"targetType": "group", "id": "all_users", "isRegistrationRequired": false, "isUsableForSignIn": v}]);
    let mixed = json!([
        {"targetType": "group", "id": "all_users", "isRegistrationRequired": false, "isUsableForSignIn": false},
        {"targetType": "group", "id": GROUP_OUTER, "isRegistrationRequired": false, "isUsableForSignIn": true},
    ]);
    let excluded = Policy::all_enabled()
        .include(SMS, sign_in(true))
        .exclude(SMS, user_target(&format_guid(ADA)));
    let voice_flag = Policy::all_enabled()
        .include(VOICE, sign_in(true))
        .include(SMS, sign_in(false));
    let cases: &[(&str, Policy, &[&str], bool, bool)] = &[
        // (label, policy, registered, ada in GROUP_OUTER, expected)
        (
            "usable for sign-in",
            Policy::all_enabled().include(SMS, sign_in(true)),
            &["mobilePhone"],
            false,
            true,
        ),
        (
            "not usable for sign-in",
            Policy::all_enabled().include(SMS, sign_in(false)),
            &["mobilePhone"],
            false,
            false,
        ),
        (
            "no mobile phone",
            Policy::all_enabled().include(SMS, sign_in(true)),
            &["alternateMobilePhone", "officePhone"],
            false,
            false,
        ),
        (
            "sms disabled",
            Policy::all_enabled()
                .include(SMS, sign_in(true))
                .state(SMS, "disabled"),
            &["mobilePhone"],
            false,
            false,
        ),
        (
            "flag on a group the user is in",
            Policy::all_enabled().include(SMS, mixed.clone()),
            &["mobilePhone"],
            true,
            true,
        ),
        (
            "flag on a group the user is not in",
            Policy::all_enabled().include(SMS, mixed.clone()),
            &["mobilePhone"],
            false,
            false,
        ),
        ("excluded", excluded, &["mobilePhone"], false, false),
        (
            "flag on voice, not sms",
            voice_flag,
            &["mobilePhone"],
            false,
            false,
        ),
        (
            "flag missing",
            Policy::all_enabled().include(SMS, all_users()),
            &["mobilePhone"],
            false,
            false,
        ),
    ];
    for (label, p, registered, in_group, expected) in cases {
        let policy = p.build();
        let mut dir = Directory::new();
        let i = add_user(&mut dir, ADA, "ada@contoso.com", registered);
        let members: Vec<(u128, Box<str>)> = if *in_group {
            vec![(ADA, "ada@contoso.com".into())]
        } else {
            vec![(BOB, "bob@contoso.com".into())]
        };
        dir.set_group(GROUP_OUTER, members);
        let o = outcome_of(&policy, &dir, i);
        assert_eq!(o.sms_sign_in, *expected, "{label}");
    }
    // It does not change the MFA prompt.
    let o = prompt(
        &Policy::all_enabled().include(SMS, sign_in(true)),
        &["microsoftAuthenticatorPush", "mobilePhone"],
        user_state(None, None),
    );
    assert!(o.sms_sign_in);
    assert_eq!(o.method(), "push");
}

// ---------------------------------------------------------------------------------------------
// 3. impact() and 4. summary()
// ---------------------------------------------------------------------------------------------

/// A tenant of eight users; TOTP is allowed only through Authenticator (softwareOath disabled).
fn impact_directory() -> Directory {
    let mut dir = Directory::new();
    let users: &[(u128, &str, &[&str])] = &[
        (
            1,
            "u1@contoso.com",
            &["microsoftAuthenticatorPush", "mobilePhone"],
        ),
        (
            2,
            "u2@contoso.com",
            &["microsoftAuthenticatorPush", "mobilePhone"],
        ),
        (3, "u3@contoso.com", &["microsoftAuthenticatorPush"]),
        (
            4,
            "u4@contoso.com",
            &["fido2SecurityKey", "microsoftAuthenticatorPush"],
        ),
        (5, "u5@contoso.com", &[]),
        (7, "u7@contoso.com", &["softwareOneTimePasscode"]),
        (
            8,
            "u8@contoso.com",
            &["softwareOneTimePasscode", "officePhone"],
        ),
        (
            9,
            "u9@contoso.com",
            &[
                "microsoftAuthenticatorPush",
                "mobilePhone",
                "softwareOneTimePasscode",
            ],
        ),
    ];
    for (id, upn, registered) in users {
        add_user(&mut dir, *id, upn, registered);
    }
    // Not in the report (a disabled account): never counted, whatever it registered.
    dir.upsert(UserRecord {
        id: 6,
        upn: "u6@contoso.com".into(),
        registered: Registered::from_values(["microsoftAuthenticatorPush"]),
        in_report: false,
    });
    // A group member the report does not know.
    dir.set_group(GROUP_OUTER, [(10, "u10@contoso.com".into())]);
    dir
}

fn impact_before() -> Policy {
    Policy::all_enabled().state(SOFTWARE_OATH, "disabled")
}

#[test]
fn disabling_authenticator_moves_push_users_to_sms_and_locks_out_authenticator_only_users() {
    let dir = impact_directory();
    let before = impact_before().build();
    let after = impact_before().state(AUTHENTICATOR, "disabled").build();
    let b = Simulation {
        policy: &before,
        directory: &dir,
    };
    let a = Simulation {
        policy: &after,
        directory: &dir,
    };
    let got = impact(&b, dir.state(), &a, dir.state());
    let t = |from: &str, to: &str, users: usize| Transition {
        from: from.into(),
        to: to.into(),
        users,
    };
    let expected = Impact {
        users: 8,
        changed: 6,
        transitions: vec![
            t("push", "sms", 3),
            t("oath", "none", 1),
            t("oath", "voiceOffice", 1),
            t("push", "none", 1),
        ],
        newly_without: vec![
            AffectedUser {
                id: format_guid(3),
                user_principal_name: "u3@contoso.com".into(),
                before: "push".into(),
            },
            AffectedUser {
                id: format_guid(7),
                user_principal_name: "u7@contoso.com".into(),
                before: "oath".into(),
            },
        ],
        without_before: 1,
        without_after: 3,
    };
    assert_eq!(got, expected);
    assert_eq!(
        got.newly_without[0].id,
        "00000000-0000-0000-0000-000000000003"
    );
    // Transitions largest first.
    assert!(got.transitions.windows(2).all(|w| w[0].users >= w[1].users));
}

#[test]
fn impact_of_the_same_state_is_empty_and_state_changes_count() {
    let dir = impact_directory();
    let policy = impact_before().build();
    let sim = Simulation {
        policy: &policy,
        directory: &dir,
    };
    let got = impact(&sim, dir.state(), &sim, dir.state());
    assert_eq!(
        got,
        Impact {
            users: 8,
            changed: 0,
            transitions: vec![],
            newly_without: vec![],
            without_before: 1,
            without_after: 1,
        }
    );

    // A plan that only changes users' own state: system-preferred disabled for the tenant,
    // u1 and u2's default moves from push to sms.
    let policy = impact_before()
        .scp("disabled", all_users(), nobody())
        .build();
    let sim = Simulation {
        policy: &policy,
        directory: &dir,
    };
    let before_state =
        vec![user_state(Some(PreferredMethod::Push), Some(false)); dir.users().len()];
    let mut after_state = before_state.clone();
    after_state[0].preferred = Some(PreferredMethod::Sms);
    after_state[1].preferred = Some(PreferredMethod::Sms);
    // The user not in the report changes too, but is not counted (index 8: u6).
    assert_eq!(&*dir.users()[8].upn, "u6@contoso.com");
    after_state[8].system_preferred = Some(true);
    let got = impact(&sim, &before_state, &sim, &after_state);
    assert_eq!(got.changed, 2);
    assert_eq!(
        got.transitions,
        [Transition {
            from: "push".into(),
            to: "sms".into(),
            users: 2
        }]
    );
    assert!(got.newly_without.is_empty());
    // Missing state entries are read as the default state: no default method, own flag not
    // read, so the most preferred usable method; only u4 (fido2 + push) changes.
    let got = impact(&sim, &before_state, &sim, &[]);
    assert_eq!(got.users, 8);
    assert_eq!(got.changed, 1, "{got:?}");
    assert_eq!(
        got.transitions,
        [Transition {
            from: "push".into(),
            to: "fido2".into(),
            users: 1
        }]
    );
}

#[test]
fn summary_counts_users_per_method() {
    let dir = impact_directory();
    let before = impact_before().build();
    let after = impact_before().state(AUTHENTICATOR, "disabled").build();
    let count = |p: &TenantPolicy| -> Vec<(&'static str, usize)> {
        summary(
            &Simulation {
                policy: p,
                directory: &dir,
            },
            dir.state(),
        )
        .into_iter()
        .collect()
    };
    assert_eq!(
        count(&before),
        [("fido2", 1), ("none", 1), ("oath", 2), ("push", 4)]
    );
    assert_eq!(
        count(&after),
        [("fido2", 1), ("none", 3), ("sms", 3), ("voiceOffice", 1)]
    );
    let empty = Directory::new();
    assert!(
        summary(
            &Simulation {
                policy: &before,
                directory: &empty
            },
            &[]
        )
        .is_empty()
    );
}

// ---------------------------------------------------------------------------------------------
// 5. steps()
// ---------------------------------------------------------------------------------------------

fn steps_of(policy: &Policy, registered: &[&str], state: UserState) -> Vec<String> {
    let policy = policy.build();
    let mut dir = Directory::new();
    let i = add_user(&mut dir, ADA, "ada@contoso.com", registered);
    set_state(&mut dir, i, state);
    Simulation {
        policy: &policy,
        directory: &dir,
    }
    .steps(i, &dir.state()[i as usize])
}

/// Asserts that each expected line is one of `steps`, in this order.
fn assert_lines_in_order(steps: &[String], expected: &[&str]) {
    let mut from = 0;
    for line in expected {
        let at = steps[from..]
            .iter()
            .position(|s| s == line)
            .unwrap_or_else(|| panic!("missing (or out of order) line {line:?} in {steps:#?}"));
        from += at + 1;
    }
}

#[test]
fn steps_explain_one_user() {
    let p = Policy::all_enabled()
        .state(AUTHENTICATOR, "disabled")
        .state(VOICE, "disabled");
    let state = UserState {
        preferred: Some(PreferredMethod::Push),
        system_preferred: Some(false),
        per_user_mfa: Some(PerUserMfaState::Enforced),
        ..UserState::default()
    };
    let steps = steps_of(
        &p,
        &["microsoftAuthenticatorPush", "mobilePhone", "somethingNew"],
        state,
    );
    assert_eq!(
        steps[0],
        "Registered methods: microsoftAuthenticatorPush, mobilePhone."
    );
    assert_lines_in_order(
        &steps,
        &[
            "Registered methods: microsoftAuthenticatorPush, mobilePhone.",
            "Rank 4 Microsoft Authenticator notifications (push): not usable: microsoftAuthenticator is disabled.",
            "Rank 7 Telephony (SMS) (sms): usable.",
            "Rank 7 Telephony (voice, mobile) (voiceMobile): not usable: voice is disabled.",
            "System-preferred MFA: on (the tenant enables it for this user); the tenant's state is `enabled`, include: all users, exclude: nobody; the user's own setting is false.",
            "Default method: push (not usable).",
            "Prompted first: sms — the most preferred usable method, because system-preferred MFA applies (the default method push is ignored).",
            "MFA required: at every sign-in (legacy per-user MFA enforced).",
        ],
    );
    // Rows of methods the user did not register are not listed; no SMS sign-in line.
    assert!(
        !steps
            .iter()
            .any(|s| s.contains("(fido2)") || s.contains("(oath)")),
        "{steps:#?}"
    );
    assert!(
        !steps.iter().any(|s| s.starts_with("SMS sign-in")),
        "{steps:#?}"
    );
}

#[test]
fn steps_give_the_reason_a_method_is_not_usable() {
    let ada = format_guid(ADA);
    let cases: &[(&str, Policy, &str, &str)] = &[
        (
            "excluded",
            Policy::all_enabled().exclude(FIDO2, user_target(&ada)),
            "passKeySynced",
            "Rank 2 Passkey (fido2): not usable: fido2 excludes the user.",
        ),
        (
            "not included",
            Policy::all_enabled().include(X509, group(GROUP_OTHER)),
            "certificateBasedAuthentication",
            "Rank 3 Certificate-based authentication (x509Certificate): not usable: x509Certificate does not include the user.",
        ),
        (
            "flag off",
            Policy::all_enabled().set(VOICE, "isOfficePhoneAllowed", json!(false)),
            "officePhone",
            "Rank 7 Telephony (voice, office) (voiceOffice): not usable: voice has isOfficePhoneAllowed off.",
        ),
        (
            "no configuration",
            Policy::no_configurations(),
            "temporaryAccessPass",
            "Rank 1 Temporary Access Pass (temporaryAccessPass): not usable: the tenant has no configuration for it.",
        ),
        (
            "both TOTP configurations disabled",
            Policy::all_enabled()
                .state(SOFTWARE_OATH, "disabled")
                .state(AUTHENTICATOR, "disabled"),
            "softwareOneTimePasscode",
            "Rank 6 TOTP (oath): not usable: microsoftAuthenticator is disabled; softwareOath is disabled.",
        ),
        (
            "usable",
            Policy::all_enabled(),
            "externalAuthMethod",
            "Rank 5 External MFA (externalAuthMethod): usable.",
        ),
    ];
    for (label, p, registered, line) in cases {
        let steps = steps_of(p, &[*registered], user_state(None, None));
        assert!(
            steps.iter().any(|s| s == line),
            "{label}: {line:?} not in {steps:#?}"
        );
    }
}

/// (label, policy, registered methods, user state, lines expected among the steps)
type StepsCase = (
    &'static str,
    Policy,
    &'static [&'static str],
    UserState,
    &'static [&'static str],
);

#[test]
fn steps_for_the_other_sources_and_requirements() {
    let cases: &[StepsCase] = &[
        (
            "default method",
            Policy::all_enabled().scp("disabled", all_users(), nobody()).security_defaults(Some(true)),
            &["microsoftAuthenticatorPush", "mobilePhone"],
            user_state(Some(PreferredMethod::Sms), Some(false)),
            &[
                "Default method: sms.",
                "Prompted first: sms — the user's default method.",
                "MFA required: when security defaults ask for it.",
            ],
        ),
        (
            "fallback",
            Policy::all_enabled().scp("disabled", all_users(), nobody()),
            &["microsoftAuthenticatorPush"],
            user_state(None, None),
            &[
                "System-preferred MFA: off; the tenant's state is `disabled`, include: all users, exclude: nobody; the user's own setting was not read.",
                "Default method: none set.",
                "Prompted first: push — no usable default method, so the most preferred usable one is assumed (Entra does not document its choice here).",
                "MFA required: unknown (per-user MFA state or security defaults not read).",
            ],
        ),
        (
            "excluded",
            Policy::all_enabled().scp("enabled", all_users(), user_target(&format_guid(ADA))),
            &["microsoftAuthenticatorPush"],
            user_state(None, Some(true)),
            &[
                "System-preferred MFA: off (the tenant excludes this user; exclusion wins); the tenant's state is `enabled`, include: all users, exclude: 1 user(s); the user's own setting is true.",
            ],
        ),
        (
            "user setting",
            Policy::all_enabled().without_scp(),
            &["microsoftAuthenticatorPush"],
            user_state(None, Some(true)),
            &[
                "System-preferred MFA: on (the user's own setting; the tenant does not apply it to this user); the tenant policy has no systemCredentialPreferences; the user's own setting is true.",
                "Prompted first: push — the most preferred usable method, because system-preferred MFA applies.",
            ],
        ),
        (
            "nothing usable",
            Policy::all_enabled(),
            &[],
            UserState {
                preferred: None,
                system_preferred: None,
                per_user_mfa: Some(PerUserMfaState::Enabled),
                ..UserState::default()
            },
            &[
                "Registered methods: none.",
                "Prompted first: none — no registered method is usable: the user cannot complete MFA.",
                "MFA required: at every sign-in once registered (legacy per-user MFA enabled).",
            ],
        ),
        (
            "sms sign-in",
            Policy::all_enabled().include(SMS, json!([{"targetType": "group", "id": "all_users", "isRegistrationRequired": false, "isUsableForSignIn": true}])).security_defaults(Some(false)),
            &["mobilePhone"],
            UserState {
                preferred: None,
                system_preferred: None,
                per_user_mfa: Some(PerUserMfaState::Disabled),
                ..UserState::default()
            },
            &[
                "MFA required: only where Conditional Access asks for it (not modelled).",
                "SMS sign-in: on — the user can also sign in with a text message as the first factor.",
            ],
        ),
    ];
    for (label, p, registered, state, lines) in cases {
        let steps = steps_of(p, registered, *state);
        for line in *lines {
            assert!(
                steps.iter().any(|s| s == line),
                "{label}: {line:?} not in {steps:#?}"
            );
        }
    }
}

#[test]
fn steps_for_a_user_without_a_report_row_or_unknown() {
    let policy = Policy::all_enabled().build();
    let mut dir = Directory::new();
    dir.set_group(GROUP_OUTER, [(ADA, "ada@contoso.com".into())]);
    let sim = Simulation {
        policy: &policy,
        directory: &dir,
    };
    let steps = sim.steps(0, &UserState::default());
    assert_eq!(
        steps[0],
        "No registration details: the report has no row for this user (a disabled account, or not read)."
    );
    assert_eq!(sim.steps(5, &UserState::default()), ["unknown user"]);
}
