//! The proxy's metrics: relaxed atomics on the hot path, copied at scrape time into a
//! `prometheus-client` collector that renders the Prometheus text format. Every label value is a
//! static name or a route id from the config (low cardinality).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet, prometheus_text};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

/// Status classes counted per route: 1xx..5xx.
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

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

    pub fn count(&self, class: usize) -> u64 {
        self.by_class[class].load(Relaxed)
    }

    fn counts(&self) -> [u64; 5] {
        std::array::from_fn(|class| self.count(class))
    }
}

/// Upper bounds of the latency histogram, in microseconds.
const BUCKETS_US: [u64; 14] = [
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
    const ALL: [Refusal; 11] = [
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

#[derive(Debug, Default)]
pub struct Metrics {
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

impl Metrics {
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

    /// Prometheus text exposition; `hash` is the config currently held ("" for none). The
    /// counters are copied out of their atomics here, at scrape time, and encoded by
    /// `prometheus-client` (a custom [`Collector`]): the request path never leaves its atomics.
    pub fn render(&self, hash: &str) -> String {
        let routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        let requests = routes
            .iter()
            .map(|(id, c)| (id.to_string(), c.counts()))
            .chain(std::iter::once((String::new(), self.unmatched.counts())))
            .collect();
        drop(routes);
        let load = |counters: &[AtomicU64]| counters.iter().map(|c| c.load(Relaxed)).collect();
        let scrape = Scrape {
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
            config_hash: hash.to_owned(),
            config_updated_at: self.config_updated_at.load(Relaxed),
        };
        let mut registry = Registry::default();
        registry.register_collector(Box::new(scrape));
        let mut out = String::with_capacity(4096);
        // Writing into a `String` cannot fail.
        let _ = prometheus_text::encode(&mut out, &registry);
        out
    }
}

/// The values of one scrape, copied out of the atomics.
#[derive(Debug)]
struct Scrape {
    /// (route id, "" for requests no route matched; counts by status class).
    requests: Vec<(String, [u64; 5])>,
    /// Per bucket of [`BUCKETS_US`], not cumulative.
    latency_buckets: Vec<u64>,
    latency_count: u64,
    latency_sum_us: u64,
    tokens_issued: u64,
    /// In the order of [`Refusal::ALL`].
    tokens_refused: Vec<u64>,
    /// In the order of [`Verification`].
    verifications: Vec<u64>,
    secret_cache_hits: u64,
    secret_cache_misses: u64,
    config_applied: u64,
    config_rejected: u64,
    config_hash: String,
    config_updated_at: u64,
}

/// Names are given without the `_total` of counters and the `_info` of infos: the encoder adds
/// them. Help texts are written as given.
impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut requests = encoder.encode_descriptor(
            "tollgate_requests",
            "Requests served, by route and status class.",
            None,
            MetricType::Counter,
        )?;
        for (route, counts) in &self.requests {
            for (class, n) in CLASSES.iter().zip(counts).filter(|(_, n)| **n > 0) {
                let labels = [("route", route.as_str()), ("status", *class)];
                ConstCounter::new(*n).encode(requests.encode_family(&labels)?)?;
            }
        }
        let buckets: Vec<(f64, u64)> = BUCKETS_US
            .iter()
            .zip(&self.latency_buckets)
            .map(|(bound, n)| (*bound as f64 / 1e6, *n))
            .collect();
        encoder
            .encode_descriptor(
                "tollgate_request_duration_seconds",
                "Time to the response head.",
                None,
                MetricType::Histogram,
            )?
            .encode_histogram::<NoLabelSet>(
                self.latency_sum_us as f64 / 1e6,
                self.latency_count,
                &buckets,
                None,
            )?;
        counter(
            &mut encoder,
            "tollgate_tokens_issued",
            "Access tokens issued.",
            self.tokens_issued,
        )?;
        let mut refused = encoder.encode_descriptor(
            "tollgate_tokens_refused",
            "Token requests refused, by reason.",
            None,
            MetricType::Counter,
        )?;
        for (reason, n) in Refusal::ALL.iter().zip(&self.tokens_refused) {
            ConstCounter::new(*n).encode(refused.encode_family(&[("reason", reason.label())])?)?;
        }
        let mut verifications = encoder.encode_descriptor(
            "tollgate_token_verifications",
            "Token checks on protected routes.",
            None,
            MetricType::Counter,
        )?;
        for (result, n) in ["ok", "anonymous", "missing", "invalid"]
            .iter()
            .zip(&self.verifications)
        {
            ConstCounter::new(*n).encode(verifications.encode_family(&[("result", *result)])?)?;
        }
        counter(
            &mut encoder,
            "tollgate_secret_cache_hits",
            "Client secrets accepted from the cache of successful verifications.",
            self.secret_cache_hits,
        )?;
        counter(
            &mut encoder,
            "tollgate_secret_cache_misses",
            "Client secrets that needed a full verification.",
            self.secret_cache_misses,
        )?;
        counter(
            &mut encoder,
            "tollgate_config_applied",
            "Snapshots applied.",
            self.config_applied,
        )?;
        counter(
            &mut encoder,
            "tollgate_config_rejected",
            "Snapshots rejected as invalid.",
            self.config_rejected,
        )?;
        encoder
            .encode_descriptor(
                "tollgate_config",
                "The config currently held.",
                None,
                MetricType::Info,
            )?
            .encode_info(&[("hash", self.config_hash.as_str())])?;
        ConstGauge::new(self.config_updated_at).encode(encoder.encode_descriptor(
            "tollgate_config_last_update_timestamp_seconds",
            "When the config was last applied.",
            None,
            MetricType::Gauge,
        )?)
    }
}

/// One counter without labels (`name` without `_total`).
fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    ConstCounter::new(value).encode(encoder.encode_descriptor(
        name,
        help,
        None,
        MetricType::Counter,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_counters_are_shared_by_id_and_rendered_by_status_class() {
        let metrics = Metrics::default();
        metrics.route("default/api").record(200);
        metrics.route("default/api").record(204);
        metrics.route("default/api").record(502);
        metrics.unmatched().record(404);
        let text = metrics.render("abc");
        assert!(text.contains("tollgate_requests_total{route=\"default/api\",status=\"2xx\"} 2"));
        assert!(text.contains("tollgate_requests_total{route=\"default/api\",status=\"5xx\"} 1"));
        assert!(text.contains("tollgate_requests_total{route=\"\",status=\"4xx\"} 1"));
        assert!(text.contains("tollgate_config_info{hash=\"abc\"} 1"));
    }

    #[test]
    fn latency_histogram_is_cumulative() {
        let metrics = Metrics::default();
        metrics.observe_latency(Duration::from_micros(100));
        metrics.observe_latency(Duration::from_millis(3));
        let text = metrics.render("");
        assert!(text.contains("tollgate_request_duration_seconds_bucket{le=\"0.00025\"} 1"));
        assert!(text.contains("tollgate_request_duration_seconds_bucket{le=\"0.005\"} 2"));
        assert!(text.contains("tollgate_request_duration_seconds_count 2"));
    }

    #[test]
    fn refusals_are_counted_by_their_rfc_code() {
        let metrics = Metrics::default();
        metrics.token_refused(Refusal::from_code("invalid_client"));
        metrics.token_refused(Refusal::from_code("something else"));
        metrics.token_issued();
        metrics.secret_cache(true);
        let text = metrics.render("");
        assert!(text.contains("tollgate_tokens_refused_total{reason=\"invalid_client\"} 1"));
        assert!(text.contains("tollgate_tokens_refused_total{reason=\"other\"} 1"));
        assert!(text.contains("tollgate_tokens_issued_total 1"));
        assert!(text.contains("tollgate_secret_cache_hits_total 1"));
    }
}
