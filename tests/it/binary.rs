//! The real `mfactl emulator` binary: first stdout line, clean stop, bad input.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::Value;

fn mfactl() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin!("mfactl"))
}

#[tokio::test]
async fn prints_its_endpoints_first_serves_and_stops_cleanly_on_sigterm() {
    // reqwest is built without a provider of its own; the harness installs ring in the others.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca = std::env::temp_dir().join(format!("mfactl-it-ca-{}.pem", std::process::id()));
    let mut child = mfactl()
        .args([
            "emulator",
            "--listen",
            "127.0.0.1:0",
            "--generate",
            "users=5,tenants=2,seed=3",
            "--tls",
            "--ca-file",
        ])
        .arg(&ca)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let endpoints: Value = serde_json::from_str(&first).expect("first line is one JSON object");
    let graph = endpoints["graphUrl"].as_str().unwrap();
    assert!(graph.starts_with("http://127.0.0.1:"));
    assert!(
        endpoints["loginUrl"]
            .as_str()
            .unwrap()
            .starts_with("https://localhost:")
    );
    assert_eq!(endpoints["caFile"].as_str().unwrap(), ca.to_str().unwrap());
    assert!(
        std::fs::read_to_string(&ca)
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    assert_eq!(endpoints["tenants"].as_array().unwrap().len(), 2);
    let state: Value = reqwest::get(format!("{graph}/_emulator/state"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["tenants"][1]["users"].as_array().unwrap().len(), 5);

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn without_tls_the_first_lines_say_what_mfactl_needs_to_sign_in() {
    let mut child = mfactl()
        .args([
            "emulator",
            "--listen",
            "127.0.0.1:0",
            "--generate",
            "users=2",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let endpoints: Value = serde_json::from_str(&first).expect("first line is one JSON object");
    let login = endpoints["loginUrl"].as_str().unwrap().to_string();
    assert!(login.starts_with("http://127.0.0.1:"), "{login}");
    let mut note = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut note)
        .unwrap();
    let port = login.rsplit(':').next().unwrap();
    assert!(
        note.contains(&format!("loginUrl {login} is plain HTTP"))
            && note.contains("--tls")
            && note.contains(&format!("AZURE_AUTHORITY_HOST=https://localhost:{port}")),
        "{note}"
    );
    // What the note says is refused, mfactl refuses, before any request.
    let dir = crate::common::temp_dir("no-tls");
    let out = mfactl()
        .arg("plan")
        .current_dir(&dir)
        .env("AZURE_AUTHORITY_HOST", &login)
        .env("AZURE_TENANT_ID", "contoso.onmicrosoft.com")
        .env("AZURE_CLIENT_ID", "11111111-1111-1111-1111-111111111111")
        .env("AZURE_CLIENT_SECRET", "x")
        .env_remove("MFACTL_CONFIG")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("must use https"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_broken_state_file_is_reported_with_its_location_and_exit_3() {
    let path = std::env::temp_dir().join(format!("mfactl-it-state-{}.json", std::process::id()));
    std::fs::write(
        &path,
        "{\n  \"tenants\": [\n    {\"id\": \"t\", \"userz\": []}\n  ]\n}\n",
    )
    .unwrap();
    let out = mfactl()
        .args(["emulator", "--listen", "127.0.0.1:0", "--state"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:3:", path.display())),
        "{stderr}"
    );
    assert!(stderr.contains("userz"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_generate_spec_is_exit_3_and_bad_flags_exit_2() {
    let out = mfactl()
        .args(["emulator", "--generate", "users=lots"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("users=lots"));
    let out = mfactl()
        .args(["emulator", "--ca-file", "x.pem"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "--ca-file needs --tls");
    let out = mfactl()
        .args(["emulator", "--throttle", "sometimes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn an_address_in_use_is_a_usage_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = mfactl()
        .args(["emulator", "--listen", &addr])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&addr));
}
