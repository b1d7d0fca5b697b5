//! The per-request pipeline, as plain async functions over a [`Ctx`] (testable without
//! sockets): normalize the path, match a route, strip identity headers, run the route's plugin
//! (token endpoint or verification), forward.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST, HeaderValue};
use http::uri::PathAndQuery;
use http::{Request, Response, StatusCode};
use tollgate_core::oauth::{self, OAuthError, ParamSource, RequestView, TokenSource};
use tollgate_core::routing::{self, RouteMatch};
use tollgate_core::snapshot::{Plugin, PluginConfig};
use tracing::Instrument;

use crate::metrics::Verification;
use crate::shared::body_limit::{self, read_bounded};
use crate::shared::respond;
use crate::state::{Compiled, ProxyState, RouteEntry};
use crate::token_cache::TokenCache;
use crate::token_endpoint;
use crate::upstream::{self, Added, Endpoint, Peer, ProxyBody, Target, Upstreams};

/// What one worker thread keeps to itself: its upstream connection pools, its cache of
/// opened tokens and its handle on the current snapshot (never shared, so never contended).
#[derive(Debug, Default)]
pub struct WorkerLocal {
    pub upstreams: Upstreams,
    pub tokens: TokenCache,
    held: Mutex<Option<Arc<Held>>>,
}

/// This worker's reference to a compiled snapshot. Requests clone the `Arc<Held>`, whose count
/// only this worker touches, instead of the shared `Arc<Compiled>`, whose count every worker
/// would bounce between cores on every request.
#[derive(Debug)]
pub struct Held(Arc<Compiled>);

impl std::ops::Deref for Held {
    type Target = Compiled;

    fn deref(&self) -> &Compiled {
        &self.0
    }
}

impl WorkerLocal {
    pub fn new(upstreams: Upstreams) -> Self {
        Self {
            upstreams,
            tokens: TokenCache::default(),
            held: Mutex::new(None),
        }
    }

    /// The snapshot `state` serves now, `None` before the first one.
    pub fn snapshot(&self, state: &ProxyState) -> Option<Arc<Held>> {
        let current = state.current_guard();
        let current = current.as_ref()?;
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(h) = held.as_ref()
            && Arc::ptr_eq(&h.0, current)
        {
            return Some(h.clone());
        }
        let fresh = Arc::new(Held(current.clone()));
        *held = Some(fresh.clone());
        Some(fresh)
    }
}

/// What a request needs besides itself: the shared state, this worker's pools and caches, and
/// facts about the client connection.
#[derive(Debug)]
pub struct Ctx {
    pub state: Arc<ProxyState>,
    pub local: Arc<WorkerLocal>,
    pub peer: Peer,
    pub peer_ip: IpAddr,
    /// The request arrived over TLS on this proxy.
    pub https: bool,
    /// Responses go to the client through the HTTP/1 fast path, which writes an upstream's header
    /// lines verbatim (set while a connection is on that path).
    pub verbatim_heads: AtomicBool,
    /// Signalled by the connection's first request (see [`Ctx::first_request`]).
    first_request: tokio::sync::Notify,
    seen_request: AtomicBool,
}

impl Ctx {
    pub fn new(
        state: Arc<ProxyState>,
        local: Arc<WorkerLocal>,
        peer_ip: IpAddr,
        trusted: bool,
        https: bool,
        port: u16,
    ) -> Self {
        let ip = HeaderValue::from_str(&peer_ip.to_string())
            .unwrap_or(HeaderValue::from_static("0.0.0.0"));
        let peer = Peer {
            ip,
            trusted,
            proto: HeaderValue::from_static(if https { "https" } else { "http" }),
            port: HeaderValue::from(port),
        };
        Self {
            state,
            local,
            peer,
            peer_ip,
            https,
            verbatim_heads: AtomicBool::new(false),
            first_request: tokio::sync::Notify::new(),
            seen_request: AtomicBool::new(false),
        }
    }

    /// Resolves once the connection has delivered a request (for the idle-connection deadline).
    pub async fn first_request(&self) {
        if !self.seen_request.load(Ordering::Acquire) {
            self.first_request.notified().await;
        }
    }

    fn mark_request(&self) {
        if !self.seen_request.load(Ordering::Relaxed) {
            self.seen_request.store(true, Ordering::Release);
            self.first_request.notify_one();
        }
    }
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

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

/// Prefixes of header names only the proxy may set: a client-sent `X-Consumer-*`,
/// `X-Authenticated-*` or `X-Anonymous-*` header never reaches an upstream, whatever follows the
/// prefix (core's [`oauth::apply_identity`] then removes and sets the exact identity headers).
const IDENTITY_PREFIXES: [&str; 3] = ["x-consumer-", "x-authenticated-", "x-anonymous-"];

/// Whether the client sent any identity header: one with an identity prefix or one of core's
/// [`oauth::IDENTITY_HEADERS`]. Without one, stripping and core's removal are no-ops (one pass
/// over the names instead of a hashed lookup per identity header).
pub fn has_identity_headers(headers: &http::HeaderMap) -> bool {
    headers.keys().any(|name| {
        let text = name.as_str();
        IDENTITY_PREFIXES.iter().any(|p| text.starts_with(p))
            || IDENTITY_HEADERS.iter().any(|h| h == name)
    })
}

/// Core's list as a `static` (a `const` array of names is built and dropped at every use).
static IDENTITY_HEADERS: [http::HeaderName; 7] = oauth::IDENTITY_HEADERS;

/// Removes every header with an identity prefix. One pass over the names; allocates only when
/// a client actually sent one.
pub fn strip_identity(headers: &mut http::HeaderMap) {
    let forged = |name: &http::HeaderName| {
        let name = name.as_str();
        IDENTITY_PREFIXES.iter().any(|p| name.starts_with(p))
    };
    if !headers.keys().any(forged) {
        return;
    }
    let names: Vec<http::HeaderName> = headers.keys().filter(|n| forged(n)).cloned().collect();
    for name in names {
        headers.remove(&name);
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

/// An RFC 6749 / RFC 6750 error response.
pub(crate) fn oauth_error(error: &OAuthError) -> Response<ProxyBody> {
    let body = error.body();
    let mut response = Response::new(ProxyBody::full(body));
    *response.status_mut() = StatusCode::from_u16(error.status).unwrap_or(StatusCode::UNAUTHORIZED);
    let headers = response.headers_mut();
    for (name, value) in error.headers() {
        if let Some(name) = name {
            headers.insert(name, value);
        }
    }
    if !headers.contains_key(CONTENT_TYPE) {
        headers.insert(CONTENT_TYPE, respond::JSON);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_headers_are_detected_by_prefix_or_exact_name_in_any_case() {
        let cases = [
            (vec![], false),
            (vec!["host", "authorization"], false),
            (vec!["x-consumer-whatever"], true),
            (vec!["X-Authenticated-Userid"], true),
            (vec!["x-anonymous-consumer"], true),
            (vec!["X-Credential-Identifier"], true),
            (vec!["x-consumerish"], false),
        ];
        for (names, expected) in cases {
            let mut headers = http::HeaderMap::new();
            for name in &names {
                let name = http::HeaderName::from_bytes(name.as_bytes()).expect("name");
                headers.insert(name, HeaderValue::from_static("v"));
            }
            assert_eq!(has_identity_headers(&headers), expected, "{names:?}");
        }
    }
}

#[cfg(test)]
#[path = "handler_tests.rs"]
mod pipeline_tests;
