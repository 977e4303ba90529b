//! The beta hardware OATH token inventory and the users' hardware OATH methods.

use mfactl::emulator::hardware::totp;
use serde_json::{Value, json};

use super::{
    DEVICES, assert_covers, delete, fixture, listed_methods, message, patch, post, registered,
    state, text, world,
};
use crate::common::error_code;

const SECRET: &str = "6PJ4UKIW33NNXYZAEHQNFUFTZF7WFTFB";

fn device(serial: &str) -> Value {
    let mut d = fixture("hardwareOathDevice.post.beta.request.json");
    d["serialNumber"] = json!(serial);
    d
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn code_now(secret: &str) -> String {
    totp::code(secret, "hmacsha1", 30, unix_now()).unwrap()
}

/// A six-digit code that is none of the token's codes around now.
fn wrong_code(secret: &str) -> String {
    let now = unix_now();
    let near: Vec<String> = [now - 60, now - 30, now, now + 30, now + 60]
        .iter()
        .map(|t| totp::code(secret, "hmacsha1", 30, *t).unwrap())
        .collect();
    (0..10)
        .map(|n| format!("{n:06}"))
        .find(|c| !near.contains(c))
        .unwrap()
}

#[tokio::test]
async fn create_answers_the_documented_device_and_never_returns_the_secret() {
    let w = world(|_| {}).await;
    let t = w.h.writer_token().await;
    let r = post(
        &w.h,
        DEVICES,
        &t,
        fixture("hardwareOathDevice.post.beta.request.json"),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_covers(
        &fixture("hardwareOathDevice.post.beta.response.json"),
        &r.body,
        "device",
    );
    let id = r.body["id"].as_str().unwrap().to_string();
    let list = w.h.get(DEVICES, &t).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["value"].as_array().unwrap().len(), 1);
    assert_eq!(list.body["value"][0]["id"], json!(id));
    let one = w.h.get(&format!("{DEVICES}/{id}"), &t).await;
    assert_eq!(one.body["serialNumber"], json!("TOTP123456"));
    assert_eq!(one.body["secretKey"], Value::Null);
    for r in [&list, &one] {
        assert!(!text(r).contains(SECRET), "secret served: {}", r.body);
    }
    // The secret is kept in the emulator's own state, which round-trips.
    let saved = state(&w.h).await;
    let devices = &saved["tenants"][0]["credentials"]["hardwareOathDevices"];
    assert_eq!(devices[0]["secretKey"], json!(SECRET));
    let parsed = serde_json::from_value(saved.clone()).expect("the state format");
    let again = crate::common::Harness::start(parsed).await;
    assert_eq!(state(&again).await, saved);
    // A serial number twice is not a state the service can be in.
    let mut twice = saved.clone();
    let copy = twice["tenants"][0]["credentials"]["hardwareOathDevices"][0].clone();
    let mut other = copy.clone();
    other["id"] = json!("00000000-0000-0000-0000-0000000000aa");
    twice["tenants"][0]["credentials"]["hardwareOathDevices"] = json!([copy, other]);
    let r =
        w.h.call(reqwest::Method::PUT, "/_emulator/state", None, Some(&twice))
            .await;
    assert_eq!(r.status, 400, "{}", r.body);
}

#[tokio::test]
async fn the_inventory_and_user_methods_are_beta_only() {
    let w = world(|_| {}).await;
    let t = w.h.writer_token().await;
    let v1 = DEVICES.replace("/beta/", "/v1.0/");
    let r = w.h.get(&v1, &t).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        message(&r),
        "Resource not found for the segment 'authenticationMethodDevices'."
    );
    let r = post(&w.h, &v1, &t, device("X1")).await;
    assert_eq!(r.status, 400);
    let path = format!(
        "/v1.0/users/{}/authentication/hardwareOathMethods",
        w.member
    );
    let r = w.h.get(&path, &t).await;
    assert_eq!(
        message(&r),
        "Resource not found for the segment 'hardwareOathMethods'."
    );
}

#[tokio::test]
async fn create_is_validated_as_documented() {
    let w = world(|_| {}).await;
    let t = w.h.writer_token().await;
    let refused = |body: Value, expected: &'static str| {
        let h = &w.h;
        let t = t.clone();
        async move {
            let r = post(h, DEVICES, &t, body.clone()).await;
            assert_eq!(r.status, 400, "{body} was accepted");
            let m = message(&r);
            assert!(m.contains(expected), "{body}: {m}");
        }
    };
    let mut missing = device("A1");
    missing.as_object_mut().unwrap().remove("serialNumber");
    refused(missing, "'serialNumber' is required").await;
    for key in ["manufacturer", "model", "secretKey"] {
        let mut d = device("A2");
        d.as_object_mut().unwrap().remove(key);
        refused(d, key).await;
    }
    let mut d = device("A3");
    d.as_object_mut().unwrap().remove("timeIntervalInSeconds");
    refused(d, "30 or 60").await;
    let mut d = device("A4");
    d["timeIntervalInSeconds"] = json!(45);
    refused(d, "30 or 60").await;
    for bad in ["ABCDEFGH01", "abc def", &"A".repeat(129)] {
        let mut d = device("A5");
        d["secretKey"] = json!(bad);
        refused(d, "Base32").await;
    }
    let mut d = device("A6");
    d["hashFunction"] = json!("md5");
    refused(d, "hardwareOathTokenHashFunction").await;
    let mut d = device("A7");
    d["status"] = json!("activated");
    refused(d, "The property 'status' is read-only").await;
    let mut d = device("A8");
    d["colour"] = json!("blue");
    refused(d, "The property 'colour' does not exist").await;
    // At the limits: 128 Base32 characters, lower case, SHA-256, 60 seconds.
    let mut d = device("A9");
    d["secretKey"] = json!("a".repeat(128));
    d["hashFunction"] = json!("hmacsha256");
    d["timeIntervalInSeconds"] = json!(60);
    let r = post(&w.h, DEVICES, &t, d).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["hashFunction"], json!("hmacsha256"));
    assert_eq!(r.body["timeIntervalInSeconds"], json!(60));
    let mut d = device("B1");
    d.as_object_mut().unwrap().remove("hashFunction");
    let r = post(&w.h, DEVICES, &t, d).await;
    assert_eq!(r.body["hashFunction"], json!("hmacsha1"), "the default");
    refused(device("b1"), "serial number 'b1' already exists").await;
}

#[tokio::test]
async fn assign_activate_deactivate_and_unassign() {
    let w = world(|_| {}).await;
    let t = w.h.writer_token().await;
    let mut body = fixture("hardwareOathDevice.post.beta.assign.request.json");
    body["assignTo"]["id"] = json!(w.member);
    let r = post(&w.h, DEVICES, &t, body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["status"], json!("assigned"));
    assert_eq!(r.body["assignedTo"]["id"], json!(w.member));
    assert!(r.body["assignedTo"]["displayName"].is_string());
    let id = r.body["id"].as_str().unwrap().to_string();
    let methods = format!(
        "/beta/users/{}/authentication/hardwareOathMethods",
        w.member
    );
    let list = w.h.get(&methods, &t).await;
    assert_eq!(list.status, 200);
    let method = &list.body["value"][0];
    assert_eq!(
        method["@odata.type"],
        json!("#microsoft.graph.hardwareOathAuthenticationMethod")
    );
    assert_eq!(method["id"], json!(id));
    assert_eq!(method["device"]["serialNumber"], json!("TOTP123456"));
    assert_eq!(method["device"]["secretKey"], Value::Null);
    assert!(
        !registered(&w.h, &t, &w.member)
            .await
            .contains(&"hardwareOneTimePasscode".into())
    );

    let activate = format!("{methods}/{id}/activate");
    let mut wrong = fixture("hardwareOathMethod.activate.beta.request.json");
    wrong["verificationCode"] = json!(wrong_code(SECRET));
    let r = post(&w.h, &activate, &t, wrong).await;
    assert_eq!(r.status, 400);
    assert_eq!(message(&r), "The verification code is invalid.");
    let d = w.h.get(&format!("{DEVICES}/{id}"), &t).await;
    assert_eq!(d.body["status"], json!("failedActivation"));

    let mut right = fixture("hardwareOathMethod.activate.beta.request.json");
    right["verificationCode"] = json!(code_now(SECRET));
    let r = post(&w.h, &activate, &t, right).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let d = w.h.get(&format!("{DEVICES}/{id}"), &t).await;
    assert_eq!(d.body["status"], json!("activated"));
    assert_eq!(d.body["displayName"], json!("Amy Masters Token"));
    assert!(
        registered(&w.h, &t, &w.member)
            .await
            .contains(&"hardwareOneTimePasscode".into())
    );
    let beta = listed_methods(&w.h, &t, "beta", &w.member).await;
    assert!(beta.iter().any(|m| m["id"] == json!(id)
        && m["@odata.type"] == json!("#microsoft.graph.hardwareOathAuthenticationMethod")));
    let v1 = listed_methods(&w.h, &t, "v1.0", &w.member).await;
    assert!(!v1.iter().any(|m| m["id"] == json!(id)), "beta only");

    let r = delete(&w.h, &format!("{DEVICES}/{id}"), &t).await;
    assert_eq!(r.status, 400);
    assert_eq!(message(&r), "Token needs to be unassigned first.");

    let r =
        w.h.call(
            reqwest::Method::POST,
            &format!("{methods}/{id}/deactivate"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let d = w.h.get(&format!("{DEVICES}/{id}"), &t).await;
    assert_eq!(d.body["status"], json!("assigned"), "remains assigned");
    assert!(
        !registered(&w.h, &t, &w.member)
            .await
            .contains(&"hardwareOneTimePasscode".into())
    );

    assert_eq!(
        delete(&w.h, &format!("{methods}/{id}"), &t).await.status,
        204
    );
    let d = w.h.get(&format!("{DEVICES}/{id}"), &t).await;
    assert_eq!(d.body["status"], json!("available"));
    assert_eq!(d.body["assignedTo"], Value::Null);
    assert_eq!(w.h.get(&methods, &t).await.body["value"], json!([]));
    assert_eq!(
        delete(&w.h, &format!("{DEVICES}/{id}"), &t).await.status,
        204
    );
    assert_eq!(w.h.get(&format!("{DEVICES}/{id}"), &t).await.status, 404);
}

#[tokio::test]
async fn assign_by_device_and_by_serial_number() {
    let w = world(|_| {}).await;
    let t = w.h.writer_token().await;
    let r = post(&w.h, DEVICES, &t, device("TOTP123456")).await;
    let id = r.body["id"].as_str().unwrap().to_string();
    let methods = format!(
        "/beta/users/{}/authentication/hardwareOathMethods",
        w.member_upn
    );
    let r = post(&w.h, &methods, &t, json!({"device": {"id": id}})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["device"]["status"], json!("assigned"));
    // Someone else's token.
    let other = format!("/beta/users/{}/authentication/hardwareOathMethods", w.guest);
    let r = post(&w.h, &other, &t, json!({"device": {"id": id}})).await;
    assert_eq!(r.status, 400);

    post(&w.h, DEVICES, &t, device("TOTP654321")).await;
    let mut body = fixture("hardwareOathMethod.assignAndActivateBySerialNumber.beta.request.json");
    body["serialNumber"] = json!("TOTP654321");
    body["verificationCode"] = json!(code_now(SECRET));
    let r = post(
        &w.h,
        &format!("{methods}/assignAndActivateBySerialNumber"),
        &t,
        body,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let list = w.h.get(&methods, &t).await.body;
    let statuses: Vec<&Value> = list["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["device"]["status"])
        .collect();
    assert_eq!(statuses, [&json!("assigned"), &json!("activated")]);
    let mut unknown =
        fixture("hardwareOathMethod.assignAndActivateBySerialNumber.beta.request.json");
    unknown["serialNumber"] = json!("NOPE");
    let r = post(
        &w.h,
        &format!("{methods}/assignAndActivateBySerialNumber"),
        &t,
        unknown,
    )
    .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn no_tokens_for_guests_and_at_most_five_per_user() {
    let w = world(|_| {}).await;
    let t = w.h.writer_token().await;
    let mut to_guest = device("G1");
    to_guest["assignTo"] = json!({"id": w.guest});
    let r = post(&w.h, DEVICES, &t, to_guest).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        message(&r),
        "Hardware OATH tokens can't be assigned to guest users."
    );
    for n in 0..5 {
        let mut d = device(&format!("M{n}"));
        d["assignTo"] = json!({"id": w.member});
        assert_eq!(post(&w.h, DEVICES, &t, d).await.status, 201);
    }
    let mut sixth = device("M5");
    sixth["assignTo"] = json!({"id": w.member});
    let r = post(&w.h, DEVICES, &t, sixth).await;
    assert_eq!(r.status, 400);
    assert!(message(&r).contains("up to five OATH hardware tokens"));
    // PATCH may not go around it either, and reads back what it changed.
    let r = post(&w.h, DEVICES, &t, device("M6")).await;
    let id = r.body["id"].as_str().unwrap().to_string();
    let r = patch(
        &w.h,
        &format!("{DEVICES}/{id}"),
        &t,
        json!({"assignTo": {"id": w.member}}),
    )
    .await;
    assert_eq!(r.status, 400);
    let r = patch(
        &w.h,
        &format!("{DEVICES}/{id}"),
        &t,
        json!({"displayName": "Spare"}),
    )
    .await;
    assert_eq!(r.status, 204);
    let r = patch(
        &w.h,
        &format!("{DEVICES}/{id}"),
        &t,
        json!({"secretKey": SECRET}),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        w.h.get(&format!("{DEVICES}/{id}"), &t).await.body["displayName"],
        json!("Spare")
    );
}

#[tokio::test]
async fn the_reader_app_reads_but_does_not_write() {
    let w = world(|_| {}).await;
    let writer = w.h.writer_token().await;
    let reader = w.h.reader_token().await;
    let r = post(&w.h, DEVICES, &writer, device("R1")).await;
    let id = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(w.h.get(DEVICES, &reader).await.status, 200);
    let methods = format!(
        "/beta/users/{}/authentication/hardwareOathMethods",
        w.member
    );
    assert_eq!(w.h.get(&methods, &reader).await.status, 200);
    for r in [
        post(&w.h, DEVICES, &reader, device("R2")).await,
        patch(
            &w.h,
            &format!("{DEVICES}/{id}"),
            &reader,
            json!({"displayName": "x"}),
        )
        .await,
        delete(&w.h, &format!("{DEVICES}/{id}"), &reader).await,
        post(&w.h, &methods, &reader, json!({"device": {"id": id}})).await,
    ] {
        assert_eq!(r.status, 403, "{}", r.body);
        assert_eq!(error_code(&r), "Authorization_RequestDenied");
    }
}

#[tokio::test]
async fn bulk_upload_answers_the_documented_methods_all_or_nothing() {
    let w = world(|_| {}).await;
    let t = w.h.writer_token().await;
    let mut request = fixture("hardwareOathDevices.bulk.beta.request.json");
    request["value"][1]["assignTo"]["id"] = json!(w.member);
    let r = patch(&w.h, DEVICES, &t, request.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut expected = fixture("hardwareOathDevices.bulk.beta.response.json");
    expected["value"][1]["device"]["assignedTo"] = json!({
        "id": w.member,
        "displayName": r.body["value"][1]["device"]["assignedTo"]["displayName"],
    });
    assert_eq!(r.body["value"].as_array().unwrap().len(), 2);
    for i in 0..2 {
        assert_covers(&expected["value"][i], &r.body["value"][i], "bulk");
        assert_eq!(r.body["value"][i]["device"].get("@odata.type"), None);
    }
    for m in r.body["value"].as_array().unwrap() {
        assert_eq!(m["id"], m["device"]["id"], "the method is the device");
    }
    let listed = w.h.get(DEVICES, &t).await.body["value"].clone();
    assert_eq!(listed.as_array().unwrap().len(), 2);

    // A second upload with one bad device adds none of them (the first is new).
    let mut again = request;
    again["value"][0]["serialNumber"] = json!("TOTP999999");
    let r =
        w.h.call(reqwest::Method::POST, DEVICES, Some(&t), Some(&again))
            .await;
    assert_eq!(r.status, 400);
    assert!(message(&r).contains("'TOTP654321' already exists"));
    assert_eq!(w.h.get(DEVICES, &t).await.body["value"], listed);
    let reader = w.h.reader_token().await;
    assert_eq!(patch(&w.h, DEVICES, &reader, again).await.status, 403);
}
