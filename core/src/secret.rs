//! Client-secret verifiers: how a credential's secret is stored in a snapshot and checked.
//!
//! Three formats are accepted (see [`crate::snapshot::Credential::secret_verifier`]):
//! - `$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>`: `hashSecret: true`;
//! - `$pbkdf2-sha512$i=<iterations>,l=<len>$<salt>$<hash>`: Kong's format, for migration. Kong
//!   re-encodes with constant `i=10000,l=32` and compares strings with `==`; we re-derive with the
//!   *parsed* parameters and compare the raw bytes in constant time;
//! - `$sha256$<salt>$<hash>` = SHA-256(salt || secret): `hashSecret: false`, so the plaintext still
//!   never travels in a snapshot, and the comparison is constant-time (Kong uses `==`).
//!
//! Salts and hashes are standard base64 without padding (PHC "B64"). Salts are derived from the
//! credential id ([`deterministic_salt`]) so that the same secret always gives the same verifier:
//! snapshot hashes stay stable across controller restarts and replicas, and token epochs
//! ([`token_epoch`]) change only when the secret does.
//!
//! PBKDF2-HMAC zero-pads keys shorter than its block, so a secret and the same secret followed
//! by NUL bytes verify alike (inherent to HMAC; Kong has the same property).
//!
//! Nothing here ever puts a presented secret in an error or in `Debug` output.

use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;

/// Longest verifier string accepted.
pub const MAX_VERIFIER_LEN: usize = 512;
/// Bounds on parameters read from a verifier, so that a tenant's pre-hashed verifier cannot make
/// each check of its secret cost a lot more than the default's (argon2id m=19456 KiB, t=2; Kong's
/// PBKDF2-SHA512 i=10000): the token endpoint verifies on a shared, bounded pool.
/// argon2id: memory at most 64 MiB, at most 4 passes and 4 lanes, and memory × passes at most
/// 4 × the default's.
pub const MAX_ARGON2_M_KIB: u32 = 64 * 1024;
pub const MAX_ARGON2_T: u32 = 4;
pub const MAX_ARGON2_P: u32 = 4;
pub const MAX_ARGON2_WORK_KIB: u64 = 4 * (ARGON2_M_KIB as u64) * (ARGON2_T as u64);
/// PBKDF2-SHA512: above OWASP's 210,000, 25 × Kong's 10,000.
pub const MAX_PBKDF2_ITERATIONS: u32 = 250_000;
const MIN_HASH_LEN: usize = 16;
const MAX_HASH_LEN: usize = 64;
const MIN_SALT_LEN: usize = 8;
const MAX_SALT_LEN: usize = 64;

/// Default argon2id parameters (the `argon2` crate's defaults, OWASP's minimum):
/// m=19456 KiB, t=2, p=1, 32-byte output.
pub const ARGON2_M_KIB: u32 = 19_456;
pub const ARGON2_T: u32 = 2;
pub const ARGON2_P: u32 = 1;
const HASH_LEN: usize = 32;

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("verifier is longer than {MAX_VERIFIER_LEN} bytes")]
    TooLong,
    #[error("verifier format is not recognised (expected $argon2id$, $pbkdf2-sha512$ or $sha256$)")]
    UnknownFormat,
    #[error("verifier is malformed: {0}")]
    Malformed(&'static str),
    #[error("verifier parameters are out of bounds: {0}")]
    OutOfBounds(&'static str),
    #[error("hashing failed: {0}")]
    Hash(String),
}

/// A parsed client-secret verifier. `Debug` prints only the algorithm and parameters.
#[derive(Clone, PartialEq, Eq)]
pub enum Verifier {
    Argon2id {
        version: u32,
        m_kib: u32,
        t: u32,
        p: u32,
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
    Pbkdf2Sha512 {
        iterations: u32,
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
    Sha256 {
        salt: Vec<u8>,
        hash: [u8; 32],
    },
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verifier::Argon2id {
                version,
                m_kib,
                t,
                p,
                ..
            } => f
                .debug_struct("Argon2id")
                .field("version", version)
                .field("m_kib", m_kib)
                .field("t", t)
                .field("p", p)
                .finish_non_exhaustive(),
            Verifier::Pbkdf2Sha512 { iterations, .. } => f
                .debug_struct("Pbkdf2Sha512")
                .field("iterations", iterations)
                .finish_non_exhaustive(),
            Verifier::Sha256 { .. } => f.debug_struct("Sha256").finish_non_exhaustive(),
        }
    }
}

fn b64(field: &'static str, s: &str) -> Result<Vec<u8>, SecretError> {
    STANDARD_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|_| SecretError::Malformed(field))
}

fn bounded(
    field: &'static str,
    bytes: Vec<u8>,
    min: usize,
    max: usize,
) -> Result<Vec<u8>, SecretError> {
    if (min..=max).contains(&bytes.len()) {
        Ok(bytes)
    } else {
        Err(SecretError::OutOfBounds(field))
    }
}

/// Parses `k=v,k=v` into values for the given keys, in any order, each exactly once.
fn params<const N: usize>(s: &str, keys: [&str; N]) -> Result<[u32; N], SecretError> {
    let mut out = [None; N];
    for part in s.split(',') {
        let (k, v) = part
            .split_once('=')
            .ok_or(SecretError::Malformed("parameters"))?;
        let i = keys
            .iter()
            .position(|key| *key == k)
            .ok_or(SecretError::Malformed("unknown parameter"))?;
        if out[i].is_some()
            || v.is_empty()
            || v.len() > 10
            || !v.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(SecretError::Malformed("parameters"));
        }
        out[i] = Some(
            v.parse::<u32>()
                .map_err(|_| SecretError::Malformed("parameters"))?,
        );
    }
    let mut values = [0; N];
    for (slot, v) in values.iter_mut().zip(out) {
        *slot = v.ok_or(SecretError::Malformed("missing parameter"))?;
    }
    Ok(values)
}

impl Verifier {
    /// Parses a verifier string. Bounded: over-long strings and extreme cost parameters are
    /// refused.
    pub fn parse(s: &str) -> Result<Self, SecretError> {
        if s.len() > MAX_VERIFIER_LEN {
            return Err(SecretError::TooLong);
        }
        let mut parts = s.split('$');
        if parts.next() != Some("") {
            return Err(SecretError::UnknownFormat);
        }
        let alg = parts.next().ok_or(SecretError::UnknownFormat)?;
        let rest: Vec<&str> = parts.collect();
        match (alg, rest.as_slice()) {
            ("argon2id", [version, ps, salt, hash]) => {
                let version = version
                    .strip_prefix("v=")
                    .and_then(|v| v.parse::<u32>().ok())
                    .filter(|v| *v == 0x13 || *v == 0x10)
                    .ok_or(SecretError::Malformed("version"))?;
                let [m_kib, t, p] = params(ps, ["m", "t", "p"])?;
                if m_kib > MAX_ARGON2_M_KIB
                    || u64::from(m_kib) * u64::from(t) > MAX_ARGON2_WORK_KIB
                    || t > MAX_ARGON2_T
                    || p > MAX_ARGON2_P
                    || t == 0
                    || p == 0
                    || m_kib < 8 * p
                {
                    return Err(SecretError::OutOfBounds("argon2 parameters"));
                }
                Ok(Verifier::Argon2id {
                    version,
                    m_kib,
                    t,
                    p,
                    salt: bounded("salt", b64("salt", salt)?, MIN_SALT_LEN, MAX_SALT_LEN)?,
                    hash: bounded("hash", b64("hash", hash)?, MIN_HASH_LEN, MAX_HASH_LEN)?,
                })
            }
            ("pbkdf2-sha512", [ps, salt, hash]) => {
                let [iterations, len] = params(ps, ["i", "l"])?;
                if iterations == 0 || iterations > MAX_PBKDF2_ITERATIONS {
                    return Err(SecretError::OutOfBounds("iterations"));
                }
                let hash = bounded("hash", b64("hash", hash)?, MIN_HASH_LEN, MAX_HASH_LEN)?;
                if usize::try_from(len).ok() != Some(hash.len()) {
                    return Err(SecretError::Malformed("hash length does not match l="));
                }
                Ok(Verifier::Pbkdf2Sha512 {
                    iterations,
                    salt: bounded("salt", b64("salt", salt)?, MIN_SALT_LEN, MAX_SALT_LEN)?,
                    hash,
                })
            }
            ("sha256", [salt, hash]) => {
                let hash: [u8; 32] = b64("hash", hash)?
                    .try_into()
                    .map_err(|_| SecretError::Malformed("hash must be 32 bytes"))?;
                Ok(Verifier::Sha256 {
                    salt: bounded("salt", b64("salt", salt)?, MIN_SALT_LEN, MAX_SALT_LEN)?,
                    hash,
                })
            }
            ("argon2id" | "pbkdf2-sha512" | "sha256", _) => {
                Err(SecretError::Malformed("field count"))
            }
            _ => Err(SecretError::UnknownFormat),
        }
    }

    /// Whether `presented` is the secret. Constant-time in the secret's hash; argon2id and
    /// PBKDF2 are deliberately slow (see [`Verifier::is_expensive`]).
    pub fn verify(&self, presented: &[u8]) -> bool {
        match self {
            Verifier::Argon2id {
                version,
                m_kib,
                t,
                p,
                salt,
                hash,
            } => {
                let version = if *version == 0x10 {
                    Version::V0x10
                } else {
                    Version::V0x13
                };
                let Ok(params) = Params::new(*m_kib, *t, *p, Some(hash.len())) else {
                    return false;
                };
                let mut out = vec![0u8; hash.len()];
                let argon2 = Argon2::new(Algorithm::Argon2id, version, params);
                if with_argon2_memory(argon2.params().block_count(), |blocks| {
                    argon2.hash_password_into_with_memory(presented, salt, &mut out, blocks)
                })
                .is_err()
                {
                    return false;
                }
                bool::from(out.as_slice().ct_eq(hash))
            }
            Verifier::Pbkdf2Sha512 {
                iterations,
                salt,
                hash,
            } => {
                let mut out = vec![0u8; hash.len()];
                pbkdf2::pbkdf2_hmac::<Sha512>(presented, salt, *iterations, &mut out);
                bool::from(out.as_slice().ct_eq(hash))
            }
            Verifier::Sha256 { salt, hash } => {
                let digest = sha256_salted(salt, presented);
                bool::from(digest.ct_eq(hash))
            }
        }
    }

    /// Whether a check costs milliseconds (argon2id, PBKDF2): the proxy then runs it off the
    /// request threads and bounds how many run at once.
    pub fn is_expensive(&self) -> bool {
        !matches!(self, Verifier::Sha256 { .. })
    }
}

/// argon2 working memory that is reused between hashes and given back to the operating system
/// when dropped or [released](Argon2Memory::release).
///
/// Why this exists: a 19 MiB buffer allocated and freed for every hash is not returned by the
/// C allocator. After the first free, glibc raises its mmap threshold to the freed size, so the
/// next buffers come from the heap, where the small allocations made between two hashes split the
/// freed space and every new hash needs fresh memory: the process kept about one buffer per hash
/// computed. Reserving at least [`ARGON2_RESERVE_BYTES`] (above glibc's largest dynamic mmap
/// threshold, 32 MiB on 64-bit) makes the allocation a private mapping that `free` unmaps; only
/// the blocks a hash touches become resident.
#[derive(Default)]
pub struct Argon2Memory(Vec<argon2::Block>);

/// Smallest reservation of an [`Argon2Memory`], in bytes (see there).
pub const ARGON2_RESERVE_BYTES: usize = 33 * 1024 * 1024;

impl Argon2Memory {
    pub const fn new() -> Self {
        Self(Vec::new())
    }

    /// `count` blocks, growing (never shrinking) the reservation.
    fn blocks(&mut self, count: usize) -> &mut [argon2::Block] {
        if self.0.len() < count {
            let floor = ARGON2_RESERVE_BYTES / std::mem::size_of::<argon2::Block>();
            let mut memory = Vec::with_capacity(count.max(floor));
            memory.resize(count, argon2::Block::default());
            self.0 = memory;
        }
        &mut self.0[..count]
    }

    /// Frees the memory (it is reserved again by the next hash).
    pub fn release(&mut self) {
        self.0 = Vec::new();
    }

    /// Bytes currently held.
    pub fn held_bytes(&self) -> usize {
        self.0.capacity() * std::mem::size_of::<argon2::Block>()
    }
}

impl std::fmt::Debug for Argon2Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Argon2Memory")
            .field("held_bytes", &self.held_bytes())
            .finish()
    }
}

thread_local! {
    /// argon2 working memory of this thread (19 MiB with the default parameters), kept between
    /// verifications so that the threads verifying secrets do not allocate, fault in and free it
    /// on every call. It grows to the largest verifier seen on the thread and is freed with the
    /// thread. The first pass of argon2 writes every block before any is read, so what a
    /// previous verification left there never influences a result.
    static ARGON2_MEMORY: std::cell::Cell<Argon2Memory> =
        const { std::cell::Cell::new(Argon2Memory::new()) };
}

/// Runs `f` with this thread's reusable argon2 memory (fresh memory during thread teardown).
fn with_thread_memory<R>(f: impl FnOnce(&mut Argon2Memory) -> R) -> R {
    let mut memory = ARGON2_MEMORY
        .try_with(std::cell::Cell::take)
        .unwrap_or_default();
    let result = f(&mut memory);
    // During teardown the memory is simply freed here.
    let _ = ARGON2_MEMORY.try_with(|slot| slot.set(memory));
    result
}

/// Runs `f` over `blocks` argon2 blocks of this thread's reusable memory.
fn with_argon2_memory<R>(blocks: usize, f: impl FnOnce(&mut [argon2::Block]) -> R) -> R {
    with_thread_memory(|memory| f(memory.blocks(blocks)))
}

fn sha256_salted(salt: &[u8], secret: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(secret);
    h.finalize().into()
}

/// argon2id PHC string of `secret` with the default parameters
/// (m=19456 KiB, t=2, p=1, 32-byte hash, version 19), in this thread's reusable memory.
pub fn hash_argon2id(secret: &[u8], salt: &[u8; 16]) -> Result<String, SecretError> {
    with_thread_memory(|memory| hash_argon2id_in(secret, salt, memory))
}

/// [`hash_argon2id`] in the given working memory: the hashing threads of the controller own one
/// each, and release it when they run out of work.
pub fn hash_argon2id_in(
    secret: &[u8],
    salt: &[u8; 16],
    memory: &mut Argon2Memory,
) -> Result<String, SecretError> {
    let params = Params::new(ARGON2_M_KIB, ARGON2_T, ARGON2_P, Some(HASH_LEN))
        .map_err(|e| SecretError::Hash(e.to_string()))?;
    let mut out = [0u8; HASH_LEN];
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let blocks = memory.blocks(argon2.params().block_count());
    argon2
        .hash_password_into_with_memory(secret, salt, &mut out, blocks)
        .map_err(|e| SecretError::Hash(e.to_string()))?;
    Ok(format!(
        "$argon2id$v=19$m={ARGON2_M_KIB},t={ARGON2_T},p={ARGON2_P}${}${}",
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(out)
    ))
}

/// `$sha256$<salt>$<SHA-256(salt || secret)>`: the verifier of a `hashSecret: false` secret.
pub fn hash_sha256(secret: &[u8], salt: &[u8; 16]) -> String {
    format!(
        "$sha256${}${}",
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(sha256_salted(salt, secret))
    )
}

/// The salt for a credential's verifier: the first 16 bytes of
/// SHA-256(`"tollgate client-secret salt v1\0"` || credential id). The same credential and secret
/// therefore always give the same verifier. (Salts only need to be unique per credential, which a
/// UUID id gives.)
pub fn deterministic_salt(credential_id: &str) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update(b"tollgate client-secret salt v1\0");
    h.update(credential_id.as_bytes());
    let digest: [u8; 32] = h.finalize().into();
    let mut salt = [0u8; 16];
    salt.copy_from_slice(&digest[..16]);
    salt
}

/// Whether a Secret value is already a verifier (a pre-hashed PHC string, for migration from
/// Kong) rather than a plaintext secret.
pub fn looks_like_verifier(value: &str) -> bool {
    Verifier::parse(value).is_ok()
}

/// What stands for the verifier in the token epoch of a credential whose tokens survive a
/// rotation ([`crate::snapshot::Credential::epoch`]). Not a verifier format, so it never equals
/// one.
pub const ROTATION_SAFE_EPOCH: &str = "tokens survive rotation";

/// The token epoch of a credential: the first 8 bytes (big-endian) of SHA-256 of its verifier
/// (none for a public client), its consumer id and its incarnation
/// ([`crate::snapshot::Credential::incarnation`]). Tokens carry it, so rotating the secret,
/// moving the credential to another consumer, or installing a secret again (even one used
/// before) revokes every older token (unless the credential's tokens survive rotation).
pub fn token_epoch(verifier: Option<&str>, consumer_id: &str, incarnation: &str) -> u64 {
    let mut h = Sha256::new();
    h.update(b"tollgate token epoch v2\0");
    for field in [verifier.unwrap_or(""), consumer_id, incarnation] {
        h.update(u64::try_from(field.len()).unwrap_or(u64::MAX).to_be_bytes());
        h.update(field.as_bytes());
    }
    h.update([u8::from(verifier.is_some())]);
    let digest: [u8; 32] = h.finalize().into();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

#[cfg(test)]
#[path = "secret_tests.rs"]
mod tests;
