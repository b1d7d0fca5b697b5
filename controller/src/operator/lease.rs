//! Leader election with a `coordination.k8s.io/v1` Lease, as client-go's leaderelection does:
//! acquire when absent, released or expired; renew while held; optimistic concurrency through
//! `resourceVersion` (a lost race is a 409 and simply means "not leader"); step down at once when a
//! renewal fails. Expiry is judged on this replica's monotonic clock (how long the record has
//! stayed unchanged since we first saw it), never by comparing the holder's wall clock with ours,
//! so clock skew between nodes cannot cause two leaders.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use tokio::time::Instant;

/// Default lease duration: a follower takes over this long after the last renewal it saw.
pub const DEFAULT_LEASE_DURATION: Duration = Duration::from_secs(15);
/// Default interval between two election rounds (renewals, or checks by followers).
pub const DEFAULT_RETRY_PERIOD: Duration = Duration::from_secs(2);

/// How long a leader may go without a successful renewal before it stops acting as leader:
/// two thirds of the lease duration (client-go's 10 s of 15 s), so it steps down before any
/// follower can take over. Also the deadline of one election round.
pub fn renew_deadline(lease_duration: Duration) -> Duration {
    (lease_duration * 2 / 3).max(Duration::from_millis(500))
}

/// This replica's leadership as pushes see it: valid until a deadline on the monotonic clock,
/// which each successful renewal extends, and the epoch to stamp on pushes. A leader that stops
/// renewing (a hung API call, a frozen or partitioned process) stops pushing when the deadline
/// passes, before a follower can take over; after a pause it finds the deadline passed at once.
#[derive(Debug, Default)]
pub struct Leadership {
    held: std::sync::Mutex<Option<(Instant, u64)>>,
}

impl Leadership {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Instant, u64)>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Leading with `epoch` until `until`.
    pub fn grant(&self, until: Instant, epoch: u64) {
        *self.lock() = Some((until, epoch));
    }

    /// Not leading.
    pub fn revoke(&self) {
        *self.lock() = None;
    }

    /// The epoch to push with, while the leadership holds at `now`.
    pub fn current(&self, now: Instant) -> Option<u64> {
        self.lock()
            .filter(|(until, _)| now < *until)
            .map(|(_, epoch)| epoch)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading Lease {namespace}/{name}: {source}")]
    ReadLease {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("writing Lease {namespace}/{name}: {source}")]
    WriteLease {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
}

/// What one election round does, given the Lease as read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// No Lease: create it with us as holder.
    Create,
    /// We hold it: renew.
    Renew,
    /// Released, or unchanged for longer than its duration: take it over.
    TakeOver,
    /// Someone else holds a live Lease.
    Follow,
}

/// The pure decision. `unchanged_for` is how long the Lease's record (its `resourceVersion`) has
/// been observed unchanged by this replica.
pub fn decide(
    lease: Option<&Lease>,
    identity: &str,
    unchanged_for: Duration,
    default_duration: Duration,
) -> Action {
    let Some(lease) = lease else {
        return Action::Create;
    };
    let spec = lease.spec.as_ref();
    let holder = spec
        .and_then(|s| s.holder_identity.as_deref())
        .unwrap_or("");
    if holder == identity {
        return Action::Renew;
    }
    if holder.is_empty() {
        return Action::TakeOver;
    }
    let duration = spec
        .and_then(|s| s.lease_duration_seconds)
        .and_then(|s| u64::try_from(s).ok())
        .map_or(default_duration, Duration::from_secs);
    if unchanged_for > duration {
        Action::TakeOver
    } else {
        Action::Follow
    }
}

/// Settings of the elector.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    pub name: String,
    pub namespace: String,
    /// Pod name, or hostname and pid.
    pub identity: String,
    pub duration: Duration,
}

/// One replica's view of the election.
pub struct Elector {
    /// `leaseTransitions` of the Lease as last written by this replica: its leader epoch.
    epoch: u64,
    api: Api<Lease>,
    config: LeaseConfig,
    /// The `resourceVersion` last seen and when it was first seen.
    observed: Option<(String, Instant)>,
    leader: bool,
}

impl Elector {
    pub fn new(client: Client, config: LeaseConfig) -> Self {
        Self {
            api: Api::namespaced(client, &config.namespace),
            config,
            observed: None,
            leader: false,
            epoch: 0,
        }
    }

    pub fn is_leader(&self) -> bool {
        self.leader
    }

    /// Stops leading without a round (a round that did not finish in time).
    pub fn step_down(&mut self) {
        self.leader = false;
    }

    /// The leader epoch: the Lease's `leaseTransitions` when this replica last wrote it. Every
    /// take-over raises it, so a later leader always pushes a higher epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    pub fn identity(&self) -> &str {
        &self.config.identity
    }

    /// One election round at `now`; returns whether this replica leads afterwards. Any failure
    /// steps down (the next round may win again).
    pub async fn tick(&mut self, now: Instant) -> Result<bool, Error> {
        let result = self.round(now).await;
        self.leader = matches!(result, Ok(true));
        result
    }

    async fn round(&mut self, now: Instant) -> Result<bool, Error> {
        let current = self
            .api
            .get_opt(&self.config.name)
            .await
            .map_err(|source| Error::ReadLease {
                namespace: self.config.namespace.clone(),
                name: self.config.name.clone(),
                source,
            })?;
        let unchanged_for = match (&current, &self.observed) {
            (Some(lease), Some((rv, since)))
                if lease.metadata.resource_version.as_ref() == Some(rv) =>
            {
                now.saturating_duration_since(*since)
            }
            (Some(lease), _) => {
                self.observed = lease.metadata.resource_version.clone().map(|rv| (rv, now));
                Duration::ZERO
            }
            (None, _) => {
                self.observed = None;
                Duration::ZERO
            }
        };
        let action = decide(
            current.as_ref(),
            &self.config.identity,
            unchanged_for,
            self.config.duration,
        );
        let written = match (action, current) {
            (Action::Follow, _) => return Ok(false),
            (Action::Create, _) => {
                self.api
                    .create(&PostParams::default(), &self.new_lease())
                    .await
            }
            (Action::Renew, Some(mut lease)) => {
                let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
                spec.renew_time = Some(MicroTime(Timestamp::now()));
                spec.lease_duration_seconds = Some(self.duration_secs());
                self.api
                    .replace(&self.config.name, &PostParams::default(), &lease)
                    .await
            }
            (Action::TakeOver, Some(mut lease)) => {
                let stamp = MicroTime(Timestamp::now());
                let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
                spec.holder_identity = Some(self.config.identity.clone());
                spec.acquire_time = Some(stamp.clone());
                spec.renew_time = Some(stamp);
                spec.lease_duration_seconds = Some(self.duration_secs());
                spec.lease_transitions =
                    Some(spec.lease_transitions.unwrap_or(0).saturating_add(1));
                self.api
                    .replace(&self.config.name, &PostParams::default(), &lease)
                    .await
            }
            (Action::Renew | Action::TakeOver, None) => return Ok(false),
        };
        match written {
            Ok(lease) => {
                self.epoch = lease
                    .spec
                    .as_ref()
                    .and_then(|s| s.lease_transitions)
                    .and_then(|t| u64::try_from(t).ok())
                    .unwrap_or(0);
                if action != Action::Renew {
                    tracing::info!(lease = %self.config.name, identity = %self.config.identity, ?action, "acquired the leader Lease");
                }
                self.observed = lease.metadata.resource_version.map(|rv| (rv, now));
                Ok(true)
            }
            // Another replica wrote first: not leader this round.
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(source) => Err(Error::WriteLease {
                namespace: self.config.namespace.clone(),
                name: self.config.name.clone(),
                source,
            }),
        }
    }

    /// Gives the Lease up (on shutdown) so a follower takes over at its next round instead of
    /// waiting for expiry. Does nothing unless this replica leads.
    pub async fn release(&mut self) -> Result<(), Error> {
        if !self.leader {
            return Ok(());
        }
        self.leader = false;
        let write_err = |source| Error::WriteLease {
            namespace: self.config.namespace.clone(),
            name: self.config.name.clone(),
            source,
        };
        let Some(mut lease) = self
            .api
            .get_opt(&self.config.name)
            .await
            .map_err(write_err)?
        else {
            return Ok(());
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        self.api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await
            .map_err(|source| Error::WriteLease {
                namespace: self.config.namespace.clone(),
                name: self.config.name.clone(),
                source,
            })?;
        tracing::info!(lease = %self.config.name, identity = %self.config.identity, "released the leader Lease");
        Ok(())
    }

    fn duration_secs(&self) -> i32 {
        i32::try_from(self.config.duration.as_secs()).unwrap_or(i32::MAX)
    }

    fn new_lease(&self) -> Lease {
        let stamp = MicroTime(Timestamp::now());
        Lease {
            metadata: ObjectMeta {
                name: Some(self.config.name.clone()),
                namespace: Some(self.config.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(self.config.identity.clone()),
                acquire_time: Some(stamp.clone()),
                renew_time: Some(stamp),
                lease_duration_seconds: Some(self.duration_secs()),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        }
    }
}

/// This replica's identity: `POD_NAME` when set (the chart sets it from the downward API), else
/// the host name and process id.
pub fn default_identity() -> String {
    if let Ok(pod) = std::env::var("POD_NAME")
        && !pod.is_empty()
    {
        return pod;
    }
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "tollgate-controller".to_owned());
    format!("{host}-{}", std::process::id())
}

#[cfg(test)]
#[path = "lease_tests.rs"]
mod tests;
