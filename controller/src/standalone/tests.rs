//! Standalone mode in process: listeners on ephemeral loopback ports, a temporary manifests
//! directory, changes observed through [`Progress`] (no sleeps).

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tollgate_proxy::ProxyOptions;

use super::*;

use super::temp_dir::TempDir;

/// A test directory with an empty `manifests/` inside.
fn sandbox(name: &str) -> TempDir {
    let tmp = TempDir::new("sa", name);
    std::fs::create_dir_all(tmp.0.join("manifests")).expect("manifests dir");
    tmp
}

fn quickstart_into(dir: &Path) {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/quickstart");
    for entry in std::fs::read_dir(examples).expect("examples").flatten() {
        std::fs::copy(entry.path(), dir.join(entry.file_name())).expect("copy");
    }
}

/// Status code of `GET path` (HTTP/1.1, connection closed after one request).
async fn get_status(addr: SocketAddr, path: &str) -> u16 {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("read");
    let head = String::from_utf8_lossy(&response);
    head.split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {head}"))
}

async fn wait_for(
    running: &mut Running,
    what: &str,
    done: impl FnMut(&Progress) -> bool,
) -> Progress {
    match tokio::time::timeout(Duration::from_secs(10), running.progress.wait_for(done)).await {
        Ok(Ok(progress)) => progress.clone(),
        _ => panic!("timed out waiting for {what}"),
    }
}

const FEW_ROUTES: &str = "\
apiVersion: tollgate.dev/v1alpha1
kind: AuthPlugin
metadata: {name: oidc}
spec:
  type: openid-connect
  openidConnect: {}
---
apiVersion: tollgate.dev/v1alpha1
kind: GatewayRoute
metadata: {name: httpbin}
spec:
  paths: [/api]
  plugins: [oidc]
  backend: {url: 'http://127.0.0.1:9'}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_mode_serves_the_directory_and_follows_its_changes() {
    let tmp = sandbox("follow");
    quickstart_into(&tmp.0.join("manifests"));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let options = StandaloneOptions {
        manifests: tmp.0.join("manifests"),
        state_dir: tmp.0.join("state"),
        poll_interval: Duration::from_millis(20),
        hash_threads: 1,
        proxy: ProxyOptions {
            workers: 1,
            ..ProxyOptions::loopback()
        },
    };
    let mut running = start(options, async {
        let _ = stop_rx.await;
    })
    .await
    .expect("start");
    let http = running.http_addr.expect("http listener");
    let admin = running.admin_addr.expect("admin listener");
    assert!(
        running.tls_cert.as_ref().is_some_and(|c| c.is_file()),
        "self-signed cert kept"
    );
    assert!(
        tmp.0
            .join("state")
            .join(state_dir::SIGNING_KEY_FILE)
            .is_file()
    );

    let first = running.progress.borrow().clone();
    assert!(
        !first.hash.is_empty(),
        "the first configuration is applied before serving"
    );
    assert_eq!(get_status(admin, "/readyz").await, 200);
    assert_eq!(
        get_status(http, "/").await,
        401,
        "the upstream route is served and protected"
    );

    // A broken file is reported and changes nothing.
    tmp.write("manifests/zz-broken.yaml", "kind: a: b\n");
    let after = wait_for(&mut running, "two scans", |p| p.scans >= first.scans + 2).await;
    assert_eq!(after.hash, first.hash);
    assert_eq!(get_status(http, "/").await, 401);

    // An edit is served at the next scan.
    tmp.write("manifests/04-upstream-route.yaml", FEW_ROUTES);
    let edited = wait_for(&mut running, "the edit", |p| p.hash != first.hash).await;
    assert_eq!(get_status(http, "/").await, 404);
    assert_eq!(get_status(http, "/api").await, 401);

    // Removing the plugin takes its route down instead of serving it unprotected.
    tmp.write(
        "manifests/04-upstream-route.yaml",
        FEW_ROUTES.split("---").nth(1).unwrap_or_default(),
    );
    wait_for(&mut running, "the plugin removal", |p| {
        p.hash != edited.hash
    })
    .await;
    assert_eq!(get_status(http, "/api").await, 404);

    let _ = stop_tx.send(());
    running.wait().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_manifests_directory_is_an_error_at_start() {
    let tmp = sandbox("missing");
    let options = StandaloneOptions {
        manifests: tmp.0.join("does-not-exist"),
        state_dir: tmp.0.join("state"),
        poll_interval: DEFAULT_POLL_INTERVAL,
        hash_threads: 1,
        proxy: ProxyOptions::loopback(),
    };
    let started = start(options, std::future::pending()).await;
    assert!(matches!(started, Err(Error::ReadManifests(_))));
}

/// `n` Consumers, each with a labelled Secret and an argon2id-hashed OAuth2Credential.
fn hashed_credentials(n: usize, secret: &str) -> String {
    (0..n)
        .map(|i| {
            format!(
                "apiVersion: tollgate.dev/v1alpha1\nkind: Consumer\nmetadata: {{name: c{i}}}\nspec: {{username: user{i}}}\n---\n\
                 apiVersion: v1\nkind: Secret\nmetadata:\n  name: s{i}\n  labels: {{tollgate.dev/secret: credential}}\nstringData: {{client_secret: {secret}-{i}}}\n---\n\
                 apiVersion: tollgate.dev/v1alpha1\nkind: OAuth2Credential\nmetadata: {{name: k{i}}}\nspec:\n  consumerRef: {{name: c{i}}}\n  clientId: client-{i}\n  clientSecretRef: {{name: s{i}, key: client_secret}}\n  hashSecret: true\n---\n"
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashed_secrets_are_kept_sealed_in_the_state_directory_so_a_restart_hashes_nothing() {
    let tmp = sandbox("kept");
    let manifests = tmp.0.join("manifests");
    std::fs::write(manifests.join("creds.yaml"), hashed_credentials(3, "first")).expect("write");
    let options = StandaloneOptions {
        manifests: manifests.clone(),
        state_dir: tmp.0.join("state"),
        poll_interval: Duration::from_millis(20),
        hash_threads: 1,
        proxy: ProxyOptions {
            workers: 1,
            ..ProxyOptions::loopback()
        },
    };

    // First start: every secret is hashed before the first configuration is served.
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = start(options.clone(), async {
        let _ = stop_rx.await;
    })
    .await
    .expect("start");
    let first = running.progress.borrow().clone();
    assert_eq!((first.verifiers_hashed, first.verifiers_kept), (3, 0));
    let _ = stop_tx.send(());
    running.wait().await.expect("clean shutdown");

    let cache = tmp.0.join("state").join(state_dir::VERIFIER_CACHE_FILE);
    let bytes = std::fs::read(&cache).expect("the verifiers were kept");
    assert!(
        !String::from_utf8_lossy(&bytes).contains("argon2id"),
        "sealed, not in clear"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&cache)
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // Restart: nothing is hashed, the same configuration is served.
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let mut running = start(options.clone(), async {
        let _ = stop_rx.await;
    })
    .await
    .expect("restart");
    let warm = running.progress.borrow().clone();
    assert_eq!((warm.verifiers_hashed, warm.verifiers_kept), (0, 3));
    assert_eq!(
        warm.hash, first.hash,
        "the kept verifiers are the ones computed"
    );

    // Rotated secrets do not open their kept copies: they are hashed again, in the background.
    std::fs::write(
        manifests.join("creds.yaml"),
        hashed_credentials(3, "rotated"),
    )
    .expect("write");
    let rotated = wait_for(&mut running, "the rotated secrets to be hashed", |p| {
        p.verifiers_hashed == 3 && p.hash != first.hash
    })
    .await;
    assert_eq!(rotated.verifiers_kept, 3);
    let _ = stop_tx.send(());
    running.wait().await.expect("clean shutdown");
}
