//! Path normalization, the route table, and Kong's `strip_path` semantics.
//!
//! The proxy normalizes every request path once with [`normalize_path`] and uses the result both
//! to match routes (and token endpoints) and to build the upstream path, so no spelling of a
//! path (`/a/../auth`, `/%61uth`, `//auth`) can reach a route it does not match.

use std::collections::HashMap;
use std::sync::Arc;

use http::{HeaderMap, HeaderName};

use crate::snapshot::{ListenerPort, MAX_ROUTE_MATCHES, MatchKind, PathModifier, Route};

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
pub fn compile_value_regex(pattern: &str) -> Result<regex::bytes::Regex, String> {
    if pattern.len() > MAX_REGEX_LEN {
        return Err(format!("longer than {MAX_REGEX_LEN} bytes"));
    }
    regex::bytes::RegexBuilder::new(&format!("^(?:{pattern})$"))
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

/// A DNS label: 1 to 63 letters, digits and `-`, not at either end.
pub(crate) fn is_dns_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

/// A route host: a host name, optionally with a leading `*.` wildcard, at most 253 characters
/// in all. Letters may be of any case (hosts match case-insensitively; the controller sends them
/// lower-cased). The one host rule: the controller checks route hosts with it before building a
/// snapshot, and [`crate::validate`] refuses a snapshot with a host it rejects.
pub fn is_valid_host(host: &str) -> bool {
    let name = host.strip_prefix("*.").unwrap_or(host);
    !name.is_empty() && host.len() <= 253 && name.split('.').all(is_dns_label)
}

/// A matched route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteMatch<'a> {
    /// Index of the route in the slice given to [`RouteTable::new`].
    pub index: usize,
    pub route: &'a Route,
    /// The path prefix that matched ("" when the route has no paths); for an exact path
    /// match, the whole path.
    pub matched_prefix: &'a str,
    /// Whether the route matched by an exact path.
    pub exact: bool,
}

/// What a route is matched against: the request's host, method, normalized path, query string
/// and headers.
#[derive(Debug, Clone, Copy)]
pub struct RouteRequest<'r> {
    /// The Host header or `:authority` (any case, port allowed).
    pub host: Option<&'r str>,
    /// Upper case.
    pub method: &'r str,
    /// Normalized (see [`normalize_path`]).
    pub path: &'r str,
    /// The raw query string (without `?`), if any.
    pub query: Option<&'r str>,
    /// The request's headers; `None` matches like an empty map.
    pub headers: Option<&'r HeaderMap>,
    /// The proxy port it arrived on: a route bound to the other port ([`Route::listener`]) is
    /// passed over as if absent. `None` matches every route.
    pub listener: Option<ListenerPort>,
}

/// One (route, path) pair, in priority order within its host class.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    /// Index of the route in the table's routes.
    route: u32,
    /// Index of the path in the route's `paths` (or `exact_paths` for an exact candidate);
    /// [`NO_PREFIX`] for a route without paths.
    prefix: u32,
    prefix_len: u32,
    has_methods: bool,
    /// Header and query parameter matches (each at most [`crate::snapshot::MAX_ROUTE_MATCHES`]
    /// counted).
    header_matches: u8,
    query_matches: u8,
}

const NO_PREFIX: u32 = u32::MAX;

/// A value condition compiled once: exact bytes or an anchored regular expression.
#[derive(Debug, Clone)]
enum ValueMatcher {
    Exact(Box<[u8]>),
    Regex(regex::bytes::Regex),
    /// A pattern that does not compile (a snapshot the proxy validated never has one): matches
    /// nothing, failing closed.
    Never,
}

impl ValueMatcher {
    fn new(kind: MatchKind, value: &str) -> Self {
        match kind {
            MatchKind::Exact => Self::Exact(value.as_bytes().into()),
            MatchKind::RegularExpression => {
                compile_value_regex(value).map_or(Self::Never, Self::Regex)
            }
        }
    }

    fn matches(&self, value: &[u8]) -> bool {
        match self {
            Self::Exact(want) => **want == *value,
            Self::Regex(re) => re.is_match(value),
            Self::Never => false,
        }
    }
}

/// A route's header and query parameter conditions, compiled (the first entry of each name).
#[derive(Debug, Clone, Default)]
struct Conditions {
    headers: Vec<(HeaderName, ValueMatcher)>,
    query: Vec<(String, ValueMatcher)>,
}

impl Conditions {
    fn of(route: &Route) -> Option<Box<Self>> {
        if route.headers.is_empty() && route.query_params.is_empty() {
            return None;
        }
        let mut conditions = Self::default();
        for h in route.headers.iter().take(MAX_ROUTE_MATCHES) {
            // A name that is not a header name can never be sent: the route never matches.
            let Ok(name) = HeaderName::from_bytes(h.name.as_bytes()) else {
                conditions.headers.push((
                    HeaderName::from_static("x-tollgate-never"),
                    ValueMatcher::Never,
                ));
                continue;
            };
            if conditions.headers.iter().all(|(n, _)| *n != name) {
                conditions
                    .headers
                    .push((name, ValueMatcher::new(h.kind, &h.value)));
            }
        }
        for q in route.query_params.iter().take(MAX_ROUTE_MATCHES) {
            if conditions.query.iter().all(|(n, _)| *n != q.name) {
                conditions
                    .query
                    .push((q.name.clone(), ValueMatcher::new(q.kind, &q.value)));
            }
        }
        Some(Box::new(conditions))
    }

    fn hold(&self, request: &RouteRequest<'_>) -> bool {
        self.headers.iter().all(|(name, want)| {
            let Some(headers) = request.headers else {
                return false;
            };
            let mut values = headers.get_all(name).iter();
            match (values.next(), values.next()) {
                (None, _) => false,
                (Some(one), None) => want.matches(one.as_bytes()),
                // Several fields: their values joined with ", " (RFC 9110 §5.3).
                (Some(first), Some(second)) => {
                    let mut joined = first.as_bytes().to_vec();
                    for v in std::iter::once(second).chain(values) {
                        joined.extend_from_slice(b", ");
                        joined.extend_from_slice(v.as_bytes());
                    }
                    want.matches(&joined)
                }
            }
        }) && self.query.iter().all(|(name, want)| {
            request
                .query
                .and_then(|q| {
                    form_urlencoded::parse(q.as_bytes()).find(|(n, _)| n == name.as_str())
                })
                .is_some_and(|(_, value)| want.matches(value.as_bytes()))
        })
    }
}

/// The candidates of one host class: exact paths by path (an exact match ranks above every
/// prefix, and a lookup finds them without a scan), then prefixes in priority order.
#[derive(Debug, Clone, Default)]
struct Candidates {
    exact: HashMap<Box<str>, Vec<Candidate>>,
    prefix: Vec<Candidate>,
}

/// Routes precomputed for matching: exact hosts in a map, wildcard suffixes in a map tried
/// longest first, then routes without hosts; within each, exact paths by path, then candidates
/// by longest prefix, then routes with methods, then most header matches, then most query
/// parameter matches, then `rank`, then route id. Header and query conditions are checked only
/// on candidates whose host and path already match. [`RouteIndex`] partitions large tables by
/// first path segment. Candidates refer to the routes by position, so tables over subsets of
/// the same routes share them instead of copying.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Arc<[Route]>,
    /// Parallel to `routes`: compiled header and query conditions.
    conditions: Arc<[Option<Box<Conditions>>]>,
    exact: HashMap<String, Candidates>,
    /// By suffix including the leading dot (`.example.com` for `*.example.com`).
    wildcard: HashMap<String, Candidates>,
    any_host: Candidates,
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
        let conditions: Arc<[Option<Box<Conditions>>]> =
            routes.iter().map(Conditions::of).collect();
        Self::over(routes.into(), conditions, 0..count)
    }

    /// A table matching only the routes at `subset` (positions in `routes`, increasing).
    fn over(
        routes: Arc<[Route]>,
        conditions: Arc<[Option<Box<Conditions>>]>,
        subset: impl IntoIterator<Item = u32>,
    ) -> Self {
        let mut table = RouteTable {
            routes,
            conditions,
            ..Default::default()
        };
        let routes = Arc::clone(&table.routes);
        for index in subset {
            let Some(route) = routes.get(index as usize) else {
                continue;
            };
            let template = Candidate {
                route: index,
                prefix: NO_PREFIX,
                prefix_len: 0,
                has_methods: !route.methods.is_empty(),
                header_matches: count_u8(route.headers.len()),
                query_matches: count_u8(route.query_params.len()),
            };
            let at = |i: u32, path: &str| Candidate {
                prefix: i,
                prefix_len: u32::try_from(path.len()).unwrap_or(u32::MAX),
                ..template
            };
            let prefixes: Vec<Candidate> = if route.paths.is_empty() && route.exact_paths.is_empty()
            {
                vec![template]
            } else {
                (0u32..).zip(&route.paths).map(|(i, p)| at(i, p)).collect()
            };
            let exacts: Vec<(&str, Candidate)> = (0u32..)
                .zip(&route.exact_paths)
                .map(|(i, p)| (p.as_str(), at(i, p)))
                .collect();
            let add = |list: &mut Candidates| {
                list.prefix.extend(prefixes.iter().copied());
                for (path, c) in &exacts {
                    list.exact.entry((*path).into()).or_default().push(*c);
                }
            };
            if route.hosts.is_empty() {
                add(&mut table.any_host);
                continue;
            }
            for host in &route.hosts {
                let host = host.to_ascii_lowercase();
                let host = host.trim_end_matches('.');
                let list = match host.strip_prefix('*') {
                    Some(suffix) => table.wildcard.entry(suffix.to_owned()).or_default(),
                    None => table.exact.entry(host.to_owned()).or_default(),
                };
                add(list);
            }
        }
        let key = |c: &Candidate| {
            let route = routes.get(c.route as usize);
            (
                std::cmp::Reverse(c.prefix_len),
                std::cmp::Reverse(c.has_methods),
                std::cmp::Reverse(c.header_matches),
                std::cmp::Reverse(c.query_matches),
                route.map_or(u64::MAX, |r| r.rank),
                route.map(|r| r.id.as_str()),
            )
        };
        let order = |list: &mut Vec<Candidate>| {
            list.sort_by(|a, b| key(a).cmp(&key(b)));
            list.shrink_to_fit();
        };
        let order_all = |c: &mut Candidates| {
            order(&mut c.prefix);
            c.exact.values_mut().for_each(order);
            c.exact.shrink_to_fit();
        };
        table.exact.values_mut().for_each(order_all);
        table.exact.shrink_to_fit();
        table.wildcard.values_mut().for_each(order_all);
        table.wildcard.shrink_to_fit();
        order_all(&mut table.any_host);
        table
    }

    /// The routes, in the order given to [`RouteTable::new`].
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The best route for a request without headers or query (see [`Self::find_request`]).
    pub fn find(&self, host: Option<&str>, method: &str, path: &str) -> Option<RouteMatch<'_>> {
        self.find_request(&RouteRequest {
            host,
            method,
            path,
            query: None,
            headers: None,
            listener: None,
        })
    }

    /// The best route for a request: exact host, then the longest matching wildcard, then
    /// host-less routes; within each, the first candidate in priority order whose path,
    /// method, headers and query parameters match. Allocation-free unless a header condition
    /// meets a header sent several times.
    pub fn find_request(&self, request: &RouteRequest<'_>) -> Option<RouteMatch<'_>> {
        let mut buf = [0u8; MAX_HOST_LEN];
        let host = request.host.and_then(|h| lower_host(h, &mut buf));
        if let Some(host) = host {
            if let Some(m) = self.exact.get(host).and_then(|l| self.first(l, request)) {
                return Some(m);
            }
            if !self.wildcard.is_empty() {
                // `*.example.com` matches `a.example.com` and `a.b.example.com`, not
                // `example.com`: suffixes start at a dot after the first character, longest
                // first. The first suffix leaves one label before it; the later ones more,
                // which a route with `single_label_wildcard` (an Ingress's) does not take.
                let dots = host.match_indices('.').filter(|(i, _)| *i > 0);
                for (n, (i, _)) in dots.enumerate() {
                    if let Some(m) = self
                        .wildcard
                        .get(&host[i..])
                        .and_then(|l| self.first_at(l, request, n > 0))
                    {
                        return Some(m);
                    }
                }
            }
        }
        self.first(&self.any_host, request)
    }

    fn first<'a>(
        &'a self,
        list: &'a Candidates,
        request: &RouteRequest<'_>,
    ) -> Option<RouteMatch<'a>> {
        self.first_at(list, request, false)
    }

    /// [`Self::first`]; `deep`: `list` is a wildcard's, matched by more than one label.
    fn first_at<'a>(
        &'a self,
        list: &'a Candidates,
        request: &RouteRequest<'_>,
        deep: bool,
    ) -> Option<RouteMatch<'a>> {
        if !list.exact.is_empty()
            && let Some(exact) = list.exact.get(request.path)
            && let Some(m) = exact
                .iter()
                .find_map(|c| self.check(c, request, true, deep))
        {
            return Some(m);
        }
        list.prefix
            .iter()
            .find_map(|c| self.check(c, request, false, deep))
    }

    /// `c` as a match for `request`, if its path, method and conditions hold (an exact
    /// candidate's path already does) and, when `deep`, its wildcards take several labels.
    fn check<'a>(
        &'a self,
        c: &Candidate,
        request: &RouteRequest<'_>,
        exact: bool,
        deep: bool,
    ) -> Option<RouteMatch<'a>> {
        let route = self.routes.get(c.route as usize)?;
        if deep && route.single_label_wildcard {
            return None;
        }
        let path = if c.prefix == NO_PREFIX {
            ""
        } else if exact {
            route.exact_paths.get(c.prefix as usize)?.as_str()
        } else {
            route.paths.get(c.prefix as usize)?.as_str()
        };
        if !exact && !prefix_matches(path, request.path) {
            return None;
        }
        if let (Some(bound), Some(port)) = (route.listener, request.listener)
            && bound != port
        {
            return None;
        }
        // HEAD is GET without a body: a GET route serves it, as nginx and Envoy do, so a
        // HEAD never falls through to a less protected route.
        let method = request.method;
        let method_ok = route.methods.is_empty()
            || route
                .methods
                .iter()
                .any(|m| m == method || (method == "HEAD" && m == "GET"));
        if !method_ok {
            return None;
        }
        if (c.header_matches > 0 || c.query_matches > 0)
            && let Some(Some(conditions)) = self.conditions.get(c.route as usize)
            && !conditions.hold(request)
        {
            return None;
        }
        Some(RouteMatch {
            index: c.route as usize,
            route,
            matched_prefix: path,
            exact,
        })
    }
}

fn count_u8(n: usize) -> u8 {
    u8::try_from(n.min(MAX_ROUTE_MATCHES)).unwrap_or(u8::MAX)
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

/// The path a URL rewrite or a redirect makes of a request's normalized `path`, matched by
/// `matched` (the Gateway API's semantics): `ReplaceFullPath` gives its path;
/// `ReplacePrefixMatch` replaces the matched prefix, element-wise: `/foo` → `/xyz` makes
/// `/foo/bar` `/xyz/bar` and `/foo` `/xyz`, and a replacement of `/` makes `/foo/bar` `/bar`.
/// A trailing `/` on the prefix or the replacement does not count.
pub fn modified_path(modifier: &PathModifier, matched_prefix: &str, path: &str) -> String {
    match modifier {
        PathModifier::ReplaceFullPath(full) => full.clone(),
        PathModifier::ReplacePrefixMatch(replacement) => {
            let prefix = matched_prefix.trim_end_matches('/');
            let rest = path.strip_prefix(prefix).unwrap_or(path);
            let base = replacement.trim_end_matches('/');
            let mut out = String::with_capacity(base.len() + rest.len() + 1);
            if !base.starts_with('/') && !rest.starts_with('/') {
                out.push('/');
            }
            out.push_str(base);
            out.push_str(rest);
            if out.is_empty() {
                out.push('/');
            }
            out
        }
    }
}

/// What a redirect needs of the request.
#[derive(Debug, Clone, Copy)]
pub struct RedirectFrom<'r> {
    /// `http` or `https`: how the client reached the proxy.
    pub scheme: &'r str,
    /// The Host header or `:authority`, port included when the client gave one.
    pub host: Option<&'r str>,
    /// The normalized path and the matched prefix (see [`RouteMatch`]).
    pub path: &'r str,
    pub matched_prefix: &'r str,
    pub query: Option<&'r str>,
}

/// The `Location` of a `RequestRedirect` filter, as the Gateway API builds it: each part not
/// given keeps the request's. The port is the filter's; without one it is the scheme's
/// well-known port when the filter changes the scheme, else the port the client used (the
/// listener's, as seen from the client); it is left out when it is the scheme's default (80 for
/// http, 443 for https). The query string is kept.
pub fn redirect_location(
    scheme: Option<&str>,
    hostname: Option<&str>,
    port: Option<u16>,
    path: Option<&PathModifier>,
    from: &RedirectFrom<'_>,
) -> String {
    let (request_host, request_port) = from.host.map_or(("", None), split_host_port);
    let out_scheme = scheme.unwrap_or(from.scheme);
    let out_host = hostname.unwrap_or(request_host);
    let out_port = match (port, scheme) {
        (Some(p), _) => Some(p),
        (None, Some(_)) => None,
        (None, None) => request_port,
    };
    let default_port = match out_scheme {
        "https" => 443,
        _ => 80,
    };
    let out_path = match path {
        Some(modifier) => modified_path(modifier, from.matched_prefix, from.path),
        None => from.path.to_owned(),
    };
    let mut location = String::with_capacity(out_host.len() + out_path.len() + 32);
    if !out_host.is_empty() {
        location.push_str(out_scheme);
        location.push_str("://");
        location.push_str(out_host);
        if let Some(p) = out_port.filter(|p| *p != default_port) {
            location.push(':');
            location.push_str(&p.to_string());
        }
    }
    location.push_str(&out_path);
    if let Some(q) = from.query.filter(|q| !q.is_empty()) {
        location.push('?');
        location.push_str(q);
    }
    location
}

/// `host[:port]` (an IPv6 literal in brackets) split; a port that is not a number is ignored.
fn split_host_port(authority: &str) -> (&str, Option<u16>) {
    let split_at = if authority.starts_with('[') {
        authority.find("]:").map(|i| i + 1)
    } else {
        authority.rfind(':')
    };
    match split_at {
        Some(i) => (&authority[..i], authority[i + 1..].parse().ok()),
        None => (authority, None),
    }
}

/// The backend of the `n`th request among backends of `weights`, or `None` when every weight
/// is 0. The `n`th point of the golden-ratio (Weyl) sequence, scaled to the total weight, falls
/// in one backend's share: a low-discrepancy sequence, so over any run of requests each backend
/// gets its share to within a few requests, interleaved (not in bursts of one backend), with no
/// state but the caller's counter.
pub fn weighted_pick(weights: impl Iterator<Item = u32> + Clone, n: u64) -> Option<usize> {
    const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;
    let total: u64 = weights.clone().map(u64::from).sum();
    if total == 0 {
        return None;
    }
    let point = (u128::from(n.wrapping_mul(GOLDEN)) * u128::from(total)) >> 64;
    let mut reached = 0u128;
    for (i, w) in weights.enumerate() {
        reached += u128::from(w);
        if point < reached {
            return Some(i);
        }
    }
    None
}

// ---- RouteIndex: route lookup that stays fast with thousands of routes ----
//
// [`RouteTable`] scans its candidates in priority order, which costs tens of microseconds at
// 10,000 routes. A path prefix can only match paths with the same first segment
// ([`prefix_matches`] needs the rest to start at a segment boundary), so [`RouteIndex`]
// partitions routes by the first segment of each of their prefixes and exact paths; routes
// with a prefix that has no first segment (`/`, or no paths) can match anything and join every
// partition, and an exact `/` joins only the table for paths without a first segment. Each
// partition is an ordinary [`RouteTable`] over exactly the routes that could match, so the
// priority rules decide as before; indexes are the snapshot's. The proxy serves through this
// index.

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
        // Routes that can match any first segment (they join every partition), and routes
        // that can only match paths without one (an exact `/`: only the catch-all table).
        let mut catch_all = Vec::new();
        let mut root_only = Vec::new();
        let mut by_segment: HashMap<String, Vec<u32>> = HashMap::new();
        for (i, route) in (0u32..).zip(routes.iter()) {
            let mut everywhere = route.paths.is_empty() && route.exact_paths.is_empty();
            let mut at_root = false;
            for (prefix, exact) in route
                .paths
                .iter()
                .map(|p| (p, false))
                .chain(route.exact_paths.iter().map(|p| (p, true)))
            {
                match first_segment(prefix) {
                    Some(segment) => {
                        let list = by_segment.entry(segment.to_owned()).or_default();
                        if list.last() != Some(&i) {
                            list.push(i);
                        }
                    }
                    None if exact => at_root = true,
                    None => everywhere = true,
                }
            }
            if everywhere {
                catch_all.push(i);
            } else if at_root {
                root_only.push(i);
            }
        }
        if routes.len() < PARTITION_FROM || catch_all.len() > MAX_CATCH_ALL {
            return Self {
                all,
                partitions: HashMap::new(),
                catch_all: None,
            };
        }
        let conditions = &all.conditions;
        let partitions = by_segment
            .into_iter()
            .map(|(segment, mut indexes)| {
                indexes.extend(catch_all.iter().copied());
                indexes.sort_unstable();
                indexes.dedup();
                let table = RouteTable::over(Arc::clone(routes), Arc::clone(conditions), indexes);
                (segment, table)
            })
            .collect();
        catch_all.extend(root_only);
        catch_all.sort_unstable();
        let catch_all = RouteTable::over(Arc::clone(routes), Arc::clone(conditions), catch_all);
        Self {
            all,
            partitions,
            catch_all: Some(catch_all),
        }
    }

    /// The best route, as [`RouteTable::find`] over every route would answer, with
    /// `index` being the route's index in the snapshot.
    pub fn find(&self, host: Option<&str>, method: &str, path: &str) -> Option<RouteMatch<'_>> {
        self.find_request(&RouteRequest {
            host,
            method,
            path,
            query: None,
            headers: None,
            listener: None,
        })
    }

    /// The best route, as [`RouteTable::find_request`] over every route would answer.
    pub fn find_request(&self, request: &RouteRequest<'_>) -> Option<RouteMatch<'_>> {
        let Some(catch_all) = &self.catch_all else {
            return self.all.find_request(request);
        };
        first_segment(request.path)
            .and_then(|s| self.partitions.get(s))
            .unwrap_or(catch_all)
            .find_request(request)
    }
}

#[cfg(test)]
#[path = "routing_tests.rs"]
mod tests;
