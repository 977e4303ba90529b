//! Policies and named locations: documented shapes, schema, PATCH, soft delete, 1040.

use mfactl::emulator::state::Licence;
use reqwest::Method;
use serde_json::{Value, json};

use super::{
    LOCATIONS, POLICIES, assert_covers, delete, fixture, harness_with, message, patch, policy, post,
};
use crate::common::Harness;

#[tokio::test]
async fn documented_requests_are_accepted_and_answered_in_the_documented_shape() {
    let h = Harness::small().await;
    let w = h.writer_token().await;
    for (req, resp) in [
        (
            "conditionalAccessPolicy.post.v1.request.json",
            "conditionalAccessPolicy.post.v1.response.json",
        ),
        (
            "conditionalAccessPolicy.post.v1.example4.request.json",
            "conditionalAccessPolicy.post.v1.example4.response.json",
        ),
    ] {
        let r = post(&h, POLICIES, &w, fixture(req)).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let documented = fixture(resp);
        assert_covers(&documented, &r.body, req);
        assert_ne!(r.body["id"], documented["id"], "the server picks the id");
        assert!(r.body["createdDateTime"].as_str().unwrap().ends_with('Z'));
        assert_eq!(r.body["templateId"], Value::Null);
        assert!(r.body["grantControls"]["authenticationStrength"].is_null());
        let id = r.body["id"].as_str().unwrap();
        let got = h.get(&format!("{POLICIES}/{id}"), &w).await;
        assert_eq!(got.status, 200);
        assert_covers(&documented, &got.body, resp);
        let beta = h
            .get(
                &format!("/beta/identity/conditionalAccess/policies/{id}"),
                &w,
            )
            .await;
        assert!(
            beta.body.get("templateId").is_none(),
            "beta has no templateId: {}",
            beta.body
        );
    }
    let list = h.get(POLICIES, &w).await;
    assert_eq!(
        list.body["@odata.context"],
        json!("https://graph.microsoft.com/v1.0/$metadata#identity/conditionalAccess/policies")
    );
    assert_eq!(list.body["value"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn bodies_that_do_not_fit_the_schema_are_1007_and_server_members_are_read_only() {
    let h = Harness::small().await;
    let w = h.writer_token().await;
    let mut unknown = policy("p", "disabled");
    unknown["conditions"]["users"]["includeUser"] = json!(["All"]);
    let mut bad_state = policy("p", "disabled");
    bad_state["state"] = json!("on");
    let mut no_conditions = policy("p", "disabled");
    no_conditions.as_object_mut().unwrap().remove("conditions");
    for body in [unknown, bad_state, no_conditions] {
        let r = post(&h, POLICIES, &w, body).await;
        assert_eq!(r.status, 400);
        assert!(message(&r).starts_with("1007: Incoming ConditionalAccessPolicy object is null"));
    }
    for (k, v) in [
        ("id", json!("x")),
        ("createdDateTime", json!("2025-01-01T00:00:00Z")),
        ("templateId", json!("t")),
    ] {
        let mut body = policy("p", "disabled");
        body[k] = v;
        let r = post(&h, POLICIES, &w, body).await;
        assert_eq!(r.status, 400, "{k}");
        assert!(message(&r).contains(k));
    }
    assert!(
        h.get(POLICIES, &w).await.body["value"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn patch_merges_top_level_properties_and_replaces_nested_objects_whole() {
    let h = Harness::small().await;
    let w = h.writer_token().await;
    let mut body = policy("Pilot", "disabled");
    body["conditions"]["clientAppTypes"] = json!(["browser"]);
    let id = post(&h, POLICIES, &w, body).await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("{POLICIES}/{id}");
    let r = patch(&h, &path, &w, json!({"displayName": "Pilot 2"})).await;
    assert_eq!(r.status, 204);
    let got = h.get(&path, &w).await.body;
    assert_eq!(got["displayName"], json!("Pilot 2"));
    assert_eq!(
        got["conditions"]["clientAppTypes"],
        json!(["browser"]),
        "untouched members stay"
    );
    assert!(got["modifiedDateTime"].is_string());
    let r = patch(
        &h,
        &path,
        &w,
        json!({"conditions": {"users": {"includeGroups": ["g"]}}}),
    )
    .await;
    assert_eq!(r.status, 204);
    let c = &h.get(&path, &w).await.body["conditions"];
    assert_eq!(
        c["clientAppTypes"],
        json!(["all"]),
        "a nested object replaces the stored one whole"
    );
    assert!(c["applications"].is_null());
    assert_eq!(c["users"]["includeUsers"], json!([]));
    assert_eq!(c["times"], Value::Null, "undeclared members are served");
}

#[tokio::test]
async fn delete_moves_a_policy_to_deleted_items() {
    let h = Harness::small().await;
    let w = h.writer_token().await;
    let id = post(&h, POLICIES, &w, policy("Old", "disabled")).await.body["id"].clone();
    let path = format!("{POLICIES}/{}", id.as_str().unwrap());
    assert_eq!(delete(&h, &path, &w).await.status, 204);
    assert_eq!(h.get(&path, &w).await.status, 404);
    let deleted = h
        .get("/v1.0/identity/conditionalAccess/deletedItems/policies", &w)
        .await
        .body;
    assert_eq!(deleted["value"][0]["id"], id);
    assert!(deleted["value"][0]["deletedDateTime"].is_string());
    let restore = |id: &Value| {
        let path = format!(
            "/v1.0/identity/conditionalAccess/deletedItems/policies/{}/restore",
            id.as_str().unwrap()
        );
        let token = w.clone();
        let h = &h;
        async move { h.call(Method::POST, &path, Some(&token), None).await }
    };
    let restored = restore(&id).await;
    assert_eq!(restored.status, 200, "{}", restored.body);
    assert!(restored.body.get("deletedDateTime").is_none());
    assert_eq!(h.get(&path, &w).await.status, 200);
    // Restoring re-applies the rules: an enabled policy cannot come back while security
    // defaults are on.
    let enabled = post(&h, POLICIES, &w, policy("Enforced", "enabled"))
        .await
        .body["id"]
        .clone();
    let enabled_path = format!("{POLICIES}/{}", enabled.as_str().unwrap());
    assert_eq!(delete(&h, &enabled_path, &w).await.status, 204);
    let sd = json!({"isEnabled": true});
    let r = patch(
        &h,
        "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy",
        &w,
        sd,
    )
    .await;
    assert_eq!(r.status, 204);
    let refused = restore(&enabled).await;
    assert!(message(&refused).starts_with("Security Defaults is enabled in the tenant."));
}

#[tokio::test]
async fn named_locations_are_checked_typed_and_soft_deleted() {
    let h = Harness::small().await;
    let w = h.writer_token().await;
    let missing = "11111111-2222-3333-4444-555555555555";
    let mut p = policy("Outside office", "disabled");
    p["conditions"]["locations"] =
        json!({"includeLocations": ["All"], "excludeLocations": [missing]});
    let r = post(&h, POLICIES, &w, p.clone()).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        message(&r),
        format!("1040: NamedLocation with id {missing} does not exist in the directory.")
    );
    let ip = json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "Office", "isTrusted": true,
                    "ipRanges": [{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "12.34.221.11/22"}]});
    let mut untyped = ip.clone();
    untyped.as_object_mut().unwrap().remove("@odata.type");
    assert_eq!(post(&h, LOCATIONS, &w, untyped).await.status, 400);
    let mut bad_range = ip.clone();
    bad_range["ipRanges"][0]["cidrAddress"] = json!("12.34.221.11/40");
    assert_eq!(post(&h, LOCATIONS, &w, bad_range).await.status, 400);
    let created = post(&h, LOCATIONS, &w, ip).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(
        created.body["@odata.type"],
        json!("#microsoft.graph.ipNamedLocation")
    );
    let loc = created.body["id"].as_str().unwrap().to_string();
    let country = json!({"@odata.type": "#microsoft.graph.countryNamedLocation", "displayName": "Allowed countries", "countriesAndRegions": ["NL", "FR"]});
    let c = post(&h, LOCATIONS, &w, country).await;
    assert_eq!(
        (
            c.status.as_u16(),
            &c.body["includeUnknownCountriesAndRegions"]
        ),
        (201, &json!(false))
    );
    p["conditions"]["locations"]["excludeLocations"] =
        json!([loc, "AllTrusted", "00000000-0000-0000-0000-000000000000"]);
    let pid = post(&h, POLICIES, &w, p).await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let lpath = format!("{LOCATIONS}/{loc}");
    assert_eq!(
        patch(&h, &lpath, &w, json!({"displayName": "HQ"}))
            .await
            .status,
        400,
        "PATCH needs @odata.type"
    );
    let typed = json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "HQ"});
    assert_eq!(patch(&h, &lpath, &w, typed).await.status, 204);
    assert_eq!(h.get(&lpath, &w).await.body["displayName"], json!("HQ"));
    assert_eq!(
        delete(&h, &lpath, &w).await.status,
        400,
        "a policy still names it"
    );
    delete(&h, &format!("{POLICIES}/{pid}"), &w).await;
    assert_eq!(delete(&h, &lpath, &w).await.status, 204);
    let deleted = h
        .get(
            "/v1.0/identity/conditionalAccess/deletedItems/namedLocations",
            &w,
        )
        .await
        .body;
    assert_eq!(deleted["value"][0]["id"], json!(loc));
    let restore =
        format!("/v1.0/identity/conditionalAccess/deletedItems/namedLocations/{loc}/restore");
    let r = h.call(Method::POST, &restore, Some(&w), None).await;
    assert_eq!(
        (r.status.as_u16(), &r.body["displayName"]),
        (200, &json!("HQ"))
    );
    assert_eq!(h.get(&lpath, &w).await.status, 200);
}

#[tokio::test]
async fn guest_forms_and_password_change_follow_the_documented_combination_rules() {
    let h = harness_with(|s| s.tenants[0].licence = Licence::P2).await;
    let w = h.writer_token().await;
    let mut guests = policy("Guests", "disabled");
    guests["conditions"]["users"] = json!({"includeUsers": ["GuestsOrExternalUsers"],
        "includeGuestsOrExternalUsers": {"guestOrExternalUserTypes": "internalGuest", "externalTenants": null}});
    let r = post(&h, POLICIES, &w, guests).await;
    assert_eq!(
        message(&r),
        "'GuestsOrExternalUsers' cannot be combined with guestOrExternalUsers"
    );
    let mut change = policy("Risky users change password", "disabled");
    change["conditions"]["userRiskLevels"] = json!(["high"]);
    change["grantControls"] =
        json!({"operator": "OR", "builtInControls": ["mfa", "passwordChange"]});
    assert_eq!(post(&h, POLICIES, &w, change.clone()).await.status, 400);
    change["grantControls"]["operator"] = json!("AND");
    let r = post(&h, POLICIES, &w, change).await;
    assert_eq!(r.status, 201, "{}", r.body);
}
