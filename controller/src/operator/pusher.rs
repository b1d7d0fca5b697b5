//! The pusher: one worker per proxy replica keeps that replica on the desired snapshot.
//!
//! Each worker asks its proxy for its hash (`GET /config`) and pushes the full snapshot only when
//! it differs; it re-checks every few seconds, so a restarted or new replica (empty or other hash)
//! gets the config again without a controller restart. Failures are retried with exponential
//! backoff and jitter. So is a snapshot the proxy rejects as invalid (400/413), logged at error
//! level with the reasons and counted each time: translation never builds a snapshot that fails
//! core's validation, so a rejection means a proxy of another version or a lower size limit,
//! which a rollout fixes; a worker that stopped pushing would leave that replica on its old
//! configuration for good. A new snapshot is pushed at once, whatever the backoff. A push a
//! newer leader superseded (409) is not repeated. Workers are independent, so one slow or dead
//! replica never delays the others.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tollgate_core::config_channel::ConfigToken;

use super::lease::Leadership;
use super::metrics::{ControllerMetrics, PushMetric};
use super::push_client::PushClient;
use super::revocations::RevocationHub;

/// A snapshot ready to push: its canonical bytes and content hash.
#[derive(Debug)]
pub struct Desired {
    pub hash: String,
    pub body: Bytes,
}

/// Exponential backoff with "equal jitter": half the delay fixed, half random.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The delay before retry number `attempt` (1 for the first retry); `random` is any u32.
    pub fn delay(&self, attempt: u32, random: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(self.max);
        let half = exp / 2;
        let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
        let jitter = if jitter_ms == 0 {
            Duration::ZERO
        } else {
            Duration::from_millis(u64::from(random) % (jitter_ms + 1))
        };
        half + jitter
    }
}

fn random_u32() -> u32 {
    let mut buf = [0u8; 4];
    // Jitter only: a failure to read randomness just means no jitter.
    let _ = getrandom::getrandom(&mut buf);
    u32::from_le_bytes(buf)
}

/// How the pusher behaves.
#[derive(Clone, Copy, Debug)]
pub struct PushSettings {
    /// How often an in-sync replica is asked for its hash again.
    pub recheck: Duration,
    pub backoff: Backoff,
}

impl Default for PushSettings {
    fn default() -> Self {
        Self {
            recheck: Duration::from_secs(3),
            backoff: Backoff {
                base: Duration::from_millis(250),
                max: Duration::from_secs(30),
            },
        }
    }
}

/// What the pusher knows about each replica: the hash it holds (`None`: none, or unreachable
/// before it ever answered). A replica is absent until its worker finished a first round, so a
/// fresh leader does not report every object `Pending` before it even asked.
pub type Acks = BTreeMap<String, Option<String>>;

/// Keeps a worker per proxy replica.
pub struct Pusher {
    client: PushClient,
    settings: PushSettings,
    desired: watch::Sender<Option<Arc<Desired>>>,
    token: watch::Sender<Option<ConfigToken>>,
    workers: HashMap<String, JoinHandle<()>>,
    acks: Arc<Mutex<Acks>>,
    changed: Arc<Notify>,
    metrics: Arc<ControllerMetrics>,
    /// When set, pushes happen only while it holds, stamped with its epoch.
    leadership: Option<Arc<Leadership>>,
    /// Plugins whose issuer's keys a replica reported lacking a token's `kid` (`jwksWanted`).
    jwks_wanted: Arc<Mutex<BTreeSet<String>>>,
    /// The merged revocation set, exchanged with every replica (see [`super::revocations`]).
    revocations: Option<Arc<RevocationHub>>,
    exchanges: HashMap<String, JoinHandle<()>>,
}

impl Pusher {
    /// `changed` is notified whenever a replica acknowledges another hash.
    pub fn new(
        client: PushClient,
        settings: PushSettings,
        changed: Arc<Notify>,
        metrics: Arc<ControllerMetrics>,
    ) -> Self {
        Self {
            client,
            settings,
            desired: watch::channel(None).0,
            token: watch::channel(None).0,
            workers: HashMap::new(),
            acks: Arc::default(),
            changed,
            metrics,
            leadership: None,
            jwks_wanted: Arc::default(),
            revocations: None,
            exchanges: HashMap::new(),
        }
    }

    /// Exchanges revocations with every replica through `hub`.
    pub fn with_revocations(mut self, hub: Arc<RevocationHub>) -> Self {
        self.revocations = Some(hub);
        self
    }

    /// The plugins replicas reported since the last call (see [`Self::jwks_wanted`]).
    pub fn take_jwks_wanted(&self) -> BTreeSet<String> {
        std::mem::take(&mut *self.jwks_wanted.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Pushes only while `leadership` holds, each stamped with its epoch (operator mode).
    pub fn with_leadership(mut self, leadership: Arc<Leadership>) -> Self {
        self.leadership = Some(leadership);
        self
    }

    /// Sets what every worker pushes. Unchanged values wake nobody.
    pub fn publish(&self, desired: Arc<Desired>, token: Option<ConfigToken>) {
        self.desired.send_if_modified(|current| {
            let same = current.as_ref().is_some_and(|c| c.hash == desired.hash);
            if !same {
                *current = Some(desired);
            }
            !same
        });
        self.token.send_if_modified(|current| {
            let same = *current == token;
            if !same {
                *current = token;
            }
            !same
        });
    }

    /// Starts workers for new replicas and stops those of replicas that left.
    pub fn set_targets(&mut self, targets: &BTreeSet<String>) {
        self.retain(targets, "proxy replica left the config Service");
        for addr in targets {
            if self.workers.contains_key(addr) {
                continue;
            }
            tracing::info!(proxy = %addr, "proxy replica discovered");
            let worker = Worker {
                addr: addr.clone(),
                client: self.client.clone(),
                settings: self.settings,
                desired: self.desired.subscribe(),
                token: self.token.subscribe(),
                acks: Arc::clone(&self.acks),
                changed: Arc::clone(&self.changed),
                metrics: Arc::clone(&self.metrics),
                leadership: self.leadership.clone(),
                jwks_wanted: Arc::clone(&self.jwks_wanted),
                revocations: self.revocations.clone(),
            };
            self.workers
                .insert(addr.clone(), tokio::spawn(worker.run()));
            if let Some(hub) = &self.revocations {
                let exchange = super::revocations::exchange(
                    addr.clone(),
                    self.client.clone(),
                    self.token.subscribe(),
                    Arc::clone(hub),
                    self.settings.backoff,
                );
                self.exchanges.insert(addr.clone(), tokio::spawn(exchange));
            }
        }
    }

    /// Stops every worker (this replica lost the lead, or shuts down).
    pub fn stop(&mut self) {
        self.retain(&BTreeSet::new(), "stopped pushing to proxy replica");
        if let Some(hub) = &self.revocations {
            hub.unload();
        }
    }

    /// Stops the workers of replicas not in `targets`.
    fn retain(&mut self, targets: &BTreeSet<String>, why: &str) {
        let gone: Vec<String> = self
            .workers
            .keys()
            .filter(|addr| !targets.contains(*addr))
            .cloned()
            .collect();
        for addr in gone {
            if let Some(worker) = self.workers.remove(&addr) {
                worker.abort();
            }
            if let Some(exchange) = self.exchanges.remove(&addr) {
                exchange.abort();
            }
            if let Ok(mut acks) = self.acks.lock() {
                acks.remove(&addr);
            }
            self.metrics.forget_proxy(&addr);
            tracing::info!(proxy = %addr, "{why}");
        }
    }

    /// A copy of every replica's acknowledged hash.
    pub fn acks(&self) -> Acks {
        self.acks.lock().map(|a| a.clone()).unwrap_or_default()
    }
}

impl Drop for Pusher {
    fn drop(&mut self) {
        for worker in self.workers.values().chain(self.exchanges.values()) {
            worker.abort();
        }
    }
}

struct Worker {
    addr: String,
    client: PushClient,
    settings: PushSettings,
    desired: watch::Receiver<Option<Arc<Desired>>>,
    token: watch::Receiver<Option<ConfigToken>>,
    acks: Arc<Mutex<Acks>>,
    changed: Arc<Notify>,
    metrics: Arc<ControllerMetrics>,
    leadership: Option<Arc<Leadership>>,
    jwks_wanted: Arc<Mutex<BTreeSet<String>>>,
    revocations: Option<Arc<RevocationHub>>,
}

/// Per-worker memory between rounds.
#[derive(Default)]
struct WorkerState {
    failures: u32,
    /// A hash a newer leader superseded on this replica: not pushed to it again.
    superseded: Option<String>,
}

impl Worker {
    async fn run(mut self) {
        let mut state = WorkerState::default();
        loop {
            let desired = self.desired.borrow_and_update().clone();
            let token = self.token.borrow_and_update().clone();
            let wait = match (desired, token) {
                (Some(desired), Some(token)) => self.round(&desired, &token, &mut state).await,
                _ => self.settings.recheck,
            };
            tokio::select! {
                changed = self.desired.changed() => if changed.is_err() { return },
                changed = self.token.changed() => if changed.is_err() { return },
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One check (and push when needed); returns how long to wait before the next one.
    async fn round(
        &self,
        desired: &Desired,
        token: &ConfigToken,
        state: &mut WorkerState,
    ) -> Duration {
        let started = Instant::now();
        let status = self.client.current_status(&self.addr, token).await;
        if let Ok(status) = &status
            && !status.jwks_wanted.is_empty()
        {
            let mut wanted = self.jwks_wanted.lock().unwrap_or_else(|e| e.into_inner());
            let before = wanted.len();
            wanted.extend(status.jwks_wanted.iter().take(64).cloned());
            if wanted.len() != before {
                self.changed.notify_one();
            }
        }
        let outcome = match status.map(|s| s.hash) {
            Ok(hash) if hash == desired.hash => Ok(hash),
            Ok(hash) => {
                self.ack((!hash.is_empty()).then_some(hash));
                if state.superseded.as_deref() == Some(desired.hash.as_str()) {
                    return self.settings.recheck;
                }
                let epoch = match &self.leadership {
                    None => None,
                    Some(leadership) => match leadership.current(Instant::now()) {
                        Some(epoch) => Some(epoch),
                        // The Lease was not renewed in time: not leader any more, whatever the
                        // election loop has yet to notice.
                        None => return self.settings.recheck,
                    },
                };
                if let Some(hub) = &self.revocations {
                    // A replica without the config (new, or restarted) gets the revocations
                    // first, so it never serves a revoked token once ready.
                    hub.load_if_needed().await;
                    if let Err(e) = self
                        .client
                        .push_revocations(&self.addr, token, hub.push_body())
                        .await
                    {
                        tracing::warn!(proxy = %self.addr, error = %e, "pushing revocations before the snapshot failed");
                    }
                }
                tracing::info!(proxy = %self.addr, hash = %desired.hash, bytes = desired.body.len(), epoch, "pushing snapshot");
                self.client
                    .push(&self.addr, desired.body.clone(), token, epoch)
                    .await
            }
            Err(e) => Err(e),
        };
        let took = started.elapsed();
        match outcome {
            Ok(hash) => {
                if hash != desired.hash {
                    tracing::warn!(proxy = %self.addr, expected = %desired.hash, reported = %hash, "proxy reports another hash than the one pushed");
                }
                self.metrics
                    .push_finished(&self.addr, took, PushMetric::InSync);
                self.ack(Some(hash));
                state.failures = 0;
                self.settings.recheck
            }
            Err(e @ super::push_client::Error::Superseded(_)) => {
                tracing::warn!(proxy = %self.addr, hash = %desired.hash, error = %e, "push superseded; not repeating it");
                self.metrics
                    .push_finished(&self.addr, took, PushMetric::Rejected);
                state.superseded = Some(desired.hash.clone());
                self.settings.recheck
            }
            Err(e) if e.is_rejection() => {
                state.failures = state.failures.saturating_add(1);
                let delay = self.settings.backoff.delay(state.failures, random_u32());
                tracing::error!(proxy = %self.addr, hash = %desired.hash, error = %e, attempt = state.failures, retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX), "proxy rejected the snapshot; retrying");
                self.metrics
                    .push_finished(&self.addr, took, PushMetric::Rejected);
                delay
            }
            Err(e) => {
                self.report_unreachable();
                state.failures = state.failures.saturating_add(1);
                let delay = self.settings.backoff.delay(state.failures, random_u32());
                tracing::warn!(proxy = %self.addr, error = %e, attempt = state.failures, retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX), "push failed");
                self.metrics
                    .push_finished(&self.addr, took, PushMetric::Failed);
                delay
            }
        }
    }

    /// Records "holds nothing known" for a replica that never answered; keeps the last known
    /// hash of one that did (a blip must not flip every status).
    fn report_unreachable(&self) {
        let inserted = match self.acks.lock() {
            Ok(mut acks) if !acks.contains_key(&self.addr) => {
                acks.insert(self.addr.clone(), None);
                true
            }
            _ => false,
        };
        if inserted {
            self.changed.notify_one();
        }
    }

    fn ack(&self, hash: Option<String>) {
        let changed = match self.acks.lock() {
            Ok(mut acks) => {
                let previous = acks.insert(self.addr.clone(), hash.clone());
                previous != Some(hash)
            }
            Err(_) => false,
        };
        if changed {
            self.changed.notify_one();
        }
    }
}

#[cfg(test)]
#[path = "pusher_tests.rs"]
mod tests;
