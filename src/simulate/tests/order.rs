//! The system-preferred order: the published ranking, each row against the rows below it,
//! and the default method ignored while system-preferred MFA applies.

use super::*;
use crate::simulate::explain::{NONE, Source, SystemPreferred};

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
