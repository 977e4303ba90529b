//! Tenant-wide rules: licences, security defaults, managed policies, the 1 rps limit,
//! permissions and state.

use mfactl::emulator::EmulatorConfig;
use mfactl::emulator::generate::WRITER_SECRET;
use mfactl::emulator::state::{Licence, State};
use reqwest::Method;
use serde_json::{Value, json};

use super::{LOCATIONS, POLICIES, STRENGTHS, delete, harness_with, message, patch, policy, post};
use crate::common::{self, Harness, error_code};

#[tokio::test]
async fn licences_decide_what_may_be_written() {
    let free = harness_with(|s| s.tenants[0].licence = Licence::Free).await;
    let w = free.writer_token().await;
    let r = post(&free, POLICIES, &w, policy("p", "disabled")).await;
    assert_eq!(r.status, 403);
    assert!(message(&r).contains("P1"));
    let loc = json!({"@odata.type": "#microsoft.graph.countryNamedLocation", "displayName": "c", "countriesAndRegions": ["NL"]});
    assert_eq!(post(&free, LOCATIONS, &w, loc).await.status, 403);
    assert_eq!(free.get(POLICIES, &w).await.status, 200, "reads still work");
    assert!(
        free.get("/v1.0/subscribedSkus", &w).await.body["value"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let mut risky = policy("Risky sign-ins", "disabled");
    risky["conditions"]["signInRiskLevels"] = json!(["high"]);
    let p1 = Harness::small().await;
    let w = p1.writer_token().await;
    let r = post(&p1, POLICIES, &w, risky.clone()).await;
    assert_eq!(
        message(&r),
        "1039: Cannot create or update policies with premium P2 features. Upgrade to a premium P2 license and try again."
    );
    let p2 = harness_with(|s| s.tenants[0].licence = Licence::P2).await;
    let w = p2.writer_token().await;
    assert_eq!(post(&p2, POLICIES, &w, risky).await.status, 201);
}

#[tokio::test]
async fn security_defaults_and_enabled_policies_exclude_each_other() {
    let h = harness_with(|s| s.tenants[0].security_defaults.is_enabled = true).await;
    let w = h.writer_token().await;
    let r = post(&h, POLICIES, &w, policy("All users", "enabled")).await;
    assert_eq!(
        message(&r),
        "Security Defaults is enabled in the tenant. You must disable Security defaults before enabling a Conditional Access policy."
    );
    let staged = post(
        &h,
        POLICIES,
        &w,
        policy("All users", "enabledForReportingButNotEnforced"),
    )
    .await;
    assert_eq!(staged.status, 201);
    let path = format!("{POLICIES}/{}", staged.body["id"].as_str().unwrap());
    assert_eq!(
        patch(&h, &path, &w, json!({"state": "enabled"}))
            .await
            .status,
        400
    );
    let sd = "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy";
    assert_eq!(
        patch(&h, sd, &w, json!({"isEnabled": false})).await.status,
        204
    );
    assert_eq!(
        patch(&h, &path, &w, json!({"state": "enabled"}))
            .await
            .status,
        204
    );
    let r = patch(&h, sd, &w, json!({"isEnabled": true})).await;
    assert_eq!(r.status, 400);
    assert!(message(&r).contains("Conditional Access policies are enabled"));
    assert_eq!(
        patch(&h, &path, &w, json!({"state": "disabled"}))
            .await
            .status,
        204
    );
    assert_eq!(
        patch(&h, sd, &w, json!({"isEnabled": true})).await.status,
        204
    );
}

#[tokio::test]
async fn microsoft_managed_policies_change_only_state_and_exclusions() {
    let managed = json!({"id": "4200930c-0000-4000-8000-000000000001", "templateId": "4200930c-0da2-4e33-ca01-000000000001",
        "displayName": "Microsoft-managed: Multifactor authentication for admins accessing Microsoft Admin Portals",
        "state": "enabledForReportingButNotEnforced",
        "conditions": {"applications": {"includeApplications": ["MicrosoftAdminPortals"]}, "users": {"includeRoles": ["62e90394-69f5-4237-9190-012177145e10"]}},
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}});
    let seeded = managed.clone();
    let h = harness_with(|s| s.tenants[0].conditional_access.policies.push(seeded)).await;
    let w = h.writer_token().await;
    let path = format!("{POLICIES}/4200930c-0000-4000-8000-000000000001");
    assert_eq!(
        patch(&h, &path, &w, json!({"displayName": "Mine"}))
            .await
            .status,
        400
    );
    assert_eq!(
        patch(&h, &path, &w, json!({"state": "enabled"}))
            .await
            .status,
        204
    );
    let mut excluded = managed["conditions"].clone();
    excluded["users"]["excludeUsers"] = json!(["00000000-1111-4222-8333-444444444444"]);
    assert_eq!(
        patch(&h, &path, &w, json!({"conditions": excluded}))
            .await
            .status,
        204
    );
    let mut retargeted = excluded.clone();
    retargeted["users"]["includeUsers"] = json!(["All"]);
    assert_eq!(
        patch(&h, &path, &w, json!({"conditions": retargeted}))
            .await
            .status,
        400
    );
    assert_eq!(delete(&h, &path, &w).await.status, 400);
    let got = h.get(&path, &w).await.body;
    assert_eq!(
        (got["state"].as_str(), got["templateId"].as_str()),
        (
            Some("enabled"),
            Some("4200930c-0da2-4e33-ca01-000000000001")
        )
    );
    let mut bad = common::state(5);
    let mut untemplated = managed;
    untemplated["templateId"] = Value::Null;
    bad.tenants[0].conditional_access.policies.push(untemplated);
    let r = h
        .call(
            Method::PUT,
            "/_emulator/state",
            None,
            Some(&serde_json::to_value(bad).unwrap()),
        )
        .await;
    assert_eq!(r.status, 400, "a managed policy has a templateId");
}

#[tokio::test]
async fn policies_and_locations_allow_one_request_per_second_per_tenant_without_retry_after() {
    let h = Harness::with(EmulatorConfig::new(common::state(10))).await;
    let (r, w) = (h.reader_token().await, h.writer_token().await);
    assert_eq!(h.get(POLICIES, &r).await.status, 200);
    let second = h.get(LOCATIONS, &w).await;
    assert_eq!(second.status, 429, "the limit is per tenant, across apps");
    assert!(second.headers.get("retry-after").is_none());
    assert_eq!(
        h.get(STRENGTHS, &w).await.status,
        200,
        "strengths are not under this limit"
    );
    let advance = json!({"advanceSeconds": 1.0});
    assert_eq!(
        h.call(Method::POST, "/_emulator/clock", None, Some(&advance))
            .await
            .status,
        204
    );
    let batch = json!({"requests": [
        {"id": "1", "method": "GET", "url": "/identity/conditionalAccess/policies"},
        {"id": "2", "method": "GET", "url": "/identity/conditionalAccess/namedLocations"}]});
    let b = post(&h, "/v1.0/$batch", &w, batch).await;
    let mut statuses: Vec<u64> = b.body["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["status"].as_u64().unwrap())
        .collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 429], "requests inside $batch count too");
    let throttled = b.body["responses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["status"] == json!(429))
        .unwrap();
    assert!(
        throttled["headers"].get("Retry-After").is_none(),
        "{throttled}"
    );
}

#[tokio::test]
async fn permissions_follow_the_documented_scopes() {
    let h = harness_with(|s| {
        let apps = &mut s.tenants[0].apps;
        let mut methods_only = apps[1].clone();
        methods_only.client_id = "0b1b2b3b-0000-4000-8000-000000000001".into();
        methods_only.roles = vec!["Policy.ReadWrite.AuthenticationMethod".into()];
        apps.push(methods_only);
    })
    .await;
    let reader = h.reader_token().await;
    assert_eq!(h.get(POLICIES, &reader).await.status, 200);
    let r = post(&h, POLICIES, &reader, policy("p", "disabled")).await;
    assert_eq!(
        (r.status.as_u16(), error_code(&r)),
        (403, "Authorization_RequestDenied".to_string())
    );
    let methods = h
        .token_for("0b1b2b3b-0000-4000-8000-000000000001", WRITER_SECRET)
        .await;
    let strength = json!({"displayName": "Keys", "allowedCombinations": ["fido2"]});
    assert_eq!(post(&h, STRENGTHS, &methods, strength).await.status, 201);
    assert_eq!(
        post(&h, POLICIES, &methods, policy("p", "disabled"))
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn generated_tenants_carry_licences_and_existing_policies_and_state_round_trips() {
    let state = mfactl::emulator::generate::generate(&mfactl::emulator::generate::GenerateSpec {
        users: 40,
        groups: 6,
        tenants: 3,
        seed: 3,
    });
    let licences: Vec<Licence> = state.tenants.iter().map(|t| t.licence).collect();
    assert_eq!(licences, [Licence::P1, Licence::P1, Licence::P2]);
    let t1 = &state.tenants[1];
    let states: Vec<&str> = t1
        .conditional_access
        .policies
        .iter()
        .filter_map(|p| p["state"].as_str())
        .collect();
    assert!(states.contains(&"enabledForReportingButNotEnforced") && states.contains(&"enabled"));
    let dangling = t1
        .conditional_access
        .policies
        .iter()
        .flat_map(|p| {
            p["conditions"]["users"]["includeGroups"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .any(|g| !t1.groups.iter().any(|x| json!(x.id) == g));
    assert!(dangling, "one policy names a group that no longer exists");
    let demo = mfactl::sandbox::demo_state();
    let d = &demo.tenants[0];
    assert_eq!(
        (
            d.licence,
            d.security_defaults.is_enabled,
            d.conditional_access.policies.len()
        ),
        (Licence::P1, true, 0)
    );
    let h = Harness::start(state).await;
    let w = h.writer_token().await;
    post(&h, POLICIES, &w, policy("Kept", "disabled")).await;
    let saved = h
        .call(Method::GET, "/_emulator/state", None, None)
        .await
        .body;
    assert_eq!(
        h.call(Method::PUT, "/_emulator/state", None, Some(&saved))
            .await
            .status,
        204
    );
    let names: Vec<Value> = h.get(POLICIES, &w).await.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["displayName"].clone())
        .collect();
    assert!(names.contains(&json!("Kept")), "{names:?}");
}

#[tokio::test]
async fn states_the_service_could_not_produce_are_refused_and_seeds_get_server_members() {
    let h = Harness::small().await;
    let mut free = common::state(5);
    free.tenants[0].licence = Licence::Free;
    free.tenants[0]
        .conditional_access
        .policies
        .push(policy("p", "disabled"));
    let mut sd_on = common::state(5);
    sd_on.tenants[0].security_defaults.is_enabled = true;
    sd_on.tenants[0]
        .conditional_access
        .policies
        .push(policy("p", "enabled"));
    let mut bad_strength = common::state(5);
    bad_strength.tenants[0]
        .conditional_access
        .authentication_strengths
        .push(
            json!({"displayName": "Push", "allowedCombinations": ["microsoftAuthenticatorPush"]}),
        );
    for (what, state) in [("free", free), ("sd on", sd_on), ("strength", bad_strength)] {
        let r = put_state(&h, state).await;
        assert_eq!(r.status, 400, "{what}: {}", r.body);
    }
    let mut seeded = common::state(5);
    seeded.tenants[0]
        .conditional_access
        .policies
        .push(policy("Seeded", "disabled"));
    assert_eq!(put_state(&h, seeded).await.status, 204);
    let w = h.writer_token().await;
    let listed = h.get(POLICIES, &w).await.body;
    assert_eq!(listed["value"][0]["displayName"], json!("Seeded"));
    assert!(listed["value"][0]["id"].as_str().unwrap().len() == 36);
    assert!(listed["value"][0]["createdDateTime"].is_string());
}

async fn put_state(h: &Harness, state: State) -> crate::common::Reply {
    let body = serde_json::to_value(state).unwrap();
    h.call(Method::PUT, "/_emulator/state", None, Some(&body))
        .await
}
