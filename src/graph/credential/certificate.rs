//! [`CertificateAssertion`]: a client certificate (PEM or PKCS#12) whose RSA key signs a
//! fresh client assertion for every token request, with ring instead of OpenSSL.

use std::fmt;

use azure_core::error::ErrorKind;
use azure_core::http::ClientMethodOptions;
use azure_identity::ClientAssertion;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use ring::rand::SecureRandom as _;
use ring::signature::RsaKeyPair;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use url::Url;

use super::{BoxFuture, CredentialError, read_trimmed};
use crate::config::{CertificateSource, Env, SecretRef, TenantSettings};

/// How long a certificate-signed client assertion is valid.
const ASSERTION_LIFETIME_SECS: u64 = 600;

/// A certificate's private key and thumbprint, signing a fresh client assertion (RS256, `x5t`)
/// for every token request.
pub struct CertificateAssertion {
    client_id: String,
    audience: String,
    x5t: String,
    key: RsaKeyPair,
}

impl fmt::Debug for CertificateAssertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateAssertion")
            .field("client_id", &self.client_id)
            .field("audience", &self.audience)
            .field("x5t", &self.x5t)
            .field("key", &"[redacted]")
            .finish()
    }
}

impl CertificateAssertion {
    /// Loads the key and certificate from `source` (PEM: a `CERTIFICATE` and a PKCS#8 or
    /// PKCS#1 RSA `PRIVATE KEY`; otherwise PKCS#12, with its password from `env` or a file).
    pub fn load(
        source: &CertificateSource,
        env: &Env,
        tenant: &TenantSettings,
    ) -> Result<Self, CredentialError> {
        let path = &source.file;
        let fail = |reason: &str| CredentialError::Certificate {
            path: path.clone(),
            reason: reason.to_string(),
        };
        let bytes = std::fs::read(path).map_err(|e| fail(&e.to_string()))?;
        let (key, certs) = if looks_like_pem(&bytes) {
            pem_key_and_certs(&bytes).map_err(|r| fail(&r))?
        } else {
            let password = match &source.password {
                None => String::new(),
                Some(r) => read_password(r, env)?,
            };
            pkcs12_key_and_certs(&bytes, &password).map_err(|r| fail(&r))?
        };
        let public = key.public();
        let leaf = certs
            .iter()
            .find(|der| contains(der, public.as_ref()))
            .ok_or_else(|| fail("no certificate in the file matches its private key"))?;
        let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, leaf);
        let audience = token_endpoint(&tenant.authority_host, &tenant.tenant_id)
            .map_err(|r| fail(&r))?
            .to_string();
        Ok(Self {
            client_id: tenant.client_id.clone(),
            audience,
            x5t: B64URL.encode(sha1.as_ref()),
            key,
        })
    }

    /// The certificate's thumbprint as Entra shows it base64url-encoded (`x5t`).
    pub fn x5t(&self) -> &str {
        &self.x5t
    }

    /// A signed assertion valid for ten minutes from now.
    pub fn sign(&self) -> Result<String, String> {
        let rng = ring::rand::SystemRandom::new();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|_| "the system clock is before 1970".to_string())?
            .as_secs();
        let mut jti = [0u8; 16];
        rng.fill(&mut jti)
            .map_err(|_| "no random numbers from the operating system".to_string())?;
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "x5t": self.x5t});
        let claims = serde_json::json!({
            "aud": self.audience,
            "iss": self.client_id,
            "sub": self.client_id,
            "jti": B64URL.encode(jti),
            "nbf": now,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECS,
        });
        let input = format!(
            "{}.{}",
            B64URL.encode(header.to_string()),
            B64URL.encode(claims.to_string())
        );
        let mut signature = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(
                &ring::signature::RSA_PKCS1_SHA256,
                &rng,
                input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| "signing the client assertion failed".to_string())?;
        Ok(format!("{input}.{}", B64URL.encode(signature)))
    }
}

impl ClientAssertion for CertificateAssertion {
    fn secret<'life0, 'life1, 'async_trait>(
        &'life0 self,
        _options: Option<ClientMethodOptions<'life1>>,
    ) -> BoxFuture<'async_trait, azure_core::Result<String>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        let signed = self
            .sign()
            .map_err(|reason| azure_core::Error::with_message(ErrorKind::Credential, reason));
        Box::pin(async move { signed })
    }
}

/// `{authority}/{tenant}/oauth2/v2.0/token`, as azure_identity builds it.
fn token_endpoint(authority: &Url, tenant_id: &str) -> Result<Url, String> {
    authority
        .join(&format!("/{tenant_id}/oauth2/v2.0/token"))
        .map_err(|e| format!("no token URL for tenant {tenant_id}: {e}"))
}

fn looks_like_pem(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .is_some_and(|i| bytes[i..].starts_with(b"-----BEGIN"))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// The RSA key and every certificate of a PEM file. Parse errors are described, never
/// quoted.
fn pem_key_and_certs(bytes: &[u8]) -> Result<(RsaKeyPair, Vec<Vec<u8>>), String> {
    let text = String::from_utf8_lossy(bytes);
    if text.contains("ENCRYPTED PRIVATE KEY") || text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(
            "the PEM private key is encrypted; decrypt it (`openssl pkey -in KEY -out \
                    KEY.pem`) and protect the file instead, or use a PKCS#12 file with a password"
                .to_string(),
        );
    }
    let certs: Vec<Vec<u8>> = CertificateDer::pem_slice_iter(bytes)
        .filter_map(Result::ok)
        .map(|c| c.as_ref().to_vec())
        .collect();
    if certs.is_empty() {
        return Err("the PEM file holds no CERTIFICATE".to_string());
    }
    let key = PrivateKeyDer::from_pem_slice(bytes)
        .map_err(|_| "the PEM file holds no readable PRIVATE KEY".to_string())?;
    let key = match &key {
        PrivateKeyDer::Pkcs8(k) => RsaKeyPair::from_pkcs8(k.secret_pkcs8_der()),
        PrivateKeyDer::Pkcs1(k) => RsaKeyPair::from_der(k.secret_pkcs1_der()),
        _ => return Err("the private key is not an RSA key (Entra signs with RSA)".to_string()),
    }
    .map_err(|e| format!("the private key is not a usable RSA key ({e})"))?;
    Ok((key, certs))
}

/// The RSA key and the certificates of a PKCS#12 file.
fn pkcs12_key_and_certs(
    bytes: &[u8],
    password: &str,
) -> Result<(RsaKeyPair, Vec<Vec<u8>>), String> {
    let store = p12_keystore::KeyStore::from_pkcs12(
        bytes,
        password,
        p12_keystore::Pkcs12ImportPolicy::Relaxed,
    )
    .map_err(|e| match e {
        p12_keystore::error::Error::MacError(_) => {
            "not a PEM file, and as PKCS#12 the password is wrong".to_string()
        }
        other => format!("not a PEM file, and not a readable PKCS#12 file ({other})"),
    })?;
    let (_, chain) = store
        .private_key_chain()
        .ok_or_else(|| "the PKCS#12 file holds no private key".to_string())?;
    let key = RsaKeyPair::from_pkcs8(chain.key().as_der())
        .map_err(|e| format!("the private key is not a usable RSA key ({e})"))?;
    let mut certs: Vec<Vec<u8>> = chain.certs().iter().map(|c| c.as_der().to_vec()).collect();
    for (_, entry) in store.entries() {
        if let p12_keystore::KeyStoreEntry::Certificate(c) = entry {
            certs.push(c.as_der().to_vec());
        }
    }
    Ok((key, certs))
}

fn read_password(source: &SecretRef, env: &Env) -> Result<String, CredentialError> {
    let fail = |reason: String| CredentialError::Password {
        from: source.clone(),
        reason,
    };
    match source {
        SecretRef::Env(name) => env
            .get(name)
            .map(str::to_string)
            .ok_or_else(|| fail("the variable is not set or is empty".to_string())),
        SecretRef::File(path) => read_trimmed(path).map_err(fail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_detection_and_search() {
        assert!(looks_like_pem(b"\n  -----BEGIN CERTIFICATE-----"));
        assert!(!looks_like_pem(&[0x30, 0x82, 0x01]));
        assert!(contains(b"abcdef", b"cde"));
        assert!(!contains(b"abc", b""));
    }
}
