//! Leaf helpers shared by the seams. Each module here uses no other module of the crate.

pub mod body_limit;
pub mod clock;
pub mod fields;
pub mod fx_hash;
pub mod respond;
