//! SIGINT or SIGTERM during an apply: the PATCH in flight finishes, nothing after it is sent,
//! and the run stops with the same report as a partial apply.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::cli::Project;

async fn interrupted_apply(signal: &str) {
    let p = Project::sandbox_tenant().await;
    // The first PATCH (the policy) is held for 3 s in the emulator once it has arrived.
    let fault = json!({"method": "PATCH", "pathPrefix": "/beta/policies/authenticationMethodsPolicy", "count": 1, "kind": "latency", "ms": 3000});
    p.h.add_fault(fault).await;
    let mut child = p
        .command(&["apply", "--yes"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the emulator has taken the PATCH (the fault rule is used up on arrival).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let faults = p.h.call(Method::GET, "/_emulator/faults", None, None).await;
        if faults.body["value"] == json!([]) {
            break;
        }
        assert!(Instant::now() < deadline, "the PATCH never arrived");
        tokio::task::yield_now().await;
    }
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let stderr: Vec<String> = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .collect();
    let exit = child.wait().unwrap();
    let text = stderr.join("\n");
    assert_eq!(exit.code(), Some(6), "{text}");
    assert!(
        text.contains("applied      authenticationMethodsPolicy"),
        "{text}"
    );
    assert!(
        text.contains("not applied  authenticationMethodConfigurations/Sms"),
        "{text}"
    );
    let patches: Vec<_> =
        p.h.requests()
            .await
            .into_iter()
            .filter(|e| e["method"] == "PATCH")
            .collect();
    assert_eq!(patches.len(), 1, "nothing after the PATCH in flight");
    assert_eq!(
        patches[0]["status"],
        json!(200),
        "the PATCH in flight got its answer"
    );
    // The next run converges from there.
    let o = p.run(&["apply", "--yes"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_lets_the_patch_in_flight_finish_then_stops() {
    interrupted_apply("-INT").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_patch_in_flight_finish_then_stops() {
    interrupted_apply("-TERM").await;
}
