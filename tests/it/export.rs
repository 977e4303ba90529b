//! `mfactl export` through the real binary against the emulator: what it writes validates,
//! plans in sync against the same tenant, names groups only when the name is unique, and
//! nothing is written when a file exists or a read fails.

use std::path::Path;

use mfactl::emulator::EmulatorConfig;
use mfactl::emulator::generate::{GenerateSpec, generate};
use mfactl::emulator::state::{Group, State};
use mfactl::emulator::throttle::ThrottleMode;
use serde_json::{Value, json};

use crate::common::{Project, code, stderr, stdout};

const EXTERNAL_ID: &str = "FDA55161-0D73-48EC-B29F-D29689E3D1B6";

/// A project beside an emulator that does not throttle.
async fn project(state: State) -> Project {
    let mut config = EmulatorConfig::new(state);
    config.throttle = ThrottleMode::Off;
    Project::start("export", config, "").await
}

impl Project {
    /// export into `out`, then validate and plan it: both exit 0, validate with no error.
    fn round_trip(&self, out: &str, extra: &[&str]) -> String {
        let mut args = vec!["export", "--dir", out];
        args.extend_from_slice(extra);
        let o = self.run(&args);
        assert_eq!(code(&o), 0, "export: {}", stderr(&o));
        let v = self.run(&["validate", "--policies", out]);
        assert_eq!(code(&v), 0, "validate: {}", stderr(&v));
        assert!(!stderr(&v).contains("error["), "{}", stderr(&v));
        let p = self.run(&["plan", "--policies", out, "-o", "json"]);
        assert_eq!(code(&p), 0, "plan: {}\n{}", stdout(&p), stderr(&p));
        let plan: Value = serde_json::from_slice(&p.stdout).unwrap();
        assert_eq!(plan["inSync"], json!(true), "{plan}");
        stderr(&o)
    }
}

/// The `spec` of the document in `text` (a file with one document).
fn spec(text: &str) -> Value {
    let doc: Value = serde_yaml::from_str(text).unwrap();
    doc["spec"].clone()
}

fn generated(seed: u64) -> State {
    generate(&GenerateSpec {
        users: 60,
        groups: 6,
        tenants: 1,
        seed,
    })
}

fn group_id(state: &State, name: &str) -> String {
    state.tenants[0]
        .groups
        .iter()
        .find(|g| g.display_name == name)
        .unwrap_or_else(|| panic!("no group {name}"))
        .id
        .clone()
}

fn config<'a>(state: &'a mut State, id: &str) -> &'a mut Value {
    state.tenants[0].authentication_methods_policy["authenticationMethodConfigurations"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no configuration {id}"))
}

/// A generated tenant whose policy uses group targets by id, an exclude, a user target and
/// an external method.
fn customised(seed: u64) -> (State, String, String) {
    let mut state = generated(seed);
    let pilot = group_id(&state, "MFA Pilot");
    let glass = group_id(&state, "Break Glass Accounts");
    let user = state.tenants[0].users[3].clone();
    let policy = &mut state.tenants[0].authentication_methods_policy;
    policy["systemCredentialPreferences"] = json!({
        "state": "enabled",
        "includeTargets": [{"id": "all_users", "targetType": "group"}],
        "excludeTargets": [{"id": glass.to_uppercase(), "targetType": "group"}]
    });
    config(&mut state, "Fido2")["includeTargets"] = json!([
        {"id": pilot, "targetType": "group", "isRegistrationRequired": false, "allowedPasskeyProfiles": []},
        {"id": user.id, "targetType": "user", "isRegistrationRequired": true, "allowedPasskeyProfiles": []}
    ]);
    config(&mut state, "Fido2")["isAttestationEnforced"] = json!(true);
    let ma = config(&mut state, "MicrosoftAuthenticator");
    ma["excludeTargets"] = json!([{"id": glass, "targetType": "group"}]);
    ma["includeTargets"] = json!([{"id": pilot, "targetType": "group", "isRegistrationRequired": false, "authenticationMode": "push"}]);
    ma["featureSettings"]["displayLocationInformationRequiredState"] = json!({
        "state": "enabled",
        "includeTarget": {"id": pilot, "targetType": "group"},
        "excludeTarget": {"id": "00000000-0000-0000-0000-000000000000", "targetType": "group"}
    });
    config(&mut state, "Sms")["state"] = json!("enabled");
    state.tenants[0].authentication_methods_policy["authenticationMethodConfigurations"]
        .as_array_mut()
        .unwrap()
        .push(json!({
            "@odata.type": "#microsoft.graph.externalAuthenticationMethodConfiguration",
            "id": EXTERNAL_ID,
            "displayName": "Adatum",
            "appId": "73f7c26a-7a24-4408-adfa-ff1ff19b5c10",
            "state": "enabled",
            "openIdConnectSetting": {
                "clientId": "966c7a17-8cb9-47a6-8504-c1e50b05f21d",
                "discoveryUrl": "https://adatum.com/.well-known/openid-configuration"
            },
            "excludeTargets": [],
            "includeTargets": [{"id": pilot, "targetType": "group", "isRegistrationRequired": false}]
        }));
    (state, pilot, user.user_principal_name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_tenant_round_trips_and_each_file_says_what_it_is() {
    let p = project(mfactl::sandbox::demo_state()).await;
    let err = p.round_trip("out", &[]);
    assert!(err.contains("not exported"), "{err}");
    for file in ["authentication-methods.yaml", "security-defaults.yaml"] {
        let text = p.read(&format!("out/{file}"));
        let first = text.lines().next().unwrap();
        assert!(
            first.starts_with(&format!("# Exported from tenant test ({}) at ", p.h.tenant))
                && first.contains(&format!("by mfactl {}", env!("CARGO_PKG_VERSION"))),
            "{first}"
        );
        assert!(
            text.contains("Only what is written here is managed"),
            "{text}"
        );
    }
    let methods = spec(&p.read("out/authentication-methods.yaml"));
    for k in [
        "id",
        "policyVersion",
        "lastModifiedDateTime",
        "displayName",
        "description",
    ] {
        assert!(methods.get(k).is_none(), "{k}");
    }
    assert_eq!(methods["methods"]["sms"]["state"], "enabled");
    assert!(methods["methods"]["fido2"].get("id").is_none());
    assert!(methods["methods"]["fido2"].get("keyRestrictions").is_none());
    assert!(
        methods["methods"]["microsoftAuthenticator"]["featureSettings"]
            .get("numberMatchingRequiredState")
            .is_none()
    );
    assert_eq!(
        spec(&p.read("out/security-defaults.yaml")),
        json!({"enabled": true})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_with_the_sandbox_flag_round_trips_against_the_sandbox() {
    let p = project(generated(1)).await;
    let o = p.run(&["export", "--sandbox", "--dir", "sb"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let plan = p.run(&["plan", "--sandbox", "--policies", "sb"]);
    assert_eq!(code(&plan), 0, "{}\n{}", stdout(&plan), stderr(&plan));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_tenants_round_trip() {
    for seed in [1, 2, 3] {
        let p = project(generated(seed)).await;
        p.round_trip("out", &[]);
        assert_eq!(
            spec(&p.read("out/security-defaults.yaml")),
            json!({"enabled": false})
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_user_exclude_and_external_targets_round_trip_by_name() {
    for seed in [4, 5] {
        let (state, _, upn) = customised(seed);
        let p = project(state).await;
        let o = p.run(&["export", "--dir", "first"]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        // Reads only: the policy and security defaults once each, then one `$batch` for the
        // groups and users by id and one for the display names.
        let log = p.h.graph_requests().await;
        let count = |method: &str, path: &str| {
            log.iter()
                .filter(|e| e["method"] == method && e["path"] == path)
                .count()
        };
        assert_eq!(
            count("GET", "/beta/policies/authenticationMethodsPolicy"),
            1
        );
        assert_eq!(
            count(
                "GET",
                "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy"
            ),
            1
        );
        assert_eq!(count("POST", "/v1.0/$batch"), 2, "{log:#?}");
        assert!(
            log.iter()
                .all(|e| e["method"] == "GET" || e["path"] == "/v1.0/$batch")
        );
        p.round_trip("out", &[]);
        let s = spec(&p.read("out/authentication-methods.yaml"));
        assert_eq!(
            s["systemCredentialPreferences"]["excludeTargets"],
            json!([{"group": "Break Glass Accounts"}])
        );
        assert_eq!(
            s["methods"]["fido2"]["includeTargets"],
            json!([
                {"group": "MFA Pilot", "isRegistrationRequired": false, "allowedPasskeyProfiles": []},
                {"user": upn, "isRegistrationRequired": true, "allowedPasskeyProfiles": []}
            ])
        );
        assert!(s["methods"]["fido2"].get("isAttestationEnforced").is_none());
        let ma = &s["methods"]["microsoftAuthenticator"];
        assert_eq!(ma["includeTargets"][0]["authenticationMode"], "push");
        assert_eq!(
            ma["featureSettings"]["displayLocationInformationRequiredState"],
            json!({"state": "enabled", "includeTarget": {"group": "MFA Pilot"}, "excludeTarget": {"group": "00000000-0000-0000-0000-000000000000"}})
        );
        let external = &s["methods"][EXTERNAL_ID.to_ascii_lowercase()];
        assert_eq!(external["state"], "enabled");
        assert_eq!(
            external["includeTargets"],
            json!([{"group": "MFA Pilot", "isRegistrationRequired": false}])
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_changed_declares_only_what_differs_from_a_fresh_tenant() {
    // Untouched: the policy is Microsoft's default, security defaults were turned off.
    let p = project(generated(6)).await;
    let err = p.round_trip("out", &["--only-changed"]);
    assert!(!p.path("out/authentication-methods.yaml").exists(), "{err}");
    let text = p.read("out/security-defaults.yaml");
    assert!(text.contains("--only-changed"), "{text}");
    assert_eq!(spec(&text), json!({"enabled": false}));

    // Changed: exactly the changes are declared, nested objects only where they differ.
    let (state, _, _) = customised(7);
    let p = project(state).await;
    p.round_trip("out", &["--only-changed"]);
    let s = spec(&p.read("out/authentication-methods.yaml"));
    let top: Vec<&String> = s.as_object().unwrap().keys().collect();
    assert_eq!(top, ["systemCredentialPreferences", "methods"]);
    assert_eq!(
        s["systemCredentialPreferences"],
        json!({"state": "enabled", "excludeTargets": [{"group": "Break Glass Accounts"}]})
    );
    let methods: Vec<&String> = s["methods"].as_object().unwrap().keys().collect();
    assert_eq!(
        methods,
        [
            "fido2",
            "microsoftAuthenticator",
            "sms",
            &EXTERNAL_ID.to_ascii_lowercase()
        ]
    );
    assert_eq!(s["methods"]["sms"], json!({"state": "enabled"}));
    assert_eq!(
        s["methods"]["fido2"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["includeTargets"]
    );
    assert_eq!(
        s["methods"]["microsoftAuthenticator"]["featureSettings"],
        json!({"displayLocationInformationRequiredState": {"state": "enabled", "includeTarget": {"group": "MFA Pilot"}}})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_group_name_is_written_as_the_object_id() {
    let (mut state, pilot, _) = customised(8);
    state.tenants[0].groups.push(Group {
        id: "5b9a3f2e-1c4d-4e8f-9a0b-1c2d3e4f5a6b".into(),
        display_name: "MFA Pilot".into(),
        members: Vec::new(),
    });
    let p = project(state).await;
    let err = p.round_trip("out", &[]);
    assert!(err.contains("not unique"), "{err}");
    let s = spec(&p.read("out/authentication-methods.yaml"));
    assert_eq!(
        s["methods"]["fido2"]["includeTargets"][0]["group"],
        json!(pilot.to_ascii_lowercase())
    );
    assert_eq!(
        s["systemCredentialPreferences"]["excludeTargets"],
        json!([{"group": "Break Glass Accounts"}])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_file_is_kept_unless_forced() {
    let p = project(generated(9)).await;
    std::fs::create_dir_all(p.path("out")).unwrap();
    std::fs::write(p.path("out/security-defaults.yaml"), "# mine\n").unwrap();
    let o = p.run(&["export", "--dir", "out"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("security-defaults.yaml"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    assert_eq!(p.read("out/security-defaults.yaml"), "# mine\n");
    assert!(!p.path("out/authentication-methods.yaml").exists());
    assert!(
        p.h.graph_requests().await.is_empty(),
        "refused before any read"
    );
    p.round_trip("out", &["--force"]);
    assert_ne!(p.read("out/security-defaults.yaml"), "# mine\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_read_exits_5_and_writes_nothing() {
    let p = project(generated(10)).await;
    let fault = json!({"method": "GET", "pathPrefix": "/beta/policies/authenticationMethodsPolicy", "count": 10, "kind": "status", "status": 500});
    p.h.add_fault(fault).await;
    let o = p.run(&["export", "--dir", "out"]);
    assert_eq!(code(&o), 5, "{}", stderr(&o));
    assert!(!p.path("out").exists() || std::fs::read_dir(p.path("out")).unwrap().next().is_none());

    // A failed name lookup is an error too, not a name left out.
    let (state, _, _) = customised(11);
    let p = project(state).await;
    let fault = json!({"method": "GET", "pathPrefix": "/v1.0/groups", "count": 1000, "kind": "status", "status": 500});
    p.h.add_fault(fault).await;
    let o = p.run(&["export", "--dir", "out"]);
    assert_eq!(code(&o), 5, "{}", stderr(&o));
    assert!(!Path::new(&p.path("out/authentication-methods.yaml")).exists());
}

/// Every document of a policy file.
fn documents(text: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect()
}

/// The `spec` of the document named `name` in `text`.
fn spec_named(text: &str, name: &str) -> Value {
    documents(text)
        .into_iter()
        .find(|d| d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no document {name} in\n{text}"))["spec"]
        .clone()
}

/// A P1 tenant that already has Conditional Access: generated tenants at index 1 (mod 3)
/// hold four policies (one of them naming a deleted group), and a Microsoft-managed policy
/// with an exclusion is added beside them.
fn tenant_with_policies() -> State {
    let mut state = generate(&GenerateSpec {
        users: 60,
        groups: 6,
        tenants: 2,
        seed: 12,
    });
    state.tenants.remove(0);
    let t = &mut state.tenants[0];
    assert_eq!(
        t.conditional_access.policies.len(),
        4,
        "the seeded policies"
    );
    let glass = t
        .groups
        .iter()
        .find(|g| g.display_name == "Break Glass Accounts")
        .unwrap()
        .id
        .clone();
    t.conditional_access.policies.push(json!({
        "id": "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0", "templateId": "c7503427-338e-4c5e-902d-abe252abfb43",
        "displayName": "Microsoft-managed: Multifactor authentication for admins accessing Microsoft Admin Portals",
        "createdDateTime": "2025-06-02T09:30:00Z", "modifiedDateTime": null,
        "state": "enabledForReportingButNotEnforced",
        "conditions": {"applications": {"includeApplications": ["MicrosoftAdminPortals"]},
                       "users": {"includeRoles": ["62e90394-69f5-4237-9190-012177145e10"], "excludeGroups": [glass]}},
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}
    }));
    state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_access_policies_locations_and_strengths_export_by_name_and_plan_in_sync() {
    let state = tenant_with_policies();
    let user = state.tenants[0].users[5].clone();
    let p = project(state).await;
    let token = p.h.writer_token().await;
    let post = |path: &'static str, body: Value| {
        let token = token.clone();
        let h = &p.h;
        async move {
            let r = h
                .call(reqwest::Method::POST, path, Some(&token), Some(&body))
                .await;
            assert_eq!(r.status, 201, "{}", r.body);
            r.body["id"].as_str().unwrap().to_string()
        }
    };
    let locations = "/v1.0/identity/conditionalAccess/namedLocations";
    let range = |cidr: &str| json!([{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": cidr}]);
    let office = post(locations, json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "Corporate network", "isTrusted": true, "ipRanges": range("203.0.113.0/24")})).await;
    let branch = post(locations, json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "Branch", "ipRanges": range("192.0.2.0/24")})).await;
    post(locations, json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "Branch", "ipRanges": range("198.51.100.0/24")})).await;
    let registration = post(
        "/v1.0/policies/authenticationStrengthPolicies",
        json!({"displayName": "Registration", "description": "A pass to register a key", "allowedCombinations": ["fido2", "temporaryAccessPassOneTime"]}),
    )
    .await;
    post(
        "/v1.0/identity/conditionalAccess/policies",
        json!({"displayName": "Registration from outside", "state": "enabledForReportingButNotEnforced",
               "conditions": {"users": {"includeUsers": [user.id]}, "applications": {"includeApplications": ["All"]},
                              "locations": {"includeLocations": ["All"], "excludeLocations": [office, branch]}},
               "grantControls": {"operator": "OR", "authenticationStrength": {"id": registration}}}),
    )
    .await;

    let err = p.round_trip("out", &[]);
    assert_eq!(
        err.matches("named location 'Branch': 2 share this display name")
            .count(),
        1,
        "{err}"
    );

    let policies = p.read("out/conditional-access-policies.yaml");
    assert!(
        policies.starts_with("# Exported from tenant test"),
        "{policies}"
    );
    assert_eq!(documents(&policies).len(), 6, "{policies}");
    let admins = spec_named(&policies, "Require MFA for administrators");
    let roles = admins["conditions"]["users"]["includeRoles"]
        .as_array()
        .unwrap();
    assert_eq!(roles.len(), 14);
    assert!(roles.contains(&json!("Global Administrator")), "{roles:?}");
    assert_eq!(
        admins["conditions"]["users"]["excludeGroups"],
        json!(["Break Glass Accounts"])
    );
    for k in [
        "id",
        "createdDateTime",
        "modifiedDateTime",
        "templateId",
        "displayName",
    ] {
        assert!(admins.get(k).is_none(), "{k}");
    }
    assert!(admins["conditions"].get("clientAppTypes").is_none());
    assert!(admins["conditions"].get("platforms").is_none());
    let legacy = spec_named(&policies, "Block legacy authentication");
    assert_eq!(
        legacy["conditions"]["clientAppTypes"],
        json!(["exchangeActiveSync", "other"])
    );
    let contractors = policies
        .lines()
        .find(|l| l.contains("# no group has this id in the tenant (deleted?)"));
    assert!(contractors.is_some(), "{policies}");
    let outside = spec_named(&policies, "Registration from outside");
    assert_eq!(
        outside["conditions"]["users"]["includeUsers"],
        json!([user.user_principal_name])
    );
    assert_eq!(
        outside["conditions"]["locations"]["excludeLocations"],
        json!(["Corporate network", branch])
    );
    assert!(
        policies.contains(&format!(
            "- {branch}  # its display name is not unique among the tenant's named locations"
        )),
        "{policies}"
    );
    assert_eq!(
        outside["grantControls"]["authenticationStrength"],
        "Registration"
    );
    let managed = spec_named(
        &policies,
        "Microsoft-managed: Multifactor authentication for admins accessing Microsoft Admin Portals",
    );
    assert_eq!(
        managed,
        json!({"state": "enabledForReportingButNotEnforced", "conditions": {"users": {"excludeGroups": ["Break Glass Accounts"]}}})
    );

    let locations = documents(&p.read("out/named-locations.yaml"));
    assert_eq!(locations.len(), 1, "the two Branch locations are left out");
    assert_eq!(
        locations[0]["spec"],
        json!({"ipRanges": ["203.0.113.0/24"], "isTrusted": true})
    );
    let strengths = documents(&p.read("out/authentication-strengths.yaml"));
    assert_eq!(strengths.len(), 1, "built-ins are never declared");
    assert_eq!(
        strengths[0]["spec"],
        json!({"description": "A pass to register a key", "allowedCombinations": ["fido2", "temporaryAccessPassOneTime"]})
    );
}
