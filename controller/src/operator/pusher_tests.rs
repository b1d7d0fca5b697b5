use std::collections::BTreeSet;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tollgate_core::config_channel::{Applied, ConfigStatus, Rejected};

use super::*;

/// How the fake proxy answers `POST /config`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Accept,
    Reject,
    /// 503 for the first n pushes, then accept.
    FailFirst(u32),
}

struct Fake {
    hash: String,
    gets: u32,
    posts: u32,
    mode: Mode,
    last_auth: Option<String>,
}

type Shared = Arc<Mutex<Fake>>;

async fn handle(fake: Shared, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let post = req.method() == http::Method::POST;
    let auth = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let mut f = fake.lock().expect("lock");
    let (status, json) = if post {
        f.posts += 1;
        f.last_auth = auth;
        let failing = matches!(f.mode, Mode::FailFirst(n) if f.posts <= n);
        if f.mode == Mode::Reject {
            let rejected = Rejected {
                errors: vec!["route ns/r: unknown plugin".to_owned()],
            };
            (StatusCode::BAD_REQUEST, to_json(&rejected))
        } else if failing {
            (StatusCode::SERVICE_UNAVAILABLE, "{}".to_owned())
        } else {
            f.hash = String::from_utf8_lossy(&body).to_string();
            let applied = Applied {
                hash: f.hash.clone(),
            };
            (StatusCode::OK, to_json(&applied))
        }
    } else {
        f.gets += 1;
        let status = ConfigStatus {
            hash: f.hash.clone(),
            updated_at: None,
            jwks_wanted: Vec::new(),
        };
        (StatusCode::OK, to_json(&status))
    };
    Ok(Response::builder()
        .status(status)
        .body(Full::new(Bytes::from(json)))
        .expect("response"))
}

fn to_json(body: &impl serde::Serialize) -> String {
    serde_json::to_string(body).expect("json")
}

/// A fake proxy admin port; the "hash" it holds is simply the body last pushed.
async fn fake_proxy(mode: Mode) -> (String, Shared) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let fake = Arc::new(Mutex::new(Fake {
        hash: String::new(),
        gets: 0,
        posts: 0,
        mode,
        last_auth: None,
    }));
    let shared = Arc::clone(&fake);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let fake = Arc::clone(&shared);
            tokio::spawn(async move {
                let service = service_fn(move |req| handle(Arc::clone(&fake), req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, fake)
}

fn desired(hash: &str) -> Arc<Desired> {
    // The fake's hash is the pushed body, so body == hash keeps the test readable.
    Arc::new(Desired {
        hash: hash.to_owned(),
        body: Bytes::from(hash.to_owned()),
    })
}

fn pusher() -> Pusher {
    pusher_with_metrics(Arc::new(ControllerMetrics::new()))
}

fn pusher_with_metrics(metrics: Arc<ControllerMetrics>) -> Pusher {
    let settings = PushSettings {
        recheck: Duration::from_millis(30),
        backoff: Backoff {
            base: Duration::from_millis(10),
            max: Duration::from_millis(40),
        },
    };
    Pusher::new(
        PushClient::new(Duration::from_secs(2)),
        settings,
        Arc::new(Notify::new()),
        metrics,
    )
}

async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn token() -> Option<ConfigToken> {
    ConfigToken::new("s3cret-token")
}

#[tokio::test]
async fn a_replica_gets_the_snapshot_once_and_is_then_only_checked() {
    let (addr, fake) = fake_proxy(Mode::Accept).await;
    let mut p = pusher();
    p.publish(desired("h1"), token());
    p.set_targets(&BTreeSet::from([addr.clone()]));
    wait_until("ack", || {
        p.acks().get(&addr) == Some(&Some("h1".to_owned()))
    })
    .await;
    wait_until("a few re-checks", || fake.lock().expect("lock").gets >= 4).await;
    let f = fake.lock().expect("lock");
    assert_eq!(f.posts, 1, "unchanged snapshots are not pushed again");
    assert_eq!(f.last_auth.as_deref(), Some("Bearer s3cret-token"));
}

#[tokio::test]
async fn a_restarted_replica_gets_its_config_back() {
    let (addr, fake) = fake_proxy(Mode::Accept).await;
    let mut p = pusher();
    p.publish(desired("h1"), token());
    p.set_targets(&BTreeSet::from([addr.clone()]));
    wait_until("first push", || fake.lock().expect("lock").posts == 1).await;
    fake.lock().expect("lock").hash.clear(); // the proxy restarted empty
    wait_until("second push", || fake.lock().expect("lock").posts == 2).await;
    assert_eq!(fake.lock().expect("lock").hash, "h1");
}

#[tokio::test]
async fn a_new_snapshot_is_pushed_to_every_replica() {
    let (a, fa) = fake_proxy(Mode::Accept).await;
    let (b, fb) = fake_proxy(Mode::Accept).await;
    let mut p = pusher();
    p.publish(desired("h1"), token());
    p.set_targets(&BTreeSet::from([a.clone(), b.clone()]));
    wait_until("both on h1", || {
        let acks = p.acks();
        acks.len() == 2 && acks.values().all(|h| h.as_deref() == Some("h1"))
    })
    .await;
    p.publish(desired("h2"), token());
    wait_until("both on h2", || {
        let acks = p.acks();
        acks.len() == 2 && acks.values().all(|h| h.as_deref() == Some("h2"))
    })
    .await;
    assert_eq!(fa.lock().expect("lock").hash, "h2");
    assert_eq!(fb.lock().expect("lock").hash, "h2");
}

#[tokio::test]
async fn a_rejected_snapshot_is_retried_with_backoff_until_the_proxy_takes_it() {
    let (addr, fake) = fake_proxy(Mode::Reject).await;
    let metrics = Arc::new(ControllerMetrics::new());
    let mut p = pusher_with_metrics(Arc::clone(&metrics));
    p.publish(desired("h1"), token());
    p.set_targets(&BTreeSet::from([addr.clone()]));
    wait_until("three rejected pushes", || {
        fake.lock().expect("lock").posts >= 3
    })
    .await;
    assert_eq!(p.acks().get(&addr), Some(&None));
    let page = metrics.render();
    assert!(
        page.lines().any(
            |l| l.starts_with("tollgate_controller_push_rejections_total{") && !l.ends_with(" 0")
        ),
        "{page}"
    );
    // A proxy that takes the same snapshot later (rolled out, or with a higher size limit)
    // gets it without a new snapshot or a controller restart.
    fake.lock().expect("lock").mode = Mode::Accept;
    wait_until("the same snapshot applied", || {
        p.acks().get(&addr) == Some(&Some("h1".to_owned()))
    })
    .await;
}

#[tokio::test]
async fn failed_pushes_are_retried_until_they_succeed() {
    let (addr, fake) = fake_proxy(Mode::FailFirst(3)).await;
    let mut p = pusher();
    p.publish(desired("h1"), token());
    p.set_targets(&BTreeSet::from([addr.clone()]));
    wait_until("ack after retries", || {
        p.acks().get(&addr) == Some(&Some("h1".to_owned()))
    })
    .await;
    assert_eq!(fake.lock().expect("lock").posts, 4);
}

#[tokio::test]
async fn nothing_is_pushed_without_a_config_token() {
    let (addr, fake) = fake_proxy(Mode::Accept).await;
    let mut p = pusher();
    p.publish(desired("h1"), None);
    p.set_targets(&BTreeSet::from([addr.clone()]));
    p.publish(desired("h1"), token());
    wait_until("push once the token is known", || {
        fake.lock().expect("lock").posts == 1
    })
    .await;
    assert_eq!(fake.lock().expect("lock").hash, "h1");
}

#[tokio::test]
async fn a_replica_that_leaves_is_forgotten() {
    let (addr, _fake) = fake_proxy(Mode::Accept).await;
    let mut p = pusher();
    p.publish(desired("h1"), token());
    p.set_targets(&BTreeSet::from([addr.clone()]));
    wait_until("ack", || p.acks().get(&addr).is_some_and(Option::is_some)).await;
    p.set_targets(&BTreeSet::new());
    assert!(p.acks().is_empty());
}

#[tokio::test]
async fn a_replica_is_unknown_until_its_first_round_and_unreachable_means_holding_nothing() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").to_string()
    };
    let mut p = pusher();
    p.set_targets(&BTreeSet::from([closed.clone()]));
    assert!(
        p.acks().is_empty(),
        "nothing reported before the first round"
    );
    p.publish(desired("h1"), token());
    wait_until("a report", || p.acks().contains_key(&closed)).await;
    assert_eq!(p.acks().get(&closed), Some(&None));
}

#[test]
fn backoff_grows_exponentially_with_bounded_jitter() {
    let b = Backoff {
        base: Duration::from_millis(100),
        max: Duration::from_secs(2),
    };
    let table = [
        (1, 50, 100),
        (2, 100, 200),
        (3, 200, 400),
        (5, 800, 1600),
        (9, 1000, 2000),
        (40, 1000, 2000),
    ];
    for (attempt, low, high) in table {
        for random in [0, 7, u32::MAX / 2, u32::MAX] {
            let d = b.delay(attempt, random).as_millis();
            assert!(
                (low..=high).contains(&d),
                "attempt {attempt}: {d} ms not in {low}..={high}"
            );
        }
    }
}
