//! The admin port: health, readiness, metrics, and the authenticated config channel.

use crate::support;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use support::client::{self, empty, get, json};
use support::{CONFIG_TOKEN, RunningProxy, SnapshotBuilder, upstream};

fn push(token: Option<&str>, body: impl Into<Bytes>) -> Request<Full<Bytes>> {
    let mut builder = Request::builder()
        .method("POST")
        .uri("/config")
        .header("host", "proxy")
        .header("content-type", "application/json");
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    builder.body(Full::new(body.into())).expect("request")
}

async fn held_hash(proxy: &RunningProxy) -> String {
    let anonymous = client::send(proxy.admin, get("/config").body(empty()).expect("request")).await;
    assert_eq!(
        anonymous.status(),
        StatusCode::UNAUTHORIZED,
        "the hash is for the token holder"
    );
    let request = get("/config")
        .header("authorization", format!("Bearer {CONFIG_TOKEN}"))
        .body(empty())
        .expect("request");
    let reply = client::send(proxy.admin, request).await;
    assert_eq!(reply.status(), StatusCode::OK);
    json(&reply)["hash"].as_str().expect("hash").to_owned()
}

#[tokio::test]
async fn readiness_follows_the_first_config_and_pushes_apply_it() {
    let proxy = RunningProxy::start(None).await;
    let health = client::send(proxy.admin, get("/healthz").body(empty()).expect("r")).await;
    assert_eq!(health.status(), StatusCode::OK);
    let ready = client::send(proxy.admin, get("/readyz").body(empty()).expect("r")).await;
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(held_hash(&proxy).await, "");

    let snapshot = SnapshotBuilder::quickstart().build();
    let reply = client::send(proxy.admin, push(Some(CONFIG_TOKEN), snapshot.to_json())).await;
    assert_eq!(reply.status(), StatusCode::OK, "{:?}", reply.body());
    assert_eq!(json(&reply)["hash"], snapshot.content_hash());
    assert_eq!(held_hash(&proxy).await, snapshot.content_hash());
    let ready = client::send(proxy.admin, get("/readyz").body(empty()).expect("r")).await;
    assert_eq!(ready.status(), StatusCode::OK);

    // The same snapshot again is accepted without a new apply.
    let applies = proxy.state.applies();
    let reply = client::send(proxy.admin, push(Some(CONFIG_TOKEN), snapshot.to_json())).await;
    assert_eq!(reply.status(), StatusCode::OK);
    assert_eq!(proxy.state.applies(), applies);

    let metrics = client::send(proxy.admin, get("/metrics").body(empty()).expect("r")).await;
    let text = String::from_utf8_lossy(metrics.body()).into_owned();
    assert!(text.contains(&format!(
        "tollgate_config_info{{hash=\"{}\"}} 1",
        snapshot.content_hash()
    )));
}

#[tokio::test]
async fn pushes_without_the_right_token_are_refused_and_change_nothing() {
    let snapshot = SnapshotBuilder::quickstart().build();
    let proxy = RunningProxy::start(Some(snapshot.clone())).await;
    let before = held_hash(&proxy).await;
    let other = SnapshotBuilder::quickstart()
        .open_route("default/x", "/x", None)
        .build();
    for token in [None, Some("wrong"), Some("test-config-tokenX"), Some("")] {
        let reply = client::send(proxy.admin, push(token, other.to_json())).await;
        assert_eq!(reply.status(), StatusCode::UNAUTHORIZED, "{token:?}");
        assert_eq!(reply.headers()["www-authenticate"], "Bearer");
    }
    assert_eq!(held_hash(&proxy).await, before);
}

#[tokio::test]
async fn a_bad_push_changes_nothing() {
    let snapshot = SnapshotBuilder::quickstart().build();
    let proxy = RunningProxy::start(Some(snapshot)).await;
    let before = held_hash(&proxy).await;

    let dangling = SnapshotBuilder::quickstart()
        .with(|s| s.routes[0].plugins = vec!["default/missing".to_owned()])
        .build();
    let no_key = SnapshotBuilder::quickstart()
        .with(|s| s.active_key = "nope".to_owned())
        .build();
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("not JSON", b"{not json".to_vec()),
        ("unknown field", br#"{"format":1,"surprise":true}"#.to_vec()),
        ("dangling plugin", dangling.to_json()),
        ("missing active key", no_key.to_json()),
    ];
    for (case, body) in bodies {
        let reply = client::send(proxy.admin, push(Some(CONFIG_TOKEN), body)).await;
        assert_eq!(reply.status(), StatusCode::BAD_REQUEST, "{case}");
        let errors = json(&reply)["errors"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(!errors.is_empty(), "{case}: no errors listed");
        assert_eq!(held_hash(&proxy).await, before, "{case} changed the config");
    }
    // Still serving the old config.
    let reply = client::send(proxy.http, get("/auth").body(empty()).expect("r")).await;
    assert_ne!(reply.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_oversized_push_is_refused_with_413() {
    let proxy = RunningProxy::start_with(None, |o| o.max_config_bytes = 1024).await;
    let reply = client::send(proxy.admin, push(Some(CONFIG_TOKEN), vec![b' '; 4096])).await;
    assert_eq!(reply.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(held_hash(&proxy).await, "");
}

#[tokio::test]
async fn a_pushed_config_is_served_by_the_next_request() {
    let upstream = upstream::start().await;
    let first = SnapshotBuilder::quickstart().build();
    let proxy = RunningProxy::start(Some(first)).await;
    let reply = client::send(proxy.http, get("/new/x").body(empty()).expect("r")).await;
    assert_eq!(reply.status(), StatusCode::NOT_FOUND);

    let second = SnapshotBuilder::quickstart()
        .open_route("default/new", "/new", Some(support::backend(&[upstream])))
        .build();
    let reply = client::send(proxy.admin, push(Some(CONFIG_TOKEN), second.to_json())).await;
    assert_eq!(reply.status(), StatusCode::OK);
    let reply = client::send(proxy.http, get("/new/x").body(empty()).expect("r")).await;
    assert_eq!(reply.status(), StatusCode::OK);
    assert_eq!(json(&reply)["uri"], "/x");
}

/// A push from an older leader epoch than one already applied is refused with 409 and changes
/// nothing, so a leader that lost its Lease without knowing it cannot roll configuration back.
#[tokio::test]
async fn a_push_from_an_older_leader_epoch_is_refused_and_changes_nothing() {
    let proxy = RunningProxy::start(None).await;
    let with_epoch = |epoch: Option<u64>, body: Vec<u8>| {
        let mut request = push(Some(CONFIG_TOKEN), body);
        if let Some(epoch) = epoch {
            request.headers_mut().insert(
                tollgate_core::config_channel::LEADER_EPOCH_HEADER,
                epoch.to_string().parse().expect("value"),
            );
        }
        request
    };
    let newer = SnapshotBuilder::quickstart().build();
    let older = SnapshotBuilder::quickstart().argon2_secret("other").build();
    let reply = client::send(proxy.admin, with_epoch(Some(5), newer.to_json())).await;
    assert_eq!(reply.status(), StatusCode::OK);
    for epoch in [Some(4), Some(0), None] {
        let reply = client::send(proxy.admin, with_epoch(epoch, older.to_json())).await;
        assert_eq!(reply.status(), StatusCode::CONFLICT, "epoch {epoch:?}");
        assert!(
            json(&reply)["message"]
                .as_str()
                .is_some_and(|m| m.contains("older leader")),
            "{:?}",
            reply.body()
        );
    }
    assert_eq!(held_hash(&proxy).await, newer.content_hash());
    let reply = client::send(proxy.admin, with_epoch(Some(6), older.to_json())).await;
    assert_eq!(reply.status(), StatusCode::OK, "a newer leader is followed");
    assert_eq!(held_hash(&proxy).await, older.content_hash());
    let reply = client::send(proxy.admin, with_epoch(Some(7), b"not json".to_vec())).await;
    assert_eq!(reply.status(), StatusCode::BAD_REQUEST);
    let reply = client::send(proxy.admin, with_epoch(Some(6), newer.to_json())).await;
    assert_eq!(
        reply.status(),
        StatusCode::OK,
        "a refused push does not raise the epoch"
    );
}
