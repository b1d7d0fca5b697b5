//! The acceptance flow over real sockets: a token issued over HTTPS lets the caller reach the
//! upstream, which sees who the caller is; forged identity headers never get through.

use crate::support;

use http::StatusCode;
use support::client::{self, empty, form, get, json};
use support::{JANE_ID, RunningProxy, SnapshotBuilder, upstream};

async fn issue_token(proxy: &RunningProxy, h2: bool) -> String {
    let reply = client::send_tls(
        proxy.https,
        &proxy.cert_pem,
        h2,
        form("grant_type=client_credentials&client_id=client&client_secret=secret"),
    )
    .await;
    assert_eq!(reply.status(), StatusCode::OK, "{:?}", reply.body());
    assert_eq!(reply.headers()["cache-control"], "no-store");
    assert_eq!(reply.headers()["pragma"], "no-cache");
    let body = json(&reply);
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 7200);
    assert!(body.get("refresh_token").is_none());
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

#[tokio::test]
async fn token_issued_over_https_lets_the_caller_reach_the_upstream_as_jane() {
    let upstream = upstream::start().await;
    let proxy = RunningProxy::start(Some(
        SnapshotBuilder::quickstart().upstream(upstream).build(),
    ))
    .await;
    let token = issue_token(&proxy, false).await;

    let reply = client::send(
        proxy.http,
        get("/anything?x=1")
            .header("host", "gateway.example")
            .header("authorization", format!("Bearer {token}"))
            .header("x-consumer-username", "mallory")
            .header("X-Consumer-ID", "forged")
            .header("x-anonymous-consumer", "true")
            .header("x-credential-identifier", "forged")
            .header("x-authenticated-scope", "admin")
            .body(empty())
            .expect("request"),
    )
    .await;
    assert_eq!(reply.status(), StatusCode::OK);
    assert!(
        reply.headers().get("x-upstream-hop").is_none(),
        "hop-by-hop leaked"
    );
    let seen = json(&reply);
    let h = &seen["headers"];
    assert_eq!(h["authorization"][0], format!("Bearer {token}"));
    assert_eq!(h["x-consumer-id"], serde_json::json!([JANE_ID]));
    assert_eq!(h["x-consumer-username"], serde_json::json!(["jane"]));
    assert_eq!(h["x-credential-identifier"], serde_json::json!(["client"]));
    assert!(h.get("x-anonymous-consumer").is_none());
    assert!(h.get("x-authenticated-scope").is_none());
    assert_eq!(h["x-forwarded-for"][0], "127.0.0.1");
    assert_eq!(h["x-real-ip"][0], "127.0.0.1");
    assert_eq!(h["x-forwarded-proto"][0], "http");
    assert_eq!(h["x-forwarded-host"][0], "gateway.example");
    assert_eq!(h["x-forwarded-port"][0], proxy.http.port().to_string());
    assert_eq!(h["host"][0], upstream.to_string());
    assert_eq!(seen["uri"], "/anything?x=1");
}

#[tokio::test]
async fn token_endpoint_and_protected_route_speak_http2_over_tls() {
    let upstream = upstream::start().await;
    let proxy = RunningProxy::start(Some(
        SnapshotBuilder::quickstart().upstream(upstream).build(),
    ))
    .await;
    let token = issue_token(&proxy, true).await;
    let reply = client::send_tls(
        proxy.https,
        &proxy.cert_pem,
        true,
        get(&format!("https://localhost:{}/h2", proxy.https.port()))
            .header("authorization", format!("bearer {token}"))
            .body(empty())
            .expect("request"),
    )
    .await;
    assert_eq!(reply.status(), StatusCode::OK);
    let seen = json(&reply);
    assert_eq!(seen["headers"]["x-consumer-username"][0], "jane");
    assert_eq!(seen["headers"]["x-forwarded-proto"][0], "https");
}

#[tokio::test]
async fn tampered_and_missing_tokens_are_refused_per_rfc_6750() {
    let upstream = upstream::start().await;
    let proxy = RunningProxy::start(Some(
        SnapshotBuilder::quickstart().upstream(upstream).build(),
    ))
    .await;
    let token = issue_token(&proxy, false).await;
    let mut tampered = token.into_bytes();
    let last = tampered.len() - 5;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ascii");

    let reply = client::send(
        proxy.http,
        get("/")
            .header("authorization", format!("Bearer {tampered}"))
            .body(empty())
            .expect("request"),
    )
    .await;
    assert_eq!(reply.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(json(&reply)["error"], "invalid_token");
    let challenge = reply.headers()["www-authenticate"].to_str().expect("ascii");
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    assert!(challenge.contains("invalid_token"), "{challenge}");

    let reply = client::send(proxy.http, get("/").body(empty()).expect("request")).await;
    assert_eq!(reply.status(), StatusCode::UNAUTHORIZED);
    let challenge = reply.headers()["www-authenticate"].to_str().expect("ascii");
    assert!(
        !challenge.contains("error="),
        "no error code without a token: {challenge}"
    );
}

#[tokio::test]
async fn token_endpoint_refuses_plain_http_and_wrong_secrets() {
    let proxy = RunningProxy::start(Some(SnapshotBuilder::quickstart().build())).await;
    let reply = client::send(
        proxy.http,
        form("grant_type=client_credentials&client_id=client&client_secret=secret"),
    )
    .await;
    assert_eq!(reply.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json(&reply)["error"], "access_denied");
    assert_eq!(reply.headers()["cache-control"], "no-store");

    let reply = client::send_tls(
        proxy.https,
        &proxy.cert_pem,
        false,
        form("grant_type=client_credentials&client_id=client&client_secret=wrong"),
    )
    .await;
    assert_eq!(json(&reply)["error"], "invalid_client");
    let metrics = proxy.metrics().await;
    assert!(metrics.contains("tollgate_tokens_refused_total{reason=\"invalid_client\"} 1"));
    assert!(metrics.contains("tollgate_tokens_refused_total{reason=\"access_denied\"} 1"));
}

#[tokio::test]
async fn argon2_secrets_are_verified_once_then_served_from_the_cache() {
    let proxy = RunningProxy::start(Some(
        SnapshotBuilder::quickstart()
            .argon2_secret("secret")
            .build(),
    ))
    .await;
    for _ in 0..3 {
        issue_token(&proxy, false).await;
    }
    let reply = client::send_tls(
        proxy.https,
        &proxy.cert_pem,
        false,
        form("grant_type=client_credentials&client_id=client&client_secret=nope"),
    )
    .await;
    assert_eq!(json(&reply)["error"], "invalid_client");
    let metrics = proxy.metrics().await;
    assert!(
        metrics.contains("tollgate_secret_cache_hits_total 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tollgate_secret_cache_misses_total 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn forged_identity_headers_are_removed_on_unprotected_routes() {
    let upstream = upstream::start().await;
    let snapshot = SnapshotBuilder::quickstart()
        .open_route("default/open", "/open", Some(support::backend(&[upstream])))
        .build();
    let proxy = RunningProxy::start(Some(snapshot)).await;
    let reply = client::send(
        proxy.http,
        get("/open/path")
            .header("X-Consumer-Id", "forged")
            .header("x-consumer-id", "forged-again")
            .header("X-CONSUMER-USERNAME", "mallory")
            .header("x-consumer-custom-id", "x")
            .header("x-authenticated-userid", "x")
            .header("x-anonymous-consumer", "false")
            .body(empty())
            .expect("request"),
    )
    .await;
    assert_eq!(reply.status(), StatusCode::OK);
    let seen = json(&reply);
    for name in [
        "x-consumer-id",
        "x-consumer-username",
        "x-consumer-custom-id",
        "x-authenticated-userid",
        "x-anonymous-consumer",
    ] {
        assert!(
            seen["headers"].get(name).is_none(),
            "{name} reached the upstream"
        );
    }
    // strip_path: /open is removed.
    assert_eq!(seen["uri"], "/path");
}

/// The per-request metrics count the same whether the HTTP/1 fast path or hyper serves the
/// request: status class, both latency histograms, the verification, the consumer's series.
#[tokio::test]
async fn per_request_metrics_count_the_same_on_the_fast_path_and_on_hyper() {
    for fast in [true, false] {
        let upstream = upstream::start().await;
        let proxy = RunningProxy::start_with(
            Some(SnapshotBuilder::quickstart().upstream(upstream).build()),
            |o| {
                o.http1_fast_path = fast;
                o.per_consumer_metrics = true;
            },
        )
        .await;
        let token = issue_token(&proxy, false).await;
        let authorized = client::send(
            proxy.http,
            get("/anything")
                .header("authorization", format!("Bearer {token}"))
                .body(empty())
                .expect("request"),
        )
        .await;
        assert_eq!(authorized.status(), StatusCode::OK);
        let refused =
            client::send(proxy.http, get("/anything").body(empty()).expect("request")).await;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        let metrics = proxy.metrics().await;
        for line in [
            r#"tollgate_requests_total{route="default/api",status="2xx"} 1"#,
            r#"tollgate_requests_total{route="default/api",status="4xx"} 1"#,
            r#"tollgate_request_duration_seconds_count{route="default/api"} 2"#,
            r#"tollgate_upstream_duration_seconds_count{route="default/api"} 1"#,
            r#"tollgate_request_duration_seconds_count{route="default/auth"} 1"#,
            r#"tollgate_consumer_requests_total{consumer="default/jane",status="2xx"} 1"#,
            r#"tollgate_token_verifications_total{result="ok"} 1"#,
            r#"tollgate_token_verifications_total{result="missing"} 1"#,
            "tollgate_tokens_issued_total 1",
            "tollgate_config_generation 1",
        ] {
            assert!(
                metrics.contains(line),
                "fast path {fast}: {line} in\n{metrics}"
            );
        }
        // Only the refused request has no consumer: it is not in the consumer's series.
        assert!(
            !metrics.contains(r#"consumer="default/jane",status="4xx""#),
            "{metrics}"
        );
    }
}

/// A rotation: the current secret and a previous one still in its grace both get tokens; a
/// previous one past its instant is refused, by the proxy's own clock. The same on both paths.
#[tokio::test]
async fn a_previous_secret_gets_tokens_until_its_instant_on_both_paths() {
    use tollgate_core::secret::{deterministic_salt, hash_sha256};
    use tollgate_core::snapshot::PreviousSecret;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let salt = deterministic_salt(support::DEMO_CREDENTIAL_ID);
    for fast in [true, false] {
        let snapshot = SnapshotBuilder::quickstart()
            .with(|s| {
                let c = &mut s.credentials[0];
                c.secret_verifier = Some(hash_sha256(b"new-secret", &salt));
                c.previous_secrets = vec![
                    PreviousSecret {
                        verifier: hash_sha256(b"secret", &salt),
                        valid_until: now + 3600,
                    },
                    PreviousSecret {
                        verifier: hash_sha256(b"expired-secret", &salt),
                        valid_until: now,
                    },
                ];
            })
            .build();
        let proxy = RunningProxy::start_with(Some(snapshot), |o| o.http1_fast_path = fast).await;
        for (secret, ok) in [
            ("new-secret", true),
            ("secret", true),
            ("expired-secret", false),
            ("wrong", false),
        ] {
            let reply = client::send_tls(
                proxy.https,
                &proxy.cert_pem,
                false,
                form(&format!(
                    "grant_type=client_credentials&client_id=client&client_secret={secret}"
                )),
            )
            .await;
            if ok {
                assert_eq!(reply.status(), StatusCode::OK, "fast path {fast}: {secret}");
                assert!(json(&reply)["access_token"].is_string());
            } else {
                assert_eq!(
                    json(&reply)["error"],
                    "invalid_client",
                    "fast path {fast}: {secret}"
                );
            }
        }
    }
}
