//! What can go wrong talking to Graph, and which exit code each failure maps to.

use std::fmt;
use std::time::Duration;

use crate::config::CredentialSource;

/// The request a [`GraphError`] is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    /// HTTP method (`GET`, `PATCH`).
    pub method: String,
    /// Path and query relative to the Graph base URL, version included
    /// (`/v1.0/users?$top=7`).
    pub path: String,
    /// Graph's `request-id` response header (or `innerError.request-id`), when a response
    /// arrived: what Microsoft support asks for.
    pub request_id: Option<String>,
}

impl fmt::Display for RequestContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)?;
        if let Some(id) = &self.request_id {
            write!(f, " (request-id {id})")?;
        }
        Ok(())
    }
}

/// Classes of [`GraphError`], for mapping to exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphErrorKind {
    /// Local setup: the secret or CA file could not be loaded; nothing was sent.
    Config,
    /// Authentication or permission: the token request failed, or Graph answered 401/403.
    Auth,
    /// Graph or the network failed, after retries where retrying is safe.
    Graph,
}

/// A failed Graph operation. No variant holds a token or a secret.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GraphError {
    /// The client secret could not be read (variable unset or empty, file missing or empty).
    #[error("cannot read the client secret from {from}: {reason}")]
    Secret {
        /// Where it was looked for.
        from: CredentialSource,
        /// Why it could not be used (never the value).
        reason: String,
    },
    /// The extra CA file could not be read or holds no PEM certificate.
    #[error("cannot use CA file {path}: {reason}")]
    CaFile {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        reason: String,
    },
    /// The HTTP client or the credential could not be built from the settings.
    #[error("cannot set up the Graph client: {reason}")]
    Setup {
        /// Why.
        reason: String,
    },
    /// The token request failed: Entra refused the credential (`AADSTS` code), or the token
    /// endpoint could not be reached.
    #[error(
        "authentication failed for application {client_id} in tenant {tenant_id}{}: {description}",
        code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default()
    )]
    Authentication {
        /// The tenant asked for.
        tenant_id: String,
        /// The application.
        client_id: String,
        /// HTTP status of the token endpoint's answer; `None` when none arrived (network,
        /// TLS).
        status: Option<u16>,
        /// The `AADSTS` code, e.g. `AADSTS7000215` (invalid client secret).
        code: Option<String>,
        /// Entra's description, or the transport failure.
        description: String,
    },
    /// 401: Graph refused the token.
    #[error("{request}: 401 unauthorized ({code}): {message}")]
    Unauthorized {
        /// The request.
        request: Box<RequestContext>,
        /// Graph's `error.code`.
        code: String,
        /// Graph's `error.message`.
        message: String,
    },
    /// 403: the application lacks a permission (or, for delegated use, a directory role).
    #[error(
        "{request}: 403 forbidden ({code}): {message}{}",
        permission.map(|p| format!("; the application needs the {p} application permission (admin consent)")).unwrap_or_default()
    )]
    Forbidden {
        /// The request.
        request: Box<RequestContext>,
        /// Graph's `error.code` (informational: it varies between services).
        code: String,
        /// Graph's `error.message`.
        message: String,
        /// The least-privileged permission for this operation, when the path is known
        /// (FACTS.md §1).
        permission: Option<&'static str>,
    },
    /// 404: no such resource.
    #[error("{request}: 404 not found ({code}): {message}")]
    NotFound {
        /// The request.
        request: Box<RequestContext>,
        /// Graph's `error.code`.
        code: String,
        /// Graph's `error.message`.
        message: String,
    },
    /// 400: Graph refused the request's content.
    #[error("{request}: 400 bad request ({code}): {message}")]
    BadRequest {
        /// The request.
        request: Box<RequestContext>,
        /// Graph's `error.code`.
        code: String,
        /// Graph's `error.message`.
        message: String,
    },
    /// Another 4xx (405, 409, 412, ...): not retried.
    #[error("{request}: {status} ({code}): {message}")]
    Rejected {
        /// The request.
        request: Box<RequestContext>,
        /// HTTP status.
        status: u16,
        /// Graph's `error.code`.
        code: String,
        /// Graph's `error.message`.
        message: String,
    },
    /// 429 after the retries allowed.
    #[error(
        "{request}: throttled (429) after {attempts} attempt(s){}",
        retry_after.map(|d| format!("; Graph asks to retry after {:.3} s", d.as_secs_f64())).unwrap_or_default()
    )]
    Throttled {
        /// The request.
        request: Box<RequestContext>,
        /// The last `Retry-After`.
        retry_after: Option<Duration>,
        /// Attempts made.
        attempts: u32,
    },
    /// A 5xx after the retries allowed (none for a write that may have been applied).
    #[error("{request}: server error {status} after {attempts} attempt(s) ({code}): {message}")]
    Server {
        /// The request.
        request: Box<RequestContext>,
        /// HTTP status.
        status: u16,
        /// Graph's `error.code`, if the body had one.
        code: String,
        /// Graph's `error.message`, if the body had one.
        message: String,
        /// Attempts made.
        attempts: u32,
    },
    /// No response: connection refused or dropped, TLS failure, timeout.
    #[error("{request}: network error after {attempts} attempt(s): {reason}")]
    Network {
        /// The request.
        request: Box<RequestContext>,
        /// The transport's explanation, with its causes.
        reason: String,
        /// Attempts made.
        attempts: u32,
    },
    /// The call's overall deadline ([`super::RetryPolicy::deadline`]) passed, or the next
    /// wait (pacing, `Retry-After`, backoff) would have ended after it.
    #[error(
        "{request}: gave up at the {:.1} s deadline after {attempts} attempt(s){}",
        deadline.as_secs_f64(),
        last.as_ref().map(|e| format!("; last: {e}")).unwrap_or_default()
    )]
    Deadline {
        /// The request.
        request: Box<RequestContext>,
        /// The deadline per call.
        deadline: Duration,
        /// Attempts made.
        attempts: u32,
        /// The last attempt's failure, if one was made.
        last: Option<Box<GraphError>>,
    },
    /// A `$batch` mfactl built cannot be sent (duplicate or empty ids, a path without a
    /// version); nothing was sent.
    #[error("invalid $batch request: {reason}")]
    InvalidBatch {
        /// What is wrong.
        reason: String,
    },
    /// A 2xx whose body is not the JSON expected. Never taken as "empty".
    #[error("{request}: invalid response (status {status}): {reason}")]
    InvalidResponse {
        /// The request.
        request: Box<RequestContext>,
        /// HTTP status (2xx).
        status: u16,
        /// What is wrong with the body.
        reason: String,
    },
}

impl GraphError {
    /// The error's class.
    pub fn kind(&self) -> GraphErrorKind {
        match self {
            GraphError::Secret { .. } | GraphError::CaFile { .. } | GraphError::Setup { .. } => {
                GraphErrorKind::Config
            }
            // No answer from the token endpoint is a network failure, not a refusal.
            GraphError::Authentication { status: None, .. } => GraphErrorKind::Graph,
            GraphError::Authentication { .. }
            | GraphError::Unauthorized { .. }
            | GraphError::Forbidden { .. } => GraphErrorKind::Auth,
            GraphError::NotFound { .. }
            | GraphError::BadRequest { .. }
            | GraphError::Rejected { .. }
            | GraphError::Throttled { .. }
            | GraphError::Server { .. }
            | GraphError::Network { .. }
            | GraphError::Deadline { .. }
            | GraphError::InvalidBatch { .. }
            | GraphError::InvalidResponse { .. } => GraphErrorKind::Graph,
        }
    }

    /// This error with `f` applied to every text in it that came from the service or the
    /// transport (codes, messages, reasons): to take out what must never be shown, such as a
    /// secret the service echoed back.
    pub fn map_text(mut self, f: &impl Fn(&str) -> String) -> GraphError {
        match &mut self {
            GraphError::Unauthorized { code, message, .. }
            | GraphError::Forbidden { code, message, .. }
            | GraphError::NotFound { code, message, .. }
            | GraphError::BadRequest { code, message, .. }
            | GraphError::Rejected { code, message, .. }
            | GraphError::Server { code, message, .. } => {
                *code = f(code);
                *message = f(message);
            }
            GraphError::Secret { reason, .. }
            | GraphError::CaFile { reason, .. }
            | GraphError::Setup { reason }
            | GraphError::Network { reason, .. }
            | GraphError::InvalidBatch { reason }
            | GraphError::InvalidResponse { reason, .. } => *reason = f(reason),
            GraphError::Authentication { description, .. } => *description = f(description),
            GraphError::Deadline { last, .. } => {
                *last = last.take().map(|e| Box::new(e.map_text(f)));
            }
            GraphError::Throttled { .. } => {}
        }
        self
    }

    /// The request this error is about, if one was made.
    pub fn request(&self) -> Option<&RequestContext> {
        match self {
            GraphError::Unauthorized { request, .. }
            | GraphError::Forbidden { request, .. }
            | GraphError::NotFound { request, .. }
            | GraphError::BadRequest { request, .. }
            | GraphError::Rejected { request, .. }
            | GraphError::Throttled { request, .. }
            | GraphError::Server { request, .. }
            | GraphError::Network { request, .. }
            | GraphError::Deadline { request, .. }
            | GraphError::InvalidResponse { request, .. } => Some(request),
            GraphError::InvalidBatch { .. }
            | GraphError::Secret { .. }
            | GraphError::CaFile { .. }
            | GraphError::Setup { .. }
            | GraphError::Authentication { .. } => None,
        }
    }
}

/// The least-privileged application permission for `method` on `path` (FACTS.md §1), for
/// the hint in [`GraphError::Forbidden`]. `path` may carry the version segment and a query.
pub fn required_permission(method: &str, path: &str) -> Option<&'static str> {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let lower = path.trim_matches('/').to_ascii_lowercase();
    let segs: Vec<&str> = lower.split('/').filter(|s| !s.is_empty()).collect();
    let segs = match segs.split_first() {
        Some((first, rest)) if *first == "v1.0" || *first == "beta" => rest,
        _ => segs.as_slice(),
    };
    let write = !method.eq_ignore_ascii_case("GET");
    match segs {
        ["policies", "authenticationmethodspolicy", ..] => Some(if write {
            "Policy.ReadWrite.AuthenticationMethod"
        } else {
            "Policy.Read.AuthenticationMethod (or Policy.Read.All)"
        }),
        ["policies", "identitysecuritydefaultsenforcementpolicy", ..] => Some(if write {
            "Policy.ReadWrite.SecurityDefaults (with Policy.Read.All)"
        } else {
            "Policy.Read.All"
        }),
        ["reports", "authenticationmethods", ..] => Some("AuditLog.Read.All"),
        ["groups", ..] => Some("GroupMember.Read.All (or Group.Read.All)"),
        ["users", _, "authentication", "signinpreferences", ..] => Some(if write {
            "UserAuthenticationMethod.ReadWrite.All"
        } else {
            "UserAuthenticationMethod.Read.All"
        }),
        ["users", _, "authentication", "methods", ..] if !write => {
            Some("UserAuthenticationMethod.Read.All")
        }
        ["subscribedskus", ..] if !write => {
            Some("LicenseAssignment.Read.All (or Organization.Read.All)")
        }
        ["users", _, "authentication", "requirements", ..] => Some(if write {
            "Policy.ReadWrite.AuthenticationMethod"
        } else {
            "Policy.Read.All"
        }),
        ["users", ..] if !write => Some("User.Read.All"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_follow_the_least_privilege_table() {
        let p = "/beta/policies/authenticationMethodsPolicy";
        assert_eq!(
            required_permission("PATCH", p),
            Some("Policy.ReadWrite.AuthenticationMethod")
        );
        assert_eq!(
            required_permission("GET", p),
            Some("Policy.Read.AuthenticationMethod (or Policy.Read.All)")
        );
        assert_eq!(
            required_permission(
                "PATCH",
                "/v1.0/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/sms"
            ),
            Some("Policy.ReadWrite.AuthenticationMethod")
        );
        assert_eq!(
            required_permission(
                "GET",
                "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy"
            ),
            Some("Policy.Read.All")
        );
        assert_eq!(
            required_permission(
                "GET",
                "/v1.0/reports/authenticationMethods/userRegistrationDetails?$top=5"
            ),
            Some("AuditLog.Read.All")
        );
        assert_eq!(
            required_permission("GET", "/v1.0/users?$top=7"),
            Some("User.Read.All")
        );
        assert_eq!(
            required_permission("GET", "/beta/users/u/authentication/methods"),
            Some("UserAuthenticationMethod.Read.All")
        );
        assert_eq!(
            required_permission("GET", "/v1.0/subscribedSkus"),
            Some("LicenseAssignment.Read.All (or Organization.Read.All)")
        );
        assert_eq!(required_permission("GET", "/v1.0/$batch"), None);
    }

    #[test]
    fn kinds_map_to_exit_codes() {
        let request = Box::new(RequestContext {
            method: "GET".into(),
            path: "/v1.0/users".into(),
            request_id: None,
        });
        let forbidden = GraphError::Forbidden {
            request: request.clone(),
            code: "Authorization_RequestDenied".into(),
            message: "Insufficient privileges".into(),
            permission: Some("User.Read.All"),
        };
        assert_eq!(forbidden.kind(), GraphErrorKind::Auth);
        let net = GraphError::Network {
            request,
            reason: "refused".into(),
            attempts: 3,
        };
        assert_eq!(net.kind(), GraphErrorKind::Graph);
        let unreachable = GraphError::Authentication {
            tenant_id: "t".into(),
            client_id: "c".into(),
            status: None,
            code: None,
            description: "connection refused".into(),
        };
        assert_eq!(unreachable.kind(), GraphErrorKind::Graph);
    }
}
