//! Per-worker pools of keep-alive HTTP/1.1 upstream connections, and hyper's upstream client.
//!
//! Each worker thread owns one [`Pool`]: for every `(scheme, host:port)` the idle connections of
//! both upstream clients ([`IdleStack`]s): hyper's `SendRequest`s, whose connection tasks run on
//! the same worker, and the inline client's ([`super::inline_client`]). A request through hyper
//! ([`Pool::send`]) takes the most recently used idle connection (or opens one), and the
//! connection goes back when the upstream's response body has been read to its end
//! ([`PooledBody`]), so an idle connection is always ready for the next request. Broken
//! connections are dropped when found; a request that an idle connection could not even start
//! is retried on another one (it was never written).
//!
//! The lock is never contended (a worker is single-threaded); it is there because hyper's
//! executor needs `Send` futures.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::uri::Authority;
use http::{Request, Response};
use hyper::body::{Body, Incoming};
use hyper::client::conn::http1::{self, SendRequest};
use tokio_rustls::TlsConnector;
use tollgate_core::address::AddressPolicy;

use super::body::{HyperIdle, PooledBody, ProxyBody};
use super::connector::{self, ConnectError};
use super::error::InlineError;
use super::idle::IdleStack;
use super::inline_client::InlineConn;
use crate::shared::fx_hash::FxBuild;

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
    Inline(#[from] InlineError),
    #[error("upstream timed out")]
    TimedOut,
}

/// The idle connections to one upstream `host:port`, a stack per client.
#[derive(Default)]
struct Slot {
    hyper: Arc<HyperIdle>,
    inline: Arc<IdleStack<InlineConn>>,
}

/// One worker's upstream connections. FxHash keys: the keys are upstream addresses from the
/// config, not attacker input.
pub struct Pool {
    tls: TlsConnector,
    /// Judges every address a new connection would go to.
    policy: Arc<AddressPolicy>,
    /// By scheme (`[http, https]`), then `host:port`.
    slots: Mutex<[HashMap<Authority, Slot, FxBuild>; 2]>,
}

impl Pool {
    /// A connection of its own (not pooled) to `authority`, judged by the same address policy
    /// and trusting the same CAs as backend connections.
    pub async fn connect_once(
        &self,
        authority: &http::uri::Authority,
        https: bool,
        timeout: std::time::Duration,
    ) -> Result<super::connector::MaybeTls, super::connector::ConnectError> {
        super::connector::connect(authority, https, timeout, &self.tls, &self.policy).await
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").finish_non_exhaustive()
    }
}

impl Pool {
    pub fn new(tls: Arc<rustls::ClientConfig>, policy: Arc<AddressPolicy>) -> Self {
        Self {
            tls: TlsConnector::from(tls),
            policy,
            slots: Mutex::new([HashMap::default(), HashMap::default()]),
        }
    }

    /// The backend address policy new connections are judged by.
    pub fn policy(&self) -> &AddressPolicy {
        &self.policy
    }

    /// Picks from the idle connections to `authority` (created empty on first use).
    fn with_slot<T>(&self, https: bool, authority: &Authority, pick: impl FnOnce(&Slot) -> T) -> T {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let by_authority = &mut slots[usize::from(https)];
        if let Some(slot) = by_authority.get(authority) {
            return pick(slot);
        }
        let slot = Slot::default();
        let picked = pick(&slot);
        by_authority.insert(authority.clone(), slot);
        picked
    }

    /// hyper's idle connections to `authority`.
    pub fn hyper_idle(&self, https: bool, authority: &Authority) -> Arc<HyperIdle> {
        self.with_slot(https, authority, |slot| slot.hyper.clone())
    }

    /// The inline client's idle connections to `authority` (plain `http` only).
    pub fn inline_idle(&self, authority: &Authority) -> Arc<IdleStack<InlineConn>> {
        self.with_slot(false, authority, |slot| slot.inline.clone())
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
        let idle = self.hyper_idle(https, authority);
        loop {
            let (mut sender, fresh) = match idle.pop() {
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
                Ok(response) => return Ok(pooled(response, idle, sender)),
                Err(mut failed) => match failed.take_message() {
                    // Never written: the idle connection had just closed. Try another.
                    Some(unsent) if !fresh => request = unsent,
                    _ => return Err(SendError::Exchange(failed.into_error())),
                },
            }
        }
    }

    async fn open(
        &self,
        https: bool,
        authority: &Authority,
        connect_timeout: Duration,
    ) -> Result<SendRequest<ProxyBody>, SendError> {
        let io =
            connector::connect(authority, https, connect_timeout, &self.tls, &self.policy).await?;
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

/// Wraps the upstream's response so that the connection returns to `idle` at its end.
fn pooled(
    response: Response<Incoming>,
    idle: Arc<HyperIdle>,
    sender: SendRequest<ProxyBody>,
) -> Response<ProxyBody> {
    if response.body().is_end_stream() {
        idle.put(sender);
        return response.map(ProxyBody::from);
    }
    response.map(|body| ProxyBody::Pooled(PooledBody::new(body, idle, sender)))
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
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
        let pool = Pool::new(
            connector::client_tls(),
            Arc::new(AddressPolicy::standalone()),
        );
        for _ in 0..5 {
            let response = pool
                .send(false, &authority, Duration::from_secs(5), get(&authority))
                .await
                .expect("response");
            assert_eq!(body_text(response).await, "hello");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        assert_eq!(pool.hyper_idle(false, &authority).len(), 1);
    }

    #[tokio::test]
    async fn connections_the_upstream_closed_are_replaced_without_failing_a_request() {
        let (authority, accepted) = upstream(Upstream::OneShot).await;
        let pool = Pool::new(
            connector::client_tls(),
            Arc::new(AddressPolicy::standalone()),
        );
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
        let pool = Pool::new(
            connector::client_tls(),
            Arc::new(AddressPolicy::standalone()),
        );
        let response = pool
            .send(false, &authority, Duration::from_secs(5), get(&authority))
            .await
            .expect("response");
        assert!(!response.body().is_end_stream());
        drop(response);
        assert_eq!(pool.hyper_idle(false, &authority).len(), 0);
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_connect_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let authority = Authority::try_from(listener.local_addr().expect("addr").to_string())
            .expect("authority");
        drop(listener);
        let pool = Pool::new(
            connector::client_tls(),
            Arc::new(AddressPolicy::standalone()),
        );
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
    fn a_pool_hands_out_one_slot_per_scheme_and_endpoint() {
        let pool = Pool::new(
            connector::client_tls(),
            Arc::new(AddressPolicy::standalone()),
        );
        let a = Authority::from_static("127.0.0.1:9");
        let first = pool.hyper_idle(false, &a);
        assert!(Arc::ptr_eq(&first, &pool.hyper_idle(false, &a)));
        assert!(!Arc::ptr_eq(&first, &pool.hyper_idle(true, &a)));
        assert!(Arc::ptr_eq(&pool.inline_idle(&a), &pool.inline_idle(&a)));
        assert_eq!(first.len(), 0);
    }
}
