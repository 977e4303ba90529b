//! `steps()`: the lines that explain one user's outcome, as `mfactl explain` prints them.

use super::*;
use crate::msgraph::PerUserMfaState;
use crate::simulate::directory::format_guid;

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
            Policy::all_enabled().scp("disabled", all_users(), nobody()),
            &["microsoftAuthenticatorPush", "mobilePhone"],
            user_state(Some(PreferredMethod::Sms), Some(false)),
            &[
                "Default method: sms.",
                "Prompted first: sms — the user's default method.",
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
            ],
        ),
        (
            "sms sign-in",
            Policy::all_enabled().include(SMS, json!([{"targetType": "group", "id": "all_users", "isRegistrationRequired": false, "isUsableForSignIn": true}])),
            &["mobilePhone"],
            UserState {
                preferred: None,
                system_preferred: None,
                per_user_mfa: Some(PerUserMfaState::Disabled),
                ..UserState::default()
            },
            &[
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
