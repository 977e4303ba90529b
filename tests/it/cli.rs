//! The real binary against the emulator: validate, plan, apply, saved plans, guards, partial
//! applies, and what the request log shows about each.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mfactl::emulator::generate::{READER_SECRET, WRITER_SECRET};
use mfactl::emulator::{EmulatorConfig, State};
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{self, Harness, code, stderr, stdout};

/// A working directory with mfactl.yaml, the shipped policies and an emulator to talk to.
pub struct Project {
    dir: PathBuf,
    pub h: Harness,
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Project {
    pub async fn new(state: State) -> Self {
        let mut config = EmulatorConfig::new(state);
        config.tls = true;
        let h = Harness::with(config).await;
        let dir = common::temp_dir("cli");
        common::copy_methods_baseline(&dir);
        let p = Project { dir, h };
        p.write_config(&p.h.writer.clone());
        p
    }

    pub async fn sandbox_tenant() -> Self {
        Self::new(mfactl::sandbox::demo_state()).await
    }

    fn write_config(&self, client_id: &str) {
        let entry = common::tenant_yaml("test", &self.h.tenant, client_id, &self.h.emu.endpoints);
        std::fs::write(
            self.dir.join("mfactl.yaml"),
            format!("tenants:\n{entry}auditLog: audit.jsonl\n"),
        )
        .unwrap();
    }

    /// The binary, in the project directory, with the given client secret and no AZURE_ or
    /// MFACTL_ variables from the test's own environment.
    pub fn command_with(&self, args: &[&str], secret: &str) -> Command {
        common::mfactl(&self.dir, args, secret)
    }

    /// The binary with the writer app's secret.
    pub fn command(&self, args: &[&str]) -> Command {
        self.command_with(args, WRITER_SECRET)
    }

    fn mfactl(&self, args: &[&str], secret: &str) -> Output {
        self.command_with(args, secret).output().unwrap()
    }

    /// The project directory (mfactl.yaml, policies/, the audit log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.mfactl(args, WRITER_SECRET)
    }

    async fn log(&self) -> Vec<Value> {
        self.h.requests().await
    }

    async fn clear_log(&self) {
        self.h
            .call(Method::DELETE, "/_emulator/requests", None, None)
            .await;
    }

    async fn policy(&self) -> Value {
        let token = self.h.writer_token().await;
        self.h
            .get("/beta/policies/authenticationMethodsPolicy", &token)
            .await
            .body
    }
}

fn graph_requests(log: &[Value]) -> Vec<&Value> {
    log.iter()
        .filter(|e| !common::is_token_request(e))
        .collect()
}

fn patches(log: &[Value]) -> Vec<Value> {
    log.iter()
        .filter(|e| e["method"] == "PATCH")
        .map(|e| json!({"path": e["path"], "body": e["body"], "status": e["status"]}))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_plan_apply_converge_with_exactly_the_minimal_patches() {
    let p = Project::sandbox_tenant().await;
    let plan = p.run(&["plan"]);
    assert_eq!(code(&plan), 1, "drift: {}", stderr(&plan));
    assert!(stdout(&plan).contains("authenticationMethodConfigurations/Sms"));
    let log = p.log().await;
    // Target names are looked up in one `$batch` POST; the requests inside it are logged
    // on their own, with their own method.
    assert!(
        graph_requests(&log)
            .iter()
            .all(|e| e["method"] == "GET" || e["path"] == "/v1.0/$batch"),
        "plan only reads"
    );
    assert!(
        graph_requests(&log)
            .iter()
            .filter(|e| e["path"] == "/beta/policies/authenticationMethodsPolicy")
            .count()
            == 1,
        "one GET of the policy, never one per method"
    );
    assert!(!log.iter().any(|e| {
        e["path"]
            .as_str()
            .unwrap()
            .contains("authenticationMethodConfigurations/")
    }));

    p.clear_log().await;
    let apply = p.run(&["apply", "--yes"]);
    assert_eq!(code(&apply), 0, "{}", stderr(&apply));
    insta::assert_json_snapshot!("apply_patch_bodies", patches(&p.log().await));

    p.clear_log().await;
    let again = p.run(&["plan"]);
    assert_eq!(code(&again), 0, "{}", stdout(&again));
    assert!(stdout(&again).contains("in sync"));
    assert!(patches(&p.log().await).is_empty());

    let audit = std::fs::read_to_string(p.dir.join("audit.jsonl")).unwrap();
    let records: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 9);
    assert!(
        records
            .iter()
            .all(|r| r["result"] == "applied" && r["tenant"] == "test")
    );
    assert!(records.iter().any(
        |r| r["resource"] == "authenticationMethodConfigurations/Voice"
            && r["property"] == "state"
            && r["before"] == "enabled"
            && r["after"] == "disabled"
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undeclared_properties_and_unknown_configurations_are_never_touched() {
    let mut state = mfactl::sandbox::demo_state();
    let configs =
        state.tenants[0].authentication_methods_policy["authenticationMethodConfigurations"]
            .as_array_mut()
            .unwrap();
    configs.push(json!({
        "@odata.type": "#microsoft.graph.holographicAuthenticationMethodConfiguration",
        "id": "Holographic",
        "state": "enabled",
        "excludeTargets": [],
        "includeTargets": [{"id": "all_users", "targetType": "group"}],
        "futureSetting": {"level": 3}
    }));
    let p = Project::new(state).await;
    let before = p.policy().await;
    assert_eq!(code(&p.run(&["apply", "--yes"])), 0);
    let after = p.policy().await;
    let config = |policy: &Value, id: &str| {
        policy["authenticationMethodConfigurations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .cloned()
            .unwrap()
    };
    for id in [
        "Holographic",
        "Email",
        "X509Certificate",
        "SoftwareOath",
        "HardwareOath",
        "QRCodePin",
    ] {
        assert_eq!(
            config(&before, id),
            config(&after, id),
            "{id} must be untouched"
        );
    }
    assert_eq!(
        config(&before, "Voice")["isOfficePhoneAllowed"],
        config(&after, "Voice")["isOfficePhoneAllowed"]
    );
    assert_eq!(
        before["microsoftAuthenticatorPlatformSettings"],
        after["microsoftAuthenticatorPlatformSettings"]
    );
    assert_eq!(code(&p.run(&["plan"])), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_policy_exits_3_with_locations_and_sends_nothing() {
    let p = Project::sandbox_tenant().await;
    std::fs::write(
        p.dir.join("policies/broken.yaml"),
        "apiVersion: mfactl/v1\nkind: SecurityDefault\nmetadata:\n  name: x\nspec:\n  enabled: true\n",
    )
    .unwrap();
    for args in [&["validate"][..], &["plan"], &["apply", "--yes"]] {
        let o = p.run(args);
        assert_eq!(code(&o), 3, "{args:?}");
        let err = stderr(&o);
        assert!(err.contains("broken.yaml:2:7"), "{err}");
        assert!(err.contains("SecurityDefaults"), "did you mean: {err}");
    }
    assert!(p.log().await.is_empty(), "not even a token request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_name_that_does_not_resolve_stops_before_any_write() {
    let p = Project::sandbox_tenant().await;
    let path = p.dir.join("policies/authentication-methods.yaml");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("Break Glass Accounts", "Brake Glass Accounts");
    std::fs::write(&path, text).unwrap();
    let o = p.run(&["apply", "--yes"]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no group is named 'Brake Glass Accounts'"),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("authentication-methods.yaml:"),
        "{}",
        stderr(&o)
    );
    assert!(patches(&p.log().await).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_formats() {
    let p = Project::sandbox_tenant().await;
    let json_out = p.run(&["plan", "-o", "json"]);
    assert_eq!(code(&json_out), 1);
    let plan: Value = serde_json::from_slice(&json_out.stdout).expect("JSON plan");
    assert_eq!(plan["formatVersion"], json!(1));
    assert_eq!(plan["inSync"], json!(false));
    let voice = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["resource"] == "authenticationMethodConfigurations/Voice")
        .unwrap();
    assert_eq!(
        voice["body"],
        json!({"@odata.type": "#microsoft.graph.voiceAuthenticationMethodConfiguration", "state": "disabled"})
    );
    let md = stdout(&p.run(&["plan", "-o", "markdown"]));
    assert!(md.starts_with("### mfactl plan: test"), "{md}");
    assert!(
        md.contains("| state | `\"enabled\"` | `\"disabled\"` |"),
        "{md}"
    );
    let human = stdout(&p.run(&["plan"]));
    assert!(
        !human.contains('\x1b'),
        "no colour when stdout is not a terminal"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_plan_applies_only_while_the_tenant_is_unchanged() {
    let p = Project::sandbox_tenant().await;
    assert_eq!(code(&p.run(&["plan", "--out", "plan.json"])), 1);
    // Someone changes the tenant in the portal.
    let token = p.h.writer_token().await;
    let r = p
        .h
        .patch(
            "/v1.0/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/email",
            &token,
            &json!({"@odata.type": "#microsoft.graph.emailAuthenticationMethodConfiguration", "state": "enabled"}),
        )
        .await;
    assert_eq!(r.status, 204);
    p.clear_log().await;
    let stale = p.run(&["apply", "plan.json", "--yes"]);
    assert_eq!(code(&stale), 7, "{}", stderr(&stale));
    assert!(stderr(&stale).contains("changed since this plan was made"));
    assert!(patches(&p.log().await).is_empty());

    assert_eq!(code(&p.run(&["plan", "--out", "plan.json"])), 1);
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(p.dir.join("plan.json")).unwrap()).unwrap();
    p.clear_log().await;
    let fresh = p.run(&["apply", "plan.json", "--yes"]);
    assert_eq!(code(&fresh), 0, "{}", stderr(&fresh));
    let sent = patches(&p.log().await);
    let planned: Vec<Value> = saved["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["body"].clone())
        .collect();
    assert_eq!(
        sent.iter().map(|s| s["body"].clone()).collect::<Vec<_>>(),
        planned,
        "exactly the saved bodies"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guards_refuse_without_confirmation_or_over_the_change_limit() {
    let p = Project::sandbox_tenant().await;
    let o = p.run(&["apply"]);
    assert_eq!(code(&o), 7, "stdin is not a terminal");
    assert!(stderr(&o).contains("--yes"));
    let o = p.run(&["apply", "--yes", "--max-changes", "3"]);
    assert_eq!(code(&o), 7);
    assert!(stderr(&o).contains("more than --max-changes 3"));
    assert!(patches(&p.log().await).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_write_mid_apply_is_a_partial_apply_and_the_next_run_converges() {
    let p = Project::sandbox_tenant().await;
    let fault = json!({"method": "PATCH", "pathPrefix": "/beta/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/sms", "count": 1, "kind": "status", "status": 400});
    p.h.add_fault(fault).await;
    let o = p.run(&["apply", "--yes"]);
    assert_eq!(code(&o), 6, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("applied      authenticationMethodConfigurations/MicrosoftAuthenticator"),
        "{err}"
    );
    assert!(
        err.contains("failed       authenticationMethodConfigurations/Sms"),
        "{err}"
    );
    assert!(
        err.contains("not applied  authenticationMethodConfigurations/Voice"),
        "{err}"
    );
    let first = patches(&p.log().await);
    p.clear_log().await;
    let o = p.run(&["apply", "--yes"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let second = patches(&p.log().await);
    let paths = |v: &[Value]| {
        v.iter()
            .map(|x| x["path"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let succeeded_first: Vec<String> = first
        .iter()
        .filter(|x| x["status"] == 204 || x["status"] == 200)
        .map(|x| x["path"].as_str().unwrap().to_string())
        .collect();
    for path in paths(&second) {
        assert!(
            !succeeded_first.contains(&path),
            "{path} was applied already"
        );
    }
    assert!(paths(&second).iter().any(|x| x.ends_with("/sms")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_app_can_plan_but_apply_names_the_missing_permission() {
    let p = Project::sandbox_tenant().await;
    p.write_config(&p.h.reader.clone());
    let plan = p.mfactl(&["plan"], READER_SECRET);
    assert_eq!(code(&plan), 1, "{}", stderr(&plan));
    let apply = p.mfactl(&["apply", "--yes"], READER_SECRET);
    assert_eq!(code(&apply), 4, "{}", stderr(&apply));
    assert!(
        stderr(&apply).contains("Policy.ReadWrite.AuthenticationMethod"),
        "{}",
        stderr(&apply)
    );
    let wrong = p.mfactl(&["plan"], "not-the-secret");
    assert_eq!(code(&wrong), 4);
    assert!(!stderr(&wrong).contains("not-the-secret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evolvable_enum_members_converge_instead_of_drifting_forever() {
    let p = Project::sandbox_tenant().await;
    let path = p.dir.join("policies/authentication-methods.yaml");
    let x509 = "    x509Certificate:\n      state: enabled\n      authenticationModeConfiguration:\n        x509CertificateAuthenticationDefaultMode: x509CertificateMultiFactor\n        rules:\n          - x509CertificateRuleType: issuerSubjectAndPolicyOID\n            issuerSubjectIdentifier: CN=Contoso Issuing CA\n            policyOidIdentifier: 1.2.3.4\n            x509CertificateAuthenticationMode: x509CertificateMultiFactor\n---\n";
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replacen("---\n", x509, 1);
    std::fs::write(&path, text).unwrap();
    let apply = p.run(&["apply", "--yes"]);
    assert_eq!(code(&apply), 0, "{}", stderr(&apply));
    let plan = p.run(&["plan"]);
    assert_eq!(code(&plan), 0, "{}", stdout(&plan));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_file_of_the_bad_corpus_gets_a_single_request_sent() {
    let p = Project::sandbox_tenant().await;
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/policies/bad");
    let expected: serde_json::Map<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(corpus.join("expected.json")).unwrap())
            .unwrap();
    let mut checked = 0;
    for (file, diagnostics) in &expected {
        let errors = diagnostics.as_array().unwrap().iter().any(|d| {
            mfactl::policy::severity_of(d["code"].as_str().unwrap())
                == mfactl::policy::Severity::Error
        });
        // Names that do not resolve are found against the tenant, after requests
        // (`names::the_bad_corpus_plan_time_files_fail_plan_with_their_diagnostics`).
        let plan_time = diagnostics
            .as_array()
            .unwrap()
            .iter()
            .all(|d| mfactl::policy::PLAN_TIME.contains(&d["code"].as_str().unwrap()));
        if !errors || plan_time {
            continue;
        }
        let path = corpus.join(file);
        let o = p.run(&["apply", "--yes", "--policies", path.to_str().unwrap()]);
        assert_eq!(code(&o), 3, "{file}: {}", stderr(&o));
        let first = &diagnostics[0];
        let at = format!("{file}:{}:{}", first["line"], first["column"]);
        assert!(
            stderr(&o).contains(&at),
            "{file}: expected {at} in {}",
            stderr(&o)
        );
        checked += 1;
    }
    assert!(checked >= 25, "{checked}");
    assert!(p.log().await.is_empty(), "a bad policy never reaches Graph");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_read_is_never_taken_for_an_empty_tenant() {
    let p = Project::sandbox_tenant().await;
    let fault = json!({"method": "GET", "pathPrefix": "/beta/policies/authenticationMethodsPolicy", "count": 10, "kind": "status", "status": 500});
    p.h.add_fault(fault).await;
    let o = p.run(&["apply", "--yes"]);
    assert_eq!(code(&o), 5, "{}", stderr(&o));
    assert!(patches(&p.log().await).is_empty());
    p.h.call(Method::DELETE, "/_emulator/faults", None, None)
        .await;
    let malformed = json!({"method": "GET", "pathPrefix": "/beta/policies/authenticationMethodsPolicy", "count": 1, "kind": "malformed"});
    p.h.add_fault(malformed).await;
    let o = p.run(&["apply", "--yes"]);
    assert_eq!(code(&o), 5, "{}", stderr(&o));
    assert!(patches(&p.log().await).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_names_the_git_commit_of_the_policies() {
    let p = Project::sandbox_tenant().await;
    let git = |args: &[&str]| {
        let o = Command::new("git")
            .current_dir(&p.dir)
            .args([
                "-c",
                "user.name=mfactl test",
                "-c",
                "user.email=test@example.invalid",
            ])
            .args(args)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    git(&["init", "-q"]);
    git(&["add", "policies"]);
    git(&["commit", "-q", "-m", "policies"]);
    let head = git(&["rev-parse", "HEAD"]);
    assert_eq!(code(&p.run(&["apply", "--yes"])), 0);
    let audit = std::fs::read_to_string(p.dir.join("audit.jsonl")).unwrap();
    for line in audit.lines() {
        let record: Value = serde_json::from_str(line).unwrap();
        assert_eq!(record["gitCommit"], json!(head));
    }
}
