//! Hand-rolled metrics: relaxed atomics on the hot path, read all at once ([`Counts`]) for the
//! admin port, which renders them as Prometheus text. Every label value is a static name or a
//! route id from the config (low cardinality).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Request counters of one route, by status class.
#[derive(Debug, Default)]
pub struct RouteCounters {
    by_class: [AtomicU64; 5],
}

impl RouteCounters {
    pub fn record(&self, status: u16) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.by_class[class].fetch_add(1, Relaxed);
    }

    /// Requests by status class, 1xx to 5xx.
    pub fn counts(&self) -> [u64; 5] {
        std::array::from_fn(|class| self.by_class[class].load(Relaxed))
    }
}

/// Upper bounds of the latency histogram, in microseconds.
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
#[derive(Debug, Default)]
pub struct ProxyMetrics {
    routes: Mutex<BTreeMap<Arc<str>, Arc<RouteCounters>>>,
    unmatched: RouteCounters,
    latency: Histogram,
    tokens_issued: AtomicU64,
    tokens_refused: [AtomicU64; Refusal::ALL.len()],
    verifications: [AtomicU64; 4],
    secret_cache_hits: AtomicU64,
    secret_cache_misses: AtomicU64,
    config_applied: AtomicU64,
    config_rejected: AtomicU64,
    config_updated_at: AtomicU64,
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

    pub fn observe_latency(&self, elapsed: Duration) {
        self.latency.observe(elapsed);
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

    pub fn config_applied(&self, unix_secs: u64) {
        self.config_applied.fetch_add(1, Relaxed);
        self.config_updated_at.store(unix_secs, Relaxed);
    }

    pub fn config_rejected(&self) {
        self.config_rejected.fetch_add(1, Relaxed);
    }

    /// Every counter, read now.
    pub fn read(&self) -> Counts {
        let load = |counters: &[AtomicU64]| -> Vec<u64> {
            counters.iter().map(|c| c.load(Relaxed)).collect()
        };
        let routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        let requests = routes
            .iter()
            .map(|(id, c)| (id.clone(), c.counts()))
            .chain(std::iter::once((Arc::from(""), self.unmatched.counts())))
            .collect();
        drop(routes);
        Counts {
            requests,
            latency_buckets: load(&self.latency.buckets),
            latency_count: self.latency.count.load(Relaxed),
            latency_sum_us: self.latency.sum_us.load(Relaxed),
            tokens_issued: self.tokens_issued.load(Relaxed),
            tokens_refused: load(&self.tokens_refused),
            verifications: load(&self.verifications),
            secret_cache_hits: self.secret_cache_hits.load(Relaxed),
            secret_cache_misses: self.secret_cache_misses.load(Relaxed),
            config_applied: self.config_applied.load(Relaxed),
            config_rejected: self.config_rejected.load(Relaxed),
            config_updated_at: self.config_updated_at.load(Relaxed),
        }
    }
}

/// The counters at one instant.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Per route id, in order, then `""` for requests no route matched: requests by status
    /// class, 1xx to 5xx.
    pub requests: Vec<(Arc<str>, [u64; 5])>,
    /// Observations per bucket of [`BUCKETS_US`] (not cumulative).
    pub latency_buckets: Vec<u64>,
    pub latency_count: u64,
    pub latency_sum_us: u64,
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
}

#[cfg(test)]
#[path = "metrics_cost_tests.rs"]
mod cost_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_counters_are_shared_by_id_and_counted_by_status_class() {
        let metrics = ProxyMetrics::default();
        metrics.route("default/api").record(200);
        metrics.route("default/api").record(204);
        metrics.route("default/api").record(502);
        metrics.unmatched().record(404);
        let counts = metrics.read();
        assert_eq!(
            counts.requests,
            [
                (Arc::from("default/api"), [0, 2, 0, 0, 1]),
                (Arc::from(""), [0, 0, 0, 1, 0])
            ]
        );
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
