//! Several tenants in one run: `--all-tenants`, `--shard I/N` and `--concurrency N`, through
//! the real binary against one emulator serving several generated tenants.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use mfactl::emulator::generate::{GenerateSpec, WRITER_SECRET, generate};
use mfactl::emulator::{Emulator, EmulatorConfig, RunningEmulator};
use serde_json::Value;

use crate::common::{self, code, stderr};

struct Fleet {
    dir: PathBuf,
    names: Vec<String>,
    _emu: RunningEmulator,
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Fleet {
    /// `n` generated tenants, each configured with its writer app; `broken` gets a client id
    /// that does not exist.
    async fn new(n: usize, broken: Option<usize>) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let state = generate(&GenerateSpec {
            users: 30,
            groups: 6,
            tenants: n,
            seed: 11,
        });
        let mut config = EmulatorConfig::new(state.clone());
        config.tls = true;
        let emu = Emulator::start(config).await.expect("emulator starts");
        let dir = common::temp_dir("fleet");
        common::copy_methods_baseline(&dir);
        let e = &emu.endpoints;
        let mut yaml = String::from("tenants:\n");
        let mut names = Vec::new();
        for (i, t) in state.tenants.iter().enumerate() {
            let writer = t
                .apps
                .iter()
                .find(|a| a.secrets.iter().any(|s| s == WRITER_SECRET))
                .unwrap();
            let client_id = if broken == Some(i) {
                "00000000-0000-4000-8000-000000000000".to_string()
            } else {
                writer.client_id.clone()
            };
            let name = format!("tenant-{i}");
            yaml.push_str(&common::tenant_yaml(&name, &t.id, &client_id, e));
            names.push(name);
        }
        yaml.push_str("auditLog: audit.jsonl\n");
        std::fs::write(dir.join("mfactl.yaml"), yaml).unwrap();
        Fleet {
            dir,
            names,
            _emu: emu,
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn command(&self, args: &[&str]) -> Command {
        common::mfactl(&self.dir, args, WRITER_SECRET)
    }
}

/// The tenants of a `-o json` several-tenant plan, in output order, with whether each is in
/// sync (`None` for an error).
fn tenants(o: &Output) -> Vec<(String, Option<bool>)> {
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["formatVersion"], 1);
    v["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["tenant"].as_str().unwrap().to_string(),
                t["plan"]["inSync"].as_bool(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tenant_is_planned_and_reconciled_concurrently_in_configuration_order() {
    let f = Fleet::new(5, None).await;
    let o = f.run(&["plan", "--all-tenants", "--concurrency", "3", "-o", "json"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let listed = tenants(&o);
    assert_eq!(
        listed.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
        f.names,
        "configuration order, whatever finished first"
    );
    assert!(listed.iter().all(|(_, s)| *s == Some(false)), "{listed:?}");
    assert!(stderr(&o).contains("5 tenants: 0 in sync, 5 with drift, 0 failed"));

    let o = f.run(&[
        "reconcile",
        "--once",
        "--mode",
        "enforce",
        "--all-tenants",
        "--concurrency",
        "2",
        "--state-dir",
        "state",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    for name in &f.names {
        assert!(
            stderr(&o).contains(&format!("{name}: applied")),
            "{name}: {}",
            stderr(&o)
        );
    }
    let o = f.run(&["plan", "--all-tenants", "-o", "json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(tenants(&o).iter().all(|(_, s)| *s == Some(true)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_split_the_tenants_exactly_once_and_deterministically() {
    let f = Fleet::new(7, None).await;
    let mut seen = Vec::new();
    for i in 0..3 {
        let shard = format!("{i}/3");
        let o = f.run(&["plan", "--shard", &shard, "-o", "json"]);
        assert!(matches!(code(&o), 0 | 1), "{}", stderr(&o));
        let names: Vec<String> = tenants(&o).into_iter().map(|(n, _)| n).collect();
        let again: Vec<String> = tenants(&f.run(&["plan", "--shard", &shard, "-o", "json"]))
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, again, "the same shard, the same tenants");
        seen.extend(names);
    }
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(
        seen.len(),
        f.names.len(),
        "no tenant in two shards: {seen:?}"
    );
    assert_eq!(unique.len(), f.names.len(), "every tenant in a shard");
    let o = f.run(&["plan", "--shard", "3/3"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_failing_tenant_does_not_stop_the_others_and_decides_the_exit_code() {
    let f = Fleet::new(3, Some(1)).await;
    let o = f.run(&["plan", "--all-tenants", "-o", "json"]);
    assert_eq!(
        code(&o),
        4,
        "the broken tenant's sign-in failure: {}",
        stderr(&o)
    );
    let listed = tenants(&o);
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[0].1, Some(false));
    assert_eq!(listed[1].1, None, "an error entry");
    assert_eq!(listed[2].1, Some(false));
    assert!(stderr(&o).contains("tenant-1: error:"), "{}", stderr(&o));
    let o = f.run(&["plan", "--all-tenants", "--sandbox"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_across_tenants_needs_yes_then_converges_every_tenant() {
    let f = Fleet::new(3, None).await;
    let o = f.run(&["apply", "--all-tenants"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("pass --yes"), "{}", stderr(&o));
    // Each tenant's summary, in the plan and in the apply, says what its JSON plan says.
    let o = f.run(&["plan", "--all-tenants", "-o", "json"]);
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    let extents: Vec<String> = v["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| crate::cli_defects::extent(&t["plan"]).0)
        .collect();
    let human = common::stdout(&f.run(&["plan", "--all-tenants"]));
    for (name, extent) in f.names.iter().zip(&extents) {
        assert!(
            human.contains(&format!("Tenant {name}: {extent}.\n")),
            "{human}"
        );
    }
    let o = f.run(&["apply", "--all-tenants", "--yes", "--concurrency", "2"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    for (name, extent) in f.names.iter().zip(&extents) {
        assert!(
            stderr(&o).contains(&format!("{name}: applied {extent}; re-read and verified")),
            "{name}: {}",
            stderr(&o)
        );
    }
    assert!(
        stderr(&o).contains("3 tenants: 0 in sync, 3 applied, 0 with drift, 0 failed"),
        "{}",
        stderr(&o)
    );
    let o = f.run(&["plan", "--all-tenants", "-o", "json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(tenants(&o).iter().all(|(_, s)| *s == Some(true)));
    let o = f.run(&["apply", "--all-tenants", "--yes"]);
    assert_eq!(code(&o), 0);
    assert!(
        stderr(&o).contains("3 tenants: 3 in sync, 0 applied, 0 with drift, 0 failed"),
        "{}",
        stderr(&o)
    );
}

/// Waits for a stderr line containing `what`, keeping every line seen.
fn wait_for(rx: &std::sync::mpsc::Receiver<String>, what: &str, seen: &mut Vec<String>) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
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

/// Waits until every tenant has a line `NAME<what>`, in whatever order they finish.
fn wait_for_all(
    rx: &std::sync::mpsc::Receiver<String>,
    names: &[String],
    what: &str,
    seen: &mut Vec<String>,
) {
    let mut left: BTreeSet<&String> = names.iter().collect();
    while !left.is_empty() {
        let line = wait_for(rx, what, seen);
        left.retain(|n| !line.starts_with(&format!("{n}{what}")));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_long_running_controller_keeps_every_tenant_in_line() {
    use std::io::BufRead;
    let f = Fleet::new(3, None).await;
    let mut child = f
        .command(&[
            "reconcile",
            "--all-tenants",
            "--mode",
            "enforce",
            "--interval",
            "15m",
            "--listen",
            "127.0.0.1:0",
            "--state-dir",
            "state",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let started = wait_for(&rx, "reconciling 3 tenants, ", &mut seen);
    assert!(
        started.contains(" and every 15m; "),
        "the interval as --interval wrote it: {started}"
    );
    let addr = started.rsplit("http://").next().unwrap().to_string();
    wait_for_all(&rx, &f.names, ": applied", &mut seen);
    // Every tenant has had a successful cycle: ready.
    let ready = reqwest::get(format!("http://{addr}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);
    let metrics = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in &f.names {
        assert!(
            metrics.contains(&format!(
                "mfactl_reconcile_duration_seconds_count{{tenant=\"{name}\"}} 1"
            )),
            "{metrics}"
        );
    }
    // A change to the shared policy files reconciles every tenant again.
    let path = f.dir.join("policies/authentication-methods.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{text}\n# touched\n")).unwrap();
    wait_for_all(&rx, &f.names, ": in sync", &mut seen);
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

/// The names of the tenants a run's stderr lines begin with (`tenant-0: …`), in order of
/// first appearance.
fn named(text: &str, names: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        if let Some(n) = names.iter().find(|n| line.starts_with(&format!("{n}: ")))
            && !out.contains(n)
        {
            out.push(n.clone());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_checks_each_selected_tenants_files_and_names_the_tenant_on_each_line() {
    let f = Fleet::new(4, None).await;
    let o = f.run(&["validate", "--all-tenants"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    for name in &f.names {
        assert!(
            stderr(&o).contains(&format!("{name}: 1 policy file is valid.")),
            "{}",
            stderr(&o)
        );
    }
    assert!(stderr(&o).contains("4 tenants: 4 valid, 0 with errors"));

    // Shards: each tenant validated by exactly one worker.
    let mut seen = Vec::new();
    for i in 0..2 {
        let o = f.run(&["validate", "--shard", &format!("{i}/2")]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        seen.extend(named(&stderr(&o), &f.names));
    }
    seen.sort();
    assert_eq!(seen, f.names);

    // One tenant's own files are broken: its lines name it, the others stay valid, exit 3.
    std::fs::create_dir_all(f.dir.join("broken")).unwrap();
    std::fs::write(
        f.dir.join("broken/methods.yaml"),
        "apiVersion: mfactl/v1\nkind: AuthenticationMethodsPolicy\nmetadata: {name: x}\nspec:\n  methods:\n    sms: {stat: enabled}\n",
    )
    .unwrap();
    let config = std::fs::read_to_string(f.dir.join("mfactl.yaml")).unwrap();
    let entries: Vec<&str> = config.split("  - name: ").collect();
    let mut rewritten = entries[0].to_string();
    for (i, e) in entries[1..].iter().enumerate() {
        rewritten.push_str("  - name: ");
        if i == 2 {
            rewritten.push_str(&e.replace("policies: [policies]", "policies: [broken]"));
        } else {
            rewritten.push_str(e);
        }
    }
    std::fs::write(f.dir.join("mfactl.yaml"), rewritten).unwrap();
    let o = f.run(&["validate", "--all-tenants"]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    let err = stderr(&o);
    let diagnostic = err
        .lines()
        .find(|l| l.contains("MFA0") && l.contains("methods.yaml"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(
        diagnostic.starts_with("tenant-2: broken/methods.yaml:6:"),
        "{err}"
    );
    assert!(
        err.contains("tenant-2: 1 error in the policy files"),
        "{err}"
    );
    assert!(err.contains("4 tenants: 3 valid, 1 with errors"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_across_tenants_gives_each_tenant_its_section_row_or_object() {
    let f = Fleet::new(3, None).await;
    let o = f.run(&["explain", "--all-tenants", "--live", "-o", "json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).expect("one JSON document");
    assert_eq!(v["formatVersion"], 1);
    let listed: Vec<&str> = v["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tenant"].as_str().unwrap())
        .collect();
    assert_eq!(listed, f.names, "configuration order");
    let users: Vec<usize> = v["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["users"].as_array().unwrap().len())
        .collect();
    assert!(users.iter().all(|n| *n > 0), "{users:?}");

    let o = f.run(&["explain", "--all-tenants", "--live", "-o", "csv"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let csv = String::from_utf8(o.stdout).unwrap();
    let mut lines = csv.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("tenant,userPrincipalName,id,method,")
    );
    let rows: Vec<&str> = lines.collect();
    for (name, n) in f.names.iter().zip(&users) {
        let count = rows
            .iter()
            .filter(|r| r.starts_with(&format!("{name},")))
            .count();
        assert_eq!(count, *n, "{name}");
    }
    assert_eq!(rows.len(), users.iter().sum::<usize>(), "one header only");

    let o = f.run(&["explain", "--all-tenants"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    let headings: Vec<&str> = text.lines().filter(|l| l.starts_with("Tenant ")).collect();
    assert_eq!(headings.len(), f.names.len(), "{text}");
    for (h, name) in headings.iter().zip(&f.names) {
        assert!(
            h.starts_with(&format!(
                "Tenant {name} (declared policy, as it will be once applied): "
            )),
            "{h}"
        );
    }

    let o = f.run(&["explain", "--all-tenants", "--user", "a@b.c"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("--user is one user of one tenant"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_apply_across_tenants_names_the_tenant_on_every_line() {
    let f = Fleet::new(3, None).await;
    let rules = serde_json::from_value(serde_json::json!([{
        "method": "PATCH",
        "pathPrefix": "/beta/policies/authenticationMethodsPolicy",
        "count": 1,
        "kind": "status",
        "status": 403
    }]))
    .unwrap();
    f._emu.core.faults().add(rules).unwrap();
    let o = f.run(&["apply", "--all-tenants", "--yes", "--concurrency", "1"]);
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    let err = stderr(&o);
    let failed: Vec<&str> = err.lines().filter(|l| l.contains("failed  ")).collect();
    let not_applied: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("not applied  "))
        .collect();
    assert_eq!(failed.len(), 1, "{err}");
    assert!(!not_applied.is_empty(), "{err}");
    for line in failed.iter().chain(&not_applied) {
        assert!(line.starts_with("tenant-0: "), "{line}");
    }
    for name in &f.names[1..] {
        assert!(err.contains(&format!("{name}: applied ")), "{err}");
    }
    assert!(
        err.contains("3 tenants: 0 in sync, 2 applied, 0 with drift, 1 failed"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_json_lists_each_tenants_outcome_in_configuration_order() {
    let f = Fleet::new(3, Some(1)).await;
    let o = f.run(&["apply", "--all-tenants", "--yes", "-o", "json"]);
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["formatVersion"], 1);
    let tenants = v["tenants"].as_array().unwrap();
    let names: Vec<&str> = tenants
        .iter()
        .map(|t| t["tenant"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["tenant-0", "tenant-1", "tenant-2"]);
    for t in [&tenants[0], &tenants[2]] {
        assert_eq!(t["apply"]["verified"], true, "{t:#}");
        assert!(
            !t["apply"]["applied"].as_array().unwrap().is_empty(),
            "{t:#}"
        );
        assert!(t.get("error").is_none(), "{t:#}");
    }
    assert!(tenants[1].get("apply").is_none(), "{:#}", tenants[1]);
    assert!(tenants[1]["error"].as_str().is_some(), "{:#}", tenants[1]);
}
