//! What the request path pays for metrics: nanoseconds per update of the proxy's counters,
//! printed (no timing assertion: machines differ). For meaningful numbers run it optimized:
//!
//! ```text
//! cargo test --release -p tollgate-proxy --lib nanoseconds_per_metrics_update -- --ignored --nocapture
//! ```
//!
//! Beside the proxy's own updates (plain relaxed atomics, encoded by `prometheus-client` only at
//! scrape time) it measures the crate's own metric types for comparison: a `Counter`, a `Family`
//! looked up by labels on every update, and a `Histogram`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use super::ProxyMetrics;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use tollgate_core::snapshot::Consumer;

const ITERATIONS: u32 = 1_000_000;

fn ns_per_op(mut op: impl FnMut(u32)) -> f64 {
    // Warm up, then time.
    for i in 0..ITERATIONS / 10 {
        op(i);
    }
    let start = Instant::now();
    for i in 0..ITERATIONS {
        op(i);
    }
    start.elapsed().as_nanos() as f64 / f64::from(ITERATIONS)
}

#[test]
#[ignore = "a measurement: run it optimized, with --ignored --nocapture"]
fn nanoseconds_per_metrics_update() {
    let metrics = ProxyMetrics::default();
    let route = metrics.route("default/api");
    let mut rows: Vec<(&str, f64)> = vec![
        (
            "proxy: a request's route counter + latency histogram (RouteCounters::finish)",
            ns_per_op(|i| {
                route.finish(
                    black_box(200 + (i % 3) as u16),
                    black_box(Duration::from_micros(u64::from(i % 5000))),
                )
            }),
        ),
        (
            "proxy: upstream histogram, with the clock read before sending (RouteCounters::upstream)",
            ns_per_op(|_| {
                let sent = Instant::now();
                route.upstream(black_box(sent.duration_since(black_box(sent))));
            }),
        ),
        (
            "for reference: one clock read (Instant::now)",
            ns_per_op(|_| {
                black_box(Instant::now());
            }),
        ),
        (
            "proxy: plain counter (ProxyMetrics::token_issued)",
            ns_per_op(|_| metrics.token_issued()),
        ),
    ];
    let consumer = Consumer {
        id: "1236cd0d-981a-5dca-af4b-ecc368b92279".into(),
        object: "default/jane".into(),
        username: "jane".into(),
        custom_id: None,
        groups: Vec::new(),
    };
    rows.push((
        "proxy: per-consumer series off (ProxyMetrics::consumer)",
        ns_per_op(|_| {
            black_box(metrics.consumer(black_box(&consumer)));
        }),
    ));
    metrics.set_per_consumer(true);
    rows.push((
        "proxy: per-consumer series on, lookup + count (ProxyMetrics::consumer)",
        ns_per_op(|_| {
            if let Some(c) = metrics.consumer(black_box(&consumer)) {
                c.record(200);
            }
        }),
    ));

    let counter = Counter::<u64>::default();
    rows.push((
        "prometheus-client: Counter::inc",
        ns_per_op(|_| {
            counter.inc();
        }),
    ));
    let family = Family::<Vec<(String, String)>, Counter>::default();
    let labels = vec![
        ("route".to_owned(), "default/api".to_owned()),
        ("status".to_owned(), "2xx".to_owned()),
    ];
    rows.push((
        "prometheus-client: Family::get_or_create(labels).inc",
        ns_per_op(|_| {
            family.get_or_create(black_box(&labels)).inc();
        }),
    ));
    let histogram = Histogram::new([
        0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
    ]);
    rows.push((
        "prometheus-client: Histogram::observe",
        ns_per_op(|i| histogram.observe(black_box(f64::from(i % 5000) / 1e6))),
    ));

    let optimized = if cfg!(debug_assertions) {
        "unoptimized build: run with --release for meaningful numbers"
    } else {
        "optimized build"
    };
    println!("ns per update, {ITERATIONS} updates each, one thread ({optimized}):");
    for (what, ns) in &rows {
        println!("  {ns:>8.2} ns  {what}");
    }
    // The updates happened.
    assert!(metrics.read().tokens_issued > 0);
}
