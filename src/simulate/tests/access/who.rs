//! Who a policy applies to (include and exclude by user, group, role, guests; exclusion wins),
//! the policy's state, and the switches that require MFA without a policy: security defaults
//! and per-user MFA.

use super::*;
use crate::msgraph::PerUserMfaState;
use crate::simulate::requirement::{PolicyMatch, Requirement};

#[test]
fn include_and_exclude_by_user_group_role_and_guest_and_exclusion_wins() {
    use Effect::{Excluded, Requires};
    let in_staff = [STAFF];
    let admin_role = [GLOBAL_ADMIN];
    let ada = member(ADA);
    let staff = User {
        groups: &in_staff,
        ..member(ADA)
    };
    let admin = User {
        roles: &admin_role,
        ..member(ADA)
    };
    let guest = User {
        guest: true,
        ..member(GUEST)
    };
    let staff_admin = User {
        groups: &in_staff,
        roles: &admin_role,
        ..member(ADA)
    };
    let users = "/conditions/users";
    let only = |key: &str, ids: Value| {
        vec![
            (format!("{users}/includeUsers"), json!([])),
            (format!("{users}/{key}"), ids),
        ]
    };
    let guests = |types: &str| json!({"guestOrExternalUserTypes": types, "externalTenants": {"@odata.type": "#microsoft.graph.conditionalAccessAllExternalTenants", "membershipKind": "all"}});
    #[rustfmt::skip]
    let cases: Vec<(&str, Changes, &User<'_>, Option<Effect>)> = vec![
        ("All includes a member", vec![], &ada, Some(Requires)),
        ("All includes a guest", vec![], &guest, Some(Requires)),
        ("None includes nobody", only("includeUsers", json!(["None"])), &ada, None),
        ("the user's id", only("includeUsers", json!([guid(ADA)])), &ada, Some(Requires)),
        ("another user's id", only("includeUsers", json!([guid(BOB)])), &ada, None),
        ("a group the user is in (ids in any case)", only("includeGroups", json!([guid(STAFF).to_uppercase()])), &staff, Some(Requires)),
        ("a group the user is not in", only("includeGroups", json!([guid(STAFF)])), &ada, None),
        ("a role the user holds", only("includeRoles", json!([guid(GLOBAL_ADMIN)])), &admin, Some(Requires)),
        ("a role the user does not hold", only("includeRoles", json!([guid(GLOBAL_ADMIN)])), &staff, None),
        ("GuestsOrExternalUsers, a guest", only("includeUsers", json!(["GuestsOrExternalUsers"])), &guest, Some(Requires)),
        ("GuestsOrExternalUsers, a member", only("includeUsers", json!(["GuestsOrExternalUsers"])), &ada, None),
        ("guest types with b2bCollaborationGuest", only("includeGuestsOrExternalUsers", guests("internalGuest,b2bCollaborationGuest")), &guest, Some(Requires)),
        ("guest types without a guest account's", only("includeGuestsOrExternalUsers", guests("b2bDirectConnectUser")), &guest, None),
        ("guest types never cover a member", only("includeGuestsOrExternalUsers", guests("b2bCollaborationGuest")), &ada, None),
        ("excluded by id", vec![(format!("{users}/excludeUsers"), json!([guid(ADA)]))], &ada, Some(Excluded)),
        ("excluded by group", vec![(format!("{users}/excludeGroups"), json!([guid(STAFF)]))], &staff, Some(Excluded)),
        ("excluded by role", vec![(format!("{users}/excludeRoles"), json!([guid(GLOBAL_ADMIN)]))], &admin, Some(Excluded)),
        ("another's exclusion", vec![(format!("{users}/excludeUsers"), json!([guid(BOB)]))], &ada, Some(Requires)),
        ("guests excluded, a guest", vec![(format!("{users}/excludeUsers"), json!(["GuestsOrExternalUsers"]))], &guest, Some(Excluded)),
        ("guests excluded by type, a guest", vec![(format!("{users}/excludeGuestsOrExternalUsers"), guests("internalGuest"))], &guest, Some(Excluded)),
        ("guests excluded, a member", vec![(format!("{users}/excludeGuestsOrExternalUsers"), guests("internalGuest,b2bCollaborationGuest"))], &ada, Some(Requires)),
        ("included by role, excluded by group", vec![(format!("{users}/includeUsers"), json!([])), (format!("{users}/includeRoles"), json!([guid(GLOBAL_ADMIN)])), (format!("{users}/excludeGroups"), json!([guid(STAFF)]))], &staff_admin, Some(Excluded)),
    ];
    for (what, changes, user, expected) in cases {
        let policy = changed(require_mfa("All users"), &changes);
        assert_eq!(effect_of(policy, user), expected, "{what}");
    }
}

#[test]
fn report_only_policies_would_require_and_disabled_ones_do_nothing() {
    let user = member(ADA);
    let cases: &[(&str, bool, bool, usize)] = &[
        // state, requires MFA, is blocked, report-only "would" matches
        ("enabled", true, false, 0),
        ("enabledForReportingButNotEnforced", false, false, 1),
        ("disabled", false, false, 0),
    ];
    for (state, requires, blocked, would) in cases {
        for control in ["mfa", "block"] {
            let policy = changed(
                require_mfa("All users"),
                &[
                    ("/state", json!(state)),
                    ("/grantControls/builtInControls", json!([control])),
                ],
            );
            let policies = AccessPolicies::new(false, &[policy], &strengths());
            let r = policies.requirement(&user);
            let (effect, other) = if control == "mfa" {
                (Effect::Requires, Effect::Blocks)
            } else {
                (Effect::Blocks, Effect::Requires)
            };
            assert_eq!(
                r.requires_mfa(),
                *requires && control == "mfa",
                "{state} {control}"
            );
            assert_eq!(
                r.is_blocked(),
                *requires && control == "block" || *blocked,
                "{state} {control}"
            );
            assert_eq!(r.with(false, effect).count(), *would, "{state} {control}");
            assert_eq!(r.with(false, other).count(), 0, "{state} {control}");
            assert_eq!(
                policies.policies().len(),
                usize::from(*state != "disabled"),
                "{state}"
            );
        }
    }
}

#[test]
fn security_defaults_require_mfa_of_enabled_members_and_per_user_mfa_of_its_users() {
    use PerUserMfaState::{Disabled, Enabled, Enforced};
    /// Security defaults, per-user MFA, account enabled, guest → required by security
    /// defaults, by per-user MFA, at all.
    type Row = (
        bool,
        Option<PerUserMfaState>,
        bool,
        bool,
        bool,
        Option<PerUserMfaState>,
        bool,
    );
    #[rustfmt::skip]
    let cases: &[Row] = &[
        (true, None, true, false, true, None, true),
        (true, None, true, true, false, None, false),
        (true, None, false, false, false, None, false),
        (false, None, true, false, false, None, false),
        (false, Some(Disabled), true, false, false, None, false),
        (false, Some(Enabled), true, false, false, Some(Enabled), true),
        (false, Some(Enforced), true, true, false, Some(Enforced), true),
        (true, Some(Enforced), true, false, true, Some(Enforced), true),
    ];
    for &(sd, per_user, enabled, guest, by_sd, by_per_user, requires) in cases {
        let policies = AccessPolicies::new(sd, &[], &[]);
        let user = User {
            enabled,
            guest,
            per_user_mfa: per_user,
            ..member(ADA)
        };
        let r = policies.requirement(&user);
        let case = format!("sd {sd}, per-user {per_user:?}, enabled {enabled}, guest {guest}");
        assert_eq!(r.security_defaults, by_sd, "{case}");
        assert_eq!(r.per_user, by_per_user, "{case}");
        assert_eq!(r.requires_mfa(), requires, "{case}");
        assert!(r.matches.is_empty(), "{case}");
    }
}

#[test]
fn one_buffer_serves_every_user_and_the_policies_name_the_groups_and_roles_to_read() {
    let users = "/conditions/users";
    let policies = AccessPolicies::new(
        false,
        &[
            changed(
                require_mfa("Staff"),
                &[
                    (&format!("{users}/includeUsers"), json!([])),
                    (&format!("{users}/includeGroups"), json!([guid(STAFF)])),
                    (
                        &format!("{users}/excludeGroups"),
                        json!([guid(EMERGENCY), "not-a-guid"]),
                    ),
                ],
            ),
            changed(
                require_mfa("Admins"),
                &[
                    (&format!("{users}/includeUsers"), json!([])),
                    (
                        &format!("{users}/includeRoles"),
                        json!([guid(GLOBAL_ADMIN)]),
                    ),
                    (&format!("{users}/excludeGroups"), json!([guid(EMERGENCY)])),
                ],
            ),
        ],
        &strengths(),
    );
    assert_eq!(policies.groups(), [STAFF, EMERGENCY]);
    assert_eq!(policies.roles(), [GLOBAL_ADMIN]);
    let staff = [STAFF];
    let emergency = [STAFF, EMERGENCY];
    let admin = [GLOBAL_ADMIN];
    let mut r = Requirement::default();
    let expected = |policy: usize, excluded: bool| PolicyMatch {
        policy,
        enforced: true,
        reach: crate::simulate::requirement::Reach::Full,
        grant: crate::simulate::requirement::Grant::Mfa(
            crate::simulate::strength::Satisfaction::NotSatisfied,
        ),
        excluded,
        strength: false,
    };
    let cases: Vec<(User<'_>, Vec<PolicyMatch>)> = vec![
        (
            User {
                groups: &staff,
                roles: &admin,
                ..member(ADA)
            },
            vec![expected(0, false), expected(1, false)],
        ),
        (member(BOB), vec![]),
        (
            User {
                groups: &emergency,
                roles: &admin,
                ..member(BREAK_GLASS)
            },
            vec![expected(0, true), expected(1, true)],
        ),
    ];
    for (user, matches) in cases {
        policies.evaluate(&user, &mut r);
        assert_eq!(r.matches, matches, "{}", guid(user.id));
        let excluded = matches.iter().filter(|m| m.excluded).count();
        assert_eq!(r.deliberately_excluded().count(), excluded);
        assert_eq!(r, policies.requirement(&user));
    }
}
