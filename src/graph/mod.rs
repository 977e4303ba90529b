//! The Microsoft Graph client that plan and apply use: one reqwest client (system roots plus
//! the tenant's extra CA) shared by azure_identity's token requests and Graph calls, token
//! caching by azure_identity, client-side pacing, paging, `$batch`, and retries.
//!
//! Retries (FACTS.md §10, [`RetryPolicy`]): 429 waits its `Retry-After` (fractional seconds
//! or an HTTP date), or backs off without one; 500, 502, 503, 504, timeouts and connection
//! failures back off exponentially with full jitter (503 waits its `Retry-After` when it
//! has one). Every call is bounded by [`MAX_ATTEMPTS`] attempts and [`CALL_DEADLINE`].
//! A PATCH is retried only when it cannot have been applied: on 429 (the throttle refused
//! it before it was acted on), on 503 carrying `Retry-After`, and on a failure to connect;
//! a retried PATCH is the same PATCH. Other 4xx are never retried.
//!
//! Pacing ([`pace`]): one [`Pacer`] per Graph service, tenant and app keeps requests below
//! Graph's documented limits, so that a large run rarely sees a 429.
//!
//! Tokens, secrets and `Authorization` headers are never logged: events carry the method,
//! path, status and attempt only.

mod batch;
pub mod credential;
mod error;
pub mod pace;
mod retry;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use azure_core::credentials::{Secret, TokenCredential};
use reqwest::Method;
use serde_json::Value;
use url::Url;

pub use batch::{BatchRequest, BatchResponse, MAX_BATCH};
pub use error::{GraphError, GraphErrorKind, RequestContext, required_permission};
pub use pace::{Charge, PaceLimits, Pacer};
pub use retry::{RetryPolicy, parse_retry_after};

use crate::config::{Env, TenantSettings};

/// The scope mfactl asks tokens for. Always Graph's own, whatever `graph_url` is (the
/// emulator and proxies accept Graph tokens): `{graph_url}/.default` would name another
/// resource.
pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";
/// Attempts per request, the first included (the default [`RetryPolicy`]).
pub const MAX_ATTEMPTS: u32 = 6;
/// Overall time allowed per call, pacing and retries included (the default [`RetryPolicy`]).
pub const CALL_DEADLINE: Duration = Duration::from_secs(120);
/// Per-request timeout (connect, send, and read the whole body).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Connect timeout.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest `Retry-After` waited for; a longer one ends the retries at once.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// Longest error message kept from a non-JSON error body.
const MAX_MESSAGE: usize = 300;

/// A Graph client for one tenant.
pub struct GraphClient {
    tenant_id: String,
    client_id: String,
    graph_url: Url,
    http: reqwest::Client,
    credential: Arc<dyn TokenCredential>,
    /// Kept only to scrub it from error text, should a server ever echo it.
    secret: Secret,
    sent: AtomicU64,
    policy: RetryPolicy,
    pacer: Arc<Pacer>,
    jitter: retry::Jitter,
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient")
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("graph_url", &self.graph_url.as_str())
            .field("requests_sent", &self.requests_sent())
            .finish_non_exhaustive()
    }
}

/// A response that arrived, before interpretation.
struct Reply {
    status: u16,
    request_id: Option<String>,
    body: bytes::Bytes,
    context: RequestContext,
}

/// What one attempt came to.
enum Outcome {
    /// A 2xx response to interpret.
    Reply(Reply),
    /// Try again after `delay`; `error` is the answer if no attempt is left.
    Retry {
        /// How long to wait.
        delay: Duration,
        /// The failure of this attempt.
        error: GraphError,
    },
    /// Give up with this error.
    Fail(GraphError),
}

impl GraphClient {
    /// Builds the client for `tenant`: one HTTP client trusting the system roots plus
    /// `ca_file`, and the tenant's credential (`credential::build`: reads its secret,
    /// certificate or token file) that requests tokens through that same client. Sends
    /// nothing.
    pub fn connect(tenant: &TenantSettings, env: &Env) -> Result<GraphClient, GraphError> {
        let http = http_client(tenant.ca_file.as_deref())?;
        Self::connect_with(tenant, env, http)
    }

    /// [`GraphClient::connect`] with an HTTP client made by [`http_client`] for the tenant's
    /// trust store, shared by the tenants of a fleet: they reuse keep-alive connections and
    /// TLS sessions to Graph and the token endpoint instead of a handshake each. (Share it
    /// within one tokio runtime only: its pooled connections belong to the runtime that made
    /// them.)
    pub fn connect_with(
        tenant: &TenantSettings,
        env: &Env,
        http: reqwest::Client,
    ) -> Result<GraphClient, GraphError> {
        let (credential, secret) = credential::build(tenant, env, &http)?;
        Ok(GraphClient {
            tenant_id: tenant.tenant_id.clone(),
            client_id: tenant.client_id.clone(),
            graph_url: tenant.graph_url.clone(),
            http,
            credential,
            pacer: pace::shared(
                &tenant.graph_url,
                &tenant.tenant_id,
                &tenant.client_id,
                PaceLimits::default(),
            ),
            secret,
            sent: AtomicU64::new(0),
            policy: RetryPolicy::default(),
            jitter: retry::Jitter::new(),
        })
    }

    /// Graph requests sent so far, every attempt counted (token requests are not).
    pub fn requests_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// The Graph base URL.
    pub fn graph_url(&self) -> &Url {
        &self.graph_url
    }

    /// The same client with another retry policy.
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The same client pacing below `limits` (a tenant's real tier, say), with a new pacer
    /// that clients for the same tenant and app made afterwards share.
    pub fn with_pace_limits(mut self, limits: PaceLimits) -> Self {
        self.pacer = pace::replace(&self.graph_url, &self.tenant_id, &self.client_id, limits);
        self
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// The pacer this client shares with every client for the same tenant and app.
    pub fn pacer(&self) -> &Arc<Pacer> {
        &self.pacer
    }

    /// GETs one resource: `path` is relative to the Graph base URL and carries the version
    /// (`/beta/policies/authenticationMethodsPolicy`). The body must be a JSON object.
    pub async fn get(&self, path: &str) -> Result<Value, GraphError> {
        let url = self.url_for(path)?;
        let reply = self.send(Method::GET, url, None).await?;
        let value = parse_json(&reply)?;
        if !value.is_object() {
            return Err(invalid(&reply, "the body is not a JSON object"));
        }
        Ok(value)
    }

    /// GETs a collection, following `@odata.nextLink` verbatim until it is absent, and
    /// concatenates every page's `value`.
    pub async fn get_all(&self, path: &str) -> Result<Vec<Value>, GraphError> {
        let mut items = Vec::new();
        self.for_each_page(path, |values| {
            items.extend(values);
            Ok(())
        })
        .await?;
        Ok(items)
    }

    /// GETs a collection page by page, following `@odata.nextLink` verbatim until it is
    /// absent, and hands each page's `value` to `page` before reading the next: memory holds
    /// one page at a time. An error from `page` stops the reading.
    pub async fn for_each_page(
        &self,
        path: &str,
        mut page: impl FnMut(Vec<Value>) -> Result<(), GraphError>,
    ) -> Result<(), GraphError> {
        let mut url = self.url_for(path)?;
        loop {
            let reply = self.send(Method::GET, url, None).await?;
            let mut body = parse_json(&reply)?;
            match body.get_mut("value").map(Value::take) {
                Some(Value::Array(values)) => page(values)?,
                _ => return Err(invalid(&reply, "the page has no `value` array")),
            }
            match body.get("@odata.nextLink") {
                None | Some(Value::Null) => return Ok(()),
                Some(Value::String(next)) => url = self.next_link(&reply, next)?,
                Some(_) => return Err(invalid(&reply, "`@odata.nextLink` is not a string")),
            }
        }
    }

    /// PATCHes `body` to `path`. Any 2xx is success: `Some` body for a 200 with one (the
    /// policy PATCH, FACTS.md §13.1), `None` for 204 or an empty body.
    pub async fn patch(&self, path: &str, body: &Value) -> Result<Option<Value>, GraphError> {
        let url = self.url_for(path)?;
        let reply = self.send(Method::PATCH, url, Some(body)).await?;
        if reply.body.is_empty() {
            return Ok(None);
        }
        parse_json(&reply).map(Some)
    }

    /// The absolute URL for a path relative to the base URL.
    fn url_for(&self, path: &str) -> Result<Url, GraphError> {
        let base = self.graph_url.as_str().trim_end_matches('/');
        let joined = if path.starts_with('/') {
            format!("{base}{path}")
        } else {
            format!("{base}/{path}")
        };
        Url::parse(&joined).map_err(|e| GraphError::Setup {
            reason: format!("`{path}` does not make a URL with {base}: {e}"),
        })
    }

    /// A next link, checked to stay on the Graph origin: the bearer token goes with it.
    fn next_link(&self, reply: &Reply, next: &str) -> Result<Url, GraphError> {
        let url = Url::parse(next)
            .map_err(|e| invalid(reply, &format!("`@odata.nextLink` is not a URL: {e}")))?;
        if url.origin() != self.graph_url.origin() {
            return Err(invalid(
                reply,
                &format!(
                    "`@odata.nextLink` leaves the Graph origin ({}); not following it with a token",
                    url.origin().ascii_serialization()
                ),
            ));
        }
        Ok(url)
    }

    /// The path and query of `url` as shown in errors and logs.
    fn display_path(&self, url: &Url) -> String {
        let base_path = self.graph_url.path().trim_end_matches('/');
        let path = url.path();
        let path = path.strip_prefix(base_path).unwrap_or(path);
        match url.query() {
            Some(q) => format!("{path}?{q}"),
            None => path.to_string(),
        }
    }

    async fn token(&self) -> Result<Secret, GraphError> {
        match self.credential.get_token(&[GRAPH_SCOPE], None).await {
            Ok(token) => Ok(token.token),
            Err(e) => Err(self.authentication_error(&e)),
        }
    }

    fn authentication_error(&self, e: &azure_core::Error) -> GraphError {
        // The credential wraps the token endpoint's error; the HTTP status sits on an inner
        // error when the endpoint answered at all.
        let mut status = None;
        let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(err) = current {
            if let Some(az) = err.downcast_ref::<azure_core::Error>()
                && let Some(s) = az.http_status()
            {
                status = Some(u16::from(s));
                break;
            }
            current = err.source();
        }
        let (code, description) = describe_token_failure(e);
        let description = scrub(&description, self.secret.secret());
        GraphError::Authentication {
            tenant_id: self.tenant_id.clone(),
            client_id: self.client_id.clone(),
            status,
            code,
            description,
        }
    }

    /// Sends with pacing and retries; returns a 2xx reply or the error for the final answer.
    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<Reply, GraphError> {
        let charge = Charge::of(method.as_str(), url.path(), url.query());
        let safe = method == Method::GET;
        self.send_with(method, url, body, charge, safe).await
    }

    /// [`GraphClient::send`] with the pacing charge given, and whether a request that may
    /// have reached the service can be sent again (`safe`: it changes nothing).
    async fn send_with(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        charge: Charge,
        safe: bool,
    ) -> Result<Reply, GraphError> {
        let path = self.display_path(&url);
        let deadline = Instant::now() + self.policy.deadline;
        let give_up = |attempts: u32, last: Option<GraphError>| GraphError::Deadline {
            request: Box::new(RequestContext {
                method: method.as_str().to_string(),
                path: path.clone(),
                request_id: None,
            }),
            deadline: self.policy.deadline,
            attempts,
            last: last.map(Box::new),
        };
        let mut attempt = 1;
        loop {
            match self.pacer.reserve(charge, deadline) {
                Ok(wait) if wait.is_zero() => {}
                Ok(wait) => {
                    tracing::trace!(
                        method = %method, path = %path,
                        wait_ms = wait.as_millis() as u64, "pacing Graph request"
                    );
                    tokio::time::sleep(wait).await;
                }
                Err(_) => return Err(give_up(attempt - 1, None)),
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(give_up(attempt - 1, None));
            }
            let attempt_ctx = Attempt {
                method: &method,
                url: &url,
                path: &path,
                body,
                number: attempt,
                timeout: left.min(self.policy.request_timeout),
                charge,
                safe,
            };
            match self.attempt(attempt_ctx).await? {
                Outcome::Reply(reply) => return Ok(reply),
                Outcome::Fail(err) => return Err(err),
                Outcome::Retry { delay, error } => {
                    if attempt >= self.policy.max_attempts {
                        return Err(error);
                    }
                    if Instant::now() + delay >= deadline {
                        return Err(give_up(attempt, Some(error)));
                    }
                    tracing::debug!(
                        method = %method,
                        path = %path,
                        attempt,
                        delay_ms = delay.as_millis() as u64,
                        "retrying Graph request"
                    );
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
            }
        }
    }

    /// A jittered backoff before attempt `attempt + 1`.
    fn backoff(&self, attempt: u32) -> Duration {
        self.jitter.below(self.policy.backoff_cap(attempt))
    }

    async fn attempt(&self, a: Attempt<'_>) -> Result<Outcome, GraphError> {
        let Attempt {
            method,
            url,
            path,
            body,
            number: attempt,
            timeout,
            charge,
            safe,
        } = a;
        let token = self.token().await?;
        let mut request = self
            .http
            .request(method.clone(), url.clone())
            .timeout(timeout)
            .bearer_auth(token.secret())
            .header(reqwest::header::ACCEPT, "application/json")
            // Evolvable enum members (x509 `issuerSubjectAndPolicyOID`, …) come back as
            // themselves, not as `unknownFutureValue`, or a declared value would drift forever.
            .header("Prefer", "include-unknown-enum-members");
        if let Some(b) = body {
            request = request.json(b);
        }
        drop(token);
        let context = |request_id: Option<String>| {
            Box::new(RequestContext {
                method: method.as_str().to_string(),
                path: path.to_string(),
                request_id,
            })
        };
        self.sent.fetch_add(1, Ordering::Relaxed);
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                // A request that failed to connect was never sent; any later failure may
                // have reached the service, so a retried write could write twice.
                let retry = safe || e.is_connect();
                tracing::debug!(
                    method = %method, path = %path, attempt, connect = e.is_connect(),
                    timeout = e.is_timeout(), "Graph request failed without a response"
                );
                let error = GraphError::Network {
                    request: context(None),
                    reason: error_chain(&e),
                    attempts: attempt,
                };
                return Ok(if retry {
                    Outcome::Retry {
                        delay: self.backoff(attempt),
                        error,
                    }
                } else {
                    Outcome::Fail(error)
                });
            }
        };
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let request_id = header("request-id");
        let retry_after =
            header("retry-after").and_then(|v| parse_retry_after(&v, SystemTime::now()));
        if let Some(p) = header("x-ms-throttle-limit-percentage").and_then(|v| v.parse().ok()) {
            self.pacer.observe(charge, p);
        }
        tracing::debug!(method = %method, path = %path, attempt, status, "Graph response");
        let bytes = match response.bytes().await {
            Ok(b) => b,
            Err(e) => {
                let error = GraphError::Network {
                    request: context(request_id),
                    reason: format!("reading the response body: {}", error_chain(&e)),
                    attempts: attempt,
                };
                return Ok(if safe {
                    Outcome::Retry {
                        delay: self.backoff(attempt),
                        error,
                    }
                } else {
                    Outcome::Fail(error)
                });
            }
        };
        if (200..300).contains(&status) {
            return Ok(Outcome::Reply(Reply {
                status,
                request_id: request_id.clone(),
                body: bytes,
                context: *context(request_id),
            }));
        }
        let (code, message, body_request_id) = error_body(&bytes);
        let request = context(request_id.or(body_request_id));
        let verdict = retry_verdict(status, retry_after, safe, &self.policy);
        let error = status_error(
            status,
            StatusDetail {
                request,
                code,
                message,
                retry_after,
                attempts: attempt,
            },
        );
        Ok(match verdict {
            Verdict::Final => Outcome::Fail(error),
            Verdict::After(delay) => {
                if status == 429 {
                    self.pacer.throttled(charge, delay);
                }
                Outcome::Retry { delay, error }
            }
            Verdict::Backoff => {
                let delay = self.backoff(attempt);
                if status == 429 {
                    self.pacer.throttled(charge, delay);
                }
                Outcome::Retry { delay, error }
            }
        })
    }
}

/// One attempt's request and limits.
struct Attempt<'a> {
    method: &'a Method,
    url: &'a Url,
    path: &'a str,
    body: Option<&'a Value>,
    number: u32,
    timeout: Duration,
    charge: Charge,
    safe: bool,
}

/// Whether and when to retry an error status.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Verdict {
    /// Not retried.
    Final,
    /// Retried after this long (the service's `Retry-After`).
    After(Duration),
    /// Retried after a jittered backoff.
    Backoff,
}

/// The retry rule for an error status (FACTS.md §10). `safe`: the request changes nothing,
/// so sending it again cannot write twice. A 429 was refused by the throttle before it was
/// acted on, and so was a 503 that says when to come back; any other 5xx to a write may
/// have been acted on.
fn retry_verdict(
    status: u16,
    retry_after: Option<Duration>,
    safe: bool,
    policy: &RetryPolicy,
) -> Verdict {
    match (status, retry_after) {
        (429 | 503, Some(d)) if d <= policy.max_retry_after => Verdict::After(d),
        (429 | 503, Some(_)) => Verdict::Final,
        (429, None) => Verdict::Backoff,
        (500 | 502 | 503 | 504, _) if safe => Verdict::Backoff,
        _ => Verdict::Final,
    }
}

/// What an error status is interpreted with.
struct StatusDetail {
    request: Box<RequestContext>,
    code: String,
    message: String,
    retry_after: Option<Duration>,
    attempts: u32,
}

/// The error for a non-2xx status.
fn status_error(status: u16, d: StatusDetail) -> GraphError {
    let StatusDetail {
        request,
        code,
        message,
        retry_after,
        attempts,
    } = d;
    match status {
        429 => GraphError::Throttled {
            request,
            retry_after,
            attempts,
        },
        500..=599 => GraphError::Server {
            request,
            status,
            code,
            message,
            attempts,
        },
        400 => GraphError::BadRequest {
            request,
            code,
            message,
        },
        401 => GraphError::Unauthorized {
            request,
            code,
            message,
        },
        403 => GraphError::Forbidden {
            permission: required_permission(&request.method, &request.path),
            request,
            code,
            message,
        },
        404 => GraphError::NotFound {
            request,
            code,
            message,
        },
        _ => GraphError::Rejected {
            request,
            status,
            code,
            message,
        },
    }
}

/// `error.code`, `error.message` and `error.innerError.request-id` from an error body.
fn error_body(bytes: &[u8]) -> (String, String, Option<String>) {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v) if v["error"].is_object() => {
            let e = &v["error"];
            let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
            let request_id = e["innerError"]["request-id"].as_str().map(str::to_string);
            (text(&e["code"]), text(&e["message"]), request_id)
        }
        _ => {
            let text = String::from_utf8_lossy(bytes);
            let mut message: String = text.chars().take(MAX_MESSAGE).collect();
            if text.chars().count() > MAX_MESSAGE {
                message.push('…');
            }
            (String::new(), message, None)
        }
    }
}

fn parse_json(reply: &Reply) -> Result<Value, GraphError> {
    if reply.body.is_empty() {
        return Err(invalid(reply, "the body is empty"));
    }
    serde_json::from_slice(&reply.body)
        .map_err(|e| invalid(reply, &format!("the body is not valid JSON: {e}")))
}

fn invalid(reply: &Reply, reason: &str) -> GraphError {
    GraphError::InvalidResponse {
        request: Box::new(RequestContext {
            request_id: reply.request_id.clone(),
            ..reply.context.clone()
        }),
        status: reply.status,
        reason: reason.to_string(),
    }
}

/// An error and its causes, `: `-separated, skipping causes already in the text.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut current = e.source();
    while let Some(cause) = current {
        let c = cause.to_string();
        if !text.contains(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
        current = cause.source();
    }
    text
}

/// The `AADSTS` code and a one-line description of a failed token request. azure_identity
/// wraps the cause in "ClientSecretCredential authentication failed." and retry-policy
/// context; the cause (Entra's `error_description`, or the transport failure such as
/// `invalid peer certificate: UnknownIssuer`) is what a person needs.
fn describe_token_failure(e: &(dyn std::error::Error + 'static)) -> (Option<String>, String) {
    let full = error_chain(e);
    if let Some(code) = aadsts_code(&full) {
        let line = full
            .lines()
            .find(|l| l.contains(code.as_str()))
            .unwrap_or_default();
        let from_code = line.find(code.as_str()).map_or(line, |i| &line[i..]);
        let description = from_code
            .strip_prefix(code.as_str())
            .map(|rest| rest.trim_start_matches(':').trim())
            .unwrap_or(from_code)
            .to_string();
        return (Some(code), description);
    }
    let mut parts: Vec<String> = Vec::new();
    let mut current = e.source();
    while let Some(cause) = current {
        let text = cause.to_string();
        let boilerplate = text.starts_with("retry policy expired")
            || text.contains("will not be retried")
            || parts.iter().any(|p| p.contains(&text));
        if !boilerplate && !text.is_empty() {
            parts.push(text);
        }
        current = cause.source();
    }
    if parts.is_empty() {
        let outer = e.to_string();
        let first = outer.lines().next().unwrap_or_default();
        parts.push(
            first
                .trim_start_matches("ClientSecretCredential authentication failed.")
                .trim()
                .to_string(),
        );
    }
    (None, parts.join(": "))
}

/// `text` with every occurrence of `secret` replaced.
fn scrub(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        text.to_string()
    } else {
        text.replace(secret, "[redacted]")
    }
}

/// The first `AADSTS<digits>` in `text`.
fn aadsts_code(text: &str) -> Option<String> {
    let start = text.find("AADSTS")?;
    let digits: String = text[start + 6..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    (!digits.is_empty()).then(|| format!("AADSTS{digits}"))
}

/// An HTTP client trusting the platform's store, plus `ca_file` when given.
pub fn http_client(ca_file: Option<&std::path::Path>) -> Result<reqwest::Client, GraphError> {
    // reqwest (built without a default crypto provider) panics when none is installed; `main`
    // installs ring, and this covers any other caller. A concurrent install winning the race
    // is just as good.
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    let mut builder = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("mfactl/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|e| GraphError::CaFile {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let certs =
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| GraphError::CaFile {
                path: path.to_path_buf(),
                reason: error_chain(&e),
            })?;
        if certs.is_empty() {
            return Err(GraphError::CaFile {
                path: path.to_path_buf(),
                reason: "no PEM certificate in the file".to_string(),
            });
        }
        builder = builder.tls_certs_merge(certs);
    }
    builder.build().map_err(|e| GraphError::Setup {
        reason: error_chain(&e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CredentialSource;

    #[test]
    fn the_client_and_its_futures_can_cross_threads() {
        fn send_sync<T: Send + Sync>(_: &T) {}
        fn send<T: Send>(_: &T) {}
        let tenant = TenantSettings {
            name: "t".into(),
            tenant_id: "contoso.onmicrosoft.com".into(),
            client_id: "11111111-1111-1111-1111-111111111111".into(),
            credential: CredentialSource::SecretEnv("S".into()),
            policies: Vec::new(),
            graph_url: Url::parse("https://graph.microsoft.com").unwrap(),
            authority_host: Url::parse("https://login.microsoftonline.com").unwrap(),
            ca_file: None,
            control: crate::config::TenantControl::default(),
            config_file: None,
        };
        let client = GraphClient::connect(&tenant, &Env::empty().with("S", "x")).unwrap();
        send_sync(&client);
        send(&client.get("/v1.0/users"));
        send(&client.get_all("/v1.0/users"));
        send(&client.patch("/v1.0/users", &Value::Null));
        assert_eq!(
            client.url_for("/beta/policies").unwrap().as_str(),
            "https://graph.microsoft.com/beta/policies"
        );
        assert_eq!(client.requests_sent(), 0);
    }

    #[test]
    fn only_refusals_are_retried_for_writes() {
        let p = RetryPolicy::default();
        let d = Duration::from_millis(50);
        let ra = Some(d);
        assert_eq!(retry_verdict(429, ra, false, &p), Verdict::After(d));
        assert_eq!(retry_verdict(429, None, false, &p), Verdict::Backoff);
        assert_eq!(retry_verdict(503, ra, false, &p), Verdict::After(d));
        assert_eq!(retry_verdict(503, None, false, &p), Verdict::Final);
        assert_eq!(retry_verdict(503, None, true, &p), Verdict::Backoff);
        for s in [500, 502, 504] {
            assert_eq!(retry_verdict(s, None, true, &p), Verdict::Backoff);
            assert_eq!(retry_verdict(s, None, false, &p), Verdict::Final);
        }
        for s in [400, 401, 403, 404, 409, 412] {
            assert_eq!(retry_verdict(s, ra, true, &p), Verdict::Final);
        }
        let long = Some(p.max_retry_after + Duration::from_secs(1));
        assert_eq!(retry_verdict(429, long, true, &p), Verdict::Final);
    }

    #[test]
    fn aadsts_codes_are_found_and_secrets_scrubbed() {
        assert_eq!(
            aadsts_code("failed. AADSTS7000215: Invalid client secret provided."),
            Some("AADSTS7000215".to_string())
        );
        assert_eq!(aadsts_code("no code here"), None);
        assert_eq!(scrub("a s3cret b", "s3cret"), "a [redacted] b");
    }

    #[test]
    fn error_bodies_are_read() {
        let (code, message, id) = error_body(
            br#"{"error":{"code":"BadRequest","message":"m","innerError":{"request-id":"r1"}}}"#,
        );
        assert_eq!(
            (code.as_str(), message.as_str(), id.as_deref()),
            ("BadRequest", "m", Some("r1"))
        );
        let (code, message, _) = error_body(b"<html>oops</html>");
        assert_eq!((code.as_str(), message.as_str()), ("", "<html>oops</html>"));
    }
}
