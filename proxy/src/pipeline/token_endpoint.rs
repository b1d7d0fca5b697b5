//! `POST …/oauth2/token` on routes carrying the `oauth2` plugin: every grant (client
//! credentials, password, authorization code, refresh token).
//! The decisions are core's; this module reads the bounded body, verifies the client secret on
//! the verification pool, mints the token and counts the outcome.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use http::request::Parts;
use http::{Method, Request, Response, StatusCode};
use tollgate_core::access_jwt::JwtFields;
use tollgate_core::oauth::code::CodeClaims;
use tollgate_core::oauth::refresh::{
    RefreshClaims, check_refresh, family_expiry, invalid_refresh_token, issues_refresh_tokens,
};
use tollgate_core::oauth::revoke_endpoint::store_full;
use tollgate_core::oauth::token_endpoint::{check_code, claims_for};
use tollgate_core::oauth::{
    self, CredentialEntry, ForwardedProto, GrantType, JSON_CONTENT_TYPE, OAuthError, TokenRequest,
    TokenRequestView,
};
use tollgate_core::revocation::{Insert, RevokedId};
use tollgate_core::secret::Verifier;
use tollgate_core::snapshot::{Credential, OAuth2Config, Plugin, TokenFormat};
use tollgate_core::token::Claims;

use super::context::Ctx;
use super::metrics::Refusal;
use super::secret_check;
use super::state::Compiled;
use crate::shared::body_limit::{ReadError, read_bounded};
use crate::shared::clock::unix_now;
use crate::shared::respond::oauth_error;
use crate::upstream::{ProxyBody, X_FORWARDED_PROTO};

/// The error the token endpoint answers for a body over the limit.
fn too_large() -> OAuthError {
    OAuthError {
        status: 413,
        error: "invalid_request",
        description: format!(
            "The request body is larger than {} bytes",
            oauth::MAX_TOKEN_BODY_LEN
        ),
        www_authenticate: None,
        token_endpoint: true,
    }
}

pub(super) fn simple(status: u16, error: &'static str, description: &str) -> OAuthError {
    OAuthError {
        status,
        error,
        description: description.to_owned(),
        www_authenticate: None,
        token_endpoint: true,
    }
}

/// The client's address for the brute-force guard: the peer's, or from a trusted proxy the
/// last address it appended to `X-Forwarded-For` (the one it received the request from).
pub(super) fn client_address(ctx: &Ctx, headers: &http::HeaderMap) -> String {
    let peer = || String::from_utf8_lossy(ctx.peer.ip.as_bytes()).into_owned();
    if !ctx.peer.trusted {
        return peer();
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .next_back()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .map(str::trim)
        .filter(|a| !a.is_empty() && a.len() <= 64)
        .map_or_else(peer, str::to_owned)
}

/// `X-Forwarded-Proto` as core wants it: believed only from a trusted peer.
pub(super) fn forwarded_proto(ctx: &Ctx, headers: &http::HeaderMap) -> ForwardedProto {
    if !ctx.peer.trusted {
        return ForwardedProto::Absent;
    }
    let mut values = headers.get_all(X_FORWARDED_PROTO).iter();
    match (values.next(), values.next()) {
        (Some(_), Some(_)) => ForwardedProto::Multiple,
        (Some(v), None) if v.as_bytes().eq_ignore_ascii_case(b"https") => ForwardedProto::Https,
        _ => ForwardedProto::Absent,
    }
}

pub(super) fn refuse(ctx: &Ctx, error: &OAuthError) -> Response<ProxyBody> {
    ctx.state
        .metrics()
        .token_refused(Refusal::from_code(error.error));
    oauth_error(error)
}

/// Longest a refusal by the brute-force guard is held before it is sent.
pub const TARPIT: std::time::Duration = std::time::Duration::from_millis(500);

/// 429 for a client id refused by the brute-force guard: no secret is verified.
async fn throttled(ctx: &Ctx, wait: std::time::Duration) -> Response<ProxyBody> {
    // Tarpit: the refusal is held (a timer, no CPU) for part of the lockout, so a client
    // ignoring Retry-After gets at most a few refusals per second per connection instead of
    // costing a serving thread thousands of responses.
    tokio::time::sleep(wait.min(TARPIT)).await;
    ctx.state.metrics().token_refused(Refusal::Throttled);
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let mut response = oauth_error(&simple(
        429,
        "invalid_request",
        "Too many failed authentications for this client; retry later",
    ));
    response
        .headers_mut()
        .insert(http::header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    response
}

/// The authorization server's issuer identifier for a request under `prefix`: the scheme the
/// client used (TLS here, or `X-Forwarded-Proto: https` from a trusted peer), the `Host` it
/// sent, and the prefix; `None` when the host is not a host name.
pub(super) fn issuer_of(ctx: &Ctx, request: &Request<ProxyBody>, prefix: &str) -> Option<String> {
    let authority = request
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.parse::<http::uri::Authority>().ok())
        .or_else(|| request.uri().authority().cloned())?;
    let https = ctx.https || forwarded_proto(ctx, request.headers()) == ForwardedProto::Https;
    let host = authority.host().to_ascii_lowercase();
    oauth::metadata::issuer(https, &host, authority.port_u16(), prefix)
}

/// Serves `POST …/oauth2/token` (`prefix` is what precedes `/oauth2/token`): reads and parses
/// the request, admits the client id past the brute-force guard, checks the secret and issues
/// the token. Every refusal is counted.
pub async fn serve(
    ctx: &Ctx,
    compiled: &Compiled,
    plugin: &Plugin,
    config: &OAuth2Config,
    request: Request<ProxyBody>,
    prefix: &str,
) -> Response<ProxyBody> {
    let address = client_address(ctx, request.headers());
    // A JWT names its issuer; an opaque token does not need one.
    let issuer = match config.token_format {
        TokenFormat::Opaque => None,
        TokenFormat::Jwt => match issuer_of(ctx, &request, prefix) {
            Some(issuer) => Some(issuer),
            None => {
                let description = "The Host header is not a host name";
                return refuse(ctx, &simple(400, "invalid_request", description));
            }
        },
    };
    let token_request = match read_request(ctx, config, request).await {
        Ok(r) => r,
        Err(error) => return refuse(ctx, &error),
    };

    let authenticated = authenticate_client(
        ctx,
        compiled,
        plugin,
        &address,
        &token_request.client_id,
        token_request.client_secret(),
        |credential, secret_ok| {
            oauth::authorize_client(&token_request, credential, secret_ok)?;
            oauth::token_endpoint::check_provision(config, &token_request)
        },
    );
    let (entry, uuid) = match authenticated.await {
        Ok(authenticated) => authenticated,
        Err(response) => return response,
    };
    let now = unix_now();
    if token_request.grant_type == GrantType::RefreshToken {
        return match refresh(
            ctx,
            compiled,
            plugin,
            config,
            &token_request,
            entry,
            uuid,
            now,
        ) {
            Ok((claims, refresh_token)) => issue(
                ctx,
                compiled,
                config,
                &token_request,
                &claims,
                Some(&refresh_token),
                issuer.as_deref(),
            ),
            Err(error) => refuse(ctx, &error),
        };
    }
    let (scope, user) = if token_request.grant_type == GrantType::AuthorizationCode {
        match redeem_code(
            ctx,
            compiled,
            plugin,
            config,
            &token_request,
            entry,
            uuid,
            now,
        ) {
            Ok(granted) => granted,
            Err(error) => return refuse(ctx, &error),
        }
    } else {
        if let Err(error) = tollgate_core::oauth::token_endpoint::check_credential_scope(
            &token_request,
            entry.credential,
        ) {
            return refuse(ctx, &error);
        }
        (
            token_request.scope.clone(),
            token_request.authenticated_userid.clone(),
        )
    };
    let claims = claims_for(
        plugin,
        config,
        uuid,
        entry.epoch(),
        scope.as_deref(),
        user.as_deref(),
        now,
    );
    // Kong issues a refresh token with the access token of the password and code grants.
    let refresh_token = match token_request.grant_type {
        GrantType::Password | GrantType::AuthorizationCode if issues_refresh_tokens(config) => {
            let first = random_id().map(|id| {
                RefreshClaims::first(
                    plugin,
                    config,
                    uuid,
                    entry.epoch(),
                    scope.as_deref(),
                    user.as_deref(),
                    now,
                    id,
                )
            });
            match first.and_then(|first| seal_refresh(compiled, &first)) {
                Some(token) => Some(token),
                None => return refuse(ctx, &not_issued()),
            }
        }
        _ => None,
    };
    issue(
        ctx,
        compiled,
        config,
        &token_request,
        &claims,
        refresh_token.as_deref(),
        issuer.as_deref(),
    )
}

fn not_issued() -> OAuthError {
    tracing::warn!("could not issue a token");
    simple(500, "server_error", "The token could not be issued")
}

fn random_id() -> Option<[u8; 16]> {
    let mut id = [0u8; 16];
    getrandom::getrandom(&mut id).ok().map(|()| id)
}

fn seal_refresh(compiled: &Compiled, claims: &RefreshClaims) -> Option<String> {
    let mut nonce = [0u8; 24];
    getrandom::getrandom(&mut nonce).ok()?;
    claims.seal(&compiled.keys, nonce).ok()
}

/// The refresh token grant: checks the presented token (core's rules) and its family, then,
/// unless `reuseRefreshToken`, rotates it: the presented token's id goes into the revocation
/// store (single use, carried to every replica) and a new token of the same family is issued.
/// A token presented again after its rotation revokes its whole family. The access token's
/// claims and the refresh token to answer, or the refusal.
#[allow(clippy::too_many_arguments)]
fn refresh(
    ctx: &Ctx,
    compiled: &Compiled,
    plugin: &Plugin,
    config: &OAuth2Config,
    token_request: &TokenRequest,
    entry: CredentialEntry<'_>,
    uuid: [u8; 16],
    now: u64,
) -> Result<(Claims, String), OAuthError> {
    let presented = token_request.refresh_token();
    let opened = presented.map(|token| RefreshClaims::open(&compiled.keys, token));
    let claims = check_refresh(
        plugin,
        token_request.auth_method,
        uuid,
        entry.epoch(),
        opened,
        now,
    )?;
    let store = ctx.state.revocations();
    if store.is_revoked(&claims.family_id(), now) {
        return Err(invalid_refresh_token());
    }
    let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    let access = claims_for(
        plugin,
        config,
        uuid,
        entry.epoch(),
        some(&claims.scope).as_deref(),
        some(&claims.authenticated_userid).as_deref(),
        now,
    );
    if config.reuse_refresh_token {
        // Kong's option: the same refresh token keeps working until it expires.
        let same = presented
            .map(str::to_owned)
            .ok_or_else(invalid_refresh_token)?;
        return Ok((access, same));
    }
    match store.insert(claims.used_id(), claims.expires_at, now) {
        Ok(Insert::New(_)) => {}
        Ok(Insert::Known) => {
            // Reuse: whoever holds the family's newest token or this old one is not who it
            // was issued to. Every token of the family is refused from now on.
            tracing::warn!(
                credential = %entry.credential.object,
                "a rotated refresh token was presented again; its family is revoked"
            );
            let family_exp = family_expiry(config, &claims, now);
            if let Err(full) = store.insert(claims.family_id(), family_exp, now) {
                tracing::warn!(%full, "a refresh-token family could not be revoked");
                return Err(store_full());
            }
            return Err(invalid_refresh_token());
        }
        Ok(Insert::Expired) => return Err(invalid_refresh_token()),
        Err(full) => {
            tracing::warn!(%full, "refresh tokens are refused until the store has room");
            return Err(store_full());
        }
    }
    let next = random_id()
        .map(|id| claims.rotated(config, now, id))
        .and_then(|next| seal_refresh(compiled, &next))
        .ok_or_else(not_issued)?;
    Ok((access, next))
}

/// The authorization code grant: checks the presented code (core's rules), then records it as
/// redeemed in the revocation store; a code redeemed before is refused. The granted scope and
/// user, or the refusal to answer.
#[allow(clippy::too_many_arguments)]
fn redeem_code(
    ctx: &Ctx,
    compiled: &Compiled,
    plugin: &Plugin,
    config: &OAuth2Config,
    token_request: &TokenRequest,
    entry: CredentialEntry<'_>,
    uuid: [u8; 16],
    now: u64,
) -> Result<(Option<String>, Option<String>), OAuthError> {
    let opened = token_request
        .code()
        .map(|code| CodeClaims::open(&compiled.keys, code));
    let code = check_code(
        config,
        plugin,
        token_request,
        entry.credential,
        uuid,
        entry.epoch(),
        opened,
        now,
    )?;
    // Single use: the code's id goes into the revocation store, which carries it to every
    // other replica (and keeps it across a restart in standalone mode) until the code expires.
    let consumed = ctx
        .state
        .revocations()
        .insert(RevokedId::code(code.id), code.expires_at, now);
    match consumed {
        Ok(Insert::New(_)) => {}
        Ok(Insert::Known) => {
            tracing::warn!(
                credential = %entry.credential.object,
                "an authorization code was presented again; refused"
            );
            return Err(simple(400, "invalid_grant", "Invalid code"));
        }
        Ok(Insert::Expired) => return Err(simple(400, "invalid_grant", "Invalid code")),
        Err(full) => {
            tracing::warn!(%full, "authorization codes are refused until the store has room");
            return Err(store_full());
        }
    }
    let some = |s: String| (!s.is_empty()).then_some(s);
    Ok((some(code.scope), some(code.authenticated_userid)))
}

/// Authenticates the client at one of the plugin's endpoints: admits `client_id` past the
/// brute-force guard, checks the `presented` secret on the secret-check pool and lets
/// `authorize` (core's rule for the endpoint) decide. Every refusal is counted and answered.
pub(super) async fn authenticate_client<'c>(
    ctx: &Ctx,
    compiled: &'c Compiled,
    plugin: &Plugin,
    address: &str,
    client_id: &str,
    presented: Option<&[u8]>,
    authorize: impl FnOnce(Option<&Credential>, bool) -> Result<(), OAuthError>,
) -> Result<(CredentialEntry<'c>, [u8; 16]), Response<ProxyBody>> {
    // A client id names a credential of the plugin's namespace, or of another namespace the
    // plugin accepts: never one of a namespace that has not been let in.
    let entry = compiled.index.credential_for_plugin(client_id, plugin);
    // Admission comes before any secret is checked (even against the cache). Attempts beyond
    // the free budget wait, bounded, for those in flight; a locked-out client id is refused.
    // The handle counts this attempt as a failure on every path that does not mark it a success.
    // Client ids are unique per namespace, so the guard counts them per namespace: guesses at
    // one tenant's client id never lock out another tenant's client of the same id.
    let guarded = format!(
        "{}/{}",
        entry.map_or_else(|| plugin.namespace(), |e| e.credential.namespace()),
        client_id
    );
    let attempt = match ctx
        .state
        .brute_force
        .admit_waiting(&guarded, address, entry.is_some())
        .await
    {
        Ok(attempt) => attempt,
        Err(wait) => return Err(throttled(ctx, wait).await),
    };
    let uuid = entry.and_then(|e| tollgate_core::ids::uuid_bytes(&e.credential.id));
    // A credential whose id is not a UUID can get no token: its secret is not even checked.
    let checked = entry.filter(|_| uuid.is_some());
    let secret_ok = match secret_matches(ctx, checked, presented).await {
        Ok(ok) => ok,
        Err(Overloaded) => return Err(overloaded(ctx)),
    };
    if let Err(error) = authorize(entry.map(|e| e.credential), secret_ok) {
        return Err(refuse(ctx, &error));
    }
    attempt.succeeded();
    let (Some(entry), Some(uuid)) = (entry, uuid) else {
        return Err(refuse(
            ctx,
            &simple(400, "invalid_client", "Invalid client authentication"),
        ));
    };
    Ok((entry, uuid))
}

/// Reads a `POST`'s body (within the token endpoint's limit) and parses the token request.
async fn read_request(
    ctx: &Ctx,
    config: &OAuth2Config,
    request: Request<ProxyBody>,
) -> Result<TokenRequest, OAuthError> {
    let (parts, body) = read_body(ctx, request).await?;
    oauth::parse_token_request(config, &view(ctx, config, &parts, &body))
}

/// Reads a `POST`'s body within the token endpoint's limit (other methods: no body).
pub(super) async fn read_body(
    ctx: &Ctx,
    request: Request<ProxyBody>,
) -> Result<(Parts, Bytes), OAuthError> {
    let (parts, body) = request.into_parts();
    let body = if parts.method == Method::POST {
        let budget = ctx.state.body_budget();
        match read_bounded(body, oauth::MAX_TOKEN_BODY_LEN, &budget, ctx.peer_ip).await {
            Ok(bytes) => bytes,
            Err(ReadError::TooLarge { .. }) => return Err(too_large()),
            Err(ReadError::Read(_)) => {
                let description = "The request body could not be read";
                return Err(simple(400, "invalid_request", description));
            }
            Err(ReadError::Timeout) => {
                let description = "The request body did not arrive in time";
                return Err(simple(408, "invalid_request", description));
            }
            Err(ReadError::Busy) => {
                let description = "The server is busy; retry later";
                return Err(simple(503, "temporarily_unavailable", description));
            }
        }
    } else {
        Bytes::new()
    };
    Ok((parts, body))
}

/// What core's checks read of a request at one of the plugin's endpoints.
pub(super) fn view<'a>(
    ctx: &Ctx,
    config: &'a OAuth2Config,
    parts: &'a Parts,
    body: &'a [u8],
) -> TokenRequestView<'a> {
    let auth_header = HeaderName::from_bytes(config.auth_header_name.as_bytes())
        .unwrap_or(http::header::AUTHORIZATION);
    TokenRequestView {
        method: parts.method.as_str(),
        https: ctx.https,
        forwarded_proto: forwarded_proto(ctx, &parts.headers),
        query: parts.uri.query(),
        content_type: parts
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        authorization: parts.headers.get(&auth_header).map(HeaderValue::as_bytes),
        body,
    }
}

/// The secret-check pool is full.
struct Overloaded;

/// Whether `presented` is the secret of `entry`'s credential, verified on the secret-check pool:
/// its current secret, or a previous one of a rotation whose instant has not passed (checked
/// here, so an old secret is refused on time whatever the snapshot). `false` without a
/// credential, a presented secret or a verifier.
async fn secret_matches(
    ctx: &Ctx,
    entry: Option<CredentialEntry<'_>>,
    presented: Option<&[u8]>,
) -> Result<bool, Overloaded> {
    let (Some(entry), Some(presented)) = (entry, presented) else {
        return Ok(false);
    };
    let (Some(text), Some(parsed)) = (
        entry.credential.secret_verifier.as_deref(),
        entry.verifier(),
    ) else {
        return Ok(false);
    };
    if verify_one(ctx, text, parsed, presented).await? {
        return Ok(true);
    }
    if entry.previous().is_empty() {
        return Ok(false);
    }
    let now = unix_now();
    for (valid_until, text, parsed) in entry.previous() {
        if now < *valid_until && verify_one(ctx, text, parsed, presented).await? {
            return Ok(true);
        }
    }
    Ok(false)
}

async fn verify_one(
    ctx: &Ctx,
    text: &str,
    parsed: &Arc<Verifier>,
    presented: &[u8],
) -> Result<bool, Overloaded> {
    match ctx.state.secret_check.verify(text, parsed, presented).await {
        Ok(ok) => Ok(ok),
        Err(secret_check::Error::Overloaded) => Err(Overloaded),
        Err(secret_check::Error::TaskFailed) => Ok(false),
    }
}

/// 503 when the secret-check pool is full: nothing was decided, the client may retry.
fn overloaded(ctx: &Ctx) -> Response<ProxyBody> {
    ctx.state.metrics().token_refused(Refusal::Overloaded);
    let mut response = oauth_error(&simple(
        503,
        "temporarily_unavailable",
        "Too many token requests are being verified; retry shortly",
    ));
    response
        .headers_mut()
        .insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// Mints a token with `claims` and answers it (RFC 6749 §5.1): a JWT when the plugin issues
/// them (`issuer` is then its `iss`), else an opaque token.
fn issue(
    ctx: &Ctx,
    compiled: &Compiled,
    config: &OAuth2Config,
    token_request: &TokenRequest,
    claims: &Claims,
    refresh_token: Option<&str>,
    issuer: Option<&str>,
) -> Response<ProxyBody> {
    let mut nonce = [0u8; 24];
    let minted = getrandom::getrandom(&mut nonce).ok().and_then(|()| {
        match issuer {
            None => compiled.keys.issue(claims, nonce).ok(),
            Some(issuer) => {
                // The jti is the token's id, which revocations name.
                let jti =
                    tollgate_core::snapshot::hex(&tollgate_core::revocation::token_id(&nonce));
                let fields = JwtFields {
                    issuer,
                    client_id: &token_request.client_id,
                    jti: &jti,
                };
                compiled.keys.issue_jwt(claims, nonce, &fields).ok()
            }
        }
    });
    let token = match minted {
        Some(token) => token,
        None => {
            tracing::warn!("could not issue a token");
            return refuse(
                ctx,
                &simple(500, "server_error", "The token could not be issued"),
            );
        }
    };
    let granted = Some(claims.scope.as_str()).filter(|s| !s.is_empty());
    let issued = oauth::token_response(
        config,
        &token,
        refresh_token,
        granted,
        token_request.state.as_deref(),
    );
    ctx.state.metrics().token_issued();
    let headers = issued.headers();
    let mut response = Response::new(ProxyBody::full(issued.body));
    *response.status_mut() = StatusCode::from_u16(issued.status).unwrap_or(StatusCode::OK);
    for (name, value) in headers {
        if let Some(name) = name {
            response.headers_mut().insert(name, value);
        }
    }
    if !response.headers().contains_key(CONTENT_TYPE) {
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(JSON_CONTENT_TYPE));
    }
    response
}
