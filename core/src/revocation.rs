//! The revocation store: ids the gateway refuses until they expire.
//!
//! One bounded map from a [`RevokedId`] to the unix second its entry stops mattering (the expiry
//! of the token it names; 0 for a token that never expires). It holds three kinds of ids:
//! - [`Kind::Token`]: access tokens revoked through `…/oauth2/revoke` (RFC 7009). The id of a
//!   token is [`token_id`] of its nonce, so an opaque token and the JWT carrying it share one id;
//! - [`Kind::Family`]: refresh-token families revoked as a whole (reuse of a rotated token);
//! - [`Kind::Code`]: authorization codes already exchanged (single use).
//!
//! The same type runs in every proxy (consulted on verification), in the controller (the merged
//! set it persists and pushes) and in standalone mode (the state directory). Nothing here does IO:
//! the clock is an argument.
//!
//! API for every user of the store:
//! - [`RevocationStore::insert`] records an id made here (a revocation, a consumed code): it is
//!   [`Insert::New`] the first time, [`Insert::Known`] when already present — so "insert and
//!   check for `New`" is a single-use test — and [`Full`] at the capacity (after dropping expired
//!   entries): the caller refuses the operation (503) rather than forget an id silently.
//! - [`RevocationStore::contains`] answers whether an id is revoked at `now`.
//! - [`RevocationStore::since`] pages through the ids inserted here, by sequence number: what a
//!   proxy hands the controller (`GET /revocations?after=<seq>`).
//! - [`RevocationStore::merge`] adds ids learnt elsewhere (not paged out again).
//! - [`RevocationStore::live`] lists every live entry, for persistence and pushes;
//!   [`encode`]/[`decode`] are the compact binary form persisted (a Secret, a state-directory
//!   file).
//!
//! Wire documents of the admin port: [`RevocationPage`] (`GET /revocations`) and
//! [`RevocationPush`] (`POST /revocations`).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// Most entries a store holds (all kinds together). With [`ENCODED_ENTRY_LEN`] bytes each, the
/// encoded store stays under 600 KB, inside a Kubernetes Secret's 1 MiB.
pub const CAPACITY: usize = 20_000;
/// Most entries in one [`RevocationPage`].
pub const PAGE_LEN: usize = 1_000;
/// Bytes of one entry in [`encode`]: kind (1), id (16), expiry (8).
pub const ENCODED_ENTRY_LEN: usize = 25;
/// First byte of [`encode`]'s output.
const ENCODING_VERSION: u8 = 1;

/// The path of the revocation channel on the admin port.
pub const PATH: &str = "/revocations";

/// What an id names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// An access token ([`token_id`]).
    Token,
    /// A refresh-token family.
    Family,
    /// An authorization code already exchanged.
    Code,
}

impl Kind {
    fn tag(self) -> u8 {
        match self {
            Kind::Token => b't',
            Kind::Family => b'f',
            Kind::Code => b'c',
        }
    }

    fn from_tag(tag: u8) -> Option<Self> {
        match tag {
            b't' => Some(Kind::Token),
            b'f' => Some(Kind::Family),
            b'c' => Some(Kind::Code),
            _ => None,
        }
    }
}

/// An id in the store: its kind and 16 bytes. Text form: `t.<32 hex>` (`f.` family, `c.` code).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RevokedId {
    pub kind: Kind,
    pub id: [u8; 16],
}

impl RevokedId {
    pub fn token(id: [u8; 16]) -> Self {
        Self {
            kind: Kind::Token,
            id,
        }
    }
    pub fn family(id: [u8; 16]) -> Self {
        Self {
            kind: Kind::Family,
            id,
        }
    }
    pub fn code(id: [u8; 16]) -> Self {
        Self {
            kind: Kind::Code,
            id,
        }
    }
}

impl fmt::Display for RevokedId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.", char::from(self.kind.tag()))?;
        self.id.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// The text form is not a [`RevokedId`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a revocation id (want t., f. or c. and 32 lowercase hex digits)")]
pub struct BadId;

impl FromStr for RevokedId {
    type Err = BadId;
    fn from_str(s: &str) -> Result<Self, BadId> {
        let b = s.as_bytes();
        if b.len() != 34 || b[1] != b'.' {
            return Err(BadId);
        }
        let kind = Kind::from_tag(b[0]).ok_or(BadId)?;
        let mut id = [0u8; 16];
        for (i, pair) in b[2..].chunks(2).enumerate() {
            let hex = |c: u8| match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'a'..=b'f' => Some(c - b'a' + 10),
                _ => None,
            };
            id[i] = (hex(pair[0]).ok_or(BadId)? << 4) | hex(pair[1]).ok_or(BadId)?;
        }
        Ok(Self { kind, id })
    }
}

impl Serialize for RevokedId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RevokedId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// 16 bytes naming something, derived from its unique bytes under a domain `label`:
/// the first 16 bytes of SHA-256(`label` ‖ 0 ‖ `bytes`). Each kind of id uses its own label.
pub fn derive_id(label: &str, bytes: &[u8]) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update(label.as_bytes());
    h.update([0u8]);
    h.update(bytes);
    let digest: [u8; 32] = h.finalize().into();
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

/// The id of an access token: [`derive_id`] of its 24-byte nonce (random per token, and the
/// same in an opaque token and the JWT that carries it). A JWT's `jti` is its hex.
pub fn token_id(nonce: &[u8; 24]) -> [u8; 16] {
    derive_id("tollgate token id v1", nonce)
}

/// One entry: an id and the unix second it expires (0: never).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub id: RevokedId,
    pub exp: u64,
}

impl Entry {
    /// Whether the entry no longer matters at `now` (the token it names has expired).
    pub fn is_expired(&self, now: u64) -> bool {
        self.exp != 0 && now >= self.exp
    }
}

/// The answer of [`RevocationStore::insert`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Insert {
    /// Recorded now, under this sequence number.
    New(u64),
    /// Already present (a code already consumed, a token already revoked).
    Known,
    /// Already expired at `now`: nothing to keep (what it names is refused anyway).
    Expired,
}

/// The store is at its capacity, even after dropping expired entries: the operation that wanted
/// an entry must be refused (fail closed), never the entry silently dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the revocation store is full ({0} entries)")]
pub struct Full(pub usize);

/// A bounded set of [`RevokedId`]s with expiries, and the sequence log of the ids inserted here.
#[derive(Clone, Debug)]
pub struct RevocationStore {
    capacity: usize,
    entries: HashMap<RevokedId, u64>,
    /// Sequence number → id, for ids inserted here (not merged), while they live.
    log: BTreeMap<u64, Entry>,
    seq: u64,
}

impl Default for RevocationStore {
    fn default() -> Self {
        Self::new(CAPACITY)
    }
}

impl RevocationStore {
    /// An empty store holding at most `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: HashMap::new(),
            log: BTreeMap::new(),
            seq: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The sequence number of the last id inserted here (0: none yet).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Whether `id` is revoked (present and not expired) at `now`.
    pub fn contains(&self, id: &RevokedId, now: u64) -> bool {
        self.entries
            .get(id)
            .is_some_and(|&exp| exp == 0 || now < exp)
    }

    /// Records `id` (until `exp`, 0: forever) as made here; see [`Insert`] and [`Full`].
    pub fn insert(&mut self, id: RevokedId, exp: u64, now: u64) -> Result<Insert, Full> {
        let entry = Entry { id, exp };
        if entry.is_expired(now) {
            return Ok(Insert::Expired);
        }
        if self.contains(&id, now) {
            return Ok(Insert::Known);
        }
        self.make_room(now)?;
        self.seq += 1;
        self.entries.insert(id, exp);
        self.log.insert(self.seq, entry);
        Ok(Insert::New(self.seq))
    }

    /// Adds entries learnt elsewhere (expired ones skipped; a known id keeps the later expiry).
    /// They are not paged out by [`Self::since`]. Returns how many were new; [`Full`] when some
    /// did not fit (those that fitted stay).
    pub fn merge(
        &mut self,
        entries: impl IntoIterator<Item = Entry>,
        now: u64,
    ) -> Result<usize, Full> {
        let mut added = 0;
        let mut full = false;
        for entry in entries {
            if entry.is_expired(now) {
                continue;
            }
            if let Some(exp) = self.entries.get_mut(&entry.id) {
                if *exp != 0 && (entry.exp == 0 || entry.exp > *exp) {
                    *exp = entry.exp;
                }
                continue;
            }
            if self.make_room(now).is_err() {
                full = true;
                continue;
            }
            self.entries.insert(entry.id, entry.exp);
            added += 1;
        }
        if full {
            Err(Full(self.capacity))
        } else {
            Ok(added)
        }
    }

    /// Drops every entry expired at `now`; returns how many.
    pub fn purge(&mut self, now: u64) -> usize {
        let before = self.entries.len();
        self.entries.retain(|_, &mut exp| exp == 0 || now < exp);
        self.log.retain(|_, entry| !entry.is_expired(now));
        before - self.entries.len()
    }

    /// Up to `limit` ids inserted here after sequence number `after`, oldest first, and the
    /// sequence number to ask after next time.
    pub fn since(&self, after: u64, limit: usize, now: u64) -> (Vec<Entry>, u64) {
        let mut next = after;
        let mut out = Vec::new();
        for (&seq, entry) in self.log.range(after.saturating_add(1)..) {
            if out.len() == limit {
                return (out, next);
            }
            next = seq;
            if !entry.is_expired(now) {
                out.push(*entry);
            }
        }
        (out, self.seq)
    }

    /// Every live entry at `now`, sorted by id (a stable order for persistence and comparison).
    pub fn live(&self, now: u64) -> Vec<Entry> {
        let mut out: Vec<Entry> = self
            .entries
            .iter()
            .map(|(&id, &exp)| Entry { id, exp })
            .filter(|e| !e.is_expired(now))
            .collect();
        out.sort_by_key(|e| e.id);
        out
    }

    fn make_room(&mut self, now: u64) -> Result<(), Full> {
        if self.entries.len() >= self.capacity {
            self.purge(now);
        }
        if self.entries.len() >= self.capacity {
            return Err(Full(self.capacity));
        }
        Ok(())
    }
}

/// The compact form persisted: a version byte, then [`ENCODED_ENTRY_LEN`] bytes per entry
/// (kind tag, id, expiry big-endian).
pub fn encode(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + entries.len() * ENCODED_ENTRY_LEN);
    out.push(ENCODING_VERSION);
    for entry in entries {
        out.push(entry.id.kind.tag());
        out.extend_from_slice(&entry.id.id);
        out.extend_from_slice(&entry.exp.to_be_bytes());
    }
    out
}

/// Bytes that are not [`encode`]'s output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the stored revocations are not in a known format")]
pub struct BadEncoding;

/// Reads [`encode`]'s output back; at most `CAPACITY` entries are accepted.
pub fn decode(bytes: &[u8]) -> Result<Vec<Entry>, BadEncoding> {
    let Some((&ENCODING_VERSION, rest)) = bytes.split_first() else {
        return Err(BadEncoding);
    };
    if rest.len() % ENCODED_ENTRY_LEN != 0 || rest.len() / ENCODED_ENTRY_LEN > CAPACITY {
        return Err(BadEncoding);
    }
    rest.chunks_exact(ENCODED_ENTRY_LEN)
        .map(|chunk| {
            let kind = Kind::from_tag(chunk[0]).ok_or(BadEncoding)?;
            let id: [u8; 16] = chunk[1..17].try_into().map_err(|_| BadEncoding)?;
            let exp: [u8; 8] = chunk[17..].try_into().map_err(|_| BadEncoding)?;
            Ok(Entry {
                id: RevokedId { kind, id },
                exp: u64::from_be_bytes(exp),
            })
        })
        .collect()
}

/// `200` reply of `GET /revocations?after=<seq>` on a proxy's admin port: the ids revoked at
/// this proxy after `after` (at most [`PAGE_LEN`]). The proxy holds the request until it has
/// one or its wait ends. `instance` changes when the proxy restarts (its sequence numbers start
/// again): a caller seeing another instance asks from 0.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationPage {
    pub instance: String,
    /// Ask after this sequence number next time.
    pub seq: u64,
    pub entries: Vec<Entry>,
}

/// Body of `POST /revocations` (bearer config token): ids to merge into the proxy's store.
/// Applied at once, without recompiling the snapshot. At most [`CAPACITY`] entries.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationPush {
    pub entries: Vec<Entry>,
}

#[cfg(test)]
#[path = "revocation_tests.rs"]
mod tests;
