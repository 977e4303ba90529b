//! `mfactl tap` through the binary against the emulator: a pass for a user, its replacement,
//! a wave into a 0600 file, every refusal (nothing sent), revocation, `-o json`, `explain`
//! putting a fresh pass first, and no pass anywhere but its one intended place, even at
//! `RUST_LOG=trace`.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use mfactl::emulator::EmulatorConfig;
use mfactl::emulator::generate::WRITER_SECRET;
use mfactl::emulator::state::Group;
use mfactl::emulator::throttle::ThrottleMode;
use serde_json::{Value, json};

use super::tap_configuration;
use crate::common::{self, Project, code, stderr, stdout};

const WAVE: &str = "Onboarding wave 1";
const NO_TAP: &str = "No temporary access pass";

/// A project whose tenant has the Temporary Access Pass method enabled for all users but
/// the members of [`NO_TAP`] (as `edit` leaves it), and a group [`WAVE`] of two members, a
/// guest and a member of [`NO_TAP`].
struct Tenant {
    p: Project,
    /// Members in the wave and targeted.
    members: [String; 2],
    guest: String,
    excluded: String,
}

async fn tenant(edit: impl FnOnce(&mut Value)) -> Tenant {
    let mut state = common::state(30);
    let t = &mut state.tenants[0];
    for i in 1..=4 {
        let u = &mut t.users[i];
        u.user_type = "member".into();
        u.account_enabled = true;
        u.methods_registered = Arc::new(vec!["mobilePhone".into()]);
    }
    t.users[2].user_type = "guest".into();
    let upn = |i: usize| t.users[i].user_principal_name.clone();
    let id = |i: usize| t.users[i].id.clone();
    let (members, guest, excluded) = ([upn(1), upn(3)], upn(2), upn(4));
    let no_tap = "0b7f6d3e-1c1a-4c7e-9a55-3f1d2c0e9a01";
    t.groups.push(Group {
        id: "5d0e8c1a-2b3c-4d5e-8f90-a1b2c3d4e5f6".into(),
        display_name: WAVE.into(),
        members: (1..=4).map(id).collect(),
    });
    t.groups.push(Group {
        id: no_tap.into(),
        display_name: NO_TAP.into(),
        members: vec![id(4)],
    });
    let tap = tap_configuration(&mut t.authentication_methods_policy);
    tap["state"] = json!("enabled");
    tap["includeTargets"] =
        json!([{"targetType": "group", "id": "all_users", "isRegistrationRequired": false}]);
    tap["excludeTargets"] = json!([{"targetType": "group", "id": no_tap}]);
    tap["minimumLifetimeInMinutes"] = json!(60);
    tap["maximumLifetimeInMinutes"] = json!(480);
    edit(tap);
    let config = EmulatorConfig {
        throttle: ThrottleMode::Off,
        ..EmulatorConfig::new(state)
    };
    Tenant {
        p: Project::start("tap", config, "").await,
        members,
        guest,
        excluded,
    }
}

impl Tenant {
    fn run(&self, args: &[&str]) -> std::process::Output {
        self.p.run(args)
    }

    /// Runs with every log line on: `RUST_LOG=trace`.
    fn run_traced(&self, args: &[&str]) -> std::process::Output {
        common::mfactl(&self.p.dir, args, WRITER_SECRET)
            .env("RUST_LOG", "trace")
            .output()
            .unwrap()
    }

    /// The user's passes as Graph lists them.
    async fn passes(&self, upn: &str) -> Vec<Value> {
        let t = self.p.h.writer_token().await;
        let r = self
            .p
            .h
            .get(
                &format!("/v1.0/users/{upn}/authentication/temporaryAccessPassMethods"),
                &t,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["value"].as_array().unwrap().clone()
    }

    /// The audit log's lines.
    fn audit(&self) -> Vec<Value> {
        std::fs::read_to_string(self.p.path("audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The creates and deletes of passes the emulator received.
    async fn pass_writes(&self) -> Vec<Value> {
        self.p
            .log()
            .await
            .into_iter()
            .filter(|e| e["method"] != "GET")
            .filter(|e| {
                e["path"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("temporaryAccessPassMethods")
            })
            .collect()
    }
}

/// The one line of stdout: the pass.
fn pass_of(o: &std::process::Output) -> String {
    let out = stdout(o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stdout: {out:?}");
    lines[0].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_prints_the_pass_once_and_a_second_pass_replaces_the_first() {
    let t = tenant(|_| {}).await;
    let upn = &t.members[0];
    let first = t.run(&["tap", "issue", "--user", upn, "--lifetime", "2h"]);
    assert_eq!(code(&first), 0, "{}", stderr(&first));
    let pass = pass_of(&first);
    assert_eq!(pass.chars().count(), 8, "the policy's default length");
    assert!(!stderr(&first).contains(&pass));
    assert!(stderr(&first).contains(&format!("issued a Temporary Access Pass for {upn}")));
    assert!(!stderr(&first).contains("had a Temporary Access Pass"));
    let listed = t.passes(upn).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["lifetimeInMinutes"], json!(120));
    assert_eq!(
        listed[0]["isUsableOnce"],
        json!(false),
        "the policy's default"
    );

    let second = t.run(&["tap", "issue", "--user", upn, "--once"]);
    assert_eq!(code(&second), 0, "{}", stderr(&second));
    let again = pass_of(&second);
    assert_ne!(again, pass);
    assert!(
        stderr(&second).contains(&format!("{upn} had a Temporary Access Pass (reusable")),
        "{}",
        stderr(&second)
    );
    let listed = t.passes(upn).await;
    assert_eq!(listed.len(), 1, "one pass per user");
    assert_eq!(listed[0]["isUsableOnce"], json!(true));

    let audit = t.audit();
    assert_eq!(audit.len(), 2, "one line per pass: {audit:?}");
    assert_eq!(audit[0]["before"], Value::Null);
    assert_eq!(audit[0]["after"]["lifetimeInMinutes"], json!(120));
    assert_eq!(audit[1]["before"], audit[0]["after"], "the replaced pass");
    assert_eq!(audit[1]["after"]["id"], listed[0]["id"]);
    for line in &audit {
        assert_eq!(line["result"], "applied");
        assert!(line["resource"].as_str().unwrap().contains(upn.as_str()));
    }
    let text = std::fs::read_to_string(t.p.path("audit.jsonl")).unwrap();
    assert!(!text.contains(&pass) && !text.contains(&again));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_output_carries_the_pass_and_its_validity() {
    let t = tenant(|_| {}).await;
    let upn = &t.members[1];
    let o = t.run(&[
        "tap",
        "issue",
        "--user",
        upn,
        "--once",
        "--start",
        "2099-06-05T08:00:00+02:00",
        "-o",
        "json",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let doc: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(doc["formatVersion"], json!(1));
    assert_eq!(doc["user"], json!(upn));
    assert_eq!(doc["startDateTime"], json!("2099-06-05T06:00:00Z"));
    assert_eq!(doc["expiresDateTime"], json!("2099-06-05T07:00:00Z"));
    assert_eq!(doc["lifetimeInMinutes"], json!(60));
    assert_eq!(doc["isUsableOnce"], json!(true));
    assert_eq!(doc["replacedPassId"], Value::Null);
    let pass = doc["temporaryAccessPass"].as_str().unwrap();
    assert_eq!(pass.chars().count(), 8);
    assert!(!stderr(&o).contains(pass));
    assert_eq!(t.passes(upn).await[0]["id"], doc["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_name_their_reason_exit_with_their_code_and_send_nothing() {
    let t = tenant(|tap| tap["isUsableOnce"] = json!(true)).await;
    let member = t.members[0].as_str();
    let cases: [(&[&str], i32, &str); 7] = [
        (
            &["--user", member, "--lifetime", "30m"],
            7,
            "outside the policy's 60–480 minutes",
        ),
        (
            &["--user", member, "--lifetime", "9h"],
            7,
            "outside the policy's 60–480 minutes",
        ),
        (
            &["--user", member, "--lifetime", "5m"],
            2,
            "between 10m and 720h",
        ),
        (&["--user", member, "--reusable"], 7, "one-time passes only"),
        (
            &["--user", &t.guest],
            7,
            "cannot be added to an external guest user",
        ),
        (&["--user", &t.excluded], 7, "does not target"),
        (&["--group", WAVE], 2, "--out"),
    ];
    for (args, expected, why) in cases {
        let o = t.run(&[&["tap", "issue"], args].concat());
        assert_eq!(code(&o), expected, "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(why), "{args:?}: {}", stderr(&o));
        assert!(stdout(&o).is_empty(), "{args:?}");
    }
    let o = t.run(&["tap", "issue", "--user", "nobody@example.com"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("no user 'nobody@example.com'"));
    assert!(t.pass_writes().await.is_empty(), "nothing sent");
    assert!(t.audit().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_method_is_refused() {
    let t = tenant(|tap| tap["state"] = json!("disabled")).await;
    for args in [
        &["--user", t.members[0].as_str()][..],
        &["--group", WAVE, "--out", "passes.csv"][..],
    ] {
        let o = t.run(&[&["tap", "issue"], args].concat());
        assert_eq!(code(&o), 7, "{}", stderr(&o));
        assert!(stderr(&o).contains("is not enabled"), "{}", stderr(&o));
    }
    assert!(!t.p.path("passes.csv").exists(), "no file of no pass");
    assert!(t.pass_writes().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wave_writes_the_members_passes_to_a_new_private_file() {
    let t = tenant(|_| {}).await;
    let replaced = t.run(&["tap", "issue", "--user", &t.members[1]]);
    assert_eq!(code(&replaced), 0, "{}", stderr(&replaced));
    let o = t.run(&["tap", "issue", "--group", WAVE, "--out", "passes.csv"]);
    assert_eq!(
        code(&o),
        6,
        "the guest and the excluded got none: {}",
        stderr(&o)
    );
    assert!(stdout(&o).is_empty(), "no pass on stdout: {}", stdout(&o));
    let err = stderr(&o);
    assert!(err.contains(&format!("refused      {}", t.guest)), "{err}");
    assert!(err.contains("guest"), "{err}");
    assert!(
        err.contains(&format!(
            "refused      {}: the Temporary Access Pass method does not target",
            t.excluded
        )),
        "{err}"
    );
    assert!(err.contains("issued 2 Temporary Access Pass(es)"), "{err}");
    assert!(err.contains("(1 replacing an existing pass)"), "{err}");
    let path = t.p.path("passes.csv");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let csv = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "upn,pass,expires");
    let mut upns: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.split(',').next().unwrap())
        .collect();
    upns.sort();
    let mut expected = [t.members[0].as_str(), t.members[1].as_str()];
    expected.sort();
    assert_eq!(upns, expected);
    for line in &lines[1..] {
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields.len(), 3, "{line}");
        assert_eq!(fields[1].chars().count(), 8);
        assert!(fields[2].ends_with('Z'), "{line}");
        assert!(!err.contains(fields[1]));
    }
    for m in &t.members {
        assert_eq!(t.passes(m).await.len(), 1);
    }
    assert!(t.passes(&t.guest).await.is_empty());
    assert!(t.passes(&t.excluded).await.is_empty());
    let audit = t.audit();
    assert_eq!(
        audit.len(),
        3,
        "the single pass and the wave's two: {audit:?}"
    );
    assert!(audit.iter().all(|l| l["result"] == "applied"));

    let again = t.run(&["tap", "issue", "--group", WAVE, "--out", "passes.csv"]);
    assert_eq!(code(&again), 2, "{}", stderr(&again));
    assert!(stderr(&again).contains("already exists"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), csv, "left alone");
    assert_eq!(t.audit().len(), 3, "nothing sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_deletes_the_pass_and_says_when_there_is_none() {
    let t = tenant(|_| {}).await;
    let upn = &t.members[0];
    let none = t.run(&["tap", "revoke", "--user", upn, "-o", "json"]);
    assert_eq!(code(&none), 0, "{}", stderr(&none));
    assert!(stderr(&none).contains("has no Temporary Access Pass; nothing was revoked"));
    let doc: Value = serde_json::from_str(stdout(&none).trim()).unwrap();
    assert_eq!(doc["revokedPassId"], Value::Null);
    assert!(t.audit().is_empty());

    assert_eq!(code(&t.run(&["tap", "issue", "--user", upn])), 0);
    let id = t.passes(upn).await[0]["id"].clone();
    let o = t.run(&["tap", "revoke", "--user", upn]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).contains(&format!("revoked the Temporary Access Pass of {upn}")));
    assert!(stdout(&o).is_empty());
    assert!(t.passes(upn).await.is_empty());
    let audit = t.audit();
    assert_eq!(audit.len(), 2);
    assert_eq!(audit[1]["before"]["id"], id);
    assert_eq!(audit[1]["after"], Value::Null);
    assert_eq!(audit[1]["result"], "applied");
}

/// `explain --live --user` for one user, as JSON.
fn explained(t: &Tenant, upn: &str) -> Value {
    let o = t.run(&["explain", "--live", "--user", upn, "-o", "json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    serde_json::from_str(&stdout(&o)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_puts_a_fresh_pass_first() {
    let t = tenant(|_| {}).await;
    let upn = &t.members[0];
    let before = explained(&t, upn);
    assert_ne!(before["method"], json!("temporaryAccessPass"), "{before}");
    assert_eq!(code(&t.run(&["tap", "issue", "--user", upn])), 0);
    let after = explained(&t, upn);
    assert_eq!(after["method"], json!("temporaryAccessPass"), "{after}");
    assert_eq!(
        after["usableMethods"][0],
        json!("temporaryAccessPass"),
        "{after}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_pass_outside_its_one_place_even_at_trace() {
    let t = tenant(|_| {}).await;
    let upn = &t.members[0];
    let one = t.run_traced(&["tap", "issue", "--user", upn]);
    assert_eq!(code(&one), 0, "{}", stderr(&one));
    let pass = pass_of(&one);
    assert!(stderr(&one).contains("TRACE"), "trace logging is on");
    assert_eq!(stdout(&one).matches(&pass).count(), 1);
    let wave = t.run_traced(&[
        "tap", "issue", "--group", WAVE, "--out", "wave.csv", "-o", "json",
    ]);
    assert_eq!(code(&wave), 6, "{}", stderr(&wave));
    let csv = std::fs::read_to_string(t.p.path("wave.csv")).unwrap();
    let wave_passes: Vec<String> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().to_string())
        .collect();
    assert_eq!(wave_passes.len(), 2);
    let revoke = t.run_traced(&["tap", "revoke", "--user", upn]);
    assert_eq!(code(&revoke), 0, "{}", stderr(&revoke));
    let audit = std::fs::read_to_string(t.p.path("audit.jsonl")).unwrap();
    let everything_else = [
        stderr(&one),
        stdout(&wave),
        stderr(&wave),
        stdout(&revoke),
        stderr(&revoke),
        audit,
    ]
    .concat();
    for p in wave_passes.iter().chain([&pass]) {
        assert!(!everything_else.contains(p.as_str()), "{p} leaked");
        assert_eq!(csv.matches(p.as_str()).count(), usize::from(p != &pass));
    }
}
