//! Faults, end to end against the real `tollgate-proxy` binary: upstreams that are down, refuse
//! or hang (502/503/504 within the configured timeouts while other routes keep serving),
//! SIGTERM under load (no failed request), and brute-forced client secrets (slowed down, per
//! client, without locking out the right secret for long). Each test prints
//! `FAULT <name> requests=<n> failed=<n>` for the closing note.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http::Method;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tollgate_core::snapshot::{
    Backend, BearerTokenParamType, ClientType, Consumer, Credential, OAuth2Config,
    OpenIdConnectConfig, Plugin, PluginConfig, Route, SNAPSHOT_FORMAT, SigningKey, Snapshot,
};
use tollgate_core::{ids, secret};
use tollgate_e2e::Error;
use tollgate_e2e::client::Client;
use tollgate_e2e::proxy::Proxy;
use tollgate_e2e::wait::wait_until;
use tollgate_e2e::workdir::WorkDir;

const CONFIG_TOKEN: &str = "faults-config-token-0123456789";

fn backend(endpoints: &[String], connect_ms: u64, read_ms: u64) -> Option<Backend> {
    Some(Backend {
        scheme: "http".into(),
        path: String::new(),
        host_header: None,
        endpoints: endpoints.to_vec(),
        connect_timeout_ms: connect_ms,
        read_timeout_ms: read_ms,
    })
}

fn route(id: &str, path: &str, plugin: Option<&str>, backend: Option<Backend>) -> Route {
    Route {
        id: id.into(),
        hosts: vec![],
        paths: vec![path.into()],
        methods: vec![],
        strip_path: true,
        plugins: plugin.into_iter().map(str::to_owned).collect(),
        backend,
        ..Route::default()
    }
}

/// Consumer jane, credential `client`/`secret` (salted SHA-256, so brute-force attempts cost
/// the attacker nothing but the throttle), route `/auth` with an oauth2 plugin, and `routes`.
fn snapshot(routes: Vec<Route>) -> Snapshot {
    let jane = ids::consumer_id("default", "jane");
    let demo = ids::credential_id("default", "demo");
    let mut snapshot = Snapshot {
        certificates: Vec::new(),
        format: SNAPSHOT_FORMAT,
        signing_keys: vec![SigningKey {
            id: "k1".into(),
            secret_b64: base64::engine::general_purpose::STANDARD.encode([9u8; 32]),
        }],
        active_key: "k1".into(),
        consumers: vec![Consumer {
            groups: Vec::new(),
            id: jane.clone(),
            object: "default/jane".into(),
            username: "jane".into(),
            custom_id: None,
        }],
        credentials: vec![Credential {
            scopes: None,
            id: demo.clone(),
            object: "default/demo".into(),
            consumer_id: jane,
            name: "demo".into(),
            client_id: "client".into(),
            client_type: ClientType::Confidential,
            secret_verifier: Some(secret::hash_sha256(
                b"secret",
                &secret::deterministic_salt(&demo),
            )),
            redirect_uris: vec![],
            previous_secrets: Vec::new(),
            tokens_survive_rotation: false,
            incarnation: String::new(),
        }],
        plugins: vec![
            Plugin {
                acl: None,
                id: "default/oauth2".into(),
                incarnation: String::new(),
                accept_namespaces: tollgate_core::snapshot::AcceptNamespaces::Same,
                config: PluginConfig::OAuth2(OAuth2Config {
                    enable_client_credentials: true,
                    global_credentials: true,
                    token_expiration: 7200,
                    scopes: vec![],
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
                    auth_header_name: "authorization".into(),
                    realm: None,
                }),
            },
            Plugin {
                acl: None,
                id: "default/oidc".into(),
                incarnation: String::new(),
                accept_namespaces: tollgate_core::snapshot::AcceptNamespaces::Same,
                config: PluginConfig::OpenIdConnect(OpenIdConnectConfig {
                    bearer_token_param_type: vec![BearerTokenParamType::Header],
                    hide_credentials: false,
                    anonymous: None,
                    realm: None,
                    ..OpenIdConnectConfig::default()
                }),
            },
        ],
        routes,
    };
    snapshot
        .routes
        .push(route("default/auth", "/auth", Some("default/oauth2"), None));
    snapshot.routes.sort_by(|a, b| a.id.cmp(&b.id));
    snapshot
}

/// Starts a proxy and pushes `snapshot`; returns it ready.
async fn proxy(work: &WorkDir, name: &str, snapshot: &Snapshot) -> Proxy {
    let mut proxy = Proxy::start(work, name, CONFIG_TOKEN)
        .await
        .expect("proxy starts");
    let pushed = proxy.push_config(&snapshot.to_json()).await.expect("push");
    assert_eq!(pushed.status, 200, "{}", pushed.describe());
    proxy.wait_ready().await.expect("ready");
    proxy
}

/// An upstream answering every request with 200 after `delay` (the work it simulates).
async fn upstream(delay: Duration) -> SocketAddr {
    use hyper::service::service_fn;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = service_fn(
                    move |_request: http::Request<hyper::body::Incoming>| async move {
                        if !delay.is_zero() {
                            tokio::time::sleep(delay).await;
                        }
                        Ok::<_, std::convert::Infallible>(http::Response::new(
                            http_body_util::Full::new(Bytes::from_static(b"ok")),
                        ))
                    },
                );
                let _ = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
            });
        }
    });
    addr
}

/// An upstream that accepts connections and reads requests but never answers.
async fn hanging() -> SocketAddr {
    use tokio::io::AsyncReadExt;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
            });
        }
    });
    addr
}

/// A port nothing listens on: connections are refused.
async fn refusing() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("addr")
}

/// A host that is "down": a listener that never accepts, its backlog filled, so the kernel drops
/// further SYNs and a connect hangs until the caller's connect timeout. Keep the returned value
/// alive for as long as the host should stay down.
async fn blackhole() -> (SocketAddr, TcpListener, Vec<TcpStream>) {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let listener = socket.listen(1).expect("listen");
    let addr = listener.local_addr().expect("addr");
    let mut fillers = Vec::new();
    for _ in 0..16 {
        match tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => fillers.push(stream),
            _ => break,
        }
    }
    (addr, listener, fillers)
}

#[tokio::test]
async fn failing_upstreams_get_502_503_504_within_their_timeouts_while_other_routes_keep_serving() {
    let work = WorkDir::new("faults-upstreams").expect("work dir");
    let fast = upstream(Duration::ZERO).await;
    let slow = hanging().await;
    let refused = refusing().await;
    let (down, _hold, _fillers) = blackhole().await;
    let routes = vec![
        route(
            "default/fast",
            "/fast",
            None,
            backend(&[fast.to_string()], 1000, 2000),
        ),
        route(
            "default/slow",
            "/slow",
            None,
            backend(&[slow.to_string()], 300, 700),
        ),
        route(
            "default/refused",
            "/refused",
            None,
            backend(&[refused.to_string()], 300, 700),
        ),
        route(
            "default/down",
            "/down",
            None,
            backend(&[down.to_string()], 300, 700),
        ),
        route("default/empty", "/empty", None, backend(&[], 300, 700)),
        route("default/none", "/none", None, None),
    ];
    let proxy = proxy(&work, "proxy-faults", &snapshot(routes)).await;
    let client = Client::plain().expect("client");

    // (path, expected status, the most a refusal may take: the route's connect + read budget
    // plus a generous margin for a loaded machine)
    let failing = [
        ("/slow/x", 504, Duration::from_millis(1000 + 3000)),
        ("/refused/x", 502, Duration::from_millis(3000)),
        ("/down/x", 504, Duration::from_millis(1000 + 3000)),
        ("/empty/x", 503, Duration::from_millis(3000)),
        ("/none/x", 503, Duration::from_millis(3000)),
    ];
    let done = Arc::new(AtomicBool::new(false));
    let fast_requests = Arc::new(AtomicU64::new(0));
    let fast_failures = Arc::new(AtomicU64::new(0));
    let mut background = Vec::new();
    for _ in 0..4 {
        let (client, url, done, n, bad) = (
            client.clone(),
            proxy.http_url("/fast/x"),
            done.clone(),
            fast_requests.clone(),
            fast_failures.clone(),
        );
        background.push(tokio::spawn(async move {
            while !done.load(Ordering::Acquire) {
                let started = Instant::now();
                let ok = matches!(client.get(&url).await, Ok(r) if r.status == 200);
                if !ok || started.elapsed() > Duration::from_secs(2) {
                    bad.fetch_add(1, Ordering::AcqRel);
                }
                n.fetch_add(1, Ordering::AcqRel);
            }
        }));
    }
    let mut failing_requests = 0;
    let mut unexpected = Vec::new();
    let mut attempts = Vec::new();
    for (path, status, bound) in failing {
        for _ in 0..5 {
            let (client, url) = (client.clone(), proxy.http_url(path));
            attempts.push(tokio::spawn(async move {
                let started = Instant::now();
                let response = client.get(&url).await;
                (
                    path,
                    status,
                    bound,
                    response.map(|r| (r.status.as_u16(), r.json())),
                    started.elapsed(),
                )
            }));
        }
    }
    for attempt in attempts {
        let (path, status, bound, response, took) = attempt.await.expect("join");
        failing_requests += 1;
        match response {
            Ok((got, body)) if got == status && took <= bound && body["message"].is_string() => {}
            other => unexpected.push(format!(
                "{path}: {other:?} after {took:?} (want {status} within {bound:?})"
            )),
        }
    }
    // The healthy route kept serving the whole time, and still does.
    wait_until(
        Duration::from_secs(10),
        "fast requests during the faults",
        || {
            let n = fast_requests.load(Ordering::Acquire);
            async move {
                if n >= 40 {
                    Ok(())
                } else {
                    Err(format!("{n} fast requests"))
                }
            }
        },
    )
    .await
    .expect("the healthy route served during the faults");
    done.store(true, Ordering::Release);
    for task in background {
        task.await.expect("join");
    }
    let (n, bad) = (
        fast_requests.load(Ordering::Acquire),
        fast_failures.load(Ordering::Acquire),
    );
    println!(
        "FAULT upstreams requests={} failed={}",
        n + failing_requests,
        bad + unexpected.len() as u64
    );
    assert!(unexpected.is_empty(), "{unexpected:#?}");
    assert_eq!(
        bad, 0,
        "{bad} of {n} requests to the healthy route failed or took over 2 s"
    );
}

/// What a load generator saw.
#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    failed: AtomicU64,
    /// Connections refused: nothing was sent, the generator retried on the other replica.
    rerouted: AtomicU64,
    /// What the failures were.
    errors: std::sync::Mutex<Vec<String>>,
}

impl Tally {
    fn fail(&self, what: String) {
        self.failed.fetch_add(1, Ordering::AcqRel);
        self.errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(what);
    }
}

#[tokio::test]
async fn sigterm_under_load_loses_no_request() {
    let work = WorkDir::new("faults-sigterm").expect("work dir");
    let up = upstream(Duration::from_millis(40)).await;
    let routes = vec![route(
        "default/work",
        "/work",
        None,
        backend(&[up.to_string()], 1000, 5000),
    )];
    let snapshot = snapshot(routes);
    let mut a = proxy(&work, "proxy-a", &snapshot).await;
    let b = proxy(&work, "proxy-b", &snapshot).await;
    let replicas = Arc::new([
        (
            a.http_url("/work/x"),
            a.metrics_url("/readyz"),
            AtomicBool::new(true),
        ),
        (
            b.http_url("/work/x"),
            b.metrics_url("/readyz"),
            AtomicBool::new(true),
        ),
    ]);
    let client = Client::plain().expect("client");
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));

    // The load balancer's view: a replica is routable while its /readyz answers 200.
    let watcher = {
        let (replicas, client, stop) = (replicas.clone(), client.clone(), stop.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(5));
            while !stop.load(Ordering::Acquire) {
                tick.tick().await;
                for (_, ready_url, routable) in replicas.iter() {
                    let ready = matches!(client.get(ready_url).await, Ok(r) if r.status == 200);
                    routable.store(ready, Ordering::Release);
                }
            }
        })
    };
    let mut workers = Vec::new();
    for worker in 0..8usize {
        let (replicas, client, tally, stop) = (
            replicas.clone(),
            client.clone(),
            tally.clone(),
            stop.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut turn = worker;
            while !stop.load(Ordering::Acquire) {
                turn += 1;
                let mut delivered = false;
                for attempt in 0..replicas.len() {
                    let (url, _, routable) = &replicas[(turn + attempt) % replicas.len()];
                    if !routable.load(Ordering::Acquire) {
                        continue;
                    }
                    match client.send(Method::GET, url, &[], Bytes::new()).await {
                        Ok(r) if r.status == 200 => {
                            tally.ok.fetch_add(1, Ordering::AcqRel);
                            delivered = true;
                            break;
                        }
                        Err(Error::Connect { .. }) => {
                            tally.rerouted.fetch_add(1, Ordering::AcqRel);
                        }
                        other => {
                            tally.fail(format!("{url}: {:?}", other.map(|r| r.describe())));
                            delivered = true;
                            break;
                        }
                    }
                }
                if !delivered {
                    tally.fail("no routable replica".to_owned());
                }
            }
        }));
    }
    let ok_before = |n: u64| {
        let tally = tally.clone();
        move || {
            let ok = tally.ok.load(Ordering::Acquire);
            async move {
                if ok >= n {
                    Ok(())
                } else {
                    Err(format!("{ok} requests served"))
                }
            }
        }
    };
    wait_until(
        Duration::from_secs(20),
        "load to be running",
        ok_before(100),
    )
    .await
    .expect("load");
    // SIGTERM proxy A while requests are in flight; `stop` waits until it has exited.
    let terminated = Instant::now();
    a.stop().await;
    let exit_took = terminated.elapsed();
    let served = tally.ok.load(Ordering::Acquire);
    wait_until(
        Duration::from_secs(20),
        "load to go on without proxy A",
        ok_before(served + 100),
    )
    .await
    .expect("load after");
    stop.store(true, Ordering::Release);
    for worker in workers {
        worker.await.expect("join");
    }
    watcher.await.expect("join");
    let (ok, failed, rerouted) = (
        tally.ok.load(Ordering::Acquire),
        tally.failed.load(Ordering::Acquire),
        tally.rerouted.load(Ordering::Acquire),
    );
    println!(
        "FAULT sigterm requests={} failed={failed} rerouted_after_refused_connect={rerouted} exit_after={exit_took:?}",
        ok + failed
    );
    assert!(
        a.log().contains("stopped"),
        "proxy A did not drain and stop cleanly:\n{}",
        a.log()
    );
    let errors = tally
        .errors
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    assert_eq!(
        failed,
        0,
        "{failed} of {} requests failed across the SIGTERM: {errors:#?}",
        ok + failed
    );
    assert!(
        exit_took < Duration::from_secs(10),
        "proxy A took {exit_took:?} to exit"
    );
}

async fn token_attempt(
    client: &Client,
    url: &str,
    client_id: &str,
    secret: &str,
) -> (u16, Option<String>) {
    let response = client
        .post_form(
            url,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", secret),
            ],
        )
        .await
        .expect("token request");
    (
        response.status.as_u16(),
        response.header("retry-after").map(str::to_owned),
    )
}

#[tokio::test]
async fn brute_force_on_one_client_is_bounded_per_client_and_leaves_others_and_the_right_secret_alone()
 {
    let work = WorkDir::new("faults-brute-force").expect("work dir");
    let proxy = proxy(&work, "proxy-brute", &snapshot(vec![])).await;
    let client = proxy.client().expect("client");
    let url = proxy.https_url("/auth/oauth2/token");

    // 16 parallel attackers hammer one client id for 3 s, ignoring Retry-After. However many
    // requests they make, only a handful of guesses may be verified: the free attempts, then one
    // per doubling period. The rest are refused with 429 and Retry-After (each held up to
    // the tarpit time).
    let attack = Duration::from_secs(3);
    let started = Instant::now();
    let attackers: Vec<_> = (0..16)
        .map(|a| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                let (mut verified, mut refused, mut other) = (0u64, 0u64, Vec::new());
                let mut i = 0;
                while started.elapsed() < attack {
                    i += 1;
                    match token_attempt(&client, &url, "client", &format!("guess-{a}-{i}")).await {
                        (400, _) => verified += 1,
                        (429, Some(retry))
                            if retry.parse::<u64>().is_ok_and(|s| (1..=2).contains(&s)) =>
                        {
                            refused += 1
                        }
                        unexpected => other.push(format!("{unexpected:?}")),
                    }
                }
                (verified, refused, other)
            })
        })
        .collect();

    // Meanwhile another client id is not held back by the attack on this one.
    let (status, _) = token_attempt(&client, &url, "nobody", "x").await;
    let mut unexpected = Vec::new();
    if status != 400 {
        unexpected.push(format!("another client id during the attack: {status}"));
    }
    let (mut verified, mut refused) = (0, 0);
    for attacker in attackers {
        let (v, r, other) = attacker.await.expect("join");
        verified += v;
        refused += r;
        unexpected.extend(other);
    }

    // The attack stops; the owner, honouring Retry-After, gets in within the longest period.
    let stopped = Instant::now();
    let outcome = wait_until(
        Duration::from_secs(10),
        "the right secret to be accepted",
        || {
            let (client, url) = (client.clone(), url.clone());
            async move {
                match token_attempt(&client, &url, "client", "secret").await {
                    (200, _) => Ok(()),
                    (status, retry) => Err(format!("{status} retry-after {retry:?}")),
                }
            }
        },
    )
    .await;
    let recovery = stopped.elapsed();
    println!(
        "FAULT brute-force requests={} failed={} verified_guesses={verified} refused_429={refused} recovery={recovery:?}",
        verified + refused + 2,
        unexpected.len()
    );
    outcome.expect("the right secret is accepted after the attack");
    assert!(unexpected.is_empty(), "{unexpected:#?}");
    assert!(
        refused > 0,
        "nothing was refused in {verified} verified guesses"
    );
    assert!(
        verified <= 12,
        "{verified} guesses verified in {attack:?} (refused {refused})"
    );
    assert!(
        recovery < Duration::from_secs(5),
        "the right secret was locked out for {recovery:?}"
    );
}
