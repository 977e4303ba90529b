//! Conditional Access through HTTP (`shared/graph/conditional-access/FACTS.md` §A–§C, §G,
//! §H): policies, named locations, authentication strengths, templates and the directory
//! reads beside them, licences, security defaults, managed policies and the 1 rps limit.
//! This file holds what the topical modules share.

mod policies;
mod strengths;
mod tenant;

use mfactl::emulator::state::State;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{self, Harness, Reply, error_code};

pub const POLICIES: &str = "/v1.0/identity/conditionalAccess/policies";
pub const LOCATIONS: &str = "/v1.0/identity/conditionalAccess/namedLocations";
pub const STRENGTHS: &str = "/v1.0/policies/authenticationStrengthPolicies";
pub const MFA_STRENGTH: &str = "00000000-0000-0000-0000-000000000002";

pub fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/conditional-access-examples/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

pub async fn post(h: &Harness, path: &str, token: &str, body: Value) -> Reply {
    h.call(Method::POST, path, Some(token), Some(&body)).await
}

pub async fn patch(h: &Harness, path: &str, token: &str, body: Value) -> Reply {
    h.call(Method::PATCH, path, Some(token), Some(&body)).await
}

pub async fn delete(h: &Harness, path: &str, token: &str) -> Reply {
    h.call(Method::DELETE, path, Some(token), None).await
}

pub fn message(r: &Reply) -> String {
    error_code(r);
    r.body["error"]["message"].as_str().unwrap().to_string()
}

/// A minimal valid policy in `state`.
pub fn policy(name: &str, state: &str) -> Value {
    json!({"displayName": name, "state": state,
           "conditions": {"applications": {"includeApplications": ["All"]}, "users": {"includeUsers": ["All"]}},
           "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}})
}

/// Asserts that every member of `expected` is in `actual` with the same value, except the
/// members the server sets (`id`, `createdDateTime`, `@odata.context`).
pub fn assert_covers(expected: &Value, actual: &Value, at: &str) {
    match expected {
        Value::Object(m) => {
            for (k, v) in m {
                if ["id", "createdDateTime", "@odata.context"].contains(&k.as_str()) {
                    continue;
                }
                let got = actual
                    .get(k)
                    .unwrap_or_else(|| panic!("{at}.{k} missing in {actual}"));
                assert_covers(v, got, &format!("{at}.{k}"));
            }
        }
        _ => assert_eq!(expected, actual, "at {at}"),
    }
}

pub async fn harness_with(edit: impl FnOnce(&mut State)) -> Harness {
    let mut state = common::state(30);
    edit(&mut state);
    Harness::start(state).await
}
