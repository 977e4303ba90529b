//! Which files are read as the declaration, and what an empty one does: through the real
//! binary against the emulator, in directories laid out like real repositories. Every
//! refusal is exit 3 with the place named, and not one request reaches the emulator.

use std::path::Path;

use serde_json::Value;

use crate::cli::Project;
use crate::common::{code, stderr, stdout};

const METHODS: &str = "apiVersion: mfactl/v1\nkind: AuthenticationMethodsPolicy\nmetadata: {name: m}\nspec:\n  methods:\n    sms: {state: enabled}\n";

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// The project's policies/ replaced by `files` (relative path, text).
fn lay_out(p: &Project, files: &[(&str, &str)]) {
    std::fs::remove_dir_all(p.dir().join("policies")).unwrap();
    std::fs::create_dir_all(p.dir().join("policies")).unwrap();
    for (rel, text) in files {
        write(&p.dir().join(rel), text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repository_root_reads_only_its_policy_files() {
    let p = Project::sandbox_tenant().await;
    // What a policy repository holds besides policies: workflows, hidden drafts that would
    // be a second document of a kind if read, the configuration, a README, state.
    lay_out(
        &p,
        &[
            ("policies/methods.yaml", METHODS),
            (
                ".github/workflows/mfactl.yml",
                "on: [push]\njobs:\n  plan:\n    runs-on: ubuntu-latest\n",
            ),
            (".drafts/methods.yaml", METHODS),
            ("policies/.wip.yaml", METHODS),
            ("README.md", "# policies\n"),
            (".mfactl/alerts.json", "{}"),
        ],
    );
    let o = p.run(&["validate", "--policies", "."]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("1 policy file(s) are valid."),
        "{}",
        stderr(&o)
    );
    // The same rule for plan: mfactl.yaml (the configuration) beside the policies is not a
    // policy either, and the plan reads the tenant as usual.
    let o = p.run(&["plan", "--policies", "."]);
    assert_eq!(code(&o), 0, "sms is enabled in the sandbox: {}", stderr(&o));
    assert!(stdout(&o).contains("in sync"), "{}", stdout(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configuration_file_named_otherwise_is_not_read_as_a_policy() {
    let p = Project::sandbox_tenant().await;
    lay_out(&p, &[("policies/methods.yaml", METHODS)]);
    let config = std::fs::read_to_string(p.dir().join("mfactl.yaml")).unwrap();
    std::fs::remove_file(p.dir().join("mfactl.yaml")).unwrap();
    // The configuration inside the policy directory, under a name of its own.
    // Its paths are relative to its own directory.
    let config = config.replace("policies: [policies]", "policies: [.]");
    assert!(config.contains("policies: [.]"));
    write(&p.dir().join("policies/tenants.yaml"), &config);
    let o = p.run(&["plan", "--config", "policies/tenants.yaml"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("in sync"), "{}", stdout(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symbolic_link_loops_are_reported_once_and_nothing_is_sent() {
    let p = Project::sandbox_tenant().await;
    lay_out(&p, &[("policies/k2/methods.yaml", METHODS)]);
    let policies = p.dir().join("policies");
    std::os::unix::fs::symlink(policies.join("k2"), policies.join("k2/sub")).unwrap();
    for verb in [&["validate"][..], &["plan"], &["apply", "--yes"]] {
        let o = p.run(verb);
        assert_eq!(code(&o), 3, "{verb:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert_eq!(
            err.matches("symbolic-link loop").count(),
            1,
            "{verb:?}: {err}"
        );
        assert!(
            err.contains("policies/k2/sub:1:1: error[MFA000]"),
            "{verb:?}: {err}"
        );
        assert!(!err.contains("sub/sub"), "{verb:?}: {err}");
    }
    // A loop through two links: a → b → a.
    lay_out(
        &p,
        &[
            ("policies/a/methods.yaml", METHODS),
            ("policies/b/readme.txt", ""),
        ],
    );
    std::os::unix::fs::symlink(policies.join("b"), policies.join("a/to-b")).unwrap();
    std::os::unix::fs::symlink(policies.join("a"), policies.join("b/to-a")).unwrap();
    let o = p.run(&["apply", "--yes"]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert_eq!(
        stderr(&o).matches("symbolic-link loop").count(),
        1,
        "{}",
        stderr(&o)
    );
    assert!(
        p.h.requests().await.is_empty(),
        "nothing reaches the tenant"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_declaration_is_refused_by_every_verb_and_says_where_it_looked() {
    let p = Project::sandbox_tenant().await;
    let cases: [(&str, &[(&str, &str)]); 3] = [
        ("an empty file", &[("policies/methods.yaml", "")]),
        ("a separator only", &[("policies/methods.yaml", "---\n")]),
        (
            "comments and empty documents",
            &[
                ("policies/a.yaml", "# nothing yet\n---\n---\n"),
                ("policies/b.yml", "\n"),
            ],
        ),
    ];
    for (what, files) in cases {
        lay_out(&p, files);
        for verb in [
            &["validate"][..],
            &["plan"],
            &["apply", "--yes"],
            &["reconcile", "--once", "--mode", "enforce"],
        ] {
            let o = p.run(verb);
            assert_eq!(code(&o), 3, "{what}, {verb:?}: {}", stderr(&o));
            let err = stderr(&o);
            assert!(err.contains("error[MFA037]"), "{what}, {verb:?}: {err}");
            assert!(
                err.contains("no policy document is declared in")
                    && err.contains(&p.dir().join("policies").display().to_string()),
                "{what}, {verb:?}: says where it looked: {err}"
            );
            assert!(!stdout(&o).contains("in sync"), "{what}, {verb:?}");
        }
    }
    // A folder with no policy file at all is MFA000, not "in sync" either.
    lay_out(&p, &[("policies/notes.txt", "METHODS")]);
    let o = p.run(&["plan"]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(stderr(&o).contains("holds no *.yaml or *.yml policy file"));
    assert!(
        p.h.requests().await.is_empty(),
        "not one read, not one write"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_baseline_moves_everyone_from_security_defaults_to_conditional_access() {
    let p = Project::sandbox_tenant().await;
    crate::common::copy_whole_baseline(p.dir());
    let before = explain(&p);
    assert!(!before.is_empty());
    let enabled = |u: &&Value| u["mfaRequired"] != "disabled";
    assert!(
        before
            .iter()
            .filter(enabled)
            .filter(|u| u["guest"] == false)
            .all(|u| u["mfaRequired"] == "securityDefaults"),
        "the demo tenant has security defaults on"
    );
    let o = p.run(&["apply", "--yes"]);
    let err = stderr(&o);
    assert_eq!(code(&o), 0, "{err}");
    assert!(err.contains("security defaults were off"), "{err}");
    let after = explain(&p);
    assert_eq!(after.len(), before.len());
    // Every enabled account is required MFA by the policy now, but the break-glass accounts,
    // whom it excludes on purpose.
    for u in after.iter().filter(enabled) {
        if u["excludedBy"].as_array().is_some_and(|e| !e.is_empty()) {
            assert_eq!(u["mfaRequired"], "none", "{u:#}");
        } else {
            assert_eq!(u["mfaRequired"], "conditionalAccess", "{u:#}");
            assert_eq!(u["requiredBy"][0], "Require MFA for all users", "{u:#}");
        }
    }
    assert!(
        after
            .iter()
            .any(|u| u["excludedBy"][0] == "Require MFA for all users")
    );
    let again = p.run(&["plan"]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readmes_first_command_moves_the_sandbox_off_security_defaults_with_nobody_unprotected()
{
    let p = Project::sandbox_tenant().await;
    crate::common::copy_whole_baseline(p.dir());
    let o = p.run(&["apply", "--sandbox", "--yes"]);
    let (done, out) = (stdout(&o), stderr(&o));
    assert_eq!(code(&o), 0, "{done}\n{out}");
    assert!(done.contains("re-read and verified"), "{done}");
    // apply shows its plan on stderr (stdout is for the result).
    // The steps in the order sent: report-only creates, security defaults off, enables.
    let at = |needle: &str| {
        out.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} not in the plan:\n{out}"))
    };
    let create = at("+ conditionalAccessPolicies/Require MFA for all users  (POST");
    let switch = at("~ identitySecurityDefaultsEnforcementPolicy");
    let enable = at("~ conditionalAccessPolicies/Require MFA for all users  (PATCH");
    assert!(create < switch && switch < enable, "{out}");
    // Who must do MFA, before and after: nobody loses it, the break-glass accounts are left
    // out on purpose.
    let line = |what: &str| {
        out.lines()
            .find(|l| l.trim_start().starts_with(what))
            .unwrap_or_else(|| panic!("no {what:?} line in:\n{out}"))
            .split_whitespace()
            .filter_map(|w| w.parse::<usize>().ok())
            .collect::<Vec<_>>()
    };
    assert_eq!(line("lose their MFA requirement"), [0, 0], "{out}");
    assert_eq!(line("newly blocked"), [0, 0], "{out}");
    assert_eq!(line("excluded on purpose (break-glass)"), [2, 0], "{out}");
    assert!(
        out.contains("security defaults were off")
            && out.contains("before the first Conditional Access policy was enabled"),
        "{out}"
    );
}

/// `explain --live -o json` users: the tenant as it is.
fn explain(p: &Project) -> Vec<Value> {
    let o = p.run(&["explain", "--live", "-o", "json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    v["users"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_writes_its_audit_log_where_mfactl_audit_log_says() {
    let p = Project::sandbox_tenant().await;
    let log = p.dir().join("sandbox-audit.jsonl");
    let o = p
        .command(&["apply", "--sandbox", "--yes"])
        .env("MFACTL_AUDIT_LOG", "sandbox-audit.jsonl")
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let records: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!records.is_empty());
    assert!(
        records.iter().all(|r| r["tenant"] == "sandbox"),
        "{records:?}"
    );
}
