//! Logs never carry a token, a client secret or an `Authorization` header, even at `trace`; a
//! backend address refused by the policy is logged at warn level with its route and address.
//! The capture is the process's one global subscriber, shared by this module's tests.

use crate::support;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use http::StatusCode;
use support::client::{self, empty, form, get, json};
use support::{RunningProxy, SnapshotBuilder, backend, upstream};
use tollgate_proxy::options::AddressPolicy;

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

/// Every log line of the process from the first call on, as JSON lines.
fn capture() -> Captured {
    static CAPTURED: OnceLock<Captured> = OnceLock::new();
    CAPTURED
        .get_or_init(|| {
            let captured = Captured::default();
            let subscriber = tracing_subscriber::fmt()
                .with_env_filter("tollgate_proxy=trace,tollgate_core=trace")
                .with_writer(captured.clone())
                .json()
                .finish();
            tracing::subscriber::set_global_default(subscriber).expect("first subscriber");
            captured
        })
        .clone()
}

#[tokio::test]
async fn a_refused_backend_address_is_logged_at_warn_with_its_route_and_address() {
    let captured = capture();
    let up = upstream::start().await;
    let snapshot = SnapshotBuilder::quickstart()
        .open_route("default/refused-backend", "/refused", Some(backend(&[up])))
        .build();
    let proxy = RunningProxy::start_with(Some(snapshot), |o| {
        o.backend_policy = AddressPolicy::cluster();
    })
    .await;
    let reply = client::send(proxy.http, get("/refused/x").body(empty()).expect("r")).await;
    assert_eq!(reply.status(), StatusCode::BAD_GATEWAY);
    proxy.stop().await;

    let logs = String::from_utf8(captured.0.lock().expect("lock").clone()).expect("utf-8");
    let line = logs
        .lines()
        .find(|l| l.contains("default/refused-backend") && l.contains("backend address refused"))
        .unwrap_or_else(|| panic!("no refusal line:\n{logs}"));
    let line: serde_json::Value = serde_json::from_str(line).expect("JSON line");
    assert_eq!(line["level"], "WARN", "{line}");
    assert_eq!(line["fields"]["route"], "default/refused-backend", "{line}");
    assert_eq!(line["fields"]["address"], up.to_string(), "{line}");
    assert_eq!(line["fields"]["reason"], "loopback", "{line}");
}

#[tokio::test]
async fn trace_logs_of_the_token_flow_hold_no_token_secret_or_authorization_header() {
    let captured = capture();

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
