//! Path tricks: no spelling of a path reaches a token endpoint or a route it does not match,
//! and a protected route is never reachable without a token, whatever the spelling. Real
//! sockets and hand-written request lines, so the proxy sees exactly the bytes a client sends.

use crate::hostile_support;
use crate::support;

use std::time::Duration;

use hostile_support::{RawReply, Recorder, Tally, exchange};
use http::StatusCode;
use support::client::{self, form, json};
use support::{RunningProxy, SnapshotBuilder, backend, oidc_config, route};
use tollgate_core::snapshot::{Plugin, PluginConfig};

const CREDENTIALS: &str = "grant_type=client_credentials&client_id=client&client_secret=secret";

/// Routes: `/auth` (oauth2, token endpoint, no backend), `/api` (openid-connect, GET and POST)
/// to the `api` upstream, and a catch-all `/` without a plugin to the `open` upstream.
async fn start() -> (RunningProxy, Recorder, Recorder) {
    let api = Recorder::start("api").await;
    let open = Recorder::start("open").await;
    let snapshot = SnapshotBuilder::quickstart()
        .with(|s| {
            s.plugins.push(Plugin {
                acl: None,
                id: "default/oidc".into(),
                incarnation: String::new(),
                accept_namespaces: tollgate_core::snapshot::AcceptNamespaces::Same,
                config: PluginConfig::OpenIdConnect(oidc_config()),
            });
            let mut api_route = route(
                "default/api",
                &["/api"],
                Some("default/oidc"),
                Some(backend(&[api.addr])),
            );
            // GET and POST only: a HEAD must still be served (and guarded) by this route.
            api_route.methods = vec!["GET".into(), "POST".into()];
            s.routes.push(api_route);
            s.routes.push(route(
                "default/open",
                &["/"],
                None,
                Some(backend(&[open.addr])),
            ));
        })
        .build();
    (RunningProxy::start(Some(snapshot)).await, api, open)
}

async fn raw(
    proxy: &RunningProxy,
    method: &str,
    target: &str,
    extra: &str,
    body: &str,
) -> RawReply {
    let request = format!(
        "{method} {target} HTTP/1.1\r\nHost: gateway.test\r\n{extra}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    exchange(proxy.http, request.as_bytes(), Duration::from_secs(10)).await
}

/// Percent-decodes everything twice (what the most credulous upstream would do), treats `\` as
/// a separator, drops path parameters (`;…`, as Tomcat does) and resolves dot and empty
/// segments. Paths stay case-sensitive (RFC 3986).
fn credulous(path: &str) -> String {
    let path = path.split('?').next().unwrap_or("");
    let decoded = percent_decode(&percent_decode(path));
    let mut out: Vec<&str> = Vec::new();
    for seg in decoded.split(['/', '\\']) {
        match seg.split(';').next().unwrap_or_default() {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    format!("/{}", out.join("/"))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether `uri` hides a character from the proxy by encoding it twice (`%2561`): the proxy
/// keeps `%25` as data, as RFC 3986 says; an upstream that decodes twice is on its own. (Encoded
/// slashes and backslashes, a raw `\` and dot segments with parameters are refused with 400.)
fn hides_separator(uri: &str) -> bool {
    uri.to_ascii_lowercase().contains("%25")
}

/// Spellings of `/api…` a client might try to slip past the `/api` route's plugin.
const API_SPELLINGS: [&str; 44] = [
    "/open/..;/api/x",
    "/x/..;/api",
    "/api;jsessionid=1/x",
    "/API;x/../api",
    "/api",
    "/api/",
    "/api/x",
    "/API",
    "/Api/x",
    "//api",
    "///api/x",
    "/./api",
    "/x/../api",
    "/open/../api/x",
    "/%61pi",
    "/%61%70%69/x",
    "/%2561pi",
    "/%2e/api",
    "/%2E%2E/api",
    "/x/%2e%2e/api",
    "/x/.%2e/api",
    "/x/%2e./api",
    "/api%2F",
    "/%2Fapi",
    "/%2fapi/x",
    "/api;x",
    "/api;/x",
    "/api%00",
    "/api%20",
    "/api%09",
    "/api/.",
    "/api/..",
    "/api/x/../../api",
    "/api?x=/../",
    "/api%3Fx",
    "/api%23x",
    "/.%2e/api",
    "/api\\x",
    "/x\\..\\api",
    "http://gateway.test/api",
    "http://gateway.test//api/x",
    "http://other.test/%61pi",
    "/ap%69",
    "/api/%2e%2e/api",
];

#[tokio::test]
async fn a_protected_route_is_unreachable_without_a_token_through_any_spelling_of_its_path() {
    let mut tally = Tally::new("http-paths");
    let (proxy, api, open) = start().await;
    for target in API_SPELLINGS {
        for method in ["GET", "POST", "HEAD"] {
            let reply = raw(&proxy, method, target, "", "").await;
            assert!(
                reply.status != 0 && reply.status < 500,
                "{method} {target}: {} {}",
                reply.status,
                reply.text()
            );
            // (A HEAD answer has no body; the upstreams' records below cover it.)
            if reply.status == 200 && method != "HEAD" {
                assert_eq!(reply.json()["upstream"], "open", "{method} {target}");
            }
            tally.case();
        }
    }
    assert!(
        api.seen().is_empty(),
        "reached the protected upstream without a token: {:?}",
        api.uris()
    );
    // Whatever reached the catch-all route does not name /api even to an upstream that
    // decodes everything, except through an encoded slash or a doubly encoded character,
    // which the proxy keeps encoded (RFC 3986: `%2F` is data, not a separator).
    for uri in open.uris() {
        let naive = credulous(&uri);
        assert!(
            hides_separator(&uri) || !(naive == "/api" || naive.starts_with("/api/")),
            "{uri} reached the open route"
        );
    }
}

#[tokio::test]
async fn every_spelling_that_normalizes_to_the_protected_route_is_served_with_a_token() {
    let mut tally = Tally::new("http-paths");
    let (proxy, api, _open) = start().await;
    let reply = client::send_tls(proxy.https, &proxy.cert_pem, false, form(CREDENTIALS)).await;
    assert_eq!(reply.status(), StatusCode::OK);
    let token = json(&reply)["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let auth = format!("Authorization: Bearer {token}\r\n");
    for target in [
        "/api/x",
        "//api//x",
        "/./api/./x",
        "/z/../api/x",
        "/%61pi/x",
        "/ap%69/%78",
        "/api/y/../x",
    ] {
        let reply = raw(&proxy, "GET", target, &auth, "").await;
        assert_eq!(reply.status, 200, "{target}: {}", reply.text());
        assert_eq!(
            (
                reply.json()["upstream"].as_str(),
                reply.json()["uri"].as_str()
            ),
            (Some("api"), Some("/x")),
            "{target}"
        );
        tally.case();
    }
    assert_eq!(api.seen().len(), 7);
}

#[tokio::test]
async fn path_tricks_never_reach_a_token_endpoint_they_do_not_normalize_to() {
    let mut tally = Tally::new("http-paths");
    let (proxy, api, open) = start().await;
    let tricks = [
        "/auth/../x/oauth2/token",
        "/auth/%2e%2e/x/oauth2/token",
        "/auth/.%2E/x/oauth2/token",
        "/auth%2Foauth2%2Ftoken",
        "/auth%2foauth2/token",
        "/x/oauth2/token",
        "/api/oauth2/token",
        "/api/../x/oauth2/token",
        "/auth/oauth2%2Ftoken",
        "/auth/oauth2/token%00",
        "/auth/oauth2/token;x",
        "/authx/oauth2/token",
        "/AUTH/oauth2/token",
        "/auth/OAUTH2/TOKEN",
        "/auth/oauth2/token/x",
        "/auth/oauth2/tokens",
        "/oauth2/token",
        "/x/auth/oauth2/token",
        "/auth/oauth2/token%3F",
        "/auth/oauth2/%74oken%2F..",
    ];
    for target in tricks {
        let reply = raw(&proxy, "POST", target, "", CREDENTIALS).await;
        assert!(
            reply.status != 0 && reply.status < 500,
            "{target}: {} {}",
            reply.status,
            reply.text()
        );
        assert!(
            reply.json().get("access_token").is_none(),
            "{target} issued a token"
        );
        tally.case();
    }
    // Plain HTTP is refused at a real token endpoint, so over TLS: spellings that normalize to
    // `/auth/oauth2/token` do reach it (they name it), and only those.
    for target in [
        "/auth/oauth2/token",
        "//auth//oauth2//token",
        "/auth/./oauth2/token",
        "/x/../auth/oauth2/token",
        "/%61uth/oauth2/token",
    ] {
        let request = http::Request::builder()
            .method("POST")
            .uri(target)
            .header("host", "localhost")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(http_body_util::Full::new(bytes::Bytes::from(CREDENTIALS)))
            .expect("request");
        let reply = client::send_tls(proxy.https, &proxy.cert_pem, false, request).await;
        assert_eq!(reply.status(), StatusCode::OK, "{target}");
        tally.case();
    }
    assert!(api.seen().is_empty(), "{:?}", api.uris());
    for uri in open.uris() {
        assert!(
            hides_separator(&uri) || !credulous(&uri).starts_with("/auth/"),
            "{uri} reached the open route"
        );
    }
}

#[tokio::test]
async fn over_http2_no_spelling_of_the_protected_path_reaches_it_without_a_token() {
    let mut tally = Tally::new("http-paths");
    let (proxy, api, _open) = start().await;
    for target in API_SPELLINGS {
        // HTTP/2 carries the path in `:path`; only origin-form targets are valid there.
        let Ok(uri) = target.parse::<http::Uri>() else {
            continue;
        };
        if uri.scheme().is_some() || !target.starts_with('/') {
            continue;
        }
        let request = http::Request::builder()
            .method("GET")
            .uri(format!("https://localhost{target}"))
            .body(client::empty())
            .expect("request");
        let reply = client::send_tls(proxy.https, &proxy.cert_pem, true, request).await;
        let status = reply.status().as_u16();
        assert!(status < 500, "h2 {target}: {status}");
        if status == 200 {
            assert_eq!(json(&reply)["upstream"], "open", "h2 {target}");
        }
        tally.case();
    }
    assert!(
        api.seen().is_empty(),
        "reached the protected upstream without a token: {:?}",
        api.uris()
    );
}

#[tokio::test]
async fn separators_an_upstream_may_read_differently_are_refused_with_400() {
    let mut tally = Tally::new("http-paths");
    let (proxy, api, open) = start().await;
    for target in [
        "/api%2Fx",
        "/api%2fx",
        "/open%2F..%2Fapi",
        "/api%5Cx",
        "/open%5c..%5capi",
        "/api\\x",
        "/open\\..\\api",
        "/open/..;/api",
        "/open/.;/api",
        "/open/%2e%2e;/api",
    ] {
        let reply = raw(&proxy, "GET", target, "", "").await;
        assert_eq!(reply.status, 400, "GET {target}: {}", reply.text());
        tally.case();
    }
    assert!(
        api.seen().is_empty() && open.seen().is_empty(),
        "{:?}",
        open.uris()
    );
}
