//! Client-secret verifiers with a memo: argon2id costs ~20 ms and 19 MiB per hash, so
//! re-translating an unchanged set of credentials must not hash again, a restart must not hash
//! everything again (the [verifier cache](super::verifier_cache)), and a flood of new secrets
//! must not hold up the rest of the translation (the [hashing pool](super::hash_pool)).
//!
//! The memo holds, per credential id (by its [tag](super::verifier_cache::credential_tag): 16
//! bytes rather than a string), the argon2id verifier and the SHA-256 of the plaintext it was
//! computed from, in memory only; the plaintext itself is never stored, logged or printed. A
//! salted SHA-256 verifier (`hashSecret: false`) is not memoized: deriving it again costs less
//! than looking it up.
//!
//! Without a pool ([`SecretHasher::new`]) argon2id runs inline, so every verdict is ready: tests
//! and tools use that. With one ([`SecretHasher::with_pool`]) a secret not yet hashed is
//! [`Verdict::Pending`] and the credential stays out of the snapshot until its verifier is ready.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use tollgate_core::secret::{
    SecretError, Verifier, deterministic_salt, hash_argon2id, hash_sha256, looks_like_verifier,
};
use zeroize::Zeroizing;

use super::hash_pool::{HashPool, Job};
use super::verifier_cache::{
    self, CacheError, CredentialTag, Entries, Sealed, SecretOrigin, credential_tag,
};

/// The argon2id verifier last computed for a credential, and the digest of the secret it was
/// computed from.
struct Memo {
    digest: [u8; 32],
    verifier: Box<str>,
    /// The sealed copy kept between runs (argon2id verifiers only).
    sealed: Option<Box<Sealed>>,
    /// The round that last asked for it.
    round: u64,
}

/// The outcome of asking for a credential's verifier.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Ready(String),
    /// Being hashed in the background; ask again in a later round.
    Pending,
    Failed(SecretError),
}

/// Turns Secret values into verifiers, remembering one verifier per credential (its current
/// secret) between translations.
#[derive(Default)]
pub struct SecretHasher {
    /// By credential tag (of the credential id, or of a previous secret's slot).
    memo: HashMap<CredentialTag, Memo>,
    round: u64,
    computed: u64,
    from_cache: u64,
    pool: Option<Arc<HashPool>>,
    /// Credential id → digest of the secret submitted to the pool.
    pending: HashMap<String, [u8; 32]>,
    failed: HashMap<String, ([u8; 32], SecretError)>,
    /// Sealed verifiers of a previous run, until the first round has used what it can.
    kept: Entries,
    /// Whether the sealed verifiers differ from what was last handed to [`Self::take_cache`].
    cache_dirty: bool,
}

impl fmt::Debug for SecretHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretHasher")
            .field("memoized", &self.memo.len())
            .field("computed", &self.computed)
            .field("from_cache", &self.from_cache)
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl SecretHasher {
    /// A hasher that hashes inline.
    pub fn new() -> Self {
        Self::default()
    }

    /// A hasher that hashes on `pool` and never blocks.
    pub fn with_pool(pool: Arc<HashPool>) -> Self {
        Self {
            pool: Some(pool),
            ..Self::default()
        }
    }

    /// Adds sealed verifiers kept by a previous run (see [`verifier_cache`]). Entries that do not
    /// belong to a current secret are simply never opened, and are dropped after the next round.
    pub fn load_cache(&mut self, bytes: &[u8]) -> Result<usize, CacheError> {
        let entries = verifier_cache::decode(bytes)?;
        let count = entries.len();
        self.kept.extend(entries);
        Ok(count)
    }

    /// The verifier of a Secret value for a credential: the value itself when it already is a
    /// PHC verifier (migration from Kong), else argon2id (`hash_secret`) or salted SHA-256, with
    /// the salt derived from the credential id so equal inputs give equal verifiers. `origin`
    /// binds the kept copy to the Secret the value came from (operator mode).
    pub fn verifier(
        &mut self,
        credential_id: &str,
        hash_secret: bool,
        value: &[u8],
        origin: Option<SecretOrigin<'_>>,
    ) -> Verdict {
        if let Some(verdict) = Self::derived(credential_id, hash_secret, value) {
            return verdict;
        }
        let salt = deterministic_salt(credential_id);
        let digest: [u8; 32] = Sha256::digest(value).into();
        let tag = credential_tag(credential_id);
        if let Some(memo) = self.memo.get_mut(&tag)
            && memo.digest == digest
        {
            memo.round = self.round;
            return Verdict::Ready(memo.verifier.to_string());
        }
        if let Some((failed, _)) = self.failed.get(credential_id)
            && *failed == digest
            && let Some((_, err)) = self.failed.remove(credential_id)
        {
            return Verdict::Failed(err);
        }
        let seal = verifier_cache::seal_key(credential_id, origin, value);
        if let Some(kept) = self.kept.get(&tag)
            && let Some(verifier) = kept.open(&seal)
            && looks_like_verifier(&verifier)
        {
            let sealed = Some(kept.clone());
            self.from_cache += 1;
            self.remember(tag, digest, &verifier, sealed);
            return Verdict::Ready(verifier);
        }
        let Some(pool) = &self.pool else {
            return match hash_argon2id(value, &salt) {
                Ok(verifier) => {
                    self.computed += 1;
                    let sealed = Sealed::seal(&seal, &verifier);
                    self.cache_dirty = true;
                    self.remember(tag, digest, &verifier, sealed);
                    Verdict::Ready(verifier)
                }
                Err(err) => Verdict::Failed(err),
            };
        };
        if self.pending.get(credential_id) != Some(&digest) {
            pool.submit(Job {
                credential_id: credential_id.to_owned(),
                digest,
                secret: Zeroizing::new(value.to_vec()),
                seal,
            });
            self.pending.insert(credential_id.to_owned(), digest);
        }
        Verdict::Pending
    }

    /// The verdict of [`Self::verifier`] when it needs no memo, pool or cache: a value that
    /// already is a verifier, or a salted SHA-256 verifier (`hash_secret` false). `None` when the
    /// value is to be hashed with argon2id. A pure function, so callers may run it on several
    /// threads.
    pub fn derived(credential_id: &str, hash_secret: bool, value: &[u8]) -> Option<Verdict> {
        if value.starts_with(b"$")
            && let Ok(text) = std::str::from_utf8(value)
        {
            match Verifier::parse(text) {
                Ok(_) => return Some(Verdict::Ready(text.to_owned())),
                // A pre-hashed verifier whose cost is beyond the bounds is refused, not taken for
                // a plaintext secret that happens to start with `$`.
                Err(e @ SecretError::OutOfBounds(_)) => return Some(Verdict::Failed(e)),
                Err(_) => {}
            }
        }
        // Derived again in every round: two SHA-256 computations cost less than finding it in
        // a memo, which at 100,000 credentials would hold some 20 MiB.
        (!hash_secret)
            .then(|| Verdict::Ready(hash_sha256(value, &deterministic_salt(credential_id))))
    }

    /// Lets `slot` start from the argon2id verifier memoized under `from` when it was computed
    /// from the same value, so a secret that moves from the current slot to a previous one (a
    /// rotation) is not hashed again. The values are compared by digest only. (A SHA-256
    /// verifier is derived again anyway.)
    pub fn adopt(&mut self, slot: &str, from: &str, hash_secret: bool, value: &[u8]) {
        if !hash_secret {
            return;
        }
        let digest: [u8; 32] = Sha256::digest(value).into();
        let slot = credential_tag(slot);
        if self.memo.get(&slot).is_some_and(|m| m.digest == digest) {
            return;
        }
        let Some(found) = self.memo.get(&credential_tag(from)) else {
            return;
        };
        if found.digest != digest {
            return;
        }
        // The sealed copy is bound to the slot it was sealed for: not kept for this one.
        let verifier = found.verifier.clone();
        self.remember(slot, digest, &verifier, None);
    }

    fn remember(
        &mut self,
        tag: CredentialTag,
        digest: [u8; 32],
        verifier: &str,
        sealed: Option<Sealed>,
    ) {
        self.memo.insert(
            tag,
            Memo {
                digest,
                verifier: verifier.into(),
                sealed: sealed.map(Box::new),
                round: self.round,
            },
        );
    }

    /// Takes the hashes the pool finished since the last call into the memo. Called at the start
    /// of every translation.
    pub fn collect(&mut self) {
        let Some(pool) = &self.pool else { return };
        for done in pool.take_done() {
            if self.pending.get(&done.credential_id) == Some(&done.digest) {
                self.pending.remove(&done.credential_id);
            }
            match done.result {
                Ok(verifier) => {
                    self.computed += 1;
                    self.cache_dirty = true;
                    let sealed = Sealed::seal(&done.seal, &verifier);
                    self.remember(
                        credential_tag(&done.credential_id),
                        done.digest,
                        &verifier,
                        sealed,
                    );
                }
                Err(err) => {
                    self.failed.insert(done.credential_id, (done.digest, err));
                }
            }
        }
    }

    /// Forgets the verifiers of credentials not asked for since the previous call (deleted
    /// credentials), and the kept copies of a previous run that nothing used.
    pub fn end_round(&mut self) {
        let round = self.round;
        let before = self.memo.len();
        self.memo.retain(|_, memo| memo.round == round);
        if self.memo.len() != before || !self.kept.is_empty() {
            self.cache_dirty = true;
        }
        self.kept = Entries::new();
        self.failed.clear();
        self.round += 1;
    }

    /// How many argon2id verifiers were computed (not served from the memo or the cache) since
    /// creation. SHA-256 verifiers, derived in every round, are not counted.
    pub fn computed(&self) -> u64 {
        self.computed
    }

    /// How many verifiers came from the cache of a previous run.
    pub fn from_cache(&self) -> u64 {
        self.from_cache
    }

    /// How many verifiers the memo holds.
    pub fn memoized(&self) -> usize {
        self.memo.len()
    }

    /// Credentials whose secret is being hashed.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The sealed verifiers to keep, when they changed since the last call.
    pub fn take_cache(&mut self) -> Option<Entries> {
        if !self.cache_dirty {
            return None;
        }
        self.cache_dirty = false;
        Some(
            self.memo
                .iter()
                .filter_map(|(tag, memo)| Some((*tag, memo.sealed.as_deref()?.clone())))
                .collect(),
        )
    }

    /// Marks the cache as not written (a write failed): the next [`Self::take_cache`] returns it.
    pub fn cache_unwritten(&mut self) {
        self.cache_dirty = true;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn ready(verdict: Verdict) -> String {
        match verdict {
            Verdict::Ready(v) => v,
            other => panic!("expected a verifier, got {other:?}"),
        }
    }

    #[test]
    fn an_unchanged_secret_is_hashed_once_across_rounds() {
        let mut hasher = SecretHasher::new();
        let first = ready(hasher.verifier("cred-1", true, b"secret", None));
        hasher.end_round();
        let second = ready(hasher.verifier("cred-1", true, b"secret", None));
        assert_eq!(first, second);
        assert!(first.starts_with("$argon2id$"));
        assert_eq!(hasher.computed(), 1);
    }

    #[test]
    fn a_changed_secret_gets_a_new_verifier_and_the_old_one_is_forgotten() {
        let mut hasher = SecretHasher::new();
        let old = ready(hasher.verifier("cred-1", true, b"old", None));
        hasher.end_round();
        let new = ready(hasher.verifier("cred-1", true, b"new", None));
        hasher.end_round();
        assert_ne!(old, new);
        assert_eq!(hasher.memoized(), 1);
        assert_eq!(hasher.computed(), 2);
    }

    #[test]
    fn verifier_modes_and_credentials_do_not_share_memo_entries() {
        let mut hasher = SecretHasher::new();
        let a = ready(hasher.verifier("cred-1", false, b"s", None));
        let b = ready(hasher.verifier("cred-2", false, b"s", None));
        let c = ready(hasher.verifier("cred-1", true, b"s", None));
        let d = ready(hasher.verifier("cred-2", true, b"s", None));
        assert!(a.starts_with("$sha256$"));
        assert_ne!(a, b, "salts differ per credential");
        assert!(c.starts_with("$argon2id$") && d.starts_with("$argon2id$"));
        assert_ne!(c, d, "salts differ per credential");
        assert_eq!(
            ready(hasher.verifier("cred-1", false, b"s", None)),
            a,
            "the SHA-256 verifier is not taken for the argon2id one"
        );
        assert_eq!(hasher.computed(), 2);
    }

    #[test]
    fn sha256_verifiers_are_derived_again_and_never_memoized() {
        let mut hasher = SecretHasher::new();
        let first = ready(hasher.verifier("cred-1", false, b"s", None));
        hasher.end_round();
        assert_eq!(ready(hasher.verifier("cred-1", false, b"s", None)), first);
        assert_ne!(ready(hasher.verifier("cred-1", false, b"t", None)), first);
        assert_eq!((hasher.memoized(), hasher.computed()), (0, 0));
        hasher.adopt("cred-1#previous/s/k", "cred-1", false, b"s");
        assert_eq!(hasher.memoized(), 0);
    }

    #[test]
    fn a_value_that_already_is_a_verifier_is_used_as_is() {
        let mut hasher = SecretHasher::new();
        let kong = "$pbkdf2-sha512$i=10000,l=32$c2FsdHNhbHRzYWx0c2FsdA$\
                    YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXoxMjM0NTY";
        let verifier = ready(hasher.verifier("cred-1", true, kong.as_bytes(), None));
        assert_eq!(verifier, kong);
        assert_eq!(hasher.computed(), 0);
    }

    #[test]
    fn debug_output_shows_counts_only() {
        let mut hasher = SecretHasher::new();
        ready(hasher.verifier("cred-1", false, b"hunter2", None));
        let debug = format!("{hasher:?}");
        assert!(!debug.contains("hunter2"));
        assert!(!debug.contains("sha256$"));
    }

    fn pool() -> Arc<HashPool> {
        Arc::new(HashPool::new(1, || {}).expect("pool"))
    }

    #[test]
    fn with_a_pool_a_new_secret_is_pending_until_hashed_and_then_served() {
        let pool = pool();
        let mut hasher = SecretHasher::with_pool(Arc::clone(&pool));
        assert_eq!(
            hasher.verifier("cred-1", true, b"s", None),
            Verdict::Pending
        );
        assert_eq!(
            hasher.verifier("cred-1", true, b"s", None),
            Verdict::Pending,
            "asked again: not submitted twice"
        );
        assert_eq!(hasher.pending(), 1);
        assert!(pool.wait_idle(Duration::from_secs(60)));
        assert_eq!(
            pool.held_bytes(),
            0,
            "the work buffer is given back when idle"
        );
        hasher.collect();
        let verifier = ready(hasher.verifier("cred-1", true, b"s", None));
        assert_eq!(hasher.pending(), 0);
        assert_eq!(hasher.computed(), 1);
        let inline = ready(SecretHasher::new().verifier("cred-1", true, b"s", None));
        assert_eq!(verifier, inline, "the pool computes the same verifier");
    }

    #[test]
    fn a_secret_changed_while_hashing_is_not_served_the_old_verifier() {
        let pool = pool();
        let mut hasher = SecretHasher::with_pool(Arc::clone(&pool));
        assert_eq!(hasher.verifier("c", true, b"old", None), Verdict::Pending);
        assert_eq!(hasher.verifier("c", true, b"new", None), Verdict::Pending);
        assert!(pool.wait_idle(Duration::from_secs(60)));
        hasher.collect();
        let served = ready(hasher.verifier("c", true, b"new", None));
        let expected = ready(SecretHasher::new().verifier("c", true, b"new", None));
        assert_eq!(served, expected);
    }

    #[test]
    fn kept_verifiers_spare_a_restart_the_hashing_and_only_for_the_same_secret() {
        let origin = SecretOrigin {
            uid: "uid-1",
            key: "client_secret",
        };
        let mut first = SecretHasher::new();
        let verifier = ready(first.verifier("cred-1", true, b"s", Some(origin)));
        ready(first.verifier("cred-2", true, b"t", Some(origin)));
        first.end_round();
        let cache = verifier_cache::encode(&first.take_cache().expect("dirty"));
        assert!(first.take_cache().is_none(), "handed out once");

        let mut restarted = SecretHasher::new();
        assert_eq!(restarted.load_cache(&cache), Ok(2));
        assert_eq!(
            ready(restarted.verifier("cred-1", true, b"s", Some(origin))),
            verifier
        );
        // A rotated secret, or the same value in another Secret, is hashed again.
        ready(restarted.verifier("cred-2", true, b"rotated", Some(origin)));
        assert_eq!((restarted.from_cache(), restarted.computed()), (1, 1));
        let moved = SecretOrigin {
            uid: "uid-2",
            key: "client_secret",
        };
        let mut other = SecretHasher::new();
        other.load_cache(&cache).expect("load");
        ready(other.verifier("cred-1", true, b"s", Some(moved)));
        assert_eq!((other.from_cache(), other.computed()), (0, 1));
    }
}
