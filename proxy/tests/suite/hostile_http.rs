//! HTTP-level hostility against the real server over real sockets: oversized heads (431), slow
//! clients (disconnected), request smuggling (never a second request upstream), oversized
//! token-endpoint bodies (413) and hostile token requests (never a 500).

use crate::hostile_support;
use crate::support;

use std::time::{Duration, Instant};

use hostile_support::{Recorder, Tally, exchange};
use support::{RunningProxy, SnapshotBuilder, backend};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The header read timeout the slow-client tests configure.
const HEAD_TIMEOUT: Duration = Duration::from_millis(300);
/// How long any refused exchange may take before the test calls the proxy stuck.
const LIMIT: Duration = Duration::from_secs(10);

/// Quickstart routes plus an open route `/open` to a recording upstream.
async fn start() -> (RunningProxy, Recorder) {
    let upstream = Recorder::start("open").await;
    let snapshot = SnapshotBuilder::quickstart()
        .open_route("default/open", "/open", Some(backend(&[upstream.addr])))
        .build();
    let proxy =
        RunningProxy::start_with(Some(snapshot), |o| o.header_read_timeout = HEAD_TIMEOUT).await;
    (proxy, upstream)
}

#[tokio::test]
async fn oversized_request_heads_are_refused_with_431_and_the_connection_closed() {
    let mut tally = Tally::new("http");
    let (proxy, upstream) = start().await;
    let one_big = format!(
        "GET /open HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    let many = format!("GET /open HTTP/1.1\r\nHost: x\r\n{many}\r\n");
    let wide: String = (0..40)
        .map(|i| format!("X-W{i}: {}\r\n", "b".repeat(1024)))
        .collect();
    let wide = format!("GET /open HTTP/1.1\r\nHost: x\r\n{wide}\r\n");
    let cookie = format!(
        "GET /open HTTP/1.1\r\nHost: x\r\nCookie: {}\r\n\r\n",
        "c=d; ".repeat(10_000)
    );
    for (case, request) in [
        ("one 64 KiB header", &one_big),
        ("200 headers", &many),
        ("40 x 1 KiB", &wide),
        ("50 KB cookie", &cookie),
    ] {
        let reply = exchange(proxy.http, request.as_bytes(), LIMIT).await;
        assert_eq!(reply.status, 431, "{case}: {}", reply.head);
        tally.case();
    }
    let long_uri = format!(
        "GET /open/{} HTTP/1.1\r\nHost: x\r\n\r\n",
        "u".repeat(64 * 1024)
    );
    let reply = exchange(proxy.http, long_uri.as_bytes(), LIMIT).await;
    assert!(
        matches!(reply.status, 414 | 431),
        "64 KiB URI: {}",
        reply.head
    );
    tally.case();
    assert!(upstream.seen().is_empty(), "{:?}", upstream.uris());
}

#[tokio::test]
async fn an_oversized_http2_header_list_never_reaches_the_upstream() {
    let mut tally = Tally::new("http");
    let (proxy, upstream) = start().await;
    let request = support::client::get("/open/h2")
        .header("host", "localhost")
        .header("x-big", "a".repeat(64 * 1024))
        .body(support::client::empty())
        .expect("request");
    // The h2 client may see a 431 or a reset stream; either way nothing is forwarded.
    let outcome = tokio::spawn({
        let (addr, pem) = (proxy.https, proxy.cert_pem.clone());
        async move {
            support::client::send_tls(addr, &pem, true, request)
                .await
                .status()
        }
    })
    .await;
    if let Ok(status) = outcome {
        assert_eq!(status, http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    }
    tally.case();
    assert!(upstream.seen().is_empty(), "{:?}", upstream.uris());
}

/// Reads until the proxy closes the connection; the elapsed time.
async fn until_closed(stream: &mut TcpStream) -> Duration {
    let start = Instant::now();
    let mut buf = [0u8; 1024];
    let read = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(LIMIT, read)
        .await
        .expect("the proxy closed the slow connection");
    start.elapsed()
}

#[tokio::test]
async fn clients_that_never_finish_their_headers_are_disconnected() {
    let mut tally = Tally::new("http");
    let (proxy, upstream) = start().await;
    let partial: [&[u8]; 5] = [
        b"G",
        b"GET /open HTTP/1.1\r\n",
        b"GET /open HTTP/1.1\r\nHost: x\r\nX-Slow: ",
        b"POST /auth/oauth2/token HTTP/1.1\r\nHost: x\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    ];
    for bytes in partial {
        let mut stream = TcpStream::connect(proxy.http).await.expect("connect");
        stream.write_all(bytes).await.expect("write");
        let waited = until_closed(&mut stream).await;
        assert!(waited < LIMIT, "{:?}", String::from_utf8_lossy(bytes));
        tally.case();
    }
    assert!(upstream.seen().is_empty());
}

#[tokio::test]
async fn a_client_that_connects_and_sends_nothing_is_disconnected_on_both_listeners() {
    let mut tally = Tally::new("http");
    let (proxy, _upstream) = start().await;
    for addr in [proxy.http, proxy.https] {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        until_closed(&mut stream).await;
        tally.case();
    }
}

#[tokio::test]
async fn a_slowloris_trickling_one_header_byte_at_a_time_is_disconnected_by_the_head_deadline() {
    let mut tally = Tally::new("http");
    let (proxy, upstream) = start().await;
    let mut stream = TcpStream::connect(proxy.http).await.expect("connect");
    stream
        .write_all(b"GET /open HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let start = Instant::now();
    // One byte per tick; the head would never end. The proxy must hang up long before the
    // trickle runs out (`HEAD_TIMEOUT` is 300 ms; the trickle would last 20 s).
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let mut closed = false;
    for _ in 0..400 {
        tick.tick().await;
        if stream.write_all(b"X").await.is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 512];
        if let Ok(Ok(0) | Err(_)) =
            tokio::time::timeout(Duration::from_millis(1), stream.read(&mut buf)).await
        {
            closed = true;
            break;
        }
    }
    assert!(closed, "still connected after {:?}", start.elapsed());
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "closed only after {:?}",
        start.elapsed()
    );
    assert!(upstream.seen().is_empty());
    tally.case();
}

#[tokio::test]
async fn smuggling_attempts_never_deliver_a_second_request_upstream() {
    let mut tally = Tally::new("http");
    let (proxy, upstream) = start().await;
    let smuggled = "GET /open/smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
    let cases: Vec<(&str, String)> = vec![
        (
            "CL then TE",
            format!(
                "POST /open/a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}"
            ),
        ),
        (
            "TE then CL",
            format!(
                "POST /open/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 60\r\n\r\n0\r\n\r\n{smuggled}"
            ),
        ),
        (
            "TE.CL body",
            format!(
                "POST /open/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n{:x}\r\n{smuggled}\r\n0\r\n\r\n",
                smuggled.len()
            ),
        ),
        (
            "TE not chunked last",
            format!(
                "POST /open/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\nContent-Length: 5\r\n\r\n0\r\n\r\n{smuggled}"
            ),
        ),
        (
            "TE xchunked",
            format!(
                "POST /open/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n{smuggled}"
            ),
        ),
        (
            "TE in HTTP/1.0",
            format!(
                "POST /open/a HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}"
            ),
        ),
        (
            "two CLs",
            format!(
                "POST /open/a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 41\r\n\r\n{smuggled}"
            ),
        ),
        (
            "CL list",
            format!("POST /open/a HTTP/1.1\r\nHost: x\r\nContent-Length: 0, 41\r\n\r\n{smuggled}"),
        ),
        (
            "CL plus sign",
            format!("POST /open/a HTTP/1.1\r\nHost: x\r\nContent-Length: +0\r\n\r\n{smuggled}"),
        ),
        (
            "CL negative",
            format!("POST /open/a HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n{smuggled}"),
        ),
        (
            "CL hex",
            format!("POST /open/a HTTP/1.1\r\nHost: x\r\nContent-Length: 0x0\r\n\r\n{smuggled}"),
        ),
        (
            "space before colon",
            format!(
                "POST /open/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\nContent-Length: 0\r\n\r\n{smuggled}"
            ),
        ),
        (
            "obs-fold",
            format!(
                "POST /open/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\nContent-Length: 0\r\n\r\n{smuggled}"
            ),
        ),
        (
            "NUL in header",
            format!(
                "POST /open/a HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\nContent-Length: 0\r\n\r\n{smuggled}"
            ),
        ),
        (
            "CR in header",
            format!(
                "POST /open/a HTTP/1.1\r\nHost: x\r\nX-A: a\rContent-Length: 41\r\n\r\n{smuggled}"
            ),
        ),
    ];
    let mut problems = Vec::new();
    for (case, request) in &cases {
        // Each request is followed by a smuggled one on the same connection, with no
        // `Connection: close`: only the proxy's own framing decides what happens to it.
        let mut stream = TcpStream::connect(proxy.http).await.expect("connect");
        let _ = stream.write_all(request.as_bytes()).await;
        let mut bytes = Vec::new();
        let mut buf = [0u8; 4096];
        let read = async {
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => bytes.extend_from_slice(&buf[..n]),
                }
            }
        };
        tokio::time::timeout(LIMIT, read)
            .await
            .unwrap_or_else(|_| panic!("{case}: connection left open"));
        let text = String::from_utf8_lossy(&bytes);
        let statuses: Vec<&str> = text.lines().filter(|l| l.starts_with("HTTP/1.")).collect();
        if statuses.len() > 1 || statuses.iter().any(|l| l.starts_with("HTTP/1.1 5")) {
            problems.push(format!("{case}: {statuses:?}"));
        }
        tally.case();
    }
    assert!(problems.is_empty(), "{problems:#?}");
    let uris = upstream.uris();
    assert!(
        uris.iter().all(|u| !u.contains("smuggled")),
        "a smuggled request reached the upstream: {uris:?}"
    );
}

#[tokio::test]
async fn a_token_request_body_over_the_limit_gets_413_however_it_is_framed() {
    let mut tally = Tally::new("token-endpoint");
    let (proxy, _upstream) = start().await;
    let big = "x".repeat(20 * 1024);
    let declared = "POST /auth/oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 10000000\r\nConnection: close\r\n\r\ngrant_type=client_credentials".to_owned();
    let exact = format!(
        "POST /auth/oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\npad={big}",
        big.len() + 4
    );
    let chunked = format!(
        "POST /auth/oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{big}\r\n{:x}\r\n{big}\r\n0\r\n\r\n",
        big.len(),
        big.len()
    );
    for (case, request) in [
        ("declared 10 MB", &declared),
        ("20 KiB", &exact),
        ("chunked 40 KiB", &chunked),
    ] {
        let reply = exchange(proxy.http, request.as_bytes(), LIMIT).await;
        assert_eq!(reply.status, 413, "{case}: {}", reply.head);
        assert_eq!(
            reply.json()["error"],
            "invalid_request",
            "{case}: {}",
            reply.text()
        );
        assert_eq!(reply.header("cache-control"), Some("no-store"), "{case}");
        tally.case();
    }
}

#[tokio::test]
async fn hostile_token_requests_over_the_wire_get_4xx_never_5xx() {
    let mut tally = Tally::new("token-endpoint");
    let (proxy, _upstream) = start().await;
    let cases: [(&[u8], &[u8]); 10] = [
        (b"Content-Type: application/x-www-form-urlencoded\r\n", b"grant_type=client_credentials&client_id=client&client_secret=%FF%FE"),
        (b"Content-Type: application/x-www-form-urlencoded\r\n", b"\xff\xfe\xfd"),
        (b"Content-Type: application/json\r\n", b"{\"client_id\":\"\xff\"}"),
        (b"Content-Type: text/plain\r\n", b"grant_type=client_credentials"),
        (b"Content-Type: \xff\xfe\r\n", b"grant_type=client_credentials"),
        (b"Authorization: Basic \xff\xfe\r\nContent-Type: application/x-www-form-urlencoded\r\n", b"grant_type=client_credentials"),
        (b"Authorization: Basic Y2xpZW50OnNlY3JldA==\r\nContent-Type: application/x-www-form-urlencoded\r\n", b"grant_type=client_credentials&client_secret=secret"),
        (b"", b""),
        (b"Content-Type: application/json\r\n", b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["),
        (b"Content-Type: application/x-www-form-urlencoded\r\n", b"grant_type=client_credentials&grant_type=client_credentials"),
    ];
    for (headers, body) in cases {
        let mut request =
            b"POST /auth/oauth2/token?client_secret=x HTTP/1.1\r\nHost: x\r\n".to_vec();
        request.extend_from_slice(headers);
        request.extend_from_slice(
            format!(
                "Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        );
        request.extend_from_slice(body);
        let reply = exchange(proxy.http, &request, LIMIT).await;
        assert!(
            (400..500).contains(&reply.status),
            "{}: {} {}",
            String::from_utf8_lossy(headers),
            reply.status,
            reply.text()
        );
        tally.case();
    }
}

#[tokio::test]
async fn malformed_chunked_bodies_and_duplicate_hosts_are_client_errors() {
    let mut tally = Tally::new("http");
    let (proxy, upstream) = start().await;
    let smuggled = "GET /open/smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
    let cases: Vec<(&str, String)> = vec![
        (
            "chunk size overflow",
            format!(
                "POST /open/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\n{smuggled}"
            ),
        ),
        (
            "chunk size not hex",
            format!(
                "POST /open/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{smuggled}"
            ),
        ),
        (
            "bare LF chunk",
            format!(
                "POST /open/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\n\n{smuggled}"
            ),
        ),
        // RFC 9112 §3.2: "A server MUST respond with a 400 … to any HTTP/1.1 request message that
        // … contains more than one Host header field line".
        (
            "two hosts",
            format!(
                "GET /open/a HTTP/1.1\r\nHost: x\r\nHost: y\r\nContent-Length: 0\r\n\r\n{smuggled}"
            ),
        ),
    ];
    let mut problems = Vec::new();
    for (case, request) in &cases {
        let reply = exchange(proxy.http, request.as_bytes(), LIMIT).await;
        if !(400..500).contains(&reply.status) {
            problems.push(format!(
                "{case}: {}",
                reply
                    .head
                    .lines()
                    .next()
                    .unwrap_or("closed without a response")
            ));
        }
        tally.case();
    }
    assert!(problems.is_empty(), "{problems:#?}");
    let uris = upstream.uris();
    assert!(uris.iter().all(|u| !u.contains("smuggled")), "{uris:?}");
}

#[tokio::test]
async fn after_a_shutdown_signal_the_proxy_is_not_ready_but_serves_new_connections_until_the_drain_delay_ends()
 {
    let upstream = Recorder::start("open").await;
    let snapshot = SnapshotBuilder::quickstart()
        .open_route("default/open", "/open", Some(backend(&[upstream.addr])))
        .build();
    let mut proxy = RunningProxy::start_with(Some(snapshot), |o| {
        o.drain_delay = Duration::from_secs(1);
    })
    .await;
    proxy.begin_stop();
    let admin = proxy.admin;
    loop {
        let ready = support::client::send(
            admin,
            support::client::get("/readyz")
                .body(support::client::empty())
                .expect("r"),
        )
        .await;
        if ready.status() == http::StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        tokio::task::yield_now().await;
    }
    // Not ready, yet a load balancer that has not noticed still gets served, not reset.
    let request = b"GET /open/late HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let reply = exchange(proxy.http, request, LIMIT).await;
    assert_eq!(reply.status, 200, "{}", reply.head);
    assert_eq!(upstream.uris(), vec!["/late".to_owned()]);
    // Then the listeners close and serve returns.
    let finished = proxy.finished.take().expect("serve task");
    tokio::time::timeout(LIMIT, finished)
        .await
        .expect("serve returned after the drain delay")
        .expect("join")
        .expect("serve ok");
    assert!(
        TcpStream::connect(proxy.http).await.is_err(),
        "still accepting"
    );
}
