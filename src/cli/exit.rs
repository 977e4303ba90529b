//! Exit codes, mapped from error kinds in this one place (docs/exit-codes.md).

use crate::cli::common::RunError;
use crate::config::ConfigError;
use crate::controller::CycleError;
use crate::graph::{GraphError, GraphErrorKind};
use crate::plan::live::PlanningError;
use crate::sandbox::EmulatorError;
use crate::tap::TapError;

/// The documented exit codes, following `diff` and `kubectl diff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitCode {
    /// Success, or in sync.
    Success = 0,
    /// Drift found (`plan`).
    Drift = 1,
    /// Usage error: bad flags, an address or path that cannot be used.
    Usage = 2,
    /// Invalid configuration, policy or state file; nothing was sent.
    Invalid = 3,
    /// Authentication or permission failure.
    Auth = 4,
    /// Graph or network failure after retries.
    Graph = 5,
    /// Partial apply: some changes applied, some not.
    Partial = 6,
    /// Refused by a safety guard.
    Refused = 7,
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code as u8)
    }
}

/// The exit code for a class of Graph failure (DESIGN.md "CLI conventions"): 3, 4 or 5.
pub fn graph(kind: GraphErrorKind) -> ExitCode {
    match kind {
        GraphErrorKind::Config => ExitCode::Invalid,
        GraphErrorKind::Auth => ExitCode::Auth,
        GraphErrorKind::Graph => ExitCode::Graph,
    }
}

/// The exit code for a configuration error: a tenant choice is a usage error (2),
/// everything else invalid configuration (3).
fn config(e: &ConfigError) -> ExitCode {
    match e {
        ConfigError::UnknownTenant { .. } | ConfigError::TenantRequired { .. } => ExitCode::Usage,
        _ => ExitCode::Invalid,
    }
}

/// The exit code for a Temporary Access Pass error: a refusal by the tenant's policy is 7,
/// a user or group that does not exist or a file that cannot be written 2.
fn tap(e: &TapError) -> ExitCode {
    match e {
        TapError::Graph(g) => graph(g.kind()),
        TapError::Refused(_) => ExitCode::Refused,
        TapError::NoSuchUser(_)
        | TapError::UnknownGroup { .. }
        | TapError::Audit(_)
        | TapError::Out { .. } => ExitCode::Usage,
    }
}

/// The exit code for an error: the first error in the chain whose kind is known decides.
pub fn for_error(err: &(dyn std::error::Error + 'static)) -> ExitCode {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(e) = e.downcast_ref::<RunError>() {
            return match e {
                RunError::Config(c) => config(c),
                RunError::InvalidPolicy(_)
                | RunError::UnresolvedNames(_)
                | RunError::TokenHolders(_) => ExitCode::Invalid,
                RunError::Planning(PlanningError::Graph(g)) | RunError::Graph(g) => graph(g.kind()),
                RunError::Planning(_) => ExitCode::Invalid,
                RunError::Audit(_) | RunError::PlanFile { .. } | RunError::Write { .. } => {
                    ExitCode::Usage
                }
                RunError::Sandbox(_) | RunError::NotConverged(_) => ExitCode::Graph,
                RunError::Refused(_) | RunError::Interrupted => ExitCode::Refused,
                RunError::NoSuchUser(_) | RunError::Usage(_) => ExitCode::Usage,
                RunError::Tenant { code, .. } => *code,
                RunError::Cycle(CycleError::Graph(g))
                | RunError::Cycle(CycleError::Planning(PlanningError::Graph(g))) => graph(g.kind()),
                RunError::Cycle(CycleError::Planning(_)) => ExitCode::Invalid,
                RunError::Cycle(CycleError::Unsafe(_)) => ExitCode::Refused,
                RunError::Cycle(CycleError::Audit(_)) | RunError::Controller(_) => ExitCode::Usage,
                RunError::Cycle(CycleError::NotConverged(_)) | RunError::AlertsFailed(_) => {
                    ExitCode::Graph
                }
                RunError::Notify(_) | RunError::NoAlertProvider => ExitCode::Usage,
                RunError::Partial { .. } | RunError::WaveIncomplete { .. } => ExitCode::Partial,
                RunError::Tap(t) => tap(t),
            };
        }
        if let Some(e) = e.downcast_ref::<ConfigError>() {
            return config(e);
        }
        if let Some(e) = e.downcast_ref::<GraphError>() {
            return graph(e.kind());
        }
        if let Some(e) = e.downcast_ref::<EmulatorError>() {
            return match e {
                EmulatorError::Bind { .. }
                | EmulatorError::Tls(_)
                | EmulatorError::ReadState { .. } => ExitCode::Usage,
                EmulatorError::InvalidState { .. }
                | EmulatorError::InconsistentState(_)
                | EmulatorError::InvalidGenerateSpec(_) => ExitCode::Invalid,
                EmulatorError::Endpoints(_) | EmulatorError::Signal(_) => ExitCode::Graph,
            };
        }
        current = e.source();
    }
    ExitCode::Graph
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emulator_errors_map_to_documented_codes() {
        let invalid = EmulatorError::InvalidGenerateSpec("x".into());
        assert_eq!(for_error(&invalid), ExitCode::Invalid);
        let bind = EmulatorError::Bind {
            addr: ([127, 0, 0, 1], 1).into(),
            source: std::io::Error::other("in use"),
        };
        assert_eq!(for_error(&bind), ExitCode::Usage);
    }
}
