//! Tollgate core: everything that can be decided without a network.
//!
//! The [`snapshot`] module is the wire format of the config channel between the controller and
//! the proxies. Everything else here is a pure function over a snapshot: clocks, random bytes and
//! keys are passed in as arguments so that every behaviour is testable without IO.
//!
//! - [`address`]: the backend address policy: which upstream addresses a proxy may connect to.
//! - [`config_channel`]: the rest of that channel: its bearer token and its reply bodies.
//! - [`certificate`]: certificates served by SNI: parsing, checking, choosing by server name.
//! - [`ids`]: stable UUIDv5 ids for objects without a `metadata.uid`.
//! - [`validate`]: full snapshot validation, every problem named.
//! - [`secret`]: client-secret verifiers and hashing.
//! - [`token`]: self-contained encrypted access tokens; [`access_jwt`]: the same as signed JWTs
//!   (RFC 9068) for plugins with `tokenFormat: jwt`.
//! - [`routing`]: path normalization, route matching, `strip_path`.
//! - [`oauth`]: token endpoint decisions, token verification, identity headers.
//! - [`ratelimit`]: Kong's `rate-limiting` plugin (local policy): fixed windows and its headers.
//! - [`revocation`]: the bounded store of revoked token ids (RFC 7009), refresh-token families
//!   and consumed authorization codes.
//! - `wire`: the one field writer and reader of every sealed record (tokens, codes, refresh
//!   tokens).
#![forbid(unsafe_code)]

pub mod access_jwt;
pub mod address;
pub mod certificate;
pub mod config_channel;
pub mod ids;
pub mod jwt;
pub mod oauth;
pub mod ratelimit;
pub mod revocation;
pub mod routing;
pub mod secret;
pub mod snapshot;
pub mod token;
pub mod validate;
mod wire;

#[cfg(test)]
mod fixtures;
