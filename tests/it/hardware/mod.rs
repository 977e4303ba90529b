//! Hardware OATH tokens and Temporary Access Passes through HTTP
//! (`shared/graph/conditional-access/FACTS.md` §E, §F): the beta token inventory, the users'
//! hardware OATH methods, Temporary Access Passes, permissions, the state file, and the
//! registration report. This file holds what the topical modules share.

mod devices;
mod inventory;
mod passes;
mod tap;

use std::sync::Arc;

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{self, Harness, Reply};
pub use crate::conditional_access::{assert_covers, delete, fixture, message, patch, post};

pub const DEVICES: &str = "/beta/directory/authenticationMethodDevices/hardwareOathDevices";

/// A started emulator with the Temporary Access Pass method enabled for everyone, plus the
/// ids of a member (with only a mobile phone registered) and of a guest.
pub struct World {
    pub h: Harness,
    pub member: String,
    pub member_upn: String,
    pub guest: String,
}

pub async fn world(edit: impl FnOnce(&mut Value)) -> World {
    let mut state = common::state(30);
    let t = &mut state.tenants[0];
    let member = &mut t.users[1];
    member.user_type = "member".into();
    member.account_enabled = true;
    member.methods_registered = Arc::new(vec!["mobilePhone".into()]);
    let (member, member_upn) = (member.id.clone(), member.user_principal_name.clone());
    t.users[2].user_type = "guest".into();
    let guest = t.users[2].id.clone();
    let tap = tap_configuration(&mut t.authentication_methods_policy);
    tap["state"] = json!("enabled");
    edit(tap);
    World {
        h: Harness::start(state).await,
        member,
        member_upn,
        guest,
    }
}

fn tap_configuration(policy: &mut Value) -> &mut Value {
    policy["authenticationMethodConfigurations"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|c| c["id"] == "TemporaryAccessPass")
        .unwrap()
}

/// `methodsRegistered` of the user's registration-details row.
pub async fn registered(h: &Harness, token: &str, user: &str) -> Vec<String> {
    let r = h
        .get(
            &format!("/v1.0/reports/authenticationMethods/userRegistrationDetails/{user}"),
            token,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    serde_json::from_value(r.body["methodsRegistered"].clone()).unwrap()
}

/// The `@odata.type`s and ids of `GET …/users/{user}/authentication/methods` on `version`.
pub async fn listed_methods(h: &Harness, token: &str, version: &str, user: &str) -> Vec<Value> {
    let r = h
        .get(
            &format!("/{version}/users/{user}/authentication/methods"),
            token,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["value"].as_array().unwrap().clone()
}

/// The whole state as `GET /_emulator/state` returns it.
pub async fn state(h: &Harness) -> Value {
    h.call(Method::GET, "/_emulator/state", None, None)
        .await
        .body
}

/// The raw body of a reply, for checking that a secret never appears.
pub fn text(r: &Reply) -> String {
    r.body.to_string()
}
