//! Verifiers kept between runs, so a restart does not hash every client secret again.
//!
//! argon2id costs about 20 ms of CPU and 19 MiB per secret: 10,000 credentials would take minutes
//! before the first snapshot after every restart. The controller therefore keeps the verifiers it
//! computed — in Secrets of its own namespace (operator) or in the state directory (standalone) —
//! and reuses one only when it provably belongs to the current secret.
//!
//! A verifier is offline-crackable, so the kept copy is sealed: each entry is encrypted
//! (ChaCha20-Poly1305) with a key derived from the credential id, the client Secret's `uid` and
//! key name (operator), and the plaintext secret itself. Opening an entry needs all of them, and
//! whoever knows the uid of a Secret could read the Secret anyway; so the cache alone gives
//! neither the verifier nor a faster way to test guesses than argon2id. A changed secret derives
//! another key, the entry does not open, and the secret is hashed again: rotation revokes as
//! before. In standalone mode there is no uid: there the key depends on the credential id and the
//! plaintext only, and the file is protected by the state directory's permissions (0700, files
//! 0600), which admit no one who cannot read the manifests' secrets as well.
//!
//! Format (binary, versioned): `TGVC` `1`, then entries of
//! `[16-byte credential tag][12-byte nonce][u16 big-endian length][ciphertext and tag]`.

use std::collections::HashMap;

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use sha2::{Digest, Sha256};

const MAGIC: &[u8; 4] = b"TGVC";
const VERSION: u8 = 1;
const TAG_LEN: usize = 16;
const NONCE_LEN: usize = 12;
/// Longest sealed verifier accepted when reading (a verifier is at most 512 bytes, plus the tag).
const MAX_SEALED_LEN: usize = 1024;

/// What a cached verifier is bound to besides the plaintext: the Kubernetes Secret it came from.
#[derive(Clone, Copy, Debug)]
pub struct SecretOrigin<'a> {
    /// `metadata.uid` of the Secret (random, known only to those who can read the Secret).
    pub uid: &'a str,
    /// The key of the Secret that holds the client secret.
    pub key: &'a str,
}

/// The key that seals one credential's verifier. Never printed.
#[derive(Clone)]
pub struct SealKey([u8; 32]);

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey(..)")
    }
}

fn put_field(h: &mut Sha256, field: &[u8]) {
    h.update(u64::try_from(field.len()).unwrap_or(u64::MAX).to_be_bytes());
    h.update(field);
}

/// The sealing key of a credential's verifier.
pub fn seal_key(credential_id: &str, origin: Option<SecretOrigin<'_>>, secret: &[u8]) -> SealKey {
    let mut h = Sha256::new();
    h.update(b"tollgate verifier cache v1\0");
    put_field(&mut h, credential_id.as_bytes());
    put_field(&mut h, origin.map_or(&b""[..], |o| o.uid.as_bytes()));
    put_field(&mut h, origin.map_or(&b""[..], |o| o.key.as_bytes()));
    put_field(&mut h, secret);
    SealKey(h.finalize().into())
}

/// What [`credential_tag`] returns.
pub type CredentialTag = [u8; TAG_LEN];

/// The tag an entry is found by: a hash of the credential id (fixed size, no names in the file).
pub fn credential_tag(credential_id: &str) -> CredentialTag {
    let mut h = Sha256::new();
    h.update(b"tollgate verifier cache tag v1\0");
    h.update(credential_id.as_bytes());
    let digest: [u8; 32] = h.finalize().into();
    let mut tag = [0u8; TAG_LEN];
    tag.copy_from_slice(&digest[..TAG_LEN]);
    tag
}

/// One sealed verifier.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    nonce: [u8; NONCE_LEN],
    ciphertext: Vec<u8>,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealed(..)")
    }
}

impl Sealed {
    /// Seals `verifier` (a fresh random nonce per seal). `None` only when the system has no
    /// randomness, in which case nothing is kept.
    pub fn seal(key: &SealKey, verifier: &str) -> Option<Self> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::getrandom(&mut nonce).ok()?;
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&key.0));
        let ciphertext = cipher
            .encrypt(Nonce::from_slice(&nonce), verifier.as_bytes())
            .ok()?;
        Some(Self { nonce, ciphertext })
    }

    /// The verifier, when `key` is the key it was sealed with.
    pub fn open(&self, key: &SealKey) -> Option<String> {
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&key.0));
        let plain = cipher
            .decrypt(Nonce::from_slice(&self.nonce), self.ciphertext.as_slice())
            .ok()?;
        String::from_utf8(plain).ok()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CacheError {
    #[error("not a verifier cache (bad magic or version)")]
    Format,
    #[error("the verifier cache is truncated or has an oversized entry")]
    Truncated,
}

/// Entries by credential tag.
pub type Entries = HashMap<[u8; TAG_LEN], Sealed>;

/// Encodes entries, sorted by tag so equal contents give equal bytes.
pub fn encode<'a>(entries: impl IntoIterator<Item = (&'a [u8; TAG_LEN], &'a Sealed)>) -> Vec<u8> {
    let mut sorted: Vec<_> = entries.into_iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = Vec::with_capacity(5 + sorted.len() * 150);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    for (tag, sealed) in sorted {
        let Ok(len) = u16::try_from(sealed.ciphertext.len()) else {
            continue;
        };
        out.extend_from_slice(tag);
        out.extend_from_slice(&sealed.nonce);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&sealed.ciphertext);
    }
    out
}

/// Decodes what [`encode`] wrote; bounded (no entry over 1 KiB).
pub fn decode(bytes: &[u8]) -> Result<Entries, CacheError> {
    let rest = bytes
        .strip_prefix(MAGIC.as_slice())
        .and_then(|rest| rest.strip_prefix(&[VERSION]))
        .ok_or(CacheError::Format)?;
    let mut entries = Entries::new();
    let mut rest = rest;
    while !rest.is_empty() {
        let (head, tail) = rest
            .split_at_checked(TAG_LEN + NONCE_LEN + 2)
            .ok_or(CacheError::Truncated)?;
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&head[..TAG_LEN]);
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&head[TAG_LEN..TAG_LEN + NONCE_LEN]);
        let len = usize::from(u16::from_be_bytes([
            head[TAG_LEN + NONCE_LEN],
            head[TAG_LEN + NONCE_LEN + 1],
        ]));
        if len > MAX_SEALED_LEN {
            return Err(CacheError::Truncated);
        }
        let (ciphertext, tail) = tail.split_at_checked(len).ok_or(CacheError::Truncated)?;
        entries.insert(
            tag,
            Sealed {
                nonce,
                ciphertext: ciphertext.to_vec(),
            },
        );
        rest = tail;
    }
    Ok(entries)
}

/// Splits entries into `shards` encodings by tag (each shard is one Secret in operator mode,
/// under the API's 1 MiB object limit up to about 7,000 entries per shard).
pub fn encode_shards(entries: &Entries, shards: usize) -> Vec<Vec<u8>> {
    let shards = shards.max(1);
    let mut parts: Vec<Vec<(&[u8; TAG_LEN], &Sealed)>> = vec![Vec::new(); shards];
    for (tag, sealed) in entries {
        parts[usize::from(tag[0]) % shards].push((tag, sealed));
    }
    parts.into_iter().map(encode).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const VERIFIER: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";

    fn origin() -> SecretOrigin<'static> {
        SecretOrigin {
            uid: "4f6c2b1e-uid",
            key: "client_secret",
        }
    }

    #[test]
    fn a_sealed_verifier_opens_only_with_the_same_id_origin_and_secret() {
        let key = seal_key("cred-1", Some(origin()), b"s3cret");
        let sealed = Sealed::seal(&key, VERIFIER).expect("seal");
        assert_eq!(sealed.open(&key).as_deref(), Some(VERIFIER));
        for other in [
            seal_key("cred-2", Some(origin()), b"s3cret"),
            seal_key("cred-1", Some(origin()), b"s3creT"),
            seal_key("cred-1", None, b"s3cret"),
            seal_key(
                "cred-1",
                Some(SecretOrigin {
                    uid: "other-uid",
                    key: "client_secret",
                }),
                b"s3cret",
            ),
            seal_key(
                "cred-1",
                Some(SecretOrigin {
                    uid: "4f6c2b1e-uid",
                    key: "other",
                }),
                b"s3cret",
            ),
        ] {
            assert_eq!(sealed.open(&other), None);
        }
    }

    #[test]
    fn length_prefixes_keep_fields_apart() {
        let a = seal_key("ab", Some(SecretOrigin { uid: "c", key: "" }), b"");
        let b = seal_key("a", Some(SecretOrigin { uid: "bc", key: "" }), b"");
        assert_ne!(a.0, b.0);
    }

    #[test]
    fn entries_round_trip_and_encode_deterministically() {
        let key = seal_key("cred-1", None, b"x");
        let mut entries = Entries::new();
        for id in ["a", "b", "c"] {
            entries.insert(
                credential_tag(id),
                Sealed::seal(&key, VERIFIER).expect("seal"),
            );
        }
        let bytes = encode(&entries);
        assert_eq!(decode(&bytes).expect("decode"), entries);
        assert_eq!(encode(&decode(&bytes).expect("decode")), bytes);
        let shards = encode_shards(&entries, 4);
        let merged: Entries = shards
            .iter()
            .flat_map(|s| decode(s).expect("decode"))
            .collect();
        assert_eq!(merged, entries);
    }

    #[test]
    fn the_file_never_holds_the_verifier_or_the_id_in_clear() {
        let key = seal_key("cred-visible", None, b"x");
        let mut entries = Entries::new();
        entries.insert(
            credential_tag("cred-visible"),
            Sealed::seal(&key, VERIFIER).expect("seal"),
        );
        let bytes = encode(&entries);
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("argon2id"));
        assert!(!text.contains("cred-visible"));
        assert!(!format!("{:?}", entries).contains("argon2"));
    }

    #[test]
    fn damaged_input_is_refused_not_misread() {
        assert_eq!(decode(b"nope"), Err(CacheError::Format));
        assert_eq!(decode(b"TGVC\x02"), Err(CacheError::Format));
        assert_eq!(decode(b"TGVC\x01").expect("empty"), Entries::new());
        let key = seal_key("c", None, b"x");
        let mut entries = Entries::new();
        entries.insert(
            credential_tag("c"),
            Sealed::seal(&key, VERIFIER).expect("s"),
        );
        let bytes = encode(&entries);
        for cut in 6..bytes.len() {
            assert_eq!(
                decode(&bytes[..cut]),
                Err(CacheError::Truncated),
                "cut {cut}"
            );
        }
    }
}
