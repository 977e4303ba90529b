//! Whether registered methods satisfy an authentication strength: the built-ins and the custom
//! strength of the saved payloads, the spacing of combinations, and the mode table.

use super::*;
use crate::msgraph::modes::{
    AUTHENTICATION_METHOD_MODES, MULTIFACTOR_STRENGTH, ModeSource, PHISHING_RESISTANT_STRENGTH,
    combination_modes,
};
use crate::simulate::directory::KNOWN_REGISTERED;
use crate::simulate::requirement::Grant;
use crate::simulate::strength::{Satisfaction, Strength};

fn strength(id: &str) -> Strength {
    strengths()
        .iter()
        .filter_map(Strength::from_graph)
        .find(|s| s.id() == id)
        .expect("a saved strength")
}

#[test]
fn registered_methods_against_built_in_and_custom_strengths() {
    use Satisfaction::{NotSatisfied, Satisfied};
    let (mfa, passwordless, phishing, custom) = (
        MULTIFACTOR_STRENGTH,
        PASSWORDLESS_STRENGTH,
        PHISHING_RESISTANT_STRENGTH,
        CUSTOM_STRENGTH_ID,
    );
    #[rustfmt::skip]
    let cases: &[(&[&str], &str, Satisfaction)] = &[
        // FACTS item 51: a TAP satisfies MFA, not phishing-resistant MFA nor passwordless.
        (&["temporaryAccessPass"], mfa, Satisfied),
        (&["temporaryAccessPass"], passwordless, NotSatisfied),
        (&["temporaryAccessPass"], phishing, NotSatisfied),
        (&["fido2SecurityKey"], phishing, Satisfied),
        (&["passKeySynced"], phishing, Satisfied),
        (&["passKeyDeviceBoundAuthenticator"], passwordless, Satisfied),
        (&["windowsHelloForBusiness"], phishing, Satisfied),
        (&["certificateBasedAuthentication"], phishing, Satisfied),
        (&["microsoftAuthenticatorPasswordless"], passwordless, Satisfied),
        (&["microsoftAuthenticatorPasswordless"], phishing, NotSatisfied),
        (&["microsoftAuthenticatorPush"], mfa, Satisfied),
        (&["microsoftAuthenticatorPush"], passwordless, NotSatisfied),
        (&["mobilePhone"], mfa, Satisfied),
        (&["officePhone"], mfa, Satisfied),
        (&["mobilePhone"], phishing, NotSatisfied),
        (&["email"], mfa, NotSatisfied),
        (&["securityQuestion", "email"], mfa, NotSatisfied),
        (&[], mfa, NotSatisfied),
        // The custom strength is "password, hardwareOath" or "password, sms", with spaces.
        (&["mobilePhone"], custom, Satisfied),
        (&["hardwareOneTimePasscode"], custom, Satisfied),
        (&["softwareOneTimePasscode"], custom, NotSatisfied),
        (&["alternateMobilePhone"], custom, NotSatisfied),
        (&["fido2SecurityKey"], custom, NotSatisfied),
    ];
    for (values, id, expected) in cases {
        let registered = Registered::from_values(values.iter().copied());
        assert_eq!(
            strength(id).satisfied_by(registered),
            *expected,
            "{values:?} against {id}"
        );
    }
}

#[test]
fn a_combination_reads_the_same_with_or_without_spaces() {
    assert_eq!(
        combination_modes("password, sms").collect::<Vec<_>>(),
        ["password", "sms"]
    );
    assert_eq!(
        combination_modes(" password ,sms,").collect::<Vec<_>>(),
        ["password", "sms"]
    );
    let spaced = json!({"id": "A", "allowedCombinations": ["password, sms", "fido2"]});
    let tight = json!({"id": "a", "displayName": "Tight", "allowedCombinations": ["password,sms", "fido2"]});
    let (spaced, tight) = (
        Strength::from_graph(&spaced).expect("a strength"),
        Strength::from_graph(&tight).expect("a strength"),
    );
    assert_eq!(
        (spaced.id(), spaced.display_name(), tight.display_name()),
        ("a", "A", "Tight")
    );
    for values in [&["mobilePhone"][..], &["fido2"], &["email"], &[]] {
        let registered = Registered::from_values(values.iter().copied());
        assert_eq!(
            spaced.satisfied_by(registered),
            tight.satisfied_by(registered),
            "{values:?}"
        );
    }
}

#[test]
fn unknown_modes_federated_modes_and_unreadable_strengths() {
    let only = |combination: &str| {
        Strength::from_graph(&json!({"id": "x", "allowedCombinations": [combination]}))
            .expect("a strength")
    };
    let everything = Registered::from_values(KNOWN_REGISTERED.iter().copied());
    // Nothing in the report shows a federated sign-in; a mode mfactl does not know holds for
    // nobody; the password alone is held by everyone.
    assert_eq!(
        only("federatedMultiFactor").satisfied_by(everything),
        Satisfaction::NotSatisfied
    );
    assert_eq!(
        only("sms,federatedSingleFactor").satisfied_by(everything),
        Satisfaction::NotSatisfied
    );
    assert_eq!(
        only("somethingNew").satisfied_by(everything),
        Satisfaction::NotSatisfied
    );
    assert_eq!(
        only("password").satisfied_by(Registered::default()),
        Satisfaction::Satisfied
    );
    assert!(Strength::from_graph(&json!({"id": "x"})).is_none());
    assert!(Strength::from_graph(&json!({"allowedCombinations": []})).is_none());
}

#[test]
fn every_mode_maps_to_report_values_mfactl_knows() {
    for (mode, source) in AUTHENTICATION_METHOD_MODES {
        if let ModeSource::Registered(values) = source {
            assert!(!values.is_empty(), "{mode}");
            for v in *values {
                assert!(KNOWN_REGISTERED.contains(v), "{mode}: {v}");
            }
        }
    }
}

#[test]
fn a_policy_tells_whether_the_user_can_satisfy_what_it_requires() {
    use Satisfaction::{NotSatisfied, Satisfied, Unknown};
    let grant = "/grantControls";
    let requiring = |id: &str| {
        changed(
            require_mfa("Strength"),
            &[
                (&format!("{grant}/builtInControls"), json!([])),
                (
                    &format!("{grant}/authenticationStrength"),
                    json!({"id": id}),
                ),
            ],
        )
    };
    let tap_only = registered(&["temporaryAccessPass"]);
    let phone = registered(&["mobilePhone"]);
    let key = registered(&["fido2SecurityKey"]);
    let nothing = member(ADA);
    let given = strengths();
    #[rustfmt::skip]
    let cases: Vec<(&str, Value, &[Value], &User<'_>, Satisfaction)> = vec![
        ("TAP-only, phishing-resistant", requiring(PHISHING_RESISTANT_STRENGTH), &given, &tap_only, NotSatisfied),
        ("TAP-only, MFA strength", requiring(MULTIFACTOR_STRENGTH), &given, &tap_only, Satisfied),
        ("a key, phishing-resistant", requiring(PHISHING_RESISTANT_STRENGTH), &given, &key, Satisfied),
        ("a phone, the custom strength (ids in any case)", requiring(&CUSTOM_STRENGTH_ID.to_uppercase()), &given, &phone, Satisfied),
        ("a strength not given", requiring("0c0c0c0c-0000-4000-8000-000000000000"), &given, &phone, Unknown),
        ("mfa, checked against the built-in MFA strength", require_mfa("Mfa"), &given, &phone, Satisfied),
        ("mfa, nothing registered", require_mfa("Mfa"), &given, &nothing, NotSatisfied),
        ("mfa, no strength given", require_mfa("Mfa"), &[], &phone, Unknown),
    ];
    for (what, policy, strengths, user, expected) in cases {
        let policies = AccessPolicies::new(false, &[policy], strengths);
        let r = policies.requirement(user);
        assert_eq!(r.matches[0].grant, Grant::Mfa(expected), "{what}");
        assert!(r.requires_mfa(), "{what}");
        // Plain `mfa` can be registered for at sign-in: only a strength is unsatisfiable.
        let strength = !what.starts_with("mfa");
        assert_eq!(
            r.unsatisfiable().count(),
            usize::from(strength && expected == NotSatisfied),
            "{what}"
        );
        assert_eq!(r.cannot_comply(), expected == NotSatisfied, "{what}");
    }
}
