//! Brute-force protection of the token endpoint, per `client_id`.
//!
//! **Policy.** Every admitted attempt counts as a failure until it succeeds. The first
//! [`FREE_ATTEMPTS`] within [`WINDOW`] are admitted at once; after that a client id is admitted
//! once per period of `BASE_DELAY · 2^(failures − FREE_ATTEMPTS)`, capped at [`MAX_DELAY`], and
//! every attempt in between is refused at once (the token endpoint answers 429 with
//! `Retry-After`) before any secret is verified. A success forgets the client id; so does a
//! quiet [`WINDOW`]. The right secret therefore waits at most [`MAX_DELAY`] once an attack
//! stops.
//!
//! **Why refuse rather than delay.** Sleeping before each verification does not bound the
//! guessing rate: N parallel connections make N guesses per period, and every parked request
//! holds a task and a connection. A refusal costs nothing, never spends an argon2 verification
//! (about 22 ms of a core) on an attacker, and holds the rate to one guess per period whatever
//! the concurrency.
//!
//! **Memory.** Keys are SHA-256 digests of the client id (32 bytes whatever its length). Client
//! ids of the snapshot ("known") live in one table, bounded by the number of credentials and
//! never evicted early, so spraying other ids cannot reset a real client's lockout. Unknown ids
//! are tracked too, so a 429 does not reveal which ids exist, in a second table capped at
//! [`MAX_UNKNOWN`] entries that evicts the stalest half when full (losing an unknown id's
//! history only returns free guesses at a secret that does not exist).
//!
//! **Trade-off.** While an attack on one client id goes on, its owner competes for the one
//! attempt per period. Keying by client id and address would ease that, but would let a
//! distributed attacker multiply its rate; per-client is the bound the issue asks for.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Attempts admitted without delay within [`WINDOW`].
pub const FREE_ATTEMPTS: u32 = 5;
/// The period after the free attempts; doubles with each further failure.
pub const BASE_DELAY: Duration = Duration::from_millis(100);
/// The longest period (and so the longest the right secret waits after an attack).
pub const MAX_DELAY: Duration = Duration::from_secs(2);
/// A client id without attempts for this long is forgotten.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Most unknown client ids tracked at once.
pub const MAX_UNKNOWN: usize = 10_000;

type Key = [u8; 32];

#[derive(Clone, Copy, Debug)]
struct Entry {
    /// Admitted attempts not followed by a success.
    failures: u32,
    /// When the last attempt was admitted.
    last: Instant,
    /// When the next attempt may be admitted.
    next: Instant,
}

#[derive(Debug, Default)]
struct Tables {
    known: HashMap<Key, Entry>,
    unknown: HashMap<Key, Entry>,
}

/// The per-client-id attempt table shared by every worker.
#[derive(Debug, Default)]
pub struct BruteForce {
    tables: Mutex<Tables>,
}

/// The period before the attempt after `failures` failures.
pub fn period(failures: u32) -> Duration {
    match failures.checked_sub(FREE_ATTEMPTS) {
        None => Duration::ZERO,
        Some(excess) => BASE_DELAY
            .saturating_mul(1u32 << excess.min(16))
            .min(MAX_DELAY),
    }
}

fn key(client_id: &str) -> Key {
    Sha256::digest(client_id.as_bytes()).into()
}

impl BruteForce {
    fn lock(&self) -> MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits an authentication attempt for `client_id` (`known`: it names a credential of the
    /// snapshot), or refuses it with how long to wait. An admitted attempt counts as a failure
    /// until [`BruteForce::succeeded`] is called.
    pub fn admit(&self, client_id: &str, known: bool, now: Instant) -> Result<(), Duration> {
        let key = key(client_id);
        let mut tables = self.lock();
        if !known && !tables.unknown.contains_key(&key) && tables.unknown.len() >= MAX_UNKNOWN {
            evict_stalest_half(&mut tables.unknown, now);
        }
        let table = if known {
            &mut tables.known
        } else {
            &mut tables.unknown
        };
        let entry = table.entry(key).or_insert(Entry {
            failures: 0,
            last: now,
            next: now,
        });
        if now.saturating_duration_since(entry.last) > WINDOW {
            *entry = Entry {
                failures: 0,
                last: now,
                next: now,
            };
        }
        if now < entry.next {
            return Err(entry.next - now);
        }
        entry.failures = entry.failures.saturating_add(1);
        entry.last = now;
        entry.next = now + period(entry.failures);
        Ok(())
    }

    /// Forgets `client_id` after a successful authentication.
    pub fn succeeded(&self, client_id: &str) {
        let key = key(client_id);
        let mut tables = self.lock();
        tables.known.remove(&key);
        tables.unknown.remove(&key);
    }

    /// Drops every entry quiet for longer than [`WINDOW`] (call it now and then; admission
    /// also resets a stale entry on its own).
    pub fn forget_stale(&self, now: Instant) {
        let mut tables = self.lock();
        let fresh = |e: &mut Entry| now.saturating_duration_since(e.last) <= WINDOW;
        tables.known.retain(|_, e| fresh(e));
        tables.unknown.retain(|_, e| fresh(e));
    }

    /// Client ids tracked: (known, unknown).
    pub fn tracked(&self) -> (usize, usize) {
        let tables = self.lock();
        (tables.known.len(), tables.unknown.len())
    }
}

/// Drops stale entries, and if that is not enough the least recently used half.
fn evict_stalest_half(table: &mut HashMap<Key, Entry>, now: Instant) {
    table.retain(|_, e| now.saturating_duration_since(e.last) <= WINDOW);
    if table.len() < MAX_UNKNOWN {
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

    fn admitted(guard: &BruteForce, id: &str, known: bool, now: Instant, n: usize) -> usize {
        (0..n)
            .filter(|_| guard.admit(id, known, now).is_ok())
            .count()
    }

    #[test]
    fn the_free_attempts_pass_then_one_attempt_per_doubling_period() {
        let guard = BruteForce::default();
        let t0 = Instant::now();
        // A burst at one instant: only the free attempts pass.
        assert_eq!(
            admitted(&guard, "client", true, t0, 50),
            FREE_ATTEMPTS as usize
        );
        let refused = guard.admit("client", true, t0).expect_err("refused");
        assert_eq!(refused, BASE_DELAY);
        // Each later period admits exactly one attempt, and the periods double to the cap.
        let mut now = t0;
        let mut periods = Vec::new();
        for failures in FREE_ATTEMPTS..FREE_ATTEMPTS + 8 {
            now += period(failures);
            assert_eq!(
                admitted(&guard, "client", true, now, 50),
                1,
                "after {failures}"
            );
            periods.push(period(failures + 1));
        }
        assert_eq!(periods[0], BASE_DELAY.saturating_mul(2));
        assert_eq!(periods.last().copied(), Some(MAX_DELAY));
    }

    #[test]
    fn a_success_forgets_the_client_and_other_clients_are_unaffected() {
        let guard = BruteForce::default();
        let t0 = Instant::now();
        admitted(&guard, "client", true, t0, 50);
        assert!(guard.admit("client", true, t0).is_err());
        assert!(
            guard.admit("other", true, t0).is_ok(),
            "another client id is not throttled"
        );
        guard.succeeded("client");
        assert!(guard.admit("client", true, t0).is_ok());
    }

    #[test]
    fn the_right_secret_waits_at_most_the_longest_period_after_an_attack() {
        let guard = BruteForce::default();
        let t0 = Instant::now();
        let mut now = t0;
        // A long attack honouring every Retry-After.
        for _ in 0..40 {
            match guard.admit("client", true, now) {
                Ok(()) => {}
                Err(wait) => now += wait,
            }
        }
        // The attack stops; the owner retries until admitted.
        let stopped = now;
        while let Err(wait) = guard.admit("client", true, now) {
            now += wait;
        }
        assert!(now - stopped <= MAX_DELAY, "{:?}", now - stopped);
    }

    #[test]
    fn a_quiet_window_forgets_the_failures() {
        let guard = BruteForce::default();
        let t0 = Instant::now();
        admitted(&guard, "client", true, t0, 50);
        let later = t0 + WINDOW + Duration::from_secs(1);
        assert_eq!(
            admitted(&guard, "client", true, later, 50),
            FREE_ATTEMPTS as usize
        );
        guard.forget_stale(later + WINDOW + Duration::from_secs(1));
        assert_eq!(guard.tracked(), (0, 0));
    }

    #[test]
    fn unknown_ids_are_throttled_alike_so_a_429_reveals_nothing() {
        let guard = BruteForce::default();
        let t0 = Instant::now();
        assert_eq!(
            admitted(&guard, "no-such-client", false, t0, 50),
            admitted(&guard, "client", true, t0, 50)
        );
    }

    #[test]
    fn spraying_unknown_ids_stays_bounded_and_never_resets_a_known_clients_lockout() {
        let guard = BruteForce::default();
        let t0 = Instant::now();
        admitted(&guard, "client", true, t0, 50);
        for i in 0..(3 * MAX_UNKNOWN) {
            let now = t0 + Duration::from_micros(i as u64);
            let _ = guard.admit(&format!("spray-{i}-{}", "x".repeat(i % 512)), false, now);
        }
        let (known, unknown) = guard.tracked();
        assert_eq!(known, 1);
        assert!(unknown <= MAX_UNKNOWN, "{unknown}");
        assert!(
            guard
                .admit("client", true, t0 + Duration::from_millis(50))
                .is_err(),
            "still locked out"
        );
    }
}
