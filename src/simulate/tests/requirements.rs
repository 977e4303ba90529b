//! What the outcome says besides the prompt: the MFA requirement (per-user MFA, security
//! defaults) and whether the user can sign in with SMS.

use super::*;
use crate::msgraph::PerUserMfaState;
use crate::simulate::directory::format_guid;
use crate::simulate::explain::MfaRequirement;

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
