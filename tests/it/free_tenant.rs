//! Tenants without Microsoft Entra ID P1, through the real binary against the emulator: the
//! shipped `baselines/security-defaults/` applies, with the impact simulated from each
//! user's methods read through `$batch` (the registration-details report needs P1); without
//! permission to read those either, the plan says what it could not compute and apply
//! refuses; and Conditional Access is refused before anything is sent. The emulator's
//! `authentication/methods` list is checked against the documented shape first.

use mfactl::emulator::EmulatorConfig;
use mfactl::emulator::generate::{GenerateSpec, generate};
use mfactl::emulator::state::{Licence, State};
use mfactl::emulator::throttle::ThrottleMode;
use serde_json::{Value, json};

use crate::common::{self, Harness, Project, code, stderr, stdout};

const REPORT: &str = "/v1.0/reports/authenticationMethods/userRegistrationDetails";

/// Generated tenant `index` of a small fleet, alone: its starting point comes from the
/// generated mix (3 is free on security defaults, 0 is P1).
fn generated(index: usize) -> State {
    let mut state = generate(&GenerateSpec {
        users: 40,
        groups: 8,
        tenants: 5,
        seed: 21,
    });
    let tenant = state.tenants.remove(index);
    State {
        tenants: vec![tenant],
    }
}

fn free_tenant() -> State {
    let state = generated(3);
    let t = &state.tenants[0];
    assert_eq!(
        (t.licence(), t.premium, t.security_defaults.is_enabled),
        (Licence::Free, false, true),
        "generated tenant 3 is free and on security defaults"
    );
    state
}

/// A project with the shipped security-defaults baseline (and `extra` files) in `policies/`.
async fn project(state: State, extra: &[(&str, &str)]) -> Project {
    let mut config = EmulatorConfig::new(state);
    config.throttle = ThrottleMode::Off;
    let p = Project::start("free-tenant", config, "").await;
    let baseline =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("baselines/security-defaults");
    for entry in std::fs::read_dir(baseline).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, p.path("policies").join(path.file_name().unwrap())).unwrap();
    }
    for (name, text) in extra {
        p.policy(name, text);
    }
    p
}

fn json_plan(o: &std::process::Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

fn path_of(entry: &Value) -> &str {
    entry["path"].as_str().unwrap_or_default()
}

/// The writes in a request log, inside `$batch` or not (a `$batch` POST itself is none).
fn writes(log: &[Value]) -> Vec<String> {
    log.iter()
        .filter(|e| {
            !common::is_token_request(e) && e["method"] != "GET" && !path_of(e).ends_with("/$batch")
        })
        .map(|e| format!("{} {}", e["method"], path_of(e)))
        .collect()
}

#[tokio::test]
async fn the_methods_list_has_the_documented_shape_on_a_free_tenant() {
    let mut state = free_tenant();
    let t = &mut state.tenants[0];
    t.users[0].methods_registered = std::sync::Arc::new(
        [
            "microsoftAuthenticatorPush",
            "mobilePhone",
            "officePhone",
            "hardwareOneTimePasscode",
            "email",
        ]
        .map(String::from)
        .to_vec(),
    );
    let (id, upn) = (
        t.users[0].id.clone(),
        t.users[0].user_principal_name.clone(),
    );
    let h = Harness::start(state).await;
    let reader = h.reader_token().await;
    let report = h.get(REPORT, &reader).await;
    assert_eq!(report.status, 403, "{}", report.body);
    assert_eq!(
        common::error_code(&report),
        "Authentication_RequestFromNonPremiumTenantOrB2CTenant"
    );
    let v1 = h
        .get(&format!("/v1.0/users/{id}/authentication/methods"), &reader)
        .await;
    assert_eq!(v1.status, 200, "{}", v1.body);
    assert_eq!(
        v1.body["@odata.context"],
        format!("https://graph.microsoft.com/v1.0/$metadata#users('{id}')/authentication/methods")
    );
    let listed: Vec<(String, String)> = v1.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["@odata.type"].as_str().unwrap().to_string(),
                m["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let fixed = |ty: &str, id: &str| (format!("#microsoft.graph.{ty}"), id.to_string());
    assert_eq!(
        listed[0],
        fixed(
            "passwordAuthenticationMethod",
            "28c10230-6103-485e-b985-444c60001490"
        )
    );
    for expected in [
        fixed(
            "phoneAuthenticationMethod",
            "3179e48a-750b-4051-897c-87b9720928f7",
        ),
        fixed(
            "phoneAuthenticationMethod",
            "e37fc753-ff3b-4958-9484-eaa9425c82bc",
        ),
        fixed(
            "emailAuthenticationMethod",
            "3ddfcfc8-9383-446f-83cc-3ab9be4be18f",
        ),
    ] {
        assert!(listed.contains(&expected), "{expected:?} in {listed:?}");
    }
    let types: Vec<&str> = listed.iter().map(|(t, _)| t.as_str()).collect();
    assert!(types.contains(&"#microsoft.graph.microsoftAuthenticatorAuthenticationMethod"));
    assert!(
        !types.contains(&"#microsoft.graph.hardwareOathAuthenticationMethod"),
        "hardware OATH is beta only"
    );
    let phones: Vec<&Value> = v1.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["@odata.type"] == "#microsoft.graph.phoneAuthenticationMethod")
        .collect();
    let phone_types: Vec<&str> = phones
        .iter()
        .filter_map(|p| p["phoneType"].as_str())
        .collect();
    assert_eq!(phone_types, ["mobile", "office"]);
    assert!(v1.body["value"][0]["password"].is_null());
    let beta = h
        .get(
            &format!("/beta/users/{upn}/authentication/methods"),
            &reader,
        )
        .await;
    assert_eq!(beta.status, 200, "{}", beta.body);
    assert!(
        beta.body["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["@odata.type"] == "#microsoft.graph.hardwareOathAuthenticationMethod"),
        "{}",
        beta.body
    );
    let missing = h
        .get(
            "/v1.0/users/00000000-0000-4000-8000-000000000000/authentication/methods",
            &reader,
        )
        .await;
    assert_eq!(missing.status, 404);
    let refused = h
        .call(
            reqwest::Method::PATCH,
            &format!("/v1.0/users/{id}/authentication/methods"),
            Some(&reader),
            Some(&json!({})),
        )
        .await;
    assert_eq!(refused.status, 405);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_security_defaults_baseline_applies_with_the_impact_from_each_users_methods() {
    let p = project(free_tenant(), &[]).await;
    let enabled_users = free_tenant().tenants[0]
        .users
        .iter()
        .filter(|u| u.account_enabled)
        .count();
    let o = p.run(&["plan", "-o", "json"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let plan = json_plan(&o);
    let resources: Vec<&str> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["resource"].as_str())
        .collect();
    assert!(
        resources
            .iter()
            .any(|r| r.starts_with("authenticationMethodConfigurations/")),
        "{resources:?}"
    );
    assert!(plan.get("uncomputed").is_none(), "{}", plan["uncomputed"]);
    let impact = &plan["impact"];
    assert_eq!(impact["users"], enabled_users, "{impact}");
    let log = p.log().await;
    let report: Vec<&Value> = log.iter().filter(|e| path_of(e) == REPORT).collect();
    assert!(!report.is_empty() && report.iter().all(|e| e["status"] == 403));
    let methods: Vec<&Value> = log
        .iter()
        .filter(|e| path_of(e).ends_with("/authentication/methods"))
        .collect();
    assert_eq!(methods.len(), enabled_users);
    assert!(
        methods
            .iter()
            .all(|e| e["batchId"].is_string() && e["status"] == 200),
        "every user's methods read inside $batch"
    );

    // The same tenant with P1 reads the report, and the impact is the same.
    let mut premium = free_tenant();
    premium.tenants[0].premium = true;
    premium.tenants[0].licence = Licence::P1;
    let q = project(premium, &[]).await;
    let o = q.run(&["plan", "-o", "json"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert_eq!(json_plan(&o)["impact"], *impact);
    assert!(
        !q.log()
            .await
            .iter()
            .any(|e| path_of(e).ends_with("/authentication/methods"))
    );

    let o = p.run(&["apply", "--yes"]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let o = p.run(&["plan"]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_permission_to_read_methods_the_plan_says_so_and_apply_refuses() {
    let mut state = free_tenant();
    for app in &mut state.tenants[0].apps {
        app.roles
            .retain(|r| !r.starts_with("UserAuthenticationMethod."));
    }
    let p = project(state, &[]).await;
    let o = p.run(&["plan", "-o", "json"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let plan = json_plan(&o);
    assert!(plan.get("impact").is_none(), "{}", plan["impact"]);
    let uncomputed = plan["uncomputed"].as_array().expect("uncomputed");
    assert_eq!(uncomputed.len(), 1, "{uncomputed:?}");
    assert_eq!(uncomputed[0]["what"], "impact");
    let reason = uncomputed[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("UserAuthenticationMethod.Read.All") && reason.contains("P1"),
        "{reason}"
    );
    let o = p.run(&["plan", "-o", "markdown"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("#### Not computed: impact on sign-in prompts"),
        "{}",
        stdout(&o)
    );
    let o = p.run(&["plan"]);
    assert!(stdout(&o).contains("! Not computed: impact on sign-in prompts:"));
    let before = p.log().await.len();
    let enforce = [
        "reconcile",
        "--once",
        "--mode",
        "enforce",
        "--state-dir",
        "state",
    ];
    for args in [&["apply", "--yes"][..], &enforce] {
        let o = p.run(args);
        assert_eq!(code(&o), 7, "{args:?}: {}{}", stdout(&o), stderr(&o));
        assert!(
            stderr(&o).contains("could not be computed"),
            "{}",
            stderr(&o)
        );
    }
    let log = p.log().await;
    assert_eq!(writes(&log[before..]), Vec::<String>::new());
}

const CONDITIONAL_ACCESS: &str = "apiVersion: mfactl/v1
kind: ConditionalAccessPolicy
metadata:
  name: Require MFA for all users
spec:
  state: enabledForReportingButNotEnforced
  conditions:
    users:
      includeUsers: [All]
    applications:
      includeApplications: [All]
  grantControls:
    operator: OR
    builtInControls: [mfa]
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_access_without_p1_is_refused_before_anything_is_sent() {
    let p = project(free_tenant(), &[("ca.yaml", CONDITIONAL_ACCESS)]).await;
    for args in [&["plan"][..], &["apply", "--yes"]] {
        let o = p.run(args);
        assert_eq!(code(&o), 3, "{args:?}: {}{}", stdout(&o), stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains("no Microsoft Entra ID P1")
                && err.contains("ConditionalAccessPolicy")
                && err.contains("baselines/security-defaults/"),
            "{err}"
        );
    }
    let log = p.log().await;
    let graph: Vec<&str> = log
        .iter()
        .filter(|e| !common::is_token_request(e))
        .map(path_of)
        .collect();
    assert_eq!(graph, ["/v1.0/subscribedSkus", "/v1.0/subscribedSkus"]);
    assert_eq!(writes(&log), Vec::<String>::new());

    // A P1 tenant gets past the check with the same files; the shipped baseline alone never
    // reads the subscriptions.
    let q = project(generated(0), &[("ca.yaml", CONDITIONAL_ACCESS)]).await;
    let o = q.run(&["plan"]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    let r = project(free_tenant(), &[]).await;
    let o = r.run(&["plan"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(
        !r.log()
            .await
            .iter()
            .any(|e| path_of(e).contains("subscribedSkus"))
    );
}
