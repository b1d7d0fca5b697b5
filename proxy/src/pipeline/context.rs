//! What a request is served with besides itself: the connection's [`Ctx`] and the worker's
//! [`WorkerLocal`] (its upstream pools, its token cache, its handle on the snapshot).

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use http::header::HeaderValue;

use super::access_log::WorkerLog;
use super::state::{Compiled, ProxyState};
use super::token_cache::{JwtCache, TokenCache};
use crate::upstream::{Peer, Upstreams};

/// What one worker thread keeps to itself: its upstream connection pools, its cache of
/// opened tokens and its handle on the current snapshot (never shared, so never contended).
#[derive(Debug, Default)]
pub struct WorkerLocal {
    pub upstreams: Upstreams,
    pub tokens: TokenCache,
    pub jwts: JwtCache,
    /// This worker's buffer of the access log, when it is on.
    pub access_log: Option<WorkerLog>,
    held: Mutex<Option<Arc<Held>>>,
}

/// This worker's reference to a compiled snapshot. Requests clone the `Arc<Held>`, whose count
/// only this worker touches, instead of the shared `Arc<Compiled>`, whose count every worker
/// would bounce between cores on every request.
#[derive(Debug)]
pub struct Held(Arc<Compiled>);

impl std::ops::Deref for Held {
    type Target = Compiled;

    fn deref(&self) -> &Compiled {
        &self.0
    }
}

impl WorkerLocal {
    pub fn new(upstreams: Upstreams) -> Self {
        Self {
            upstreams,
            tokens: TokenCache::default(),
            jwts: JwtCache::default(),
            access_log: None,
            held: Mutex::new(None),
        }
    }

    /// This worker writes access log lines to `log`.
    pub fn with_access_log(mut self, log: Option<WorkerLog>) -> Self {
        self.access_log = log;
        self
    }

    /// The snapshot `state` serves now, `None` before the first one.
    pub fn snapshot(&self, state: &ProxyState) -> Option<Arc<Held>> {
        let current = state.current_guard();
        let current = current.as_ref()?;
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(h) = held.as_ref()
            && Arc::ptr_eq(&h.0, current)
        {
            return Some(h.clone());
        }
        let fresh = Arc::new(Held(current.clone()));
        *held = Some(fresh.clone());
        Some(fresh)
    }
}

/// What a request needs besides itself: the shared state, this worker's pools and caches, and
/// facts about the client connection.
#[derive(Debug)]
pub struct Ctx {
    pub state: Arc<ProxyState>,
    pub local: Arc<WorkerLocal>,
    pub peer: Peer,
    /// The connection's peer address (budgets are shared out per peer).
    pub peer_ip: IpAddr,
    /// The request arrived over TLS on this proxy.
    pub https: bool,
    /// Responses go to the client through the server's HTTP/1 fast path, which writes an upstream's header
    /// lines verbatim (set while a connection is on that path).
    pub verbatim_heads: AtomicBool,
    /// Signalled by the connection's first request (see [`Ctx::first_request`]).
    first_request: tokio::sync::Notify,
    seen_request: AtomicBool,
}

impl Ctx {
    pub fn new(
        state: Arc<ProxyState>,
        local: Arc<WorkerLocal>,
        peer_ip: IpAddr,
        trusted: bool,
        https: bool,
        port: u16,
    ) -> Self {
        let ip = HeaderValue::from_str(&peer_ip.to_string())
            .unwrap_or(HeaderValue::from_static("0.0.0.0"));
        let peer = Peer {
            ip,
            trusted,
            proto: HeaderValue::from_static(if https { "https" } else { "http" }),
            port: HeaderValue::from(port),
        };
        Self {
            state,
            local,
            peer,
            peer_ip,
            https,
            verbatim_heads: AtomicBool::new(false),
            first_request: tokio::sync::Notify::new(),
            seen_request: AtomicBool::new(false),
        }
    }

    /// Resolves once the connection has delivered a request (for the idle-connection deadline).
    pub async fn first_request(&self) {
        if !self.seen_request.load(Ordering::Acquire) {
            self.first_request.notified().await;
        }
    }

    pub(super) fn mark_request(&self) {
        if !self.seen_request.load(Ordering::Relaxed) {
            self.seen_request.store(true, Ordering::Release);
            self.first_request.notify_one();
        }
    }
}
