//! The server side: listeners, workers, connections.
//!
//! - [`listeners`]: binding, starting the workers and the admin listener, shutting down;
//! - [`worker`]: a worker's accept loop and how each connection is served; [`balance`]: which
//!   worker serves an accepted connection (the least loaded, when the accepting one is ahead);
//! - [`tls_accept`]: the TLS handshake of HTTPS connections; [`https_certs`]: the HTTPS
//!   certificates, chosen by SNI and reloaded when their files change;
//! - [`h1`]: the HTTP/1 fast path (hyper serves HTTP/2 and whatever it hands over);
//! - [`admin_listener`]: the admin port's listener.
//!
//! Uses every other seam: [`crate::pipeline`] to serve a request, [`crate::admin`] for the
//! admin port, [`crate::upstream`] for the workers' pools.

mod admin_listener;
mod balance;
mod config_tls;
mod h1;
mod https_certs;
mod listeners;
mod tls_accept;
mod worker;

pub use listeners::{Bound, Error, bind, listen, serve, shutdown_signal};
