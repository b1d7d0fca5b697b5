//! Gateway API objects (GatewayClass, Gateway, HTTPRoute, ReferenceGrant) → snapshot routes and
//! the status the Gateway API specifies.
//!
//! - A GatewayClass is ours when its `controllerName` is [`CONTROLLER_NAME`]; a Gateway when its
//!   class is ours. Objects of other controllers get no status and no route.
//! - Every listener of our Gateways is checked (protocol `HTTP` or `HTTPS`, hostname, TLS
//!   certificate references, allowed route kinds); an invalid listener attaches no route.
//! - An HTTPRoute attaches to each listener its `parentRefs` select (`sectionName`, `port`) that
//!   allows its namespace and kind and shares a hostname with it. Its effective hosts are the
//!   intersections of its `hostnames` with those listeners' hostnames.
//! - Rule `r`, match `m` of route `ns/name` becomes the core route `httproute/ns/name/r/m`
//!   (a rule without matches has one, path prefix `/`). `rank` orders routes by creation time,
//!   then `namespace/name`, then rule and match index, as the Gateway API breaks ties.
//! - A rule whose AuthPlugin (an `ExtensionRef` filter or the `tollgate.dev/plugins` annotation)
//!   is missing or not accepted is served as 500 without any backend (fail closed: its requests
//!   never fall through to a less specific rule that is not protected), and the route's
//!   `ResolvedRefs` says why. A backendRef that cannot be resolved (unknown Service, a kind other
//!   than Service, another namespace without a ReferenceGrant) keeps its weight and answers 500.
//! - The upstream request keeps the client's `Host` (as Envoy Gateway and the conformance suite
//!   expect) unless the route is annotated `tollgate.dev/preserve-host: "false"`; another value
//!   is refused (`Accepted: False`, `UnsupportedValue`). A `URLRewrite` hostname still wins.
//! - One bad route never blocks another; a route the translation cannot serve at all (an
//!   unsupported match or filter) gets `Accepted: False` with reason `UnsupportedValue`.
//! - Tenancy: the core routes of every HTTPRoute go through the same check as GatewayRoutes
//!   (`super::tenancy`), one HTTPRoute as a whole. A route one of whose rules would take requests
//!   of an older protected route of another namespace (an `Exact` path or a prefix under its
//!   token endpoint, header, query or method conditions included) is not served, and every
//!   parent that accepted it says `Accepted: False` with reason `RouteConflict`
//!   ([`GatewayApiStatus::refuse_route`]); its listeners still count it as attached.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::ResourceExt;
use tollgate_core::address::AddressPolicy;
use tollgate_core::routing::normalize_path;
use tollgate_core::snapshot;
use tollgate_core::validate::is_valid_host;

use super::certificates::{CertificateSet, Unresolved, hosts_for};
use super::plugins::{PluginLookup, Plugins};
use super::problem::{Kind, ProblemCondition, reason};
use super::services::ServiceBackends;
use super::tenancy::{Aged, Owner};
use super::{
    DEFAULT_NAMESPACE, ObjectName, Problems, RefusedEndpoint, ServiceEndpoints, ServiceKey,
};
use crate::resources::gateway_api::{
    CONTROLLER_NAME, GROUP, Gateway, GatewayClass, HTTPBackendRef, HTTPHeaderFilter,
    HTTPPathModifier, HTTPRoute, HTTPRouteFilter, HTTPRouteMatch, HTTPRouteRule, Listener,
    ParentRef, ReferenceGrant, RouteGroupKind, annotated_plugins, annotated_preserve_host,
};
use crate::resources::gateway_route::DEFAULT_TIMEOUT_MS;

/// Prefix of the ids of core routes made from HTTPRoutes.
pub const ROUTE_ID_PREFIX: &str = "httproute/";

/// Condition types and reasons of the Gateway API, and Tollgate's own reasons.
pub mod gw {
    pub const ACCEPTED: &str = "Accepted";
    pub const PROGRAMMED: &str = "Programmed";
    pub const RESOLVED_REFS: &str = "ResolvedRefs";
    pub const CONFLICTED: &str = "Conflicted";
    pub const NO_CONFLICTS: &str = "NoConflicts";
    pub const INVALID: &str = "Invalid";
    pub const INVALID_PARAMETERS: &str = "InvalidParameters";
    pub const LISTENERS_NOT_VALID: &str = "ListenersNotValid";
    pub const UNSUPPORTED_PROTOCOL: &str = "UnsupportedProtocol";
    pub const UNSUPPORTED_VALUE: &str = "UnsupportedValue";
    pub const INVALID_CERTIFICATE_REF: &str = "InvalidCertificateRef";
    pub const HOSTNAME_CONFLICT: &str = "HostnameConflict";
    pub const INVALID_ROUTE_KINDS: &str = "InvalidRouteKinds";
    pub const REF_NOT_PERMITTED: &str = "RefNotPermitted";
    pub const NOT_ALLOWED_BY_LISTENERS: &str = "NotAllowedByListeners";
    pub const NO_MATCHING_LISTENER_HOSTNAME: &str = "NoMatchingListenerHostname";
    pub const NO_MATCHING_PARENT: &str = "NoMatchingParent";
    pub const BACKEND_NOT_FOUND: &str = "BackendNotFound";
    pub const INVALID_KIND: &str = "InvalidKind";
    /// Tollgate's: an AuthPlugin named by a rule does not exist, is not accepted, or a rule names
    /// two of one kind; the rule answers 500.
    pub const PLUGIN_NOT_FOUND: &str = "PluginNotFound";
    pub const PLUGIN_NOT_ACCEPTED: &str = "PluginNotAccepted";
    pub const TOO_MANY_PLUGINS: &str = "TooManyPlugins";
    /// Tollgate's: a rule would take requests of an older route of another namespace (or that
    /// route requests of it) where one of them is protected by a plugin; the route is not
    /// served (`Accepted: False` on every parent). The reason GatewayRoutes get for the same.
    pub const ROUTE_CONFLICT: &str = crate::translate::problem::reason::ROUTE_CONFLICT;
}

/// The Gateway API objects a translation reads.
#[derive(Clone, Default)]
pub struct GatewayObjects {
    pub classes: Vec<Arc<GatewayClass>>,
    pub gateways: Vec<Arc<Gateway>>,
    pub routes: Vec<Arc<HTTPRoute>>,
    pub grants: Vec<Arc<ReferenceGrant>>,
}

impl std::fmt::Debug for GatewayObjects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayObjects")
            .field("classes", &self.classes.len())
            .field("gateways", &self.gateways.len())
            .field("routes", &self.routes.len())
            .field("grants", &self.grants.len())
            .finish()
    }
}

/// One status condition, without its transition time (the writer keeps the previous time when
/// status and reason are unchanged).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cond {
    pub type_: &'static str,
    pub status: bool,
    pub reason: &'static str,
    pub message: String,
    pub observed_generation: Option<i64>,
}

/// The status of one listener.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerReport {
    pub name: String,
    pub supported_kinds: Vec<RouteGroupKind>,
    pub attached_routes: i32,
    pub conditions: Vec<Cond>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GatewayReport {
    pub conditions: Vec<Cond>,
    pub listeners: Vec<ListenerReport>,
}

/// The status of one parentRef of an HTTPRoute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParentReport {
    pub parent_ref: ParentRef,
    pub conditions: Vec<Cond>,
}

/// The status of every object of ours, keyed by name (classes) or `namespace/name`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GatewayApiStatus {
    pub classes: BTreeMap<String, Vec<Cond>>,
    pub gateways: BTreeMap<String, GatewayReport>,
    pub routes: BTreeMap<String, Vec<ParentReport>>,
}

impl GatewayApiStatus {
    /// Marks the route `ns/name` as not served because it conflicts with an older route of
    /// another namespace: every parent that accepted it says `Accepted: False`,
    /// [`gw::ROUTE_CONFLICT`]. Attachment (a listener's `attachedRoutes`) depends only on
    /// `parentRefs` and `allowedRoutes`, so it stays.
    pub(crate) fn refuse_route(&mut self, route: &str, message: &str) {
        for parent in self.routes.get_mut(route).into_iter().flatten() {
            for c in &mut parent.conditions {
                if c.type_ == gw::ACCEPTED && c.status {
                    c.status = false;
                    c.reason = gw::ROUTE_CONFLICT;
                    message.clone_into(&mut c.message);
                }
            }
        }
    }

    /// The condition `type_` of the parentRef `index` of the route `ns/name`.
    pub fn route_condition(&self, route: &str, index: usize, type_: &str) -> Option<&Cond> {
        self.routes
            .get(route)?
            .get(index)?
            .conditions
            .iter()
            .find(|c| c.type_ == type_)
    }
}

/// What the translation of the Gateway API objects needs from the rest.
pub(crate) struct Context<'a> {
    pub plugins: &'a Plugins,
    pub services: &'a ServiceEndpoints,
    pub namespaces: &'a [Arc<Namespace>],
    /// Where a listener's certificate Secrets are found, labelled or not.
    pub tls_secrets: super::certificates::TlsSecrets<'a>,
    /// Service endpoints the backend address policy refuses are dropped (and reported).
    pub policy: &'a AddressPolicy,
}

fn cond(
    type_: &'static str,
    status: bool,
    reason: &'static str,
    message: impl Into<String>,
    generation: Option<i64>,
) -> Cond {
    Cond {
        type_,
        status,
        reason,
        message: message.into(),
        observed_generation: generation,
    }
}

/// A listener's name, supported kinds and conditions.
type ListenerCheck = (String, Vec<RouteGroupKind>, Vec<Cond>);

/// What checking a listener found: its supported kinds, its conditions, whether it is valid,
/// and the certificates it serves (HTTPS), their hosts narrowed to its hostname.
struct Checked {
    kinds: Vec<RouteGroupKind>,
    conditions: Vec<Cond>,
    ok: bool,
    certificates: Vec<snapshot::ServedCertificate>,
}

/// A header modifier's `set`, `add` and `remove`.
type HeaderEdits = (
    Vec<snapshot::HeaderValue>,
    Vec<snapshot::HeaderValue>,
    Vec<String>,
);

/// A listener of one of our Gateways, as routes attach to it: a valid one, or one whose only
/// problem is that it allows no route kind Tollgate serves (routes naming it are then
/// `NotAllowedByListeners`, as the Gateway API says, rather than `NoMatchingParent`).
struct LiveListener<'a> {
    gateway_namespace: String,
    listener: &'a Listener,
    /// Lower-cased; `None` matches every host.
    hostname: Option<String>,
    /// Whether it takes HTTPRoutes at all (its `allowedRoutes.kinds`).
    takes_http_routes: bool,
    /// The proxy port it is served on (HTTP listeners on the plain port, HTTPS on the TLS one).
    port: snapshot::ListenerPort,
    /// False for a listener kept only to refuse routes by kind (it counts as not valid).
    valid: bool,
    attached: i32,
}

pub(crate) fn translate(
    objects: &GatewayObjects,
    cx: &Context<'_>,
    certificates: &mut CertificateSet,
    problems: &mut Problems,
    refused: &mut Vec<RefusedEndpoint>,
) -> (Vec<Aged>, GatewayApiStatus) {
    let mut status = GatewayApiStatus::default();
    let our_classes: BTreeSet<String> = objects
        .classes
        .iter()
        .filter(|c| c.spec.controller_name == CONTROLLER_NAME)
        .map(|c| {
            let name = c.name_any();
            status.classes.insert(
                name.clone(),
                vec![cond(
                    gw::ACCEPTED,
                    true,
                    gw::ACCEPTED,
                    "served by Tollgate",
                    c.metadata.generation,
                )],
            );
            name
        })
        .collect();
    let grants = Grants::new(&objects.grants);

    // Listeners of our Gateways, by Gateway `namespace/name`.
    let mut listeners: BTreeMap<String, Vec<LiveListener<'_>>> = BTreeMap::new();
    let mut listener_conditions: BTreeMap<String, Vec<ListenerCheck>> = BTreeMap::new();
    let mut other_gateways = BTreeSet::new();
    // Oldest Gateway first: it keeps a host name another Gateway's certificate claims too.
    let mut gateways: Vec<&Arc<Gateway>> = objects.gateways.iter().collect();
    gateways.sort_by_cached_key(|g| {
        (
            g.metadata.creation_timestamp.as_ref().map(|t| t.0),
            ObjectName::of(g.as_ref()),
        )
    });
    for gateway in gateways {
        let at = ObjectName::of(gateway.as_ref());
        if !our_classes.contains(&gateway.spec.gateway_class_name) {
            other_gateways.insert(at.path());
            continue;
        }
        let generation = gateway.metadata.generation;
        let mut live = Vec::new();
        let mut reports = Vec::new();
        for listener in &gateway.spec.listeners {
            let Checked {
                kinds,
                mut conditions,
                ok,
                certificates: served,
            } = check_listener(listener, &at, &grants, cx, generation);
            if ok {
                let own: BTreeSet<String> = served.iter().map(|c| c.source.clone()).collect();
                let mut taken = Vec::new();
                for certificate in served {
                    match certificates.add(certificate) {
                        Ok(t) => taken.extend(t.into_iter().filter(|(_, by)| !own.contains(by))),
                        Err(message) => taken.push((message, String::new())),
                    }
                }
                if let Some((host, by)) = taken.first() {
                    let message = if by.is_empty() {
                        host.clone()
                    } else {
                        format!(
                            "host {host} is served with the certificate of {by}, named by another listener first"
                        )
                    };
                    if let Some(c) = conditions.iter_mut().find(|c| c.type_ == gw::CONFLICTED) {
                        *c = cond(
                            gw::CONFLICTED,
                            true,
                            gw::HOSTNAME_CONFLICT,
                            message.clone(),
                            generation,
                        );
                    }
                    problems.push(
                        Kind::Gateway,
                        &at,
                        ProblemCondition::Accepted,
                        gw::HOSTNAME_CONFLICT,
                        format!("listener {}: {message}", listener.name),
                    );
                }
                live.push(LiveListener {
                    gateway_namespace: at.namespace.clone(),
                    listener,
                    hostname: listener.hostname.as_ref().map(|h| h.to_ascii_lowercase()),
                    takes_http_routes: !kinds.is_empty(),
                    port: if listener.protocol == "HTTPS" {
                        snapshot::ListenerPort::Https
                    } else {
                        snapshot::ListenerPort::Http
                    },
                    valid: true,
                    attached: 0,
                });
            } else {
                let only_kinds = kinds.is_empty()
                    && conditions.iter().all(|c| {
                        c.status
                            || c.type_ == gw::CONFLICTED
                            || c.type_ == gw::PROGRAMMED
                            || c.reason == gw::INVALID_ROUTE_KINDS
                    });
                if only_kinds {
                    live.push(LiveListener {
                        gateway_namespace: at.namespace.clone(),
                        listener,
                        hostname: listener.hostname.as_ref().map(|h| h.to_ascii_lowercase()),
                        takes_http_routes: false,
                        // Takes no route: its port binds none.
                        port: snapshot::ListenerPort::Http,
                        valid: false,
                        attached: 0,
                    });
                }
                let (kind, message) = conditions
                    .iter()
                    .find(|c| !c.status && c.type_ != gw::CONFLICTED)
                    .map_or(("", String::new()), |c| (c.reason, c.message.clone()));
                let condition = if kind == gw::INVALID_CERTIFICATE_REF
                    || kind == reason::SECRET_NOT_READABLE
                    || kind == gw::REF_NOT_PERMITTED
                    || kind == gw::INVALID_ROUTE_KINDS
                {
                    ProblemCondition::ResolvedRefs
                } else {
                    ProblemCondition::Accepted
                };
                problems.push(
                    Kind::Gateway,
                    &at,
                    condition,
                    static_reason(kind),
                    format!("listener {}: {message}", listener.name),
                );
            }
            reports.push((listener.name.clone(), kinds, conditions));
        }
        listeners.insert(at.path(), live);
        listener_conditions.insert(at.path(), reports);
    }

    // Routes, oldest first (the Gateway API's tie-break), then by namespace/name.
    let mut routes: Vec<&Arc<HTTPRoute>> = objects.routes.iter().collect();
    routes.sort_by_cached_key(|r| {
        (
            r.metadata.creation_timestamp.as_ref().map(|t| t.0),
            ObjectName::of(r.as_ref()),
        )
    });
    let mut out = Vec::new();
    for (order, route) in routes.into_iter().enumerate() {
        let at = ObjectName::of(route.as_ref());
        let Some(reports) = http_route(
            route,
            &at,
            order as u64,
            &mut listeners,
            &other_gateways,
            &grants,
            cx,
            problems,
            refused,
            &mut out,
        ) else {
            continue;
        };
        status.routes.insert(at.path(), reports);
    }

    for gateway in &objects.gateways {
        let at = ObjectName::of(gateway.as_ref());
        let Some(reports) = listener_conditions.remove(&at.path()) else {
            continue;
        };
        let live = listeners.remove(&at.path()).unwrap_or_default();
        let generation = gateway.metadata.generation;
        let valid = live.iter().filter(|l| l.valid).count();
        let all = reports.len();
        let listener_reports: Vec<ListenerReport> = reports
            .into_iter()
            .map(|(name, kinds, conditions)| ListenerReport {
                attached_routes: live
                    .iter()
                    .find(|l| l.listener.name == name)
                    .map_or(0, |l| l.attached),
                name,
                supported_kinds: kinds,
                conditions,
            })
            .collect();
        let conditions = if valid > 0 {
            let reason = if valid == all {
                gw::ACCEPTED
            } else {
                gw::LISTENERS_NOT_VALID
            };
            vec![
                cond(
                    gw::ACCEPTED,
                    true,
                    reason,
                    format!("{valid} of {all} listeners valid"),
                    generation,
                ),
                cond(
                    gw::PROGRAMMED,
                    true,
                    gw::PROGRAMMED,
                    "served on the proxy's HTTP and HTTPS ports",
                    generation,
                ),
            ]
        } else {
            problems.push(
                Kind::Gateway,
                &at,
                ProblemCondition::Accepted,
                gw::LISTENERS_NOT_VALID,
                "no listener is valid",
            );
            vec![
                cond(
                    gw::ACCEPTED,
                    false,
                    gw::LISTENERS_NOT_VALID,
                    "no listener is valid",
                    generation,
                ),
                cond(
                    gw::PROGRAMMED,
                    false,
                    gw::INVALID,
                    "no listener is valid",
                    generation,
                ),
            ]
        };
        status.gateways.insert(
            at.path(),
            GatewayReport {
                conditions,
                listeners: listener_reports,
            },
        );
    }
    (out, status)
}

/// The reasons problems may carry (they are `&'static str`).
fn static_reason(reason: &str) -> &'static str {
    [
        gw::UNSUPPORTED_PROTOCOL,
        gw::UNSUPPORTED_VALUE,
        gw::INVALID_CERTIFICATE_REF,
        gw::INVALID_ROUTE_KINDS,
        gw::REF_NOT_PERMITTED,
        reason::SECRET_NOT_READABLE,
    ]
    .into_iter()
    .find(|r| *r == reason)
    .unwrap_or(gw::INVALID)
}

/// A listener's supported kinds, its conditions, and whether it is valid.
fn check_listener(
    listener: &Listener,
    gateway: &ObjectName,
    grants: &Grants<'_>,
    cx: &Context<'_>,
    generation: Option<i64>,
) -> Checked {
    let http_route = RouteGroupKind {
        group: Some(GROUP.to_owned()),
        kind: "HTTPRoute".to_owned(),
    };
    let mut accepted: Option<(&'static str, String)> = None;
    let mut resolved: Option<(&'static str, String)> = None;
    let mut certificates = Vec::new();
    let hostname = listener.hostname.as_ref().map(|h| h.to_ascii_lowercase());
    let protocol = listener.protocol.as_str();
    if protocol != "HTTP" && protocol != "HTTPS" {
        accepted = Some((
            gw::UNSUPPORTED_PROTOCOL,
            format!("protocol {protocol:?} is not served (HTTP and HTTPS are)"),
        ));
    }
    if let Some(host) = &listener.hostname
        && !is_valid_host(&host.to_ascii_lowercase())
    {
        accepted.get_or_insert((
            gw::UNSUPPORTED_VALUE,
            format!("hostname {host:?} is not a host name or a *. wildcard"),
        ));
    }
    if protocol == "HTTPS" {
        match &listener.tls {
            None => {
                accepted.get_or_insert((
                    gw::UNSUPPORTED_VALUE,
                    "an HTTPS listener needs tls.certificateRefs".into(),
                ));
            }
            Some(tls) if tls.mode.as_deref().is_some_and(|m| m != "Terminate") => {
                accepted.get_or_insert((
                    gw::UNSUPPORTED_VALUE,
                    "only tls.mode Terminate is served".into(),
                ));
            }
            Some(tls) if tls.certificate_refs.is_empty() => {
                resolved = Some((
                    gw::INVALID_CERTIFICATE_REF,
                    "an HTTPS listener needs tls.certificateRefs".into(),
                ));
            }
            Some(tls) => {
                for r in &tls.certificate_refs {
                    match listener_certificate(r, gateway, grants, cx, hostname.as_deref()) {
                        Ok(certificate) => certificates.push(certificate),
                        Err(problem) => {
                            resolved.get_or_insert(problem);
                        }
                    }
                }
            }
        }
    }
    let mut kinds = Vec::new();
    match listener.allowed_routes.as_ref().map(|a| &a.kinds) {
        Some(list) if !list.is_empty() => {
            for k in list {
                let group = k.group.as_deref().unwrap_or(GROUP);
                if group == GROUP && k.kind == "HTTPRoute" {
                    if !kinds.contains(&http_route) {
                        kinds.push(http_route.clone());
                    }
                } else {
                    resolved.get_or_insert((
                        gw::INVALID_ROUTE_KINDS,
                        format!("route kind {group}/{} is not served", k.kind),
                    ));
                }
            }
        }
        _ => kinds.push(http_route),
    }
    if let Some(from) = listener
        .allowed_routes
        .as_ref()
        .and_then(|a| a.namespaces.as_ref())
        .and_then(|n| n.from.as_deref())
        && !matches!(from, "Same" | "All" | "Selector")
    {
        accepted.get_or_insert((
            gw::UNSUPPORTED_VALUE,
            format!("allowedRoutes.namespaces.from {from:?} is not Same, All or Selector"),
        ));
    }
    let ok = accepted.is_none() && resolved.is_none();
    let mut conditions = Vec::with_capacity(4);
    conditions.push(match &accepted {
        None => cond(gw::ACCEPTED, true, gw::ACCEPTED, "", generation),
        Some((reason, message)) => cond(gw::ACCEPTED, false, reason, message.clone(), generation),
    });
    conditions.push(match &resolved {
        None => cond(gw::RESOLVED_REFS, true, gw::RESOLVED_REFS, "", generation),
        Some((reason, message)) => cond(
            gw::RESOLVED_REFS,
            false,
            reason,
            message.clone(),
            generation,
        ),
    });
    conditions.push(cond(
        gw::CONFLICTED,
        false,
        gw::NO_CONFLICTS,
        "",
        generation,
    ));
    conditions.push(if ok {
        cond(gw::PROGRAMMED, true, gw::PROGRAMMED, "", generation)
    } else {
        cond(
            gw::PROGRAMMED,
            false,
            gw::INVALID,
            "the listener is not valid",
            generation,
        )
    });
    if !ok {
        certificates.clear();
    }
    Checked {
        kinds,
        conditions,
        ok,
        certificates,
    }
}

/// The certificate a listener's certificate reference serves, with the hosts it serves for the
/// listener (its certificate's names under the listener's hostname; all of them when the
/// listener has none), or why it is unusable. The Secret is read whatever its labels: the
/// listener names it. One that exists but could not be read is `SecretNotReadable` (its own
/// reason, with the fix); a missing or otherwise unusable one is `InvalidCertificateRef`.
fn listener_certificate(
    r: &crate::resources::gateway_api::ObjectRef,
    gateway: &ObjectName,
    grants: &Grants<'_>,
    cx: &Context<'_>,
    hostname: Option<&str>,
) -> Result<snapshot::ServedCertificate, (&'static str, String)> {
    let group = r.group.as_deref().unwrap_or("");
    let kind = r.kind.as_deref().unwrap_or("Secret");
    if !group.is_empty() || kind != "Secret" {
        return Err((
            gw::INVALID_CERTIFICATE_REF,
            format!("certificateRef {group}/{kind} {} is not a Secret", r.name),
        ));
    }
    let namespace = r.namespace.as_deref().unwrap_or(&gateway.namespace);
    if namespace != gateway.namespace
        && !grants.allows(
            &gateway.namespace,
            "Gateway",
            namespace,
            "",
            "Secret",
            &r.name,
        )
    {
        return Err((
            gw::REF_NOT_PERMITTED,
            format!(
                "Secret {namespace}/{} is in another namespace and no ReferenceGrant there allows it",
                r.name
            ),
        ));
    }
    let secret = super::certificates::named_tls_secret(&cx.tls_secrets, namespace, &r.name)
        .map_err(|why| match why {
            Unresolved::Unreadable(message) => (reason::SECRET_NOT_READABLE, message),
            Unresolved::Missing(message) | Unresolved::Unlabelled(message) => {
                (gw::INVALID_CERTIFICATE_REF, message)
            }
        })?;
    let mut certificate = super::certificates::from_tls_secret(secret)
        .map_err(|message| (gw::INVALID_CERTIFICATE_REF, message))?;
    match hostname {
        Some(hostname) => certificate.hosts = hosts_for(&certificate.hosts, hostname),
        None if certificate.hosts.is_empty() => {
            return Err((
                gw::INVALID_CERTIFICATE_REF,
                format!(
                    "{}: the certificate names no DNS name and the listener has no hostname to serve it for",
                    certificate.source
                ),
            ));
        }
        None => {}
    }
    Ok(certificate)
}

/// Adds the certificate Secrets (`namespace/name`) the listeners of Tollgate's Gateways name and
/// may refer to (same namespace, or a ReferenceGrant) to `out`.
pub(crate) fn certificate_secret_names(objects: &GatewayObjects, out: &mut BTreeSet<String>) {
    let our_classes: BTreeSet<&str> = objects
        .classes
        .iter()
        .filter(|c| c.spec.controller_name == CONTROLLER_NAME)
        .filter_map(|c| c.metadata.name.as_deref())
        .collect();
    let grants = Grants::new(&objects.grants);
    for gateway in &objects.gateways {
        if !our_classes.contains(gateway.spec.gateway_class_name.as_str()) {
            continue;
        }
        let at = ObjectName::of(gateway.as_ref());
        for listener in &gateway.spec.listeners {
            if listener.protocol != "HTTPS" {
                continue;
            }
            for r in listener.tls.iter().flat_map(|t| &t.certificate_refs) {
                let group = r.group.as_deref().unwrap_or("");
                if !group.is_empty() || r.kind.as_deref().unwrap_or("Secret") != "Secret" {
                    continue;
                }
                let namespace = r.namespace.as_deref().unwrap_or(&at.namespace);
                if namespace == at.namespace
                    || grants.allows(&at.namespace, "Gateway", namespace, "", "Secret", &r.name)
                {
                    out.insert(format!("{namespace}/{}", r.name));
                }
            }
        }
    }
}

/// The ReferenceGrants, as lookups.
struct Grants<'a>(&'a [Arc<ReferenceGrant>]);

impl<'a> Grants<'a> {
    fn new(grants: &'a [Arc<ReferenceGrant>]) -> Self {
        Self(grants)
    }

    /// Whether a `from_kind` (of the Gateway API group) of `from_namespace` may refer to the
    /// `to_group`/`to_kind` `name` of `to_namespace`.
    fn allows(
        &self,
        from_namespace: &str,
        from_kind: &str,
        to_namespace: &str,
        to_group: &str,
        to_kind: &str,
        name: &str,
    ) -> bool {
        self.0.iter().any(|grant| {
            ObjectName::of(grant.as_ref()).namespace == to_namespace
                && grant.spec.from.iter().any(|f| {
                    f.group == GROUP && f.kind == from_kind && f.namespace == from_namespace
                })
                && grant.spec.to.iter().any(|t| {
                    t.group == to_group
                        && t.kind == to_kind
                        && t.name.as_deref().is_none_or(|n| n.is_empty() || n == name)
                })
        })
    }
}

/// Whether `labels` satisfy a Kubernetes label selector (an empty selector matches everything).
fn selector_matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v))
        && selector.match_expressions.iter().flatten().all(|e| {
            let value = labels.get(&e.key);
            let values = e.values.as_deref().unwrap_or_default();
            match e.operator.as_str() {
                "In" => value.is_some_and(|v| values.contains(v)),
                "NotIn" => value.is_none_or(|v| !values.contains(v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                _ => false,
            }
        })
}

/// Whether a listener's `allowedRoutes.namespaces` lets a route of `namespace` attach.
fn namespace_allowed(listener: &LiveListener<'_>, namespace: &str, cx: &Context<'_>) -> bool {
    let from = listener
        .listener
        .allowed_routes
        .as_ref()
        .and_then(|a| a.namespaces.as_ref());
    match from.and_then(|n| n.from.as_deref()).unwrap_or("Same") {
        "All" => true,
        "Selector" => {
            let Some(selector) = from.and_then(|n| n.selector.as_ref()) else {
                return false;
            };
            let empty = BTreeMap::new();
            let labels = cx
                .namespaces
                .iter()
                .find(|n| n.metadata.name.as_deref() == Some(namespace))
                .and_then(|n| n.metadata.labels.as_ref())
                .unwrap_or(&empty);
            // The namespace name label every namespace carries.
            let mut labels = labels.clone();
            labels
                .entry("kubernetes.io/metadata.name".to_owned())
                .or_insert_with(|| namespace.to_owned());
            selector_matches(selector, &labels)
        }
        _ => namespace == listener.gateway_namespace,
    }
}

/// The hosts both a listener hostname and a route hostname match, as the more specific of the
/// two; `None` when they share none. `None` inputs match every host.
pub(crate) fn intersect(listener: Option<&str>, route: Option<&str>) -> Option<Option<String>> {
    let covers = |wild: &str, host: &str| {
        // `*.example.com` covers `a.example.com` and `a.b.example.com`, and `*.b.example.com`.
        wild.strip_prefix('*')
            .is_some_and(|suffix| host.ends_with(suffix) && host.len() > suffix.len())
    };
    match (listener, route) {
        (None, None) => Some(None),
        (Some(h), None) | (None, Some(h)) => Some(Some(h.to_owned())),
        (Some(l), Some(r)) => {
            if l == r || covers(l, r) {
                Some(Some(r.to_owned()))
            } else if covers(r, l) {
                Some(Some(l.to_owned()))
            } else {
                None
            }
        }
    }
}

/// One HTTPRoute: its parents' status; its core routes pushed to `out` (one group, for the
/// tenancy check). `None` when no parentRef names one of our Gateways (the route is another
/// controller's).
#[allow(clippy::too_many_arguments)]
fn http_route(
    route: &HTTPRoute,
    at: &ObjectName,
    order: u64,
    listeners: &mut BTreeMap<String, Vec<LiveListener<'_>>>,
    other_gateways: &BTreeSet<String>,
    grants: &Grants<'_>,
    cx: &Context<'_>,
    problems: &mut Problems,
    refused: &mut Vec<RefusedEndpoint>,
    out: &mut Vec<Aged>,
) -> Option<Vec<ParentReport>> {
    let generation = route.metadata.generation;
    let mut route_hostnames = Vec::new();
    let mut bad_hostname = None;
    for h in &route.spec.hostnames {
        let lower = h.to_ascii_lowercase();
        if is_valid_host(&lower) {
            route_hostnames.push(lower);
        } else {
            bad_hostname = Some(h.clone());
        }
    }
    // The client's Host goes upstream unless the annotation says "false" (a bad value refuses
    // the route, as a bad hostname does).
    let preserve_host = annotated_preserve_host(route.annotations());

    // The rules first: their ResolvedRefs is every parent's, and an unsupported rule makes the
    // whole route not accepted.
    let mut rules = Rules::translate(route, at, grants, cx);
    refused.append(&mut rules.refused);

    let mut reports = Vec::new();
    let mut reach = Reach::default();
    let mut attached_any = false;
    for parent in &route.spec.parent_refs {
        let group = parent.group.as_deref().unwrap_or(GROUP);
        let kind = parent.kind.as_deref().unwrap_or("Gateway");
        if group != GROUP || kind != "Gateway" {
            continue;
        }
        let namespace = parent.namespace.as_deref().unwrap_or(&at.namespace);
        let key = format!("{namespace}/{}", parent.name);
        if other_gateways.contains(&key) {
            continue;
        }
        let accepted = match (&rules.unsupported, &bad_hostname, &preserve_host) {
            (Some(message), _, _) => Err((gw::UNSUPPORTED_VALUE, message.clone())),
            (None, Some(h), _) => Err((
                gw::UNSUPPORTED_VALUE,
                format!("hostname {h:?} is not a host name or a *. wildcard"),
            )),
            (None, None, Err(message)) => Err((gw::UNSUPPORTED_VALUE, message.clone())),
            (None, None, Ok(_)) => attach(
                parent,
                &key,
                listeners,
                &route_hostnames,
                &at.namespace,
                cx,
                &mut reach,
            ),
        };
        let accepted_cond = match accepted {
            Ok(()) => {
                attached_any = true;
                cond(gw::ACCEPTED, true, gw::ACCEPTED, "", generation)
            }
            Err((reason, message)) => {
                problems.push(
                    Kind::HTTPRoute,
                    at,
                    ProblemCondition::Accepted,
                    reason,
                    format!("parent Gateway {key}: {message}"),
                );
                cond(gw::ACCEPTED, false, reason, message, generation)
            }
        };
        let resolved_cond = match &rules.unresolved {
            None => cond(gw::RESOLVED_REFS, true, gw::RESOLVED_REFS, "", generation),
            Some((reason, message)) => cond(
                gw::RESOLVED_REFS,
                false,
                reason,
                message.clone(),
                generation,
            ),
        };
        reports.push(ParentReport {
            parent_ref: parent.clone(),
            conditions: vec![accepted_cond, resolved_cond],
        });
    }
    if reports.is_empty() {
        return None;
    }
    if let Some((reason, message)) = &rules.unresolved {
        problems.push(
            Kind::HTTPRoute,
            at,
            ProblemCondition::ResolvedRefs,
            reason,
            message.clone(),
        );
    }
    if attached_any {
        // Hosts: a listener or route without hostname matches every host.
        let hosts: Vec<String> = if reach.hosts.contains(&None) {
            Vec::new()
        } else {
            reach.hosts.into_iter().flatten().collect()
        };
        // Attached through listeners of one port only: served on that port only.
        let listener = match (
            reach.ports.contains(&(snapshot::ListenerPort::Http as u8)),
            reach.ports.contains(&(snapshot::ListenerPort::Https as u8)),
        ) {
            (true, false) => Some(snapshot::ListenerPort::Http),
            (false, true) => Some(snapshot::ListenerPort::Https),
            _ => None,
        };
        let mut routes = Vec::new();
        for (r, rule) in rules.rules.into_iter().enumerate() {
            for (m, mut core) in rule.into_iter().enumerate() {
                core.id = format!("{ROUTE_ID_PREFIX}{}/{r}/{m}", at.path());
                core.hosts.clone_from(&hosts);
                core.listener = listener;
                core.preserve_host = matches!(preserve_host, Ok(true));
                core.rank = order * RANK_ROUTE + (r as u64) * RANK_RULE + m as u64;
                routes.push(core);
            }
        }
        out.push(Aged {
            owner: Owner {
                kind: Kind::HTTPRoute,
                object: at.clone(),
                created: route.metadata.creation_timestamp.as_ref().map(|t| t.0),
            },
            routes,
        });
    }
    Some(reports)
}

/// `rank` = route order × [`RANK_ROUTE`] + rule × [`RANK_RULE`] + match (a route has at most
/// 16 rules of at most 64 matches in the Gateway API; larger indexes are clamped by the CRD).
const RANK_ROUTE: u64 = 1 << 20;
const RANK_RULE: u64 = 1 << 10;

/// What a route reaches through the listeners it attached to: their hosts (intersected with
/// the route's; `None` for every host) and their ports (`ListenerPort as u8`).
#[derive(Default)]
struct Reach {
    hosts: BTreeSet<Option<String>>,
    ports: BTreeSet<u8>,
}

/// Attaches a parentRef to the listeners it selects; the Accepted failure otherwise.
fn attach(
    parent: &ParentRef,
    key: &str,
    listeners: &mut BTreeMap<String, Vec<LiveListener<'_>>>,
    route_hostnames: &[String],
    namespace: &str,
    cx: &Context<'_>,
    reach: &mut Reach,
) -> Result<(), (&'static str, String)> {
    let Some(live) = listeners.get_mut(key) else {
        return Err((
            gw::NO_MATCHING_PARENT,
            format!("no Gateway {key} of a Tollgate GatewayClass with a valid listener"),
        ));
    };
    let selected: Vec<&mut LiveListener<'_>> = live
        .iter_mut()
        .filter(|l| {
            parent
                .section_name
                .as_deref()
                .is_none_or(|s| s == l.listener.name)
                && parent.port.is_none_or(|p| p == l.listener.port)
        })
        .collect();
    if selected.is_empty() {
        return Err((
            gw::NO_MATCHING_PARENT,
            "no valid listener matches the parentRef's sectionName and port".into(),
        ));
    }
    let mut allowed: Vec<&mut LiveListener<'_>> = selected
        .into_iter()
        .filter(|l| l.takes_http_routes && namespace_allowed(l, namespace, cx))
        .collect();
    if allowed.is_empty() {
        return Err((
            gw::NOT_ALLOWED_BY_LISTENERS,
            format!("no selected listener allows HTTPRoutes of namespace {namespace}"),
        ));
    }
    let mut matched = false;
    for listener in &mut allowed {
        let shared: Vec<Option<String>> = if route_hostnames.is_empty() {
            intersect(listener.hostname.as_deref(), None)
                .into_iter()
                .collect()
        } else {
            route_hostnames
                .iter()
                .filter_map(|h| intersect(listener.hostname.as_deref(), Some(h)))
                .collect()
        };
        if !shared.is_empty() {
            matched = true;
            listener.attached += 1;
            reach.hosts.extend(shared);
            reach.ports.insert(listener.port as u8);
        }
    }
    if matched {
        Ok(())
    } else {
        Err((
            gw::NO_MATCHING_LISTENER_HOSTNAME,
            "no hostname of the route matches a selected listener's hostname".into(),
        ))
    }
}

/// The rules of one HTTPRoute, translated.
struct Rules {
    /// Core routes per rule, per match (ids, hosts and rank filled in by the caller).
    rules: Vec<Vec<snapshot::Route>>,
    /// Why the route cannot be served (Accepted: False, UnsupportedValue).
    unsupported: Option<String>,
    /// The first unresolved reference (ResolvedRefs: False).
    unresolved: Option<(&'static str, String)>,
    /// Service endpoints the backend address policy refused.
    refused: Vec<RefusedEndpoint>,
}

impl Rules {
    fn translate(
        route: &HTTPRoute,
        at: &ObjectName,
        grants: &Grants<'_>,
        cx: &Context<'_>,
    ) -> Self {
        let mut this = Self {
            rules: Vec::new(),
            unsupported: None,
            unresolved: None,
            refused: Vec::new(),
        };
        let annotated = annotated_plugins(route.annotations());
        for (r, rule) in route.spec.rules.iter().enumerate() {
            match this.rule(rule, &annotated, at, grants, cx) {
                Ok(routes) => this.rules.push(routes),
                Err(message) => {
                    this.unsupported
                        .get_or_insert(format!("rule {r}: {message}"));
                    this.rules.push(Vec::new());
                }
            }
        }
        this
    }

    fn unresolved(&mut self, reason: &'static str, message: String) {
        self.unresolved.get_or_insert((reason, message));
    }

    /// One rule's core routes; `Err` for what cannot be served.
    fn rule(
        &mut self,
        rule: &HTTPRouteRule,
        annotated: &[String],
        at: &ObjectName,
        grants: &Grants<'_>,
        cx: &Context<'_>,
    ) -> Result<Vec<snapshot::Route>, String> {
        // Plugins: the annotation's, then ExtensionRef filters, in order.
        let mut names: Vec<&str> = annotated.iter().map(String::as_str).collect();
        let mut filters = Vec::new();
        let mut redirect = false;
        for filter in &rule.filters {
            match filter.kind.as_str() {
                "ExtensionRef" => {
                    let ext = filter
                        .extension_ref
                        .as_ref()
                        .ok_or("an ExtensionRef filter needs extensionRef")?;
                    if ext.group != crate::resources::GROUP || ext.kind != "AuthPlugin" {
                        return Err(format!(
                            "ExtensionRef {}/{} is not a tollgate.dev AuthPlugin",
                            ext.group, ext.kind
                        ));
                    }
                    if !names.contains(&ext.name.as_str()) {
                        names.push(&ext.name);
                    }
                }
                _ => {
                    let f = core_filter(filter)?;
                    redirect |= matches!(f, snapshot::RouteFilter::RequestRedirect { .. });
                    filters.push(f);
                }
            }
        }
        let mut plugin_ids = Vec::new();
        let mut plugin_problem = None;
        let (mut auth, mut limits) = (0, 0);
        for name in names {
            match cx.plugins.lookup(&at.namespace, name) {
                PluginLookup::Accepted(plugin) => {
                    if plugin.config.is_auth() {
                        auth += 1;
                    } else {
                        limits += 1;
                    }
                    plugin_ids.push(plugin.id.clone());
                }
                PluginLookup::NotAccepted => {
                    plugin_problem.get_or_insert((
                        gw::PLUGIN_NOT_ACCEPTED,
                        format!(
                            "AuthPlugin {name} is not accepted; its rule answers 500 until it is"
                        ),
                    ));
                }
                PluginLookup::NotFound => {
                    plugin_problem.get_or_insert((
                        gw::PLUGIN_NOT_FOUND,
                        format!(
                            "AuthPlugin {name} does not exist in namespace {}; its rule answers 500 until it does",
                            at.namespace
                        ),
                    ));
                }
            }
        }
        if auth > 1 || limits > 1 {
            plugin_problem.get_or_insert((
                gw::TOO_MANY_PLUGINS,
                "a rule takes at most one authentication and one rate-limiting AuthPlugin; it answers 500".into(),
            ));
        }

        let timeout = |what: &str, value: Option<&String>| -> Result<Option<u64>, String> {
            value
                .map(|v| {
                    parse_duration(v)
                        .ok_or_else(|| format!("timeouts.{what} {v:?} is not a duration"))
                })
                .transpose()
                .map(|ms| ms.filter(|ms| *ms > 0))
        };
        let request_timeout_ms = timeout(
            "request",
            rule.timeouts.as_ref().and_then(|t| t.request.as_ref()),
        )?;
        let backend_request_timeout_ms = timeout(
            "backendRequest",
            rule.timeouts
                .as_ref()
                .and_then(|t| t.backend_request.as_ref()),
        )?;

        let mut backends = Vec::with_capacity(rule.backend_refs.len());
        if plugin_problem.is_none() && !redirect {
            for backend_ref in &rule.backend_refs {
                let backend =
                    match self.backend(backend_ref, at, grants, cx, backend_request_timeout_ms) {
                        Ok(b) => Some(b),
                        Err((reason, message)) => {
                            self.unresolved(reason, message);
                            None
                        }
                    };
                let weight = u32::try_from(backend_ref.weight.unwrap_or(1)).unwrap_or(0);
                backends.push(snapshot::WeightedBackend { weight, backend });
            }
        }
        let plugins = if let Some((reason, message)) = plugin_problem {
            self.unresolved(reason, message);
            // Fail closed: the rule answers 500 and reaches no backend.
            backends = vec![snapshot::WeightedBackend {
                weight: 1,
                backend: None,
            }];
            filters.clear();
            Vec::new()
        } else {
            plugin_ids
        };

        let default_match = [HTTPRouteMatch::default()];
        let matches: &[HTTPRouteMatch] = if rule.matches.is_empty() {
            &default_match
        } else {
            &rule.matches
        };
        let mut routes = Vec::with_capacity(matches.len());
        for m in matches {
            let mut core = snapshot::Route {
                id: String::new(),
                hosts: Vec::new(),
                paths: Vec::new(),
                methods: Vec::new(),
                strip_path: false,
                plugins: plugins.clone(),
                backend: None,
                exact_paths: Vec::new(),
                headers: Vec::new(),
                query_params: Vec::new(),
                filters: filters.clone(),
                backends: backends.clone(),
                request_timeout_ms,
                backend_request_timeout_ms,
                rank: 0,
                listener: None,
                preserve_host: false,
                single_label_wildcard: false,
            };
            route_match(m, &mut core)?;
            if core.exact_paths.len() == 1
                && filters.iter().any(|f| {
                    matches!(
                        f,
                        snapshot::RouteFilter::UrlRewrite {
                            path: Some(snapshot::PathModifier::ReplacePrefixMatch(_)),
                            ..
                        } | snapshot::RouteFilter::RequestRedirect {
                            path: Some(snapshot::PathModifier::ReplacePrefixMatch(_)),
                            ..
                        }
                    )
                })
            {
                return Err("ReplacePrefixMatch needs a PathPrefix match".into());
            }
            routes.push(core);
        }
        Ok(routes)
    }

    /// A backendRef → a snapshot backend, or why it answers 500.
    fn backend(
        &mut self,
        r: &HTTPBackendRef,
        at: &ObjectName,
        grants: &Grants<'_>,
        cx: &Context<'_>,
        backend_request_timeout_ms: Option<u64>,
    ) -> Result<snapshot::Backend, (&'static str, String)> {
        let group = r.group.as_deref().unwrap_or("");
        let kind = r.kind.as_deref().unwrap_or("Service");
        if !group.is_empty() || kind != "Service" {
            return Err((
                gw::INVALID_KIND,
                format!("backendRef {group}/{kind} {} is not a Service", r.name),
            ));
        }
        if !r.filters.is_empty() {
            return Err((
                gw::UNSUPPORTED_VALUE,
                format!(
                    "backendRef {}: per-backend filters are not supported",
                    r.name
                ),
            ));
        }
        let namespace = r.namespace.as_deref().unwrap_or(&at.namespace);
        if namespace != at.namespace
            && !grants.allows(
                &at.namespace,
                "HTTPRoute",
                namespace,
                "",
                "Service",
                &r.name,
            )
        {
            return Err((
                gw::REF_NOT_PERMITTED,
                format!(
                    "Service {namespace}/{} is in another namespace and no ReferenceGrant there allows HTTPRoutes of {}",
                    r.name, at.namespace
                ),
            ));
        }
        let Some(port) = r.port else {
            return Err((
                gw::BACKEND_NOT_FOUND,
                format!("backendRef Service {namespace}/{} needs a port", r.name),
            ));
        };
        let key = ServiceKey {
            namespace: namespace.to_owned(),
            name: r.name.clone(),
            port,
        };
        let timeout_ms = DEFAULT_TIMEOUT_MS.unsigned_abs();
        ServiceBackends {
            services: cx.services,
            policy: cx.policy,
        }
        .backend(
            &key,
            at,
            &mut self.refused,
            timeout_ms,
            backend_request_timeout_ms.unwrap_or(timeout_ms),
        )
        .ok_or_else(|| {
            (
                gw::BACKEND_NOT_FOUND,
                format!("Service {namespace}/{} port {port} does not exist", r.name),
            )
        })
    }
}

/// Most header and query parameter matches one match may carry (the core's bound).
const MAX_VALUE_MATCHES: usize = 16;

/// Fills a core route's matching fields from one HTTPRoute match.
fn route_match(m: &HTTPRouteMatch, core: &mut snapshot::Route) -> Result<(), String> {
    let (kind, value) = m.path.as_ref().map_or(("PathPrefix", "/"), |p| {
        (
            p.kind.as_deref().unwrap_or("PathPrefix"),
            p.value.as_deref().unwrap_or("/"),
        )
    });
    if value.contains(['?', '#', ' ']) || !value.starts_with('/') {
        return Err(format!("path {value:?} is not an absolute path"));
    }
    let normalized = normalize_path(value).map_err(|e| format!("path {value:?}: {e}"))?;
    match kind {
        "Exact" => core.exact_paths.push(normalized),
        "PathPrefix" => {
            // A trailing `/` is ignored: `/a/` matches `/a` and `/a/b`, not `/ab`.
            let trimmed = normalized.trim_end_matches('/');
            core.paths.push(if trimmed.is_empty() {
                "/".to_owned()
            } else {
                trimmed.to_owned()
            });
        }
        other => return Err(format!("path match type {other} is not supported")),
    }
    if let Some(method) = &m.method {
        core.methods.push(method.to_ascii_uppercase());
    }
    if m.headers.len() > MAX_VALUE_MATCHES || m.query_params.len() > MAX_VALUE_MATCHES {
        return Err(format!(
            "a match takes at most {MAX_VALUE_MATCHES} header and {MAX_VALUE_MATCHES} query parameter matches"
        ));
    }
    for h in &m.headers {
        // Of equivalent names only the first counts (header names in any case).
        if core
            .headers
            .iter()
            .any(|c: &snapshot::HeaderMatch| c.name.eq_ignore_ascii_case(&h.name))
        {
            continue;
        }
        core.headers.push(snapshot::HeaderMatch {
            name: h.name.to_ascii_lowercase(),
            value: h.value.clone(),
            kind: match_kind(h.kind.as_deref())?,
        });
    }
    for q in &m.query_params {
        if core.query_params.iter().any(|c| c.name == q.name) {
            continue;
        }
        core.query_params.push(snapshot::QueryParamMatch {
            name: q.name.clone(),
            value: q.value.clone(),
            kind: match_kind(q.kind.as_deref())?,
        });
    }
    Ok(())
}

fn match_kind(kind: Option<&str>) -> Result<snapshot::MatchKind, String> {
    match kind.unwrap_or("Exact") {
        "Exact" => Ok(snapshot::MatchKind::Exact),
        "RegularExpression" => Ok(snapshot::MatchKind::RegularExpression),
        other => Err(format!("match type {other} is not supported")),
    }
}

fn header_values(list: &[crate::resources::gateway_api::HTTPHeader]) -> Vec<snapshot::HeaderValue> {
    list.iter()
        .map(|h| snapshot::HeaderValue {
            name: h.name.clone(),
            value: h.value.clone(),
        })
        .collect()
}

fn header_filter(f: Option<&HTTPHeaderFilter>, what: &str) -> Result<HeaderEdits, String> {
    let f = f.ok_or_else(|| format!("a {what} filter needs its settings"))?;
    Ok((
        header_values(&f.set),
        header_values(&f.add),
        f.remove.clone(),
    ))
}

fn path_modifier(p: &HTTPPathModifier) -> Result<snapshot::PathModifier, String> {
    match p.kind.as_str() {
        "ReplaceFullPath" => Ok(snapshot::PathModifier::ReplaceFullPath(
            p.replace_full_path
                .clone()
                .ok_or("ReplaceFullPath needs replaceFullPath")?,
        )),
        "ReplacePrefixMatch" => Ok(snapshot::PathModifier::ReplacePrefixMatch(
            p.replace_prefix_match
                .clone()
                .ok_or("ReplacePrefixMatch needs replacePrefixMatch")?,
        )),
        other => Err(format!("path modifier {other} is not supported")),
    }
}

/// A Gateway API filter (other than ExtensionRef) → the core's.
fn core_filter(filter: &HTTPRouteFilter) -> Result<snapshot::RouteFilter, String> {
    match filter.kind.as_str() {
        "RequestHeaderModifier" => {
            let (set, add, remove) = header_filter(
                filter.request_header_modifier.as_ref(),
                "RequestHeaderModifier",
            )?;
            Ok(snapshot::RouteFilter::RequestHeaderModifier { set, add, remove })
        }
        "ResponseHeaderModifier" => {
            let (set, add, remove) = header_filter(
                filter.response_header_modifier.as_ref(),
                "ResponseHeaderModifier",
            )?;
            Ok(snapshot::RouteFilter::ResponseHeaderModifier { set, add, remove })
        }
        "RequestRedirect" => {
            let r = filter
                .request_redirect
                .as_ref()
                .ok_or("a RequestRedirect filter needs requestRedirect")?;
            let status_code = match r.status_code.unwrap_or(302) {
                301 => 301,
                302 => 302,
                other => return Err(format!("redirect status {other} is not 301 or 302")),
            };
            if let Some(scheme) = &r.scheme
                && scheme != "http"
                && scheme != "https"
            {
                return Err(format!("redirect scheme {scheme:?} is not http or https"));
            }
            Ok(snapshot::RouteFilter::RequestRedirect {
                scheme: r.scheme.clone(),
                hostname: r.hostname.clone(),
                path: r.path.as_ref().map(path_modifier).transpose()?,
                port: r
                    .port
                    .map(|p| {
                        u16::try_from(p).map_err(|_| format!("redirect port {p} is out of range"))
                    })
                    .transpose()?,
                status_code,
            })
        }
        "URLRewrite" => {
            let r = filter
                .url_rewrite
                .as_ref()
                .ok_or("a URLRewrite filter needs urlRewrite")?;
            Ok(snapshot::RouteFilter::UrlRewrite {
                hostname: r.hostname.clone(),
                path: r.path.as_ref().map(path_modifier).transpose()?,
            })
        }
        other => Err(format!("filter {other} is not supported")),
    }
}

/// A Gateway API duration (`^([0-9]{1,5}(h|m|s|ms)){1,4}$`) in milliseconds.
pub(crate) fn parse_duration(text: &str) -> Option<u64> {
    let mut total: u64 = 0;
    let mut rest = text;
    let mut parts = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 5 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (unit, len) = if rest.starts_with("ms") {
            (1, 2)
        } else if rest.starts_with('h') {
            (3_600_000, 1)
        } else if rest.starts_with('m') {
            (60_000, 1)
        } else if rest.starts_with('s') {
            (1_000, 1)
        } else {
            return None;
        };
        rest = &rest[len..];
        total = total.checked_add(n.checked_mul(unit)?)?;
        parts += 1;
    }
    (parts > 0 && parts <= 4).then_some(total)
}

/// `namespace/name` of the HTTPRoute a core route id names, if it is one.
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
