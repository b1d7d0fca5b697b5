//! Gateway API routes through the real proxy, on the HTTP/1 fast path and on hyper's path
//! alike: exact, header, query and method matches with their precedence, the header modifiers,
//! redirects, URL rewrites, the client's `Host` kept (`preserve_host`, HTTP/2 too), weighted
//! backends (and the 500 of an invalid one), and the timeouts. Routes are pushed in a snapshot as the controller writes them for HTTPRoutes.

use crate::hostile_support::Recorder;
use crate::support;

use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use support::client::{self, Reply, json};
use support::{RunningProxy, SnapshotBuilder, backend, oidc_config};
use tokio::net::TcpStream;
use tollgate_core::snapshot::{
    HeaderMatch, HeaderValue, MatchKind, PathModifier, Plugin, PluginConfig, QueryParamMatch,
    Route, RouteFilter, Snapshot, WeightedBackend,
};

/// An HTTPRoute rule's match as the translator writes it: no strip, ranked in rule order.
fn rule(id: &str, rank: u64, upstream: SocketAddr) -> Route {
    Route {
        id: format!("httproute/gw/{id}"),
        rank,
        paths: vec!["/".into()],
        backend: Some(backend(&[upstream])),
        ..Route::default()
    }
}

fn value(name: &str, value: &str) -> HeaderValue {
    HeaderValue {
        name: name.into(),
        value: value.into(),
    }
}

/// Starts a proxy serving `routes` (next to the quickstart's token route), with the HTTP/1
/// fast path on or off.
async fn proxy(routes: Vec<Route>, fast_path: bool) -> RunningProxy {
    let snapshot: Snapshot = SnapshotBuilder::quickstart()
        .with(|s| s.routes.extend(routes))
        .build();
    RunningProxy::start_with(Some(snapshot), |o| o.http1_fast_path = fast_path).await
}

/// One keep-alive HTTP/1.1 connection to the proxy.
struct Conn(hyper::client::conn::http1::SendRequest<Full<Bytes>>);

impl Conn {
    async fn open(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(conn);
        Self(sender)
    }

    async fn send(&mut self, request: Request<Full<Bytes>>) -> Reply {
        use http_body_util::BodyExt;
        self.0.ready().await.expect("ready");
        let response = self.0.send_request(request).await.expect("send");
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.expect("body").to_bytes();
        http::Response::from_parts(parts, bytes)
    }
}

fn get(uri: &str, headers: &[(&str, &str)]) -> Request<Full<Bytes>> {
    let mut builder = client::get(uri);
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        builder = builder.header("host", "gw.example.com:8000");
    }
    for (n, v) in headers {
        builder = builder.header(*n, *v);
    }
    builder.body(client::empty()).expect("request")
}

/// The tag of the upstream that answered, or the status when the proxy answered itself.
fn answered_by(reply: &Reply) -> String {
    if reply.status() == StatusCode::OK {
        json(reply)["upstream"].as_str().unwrap_or("?").to_owned()
    } else {
        reply.status().as_u16().to_string()
    }
}

#[tokio::test]
async fn matches_and_their_precedence_hold_on_both_paths() {
    let (a, b, c) = (
        Recorder::start("a").await,
        Recorder::start("b").await,
        Recorder::start("c").await,
    );
    let header = |name: &str, v: &str| HeaderMatch {
        name: name.into(),
        value: v.into(),
        kind: MatchKind::Exact,
    };
    let mut routes = vec![
        // path-match-order: exact, then the longest prefix.
        Route {
            exact_paths: vec!["/match".into()],
            paths: vec![],
            ..rule("order/0/0", 0, a.addr)
        },
        Route {
            paths: vec!["/match".into()],
            ..rule("order/1/0", 1, b.addr)
        },
        Route {
            paths: vec!["/match/prefix".into()],
            ..rule("order/2/0", 2, c.addr)
        },
        // method, then more headers, then query parameters.
        Route {
            paths: vec!["/m".into()],
            methods: vec!["POST".into()],
            ..rule("m/0/0", 3, a.addr)
        },
        Route {
            paths: vec!["/m".into()],
            headers: vec![header("version", "two"), header("color", "orange")],
            ..rule("m/1/0", 4, b.addr)
        },
        Route {
            paths: vec!["/m".into()],
            headers: vec![header("version", "two")],
            ..rule("m/2/0", 5, c.addr)
        },
        Route {
            paths: vec!["/m".into()],
            query_params: vec![QueryParamMatch {
                name: "animal".into(),
                value: "whale|dolphin".into(),
                kind: MatchKind::RegularExpression,
            }],
            ..rule("m/3/0", 6, a.addr)
        },
    ];
    // A host-specific route ranks above the host-less ones.
    let mut hosted = Route {
        paths: vec!["/m".into()],
        ..rule("hosted/0/0", 7, c.addr)
    };
    hosted.hosts = vec!["*.other.example".into()];
    routes.push(hosted);
    type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case<'_>] = &[
        ("GET", "/match", &[], "a"),
        ("GET", "/match/", &[], "b"),
        ("GET", "/match/x", &[], "b"),
        ("GET", "/match/prefix/x", &[], "c"),
        (
            "POST",
            "/m",
            &[("version", "two"), ("color", "orange")],
            "a",
        ),
        ("GET", "/m", &[("version", "two"), ("color", "orange")], "b"),
        ("GET", "/m", &[("Version", "two")], "c"),
        ("GET", "/m?animal=dolphin", &[("version", "three")], "a"),
        ("GET", "/m?animal=Dolphin", &[], "404"),
        ("GET", "/m", &[], "404"),
        ("GET", "/m", &[("host", "a.other.example")], "c"),
    ];
    for fast_path in [true, false] {
        let proxy = proxy(routes.clone(), fast_path).await;
        let mut conn = Conn::open(proxy.http).await;
        for (method, uri, headers, want) in cases {
            let mut request = get(uri, headers);
            *request.method_mut() = method.parse().expect("method");
            let reply = conn.send(request).await;
            assert_eq!(
                answered_by(&reply),
                *want,
                "fast path {fast_path}: {method} {uri} {headers:?}"
            );
        }
        proxy.stop().await;
    }
}

#[tokio::test]
async fn header_modifiers_change_requests_and_responses_and_never_identity_headers() {
    let up = Recorder::start("up").await;
    let mut route = rule("mod/0/0", 0, up.addr);
    route.filters = vec![
        RouteFilter::RequestHeaderModifier {
            set: vec![value("X-Set", "set"), value("X-Replace", "new")],
            add: vec![value("X-Add", "added")],
            remove: vec!["X-Remove".into()],
        },
        RouteFilter::ResponseHeaderModifier {
            set: vec![value("X-Resp-Set", "one")],
            add: vec![value("X-Resp-Add", "two")],
            remove: vec!["Content-Type".into()],
        },
    ];
    for fast_path in [true, false] {
        let proxy = proxy(vec![route.clone()], fast_path).await;
        let mut conn = Conn::open(proxy.http).await;
        let reply = conn
            .send(get(
                "/echo",
                &[
                    ("x-replace", "old"),
                    ("x-add", "mine"),
                    ("x-remove", "gone"),
                    ("x-consumer-id", "forged"),
                    ("X_Consumer_Username", "forged"),
                ],
            ))
            .await;
        assert_eq!(reply.status(), StatusCode::OK, "fast path {fast_path}");
        let echo = json(&reply);
        let seen = |name: &str| echo["headers"][name].clone();
        assert_eq!(
            seen("x-set"),
            serde_json::json!(["set"]),
            "fast path {fast_path}"
        );
        assert_eq!(seen("x-replace"), serde_json::json!(["new"]));
        assert_eq!(seen("x-add"), serde_json::json!(["mine", "added"]));
        assert!(seen("x-remove").is_null(), "{echo}");
        assert!(seen("x-consumer-id").is_null(), "{echo}");
        assert!(seen("x_consumer_username").is_null(), "{echo}");
        let headers = reply.headers();
        assert_eq!(
            headers.get("x-resp-set").map(|v| v.as_bytes()),
            Some(&b"one"[..])
        );
        assert_eq!(
            headers.get("x-resp-add").map(|v| v.as_bytes()),
            Some(&b"two"[..])
        );
        assert!(
            headers.get("content-type").is_none(),
            "fast path {fast_path}: {headers:?}"
        );
        proxy.stop().await;
    }
}

#[tokio::test]
async fn a_protected_route_with_filters_still_sets_the_callers_identity() {
    let up = Recorder::start("up").await;
    let mut route = rule("guarded/0/0", 0, up.addr);
    route.plugins = vec!["default/oidc".into()];
    route.filters = vec![RouteFilter::RequestHeaderModifier {
        set: vec![value("X-Tenant", "blue")],
        add: vec![],
        remove: vec!["authorization".into()],
    }];
    for fast_path in [true, false] {
        let snapshot = SnapshotBuilder::quickstart()
            .with(|s| {
                s.plugins.push(Plugin {
                    acl: None,
                    id: "default/oidc".into(),
                    incarnation: String::new(),
                    accept_namespaces: tollgate_core::snapshot::AcceptNamespaces::Same,
                    config: PluginConfig::OpenIdConnect(oidc_config()),
                });
                s.routes.push(route.clone());
            })
            .build();
        let proxy =
            RunningProxy::start_with(Some(snapshot), |o| o.http1_fast_path = fast_path).await;
        let token = client::send_tls(
            proxy.https,
            &proxy.cert_pem,
            false,
            client::form("grant_type=client_credentials&client_id=client&client_secret=secret"),
        )
        .await;
        let token = json(&token)["access_token"]
            .as_str()
            .expect("token")
            .to_owned();
        let mut conn = Conn::open(proxy.http).await;
        let refused = conn.send(get("/x", &[])).await;
        assert_eq!(
            refused.status(),
            StatusCode::UNAUTHORIZED,
            "fast path {fast_path}"
        );
        let bearer = format!("Bearer {token}");
        let reply = conn
            .send(get(
                "/x",
                &[("authorization", &bearer), ("x-consumer-id", "forged")],
            ))
            .await;
        assert_eq!(reply.status(), StatusCode::OK, "fast path {fast_path}");
        let echo = json(&reply);
        assert_eq!(echo["headers"]["x-tenant"], serde_json::json!(["blue"]));
        assert!(echo["headers"]["authorization"].is_null(), "{echo}");
        assert_eq!(
            echo["headers"]["x-consumer-id"],
            serde_json::json!([support::JANE_ID]),
            "the identity is the gateway's, once"
        );
        proxy.stop().await;
    }
}

#[tokio::test]
async fn redirects_answer_with_the_location_the_gateway_api_builds() {
    let redirect = |id: &str,
                    path: &str,
                    scheme: Option<&str>,
                    host: Option<&str>,
                    port: Option<u16>,
                    modifier: Option<PathModifier>,
                    status_code: u16| Route {
        id: format!("httproute/gw/{id}"),
        paths: vec![path.into()],
        filters: vec![RouteFilter::RequestRedirect {
            scheme: scheme.map(str::to_owned),
            hostname: host.map(str::to_owned),
            path: modifier,
            port,
            status_code,
        }],
        ..Route::default()
    };
    let routes = vec![
        redirect("r/0/0", "/scheme", Some("https"), None, None, None, 301),
        redirect("r/1/0", "/host", None, Some("example.org"), None, None, 302),
        redirect("r/2/0", "/port", None, None, Some(8443), None, 302),
        redirect(
            "r/3/0",
            "/prefix",
            None,
            None,
            None,
            Some(PathModifier::ReplacePrefixMatch("/replaced".into())),
            302,
        ),
        redirect(
            "r/4/0",
            "/full",
            Some("https"),
            Some("example.org"),
            Some(443),
            Some(PathModifier::ReplaceFullPath("/one".into())),
            301,
        ),
    ];
    let cases = [
        ("/scheme/a?x=1", 301, "https://gw.example.com/scheme/a?x=1"),
        ("/host/a", 302, "http://example.org:8000/host/a"),
        ("/port", 302, "http://gw.example.com:8443/port"),
        (
            "/prefix/a/b",
            302,
            "http://gw.example.com:8000/replaced/a/b",
        ),
        ("/prefix", 302, "http://gw.example.com:8000/replaced"),
        ("/full/a/b", 301, "https://example.org/one"),
    ];
    for fast_path in [true, false] {
        let proxy = proxy(routes.clone(), fast_path).await;
        let mut conn = Conn::open(proxy.http).await;
        for (uri, status, location) in cases {
            let reply = conn.send(get(uri, &[])).await;
            assert_eq!(
                reply.status().as_u16(),
                status,
                "fast path {fast_path}: {uri}"
            );
            assert_eq!(
                reply
                    .headers()
                    .get("location")
                    .map(|v| v.to_str().unwrap_or("")),
                Some(location),
                "fast path {fast_path}: {uri}"
            );
            assert!(reply.body().is_empty());
        }
        proxy.stop().await;
    }
}

#[tokio::test]
async fn url_rewrites_change_the_upstream_host_and_path() {
    let up = Recorder::start("up").await;
    let rewrite = |id: &str, path: &str, host: Option<&str>, modifier: Option<PathModifier>| {
        let mut r = rule(id, 0, up.addr);
        r.paths = vec![path.into()];
        r.filters = vec![RouteFilter::UrlRewrite {
            hostname: host.map(str::to_owned),
            path: modifier,
        }];
        r
    };
    let routes = vec![
        rewrite("w/0/0", "/host", Some("internal.example"), None),
        rewrite(
            "w/1/0",
            "/prefix/one",
            None,
            Some(PathModifier::ReplacePrefixMatch("/one".into())),
        ),
        rewrite(
            "w/2/0",
            "/strip-prefix",
            None,
            Some(PathModifier::ReplacePrefixMatch("/".into())),
        ),
        rewrite(
            "w/3/0",
            "/full",
            Some("full.example"),
            Some(PathModifier::ReplaceFullPath("/one".into())),
        ),
    ];
    let cases = [
        ("/host/a?q=1", "/host/a?q=1", None),
        ("/prefix/one/two", "/one/two", None),
        ("/strip-prefix/three", "/three", None),
        ("/strip-prefix", "/", None),
        ("/full/one/two?x=y", "/one?x=y", Some("full.example")),
    ];
    for fast_path in [true, false] {
        let proxy = proxy(routes.clone(), fast_path).await;
        let mut conn = Conn::open(proxy.http).await;
        for (uri, upstream_uri, host) in cases {
            let reply = conn.send(get(uri, &[])).await;
            assert_eq!(
                reply.status(),
                StatusCode::OK,
                "fast path {fast_path}: {uri}"
            );
            let echo = json(&reply);
            assert_eq!(echo["uri"], upstream_uri, "fast path {fast_path}: {uri}");
            let want_host = host.map_or_else(|| up.addr.to_string(), str::to_owned);
            let want_host = if uri.starts_with("/host") {
                "internal.example".to_owned()
            } else {
                want_host
            };
            assert_eq!(
                echo["headers"]["host"],
                serde_json::json!([want_host]),
                "{uri}"
            );
            // The client's host still reaches the upstream as X-Forwarded-Host.
            assert_eq!(
                echo["headers"]["x-forwarded-host"],
                serde_json::json!(["gw.example.com:8000"])
            );
        }
        proxy.stop().await;
    }
}

#[tokio::test]
async fn preserve_host_sends_the_clients_host_upstream_on_both_paths_and_http2() {
    let up = Recorder::start("up").await;
    let with = |id: &str, path: &str, preserve: bool, host_header: Option<&str>| {
        let mut r = rule(id, 0, up.addr);
        r.paths = vec![path.into()];
        r.preserve_host = preserve;
        if let Some(b) = r.backend.as_mut() {
            b.host_header = host_header.map(str::to_owned);
        }
        r
    };
    let mut rewritten = with("p/3/0", "/rewritten", true, None);
    rewritten.filters = vec![RouteFilter::UrlRewrite {
        hostname: Some("internal.example".into()),
        path: None,
    }];
    let routes = vec![
        with("p/0/0", "/preserved", true, None),
        // The client's Host wins over the backend's host header too (Kong's preserve_host).
        with("p/1/0", "/over-header", true, Some("backend.example")),
        with("p/2/0", "/not", false, None),
        // A URLRewrite hostname still wins.
        rewritten,
    ];
    let endpoint = up.addr.to_string();
    let cases = [
        ("/preserved/a", "Client.Example:8000", "Client.Example:8000"),
        ("/over-header", "client.example", "client.example"),
        ("/not", "client.example:8000", endpoint.as_str()),
        ("/rewritten", "client.example:8000", "internal.example"),
    ];
    for fast_path in [true, false] {
        let proxy = proxy(routes.clone(), fast_path).await;
        let mut conn = Conn::open(proxy.http).await;
        for (uri, host, want) in cases {
            let reply = conn.send(get(uri, &[("host", host)])).await;
            assert_eq!(
                reply.status(),
                StatusCode::OK,
                "fast path {fast_path}: {uri}"
            );
            let echo = json(&reply);
            assert_eq!(
                echo["headers"]["host"],
                serde_json::json!([want]),
                "fast path {fast_path}: {uri}"
            );
            assert_eq!(
                echo["headers"]["x-forwarded-host"],
                serde_json::json!([host]),
                "fast path {fast_path}: {uri}"
            );
        }
        // HTTP/2 (hyper's path): the client's `:authority`, port as sent.
        for (path, want) in [
            ("/preserved/h2", "h2.example:8443"),
            ("/not", endpoint.as_str()),
        ] {
            let request = client::get(&format!("https://h2.example:8443{path}"))
                .body(client::empty())
                .expect("request");
            let reply = client::send_tls(proxy.https, &proxy.cert_pem, true, request).await;
            assert_eq!(reply.status(), StatusCode::OK, "h2 {path}");
            assert_eq!(reply.version(), http::Version::HTTP_2);
            let echo = json(&reply);
            assert_eq!(
                echo["headers"]["host"],
                serde_json::json!([want]),
                "h2 {path}"
            );
        }
        proxy.stop().await;
    }
}

#[tokio::test]
async fn weighted_backends_share_requests_by_weight_and_invalid_ones_answer_500() {
    let (a, b) = (Recorder::start("a").await, Recorder::start("b").await);
    let weighted = |id: &str, path: &str, backends: Vec<WeightedBackend>| Route {
        id: format!("httproute/gw/{id}"),
        paths: vec![path.into()],
        backends,
        ..Route::default()
    };
    let wb = |weight: u32, upstream: Option<SocketAddr>| WeightedBackend {
        weight,
        backend: upstream.map(|u| backend(&[u])),
    };
    let routes = vec![
        weighted(
            "split/0/0",
            "/split",
            vec![wb(3, Some(a.addr)), wb(1, Some(b.addr))],
        ),
        weighted("half/0/0", "/half", vec![wb(1, Some(a.addr)), wb(1, None)]),
        weighted(
            "zero/0/0",
            "/zero",
            vec![wb(0, Some(a.addr)), wb(0, Some(b.addr))],
        ),
        weighted(
            "only/0/0",
            "/only",
            vec![wb(0, Some(a.addr)), wb(5, Some(b.addr))],
        ),
    ];
    for fast_path in [true, false] {
        let proxy = proxy(routes.clone(), fast_path).await;
        let mut conn = Conn::open(proxy.http).await;
        let mut to_a = 0;
        for _ in 0..1000 {
            let reply = conn.send(get("/split", &[])).await;
            match answered_by(&reply).as_str() {
                "a" => to_a += 1,
                "b" => {}
                other => panic!("fast path {fast_path}: answered by {other}"),
            }
        }
        // 750 of 1,000 expected; within 10%.
        println!("weights 3:1, fast path {fast_path}: {to_a} of 1000 to the first backend");
        assert!((675..=825).contains(&to_a), "fast path {fast_path}: {to_a}");
        let mut errors = 0;
        for _ in 0..100 {
            let reply = conn.send(get("/half", &[])).await;
            match answered_by(&reply).as_str() {
                "a" => {}
                "500" => {
                    errors += 1;
                    assert!(String::from_utf8_lossy(reply.body()).contains("backend is invalid"));
                }
                other => panic!("fast path {fast_path}: answered by {other}"),
            }
        }
        assert!(
            (40..=60).contains(&errors),
            "fast path {fast_path}: {errors}"
        );
        for _ in 0..10 {
            assert_eq!(answered_by(&conn.send(get("/zero", &[])).await), "500");
            assert_eq!(answered_by(&conn.send(get("/only", &[])).await), "b");
        }
        proxy.stop().await;
    }
}

#[tokio::test]
async fn route_timeouts_answer_504() {
    // The echo upstream never answers paths starting with /hang.
    let up = support::upstream::start().await;
    let timed = |id: &str, path: &str, request: Option<u64>, backend_ms: Option<u64>| Route {
        id: format!("httproute/gw/{id}"),
        paths: vec![path.into()],
        backend: Some(backend(&[up])),
        request_timeout_ms: request,
        backend_request_timeout_ms: backend_ms,
        ..Route::default()
    };
    let routes = vec![
        timed("req/0/0", "/hang/request", Some(300), None),
        timed("backend/0/0", "/hang/backend", None, Some(300)),
        timed("fine/0/0", "/fine", Some(60_000), Some(30_000)),
    ];
    for fast_path in [true, false] {
        let proxy = proxy(routes.clone(), fast_path).await;
        let mut conn = Conn::open(proxy.http).await;
        for path in ["/hang/request", "/hang/backend"] {
            let reply = conn.send(get(path, &[])).await;
            assert_eq!(
                reply.status(),
                StatusCode::GATEWAY_TIMEOUT,
                "fast path {fast_path}: {path}"
            );
            assert!(String::from_utf8_lossy(reply.body()).contains("timing out"));
        }
        let reply = conn.send(get("/fine", &[])).await;
        assert_eq!(reply.status(), StatusCode::OK, "fast path {fast_path}");
        proxy.stop().await;
    }
}

#[tokio::test]
async fn a_filter_touching_an_identity_header_is_refused_and_the_served_snapshot_stays() {
    let up = Recorder::start("up").await;
    let proxy = proxy(vec![rule("ok/0/0", 0, up.addr)], true).await;
    let held = proxy.state.hash();
    for name in [
        "X-Consumer-Id",
        "x_authenticated_userid",
        "X-Credential-Identifier",
    ] {
        let mut bad = rule("bad/0/0", 0, up.addr);
        bad.filters = vec![RouteFilter::RequestHeaderModifier {
            set: vec![value(name, "forged")],
            add: vec![],
            remove: vec![],
        }];
        let snapshot = SnapshotBuilder::quickstart()
            .with(|s| s.routes.push(bad))
            .build();
        let problems = proxy.state.apply(snapshot).expect_err(name);
        assert!(
            problems
                .iter()
                .any(|p| p.contains("route httproute/gw/bad/0/0") && p.contains("identity header")),
            "{name}: {problems:?}"
        );
        assert_eq!(proxy.state.hash(), held, "nothing changed");
    }
    let mut conn = Conn::open(proxy.http).await;
    assert_eq!(answered_by(&conn.send(get("/", &[])).await), "up");
    proxy.stop().await;
}
