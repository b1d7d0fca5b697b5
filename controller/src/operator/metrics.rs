//! The operator's Prometheus metrics: plain atomics (and a map per proxy) updated as the operator
//! works, copied at scrape time into a `prometheus-client` collector that renders the text
//! exposition format, as the proxy's metrics are.
//!
//! Labels are low-cardinality: the only variable label is the proxy pod address, bounded by the
//! number of proxy replicas (a proxy's series are removed when it leaves the config Service).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet, prometheus_text};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

/// Upper bounds (seconds) of the push duration histogram buckets.
const PUSH_BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// Upper bounds (seconds) of the reconcile duration histogram buckets: a pass translates every
/// object, pushes to every proxy and writes statuses (thousands of writes take tens of seconds
/// at the status write rate).
const RECONCILE_BUCKETS: [f64; 13] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Observations of one histogram: per bucket (not cumulative), count and sum.
#[derive(Clone, Debug, Default)]
struct Observed {
    buckets: [u64; RECONCILE_BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Outcome of one reconcile pass, as a static label value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReconcileOutcome {
    Ok,
    Error,
}

#[derive(Clone, Debug, Default)]
struct ProxySeries {
    pushes: u64,
    failures: u64,
    rejections: u64,
    buckets: [u64; PUSH_BUCKETS.len()],
    duration_sum: f64,
    in_sync: bool,
}

/// Every metric the operator exports (`tollgate_controller_*`; the proxy's are
/// `tollgate_proxy::metrics::Metrics`). Shared by reference (`Arc<ControllerMetrics>`).
#[derive(Default)]
pub struct ControllerMetrics {
    reconciles: AtomicU64,
    reconcile_errors: AtomicU64,
    snapshot_bytes: AtomicU64,
    snapshot_objects: AtomicU64,
    excluded_objects: AtomicU64,
    status_patches: AtomicU64,
    status_patch_errors: AtomicU64,
    leader: AtomicBool,
    ready: AtomicBool,
    secrets_hashing: AtomicU64,
    /// Watch events not yet taken by a pass, and all of them since start.
    queued_events: AtomicU64,
    watch_events: AtomicU64,
    reconcile_durations: Mutex<Observed>,
    proxies: Mutex<BTreeMap<String, ProxySeries>>,
    /// Per watch (e.g. `oauth2credentials.tollgate.dev in all namespaces`): whether it has
    /// listed once, and why it last failed. `/readyz` names the ones not synced.
    watches: Mutex<BTreeMap<String, WatchState>>,
    /// When the election loop last completed a round (liveness).
    election: Mutex<Option<std::time::Instant>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WatchState {
    pub synced: bool,
    pub error: Option<String>,
}

impl ControllerMetrics {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn reconciled(&self, outcome: ReconcileOutcome) {
        self.reconciles.fetch_add(1, Ordering::Relaxed);
        if outcome == ReconcileOutcome::Error {
            self.reconcile_errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A pass took `took` (its outcome is counted by [`Self::reconciled`]).
    pub fn reconcile_took(&self, took: Duration) {
        let secs = took.as_secs_f64();
        let mut observed = self
            .reconcile_durations
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(i) = RECONCILE_BUCKETS.iter().position(|bound| secs <= *bound) {
            observed.buckets[i] += 1;
        }
        observed.count += 1;
        observed.sum += secs;
    }

    /// A watch delivered an event: it waits for the next pass.
    pub fn event_queued(&self) {
        self.queued_events.fetch_add(1, Ordering::Relaxed);
        self.watch_events.fetch_add(1, Ordering::Relaxed);
    }

    /// A pass starts: it takes every event queued so far (they coalesce into it).
    pub fn events_taken(&self) {
        self.queued_events.store(0, Ordering::Relaxed);
    }

    pub fn snapshot_built(&self, bytes: usize, objects: usize, excluded: usize) {
        self.snapshot_bytes.store(bytes as u64, Ordering::Relaxed);
        self.snapshot_objects
            .store(objects as u64, Ordering::Relaxed);
        self.excluded_objects
            .store(excluded as u64, Ordering::Relaxed);
    }

    pub fn status_patched(&self, ok: bool) {
        self.status_patches.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.status_patch_errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn set_leader(&self, leader: bool) {
        self.leader.store(leader, Ordering::Relaxed);
    }

    /// Client secrets being hashed in the background (their credentials are not served yet).
    pub fn set_secrets_hashing(&self, pending: usize) {
        self.secrets_hashing.store(
            u64::try_from(pending).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::Relaxed)
    }

    /// Caches synced: `/readyz` answers 200 from then on.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// The election loop completed a round.
    pub fn election_round(&self) {
        *self.election.lock().unwrap_or_else(|e| e.into_inner()) = Some(std::time::Instant::now());
    }

    /// How long since the election loop last completed a round (`None`: none yet).
    pub fn since_election_round(&self) -> Option<Duration> {
        self.election
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map(|at| at.elapsed())
    }

    fn watches(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, WatchState>> {
        self.watches.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A watch starts (not synced yet).
    pub fn watch_started(&self, watch: &str) {
        self.watches().entry(watch.to_owned()).or_default();
    }

    /// A watch listed its objects (or listed again after a failure).
    pub fn watch_synced(&self, watch: &str) {
        let mut watches = self.watches();
        let state = watches.entry(watch.to_owned()).or_default();
        state.synced = true;
        state.error = None;
    }

    /// A watch failed; it retries with backoff.
    pub fn watch_failed(&self, watch: &str, error: String) {
        self.watches().entry(watch.to_owned()).or_default().error = Some(error);
    }

    /// The watches that have not listed yet, with their last error.
    pub fn unsynced_watches(&self) -> Vec<(String, Option<String>)> {
        self.watches()
            .iter()
            .filter(|(_, s)| !s.synced)
            .map(|(name, s)| (name.clone(), s.error.clone()))
            .collect()
    }

    /// One push attempt to a proxy (a `POST /config`, or the `GET` that found it current).
    pub fn push_finished(&self, proxy: &str, took: Duration, outcome: PushMetric) {
        let Ok(mut proxies) = self.proxies.lock() else {
            return;
        };
        let series = proxies.entry(proxy.to_owned()).or_default();
        series.pushes += 1;
        let secs = took.as_secs_f64();
        series.duration_sum += secs;
        for (bucket, bound) in series.buckets.iter_mut().zip(PUSH_BUCKETS) {
            if secs <= bound {
                *bucket += 1;
            }
        }
        match outcome {
            PushMetric::InSync => series.in_sync = true,
            PushMetric::Failed => {
                series.failures += 1;
                series.in_sync = false;
            }
            PushMetric::Rejected => {
                series.rejections += 1;
                series.in_sync = false;
            }
        }
    }

    /// Drops the series of a proxy that left the config Service (keeps cardinality bounded).
    pub fn forget_proxy(&self, proxy: &str) {
        if let Ok(mut proxies) = self.proxies.lock() {
            proxies.remove(proxy);
        }
    }

    /// The Prometheus text exposition of every metric: the values are copied out at scrape
    /// time and encoded by `prometheus-client` (a custom [`Collector`]).
    pub fn render(&self) -> String {
        let load = |v: &AtomicU64| v.load(Ordering::Relaxed);
        let flag = |v: &AtomicBool| u64::from(v.load(Ordering::Relaxed));
        let proxies = self
            .proxies
            .lock()
            .map(|proxies| {
                proxies
                    .iter()
                    .map(|(proxy, series)| (proxy.clone(), series.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let scrape = Scrape {
            counters: [
                (
                    "tollgate_controller_reconciles",
                    "Reconcile passes (translate, push, status).",
                    load(&self.reconciles),
                ),
                (
                    "tollgate_controller_reconcile_errors",
                    "Reconcile passes that failed.",
                    load(&self.reconcile_errors),
                ),
                (
                    "tollgate_controller_watch_events",
                    "Events delivered by the watches (each wakes the reconcile loop).",
                    load(&self.watch_events),
                ),
            ],
            gauges: [
                (
                    "tollgate_controller_snapshot_bytes",
                    "Size of the current snapshot in bytes.",
                    load(&self.snapshot_bytes),
                ),
                (
                    "tollgate_controller_snapshot_objects",
                    "Objects in the current snapshot.",
                    load(&self.snapshot_objects),
                ),
                (
                    "tollgate_controller_excluded_objects",
                    "Objects left out of the snapshot because of a problem.",
                    load(&self.excluded_objects),
                ),
                (
                    "tollgate_controller_queue_depth",
                    "Watch events waiting for the next reconcile pass (one pass takes them all).",
                    load(&self.queued_events),
                ),
            ],
            status_counters: [
                (
                    "tollgate_controller_status_patches",
                    "Status writes (server-side apply).",
                    load(&self.status_patches),
                ),
                (
                    "tollgate_controller_status_patch_errors",
                    "Status writes that failed.",
                    load(&self.status_patch_errors),
                ),
            ],
            state_gauges: [
                (
                    "tollgate_controller_leader",
                    "1 while this replica holds the leader Lease.",
                    flag(&self.leader),
                ),
                (
                    "tollgate_controller_ready",
                    "1 once every cache has synced.",
                    flag(&self.ready),
                ),
                (
                    "tollgate_controller_secrets_hashing",
                    "Client secrets being hashed (argon2id); their credentials are served once done.",
                    load(&self.secrets_hashing),
                ),
            ],
            reconcile_durations: self
                .reconcile_durations
                .lock()
                .map(|o| o.clone())
                .unwrap_or_default(),
            proxies,
        };
        let mut registry = Registry::default();
        registry.register_collector(Box::new(scrape));
        let mut out = String::with_capacity(2048);
        // Writing into a `String` cannot fail.
        let _ = prometheus_text::encode(&mut out, &registry);
        out
    }
}

/// Name (without a counter's `_total`, which the encoder adds), help and value of one series.
type Series = (&'static str, &'static str, u64);

/// The values of one scrape, in the order they are rendered.
#[derive(Debug)]
struct Scrape {
    counters: [Series; 3],
    gauges: [Series; 4],
    status_counters: [Series; 2],
    state_gauges: [Series; 3],
    reconcile_durations: Observed,
    proxies: Vec<(String, ProxySeries)>,
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let typed = [
            (&self.counters[..], MetricType::Counter),
            (&self.gauges[..], MetricType::Gauge),
            (&self.status_counters[..], MetricType::Counter),
            (&self.state_gauges[..], MetricType::Gauge),
        ];
        for (series, metric_type) in typed {
            for (name, help, value) in series {
                let metric = encoder.encode_descriptor(name, help, None, metric_type)?;
                if metric_type == MetricType::Counter {
                    ConstCounter::new(*value).encode(metric)?;
                } else {
                    ConstGauge::new(*value).encode(metric)?;
                }
            }
        }
        let reconciles = &self.reconcile_durations;
        let buckets: Vec<(f64, u64)> = RECONCILE_BUCKETS
            .iter()
            .copied()
            .zip(reconciles.buckets)
            .collect();
        encoder
            .encode_descriptor(
                "tollgate_controller_reconcile_duration_seconds",
                "Duration of reconcile passes (translate, push, status writes).",
                None,
                MetricType::Histogram,
            )?
            .encode_histogram::<NoLabelSet>(reconciles.sum, reconciles.count, &buckets, None)?;
        let mut durations = encoder.encode_descriptor(
            "tollgate_controller_push_duration_seconds",
            "Duration of config pushes per proxy.",
            None,
            MetricType::Histogram,
        )?;
        for (proxy, s) in &self.proxies {
            // The series keeps cumulative counts; the encoder wants each bucket's own.
            let mut below = 0;
            let buckets: Vec<(f64, u64)> = PUSH_BUCKETS
                .iter()
                .zip(s.buckets)
                .map(|(bound, cumulative)| {
                    let own = cumulative - below;
                    below = cumulative;
                    (*bound, own)
                })
                .collect();
            durations
                .encode_family(&[("proxy", proxy.as_str())])?
                .encode_histogram::<NoLabelSet>(s.duration_sum, s.pushes, &buckets, None)?;
        }
        let per_proxy: [PerProxy; 3] = [
            (
                "tollgate_controller_push_failures",
                "Failed pushes per proxy (network, 5xx, 401), retried with backoff.",
                MetricType::Counter,
                |s| s.failures,
            ),
            (
                "tollgate_controller_push_rejections",
                "Pushes a proxy refused as invalid (400/413, retried with backoff) or as superseded by a newer leader (409).",
                MetricType::Counter,
                |s| s.rejections,
            ),
            (
                "tollgate_controller_proxy_in_sync",
                "1 when the proxy holds the current snapshot.",
                MetricType::Gauge,
                |s| u64::from(s.in_sync),
            ),
        ];
        for (name, help, metric_type, get) in per_proxy {
            let mut metric = encoder.encode_descriptor(name, help, None, metric_type)?;
            for (proxy, s) in &self.proxies {
                let labels = [("proxy", proxy.as_str())];
                let labelled = metric.encode_family(&labels)?;
                if metric_type == MetricType::Counter {
                    ConstCounter::new(get(s)).encode(labelled)?;
                } else {
                    ConstGauge::new(get(s)).encode(labelled)?;
                }
            }
        }
        Ok(())
    }
}

/// Name (without `_total`), help, type and value of one per-proxy series.
type PerProxy = (
    &'static str,
    &'static str,
    MetricType,
    fn(&ProxySeries) -> u64,
);

/// How a push attempt ended, for the metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushMetric {
    InSync,
    Failed,
    Rejected,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_metrics_carry_proxy_labels_and_counts() {
        let m = ControllerMetrics::new();
        m.reconciled(ReconcileOutcome::Ok);
        m.reconciled(ReconcileOutcome::Error);
        m.snapshot_built(1234, 7, 1);
        m.set_leader(true);
        m.reconcile_took(Duration::from_millis(30));
        m.reconcile_took(Duration::from_secs(100));
        m.event_queued();
        m.event_queued();
        m.push_finished(
            "10.0.0.1:8100",
            Duration::from_millis(20),
            PushMetric::InSync,
        );
        m.push_finished(
            "10.0.0.2:8100",
            Duration::from_millis(3),
            PushMetric::Failed,
        );
        let text = m.render();
        for line in [
            "tollgate_controller_reconciles_total 2",
            "tollgate_controller_reconcile_errors_total 1",
            "tollgate_controller_snapshot_bytes 1234",
            "tollgate_controller_snapshot_objects 7",
            "tollgate_controller_leader 1",
            "tollgate_controller_push_failures_total{proxy=\"10.0.0.2:8100\"} 1",
            "tollgate_controller_proxy_in_sync{proxy=\"10.0.0.1:8100\"} 1",
            "tollgate_controller_push_duration_seconds_bucket{proxy=\"10.0.0.1:8100\",le=\"0.025\"} 1",
            "tollgate_controller_push_duration_seconds_bucket{proxy=\"10.0.0.1:8100\",le=\"0.01\"} 0",
            "tollgate_controller_reconcile_duration_seconds_bucket{le=\"0.025\"} 0",
            "tollgate_controller_reconcile_duration_seconds_bucket{le=\"0.05\"} 1",
            "tollgate_controller_reconcile_duration_seconds_bucket{le=\"60\"} 1",
            "tollgate_controller_reconcile_duration_seconds_bucket{le=\"+Inf\"} 2",
            "tollgate_controller_reconcile_duration_seconds_count 2",
            "tollgate_controller_queue_depth 2",
            "tollgate_controller_watch_events_total 2",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        m.events_taken();
        let text = m.render();
        assert!(text.contains("tollgate_controller_queue_depth 0"), "{text}");
        assert!(
            text.contains("tollgate_controller_watch_events_total 2"),
            "{text}"
        );
    }

    #[test]
    fn a_forgotten_proxy_disappears_from_the_metrics() {
        let m = ControllerMetrics::new();
        m.push_finished(
            "10.0.0.9:8100",
            Duration::from_millis(1),
            PushMetric::Rejected,
        );
        assert!(m.render().contains("10.0.0.9:8100"));
        m.forget_proxy("10.0.0.9:8100");
        assert!(!m.render().contains("10.0.0.9:8100"));
    }
}
