//! `POST /$batch` (FACTS.md §11): at most 20 requests with unique ids, `dependsOn` ordering
//! with 424 for failed dependencies, each inner request authorised, throttled and logged on
//! its own, and responses deliberately not in request order.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::api::{self, GraphRequest};
use super::control::{FaultAction, LogEntry};
use super::identity::Claims;
use super::{ApiResponse, ApiVersion, Emulator, GraphError, throttle};
use crate::msgraph::conditional_access;

/// The most requests one batch may hold.
pub const MAX_REQUESTS: usize = 20;

struct Step {
    id: String,
    method: String,
    url: String,
    depends_on: Vec<String>,
    headers: Vec<(String, String)>,
    body: Option<Value>,
}

fn parse_steps(body: &[u8]) -> Result<Vec<Step>, GraphError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| GraphError::bad_request(format!("Invalid batch payload: {e}")))?;
    let Some(requests) = v.get("requests").and_then(Value::as_array) else {
        return Err(GraphError::bad_request(
            "Invalid batch payload: 'requests' is missing.",
        ));
    };
    if requests.len() > MAX_REQUESTS {
        return Err(GraphError::bad_request(format!(
            "Invalid batch payload format: the number of requests ({}) exceeds the limit of {MAX_REQUESTS}.",
            requests.len()
        )));
    }
    let mut steps = Vec::with_capacity(requests.len());
    for r in requests {
        let text = |k: &str| match &r[k] {
            Value::String(s) if !s.is_empty() => Ok(s.clone()),
            _ => Err(GraphError::bad_request(format!(
                "Invalid batch payload: every request needs '{k}'."
            ))),
        };
        let id = text("id")?;
        if steps.iter().any(|s: &Step| s.id.eq_ignore_ascii_case(&id)) {
            return Err(GraphError::bad_request(format!(
                "Invalid batch payload: the request id '{id}' is used more than once."
            )));
        }
        let headers: Vec<(String, String)> = r["headers"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| {
                        v.as_str().map(|v| (k.to_ascii_lowercase(), v.to_string()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let body = r.get("body").filter(|b| !b.is_null()).cloned();
        if body.is_some() && !headers.iter().any(|(k, _)| k == "content-type") {
            return Err(GraphError::bad_request(format!(
                "Write request id : {id} does not contain Content-Type header or body."
            )));
        }
        let depends_on = match &r["dependsOn"] {
            Value::Null => Vec::new(),
            Value::Array(a) => a
                .iter()
                .map(|d| {
                    d.as_str().map(String::from).ok_or_else(|| {
                        GraphError::bad_request("Invalid batch payload: dependsOn must list ids.")
                    })
                })
                .collect::<Result<_, _>>()?,
            _ => {
                return Err(GraphError::bad_request(
                    "Invalid batch payload: dependsOn must be an array.",
                ));
            }
        };
        steps.push(Step {
            id,
            method: text("method")?.to_ascii_uppercase(),
            url: text("url")?,
            depends_on,
            headers,
            body,
        });
    }
    for s in &steps {
        for d in &s.depends_on {
            if !steps.iter().any(|o| o.id.eq_ignore_ascii_case(d)) {
                return Err(GraphError::bad_request(format!(
                    "Invalid batch payload: request '{}' depends on unknown request '{d}'.",
                    s.id
                )));
            }
        }
    }
    Ok(steps)
}

/// Orders steps so that every dependency runs first; a cycle is a 400.
fn execution_order(steps: &[Step]) -> Result<Vec<usize>, GraphError> {
    let mut order = Vec::with_capacity(steps.len());
    let mut state = vec![0u8; steps.len()];
    fn visit(
        i: usize,
        steps: &[Step],
        state: &mut [u8],
        order: &mut Vec<usize>,
    ) -> Result<(), GraphError> {
        match state[i] {
            2 => return Ok(()),
            1 => {
                return Err(GraphError::bad_request(
                    "Invalid batch payload: dependsOn forms a cycle.",
                ));
            }
            _ => {}
        }
        state[i] = 1;
        for d in &steps[i].depends_on {
            if let Some(j) = steps.iter().position(|s| s.id.eq_ignore_ascii_case(d)) {
                visit(j, steps, state, order)?;
            }
        }
        state[i] = 2;
        order.push(i);
        Ok(())
    }
    for i in 0..steps.len() {
        visit(i, steps, &mut state, &mut order)?;
    }
    Ok(order)
}

/// Serves `POST /{version}/$batch`.
pub async fn handle(
    core: &Emulator,
    outer: &GraphRequest,
    claims: &Claims,
    version: ApiVersion,
) -> Result<ApiResponse, GraphError> {
    let steps = parse_steps(&outer.body)?;
    let order = execution_order(&steps)?;
    let mut statuses: HashMap<String, u16> = HashMap::new();
    let mut responses = Vec::with_capacity(steps.len());
    for i in order {
        let step = &steps[i];
        let failed_dependency = step.depends_on.iter().find(|d| {
            statuses
                .get(&d.to_ascii_lowercase())
                .is_none_or(|s| !(200..300).contains(s))
        });
        let inner = inner_request(outer, step, version);
        // Conditional Access resources answer 429 without Retry-After (FACTS-CA item 53).
        let retry_after_on_429 = !inner.as_ref().is_ok_and(|r| {
            let segments: Vec<&str> = r.path.trim_matches('/').split('/').skip(1).collect();
            conditional_access::is_rate_limited_path(&segments)
        });
        let response = match (failed_dependency, &inner) {
            (Some(d), _) => GraphError::new(
                424,
                "FailedDependency",
                format!("The request depends on request '{d}', which failed."),
            )
            .into_response(&super::control::new_request_id(), ""),
            (None, Err(e)) => e
                .clone()
                .into_response(&super::control::new_request_id(), ""),
            (None, Ok(req)) => run_inner(core, req, claims, &step.id).await,
        };
        statuses.insert(step.id.to_ascii_lowercase(), response.status);
        responses.push(inner_json(&step.id, response, retry_after_on_429));
    }
    // Graph returns batch responses in any order; never in request order here, so that a
    // client that assumes otherwise fails its tests.
    responses.reverse();
    Ok(ApiResponse::ok(json!({ "responses": responses })))
}

fn inner_request(
    outer: &GraphRequest,
    step: &Step,
    version: ApiVersion,
) -> Result<GraphRequest, GraphError> {
    let url = step.url.trim();
    if url.starts_with("http://") || url.starts_with("https://") {
        return Err(GraphError::bad_request(
            "Batch request URLs must be relative to the version root.",
        ));
    }
    let (path, raw_query) = url
        .trim_start_matches('/')
        .split_once('?')
        .unwrap_or((url.trim_start_matches('/'), ""));
    let path = percent_decode(path);
    let query: Vec<(String, String)> = url::form_urlencoded::parse(raw_query.as_bytes())
        .into_owned()
        .collect();
    let body = match &step.body {
        Some(v) => serde_json::to_vec(v).unwrap_or_default(),
        None => Vec::new(),
    };
    let mut headers = step.headers.clone();
    headers.extend(
        outer
            .headers
            .iter()
            .filter(|(k, _)| k == "authorization")
            .cloned(),
    );
    Ok(GraphRequest {
        method: step.method.clone(),
        path: format!("/{}/{path}", version.segment()),
        query,
        raw_query: raw_query.to_string(),
        headers,
        body,
        base_url: outer.base_url.clone(),
    })
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

async fn run_inner(
    core: &Emulator,
    req: &GraphRequest,
    claims: &Claims,
    batch_id: &str,
) -> ApiResponse {
    let fault = core.faults.fire(&req.method, &req.path);
    let (response, tenant, app) = match fault {
        Some(FaultAction::Status {
            status,
            retry_after,
        }) => {
            let client_request_id = req.header("client-request-id").unwrap_or_default();
            (
                fault_error(status, retry_after)
                    .into_response(&super::control::new_request_id(), client_request_id),
                Some(claims.tid.clone()),
                Some(claims.appid.clone()),
            )
        }
        other => {
            if let Some(FaultAction::Latency { ms }) = other {
                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            }
            let o = api::handle(core, req, Some(claims)).await;
            (o.response, o.tenant, o.app)
        }
    };
    core.log.push(LogEntry {
        seq: 0,
        time: crate::support::time::now_rfc3339(),
        method: req.method.clone(),
        path: req.path.clone(),
        query: req.raw_query.clone(),
        body: serde_json::from_slice(&req.body).ok(),
        status: response.status,
        tenant,
        app,
        batch_id: Some(batch_id.to_string()),
    });
    response
}

/// The Graph error an injected status fault answers with.
pub fn fault_error(status: u16, retry_after: Option<f64>) -> GraphError {
    let (code, message) = match status {
        429 => ("TooManyRequests", "Please retry again later."),
        500 => ("InternalServerError", "An internal server error occurred."),
        502 => (
            "BadGateway",
            "The upstream service returned an invalid response.",
        ),
        503 => (
            "ServiceUnavailable",
            "The service is temporarily unavailable. Please retry later.",
        ),
        504 => ("GatewayTimeout", "The request timed out."),
        _ => ("UnknownError", "An injected fault."),
    };
    let mut e = GraphError::new(status, code, message);
    e.retry_after = retry_after;
    e
}

/// One response of the batch; a 429 without `Retry-After` gets the default one unless
/// `retry_after_on_429` is false.
fn inner_json(id: &str, response: ApiResponse, retry_after_on_429: bool) -> Value {
    let mut headers = Map::new();
    if response.body.is_some() {
        headers.insert("Content-Type".into(), json!("application/json"));
    }
    for (k, v) in &response.headers {
        let name = match k.as_str() {
            "retry-after" => "Retry-After".to_string(),
            other => other.to_string(),
        };
        if name == "request-id" || name == "client-request-id" {
            continue;
        }
        headers.insert(name, json!(v));
    }
    if retry_after_on_429 && response.status == 429 && !headers.contains_key("Retry-After") {
        headers.insert(
            "Retry-After".into(),
            json!(throttle::format_retry_after(1.0)),
        );
    }
    let mut out = Map::new();
    out.insert("id".into(), json!(id));
    out.insert("status".into(), json!(response.status));
    out.insert("headers".into(), Value::Object(headers));
    if let Some(body) = response.body {
        out.insert("body".into(), body.into_value());
    }
    Value::Object(out)
}
