//! Tollgate's data plane: listeners (HTTP, HTTPS, admin), routing, the OAuth 2.0 token
//! endpoint and token verification, identity headers, forwarding, the config channel, health and
//! metrics. It never links Kubernetes crates (a test checks `cargo tree`).
//!
//! ```text
//! let state = Arc::new(ProxyState::new());
//! state.apply(snapshot)?;                       // validate fully, then swap atomically
//! serve(ProxyOptions::default(), state, shutdown_signal()).await?;
//! ```
#![forbid(unsafe_code)]

mod admin;
pub mod logging;
pub mod options;
mod pipeline;
mod server;
mod shared;
pub mod tls;
mod upstream;

#[cfg(test)]
#[path = "../tests/support/snapshot.rs"]
mod fixtures;

pub use options::{Cidr, ConfigToken, ProxyOptions, parse_cidrs};
pub use pipeline::ProxyState;
pub use server::{Bound, Error, bind, serve, shutdown_signal};
