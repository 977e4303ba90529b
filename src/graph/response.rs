//! Reading what Graph answered: a 2xx body as JSON, an error body's code and message, and
//! the [`GraphError`] for an error status.

use std::time::Duration;

use serde_json::Value;

use super::{GraphError, Reply, RequestContext, required_permission};

/// Longest error message kept from a non-JSON error body.
const MAX_MESSAGE: usize = 300;

/// What an error status is interpreted with.
pub(super) struct StatusDetail {
    pub(super) request: Box<RequestContext>,
    pub(super) code: String,
    pub(super) message: String,
    pub(super) retry_after: Option<Duration>,
    pub(super) attempts: u32,
}

/// The error for a non-2xx status.
pub(super) fn status_error(status: u16, d: StatusDetail) -> GraphError {
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
pub(super) fn error_body(bytes: &[u8]) -> (String, String, Option<String>) {
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

pub(super) fn parse_json(reply: &Reply) -> Result<Value, GraphError> {
    if reply.body.is_empty() {
        return Err(invalid(reply, "the body is empty"));
    }
    serde_json::from_slice(&reply.body)
        .map_err(|e| invalid(reply, &format!("the body is not valid JSON: {e}")))
}

pub(super) fn invalid(reply: &Reply, reason: &str) -> GraphError {
    GraphError::InvalidResponse {
        request: Box::new(RequestContext {
            request_id: reply.request_id.clone(),
            ..reply.context.clone()
        }),
        status: reply.status,
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
