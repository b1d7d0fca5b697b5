//! End to end, the data plane alone: the real `tollgate-proxy` binary fed a snapshot over its
//! config channel (as the operator does), a real httpbin upstream, real sockets.

use base64::Engine;
use tollgate_core::snapshot::{
    Backend, ClientType, Consumer, Credential, OAuth2Config, OpenIdConnectConfig, Plugin,
    PluginConfig, Route, SNAPSHOT_FORMAT, SigningKey, Snapshot,
};
use tollgate_core::{ids, secret};
use tollgate_e2e::client::Client;
use tollgate_e2e::httpbin::Httpbin;
use tollgate_e2e::proxy::Proxy;
use tollgate_e2e::quickstart;
use tollgate_e2e::wait::{RELOAD, wait_until};
use tollgate_e2e::workdir::WorkDir;

const CONFIG_TOKEN: &str = "e2e-config-token-0123456789";

/// The quickstart flow as a snapshot: consumer jane, credential `client`/`secret` (argon2id),
/// route `/auth` with a global oauth2 plugin, route `/` to `upstream` with openid-connect.
fn quickstart_snapshot(upstream_port: u16) -> Snapshot {
    let consumer_id = ids::consumer_id("default", "jane");
    let credential_id = ids::credential_id("default", "demo");
    let verifier = secret::hash_argon2id(
        quickstart::CLIENT_SECRET.as_bytes(),
        &secret::deterministic_salt(&credential_id),
    )
    .expect("argon2id");
    let mut snapshot = Snapshot {
        certificates: Vec::new(),
        format: SNAPSHOT_FORMAT,
        signing_keys: vec![SigningKey {
            id: "k2026-01-01".to_owned(),
            secret_b64: base64::engine::general_purpose::STANDARD.encode([7u8; 32]),
        }],
        active_key: "k2026-01-01".to_owned(),
        consumers: vec![Consumer {
            groups: Vec::new(),
            id: consumer_id.clone(),
            object: "default/jane".to_owned(),
            username: "jane".to_owned(),
            custom_id: None,
        }],
        credentials: vec![Credential {
            scopes: None,
            id: credential_id,
            object: "default/demo".to_owned(),
            consumer_id,
            name: "demo".to_owned(),
            client_id: quickstart::CLIENT_ID.to_owned(),
            client_type: ClientType::Confidential,
            secret_verifier: Some(verifier),
            redirect_uris: Vec::new(),
            previous_secrets: Vec::new(),
            tokens_survive_rotation: false,
            incarnation: String::new(),
        }],
        plugins: vec![
            Plugin {
                acl: None,
                id: "default/oauth2".to_owned(),
                incarnation: String::new(),
                accept_namespaces: tollgate_core::snapshot::AcceptNamespaces::Same,
                config: PluginConfig::OAuth2(OAuth2Config {
                    enable_client_credentials: true,
                    global_credentials: true,
                    token_expiration: 7200,
                    scopes: Vec::new(),
                    mandatory_scope: false,
                    hide_credentials: false,
                    accept_http_if_already_terminated: false,
                    token_format: Default::default(),
                    enable_password_grant: false,
                    provision_key_sha256: None,
                    enable_authorization_code: false,
                    pkce: Default::default(),
                    authorization_code_ttl: 60,
                    refresh_token_ttl: 1_209_600,
                    reuse_refresh_token: false,
                    anonymous: None,
                    auth_header_name: "authorization".to_owned(),
                    realm: None,
                }),
            },
            Plugin {
                acl: None,
                id: "default/oidc".to_owned(),
                incarnation: String::new(),
                accept_namespaces: tollgate_core::snapshot::AcceptNamespaces::Same,
                config: PluginConfig::OpenIdConnect(OpenIdConnectConfig {
                    bearer_token_param_type: vec![
                        tollgate_core::snapshot::BearerTokenParamType::Header,
                    ],
                    hide_credentials: false,
                    anonymous: None,
                    realm: None,
                    ..OpenIdConnectConfig::default()
                }),
            },
        ],
        routes: vec![
            Route {
                id: "default/auth".to_owned(),
                hosts: Vec::new(),
                paths: vec!["/auth".to_owned()],
                methods: Vec::new(),
                strip_path: true,
                plugins: vec!["default/oauth2".to_owned()],
                backend: None,
                ..Route::default()
            },
            Route {
                id: "default/upstream".to_owned(),
                hosts: Vec::new(),
                paths: vec!["/".to_owned()],
                methods: Vec::new(),
                strip_path: true,
                plugins: vec!["default/oidc".to_owned()],
                backend: Some(Backend {
                    scheme: "http".to_owned(),
                    path: String::new(),
                    host_header: None,
                    endpoints: vec![format!("127.0.0.1:{upstream_port}")],
                    connect_timeout_ms: 5000,
                    read_timeout_ms: 30000,
                }),
                ..Route::default()
            },
        ],
    };
    snapshot.routes.sort_by(|a, b| a.id.cmp(&b.id));
    snapshot
}

#[tokio::test]
async fn a_proxy_serves_the_token_flow_once_it_is_pushed_a_config() {
    let work = WorkDir::new("proxy-token-flow").expect("work dir");
    let httpbin = Httpbin::start(&work).await.expect("httpbin");
    let mut proxy = Proxy::start(&work, "proxy-a", CONFIG_TOKEN)
        .await
        .expect("proxy starts");
    let admin = Client::plain().expect("client");
    let not_ready = admin
        .get(&proxy.metrics_url("/readyz"))
        .await
        .expect("readyz");
    assert_eq!(not_ready.status, 503, "a proxy without config is not ready");
    assert_eq!(proxy.config_hash().await.expect("hash"), "");

    let snapshot = quickstart_snapshot(httpbin.port());
    let pushed = proxy.push_config(&snapshot.to_json()).await.expect("push");
    assert_eq!(pushed.status, 200, "{}", pushed.describe());
    assert_eq!(pushed.json()["hash"], snapshot.content_hash());
    proxy.wait_ready().await.expect("ready with a config");
    assert_eq!(
        proxy.config_hash().await.expect("hash"),
        snapshot.content_hash()
    );

    let client = proxy.client().expect("client");
    let token = client
        .post_form(
            &proxy.https_url(quickstart::TOKEN_PATH),
            &[
                ("client_id", quickstart::CLIENT_ID),
                ("client_secret", quickstart::CLIENT_SECRET),
                ("grant_type", "client_credentials"),
            ],
        )
        .await
        .expect("token request");
    assert_eq!(token.status, 200, "{}", token.describe());
    let access_token = token.json()["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();
    let auth = format!("Bearer {access_token}");
    let upstream = client
        .send(
            http::Method::GET,
            &proxy.http_url("/anything"),
            &[("authorization", &auth)],
            bytes::Bytes::new(),
        )
        .await
        .expect("upstream call");
    assert_eq!(upstream.status, 200, "{}", upstream.describe());
    let headers = &upstream.json()["headers"];
    assert_eq!(headers["Authorization"], auth.as_str());
    assert_eq!(headers["X-Consumer-Username"], "jane");
    assert_eq!(
        headers["X-Consumer-Id"],
        ids::consumer_id("default", "jane").as_str()
    );
}

#[tokio::test]
async fn config_pushes_in_cleartext_with_a_wrong_token_or_an_invalid_snapshot_change_nothing() {
    let work = WorkDir::new("proxy-config-channel").expect("work dir");
    let proxy = Proxy::start(&work, "proxy-b", CONFIG_TOKEN)
        .await
        .expect("proxy starts");
    let snapshot = quickstart_snapshot(9);
    let admin = proxy.config_client().expect("client");
    let url = proxy.config_url();
    let body = bytes::Bytes::from(snapshot.to_json());
    let cases: [(&[(&str, &str)], u16); 3] = [
        (&[], 401),
        (&[("authorization", "Bearer wrong-token")], 401),
        (&[("authorization", "Basic ZTJlOmUyZQ==")], 401),
    ];
    for (headers, status) in cases {
        let response = admin
            .send(http::Method::POST, &url, headers, body.clone())
            .await
            .expect("push");
        assert_eq!(
            response.status,
            status,
            "{headers:?}: {}",
            response.describe()
        );
    }
    assert_eq!(proxy.config_hash().await.expect("hash"), "");

    // The channel speaks only TLS: plain HTTP gets no answer at all, let alone a push.
    let plain = Client::plain().expect("client");
    let auth = format!("Bearer {CONFIG_TOKEN}");
    let cleartext = plain
        .send(
            http::Method::POST,
            &proxy.plain_config_url(),
            &[("authorization", &auth)],
            body.clone(),
        )
        .await;
    assert!(cleartext.is_err(), "plain HTTP was answered: {cleartext:?}");
    // Reading the hash needs the token too; health and metrics live on another port, where the
    // config channel is not served.
    let anonymous = admin.get(&url).await.expect("GET /config");
    assert_eq!(anonymous.status, 401, "{}", anonymous.describe());
    let not_here = admin
        .get(&url.replace("/config", "/metrics"))
        .await
        .expect("GET /metrics on the admin port");
    assert_eq!(not_here.status, 404, "{}", not_here.describe());
    let metrics = plain
        .get(&proxy.metrics_url("/metrics"))
        .await
        .expect("metrics");
    assert_eq!(metrics.status, 200, "{}", metrics.describe());
    let config_on_metrics = plain
        .send(
            http::Method::POST,
            &proxy.metrics_url("/config"),
            &[("authorization", &auth)],
            body.clone(),
        )
        .await
        .expect("POST /config on the metrics port");
    assert_eq!(
        config_on_metrics.status,
        404,
        "{}",
        config_on_metrics.describe()
    );
    assert_eq!(proxy.config_hash().await.expect("hash"), "");

    let good = proxy.push_config(&snapshot.to_json()).await.expect("push");
    assert_eq!(good.status, 200, "{}", good.describe());
    let mut broken = snapshot.clone();
    broken.active_key = "no-such-key".to_owned();
    let refused = proxy.push_config(&broken.to_json()).await.expect("push");
    assert_eq!(refused.status, 400, "{}", refused.describe());
    assert!(
        refused.json()["errors"]
            .as_array()
            .is_some_and(|e| !e.is_empty())
    );
    let garbage = proxy.push_config(b"{not json").await.expect("push");
    assert_eq!(garbage.status, 400, "{}", garbage.describe());
    assert_eq!(
        proxy.config_hash().await.expect("hash"),
        snapshot.content_hash()
    );
}

/// A config token rotated in the proxy's token file (the kubelet updating a mounted Secret) is
/// taken without a restart: a push with the new token succeeds, the old token is refused.
#[tokio::test]
async fn a_token_rotated_in_the_token_file_is_taken_without_a_restart() {
    let work = WorkDir::new("proxy-token-rotation").expect("work dir");
    let proxy = Proxy::start(&work, "proxy-rot", CONFIG_TOKEN)
        .await
        .expect("proxy starts");
    let admin = proxy.config_client().expect("client");
    let url = proxy.config_url();
    let body = bytes::Bytes::from(quickstart_snapshot(9).to_json());
    let push = |token: &'static str| {
        let (admin, url, body) = (admin.clone(), url.clone(), body.clone());
        async move {
            let auth = format!("Bearer {token}");
            admin
                .send(http::Method::POST, &url, &[("authorization", &auth)], body)
                .await
                .expect("push")
                .status
                .as_u16()
        }
    };
    assert_eq!(push("rotated-token").await, 401, "not yet in the file");
    proxy.rotate_token_file("rotated-token\n").expect("rotate");
    let accepted = wait_until(RELOAD, "the rotated token to be accepted", || async {
        match push("rotated-token").await {
            200 => Ok(()),
            other => Err(format!("status {other}")),
        }
    })
    .await;
    accepted.expect("the new token is accepted without a restart");
    assert_eq!(push(CONFIG_TOKEN).await, 401, "the old token is refused");
    assert!(
        proxy.config_hash().await.is_err(),
        "the old token reads nothing"
    );
    assert_ne!(
        proxy.config_hash_with("rotated-token").await.expect("hash"),
        ""
    );
}

/// The id a revocation names for one of the gateway's opaque tokens: `token_id` of the nonce
/// that follows the version, key-id length and key id.
fn token_id_of(token: &str) -> String {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .expect("an opaque token");
    let start = 2 + usize::from(raw[1]);
    let nonce: [u8; 24] = raw[start..start + 24].try_into().expect("nonce");
    tollgate_core::revocation::RevokedId::token(tollgate_core::revocation::token_id(&nonce))
        .to_string()
}

/// The revocation channel beside the config channel: only with the config token, never on the
/// metrics port; a pushed id is refused at once, without a new snapshot; a held poll answers
/// with what was revoked at this proxy.
#[tokio::test]
async fn the_revocation_channel_needs_the_config_token_and_a_pushed_id_is_refused_at_once() {
    let work = WorkDir::new("proxy-revocation-channel").expect("work dir");
    let httpbin = Httpbin::start(&work).await.expect("httpbin");
    let mut proxy = Proxy::start(&work, "proxy-a", CONFIG_TOKEN)
        .await
        .expect("proxy starts");
    let snapshot = quickstart_snapshot(httpbin.port());
    let pushed = proxy.push_config(&snapshot.to_json()).await.expect("push");
    assert_eq!(pushed.status, 200, "{}", pushed.describe());
    proxy.wait_ready().await.expect("ready with a config");
    let client = proxy.client().expect("client");
    let token = || async {
        let response = client
            .post_form(
                &proxy.https_url(quickstart::TOKEN_PATH),
                &[
                    ("client_id", quickstart::CLIENT_ID),
                    ("client_secret", quickstart::CLIENT_SECRET),
                    ("grant_type", "client_credentials"),
                ],
            )
            .await
            .expect("token request");
        assert_eq!(response.status, 200, "{}", response.describe());
        response.json()["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    };
    let call = |token: String| {
        let client = &client;
        let url = proxy.http_url("/anything");
        async move {
            let auth = format!("Bearer {token}");
            client
                .send(
                    http::Method::GET,
                    &url,
                    &[("authorization", &auth)],
                    bytes::Bytes::new(),
                )
                .await
                .expect("upstream call")
                .status
        }
    };
    let (pushed_away, kept) = (token().await, token().await);
    assert_eq!(call(pushed_away.clone()).await, 200);

    let admin = proxy.config_client().expect("client");
    let url = proxy.config_url().replace("/config", "/revocations");
    let auth = format!("Bearer {CONFIG_TOKEN}");
    let body = serde_json::json!({
        "entries": [{"id": token_id_of(&pushed_away), "exp": 0}],
    })
    .to_string();
    for headers in [vec![], vec![("authorization", "Bearer wrong-token")]] {
        let refused = admin
            .send(
                http::Method::POST,
                &url,
                &headers,
                bytes::Bytes::from(body.clone()),
            )
            .await
            .expect("POST /revocations");
        assert_eq!(refused.status, 401, "{}", refused.describe());
        let refused = admin
            .get(&format!("{url}?after=0"))
            .await
            .expect("GET /revocations");
        assert_eq!(refused.status, 401, "{}", refused.describe());
    }
    let on_metrics = Client::plain()
        .expect("client")
        .send(
            http::Method::POST,
            &proxy.metrics_url("/revocations"),
            &[("authorization", &auth)],
            bytes::Bytes::from(body.clone()),
        )
        .await
        .expect("POST /revocations on the metrics port");
    assert_eq!(on_metrics.status, 404, "{}", on_metrics.describe());
    assert_eq!(
        call(pushed_away.clone()).await,
        200,
        "nothing was merged yet"
    );
    let garbage = admin
        .send(
            http::Method::POST,
            &url,
            &[("authorization", &auth)],
            bytes::Bytes::from_static(b"{\"entries\":[{\"id\":\"x\"}]}"),
        )
        .await
        .expect("POST /revocations");
    assert_eq!(garbage.status, 400, "{}", garbage.describe());

    let applied = admin
        .send(
            http::Method::POST,
            &url,
            &[("authorization", &auth)],
            bytes::Bytes::from(body),
        )
        .await
        .expect("POST /revocations");
    assert_eq!(applied.status, 200, "{}", applied.describe());
    assert_eq!(call(pushed_away).await, 401);
    assert_eq!(call(kept).await, 200);
    assert_eq!(
        proxy.config_hash().await.expect("hash"),
        snapshot.content_hash(),
        "no new snapshot"
    );

    // A merged id is not paged out again; one revoked here is, to whoever holds the token.
    let page = admin
        .send(
            http::Method::GET,
            &format!("{url}?after=0&wait=0"),
            &[("authorization", &auth)],
            bytes::Bytes::new(),
        )
        .await
        .expect("GET /revocations");
    assert_eq!(page.status, 200, "{}", page.describe());
    assert_eq!(page.json()["seq"], 0);
    assert_eq!(page.json()["entries"], serde_json::json!([]));
    let bad_query = admin
        .send(
            http::Method::GET,
            &format!("{url}?after=soon"),
            &[("authorization", &auth)],
            bytes::Bytes::new(),
        )
        .await
        .expect("GET /revocations");
    assert_eq!(bad_query.status, 400, "{}", bad_query.describe());
    let revoked_here = token().await;
    let waiting = {
        let (admin, url, auth) = (admin.clone(), url.clone(), auth.clone());
        tokio::spawn(async move {
            admin
                .send(
                    http::Method::GET,
                    &format!("{url}?after=0&wait=30"),
                    &[("authorization", &auth)],
                    bytes::Bytes::new(),
                )
                .await
                .expect("GET /revocations")
        })
    };
    let revoked = client
        .post_form(
            &proxy.https_url("/auth/oauth2/revoke"),
            &[
                ("client_id", quickstart::CLIENT_ID),
                ("client_secret", quickstart::CLIENT_SECRET),
                ("token", &revoked_here),
            ],
        )
        .await
        .expect("revoke");
    assert_eq!(revoked.status, 200, "{}", revoked.describe());
    let page = waiting.await.expect("the poll returns");
    assert_eq!(page.status, 200, "{}", page.describe());
    assert_eq!(
        page.json()["entries"][0]["id"],
        token_id_of(&revoked_here).as_str(),
        "{}",
        page.describe()
    );
    assert_eq!(page.json()["seq"], 1);
}
