//! `HardwareOathTokens` as the loader reads it, and as a collection plans it.

use serde_json::{Value, json};

use super::*;
use crate::kinds::collection;
use crate::policy::testing::{codes_at, load_str};
use crate::policy::{LoadOutcome, codes};

fn token(serial: &str, spec: &str) -> String {
    format!(
        "apiVersion: mfactl/v1\nkind: HardwareOathTokens\nmetadata: {{name: \"{serial}\"}}\nspec:\n{spec}"
    )
}

const SPEC: &str = "  manufacturer: Contoso\n  model: T1000\n  timeIntervalInSeconds: 30\n";

fn declared(outcome: &LoadOutcome) -> Vec<DeclaredToken> {
    outcome
        .set
        .as_ref()
        .map(|s| s.hardware_oath_tokens.clone())
        .unwrap_or_default()
}

fn desired(serial: &str, holder: Option<&str>) -> DesiredToken {
    let out = load_str(&token(serial, SPEC));
    DesiredToken {
        declared: declared(&out).remove(0),
        holder: holder.map(String::from),
    }
}

fn live(serial: &str, holder: Option<&str>, status: &str) -> Value {
    json!({
        "id": format!("dev-{serial}"), "serialNumber": serial, "displayName": null,
        "manufacturer": "Contoso", "model": "T1000", "secretKey": null,
        "timeIntervalInSeconds": 30, "status": status, "hashFunction": "hmacsha1",
        "assignedTo": holder.map(|h| json!({"id": h, "displayName": "Someone"})),
    })
}

#[test]
fn a_token_loads_keyed_by_serial_and_mistakes_are_placed() {
    let out = load_str(&token(
        "1001",
        &format!("{SPEC}  assignedTo: alice@contoso.example\n"),
    ));
    assert!(out.diagnostics.is_empty(), "{:?}", out.diagnostics);
    let t = &declared(&out)[0];
    assert_eq!(t.serial_number, "1001");
    assert_eq!(t.assigned_to.as_deref(), Some("alice@contoso.example"));
    assert_eq!(
        Value::Object(t.properties.clone()),
        json!({"manufacturer": "Contoso", "model": "T1000", "timeIntervalInSeconds": 30})
    );
    let cases = [
        (
            "  manufacturer: C\n  model: M\n  timeIntervalInSeconds: 45\n",
            vec![(codes::WRONG_TYPE, 7, 26)],
        ),
        (
            "  model: M\n  timeIntervalInSeconds: 30\n",
            vec![(codes::MISSING_KEY, 4, 1)],
        ),
        (
            &format!("{SPEC}  secretKey: JBSWY3DPEHPK3PXP\n"),
            vec![(codes::READ_ONLY, 8, 3)],
        ),
        (
            &format!("{SPEC}  hashFunction: md5\n"),
            vec![(codes::UNKNOWN_ENUM_VALUE, 8, 17)],
        ),
        (
            &format!("{SPEC}  assignedTo: [a]\n"),
            vec![(codes::WRONG_TYPE, 8, 15)],
        ),
    ];
    for (spec, want) in cases {
        assert_eq!(codes_at(&load_str(&token("1001", spec))), want, "{spec}");
    }
    let twice = load_str(&format!(
        "{}---\n{}",
        token("1001", SPEC),
        token("1001", SPEC)
    ));
    assert_eq!(codes_at(&twice), [(codes::DUPLICATE_KIND, 10, 7)]);
}

#[test]
fn create_carries_a_placeholder_never_a_key_and_shows_the_status() {
    let plan = collection::plan::<HardwareOathTokens>(&[desired("1001", Some("u1"))], &[], false);
    let [create] = plan.changes.as_slice() else {
        panic!("{:?}", plan.changes)
    };
    assert_eq!(create.method, "POST");
    assert_eq!(create.body["secretKey"], json!(seed::placeholder("1001")));
    assert_eq!(create.body["assignTo"], json!({"id": "u1"}));
    let status = create
        .properties
        .iter()
        .find(|p| p.name == "status")
        .unwrap();
    assert_eq!(status.after, json!("assigned"));
    assert!(create.properties.iter().all(|p| p.name != "secretKey"));
}

#[test]
fn every_unassignment_comes_first_and_prune_unassigns_before_deleting() {
    let plan = collection::plan::<HardwareOathTokens>(
        &[desired("1001", Some("u2"))],
        &[
            live("1001", Some("u1"), "activated"),
            live("1002", Some("u3"), "assigned"),
        ],
        true,
    );
    let steps: Vec<(&str, &str)> = plan
        .changes
        .iter()
        .map(|c| (c.method.as_str(), c.path.as_str()))
        .collect();
    assert_eq!(
        steps,
        [
            (
                "DELETE",
                "/beta/users/u1/authentication/hardwareOathMethods/dev-1001"
            ),
            (
                "DELETE",
                "/beta/users/u3/authentication/hardwareOathMethods/dev-1002"
            ),
            (
                "PATCH",
                "/beta/directory/authenticationMethodDevices/hardwareOathDevices/dev-1001"
            ),
            (
                "DELETE",
                "/beta/directory/authenticationMethodDevices/hardwareOathDevices/dev-1002"
            ),
        ]
    );
    assert_eq!(plan.changes[2].body, json!({"assignTo": {"id": "u2"}}));
    let in_sync = collection::plan::<HardwareOathTokens>(
        &[desired("1001", Some("u1"))],
        &[live("1001", Some("U1"), "activated")],
        false,
    );
    assert!(in_sync.changes.is_empty(), "{:?}", in_sync.changes);
}

#[test]
fn creates_declared_between_updates_sit_together_after_the_unassignments() {
    let plan = collection::plan::<HardwareOathTokens>(
        &[
            desired("2001", Some("u9")),
            desired("1001", Some("u2")),
            desired("2002", None),
            desired("1002", None),
        ],
        &[
            live("1001", Some("u1"), "activated"),
            live("1002", Some("u3"), "assigned"),
        ],
        false,
    );
    let steps: Vec<(&str, &str)> = plan
        .changes
        .iter()
        .map(|c| (c.method.as_str(), c.resource.as_str()))
        .collect();
    assert_eq!(
        steps,
        [
            ("DELETE", "hardwareOathTokens/1001"),
            ("DELETE", "hardwareOathTokens/1002"),
            ("POST", "hardwareOathTokens/2001"),
            ("POST", "hardwareOathTokens/2002"),
            ("PATCH", "hardwareOathTokens/1001"),
        ]
    );
}
