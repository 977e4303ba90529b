//! A throw-away certificate authority and server certificate for the emulator's HTTPS side.
//!
//! azure_identity refuses an `http` authority host, so the token endpoint must be reachable
//! over TLS. The trust anchor is a CA with a separate leaf (SAN `localhost` and `127.0.0.1`,
//! `serverAuth`): rustls rejects a self-signed leaf used as its own anchor.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::EmulatorError;

/// The generated material: the server configuration and the CA certificate in PEM.
pub struct TestPki {
    /// rustls configuration serving the leaf certificate.
    pub server: Arc<ServerConfig>,
    /// The CA certificate clients must trust.
    pub ca_pem: String,
}

fn tls_err(e: impl std::fmt::Display) -> EmulatorError {
    EmulatorError::Tls(e.to_string())
}

/// Generates a CA and a leaf for `localhost` and `127.0.0.1`.
pub fn generate() -> Result<TestPki, EmulatorError> {
    let ca_key = KeyPair::generate().map_err(tls_err)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(tls_err)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "mfactl emulator test CA");
    let ca_cert = ca_params.self_signed(&ca_key).map_err(tls_err)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let leaf_key = KeyPair::generate().map_err(tls_err)?;
    let mut leaf_params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .map_err(tls_err)?;
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf_params.use_authority_key_identifier_extension = true;
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).map_err(tls_err)?;

    let chain = vec![CertificateDer::from(leaf.der().to_vec())];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let mut server =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(tls_err)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(tls_err)?;
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TestPki {
        server: Arc::new(server),
        ca_pem: ca_cert.pem(),
    })
}

/// The CA file; removed when dropped if the emulator chose its location.
pub struct TempCaFile {
    path: PathBuf,
    remove: bool,
}

impl TempCaFile {
    /// Writes `pem` to `path`, or to a fresh file in the temporary directory.
    pub fn write(pem: &str, path: Option<&Path>) -> Result<Self, EmulatorError> {
        let (path, remove) = match path {
            Some(p) => (p.to_path_buf(), false),
            None => {
                let name = format!(
                    "mfactl-emulator-ca-{}-{}.pem",
                    std::process::id(),
                    super::control::new_request_id()
                );
                (std::env::temp_dir().join(name), true)
            }
        };
        std::fs::write(&path, pem)
            .map_err(|e| EmulatorError::Tls(format!("cannot write {}: {e}", path.display())))?;
        Ok(Self { path, remove })
    }

    /// Where the CA certificate is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempCaFile {
    fn drop(&mut self) {
        if self.remove {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
