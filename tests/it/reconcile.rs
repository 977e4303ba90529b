//! `mfactl reconcile`: one-shot cycles for CronJobs and CI, and the long-running loop that
//! reacts to changes in the policy files.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cli::Project;

fn patches(log: &[Value]) -> Vec<String> {
    log.iter()
        .filter(|e| e["method"] == "PATCH")
        .map(|e| e["path"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_observes_or_enforces_with_the_exit_codes_of_plan_and_apply() {
    let p = Project::sandbox_tenant().await;
    let observe = p.run(&["reconcile", "--once"]);
    assert_eq!(
        observe.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&observe.stderr)
    );
    assert!(String::from_utf8_lossy(&observe.stderr).contains("observe mode, nothing changed"));
    assert!(patches(&p.h.requests().await).is_empty());
    let enforce = p.run(&["reconcile", "--once", "--mode", "enforce"]);
    assert_eq!(
        enforce.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&enforce.stderr)
    );
    assert_eq!(patches(&p.h.requests().await).len(), 5);
    let again = p.run(&["reconcile", "--once", "--mode", "enforce"]);
    assert_eq!(again.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&again.stderr).contains("in sync"));
    assert_eq!(
        patches(&p.h.requests().await).len(),
        5,
        "nothing more to send"
    );
}

/// The last alert the webhook receiver got that matches `what`, waiting for it: the alert
/// goes out after the cycle's line is printed.
async fn wait_for_alert(
    receiver: &crate::notify::Receiver,
    what: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let last = receiver.requests("/hook").last().map(|c| c.json());
        if let Some(last) = last.filter(|l| what(l)) {
            return last;
        }
        assert!(
            Instant::now() < deadline,
            "no such alert; the last: {:?}",
            receiver.requests("/hook").last().map(|c| c.json())
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn metrics_of(base: &str) -> String {
    reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The loop's stderr, line by line, as it comes.
fn lines(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn wait_for_line(rx: &mpsc::Receiver<String>, what: &str, seen: &mut Vec<String>) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                seen.push(line.clone());
                if line.contains(what) {
                    return line;
                }
            }
            Err(_) => panic!("no line with {what:?} in:\n{}", seen.join("\n")),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loop_reacts_to_a_changed_file_and_keeps_the_last_valid_declaration() {
    let p = Project::sandbox_tenant().await;
    let receiver = crate::notify::Receiver::start().await;
    let mut child = p
        .command(&[
            "reconcile",
            "--mode",
            "enforce",
            "--interval",
            "1h30m",
            "--listen",
            "127.0.0.1:0",
        ])
        .env("MFACTL_WEBHOOK_URL", receiver.url("/hook"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rx = lines(&mut child);
    let mut seen = Vec::new();
    let start = wait_for_line(&rx, "/healthz, /readyz, /metrics on http://", &mut seen);
    // The mode as --mode spells it, the interval as --interval wrote it.
    assert!(
        start.starts_with(
            "reconciling test (enforce) on changes to the policy files and every 1h30m; "
        ),
        "{start}"
    );
    let base = start.rsplit("on ").next().unwrap().to_string();
    wait_for_line(&rx, "applied", &mut seen);
    let first = patches(&p.h.requests().await).len();
    assert_eq!(first, 5);

    // An edit to a policy file: the watch, not the one-hour interval, triggers a cycle.
    let path = p.dir().join("policies/authentication-methods.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let edited = text.replacen(
        "    voice:\n      state: disabled\n",
        "    voice:\n      state: enabled\n",
        1,
    );
    assert_ne!(text, edited);
    std::fs::write(&path, edited).unwrap();
    wait_for_line(&rx, "applied", &mut seen);
    let after_edit = patches(&p.h.requests().await);
    assert_eq!(after_edit.len(), first + 1);
    assert!(after_edit.last().unwrap().ends_with("/voice"));

    // An invalid commit is never applied, not even in part; the last valid declaration stays.
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(["-c", "user.name=it", "-c", "user.email=it@example.invalid"])
            .args(args)
            .current_dir(p.dir())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    git(&["init", "-q"]);
    std::fs::write(
        p.dir().join("policies/broken.yaml"),
        "apiVersion: mfactl/v1\nkind: Nope\n",
    )
    .unwrap();
    git(&["add", "policies"]);
    git(&["commit", "-q", "-m", "a broken policy"]);
    let commit = git(&["rev-parse", "HEAD"]);
    wait_for_line(&rx, "keeping the last valid declaration", &mut seen);
    wait_for_line(&rx, "in sync", &mut seen);
    assert_eq!(patches(&p.h.requests().await).len(), first + 1);
    let invalid = wait_for_alert(&receiver, |a| a["action"]["type"] == "invalid").await;
    let errors = invalid["declaration"]["errors"].as_u64().unwrap_or(0);
    assert!(errors > 0, "{invalid}");
    assert_eq!(
        invalid["declaration"],
        json!({"errors": errors, "commit": commit, "lastValidKept": true}),
        "{invalid}"
    );

    // Not ready while the declaration is invalid: the commit is not what is enforced.
    let readyz = reqwest::get(format!("{base}/readyz")).await.unwrap();
    assert_eq!(readyz.status(), 503);
    let why = readyz.text().await.unwrap();
    assert!(
        why.contains(&format!("{errors} error(s)")) && why.contains(&commit),
        "{why}"
    );
    let metrics = metrics_of(&base).await;
    for line in [
        format!("mfactl_declaration_valid{{tenant=\"test\",commit=\"{commit}\"}} 0"),
        format!("mfactl_declaration_errors{{tenant=\"test\"}} {errors}"),
        "mfactl_reconcile_failures_total{tenant=\"test\",reason=\"invalid\"} 1".to_string(),
    ] {
        assert!(metrics.contains(&line), "{line} missing from:\n{metrics}");
    }

    // Someone changes the tenant by hand; the next cycle repairs it from the last valid
    // declaration, and the alert says so (applied), with the invalid files beside it.
    let token = p.h.writer_token().await;
    let r = p
        .h
        .patch(
            "/v1.0/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/voice",
            &token,
            &json!({"@odata.type": "#microsoft.graph.voiceAuthenticationMethodConfiguration", "state": "disabled"}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    std::fs::write(
        p.dir().join("policies/broken.yaml"),
        "apiVersion: mfactl/v1\nkind: Nope\n# still broken\n",
    )
    .unwrap();
    let applied = wait_for_line(
        &rx,
        "applied 1 change to 1 resource; re-read and verified",
        &mut seen,
    );
    let repaired = wait_for_alert(&receiver, |a| a["action"]["type"] == "applied").await;
    assert_eq!(
        repaired["action"],
        json!({"type": "applied", "verified": true}),
        "as the log line says ({applied}): {repaired}"
    );
    assert_eq!(repaired["declaration"]["errors"], errors, "{repaired}");
    assert_eq!(repaired["changes"][0]["property"], "state", "{repaired}");

    // Fixed: ready again, valid, and the invalid files' alert is resolved.
    std::fs::remove_file(p.dir().join("policies/broken.yaml")).unwrap();
    wait_for_line(&rx, "in sync", &mut seen);
    wait_for_alert(&receiver, |a| a["event"] == "resolved").await;
    let metrics = metrics_of(&base).await;
    for line in [
        format!("mfactl_declaration_valid{{tenant=\"test\",commit=\"{commit}\"}} 1"),
        "mfactl_declaration_errors{tenant=\"test\"} 0".to_string(),
        "mfactl_reconcile_failures_total{tenant=\"test\",reason=\"invalid\"} 2".to_string(),
        "mfactl_reconcile_duration_seconds_count{tenant=\"test\"} 5".to_string(),
        "mfactl_changes_applied_total{tenant=\"test\"} 7".to_string(),
        "mfactl_last_successful_reconcile_timestamp_seconds{tenant=\"test\"}".to_string(),
        "mfactl_graph_requests_total{tenant=\"test\"}".to_string(),
    ] {
        assert!(metrics.contains(&line), "{line} missing from:\n{metrics}");
    }
    let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(
        reqwest::get(format!("{base}/readyz"))
            .await
            .unwrap()
            .status(),
        200
    );

    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_runs_sharing_a_state_dir_alert_once_per_drift() {
    let p = Project::sandbox_tenant().await;
    let receiver = crate::notify::Receiver::start().await;
    let hook = receiver.url("/hook");
    let run = |args: &[&str]| {
        let mut cmd = p.command(args);
        cmd.env("MFACTL_WEBHOOK_URL", &hook)
            .env("MFACTL_WEBHOOK_SECRET", "k3y");
        cmd.output().unwrap()
    };
    let actions = || -> Vec<String> {
        receiver
            .requests("/hook")
            .iter()
            .map(|c| {
                c.json()["action"]["type"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    };
    assert_eq!(run(&["reconcile", "--once"]).status.code(), Some(1));
    assert_eq!(actions(), ["observed"], "the drift is reported");
    assert_eq!(run(&["reconcile", "--once"]).status.code(), Some(1));
    assert_eq!(
        actions(),
        ["observed"],
        "the same drift is not reported again"
    );
    assert_eq!(
        run(&["reconcile", "--once", "--mode", "enforce"])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(actions(), ["observed", "applied"]);
    assert_eq!(
        run(&["reconcile", "--once", "--mode", "enforce"])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        actions(),
        ["observed", "applied"],
        "in sync: nothing more to say"
    );
    let state = std::fs::read_to_string(p.dir().join(".mfactl/alerts.json")).unwrap();
    assert!(
        !state.contains(&hook),
        "the state file holds no webhook URL"
    );
}

/// Adds `lines` to the test tenant in the project's mfactl.yaml, and `tail` after it.
fn configure(p: &Project, lines: &str, tail: &str) {
    let path = p.dir().join("mfactl.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let edited = text.replacen(
        "auditLog: audit.jsonl\n",
        &format!("{lines}auditLog: audit.jsonl\n{tail}"),
        1,
    );
    assert_ne!(text, edited);
    std::fs::write(path, edited).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_follows_the_tenants_mode_from_mfactl_yaml_and_the_flag_overrides_it() {
    let p = Project::sandbox_tenant().await;
    configure(&p, "    mode: enforce\n", "");
    let observe = p.run(&["reconcile", "--once", "--mode", "observe"]);
    assert_eq!(
        observe.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&observe.stderr)
    );
    assert!(patches(&p.h.requests().await).is_empty());
    let enforce = p.run(&["reconcile", "--once"]);
    assert_eq!(
        enforce.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&enforce.stderr)
    );
    assert_eq!(patches(&p.h.requests().await).len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspended_tenant_is_skipped_by_reconcile_but_plan_still_works() {
    let p = Project::sandbox_tenant().await;
    configure(&p, "    mode: enforce\n    suspend: true\n", "");
    let out = p.run(&["reconcile", "--once"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("test: suspended"), "{stderr}");
    assert!(p.h.requests().await.is_empty(), "nothing read or sent");
    let plan = p.run(&["plan"]);
    assert_eq!(
        plan.status.code(),
        Some(1),
        "plan on a suspended tenant still shows the drift: {}",
        String::from_utf8_lossy(&plan.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_its_change_windows_an_enforce_tenant_observes_and_alerts_from_mfactl_yaml() {
    let p = Project::sandbox_tenant().await;
    let receiver = crate::notify::Receiver::start().await;
    // A window on another day of the week than today (UTC): never open during this test,
    // unless it runs across midnight, when the window is checked against tomorrow.
    let today = time::OffsetDateTime::now_utc().weekday();
    let other = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        [usize::from(today.number_days_from_monday() + 3) % 7];
    std::fs::create_dir_all(p.dir().join("secrets")).unwrap();
    std::fs::write(
        p.dir().join("secrets/slack-webhook"),
        format!("{}\n", receiver.url("/services/T/B/x")),
    )
    .unwrap();
    configure(
        &p,
        &format!(
            "    mode: enforce\n    changeWindows:\n      - {{ days: [{other}], from: \"09:00\", to: \"10:00\", timezone: UTC }}\n"
        ),
        "notifications:\n  slack: { url: { file: secrets/slack-webhook } }\n  webhook: { url: { env: IT_HOOK_URL }, secret: { env: IT_HOOK_KEY } }\n",
    );
    let out = p
        .command(&["reconcile", "--once", "--state-dir", "state"])
        .env("IT_HOOK_URL", receiver.url("/hook"))
        .env("IT_HOOK_KEY", "k3y")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "drift observed: {stderr}");
    assert!(stderr.contains("outside the change windows"), "{stderr}");
    assert!(patches(&p.h.requests().await).is_empty(), "{stderr}");

    let hooks = receiver.requests("/hook");
    assert_eq!(hooks.len(), 1, "{stderr}");
    let body = hooks[0].json();
    assert_eq!(body["action"]["type"], "observed", "{body}");
    assert_eq!(body["tenant"], "test");
    let signature = format!("sha256={}", crate::notify::hmac_hex("k3y", &hooks[0].body));
    assert_eq!(hooks[0].header("x-signature"), Some(signature.as_str()));
    let slack = receiver.requests("/services/T/B/x");
    assert_eq!(slack.len(), 1, "{stderr}");
    assert!(slack[0].json()["text"].as_str().unwrap().contains("test"));

    // A missing variable stops the run before anything is read, naming the variable.
    let out = p
        .command(&["reconcile", "--once", "--state-dir", "state"])
        .env("IT_HOOK_URL", receiver.url("/hook"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("environment variable IT_HOOK_KEY"),
        "{stderr}"
    );
    assert!(!stderr.contains(&receiver.url("/hook")), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_runs_send_a_reminder_after_remind_after_and_resolved_when_the_drift_is_gone() {
    let p = Project::sandbox_tenant().await;
    let receiver = crate::notify::Receiver::start().await;
    let hook = receiver.url("/hook");
    let run = |args: &[&str]| {
        let mut cmd = p.command(args);
        cmd.env("MFACTL_WEBHOOK_URL", &hook);
        cmd.output().unwrap()
    };
    let events = || -> Vec<(String, String)> {
        receiver
            .requests("/hook")
            .iter()
            .map(|c| {
                let j = c.json();
                (
                    j["event"].as_str().unwrap_or_default().to_string(),
                    j["action"]["type"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    };
    let observe = [
        "reconcile",
        "--once",
        "--mode",
        "observe",
        "--remind-after",
        "1s",
    ];
    assert_eq!(run(&observe).status.code(), Some(1));
    assert_eq!(run(&observe).status.code(), Some(1));
    assert_eq!(events().len(), 1, "the same drift is reported once");
    // The reminder is about time passing: wait past remindAfter, then run again.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(run(&observe).status.code(), Some(1));
    let e = events();
    assert_eq!(e.len(), 2);
    assert_eq!(e[1].0, "reminder");
    // Someone fixes the tenant outside the controller; the next pass says the drift is gone.
    assert_eq!(p.run(&["apply", "--yes"]).status.code(), Some(0));
    assert_eq!(run(&observe).status.code(), Some(0));
    let e = events();
    assert_eq!(e.len(), 3);
    assert_eq!(e[2].1, "resolved");
    assert_eq!(run(&observe).status.code(), Some(0));
    assert_eq!(events().len(), 3, "then silence");
}

/// The loop's stderr lines in `--log-format json`, until one matches `pred`.
fn wait_for_json(
    rx: &mpsc::Receiver<String>,
    seen: &mut Vec<Value>,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            // A stream of other lines must not keep the wait alive past its deadline.
            Ok(_) if left.is_zero() => panic!("no line for {what} in:\n{seen:#?}"),
            Ok(line) => {
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not one JSON object ({e}): {line:?}"));
                seen.push(v.clone());
                if pred(&v) {
                    return v;
                }
            }
            Err(_) => panic!("no line for {what} in:\n{seen:#?}"),
        }
    }
}

fn message(v: &Value) -> &str {
    v["message"].as_str().unwrap_or_default()
}

/// The cycle reports (one per cycle) among `seen`.
fn cycle_reports(seen: &[Value]) -> Vec<&Value> {
    seen.iter()
        .filter(|v| v["cycle"].is_u64() && v["mode"].is_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_repository_only_a_policy_change_starts_a_cycle() {
    let p = Project::sandbox_tenant().await;
    let receiver = crate::notify::Receiver::start().await;
    // Laid out like a real repository: the loop runs in its root (`--policies .`), beside a
    // README, CI workflows, the configuration, its own state dir and the audit log.
    let root = p.dir();
    std::fs::create_dir_all(root.join(".github/workflows")).unwrap();
    std::fs::write(
        root.join(".github/workflows/x.yml"),
        "name: ci\non: [push]\n",
    )
    .unwrap();
    std::fs::write(root.join("README.md"), "# policies\n").unwrap();
    let mut child = p
        .command(&[
            "reconcile",
            "--mode",
            "enforce",
            "--interval",
            "1h",
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--policies",
            ".",
        ])
        .env("MFACTL_WEBHOOK_URL", receiver.url("/hook"))
        .env("RUST_LOG", "warn,mfactl::controller::watch=debug")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rx = lines(&mut child);
    let mut seen = Vec::new();
    let first = wait_for_json(&rx, &mut seen, "the first cycle", |v| {
        message(v).contains("re-read and verified")
    });
    assert_eq!(first["cycle"], 1);
    let after_first = p.h.requests().await;
    assert_eq!(patches(&after_first).len(), 5);
    // The first cycle's alert is written to the state dir: that change is ignored too.
    wait_for_json(&rx, &mut seen, "the state dir write ignored", |v| {
        message(v).starts_with("ignored change to") && message(v).contains(".mfactl")
    });

    let touched = [
        "README.md",
        ".github/workflows/x.yml",
        "audit.jsonl",
        "notes.txt",
        "policies/notes.txt",
        "policies/.draft.yaml",
    ];
    for path in touched {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(root.join(path))
            .unwrap();
        writeln!(f, "unrelated: true").unwrap();
    }
    for path in touched {
        let ignored = |v: &Value| {
            message(v).starts_with("ignored change to") && message(v).ends_with(&format!("/{path}"))
        };
        // The watcher reports events in batches: a later file's may already be among `seen`.
        if !seen.iter().any(ignored) {
            wait_for_json(
                &rx,
                &mut seen,
                &format!("ignored change to {path}"),
                ignored,
            );
        }
    }

    // A policy edit: exactly one more cycle, which applies it.
    let path = root.join("policies/authentication-methods.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let edited = text.replacen(
        "    voice:\n      state: disabled\n",
        "    voice:\n      state: enabled\n",
        1,
    );
    assert_ne!(text, edited);
    std::fs::write(&path, edited).unwrap();
    let second = wait_for_json(&rx, &mut seen, "the edit applied", |v| {
        message(v).contains("re-read and verified")
    });
    assert_eq!(second["cycle"], 2, "no cycle ran between: {seen:#?}");
    assert_eq!(
        cycle_reports(&seen).len(),
        2,
        "one report per cycle: {seen:#?}"
    );
    let log = p.h.requests().await;
    let all = patches(&log);
    assert_eq!(all.len(), 6);
    assert!(all.last().unwrap().ends_with("/voice"));
    // The emulator saw the same reads for the second cycle as for the first: one cycle.
    let policy_reads = |entries: &[Value]| {
        entries
            .iter()
            .filter(|e| {
                e["method"] == "GET" && e["path"] == "/beta/policies/authenticationMethodsPolicy"
            })
            .count()
    };
    assert_eq!(
        policy_reads(&log[after_first.len()..]),
        policy_reads(&after_first),
        "the requests of exactly one more cycle"
    );

    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let rest: Vec<String> = rx.iter().collect();
    assert!(
        rest.iter().all(|l| !l.contains("\"cycle\":3")),
        "no cycle after the edit: {rest:?}"
    );
}
