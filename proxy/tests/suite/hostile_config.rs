//! The config channel under attack: unauthenticated or wrongly authenticated pushes (401),
//! malformed and schema-invalid snapshots (400, config unchanged and still served), oversized
//! ones (413), over a real socket to the admin port.

use crate::hostile_support;
use crate::support;

use std::time::Duration;

use base64::Engine as _;
use hostile_support::{RawReply, Tally, exchange};
use support::{CONFIG_TOKEN, RunningProxy, SnapshotBuilder};

const MAX_CONFIG: usize = 256 * 1024;
const LIMIT: Duration = Duration::from_secs(10);

async fn start() -> RunningProxy {
    RunningProxy::start_with(Some(SnapshotBuilder::quickstart().build()), |o| {
        o.max_config_bytes = MAX_CONFIG
    })
    .await
}

/// `POST /config` with the given extra header lines and body, framed by Content-Length.
async fn push(proxy: &RunningProxy, headers: &str, body: &[u8]) -> RawReply {
    let mut request = format!(
        "POST /config HTTP/1.1\r\nHost: proxy\r\n{headers}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    exchange(proxy.admin, &request, LIMIT).await
}

fn bearer() -> String {
    format!("Authorization: Bearer {CONFIG_TOKEN}\r\n")
}

/// The held config is the one the proxy started with, and it still serves: the token endpoint
/// answers over TLS.
async fn assert_unchanged(proxy: &RunningProxy, hash: &str, applies: u64, case: &str) {
    assert_eq!(proxy.state.hash(), hash, "{case}: config changed");
    assert_eq!(
        proxy.state.applies(),
        applies,
        "{case}: a snapshot was applied"
    );
    let reply = support::client::send_tls(
        proxy.https,
        &proxy.cert_pem,
        false,
        support::client::form(
            "grant_type=client_credentials&client_id=client&client_secret=secret",
        ),
    )
    .await;
    assert_eq!(
        reply.status(),
        http::StatusCode::OK,
        "{case}: the old config stopped serving"
    );
}

#[tokio::test]
async fn pushes_without_the_right_bearer_token_get_401_and_change_nothing() {
    let mut tally = Tally::new("config-channel");
    let proxy = start().await;
    let (hash, applies) = (proxy.state.hash(), proxy.state.applies());
    let mut other = SnapshotBuilder::quickstart().build();
    other.routes.clear();
    let body = other.to_json();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("x:{CONFIG_TOKEN}"));
    let wrong: Vec<String> = vec![
        String::new(),
        "Authorization: Bearer\r\n".into(),
        "Authorization: Bearer \r\n".into(),
        "Authorization: Bearer wrong\r\n".into(),
        format!(
            "Authorization: Bearer {}\r\n",
            &CONFIG_TOKEN[..CONFIG_TOKEN.len() - 1]
        ),
        format!("Authorization: Bearer {CONFIG_TOKEN}x\r\n"),
        format!(
            "Authorization: Bearer {}\r\n",
            CONFIG_TOKEN.to_ascii_uppercase()
        ),
        format!("Authorization: Basic {basic}\r\n"),
        format!("Authorization: {CONFIG_TOKEN}\r\n"),
        format!("Authorization: Token {CONFIG_TOKEN}\r\n"),
        format!("Authorization: Bearer  x{CONFIG_TOKEN}\r\n"),
        format!("X-Config-Token: {CONFIG_TOKEN}\r\n"),
        format!("Cookie: token={CONFIG_TOKEN}\r\n"),
        format!("Authorization: Bearer {CONFIG_TOKEN}\0\r\n"),
    ];
    for headers in &wrong {
        let reply = push(&proxy, headers, &body).await;
        // A NUL inside a header value is refused by the HTTP parser itself (400).
        let expected = if headers.contains('\0') { 400 } else { 401 };
        assert_eq!(reply.status, expected, "{headers:?}: {}", reply.text());
        tally.case();
    }
    // The token in the query string is not a credential either.
    let request = format!(
        "POST /config?token={CONFIG_TOKEN}&access_token={CONFIG_TOKEN} HTTP/1.1\r\nHost: proxy\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let reply = exchange(proxy.admin, &[request.as_bytes(), &body].concat(), LIMIT).await;
    assert_eq!(reply.status, 401);
    // Unauthenticated and oversized: refused before the body is read.
    let huge = format!(
        "POST /config HTTP/1.1\r\nHost: proxy\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        1 << 30
    );
    let reply = exchange(proxy.admin, huge.as_bytes(), LIMIT).await;
    assert_eq!(reply.status, 401);
    tally.add(2);
    assert_unchanged(&proxy, &hash, applies, "unauthenticated").await;
}

#[tokio::test]
async fn malformed_snapshots_get_400_and_the_held_config_keeps_serving() {
    let mut tally = Tally::new("config-channel");
    let proxy = start().await;
    let (hash, applies) = (proxy.state.hash(), proxy.state.applies());
    let good = String::from_utf8(SnapshotBuilder::quickstart().build().to_json()).expect("utf-8");
    let bodies: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"null".to_vec(),
        b"[]".to_vec(),
        b"{}".to_vec(),
        b"\"snapshot\"".to_vec(),
        good.as_bytes()[..good.len() / 2].to_vec(),
        format!("{good}{good}").into_bytes(),
        format!("\u{feff}{good}").into_bytes(),
        good.replacen("\"format\":1", "\"format\":2", 1)
            .into_bytes(),
        good.replacen("\"format\":1", "\"format\":\"1\"", 1)
            .into_bytes(),
        good.replacen("\"format\":1", "\"format\":1,\"extra\":true", 1)
            .into_bytes(),
        good.replacen("\"format\":1", "\"format\":-1", 1)
            .into_bytes(),
        good.replacen("\"format\":1", "\"format\":1e400", 1)
            .into_bytes(),
        good.replacen("\"routes\":[", "\"routes\":[null,", 1)
            .into_bytes(),
        good.replacen("jane", "ja\\ud800ne", 1).into_bytes(),
        [
            b"{\"format\":1,\"activeKey\":\"\xff\"".as_slice(),
            &good.as_bytes()[12..],
        ]
        .concat(),
        format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes(),
        b"{\"format\":1".to_vec(),
    ];
    for body in &bodies {
        let reply = push(&proxy, &bearer(), body).await;
        let case = String::from_utf8_lossy(&body[..body.len().min(60)]).into_owned();
        assert_eq!(reply.status, 400, "{case}: {}", reply.text());
        assert!(
            reply.json()["errors"]
                .as_array()
                .is_some_and(|e| !e.is_empty()),
            "{case}: {}",
            reply.text()
        );
        tally.case();
    }
    assert_unchanged(&proxy, &hash, applies, "malformed").await;
}

#[tokio::test]
async fn schema_invalid_snapshots_get_400_naming_the_problem_and_change_nothing() {
    let mut tally = Tally::new("config-channel");
    let proxy = start().await;
    let (hash, applies) = (proxy.state.hash(), proxy.state.applies());
    type Edit = fn(&mut tollgate_core::snapshot::Snapshot);
    let edits: Vec<(&str, Edit)> = vec![
        ("route to an unknown plugin", |s| {
            s.routes[0].plugins = vec!["default/nope".into()]
        }),
        ("credential of an unknown consumer", |s| {
            s.credentials[0].consumer_id = "4b0e7c1a-0000-5000-8000-000000000000".into()
        }),
        ("duplicate client id", |s| {
            let mut twin = s.credentials[0].clone();
            twin.id = "0b7d5e2a-1c3f-5a4b-8d6e-9f0a1b2c3d4f".into();
            twin.object = "default/twin".into();
            s.credentials.push(twin);
        }),
        ("short signing key", |s| {
            s.signing_keys[0].secret_b64 = "c2hvcnQ=".into()
        }),
        ("active key not listed", |s| s.active_key = "k9".into()),
        ("key id with a slash", |s| {
            s.signing_keys[0].id = "k/1".into();
            s.active_key = "k/1".into();
        }),
        ("plaintext secret", |s| {
            s.credentials[0].secret_verifier = Some("secret".into())
        }),
        ("path without a slash", |s| {
            s.routes[0].paths = vec!["auth".into()]
        }),
        ("path climbing above the root", |s| {
            s.routes[0].paths = vec!["/../auth".into()]
        }),
        ("username with a newline", |s| {
            s.consumers[0].username = "jane\r\nX-Consumer-Id: admin".into()
        }),
        ("credential id not a UUID", |s| {
            s.credentials[0].id = "demo".into()
        }),
        ("duplicate route id", |s| {
            let twin = s.routes[0].clone();
            s.routes.push(twin);
        }),
        ("anonymous consumer unknown", |s| {
            if let tollgate_core::snapshot::PluginConfig::OAuth2(c) = &mut s.plugins[0].config {
                c.anonymous = Some("7e57a2b1-0000-5000-8000-000000000000".into());
            }
        }),
        ("auth header name not a header", |s| {
            if let tollgate_core::snapshot::PluginConfig::OAuth2(c) = &mut s.plugins[0].config {
                c.auth_header_name = "bad header\n".into();
            }
        }),
    ];
    for (case, edit) in edits {
        let mut snapshot = SnapshotBuilder::quickstart().build();
        edit(&mut snapshot);
        let reply = push(&proxy, &bearer(), &snapshot.to_json()).await;
        assert_eq!(reply.status, 400, "{case}: {}", reply.text());
        let errors = reply.json()["errors"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(!errors.is_empty(), "{case}: {}", reply.text());
        tally.case();
    }
    assert_unchanged(&proxy, &hash, applies, "schema-invalid").await;
}

#[tokio::test]
async fn oversized_snapshots_get_413_however_they_are_framed() {
    let mut tally = Tally::new("config-channel");
    let proxy = start().await;
    let (hash, applies) = (proxy.state.hash(), proxy.state.applies());
    let padding = " ".repeat(MAX_CONFIG + 1);
    let good = String::from_utf8(SnapshotBuilder::quickstart().build().to_json()).expect("utf-8");
    let padded = format!("{padding}{good}");
    let reply = push(&proxy, &bearer(), padded.as_bytes()).await;
    assert_eq!(reply.status, 413, "{}", reply.text());
    // Declared far larger than sent: refused from the declaration.
    let declared = format!(
        "POST /config HTTP/1.1\r\nHost: proxy\r\n{}Content-Length: {}\r\nConnection: close\r\n\r\n{{",
        bearer(),
        1u64 << 40
    );
    let reply = exchange(proxy.admin, declared.as_bytes(), LIMIT).await;
    assert_eq!(reply.status, 413, "{}", reply.text());
    // Chunked, no length declared: refused while reading.
    let chunk = " ".repeat(64 * 1024);
    let mut chunked = format!(
        "POST /config HTTP/1.1\r\nHost: proxy\r\n{}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        bearer()
    );
    for _ in 0..5 {
        chunked.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    chunked.push_str("0\r\n\r\n");
    let reply = exchange(proxy.admin, chunked.as_bytes(), LIMIT).await;
    assert_eq!(reply.status, 413, "{}", reply.text());
    tally.add(3);
    assert_unchanged(&proxy, &hash, applies, "oversized").await;
}
