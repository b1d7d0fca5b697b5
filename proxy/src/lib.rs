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

pub mod admin;
pub mod brute_force;
pub mod h1;
pub mod handler;
pub mod logging;
pub mod metrics;
pub mod options;
pub mod secrets;
pub mod server;
mod shared;
pub mod state;
pub mod tls;
pub mod token_cache;
pub mod token_endpoint;
mod upstream;

#[cfg(test)]
#[path = "../tests/support/snapshot.rs"]
mod fixtures;

pub use options::{Cidr, ConfigToken, ProxyOptions, parse_cidrs};
pub use server::{Bound, Error, bind, serve, shutdown_signal};
pub use state::ProxyState;
