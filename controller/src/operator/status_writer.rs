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

use super::metrics::ControllerMetrics;
use super::programmed::Kind;
use super::status::{
    EVENT_ACTION_RECONCILE, FIELD_MANAGER, ObjectProblem, Programming, apply_body, desired_status,
    generated_condition, needs_write, transition_events,
};
use crate::resources::status::ObjectStatus;
use crate::resources::{AuthPlugin, Consumer, GatewayRoute, OAuth2Credential};

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
        self.written_ingresses.clear();
        self.ingress_events.clear();
    }

    /// Drops what was remembered about objects that no longer exist (`live` holds the uids of
    /// every cached object), so the memory stays bounded by the live objects.
    pub fn retain_live(&mut self, live: &std::collections::HashSet<String>) {
        self.written.retain(|uid, _| live.contains(uid));
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
