//! Writes statuses (server-side apply to `/status` under [`FIELD_MANAGER`]) and Events
//! (events.k8s.io/v1 through kube-runtime's `Recorder`), only when something other than a
//! timestamp changed. Only the leader calls this.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::Secret;
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
    }

    /// Drops what was remembered about objects that no longer exist (`live` holds the uids of
    /// every cached object), so the memory stays bounded by the live objects.
    pub fn retain_live(&mut self, live: &std::collections::HashSet<String>) {
        self.written.retain(|uid, _| live.contains(uid));
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

#[cfg(test)]
#[path = "status_writer_tests.rs"]
mod tests;
