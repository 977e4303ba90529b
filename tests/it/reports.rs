//! userRegistrationDetails: paging, filters, and the system-preferred method each user gets.

use std::collections::HashSet;
use std::sync::Arc;

use mfactl::emulator::state::{Group, State, User};
use serde_json::{Value, json};

use crate::common::{self, Harness, error_code};

const REPORT: &str = "/reports/authenticationMethods/userRegistrationDetails";

fn user(n: usize, methods: &[&str]) -> User {
    User {
        id: format!("00000000-0000-4000-8000-{n:012}"),
        user_principal_name: format!("user{n}@contoso.test"),
        display_name: format!("User {n}"),
        user_type: "member".into(),
        account_enabled: true,
        is_admin: false,
        methods_registered: Arc::new(methods.iter().map(|m| m.to_string()).collect()),
        per_user_mfa_state: "disabled".into(),
        sign_in_preferences: Default::default(),
        is_sspr_enabled: false,
        last_updated_date_time: "2026-01-01T00:00:00Z".into(),
    }
}

fn set_config(state: &mut State, id: &str, patch: Value) {
    let policy = &mut state.tenants[0].authentication_methods_policy;
    let c = policy["authenticationMethodConfigurations"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|c| c["id"] == json!(id))
        .unwrap();
    for (k, v) in patch.as_object().unwrap() {
        c[k.as_str()] = v.clone();
    }
}

/// Every built-in method on for everyone.
fn everything_enabled(users: Vec<User>) -> State {
    let mut state = common::state(0);
    state.tenants[0].users = users;
    for id in [
        "Fido2",
        "MicrosoftAuthenticator",
        "Sms",
        "Voice",
        "TemporaryAccessPass",
        "SoftwareOath",
        "HardwareOath",
        "X509Certificate",
    ] {
        set_config(&mut state, id, json!({"state": "enabled"}));
    }
    set_config(&mut state, "Voice", json!({"isOfficePhoneAllowed": true}));
    state
}

async fn rows(h: &Harness, version: &str, query: &str) -> Vec<Value> {
    let token = h.reader_token().await;
    let r = h.get(&format!("/{version}{REPORT}{query}"), &token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["value"].as_array().unwrap().clone()
}

fn preferred_of(rows: &[Value], n: usize) -> Value {
    rows.iter()
        .find(|r| r["userPrincipalName"] == json!(format!("user{n}@contoso.test")))
        .map(|r| r["systemPreferredAuthenticationMethods"].clone())
        .unwrap_or_else(|| panic!("user{n} missing"))
}

#[tokio::test]
async fn system_preferred_method_follows_the_published_order() {
    let cases: &[(&[&str], &[&str])] = &[
        (
            &[
                "temporaryAccessPass",
                "passKeyDeviceBound",
                "microsoftAuthenticatorPush",
            ],
            &["temporaryAccessPass"],
        ),
        (
            &["passKeySynced", "microsoftAuthenticatorPush", "mobilePhone"],
            &["fido2"],
        ),
        (&["fido2SecurityKey"], &["fido2"]),
        (
            &["windowsHelloForBusiness", "mobilePhone"],
            &["windowsHelloForBusiness"],
        ),
        (
            &[
                "microsoftAuthenticatorPush",
                "certificateBasedAuthentication",
            ],
            &["x509Certificate"],
        ),
        (
            &[
                "mobilePhone",
                "softwareOneTimePasscode",
                "microsoftAuthenticatorPush",
            ],
            &["push"],
        ),
        (&["mobilePhone", "softwareOneTimePasscode"], &["oath"]),
        (&["hardwareOneTimePasscode", "officePhone"], &["oath"]),
        (&["mobilePhone", "alternateMobilePhone"], &["sms"]),
        (&["alternateMobilePhone"], &["voiceAlternateMobile"]),
        (&["officePhone"], &["voiceOffice"]),
        (&["email"], &[]),
        (&[], &[]),
    ];
    let users = cases
        .iter()
        .enumerate()
        .map(|(n, (m, _))| user(n, m))
        .collect();
    let h = Harness::start(everything_enabled(users)).await;
    let rows = rows(&h, "v1.0", "").await;
    for (n, (methods, expected)) in cases.iter().enumerate() {
        assert_eq!(preferred_of(&rows, n), json!(expected), "{methods:?}");
    }
    let email_only = rows
        .iter()
        .find(|r| r["methodsRegistered"] == json!(["email"]))
        .unwrap();
    assert_eq!(email_only["isMfaRegistered"], json!(false));
    assert_eq!(email_only["isMfaCapable"], json!(false));
}

#[tokio::test]
async fn disabled_and_excluded_methods_are_skipped() {
    let mut state = everything_enabled(vec![
        user(0, &["mobilePhone"]),
        user(1, &["passKeySynced", "microsoftAuthenticatorPush"]),
        user(2, &["passKeySynced", "microsoftAuthenticatorPush"]),
        user(3, &["officePhone"]),
    ]);
    set_config(&mut state, "Sms", json!({"state": "disabled"}));
    set_config(&mut state, "Voice", json!({"isOfficePhoneAllowed": false}));
    let group = "9e000000-0000-4000-8000-000000000001";
    state.tenants[0].groups.push(Group {
        id: group.into(),
        display_name: "No passkeys".into(),
        members: vec![user(1, &[]).id],
    });
    set_config(
        &mut state,
        "Fido2",
        json!({"excludeTargets": [{"id": group, "targetType": "group"}]}),
    );
    let h = Harness::start(state).await;
    let rows = rows(&h, "v1.0", "").await;
    assert_eq!(
        preferred_of(&rows, 0),
        json!(["voiceMobile"]),
        "SMS off: voice takes the phone"
    );
    assert_eq!(
        preferred_of(&rows, 1),
        json!(["push"]),
        "excluded from passkeys"
    );
    assert_eq!(preferred_of(&rows, 2), json!(["fido2"]));
    // Office phone needs isOfficePhoneAllowed; this user has nothing else.
    assert_eq!(preferred_of(&rows, 3), json!([]));
}

#[tokio::test]
async fn system_preferred_enablement_honours_state_include_and_exclude() {
    let mut state = common::state(0);
    state.tenants[0].users = vec![user(0, &["mobilePhone"]), user(1, &["mobilePhone"])];
    let excluded = "9e000000-0000-4000-8000-000000000002";
    state.tenants[0].groups.push(Group {
        id: excluded.into(),
        display_name: "Break glass".into(),
        members: vec![user(1, &[]).id],
    });
    for (scp_state, expect) in [
        ("enabled", [true, false]),
        ("default", [true, false]),
        ("disabled", [false, false]),
    ] {
        state.tenants[0].authentication_methods_policy["systemCredentialPreferences"] = json!({
            "state": scp_state,
            "includeTargets": [{"id": "all_users", "targetType": "group"}],
            "excludeTargets": [{"id": excluded, "targetType": "group"}],
        });
        let h = Harness::start(state.clone()).await;
        let rows = rows(&h, "v1.0", "?$orderby=userPrincipalName").await;
        let got: Vec<Value> = rows
            .iter()
            .map(|r| r["isSystemPreferredAuthenticationMethodEnabled"].clone())
            .collect();
        assert_eq!(
            got,
            vec![json!(expect[0]), json!(expect[1])],
            "state {scp_state}"
        );
    }
}

#[tokio::test]
async fn report_pages_and_filters_like_graph() {
    let mut state = common::state(2_300);
    // Disabled accounts are not in the report.
    let disabled = state.tenants[0]
        .users
        .iter()
        .filter(|u| !u.account_enabled)
        .count();
    assert!(disabled > 0);
    state.tenants[0].users[0].user_principal_name = "O'Brien.Test@contoso.test".into();
    state.tenants[0].users[0].account_enabled = true;
    let disabled = state.tenants[0]
        .users
        .iter()
        .filter(|u| !u.account_enabled)
        .count();
    let expected = 2_300 - disabled;
    let h = Harness::start(state).await;
    let token = h.reader_token().await;
    let mut seen = HashSet::new();
    let mut next = Some(h.url(&format!("/beta{REPORT}")));
    let mut pages = 0;
    while let Some(url) = next {
        let r = common::reply(h.http.get(&url).bearer_auth(&token).send().await.unwrap()).await;
        pages += 1;
        for row in r.body["value"].as_array().unwrap() {
            assert!(seen.insert(row["id"].as_str().unwrap().to_string()));
            assert!(
                row.get("defaultMfaMethod").is_some(),
                "beta adds defaultMfaMethod"
            );
        }
        next = r.body["@odata.nextLink"].as_str().map(String::from);
    }
    assert_eq!(seen.len(), expected);
    assert_eq!(pages, expected.div_ceil(1000));
    let v1 = rows(&h, "v1.0", "?$top=3").await;
    assert!(
        v1.iter().all(|r| r.get("defaultMfaMethod").is_none()),
        "v1.0 has no defaultMfaMethod"
    );

    let one = rows(
        &h,
        "v1.0",
        "?$filter=userPrincipalName eq 'o''brien.test@CONTOSO.test'",
    )
    .await;
    assert_eq!(one.len(), 1);
    let starts = rows(
        &h,
        "v1.0",
        "?$filter=startswith(userPrincipalName,'o''brien')",
    )
    .await;
    assert_eq!(starts.len(), 1);
    let phones = rows(
        &h,
        "v1.0",
        "?$filter=methodsRegistered/any(x:x eq 'mobilePhone')&$top=1000",
    )
    .await;
    assert!(!phones.is_empty());
    assert!(phones.iter().all(|r| {
        r["methodsRegistered"]
            .as_array()
            .unwrap()
            .contains(&json!("mobilePhone"))
    }));
    let capable = rows(&h, "v1.0", "?$filter=isMfaCapable eq false&$top=1000").await;
    assert!(capable.iter().all(|r| r["isMfaCapable"] == json!(false)));
    let push = rows(
        &h,
        "v1.0",
        "?$filter=systemPreferredAuthenticationMethods/any(x:x eq 'push')&$top=1000",
    )
    .await;
    assert!(!push.is_empty());
    assert!(
        push.iter()
            .all(|r| r["systemPreferredAuthenticationMethods"] == json!(["push"]))
    );
    for bad in [
        "?$filter=city eq 'x'",
        "?$top=1001",
        "?$orderby=isAdmin",
        "?$skip=5",
    ] {
        let r = h.get(&format!("/v1.0{REPORT}{bad}"), &token).await;
        assert_eq!(r.status, 400, "{bad}");
        error_code(&r);
    }
}

#[tokio::test]
async fn report_needs_a_premium_tenant() {
    let mut state = common::state(3);
    state.tenants[0].premium = false;
    let h = Harness::start(state).await;
    let token = h.reader_token().await;
    let r = h.get(&format!("/v1.0{REPORT}"), &token).await;
    assert_eq!(r.status, 403);
    assert_eq!(
        error_code(&r),
        "Authentication_RequestFromNonPremiumTenantOrB2CTenant"
    );
}
