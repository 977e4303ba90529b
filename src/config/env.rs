//! The process environment, captured once and passed down, so that tests inject a map
//! instead of mutating the real environment.

use std::collections::BTreeMap;
use std::fmt;

/// A snapshot of environment variables.
///
/// Unset and empty variables are the same thing here: [`Env::get`] returns `None` for both,
/// as CI systems commonly define a variable as empty to "unset" it.
///
/// `Debug` prints variable names only: the map holds secrets such as `AZURE_CLIENT_SECRET`.
#[derive(Clone, Default)]
pub struct Env {
    vars: BTreeMap<String, String>,
}

impl Env {
    /// The current process environment; variables whose name or value is not UTF-8 are
    /// left out.
    pub fn from_process() -> Self {
        std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect()
    }

    /// An empty environment.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Adds or replaces a variable (builder style, for tests and callers that inject values).
    #[must_use]
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.vars.insert(name.into(), value.into());
        self
    }

    /// A variable's value; `None` when unset or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// Whether a variable is set to a non-empty value.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Env {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self {
            vars: iter
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Env")
            .field("names", &self.vars.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_count_as_unset_and_debug_hides_values() {
        let env = Env::empty().with("A", "").with("SECRET", "hunter2");
        assert_eq!(env.get("A"), None);
        assert_eq!(env.get("SECRET"), Some("hunter2"));
        assert!(!env.contains("MISSING"));
        let debug = format!("{env:?}");
        assert!(debug.contains("SECRET"));
        assert!(!debug.contains("hunter2"));
    }
}
