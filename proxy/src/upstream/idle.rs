//! The idle connections a worker keeps to one upstream `host:port`, for both upstream clients
//! (hyper's, [`super::pool`], and the inline one, [`super::inline_client`]).
//!
//! A stack: a request takes the most recently used connection, so an idle connection is always
//! the warmest one. Connections found closed are dropped; connections idle longer than
//! [`IDLE_TIMEOUT`] are closed; at most [`MAX_IDLE_PER_ENDPOINT`] are kept.
//!
//! The lock is never contended (a worker is single-threaded); it is there because hyper's
//! executor needs `Send` futures.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hyper::client::conn::http1::SendRequest;

/// Idle connections kept per upstream `host:port` and worker.
pub const MAX_IDLE_PER_ENDPOINT: usize = 1024;
/// An idle connection unused this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A connection the stack can tell is closed.
pub trait Reusable {
    fn is_closed(&self) -> bool;
}

impl<B> Reusable for SendRequest<B> {
    #[inline]
    fn is_closed(&self) -> bool {
        SendRequest::is_closed(self)
    }
}

/// The idle connections to one upstream `host:port`, most recently used last.
pub struct IdleStack<T> {
    idle: Mutex<VecDeque<(T, Instant)>>,
}

impl<T> Default for IdleStack<T> {
    fn default() -> Self {
        Self {
            idle: Mutex::new(VecDeque::new()),
        }
    }
}

impl<T> std::fmt::Debug for IdleStack<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdleStack").finish_non_exhaustive()
    }
}

impl<T: Reusable> IdleStack<T> {
    fn lock(&self) -> MutexGuard<'_, VecDeque<(T, Instant)>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The most recently used idle connection that is still open.
    pub fn pop(&self) -> Option<T> {
        let mut idle = self.lock();
        while let Some((conn, since)) = idle.pop_back() {
            if since.elapsed() > IDLE_TIMEOUT {
                // Older ones are older still.
                idle.clear();
                return None;
            }
            if !conn.is_closed() {
                return Some(conn);
            }
        }
        None
    }

    /// Puts a connection whose exchange is complete back, closing expired ones on the way.
    pub fn put(&self, conn: T) {
        if conn.is_closed() {
            return;
        }
        let now = Instant::now();
        let mut idle = self.lock();
        while idle.front().is_some_and(|(conn, since)| {
            now.duration_since(*since) > IDLE_TIMEOUT || conn.is_closed()
        }) {
            idle.pop_front();
        }
        if idle.len() < MAX_IDLE_PER_ENDPOINT {
            idle.push_back((conn, now));
        }
    }

    /// Connections idle now.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection that is open until told otherwise.
    struct Fake(bool);

    impl Reusable for Fake {
        fn is_closed(&self) -> bool {
            self.0
        }
    }

    #[test]
    fn the_most_recently_returned_open_connection_is_taken_first() {
        let stack = IdleStack::default();
        stack.put(Fake(false));
        stack.put(Fake(true));
        assert_eq!(stack.len(), 1, "a closed connection is not kept");
        assert!(stack.pop().is_some_and(|c| !c.0));
        assert!(stack.pop().is_none());
    }
}
