//! A worker: one single-threaded runtime serving the traffic listeners it was given, with its
//! own upstream pools and token cache ([`WorkerLocal`]), until told to stop; then it drains.

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
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use super::balance::{Balance, Handoff, Open};
use super::h1;
use super::tls_accept;
use crate::options::{AddressPolicy, ProxyOptions};
use crate::pipeline::{self, AccessLog, Ctx, ProxyState, WorkerLocal};
use crate::upstream::{ProxyBody, Upstreams};

/// A worker's handles on the shared listening sockets, its index, and its inbox of connections
/// other workers accepted for it ([`super::balance`]).
pub struct WorkerListeners {
    pub http: Option<std::net::TcpListener>,
    pub https: Option<std::net::TcpListener>,
    pub index: usize,
    pub inbox: tokio::sync::mpsc::UnboundedReceiver<Handoff>,
}

#[derive(Clone)]
pub struct Worker {
    pub state: Arc<ProxyState>,
    pub options: Arc<ProxyOptions>,
    pub tls: Option<TlsAcceptor>,
    pub upstream_tls: Arc<rustls::ClientConfig>,
    /// The backend address policy, with the proxy's own listeners added.
    pub backend_policy: Arc<AddressPolicy>,
    pub stop: watch::Receiver<bool>,
    /// Client connections open at once, shared by every worker (`--max-connections`).
    pub connections: Arc<tokio::sync::Semaphore>,
    /// The access log, when it is on.
    pub access_log: Option<Arc<AccessLog>>,
    /// Which worker serves each accepted connection.
    pub balance: Arc<Balance>,
}

/// What every connection of a worker is served with.
struct Serving {
    state: Arc<ProxyState>,
    options: Arc<ProxyOptions>,
    tls: Option<TlsAcceptor>,
    local: Arc<WorkerLocal>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    graceful: GracefulShutdown,
    /// Fast-path connections hold a graceful watcher too, so the drain waits for them.
    stop: Arc<h1::Stop>,
    limits: h1::Limits,
    http_port: u16,
    https_port: u16,
}

impl Worker {
    pub async fn run(mut self, listeners: WorkerListeners) {
        let http = to_tokio(listeners.http);
        let https = to_tokio(listeners.https);
        let (me, mut inbox) = (listeners.index, listeners.inbox);
        let upstreams = Upstreams::new(self.upstream_tls.clone(), self.backend_policy.clone());
        let serving = Serving {
            local: Arc::new(
                WorkerLocal::new(upstreams)
                    .with_access_log(self.access_log.as_ref().map(|log| log.worker())),
            ),
            builder: Arc::new(connection_builder(&self.options)),
            graceful: GracefulShutdown::new(),
            stop: Arc::new(h1::Stop::default()),
            limits: h1::Limits {
                max_head: self.options.max_header_bytes,
                head_timeout: self.options.header_read_timeout,
            },
            http_port: port_of(http.as_ref()),
            https_port: port_of(https.as_ref()),
            state: self.state.clone(),
            options: self.options.clone(),
            tls: self.tls.clone(),
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
                Some(handoff) = inbox.recv() => {
                    serving.take(handoff);
                    continue;
                }
                _ = self.stop.changed() => break,
            };
            // Past the connection cap a new connection is closed at once: what a flood of idle
            // or slow connections can hold stays bounded, and the ones already served keep going.
            let Ok(slot) = self.connections.clone().try_acquire_owned() else {
                drop(stream);
                continue;
            };
            let (worker, open) = self.balance.place(me);
            if worker == me {
                serving.spawn(stream, peer, https_conn, slot, open);
                continue;
            }
            match stream.into_std() {
                Ok(stream) => {
                    let handoff = Handoff {
                        stream,
                        peer,
                        https: https_conn,
                        slot,
                        open,
                    };
                    if let Err(back) = self.balance.hand_to(worker, handoff) {
                        serving.take(back);
                    }
                }
                Err(e) => tracing::debug!(error = %e, "could not hand a connection over"),
            }
        }
        // Connections handed over before the stop are served like the others in flight.
        inbox.close();
        while let Ok(handoff) = inbox.try_recv() {
            serving.take(handoff);
        }
        // Idle fast-path connections close now, busy ones after their response.
        serving.stop.trigger();
        drop(http);
        drop(https);
        let grace_period = serving.options.grace_period;
        if tokio::time::timeout(grace_period, serving.graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("grace period over; closing remaining connections");
        }
    }
}

impl Serving {
    /// Serves a connection another worker accepted for this one.
    fn take(&self, handoff: Handoff) {
        let Handoff {
            stream,
            peer,
            https,
            slot,
            open,
        } = handoff;
        match TcpStream::from_std(stream) {
            Ok(stream) => self.spawn(stream, peer, https, slot, open),
            Err(e) => tracing::debug!(error = %e, "could not take a connection over"),
        }
    }

    /// Serves an accepted connection on its own task; `slot` and `open` are released when it
    /// closes.
    fn spawn(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        https: bool,
        slot: tokio::sync::OwnedSemaphorePermit,
        open: Open,
    ) {
        let _ = stream.set_nodelay(true);
        let peer_ip = peer.ip().to_canonical();
        let ctx = Arc::new(Ctx::new(
            self.state.clone(),
            self.local.clone(),
            peer_ip,
            self.options.is_trusted(peer_ip),
            https,
            if https {
                self.https_port
            } else {
                self.http_port
            },
        ));
        let connection = Connection {
            ctx,
            builder: self.builder.clone(),
            watcher: self.graceful.watcher(),
            first_request_deadline: self.options.header_read_timeout,
        };
        let fast = self
            .options
            .http1_fast_path
            .then(|| (self.limits, self.stop.clone()));
        // A connection's future is a few kilobytes; boxed, the runtime moves a pointer instead
        // of copying the whole future when it spawns, stores and finishes the task.
        if !https {
            tokio::spawn(Box::pin(async move {
                connection.serve(stream, fast).await;
                drop((slot, open));
            }));
            return;
        }
        let Some(acceptor) = self.tls.clone() else {
            return;
        };
        let handshake_timeout = self.options.header_read_timeout;
        tokio::spawn(Box::pin(async move {
            let Some(tls) = tls_accept::accept(&acceptor, stream, handshake_timeout).await else {
                return;
            };
            // HTTP/2 is hyper's.
            let fast = fast.filter(|_| !tls.h2);
            connection.serve(tls.stream, fast).await;
            drop((slot, open));
        }));
    }
}

/// One client connection, before its first byte is read.
struct Connection {
    ctx: Arc<Ctx>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    watcher: Watcher,
    first_request_deadline: Duration,
}

impl Connection {
    /// Serves `io` on the HTTP/1 fast path when `fast` is given, then (or else) with hyper.
    async fn serve<S>(self, io: S, fast: Option<(h1::Limits, Arc<h1::Stop>)>)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Connection {
            ctx,
            builder,
            watcher,
            first_request_deadline,
        } = self;
        let io = match fast {
            Some((limits, stop)) => match h1::serve(io, &ctx, &limits, &stop).await {
                h1::Outcome::Done => return,
                h1::Outcome::Fallback(io) => io,
            },
            None => h1::Rewind::new(bytes::Bytes::new(), io),
        };
        let conn = builder.serve_connection(TokioIo::new(io), service(ctx.clone()));
        run_connection(watcher.watch(conn), &ctx, first_request_deadline).await;
    }
}

fn port_of(listener: Option<&TcpListener>) -> u16 {
    listener
        .and_then(|l| l.local_addr().ok())
        .map_or(0, |a| a.port())
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
        .max_concurrent_streams(options.h2_max_streams)
        // What a peer may make the proxy hold per stream and per connection, both ways (the
        // edge values Envoy recommends): a slow reader of responses or a fast sender of
        // request bodies is throttled by flow control instead of buffered.
        .initial_stream_window_size(64 * 1024)
        .initial_connection_window_size(1024 * 1024)
        .max_send_buf_size(64 * 1024)
        .max_pending_accept_reset_streams(64)
        .max_local_error_reset_streams(1024)
        // Dead or unresponsive peers are found by pings and their connection closed.
        .keep_alive_interval(Some(Duration::from_secs(20)))
        .keep_alive_timeout(Duration::from_secs(20));
    builder
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
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    tokio::pin!(conn);
    tokio::select! {
        biased;
        result = &mut conn => {
            if let Err(e) = result {
                connection_error(ctx, e.into());
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
        connection_error(ctx, e.into());
    }
}

/// Logs how a connection ended; a request hyper's parser refused (and answered itself) gets
/// its access log line.
fn connection_error(ctx: &Ctx, error: Box<dyn std::error::Error + Send + Sync>) {
    tracing::debug!(error = %error, "connection ended with an error");
    if let Some(status) = error.downcast_ref::<hyper::Error>().and_then(parser_status) {
        pipeline::parser_refusal(ctx, status);
    }
}

/// The status hyper's HTTP/1 server answers a parse error with itself (its `on_error`), if any.
fn parser_status(error: &hyper::Error) -> Option<u16> {
    if error.is_parse_too_large() {
        // Distinguished by text only: `Parse::UriTooLong` is not public.
        return Some(if error.to_string().contains("URI too long") {
            414
        } else {
            431
        });
    }
    let text = error.to_string();
    let bad_request = error.is_parse()
        && !error.is_parse_status()
        && !error.is_parse_version_h2()
        && !text.contains("internal error");
    bad_request.then_some(400)
}

/// Accept errors (e.g. out of file descriptors) must not spin the loop.
pub async fn accept_error(error: std::io::Error) {
    tracing::warn!(error = %error, "accept failed");
    tokio::time::sleep(Duration::from_millis(50)).await;
}
