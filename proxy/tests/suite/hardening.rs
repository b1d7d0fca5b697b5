//! HTTP-level limits: oversized heads (431), request smuggling (400), slow clients (timed out),
//! in-flight requests finishing on the snapshot they started with, graceful shutdown.

use crate::support;

use std::time::Duration;

use http::StatusCode;
use support::client::{self, empty, get, json};
use support::{CONFIG_TOKEN, RunningProxy, SnapshotBuilder, backend, upstream};

#[tokio::test]
async fn an_oversized_header_section_gets_431() {
    let proxy = RunningProxy::start(Some(SnapshotBuilder::quickstart().build())).await;
    let big = "a".repeat(64 * 1024);
    let request = format!("GET / HTTP/1.1\r\nhost: x\r\nx-big: {big}\r\n\r\n");
    let reply = client::raw(proxy.http, request.as_bytes()).await;
    assert!(
        reply.starts_with("HTTP/1.1 431"),
        "{}",
        &reply[..reply.len().min(200)]
    );
}

#[tokio::test]
async fn content_length_with_transfer_encoding_cannot_smuggle_a_second_request() {
    let upstream = upstream::start().await;
    let snapshot = SnapshotBuilder::quickstart()
        .open_route("default/open", "/open", Some(backend(&[upstream])))
        .build();
    let proxy = RunningProxy::start(Some(snapshot)).await;
    let request = b"POST /open HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\nGET /open/smuggled HTTP/1.1\r\nhost: x\r\n\r\n";
    // hyper follows RFC 9112 §6.3: Transfer-Encoding wins, Content-Length is dropped, and the
    // connection is closed after the response, so the bytes after the chunked body are never
    // read as a second request.
    let reply = client::raw(proxy.http, request).await;
    assert_eq!(reply.matches("HTTP/1.1 ").count(), 1, "{reply}");
    assert!(reply.contains("connection: close"), "{reply}");
    assert!(!reply.contains("smuggled"), "{reply}");
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let proxy = RunningProxy::start_with(Some(SnapshotBuilder::quickstart().build()), |o| {
        o.header_read_timeout = Duration::from_millis(300);
    })
    .await;
    // `raw` returns when the server closes the connection; the bound proves it does.
    let reply = tokio::time::timeout(
        Duration::from_secs(5),
        client::raw(proxy.http, b"GET / HTTP/1.1\r\nhost: x\r\nx-slow: "),
    )
    .await
    .expect("the proxy closed the slow connection");
    assert!(!reply.contains("200 OK"), "{reply}");
}

#[tokio::test]
async fn in_flight_requests_finish_on_their_snapshot_and_shutdown_drains_them() {
    let (gated, arrived, release) = upstream::start_gated().await;
    let snapshot = SnapshotBuilder::quickstart()
        .open_route("default/slow", "/slow", Some(backend(&[gated])))
        .build();
    let mut proxy = RunningProxy::start(Some(snapshot)).await;

    let http = proxy.http;
    let in_flight =
        tokio::spawn(
            async move { client::send(http, get("/slow/x").body(empty()).expect("r")).await },
        );
    arrived.notified().await;

    // Swap in a config without the route while the request is upstream.
    let without = SnapshotBuilder::quickstart().build();
    proxy.state.apply(without).expect("apply");
    let reply = client::send(proxy.http, get("/slow/y").body(empty()).expect("r")).await;
    assert_eq!(reply.status(), StatusCode::NOT_FOUND);

    // Shut down: not ready, no new connections, the in-flight request still completes.
    proxy.begin_stop();
    let admin = proxy.admin;
    loop {
        let ready = client::send(admin, get("/readyz").body(empty()).expect("r")).await;
        if ready.status() == StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(proxy.state.is_shutting_down());
    release.add_permits(1);
    let reply = in_flight.await.expect("join");
    assert_eq!(reply.status(), StatusCode::OK);
    assert_eq!(json(&reply)["uri"], "/x");
    let finished = proxy.finished.take().expect("task");
    tokio::time::timeout(Duration::from_secs(10), finished)
        .await
        .expect("serve returned within the grace period")
        .expect("join")
        .expect("serve ok");
    assert!(
        tokio::net::TcpStream::connect(http).await.is_err(),
        "still accepting"
    );
    let _ = CONFIG_TOKEN;
}

/// Wrong secrets from many addresses (as a trusted front proxy reports them in
/// `X-Forwarded-For`) never lock the owner out at its own address, and the guesses verified
/// stay bounded per client id whatever the number of addresses.
#[tokio::test]
async fn a_guessing_attack_from_other_addresses_leaves_the_owner_its_tokens() {
    let proxy = RunningProxy::start_with(Some(SnapshotBuilder::quickstart().build()), |o| {
        o.trusted_proxies = tollgate_proxy::parse_cidrs("127.0.0.1/32").expect("cidr");
    })
    .await;
    let attempt = |from: String, secret: &'static str| {
        let mut request = client::form(&format!(
            "grant_type=client_credentials&client_id=client&client_secret={secret}"
        ));
        request
            .headers_mut()
            .insert("x-forwarded-for", from.parse().expect("header value"));
        client::send_tls(proxy.https, &proxy.cert_pem, false, request)
    };
    let owner = || "10.1.1.1".to_owned();
    assert_eq!(attempt(owner(), "secret").await.status(), StatusCode::OK);
    let started = std::time::Instant::now();
    let (mut verified, mut refused) = (0u64, 0u64);
    for i in 0..40 {
        match attempt(format!("203.0.113.{i}"), "wrong").await.status() {
            StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED => verified += 1,
            StatusCode::TOO_MANY_REQUESTS => refused += 1,
            other => panic!("unexpected {other}"),
        }
        if i % 10 == 0 {
            let reply = attempt(owner(), "secret").await;
            assert_eq!(
                reply.status(),
                StatusCode::OK,
                "the owner was refused during the attack"
            );
        }
    }
    // The per-id budget: 20 at once, one more per 2 s (refused answers are held up to 0.5 s).
    let bound = 20 + started.elapsed().as_secs() / 2 + 1;
    assert!(
        verified <= bound,
        "{verified} guesses verified from 40 addresses (bound {bound})"
    );
    assert!(
        refused > 0,
        "nothing refused in {verified} guesses from 40 addresses"
    );
    assert_eq!(attempt(owner(), "secret").await.status(), StatusCode::OK);
}
