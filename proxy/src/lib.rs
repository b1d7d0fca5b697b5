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
pub mod body;
pub mod brute_force;
pub mod connector;
pub mod forward;
pub mod h1;
pub mod handler;
pub mod logging;
pub mod metrics;
pub mod options;
pub mod pool;
pub mod raw;
pub mod respond;
pub mod secrets;
pub mod server;
pub mod state;
pub mod tls;
pub mod token_cache;
pub mod token_endpoint;

pub use options::{Cidr, ProxyOptions, parse_cidrs};
pub use server::{Bound, Error, bind, serve, shutdown_signal};
pub use state::ProxyState;
