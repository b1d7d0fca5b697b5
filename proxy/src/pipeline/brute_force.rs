//! Brute-force protection of the token endpoint, per `client_id` and client address, with a
//! looser bound per `client_id`.
//!
//! **Two keys.** The lockout below is kept per (client id, client address), so wrong secrets
//! from one address lock out that address only: the owner, calling from its own address with
//! the right secret, keeps getting tokens while someone elsewhere guesses. Guesses stay bounded
//! per credential by a second budget, per client id, that every address which has not yet
//! presented the right secret for that id shares: a bucket of [`ID_BURST`] attempts refilled at
//! one per [`ID_REFILL`]. An address that presented the right secret (within [`PROVEN_FOR`];
//! the last [`MAX_PROVEN`] such addresses per id) is not charged, so an attack from elsewhere
//! cannot lock the owner out; a new address of the owner competes with the attacker for the
//! shared budget until its first success. A distributed attacker thus gets at most
//! `ID_BURST + t / ID_REFILL` guesses per client id, however many addresses it has.
//!
//! **Policy.** A (client id, address) pair has a budget of [`FREE_ATTEMPTS`] attempts *in flight or failed*
//! within [`WINDOW`]. An attempt is admitted at once while the budget lasts and is counted as a
//! failure only when its verification actually fails (the [`Attempt`] handle records the outcome;
//! dropped without [`Attempt::succeeded`], on any early return or a cancelled request, it counts
//! as a failure). When the budget is taken by attempts still in flight and fewer than
//! [`FREE_ATTEMPTS`] have failed, a new attempt is told [`Admission::Busy`]: it waits (at most
//! [`MAX_DELAY`], see [`BruteForce::admit_waiting`]) for one to finish, then asks again. So a
//! client presenting the right secret over many connections at once is never refused while
//! nothing has failed; once one succeeds, the secret cache is warm and the rest pass quickly.
//!
//! After [`FREE_ATTEMPTS`] failures the client id is locked out: one probe at a time is admitted
//! per period of `BASE_DELAY · 2^(failures − FREE_ATTEMPTS)`, counted from the last failure and
//! capped at [`MAX_DELAY`]; every other attempt is refused at once (the token endpoint answers 429
//! with `Retry-After`) before any secret is verified or looked up in the cache. A success
//! forgets the failures; so does a quiet [`WINDOW`]. The right secret therefore waits at most
//! [`MAX_DELAY`] once an attack stops.
//!
//! **Why refuse rather than delay, once locked out.** Sleeping before each verification does not
//! bound the guessing rate: N parallel connections make N guesses per period, and every parked
//! request holds a task and a connection. A refusal costs nothing, never spends an argon2
//! verification (about 22 ms of a core) on an attacker, and holds the rate to one guess per
//! period whatever the concurrency. Waiting is only for attempts whose fellow attempts might
//! still succeed, and is bounded by [`MAX_DELAY`].
//!
//! **Wake-ups.** An entry with waiters carries a [`Notify`]. A finished attempt wakes one waiter
//! (one slot may have freed); a lockout, a reset of the failures or a removed entry wakes them
//! all (their answer changed). An admitted waiter that leaves budget over passes the wake-up on.
//!
//! **Memory.** Keys are SHA-256 digests (32 bytes whatever the id's length). Pairs of client ids
//! of the snapshot ("known") live in one table capped at [`MAX_KNOWN_PAIRS`], so spraying other
//! ids cannot reset a real client's lockout. Unknown ids are tracked too, so a 429 does not
//! reveal which ids exist, in a second table capped at [`MAX_UNKNOWN`]. A full table drops its
//! stale entries, then the stalest half (a pair that loses its history gets its free attempts
//! back, which the per-id budget still bounds). The per-id budgets are kept only while they
//! hold something: one that is full again and remembers no address is dropped when the table
//! passes [`MAX_UNKNOWN`] entries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::sync::Notify;

/// Attempts in flight or failed within [`WINDOW`] before a client id is locked out.
pub const FREE_ATTEMPTS: u32 = 5;
/// The period after the free attempts; doubles with each further failure.
pub const BASE_DELAY: Duration = Duration::from_millis(100);
/// The longest period (and so the longest the right secret waits after an attack), and the
/// longest a [`Admission::Busy`] attempt waits for its fellow attempts.
pub const MAX_DELAY: Duration = Duration::from_secs(2);
/// A client id without attempts for this long is forgotten.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Most (unknown client id, address) pairs tracked at once.
pub const MAX_UNKNOWN: usize = 10_000;
/// Most (known client id, address) pairs tracked at once. Losing a pair's history gives its
/// address its free attempts again, which the per-id budget still bounds.
pub const MAX_KNOWN_PAIRS: usize = 100_000;
/// Attempts per client id from addresses that have not presented its right secret, at once.
pub const ID_BURST: f64 = 20.0;
/// One more such attempt per this long.
pub const ID_REFILL: Duration = Duration::from_secs(2);
/// How long an address that presented the right secret is exempt from the per-id budget.
pub const PROVEN_FOR: Duration = Duration::from_secs(24 * 3600);
/// Addresses remembered as proven per client id (the most recent).
pub const MAX_PROVEN: usize = 8;

type Key = [u8; 32];

#[derive(Clone, Debug)]
struct Entry {
    /// Attempts that failed since the last success (or quiet window).
    failures: u32,
    /// Admitted attempts whose outcome is not recorded yet.
    in_flight: u32,
    /// When an attempt was last admitted or finished.
    last: Instant,
    /// When locked out: when the next probe may be admitted.
    next: Instant,
    /// Woken when an attempt finishes; created when an attempt is told to wait.
    wake: Option<Arc<Notify>>,
}

impl Entry {
    fn new(now: Instant) -> Self {
        Self {
            failures: 0,
            in_flight: 0,
            last: now,
            next: now,
            wake: None,
        }
    }

    fn locked(&self) -> bool {
        self.failures >= FREE_ATTEMPTS
    }
}

/// The budget of one client id shared by its unproven addresses.
#[derive(Clone, Debug)]
struct Budget {
    tokens: f64,
    at: Instant,
    /// Pair keys of addresses that presented the right secret, and when.
    proven: Vec<(Key, Instant)>,
}

impl Budget {
    fn new(now: Instant) -> Self {
        Self {
            tokens: ID_BURST,
            at: now,
            proven: Vec::new(),
        }
    }

    fn refill(&mut self, now: Instant) {
        let gained = now.saturating_duration_since(self.at).as_secs_f64() / ID_REFILL.as_secs_f64();
        self.tokens = (self.tokens + gained).min(ID_BURST);
        self.at = now;
    }

    fn is_proven(&self, pair: &Key, now: Instant) -> bool {
        self.proven
            .iter()
            .any(|(k, at)| k == pair && now.saturating_duration_since(*at) < PROVEN_FOR)
    }

    fn prove(&mut self, pair: Key, now: Instant) {
        self.proven.retain(|(k, _)| *k != pair);
        if self.proven.len() >= MAX_PROVEN {
            self.proven.remove(0);
        }
        self.proven.push((pair, now));
    }

    /// Full and remembering no address: dropping it loses nothing.
    fn is_idle(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= ID_BURST && self.proven.is_empty()
    }
}

#[derive(Debug, Default)]
struct Tables {
    known: HashMap<Key, Entry>,
    unknown: HashMap<Key, Entry>,
    /// Per client id (SHA-256 of it).
    budgets: HashMap<Key, Budget>,
    /// When stale entries were last dropped.
    swept: Option<Instant>,
}

impl Tables {
    fn table(&mut self, known: bool) -> &mut HashMap<Key, Entry> {
        if known {
            &mut self.known
        } else {
            &mut self.unknown
        }
    }
}

/// The per-client-id attempt table shared by every worker.
#[derive(Debug, Default)]
pub struct BruteForce {
    tables: Mutex<Tables>,
}

/// The answer to an authentication attempt.
#[derive(Debug)]
pub enum Admission<'a> {
    /// Verify the secret, then record the outcome on the handle.
    Admitted(Attempt<'a>),
    /// The budget is taken by attempts in flight, fewer than [`FREE_ATTEMPTS`] have failed:
    /// wait for this to be notified (create and enable the `notified()` future before asking
    /// again), then ask again.
    Busy(Arc<Notify>),
    /// Locked out: refuse at once; the client may retry after this long.
    Refused(Duration),
}

/// An admitted attempt. Dropped without [`Attempt::succeeded`], it counts as a failure, so
/// every early return after admission (overload, errors, a cancelled request) is accounted for.
pub struct Attempt<'a> {
    guard: &'a BruteForce,
    /// The (client id, address) pair.
    key: Key,
    /// The client id.
    id: Key,
    known: bool,
    finished: bool,
}

impl Attempt<'_> {
    /// Records that the secret was right: the client id's failures are forgotten.
    pub fn succeeded(self) {
        self.finish(true, Instant::now());
    }

    /// Records the outcome at `now` (for callers with their own clock, such as tests).
    pub fn finish(mut self, success: bool, now: Instant) {
        self.finished = true;
        self.guard
            .finish(&self.key, &self.id, self.known, success, now);
    }
}

impl std::fmt::Debug for Attempt<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attempt")
            .field("known", &self.known)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.guard
                .finish(&self.key, &self.id, self.known, false, Instant::now());
        }
    }
}

/// The period before the probe after `failures` failures.
pub fn period(failures: u32) -> Duration {
    match failures.checked_sub(FREE_ATTEMPTS) {
        None => Duration::ZERO,
        Some(excess) => BASE_DELAY
            .saturating_mul(1u32 << excess.min(16))
            .min(MAX_DELAY),
    }
}

fn id_key(client_id: &str) -> Key {
    Sha256::digest(client_id.as_bytes()).into()
}

fn pair_key(client_id: &str, address: &str) -> Key {
    let mut h = Sha256::new();
    h.update(client_id.as_bytes());
    h.update([0]);
    h.update(address.as_bytes());
    h.finalize().into()
}

impl BruteForce {
    fn lock(&self) -> MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks to verify a secret for `client_id` presented from `address` (`known`: it names a
    /// credential of the snapshot). Never blocks; see [`BruteForce::admit_waiting`] for the
    /// waiting loop.
    pub fn admit_from(
        &self,
        client_id: &str,
        address: &str,
        known: bool,
        now: Instant,
    ) -> Admission<'_> {
        let key = pair_key(client_id, address);
        let id = id_key(client_id);
        let mut tables = self.lock();
        let swept = *tables.swept.get_or_insert(now);
        if now.saturating_duration_since(swept) > WINDOW {
            sweep(&mut tables, now);
        }
        if !tables.budgets.contains_key(&id) && tables.budgets.len() >= MAX_UNKNOWN {
            tables.budgets.retain(|_, b| !b.is_idle(now));
        }
        let budget = tables.budgets.entry(id).or_insert_with(|| Budget::new(now));
        budget.refill(now);
        let charged = !budget.is_proven(&key, now);
        if charged && budget.tokens < 1.0 {
            let missing = 1.0 - budget.tokens;
            return Admission::Refused(ID_REFILL.mul_f64(missing).max(BASE_DELAY));
        }
        let cap = if known { MAX_KNOWN_PAIRS } else { MAX_UNKNOWN };
        let table = tables.table(known);
        if !table.contains_key(&key) && table.len() >= cap {
            evict_stalest_half(table, cap, now);
        }
        let entry = tables
            .table(known)
            .entry(key)
            .or_insert_with(|| Entry::new(now));
        if now.saturating_duration_since(entry.last) > WINDOW {
            entry.failures = 0;
            entry.next = now;
        }
        let admit = if entry.locked() {
            if now < entry.next {
                return Admission::Refused(entry.next - now);
            }
            if entry.in_flight > 0 {
                // One probe at a time: the one in flight decides what comes next.
                return Admission::Refused(period(entry.failures + 1));
            }
            true
        } else {
            entry.failures + entry.in_flight < FREE_ATTEMPTS
        };
        if !admit {
            let wake = entry.wake.get_or_insert_with(Default::default);
            return Admission::Busy(Arc::clone(wake));
        }
        entry.in_flight += 1;
        entry.last = now;
        let passes_on = !entry.locked() && entry.failures + entry.in_flight < FREE_ATTEMPTS;
        let wake = entry.wake.clone();
        if charged && let Some(budget) = tables.budgets.get_mut(&id) {
            budget.tokens -= 1.0;
        }
        // A waiter admitted with budget left over passes the wake-up on.
        if passes_on && let Some(wake) = &wake {
            wake.notify_one();
        }
        Admission::Admitted(Attempt {
            guard: self,
            key,
            id,
            known,
            finished: false,
        })
    }

    /// [`BruteForce::admit`], waiting while it answers [`Admission::Busy`], at most
    /// [`MAX_DELAY`] in all. `Err` carries how long the client should wait before retrying.
    pub async fn admit_waiting(
        &self,
        client_id: &str,
        address: &str,
        known: bool,
    ) -> Result<Attempt<'_>, Duration> {
        let deadline = tokio::time::Instant::now() + MAX_DELAY;
        let mut wake = match self.admit_from(client_id, address, known, Instant::now()) {
            Admission::Admitted(attempt) => return Ok(attempt),
            Admission::Refused(wait) => return Err(wait),
            Admission::Busy(wake) => wake,
        };
        loop {
            let renewed = {
                // Listen before asking again, so a finish in between is not missed.
                let notified = wake.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                match self.admit_from(client_id, address, known, Instant::now()) {
                    Admission::Admitted(attempt) => return Ok(attempt),
                    Admission::Refused(wait) => return Err(wait),
                    Admission::Busy(current) if Arc::ptr_eq(&current, &wake) => {
                        if tokio::time::timeout_at(deadline, notified).await.is_err() {
                            return Err(BASE_DELAY);
                        }
                        continue;
                    }
                    // The entry was forgotten and made again: listen to the new one.
                    Admission::Busy(current) => current,
                }
            };
            wake = renewed;
        }
    }

    fn finish(&self, key: &Key, id: &Key, known: bool, success: bool, now: Instant) {
        let mut tables = self.lock();
        if success && let Some(budget) = tables.budgets.get_mut(id) {
            // The right secret from this address: it is not charged again, nor for this one.
            if !budget.is_proven(key, now) {
                budget.tokens = (budget.tokens + 1.0).min(ID_BURST);
            }
            budget.prove(*key, now);
        }
        let table = tables.table(known);
        let Some(entry) = table.get_mut(key) else {
            return; // evicted meanwhile (unknown ids only)
        };
        entry.in_flight = entry.in_flight.saturating_sub(1);
        entry.last = entry.last.max(now);
        let wake = entry.wake.clone();
        // Whether every waiter's answer may have changed (not just one slot freed).
        let mut everyone = false;
        if success {
            everyone = entry.failures > 0;
            entry.failures = 0;
            entry.next = now;
            if entry.in_flight == 0 {
                table.remove(key);
                everyone = true;
            }
        } else {
            entry.failures = entry.failures.saturating_add(1);
            if entry.locked() {
                entry.next = entry.next.max(now + period(entry.failures));
                everyone = true;
            }
        }
        drop(tables);
        if let Some(wake) = wake {
            if everyone {
                wake.notify_waiters();
            }
            wake.notify_one();
        }
    }

    /// Client ids tracked: (known, unknown).
    #[cfg(test)]
    pub fn tracked(&self) -> (usize, usize) {
        let tables = self.lock();
        (tables.known.len(), tables.unknown.len())
    }
}

/// Drops every entry quiet for longer than [`WINDOW`] with nothing in flight, and every per-id
/// budget that holds nothing. Admission runs it at most once per [`WINDOW`], so an attack that
/// has stopped leaves nothing behind once the endpoint is used again, and the tables' caps bound
/// them meanwhile: no task of its own is needed.
fn sweep(tables: &mut Tables, now: Instant) {
    tables.known.retain(|_, e| !stale(e, now));
    tables.unknown.retain(|_, e| !stale(e, now));
    tables.budgets.retain(|_, b| !b.is_idle(now));
    tables.swept = Some(now);
}

fn stale(entry: &Entry, now: Instant) -> bool {
    entry.in_flight == 0 && now.saturating_duration_since(entry.last) > WINDOW
}

/// Drops stale entries, and if that is not enough the least recently used half.
fn evict_stalest_half(table: &mut HashMap<Key, Entry>, cap: usize, now: Instant) {
    table.retain(|_, e| !stale(e, now));
    if table.len() < cap {
        return;
    }
    let mut ages: Vec<Instant> = table.values().map(|e| e.last).collect();
    let middle = ages.len() / 2;
    let (_, cutoff, _) = ages.select_nth_unstable(middle);
    let cutoff = *cutoff;
    table.retain(|_, e| e.last > cutoff);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The address of the tests that do not care about addresses.
    const HERE: &str = "192.0.2.1";

    impl BruteForce {
        fn admit(&self, client_id: &str, known: bool, now: Instant) -> Admission<'_> {
            self.admit_from(client_id, HERE, known, now)
        }
    }

    /// Admits `n` attempts at `now`, keeping the admitted ones in flight.
    fn burst<'a>(
        guard: &'a BruteForce,
        id: &str,
        known: bool,
        now: Instant,
        n: usize,
    ) -> (Vec<Attempt<'a>>, usize, usize) {
        let (mut admitted, mut busy, mut refused) = (Vec::new(), 0, 0);
        for _ in 0..n {
            match guard.admit(id, known, now) {
                Admission::Admitted(attempt) => admitted.push(attempt),
                Admission::Busy(_) => busy += 1,
                Admission::Refused(_) => refused += 1,
            }
        }
        (admitted, busy, refused)
    }

    /// Fails `n` attempts one after the other at `now`; returns how many were admitted.
    fn fail_sequentially(
        guard: &BruteForce,
        id: &str,
        known: bool,
        now: Instant,
        n: usize,
    ) -> usize {
        (0..n)
            .filter(|_| match guard.admit(id, known, now) {
                Admission::Admitted(attempt) => {
                    attempt.finish(false, now);
                    true
                }
                _ => false,
            })
            .count()
    }

    fn refused_for(admission: Admission<'_>) -> Option<Duration> {
        match admission {
            Admission::Refused(wait) => Some(wait),
            _ => None,
        }
    }

    #[test]
    fn concurrent_attempts_beyond_the_budget_wait_instead_of_being_refused() {
        let guard = BruteForce::default();
        let t0 = Instant::now();
        let (in_flight, busy, refused) = burst(&guard, "client", true, t0, 64);
        assert_eq!(in_flight.len(), FREE_ATTEMPTS as usize);
        assert_eq!((busy, refused), (64 - FREE_ATTEMPTS as usize, 0));
        // One right secret frees the budget; the waiters are admitted, never refused.
        let mut in_flight = in_flight.into_iter();
        if let Some(attempt) = in_flight.next() {
            attempt.finish(true, t0);
        }
        let (more, busy, refused) = burst(&guard, "client", true, t0, 64);
        assert_eq!((more.len(), busy, refused), (1, 63, 0));
    }

    #[test]
    fn failures_are_counted_when_verification_fails_not_when_admitted() {
        let guard = BruteForce::default();
        let t0 = Instant::now();
        let (in_flight, _, _) = burst(&guard, "client", true, t0, FREE_ATTEMPTS as usize);
        for attempt in in_flight {
            attempt.finish(true, t0);
        }
        // Only successes so far: a fresh budget, and the client id is forgotten.
        assert_eq!(guard.tracked(), (0, 0));
        // Dropped handles (early returns, cancelled requests) count as failures.
        let (in_flight, _, _) = burst(&guard, "client", true, t0, FREE_ATTEMPTS as usize);
        drop(in_flight);
        assert!(refused_for(guard.admit("client", true, t0 + Duration::from_millis(1))).is_some());
    }

    #[test]
    fn after_the_free_failures_one_probe_at_a_time_per_doubling_period() {
        let guard = BruteForce::default();
        let t0 = Instant::now();
        assert_eq!(
            fail_sequentially(&guard, "client", true, t0, 50),
            FREE_ATTEMPTS as usize
        );
        assert_eq!(
            refused_for(guard.admit("client", true, t0)),
            Some(BASE_DELAY)
        );
        let mut now = t0;
        for failures in FREE_ATTEMPTS..FREE_ATTEMPTS + 8 {
            now += period(failures);
            // A burst when the period ends: one probe admitted, everything else refused at
            // once (not told to wait) while it is in flight.
            let (probes, busy, refused) = burst(&guard, "client", true, now, 50);
            assert_eq!(
                (probes.len(), busy, refused),
                (1, 0, 49),
                "after {failures}"
            );
            for probe in probes {
                probe.finish(false, now);
            }
        }
        let periods: Vec<Duration> = (FREE_ATTEMPTS..FREE_ATTEMPTS + 8).map(period).collect();
        assert_eq!(periods[0], BASE_DELAY);
        assert_eq!(periods[1], BASE_DELAY.saturating_mul(2));
        assert_eq!(periods.last().copied(), Some(MAX_DELAY));
    }

    #[test]
    fn parallel_attempts_cannot_exceed_the_budget_in_flight_plus_failed() {
        let guard = BruteForce::default();
        let t0 = Instant::now();
        // (failed first, then in flight at once) -> admitted of a 50-attempt burst
        let cases = [(0, 5), (1, 4), (3, 2), (4, 1), (5, 0)];
        for (i, (failed, expected)) in cases.into_iter().enumerate() {
            let id = format!("client-{i}");
            assert_eq!(fail_sequentially(&guard, &id, true, t0, failed), failed);
            let (admitted, _, _) = burst(&guard, &id, true, t0, 50);
            assert_eq!(admitted.len(), expected, "after {failed} failures");
        }
    }

    #[test]
    fn a_success_forgets_the_failures_and_other_clients_are_unaffected() {
        let guard = BruteForce::default();
        let t0 = Instant::now();
        fail_sequentially(&guard, "client", true, t0, 50);
        assert!(refused_for(guard.admit("client", true, t0)).is_some());
        assert!(
            matches!(guard.admit("other", true, t0), Admission::Admitted(_)),
            "another client id is not throttled"
        );
        let probe_time = t0 + BASE_DELAY;
        let Admission::Admitted(probe) = guard.admit("client", true, probe_time) else {
            panic!("the probe is admitted after the period");
        };
        probe.finish(true, probe_time);
        let (admitted, _, refused) = burst(&guard, "client", true, probe_time, 50);
        assert_eq!((admitted.len(), refused), (FREE_ATTEMPTS as usize, 0));
    }

    #[test]
    fn the_right_secret_waits_at_most_the_longest_period_after_an_attack() {
        let guard = BruteForce::default();
        let mut now = Instant::now();
        // A long attack honouring every Retry-After.
        for _ in 0..40 {
            match guard.admit("client", true, now) {
                Admission::Admitted(attempt) => attempt.finish(false, now),
                Admission::Refused(wait) => now += wait,
                Admission::Busy(_) => panic!("a sequential attacker is never told to wait"),
            }
        }
        // The attack stops; the owner retries until admitted.
        let stopped = now;
        while let Some(wait) = refused_for(guard.admit("client", true, now)) {
            now += wait;
        }
        assert!(now - stopped <= MAX_DELAY, "{:?}", now - stopped);
    }

    #[test]
    fn a_quiet_window_forgets_the_failures() {
        let guard = BruteForce::default();
        let t0 = Instant::now();
        fail_sequentially(&guard, "client", true, t0, 50);
        let later = t0 + WINDOW + Duration::from_secs(1);
        assert_eq!(
            fail_sequentially(&guard, "client", true, later, 50),
            FREE_ATTEMPTS as usize
        );
        assert_eq!(guard.tracked(), (1, 0));
        // The next admission a window later sweeps the quiet client away.
        let much_later = later + WINDOW + Duration::from_secs(1);
        match guard.admit("other", true, much_later) {
            Admission::Admitted(attempt) => attempt.finish(true, much_later),
            _ => panic!("a fresh client is admitted"),
        }
        assert_eq!(guard.tracked(), (0, 0));
    }

    #[test]
    fn unknown_ids_are_throttled_alike_so_a_429_reveals_nothing() {
        let guard = BruteForce::default();
        let t0 = Instant::now();
        for known in [true, false] {
            let id = format!("client-{known}");
            assert_eq!(
                fail_sequentially(&guard, &id, known, t0, 50),
                FREE_ATTEMPTS as usize
            );
            assert_eq!(refused_for(guard.admit(&id, known, t0)), Some(BASE_DELAY));
            let (admitted, busy, _) = burst(&guard, &format!("burst-{known}"), known, t0, 50);
            assert_eq!((admitted.len(), busy), (5, 45), "known={known}");
        }
    }

    #[test]
    fn spraying_unknown_ids_stays_bounded_and_never_resets_a_known_clients_lockout() {
        let guard = BruteForce::default();
        let t0 = Instant::now();
        fail_sequentially(&guard, "client", true, t0, 50);
        for i in 0..(3 * MAX_UNKNOWN) {
            let now = t0 + Duration::from_micros(i as u64);
            let id = format!("spray-{i}-{}", "x".repeat(i % 512));
            fail_sequentially(&guard, &id, false, now, 1);
        }
        let (known, unknown) = guard.tracked();
        assert_eq!(known, 1);
        assert!(unknown <= MAX_UNKNOWN, "{unknown}");
        assert!(
            refused_for(guard.admit("client", true, t0 + Duration::from_millis(50))).is_some(),
            "still locked out"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_connections_with_the_right_secret_all_get_in_and_none_is_refused() {
        let guard = Arc::new(BruteForce::default());
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let guard = Arc::clone(&guard);
                tokio::spawn(async move {
                    let attempt = guard.admit_waiting("client", HERE, true).await?;
                    tokio::task::yield_now().await; // the verification
                    attempt.succeeded();
                    Ok::<(), Duration>(())
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.expect("join"), Ok(()));
        }
        assert_eq!(guard.tracked(), (0, 0));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn waiters_are_refused_at_once_when_the_attempts_in_flight_fail() {
        let guard = Arc::new(BruteForce::default());
        let t0 = Instant::now();
        let (in_flight, _, _) = burst(&guard, "client", true, t0, FREE_ATTEMPTS as usize);
        let waiters: Vec<_> = (0..16)
            .map(|_| {
                let guard = Arc::clone(&guard);
                tokio::spawn(async move {
                    let started = tokio::time::Instant::now();
                    let outcome = guard.admit_waiting("client", HERE, true).await.map(drop);
                    (outcome, started.elapsed())
                })
            })
            .collect();
        drop(in_flight); // all five fail
        for waiter in waiters {
            let (outcome, waited) = waiter.await.expect("join");
            assert!(outcome.is_err(), "a waiter was admitted while locked out");
            assert!(
                waited < MAX_DELAY,
                "waited {waited:?} instead of being refused"
            );
        }
    }

    #[test]
    fn an_attack_from_other_addresses_never_locks_out_the_owner_at_its_own_address() {
        let guard = BruteForce::default();
        let t0 = Instant::now();
        let Admission::Admitted(first) = guard.admit_from("client", "10.0.0.1", true, t0) else {
            panic!("the owner's first attempt is admitted");
        };
        first.finish(true, t0);
        let mut guesses = 0;
        for i in 0..1000 {
            let address = format!("198.51.100.{}", i % 250) + &format!(":{i}");
            for _ in 0..FREE_ATTEMPTS {
                if let Admission::Admitted(attempt) = guard.admit_from("client", &address, true, t0)
                {
                    attempt.finish(false, t0);
                    guesses += 1;
                }
            }
        }
        assert_eq!(
            guesses, ID_BURST as usize,
            "guesses beyond the per-id budget"
        );
        // The owner, from its own address, is admitted at once, again and again.
        for n in 0..10 {
            let now = t0 + Duration::from_millis(n);
            let Admission::Admitted(attempt) = guard.admit_from("client", "10.0.0.1", true, now)
            else {
                panic!("the owner was refused during the attack");
            };
            attempt.finish(true, now);
        }
        // A new address of the owner shares the attacker's empty budget until it refills.
        assert!(refused_for(guard.admit_from("client", "10.0.0.2", true, t0)).is_some());
        let later = t0 + ID_REFILL;
        assert!(matches!(
            guard.admit_from("client", "10.0.0.2", true, later),
            Admission::Admitted(_)
        ));
    }

    #[test]
    fn guesses_per_client_id_stay_bounded_whatever_the_number_of_addresses() {
        let guard = BruteForce::default();
        let t0 = Instant::now();
        let minutes = 5u32;
        let mut guesses = 0u32;
        for second in 0..(60 * minutes) {
            let now = t0 + Duration::from_secs(u64::from(second));
            for i in 0..50 {
                let address = format!("203.0.113.{i}:{second}");
                if let Admission::Admitted(attempt) =
                    guard.admit_from("client", &address, true, now)
                {
                    attempt.finish(false, now);
                    guesses += 1;
                }
            }
        }
        let bound = ID_BURST as u32 + 60 * minutes / ID_REFILL.as_secs() as u32;
        assert!(guesses <= bound, "{guesses} guesses > {bound}");
        assert!(
            guesses >= bound - 1,
            "the budget refills ({guesses} of {bound})"
        );
    }

    #[test]
    fn stale_pairs_and_idle_budgets_are_swept_by_admission() {
        let guard = BruteForce::default();
        let t0 = Instant::now();
        for i in 0..100 {
            fail_sequentially(&guard, &format!("id-{i}"), i % 2 == 0, t0, 1);
        }
        assert_eq!(guard.tracked(), (50, 50));
        let later = t0 + WINDOW * 2 + ID_REFILL * (ID_BURST as u32);
        let Admission::Admitted(attempt) = guard.admit("fresh", true, later) else {
            panic!("admitted");
        };
        attempt.finish(true, later);
        assert_eq!(guard.tracked(), (0, 0));
        assert!(guard.lock().budgets.len() <= 1);
    }
}
