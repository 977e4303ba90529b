//! Microsoft-managed Conditional Access policies through the binary (conditional-access FACTS
//! item 31: only their state and excluded identities may change, and they can be neither
//! renamed nor deleted): `validate` refuses a document that changes anything else, a declared
//! state and exclusion are sent as the whole `conditions` object and converge, and pruning
//! never deletes one.

use mfactl::emulator::EmulatorConfig;
use serde_json::{Value, json};

use crate::common::{Project, code, stderr, stdout};

const NAME: &str =
    "Microsoft-managed: Multifactor authentication for admins accessing Microsoft Admin Portals";
const ID: &str = "4200930c-0000-4000-8000-000000000001";

/// The sandbox tenant with security defaults off and one Microsoft-managed policy in
/// report-only, as Microsoft deploys them; the tenant prunes.
async fn project() -> Project {
    let mut state = mfactl::sandbox::demo_state();
    let t = &mut state.tenants[0];
    t.security_defaults.is_enabled = false;
    t.conditional_access.policies.push(json!({
        "id": ID, "templateId": "4200930c-0da2-4e33-ca01-000000000001", "displayName": NAME,
        "state": "enabledForReportingButNotEnforced",
        "conditions": {"applications": {"includeApplications": ["MicrosoftAdminPortals"]},
                       "users": {"includeRoles": ["62e90394-69f5-4237-9190-012177145e10"]}},
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}}));
    let mut config = EmulatorConfig::new(state);
    config.request_log_limit = 100_000;
    Project::start("managed", config, "    prune: true\n").await
}

fn managed_doc(spec: &str) -> String {
    format!(
        "apiVersion: mfactl/v1\nkind: ConditionalAccessPolicy\nmetadata: {{name: \"{NAME}\"}}\nspec:\n{spec}"
    )
}

/// Accepted writes to the Conditional Access policies, in order.
async fn policy_writes(p: &Project) -> Vec<(String, String, Value)> {
    p.log()
        .await
        .into_iter()
        .filter(|e| {
            e["method"] != "GET"
                && e["status"].as_u64().is_some_and(|s| s < 300)
                && e["path"]
                    .as_str()
                    .is_some_and(|p| p.contains("/identity/conditionalAccess/policies"))
        })
        .map(|e| {
            (
                e["method"].as_str().unwrap_or_default().to_string(),
                e["path"].as_str().unwrap_or_default().to_string(),
                e["body"].clone(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_state_and_exclusions_of_a_managed_policy_are_declared_and_it_is_never_pruned() {
    let p = project().await;
    // Anything but the state and the exclusions is refused before anything is read.
    p.policy(
        "managed.yaml",
        &managed_doc(
            "  state: enabled\n  grantControls: {operator: OR, builtInControls: [block]}\n",
        ),
    );
    let refused = p.run(&["validate"]);
    let err = stderr(&refused);
    assert_eq!(code(&refused), 3, "{err}");
    assert!(err.contains("MFA012"), "{err}");
    assert!(err.contains("managed.yaml:6:3"), "{err}");
    assert!(
        err.contains("a Microsoft-managed policy's `grantControls` cannot be changed"),
        "{err}"
    );

    // Its state and an exclusion: one PATCH with the whole `conditions`, the rest kept.
    p.policy(
        "managed.yaml",
        &managed_doc("  state: enabled\n  conditions:\n    users:\n      excludeGroups: [Break Glass Accounts]\n"),
    );
    let apply = p.run(&["apply", "--yes"]);
    assert_eq!(code(&apply), 0, "{}", stderr(&apply));
    let writes = policy_writes(&p).await;
    assert_eq!(writes.len(), 1, "{writes:#?}");
    let (method, path, body) = &writes[0];
    assert_eq!(
        (method.as_str(), path.as_str()),
        (
            "PATCH",
            format!("/v1.0/identity/conditionalAccess/policies/{ID}").as_str()
        )
    );
    assert_eq!(body["state"], "enabled");
    let conditions = &body["conditions"];
    assert_eq!(
        conditions["applications"]["includeApplications"],
        json!(["MicrosoftAdminPortals"])
    );
    assert_eq!(
        conditions["users"]["includeRoles"],
        json!(["62e90394-69f5-4237-9190-012177145e10"])
    );
    assert_eq!(
        conditions["users"]["excludeGroups"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert!(
        body.get("displayName").is_none() && body.get("grantControls").is_none(),
        "{body:#}"
    );
    let again = p.run(&["plan"]);
    assert_eq!(code(&again), 0, "{}", stdout(&again));

    // Undeclared while another policy is, with pruning on: listed as unmanaged, never deleted.
    p.policy(
        "managed.yaml",
        "apiVersion: mfactl/v1\nkind: ConditionalAccessPolicy\nmetadata: {name: Block legacy authentication}\nspec:\n  state: enabled\n  conditions:\n    users: {includeUsers: [All], excludeGroups: [Break Glass Accounts]}\n    applications: {includeApplications: [All]}\n    clientAppTypes: [exchangeActiveSync, other]\n  grantControls: {operator: OR, builtInControls: [block]}\n",
    );
    let plan = p.run(&["plan", "-o", "json"]);
    assert_eq!(code(&plan), 1, "{}", stderr(&plan));
    let plan: Value = serde_json::from_str(&stdout(&plan)).unwrap_or_default();
    assert!(
        plan["changes"]
            .as_array()
            .is_some_and(|c| c.iter().all(|c| c["method"] != "DELETE")),
        "{plan:#}"
    );
    let unmanaged = plan["unmanaged"].as_array().cloned().unwrap_or_default();
    assert!(
        unmanaged
            .iter()
            .any(|u| u["displayName"] == NAME && u["deleted"] == false),
        "{unmanaged:#?}"
    );
    let before = policy_writes(&p).await.len();
    let apply = p.run(&["apply", "--yes"]);
    assert_eq!(code(&apply), 0, "{}", stderr(&apply));
    let writes = policy_writes(&p).await;
    assert_eq!(
        writes.len(),
        before + 1,
        "only the declared policy is created: {writes:#?}"
    );
    assert_eq!(writes[before].0, "POST");
}
