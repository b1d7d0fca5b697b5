//! The `oauth2` plugin's endpoints beside the token endpoint: Kong's authorization endpoint
//! (`POST …/oauth2/authorize`, which issues authorization codes), introspection
//! (`POST …/oauth2/introspect`, RFC 7662), revocation (`POST …/oauth2/revoke`, RFC 7009) and
//! the authorization server metadata
//! (`GET …/.well-known/oauth-authorization-server`, RFC 8414), and the JWT access tokens'
//! keys (`GET …/.well-known/jwks.json`, `tokenFormat: jwt`). The decisions are core's; client
//! authentication is the token endpoint's (same brute-force guard, same secret-check pool).

use http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, HeaderValue, PRAGMA};
use http::{Method, Request, Response, StatusCode};
use tollgate_core::oauth::authorize_endpoint::{
    AuthorizeResponse, Refused, authorize as decide_authorize, code_response, error_response,
    parse_authorize_request,
};
use tollgate_core::oauth::code::{CodeClaims, redirect_uri_hash};
use tollgate_core::oauth::introspect_endpoint::{
    self, MAX_INTROSPECTED_TOKEN_LEN, introspection_response,
};
use tollgate_core::oauth::presented_token::{
    PresentedToken, PublicClients, authorize_presenting_client, parse_presented_token,
};
use tollgate_core::oauth::refresh::{RefreshClaims, revocation_of};
use tollgate_core::oauth::revoke_endpoint::{
    self, MAX_REVOKED_TOKEN_LEN, Revocation, revocation_decision, store_full,
};
use tollgate_core::oauth::{CredentialEntry, JSON_CONTENT_TYPE, metadata};
use tollgate_core::revocation::RevokedId;
use tollgate_core::snapshot::{OAuth2Config, Plugin};
use tollgate_core::token::{TokenError, plugin_binding};

use super::context::Ctx;
use super::metrics::Refusal;
use super::state::Compiled;
use super::token_endpoint::{
    authenticate_client, client_address, issuer_of, read_body, refuse, simple, view,
};
use crate::shared::clock::unix_now;
use crate::upstream::ProxyBody;

/// Serves `POST …/oauth2/authorize` (`enableAuthorizationCode`): the application's backend
/// presents the provision key and the user it authenticated; the answer is the client's
/// redirect URI with a sealed, single-use code (or with the error, once the client is known).
pub async fn authorize(
    ctx: &Ctx,
    compiled: &Compiled,
    plugin: &Plugin,
    config: &OAuth2Config,
    request: Request<ProxyBody>,
) -> Response<ProxyBody> {
    let (parts, body) = match read_body(ctx, request).await {
        Ok(read) => read,
        Err(error) => return refuse(ctx, &error),
    };
    let asked = match parse_authorize_request(config, &view(ctx, config, &parts, &body)) {
        Ok(asked) => asked,
        Err(error) => return refuse(ctx, &error),
    };
    let entry = asked
        .client_id
        .as_deref()
        .and_then(|id| compiled.index.credential_for_plugin(id, plugin));
    let uuid = entry.and_then(|e| tollgate_core::ids::uuid_bytes(&e.credential.id));
    // A credential whose id is not a UUID can get no token: it gets no code either.
    let (entry, uuid) = match (entry, uuid) {
        (Some(entry), Some(uuid)) => (Some(entry), uuid),
        _ => (None, [0; 16]),
    };
    let authorized = match decide_authorize(config, &asked, entry.map(|e| e.credential)) {
        Ok(authorized) => authorized,
        Err(Refused::Plain(error)) => return refuse(ctx, &error),
        Err(Refused::Redirect(redirected)) => {
            ctx.state
                .metrics()
                .token_refused(Refusal::from_code(redirected.error.error));
            return answer(error_response(&redirected, asked.state.as_deref()));
        }
    };
    let Some(entry) = entry else {
        return refuse(
            ctx,
            &simple(400, "invalid_client", "Invalid client authentication"),
        );
    };
    let mut random = [0u8; 40];
    if getrandom::getrandom(&mut random).is_err() {
        return refuse(
            ctx,
            &simple(500, "server_error", "The code could not be issued"),
        );
    }
    let (id, nonce) = random.split_at(16);
    let now = unix_now();
    let claims = CodeClaims {
        id: id.try_into().unwrap_or_default(),
        plugin: plugin_binding(&plugin.id, &plugin.incarnation),
        credential_id: uuid,
        epoch: entry.epoch(),
        issued_at: now,
        expires_at: now.saturating_add(config.authorization_code_ttl),
        redirect_uri_hash: redirect_uri_hash(&authorized.redirect_uri),
        scope: authorized.scope.unwrap_or_default(),
        authenticated_userid: asked.authenticated_userid.clone(),
        challenge: authorized.challenge,
    };
    let sealed = nonce
        .try_into()
        .ok()
        .and_then(|nonce| claims.seal(&compiled.keys, nonce).ok());
    let Some(code) = sealed else {
        tracing::warn!("could not issue an authorization code");
        return refuse(
            ctx,
            &simple(500, "server_error", "The code could not be issued"),
        );
    };
    answer(code_response(
        &authorized.redirect_uri,
        &code,
        asked.state.as_deref(),
    ))
}

/// An authorization endpoint's answer, with the token endpoint's no-store headers.
fn answer(response: AuthorizeResponse) -> Response<ProxyBody> {
    let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::BAD_REQUEST);
    json(status, response.body)
}

/// Reads a request presenting a token (introspection, revocation), parses it and authenticates
/// its client as the token endpoint does (same brute-force guard, same secret check), public
/// clients as `public` says: the request and the client's credential, or the refusal to answer.
async fn presented_token<'c>(
    ctx: &Ctx,
    compiled: &'c Compiled,
    plugin: &Plugin,
    config: &OAuth2Config,
    request: Request<ProxyBody>,
    public: PublicClients,
) -> Result<(PresentedToken, CredentialEntry<'c>, [u8; 16]), Response<ProxyBody>> {
    let address = client_address(ctx, request.headers());
    let (parts, body) = read_body(ctx, request)
        .await
        .map_err(|error| refuse(ctx, &error))?;
    let asked = parse_presented_token(config, &view(ctx, config, &parts, &body))
        .map_err(|error| refuse(ctx, &error))?;
    let (entry, uuid) = authenticate_client(
        ctx,
        compiled,
        plugin,
        &address,
        &asked.client_id,
        asked.client_secret(),
        |credential, secret_ok| authorize_presenting_client(&asked, credential, secret_ok, public),
    )
    .await?;
    Ok((asked, entry, uuid))
}

/// Serves `POST …/oauth2/introspect`: the caller authenticates as a confidential client of the
/// plugin; the answer says whether the plugin would accept the token (`{"active": false}` for
/// anything else).
pub async fn introspect(
    ctx: &Ctx,
    compiled: &Compiled,
    plugin: &Plugin,
    config: &OAuth2Config,
    request: Request<ProxyBody>,
) -> Response<ProxyBody> {
    let public = introspect_endpoint::PUBLIC_CLIENTS;
    let asked = match presented_token(ctx, compiled, plugin, config, request, public).await {
        Ok((asked, _, _)) => asked,
        Err(response) => return response,
    };
    let token = asked.token();
    let now = unix_now();
    let opened = (token.len() <= MAX_INTROSPECTED_TOKEN_LEN).then(|| {
        let (claims, id) = compiled.keys.open_with_id(token)?;
        if ctx
            .state
            .revocations()
            .is_revoked(&RevokedId::token(id), now)
        {
            return Err(TokenError::Revoked);
        }
        Ok(claims)
    });
    let answer = introspection_response(plugin, opened, &compiled.index, now);
    json(StatusCode::OK, answer)
}

/// Serves `POST …/oauth2/revoke` (RFC 7009): the caller authenticates as a client of the
/// plugin; a live token issued to it is recorded in the revocation store until it expires, and
/// refused from then on (on this proxy at once, on the others once the controller has passed it
/// on). 200 with an empty body, also for unknown tokens; 503 when the store is full.
pub async fn revoke(
    ctx: &Ctx,
    compiled: &Compiled,
    plugin: &Plugin,
    config: &OAuth2Config,
    request: Request<ProxyBody>,
) -> Response<ProxyBody> {
    let public = revoke_endpoint::PUBLIC_CLIENTS;
    let (asked, caller, caller_id) =
        match presented_token(ctx, compiled, plugin, config, request, public).await {
            Ok((asked, entry, uuid)) => (asked, entry.credential, uuid),
            Err(response) => return response,
        };
    let token = asked.token();
    let now = unix_now();
    // A refresh token revokes its whole family.
    let family = (token.len() <= MAX_REVOKED_TOKEN_LEN)
        .then(|| RefreshClaims::open(&compiled.keys, token))
        .filter(Result::is_ok)
        .map(|opened| revocation_of(config, plugin, caller_id, opened, now));
    let decision = match family {
        Some(Ok(Some((id, expires_at)))) => Ok(Revocation::Revoke { id, expires_at }),
        Some(Ok(None)) => Ok(Revocation::Nothing),
        Some(Err(error)) => Err(error),
        None => {
            let opened =
                (token.len() <= MAX_REVOKED_TOKEN_LEN).then(|| compiled.keys.open_with_id(token));
            revocation_decision(plugin, caller, opened, &compiled.index, now)
        }
    };
    match decision {
        Ok(Revocation::Nothing) => json(StatusCode::OK, Vec::new()),
        Ok(Revocation::Revoke { id, expires_at }) => {
            match ctx.state.revocations().insert(id, expires_at, now) {
                Ok(_) => {
                    tracing::info!(client_id = %caller.client_id, "token revoked");
                    json(StatusCode::OK, Vec::new())
                }
                Err(full) => {
                    tracing::warn!(client_id = %caller.client_id, error = %full, "revocation refused: the store is full");
                    refuse(ctx, &store_full())
                }
            }
        }
        Err(error) => refuse(ctx, &error),
    }
}

/// Serves `GET …/.well-known/oauth-authorization-server` under the route's token endpoint
/// prefix: the issuer is the scheme and `Host` the client used, and the prefix.
pub fn metadata(
    ctx: &Ctx,
    config: &OAuth2Config,
    request: &Request<ProxyBody>,
    prefix: &str,
) -> Response<ProxyBody> {
    if request.method() != Method::GET {
        let mut response = refuse(
            ctx,
            &simple(
                405,
                "invalid_request",
                "The metadata document is read with GET",
            ),
        );
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET"));
        return response;
    }
    let issuer = issuer_of(ctx, request, prefix);
    let Some(issuer) = issuer else {
        return refuse(
            ctx,
            &simple(400, "invalid_request", "The Host header is not a host name"),
        );
    };
    let mut response = json(StatusCode::OK, metadata::metadata_document(config, &issuer));
    // Public and the same for every client of this host: caches may keep it a while.
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("max-age=300"));
    headers.remove(PRAGMA);
    response
}

/// Serves `GET …/.well-known/jwks.json` of a plugin issuing JWTs: the public keys of the
/// gateway's signing keys (the active one first; keys being rotated out stay listed while
/// their tokens may still be presented).
pub fn jwks(ctx: &Ctx, compiled: &Compiled, request: &Request<ProxyBody>) -> Response<ProxyBody> {
    if request.method() != Method::GET {
        let mut response = refuse(
            ctx,
            &simple(405, "invalid_request", "The key set is read with GET"),
        );
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET"));
        return response;
    }
    let mut response = json(StatusCode::OK, compiled.keys.jwks());
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("max-age=300"));
    headers.remove(PRAGMA);
    response
}

/// A JSON answer with the token endpoint's no-store headers.
fn json(status: StatusCode, body: Vec<u8>) -> Response<ProxyBody> {
    let mut response = Response::new(ProxyBody::full(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(JSON_CONTENT_TYPE));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    response
}
