//! Which registered methods are usable: configuration state, include and exclude targets
//! (groups, users), per-method flags, methods that need no configuration, and what is left
//! when nothing is usable.

use super::*;
use crate::simulate::directory::format_guid;
use crate::simulate::explain::{NONE, Source};

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
