//! The `/_emulator` test-control API: request log, fault injection, state.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use ring::rand::SecureRandom;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{ApiResponse, Body, Emulator, GraphError, State};
use crate::support::rng::SplitMix64;

/// One request as the emulator saw it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    /// Position in the log, from 1.
    pub seq: u64,
    /// When it arrived (RFC 3339, UTC).
    pub time: String,
    /// HTTP method.
    pub method: String,
    /// Path, including the version segment (`/v1.0/policies/...`).
    pub path: String,
    /// Raw query string, without `?`.
    pub query: String,
    /// JSON body, if any (a form body is logged with secrets and assertions redacted).
    pub body: Option<Value>,
    /// Status sent.
    pub status: u16,
    /// Tenant id from the token (or the token request's path).
    pub tenant: Option<String>,
    /// Client app id from the token or the token request.
    pub app: Option<String>,
    /// For a request inside `$batch`: its `id` there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_id: Option<String>,
}

/// The in-order request log, bounded.
pub struct RequestLog {
    entries: Mutex<VecDeque<LogEntry>>,
    limit: usize,
    seq: AtomicU64,
}

impl RequestLog {
    /// A log that keeps at most `limit` entries.
    pub fn new(limit: usize) -> Self {
        Self {
            entries: Mutex::new(VecDeque::new()),
            limit,
            seq: AtomicU64::new(0),
        }
    }

    /// Appends an entry, numbering it.
    pub fn push(&self, mut entry: LogEntry) {
        if self.limit == 0 {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entry.seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        if entries.len() == self.limit {
            entries.pop_front();
        }
        entries.push_back(entry);
    }

    /// A copy of every entry, oldest first.
    pub fn entries(&self) -> Vec<LogEntry> {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    /// Empties the log.
    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

/// What an injected fault does.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum FaultAction {
    /// Delay the response by `ms` milliseconds, then serve it normally.
    Latency {
        /// Milliseconds.
        ms: u64,
    },
    /// Answer with this status and a Graph error body instead of serving the request.
    #[serde(rename_all = "camelCase")]
    Status {
        /// 4xx or 5xx, typically 429, 500, 503 or 504.
        status: u16,
        /// `Retry-After` seconds, fractional allowed.
        #[serde(skip_serializing_if = "Option::is_none")]
        retry_after: Option<f64>,
    },
    /// Close the connection without any response.
    Drop,
    /// Serve the request, then send a truncated, unparsable JSON body.
    Malformed,
    /// Answer a PATCH with 204 at once, but apply it only just before the `after_reads`-th GET
    /// (to any path) after it: the GETs before that one do not see the write, as Graph's reads
    /// can lag its writes (conditional-access FACTS item 55).
    #[serde(rename_all = "camelCase")]
    Deferred {
        /// GET requests (to any path) that still see the tenant without the write.
        after_reads: u64,
    },
}

/// A fault rule: which requests it hits and how often. In JSON the action's fields sit
/// beside the matching fields: `{"pathPrefix": "/v1.0/policies", "count": 2, "kind":
/// "status", "status": 503, "retryAfter": 1.5}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "FaultSpec")]
pub struct FaultRule {
    /// Assigned by the emulator.
    pub id: u64,
    /// HTTP method to match; any when absent.
    pub method: Option<String>,
    /// Path prefix to match, case-insensitively (e.g. `/v1.0/policies`); any when absent.
    pub path_prefix: Option<String>,
    /// Hit this many matching requests, then retire.
    pub count: Option<u64>,
    /// Hit each matching request with this probability (0 to 1).
    pub probability: Option<f64>,
    /// What to do.
    #[serde(flatten)]
    pub action: FaultAction,
}

/// The wire form of a [`FaultRule`], checked field by field (serde cannot refuse unknown
/// fields next to a flattened enum).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FaultSpec {
    #[serde(default)]
    id: u64,
    method: Option<String>,
    path_prefix: Option<String>,
    count: Option<u64>,
    probability: Option<f64>,
    kind: String,
    ms: Option<u64>,
    status: Option<u16>,
    retry_after: Option<f64>,
    after_reads: Option<u64>,
}

impl TryFrom<FaultSpec> for FaultRule {
    type Error = String;

    fn try_from(s: FaultSpec) -> Result<Self, String> {
        let action = match s.kind.as_str() {
            "latency" => FaultAction::Latency {
                ms: s.ms.ok_or("a latency fault needs ms")?,
            },
            "status" => FaultAction::Status {
                status: s.status.ok_or("a status fault needs status")?,
                retry_after: s.retry_after,
            },
            "drop" => FaultAction::Drop,
            "malformed" => FaultAction::Malformed,
            "deferred" => {
                if !s
                    .method
                    .as_deref()
                    .is_some_and(|m| m.eq_ignore_ascii_case("PATCH"))
                {
                    return Err(
                        "a deferred fault holds back PATCHes: give \"method\": \"PATCH\"".into(),
                    );
                }
                FaultAction::Deferred {
                    after_reads: s.after_reads.ok_or("a deferred fault needs afterReads")?,
                }
            }
            other => {
                return Err(format!(
                    "unknown fault kind '{other}' (latency, status, drop, malformed, deferred)"
                ));
            }
        };
        Ok(FaultRule {
            id: s.id,
            method: s.method,
            path_prefix: s.path_prefix,
            count: s.count,
            probability: s.probability,
            action,
        })
    }
}

/// Active fault rules.
pub struct Faults {
    rules: Mutex<Vec<FaultRule>>,
    next_id: AtomicU64,
    rng: Mutex<SplitMix64>,
}

impl Faults {
    /// No rules; probabilities drawn from `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            rules: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
            rng: Mutex::new(SplitMix64::new(seed ^ 0xFA17)),
        }
    }

    /// Adds rules after checking them; returns them with their ids.
    pub fn add(&self, mut rules: Vec<FaultRule>) -> Result<Vec<FaultRule>, String> {
        for r in &mut rules {
            if let Some(p) = r.probability
                && !(0.0..=1.0).contains(&p)
            {
                return Err(format!("probability {p} is not between 0 and 1"));
            }
            if r.count.is_none() && r.probability.is_none() {
                return Err("a fault needs a count or a probability".to_string());
            }
            if let FaultAction::Status { status, .. } = r.action
                && !(400..=599).contains(&status)
            {
                return Err(format!("status {status} is not an error status (400-599)"));
            }
            r.id = self.next_id.fetch_add(1, Ordering::Relaxed);
        }
        self.rules
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(rules.iter().cloned());
        Ok(rules)
    }

    /// The active rules.
    pub fn list(&self) -> Vec<FaultRule> {
        self.rules.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.rules.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// The first rule that fires for this request, consuming one of its `count`.
    pub fn fire(&self, method: &str, path: &str) -> Option<FaultAction> {
        let mut rules = self.rules.lock().unwrap_or_else(|e| e.into_inner());
        let path = path.to_ascii_lowercase();
        let mut fired = None;
        for (i, r) in rules.iter_mut().enumerate() {
            let method_ok = r
                .method
                .as_deref()
                .is_none_or(|m| m == "*" || m.eq_ignore_ascii_case(method));
            let path_ok = r
                .path_prefix
                .as_deref()
                .is_none_or(|p| path.starts_with(&p.to_ascii_lowercase()));
            if !(method_ok && path_ok) {
                continue;
            }
            if let Some(p) = r.probability {
                let roll = self
                    .rng
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .next_f64();
                if roll >= p {
                    continue;
                }
            }
            if let Some(c) = r.count.as_mut() {
                *c -= 1;
            }
            fired = Some((i, r.action.clone()));
            break;
        }
        let (i, action) = fired?;
        if rules[i].count == Some(0) {
            rules.remove(i);
        }
        Some(action)
    }
}

/// Serves `/_emulator/...`.
pub fn handle(core: &Emulator, method: &str, path: &str, body: &[u8]) -> ApiResponse {
    let rest = path.trim_start_matches("/_emulator").trim_matches('/');
    let result = match (method, rest) {
        ("GET", "requests") => Ok(ApiResponse::ok(json!({ "value": core.log().entries() }))),
        ("DELETE", "requests") => {
            core.log().clear();
            Ok(ApiResponse::no_content())
        }
        ("GET", "faults") => Ok(ApiResponse::ok(json!({ "value": core.faults().list() }))),
        ("DELETE", "faults") => {
            core.faults().clear();
            Ok(ApiResponse::no_content())
        }
        ("POST", "faults") => add_faults(core, body),
        ("POST", "clock") => advance_clock(core, body),
        ("GET", "state") => serde_json::to_value(core.world().to_state())
            .map(ApiResponse::ok)
            .map_err(|e| GraphError::new(500, "InternalServerError", e.to_string())),
        ("PUT", "state") => serde_json::from_slice::<State>(body)
            .map_err(|e| GraphError::bad_request(format!("invalid state: {e}")))
            .and_then(|s| {
                core.replace_state(s)
                    .map_err(|e| GraphError::bad_request(e.to_string()))
            })
            .map(|()| ApiResponse::no_content()),
        (_, "requests" | "faults" | "state" | "clock") => Err(GraphError::method_not_allowed()),
        _ => Err(GraphError::new(
            404,
            "ResourceNotFound",
            format!("No control route '{rest}'."),
        )),
    };
    result.unwrap_or_else(|e| e.into_response(&new_request_id(), ""))
}

fn add_faults(core: &Emulator, body: &[u8]) -> Result<ApiResponse, GraphError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| GraphError::bad_request(format!("fault body is not JSON: {e}")))?;
    let rules: Vec<FaultRule> = if value.is_array() {
        serde_json::from_value(value)
    } else {
        serde_json::from_value(value).map(|r| vec![r])
    }
    .map_err(|e| GraphError::bad_request(format!("invalid fault: {e}")))?;
    let added = core.faults().add(rules).map_err(GraphError::bad_request)?;
    Ok(ApiResponse {
        status: 201,
        headers: Vec::new(),
        body: Some(Body::Json(json!({ "value": added }))),
    })
}

/// `POST /_emulator/clock` `{"advanceSeconds": 1.5}`: the throttling clock moves ahead, so
/// buckets refill as if that time had passed; 204.
fn advance_clock(core: &Emulator, body: &[u8]) -> Result<ApiResponse, GraphError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| GraphError::bad_request(format!("clock body is not JSON: {e}")))?;
    let secs = value["advanceSeconds"]
        .as_f64()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .ok_or_else(|| {
            GraphError::bad_request("advanceSeconds must be a non-negative number of seconds")
        })?;
    core.throttle
        .advance(std::time::Duration::from_secs_f64(secs));
    Ok(ApiResponse::no_content())
}

/// A random GUID for `request-id` and friends.
pub fn new_request_id() -> String {
    let mut b = [0u8; 16];
    if ring::rand::SystemRandom::new().fill(&mut b).is_err() {
        static FALLBACK: AtomicU64 = AtomicU64::new(1);
        b[..8].copy_from_slice(&FALLBACK.fetch_add(1, Ordering::Relaxed).to_be_bytes());
    }
    crate::support::rng::guid_from_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(count: Option<u64>, probability: Option<f64>) -> FaultRule {
        FaultRule {
            id: 0,
            method: Some("PATCH".into()),
            path_prefix: Some("/v1.0/policies".into()),
            count,
            probability,
            action: FaultAction::Drop,
        }
    }

    #[test]
    fn counted_fault_fires_exactly_count_times_on_matching_requests() {
        let f = Faults::new(1);
        f.add(vec![rule(Some(2), None)]).unwrap();
        assert_eq!(f.fire("GET", "/v1.0/policies/x"), None);
        assert_eq!(f.fire("PATCH", "/v1.0/users"), None);
        assert_eq!(f.fire("patch", "/V1.0/Policies/x"), Some(FaultAction::Drop));
        assert_eq!(f.fire("PATCH", "/v1.0/policies/x"), Some(FaultAction::Drop));
        assert_eq!(f.fire("PATCH", "/v1.0/policies/x"), None);
        assert!(f.list().is_empty());
    }

    #[test]
    fn probability_fault_fires_about_that_often() {
        let f = Faults::new(7);
        f.add(vec![rule(None, Some(0.3))]).unwrap();
        let hits = (0..10_000)
            .filter(|_| f.fire("PATCH", "/v1.0/policies").is_some())
            .count();
        assert!((2_700..3_300).contains(&hits), "{hits}");
    }

    #[test]
    fn invalid_rules_are_refused() {
        let f = Faults::new(1);
        assert!(f.add(vec![rule(None, None)]).is_err());
        assert!(f.add(vec![rule(None, Some(1.5))]).is_err());
    }
}
