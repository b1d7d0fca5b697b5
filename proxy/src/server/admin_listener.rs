//! The admin port's and the metrics port's listener: HTTP/1 only, on the caller's runtime,
//! outliving the workers so `/readyz` answers 503 while they drain. The admin port speaks TLS
//! when the config channel has a certificate ([`super::config_tls`]).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http::Request;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::config_tls::ReloadingTls;
use super::{tls_accept, worker};
use crate::admin::{self, AdminOptions, Endpoints};
use crate::options::ProxyOptions;
use crate::pipeline::ProxyState;

/// What one listener serves.
pub struct Serving {
    pub endpoints: Endpoints,
    /// Speak TLS with this certificate.
    pub tls: Option<Arc<ReloadingTls>>,
}

/// Serves `serving`'s endpoints on `listener` until `stop` changes, then drains for up to two
/// seconds.
pub async fn serve(
    listener: TcpListener,
    state: Arc<ProxyState>,
    admin_options: Arc<AdminOptions>,
    options: Arc<ProxyOptions>,
    serving: Serving,
    mut stop: watch::Receiver<bool>,
) {
    let endpoints = serving.endpoints;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .max_buf_size(options.max_header_bytes.max(8192));
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((s, _)) => s,
                Err(e) => { worker::accept_error(e).await; continue; }
            },
            _ = stop.changed() => break,
        };
        let state = state.clone();
        let admin_options = admin_options.clone();
        let watcher = graceful.watcher();
        let builder = builder.clone();
        let acceptor = serving.tls.as_ref().map(|tls| tls.acceptor());
        let handshake_timeout = options.header_read_timeout;
        tokio::spawn(async move {
            let svc = service_fn(move |request: Request<Incoming>| {
                let state = state.clone();
                let admin_options = admin_options.clone();
                async move {
                    Ok::<_, Infallible>(
                        admin::handle(&state, &admin_options, endpoints, request).await,
                    )
                }
            });
            match acceptor {
                None => {
                    let conn = builder.serve_connection(TokioIo::new(stream), svc);
                    let _ = watcher.watch(conn).await;
                }
                Some(acceptor) => {
                    let Some(accepted) =
                        tls_accept::accept(&acceptor, stream, handshake_timeout).await
                    else {
                        return;
                    };
                    let conn = builder.serve_connection(TokioIo::new(accepted.stream), svc);
                    let _ = watcher.watch(conn).await;
                }
            }
        });
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), graceful.shutdown()).await;
}
