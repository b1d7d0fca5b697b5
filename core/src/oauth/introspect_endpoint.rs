//! The introspection endpoint (`POST …/oauth2/introspect`, RFC 7662) of an `oauth2` plugin:
//! a resource server asks whether a token of this gateway is active, authenticating as a
//! confidential client of the plugin.
//!
//! The proxy calls, in order: [`super::presented_token::parse_presented_token`] (method, HTTPS,
//! parameters, client authentication syntax, `token`; `token_type_hint` is accepted and
//! ignored: RFC 7662 §2.1 lets the server search all its token types); the brute-force guard
//! and the secret check, as at the token endpoint;
//! [`super::presented_token::authorize_presenting_client`] with [`PUBLIC_CLIENTS`]; then
//! [`introspection_response`] with the token opened by the gateway's keys.
//!
//! What a caller learns: a token is `active` only when this plugin would accept it on its own
//! routes (the same checks as verification: expiry, the credential and its secret epoch, the
//! consumer, the plugin binding or the namespaces the plugin lets in). Anything else — unknown,
//! expired, revoked by a secret rotation, bound to another plugin, issued in a namespace the plugin
//! does not accept, not a token at all — is `{"active": false}` and nothing more (RFC 7662 §2.2).

use super::presented_token::PublicClients;
use super::verify::{SnapshotIndex, check_claims};
use crate::snapshot::Plugin;
use crate::token::{Claims, TokenError};

/// Longest `token` parameter looked at; a longer one is not a token of this gateway.
pub const MAX_INTROSPECTED_TOKEN_LEN: usize = 4096;

/// Only a confidential client whose secret matched may introspect (RFC 7662 §2.1 requires
/// authorization); a public client gets 400 `unauthorized_client`.
pub const PUBLIC_CLIENTS: PublicClients =
    PublicClients::Refused("Public clients cannot introspect tokens");

/// Whether a (normalized) path is an introspection endpoint: it ends with `/oauth2/introspect`
/// or `/oauth2/introspect/`, under any route carrying the plugin (as the token endpoint).
pub fn is_introspection_endpoint(path: &str) -> bool {
    path.ends_with("/oauth2/introspect") || path.ends_with("/oauth2/introspect/")
}

/// The RFC 7662 §2.2 answer about a token `opened` by the gateway's keys (`None`: the token
/// was too long to try): `active`, `scope`, `client_id`, `username` (the consumer's), `sub`
/// (the authenticated user id, when the token has one), `token_type`, `exp` and `iat` for a
/// token `plugin` accepts at `now`; only
/// `{"active": false}` otherwise.
pub fn introspection_response(
    plugin: &Plugin,
    opened: Option<Result<Claims, TokenError>>,
    index: &SnapshotIndex,
    now: u64,
) -> Vec<u8> {
    let inactive = || br#"{"active":false}"#.to_vec();
    let Some(Ok(claims)) = opened else {
        return inactive();
    };
    let (issued_at, expires_at) = (claims.issued_at, claims.expires_at);
    let Ok(identity) = check_claims(plugin, claims, index, now) else {
        return inactive();
    };
    let mut body = serde_json::Map::new();
    body.insert("active".into(), true.into());
    if let Some(scope) = identity.scope.as_deref().filter(|s| !s.is_empty()) {
        body.insert("scope".into(), scope.into());
    }
    if let Some(credential) = identity.credential {
        body.insert("client_id".into(), credential.client_id.as_str().into());
    }
    if let Some(consumer) = identity.consumer {
        body.insert("username".into(), consumer.username.as_str().into());
    }
    if let Some(user) = identity.subject.as_deref() {
        body.insert("sub".into(), user.into());
    }
    body.insert("token_type".into(), "bearer".into());
    if expires_at != 0 {
        body.insert("exp".into(), expires_at.into());
    }
    body.insert("iat".into(), issued_at.into());
    serde_json::to_vec(&body).unwrap_or_else(|_| inactive())
}

#[cfg(test)]
#[path = "introspect_endpoint_tests.rs"]
mod tests;
