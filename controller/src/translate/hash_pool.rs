//! Background argon2id hashing: a fixed number of threads, each owning one reusable work buffer
//! that it gives back to the operating system whenever the queue runs dry.
//!
//! So memory for hashing is bounded by `threads × 19 MiB` while there is work and returns to
//! nothing after it, however many secrets are hashed; and translation never waits for a hash: it
//! submits the secret and leaves the credential out until the verifier is ready, while every
//! other object keeps flowing. Completions wake the caller (each wake-up costs a translation
//! of everything) (`on_done`) at most every
//! [`WAKE_INTERVAL`] while busy, and always when the queue empties.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tollgate_core::secret::{Argon2Memory, SecretError, deterministic_salt, hash_argon2id_in};
use zeroize::Zeroizing;

use super::verifier_cache::SealKey;

/// Longest gap between two wake-ups of the caller while hashes complete.
pub const WAKE_INTERVAL: Duration = Duration::from_secs(1);

/// A secret to hash.
pub(crate) struct Job {
    pub credential_id: String,
    pub digest: [u8; 32],
    pub secret: Zeroizing<Vec<u8>>,
    pub seal: SealKey,
}

/// A finished hash.
pub(crate) struct Done {
    pub credential_id: String,
    pub digest: [u8; 32],
    pub seal: SealKey,
    pub result: Result<String, SecretError>,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    done: Vec<Done>,
    busy: usize,
    stop: bool,
    last_wake: Option<Instant>,
    /// Work buffers held right now (for tests and metrics).
    held_bytes: usize,
}

struct Shared {
    state: Mutex<State>,
    work: Condvar,
    idle: Condvar,
    on_done: Box<dyn Fn() + Send + Sync>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The hashing threads. Dropping the pool stops them after their current hash.
pub struct HashPool {
    shared: Arc<Shared>,
    threads: usize,
}

impl std::fmt::Debug for HashPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("HashPool")
            .field("threads", &self.threads)
            .field("queued", &state.queue.len())
            .field("busy", &state.busy)
            .finish()
    }
}

/// The default number of hashing threads: one fewer than the cores (at least one), so hashing
/// never takes the whole machine from reconciliation or, in standalone mode, from serving.
pub fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get().saturating_sub(1))
        .max(1)
}

impl HashPool {
    /// Starts `threads` hashing threads; `on_done` is called (from a hashing thread) when results
    /// are ready to [`HashPool::take_done`].
    pub fn new(
        threads: usize,
        on_done: impl Fn() + Send + Sync + 'static,
    ) -> Result<Self, std::io::Error> {
        let threads = threads.max(1);
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            work: Condvar::new(),
            idle: Condvar::new(),
            on_done: Box::new(on_done),
        });
        for i in 0..threads {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(format!("tollgate-hash-{i}"))
                .spawn(move || worker(&shared))?;
        }
        Ok(Self { shared, threads })
    }

    pub(crate) fn submit(&self, job: Job) {
        self.shared.lock().queue.push_back(job);
        self.shared.work.notify_one();
    }

    pub(crate) fn take_done(&self) -> Vec<Done> {
        std::mem::take(&mut self.shared.lock().done)
    }

    /// Secrets queued or being hashed.
    pub fn in_flight(&self) -> usize {
        let state = self.shared.lock();
        state.queue.len() + state.busy
    }

    /// Bytes of argon2 work memory the threads hold right now (0 when idle).
    pub fn held_bytes(&self) -> usize {
        self.shared.lock().held_bytes
    }

    /// Waits until nothing is queued or being hashed, at most `timeout`; whether it is idle.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        loop {
            if state.queue.is_empty() && state.busy == 0 && state.held_bytes == 0 {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = self
                .shared
                .idle
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

impl Drop for HashPool {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.stop = true;
        state.queue.clear();
        drop(state);
        self.shared.work.notify_all();
    }
}

fn worker(shared: &Shared) {
    let mut memory = Argon2Memory::new();
    loop {
        let mut state = shared.lock();
        let job = loop {
            if state.stop {
                return;
            }
            if let Some(job) = state.queue.pop_front() {
                break job;
            }
            if memory.held_bytes() > 0 {
                // Out of work: give the buffer back before sleeping.
                state.held_bytes = state.held_bytes.saturating_sub(memory.held_bytes());
                memory.release();
                shared.idle.notify_all();
            }
            state = shared.work.wait(state).unwrap_or_else(|e| e.into_inner());
        };
        state.busy += 1;
        let before = memory.held_bytes();
        drop(state);

        let salt = deterministic_salt(&job.credential_id);
        let result = hash_argon2id_in(&job.secret, &salt, &mut memory);
        let Job {
            credential_id,
            digest,
            secret,
            seal,
        } = job;
        drop(secret);

        let mut state = shared.lock();
        state.held_bytes = state.held_bytes + memory.held_bytes() - before;
        state.busy -= 1;
        state.done.push(Done {
            credential_id,
            digest,
            seal,
            result,
        });
        let drained = state.queue.is_empty();
        let now = Instant::now();
        let wake = drained
            || state
                .last_wake
                .is_none_or(|last| now.duration_since(last) >= WAKE_INTERVAL);
        if wake {
            state.last_wake = Some(now);
        }
        drop(state);
        shared.idle.notify_all();
        if wake {
            (shared.on_done)();
        }
    }
}
