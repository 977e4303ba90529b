//! Temporary Access Passes: the documented create, one pass per user, lifetimes within the
//! policy, the guest refusal, the code only in the create response, and the report.

use serde_json::{Value, json};

use super::{
    assert_covers, delete, fixture, listed_methods, message, post, registered, state, text, world,
};
use crate::common::error_code;

fn passes(user: &str) -> String {
    format!("/v1.0/users/{user}/authentication/temporaryAccessPassMethods")
}

#[tokio::test]
async fn create_answers_the_documented_pass_and_only_there() {
    let w = world(|_| {}).await;
    let t = w.h.writer_token().await;
    let mut request = fixture("temporaryAccessPassMethod.post.v1.request.json");
    request["startDateTime"] = json!("2099-06-05T00:00:00.000Z");
    let r = post(&w.h, &passes(&w.member), &t, request).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let mut expected = fixture("temporaryAccessPassMethod.post.v1.response.json");
    expected["startDateTime"] = json!("2099-06-05T00:00:00Z");
    let code = r.body["temporaryAccessPass"].as_str().unwrap().to_string();
    expected["temporaryAccessPass"] = json!(code);
    assert_covers(&expected, &r.body, "pass");
    assert_eq!(code.chars().count(), 8, "the policy's defaultLength");
    assert!(r.body["createdDateTime"].is_string());
    let id = r.body["id"].as_str().unwrap().to_string();

    let list = w.h.get(&passes(&w.member), &t).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["value"].as_array().unwrap().len(), 1);
    assert_eq!(list.body["value"][0]["id"], json!(id));
    assert_eq!(list.body["value"][0]["temporaryAccessPass"], Value::Null);
    let one = w.h.get(&format!("{}/{id}", passes(&w.member)), &t).await;
    assert_eq!(one.body["methodUsabilityReason"], json!("NotYetValid"));
    let beta =
        w.h.get(&passes(&w.member).replace("/v1.0/", "/beta/"), &t)
            .await;
    let methods =
        w.h.get(
            &format!("/v1.0/users/{}/authentication/methods", w.member),
            &t,
        )
        .await;
    let saved = state(&w.h).await;
    for r in [&list, &one, &beta, &methods] {
        assert!(
            !text(r).contains(&code),
            "the code served again: {}",
            r.body
        );
    }
    assert!(!saved.to_string().contains(&code), "nor kept");
    assert_eq!(
        saved["tenants"][0]["credentials"]["temporaryAccessPasses"][0]["id"],
        json!(id)
    );
    let listed = listed_methods(&w.h, &t, "v1.0", &w.member).await;
    let tap = listed
        .iter()
        .find(|m| m["id"] == json!(id))
        .expect("listed among the methods");
    assert_eq!(
        tap["@odata.type"],
        json!("#microsoft.graph.temporaryAccessPassAuthenticationMethod")
    );
    assert_eq!(tap["temporaryAccessPass"], Value::Null);
    assert!(
        registered(&w.h, &t, &w.member)
            .await
            .contains(&"temporaryAccessPass".into())
    );
}

#[tokio::test]
async fn one_pass_per_user_replaces_the_previous_one() {
    let w = world(|_| {}).await;
    let t = w.h.writer_token().await;
    let path = passes(&w.member_upn);
    let first = post(&w.h, &path, &t, json!({})).await;
    assert_eq!(first.status, 201, "{}", first.body);
    assert_eq!(first.body["isUsable"], json!(true));
    assert_eq!(
        first.body["methodUsabilityReason"],
        json!("EnabledByPolicy")
    );
    assert_eq!(
        first.body["lifetimeInMinutes"],
        json!(60),
        "the policy's default"
    );
    assert_eq!(
        first.body["isUsableOnce"],
        json!(false),
        "the policy's default"
    );
    let second = post(&w.h, &path, &t, json!({"lifetimeInMinutes": 120})).await;
    assert_eq!(second.status, 201);
    assert_ne!(first.body["id"], second.body["id"]);
    let list = w.h.get(&path, &t).await.body;
    assert_eq!(list["value"].as_array().unwrap().len(), 1);
    assert_eq!(list["value"][0]["id"], second.body["id"]);
    let gone = format!("{path}/{}", first.body["id"].as_str().unwrap());
    assert_eq!(w.h.get(&gone, &t).await.status, 404);
    let current = format!("{path}/{}", second.body["id"].as_str().unwrap());
    assert_eq!(delete(&w.h, &current, &t).await.status, 204);
    assert_eq!(w.h.get(&path, &t).await.body["value"], json!([]));
    assert!(
        !registered(&w.h, &t, &w.member)
            .await
            .contains(&"temporaryAccessPass".into())
    );
    assert_eq!(delete(&w.h, &current, &t).await.status, 404);
}

#[tokio::test]
async fn lifetimes_stay_within_the_documented_range_and_the_policy() {
    let w = world(|c| {
        c["minimumLifetimeInMinutes"] = json!(30);
        c["maximumLifetimeInMinutes"] = json!(480);
    })
    .await;
    let t = w.h.writer_token().await;
    let path = passes(&w.member);
    for (lifetime, expected) in [
        (json!(9), "between 10 and 43200"),
        (json!(43_201), "between 10 and 43200"),
        (json!(20), "minimumLifetimeInMinutes (30)"),
        (json!(481), "maximumLifetimeInMinutes (480)"),
        (json!("60"), "whole number"),
    ] {
        let r = post(&w.h, &path, &t, json!({"lifetimeInMinutes": lifetime})).await;
        assert_eq!(r.status, 400, "{lifetime}");
        assert!(
            message(&r).contains(expected),
            "{lifetime}: {}",
            message(&r)
        );
    }
    for ok in [30, 480] {
        let r = post(&w.h, &path, &t, json!({"lifetimeInMinutes": ok})).await;
        assert_eq!(r.status, 201, "{ok}");
        assert_eq!(r.body["lifetimeInMinutes"], json!(ok));
    }
    for read_only in ["temporaryAccessPass", "isUsable", "id"] {
        let r = post(&w.h, &path, &t, json!({read_only: "x"})).await;
        assert_eq!(r.status, 400);
        assert!(message(&r).contains("read-only"), "{read_only}");
    }
    let r = post(&w.h, &path, &t, json!({"startDateTime": "tomorrow"})).await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn one_time_only_policies_refuse_multi_use_passes() {
    let w = world(|c| c["isUsableOnce"] = json!(true)).await;
    let t = w.h.writer_token().await;
    let path = passes(&w.member);
    let r = post(&w.h, &path, &t, json!({"isUsableOnce": false})).await;
    assert_eq!(r.status, 400);
    assert!(message(&r).contains("only allows one-time"));
    let r = post(&w.h, &path, &t, json!({})).await;
    assert_eq!(r.body["isUsableOnce"], json!(true));
}

#[tokio::test]
async fn guests_disabled_methods_and_users_outside_the_policy() {
    let w = world(|_| {}).await;
    let t = w.h.writer_token().await;
    let r = post(&w.h, &passes(&w.guest), &t, json!({})).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        message(&r),
        "Temporary Access Pass cannot be added to an external guest user"
    );
    let r = post(&w.h, &passes("nobody@example.com"), &t, json!({})).await;
    assert_eq!(r.status, 404);

    let off = world(|c| c["state"] = json!("disabled")).await;
    let t = off.h.writer_token().await;
    let r = post(&off.h, &passes(&off.member), &t, json!({})).await;
    assert_eq!(r.status, 400);
    assert!(message(&r).contains("not enabled"));

    // "Although you can create a TAP for any user, only users included in the policy can
    // sign-in with it" (FACTS-CA item 49).
    let excluded = world(|c| {
        c["excludeTargets"] = json!([{"id": "all_users", "targetType": "group"}]);
    })
    .await;
    let t = excluded.h.writer_token().await;
    let r = post(&excluded.h, &passes(&excluded.member), &t, json!({})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["isUsable"], json!(false));
    assert_eq!(r.body["methodUsabilityReason"], json!("DisabledByPolicy"));
}

#[tokio::test]
async fn the_reader_app_reads_but_does_not_write() {
    let w = world(|_| {}).await;
    let writer = w.h.writer_token().await;
    let reader = w.h.reader_token().await;
    let path = passes(&w.member);
    let created = post(&w.h, &path, &writer, json!({})).await;
    assert_eq!(w.h.get(&path, &reader).await.status, 200);
    let one = format!("{path}/{}", created.body["id"].as_str().unwrap());
    for r in [
        post(&w.h, &path, &reader, json!({})).await,
        delete(&w.h, &one, &reader).await,
    ] {
        assert_eq!(r.status, 403);
        assert_eq!(error_code(&r), "Authorization_RequestDenied");
    }
    assert_eq!(w.h.get(&one, &reader).await.status, 200, "still there");
}
