//! What `explain` says requires MFA of a user, from a read directory: security defaults,
//! per-user MFA, enabled and report-only policies, blocks, exclusions, disabled accounts and
//! guests; and which users a coverage must read the per-user state of.

use super::*;
use crate::msgraph::PerUserMfaState;
use crate::simulate::directory::{Account, Directory, UserRecord, UserState};
use crate::simulate::protection::{MfaRequired, Protection, Side};

fn directory() -> Directory {
    let mut d = Directory::new();
    for (id, upn, guest, enabled) in [
        (ADA, "ada@x", false, true),
        (GUEST, "guest@x", true, true),
        (BREAK_GLASS, "bg@x", false, true),
        (BOB, "bob@x", false, false),
    ] {
        d.upsert(UserRecord {
            id,
            upn: upn.into(),
            registered: Registered::from_values(["microsoftAuthenticatorPush"]),
            in_report: enabled,
            account: Account::from_graph(
                Some(if guest { "Guest" } else { "Member" }),
                Some(enabled),
            ),
        });
    }
    d.set_group(&guid(EMERGENCY), [(BREAK_GLASS, "bg@x".into())]);
    d
}

/// (what, security defaults on, the policies, the user, their per-user state, the word, the
/// policies that require it).
type Case = (
    &'static str,
    bool,
    Vec<Value>,
    u128,
    Option<PerUserMfaState>,
    MfaRequired,
    Vec<&'static str>,
);

fn per_user(state: Option<PerUserMfaState>) -> UserState {
    UserState {
        per_user_mfa: state,
        ..UserState::default()
    }
}

#[test]
fn the_verdict_names_what_requires_mfa_first_the_policies() {
    use MfaRequired as M;
    use PerUserMfaState as P;
    let dir = directory();
    let everyone = changed(
        require_mfa("All users MFA"),
        &[("/conditions/users/excludeGroups", json!([guid(EMERGENCY)]))],
    );
    let report_only = with(
        everyone.clone(),
        "/state",
        json!("enabledForReportingButNotEnforced"),
    );
    let block = with(
        require_mfa("Block all"),
        "/grantControls/builtInControls",
        json!(["block"]),
    );
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        ("security defaults", true, vec![], ADA, Some(P::Disabled), M::SecurityDefaults, vec![]),
        ("not for guests", true, vec![], GUEST, Some(P::Disabled), M::None, vec![]),
        ("per-user enforced", false, vec![], ADA, Some(P::Enforced), M::PerUserEnforced, vec![]),
        ("per-user enabled", false, vec![], ADA, Some(P::Enabled), M::PerUserEnabled, vec![]),
        ("per-user unread", false, vec![], ADA, None, M::Unknown, vec![]),
        ("a policy wins the word", true, vec![everyone.clone()], ADA, None, M::ConditionalAccess, vec!["All users MFA"]),
        ("a policy for guests too", false, vec![everyone.clone()], GUEST, None, M::ConditionalAccess, vec!["All users MFA"]),
        ("break-glass excluded", false, vec![everyone.clone()], BREAK_GLASS, Some(P::Disabled), M::None, vec![]),
        ("report-only only would", false, vec![report_only], ADA, Some(P::Disabled), M::None, vec![]),
        ("blocked", false, vec![everyone, block], ADA, None, M::Blocked, vec!["All users MFA"]),
        ("disabled account", true, vec![], BOB, None, M::Disabled, vec![]),
    ];
    for (what, sd, policies, id, state, expected, required_by) in cases {
        let access = AccessPolicies::new(sd, &policies, &strengths());
        let p = Protection::new(AccessPolicies::default(), access, &dir);
        let Some(i) = dir.index_of(id) else {
            panic!("{what}: no user");
        };
        let v = p.verdict(Side::After, &dir, i, &per_user(state));
        assert_eq!(v.mfa_required, expected, "{what}");
        assert_eq!(v.required_by, required_by, "{what}");
        assert_eq!(v.guest, id == GUEST, "{what}");
        match what {
            "break-glass excluded" => assert_eq!(v.excluded_by, ["All users MFA"], "{what}"),
            "report-only only would" => assert_eq!(v.would_require, ["All users MFA"], "{what}"),
            "blocked" => assert_eq!(v.blocked_by, ["Block all"], "{what}"),
            _ => {}
        }
        assert!(v.describe().starts_with("MFA required: "), "{what}");
    }
}

#[test]
fn only_users_who_would_lose_their_requirement_with_per_user_mfa_unread_are_undecided() {
    let dir = directory();
    let before = AccessPolicies::new(true, &[], &strengths());
    let everyone = changed(
        require_mfa("All users MFA"),
        &[("/conditions/users/excludeGroups", json!([guid(EMERGENCY)]))],
    );
    let after = AccessPolicies::new(false, &[everyone], &strengths());
    let p = Protection::new(before, after, &dir);
    let unread = vec![UserState::default(); dir.users().len()];
    // Only the break-glass account loses security defaults with nothing in their place; the
    // guest had nothing, the disabled account does not count.
    let undecided = p.undecided(&dir, &unread, false);
    assert_eq!(undecided, [dir.index_of(BREAK_GLASS).unwrap_or(u32::MAX)]);
    // explain also reads the guest's: nothing required MFA of them before.
    let index = |id| dir.index_of(id).unwrap_or(u32::MAX);
    assert_eq!(
        p.undecided(&dir, &unread, true),
        [index(GUEST), index(BREAK_GLASS)]
    );
    let read = vec![per_user(Some(PerUserMfaState::Disabled)); dir.users().len()];
    assert!(p.undecided(&dir, &read, true).is_empty());
    // The coverage counts the break-glass account as excluded on purpose, not lost.
    let c = p.coverage(&dir, &read, &read, 5);
    assert_eq!(
        (c.members, c.guests, c.unprotected(), c.excluded.members),
        (2, 1, 0, 1)
    );
    assert_eq!(c.excluded.first[0].user_principal_name, "bg@x");
}
