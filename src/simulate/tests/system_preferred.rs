//! Whether system-preferred MFA applies to a user: the tenant's state and targets, the
//! user's own setting, and the default method or fallback when it does not apply.

use super::*;
use crate::simulate::directory::format_guid;
use crate::simulate::explain::{Source, SystemPreferred, preferred_value};

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
