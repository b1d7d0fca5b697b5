//! Writes statuses (server-side apply to `/status` under [`FIELD_MANAGER`]) and Events
//! (events.k8s.io/v1 through kube-runtime's `Recorder`), only when something other than a
//! timestamp changed. Only the leader calls this.

use std::collections::{BTreeSet, HashMap};

use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::networking::v1::{Ingress, IngressLoadBalancerIngress};
use kube::api::{Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::gateway_status;
use super::metrics::ControllerMetrics;
use super::programmed::Kind;
use super::status::{
    EVENT_ACTION_RECONCILE, FIELD_MANAGER, ObjectProblem, Programming, apply_body, desired_status,
    generated_condition, needs_write, transition_events,
};
use crate::resources::gateway_api::{Gateway, GatewayClass, HTTPRoute, ParentRef};
use crate::resources::status::ObjectStatus;
use crate::resources::{AuthPlugin, Consumer, GatewayRoute, OAuth2Credential};
use crate::translate::gateway_api::ParentReport;

/// The reporting controller name on Events.
pub const REPORTING_CONTROLLER: &str = "tollgate.dev/controller";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("object has no {0}")]
    Metadata(&'static str),
    #[error("writing the status of {kind} {namespace}/{name}: {source}")]
    PatchStatus {
        kind: &'static str,
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
}

/// A Tollgate resource whose status this controller owns.
pub trait Owned:
    Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + DeserializeOwned
    + Serialize
    + std::fmt::Debug
{
    const KIND: Kind;
    fn current_status(&self) -> Option<&ObjectStatus>;
    /// The message of a `SecretGenerated` condition (credentials whose secret the controller
    /// generated), read from the cached `secrets`.
    fn generated_note(&self, _secrets: &[std::sync::Arc<Secret>]) -> Option<String> {
        None
    }
}

macro_rules! owned {
    ($t:ty, $kind:expr) => {
        impl Owned for $t {
            const KIND: Kind = $kind;
            fn current_status(&self) -> Option<&ObjectStatus> {
                self.status.as_ref()
            }
        }
    };
}
owned!(Consumer, Kind::Consumer);
impl Owned for OAuth2Credential {
    const KIND: Kind = Kind::OAuth2Credential;
    fn current_status(&self) -> Option<&ObjectStatus> {
        self.status.as_ref()
    }
    fn generated_note(&self, secrets: &[std::sync::Arc<Secret>]) -> Option<String> {
        super::client_secrets::generated_note(self, secrets)
    }
}
owned!(AuthPlugin, Kind::AuthPlugin);
owned!(GatewayRoute, Kind::GatewayRoute);

pub struct StatusWriter {
    client: Client,
    recorder: Recorder,
    /// The last status written per object uid, so a write is not repeated while the watch has
    /// not yet delivered it back into the store.
    written: HashMap<String, ObjectStatus>,
    rate: WriteRate,
    field_manager: String,
    /// Writes put off for the rate since [`Self::take_deferred`] was last called.
    deferred: usize,
    /// The Gateway API statuses last written per object uid (ours only: an HTTPRoute's own
    /// `status.parents` entries), for the same reason as `written`.
    gateway_written: HashMap<String, serde_json::Value>,
    /// The `status.loadBalancer.ingress` last written per Ingress uid.
    written_ingresses: HashMap<String, Vec<IngressLoadBalancerIngress>>,
    /// The problems (`reason: message`) an Event was published for, per Ingress uid, while
    /// they last.
    ingress_events: HashMap<String, BTreeSet<String>>,
}

/// A token bucket bounding status writes (and their Events): `per_second` on average, `burst`
/// at once. `per_second` 0: unbounded.
#[derive(Debug, Clone)]
struct WriteRate {
    per_second: f64,
    burst: f64,
    tokens: f64,
    at: std::time::Instant,
}

impl WriteRate {
    fn new(per_second: f64, burst: f64) -> Self {
        Self {
            per_second,
            burst: burst.max(1.0),
            tokens: burst.max(1.0),
            at: std::time::Instant::now(),
        }
    }

    fn try_take(&mut self, now: std::time::Instant) -> bool {
        if self.per_second <= 0.0 {
            return true;
        }
        let gained = now.saturating_duration_since(self.at).as_secs_f64() * self.per_second;
        self.tokens = (self.tokens + gained).min(self.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// How long until half the burst is available again.
    fn refill_delay(&self) -> std::time::Duration {
        if self.per_second <= 0.0 {
            return std::time::Duration::ZERO;
        }
        let missing = (self.burst / 2.0 - self.tokens).max(1.0);
        std::time::Duration::from_secs_f64(missing / self.per_second)
    }
}

impl StatusWriter {
    /// The API client statuses are written with.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The server-side apply field manager of status writes.
    pub fn field_manager(&self) -> &str {
        &self.field_manager
    }

    pub fn new(client: Client, instance: String) -> Self {
        let reporter = Reporter {
            controller: REPORTING_CONTROLLER.to_owned(),
            instance: Some(instance),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            written: HashMap::new(),
            rate: WriteRate::new(0.0, 1.0),
            field_manager: FIELD_MANAGER.to_owned(),
            deferred: 0,
            gateway_written: HashMap::new(),
            written_ingresses: HashMap::new(),
            ingress_events: HashMap::new(),
        }
    }

    /// Bounds status writes to `per_second` on average and `burst` at once (0: unbounded). A
    /// write beyond the bound is put off (see [`Self::take_deferred`]), never queued, so a
    /// rollout of the proxies or a change to thousands of objects cannot flood the API server.
    pub fn with_rate(mut self, per_second: f64, burst: f64) -> Self {
        self.rate = WriteRate::new(per_second, burst);
        self
    }

    /// The field manager of the status writes (default [`FIELD_MANAGER`]; one per install).
    pub fn with_field_manager(mut self, field_manager: String) -> Self {
        self.field_manager = field_manager;
        self
    }

    /// How many writes were put off since the last call, and how long until the rate allows a
    /// batch again.
    pub fn take_deferred(&mut self) -> Option<std::time::Duration> {
        let deferred = std::mem::take(&mut self.deferred);
        (deferred > 0).then(|| self.rate.refill_delay())
    }

    /// Forgets what was written (on losing the lead: the next leader starts from the stores).
    pub fn forget(&mut self) {
        self.written.clear();
        self.gateway_written.clear();
        self.written_ingresses.clear();
        self.ingress_events.clear();
    }

    /// Drops what was remembered about objects that no longer exist (`live` holds the uids of
    /// every cached object), so the memory stays bounded by the live objects.
    pub fn retain_live(&mut self, live: &std::collections::HashSet<String>) {
        self.written.retain(|uid, _| live.contains(uid));
        self.gateway_written.retain(|uid, _| live.contains(uid));
        self.written_ingresses.retain(|uid, _| live.contains(uid));
        self.ingress_events.retain(|uid, _| live.contains(uid));
    }

    /// Brings `object`'s status in line with its problems and programming; returns whether a
    /// write happened (not when nothing changed, nor when the write rate put it off).
    pub async fn sync<K: Owned>(
        &mut self,
        object: &K,
        problems: &[ObjectProblem],
        programming: &Programming,
        generated: Option<(bool, &str)>,
        now: &str,
        metrics: &ControllerMetrics,
    ) -> Result<bool, Error> {
        let uid = object.uid().ok_or(Error::Metadata("metadata.uid"))?;
        let namespace = object
            .namespace()
            .ok_or(Error::Metadata("metadata.namespace"))?;
        let name = object.name_any();
        // The freshest view: what we wrote last, unless the store already shows something else
        // that equals the desired state.
        let stored = object.current_status();
        let previous = self.written.get(&uid).or(stored);
        let mut desired = desired_status(
            object.meta().generation,
            problems,
            programming,
            previous,
            now,
        );
        if let Some((done, message)) = generated {
            desired.conditions.push(generated_condition(
                done,
                message,
                object.meta().generation,
                previous,
                now,
            ));
        }
        if !needs_write(stored, &desired) || !needs_write(self.written.get(&uid), &desired) {
            return Ok(false);
        }
        if !self.rate.try_take(std::time::Instant::now()) {
            self.deferred += 1;
            return Ok(false);
        }
        let body = apply_body(&K::api_version(&()), &K::kind(&()), &desired);
        let api: Api<K> = Api::namespaced(self.client.clone(), &namespace);
        let params = PatchParams::apply(&self.field_manager).force();
        let result = api.patch_status(&name, &params, &Patch::Apply(&body)).await;
        metrics.status_patched(result.is_ok());
        result.map_err(|source| Error::PatchStatus {
            kind: K::KIND.as_str(),
            namespace: namespace.clone(),
            name: name.clone(),
            source,
        })?;
        tracing::debug!(kind = K::KIND.as_str(), object = %format!("{namespace}/{name}"), "status written");
        for event in transition_events(previous, &desired) {
            let ev = Event {
                type_: if event.warning {
                    EventType::Warning
                } else {
                    EventType::Normal
                },
                reason: event.reason,
                note: Some(event.note),
                action: EVENT_ACTION_RECONCILE.to_owned(),
                secondary: None,
            };
            if let Err(e) = self.recorder.publish(&ev, &object.object_ref(&())).await {
                tracing::warn!(kind = K::KIND.as_str(), object = %format!("{namespace}/{name}"), error = %e, "publishing an Event failed");
            }
        }
        self.written.insert(uid, desired);
        Ok(true)
    }
}

/// A Gateway API object whose status this controller writes.
pub trait GatewayOwned:
    Resource<DynamicType = ()> + Clone + DeserializeOwned + Serialize + std::fmt::Debug
{
    /// Its `status` as JSON (`Value::Null` when none).
    fn status_json(&self) -> serde_json::Value;
    /// The API of its kind, in `namespace` when the kind is namespaced.
    fn api(client: Client, namespace: &str) -> Api<Self>;
}

macro_rules! gateway_owned {
    ($t:ty, $client:ident, $ns:ident, $api:expr) => {
        impl GatewayOwned for $t {
            fn status_json(&self) -> serde_json::Value {
                self.status
                    .as_ref()
                    .and_then(|s| serde_json::to_value(s).ok())
                    .unwrap_or(serde_json::Value::Null)
            }
            fn api($client: Client, $ns: &str) -> Api<Self> {
                $api
            }
        }
    };
}
gateway_owned!(GatewayClass, client, _ns, Api::all(client));
gateway_owned!(Gateway, client, ns, Api::namespaced(client, ns));
gateway_owned!(HTTPRoute, client, ns, Api::namespaced(client, ns));

/// How often an HTTPRoute status write is tried when another writer changed the route between
/// the read and the write (409).
const ROUTE_WRITE_ATTEMPTS: usize = 3;

impl StatusWriter {
    /// The status `previous` was last written or stored as, for transition times.
    fn gateway_previous<K: GatewayOwned>(&self, object: &K) -> Option<serde_json::Value> {
        let uid = object.meta().uid.as_ref()?;
        self.gateway_written
            .get(uid)
            .cloned()
            .or_else(|| Some(object.status_json()).filter(|s| !s.is_null()))
    }

    /// Brings a GatewayClass's or Gateway's status to `build(previous)` by server-side apply
    /// (ours alone: their class names this controller); returns whether a write happened.
    pub async fn sync_gateway_kind<K: GatewayOwned>(
        &mut self,
        object: &K,
        build: impl Fn(Option<&serde_json::Value>) -> serde_json::Value,
        metrics: &ControllerMetrics,
    ) -> Result<bool, Error> {
        let uid = object.uid().ok_or(Error::Metadata("metadata.uid"))?;
        let previous = self.gateway_previous(object);
        let desired = build(previous.as_ref());
        let stored = object.status_json();
        let bare = gateway_status::without_times(&desired);
        let current = |s: &serde_json::Value| {
            gateway_status::holds(s, &bare) && !gateway_status::addresses_gone(s, &bare)
        };
        if current(&stored) || self.gateway_written.get(&uid).is_some_and(current) {
            return Ok(false);
        }
        if !self.rate.try_take(std::time::Instant::now()) {
            self.deferred += 1;
            return Ok(false);
        }
        let body = serde_json::json!({
            "apiVersion": K::api_version(&()),
            "kind": K::kind(&()),
            "status": desired,
        });
        let api = K::api(self.client.clone(), &object.namespace().unwrap_or_default());
        let params = PatchParams::apply(&self.field_manager).force();
        let result = api
            .patch_status(&object.name_any(), &params, &Patch::Apply(&body))
            .await;
        metrics.status_patched(result.is_ok());
        result.map_err(|source| self.patch_error::<K>(object, source))?;
        self.gateway_events(object, previous.as_ref().unwrap_or(&stored), &desired)
            .await;
        self.gateway_written.insert(uid, desired);
        Ok(true)
    }

    /// Brings our entries of an HTTPRoute's `status.parents` to `reports` (see
    /// `gateway_status`); the other entries stay. `mine` tells the parents this install
    /// writes for. Returns whether a write happened.
    pub async fn sync_route(
        &mut self,
        route: &HTTPRoute,
        reports: &[ParentReport],
        mine: &(dyn Fn(&ParentRef) -> bool + Sync),
        now: &str,
        metrics: &ControllerMetrics,
    ) -> Result<bool, Error> {
        let uid = route.uid().ok_or(Error::Metadata("metadata.uid"))?;
        let parents = |status: &serde_json::Value| -> Vec<serde_json::Value> {
            status["parents"].as_array().cloned().unwrap_or_default()
        };
        let stored = parents(&route.status_json());
        let previous = self
            .gateway_written
            .get(&uid)
            .and_then(|w| w.as_array().cloned())
            .unwrap_or_else(|| gateway_status::our_entries(&stored, mine));
        let desired = gateway_status::route_parents(reports, &previous, now);
        let bare = gateway_status::without_times(&serde_json::Value::Array(desired.clone()));
        let same = |entries: Vec<serde_json::Value>| {
            gateway_status::without_times(&serde_json::Value::Array(entries)) == bare
        };
        if same(gateway_status::our_entries(&stored, mine))
            || self
                .gateway_written
                .get(&uid)
                .and_then(|w| w.as_array().cloned())
                .is_some_and(same)
        {
            return Ok(false);
        }
        if !self.rate.try_take(std::time::Instant::now()) {
            self.deferred += 1;
            return Ok(false);
        }
        let namespace = route
            .namespace()
            .ok_or(Error::Metadata("metadata.namespace"))?;
        let name = route.name_any();
        let api: Api<HTTPRoute> = Api::namespaced(self.client.clone(), &namespace);
        let params = PatchParams {
            field_manager: Some(self.field_manager.clone()),
            ..PatchParams::default()
        };
        let mut version = route.resource_version();
        let mut others = stored;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let body = serde_json::json!({
                "metadata": {"resourceVersion": version},
                "status": {"parents": gateway_status::merged_parents(&others, &desired, mine)},
            });
            let result = api.patch_status(&name, &params, &Patch::Merge(&body)).await;
            metrics.status_patched(result.is_ok());
            match result {
                Ok(_) => break,
                Err(kube::Error::Api(s)) if s.code == 409 && attempt < ROUTE_WRITE_ATTEMPTS => {
                    // Another writer (another controller's parent entry) came first: merge
                    // into what it wrote.
                    let fresh = api
                        .get(&name)
                        .await
                        .map_err(|source| self.patch_error::<HTTPRoute>(route, source))?;
                    version = fresh.resource_version();
                    others = parents(&fresh.status_json());
                }
                Err(source) => return Err(self.patch_error::<HTTPRoute>(route, source)),
            }
        }
        let desired = serde_json::Value::Array(desired);
        self.gateway_events(route, &serde_json::Value::Array(previous), &desired)
            .await;
        self.gateway_written.insert(uid, desired);
        Ok(true)
    }

    fn patch_error<K: GatewayOwned>(&self, object: &K, source: kube::Error) -> Error {
        Error::PatchStatus {
            kind: match K::kind(&()).as_ref() {
                "GatewayClass" => "GatewayClass",
                "Gateway" => "Gateway",
                _ => "HTTPRoute",
            },
            namespace: object.namespace().unwrap_or_default(),
            name: object.name_any(),
            source,
        }
    }

    /// A Warning Event when the object's first failing condition appears or changes reason.
    async fn gateway_events<K: GatewayOwned>(
        &self,
        object: &K,
        before: &serde_json::Value,
        after: &serde_json::Value,
    ) {
        let Some((reason, message)) = gateway_status::first_failure(after) else {
            return;
        };
        if gateway_status::first_failure(before).is_some_and(|(r, _)| r == reason) {
            return;
        }
        let event = Event {
            type_: EventType::Warning,
            reason,
            note: Some(super::status::event_note(&message)),
            action: EVENT_ACTION_RECONCILE.to_owned(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&event, &object.object_ref(&())).await {
            tracing::warn!(kind = %K::kind(&()), object = %object.name_any(), error = %e, "publishing an Event failed");
        }
    }
}

/// The addresses Ingresses get from the publish Service: its load balancer's
/// (`status.loadBalancer.ingress`), else its `spec.externalIPs`, else its cluster IP (none for
/// a headless Service), as the Kong Ingress Controller's `--publish-service` does.
pub fn published_addresses(service: &Service) -> Vec<IngressLoadBalancerIngress> {
    let balanced = service
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .filter(|i| !i.is_empty());
    if let Some(balanced) = balanced {
        return balanced
            .iter()
            .map(|i| IngressLoadBalancerIngress {
                hostname: i.hostname.clone(),
                ip: i.ip.clone(),
                ports: None,
            })
            .collect();
    }
    let spec = service.spec.as_ref();
    let ip = |ip: &str| IngressLoadBalancerIngress {
        ip: Some(ip.to_owned()),
        ..IngressLoadBalancerIngress::default()
    };
    if let Some(external) = spec
        .and_then(|s| s.external_ips.as_ref())
        .filter(|ips| !ips.is_empty())
    {
        return external.iter().map(|a| ip(a)).collect();
    }
    spec.and_then(|s| s.cluster_ip.as_deref())
        .filter(|a| !a.is_empty() && *a != "None")
        .map(|a| vec![ip(a)])
        .unwrap_or_default()
}

/// An Ingress's current `status.loadBalancer.ingress` (none: empty).
fn current_addresses(ingress: &Ingress) -> &[IngressLoadBalancerIngress] {
    ingress
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_deref())
        .unwrap_or_default()
}

impl StatusWriter {
    /// Brings an Ingress of Tollgate's classes in line: `status.loadBalancer.ingress` set to
    /// `addresses` when given and different (a JSON merge patch of `/status`), and a Warning
    /// Event for each problem not yet told while it lasts (Ingresses have no conditions).
    /// Bounded by the same write rate as the other statuses. Returns whether the status was
    /// written.
    pub async fn sync_ingress(
        &mut self,
        ingress: &Ingress,
        addresses: Option<&[IngressLoadBalancerIngress]>,
        problems: &[&crate::translate::Problem],
        metrics: &ControllerMetrics,
    ) -> Result<bool, Error> {
        let uid = ingress.uid().ok_or(Error::Metadata("metadata.uid"))?;
        let namespace = ingress
            .namespace()
            .ok_or(Error::Metadata("metadata.namespace"))?;
        let name = ingress.name_any();
        let told: BTreeSet<String> = problems
            .iter()
            .map(|p| format!("{}: {}", p.reason, p.message))
            .collect();
        let before = self.ingress_events.get(&uid).cloned().unwrap_or_default();
        let mut kept: BTreeSet<String> = before.intersection(&told).cloned().collect();
        for problem in problems {
            let key = format!("{}: {}", problem.reason, problem.message);
            if kept.contains(&key) {
                continue;
            }
            if !self.rate.try_take(std::time::Instant::now()) {
                self.deferred += 1;
                continue;
            }
            let ev = Event {
                type_: EventType::Warning,
                reason: problem.reason.to_owned(),
                note: Some(problem.message.clone()),
                action: EVENT_ACTION_RECONCILE.to_owned(),
                secondary: None,
            };
            match self.recorder.publish(&ev, &ingress.object_ref(&())).await {
                Ok(()) => {
                    kept.insert(key);
                }
                Err(e) => {
                    tracing::warn!(kind = "Ingress", object = %format!("{namespace}/{name}"), error = %e, "publishing an Event failed");
                }
            }
        }
        if kept.is_empty() {
            self.ingress_events.remove(&uid);
        } else {
            self.ingress_events.insert(uid.clone(), kept);
        }

        let Some(addresses) = addresses else {
            return Ok(false);
        };
        let stored = current_addresses(ingress);
        let written = self.written_ingresses.get(&uid);
        if stored == addresses || written.is_some_and(|w| w.as_slice() == addresses) {
            return Ok(false);
        }
        if !self.rate.try_take(std::time::Instant::now()) {
            self.deferred += 1;
            return Ok(false);
        }
        let body = serde_json::json!({"status": {"loadBalancer": {"ingress": addresses}}});
        let api: Api<Ingress> = Api::namespaced(self.client.clone(), &namespace);
        let params = PatchParams {
            field_manager: Some(self.field_manager.clone()),
            ..PatchParams::default()
        };
        let result = api.patch_status(&name, &params, &Patch::Merge(&body)).await;
        metrics.status_patched(result.is_ok());
        result.map_err(|source| Error::PatchStatus {
            kind: "Ingress",
            namespace: namespace.clone(),
            name: name.clone(),
            source,
        })?;
        tracing::debug!(kind = "Ingress", object = %format!("{namespace}/{name}"), "status.loadBalancer written");
        self.written_ingresses.insert(uid, addresses.to_vec());
        Ok(true)
    }
}

#[cfg(test)]
#[path = "status_writer_tests.rs"]
mod tests;
