//! Users, groups, transitive membership, and the beta per-user authentication settings.

use std::collections::HashSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{self, Harness, error_code};

/// Follows `@odata.nextLink` verbatim until it is absent; returns every item and the page count.
async fn all_pages(h: &Harness, first: &str, token: &str) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut pages = 0;
    let mut next = Some(h.url(first));
    while let Some(url) = next {
        let resp = h.http.get(&url).bearer_auth(token).send().await.unwrap();
        let r = common::reply(resp).await;
        assert_eq!(r.status, 200, "{url}: {}", r.body);
        pages += 1;
        items.extend(r.body["value"].as_array().unwrap().iter().cloned());
        next = r.body["@odata.nextLink"].as_str().map(String::from);
    }
    (items, pages)
}

#[tokio::test]
async fn users_page_through_next_links_without_gaps_or_repeats() {
    let h = Harness::start(common::state(250)).await;
    let token = h.reader_token().await;
    let (items, pages) = all_pages(
        &h,
        "/v1.0/users?$top=60&$select=id,userPrincipalName",
        &token,
    )
    .await;
    assert_eq!(pages, 5);
    assert_eq!(items.len(), 250);
    let ids: HashSet<&str> = items.iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 250);
    assert!(
        items.iter().all(|u| u.as_object().unwrap().len() == 2),
        "$select kept across pages"
    );
    let (default_paged, pages) = all_pages(&h, "/v1.0/users", &token).await;
    assert_eq!(
        (default_paged.len(), pages),
        (250, 3),
        "default page size is 100"
    );
}

#[tokio::test]
async fn paging_options_graph_refuses() {
    let h = Harness::small().await;
    let token = h.reader_token().await;
    for q in [
        "$top=1000",
        "$top=0",
        "$top=x",
        "$skip=10",
        "$skiptoken=bogus",
        "$count=true",
    ] {
        let r = h.get(&format!("/v1.0/users?{q}"), &token).await;
        assert_eq!(r.status, 400, "{q}");
        error_code(&r);
    }
    let r = h
        .http
        .get(h.url("/v1.0/users?$count=true&$top=5"))
        .bearer_auth(&token)
        .header("ConsistencyLevel", "eventual")
        .send()
        .await
        .unwrap();
    let r = common::reply(r).await;
    assert_eq!(r.body["@odata.count"], json!(30));
}

#[tokio::test]
async fn users_are_found_by_id_or_upn_case_insensitively() {
    let h = Harness::small().await;
    let token = h.reader_token().await;
    let (id, upn) = {
        let w = h.emu.core.world();
        let u = &w.tenants[0].tenant.users[3];
        (u.id.clone(), u.user_principal_name.clone())
    };
    assert_eq!(
        h.get(&format!("/v1.0/users/{id}"), &token).await.body["userPrincipalName"],
        json!(upn)
    );
    assert_eq!(
        h.get(&format!("/v1.0/users/{}", upn.to_uppercase()), &token)
            .await
            .body["id"],
        json!(id)
    );
    let filtered = h
        .get(
            &format!("/v1.0/users?$filter=userPrincipalName eq '{upn}'"),
            &token,
        )
        .await;
    assert_eq!(filtered.body["value"].as_array().unwrap().len(), 1);
    let missing = h.get("/v1.0/users/nobody@example.test", &token).await;
    assert_eq!(missing.status, 404);
    assert_eq!(error_code(&missing), "Request_ResourceNotFound");
}

#[tokio::test]
async fn groups_resolve_by_display_name() {
    let h = Harness::small().await;
    let token = h.reader_token().await;
    let r = h
        .get(
            "/v1.0/groups?$filter=displayName eq 'break glass accounts'",
            &token,
        )
        .await;
    let v = r.body["value"].as_array().unwrap();
    assert_eq!(v.len(), 1, "displayName eq is case-insensitive");
    assert_eq!(v[0]["displayName"], json!("Break Glass Accounts"));
    let id = v[0]["id"].as_str().unwrap();
    assert_eq!(
        h.get(&format!("/v1.0/groups/{id}"), &token).await.body["id"],
        json!(id)
    );
    let none = h
        .get(
            "/v1.0/groups?$filter=displayName eq 'No Such Group'",
            &token,
        )
        .await;
    assert_eq!(none.body["value"], json!([]));
    let bad = h.get("/v1.0/groups?$filter=mail eq 'x'", &token).await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn transitive_members_expand_nested_groups_and_page() {
    let h = Harness::start(common::state(400)).await;
    let token = h.reader_token().await;
    let (engineering, platform, platform_members, direct_members) = {
        let w = h.emu.core.world();
        let t = &w.tenants[0].tenant;
        let eng = t
            .groups
            .iter()
            .find(|g| g.display_name == "Engineering")
            .unwrap();
        let plat = t
            .groups
            .iter()
            .find(|g| g.display_name == "Platform Team")
            .unwrap();
        (
            eng.id.clone(),
            plat.id.clone(),
            plat.members.clone(),
            eng.members.clone(),
        )
    };
    assert!(direct_members.contains(&platform));
    let direct = h
        .get(
            &format!("/v1.0/groups/{engineering}/members?$top=999"),
            &token,
        )
        .await;
    let direct_ids: HashSet<String> = direct.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(direct_ids.len(), direct_members.len());
    let (items, pages) = all_pages(
        &h,
        &format!("/v1.0/groups/{engineering}/transitiveMembers?$top=7"),
        &token,
    )
    .await;
    assert!(pages > 1);
    let ids: HashSet<String> = items
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), items.len(), "no member listed twice");
    assert!(ids.contains(&platform), "the nested group itself is listed");
    for m in &platform_members {
        assert!(ids.contains(m), "nested member {m} missing");
    }
    let types: HashSet<&str> = items
        .iter()
        .map(|m| m["@odata.type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        HashSet::from(["#microsoft.graph.user", "#microsoft.graph.group"])
    );
}

#[tokio::test]
async fn sign_in_preferences_and_requirements_are_beta_only_and_writable() {
    let h = Harness::small().await;
    let token = h.writer_token().await;
    let (id, phone_only) = {
        let w = h.emu.core.world();
        let t = &w.tenants[0].tenant;
        let push = t
            .users
            .iter()
            .find(|u| {
                u.methods_registered
                    .iter()
                    .any(|m| m == "microsoftAuthenticatorPush")
            })
            .unwrap();
        let phone = t
            .users
            .iter()
            .find(|u| {
                u.methods_registered.iter().all(|m| m == "mobilePhone")
                    && !u.methods_registered.is_empty()
            })
            .unwrap();
        (push.id.clone(), phone.id.clone())
    };
    let prefs = format!("/users/{id}/authentication/signInPreferences");
    let reqs = format!("/users/{id}/authentication/requirements");
    assert_eq!(h.get(&format!("/v1.0{prefs}"), &token).await.status, 400);
    assert_eq!(h.get(&format!("/v1.0{reqs}"), &token).await.status, 400);

    let r = h.patch(&format!("/beta{prefs}"), &token, &json!({"userPreferredMethodForSecondaryAuthentication": "push", "isSystemPreferredAuthenticationMethodEnabled": true})).await;
    assert_eq!(r.status, 204);
    let r = h.get(&format!("/beta{prefs}"), &token).await;
    assert_eq!(
        r.body,
        json!({"isSystemPreferredAuthenticationMethodEnabled": true, "userPreferredMethodForSecondaryAuthentication": "push"})
    );
    for bad in [
        json!({"userPreferredMethodForSecondaryAuthentication": "none"}),
        json!({"userPreferredMethodForSecondaryAuthentication": "email"}),
        json!({"favouriteColour": "blue"}),
    ] {
        assert_eq!(
            h.patch(&format!("/beta{prefs}"), &token, &bad).await.status,
            400,
            "{bad}"
        );
    }
    let r = h
        .patch(
            &format!("/beta/users/{phone_only}/authentication/signInPreferences"),
            &token,
            &json!({"userPreferredMethodForSecondaryAuthentication": "push"}),
        )
        .await;
    assert_eq!(r.status, 400, "push needs the Authenticator registered");

    assert_eq!(
        h.patch(
            &format!("/beta{reqs}"),
            &token,
            &json!({"perUserMfaState": "enforced"})
        )
        .await
        .status,
        204
    );
    assert_eq!(
        h.get(&format!("/beta{reqs}"), &token).await.body,
        json!({"perUserMfaState": "enforced"})
    );
    assert_eq!(
        h.patch(
            &format!("/beta{reqs}"),
            &token,
            &json!({"perUserMfaState": "on"})
        )
        .await
        .status,
        400
    );
    assert_eq!(
        h.patch(
            &format!("/beta{reqs}"),
            &token,
            &json!({"perUserMfaState": "unknownFutureValue"})
        )
        .await
        .status,
        400
    );
    assert_eq!(
        h.get(&format!("/beta{reqs}"), &token).await.body,
        json!({"perUserMfaState": "enforced"})
    );

    let me = h
        .call(
            Method::GET,
            "/beta/me/authentication/requirements",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(me.status, 400, "/me needs a delegated token");

    let reader = h.reader_token().await;
    assert_eq!(
        h.patch(
            &format!("/beta{reqs}"),
            &reader,
            &json!({"perUserMfaState": "disabled"})
        )
        .await
        .status,
        403
    );
}
