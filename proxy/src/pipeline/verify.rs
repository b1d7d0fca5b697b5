//! Token verification on a protected route: find the token where the plugin looks for it, open
//! it (through the worker's cache), authenticate it, count the outcome.

use http::Request;
use tollgate_core::jwt::{JwtClaims, JwtError, JwtKeys, JwtPolicy};
use tollgate_core::oauth::{
    self, Identity, OAuthError, Openers, ParamSource, RequestView, TokenLocation, TokenSource,
};
use tollgate_core::revocation::RevokedId;
use tollgate_core::snapshot::Plugin;
use tollgate_core::token::TokenError;

use super::context::Ctx;
use super::metrics::Verification;
use super::revocations::Revocations;
use super::state::Compiled;
use crate::shared::clock::unix_now;
use crate::upstream::ProxyBody;

/// A request whose token was accepted (or whose plugin let an anonymous caller in).
pub struct Verified<'i> {
    pub identity: Identity<'i>,
    /// Where the token was; `None` when there was none.
    pub location: Option<TokenLocation>,
}

/// Whether the token can only be in the body under `plugin`, so the body must be read first.
pub fn token_may_be_in_body(plugin: &Plugin, request: &Request<ProxyBody>) -> bool {
    oauth::needs_body(ParamSource::of(&plugin.config), &view(request, None))
}

/// Finds, opens and authenticates the request's token under `plugin` (`body`: the buffered
/// body, when it was read), and counts the outcome. Refused: the RFC 6750 error to answer.
pub fn verify<'i>(
    ctx: &Ctx,
    compiled: &'i Compiled,
    plugin: &Plugin,
    request: &Request<ProxyBody>,
    body: Option<&[u8]>,
) -> Result<Verified<'i>, OAuthError> {
    let metrics = ctx.state.metrics();
    let found = oauth::extract_token(ParamSource::of(&plugin.config), &view(request, body));
    let (token, location) = match found {
        TokenSource::Missing => (None, None),
        TokenSource::Found { token, location } => (Some(token), Some(location)),
    };
    let now = unix_now();
    let generation = compiled.generation;
    let revocations = ctx.state.revocations();
    let mut kong = |token: &str| {
        let (claims, id) = ctx.local.tokens.open(&compiled.keys, generation, token)?;
        if revocations.is_revoked(&RevokedId::token(id), now) {
            return Err(TokenError::Revoked);
        }
        Ok(claims)
    };
    let mut jwt = |token: &str, keys: &JwtKeys, policy: &JwtPolicy<'_>| {
        let verified = ctx
            .local
            .jwts
            .verify(generation, &plugin.id, keys, policy, token, now);
        if verified == Err(JwtError::UnknownKey) {
            // Perhaps the issuer rotated its keys: the controller fetches them again.
            ctx.state.jwks_unknown_key(&plugin.id);
        }
        let claims = verified?;
        if jwt_revoked(revocations, &claims, now) {
            return Err(JwtError::Revoked);
        }
        Ok(claims)
    };
    let mut introspected = |token: &str| ctx.state.introspection.get(&plugin.id, token).flatten();
    let openers = Openers {
        kong: &mut kong,
        jwt: &mut jwt,
        introspected: &mut introspected,
    };
    match oauth::authenticate_presented(plugin, token.as_deref(), &compiled.index, now, openers) {
        Ok(identity) => {
            metrics.verification(if identity.anonymous {
                Verification::Anonymous
            } else {
                Verification::Ok
            });
            Ok(Verified { identity, location })
        }
        Err(error) => {
            metrics.verification(if location.is_some() {
                Verification::Invalid
            } else {
                Verification::Missing
            });
            Err(error)
        }
    }
}

/// For a plugin with the `introspection` method: asks the provider about the request's token
/// (unless its answer is cached), so that [`verify`] can decide without waiting.
pub async fn prefetch_introspection(
    ctx: &Ctx,
    plugin: &Plugin,
    request: &Request<ProxyBody>,
    body: Option<&[u8]>,
) {
    let tollgate_core::snapshot::PluginConfig::OpenIdConnect(config) = &plugin.config else {
        return;
    };
    let Some(introspection) = &config.introspection else {
        return;
    };
    let token = match oauth::extract_token(ParamSource::of(&plugin.config), &view(request, body)) {
        TokenSource::Found { token, .. } => token,
        TokenSource::Missing => return,
    };
    super::introspection::prefetch(
        &ctx.state.introspection,
        &ctx.local.upstreams,
        &plugin.id,
        introspection,
        &token,
    )
    .await;
}

fn view<'r>(request: &'r Request<ProxyBody>, body: Option<&'r [u8]>) -> RequestView<'r> {
    RequestView {
        method: request.method().as_str(),
        headers: request.headers(),
        query: request.uri().query(),
        body,
    }
}

/// Whether a JWT accepted by the `bearer` method names a revoked token: the `jti` of a JWT this
/// gateway issued (`tokenFormat: jwt`) is the hex of the id its revocation names. One atomic
/// load while nothing is revoked. Any other issuer's `jti` is looked up the same way: a match
/// can only refuse a token, never admit one.
fn jwt_revoked(revocations: &Revocations, claims: &JwtClaims, now: u64) -> bool {
    if revocations.none() {
        return false;
    }
    claims
        .claim("jti")
        .and_then(token_id_of_jti)
        .is_some_and(|id| revocations.is_revoked(&RevokedId::token(id), now))
}

/// The 16-byte token id a gateway JWT's `jti` (32 lowercase hex digits) encodes.
fn token_id_of_jti(jti: &str) -> Option<[u8; 16]> {
    let digits = jti.as_bytes();
    if digits.len() != 32 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut id = [0u8; 16];
    for (byte, pair) in id.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(id)
}
