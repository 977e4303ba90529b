//! `mfactl reconcile`: one-shot cycles for CronJobs and CI, and the long-running loop that
//! reacts to changes in the policy files.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

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
    assert_eq!(patches(&p.h.requests().await).len(), 6);
    let again = p.run(&["reconcile", "--once", "--mode", "enforce"]);
    assert_eq!(again.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&again.stderr).contains("in sync"));
    assert_eq!(
        patches(&p.h.requests().await).len(),
        6,
        "nothing more to send"
    );
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
            "1h",
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
    let base = start.rsplit("on ").next().unwrap().to_string();
    wait_for_line(&rx, "applied", &mut seen);
    let first = patches(&p.h.requests().await).len();
    assert_eq!(first, 6);

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

    // An invalid file is never applied, not even in part; the last valid declaration stays.
    std::fs::write(
        p.dir().join("policies/broken.yaml"),
        "apiVersion: mfactl/v1\nkind: Nope\n",
    )
    .unwrap();
    wait_for_line(&rx, "keeping the last valid declaration", &mut seen);
    wait_for_line(&rx, "in sync", &mut seen);
    assert_eq!(patches(&p.h.requests().await).len(), first + 1);
    let last = receiver.requests("/hook").last().map(|c| c.json()).unwrap();
    assert_eq!(
        last["action"]["type"], "failed",
        "the invalid commit is alerted: {last}"
    );

    let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(
        reqwest::get(format!("{base}/readyz"))
            .await
            .unwrap()
            .status(),
        200
    );
    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "mfactl_reconcile_duration_seconds_count{tenant=\"test\"} 3",
        "mfactl_changes_applied_total{tenant=\"test\"} 7",
        "mfactl_last_successful_reconcile_timestamp_seconds{tenant=\"test\"}",
        "mfactl_graph_requests_total{tenant=\"test\"}",
    ] {
        assert!(metrics.contains(name), "{name} missing from:\n{metrics}");
    }

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
