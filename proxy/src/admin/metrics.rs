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

use crate::pipeline::{BUCKETS_US, Counts, ProxyState, Refusal};
use crate::upstream::ProxyBody;

/// Status classes counted per route: 1xx..5xx.
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// `GET /metrics`.
pub fn endpoint(state: &ProxyState) -> Response<ProxyBody> {
    let mut response = Response::new(ProxyBody::full(render(
        &state.metrics().read(),
        &state.hash(),
    )));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// The Prometheus text exposition of `counts`; `hash` is the config currently held ("" for
/// none).
pub fn render(counts: &Counts, hash: &str) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Scrape {
        counts: counts.clone(),
        hash: hash.to_owned(),
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
        for (route, counts) in &self.counts.requests {
            for (class, n) in CLASSES.iter().zip(counts).filter(|(_, n)| **n > 0) {
                let labels = [("route", &**route), ("status", *class)];
                ConstCounter::new(*n).encode(requests.encode_family(&labels)?)?;
            }
        }
        let buckets: Vec<(f64, u64)> = BUCKETS_US
            .iter()
            .zip(&self.counts.latency_buckets)
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
                self.counts.latency_sum_us as f64 / 1e6,
                self.counts.latency_count,
                &buckets,
                None,
            )?;
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
        encoder
            .encode_descriptor(
                "tollgate_config",
                "The config currently held.",
                None,
                MetricType::Info,
            )?
            .encode_info(&[("hash", self.hash.as_str())])?;
        ConstGauge::new(self.counts.config_updated_at).encode(encoder.encode_descriptor(
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
        metrics.route("default/api").record(200);
        metrics.route("default/api").record(204);
        metrics.route("default/api").record(502);
        metrics.unmatched().record(404);
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
        metrics.observe_latency(Duration::from_micros(100));
        metrics.observe_latency(Duration::from_millis(3));
        let text = render(&metrics.read(), "");
        assert!(text.contains("tollgate_request_duration_seconds_bucket{le=\"0.00025\"} 1"));
        assert!(text.contains("tollgate_request_duration_seconds_bucket{le=\"0.005\"} 2"));
        assert!(text.contains("tollgate_request_duration_seconds_count 2"));
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
    }
}
