//! The per-request pipeline, as plain async functions over a [`Ctx`] (testable without
//! sockets): normalize the path, match a route, strip identity headers, run the route's plugin
//! (token endpoint or verification), forward.

use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, HOST, HeaderValue};
use http::uri::PathAndQuery;
use http::{Request, Response, StatusCode};
use tollgate_core::oauth::{self, ParamSource, RequestView, TokenSource};
use tollgate_core::routing::{self, RouteMatch};
use tollgate_core::snapshot::{Plugin, PluginConfig};
use tracing::Instrument;

use super::context::Ctx;
use super::identity::{has_identity_headers, strip_identity};
use super::metrics::Verification;
use super::state::{Compiled, RouteEntry};
use super::token_endpoint;
use crate::shared::body_limit::{self, read_bounded};
use crate::shared::clock::unix_now;
use crate::shared::respond::{self, oauth_error};
use crate::upstream::{self, Added, Endpoint, ProxyBody, Target};

/// Serves one request. Never fails: every error is a response.
pub async fn handle(ctx: &Ctx, mut request: Request<ProxyBody>) -> Response<ProxyBody> {
    let start = Instant::now();
    ctx.mark_request();
    // The request stays here; the pipeline borrows it (each move would copy ~250 bytes).
    let response = dispatch(ctx, &mut request).await;
    ctx.state.metrics().observe_latency(start.elapsed());
    response
}

fn host_of<B>(request: &Request<B>) -> Option<&str> {
    request
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().host())
}

fn unmatched(ctx: &Ctx, response: Response<ProxyBody>) -> Response<ProxyBody> {
    ctx.state
        .metrics()
        .unmatched()
        .record(response.status().as_u16());
    response
}

async fn dispatch(ctx: &Ctx, request: &mut Request<ProxyBody>) -> Response<ProxyBody> {
    let Some(compiled) = ctx.local.snapshot(&ctx.state) else {
        return unmatched(ctx, respond::no_route());
    };
    let Ok(path) = routing::normalize_path(request.uri().path()) else {
        return unmatched(ctx, respond::bad_request());
    };
    // RFC 9112 §3.2: more than one Host is a 400 (it would make routing ambiguous).
    let mut hosts = request.headers().get_all(HOST).iter();
    if hosts.next().is_some() && hosts.next().is_some() {
        return unmatched(ctx, respond::bad_request_close());
    }
    let Some(matched) = compiled
        .table
        .find(host_of(request), request.method().as_str(), &path)
    else {
        return unmatched(ctx, respond::no_route());
    };
    let Some(entry) = compiled.routes.get(matched.index) else {
        return unmatched(ctx, respond::no_route());
    };
    let span = tracing::debug_span!("request", route = %entry.id);
    let routed = route(ctx, &compiled, entry, matched, &path, request);
    // A disabled span would still wrap (and enlarge) the future on every request.
    let response = if span.is_disabled() {
        routed.await
    } else {
        routed.instrument(span).await
    };
    entry.counters.record(response.status().as_u16());
    response
}

/// What the pipeline decided: a response, or forwarding the (prepared) request to an endpoint.
/// It lives for one return; boxing the response would allocate on every refused request.
#[allow(clippy::large_enum_variant)]
enum Next<'a> {
    Respond(Response<ProxyBody>),
    Forward(&'a Target, &'a Endpoint),
}

/// Runs the route's plugin and forwards. The decisions are plain functions returning [`Next`]
/// and only the upstream exchange is awaited here; the request is borrowed throughout, so it
/// is not copied from future to future.
async fn route(
    ctx: &Ctx,
    compiled: &Compiled,
    entry: &RouteEntry,
    matched: RouteMatch<'_>,
    path: &str,
    request: &mut Request<ProxyBody>,
) -> Response<ProxyBody> {
    // Host, X-Forwarded-*, X-Real-IP and up to six identity headers.
    let mut added = Added::with_capacity(12);
    let next = match &entry.plugin {
        None => {
            let headers = request.headers_mut();
            if has_identity_headers(headers) {
                strip_identity(headers);
                oauth::apply_identity(headers, None);
            }
            forward_to(
                ctx,
                entry,
                matched,
                path,
                request,
                &mut added,
                Query::Original,
            )
        }
        Some(plugin) => {
            if let PluginConfig::OAuth2(config) = &plugin.config
                && oauth::is_token_endpoint(path)
            {
                let request = std::mem::replace(request, Request::new(ProxyBody::Empty));
                // Boxed: keeps this rarely taken branch's large future out of every request's
                // state.
                return Box::pin(token_endpoint::serve(
                    ctx, compiled, plugin, config, request,
                ))
                .await;
            }
            let source = ParamSource::of(&plugin.config);
            let view = RequestView {
                method: request.method().as_str(),
                headers: request.headers(),
                query: request.uri().query(),
                body: None,
            };
            if oauth::needs_body(source, &view) {
                let body = std::mem::take(request.body_mut());
                let reading = read_bounded(body, oauth::MAX_VERIFY_BODY_LEN);
                match Box::pin(reading).await {
                    Ok(bytes) => protected(
                        ctx,
                        compiled,
                        entry,
                        plugin,
                        matched,
                        path,
                        request,
                        &mut added,
                        Some(bytes),
                    ),
                    Err(body_limit::ReadError::TooLarge { .. }) => {
                        Next::Respond(respond::too_large())
                    }
                    Err(body_limit::ReadError::Read(_)) => Next::Respond(respond::bad_request()),
                }
            } else {
                protected(
                    ctx, compiled, entry, plugin, matched, path, request, &mut added, None,
                )
            }
        }
    };
    match next {
        Next::Respond(response) => response,
        Next::Forward(target, endpoint) => {
            let verbatim = ctx.verbatim_heads.load(Ordering::Relaxed);
            ctx.local
                .upstreams
                .send(target, endpoint, request, &mut added, verbatim)
                .await
        }
    }
}

/// Verifies the request's token and decides to forward it with the caller's identity.
/// `buffered` holds the body when it was read because the token may be in it (the request's
/// own body is then empty).
#[allow(clippy::too_many_arguments)]
fn protected<'a>(
    ctx: &Ctx,
    compiled: &Compiled,
    entry: &'a RouteEntry,
    plugin: &Plugin,
    matched: RouteMatch<'_>,
    path: &str,
    request: &mut Request<ProxyBody>,
    added: &mut Added,
    buffered: Option<Bytes>,
) -> Next<'a> {
    let metrics = ctx.state.metrics();
    let source = ParamSource::of(&plugin.config);
    let view = RequestView {
        method: request.method().as_str(),
        headers: request.headers(),
        query: request.uri().query(),
        body: buffered.as_deref(),
    };
    let found = oauth::extract_token(source, &view);
    let (opened, location) = match found {
        TokenSource::Missing => (None, None),
        TokenSource::Found { token, location } => {
            let opened = ctx
                .local
                .tokens
                .open(&compiled.keys, compiled.generation, &token);
            (Some(opened), Some(location))
        }
    };
    let identity = match oauth::authenticate(plugin, opened, &compiled.index, unix_now()) {
        Ok(identity) => identity,
        Err(error) => {
            metrics.verification(if location.is_some() {
                Verification::Invalid
            } else {
                Verification::Missing
            });
            return Next::Respond(oauth_error(&error));
        }
    };
    metrics.verification(if identity.anonymous {
        Verification::Anonymous
    } else {
        Verification::Ok
    });
    let headers = request.headers_mut();
    if has_identity_headers(headers) {
        strip_identity(headers);
        oauth::apply_identity(headers, Some(&identity));
    } else {
        // None to remove: the identity headers travel with the proxy's own.
        oauth::identity_headers(&identity, |name, value| added.push(name, value));
    }

    let hide = match &plugin.config {
        PluginConfig::OAuth2(c) => c.hide_credentials,
        PluginConfig::OpenIdConnect(c) => c.hide_credentials,
    };
    let (query, owned) = match (hide, &location) {
        (true, Some(location)) => {
            let mut query = request.uri().query().map(str::to_owned);
            let mut owned = buffered.as_ref().map(|b| b.to_vec());
            oauth::hide_credentials(location, request.headers_mut(), &mut query, &mut owned);
            (Query::Replaced(query), owned)
        }
        _ => (Query::Original, None),
    };
    // Without a buffered body the client's body stream stays in the request.
    match (owned, buffered) {
        (Some(owned), _) => {
            request
                .headers_mut()
                .insert(CONTENT_LENGTH, HeaderValue::from(owned.len()));
            *request.body_mut() = ProxyBody::full(owned);
        }
        (None, Some(bytes)) => *request.body_mut() = ProxyBody::full(bytes),
        (None, None) => {}
    }
    forward_to(ctx, entry, matched, path, request, added, query)
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
    ctx: &Ctx,
    entry: &'a RouteEntry,
    matched: RouteMatch<'_>,
    path: &str,
    request: &mut Request<ProxyBody>,
    added: &mut Added,
    query: Query,
) -> Next<'a> {
    let Some(target) = &entry.target else {
        return Next::Respond(respond::static_json(
            StatusCode::SERVICE_UNAVAILABLE,
            respond::NO_SERVICE,
        ));
    };
    let Some(endpoint) = target.pick() else {
        return Next::Respond(respond::static_json(
            StatusCode::SERVICE_UNAVAILABLE,
            respond::NO_HEALTHY_UPSTREAM,
        ));
    };
    let upstream =
        routing::upstream_path(matched.route, &target.path, matched.matched_prefix, path);
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
    upstream::prepare_request(request, &ctx.peer, target, endpoint, path_and_query, added);
    Next::Forward(target, endpoint)
}
