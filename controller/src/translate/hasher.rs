//! Client-secret verifiers with a memo: argon2id costs ~20 ms per hash, so re-translating an
//! unchanged set of credentials must not hash again. The memo holds, per credential id, the
//! verifier and the (mode, SHA-256 of the plaintext) it was computed from; the plaintext itself is
//! never stored, logged or printed.

use std::collections::HashMap;
use std::fmt;

use sha2::{Digest, Sha256};
use tollgate_core::secret::{
    SecretError, deterministic_salt, hash_argon2id, hash_sha256, looks_like_verifier,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Argon2id,
    Sha256,
}

/// The verifier last computed for a credential, and what it was computed from.
struct Memo {
    mode: Mode,
    digest: [u8; 32],
    verifier: String,
    /// The round that last asked for it.
    round: u64,
}

/// Turns Secret values into verifiers, remembering one verifier per credential (its current
/// secret) between translations.
#[derive(Default)]
pub struct SecretHasher {
    memo: HashMap<String, Memo>,
    round: u64,
    computed: u64,
}

impl fmt::Debug for SecretHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretHasher")
            .field("memoized", &self.memo.len())
            .field("computed", &self.computed)
            .finish()
    }
}

impl SecretHasher {
    pub fn new() -> Self {
        Self::default()
    }

    /// The verifier of a Secret value for a credential: the value itself when it already is a
    /// PHC verifier (migration from Kong), else argon2id (`hash_secret`) or salted SHA-256, with
    /// the salt derived from the credential id so equal inputs give equal verifiers.
    pub fn verifier(
        &mut self,
        credential_id: &str,
        hash_secret: bool,
        value: &[u8],
    ) -> Result<String, SecretError> {
        if value.starts_with(b"$")
            && let Ok(text) = std::str::from_utf8(value)
            && looks_like_verifier(text)
        {
            return Ok(text.to_owned());
        }
        let mode = if hash_secret {
            Mode::Argon2id
        } else {
            Mode::Sha256
        };
        let digest: [u8; 32] = Sha256::digest(value).into();
        if let Some(memo) = self.memo.get_mut(credential_id)
            && memo.mode == mode
            && memo.digest == digest
        {
            memo.round = self.round;
            return Ok(memo.verifier.clone());
        }
        let salt = deterministic_salt(credential_id);
        let verifier = match mode {
            Mode::Argon2id => hash_argon2id(value, &salt)?,
            Mode::Sha256 => hash_sha256(value, &salt),
        };
        self.computed += 1;
        self.memo.insert(
            credential_id.to_owned(),
            Memo {
                mode,
                digest,
                verifier: verifier.clone(),
                round: self.round,
            },
        );
        Ok(verifier)
    }

    /// Forgets the verifiers of credentials not asked for since the previous call (deleted
    /// credentials).
    pub fn end_round(&mut self) {
        let round = self.round;
        self.memo.retain(|_, memo| memo.round == round);
        self.round += 1;
    }

    /// How many verifiers were computed (not served from the memo) since creation.
    pub fn computed(&self) -> u64 {
        self.computed
    }

    /// How many verifiers the memo holds.
    pub fn memoized(&self) -> usize {
        self.memo.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unchanged_secret_is_hashed_once_across_rounds() {
        let mut hasher = SecretHasher::new();
        let first = hasher.verifier("cred-1", true, b"secret").expect("hash");
        hasher.end_round();
        let second = hasher.verifier("cred-1", true, b"secret").expect("hash");
        assert_eq!(first, second);
        assert!(first.starts_with("$argon2id$"));
        assert_eq!(hasher.computed(), 1);
    }

    #[test]
    fn a_changed_secret_gets_a_new_verifier_and_the_old_one_is_forgotten() {
        let mut hasher = SecretHasher::new();
        let old = hasher.verifier("cred-1", false, b"old").expect("hash");
        hasher.end_round();
        let new = hasher.verifier("cred-1", false, b"new").expect("hash");
        hasher.end_round();
        assert_ne!(old, new);
        assert_eq!(hasher.memoized(), 1);
        assert_eq!(hasher.computed(), 2);
    }

    #[test]
    fn verifier_modes_and_credentials_do_not_share_memo_entries() {
        let mut hasher = SecretHasher::new();
        let a = hasher.verifier("cred-1", false, b"s").expect("hash");
        let b = hasher.verifier("cred-2", false, b"s").expect("hash");
        let c = hasher.verifier("cred-1", true, b"s").expect("hash");
        assert!(a.starts_with("$sha256$"));
        assert_ne!(a, b, "salts differ per credential");
        assert!(c.starts_with("$argon2id$"));
        assert_eq!(hasher.computed(), 3);
    }

    #[test]
    fn a_value_that_already_is_a_verifier_is_used_as_is() {
        let mut hasher = SecretHasher::new();
        let kong = "$pbkdf2-sha512$i=10000,l=32$c2FsdHNhbHRzYWx0c2FsdA$\
                    YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXoxMjM0NTY";
        let verifier = hasher
            .verifier("cred-1", true, kong.as_bytes())
            .expect("pass");
        assert_eq!(verifier, kong);
        assert_eq!(hasher.computed(), 0);
    }

    #[test]
    fn debug_output_shows_counts_only() {
        let mut hasher = SecretHasher::new();
        hasher.verifier("cred-1", false, b"hunter2").expect("hash");
        let debug = format!("{hasher:?}");
        assert!(!debug.contains("hunter2"));
        assert!(!debug.contains("sha256$"));
    }
}
