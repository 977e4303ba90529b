//! Names wherever a Conditional Access policy takes an id, through the binary against the
//! emulator: a directory role, a named location and an authentication strength written by
//! display name are sent as their ids; a location and a strength declared in the same
//! policy set are created first and their ids filled into the policy's body; names that do
//! not resolve are all reported where they are written, with nothing sent; an application
//! that is neither an appId nor a keyword is refused by `validate`.

use mfactl::emulator::EmulatorConfig;
use mfactl::emulator::throttle::ThrottleMode;
use mfactl::msgraph::conditional_access::GLOBAL_ADMINISTRATOR;
use serde_json::{Value, json};

use crate::common::{self, Project, code, stderr, stdout};

const POLICIES: &str = "/v1.0/identity/conditionalAccess/policies";
const LOCATIONS: &str = "/v1.0/identity/conditionalAccess/namedLocations";
const STRENGTHS: &str = "/v1.0/policies/authenticationStrengthPolicies";
const PHISHING_RESISTANT: &str = "00000000-0000-0000-0000-000000000004";

/// A generated P1 tenant without security defaults, logging every request.
async fn project() -> Project {
    let mut config = EmulatorConfig::new(common::state(30));
    config.throttle = ThrottleMode::Off;
    config.request_log_limit = 100_000;
    Project::start("reference-names", config, "").await
}

/// Creates an item in the tenant as someone else would, and returns its id.
async fn create(p: &Project, path: &str, body: Value) -> String {
    let token = p.h.writer_token().await;
    let r =
        p.h.call(reqwest::Method::POST, path, Some(&token), Some(&body))
            .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["id"].as_str().unwrap().to_string()
}

fn ip_location(name: &str, cidr: &str) -> Value {
    json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": name,
           "ipRanges": [{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": cidr}]})
}

fn strength(name: &str) -> Value {
    json!({"displayName": name, "allowedCombinations": ["fido2", "temporaryAccessPassOneTime"]})
}

/// The live item of `collection` with this display name.
async fn live_item(p: &Project, collection: &str, name: &str) -> Value {
    let token = p.h.reader_token().await;
    let list = p.h.get(collection, &token).await.body;
    list["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["displayName"] == name)
        .unwrap_or_else(|| panic!("no {name} in {list}"))
        .clone()
}

/// Whether a log entry writes: anything but a GET, a token request or a `$batch` POST.
fn is_write(entry: &Value) -> bool {
    let method = entry["method"].as_str().unwrap_or_default();
    let path = entry["path"].as_str().unwrap_or_default();
    method != "GET" && !common::is_token_request(entry) && !path.ends_with("/$batch")
}

fn policy(name: &str, users: &str, locations: &str, grant: &str) -> String {
    format!(
        "apiVersion: mfactl/v1
kind: ConditionalAccessPolicy
metadata: {{name: {name}}}
spec:
  state: enabledForReportingButNotEnforced
  conditions:
    users:
{users}    applications:
      includeApplications: [All]
    locations:
{locations}  grantControls:
{grant}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_a_location_and_a_strength_written_by_name_are_sent_as_their_ids() {
    let p = project().await;
    let office = create(
        &p,
        LOCATIONS,
        ip_location("Corporate network", "203.0.113.0/24"),
    )
    .await;
    let registration = create(&p, STRENGTHS, strength("Registration")).await;
    p.policy(
        "admins.yaml",
        &policy(
            "Admins",
            "      includeRoles: [Global Administrator]\n      excludeGroups: [Break Glass Accounts]\n",
            "      includeLocations: [All]\n      excludeLocations: [Corporate network]\n",
            "    operator: OR\n    authenticationStrength: Phishing-resistant MFA\n",
        ),
    );
    p.policy(
        "registration.yaml",
        &policy(
            "Registration from outside",
            "      includeUsers: [All]\n",
            "      includeLocations: [All]\n      excludeLocations: [AllTrusted, Corporate network]\n",
            "    operator: OR\n    authenticationStrength: {id: Registration}\n",
        ),
    );
    let apply = p.run(&["apply", "--yes"]);
    assert_eq!(code(&apply), 0, "{}\n{}", stdout(&apply), stderr(&apply));

    let admins = live_item(&p, POLICIES, "Admins").await;
    let users = &admins["conditions"]["users"];
    assert_eq!(users["includeRoles"], json!([GLOBAL_ADMINISTRATOR]));
    assert_eq!(
        admins["conditions"]["locations"]["excludeLocations"],
        json!([office])
    );
    assert_eq!(
        admins["grantControls"]["authenticationStrength"]["id"],
        PHISHING_RESISTANT
    );
    let other = live_item(&p, POLICIES, "Registration from outside").await;
    assert_eq!(
        other["conditions"]["locations"]["excludeLocations"],
        json!(["AllTrusted", office])
    );
    assert_eq!(
        other["grantControls"]["authenticationStrength"]["id"],
        json!(registration)
    );
    let again = p.run(&["plan"]);
    assert_eq!(code(&again), 0, "{}\n{}", stdout(&again), stderr(&again));
}

const HOME: &str = "apiVersion: mfactl/v1
kind: NamedLocation
metadata: {name: Home office}
spec:
  ipRanges: [198.51.100.0/24]
---
apiVersion: mfactl/v1
kind: AuthenticationStrength
metadata: {name: Onboarding}
spec:
  allowedCombinations: [fido2, temporaryAccessPassOneTime]
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_location_and_a_strength_declared_beside_the_policy_are_created_first_and_their_ids_sent()
{
    let p = project().await;
    p.policy("references.yaml", HOME);
    p.policy(
        "policy.yaml",
        &policy(
            "Onboarding away from home",
            "      includeUsers: [All]\n      excludeGroups: [Break Glass Accounts]\n",
            "      includeLocations: [All]\n      excludeLocations: [Home office]\n",
            "    operator: OR\n    authenticationStrength: Onboarding\n",
        ),
    );
    let plan = p.run(&["plan", "-o", "json"]);
    assert_eq!(code(&plan), 1, "{}", stderr(&plan));
    let json: Value = serde_json::from_str(&stdout(&plan)).unwrap();
    let create = json["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["path"] == POLICIES)
        .unwrap_or_else(|| panic!("no policy create in {json}"))
        .clone();
    assert_eq!(
        create["body"]["conditions"]["locations"]["excludeLocations"],
        json!(["{created:namedLocations/Home office}"])
    );
    assert_eq!(
        create["body"]["grantControls"]["authenticationStrength"],
        json!({"id": "{created:authenticationStrengths/Onboarding}"})
    );

    let apply = p.run(&["apply", "--yes"]);
    assert_eq!(code(&apply), 0, "{}\n{}", stdout(&apply), stderr(&apply));
    let log = p.log().await;
    let writes: Vec<&Value> = log.iter().filter(|e| is_write(e)).collect();
    let paths: Vec<(&str, &str)> = writes
        .iter()
        .map(|e| (e["method"].as_str().unwrap(), e["path"].as_str().unwrap()))
        .collect();
    assert_eq!(
        paths,
        [("POST", LOCATIONS), ("POST", STRENGTHS), ("POST", POLICIES)],
        "the references first"
    );
    assert!(writes.iter().all(|e| e["status"] == 201), "{writes:#?}");
    let home = live_item(&p, LOCATIONS, "Home office").await["id"].clone();
    let onboarding = live_item(&p, STRENGTHS, "Onboarding").await["id"].clone();
    let body = &writes[2]["body"];
    assert_eq!(
        body["conditions"]["locations"]["excludeLocations"],
        json!([home])
    );
    assert_eq!(
        body["grantControls"]["authenticationStrength"],
        json!({"id": onboarding})
    );
    let audit = p.read("audit.jsonl");
    assert!(!audit.contains("{created:"), "{audit}");
    let again = p.run(&["plan"]);
    assert_eq!(code(&again), 0, "{}\n{}", stdout(&again), stderr(&again));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unresolved_role_location_and_strength_names_are_all_reported_and_nothing_is_sent() {
    let p = project().await;
    create(
        &p,
        LOCATIONS,
        ip_location("Corporate network", "203.0.113.0/24"),
    )
    .await;
    create(&p, LOCATIONS, ip_location("Branch", "192.0.2.0/24")).await;
    create(&p, LOCATIONS, ip_location("Branch", "198.51.100.0/24")).await;
    p.policy("references.yaml", HOME);
    p.policy(
        "broken.yaml",
        &policy(
            "Broken",
            "      includeRoles: [Global Administrater]\n      excludeRoles: [Nobody In Particular]\n",
            "      includeLocations: [Corprate network, Home office]\n      excludeLocations: [Branch]\n",
            "    operator: OR\n    authenticationStrength: Phishing resistent MFA\n",
        ),
    );
    let before = p.log().await.len();
    for args in [&["plan"][..], &["apply", "--yes"]] {
        let o = p.run(args);
        let err = stderr(&o);
        assert_eq!(code(&o), 3, "{args:?}: {err}");
        let expected = "\
policies/broken.yaml:8:22: error[MFA038]: no directory role is named 'Global Administrater'
  help: did you mean `Global Administrator`?
policies/broken.yaml:9:22: error[MFA038]: no directory role is named 'Nobody In Particular'
policies/broken.yaml:13:26: error[MFA038]: no named location is named 'Corprate network'
  help: did you mean `Corporate network`?
policies/broken.yaml:14:26: error[MFA038]: 2 named locations are named 'Branch'; a target must name exactly one
  help: use the named location's id instead
policies/broken.yaml:17:29: error[MFA038]: no authentication strength is named 'Phishing resistent MFA'
  help: did you mean `Phishing resistant MFA`?
error: 5 target name(s) do not resolve in the tenant to exactly one object; nothing was sent
";
        assert!(err.ends_with(expected), "{args:?}:\n{err}");
    }
    let log = p.log().await;
    let writes: Vec<&Value> = log[before..].iter().filter(|e| is_write(e)).collect();
    assert!(writes.is_empty(), "{writes:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_that_is_no_app_id_nor_keyword_is_a_validate_error() {
    let dir = common::temp_dir("application-keyword");
    std::fs::write(
        dir.join("policy.yaml"),
        policy(
            "Apps",
            "      includeUsers: [All]\n",
            "      includeLocations: [All]\n",
            "    operator: OR\n    builtInControls: [mfa]\n",
        )
        .replace(
            "includeApplications: [All]",
            "includeApplications: [Office356]",
        ),
    )
    .unwrap();
    let o = common::mfactl(&dir, &["validate", "--policies", "policy.yaml"], "")
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(code(&o), 3, "{err}");
    assert!(
        err.contains("policy.yaml:10:29: error[MFA010]: `Office356` in `includeApplications` is neither an application id (appId) nor one of Graph's keywords\n  help: did you mean `Office365`?"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
