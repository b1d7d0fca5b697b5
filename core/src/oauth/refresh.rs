//! Refresh tokens without a database: rotation with reuse detection.
//!
//! A refresh token is its own record: [`RefreshClaims`] sealed with the snapshot's signing keys
//! ([`crate::token::KeyRing::seal_refresh`]: the AEAD key of authorization codes under another
//! authenticated version byte, so a refresh token never opens as a code or an access token). It
//! names the plugin that issued it, the client and its secret epoch, the user, the granted
//! scope, its expiry, a random id, and its **family**: the id of the first refresh token of the
//! chain a grant started, kept by every rotation, with a generation counting the rotations.
//!
//! The state is two kinds of ids in the revocation store ([`crate::revocation`]):
//! - [`RefreshClaims::used_id`] of every refresh token already exchanged (rotation), kept until
//!   that token would have expired; inserting it is the single-use test;
//! - [`RefreshClaims::family_id`] of a family revoked because a rotated token came back (reuse:
//!   RFC 9700 §4.14.2), kept until the newest token the family could hold has expired
//!   ([`family_expiry`]). Every refresh token of a revoked family is refused.
//!
//! With `reuseRefreshToken` (Kong's option) nothing rotates and nothing is stored: the same
//! refresh token keeps giving access tokens until it expires.

use super::token_endpoint::{ClientAuthMethod, invalid_client};
use super::{OAuthError, token_error};
use crate::revocation::{RevokedId, derive_id};
use crate::snapshot::{OAuth2Config, Plugin};
use crate::token::{KeyRing, MAX_SCOPE_LEN, TokenError, plugin_binding};
use crate::wire::{Reader, Writer};

/// Longest refresh token accepted at the token endpoint, in characters.
pub const MAX_REFRESH_TOKEN_LEN: usize = 2048;
pub use super::token_endpoint::issues_refresh_tokens;
pub use crate::snapshot::DEFAULT_REFRESH_TOKEN_TTL;

/// What a refresh token carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshClaims {
    /// Random, per token: what rotation records.
    pub id: [u8; 16],
    /// The id of the family's first token; kept by every rotation.
    pub family: [u8; 16],
    /// 0 for the first token of a family, then one more per rotation.
    pub generation: u32,
    /// [`crate::token::plugin_binding`] of the issuing plugin: refreshed only there.
    pub plugin: [u8; 8],
    /// UUID bytes of the client's credential.
    pub credential_id: [u8; 16],
    /// The credential's secret epoch at issue: a rotated secret voids the token.
    pub epoch: u64,
    /// Unix seconds.
    pub issued_at: u64,
    /// Unix seconds; 0: never expires (`refreshTokenTtl: 0`).
    pub expires_at: u64,
    /// Granted scopes, space-separated; empty when none.
    pub scope: String,
    pub authenticated_userid: String,
}

impl RefreshClaims {
    /// The first refresh token of a new family (`id` random), issued by `plugin` at `now`.
    #[allow(clippy::too_many_arguments)]
    pub fn first(
        plugin: &Plugin,
        config: &OAuth2Config,
        credential_id: [u8; 16],
        epoch: u64,
        scope: Option<&str>,
        authenticated_userid: Option<&str>,
        now: u64,
        id: [u8; 16],
    ) -> Self {
        Self {
            id,
            family: id,
            generation: 0,
            plugin: plugin_binding(&plugin.id, &plugin.incarnation),
            credential_id,
            epoch,
            issued_at: now,
            expires_at: expiry(config, now),
            scope: scope.unwrap_or("").to_owned(),
            authenticated_userid: authenticated_userid.unwrap_or("").to_owned(),
        }
    }

    /// The token that replaces this one at a rotation (`id` random): same family, client,
    /// scope and user, one generation more, a full lifetime from `now`.
    pub fn rotated(&self, config: &OAuth2Config, now: u64, id: [u8; 16]) -> Self {
        Self {
            id,
            generation: self.generation.saturating_add(1),
            issued_at: now,
            expires_at: expiry(config, now),
            ..self.clone()
        }
    }

    /// Whether the token has expired at `now`.
    pub fn is_expired(&self, now: u64) -> bool {
        self.expires_at != 0 && now >= self.expires_at
    }

    /// The store's id recording that this token was exchanged (a rotation).
    pub fn used_id(&self) -> RevokedId {
        RevokedId::token(derive_id("tollgate refresh token id v1", &self.id))
    }

    /// The store's id of this token's family (revoked as a whole on reuse).
    pub fn family_id(&self) -> RevokedId {
        RevokedId::family(self.family)
    }

    fn encode(&self) -> Result<Vec<u8>, TokenError> {
        let mut w = Writer::with_capacity(96 + self.scope.len() + self.authenticated_userid.len());
        w.bytes(&self.id)
            .bytes(&self.family)
            .u32(self.generation)
            .bytes(&self.plugin)
            .bytes(&self.credential_id)
            .u64(self.epoch)
            .u64(self.issued_at)
            .u64(self.expires_at);
        w.text16(&self.scope, MAX_SCOPE_LEN)
            .map_err(|_| TokenError::ScopeTooLong)?;
        w.text8(&self.authenticated_userid)
            .map_err(|_| TokenError::UserIdTooLong)?;
        Ok(w.into_inner())
    }

    fn decode(bytes: &[u8]) -> Result<Self, TokenError> {
        let mut r = Reader::new(bytes);
        let claims = Self {
            id: r.array()?,
            family: r.array()?,
            generation: r.u32()?,
            plugin: r.array()?,
            credential_id: r.array()?,
            epoch: r.u64()?,
            issued_at: r.u64()?,
            expires_at: r.u64()?,
            scope: r.text16(MAX_SCOPE_LEN)?,
            authenticated_userid: r.text8()?,
        };
        r.finish()?;
        Ok(claims)
    }

    /// Seals the claims with the ring's active key. `nonce` must be fresh random bytes.
    pub fn seal(&self, ring: &KeyRing, nonce: [u8; 24]) -> Result<String, TokenError> {
        ring.seal_refresh(&self.encode()?, nonce)
    }

    /// Opens a token sealed by [`Self::seal`] with any key of the ring. Checks nothing else
    /// (see [`check_refresh`]).
    pub fn open(ring: &KeyRing, token: &str) -> Result<Self, TokenError> {
        Self::decode(&ring.open_refresh(token, MAX_REFRESH_TOKEN_LEN)?)
    }
}

/// When a refresh token issued at `now` expires (0: never, `refreshTokenTtl: 0`).
fn expiry(config: &OAuth2Config, now: u64) -> u64 {
    if config.refresh_token_ttl == 0 {
        0
    } else {
        now.saturating_add(config.refresh_token_ttl)
    }
}

/// Until when a family revoked at `now` because `presented` came back must stay revoked: the
/// latest expiry a token of the family can have (the newest was issued at the latest `now`,
/// with today's `refreshTokenTtl`, or later than `presented` under an older, longer one). 0
/// (forever) when refresh tokens never expire.
pub fn family_expiry(config: &OAuth2Config, presented: &RefreshClaims, now: u64) -> u64 {
    let latest = expiry(config, now);
    if latest == 0 || presented.expires_at == 0 {
        0
    } else {
        latest.max(presented.expires_at)
    }
}

/// Kong's answer to a refresh token it does not know (also: expired, rotated, of a revoked
/// family, of another plugin, or from before a secret rotation).
pub fn invalid_refresh_token() -> OAuthError {
    token_error(400, "invalid_request", "Invalid refresh_token")
}

/// Checks a presented refresh token for the authenticated client `credential_id` (current
/// secret epoch `epoch`) at `plugin`, once `opened` is [`RefreshClaims::open`] of it:
/// 1. it was sent, opens with the ring, was issued by this plugin and has not expired, else
///    `invalid_request` "Invalid refresh_token" (Kong; RFC 6749 §5.2 would say `invalid_grant`);
/// 2. it was issued to this client, else `invalid_client` (Kong);
/// 3. it was issued under the client's current secret, else "Invalid refresh_token".
///
/// Rotation, reuse and family revocation are the caller's (the revocation store).
pub fn check_refresh(
    plugin: &Plugin,
    auth_method: ClientAuthMethod,
    credential_id: [u8; 16],
    epoch: u64,
    opened: Option<Result<RefreshClaims, TokenError>>,
    now: u64,
) -> Result<RefreshClaims, OAuthError> {
    let Some(Ok(claims)) = opened else {
        return Err(invalid_refresh_token());
    };
    if claims.plugin != plugin_binding(&plugin.id, &plugin.incarnation) || claims.is_expired(now) {
        return Err(invalid_refresh_token());
    }
    if claims.credential_id != credential_id {
        return Err(invalid_client(auth_method));
    }
    if claims.epoch != epoch {
        return Err(invalid_refresh_token());
    }
    Ok(claims)
}

/// RFC 7009 for a refresh token (`…/oauth2/revoke`), once `opened` is [`RefreshClaims::open`] of
/// the presented token and the caller authenticated as the credential `caller_id`: a live
/// refresh token of `plugin` issued to the caller revokes its whole family (the entry to record
/// and until when); one issued to another client is 400 `unauthorized_client`; anything else
/// (not a refresh token, another plugin's, expired) needs nothing (`None`).
pub fn revocation_of(
    config: &OAuth2Config,
    plugin: &Plugin,
    caller_id: [u8; 16],
    opened: Result<RefreshClaims, TokenError>,
    now: u64,
) -> Result<Option<(RevokedId, u64)>, OAuthError> {
    let Ok(claims) = opened else {
        return Ok(None);
    };
    if claims.plugin != plugin_binding(&plugin.id, &plugin.incarnation) || claims.is_expired(now) {
        return Ok(None);
    }
    if claims.credential_id != caller_id {
        return Err(token_error(
            400,
            "unauthorized_client",
            "The token was not issued to this client",
        ));
    }
    Ok(Some((
        claims.family_id(),
        family_expiry(config, &claims, now),
    )))
}

#[cfg(test)]
#[path = "refresh_tests.rs"]
mod tests;
