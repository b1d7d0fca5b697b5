//! Tollgate's control plane: the custom resources, the pure translation of objects into a proxy
//! snapshot (with per-object problems), standalone mode (manifests from a directory, proxy in
//! process) and the operator.
#![forbid(unsafe_code)]

pub mod cli;
pub mod crdgen;
pub mod jwks;
pub mod operator;
pub mod resources;
pub mod standalone;
pub mod translate;
