//! Who must do MFA, through the binary on the sandbox tenant (P1, security defaults on): the
//! coverage every plan that can change it shows, the guard that refuses to leave members
//! without an MFA requirement or to lock anyone out (exit 7, nothing sent) unless allowed,
//! the same guard in `reconcile`, and `explain` naming what requires MFA of each user.

use mfactl::sandbox::demo_state;
use serde_json::Value;

use crate::common::{code, stderr, stdout};
use crate::migration::{MFA_FOR_ALL, SD_OFF, project, security_defaults, writes};

/// A policy that asks every user (break-glass apart) for the phishing-resistant strength,
/// which few sandbox users registered for.
const PHISHING_RESISTANT_FOR_ALL: &str = "apiVersion: mfactl/v1
kind: ConditionalAccessPolicy
metadata: {name: Phishing-resistant for everyone}
spec:
  state: enabled
  conditions:
    users:
      includeUsers: [All]
      excludeGroups: [Break Glass Accounts]
    applications:
      includeApplications: [All]
  grantControls:
    operator: OR
    authenticationStrength: 00000000-0000-0000-0000-000000000004
";

/// The sandbox's enabled members and guests, from the emulator's own state.
fn enabled_accounts() -> (usize, usize) {
    let state = demo_state();
    let users = &state.tenants[0].users;
    let count = |guest: bool| {
        users
            .iter()
            .filter(|u| u.account_enabled && (u.user_type == "guest") == guest)
            .count()
    };
    (count(false), count(true))
}

fn plan_json(p: &crate::common::Project) -> Value {
    let out = p.run(&["plan", "-o", "json"]);
    assert!(matches!(code(&out), 0 | 1), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_defaults_off_with_nothing_in_their_place_is_refused_unless_allowed() {
    let p = project("").await;
    p.policy("security-defaults.yaml", SD_OFF);
    let (members, guests) = enabled_accounts();
    let plan = plan_json(&p);
    let coverage = &plan["coverage"];
    assert_eq!(coverage["members"], members, "{coverage:#}");
    assert_eq!(coverage["guests"], guests, "{coverage:#}");
    // Security defaults never covered guests: only the members lose anything, and those
    // whom legacy per-user MFA requires it of keep it.
    let state = demo_state();
    let per_user_off = state.tenants[0]
        .users
        .iter()
        .filter(|u| {
            u.account_enabled && u.user_type == "member" && u.per_user_mfa_state == "disabled"
        })
        .count();
    assert!(per_user_off < members);
    assert_eq!(coverage["lost"]["members"], per_user_off, "{coverage:#}");
    assert_eq!(coverage["lost"]["guests"], 0, "{coverage:#}");
    assert_eq!(
        coverage["lost"]["first"][0]["responsible"][0],
        "securityDefaults"
    );
    let human = p.run(&["plan"]);
    let text = stdout(&human);
    assert!(
        text.contains(&format!(
            "! {per_user_off} member(s) lose their MFA requirement; apply refuses unless --allow-unprotected {per_user_off}"
        )),
        "{text}"
    );

    let refused = p.run(&["apply", "--yes"]);
    let err = stderr(&refused);
    assert_eq!(code(&refused), 7, "{err}");
    let first = coverage["lost"]["first"][0]["userPrincipalName"]
        .as_str()
        .unwrap_or_default();
    assert!(!first.is_empty() && err.contains(first), "{err}");
    assert!(err.contains("loses security defaults"), "{err}");
    assert!(
        err.contains(&format!("--allow-unprotected {per_user_off}")),
        "{err}"
    );
    assert!(writes(&p).await.is_empty(), "nothing may be sent");

    let fewer = p.run(&[
        "apply",
        "--yes",
        "--allow-unprotected",
        &(per_user_off - 1).to_string(),
    ]);
    assert_eq!(code(&fewer), 7, "{}", stderr(&fewer));
    assert!(writes(&p).await.is_empty());

    let allowed = p.run(&[
        "apply",
        "--yes",
        "--allow-unprotected",
        &per_user_off.to_string(),
    ]);
    assert_eq!(code(&allowed), 0, "{}", stderr(&allowed));
    assert_eq!(security_defaults(&p).await, Value::Bool(false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_move_to_conditional_access_keeps_every_member_covered_but_break_glass() {
    let p = project("").await;
    p.policy("security-defaults.yaml", SD_OFF);
    p.policy("mfa.yaml", MFA_FOR_ALL);
    let state = demo_state();
    let tenant = &state.tenants[0];
    let break_glass: Vec<&str> = tenant
        .groups
        .iter()
        .filter(|g| g.display_name == "Break Glass Accounts")
        .flat_map(|g| g.members.iter().map(String::as_str))
        .collect();
    let excluded = tenant
        .users
        .iter()
        .filter(|u| {
            u.account_enabled && u.user_type == "member" && break_glass.contains(&u.id.as_str())
        })
        .count();
    assert!(excluded > 0, "the sandbox has break-glass members");
    let plan = plan_json(&p);
    let coverage = &plan["coverage"];
    assert_eq!(coverage["lost"]["members"], 0, "{coverage:#}");
    assert_eq!(coverage["excluded"]["members"], excluded, "{coverage:#}");
    assert_eq!(
        coverage["excluded"]["first"][0]["responsible"][0]["policy"],
        "Require MFA for all users"
    );
    assert_eq!(coverage["newlyBlocked"]["members"], 0);
    let apply = p.run(&["apply", "--yes"]);
    assert_eq!(code(&apply), 0, "{}", stderr(&apply));

    // explain names the policy for members, the exclusion for break-glass accounts.
    let explain = p.run(&["explain", "--live", "-o", "json"]);
    assert_eq!(code(&explain), 0, "{}", stderr(&explain));
    let report: Value = serde_json::from_str(&stdout(&explain)).unwrap_or_default();
    let users = report["users"].as_array().cloned().unwrap_or_default();
    assert!(!users.is_empty());
    for u in &users {
        let id = u["id"].as_str().unwrap_or_default();
        if u["mfaRequired"] == "disabled" {
            continue;
        }
        if break_glass.contains(&id) {
            // Their per-user MFA state was read: nothing else requires MFA of them.
            assert!(
                u["mfaRequired"] == "none" || u["perUserMfa"] != Value::Null,
                "{u:#}"
            );
            assert_eq!(u["excludedBy"][0], "Require MFA for all users", "{u:#}");
        } else {
            assert_eq!(u["mfaRequired"], "conditionalAccess", "{u:#}");
            assert_eq!(u["requiredBy"][0], "Require MFA for all users", "{u:#}");
        }
    }
    let one = users
        .iter()
        .find_map(|u| {
            u["userPrincipalName"]
                .as_str()
                .filter(|_| u["mfaRequired"] == "conditionalAccess")
        })
        .unwrap_or_default()
        .to_string();
    let why = p.run(&["explain", "--live", "--user", &one]);
    assert!(
        stdout(&why).contains(
            "MFA required: at every sign-in, by Conditional Access (Require MFA for all users)."
        ),
        "{}",
        stdout(&why)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strength_users_cannot_satisfy_locks_them_out_and_is_refused_in_apply_and_reconcile() {
    let p = project("").await;
    p.policy("security-defaults.yaml", SD_OFF);
    p.policy("mfa.yaml", MFA_FOR_ALL);
    p.policy("strong.yaml", PHISHING_RESISTANT_FOR_ALL);
    let plan = plan_json(&p);
    let locked = &plan["coverage"]["cannotSatisfy"];
    let n = locked["members"].as_u64().unwrap_or_default()
        + locked["guests"].as_u64().unwrap_or_default();
    assert!(n > 0, "{locked:#}");
    assert_eq!(
        locked["first"][0]["responsible"][0]["policy"],
        "Phishing-resistant for everyone"
    );
    let refused = p.run(&["apply", "--yes"]);
    let err = stderr(&refused);
    assert_eq!(code(&refused), 7, "{err}");
    assert!(
        err.contains("cannot satisfy the strength of \"Phishing-resistant for everyone\""),
        "{err}"
    );
    assert!(err.contains("--allow-lockout"), "{err}");
    let reconcile = p.run(&["reconcile", "--once", "--mode", "enforce"]);
    assert_eq!(code(&reconcile), 7, "{}", stderr(&reconcile));
    assert!(writes(&p).await.is_empty(), "nothing may be sent");
}
