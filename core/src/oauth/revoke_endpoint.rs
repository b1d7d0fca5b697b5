//! The revocation endpoint (`POST …/oauth2/revoke`, RFC 7009) of an `oauth2` plugin: a client
//! tells the gateway it no longer needs one of its tokens.
//!
//! The proxy calls, in order: [`parse_revocation_request`] (method, HTTPS, parameters, client
//! authentication syntax, `token`); the brute-force guard and the secret check, as at the token
//! endpoint; [`authorize_revoking_client`]; then [`revocation_decision`] with the token opened by
//! the gateway's keys, and records the id it names in the revocation store
//! ([`crate::revocation`]) until the token's own expiry.
//!
//! Answers (RFC 7009 §2.2): 200 with an empty body when the token is revoked now, was revoked
//! already, has expired, or is not a token this plugin accepts (unknown tokens are not an
//! error); 400 `unauthorized_client` when the token is valid but was issued to another client
//! (§2.1: the server verifies the token was issued to the caller and refuses otherwise).
//! Errors of the request itself are the token endpoint's, in Kong's body format.

use super::token_endpoint::{
    ClientAuthMethod, TokenRequestView, check_https, check_method, client_authentication,
    collect_params, invalid_client,
};
use super::verify::{SnapshotIndex, check_claims};
use super::{OAuthError, invalid_request, token_error};
use crate::revocation::RevokedId;
use crate::snapshot::{ClientType, Credential, Plugin};
use crate::token::{Claims, TokenError};

pub use super::introspect_endpoint::MAX_INTROSPECTED_TOKEN_LEN as MAX_REVOKED_TOKEN_LEN;

/// Whether a (normalized) path is a revocation endpoint: it ends with `/oauth2/revoke` or
/// `/oauth2/revoke/`, under any route carrying the plugin (as the token endpoint).
pub fn is_revocation_endpoint(path: &str) -> bool {
    path.ends_with("/oauth2/revoke") || path.ends_with("/oauth2/revoke/")
}

/// A syntactically valid revocation request. `Debug` prints neither the secret nor the token.
#[derive(Clone, PartialEq, Eq)]
pub struct RevocationRequest {
    pub client_id: String,
    client_secret: Option<String>,
    pub auth_method: ClientAuthMethod,
    token: String,
    /// `token_type_hint` as sent (`access_token`, `refresh_token`, or anything: RFC 7009 §2.1
    /// lets the server search every type whatever the hint says, and this one does).
    pub hint: Option<String>,
}

impl std::fmt::Debug for RevocationRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevocationRequest")
            .field("client_id", &self.client_id)
            .field("auth_method", &self.auth_method)
            .field("hint", &self.hint)
            .finish_non_exhaustive()
    }
}

impl RevocationRequest {
    /// The presented client secret, to verify against the credential's verifier.
    pub fn client_secret(&self) -> Option<&[u8]> {
        self.client_secret.as_deref().map(str::as_bytes)
    }

    /// The token to revoke.
    pub fn token(&self) -> &str {
        &self.token
    }
}

/// Checks everything that needs no credential, as the token endpoint does (405 for another
/// method than `POST`, HTTPS, a bounded form or JSON body, no secret in the query, one client
/// authentication method), then: a `token` parameter (400 `invalid_request` "Missing token
/// parameter") and a client id (400 `invalid_client`, or 401 with a Basic challenge).
pub fn parse_revocation_request(
    config: &crate::snapshot::OAuth2Config,
    req: &TokenRequestView<'_>,
) -> Result<RevocationRequest, OAuthError> {
    check_method(config, req)?;
    check_https(config, req)?;
    let mut params = collect_params(req)?;
    let (client_id, client_secret, auth_method) = client_authentication(req, &mut params)?;
    let Some(token) = params.take("token") else {
        return Err(invalid_request("Missing token parameter"));
    };
    let hint = params.take("token_type_hint");
    let Some(client_id) = client_id else {
        return Err(invalid_client(auth_method));
    };
    Ok(RevocationRequest {
        client_id,
        client_secret,
        auth_method,
        token,
        hint,
    })
}

/// A confidential client must present its secret (and it must match); a public client is known
/// by its client id alone (RFC 7009 §2.1 and §5: it can only revoke tokens it holds, and those
/// were issued to it). No credential, or a confidential client without the right secret →
/// `invalid_client` (401 with a Basic challenge after Basic, else 400).
pub fn authorize_revoking_client(
    req: &RevocationRequest,
    credential: Option<&Credential>,
    secret_ok: bool,
) -> Result<(), OAuthError> {
    let Some(credential) = credential else {
        return Err(invalid_client(req.auth_method));
    };
    match credential.client_type {
        ClientType::Public => Ok(()),
        ClientType::Confidential if req.client_secret.is_some() && secret_ok => Ok(()),
        ClientType::Confidential => Err(invalid_client(req.auth_method)),
    }
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
