//! The controller's `/metrics` text, whole: names, types, help texts and number formats
//! (dashboards, alerts, docs/operator.md and docs/metrics.md depend on them; a change here is a
//! change operators must hear about).

use std::time::Duration;

use tollgate_controller::operator::metrics::{ControllerMetrics, PushMetric, ReconcileOutcome};

const EXPECTED: &str = r#"# HELP tollgate_controller_reconciles_total Reconcile passes (translate, push, status).
# TYPE tollgate_controller_reconciles_total counter
tollgate_controller_reconciles_total 2
# HELP tollgate_controller_reconcile_errors_total Reconcile passes that failed.
# TYPE tollgate_controller_reconcile_errors_total counter
tollgate_controller_reconcile_errors_total 1
# HELP tollgate_controller_watch_events_total Events delivered by the watches (each wakes the reconcile loop).
# TYPE tollgate_controller_watch_events_total counter
tollgate_controller_watch_events_total 3
# HELP tollgate_controller_snapshot_bytes Size of the current snapshot in bytes.
# TYPE tollgate_controller_snapshot_bytes gauge
tollgate_controller_snapshot_bytes 1234
# HELP tollgate_controller_snapshot_objects Objects in the current snapshot.
# TYPE tollgate_controller_snapshot_objects gauge
tollgate_controller_snapshot_objects 7
# HELP tollgate_controller_excluded_objects Objects left out of the snapshot because of a problem.
# TYPE tollgate_controller_excluded_objects gauge
tollgate_controller_excluded_objects 1
# HELP tollgate_controller_queue_depth Watch events waiting for the next reconcile pass (one pass takes them all).
# TYPE tollgate_controller_queue_depth gauge
tollgate_controller_queue_depth 1
# HELP tollgate_controller_status_patches_total Status writes (server-side apply).
# TYPE tollgate_controller_status_patches_total counter
tollgate_controller_status_patches_total 2
# HELP tollgate_controller_status_patch_errors_total Status writes that failed.
# TYPE tollgate_controller_status_patch_errors_total counter
tollgate_controller_status_patch_errors_total 1
# HELP tollgate_controller_leader 1 while this replica holds the leader Lease.
# TYPE tollgate_controller_leader gauge
tollgate_controller_leader 1
# HELP tollgate_controller_ready 1 once every cache has synced.
# TYPE tollgate_controller_ready gauge
tollgate_controller_ready 1
# HELP tollgate_controller_secrets_hashing Client secrets being hashed (argon2id); their credentials are served once done.
# TYPE tollgate_controller_secrets_hashing gauge
tollgate_controller_secrets_hashing 3
# HELP tollgate_controller_reconcile_duration_seconds Duration of reconcile passes (translate, push, status writes).
# TYPE tollgate_controller_reconcile_duration_seconds histogram
tollgate_controller_reconcile_duration_seconds_bucket{le="0.005"} 0
tollgate_controller_reconcile_duration_seconds_bucket{le="0.01"} 0
tollgate_controller_reconcile_duration_seconds_bucket{le="0.025"} 0
tollgate_controller_reconcile_duration_seconds_bucket{le="0.05"} 1
tollgate_controller_reconcile_duration_seconds_bucket{le="0.1"} 1
tollgate_controller_reconcile_duration_seconds_bucket{le="0.25"} 1
tollgate_controller_reconcile_duration_seconds_bucket{le="0.5"} 1
tollgate_controller_reconcile_duration_seconds_bucket{le="1"} 1
tollgate_controller_reconcile_duration_seconds_bucket{le="2.5"} 2
tollgate_controller_reconcile_duration_seconds_bucket{le="5"} 2
tollgate_controller_reconcile_duration_seconds_bucket{le="10"} 2
tollgate_controller_reconcile_duration_seconds_bucket{le="30"} 2
tollgate_controller_reconcile_duration_seconds_bucket{le="60"} 2
tollgate_controller_reconcile_duration_seconds_bucket{le="+Inf"} 2
tollgate_controller_reconcile_duration_seconds_sum 1.54
tollgate_controller_reconcile_duration_seconds_count 2
# HELP tollgate_controller_push_duration_seconds Duration of config pushes per proxy.
# TYPE tollgate_controller_push_duration_seconds histogram
tollgate_controller_push_duration_seconds_bucket{proxy="10.0.0.1:8100",le="0.005"} 0
tollgate_controller_push_duration_seconds_bucket{proxy="10.0.0.1:8100",le="0.01"} 0
tollgate_controller_push_duration_seconds_bucket{proxy="10.0.0.1:8100",le="0.025"} 1
tollgate_controller_push_duration_seconds_bucket{proxy="10.0.0.1:8100",le="0.05"} 1
tollgate_controller_push_duration_seconds_bucket{proxy="10.0.0.1:8100",le="0.1"} 1
tollgate_controller_push_duration_seconds_bucket{proxy="10.0.0.1:8100",le="0.25"} 1
tollgate_controller_push_duration_seconds_bucket{proxy="10.0.0.1:8100",le="0.5"} 1
tollgate_controller_push_duration_seconds_bucket{proxy="10.0.0.1:8100",le="1"} 2
tollgate_controller_push_duration_seconds_bucket{proxy="10.0.0.1:8100",le="2.5"} 2
tollgate_controller_push_duration_seconds_bucket{proxy="10.0.0.1:8100",le="10"} 2
tollgate_controller_push_duration_seconds_bucket{proxy="10.0.0.1:8100",le="+Inf"} 2
tollgate_controller_push_duration_seconds_sum{proxy="10.0.0.1:8100"} 0.72
tollgate_controller_push_duration_seconds_count{proxy="10.0.0.1:8100"} 2
tollgate_controller_push_duration_seconds_bucket{proxy="10.0.0.2:8100",le="0.005"} 1
tollgate_controller_push_duration_seconds_bucket{proxy="10.0.0.2:8100",le="0.01"} 1
tollgate_controller_push_duration_seconds_bucket{proxy="10.0.0.2:8100",le="0.025"} 1
tollgate_controller_push_duration_seconds_bucket{proxy="10.0.0.2:8100",le="0.05"} 1
tollgate_controller_push_duration_seconds_bucket{proxy="10.0.0.2:8100",le="0.1"} 1
tollgate_controller_push_duration_seconds_bucket{proxy="10.0.0.2:8100",le="0.25"} 1
tollgate_controller_push_duration_seconds_bucket{proxy="10.0.0.2:8100",le="0.5"} 1
tollgate_controller_push_duration_seconds_bucket{proxy="10.0.0.2:8100",le="1"} 1
tollgate_controller_push_duration_seconds_bucket{proxy="10.0.0.2:8100",le="2.5"} 1
tollgate_controller_push_duration_seconds_bucket{proxy="10.0.0.2:8100",le="10"} 1
tollgate_controller_push_duration_seconds_bucket{proxy="10.0.0.2:8100",le="+Inf"} 2
tollgate_controller_push_duration_seconds_sum{proxy="10.0.0.2:8100"} 30.003
tollgate_controller_push_duration_seconds_count{proxy="10.0.0.2:8100"} 2
# HELP tollgate_controller_push_failures_total Failed pushes per proxy (network, 5xx, 401), retried with backoff.
# TYPE tollgate_controller_push_failures_total counter
tollgate_controller_push_failures_total{proxy="10.0.0.1:8100"} 1
tollgate_controller_push_failures_total{proxy="10.0.0.2:8100"} 1
# HELP tollgate_controller_push_rejections_total Pushes a proxy refused as invalid (400/413, retried with backoff) or as superseded by a newer leader (409).
# TYPE tollgate_controller_push_rejections_total counter
tollgate_controller_push_rejections_total{proxy="10.0.0.1:8100"} 0
tollgate_controller_push_rejections_total{proxy="10.0.0.2:8100"} 1
# HELP tollgate_controller_proxy_in_sync 1 when the proxy holds the current snapshot.
# TYPE tollgate_controller_proxy_in_sync gauge
tollgate_controller_proxy_in_sync{proxy="10.0.0.1:8100"} 0
tollgate_controller_proxy_in_sync{proxy="10.0.0.2:8100"} 0
"#;

#[test]
fn the_exposition_is_as_documented() {
    let m = ControllerMetrics::new();
    m.reconciled(ReconcileOutcome::Ok);
    m.reconciled(ReconcileOutcome::Error);
    m.snapshot_built(1234, 7, 1);
    m.status_patched(true);
    m.status_patched(false);
    m.set_leader(true);
    m.set_ready(true);
    m.set_secrets_hashing(3);
    let ms = Duration::from_millis;
    m.reconcile_took(ms(40));
    m.reconcile_took(ms(1_500));
    m.event_queued();
    m.event_queued();
    m.events_taken();
    m.event_queued();
    m.push_finished("10.0.0.1:8100", ms(20), PushMetric::InSync);
    m.push_finished("10.0.0.1:8100", ms(700), PushMetric::Failed);
    m.push_finished("10.0.0.2:8100", ms(3), PushMetric::Rejected);
    m.push_finished("10.0.0.2:8100", Duration::from_secs(30), PushMetric::Failed);
    assert_eq!(m.render(), EXPECTED);
}
