//! The per-user kinds as the loader reads them: values, errors at their positions, repeats
//! and shadowed rules.

use std::path::PathBuf;

use super::*;
use crate::kinds::per_user_mfa::{DeclaredPerUserMfa, PerUserMfaException};
use crate::kinds::sign_in_preferences::{DeclaredSignInPreferences, SignInRule};
use crate::msgraph::{PerUserMfaState, PreferredMethod};
use crate::policy::testing::{codes_at, load_str};
use crate::policy::{Diagnostic, LoadOutcome, Severity, codes};
use crate::source::diagnostic::Location;

fn only(outcome: &LoadOutcome) -> &Diagnostic {
    assert_eq!(outcome.diagnostics.len(), 1, "{:?}", outcome.diagnostics);
    &outcome.diagnostics[0]
}

fn at(line: usize, column: usize) -> Location {
    Location {
        file: PathBuf::from("mem.yaml"),
        line,
        column,
    }
}

const PER_USER: &str = "apiVersion: mfactl/v1\nkind: PerUserMfa\nmetadata: {name: p}\nspec:\n";
const SIGN_IN: &str =
    "apiVersion: mfactl/v1\nkind: SignInPreferences\nmetadata: {name: s}\nspec:\n";

fn per_user(spec: &str) -> LoadOutcome {
    load_str(&format!("{PER_USER}{spec}"))
}

fn sign_in(spec: &str) -> LoadOutcome {
    load_str(&format!("{SIGN_IN}{spec}"))
}

#[test]
fn a_per_user_mfa_document_loads() {
    let out = per_user(
        "  state: disabled\n  exceptions:\n    - group: Legacy VPN Users\n      state: enforced\n    - user: svc-nps@contoso.com\n      state: enabled\n    - {group: DAD4AE4A-730C-4E52-826C-0D9094971F04, state: disabled}\n",
    );
    assert!(out.diagnostics.is_empty(), "{:?}", out.diagnostics);
    let set = out.set.unwrap();
    let declared = set.per_user_mfa.unwrap();
    assert_eq!(
        declared,
        DeclaredPerUserMfa {
            name: "p".into(),
            location: at(1, 1),
            state: Some(PerUserMfaState::Disabled),
            state_location: Some(at(5, 3)),
            exceptions: vec![
                PerUserMfaException {
                    target: RuleTarget::Group("Legacy VPN Users".into()),
                    state: PerUserMfaState::Enforced,
                    location: at(7, 7),
                },
                PerUserMfaException {
                    target: RuleTarget::User("svc-nps@contoso.com".into()),
                    state: PerUserMfaState::Enabled,
                    location: at(9, 7),
                },
                PerUserMfaException {
                    target: RuleTarget::Group("dad4ae4a-730c-4e52-826c-0d9094971f04".into()),
                    state: PerUserMfaState::Disabled,
                    location: at(11, 7),
                },
            ],
        }
    );
    let resolved: Vec<bool> = declared.targets().iter().map(|t| t.is_resolved()).collect();
    assert_eq!(resolved, [false, false, true]);
    assert!(set.sign_in_preferences.is_none());
}

#[test]
fn state_alone_or_exceptions_alone_is_enough() {
    let out = per_user("  state: enforced\n");
    assert!(out.diagnostics.is_empty(), "{:?}", out.diagnostics);
    let out = per_user("  exceptions: [{user: ada@contoso.com, state: enabled}]\n");
    assert!(out.diagnostics.is_empty(), "{:?}", out.diagnostics);
    let declared = out.set.unwrap().per_user_mfa.unwrap();
    assert_eq!(declared.state, None);
    assert_eq!(declared.state_location, None);
    assert_eq!(declared.exceptions.len(), 1);
}

#[test]
fn a_sign_in_preferences_document_loads() {
    let out = sign_in(
        "  rules:\n    - name: break-glass\n      group: Break Glass Accounts\n      isSystemPreferredAuthenticationMethodEnabled: false\n    - user: ADA@contoso.com\n      userPreferredMethodForSecondaryAuthentication: voiceAlternateMobile\n    - group: ALL_USERS\n      userPreferredMethodForSecondaryAuthentication: push\n      isSystemPreferredAuthenticationMethodEnabled: true\n",
    );
    assert!(out.diagnostics.is_empty(), "{:?}", out.diagnostics);
    let declared = out.set.unwrap().sign_in_preferences.unwrap();
    assert_eq!(
        declared,
        DeclaredSignInPreferences {
            name: "s".into(),
            location: at(1, 1),
            rules: vec![
                SignInRule {
                    name: Some("break-glass".into()),
                    target: RuleTarget::Group("Break Glass Accounts".into()),
                    preferred_method: None,
                    system_preferred: Some(false),
                    location: at(6, 7),
                },
                SignInRule {
                    name: None,
                    target: RuleTarget::User("ADA@contoso.com".into()),
                    preferred_method: Some(PreferredMethod::VoiceAlternateMobile),
                    system_preferred: None,
                    location: at(9, 7),
                },
                SignInRule {
                    name: None,
                    target: RuleTarget::AllUsers,
                    preferred_method: Some(PreferredMethod::Push),
                    system_preferred: Some(true),
                    location: at(11, 7),
                },
            ],
        }
    );
    assert_eq!(declared.targets()[2], &RuleTarget::AllUsers);
}

#[test]
fn targets_describe_and_serialise() {
    assert_eq!(RuleTarget::AllUsers.describe(), "all users");
    assert_eq!(
        RuleTarget::Group("Finance".into()).describe(),
        "group 'Finance'"
    );
    assert_eq!(RuleTarget::User("ada@x".into()).describe(), "user ada@x");
    let guid = "dad4ae4a-730c-4e52-826c-0d9094971f04";
    assert_eq!(
        RuleTarget::Group(guid.into()).describe(),
        format!("group {guid}")
    );
    assert!(RuleTarget::AllUsers.is_resolved());
    assert!(RuleTarget::User(guid.into()).is_resolved());
    assert!(!RuleTarget::User("ada@x".into()).is_resolved());
    assert!(RuleTarget::Group("FINANCE".into()).same_as(&RuleTarget::Group("finance".into())));
    assert!(!RuleTarget::Group("x".into()).same_as(&RuleTarget::User("x".into())));
    assert_eq!(
        serde_json::to_value(RuleTarget::Group("Finance".into())).unwrap(),
        serde_json::json!({"type": "group", "id": "Finance"})
    );
    assert_eq!(
        serde_json::to_value(RuleTarget::AllUsers).unwrap(),
        serde_json::json!({"type": "allUsers"})
    );
}

#[test]
fn per_user_errors_are_at_the_offending_key_or_value() {
    // A misspelt key is also a missing one, as for SecurityDefaults.
    let out = per_user("  stat: disabled\n");
    assert_eq!(
        codes_at(&out),
        [(codes::MISSING_KEY, 4, 1), (codes::UNKNOWN_KEY, 5, 3)]
    );
    assert_eq!(
        out.diagnostics[1].help.as_deref(),
        Some("did you mean `state`?")
    );
    let cases: &[(&str, (&str, usize, usize))] = &[
        ("  state: enforcd\n", (codes::UNKNOWN_ENUM_VALUE, 5, 10)),
        ("  state: true\n", (codes::WRONG_TYPE, 5, 10)),
        ("  state: ~\n", (codes::WRONG_TYPE, 5, 10)),
        ("  {}\n", (codes::MISSING_SPEC, 5, 3)),
        ("  exceptions: []\n", (codes::MISSING_KEY, 5, 3)),
        ("  exceptions: Legacy\n", (codes::WRONG_TYPE, 5, 15)),
        (
            "  exceptions:\n    - Legacy VPN Users\n",
            (codes::TARGET_FORM, 6, 7),
        ),
        (
            "  exceptions:\n    - {group: Legacy VPN Users}\n",
            (codes::MISSING_KEY, 6, 7),
        ),
        (
            "  exceptions:\n    - group: G\n      user: u@x\n      state: enabled\n",
            (codes::TARGET_FORM, 7, 7),
        ),
        (
            "  exceptions:\n    - state: enabled\n",
            (codes::TARGET_FORM, 6, 7),
        ),
        (
            "  exceptions:\n    - {group: All_Users, state: enabled}\n",
            (codes::TARGET_FORM, 6, 15),
        ),
        (
            "  exceptions:\n    - {user: all_users, state: enabled}\n",
            (codes::TARGET_FORM, 6, 14),
        ),
        (
            "  exceptions:\n    - {group: '', state: enabled}\n",
            (codes::TARGET_FORM, 6, 15),
        ),
        (
            "  exceptions:\n    - {group: 12, state: enabled}\n",
            (codes::WRONG_TYPE, 6, 15),
        ),
        (
            "  exceptions:\n    - {group: G, stat: enabled, state: enabled}\n",
            (codes::UNKNOWN_KEY, 6, 18),
        ),
        (
            "  exceptions:\n    - {group: G, state: enforce}\n",
            (codes::UNKNOWN_ENUM_VALUE, 6, 25),
        ),
    ];
    for (spec, expected) in cases {
        let out = per_user(spec);
        assert_eq!(codes_at(&out), [*expected], "{spec}");
        assert!(out.set.is_none(), "{spec}");
    }
    let out = per_user("  state: enforcd\n");
    assert_eq!(only(&out).help.as_deref(), Some("did you mean `enforced`?"));
    let out = per_user("  exceptions:\n    - {group: G, stat: enabled, state: enabled}\n");
    assert_eq!(only(&out).help.as_deref(), Some("did you mean `state`?"));
    let out = per_user("  exceptions:\n    - {group: All_Users, state: enabled}\n");
    assert!(
        only(&out)
            .help
            .as_deref()
            .unwrap_or_default()
            .contains("`state:` under `spec`")
    );
}

#[test]
fn sign_in_errors_are_at_the_offending_key_or_value() {
    let cases: &[(&str, (&str, usize, usize))] = &[
        ("  {}\n", (codes::MISSING_SPEC, 5, 3)),
        ("  rules: []\n", (codes::MISSING_KEY, 5, 3)),
        ("  rules:\n", (codes::MISSING_KEY, 5, 3)),
        ("  rules: {group: all_users}\n", (codes::WRONG_TYPE, 5, 10)),
        (
            "  rule: []\n  rules: [{group: all_users, isSystemPreferredAuthenticationMethodEnabled: true}]\n",
            (codes::UNKNOWN_KEY, 5, 3),
        ),
        (
            "  rules:\n    - group: all_users\n      userPreferredMethodForSecondaryAuthentication: none\n",
            (codes::UNKNOWN_ENUM_VALUE, 7, 54),
        ),
        (
            "  rules:\n    - group: all_users\n      userPreferredMethodForSecondaryAuthentication: unknownFutureValue\n",
            (codes::UNKNOWN_ENUM_VALUE, 7, 54),
        ),
        (
            "  rules:\n    - group: all_users\n      userPreferredMethodForSecondaryAuthentication: pussh\n",
            (codes::UNKNOWN_ENUM_VALUE, 7, 54),
        ),
        (
            "  rules:\n    - group: all_users\n      isSystemPreferredAuthenticationMethodEnabled: \"true\"\n",
            (codes::WRONG_TYPE, 7, 53),
        ),
        (
            "  rules:\n    - group: all_users\n      isSystemPreferredAuthenticationMethodEnabled: yes\n",
            (codes::WRONG_TYPE, 7, 53),
        ),
        (
            "  rules:\n    - name: nothing\n      group: all_users\n",
            (codes::MISSING_KEY, 6, 7),
        ),
        (
            "  rules:\n    - group: G\n      user: u@x\n      isSystemPreferredAuthenticationMethodEnabled: true\n",
            (codes::TARGET_FORM, 7, 7),
        ),
        (
            "  rules:\n    - {user: ALL_USERS, isSystemPreferredAuthenticationMethodEnabled: true}\n",
            (codes::TARGET_FORM, 6, 14),
        ),
        (
            "  rules:\n    - {name: 3, group: G, isSystemPreferredAuthenticationMethodEnabled: true}\n",
            (codes::WRONG_TYPE, 6, 14),
        ),
        (
            "  rules:\n    - {group: G, isSystemPreferedAuthenticationMethodEnabled: true, userPreferredMethodForSecondaryAuthentication: sms}\n",
            (codes::UNKNOWN_KEY, 6, 18),
        ),
        (
            "  rules:\n    - group: G\n      isSystemPreferredAuthenticationMethodEnabled: true\n  isSystemPreferredAuthenticationMethodEnabled: true\n",
            (codes::UNKNOWN_KEY, 8, 3),
        ),
    ];
    for (spec, expected) in cases {
        let out = sign_in(spec);
        assert_eq!(codes_at(&out), [*expected], "{spec}");
        assert!(out.set.is_none(), "{spec}");
    }
    let none = sign_in(
        "  rules:\n    - group: all_users\n      userPreferredMethodForSecondaryAuthentication: none\n",
    );
    assert!(
        only(&none)
            .help
            .as_deref()
            .unwrap_or_default()
            .contains("has no `none`")
    );
    let misspelt = sign_in(
        "  rules:\n    - group: all_users\n      userPreferredMethodForSecondaryAuthentication: pussh\n",
    );
    assert_eq!(
        only(&misspelt).help.as_deref(),
        Some("did you mean `push`?")
    );
    let quoted = sign_in(
        "  rules:\n    - group: all_users\n      isSystemPreferredAuthenticationMethodEnabled: \"true\"\n",
    );
    assert!(
        only(&quoted)
            .help
            .as_deref()
            .unwrap_or_default()
            .contains("remove the quotes")
    );
    let key = sign_in(
        "  rules:\n    - {group: G, isSystemPreferedAuthenticationMethodEnabled: true, userPreferredMethodForSecondaryAuthentication: sms}\n",
    );
    assert_eq!(
        only(&key).help.as_deref(),
        Some("did you mean `isSystemPreferredAuthenticationMethodEnabled`?")
    );
}

#[test]
fn an_exception_naming_the_same_target_again_never_applies() {
    let out = per_user(
        "  exceptions:\n    - {group: Legacy VPN Users, state: enforced}\n    - {user: u@x, state: enabled}\n    - {group: legacy vpn users, state: disabled}\n    - {user: U@X, state: enforced}\n    - {group: u@x, state: enforced}\n",
    );
    assert_eq!(
        codes_at(&out),
        [(codes::SAME_TARGET, 8, 15), (codes::SAME_TARGET, 9, 14)]
    );
    assert!(
        out.diagnostics
            .iter()
            .all(|d| d.severity == Severity::Warning)
    );
    assert!(
        out.diagnostics[0].message.contains("mem.yaml:6:7"),
        "{}",
        out.diagnostics[0].message
    );
    assert!(out.diagnostics[1].message.contains("mem.yaml:7:7"));
    let set = out.set.expect("warnings leave the set usable");
    assert_eq!(set.per_user_mfa.unwrap().exceptions.len(), 5);
}

#[test]
fn a_rule_property_set_earlier_for_the_same_target_never_applies() {
    let out = sign_in(
        "  rules:\n    - group: Finance\n      isSystemPreferredAuthenticationMethodEnabled: false\n    - group: FINANCE\n      userPreferredMethodForSecondaryAuthentication: sms\n      isSystemPreferredAuthenticationMethodEnabled: true\n",
    );
    assert_eq!(codes_at(&out), [(codes::SAME_TARGET, 10, 7)]);
    let d = only(&out);
    assert_eq!(d.severity, Severity::Warning);
    assert!(
        d.message
            .starts_with("`isSystemPreferredAuthenticationMethodEnabled`")
    );
    assert!(d.message.contains("mem.yaml:6:7"), "{}", d.message);
    assert!(out.set.is_some());
}

#[test]
fn a_rule_property_after_an_all_users_rule_is_shadowed() {
    let out = sign_in(
        "  rules:\n    - group: all_users\n      userPreferredMethodForSecondaryAuthentication: push\n    - group: Finance\n      userPreferredMethodForSecondaryAuthentication: sms\n      isSystemPreferredAuthenticationMethodEnabled: true\n    - group: All_Users\n      userPreferredMethodForSecondaryAuthentication: oath\n",
    );
    assert_eq!(
        codes_at(&out),
        [(codes::AFTER_ALL_USERS, 9, 7), (codes::SAME_TARGET, 12, 7)],
        "a later all_users rule is the same target, reported once"
    );
    let d = &out.diagnostics[0];
    assert_eq!(d.severity, Severity::Warning);
    assert!(
        d.message
            .starts_with("`userPreferredMethodForSecondaryAuthentication`")
    );
    assert!(d.message.contains("mem.yaml:6:7"), "{}", d.message);
    assert!(
        d.help
            .as_deref()
            .unwrap_or_default()
            .contains("mfactl plan")
    );
    // The catch-all last shadows nothing.
    let ordered = sign_in(
        "  rules:\n    - group: Finance\n      userPreferredMethodForSecondaryAuthentication: sms\n    - group: all_users\n      userPreferredMethodForSecondaryAuthentication: push\n",
    );
    assert!(ordered.diagnostics.is_empty(), "{:?}", ordered.diagnostics);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// Whatever the spec, both kinds return diagnostics with real positions, never panic.
    #[test]
    fn arbitrary_specs_never_panic(body in "[a-zA-Z0-9:{}\\[\\],\"'_@ \n-]{0,160}") {
        for head in [PER_USER, SIGN_IN] {
            let out = load_str(&format!("{head}{body}"));
            for d in &out.diagnostics {
                proptest::prop_assert!(d.location.line >= 1 && d.location.column >= 1, "{}", d);
            }
            proptest::prop_assert_eq!(out.set.is_none(), out.has_errors());
        }
    }
}

#[test]
fn each_new_kind_is_allowed_once() {
    let doc = format!("{PER_USER}  state: disabled\n");
    let out = load_str(&format!("{doc}---\n{doc}"));
    assert_eq!(codes_at(&out), [(codes::DUPLICATE_KIND, 8, 7)]);
    assert!(out.diagnostics[0].message.contains("mem.yaml:2:7"));
    let doc = format!(
        "{SIGN_IN}  rules: [{{group: all_users, isSystemPreferredAuthenticationMethodEnabled: true}}]\n"
    );
    let out = load_str(&format!("{doc}---\n{doc}"));
    assert_eq!(codes_at(&out), [(codes::DUPLICATE_KIND, 8, 7)]);
}
