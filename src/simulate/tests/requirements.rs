//! What the outcome says besides the prompt: whether the user can sign in with SMS (who must
//! do MFA is in `access`).

use super::*;
use crate::simulate::directory::format_guid;

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
