//! How declaration files are read, below every kind: which files are policy files
//! ([`files`]), YAML with the position of every key and value and the bounds it is read
//! under ([`yaml`]), diagnostics with stable codes ([`diagnostic`]), the reading of a spec
//! into Graph JSON checked against the CSDL ([`spec`], [`graph_types`]), targets
//! ([`targets`]) and "did you mean" suggestions ([`suggest`]).
//!
//! Nothing here knows a kind: the kinds (`crate::kinds`) read their specs with it, and the
//! loader (`crate::policy`) reads files and envelopes with it. The configuration file is read
//! under the same bounds ([`read_bounded_yaml`]).

pub mod diagnostic;
pub mod files;
pub(crate) mod graph_types;
pub(crate) mod spec;
pub(crate) mod suggest;
pub mod targets;
pub(crate) mod yaml;

use std::path::Path;

use diagnostic::{Diagnostic, codes};

/// Reads a YAML file that is not a policy file (mfactl.yaml) under the bounds and character
/// rules policy files are read under ([`yaml::LIMITS`]): its text, or where and why it is
/// refused. A hostile configuration must not cost more than a hostile policy file.
pub fn read_bounded_yaml(path: &Path) -> Result<String, BoundedYamlError> {
    let text = yaml::read_file(path, &yaml::LIMITS).map_err(|e| match e {
        yaml::ReadFailure::TooLarge(finding) => BoundedYamlError::Refused(finding.in_file(path)),
        yaml::ReadFailure::Io(err) => BoundedYamlError::Io(err),
    })?;
    let (_, findings) = yaml::parse(&text);
    match findings
        .into_iter()
        .find(|f| f.code == codes::INPUT_BOUND || f.code == codes::YAML_SYNTAX)
    {
        Some(finding) => Err(BoundedYamlError::Refused(finding.in_file(path))),
        None => Ok(text),
    }
}

/// Why [`read_bounded_yaml`] refused a file.
#[derive(Debug, thiserror::Error)]
pub enum BoundedYamlError {
    /// It cannot be read, or is not UTF-8.
    #[error(transparent)]
    Io(std::io::Error),
    /// It crosses a bound (MFA036) or is not YAML (MFA001), at the diagnostic's location.
    #[error("{0}")]
    Refused(Diagnostic),
}
