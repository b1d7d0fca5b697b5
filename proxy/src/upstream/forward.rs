//! Forwarding to backends: pooled keep-alive upstream connections (one pool per worker thread,
//! see [`super::pool`]), round-robin endpoints, `X-Forwarded-*` and `X-Real-IP`, hop-by-hop
//! headers removed both ways, timeouts, and Kong's error responses. Bodies stream both ways.
//! A bodiless `GET` or `HEAD` to a plain `http` backend goes through the inline client
//! ([`super::inline_client`]), everything else through hyper's.

use std::error::Error as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use hyper::body::Body;
use tollgate_core::address::AddressPolicy;
use tollgate_core::oauth::same_header_name;

use super::added::Added;
use super::body::ProxyBody;
use super::connector::{self, ConnectError};
use super::error::InlineError;
use super::hop_by_hop::remove_hop_by_hop;
use super::inline_client;
use super::pool::{Pool, SendError};
use crate::shared::respond;

pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
pub const X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
pub const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");

/// One upstream `host:port`, parsed once per snapshot.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub authority: Authority,
    /// `host:port` as a header value (the default `Host`).
    pub host: HeaderValue,
}

impl Endpoint {
    pub fn parse(endpoint: &str) -> Option<Self> {
        let authority = Authority::try_from(endpoint).ok()?;
        authority.port_u16()?;
        let host = HeaderValue::from_str(endpoint).ok()?;
        Some(Self { authority, host })
    }
}

/// A compiled backend.
#[derive(Debug)]
pub struct Target {
    pub scheme: Scheme,
    pub endpoints: Vec<Endpoint>,
    next: AtomicUsize,
    pub host_header: Option<HeaderValue>,
    /// Path prefixed to the upstream path ("" or starting with `/`).
    pub path: String,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
}

impl Target {
    pub fn new(
        scheme: Scheme,
        endpoints: Vec<Endpoint>,
        host_header: Option<HeaderValue>,
        path: String,
        connect_timeout: Duration,
        read_timeout: Duration,
    ) -> Self {
        Self {
            scheme,
            endpoints,
            next: AtomicUsize::new(0),
            host_header,
            path,
            connect_timeout,
            read_timeout,
        }
    }

    /// The next endpoint, round robin; `None` when there is none.
    pub fn pick(&self) -> Option<&Endpoint> {
        match self.endpoints.len() {
            0 => None,
            1 => self.endpoints.first(),
            n => {
                let i = self.next.fetch_add(1, Ordering::Relaxed) % n;
                self.endpoints.get(i)
            }
        }
    }
}

/// Facts about the client connection a request came in on, computed once per connection.
#[derive(Debug, Clone)]
pub struct Peer {
    /// The peer's IP as a header value.
    pub ip: HeaderValue,
    /// Whether the peer is a trusted proxy (its `X-Forwarded-*` headers are kept).
    pub trusted: bool,
    /// `http` or `https`: the listener's scheme.
    pub proto: HeaderValue,
    /// The listener's port.
    pub port: HeaderValue,
}

/// Rewrites a client request's head for the upstream, in place: URI (origin form), version,
/// hop-by-hop headers; `Host`, `X-Forwarded-*` and `X-Real-IP` go into `added` (identity
/// headers are handled before this). `Host` is the client's when `preserve_host` is set (and it
/// sent one), else the target's `host_header`, else the endpoint's `host:port`.
pub fn prepare_request<B>(
    request: &mut Request<B>,
    peer: &Peer,
    target: &Target,
    endpoint: &Endpoint,
    path_and_query: PathAndQuery,
    preserve_host: bool,
    added: &mut Added,
) {
    let host = original_host(request.headers(), request.uri());
    let upstream_host = match &host {
        Some(client) if preserve_host => client.clone(),
        _ => target
            .host_header
            .clone()
            .unwrap_or_else(|| endpoint.host.clone()),
    };
    rewrite_headers(request.headers_mut(), host, upstream_host, peer, added);
    *request.uri_mut() = Uri::from(path_and_query);
    *request.version_mut() = Version::HTTP_11;
}

/// The host the client asked for: its `Host` header, else the authority of an absolute URI.
fn original_host(headers: &HeaderMap, uri: &Uri) -> Option<HeaderValue> {
    headers.get(header::HOST).cloned().or_else(|| {
        uri.authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    })
}

/// Forwarding headers a client may send, as bits of [`forwarding_present`].
static FORWARDING: [HeaderName; 5] = [
    X_FORWARDED_FOR,
    X_REAL_IP,
    X_FORWARDED_PROTO,
    X_FORWARDED_PORT,
    X_FORWARDED_HOST,
];

/// Bit `i` set: the client sent `FORWARDING[i]` (one pass over the names).
fn forwarding_present(headers: &HeaderMap) -> u8 {
    let mut present = 0u8;
    for name in headers.keys() {
        if let Some(i) = FORWARDING.iter().position(|f| f == name) {
            present |= 1 << i;
        }
    }
    present
}

/// Removes the client's headers that CGI, WSGI and Rack servers read as a forwarding header
/// (`X_Forwarded_For`, `x-real_ip`: `_` for `-`). The real spellings are replaced (or, from a
/// trusted peer, kept) below; a look-alike is never kept, whoever sent it.
fn strip_forwarding_lookalikes(headers: &mut HeaderMap) {
    let lookalike = |name: &HeaderName| {
        let name = name.as_str();
        name.contains('_')
            && FORWARDING
                .iter()
                .any(|f| same_header_name(name.as_bytes(), f.as_str().as_bytes()))
    };
    if !headers.keys().any(lookalike) {
        return;
    }
    let names: Vec<HeaderName> = headers.keys().filter(|n| lookalike(n)).cloned().collect();
    for name in names {
        headers.remove(&name);
    }
}

fn rewrite_headers(
    headers: &mut HeaderMap,
    original_host: Option<HeaderValue>,
    upstream_host: HeaderValue,
    peer: &Peer,
    added: &mut Added,
) {
    remove_hop_by_hop(headers);
    strip_forwarding_lookalikes(headers);
    let present = forwarding_present(headers);
    headers.remove(header::HOST);
    added.push(header::HOST, upstream_host);

    // X-Forwarded-For: append the peer (Kong's $proxy_add_x_forwarded_for).
    let forwarded_for = if present & 1 == 0 {
        peer.ip.clone()
    } else {
        let existing = headers.get(&X_FORWARDED_FOR).cloned();
        headers.remove(&X_FORWARDED_FOR);
        match existing {
            Some(existing) => {
                let mut joined = Vec::with_capacity(existing.len() + 2 + peer.ip.len());
                joined.extend_from_slice(existing.as_bytes());
                joined.extend_from_slice(b", ");
                joined.extend_from_slice(peer.ip.as_bytes());
                HeaderValue::from_bytes(&joined).unwrap_or_else(|_| peer.ip.clone())
            }
            None => peer.ip.clone(),
        }
    };
    added.push(X_FORWARDED_FOR, forwarded_for);
    // A trusted peer's own values are kept; anyone else's are replaced.
    let ours = [
        (1, &X_REAL_IP, Some(&peer.ip)),
        (2, &X_FORWARDED_PROTO, Some(&peer.proto)),
        (3, &X_FORWARDED_PORT, Some(&peer.port)),
        (4, &X_FORWARDED_HOST, original_host.as_ref()),
    ];
    for (bit, name, value) in ours {
        if present & (1 << bit) != 0 {
            if peer.trusted {
                continue;
            }
            headers.remove(name);
        }
        if let Some(value) = value {
            added.push(name.clone(), value.clone());
        }
    }
}

/// Removes hop-by-hop headers from an upstream response.
pub fn clean_response<B>(response: &mut Response<B>) {
    remove_hop_by_hop(response.headers_mut());
}

/// The upstream connections of one worker (see [`super::pool`]).
pub struct Upstreams {
    pool: Pool,
}

impl Default for Upstreams {
    /// The system's CAs and cluster mode's backend address policy.
    fn default() -> Self {
        Self::new(connector::client_tls(), Arc::new(AddressPolicy::cluster()))
    }
}

impl std::fmt::Debug for Upstreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstreams").finish_non_exhaustive()
    }
}

impl Upstreams {
    /// Upstream pools trusting the CAs of `tls` for `https` backends and connecting only to
    /// addresses `policy` allows.
    pub fn new(tls: Arc<rustls::ClientConfig>, policy: Arc<AddressPolicy>) -> Self {
        Self {
            pool: Pool::new(tls, policy),
        }
    }

    /// A one-off connection to `authority` (the gateway's own outgoing calls, such as token
    /// introspection), under the backend address policy.
    pub async fn connect_once(
        &self,
        authority: &http::uri::Authority,
        https: bool,
        timeout: Duration,
    ) -> Result<super::connector::MaybeTls, super::connector::ConnectError> {
        self.pool.connect_once(authority, https, timeout).await
    }

    /// Sends `request` (prepared by [`prepare_request`], with `added` beside it) to `endpoint`
    /// of `target` and maps failures to Kong's responses: 502 for a refused or reset connection or a malformed response,
    /// 504 for a timeout (connect plus read timeout for the whole exchange up to the response
    /// head). `verbatim`: the response goes to an HTTP/1 client through the server's fast path,
    /// so the inline client may keep its header lines as bytes
    /// ([`inline_client::VerbatimHead`]). An endpoint resolving only to addresses the backend
    /// address policy refuses is a 502 too, logged at warn level with `route` and the address.
    pub async fn send(
        &self,
        route: &str,
        target: &Target,
        endpoint: &Endpoint,
        request: &mut Request<ProxyBody>,
        added: &mut Added,
        verbatim: bool,
    ) -> Response<ProxyBody> {
        let https = target.scheme == Scheme::HTTPS;
        let budget = target.connect_timeout + target.read_timeout;
        let authority = &endpoint.authority;
        let result = if !https && inline_eligible(request) {
            let deadline = tokio::time::Instant::now() + budget;
            let idle = self.pool.inline_idle(authority);
            let dial = inline_client::Dial {
                authority,
                policy: self.pool.policy(),
                timeout: target.connect_timeout,
            };
            inline_client::exchange(&idle, dial, deadline, request, added, verbatim)
                .await
                .map_err(SendError::Inline)
        } else {
            added.apply(request.headers_mut());
            // hyper's client takes the request by value.
            let request = std::mem::replace(request, Request::new(ProxyBody::Empty));
            let sending = self
                .pool
                .send(https, authority, target.connect_timeout, request);
            tokio::time::timeout(budget, sending)
                .await
                .unwrap_or(Err(SendError::TimedOut))
        };
        match result {
            Ok(mut response) => {
                clean_response(&mut response);
                response
            }
            Err(err) if is_client_body_error(&err) => {
                tracing::debug!(error = %err, "the client's request body was malformed");
                respond::bad_request_close()
            }
            Err(
                SendError::Connect(ConnectError::Refused {
                    authority,
                    address,
                    refusal,
                })
                | SendError::Inline(InlineError::Connect(ConnectError::Refused {
                    authority,
                    address,
                    refusal,
                })),
            ) => {
                tracing::warn!(
                    route,
                    backend = %authority,
                    %address,
                    reason = refusal.as_str(),
                    "backend address refused by the backend address policy: {refusal}"
                );
                respond::static_json(StatusCode::BAD_GATEWAY, respond::BAD_UPSTREAM)
            }
            Err(err) => {
                let timed_out = is_timeout(&err);
                tracing::debug!(error = %err, source = ?err.source(), timed_out, "upstream request failed");
                if timed_out {
                    respond::static_json(StatusCode::GATEWAY_TIMEOUT, respond::UPSTREAM_TIMEOUT)
                } else {
                    respond::static_json(StatusCode::BAD_GATEWAY, respond::BAD_UPSTREAM)
                }
            }
        }
    }
}

/// Whether the inline client may send `request`: a `GET` or `HEAD` without a body.
fn inline_eligible(request: &Request<ProxyBody>) -> bool {
    let method_ok = matches!(*request.method(), Method::GET | Method::HEAD);
    let empty = match request.body() {
        ProxyBody::Empty | ProxyBody::Full(None) => true,
        ProxyBody::Incoming(body) => body.is_end_stream(),
        _ => false,
    };
    method_ok && empty
}

/// Whether the request failed because the client's body stream failed (a malformed chunked
/// body, a client that went away): the client's fault, not the upstream's.
fn is_client_body_error(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(hyper_err) = e.downcast_ref::<hyper::Error>()
            && hyper_err.is_user()
        {
            return true;
        }
        source = e.source();
    }
    false
}

fn is_timeout(err: &SendError) -> bool {
    match err {
        SendError::TimedOut | SendError::Inline(InlineError::TimedOut) => return true,
        SendError::Connect(connect) | SendError::Inline(InlineError::Connect(connect))
            if connect.is_timeout() =>
        {
            return true;
        }
        _ => {}
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return true;
        }
        source = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(trusted: bool) -> Peer {
        Peer {
            ip: HeaderValue::from_static("192.0.2.7"),
            trusted,
            proto: HeaderValue::from_static("https"),
            port: HeaderValue::from_static("8443"),
        }
    }

    fn target(host_header: Option<&'static str>) -> Target {
        Target::new(
            Scheme::HTTP,
            vec![Endpoint::parse("127.0.0.1:9000").expect("endpoint")],
            host_header.map(HeaderValue::from_static),
            String::new(),
            Duration::from_secs(1),
            Duration::from_secs(1),
        )
    }

    fn prepared(
        mut request: Request<()>,
        trusted: bool,
        host_header: Option<&'static str>,
        preserve_host: bool,
    ) -> Request<()> {
        let target = target(host_header);
        let endpoint = target.pick().expect("endpoint").clone();
        let mut added = Added::default();
        prepare_request(
            &mut request,
            &peer(trusted),
            &target,
            &endpoint,
            PathAndQuery::from_static("/x?y=1"),
            preserve_host,
            &mut added,
        );
        // As hyper's path sends it.
        added.apply(request.headers_mut());
        request
    }

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_removed() {
        let request = Request::builder()
            .header("connection", "keep-alive, x-secret-hop")
            .header("x-secret-hop", "1")
            .header("keep-alive", "timeout=5")
            .header("te", "trailers")
            .header("upgrade", "websocket")
            .header("proxy-authorization", "Basic Zm9v")
            .header("x-kept", "yes")
            .body(())
            .expect("request");
        let prepared = prepared(request, false, None, false);
        for gone in [
            "connection",
            "x-secret-hop",
            "keep-alive",
            "te",
            "upgrade",
            "proxy-authorization",
        ] {
            assert!(!prepared.headers().contains_key(gone), "{gone} was kept");
        }
        assert_eq!(prepared.headers()["x-kept"], "yes");
    }

    #[test]
    fn forwarded_headers_are_set_from_the_connection_for_untrusted_peers() {
        let request = Request::builder()
            .header("host", "api.example.com")
            .header("x-forwarded-for", "10.0.0.1")
            .header("x-forwarded-proto", "http")
            .header("x-real-ip", "10.0.0.1")
            .body(())
            .expect("request");
        let prepared = prepared(request, false, None, false);
        let h = prepared.headers();
        assert_eq!(h["x-forwarded-for"], "10.0.0.1, 192.0.2.7");
        assert_eq!(h["x-real-ip"], "192.0.2.7");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-port"], "8443");
        assert_eq!(h["x-forwarded-host"], "api.example.com");
        assert_eq!(h["host"], "127.0.0.1:9000");
        assert_eq!(prepared.uri(), "/x?y=1");
        assert_eq!(prepared.version(), Version::HTTP_11);
    }

    #[test]
    fn trusted_peers_keep_their_forwarded_headers() {
        let request = Request::builder()
            .header("host", "internal:8000")
            .header("x-forwarded-proto", "https")
            .header("x-forwarded-host", "public.example.com")
            .header("x-real-ip", "203.0.113.9")
            .body(())
            .expect("request");
        let prepared = prepared(request, true, Some("backend.local"), false);
        let h = prepared.headers();
        assert_eq!(h["x-forwarded-host"], "public.example.com");
        assert_eq!(h["x-real-ip"], "203.0.113.9");
        assert_eq!(h["host"], "backend.local");
    }

    #[test]
    fn preserve_host_sends_the_clients_host_over_the_backends() {
        let host_of = |request: Request<()>, preserve: bool, host_header| {
            prepared(request, false, host_header, preserve).headers()["host"]
                .to_str()
                .expect("ascii")
                .to_owned()
        };
        let with_host = || {
            Request::builder()
                .header("host", "Api.Example.com:8000")
                .body(())
                .expect("request")
        };
        assert_eq!(host_of(with_host(), true, None), "Api.Example.com:8000");
        assert_eq!(
            host_of(with_host(), true, Some("backend.local")),
            "Api.Example.com:8000"
        );
        assert_eq!(host_of(with_host(), false, None), "127.0.0.1:9000");
        assert_eq!(
            host_of(with_host(), false, Some("backend.local")),
            "backend.local"
        );
        // HTTP/2: the client's `:authority`.
        let h2 = Request::builder()
            .uri("https://api.example.com:8443/x")
            .version(Version::HTTP_2)
            .body(())
            .expect("request");
        assert_eq!(host_of(h2, true, None), "api.example.com:8443");
        // No Host at all (HTTP/1.0): the backend's.
        let bare = Request::builder().body(()).expect("request");
        assert_eq!(host_of(bare, true, None), "127.0.0.1:9000");
    }

    #[test]
    fn the_proxys_headers_stay_beside_the_map_until_the_request_is_sent() {
        let mut request = Request::builder()
            .uri("/a")
            .header("host", "api.example.com")
            .header("x-real-ip", "10.9.9.9")
            .header("x-forwarded-for", "10.0.0.1")
            .header("x-kept", "yes")
            .body(())
            .expect("request");
        let target = target(None);
        let endpoint = target.pick().expect("endpoint").clone();
        let mut added = Added::default();
        prepare_request(
            &mut request,
            &peer(false),
            &target,
            &endpoint,
            PathAndQuery::from_static("/b"),
            false,
            &mut added,
        );
        let names: Vec<&str> = request.headers().keys().map(HeaderName::as_str).collect();
        assert_eq!(
            names,
            ["x-kept"],
            "the client's forwarding headers left the map"
        );
        let added: Vec<(String, String)> = added
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("?").to_owned()))
            .collect();
        let expected = [
            ("host", "127.0.0.1:9000"),
            ("x-forwarded-for", "10.0.0.1, 192.0.2.7"),
            ("x-real-ip", "192.0.2.7"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-port", "8443"),
            ("x-forwarded-host", "api.example.com"),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        assert_eq!(added, expected);
        assert_eq!(request.uri(), "/b");
    }

    #[test]
    fn only_bodiless_gets_and_heads_take_the_inline_client() {
        let get = Request::builder()
            .method(Method::GET)
            .uri("/a/b?c=d")
            .body(ProxyBody::Empty)
            .expect("request");
        assert!(inline_eligible(&get));
        let post = Request::builder()
            .method(Method::POST)
            .body(ProxyBody::Empty)
            .expect("request");
        assert!(!inline_eligible(&post));
        let with_body = Request::builder()
            .body(ProxyBody::full("x"))
            .expect("request");
        assert!(!inline_eligible(&with_body));
    }

    #[test]
    fn endpoints_are_picked_round_robin() {
        let target = Target::new(
            Scheme::HTTP,
            ["127.0.0.1:1", "127.0.0.1:2"]
                .iter()
                .filter_map(|e| Endpoint::parse(e))
                .collect(),
            None,
            String::new(),
            Duration::from_secs(1),
            Duration::from_secs(1),
        );
        let picks: Vec<_> = (0..4)
            .filter_map(|_| target.pick().map(|e| e.authority.to_string()))
            .collect();
        assert_eq!(
            picks,
            ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:1", "127.0.0.1:2"]
        );
    }

    #[test]
    fn endpoints_without_a_port_are_refused() {
        assert!(Endpoint::parse("example.com").is_none());
        assert!(Endpoint::parse("example.com:80").is_some());
    }
}
