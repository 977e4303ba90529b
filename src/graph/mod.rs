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
mod http;
pub mod pace;
mod request;
mod response;
mod retry;
mod token;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use azure_core::credentials::{Secret, TokenCredential};
use reqwest::Method;
use serde_json::Value;
use url::Url;

pub use batch::{BatchRequest, BatchResponse, MAX_BATCH};
pub use error::{GraphError, GraphErrorKind, RequestContext, required_permission};
pub use http::http_client;
pub use pace::{Charge, PaceLimits, Pacer};
use request::{Verdict, retry_verdict};
use response::{StatusDetail, error_body, invalid, parse_json, status_error};
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
        self.write(Method::PATCH, path, Some(body)).await
    }

    /// POSTs `body` to `path` (a create, or an action): the body of a 201 or 200, `None`
    /// for 204 or an empty body.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Option<Value>, GraphError> {
        self.write(Method::POST, path, Some(body)).await
    }

    /// DELETEs the resource at `path` (Graph answers 204).
    pub async fn delete(&self, path: &str) -> Result<(), GraphError> {
        self.write(Method::DELETE, path, None).await.map(|_| ())
    }

    /// Sends a write and reads its reply's JSON body, if it has one.
    async fn write(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Option<Value>, GraphError> {
        let url = self.url_for(path)?;
        let reply = self.send(method, url, body).await?;
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

/// `text` with every occurrence of `secret` replaced.
fn scrub(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        text.to_string()
    } else {
        text.replace(secret, "[redacted]")
    }
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
            prune: false,
            hardware_oath_seed: None,
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
}
