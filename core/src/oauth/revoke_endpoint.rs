//! The revocation endpoint (`POST …/oauth2/revoke`, RFC 7009) of an `oauth2` plugin: a client
//! tells the gateway it no longer needs one of its tokens.
//!
//! The proxy calls, in order: [`super::presented_token::parse_presented_token`] (method, HTTPS,
//! parameters, client authentication syntax, `token`, `token_type_hint`); the brute-force guard
//! and the secret check, as at the token endpoint;
//! [`super::presented_token::authorize_presenting_client`] with [`PUBLIC_CLIENTS`]; then
//! [`revocation_decision`] with the token opened by the gateway's keys, and records the id it
//! names in the revocation store ([`crate::revocation`]) until the token's own expiry.
//!
//! Answers (RFC 7009 §2.2): 200 with an empty body when the token is revoked now, was revoked
//! already, has expired, or is not a token this plugin accepts (unknown tokens are not an
//! error); 400 `unauthorized_client` when the token is valid but was issued to another client
//! (§2.1: the server verifies the token was issued to the caller and refuses otherwise).
//! Errors of the request itself are the token endpoint's, in Kong's body format.

use super::presented_token::PublicClients;
use super::verify::{SnapshotIndex, check_claims};
use super::{OAuthError, token_error};
use crate::revocation::RevokedId;
use crate::snapshot::{Credential, Plugin};
use crate::token::{Claims, TokenError};

pub use super::introspect_endpoint::MAX_INTROSPECTED_TOKEN_LEN as MAX_REVOKED_TOKEN_LEN;

/// A confidential client must present its secret (and it must match); a public client is known
/// by its client id alone (RFC 7009 §2.1 and §5: it can only revoke tokens it holds, and those
/// were issued to it).
pub const PUBLIC_CLIENTS: PublicClients = PublicClients::Accepted;

/// Whether a (normalized) path is a revocation endpoint: it ends with `/oauth2/revoke` or
/// `/oauth2/revoke/`, under any route carrying the plugin (as the token endpoint).
pub fn is_revocation_endpoint(path: &str) -> bool {
    path.ends_with("/oauth2/revoke") || path.ends_with("/oauth2/revoke/")
}

/// What to do with a presented token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revocation {
    /// Nothing: the token is unknown, expired, already invalid, or not this plugin's (200).
    Nothing,
    /// Record `id` in the revocation store until `expires_at` (0: the token never expires).
    Revoke { id: RevokedId, expires_at: u64 },
}

/// Decides about the token `opened` (with its id) by the gateway's keys (`None`: too long to
/// try), presented by the authenticated client `caller`: a token `plugin` accepts at `now`
/// and that was issued to `caller` is revoked; one issued to another client is refused with
/// 400 `unauthorized_client`; anything else needs nothing.
pub fn revocation_decision(
    plugin: &Plugin,
    caller: &Credential,
    opened: Option<Result<(Claims, [u8; 16]), TokenError>>,
    index: &SnapshotIndex,
    now: u64,
) -> Result<Revocation, OAuthError> {
    let Some(Ok((claims, id))) = opened else {
        return Ok(Revocation::Nothing);
    };
    let expires_at = claims.expires_at;
    let Ok(identity) = check_claims(plugin, claims, index, now) else {
        return Ok(Revocation::Nothing);
    };
    if identity.credential.is_none_or(|c| c.id != caller.id) {
        return Err(token_error(
            400,
            "unauthorized_client",
            "The token was not issued to this client",
        ));
    }
    Ok(Revocation::Revoke {
        id: RevokedId::token(id),
        expires_at,
    })
}

/// The 503 answered when the revocation store is full: the revocation is refused rather than
/// silently forgotten, and the client may try again later (entries leave as their tokens
/// expire).
pub fn store_full() -> OAuthError {
    token_error(
        503,
        "temporarily_unavailable",
        "The revocation store is full; try again later",
    )
}

#[cfg(test)]
#[path = "revoke_endpoint_tests.rs"]
mod tests;
