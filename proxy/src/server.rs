//! Listeners and workers.
//!
//! Traffic is served by one single-threaded runtime per core, each with its own handle on the
//! shared listening sockets (whichever worker is free accepts a new connection) and its own
//! upstream connection pools, so a request never crosses threads and pools never contend. The admin port runs on the caller's
//! runtime. Shutdown: `/readyz` turns 503, workers stop accepting, in-flight requests get the
//! grace period, then `serve` returns.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::Request;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio_rustls::TlsAcceptor;

use crate::admin::{self, AdminOptions};
use crate::h1;
use crate::options::ProxyOptions;
use crate::pipeline::{self, Ctx, ProxyState, WorkerLocal};
use crate::tls;
use crate::upstream::{self, ProxyBody, Upstreams};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("binding {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(#[from] tls::Error),
    #[error("starting worker {index}: {source}")]
    Worker {
        index: usize,
        source: std::io::Error,
    },
}

/// Listeners bound and ready to serve (so tests and callers learn the real ports first).
#[derive(Debug)]
pub struct Bound {
    options: ProxyOptions,
    tls: Option<Arc<rustls::ServerConfig>>,
    upstream_tls: Arc<rustls::ClientConfig>,
    /// Per worker: its HTTP and HTTPS listeners.
    http: Vec<std::net::TcpListener>,
    https: Vec<std::net::TcpListener>,
    admin: Option<TcpListener>,
    http_addr: Option<SocketAddr>,
    https_addr: Option<SocketAddr>,
    admin_addr: Option<SocketAddr>,
}

/// Binds one listening socket and gives each of `count` workers its own handle on it (port 0
/// is resolved once). Every worker's runtime watches the same accept queue and the first idle
/// one takes a new connection, so connections spread by load, as with nginx's shared listener;
/// separate `SO_REUSEPORT` sockets would spread them by a hash of the client's address and
/// port, leaving one worker with noticeably more connections than the other now and then.
/// Must run inside a tokio runtime.
fn bind_shared(
    addr: SocketAddr,
    count: usize,
) -> Result<(SocketAddr, Vec<std::net::TcpListener>), Error> {
    let wrap = |source| Error::Bind { addr, source };
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(wrap)?;
    socket.set_reuseaddr(true).map_err(wrap)?;
    socket.set_nodelay(true).map_err(wrap)?;
    socket.bind(addr).map_err(wrap)?;
    let listener = socket.listen(4096).map_err(wrap)?;
    let actual = listener.local_addr().map_err(wrap)?;
    let listener = listener.into_std().map_err(wrap)?;
    let mut listeners = Vec::with_capacity(count.max(1));
    for _ in 1..count.max(1) {
        listeners.push(listener.try_clone().map_err(wrap)?);
    }
    listeners.push(listener);
    Ok((actual, listeners))
}

/// Binds every configured listener and loads (or generates) the TLS certificate.
pub async fn bind(options: ProxyOptions) -> Result<Bound, Error> {
    let workers = options.workers.max(1);
    let (http_addr, http) = match options.http_addr {
        Some(addr) => {
            let (a, l) = bind_shared(addr, workers)?;
            (Some(a), l)
        }
        None => (None, Vec::new()),
    };
    let (https_addr, https, tls) = match options.https_addr {
        Some(addr) => {
            let config =
                tls::load_or_generate(options.tls_cert.as_deref(), options.tls_key.as_deref())?;
            let (a, l) = bind_shared(addr, workers)?;
            (Some(a), l, Some(config))
        }
        None => (None, Vec::new(), None),
    };
    let upstream_tls = match &options.upstream_ca {
        Some(path) => tls::client_config_from_ca_file(path)?,
        None => upstream::client_tls(),
    };
    let (admin_addr, admin) = match options.admin_addr {
        Some(addr) => {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|source| Error::Bind { addr, source })?;
            let actual = listener
                .local_addr()
                .map_err(|source| Error::Bind { addr, source })?;
            (Some(actual), Some(listener))
        }
        None => (None, None),
    };
    Ok(Bound {
        options,
        tls,
        upstream_tls,
        http,
        https,
        admin,
        http_addr,
        https_addr,
        admin_addr,
    })
}

/// Binds and serves until `shutdown` resolves, then drains (see the module doc).
pub async fn serve(
    options: ProxyOptions,
    state: Arc<ProxyState>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    bind(options).await?.serve(state, shutdown).await
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn connection_builder(options: &ProxyOptions) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .max_buf_size(options.max_header_bytes.max(8192))
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(options.max_header_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(256)
        .max_pending_accept_reset_streams(64)
        .max_local_error_reset_streams(1024);
    builder
}

impl Bound {
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    pub fn https_addr(&self) -> Option<SocketAddr> {
        self.https_addr
    }

    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    /// Serves until `shutdown` resolves, then drains.
    pub async fn serve(
        self,
        state: Arc<ProxyState>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), Error> {
        let Bound {
            options,
            tls,
            upstream_tls,
            http,
            https,
            admin,
            http_addr,
            https_addr,
            admin_addr,
        } = self;
        let options = Arc::new(options);
        let (stop_tx, stop_rx) = watch::channel(false);
        // The admin port outlives the workers, so `/readyz` answers 503 while they drain.
        let (admin_stop_tx, admin_stop_rx) = watch::channel(false);

        let admin_task = admin.map(|listener| {
            let admin_options = AdminOptions {
                config_token: options.config_token.clone(),
                max_config_bytes: options.max_config_bytes,
            };
            tokio::spawn(serve_admin(
                listener,
                state.clone(),
                admin_options,
                options.clone(),
                admin_stop_rx,
            ))
        });

        let mut http = http.into_iter();
        let mut https = https.into_iter();
        let mut done = Vec::new();
        for index in 0..options.workers.max(1) {
            let listeners = WorkerListeners {
                http: http.next(),
                https: https.next(),
            };
            if listeners.http.is_none() && listeners.https.is_none() {
                break;
            }
            let (done_tx, done_rx) = oneshot::channel();
            let worker = Worker {
                state: state.clone(),
                options: options.clone(),
                tls: tls.clone().map(TlsAcceptor::from),
                upstream_tls: upstream_tls.clone(),
                stop: stop_rx.clone(),
            };
            std::thread::Builder::new()
                .name(format!("tollgate-worker-{index}"))
                .spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build();
                    match runtime {
                        Ok(runtime) => runtime.block_on(worker.run(listeners)),
                        Err(e) => tracing::error!(error = %e, "worker runtime failed to start"),
                    }
                    let _ = done_tx.send(());
                })
                .map_err(|source| Error::Worker { index, source })?;
            done.push(done_rx);
        }
        tracing::info!(
            http = ?http_addr,
            https = ?https_addr,
            admin = ?admin_addr,
            workers = done.len(),
            "serving"
        );

        shutdown.await;
        tracing::info!("shutting down: not ready, draining in-flight requests");
        state.begin_shutdown();
        if !options.drain_delay.is_zero() {
            // Not ready, still accepting: load balancers notice before connections are refused.
            tokio::time::sleep(options.drain_delay).await;
        }
        let _ = stop_tx.send(true);
        for worker in done {
            let _ = worker.await;
        }
        let _ = admin_stop_tx.send(true);
        if let Some(task) = admin_task {
            let _ = task.await;
        }
        tracing::info!("stopped");
        Ok(())
    }
}

struct WorkerListeners {
    http: Option<std::net::TcpListener>,
    https: Option<std::net::TcpListener>,
}

struct Worker {
    state: Arc<ProxyState>,
    options: Arc<ProxyOptions>,
    tls: Option<TlsAcceptor>,
    upstream_tls: Arc<rustls::ClientConfig>,
    stop: watch::Receiver<bool>,
}

async fn accept_on(listener: &Option<TcpListener>) -> std::io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

fn to_tokio(listener: Option<std::net::TcpListener>) -> Option<TcpListener> {
    let listener = listener?;
    listener.set_nonblocking(true).ok()?;
    match TcpListener::from_std(listener) {
        Ok(l) => Some(l),
        Err(e) => {
            tracing::error!(error = %e, "could not register a listener");
            None
        }
    }
}

impl Worker {
    async fn run(mut self, listeners: WorkerListeners) {
        let http = to_tokio(listeners.http);
        let https = to_tokio(listeners.https);
        let http_port = http
            .as_ref()
            .and_then(|l| l.local_addr().ok())
            .map_or(0, |a| a.port());
        let https_port = https
            .as_ref()
            .and_then(|l| l.local_addr().ok())
            .map_or(0, |a| a.port());
        let local = Arc::new(WorkerLocal::new(Upstreams::new(self.upstream_tls.clone())));
        let builder = Arc::new(connection_builder(&self.options));
        let graceful = GracefulShutdown::new();
        // Fast-path connections hold a graceful watcher too, so the drain below waits for them.
        let stop = Arc::new(h1::Stop::default());
        let limits = h1::Limits {
            max_head: self.options.max_header_bytes,
            head_timeout: self.options.header_read_timeout,
        };
        loop {
            let (stream, peer, https_conn) = tokio::select! {
                accepted = accept_on(&http) => match accepted {
                    Ok((s, p)) => (s, p, false),
                    Err(e) => { accept_error(e).await; continue; }
                },
                accepted = accept_on(&https) => match accepted {
                    Ok((s, p)) => (s, p, true),
                    Err(e) => { accept_error(e).await; continue; }
                },
                _ = self.stop.changed() => break,
            };
            let _ = stream.set_nodelay(true);
            let peer_ip = peer.ip().to_canonical();
            let ctx = Arc::new(Ctx::new(
                self.state.clone(),
                local.clone(),
                peer_ip,
                self.options.is_trusted(peer_ip),
                https_conn,
                if https_conn { https_port } else { http_port },
            ));
            let watcher = graceful.watcher();
            let builder = builder.clone();
            let first_request_deadline = self.options.header_read_timeout;
            let fast = self.options.http1_fast_path.then(|| (limits, stop.clone()));
            if https_conn {
                let Some(acceptor) = self.tls.clone() else {
                    continue;
                };
                let handshake_timeout = self.options.header_read_timeout;
                tokio::spawn(async move {
                    let tls = match tokio::time::timeout(handshake_timeout, acceptor.accept(stream))
                        .await
                    {
                        Ok(Ok(tls)) => tls,
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!("TLS handshake timed out");
                            return;
                        }
                    };
                    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                    let io = match fast {
                        Some((limits, stop)) if !h2 => {
                            match h1::serve(tls, &ctx, &limits, &stop).await {
                                h1::Outcome::Done => return,
                                h1::Outcome::Fallback(io) => io,
                            }
                        }
                        _ => h1::Rewind::new(bytes::Bytes::new(), tls),
                    };
                    let conn = builder.serve_connection(TokioIo::new(io), service(ctx.clone()));
                    run_connection(watcher.watch(conn), &ctx, first_request_deadline).await;
                });
            } else {
                tokio::spawn(async move {
                    let io = match fast {
                        Some((limits, stop)) => match h1::serve(stream, &ctx, &limits, &stop).await
                        {
                            h1::Outcome::Done => return,
                            h1::Outcome::Fallback(io) => io,
                        },
                        None => h1::Rewind::new(bytes::Bytes::new(), stream),
                    };
                    let conn = builder.serve_connection(TokioIo::new(io), service(ctx.clone()));
                    run_connection(watcher.watch(conn), &ctx, first_request_deadline).await;
                });
            }
        }
        // Idle fast-path connections close now, busy ones after their response.
        stop.trigger();
        drop(http);
        drop(https);
        if tokio::time::timeout(self.options.grace_period, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("grace period over; closing remaining connections");
        }
    }
}

fn service(
    ctx: Arc<Ctx>,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = http::Response<ProxyBody>,
    Error = Infallible,
    Future = impl Future<Output = Result<http::Response<ProxyBody>, Infallible>> + Send,
> + Clone {
    service_fn(move |request: Request<Incoming>| {
        let ctx = ctx.clone();
        async move { Ok(pipeline::handle(&ctx, request.map(ProxyBody::from)).await) }
    })
}

/// Drives a connection, closing it if no request arrives within `deadline` (hyper's own header
/// timeout starts only once HTTP/1 parsing starts; this also covers silent clients, a bare
/// HTTP/2 preface and TLS sessions that never send a request).
async fn run_connection<F, E>(conn: F, ctx: &Ctx, deadline: Duration)
where
    F: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    tokio::pin!(conn);
    tokio::select! {
        biased;
        result = &mut conn => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            return;
        }
        waited = tokio::time::timeout(deadline, ctx.first_request()) => {
            if waited.is_err() {
                tracing::debug!("no request before the deadline; closing the connection");
                return;
            }
        }
    }
    if let Err(e) = conn.await {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// Accept errors (e.g. out of file descriptors) must not spin the loop.
async fn accept_error(error: std::io::Error) {
    tracing::warn!(error = %error, "accept failed");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

async fn serve_admin(
    listener: TcpListener,
    state: Arc<ProxyState>,
    admin_options: AdminOptions,
    options: Arc<ProxyOptions>,
    mut stop: watch::Receiver<bool>,
) {
    let admin_options = Arc::new(admin_options);
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
                Err(e) => { accept_error(e).await; continue; }
            },
            _ = stop.changed() => break,
        };
        let state = state.clone();
        let admin_options = admin_options.clone();
        let watcher = graceful.watcher();
        let builder = builder.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |request: Request<Incoming>| {
                let state = state.clone();
                let admin_options = admin_options.clone();
                async move { Ok::<_, Infallible>(admin::handle(&state, &admin_options, request).await) }
            });
            let conn = builder.serve_connection(TokioIo::new(stream), svc);
            let _ = watcher.watch(conn).await;
        });
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), graceful.shutdown()).await;
}
