//! Before and after a change, over every user: the migration from security defaults to
//! Conditional Access with a break-glass exclusion, and the changes that lose coverage.

use super::*;
use crate::msgraph::PerUserMfaState;
use crate::msgraph::modes::PHISHING_RESISTANT_STRENGTH;
use crate::simulate::coverage::{AffectedUser, Coverage, Responsible, UserList, coverage};
use crate::simulate::directory::{Directory, UserRecord};

const ADMIN: u128 = 0xad000000_0000_4000_8000_000000000005;
const DISABLED: u128 = 0xd1000000_0000_4000_8000_000000000006;
const CONTRACTOR: u128 = 0xc0000000_0000_4000_8000_000000000007;
const LEGACY: u128 = 0x1e000000_0000_4000_8000_000000000008;
const BLOCKED: u128 = 0x6b10c4ed_0000_4000_8000_000000000009;

fn affected(id: u128, guest: bool, responsible: Vec<Responsible>) -> AffectedUser {
    AffectedUser {
        id: guid(id),
        user_principal_name: String::new(),
        guest,
        responsible,
    }
}

fn list(members: usize, guests: usize, first: Vec<AffectedUser>) -> UserList {
    UserList {
        members,
        guests,
        first,
    }
}

fn policy(name: &str) -> Responsible {
    Responsible::Policy(name.into())
}

/// The migration of FACTS item 37: while security defaults are on, "All users MFA" (break-glass
/// group excluded), "Admins phishing-resistant" and "Block contractors" are report-only;
/// after, security defaults are off, the three enabled, and per-user MFA is cleaned up.
fn migration(enforced: bool) -> AccessPolicies {
    let state = if enforced {
        "enabled"
    } else {
        "enabledForReportingButNotEnforced"
    };
    let users = "/conditions/users";
    let all_users = changed(
        require_mfa("All users MFA"),
        &[
            ("/state", json!(state)),
            (&format!("{users}/excludeGroups"), json!([guid(EMERGENCY)])),
        ],
    );
    let admins = changed(
        require_mfa("Admins phishing-resistant"),
        &[
            ("/state", json!(state)),
            (&format!("{users}/includeUsers"), json!([])),
            (
                &format!("{users}/includeRoles"),
                json!([guid(GLOBAL_ADMIN)]),
            ),
            (&format!("{users}/excludeGroups"), json!([guid(EMERGENCY)])),
            ("/grantControls/builtInControls", json!([])),
            (
                "/grantControls/authenticationStrength",
                json!({"id": PHISHING_RESISTANT_STRENGTH}),
            ),
        ],
    );
    let block = changed(
        require_mfa("Block contractors"),
        &[
            ("/state", json!(state)),
            (&format!("{users}/includeUsers"), json!([])),
            (&format!("{users}/includeGroups"), json!([guid(BLOCKED)])),
            ("/grantControls/builtInControls", json!(["block"])),
        ],
    );
    AccessPolicies::new(!enforced, &[all_users, admins, block], &strengths())
}

#[test]
fn security_defaults_to_conditional_access_keeps_everyone_but_break_glass() {
    let emergency = [EMERGENCY];
    let admin_role = [GLOBAL_ADMIN];
    let blocked = [BLOCKED];
    let tap = Registered::from_values(["temporaryAccessPass"]);
    let key = Registered::from_values(["fido2SecurityKey"]);
    fn same(u: User<'_>) -> (User<'_>, User<'_>) {
        (u, u)
    }
    let legacy = User {
        per_user_mfa: Some(PerUserMfaState::Enforced),
        ..member(LEGACY)
    };
    let users: Vec<(User<'_>, User<'_>)> = vec![
        same(member(ADA)),
        same(User {
            registered: key,
            groups: &emergency,
            ..member(BREAK_GLASS)
        }),
        same(User {
            guest: true,
            ..member(GUEST)
        }),
        same(User {
            enabled: false,
            groups: &emergency,
            ..member(DISABLED)
        }),
        same(User {
            roles: &admin_role,
            registered: tap,
            ..member(ADMIN)
        }),
        same(User {
            groups: &blocked,
            ..member(CONTRACTOR)
        }),
        (
            legacy,
            User {
                per_user_mfa: Some(PerUserMfaState::Disabled),
                ..legacy
            },
        ),
    ];
    let before = migration(false);
    let after = migration(true);
    // Before: security defaults for every member, the policies only "would".
    let r = before.requirement(&users[1].0);
    assert!(r.security_defaults && r.requires_mfa());
    assert_eq!(r.with(false, Effect::Excluded).count(), 1);
    assert_eq!(r.deliberately_excluded().count(), 0);
    let r = before.requirement(&users[4].0);
    assert_eq!(r.with(false, Effect::Requires).count(), 2);

    let c = coverage(&before, &after, users.iter().copied(), 10);
    let all_users_mfa = policy("All users MFA");
    let admins = policy("Admins phishing-resistant");
    assert_eq!(
        c,
        Coverage {
            members: 5,
            guests: 1,
            lost: UserList::default(),
            excluded: list(
                1,
                0,
                vec![affected(BREAK_GLASS, false, vec![all_users_mfa.clone()])]
            ),
            newly_blocked: list(
                1,
                0,
                vec![affected(
                    CONTRACTOR,
                    false,
                    vec![policy("Block contractors")]
                )]
            ),
            // The admin's TAP met security defaults, not phishing-resistant MFA: locked out.
            cannot_satisfy: list(1, 0, vec![affected(ADMIN, false, vec![admins])]),
            // The guest, whom security defaults left alone, has no method registered: asked
            // to register one at the next sign-in.
            must_register: list(
                0,
                1,
                vec![affected(GUEST, true, vec![all_users_mfa.clone()])]
            ),
        }
    );
    // The contractor's block and the admin's strength lock out; nobody is unprotected.
    assert_eq!((c.unprotected(), c.locked_out()), (0, 2));
    // Back again: everyone the policies covered loses nothing, security defaults cover them.
    let back = coverage(&after, &before, users.iter().map(|(b, a)| (*a, *b)), 10);
    assert_eq!(
        back.lost,
        list(
            0,
            1,
            vec![affected(GUEST, true, vec![policy("All users MFA")])]
        )
    );
    assert_eq!(back.newly_blocked, UserList::default());
}

#[test]
fn a_narrower_replacement_loses_members_and_names_what_they_lost() {
    let apps = "/conditions/applications";
    let on = |changes: &[(&str, Value)]| {
        AccessPolicies::new(
            false,
            &[changed(require_mfa("Everyone"), changes)],
            &strengths(),
        )
    };
    let security_defaults = AccessPolicies::new(true, &[], &[]);
    let enforced = User {
        per_user_mfa: Some(PerUserMfaState::Enforced),
        ..member(BOB)
    };
    let users = [(member(ADA), member(ADA)), (enforced, member(BOB))];
    let sd = Responsible::SecurityDefaults;
    let per_user = Responsible::PerUserMfa(PerUserMfaState::Enforced);
    #[rustfmt::skip]
    let cases: Vec<(&str, &AccessPolicies, AccessPolicies, usize, Vec<AffectedUser>)> = vec![
        ("the same policy", &security_defaults, on(&[]), 0, vec![]),
        ("Office365 only", &security_defaults, on(&[(&format!("{apps}/includeApplications"), json!(["Office365"]))]), 2,
            vec![affected(ADA, false, vec![sd.clone()]), affected(BOB, false, vec![sd.clone(), per_user])]),
        ("All minus an application", &security_defaults, on(&[(&format!("{apps}/excludeApplications"), json!(["Office365"]))]), 2,
            vec![affected(ADA, false, vec![sd.clone()])]),
        ("modern clients only", &security_defaults, on(&[("/conditions/clientAppTypes", json!(["browser", "mobileAppsAndDesktopClients"]))]), 2, vec![]),
        ("report-only", &security_defaults, on(&[("/state", json!("enabledForReportingButNotEnforced"))]), 2, vec![]),
        ("disabled", &security_defaults, on(&[("/state", json!("disabled"))]), 2, vec![]),
    ];
    for (what, before, after, lost, first) in cases {
        let limit = first.len();
        let c = coverage(before, &after, users, limit);
        assert_eq!(
            (c.members, c.lost.members, c.lost.guests),
            (2, lost, 0),
            "{what}"
        );
        assert_eq!(c.lost.first, first, "{what}");
        assert_eq!(c.excluded, UserList::default(), "{what}");
    }
    // From a policy to security defaults off and nothing: the policy is what they lost.
    let c = coverage(&on(&[]), &AccessPolicies::default(), [users[0]], 1);
    assert_eq!(
        c.lost.first,
        [affected(ADA, false, vec![policy("Everyone")])]
    );
}

#[test]
fn a_directory_and_its_memberships_feed_a_coverage() {
    // As the plan would call it: the directory read once, the members of the groups the
    // policies name laid out flat, one borrowed view per user and state.
    let mut directory = Directory::new();
    for (id, upn, methods) in [
        (ADA, "ada@x", &["microsoftAuthenticatorPush"][..]),
        (BREAK_GLASS, "bg@x", &["fido2SecurityKey"]),
        (BOB, "bob@x", &[]),
    ] {
        directory.upsert(UserRecord {
            id,
            upn: upn.into(),
            registered: Registered::from_values(methods.iter().copied()),
            in_report: true,
            account: Default::default(),
        });
    }
    directory.set_group(&guid(EMERGENCY), [(BREAK_GLASS, "bg@x".into())]);
    let (before, after) = (migration(false), migration(true));
    let memberships = directory.memberships(&after.groups());
    let view = |i: usize, record: &UserRecord| User {
        id: record.id,
        enabled: true,
        groups: memberships.of(i as u32),
        registered: record.registered,
        ..User::default()
    };
    let users = directory
        .users()
        .iter()
        .enumerate()
        .map(|(i, r)| (view(i, r), view(i, r)));
    let c = coverage(&before, &after, users, 5);
    assert_eq!((c.members, c.lost.members, c.excluded.members), (3, 0, 1));
    assert_eq!(c.excluded.first[0].id, guid(BREAK_GLASS));
    // Bob registered nothing: security defaults asked the same of him.
    assert_eq!(c.must_register, UserList::default());
    assert_eq!(c.locked_out(), 0);
}
