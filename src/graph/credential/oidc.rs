//! [`OidcAssertion`]: a CI system's OIDC token (GitHub Actions, Azure Pipelines), fetched
//! for every token request and presented to Entra as a federated client assertion.

use std::fmt;

use azure_core::credentials::Secret;
use azure_core::error::ErrorKind;
use azure_core::http::ClientMethodOptions;
use azure_identity::ClientAssertion;
use url::Url;

use super::{
    ACTIONS_ID_TOKEN_REQUEST_TOKEN, ACTIONS_ID_TOKEN_REQUEST_URL,
    AZURESUBSCRIPTION_SERVICE_CONNECTION_ID, BoxFuture, CredentialError, FEDERATED_AUDIENCE,
    SYSTEM_ACCESSTOKEN, SYSTEM_OIDCREQUESTURI,
};
use crate::config::Env;

/// Where an OIDC token comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OidcProvider {
    /// `GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=api://AzureADTokenExchange`, answer
    /// `{"value": JWT}`.
    GithubActions,
    /// `POST $SYSTEM_OIDCREQUESTURI?api-version=7.1&serviceConnectionId=ID`, answer
    /// `{"oidcToken": JWT}`.
    AzurePipelines,
}

impl OidcProvider {
    fn name(self) -> &'static str {
        match self {
            OidcProvider::GithubActions => "GitHub Actions",
            OidcProvider::AzurePipelines => "Azure Pipelines",
        }
    }
}

/// A CI system's OIDC token, fetched afresh for every token request and presented to Entra
/// as a federated client assertion.
pub struct OidcAssertion {
    provider: OidcProvider,
    url: Url,
    request_token: Secret,
    http: reqwest::Client,
}

impl fmt::Debug for OidcAssertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcAssertion")
            .field("provider", &self.provider)
            .field("host", &self.url.host_str())
            .field("request_token", &"[redacted]")
            .finish_non_exhaustive()
    }
}

impl OidcAssertion {
    /// GitHub Actions: `ACTIONS_ID_TOKEN_REQUEST_URL` and `ACTIONS_ID_TOKEN_REQUEST_TOKEN`
    /// (the job needs `permissions: id-token: write`).
    pub fn github_actions(env: &Env, http: &reqwest::Client) -> Result<Self, CredentialError> {
        let missing = || CredentialError::MissingInput {
            kind: "githubActions",
            needs: format!(
                "{ACTIONS_ID_TOKEN_REQUEST_URL} and {ACTIONS_ID_TOKEN_REQUEST_TOKEN}: give the \
                 job `permissions: id-token: write`"
            ),
        };
        let url = env.get(ACTIONS_ID_TOKEN_REQUEST_URL).ok_or_else(missing)?;
        let token = env
            .get(ACTIONS_ID_TOKEN_REQUEST_TOKEN)
            .ok_or_else(missing)?;
        let mut url = oidc_url(ACTIONS_ID_TOKEN_REQUEST_URL, url)?;
        url.query_pairs_mut()
            .append_pair("audience", FEDERATED_AUDIENCE);
        Ok(Self {
            provider: OidcProvider::GithubActions,
            url,
            request_token: Secret::new(token.to_string()),
            http: http.clone(),
        })
    }

    /// Azure Pipelines: `SYSTEM_OIDCREQUESTURI`, `SYSTEM_ACCESSTOKEN` and the service
    /// connection (configured, or `AZURESUBSCRIPTION_SERVICE_CONNECTION_ID`).
    pub fn azure_pipelines(
        env: &Env,
        http: &reqwest::Client,
        service_connection_id: Option<&str>,
    ) -> Result<Self, CredentialError> {
        let missing = |what: &str| CredentialError::MissingInput {
            kind: "azurePipelines",
            needs: what.to_string(),
        };
        let url = env.get(SYSTEM_OIDCREQUESTURI).ok_or_else(|| {
            missing(&format!(
                "{SYSTEM_OIDCREQUESTURI} (set by Azure Pipelines in every job)"
            ))
        })?;
        let token = env.get(SYSTEM_ACCESSTOKEN).ok_or_else(|| {
            missing(&format!(
                "{SYSTEM_ACCESSTOKEN}: map it in the step (`env: SYSTEM_ACCESSTOKEN: $(System.AccessToken)`)"
            ))
        })?;
        let connection = service_connection_id
            .or_else(|| env.get(AZURESUBSCRIPTION_SERVICE_CONNECTION_ID))
            .ok_or_else(|| {
                missing(&format!(
                    "`serviceConnectionId` or {AZURESUBSCRIPTION_SERVICE_CONNECTION_ID}"
                ))
            })?;
        let mut url = oidc_url(SYSTEM_OIDCREQUESTURI, url)?;
        url.query_pairs_mut()
            .append_pair("api-version", "7.1")
            .append_pair("serviceConnectionId", connection);
        Ok(Self {
            provider: OidcProvider::AzurePipelines,
            url,
            request_token: Secret::new(token.to_string()),
            http: http.clone(),
        })
    }

    /// Fetches one OIDC token.
    pub async fn fetch(&self) -> azure_core::Result<String> {
        let name = self.provider.name();
        let request = match self.provider {
            OidcProvider::GithubActions => self
                .http
                .get(self.url.clone())
                .header(reqwest::header::ACCEPT, "application/json"),
            OidcProvider::AzurePipelines => self
                .http
                .post(self.url.clone())
                .header("X-TFS-FedAuthRedirect", "Suppress")
                .header(reqwest::header::CONTENT_LENGTH, "0"),
        }
        .bearer_auth(self.request_token.secret());
        let response = request.send().await.map_err(|e| {
            azure_core::Error::with_message(
                ErrorKind::Credential,
                format!(
                    "{name} OIDC token request failed: {}",
                    crate::graph::error_chain(&e)
                ),
            )
        })?;
        let status = response.status().as_u16();
        if !response.status().is_success() {
            return Err(azure_core::Error::with_message(
                ErrorKind::HttpResponse {
                    status: status.into(),
                    error_code: None,
                    raw_response: None,
                },
                format!("{name} OIDC token request answered HTTP {status}"),
            ));
        }
        let body: serde_json::Value = response.json().await.map_err(|_| {
            azure_core::Error::with_message(
                ErrorKind::DataConversion,
                format!("{name} OIDC token response is not JSON"),
            )
        })?;
        let field = match self.provider {
            OidcProvider::GithubActions => "value",
            OidcProvider::AzurePipelines => "oidcToken",
        };
        body.get(field)
            .and_then(serde_json::Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .ok_or_else(|| {
                azure_core::Error::with_message(
                    ErrorKind::DataConversion,
                    format!("{name} OIDC token response has no `{field}`"),
                )
            })
    }
}

impl ClientAssertion for OidcAssertion {
    fn secret<'life0, 'life1, 'async_trait>(
        &'life0 self,
        _options: Option<ClientMethodOptions<'life1>>,
    ) -> BoxFuture<'async_trait, azure_core::Result<String>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(self.fetch())
    }
}

/// An OIDC endpoint from the environment: https, or http on a loopback address (tests).
fn oidc_url(variable: &'static str, value: &str) -> Result<Url, CredentialError> {
    let invalid = |reason: &str| CredentialError::InvalidEnv {
        variable,
        reason: reason.to_string(),
    };
    let url = Url::parse(value).map_err(|_| invalid("not a URL"))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err(invalid(
            "must be an https URL (the request carries a bearer token)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oidc_urls_must_be_https_or_loopback() {
        assert!(oidc_url("X", "https://token.actions.githubusercontent.com/x?a=1").is_ok());
        assert!(oidc_url("X", "http://127.0.0.1:9/x").is_ok());
        assert!(oidc_url("X", "http://example.com/x").is_err());
        assert!(oidc_url("X", "nonsense").is_err());
    }
}
