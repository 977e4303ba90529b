//! Names beside ids: the human and Markdown plans of the sandbox write a name after every
//! object id they show, the JSON plan keeps ids and adds `names`, an id only the live tenant
//! holds is named from one read by id (and stays alone when that read finds nothing, without
//! failing the plan), and `explain --user` names the groups of its reasoning.

use mfactl::plan::names::guid_spans;
use serde_json::{Value, json};

use crate::cli::Project;
use crate::common::{self, code, stderr, stdout};

/// A member of the sandbox tenant.
const USER: &str = "jonas.rossi7@contoso1.onmicrosoft.com";

/// The break-glass group the shipped policies exclude, as they name it.
const BREAK_GLASS: &str = "Break Glass Accounts";

/// `mfactl plan --sandbox` in the crate root (the shipped policies), with `args`.
fn sandbox_plan(args: &[&str]) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut all = vec!["plan", "--sandbox", "--color", "never"];
    all.extend(args);
    let o = common::mfactl(root, &all, "").output().unwrap();
    assert_eq!(code(&o), 1, "drift: {}", stderr(&o));
    stdout(&o)
}

/// Every object id in `text`, each with what follows it on its line; fails unless each is
/// followed by ` (name)`.
fn assert_every_id_named(text: &str) -> Vec<(String, String)> {
    let mut named = Vec::new();
    for line in text.lines() {
        for (start, end) in guid_spans(line) {
            let rest = &line[end..];
            let name = rest
                .strip_prefix(" (")
                .and_then(|r| r.split_once(')'))
                .map(|(name, _)| name)
                .filter(|name| !name.is_empty())
                .unwrap_or_else(|| panic!("no name after the id in {line:?}\n{text}"));
            named.push((line[start..end].to_string(), name.to_string()));
        }
    }
    named
}

#[test]
fn sandbox_plans_show_a_name_beside_every_id() {
    let human = sandbox_plan(&[]);
    let markdown = sandbox_plan(&["-o", "markdown"]);
    let plan: Value = serde_json::from_str(&sandbox_plan(&["-o", "json"])).unwrap();
    let names = plan["names"].as_object().expect("a names map");
    for text in [&human, &markdown] {
        let named = assert_every_id_named(text);
        assert!(
            named.iter().any(|(_, n)| n == BREAK_GLASS),
            "the break-glass group is named: {named:?}"
        );
        assert!(named.iter().any(|(_, n)| n == "Global Administrator"));
        assert!(named.iter().any(|(_, n)| n == "Phishing-resistant MFA"));
        for (id, name) in named {
            assert_eq!(names[&id], json!(name), "the JSON plan names {id} alike");
        }
    }
    // The JSON plan keeps ids as Graph holds them: every one of them is named beside.
    let changes = plan["changes"].to_string();
    let ids: Vec<&str> = guid_spans(&changes)
        .into_iter()
        .map(|(s, e)| &changes[s..e])
        .collect();
    assert!(ids.len() > 10, "{changes}");
    assert!(!changes.contains(BREAK_GLASS), "no name inside a value");
    for id in ids {
        assert!(names.contains_key(id), "{id} has no name in {names:?}");
    }
    insta::assert_snapshot!("sandbox_plan_human", human);
    insta::assert_snapshot!("sandbox_plan_markdown", markdown);
}

/// A group of the tenant that the shipped policies do not name, and its display name.
fn other_group(state: &mfactl::emulator::State) -> (String, String) {
    let g = state.tenants[0]
        .groups
        .iter()
        .find(|g| g.display_name != BREAK_GLASS)
        .expect("a group");
    (g.id.clone(), g.display_name.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_only_the_tenant_holds_is_named_from_a_read_by_id_or_left_alone() {
    let mut state = mfactl::sandbox::demo_state();
    let (group, group_name) = other_group(&state);
    let missing = "0badc0de-0000-4000-8000-000000000000";
    state.tenants[0].authentication_methods_policy["systemCredentialPreferences"]["excludeTargets"] = json!([
        {"id": group, "targetType": "group"},
        {"id": missing, "targetType": "group"}
    ]);
    let p = Project::new(state).await;

    let o = p.run(&["plan"]);
    assert_eq!(
        code(&o),
        1,
        "a missing group does not fail the plan: {}",
        stderr(&o)
    );
    let human = stdout(&o);
    assert!(
        human.contains(&format!("\"id\": \"{group} ({group_name})\"")),
        "{human}"
    );
    assert!(
        human.contains(&format!("\"id\": \"{missing}\",")),
        "{human}"
    );
    assert!(
        human.contains(&format!("({BREAK_GLASS})\"")),
        "the declared group keeps the name the files write: {human}"
    );
    let log = p.h.requests().await;
    let by_id: Vec<&Value> = log
        .iter()
        .filter(|e| {
            [&group, missing]
                .iter()
                .any(|id| e["path"] == format!("/v1.0/groups/{id}"))
        })
        .collect();
    assert_eq!(
        by_id.len(),
        2,
        "one read by id for each id no file names, no more: {by_id:#?}"
    );

    let o = p.run(&["plan", "-o", "json"]);
    let plan: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(plan["names"][&group], json!(group_name));
    assert!(plan["names"].get(missing).is_none(), "{}", plan["names"]);

    // explain reads the live policy's groups' names too.
    let o = p.run(&["explain", "--live", "--user", USER]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains(&format!("group {group} ({group_name})")),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_names_the_groups_of_its_reasoning() {
    let p = Project::sandbox_tenant().await;
    let o = p.run(&["explain", "--user", USER]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    let step = text
        .lines()
        .find(|l| l.contains("System-preferred MFA"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(step.contains(&format!("({BREAK_GLASS})")), "{step}");
    let steps: String = text.lines().skip(1).collect::<Vec<_>>().join("\n");
    assert_every_id_named(&steps);
}
