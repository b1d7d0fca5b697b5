//! A per-worker cache of opened tokens: a token seen before on this worker skips base64 and
//! AEAD decryption. Only successfully opened tokens are cached, entries are tied to the
//! snapshot generation whose key ring opened them (a new snapshot starts empty, so a retired
//! key is never trusted from the cache), and revocation, expiry and binding are still checked
//! on every request by core's `authenticate`.

use std::collections::HashMap;
use std::sync::Mutex;

use tollgate_core::token::{Claims, KeyRing, TokenError};

/// Entries per worker before the cache starts over.
pub const CAPACITY: usize = 8192;

#[derive(Debug, Default)]
struct Inner {
    generation: u64,
    entries: HashMap<Box<str>, Claims>,
}

#[derive(Debug, Default)]
pub struct TokenCache {
    inner: Mutex<Inner>,
}

impl TokenCache {
    /// Opens `token` with `keys` (snapshot `generation`), answering from the cache when this
    /// worker already opened the same token under the same snapshot.
    pub fn open(&self, keys: &KeyRing, generation: u64, token: &str) -> Result<Claims, TokenError> {
        {
            let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            if inner.generation != generation {
                inner.entries.clear();
                inner.generation = generation;
            } else if let Some(claims) = inner.entries.get(token) {
                return Ok(claims.clone());
            }
        }
        let claims = keys.open(token)?;
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.generation == generation {
            if inner.entries.len() >= CAPACITY {
                inner.entries.clear();
            }
            inner.entries.insert(Box::from(token), claims.clone());
        }
        Ok(claims)
    }

    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entries
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
            binding: Binding::Global,
            scope: String::new(),
        }
    }

    #[test]
    fn a_token_opened_once_is_served_from_the_cache_under_the_same_snapshot() {
        let keys = ring(&["k1"], "k1");
        let token = keys.issue(&claims(), [3; 24]).expect("issue");
        let cache = TokenCache::default();
        assert_eq!(cache.open(&keys, 1, &token), Ok(claims()));
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.open(&keys, 1, &token), Ok(claims()));
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
    fn refused_tokens_are_not_cached() {
        let keys = ring(&["k1"], "k1");
        let cache = TokenCache::default();
        assert!(cache.open(&keys, 1, "garbage").is_err());
        assert!(cache.is_empty());
    }
}
