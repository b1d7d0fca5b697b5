//! The request pipeline as plain functions over a state value: no sockets, no upstream.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;

use super::brute_force::{FREE_ATTEMPTS, MAX_DELAY};
use super::context::{Ctx, WorkerLocal};
use super::handler::handle;
use super::state::ProxyState;
use crate::fixtures::SnapshotBuilder;
use crate::upstream::ProxyBody;

fn ctx(https: bool, trusted: bool) -> Ctx {
    let state = Arc::new(ProxyState::new());
    state
        .apply(SnapshotBuilder::quickstart().build())
        .expect("valid snapshot");
    Ctx::new(
        state,
        Arc::new(WorkerLocal::default()),
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        trusted,
        https,
        if https { 8443 } else { 8000 },
    )
}

async fn call(
    ctx: &Ctx,
    request: Request<ProxyBody>,
) -> (StatusCode, http::HeaderMap, serde_json::Value) {
    let response: Response<ProxyBody> = handle(ctx, request).await;
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.expect("body").to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (parts.status, parts.headers, json)
}

fn token_request(body: &str) -> Request<ProxyBody> {
    Request::builder()
        .method("POST")
        .uri("/auth/oauth2/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(ProxyBody::full(Bytes::from(body.to_owned())))
        .expect("request")
}

#[tokio::test]
async fn token_endpoint_outcomes_follow_rfc_6749() {
    let https = ctx(true, false);
    let cases: [(&str, StatusCode, &str); 5] = [
        (
            "grant_type=client_credentials&client_id=client&client_secret=secret",
            StatusCode::OK,
            "",
        ),
        (
            "grant_type=client_credentials&client_id=client&client_secret=nope",
            StatusCode::BAD_REQUEST,
            "invalid_client",
        ),
        (
            "grant_type=client_credentials&client_id=ghost&client_secret=secret",
            StatusCode::BAD_REQUEST,
            "invalid_client",
        ),
        (
            "grant_type=password&client_id=client&client_secret=secret",
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            "client_id=client&client_secret=secret",
            StatusCode::BAD_REQUEST,
            "",
        ),
    ];
    for (body, status, error) in cases {
        let (got, headers, json) = call(&https, token_request(body)).await;
        assert_eq!(got, status, "{body}: {json}");
        assert_eq!(headers["cache-control"], "no-store", "{body}");
        if !error.is_empty() {
            assert_eq!(json["error"], error, "{body}");
        }
    }
}

#[tokio::test]
async fn token_endpoint_refuses_other_methods_and_oversized_bodies() {
    let https = ctx(true, false);
    let get = Request::builder()
        .method("GET")
        .uri("/auth/oauth2/token")
        .body(ProxyBody::Empty)
        .expect("request");
    let (status, _, json) = call(&https, get).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(json["error"], "invalid_method");

    let huge = format!(
        "grant_type=client_credentials&pad={}",
        "a".repeat(100 * 1024)
    );
    let (status, headers, json) = call(&https, token_request(&huge)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(json["error"], "invalid_request");
    assert_eq!(headers["content-type"], "application/json; charset=utf-8");
}

#[tokio::test]
async fn forwarded_https_is_believed_only_from_trusted_peers() {
    let edit = |s: &mut tollgate_core::snapshot::Snapshot| {
        if let tollgate_core::snapshot::PluginConfig::OAuth2(c) = &mut s.plugins[0].config {
            c.accept_http_if_already_terminated = true;
        }
    };
    for (trusted, expected) in [(true, StatusCode::OK), (false, StatusCode::BAD_REQUEST)] {
        let ctx = ctx(false, trusted);
        ctx.state
            .apply(SnapshotBuilder::quickstart().with(edit).build())
            .expect("valid");
        let mut request =
            token_request("grant_type=client_credentials&client_id=client&client_secret=secret");
        request
            .headers_mut()
            .insert("x-forwarded-proto", http::HeaderValue::from_static("https"));
        let (status, _, json) = call(&ctx, request).await;
        assert_eq!(status, expected, "trusted={trusted}: {json}");
    }
}

#[tokio::test]
async fn unmatched_and_invalid_paths_get_kongs_answers() {
    let http = ctx(false, false);
    let cases = [
        ("/elsewhere", StatusCode::NOT_FOUND),
        ("/auth/../../x", StatusCode::BAD_REQUEST),
    ];
    for (path, status) in cases {
        let request = Request::builder()
            .uri(path)
            .body(ProxyBody::Empty)
            .expect("request");
        let (got, _, json) = call(&http, request).await;
        assert_eq!(got, status, "{path}: {json}");
        assert!(json["message"].is_string(), "{path}");
    }
}

#[tokio::test]
async fn the_oauth2_route_itself_verifies_tokens_before_its_missing_backend() {
    let http = ctx(false, false);
    let request = Request::builder()
        .uri("/auth/other")
        .body(ProxyBody::Empty)
        .expect("request");
    let (status, headers, _) = call(&http, request).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(headers.contains_key("www-authenticate"));
}

#[tokio::test]
async fn repeated_wrong_secrets_lock_the_client_out_briefly_then_the_right_one_works() {
    let https = ctx(true, false);
    let wrong = "grant_type=client_credentials&client_id=client&client_secret=wrong";
    for _ in 0..FREE_ATTEMPTS {
        let (status, _, json) = call(&https, token_request(wrong)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
    }
    let (status, headers, json) = call(&https, token_request(wrong)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{json}");
    assert_eq!(headers["retry-after"], "1");
    assert_eq!(headers["cache-control"], "no-store");

    // The lockout is bounded: the right secret gets through within MAX_DELAY.
    let right = "grant_type=client_credentials&client_id=client&client_secret=secret";
    let deadline = std::time::Instant::now() + MAX_DELAY + std::time::Duration::from_secs(1);
    loop {
        let (status, _, _) = call(&https, token_request(right)).await;
        if status == StatusCode::OK {
            break;
        }
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert!(std::time::Instant::now() < deadline, "still locked out");
        tokio::task::yield_now().await;
    }
    assert_eq!(https.state.brute_force().tracked(), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_requests_with_the_right_argon2_secret_on_a_cold_cache_all_get_tokens() {
    let state = Arc::new(ProxyState::new());
    state
        .apply(
            SnapshotBuilder::quickstart()
                .argon2_secret("secret")
                .build(),
        )
        .expect("valid snapshot");
    let https = Ctx::new(
        state,
        Arc::new(WorkerLocal::default()),
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        false,
        true,
        8443,
    );
    let right = "grant_type=client_credentials&client_id=client&client_secret=secret";
    // 64 connections at once, more than the free budget: the ones beyond it wait for those in
    // flight instead of being refused, since nothing has failed.
    let calls = (0..64).map(|_| call(&https, token_request(right)));
    let statuses: Vec<StatusCode> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|(status, _, _)| status)
        .collect();
    let refused = statuses.iter().filter(|s| **s != StatusCode::OK).count();
    assert_eq!(refused, 0, "{statuses:?}");
    assert_eq!(https.state.brute_force().tracked(), (0, 0));
}
