//! Test fixtures: snapshot builders, an echoing upstream, a running proxy, and small HTTP/1.1,
//! HTTP/2 and TLS clients built on hyper and tokio-rustls.

pub mod client;
mod snapshot;
pub mod upstream;

pub use snapshot::*;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::oneshot;
use tollgate_core::config_channel::ConfigToken;
use tollgate_core::snapshot::Snapshot;
use tollgate_proxy::{ProxyOptions, ProxyState};

pub const CONFIG_TOKEN: &str = "test-config-token";

/// A running proxy on loopback ports with a generated certificate written to files.
pub struct RunningProxy {
    pub state: Arc<ProxyState>,
    pub http: SocketAddr,
    pub https: SocketAddr,
    pub admin: SocketAddr,
    pub cert_pem: Vec<u8>,
    stop: Option<oneshot::Sender<()>>,
    pub finished: Option<tokio::task::JoinHandle<Result<(), tollgate_proxy::Error>>>,
    dir: PathBuf,
}

pub fn temp_dir(tag: &str) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("tollgate-{tag}-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

impl RunningProxy {
    pub async fn start(snapshot: Option<Snapshot>) -> Self {
        Self::start_with(snapshot, |_| {}).await
    }

    pub async fn start_with(
        snapshot: Option<Snapshot>,
        edit: impl FnOnce(&mut ProxyOptions),
    ) -> Self {
        let dir = temp_dir("proxy");
        let (cert, key) = (dir.join("tls.crt"), dir.join("tls.key"));
        tollgate_proxy::tls::write_self_signed(&cert, &key).expect("certificate");
        let mut options = ProxyOptions::loopback();
        options.tls_cert = Some(cert.clone());
        options.tls_key = Some(key);
        options.config_token = ConfigToken::new(CONFIG_TOKEN);
        options.workers = 2;
        edit(&mut options);
        let state = Arc::new(ProxyState::new());
        if let Some(snapshot) = snapshot {
            state.apply(snapshot).expect("valid snapshot");
        }
        let bound = tollgate_proxy::bind(options).await.expect("bind");
        let (stop, stopped) = oneshot::channel::<()>();
        let http = bound.http_addr().expect("http");
        let https = bound.https_addr().expect("https");
        let admin = bound.admin_addr().expect("admin");
        let finished = tokio::spawn(bound.serve(state.clone(), async {
            let _ = stopped.await;
        }));
        Self {
            state,
            http,
            https,
            admin,
            cert_pem: std::fs::read(&cert).expect("cert"),
            stop: Some(stop),
            finished: Some(finished),
            dir,
        }
    }

    /// The admin port's `GET /metrics` text.
    pub async fn metrics(&self) -> String {
        let request = client::get("/metrics")
            .body(client::empty())
            .expect("request");
        let reply = client::send(self.admin, request).await;
        String::from_utf8_lossy(reply.body()).into_owned()
    }

    /// Signals shutdown (as SIGTERM would).
    pub fn begin_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    pub async fn stop(mut self) {
        self.begin_stop();
        if let Some(finished) = self.finished.take() {
            finished.await.expect("join").expect("serve");
        }
    }
}

impl Drop for RunningProxy {
    fn drop(&mut self) {
        self.begin_stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
