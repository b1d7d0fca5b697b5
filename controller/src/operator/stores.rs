//! The operator's caches: kube-runtime reflectors for everything the translation reads.
//!
//! - The four Tollgate kinds.
//! - Secrets **only with the label `tollgate.dev/secret`** (a label selector on the watch): the
//!   controller never caches every Secret of the cluster, which keeps memory bounded and the RBAC
//!   story honest. Like the Kong Ingress Controller's `konghq.com/credential` label, a credential's
//!   Secret must therefore carry the label, or it is reported as `SecretNotFound`.
//! - Every Secret's **metadata only** (`PartialObjectMeta`: name, namespace and the Tollgate
//!   label; the API server sends no data, and none is cached): so that a credential naming a
//!   Secret that exists without the label gets `SecretNotLabelled`, with the fix, rather than
//!   `SecretNotFound`, and so that a change to such a Secret wakes the loop (a certificate
//!   Secret a listener or an Ingress names without the label is then read again by name:
//!   [`super::certificate_secrets`]).
//! - Services and EndpointSlices (those with `kubernetes.io/service-name`), to resolve
//!   `backend.service {name, port}` to ready endpoint addresses.
//! - The EndpointSlices of the proxies' headless config Service, to find every proxy replica.
//! - Ingresses, and IngressClasses (cluster-scoped: always one cluster-wide watch), whose
//!   `spec.controller` decides which Ingresses are Tollgate's.
//! - The publish Service (`--publish-service`), alone (a field selector on its name), whose
//!   addresses Tollgate's Ingresses get in `status.loadBalancer`.
//! - The Gateway API kinds (GatewayClass, Gateway, HTTPRoute, ReferenceGrant), once their CRDs
//!   are served ([`gateway_api_served`], [`start_gateway_api`]): a cluster without them runs
//!   everything else, and the kinds are picked up when the CRDs appear.
//!
//! With `--namespaces a,b` there is one watcher per kind and namespace (RBAC may then be namespaced
//! Roles); each feeds its own store, because a re-list of one watcher replaces its whole store.
//! Every event wakes the reconcile loop through one `Notify`.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::sync::Arc;

use futures::StreamExt;
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Namespace, Secret, Service, ServicePort, ServiceSpec, ServiceStatus,
};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointSlice};
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::metrics::ControllerMetrics;
use crate::resources::gateway_api::{self, Gateway, GatewayClass, HTTPRoute, ReferenceGrant};
use crate::resources::{AuthPlugin, Consumer, GatewayRoute, OAuth2Credential, SECRET_LABEL};
use crate::translate::gateway_api::GatewayObjects;

/// The label EndpointSlices carry with their Service's name.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// What a cache keeps of an object: what translation and endpoint resolution read, nothing more.
/// Services and EndpointSlices are cached cluster-wide, so every field they drop is memory saved
/// per object of the whole cluster; Secrets drop `kubectl`'s last-applied annotation, a second
/// copy of their data.
pub trait Trim {
    fn trim(&mut self);
}

macro_rules! trim_managed_fields {
    ($($t:ty),*) => {$(
        impl Trim for $t {
            fn trim(&mut self) {
                self.metadata.managed_fields = None;
            }
        }
    )*};
}
trim_managed_fields!(
    Consumer,
    OAuth2Credential,
    AuthPlugin,
    GatewayRoute,
    IngressClass
);

impl Trim for Ingress {
    /// Annotations are read (`tollgate.dev/plugins`, the class annotations); `kubectl`'s copy
    /// of the whole object is not.
    fn trim(&mut self) {
        self.metadata.managed_fields = None;
        if let Some(annotations) = self.metadata.annotations.as_mut() {
            annotations.remove(LAST_APPLIED);
        }
    }
}

/// kubectl's copy of the whole object, which the Gateway API kinds (thousands of HTTPRoutes) and
/// Ingresses would otherwise carry twice.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

macro_rules! trim_gateway_kinds {
    ($($t:ty),*) => {$(
        impl Trim for $t {
            /// Keeps the annotations the translation reads (`tollgate.dev/plugins`,
            /// `tollgate.dev/class`) and the status (HTTPRoute parents of other controllers).
            fn trim(&mut self) {
                self.metadata.managed_fields = None;
                if let Some(annotations) = self.metadata.annotations.as_mut() {
                    annotations.remove(LAST_APPLIED);
                }
            }
        }
    )*};
}
trim_gateway_kinds!(GatewayClass, Gateway, HTTPRoute, ReferenceGrant);

/// Metadata kept: name, namespace, uid, resourceVersion, generation, and the labels in `keep`.
fn trim_metadata(meta: &mut ObjectMeta, keep: &[&str]) {
    meta.managed_fields = None;
    meta.annotations = None;
    meta.owner_references = None;
    meta.finalizers = None;
    meta.labels = meta.labels.take().and_then(|labels| {
        let kept: BTreeMap<String, String> = labels
            .into_iter()
            .filter(|(k, _)| keep.contains(&k.as_str()))
            .collect();
        (!kept.is_empty()).then_some(kept)
    });
}

impl Trim for Namespace {
    /// Name and labels are all a selector needs.
    fn trim(&mut self) {
        let labels = self.metadata.labels.take();
        trim_metadata(&mut self.metadata, &[]);
        self.metadata.labels = labels;
        self.spec = None;
        self.status = None;
    }
}

impl Trim for Secret {
    /// Keeps the Tollgate label and the generated-secret annotation (a credential's
    /// `SecretGenerated` condition is read from it).
    fn trim(&mut self) {
        let generated = self
            .metadata
            .annotations
            .as_mut()
            .and_then(|a| a.remove_entry(super::client_secrets::GENERATED_ANNOTATION));
        trim_metadata(&mut self.metadata, &[SECRET_LABEL]);
        self.metadata.annotations = generated.map(|(k, v)| BTreeMap::from([(k, v)]));
        self.string_data = None;
    }
}

impl Trim for PartialObjectMeta<Secret> {
    /// Namespace, name, resourceVersion and the Tollgate label: whether a named Secret exists
    /// without it, and whether a certificate Secret read by name changed since.
    fn trim(&mut self) {
        trim_metadata(&mut self.metadata, &[SECRET_LABEL]);
    }
}

impl Trim for Service {
    /// Only the ports (name, port, target port, protocol), the type and an `ExternalName`
    /// Service's name: a backend names a Service port; and the addresses (load balancer,
    /// external IPs, cluster IP) the publish Service gives Ingresses.
    fn trim(&mut self) {
        trim_metadata(&mut self.metadata, &[]);
        self.status = self.status.take().and_then(|status| {
            status
                .load_balancer
                .filter(|lb| lb.ingress.as_ref().is_some_and(|i| !i.is_empty()))
                .map(|lb| ServiceStatus {
                    load_balancer: Some(lb),
                    ..ServiceStatus::default()
                })
        });
        self.spec = self.spec.take().map(|spec| ServiceSpec {
            ports: spec.ports.map(|ports| {
                ports
                    .into_iter()
                    .map(|p| ServicePort {
                        name: p.name,
                        port: p.port,
                        target_port: p.target_port,
                        protocol: p.protocol,
                        ..ServicePort::default()
                    })
                    .collect()
            }),
            type_: spec.type_,
            external_name: spec.external_name,
            cluster_ip: spec.cluster_ip,
            external_ips: spec.external_ips,
            ..ServiceSpec::default()
        });
    }
}

impl Trim for EndpointSlice {
    /// The service-name label, the ports, and each endpoint's addresses and conditions.
    fn trim(&mut self) {
        trim_metadata(&mut self.metadata, &[SERVICE_NAME_LABEL]);
        for endpoint in &mut self.endpoints {
            *endpoint = Endpoint {
                addresses: std::mem::take(&mut endpoint.addresses),
                conditions: endpoint.conditions.take(),
                ..Endpoint::default()
            };
        }
    }
}

/// Which namespaces are watched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    All,
    Namespaces(BTreeSet<String>),
}

/// Several stores of one kind (one per watched namespace) read as one.
pub struct Multi<K: Resource + 'static>
where
    K::DynamicType: std::hash::Hash + Eq + Clone,
{
    stores: Vec<Store<K>>,
}

impl<K> Multi<K>
where
    K: Resource + Clone + 'static,
    K::DynamicType: std::hash::Hash + Eq + Clone,
{
    /// Every cached object.
    pub fn state(&self) -> Vec<Arc<K>> {
        self.stores.iter().flat_map(Store::state).collect()
    }

    /// A store holding exactly `objects`, ready (reconcile tests).
    #[cfg(test)]
    pub fn fixed(objects: Vec<K>) -> Self
    where
        K::DynamicType: Default,
    {
        // A complete list, as a watch delivers it: the store is then ready.
        let mut writer = reflector::store::Writer::default();
        writer.apply_watcher_event(&watcher::Event::Init);
        for object in objects {
            writer.apply_watcher_event(&watcher::Event::InitApply(object));
        }
        writer.apply_watcher_event(&watcher::Event::InitDone);
        Multi {
            stores: vec![writer.as_reader()],
        }
    }

    /// Resolves once every store has received its first complete list.
    pub async fn wait_until_ready(&self) -> Result<(), reflector::store::WriterDropped> {
        for store in &self.stores {
            store.wait_until_ready().await?;
        }
        Ok(())
    }
}

/// Every cache the reconcile loop reads.
pub struct Stores {
    pub consumers: Multi<Consumer>,
    pub credentials: Multi<OAuth2Credential>,
    pub plugins: Multi<AuthPlugin>,
    pub routes: Multi<GatewayRoute>,
    pub secrets: Multi<Secret>,
    /// Every Secret in the Secrets' scope, metadata only (no data is received or cached).
    pub secret_names: Multi<PartialObjectMeta<Secret>>,
    pub services: Multi<Service>,
    pub slices: Multi<EndpointSlice>,
    pub proxy_slices: Multi<EndpointSlice>,
    /// Every Namespace, for the labels AuthPlugin `allowedNamespaces` selectors match; none
    /// (and not watched) when the controller is limited to some namespaces.
    pub namespaces: Multi<Namespace>,
    pub ingresses: Multi<Ingress>,
    pub ingress_classes: Multi<IngressClass>,
    /// The publish Service alone; none (and not watched) without `--publish-service`.
    pub publish_service: Multi<Service>,
    /// The Gateway API caches, set once its CRDs are served (never, without them).
    pub gateway: Arc<std::sync::OnceLock<GatewayStores>>,
}

/// The Gateway API caches.
pub struct GatewayStores {
    pub classes: Multi<GatewayClass>,
    pub gateways: Multi<Gateway>,
    pub routes: Multi<HTTPRoute>,
    pub grants: Multi<ReferenceGrant>,
}

impl GatewayStores {
    pub async fn wait_until_ready(&self) -> Result<(), reflector::store::WriterDropped> {
        self.classes.wait_until_ready().await?;
        self.gateways.wait_until_ready().await?;
        self.routes.wait_until_ready().await?;
        self.grants.wait_until_ready().await
    }

    /// Whether every store has listed (without waiting).
    pub fn is_ready(&self) -> bool {
        use futures::FutureExt as _;
        matches!(self.wait_until_ready().now_or_never(), Some(Ok(())))
    }

    /// Every cached object (the pipeline keeps the GatewayClasses of its `--class`).
    pub fn objects(&self) -> GatewayObjects {
        GatewayObjects {
            classes: self.classes.state(),
            gateways: self.gateways.state(),
            routes: self.routes.state(),
            grants: self.grants.state(),
        }
    }
}

impl Stores {
    /// Resolves once every cache has synced: before that a snapshot would be missing objects,
    /// and pushing it would be an outage.
    pub async fn wait_until_ready(&self) -> Result<(), reflector::store::WriterDropped> {
        self.consumers.wait_until_ready().await?;
        self.credentials.wait_until_ready().await?;
        self.plugins.wait_until_ready().await?;
        self.routes.wait_until_ready().await?;
        self.secrets.wait_until_ready().await?;
        self.secret_names.wait_until_ready().await?;
        self.services.wait_until_ready().await?;
        self.slices.wait_until_ready().await?;
        self.proxy_slices.wait_until_ready().await?;
        self.namespaces.wait_until_ready().await?;
        self.ingresses.wait_until_ready().await?;
        self.ingress_classes.wait_until_ready().await?;
        self.publish_service.wait_until_ready().await?;
        if let Some(gateway) = self.gateway.get() {
            gateway.wait_until_ready().await?;
        }
        Ok(())
    }

    /// The Gateway API objects, once their caches have listed; none before (nothing of theirs
    /// was served before either, so a late start takes nothing away).
    pub fn gateway_objects(&self) -> GatewayObjects {
        match self.gateway.get() {
            Some(stores) if stores.is_ready() => stores.objects(),
            _ => GatewayObjects::default(),
        }
    }
}

/// Where the watches go.
#[derive(Clone, Debug)]
pub struct WatchPlan {
    pub scope: Scope,
    /// Namespaces of the config-token and signing-key Secrets, watched for labelled Secrets
    /// even when outside `scope`.
    pub extra_secret_namespaces: BTreeSet<String>,
    /// The proxies' headless config Service.
    pub proxy_namespace: String,
    pub proxy_service: String,
    /// The Service whose addresses Ingresses get in `status.loadBalancer` and Gateways in
    /// `status.addresses` (`--publish-service`).
    pub publish_service: Option<super::plan::NamespacedName>,
}

/// Starts every reflector; the tasks run until aborted.
pub fn start(
    client: &Client,
    plan: &WatchPlan,
    changed: &Arc<Notify>,
    metrics: &Arc<ControllerMetrics>,
) -> (Stores, Vec<JoinHandle<()>>) {
    let mut w = Watching::new(changed, metrics);
    let all = watcher::Config::default();
    let secret_cfg = watcher::Config::default().labels(SECRET_LABEL);
    let slice_cfg = watcher::Config::default().labels(SERVICE_NAME_LABEL);
    let secret_scope = match &plan.scope {
        Scope::All => Scope::All,
        Scope::Namespaces(ns) => {
            Scope::Namespaces(ns.union(&plan.extra_secret_namespaces).cloned().collect())
        }
    };
    let proxy_cfg =
        watcher::Config::default().labels(&format!("{SERVICE_NAME_LABEL}={}", plan.proxy_service));
    let proxy_scope = Scope::Namespaces(BTreeSet::from([plan.proxy_namespace.clone()]));
    let stores = Stores {
        consumers: multi(client, &plan.scope, &all, &mut w),
        credentials: multi(client, &plan.scope, &all, &mut w),
        plugins: multi(client, &plan.scope, &all, &mut w),
        routes: multi(client, &plan.scope, &all, &mut w),
        secrets: multi(client, &secret_scope, &secret_cfg, &mut w),
        secret_names: secret_metadata(client, &secret_scope, &mut w),
        services: multi(client, &plan.scope, &all, &mut w),
        slices: multi(client, &plan.scope, &slice_cfg, &mut w),
        proxy_slices: multi(client, &proxy_scope, &proxy_cfg, &mut w),
        namespaces: match plan.scope {
            Scope::All => cluster_wide(client, &all, &mut w),
            Scope::Namespaces(_) => Multi { stores: Vec::new() },
        },
        ingresses: multi(client, &plan.scope, &all, &mut w),
        ingress_classes: cluster_wide(client, &all, &mut w),
        publish_service: match &plan.publish_service {
            Some(at) => multi(
                client,
                &Scope::Namespaces(BTreeSet::from([at.namespace.clone()])),
                &watcher::Config::default().fields(&format!("metadata.name={}", at.name)),
                &mut w,
            ),
            None => Multi { stores: Vec::new() },
        },
        gateway: Arc::new(std::sync::OnceLock::new()),
    };
    (stores, w.tasks)
}

/// The Gateway API resources the controller watches, as served at `gateway.networking.k8s.io/v1`.
pub const GATEWAY_API_RESOURCES: [&str; 4] = [
    "gatewayclasses",
    "gateways",
    "httproutes",
    "referencegrants",
];

/// Whether the API server serves every Gateway API kind the controller reads; `Ok(missing)`
/// names those it does not (all of them when the group version is unknown).
pub async fn gateway_api_served(client: &Client) -> Result<Vec<&'static str>, kube::Error> {
    match client
        .list_api_group_resources(gateway_api::API_VERSION)
        .await
    {
        Ok(list) => Ok(GATEWAY_API_RESOURCES
            .into_iter()
            .filter(|r| !list.resources.iter().any(|served| served.name == *r))
            .collect()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(GATEWAY_API_RESOURCES.to_vec()),
        Err(e) => Err(e),
    }
}

/// Starts the Gateway API reflectors (GatewayClasses cluster-wide: they are cluster-scoped; the
/// others in the plan's scope) and returns their stores.
pub fn start_gateway_api(
    client: &Client,
    plan: &WatchPlan,
    changed: &Arc<Notify>,
    metrics: &Arc<ControllerMetrics>,
) -> (GatewayStores, Vec<JoinHandle<()>>) {
    let mut w = Watching::new(changed, metrics);
    let all = watcher::Config::default();
    let stores = GatewayStores {
        classes: cluster_wide(client, &all, &mut w),
        gateways: multi(client, &plan.scope, &all, &mut w),
        routes: multi(client, &plan.scope, &all, &mut w),
        grants: multi(client, &plan.scope, &all, &mut w),
    };
    (stores, w.tasks)
}

/// A kind a reflector watches and caches (trimmed).
trait Watched: Trim + Clone + DeserializeOwned + Debug + Send + Sync + 'static {}

impl<K: Trim + Clone + DeserializeOwned + Debug + Send + Sync + 'static> Watched for K {}

/// What every watch shares: the reconcile loop's wake-up, where to report its health, and the
/// tasks started.
struct Watching<'a> {
    changed: &'a Arc<Notify>,
    metrics: &'a Arc<ControllerMetrics>,
    tasks: Vec<JoinHandle<()>>,
}

impl<'a> Watching<'a> {
    fn new(changed: &'a Arc<Notify>, metrics: &'a Arc<ControllerMetrics>) -> Self {
        Watching {
            changed,
            metrics,
            tasks: Vec::new(),
        }
    }

    /// Counts the watch `name` (of `resource`) as started: the health it reports to.
    fn health(&self, name: String, resource: String) -> WatchHealth {
        self.metrics.watch_started(&name);
        WatchHealth {
            name,
            resource,
            metrics: Arc::clone(self.metrics),
        }
    }
}

fn multi<K>(
    client: &Client,
    scope: &Scope,
    config: &watcher::Config,
    w: &mut Watching<'_>,
) -> Multi<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope> + Watched,
    K::DynamicType: Default + std::hash::Hash + Eq + Clone,
{
    let resource = resource_name::<K>();
    // A watch of one object (the publish Service) is told apart from the kind's other watch.
    let only = config
        .field_selector
        .as_ref()
        .map(|f| format!(" ({f})"))
        .unwrap_or_default();
    let stores = scoped_apis(client, scope, &resource, &only)
        .into_iter()
        .map(|(api, name)| {
            let health = w.health(name, resource.clone());
            let (store, task) = reflect(api, config.clone(), Arc::clone(w.changed), health);
            w.tasks.push(task);
            store
        })
        .collect();
    Multi { stores }
}

/// The resource `K` as the API names it: its plural, with its group when it has one.
fn resource_name<K: Resource>() -> String
where
    K::DynamicType: Default,
{
    let dt = K::DynamicType::default();
    match K::group(&dt).as_ref() {
        "" => K::plural(&dt).to_string(),
        group => format!("{}.{group}", K::plural(&dt)),
    }
}

/// An `Api` for all namespaces or one per namespace of `scope`, each with the name of its
/// watch: `what` in where, then `only`.
fn scoped_apis<K>(client: &Client, scope: &Scope, what: &str, only: &str) -> Vec<(Api<K>, String)>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match scope {
        Scope::All => vec![(
            Api::all(client.clone()),
            format!("{what} in all namespaces{only}"),
        )],
        Scope::Namespaces(namespaces) => namespaces
            .iter()
            .map(|ns| {
                (
                    Api::namespaced(client.clone(), ns),
                    format!("{what} in namespace {ns}{only}"),
                )
            })
            .collect(),
    }
}

/// One watch of a cluster-scoped kind.
fn cluster_wide<K>(client: &Client, config: &watcher::Config, w: &mut Watching<'_>) -> Multi<K>
where
    K: Resource<Scope = k8s_openapi::ClusterResourceScope> + Watched,
    K::DynamicType: Default + std::hash::Hash + Eq + Clone,
{
    let resource = resource_name::<K>();
    let health = w.health(resource.clone(), resource);
    let (store, task) = reflect(
        Api::all(client.clone()),
        config.clone(),
        Arc::clone(w.changed),
        health,
    );
    w.tasks.push(task);
    Multi {
        stores: vec![store],
    }
}

/// Every Secret's metadata in `scope` (one watch per namespace, as [`multi`]).
fn secret_metadata(
    client: &Client,
    scope: &Scope,
    w: &mut Watching<'_>,
) -> Multi<PartialObjectMeta<Secret>> {
    // An `Api` of `PartialObjectMeta` asks for metadata only.
    let apis: Vec<(Api<PartialObjectMeta<Secret>>, String)> =
        scoped_apis(client, scope, "secrets (metadata)", "");
    let stores = apis
        .into_iter()
        .map(|(api, name)| {
            let health = w.health(name, "secrets".to_owned());
            let stream = watcher(api, watcher::Config::default());
            let (store, task) = run_reflector(stream, Arc::clone(w.changed), health);
            w.tasks.push(task);
            store
        })
        .collect();
    Multi { stores }
}

/// One watch's name and where it reports.
struct WatchHealth {
    /// `oauth2credentials.tollgate.dev in all namespaces`.
    name: String,
    /// `oauth2credentials.tollgate.dev`.
    resource: String,
    metrics: Arc<ControllerMetrics>,
}

impl WatchHealth {
    /// What to tell an operator about a failed watch: for a 403, the verbs and resource RBAC
    /// must grant; for a 404, the CRD to install.
    fn explain(&self, error: &watcher::Error) -> String {
        let status = match error {
            watcher::Error::InitialListFailed(kube::Error::Api(s))
            | watcher::Error::WatchStartFailed(kube::Error::Api(s))
            | watcher::Error::WatchFailed(kube::Error::Api(s)) => Some(s.as_ref()),
            watcher::Error::WatchError(s) => Some(s.as_ref()),
            _ => None,
        };
        let verb = match error {
            watcher::Error::InitialListFailed(_) => "list",
            _ => "watch",
        };
        match status {
            Some(s) if s.code == 403 => format!(
                "forbidden (403): RBAC does not let the controller {verb} {} ({}): grant \
                 get, list and watch on it (the chart's RBAC does)",
                self.resource, s.message
            ),
            Some(s) if s.code == 404 && self.resource.ends_with(gateway_api::GROUP) => format!(
                "not found (404): {} is not served; were the Gateway API CRDs removed? \
                 (install them from the Gateway API release, standard-install.yaml)",
                self.resource
            ),
            Some(s) if s.code == 404 => format!(
                "not found (404): {} is not served; is its CRD installed? \
                 (kubectl apply -f crds/)",
                self.resource
            ),
            _ => error.to_string(),
        }
    }
}

fn reflect<K>(
    api: Api<K>,
    config: watcher::Config,
    changed: Arc<Notify>,
    health: WatchHealth,
) -> (Store<K>, JoinHandle<()>)
where
    K: Resource + Watched,
    K::DynamicType: Default + std::hash::Hash + Eq + Clone,
{
    run_reflector(watcher(api, config), changed, health)
}

/// Feeds a store from a watch stream, trimming each object; every event wakes the loop.
fn run_reflector<K, S>(
    stream: S,
    changed: Arc<Notify>,
    health: WatchHealth,
) -> (Store<K>, JoinHandle<()>)
where
    K: Resource + Trim + Clone + Debug + Send + Sync + 'static,
    K::DynamicType: Default + std::hash::Hash + Eq + Clone,
    S: futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = stream.modify(Trim::trim).default_backoff().reflect(writer);
    let task = tokio::spawn(async move {
        stream
            .for_each(|event| {
                match event {
                    Ok(watcher::Event::InitDone) => {
                        health.metrics.watch_synced(&health.name);
                        health.metrics.event_queued();
                        changed.notify_one();
                    }
                    Ok(_) => {
                        health.metrics.event_queued();
                        changed.notify_one();
                    }
                    // The watcher retries with backoff by itself; the store keeps its last state.
                    Err(e) => {
                        let why = health.explain(&e);
                        tracing::warn!(watch = %health.name, error = %why, "watch failed; retrying");
                        health.metrics.watch_failed(&health.name, why);
                    }
                }
                futures::future::ready(())
            })
            .await;
    });
    (reader, task)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operator::endpoints::{backend_endpoints, proxy_targets};
    use serde_json::json;

    #[test]
    fn trimmed_services_and_slices_resolve_exactly_as_whole_ones() {
        let service: Service = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"},
                         "annotations": {"note": "x".repeat(1000)}},
            "spec": {"selector": {"app": "web"}, "clusterIP": "10.0.0.9", "type": "ClusterIP",
                     "ports": [{"name": "http", "port": 80, "targetPort": "web", "protocol": "TCP"},
                               {"name": "admin", "port": 8100, "targetPort": 8100}]},
            "status": {"loadBalancer": {}}
        }))
        .expect("service");
        let slice: EndpointSlice = serde_json::from_value(json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"name": "web-1", "namespace": "shop",
                         "labels": {SERVICE_NAME_LABEL: "web", "other": "x"},
                         "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": "web", "uid": "u"}]},
            "ports": [{"name": "web", "port": 8080}, {"name": "admin", "port": 8100}],
            "endpoints": [
                {"addresses": ["10.1.0.1"], "conditions": {"ready": true}, "nodeName": "n1",
                 "zone": "a", "targetRef": {"kind": "Pod", "name": "p1"}, "hints": {"forZones": [{"name": "a"}]}},
                {"addresses": ["10.1.0.2"], "conditions": {"ready": false}},
                {"addresses": ["10.1.0.3"], "conditions": {"ready": false, "terminating": true}}
            ]
        }))
        .expect("slice");
        let (mut small_service, mut small_slice) = (service.clone(), slice.clone());
        small_service.trim();
        small_slice.trim();
        let whole = (vec![Arc::new(service)], vec![Arc::new(slice)]);
        let trimmed = (
            vec![Arc::new(small_service.clone())],
            vec![Arc::new(small_slice.clone())],
        );
        assert_eq!(
            backend_endpoints(&whole.0, &whole.1),
            backend_endpoints(&trimmed.0, &trimmed.1)
        );
        assert_eq!(proxy_targets(&whole.1), proxy_targets(&trimmed.1));
        assert!(small_service.metadata.annotations.is_none() && small_service.status.is_none());
        assert_eq!(
            small_slice.metadata.labels.as_ref().map(BTreeMap::len),
            Some(1),
            "only the service-name label"
        );
        assert!(
            small_slice
                .endpoints
                .iter()
                .all(|e| e.target_ref.is_none() && e.hints.is_none())
        );
    }
}
