//! Kong's `rate-limiting` plugin (local policy) on the request path: whom a request counts for,
//! the counters of this replica, and the headers and 429 of the answer. The window arithmetic
//! is core's ([`tollgate_core::ratelimit`]).
//!
//! **Counters.** One [`Counters`] table per plugin, shared by every worker of the process (the
//! limit is per replica, not per core), split into [`SHARDS`] mutex-guarded maps chosen by a
//! keyed hash of the identity: a request takes one uncontended lock for a few dozen
//! nanoseconds, and two identities rarely share a lock. A table is kept across snapshots by the
//! plugin's id and incarnation ([`Registry`]), so a configuration change does not reset anyone's
//! windows, while a deleted and re-created plugin starts afresh.
//!
//! **Memory.** Keys are 17 bytes (a kind and a UUID or an IPv6-form address), so what a client
//! sends never sizes an entry. A table holds at most [`MAX_KEYS`] identities: a full shard first
//! forgets identities whose windows are all over, then, when that is not enough (an attacker
//! rotating addresses), the half seen least recently. A forgotten identity starts its windows
//! again, which costs the attacker nothing it could not get from a fresh address anyway.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, RandomState};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use http::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use http::{Response, StatusCode};
use sha2::{Digest, Sha256};
use tollgate_core::oauth::Identity;
use tollgate_core::ratelimit::{self, Decision, Limits, Period};
use tollgate_core::snapshot::{LimitBy, Plugin, PluginConfig, RateLimitingConfig};

use crate::shared::respond;
use crate::upstream::ProxyBody;

/// Kong's 429 body.
pub const RATE_LIMITED: &str = r#"{"message":"API rate limit exceeded"}"#;
/// Shards of a table.
pub const SHARDS: usize = 64;
/// Most identities one plugin's table holds.
pub const MAX_KEYS: usize = 100_000;
const SHARD_CAP: usize = MAX_KEYS.div_ceil(SHARDS);

const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// `X-RateLimit-Limit-<Period>` and `X-RateLimit-Remaining-<Period>`, built at compile time
/// (a `HeaderName` made at run time validates its text on every call).
fn period_names(period: Period) -> (HeaderName, HeaderName) {
    const SECOND: (HeaderName, HeaderName) = (
        HeaderName::from_static(Period::Second.limit_header()),
        HeaderName::from_static(Period::Second.remaining_header()),
    );
    const MINUTE: (HeaderName, HeaderName) = (
        HeaderName::from_static(Period::Minute.limit_header()),
        HeaderName::from_static(Period::Minute.remaining_header()),
    );
    const HOUR: (HeaderName, HeaderName) = (
        HeaderName::from_static(Period::Hour.limit_header()),
        HeaderName::from_static(Period::Hour.remaining_header()),
    );
    match period {
        Period::Second => SECOND,
        Period::Minute => MINUTE,
        Period::Hour => HOUR,
    }
}

/// Numbers below this are header values without an allocation (see [`number`]).
const STATIC_NUMBERS: u64 = 10_000;

/// `n` as a header value. Below [`STATIC_NUMBERS`] it points into one static text of every
/// such number, built once: no allocation and no reference count (a shared value's count would
/// bounce between the workers' cores on every request); above, a fresh value.
fn number(n: u64) -> HeaderValue {
    static DIGITS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        use std::fmt::Write as _;
        let mut text = String::with_capacity(40_000);
        for n in 0..STATIC_NUMBERS {
            let _ = write!(text, "{n}");
        }
        text
    });
    if n >= STATIC_NUMBERS {
        return HeaderValue::from(n);
    }
    // Where `n` starts: 10 one-digit numbers, 90 of two digits, 900 of three, then four.
    let (start, len) = match n {
        0..10 => (n, 1),
        10..100 => (10 + (n - 10) * 2, 2),
        100..1000 => (190 + (n - 100) * 3, 3),
        _ => (2890 + (n - 1000) * 4, 4),
    };
    let text: &'static str = &DIGITS;
    let start = usize::try_from(start).unwrap_or(0);
    let digits = &text.as_bytes()[start..start + len];
    HeaderValue::from_maybe_shared(bytes::Bytes::from_static(digits))
        .unwrap_or_else(|_| HeaderValue::from(n))
}

/// An identity: a kind byte (consumer, credential, address) and 16 bytes.
type Key = [u8; 17];

/// A key with its keyed hash, computed once per request: it picks the shard and is the map's
/// hash too (the map's hasher passes it through), so a request hashes its key once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Hashed {
    hash: u64,
    key: Key,
}

impl std::hash::Hash for Hashed {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// The map's hasher: the [`Hashed`] key's own hash, as it is.
#[derive(Default)]
struct PassThrough(u64);

impl std::hash::Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used by `Hashed`; anything else still hashes (FNV-1a).
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Shard = HashMap<Hashed, Entry, BuildHasherDefault<PassThrough>>;

#[derive(Clone, Copy, Debug, Default)]
struct Entry {
    counters: ratelimit::Counters,
    /// Unix seconds of the last request.
    last: u64,
}

/// One plugin's counters, shared by the workers of this process.
#[derive(Debug)]
pub struct Counters {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
}

impl Default for Counters {
    fn default() -> Self {
        let hasher = RandomState::new();
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            hasher,
        }
    }
}

impl Counters {
    /// Admits or refuses one request of `key` at `now` and counts it when admitted.
    fn admit(&self, key: Key, limits: &Limits, now: u64) -> Decision {
        let hash = self.hasher.hash_one(key);
        let key = Hashed { hash, key };
        // The high bits pick the shard; hashbrown uses the low ones and the top 7 within it.
        let shard = (hash >> 32) as usize % SHARDS;
        let mut map = self.shards[shard]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if map.len() >= SHARD_CAP && !map.contains_key(&key) {
            make_room(&mut map, limits, now);
        }
        let entry = map.entry(key).or_default();
        entry.last = now;
        ratelimit::admit(&mut entry.counters, limits, now)
    }

    /// Identities held (tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }
}

/// Frees room in a full shard: identities whose windows are all over, then, if a quarter is not
/// free yet, the half seen least recently.
fn make_room(map: &mut Shard, limits: &Limits, now: u64) {
    map.retain(|_, e| !e.counters.expired(limits, now));
    if map.len() < SHARD_CAP - SHARD_CAP / 4 {
        return;
    }
    let mut seen: Vec<u64> = map.values().map(|e| e.last).collect();
    let middle = seen.len() / 2;
    let (_, median, _) = seen.select_nth_unstable(middle);
    let median = *median;
    map.retain(|_, e| e.last > median);
    // Every entry seen in the same second: drop them all rather than keep the shard full.
    if map.len() >= SHARD_CAP - SHARD_CAP / 4 {
        map.clear();
    }
}

/// The counters of every rate-limiting plugin being served, by id and incarnation. Compiled
/// snapshots hold the tables; the registry only finds them again for the next snapshot.
#[derive(Debug, Default)]
pub struct Registry {
    tables: Mutex<HashMap<String, Weak<Counters>>>,
}

impl Registry {
    /// The table of `plugin`: the one a served snapshot already counts with, or a new one.
    fn counters(&self, plugin: &Plugin) -> Arc<Counters> {
        let key = format!("{}\0{}", plugin.id, plugin.incarnation);
        let mut tables = self.tables.lock().unwrap_or_else(PoisonError::into_inner);
        tables.retain(|_, weak| weak.strong_count() > 0);
        if let Some(table) = tables.get(&key).and_then(Weak::upgrade) {
            return table;
        }
        let table = Arc::new(Counters::default());
        tables.insert(key, Arc::downgrade(&table));
        table
    }

    /// A route's rate limit, compiled from `plugin` (a rate-limiting plugin, else `None`).
    pub fn compile(&self, plugin: &Plugin) -> Option<Arc<RateLimit>> {
        let PluginConfig::RateLimiting(config) = &plugin.config else {
            return None;
        };
        Some(Arc::new(RateLimit::new(config, self.counters(plugin))))
    }
}

/// A rate-limiting plugin ready to serve: its limits (divided by the replicas when asked), whom
/// it counts, and its counters.
#[derive(Debug)]
pub struct RateLimit {
    limits: Limits,
    limit_by: LimitBy,
    hide_client_headers: bool,
    counters: Arc<Counters>,
}

impl RateLimit {
    fn new(config: &RateLimitingConfig, counters: Arc<Counters>) -> Self {
        Self {
            limits: Limits::of(config),
            limit_by: config.limit_by,
            hide_client_headers: config.hide_client_headers,
            counters,
        }
    }

    /// [`Self::check_with`] from a known client address.
    #[cfg(test)]
    pub fn check(
        &self,
        identity: Option<&Identity<'_>>,
        client: IpAddr,
        now: u64,
    ) -> Result<Quota<'_>, Refused<'_>> {
        self.check_with(identity, || client, now)
    }

    /// Counts the request of `identity` (`None`: no authentication plugin ran) from `client`
    /// (asked only when the address is the key, so a consumer or credential key never reads
    /// `X-Forwarded-For`): `Ok` is the standing of an admitted request (for its response's
    /// headers), `Err` a refused one (its 429 is [`Refused::response`]).
    pub fn check_with(
        &self,
        identity: Option<&Identity<'_>>,
        client: impl FnOnce() -> IpAddr,
        now: u64,
    ) -> Result<Quota<'_>, Refused<'_>> {
        let key = key_with(self.limit_by, identity, client);
        let decision = self.counters.admit(key, &self.limits, now);
        if decision.allowed {
            Ok(Quota {
                limit: self,
                decision,
            })
        } else {
            Err(Refused {
                limit: self,
                decision,
            })
        }
    }

    fn put_headers(&self, decision: &Decision, headers: &mut HeaderMap) {
        headers.reserve(3 + 2 * decision.usage().count());
        for usage in decision.usage() {
            let (limit, remaining) = period_names(usage.period);
            headers.insert(limit, number(usage.limit));
            headers.insert(remaining, number(usage.remaining));
        }
        headers.insert(RATELIMIT_LIMIT, number(decision.limit));
        headers.insert(RATELIMIT_REMAINING, number(decision.remaining));
        headers.insert(RATELIMIT_RESET, number(decision.reset));
    }
}

/// A refused request: its limit and the numbers of its 429.
#[derive(Debug)]
pub struct Refused<'a> {
    limit: &'a RateLimit,
    decision: Decision,
}

impl Refused<'_> {
    /// Kong's 429: `{"message": "API rate limit exceeded"}`, `Retry-After` (always, even with
    /// `hide_client_headers`), and the limit's headers unless hidden.
    pub fn response(&self) -> Response<ProxyBody> {
        let mut response = respond::static_json(StatusCode::TOO_MANY_REQUESTS, RATE_LIMITED);
        let headers = response.headers_mut();
        headers.insert(RETRY_AFTER, number(self.decision.reset));
        if !self.limit.hide_client_headers {
            self.limit.put_headers(&self.decision, headers);
        }
        response
    }
}

/// An admitted request's standing, for the headers of its response. It borrows the route's
/// limit (no reference count touched per request).
#[derive(Debug)]
pub struct Quota<'a> {
    limit: &'a RateLimit,
    decision: Decision,
}

impl Quota<'_> {
    /// Sets the rate-limit headers on the response, replacing the upstream's fields of the same
    /// names (on both server paths: the verbatim lines of the HTTP/1 fast path too), as Kong sets
    /// them in its header filter.
    pub fn apply(&self, response: &mut Response<ProxyBody>) {
        if self.limit.hide_client_headers {
            return;
        }
        // The fast path relays an upstream's header lines as they came: the fields are written
        // into them, with no `HeaderMap` entry or header value to allocate.
        let limit = self.limit;
        let decision = &self.decision;
        let written = response.body_mut().replace_verbatim_fields(
            |name| limit.sets(name),
            |lines| limit.write_lines(decision, lines),
        );
        if !written {
            limit.put_headers(decision, response.headers_mut());
        }
    }
}

impl RateLimit {
    /// The fields of [`Self::put_headers`], in the same order, as `name: value\r\n` lines.
    fn write_lines(&self, decision: &Decision, out: &mut Vec<u8>) {
        // Seven lines at most (two windows per period, three fields): one reservation.
        out.reserve(64 * (3 + 2 * decision.usage().count()));
        for usage in decision.usage() {
            line(out, usage.period.limit_header(), usage.limit);
            line(out, usage.period.remaining_header(), usage.remaining);
        }
        line(out, RATELIMIT_LIMIT.as_str(), decision.limit);
        line(out, RATELIMIT_REMAINING.as_str(), decision.remaining);
        line(out, RATELIMIT_RESET.as_str(), decision.reset);
    }

    /// Whether `name` (any case) is a field this limit sets on responses.
    fn sets(&self, name: &[u8]) -> bool {
        let is = |field: &str| name.eq_ignore_ascii_case(field.as_bytes());
        let starts = |prefix: &[u8]| {
            name.len() > prefix.len() && name[..prefix.len()].eq_ignore_ascii_case(prefix)
        };
        if !(starts(b"ratelimit-") || starts(b"x-ratelimit-")) {
            return false;
        }
        is("ratelimit-limit")
            || is("ratelimit-remaining")
            || is("ratelimit-reset")
            || self
                .limits
                .iter()
                .any(|(p, _)| is(p.limit_header()) || is(p.remaining_header()))
    }
}

/// Appends `name: n\r\n`, built on the stack and copied once (names are at most 32 bytes).
fn line(out: &mut Vec<u8>, name: &str, n: u64) {
    let mut text = [0u8; 64];
    let name = name.as_bytes();
    if name.len() > 32 {
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        let mut digits = [0u8; 20];
        let at = put_digits(&mut digits, n);
        out.extend_from_slice(&digits[at..]);
        out.extend_from_slice(b"\r\n");
        return;
    }
    text[..name.len()].copy_from_slice(name);
    text[name.len()..name.len() + 2].copy_from_slice(b": ");
    let mut digits = [0u8; 20];
    let at = put_digits(&mut digits, n);
    let start = name.len() + 2;
    let len = digits.len() - at;
    text[start..start + len].copy_from_slice(&digits[at..]);
    text[start + len..start + len + 2].copy_from_slice(b"\r\n");
    out.extend_from_slice(&text[..start + len + 2]);
}

/// Writes `n`'s decimal digits at the end of `digits`; returns where they start.
fn put_digits(digits: &mut [u8; 20], n: u64) -> usize {
    let mut at = digits.len();
    let mut rest = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            return at;
        }
    }
}

/// [`key_with`] of a known client address.
#[cfg(test)]
fn key_of(limit_by: LimitBy, identity: Option<&Identity<'_>>, client: IpAddr) -> Key {
    key_with(limit_by, identity, || client)
}

/// The key a request counts under: the consumer, the credential or the client address, as
/// `limit_by` says and Kong falls back; `client` is asked only when the address is the key.
fn key_with(
    limit_by: LimitBy,
    identity: Option<&Identity<'_>>,
    client: impl FnOnce() -> IpAddr,
) -> Key {
    let consumer = identity.and_then(|i| i.consumer).map(|c| c.id.as_str());
    let credential = identity.and_then(|i| i.credential).map(|c| c.id.as_str());
    let chosen = match limit_by {
        LimitBy::Consumer => consumer.map(|id| (1, id)).or(credential.map(|id| (2, id))),
        LimitBy::Credential => credential.map(|id| (2, id)),
        LimitBy::Ip => None,
    };
    let mut key = [0u8; 17];
    match chosen {
        Some((kind, id)) => {
            key[0] = kind;
            let bytes = tollgate_core::ids::uuid_bytes(id).unwrap_or_else(|| {
                let digest = Sha256::digest(id.as_bytes());
                let mut first = [0u8; 16];
                first.copy_from_slice(&digest[..16]);
                first
            });
            key[1..].copy_from_slice(&bytes);
        }
        None => {
            key[0] = 3;
            let v6 = match tollgate_core::address::canonical(client()) {
                IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                IpAddr::V6(v6) => v6,
            };
            key[1..].copy_from_slice(&v6.octets());
        }
    }
    key
}

/// The client's address as the limit counts it: the peer's, or from a trusted proxy the last
/// address it appended to `X-Forwarded-For` (the one it received the request from).
pub fn client_ip(peer: IpAddr, trusted: bool, headers: &HeaderMap) -> IpAddr {
    if !trusted {
        return peer;
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .next_back()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .map(str::trim)
        .and_then(|a| {
            a.parse::<IpAddr>()
                .ok()
                .or_else(|| a.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
        })
        .unwrap_or(peer)
}

#[cfg(test)]
#[path = "rate_limit_tests.rs"]
mod tests;
