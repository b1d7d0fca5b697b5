//! Hand-rolled metrics: relaxed atomics on the hot path, rendered as Prometheus text on demand.
//! Every label value is a static name or a route id from the config (low cardinality).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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

    /// Prometheus text exposition; `hash` is the config currently held ("" for none).
    pub fn render(&self, hash: &str) -> String {
        let mut out = String::with_capacity(4096);
        out.push_str(
            "# HELP tollgate_requests_total Requests served, by route and status class.\n",
        );
        out.push_str("# TYPE tollgate_requests_total counter\n");
        let routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        let all = routes
            .iter()
            .map(|(id, c)| (&**id, &**c))
            .chain(std::iter::once(("", &self.unmatched)));
        for (id, counters) in all {
            for (i, class) in CLASSES.iter().enumerate() {
                let n = counters.count(i);
                if n > 0 {
                    let id = escape_label(id);
                    let _ = writeln!(
                        out,
                        "tollgate_requests_total{{route=\"{id}\",status=\"{class}\"}} {n}"
                    );
                }
            }
        }
        drop(routes);

        out.push_str("# HELP tollgate_request_duration_seconds Time to the response head.\n");
        out.push_str("# TYPE tollgate_request_duration_seconds histogram\n");
        let mut cumulative = 0;
        for (i, bound) in BUCKETS_US.iter().enumerate() {
            cumulative += self.latency.buckets[i].load(Relaxed);
            let le = *bound as f64 / 1e6;
            let _ = writeln!(
                out,
                "tollgate_request_duration_seconds_bucket{{le=\"{le}\"}} {cumulative}"
            );
        }
        let count = self.latency.count.load(Relaxed);
        let sum = self.latency.sum_us.load(Relaxed) as f64 / 1e6;
        let _ = writeln!(
            out,
            "tollgate_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(out, "tollgate_request_duration_seconds_sum {sum}");
        let _ = writeln!(out, "tollgate_request_duration_seconds_count {count}");

        counter(
            &mut out,
            "tollgate_tokens_issued_total",
            "Access tokens issued.",
            self.tokens_issued.load(Relaxed),
        );
        out.push_str("# HELP tollgate_tokens_refused_total Token requests refused, by reason.\n");
        out.push_str("# TYPE tollgate_tokens_refused_total counter\n");
        for (i, reason) in Refusal::ALL.iter().enumerate() {
            let n = self.tokens_refused[i].load(Relaxed);
            let _ = writeln!(
                out,
                "tollgate_tokens_refused_total{{reason=\"{}\"}} {n}",
                reason.label()
            );
        }
        out.push_str(
            "# HELP tollgate_token_verifications_total Token checks on protected routes.\n",
        );
        out.push_str("# TYPE tollgate_token_verifications_total counter\n");
        for (i, outcome) in ["ok", "anonymous", "missing", "invalid"].iter().enumerate() {
            let n = self.verifications[i].load(Relaxed);
            let _ = writeln!(
                out,
                "tollgate_token_verifications_total{{result=\"{outcome}\"}} {n}"
            );
        }
        counter(
            &mut out,
            "tollgate_secret_cache_hits_total",
            "Client secrets accepted from the cache of successful verifications.",
            self.secret_cache_hits.load(Relaxed),
        );
        counter(
            &mut out,
            "tollgate_secret_cache_misses_total",
            "Client secrets that needed a full verification.",
            self.secret_cache_misses.load(Relaxed),
        );
        counter(
            &mut out,
            "tollgate_config_applied_total",
            "Snapshots applied.",
            self.config_applied.load(Relaxed),
        );
        counter(
            &mut out,
            "tollgate_config_rejected_total",
            "Snapshots rejected as invalid.",
            self.config_rejected.load(Relaxed),
        );
        out.push_str("# HELP tollgate_config_info The config currently held.\n");
        out.push_str("# TYPE tollgate_config_info gauge\n");
        let _ = writeln!(
            out,
            "tollgate_config_info{{hash=\"{}\"}} 1",
            escape_label(hash)
        );
        out.push_str(
            "# HELP tollgate_config_last_update_timestamp_seconds When the config was last applied.\n",
        );
        out.push_str("# TYPE tollgate_config_last_update_timestamp_seconds gauge\n");
        let _ = writeln!(
            out,
            "tollgate_config_last_update_timestamp_seconds {}",
            self.config_updated_at.load(Relaxed)
        );
        out
    }
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} counter");
    let _ = writeln!(out, "{name} {value}");
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_counters_are_shared_by_id_and_rendered_by_status_class() {
        let metrics = ProxyMetrics::default();
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
        let metrics = ProxyMetrics::default();
        metrics.observe_latency(Duration::from_micros(100));
        metrics.observe_latency(Duration::from_millis(3));
        let text = metrics.render("");
        assert!(text.contains("tollgate_request_duration_seconds_bucket{le=\"0.00025\"} 1"));
        assert!(text.contains("tollgate_request_duration_seconds_bucket{le=\"0.005\"} 2"));
        assert!(text.contains("tollgate_request_duration_seconds_count 2"));
    }

    #[test]
    fn refusals_are_counted_by_their_rfc_code() {
        let metrics = ProxyMetrics::default();
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
