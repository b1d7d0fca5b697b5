//! Tollgate's data plane: listeners (HTTP, HTTPS, admin), routing, the OAuth 2.0 token
//! endpoint and token verification, identity headers, forwarding, the config channel, health and
//! metrics. It never links Kubernetes crates (a test checks `cargo tree`).
//!
//! ```text
//! let state = Arc::new(ProxyState::new());
//! state.apply(snapshot)?;                       // validate fully, then swap atomically
//! serve(ProxyOptions::default(), state, shutdown_signal()).await?;
//! ```
//!
//! The public API is this facade: [`ProxyState`], [`options`] ([`ProxyOptions`], [`Cidr`],
//! [`ConfigToken`], ...), [`bind`] and [`serve`] (with [`Bound`], [`Error`],
//! [`shutdown_signal`]), [`tls`] (certificate files) and [`logging`]. The rest is private,
//! grouped by seam; each seam uses only the ones listed after it:
//!
//! - `server`: listeners, workers, the TLS handshake, the HTTP/1 fast path, the admin listener;
//! - `admin`: the admin port's endpoints (health, readiness, metrics, the config channel);
//! - `pipeline`: the per-request pipeline (routing, token endpoint, token verification,
//!   identity headers) and the state it serves from (snapshot, brute-force guard, secret-check
//!   pool, token cache, counters);
//! - `upstream`: forwarding, the inline HTTP/1.1 client, hyper's client and the connection
//!   pools, the body type;
//! - `shared`: leaf helpers (response building, bounded body reads, hashing, the clock).
//!
//! `scripts/use_graph.py` checks that no two modules, and no two seams, use each other.
#![forbid(unsafe_code)]

mod admin;
pub mod logging;
pub mod options;
mod pipeline;
mod server;
mod shared;
pub mod tls;
mod upstream;

// The integration suite's snapshot builders; unit tests use only some of them.
#[cfg(test)]
#[allow(dead_code)]
#[path = "../tests/suite/support/snapshot.rs"]
mod fixtures;

pub use options::{Cidr, ProxyOptions, parse_cidrs};
pub use pipeline::{ProxyState, Revocations};
pub use server::{Bound, Error, bind, listen, serve, shutdown_signal};
/// The TLS client configuration of https backends (the system's roots), for other HTTPS clients
/// of the gateway such as the controller's key fetches.
pub use upstream::client_tls;
