//! The introspection endpoint (`POST …/oauth2/introspect`, RFC 7662) of an `oauth2` plugin:
//! a resource server asks whether a token of this gateway is active, authenticating as a
//! confidential client of the plugin.
//!
//! The proxy calls, in order: [`parse_introspection_request`] (method, HTTPS, parameters, client
//! authentication syntax, `token`); the brute-force guard and the secret check, as at the token
//! endpoint; [`authorize_introspecting_client`]; then [`introspection_response`] with the token
//! opened by the gateway's keys.
//!
//! What a caller learns: a token is `active` only when this plugin would accept it on its own
//! routes (the same checks as verification: expiry, the credential and its secret epoch, the
//! consumer, the plugin binding or the namespaces the plugin lets in). Anything else — unknown,
//! expired, revoked by a secret rotation, bound to another plugin, issued in a namespace the plugin
//! does not accept, not a token at all — is `{"active": false}` and nothing more (RFC 7662 §2.2).

use super::token_endpoint::{
    ClientAuthMethod, TokenRequestView, check_https, check_method, client_authentication,
    collect_params, invalid_client,
};
use super::verify::{SnapshotIndex, check_claims};
use super::{OAuthError, invalid_request, token_error};
use crate::snapshot::{ClientType, Credential, OAuth2Config, Plugin};
use crate::token::{Claims, TokenError};

/// Longest `token` parameter looked at; a longer one is not a token of this gateway.
pub const MAX_INTROSPECTED_TOKEN_LEN: usize = 4096;

/// Whether a (normalized) path is an introspection endpoint: it ends with `/oauth2/introspect`
/// or `/oauth2/introspect/`, under any route carrying the plugin (as the token endpoint).
pub fn is_introspection_endpoint(path: &str) -> bool {
    path.ends_with("/oauth2/introspect") || path.ends_with("/oauth2/introspect/")
}

/// A syntactically valid introspection request. `Debug` prints neither the secret nor the token.
#[derive(Clone, PartialEq, Eq)]
pub struct IntrospectionRequest {
    pub client_id: String,
    client_secret: Option<String>,
    pub auth_method: ClientAuthMethod,
    token: String,
}

impl std::fmt::Debug for IntrospectionRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntrospectionRequest")
            .field("client_id", &self.client_id)
            .field("auth_method", &self.auth_method)
            .finish_non_exhaustive()
    }
}

impl IntrospectionRequest {
    /// The presented client secret, to verify against the credential's verifier.
    pub fn client_secret(&self) -> Option<&[u8]> {
        self.client_secret.as_deref().map(str::as_bytes)
    }

    /// The token asked about.
    pub fn token(&self) -> &str {
        &self.token
    }
}

/// Checks everything that needs no credential, as the token endpoint does (405 for another
/// method than `POST`, HTTPS, a bounded form or JSON body, no secret in the query, one client
/// authentication method), then: a `token` parameter (400 `invalid_request` "Missing token
/// parameter") and a client id (400 `invalid_client`, or 401 with a Basic challenge).
/// `token_type_hint` is accepted and ignored (RFC 7662 §2.1: the server may search all its
/// token types; this one has one).
pub fn parse_introspection_request(
    config: &OAuth2Config,
    req: &TokenRequestView<'_>,
) -> Result<IntrospectionRequest, OAuthError> {
    check_method(config, req)?;
    check_https(config, req)?;
    let mut params = collect_params(req)?;
    let (client_id, client_secret, auth_method) = client_authentication(req, &mut params)?;
    let Some(token) = params.take("token") else {
        return Err(invalid_request("Missing token parameter"));
    };
    let Some(client_id) = client_id else {
        return Err(invalid_client(auth_method));
    };
    Ok(IntrospectionRequest {
        client_id,
        client_secret,
        auth_method,
        token,
    })
}

/// Only a confidential client whose secret matched may introspect (RFC 7662 §2.1 requires
/// authorization): no credential or a wrong secret → `invalid_client` (401 with a Basic
/// challenge after Basic, else 400, as at the token endpoint); a public client → 400
/// `unauthorized_client`.
pub fn authorize_introspecting_client(
    req: &IntrospectionRequest,
    credential: Option<&Credential>,
    secret_ok: bool,
) -> Result<(), OAuthError> {
    let Some(credential) = credential else {
        return Err(invalid_client(req.auth_method));
    };
    match credential.client_type {
        ClientType::Public => Err(token_error(
            400,
            "unauthorized_client",
            "Public clients cannot introspect tokens",
        )),
        ClientType::Confidential if req.client_secret.is_some() && secret_ok => Ok(()),
        ClientType::Confidential => Err(invalid_client(req.auth_method)),
    }
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
