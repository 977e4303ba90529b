//! Table-driven tests of who must do MFA (`requirement.rs`, `strength.rs`, `coverage.rs`).
//!
//! Policies are the Graph JSON of `conditionalAccessPolicy` (a builder for one that requires
//! MFA of everyone for every resource, changed one JSON pointer at a time, and the saved doc
//! payloads in `tests/fixtures/conditional-access-examples/`), strengths the Graph JSON of `authenticationStrengthPolicy`
//! (the saved built-in list and custom strength). Users are [`User`] views.

mod coverage;
mod reach;
mod strength;
mod verdict;
mod who;

use serde_json::{Value, json};

use crate::simulate::directory::Registered;
use crate::simulate::requirement::{AccessPolicies, Effect, User};

const STRENGTHS_LIST: &str = include_str!(
    "../../../../tests/fixtures/conditional-access-examples/authenticationStrengthPolicies.list.v1.response.json"
);
const CUSTOM_STRENGTH: &str = include_str!(
    "../../../../tests/fixtures/conditional-access-examples/authenticationStrengthPolicy.post.v1.response.json"
);
const EXO_POLICY: &str = include_str!(
    "../../../../tests/fixtures/conditional-access-examples/conditionalAccessPolicy.post.v1.response.json"
);
const WHAT_IF: &str = include_str!(
    "../../../../tests/fixtures/conditional-access-examples/conditionalAccess.evaluate.beta.example2.response.json"
);

/// The custom strength of the saved create response: `"password, hardwareOath"`, `"password, sms"`.
const CUSTOM_STRENGTH_ID: &str = "dd055c42-4218-4281-8631-f090e171f5cd";
/// The built-in "Passwordless MFA" strength.
const PASSWORDLESS_STRENGTH: &str = "00000000-0000-0000-0000-000000000003";

const ADA: u128 = 0xdad4ae4a_730c_4e52_826c_0d9094971f04;
const BOB: u128 = 0x0b0b0b0b_0000_4000_8000_000000000002;
const GUEST: u128 = 0x6e575e57_0000_4000_8000_000000000003;
const BREAK_GLASS: u128 = 0xb6ea6000_0000_4000_8000_000000000004;
const STAFF: u128 = 0x6a1e4c52_0b0f_4c1b_9e0b_8f3c2d1a0001;
const EMERGENCY: u128 = 0x6a1e4c52_0b0f_4c1b_9e0b_8f3c2d1a0002;
/// Global Administrator's role template id (one of FACTS item 35's fourteen).
const GLOBAL_ADMIN: u128 = 0x62e90394_69f5_4237_9190_012177145e10;

fn guid(id: u128) -> String {
    crate::simulate::directory::format_guid(id)
}

/// The built-in strengths and the custom one, as listed.
fn strengths() -> Vec<Value> {
    let list: Value = serde_json::from_str(STRENGTHS_LIST).expect("saved list parses");
    let custom: Value = serde_json::from_str(CUSTOM_STRENGTH).expect("saved strength parses");
    let mut all = list["value"].as_array().expect("a value array").clone();
    all.push(custom);
    all
}

/// An enabled policy that requires MFA of every user for every resource, as GET returns it.
fn require_mfa(name: &str) -> Value {
    json!({
        "id": format!("00000000-0000-4000-8000-{:012x}", name.len()),
        "displayName": name,
        "state": "enabled",
        "sessionControls": null,
        "conditions": {
            "userRiskLevels": [],
            "signInRiskLevels": [],
            "clientAppTypes": ["all"],
            "platforms": null,
            "locations": null,
            "applications": {"includeApplications": ["All"], "excludeApplications": [], "includeUserActions": []},
            "users": {
                "includeUsers": ["All"], "excludeUsers": [],
                "includeGroups": [], "excludeGroups": [],
                "includeRoles": [], "excludeRoles": [],
                "includeGuestsOrExternalUsers": null, "excludeGuestsOrExternalUsers": null
            }
        },
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"], "customAuthenticationFactors": [], "termsOfUse": []}
    })
}

/// `policy` with the member at a JSON pointer (`/conditions/users/excludeUsers`) set.
fn with(mut policy: Value, pointer: &str, value: Value) -> Value {
    let mut at = &mut policy;
    for key in pointer.split('/').skip(1) {
        at = &mut at[key];
    }
    *at = value;
    policy
}

/// Changes to a policy: JSON pointers and the values to set there.
type Changes = Vec<(String, Value)>;

/// `policy` with every change of `changes` applied.
fn changed(policy: Value, changes: &[(impl AsRef<str>, Value)]) -> Value {
    changes.iter().fold(policy, |p, (pointer, value)| {
        with(p, pointer.as_ref(), value.clone())
    })
}

/// An enabled member with nothing registered, in no group and no role.
fn member(id: u128) -> User<'static> {
    User {
        id,
        enabled: true,
        ..User::default()
    }
}

/// A member who registered `registered`.
fn registered(values: &'static [&'static str]) -> User<'static> {
    User {
        registered: Registered::from_values(values.iter().copied()),
        ..member(ADA)
    }
}

/// The effect of the only policy built from `policy` on `user` (`None`: it does not match,
/// or the policy is not one that requires MFA or blocks).
fn effect_of(policy: Value, user: &User<'_>) -> Option<Effect> {
    let policies = AccessPolicies::new(false, &[policy], &strengths());
    let requirement = policies.requirement(user);
    assert!(requirement.matches.len() <= 1);
    requirement.matches.first().map(|m| m.effect())
}
