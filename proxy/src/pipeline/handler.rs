//! The per-request pipeline, as plain async functions over a [`Ctx`] (testable without
//! sockets): normalize the path, match a route, strip identity headers, run the route's plugin
//! (token endpoint or verification), forward.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, HOST, HeaderValue};
use http::uri::PathAndQuery;
use http::{Request, Response, StatusCode};
use tollgate_core::oauth::authorize_endpoint::is_authorize_endpoint;
use tollgate_core::oauth::introspect_endpoint::is_introspection_endpoint;
use tollgate_core::oauth::metadata;
use tollgate_core::oauth::revoke_endpoint::is_revocation_endpoint;
use tollgate_core::oauth::{self, TokenLocation};
use tollgate_core::routing::{self, RouteMatch, RouteRequest};
use tollgate_core::snapshot::{ListenerPort, OAuth2Config, Plugin, PluginConfig, TokenFormat};
use tracing::Instrument;

use super::context::Ctx;
use super::filters::{self, Picked};
use super::identity::set_identity;
use super::metrics::ConsumerCounters;
use super::rate_limit::{self, Quota};
use super::request_log::{self, Facts};
use super::state::{Compiled, RouteEntry};
use super::{server_endpoints, token_endpoint, verify};
use crate::shared::body_limit::{ReadError, read_bounded};
use crate::shared::clock::unix_now;
use crate::shared::respond::{self, oauth_error};
use crate::upstream::{self, Added, Endpoint, ProxyBody, Target};

/// Serves one request. Never fails: every error is a response.
pub async fn handle(ctx: &Ctx, mut request: Request<ProxyBody>) -> Response<ProxyBody> {
    let start = Instant::now();
    ctx.mark_request();
    let mut log = request_log::begin(ctx, &mut request, start);
    // The request stays here; the pipeline borrows it (each move would copy ~250 bytes).
    let mut response = dispatch(ctx, &mut request, start, &mut log.facts).await;
    log.finish(ctx, &mut response);
    response
}

fn host_of<B>(request: &Request<B>) -> Option<&str> {
    request
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().host())
}

fn unmatched(ctx: &Ctx, response: Response<ProxyBody>, start: Instant) -> Response<ProxyBody> {
    ctx.state
        .metrics()
        .unmatched()
        .finish(response.status().as_u16(), start.elapsed());
    response
}

async fn dispatch(
    ctx: &Ctx,
    request: &mut Request<ProxyBody>,
    start: Instant,
    facts: &mut Facts,
) -> Response<ProxyBody> {
    let Some(compiled) = ctx.local.snapshot(&ctx.state) else {
        return unmatched(ctx, respond::no_route(), start);
    };
    let Ok(path) = routing::normalize_path(request.uri().path()) else {
        return unmatched(ctx, respond::bad_request(), start);
    };
    // RFC 9112 §3.2: more than one Host is a 400 (it would make routing ambiguous).
    let mut hosts = request.headers().get_all(HOST).iter();
    if hosts.next().is_some() && hosts.next().is_some() {
        return unmatched(ctx, respond::bad_request_close(), start);
    }
    let lookup = RouteRequest {
        host: host_of(request),
        method: request.method().as_str(),
        path: &path,
        query: request.uri().query(),
        headers: Some(request.headers()),
        listener: Some(if ctx.https {
            ListenerPort::Https
        } else {
            ListenerPort::Http
        }),
    };
    let Some(matched) = compiled.table.find_request(&lookup) else {
        return unmatched(ctx, respond::no_route(), start);
    };
    let Some(entry) = compiled.routes.get(matched.index) else {
        return unmatched(ctx, respond::no_route(), start);
    };
    let span = tracing::debug_span!("request", route = %entry.id);
    let routed = Routed {
        ctx,
        compiled: &compiled,
        entry,
        matched,
        path: &path,
    };
    // When the backend's response head arrived: the upstream time's end is the request's too,
    // read once.
    let mut answered = None;
    let request_timeout = entry.extras.as_ref().and_then(|e| e.request_timeout);
    let routed = route(routed, request, &mut answered, facts);
    // A disabled span would still wrap (and enlarge) the future on every request.
    let response = match (request_timeout, span.is_disabled()) {
        (None, true) => routed.await,
        (None, false) => routed.instrument(span).await,
        // Gateway API `timeouts.request`: 504 once the response head has not come in time.
        (Some(limit), _) => Box::pin(tokio::time::timeout(limit, routed.instrument(span)))
            .await
            .unwrap_or_else(|_| {
                respond::static_json(StatusCode::GATEWAY_TIMEOUT, respond::UPSTREAM_TIMEOUT)
            }),
    };
    let elapsed = answered.map_or_else(|| start.elapsed(), |at| at.duration_since(start));
    entry.counters.finish(response.status().as_u16(), elapsed);
    if facts.wanted {
        facts.route = Some((compiled.clone(), matched.index));
    }
    response
}

/// A request matched to a route: what every step after routing reads.
#[derive(Clone, Copy)]
struct Routed<'a> {
    ctx: &'a Ctx,
    compiled: &'a Compiled,
    entry: &'a RouteEntry,
    matched: RouteMatch<'a>,
    /// The normalized request path.
    path: &'a str,
}

/// What the pipeline decided: a response, or forwarding the (prepared) request to an endpoint.
/// It lives for one return; boxing the response would allocate on every refused request.
#[allow(clippy::large_enum_variant)]
enum Next<'a> {
    Respond(Response<ProxyBody>),
    Forward(&'a Target, &'a Endpoint),
}

/// Runs the route's plugin and forwards. The decisions are plain functions returning [`Next`]
/// and only reading a body and the upstream exchange are awaited here; the request is borrowed
/// throughout, so it is not copied from future to future.
async fn route(
    routed: Routed<'_>,
    request: &mut Request<ProxyBody>,
    answered: &mut Option<Instant>,
    facts: &mut Facts,
) -> Response<ProxyBody> {
    // Host, X-Forwarded-*, X-Real-IP and up to six identity headers.
    let mut added = Added::with_capacity(12);
    // The caller's per-consumer counters (only with `--metrics-per-consumer`).
    let mut consumer = None;
    // The rate limit's answer for an admitted request, for the response's headers.
    let mut quota = None;
    let extras = routed.entry.extras.as_deref();
    if let Some(redirect) = extras.and_then(|e| e.redirect.as_ref()) {
        // A redirect answers before any plugin: it reveals nothing and reaches no backend.
        let mut response = filters::redirect_response(
            redirect,
            routed.ctx.https,
            request.headers(),
            request.uri(),
            &routed.matched,
            routed.path,
        );
        if let Some(ops) = extras.and_then(|e| e.response_headers.as_ref()) {
            ops.apply(response.headers_mut());
        }
        return response;
    }
    let next = match &routed.entry.plugin {
        None => {
            set_identity(request.headers_mut(), None, &mut added);
            match limited(routed, None, request, &mut quota) {
                Some(refused) => Next::Respond(refused),
                None => forward_to(routed, request, &mut added, Query::Original),
            }
        }
        Some(plugin) => {
            if let PluginConfig::OAuth2(config) = &plugin.config
                && let Some(response) = server_endpoint(routed, plugin, config, request).await
            {
                return response;
            }
            let buffered = if verify::token_may_be_in_body(plugin, request) {
                let body = std::mem::take(request.body_mut());
                let budget = routed.ctx.state.body_budget();
                let client = routed.ctx.peer_ip;
                let reading = read_bounded(body, oauth::MAX_VERIFY_BODY_LEN, &budget, client);
                match Box::pin(reading).await {
                    Ok(bytes) => Some(bytes),
                    Err(ReadError::TooLarge { .. }) => return respond::too_large(),
                    Err(ReadError::Read(_)) => return respond::bad_request(),
                    Err(ReadError::Timeout) => return respond::body_timeout(),
                    Err(ReadError::Busy) => return respond::busy(),
                }
            } else {
                None
            };
            if needs_introspection(plugin) {
                let asking = verify::prefetch_introspection(
                    routed.ctx,
                    plugin,
                    request,
                    buffered.as_deref(),
                );
                Box::pin(asking).await;
            }
            let caller = Caller {
                consumer: &mut consumer,
                quota: &mut quota,
            };
            protected(routed, plugin, request, &mut added, buffered, caller)
        }
    };
    let mut response = match next {
        Next::Respond(response) => response,
        Next::Forward(target, endpoint) => {
            let ctx = routed.ctx;
            // A response header modifier edits a `HeaderMap`: no verbatim head lines then.
            let verbatim = ctx.verbatim_heads.load(Ordering::Relaxed)
                && extras.is_none_or(|e| e.response_headers.is_none());
            facts.note_identity(&added);
            let sent = Instant::now();
            let sending = ctx.local.upstreams.send(
                &routed.entry.id,
                target,
                endpoint,
                request,
                &mut added,
                verbatim,
            );
            let response = match extras.and_then(|e| e.backend_timeout) {
                None => sending.await,
                // Gateway API `timeouts.backendRequest`.
                Some(limit) => tokio::time::timeout(limit, sending)
                    .await
                    .unwrap_or_else(|_| {
                        respond::static_json(StatusCode::GATEWAY_TIMEOUT, respond::UPSTREAM_TIMEOUT)
                    }),
            };
            let at = Instant::now();
            routed.entry.counters.upstream(at.duration_since(sent));
            if facts.wanted {
                facts.upstream = Some(at.duration_since(sent));
            }
            *answered = Some(at);
            response
        }
    };
    if let Some(quota) = &quota {
        quota.apply(&mut response);
    }
    if let Some(ops) = extras.and_then(|e| e.response_headers.as_ref()) {
        ops.apply(response.headers_mut());
    }
    if let Some(consumer) = consumer {
        consumer.record(response.status().as_u16());
    }
    response
}

/// What [`protected`] learns of the caller for after the response: its per-consumer counters
/// and its rate limit's standing.
struct Caller<'c, 'a> {
    consumer: &'c mut Option<Arc<ConsumerCounters>>,
    quota: &'c mut Option<Quota<'a>>,
}

/// The route's rate limit, after its authentication plugin (Kong's priorities): `Some` is the
/// 429 of a refused request; an admitted one's standing goes to `quota`. The token endpoint
/// and refused authentications never get here, so they are not counted (in Kong the oauth2
/// plugin answers them before rate-limiting runs).
fn limited<'a>(
    routed: Routed<'a>,
    identity: Option<&tollgate_core::oauth::Identity<'_>>,
    request: &Request<ProxyBody>,
    quota: &mut Option<Quota<'a>>,
) -> Option<Response<ProxyBody>> {
    let limit = routed.entry.limit.as_deref()?;
    let ctx = routed.ctx;
    let client = || rate_limit::client_ip(ctx.peer_ip, ctx.peer.trusted, request.headers());
    match limit.check_with(identity, client, unix_now()) {
        Ok(admitted) => {
            *quota = Some(admitted);
            None
        }
        Err(refused) => Some(refused.response()),
    }
}

/// The oauth2 plugin's own endpoints under any path of its routes: the token endpoint, the
/// authorization endpoint, introspection, revocation and the metadata document; `None` for any
/// other path.
async fn server_endpoint(
    routed: Routed<'_>,
    plugin: &Plugin,
    config: &OAuth2Config,
    request: &mut Request<ProxyBody>,
) -> Option<Response<ProxyBody>> {
    let Routed { ctx, compiled, .. } = routed;
    let path = routed.path;
    if let Some(prefix) = metadata::metadata_prefix(path) {
        return Some(server_endpoints::metadata(ctx, config, request, prefix));
    }
    if config.token_format == TokenFormat::Jwt && path.ends_with(metadata::JWKS_SUFFIX) {
        return Some(server_endpoints::jwks(ctx, compiled, request));
    }
    let token_prefix = metadata::token_endpoint_prefix(path);
    let introspection = is_introspection_endpoint(path);
    // Answered like the token endpoint whether the grant is enabled or not (Kong's): without
    // it, every request there is refused.
    let authorization = is_authorize_endpoint(path);
    let revocation = !introspection && is_revocation_endpoint(path);
    if !introspection && !authorization && !revocation && token_prefix.is_none() {
        return None;
    }
    let request = std::mem::replace(request, Request::new(ProxyBody::Empty));
    // Boxed: keeps these rarely taken branches' large futures out of every request's state.
    Some(match token_prefix {
        Some(prefix) => {
            let serving = token_endpoint::serve(ctx, compiled, plugin, config, request, prefix);
            Box::pin(serving).await
        }
        None if authorization => {
            let serving = server_endpoints::authorize(ctx, compiled, plugin, config, request);
            Box::pin(serving).await
        }
        None if revocation => {
            let serving = server_endpoints::revoke(ctx, compiled, plugin, config, request);
            Box::pin(serving).await
        }
        None => {
            let serving = server_endpoints::introspect(ctx, compiled, plugin, config, request);
            Box::pin(serving).await
        }
    })
}

/// Whether `plugin` may ask a provider about tokens (the rarely taken, async step).
fn needs_introspection(plugin: &Plugin) -> bool {
    matches!(&plugin.config, PluginConfig::OpenIdConnect(c) if c.introspection.is_some())
}

/// Verifies the request's token and decides to forward it with the caller's identity.
/// `buffered` holds the body when it was read because the token may be in it (the request's
/// own body is then empty). `caller` receives the per-consumer counters and the rate limit's
/// standing.
fn protected<'a>(
    routed: Routed<'a>,
    plugin: &Plugin,
    request: &mut Request<ProxyBody>,
    added: &mut Added,
    buffered: Option<Bytes>,
    caller: Caller<'_, 'a>,
) -> Next<'a> {
    let Routed { ctx, compiled, .. } = routed;
    let verified = match verify::verify(ctx, compiled, plugin, request, buffered.as_deref()) {
        Ok(verified) => verified,
        Err(error) => return Next::Respond(oauth_error(&error)),
    };
    if let Some(c) = verified.identity.consumer {
        *caller.consumer = ctx.state.metrics().consumer(c);
    }
    if let Some(refused) = limited(routed, Some(&verified.identity), request, caller.quota) {
        return Next::Respond(refused);
    }
    set_identity(request.headers_mut(), Some(&verified.identity), added);
    let (query, rewritten) = match &verified.location {
        Some(location) if hides_credentials(plugin) => {
            hide_token(location, request, buffered.as_ref())
        }
        _ => (Query::Original, None),
    };
    // Without a buffered body the client's body stream stays in the request.
    match (rewritten, buffered) {
        (Some(rewritten), _) => {
            request
                .headers_mut()
                .insert(CONTENT_LENGTH, HeaderValue::from(rewritten.len()));
            *request.body_mut() = ProxyBody::full(rewritten);
        }
        (None, Some(bytes)) => *request.body_mut() = ProxyBody::full(bytes),
        (None, None) => {}
    }
    forward_to(routed, request, added, query)
}

fn hides_credentials(plugin: &Plugin) -> bool {
    match &plugin.config {
        PluginConfig::OAuth2(c) => c.hide_credentials,
        PluginConfig::OpenIdConnect(c) => c.hide_credentials,
        PluginConfig::RateLimiting(_) => false,
    }
}

/// Removes the token from where it was found: a header in place, the query string and the
/// buffered body as rewritten copies (the body's `None` when it was not rewritten).
fn hide_token(
    location: &TokenLocation,
    request: &mut Request<ProxyBody>,
    buffered: Option<&Bytes>,
) -> (Query, Option<Vec<u8>>) {
    let mut query = request.uri().query().map(str::to_owned);
    let mut body = buffered.map(|b| b.to_vec());
    oauth::hide_credentials(location, request.headers_mut(), &mut query, &mut body);
    (Query::Replaced(query), body)
}

/// The query string sent upstream.
enum Query {
    /// The client's, unchanged.
    Original,
    /// Rewritten (a hidden `access_token` removed); `None` for no query.
    Replaced(Option<String>),
}

/// Prepares the request for the route's backend; 503 without one.
fn forward_to<'a>(
    routed: Routed<'a>,
    request: &mut Request<ProxyBody>,
    added: &mut Added,
    query: Query,
) -> Next<'a> {
    let Routed {
        ctx,
        entry,
        matched,
        path,
        ..
    } = routed;
    let extras = entry.extras.as_deref();
    let target = match extras.and_then(|e| e.weighted.as_ref()) {
        Some(weighted) => match weighted.pick() {
            Picked::Target(target) => target,
            // Gateway API: a request to an invalid backend reference gets a 500.
            Picked::Invalid => {
                return Next::Respond(respond::static_json(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    respond::INVALID_BACKEND,
                ));
            }
        },
        None => match &entry.target {
            Some(target) => target,
            None => {
                return Next::Respond(respond::static_json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    respond::NO_SERVICE,
                ));
            }
        },
    };
    let Some(endpoint) = target.pick() else {
        return Next::Respond(respond::static_json(
            StatusCode::SERVICE_UNAVAILABLE,
            respond::NO_HEALTHY_UPSTREAM,
        ));
    };
    let rewrite = extras.and_then(|e| e.rewrite.as_ref());
    let upstream = match rewrite.and_then(|r| filters::rewritten_path(r, &matched, path)) {
        Some(rewritten) => routing::upstream_path(matched.route, &target.path, "", &rewritten),
        None => routing::upstream_path(matched.route, &target.path, matched.matched_prefix, path),
    };
    if let Some(ops) = extras.and_then(|e| e.request_headers.as_ref()) {
        ops.apply(request.headers_mut());
    }
    let query = match &query {
        Query::Original => request.uri().query(),
        Query::Replaced(q) => q.as_deref(),
    };
    let path_and_query = match (query, request.uri().path_and_query()) {
        // Unchanged path and query: reuse the client's bytes.
        (_, Some(original)) if upstream == original.path() && original.query() == query => {
            Ok(original.clone())
        }
        (Some(q), _) if !q.is_empty() => {
            let mut s = String::with_capacity(upstream.len() + 1 + q.len());
            s.push_str(&upstream);
            s.push('?');
            s.push_str(q);
            PathAndQuery::from_maybe_shared(Bytes::from(s))
        }
        _ => PathAndQuery::from_maybe_shared(Bytes::from(upstream)),
    };
    let Ok(path_and_query) = path_and_query else {
        return Next::Respond(respond::bad_request());
    };
    upstream::prepare_request(
        request,
        &ctx.peer,
        target,
        endpoint,
        path_and_query,
        matched.route.preserve_host,
        added,
    );
    if let Some(rewrite) = rewrite {
        filters::rewrite_host(rewrite, added);
    }
    Next::Forward(target, endpoint)
}
