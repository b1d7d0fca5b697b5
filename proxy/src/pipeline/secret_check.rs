//! Client-secret verification off the request-serving threads.
//!
//! Expensive verifiers (argon2id, PBKDF2) run on tokio's blocking pool behind a semaphore sized
//! to half the cores, with a bounded queue in front (an overflow is refused, never queued forever).
//! Successful verifications are remembered in a bounded cache keyed by
//! HMAC-SHA256(per-process random key, verifier ‖ presented secret): the cache never holds a
//! plaintext, can only ever say "this exact pair verified before" (so it never accepts a wrong
//! secret), and forgets a credential's entries naturally when its verifier changes. A wrong
//! secret always pays a full verification.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::Semaphore;

use super::metrics::ProxyMetrics;
use crate::options::SecretCheckLimits;

type Digest = [u8; 32];

/// A parsed client-secret verifier.
pub trait Check: Send + Sync + 'static {
    /// Whether `presented` is the secret.
    fn check(&self, presented: &[u8]) -> bool;
    /// Whether a check costs milliseconds (then it runs on the pool and successes are cached).
    fn expensive(&self) -> bool;
}

impl Check for tollgate_core::secret::Verifier {
    fn check(&self, presented: &[u8]) -> bool {
        self.verify(presented)
    }

    fn expensive(&self) -> bool {
        self.is_expensive()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("too many client-secret verifications are waiting")]
    Overloaded,
    #[error("the verification task failed")]
    TaskFailed,
}

/// Two-generation cache: a full current generation becomes the old one; hits in the old one
/// are promoted. Bounded at two generations, approximately least-recently-used.
#[derive(Debug, Default)]
struct Cache {
    current: HashSet<Digest>,
    old: HashSet<Digest>,
}

impl Cache {
    fn contains(&mut self, key: &Digest, generation: usize) -> bool {
        if self.current.contains(key) {
            return true;
        }
        if self.old.remove(key) {
            self.insert(*key, generation);
            return true;
        }
        false
    }

    fn insert(&mut self, key: Digest, generation: usize) {
        if self.current.len() >= generation {
            self.old = std::mem::take(&mut self.current);
        }
        self.current.insert(key);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.current.len() + self.old.len()
    }
}

pub struct SecretVerifier {
    /// HMAC keyed with a per-process random key; `None` (no OS randomness) disables the cache.
    mac: Option<Hmac<Sha256>>,
    limits: SecretCheckLimits,
    cache: Mutex<Cache>,
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    metrics: Arc<ProxyMetrics>,
}

impl std::fmt::Debug for SecretVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretVerifier")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl SecretVerifier {
    pub fn new(limits: SecretCheckLimits, metrics: Arc<ProxyMetrics>) -> Self {
        let mut key = [0u8; 32];
        // Without OS randomness the cache key would be predictable: refuse to cache instead.
        let mac = getrandom::getrandom(&mut key)
            .ok()
            .and_then(|()| <Hmac<Sha256> as Mac>::new_from_slice(&key).ok());
        key.fill(0);
        let limits = if mac.is_some() {
            limits
        } else {
            SecretCheckLimits {
                cache_generation: 0,
                ..limits
            }
        };
        Self {
            mac,
            permits: Arc::new(Semaphore::new(limits.workers.max(1))),
            limits,
            cache: Mutex::new(Cache::default()),
            waiting: AtomicUsize::new(0),
            metrics,
        }
    }

    fn cache_key(&self, verifier: &str, presented: &[u8]) -> Option<Digest> {
        let mut mac = self.mac.clone()?;
        mac.update(&(verifier.len() as u64).to_be_bytes());
        mac.update(verifier.as_bytes());
        mac.update(presented);
        Some(mac.finalize().into_bytes().into())
    }

    /// Verifies `presented` against `parsed` (whose text form is `verifier`, the cache key).
    /// Cheap verifiers run inline; expensive ones are answered from the cache of successes or
    /// run on the bounded blocking pool.
    pub async fn verify<C: Check>(
        &self,
        verifier: &str,
        parsed: &Arc<C>,
        presented: &[u8],
    ) -> Result<bool, Error> {
        if !parsed.expensive() {
            return Ok(parsed.check(presented));
        }
        let generation = self.limits.cache_generation;
        let key = self
            .cache_key(verifier, presented)
            .filter(|_| generation > 0);
        if let Some(key) = &key
            && self.lock().contains(key, generation)
        {
            self.metrics.secret_cache(true);
            return Ok(true);
        }
        self.metrics.secret_cache(false);
        let ok = self.verify_on_pool(parsed, presented).await?;
        if ok && let Some(key) = key {
            self.lock().insert(key, generation);
        }
        Ok(ok)
    }

    async fn verify_on_pool<C: Check>(
        &self,
        parsed: &Arc<C>,
        presented: &[u8],
    ) -> Result<bool, Error> {
        let waiting = self.waiting.fetch_add(1, Ordering::AcqRel);
        let _queued = WaitingGuard(&self.waiting);
        if waiting >= self.limits.max_waiting {
            return Err(Error::Overloaded);
        }
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::TaskFailed)?;
        let parsed = parsed.clone();
        let presented = Zeroing(presented.to_vec());
        tokio::task::spawn_blocking(move || {
            let ok = parsed.check(&presented.0);
            drop(permit);
            ok
        })
        .await
        .map_err(|_| Error::TaskFailed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Entries currently cached.
    #[cfg(test)]
    pub fn cached(&self) -> usize {
        self.lock().len()
    }
}

struct WaitingGuard<'a>(&'a AtomicUsize);

impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A presented secret copied for the blocking pool, overwritten when dropped.
struct Zeroing(Vec<u8>);

impl Drop for Zeroing {
    fn drop(&mut self) {
        for b in self.0.iter_mut() {
            // A volatile-free overwrite is best effort; the buffer is short-lived either way.
            *b = 0;
        }
        std::hint::black_box(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU32;

    use super::*;

    /// A fake verifier: matches one secret, counts its checks.
    struct Fake {
        secret: &'static [u8],
        expensive: bool,
        calls: AtomicU32,
    }

    impl Check for Fake {
        fn check(&self, presented: &[u8]) -> bool {
            self.calls.fetch_add(1, Ordering::SeqCst);
            presented == self.secret
        }

        fn expensive(&self) -> bool {
            self.expensive
        }
    }

    fn fake(secret: &'static [u8], expensive: bool) -> Arc<Fake> {
        Arc::new(Fake {
            secret,
            expensive,
            calls: AtomicU32::new(0),
        })
    }

    fn pool_with(limits: SecretCheckLimits) -> SecretVerifier {
        SecretVerifier::new(limits, Arc::new(ProxyMetrics::default()))
    }

    #[tokio::test]
    async fn right_secret_is_verified_once_then_served_from_the_cache_and_wrong_ones_always_pay() {
        let pool = pool_with(SecretCheckLimits::default());
        let v = fake(b"secret", true);
        let text = "$argon2id$fake";
        assert_eq!(pool.verify(text, &v, b"secret").await, Ok(true));
        assert_eq!(pool.verify(text, &v, b"secret").await, Ok(true));
        assert_eq!(pool.verify(text, &v, b"wrong").await, Ok(false));
        assert_eq!(pool.verify(text, &v, b"wrong").await, Ok(false));
        // 1 for the first right secret, 2 for the wrong ones; the second right one was cached.
        assert_eq!(v.calls.load(Ordering::SeqCst), 3);
        assert_eq!(pool.cached(), 1);
    }

    #[tokio::test]
    async fn a_changed_verifier_does_not_reuse_the_old_cache_entry() {
        let pool = pool_with(SecretCheckLimits::default());
        let old = fake(b"s", true);
        assert_eq!(pool.verify("$argon2id$old", &old, b"s").await, Ok(true));
        let rotated = fake(b"t", true);
        assert_eq!(
            pool.verify("$argon2id$new", &rotated, b"s").await,
            Ok(false)
        );
        assert_eq!(rotated.calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn cache_keys_hold_no_plaintext_and_differ_per_pair() {
        let pool = pool_with(SecretCheckLimits::default());
        let a = pool.cache_key("$argon2id$x", b"secret").expect("key");
        let b = pool.cache_key("$argon2id$x", b"secreu").expect("key");
        assert_ne!(a, b);
        assert!(!a.windows(6).any(|w| w == b"secret"));
    }

    #[test]
    fn cache_stays_bounded_at_two_generations() {
        let mut cache = Cache::default();
        for i in 0..100u8 {
            cache.insert([i; 32], 10);
        }
        assert!(cache.len() <= 20, "{}", cache.len());
        assert!(cache.contains(&[99; 32], 10));
        assert!(!cache.contains(&[0; 32], 10));
    }

    #[tokio::test]
    async fn cheap_verifiers_run_inline_without_caching() {
        let pool = pool_with(SecretCheckLimits::default());
        let v = fake(b"x", false);
        assert_eq!(pool.verify("$sha256$s$x", &v, b"x").await, Ok(true));
        assert_eq!(pool.cached(), 0);
    }

    #[tokio::test]
    async fn a_full_queue_refuses_new_verifications() {
        let pool = pool_with(SecretCheckLimits {
            workers: 1,
            max_waiting: 0,
            cache_generation: 8,
        });
        let v = fake(b"s", true);
        assert_eq!(
            pool.verify("$argon2id$q", &v, b"s").await,
            Err(Error::Overloaded)
        );
        assert_eq!(v.calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_real_argon2id_verifier_runs_on_the_pool() {
        let salt = tollgate_core::secret::deterministic_salt("cred");
        let text = tollgate_core::secret::hash_argon2id(b"secret", &salt).expect("hash");
        let parsed = Arc::new(tollgate_core::secret::Verifier::parse(&text).expect("parse"));
        let pool = pool_with(SecretCheckLimits::default());
        assert_eq!(pool.verify(&text, &parsed, b"secret").await, Ok(true));
        assert_eq!(pool.verify(&text, &parsed, b"nope").await, Ok(false));
    }
}
