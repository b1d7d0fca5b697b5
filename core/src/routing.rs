//! Path normalization, the route table, and Kong's `strip_path` semantics.
//!
//! The proxy normalizes every request path once with [`normalize_path`] and uses the result both
//! to match routes (and token endpoints) and to build the upstream path, so no spelling of a
//! path (`/a/../auth`, `/%61uth`, `//auth`) can reach a route it does not match.

use std::collections::HashMap;
use std::sync::Arc;

use crate::snapshot::Route;

/// Longest request path accepted, in bytes.
pub const MAX_PATH_LEN: usize = 8192;

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum PathError {
    #[error("path is empty or does not start with '/'")]
    NotAbsolute,
    #[error("path is longer than {MAX_PATH_LEN} bytes")]
    TooLong,
    #[error("path contains a NUL or control character")]
    ControlCharacter,
    #[error("path contains a malformed percent-encoding")]
    BadEncoding,
    #[error("path climbs above the root with '..'")]
    EscapesRoot,
    #[error("path contains an encoded '/' or '\\' (%2F, %5C)")]
    EncodedSeparator,
    #[error("path contains a '\\'")]
    Backslash,
    #[error("path has a '.' or '..' segment with a ';' parameter")]
    DotSegmentParameter,
}

/// Normalizes a request path (without query) for matching and forwarding:
/// - percent-encoded unreserved characters (`A-Z a-z 0-9 - . _ ~`, so also `%2E`) are decoded,
///   every other escape is kept with upper-case hex (`%2F` stays encoded: it is not a separator);
/// - `.` and `..` segments are resolved (RFC 3986 §5.2.4); `..` above the root is an error;
/// - empty segments (`//`) are collapsed; a trailing `/` is kept;
/// - NUL and control characters, raw or encoded, are refused;
/// - separators a server behind the proxy may read differently are refused (400): `\` (IIS and
///   some frameworks take it for `/`), `%2F` and `%5C` (servers that decode before routing see
///   another path: Envoy's `REJECT_REQUEST` choice for escaped slashes), and `.`/`..` segments
///   with a `;` parameter (`/public/..;/admin`, which Tomcat resolves to `/admin`).
///
/// A `;` elsewhere is kept, and [`prefix_matches`] takes it as the end of a segment, so
/// `/api;x/admin` is matched by the route of `/api` (servers that strip path parameters serve it
/// as `/api/admin`), never by a less specific one.
pub fn normalize_path(raw: &str) -> Result<String, PathError> {
    if raw.len() > MAX_PATH_LEN {
        return Err(PathError::TooLong);
    }
    if !raw.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    if is_normal(raw) {
        // The common case: nothing to decode, resolve or collapse.
        return Ok(raw.to_owned());
    }
    normalize_slow(raw)
}

/// Whether an absolute `raw` path is already in normal form: no escapes, no control
/// characters, no empty (except a trailing one), `.` or `..` segments.
fn is_normal(raw: &str) -> bool {
    if raw
        .bytes()
        .any(|b| b == b'%' || b == b'\\' || b < 0x20 || b == 0x7f)
    {
        return false;
    }
    let mut segments = raw[1..].split('/').peekable();
    while let Some(segment) = segments.next() {
        match segment {
            "" if segments.peek().is_some() => return false,
            "." | ".." => return false,
            s if is_dot_with_parameter(s) => return false,
            _ => {}
        }
    }
    true
}

/// `.;…` or `..;…`: a dot segment with a path parameter.
fn is_dot_with_parameter(segment: &str) -> bool {
    segment.starts_with(".;") || segment.starts_with("..;")
}

fn normalize_slow(raw: &str) -> Result<String, PathError> {
    let decoded = decode_unreserved(raw)?;
    let mut out: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    let segments = decoded[1..].split('/');
    let mut segments = segments.peekable();
    while let Some(seg) = segments.next() {
        let last = segments.peek().is_none();
        match seg {
            s if is_dot_with_parameter(s) => return Err(PathError::DotSegmentParameter),
            "" | "." => trailing_slash = last,
            ".." => {
                if out.pop().is_none() {
                    return Err(PathError::EscapesRoot);
                }
                trailing_slash = last;
            }
            s => {
                out.push(s);
                trailing_slash = false;
            }
        }
    }
    let mut path = String::with_capacity(decoded.len());
    for seg in &out {
        path.push('/');
        path.push_str(seg);
    }
    if path.is_empty() || trailing_slash {
        path.push('/');
    }
    Ok(path)
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn decode_unreserved(raw: &str) -> Result<String, PathError> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b < 0x20 || b == 0x7f {
            return Err(PathError::ControlCharacter);
        }
        if b == b'\\' {
            return Err(PathError::Backslash);
        }
        if b != b'%' {
            // Copy the whole (possibly multi-byte) character.
            let ch_len = raw[i..].chars().next().map_or(1, char::len_utf8);
            out.push_str(&raw[i..i + ch_len]);
            i += ch_len;
            continue;
        }
        let (Some(hi), Some(lo)) = (
            bytes.get(i + 1).copied().and_then(hex_value),
            bytes.get(i + 2).copied().and_then(hex_value),
        ) else {
            return Err(PathError::BadEncoding);
        };
        let value = hi << 4 | lo;
        if value < 0x20 || value == 0x7f {
            return Err(PathError::ControlCharacter);
        }
        if value == b'/' || value == b'\\' {
            return Err(PathError::EncodedSeparator);
        }
        if is_unreserved(value) {
            out.push(char::from(value));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(hi)]));
            out.push(char::from(HEX[usize::from(lo)]));
        }
        i += 3;
    }
    Ok(out)
}

/// Whether a normalized `path` is under `prefix`, segment-aware: `/auth` matches `/auth`,
/// `/auth/`, `/auth/x` and `/auth;param` but not `/authx`; a prefix ending in `/` matches
/// everything below it; the empty prefix matches everything.
pub fn prefix_matches(prefix: &str, path: &str) -> bool {
    match path.strip_prefix(prefix) {
        None => false,
        Some(rest) => {
            rest.is_empty()
                || prefix.ends_with('/')
                || prefix.is_empty()
                || rest.starts_with('/')
                || rest.starts_with(';')
        }
    }
}

/// Longest regular expression a route may match header or query values with, in bytes.
pub const MAX_REGEX_LEN: usize = 1024;
/// Memory a compiled value regex may take: patterns that would need more are refused, so a
/// snapshot cannot make the proxy build huge automata.
const REGEX_SIZE_LIMIT: usize = 256 * 1024;

/// Compiles the regular expression of a header or query parameter match. It must match the
/// whole value (it is anchored at both ends); matching runs in time linear in the value.
pub fn compile_value_regex(pattern: &str) -> Result<regex::Regex, String> {
    if pattern.len() > MAX_REGEX_LEN {
        return Err(format!("longer than {MAX_REGEX_LEN} bytes"));
    }
    regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .nest_limit(64)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(_) => "it compiles to too large an automaton".to_owned(),
            other => other
                .to_string()
                .lines()
                .last()
                .unwrap_or_default()
                .trim()
                .to_owned(),
        })
}

/// A matched route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteMatch<'a> {
    /// Index of the route in the slice given to [`RouteTable::new`].
    pub index: usize,
    pub route: &'a Route,
    /// The path prefix that matched ("" when the route has no paths).
    pub matched_prefix: &'a str,
}

/// One (route, prefix) pair, in priority order within its host class.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    /// Index of the route in the table's routes.
    route: u32,
    /// Index of the prefix in the route's `paths`; [`NO_PREFIX`] for a route without paths.
    prefix: u32,
    prefix_len: u32,
    has_methods: bool,
}

const NO_PREFIX: u32 = u32::MAX;

/// Routes precomputed for matching: exact hosts in a map, wildcard suffixes longest first, then
/// routes without hosts; within each, candidates by longest prefix, then routes with methods,
/// then route id. Lookups scan candidates linearly; [`RouteIndex`] partitions large tables.
/// Candidates refer to the routes by position, so tables over subsets of the same routes share
/// them instead of copying.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Arc<[Route]>,
    exact: HashMap<String, Vec<Candidate>>,
    /// (suffix including the leading dot, candidates), longest suffix first.
    wildcard: Vec<(String, Vec<Candidate>)>,
    any_host: Vec<Candidate>,
}

/// Longest host (without port) looked up; longer hosts match only host-less routes.
const MAX_HOST_LEN: usize = 255;

impl RouteTable {
    pub fn new(routes: &[Route]) -> Self {
        Self::new_owned(routes.to_vec())
    }

    /// [`Self::new`], taking the routes over rather than copying them.
    pub fn new_owned(routes: Vec<Route>) -> Self {
        let count = u32::try_from(routes.len()).unwrap_or(u32::MAX);
        Self::over(routes.into(), 0..count)
    }

    /// A table matching only the routes at `subset` (positions in `routes`, increasing).
    fn over(routes: Arc<[Route]>, subset: impl IntoIterator<Item = u32>) -> Self {
        let mut table = RouteTable {
            routes,
            ..Default::default()
        };
        let routes = Arc::clone(&table.routes);
        for index in subset {
            let Some(route) = routes.get(index as usize) else {
                continue;
            };
            let has_methods = !route.methods.is_empty();
            let candidates: Vec<Candidate> = if route.paths.is_empty() {
                vec![Candidate {
                    route: index,
                    prefix: NO_PREFIX,
                    prefix_len: 0,
                    has_methods,
                }]
            } else {
                (0u32..)
                    .zip(&route.paths)
                    .map(|(prefix, path)| Candidate {
                        route: index,
                        prefix,
                        prefix_len: u32::try_from(path.len()).unwrap_or(u32::MAX),
                        has_methods,
                    })
                    .collect()
            };
            if route.hosts.is_empty() {
                table.any_host.extend(candidates);
                continue;
            }
            for host in &route.hosts {
                let host = host.to_ascii_lowercase();
                let host = host.trim_end_matches('.');
                let list = if let Some(suffix) = host.strip_prefix('*') {
                    let suffix = suffix.to_string();
                    match table.wildcard.iter_mut().position(|(s, _)| *s == suffix) {
                        Some(i) => &mut table.wildcard[i].1,
                        None => {
                            table.wildcard.push((suffix, Vec::new()));
                            let last = table.wildcard.len() - 1;
                            &mut table.wildcard[last].1
                        }
                    }
                } else {
                    table.exact.entry(host.to_string()).or_default()
                };
                list.extend(candidates.iter().copied());
            }
        }
        let id = |c: &Candidate| routes.get(c.route as usize).map(|r| r.id.as_str());
        let order = |list: &mut Vec<Candidate>| {
            list.sort_by(|a, b| {
                b.prefix_len
                    .cmp(&a.prefix_len)
                    .then(b.has_methods.cmp(&a.has_methods))
                    .then_with(|| id(a).cmp(&id(b)))
            });
            list.shrink_to_fit();
        };
        table.exact.values_mut().for_each(order);
        table.exact.shrink_to_fit();
        table.wildcard.iter_mut().for_each(|(_, l)| order(l));
        order(&mut table.any_host);
        table
            .wildcard
            .sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        table
    }

    /// The routes, in the order given to [`RouteTable::new`].
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The best route for a request: `host` is the Host header or `:authority` (any case, port
    /// allowed), `path` a normalized path (see [`normalize_path`]), `method` upper case.
    /// Allocation-free.
    pub fn find(&self, host: Option<&str>, method: &str, path: &str) -> Option<RouteMatch<'_>> {
        let mut buf = [0u8; MAX_HOST_LEN];
        let host = host.and_then(|h| lower_host(h, &mut buf));
        if let Some(host) = host {
            if let Some(m) = self
                .exact
                .get(host)
                .and_then(|l| self.first(l, method, path))
            {
                return Some(m);
            }
            for (suffix, list) in &self.wildcard {
                // `*.example.com` matches `a.example.com` and `a.b.example.com`, not `example.com`.
                if host.len() > suffix.len()
                    && host.ends_with(suffix.as_str())
                    && let Some(m) = self.first(list, method, path)
                {
                    return Some(m);
                }
            }
        }
        self.first(&self.any_host, method, path)
    }

    fn first<'a>(
        &'a self,
        list: &'a [Candidate],
        method: &str,
        path: &str,
    ) -> Option<RouteMatch<'a>> {
        list.iter().find_map(|c| {
            let route = self.routes.get(c.route as usize)?;
            let prefix = if c.prefix == NO_PREFIX {
                ""
            } else {
                route.paths.get(c.prefix as usize)?.as_str()
            };
            // HEAD is GET without a body: a GET route serves it, as nginx and Envoy do, so a
            // HEAD never falls through to a less protected route.
            let method_ok = route.methods.is_empty()
                || route
                    .methods
                    .iter()
                    .any(|m| m == method || (method == "HEAD" && m == "GET"));
            (method_ok && prefix_matches(prefix, path)).then_some(RouteMatch {
                index: c.route as usize,
                route,
                matched_prefix: prefix,
            })
        })
    }
}

/// Lower-cases `host` into `buf` with the port and a trailing dot removed.
fn lower_host<'b>(host: &str, buf: &'b mut [u8; MAX_HOST_LEN]) -> Option<&'b str> {
    let without_port = if host.starts_with('[') {
        // IPv6 literal: keep up to and including `]`.
        host.find(']').map_or(host, |end| &host[..=end])
    } else {
        host.rsplit_once(':').map_or(host, |(h, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                host
            }
        })
    };
    let trimmed = without_port.strip_suffix('.').unwrap_or(without_port);
    let bytes = trimmed.as_bytes();
    let slot = buf.get_mut(..bytes.len())?;
    for (dst, src) in slot.iter_mut().zip(bytes) {
        *dst = src.to_ascii_lowercase();
    }
    std::str::from_utf8(slot).ok()
}

/// The path sent upstream, with Kong's `strip_path` semantics: when the route strips, the
/// matched prefix is removed from `path`; the rest is joined to the backend path with exactly one
/// `/` between them. Never empty.
pub fn upstream_path(
    route: &Route,
    backend_path: &str,
    matched_prefix: &str,
    path: &str,
) -> String {
    let rest = if route.strip_path {
        path.strip_prefix(matched_prefix).unwrap_or(path)
    } else {
        path
    };
    let base = backend_path.trim_end_matches('/');
    let mut out = String::with_capacity(base.len() + rest.len() + 1);
    out.push_str(base);
    if rest.is_empty() {
        if base.is_empty() || backend_path.ends_with('/') {
            out.push('/');
        }
    } else {
        if !rest.starts_with('/') {
            out.push('/');
        }
        out.push_str(rest);
    }
    if !out.starts_with('/') {
        out.insert(0, '/');
    }
    out
}

// ---- RouteIndex: route lookup that stays fast with thousands of routes ----
//
// [`RouteTable`] scans its candidates in priority order, which costs tens of microseconds at
// 10,000 routes. A path prefix can only match paths with the same first segment
// ([`prefix_matches`] needs the rest to start at a segment boundary), so [`RouteIndex`]
// partitions routes by the first segment of each of their prefixes; routes with a prefix that
// has no first segment (`/`, or no paths) can match anything and join every partition. Each
// partition is an ordinary [`RouteTable`] over exactly the routes that could match, so the
// priority rules (hosts, longest prefix, methods, id) decide as before; indexes are mapped
// back to the snapshot's. The proxy serves through this index.

/// Below this many routes one table is fast enough.
const PARTITION_FROM: usize = 64;
/// With more catch-all routes than this, partitions would mostly repeat them: use one table.
const MAX_CATCH_ALL: usize = 64;

#[derive(Debug)]
pub struct RouteIndex {
    /// Every route (small snapshots, or when partitioning does not pay).
    all: RouteTable,
    /// By first path segment; each shares `all`'s routes.
    partitions: HashMap<String, RouteTable>,
    /// Routes that match any first segment.
    catch_all: Option<RouteTable>,
}

/// The first segment of a path or prefix, without path parameters: `/api/v1` and `/api;x/v1`
/// → `api`; `/` and `` → none.
pub(crate) fn first_segment(path: &str) -> Option<&str> {
    let rest = path.strip_prefix('/')?;
    let segment = rest.split(['/', ';']).next().unwrap_or_default();
    (!segment.is_empty()).then_some(segment)
}

impl RouteIndex {
    pub fn new(routes: &[Route]) -> Self {
        Self::from_routes(routes.to_vec())
    }

    /// [`Self::new`], taking the routes over rather than copying them.
    pub fn from_routes(routes: Vec<Route>) -> Self {
        let all = RouteTable::new_owned(routes);
        let routes = &all.routes;
        let mut catch_all = Vec::new();
        let mut by_segment: HashMap<String, Vec<u32>> = HashMap::new();
        for (i, route) in (0u32..).zip(routes.iter()) {
            let mut everywhere = route.paths.is_empty();
            for prefix in &route.paths {
                match first_segment(prefix) {
                    Some(segment) => {
                        let list = by_segment.entry(segment.to_owned()).or_default();
                        if list.last() != Some(&i) {
                            list.push(i);
                        }
                    }
                    None => everywhere = true,
                }
            }
            if everywhere {
                catch_all.push(i);
            }
        }
        if routes.len() < PARTITION_FROM || catch_all.len() > MAX_CATCH_ALL {
            return Self {
                all,
                partitions: HashMap::new(),
                catch_all: None,
            };
        }
        let partitions = by_segment
            .into_iter()
            .map(|(segment, mut indexes)| {
                indexes.extend(catch_all.iter().copied());
                indexes.sort_unstable();
                indexes.dedup();
                (segment, RouteTable::over(Arc::clone(routes), indexes))
            })
            .collect();
        let catch_all = RouteTable::over(Arc::clone(routes), catch_all);
        Self {
            all,
            partitions,
            catch_all: Some(catch_all),
        }
    }

    /// The best route, as [`RouteTable::find`] over every route would answer, with
    /// `index` being the route's index in the snapshot.
    pub fn find(&self, host: Option<&str>, method: &str, path: &str) -> Option<RouteMatch<'_>> {
        let Some(catch_all) = &self.catch_all else {
            return self.all.find(host, method, path);
        };
        first_segment(path)
            .and_then(|s| self.partitions.get(s))
            .unwrap_or(catch_all)
            .find(host, method, path)
    }
}

#[cfg(test)]
#[path = "routing_tests.rs"]
mod tests;
