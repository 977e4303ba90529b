//! Getting a token for a Graph request, and describing a failed token request: the
//! `AADSTS` code and the cause a person needs, with the client secret scrubbed.

use azure_core::credentials::Secret;

use super::{GRAPH_SCOPE, GraphClient, GraphError, error_chain, scrub};

impl GraphClient {
    pub(super) async fn token(&self) -> Result<Secret, GraphError> {
        match self.credential.get_token(&[GRAPH_SCOPE], None).await {
            Ok(token) => Ok(token.token),
            Err(e) => Err(self.authentication_error(&e)),
        }
    }

    fn authentication_error(&self, e: &azure_core::Error) -> GraphError {
        // The credential wraps the token endpoint's error; the HTTP status sits on an inner
        // error when the endpoint answered at all.
        let mut status = None;
        let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(err) = current {
            if let Some(az) = err.downcast_ref::<azure_core::Error>()
                && let Some(s) = az.http_status()
            {
                status = Some(u16::from(s));
                break;
            }
            current = err.source();
        }
        let (code, description) = describe_token_failure(e);
        let description = scrub(&description, self.secret.secret());
        GraphError::Authentication {
            tenant_id: self.tenant_id.clone(),
            client_id: self.client_id.clone(),
            status,
            code,
            description,
        }
    }
}

/// The `AADSTS` code and a one-line description of a failed token request. azure_identity
/// wraps the cause in "ClientSecretCredential authentication failed." and retry-policy
/// context; the cause (Entra's `error_description`, or the transport failure such as
/// `invalid peer certificate: UnknownIssuer`) is what a person needs.
fn describe_token_failure(e: &(dyn std::error::Error + 'static)) -> (Option<String>, String) {
    let full = error_chain(e);
    if let Some(code) = aadsts_code(&full) {
        let line = full
            .lines()
            .find(|l| l.contains(code.as_str()))
            .unwrap_or_default();
        let from_code = line.find(code.as_str()).map_or(line, |i| &line[i..]);
        let description = from_code
            .strip_prefix(code.as_str())
            .map(|rest| rest.trim_start_matches(':').trim())
            .unwrap_or(from_code)
            .to_string();
        return (Some(code), description);
    }
    let mut parts: Vec<String> = Vec::new();
    let mut current = e.source();
    while let Some(cause) = current {
        let text = cause.to_string();
        let boilerplate = text.starts_with("retry policy expired")
            || text.contains("will not be retried")
            || parts.iter().any(|p| p.contains(&text));
        if !boilerplate && !text.is_empty() {
            parts.push(text);
        }
        current = cause.source();
    }
    if parts.is_empty() {
        let outer = e.to_string();
        let first = outer.lines().next().unwrap_or_default();
        parts.push(
            first
                .trim_start_matches("ClientSecretCredential authentication failed.")
                .trim()
                .to_string(),
        );
    }
    (None, parts.join(": "))
}

/// The first `AADSTS<digits>` in `text`.
fn aadsts_code(text: &str) -> Option<String> {
    let start = text.find("AADSTS")?;
    let digits: String = text[start + 6..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    (!digits.is_empty()).then(|| format!("AADSTS{digits}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aadsts_codes_are_found_and_secrets_scrubbed() {
        assert_eq!(
            aadsts_code("failed. AADSTS7000215: Invalid client secret provided."),
            Some("AADSTS7000215".to_string())
        );
        assert_eq!(aadsts_code("no code here"), None);
        assert_eq!(scrub("a s3cret b", "s3cret"), "a [redacted] b");
    }
}
