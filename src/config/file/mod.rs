//! The `mfactl.yaml` document as written, before paths and URLs are resolved.
//!
//! Structure, types and unknown keys are checked by serde (whose errors carry a location);
//! the secret reference is deserialised by hand so that no error can quote a value that
//! might be a secret. [`Located`](super::located::Located) re-reads the document with
//! positions, to place the errors found after deserialisation (duplicate names, bad URLs) at
//! their line and column.

mod credential;

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawConfig {
    pub tenants: Vec<RawTenant>,
    #[serde(default)]
    pub audit_log: Option<PathBuf>,
    #[serde(default)]
    pub notifications: Option<RawNotifications>,
}

/// `notifications:`: the alert providers and the reminder interval.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawNotifications {
    #[serde(default)]
    pub remind_after: Option<String>,
    #[serde(default)]
    pub teams: Option<RawChatProvider>,
    #[serde(default)]
    pub slack: Option<RawChatProvider>,
    #[serde(default)]
    pub webhook: Option<RawWebhookProvider>,
}

/// `teams:` or `slack:`: `{ url: { env | file } }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawChatProvider {
    pub url: UrlRef,
}

/// `webhook:`: `{ url: { env | file }, secret?: { env | file } }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWebhookProvider {
    pub url: UrlRef,
    #[serde(default)]
    pub secret: Option<KeyRef>,
}

/// Declares a newtype over [`RawSecretRef`] whose errors name the key `$what` and never
/// quote the value (a webhook URL or an HMAC key is a secret).
macro_rules! secret_field {
    ($name:ident, $what:literal) => {
        #[doc = concat!("`", $what, ": { env | file }`: where a notification secret lives.")]
        #[derive(Debug)]
        pub(super) struct $name(pub RawSecretRef);

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = serde_yaml::Value::deserialize(deserializer)?;
                secret_ref_of($what, value)
                    .map($name)
                    .map_err(de::Error::custom)
            }
        }
    };
}

secret_field!(UrlRef, "url");
secret_field!(KeyRef, "secret");
secret_field!(SeedRef, "hardwareOathSeed");

/// `mode:` of a tenant.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum RawMode {
    Observe,
    Enforce,
}

/// A day of the week in `changeWindows[].days`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum RawDay {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

/// One `changeWindows[]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawChangeWindow {
    pub days: Vec<RawDay>,
    pub from: String,
    pub to: String,
    #[serde(default)]
    pub timezone: Option<String>,
}

/// One `tenants[]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawTenant {
    pub name: String,
    pub tenant_id: String,
    pub client_id: String,
    pub credential: RawCredential,
    #[serde(default)]
    pub policies: Option<Vec<PathBuf>>,
    #[serde(default)]
    pub graph_url: Option<String>,
    #[serde(default)]
    pub authority_host: Option<String>,
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub mode: Option<RawMode>,
    #[serde(default)]
    pub suspend: Option<bool>,
    #[serde(default)]
    pub prune: Option<bool>,
    #[serde(default)]
    pub hardware_oath_seed: Option<SeedRef>,
    #[serde(default)]
    pub change_windows: Option<Vec<RawChangeWindow>>,
    #[serde(default)]
    pub freeze_windows: Option<Vec<RawChangeWindow>>,
}

/// `credential:`: exactly one kind, or the bare word `auto`.
#[derive(Debug)]
pub(super) enum RawCredential {
    /// `clientSecret: { env | file }`
    ClientSecret(RawSecretRef),
    /// `clientCertificate: { file, password? }`
    ClientCertificate {
        /// The PEM or PKCS#12 file.
        file: PathBuf,
        /// Where the PKCS#12 password lives.
        password: Option<RawSecretRef>,
    },
    /// `workloadIdentity: { tokenFile? }`
    WorkloadIdentity {
        /// The projected service-account token (default: `AZURE_FEDERATED_TOKEN_FILE`).
        token_file: Option<PathBuf>,
    },
    /// `managedIdentity: { clientId? | objectId? | resourceId? }`
    ManagedIdentity(RawManagedIdentity),
    /// `githubActions: {}`
    GithubActions,
    /// `azurePipelines: { serviceConnectionId? }`
    AzurePipelines {
        /// The service connection's id.
        service_connection_id: Option<String>,
    },
    /// `azureCli: {}`
    AzureCli,
    /// `auto` or `auto: {}`
    Auto,
}

/// Which managed identity: none named means the system-assigned one.
#[derive(Debug)]
pub(super) enum RawManagedIdentity {
    /// System-assigned.
    SystemAssigned,
    /// User-assigned, by client id.
    ClientId(String),
    /// User-assigned, by object (principal) id.
    ObjectId(String),
    /// User-assigned, by ARM resource id.
    ResourceId(String),
}

/// The credential kinds, as written under `credential:`.
pub(super) const CREDENTIAL_KINDS: &[&str] = &[
    "clientSecret",
    "clientCertificate",
    "workloadIdentity",
    "managedIdentity",
    "githubActions",
    "azurePipelines",
    "azureCli",
    "auto",
];

/// Where the secret lives: never the secret itself.
#[derive(Debug)]
pub(super) enum RawSecretRef {
    /// `{ env: NAME }`
    Env(String),
    /// `{ file: PATH }`
    File(PathBuf),
}

/// A marker in serde error messages that identifies an inline secret, so that the caller can
/// turn it into [`super::ConfigError::InlineSecret`].
pub(super) const INLINE_SECRET_MARKER: &str = "secret written inline";

fn inline_secret<E: de::Error>() -> E {
    E::custom(format!(
        "{INLINE_SECRET_MARKER}: write `clientSecret: {{ env: VARIABLE }}` or \
         `clientSecret: {{ file: PATH }}` instead"
    ))
}

/// Implements every scalar and sequence visit by refusing it without quoting the value (the
/// default serde messages say `invalid type: string "..."`, which would print a secret).
macro_rules! refuse_values_without_quoting {
    ($err:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Err($err)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Err($err)
        }
        fn visit_i128<E: de::Error>(self, _: i128) -> Result<Self::Value, E> {
            Err($err)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Err($err)
        }
        fn visit_u128<E: de::Error>(self, _: u128) -> Result<Self::Value, E> {
            Err($err)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Err($err)
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Err($err)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Err($err)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Err($err)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
            Err($err)
        }
    };
}

/// `{ env: NAME }` or `{ file: PATH }` for a secret other than the client secret.
fn secret_ref_of(what: &str, value: serde_yaml::Value) -> Result<RawSecretRef, String> {
    let serde_yaml::Value::Mapping(map) = value else {
        return Err(format!(
            "{INLINE_SECRET_MARKER}: write `{what}: {{ env: VARIABLE }}` or `{what}: {{ file: PATH }}` instead"
        ));
    };
    let mut found = None;
    for (k, v) in map {
        let key = match k.as_str() {
            Some(k @ ("env" | "file")) => k.to_string(),
            _ => {
                return Err(format!(
                    "unknown key in {what}: use `env: VARIABLE` or `file: PATH` (never the secret itself)"
                ));
            }
        };
        if found.is_some() {
            return Err(format!("{what} takes exactly one of `env` or `file`"));
        }
        let text = match v {
            serde_yaml::Value::String(s) if !s.trim().is_empty() => s,
            _ => return Err(format!("{what}.{key} must be a non-empty string")),
        };
        found = Some(if key == "env" {
            RawSecretRef::Env(text)
        } else {
            RawSecretRef::File(PathBuf::from(text))
        });
    }
    found.ok_or_else(|| format!("{what} needs `env: VARIABLE` or `file: PATH`"))
}

impl<'de> Deserialize<'de> for RawSecretRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SecretVisitor;

        impl<'de> Visitor<'de> for SecretVisitor {
            type Value = RawSecretRef;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`{ env: VARIABLE }` or `{ file: PATH }`")
            }

            refuse_values_without_quoting!(inline_secret());

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawSecretRef, A::Error> {
                let mut found: Option<RawSecretRef> = None;
                while let Some(key) = map.next_key::<serde_yaml::Value>()? {
                    // Not quoted: `clientSecret: { s3cret }` is a mapping whose key is the
                    // secret.
                    let key = match key.as_str() {
                        Some(k @ ("env" | "file")) => k.to_string(),
                        _ => {
                            return Err(de::Error::custom(
                                "unknown key in clientSecret: use `env: VARIABLE` or \
                                 `file: PATH` (never the secret itself)",
                            ));
                        }
                    };
                    if found.is_some() {
                        return Err(de::Error::custom(
                            "clientSecret takes exactly one of `env` or `file`",
                        ));
                    }
                    // Read any value, then check its type here: serde's own message would
                    // quote it.
                    let value = map.next_value::<serde_yaml::Value>()?;
                    let text = match value {
                        serde_yaml::Value::String(s) if !s.trim().is_empty() => s,
                        _ => {
                            return Err(de::Error::custom(format!(
                                "clientSecret.{key} must be a non-empty {}",
                                if key == "env" {
                                    "environment variable name"
                                } else {
                                    "file path"
                                }
                            )));
                        }
                    };
                    found = Some(if key == "env" {
                        RawSecretRef::Env(text)
                    } else {
                        RawSecretRef::File(PathBuf::from(text))
                    });
                }
                found.ok_or_else(|| {
                    de::Error::custom("clientSecret needs `env: VARIABLE` or `file: PATH`")
                })
            }
        }

        deserializer.deserialize_any(SecretVisitor)
    }
}
