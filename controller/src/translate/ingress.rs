//! Ingress (`networking.k8s.io/v1`) → snapshot routes.
//!
//! - An IngressClass is ours when its `spec.controller` is [`CONTROLLER`]. An Ingress is ours
//!   when its `spec.ingressClassName` names one of our classes; an Ingress without a class (and
//!   without the deprecated `kubernetes.io/ingress.class` annotation) is ours only when one of our
//!   classes carries `ingressclass.kubernetes.io/is-default-class: "true"` (the Kubernetes rule).
//!   Other Ingresses get no route and no problem.
//! - Path `p` of rule `r` of Ingress `ns/name` becomes the core route `ingress/ns/name/r/p`, with
//!   the rule's host (exact or `*.` wildcard; none matches every host). `pathType: Exact` is an
//!   exact path; `Prefix` is element-wise, the core's prefix rule (`/foo` matches `/foo` and
//!   `/foo/bar`, not `/foobar`; a trailing `/` is ignored); `ImplementationSpecific` is read as
//!   `Prefix`. The core orders them as Kubernetes does: exact host before wildcard, exact path
//!   before prefix, longest prefix first; then `rank` (creation time, `namespace/name`, rule and
//!   path index).
//! - `spec.defaultBackend` becomes `ingress/ns/name/default`: every host, prefix `/`, ranked after
//!   every rule path, so it takes only the requests no route matches (as the Kong Ingress
//!   Controller translates it). A rule without `http` sends its host to the default backend.
//! - Backends are Services of the Ingress's namespace, by port number or port name, resolved
//!   through the same Service endpoints as GatewayRoutes and HTTPRoutes. A path whose Service (or
//!   port) is unknown, or whose backend is a `resource`, answers 500 and the Ingress reports it.
//! - The annotation `tollgate.dev/plugins: <name>[,<name>]` applies AuthPlugins of the Ingress's
//!   namespace to every path (an `oauth2` plugin serves `<path prefix>/oauth2/token`). A plugin
//!   missing or not accepted fails closed: every path of the Ingress answers 500 without a
//!   backend (never falling through to a less specific route that is not protected), and the
//!   Ingress reports why.
//! - A `*.` wildcard host matches exactly one label (`*.foo.com` matches `bar.foo.com`, not
//!   `baz.bar.foo.com`), as the Ingress specification says; the core route carries
//!   `single_label_wildcard` (Gateway API wildcards take one or more labels).
//! - The upstream request keeps the client's `Host` (the Kong Ingress Controller's default)
//!   unless the Ingress is annotated `tollgate.dev/preserve-host: "false"`; another value
//!   refuses the Ingress (`Accepted: False`, `InvalidAnnotation`).
//! - `spec.tls` is recorded ([`IngressTls`]) for the served certificates.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::{Ingress, IngressBackend, IngressClass};
use kube::ResourceExt;
use tollgate_core::routing::normalize_path;
use tollgate_core::snapshot;
use tollgate_core::validate::is_valid_host;

use super::plugins::{PluginLookup, Plugins};
use super::problem::{Kind, ProblemCondition, reason};
use super::services::ServiceBackends;
use super::tenancy::{Aged, Owner};
use super::{
    DEFAULT_NAMESPACE, ObjectName, Problems, RefusedEndpoint, ServiceEndpoints, ServiceKey,
};
use crate::resources::gateway_api::{annotated_plugins, annotated_preserve_host};
use crate::resources::gateway_route::DEFAULT_TIMEOUT_MS;

/// The `spec.controller` of the IngressClasses Tollgate serves.
pub const CONTROLLER: &str = "tollgate.dev/ingress-controller";
/// The annotation marking the cluster's default IngressClass (value `"true"`).
pub const DEFAULT_CLASS_ANNOTATION: &str = "ingressclass.kubernetes.io/is-default-class";
/// The deprecated annotation naming an Ingress's class, read when `ingressClassName` is unset.
pub const LEGACY_CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";
/// Prefix of the ids of core routes made from Ingresses.
pub const ROUTE_ID_PREFIX: &str = "ingress/";

/// `rank` = Ingress order × [`RANK_INGRESS`] + rule × [`RANK_RULE`] + path (indexes clamped
/// below [`RANK_RULE`]); default backends rank after every rule path.
const RANK_INGRESS: u64 = 1 << 20;
const RANK_RULE: u64 = 1 << 10;
const RANK_DEFAULT_BACKEND: u64 = 1 << 62;

/// The Ingress objects a translation reads, and the Services whose named ports an Ingress
/// backend may name.
#[derive(Clone, Default)]
pub struct IngressObjects {
    pub classes: Vec<Arc<IngressClass>>,
    pub ingresses: Vec<Arc<Ingress>>,
    /// Services, to resolve a backend's port name to its number.
    pub services: Vec<Arc<Service>>,
}

impl std::fmt::Debug for IngressObjects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngressObjects")
            .field("classes", &self.classes.len())
            .field("ingresses", &self.ingresses.len())
            .field("services", &self.services.len())
            .finish()
    }
}

/// One `spec.tls` entry of a served Ingress: the hosts its Secret's certificate is for.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct IngressTls {
    pub namespace: String,
    /// The Ingress's name.
    pub ingress: String,
    /// The `kubernetes.io/tls` Secret of the Ingress's namespace (`None`: the default
    /// certificate).
    pub secret_name: Option<String>,
    /// Lower-cased; empty when the entry names none.
    pub hosts: Vec<String>,
}

/// What the translation of Ingresses reports besides routes and problems.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IngressReport {
    /// `namespace/name` of every Ingress of ours, served or not (their `status.loadBalancer` is
    /// the proxy's).
    pub ours: BTreeSet<String>,
    /// `spec.tls` of the Ingresses served, sorted.
    pub tls: Vec<IngressTls>,
}

/// What the translation of Ingresses needs from the rest.
pub(crate) struct Context<'a> {
    pub plugins: &'a Plugins,
    pub services: &'a ServiceEndpoints,
    pub policy: &'a tollgate_core::address::AddressPolicy,
}

/// The names of our IngressClasses, and whether one of them is the default class.
fn our_classes(classes: &[Arc<IngressClass>]) -> (BTreeSet<String>, bool) {
    let mut names = BTreeSet::new();
    let mut default = false;
    for class in classes {
        if class.spec.as_ref().and_then(|s| s.controller.as_deref()) != Some(CONTROLLER) {
            continue;
        }
        names.insert(class.name_any());
        default |= class
            .annotations()
            .get(DEFAULT_CLASS_ANNOTATION)
            .is_some_and(|v| v == "true");
    }
    (names, default)
}

/// Whether `ingress` is ours.
fn is_ours(ingress: &Ingress, classes: &BTreeSet<String>, default: bool) -> bool {
    let named = ingress
        .spec
        .as_ref()
        .and_then(|s| s.ingress_class_name.as_deref())
        .filter(|n| !n.is_empty())
        .or_else(|| {
            ingress
                .annotations()
                .get(LEGACY_CLASS_ANNOTATION)
                .map(String::as_str)
                .filter(|n| !n.is_empty())
        });
    match named {
        Some(name) => classes.contains(name),
        None => default,
    }
}

pub(crate) fn translate(
    objects: &IngressObjects,
    cx: &Context<'_>,
    problems: &mut Problems,
    refused: &mut Vec<RefusedEndpoint>,
) -> (Vec<Aged>, IngressReport) {
    let (classes, default) = our_classes(&objects.classes);
    let mut report = IngressReport::default();
    let mut ingresses: Vec<&Arc<Ingress>> = objects
        .ingresses
        .iter()
        .filter(|i| is_ours(i, &classes, default))
        .collect();
    // Oldest first, then by namespace/name: the tie-break between equal matches.
    ingresses.sort_by_cached_key(|i| {
        (
            i.metadata.creation_timestamp.as_ref().map(|t| t.0),
            ObjectName::of(i.as_ref()),
        )
    });
    let ports = service_ports(&objects.services);
    let mut out = Vec::new();
    for (order, ingress) in ingresses.into_iter().enumerate() {
        let at = ObjectName::of(ingress.as_ref());
        report.ours.insert(at.path());
        let mut one = One {
            at: &at,
            cx,
            ports: &ports,
            problems: &mut *problems,
            refused: &mut *refused,
        };
        match one.routes(ingress, order as u64) {
            Ok(routes) => {
                report.tls.extend(tls_of(ingress, &at));
                out.push(Aged {
                    owner: Owner {
                        kind: Kind::Ingress,
                        object: at.clone(),
                        created: ingress.metadata.creation_timestamp.as_ref().map(|t| t.0),
                    },
                    routes,
                });
            }
            Err((reason, message)) => {
                problems.push(
                    Kind::Ingress,
                    &at,
                    ProblemCondition::Accepted,
                    reason,
                    message,
                );
            }
        }
    }
    report.tls.sort();
    (out, report)
}

/// Adds the TLS Secrets (`namespace/name`) Tollgate's Ingresses name in `spec.tls` to `out`.
pub(crate) fn certificate_secret_names(objects: &IngressObjects, out: &mut BTreeSet<String>) {
    let (classes, default) = our_classes(&objects.classes);
    for ingress in objects
        .ingresses
        .iter()
        .filter(|i| is_ours(i, &classes, default))
    {
        let at = ObjectName::of(ingress.as_ref());
        for tls in tls_of(ingress, &at) {
            if let Some(name) = tls.secret_name {
                out.insert(format!("{}/{name}", tls.namespace));
            }
        }
    }
}

fn tls_of(ingress: &Ingress, at: &ObjectName) -> Vec<IngressTls> {
    ingress
        .spec
        .as_ref()
        .and_then(|s| s.tls.as_ref())
        .into_iter()
        .flatten()
        .map(|tls| IngressTls {
            namespace: at.namespace.clone(),
            ingress: at.name.clone(),
            secret_name: tls.secret_name.clone().filter(|s| !s.is_empty()),
            hosts: tls
                .hosts
                .iter()
                .flatten()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
        })
        .collect()
}

/// Service `(namespace, name, port name)` → port number.
type PortNames = BTreeMap<(String, String, String), i32>;

fn service_ports(services: &[Arc<Service>]) -> PortNames {
    let mut out = PortNames::new();
    for s in services {
        let at = ObjectName::of(s.as_ref());
        let ports = s.spec.as_ref().and_then(|spec| spec.ports.as_ref());
        for port in ports.into_iter().flatten() {
            if let Some(name) = port.name.as_ref().filter(|n| !n.is_empty()) {
                out.insert(
                    (at.namespace.clone(), at.name.clone(), name.clone()),
                    port.port,
                );
            }
        }
    }
    out
}

/// Why an Ingress cannot be served at all: a reason and a message.
type Refusal = (&'static str, String);

/// The translation of one Ingress.
struct One<'a, 'p> {
    at: &'a ObjectName,
    cx: &'a Context<'a>,
    ports: &'a PortNames,
    problems: &'p mut Problems,
    refused: &'p mut Vec<RefusedEndpoint>,
}

impl One<'_, '_> {
    fn unresolved(&mut self, reason: &'static str, message: String) {
        self.problems.push(
            Kind::Ingress,
            self.at,
            ProblemCondition::ResolvedRefs,
            reason,
            message,
        );
    }

    /// The plugin ids of the annotation, or why the Ingress fails closed (reported).
    fn plugins(&mut self, ingress: &Ingress) -> Option<Vec<String>> {
        let names = annotated_plugins(ingress.annotations());
        let mut ids = Vec::with_capacity(names.len());
        let (mut auth, mut limits) = (0, 0);
        let mut problem = None;
        for (i, name) in names.iter().enumerate() {
            if names[..i].contains(name) {
                continue;
            }
            match self.cx.plugins.lookup(&self.at.namespace, name) {
                PluginLookup::Accepted(plugin) => {
                    if plugin.config.is_auth() {
                        auth += 1;
                    } else {
                        limits += 1;
                    }
                    ids.push(plugin.id.clone());
                }
                PluginLookup::NotAccepted => {
                    problem.get_or_insert((
                        reason::PLUGIN_NOT_ACCEPTED,
                        format!(
                            "AuthPlugin {name} is not accepted; every path of the Ingress answers 500 until it is"
                        ),
                    ));
                }
                PluginLookup::NotFound => {
                    problem.get_or_insert((
                        reason::PLUGIN_NOT_FOUND,
                        format!(
                            "AuthPlugin {name} does not exist in namespace {}; every path of the Ingress answers 500 until it does",
                            self.at.namespace
                        ),
                    ));
                }
            }
        }
        if auth > 1 || limits > 1 {
            problem.get_or_insert((
                reason::TOO_MANY_PLUGINS,
                "an Ingress takes at most one authentication and one rate-limiting AuthPlugin; every path answers 500".into(),
            ));
        }
        match problem {
            None => Some(ids),
            Some((reason, message)) => {
                self.unresolved(reason, message);
                None
            }
        }
    }

    /// The core routes of one Ingress (ids, hosts, paths and rank filled in).
    fn routes(&mut self, ingress: &Ingress, order: u64) -> Result<Vec<snapshot::Route>, Refusal> {
        let spec = ingress.spec.clone().unwrap_or_default();
        // Checked first: an Ingress that cannot be served reports only that.
        let mut matches = Vec::new();
        for (r, rule) in spec.rules.iter().flatten().enumerate() {
            let host = match rule.host.as_deref().filter(|h| !h.is_empty()) {
                None => None,
                Some(h) => {
                    let lower = h.to_ascii_lowercase();
                    if !is_valid_host(&lower) {
                        return Err((
                            reason::INVALID_HOST,
                            format!("rule {r}: host {h:?} is not a host name or a *. wildcard"),
                        ));
                    }
                    Some(lower)
                }
            };
            let Some(http) = &rule.http else {
                // A host without paths: the default backend serves it.
                matches.push(PathMatch {
                    rule: r,
                    index: 0,
                    host,
                    exact: None,
                    prefix: "/".into(),
                    backend: None,
                });
                continue;
            };
            for (p, path) in http.paths.iter().enumerate() {
                let (exact, prefix) = path_match(path.path.as_deref(), &path.path_type)
                    .map_err(|why| (reason::INVALID_PATH, format!("rule {r} path {p}: {why}")))?;
                matches.push(PathMatch {
                    rule: r,
                    index: p,
                    host: host.clone(),
                    exact,
                    prefix,
                    backend: Some(&path.backend),
                });
            }
        }
        if matches.is_empty() && spec.default_backend.is_none() {
            return Err((
                reason::INVALID_BACKEND,
                "the Ingress has neither rules with paths nor a defaultBackend".into(),
            ));
        }
        let preserve_host = annotated_preserve_host(ingress.annotations())
            .map_err(|message| (reason::INVALID_ANNOTATION, message))?;

        let plugins = self.plugins(ingress);
        let default_backend = spec
            .default_backend
            .as_ref()
            .map(|b| self.backend(b, plugins.is_some(), "defaultBackend"));
        let mut out = Vec::with_capacity(matches.len() + 1);
        for m in matches {
            let backends = match m.backend {
                Some(b) => self.backend(b, plugins.is_some(), &format!("rule {}", m.rule)),
                None => match &default_backend {
                    Some(b) => b.clone(),
                    // A host-only rule without a default backend: nothing to serve.
                    None => continue,
                },
            };
            let mut route = route(&plugins, backends, preserve_host);
            route.id = format!("{ROUTE_ID_PREFIX}{}/{}/{}", self.at.path(), m.rule, m.index);
            // Kubernetes: an Ingress `*.foo.com` matches `bar.foo.com`, not `baz.bar.foo.com`.
            route.single_label_wildcard = m.host.as_deref().is_some_and(|h| h.starts_with("*."));
            route.hosts = m.host.into_iter().collect();
            match m.exact {
                Some(exact) => route.exact_paths.push(exact),
                None => route.paths.push(m.prefix),
            }
            route.rank = order * RANK_INGRESS
                + (m.rule as u64).min(RANK_RULE - 1) * RANK_RULE
                + (m.index as u64).min(RANK_RULE - 1);
            out.push(route);
        }
        if let Some(backends) = default_backend {
            let mut route = route(&plugins, backends, preserve_host);
            route.id = format!("{ROUTE_ID_PREFIX}{}/default", self.at.path());
            route.paths.push("/".into());
            route.rank = RANK_DEFAULT_BACKEND + order;
            out.push(route);
        }
        Ok(out)
    }

    /// A backend as the weighted backends of a core route: one, or one answering 500 (fail
    /// closed when `plugins_ok` is false; an unresolved backend, reported).
    fn backend(
        &mut self,
        backend: &IngressBackend,
        plugins_ok: bool,
        what: &str,
    ) -> Vec<snapshot::WeightedBackend> {
        let resolved = if plugins_ok {
            match self.resolve(backend) {
                Ok(b) => Some(b),
                Err((reason, message)) => {
                    self.unresolved(reason, format!("{what}: {message}; its paths answer 500"));
                    None
                }
            }
        } else {
            None
        };
        vec![snapshot::WeightedBackend {
            weight: 1,
            backend: resolved,
        }]
    }

    fn resolve(&mut self, backend: &IngressBackend) -> Result<snapshot::Backend, Refusal> {
        let ns = &self.at.namespace;
        let service = match (&backend.service, &backend.resource) {
            (Some(service), _) => service,
            (None, Some(resource)) => {
                return Err((
                    reason::INVALID_BACKEND,
                    format!(
                        "a resource backend ({} {}) is not served; name a Service",
                        resource.kind, resource.name
                    ),
                ));
            }
            (None, None) => {
                return Err((reason::INVALID_BACKEND, "a backend needs a service".into()));
            }
        };
        let port = service.port.as_ref();
        let number = match (
            port.and_then(|p| p.number),
            port.and_then(|p| p.name.as_deref()),
        ) {
            (Some(n), _) => n,
            (None, Some(name)) => *self
                .ports
                .get(&(ns.clone(), service.name.clone(), name.to_owned()))
                .ok_or_else(|| {
                    (
                        reason::SERVICE_NOT_FOUND,
                        format!(
                            "Service {ns}/{} has no port named {name:?} (or does not exist)",
                            service.name
                        ),
                    )
                })?,
            (None, None) => {
                return Err((
                    reason::INVALID_BACKEND,
                    format!("the backend Service {} needs a port", service.name),
                ));
            }
        };
        let key = ServiceKey {
            namespace: ns.clone(),
            name: service.name.clone(),
            port: number,
        };
        let timeout_ms = DEFAULT_TIMEOUT_MS.unsigned_abs();
        ServiceBackends {
            services: self.cx.services,
            policy: self.cx.policy,
        }
        .backend(&key, self.at, self.refused, timeout_ms, timeout_ms)
        .ok_or_else(|| {
            (
                reason::SERVICE_NOT_FOUND,
                format!("Service {ns}/{} port {number} does not exist", service.name),
            )
        })
    }
}

/// One path of a rule, checked.
struct PathMatch<'a> {
    rule: usize,
    index: usize,
    host: Option<String>,
    /// The normalized exact path (`pathType: Exact`), or `None` for a prefix.
    exact: Option<String>,
    prefix: String,
    /// `None`: the default backend (a rule without paths).
    backend: Option<&'a IngressBackend>,
}

/// A core route with the Ingress's plugins (none when they fail closed) and these backends.
fn route(
    plugins: &Option<Vec<String>>,
    backends: Vec<snapshot::WeightedBackend>,
    preserve_host: bool,
) -> snapshot::Route {
    snapshot::Route {
        plugins: plugins.clone().unwrap_or_default(),
        backends,
        preserve_host,
        ..snapshot::Route::default()
    }
}

/// A path and its `pathType` → an exact path, or a prefix (`(None, prefix)`).
fn path_match(path: Option<&str>, path_type: &str) -> Result<(Option<String>, String), String> {
    let value = path.filter(|p| !p.is_empty()).unwrap_or("/");
    if value.contains(['?', '#', ' ']) || !value.starts_with('/') {
        return Err(format!("path {value:?} is not an absolute path"));
    }
    let normalized = normalize_path(value).map_err(|e| format!("path {value:?}: {e}"))?;
    match path_type {
        "Exact" => Ok((Some(normalized), String::new())),
        // ImplementationSpecific is Tollgate's Prefix.
        "Prefix" | "ImplementationSpecific" => {
            // Element-wise, a trailing `/` ignored: `/a/` matches `/a` and `/a/b`, not `/ab`.
            let trimmed = normalized.trim_end_matches('/');
            Ok((
                None,
                if trimmed.is_empty() {
                    "/".to_owned()
                } else {
                    trimmed.to_owned()
                },
            ))
        }
        other => Err(format!(
            "pathType {other:?} is not Exact, Prefix or ImplementationSpecific"
        )),
    }
}

/// `namespace/name` of the Ingress a core route id names, if it is one.
pub(crate) fn route_object(id: &str) -> Option<ObjectName> {
    let rest = id.strip_prefix(ROUTE_ID_PREFIX)?;
    let mut parts = rest.splitn(3, '/');
    let namespace = parts
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or(DEFAULT_NAMESPACE);
    let name = parts.next()?;
    Some(ObjectName {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    })
}
