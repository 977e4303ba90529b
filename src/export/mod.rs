//! `mfactl export`: the live tenant as policy files that the loader accepts and that plan in
//! sync against the same tenant. What of each resource a declaration may hold is the kind's
//! own (`crate::kinds::methods_policy::export`, `crate::kinds::security_defaults`); here are
//! the parts every kind's export shares: the display names targets are written with
//! ([`names`], the only reads) and the YAML documents ([`render`]).

pub mod names;
pub mod render;

pub use names::Names;
