//! The proxy's revocation store ([`tollgate_core::revocation`]): consulted on every verification
//! of one of the gateway's tokens (an atomic load while it is empty, a hash lookup otherwise),
//! filled by the revocation endpoint at once and by the controller's pushes
//! (`POST /revocations`), and paged out to the controller (`GET /revocations?after=<seq>`,
//! held until something new or the wait ends).
//!
//! Other users (single-use authorization codes, refresh-token families) call
//! [`Revocations::insert`] and [`Revocations::is_revoked`] with ids of their own kind.

use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tollgate_core::revocation::{
    Entry, Full, Insert, PAGE_LEN, RevocationPage, RevocationStore, RevokedId,
};

/// The longest a `GET /revocations` is held.
pub const MAX_WAIT: Duration = Duration::from_secs(30);

pub struct Revocations {
    store: RwLock<RevocationStore>,
    /// Whether the store may hold an entry (verification skips the lock when not).
    any: AtomicBool,
    /// Bumped on every change (an insert here, a merge that added something).
    version: watch::Sender<u64>,
    /// Random per process: sequence numbers start again after a restart.
    instance: String,
}

impl std::fmt::Debug for Revocations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Revocations")
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

impl Default for Revocations {
    fn default() -> Self {
        Self::new(RevocationStore::default())
    }
}

impl Revocations {
    pub fn new(store: RevocationStore) -> Self {
        let mut random = [0u8; 8];
        // Only tells restarts apart: a failure leaves a fixed instance, and the controller then
        // misses nothing but a restart's renumbering (it still merges every full page).
        let _ = getrandom::getrandom(&mut random);
        Self {
            any: AtomicBool::new(!store.is_empty()),
            store: RwLock::new(store),
            version: watch::channel(0).0,
            instance: tollgate_core::snapshot::hex(&random),
        }
    }

    /// Whether nothing is revoked (one atomic load).
    pub fn none(&self) -> bool {
        !self.any.load(Ordering::Acquire)
    }

    /// Whether `id` is revoked at `now`.
    pub fn is_revoked(&self, id: &RevokedId, now: u64) -> bool {
        if !self.any.load(Ordering::Acquire) {
            return false;
        }
        self.read().contains(id, now)
    }

    /// Records `id` until `exp` (0: forever) as made here; see [`Insert`]. [`Full`]: refuse
    /// what needed the entry.
    pub fn insert(&self, id: RevokedId, exp: u64, now: u64) -> Result<Insert, Full> {
        let inserted = self.write().insert(id, exp, now)?;
        if let Insert::New(_) = inserted {
            self.any.store(true, Ordering::Release);
            self.version.send_modify(|v| *v += 1);
        }
        Ok(inserted)
    }

    /// Adds entries learnt elsewhere (the controller's merged set, a state directory).
    pub fn merge(&self, entries: Vec<Entry>, now: u64) -> Result<usize, Full> {
        let merged = self.write().merge(entries, now);
        if !matches!(merged, Ok(0)) {
            self.any.store(true, Ordering::Release);
            self.version.send_modify(|v| *v += 1);
        }
        merged
    }

    /// Every live entry (expired ones are dropped first).
    pub fn live(&self, now: u64) -> Vec<Entry> {
        let mut store = self.write();
        store.purge(now);
        self.any.store(!store.is_empty(), Ordering::Release);
        store.live(now)
    }

    /// How many entries are held.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// The ids inserted here after `after`.
    pub fn page(&self, after: u64, now: u64) -> RevocationPage {
        let (entries, seq) = self.read().since(after, PAGE_LEN, now);
        RevocationPage {
            instance: self.instance.clone(),
            seq,
            entries,
        }
    }

    /// [`Self::page`], waiting up to `wait` (at most [`MAX_WAIT`]) for an id inserted here after
    /// `after` when there is none yet. `after` from another instance is answered at once.
    pub async fn wait_page(
        &self,
        after: u64,
        wait: Duration,
        now: impl Fn() -> u64,
    ) -> RevocationPage {
        let mut changes = self.version.subscribe();
        let deadline = tokio::time::Instant::now() + wait.min(MAX_WAIT);
        loop {
            let page = self.page(after, now());
            if !page.entries.is_empty() || page.seq < after {
                return page;
            }
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return page },
                () = tokio::time::sleep_until(deadline) => return page,
            }
        }
    }

    /// Notified on every change (for persistence).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, RevocationStore> {
        self.store.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, RevocationStore> {
        self.store.write().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_held_page_returns_as_soon_as_an_id_is_revoked_here() {
        let revocations = std::sync::Arc::new(Revocations::default());
        assert!(!revocations.is_revoked(&RevokedId::token([1; 16]), 0));
        let waiting = {
            let r = revocations.clone();
            tokio::spawn(async move { r.wait_page(0, MAX_WAIT, || 10).await })
        };
        // A merged id is not paged out (the controller knows it already).
        revocations
            .merge(
                vec![Entry {
                    id: RevokedId::token([2; 16]),
                    exp: 0,
                }],
                10,
            )
            .expect("fits");
        revocations
            .insert(RevokedId::token([1; 16]), 100, 10)
            .expect("fits");
        let page = waiting.await.expect("joins");
        assert_eq!(
            page.entries,
            [Entry {
                id: RevokedId::token([1; 16]),
                exp: 100
            }]
        );
        assert_eq!(page.seq, 1);
        assert!(revocations.is_revoked(&RevokedId::token([1; 16]), 99));
        assert!(revocations.is_revoked(&RevokedId::token([2; 16]), 99));
        assert!(!revocations.is_revoked(&RevokedId::token([1; 16]), 100));
    }

    /// The cost verification pays: printed, not asserted.
    #[test]
    fn the_cost_of_a_lookup_is_printed_for_an_empty_and_a_full_store() {
        let empty = Revocations::default();
        let full = Revocations::default();
        let entries = (0..tollgate_core::revocation::CAPACITY)
            .map(|n| {
                let mut id = [0u8; 16];
                id[..8].copy_from_slice(&(n as u64).to_be_bytes());
                Entry {
                    id: RevokedId::token(id),
                    exp: 0,
                }
            })
            .collect();
        full.merge(entries, 0).expect("fits");
        let n = 200_000u32;
        let probe = RevokedId::token([0xee; 16]);
        let time = |store: &Revocations| {
            let started = std::time::Instant::now();
            let mut hits = 0u32;
            for _ in 0..n {
                hits += u32::from(store.is_revoked(std::hint::black_box(&probe), 1));
            }
            (started.elapsed() / n, hits)
        };
        let (empty_cost, empty_hits) = time(&empty);
        let (full_cost, full_hits) = time(&full);
        assert_eq!((empty_hits, full_hits), (0, 0));
        let mut present = [0u8; 16];
        present[..8].copy_from_slice(&7u64.to_be_bytes());
        assert!(full.is_revoked(&RevokedId::token(present), 1));
        println!(
            "revocation lookup: empty store {} ns, {} entries {} ns (unoptimized builds are slower)",
            empty_cost.as_nanos(),
            full.len(),
            full_cost.as_nanos()
        );
    }

    #[tokio::test]
    async fn a_page_of_another_instance_is_answered_at_once() {
        let revocations = Revocations::default();
        let page = revocations.wait_page(7, MAX_WAIT, || 0).await;
        assert_eq!((page.seq, page.entries.len()), (0, 0));
    }
}
