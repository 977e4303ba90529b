//! Drift alerts, end to end: a local HTTP receiver on 127.0.0.1 stands in for Teams
//! Workflows, a Slack incoming webhook and a generic webhook, records every request and
//! answers with scripted statuses and `Retry-After`s.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use mfactl::notify::{
    Action, AlertImpact, Decision, DriftAlert, DriftChange, Failure, FailureKind, Notifier,
    NotifyOutcome, PromptChange, ProviderConfig, STATE_FILE, Secret, SendError, SendPolicy, slack,
    teams,
};
use serde_json::{Value, json};

const TEAMS: &str = "/workflows/7f3c/triggers/manual/paths/invoke?sig=teams-s3cr3t";
const SLACK: &str = "/services/T000/B000/slack-s3cr3t";
const HOOK: &str = "/hooks/mfactl-s3cr3t";
const HMAC_KEY: &str = "hmac-k3y";

/// One request as received.
#[derive(Debug, Clone)]
pub struct Captured {
    headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Captured {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A scripted answer.
#[derive(Debug, Clone)]
struct Reply {
    status: u16,
    retry_after: Option<String>,
    body: String,
}

#[derive(Default)]
struct Shared {
    log: HashMap<String, Vec<Captured>>,
    script: HashMap<String, VecDeque<Reply>>,
}

/// The stand-in for Teams, Slack and the webhook. Requests are keyed by path and query;
/// unscripted requests get what each service answers on success (Teams 202, Slack 200
/// `ok`, the webhook 204).
pub struct Receiver {
    addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn success(key: &str) -> Reply {
    let (status, body) = if key.starts_with("/workflows") {
        (202, "")
    } else if key.starts_with("/services") {
        (200, "ok")
    } else {
        (204, "")
    };
    Reply {
        status,
        retry_after: None,
        body: body.into(),
    }
}

async fn handle(
    shared: Arc<Mutex<Shared>>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    let key = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let headers = parts
        .headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let reply = {
        let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
        s.log
            .entry(key.clone())
            .or_default()
            .push(Captured { headers, body });
        s.script
            .get_mut(&key)
            .and_then(VecDeque::pop_front)
            .unwrap_or_else(|| success(&key))
    };
    let mut resp = Response::builder().status(reply.status);
    if let Some(ra) = &reply.retry_after {
        resp = resp.header("retry-after", ra);
    }
    Ok(resp
        .body(Full::new(Bytes::from(reply.body)))
        .expect("a valid response"))
}

impl Receiver {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local address");
        let shared = Arc::new(Mutex::new(Shared::default()));
        let s = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let s = Arc::clone(&s);
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(Arc::clone(&s), req));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, shared, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Answers the next requests to `path` with these statuses and `Retry-After`s.
    pub fn script(&self, path: &str, replies: &[(u16, Option<&str>)]) {
        let mut s = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        s.script
            .entry(path.to_string())
            .or_default()
            .extend(replies.iter().map(|(status, ra)| Reply {
                status: *status,
                retry_after: ra.map(String::from),
                body: String::new(),
            }));
    }

    /// Answers the next request to `path` with `status` and this body.
    fn script_body(&self, path: &str, status: u16, body: &str) {
        let mut s = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        s.script
            .entry(path.to_string())
            .or_default()
            .push_back(Reply {
                status,
                retry_after: None,
                body: body.into(),
            });
    }

    pub fn requests(&self, path: &str) -> Vec<Captured> {
        let s = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        s.log.get(path).cloned().unwrap_or_default()
    }

    fn teams(&self) -> ProviderConfig {
        ProviderConfig::Teams {
            url: Secret::new(self.url(TEAMS)),
        }
    }

    fn slack(&self) -> ProviderConfig {
        ProviderConfig::Slack {
            url: Secret::new(self.url(SLACK)),
        }
    }

    fn webhook(&self) -> ProviderConfig {
        ProviderConfig::Webhook {
            url: Secret::new(self.url(HOOK)),
            hmac_key: Some(Secret::new(HMAC_KEY)),
        }
    }

    fn all(&self) -> Vec<ProviderConfig> {
        vec![self.teams(), self.slack(), self.webhook()]
    }
}

/// Retries without real waits, unless a test asks for them.
fn quick() -> SendPolicy {
    SendPolicy {
        max_attempts: 3,
        request_timeout: Duration::from_secs(10),
        base_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        max_retry_after: Duration::from_secs(5),
    }
}

fn notifier(providers: Vec<ProviderConfig>) -> Notifier {
    Notifier::new(providers)
        .expect("valid providers")
        .with_send_policy(quick())
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A scratch state directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("mfactl-notify-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Self(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn t(minutes: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000 + minutes * 60)
}

fn change(resource: &str, property: &str, live: Value, declared: Value) -> DriftChange {
    DriftChange {
        resource: resource.into(),
        property: property.into(),
        live,
        declared,
    }
}

fn drift(action: Action) -> DriftAlert {
    DriftAlert {
        tenant: "contoso".into(),
        action,
        changes: vec![
            change(
                "authenticationMethodConfigurations/Sms",
                "state",
                json!("enabled"),
                json!("disabled"),
            ),
            change(
                "authenticationMethodConfigurations/Fido2",
                "isAttestationEnforced",
                json!(false),
                json!(true),
            ),
            change(
                "authenticationMethodConfigurations/Fido2",
                "includeTargets",
                json!([{"id": "all_users", "targetType": "group", "isRegistrationRequired": false}]),
                json!([{"id": "aaaaaaaa-0000-1111-2222-bbbbbbbbbbbb", "targetType": "group", "isRegistrationRequired": false}]),
            ),
        ],
        impact: Some(AlertImpact {
            prompts: vec![PromptChange {
                from: "sms".into(),
                to: "push".into(),
                users: 1234,
            }],
            newly_without_mfa: 0,
            lose_mfa_requirement: 0,
            newly_blocked: 0,
        }),
        declaration: None,
        link: Some("https://github.com/contoso/mfa-policy/actions/runs/4242".into()),
        names: [(PILOT.to_string(), "Pilot users".to_string())].into(),
    }
}

/// The group the drift's Fido2 targets, by id; its name is "Pilot users".
const PILOT: &str = "aaaaaaaa-0000-1111-2222-bbbbbbbbbbbb";

fn in_sync() -> DriftAlert {
    DriftAlert {
        changes: vec![],
        ..drift(Action::Observed)
    }
}

fn large(n: usize) -> DriftAlert {
    DriftAlert {
        changes: (0..n)
            .map(|i| {
                change(
                    &format!("authenticationMethodConfigurations/External{:03}", i / 5),
                    &format!("includeTargets{i}"),
                    json!([{"id": format!("group-{i}"), "targetType": "group"}]),
                    json!({"state": "enabled", "excludeTargets": [{"id": format!("{i:08}-0000-1111-2222-bbbbbbbbbbbb"), "targetType": "group"}], "note": "x".repeat(300)}),
                )
            })
            .collect(),
        ..drift(Action::Applied { verified: false })
    }
}

/// The Adaptive Card 1.4 validator (the official schema, JSON Schema draft-06).
fn card_errors(card: &Value) -> Vec<String> {
    let schema: Value = serde_json::from_str(include_str!(
        "../fixtures/adaptive-cards/adaptive-card-1.4.json"
    ))
    .expect("the schema parses");
    let validator = jsonschema::draft6::new(&schema).expect("the schema compiles");
    // Host extensions are not in the schema (its card-level additionalProperties is false).
    let mut card = card.clone();
    if let Some(m) = card.as_object_mut() {
        m.remove("msteams");
    }
    validator
        .iter_errors(&card)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// The card inside a captured Teams request, checked against the envelope Teams expects.
fn card_of(teams: &Captured) -> Value {
    let p = teams.json();
    assert_eq!(p["type"], "message");
    let attachments = p["attachments"].as_array().expect("attachments");
    assert_eq!(attachments.len(), 1);
    assert_eq!(
        attachments[0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let card = attachments[0]["content"].clone();
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["version"], "1.4");
    let errors = card_errors(&card);
    assert!(errors.is_empty(), "the card is not valid 1.4: {errors:#?}");
    card
}

fn slack_sections(p: &Value) -> Vec<String> {
    p["blocks"]
        .as_array()
        .expect("blocks")
        .iter()
        .filter(|b| b["type"] == "section")
        .map(|b| {
            b["text"]["text"]
                .as_str()
                .expect("section text")
                .to_string()
        })
        .collect()
}

pub fn hmac_hex(key: &str, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.as_bytes());
    ring::hmac::sign(&key, body)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decisions(outcome: &NotifyOutcome) -> Vec<Decision> {
    outcome.deliveries.iter().map(|d| d.decision).collect()
}

#[tokio::test]
async fn every_provider_gets_its_payload_and_the_teams_card_is_valid_1_4() {
    let rx = Receiver::start().await;
    let dir = TempDir::new("payloads");
    let n = notifier(rx.all());
    let outcome = n
        .notify(&drift(Action::Observed), dir.path(), t(0))
        .await
        .expect("state is writable");
    assert_eq!(decisions(&outcome), [Decision::Alert; 3]);
    assert_eq!((outcome.sent(), outcome.failed()), (3, 0), "{outcome:?}");
    assert_eq!(n.counters().sent, 3);

    let teams = rx.requests(TEAMS);
    assert_eq!(teams.len(), 1);
    assert_eq!(teams[0].header("content-type"), Some("application/json"));
    let card = card_of(&teams[0]);
    let text = card.to_string();
    for needle in [
        "MFA policy drift in contoso",
        "Observed only",
        "authenticationMethodConfigurations/Fido2",
        "isAttestationEnforced",
        "false → true",
        "enabled → disabled",
        "aaaaaaaa-0000-1111-2222-bbbbbbbbbbbb (Pilot users)",
        "https://github.com/contoso/mfa-policy/actions/runs/4242",
    ] {
        assert!(text.contains(needle), "{needle} missing from {text}");
    }
    // The impact is a section of its own, not a fact among the changes.
    let body = card["body"].as_array().expect("body");
    let title = body
        .iter()
        .position(|b| b["text"] == "Impact on sign-in prompts")
        .expect("an impact section");
    assert_eq!(
        body[title + 1]["facts"],
        json!([{"title": "sms → push", "value": "1,234 user(s)"}])
    );
    assert!(!text.contains("impact on sign-in prompts"), "{text}");

    let slack = rx.requests(SLACK);
    assert_eq!(slack.len(), 1);
    let p = slack[0].json();
    let summary = p["text"].as_str().expect("text");
    assert!(
        summary.contains("contoso") && summary.contains("3 drifted properties"),
        "{summary}"
    );
    let sections = slack_sections(&p);
    assert!(
        sections
            .iter()
            .any(|s| s.contains("• state: `enabled` → `disabled`")),
        "{sections:#?}"
    );
    assert!(p.to_string().contains("actions/runs/4242|Open the run>"));
    assert!(
        sections
            .iter()
            .any(|s| s.contains(&format!("\"id\":\"{PILOT} (Pilot users)\""))),
        "the group's name beside its id: {sections:#?}"
    );
    assert!(
        sections
            .iter()
            .any(|s| s.starts_with("*Impact on sign-in prompts*\n• 1,234 user(s): sms → push")),
        "{sections:#?}"
    );
    assert!(
        summary.contains("3 drifted properties"),
        "impact is not a change"
    );

    let hook = rx.requests(HOOK);
    assert_eq!(hook.len(), 1);
    let sig = hook[0].header("x-signature").expect("signed");
    assert_eq!(sig, format!("sha256={}", hmac_hex(HMAC_KEY, &hook[0].body)));
    let report = hook[0].json();
    assert_eq!(report["formatVersion"], 2);
    assert_eq!(report["event"], "alert");
    assert_eq!(report["tenant"], "contoso");
    assert_eq!(report["action"], json!({"type": "observed"}));
    assert_eq!(report["declaration"], json!(null));
    assert_eq!(
        report["impact"],
        json!({"prompts": [{"from": "sms", "to": "push", "users": 1234}], "newlyWithoutMfa": 0, "loseMfaRequirement": 0, "newlyBlocked": 0})
    );
    assert_eq!(report["changes"].as_array().map(Vec::len), Some(3));
    assert!(
        !report["changes"].to_string().contains("impact"),
        "no pseudo-row: {}",
        report["changes"]
    );
    assert_eq!(report["changes"][1]["declared"], json!(true));
    assert_eq!(
        report["changes"][2]["declared"][0]["id"], PILOT,
        "the report keeps ids as they are"
    );
    assert_eq!(report["names"], json!({PILOT: "Pilot users"}));
    assert_eq!(
        report["link"],
        "https://github.com/contoso/mfa-policy/actions/runs/4242"
    );

    // Unsigned when no key is configured.
    let unsigned = notifier(vec![ProviderConfig::Webhook {
        url: Secret::new(rx.url("/plain")),
        hmac_key: None,
    }]);
    let other = TempDir::new("unsigned");
    let out = unsigned
        .notify(&drift(Action::Observed), other.path(), t(0))
        .await
        .expect("state");
    assert_eq!(out.sent(), 1);
    assert_eq!(rx.requests("/plain")[0].header("x-signature"), None);
}

#[tokio::test]
async fn a_large_plan_stays_within_every_limit_and_says_how_much_was_left_out() {
    let rx = Receiver::start().await;
    let dir = TempDir::new("large");
    let alert = large(600);
    let outcome = notifier(rx.all())
        .notify(&alert, dir.path(), t(0))
        .await
        .expect("state");
    assert_eq!(outcome.sent(), 3, "{outcome:?}");

    let teams = &rx.requests(TEAMS)[0];
    assert!(
        teams.body.len() <= teams::MAX_BYTES,
        "{} bytes",
        teams.body.len()
    );
    let card = card_of(teams);
    let facts: usize = card["body"]
        .as_array()
        .expect("body")
        .iter()
        .filter_map(|e| e["facts"].as_array())
        .map(Vec::len)
        .sum::<usize>()
        - 1; // the impact's one line, always shown
    assert!(card.to_string().contains("Impact on sign-in prompts"));
    assert!(facts > 0 && facts < 600, "{facts}");
    let text = card.to_string();
    assert!(
        text.contains(&format!("{} more changes not shown", 600 - facts)),
        "{text}"
    );
    assert!(text.contains("600 drifted properties"));

    let p = rx.requests(SLACK)[0].json();
    let blocks = p["blocks"].as_array().expect("blocks");
    assert!(blocks.len() <= slack::MAX_BLOCKS, "{}", blocks.len());
    let sections = slack_sections(&p);
    for s in &sections {
        assert!(
            s.chars().count() <= slack::MAX_SECTION_CHARS,
            "{}",
            s.chars().count()
        );
    }
    let listed: usize = sections
        .iter()
        .filter(|s| !s.starts_with("*Impact on sign-in prompts*"))
        .map(|s| s.matches("\n• ").count())
        .sum();
    assert!(listed > 0 && listed < 600, "{listed}");
    assert!(
        p.to_string()
            .contains(&format!("{} more changes not shown", 600 - listed)),
        "{p}"
    );

    let report = rx.requests(HOOK)[0].json();
    assert_eq!(report["changes"].as_array().map(Vec::len), Some(600));
}

#[tokio::test]
async fn throttled_then_accepted_is_sent_once_after_the_retry_after() {
    let rx = Receiver::start().await;
    let dir = TempDir::new("throttled");
    rx.script(TEAMS, &[(429, Some("0.3"))]);
    rx.script(
        SLACK,
        &[(429, Some("Wed, 21 Oct 2015 07:28:00 GMT")), (503, None)],
    );
    // A backoff far longer than the Retry-After: finishing early shows Retry-After ruled.
    let policy = SendPolicy {
        base_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(50),
        ..quick()
    };
    let teams_only = Notifier::new(vec![rx.teams()])
        .expect("valid")
        .with_send_policy(SendPolicy {
            base_backoff: Duration::from_secs(30),
            max_backoff: Duration::from_secs(30),
            ..quick()
        });
    let started = Instant::now();
    let outcome = teams_only
        .notify(&drift(Action::Observed), dir.path(), t(0))
        .await
        .expect("state");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(10),
        "{took:?}"
    );
    assert_eq!(outcome.sent(), 1);
    assert!(matches!(outcome.deliveries[0].result, Some(Ok(2))));
    let teams = rx.requests(TEAMS);
    assert_eq!(teams.len(), 2, "one refused, one accepted");
    assert_eq!(teams[0].body, teams[1].body, "the same message is re-sent");

    let slack_only = Notifier::new(vec![rx.slack()])
        .expect("valid")
        .with_send_policy(policy);
    let outcome = slack_only
        .notify(&drift(Action::Observed), dir.path(), t(0))
        .await
        .expect("state");
    assert!(
        matches!(outcome.deliveries[0].result, Some(Ok(3))),
        "{outcome:?}"
    );
    assert_eq!(rx.requests(SLACK).len(), 3);

    // Sent once: the next pass with the same drift sends nothing more.
    let again = notifier(vec![rx.teams(), rx.slack()])
        .notify(&drift(Action::Observed), dir.path(), t(5))
        .await
        .expect("state");
    assert_eq!(decisions(&again), [Decision::Skip, Decision::Skip]);
    assert_eq!(rx.requests(TEAMS).len(), 2);
    assert_eq!(rx.requests(SLACK).len(), 3);
}

/// A service that answers a 500 with the body `ok`: the error says what failed and quotes
/// the body as the body, never reading as a success.
#[tokio::test]
async fn a_failure_quotes_the_response_body_as_such() {
    let rx = Receiver::start().await;
    let dir = TempDir::new("ok-body");
    for _ in 0..3 {
        rx.script_body(HOOK, 500, "ok");
    }
    let outcome = notifier(vec![rx.webhook()])
        .notify(&drift(Action::Observed), dir.path(), t(0))
        .await
        .expect("state");
    let errors: Vec<String> = outcome.errors().map(ToString::to_string).collect();
    assert_eq!(
        errors,
        ["webhook answered HTTP 500 after 3 attempts; response body \"ok\""]
    );
}

#[tokio::test]
async fn server_errors_exhaust_the_retries_and_leave_the_state_for_the_next_run() {
    let rx = Receiver::start().await;
    let dir = TempDir::new("failing");
    rx.script(HOOK, &[(500, None), (500, None), (500, None)]);
    let n = notifier(vec![rx.teams(), rx.webhook()]);
    let outcome = n
        .notify(&drift(Action::Observed), dir.path(), t(0))
        .await
        .expect("state");
    assert_eq!((outcome.sent(), outcome.failed()), (1, 1), "{outcome:?}");
    assert_eq!(n.counters().sent, 1);
    assert_eq!(n.counters().failed, 1);
    let errors: Vec<&SendError> = outcome.errors().collect();
    assert!(
        matches!(
            errors[..],
            [SendError::Status {
                status: 500,
                attempts: 3,
                ..
            }]
        ),
        "{errors:?}"
    );
    assert_eq!(errors[0].provider(), "webhook");
    assert_eq!(rx.requests(HOOK).len(), 3);
    assert_eq!(rx.requests(TEAMS).len(), 1);

    // Teams is recorded; the webhook is not.
    let state = std::fs::read_to_string(dir.path().join(STATE_FILE)).expect("state file");
    let state: Value = serde_json::from_str(&state).expect("JSON state");
    assert!(state["tenants"]["contoso"]["teams"]["fingerprint"].is_string());
    assert!(
        state["tenants"]["contoso"].get("webhook").is_none(),
        "{state}"
    );

    // 4xx other than 429: not retried.
    rx.script(HOOK, &[(400, None)]);
    let outcome = notifier(vec![rx.webhook()])
        .notify(&drift(Action::Observed), dir.path(), t(1))
        .await
        .expect("state");
    assert!(matches!(
        outcome.errors().next(),
        Some(SendError::Status {
            status: 400,
            attempts: 1,
            ..
        })
    ));
    assert_eq!(rx.requests(HOOK).len(), 4);

    // The next run (a fresh notifier, as a new CronJob pod) delivers what failed, once.
    let next = notifier(vec![rx.teams(), rx.webhook()])
        .notify(&drift(Action::Observed), dir.path(), t(15))
        .await
        .expect("state");
    assert_eq!(decisions(&next), [Decision::Skip, Decision::Alert]);
    assert_eq!(next.sent(), 1);
    assert_eq!(rx.requests(TEAMS).len(), 1);
    assert_eq!(rx.requests(HOOK).len(), 5);
}

#[tokio::test]
async fn separate_runs_sharing_a_state_dir_alert_once_remind_and_resolve() {
    let rx = Receiver::start().await;
    let dir = TempDir::new("dedup");
    let hour = Duration::from_secs(3600);
    // Each pass builds its own notifier, as separate `reconcile --once` runs would.
    let run = |alert: DriftAlert, at: SystemTime| {
        let providers = vec![rx.teams(), rx.webhook()];
        let dir = dir.path().to_path_buf();
        async move {
            let n = Notifier::new(providers)
                .expect("valid")
                .with_send_policy(quick())
                .with_remind_after(Some(hour));
            let outcome = n.notify(&alert, &dir, at).await.expect("state");
            assert_eq!(outcome.failed(), 0, "{outcome:?}");
            decisions(&outcome)
        }
    };
    let events = || -> Vec<String> {
        rx.requests(HOOK)
            .iter()
            .map(|c| c.json()["event"].as_str().unwrap_or("").to_string())
            .collect()
    };

    assert_eq!(
        run(drift(Action::Observed), t(0)).await,
        [Decision::Alert; 2]
    );
    // The same drift, its live values shown differently: skipped.
    let mut same = drift(Action::Observed);
    same.changes[0].live = json!("Enabled");
    same.changes.reverse();
    assert_eq!(run(same.clone(), t(15)).await, [Decision::Skip; 2]);
    assert_eq!(run(same.clone(), t(59)).await, [Decision::Skip; 2]);
    assert_eq!(rx.requests(TEAMS).len(), 1);
    // An hour after it was sent: a reminder.
    assert_eq!(run(same.clone(), t(60)).await, [Decision::Reminder; 2]);
    let teams = rx.requests(TEAMS);
    assert_eq!(teams.len(), 2);
    let reminder = card_of(&teams[1]).to_string();
    assert!(
        reminder.contains("Reminder: MFA policy drift in contoso"),
        "{reminder}"
    );
    assert!(reminder.contains("Unresolved since"), "{reminder}");
    assert_eq!(run(same, t(75)).await, [Decision::Skip; 2]);
    // A different drift: a new alert.
    let mut changed = drift(Action::Observed);
    changed.changes[0].declared = json!("enabled");
    assert_eq!(run(changed, t(90)).await, [Decision::Alert; 2]);
    // Drift gone: resolved, once; then silence.
    assert_eq!(run(in_sync(), t(105)).await, [Decision::Resolved; 2]);
    let resolved = card_of(&rx.requests(TEAMS)[3]).to_string();
    assert!(
        resolved.contains("MFA policy drift resolved in contoso"),
        "{resolved}"
    );
    assert_eq!(run(in_sync(), t(120)).await, [Decision::Nothing; 2]);
    assert_eq!(run(in_sync(), t(300)).await, [Decision::Nothing; 2]);
    assert_eq!(rx.requests(TEAMS).len(), 4);
    assert_eq!(events(), ["alert", "reminder", "alert", "resolved"]);
    let reminder = &rx.requests(HOOK)[1].json();
    assert!(reminder["firstAlerted"].is_string(), "{reminder}");

    // Enforce mode: a repaired drift is reported once, and needs no "resolved".
    assert_eq!(
        run(drift(Action::Applied { verified: true }), t(400)).await,
        [Decision::Alert; 2]
    );
    let repaired = card_of(&rx.requests(TEAMS)[4]).to_string();
    assert!(
        repaired.contains("repaired") && repaired.contains("Applied and verified"),
        "{repaired}"
    );
    assert_eq!(run(in_sync(), t(415)).await, [Decision::Nothing; 2]);
    assert_eq!(rx.requests(TEAMS).len(), 5);
}

/// Log lines, captured.
#[derive(Clone, Default)]
struct LogBuf(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn webhook_urls_never_appear_in_errors_logs_or_debug_output() {
    // Every event at every level, from this test's thread (the runtime is single-threaded).
    let logs = LogBuf::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    crate::common::keep_tracing_callsites_alive();
    let _guard = tracing::subscriber::set_default(subscriber);
    let rx = Receiver::start().await;
    let dir = TempDir::new("secret");
    // A port nothing listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let refused = format!("http://{closed}/hooks/refused-s3cr3t");
    // A service that echoes the URL in its error body.
    rx.script_body(SLACK, 404, &format!("no such hook: {}", rx.url(SLACK)));
    let n = Notifier::new(vec![
        ProviderConfig::Webhook {
            url: Secret::new(refused),
            hmac_key: Some(Secret::new(HMAC_KEY)),
        },
        rx.slack(),
    ])
    .expect("valid")
    .with_send_policy(SendPolicy {
        max_attempts: 2,
        ..quick()
    });
    let outcome = n
        .notify(&drift(Action::Observed), dir.path(), t(0))
        .await
        .expect("state");
    assert_eq!(outcome.failed(), 2, "{outcome:?}");
    let log =
        String::from_utf8_lossy(&logs.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned();
    assert!(log.contains("alert not sent"), "{log}");
    let mut texts = vec![format!("{outcome:?}"), format!("{n:?}"), log];
    for e in outcome.errors() {
        texts.push(e.to_string());
        texts.push(format!("{e:?}"));
    }
    for text in &texts {
        assert!(
            !text.contains("s3cr3t") && !text.contains(HMAC_KEY) && !text.contains("/hooks/"),
            "a secret leaked: {text}"
        );
    }
    let errors: Vec<String> = outcome.errors().map(ToString::to_string).collect();
    assert!(
        errors[0].starts_with("webhook could not be reached after 2 attempts"),
        "{}",
        errors[0]
    );
    assert!(
        errors[1].starts_with("slack answered HTTP 404"),
        "{}",
        errors[1]
    );
    assert!(
        errors[1].contains("; response body \"no such hook: [redacted]\""),
        "{}",
        errors[1]
    );

    // An invalid URL is refused by name, not by value.
    let Err(e) = Notifier::new(vec![ProviderConfig::Teams {
        url: Secret::new("teams-s3cr3t"),
    }]) else {
        panic!("not a URL")
    };
    assert_eq!(
        e.to_string(),
        "the teams webhook URL is not a valid http or https URL"
    );
    assert!(!format!("{e:?}").contains("s3cr3t"));
}

#[tokio::test]
async fn the_test_alert_reaches_every_provider_and_leaves_the_state_alone() {
    let rx = Receiver::start().await;
    let dir = TempDir::new("test-alert");
    let n = notifier(rx.all());
    let outcome = n.send_test().await;
    assert_eq!((outcome.sent(), outcome.failed()), (3, 0), "{outcome:?}");
    let card = card_of(&rx.requests(TEAMS)[0]).to_string();
    assert!(card.contains("Test alert"), "{card}");
    assert!(
        rx.requests(SLACK)[0].json()["text"]
            .as_str()
            .is_some_and(|t| t.contains("Test alert"))
    );
    assert_eq!(rx.requests(HOOK)[0].json()["event"], "test");
    assert!(!dir.path().join(STATE_FILE).exists());
    // A real alert afterwards is not deduplicated against the test.
    let real = n
        .notify(&drift(Action::Observed), dir.path(), t(0))
        .await
        .expect("state");
    assert_eq!(decisions(&real), [Decision::Alert; 3]);
}

#[tokio::test]
async fn a_failed_pass_without_changes_is_alerted_and_resolved() {
    let rx = Receiver::start().await;
    let dir = TempDir::new("invalid-commit");
    let failed = |trace: &str| DriftAlert {
        tenant: "contoso".into(),
        action: Action::Failed {
            failure: Failure {
                kind: FailureKind::Auth,
                code: Some("AADSTS7000215".into()),
                resource: None,
                error: format!("AADSTS7000215: Invalid client secret provided. Trace ID: {trace}"),
            },
        },
        changes: vec![],
        impact: None,
        declaration: None,
        link: None,
        names: Default::default(),
    };
    let invalid = failed("1f0e5c1a-0000-4000-8000-000000000001");
    let n = notifier(vec![rx.teams()]);
    let first = n.notify(&invalid, dir.path(), t(0)).await.expect("state");
    assert_eq!(decisions(&first), [Decision::Alert]);
    let card = card_of(&rx.requests(TEAMS)[0]).to_string();
    assert!(
        card.contains("could not reconcile contoso") && card.contains("auth (AADSTS7000215)"),
        "{card}"
    );
    let again = n
        .notify(
            &failed("77aa0b3c-0000-4000-8000-000000000002"),
            dir.path(),
            t(15),
        )
        .await
        .expect("state");
    assert_eq!(decisions(&again), [Decision::Skip]);
    let fixed = n
        .notify(&in_sync(), dir.path(), t(30))
        .await
        .expect("state");
    assert_eq!(decisions(&fixed), [Decision::Resolved]);
    assert_eq!(rx.requests(TEAMS).len(), 2);
}

#[test]
fn the_card_validator_rejects_what_teams_would_reject() {
    let valid = json!({"type": "AdaptiveCard", "version": "1.4", "body": [{"type": "TextBlock", "text": "hi"}]});
    assert!(card_errors(&valid).is_empty());
    // A 1.5-only property, an unknown element, a fact without its value: all refused.
    for bad in [
        json!({"type": "AdaptiveCard", "version": "1.4", "body": [{"type": "TextBlock", "text": "hi", "style": "heading"}]}),
        json!({"type": "AdaptiveCard", "version": "1.4", "body": [{"type": "Table", "rows": []}]}),
        json!({"type": "AdaptiveCard", "version": "1.4", "body": [{"type": "FactSet", "facts": [{"title": "t"}]}]}),
        json!({"type": "AdaptiveCard", "version": "1.4", "body": [], "extension": {}}),
    ] {
        assert!(!card_errors(&bad).is_empty(), "accepted: {bad}");
    }
}

/// The `Trace ID: …` in a line of Entra's error text.
fn trace_id(text: &str) -> Option<String> {
    let at = text.find("Trace ID: ")? + "Trace ID: ".len();
    Some(
        text[at..]
            .chars()
            .take_while(|c| !c.is_whitespace())
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_failing_the_same_way_on_every_run_is_alerted_once() {
    let p = crate::cli::Project::sandbox_tenant().await;
    let rx = Receiver::start().await;
    let hook = rx.url(HOOK);
    let run = |secret: &str| {
        p.command_with(&["reconcile", "--once", "--state-dir", "state"], secret)
            .env("MFACTL_WEBHOOK_URL", &hook)
            .output()
            .unwrap()
    };
    let mut traces = Vec::new();
    for _ in 0..3 {
        let out = run("not-the-secret");
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(4), "{stderr}");
        assert!(stderr.contains("AADSTS7000215"), "{stderr}");
        traces.push(trace_id(&stderr).unwrap_or_else(|| panic!("no trace id in {stderr}")));
    }
    traces.sort();
    traces.dedup();
    assert_eq!(traces.len(), 3, "each refusal has its own trace id");
    let token_requests =
        p.h.requests()
            .await
            .iter()
            .filter(|e| crate::common::is_token_request(e))
            .count();
    assert!(token_requests >= 3, "every run asked for a token");

    let alerts = rx.requests(HOOK);
    assert_eq!(alerts.len(), 1, "one failure, one alert");
    let action = &alerts[0].json()["action"];
    assert_eq!(action["type"], "failed", "{action}");
    assert_eq!(action["kind"], "auth", "{action}");
    assert_eq!(action["code"], "AADSTS7000215", "{action}");
    assert!(
        trace_id(action["error"].as_str().unwrap_or_default()).is_some(),
        "people still read Entra's text: {action}"
    );

    // The failure resolves into something else (here the drift the right secret reveals):
    // that is a new alert.
    assert_eq!(
        run(mfactl::emulator::generate::WRITER_SECRET).status.code(),
        Some(1)
    );
    let alerts = rx.requests(HOOK);
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[1].json()["action"]["type"], "observed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_applied_cycle_is_alerted_as_applied_with_its_impact_in_a_field_of_its_own() {
    let p = crate::cli::Project::sandbox_tenant().await;
    let rx = Receiver::start().await;
    let out = p
        .command(&[
            "reconcile",
            "--once",
            "--mode",
            "enforce",
            "--state-dir",
            "state",
        ])
        .env("MFACTL_WEBHOOK_URL", rx.url(HOOK))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("re-read and verified"), "{stderr}");
    let alerts = rx.requests(HOOK);
    assert_eq!(alerts.len(), 1, "{stderr}");
    let report = alerts[0].json();
    assert_eq!(report["formatVersion"], 2);
    assert_eq!(
        report["action"],
        json!({"type": "applied", "verified": true}),
        "the action says what the log line says: {stderr}"
    );
    assert_eq!(report["declaration"], json!(null));
    let changes = report["changes"].as_array().expect("changes");
    assert!(!changes.is_empty());
    assert!(
        changes.iter().all(|c| !c["resource"]
            .as_str()
            .unwrap_or_default()
            .contains("impact")),
        "no pseudo-row in changes: {changes:?}"
    );
    let impact = &report["impact"];
    let prompts = impact["prompts"].as_array().expect("impact.prompts");
    assert!(!prompts.is_empty(), "{impact}");
    for p in prompts {
        assert!(p["from"].is_string() && p["to"].is_string() && p["users"].as_u64() > Some(0));
    }
    assert_eq!(impact["newlyWithoutMfa"], 0);
}
