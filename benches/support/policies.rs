//! Loading policy files in a bench, as the CLI does. Pulled in with `#[path]` by the benches
//! that plan in-process.

use std::path::PathBuf;

use mfactl::policy::{self, PolicySet, Severity};

/// Loads the policies as the CLI does, panicking on any error.
pub fn load(paths: &[PathBuf]) -> PolicySet {
    let outcome = policy::load(paths);
    let errors: Vec<String> = outcome
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(ToString::to_string)
        .collect();
    match outcome.set {
        Some(set) if errors.is_empty() => set,
        _ => panic!("the policies do not load:\n{}", errors.join("\n")),
    }
}
