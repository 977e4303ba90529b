//! `impact()` and `summary()`: before/after comparisons of a tenant of eight users, and the
//! number of users per prompted method.

use super::*;
use crate::simulate::directory::format_guid;
use crate::simulate::impact::{AffectedUser, Impact, Transition, impact, summary};

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
        account: Default::default(),
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
