//! The command line's words and counts: every summary a plan, an apply and a reconcile print
//! says the same number of changes, resources and users as the JSON plan.

use std::collections::BTreeSet;

use mfactl::emulator::EmulatorConfig;
use mfactl::emulator::throttle::ThrottleMode;
use serde_json::Value;

use crate::common::{self, Project, code, stderr, stdout};

/// Legacy per-user MFA enabled for everyone: with the shipped methods baseline on the demo
/// tenant, changes to resources and to users in one plan.
const PER_USER_ENABLED: &str =
    "apiVersion: mfactl/v1\nkind: PerUserMfa\nmetadata: {name: legacy}\nspec:\n  state: enabled\n";

async fn project(label: &str) -> Project {
    let mut config = EmulatorConfig::new(mfactl::sandbox::demo_state());
    config.throttle = ThrottleMode::Off;
    let p = Project::start(label, config, "").await;
    common::copy_methods_baseline(&p.dir);
    p.policy("per-user.yaml", PER_USER_ENABLED);
    p
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// What a JSON plan changes, in the summaries' words, counted here from the JSON alone:
/// changes are properties, resources the tenant-wide requests, users those with per-user
/// changes (each once); a part with nothing is left out.
pub fn extent(plan: &Value) -> (String, usize, usize, usize) {
    let list = |k: &str| plan[k].as_array().cloned().unwrap_or_default();
    let (changes, user_changes) = (list("changes"), list("userChanges"));
    let properties: usize = changes
        .iter()
        .chain(&user_changes)
        .map(|c| c["properties"].as_array().unwrap().len())
        .sum();
    let users: BTreeSet<&str> = user_changes
        .iter()
        .map(|c| c["userId"].as_str().unwrap())
        .collect();
    let mut to = Vec::new();
    if !changes.is_empty() {
        to.push(plural(changes.len(), "resource", "resources"));
    }
    if !users.is_empty() {
        to.push(plural(users.len(), "user", "users"));
    }
    let text = format!(
        "{} to {}",
        plural(properties, "change", "changes"),
        to.join(" and ")
    );
    (text, properties, changes.len(), users.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_apply_and_reconcile_summaries_agree_with_the_json_plan() {
    let p = project("summaries").await;
    let o = p.run(&["plan", "-o", "json"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let plan: Value = serde_json::from_slice(&o.stdout).unwrap();
    let (extent, properties, resources, users) = extent(&plan);
    // Both kinds of change, and users who are not counted twice.
    assert!(resources > 0 && users > 1, "{extent}");
    assert!(properties > resources + users - 1, "{extent}");

    let human = stdout(&p.run(&["plan"]));
    assert_eq!(
        human.lines().next(),
        Some(format!("Tenant test: {extent}.").as_str())
    );
    let md = stdout(&p.run(&["plan", "-o", "markdown"]));
    assert!(md.contains(&format!("\nTenant test: {extent}.\n")), "{md}");

    let observed = p.run(&["reconcile", "--once"]);
    assert_eq!(code(&observed), 1, "{}", stderr(&observed));
    assert!(
        stderr(&observed).contains(&format!("test: drift, {extent} (")),
        "{}",
        stderr(&observed)
    );

    let refused = p.run(&[
        "apply",
        "--yes",
        "--max-changes",
        &(properties - 1).to_string(),
    ]);
    assert_eq!(code(&refused), 7, "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains(&format!(
            "the plan has {properties} changes, more than --max-changes {}",
            properties - 1
        )),
        "{}",
        stderr(&refused)
    );

    let applied = p.run(&["apply", "--yes"]);
    assert_eq!(code(&applied), 0, "{}", stderr(&applied));
    let err = stderr(&applied);
    assert!(err.contains(&format!("applying {extent}…")), "{err}");
    assert!(
        err.contains(&format!(
            "applied      {}",
            plural(
                plan["userChanges"].as_array().unwrap().len(),
                "per-user resource",
                "per-user resources"
            )
        )),
        "{err}"
    );
    assert!(
        stdout(&applied).contains(&format!(
            "Tenant test: applied {extent}; re-read and verified"
        )),
        "{}",
        stdout(&applied)
    );
    assert!(
        !err.contains("change(s)") && !err.contains("resource(s)"),
        "{err}"
    );

    // The same drift, enforced by reconcile, is summarised in the same words.
    let q = project("summaries-enforce").await;
    let o = q.run(&["reconcile", "--once", "--mode", "enforce"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("test: applied {extent}; re-read and verified")),
        "{}",
        stderr(&o)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_plan_names_its_tenant_and_a_different_tenant_flag_is_refused() {
    let p = project("saved-tenant").await;
    // A second tenant in the configuration: the plan file, not --tenant, says which.
    let config = std::fs::read_to_string(p.path("mfactl.yaml")).unwrap();
    let other = common::tenant_yaml(
        "other",
        "11111111-2222-4333-8444-555555555555",
        &p.h.writer,
        &p.h.emu.endpoints,
    );
    std::fs::write(
        p.path("mfactl.yaml"),
        config.replacen("tenants:\n", &format!("tenants:\n{other}"), 1),
    )
    .unwrap();
    let o = p.run(&["plan"]);
    assert_eq!(code(&o), 2, "two tenants: plan needs --tenant");
    let o = p.run(&["plan", "--tenant", "test", "--out", "plan.json"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));

    let o = p.run(&["apply", "plan.json", "--yes", "--tenant", "other"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "the plan plan.json was made for tenant test, but --tenant names other: apply it without --tenant"
        ),
        "{}",
        stderr(&o)
    );
    assert!(
        !p.log().await.iter().any(|e| e["method"] == "PATCH"),
        "refused before anything was sent"
    );

    let o = p.run(&["apply", "plan.json", "--yes"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("Tenant test: applied "),
        "{}",
        stdout(&o)
    );
    let o = p.run(&["plan", "--tenant", "test"]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
}

/// The demo tenant with security defaults off and nothing in their place: legacy per-user
/// MFA is all that requires MFA, so its state decides everyone's `mfaRequired`.
fn per_user_only(premium: bool) -> mfactl::emulator::State {
    let mut state = mfactl::sandbox::demo_state();
    let t = &mut state.tenants[0];
    t.security_defaults.is_enabled = false;
    t.premium = premium;
    state
}

/// `explain --live` reads what `explain --user` reads for the same user: the per-user MFA
/// state, wherever nothing else requires MFA; both say the same for every user.
async fn explain_live_and_user_agree(premium: bool) {
    let mut config = EmulatorConfig::new(per_user_only(premium));
    config.throttle = ThrottleMode::Off;
    let p = Project::start("explain-live", config, "").await;
    let state = per_user_only(premium);
    let o = p.run(&["explain", "--live", "-o", "json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    let users = report["users"].as_array().unwrap();
    assert!(!users.is_empty());
    let mut checked = 0;
    for u in users {
        let upn = u["userPrincipalName"].as_str().unwrap();
        let seeded = state.tenants[0]
            .users
            .iter()
            .find(|s| s.user_principal_name == upn)
            .unwrap();
        let expected = match seeded.per_user_mfa_state.as_str() {
            "enforced" => "perUserEnforced",
            "enabled" => "perUserEnabled",
            _ => "none",
        };
        assert_eq!(u["mfaRequired"], expected, "{u:#}");
        if expected != "none" && checked < 3 {
            let one = p.run(&["explain", "--live", "--user", upn, "-o", "json"]);
            assert_eq!(code(&one), 0, "{}", stderr(&one));
            let one: Value = serde_json::from_slice(&one.stdout).unwrap();
            assert_eq!(one["mfaRequired"], u["mfaRequired"], "{upn}");
            checked += 1;
        }
    }
    assert!(checked > 0, "the demo tenant has per-user MFA users");

    // The declared policy (methods only: nothing that changes who must do MFA) says the same.
    common::copy_methods_baseline(&p.dir);
    let o = p.run(&["explain", "-o", "json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let declared: Value = serde_json::from_slice(&o.stdout).unwrap();
    let declared = declared["users"].as_array().unwrap();
    assert_eq!(declared.len(), users.len());
    for (d, u) in declared.iter().zip(users) {
        assert_eq!(d["mfaRequired"], u["mfaRequired"], "{d:#}");
    }

    // The human table shows mfaRequired for every user, as the JSON does.
    let human = stdout(&p.run(&["explain", "--live"]));
    let header = human
        .lines()
        .position(|l| l.starts_with("user ") && l.ends_with("mfa required"))
        .unwrap_or_else(|| panic!("{human}"));
    let rows: Vec<Vec<&str>> = human
        .lines()
        .skip(header + 1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), users.len());
    for (row, u) in rows.iter().zip(users) {
        assert_eq!(row[0], u["userPrincipalName"], "{row:?}");
        assert_eq!(row[3], u["mfaRequired"], "{row:?}");
    }

    // The CSV has the columns docs/explain.md lists, smsSignIn last, and agrees with JSON.
    let csv = stdout(&p.run(&["explain", "--live", "-o", "csv"]));
    let mut lines = csv.lines();
    let columns: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(columns[8..], ["mfaRequired", "mfaRequiredBy", "smsSignIn"]);
    let docs = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/explain.md"),
    )
    .unwrap();
    for c in &columns {
        assert!(
            docs.contains(&format!("`{c}`")),
            "docs/explain.md lists {c}"
        );
    }
    for (line, u) in lines.zip(users) {
        let row: Vec<&str> = line.split(',').collect();
        assert_eq!(row[8], u["mfaRequired"], "{line}");
        assert_eq!(row[10], u["smsSignIn"].to_string(), "{line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_live_reads_per_user_mfa_as_explain_user_does() {
    explain_live_and_user_agree(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_live_reads_per_user_mfa_as_explain_user_does_without_p1() {
    explain_live_and_user_agree(false).await;
}

/// When Conditional Access cannot be read, who must do MFA cannot be weighed: explain says so
/// once on stderr, for the table and for one user, instead of a silent `unknown`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_says_why_mfa_required_is_unknown() {
    let mut config = EmulatorConfig::new(per_user_only(true));
    config.throttle = ThrottleMode::Off;
    let p = Project::start("explain-unweighed", config, "").await;
    p.h.add_fault(serde_json::json!({
        "method": "GET",
        "pathPrefix": "/v1.0/identity/conditionalAccess/policies",
        "count": 10,
        "kind": "status",
        "status": 403
    }))
    .await;
    let o = p.run(&["explain", "--live", "-o", "json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let warning = "mfaRequired is unknown for every user: who must do MFA before and after: reading security defaults, Conditional Access policies and authentication strengths was refused";
    assert!(stderr(&o).contains(warning), "{}", stderr(&o));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    let users = report["users"].as_array().unwrap();
    assert!(
        users.iter().all(|u| u.get("mfaRequired").is_none()),
        "{users:?}"
    );
    let upn = users[0]["userPrincipalName"].as_str().unwrap();
    let one = p.run(&["explain", "--live", "--user", upn]);
    assert_eq!(code(&one), 0, "{}", stderr(&one));
    assert!(stderr(&one).contains(warning), "{}", stderr(&one));
    assert!(
        stdout(&one).contains(
            "MFA required: unknown: security defaults, the Conditional Access policies or the authentication strengths could not be read."
        ),
        "{}",
        stdout(&one)
    );
}
