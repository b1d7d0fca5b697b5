//! GatewayRoutes → snapshot routes. A route whose plugin is missing or not accepted is dropped
//! entirely: it is never served unprotected. A backend URL naming a literal address the backend
//! address policy refuses drops its route; refused Service endpoints are dropped from theirs.

use std::net::SocketAddr;
use std::sync::Arc;

use tollgate_core::address::{AddressPolicy, Refusal, parse_host_ip};
use tollgate_core::routing::normalize_path;
use tollgate_core::snapshot;
use tollgate_core::validate::is_valid_host;

use super::plugins::{PluginLookup, Plugins, is_token};
use super::problem::{Kind, ProblemCondition, reason};
use super::services::ServiceBackends as Backends;
use super::tenancy::{Aged, Owner};
use super::{ObjectName, Problems, RefusedEndpoint, ServiceEndpoints, ServiceKey};
use crate::resources::GatewayRoute;
use crate::resources::gateway_route::Backend;

/// Each GatewayRoute's core route, with its age for the tenancy check ([`super::tenancy`]).
pub(crate) fn translate(
    objects: &[Arc<GatewayRoute>],
    plugins: &Plugins,
    services: &ServiceEndpoints,
    policy: &AddressPolicy,
    problems: &mut Problems,
    refused: &mut Vec<RefusedEndpoint>,
) -> Vec<Aged> {
    let backends = Backends { services, policy };
    objects
        .iter()
        .filter_map(|obj| {
            let route = route(obj, plugins, &backends, problems, refused)?;
            Some(Aged {
                owner: Owner {
                    kind: Kind::GatewayRoute,
                    object: ObjectName::of(obj.as_ref()),
                    created: obj.metadata.creation_timestamp.as_ref().map(|t| t.0),
                },
                routes: vec![route],
            })
        })
        .collect()
}

fn route(
    obj: &GatewayRoute,
    plugins: &Plugins,
    backends: &Backends<'_>,
    problems: &mut Problems,
    refused: &mut Vec<RefusedEndpoint>,
) -> Option<snapshot::Route> {
    let at = ObjectName::of(obj);
    let spec = &obj.spec;
    let mut ok = true;
    let mut report = |condition, reason, message: String| {
        ok = false;
        problems.push(Kind::GatewayRoute, &at, condition, reason, message);
    };

    let mut paths = Vec::with_capacity(spec.paths.len());
    for path in &spec.paths {
        match check_path(path) {
            Ok(normalized) => paths.push(normalized),
            Err(why) => report(
                ProblemCondition::Accepted,
                reason::INVALID_PATH,
                format!("path {path:?} {why}"),
            ),
        }
    }
    let mut hosts = Vec::with_capacity(spec.hosts.len());
    for host in &spec.hosts {
        // Hosts match in any case; the snapshot carries them lower-cased. The rule is the one
        // the proxy applies to a snapshot, so no host it would refuse is ever sent to it.
        let lower = host.to_ascii_lowercase();
        if is_valid_host(&lower) {
            hosts.push(lower);
        } else {
            report(
                ProblemCondition::Accepted,
                reason::INVALID_HOST,
                format!("host {host:?} is not a host name or a *. wildcard"),
            );
        }
    }
    let mut methods = Vec::with_capacity(spec.methods.len());
    for method in &spec.methods {
        let upper = method.to_ascii_uppercase();
        if is_token(&upper) {
            methods.push(upper);
        } else {
            report(
                ProblemCondition::Accepted,
                reason::INVALID_METHOD,
                format!("method {method:?} is not an HTTP method"),
            );
        }
    }
    let mut plugin_ids = Vec::with_capacity(spec.plugins.len());
    let (mut auth, mut limits) = (Vec::new(), Vec::new());
    for (i, name) in spec.plugins.iter().enumerate() {
        if spec.plugins[..i].contains(name) {
            report(
                ProblemCondition::Accepted,
                reason::TOO_MANY_PLUGINS,
                format!("AuthPlugin {name} is listed twice"),
            );
            continue;
        }
        match plugins.lookup(&at.namespace, name) {
            PluginLookup::Accepted(plugin) => {
                if plugin.config.is_auth() {
                    auth.push(name.as_str());
                } else {
                    limits.push(name.as_str());
                }
                plugin_ids.push(plugin.id.clone());
            }
            PluginLookup::NotAccepted => report(
                ProblemCondition::ResolvedRefs,
                reason::PLUGIN_NOT_ACCEPTED,
                format!("AuthPlugin {name} is not accepted; the route is not served until it is"),
            ),
            PluginLookup::NotFound => report(
                ProblemCondition::ResolvedRefs,
                reason::PLUGIN_NOT_FOUND,
                format!(
                    "AuthPlugin {name} does not exist in namespace {}; the route is not served until it does",
                    at.namespace
                ),
            ),
        }
    }
    for (list, what) in [
        (&auth, "authentication plugin (oauth2 or openid-connect)"),
        (&limits, "rate-limiting plugin"),
    ] {
        if list.len() > 1 {
            report(
                ProblemCondition::Accepted,
                reason::TOO_MANY_PLUGINS,
                format!(
                    "{} ({}) are listed; a route takes at most one {what}",
                    list.join(", "),
                    list.len()
                ),
            );
        }
    }
    let backend = match &spec.backend {
        None => None,
        Some(backend) => match resolve_backend(backend, &at, backends, refused) {
            Ok(b) => Some(b),
            Err((condition, reason, message)) => {
                report(condition, reason, message);
                None
            }
        },
    };
    if !ok {
        return None;
    }
    Some(snapshot::Route {
        id: at.path(),
        hosts,
        paths,
        methods,
        strip_path: spec.strip_path,
        plugins: plugin_ids,
        backend,
        preserve_host: spec.backend.as_ref().is_some_and(|b| b.preserve_host),
        ..snapshot::Route::default()
    })
}

type BackendProblem = (ProblemCondition, &'static str, String);

fn resolve_backend(
    backend: &Backend,
    at: &ObjectName,
    backends: &Backends<'_>,
    refused: &mut Vec<RefusedEndpoint>,
) -> Result<snapshot::Backend, BackendProblem> {
    let policy = backends.policy;
    let invalid = |message: String| (ProblemCondition::Accepted, reason::INVALID_BACKEND, message);
    let timeout = |name: &str, value: i64| {
        u64::try_from(value)
            .ok()
            .filter(|v| *v > 0)
            .ok_or_else(|| invalid(format!("{name} must be a positive number of milliseconds")))
    };
    let connect_timeout_ms = timeout("connectTimeoutMs", backend.connect_timeout_ms)?;
    let read_timeout_ms = timeout("readTimeoutMs", backend.read_timeout_ms)?;
    match (&backend.service, &backend.url) {
        (Some(service), None) => {
            let key = ServiceKey {
                namespace: at.namespace.clone(),
                name: service.name.clone(),
                port: service.port,
            };
            backends
                .backend(&key, at, refused, connect_timeout_ms, read_timeout_ms)
                .ok_or_else(|| {
                    (
                        ProblemCondition::ResolvedRefs,
                        reason::SERVICE_NOT_FOUND,
                        format!(
                            "Service {} port {} is not known in namespace {} (standalone mode resolves only url backends)",
                            service.name, service.port, at.namespace
                        ),
                    )
                })
        }
        (None, Some(url)) => {
            let parsed = parse_url(url).map_err(|why| invalid(format!("url {url:?} {why}")))?;
            if let Some((address, refusal)) = refused_literal(&parsed.authority, policy) {
                return Err((
                    ProblemCondition::ResolvedRefs,
                    reason::BACKEND_ADDRESS_REFUSED,
                    refused_message(url, address, refusal),
                ));
            }
            Ok(snapshot::Backend {
                scheme: parsed.scheme.into(),
                path: parsed.path,
                host_header: None,
                endpoints: vec![parsed.authority],
                connect_timeout_ms,
                read_timeout_ms,
            })
        }
        _ => Err(invalid("set exactly one of service or url".into())),
    }
}

/// The address a `host:port` backend names and why the policy refuses it, when its host is a
/// literal address in any spelling (`127.0.0.1`, `[::1]`, `2130706433`, `0x7f.1`) the policy
/// refuses. Names are judged by the proxy once resolved.
pub(crate) fn refused_literal(
    authority: &str,
    policy: &AddressPolicy,
) -> Option<(SocketAddr, Refusal)> {
    let (host, port) = authority.rsplit_once(':')?;
    let address = SocketAddr::new(parse_host_ip(host)?, port.parse().ok()?);
    policy
        .judge(address)
        .err()
        .map(|refusal| (address, refusal))
}

fn refused_message(url: &str, address: SocketAddr, refusal: Refusal) -> String {
    let hint = match refusal {
        Refusal::OwnListener(_) => "",
        Refusal::Denied(_) => " (remove it from the deny-list or allow a narrower block)",
        _ => " (an operator can allow it with --backend-allow-cidr)",
    };
    format!(
        "url {url:?} points at {address}, {refusal}, which the backend address policy refuses{hint}"
    )
}

/// The parts of a backend URL.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct BackendUrl {
    pub scheme: &'static str,
    /// `host:port` (IPv6 hosts in brackets), with the scheme's default port filled in.
    pub authority: String,
    /// "" or a path starting with `/`.
    pub path: String,
}

pub(crate) fn parse_url(url: &str) -> Result<BackendUrl, &'static str> {
    let (scheme, rest, default_port) = if let Some(rest) = url.strip_prefix("http://") {
        ("http", rest, 80)
    } else if let Some(rest) = url.strip_prefix("https://") {
        ("https", rest, 443)
    } else {
        return Err("must start with http:// or https://");
    };
    if url.bytes().any(|b| !b.is_ascii_graphic()) {
        return Err("contains spaces or control characters");
    }
    if rest.contains(['?', '#']) {
        return Err("must not have a query or fragment");
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err("must not contain user information");
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or("has an unclosed IPv6 bracket")?;
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or("has junk after the IPv6 address")?,
            ),
        };
        (format!("[{host}]"), port)
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host.to_owned(), Some(port)),
            None => (authority.to_owned(), None),
        }
    };
    if host.is_empty() || host == "[]" {
        return Err("has no host");
    }
    let port = match port {
        None => default_port,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or("has an invalid port")?,
    };
    if !path.is_empty() {
        normalize_path(path).map_err(|_| "has an invalid path")?;
    }
    Ok(BackendUrl {
        scheme,
        authority: format!("{host}:{port}"),
        path: path.to_owned(),
    })
}

/// A route path: absolute, without query, fragment or spaces, and normalizable.
fn check_path(path: &str) -> Result<String, String> {
    if path.contains(['?', '#', ' ']) {
        return Err("must not contain '?', '#' or spaces".into());
    }
    normalize_path(path).map_err(|e| e.to_string())
}
