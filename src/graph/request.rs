//! Sending one request: pacing, attempts with their timeouts, and the retry rule that
//! decides whether and when an error status is tried again (FACTS.md §10).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use reqwest::Method;
use serde_json::Value;
use url::Url;

use super::{
    Charge, GraphClient, GraphError, Reply, RequestContext, RetryPolicy, StatusDetail, error_body,
    error_chain, parse_retry_after, status_error,
};

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
    /// Sends with pacing and retries; returns a 2xx reply or the error for the final answer.
    pub(super) async fn send(
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
    pub(super) async fn send_with(
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
    pub(super) fn backoff(&self, attempt: u32) -> Duration {
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
pub(super) enum Verdict {
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
pub(super) fn retry_verdict(
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
