//! Replays every Microsoft Graph documentation example in `tests/fixtures/graph-examples`
//! (verbatim copies of `shared/graph/examples`) against the emulator. The replay is driven by
//! `index.json`: a new GET or PATCH example is picked up without touching this file, and
//! [`every_index_entry_is_replayed`] fails for an entry that no replay covers.
//!
//! What "the emulator matches an example" means here. Documentation examples are illustrative,
//! so values differ; shapes must not:
//!
//! - **GET**: the emulator's response has every documented key, with the same JSON type,
//!   recursively. Method configurations are paired by `@odata.type`; other arrays compare every
//!   documented element with every emulator element. A documented `null` matches any type. The
//!   emulator may return a key the example lacks only when it is an annotation or when the CSDL
//!   of that API version declares it for the type at hand (or when the example is marked
//!   truncated). An empty emulator collection matches a documented non-empty one (a value
//!   difference); [`policy_get_example_written_through_the_api_reads_back_in_its_shape`] writes
//!   the documented values so that those element shapes are compared too.
//! - **PATCH**: the request is sent verbatim, answers the status FACTS.md §1 documents, and a GET
//!   afterwards reflects what was sent (and did not before, so the replay proves something).
//! - **Errors, throttling, batch**: see the tests named in [`SPECIAL`].

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mfactl::emulator::EmulatorConfig;
use mfactl::emulator::state::{Group, SignInPreferences, State};
use mfactl::emulator::throttle::ThrottleMode;
use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::common::{self, Harness, Reply, error_code};

/// Examples no generic replay fits, and the test that replays each.
const SPECIAL: &[(&str, &str)] = &[
    (
        "batch.v1.request.json",
        "batch_example_answers_200_with_one_response_per_request",
    ),
    (
        "batch.v1.response.json",
        "batch_example_answers_200_with_one_response_per_request",
    ),
    (
        "batch.dependsOn.request.json",
        "batch_depends_on_example_runs_in_dependency_order",
    ),
    (
        "error.generic.response.json",
        "emulator_errors_have_the_generic_error_shape",
    ),
    (
        "error.throttling429.response.json",
        "throttling_example_matches_an_injected_429",
    ),
    (
        "error.reportsNonPremiumTenant403.response.json",
        "non_premium_example_matches_the_report_403",
    ),
];

/// The inner requests of `batch.v1.request.json` whose documented answers cannot be
/// reproduced, and why. The batch is still replayed verbatim; only these inner statuses and
/// bodies are not compared.
const BATCH_NOT_REPLAYABLE: &[(&str, &str)] = &[
    (
        "1",
        "GET /me/memberOf needs a delegated (user) token; the emulator issues app-only tokens, as mfactl uses",
    ),
    (
        "2",
        "GET /me/planner/tasks: Planner is not emulated (and /me needs a delegated token)",
    ),
    (
        "3",
        "DELETE /groups/{id}: the emulator serves the directory read-only",
    ),
    (
        "4",
        "POST /users/{id}/getPasswordSingleSignOnCredentials is not emulated",
    ),
    (
        "5",
        "$filter=city eq null: users carry no city in the emulator; the rest of the request is replayed \
         without that filter in batch_example_answers_200_with_one_response_per_request",
    ),
];

/// Annotations that only the v1.0 example carries (`@microsoft.graph.tips`, a `$select` hint),
/// skipped when the beta response is compared with the v1.0 example.
const V1_ONLY_ANNOTATIONS: &[&str] = &["@microsoft.graph.tips"];

/// The only `innerError` member the emulator adds to the documented error examples:
/// FACTS.md §9 lists `client-request-id` beside `date` and `request-id`.
const ERROR_EXTRAS: &[&str] = &["client-request-id"];

// ---------------------------------------------------------------------------------------------
// The index and the fixtures

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/graph-examples")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn index() -> Vec<Value> {
    read_json(&fixtures_dir().join("index.json"))["examples"]
        .as_array()
        .cloned()
        .expect("index.json has an examples array")
}

fn fixture(file: &str) -> Value {
    read_json(&fixtures_dir().join(file))
}

fn file_of(e: &Value) -> Option<&str> {
    e["file"].as_str()
}

fn url_of(e: &Value) -> &str {
    e["url"].as_str().unwrap_or_default()
}

/// `/v1.0/...` or `/beta/...` for a documented Graph URL.
fn graph_path(url: &str) -> Option<&str> {
    url.strip_prefix("https://graph.microsoft.com")
        .filter(|p| p.starts_with("/v1.0/") || p.starts_with("/beta/"))
}

fn version_of(path: &str) -> &'static str {
    if path.starts_with("/beta/") {
        "beta"
    } else {
        "v1.0"
    }
}

/// The index marks the ~2022 beta policy example "for tolerance tests only".
fn is_legacy(e: &Value) -> bool {
    e["notes"]
        .as_str()
        .is_some_and(|n| n.contains("tolerance tests only"))
}

/// The index marks the policy PATCH response "truncated" (the doc says the object is shortened).
fn is_truncated(e: &Value) -> bool {
    e["notes"].as_str().is_some_and(|n| n.contains("truncated"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A documented GET response: replayed by [`get_examples_match_the_emulators_shapes`].
    Get,
    /// A documented PATCH body: replayed by [`patch_examples_answer_the_documented_status_and_take_effect`].
    PatchRequest,
    /// The documented answer to a PATCH (status, perhaps a body): checked with its request.
    PatchStatus,
    /// Listed in [`SPECIAL`].
    Special,
}

fn classify(e: &Value) -> Result<Kind, String> {
    let file = file_of(e);
    if file.is_some_and(|f| SPECIAL.iter().any(|(n, _)| *n == f)) {
        return Ok(Kind::Special);
    }
    if graph_path(url_of(e)).is_none() {
        return Err(format!("url {:?} is not a Graph URL", url_of(e)));
    }
    match (e["method"].as_str().unwrap_or_default(), file) {
        ("GET", Some(f)) if f.ends_with(".response.json") && e["status"].is_u64() => Ok(Kind::Get),
        ("PATCH", Some(f)) if f.ends_with(".request.json") => Ok(Kind::PatchRequest),
        ("PATCH", None) if e["status"].is_u64() => Ok(Kind::PatchStatus),
        ("PATCH", Some(f)) if f.ends_with(".response.json") && e["status"].is_u64() => {
            Ok(Kind::PatchStatus)
        }
        _ => Err(
            "no replay fits it: add one, or list it in SPECIAL with the test that handles it"
                .into(),
        ),
    }
}

/// Whether a documented URL matches a pattern whose `{…}` segments stand for any value.
fn url_matches(pattern: &str, url: &str) -> bool {
    let p: Vec<&str> = pattern.split('/').collect();
    let u: Vec<&str> = url.split('/').collect();
    p.len() == u.len()
        && p.iter()
            .zip(&u)
            .all(|(a, b)| (a.starts_with('{') && a.ends_with('}')) || a == b)
}

/// The index entries that document the answer to a PATCH request example.
fn answers_to<'a>(all: &'a [Value], request: &Value) -> Vec<&'a Value> {
    all.iter()
        .filter(|e| classify(e) == Ok(Kind::PatchStatus) && url_matches(url_of(e), url_of(request)))
        .collect()
}

/// FACTS.md §1: the documented success status of a PATCH, by resource.
fn documented_patch_status(path: &str) -> u16 {
    let p = path.to_ascii_lowercase();
    if p.ends_with("/policies/authenticationmethodspolicy") {
        200
    } else if p
        .contains("/policies/authenticationmethodspolicy/authenticationmethodconfigurations/")
        || p.ends_with("/policies/identitysecuritydefaultsenforcementpolicy")
        || p.ends_with("/authentication/signinpreferences")
        || p.ends_with("/authentication/requirements")
    {
        204
    } else {
        panic!("no documented PATCH status for {path}: add it from FACTS.md §1")
    }
}

/// The Graph type of the resource at a path (collections: the type of one element).
fn resource_type(path: &str) -> &'static str {
    const TYPES: &[(&str, &str)] = &[
        (
            "/policies/authenticationmethodspolicy",
            "authenticationMethodsPolicy",
        ),
        (
            "/policies/identitysecuritydefaultsenforcementpolicy",
            "identitySecurityDefaultsEnforcementPolicy",
        ),
        (
            "/reports/authenticationmethods/userregistrationdetails",
            "userRegistrationDetails",
        ),
        ("/authentication/signinpreferences", "signInPreferences"),
        (
            "/authentication/requirements",
            "strongAuthenticationRequirements",
        ),
    ];
    let p = path.to_ascii_lowercase();
    if p.contains("/authenticationmethodconfigurations/") {
        return "authenticationMethodConfiguration";
    }
    TYPES
        .iter()
        .find(|(suffix, _)| p.ends_with(suffix))
        .map(|(_, t)| *t)
        .unwrap_or_else(|| panic!("no Graph type known for {path}: add it to resource_type"))
}

fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Group ids that an example names in a target (`targetType: group` with a GUID id, other
/// than the all-zero "nobody" placeholder).
fn target_groups(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            if let (Some(Value::String(id)), Some("group")) =
                (m.get("id"), m.get("targetType").and_then(Value::as_str))
                && is_guid(id)
                && id != "00000000-0000-0000-0000-000000000000"
            {
                out.insert(id.to_ascii_lowercase());
            }
            m.values().for_each(|x| target_groups(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| target_groups(x, out)),
        _ => {}
    }
}

fn short_type(v: &Value) -> Option<&str> {
    v.get("@odata.type")
        .and_then(Value::as_str)
        .map(|t| t.trim_start_matches("#microsoft.graph."))
}

// ---------------------------------------------------------------------------------------------
// The emulated tenant the examples run against

/// The harness tenant, plus what the examples presuppose:
/// - every group an example names in a target exists;
/// - configurations of a GET example whose type a fresh tenant lacks (the external method,
///   which the API cannot create) are stored, so each documented configuration has a
///   counterpart;
/// - user 0 is the examples' user: Authenticator push and software OATH registered, push
///   preferred, system-preferred off, per-user MFA enforced (what the signInPreferences and
///   requirements GET examples show; the PATCH examples change it to `oath` and `disabled`);
/// - user 1 is an enabled guest without methods or preference (the report example's guest row);
/// - security defaults are on, as in the GET example (the PATCH example turns them off).
fn example_state() -> State {
    let mut state = common::state(30);
    let all = index();
    let t = &mut state.tenants[0];
    t.security_defaults.is_enabled = true;
    let mut groups = BTreeSet::new();
    for e in &all {
        if let Some(f) = file_of(e) {
            target_groups(&fixture(f), &mut groups);
        }
    }
    for id in groups {
        if !t.groups.iter().any(|g| g.id.eq_ignore_ascii_case(&id)) {
            t.groups.push(Group {
                id: id.clone(),
                display_name: format!("Example {id}"),
                members: Vec::new(),
            });
        }
    }
    for e in all.iter().filter(|e| classify(e) == Ok(Kind::Get)) {
        let path = graph_path(url_of(e)).unwrap_or_default();
        if resource_type(path) != "authenticationMethodsPolicy" {
            continue;
        }
        for c in fixture(file_of(e).unwrap_or_default())["authenticationMethodConfigurations"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let policy = &mut t.authentication_methods_policy;
            let known = policy["authenticationMethodConfigurations"]
                .as_array()
                .is_some_and(|list| list.iter().any(|x| short_type(x) == short_type(c)));
            if !known {
                let mut stored = c.clone();
                if let Value::Object(m) = &mut stored {
                    m.retain(|k, _| k == "@odata.type" || !k.contains('@'));
                }
                policy["authenticationMethodConfigurations"]
                    .as_array_mut()
                    .expect("configurations")
                    .push(stored);
            }
        }
    }
    let u = &mut t.users[0];
    u.account_enabled = true;
    u.user_type = "member".into();
    u.methods_registered = Arc::new(vec![
        "microsoftAuthenticatorPush".into(),
        "softwareOneTimePasscode".into(),
    ]);
    u.sign_in_preferences = SignInPreferences {
        is_system_preferred_authentication_method_enabled: Some(false),
        user_preferred_method_for_secondary_authentication: Some("push".into()),
    };
    u.per_user_mfa_state = "enforced".into();
    let g = &mut t.users[1];
    g.account_enabled = true;
    g.user_type = "guest".into();
    g.methods_registered = Arc::new(Vec::new());
    g.sign_in_preferences = SignInPreferences::default();
    state
}

fn user_id(h: &Harness, index: usize) -> String {
    h.emu.core.world().tenants[0].tenant.users[index].id.clone()
}

/// The local path for a documented URL, with the user segment naming `user`.
fn local_path(url: &str, user: &str) -> String {
    let path = graph_path(url).unwrap_or_else(|| panic!("{url} is not a Graph URL"));
    let segments: Vec<&str> = path.split('/').collect();
    let mut out = Vec::with_capacity(segments.len());
    for (i, s) in segments.iter().enumerate() {
        if i > 0 && segments[i - 1].eq_ignore_ascii_case("users") {
            out.push(user)
        } else {
            out.push(s)
        }
    }
    out.join("/")
}

async fn send(
    h: &Harness,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> Reply {
    let mut req = h.http.request(method, h.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    common::reply(req.send().await.expect("request sent")).await
}

// ---------------------------------------------------------------------------------------------
// Shape comparison

/// The CSDL digest the emulator is built from, read independently of the emulator's own
/// schema code, with strict per-version look-ups.
struct Csdl(Value);

impl Csdl {
    fn load() -> Self {
        Self(
            serde_json::from_str(include_str!("../../src/msgraph/graph-schema.json"))
                .expect("graph-schema.json parses"),
        )
    }

    fn has_type(&self, version: &str, ty: &str) -> bool {
        self.0[version]["types"].get(ty).is_some()
    }

    /// A property declared on `ty` or one of its base types in this version's CSDL.
    fn property(&self, version: &str, ty: &str, name: &str) -> Option<&Value> {
        let types = &self.0[version]["types"];
        let mut current = types.get(ty);
        while let Some(t) = current {
            if let Some(p) = t["properties"]
                .as_array()
                .and_then(|ps| ps.iter().find(|p| p["name"] == name))
            {
                return Some(p);
            }
            current = t["baseType"].as_str().and_then(|b| types.get(b));
        }
        None
    }
}

/// How strictly an example constrains the emulator's response.
#[derive(Clone, Copy, Default)]
struct Rules<'a> {
    /// An older revision: documented properties the current CSDL no longer declares are not
    /// expected — and must not be returned.
    legacy: bool,
    /// An empty emulator collection may stand for a documented non-empty one.
    empty_ok: bool,
    /// The example is shortened: the emulator may return any further keys.
    truncated: bool,
    /// Keys the emulator may add where no type is known (error bodies).
    extra_ok: &'a [&'a str],
    /// Documented keys not expected from this response.
    skip_doc: &'a [&'a str],
}

struct Shapes<'a> {
    csdl: &'a Csdl,
    version: &'a str,
    rules: Rules<'a>,
    problems: BTreeSet<String>,
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

impl Shapes<'_> {
    fn value(&mut self, path: &str, ty: Option<&str>, doc: &Value, emu: &Value) {
        match (doc, emu) {
            (Value::Null, _)
            | (Value::Bool(_), Value::Bool(_))
            | (Value::String(_), Value::String(_)) => {}
            (Value::Number(d), Value::Number(e)) => {
                if d.is_f64() != e.is_f64() {
                    self.problems.insert(format!(
                        "{path}: documented {d}, emulator {e} (integer vs fractional)"
                    ));
                }
            }
            (Value::Object(d), Value::Object(e)) => self.object(path, ty, d, e),
            (Value::Array(d), Value::Array(e)) => self.array(path, ty, d, e),
            _ => {
                self.problems.insert(format!(
                    "{path}: documented {}, emulator returns {} ({emu})",
                    kind(doc),
                    kind(emu)
                ));
            }
        }
    }

    fn object(
        &mut self,
        path: &str,
        ty: Option<&str>,
        doc: &Map<String, Value>,
        emu: &Map<String, Value>,
    ) {
        let concrete = doc
            .get("@odata.type")
            .or_else(|| emu.get("@odata.type"))
            .and_then(Value::as_str)
            .map(|t| t.trim_start_matches("#microsoft.graph.").to_string())
            .or_else(|| ty.map(String::from));
        let ty = concrete.as_deref();
        let csdl = self.csdl;
        for (k, d) in doc {
            if self.rules.skip_doc.contains(&k.as_str()) {
                continue;
            }
            let prop = ty.and_then(|t| csdl.property(self.version, t, k));
            if self.rules.legacy && !k.contains('@') && prop.is_none() {
                if emu.contains_key(k) {
                    self.problems.insert(format!(
                        "{path}.{k}: legacy property (in no current {} CSDL) is still returned",
                        self.version
                    ));
                }
                continue;
            }
            match emu.get(k) {
                None => {
                    self.problems.insert(format!(
                        "{path}.{k}: documented, missing from the emulator's response"
                    ));
                }
                Some(e) => {
                    let inner = prop.and_then(|p| p["type"].as_str());
                    self.value(&format!("{path}.{k}"), inner, d, e);
                }
            }
        }
        if self.rules.truncated {
            return;
        }
        for k in emu.keys().filter(|k| !doc.contains_key(*k)) {
            let declared = ty.is_some_and(|t| csdl.property(self.version, t, k).is_some());
            if !(k.contains('@') || declared || self.rules.extra_ok.contains(&k.as_str())) {
                self.problems.insert(format!(
                    "{path}.{k}: returned by the emulator, but neither documented nor declared on {} in the {} CSDL",
                    ty.unwrap_or("(untyped)"),
                    self.version
                ));
            }
        }
    }

    fn array(&mut self, path: &str, ty: Option<&str>, doc: &[Value], emu: &[Value]) {
        if doc.is_empty() {
            return;
        }
        if doc.iter().any(|d| short_type(d).is_some()) {
            // Documented by @odata.type (method configurations): pair by type.
            for d in doc {
                let t = short_type(d).unwrap_or_default();
                match emu.iter().find(|e| short_type(e) == Some(t)) {
                    Some(e) => self.value(&format!("{path}[{t}]"), ty, d, e),
                    None => {
                        self.problems
                            .insert(format!("{path}: the emulator returns no {t}"));
                    }
                }
            }
            for e in emu {
                let t = short_type(e).unwrap_or_default();
                let documented = doc.iter().any(|d| short_type(d) == Some(t));
                if !documented && !self.rules.truncated && !self.csdl.has_type(self.version, t) {
                    self.problems.insert(format!(
                        "{path}: the emulator returns a {t}, a type the {} CSDL lacks",
                        self.version
                    ));
                }
            }
            return;
        }
        if emu.is_empty() {
            if !self.rules.empty_ok {
                self.problems.insert(format!(
                    "{path}: documented with elements, the emulator's is empty"
                ));
            }
            return;
        }
        for (i, d) in doc.iter().enumerate() {
            for e in emu {
                self.value(&format!("{path}[{i}]"), ty, d, e);
            }
        }
    }
}

fn shape_problems(
    version: &str,
    rules: Rules<'_>,
    ty: Option<&str>,
    doc: &Value,
    emu: &Value,
) -> BTreeSet<String> {
    let csdl = Csdl::load();
    let mut s = Shapes {
        csdl: &csdl,
        version,
        rules,
        problems: BTreeSet::new(),
    };
    s.value("$", ty, doc, emu);
    s.problems
}

#[track_caller]
fn assert_no_problems(what: &str, problems: &BTreeSet<String>) {
    assert!(
        problems.is_empty(),
        "{what}: {} difference(s):\n  {}",
        problems.len(),
        problems.iter().cloned().collect::<Vec<_>>().join("\n  ")
    );
}

/// Whether `got` shows what `sent` asked for: every sent member equal (ids case-insensitively,
/// the documented `"true"` string as the Boolean the CSDL declares), collections element by
/// element, annotations other than `@odata.type` ignored.
fn reflects(path: &str, sent: &Value, got: &Value) -> Result<(), String> {
    match (sent, got) {
        (Value::Object(s), Value::Object(g)) => {
            for (k, v) in s
                .iter()
                .filter(|(k, _)| *k == "@odata.type" || !k.contains('@'))
            {
                let p = format!("{path}.{k}");
                let Some(gv) = g.get(k) else {
                    return Err(format!("{p}: missing"));
                };
                if k == "id" {
                    if !v
                        .as_str()
                        .zip(gv.as_str())
                        .is_some_and(|(a, b)| a.eq_ignore_ascii_case(b))
                    {
                        return Err(format!("{p}: sent {v}, got {gv}"));
                    }
                    continue;
                }
                reflects(&p, v, gv)?;
            }
            Ok(())
        }
        (Value::Array(s), Value::Array(g)) => {
            if s.len() != g.len() {
                return Err(format!(
                    "{path}: sent {} elements, got {}",
                    s.len(),
                    g.len()
                ));
            }
            s.iter()
                .zip(g)
                .enumerate()
                .try_for_each(|(i, (a, b))| reflects(&format!("{path}[{i}]"), a, b))
        }
        (Value::String(s), Value::Bool(b))
            if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") =>
        {
            if s.eq_ignore_ascii_case(&b.to_string()) {
                Ok(())
            } else {
                Err(format!("{path}: sent {s:?}, got {b}"))
            }
        }
        _ if sent == got => Ok(()),
        _ => Err(format!("{path}: sent {sent}, got {got}")),
    }
}

/// The non-legacy GET example of the same resource, for the current shape.
fn current_example<'a>(all: &'a [Value], path: &str) -> &'a Value {
    let resource = path
        .split_once('/')
        .map(|(_, rest)| rest.split_once('/').map_or(rest, |(_, r)| r))
        .unwrap_or(path);
    all.iter()
        .find(|e| {
            classify(e) == Ok(Kind::Get)
                && !is_legacy(e)
                && graph_path(url_of(e)).is_some_and(|p| {
                    p.to_ascii_lowercase()
                        .ends_with(&resource.to_ascii_lowercase())
                })
        })
        .unwrap_or_else(|| panic!("no current-shape GET example for {path}"))
}

#[test]
fn shape_comparison_flags_what_it_should() {
    // The replay is only as good as its comparison: each kind of difference is caught.
    let doc = json!({"id": "x", "state": "enabled", "excludeTargets": [{"id": "g", "targetType": "group"}], "callerIdNumber": null});
    let ty = Some("smsAuthenticationMethodConfiguration");
    let same = json!({"id": "y", "state": "disabled", "excludeTargets": [{"id": "h", "targetType": "user"}], "callerIdNumber": "+1"});
    assert!(shape_problems("v1.0", Rules::default(), ty, &doc, &same).is_empty());
    let cases = [
        (
            json!({"id": "y", "excludeTargets": [], "callerIdNumber": null}),
            "missing",
        ),
        (
            json!({"id": 1, "state": "x", "excludeTargets": [], "callerIdNumber": null}),
            "documented string",
        ),
        (
            json!({"id": "y", "state": "x", "excludeTargets": [{"id": "h", "targetType": 1}], "callerIdNumber": null}),
            "documented string",
        ),
        (
            json!({"id": "y", "state": "x", "excludeTargets": [], "callerIdNumber": null}),
            "is empty",
        ),
        (
            json!({"id": "y", "state": "x", "excludeTargets": [{"id": "h", "targetType": "group"}], "callerIdNumber": null, "surprise": 1}),
            "neither documented nor declared",
        ),
    ];
    for (emu, expected) in cases {
        let problems = shape_problems("v1.0", Rules::default(), ty, &doc, &emu);
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "{emu}: expected {expected:?} in {problems:?}"
        );
    }
    // Legacy: a property no current CSDL declares is skipped, and must not be returned.
    let old = json!({"state": "enabled", "outlookMobileAllowedState": "default"});
    let legacy = Rules {
        legacy: true,
        ..Rules::default()
    };
    assert!(shape_problems("beta", legacy, ty, &old, &json!({"state": "enabled"})).is_empty());
    let returned = shape_problems(
        "beta",
        legacy,
        ty,
        &old,
        &json!({"state": "enabled", "outlookMobileAllowedState": "default"}),
    );
    assert!(
        returned.iter().any(|p| p.contains("legacy property")),
        "{returned:?}"
    );
    // Strict per version: a beta-only property is an undeclared extra on v1.0.
    let v1 = shape_problems(
        "v1.0",
        Rules::default(),
        Some("voiceAuthenticationMethodConfiguration"),
        &json!({}),
        &json!({"callerIdNumber": null}),
    );
    assert!(!v1.is_empty());
    assert!(
        shape_problems(
            "beta",
            Rules::default(),
            Some("voiceAuthenticationMethodConfiguration"),
            &json!({}),
            &json!({"callerIdNumber": null})
        )
        .is_empty()
    );
    // Configurations pair by @odata.type.
    let docs = json!([{"@odata.type": "#microsoft.graph.smsAuthenticationMethodConfiguration", "state": "x"}]);
    let emus = json!([{"@odata.type": "#microsoft.graph.emailAuthenticationMethodConfiguration", "state": "x"}]);
    let problems = shape_problems(
        "v1.0",
        Rules::default(),
        Some("authenticationMethodConfiguration"),
        &docs,
        &emus,
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("returns no smsAuthenticationMethodConfiguration")),
        "{problems:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Coverage of the index

#[test]
fn every_index_entry_is_replayed() {
    let all = index();
    assert!(!all.is_empty(), "index.json lists no examples");
    let mut problems = Vec::new();
    for e in &all {
        let name =
            file_of(e).map_or_else(|| format!("{} {}", e["method"], url_of(e)), String::from);
        match classify(e) {
            Err(why) => problems.push(format!("{name}: {why}")),
            Ok(Kind::PatchStatus) => {
                // A documented answer needs the request it answers.
                let asked = all.iter().any(|r| {
                    classify(r) == Ok(Kind::PatchRequest) && url_matches(url_of(e), url_of(r))
                });
                if !asked {
                    problems.push(format!(
                        "{name}: documents the answer to a PATCH that no request example sends"
                    ));
                }
            }
            Ok(_) => {}
        }
        if let Some(f) = file_of(e)
            && !fixtures_dir().join(f).is_file()
        {
            problems.push(format!("{f}: listed in index.json but missing"));
        }
    }
    for (f, _) in SPECIAL {
        if !all.iter().any(|e| file_of(e) == Some(f)) {
            problems.push(format!("{f}: listed in SPECIAL but not in index.json"));
        }
    }
    for entry in std::fs::read_dir(fixtures_dir()).expect("fixtures directory") {
        let name = entry
            .expect("directory entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        if name != "index.json" && !all.iter().any(|e| file_of(e) == Some(name.as_str())) {
            problems.push(format!(
                "{name}: a fixture that index.json does not describe"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// GET examples

async fn replay_get(all: &[Value], e: &Value) -> BTreeSet<String> {
    let file = file_of(e).unwrap_or_default();
    let h = Harness::start(example_state()).await;
    let token = h.reader_token().await;
    let doc = fixture(file);
    let path = local_path(url_of(e), &user_id(&h, 0));
    let version = version_of(&path);
    let ty = resource_type(&path);
    let reply = h.get(&path, &token).await;
    let mut problems = BTreeSet::new();
    if u64::from(reply.status.as_u16()) != e["status"].as_u64().unwrap_or_default() {
        problems.insert(format!(
            "GET {path}: status {} ({}), documented {}",
            reply.status, reply.body, e["status"]
        ));
        return problems;
    }
    let emu = &reply.body;
    if let Some(rows) = doc["value"].as_array() {
        // A collection: the wrapper's annotations, then every row against every row.
        let wrapper: Map<String, Value> = doc
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| *k != "value")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        problems.extend(shape_problems(
            version,
            Rules::default(),
            None,
            &Value::Object(wrapper),
            &{
                let mut w = emu.clone();
                if let Value::Object(m) = &mut w {
                    m.remove("value");
                    m.remove("@odata.nextLink");
                }
                w
            },
        ));
        let emu_rows = emu["value"].as_array().cloned().unwrap_or_default();
        if emu_rows.is_empty() {
            problems.insert(format!("GET {path}: the emulator returns no rows"));
        }
        let rules = Rules {
            empty_ok: true,
            ..Rules::default()
        };
        for d in rows {
            for r in &emu_rows {
                problems.extend(shape_problems(version, rules, Some(ty), d, r));
            }
        }
        // Empty collections were let pass row by row; make sure each documented element
        // shape was compared with at least one emulator element.
        for (k, _) in rows
            .iter()
            .flat_map(|d| d.as_object().into_iter().flatten())
            .filter(|(_, v)| v.as_array().is_some_and(|a| !a.is_empty()))
        {
            if !emu_rows
                .iter()
                .any(|r| r[k].as_array().is_some_and(|a| !a.is_empty()))
            {
                problems.insert(format!(
                    "GET {path}: no emulator row has elements in {k}, so their shape went unchecked"
                ));
            }
        }
    } else if is_legacy(e) {
        // An old (~2022) revision, kept "for tolerance tests only": its Authenticator include
        // targets carry outlookMobileAllowedState, displayAppInformationRequiredState and
        // numberMatchingRequiredState, which no current CSDL declares, and it omits
        // excludeTargets. Matching it strictly would pin the emulator to a shape the service no
        // longer has. So: what the current CSDL still declares must be there (and the dropped
        // properties must not), and the response must be a superset of the current shape,
        // taken from the newest example of the same resource (the v1.0 one; beta adds to it).
        let rules = Rules {
            legacy: true,
            empty_ok: true,
            ..Rules::default()
        };
        problems.extend(shape_problems(version, rules, Some(ty), &doc, emu));
        let current = current_example(all, &path);
        let rules = Rules {
            empty_ok: true,
            skip_doc: V1_ONLY_ANNOTATIONS,
            ..Rules::default()
        };
        let current_doc = fixture(file_of(current).unwrap_or_default());
        problems.extend(
            shape_problems(version, rules, Some(ty), &current_doc, emu)
                .into_iter()
                .map(|p| {
                    format!(
                        "(current shape, {}) {p}",
                        file_of(current).unwrap_or_default()
                    )
                }),
        );
    } else {
        let rules = Rules {
            empty_ok: true,
            truncated: is_truncated(e),
            ..Rules::default()
        };
        problems.extend(shape_problems(version, rules, Some(ty), &doc, emu));
    }
    // Singleton policies have fixed ids and names (FACTS.md §2, §5).
    if path.to_ascii_lowercase().contains("/policies/") {
        for k in ["id", "displayName"] {
            if doc.get(k).is_some() && doc[k] != emu[k] {
                problems.insert(format!(
                    "GET {path}: {k} is {}, documented {}",
                    emu[k], doc[k]
                ));
            }
        }
    }
    problems
        .into_iter()
        .map(|p| format!("{file}: {p}"))
        .collect()
}

#[tokio::test]
async fn get_examples_match_the_emulators_shapes() {
    let all = index();
    let gets: Vec<&Value> = all
        .iter()
        .filter(|e| classify(e) == Ok(Kind::Get))
        .collect();
    assert!(!gets.is_empty(), "index.json lists no GET examples");
    let mut problems = BTreeSet::new();
    for e in gets {
        problems.extend(replay_get(&all, e).await);
    }
    assert_no_problems("GET examples", &problems);
}

/// The legacy beta example's include-target properties are gone from the current schema: the
/// emulator must not return them, while beta does carry the beta-only platform settings.
#[tokio::test]
async fn legacy_beta_policy_example_is_read_with_the_current_shape() {
    let all = index();
    let legacy: Vec<&Value> = all
        .iter()
        .filter(|e| classify(e) == Ok(Kind::Get) && is_legacy(e))
        .collect();
    assert!(
        !legacy.is_empty(),
        "the index no longer marks an example as legacy; drop this test"
    );
    let h = Harness::start(example_state()).await;
    let token = h.reader_token().await;
    for e in legacy {
        let path = local_path(url_of(e), &user_id(&h, 0));
        let emu = h.get(&path, &token).await.body;
        let doc = fixture(file_of(e).unwrap_or_default());
        let doc_auth = doc["authenticationMethodConfigurations"]
            .as_array()
            .and_then(|l| {
                l.iter().find(|c| {
                    short_type(c) == Some("microsoftAuthenticatorAuthenticationMethodConfiguration")
                })
            })
            .expect("legacy example has an Authenticator configuration");
        let emu_auth = emu["authenticationMethodConfigurations"]
            .as_array()
            .and_then(|l| {
                l.iter().find(|c| {
                    short_type(c) == Some("microsoftAuthenticatorAuthenticationMethodConfiguration")
                })
            })
            .expect("emulator has an Authenticator configuration");
        for legacy_prop in [
            "outlookMobileAllowedState",
            "displayAppInformationRequiredState",
            "numberMatchingRequiredState",
        ] {
            assert!(
                doc_auth["includeTargets"][0].get(legacy_prop).is_some(),
                "the legacy example changed"
            );
            assert!(
                emu_auth["includeTargets"][0].get(legacy_prop).is_none(),
                "{legacy_prop} returned on an include target"
            );
        }
        if version_of(&path) == "beta" {
            assert!(
                emu["microsoftAuthenticatorPlatformSettings"]["enforceAppPIN"].is_object(),
                "{emu}"
            );
        }
    }
}

/// The GET example's values, written through the documented API (one PATCH per configuration,
/// one for the policy's own settings), read back with the documented shape — including the
/// elements of collections that are empty in a fresh tenant — and with the values written.
#[tokio::test]
async fn policy_get_example_written_through_the_api_reads_back_in_its_shape() {
    let all = index();
    let csdl = Csdl::load();
    let examples: Vec<&Value> = all
        .iter()
        .filter(|e| classify(e) == Ok(Kind::Get) && !is_legacy(e))
        .filter(|e| {
            resource_type(graph_path(url_of(e)).unwrap_or_default())
                == "authenticationMethodsPolicy"
        })
        .collect();
    assert!(!examples.is_empty(), "no current policy GET example");
    for e in examples {
        let file = file_of(e).unwrap_or_default();
        let doc = fixture(file);
        let path = local_path(url_of(e), "");
        let version = version_of(&path);
        let h = Harness::start(example_state()).await;
        let w = h.writer_token().await;
        let mut written = Vec::new();
        for c in doc["authenticationMethodConfigurations"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let ty = short_type(c).unwrap_or_default();
            // The permissions reference documents no write for HardwareOath (FACTS.md §3).
            if ty == "hardwareOathAuthenticationMethodConfiguration" {
                continue;
            }
            let mut body = c.clone();
            if let Value::Object(m) = &mut body {
                // Annotations, and navigation properties other than the inline includeTargets.
                m.retain(|k, _| {
                    (k == "@odata.type" || !k.contains('@'))
                        && (k == "includeTargets"
                            || csdl
                                .property(version, ty, k)
                                .is_none_or(|p| p["navigation"].as_bool() != Some(true)))
                });
            }
            let id = c["id"].as_str().unwrap_or_default();
            let r = h
                .patch(
                    &format!("{path}/authenticationMethodConfigurations/{id}"),
                    &w,
                    &body,
                )
                .await;
            assert_eq!(r.status, 204, "{file}: PATCH {id}: {}", r.body);
            written.push(body);
        }
        let read_only = [
            "id",
            "displayName",
            "description",
            "lastModifiedDateTime",
            "policyVersion",
            "authenticationMethodConfigurations",
        ];
        let settings: Map<String, Value> = doc
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| !k.contains('@') && !read_only.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let settings = Value::Object(settings);
        let r = h.patch(&path, &w, &settings).await;
        assert_eq!(r.status, 200, "{file}: PATCH policy: {}", r.body);
        let got = h.get(&path, &w).await.body;
        let problems = shape_problems(
            version,
            Rules::default(),
            Some("authenticationMethodsPolicy"),
            &doc,
            &got,
        );
        assert_no_problems(&format!("{file} written through the API"), &problems);
        reflects("$", &settings, &got)
            .unwrap_or_else(|m| panic!("{file}: policy settings not read back: {m}"));
        let configs = got["authenticationMethodConfigurations"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for body in &written {
            let c = configs
                .iter()
                .find(|c| short_type(c) == short_type(body))
                .expect("configuration read back");
            reflects("$", body, c)
                .unwrap_or_else(|m| panic!("{file}: {} not read back: {m}", body["id"]));
        }
    }
}

#[tokio::test]
async fn registration_report_rows_for_a_guest_carry_empty_strings_like_the_example() {
    // FACTS.md §6: the examples' guest row has "" where the CSDL declares an enum.
    let h = Harness::start(example_state()).await;
    let token = h.reader_token().await;
    let guest = user_id(&h, 1);
    for e in index().iter().filter(|e| classify(e) == Ok(Kind::Get)) {
        let path = local_path(url_of(e), "");
        if resource_type(&path) != "userRegistrationDetails" {
            continue;
        }
        let doc = fixture(file_of(e).unwrap_or_default());
        let doc_guest = doc["value"]
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["userType"] == "guest"))
            .expect("the example has a guest row");
        let rows = h.get(&path, &token).await.body["value"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let row = rows
            .iter()
            .find(|r| r["id"] == guest.as_str())
            .expect("guest row");
        for k in [
            "userPreferredMethodForSecondaryAuthentication",
            "defaultMfaMethod",
        ] {
            if let Some(v) = doc_guest.get(k) {
                assert_eq!(&row[k], v, "{path}: guest {k}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// PATCH examples

#[tokio::test]
async fn patch_examples_answer_the_documented_status_and_take_effect() {
    let all = index();
    let requests: Vec<&Value> = all
        .iter()
        .filter(|e| classify(e) == Ok(Kind::PatchRequest))
        .collect();
    assert!(!requests.is_empty(), "index.json lists no PATCH examples");
    for e in requests {
        let file = file_of(e).unwrap_or_default();
        let body = fixture(file);
        let h = Harness::start(example_state()).await;
        let w = h.writer_token().await;
        let path = local_path(url_of(e), &user_id(&h, 0));
        let version = version_of(&path);
        let expected = documented_patch_status(&path);
        let answers = answers_to(&all, e);
        for a in &answers {
            assert_eq!(
                a["status"].as_u64(),
                Some(u64::from(expected)),
                "index.json and FACTS.md §1 disagree on {}",
                url_of(a)
            );
        }

        let before = h.get(&path, &w).await;
        assert_eq!(before.status, 200, "{file}: GET {path}: {}", before.body);
        assert!(
            reflects("$", &body, &before.body).is_err(),
            "{file}: already in effect before the PATCH, so the replay would prove nothing"
        );

        let r = h.patch(&path, &w, &body).await;
        assert_eq!(
            r.status.as_u16(),
            expected,
            "{file}: PATCH {path}: {}",
            r.body
        );
        if expected == 204 {
            assert!(r.body.is_null(), "{file}: 204 with a body: {}", r.body);
        } else {
            // 200 with the policy: shaped like the documented response (marked truncated),
            // and like a full GET of the policy.
            for a in answers.iter().filter(|a| file_of(a).is_some()) {
                let doc = fixture(file_of(a).unwrap_or_default());
                let rules = Rules {
                    truncated: is_truncated(a),
                    ..Rules::default()
                };
                assert_no_problems(
                    &format!("{file}: response vs {}", file_of(a).unwrap_or_default()),
                    &shape_problems(version, rules, Some(resource_type(&path)), &doc, &r.body),
                );
            }
            let current = current_example(&all, &path);
            let rules = Rules {
                empty_ok: true,
                skip_doc: if version == "beta" {
                    V1_ONLY_ANNOTATIONS
                } else {
                    &[]
                },
                ..Rules::default()
            };
            let doc = fixture(file_of(current).unwrap_or_default());
            assert_no_problems(
                &format!(
                    "{file}: response vs {}",
                    file_of(current).unwrap_or_default()
                ),
                &shape_problems(version, rules, Some(resource_type(&path)), &doc, &r.body),
            );
            reflects("$", &body, &r.body)
                .unwrap_or_else(|m| panic!("{file}: response does not show the change: {m}"));
        }

        let after = h.get(&path, &w).await;
        assert_eq!(after.status, 200, "{file}: GET {path}: {}", after.body);
        reflects("$", &body, &after.body)
            .unwrap_or_else(|m| panic!("{file}: GET after the PATCH: {m}"));
    }
}

// ---------------------------------------------------------------------------------------------
// Error examples

/// `innerError.date` as Graph writes it: `2025-02-13T10:17:05`, UTC without a zone.
fn is_graph_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 19
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        })
}

#[tokio::test]
async fn emulator_errors_have_the_generic_error_shape() {
    let doc = fixture("error.generic.response.json");
    let h = Harness::start(example_state()).await;
    let w = h.writer_token().await;
    let r = h.reader_token().await;
    let sms = "/v1.0/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/sms";
    /// Status, method, path, token, body.
    type Case<'a> = (u16, Method, &'a str, Option<&'a str>, Option<Value>);
    let cases: Vec<Case<'_>> = vec![
        (
            400,
            Method::PATCH,
            sms,
            Some(&w),
            Some(json!({"state": "enabled"})),
        ),
        (401, Method::GET, sms, None, None),
        (
            403,
            Method::PATCH,
            sms,
            Some(&r),
            Some(
                json!({"@odata.type": "#microsoft.graph.smsAuthenticationMethodConfiguration", "state": "enabled"}),
            ),
        ),
        (
            404,
            Method::GET,
            "/v1.0/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/noSuchMethod",
            Some(&w),
            None,
        ),
        (
            405,
            Method::POST,
            "/v1.0/policies/authenticationMethodsPolicy",
            Some(&w),
            Some(json!({})),
        ),
    ];
    for (status, method, path, token, body) in cases {
        let client_id = "6f1d3c1e-2b7a-4c55-9d7e-1a2b3c4d5e6f";
        let reply = send(
            &h,
            method.clone(),
            path,
            token,
            body.as_ref(),
            &[("client-request-id", client_id)],
        )
        .await;
        let what = format!("{method} {path}");
        assert_eq!(reply.status.as_u16(), status, "{what}: {}", reply.body);
        let code = error_code(&reply);
        assert!(!code.is_empty(), "{what}: empty error.code");
        let rules = Rules {
            extra_ok: ERROR_EXTRAS,
            ..Rules::default()
        };
        assert_no_problems(
            &what,
            &shape_problems("v1.0", rules, None, &doc, &reply.body),
        );
        let inner = &reply.body["error"]["innerError"];
        let date = inner["date"].as_str().unwrap_or_default();
        assert!(
            is_graph_date(date),
            "{what}: innerError.date {date:?} is not like 2025-02-13T10:17:05"
        );
        let request_id = inner["request-id"].as_str().unwrap_or_default();
        assert!(is_guid(request_id), "{what}: request-id {request_id:?}");
        assert_eq!(
            reply
                .headers
                .get("request-id")
                .and_then(|v| v.to_str().ok()),
            Some(request_id),
            "{what}: request-id header"
        );
        assert_eq!(
            inner["client-request-id"], client_id,
            "{what}: client-request-id is echoed"
        );
    }
}

#[tokio::test]
async fn throttling_example_matches_an_injected_429() {
    let doc = fixture("error.throttling429.response.json");
    let documented_retry_after = index()
        .iter()
        .find(|e| file_of(e) == Some("error.throttling429.response.json"))
        .and_then(|e| e["headers"]["Retry-After"].as_str().map(String::from))
        .expect("the index records the example's Retry-After");
    let seconds: f64 = documented_retry_after
        .parse()
        .expect("documented Retry-After is a number");
    let h = Harness::start(example_state()).await;
    let w = h.writer_token().await;
    let fault = json!({"kind": "status", "status": 429, "retryAfter": seconds, "count": 1, "pathPrefix": "/v1.0/policies"});
    h.add_fault(fault).await;

    let r = h
        .get("/v1.0/policies/authenticationMethodsPolicy", &w)
        .await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(
        error_code(&r),
        doc["error"]["code"].as_str().unwrap_or_default()
    );
    let rules = Rules {
        extra_ok: ERROR_EXTRAS,
        ..Rules::default()
    };
    assert_no_problems(
        "injected 429",
        &shape_problems("v1.0", rules, None, &doc, &r.body),
    );
    for k in ["code", "status"] {
        assert_eq!(
            r.body["error"]["innerError"][k], doc["error"]["innerError"][k],
            "innerError.{k}"
        );
    }
    let retry_after = r
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .expect("Retry-After header");
    let parsed: f64 = retry_after
        .parse()
        .unwrap_or_else(|_| panic!("Retry-After {retry_after:?} is not (fractional) seconds"));
    assert!(
        (parsed - seconds).abs() < 1e-9,
        "Retry-After {retry_after}, injected {seconds}"
    );
    assert_eq!(
        retry_after, documented_retry_after,
        "Retry-After written as the documented example"
    );

    // The fault was for one request only.
    assert_eq!(
        h.get("/v1.0/policies/authenticationMethodsPolicy", &w)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn throttling_example_matches_a_throttled_report_request() {
    // Graph-like throttling: the report allows 5 requests per 10 s per app and tenant.
    let doc = fixture("error.throttling429.response.json");
    let h = Harness::with(EmulatorConfig {
        throttle: ThrottleMode::Graph,
        ..EmulatorConfig::new(example_state())
    })
    .await;
    let token = h.reader_token().await;
    let mut throttled = None;
    for _ in 0..10 {
        let r = h
            .get(
                "/v1.0/reports/authenticationMethods/userRegistrationDetails?$top=1",
                &token,
            )
            .await;
        if r.status == 429 {
            throttled = Some(r);
            break;
        }
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = throttled.expect("the sixth report request within 10 s is throttled");
    assert_eq!(error_code(&r), "TooManyRequests");
    let rules = Rules {
        extra_ok: ERROR_EXTRAS,
        ..Rules::default()
    };
    assert_no_problems(
        "throttled report",
        &shape_problems("v1.0", rules, None, &doc, &r.body),
    );
    assert_eq!(r.body, {
        // Every value but the request-specific ones is the documented one.
        let mut expected = doc.clone();
        for k in ["date", "request-id"] {
            expected["error"]["innerError"][k] = r.body["error"]["innerError"][k].clone();
        }
        expected["error"]["innerError"]["client-request-id"] =
            r.body["error"]["innerError"]["client-request-id"].clone();
        expected
    });
    let retry_after = r
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .expect("Retry-After header");
    let secs: f64 = retry_after
        .parse()
        .unwrap_or_else(|_| panic!("Retry-After {retry_after:?} is not (fractional) seconds"));
    assert!(secs > 0.0 && secs <= 10.0, "Retry-After {secs}");
}

#[tokio::test]
async fn non_premium_example_matches_the_report_403() {
    let doc = fixture("error.reportsNonPremiumTenant403.response.json");
    let mut state = example_state();
    state.tenants[0].premium = false;
    let h = Harness::start(state).await;
    let token = h.reader_token().await;
    let user = user_id(&h, 0);
    for version in ["v1.0", "beta"] {
        for path in [
            format!("/{version}/reports/authenticationMethods/userRegistrationDetails"),
            format!("/{version}/reports/authenticationMethods/userRegistrationDetails/{user}"),
        ] {
            let r = h.get(&path, &token).await;
            assert_eq!(r.status, 403, "{path}: {}", r.body);
            assert_eq!(
                error_code(&r),
                doc["error"]["code"].as_str().unwrap_or_default(),
                "{path}"
            );
            assert_eq!(
                r.body["error"]["message"], doc["error"]["message"],
                "{path}"
            );
            assert_no_problems(
                &path,
                &shape_problems(version, Rules::default(), None, &doc, &r.body),
            );
        }
    }
    // The policy is not a report: a non-premium tenant still reads it.
    assert_eq!(
        h.get("/v1.0/policies/authenticationMethodsPolicy", &token)
            .await
            .status,
        200
    );
}

// ---------------------------------------------------------------------------------------------
// Batch examples

#[tokio::test]
async fn batch_example_answers_200_with_one_response_per_request() {
    let request = fixture("batch.v1.request.json");
    let doc = fixture("batch.v1.response.json");
    let h = Harness::start(example_state()).await;
    let w = h.writer_token().await;

    let r = send(
        &h,
        Method::POST,
        "/v1.0/$batch",
        Some(&w),
        Some(&request),
        &[("accept", "application/json")],
    )
    .await;
    // FACTS.md §11: the outer status is 200 whenever the batch parses, whatever inside failed.
    assert_eq!(r.status, 200, "{}", r.body);
    let responses = r.body["responses"].as_array().cloned().expect("responses");
    let ids = |v: &[Value]| {
        v.iter()
            .map(|x| x["id"].as_str().unwrap_or_default().to_string())
            .collect::<BTreeSet<_>>()
    };
    let asked = ids(request["requests"].as_array().expect("requests"));
    assert_eq!(ids(&responses), asked, "one response per request id");
    assert_eq!(
        ids(doc["responses"].as_array().expect("documented responses")),
        asked
    );
    let listed: BTreeSet<String> = BATCH_NOT_REPLAYABLE
        .iter()
        .map(|(id, _)| (*id).to_string())
        .collect();
    assert_eq!(
        listed, asked,
        "every inner request is either compared or listed with its reason"
    );

    let error_doc = doc["responses"]
        .as_array()
        .and_then(|l| {
            l.iter()
                .find(|x| x["body"]["error"]["code"] == "Authorization_RequestDenied")
        })
        .map(|x| x["body"].clone())
        .expect("the example has a directory error body");
    for inner in &responses {
        let id = inner["id"].as_str().unwrap_or_default();
        let documented = doc["responses"]
            .as_array()
            .and_then(|l| l.iter().find(|x| x["id"] == id))
            .expect("documented response");
        // The envelope: id, status, headers, body, with the documented types.
        let envelope =
            |v: &Value| json!({"id": v["id"], "status": v["status"], "headers": {}, "body": {}});
        let problems = shape_problems(
            "v1.0",
            Rules::default(),
            None,
            &envelope(documented),
            &envelope(inner),
        );
        assert_no_problems(&format!("inner {id} envelope"), &problems);
        assert!(
            inner["headers"].is_object() && inner["body"].is_object(),
            "inner {id}: {inner}"
        );
        // None of these is served, and the emulator must not pretend otherwise.
        let status = inner["status"].as_u64().unwrap_or_default();
        assert!((400..500).contains(&status), "inner {id}: status {status}");
        let rules = Rules {
            extra_ok: ERROR_EXTRAS,
            ..Rules::default()
        };
        assert_no_problems(
            &format!("inner {id} error body"),
            &shape_problems("v1.0", rules, None, &error_doc, &inner["body"]),
        );
    }

    // Request 5 without the filter the emulator cannot evaluate: its documented answer.
    let mut five = request["requests"]
        .as_array()
        .and_then(|l| l.iter().find(|x| x["id"] == "5"))
        .cloned()
        .expect("request 5");
    let url = five["url"]
        .as_str()
        .unwrap_or_default()
        .replace("&$filter=city eq null", "");
    assert_ne!(
        url,
        five["url"].as_str().unwrap_or_default(),
        "request 5 changed; revisit this replay"
    );
    five["url"] = json!(url);
    let r = h
        .call(
            Method::POST,
            "/v1.0/$batch",
            Some(&w),
            Some(&json!({"requests": [five]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let got = &r.body["responses"][0];
    let documented = doc["responses"]
        .as_array()
        .and_then(|l| l.iter().find(|x| x["id"] == "5"))
        .expect("documented response 5");
    assert_eq!(got["status"], documented["status"], "{got}");
    // $select: the rows carry exactly the selected properties.
    assert_no_problems(
        "inner 5 body",
        &shape_problems(
            "v1.0",
            Rules::default(),
            None,
            &documented["body"],
            &got["body"],
        ),
    );
}

#[tokio::test]
async fn batch_depends_on_example_runs_in_dependency_order() {
    let example = fixture("batch.dependsOn.request.json");
    let h = Harness::start(example_state()).await;
    let w = h.writer_token().await;
    // The example elides its URLs ("..."); give each request a GET the emulator serves.
    let served = [
        "/policies/authenticationMethodsPolicy",
        "/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/fido2",
        "/policies/identitySecurityDefaultsEnforcementPolicy",
        "/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/sms",
    ];
    let mut batch = example.clone();
    let requests = batch["requests"].as_array_mut().expect("requests");
    assert!(requests.len() <= served.len(), "the example grew; add URLs");
    for (r, url) in requests.iter_mut().zip(served) {
        assert_eq!(
            r["url"], "...",
            "the example now has real URLs; replay them"
        );
        r["url"] = json!(url);
    }
    let requests = batch["requests"].as_array().cloned().unwrap_or_default();

    assert_eq!(
        h.call(Method::DELETE, "/_emulator/requests", None, None)
            .await
            .status,
        204
    );
    let r = h
        .call(Method::POST, "/v1.0/$batch", Some(&w), Some(&batch))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let responses = r.body["responses"].as_array().cloned().unwrap_or_default();
    assert_eq!(responses.len(), requests.len());
    for inner in &responses {
        assert_eq!(inner["status"], 200, "{inner}");
    }
    let log = h.requests().await;
    let seq = |id: &str| {
        log.iter()
            .find(|l| l["batchId"] == id)
            .and_then(|l| l["seq"].as_u64())
            .unwrap_or_else(|| panic!("request {id} not in the log"))
    };
    for req in &requests {
        let id = req["id"].as_str().unwrap_or_default();
        for dep in req["dependsOn"].as_array().into_iter().flatten() {
            let dep = dep.as_str().unwrap_or_default();
            assert!(
                seq(dep) < seq(id),
                "{id} ran before {dep}, on which it depends"
            );
        }
    }

    // A failed first request fails the chain that depends on it with 424 (FACTS.md §11).
    let mut failing = batch.clone();
    failing["requests"][0]["url"] = json!(
        "/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/noSuchMethod"
    );
    let r = h
        .call(Method::POST, "/v1.0/$batch", Some(&w), Some(&failing))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let first = failing["requests"][0]["id"].clone();
    for inner in r.body["responses"].as_array().into_iter().flatten() {
        let expected = if inner["id"] == first { 404 } else { 424 };
        assert_eq!(inner["status"], expected, "{inner}");
    }
}
