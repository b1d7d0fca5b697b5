//! Reading a whole body within a limit, a deadline and a budget.
//!
//! A body is buffered only where the gateway itself must read it (the token endpoint, a token in
//! a form body, a config push); forwarded bodies stream. A slow or stalled client must not hold
//! memory or a task for long, and many of them at once must not exhaust the proxy:
//! - nothing is allocated from a declared `Content-Length`: the buffer grows with bytes received;
//! - every chunk must come within the idle timeout, and the whole body within the total one
//!   (otherwise [`ReadError::Timeout`]: 408);
//! - the bytes held by all reads in progress, and their number, come out of one [`BodyBudget`]
//!   (what slow clients can pin); a read that would exceed either is refused
//!   ([`ReadError::Busy`]: 503) rather than queued. A finished read is handled at once, and its
//!   share returns to the budget.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Body;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why a bounded body read stopped; `E` is the body's own error.
#[derive(Debug, thiserror::Error)]
pub enum ReadError<E> {
    #[error("body larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("reading the body: {0}")]
    Read(E),
    #[error("the body did not arrive in time")]
    Timeout,
    #[error("too many bodies being buffered at once")]
    Busy,
}

/// The bytes all buffered body reads may hold at once, and how long a body may take.
#[derive(Debug, Clone)]
pub struct BodyBudget {
    bytes: Arc<Semaphore>,
    /// Reads in progress at once: each pins a request's state (a few KiB) whatever it received.
    reads: Arc<Semaphore>,
    /// Reads in progress per client address, at most a quarter of `reads` each: one client
    /// cannot take every slot from the others.
    per_client: Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>,
    per_client_max: usize,
    /// Longest wait for the next chunk.
    pub idle: Duration,
    /// Longest time for the whole body.
    pub total: Duration,
}

impl BodyBudget {
    pub fn new(bytes: usize, reads: usize, idle: Duration, total: Duration) -> Self {
        Self {
            bytes: Arc::new(Semaphore::new(bytes.min(Semaphore::MAX_PERMITS))),
            reads: Arc::new(Semaphore::new(reads.clamp(1, Semaphore::MAX_PERMITS))),
            per_client: Arc::default(),
            per_client_max: (reads / 4).max(1),
            idle,
            total,
        }
    }

    /// Bytes not held by any read now.
    #[cfg(test)]
    pub fn available(&self) -> usize {
        self.bytes.available_permits()
    }

    /// A read slot of `client`, released when dropped.
    fn reading(&self, client: std::net::IpAddr) -> Option<Reading> {
        let slot = Arc::clone(&self.reads).try_acquire_owned().ok()?;
        let mut counts = self.per_client.lock().unwrap_or_else(|e| e.into_inner());
        let count = counts.entry(client).or_insert(0);
        if *count >= self.per_client_max {
            return None;
        }
        *count += 1;
        Some(Reading {
            _slot: slot,
            client,
            counts: Arc::clone(&self.per_client),
        })
    }

    fn take(&self, n: usize) -> Option<OwnedSemaphorePermit> {
        let n = u32::try_from(n).ok()?;
        Arc::clone(&self.bytes).try_acquire_many_owned(n).ok()
    }
}

/// One read in progress: its global slot and its client's count.
struct Reading {
    _slot: OwnedSemaphorePermit,
    client: std::net::IpAddr,
    counts: Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>,
}

impl Drop for Reading {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = counts.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.client);
            }
        }
    }
}

/// Reads a whole body, refusing more than `limit` bytes (checked against the declared length
/// first, then while reading, so a lying or chunked client cannot make it buffer more), within
/// `budget`'s deadlines and bytes.
pub async fn read_bounded<B>(
    body: B,
    limit: usize,
    budget: &BodyBudget,
    client: std::net::IpAddr,
) -> Result<Bytes, ReadError<B::Error>>
where
    B: Body<Data = Bytes> + Unpin,
{
    if body.size_hint().lower() > limit as u64 {
        return Err(ReadError::TooLarge { limit });
    }
    let Some(_reading) = budget.reading(client) else {
        return Err(ReadError::Busy);
    };
    let deadline = tokio::time::Instant::now() + budget.total;
    let mut buffer = BytesMut::new();
    // The budget's share of this read, returned when it ends, however it ends.
    let mut held: Vec<OwnedSemaphorePermit> = Vec::new();
    let mut body = body;
    loop {
        let wait = deadline
            .saturating_duration_since(tokio::time::Instant::now())
            .min(budget.idle);
        let frame = match tokio::time::timeout(wait, body.frame()).await {
            Err(_) => return Err(ReadError::Timeout),
            Ok(None) => break,
            Ok(Some(frame)) => frame.map_err(ReadError::Read)?,
        };
        if let Ok(data) = frame.into_data() {
            if data.len() > limit - buffer.len() {
                return Err(ReadError::TooLarge { limit });
            }
            if !data.is_empty() {
                held.push(budget.take(data.len()).ok_or(ReadError::Busy)?);
            }
            buffer.extend_from_slice(&data);
        }
    }
    drop(held);
    Ok(buffer.freeze())
}

#[cfg(test)]
mod tests {
    use http_body_util::{Full, StreamBody};

    use super::*;

    const LOCAL: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    fn budget(bytes: usize) -> BodyBudget {
        BodyBudget::new(bytes, 16, Duration::from_secs(5), Duration::from_secs(10))
    }

    #[tokio::test]
    async fn bounded_read_returns_a_body_within_the_limit() {
        let read = read_bounded(Full::new(Bytes::from("hello")), 5, &budget(100), LOCAL)
            .await
            .expect("within limit");
        assert_eq!(&read[..], b"hello");
    }

    #[tokio::test]
    async fn bounded_read_refuses_a_body_over_the_limit() {
        let err = read_bounded(Full::new(Bytes::from("hello!")), 5, &budget(100), LOCAL)
            .await
            .expect_err("over limit");
        assert!(matches!(err, ReadError::TooLarge { limit: 5 }));
    }

    #[tokio::test]
    async fn reads_in_progress_share_the_budget_and_a_finished_read_returns_its_share() {
        let budget = budget(8);
        // A slow client holds 5 bytes of the budget while its body is incomplete.
        let (tx, rx) =
            tokio::sync::mpsc::channel::<Result<hyper::body::Frame<Bytes>, std::io::Error>>(1);
        tx.send(Ok(hyper::body::Frame::data(Bytes::from("12345"))))
            .await
            .expect("send");
        let slow = {
            let budget = budget.clone();
            tokio::spawn(async move {
                read_bounded(StreamBody::new(tokio_stream_of(rx)), 100, &budget, LOCAL).await
            })
        };
        while budget.available() != 3 {
            tokio::task::yield_now().await;
        }
        let refused = read_bounded(Full::new(Bytes::from("12345")), 100, &budget, LOCAL).await;
        assert!(matches!(refused, Err(ReadError::Busy)));
        assert_eq!(budget.available(), 3, "a refused read returns what it took");
        drop(tx);
        let done = slow.await.expect("join").expect("read");
        assert_eq!(&done[..], b"12345");
        assert_eq!(
            budget.available(),
            8,
            "the finished read returned its share"
        );
    }

    #[tokio::test]
    async fn a_stalled_body_times_out_and_releases_what_it_held() {
        let budget = BodyBudget::new(
            1024,
            16,
            Duration::from_millis(100),
            Duration::from_secs(60),
        );
        // One byte, then nothing: the client stalls.
        let (tx, rx) =
            tokio::sync::mpsc::channel::<Result<hyper::body::Frame<Bytes>, std::io::Error>>(1);
        tx.send(Ok(hyper::body::Frame::data(Bytes::from("x"))))
            .await
            .expect("send");
        let body = StreamBody::new(tokio_stream_of(rx));
        let read = read_bounded(body, 100, &budget, LOCAL).await;
        assert!(matches!(read, Err(ReadError::Timeout)));
        assert_eq!(budget.available(), 1024);
        drop(tx);
    }

    #[tokio::test]
    async fn a_trickling_body_is_cut_at_the_total_deadline() {
        let budget = BodyBudget::new(
            1024,
            16,
            Duration::from_millis(500),
            Duration::from_millis(300),
        );
        let (tx, rx) =
            tokio::sync::mpsc::channel::<Result<hyper::body::Frame<Bytes>, std::io::Error>>(1);
        let feeder = tokio::spawn(async move {
            // A byte every 20 ms: never idle long enough, never done.
            loop {
                if tx
                    .send(Ok(hyper::body::Frame::data(Bytes::from("x"))))
                    .await
                    .is_err()
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        let read = read_bounded(StreamBody::new(tokio_stream_of(rx)), 100, &budget, LOCAL).await;
        assert!(matches!(read, Err(ReadError::Timeout)));
        feeder.abort();
    }

    #[tokio::test]
    async fn one_client_cannot_take_every_read_slot() {
        // Eight slots: two per client at most.
        let budget = BodyBudget::new(1024, 8, Duration::from_secs(5), Duration::from_secs(10));
        let other: std::net::IpAddr = "192.0.2.7".parse().expect("ip");
        let mut stalled = Vec::new();
        let mut senders = Vec::new();
        for _ in 0..2 {
            let (tx, rx) =
                tokio::sync::mpsc::channel::<Result<hyper::body::Frame<Bytes>, std::io::Error>>(1);
            let budget = budget.clone();
            stalled.push(tokio::spawn(async move {
                read_bounded(StreamBody::new(tokio_stream_of(rx)), 100, &budget, LOCAL).await
            }));
            senders.push(tx);
        }
        while budget.reads.available_permits() != 6 {
            tokio::task::yield_now().await;
        }
        let third = read_bounded(Full::new(Bytes::from("x")), 100, &budget, LOCAL).await;
        assert!(
            matches!(third, Err(ReadError::Busy)),
            "a third read of the same client"
        );
        let elsewhere = read_bounded(Full::new(Bytes::from("x")), 100, &budget, other).await;
        assert!(elsewhere.is_ok(), "another client still reads");
        drop(senders);
        for s in stalled {
            assert!(s.await.expect("join").is_ok());
        }
        assert!(
            read_bounded(Full::new(Bytes::from("x")), 100, &budget, LOCAL)
                .await
                .is_ok()
        );
    }

    /// A `Stream` over an mpsc receiver.
    fn tokio_stream_of<T>(
        mut rx: tokio::sync::mpsc::Receiver<T>,
    ) -> impl futures::Stream<Item = T> + Unpin {
        Box::pin(futures::stream::poll_fn(move |cx| rx.poll_recv(cx)))
    }
}
