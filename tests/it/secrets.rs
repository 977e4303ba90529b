//! No command prints a token, a client secret or a client assertion, at any log level.

use mfactl::emulator::generate::WRITER_SECRET;

use crate::cli::Project;

fn assert_clean(what: &str, output: &std::process::Output) {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !text.contains(WRITER_SECRET),
        "{what}: the client secret was printed"
    );
    assert!(
        !text.contains("not-the-secret"),
        "{what}: a wrong secret was printed"
    );
    // Every JWT (access tokens, client assertions) starts with a base64url JSON header.
    assert!(!text.contains("eyJ"), "{what}: a JWT was printed:\n{text}");
    assert!(
        !text.to_ascii_lowercase().contains("bearer ey"),
        "{what}: an Authorization header was printed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_at_trace_level_prints_no_secret_or_token() {
    let p = Project::sandbox_tenant().await;
    let mut logged = 0;
    for args in [
        &["validate", "-vv"][..],
        &["plan", "-vv"],
        &["plan", "-vv", "-o", "json", "--out", "plan.json"],
        &["plan", "-vv", "-o", "markdown"],
        &["apply", "-vv", "plan.json", "--yes"],
        &["apply", "-vv", "--yes"],
    ] {
        let mut cmd = p.command(args);
        cmd.env("RUST_LOG", "trace");
        let out = cmd.output().unwrap();
        assert!(
            out.status.code().is_some_and(|c| c <= 1),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        logged += out.stderr.len();
        assert_clean(&format!("{args:?}"), &out);
    }
    assert!(
        logged > 10_000,
        "trace logging was on ({logged} bytes of stderr)"
    );
    let mut wrong = p.command_with(&["plan", "-vv"], "not-the-secret");
    wrong.env("RUST_LOG", "trace");
    let out = wrong.output().unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert_clean("plan with a wrong secret", &out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_a_line_and_hold_no_secret() {
    let p = Project::sandbox_tenant().await;
    let out = p
        .command(&["--log-format", "json", "-vv", "plan"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_clean("plan --log-format json", &out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let logs: Vec<serde_json::Value> = stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect("each log line is one JSON object"))
        .collect();
    assert!(logs.len() > 10, "{stderr}");
    assert!(
        logs.iter()
            .all(|l| l["level"].is_string() && l["timestamp"].is_string())
    );
}
