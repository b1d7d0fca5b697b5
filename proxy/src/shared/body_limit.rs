//! Reading a whole body within a limit.

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Body;

/// Why a bounded body read stopped; `E` is the body's own error.
#[derive(Debug, thiserror::Error)]
pub enum ReadError<E> {
    #[error("body larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("reading the body: {0}")]
    Read(E),
}

/// Reads a whole body, refusing more than `limit` bytes (checked against the declared length
/// first, then while reading, so a lying or chunked client cannot make it buffer more).
pub async fn read_bounded<B>(body: B, limit: usize) -> Result<Bytes, ReadError<B::Error>>
where
    B: Body<Data = Bytes> + Unpin,
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
        let frame = frame.map_err(ReadError::Read)?;
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
    use http_body_util::Full;

    use super::*;

    #[tokio::test]
    async fn bounded_read_returns_a_body_within_the_limit() {
        let bytes = read_bounded(Full::new(Bytes::from("hello")), 5)
            .await
            .expect("within limit");
        assert_eq!(&bytes[..], b"hello");
    }

    #[tokio::test]
    async fn bounded_read_refuses_a_body_over_the_limit() {
        let err = read_bounded(Full::new(Bytes::from("hello!")), 5)
            .await
            .expect_err("over limit");
        assert!(matches!(err, ReadError::TooLarge { limit: 5 }));
    }
}
