//! `mfactl::policy::load` on the policy corpus in `tests/policies/`: the good set and its
//! normalised output, every bad file with exactly its expected diagnostics, and a file with
//! several problems reported all at once. No emulator needed: loading is offline.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use mfactl::kinds::RuleTarget;
use mfactl::policy::{CODES, Diagnostic, LINTS, LoadOutcome, PLAN_TIME, Severity, load};
use mfactl::simulate::{PerUserMfaState, PreferredMethod};
use serde::Deserialize;
use serde_json::{Value, json};

const GOOD: &str = "tests/policies/good";
const BAD: &str = "tests/policies/bad";

/// One expected diagnostic in `tests/policies/bad/expected.json`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
struct Expected {
    code: String,
    line: usize,
    column: usize,
}

fn found(outcome: &LoadOutcome) -> Vec<Expected> {
    outcome
        .diagnostics
        .iter()
        .map(|d| Expected {
            code: d.code.to_string(),
            line: d.location.line,
            column: d.location.column,
        })
        .collect()
}

fn expected_table() -> BTreeMap<String, Vec<Expected>> {
    let text = std::fs::read_to_string(Path::new(BAD).join("expected.json"))
        .unwrap_or_else(|e| panic!("read expected.json: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse expected.json: {e}"))
}

fn bad_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(BAD)
        .unwrap_or_else(|e| panic!("read {BAD}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn render(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_bad_file_reports_exactly_its_expected_diagnostics() {
    let table = expected_table();
    let files = bad_files();
    assert!(files.len() >= 30, "the corpus holds {} files", files.len());
    let mut failures = Vec::new();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let Some(expected) = table.get(&name) else {
            failures.push(format!("{name}: no entry in expected.json"));
            continue;
        };
        let outcome = load(std::slice::from_ref(file));
        let actual = found(&outcome);
        // Codes found only against a tenant (names that do not resolve) are not `load`'s to
        // find: the file must load cleanly, and `names::` runs it through `plan --sandbox`.
        let expected: Vec<Expected> = expected
            .iter()
            .filter(|e| !PLAN_TIME.contains(&e.code.as_str()))
            .cloned()
            .collect();
        if actual != expected {
            failures.push(format!(
                "{name}: expected {expected:?}\n  got:\n{}",
                render(&outcome.diagnostics)
            ));
        }
        for d in &outcome.diagnostics {
            assert_eq!(d.location.file, *file, "{d}");
        }
        assert_eq!(
            outcome.set.is_none(),
            outcome.has_errors(),
            "{name}: a set is returned exactly when nothing is an error"
        );
    }
    let names: BTreeSet<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().to_string())
        .collect();
    for stale in table.keys().filter(|k| !names.contains(*k)) {
        failures.push(format!("{stale}: in expected.json but not in {BAD}"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_bad_corpus_has_one_problem_per_file_and_covers_every_code() {
    let table = expected_table();
    for (file, diagnostics) in &table {
        assert_eq!(
            diagnostics.len(),
            1,
            "{file} should hold exactly one problem"
        );
        let code = &diagnostics[0].code;
        assert!(
            file.starts_with(&code.to_ascii_lowercase()),
            "{file} is named after its code {code}"
        );
    }
    let covered: BTreeSet<&str> = table.values().flatten().map(|e| e.code.as_str()).collect();
    let missing: Vec<&str> = CODES
        .iter()
        .map(|c| c.code)
        .filter(|c| !covered.contains(c))
        .collect();
    assert!(missing.is_empty(), "codes without a bad file: {missing:?}");
}

#[test]
fn one_file_with_several_problems_reports_all_of_them() {
    let outcome = load(&[PathBuf::from(
        "tests/policies/several/everything-wrong.yaml",
    )]);
    let expected = [
        ("MFA012", 6, 3),
        ("MFA010", 8, 12),
        ("MFA015", 11, 9),
        ("MFA019", 14, 29),
        ("MFA011", 16, 5),
        ("MFA018", 21, 9),
        ("MFA010", 24, 31),
        ("MFA014", 29, 11),
        ("MFA009", 31, 21),
        ("MFA017", 32, 22),
        ("MFA004", 34, 1),
        ("MFA006", 34, 1),
        ("MFA005", 34, 7),
    ]
    .map(|(code, line, column)| Expected {
        code: code.into(),
        line,
        column,
    });
    assert_eq!(
        found(&outcome),
        expected,
        "\n{}",
        render(&outcome.diagnostics)
    );
    assert!(outcome.set.is_none());
}

#[test]
fn diagnostics_print_as_file_line_column_with_help() {
    let outcome = load(&[PathBuf::from(BAD).join("mfa011-fido.yaml")]);
    assert_eq!(
        render(&outcome.diagnostics),
        "tests/policies/bad/mfa011-fido.yaml:7:5: error[MFA011]: unknown method `fido`\n  help: did you mean `fido2`?"
    );
    for file in [
        "mfa023-deprecated-key-restrictions.yaml",
        "mfa025-same-group-twice.yaml",
        "mfa025-rule-repeats-a-property.yaml",
        "mfa026-rule-after-all-users.yaml",
        "mfa027-sms-sign-in-by-default.yaml",
        "mfa027-sms-usable-for-sign-in.yaml",
        "mfa028-voice-enabled.yaml",
        "mfa029-system-preferred-disabled.yaml",
        "mfa030-no-break-glass-exclusion.yaml",
        "mfa031-campaign-disabled.yaml",
        "mfa032-per-user-mfa-with-security-defaults.yaml",
        "mfa042-policy-without-break-glass.yaml",
        "mfa043-per-user-mfa-with-conditional-access.yaml",
        "mfa044-legacy-authentication-unblocked.yaml",
        "mfa045-strength-nobody-can-use.yaml",
    ] {
        let warning = load(&[PathBuf::from(BAD).join(file)]);
        assert_eq!(warning.diagnostics[0].severity, Severity::Warning, "{file}");
        assert!(
            warning.set.is_some(),
            "{file}: a warning alone leaves the set usable"
        );
    }
    let shadowed = load(&[PathBuf::from(BAD).join("mfa026-rule-after-all-users.yaml")]);
    assert_eq!(
        render(&shadowed.diagnostics),
        "tests/policies/bad/mfa026-rule-after-all-users.yaml:11:7: warning[MFA026]: \
         `userPreferredMethodForSecondaryAuthentication` of this rule never applies: \
         the all_users rule at tests/policies/bad/mfa026-rule-after-all-users.yaml:7:7 sets it first\n  \
         help: for each property, the first rule that targets a user and sets it decides: \
         move this rule above the all_users rule (overlaps through group membership show only \
         against the tenant: `mfactl plan` reports them)"
    );
}

#[test]
fn lints_are_warnings_with_a_help_line_citing_the_recommendation() {
    for code in LINTS {
        let info = CODES.iter().find(|c| c.code == *code).unwrap();
        assert_eq!(info.severity, Severity::Warning, "{code}");
    }
    let sms = load(&[PathBuf::from(BAD).join("mfa027-sms-usable-for-sign-in.yaml")]);
    assert_eq!(
        render(&sms.diagnostics),
        "tests/policies/bad/mfa027-sms-usable-for-sign-in.yaml:11:30: warning[MFA027]: \
         SMS is enabled as a way to sign in for `all_users`\n  \
         help: EIDSCA.AS04 recommends `isUsableForSignIn: false` on every SMS include target: \
         SMS stays a second factor but no longer replaces the password"
    );
    let voice = load(&[PathBuf::from(BAD).join("mfa028-voice-enabled.yaml")]);
    assert!(
        voice.diagnostics[0]
            .help
            .as_deref()
            .unwrap()
            .contains("EIDSCA.AV01"),
        "{}",
        render(&voice.diagnostics)
    );
    let both = load(&[PathBuf::from(BAD).join("mfa032-per-user-mfa-with-security-defaults.yaml")]);
    assert_eq!(
        both.diagnostics[0].message,
        "per-user MFA is `enforced` while security defaults are enabled at \
         tests/policies/bad/mfa032-per-user-mfa-with-security-defaults.yaml:6:3"
    );
}

#[test]
fn silenced_lints_are_not_reported_but_counted_with_their_reasons() {
    let outcome = load(&[PathBuf::from("tests/policies/silenced")]);
    assert!(
        outcome.diagnostics.is_empty(),
        "{}",
        render(&outcome.diagnostics)
    );
    assert!(outcome.set.is_some());
    let silenced: Vec<(&str, usize, usize, &str)> = outcome
        .silenced
        .iter()
        .map(|s| {
            (
                s.code,
                s.location.line,
                s.location.column,
                s.reason.as_str(),
            )
        })
        .collect();
    assert_eq!(
        silenced,
        [
            (
                "MFA029",
                14,
                12,
                "piloting system-preferred MFA through SignInPreferences first"
            ),
            (
                "MFA031",
                17,
                14,
                "registration runs through the onboarding portal"
            ),
            (
                "MFA027",
                22,
                11,
                "frontline shared devices sign in with SMS until passkeys ship"
            ),
            ("MFA028", 24, 14, "the call centre has no smartphones"),
            (
                "MFA032",
                42,
                7,
                "NPS extension users keep per-user MFA until the VPN moves"
            ),
        ]
    );
    assert_eq!(
        outcome.silenced_note().as_deref(),
        Some("5 lint warning(s) silenced by mfactl.io/silence-<code> annotations.")
    );
    let good = load(&[PathBuf::from(GOOD)]);
    let codes: Vec<(&str, &str)> = good
        .silenced
        .iter()
        .map(|s| (s.code, s.reason.as_str()))
        .collect();
    assert_eq!(
        codes,
        [
            (
                "MFA035",
                "Conditional Access, managed outside mfactl, requires MFA"
            ),
            (
                "MFA044",
                "Conditional Access, managed outside mfactl, blocks legacy authentication"
            )
        ]
    );
}

#[test]
fn the_shipped_policies_validate_with_no_warning_and_nothing_silenced() {
    let outcome = load(&[PathBuf::from("policies")]);
    assert!(
        outcome.diagnostics.is_empty(),
        "{}",
        render(&outcome.diagnostics)
    );
    assert!(outcome.silenced.is_empty(), "{:?}", outcome.silenced);
    let set = outcome.set.expect("the shipped policies are usable");
    assert!(set.methods_policy.is_some());
    // The P1 baseline: security defaults off, replaced by a policy that requires MFA of
    // every user for every resource, and per-user MFA off.
    assert_eq!(
        set.security_defaults.as_ref().map(|d| d.is_enabled),
        Some(false)
    );
    assert!(
        set.conditional_access_policies
            .iter()
            .any(|p| p.enabled() && p.requires_mfa_of_everyone()),
        "{:?}",
        set.conditional_access_policies
    );
    assert!(set.per_user_mfa.is_some());
}

#[test]
fn a_second_document_of_a_kind_in_another_file_names_both_locations() {
    let outcome = load(&[
        PathBuf::from(GOOD),
        PathBuf::from("tests/policies/duplicate"),
    ]);
    assert_eq!(
        render(&outcome.diagnostics),
        "tests/policies/duplicate/security-defaults-again.yaml:2:7: error[MFA013]: a second SecurityDefaults document; \
         the first is at tests/policies/good/baseline/security-defaults.yml:4:7\n  \
         help: a policy set holds one SecurityDefaults document: merge the two"
    );
}

#[test]
fn a_missing_path_is_reported_not_panicked_on() {
    let outcome = load(&[PathBuf::from("tests/policies/no-such-dir")]);
    assert_eq!(outcome.diagnostics.len(), 1);
    assert_eq!(outcome.diagnostics[0].code, "MFA000");
    assert!(outcome.set.is_none());
}

#[test]
fn the_good_set_loads_cleanly_and_normalises_to_graph_json() {
    let outcome = load(&[PathBuf::from(GOOD)]);
    assert!(
        outcome.diagnostics.is_empty(),
        "{}",
        render(&outcome.diagnostics)
    );
    let set = outcome.set.expect("no errors, so a set");
    assert_eq!(
        set.files,
        [
            PathBuf::from("tests/policies/good/baseline/security-defaults.yml"),
            PathBuf::from("tests/policies/good/per-user.yaml"),
            PathBuf::from("tests/policies/good/tenant.yaml"),
        ]
    );
    let sd = set.security_defaults.as_ref().expect("security defaults");
    assert!(!sd.is_enabled);
    assert_eq!(
        sd.location.to_string(),
        "tests/policies/good/baseline/security-defaults.yml:7:3"
    );

    let per_user = set.per_user_mfa.as_ref().expect("per-user MFA");
    assert_eq!(per_user.state, Some(PerUserMfaState::Disabled));
    assert_eq!(
        per_user.targets(),
        [
            &RuleTarget::Group("Legacy VPN Users".into()),
            &RuleTarget::User("svc-nps@contoso.com".into())
        ]
    );
    let preferences = set
        .sign_in_preferences
        .as_ref()
        .expect("sign-in preferences");
    assert_eq!(
        preferences.targets(),
        [
            &RuleTarget::Group("Break Glass Accounts".into()),
            &RuleTarget::AllUsers
        ]
    );
    assert_eq!(
        preferences.rules[1].preferred_method,
        Some(PreferredMethod::Push)
    );

    let policy = set.methods_policy.as_ref().expect("methods policy");
    let keys: Vec<&str> = policy.methods.iter().map(|m| m.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "fido2",
            "microsoftAuthenticator",
            "sms",
            "voice",
            "email",
            "temporaryAccessPass",
            "softwareOath",
            "hardwareOath",
            "x509Certificate",
            "qrCodePin",
            "verifiableCredentials",
            "6c3e9a1b-2d4f-4e8a-9b0c-1d2e3f4a5b6c",
        ]
    );
    assert!(!policy.properties.contains_key("methods"));

    // The normalised declaration, without the (long) location map.
    let mut declared = serde_json::to_value(&set).unwrap();
    if let Some(p) = declared
        .get_mut("methods_policy")
        .and_then(Value::as_object_mut)
    {
        p.remove("locations");
    }
    insta::assert_json_snapshot!("good_policy_set", declared);

    // Where each pointer was written, as "line:column".
    let locations: BTreeMap<&str, String> = policy
        .locations
        .iter()
        .map(|(k, v)| (k.as_str(), format!("{}:{}", v.line, v.column)))
        .collect();
    insta::assert_json_snapshot!("good_policy_locations", locations);
}

#[test]
fn locations_hold_every_property_and_target_id() {
    let set = load(&[PathBuf::from(GOOD)]).set.expect("good set");
    let policy = set.methods_policy.expect("methods policy");
    let at = |p: &str| {
        policy
            .locations
            .get(p)
            .map(|l| (l.line, l.column))
            .unwrap_or_else(|| panic!("no location for {p}"))
    };
    assert_eq!(at("/systemCredentialPreferences/state"), (13, 5));
    assert_eq!(
        at("/systemCredentialPreferences/excludeTargets/0/id"),
        (17, 16)
    );
    assert_eq!(at("/methods/fido2"), (37, 5));
    assert_eq!(at("/methods/fido2/state"), (38, 7));
    assert_eq!(at("/methods/fido2/includeTargets/0/id"), (42, 18));
    assert_eq!(
        at("/reportSuspiciousActivitySettings/includeTarget/id"),
        (31, 28)
    );
    // Every declared property and every target id has a location.
    fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, c) in m {
                    let p = format!("{at}/{k}");
                    out.push(p.clone());
                    pointers(c, p, out);
                }
            }
            Value::Array(items) => {
                for (i, c) in items.iter().enumerate() {
                    let p = format!("{at}/{i}");
                    out.push(p.clone());
                    pointers(c, p, out);
                }
            }
            _ => {}
        }
    }
    let mut all = Vec::new();
    pointers(
        &Value::Object(policy.properties.clone()),
        String::new(),
        &mut all,
    );
    for m in &policy.methods {
        all.push(format!("/methods/{}", m.key));
        pointers(
            &Value::Object(m.properties.clone()),
            format!("/methods/{}", m.key),
            &mut all,
        );
    }
    let missing: Vec<&String> = all
        .iter()
        .filter(|p| !policy.locations.contains_key(p.as_str()))
        .collect();
    assert!(missing.is_empty(), "no location for {missing:?}");
}

#[test]
fn unresolved_targets_are_listed_and_can_be_resolved() {
    let set = load(&[PathBuf::from(GOOD)]).set.expect("good set");
    let mut policy = set.methods_policy.expect("methods policy");
    let unresolved = policy.unresolved_targets();
    let names: Vec<(&str, &str, &str)> = unresolved
        .iter()
        .map(|t| (t.pointer.as_str(), t.target_type.as_str(), t.name.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            (
                "/systemCredentialPreferences/excludeTargets/0/id",
                "group",
                "Break Glass Accounts"
            ),
            (
                "/methods/fido2/includeTargets/0/id",
                "group",
                "Passkey Pilot"
            ),
            (
                "/methods/microsoftAuthenticator/includeTargets/1/id",
                "user",
                "ada.lovelace@contoso.com"
            ),
            (
                "/methods/sms/includeTargets/0/id",
                "group",
                "Frontline Workers"
            ),
            ("/methods/sms/excludeTargets/0/id", "group", "Executives"),
            (
                "/methods/temporaryAccessPass/includeTargets/0/id",
                "group",
                "Helpdesk Onboarding"
            ),
            (
                "/methods/x509Certificate/includeTargets/0/id",
                "group",
                "Smart Card Users"
            ),
            (
                "/methods/qrCodePin/includeTargets/0/id",
                "group",
                "Frontline Workers"
            ),
            (
                "/methods/6c3e9a1b-2d4f-4e8a-9b0c-1d2e3f4a5b6c/includeTargets/0/id",
                "group",
                "Token Holders"
            ),
        ]
    );
    for t in &unresolved {
        assert!(policy.locations.contains_key(&t.pointer), "{}", t.pointer);
    }
    let guid = "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e";
    assert!(policy.set_target_id("/methods/sms/excludeTargets/0/id", guid));
    assert!(policy.set_target_id("/systemCredentialPreferences/excludeTargets/0/id", guid));
    assert!(!policy.set_target_id("/methods/nope/includeTargets/0/id", guid));
    let sms = policy.methods.iter().find(|m| m.key == "sms").unwrap();
    assert_eq!(
        sms.properties["excludeTargets"],
        json!([{"id": guid, "targetType": "group"}])
    );
    assert_eq!(policy.unresolved_targets().len(), unresolved.len() - 2);
}
