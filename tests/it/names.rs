//! Names in targets against the tenant: every name that does not resolve reported at once
//! (MFA038, with its position and a suggestion), nothing written; and resolution at scale in
//! `$batch` rounds that meet no 429 under Graph-like throttling.

use std::path::Path;

use mfactl::emulator::EmulatorConfig;
use mfactl::emulator::generate::WRITER_SECRET;
use mfactl::emulator::state::{Group, State};
use mfactl::emulator::throttle::ThrottleMode;
use serde_json::Value;

use crate::common::{self, Project, code, stderr};

/// A project beside an emulator throttling as `throttle` and logging every request.
async fn project(state: State, throttle: ThrottleMode) -> Project {
    let mut config = EmulatorConfig::new(state);
    config.throttle = throttle;
    config.request_log_limit = 1_000_000;
    Project::start("names", config, "").await
}

/// Whether a log entry writes: anything but a GET, a token request or a `$batch` POST (whose
/// inner requests are logged on their own).
fn is_write(entry: &Value) -> bool {
    let method = entry["method"].as_str().unwrap_or_default();
    let path = entry["path"].as_str().unwrap_or_default();
    method != "GET" && !common::is_token_request(entry) && !path.ends_with("/$batch")
}

const UNRESOLVED: &str = "\
apiVersion: mfactl/v1
kind: AuthenticationMethodsPolicy
metadata:
  name: methods
spec:
  methods:
    fido2:
      state: enabled
      includeTargets:
        - group: MFA Pilott
---
apiVersion: mfactl/v1
kind: PerUserMfa
metadata:
  name: per-user
spec:
  exceptions:
    - group: Brake Glass Accounts
      state: disabled
    - group: Nobody Here At All
      state: enforced
    - user: no.such.person@nowhere.example
      state: enabled
    - group: Twins
      state: enforced
    - group: Platform Team
      state: enforced
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_unresolved_name_is_reported_at_once_with_its_position_and_nothing_is_written() {
    let mut state = mfactl::sandbox::demo_state();
    for id in [
        "11111111-2222-3333-4444-555555555555",
        "66666666-7777-8888-9999-000000000000",
    ] {
        state.tenants[0].groups.push(Group {
            id: id.into(),
            display_name: "Twins".into(),
            members: Vec::new(),
        });
    }
    let p = project(state, ThrottleMode::Graph).await;
    p.policy("names.yaml", UNRESOLVED);
    for args in [&["plan"][..], &["apply", "--yes"]] {
        let o = p.run(args);
        let err = stderr(&o);
        assert_eq!(code(&o), 3, "{args:?}: {err}");
        let expected = "\
policies/names.yaml:10:18: error[MFA038]: no group is named 'MFA Pilott'
  help: did you mean `MFA Pilot`?
policies/names.yaml:18:7: error[MFA038]: no group is named 'Brake Glass Accounts'
  help: did you mean `Break Glass Accounts`?
policies/names.yaml:20:7: error[MFA038]: no group is named 'Nobody Here At All'
policies/names.yaml:22:7: error[MFA038]: no user 'no.such.person@nowhere.example'
policies/names.yaml:24:7: error[MFA038]: 2 groups are named 'Twins'; a target must name exactly one
  help: use the group's object id instead
error: 5 target name(s) do not resolve in the tenant to exactly one object; nothing was sent
";
        assert!(err.ends_with(expected), "{args:?}:\n{err}");
    }
    let log = p.h.requests().await;
    assert!(!log.is_empty(), "the names were looked up");
    let writes: Vec<&Value> = log.iter().filter(|e| is_write(e)).collect();
    assert!(writes.is_empty(), "{writes:?}");
    assert!(p.path("").join("mfactl.yaml").exists());
}

/// The users of the harness tenant whose UPNs a policy names, `n` of them.
fn upns(state: &State, n: usize) -> Vec<String> {
    state.tenants[0]
        .users
        .iter()
        .take(n)
        .map(|u| u.user_principal_name.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_thousand_user_targets_resolve_in_batch_rounds_without_a_429() {
    const USERS: usize = 4_000;
    let state = common::state(USERS);
    let names = upns(&state, USERS);
    let p = project(state, ThrottleMode::Graph).await;
    let mut yaml = String::from(
        "apiVersion: mfactl/v1\nkind: PerUserMfa\nmetadata:\n  name: per-user\nspec:\n  exceptions:\n",
    );
    for upn in &names {
        yaml.push_str(&format!("    - user: {upn}\n      state: disabled\n"));
    }
    p.policy("per-user.yaml", &yaml);
    let o = p.run(&["plan", "-o", "json"]);
    assert!(matches!(code(&o), 0 | 1), "{}: {}", code(&o), stderr(&o));
    let log = p.h.requests().await;
    let throttled = log.iter().filter(|e| e["status"] == 429).count();
    assert_eq!(throttled, 0, "429s in the request log");
    // Resolution reads v1.0 (the per-user state is on beta): one GET per UPN, twenty to a
    // `$batch` POST, no request sent twice.
    let lookups = log
        .iter()
        .filter(|e| {
            e["method"] == "GET"
                && e["batchId"].is_string()
                && e["path"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("/v1.0/users/"))
        })
        .count();
    assert_eq!(lookups, USERS);
    let resolution_batches = log
        .iter()
        .filter(|e| e["method"] == "POST" && e["path"] == "/v1.0/$batch")
        .count();
    assert_eq!(resolution_batches, USERS.div_ceil(20));
    assert!(log.iter().all(|e| !is_write(e)));
}

#[test]
fn the_bad_corpus_plan_time_files_fail_plan_with_their_diagnostics() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/policies/bad");
    let expected: serde_json::Map<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(corpus.join("expected.json")).unwrap())
            .unwrap();
    let mut checked = Vec::new();
    for (file, diagnostics) in &expected {
        let diagnostics = diagnostics.as_array().unwrap();
        let codes: Vec<&str> = diagnostics
            .iter()
            .map(|d| d["code"].as_str().unwrap())
            .collect();
        if !codes.iter().all(|c| mfactl::policy::PLAN_TIME.contains(c)) {
            continue;
        }
        let o = common::mfactl(
            &corpus,
            &["plan", "--sandbox", "--policies", file],
            WRITER_SECRET,
        )
        .output()
        .unwrap();
        let err = stderr(&o);
        assert_eq!(code(&o), 3, "{file}: {err}");
        for d in diagnostics {
            let at = format!(
                "{file}:{}:{}: error[{}]",
                d["line"],
                d["column"],
                d["code"].as_str().unwrap()
            );
            assert!(err.contains(&at), "{file}: expected {at} in\n{err}");
        }
        checked.extend(codes);
    }
    for code in mfactl::policy::PLAN_TIME {
        assert!(checked.contains(code), "no bad file for {code}");
    }
}
