//! Forged identity headers: every `X-Consumer-*`, `X-Credential-Identifier`,
//! `X-Authenticated-*` and `X-Anonymous-Consumer` a client sends, in any letter case and
//! repeated, over HTTP/1.1 and HTTP/2, is removed or replaced before the upstream sees it, on
//! authenticated, anonymous and unprotected routes.

use crate::hostile_support;
use crate::support;

use std::collections::BTreeMap;
use std::time::Duration;

use hostile_support::{Recorder, Tally, exchange};
use http::StatusCode;
use support::client::{self, form, json};
use support::{JANE_ID, RunningProxy, SnapshotBuilder, backend, oidc_config, route};
use tollgate_core::snapshot::{Consumer, Plugin, PluginConfig};

const ANON_ID: &str = "3c1b8a52-0d6e-5f7a-9b2c-4e8d1f0a6b37";

/// Header names a client forges, in the spellings it tries.
const FORGED: [&str; 16] = [
    "X-Consumer-ID",
    "x-consumer-id",
    "X-CONSUMER-USERNAME",
    "x-Consumer-Custom-Id",
    "X-Consumer-Groups",
    "X-Consumer-Anything",
    "X-Credential-Identifier",
    "X-CREDENTIAL-IDENTIFIER",
    "X-Authenticated-Scope",
    "x-authenticated-userid",
    "X-Authenticated-Groups",
    "X-Authenticated-Anything",
    "X-Anonymous-Consumer",
    "x-ANONYMOUS-consumer",
    "X-Consumer-Id",
    "X-CONSUMER-CUSTOM-ID",
];

fn is_identity(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["x-consumer-", "x-authenticated-", "x-anonymous-"]
        .iter()
        .any(|p| name.starts_with(p))
        || name == "x-credential-identifier"
}

/// jane (token holder) and an anonymous consumer; routes `/api` (openid-connect), `/o2`
/// (oauth2 verifying its own tokens), `/anon` (openid-connect with `anonymous`), `/open` (no
/// plugin), all to `upstream`.
async fn start() -> (RunningProxy, Recorder, String) {
    start_on(true).await
}

/// [`start`] with the HTTP/1 fast path on or off (off: hyper serves every request).
async fn start_on(fast_path: bool) -> (RunningProxy, Recorder, String) {
    let upstream = Recorder::start("up").await;
    let b = || Some(backend(&[upstream.addr]));
    let snapshot = SnapshotBuilder::quickstart()
        .with(|s| {
            s.consumers.push(Consumer {
                groups: Vec::new(),
                id: ANON_ID.into(),
                object: "default/anonymous".into(),
                username: "anonymous".into(),
                custom_id: None,
            });
            s.consumers.sort_by(|a, b| a.id.cmp(&b.id));
            s.plugins.push(Plugin {
                acl: None,
                id: "default/oidc".into(),
                incarnation: String::new(),
                accept_namespaces: tollgate_core::snapshot::AcceptNamespaces::Same,
                config: PluginConfig::OpenIdConnect(oidc_config()),
            });
            let mut anon = oidc_config();
            anon.anonymous = Some(ANON_ID.into());
            s.plugins.push(Plugin {
                acl: None,
                id: "default/anon".into(),
                incarnation: String::new(),
                accept_namespaces: tollgate_core::snapshot::AcceptNamespaces::Same,
                config: PluginConfig::OpenIdConnect(anon),
            });
            s.routes
                .push(route("default/api", &["/api"], Some("default/oidc"), b()));
            s.routes
                .push(route("default/o2", &["/o2"], Some("default/oauth2"), b()));
            s.routes
                .push(route("default/anon", &["/anon"], Some("default/anon"), b()));
            s.routes.push(route("default/open", &["/open"], None, b()));
        })
        .build();
    let proxy = RunningProxy::start_with(Some(snapshot), |o| o.http1_fast_path = fast_path).await;
    let reply = client::send_tls(
        proxy.https,
        &proxy.cert_pem,
        false,
        form("grant_type=client_credentials&client_id=client&client_secret=secret"),
    )
    .await;
    assert_eq!(reply.status(), StatusCode::OK);
    let token = json(&reply)["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    (proxy, upstream, token)
}

/// The identity headers the upstream saw, by lower-case name.
fn identity_seen(echo: &serde_json::Value) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for (name, values) in echo["headers"].as_object().into_iter().flatten() {
        if is_identity(name) {
            let values = values
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str())
                .map(str::to_owned);
            out.insert(name.clone(), values.collect());
        }
    }
    out
}

fn expected(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<String>> {
    pairs
        .iter()
        .map(|(n, v)| ((*n).to_owned(), vec![(*v).to_owned()]))
        .collect()
}

/// A raw HTTP/1.1 request carrying every forged header twice (two spellings, two values).
fn forged_request(path: &str, authorization: Option<&str>) -> Vec<u8> {
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: gateway.test\r\n");
    if let Some(a) = authorization {
        request.push_str(&format!("Authorization: {a}\r\n"));
    }
    for (i, name) in FORGED.iter().enumerate() {
        request.push_str(&format!(
            "{name}: forged-{i}\r\n{}: forged-again, {JANE_ID}\r\n",
            name.to_ascii_uppercase()
        ));
    }
    request.push_str("Connection: close\r\n\r\n");
    request.into_bytes()
}

#[tokio::test]
async fn forged_identity_headers_never_reach_the_upstream_over_http1_in_any_case_or_repetition() {
    let mut tally = Tally::new("identity-headers");
    let (proxy, upstream, token) = start().await;
    let bearer = format!("Bearer {token}");
    let jane = expected(&[
        ("x-consumer-id", JANE_ID),
        ("x-consumer-username", "jane"),
        ("x-credential-identifier", "client"),
    ]);
    let anonymous = expected(&[
        ("x-consumer-id", ANON_ID),
        ("x-consumer-username", "anonymous"),
        ("x-anonymous-consumer", "true"),
    ]);
    let nobody = BTreeMap::new();
    let cases = [
        ("/api/x", Some(bearer.as_str()), &jane),
        ("/o2/x", Some(bearer.as_str()), &jane),
        ("/anon/x", Some(bearer.as_str()), &jane),
        ("/anon/x", None, &anonymous),
        ("/anon/x", Some("Bearer not-a-token"), &anonymous),
        ("/open/x", None, &nobody),
        ("/open/x", Some(bearer.as_str()), &nobody),
    ];
    for (path, authorization, want) in cases {
        let reply = exchange(
            proxy.http,
            &forged_request(path, authorization),
            Duration::from_secs(10),
        )
        .await;
        assert_eq!(
            reply.status,
            200,
            "{path} {authorization:?}: {}",
            reply.text()
        );
        let echo = reply.json();
        assert_eq!(echo["upstream"], "up", "{path}");
        assert_eq!(&identity_seen(&echo), want, "{path} with {authorization:?}");
        tally.add(FORGED.len() * 2);
    }
    assert_eq!(
        upstream.seen().len(),
        cases.len(),
        "every case reached the upstream once"
    );
}

#[tokio::test]
async fn forged_identity_headers_never_reach_the_upstream_over_http2() {
    let mut tally = Tally::new("identity-headers");
    let (proxy, _upstream, token) = start().await;
    for (path, authenticated) in [("/api/x", true), ("/open/x", false), ("/anon/x", false)] {
        let mut request = client::get(path).header("host", "gateway.test");
        if authenticated {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        for (i, name) in FORGED.iter().enumerate() {
            request = request
                .header(name.to_ascii_lowercase(), format!("forged-{i}"))
                .header(name.to_ascii_lowercase(), "forged-again");
        }
        let reply = client::send_tls(
            proxy.https,
            &proxy.cert_pem,
            true,
            request.body(client::empty()).expect("request"),
        )
        .await;
        assert_eq!(reply.status(), StatusCode::OK, "{path}");
        let seen = identity_seen(&json(&reply));
        let want = match path {
            "/api/x" => expected(&[
                ("x-consumer-id", JANE_ID),
                ("x-consumer-username", "jane"),
                ("x-credential-identifier", "client"),
            ]),
            "/anon/x" => expected(&[
                ("x-consumer-id", ANON_ID),
                ("x-consumer-username", "anonymous"),
                ("x-anonymous-consumer", "true"),
            ]),
            _ => BTreeMap::new(),
        };
        assert_eq!(seen, want, "{path}");
        tally.add(FORGED.len() * 2);
    }
}

#[tokio::test]
async fn a_refused_request_never_reaches_the_upstream_whatever_identity_it_claims() {
    let mut tally = Tally::new("identity-headers");
    let (proxy, upstream, _token) = start().await;
    for authorization in [
        None,
        Some("Bearer forged"),
        Some("Basic Y2xpZW50OnNlY3JldA=="),
    ] {
        for path in ["/api/x", "/o2/x"] {
            let reply = exchange(
                proxy.http,
                &forged_request(path, authorization),
                Duration::from_secs(10),
            )
            .await;
            assert_eq!(
                reply.status,
                401,
                "{path} {authorization:?}: {}",
                reply.text()
            );
            tally.case();
        }
    }
    assert!(upstream.seen().is_empty(), "{:?}", upstream.uris());
}

/// Every header of the echo whose name a CGI, WSGI or Rack server reads as an identity or
/// forwarding header (`_` for `-`, any case), by the name as sent.
fn cgi_protected_seen(echo: &serde_json::Value) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for (name, values) in echo["headers"].as_object().into_iter().flatten() {
        let folded = name.to_ascii_lowercase().replace('_', "-");
        let forwarding =
            ["x-forwarded-for", "x-real-ip", "x-forwarded-host"].contains(&folded.as_str());
        if is_identity(&folded) || forwarding {
            let values = values
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str());
            out.insert(name.clone(), values.map(str::to_owned).collect());
        }
    }
    out
}

/// A client may not remove the identity headers by nominating them in `Connection` (hop-by-hop
/// processing runs before they are set), nor smuggle look-alikes that CGI-style servers merge
/// with the real ones (`X_Consumer_Username`, `X-Consumer_Id`, `X_Forwarded_For`). On the HTTP/1
/// fast path and on hyper's path alike.
#[tokio::test]
async fn connection_cannot_nominate_identity_headers_and_look_alike_spellings_are_stripped() {
    let mut tally = Tally::new("identity-headers");
    for fast_path in [true, false] {
        let (proxy, _upstream, token) = start_on(fast_path).await;
        let bearer = format!("Bearer {token}");
        let jane = [
            ("x-consumer-id", JANE_ID),
            ("x-consumer-username", "jane"),
            ("x-credential-identifier", "client"),
        ];
        let anonymous = [
            ("x-consumer-id", ANON_ID),
            ("x-consumer-username", "anonymous"),
            ("x-anonymous-consumer", "true"),
        ];
        let nominations = [
            "X-Consumer-Username, X-Consumer-Id",
            "x-consumer-id, x-consumer-username, x-credential-identifier, x-anonymous-consumer",
            "keep-alive, X-Anonymous-Consumer",
            "X-Forwarded-For, X-Real-IP, X-Consumer-Custom-Id",
        ];
        let cases = [
            ("/api/x", Some(bearer.as_str()), &jane),
            ("/anon/x", None, &anonymous),
        ];
        for (path, authorization, identity) in cases {
            for nominated in nominations {
                let mut request = format!("GET {path} HTTP/1.1\r\nHost: gateway.test\r\n");
                if let Some(a) = authorization {
                    request.push_str(&format!("Authorization: {a}\r\n"));
                }
                request.push_str(&format!(
                    "X-Consumer-x: 1\r\nX_Consumer_Username: admin\r\nX-Consumer_Id: evil\r\n\
                     x_anonymous_consumer: false\r\nX_Credential_Identifier: other\r\n\
                     X_Forwarded_For: 10.9.9.9\r\nx-real_ip: 10.9.9.9\r\n\
                     Connection: close, {nominated}\r\n\r\n"
                ));
                let reply = exchange(proxy.http, request.as_bytes(), Duration::from_secs(10)).await;
                assert_eq!(reply.status, 200, "{path} {nominated}: {}", reply.text());
                let seen = cgi_protected_seen(&reply.json());
                let mut want: BTreeMap<String, Vec<String>> = identity
                    .iter()
                    .map(|(n, v)| ((*n).to_owned(), vec![(*v).to_owned()]))
                    .collect();
                want.insert("x-forwarded-for".into(), vec!["127.0.0.1".into()]);
                want.insert("x-real-ip".into(), vec!["127.0.0.1".into()]);
                want.insert("x-forwarded-host".into(), vec!["gateway.test".into()]);
                assert_eq!(
                    seen, want,
                    "fast path {fast_path}, {path}, Connection: {nominated}"
                );
                tally.case();
            }
        }
        proxy.stop().await;
    }
}
