//! Routes one Graph request — from the socket or from inside `$batch` — through the same
//! checks the service makes, in its order: version, token, throttling, route and method,
//! permission, then the resource itself.

use serde_json::Value;

use super::conditional_access::{self as ca, CaRoute};
use super::directory::{self, CollectionRequest};
use super::hardware::{self, CredentialRoute};
use super::identity::{self, Claims};
use super::{ApiResponse, ApiVersion, Emulator, GraphError, batch, policy, reports, user_methods};
use crate::msgraph::conditional_access;
use crate::msgraph::throttle::{Cost, LimitClass};

/// A Graph request, independent of the transport.
#[derive(Debug, Clone)]
pub struct GraphRequest {
    /// Upper-case HTTP method.
    pub method: String,
    /// Percent-decoded path starting with the version (`/v1.0/...`).
    pub path: String,
    /// Decoded query pairs.
    pub query: Vec<(String, String)>,
    /// Raw query string, for the log.
    pub raw_query: String,
    /// Headers with lower-case names.
    pub headers: Vec<(String, String)>,
    /// Raw body.
    pub body: Vec<u8>,
    /// `scheme://authority` the client used, for `@odata.nextLink`.
    pub base_url: String,
}

impl GraphRequest {
    /// A header's value by (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A response plus who sent the request, for the log.
pub struct Outcome {
    /// The response.
    pub response: ApiResponse,
    /// Tenant id from the token.
    pub tenant: Option<String>,
    /// App id from the token.
    pub app: Option<String>,
}

const READ_POLICY: &[&str] = &[
    "Policy.Read.AuthenticationMethod",
    "Policy.ReadWrite.AuthenticationMethod",
    "Policy.Read.All",
];
const WRITE_POLICY: &[&str] = &["Policy.ReadWrite.AuthenticationMethod"];
const READ_SECURITY_DEFAULTS: &[&str] = &[
    "Policy.Read.All",
    "Policy.ReadWrite.SecurityDefaults",
    "Policy.ReadWrite.ConditionalAccess",
];
const WRITE_SECURITY_DEFAULTS: &[&str] = &[
    "Policy.ReadWrite.SecurityDefaults",
    "Policy.ReadWrite.ConditionalAccess",
];
const READ_USERS: &[&str] = &[
    "User.Read.All",
    "User.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const READ_GROUPS: &[&str] = &[
    "Group.Read.All",
    "GroupMember.Read.All",
    "Group.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const READ_USER_AUTHENTICATION: &[&str] = &[
    "UserAuthenticationMethod.Read.All",
    "UserAuthenticationMethod.ReadWrite.All",
];
const WRITE_SIGN_IN_PREFERENCES: &[&str] = &["UserAuthenticationMethod.ReadWrite.All"];
const READ_REQUIREMENTS: &[&str] = &["Policy.Read.All", "Policy.ReadWrite.AuthenticationMethod"];
const READ_REPORTS: &[&str] = &["AuditLog.Read.All"];

/// The resources the emulator serves.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Policy,
    Configurations,
    Configuration(String),
    SecurityDefaults,
    Users,
    User(String),
    Groups,
    Group(String),
    Members(String, bool),
    SignInPreferences(String),
    Requirements(String),
    UserMethods(String),
    Registrations,
    Registration(String),
    ConditionalAccess(CaRoute),
    Credentials(CredentialRoute),
}

fn route(version: ApiVersion, segments: &[&str]) -> Result<Route, GraphError> {
    let lower: Vec<String> = segments.iter().map(|s| s.to_ascii_lowercase()).collect();
    let l: Vec<&str> = lower.iter().map(String::as_str).collect();
    let beta_only = |segment: &str| {
        if version == ApiVersion::V1 {
            Err(GraphError::no_segment(segment))
        } else {
            Ok(())
        }
    };
    if let Some(r) = ca::route(version, segments) {
        return r.map(Route::ConditionalAccess);
    }
    if let Some(r) = hardware::route(version, segments) {
        return r.map(Route::Credentials);
    }
    Ok(match l.as_slice() {
        ["policies", "authenticationmethodspolicy"] => Route::Policy,
        [
            "policies",
            "authenticationmethodspolicy",
            "authenticationmethodconfigurations",
        ] => Route::Configurations,
        [
            "policies",
            "authenticationmethodspolicy",
            "authenticationmethodconfigurations",
            _,
        ] => Route::Configuration(segments[3].to_string()),
        ["policies", "identitysecuritydefaultsenforcementpolicy"] => Route::SecurityDefaults,
        ["users"] => Route::Users,
        ["users", _] => Route::User(segments[1].to_string()),
        ["users", _, "authentication", "signinpreferences"] => {
            beta_only(segments[3])?;
            Route::SignInPreferences(segments[1].to_string())
        }
        ["users", _, "authentication", "requirements"] => {
            beta_only(segments[3])?;
            Route::Requirements(segments[1].to_string())
        }
        ["users", _, "authentication", "methods"] => Route::UserMethods(segments[1].to_string()),
        ["me", "authentication", "requirements"] if version == ApiVersion::V1 => {
            return Err(GraphError::no_segment(segments[2]));
        }
        ["me", ..] => return Err(me_with_app_token()),
        ["groups"] => Route::Groups,
        ["groups", _] => Route::Group(segments[1].to_string()),
        ["groups", _, "members"] => Route::Members(segments[1].to_string(), false),
        ["groups", _, "transitivemembers"] => Route::Members(segments[1].to_string(), true),
        [
            "reports",
            "authenticationmethods",
            "userregistrationdetails",
        ] => Route::Registrations,
        [
            "reports",
            "authenticationmethods",
            "userregistrationdetails",
            _,
        ] => Route::Registration(segments[3].to_string()),
        _ => {
            let last = segments.last().copied().unwrap_or_default();
            return Err(GraphError::new(
                400,
                "BadRequest",
                format!("Resource not found for the segment '{last}'."),
            ));
        }
    })
}

/// The permissions that allow `method` on `route`; 405 when the method is not served.
fn permissions(route: &Route, method: &str) -> Result<&'static [&'static str], GraphError> {
    if let Route::ConditionalAccess(r) = route {
        return ca::permissions(r, method);
    }
    if let Route::Credentials(r) = route {
        return hardware::permissions(r, method);
    }
    let allowed: Option<&'static [&'static str]> = match (route, method) {
        (Route::Policy | Route::Configurations | Route::Configuration(_), "GET") => {
            Some(READ_POLICY)
        }
        (Route::Policy | Route::Configuration(_), "PATCH")
        | (Route::Configuration(_), "DELETE") => Some(WRITE_POLICY),
        (Route::SecurityDefaults, "GET") => Some(READ_SECURITY_DEFAULTS),
        (Route::SecurityDefaults, "PATCH") => Some(WRITE_SECURITY_DEFAULTS),
        (Route::Users | Route::User(_), "GET") => Some(READ_USERS),
        (Route::Groups | Route::Group(_) | Route::Members(..), "GET") => Some(READ_GROUPS),
        (Route::SignInPreferences(_) | Route::UserMethods(_), "GET") => {
            Some(READ_USER_AUTHENTICATION)
        }
        (Route::SignInPreferences(_), "PATCH") => Some(WRITE_SIGN_IN_PREFERENCES),
        (Route::Requirements(_), "GET") => Some(READ_REQUIREMENTS),
        (Route::Requirements(_), "PATCH") => Some(WRITE_POLICY),
        (Route::Registrations | Route::Registration(_), "GET") => Some(READ_REPORTS),
        _ => None,
    };
    allowed.ok_or_else(GraphError::method_not_allowed)
}

/// Serves one Graph request. `batch_claims` is set for the requests inside `$batch`, which
/// run with the outer request's token.
pub async fn handle(core: &Emulator, req: &GraphRequest, batch_claims: Option<&Claims>) -> Outcome {
    let mut tenant = None;
    let mut app = None;
    let result = serve(core, req, batch_claims, &mut tenant, &mut app).await;
    let request_id = super::control::new_request_id();
    let client_request_id = req
        .header("client-request-id")
        .unwrap_or(&request_id)
        .to_string();
    let response = match result {
        Ok(r) => r
            .with_header("request-id", request_id)
            .with_header("client-request-id", client_request_id),
        Err(e) => {
            let status = e.status;
            let mut resp = e.into_response(&request_id, &client_request_id);
            if status == 401 {
                resp = resp.with_header(
                    "www-authenticate",
                    "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"",
                );
            }
            resp
        }
    };
    Outcome {
        response,
        tenant,
        app,
    }
}

async fn serve(
    core: &Emulator,
    req: &GraphRequest,
    batch_claims: Option<&Claims>,
    tenant_out: &mut Option<String>,
    app_out: &mut Option<String>,
) -> Result<ApiResponse, GraphError> {
    let trimmed = req.path.trim_matches('/');
    let mut segments: Vec<&str> = trimmed.split('/').collect();
    let version_segment = segments.remove(0);
    let version = ApiVersion::parse(version_segment)
        .ok_or_else(|| GraphError::bad_request(format!("Invalid version: {version_segment}")))?;
    let verified;
    let claims = match batch_claims {
        Some(c) => c,
        None => {
            verified = core.identity.verify(req.header("authorization"))?;
            &verified
        }
    };
    *tenant_out = Some(claims.tid.clone());
    *app_out = Some(claims.appid.clone());
    if segments.len() == 1 && segments[0] == "$batch" {
        if batch_claims.is_some() {
            return Err(GraphError::bad_request(
                "A $batch request cannot contain another $batch request.",
            ));
        }
        if req.method != "POST" {
            return Err(GraphError::method_not_allowed());
        }
        return Box::pin(batch::handle(core, req, claims, version)).await;
    }
    let user_count = {
        let world = core.world();
        let i = world.find(&claims.tid).ok_or_else(|| {
            GraphError::new(
                401,
                "InvalidAuthenticationToken",
                "The tenant of the token does not exist.",
            )
        })?;
        world.tenants[i].tenant.users.len()
    };
    let class = if segments
        .first()
        .is_some_and(|s| s.eq_ignore_ascii_case("reports"))
    {
        LimitClass::Reports
    } else {
        LimitClass::IdentityAndAccess
    };
    let throttle_headers = core.throttle.admit(
        &claims.appid,
        &claims.tid,
        user_count,
        class,
        Cost::of(&req.method, &req.query),
    )?;
    if conditional_access::is_rate_limited_path(&segments) {
        core.throttle.admit_conditional_access(&claims.tid)?;
    }
    let route = route(version, &segments)?;
    identity::authorize(claims, permissions(&route, &req.method)?)?;
    let mut response = execute(core, req, version, &claims.tid, route)?;
    response.headers.extend(throttle_headers);
    Ok(response)
}

fn json_body(req: &GraphRequest) -> Result<Value, GraphError> {
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Err(GraphError::bad_request(
            "Empty Payload. JSON content expected.",
        ));
    }
    let v: Value = serde_json::from_slice(&req.body)
        .map_err(|e| GraphError::bad_request(format!("Invalid JSON in the request body: {e}")))?;
    if !v.is_object() {
        return Err(GraphError::bad_request(
            "The request body must be a JSON object.",
        ));
    }
    Ok(v)
}

fn execute(
    core: &Emulator,
    req: &GraphRequest,
    version: ApiVersion,
    tenant_id: &str,
    route: Route,
) -> Result<ApiResponse, GraphError> {
    let include_unknown = req.header("prefer").is_some_and(|p| {
        p.to_ascii_lowercase()
            .contains("include-unknown-enum-members")
    });
    let method = req.method.as_str();
    let collection = CollectionRequest {
        version,
        base_url: &req.base_url,
        path: &req.path,
        query: &req.query,
        eventual: req
            .header("consistencylevel")
            .is_some_and(|v| v.eq_ignore_ascii_case("eventual")),
    };
    if method == "GET" {
        let world = core.world();
        let index = world
            .find(tenant_id)
            .ok_or_else(|| GraphError::not_found(tenant_id))?;
        let slot = &world.tenants[index];
        let t = &slot.tenant;
        return match route {
            Route::Policy => Ok(core.cached_policy(&world, index, version, include_unknown)),
            Route::Configurations => Ok(policy::list_configurations(version, t, include_unknown)),
            Route::Configuration(id) => policy::get_configuration(version, t, &id, include_unknown),
            Route::SecurityDefaults => {
                Ok(policy::get_security_defaults(version, &t.security_defaults))
            }
            Route::Users => directory::list_users(&collection, t),
            Route::User(key) => directory::get_user(version, slot, &key, collection.query),
            Route::Groups => directory::list_groups(&collection, t),
            Route::Group(id) => directory::get_group(version, slot, &id),
            Route::Members(id, transitive) => {
                directory::list_members(&collection, slot, &id, transitive)
            }
            Route::SignInPreferences(key) => directory::get_sign_in_preferences(slot, &key),
            Route::Requirements(key) => directory::get_requirements(slot, &key),
            Route::UserMethods(key) => user_methods::list(version, slot, &key),
            Route::Registrations => {
                reports::list(version, slot, &req.base_url, &req.path, &req.query)
            }
            Route::Registration(id) => reports::get(version, slot, &id),
            Route::ConditionalAccess(r) => ca::read(version, slot, r, &req.query),
            Route::Credentials(r) => hardware::read(version, slot, r),
        };
    }
    let bodiless = match &route {
        Route::ConditionalAccess(r) => !r.takes_body(),
        Route::Credentials(r) => !r.takes_body(),
        _ => false,
    };
    let body = if method == "DELETE" || bodiless {
        Value::Null
    } else {
        json_body(req)?
    };
    let mut world = core.world_mut();
    let i = world
        .find(tenant_id)
        .ok_or_else(|| GraphError::not_found(tenant_id))?;
    let slot = &mut world.tenants[i];
    match route {
        Route::Policy => policy::patch_policy(version, &mut slot.tenant, &body),
        Route::Configuration(id) if method == "DELETE" => {
            policy::delete_configuration(&mut slot.tenant, &id)
        }
        Route::Configuration(id) => {
            policy::patch_configuration(version, &mut slot.tenant, &id, &body)
        }
        Route::SecurityDefaults => {
            ca::check_security_defaults_patch(&slot.tenant, &body)?;
            policy::patch_security_defaults(version, &mut slot.tenant.security_defaults, &body)
        }
        Route::ConditionalAccess(r) => ca::write(version, &mut slot.tenant, r, method, &body),
        Route::Credentials(r) => hardware::write(version, slot, r, method, &body),
        Route::SignInPreferences(key) => directory::patch_sign_in_preferences(slot, &key, &body),
        Route::Requirements(key) => directory::patch_requirements(slot, &key, &body),
        _ => Err(GraphError::method_not_allowed()),
    }
}

fn me_with_app_token() -> GraphError {
    GraphError::bad_request("/me request is only valid with delegated authentication flow.")
}
