//! POSTing a payload: a message counts as delivered only after a 2xx (Teams Workflows
//! answer 202); 429 and 5xx are retried after the service's `Retry-After` (seconds or an
//! HTTP date) or, without one, after an exponential backoff; failed connections and
//! timeouts are retried likewise. Other statuses fail at once.
//!
//! The URL is a secret: errors name the provider, and text taken from the HTTP stack is
//! scrubbed of the URL, its host and its path.

use std::time::{Duration, SystemTime};

use ring::rand::SecureRandom;

use super::Secret;
use super::render::truncate;
use crate::graph::parse_retry_after;

/// How persistent a delivery is.
#[derive(Debug, Clone, PartialEq)]
pub struct SendPolicy {
    /// Requests per message, the first included.
    pub max_attempts: u32,
    /// Timeout of one request (connect, send, response headers and body).
    pub request_timeout: Duration,
    /// The first backoff's cap (without `Retry-After`); doubled per attempt.
    pub base_backoff: Duration,
    /// The largest backoff.
    pub max_backoff: Duration,
    /// The longest `Retry-After` honoured; a longer one ends the retries at once (the next
    /// pass tries again).
    pub max_retry_after: Duration,
}

impl Default for SendPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            request_timeout: Duration::from_secs(15),
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl SendPolicy {
    /// The wait before attempt `attempt + 1` without `Retry-After`: between half and all of
    /// `base_backoff · 2^(attempt−1)`, at most `max_backoff`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let cap = self
            .base_backoff
            .saturating_mul(1 << attempt.saturating_sub(1).min(20))
            .min(self.max_backoff);
        let mut r = [0u8; 4];
        let _ = ring::rand::SystemRandom::new().fill(&mut r);
        let fraction = f64::from(u32::from_le_bytes(r)) / f64::from(u32::MAX);
        cap / 2 + (cap / 2).mul_f64(fraction)
    }
}

/// Why a message was not delivered. Names the provider, never its URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The service answered with a status other than 2xx: at once for a 4xx other than 429,
    /// or after the last attempt for 429 and 5xx.
    #[error("{provider} answered HTTP {status} after {attempts} attempt{}{detail}", plural(*attempts))]
    Status {
        /// The provider (`teams`, `slack#2`, …).
        provider: String,
        /// The last status.
        status: u16,
        /// Requests sent.
        attempts: u32,
        /// `; response body "…"` with the start of the body, quoted (Slack explains itself
        /// there; a test receiver may answer `ok` with a 500), or empty.
        detail: String,
    },
    /// The service could not be reached (connection refused, TLS failure, timeout) on the
    /// last attempt.
    #[error("{provider} could not be reached after {attempts} attempt{}: {reason}", plural(*attempts))]
    Transport {
        /// The provider.
        provider: String,
        /// Requests tried.
        attempts: u32,
        /// What failed, without the URL.
        reason: String,
    },
    /// The service asked to wait longer than [`SendPolicy::max_retry_after`].
    #[error("{provider} asked to retry after {}s, longer than the {}s allowed; the next pass tries again", wait.as_secs(), allowed.as_secs())]
    RetryAfterTooLong {
        /// The provider.
        provider: String,
        /// The wait asked for.
        wait: Duration,
        /// The longest wait allowed.
        allowed: Duration,
        /// Requests sent.
        attempts: u32,
    },
}

impl SendError {
    /// The provider that failed.
    pub fn provider(&self) -> &str {
        match self {
            SendError::Status { provider, .. }
            | SendError::Transport { provider, .. }
            | SendError::RetryAfterTooLong { provider, .. } => provider,
        }
    }
}

fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// `text` with every occurrence of the URL, its path and its host replaced.
fn scrub(text: &str, url: &str) -> String {
    let mut secrets = vec![url.to_string()];
    if let Ok(u) = url::Url::parse(url) {
        if u.path().len() > 1 {
            secrets.push(u.path().to_string());
        }
        if let Some(q) = u.query() {
            secrets.push(q.to_string());
        }
        if let Some(h) = u.host_str() {
            secrets.push(h.to_string());
        }
    }
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(s.as_str(), "[redacted]");
    }
    out
}

/// A reqwest error as text, without its URL: the error's causes (reqwest's own message
/// names the URL, so it is left out), scrubbed of `url` besides.
pub(crate) fn describe(e: &reqwest::Error, url: &[&str]) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_builder() {
        "invalid request"
    } else {
        "request failed"
    };
    let mut text = kind.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let c_text = c.to_string();
        if !text.contains(&c_text) {
            text.push_str(": ");
            text.push_str(&c_text);
        }
        cause = c.source();
    }
    for u in url {
        text = scrub(&text, u);
    }
    text
}

/// The start of a response body, as text.
async fn snippet(mut resp: reqwest::Response) -> String {
    let mut buf = Vec::new();
    while buf.len() < 1024 {
        match resp.chunk().await {
            Ok(Some(chunk)) => buf.extend_from_slice(&chunk),
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&buf);
    truncate(text.trim(), 200)
}

/// POSTs `body` (JSON) to `url` until a 2xx, within `policy`; returns the number of
/// requests sent.
pub(crate) async fn post(
    http: &reqwest::Client,
    provider: &str,
    url: &Secret,
    body: Vec<u8>,
    signature: Option<String>,
    policy: &SendPolicy,
) -> Result<u32, SendError> {
    let body = bytes::Bytes::from(body);
    let max = policy.max_attempts.max(1);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut req = http
            .post(url.expose())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .timeout(policy.request_timeout)
            .body(body.clone());
        if let Some(sig) = &signature {
            req = req.header(super::webhook::SIGNATURE_HEADER, sig);
        }
        let last = attempt >= max;
        let wait = match req.send().await {
            Ok(resp) if resp.status().is_success() => return Ok(attempt),
            Ok(resp) => {
                let status = resp.status();
                let retry_after = resp
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, SystemTime::now()));
                let retryable =
                    status == reqwest::StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
                if !retryable || last {
                    let text = scrub(&snippet(resp).await, url.expose());
                    return Err(SendError::Status {
                        provider: provider.to_string(),
                        status: status.as_u16(),
                        attempts: attempt,
                        detail: if text.is_empty() {
                            String::new()
                        } else {
                            format!("; response body {text:?}")
                        },
                    });
                }
                match retry_after {
                    Some(wait) if wait > policy.max_retry_after => {
                        return Err(SendError::RetryAfterTooLong {
                            provider: provider.to_string(),
                            wait,
                            allowed: policy.max_retry_after,
                            attempts: attempt,
                        });
                    }
                    Some(wait) => wait,
                    None => policy.backoff(attempt),
                }
            }
            Err(e) => {
                if last {
                    return Err(SendError::Transport {
                        provider: provider.to_string(),
                        attempts: attempt,
                        reason: describe(&e, &[url.expose()]),
                    });
                }
                policy.backoff(attempt)
            }
        };
        tracing::debug!(
            provider,
            attempt,
            wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            "alert not accepted yet; retrying"
        );
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_its_cap() {
        let p = SendPolicy::default();
        for (attempt, cap) in [(1, 1000), (2, 2000), (3, 4000), (30, 30_000)] {
            let d = p.backoff(attempt);
            let cap = Duration::from_millis(cap);
            assert!(d >= cap / 2 && d <= cap, "{attempt}: {d:?}");
        }
    }

    #[test]
    fn scrubbing_removes_the_url_its_host_and_path() {
        let url =
            "https://prod-12.westeurope.logic.azure.com:443/workflows/abc/triggers?sig=s3cr3t";
        let text = format!("error for {url}; host prod-12.westeurope.logic.azure.com; sig=s3cr3t");
        let out = scrub(&text, url);
        assert!(
            !out.contains("s3cr3t") && !out.contains("logic.azure.com"),
            "{out}"
        );
    }
}
