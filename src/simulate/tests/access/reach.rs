//! How much a policy reaches (all resources or some; every sign-in or some) and what it
//! grants with (MFA, a strength, a block, or another way through).

use super::*;
use crate::simulate::requirement::{Grant, Reach};
use crate::simulate::strength::Satisfaction;

#[test]
fn applications_conditions_and_grant_decide_full_partial_or_conditional() {
    use Effect::{Blocks, Conditional, Partial, Requires};
    let apps = "/conditions/applications";
    let grant = "/grantControls";
    let exo = json!(["00000002-0000-0ff1-ce00-000000000000"]);
    #[rustfmt::skip]
    let cases: Vec<(&str, Changes, Option<Effect>)> = vec![
        ("All resources, no condition", vec![], Some(Requires)),
        ("Office365 only", vec![(format!("{apps}/includeApplications"), json!(["Office365"]))], Some(Partial)),
        ("one application", vec![(format!("{apps}/includeApplications"), exo.clone())], Some(Partial)),
        ("All minus an application", vec![(format!("{apps}/excludeApplications"), exo.clone())], Some(Partial)),
        ("All minus Office365", vec![(format!("{apps}/excludeApplications"), json!(["Office365"]))], Some(Partial)),
        ("All with an application filter", vec![(format!("{apps}/applicationFilter"), json!({"mode": "include", "rule": "CustomSecurityAttribute.x -eq \"y\""}))], Some(Partial)),
        ("registering security info only", vec![(format!("{apps}/includeApplications"), json!([])), (format!("{apps}/includeUserActions"), json!(["urn:user:registersecurityinfo"]))], Some(Partial)),
        ("an authentication context only", vec![(format!("{apps}/includeApplications"), json!([])), (format!("{apps}/includeAuthenticationContextClassReferences"), json!(["c1"]))], Some(Partial)),
        ("no resource at all", vec![(format!("{apps}/includeApplications"), json!([]))], None),
        ("None", vec![(format!("{apps}/includeApplications"), json!(["None"]))], None),
        ("clientAppTypes absent", vec![("/conditions/clientAppTypes".into(), Value::Null)], Some(Requires)),
        ("clientAppTypes empty", vec![("/conditions/clientAppTypes".into(), json!([]))], Some(Requires)),
        ("clientAppTypes modern clients only", vec![("/conditions/clientAppTypes".into(), json!(["browser", "mobileAppsAndDesktopClients"]))], Some(Conditional)),
        ("clientAppTypes legacy only", vec![("/conditions/clientAppTypes".into(), json!(["exchangeActiveSync", "other"]))], Some(Conditional)),
        ("every platform", vec![("/conditions/platforms".into(), json!({"includePlatforms": ["all"], "excludePlatforms": []}))], Some(Requires)),
        ("one platform", vec![("/conditions/platforms".into(), json!({"includePlatforms": ["android"], "excludePlatforms": []}))], Some(Conditional)),
        ("every platform but one", vec![("/conditions/platforms".into(), json!({"includePlatforms": ["all"], "excludePlatforms": ["iOS"]}))], Some(Conditional)),
        ("every location", vec![("/conditions/locations".into(), json!({"includeLocations": ["All"], "excludeLocations": []}))], Some(Requires)),
        ("untrusted locations", vec![("/conditions/locations".into(), json!({"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]}))], Some(Conditional)),
        ("sign-in risk", vec![("/conditions/signInRiskLevels".into(), json!(["high", "medium"]))], Some(Conditional)),
        ("user risk", vec![("/conditions/userRiskLevels".into(), json!(["high"]))], Some(Conditional)),
        ("a device filter", vec![("/conditions/devices".into(), json!({"deviceFilter": {"mode": "exclude", "rule": "device.isCompliant -eq True"}}))], Some(Conditional)),
        ("a device member left null", vec![("/conditions/devices".into(), json!({"deviceFilter": null}))], Some(Requires)),
        ("device code flow", vec![("/conditions/authenticationFlows".into(), json!({"transferMethods": "deviceCodeFlow"}))], Some(Conditional)),
        ("extra members of the response, unset", vec![("/conditions/times".into(), Value::Null), ("/conditions/clients".into(), Value::Null), ("/conditions/insiderRiskLevels".into(), Value::Null)], Some(Requires)),
        ("mfa OR a compliant device", vec![(format!("{grant}/builtInControls"), json!(["mfa", "compliantDevice"]))], Some(Conditional)),
        ("mfa AND a compliant device", vec![(format!("{grant}/builtInControls"), json!(["mfa", "compliantDevice"])), (format!("{grant}/operator"), json!("AND"))], Some(Requires)),
        ("mfa OR terms of use", vec![(format!("{grant}/termsOfUse"), json!(["6f7e5a3c-0000-4000-8000-000000000001"]))], Some(Conditional)),
        ("a compliant device only", vec![(format!("{grant}/builtInControls"), json!(["compliantDevice"]))], None),
        ("no grant controls", vec![(grant.into(), Value::Null)], None),
        ("block", vec![(format!("{grant}/builtInControls"), json!(["block"]))], Some(Blocks)),
        ("block legacy clients", vec![(format!("{grant}/builtInControls"), json!(["block"])), ("/conditions/clientAppTypes".into(), json!(["exchangeActiveSync", "other"]))], Some(Conditional)),
        ("block one application", vec![(format!("{grant}/builtInControls"), json!(["block"])), (format!("{apps}/includeApplications"), exo.clone())], Some(Partial)),
        ("a strength", vec![(format!("{grant}/builtInControls"), json!([])), (format!("{grant}/authenticationStrength"), json!({"id": PASSWORDLESS_STRENGTH}))], Some(Requires)),
        ("a strength and a narrowing condition", vec![(format!("{grant}/authenticationStrength"), json!({"id": PASSWORDLESS_STRENGTH})), ("/conditions/userRiskLevels".into(), json!(["high"]))], Some(Conditional)),
    ];
    for (what, changes, expected) in cases {
        let policy = changed(require_mfa("All users"), &changes);
        assert_eq!(effect_of(policy, &member(ADA)), expected, "{what}");
    }
}

#[test]
fn partial_and_conditional_policies_are_listed_but_are_no_requirement_and_no_block() {
    let apps = "/conditions/applications";
    let policies = AccessPolicies::new(
        false,
        &[
            with(
                require_mfa("Exchange only"),
                &format!("{apps}/includeApplications"),
                json!(["Office365"]),
            ),
            changed(
                require_mfa("Block legacy authentication"),
                &[
                    ("/grantControls/builtInControls", json!(["block"])),
                    (
                        "/conditions/clientAppTypes",
                        json!(["exchangeActiveSync", "other"]),
                    ),
                ],
            ),
        ],
        &strengths(),
    );
    let r = policies.requirement(&member(ADA));
    assert!(!r.requires_mfa() && !r.is_blocked());
    assert_eq!(
        r.with(true, Effect::Partial)
            .map(|m| m.policy)
            .collect::<Vec<_>>(),
        [0]
    );
    assert_eq!(
        r.with(true, Effect::Conditional)
            .map(|m| m.policy)
            .collect::<Vec<_>>(),
        [1]
    );
    assert_eq!(r.matches[1].grant, Grant::Block);
    assert_eq!(
        policies.policies()[1].display_name(),
        "Block legacy authentication"
    );
}

#[test]
fn the_saved_doc_policies_read_as_the_docs_describe_them() {
    // "Access to EXO requires MFA": one group, one application, modern clients, untrusted
    // locations: conditional for the group's members, nothing for others.
    let exo: Value = serde_json::from_str(EXO_POLICY).expect("saved policy parses");
    let group = [0xba8e7ded_8b0f_4836_ba06_8ff1ecc5c8ba];
    let policies = AccessPolicies::new(false, &[exo], &strengths());
    assert_eq!(
        policies.policies()[0].id(),
        "7359d0e0-d8a9-4afa-8a93-e23e099d7be8"
    );
    assert_eq!(policies.groups(), group);
    let r = policies.requirement(&User {
        groups: &group,
        ..member(ADA)
    });
    assert_eq!(r.matches.len(), 1);
    assert_eq!(
        (r.matches[0].enforced, r.matches[0].reach),
        (true, Reach::Conditional)
    );
    assert!(!r.requires_mfa());
    assert!(policies.requirement(&member(BOB)).matches.is_empty());

    // The what-if result: report-only, an authentication context for all users, the
    // strength inline as GET returns it. Read with no strength list, the inline one serves.
    let what_if: Value = serde_json::from_str(WHAT_IF).expect("saved what-if result parses");
    let policy = what_if["value"][0].clone();
    let policies = AccessPolicies::new(false, &[policy], &[]);
    assert_eq!(
        policies.strength(0).map(|s| s.display_name()),
        Some("Multifactor authentication")
    );
    let r = policies.requirement(&registered(&["mobilePhone"]));
    assert_eq!(r.matches.len(), 1);
    let m = r.matches[0];
    assert_eq!(
        (m.enforced, m.reach, m.grant),
        (false, Reach::Partial, Grant::Mfa(Satisfaction::Satisfied))
    );
    assert!(!r.requires_mfa() && r.with(false, Effect::Partial).count() == 1);
}
