//! Shared test harness: an in-process emulator with a known tenant, and a small client.

use mfactl::emulator::generate::{self, GenerateSpec, READER_SECRET, WRITER_SECRET};
use mfactl::emulator::state::{App, Group, State};
use mfactl::emulator::throttle::ThrottleMode;
use mfactl::emulator::{Emulator, EmulatorConfig, RunningEmulator};
use reqwest::{Method, StatusCode, header::HeaderMap};
use serde_json::Value;

/// Group ids that the documentation examples reference, so that replaying them finds their
/// targets in the directory.
pub const EXAMPLE_GROUPS: &[&str] = &[
    "aaaaaaaa-0000-1111-2222-bbbbbbbbbbbb",
    "d1411007-6fcf-4b4c-8d70-1da1857ed33c",
    "3ee3a9de-0a86-4e12-a287-9769accf1ba2",
    "aaaaaaaa-bbbb-cccc-1111-222222222222",
    "071cc716-8147-4397-a5ba-b2105951cc0b",
];

/// A running emulator and the credentials of its first tenant.
pub struct Harness {
    pub emu: RunningEmulator,
    pub tenant: String,
    pub reader: String,
    pub writer: String,
    pub http: reqwest::Client,
}

/// A response, decoded.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

/// A generated tenant of `users` users and 8 groups, plus the groups the docs' examples use.
pub fn state(users: usize) -> State {
    let mut state = generate::generate(&GenerateSpec {
        users,
        groups: 8,
        tenants: 1,
        seed: 7,
    });
    let t = &mut state.tenants[0];
    for id in EXAMPLE_GROUPS {
        t.groups.push(Group {
            id: (*id).to_string(),
            display_name: format!("Example {id}"),
            members: Vec::new(),
        });
    }
    state
}

impl Harness {
    /// An emulator with throttling off, serving `state`.
    pub async fn start(state: State) -> Self {
        Self::with(EmulatorConfig {
            throttle: ThrottleMode::Off,
            ..EmulatorConfig::new(state)
        })
        .await
    }

    /// An emulator with the given configuration.
    pub async fn with(config: EmulatorConfig) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let t = &config.state.tenants[0];
        let tenant = t.id.clone();
        let reader = app_with_secret(&t.apps, READER_SECRET);
        let writer = app_with_secret(&t.apps, WRITER_SECRET);
        let emu = Emulator::start(config).await.expect("emulator starts");
        Self {
            emu,
            tenant,
            reader,
            writer,
            http: reqwest::Client::new(),
        }
    }

    /// The default tenant of 30 users, throttling off.
    pub async fn small() -> Self {
        Self::start(state(30)).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.emu.graph_url())
    }

    /// A token for a client id and secret in the harness tenant.
    pub async fn token_for(&self, client_id: &str, secret: &str) -> String {
        let r = self
            .token_request(
                &self.tenant,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", client_id),
                    ("client_secret", secret),
                    ("scope", "https://graph.microsoft.com/.default"),
                ],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    pub async fn token_request(&self, tenant: &str, form: &[(&str, &str)]) -> Reply {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let resp = self
            .http
            .post(format!(
                "{}/{tenant}/oauth2/v2.0/token",
                self.emu
                    .endpoints
                    .login_url
                    .replace("https://localhost", "http://127.0.0.1")
            ))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("token request");
        reply(resp).await
    }

    pub async fn writer_token(&self) -> String {
        self.token_for(&self.writer, WRITER_SECRET).await
    }

    pub async fn reader_token(&self) -> String {
        self.token_for(&self.reader, READER_SECRET).await
    }

    /// Sends a request with a bearer token (if any) and a JSON body (if any).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        reply(req.send().await.expect("request sent")).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: &Value) -> Reply {
        self.call(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    /// Adds a fault rule (`POST /_emulator/faults`), which must be accepted.
    pub async fn add_fault(&self, fault: Value) {
        let r = self
            .call(Method::POST, "/_emulator/faults", None, Some(&fault))
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }

    /// The Graph requests in the emulator's log, token requests left out.
    pub async fn graph_requests(&self) -> Vec<Value> {
        self.requests()
            .await
            .into_iter()
            .filter(|e| !is_token_request(e))
            .collect()
    }

    /// The emulator's request log.
    pub async fn requests(&self) -> Vec<Value> {
        let r = self
            .call(Method::GET, "/_emulator/requests", None, None)
            .await;
        r.body["value"].as_array().cloned().unwrap_or_default()
    }
}

/// Whether a request-log entry is a token request rather than a Graph call.
pub fn is_token_request(entry: &Value) -> bool {
    entry["path"]
        .as_str()
        .unwrap_or_default()
        .ends_with("/oauth2/v2.0/token")
}

fn app_with_secret(apps: &[App], secret: &str) -> String {
    apps.iter()
        .find(|a| a.secrets.iter().any(|s| s == secret))
        .map(|a| a.client_id.clone())
        .expect("generated app")
}

pub async fn reply(resp: reqwest::Response) -> Reply {
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.expect("body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("JSON body")
    };
    Reply {
        status,
        headers,
        body,
    }
}

/// Asserts the Graph error shape and returns `error.code`.
pub fn error_code(r: &Reply) -> String {
    let e = &r.body["error"];
    assert!(e["message"].is_string(), "no error.message in {}", r.body);
    for k in ["date", "request-id", "client-request-id"] {
        assert!(
            e["innerError"][k].is_string(),
            "no innerError.{k} in {}",
            r.body
        );
    }
    e["code"].as_str().expect("error.code").to_string()
}

/// The variable binary tests hand a client secret in; their mfactl.yaml reads it with `env:`.
pub const SECRET_VAR: &str = "MFACTL_IT_CLIENT_SECRET";

/// A fresh, empty directory for one test: `mfactl-it-{what}-{pid}-{n}` under the temp dir.
pub fn temp_dir(what: &str) -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "mfactl-it-{what}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The real binary, run in `dir`, with `secret` in [`SECRET_VAR`] and none of the test
/// process's own `AZURE_*` or `MFACTL_*` variables.
pub fn mfactl(dir: &std::path::Path, args: &[&str], secret: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin!("mfactl"));
    cmd.current_dir(dir)
        .args(args)
        .env(SECRET_VAR, secret)
        .stdin(std::process::Stdio::null());
    for (k, _) in std::env::vars() {
        if k.starts_with("AZURE_") || k.starts_with("MFACTL_") && k != SECRET_VAR {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// One `tenants:` entry of mfactl.yaml: a tenant served by the emulator at `e`, signing in as
/// `client_id` with the secret in [`SECRET_VAR`], policies in `policies/`.
pub fn tenant_yaml(
    name: &str,
    tenant_id: &str,
    client_id: &str,
    e: &mfactl::emulator::Endpoints,
) -> String {
    format!(
        "  - name: {name}\n    tenantId: {tenant_id}\n    clientId: {client_id}\n    credential:\n      clientSecret: {{ env: {SECRET_VAR} }}\n    policies: [policies]\n    graphUrl: {}\n    authorityHost: {}\n    caFile: {}\n",
        e.graph_url,
        e.login_url,
        e.ca_file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    )
}

/// A process's exit code (-1 when a signal ended it).
pub fn code(o: &std::process::Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// A process's stdout as text.
pub fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A process's stderr as text.
pub fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The shipped authentication-methods baseline (`policies/authentication-methods.yaml`) in
/// `dir/policies`: what the tests of planning, applying and reconciling converge a tenant to.
/// The rest of the shipped baseline (Conditional Access, security defaults off, per-user MFA
/// off) has its own tests (`coverage.rs`, `inputs.rs`, `validate.rs`).
pub fn copy_methods_baseline(dir: &std::path::Path) {
    copy_shipped(dir, &["authentication-methods.yaml"]);
}

/// The whole shipped `policies/` in `dir/policies`.
pub fn copy_whole_baseline(dir: &std::path::Path) {
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let names: Vec<String> = std::fs::read_dir(shipped)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    copy_shipped(dir, &names);
}

fn copy_shipped(dir: &std::path::Path, names: &[&str]) {
    let target = dir.join("policies");
    std::fs::create_dir_all(&target).unwrap();
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    for name in names {
        std::fs::copy(shipped.join(name), target.join(name)).unwrap();
    }
}

/// A project directory beside an emulator with TLS: `mfactl.yaml` naming the emulator's
/// tenant as `test` (with `tenant_extra`, lines of that entry such as `"    prune: true\n"`),
/// an empty `policies/`, and the audit log in `audit.jsonl`. Removed when dropped.
pub struct Project {
    /// The directory.
    pub dir: std::path::PathBuf,
    /// The emulator.
    pub h: Harness,
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Project {
    /// Starts the emulator (`config` with TLS on) and writes the project, in a directory
    /// named after `label`.
    pub async fn start(label: &str, mut config: EmulatorConfig, tenant_extra: &str) -> Self {
        config.tls = true;
        let h = Harness::with(config).await;
        let dir = temp_dir(label);
        std::fs::create_dir_all(dir.join("policies")).unwrap();
        let entry = tenant_yaml("test", &h.tenant, &h.writer, &h.emu.endpoints);
        std::fs::write(
            dir.join("mfactl.yaml"),
            format!("tenants:\n{entry}{tenant_extra}auditLog: audit.jsonl\n"),
        )
        .unwrap();
        Project { dir, h }
    }

    /// Writes `policies/<name>`.
    pub fn policy(&self, name: &str, text: &str) {
        std::fs::write(self.dir.join("policies").join(name), text).unwrap();
    }

    /// Runs the binary in the project, signing in as the writer app.
    pub fn run(&self, args: &[&str]) -> std::process::Output {
        mfactl(&self.dir, args, WRITER_SECRET).output().unwrap()
    }

    /// A path inside the project.
    pub fn path(&self, rel: &str) -> std::path::PathBuf {
        self.dir.join(rel)
    }

    /// A file of the project, as text.
    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    /// The emulator's request log.
    pub async fn log(&self) -> Vec<Value> {
        self.h.requests().await
    }
}

/// Installs, once per process, a global subscriber that records nothing. Without one, the
/// first thread to reach a `tracing` callsite with no subscriber of its own makes
/// tracing-core cache the callsite as uninteresting for every thread (its single-dispatcher
/// fast path asks the registering thread's default, `NoSubscriber`), and a test capturing
/// with `set_default` on another thread never sees those events. Installing it also
/// re-evaluates every callsite already cached.
pub fn keep_tracing_callsites_alive() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Another global default (none is installed in this binary) would do as well.
        let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry());
    });
}
