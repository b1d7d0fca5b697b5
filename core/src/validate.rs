//! Full validation of a [`Snapshot`]: the proxy applies a snapshot only when this passes, and
//! the controller's translation runs it on every snapshot it builds, leaving out the objects it
//! names.
//!
//! Every problem is reported (not just the first), each naming the object it concerns, e.g.
//! `credential default/demo: consumer "…" does not exist`. Lists need not be sorted.
//!
//! [`check`] also says which object each problem is about ([`Subject`]), so the controller can
//! leave exactly the offenders out of a snapshot instead of building one the proxy refuses: one
//! set of rules for both.

use std::collections::{HashMap, HashSet};

use http::{HeaderName, HeaderValue};

use crate::ids::uuid_bytes;
pub use crate::routing::is_valid_host;
use crate::routing::{is_dns_label, normalize_path};
use crate::secret::Verifier;
use crate::snapshot::{
    AcceptNamespaces, AuthMethod, Backend, ClientType, Credential, MAX_PREVIOUS_SECRETS,
    MAX_ROUTE_BACKENDS, MAX_ROUTE_MATCHES, MatchKind, OpenIdConnectConfig, PathModifier, Plugin,
    PluginConfig, Route, RouteFilter, SNAPSHOT_FORMAT, Snapshot,
};
use crate::token::{decode_key_material, is_valid_key_id};

/// What a problem is about: an object of the snapshot, by its index in the snapshot's list of
/// that kind, or the snapshot as a whole (its format, its signing keys).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Subject {
    Snapshot,
    Consumer(usize),
    Credential(usize),
    Plugin(usize),
    Route(usize),
    /// A served certificate, by its index in `Snapshot::certificates`.
    Certificate(usize),
}

/// One problem: what it is about, and a message naming the object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    pub subject: Subject,
    pub message: String,
}

/// Problems collected by [`check`], each attributed to the subject being checked.
struct Problems {
    subject: Subject,
    list: Vec<Invalid>,
}

impl Problems {
    fn about(&mut self, subject: Subject) {
        self.subject = subject;
    }

    fn push(&mut self, message: String) {
        self.list.push(Invalid {
            subject: self.subject,
            message,
        });
    }
}

/// Checks every invariant of a snapshot and returns every problem found, each naming the
/// object it concerns.
pub fn validate(snapshot: &Snapshot) -> Result<(), Vec<String>> {
    let problems = check(snapshot);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.into_iter().map(|p| p.message).collect())
    }
}

/// Every problem of a snapshot with the object it is about; empty when the proxy would apply it.
pub fn check(snapshot: &Snapshot) -> Vec<Invalid> {
    let mut problems = Problems {
        subject: Subject::Snapshot,
        list: Vec::new(),
    };
    if snapshot.format != SNAPSHOT_FORMAT {
        problems.push(format!(
            "snapshot: format {} is not supported (expected {SNAPSHOT_FORMAT})",
            snapshot.format
        ));
    }
    check_keys(snapshot, &mut problems);

    let consumer_ids = unique_ids(
        "consumer",
        Subject::Consumer,
        snapshot
            .consumers
            .iter()
            .map(|c| (c.id.as_str(), c.object.as_str())),
        &mut problems,
    );
    for (i, c) in snapshot.consumers.iter().enumerate() {
        problems.about(Subject::Consumer(i));
        let who = Who("consumer", &c.object);
        header_safe(&who, "id", &c.id, &mut problems);
        header_safe(&who, "username", &c.username, &mut problems);
        if let Some(custom_id) = &c.custom_id {
            header_safe(&who, "customId", custom_id, &mut problems);
        }
    }

    unique_ids(
        "credential",
        Subject::Credential,
        snapshot
            .credentials
            .iter()
            .map(|c| (c.id.as_str(), c.object.as_str())),
        &mut problems,
    );
    let mut client_ids: HashMap<(&str, &str), &str> = HashMap::new();
    for (i, c) in snapshot.credentials.iter().enumerate() {
        problems.about(Subject::Credential(i));
        check_credential(c, &consumer_ids, &mut client_ids, &mut problems);
    }

    unique_ids(
        "plugin",
        Subject::Plugin,
        snapshot
            .plugins
            .iter()
            .map(|p| (p.id.as_str(), p.id.as_str())),
        &mut problems,
    );
    let plugin_kinds: HashMap<&str, &PluginConfig> = snapshot
        .plugins
        .iter()
        .map(|p| (p.id.as_str(), &p.config))
        .collect();
    for (i, p) in snapshot.plugins.iter().enumerate() {
        problems.about(Subject::Plugin(i));
        check_plugin(p, &consumer_ids, &mut problems);
    }

    unique_ids(
        "route",
        Subject::Route,
        snapshot
            .routes
            .iter()
            .map(|r| (r.id.as_str(), r.id.as_str())),
        &mut problems,
    );
    for (i, r) in snapshot.routes.iter().enumerate() {
        problems.about(Subject::Route(i));
        check_route(r, &plugin_kinds, &mut problems);
    }
    check_certificates(snapshot, &mut problems);
    problems.list
}

/// The served certificates: bounded, each parsing with its key, each name served once.
fn check_certificates(snapshot: &Snapshot, problems: &mut Problems) {
    use crate::certificate::{MAX_CERTIFICATE_HOSTS, MAX_CERTIFICATES, is_valid_sni_host, parse};
    if snapshot.certificates.len() > MAX_CERTIFICATES {
        problems.about(Subject::Snapshot);
        problems.push(format!(
            "snapshot: {} certificates (at most {MAX_CERTIFICATES})",
            snapshot.certificates.len()
        ));
        return;
    }
    let mut sources = HashSet::new();
    let mut hosts: HashMap<&str, &str> = HashMap::new();
    for (i, c) in snapshot.certificates.iter().enumerate() {
        problems.about(Subject::Certificate(i));
        let who = format!("certificate {:?}", c.source);
        if c.source.is_empty() {
            problems.push(format!("{who}: source is empty"));
        } else if !sources.insert(c.source.as_str()) {
            problems.push(format!("{who}: source is used more than once"));
        }
        if c.hosts.is_empty() {
            problems.push(format!("{who}: serves no host name"));
        }
        if c.hosts.len() > MAX_CERTIFICATE_HOSTS {
            problems.push(format!(
                "{who}: {} host names (at most {MAX_CERTIFICATE_HOSTS})",
                c.hosts.len()
            ));
        }
        for host in c.hosts.iter().take(MAX_CERTIFICATE_HOSTS) {
            if !is_valid_sni_host(host) {
                problems.push(format!(
                    "{who}: host {host:?} is not a lower-case host name or *. wildcard"
                ));
            } else if let Some(other) = hosts.get(host.as_str()) {
                problems.push(format!(
                    "{who}: host {host:?} is already served by certificate {other:?}"
                ));
            } else {
                hosts.insert(host.as_str(), c.source.as_str());
            }
        }
        if let Err(e) = parse(&c.chain_pem, c.key_pem.expose()) {
            problems.push(format!("{who}: {e}"));
        }
    }
}

fn check_keys(snapshot: &Snapshot, problems: &mut Problems) {
    let mut seen = HashSet::new();
    for key in &snapshot.signing_keys {
        if !is_valid_key_id(&key.id) {
            problems.push(format!(
                "signing key {:?}: id must be 1-64 characters of [A-Za-z0-9._-]",
                key.id
            ));
        }
        if !seen.insert(key.id.as_str()) {
            problems.push(format!("signing key {:?}: listed more than once", key.id));
        }
        if decode_key_material(&key.secret_b64).is_none() {
            problems.push(format!(
                "signing key {:?}: material must be base64 of at least 32 bytes",
                key.id
            ));
        }
    }
    let needed = !snapshot.plugins.is_empty() || !snapshot.active_key.is_empty();
    if needed
        && !snapshot
            .signing_keys
            .iter()
            .any(|k| k.id == snapshot.active_key)
    {
        problems.push(format!(
            "snapshot: active signing key {:?} is not among the signing keys",
            snapshot.active_key
        ));
    }
}

/// Reports empty and duplicate ids (a duplicate against the later object); returns the set of
/// ids.
fn unique_ids<'a>(
    kind: &str,
    subject: fn(usize) -> Subject,
    items: impl Iterator<Item = (&'a str, &'a str)>,
    problems: &mut Problems,
) -> HashSet<&'a str> {
    let mut seen = HashSet::new();
    for (i, (id, object)) in items.enumerate() {
        problems.about(subject(i));
        if id.is_empty() {
            problems.push(format!("{kind} {object}: id is empty"));
        } else if !seen.insert(id) {
            problems.push(format!("{kind} {object}: id {id:?} is used more than once"));
        }
    }
    seen
}

/// An object named in a problem, `kind name`: formatted only when a problem is found (a
/// snapshot can hold 100,000 consumers and as many credentials).
struct Who<'a>(&'static str, &'a str);

impl std::fmt::Display for Who<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.0, self.1)
    }
}

/// Whether `value` is a header value `HeaderValue::from_str` takes (visible ASCII, spaces,
/// tabs and obs-text), checked without copying it.
fn is_header_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| (b >= 0x20 && b != 0x7f) || b == b'\t')
}

fn header_safe(
    who: &(impl std::fmt::Display + ?Sized),
    field: &str,
    value: &str,
    problems: &mut Problems,
) {
    if value.is_empty() || !is_header_value(value) {
        problems.push(format!(
            "{who}: {field} must be non-empty visible characters usable in a header"
        ));
    }
}

fn check_credential<'a>(
    c: &'a Credential,
    consumers: &HashSet<&str>,
    client_ids: &mut HashMap<(&'a str, &'a str), &'a str>,
    problems: &mut Problems,
) {
    let who = Who("credential", &c.object);
    if uuid_bytes(&c.id).is_none() {
        problems.push(format!("{who}: id {:?} is not a UUID", c.id));
    }
    if !consumers.contains(c.consumer_id.as_str()) {
        problems.push(format!(
            "{who}: consumer {:?} does not exist",
            c.consumer_id
        ));
    }
    header_safe(&who, "clientId", &c.client_id, problems);
    if let Some(other) = client_ids.insert((c.namespace(), &c.client_id), &c.object) {
        problems.push(format!(
            "{who}: clientId {:?} is also used by credential {other} of the same namespace",
            c.client_id
        ));
    }
    match (&c.secret_verifier, c.client_type) {
        (Some(v), _) => {
            if let Err(e) = Verifier::parse(v) {
                problems.push(format!("{who}: secret verifier is invalid: {e}"));
            }
        }
        (None, ClientType::Confidential) => problems.push(format!(
            "{who}: a confidential client needs a secret verifier"
        )),
        (None, ClientType::Public) => {}
    }
    if !c.previous_secrets.is_empty() && c.client_type == ClientType::Public {
        problems.push(format!("{who}: a public client has no previous secrets"));
    }
    if c.previous_secrets.len() > MAX_PREVIOUS_SECRETS {
        problems.push(format!(
            "{who}: {} previous secrets, more than {MAX_PREVIOUS_SECRETS}",
            c.previous_secrets.len()
        ));
    }
    for previous in &c.previous_secrets {
        if let Err(e) = Verifier::parse(&previous.verifier) {
            problems.push(format!(
                "{who}: a previous secret's verifier is invalid: {e}"
            ));
        }
    }
}

/// RFC 6749 scope-token: `%x21 / %x23-5B / %x5D-7E`.
fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

fn check_plugin(p: &Plugin, consumers: &HashSet<&str>, problems: &mut Problems) {
    let who = format!("plugin {}", p.id);
    if let AcceptNamespaces::Listed(list) = &p.accept_namespaces {
        for ns in list {
            if !is_dns_label(ns) {
                problems.push(format!(
                    "{who}: acceptNamespaces names {ns:?}, which is not a namespace name"
                ));
            }
        }
    }
    let (anonymous, realm) = match &p.config {
        PluginConfig::OAuth2(c) => {
            if HeaderName::from_bytes(c.auth_header_name.as_bytes()).is_err()
                || c.auth_header_name.bytes().any(|b| b.is_ascii_uppercase())
            {
                problems.push(format!(
                    "{who}: authHeaderName {:?} is not a lower-case header name",
                    c.auth_header_name
                ));
            }
            for scope in &c.scopes {
                if !is_scope_token(scope) {
                    problems.push(format!("{who}: scope {scope:?} is not a valid scope token"));
                }
            }
            if c.enable_authorization_code
                && !(1..=crate::snapshot::MAX_AUTHORIZATION_CODE_TTL)
                    .contains(&c.authorization_code_ttl)
            {
                problems.push(format!(
                    "{who}: authorizationCodeTtl must be 1 to {} seconds",
                    crate::snapshot::MAX_AUTHORIZATION_CODE_TTL
                ));
            }
            if c.mandatory_scope && c.scopes.is_empty() {
                problems.push(format!("{who}: mandatoryScope needs at least one scope"));
            }
            let key_is_sha256 = |k: &str| {
                k.len() == 64
                    && k.bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            };
            match c.provision_key_sha256.as_deref() {
                None if c.enable_password_grant => {
                    problems.push(format!("{who}: the password grant needs a provision key"));
                }
                None if c.enable_authorization_code => {
                    problems.push(format!(
                        "{who}: the authorization code grant needs a provision key"
                    ));
                }
                Some(k) if !key_is_sha256(k) => {
                    problems.push(format!(
                        "{who}: the provision key digest is not SHA-256 hex"
                    ));
                }
                _ => {}
            }
            (c.anonymous.as_deref(), c.realm.as_deref())
        }
        PluginConfig::OpenIdConnect(c) => {
            if c.bearer_token_param_type.is_empty() {
                problems.push(format!(
                    "{who}: bearerTokenParamType must list at least one place"
                ));
            }
            check_auth_methods(&who, c, problems);
            (c.anonymous.as_deref(), c.realm.as_deref())
        }
        PluginConfig::RateLimiting(c) => {
            for problem in crate::ratelimit::problems(c) {
                problems.push(format!("{who}: {problem}"));
            }
            if p.acl.is_some() {
                problems.push(format!(
                    "{who}: acl applies to authentication plugins only, not to rate-limiting"
                ));
            }
            (None, None)
        }
    };
    if let Some(anonymous) = anonymous
        && !consumers.contains(anonymous)
    {
        problems.push(format!(
            "{who}: anonymous consumer {anonymous:?} does not exist"
        ));
    }
    if let Some(realm) = realm
        && (realm.is_empty()
            || !realm
                .bytes()
                .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\'))
    {
        problems.push(format!(
            "{who}: realm must be printable characters without quotes or backslashes"
        ));
    }
}

fn check_auth_methods(who: &str, c: &OpenIdConnectConfig, problems: &mut Problems) {
    if c.auth_methods.is_empty() {
        problems.push(format!("{who}: authMethods must list at least one method"));
    }
    let wants_bearer = c.auth_methods.contains(&AuthMethod::Bearer);
    match (&c.bearer, wants_bearer) {
        (None, true) => problems.push(format!("{who}: the bearer method needs an issuer")),
        (Some(_), false) => problems.push(format!(
            "{who}: an issuer is configured but authMethods does not list bearer"
        )),
        _ => {}
    }
    if let Some(b) = &c.bearer {
        if b.issuer.is_empty() || b.issuer.len() > 2048 {
            problems.push(format!("{who}: the issuer must be 1 to 2048 characters"));
        }
        if b.jwks.len() > crate::jwt::MAX_KEYS {
            problems.push(format!(
                "{who}: the issuer publishes more than {} keys",
                crate::jwt::MAX_KEYS
            ));
        }
        if b.consumer_claim.iter().any(|c| c.is_empty()) {
            problems.push(format!("{who}: consumerClaim names an empty claim"));
        }
        if b.leeway > 600 {
            problems.push(format!(
                "{who}: a clock leeway above 600 seconds is refused"
            ));
        }
    }
    let wants_introspection = c.auth_methods.contains(&AuthMethod::Introspection);
    match (&c.introspection, wants_introspection) {
        (None, true) => problems.push(format!(
            "{who}: the introspection method needs an introspection endpoint"
        )),
        (Some(_), false) => problems.push(format!(
            "{who}: an introspection endpoint is configured but authMethods does not list introspection"
        )),
        (Some(i), true) => {
            if i.endpoint.is_empty() || i.endpoint.len() > 2048 {
                problems.push(format!("{who}: the introspection endpoint must be 1 to 2048 characters"));
            }
            header_safe(who, "introspection clientId", &i.client_id, problems);
        }
        (None, false) => {}
    }
    for scope in &c.scopes_required {
        if !is_scope_token(scope) {
            problems.push(format!(
                "{who}: required scope {scope:?} is not a valid scope token"
            ));
        }
    }
}

/// RFC 7230 token characters (method names).
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// `host:port`, with an IPv6 host in brackets.
pub fn is_valid_endpoint(endpoint: &str) -> bool {
    let Some((host, port)) = endpoint.rsplit_once(':') else {
        return false;
    };
    let port_ok = !port.is_empty()
        && port.len() <= 5
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u16>().is_ok_and(|p| p > 0);
    let host_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
        // Any resolvable name (container names may hold `_`), never a wildcard.
        None => {
            !host.is_empty()
                && host.len() <= 253
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        }
    };
    port_ok && host_ok
}

fn check_route(r: &Route, plugins: &HashMap<&str, &PluginConfig>, problems: &mut Problems) {
    let who = format!("route {}", r.id);
    for host in &r.hosts {
        if !is_valid_host(host) {
            problems.push(format!(
                "{who}: host {host:?} is not a host name (a leading \"*.\" wildcard is allowed)"
            ));
        }
    }
    for path in &r.paths {
        match normalize_path(path) {
            Ok(normal) if normal == *path => {}
            Ok(normal) => problems.push(format!(
                "{who}: path {path:?} is not normalized (use {normal:?})"
            )),
            Err(e) => problems.push(format!("{who}: path {path:?} is invalid: {e}")),
        }
    }
    for path in &r.exact_paths {
        match normalize_path(path) {
            Ok(normal) if normal == *path => {}
            Ok(normal) => problems.push(format!(
                "{who}: exact path {path:?} is not normalized (use {normal:?})"
            )),
            Err(e) => problems.push(format!("{who}: exact path {path:?} is invalid: {e}")),
        }
    }
    for method in &r.methods {
        if !is_token(method) || method.bytes().any(|b| b.is_ascii_lowercase()) {
            problems.push(format!(
                "{who}: method {method:?} is not an upper-case HTTP method token"
            ));
        }
    }
    check_value_matches(&who, r, problems);
    check_route_plugins(&who, r, plugins, problems);
    check_filters(&who, r, problems);
    if let Some(backend) = &r.backend {
        check_backend(&who, backend, problems);
    }
    check_weighted_backends(&who, r, problems);
    check_timeouts(&who, r, problems);
}

/// Longest header or query parameter value (or pattern) a route matches or sets.
const MAX_MATCH_VALUE_LEN: usize = 4096;
/// Longest query parameter name a route matches.
const MAX_QUERY_NAME_LEN: usize = 256;

fn check_match_value(who: &str, what: &str, kind: MatchKind, value: &str, problems: &mut Problems) {
    if value.len() > MAX_MATCH_VALUE_LEN {
        problems.push(format!(
            "{who}: {what} value is longer than {MAX_MATCH_VALUE_LEN} bytes"
        ));
        return;
    }
    match kind {
        MatchKind::Exact => {
            if value.is_empty() || HeaderValue::from_str(value).is_err() {
                problems.push(format!(
                    "{who}: {what} value must be non-empty visible characters"
                ));
            }
        }
        MatchKind::RegularExpression => {
            if let Err(e) = crate::routing::compile_value_regex(value) {
                problems.push(format!("{who}: {what} regular expression is invalid: {e}"));
            }
        }
    }
}

fn check_value_matches(who: &str, r: &Route, problems: &mut Problems) {
    if r.headers.len() > MAX_ROUTE_MATCHES {
        problems.push(format!(
            "{who}: at most {MAX_ROUTE_MATCHES} header matches (got {})",
            r.headers.len()
        ));
    }
    for h in r.headers.iter().take(MAX_ROUTE_MATCHES) {
        if HeaderName::from_bytes(h.name.as_bytes()).is_err() {
            problems.push(format!(
                "{who}: header match name {:?} is not a header name",
                h.name
            ));
            continue;
        }
        check_match_value(
            who,
            &format!("header match {:?}", h.name),
            h.kind,
            &h.value,
            problems,
        );
    }
    if r.query_params.len() > MAX_ROUTE_MATCHES {
        problems.push(format!(
            "{who}: at most {MAX_ROUTE_MATCHES} query parameter matches (got {})",
            r.query_params.len()
        ));
    }
    for q in r.query_params.iter().take(MAX_ROUTE_MATCHES) {
        if q.name.is_empty()
            || q.name.len() > MAX_QUERY_NAME_LEN
            || q.name.chars().any(char::is_control)
        {
            problems.push(format!(
                "{who}: query parameter match name {:?} must be 1 to {MAX_QUERY_NAME_LEN} \
                 characters without control characters",
                q.name
            ));
            continue;
        }
        check_match_value(
            who,
            &format!("query parameter match {:?}", q.name),
            q.kind,
            &q.value,
            problems,
        );
    }
}

/// Headers a header modifier may not touch besides the identity headers: the ones that frame
/// the message or belong to the connection (the proxy owns them), and `Host` (a URL rewrite's
/// `hostname` changes it).
const UNMODIFIABLE_HEADERS: [&str; 9] = [
    "connection",
    "content-length",
    "host",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn check_header_modifier(
    who: &str,
    filter: &str,
    set: &[crate::snapshot::HeaderValue],
    add: &[crate::snapshot::HeaderValue],
    remove: &[String],
    problems: &mut Problems,
) {
    let named = set
        .iter()
        .chain(add)
        .map(|h| h.name.as_str())
        .chain(remove.iter().map(String::as_str));
    for (list, len) in [
        ("set", set.len()),
        ("add", add.len()),
        ("remove", remove.len()),
    ] {
        if len > MAX_ROUTE_MATCHES {
            problems.push(format!(
                "{who}: {filter} {list} lists more than {MAX_ROUTE_MATCHES} headers"
            ));
        }
    }
    for name in named {
        if HeaderName::from_bytes(name.as_bytes()).is_err() {
            problems.push(format!("{who}: {filter} names {name:?}, not a header name"));
        } else if crate::oauth::is_identity_header(name.as_bytes()) {
            problems.push(format!(
                "{who}: {filter} may not change the identity header {name:?} (only the gateway sets it)"
            ));
        } else if UNMODIFIABLE_HEADERS
            .iter()
            .any(|h| h.eq_ignore_ascii_case(name))
        {
            problems.push(format!(
                "{who}: {filter} may not change {name:?}, which the proxy owns"
            ));
        }
    }
    for h in set.iter().chain(add) {
        if h.value.len() > MAX_MATCH_VALUE_LEN || HeaderValue::from_str(&h.value).is_err() {
            problems.push(format!(
                "{who}: {filter} value of {:?} is not a valid header value of at most \
                 {MAX_MATCH_VALUE_LEN} bytes",
                h.name
            ));
        }
    }
}

fn check_path_modifier(
    who: &str,
    filter: &str,
    r: &Route,
    path: &PathModifier,
    problems: &mut Problems,
) {
    let (kind, value) = match path {
        PathModifier::ReplaceFullPath(v) => ("ReplaceFullPath", v),
        PathModifier::ReplacePrefixMatch(v) => {
            if !r.exact_paths.is_empty() {
                problems.push(format!(
                    "{who}: {filter} ReplacePrefixMatch needs a path prefix match, not an exact one"
                ));
            }
            ("ReplacePrefixMatch", v)
        }
    };
    if !matches!(normalize_path(value), Ok(normal) if normal == *value) {
        problems.push(format!(
            "{who}: {filter} {kind} {value:?} must be a normalized absolute path"
        ));
    }
}

fn check_filters(who: &str, r: &Route, problems: &mut Problems) {
    let mut seen: Vec<&str> = Vec::new();
    for filter in &r.filters {
        let name = match filter {
            RouteFilter::RequestHeaderModifier { set, add, remove } => {
                check_header_modifier(who, "RequestHeaderModifier", set, add, remove, problems);
                "RequestHeaderModifier"
            }
            RouteFilter::ResponseHeaderModifier { set, add, remove } => {
                check_header_modifier(who, "ResponseHeaderModifier", set, add, remove, problems);
                "ResponseHeaderModifier"
            }
            RouteFilter::RequestRedirect {
                scheme,
                hostname,
                path,
                port,
                status_code,
            } => {
                let f = "RequestRedirect";
                if let Some(scheme) = scheme
                    && scheme != "http"
                    && scheme != "https"
                {
                    problems.push(format!(
                        "{who}: {f} scheme {scheme:?} must be http or https"
                    ));
                }
                if let Some(host) = hostname
                    && (host.starts_with('*') || !is_valid_host(host))
                {
                    problems.push(format!("{who}: {f} hostname {host:?} is not a host name"));
                }
                if let Some(path) = path {
                    check_path_modifier(who, f, r, path, problems);
                }
                if *port == Some(0) {
                    problems.push(format!("{who}: {f} port must be 1 to 65535"));
                }
                if !matches!(status_code, 301 | 302 | 303 | 307 | 308) {
                    problems.push(format!(
                        "{who}: {f} status code {status_code} must be 301 or 302 (or 303, 307, 308)"
                    ));
                }
                f
            }
            RouteFilter::UrlRewrite { hostname, path } => {
                let f = "URLRewrite";
                if let Some(host) = hostname
                    && (host.starts_with('*') || !is_valid_host(host))
                {
                    problems.push(format!("{who}: {f} hostname {host:?} is not a host name"));
                }
                if let Some(path) = path {
                    check_path_modifier(who, f, r, path, problems);
                }
                f
            }
        };
        if seen.contains(&name) {
            problems.push(format!("{who}: filter {name} is given more than once"));
        }
        seen.push(name);
    }
    if seen.contains(&"RequestRedirect") && seen.contains(&"URLRewrite") {
        problems.push(format!(
            "{who}: RequestRedirect and URLRewrite cannot both apply to a route"
        ));
    }
}

/// Largest weight of a weighted backend (the Gateway API's).
const MAX_BACKEND_WEIGHT: u32 = 1_000_000;

fn check_weighted_backends(who: &str, r: &Route, problems: &mut Problems) {
    if r.backends.is_empty() {
        return;
    }
    if r.backend.is_some() {
        problems.push(format!(
            "{who}: backend and weighted backends are exclusive; list every backend in backends"
        ));
    }
    if r.backends.len() > MAX_ROUTE_BACKENDS {
        problems.push(format!(
            "{who}: at most {MAX_ROUTE_BACKENDS} weighted backends (got {})",
            r.backends.len()
        ));
    }
    for (i, wb) in r.backends.iter().enumerate() {
        if wb.weight > MAX_BACKEND_WEIGHT {
            problems.push(format!(
                "{who}: backend {i} weight {} is above {MAX_BACKEND_WEIGHT}",
                wb.weight
            ));
        }
        if let Some(backend) = &wb.backend {
            check_backend(&format!("{who}: backend {i}"), backend, problems);
        }
    }
}

/// Longest route timeout: one day.
const MAX_ROUTE_TIMEOUT_MS: u64 = 86_400_000;

fn check_timeouts(who: &str, r: &Route, problems: &mut Problems) {
    for (name, value) in [
        ("request timeout", r.request_timeout_ms),
        ("backend request timeout", r.backend_request_timeout_ms),
    ] {
        if let Some(ms) = value
            && !(1..=MAX_ROUTE_TIMEOUT_MS).contains(&ms)
        {
            problems.push(format!(
                "{who}: {name} must be 1 to {MAX_ROUTE_TIMEOUT_MS} ms (got {ms})"
            ));
        }
    }
    if let (Some(request), Some(backend)) = (r.request_timeout_ms, r.backend_request_timeout_ms)
        && backend > request
    {
        problems.push(format!(
            "{who}: the backend request timeout ({backend} ms) exceeds the request timeout ({request} ms)"
        ));
    }
}

/// A route's plugins exist, appear once, and hold at most one authentication plugin and at most
/// one rate-limiting plugin (Kong runs one instance of a plugin per route).
fn check_route_plugins(
    who: &str,
    r: &Route,
    plugins: &HashMap<&str, &PluginConfig>,
    problems: &mut Problems,
) {
    let (mut auth, mut limits) = (0, 0);
    for (i, plugin) in r.plugins.iter().enumerate() {
        if r.plugins[..i].contains(plugin) {
            problems.push(format!("{who}: plugin {plugin:?} is listed twice"));
            continue;
        }
        match plugins.get(plugin.as_str()) {
            None => problems.push(format!("{who}: plugin {plugin:?} does not exist")),
            Some(config) if config.is_auth() => auth += 1,
            Some(_) => limits += 1,
        }
    }
    if auth > 1 {
        problems.push(format!(
            "{who}: at most one authentication plugin (oauth2 or openid-connect) per route (got {auth})"
        ));
    }
    if limits > 1 {
        problems.push(format!(
            "{who}: at most one rate-limiting plugin per route (got {limits})"
        ));
    }
}

fn check_backend(who: &str, b: &Backend, problems: &mut Problems) {
    if b.scheme != "http" && b.scheme != "https" {
        problems.push(format!(
            "{who}: backend scheme {:?} must be http or https",
            b.scheme
        ));
    }
    // The backend path is forwarded as given (Kong does the same with a service path); it only
    // has to be a clean absolute path.
    if !b.path.is_empty() && normalize_path(&b.path).is_err() {
        problems.push(format!(
            "{who}: backend path {:?} must be empty or a path starting with '/'",
            b.path
        ));
    }
    if let Some(host) = &b.host_header
        && (host.is_empty() || HeaderValue::from_str(host).is_err())
    {
        problems.push(format!(
            "{who}: backend host header {host:?} is not a valid header value"
        ));
    }
    for endpoint in &b.endpoints {
        if !is_valid_endpoint(endpoint) {
            problems.push(format!(
                "{who}: backend endpoint {endpoint:?} is not host:port"
            ));
        }
    }
    if b.connect_timeout_ms == 0 || b.read_timeout_ms == 0 {
        problems.push(format!("{who}: backend timeouts must be greater than zero"));
    }
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
