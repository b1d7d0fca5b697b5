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

fn rate_limit_plugin(id: &str, hour: u64) -> tollgate_core::snapshot::Plugin {
    tollgate_core::snapshot::Plugin {
        id: id.to_owned(),
        incarnation: String::new(),
        accept_namespaces: tollgate_core::snapshot::AcceptNamespaces::Same,
        acl: None,
        config: tollgate_core::snapshot::PluginConfig::RateLimiting(
            tollgate_core::snapshot::RateLimitingConfig {
                hour: Some(hour),
                ..Default::default()
            },
        ),
    }
}

fn get(path: &str, token: Option<&str>) -> Request<ProxyBody> {
    let mut builder = Request::builder().uri(path);
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    builder.body(ProxyBody::Empty).expect("request")
}

/// What a scenario saw of one response: status, `X-RateLimit-Remaining-Hour`, `Retry-After`,
/// the body's `message`.
type Seen = (StatusCode, Option<String>, bool, serde_json::Value);

async fn seen(ctx: &Ctx, request: Request<ProxyBody>) -> Seen {
    let (status, headers, json) = call(ctx, request).await;
    let remaining = headers
        .get("x-ratelimit-remaining-hour")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (
        status,
        remaining,
        headers.contains_key("retry-after"),
        json["message"].clone(),
    )
}

/// Runs `scenario` until one run stays within one clock hour: a run across an hour boundary
/// sees its window restart, so it is run again rather than failed.
async fn in_one_hour<F, Fut>(mut scenario: F) -> Vec<Seen>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Vec<Seen>>,
{
    loop {
        let hour = crate::shared::clock::unix_now() / 3600;
        let seen = scenario().await;
        if crate::shared::clock::unix_now() / 3600 == hour {
            return seen;
        }
    }
}

#[tokio::test]
async fn a_rate_limit_runs_after_authentication_whatever_its_place_in_the_route_list() {
    for limit_first in [true, false] {
        let all = in_one_hour(|| async {
            let https = ctx(true, false);
            let snapshot = SnapshotBuilder::quickstart()
                .with(|s| {
                    s.plugins.push(rate_limit_plugin("default/limit", 2));
                    s.routes[0].plugins = if limit_first {
                        vec!["default/limit".into(), "default/oauth2".into()]
                    } else {
                        vec!["default/oauth2".into(), "default/limit".into()]
                    };
                })
                .build();
            https.state.apply(snapshot).expect("valid snapshot");
            let mut seen_all = Vec::new();
            // The token endpoint is not counted: three tokens under a limit of two.
            let mut token = String::new();
            for _ in 0..3 {
                let request = token_request(
                    "grant_type=client_credentials&client_id=client&client_secret=secret",
                );
                let (status, headers, json) = call(&https, request).await;
                assert_eq!(status, StatusCode::OK, "{json}");
                assert!(!headers.contains_key("x-ratelimit-remaining-hour"));
                token = json["access_token"].as_str().expect("token").to_owned();
            }
            // Refused authentications are not counted either.
            for _ in 0..3 {
                seen_all.push(seen(&https, get("/auth/api", None)).await);
            }
            for _ in 0..3 {
                seen_all.push(seen(&https, get("/auth/api", Some(&token))).await);
            }
            seen_all
        })
        .await;
        let unauthorized = (
            StatusCode::UNAUTHORIZED,
            None,
            false,
            serde_json::Value::Null,
        );
        let message = serde_json::json!("API rate limit exceeded");
        // The route has no backend: admitted requests get its 503, with the headers.
        let expected = vec![
            unauthorized.clone(),
            unauthorized.clone(),
            unauthorized,
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Some("1".into()),
                false,
                serde_json::json!("no Service found with those values"),
            ),
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Some("0".into()),
                false,
                serde_json::json!("no Service found with those values"),
            ),
            (
                StatusCode::TOO_MANY_REQUESTS,
                Some("0".into()),
                true,
                message,
            ),
        ];
        assert_eq!(all, expected, "rate limit listed first: {limit_first}");
    }
}

#[tokio::test]
async fn a_rate_limit_alone_on_an_open_route_counts_by_client_address() {
    let all = in_one_hour(|| async {
        let http = ctx(false, false);
        let snapshot = SnapshotBuilder::quickstart()
            .open_route("default/open", "/open", None)
            .with(|s| {
                s.plugins.push(rate_limit_plugin("default/limit", 1));
                let open = s.routes.iter_mut().find(|r| r.id == "default/open");
                open.expect("open route").plugins = vec!["default/limit".into()];
            })
            .build();
        http.state.apply(snapshot).expect("valid snapshot");
        vec![
            seen(&http, get("/open", None)).await,
            seen(&http, get("/open", None)).await,
        ]
    })
    .await;
    let statuses: Vec<StatusCode> = all.iter().map(|s| s.0).collect();
    assert_eq!(
        statuses,
        [
            StatusCode::SERVICE_UNAVAILABLE,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
}

#[test]
fn a_checked_snapshot_is_served_as_the_same_snapshot_applied_with_validation() {
    let validated = ProxyState::new();
    let checked = ProxyState::new();
    let hash = validated
        .apply(SnapshotBuilder::quickstart().build())
        .expect("valid snapshot");
    let same = checked
        .apply_checked(SnapshotBuilder::quickstart().build())
        .expect("valid snapshot");
    assert_eq!(same, hash);
    assert_eq!(checked.hash(), hash);
    assert_eq!(checked.applies(), 1);
    // The hash already held: nothing is compiled or swapped again.
    checked
        .apply_checked(SnapshotBuilder::quickstart().build())
        .expect("valid snapshot");
    assert_eq!(checked.applies(), 1);
}

#[tokio::test]
async fn a_route_bound_to_the_https_port_is_not_found_on_the_http_port() {
    use tollgate_core::snapshot::ListenerPort;
    let bound = |https: bool, listener: Option<ListenerPort>| {
        let ctx = ctx(https, false);
        let snapshot = SnapshotBuilder::quickstart()
            .with(|s| s.routes[0].listener = listener)
            .build();
        ctx.state.apply(snapshot).expect("valid snapshot");
        ctx
    };
    let right = "grant_type=client_credentials&client_id=client&client_secret=secret";
    let cases = [
        (true, Some(ListenerPort::Https), StatusCode::OK),
        (false, Some(ListenerPort::Https), StatusCode::NOT_FOUND),
        (true, Some(ListenerPort::Http), StatusCode::NOT_FOUND),
        (true, None, StatusCode::OK),
    ];
    for (https, listener, want) in cases {
        let ctx = bound(https, listener);
        let (status, _, json) = call(&ctx, token_request(right)).await;
        assert_eq!(
            status, want,
            "https {https}, route bound to {listener:?}: {json}"
        );
    }
}
