//! The move from security defaults to Conditional Access through the binary, against a P1
//! tenant on security defaults that throttles like Graph: the order of the writes read from
//! the emulator's request log, the window measured, the tenant in sync afterwards, the
//! rollback when the enable fails, the refusal when security defaults would stay on, named
//! locations created, listed as unmanaged and pruned, and a custom authentication strength
//! created and its combinations changed through `updateAllowedCombinations`.

use mfactl::emulator::EmulatorConfig;
use mfactl::emulator::throttle::ThrottleMode;
use serde_json::{Value, json};

use crate::common::{Project, code, stderr, stdout};

pub(crate) const SD_OFF: &str = "apiVersion: mfactl/v1
kind: SecurityDefaults
metadata: {name: security-defaults}
spec:
  enabled: false
";

pub(crate) const MFA_FOR_ALL: &str = "apiVersion: mfactl/v1
kind: ConditionalAccessPolicy
metadata: {name: Require MFA for all users}
spec:
  state: enabled
  conditions:
    users:
      includeUsers: [All]
      excludeGroups: [Break Glass Accounts]
    applications:
      includeApplications: [All]
  grantControls:
    operator: OR
    builtInControls: [mfa]
";

const BLOCK_LEGACY: &str = "apiVersion: mfactl/v1
kind: ConditionalAccessPolicy
metadata: {name: Block legacy authentication}
spec:
  state: enabled
  conditions:
    users:
      includeUsers: [All]
      excludeGroups: [Break Glass Accounts]
    applications:
      includeApplications: [All]
    clientAppTypes: [exchangeActiveSync, other]
  grantControls:
    operator: OR
    builtInControls: [block]
";

const OFFICE: &str = "apiVersion: mfactl/v1
kind: NamedLocation
metadata: {name: Office}
spec:
  ipRanges: [203.0.113.0/24]
  isTrusted: true
";

/// The sandbox tenant (P1, security defaults on, no policy), throttled like Graph.
pub(crate) async fn project(tenant_extra: &str) -> Project {
    let mut config = EmulatorConfig::new(mfactl::sandbox::demo_state());
    config.throttle = ThrottleMode::Graph;
    config.request_log_limit = 100_000;
    Project::start("migration", config, tenant_extra).await
}

/// Moves the emulator's throttling clock past the one-a-second window, as the time between
/// two runs of the binary would: each process paces its own requests, and cannot know
/// about the previous one's.
async fn next_second(p: &Project) {
    let r =
        p.h.call(
            reqwest::Method::POST,
            "/_emulator/clock",
            None,
            Some(&json!({"advanceSeconds": 1.5})),
        )
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);
}

/// The writes the emulator accepted, in order: method, path, and the `state` or `isEnabled`
/// they sent.
pub(crate) async fn writes(p: &Project) -> Vec<(String, String, Value)> {
    p.log()
        .await
        .into_iter()
        .filter(|e| {
            let method = e["method"].as_str().unwrap_or_default();
            let path = e["path"].as_str().unwrap_or_default();
            let accepted = e["status"].as_u64().is_some_and(|s| s < 300);
            accepted
                && method != "GET"
                && !crate::common::is_token_request(e)
                && !path.ends_with("$batch")
        })
        .map(|e| {
            let body = &e["body"];
            let value = if body["state"].is_null() {
                body["isEnabled"].clone()
            } else {
                body["state"].clone()
            };
            (
                e["method"].as_str().unwrap_or_default().to_string(),
                e["path"].as_str().unwrap_or_default().to_string(),
                value,
            )
        })
        .collect()
}

pub(crate) async fn security_defaults(p: &Project) -> Value {
    let token = p.h.reader_token().await;
    p.h.get(
        "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy",
        &token,
    )
    .await
    .body["isEnabled"]
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_defaults_go_off_between_report_only_and_enabled_policies() {
    let p = project("").await;
    p.policy("security-defaults.yaml", SD_OFF);
    p.policy("mfa.yaml", MFA_FOR_ALL);
    p.policy("legacy.yaml", BLOCK_LEGACY);
    p.policy("office.yaml", OFFICE);

    let plan = p.run(&["plan", "-o", "json"]);
    assert_eq!(code(&plan), 1, "{}", stderr(&plan));
    let json: Value = serde_json::from_str(&stdout(&plan)).unwrap();
    let methods: Vec<&str> = json["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["method"].as_str().unwrap())
        .collect();
    assert_eq!(methods, ["POST", "POST", "POST", "PATCH", "PATCH", "PATCH"]);

    next_second(&p).await;
    let before_apply = p.log().await.len();
    let apply = p.run(&["apply", "--yes"]);
    let err = stderr(&apply);
    assert_eq!(code(&apply), 0, "{}\n{err}", stdout(&apply));
    assert!(
        err.contains("security defaults were off")
            && err.contains("before the first Conditional Access policy was enabled"),
        "{err}"
    );
    let w = writes(&p).await;
    let policies = "/v1.0/identity/conditionalAccess/policies";
    let report_only = json!("enabledForReportingButNotEnforced");
    assert_eq!(w.len(), 6, "{w:?}");
    assert_eq!(
        (w[0].0.as_str(), w[0].1.as_str()),
        ("POST", "/v1.0/identity/conditionalAccess/namedLocations")
    );
    assert_eq!(
        (w[1].0.as_str(), w[1].1.as_str(), &w[1].2),
        ("POST", policies, &report_only)
    );
    assert_eq!(
        (w[2].0.as_str(), w[2].1.as_str(), &w[2].2),
        ("POST", policies, &report_only)
    );
    assert_eq!(
        (w[3].0.as_str(), w[3].1.as_str(), &w[3].2),
        (
            "PATCH",
            "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy",
            &json!(false)
        )
    );
    for enable in &w[4..] {
        assert_eq!(enable.0, "PATCH");
        assert!(
            enable.1.starts_with(&format!("{policies}/")) && !enable.1.contains('{'),
            "{enable:?}"
        );
        assert_eq!(enable.2, json!("enabled"));
    }
    // Paced below the one-a-second limit: the service refused none of apply's requests.
    let refused: Vec<Value> = p
        .log()
        .await
        .into_iter()
        .skip(before_apply)
        .filter(|e| e["status"] == 429)
        .collect();
    assert!(refused.is_empty(), "{refused:?}");
    assert_eq!(security_defaults(&p).await, json!(false));

    let again = p.run(&["plan"]);
    assert_eq!(code(&again), 0, "{}\n{}", stdout(&again), stderr(&again));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_enable_turns_security_defaults_back_on_and_exits_6() {
    let p = project("").await;
    p.policy("security-defaults.yaml", SD_OFF);
    p.policy("mfa.yaml", MFA_FOR_ALL);
    p.h.add_fault(json!({"method": "PATCH", "pathPrefix": "/v1.0/identity/conditionalAccess/policies/", "count": 1, "kind": "status", "status": 500}))
        .await;
    let apply = p.run(&["apply", "--yes"]);
    let err = stderr(&apply);
    assert_eq!(code(&apply), 6, "{err}");
    assert!(
        err.contains("security defaults were turned back on"),
        "{err}"
    );
    assert_eq!(security_defaults(&p).await, json!(true));
    let audit = p.read("audit.jsonl");
    assert!(
        audit.lines().any(|l| l.contains("\"rolledBack\"")),
        "{audit}"
    );
    // The policy stays in report-only, and the next run converges from there.
    let retry = p.run(&["apply", "--yes"]);
    assert_eq!(code(&retry), 0, "{}", stderr(&retry));
    assert_eq!(security_defaults(&p).await, json!(false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enabling_a_policy_while_security_defaults_stay_on_is_refused_before_any_write() {
    let p = project("").await;
    p.policy("mfa.yaml", MFA_FOR_ALL);
    let plan = p.run(&["plan"]);
    let err = stderr(&plan);
    assert_eq!(code(&plan), 3, "{err}");
    assert!(err.contains("security defaults stay on"), "{err}");
    assert!(writes(&p).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undeclared_named_locations_are_listed_and_pruned_only_when_asked() {
    for prune in [false, true] {
        let p = project(if prune { "    prune: true\n" } else { "" }).await;
        p.policy("office.yaml", OFFICE);
        p.run(&["apply", "--yes"]);
        // Another location appears in the tenant, written by someone else.
        next_second(&p).await;
        let token = p.h.writer_token().await;
        let r = p
            .h
            .call(
                reqwest::Method::POST,
                "/v1.0/identity/conditionalAccess/namedLocations",
                Some(&token),
                Some(&json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "Old VPN", "ipRanges": [{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "198.51.100.0/24"}]})),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        let plan = p.run(&["plan"]);
        let out = stdout(&plan);
        assert!(out.contains("namedLocations/Old VPN"), "{out}");
        if prune {
            assert_eq!(code(&plan), 1, "{out}");
            assert!(
                out.contains("deleted by this plan") && out.contains("restorable for 30 days"),
                "{out}"
            );
            let apply = p.run(&["apply", "--yes"]);
            assert_eq!(code(&apply), 0, "{}", stderr(&apply));
            let after = p.run(&["plan"]);
            assert_eq!(code(&after), 0, "{}", stdout(&after));
        } else {
            assert_eq!(code(&plan), 0, "unmanaged is not drift: {out}");
            assert!(out.contains("left as they are"), "{out}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_strength_is_created_and_its_combinations_changed_through_the_action() {
    let p = project("").await;
    let strength = |combinations: &str| {
        format!(
            "apiVersion: mfactl/v1\nkind: AuthenticationStrength\nmetadata: {{name: Registration}}\nspec:\n  allowedCombinations: [{combinations}]\n"
        )
    };
    p.policy("strength.yaml", &strength("fido2, \"password, sms\""));
    let created = p.run(&["apply", "--yes"]);
    assert_eq!(code(&created), 0, "{}", stderr(&created));
    let synced = p.run(&["plan"]);
    assert_eq!(
        code(&synced),
        0,
        "spacing is not drift: {}",
        stdout(&synced)
    );
    p.policy("strength.yaml", &strength("fido2, windowsHelloForBusiness"));
    let changed = p.run(&["apply", "--yes"]);
    assert_eq!(code(&changed), 0, "{}", stderr(&changed));
    let w = writes(&p).await;
    let action: Vec<&(String, String, Value)> = w
        .iter()
        .filter(|(_, path, _)| path.ends_with("/updateAllowedCombinations"))
        .collect();
    assert_eq!(action.len(), 1, "{w:?}");
    assert!(
        !w.iter()
            .any(|(m, path, _)| m == "PATCH" && path.contains("authenticationStrengthPolicies")),
        "combinations are never PATCHed: {w:?}"
    );
    let after = p.run(&["plan"]);
    assert_eq!(code(&after), 0, "{}", stdout(&after));
}
