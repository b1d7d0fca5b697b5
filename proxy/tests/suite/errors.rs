//! Kong's error responses: 404 without a route, 503 without a backend or endpoint, 502 for a
//! refusing upstream, 504 for a silent one, 400 for an invalid path.

use crate::support;

use http::StatusCode;
use support::client::{self, empty, get, json};
use support::{RunningProxy, SnapshotBuilder, backend, upstream};

async fn status_and_message(proxy: &RunningProxy, path: &str) -> (StatusCode, String) {
    let reply = client::send(proxy.http, get(path).body(empty()).expect("request")).await;
    assert_eq!(
        reply.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    let message = json(&reply)["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (reply.status(), message)
}

#[tokio::test]
async fn upstream_failures_map_to_kongs_statuses_and_texts() {
    let closed = upstream::closed_port().await;
    let hanging = upstream::start().await;
    let mut slow = backend(&[hanging]);
    slow.read_timeout_ms = 200;
    let mut empty_backend = backend(&[]);
    empty_backend.endpoints.clear();
    let snapshot = SnapshotBuilder::quickstart()
        .open_route("default/refused", "/refused", Some(backend(&[closed])))
        .open_route("default/slow", "/hang", Some(slow))
        .open_route("default/none", "/none", Some(empty_backend))
        .open_route("default/nobackend", "/nobackend", None)
        .with(|s| {
            // strip_path false so /hang reaches the upstream as /hang.
            if let Some(r) = s.routes.iter_mut().find(|r| r.id == "default/slow") {
                r.strip_path = false;
            }
        })
        .build();
    let proxy = RunningProxy::start(Some(snapshot)).await;

    let cases = [
        (
            "/nothing-here",
            StatusCode::NOT_FOUND,
            "no Route matched with those values",
        ),
        (
            "/refused",
            StatusCode::BAD_GATEWAY,
            "An invalid response was received from the upstream server",
        ),
        (
            "/hang",
            StatusCode::GATEWAY_TIMEOUT,
            "The upstream server is timing out",
        ),
        (
            "/none",
            StatusCode::SERVICE_UNAVAILABLE,
            "no healthy upstream",
        ),
        (
            "/nobackend",
            StatusCode::SERVICE_UNAVAILABLE,
            "no Service found with those values",
        ),
    ];
    for (path, status, message) in cases {
        let (got_status, got_message) = status_and_message(&proxy, path).await;
        assert_eq!(
            (got_status, got_message.as_str()),
            (status, message),
            "{path}"
        );
    }
    let metrics = proxy.metrics().await;
    assert!(
        metrics.contains("tollgate_requests_total{route=\"default/refused\",status=\"5xx\"} 1")
    );
    assert!(metrics.contains("tollgate_requests_total{route=\"\",status=\"4xx\"} 1"));
}

#[tokio::test]
async fn a_proxy_without_config_answers_no_route() {
    let proxy = RunningProxy::start(None).await;
    let (status, message) = status_and_message(&proxy, "/").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(message, "no Route matched with those values");
}

#[tokio::test]
async fn a_path_climbing_above_the_root_is_a_bad_request() {
    let proxy = RunningProxy::start(Some(SnapshotBuilder::quickstart().build())).await;
    let reply = client::raw(
        proxy.http,
        b"GET /auth/../../oauth2/token HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
}

#[tokio::test]
async fn https_backends_are_reached_over_tls_and_refused_when_untrusted() {
    let (addr, ca) = upstream::start_tls().await;
    let mut tls_backend = backend(&[]);
    tls_backend.scheme = "https".to_owned();
    tls_backend.endpoints = vec![format!("localhost:{}", addr.port())];
    let snapshot = SnapshotBuilder::quickstart()
        .open_route("default/tls", "/tls", Some(tls_backend))
        .build();

    let trusting =
        RunningProxy::start_with(Some(snapshot.clone()), |o| o.upstream_ca = Some(ca)).await;
    let reply = client::send(trusting.http, get("/tls/x").body(empty()).expect("r")).await;
    assert_eq!(reply.status(), StatusCode::OK);
    assert_eq!(json(&reply)["uri"], "/x");

    let untrusting = RunningProxy::start(Some(snapshot)).await;
    let (status, message) = status_and_message(&untrusting, "/tls/x").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(
        message,
        "An invalid response was received from the upstream server"
    );
}
