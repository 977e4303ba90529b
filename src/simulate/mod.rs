//! Who will be prompted with which method, and who must do MFA: the simulation behind
//! `mfactl explain` and the impact section of a plan. Pure: it works on state already read.

pub mod coverage;
pub mod directory;
pub mod explain;
pub mod impact;
pub mod protection;
pub mod requirement;
pub mod strength;
#[cfg(test)]
mod tests;

pub use crate::msgraph::{PerUserMfaState, PreferredMethod};
