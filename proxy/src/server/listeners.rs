//! Binding the listeners, starting the workers, and shutting down.
//!
//! Traffic is served by one single-threaded runtime per core ([`super::worker`]), each with its
//! own handle on the shared listening sockets (whichever worker is free accepts a new
//! connection) and its own upstream connection pools, so a request never crosses threads and
//! pools never contend. The admin port runs on the caller's runtime
//! ([`super::admin_listener`]). Shutdown: `/readyz` turns 503, workers stop accepting,
//! in-flight requests get the grace period, then `serve` returns.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::admin_listener::{self, Serving};
use super::balance::{Balance, Handoff};
use super::config_tls::ReloadingTls;
use super::https_certs::{HttpsCerts, Pair};
use super::worker::{Worker, WorkerListeners};
use crate::admin::{AdminOptions, Endpoints, TokenSource};
use crate::options::ProxyOptions;
use crate::pipeline::{AccessLog, ProxyState};
use crate::shared::body_limit::BodyBudget;
use crate::tls;
use crate::upstream;

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
    /// The HTTPS certificates, followed on disk while serving.
    https_certs: Option<Arc<HttpsCerts>>,
    upstream_tls: Arc<rustls::ClientConfig>,
    /// Per worker: its HTTP and HTTPS listeners.
    http: Vec<std::net::TcpListener>,
    https: Vec<std::net::TcpListener>,
    admin: Option<TcpListener>,
    metrics: Option<TcpListener>,
    config_tls: Option<Arc<ReloadingTls>>,
    http_addr: Option<SocketAddr>,
    https_addr: Option<SocketAddr>,
    admin_addr: Option<SocketAddr>,
    metrics_addr: Option<SocketAddr>,
}

/// Binds one listening socket and gives each of `count` workers its own handle on it (port 0
/// is resolved once). Every worker's runtime watches the same accept queue; whichever is awake
/// takes what waits there, and [`super::balance`] then evens out the connections each worker
/// serves (a burst of new connections would otherwise stay with one worker). Separate
/// `SO_REUSEPORT` sockets would spread them by a hash of the client's address and port,
/// leaving one worker with noticeably more connections than the other now and then.
/// Must run inside a tokio runtime.
fn bind_shared(
    addr: SocketAddr,
    count: usize,
) -> Result<(SocketAddr, Vec<std::net::TcpListener>), Error> {
    let listener = listen(addr, 4096)?;
    let wrap = |source| Error::Bind { addr, source };
    let actual = listener.local_addr().map_err(wrap)?;
    let mut listeners = Vec::with_capacity(count.max(1));
    for _ in 1..count.max(1) {
        listeners.push(listener.try_clone().map_err(wrap)?);
    }
    listeners.push(listener);
    Ok((actual, listeners))
}

/// A listening socket on `addr`, non-blocking (for tokio), with `SO_REUSEADDR` and `TCP_NODELAY`.
///
/// `[::]` is dual-stack: IPv6 with `IPV6_V6ONLY` off, so IPv4 clients are accepted too (as
/// `::ffff:a.b.c.d`) and the same default works in IPv4-only, IPv6-only and dual-stack
/// clusters. On a host without IPv6, `[::]` falls back to `0.0.0.0` on the same port, with a
/// warning.
pub fn listen(addr: SocketAddr, backlog: i32) -> Result<std::net::TcpListener, Error> {
    match listen_exactly(addr, backlog) {
        Err(Error::Bind { source, .. })
            if addr.ip() == std::net::IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
                && matches!(
                    source.raw_os_error(),
                    Some(errno::EAFNOSUPPORT | errno::EADDRNOTAVAIL)
                ) =>
        {
            let v4 = SocketAddr::from(([0, 0, 0, 0], addr.port()));
            tracing::warn!(%addr, fallback = %v4, error = %source, "no IPv6 on this host; listening on IPv4 only");
            listen_exactly(v4, backlog)
        }
        other => other,
    }
}

/// The errno values of a host without IPv6 (Linux, every architecture).
mod errno {
    pub const EAFNOSUPPORT: i32 = 97;
    pub const EADDRNOTAVAIL: i32 = 99;
}

fn listen_exactly(addr: SocketAddr, backlog: i32) -> Result<std::net::TcpListener, Error> {
    use socket2::{Domain, Protocol, Socket, Type};
    let wrap = |source| Error::Bind { addr, source };
    let socket =
        Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).map_err(wrap)?;
    if addr.is_ipv6() {
        socket.set_only_v6(false).map_err(wrap)?;
    }
    socket.set_reuse_address(true).map_err(wrap)?;
    socket.set_tcp_nodelay(true).map_err(wrap)?;
    socket.set_nonblocking(true).map_err(wrap)?;
    socket.bind(&addr.into()).map_err(wrap)?;
    socket.listen(backlog).map_err(wrap)?;
    Ok(socket.into())
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
    let (https_addr, https, tls, https_certs) = match options.https_addr {
        Some(addr) => {
            let default_pair = options
                .tls_cert
                .clone()
                .zip(options.tls_key.clone())
                .map(|(cert, key)| Pair { cert, key });
            let certs = Arc::new(HttpsCerts::load(
                default_pair,
                options.tls_sni_dir.as_deref(),
            )?);
            let config = tls::server_config_with_resolver(certs.clone())?;
            let (a, l) = bind_shared(addr, workers)?;
            (Some(a), l, Some(config), Some(certs))
        }
        None => (None, Vec::new(), None, None),
    };
    let upstream_tls = match &options.upstream_ca {
        Some(path) => tls::client_config_from_ca_file(path)?,
        None => upstream::client_tls(),
    };
    let config_tls = match &options.config_tls {
        Some((cert, key)) => Some(Arc::new(ReloadingTls::load(cert, key)?)),
        None => None,
    };
    let (admin_addr, admin) = bind_one(options.admin_addr)?;
    let (metrics_addr, metrics) = bind_one(options.metrics_addr)?;
    Ok(Bound {
        options,
        tls,
        https_certs,
        upstream_tls,
        http,
        https,
        admin,
        metrics,
        config_tls,
        http_addr,
        https_addr,
        admin_addr,
        metrics_addr,
    })
}

/// Binds the admin or metrics listener, when there is an address.
fn bind_one(addr: Option<SocketAddr>) -> Result<(Option<SocketAddr>, Option<TcpListener>), Error> {
    let Some(addr) = addr else {
        return Ok((None, None));
    };
    let wrap = |source| Error::Bind { addr, source };
    let listener = TcpListener::from_std(listen(addr, 1024)?).map_err(wrap)?;
    let actual = listener.local_addr().map_err(wrap)?;
    Ok((Some(actual), Some(listener)))
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

    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
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
            https_certs,
            upstream_tls,
            http,
            https,
            admin,
            metrics,
            config_tls,
            http_addr,
            https_addr,
            admin_addr,
            metrics_addr,
        } = self;
        let backend_policy = Arc::new(
            options
                .backend_policy
                .clone()
                .own_listeners([http_addr, https_addr, admin_addr].into_iter().flatten()),
        );
        tracing::info!(policy = %backend_policy.describe(), "backend address policy");
        let options = Arc::new(options);
        let (stop_tx, stop_rx) = watch::channel(false);
        if let Some(certs) = &https_certs {
            certs.follow_snapshot(state.clone());
        }
        if let Some(certs) = https_certs.filter(|c| c.follows_files()) {
            tokio::spawn(certs.watch(stop_rx.clone()));
        }
        // The admin port outlives the workers, so `/readyz` answers 503 while they drain.
        let (admin_stop_tx, admin_stop_rx) = watch::channel(false);

        state.set_per_consumer_metrics(options.per_consumer_metrics);
        state.set_body_budget(BodyBudget::new(
            options.body_budget_bytes,
            options.max_body_reads,
            options.body_timeout,
            options.body_timeout.saturating_mul(4),
        ));
        let admin_options = Arc::new(AdminOptions {
            config_token: options
                .config_token
                .clone()
                .map(|token| Arc::new(TokenSource::new(token, options.config_token_file.clone()))),
            max_config_bytes: options.max_config_bytes,
            // Tens of megabytes from a controller across a cluster: a generous total deadline.
            push_body: BodyBudget::new(
                options.max_config_bytes,
                1,
                Duration::from_secs(30),
                Duration::from_secs(300),
            ),
        });
        // With a metrics listener, the admin port keeps only the config channel.
        let admin_endpoints = if metrics.is_some() {
            Endpoints::ConfigChannel
        } else {
            Endpoints::All
        };
        let listeners = [
            (admin, admin_endpoints, config_tls),
            (metrics, Endpoints::Health, None),
        ];
        let admin_tasks: Vec<JoinHandle<()>> = listeners
            .into_iter()
            .filter_map(|(listener, endpoints, tls)| {
                Some(tokio::spawn(admin_listener::serve(
                    listener?,
                    state.clone(),
                    admin_options.clone(),
                    options.clone(),
                    Serving { endpoints, tls },
                    admin_stop_rx.clone(),
                )))
            })
            .collect();
        let access_log = if options.access_log {
            Some(
                AccessLog::start(
                    crate::logging::format(),
                    state.metrics().access_log_dropped_counter(),
                )
                .map_err(|source| Error::Worker { index: 0, source })?,
            )
        } else {
            None
        };
        let (balance, inboxes) = Balance::new(options.workers);
        state.metrics().set_worker_loads(balance.loads());
        let worker = Worker {
            balance,
            access_log: access_log.clone(),
            state: state.clone(),
            options: options.clone(),
            tls: tls.map(TlsAcceptor::from),
            upstream_tls,
            backend_policy,
            stop: stop_rx,
            connections: Arc::new(tokio::sync::Semaphore::new(
                options
                    .max_connections
                    .clamp(1, tokio::sync::Semaphore::MAX_PERMITS),
            )),
        };
        let done = spawn_workers(&worker, http, https, inboxes)?;
        drop(worker);
        tracing::info!(
            http = ?http_addr,
            https = ?https_addr,
            admin = ?admin_addr,
            metrics = ?metrics_addr,
            workers = done.len(),
            "serving"
        );

        let running = Running {
            stop: stop_tx,
            workers: done,
            admin_stop: admin_stop_tx,
            admin: admin_tasks,
        };
        shutdown.await;
        running.shut_down(&state, options.drain_delay).await;
        if let Some(log) = access_log {
            // The last lines, written once every worker has drained.
            let _ = tokio::task::spawn_blocking(move || log.close()).await;
        }
        Ok(())
    }
}

/// What [`Bound::serve`] started, for the shutdown.
struct Running {
    /// Tells the workers to stop accepting and drain.
    stop: watch::Sender<bool>,
    /// Resolves as each worker finishes draining.
    workers: Vec<oneshot::Receiver<()>>,
    admin_stop: watch::Sender<bool>,
    /// The admin and metrics listeners.
    admin: Vec<JoinHandle<()>>,
}

impl Running {
    /// Not ready at once, still accepting for `drain_delay`, then the workers drain, then the
    /// admin port closes.
    async fn shut_down(self, state: &ProxyState, drain_delay: Duration) {
        tracing::info!("shutting down: not ready, draining in-flight requests");
        state.begin_shutdown();
        if !drain_delay.is_zero() {
            // Not ready, still accepting: load balancers notice before connections are refused.
            tokio::time::sleep(drain_delay).await;
        }
        let _ = self.stop.send(true);
        for worker in self.workers {
            let _ = worker.await;
        }
        let _ = self.admin_stop.send(true);
        for task in self.admin {
            let _ = task.await;
        }
        tracing::info!("stopped");
    }
}

/// Starts one worker thread per pair of listener handles, each a copy of `worker`; returns,
/// per worker, a receiver that resolves once it has drained.
fn spawn_workers(
    worker: &Worker,
    http: Vec<std::net::TcpListener>,
    https: Vec<std::net::TcpListener>,
    inboxes: Vec<tokio::sync::mpsc::UnboundedReceiver<Handoff>>,
) -> Result<Vec<oneshot::Receiver<()>>, Error> {
    let mut http = http.into_iter();
    let mut https = https.into_iter();
    let mut done = Vec::new();
    for (index, inbox) in inboxes.into_iter().enumerate() {
        let listeners = WorkerListeners {
            http: http.next(),
            https: https.next(),
            index,
            inbox,
        };
        if listeners.http.is_none() && listeners.https.is_none() {
            break;
        }
        let (done_tx, done_rx) = oneshot::channel();
        let worker = worker.clone();
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
    Ok(done)
}

#[cfg(test)]
mod listen_tests {
    use super::*;

    #[tokio::test]
    async fn the_unspecified_ipv6_address_accepts_ipv4_and_ipv6_clients() {
        let listener = listen("[::]:0".parse().expect("addr"), 16).expect("listen");
        let port = listener.local_addr().expect("addr").port();
        let listener = TcpListener::from_std(listener).expect("tokio");
        let accept = tokio::spawn(async move {
            for _ in 0..2 {
                listener.accept().await.expect("accept");
            }
        });
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("an IPv4 client is accepted");
        if std::net::TcpListener::bind("[::1]:0").is_ok() {
            tokio::net::TcpStream::connect(("::1", port))
                .await
                .expect("an IPv6 client is accepted");
        } else {
            eprintln!("no ::1 on this machine: the IPv6 half is not checked");
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .expect("connect");
        }
        accept.await.expect("join");
    }
}
