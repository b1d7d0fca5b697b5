//! Per-worker pools of keep-alive HTTP/1.1 upstream connections.
//!
//! Each worker thread owns one [`Pool`]: for every `(scheme, host:port)` a stack of idle
//! `hyper::client::conn::http1::SendRequest`s, whose connection tasks run on the same worker.
//! A request takes the most recently used idle connection (or opens one), and the connection
//! goes back when the upstream's response body has been read to its end ([`PooledBody`]), so
//! an idle connection is always ready for the next request. Broken connections are dropped
//! when found; a request that an idle connection could not even start is retried on another
//! one (it was never written). Connections idle longer than [`IDLE_TIMEOUT`] are closed.
//!
//! The locks are never contended (a worker is single-threaded); they are there because hyper's
//! executor needs `Send` futures.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::uri::Authority;
use http::{Request, Response};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::{self, SendRequest};
use tokio_rustls::TlsConnector;

use crate::body::ProxyBody;
use crate::connector::{self, ConnectError};
use crate::raw::{self, RawConn, RawError};

/// Idle connections kept per upstream `host:port` and worker.
pub const MAX_IDLE_PER_ENDPOINT: usize = 1024;
/// An idle connection unused this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a request could not be sent or answered.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("HTTP/1.1 handshake: {0}")]
    Handshake(#[source] hyper::Error),
    #[error("upstream exchange: {0}")]
    Exchange(#[source] hyper::Error),
    #[error(transparent)]
    Raw(#[from] RawError),
    #[error("upstream timed out")]
    TimedOut,
}

/// FxHash (rustc's hasher): the keys are upstream addresses from the config, not attacker
/// input, so a fast non-keyed hash is fine.
#[derive(Default)]
pub struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        for &b in chunks.remainder() {
            self.add(u64::from(b));
        }
    }

    fn write_u8(&mut self, b: u8) {
        self.add(u64::from(b));
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

pub type FxBuild = BuildHasherDefault<FxHasher>;

struct Idle {
    sender: SendRequest<ProxyBody>,
    since: Instant,
}

/// The idle connections to one upstream `host:port`: hyper's, and the inline client's.
#[derive(Default)]
pub struct Slot {
    idle: Mutex<VecDeque<Idle>>,
    raw: Mutex<VecDeque<(RawConn, Instant)>>,
}

impl Slot {
    /// The most recently used idle inline-client connection.
    pub(crate) fn pop_raw(&self) -> Option<RawConn> {
        let mut idle = self.raw.lock().unwrap_or_else(|e| e.into_inner());
        let (conn, since) = idle.pop_back()?;
        if since.elapsed() > IDLE_TIMEOUT {
            idle.clear();
            return None;
        }
        Some(conn)
    }

    /// Puts an inline-client connection whose exchange is complete back.
    pub(crate) fn put_raw(&self, conn: RawConn) {
        let now = Instant::now();
        let mut idle = self.raw.lock().unwrap_or_else(|e| e.into_inner());
        while idle
            .front()
            .is_some_and(|(_, since)| now.duration_since(*since) > IDLE_TIMEOUT)
        {
            idle.pop_front();
        }
        if idle.len() < MAX_IDLE_PER_ENDPOINT {
            idle.push_back((conn, now));
        }
    }

    pub fn raw_idle_len(&self) -> usize {
        self.raw.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<Idle>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The most recently used idle connection that is still open.
    fn pop(&self) -> Option<SendRequest<ProxyBody>> {
        let mut idle = self.lock();
        while let Some(entry) = idle.pop_back() {
            if entry.since.elapsed() > IDLE_TIMEOUT {
                // Older ones are older still.
                idle.clear();
                return None;
            }
            if !entry.sender.is_closed() {
                return Some(entry.sender);
            }
        }
        None
    }

    /// Puts a connection whose exchange is complete back, closing expired ones on the way.
    fn put(&self, sender: SendRequest<ProxyBody>) {
        if sender.is_closed() {
            return;
        }
        let now = Instant::now();
        let mut idle = self.lock();
        while idle
            .front()
            .is_some_and(|e| now.duration_since(e.since) > IDLE_TIMEOUT || e.sender.is_closed())
        {
            idle.pop_front();
        }
        if idle.len() < MAX_IDLE_PER_ENDPOINT {
            idle.push_back(Idle { sender, since: now });
        }
    }

    pub fn idle_len(&self) -> usize {
        self.lock().len()
    }
}

/// One worker's upstream connections.
pub struct Pool {
    tls: TlsConnector,
    /// By scheme (`[http, https]`), then `host:port`.
    slots: Mutex<[HashMap<Authority, Arc<Slot>, FxBuild>; 2]>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").finish_non_exhaustive()
    }
}

impl Pool {
    pub fn new(tls: Arc<rustls::ClientConfig>) -> Self {
        Self {
            tls: TlsConnector::from(tls),
            slots: Mutex::new([HashMap::default(), HashMap::default()]),
        }
    }

    /// The idle connections to `authority` (created empty on first use).
    pub fn slot(&self, https: bool, authority: &Authority) -> Arc<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let by_authority = &mut slots[usize::from(https)];
        if let Some(slot) = by_authority.get(authority) {
            return slot.clone();
        }
        let slot = Arc::new(Slot::default());
        by_authority.insert(authority.clone(), slot.clone());
        slot
    }

    /// Sends `request` (origin-form URI, `Host` set) to `authority` on an idle connection or a
    /// new one (opened within `connect_timeout`). The response body hands the connection back
    /// to the pool once read to its end.
    pub async fn send(
        &self,
        https: bool,
        authority: &Authority,
        connect_timeout: Duration,
        mut request: Request<ProxyBody>,
    ) -> Result<Response<ProxyBody>, SendError> {
        let slot = self.slot(https, authority);
        loop {
            let (mut sender, fresh) = match slot.pop() {
                Some(sender) => (sender, false),
                // Boxed: opening (TCP, TLS, handshake) is rare and its future large.
                None => (
                    Box::pin(self.open(https, authority, connect_timeout)).await?,
                    true,
                ),
            };
            if !fresh && sender.ready().await.is_err() {
                continue;
            }
            match sender.try_send_request(request).await {
                Ok(response) => return Ok(pooled(response, slot, sender)),
                Err(mut failed) => match failed.take_message() {
                    // Never written: the idle connection had just closed. Try another.
                    Some(unsent) if !fresh => request = unsent,
                    _ => return Err(SendError::Exchange(failed.into_error())),
                },
            }
        }
    }

    /// Sends a [`raw::eligible`] request to a plain `http` upstream with the inline client, the
    /// response head due by `deadline`.
    pub async fn send_raw(
        &self,
        authority: &Authority,
        connect_timeout: Duration,
        deadline: tokio::time::Instant,
        request: &Request<ProxyBody>,
        added: &crate::forward::Added,
        verbatim: bool,
    ) -> Result<Response<ProxyBody>, SendError> {
        let slot = self.slot(false, authority);
        Ok(raw::exchange(
            &slot,
            authority,
            connect_timeout,
            deadline,
            request,
            added,
            verbatim,
        )
        .await?)
    }

    async fn open(
        &self,
        https: bool,
        authority: &Authority,
        connect_timeout: Duration,
    ) -> Result<SendRequest<ProxyBody>, SendError> {
        let io = connector::connect(authority, https, connect_timeout, &self.tls).await?;
        let (sender, connection) = http1::Builder::new()
            .handshake(io)
            .await
            .map_err(SendError::Handshake)?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "upstream connection ended with an error");
            }
        });
        Ok(sender)
    }
}

/// Wraps the upstream's response so that the connection returns to `slot` at its end.
fn pooled(
    response: Response<Incoming>,
    slot: Arc<Slot>,
    sender: SendRequest<ProxyBody>,
) -> Response<ProxyBody> {
    if response.body().is_end_stream() {
        slot.put(sender);
        return response.map(ProxyBody::from);
    }
    response.map(|body| {
        ProxyBody::Pooled(PooledBody {
            body,
            home: Some((slot, sender)),
        })
    })
}

/// An upstream response body that gives its connection back to the pool once fully read.
/// Dropped before its end (the client went away), the connection is closed instead.
pub struct PooledBody {
    body: Incoming,
    home: Option<(Arc<Slot>, SendRequest<ProxyBody>)>,
}

impl std::fmt::Debug for PooledBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PooledBody").finish_non_exhaustive()
    }
}

impl PooledBody {
    fn release(&mut self) {
        if let Some((slot, sender)) = self.home.take() {
            slot.put(sender);
        }
    }
}

impl Body for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.body).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => this.release(),
            Poll::Ready(Some(Ok(_))) if this.body.is_end_stream() => this.release(),
            Poll::Ready(Some(Err(_))) => this.home = None,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for PooledBody {
    fn drop(&mut self) {
        if self.body.is_end_stream() {
            self.release();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::hash::BuildHasher;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use http_body_util::BodyExt;
    use hyper_util::rt::TokioIo;
    use tokio::net::TcpListener;

    use super::*;

    /// How the test upstream treats its connections.
    #[derive(Clone, Copy)]
    enum Upstream {
        KeepAlive,
        /// Answers one request per connection, then closes without saying so.
        OneShot,
    }

    /// An upstream answering `hello` to everything; returns its address and a count of the
    /// connections it accepted.
    async fn upstream(mode: Upstream) -> (Authority, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(|_req| async {
                        Ok::<_, Infallible>(Response::new(ProxyBody::full("hello")))
                    });
                    let mut builder = hyper::server::conn::http1::Builder::new();
                    builder.keep_alive(matches!(mode, Upstream::KeepAlive));
                    let conn = builder.serve_connection(TokioIo::new(stream), service);
                    let _ = conn.await;
                });
            }
        });
        let authority = Authority::try_from(addr.to_string()).expect("authority");
        (authority, accepted)
    }

    /// A request with a body, so it takes hyper's path rather than the inline client's.
    fn get(authority: &Authority) -> Request<ProxyBody> {
        Request::builder()
            .method(http::Method::POST)
            .uri("/x")
            .header(http::header::HOST, authority.as_str())
            .body(ProxyBody::full("payload"))
            .expect("request")
    }

    async fn body_text(response: Response<ProxyBody>) -> String {
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[tokio::test]
    async fn sequential_requests_reuse_one_upstream_connection() {
        let (authority, accepted) = upstream(Upstream::KeepAlive).await;
        let pool = Pool::new(connector::client_tls());
        for _ in 0..5 {
            let response = pool
                .send(false, &authority, Duration::from_secs(5), get(&authority))
                .await
                .expect("response");
            assert_eq!(body_text(response).await, "hello");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        assert_eq!(pool.slot(false, &authority).idle_len(), 1);
    }

    #[tokio::test]
    async fn connections_the_upstream_closed_are_replaced_without_failing_a_request() {
        let (authority, accepted) = upstream(Upstream::OneShot).await;
        let pool = Pool::new(connector::client_tls());
        for _ in 0..4 {
            let response = pool
                .send(false, &authority, Duration::from_secs(5), get(&authority))
                .await
                .expect("response");
            assert_eq!(body_text(response).await, "hello");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn a_body_dropped_before_its_end_does_not_return_its_connection() {
        let (authority, _) = upstream(Upstream::KeepAlive).await;
        let pool = Pool::new(connector::client_tls());
        let response = pool
            .send(false, &authority, Duration::from_secs(5), get(&authority))
            .await
            .expect("response");
        assert!(!response.body().is_end_stream());
        drop(response);
        assert_eq!(pool.slot(false, &authority).idle_len(), 0);
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_connect_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let authority = Authority::try_from(listener.local_addr().expect("addr").to_string())
            .expect("authority");
        drop(listener);
        let pool = Pool::new(connector::client_tls());
        let err = pool
            .send(false, &authority, Duration::from_secs(5), get(&authority))
            .await
            .expect_err("refused");
        assert!(
            matches!(err, SendError::Connect(ConnectError::Tcp { .. })),
            "{err}"
        );
    }

    #[test]
    fn fx_hash_tells_endpoints_apart_and_ignores_authority_case() {
        let build = FxBuild::default();
        let key = |a: &'static str| build.hash_one(Authority::from_static(a));
        assert_eq!(key("Backend:80"), key("backend:80"));
        assert_ne!(key("backend:80"), key("backend:81"));
        assert_ne!(key("backend:80"), key("backend2:80"));
    }

    #[test]
    fn a_pool_hands_out_one_slot_per_scheme_and_endpoint() {
        let pool = Pool::new(connector::client_tls());
        let a = Authority::from_static("127.0.0.1:9");
        let first = pool.slot(false, &a);
        assert!(Arc::ptr_eq(&first, &pool.slot(false, &a)));
        assert!(!Arc::ptr_eq(&first, &pool.slot(true, &a)));
        assert_eq!(first.idle_len(), 0);
    }
}
