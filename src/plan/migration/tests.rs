//! The staged move off security defaults, planned from YAML against a tenant on them.

use serde_json::{Value, json};

use crate::kinds::conditional_access::POLICIES_PATH;
use crate::kinds::security_defaults::SECURITY_DEFAULTS_PATH;
use crate::plan::{LiveState, PlanError, plan};
use crate::policy::testing::load_str;
use crate::tenant::names::Resolution;

const SD_OFF: &str = "apiVersion: mfactl/v1\nkind: SecurityDefaults\nmetadata: {name: sd}\nspec:\n  enabled: false\n";

fn ca(name: &str, state: &str, control: &str) -> String {
    format!(
        "---\napiVersion: mfactl/v1\nkind: ConditionalAccessPolicy\nmetadata: {{name: {name}}}\nspec:\n  state: {state}\n  conditions:\n    users: {{includeUsers: [All], excludeGroups: [6b0e2c43-9b1f-4f0e-8a51-0f1d7f4b1c2a]}}\n    applications: {{includeApplications: [All]}}\n{control}  grantControls: {{operator: OR, builtInControls: [{}]}}\n",
        if control.is_empty() { "mfa" } else { "block" }
    )
}

fn legacy() -> String {
    ca(
        "Block legacy authentication",
        "enabled",
        "    clientAppTypes: [exchangeActiveSync, other]\n",
    )
}

fn live(security_defaults: bool, policies: Vec<Value>) -> LiveState {
    LiveState {
        security_defaults: Some(json!({"isEnabled": security_defaults})),
        conditional_access_policies: Some(policies),
        ..LiveState::default()
    }
}

fn steps(yaml: &str, tenant: &LiveState) -> Result<Vec<(String, String, Value)>, PlanError> {
    let out = load_str(yaml);
    let set = out.set.unwrap_or_else(|| panic!("{:?}", out.diagnostics));
    let desired = set.desired(&Resolution::default());
    plan("t", &desired, tenant).map(|p| {
        p.changes
            .into_iter()
            .map(|c| (c.method, c.path, c.body["state"].clone()))
            .collect()
    })
}

#[test]
fn policies_go_in_report_only_then_security_defaults_off_then_mfa_for_all_is_enabled_first() {
    let yaml = format!(
        "{SD_OFF}{}{}",
        legacy(),
        ca("Require MFA for all users", "enabled", "")
    );
    let got = steps(&yaml, &live(true, Vec::new())).unwrap();
    let created =
        |name: &str| format!("{POLICIES_PATH}/{{created:conditionalAccessPolicies/{name}}}");
    let report_only = json!("enabledForReportingButNotEnforced");
    assert_eq!(
        got,
        [
            (
                "POST".to_string(),
                POLICIES_PATH.to_string(),
                report_only.clone()
            ),
            ("POST".into(), POLICIES_PATH.into(), report_only),
            ("PATCH".into(), SECURITY_DEFAULTS_PATH.into(), Value::Null),
            (
                "PATCH".into(),
                created("Require MFA for all users"),
                json!("enabled")
            ),
            (
                "PATCH".into(),
                created("Block legacy authentication"),
                json!("enabled")
            ),
        ]
    );
}

#[test]
fn a_policy_already_in_report_only_is_only_enabled_after_the_switch() {
    let yaml = format!("{SD_OFF}{}", ca("Require MFA for all users", "enabled", ""));
    let staged = json!({
        "id": "p1", "displayName": "Require MFA for all users", "state": "enabledForReportingButNotEnforced",
        "templateId": null,
        "conditions": {"users": {"includeUsers": ["All"], "excludeGroups": ["6b0e2c43-9b1f-4f0e-8a51-0f1d7f4b1c2a"]},
                       "applications": {"includeApplications": ["All"]}},
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}
    });
    let got = steps(&yaml, &live(true, vec![staged])).unwrap();
    assert_eq!(
        got,
        [
            (
                "PATCH".to_string(),
                SECURITY_DEFAULTS_PATH.to_string(),
                Value::Null
            ),
            (
                "PATCH".into(),
                format!("{POLICIES_PATH}/p1"),
                json!("enabled")
            ),
        ]
    );
}

#[test]
fn enabling_a_policy_while_security_defaults_stay_on_is_refused_before_anything_is_sent() {
    let yaml = ca("Require MFA for all users", "enabled", "");
    let refused = steps(yaml.trim_start_matches("---\n"), &live(true, Vec::new()));
    assert!(
        matches!(refused, Err(PlanError::EnabledWhileSecurityDefaultsOn { ref policy }) if policy == "conditionalAccessPolicies/Require MFA for all users"),
        "{refused:?}"
    );
    // With security defaults already off, nothing is staged.
    let got = steps(yaml.trim_start_matches("---\n"), &live(false, Vec::new())).unwrap();
    assert_eq!(
        got,
        [(
            "POST".to_string(),
            POLICIES_PATH.to_string(),
            json!("enabled")
        )]
    );
}
