//! `GET /metrics`: the proxy's counters ([`Counts`]) as Prometheus text.

use std::fmt::Write as _;

use http::Response;
use http::header::{CONTENT_TYPE, HeaderValue};

use crate::pipeline::{BUCKETS_US, Counts, ProxyState, Refusal};
use crate::upstream::ProxyBody;

/// Status classes counted per route: 1xx..5xx.
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Token verification outcomes, in the order of [`Counts::verifications`].
const VERIFICATIONS: [&str; 4] = ["ok", "anonymous", "missing", "invalid"];

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
    let mut out = String::with_capacity(4096);
    requests(&mut out, counts);
    latency(&mut out, counts);
    tokens(&mut out, counts);
    counter(
        &mut out,
        "tollgate_secret_cache_hits_total",
        "Client secrets accepted from the cache of successful verifications.",
        counts.secret_cache_hits,
    );
    counter(
        &mut out,
        "tollgate_secret_cache_misses_total",
        "Client secrets that needed a full verification.",
        counts.secret_cache_misses,
    );
    config(&mut out, counts, hash);
    out
}

fn requests(out: &mut String, counts: &Counts) {
    out.push_str("# HELP tollgate_requests_total Requests served, by route and status class.\n");
    out.push_str("# TYPE tollgate_requests_total counter\n");
    for (id, by_class) in &counts.requests {
        for (class, n) in CLASSES.iter().zip(by_class) {
            if *n > 0 {
                let id = escape_label(id);
                let _ = writeln!(
                    out,
                    "tollgate_requests_total{{route=\"{id}\",status=\"{class}\"}} {n}"
                );
            }
        }
    }
}

fn latency(out: &mut String, counts: &Counts) {
    out.push_str("# HELP tollgate_request_duration_seconds Time to the response head.\n");
    out.push_str("# TYPE tollgate_request_duration_seconds histogram\n");
    let mut cumulative = 0;
    for (bound, n) in BUCKETS_US.iter().zip(&counts.latency_buckets) {
        cumulative += n;
        let le = *bound as f64 / 1e6;
        let _ = writeln!(
            out,
            "tollgate_request_duration_seconds_bucket{{le=\"{le}\"}} {cumulative}"
        );
    }
    let count = counts.latency_count;
    let sum = counts.latency_sum_us as f64 / 1e6;
    let _ = writeln!(
        out,
        "tollgate_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
    );
    let _ = writeln!(out, "tollgate_request_duration_seconds_sum {sum}");
    let _ = writeln!(out, "tollgate_request_duration_seconds_count {count}");
}

fn tokens(out: &mut String, counts: &Counts) {
    counter(
        out,
        "tollgate_tokens_issued_total",
        "Access tokens issued.",
        counts.tokens_issued,
    );
    out.push_str("# HELP tollgate_tokens_refused_total Token requests refused, by reason.\n");
    out.push_str("# TYPE tollgate_tokens_refused_total counter\n");
    for (reason, n) in Refusal::ALL.iter().zip(&counts.tokens_refused) {
        let _ = writeln!(
            out,
            "tollgate_tokens_refused_total{{reason=\"{}\"}} {n}",
            reason.label()
        );
    }
    out.push_str("# HELP tollgate_token_verifications_total Token checks on protected routes.\n");
    out.push_str("# TYPE tollgate_token_verifications_total counter\n");
    for (outcome, n) in VERIFICATIONS.iter().zip(&counts.verifications) {
        let _ = writeln!(
            out,
            "tollgate_token_verifications_total{{result=\"{outcome}\"}} {n}"
        );
    }
}

fn config(out: &mut String, counts: &Counts, hash: &str) {
    counter(
        out,
        "tollgate_config_applied_total",
        "Snapshots applied.",
        counts.config_applied,
    );
    counter(
        out,
        "tollgate_config_rejected_total",
        "Snapshots rejected as invalid.",
        counts.config_rejected,
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
        counts.config_updated_at
    );
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
