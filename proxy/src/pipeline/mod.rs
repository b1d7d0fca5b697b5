//! The per-request pipeline and the state it serves from.
//!
//! - [`state`]: the proxy's shared state ([`ProxyState`]): the compiled snapshot swapped in
//!   atomically, the brute-force guard, the secret-check pool, the counters;
//! - [`context`]: what a request is served with ([`Ctx`], the worker's [`WorkerLocal`]);
//! - [`handler`]: route, then the route's plugin, then forward ([`handle`]);
//! - [`verify`]: token verification on protected routes; [`token_endpoint`]: the client
//!   credentials, password and authorization code grants; [`server_endpoints`]: the
//!   authorization endpoint, introspection, revocation and the metadata document;
//!   [`identity`]: the identity headers a client may not forge; [`revocations`]: the ids
//!   revoked (RFC 7009) and the authorization codes redeemed, consulted on verification and
//!   exchanged with the controller;
//! - [`secret_check`]: client-secret verification off the serving threads; [`brute_force`]:
//!   the token endpoint's guard; [`token_cache`]: each worker's cache of opened tokens;
//! - [`rate_limit`]: Kong's `rate-limiting` plugin: the counters and the answer's headers;
//! - [`metrics`]: the proxy's counters (`ProxyMetrics`);
//! - [`request_ids`]: `X-Request-Id` and W3C `traceparent`; [`access_log`]: the access log's
//!   lines and its writer thread; [`request_log`]: both, around every request.
//!
//! Uses [`crate::upstream`], [`crate::shared`] and [`crate::options`].

mod access_log;
mod brute_force;
mod context;
mod handler;
mod identity;
mod introspection;
mod metrics;
mod rate_limit;
mod request_ids;
mod request_log;
mod revocations;
mod secret_check;
mod server_endpoints;
mod state;
mod token_cache;
mod token_endpoint;
mod verify;

#[cfg(test)]
mod tests;

pub(crate) use access_log::AccessLog;
pub(crate) use context::{Ctx, WorkerLocal};
pub(crate) use handler::handle;
#[cfg(test)]
pub(crate) use metrics::Verification;
pub(crate) use metrics::{
    BUCKETS_US, Counts, HistogramCounts, MAX_CONSUMER_SERIES, OTHER_CONSUMERS, Refusal,
};
pub(crate) use request_log::parser_refusal;
pub use revocations::Revocations;
pub use state::ProxyState;
