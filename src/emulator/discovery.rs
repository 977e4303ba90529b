//! The login host's routes besides Graph: the token endpoint's path, and the discovery
//! documents every MSAL client reads before its first token request, in Entra's shape but
//! pointing at the emulator's own host:
//! - `GET /{tenant}/v2.0/.well-known/openid-configuration`, the tenant's OpenID Connect
//!   metadata (endpoints named by the tenant's id, as Entra names them even when the tenant
//!   is asked for by domain; `common` and `organizations` keep their name and the
//!   `{tenantid}` issuer template);
//! - `GET /common/discovery/instance?api-version=1.1&authorization_endpoint=…`, instance
//!   discovery, which answers `invalid_instance` (AADSTS50049) for an authorize endpoint on
//!   another host;
//! - `GET /{tenant}/discovery/v2.0/keys`, the signing keys the metadata names: none, since
//!   the emulator signs its tokens with a process-local HMAC key no client is meant to verify.

use serde_json::{Value, json};

use super::identity::OAuthError;
use super::{ApiResponse, World};

/// Tenant names that are not tenants: the multi-tenant authorities.
const MULTI_TENANT: [&str; 3] = ["common", "organizations", "consumers"];

/// A request to the login host rather than to Graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginRoute {
    /// `/{tenant}/oauth2/v2.0/token`.
    Token(String),
    /// `/{tenant}/v2.0/.well-known/openid-configuration`.
    OpenIdConfiguration(String),
    /// `/common/discovery/instance`.
    InstanceDiscovery,
    /// `/{tenant}/discovery/v2.0/keys`.
    Keys(String),
}

impl LoginRoute {
    /// The route of a request path, or `None` for a Graph path.
    pub fn of(path: &str) -> Option<Self> {
        let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
        match segs.as_slice() {
            [tenant, "oauth2", "v2.0", "token"] => Some(Self::Token((*tenant).to_string())),
            [tenant, "v2.0", ".well-known", "openid-configuration"] => {
                Some(Self::OpenIdConfiguration((*tenant).to_string()))
            }
            ["common", "discovery", "instance"] => Some(Self::InstanceDiscovery),
            [tenant, "discovery", "v2.0", "keys"] => Some(Self::Keys((*tenant).to_string())),
            _ => None,
        }
    }

    /// The tenant named in the path, if any.
    pub fn tenant(&self) -> Option<&str> {
        match self {
            Self::Token(t) | Self::OpenIdConfiguration(t) | Self::Keys(t) => Some(t),
            Self::InstanceDiscovery => None,
        }
    }
}

/// Serves a discovery route (`GET` only). `base_url` is the scheme and host the request came
/// in on; `query` its decoded query string.
pub fn serve(
    world: &World,
    route: &LoginRoute,
    base_url: &str,
    query: &[(String, String)],
) -> ApiResponse {
    let result = match route {
        LoginRoute::OpenIdConfiguration(tenant) => openid_configuration(world, tenant, base_url),
        LoginRoute::InstanceDiscovery => instance_discovery(base_url, query),
        LoginRoute::Keys(tenant) => resolve(world, tenant).map(|_| json!({"keys": []})),
        LoginRoute::Token(_) => Err(OAuthError::new(
            405,
            "invalid_request",
            900561,
            "The endpoint only accepts POST requests. Received a GET request.",
        )),
    };
    match result {
        Ok(body) => ApiResponse::ok(body),
        Err(e) => e.into_response(),
    }
}

/// The path segment endpoints are named by: the tenant's id, or a multi-tenant name as given.
fn resolve(world: &World, tenant: &str) -> Result<String, OAuthError> {
    if let Some(name) = MULTI_TENANT.iter().find(|m| m.eq_ignore_ascii_case(tenant)) {
        return Ok((*name).to_string());
    }
    world
        .find(tenant)
        .map(|i| world.tenants[i].tenant.id.clone())
        .ok_or_else(|| OAuthError::tenant_not_found("invalid_tenant", tenant))
}

fn openid_configuration(world: &World, tenant: &str, base: &str) -> Result<Value, OAuthError> {
    let segment = resolve(world, tenant)?;
    let issuer_tenant = if MULTI_TENANT.contains(&segment.as_str()) {
        "{tenantid}"
    } else {
        segment.as_str()
    };
    let host = base.split_once("://").map_or(base, |(_, h)| h);
    let at = |path: &str| format!("{base}/{segment}/{path}");
    Ok(json!({
        "token_endpoint": at("oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": at("discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": format!("{base}/{issuer_tenant}/v2.0"),
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": format!("{base}/oidc/userinfo"),
        "authorization_endpoint": at("oauth2/v2.0/authorize"),
        "device_authorization_endpoint": at("oauth2/v2.0/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": at("oauth2/v2.0/logout"),
        "claims_supported": [
            "sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
            "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username",
            "name", "tid", "ver", "at_hash", "c_hash", "email"
        ],
        "kerberos_endpoint": at("kerberos"),
        "tenant_region_scope": "NA",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": host,
        "rbac_url": "https://pas.windows.net",
    }))
}

fn instance_discovery(base: &str, query: &[(String, String)]) -> Result<Value, OAuthError> {
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if !matches!(param("api-version"), Some("1.0" | "1.1")) {
        return Err(OAuthError::new(
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'api-version'.",
        ));
    }
    let invalid_instance = || {
        OAuthError::new(
            400,
            "invalid_instance",
            50049,
            "Unknown or invalid instance.",
        )
    };
    let authorize = param("authorization_endpoint").ok_or_else(invalid_instance)?;
    let url = url::Url::parse(authorize).map_err(|_| invalid_instance())?;
    // An instance is a host name: MSAL Python names the authorize endpoint without the
    // authority's port.
    let host = url::Url::parse(base)
        .ok()
        .and_then(|b| b.host_str().map(str::to_string))
        .unwrap_or_default();
    if !url
        .host_str()
        .is_some_and(|h| h.eq_ignore_ascii_case(&host))
    {
        return Err(invalid_instance());
    }
    let tenant = url
        .path_segments()
        .and_then(|mut s| s.next())
        .filter(|t| !t.is_empty())
        .ok_or_else(invalid_instance)?;
    Ok(json!({
        "tenant_discovery_endpoint": format!("{base}/{tenant}/v2.0/.well-known/openid-configuration"),
        "api-version": "1.1",
        "metadata": [{
            "preferred_network": host,
            "preferred_cache": host,
            "aliases": [host],
        }],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::generate::{GenerateSpec, generate};

    fn world() -> World {
        World::from_state(generate(&GenerateSpec {
            users: 3,
            groups: 1,
            tenants: 1,
            seed: 7,
        }))
        .expect("generated world")
    }

    fn metadata(w: &World, tenant: &str) -> Value {
        let resp = serve(
            w,
            &LoginRoute::OpenIdConfiguration(tenant.to_string()),
            "https://localhost:4443",
            &[],
        );
        assert_eq!(resp.status, 200);
        resp.json().expect("json").clone()
    }

    fn instance(version: &str, authorize: &str) -> ApiResponse {
        let query = [
            ("api-version".to_string(), version.to_string()),
            ("authorization_endpoint".to_string(), authorize.to_string()),
        ];
        serve(
            &world(),
            &LoginRoute::InstanceDiscovery,
            "https://localhost:4443",
            &query,
        )
    }

    #[test]
    fn routes_are_told_from_graph_paths() {
        assert_eq!(
            LoginRoute::of("/contoso.com/v2.0/.well-known/openid-configuration"),
            Some(LoginRoute::OpenIdConfiguration("contoso.com".into()))
        );
        assert_eq!(
            LoginRoute::of("/t/oauth2/v2.0/token"),
            Some(LoginRoute::Token("t".into()))
        );
        assert_eq!(
            LoginRoute::of("/common/discovery/instance"),
            Some(LoginRoute::InstanceDiscovery)
        );
        assert_eq!(LoginRoute::of("/v1.0/users"), None);
        assert_eq!(LoginRoute::of("/t/.well-known/openid-configuration"), None);
    }

    #[test]
    fn a_tenant_named_by_domain_gets_endpoints_named_by_its_id() {
        let w = world();
        let tenant = &w.tenants[0].tenant;
        let doc = metadata(&w, &tenant.domains[0]);
        let at = |path: &str| format!("https://localhost:4443/{}/{path}", tenant.id);
        assert_eq!(doc["token_endpoint"], at("oauth2/v2.0/token"));
        assert_eq!(doc["authorization_endpoint"], at("oauth2/v2.0/authorize"));
        assert_eq!(doc["issuer"], at("v2.0"));
        assert_eq!(doc["jwks_uri"], at("discovery/v2.0/keys"));
        assert_eq!(doc["msgraph_host"], "localhost:4443");
    }

    #[test]
    fn common_keeps_its_name_and_the_issuer_template() {
        let doc = metadata(&world(), "common");
        assert_eq!(
            doc["token_endpoint"],
            "https://localhost:4443/common/oauth2/v2.0/token"
        );
        assert_eq!(doc["issuer"], "https://localhost:4443/{tenantid}/v2.0");
    }

    #[test]
    fn instance_discovery_names_the_tenant_discovery_endpoint_on_this_host_only() {
        let expected = "https://localhost:4443/contoso/v2.0/.well-known/openid-configuration";
        // MSAL Python names the authorize endpoint without the authority's port.
        for (version, authorize) in [
            (
                "1.1",
                "https://localhost:4443/contoso/oauth2/v2.0/authorize",
            ),
            ("1.0", "https://localhost/contoso/oauth2/v2.0/authorize"),
        ] {
            let ok = instance(version, authorize);
            assert_eq!(ok.status, 200, "{authorize}");
            let doc = ok.json().expect("json");
            assert_eq!(doc["tenant_discovery_endpoint"], expected);
            assert_eq!(doc["metadata"][0]["preferred_network"], "localhost");
        }
        let foreign = instance(
            "1.1",
            "https://login.example.com/contoso/oauth2/v2.0/authorize",
        );
        assert_eq!(foreign.status, 400);
        assert_eq!(foreign.json().expect("json")["error"], "invalid_instance");
        assert_eq!(
            instance("2.0", "https://localhost/contoso/oauth2/v2.0/authorize").status,
            400
        );
    }
}
