//! The `mfactl.yaml` document as written, before paths and URLs are resolved.
//!
//! Structure, types and unknown keys are checked by serde (whose errors carry a location);
//! the secret reference is deserialised by hand so that no error can quote a value that
//! might be a secret. [`Located`] re-reads the document with positions, to place the
//! errors found after deserialisation (duplicate names, bad URLs) at their line and column.

use std::fmt;
use std::path::PathBuf;

use saphyr_parser::{Event, Parser, Span};
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
                    "credential is empty: name one kind (see the README's Credentials section)",
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

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    fn of(span: &Span) -> Self {
        Self {
            line: span.start.line(),
            column: span.start.col() + 1,
        }
    }
}

/// A YAML node with its position (only what locating needs).
#[derive(Debug)]
pub(super) enum Located {
    /// A scalar (its text is not kept: it might be a secret).
    Scalar(Pos),
    /// A sequence.
    Seq(Pos, Vec<Located>),
    /// A mapping: (key text, key position, value).
    Map(Pos, Vec<(String, Pos, Located)>),
}

/// One step of a path into the document.
#[derive(Debug, Clone, Copy)]
pub(super) enum Seg<'a> {
    /// A mapping key.
    Key(&'a str),
    /// A sequence index.
    Index(usize),
}

impl Located {
    /// Parses the first document; `None` when the text is not YAML (serde reports that).
    pub fn parse(text: &str) -> Option<Located> {
        let mut events = Parser::new_from_str(text);
        loop {
            let (event, span) = events.next()?.ok()?;
            match event {
                Event::StreamStart | Event::DocumentStart(_) | Event::Nothing => continue,
                Event::StreamEnd | Event::DocumentEnd => return None,
                other => return Self::node(other, span, &mut events),
            }
        }
    }

    fn node<'i>(
        event: Event<'i>,
        span: Span,
        events: &mut Parser<'i, saphyr_parser::StrInput<'i>>,
    ) -> Option<Located> {
        let pos = Pos::of(&span);
        match event {
            Event::SequenceStart(..) => {
                let mut items = Vec::new();
                loop {
                    let (e, s) = events.next()?.ok()?;
                    if matches!(e, Event::SequenceEnd) {
                        return Some(Located::Seq(pos, items));
                    }
                    items.push(Self::node(e, s, events)?);
                }
            }
            Event::MappingStart(..) => {
                let mut entries = Vec::new();
                loop {
                    let (k, ks) = events.next()?.ok()?;
                    let key = match k {
                        Event::MappingEnd => return Some(Located::Map(pos, entries)),
                        Event::Scalar(ref text, ..) => text.to_string(),
                        _ => String::new(),
                    };
                    // A complex key is consumed and ignored.
                    if !matches!(k, Event::Scalar(..)) {
                        Self::node(k, ks, events)?;
                    }
                    let (v, vs) = events.next()?.ok()?;
                    let value = Self::node(v, vs, events)?;
                    entries.push((key, Pos::of(&ks), value));
                }
            }
            _ => Some(Located::Scalar(pos)),
        }
    }

    /// The position of this node.
    pub fn pos(&self) -> Pos {
        match self {
            Located::Scalar(p) | Located::Seq(p, _) | Located::Map(p, _) => *p,
        }
    }

    /// The node at `path`.
    pub fn find(&self, path: &[Seg<'_>]) -> Option<&Located> {
        let Some((first, rest)) = path.split_first() else {
            return Some(self);
        };
        let next = match (self, first) {
            (Located::Map(_, entries), Seg::Key(k)) => {
                entries.iter().find(|(key, ..)| key == k).map(|(.., v)| v)
            }
            (Located::Seq(_, items), Seg::Index(i)) => items.get(*i),
            _ => None,
        }?;
        next.find(rest)
    }

    /// The position of the key `key` in the mapping at `path`.
    pub fn key_pos(&self, path: &[Seg<'_>], key: &str) -> Option<Pos> {
        match self.find(path)? {
            Located::Map(_, entries) => entries
                .iter()
                .find(|(k, ..)| k == key)
                .map(|(_, pos, _)| *pos),
            _ => None,
        }
    }
}
