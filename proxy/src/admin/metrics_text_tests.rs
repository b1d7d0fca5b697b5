//! The proxy's `/metrics` text, whole: the same names, types, help texts, label escaping and
//! number formats as the hand-written renderer it replaced (dashboards, alerts and docs depend
//! on them). The expected text is that renderer's output for the same updates.

use std::time::Duration;

use super::render;
use crate::pipeline::{ProxyState, Refusal, Verification};

const EXPECTED: &str = r#"# HELP tollgate_requests_total Requests served, by route and status class.
# TYPE tollgate_requests_total counter
tollgate_requests_total{route="default/api",status="2xx"} 1
tollgate_requests_total{route="default/api",status="5xx"} 1
tollgate_requests_total{route="ns/we\"ird\\r",status="4xx"} 1
tollgate_requests_total{route="",status="4xx"} 1
# HELP tollgate_request_duration_seconds Time to the response head.
# TYPE tollgate_request_duration_seconds histogram
tollgate_request_duration_seconds_bucket{le="0.00025"} 1
tollgate_request_duration_seconds_bucket{le="0.0005"} 1
tollgate_request_duration_seconds_bucket{le="0.001"} 1
tollgate_request_duration_seconds_bucket{le="0.0025"} 1
tollgate_request_duration_seconds_bucket{le="0.005"} 2
tollgate_request_duration_seconds_bucket{le="0.01"} 2
tollgate_request_duration_seconds_bucket{le="0.025"} 2
tollgate_request_duration_seconds_bucket{le="0.05"} 2
tollgate_request_duration_seconds_bucket{le="0.1"} 2
tollgate_request_duration_seconds_bucket{le="0.25"} 2
tollgate_request_duration_seconds_bucket{le="0.5"} 2
tollgate_request_duration_seconds_bucket{le="1"} 2
tollgate_request_duration_seconds_bucket{le="2.5"} 2
tollgate_request_duration_seconds_bucket{le="10"} 2
tollgate_request_duration_seconds_bucket{le="+Inf"} 3
tollgate_request_duration_seconds_sum 20.0031
tollgate_request_duration_seconds_count 3
# HELP tollgate_tokens_issued_total Access tokens issued.
# TYPE tollgate_tokens_issued_total counter
tollgate_tokens_issued_total 1
# HELP tollgate_tokens_refused_total Token requests refused, by reason.
# TYPE tollgate_tokens_refused_total counter
tollgate_tokens_refused_total{reason="invalid_request"} 0
tollgate_tokens_refused_total{reason="invalid_client"} 1
tollgate_tokens_refused_total{reason="invalid_grant"} 0
tollgate_tokens_refused_total{reason="unauthorized_client"} 0
tollgate_tokens_refused_total{reason="unsupported_grant_type"} 0
tollgate_tokens_refused_total{reason="invalid_scope"} 0
tollgate_tokens_refused_total{reason="access_denied"} 0
tollgate_tokens_refused_total{reason="invalid_method"} 0
tollgate_tokens_refused_total{reason="overloaded"} 0
tollgate_tokens_refused_total{reason="throttled"} 0
tollgate_tokens_refused_total{reason="other"} 0
# HELP tollgate_token_verifications_total Token checks on protected routes.
# TYPE tollgate_token_verifications_total counter
tollgate_token_verifications_total{result="ok"} 0
tollgate_token_verifications_total{result="anonymous"} 0
tollgate_token_verifications_total{result="missing"} 1
tollgate_token_verifications_total{result="invalid"} 0
# HELP tollgate_secret_cache_hits_total Client secrets accepted from the cache of successful verifications.
# TYPE tollgate_secret_cache_hits_total counter
tollgate_secret_cache_hits_total 1
# HELP tollgate_secret_cache_misses_total Client secrets that needed a full verification.
# TYPE tollgate_secret_cache_misses_total counter
tollgate_secret_cache_misses_total 1
# HELP tollgate_config_applied_total Snapshots applied.
# TYPE tollgate_config_applied_total counter
tollgate_config_applied_total 1
# HELP tollgate_config_rejected_total Snapshots rejected as invalid.
# TYPE tollgate_config_rejected_total counter
tollgate_config_rejected_total 1
# HELP tollgate_config_info The config currently held.
# TYPE tollgate_config_info gauge
tollgate_config_info{hash="abc\"def"} 1
# HELP tollgate_config_last_update_timestamp_seconds When the config was last applied.
# TYPE tollgate_config_last_update_timestamp_seconds gauge
tollgate_config_last_update_timestamp_seconds 1700000000
"#;

#[test]
fn the_exposition_is_unchanged() {
    let state = ProxyState::new();
    let m = state.metrics();
    m.route("default/api").record(200);
    m.route("default/api").record(503);
    m.route("ns/we\"ird\\r").record(404);
    m.unmatched().record(404);
    m.observe_latency(Duration::from_micros(100));
    m.observe_latency(Duration::from_micros(3_000));
    m.observe_latency(Duration::from_secs(20));
    m.token_issued();
    m.token_refused(Refusal::InvalidClient);
    m.verification(Verification::Missing);
    m.secret_cache(true);
    m.secret_cache(false);
    m.config_applied(1_700_000_000);
    m.config_rejected();
    assert_eq!(render(&m.read(), "abc\"def"), EXPECTED);
}
