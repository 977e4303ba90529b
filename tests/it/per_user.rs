//! The per-user kinds (`PerUserMfa`, `SignInPreferences`), the plan's impact section, the
//! lockout guard and `mfactl explain`, through the real binary against the emulator. Every
//! expected value is computed from the emulator state the test built, never from mfactl.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::process::Output;

use mfactl::emulator::EmulatorConfig;
use mfactl::emulator::generate::{GenerateSpec, READER_SECRET, generate};
use mfactl::emulator::state::{State, Tenant, User};
use mfactl::emulator::throttle::ThrottleMode;
use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::common::{self, Project, code, stderr, stdout};

const SYSTEM_PREFERRED: &str = "isSystemPreferredAuthenticationMethodEnabled";
const PREFERRED: &str = "userPreferredMethodForSecondaryAuthentication";

/// A project beside an emulator that does not throttle, with `files` in `policies/`.
/// How many members `plan` (JSON) leaves without an MFA requirement, for `--allow-unprotected`:
/// these tests change legacy per-user MFA on tenants with neither security defaults nor
/// Conditional Access, where turning it off leaves members unprotected and the guard refuses
/// (`coverage.rs` tests the guard itself).
fn unprotected(plan: &Value) -> String {
    plan["coverage"]["lost"]["members"]
        .as_u64()
        .unwrap_or_default()
        .to_string()
}

async fn project(state: State, files: &[(&str, &str)]) -> Project {
    let mut config = EmulatorConfig::new(state);
    config.throttle = ThrottleMode::Off;
    let p = Project::start("per-user", config, "").await;
    for (name, text) in files {
        p.policy(name, text);
    }
    p
}

impl Project {
    async fn clear_log(&self) {
        let r = self
            .h
            .call(Method::DELETE, "/_emulator/requests", None, None)
            .await;
        assert_eq!(r.status, 204);
    }

    /// The emulator's tenant as it is now.
    async fn tenant(&self) -> Tenant {
        let r = self
            .h
            .call(Method::GET, "/_emulator/state", None, None)
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let mut state: State = serde_json::from_value(r.body).expect("a state");
        state.tenants.remove(0)
    }

    /// Every row of the registration-details report, read page by page.
    async fn report(&self) -> Vec<Value> {
        let token = self.h.token_for(&self.h.reader, READER_SECRET).await;
        let mut url = self
            .h
            .url("/v1.0/reports/authenticationMethods/userRegistrationDetails?$top=100");
        let mut rows = Vec::new();
        let mut pages = 0;
        loop {
            let resp = self
                .h
                .http
                .get(&url)
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            let page = common::reply(resp).await;
            assert_eq!(page.status, 200, "{}", page.body);
            rows.extend(page.body["value"].as_array().unwrap().iter().cloned());
            pages += 1;
            match page.body["@odata.nextLink"].as_str() {
                Some(next) => url = next.to_string(),
                None => break,
            }
        }
        assert!(pages > 1, "the report is read across pages");
        rows
    }
}

fn json_out(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", stdout(o), stderr(o)))
}

fn patches(log: &[Value]) -> Vec<&Value> {
    log.iter().filter(|e| e["method"] == "PATCH").collect()
}

/// A generated tenant with six groups: All Staff, Break Glass Accounts, MFA Pilot, Platform
/// Team, Engineering (which holds Platform Team) and Finance, each name used once.
fn generated(users: usize, seed: u64) -> State {
    generate(&GenerateSpec {
        users,
        groups: 6,
        tenants: 1,
        seed,
    })
}

fn group_id(t: &Tenant, name: &str) -> String {
    let ids: Vec<&str> = t
        .groups
        .iter()
        .filter(|g| g.display_name == name)
        .map(|g| g.id.as_str())
        .collect();
    assert_eq!(ids.len(), 1, "exactly one group named {name}");
    ids[0].to_string()
}

/// The user ids (lower case) a group holds, through nested groups.
fn members(t: &Tenant, name: &str) -> HashSet<String> {
    fn walk(t: &Tenant, id: &str, seen: &mut HashSet<String>, out: &mut HashSet<String>) {
        if !seen.insert(id.to_ascii_lowercase()) {
            return;
        }
        let group = t
            .groups
            .iter()
            .find(|g| g.id.eq_ignore_ascii_case(id))
            .unwrap();
        for m in &group.members {
            if t.groups.iter().any(|g| g.id.eq_ignore_ascii_case(m)) {
                walk(t, m, seen, out);
            } else {
                out.insert(m.to_ascii_lowercase());
            }
        }
    }
    let mut out = HashSet::new();
    walk(t, &group_id(t, name), &mut HashSet::new(), &mut out);
    out
}

fn has(u: &User, method: &str) -> bool {
    u.methods_registered.iter().any(|m| m == method)
}

fn lower(id: &str) -> String {
    id.to_ascii_lowercase()
}

/// A user's own system-preferred flag as the signInPreferences GET shows it.
fn own_flag(u: &User) -> bool {
    u.sign_in_preferences
        .is_system_preferred_authentication_method_enabled
        .unwrap_or(false)
}

/// Disables the first `n` enabled accounts that `pick` chooses.
fn disable(t: &mut Tenant, pick: impl Fn(&User) -> bool, n: usize) {
    let mut left = n;
    for u in t.users.iter_mut().skip(2) {
        if left > 0 && u.account_enabled && pick(u) {
            u.account_enabled = false;
            left -= 1;
        }
    }
    assert_eq!(left, 0, "not enough users to disable");
}

/// Gives users a mix of own system-preferred flags: on, off and never set.
fn mix_own_flags(t: &mut Tenant) {
    for (i, u) in t.users.iter_mut().enumerate() {
        u.sign_in_preferences
            .is_system_preferred_authentication_method_enabled = match i % 3 {
            0 => Some(true),
            1 => Some(false),
            _ => None,
        };
    }
}

fn configuration<'a>(policy: &'a mut Value, id: &str) -> &'a mut Map<String, Value> {
    policy["authenticationMethodConfigurations"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no {id} configuration"))
        .as_object_mut()
        .unwrap()
}

/// The `$batch` POSTs in the log and how many PATCHes each carried.
fn patches_per_batch(log: &[Value]) -> Vec<usize> {
    log.iter()
        .filter(|e| e["method"] == "POST" && e["path"].as_str().unwrap().ends_with("/$batch"))
        .map(|e| {
            e["body"]["requests"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["method"].as_str().unwrap().eq_ignore_ascii_case("PATCH"))
                .count()
        })
        .filter(|&n| n > 0)
        .collect()
}

/// Asserts that every per-user PATCH went inside a `$batch` (at most twenty a POST), that
/// nothing else was PATCHed, and returns the user ids PATCHed at `leaf`.
fn batched_user_patches(log: &[Value], leaf: &str) -> BTreeSet<String> {
    let all = patches(log);
    for p in &all {
        assert!(
            p["batchId"].is_string(),
            "a PATCH outside $batch: {}",
            p["path"]
        );
        assert_eq!(p["status"], 204, "{p}");
    }
    let per_post = patches_per_batch(log);
    assert!(
        per_post.iter().all(|&n| n <= 20),
        "more than 20 requests in one $batch: {per_post:?}"
    );
    assert_eq!(per_post.iter().sum::<usize>(), all.len(), "{per_post:?}");
    let ids: Vec<String> = all
        .iter()
        .map(|p| {
            let path = p["path"].as_str().unwrap();
            let rest = path
                .strip_prefix("/beta/users/")
                .unwrap_or_else(|| panic!("not a per-user PATCH: {path}"));
            let (id, tail) = rest.split_once('/').unwrap();
            assert_eq!(tail, format!("authentication/{leaf}"), "{path}");
            lower(id)
        })
        .collect();
    let set: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(set.len(), ids.len(), "each user PATCHed once");
    set
}

fn per_user_yaml(upn: &str) -> String {
    format!(
        "apiVersion: mfactl/v1\nkind: PerUserMfa\nmetadata: {{name: legacy}}\nspec:\n  state: disabled\n  exceptions:\n    - group: Engineering\n      state: enforced\n    - user: {upn}\n      state: enabled\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_user_mfa_changes_exactly_the_users_whose_state_differs_through_batch() {
    let mut state = generated(200, 11);
    // Disabled accounts are not in the registration-details report, but everyone is `state`.
    disable(
        &mut state.tenants[0],
        |u| u.per_user_mfa_state == "enforced",
        2,
    );
    let t = &state.tenants[0];
    let engineering = members(t, "Engineering");
    // The user exception names a member of Engineering and is written after the group
    // exception: it still decides, because an exception naming the user comes first.
    let special = t
        .users
        .iter()
        .find(|u| engineering.contains(&lower(&u.id)) && u.per_user_mfa_state == "disabled")
        .expect("an Engineering member with per-user MFA disabled")
        .clone();
    let want = |u: &User| {
        if u.id == special.id {
            "enabled"
        } else if engineering.contains(&lower(&u.id)) {
            "enforced"
        } else {
            "disabled"
        }
    };
    let expected: BTreeSet<(String, String, String)> = t
        .users
        .iter()
        .filter(|u| u.per_user_mfa_state != want(u))
        .map(|u| {
            (
                u.user_principal_name.clone(),
                u.per_user_mfa_state.clone(),
                want(u).to_string(),
            )
        })
        .collect();
    assert!(
        expected.len() > 40,
        "several $batch POSTs: {}",
        expected.len()
    );
    assert!(
        t.users
            .iter()
            .any(|u| !u.account_enabled && u.per_user_mfa_state != want(u)),
        "a disabled account is managed too (the seed must give one)"
    );
    let p = project(
        state.clone(),
        &[(
            "per-user.yaml",
            &per_user_yaml(&special.user_principal_name),
        )],
    )
    .await;

    let plan = p.run(&["plan", "-o", "json"]);
    assert_eq!(code(&plan), 1, "{}", stderr(&plan));
    let plan = json_out(&plan);
    assert_eq!(plan["changes"], json!([]));
    let changes = plan["userChanges"].as_array().unwrap();
    let found: BTreeSet<(String, String, String)> = changes
        .iter()
        .map(|c| {
            assert_eq!(c["kind"], "perUserMfa");
            assert_eq!(
                c["path"],
                format!(
                    "/beta/users/{}/authentication/requirements",
                    c["userId"].as_str().unwrap()
                )
            );
            let after = c["properties"][0]["after"].as_str().unwrap().to_string();
            assert_eq!(c["properties"].as_array().unwrap().len(), 1);
            assert_eq!(c["properties"][0]["name"], "perUserMfaState");
            assert_eq!(c["body"], json!({ "perUserMfaState": after }));
            (
                c["userPrincipalName"].as_str().unwrap().to_string(),
                c["properties"][0]["before"].as_str().unwrap().to_string(),
                after,
            )
        })
        .collect();
    assert_eq!(found.len(), changes.len(), "one change per user");
    assert_eq!(found, expected);
    assert!(found.contains(&(
        special.user_principal_name.clone(),
        special.per_user_mfa_state.clone(),
        "enabled".into()
    )));

    p.clear_log().await;
    let apply = p.run(&["apply", "--yes", "--allow-unprotected", &unprotected(&plan)]);
    assert_eq!(code(&apply), 0, "{}", stderr(&apply));
    let log = p.log().await;
    let patched = batched_user_patches(&log, "requirements");
    let expected_ids: BTreeSet<String> = t
        .users
        .iter()
        .filter(|u| u.per_user_mfa_state != want(u))
        .map(|u| lower(&u.id))
        .collect();
    assert_eq!(patched, expected_ids);
    assert!(patches_per_batch(&log).len() >= 3);

    let after = p.tenant().await;
    assert_eq!(after.users.len(), t.users.len());
    // As Entra stores it: `enabled` is `enforced` for a user who registered an MFA method.
    let stored = |u: &User| {
        let registered = u
            .methods_registered
            .iter()
            .any(|m| mfactl::msgraph::is_mfa_registration(m));
        match want(u) {
            "enabled" if registered => "enforced",
            other => other,
        }
    };
    for u in &after.users {
        assert_eq!(
            u.per_user_mfa_state,
            stored(u),
            "{} after apply",
            u.user_principal_name
        );
    }

    p.clear_log().await;
    let again = p.run(&["plan", "-o", "json"]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    let again = json_out(&again);
    assert_eq!(again["inSync"], true);
    assert!(again.get("userChanges").is_none(), "{again}");
    assert!(patches(&p.log().await).is_empty());
}

fn sign_in_yaml(group: &str) -> String {
    format!(
        "apiVersion: mfactl/v1\nkind: SignInPreferences\nmetadata: {{name: default-methods}}\nspec:\n  rules:\n    - name: engineering\n      group: {group}\n      {SYSTEM_PREFERRED}: false\n    - group: all_users\n      {PREFERRED}: push\n      {SYSTEM_PREFERRED}: true\n"
    )
}

/// What the plan of [`sign_in_yaml`] must hold for one user: the property changes, in the
/// plan's order, and why the default method is skipped, if it is.
fn sign_in_expectation(
    u: &User,
    engineering: &HashSet<String>,
) -> (Vec<Value>, Option<&'static str>) {
    let want_system = !engineering.contains(&lower(&u.id));
    let mut properties = Vec::new();
    if own_flag(u) != want_system {
        properties
            .push(json!({"name": SYSTEM_PREFERRED, "before": own_flag(u), "after": want_system}));
    }
    let live = &u
        .sign_in_preferences
        .user_preferred_method_for_secondary_authentication;
    let mut skipped = None;
    if live.as_deref() != Some("push") {
        if !u.account_enabled {
            skipped = Some("no registration details (a disabled account, or not in the report)");
        } else if !has(u, "microsoftAuthenticatorPush") {
            skipped = Some(
                "push needs a registered microsoftAuthenticatorPush or microsoftAuthenticatorPasswordless",
            );
        } else {
            properties.push(json!({"name": PREFERRED, "before": live, "after": "push"}));
        }
    }
    (properties, skipped)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_preferences_change_only_differing_users_and_skip_those_without_the_method() {
    let mut state = generated(150, 5);
    mix_own_flags(&mut state.tenants[0]);
    disable(
        &mut state.tenants[0],
        |u| {
            has(u, "microsoftAuthenticatorPush")
                && u.sign_in_preferences
                    .user_preferred_method_for_secondary_authentication
                    .is_none()
        },
        2,
    );
    let t = state.tenants[0].clone();
    let engineering = members(&t, "Engineering");
    let mut expected_changes: BTreeMap<String, Value> = BTreeMap::new();
    let mut expected_skipped: BTreeMap<String, &str> = BTreeMap::new();
    for u in &t.users {
        let (properties, skipped) = sign_in_expectation(u, &engineering);
        if let Some(reason) = skipped {
            expected_skipped.insert(u.user_principal_name.clone(), reason);
        }
        if !properties.is_empty() {
            expected_changes.insert(u.user_principal_name.clone(), json!(properties));
        }
    }
    assert!(expected_changes.len() > 10 && expected_changes.len() < t.users.len());
    assert!(expected_skipped.len() > 10);
    let p = project(state, &[("sign-in.yaml", &sign_in_yaml("Engineering"))]).await;

    let plan_out = p.run(&["plan", "-o", "json"]);
    assert_eq!(code(&plan_out), 1, "{}", stderr(&plan_out));
    let plan = json_out(&plan_out);
    let changes = plan["userChanges"].as_array().unwrap();
    let mut found: BTreeMap<String, Value> = BTreeMap::new();
    for c in changes {
        assert_eq!(c["kind"], "signInPreferences");
        let id = c["userId"].as_str().unwrap();
        assert_eq!(
            c["path"],
            format!("/beta/users/{id}/authentication/signInPreferences")
        );
        let body: Map<String, Value> = c["properties"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["name"].as_str().unwrap().to_string(), p["after"].clone()))
            .collect();
        assert_eq!(
            c["body"],
            Value::Object(body),
            "the body holds what changes"
        );
        found.insert(
            c["userPrincipalName"].as_str().unwrap().to_string(),
            c["properties"].clone(),
        );
    }
    assert_eq!(found.len(), changes.len(), "one change per user");
    assert_eq!(found, expected_changes);
    let skipped: BTreeMap<String, String> = plan["skippedUsers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            assert_eq!(s["property"], PREFERRED);
            (
                s["userPrincipalName"].as_str().unwrap().to_string(),
                s["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        skipped,
        expected_skipped
            .iter()
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect::<BTreeMap<_, _>>()
    );
    // The catch-all after the specific rule is meant to be overridden: no overlap reported.
    assert!(plan.get("overlaps").is_none(), "{:?}", plan["overlaps"]);

    // The human plan names the first ten users, in the JSON's order, then counts the rest.
    let human = p.run(&["plan"]);
    assert_eq!(code(&human), 1);
    let text = stdout(&human);
    let mut block = format!(
        "\n~ sign-in preferences (users/{{id}}/authentication/signInPreferences): {} user(s)\n",
        changes.len()
    );
    for c in changes.iter().take(10) {
        let line: Vec<String> = c["properties"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                format!(
                    "{}: {} → {}",
                    p["name"].as_str().unwrap(),
                    p["before"],
                    p["after"]
                )
            })
            .collect();
        block.push_str(&format!(
            "    {}: {}\n",
            c["userPrincipalName"].as_str().unwrap(),
            line.join("; ")
        ));
    }
    block.push_str(&format!(
        "    … and {} more (every user is in `-o json`)\n",
        changes.len() - 10
    ));
    assert!(text.contains(&block), "expected\n{block}\nin\n{text}");
    let mut skipped_block = format!(
        "\n! Skipped: {} user(s) cannot take a declared value:\n",
        plan["skippedUsers"].as_array().unwrap().len()
    );
    for s in plan["skippedUsers"].as_array().unwrap().iter().take(10) {
        skipped_block.push_str(&format!(
            "    {}: {PREFERRED} not set: {}\n",
            s["userPrincipalName"].as_str().unwrap(),
            s["reason"].as_str().unwrap()
        ));
    }
    skipped_block.push_str(&format!("    … and {} more\n", expected_skipped.len() - 10));
    assert!(
        text.contains(&skipped_block),
        "expected\n{skipped_block}\nin\n{text}"
    );

    p.clear_log().await;
    let apply = p.run(&["apply", "--yes"]);
    assert_eq!(code(&apply), 0, "{}", stderr(&apply));
    let log = p.log().await;
    let patched = batched_user_patches(&log, "signInPreferences");
    let by_upn: HashMap<&str, &User> = t
        .users
        .iter()
        .map(|u| (u.user_principal_name.as_str(), u))
        .collect();
    let expected_ids: BTreeSet<String> = expected_changes
        .keys()
        .map(|upn| lower(&by_upn[upn.as_str()].id))
        .collect();
    assert_eq!(patched, expected_ids);
    for e in patches(&log) {
        assert!(e["body"].get(PREFERRED).is_none_or(|v| v == "push"), "{e}");
    }

    let after = p.tenant().await;
    for (u, before) in after.users.iter().zip(&t.users) {
        assert_eq!(u.id, before.id);
        let want_system = !engineering.contains(&lower(&u.id));
        assert_eq!(own_flag(u), want_system, "{}", u.user_principal_name);
        let preferred = u
            .sign_in_preferences
            .user_preferred_method_for_secondary_authentication
            .as_deref();
        if expected_skipped.contains_key(&u.user_principal_name) {
            assert_eq!(
                preferred,
                before
                    .sign_in_preferences
                    .user_preferred_method_for_secondary_authentication
                    .as_deref(),
                "a skipped user keeps their default: {}",
                u.user_principal_name
            );
        } else {
            assert_eq!(preferred, Some("push"), "{}", u.user_principal_name);
        }
    }

    p.clear_log().await;
    let again = p.run(&["plan", "-o", "json"]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    let again = json_out(&again);
    assert_eq!(again["inSync"], true);
    assert!(again.get("userChanges").is_none());
    assert_eq!(
        again["skippedUsers"].as_array().unwrap().len(),
        expected_skipped.len(),
        "the skipped users are still listed, and are not drift"
    );
    assert!(patches(&p.log().await).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_that_overlap_through_membership_are_reported_with_the_user_count() {
    let state = generated(120, 3);
    let t = &state.tenants[0];
    let engineering = members(t, "Engineering");
    let staff = members(t, "All Staff");
    let pilot = members(t, "MFA Pilot");
    let both = engineering.intersection(&staff).count();
    let pilot_and_staff = pilot.intersection(&staff).count();
    assert!(both > 0 && pilot_and_staff > 0);
    assert!(both < staff.len(), "a real overlap, not a copy");
    let yaml = format!(
        "apiVersion: mfactl/v1\nkind: SignInPreferences\nmetadata: {{name: overlap}}\nspec:\n  rules:\n    - group: Engineering\n      {SYSTEM_PREFERRED}: false\n    - group: MFA Pilot\n      {PREFERRED}: oath\n    - group: All Staff\n      {SYSTEM_PREFERRED}: true\n      {PREFERRED}: push\n"
    );
    let p = project(state.clone(), &[("overlap.yaml", &yaml)]).await;
    let plan = p.run(&["plan", "-o", "json"]);
    assert_eq!(code(&plan), 1, "{}", stderr(&plan));
    let plan = json_out(&plan);
    let overlaps = plan["overlaps"].as_array().expect("overlaps");
    let summary: Vec<(String, String, String, u64)> = overlaps
        .iter()
        .map(|o| {
            (
                o["property"].as_str().unwrap().to_string(),
                o["winner"].as_str().unwrap().to_string(),
                o["shadowed"].as_str().unwrap().to_string(),
                o["users"].as_u64().unwrap(),
            )
        })
        .collect();
    let (eng, pil, all) = (
        group_id(t, "Engineering"),
        group_id(t, "MFA Pilot"),
        group_id(t, "All Staff"),
    );
    assert_eq!(summary.len(), 2, "{summary:#?}");
    let find = |property: &str| {
        summary
            .iter()
            .find(|o| o.0 == property)
            .unwrap_or_else(|| panic!("no overlap for {property}: {summary:#?}"))
    };
    let system = find(SYSTEM_PREFERRED);
    assert!(
        system
            .1
            .ends_with(&format!("overlap.yaml:6:7 (group {eng})")),
        "{}",
        system.1
    );
    assert!(
        system
            .2
            .ends_with(&format!("overlap.yaml:10:7 (group {all})")),
        "{}",
        system.2
    );
    assert_eq!(system.3, both as u64);
    let preferred = find(PREFERRED);
    assert!(
        preferred
            .1
            .ends_with(&format!("overlap.yaml:8:7 (group {pil})")),
        "{}",
        preferred.1
    );
    assert!(
        preferred
            .2
            .ends_with(&format!("overlap.yaml:10:7 (group {all})"))
    );
    assert_eq!(preferred.3, pilot_and_staff as u64);
    for (id, name) in [
        (&eng, "Engineering"),
        (&all, "All Staff"),
        (&pil, "MFA Pilot"),
    ] {
        assert_eq!(plan["names"][id.as_str()], name, "{}", plan["names"]);
    }
    // For people, each group's name follows its id.
    let human = stdout(&p.run(&["plan"]));
    assert!(
        human.contains(&format!(
            "! Overlap: {both} user(s) are matched by {} and by {}; for {SYSTEM_PREFERRED} the first decides.",
            system.1.replace(&eng, &format!("{eng} (Engineering)")),
            system.2.replace(&all, &format!("{all} (All Staff)"))
        )),
        "{human}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_prints_the_new_warnings_with_their_positions_and_exits_0() {
    let bad = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/policies/bad");
    let read = |f: &str| std::fs::read_to_string(bad.join(f)).unwrap();
    let p = project(
        generated(10, 1),
        &[
            ("per-user.yaml", &read("mfa025-same-group-twice.yaml")),
            ("sign-in.yaml", &read("mfa026-rule-after-all-users.yaml")),
        ],
    )
    .await;
    let o = p.run(&["validate"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().collect();
    let warning = |at: &str, code: &str| {
        lines
            .iter()
            .find(|l| {
                l.contains(&format!("per-user.yaml:{at}: warning[{code}]: "))
                    || l.contains(&format!("sign-in.yaml:{at}: warning[{code}]: "))
            })
            .unwrap_or_else(|| panic!("no {code} warning at {at} in:\n{err}"))
            .to_string()
    };
    let same = warning("10:14", "MFA025");
    assert!(same.starts_with("policies/per-user.yaml:10:14: "), "{same}");
    assert!(
        same.contains("per-user.yaml:8:7"),
        "names the earlier exception: {same}"
    );
    let shadowed = warning("11:7", "MFA026");
    assert!(
        shadowed.starts_with("policies/sign-in.yaml:11:7: "),
        "{shadowed}"
    );
    assert!(
        shadowed.contains("sign-in.yaml:7:7 sets it first"),
        "{shadowed}"
    );
    assert_eq!(
        lines.iter().filter(|l| l.contains("warning[")).count(),
        2,
        "{err}"
    );
    assert!(!err.contains("error["), "{err}");
    assert!(err.contains("2 policy file(s) are valid."), "{err}");

    let repeats = bad.join("mfa025-rule-repeats-a-property.yaml");
    let o = p.run(&["validate", "--policies", repeats.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("mfa025-rule-repeats-a-property.yaml:13:7: warning[MFA025]: "),
        "{}",
        stderr(&o)
    );
    assert!(p.log().await.is_empty(), "validate is offline");
}

/// The state the methods policy of `explain` tests uses: telephony on, passkeys for
/// Engineering (Platform Team excluded), Authenticator for All Staff (guests left out),
/// software OATH off, hardware OATH on, and system-preferred MFA `scp_state` for everyone
/// but MFA Pilot.
fn explain_state(users: usize, scp_state: &str) -> State {
    let mut state = generated(users, 21);
    let t = &mut state.tenants[0];
    mix_own_flags(t);
    let (pilot, engineering, platform, staff, glass) = (
        group_id(t, "MFA Pilot"),
        group_id(t, "Engineering"),
        group_id(t, "Platform Team"),
        group_id(t, "All Staff"),
        group_id(t, "Break Glass Accounts"),
    );
    let policy = &mut t.authentication_methods_policy;
    policy["systemCredentialPreferences"]["state"] = json!(scp_state);
    policy["systemCredentialPreferences"]["excludeTargets"] =
        json!([{"id": pilot, "targetType": "group"}]);
    let fido2 = configuration(policy, "Fido2");
    fido2["includeTargets"][0]["id"] = json!(engineering);
    fido2["excludeTargets"] = json!([{"id": platform, "targetType": "group"}]);
    configuration(policy, "MicrosoftAuthenticator")["includeTargets"][0]["id"] = json!(staff);
    let sms = configuration(policy, "Sms");
    sms["state"] = json!("enabled");
    sms["excludeTargets"] = json!([{"id": glass, "targetType": "group"}]);
    let voice = configuration(policy, "Voice");
    voice["state"] = json!("enabled");
    voice["isOfficePhoneAllowed"] = json!(true);
    configuration(policy, "SoftwareOath")["state"] = json!("disabled");
    configuration(policy, "HardwareOath")["state"] = json!("enabled");
    state
}

const METHODS: &[&str] = &[
    "temporaryAccessPass",
    "fido2",
    "windowsHelloForBusiness",
    "x509Certificate",
    "push",
    "externalAuthMethod",
    "oath",
    "sms",
    "voiceMobile",
    "voiceAlternateMobile",
    "voiceOffice",
    "none",
];

const CSV_HEADER: &str = "userPrincipalName,id,method,source,systemPreferred,systemPreferredMethod,defaultMethod,usableMethods,mfaRequired,mfaRequiredBy,smsSignIn";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_lists_every_report_user_in_json_and_csv_and_one_user_step_by_step() {
    let mut state = explain_state(80, "disabled");
    disable(
        &mut state.tenants[0],
        |u| !u.methods_registered.is_empty(),
        3,
    );
    let t = state.tenants[0].clone();
    let enabled: BTreeMap<String, &User> = t
        .users
        .iter()
        .filter(|u| u.account_enabled)
        .map(|u| (lower(&u.id), u))
        .collect();
    assert!(
        enabled.len() < t.users.len(),
        "a disabled account is left out"
    );
    let yaml = "apiVersion: mfactl/v1\nkind: AuthenticationMethodsPolicy\nmetadata: {name: m}\nspec:\n  methods:\n    sms:\n      state: disabled\n";
    let p = project(state, &[("methods.yaml", yaml)]).await;

    let o = p.run(&["explain", "-o", "json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let declared = json_out(&o);
    assert_eq!(declared["formatVersion"], 1);
    assert_eq!(declared["tenant"], "test");
    assert_eq!(
        declared["basis"],
        "declared policy, as it will be once applied"
    );
    let users = declared["users"].as_array().unwrap();
    assert_eq!(users.len(), enabled.len());
    let ids: BTreeSet<String> = users
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, enabled.keys().cloned().collect::<BTreeSet<_>>());
    let mut counted: BTreeMap<String, u64> = BTreeMap::new();
    for u in users {
        let user = enabled[u["id"].as_str().unwrap()];
        assert_eq!(u["userPrincipalName"], json!(user.user_principal_name));
        let method = u["method"].as_str().expect("method");
        assert!(METHODS.contains(&method), "{u}");
        assert_ne!(method, "sms", "SMS is disabled by the declared policy: {u}");
        *counted.entry(method.to_string()).or_default() += 1;
    }
    let summary: BTreeMap<String, u64> = declared["summary"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    assert_eq!(summary.values().sum::<u64>(), users.len() as u64);
    assert_eq!(summary, counted);

    let o = p.run(&["explain", "--live", "-o", "csv"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let csv = stdout(&o);
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some(CSV_HEADER));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), enabled.len());
    for row in &rows {
        assert_eq!(row.len(), 11, "{row:?}");
        let user = enabled[row[1]];
        assert_eq!(row[0], user.user_principal_name);
        assert!(METHODS.contains(&row[2]), "{row:?}");
        // Who must do MFA does not depend on the methods policy: the live CSV says what the
        // declared JSON says.
        let json = users.iter().find(|u| u["id"] == row[1]);
        let json = json.unwrap_or_else(|| panic!("{row:?} not in the JSON"));
        assert_eq!(json["mfaRequired"], row[8], "{row:?}");
        assert!(matches!(row[10], "true" | "false"), "{row:?}");
    }
    assert!(
        rows.iter().any(|r| r[2] == "sms"),
        "the live tenant still prompts some users with SMS"
    );

    // One user, step by step, on the declared basis: the same method as in the JSON.
    let who = users
        .iter()
        .find(|u| {
            let user = enabled[u["id"].as_str().unwrap()];
            user.user_type == "member"
                && has(user, "mobilePhone")
                && has(user, "microsoftAuthenticatorPush")
        })
        .expect("a member with push and a phone");
    let upn = who["userPrincipalName"].as_str().unwrap();
    let o = p.run(&["explain", "--user", upn]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(format!("{upn} ({})", who["id"].as_str().unwrap()).as_str())
    );
    let steps: Vec<&str> = lines.collect();
    assert!(steps.len() >= 5, "{text}");
    for (n, step) in steps.iter().enumerate() {
        assert!(step.starts_with(&format!("  {}. ", n + 1)), "{text}");
    }
    let method = who["method"].as_str().unwrap();
    assert!(
        steps
            .iter()
            .any(|s| s.contains(&format!(". Prompted first: {method} — "))),
        "{text}"
    );
    assert!(steps[0].contains("Registered methods: "), "{text}");

    let o = p.run(&["explain", "--user", "unknown@x"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("no user 'unknown@x'"), "{}", stderr(&o));
    assert!(stdout(&o).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_live_agrees_with_the_emulator_report_for_every_user() {
    for scp_state in ["enabled", "default", "disabled"] {
        let state = explain_state(300, scp_state);
        let p = project(state, &[]).await;
        let o = p.run(&["explain", "--live", "-o", "json"]);
        assert_eq!(code(&o), 0, "{scp_state}: {}", stderr(&o));
        let explained = json_out(&o);
        assert_eq!(explained["basis"], "live tenant");
        let report: BTreeMap<String, (String, bool)> = p
            .report()
            .await
            .iter()
            .map(|row| {
                let first = row["systemPreferredAuthenticationMethods"]
                    .as_array()
                    .unwrap()
                    .first()
                    .map_or("none".to_string(), |m| m.as_str().unwrap().to_string());
                (
                    lower(row["id"].as_str().unwrap()),
                    (first, row[SYSTEM_PREFERRED].as_bool().unwrap()),
                )
            })
            .collect();
        let users = explained["users"].as_array().unwrap();
        assert_eq!(users.len(), report.len(), "{scp_state}");
        let mut disagreements = Vec::new();
        for u in users {
            let id = u["id"].as_str().unwrap();
            let (first, on) = report
                .get(id)
                .unwrap_or_else(|| panic!("{scp_state}: {id} is not in the report"));
            let method = u["systemPreferredMethod"].as_str().unwrap();
            let applies = ["tenant", "microsoftManaged", "userSetting"]
                .contains(&u["systemPreferred"].as_str().unwrap());
            if method != first || applies != *on {
                disagreements.push(format!(
                    "{}: explain {method}/{} vs report {first}/{on}",
                    u["userPrincipalName"], u["systemPreferred"]
                ));
            }
        }
        assert!(
            disagreements.is_empty(),
            "{scp_state}: {} disagreement(s):\n{}",
            disagreements.len(),
            disagreements.join("\n")
        );
        // The table is not degenerate: both answers occur, and several methods.
        let flags: BTreeSet<bool> = report.values().map(|v| v.1).collect();
        assert_eq!(flags.len(), 2, "{scp_state}");
        let methods: BTreeSet<&str> = report.values().map(|v| v.0.as_str()).collect();
        assert!(
            ["fido2", "push", "oath", "sms", "none"]
                .iter()
                .all(|m| methods.contains(m)),
            "{scp_state}: {methods:?}"
        );
        if scp_state != "disabled" {
            assert!(
                users.iter().any(|u| u["systemPreferred"] == "excluded"),
                "{scp_state}: MFA Pilot is excluded"
            );
        }
    }
}

/// The method a user of [`lockout_project_state`] is prompted with first: system-preferred
/// MFA is off there and no user's own flag is set, so the default method if usable, else
/// the most preferred usable one. Usable: passkeys, Windows Hello, Authenticator push,
/// software OATH (the default policy), and telephony while it is on.
fn prompt(u: &User, telephony: bool) -> &'static str {
    let mut usable: Vec<&'static str> = Vec::new();
    let rows: &[(&str, &[&str], bool)] = &[
        (
            "fido2",
            &[
                "fido2SecurityKey",
                "fido2",
                "passKeyDeviceBound",
                "passKeyDeviceBoundAuthenticator",
                "passKeyDeviceBoundWindowsHello",
                "passKeySynced",
            ],
            true,
        ),
        (
            "windowsHelloForBusiness",
            &["windowsHelloForBusiness", "macOsSecureEnclaveKey"],
            true,
        ),
        (
            "push",
            &[
                "microsoftAuthenticatorPush",
                "microsoftAuthenticatorPasswordless",
            ],
            true,
        ),
        ("oath", &["softwareOneTimePasscode"], true),
        ("sms", &["mobilePhone"], telephony),
        ("voiceMobile", &["mobilePhone"], telephony),
        ("voiceAlternateMobile", &["alternateMobilePhone"], telephony),
        ("voiceOffice", &["officePhone"], telephony),
    ];
    for (value, registered, allowed) in rows {
        if *allowed && registered.iter().any(|r| has(u, r)) && !usable.contains(value) {
            usable.push(value);
        }
    }
    let default = u
        .sign_in_preferences
        .user_preferred_method_for_secondary_authentication
        .as_deref();
    match usable.first() {
        None => "none",
        Some(best) => default
            .and_then(|d| usable.iter().find(|m| **m == d))
            .unwrap_or(best),
    }
}

/// A tenant where SMS and voice (office phones allowed) are on, with no system-preferred
/// MFA; the declared policy turns both off.
fn lockout_project_state() -> State {
    let mut state = generated(200, 9);
    let policy = &mut state.tenants[0].authentication_methods_policy;
    configuration(policy, "Sms")["state"] = json!("enabled");
    let voice = configuration(policy, "Voice");
    voice["state"] = json!("enabled");
    voice["isOfficePhoneAllowed"] = json!(true);
    assert_eq!(policy["systemCredentialPreferences"]["state"], "disabled");
    state
}

const NO_TELEPHONY: &str = "apiVersion: mfactl/v1\nkind: AuthenticationMethodsPolicy\nmetadata: {name: no-telephony}\nspec:\n  methods:\n    sms:\n      state: disabled\n    voice:\n      state: disabled\n";

/// The users the telephony switch-off locks out, by id, with the method they had.
fn locked_out(t: &Tenant) -> BTreeMap<String, &'static str> {
    t.users
        .iter()
        .filter(|u| u.account_enabled)
        .filter(|u| prompt(u, false) == "none" && prompt(u, true) != "none")
        .map(|u| (lower(&u.id), prompt(u, true)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_impact_names_who_loses_every_method_and_apply_refuses_unless_allowed() {
    let state = lockout_project_state();
    let t = state.tenants[0].clone();
    let locked = locked_out(&t);
    let n = locked.len();
    assert!(n > 10, "{n}");
    // Phone-only users, and hardware-token users whose hardware OATH is off anyway.
    assert!(
        t.users
            .iter()
            .any(|u| locked.contains_key(&lower(&u.id)) && has(u, "hardwareOneTimePasscode")),
        "the seed must give a hardware-token user"
    );
    let mut transitions: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    let (mut without_before, mut without_after, mut reported) = (0, 0, 0);
    for u in t.users.iter().filter(|u| u.account_enabled) {
        let (before, after) = (prompt(u, true), prompt(u, false));
        reported += 1;
        without_before += u64::from(before == "none");
        without_after += u64::from(after == "none");
        if before != after {
            *transitions.entry((before, after)).or_default() += 1;
        }
    }
    assert!(transitions.contains_key(&("sms", "none")));
    assert!(
        transitions.keys().any(|(_, to)| *to != "none"),
        "some users move to another method: {transitions:?}"
    );
    let p = project(state, &[("methods.yaml", NO_TELEPHONY)]).await;

    let o = p.run(&["plan", "-o", "json"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let plan = json_out(&o);
    let impact = &plan["impact"];
    let newly: BTreeMap<String, String> = impact["newlyWithout"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            let id = u["id"].as_str().unwrap().to_string();
            let user = t.users.iter().find(|x| lower(&x.id) == id).unwrap();
            assert_eq!(u["userPrincipalName"], json!(user.user_principal_name));
            (id, u["before"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(
        newly,
        locked
            .iter()
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect::<BTreeMap<_, _>>()
    );
    let found: BTreeMap<(String, String), u64> = impact["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                (
                    x["from"].as_str().unwrap().to_string(),
                    x["to"].as_str().unwrap().to_string(),
                ),
                x["users"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        found,
        transitions
            .iter()
            .map(|((a, b), n)| ((a.to_string(), b.to_string()), *n))
            .collect::<BTreeMap<_, _>>()
    );
    let counts: Vec<u64> = impact["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["users"].as_u64().unwrap())
        .collect();
    assert!(
        counts.windows(2).all(|w| w[0] >= w[1]),
        "largest first: {counts:?}"
    );
    assert_eq!(impact["users"], json!(reported));
    assert_eq!(impact["changed"], json!(transitions.values().sum::<u64>()));
    assert_eq!(impact["withoutBefore"], json!(without_before));
    assert_eq!(impact["withoutAfter"], json!(without_after));

    // Users who had no usable method before the plan are shown apart, and not counted by
    // the guard: only the n newly left without one are.
    let already = without_after - n as u64;
    assert!(
        already > 0 && without_before == already,
        "{without_before} {without_after} {n}"
    );
    let md = stdout(&p.run(&["plan", "-o", "markdown"]));
    assert!(md.contains("#### Impact on sign-in prompts"), "{md}");
    assert!(
        md.contains(&format!(
            "**⚠ {n} users would be newly left with no usable MFA method**; apply refuses unless --allow-lockout {n}:"
        )),
        "{md}"
    );
    assert!(
        md.contains(&format!("**already without a usable method: {already}** (none before this plan either: apply does not refuse for them)")),
        "{md}"
    );
    let human = stdout(&p.run(&["plan"]));
    assert!(
        human.contains(&format!("\nalready without a usable method: {already} (")),
        "{human}"
    );
    assert!(
        human.contains(&format!(
            "! {n} users would be newly left with no usable MFA method;"
        )),
        "{human}"
    );

    p.clear_log().await;
    let refused = p.run(&["apply", "--yes"]);
    assert_eq!(code(&refused), 7, "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains(&format!("the plan locks out {n} user(s)"))
            && stderr(&refused).contains("(no usable method left; was "),
        "{}",
        stderr(&refused)
    );
    assert!(stderr(&refused).contains(&format!("--allow-lockout {n}")));
    let short = p.run(&["apply", "--yes", "--allow-lockout", &(n - 1).to_string()]);
    assert_eq!(code(&short), 7, "{}", stderr(&short));
    assert!(patches(&p.log().await).is_empty(), "refused: nothing sent");

    let allowed = p.run(&["apply", "--yes", "--allow-lockout", &n.to_string()]);
    assert_eq!(code(&allowed), 0, "{}", stderr(&allowed));
    let sent: BTreeSet<String> = patches(&p.log().await)
        .iter()
        .map(|e| e["path"].as_str().unwrap().to_ascii_lowercase())
        .collect();
    assert_eq!(
        sent,
        BTreeSet::from([
            "/beta/policies/authenticationmethodspolicy/authenticationmethodconfigurations/sms"
                .to_string(),
            "/beta/policies/authenticationmethodspolicy/authenticationmethodconfigurations/voice"
                .to_string(),
        ])
    );
    let after = p.tenant().await;
    for id in ["Sms", "Voice"] {
        let c = after.authentication_methods_policy["authenticationMethodConfigurations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap()
            .clone();
        assert_eq!(c["state"], "disabled", "{id}");
    }
    let again = p.run(&["plan"]);
    assert_eq!(code(&again), 0, "{}", stdout(&again));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_in_enforce_mode_refuses_a_lockout_and_sends_nothing() {
    let state = lockout_project_state();
    let n = locked_out(&state.tenants[0]).len();
    assert!(n > 0);
    let p = project(state, &[("methods.yaml", NO_TELEPHONY)]).await;
    let o = p.run(&["reconcile", "--once", "--mode", "enforce"]);
    assert_eq!(code(&o), 7, "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("refused: the plan locks out {n} user(s)")),
        "{}",
        stderr(&o)
    );
    assert!(patches(&p.log().await).is_empty(), "nothing applied");
    let tenant = p.tenant().await;
    let sms = tenant.authentication_methods_policy["authenticationMethodConfigurations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "Sms")
        .unwrap()
        .clone();
    assert_eq!(sms["state"], "enabled");
}

/// Users' first prompt and whether system-preferred MFA applies, by id, from `explain -o json`.
fn prompts(explained: &Value) -> BTreeMap<String, (String, bool)> {
    explained["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["id"].as_str().unwrap().to_string(),
                (
                    u["method"].as_str().unwrap().to_string(),
                    ["tenant", "microsoftManaged", "userSetting"]
                        .contains(&u["systemPreferred"].as_str().unwrap()),
                ),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_and_the_impact_predict_what_the_tenant_does_once_applied() {
    // Live: system-preferred MFA on for everyone but MFA Pilot; users' own flags mixed.
    let state = explain_state(120, "enabled");
    let yaml = "apiVersion: mfactl/v1\nkind: AuthenticationMethodsPolicy\nmetadata: {name: m}\nspec:\n  systemCredentialPreferences:\n    state: disabled\n";
    let p = project(state, &[("methods.yaml", yaml)]).await;
    let live_before = prompts(&json_out(&p.run(&["explain", "--live", "-o", "json"])));
    let o = p.run(&["explain", "-o", "json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let predicted = prompts(&json_out(&o));
    let plan = p.run(&["plan", "-o", "json"]);
    assert_eq!(code(&plan), 1, "{}", stderr(&plan));
    let plan = json_out(&plan);

    let apply = p.run(&["apply", "--yes"]);
    assert_eq!(code(&apply), 0, "{}", stderr(&apply));
    let actual = prompts(&json_out(&p.run(&["explain", "--live", "-o", "json"])));
    // Once system-preferred MFA is off tenant-wide, the report shows each user's own flag.
    let report: BTreeMap<String, bool> = p
        .report()
        .await
        .iter()
        .map(|r| {
            (
                lower(r["id"].as_str().unwrap()),
                r[SYSTEM_PREFERRED].as_bool().unwrap(),
            )
        })
        .collect();
    let tenant = p.tenant().await;
    for u in tenant.users.iter().filter(|u| u.account_enabled) {
        assert_eq!(report[&lower(&u.id)], own_flag(u));
        assert_eq!(
            actual[&lower(&u.id)].1,
            own_flag(u),
            "{}",
            u.user_principal_name
        );
    }

    let wrong: Vec<String> = actual
        .iter()
        .filter(|(id, a)| predicted.get(*id) != Some(a))
        .map(|(id, a)| format!("{id}: predicted {:?}, is {a:?}", predicted.get(id)))
        .collect();
    assert!(
        wrong.is_empty(),
        "explain mispredicted {} of {} users:\n{}",
        wrong.len(),
        actual.len(),
        wrong.join("\n")
    );
    let mut transitions: BTreeMap<(String, String), u64> = BTreeMap::new();
    for (id, (before, _)) in &live_before {
        let after = &actual[id].0;
        if before != after {
            *transitions
                .entry((before.clone(), after.clone()))
                .or_default() += 1;
        }
    }
    assert!(!transitions.is_empty(), "the change moves some prompts");
    let impact: BTreeMap<(String, String), u64> = plan["impact"]["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                (
                    x["from"].as_str().unwrap().to_string(),
                    x["to"].as_str().unwrap().to_string(),
                ),
                x["users"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(impact, transitions, "the plan's impact is what happened");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_saved_plan_is_refused_and_a_refused_user_patch_is_a_partial_apply() {
    let state = generated(100, 11);
    let upn = state.tenants[0].users[5].user_principal_name.clone();
    let p = project(state, &[("per-user.yaml", &per_user_yaml(&upn))]).await;
    let o = p.run(&["plan", "-o", "json", "--out", "plan.json"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let plan = json_out(&o);
    let changes = plan["userChanges"].as_array().unwrap().clone();
    let n = changes.len();
    assert!(n > 10, "{n}");

    // Someone makes one of the planned changes in the portal: the saved plan is stale.
    let token = p.h.writer_token().await;
    let r =
        p.h.patch(
            changes[3]["path"].as_str().unwrap(),
            &token,
            &changes[3]["body"],
        )
        .await;
    assert_eq!(r.status, 204);
    p.clear_log().await;
    let o = p.run(&[
        "apply",
        "plan.json",
        "--yes",
        "--allow-unprotected",
        &unprotected(&plan),
    ]);
    assert_eq!(code(&o), 7, "{}", stderr(&o));
    assert!(stderr(&o).contains("the tenant changed since this plan was made"));
    assert!(patches(&p.log().await).is_empty());

    // One user's PATCH is refused: the others are applied, and the next run finishes.
    let failing = &changes[7];
    p.h.add_fault(json!({"method": "PATCH", "pathPrefix": failing["path"], "count": 1, "kind": "status", "status": 400}))
        .await;
    let o = p.run(&["apply", "--yes", "--allow-unprotected", &unprotected(&plan)]);
    assert_eq!(code(&o), 6, "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!(
            "failed       users/{}/authentication/requirements: ",
            failing["userPrincipalName"].as_str().unwrap()
        )),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains(&format!(
            "partial apply: {} of {} resources changed (per-user ones included), 1 not",
            n - 2,
            n - 1
        )),
        "{}",
        stderr(&o)
    );
    let o = p.run(&["plan", "-o", "json"]);
    assert_eq!(code(&o), 1);
    let left = json_out(&o);
    assert_eq!(left["userChanges"].as_array().unwrap().len(), 1);
    assert_eq!(left["userChanges"][0]["userId"], failing["userId"]);
    p.clear_log().await;
    let o = p.run(&["apply", "--yes", "--allow-unprotected", &unprotected(&plan)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let sent: Vec<Value> = patches(&p.log().await)
        .iter()
        .map(|e| e["path"].clone())
        .collect();
    assert_eq!(sent, [failing["path"].clone()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_report_page_size_falls_back_to_the_service_default() {
    let state = explain_state(60, "enabled");
    let in_report = state.tenants[0]
        .users
        .iter()
        .filter(|u| u.account_enabled)
        .count();
    let p = project(state, &[]).await;
    p.clear_log().await;
    p.h.add_fault(json!({
        "pathPrefix": "/v1.0/reports/authenticationMethods/userRegistrationDetails",
        "count": 1,
        "kind": "status",
        "status": 400
    }))
    .await;
    let o = p.run(&["explain", "--live", "-o", "json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(json_out(&o)["users"].as_array().unwrap().len(), in_report);
    let reads: Vec<(String, u64)> = p
        .log()
        .await
        .iter()
        .filter(|e| {
            e["path"]
                .as_str()
                .is_some_and(|p| p.ends_with("/userRegistrationDetails"))
        })
        .map(|e| {
            (
                e["query"].as_str().unwrap_or_default().to_string(),
                e["status"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(reads.len(), 2, "{reads:?}");
    assert!(
        reads[0].0.contains("top=1000") && reads[0].1 == 400,
        "{reads:?}"
    );
    assert!(
        !reads[1].0.contains("top") && reads[1].1 == 200,
        "{reads:?}"
    );
}

/// Entra stores per-user MFA `enabled` as `enforced` for a user who registered an MFA method:
/// a declared `enabled` is met by it, so after one apply the plan is in sync (and says why)
/// and a reconcile cycle writes nothing, instead of PATCHing the same users every cycle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enabled_stored_as_enforced_for_registered_users_is_in_sync_and_never_rewritten() {
    let state = generated(100, 15);
    let registered: BTreeSet<String> = state.tenants[0]
        .users
        .iter()
        .filter(|u| {
            u.methods_registered
                .iter()
                .any(|m| mfactl::msgraph::is_mfa_registration(m))
        })
        .map(|u| u.id.clone())
        .collect();
    assert!(!registered.is_empty() && registered.len() < state.tenants[0].users.len());
    let yaml = "apiVersion: mfactl/v1\nkind: PerUserMfa\nmetadata: {name: legacy}\nspec:\n  state: enabled\n";
    let p = project(state, &[("per-user.yaml", yaml)]).await;
    let apply = p.run(&["apply", "--yes"]);
    assert_eq!(code(&apply), 0, "{}", stderr(&apply));
    assert!(
        stdout(&apply).contains("re-read and verified"),
        "{}",
        stdout(&apply)
    );

    // The emulator stored `enforced` for the registered users, `enabled` for the others.
    let tenant = p.tenant().await;
    for u in &tenant.users {
        let want = if registered.contains(&u.id) {
            "enforced"
        } else {
            "enabled"
        };
        assert_eq!(u.per_user_mfa_state, want, "{}", u.user_principal_name);
    }

    let plan = p.run(&["plan"]);
    let out = stdout(&plan);
    assert_eq!(code(&plan), 0, "in sync: {out}{}", stderr(&plan));
    let enforced = tenant
        .users
        .iter()
        .filter(|u| u.per_user_mfa_state == "enforced")
        .count();
    assert!(
        out.contains(&format!(
            "{enforced} user(s) declared `enabled` for legacy per-user MFA show `enforced`"
        )),
        "{out}"
    );
    p.clear_log().await;
    let cycle = p.run(&["reconcile", "--once", "--mode", "enforce"]);
    assert_eq!(code(&cycle), 0, "{}", stderr(&cycle));
    assert!(
        patches(&p.log().await).is_empty(),
        "no write in the next cycle"
    );
}
