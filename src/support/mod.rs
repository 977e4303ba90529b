//! Small utilities below everything else: a seedable PRNG and Graph-style timestamps.

pub mod rng;
pub mod time;
