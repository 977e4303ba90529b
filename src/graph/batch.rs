//! JSON batching (FACTS.md §11): up to [`MAX_BATCH`] requests per `POST /{version}/$batch`,
//! responses correlated by id (they come back in any order), inner 429s retried after the
//! longest inner `Retry-After`, and a result per request.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use reqwest::Method;
use serde_json::{Map, Value, json};

use super::{
    Charge, GraphClient, GraphError, RequestContext, StatusDetail, Verdict, error_body, parse_json,
    parse_retry_after, retry_verdict, status_error,
};

/// The most requests one `$batch` POST may carry.
pub const MAX_BATCH: usize = 20;

/// One request inside a `$batch`.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchRequest {
    /// Unique (case-insensitively) among the requests of one [`GraphClient::batch`] call.
    pub id: String,
    /// `GET`, `PATCH`, ...
    pub method: String,
    /// Path with its version and query, as for [`GraphClient::get`]
    /// (`/v1.0/users/ada%40contoso.com?$select=id`). Requests of both versions may be mixed:
    /// each version gets its own `$batch`.
    pub path: String,
    /// Extra headers (a JSON body gets `Content-Type: application/json` by itself).
    pub headers: Vec<(String, String)>,
    /// JSON body, if any.
    pub body: Option<Value>,
}

impl BatchRequest {
    /// A GET.
    pub fn get(id: impl Into<String>, path: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            method: "GET".into(),
            path: path.into(),
            headers: Vec::new(),
            body: None,
        }
    }

    /// A PATCH with a JSON body.
    pub fn patch(id: impl Into<String>, path: impl Into<String>, body: Value) -> Self {
        Self {
            id: id.into(),
            method: "PATCH".into(),
            path: path.into(),
            headers: Vec::new(),
            body: Some(body),
        }
    }

    /// A POST with a JSON body (a create).
    pub fn post(id: impl Into<String>, path: impl Into<String>, body: Value) -> Self {
        Self {
            method: "POST".into(),
            ..Self::patch(id, path, body)
        }
    }

    fn is_read(&self) -> bool {
        self.method.eq_ignore_ascii_case("GET")
    }

    fn context(&self) -> Box<RequestContext> {
        Box::new(RequestContext {
            method: self.method.to_ascii_uppercase(),
            path: self.path.clone(),
            request_id: None,
        })
    }
}

/// The result of one [`BatchRequest`].
#[derive(Debug, Clone)]
pub struct BatchResponse {
    /// The request's id.
    pub id: String,
    /// The inner status of the last answer; 0 when none came.
    pub status: u16,
    /// The inner response headers.
    pub headers: Vec<(String, String)>,
    /// The inner body, if any.
    pub body: Option<Value>,
    /// Why the request failed (a non-2xx after the retries allowed), as
    /// [`GraphClient::get`] would have said it; `None` for a 2xx.
    pub error: Option<GraphError>,
}

impl BatchResponse {
    /// The body of a 2xx, or the error.
    pub fn into_result(self) -> Result<Option<Value>, GraphError> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.body),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A request split into the `$batch` version and the URL relative to it.
struct Prepared {
    index: usize,
    request: BatchRequest,
    version: String,
    relative: String,
}

impl GraphClient {
    /// Sends `requests` as `$batch` POSTs of at most [`MAX_BATCH`] each (one per version
    /// and twenty requests, all at the same time), and returns one result per request, in
    /// the order given. Inner 429s (and 503s with `Retry-After`; inner 5xx too for reads)
    /// are sent again, in a new batch, after the longest inner `Retry-After`, within the
    /// client's attempts and deadline. An error for the whole call means no result is
    /// known for any request (the batch POST itself failed).
    pub async fn batch(
        &self,
        requests: Vec<BatchRequest>,
    ) -> Result<Vec<BatchResponse>, GraphError> {
        let prepared = prepare(requests)?;
        // Each version fills its own batches in order: the batch being filled is the last
        // one of its version, so grouping costs one look per request.
        let mut groups: Vec<(String, Vec<Prepared>)> = Vec::new();
        let mut filling: HashMap<String, usize> = HashMap::new();
        for p in prepared {
            match filling.get(&p.version) {
                Some(&g) if groups[g].1.len() < MAX_BATCH => groups[g].1.push(p),
                _ => {
                    filling.insert(p.version.clone(), groups.len());
                    groups.push((p.version.clone(), vec![p]));
                }
            }
        }
        let total: usize = groups.iter().map(|(_, g)| g.len()).sum();
        let results = futures_util::future::join_all(
            groups
                .into_iter()
                .map(|(version, group)| self.batch_group(version, group)),
        )
        .await;
        let mut out: Vec<Option<BatchResponse>> = vec![None; total];
        for r in results {
            for (index, response) in r? {
                if let Some(slot) = out.get_mut(index) {
                    *slot = Some(response);
                }
            }
        }
        Ok(out.into_iter().flatten().collect())
    }

    /// One batch of at most [`MAX_BATCH`], with its inner retries.
    async fn batch_group(
        &self,
        version: String,
        group: Vec<Prepared>,
    ) -> Result<Vec<(usize, BatchResponse)>, GraphError> {
        let url = self.url_for(&format!("/{version}/$batch"))?;
        let deadline = Instant::now() + self.policy.deadline;
        let mut done: Vec<(usize, BatchResponse)> = Vec::with_capacity(group.len());
        let mut pending: Vec<&Prepared> = group.iter().collect();
        let mut attempt = 1;
        while !pending.is_empty() {
            let body =
                json!({ "requests": pending.iter().map(|p| inner_json(p)).collect::<Vec<_>>() });
            let charge = charge_of(pending.iter().map(|p| &p.request));
            let safe = pending.iter().all(|p| p.request.is_read());
            let reply = self
                .send_with(Method::POST, url.clone(), Some(&body), charge, safe)
                .await?;
            let parsed = parse_json(&reply)?;
            let Some(answers) = parsed.get("responses").and_then(Value::as_array) else {
                return Err(super::invalid(
                    &reply,
                    "the batch response has no `responses` array",
                ));
            };
            let mut by_id: HashMap<String, &Value> = HashMap::new();
            for a in answers {
                if let Some(id) = a.get("id").and_then(Value::as_str) {
                    by_id.insert(id.to_ascii_lowercase(), a);
                }
            }
            let mut again: Vec<&Prepared> = Vec::new();
            let mut longest: Option<Duration> = None;
            let mut backoff = false;
            let mut throttled = false;
            for p in pending {
                let Some(answer) = by_id.get(&p.request.id.to_ascii_lowercase()) else {
                    let error = super::invalid(
                        &reply,
                        &format!("the batch response has no answer for id '{}'", p.request.id),
                    );
                    done.push((p.index, failed(p, 0, error)));
                    continue;
                };
                let response = read_answer(p, answer, attempt);
                let retry_after = response
                    .header("retry-after")
                    .and_then(|v| parse_retry_after(v, SystemTime::now()));
                if response.error.is_some() {
                    match retry_verdict(
                        response.status,
                        retry_after,
                        p.request.is_read(),
                        &self.policy,
                    ) {
                        Verdict::Final => {}
                        Verdict::After(d) => {
                            longest = Some(longest.map_or(d, |l| l.max(d)));
                            throttled |= response.status == 429;
                            again.push(p);
                            done.push((p.index, response));
                            continue;
                        }
                        Verdict::Backoff => {
                            backoff = true;
                            throttled |= response.status == 429;
                            again.push(p);
                            done.push((p.index, response));
                            continue;
                        }
                    }
                }
                done.push((p.index, response));
            }
            if again.is_empty() {
                break;
            }
            let mut delay = longest.unwrap_or_default();
            if backoff {
                delay = delay.max(self.backoff(attempt));
            }
            if attempt >= self.policy.max_attempts || Instant::now() + delay >= deadline {
                break;
            }
            if throttled {
                self.pacer.throttled(charge, delay);
            }
            tracing::debug!(
                path = %format!("/{version}/$batch"),
                attempt,
                retried = again.len(),
                delay_ms = delay.as_millis() as u64,
                "retrying requests inside a batch"
            );
            tokio::time::sleep(delay).await;
            // The retried requests' earlier answers give way to the new ones.
            done.retain(|(i, _)| !again.iter().any(|p| p.index == *i));
            pending = again;
            attempt += 1;
        }
        Ok(done)
    }
}

/// Checks ids and paths, and splits each path into its version and the rest.
fn prepare(requests: Vec<BatchRequest>) -> Result<Vec<Prepared>, GraphError> {
    let mut seen: std::collections::HashSet<String> =
        std::collections::HashSet::with_capacity(requests.len());
    let mut out = Vec::with_capacity(requests.len());
    for (index, request) in requests.into_iter().enumerate() {
        let id = request.id.to_ascii_lowercase();
        if id.is_empty() {
            return Err(GraphError::InvalidBatch {
                reason: format!("request {index} has an empty id"),
            });
        }
        if !seen.insert(id) {
            return Err(GraphError::InvalidBatch {
                reason: format!("the id '{}' is used more than once", request.id),
            });
        }
        let trimmed = request.path.trim_start_matches('/');
        let Some((version, relative)) = trimmed.split_once('/') else {
            return Err(GraphError::InvalidBatch {
                reason: format!("`{}` has no version segment", request.path),
            });
        };
        if version != "v1.0" && version != "beta" {
            return Err(GraphError::InvalidBatch {
                reason: format!("`{}` does not start with /v1.0/ or /beta/", request.path),
            });
        }
        out.push(Prepared {
            index,
            version: version.to_string(),
            relative: format!("/{relative}"),
            request,
        });
    }
    Ok(out)
}

/// What a `$batch` POST costs: Graph meters each request inside on its own, the
/// requests-per-second limit included, so twenty inner requests are twenty requests.
fn charge_of<'a>(requests: impl Iterator<Item = &'a BatchRequest>) -> Charge {
    requests.fold(Charge::default(), |c, r| {
        let (path, query) = r
            .path
            .split_once('?')
            .map_or((r.path.as_str(), None), |(a, b)| (a, Some(b)));
        c.plus(Charge::of(&r.method, path, query))
    })
}

fn inner_json(p: &Prepared) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), json!(p.request.id));
    o.insert(
        "method".into(),
        json!(p.request.method.to_ascii_uppercase()),
    );
    o.insert("url".into(), json!(p.relative));
    let mut headers = Map::new();
    for (k, v) in &p.request.headers {
        headers.insert(k.clone(), json!(v));
    }
    if let Some(body) = &p.request.body {
        if !p
            .request
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            headers.insert("Content-Type".into(), json!("application/json"));
        }
        o.insert("body".into(), body.clone());
    }
    if !headers.is_empty() {
        o.insert("headers".into(), Value::Object(headers));
    }
    Value::Object(o)
}

fn failed(p: &Prepared, status: u16, error: GraphError) -> BatchResponse {
    BatchResponse {
        id: p.request.id.clone(),
        status,
        headers: Vec::new(),
        body: None,
        error: Some(error),
    }
}

/// One inner answer as a [`BatchResponse`], its error interpreted as for a direct request.
fn read_answer(p: &Prepared, answer: &Value, attempts: u32) -> BatchResponse {
    let status = answer
        .get("status")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = answer
        .get("headers")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let body = answer.get("body").filter(|b| !b.is_null()).cloned();
    let mut response = BatchResponse {
        id: p.request.id.clone(),
        status,
        headers,
        body,
        error: None,
    };
    if (200..300).contains(&status) {
        return response;
    }
    let bytes = response
        .body
        .as_ref()
        .and_then(|b| serde_json::to_vec(b).ok())
        .unwrap_or_default();
    let (code, message, request_id) = error_body(&bytes);
    let retry_after = response
        .header("retry-after")
        .and_then(|v| parse_retry_after(v, SystemTime::now()));
    let mut request = p.request.context();
    request.request_id = request_id;
    let error = if status == 0 {
        GraphError::InvalidResponse {
            request,
            status,
            reason: "a batch answer without a status".to_string(),
        }
    } else {
        status_error(
            status,
            StatusDetail {
                request,
                code,
                message,
                retry_after,
                attempts,
            },
        )
    };
    response.error = Some(error);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_inner_request_is_charged_as_a_request() {
        let gets: Vec<BatchRequest> = (0..20)
            .map(|i| {
                BatchRequest::get(
                    i.to_string(),
                    format!("/beta/users/{i}/authentication/requirements"),
                )
            })
            .collect();
        let c = charge_of(gets.iter());
        assert_eq!((c.requests, c.units, c.writes), (20.0, 20.0, 0.0));
        let patch =
            BatchRequest::patch("p", "/beta/users/x/authentication/requirements", json!({}));
        let c = charge_of(std::iter::once(&patch));
        assert_eq!((c.requests, c.units, c.writes), (1.0, 1.0, 1.0));
    }

    #[test]
    fn ids_must_be_unique_and_paths_versioned() {
        let ok = prepare(vec![
            BatchRequest::get("a", "/v1.0/users/x?$select=id"),
            BatchRequest::get("b", "/beta/groups"),
        ])
        .unwrap();
        assert_eq!(ok[0].version, "v1.0");
        assert_eq!(ok[0].relative, "/users/x?$select=id");
        assert_eq!(ok[1].version, "beta");
        let dup = prepare(vec![
            BatchRequest::get("a", "/v1.0/users"),
            BatchRequest::get("A", "/v1.0/groups"),
        ]);
        assert!(matches!(dup, Err(GraphError::InvalidBatch { .. })));
        let unversioned = prepare(vec![BatchRequest::get("a", "/users")]);
        assert!(matches!(unversioned, Err(GraphError::InvalidBatch { .. })));
    }

    #[test]
    fn a_body_gets_its_content_type() {
        let p = prepare(vec![BatchRequest::patch(
            "1",
            "/v1.0/policies/x",
            json!({"a": 1}),
        )])
        .unwrap();
        let j = inner_json(&p[0]);
        assert_eq!(j["headers"]["Content-Type"], json!("application/json"));
        assert_eq!(j["url"], json!("/policies/x"));
        assert_eq!(j["method"], json!("PATCH"));
    }
}
