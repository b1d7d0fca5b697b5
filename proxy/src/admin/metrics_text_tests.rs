//! The proxy's `/metrics` text, whole: names, types, help texts, label escaping and number
//! formats (dashboards, alerts and docs/metrics.md depend on them; a change here is a change
//! operators must hear about).

use std::time::Duration;

use super::render;
use crate::pipeline::{ProxyState, Refusal, Verification};

const EXPECTED: &str = r#"# HELP tollgate_requests_total Requests served, by route and status class.
# TYPE tollgate_requests_total counter
tollgate_requests_total{route="default/api",status="2xx"} 1
tollgate_requests_total{route="default/api",status="5xx"} 1
tollgate_requests_total{route="ns/we\"ird\\r",status="4xx"} 1
tollgate_requests_total{route="",status="4xx"} 1
# HELP tollgate_request_duration_seconds Time from a request's arrival to its response head, by route.
# TYPE tollgate_request_duration_seconds histogram
tollgate_request_duration_seconds_bucket{route="default/api",le="0.00025"} 1
tollgate_request_duration_seconds_bucket{route="default/api",le="0.0005"} 1
tollgate_request_duration_seconds_bucket{route="default/api",le="0.001"} 1
tollgate_request_duration_seconds_bucket{route="default/api",le="0.0025"} 1
tollgate_request_duration_seconds_bucket{route="default/api",le="0.005"} 2
tollgate_request_duration_seconds_bucket{route="default/api",le="0.01"} 2
tollgate_request_duration_seconds_bucket{route="default/api",le="0.025"} 2
tollgate_request_duration_seconds_bucket{route="default/api",le="0.05"} 2
tollgate_request_duration_seconds_bucket{route="default/api",le="0.1"} 2
tollgate_request_duration_seconds_bucket{route="default/api",le="0.25"} 2
tollgate_request_duration_seconds_bucket{route="default/api",le="0.5"} 2
tollgate_request_duration_seconds_bucket{route="default/api",le="1"} 2
tollgate_request_duration_seconds_bucket{route="default/api",le="2.5"} 2
tollgate_request_duration_seconds_bucket{route="default/api",le="10"} 2
tollgate_request_duration_seconds_bucket{route="default/api",le="+Inf"} 2
tollgate_request_duration_seconds_sum{route="default/api"} 0.0031
tollgate_request_duration_seconds_count{route="default/api"} 2
tollgate_request_duration_seconds_bucket{route="ns/we\"ird\\r",le="0.00025"} 0
tollgate_request_duration_seconds_bucket{route="ns/we\"ird\\r",le="0.0005"} 0
tollgate_request_duration_seconds_bucket{route="ns/we\"ird\\r",le="0.001"} 0
tollgate_request_duration_seconds_bucket{route="ns/we\"ird\\r",le="0.0025"} 0
tollgate_request_duration_seconds_bucket{route="ns/we\"ird\\r",le="0.005"} 0
tollgate_request_duration_seconds_bucket{route="ns/we\"ird\\r",le="0.01"} 0
tollgate_request_duration_seconds_bucket{route="ns/we\"ird\\r",le="0.025"} 0
tollgate_request_duration_seconds_bucket{route="ns/we\"ird\\r",le="0.05"} 0
tollgate_request_duration_seconds_bucket{route="ns/we\"ird\\r",le="0.1"} 0
tollgate_request_duration_seconds_bucket{route="ns/we\"ird\\r",le="0.25"} 0
tollgate_request_duration_seconds_bucket{route="ns/we\"ird\\r",le="0.5"} 0
tollgate_request_duration_seconds_bucket{route="ns/we\"ird\\r",le="1"} 0
tollgate_request_duration_seconds_bucket{route="ns/we\"ird\\r",le="2.5"} 0
tollgate_request_duration_seconds_bucket{route="ns/we\"ird\\r",le="10"} 0
tollgate_request_duration_seconds_bucket{route="ns/we\"ird\\r",le="+Inf"} 1
tollgate_request_duration_seconds_sum{route="ns/we\"ird\\r"} 20.0
tollgate_request_duration_seconds_count{route="ns/we\"ird\\r"} 1
tollgate_request_duration_seconds_bucket{route="",le="0.00025"} 1
tollgate_request_duration_seconds_bucket{route="",le="0.0005"} 1
tollgate_request_duration_seconds_bucket{route="",le="0.001"} 1
tollgate_request_duration_seconds_bucket{route="",le="0.0025"} 1
tollgate_request_duration_seconds_bucket{route="",le="0.005"} 1
tollgate_request_duration_seconds_bucket{route="",le="0.01"} 1
tollgate_request_duration_seconds_bucket{route="",le="0.025"} 1
tollgate_request_duration_seconds_bucket{route="",le="0.05"} 1
tollgate_request_duration_seconds_bucket{route="",le="0.1"} 1
tollgate_request_duration_seconds_bucket{route="",le="0.25"} 1
tollgate_request_duration_seconds_bucket{route="",le="0.5"} 1
tollgate_request_duration_seconds_bucket{route="",le="1"} 1
tollgate_request_duration_seconds_bucket{route="",le="2.5"} 1
tollgate_request_duration_seconds_bucket{route="",le="10"} 1
tollgate_request_duration_seconds_bucket{route="",le="+Inf"} 1
tollgate_request_duration_seconds_sum{route=""} 0.0002
tollgate_request_duration_seconds_count{route=""} 1
# HELP tollgate_upstream_duration_seconds Time the backend took to answer a forwarded request (to its response head), by route.
# TYPE tollgate_upstream_duration_seconds histogram
tollgate_upstream_duration_seconds_bucket{route="default/api",le="0.00025"} 1
tollgate_upstream_duration_seconds_bucket{route="default/api",le="0.0005"} 1
tollgate_upstream_duration_seconds_bucket{route="default/api",le="0.001"} 1
tollgate_upstream_duration_seconds_bucket{route="default/api",le="0.0025"} 1
tollgate_upstream_duration_seconds_bucket{route="default/api",le="0.005"} 1
tollgate_upstream_duration_seconds_bucket{route="default/api",le="0.01"} 1
tollgate_upstream_duration_seconds_bucket{route="default/api",le="0.025"} 1
tollgate_upstream_duration_seconds_bucket{route="default/api",le="0.05"} 1
tollgate_upstream_duration_seconds_bucket{route="default/api",le="0.1"} 1
tollgate_upstream_duration_seconds_bucket{route="default/api",le="0.25"} 1
tollgate_upstream_duration_seconds_bucket{route="default/api",le="0.5"} 1
tollgate_upstream_duration_seconds_bucket{route="default/api",le="1"} 1
tollgate_upstream_duration_seconds_bucket{route="default/api",le="2.5"} 1
tollgate_upstream_duration_seconds_bucket{route="default/api",le="10"} 1
tollgate_upstream_duration_seconds_bucket{route="default/api",le="+Inf"} 1
tollgate_upstream_duration_seconds_sum{route="default/api"} 0.00006
tollgate_upstream_duration_seconds_count{route="default/api"} 1
# HELP tollgate_consumer_requests_total Requests of authenticated consumers, by consumer and status class (beyond 100 consumers, as consumer="other").
# TYPE tollgate_consumer_requests_total counter
tollgate_consumer_requests_total{consumer="default/jane",status="2xx"} 1
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
# HELP tollgate_brute_force_refusals_total Token requests refused by the brute-force guard (429) without checking the secret; also counted in tollgate_tokens_refused_total{reason="throttled"}.
# TYPE tollgate_brute_force_refusals_total counter
tollgate_brute_force_refusals_total 0
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
# HELP tollgate_access_log_dropped_lines_total Access log lines dropped because stdout did not take them as fast as requests came (a worker buffers at most 2 MiB).
# TYPE tollgate_access_log_dropped_lines_total counter
tollgate_access_log_dropped_lines_total 0
# HELP tollgate_config_info The config currently held.
# TYPE tollgate_config_info gauge
tollgate_config_info{hash="abc\"def"} 1
# HELP tollgate_config_generation Number of the config being served among those this process compiled (0: none yet); it changes whenever the config does.
# TYPE tollgate_config_generation gauge
tollgate_config_generation 3
# HELP tollgate_worker_connections Client connections open, by worker (connections are spread over the workers by how many each holds).
# TYPE tollgate_worker_connections gauge
tollgate_worker_connections{worker="0"} 3
tollgate_worker_connections{worker="1"} 1
# HELP tollgate_config_last_update_timestamp_seconds When the config was last applied (Unix seconds; its age is time() minus this).
# TYPE tollgate_config_last_update_timestamp_seconds gauge
tollgate_config_last_update_timestamp_seconds 1700000000
"#;

#[test]
fn the_exposition_is_as_documented() {
    let state = ProxyState::new();
    let m = state.metrics();
    m.route("default/api")
        .finish(200, Duration::from_micros(100));
    m.route("default/api").upstream(Duration::from_micros(60));
    m.route("default/api")
        .finish(503, Duration::from_micros(3_000));
    m.route("ns/we\"ird\\r")
        .finish(404, Duration::from_secs(20));
    m.unmatched().finish(404, Duration::from_micros(200));
    m.set_per_consumer(true);
    let jane = tollgate_core::snapshot::Consumer {
        id: "c0ffee".into(),
        object: "default/jane".into(),
        username: "jane".into(),
        custom_id: None,
        groups: Vec::new(),
    };
    m.consumer(&jane)
        .expect("per-consumer series on")
        .record(200);
    m.token_issued();
    m.token_refused(Refusal::InvalidClient);
    m.verification(Verification::Missing);
    m.secret_cache(true);
    m.secret_cache(false);
    m.config_applied(1_700_000_000, 3);
    m.config_rejected();
    m.set_worker_loads(std::sync::Arc::from([
        std::sync::atomic::AtomicUsize::new(3),
        std::sync::atomic::AtomicUsize::new(1),
    ]));
    assert_eq!(render(&m.read(), "abc\"def"), EXPECTED);
}
