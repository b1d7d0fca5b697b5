//! The pure translation: our objects (plus labelled Secrets, service endpoints and signing keys)
//! → a proxy [`Snapshot`] and the [`Problem`]s of every object left out.
//!
//! Rules:
//! - one bad object never blocks the others: a problem drops that object and whatever depends on
//!   it (a credential whose consumer is dropped; a route whose plugin is dropped — fail closed,
//!   a route is never served without its plugin);
//! - every object left out has at least one problem, and an object without problems is in the
//!   snapshot, so the operator can derive every condition from the problems alone;
//! - ids: `metadata.uid` when present, else the stable UUIDv5 ids of `tollgate_core::ids`;
//!   plugins and routes are identified by `namespace/name`; every list is sorted by id;
//! - every route kind (GatewayRoute, HTTPRoute) goes through one tenancy check (`tenancy`): of
//!   two objects of different namespaces where a route of one would take requests of the other's
//!   protected route, the newer is left out whole ([`reason::ROUTE_CONFLICT`]);
//! - plaintext client secrets go only into [`SecretHasher`] and never into a problem or a log;
//! - a backend written as a literal address the backend address policy refuses
//!   (`tollgate_core::address`) leaves its route out ([`reason::BACKEND_ADDRESS_REFUSED`]); a
//!   refused Service endpoint is dropped from its route's endpoints and reported in
//!   [`Translation::refused_endpoints`] (the proxy judges every resolved address again);
//! - the snapshot always passes the proxy's own validation (`tollgate_core::validate`): an object
//!   that would make the proxy refuse the snapshot is left out with a problem
//!   ([`reason::INVALID_CONFIGURATION`]), never pushed.
//!
//! Schema rules (CEL) are re-checked here because standalone mode has no API server.

pub mod certificates;
mod consumers;
mod credentials;
pub mod gateway_api;
pub mod hash_pool;
pub mod hasher;
mod index;
pub mod ingress;
pub mod keys;
pub mod object;
mod plugins;
pub mod problem;
pub mod report;
mod routes;
pub mod secrets;
mod services;
mod tenancy;
pub mod verifier_cache;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::ResourceExt;
use tollgate_core::address::AddressPolicy;
use tollgate_core::snapshot::{SNAPSHOT_FORMAT, Snapshot};

use crate::resources::{
    AuthPlugin, Consumer, ConsumerSpec, GatewayRoute, OAuth2Credential, OAuth2CredentialSpec,
};

pub use hash_pool::HashPool;
pub use hasher::{SecretHasher, Verdict};
pub use keys::{KeysError, SigningKeys, SigningKeysError};
pub use object::{Named, Slim};
pub use problem::{Kind, Problem, ProblemCondition, reason};

/// Namespace of objects that have none (standalone manifests).
pub const DEFAULT_NAMESPACE: &str = "default";

/// Everything the translation reads. `Arc`s so the operator can pass reflector store contents
/// without copying. Consumers and credentials are the API server's objects (`C`, `K`: the
/// operator, [`Objects`]) or their [`Slim`] copies (standalone mode, [`SlimObjects`]). `Debug`
/// prints counts only (Secrets hold client secrets).
#[derive(Clone)]
pub struct ObjectsOf<C = Consumer, K = OAuth2Credential> {
    pub consumers: Vec<Arc<C>>,
    pub credentials: Vec<Arc<K>>,
    pub plugins: Vec<Arc<AuthPlugin>>,
    pub routes: Vec<Arc<GatewayRoute>>,
    /// Secrets. Credentials and plugins read those `secret_access` allows; a Gateway listener
    /// reads any it names (the operator gives it the ones listeners name, fetched one by one).
    pub secrets: Vec<Arc<Secret>>,
    /// Which Secrets credentials and plugins may name.
    pub secret_access: secrets::SecretAccess,
    /// Certificate Secrets without the label, read one by one by the operator (a listener or an
    /// Ingress names them); empty in standalone mode, where `secrets` holds every one.
    pub certificate_reads: secrets::CertificateReads,
    /// Namespaces, for their labels (AuthPlugin `allowedNamespaces` selectors).
    pub namespaces: Vec<Arc<Namespace>>,
    /// The keys of the external issuers the plugins name, as last fetched (`crate::jwks`).
    pub issuers: BTreeMap<String, crate::jwks::IssuerKeys>,
    /// The proxy replicas the snapshot goes to, which `divideByReplicas` rate limits are
    /// divided by (0 is taken as 1: standalone mode is one process).
    pub proxy_replicas: usize,
    /// The Gateway API objects (GatewayClass, Gateway, HTTPRoute, ReferenceGrant).
    pub gateway: gateway_api::GatewayObjects,
    /// Ingresses and IngressClasses (and the Services whose port names they use).
    pub ingress: ingress::IngressObjects,
}

/// The objects of the operator's caches.
pub type Objects = ObjectsOf<Consumer, OAuth2Credential>;

/// Standalone mode's objects: consumers and credentials kept slim.
pub type SlimObjects = ObjectsOf<Slim<ConsumerSpec>, Slim<OAuth2CredentialSpec>>;

impl<C, K> Default for ObjectsOf<C, K> {
    fn default() -> Self {
        Self {
            consumers: Vec::new(),
            credentials: Vec::new(),
            plugins: Vec::new(),
            routes: Vec::new(),
            secrets: Vec::new(),
            secret_access: secrets::SecretAccess::default(),
            certificate_reads: secrets::CertificateReads::default(),
            namespaces: Vec::new(),
            issuers: BTreeMap::new(),
            proxy_replicas: 0,
            gateway: gateway_api::GatewayObjects::default(),
            ingress: ingress::IngressObjects::default(),
        }
    }
}

impl<C, K> std::fmt::Debug for ObjectsOf<C, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Objects")
            .field("consumers", &self.consumers.len())
            .field("credentials", &self.credentials.len())
            .field("plugins", &self.plugins.len())
            .field("routes", &self.routes.len())
            .field("secrets", &self.secrets.len())
            .field("namespaces", &self.namespaces.len())
            .field("issuers", &self.issuers.len())
            .field("proxy_replicas", &self.proxy_replicas)
            .field("gateway", &self.gateway)
            .field("ingress", &self.ingress)
            .finish()
    }
}

/// A Service port a backend may name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceKey {
    pub namespace: String,
    pub name: String,
    pub port: i32,
}

/// Ready `host:port` endpoints of every known Service port. A missing key means the Service (or
/// that port) does not exist; an empty list means it has no ready endpoint (the proxy answers
/// 503). Standalone mode has none.
pub type ServiceEndpoints = BTreeMap<ServiceKey, Vec<String>>;

/// The output: the snapshot to serve and why objects were left out of it.
#[derive(Clone, Debug)]
pub struct Translation {
    pub snapshot: Snapshot,
    /// Sorted by kind, namespace, name.
    pub problems: Vec<Problem>,
    /// Service endpoints left out of their routes because the backend address policy refuses
    /// them (the routes are served with the others). Sorted.
    pub refused_endpoints: Vec<RefusedEndpoint>,
    /// The status of the Gateway API objects Tollgate serves.
    pub gateway_status: gateway_api::GatewayApiStatus,
    /// The Ingresses of Tollgate's classes, and the TLS hosts of those served.
    pub ingress: ingress::IngressReport,
    /// Whether `snapshot` passed core validation (`tollgate_core::validate::check`) as it is,
    /// so that a proxy in the same process can skip that check
    /// (`tollgate_proxy::ProxyState::apply_checked`). False when a problem of the snapshot as a
    /// whole is left for the proxy to report, or the rounds ran out.
    pub checked: bool,
}

/// A Service endpoint of a route left out by the backend address policy.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RefusedEndpoint {
    /// The namespace and name of the route (GatewayRoute or HTTPRoute).
    pub namespace: String,
    pub name: String,
    /// The endpoint, `host:port`.
    pub endpoint: String,
    /// Why, e.g. "a loopback address".
    pub reason: String,
}

impl Translation {
    /// Whether the object named is in the snapshot (it has no problem).
    pub fn includes(&self, kind: Kind, namespace: &str, name: &str) -> bool {
        !self
            .problems
            .iter()
            .any(|p| p.kind == kind && p.namespace == namespace && p.name == name)
    }
}

/// Translates `objects` into a snapshot. Re-translation of unchanged credentials is cheap: the
/// `hasher` remembers the verifiers it computed in the previous call.
pub fn translate<C, K>(
    objects: &ObjectsOf<C, K>,
    services: &ServiceEndpoints,
    policy: &AddressPolicy,
    keys: &SigningKeys,
    hasher: &mut SecretHasher,
) -> Translation
where
    C: Named<Spec = ConsumerSpec>,
    K: Named<Spec = OAuth2CredentialSpec>,
{
    let mut problems = Problems::default();
    let consumers = consumers::translate(&objects.consumers, &mut problems);
    let secrets = secrets::index(&objects.secrets, &objects.secret_access);
    let plugin_context = plugins::Context {
        consumers: &consumers,
        namespaces: &objects.namespaces,
        issuers: &objects.issuers,
        secrets: &secrets,
        proxy_replicas: u32::try_from(objects.proxy_replicas.max(1)).unwrap_or(u32::MAX),
    };
    let plugins = plugins::translate(&objects.plugins, &plugin_context, &mut problems);
    hasher.collect();
    let credentials = credentials::translate(
        &objects.credentials,
        &consumers,
        &secrets,
        hasher,
        &mut problems,
    );
    hasher.end_round();
    let mut refused_endpoints = Vec::new();
    let mut route_groups = routes::translate(
        &objects.routes,
        &plugins,
        services,
        policy,
        &mut problems,
        &mut refused_endpoints,
    );
    let mut certificates = certificates::CertificateSet::default();
    let tls_secrets = certificates::TlsSecrets {
        secrets: &objects.secrets,
        access: &objects.secret_access,
        reads: &objects.certificate_reads,
    };
    let (gateway_routes, mut gateway_status) = gateway_api::translate(
        &objects.gateway,
        &gateway_api::Context {
            plugins: &plugins,
            services,
            namespaces: &objects.namespaces,
            tls_secrets,
            policy,
        },
        &mut certificates,
        &mut problems,
        &mut refused_endpoints,
    );
    let (ingress_routes, ingress) = ingress::translate(
        &objects.ingress,
        &ingress::Context {
            plugins: &plugins,
            services,
            policy,
        },
        &mut problems,
        &mut refused_endpoints,
    );
    ingress_certificates(&ingress.tls, &tls_secrets, &mut certificates, &mut problems);
    let certificates = certificates.into_snapshot();
    // Every route kind at once: a route of one namespace never takes requests of another
    // namespace's protected route, whatever kinds the two are.
    route_groups.extend(gateway_routes);
    route_groups.extend(ingress_routes);
    let (routes, conflicts) = tenancy::refuse_interception(route_groups, &mut problems);
    for conflict in conflicts {
        if conflict.kind == Kind::HTTPRoute {
            gateway_status.refuse_route(&conflict.object.path(), &conflict.message);
        }
    }
    refused_endpoints.sort();

    let (signing_keys, active_key) = keys.to_snapshot();
    let mut snapshot = Snapshot {
        format: SNAPSHOT_FORMAT,
        signing_keys,
        active_key,
        consumers: consumers.into_snapshot(),
        credentials,
        plugins: plugins.into_snapshot(),
        routes,
        certificates,
    };
    sort_by_id(&mut snapshot.consumers, |c| &c.id);
    sort_by_id(&mut snapshot.credentials, |c| &c.id);
    sort_by_id(&mut snapshot.plugins, |p| &p.id);
    sort_by_id(&mut snapshot.routes, |r| &r.id);
    let checked = leave_out_invalid(&mut snapshot, &mut problems);
    let mut problems = problems.0;
    problems.sort();
    problems.dedup();
    Translation {
        snapshot,
        problems,
        refused_endpoints,
        gateway_status,
        ingress,
        checked,
    }
}

/// Sorts `items` stably by `id`, as `sort_by` would, without moving the items around while
/// comparing: the positions are sorted, then each item is moved once into its place. A
/// snapshot's credentials are several hundred bytes each, and a merge sort of 100,000 of them
/// copied them back and forth through a scratch buffer of as many again.
fn sort_by_id<T>(items: &mut [T], id: impl Fn(&T) -> &str) {
    let Ok(len) = u32::try_from(items.len()) else {
        items.sort_by(|a, b| id(a).cmp(id(b)));
        return;
    };
    let mut order: Vec<u32> = (0..len).collect();
    order.sort_by(|&a, &b| id(&items[a as usize]).cmp(id(&items[b as usize])));
    // `order[i]`: the position now holding what belongs at `i`. Each cycle of the permutation
    // is followed once, swapping each item into place; a finished place is marked.
    const DONE: u32 = u32::MAX;
    for start in 0..items.len() {
        let mut place = start;
        loop {
            let from = std::mem::replace(&mut order[place], DONE);
            if from == DONE || from as usize == start {
                break;
            }
            items.swap(place, from as usize);
            place = from as usize;
        }
    }
}

/// Ingress `spec.tls` entries naming a Secret → served certificates, after the Gateways'
/// listeners (which claim their names first). An entry with hosts serves the certificate for
/// those hosts (narrowed to the names the certificate covers); one without, for the
/// certificate's own names. A Secret that is missing, unreadable or not a TLS certificate is a
/// problem of its Ingress; the Ingress's routes keep serving (over the default certificate).
fn ingress_certificates(
    tls: &[ingress::IngressTls],
    tls_secrets: &certificates::TlsSecrets<'_>,
    certificates: &mut certificates::CertificateSet,
    problems: &mut Problems,
) {
    for entry in tls {
        let Some(name) = entry.secret_name.as_deref() else {
            continue;
        };
        let at = ObjectName {
            namespace: entry.namespace.clone(),
            name: entry.ingress.clone(),
        };
        let served = match certificates::named_tls_secret(tls_secrets, &entry.namespace, name) {
            Err(why) => {
                let reason = match &why {
                    certificates::Unresolved::Missing(_) => reason::SECRET_NOT_FOUND,
                    certificates::Unresolved::Unlabelled(_) => reason::SECRET_NOT_LABELLED,
                    certificates::Unresolved::Unreadable(_) => reason::SECRET_NOT_READABLE,
                };
                Err((reason, format!("spec.tls: {}", why.message())))
            }
            Ok(secret) => certificates::from_tls_secret(secret)
                .map_err(|message| (reason::INVALID_SECRET, message)),
        };
        let result = served.and_then(|mut certificate| {
            if !entry.hosts.is_empty() {
                let mut hosts: Vec<String> = entry
                    .hosts
                    .iter()
                    .flat_map(|h| certificates::hosts_for(&certificate.hosts, h))
                    .collect();
                hosts.sort();
                hosts.dedup();
                certificate.hosts = hosts;
            }
            let source = certificate.source.clone();
            match certificates.add(certificate) {
                Ok(taken) => match taken.first() {
                    Some((host, by)) => Err((
                        reason::INVALID_SECRET,
                        format!("{source}: host {host} is served with the certificate of {by}, named first"),
                    )),
                    None => Ok(()),
                },
                Err(message) => Err((reason::INVALID_SECRET, message)),
            }
        });
        if let Err((why, message)) = result {
            problems.push(Kind::Ingress, &at, ProblemCondition::Accepted, why, message);
        }
    }
}

/// Rounds of [`leave_out_invalid`]: one leaves out the offenders, the next what they orphaned (a
/// credential of a consumer left out, a route of a plugin left out), and so on down the chain
/// consumer → plugin (anonymous) → route.
const VALIDATION_ROUNDS: usize = 4;

/// Leaves out every object the proxy's validation refuses, each with a problem saying why, until
/// the snapshot passes. A problem of the snapshot as a whole (its signing keys, which
/// [`SigningKeys`] checks before translation) cannot be pinned on an object: it is left for the
/// proxy to report. True when the last check found nothing at all: the snapshot passes as it is.
fn leave_out_invalid(snapshot: &mut Snapshot, problems: &mut Problems) -> bool {
    use std::collections::BTreeSet;
    use tollgate_core::validate::{Subject, check};
    for _ in 0..VALIDATION_ROUNDS {
        let mut consumers = BTreeSet::new();
        let mut credentials = BTreeSet::new();
        let mut plugins = BTreeSet::new();
        let mut routes = BTreeSet::new();
        let mut certificates = BTreeSet::new();
        let found = check(snapshot);
        if found.is_empty() {
            return true;
        }
        for invalid in found {
            let (kind, object) = match invalid.subject {
                Subject::Snapshot => continue,
                Subject::Certificate(i) => {
                    // Translation checks every certificate Secret before naming it, so this is
                    // a conflict it let through; the Secret says so, the rest is served.
                    certificates.insert(i);
                    let source = &snapshot.certificates[i].source;
                    let path = source.strip_prefix("Secret ").unwrap_or(source);
                    problems.push(
                        Kind::Secret,
                        &ObjectName::from_path(path),
                        ProblemCondition::Accepted,
                        reason::INVALID_CONFIGURATION,
                        invalid.message,
                    );
                    continue;
                }
                Subject::Consumer(i) => {
                    consumers.insert(i);
                    (Kind::Consumer, &snapshot.consumers[i].object)
                }
                Subject::Credential(i) => {
                    credentials.insert(i);
                    (Kind::OAuth2Credential, &snapshot.credentials[i].object)
                }
                Subject::Plugin(i) => {
                    plugins.insert(i);
                    (Kind::AuthPlugin, &snapshot.plugins[i].id)
                }
                Subject::Route(i) => {
                    routes.insert(i);
                    let id = &snapshot.routes[i].id;
                    if let Some(at) = gateway_api::route_object(id) {
                        problems.push(
                            Kind::HTTPRoute,
                            &at,
                            ProblemCondition::Accepted,
                            reason::INVALID_CONFIGURATION,
                            invalid.message,
                        );
                        continue;
                    }
                    if let Some(at) = ingress::route_object(id) {
                        problems.push(
                            Kind::Ingress,
                            &at,
                            ProblemCondition::Accepted,
                            reason::INVALID_CONFIGURATION,
                            invalid.message,
                        );
                        continue;
                    }
                    (Kind::GatewayRoute, id)
                }
            };
            problems.push(
                kind,
                &ObjectName::from_path(object),
                ProblemCondition::Accepted,
                reason::INVALID_CONFIGURATION,
                invalid.message,
            );
        }
        if consumers.is_empty()
            && credentials.is_empty()
            && plugins.is_empty()
            && routes.is_empty()
            && certificates.is_empty()
        {
            return false;
        }
        remove_indices(&mut snapshot.consumers, &consumers);
        remove_indices(&mut snapshot.credentials, &credentials);
        remove_indices(&mut snapshot.plugins, &plugins);
        remove_indices(&mut snapshot.routes, &routes);
        remove_indices(&mut snapshot.certificates, &certificates);
    }
    false
}

/// Removes the items at `indices`, keeping the order of the rest.
fn remove_indices<T>(items: &mut Vec<T>, indices: &std::collections::BTreeSet<usize>) {
    if indices.is_empty() {
        return;
    }
    let mut i = 0;
    items.retain(|_| {
        let keep = !indices.contains(&i);
        i += 1;
        keep
    });
}

/// Problems collected during one translation.
#[derive(Default)]
pub(crate) struct Problems(Vec<Problem>);

impl Problems {
    pub(crate) fn push(
        &mut self,
        kind: Kind,
        at: &ObjectName,
        condition: ProblemCondition,
        reason: &'static str,
        message: impl Into<String>,
    ) {
        self.0.push(Problem {
            kind,
            namespace: at.namespace.clone(),
            name: at.name.clone(),
            condition,
            reason,
            message: message.into(),
        });
    }
}

/// `namespace/name` of an object, with the default namespace filled in.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ObjectName {
    pub namespace: String,
    pub name: String,
}

impl ObjectName {
    pub(crate) fn of<K: ResourceExt>(obj: &K) -> Self {
        Self {
            namespace: obj
                .namespace()
                .filter(|ns| !ns.is_empty())
                .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned()),
            name: obj.name_any(),
        }
    }

    /// The name of a consumer or credential, as [`Self::of`].
    pub(crate) fn of_named<T: Named>(obj: &T) -> Self {
        Self {
            namespace: obj
                .namespace()
                .filter(|ns| !ns.is_empty())
                .unwrap_or(DEFAULT_NAMESPACE)
                .to_owned(),
            name: obj.name().to_owned(),
        }
    }

    /// The inverse of [`Self::path`].
    pub(crate) fn from_path(path: &str) -> Self {
        let (namespace, name) = path.split_once('/').unwrap_or((DEFAULT_NAMESPACE, path));
        Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }

    /// `namespace/name`: the id of plugins and routes, and the `object` of consumers and
    /// credentials.
    pub(crate) fn path(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// The namespace and name of a consumer or credential, as [`ObjectName::of_named`] gives them,
/// borrowed.
pub(crate) fn namespace_and_name<T: Named>(obj: &T) -> (&str, &str) {
    (
        obj.namespace()
            .filter(|ns| !ns.is_empty())
            .unwrap_or(DEFAULT_NAMESPACE),
        obj.name(),
    )
}

/// `metadata.uid` of a consumer or credential when it has one, else `fallback(namespace, name)`.
pub(crate) fn object_id<T: Named>(
    obj: &T,
    at: &ObjectName,
    fallback: fn(&str, &str) -> String,
) -> String {
    match obj.uid() {
        Some(uid) if !uid.is_empty() => uid.to_owned(),
        _ => fallback(&at.namespace, &at.name),
    }
}

/// Whether a value may be sent as an HTTP header value: visible ASCII and inner spaces.
pub(crate) fn is_header_safe(value: &str) -> bool {
    !value.is_empty()
        && value.trim() == value
        && value.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
}
