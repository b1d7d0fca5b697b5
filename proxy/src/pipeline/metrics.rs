//! Hand-rolled metrics: relaxed atomics on the hot path, read all at once ([`Counts`]) for the
//! admin port, which renders them as Prometheus text. Every label value is a static name, a
//! route id from the config, or (opt-in, at most [`MAX_CONSUMER_SERIES`]) a consumer from the
//! config: the label sets are bounded by the config, never by what clients send.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use tollgate_core::snapshot::Consumer;

use crate::shared::fx_hash::FxBuild;

/// Requests by status class, 1xx to 5xx.
#[derive(Debug, Default)]
pub struct StatusCounters {
    by_class: [AtomicU64; 5],
}

impl StatusCounters {
    pub fn record(&self, status: u16) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.by_class[class].fetch_add(1, Relaxed);
    }

    /// Requests by status class, 1xx to 5xx.
    pub fn counts(&self) -> [u64; 5] {
        std::array::from_fn(|class| self.by_class[class].load(Relaxed))
    }
}

/// The counters of one route: requests by status class, the time to the response head and the
/// time the backend took to answer (when the request was forwarded).
#[derive(Debug, Default)]
pub struct RouteCounters {
    requests: StatusCounters,
    duration: Histogram,
    upstream: Histogram,
}

impl RouteCounters {
    /// A request answered with `status`, `elapsed` after it arrived.
    pub fn finish(&self, status: u16, elapsed: Duration) {
        self.requests.record(status);
        self.duration.observe(elapsed);
    }

    /// The backend answered (its response head arrived, or the exchange failed) `elapsed` after
    /// the request was sent to it.
    pub fn upstream(&self, elapsed: Duration) {
        self.upstream.observe(elapsed);
    }

    fn read(&self, id: Arc<str>) -> RouteCounts {
        RouteCounts {
            id,
            requests: self.requests.counts(),
            duration: self.duration.read(),
            upstream: self.upstream.read(),
        }
    }
}

/// Upper bounds of the latency histograms, in microseconds.
pub const BUCKETS_US: [u64; 14] = [
    250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000, 10_000_000,
];

#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS_US.len()],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Histogram {
    fn observe(&self, elapsed: Duration) {
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        if let Some(i) = BUCKETS_US.iter().position(|&bound| us <= bound) {
            self.buckets[i].fetch_add(1, Relaxed);
        }
        self.count.fetch_add(1, Relaxed);
        self.sum_us.fetch_add(us, Relaxed);
    }

    fn read(&self) -> HistogramCounts {
        HistogramCounts {
            buckets: std::array::from_fn(|i| self.buckets[i].load(Relaxed)),
            count: self.count.load(Relaxed),
            sum_us: self.sum_us.load(Relaxed),
        }
    }
}

/// One histogram at one instant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HistogramCounts {
    /// Observations per bucket of [`BUCKETS_US`] (not cumulative; the rest were above the last).
    pub buckets: [u64; BUCKETS_US.len()],
    pub count: u64,
    pub sum_us: u64,
}

/// Consumers with series of their own under `--metrics-per-consumer`; the others share the
/// `other` series. With five status classes that is at most 505 series per proxy: about what a
/// few dozen routes cost, so turning the option on cannot multiply a Prometheus' load by the
/// number of consumers (which can be tens of thousands).
pub const MAX_CONSUMER_SERIES: usize = 100;

/// The `consumer` label of the consumers beyond [`MAX_CONSUMER_SERIES`] (a Consumer's label is
/// its `namespace/name`, which always holds a slash).
pub const OTHER_CONSUMERS: &str = "other";

/// The per-consumer series: consumers get one, first come first served, until
/// [`MAX_CONSUMER_SERIES`]; a consumer that leaves the config frees its place.
#[derive(Debug, Default)]
struct ConsumerSeries {
    enabled: AtomicBool,
    /// Consumer id → its label and counters. Read on every authenticated request (one load,
    /// no lock); replaced, under `adding`, when a consumer is first seen.
    by_id: ArcSwap<HashMap<Box<str>, Arc<ConsumerCounters>, FxBuild>>,
    adding: Mutex<()>,
    other: Arc<ConsumerCounters>,
}

/// The requests of one consumer (or of the consumers beyond the bound), by status class.
#[derive(Debug, Default)]
pub struct ConsumerCounters {
    label: Box<str>,
    requests: StatusCounters,
}

impl ConsumerCounters {
    pub fn record(&self, status: u16) {
        self.requests.record(status);
    }
}

impl ConsumerSeries {
    fn new() -> Self {
        Self {
            other: Arc::new(ConsumerCounters {
                label: OTHER_CONSUMERS.into(),
                requests: StatusCounters::default(),
            }),
            ..Self::default()
        }
    }

    fn of(&self, consumer: &Consumer) -> Option<Arc<ConsumerCounters>> {
        if !self.enabled.load(Relaxed) {
            return None;
        }
        if let Some(found) = self.by_id.load().get(consumer.id.as_str()) {
            return Some(found.clone());
        }
        let _adding = self.adding.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.by_id.load_full();
        if let Some(found) = current.get(consumer.id.as_str()) {
            return Some(found.clone());
        }
        if current.len() >= MAX_CONSUMER_SERIES {
            return Some(self.other.clone());
        }
        let counters = Arc::new(ConsumerCounters {
            label: consumer.object.as_str().into(),
            requests: StatusCounters::default(),
        });
        let mut next = HashMap::clone(&current);
        next.insert(consumer.id.as_str().into(), counters.clone());
        self.by_id.store(Arc::new(next));
        Some(counters)
    }

    /// Drops the series of the consumers `keep` refuses (they left the config).
    fn retain(&self, keep: impl Fn(&str) -> bool) {
        let _adding = self.adding.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.by_id.load_full();
        if current.keys().all(|id| keep(id)) {
            return;
        }
        let next = current
            .iter()
            .filter(|(id, _)| keep(id))
            .map(|(id, c)| (id.clone(), c.clone()))
            .collect();
        self.by_id.store(Arc::new(next));
    }

    fn read(&self) -> Vec<(Box<str>, [u64; 5])> {
        if !self.enabled.load(Relaxed) {
            return Vec::new();
        }
        let mut rows: Vec<_> = self
            .by_id
            .load()
            .values()
            .map(|c| (c.label.clone(), c.requests.counts()))
            .collect();
        rows.sort();
        rows.push((self.other.label.clone(), self.other.requests.counts()));
        rows
    }
}

/// Why the token endpoint refused a request (the RFC 6749 error code, or a proxy reason).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    AccessDenied,
    InvalidMethod,
    Overloaded,
    Throttled,
    Other,
}

impl Refusal {
    pub const ALL: [Refusal; 11] = [
        Self::InvalidRequest,
        Self::InvalidClient,
        Self::InvalidGrant,
        Self::UnauthorizedClient,
        Self::UnsupportedGrantType,
        Self::InvalidScope,
        Self::AccessDenied,
        Self::InvalidMethod,
        Self::Overloaded,
        Self::Throttled,
        Self::Other,
    ];

    pub fn from_code(code: &str) -> Self {
        match code {
            "invalid_request" => Self::InvalidRequest,
            "invalid_client" => Self::InvalidClient,
            "invalid_grant" => Self::InvalidGrant,
            "unauthorized_client" => Self::UnauthorizedClient,
            "unsupported_grant_type" => Self::UnsupportedGrantType,
            "invalid_scope" => Self::InvalidScope,
            "access_denied" => Self::AccessDenied,
            "invalid_method" => Self::InvalidMethod,
            _ => Self::Other,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::InvalidMethod => "invalid_method",
            Self::Overloaded => "overloaded",
            Self::Throttled => "throttled",
            Self::Other => "other",
        }
    }
}

/// Outcome of verifying a request on a protected route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verification {
    Ok,
    Anonymous,
    Missing,
    Invalid,
}

/// The proxy's counters (the controller has its own metrics).
#[derive(Debug)]
pub struct ProxyMetrics {
    routes: Mutex<BTreeMap<Arc<str>, Arc<RouteCounters>>>,
    unmatched: RouteCounters,
    consumers: ConsumerSeries,
    tokens_issued: AtomicU64,
    tokens_refused: [AtomicU64; Refusal::ALL.len()],
    verifications: [AtomicU64; 4],
    secret_cache_hits: AtomicU64,
    secret_cache_misses: AtomicU64,
    config_applied: AtomicU64,
    config_rejected: AtomicU64,
    config_updated_at: AtomicU64,
    config_generation: AtomicU64,
    /// Open client connections per worker (kept by the workers, one entry per worker).
    worker_loads: Mutex<Option<Arc<[AtomicUsize]>>>,
    /// Access log lines dropped because stdout did not keep up (added by the log's writer).
    access_log_dropped: Arc<AtomicU64>,
}

impl Default for ProxyMetrics {
    fn default() -> Self {
        Self {
            routes: Mutex::default(),
            unmatched: RouteCounters::default(),
            consumers: ConsumerSeries::new(),
            tokens_issued: AtomicU64::default(),
            tokens_refused: Default::default(),
            verifications: Default::default(),
            secret_cache_hits: AtomicU64::default(),
            secret_cache_misses: AtomicU64::default(),
            config_applied: AtomicU64::default(),
            config_rejected: AtomicU64::default(),
            config_updated_at: AtomicU64::default(),
            config_generation: AtomicU64::default(),
            worker_loads: Mutex::default(),
            access_log_dropped: Arc::default(),
        }
    }
}

impl ProxyMetrics {
    /// The counters of a route, created on first use and kept across config swaps.
    pub fn route(&self, id: &str) -> Arc<RouteCounters> {
        let mut routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(counters) = routes.get(id) {
            return counters.clone();
        }
        let counters = Arc::new(RouteCounters::default());
        routes.insert(Arc::from(id), counters.clone());
        counters
    }

    pub fn unmatched(&self) -> &RouteCounters {
        &self.unmatched
    }

    /// Series per consumer (`--metrics-per-consumer`), off by default.
    pub fn set_per_consumer(&self, enabled: bool) {
        self.consumers.enabled.store(enabled, Relaxed);
    }

    /// The counters of `consumer` (`None` unless per-consumer series are on).
    pub fn consumer(&self, consumer: &Consumer) -> Option<Arc<ConsumerCounters>> {
        self.consumers.of(consumer)
    }

    /// Drops the series of the consumers `keep` refuses (called with each new snapshot).
    pub fn retain_consumers(&self, keep: impl Fn(&str) -> bool) {
        self.consumers.retain(keep);
    }

    pub fn token_issued(&self) {
        self.tokens_issued.fetch_add(1, Relaxed);
    }

    pub fn token_refused(&self, reason: Refusal) {
        let i = Refusal::ALL.iter().position(|r| *r == reason).unwrap_or(0);
        self.tokens_refused[i].fetch_add(1, Relaxed);
    }

    pub fn verification(&self, outcome: Verification) {
        self.verifications[outcome as usize].fetch_add(1, Relaxed);
    }

    pub fn secret_cache(&self, hit: bool) {
        if hit {
            self.secret_cache_hits.fetch_add(1, Relaxed);
        } else {
            self.secret_cache_misses.fetch_add(1, Relaxed);
        }
    }

    /// A snapshot was applied at `unix_secs`: the `generation`-th this process compiled.
    pub fn config_applied(&self, unix_secs: u64, generation: u64) {
        self.config_applied.fetch_add(1, Relaxed);
        self.config_updated_at.store(unix_secs, Relaxed);
        self.config_generation.store(generation, Relaxed);
    }

    pub fn config_rejected(&self) {
        self.config_rejected.fetch_add(1, Relaxed);
    }

    /// The workers' open-connection counts, read at each scrape.
    pub fn set_worker_loads(&self, loads: Arc<[AtomicUsize]>) {
        *self.worker_loads.lock().unwrap_or_else(|e| e.into_inner()) = Some(loads);
    }

    /// The count of dropped access log lines, for the access log's writer to add to.
    pub fn access_log_dropped_counter(&self) -> Arc<AtomicU64> {
        self.access_log_dropped.clone()
    }

    /// Every counter, read now.
    pub fn read(&self) -> Counts {
        let load = |counters: &[AtomicU64]| -> Vec<u64> {
            counters.iter().map(|c| c.load(Relaxed)).collect()
        };
        let routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        let routes_read = routes
            .iter()
            .map(|(id, c)| c.read(id.clone()))
            .chain(std::iter::once(self.unmatched.read(Arc::from(""))))
            .collect();
        drop(routes);
        let worker_connections = self
            .worker_loads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|loads| loads.iter().map(|l| l.load(Relaxed) as u64).collect())
            .unwrap_or_default();
        Counts {
            worker_connections,
            routes: routes_read,
            consumers: self.consumers.read(),
            tokens_issued: self.tokens_issued.load(Relaxed),
            tokens_refused: load(&self.tokens_refused),
            verifications: load(&self.verifications),
            secret_cache_hits: self.secret_cache_hits.load(Relaxed),
            secret_cache_misses: self.secret_cache_misses.load(Relaxed),
            config_applied: self.config_applied.load(Relaxed),
            config_rejected: self.config_rejected.load(Relaxed),
            config_updated_at: self.config_updated_at.load(Relaxed),
            config_generation: self.config_generation.load(Relaxed),
            access_log_dropped: self.access_log_dropped.load(Relaxed),
        }
    }
}

/// The counters at one instant.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Per route id, in order, then `""` for requests no route matched.
    pub routes: Vec<RouteCounts>,
    /// Per consumer label, in order, then `other` (empty unless per-consumer series are on):
    /// requests by status class, 1xx to 5xx.
    pub consumers: Vec<(Box<str>, [u64; 5])>,
    pub tokens_issued: u64,
    /// Per [`Refusal::ALL`].
    pub tokens_refused: Vec<u64>,
    /// Per [`Verification`]: ok, anonymous, missing, invalid.
    pub verifications: Vec<u64>,
    pub secret_cache_hits: u64,
    pub secret_cache_misses: u64,
    pub config_applied: u64,
    pub config_rejected: u64,
    /// Unix seconds of the last applied snapshot.
    pub config_updated_at: u64,
    /// Which snapshot of this process that is (1 for the first; 0 before any).
    pub config_generation: u64,
    /// Open client connections per worker (empty before the workers start).
    pub worker_connections: Vec<u64>,
    /// Access log lines dropped because stdout did not keep up.
    pub access_log_dropped: u64,
}

/// One route's counters at one instant.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteCounts {
    pub id: Arc<str>,
    /// Requests by status class, 1xx to 5xx.
    pub requests: [u64; 5],
    /// Time to the response head.
    pub duration: HistogramCounts,
    /// Time the backend took to answer.
    pub upstream: HistogramCounts,
}

#[cfg(test)]
#[path = "metrics_cost_tests.rs"]
mod cost_tests;

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn route_counters_are_shared_by_id_and_counted_by_status_class() {
        let metrics = ProxyMetrics::default();
        metrics.route("default/api").finish(200, MS);
        metrics.route("default/api").finish(204, MS);
        metrics.route("default/api").finish(502, 3 * MS);
        metrics.route("default/api").upstream(2 * MS);
        metrics.unmatched().finish(404, MS);
        let counts = metrics.read();
        let summary: Vec<_> = counts
            .routes
            .iter()
            .map(|r| (&*r.id, r.requests, r.duration.count, r.upstream.count))
            .collect();
        assert_eq!(
            summary,
            [
                ("default/api", [0, 2, 0, 0, 1], 3, 1),
                ("", [0, 0, 0, 1, 0], 1, 0)
            ]
        );
        let api = &counts.routes[0];
        assert_eq!(api.duration.sum_us, 5_000);
        // 1 ms falls in the 1 ms bucket (bounds are inclusive), 3 ms in the 5 ms one.
        let bucket = |us| BUCKETS_US.iter().position(|b| *b == us).expect("a bound");
        assert_eq!(api.duration.buckets[bucket(1_000)], 2);
        assert_eq!(api.duration.buckets[bucket(5_000)], 1);
        assert_eq!(api.upstream.buckets[bucket(2_500)], 1);
    }

    fn consumer(i: usize) -> Consumer {
        Consumer {
            id: format!("id-{i}"),
            object: format!("shop/c{i}"),
            username: format!("c{i}"),
            custom_id: None,
            groups: Vec::new(),
        }
    }

    #[test]
    fn consumer_series_are_off_unless_enabled() {
        let metrics = ProxyMetrics::default();
        assert!(metrics.consumer(&consumer(1)).is_none());
        assert!(metrics.read().consumers.is_empty());
    }

    #[test]
    fn consumers_beyond_the_bound_share_the_other_series_until_one_leaves() {
        let metrics = ProxyMetrics::default();
        metrics.set_per_consumer(true);
        for i in 0..MAX_CONSUMER_SERIES + 10 {
            let counters = metrics.consumer(&consumer(i)).expect("enabled");
            counters.record(200);
            // The same consumer again finds the same counters.
            metrics.consumer(&consumer(i)).expect("enabled").record(401);
        }
        let counts = metrics.read();
        assert_eq!(counts.consumers.len(), MAX_CONSUMER_SERIES + 1);
        let other = counts.consumers.last().expect("other");
        assert_eq!(&*other.0, OTHER_CONSUMERS);
        assert_eq!(other.1, [0, 10, 0, 10, 0]);
        let first = counts
            .consumers
            .iter()
            .find(|(label, _)| &**label == "shop/c0")
            .expect("the first consumer has its own series");
        assert_eq!(first.1, [0, 1, 0, 1, 0]);
        assert!(counts.consumers.iter().all(|(l, _)| &**l != "shop/c105"));

        // c0 leaves the config: its place goes to the next consumer seen.
        metrics.retain_consumers(|id| id != "id-0");
        metrics
            .consumer(&consumer(105))
            .expect("enabled")
            .record(500);
        let counts = metrics.read();
        assert!(counts.consumers.iter().all(|(l, _)| &**l != "shop/c0"));
        let late = counts
            .consumers
            .iter()
            .find(|(label, _)| &**label == "shop/c105")
            .expect("a freed place is taken");
        assert_eq!(late.1, [0, 0, 0, 0, 1]);
        assert_eq!(counts.consumers.len(), MAX_CONSUMER_SERIES + 1);
    }

    #[test]
    fn refusals_are_counted_by_their_rfc_code() {
        let metrics = ProxyMetrics::default();
        metrics.token_refused(Refusal::from_code("invalid_client"));
        metrics.token_refused(Refusal::from_code("something else"));
        let counts = metrics.read();
        let refused = |r: Refusal| {
            let i = Refusal::ALL.iter().position(|x| *x == r).expect("listed");
            counts.tokens_refused[i]
        };
        assert_eq!(refused(Refusal::InvalidClient), 1);
        assert_eq!(refused(Refusal::Other), 1);
        assert_eq!(counts.tokens_refused.iter().sum::<u64>(), 2);
    }
}
