//! `mfactl export`: the live tenant as policy files that the loader accepts and that plan in
//! sync against the same tenant. What of each resource a declaration may hold is the kind's
//! own (`crate::kinds::methods_policy::export`, `crate::kinds::security_defaults`, and the
//! `export` modules of the Conditional Access kinds); here are the parts every kind's export
//! shares: the names written in place of ids ([`names`], the only reads besides the
//! resources), the YAML documents ([`render`]), and the Conditional Access kinds' documents
//! with their names ([`conditional_access`]).

pub mod conditional_access;
pub mod names;
pub mod render;

pub use names::Names;
