//! A per-worker cache of opened tokens: a token seen before on this worker skips base64 and
//! AEAD decryption. Only successfully opened tokens are cached, entries are tied to the
//! snapshot generation whose key ring opened them (a new snapshot starts empty, so a retired
//! key is never trusted from the cache), and revocation, expiry and binding are still checked
//! on every request by core's `authenticate`.
//!
//! Lookups hash only the token's last [`HASHED_TAIL`] bytes (part of its AEAD tag) with a fast
//! non-keyed hash: only tokens that opened, whose tags an attacker cannot choose, are ever
//! inserted, so no one can crowd a bucket; equality still compares the whole token.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Mutex;

use tollgate_core::jwt::{self, JwtClaims, JwtError, JwtKeys, JwtPolicy};
use tollgate_core::token::{Claims, KeyRing, TokenError};

use crate::shared::fx_hash::FxHasher;

/// Entries per worker before the cache starts over.
pub const CAPACITY: usize = 8192;

/// Bytes at the end of a token that its hash covers.
pub const HASHED_TAIL: usize = 16;

/// Hashes the tail of each `write` (a `str` key arrives as one write plus a `0xff` marker).
#[derive(Default)]
struct TailHasher(FxHasher);

impl Hasher for TailHasher {
    fn write(&mut self, bytes: &[u8]) {
        let tail = &bytes[bytes.len().saturating_sub(HASHED_TAIL)..];
        self.0.write(tail);
        self.0.write_usize(bytes.len());
    }

    fn write_u8(&mut self, _marker: u8) {}

    fn finish(&self) -> u64 {
        self.0.finish()
    }
}

#[derive(Debug, Default)]
struct Inner {
    generation: u64,
    entries: HashMap<Box<str>, (Claims, [u8; 16]), BuildHasherDefault<TailHasher>>,
}

#[derive(Debug, Default)]
pub struct TokenCache {
    inner: Mutex<Inner>,
}

impl TokenCache {
    /// Opens `token` with `keys` (snapshot `generation`), answering from the cache when this
    /// worker already opened the same token under the same snapshot.
    /// The token's id ([`KeyRing::open_with_id`]) comes with its claims.
    pub fn open(
        &self,
        keys: &KeyRing,
        generation: u64,
        token: &str,
    ) -> Result<(Claims, [u8; 16]), TokenError> {
        {
            let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            if inner.generation != generation {
                inner.entries.clear();
                inner.generation = generation;
            } else if let Some(opened) = inner.entries.get(token) {
                return Ok(opened.clone());
            }
        }
        let opened = keys.open_with_id(token)?;
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.generation == generation {
            if inner.entries.len() >= CAPACITY {
                inner.entries.clear();
            }
            inner.entries.insert(Box::from(token), opened.clone());
        }
        Ok(opened)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entries
            .len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A per-worker cache of verified external JWTs: a signature checked once (tens of microseconds
/// for ES256, more for RSA) is not checked again on this worker under the same snapshot and for
/// the same plugin. Expiry is checked again on every hit; only verified tokens are inserted.
#[derive(Debug, Default)]
pub struct JwtCache {
    inner: Mutex<JwtInner>,
}

#[derive(Debug, Default)]
struct JwtInner {
    generation: u64,
    /// Token → (plugin it was verified for, its claims).
    entries: HashMap<Box<str>, (Box<str>, JwtClaims), BuildHasherDefault<TailHasher>>,
}

impl JwtCache {
    /// Verifies `token` for `plugin_id` with `keys` under `policy` at `now`, answering from the
    /// cache when this worker verified it for the same plugin under snapshot `generation`.
    pub fn verify(
        &self,
        generation: u64,
        plugin_id: &str,
        keys: &JwtKeys,
        policy: &JwtPolicy<'_>,
        token: &str,
        now: u64,
    ) -> Result<JwtClaims, JwtError> {
        {
            let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            if inner.generation != generation {
                inner.entries.clear();
                inner.generation = generation;
            } else if let Some((plugin, claims)) = inner.entries.get(token)
                && &**plugin == plugin_id
            {
                if now >= claims.exp.saturating_add(policy.leeway) {
                    return Err(JwtError::Expired);
                }
                return Ok(claims.clone());
            }
        }
        let claims = jwt::verify(keys, policy, token, now)?;
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.generation == generation {
            if inner.entries.len() >= CAPACITY {
                inner.entries.clear();
            }
            inner
                .entries
                .insert(Box::from(token), (Box::from(plugin_id), claims.clone()));
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use tollgate_core::snapshot::SigningKey;
    use tollgate_core::token::Binding;

    use super::*;

    fn ring(ids: &[&str], active: &str) -> KeyRing {
        let keys: Vec<SigningKey> = ids
            .iter()
            .map(|id| SigningKey {
                id: (*id).to_owned(),
                secret_b64: base64::engine::general_purpose::STANDARD.encode([id.len() as u8; 32]),
            })
            .collect();
        KeyRing::new(&keys, active).expect("ring")
    }

    fn claims() -> Claims {
        Claims {
            credential_id: [1; 16],
            epoch: 7,
            issued_at: 100,
            expires_at: 0,
            binding: Binding::Global(tollgate_core::token::namespace_binding("default")),
            scope: String::new(),
            authenticated_userid: String::new(),
        }
    }

    #[test]
    fn a_token_opened_once_is_served_from_the_cache_under_the_same_snapshot() {
        let keys = ring(&["k1"], "k1");
        let token = keys.issue(&claims(), [3; 24]).expect("issue");
        let cache = TokenCache::default();
        assert_eq!(cache.open(&keys, 1, &token).map(|(c, _)| c), Ok(claims()));
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.open(&keys, 1, &token).map(|(c, _)| c), Ok(claims()));
    }

    #[test]
    fn a_new_snapshot_does_not_trust_tokens_opened_under_the_old_one() {
        let old = ring(&["k1"], "k1");
        let token = old.issue(&claims(), [3; 24]).expect("issue");
        let cache = TokenCache::default();
        assert!(cache.open(&old, 1, &token).is_ok());
        // The key was retired in snapshot 2.
        let new = ring(&["k22"], "k22");
        assert_eq!(cache.open(&new, 2, &token), Err(TokenError::UnknownKey));
    }

    #[test]
    fn tokens_sharing_a_tail_are_still_told_apart() {
        let keys = ring(&["k1"], "k1");
        let token = keys.issue(&claims(), [3; 24]).expect("issue");
        let cache = TokenCache::default();
        assert!(cache.open(&keys, 1, &token).is_ok());
        // Same last bytes, different start: must not be answered from the cache.
        let forged = format!("x{}", &token[1..]);
        assert!(cache.open(&keys, 1, &forged).is_err());
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn refused_tokens_are_not_cached() {
        let keys = ring(&["k1"], "k1");
        let cache = TokenCache::default();
        assert!(cache.open(&keys, 1, "garbage").is_err());
        assert!(cache.is_empty());
    }
}
