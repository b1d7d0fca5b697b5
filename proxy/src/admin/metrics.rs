//! `GET /metrics`: the proxy's counters ([`Counts`], relaxed atomics on the request path)
//! copied at scrape time into a `prometheus-client` collector, which writes the Prometheus text
//! format. Every label value is a static name or a route id from the config (low cardinality).

use http::Response;
use http::header::{CONTENT_TYPE, HeaderValue};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet, prometheus_text};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::pipeline::{
    BUCKETS_US, Counts, HistogramCounts, MAX_CONSUMER_SERIES, OTHER_CONSUMERS, ProxyState, Refusal,
};
use crate::upstream::ProxyBody;

/// Status classes counted per route: 1xx..5xx.
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// `GET /metrics`.
pub fn endpoint(state: &ProxyState) -> Response<ProxyBody> {
    let revocations = state
        .revocations()
        .live(crate::shared::clock::unix_now())
        .len();
    let mut response = Response::new(ProxyBody::full(render_with(
        &state.metrics().read(),
        &state.hash(),
        Some(u64::try_from(revocations).unwrap_or(u64::MAX)),
    )));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// The Prometheus text exposition of `counts`; `hash` is the config currently held ("" for
/// none).
#[cfg(test)]
pub fn render(counts: &Counts, hash: &str) -> String {
    render_with(counts, hash, None)
}

/// [`render`], with the number of entries in the revocation store when known.
pub fn render_with(counts: &Counts, hash: &str, revocations: Option<u64>) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Scrape {
        counts: counts.clone(),
        hash: hash.to_owned(),
        revocations,
    }));
    let mut out = String::with_capacity(4096);
    // Writing into a `String` cannot fail.
    let _ = prometheus_text::encode(&mut out, &registry);
    out
}

/// The values of one scrape.
#[derive(Debug)]
struct Scrape {
    counts: Counts,
    hash: String,
    revocations: Option<u64>,
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
        for route in &self.counts.routes {
            let counts = route.requests.iter();
            for (class, n) in CLASSES.iter().zip(counts).filter(|(_, n)| **n > 0) {
                let labels = [("route", &*route.id), ("status", *class)];
                ConstCounter::new(*n).encode(requests.encode_family(&labels)?)?;
            }
        }
        let mut durations = encoder.encode_descriptor(
            "tollgate_request_duration_seconds",
            "Time from a request's arrival to its response head, by route.",
            None,
            MetricType::Histogram,
        )?;
        for route in self.counts.routes.iter().filter(|r| r.duration.count > 0) {
            histogram(&mut durations, &route.id, &route.duration)?;
        }
        let mut upstream = encoder.encode_descriptor(
            "tollgate_upstream_duration_seconds",
            "Time the backend took to answer a forwarded request (to its response head), by route.",
            None,
            MetricType::Histogram,
        )?;
        for route in self.counts.routes.iter().filter(|r| r.upstream.count > 0) {
            histogram(&mut upstream, &route.id, &route.upstream)?;
        }
        if !self.counts.consumers.is_empty() {
            let help = format!(
                "Requests of authenticated consumers, by consumer and status class (beyond {MAX_CONSUMER_SERIES} consumers, as consumer=\"{OTHER_CONSUMERS}\")."
            );
            let mut consumers = encoder.encode_descriptor(
                "tollgate_consumer_requests",
                &help,
                None,
                MetricType::Counter,
            )?;
            for (consumer, counts) in &self.counts.consumers {
                for (class, n) in CLASSES.iter().zip(counts).filter(|(_, n)| **n > 0) {
                    let labels = [("consumer", &**consumer), ("status", *class)];
                    ConstCounter::new(*n).encode(consumers.encode_family(&labels)?)?;
                }
            }
        }
        counter(
            &mut encoder,
            "tollgate_tokens_issued",
            "Access tokens issued.",
            self.counts.tokens_issued,
        )?;
        let mut refused = encoder.encode_descriptor(
            "tollgate_tokens_refused",
            "Token requests refused, by reason.",
            None,
            MetricType::Counter,
        )?;
        for (reason, n) in Refusal::ALL.iter().zip(&self.counts.tokens_refused) {
            ConstCounter::new(*n).encode(refused.encode_family(&[("reason", reason.label())])?)?;
        }
        let throttled = Refusal::ALL
            .iter()
            .zip(&self.counts.tokens_refused)
            .find(|(reason, _)| **reason == Refusal::Throttled)
            .map_or(0, |(_, n)| *n);
        counter(
            &mut encoder,
            "tollgate_brute_force_refusals",
            "Token requests refused by the brute-force guard (429) without checking the secret; also counted in tollgate_tokens_refused_total{reason=\"throttled\"}.",
            throttled,
        )?;
        let mut verifications = encoder.encode_descriptor(
            "tollgate_token_verifications",
            "Token checks on protected routes.",
            None,
            MetricType::Counter,
        )?;
        for (result, n) in ["ok", "anonymous", "missing", "invalid"]
            .iter()
            .zip(&self.counts.verifications)
        {
            ConstCounter::new(*n).encode(verifications.encode_family(&[("result", *result)])?)?;
        }
        counter(
            &mut encoder,
            "tollgate_secret_cache_hits",
            "Client secrets accepted from the cache of successful verifications.",
            self.counts.secret_cache_hits,
        )?;
        counter(
            &mut encoder,
            "tollgate_secret_cache_misses",
            "Client secrets that needed a full verification.",
            self.counts.secret_cache_misses,
        )?;
        counter(
            &mut encoder,
            "tollgate_config_applied",
            "Snapshots applied.",
            self.counts.config_applied,
        )?;
        counter(
            &mut encoder,
            "tollgate_config_rejected",
            "Snapshots rejected as invalid.",
            self.counts.config_rejected,
        )?;
        counter(
            &mut encoder,
            "tollgate_access_log_dropped_lines",
            "Access log lines dropped because stdout did not take them as fast as requests came (a worker buffers at most 2 MiB).",
            self.counts.access_log_dropped,
        )?;
        encoder
            .encode_descriptor(
                "tollgate_config",
                "The config currently held.",
                None,
                MetricType::Info,
            )?
            .encode_info(&[("hash", self.hash.as_str())])?;
        ConstGauge::new(self.counts.config_generation).encode(encoder.encode_descriptor(
            "tollgate_config_generation",
            "Number of the config being served among those this process compiled (0: none yet); it changes whenever the config does.",
            None,
            MetricType::Gauge,
        )?)?;
        if !self.counts.worker_connections.is_empty() {
            let mut workers = encoder.encode_descriptor(
                "tollgate_worker_connections",
                "Client connections open, by worker (connections are spread over the workers by how many each holds).",
                None,
                MetricType::Gauge,
            )?;
            for (worker, open) in self.counts.worker_connections.iter().enumerate() {
                let worker = worker.to_string();
                ConstGauge::new(*open)
                    .encode(workers.encode_family(&[("worker", worker.as_str())])?)?;
            }
        }
        ConstGauge::new(self.counts.config_updated_at).encode(encoder.encode_descriptor(
            "tollgate_config_last_update_timestamp_seconds",
            "When the config was last applied (Unix seconds; its age is time() minus this).",
            None,
            MetricType::Gauge,
        )?)?;
        if let Some(held) = self.revocations {
            ConstGauge::new(held).encode(encoder.encode_descriptor(
                "tollgate_revocations",
                "Entries in the revocation store (revoked tokens not yet expired); at its capacity of 20000, revocations are refused with 503.",
                None,
                MetricType::Gauge,
            )?)?;
        }
        Ok(())
    }
}

/// One route's histogram in `family`, converted from microseconds to seconds.
fn histogram(
    family: &mut prometheus_client::encoding::MetricEncoder,
    route: &str,
    counts: &HistogramCounts,
) -> Result<(), std::fmt::Error> {
    let buckets: Vec<(f64, u64)> = BUCKETS_US
        .iter()
        .zip(&counts.buckets)
        .map(|(bound, n)| (*bound as f64 / 1e6, *n))
        .collect();
    family
        .encode_family(&[("route", route)])?
        .encode_histogram::<NoLabelSet>(counts.sum_us as f64 / 1e6, counts.count, &buckets, None)
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
#[path = "metrics_text_tests.rs"]
mod text_tests;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn route_counters_are_rendered_by_status_class() {
        let state = ProxyState::new();
        let metrics = state.metrics();
        let ms = Duration::from_millis(1);
        metrics.route("default/api").finish(200, ms);
        metrics.route("default/api").finish(204, ms);
        metrics.route("default/api").finish(502, ms);
        metrics.unmatched().finish(404, ms);
        let text = render(&metrics.read(), "abc");
        assert!(text.contains("tollgate_requests_total{route=\"default/api\",status=\"2xx\"} 2"));
        assert!(text.contains("tollgate_requests_total{route=\"default/api\",status=\"5xx\"} 1"));
        assert!(text.contains("tollgate_requests_total{route=\"\",status=\"4xx\"} 1"));
        assert!(text.contains("tollgate_config_info{hash=\"abc\"} 1"));
    }

    #[test]
    fn latency_histogram_is_cumulative() {
        let state = ProxyState::new();
        let metrics = state.metrics();
        let api = metrics.route("default/api");
        api.finish(200, Duration::from_micros(100));
        api.finish(200, Duration::from_millis(3));
        api.upstream(Duration::from_millis(2));
        let text = render(&metrics.read(), "");
        for line in [
            "tollgate_request_duration_seconds_bucket{route=\"default/api\",le=\"0.00025\"} 1",
            "tollgate_request_duration_seconds_bucket{route=\"default/api\",le=\"0.005\"} 2",
            "tollgate_request_duration_seconds_count{route=\"default/api\"} 2",
            "tollgate_upstream_duration_seconds_bucket{route=\"default/api\",le=\"0.001\"} 0",
            "tollgate_upstream_duration_seconds_bucket{route=\"default/api\",le=\"0.0025\"} 1",
            "tollgate_upstream_duration_seconds_sum{route=\"default/api\"} 0.002",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        // No request went unmatched: no empty histogram for it.
        assert!(!text.contains("route=\"\",le="), "{text}");
    }

    #[test]
    fn refusals_are_rendered_by_their_rfc_code() {
        let state = ProxyState::new();
        let metrics = state.metrics();
        metrics.token_refused(Refusal::from_code("invalid_client"));
        metrics.token_refused(Refusal::from_code("something else"));
        metrics.token_issued();
        metrics.secret_cache(true);
        let text = render(&metrics.read(), "");
        assert!(text.contains("tollgate_tokens_refused_total{reason=\"invalid_client\"} 1"));
        assert!(text.contains("tollgate_tokens_refused_total{reason=\"other\"} 1"));
        assert!(text.contains("tollgate_tokens_issued_total 1"));
        assert!(text.contains("tollgate_secret_cache_hits_total 1"));
        assert!(text.contains("tollgate_brute_force_refusals_total 0"));
        metrics.token_refused(Refusal::Throttled);
        let text = render(&metrics.read(), "");
        assert!(text.contains("tollgate_brute_force_refusals_total 1"));
        assert!(text.contains("tollgate_tokens_refused_total{reason=\"throttled\"} 1"));
    }
}
