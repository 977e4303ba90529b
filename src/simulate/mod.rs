//! Who will be prompted with which method: the simulation behind `mfactl explain` and the
//! impact section of a plan. Pure: it works on state already read.

pub mod model;
pub mod order;

pub use model::{PerUserMfaState, PreferredMethod};
