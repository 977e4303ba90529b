//! The HTTP client Graph calls and token requests share: the platform's trust store plus a
//! tenant's extra CA file, timeouts, no redirects.

use super::{CONNECT_TIMEOUT, GraphError, REQUEST_TIMEOUT, error_chain};

/// An HTTP client trusting the platform's store, plus `ca_file` when given.
pub fn http_client(ca_file: Option<&std::path::Path>) -> Result<reqwest::Client, GraphError> {
    // reqwest (built without a default crypto provider) panics when none is installed; `main`
    // installs ring, and this covers any other caller. A concurrent install winning the race
    // is just as good.
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    let mut builder = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("mfactl/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|e| GraphError::CaFile {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let certs =
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| GraphError::CaFile {
                path: path.to_path_buf(),
                reason: error_chain(&e),
            })?;
        if certs.is_empty() {
            return Err(GraphError::CaFile {
                path: path.to_path_buf(),
                reason: "no PEM certificate in the file".to_string(),
            });
        }
        builder = builder.tls_certs_merge(certs);
    }
    builder.build().map_err(|e| GraphError::Setup {
        reason: error_chain(&e),
    })
}
