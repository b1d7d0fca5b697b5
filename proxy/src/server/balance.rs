//! Spreading client connections evenly over the workers.
//!
//! Every worker accepts on the shared listening sockets, and a running worker takes whatever
//! waits in the accept queue: a burst of new connections (a client opening its pool of 64)
//! lands mostly on the one worker that happens to be awake, which then serves all of them for
//! as long as they stay open while the other workers idle. So a worker that has just accepted a
//! connection and already holds more open connections than the least loaded worker (by more
//! than one) hands the connection to that worker instead, before reading a byte of it. Each
//! worker counts the connections it serves; the counts are also the
//! `tollgate_worker_connections` gauge.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use tokio::sync::{OwnedSemaphorePermit, mpsc};

/// Open client connections per worker, shared by all workers (and read by the metrics).
pub type Loads = Arc<[AtomicUsize]>;

/// A connection accepted by one worker and served by another.
pub struct Handoff {
    pub stream: std::net::TcpStream,
    pub peer: SocketAddr,
    pub https: bool,
    /// Its place under `--max-connections`, taken by the accepting worker, so what waits in the
    /// inboxes is bounded by the connection cap.
    pub slot: OwnedSemaphorePermit,
    pub open: Open,
}

/// Where accepted connections go: one inbox per worker.
pub struct Balance {
    loads: Loads,
    inboxes: Box<[mpsc::UnboundedSender<Handoff>]>,
}

impl Balance {
    /// A balance over `workers` workers, with each worker's inbox (indexed like the workers).
    pub fn new(workers: usize) -> (Arc<Self>, Vec<mpsc::UnboundedReceiver<Handoff>>) {
        let workers = workers.max(1);
        let (senders, receivers): (Vec<_>, Vec<_>) =
            (0..workers).map(|_| mpsc::unbounded_channel()).unzip();
        let balance = Balance {
            loads: (0..workers).map(|_| AtomicUsize::new(0)).collect(),
            inboxes: senders.into_boxed_slice(),
        };
        (Arc::new(balance), receivers)
    }

    pub fn loads(&self) -> Loads {
        self.loads.clone()
    }

    /// Which worker serves a connection that worker `me` has just accepted: `me`, unless it
    /// holds more than one connection more than the least loaded worker. The connection is
    /// counted at once against the chosen worker (until the returned [`Open`] is dropped), so a
    /// burst of accepts alternates between workers.
    pub fn place(&self, me: usize) -> (usize, Open) {
        let mine = self.loads[me].load(Relaxed);
        let (least, fewest) = self
            .loads
            .iter()
            .map(|load| load.load(Relaxed))
            .enumerate()
            .min_by_key(|&(_, load)| load)
            .unwrap_or((me, mine));
        let worker = if mine > fewest + 1 { least } else { me };
        self.loads[worker].fetch_add(1, Relaxed);
        (
            worker,
            Open {
                loads: self.loads.clone(),
                worker,
            },
        )
    }

    /// Sends a connection to `worker`'s inbox; gives it back if that worker has stopped.
    pub fn hand_to(&self, worker: usize, handoff: Handoff) -> Result<(), Handoff> {
        self.inboxes[worker].send(handoff).map_err(|e| e.0)
    }
}

/// A connection counted against a worker until dropped.
pub struct Open {
    loads: Loads,
    worker: usize,
}

#[cfg(test)]
impl Open {
    /// The worker it is counted against.
    pub fn worker(&self) -> usize {
        self.worker
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.loads[self.worker].fetch_sub(1, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(balance: &Balance) -> Vec<usize> {
        balance.loads.iter().map(|l| l.load(Relaxed)).collect()
    }

    #[test]
    fn a_burst_accepted_by_one_worker_is_spread_evenly() {
        let (balance, _inboxes) = Balance::new(2);
        let open: Vec<Open> = (0..64).map(|_| balance.place(0).1).collect();
        assert_eq!(counts(&balance), [33, 31], "within two of each other");
        assert_eq!(open.iter().filter(|o| o.worker() == 1).count(), 31);
        drop(open);
        assert_eq!(counts(&balance), [0, 0], "closed connections are uncounted");
    }

    #[test]
    fn a_worker_keeps_what_it_accepts_while_within_one_of_the_least_loaded() {
        let (balance, _inboxes) = Balance::new(3);
        let a = balance.place(1);
        let b = balance.place(1);
        assert_eq!((a.0, b.0), (1, 1), "1 then 2 against 0: within one, kept");
        let c = balance.place(1);
        assert_eq!(c.0, 0, "2 against 0: the least loaded worker gets it");
        let d = balance.place(1);
        assert_eq!(d.0, 2);
        assert_eq!(counts(&balance), [1, 2, 1]);
    }

    #[test]
    fn one_worker_serves_everything() {
        let (balance, _inboxes) = Balance::new(1);
        let open: Vec<Open> = (0..10).map(|_| balance.place(0).1).collect();
        assert!(open.iter().all(|o| o.worker() == 0));
        assert_eq!(counts(&balance), [10]);
    }

    #[tokio::test]
    async fn a_stopped_worker_gives_the_connection_back() {
        let (balance, inboxes) = Balance::new(2);
        drop(inboxes);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let client = std::net::TcpStream::connect(listener.local_addr().expect("addr"));
        let (stream, peer) = listener.accept().expect("accept");
        let slot = Arc::new(tokio::sync::Semaphore::new(1))
            .try_acquire_owned()
            .expect("slot");
        let (worker, open) = balance.place(0);
        let handoff = Handoff {
            stream,
            peer,
            https: false,
            slot,
            open,
        };
        let back = balance
            .hand_to(worker, handoff)
            .expect_err("nobody to take it");
        assert_eq!(back.peer, peer);
        drop(client);
    }
}
