//! The Microsoft Graph client that plan and apply use: one reqwest client (system roots plus
//! the tenant's extra CA) shared by azure_identity's token requests and Graph calls, token
//! caching by azure_identity, paging, and conservative retries.
//!
//! Retries (FACTS.md §10): 429 and 503 honour `Retry-After` (fractional seconds); 500, 502,
//! 504 and connection failures back off exponentially; at most [`MAX_ATTEMPTS`] attempts.
//! A PATCH is retried only when it cannot have been applied: on 429 or 503 carrying
//! `Retry-After` (the service refused it before acting), and on a failure to connect. Other
//! 4xx are never retried.
//!
//! Tokens, secrets and `Authorization` headers are never logged: events carry the method,
//! path, status and attempt only.

mod error;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::{Secret, TokenCredential};
use azure_core::http::{ClientOptions, ExponentialRetryOptions, RetryOptions, Transport};
use azure_identity::{ClientSecretCredential, ClientSecretCredentialOptions};
use reqwest::Method;
use serde_json::Value;
use url::Url;

pub use error::{GraphError, GraphErrorKind, RequestContext, required_permission};

use crate::config::{CredentialSource, Env, TenantSettings};

/// The scope mfactl asks tokens for. Always Graph's own, whatever `graph_url` is (the
/// emulator and proxies accept Graph tokens): `{graph_url}/.default` would name another
/// resource.
pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";
/// Attempts per request, the first included.
pub const MAX_ATTEMPTS: u32 = 3;
/// Per-request timeout (connect, send, and read the whole body).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Connect timeout.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest `Retry-After` waited for; a longer one ends the retries at once.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// The first backoff delay when no `Retry-After` is given; doubled per attempt.
const BASE_BACKOFF: Duration = Duration::from_millis(200);
/// Longest error message kept from a non-JSON error body.
const MAX_MESSAGE: usize = 300;

/// A Graph client for one tenant.
pub struct GraphClient {
    tenant_id: String,
    client_id: String,
    graph_url: Url,
    http: reqwest::Client,
    credential: Arc<ClientSecretCredential>,
    /// Kept only to scrub it from error text, should a server ever echo it.
    secret: Secret,
    sent: AtomicU64,
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
    /// A response to interpret (2xx or a final error status).
    Reply(Reply),
    /// Try again after this long.
    Retry(Duration),
    /// Give up with this error.
    Fail(GraphError),
}

impl GraphClient {
    /// Builds the client for `tenant`: reads its secret (from `env` or a file), builds one
    /// HTTP client trusting the system roots plus `ca_file`, and a ClientSecretCredential
    /// that requests tokens through that same client. Sends nothing.
    pub fn connect(tenant: &TenantSettings, env: &Env) -> Result<GraphClient, GraphError> {
        let secret = read_secret(&tenant.credential, env)?;
        // reqwest (built without a default crypto provider) panics when none is installed;
        // `main` installs ring, and this covers any other caller. A concurrent install
        // winning the race is just as good.
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let mut builder = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("mfactl/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &tenant.ca_file {
            let pem = std::fs::read(path).map_err(|e| GraphError::CaFile {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            let certs =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| GraphError::CaFile {
                    path: path.clone(),
                    reason: error_chain(&e),
                })?;
            if certs.is_empty() {
                return Err(GraphError::CaFile {
                    path: path.clone(),
                    reason: "no PEM certificate in the file".to_string(),
                });
            }
            builder = builder.tls_certs_merge(certs);
        }
        let http = builder.build().map_err(|e| GraphError::Setup {
            reason: error_chain(&e),
        })?;

        let mut cloud = CustomConfiguration::default();
        cloud.authority_host = tenant.authority_host.as_str().to_string();
        // azure_core's default retries up to 8 times over a minute or more (a TLS failure
        // took 82 s to surface: TOOLING.md); the token request gets the same budget as a
        // Graph request instead.
        let retry = RetryOptions::exponential(ExponentialRetryOptions {
            initial_delay: azure_core::time::Duration::milliseconds(200),
            max_retries: MAX_ATTEMPTS - 1,
            max_total_elapsed: azure_core::time::Duration::seconds(30),
            max_delay: azure_core::time::Duration::seconds(5),
        });
        let options = ClientSecretCredentialOptions {
            client_options: ClientOptions {
                transport: Some(Transport::new(Arc::new(http.clone()))),
                cloud: Some(Arc::new(CloudConfiguration::Custom(cloud))),
                retry,
                ..Default::default()
            },
        };
        let credential = ClientSecretCredential::new(
            &tenant.tenant_id,
            tenant.client_id.clone(),
            secret.clone(),
            Some(options),
        )
        .map_err(|e| GraphError::Setup {
            reason: scrub(&e.to_string(), secret.secret()),
        })?;
        Ok(GraphClient {
            tenant_id: tenant.tenant_id.clone(),
            client_id: tenant.client_id.clone(),
            graph_url: tenant.graph_url.clone(),
            http,
            credential,
            secret,
            sent: AtomicU64::new(0),
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
        let mut url = self.url_for(path)?;
        let mut items = Vec::new();
        loop {
            let reply = self.send(Method::GET, url, None).await?;
            let mut page = parse_json(&reply)?;
            match page.get_mut("value").map(Value::take) {
                Some(Value::Array(values)) => items.extend(values),
                _ => return Err(invalid(&reply, "the page has no `value` array")),
            }
            match page.get("@odata.nextLink") {
                None | Some(Value::Null) => return Ok(items),
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

    /// Sends with retries; returns a 2xx reply or the error for the final answer.
    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<Reply, GraphError> {
        let path = self.display_path(&url);
        let mut attempt = 1;
        loop {
            let outcome = self.attempt(&method, &url, &path, body, attempt).await?;
            match outcome {
                Outcome::Reply(reply) => return Ok(reply),
                Outcome::Fail(err) => return Err(err),
                Outcome::Retry(delay) => {
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

    async fn attempt(
        &self,
        method: &Method,
        url: &Url,
        path: &str,
        body: Option<&Value>,
        attempt: u32,
    ) -> Result<Outcome, GraphError> {
        let token = self.token().await?;
        let is_get = *method == Method::GET;
        let mut request = self
            .http
            .request(method.clone(), url.clone())
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
        let last = attempt >= MAX_ATTEMPTS;
        self.sent.fetch_add(1, Ordering::Relaxed);
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                // A PATCH that failed to connect was never sent; any later failure may
                // have reached the service, so a retry could write twice.
                let safe = is_get || e.is_connect();
                tracing::debug!(
                    method = %method, path = %path, attempt, connect = e.is_connect(),
                    timeout = e.is_timeout(), "Graph request failed without a response"
                );
                if safe && !last {
                    return Ok(Outcome::Retry(backoff(attempt)));
                }
                return Ok(Outcome::Fail(GraphError::Network {
                    request: context(None),
                    reason: error_chain(&e),
                    attempts: attempt,
                }));
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
        let retry_after = header("retry-after").and_then(|v| parse_retry_after(&v));
        tracing::debug!(method = %method, path = %path, attempt, status, "Graph response");
        let bytes = match response.bytes().await {
            Ok(b) => b,
            Err(e) => {
                if is_get && !last {
                    return Ok(Outcome::Retry(backoff(attempt)));
                }
                return Ok(Outcome::Fail(GraphError::Network {
                    request: context(request_id),
                    reason: format!("reading the response body: {}", error_chain(&e)),
                    attempts: attempt,
                }));
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
        let outcome = match status {
            429 | 503 => {
                let delay = match retry_after {
                    Some(d) => Some(d),
                    // Without Retry-After a GET backs off; a PATCH may have been acted on.
                    None if is_get => Some(backoff(attempt)),
                    None => None,
                };
                match delay {
                    Some(d) if !last && d <= MAX_RETRY_AFTER => Outcome::Retry(d),
                    _ if status == 429 => Outcome::Fail(GraphError::Throttled {
                        request,
                        retry_after,
                        attempts: attempt,
                    }),
                    _ => Outcome::Fail(GraphError::Server {
                        request,
                        status,
                        code,
                        message,
                        attempts: attempt,
                    }),
                }
            }
            500 | 502 | 504 if is_get && !last => Outcome::Retry(backoff(attempt)),
            500..=599 => Outcome::Fail(GraphError::Server {
                request,
                status,
                code,
                message,
                attempts: attempt,
            }),
            400 => Outcome::Fail(GraphError::BadRequest {
                request,
                code,
                message,
            }),
            401 => Outcome::Fail(GraphError::Unauthorized {
                request,
                code,
                message,
            }),
            403 => Outcome::Fail(GraphError::Forbidden {
                permission: required_permission(method.as_str(), path),
                request,
                code,
                message,
            }),
            404 => Outcome::Fail(GraphError::NotFound {
                request,
                code,
                message,
            }),
            _ => Outcome::Fail(GraphError::Rejected {
                request,
                status,
                code,
                message,
            }),
        };
        Ok(outcome)
    }
}

/// Reads the client secret; a trailing line break in a file is not part of it.
fn read_secret(source: &CredentialSource, env: &Env) -> Result<Secret, GraphError> {
    let fail = |reason: &str| GraphError::Secret {
        from: source.clone(),
        reason: reason.to_string(),
    };
    let value = match source {
        CredentialSource::SecretEnv(name) => env
            .get(name)
            .ok_or_else(|| fail("the variable is not set or is empty"))?
            .to_string(),
        CredentialSource::SecretFile(path) => std::fs::read_to_string(path)
            .map_err(|e| fail(&e.to_string()))?
            .trim_end_matches(['\r', '\n'])
            .to_string(),
    };
    if value.trim().is_empty() {
        return Err(fail("the secret is empty"));
    }
    Ok(Secret::new(value))
}

/// `delay` before attempt `attempt + 1`: 200 ms, 400 ms, ...
fn backoff(attempt: u32) -> Duration {
    BASE_BACKOFF.saturating_mul(1 << attempt.saturating_sub(1).min(10))
}

/// `Retry-After` in (possibly fractional) seconds; an HTTP date is not used by Graph.
fn parse_retry_after(v: &str) -> Option<Duration> {
    let secs: f64 = v.trim().parse().ok()?;
    if secs.is_finite() && secs >= 0.0 {
        Duration::try_from_secs_f64(secs).ok()
    } else {
        None
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn retry_after_is_fractional_seconds() {
        assert_eq!(
            parse_retry_after("2.128"),
            Some(Duration::from_millis(2128))
        );
        assert_eq!(parse_retry_after("10"), Some(Duration::from_secs(10)));
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn backoff_doubles() {
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert_eq!(backoff(2), Duration::from_millis(400));
        assert!(backoff(100) <= Duration::from_secs(205));
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
