//! The Entra token endpoint (`POST /{tenant}/oauth2/v2.0/token`, client-credentials grant)
//! and the checks Graph makes on the bearer token it issues.
//!
//! Tokens are JWTs signed with a per-process HMAC key, carrying `tid`, `appid` and `roles`
//! like real Graph app tokens, so a client that decodes them (to name a missing permission)
//! sees the same claims it would in production.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use ring::hmac;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::state::App;
use super::{ApiResponse, Body, GraphError, World};

/// The Graph resource's audience and its well-known app id.
pub const GRAPH_AUDIENCE: &str = "https://graph.microsoft.com";
const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const TOKEN_LIFETIME_SECS: u64 = 3599;

/// The claims of an access token the emulator issued.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Audience: Graph.
    pub aud: String,
    /// Issuer: the tenant's STS.
    pub iss: String,
    /// Issued at (Unix seconds).
    pub iat: u64,
    /// Not before (Unix seconds).
    pub nbf: u64,
    /// Expiry (Unix seconds).
    pub exp: u64,
    /// The client app's id.
    pub appid: String,
    /// Tenant id.
    pub tid: String,
    /// Granted application permissions.
    pub roles: Vec<String>,
    /// `app` for client-credential tokens.
    pub idtyp: String,
}

/// Issues and verifies tokens.
pub struct Identity {
    key: hmac::Key,
}

impl Default for Identity {
    fn default() -> Self {
        Self::new()
    }
}

impl Identity {
    /// A fresh signing key.
    pub fn new() -> Self {
        let rng = ring::rand::SystemRandom::new();
        // Generating a key from the OS RNG only fails if the OS has no entropy source, in
        // which case nothing in this process could work; fall back to a fixed key so the
        // emulator (a test tool) still starts.
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &rng)
            .unwrap_or_else(|_| hmac::Key::new(hmac::HMAC_SHA256, b"mfactl-emulator"));
        Self { key }
    }

    fn sign(&self, claims: &Claims) -> String {
        let header = B64URL.encode(br#"{"typ":"JWT","alg":"HS256"}"#);
        let payload = B64URL.encode(serde_json::to_vec(claims).unwrap_or_default());
        let signing_input = format!("{header}.{payload}");
        let tag = hmac::sign(&self.key, signing_input.as_bytes());
        format!("{signing_input}.{}", B64URL.encode(tag.as_ref()))
    }

    /// Checks a bearer token: signature, audience and lifetime.
    pub fn verify(&self, authorization: Option<&str>) -> Result<Claims, GraphError> {
        let invalid = |msg: &str| GraphError::new(401, "InvalidAuthenticationToken", msg);
        let Some(header) = authorization else {
            return Err(invalid("Access token is empty."));
        };
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| invalid("Access token is empty."))?;
        let mut parts = token.rsplitn(2, '.');
        let (Some(sig), Some(signing_input)) = (parts.next(), parts.next()) else {
            return Err(invalid(
                "IDX14100: JWT is not well formed, there are no dots (.).",
            ));
        };
        let sig = B64URL
            .decode(sig)
            .map_err(|_| invalid("Invalid signature."))?;
        hmac::verify(&self.key, signing_input.as_bytes(), &sig)
            .map_err(|_| invalid("Invalid signature."))?;
        let payload = signing_input
            .split('.')
            .nth(1)
            .and_then(|p| B64URL.decode(p).ok())
            .ok_or_else(|| invalid("Invalid token payload."))?;
        let claims: Claims =
            serde_json::from_slice(&payload).map_err(|_| invalid("Invalid token payload."))?;
        let now = unix_now();
        if claims.exp <= now || claims.nbf > now + 300 {
            return Err(invalid("Lifetime validation failed, the token is expired."));
        }
        if claims.aud != GRAPH_AUDIENCE && claims.aud != GRAPH_APP_ID {
            return Err(invalid("Invalid audience."));
        }
        Ok(claims)
    }

    /// Serves the client-credentials grant for the tenant named in the path.
    pub fn token(&self, world: &World, tenant_key: &str, form: &[(String, String)]) -> ApiResponse {
        match self.grant(world, tenant_key, form) {
            Ok(resp) => resp,
            Err(e) => e.into_response(),
        }
    }

    fn grant(
        &self,
        world: &World,
        tenant_key: &str,
        form: &[(String, String)],
    ) -> Result<ApiResponse, OAuthError> {
        let field = |name: &str| {
            form.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let Some(slot) = world.find(tenant_key).map(|i| &world.tenants[i]) else {
            return Err(OAuthError::tenant_not_found("invalid_request", tenant_key));
        };
        let tenant = &slot.tenant;
        match field("grant_type") {
            Some("client_credentials") => {}
            Some(other) => {
                return Err(OAuthError::new(
                    400,
                    "unsupported_grant_type",
                    70003,
                    format!("The app requested an unsupported grant type '{other}'."),
                ));
            }
            None => {
                return Err(OAuthError::new(
                    400,
                    "invalid_request",
                    900144,
                    "The request body must contain the following parameter: 'grant_type'.",
                ));
            }
        }
        let client_id = field("client_id").ok_or_else(|| {
            OAuthError::new(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'client_id'.",
            )
        })?;
        let scope = field("scope").unwrap_or_default();
        let graph_default = [
            format!("{GRAPH_AUDIENCE}/.default"),
            format!("{GRAPH_AUDIENCE}//.default"),
            format!("{GRAPH_APP_ID}/.default"),
        ];
        if !graph_default.iter().any(|s| s.eq_ignore_ascii_case(scope)) {
            return Err(OAuthError::new(
                400,
                "invalid_scope",
                1002012,
                format!(
                    "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
                ),
            ));
        }
        let app = tenant
            .apps
            .iter()
            .find(|a| a.client_id.eq_ignore_ascii_case(client_id))
            .ok_or_else(|| {
                OAuthError::new(
                    400,
                    "unauthorized_client",
                    700016,
                    format!(
                        "Application with identifier '{client_id}' was not found in the directory '{}'.",
                        tenant.id
                    ),
                )
            })?;
        if let Some(secret) = field("client_secret") {
            if !app
                .secrets
                .iter()
                .any(|s| constant_time_eq(s.as_bytes(), secret.as_bytes()))
            {
                return Err(OAuthError::new(
                    401,
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app.",
                ));
            }
        } else if let Some(assertion) = field("client_assertion") {
            if field("client_assertion_type") != Some(ASSERTION_TYPE) {
                return Err(OAuthError::new(
                    400,
                    "invalid_request",
                    50027,
                    "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer.",
                ));
            }
            check_assertion(app, tenant_key, &tenant.id, assertion)?;
        } else {
            return Err(OAuthError::new(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            ));
        }
        let now = unix_now();
        let claims = Claims {
            aud: GRAPH_AUDIENCE.to_string(),
            iss: format!("https://sts.windows.net/{}/", tenant.id),
            iat: now,
            nbf: now,
            exp: now + TOKEN_LIFETIME_SECS,
            appid: app.client_id.clone(),
            tid: tenant.id.clone(),
            roles: app.roles.clone(),
            idtyp: "app".to_string(),
        };
        Ok(ApiResponse::ok(json!({
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME_SECS,
            "ext_expires_in": TOKEN_LIFETIME_SECS,
            "access_token": self.sign(&claims),
        })))
    }
}

/// An OAuth error in Entra's shape (`error`, `error_description`, `error_codes`, ...).
#[derive(Debug)]
pub(super) struct OAuthError {
    status: u16,
    error: &'static str,
    code: u32,
    description: String,
}

impl OAuthError {
    pub(super) fn new(
        status: u16,
        error: &'static str,
        code: u32,
        description: impl Into<String>,
    ) -> Self {
        Self {
            status,
            error,
            code,
            description: description.into(),
        }
    }

    /// AADSTS90002, for a tenant the world does not hold.
    pub(super) fn tenant_not_found(error: &'static str, tenant_key: &str) -> Self {
        Self::new(
            400,
            error,
            90002,
            format!(
                "Tenant '{tenant_key}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        )
    }

    pub(super) fn into_response(self) -> ApiResponse {
        // As Entra does: a trace id, a correlation id and a timestamp, new on every request,
        // in the description as well as in their own fields.
        let trace = super::control::new_request_id();
        let correlation = super::control::new_request_id();
        let timestamp = crate::support::time::now_graph_date().replace('T', " ") + "Z";
        ApiResponse {
            status: self.status,
            headers: Vec::new(),
            body: Some(Body::Json(json!({
                "error": self.error,
                "error_description": format!(
                    "AADSTS{}: {} Trace ID: {trace} Correlation ID: {correlation} Timestamp: {timestamp}",
                    self.code, self.description
                ),
                "error_codes": [self.code],
                "timestamp": timestamp,
                "trace_id": trace,
                "correlation_id": correlation,
                "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
            }))),
        }
    }
}

fn invalid_assertion(code: u32, msg: impl Into<String>) -> OAuthError {
    OAuthError::new(401, "invalid_client", code, msg)
}

/// Verifies a client assertion: a certificate-signed JWT (iss = sub = client id) or a
/// federated token matching one of the app's federated identity credentials.
fn check_assertion(
    app: &App,
    tenant_key: &str,
    tenant_id: &str,
    jwt: &str,
) -> Result<(), OAuthError> {
    let parts: Vec<&str> = jwt.split('.').collect();
    if parts.len() != 3 {
        return Err(invalid_assertion(
            50027,
            "Invalid JWT token. The token is malformed.",
        ));
    }
    let decode = |p: &str| -> Result<Value, OAuthError> {
        B64URL
            .decode(p)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| invalid_assertion(50027, "Invalid JWT token. The token is malformed."))
    };
    let header = decode(parts[0])?;
    let claims = decode(parts[1])?;
    let now = unix_now();
    let exp = claims["exp"].as_u64().unwrap_or(0);
    if exp <= now {
        return Err(invalid_assertion(
            700024,
            "Client assertion is not within its valid time range.",
        ));
    }
    let iss = claims["iss"].as_str().unwrap_or_default();
    let sub = claims["sub"].as_str().unwrap_or_default();
    let aud_matches = |pred: &dyn Fn(&str) -> bool| match &claims["aud"] {
        Value::String(a) => pred(a),
        Value::Array(list) => list.iter().filter_map(Value::as_str).any(pred),
        _ => false,
    };
    if iss.eq_ignore_ascii_case(&app.client_id) && sub.eq_ignore_ascii_case(&app.client_id) {
        let token_path_ok = |a: &str| {
            let a = a.to_ascii_lowercase();
            [tenant_key, tenant_id].iter().any(|t| {
                a.ends_with(&format!("/{}/oauth2/v2.0/token", t.to_ascii_lowercase()))
                    || a.ends_with(&format!("/{}/v2.0", t.to_ascii_lowercase()))
            })
        };
        if !aud_matches(&token_path_ok) {
            return Err(invalid_assertion(
                700212,
                "No matching federated identity record found for presented assertion audience.",
            ));
        }
        return verify_certificate_signature(app, &header, parts[0], parts[1], parts[2]);
    }
    let matching = app.federated_credentials.iter().find(|fc| {
        fc.issuer == iss
            && fc.subject == sub
            && aud_matches(&|a: &str| fc.audiences.iter().any(|x| x == a))
    });
    if matching.is_none() {
        return Err(invalid_assertion(
            700213,
            format!(
                "No matching federated identity record found for presented assertion subject '{sub}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion."
            ),
        ));
    }
    Ok(())
}

fn verify_certificate_signature(
    app: &App,
    header: &Value,
    h64: &str,
    p64: &str,
    s64: &str,
) -> Result<(), OAuthError> {
    let x5t = header["x5t"].as_str();
    let x5t256 = header["x5t#S256"].as_str();
    let alg = header["alg"].as_str().unwrap_or_default();
    let not_registered = || {
        invalid_assertion(
            700027,
            "The certificate with identifier used to sign the client assertion is not registered on application.",
        )
    };
    let der = app
        .certificates
        .iter()
        .filter_map(|pem| CertificateDer::from_pem_slice(pem.as_bytes()).ok())
        .find(|der| {
            let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, der.as_ref());
            let sha256 = ring::digest::digest(&ring::digest::SHA256, der.as_ref());
            x5t.is_some_and(|t| t == B64URL.encode(sha1.as_ref()))
                || x5t256.is_some_and(|t| t == B64URL.encode(sha256.as_ref()))
        })
        .ok_or_else(not_registered)?;
    let cert = webpki::EndEntityCert::try_from(&der).map_err(|_| not_registered())?;
    let sig = B64URL.decode(s64).map_err(|_| {
        invalid_assertion(700027, "Client assertion contains an invalid signature.")
    })?;
    let algorithm: &dyn rustls::pki_types::SignatureVerificationAlgorithm = match alg {
        "RS256" => webpki::ring::RSA_PKCS1_2048_8192_SHA256,
        "PS256" => webpki::ring::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
        _ => {
            return Err(invalid_assertion(
                700027,
                format!("Client assertion uses an unsupported algorithm '{alg}'."),
            ));
        }
    };
    cert.verify_signature(algorithm, format!("{h64}.{p64}").as_bytes(), &sig)
        .map_err(|_| invalid_assertion(700027, "Client assertion contains an invalid signature."))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Refuses the call unless the token carries one of `allowed` (FACTS.md §1, §8).
pub fn authorize(claims: &Claims, allowed: &[&str]) -> Result<(), GraphError> {
    if allowed.is_empty()
        || claims
            .roles
            .iter()
            .any(|r| allowed.iter().any(|a| a.eq_ignore_ascii_case(r)))
    {
        Ok(())
    } else {
        Err(GraphError::new(
            403,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        ))
    }
}
