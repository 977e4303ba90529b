//! `credential:` as written: exactly one kind, or the bare word `auto`. Deserialised by hand
//! so that no error quotes a value (a pasted secret or certificate password might sit in it).

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

use super::{
    CREDENTIAL_KINDS, INLINE_SECRET_MARKER, RawCredential, RawManagedIdentity, RawSecretRef,
    inline_secret, secret_ref_of,
};

impl<'de> Deserialize<'de> for RawCredential {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CredentialVisitor;

        impl<'de> Visitor<'de> for CredentialVisitor {
            type Value = RawCredential;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping with one credential kind, or `auto`")
            }

            fn visit_bool<E: de::Error>(self, _: bool) -> Result<RawCredential, E> {
                Err(inline_secret())
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<RawCredential, E> {
                Err(inline_secret())
            }
            fn visit_i128<E: de::Error>(self, _: i128) -> Result<RawCredential, E> {
                Err(inline_secret())
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<RawCredential, E> {
                Err(inline_secret())
            }
            fn visit_u128<E: de::Error>(self, _: u128) -> Result<RawCredential, E> {
                Err(inline_secret())
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<RawCredential, E> {
                Err(inline_secret())
            }
            /// `credential: auto`; any other word might be a secret and is not quoted.
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawCredential, E> {
                if v == "auto" {
                    Ok(RawCredential::Auto)
                } else {
                    Err(inline_secret())
                }
            }
            fn visit_unit<E: de::Error>(self) -> Result<RawCredential, E> {
                Err(E::custom(
                    "credential is empty: name one kind (see docs/configuration.md, Credentials)",
                ))
            }
            fn visit_none<E: de::Error>(self) -> Result<RawCredential, E> {
                self.visit_unit()
            }
            fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<RawCredential, A::Error> {
                Err(inline_secret())
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawCredential, A::Error> {
                let mut found: Option<RawCredential> = None;
                while let Some(key) = map.next_key::<serde_yaml::Value>()? {
                    // Not quoted: `credential: { s3cret }` is a mapping whose key is
                    // the secret.
                    let Some(kind) = key.as_str().filter(|k| CREDENTIAL_KINDS.contains(k)) else {
                        return Err(de::Error::custom(format!(
                            "unknown key in credential: expected one of {}",
                            quoted_list(CREDENTIAL_KINDS)
                        )));
                    };
                    if found.is_some() {
                        return Err(de::Error::custom(
                            "credential takes exactly one kind (clientSecret, \
                             clientCertificate, workloadIdentity, ...)",
                        ));
                    }
                    found = Some(match kind {
                        "clientSecret" => {
                            RawCredential::ClientSecret(map.next_value::<RawSecretRef>()?)
                        }
                        other => {
                            // Read any value and check it here: serde's own messages would
                            // quote it, and a certificate password might sit in it.
                            let value = map.next_value::<serde_yaml::Value>()?;
                            credential_kind(other, value).map_err(de::Error::custom)?
                        }
                    });
                }
                found.ok_or_else(|| {
                    de::Error::custom(format!(
                        "credential names no kind: expected one of {}",
                        quoted_list(CREDENTIAL_KINDS)
                    ))
                })
            }
        }

        deserializer.deserialize_any(CredentialVisitor)
    }
}

fn quoted_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The settings of one credential kind other than `clientSecret`, checked by hand. Errors
/// name keys, never values.
fn credential_kind(kind: &str, value: serde_yaml::Value) -> Result<RawCredential, String> {
    let mut fields = settings_of(kind, value)?;
    let credential = match kind {
        "clientCertificate" => {
            allow_keys(kind, &fields, &["file", "password"], false)?;
            let file = match take(&mut fields, "file") {
                Some(v) => PathBuf::from(string_of(kind, "file", v)?),
                None => return Err("clientCertificate needs `file: PATH` (PEM or PKCS#12)".into()),
            };
            let password = take(&mut fields, "password")
                .map(|v| secret_ref_of("clientCertificate.password", v))
                .transpose()?;
            RawCredential::ClientCertificate { file, password }
        }
        "workloadIdentity" => {
            allow_keys(kind, &fields, &["tokenFile"], true)?;
            let token_file = take(&mut fields, "tokenFile")
                .map(|v| string_of(kind, "tokenFile", v).map(PathBuf::from))
                .transpose()?;
            RawCredential::WorkloadIdentity { token_file }
        }
        "managedIdentity" => {
            let keys = ["clientId", "objectId", "resourceId"];
            allow_keys(kind, &fields, &keys, true)?;
            if fields.len() > 1 {
                return Err(
                    "managedIdentity takes at most one of `clientId`, `objectId`, `resourceId`"
                        .into(),
                );
            }
            match fields.pop() {
                None => RawCredential::ManagedIdentity(RawManagedIdentity::SystemAssigned),
                Some((key, v)) => {
                    let id = string_of(kind, &key, v)?;
                    RawCredential::ManagedIdentity(match key.as_str() {
                        "clientId" => RawManagedIdentity::ClientId(id),
                        "objectId" => RawManagedIdentity::ObjectId(id),
                        _ => RawManagedIdentity::ResourceId(id),
                    })
                }
            }
        }
        "azurePipelines" => {
            allow_keys(kind, &fields, &["serviceConnectionId"], true)?;
            let service_connection_id = take(&mut fields, "serviceConnectionId")
                .map(|v| string_of(kind, "serviceConnectionId", v))
                .transpose()?;
            RawCredential::AzurePipelines {
                service_connection_id,
            }
        }
        "githubActions" => {
            allow_keys(kind, &fields, &[], true)?;
            RawCredential::GithubActions
        }
        "azureCli" => {
            allow_keys(kind, &fields, &[], true)?;
            RawCredential::AzureCli
        }
        _ => {
            allow_keys(kind, &fields, &[], true)?;
            RawCredential::Auto
        }
    };
    Ok(credential)
}

/// A kind's settings: `{}`, nothing (`githubActions:`), or a mapping with string keys.
fn settings_of(
    kind: &str,
    value: serde_yaml::Value,
) -> Result<Vec<(String, serde_yaml::Value)>, String> {
    match value {
        serde_yaml::Value::Null => Ok(Vec::new()),
        serde_yaml::Value::Mapping(m) => m
            .into_iter()
            .map(|(k, v)| match k {
                serde_yaml::Value::String(k) => Ok((k, v)),
                _ => Err(format!("{kind}: keys must be names")),
            })
            .collect(),
        _ if kind == "clientCertificate" => Err(format!(
            "{INLINE_SECRET_MARKER}: write `clientCertificate: {{ file: PATH, password: {{ env: VARIABLE }} }}` instead"
        )),
        _ => Err(format!(
            "{kind} takes a mapping (`{kind}: {{}}` when it needs no settings)"
        )),
    }
}

/// Refuses keys outside `allowed`. A key is quoted only where it cannot be a pasted secret.
fn allow_keys(
    kind: &str,
    fields: &[(String, serde_yaml::Value)],
    allowed: &[&str],
    quote: bool,
) -> Result<(), String> {
    for (key, _) in fields {
        if !allowed.contains(&key.as_str()) {
            let expected = if allowed.is_empty() {
                "it takes no settings".to_string()
            } else {
                format!("expected {}", quoted_list(allowed))
            };
            return Err(if quote {
                format!("unknown key `{key}` in {kind}: {expected}")
            } else {
                format!("unknown key in {kind}: {expected}")
            });
        }
    }
    Ok(())
}

fn take(fields: &mut Vec<(String, serde_yaml::Value)>, key: &str) -> Option<serde_yaml::Value> {
    let i = fields.iter().position(|(k, _)| k == key)?;
    Some(fields.remove(i).1)
}

fn string_of(kind: &str, key: &str, value: serde_yaml::Value) -> Result<String, String> {
    match value {
        serde_yaml::Value::String(s) if !s.trim().is_empty() => Ok(s),
        _ => Err(format!("{kind}.{key} must be a non-empty string")),
    }
}
