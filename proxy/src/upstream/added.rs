//! The headers the proxy adds to a forwarded request.

use http::header::{HeaderMap, HeaderName, HeaderValue};

/// Headers the proxy sets on a forwarded request (`Host`, `X-Forwarded-*`, `X-Real-IP`, the
/// identity headers), kept beside the request's `HeaderMap` until the request is sent: the
/// inline client ([`super::inline_client`]) writes them as lines after the request line,
/// hyper's path inserts them ([`Added::apply`]). Every name here is absent from the map (removed
/// when the client sent it), so no hashed insert is needed on the common path.
#[derive(Debug, Default)]
pub struct Added(Vec<(HeaderName, HeaderValue)>);

impl Added {
    pub fn with_capacity(n: usize) -> Self {
        Self(Vec::with_capacity(n))
    }

    pub fn push(&mut self, name: HeaderName, value: HeaderValue) {
        self.0.push((name, value));
    }

    /// Replaces the value of `name` (adds it when absent).
    pub fn replace(&mut self, name: HeaderName, value: HeaderValue) {
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name, value)),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &(HeaderName, HeaderValue)> {
        self.0.iter()
    }

    /// Moves the headers into `headers`.
    pub fn apply(&mut self, headers: &mut HeaderMap) {
        for (name, value) in self.0.drain(..) {
            headers.insert(name, value);
        }
    }
}
