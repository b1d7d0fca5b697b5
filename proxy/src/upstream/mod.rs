//! The upstream side: forwarding a prepared request to a backend and streaming its response
//! back, over per-worker pools of keep-alive connections.
//!
//! - [`forward`]: targets and endpoints, the request rewrite (`Host`, `X-Forwarded-*`,
//!   hop-by-hop headers), the choice of client, timeouts and Kong's error responses;
//! - [`inline_client`]: the inline HTTP/1.1 client for bodiless `GET`/`HEAD` to `http`
//!   backends; [`pool`]: hyper's client for everything else, and the per-worker pools;
//! - [`idle`]: the idle-connection stack both clients keep per endpoint;
//! - [`connector`]: TCP and TLS connections; [`body`]: the proxy's one body type; [`error`]:
//!   the inline client's and the bodies' errors;
//! - [`added`], [`hop_by_hop`]: the headers added to and removed from a forwarded request.
//!
//! Uses only [`crate::shared`].

mod added;
mod body;
mod connector;
mod error;
mod forward;
mod hop_by_hop;
mod idle;
mod inline_client;
mod pool;

pub(crate) use added::Added;
pub(crate) use body::ProxyBody;
pub use connector::client_tls;
pub(crate) use error::BodyError;
pub(crate) use forward::{Endpoint, Peer, Target, Upstreams, X_FORWARDED_PROTO, prepare_request};
