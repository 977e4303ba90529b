//! `AuthenticationStrength` as the loader reads it, and as a collection plans it.

use serde_json::{Value, json};

use super::*;
use crate::kinds::collection;
use crate::kinds::declarable::testing::document;
use crate::policy::testing::{codes_at, load_str};
use crate::policy::{LoadOutcome, codes};

fn strength(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: mfactl/v1\nkind: AuthenticationStrength\nmetadata: {{name: {name}}}\nspec:\n{spec}"
    )
}

fn declared(outcome: &LoadOutcome) -> Vec<DeclaredStrength> {
    outcome
        .set
        .as_ref()
        .map(|s| s.authentication_strengths.clone())
        .unwrap_or_default()
}

const TAP: &str = "  description: Phishing-resistant, and a one-time pass to register\n  allowedCombinations: [fido2, windowsHelloForBusiness, temporaryAccessPassOneTime, \"password, sms\"]\n";

#[test]
fn combinations_load_as_graph_stores_them() {
    let out = load_str(&strength("Registration", TAP));
    assert!(out.diagnostics.is_empty(), "{:?}", out.diagnostics);
    assert_eq!(
        declared(&out)[0].properties["allowedCombinations"],
        json!([
            "fido2",
            "windowsHelloForBusiness",
            "temporaryAccessPassOneTime",
            "password,sms"
        ])
    );
}

#[test]
fn a_built_in_name_an_unknown_combination_and_missing_combinations_are_refused() {
    let builtin = load_str(&strength(
        "Phishing resistant MFA",
        "  allowedCombinations: [fido2]\n",
    ));
    assert_eq!(codes_at(&builtin), [(codes::READ_ONLY, 4, 1)]);
    let unknown = load_str(&strength(
        "S",
        "  allowedCombinations: [fido2, microsoftAuthenticatorPush]\n",
    ));
    assert_eq!(codes_at(&unknown), [(codes::UNKNOWN_ENUM_VALUE, 5, 32)]);
    let missing = load_str(&strength("S", "  description: nothing allowed\n"));
    assert_eq!(codes_at(&missing), [(codes::MISSING_KEY, 4, 1)]);
}

fn live(combinations: &[&str], description: &str) -> Value {
    json!({"id": "s1", "displayName": "Registration", "description": description,
           "policyType": "custom", "requirementsSatisfied": "mfa",
           "allowedCombinations": combinations, "combinationConfigurations": []})
}

#[test]
fn combinations_change_through_the_action_and_the_description_by_patch() {
    let desired = declared(&load_str(&strength("Registration", TAP)));
    let same = live(
        &[
            "password,sms",
            "fido2",
            "temporaryAccessPassOneTime",
            "windowsHelloForBusiness",
        ],
        "Phishing-resistant, and a one-time pass to register",
    );
    let synced = collection::plan::<AuthenticationStrength>(&desired, &[same], false);
    assert!(
        synced.changes.is_empty(),
        "order and spacing are not drift: {:?}",
        synced.changes
    );

    let other = live(&["fido2"], "old");
    let plan = collection::plan::<AuthenticationStrength>(&desired, &[other], false);
    let requests: Vec<(&str, &str)> = plan
        .changes
        .iter()
        .map(|c| (c.method.as_str(), c.path.as_str()))
        .collect();
    assert_eq!(
        requests,
        [
            (
                "POST",
                "/v1.0/policies/authenticationStrengthPolicies/s1/updateAllowedCombinations"
            ),
            ("PATCH", "/v1.0/policies/authenticationStrengthPolicies/s1"),
        ]
    );
    assert_eq!(
        plan.changes[0].body,
        json!({"allowedCombinations": ["fido2", "windowsHelloForBusiness", "temporaryAccessPassOneTime", "password,sms"]})
    );
    assert_eq!(
        plan.changes[1].body,
        json!({"description": "Phishing-resistant, and a one-time pass to register"})
    );
}

#[test]
fn built_ins_are_neither_unmanaged_nor_pruned() {
    let builtin = json!({"id": "00000000-0000-0000-0000-000000000004", "displayName": "Phishing resistant MFA", "policyType": "builtIn"});
    let custom = live(&["fido2"], "someone else's");
    let plan = collection::plan::<AuthenticationStrength>(&[], &[builtin, custom], true);
    assert_eq!(plan.unmanaged.len(), 1);
    assert_eq!(plan.unmanaged[0].display_name, "Registration");
    assert_eq!(plan.changes.len(), 1, "only the custom strength is pruned");
}

#[test]
fn a_custom_strength_exports_as_a_declaration_in_sync_with_it_and_built_ins_not_at_all() {
    let live = json!({"id": "s1", "displayName": "Registration", "description": "TAP to register",
        "createdDateTime": "2025-01-01T00:00:00Z", "modifiedDateTime": "2025-01-01T00:00:00Z",
        "policyType": "custom", "requirementsSatisfied": "mfa",
        "allowedCombinations": ["fido2", "password,sms"],
        "combinationConfigurations@odata.context": "https://graph.microsoft.com/v1.0/$metadata#…",
        "combinationConfigurations": [{"id": "c1", "appliesToCombinations": ["fido2"]}]});
    let spec = export::declarable(&live).unwrap();
    assert_eq!(
        Value::Object(spec.clone()),
        json!({"description": "TAP to register", "allowedCombinations": ["fido2", "password,sms"]})
    );
    assert!(export::has_configurations(&live));
    let out = load_str(&document(
        AuthenticationStrength::NAME,
        "Registration",
        &spec,
    ));
    assert!(out.diagnostics.is_empty(), "{:?}", out.diagnostics);
    let plan = collection::plan::<AuthenticationStrength>(&declared(&out), &[live], false);
    assert!(plan.changes.is_empty(), "{:?}", plan.changes);

    let built_in = json!({"id": "00000000-0000-0000-0000-000000000002", "displayName": "Multifactor authentication",
        "policyType": "builtIn", "allowedCombinations": ["fido2"]});
    assert_eq!(export::declarable(&built_in), None);
}
