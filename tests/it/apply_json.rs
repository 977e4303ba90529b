//! `apply -o json`: what was applied, what failed and what was not attempted, for one tenant
//! and per tenant across several, as a document on stdout.

use serde_json::{Value, json};

use crate::cli::Project;
use crate::common::{code, stderr};

fn resources(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| c["resource"].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_apply_then_a_full_one_then_nothing_in_json() {
    let p = Project::sandbox_tenant().await;
    let fault = json!({"method": "PATCH", "pathPrefix": "/beta/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/sms", "count": 1, "kind": "status", "status": 400});
    p.h.add_fault(fault).await;

    let o = p.run(&["apply", "--yes", "-o", "json"]);
    assert_eq!(code(&o), 6, "{}", stderr(&o));
    let doc: Value = serde_json::from_slice(&o.stdout).expect("stdout is one JSON document");
    assert_eq!(doc["formatVersion"], 1);
    assert_eq!(doc["tenant"], "test");
    assert_eq!(doc["inSync"], false);
    assert!(
        resources(&doc["applied"])
            .contains(&"authenticationMethodConfigurations/MicrosoftAuthenticator"),
        "{doc:#}"
    );
    assert_eq!(
        resources(&doc["failed"]),
        ["authenticationMethodConfigurations/Sms"]
    );
    assert!(
        doc["failed"][0]["error"].as_str().unwrap().contains("400"),
        "{doc:#}"
    );
    assert!(
        resources(&doc["notAttempted"]).contains(&"authenticationMethodConfigurations/Voice"),
        "{doc:#}"
    );
    assert_eq!(
        doc["verified"],
        Value::Null,
        "an incomplete apply is not verified"
    );
    let applied_first = resources(&doc["applied"])
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();

    let o = p.run(&["apply", "--yes", "-o", "json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let doc: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(doc["verified"], true);
    assert_eq!(doc["failed"], json!([]));
    assert_eq!(doc["notAttempted"], json!([]));
    let second = resources(&doc["applied"]);
    assert!(second.contains(&"authenticationMethodConfigurations/Sms"));
    assert!(second.iter().all(|r| !applied_first.iter().any(|f| f == r)));
    assert!(
        stderr(&o).contains("re-read and verified"),
        "the line for people stays on stderr"
    );

    let o = p.run(&["apply", "--yes", "-o", "json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let doc: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(
        (doc["inSync"].clone(), doc["applied"].clone()),
        (json!(true), json!([]))
    );
}
