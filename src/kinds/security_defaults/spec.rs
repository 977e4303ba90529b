//! `kind: SecurityDefaults`: `policies/identitySecurityDefaultsEnforcementPolicy`.

use serde::Serialize;

use crate::kinds::Spec;
use crate::source::diagnostic::{Finding, Location, codes};
use crate::source::spec::Reader;
use crate::source::suggest;

/// The declared security defaults: `spec: {enabled: true|false}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeclaredSecurityDefaults {
    /// Graph's `isEnabled`.
    pub is_enabled: bool,
    /// Where `enabled` is written.
    pub location: Location,
}

/// Reads the spec of a `SecurityDefaults` document; `spec_pos` is where the `spec` key is.
pub(crate) fn read(at: &Spec<'_>) -> (Option<DeclaredSecurityDefaults>, Vec<Finding>) {
    let (spec, spec_pos, file) = (at.node, at.key_pos, at.file);
    let mut reader = Reader::default();
    let mut declared = None;
    for entry in spec.entries().unwrap_or_default() {
        if entry.key != "enabled" {
            let help = suggest::help(&entry.key, ["enabled"])
                .unwrap_or_else(|| "SecurityDefaults takes only `enabled: true|false`".into());
            reader.findings.push(
                Finding::new(
                    codes::UNKNOWN_KEY,
                    entry.key_pos,
                    format!(
                        "unknown key `{}`: SecurityDefaults has only `enabled`",
                        entry.key
                    ),
                )
                .help(help),
            );
            continue;
        }
        declared =
            reader
                .boolean("enabled", &entry.value)
                .map(|is_enabled| DeclaredSecurityDefaults {
                    is_enabled,
                    location: entry.key_pos.at(file),
                });
    }
    if spec.get("enabled").is_none() {
        reader.findings.push(
            Finding::new(
                codes::MISSING_KEY,
                spec_pos,
                "SecurityDefaults needs `enabled`",
            )
            .help("write `enabled: true` or `enabled: false`"),
        );
    }
    (declared, reader.findings)
}
