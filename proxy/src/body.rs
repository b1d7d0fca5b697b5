//! One body type for both directions, without boxing: nothing, a buffered chunk, or a streamed
//! hyper body (the client's request body or the upstream's response body, never buffered).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};

#[derive(Debug, Default)]
pub enum ProxyBody {
    #[default]
    Empty,
    /// A buffered body, yielded once.
    Full(Option<Bytes>),
    /// A streamed body.
    Incoming(Incoming),
    /// An upstream response body that returns its connection to the pool at its end.
    Pooled(crate::pool::PooledBody),
    /// An upstream response body read by the inline HTTP/1.1 client ([`crate::raw`]).
    Raw(crate::raw::RawBody),
}

/// A body that failed: hyper's (client or upstream connection), or the inline upstream
/// client's.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error(transparent)]
    Hyper(#[from] hyper::Error),
    #[error("upstream response body: {0}")]
    Upstream(#[from] crate::raw::RawError),
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

impl From<Incoming> for ProxyBody {
    fn from(body: Incoming) -> Self {
        Self::Incoming(body)
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
            Self::Raw(body) => return Pin::new(body).poll_frame(cx),
        };
        polled.map(|frame| frame.map(|result| result.map_err(BodyError::Hyper)))
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Empty => true,
            Self::Full(chunk) => chunk.is_none(),
            Self::Incoming(body) => body.is_end_stream(),
            Self::Pooled(body) => body.is_end_stream(),
            Self::Raw(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Empty => SizeHint::with_exact(0),
            Self::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Self::Full(None) => SizeHint::with_exact(0),
            Self::Incoming(body) => body.size_hint(),
            Self::Pooled(body) => body.size_hint(),
            Self::Raw(body) => body.size_hint(),
        }
    }
}

/// Why a bounded body read stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("body larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("reading the body: {0}")]
    Read(#[from] BodyError),
}

/// Reads a whole body, refusing more than `limit` bytes (checked against the declared length
/// first, then while reading, so a lying or chunked client cannot make it buffer more).
pub async fn read_bounded<B>(body: B, limit: usize) -> Result<Bytes, ReadError>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BodyError> + std::error::Error + Send + Sync + 'static,
{
    if body.size_hint().lower() > limit as u64 {
        return Err(ReadError::TooLarge { limit });
    }
    // One buffer, sized from the declared length when there is one: chunks are copied in and
    // freed as they arrive, instead of all being kept until the end and then copied (which
    // needs twice the body's size at once).
    let declared = usize::try_from(body.size_hint().lower()).unwrap_or(limit);
    let mut buffer = BytesMut::with_capacity(declared.min(limit));
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ReadError::Read(e.into()))?;
        if let Ok(data) = frame.into_data() {
            if data.len() > limit - buffer.len() {
                return Err(ReadError::TooLarge { limit });
            }
            buffer.extend_from_slice(&data);
        }
    }
    Ok(buffer.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bounded_read_returns_a_body_within_the_limit() {
        let bytes = read_bounded(ProxyBody::full("hello"), 5)
            .await
            .expect("within limit");
        assert_eq!(&bytes[..], b"hello");
    }

    #[tokio::test]
    async fn bounded_read_refuses_a_body_over_the_limit() {
        let err = read_bounded(ProxyBody::full("hello!"), 5)
            .await
            .expect_err("over limit");
        assert!(matches!(err, ReadError::TooLarge { limit: 5 }));
    }

    #[test]
    fn an_empty_full_body_is_the_empty_body() {
        assert!(matches!(ProxyBody::full(""), ProxyBody::Empty));
        assert!(ProxyBody::full("").is_end_stream());
        assert_eq!(ProxyBody::full("abc").size_hint().exact(), Some(3));
    }
}
