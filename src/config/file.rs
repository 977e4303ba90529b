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
}

/// `credential:`: today only `clientSecret`.
#[derive(Debug)]
pub(super) struct RawCredential {
    pub client_secret: RawSecretRef,
}

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
                f.write_str("a mapping with `clientSecret`")
            }

            refuse_values_without_quoting!(inline_secret());

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawCredential, A::Error> {
                let mut secret = None;
                while let Some(key) = map.next_key::<serde_yaml::Value>()? {
                    match key.as_str() {
                        Some("clientSecret") if secret.is_some() => {
                            return Err(de::Error::duplicate_field("clientSecret"));
                        }
                        Some("clientSecret") => {
                            secret = Some(map.next_value::<RawSecretRef>()?);
                        }
                        // Not quoted: `credential: { s3cret }` is a mapping whose key is
                        // the secret.
                        _ => {
                            return Err(de::Error::custom(
                                "unknown key in credential: expected `clientSecret`",
                            ));
                        }
                    }
                }
                let client_secret =
                    secret.ok_or_else(|| de::Error::missing_field("clientSecret"))?;
                Ok(RawCredential { client_secret })
            }
        }

        deserializer.deserialize_any(CredentialVisitor)
    }
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
