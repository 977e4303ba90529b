//! The vendor's seed file: the CSV the Entra portal accepts
//! (`upn,serial number,secret key,time interval,manufacturer,model`), named in mfactl.yaml
//! (`hardwareOathSeed`), read only when a plan creates a token, and only the rows of the
//! tokens it creates checked for their keys.
//!
//! A plan never holds a key: the create of a token sends [`placeholder`] where the key goes,
//! and apply fills it in from [`SeedKeys`] as the request leaves. A key is a [`SecretKey`],
//! whose `Debug` and `Display` never show it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::config::SecretRef;
use crate::graph::GraphError;
use crate::kinds::ResourceChange;

/// "Secret keys are limited to 128 characters" (FACTS-CA item 46).
const SECRET_MAX: usize = 128;
/// The member of a create's body that carries the key.
const SECRET_MEMBER: &str = "secretKey";
const PLACEHOLDER_PREFIX: &str = "{seed:";

/// What stands for the key of the token `serial` in a plan: `{seed:1234567}`.
pub fn placeholder(serial: &str) -> String {
    format!("{PLACEHOLDER_PREFIX}{serial}}}")
}

/// The serial number a [`placeholder`] names.
fn placeholder_serial(text: &str) -> Option<&str> {
    text.strip_prefix(PLACEHOLDER_PREFIX)?.strip_suffix('}')
}

/// A token's secret key: never shown, in `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(String);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

impl std::fmt::Display for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Why the keys of the tokens to create cannot be had; nothing was sent.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// Tokens are to be created and the tenant names no seed file.
    #[error(
        "the plan creates hardware OATH token(s) {}, whose secret keys come from the vendor's seed file, and the tenant names none; nothing was sent. Name it in mfactl.yaml: `hardwareOathSeed: {{ file: PATH }}` or `{{ env: VARIABLE }}` (docs/configuration.md)",
        serials.join(", ")
    )]
    NotConfigured {
        /// The serial numbers of the tokens to create.
        serials: Vec<String>,
    },
    /// The environment variable that names the seed file is not set.
    #[error("the hardware OATH seed file's variable {name} is not set; nothing was sent")]
    MissingVariable {
        /// The variable's name.
        name: String,
    },
    /// The seed file cannot be read.
    #[error("cannot read the hardware OATH seed file {path}: {source}; nothing was sent")]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The seed file has no header line naming the columns mfactl needs.
    #[error(
        "{origin}: the first line must name the columns `upn,serial number,secret key,time interval,manufacturer,model` (missing: {missing}); nothing was sent"
    )]
    Header {
        /// The file, or the variable holding it.
        origin: String,
        /// The columns not found.
        missing: String,
    },
    /// A token to create has no row in the seed file.
    #[error(
        "{origin} has no secret key for the hardware OATH token with serial number {serial}, which the plan creates; nothing was sent"
    )]
    MissingKey {
        /// The file, or the variable holding it.
        origin: String,
        /// The token's serial number.
        serial: String,
    },
    /// A token to create has a key Graph refuses.
    #[error(
        "{origin}:{line}: the secret key of serial number {serial} is not Base32 of at most 128 characters (a-z, A-Z, 2-7), as Graph requires; nothing was sent"
    )]
    InvalidKey {
        /// The file, or the variable holding it.
        origin: String,
        /// The CSV line, 1-based.
        line: usize,
        /// The token's serial number.
        serial: String,
    },
}

/// The keys of the tokens a plan creates, by serial number.
#[derive(Debug, Default)]
pub struct SeedKeys {
    keys: HashMap<String, SecretKey>,
}

impl SeedKeys {
    /// The keys of the tokens `changes` create, read from `seed` only when there are
    /// any; every token to create must have a valid key.
    pub fn for_changes(
        seed: Option<&SecretRef>,
        changes: &[ResourceChange],
    ) -> Result<SeedKeys, SeedError> {
        let serials = to_create(changes);
        if serials.is_empty() {
            return Ok(SeedKeys::default());
        }
        let Some(seed) = seed else {
            return Err(SeedError::NotConfigured { serials });
        };
        let (origin, text) = read(seed)?;
        parse(&origin, &text, &serials)
    }

    /// `body` with the key of its token where its [`placeholder`] stands.
    pub fn fill(&self, body: &Value) -> Value {
        let mut out = body.clone();
        let serial = body[SECRET_MEMBER].as_str().and_then(placeholder_serial);
        if let (Some(key), Some(m)) = (serial.and_then(|s| self.keys.get(s)), out.as_object_mut()) {
            m.insert(SECRET_MEMBER.into(), Value::String(key.0.clone()));
        }
        out
    }

    /// `error` with every key of these tokens taken out of its text, whatever its case: a
    /// service refusing a create may echo what it was sent.
    pub fn redact(&self, error: GraphError) -> GraphError {
        error.map_text(&|text| {
            self.keys
                .values()
                .fold(text.to_string(), |t, key| without(&t, &key.0))
        })
    }
}

/// The serial numbers whose keys `changes` need, in order.
fn to_create(changes: &[ResourceChange]) -> Vec<String> {
    changes
        .iter()
        .filter_map(|c| c.body[SECRET_MEMBER].as_str().and_then(placeholder_serial))
        .map(String::from)
        .collect()
}

/// `text` with each occurrence of `key`, in any case, replaced by `<redacted>`.
fn without(text: &str, key: &str) -> String {
    let needle = key.to_ascii_lowercase();
    if needle.is_empty() {
        return text.to_string();
    }
    // ASCII lowercasing keeps every byte where it was, so positions in `lower` are in `text`.
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    while let Some(i) = lower[at..].find(&needle) {
        out.push_str(&text[at..at + i]);
        out.push_str("<redacted>");
        at += i + needle.len();
    }
    out.push_str(&text[at..]);
    out
}

/// The seed's text and how messages name it. A variable holds the CSV itself, or (one line)
/// the path of the file.
fn read(seed: &SecretRef) -> Result<(String, String), SeedError> {
    let from_file = |path: &Path| {
        std::fs::read_to_string(path)
            .map(|text| (path.display().to_string(), text))
            .map_err(|source| SeedError::Read {
                path: path.to_path_buf(),
                source,
            })
    };
    match seed {
        SecretRef::File(path) => from_file(path),
        SecretRef::Env(name) => {
            let value = std::env::var(name)
                .map_err(|_| SeedError::MissingVariable { name: name.clone() })?;
            if value.trim().contains('\n') {
                Ok((format!("the variable {name}"), value))
            } else {
                from_file(Path::new(value.trim()))
            }
        }
    }
}

/// The columns mfactl reads, as the portal's header names them.
const SERIAL: &str = "serial number";
const KEY: &str = "secret key";

/// Reads the keys of `serials` from the CSV `text`: only their rows are checked.
fn parse(origin: &str, text: &str, serials: &[String]) -> Result<SeedKeys, SeedError> {
    let mut lines = text.lines().enumerate();
    let header: Vec<String> = lines
        .next()
        .map(|(_, l)| fields(l).map(|f| f.to_ascii_lowercase()).collect())
        .unwrap_or_default();
    let column = |name: &str| header.iter().position(|h| h == name);
    let (Some(serial_at), Some(key_at)) = (column(SERIAL), column(KEY)) else {
        let missing: Vec<&str> = [SERIAL, KEY]
            .into_iter()
            .filter(|c| column(c).is_none())
            .collect();
        return Err(SeedError::Header {
            origin: origin.to_string(),
            missing: missing.join(", "),
        });
    };
    let mut keys = HashMap::new();
    for (i, line) in lines {
        let row: Vec<&str> = fields(line).collect();
        let Some(serial) = row.get(serial_at).copied() else {
            continue;
        };
        if keys.contains_key(serial) || !serials.iter().any(|s| s == serial) {
            continue;
        }
        let key = row.get(key_at).copied().unwrap_or_default();
        if !valid_key(key) {
            return Err(SeedError::InvalidKey {
                origin: origin.to_string(),
                line: i + 1,
                serial: serial.to_string(),
            });
        }
        keys.insert(serial.to_string(), SecretKey(key.to_string()));
    }
    match serials.iter().find(|s| !keys.contains_key(s.as_str())) {
        Some(serial) => Err(SeedError::MissingKey {
            origin: origin.to_string(),
            serial: serial.clone(),
        }),
        None => Ok(SeedKeys { keys }),
    }
}

/// The fields of a CSV line, trimmed, quotes around a field removed.
fn fields(line: &str) -> impl Iterator<Item = &str> {
    line.split(',').map(|f| {
        let f = f.trim();
        f.strip_prefix('"')
            .and_then(|f| f.strip_suffix('"'))
            .unwrap_or(f)
    })
}

/// Base32 (a-z, A-Z, 2-7), not empty, at most 128 characters (FACTS-CA item 46).
fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= SECRET_MAX
        && key
            .bytes()
            .all(|b| b.is_ascii_alphabetic() || (b'2'..=b'7').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "upn,serial number,secret key,time interval,manufacturer,model\n\
        alice@contoso.example,1001,JBSWY3DPEHPK3PXP,30,Contoso,T1000\n\
        bob@contoso.example,1002,not base32 at all!,30,Contoso,T1000\n\
        ,1003,GEZDGNBVGY3TQOJQ,60,Contoso,T1000\n";

    fn serials(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn only_the_rows_of_tokens_to_create_are_checked() {
        let keys = parse("seed.csv", CSV, &serials(&["1001", "1003"])).unwrap();
        let body = serde_json::json!({"serialNumber": "1003", "secretKey": placeholder("1003")});
        assert_eq!(keys.fill(&body)["secretKey"], "GEZDGNBVGY3TQOJQ");
        assert!(!format!("{keys:?}").contains("GEZDGNBVGY3TQOJQ"));
    }

    #[test]
    fn a_key_echoed_in_an_error_is_taken_out_in_any_case() {
        let keys = parse("seed.csv", CSV, &serials(&["1001", "1003"])).unwrap();
        let refused = GraphError::BadRequest {
            request: Box::new(crate::graph::RequestContext {
                method: "PATCH".into(),
                path: "/beta/directory/authenticationMethodDevices/hardwareOathDevices".into(),
                request_id: None,
            }),
            code: "badRequest".into(),
            message: "secret 'jbswy3dpehpk3pxp' and 'GEZDGNBVGY3TQOJQ' of 1001 refused".into(),
        };
        let shown = keys.redact(refused).to_string();
        assert!(
            shown.ends_with("secret '<redacted>' and '<redacted>' of 1001 refused"),
            "{shown}"
        );
        let late = GraphError::Deadline {
            request: Box::new(crate::graph::RequestContext {
                method: "PATCH".into(),
                path: "/beta".into(),
                request_id: None,
            }),
            deadline: std::time::Duration::from_secs(1),
            attempts: 2,
            last: Some(Box::new(GraphError::Setup {
                reason: "JBSWY3DPEHPK3PXP".into(),
            })),
        };
        assert!(!keys.redact(late).to_string().contains("JBSWY3DPEHPK3PXP"));
    }

    #[test]
    fn a_bad_key_names_its_line_and_a_missing_one_its_serial() {
        let bad = parse("seed.csv", CSV, &serials(&["1002"])).unwrap_err();
        assert!(
            matches!(&bad, SeedError::InvalidKey { line: 3, serial, .. } if serial == "1002"),
            "{bad}"
        );
        assert!(!bad.to_string().contains("not base32"));
        let missing = parse("seed.csv", CSV, &serials(&["1001", "9999"])).unwrap_err();
        assert!(matches!(&missing, SeedError::MissingKey { serial, .. } if serial == "9999"));
        assert!(!valid_key(&"A".repeat(129)));
        assert!(valid_key(&"A".repeat(128)));
    }

    #[test]
    fn a_header_without_the_key_column_is_refused() {
        let e = parse(
            "seed.csv",
            "upn,serial number\nx,1001\n",
            &serials(&["1001"]),
        )
        .unwrap_err();
        assert!(matches!(e, SeedError::Header { .. }), "{e}");
    }
}
