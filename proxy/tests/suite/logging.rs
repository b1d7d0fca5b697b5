//! Logs never carry a token, a client secret or an `Authorization` header, even at `trace`.

use crate::support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use http::StatusCode;
use support::client::{self, empty, form, get, json};
use support::{RunningProxy, SnapshotBuilder, upstream};

/// A `MakeWriter` appending every log line to a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn trace_logs_of_the_token_flow_hold_no_token_secret_or_authorization_header() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("tollgate_proxy=trace,tollgate_core=trace")
        .with_writer(captured.clone())
        .json()
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("first subscriber");

    let upstream = upstream::start().await;
    let proxy = RunningProxy::start(Some(
        SnapshotBuilder::quickstart()
            .argon2_secret("s3cr3t-value")
            .upstream(upstream)
            .build(),
    ))
    .await;
    let reply = client::send_tls(
        proxy.https,
        &proxy.cert_pem,
        false,
        form("grant_type=client_credentials&client_id=client&client_secret=s3cr3t-value"),
    )
    .await;
    assert_eq!(reply.status(), StatusCode::OK);
    let token = json(&reply)["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let wrong = client::send_tls(
        proxy.https,
        &proxy.cert_pem,
        false,
        form("grant_type=client_credentials&client_id=client&client_secret=wr0ng-value"),
    )
    .await;
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    let call = client::send(
        proxy.http,
        get("/x")
            .header("authorization", format!("Bearer {token}"))
            .body(empty())
            .expect("request"),
    )
    .await;
    assert_eq!(call.status(), StatusCode::OK);
    let forged = client::send(
        proxy.http,
        get("/x")
            .header("authorization", format!("Bearer {token}x"))
            .body(empty())
            .expect("request"),
    )
    .await;
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    proxy.stop().await;

    let logs = String::from_utf8(captured.0.lock().expect("lock").clone()).expect("utf-8");
    assert!(logs.contains("serving"), "the capture works: {logs}");
    for secret in [token.as_str(), "s3cr3t-value", "wr0ng-value", "Bearer "] {
        assert!(!logs.contains(secret), "the logs hold {secret:?}:\n{logs}");
    }
}
