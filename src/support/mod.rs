//! Small utilities below everything else: a seedable PRNG, Graph-style timestamps and a
//! secret that does not show itself.

pub mod rng;
pub mod secret;
pub mod time;
