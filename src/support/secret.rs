//! A secret string that is never shown by accident: webhook URLs and HMAC keys, Temporary
//! Access Passes.

use std::fmt;

/// A secret string, such as a webhook URL, an HMAC key or a Temporary Access Pass. `Debug`
/// never shows it, and it has no `Display`: read it with [`Secret::expose`] where it is used,
/// and nowhere else.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(redacted)")
    }
}
