//! Authentication strengths, templates, role templates, role holders and licences.

use mfactl::emulator::state::{Licence, RoleAssignment};
use reqwest::Method;
use serde_json::{Value, json};

use super::{
    MFA_STRENGTH, POLICIES, STRENGTHS, delete, fixture, harness_with, message, patch, policy, post,
};
use crate::common::Harness;

#[tokio::test]
async fn built_in_strengths_are_served_as_documented_and_cannot_change() {
    let h = Harness::small().await;
    let w = h.writer_token().await;
    assert_eq!(
        h.get(STRENGTHS, &w).await.body,
        fixture("authenticationStrengthPolicies.list.v1.response.json")
    );
    let alias = h
        .get(
            "/beta/identity/conditionalAccess/authenticationStrength/policies",
            &w,
        )
        .await;
    assert_eq!(alias.body["value"].as_array().unwrap().len(), 3);
    let path = format!("{STRENGTHS}/{MFA_STRENGTH}");
    assert_eq!(
        patch(&h, &path, &w, json!({"displayName": "x"}))
            .await
            .status,
        400
    );
    assert_eq!(delete(&h, &path, &w).await.status, 400);
    assert_eq!(
        h.get(&path, &w).await.body["displayName"],
        json!("Multifactor authentication")
    );
}

#[tokio::test]
async fn custom_strengths_normalise_combinations_and_guard_their_policies() {
    let h = Harness::small().await;
    let w = h.writer_token().await;
    let created = post(
        &h,
        STRENGTHS,
        &w,
        fixture("authenticationStrengthPolicy.post.v1.request.json"),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["policyType"], json!("custom"));
    assert_eq!(
        created.body["allowedCombinations"],
        json!(["password,hardwareOath", "password,sms"])
    );
    let id = created.body["id"].as_str().unwrap().to_string();
    let invalid =
        json!({"displayName": "Push only", "allowedCombinations": ["microsoftAuthenticatorPush"]});
    let r = post(&h, STRENGTHS, &w, invalid).await;
    assert_eq!(
        message(&r),
        "Invalid authentication method mode combination(s): microsoftAuthenticatorPush"
    );
    let path = format!("/v1.0/identity/conditionalAccess/authenticationStrength/policies/{id}");
    let r = patch(&h, &path, &w, json!({"allowedCombinations": ["fido2"]})).await;
    assert!(message(&r).starts_with("You cannot update the allowed auth method combinations"));
    assert_eq!(
        patch(&h, &path, &w, json!({"description": "d"}))
            .await
            .status,
        204
    );
    let mut p = policy("Strong", "disabled");
    p["grantControls"] =
        json!({"operator": "OR", "builtInControls": [], "authenticationStrength": {"id": id}});
    let pr = post(&h, POLICIES, &w, p.clone()).await;
    assert_eq!(pr.status, 201, "{}", pr.body);
    let g = &pr.body["grantControls"];
    assert_eq!(
        g["authenticationStrength"]["description"],
        json!("d"),
        "the whole strength is served"
    );
    assert!(
        g["authenticationStrength@odata.context"]
            .as_str()
            .unwrap()
            .contains("/grantControls/authenticationStrength/$entity")
    );
    p["grantControls"]["authenticationStrength"]["id"] =
        json!("99999999-0000-0000-0000-000000000000");
    assert_eq!(post(&h, POLICIES, &w, p).await.status, 400);
    let r = post(
        &h,
        &format!("{path}/updateAllowedCombinations"),
        &w,
        json!({"allowedCombinations": ["fido2", "password, voice"]}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["previousCombinations"],
        json!(["password,hardwareOath", "password,sms"])
    );
    assert_eq!(
        r.body["currentCombinations"],
        json!(["fido2", "password,voice"])
    );
    assert_eq!(
        r.body["conditionalAccessReferences"],
        json!([pr.body["id"]])
    );
    assert!(
        r.body["additionalInformation"]
            .as_str()
            .unwrap()
            .contains("lowered the security")
    );
    assert_eq!(
        delete(&h, &path, &w).await.status,
        400,
        "a policy requires it"
    );
}

#[tokio::test]
async fn templates_role_templates_role_holders_and_licences_are_readable() {
    let h = harness_with(|s| {
        let t = &mut s.tenants[0];
        t.role_assignments.clear();
        for (user, role) in [
            (0, "62e90394-69f5-4237-9190-012177145e10"),
            (1, "194ae4cb-b126-40b2-bd5b-6091b380977d"),
        ] {
            let principal_id = t.users[user].id.clone();
            t.role_assignments.push(RoleAssignment {
                id: String::new(),
                principal_id,
                role_definition_id: role.into(),
            });
        }
    })
    .await;
    let r = h.reader_token().await;
    let templates = h
        .get("/v1.0/identity/conditionalAccess/templates", &r)
        .await;
    assert_eq!(
        templates.body["value"][0]["id"],
        json!("c7503427-338e-4c5e-902d-abe252abfb43")
    );
    assert_eq!(
        h.get("/beta/identity/conditionalAccess/templates", &r)
            .await
            .status,
        400
    );
    let roles = h.get("/v1.0/directoryRoleTemplates", &r).await.body;
    assert_eq!(roles["value"].as_array().unwrap().len(), 14);
    let ga = h
        .get(
            "/v1.0/directoryRoleTemplates/62e90394-69f5-4237-9190-012177145e10",
            &r,
        )
        .await;
    assert_eq!(ga.body["displayName"], json!("Global Administrator"));
    let holders = h.get("/v1.0/roleManagement/directory/roleAssignments?$filter=roleDefinitionId eq '62e90394-69f5-4237-9190-012177145e10'", &r).await;
    assert_eq!(holders.status, 200, "{}", holders.body);
    let state = h
        .call(Method::GET, "/_emulator/state", None, None)
        .await
        .body;
    let principals: Vec<&Value> = holders.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["principalId"])
        .collect();
    assert_eq!(
        principals,
        [&state["tenants"][0]["users"][0]["id"]],
        "only the Global Administrator"
    );
    let plans = |body: &Value| -> Vec<String> {
        body["value"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| {
                s["servicePlans"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p["servicePlanName"].as_str().unwrap().to_string())
            })
            .collect()
    };
    assert_eq!(
        plans(&h.get("/v1.0/subscribedSkus", &r).await.body),
        ["AAD_PREMIUM"]
    );
    let p2 = harness_with(|s| s.tenants[0].licence = Licence::P2).await;
    let t = p2.reader_token().await;
    assert!(
        plans(&p2.get("/v1.0/subscribedSkus", &t).await.body)
            .contains(&"AAD_PREMIUM_P2".to_string())
    );
}
