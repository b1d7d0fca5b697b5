//! Hostile input against the real standalone gateway (controller binary, real httpbin, real
//! TLS): tampered and malformed tokens, hostile token requests, path tricks and oversized or
//! ambiguous HTTP, identity headers a client tries to unset or imitate, methods and separators
//! that could reach a less protected route (these two on both server paths). The in-process suites (`*/tests/hostile_*.rs`) try each category
//! exhaustively; this one proves the shipped binary wires the same defences. Each test prints
//! `HOSTILE-CASES <category> <n>`.

use bytes::Bytes;
use http::Method;
use tollgate_e2e::fixture::{Quickstart, Variant, assert_invalid_token, echoed_headers};
use tollgate_e2e::quickstart;
use tollgate_e2e::raw::{build_request, raw_http1};

#[tokio::test]
async fn tampered_truncated_and_malformed_tokens_are_refused_over_the_wire() {
    let qs = Quickstart::start("hostile-tokens").await;
    let token = qs.access_token().await;
    let mut cases: Vec<String> = Vec::new();
    for i in (0..token.len()).step_by(5) {
        let mut bytes = token.clone().into_bytes();
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        cases.push(String::from_utf8(bytes).expect("ascii"));
    }
    for len in [0, 1, 2, 10, token.len() / 2, token.len() - 1] {
        cases.push(token[..len].to_owned());
    }
    cases.extend([
        format!("{token}A"),
        format!("{token}=="),
        format!("{token}.{token}"),
        token.replace('-', "+").replace('_', "/"),
        "A".repeat(1025),
        "A".repeat(8 * 1024),
        "null".to_owned(),
    ]);
    // A spelling that happens to equal the genuine token (no `-` or `_` to swap) is no case.
    cases.retain(|case| case != &token);
    let path = qs.upstream_path();
    let mut n = 0;
    for case in &cases {
        if case.is_empty() {
            continue;
        }
        let response = qs.call_upstream(Some(case)).await;
        assert_ne!(
            response.status, 200,
            "accepted {case:?}; the genuine token is {token:?}"
        );
        assert_invalid_token(&response);
        n += 1;
    }
    // Bytes no HTTP client library would send: non-ASCII and control-adjacent token bytes.
    for value in [
        "Bearer \u{e9}\u{e9}\u{e9}",
        "Bearer \u{1F600}",
        "bearer   x",
        "Bearer \u{7f}",
    ] {
        let request = build_request(
            &format!("GET {path} HTTP/1.1"),
            &qs.gateway.http_addr(),
            &[("Authorization", value)],
            b"",
        );
        let response = raw_http1(&qs.gateway.http_addr(), &request)
            .await
            .expect("raw request");
        assert!(
            matches!(response.status, 400 | 401),
            "{value:?}: {} {}",
            response.status,
            response.text()
        );
        if response.status == 401 {
            assert_eq!(
                response.json()["error"],
                "invalid_token",
                "{value:?}: {}",
                response.text()
            );
        }
        n += 1;
    }
    assert_eq!(
        qs.call_upstream(Some(&token)).await.status,
        200,
        "the genuine token still works"
    );
    println!("HOSTILE-CASES tokens {n}");
}

#[tokio::test]
async fn hostile_token_requests_get_rfc6749_errors_never_5xx() {
    let qs = Quickstart::start("hostile-token-endpoint").await;
    let url = qs.gateway.token_url();
    let form = "application/x-www-form-urlencoded";
    let good = "grant_type=client_credentials&client_id=client&client_secret=secret";
    let basic = "Basic Y2xpZW50OnNlY3JldA=="; // client:secret
    // (query, headers, body, status, error)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Bytes, u16, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (
            "",
            vec![("content-type", form)],
            Bytes::from(format!("{good}&client_id=client")),
            400,
            "invalid_request",
        ),
        (
            "",
            vec![("content-type", form), ("authorization", basic)],
            Bytes::from(good),
            400,
            "invalid_request",
        ),
        (
            "",
            vec![("content-type", form), ("authorization", "Basic !!!")],
            Bytes::from("grant_type=client_credentials"),
            401,
            "invalid_client",
        ),
        (
            "",
            vec![("content-type", form), ("authorization", "Basic Y2xpZW50")],
            Bytes::from("grant_type=client_credentials"),
            401,
            "invalid_client",
        ),
        (
            "",
            vec![("content-type", form)],
            Bytes::from_static(b"grant_type=client_credentials&client_id=client&client_secret=%FF"),
            400,
            "invalid_request",
        ),
        (
            "",
            vec![("content-type", form)],
            Bytes::from_static(b"grant_type=client_credentials&client_id=\xff\xfe"),
            400,
            "invalid_request",
        ),
        (
            "",
            vec![("content-type", "text/plain")],
            Bytes::from(good),
            400,
            "invalid_request",
        ),
        (
            "",
            vec![("content-type", "multipart/form-data; boundary=x")],
            Bytes::from(good),
            400,
            "invalid_request",
        ),
        (
            "",
            vec![("content-type", "application/json")],
            Bytes::from(good),
            400,
            "invalid_request",
        ),
        (
            "client_secret=secret",
            vec![("content-type", form)],
            Bytes::from("grant_type=client_credentials&client_id=client"),
            400,
            "invalid_request",
        ),
        (
            "client_id=client&client_secret=secret&grant_type=client_credentials",
            vec![],
            Bytes::new(),
            400,
            "invalid_request",
        ),
        (
            "",
            vec![("content-type", form)],
            Bytes::from("grant_type=password&client_id=client&client_secret=secret"),
            400,
            "unsupported_grant_type",
        ),
        (
            "",
            vec![("content-type", form)],
            Bytes::from("grant_type=client_credentials&client_id=client&client_secret=wrong"),
            400,
            "invalid_client",
        ),
    ];
    let mut n = 0;
    for (query, headers, body, status, error) in cases {
        let target = if query.is_empty() {
            url.clone()
        } else {
            format!("{url}?{query}")
        };
        let response = qs
            .client
            .send(Method::POST, &target, &headers, body)
            .await
            .expect("token request completes");
        assert_eq!(
            (response.status.as_u16(), response.json()["error"].as_str()),
            (status, Some(error)),
            "{query} {headers:?}: {}",
            response.describe()
        );
        assert_eq!(
            response.header("cache-control"),
            Some("no-store"),
            "{}",
            response.describe()
        );
        n += 1;
    }
    // A body declared over the limit gets 413 before it is read (raw, so the client does not
    // race the early answer with a 64 KiB upload).
    let addr = qs.gateway.http_addr();
    let declared = format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nContent-Type: {form}\r\nContent-Length: 1000000\r\nConnection: close\r\n\r\n{good}",
        quickstart::TOKEN_PATH
    );
    let response = raw_http1(&addr, declared.as_bytes())
        .await
        .expect("raw request");
    assert_eq!(
        (response.status, response.json()["error"].as_str()),
        (413, Some("invalid_request")),
        "{}",
        response.text()
    );
    n += 1;
    println!("HOSTILE-CASES token-endpoint {n}");
}

#[tokio::test]
async fn path_tricks_and_ambiguous_http_never_get_past_the_gateway_without_a_token() {
    let qs = Quickstart::start("hostile-http").await;
    let addr = qs.gateway.http_addr();
    let upstream = qs.upstream_path();
    let mut n = 0;
    // The upstream route is protected: no spelling of its path reaches httpbin without a token.
    let trimmed = upstream.trim_start_matches('/');
    let spellings = [
        format!("/{trimmed}"),
        format!("//{trimmed}"),
        format!("/./{trimmed}"),
        format!("/x/../{trimmed}"),
        format!("/%2e/{trimmed}"),
        format!("/{}", trimmed.replacen('a', "%61", 1)),
        format!("/{trimmed}/"),
        format!("/{trimmed}%2F"),
        format!("http://localhost/{trimmed}"),
    ];
    for target in &spellings {
        let request = build_request(&format!("GET {target} HTTP/1.1"), &addr, &[], b"");
        let response = raw_http1(&addr, &request).await.expect("raw request");
        assert!(
            matches!(response.status, 400 | 401 | 404),
            "{target}: {} {}",
            response.status,
            response.text()
        );
        n += 1;
    }
    // Path tricks never reach the token endpoint over plain HTTP or anywhere else.
    let body = b"grant_type=client_credentials&client_id=client&client_secret=secret";
    for target in [
        "/auth/../x/oauth2/token",
        "/auth/%2e%2e/x/oauth2/token",
        "/auth%2Foauth2%2Ftoken",
        "/x/oauth2/token",
    ] {
        let request = build_request(
            &format!("POST {target} HTTP/1.1"),
            &addr,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            body,
        );
        let response = raw_http1(&addr, &request).await.expect("raw request");
        assert!(response.status < 500, "{target}: {}", response.status);
        assert!(
            response.json().get("access_token").is_none(),
            "{target} issued a token"
        );
        n += 1;
    }
    // An oversized head gets 431; Content-Length with Transfer-Encoding yields one response at
    // most and the connection closes, so nothing is smuggled behind it.
    let big = format!(
        "GET {upstream} HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    assert_eq!(
        raw_http1(&addr, big.as_bytes()).await.expect("raw").status,
        431
    );
    let smuggle = format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET {upstream} HTTP/1.1\r\nHost: x\r\n\r\n",
        quickstart::TOKEN_PATH
    );
    let response = raw_http1(&addr, smuggle.as_bytes()).await.expect("raw");
    assert!(response.status < 500, "{}", response.status);
    assert!(
        !String::from_utf8_lossy(&response.body).contains("HTTP/1.1 200"),
        "{}",
        response.text()
    );
    n += 2;
    println!("HOSTILE-CASES http {n}");
}

/// An anonymous consumer, an openid-connect plugin falling back to it, and route `/anon` to
/// httpbin through that plugin.
const ANONYMOUS_ROUTE: &str = "\
apiVersion: tollgate.dev/v1alpha1
kind: Consumer
metadata:
  name: nobody
spec:
  username: anonymous
---
apiVersion: tollgate.dev/v1alpha1
kind: AuthPlugin
metadata:
  name: oidc-or-anonymous
spec:
  type: openid-connect
  openidConnect:
    authMethods: [kong_oauth2]
    anonymous: nobody
---
apiVersion: tollgate.dev/v1alpha1
kind: GatewayRoute
metadata:
  name: anon
spec:
  paths: [/anon]
  plugins: [oidc-or-anonymous]
  backend:
    url: UPSTREAM
";

/// The gateway's options for one server path: the HTTP/1 fast path (with the inline upstream
/// client for bodiless requests) or hyper's server for every request.
fn server_path(fast_path: bool) -> [&'static str; 2] {
    [
        "--http1-fast-path",
        if fast_path { "true" } else { "false" },
    ]
}

/// Identity headers through the shipped binary to a credulous upstream: gunicorn with
/// `--header-map dangerous` reads `X_Consumer_Username` as `X-Consumer-Username` (as CGI, WSGI
/// and Rack servers do), and httpbin echoes what it read. A client can neither make the gateway
/// drop the identity headers by naming them in `Connection` nor add a look-alike the upstream
/// merges with them; on the fast path and on hyper's, for a bodiless request (inline upstream
/// client) and one with a body (hyper's client).
#[tokio::test]
async fn identity_headers_cannot_be_unset_through_connection_or_forged_with_look_alikes() {
    let mut n = 0;
    for fast_path in [true, false] {
        let qs = Quickstart::start_variant(
            &format!("hostile-identity-{fast_path}"),
            Variant {
                gateway_args: &server_path(fast_path),
                httpbin_args: &["--header-map", "dangerous"],
                extra_manifests: &[("05-anonymous.yaml", ANONYMOUS_ROUTE)],
            },
        )
        .await;
        let addr = qs.gateway.http_addr();
        let bearer = format!("Bearer {}", qs.access_token().await);
        let jane_id = qs.expected_consumer_id();
        let anonymous_id = tollgate_core::ids::consumer_id(quickstart::NAMESPACE, "nobody");
        let jane = [
            ("x-consumer-id", jane_id.as_str()),
            ("x-consumer-username", "jane"),
            ("x-credential-identifier", quickstart::CLIENT_ID),
        ];
        let anonymous = [
            ("x-consumer-id", anonymous_id.as_str()),
            ("x-consumer-username", "anonymous"),
            ("x-anonymous-consumer", "true"),
        ];
        let cases = [
            ("/anything", Some(bearer.as_str()), &jane),
            ("/anon/anything", Some(bearer.as_str()), &jane),
            ("/anon/anything", None, &anonymous),
        ];
        let nominations = [
            "X-Consumer-Username, X-Consumer-Id",
            "x-consumer-id, x-consumer-username, x-credential-identifier, x-anonymous-consumer",
            "keep-alive, X-Anonymous-Consumer",
            "X-Forwarded-For, X-Real-IP, X-Consumer-Custom-Id",
        ];
        for (path, authorization, identity) in cases {
            for nominated in nominations {
                for (method, body) in [("GET", &b""[..]), ("POST", &b"x=1"[..])] {
                    let mut headers = vec![
                        ("X-Consumer-x", "1"),
                        ("X_Consumer_Username", "admin"),
                        ("X-Consumer_Id", "evil"),
                        ("x_anonymous_consumer", "false"),
                        ("X_Credential_Identifier", "other"),
                        ("X_Forwarded_For", "10.9.9.9"),
                        ("x-real_ip", "10.9.9.9"),
                        ("Connection", nominated),
                    ];
                    if let Some(a) = authorization {
                        headers.push(("Authorization", a));
                    }
                    let request = build_request(
                        &format!("{method} {path}?show_env=1 HTTP/1.1"),
                        "gateway.test",
                        &headers,
                        body,
                    );
                    let response = raw_http1(&addr, &request).await.expect("raw request");
                    let what = format!("fast path {fast_path}, {method} {path}, {nominated}");
                    assert_eq!(response.status, 200, "{what}: {}", response.text());
                    let seen = echoed_headers(&response.json());
                    for (name, value) in identity {
                        assert_eq!(
                            seen.get(*name).map(String::as_str),
                            Some(*value),
                            "{what}: {seen:?}"
                        );
                    }
                    for name in [
                        "x-consumer-x",
                        "x-consumer-custom-id",
                        "x-anonymous-consumer",
                        "x-credential-identifier",
                    ] {
                        if !identity.iter().any(|(n, _)| n == &name) {
                            assert!(!seen.contains_key(name), "{what}: {name} in {seen:?}");
                        }
                    }
                    for name in ["x-forwarded-for", "x-real-ip"] {
                        assert_eq!(
                            seen.get(name).map(String::as_str),
                            Some("127.0.0.1"),
                            "{what}: {seen:?}"
                        );
                    }
                    n += 1;
                }
            }
        }
    }
    println!("HOSTILE-CASES identity-headers {n}");
}

/// An open route `/pub` and, under it, a GET-only route `/pub/admin` that needs a token.
const NESTED_ROUTES: &str = "\
apiVersion: tollgate.dev/v1alpha1
kind: GatewayRoute
metadata:
  name: pub
spec:
  paths: [/pub]
  backend:
    url: UPSTREAM
---
apiVersion: tollgate.dev/v1alpha1
kind: GatewayRoute
metadata:
  name: pub-admin
spec:
  paths: [/pub/admin]
  methods: [GET]
  plugins: [oidc]
  backend:
    url: UPSTREAM
";

/// No method or spelling of a protected GET-only route falls through to the open route above
/// it: HEAD is served by the GET route (401 without a token, 200 with one); `\`, `%2F`, `%5C`
/// and a dot segment with a `;` parameter are refused with 400; any other `;` ends a segment,
/// so `/pub/admin;x` is still the protected route's. On the fast path and on hyper's.
#[tokio::test]
async fn methods_and_separators_never_fall_through_to_a_less_protected_route() {
    let mut n = 0;
    for fast_path in [true, false] {
        let qs = Quickstart::start_variant(
            &format!("hostile-paths-{fast_path}"),
            Variant {
                gateway_args: &server_path(fast_path),
                extra_manifests: &[("05-nested.yaml", NESTED_ROUTES)],
                ..Variant::default()
            },
        )
        .await;
        let addr = qs.gateway.http_addr();
        let bearer = format!("Bearer {}", qs.access_token().await);
        let cases: [(&str, &str, u16, u16); 14] = [
            // method, target, status without a token, status with one
            ("GET", "/pub/anything", 200, 200),
            ("HEAD", "/pub/anything", 200, 200),
            ("GET", "/pub/admin/anything", 401, 200),
            ("HEAD", "/pub/admin/anything", 401, 200),
            ("HEAD", "/pub/admin", 401, 200),
            // Stripped of `/pub/admin`, httpbin gets `;x/anything`, which it does not serve.
            ("GET", "/pub/admin;x/anything", 401, 404),
            ("GET", "/pub/admin%2Fanything", 400, 400),
            ("GET", "/pub%2fadmin/anything", 400, 400),
            ("GET", "/pub/admin%5Canything", 400, 400),
            ("GET", "/pub\\admin/anything", 400, 400),
            ("GET", "/pub/admin\\anything", 400, 400),
            ("GET", "/pub/x/..;/admin/anything", 400, 400),
            ("HEAD", "/pub/x/..;/admin/anything", 400, 400),
            ("GET", "/pub/.;/admin/anything", 400, 400),
        ];
        for (method, target, anonymous, authenticated) in cases {
            for (authorization, want) in [(None, anonymous), (Some(bearer.as_str()), authenticated)]
            {
                let headers: Vec<(&str, &str)> = authorization
                    .map(|a| ("Authorization", a))
                    .into_iter()
                    .collect();
                let request = build_request(
                    &format!("{method} {target} HTTP/1.1"),
                    "gateway.test",
                    &headers,
                    b"",
                );
                let response = raw_http1(&addr, &request).await.expect("raw request");
                assert_eq!(
                    response.status,
                    want,
                    "fast path {fast_path}, {method} {target}, token {}: {}",
                    authorization.is_some(),
                    response.text()
                );
                n += 1;
            }
        }
    }
    println!("HOSTILE-CASES paths-and-methods {n}");
}

/// The proxy's resident memory in KiB (`VmRSS` of `/proc/<pid>/status`).
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// A request body that sends `first` and then nothing, until its sender is dropped.
type Trickle = http_body_util::StreamBody<tokio_stream_shim::Receiver>;

mod tokio_stream_shim {
    use bytes::Bytes;
    use hyper::body::Frame;

    /// An mpsc receiver as a `Stream` of body frames.
    pub struct Receiver(pub tokio::sync::mpsc::Receiver<Result<Frame<Bytes>, std::io::Error>>);

    impl futures::Stream for Receiver {
        type Item = Result<Frame<Bytes>, std::io::Error>;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            self.0.poll_recv(cx)
        }
    }
}

/// Slow clients against the token endpoint, which must read its body: 100 HTTP/2 connections
/// with 100 streams each and 100 HTTP/1 connections, every request declaring a 16 KiB body and
/// sending one byte, then stalling. The proxy allocates nothing from the declared length, counts
/// the bytes and the reads in progress against its body budget (a quarter of the reads at most
/// per client address) and bounds HTTP/2 streams, so its memory stays bounded while a
/// legitimate client keeps getting tokens; a stalled body is answered 408 once its deadline
/// passes, the reads beyond the budget 503 at once.
#[tokio::test]
async fn two_hundred_slow_clients_cannot_exhaust_memory_and_legitimate_clients_keep_getting_tokens()
{
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use std::time::Instant;

    // A short body deadline, so the test also sees it fire (the default is 15 s between chunks).
    let qs = Quickstart::start_variant(
        "slow-clients",
        Variant {
            gateway_args: &["--body-timeout-secs", "3"],
            ..Variant::default()
        },
    )
    .await;
    let pid = qs.gateway.pid().expect("gateway pid");
    let baseline = rss_kib(pid);
    let addr = qs.gateway.http_addr();
    let path = quickstart::TOKEN_PATH;
    let declared = 16 * 1024;
    let started = Instant::now();

    // The attackers come from 127.0.0.2; the legitimate client from 127.0.0.1.
    let attacker = || async {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind("127.0.0.2:0".parse().expect("addr"))
            .expect("bind 127.0.0.2");
        socket
            .connect(addr.parse().expect("addr"))
            .await
            .expect("connect")
    };
    let mut held = Vec::new(); // body senders kept open: the clients stall
    let mut pending = Vec::new(); // the responses the stalled requests will get
    for _ in 0..100 {
        let tcp = attacker().await;
        let (sender, connection) = hyper::client::conn::http2::handshake::<_, _, Trickle>(
            TokioExecutor::new(),
            TokioIo::new(tcp),
        )
        .await
        .expect("h2 handshake");
        tokio::spawn(connection);
        for _ in 0..100 {
            let (tx, rx) = tokio::sync::mpsc::channel(1);
            tx.send(Ok(hyper::body::Frame::data(Bytes::from_static(b"g"))))
                .await
                .expect("first byte");
            let request = http::Request::post(path)
                .header("host", "localhost")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("content-length", declared.to_string())
                .body(http_body_util::StreamBody::new(
                    tokio_stream_shim::Receiver(rx),
                ))
                .expect("request");
            let mut sender = sender.clone();
            pending.push(tokio::spawn(async move {
                sender.ready().await.ok()?;
                sender
                    .send_request(request)
                    .await
                    .ok()
                    .map(|r| r.status().as_u16())
            }));
            held.push(tx);
        }
    }
    let mut h1 = Vec::new();
    for _ in 0..100 {
        use tokio::io::AsyncWriteExt;
        let mut tcp = attacker().await;
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {declared}\r\n\r\ng"
        );
        tcp.write_all(head.as_bytes()).await.expect("write");
        h1.push(tcp);
    }
    let opened = started.elapsed();

    // While they stall: legitimate token requests over HTTPS still succeed; RSS is sampled.
    let mut peak = rss_kib(pid);
    let mut served = 0;
    let mut latencies = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let response = qs.request_token(quickstart::CLIENT_SECRET).await;
        latencies.push(t.elapsed());
        assert_eq!(response.status, 200, "{}", response.describe());
        served += 1;
        peak = peak.max(rss_kib(pid));
    }
    latencies.sort();
    // Then the stalled bodies hit their deadline: every HTTP/2 stream is answered 408.
    let mut statuses = std::collections::BTreeMap::new();
    for p in pending {
        let status = p.await.ok().flatten();
        *statuses.entry(status).or_insert(0) += 1;
        peak = peak.max(rss_kib(pid));
    }
    drop(held);
    drop(h1);
    let grown_mib = peak.saturating_sub(baseline) / 1024;
    println!(
        "slow clients: 100 h2 connections x 100 streams + 100 h1 connections opened in {opened:?}; \
         gateway RSS {} MiB before, peak {} MiB (+{grown_mib} MiB); {served} legitimate token \
         requests meanwhile, median {:?}, max {:?}; stalled streams answered {statuses:?}",
        baseline / 1024,
        peak / 1024,
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1],
    );
    // 10,000 stalled streams declaring 16 KiB each: buffers sized from the declared length would
    // be 156 MiB by themselves. One address holds at most 256 reads (a quarter of the default
    // 1,024): the others are refused at once with 503, those 256 time out with 408.
    assert!(grown_mib < 80, "RSS grew by {grown_mib} MiB");
    let timed_out = statuses.get(&Some(408)).copied().unwrap_or(0);
    let refused = statuses.get(&Some(503)).copied().unwrap_or(0);
    assert_eq!(timed_out + refused, 10_000, "{statuses:?}");
    assert!(timed_out <= 256, "{statuses:?}");
    // Still serving.
    assert_eq!(
        qs.request_token(quickstart::CLIENT_SECRET).await.status,
        200
    );
}
