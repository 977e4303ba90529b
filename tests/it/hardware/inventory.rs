//! `kind: HardwareOathTokens` through the binary: the inventory created from the vendor's
//! seed file, tokens assigned, reassigned, unassigned and pruned, drift, the checks made
//! before anything is sent, and secret keys that never leave the request that creates them.

use mfactl::emulator::EmulatorConfig;
use mfactl::emulator::state::{HardwareOathDevice, State, TokenStatus};
use mfactl::emulator::throttle::ThrottleMode;
use serde_json::{Value, json};

use super::{DEVICES, delete, post, state};
use crate::common::{self, Project, code, stderr, stdout};

/// The seed file's header, as the Entra portal takes it.
const HEADER: &str = "upn,serial number,secret key,time interval,manufacturer,model\n";

/// A valid Base32 key per serial number, different for each token.
fn key(serial: &str) -> String {
    let digits: String = serial
        .chars()
        .map(|c| match c {
            '0'..='7' => char::from(b'A' + (c as u8 - b'0')),
            _ => 'Z',
        })
        .collect();
    format!("JBSWY3DPEHPK3PXP{digits}QRST")
}

/// Seed-file rows of `serials`, each with its [`key`], for `upn` (may be empty).
fn rows(serials: &[&str], upn: &str) -> String {
    serials
        .iter()
        .map(|s| format!("{upn},{s},{},30,Contoso,T1000\n", key(s)))
        .collect()
}

/// A project whose tenant has the Hardware OATH method enabled for everyone, a member
/// `alice` (users[1]), a member `bob` (users[3]), a guest (users[2]), and a member `carol`
/// (users[4]) with an authenticator app; `edit` changes the state. The seed file is
/// `seed.csv` beside mfactl.yaml.
struct Inventory {
    p: Project,
    alice: (String, String),
    bob: (String, String),
    guest: String,
    carol: (String, String),
}

async fn inventory(edit: impl FnOnce(&mut State)) -> Inventory {
    let mut s = common::state(30);
    let t = &mut s.tenants[0];
    for i in [1, 3, 4] {
        t.users[i].user_type = "member".into();
        t.users[i].account_enabled = true;
    }
    t.users[2].user_type = "guest".into();
    t.users[4].methods_registered = std::sync::Arc::new(vec!["softwareOneTimePasscode".into()]);
    let pair = |i: usize| {
        (
            t.users[i].id.clone(),
            t.users[i].user_principal_name.clone(),
        )
    };
    let (alice, bob, carol) = (pair(1), pair(3), pair(4));
    let guest = t.users[2].user_principal_name.clone();
    hardware_oath(&mut s)["state"] = json!("enabled");
    edit(&mut s);
    let mut config = EmulatorConfig::new(s);
    config.throttle = ThrottleMode::Off;
    let p = Project::start("oath", config, "    hardwareOathSeed: { file: seed.csv }\n").await;
    Inventory {
        p,
        alice,
        bob,
        guest,
        carol,
    }
}

fn hardware_oath(s: &mut State) -> &mut Value {
    s.tenants[0].authentication_methods_policy["authenticationMethodConfigurations"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|c| c["id"] == "HardwareOath")
        .unwrap()
}

/// One token's document.
fn token(serial: &str, assigned_to: Option<&str>) -> String {
    let holder = assigned_to.map_or(String::new(), |h| format!("  assignedTo: {h}\n"));
    format!(
        "apiVersion: mfactl/v1\nkind: HardwareOathTokens\nmetadata: {{name: \"{serial}\"}}\nspec:\n  manufacturer: Contoso\n  model: T1000\n  timeIntervalInSeconds: 30\n{holder}---\n"
    )
}

/// A token already in the inventory.
fn existing(serial: &str, holder: Option<&str>) -> HardwareOathDevice {
    HardwareOathDevice {
        id: format!("00000000-0000-4000-8000-{:0>12}", serial),
        display_name: None,
        serial_number: serial.into(),
        manufacturer: "Contoso".into(),
        model: "T1000".into(),
        secret_key: key(serial),
        time_interval_in_seconds: 30,
        hash_function: "hmacsha1".into(),
        status: if holder.is_some() {
            TokenStatus::Assigned
        } else {
            TokenStatus::Available
        },
        assigned_to: holder.map(String::from),
        last_used_date_time: None,
    }
}

impl Inventory {
    fn declare(&self, tokens: &[(&str, Option<&str>)]) {
        let text: String = tokens.iter().map(|(s, h)| token(s, *h)).collect();
        self.p.policy("tokens.yaml", &text);
    }

    /// Turns pruning on for the tenant.
    fn prune(&self) {
        let config = self.p.read("mfactl.yaml");
        let pruning = config.replace("auditLog:", "    prune: true\nauditLog:");
        std::fs::write(self.p.path("mfactl.yaml"), pruning).unwrap();
    }

    fn seed(&self, rows: &str) {
        std::fs::write(self.p.path("seed.csv"), format!("{HEADER}{rows}")).unwrap();
    }

    /// The inventory: serial → (holder id, status, secret key as stored).
    async fn devices(&self) -> Vec<(String, Option<String>, String, String)> {
        let saved = state(&self.p.h).await;
        let mut out: Vec<_> = saved["tenants"][0]["credentials"]["hardwareOathDevices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["serialNumber"].as_str().unwrap().to_string(),
                    d["assignedTo"].as_str().map(String::from),
                    d["status"].as_str().unwrap().to_string(),
                    d["secretKey"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        out.sort();
        out
    }

    /// Accepted writes (method, path), in order.
    async fn writes(&self) -> Vec<(String, String)> {
        self.p
            .log()
            .await
            .into_iter()
            .filter(|e| {
                e["method"] != "GET"
                    && !e["path"].as_str().unwrap_or_default().ends_with("/$batch")
                    && !common::is_token_request(e)
            })
            .map(|e| {
                (
                    e["method"].as_str().unwrap_or_default().to_string(),
                    e["path"].as_str().unwrap_or_default().to_string(),
                )
            })
            .filter(|(_, path)| !path.starts_with("/_emulator"))
            .collect()
    }
}

fn applied(o: &std::process::Output) {
    assert_eq!(code(o), 0, "{}{}", stdout(o), stderr(o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_created_assigned_reassigned_unassigned_and_pruned() {
    let inv = inventory(|_| {}).await;
    let (alice, bob) = (&inv.alice, &inv.bob);
    inv.seed(&format!(
        "{},1001,{},30,Contoso,T1000\n,1002,{},30,Contoso,T1000\n",
        alice.1,
        key("1001"),
        key("1002")
    ));
    inv.declare(&[("1001", Some(&alice.1)), ("1002", None)]);
    let plan = inv.p.run(&["plan"]);
    assert_eq!(code(&plan), 1, "{}", stderr(&plan));
    let shown = stdout(&plan);
    assert!(shown.contains("hardwareOathTokens/1001"), "{shown}");
    assert!(shown.contains("assigned"), "{shown}");
    applied(&inv.p.run(&["apply", "--yes"]));
    assert_eq!(
        inv.devices().await,
        [
            (
                "1001".into(),
                Some(alice.0.clone()),
                "assigned".into(),
                key("1001")
            ),
            ("1002".into(), None, "available".into(), key("1002")),
        ]
    );
    let again = inv.p.run(&["plan"]);
    assert_eq!(code(&again), 0, "{}{}", stdout(&again), stderr(&again));

    // Reassigned to bob, assigned to alice: the token bob takes is unassigned first.
    inv.declare(&[("1001", Some(&bob.1)), ("1002", Some(&alice.0))]);
    applied(&inv.p.run(&["apply", "--yes"]));
    let devices = inv.devices().await;
    assert_eq!(devices[0].1.as_deref(), Some(bob.0.as_str()));
    assert_eq!(devices[1].1.as_deref(), Some(alice.0.as_str()));
    assert_eq!(devices[1].2, "assigned");

    // Unassigned.
    inv.declare(&[("1001", None), ("1002", Some(&alice.1))]);
    applied(&inv.p.run(&["apply", "--yes"]));
    let devices = inv.devices().await;
    assert_eq!(
        (devices[0].1.as_deref(), devices[0].2.as_str()),
        (None, "available")
    );

    // Left out: listed, not deleted, until the tenant prunes; then unassigned and deleted.
    inv.declare(&[("1001", None)]);
    let kept = inv.p.run(&["plan", "-o", "json"]);
    assert_eq!(code(&kept), 0, "{}", stderr(&kept));
    let json: Value = serde_json::from_str(&stdout(&kept)).unwrap();
    assert_eq!(json["unmanaged"][0]["displayName"], json!("1002"));
    assert_eq!(json["unmanaged"][0]["deleted"], json!(false));
    inv.prune();
    applied(&inv.p.run(&["apply", "--yes"]));
    let devices = inv.devices().await;
    assert_eq!(devices.len(), 1, "{devices:?}");
    assert_eq!(devices[0].0, "1001");
    let writes = inv.writes().await;
    let tail: Vec<(&str, &str)> = writes[writes.len() - 2..]
        .iter()
        .map(|(m, p)| (m.as_str(), p.as_str()))
        .collect();
    assert_eq!(tail[0].0, "DELETE");
    assert!(
        tail[0].1.contains("/authentication/hardwareOathMethods/"),
        "{tail:?}"
    );
    assert_eq!(tail[1].0, "DELETE");
    assert!(tail[1].1.starts_with(DEVICES), "{tail:?}");
}

/// An [`inventory`] whose tenant has the token `serial`, held by alice; and alice's id.
async fn held_by_alice(serial: &str) -> (Inventory, String) {
    let mut alice_id = String::new();
    let inv = inventory(|s| {
        alice_id = s.tenants[0].users[1].id.clone();
        let d = existing(serial, Some(&alice_id));
        s.tenants[0].credentials.hardware_oath_devices.push(d);
    })
    .await;
    (inv, alice_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_reassigned_in_the_tenant_is_drift_and_converges_back() {
    let (inv, alice_id) = held_by_alice("2001").await;
    inv.declare(&[("2001", Some(&inv.alice.1))]);
    let plan = inv.p.run(&["plan"]);
    assert_eq!(code(&plan), 0, "{}{}", stdout(&plan), stderr(&plan));
    // Someone moves the token to bob in the portal.
    let t = inv.p.h.writer_token().await;
    let device = "00000000-0000-4000-8000-000000002001";
    let r = delete(
        &inv.p.h,
        &format!("/beta/users/{alice_id}/authentication/hardwareOathMethods/{device}"),
        &t,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = post(
        &inv.p.h,
        &format!(
            "/beta/users/{}/authentication/hardwareOathMethods",
            inv.bob.0
        ),
        &t,
        json!({"device": {"id": device}}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let drift = inv.p.run(&["plan", "-o", "json"]);
    assert_eq!(code(&drift), 1, "{}", stderr(&drift));
    let json: Value = serde_json::from_str(&stdout(&drift)).unwrap();
    let changes = json["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert_eq!(changes[0]["method"], json!("DELETE"));
    let assigned = changes[1]["properties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "assignedTo")
        .unwrap();
    assert_eq!(assigned["after"]["id"], json!(alice_id));
    let status = changes[1]["properties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "status")
        .unwrap();
    assert_eq!(status["before"], json!("assigned"));
    applied(&inv.p.run(&["apply", "--yes"]));
    assert_eq!(inv.devices().await[0].1.as_deref(), Some(alice_id.as_str()));
}

/// Runs `plan` and checks it is refused with `code` at `at`, nothing written.
async fn refused(inv: &Inventory, diagnostic: &str, at: &str) -> String {
    let out = inv.p.run(&["plan"]);
    let err = stderr(&out);
    assert_eq!(code(&out), 3, "{}{err}", stdout(&out));
    assert!(err.contains(diagnostic), "{err}");
    assert!(err.contains(at), "{err}");
    assert!(inv.writes().await.is_empty(), "{:?}", inv.writes().await);
    err
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guests_and_a_sixth_oath_method_are_refused_before_anything_is_sent() {
    let mut carol_id = String::new();
    let inv = inventory(|s| {
        carol_id = s.tenants[0].users[4].id.clone();
        for n in 0..4 {
            let d = existing(&format!("300{n}"), Some(&carol_id));
            s.tenants[0].credentials.hardware_oath_devices.push(d);
        }
    })
    .await;
    let rows: String = (0..6)
        .map(|n| format!(",400{n},{},30,Contoso,T1000\n", key(&format!("400{n}"))))
        .collect();
    inv.seed(&rows);
    inv.declare(&[("4000", Some(&inv.guest))]);
    let err = refused(&inv, "MFA046", "tokens.yaml:8:15").await;
    assert!(err.contains("guest"), "{err}");
    // An object id no user has.
    inv.declare(&[("4000", Some("0badc0de-0000-4000-8000-000000000000"))]);
    refused(&inv, "MFA038", "tokens.yaml:8:15").await;
    // Carol has an authenticator app and four tokens: a fifth token is a sixth method.
    inv.declare(&[("4001", Some(&inv.carol.1))]);
    let err = refused(&inv, "MFA047", "tokens.yaml:8:15").await;
    assert!(err.contains("6 OATH methods"), "{err}");
    // Declared among the four (pruned away), it fits.
    let carol = inv.carol.1.as_str();
    inv.prune();
    inv.declare(&[
        ("4001", Some(carol)),
        ("3000", Some(carol)),
        ("3001", Some(carol)),
    ]);
    let out = inv.p.run(&["plan"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    // The same user given one serial twice is a second document of one name.
    inv.declare(&[("4001", Some(carol)), ("4001", Some(&inv.alice.1))]);
    let out = inv.p.run(&["validate"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("MFA013"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hardware_oath_method_must_be_on_for_the_holders() {
    let inv = inventory(|s| hardware_oath(s)["state"] = json!("disabled")).await;
    inv.seed(&format!(",5001,{},30,Contoso,T1000\n", key("5001")));
    inv.declare(&[("5001", Some(&inv.alice.1))]);
    let err = refused(&inv, "MFA048", "tokens.yaml:8:15").await;
    assert!(err.contains("disabled"), "{err}");
    // Declared on, but only for a group alice is not in.
    let group = common::EXAMPLE_GROUPS[0];
    inv.p.policy(
        "methods.yaml",
        &format!(
            "apiVersion: mfactl/v1\nkind: AuthenticationMethodsPolicy\nmetadata: {{name: methods}}\nspec:\n  methods:\n    hardwareOath:\n      state: enabled\n      includeTargets: [{{group: {group}}}]\n"
        ),
    );
    let err = refused(&inv, "MFA048", "tokens.yaml:8:15").await;
    assert!(err.contains("does not target"), "{err}");
    // Declared off: refused by validate already, without the tenant.
    inv.p.policy(
        "methods.yaml",
        "apiVersion: mfactl/v1\nkind: AuthenticationMethodsPolicy\nmetadata: {name: methods}\nspec:\n  methods:\n    hardwareOath:\n      state: disabled\n",
    );
    let out = inv.p.run(&["validate"]);
    let err = stderr(&out);
    assert_eq!(code(&out), 3, "{err}");
    assert!(err.contains("tokens.yaml:8:15: error[MFA048]"), "{err}");
    // For everyone: planned.
    inv.p.policy(
        "methods.yaml",
        "apiVersion: mfactl/v1\nkind: AuthenticationMethodsPolicy\nmetadata: {name: methods}\nspec:\n  methods:\n    hardwareOath:\n      state: enabled\n      includeTargets: [{group: all_users}]\n",
    );
    let out = inv.p.run(&["plan"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_invalid_key_names_the_token_and_nothing_is_sent() {
    let inv = inventory(|_| {}).await;
    inv.seed(&format!(
        ",6001,{},30,Contoso,T1000\n,6002,{},30,Contoso,T1000\n",
        key("6001"),
        "not-base32-1"
    ));
    inv.declare(&[("6001", None), ("6003", None)]);
    let out = inv.p.run(&["apply", "--yes"]);
    let err = stderr(&out);
    assert_eq!(code(&out), 3, "{err}");
    assert!(err.contains("serial number 6003"), "{err}");
    assert!(inv.writes().await.is_empty());
    inv.declare(&[("6001", None), ("6002", None)]);
    let out = inv.p.run(&["plan"]);
    let err = stderr(&out);
    assert_eq!(code(&out), 3, "{err}");
    assert!(err.contains("seed.csv:3"), "{err}");
    assert!(err.contains("serial number 6002"), "{err}");
    assert!(!err.contains("not-base32-1"), "{err}");
    assert!(inv.writes().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_keys_of_tokens_to_create_are_read() {
    let inv = inventory(|s| {
        for n in 0..40 {
            let d = existing(&format!("7{n:03}"), None);
            s.tenants[0].credentials.hardware_oath_devices.push(d);
        }
    })
    .await;
    // The rows of the forty tokens the tenant has hold keys Graph would refuse.
    let mut rows: String = (0..40)
        .map(|n| format!(",7{n:03},not a key!,30,Contoso,T1000\n"))
        .collect();
    rows.push_str(&format!(",8001,{},30,Contoso,T1000\n", key("8001")));
    inv.seed(&rows);
    let mut declared: Vec<String> = (0..40).map(|n| format!("7{n:03}")).collect();
    declared.push("8001".into());
    let tokens: Vec<(&str, Option<&str>)> = declared.iter().map(|s| (s.as_str(), None)).collect();
    inv.declare(&tokens);
    applied(&inv.p.run(&["apply", "--yes"]));
    let devices = inv.devices().await;
    assert_eq!(devices.len(), 41);
    assert_eq!(devices.last().unwrap().3, key("8001"));
    let posts: Vec<_> = inv
        .writes()
        .await
        .into_iter()
        .filter(|(m, _)| m == "POST")
        .collect();
    assert_eq!(posts.len(), 1, "{posts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_key_is_printed_logged_audited_or_planned_at_trace_level() {
    let inv = inventory(|_| {}).await;
    let serials = ["9001", "9002", "9003"];
    inv.seed(&rows(&serials, &inv.alice.1));
    inv.declare(&[
        ("9001", Some(&inv.alice.1)),
        ("9002", None),
        ("9003", Some(&inv.bob.0)),
    ]);
    let mut logged = 0;
    let mut seen = String::new();
    for args in [
        &["validate", "-vv"][..],
        &["plan", "-vv"],
        &["plan", "-vv", "-o", "json", "--out", "plan.json"],
        &["plan", "-vv", "-o", "markdown"],
        &["apply", "-vv", "plan.json", "--yes"],
        &["plan", "-vv"],
    ] {
        let mut cmd = common::mfactl(&inv.p.dir, args, mfactl::emulator::generate::WRITER_SECRET);
        cmd.env("RUST_LOG", "trace");
        let out = cmd.output().unwrap();
        assert!(
            out.status.code().is_some_and(|c| c <= 1),
            "{args:?}: {}",
            stderr(&out)
        );
        logged += out.stderr.len();
        seen.push_str(&stdout(&out));
        seen.push_str(&stderr(&out));
    }
    assert!(logged > 10_000, "trace logging was on ({logged} bytes)");
    seen.push_str(&inv.p.read("audit.jsonl"));
    seen.push_str(&inv.p.read("plan.json"));
    assert!(
        inv.p
            .read("audit.jsonl")
            .contains("hardwareOathTokens/9001")
    );
    for s in serials {
        assert!(!seen.contains(&key(s)), "the key of {s} was shown");
    }
    // Created with their keys all the same, in one bulk upload.
    let devices = inv.devices().await;
    assert_eq!(devices.len(), 3);
    for (d, s) in devices.iter().zip(serials) {
        assert_eq!(d.3, key(s));
    }
    assert_eq!(bulk_uploads(&inv).await, [serials.map(String::from)]);
}

/// The bulk uploads apply sent (`PATCH` of the inventory): the serial numbers each carried.
async fn bulk_uploads(inv: &Inventory) -> Vec<Vec<String>> {
    inv.p
        .log()
        .await
        .into_iter()
        .filter(|e| e["method"] == "PATCH" && e["path"] == DEVICES)
        .map(|e| {
            assert_eq!(e["body"]["@context"], json!("#$delta"), "{e}");
            e["body"]["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["serialNumber"].as_str().unwrap().to_string())
                .collect()
        })
        .collect()
}

/// The result the audit log gives each resource, in the order first audited; a resource
/// audited with two results shows both.
fn audited(inv: &Inventory) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in inv.p.read("audit.jsonl").lines() {
        let r: Value = serde_json::from_str(line).unwrap();
        let entry = (
            r["resource"].as_str().unwrap().to_string(),
            r["result"].as_str().unwrap().to_string(),
        );
        if !out.contains(&entry) {
            out.push(entry);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_tokens_are_created_in_two_bulk_uploads_and_converge() {
    let inv = inventory(|_| {}).await;
    let serials: Vec<String> = (0..60).map(|n| format!("5{n:03}")).collect();
    let names: Vec<&str> = serials.iter().map(String::as_str).collect();
    inv.seed(&rows(&names, ""));
    let mut declared: Vec<(&str, Option<&str>)> = names.iter().map(|s| (*s, None)).collect();
    declared[0].1 = Some(&inv.alice.1);
    inv.declare(&declared);
    let plan = inv.p.run(&["plan", "-o", "json"]);
    assert_eq!(code(&plan), 1, "{}", stderr(&plan));
    let json: Value = serde_json::from_str(&stdout(&plan)).unwrap();
    // Each token is still its own change in the plan.
    assert_eq!(json["changes"].as_array().unwrap().len(), 60);
    applied(&inv.p.run(&["apply", "--yes"]));
    let uploads = bulk_uploads(&inv).await;
    assert_eq!(uploads.len(), 2, "{uploads:?}");
    assert_eq!(uploads[0], serials[..50]);
    assert_eq!(uploads[1], serials[50..]);
    let writes = inv.writes().await;
    assert_eq!(writes.len(), 2, "one request per fifty tokens: {writes:?}");
    let devices = inv.devices().await;
    assert_eq!(devices.len(), 60);
    for (d, s) in devices.iter().zip(&serials) {
        assert_eq!((&d.0, &d.3), (s, &key(s)));
    }
    assert_eq!(devices[0].1.as_deref(), Some(inv.alice.0.as_str()));
    assert_eq!(devices[0].2, "assigned");
    let results = audited(&inv);
    assert_eq!(results.len(), 60, "{results:?}");
    assert!(results.iter().all(|(_, r)| r == "applied"), "{results:?}");
    let again = inv.p.run(&["plan"]);
    assert_eq!(code(&again), 0, "{}{}", stdout(&again), stderr(&again));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_bulk_upload_creates_none_of_its_tokens_and_the_next_run_creates_them() {
    let (inv, _) = held_by_alice("2001").await;
    let serials: Vec<String> = (0..52).map(|n| format!("3{n:03}")).collect();
    let names: Vec<&str> = serials.iter().map(String::as_str).collect();
    inv.seed(&rows(&names, ""));
    // Token 2001 is unassigned first (applied), then fifty-two are created.
    let mut declared: Vec<(&str, Option<&str>)> = vec![("2001", None)];
    declared.extend(names.iter().map(|s| (*s, None)));
    inv.declare(&declared);
    // The service refuses the first bulk upload.
    inv.p
        .h
        .add_fault(json!({"method": "PATCH", "pathPrefix": DEVICES, "count": 1, "kind": "status", "status": 400}))
        .await;
    let out = inv.p.run(&["apply", "--yes"]);
    let shown = format!("{}{}", stdout(&out), stderr(&out));
    // Something was applied before: a partial apply.
    assert_eq!(code(&out), 6, "{shown}");
    assert!(
        shown.contains("failed       hardwareOathTokens/3000"),
        "{shown}"
    );
    let devices = inv.devices().await;
    assert_eq!(
        devices.len(),
        1,
        "nothing of the refused upload: {devices:?}"
    );
    assert_eq!(
        (devices[0].0.as_str(), devices[0].1.as_ref()),
        ("2001", None)
    );
    let results = audited(&inv);
    let mut expected = vec![("hardwareOathTokens/2001".to_string(), "applied".to_string())];
    expected.extend(
        serials[..50]
            .iter()
            .map(|s| (format!("hardwareOathTokens/{s}"), "failed".to_string())),
    );
    expected.extend(serials[50..].iter().map(|s| {
        (
            format!("hardwareOathTokens/{s}"),
            "notAttempted".to_string(),
        )
    }));
    assert_eq!(results, expected);
    let audit = inv.p.read("audit.jsonl");
    assert!(audit.contains("400"), "{audit}");
    for s in &serials {
        assert!(
            !shown.contains(&key(s)) && !audit.contains(&key(s)),
            "the key of {s} was shown"
        );
    }
    applied(&inv.p.run(&["apply", "--yes"]));
    let created: Vec<String> = inv.devices().await.into_iter().map(|d| d.0).collect();
    let mut all = vec!["2001".to_string()];
    all.extend(serials.iter().cloned());
    assert_eq!(created, all);
    // The refused upload, then one of fifty and one of two.
    assert_eq!(
        bulk_uploads(&inv)
            .await
            .iter()
            .map(Vec::len)
            .collect::<Vec<_>>(),
        [50, 50, 2]
    );
    let again = inv.p.run(&["plan"]);
    assert_eq!(code(&again), 0, "{}{}", stdout(&again), stderr(&again));
}
