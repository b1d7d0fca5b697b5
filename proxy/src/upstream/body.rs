//! One body type for both directions, without boxing: nothing, a buffered chunk, or a streamed
//! body (the client's request body, or an upstream's response body, never buffered).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::SendRequest;

use super::error::BodyError;
use super::idle::IdleStack;
use super::inline_client::InlineBody;

#[derive(Debug, Default)]
pub enum ProxyBody {
    #[default]
    Empty,
    /// A buffered body, yielded once.
    Full(Option<Bytes>),
    /// A streamed body.
    Incoming(Incoming),
    /// An upstream response body read by hyper's client, which returns its connection to the
    /// pool at its end.
    Pooled(PooledBody),
    /// An upstream response body read by the inline HTTP/1.1 client
    /// ([`super::inline_client`]).
    Inline(InlineBody),
}

impl ProxyBody {
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        if bytes.is_empty() {
            Self::Empty
        } else {
            Self::Full(Some(bytes))
        }
    }
}

impl ProxyBody {
    /// The body length an upstream response head declared when the head is relayed verbatim
    /// (the size hint then says what is left to read, not the whole).
    pub fn declared_length(&self) -> Option<u64> {
        match self {
            Self::Inline(body) => body.declared_length(),
            _ => None,
        }
    }

    /// Replaces fields in an upstream response's verbatim header lines (the HTTP/1 fast path's,
    /// see [`super::inline_client::VerbatimHead`]): leaves out every field `drop` names, then
    /// `add` appends `name: value\r\n` lines, as inserting into a `HeaderMap` replaces fields of
    /// the same names. `false` (nothing done) for any other body: its fields are in the
    /// response's `HeaderMap`.
    pub fn replace_verbatim_fields(
        &mut self,
        drop: impl Fn(&[u8]) -> bool,
        add: impl FnOnce(&mut Vec<u8>),
    ) -> bool {
        match self {
            Self::Inline(body) => body.replace_verbatim_fields(drop, add),
            _ => false,
        }
    }
}

impl From<Bytes> for ProxyBody {
    fn from(bytes: Bytes) -> Self {
        Self::full(bytes)
    }
}

impl From<Incoming> for ProxyBody {
    fn from(body: Incoming) -> Self {
        Self::Incoming(body)
    }
}

impl From<InlineBody> for ProxyBody {
    /// A spent inline body is no body; one still carrying a verbatim head travels on, even
    /// empty.
    #[inline]
    fn from(body: InlineBody) -> Self {
        if body.is_spent() {
            Self::Empty
        } else {
            Self::Inline(body)
        }
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let polled = match self.get_mut() {
            Self::Empty => return Poll::Ready(None),
            Self::Full(chunk) => return Poll::Ready(chunk.take().map(|b| Ok(Frame::data(b)))),
            Self::Incoming(body) => Pin::new(body).poll_frame(cx),
            Self::Pooled(body) => Pin::new(body).poll_frame(cx),
            Self::Inline(body) => return Pin::new(body).poll_frame(cx),
        };
        polled.map(|frame| frame.map(|result| result.map_err(BodyError::Hyper)))
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Empty => true,
            Self::Full(chunk) => chunk.is_none(),
            Self::Incoming(body) => body.is_end_stream(),
            Self::Pooled(body) => body.is_end_stream(),
            Self::Inline(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Empty => SizeHint::with_exact(0),
            Self::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Self::Full(None) => SizeHint::with_exact(0),
            Self::Incoming(body) => body.size_hint(),
            Self::Pooled(body) => body.size_hint(),
            Self::Inline(body) => body.size_hint(),
        }
    }
}

/// hyper's idle connections to one upstream `host:port`.
pub type HyperIdle = IdleStack<SendRequest<ProxyBody>>;

/// An upstream response body that gives its connection back to the pool once fully read.
/// Dropped before its end (the client went away), the connection is closed instead.
pub struct PooledBody {
    body: Incoming,
    home: Option<(Arc<HyperIdle>, SendRequest<ProxyBody>)>,
}

impl std::fmt::Debug for PooledBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PooledBody").finish_non_exhaustive()
    }
}

impl PooledBody {
    /// `body`, read on `sender`'s connection, which returns to `idle` at the body's end.
    pub fn new(body: Incoming, idle: Arc<HyperIdle>, sender: SendRequest<ProxyBody>) -> Self {
        Self {
            body,
            home: Some((idle, sender)),
        }
    }

    fn release(&mut self) {
        if let Some((idle, sender)) = self.home.take() {
            idle.put(sender);
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
    use super::*;

    #[test]
    fn an_empty_full_body_is_the_empty_body() {
        assert!(matches!(ProxyBody::full(""), ProxyBody::Empty));
        assert!(ProxyBody::full("").is_end_stream());
        assert_eq!(ProxyBody::full("abc").size_hint().exact(), Some(3));
    }
}
