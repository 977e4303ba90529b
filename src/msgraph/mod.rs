//! What Microsoft Graph is: its types (the CSDL digest), ids, API versions, defaults, limits,
//! the system-preferred order of methods and the per-user vocabulary. Facts, no I/O.
//!
//! Both the emulator and the product depend on this module, never on each other: the client,
//! the policy checks and the plan read Graph's rules here, and the emulator enforces the same.

pub mod conditional_access;
pub mod methods;
pub mod model;
pub mod modes;
pub mod order;
pub mod schema;
pub mod throttle;
pub mod user_methods;

use serde::Serialize;

pub use model::{PerUserMfaState, PreferredMethod, is_mfa_registration};

/// Graph's id for "every user", a group target.
pub const ALL_USERS: &str = "all_users";

/// Whether a new tenant has security defaults on: tenants created since 2019 do.
pub const SECURITY_DEFAULTS_ON_BY_DEFAULT: bool = true;

/// The two Graph API versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ApiVersion {
    /// `/v1.0`
    #[serde(rename = "v1.0")]
    V1,
    /// `/beta`
    #[serde(rename = "beta")]
    Beta,
}

impl ApiVersion {
    /// The URL segment.
    pub fn segment(self) -> &'static str {
        match self {
            ApiVersion::V1 => "v1.0",
            ApiVersion::Beta => "beta",
        }
    }

    /// The other version.
    pub fn other(self) -> Self {
        match self {
            ApiVersion::V1 => ApiVersion::Beta,
            ApiVersion::Beta => ApiVersion::V1,
        }
    }

    /// Parses a URL segment (`v1.0`, `beta`), case-insensitively.
    pub fn parse(segment: &str) -> Option<Self> {
        if segment.eq_ignore_ascii_case("v1.0") {
            Some(ApiVersion::V1)
        } else if segment.eq_ignore_ascii_case("beta") {
            Some(ApiVersion::Beta)
        } else {
            None
        }
    }
}
