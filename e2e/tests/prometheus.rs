//! The gateway's metrics as a real Prometheus sees them: the API emulator, the real
//! `tollgate-controller run`, a real `tollgate-proxy` (with `--metrics-per-consumer`) and httpbin,
//! scraped every second by Debian's `prometheus` (own config and data directory, loopback port).
//! The test causes traffic (a token issued, a wrong secret, guesses until the brute-force guard
//! refuses, an authenticated call, a refused call), then asks Prometheus' HTTP API until the series
//! it caused hold exactly the values the traffic implies. `promtool check metrics` lints both
//! endpoints' expositions, and every query of the chart's Grafana dashboard must parse in that
//! Prometheus and name only metrics the gateway exports.
//!
//! Needs what `tests/cluster.rs` needs, plus `prometheus` and `promtool` (`apt-get install
//! prometheus`; `scripts/test.sh` checks for them).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use tollgate_e2e::client::Response;
use tollgate_e2e::cluster::{
    APP_NAMESPACE, Controller, ControllerOptions, Emulator, Kubectl, app_manifests,
    system_manifests,
};
use tollgate_e2e::httpbin::Httpbin;
use tollgate_e2e::paths::repo_root;
use tollgate_e2e::prometheus::{Prometheus, Target, metric_names, promtool_check_metrics};
use tollgate_e2e::proxy::Proxy;
use tollgate_e2e::wait::{RELOAD, wait_until};
use tollgate_e2e::workdir::WorkDir;

const CONFIG_TOKEN: &str = "e2e-config-token-0123456789";
const SIGNING_KEY: [u8; 32] = *b"e2e-signing-key-0123456789abcdef";
/// Deadline for a series to reach Prometheus (a few 1 s scrapes; generous for a loaded machine).
const SCRAPED: Duration = Duration::from_secs(60);
const TOKEN_ROUTE: &str = "shop/auth";
const API_ROUTE: &str = "shop/httpbin";

/// Sample values of an exposition, by series (`name{labels}` as written).
fn samples(exposition: &str) -> BTreeMap<String, f64> {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

async fn scrape(url: &str) -> String {
    let response = tollgate_e2e::client::Client::plain()
        .expect("client")
        .get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert_eq!(response.status, 200, "{}", response.describe());
    response.text()
}

/// A token request for `client_id` with `secret`.
async fn token(proxy: &Proxy, client_id: &str, secret: &str) -> Response {
    let client = proxy.client().expect("client");
    client
        .post_form(
            &proxy.https_url("/auth/oauth2/token"),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", secret),
            ],
        )
        .await
        .expect("token request")
}

async fn call(proxy: &Proxy, token: Option<&str>) -> Response {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", a.as_str())).collect();
    proxy
        .client()
        .expect("client")
        .send(
            http::Method::GET,
            &proxy.http_url("/anything"),
            &headers,
            Default::default(),
        )
        .await
        .expect("call through the proxy")
}

/// The PromQL expressions of a Grafana dashboard (panel targets and query variables), with
/// Grafana's variables replaced by what Prometheus accepts.
fn dashboard_queries(dashboard: &Value) -> Vec<String> {
    fn walk(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, v) in map {
                    match (key.as_str(), v) {
                        ("expr", Value::String(expr)) => out.push(expr.clone()),
                        ("definition", Value::String(def)) => out.push(def.clone()),
                        _ => walk(v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(dashboard, &mut out);
    out.iter()
        .map(|q| {
            // `label_values(metric, label)` is Grafana's, not PromQL: its metric is what counts.
            let q = match q.strip_prefix("label_values(") {
                Some(rest) => rest.split(',').next().unwrap_or_default().to_owned(),
                None => q.clone(),
            };
            q.replace("$__rate_interval", "1m")
                .replace("$__interval", "1m")
                .replace("$route", ".*")
        })
        .collect()
}

/// The `tollgate_*` metric names an expression uses.
fn tollgate_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while let Some(found) = expr[i..].find("tollgate_") {
        let start = i + found;
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
            end += 1;
        }
        // Part of a longer identifier (e.g. inside a label value): not a metric name.
        let standalone =
            start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        if standalone {
            names.push(expr[start..end].to_owned());
        }
        i = end;
    }
    names
}

#[test]
fn dashboard_queries_are_found_with_grafana_variables_replaced() {
    let dashboard = serde_json::json!({
        "panels": [{"targets": [{"expr": "sum(rate(tollgate_requests_total{route=~\"$route\"}[$__rate_interval]))"}]}],
        "templating": {"list": [{"definition": "label_values(tollgate_requests_total, route)"}]}
    });
    assert_eq!(
        dashboard_queries(&dashboard),
        [
            "sum(rate(tollgate_requests_total{route=~\".*\"}[1m]))",
            "tollgate_requests_total"
        ]
    );
    assert_eq!(
        tollgate_names("rate(tollgate_a_total[1m]) / my_tollgate_b"),
        ["tollgate_a_total"]
    );
}

#[tokio::test]
async fn prometheus_scrapes_the_series_the_traffic_caused_and_the_dashboard_names_only_exported_metrics()
 {
    let work = WorkDir::new("prometheus-scrape").expect("work dir");
    let emulator = Emulator::start(&work).await.expect("API emulator starts");
    let kubectl = Kubectl::new(emulator.kubeconfig());
    kubectl
        .apply_path(&repo_root().join("crds"))
        .await
        .expect("kubectl apply -f crds/");
    let httpbin = Httpbin::start(&work).await.expect("httpbin starts");
    let proxy = Proxy::start_with(&work, "proxy", CONFIG_TOKEN, &["--metrics-per-consumer"])
        .await
        .expect("proxy starts");
    let controller_kubeconfig = emulator
        .controller_kubeconfig(&kubectl)
        .await
        .expect("the controller's kubeconfig");
    kubectl
        .apply(&system_manifests(
            &[proxy.admin_addr()],
            CONFIG_TOKEN,
            &SIGNING_KEY,
        ))
        .await
        .expect("apply system objects");
    kubectl
        .apply(&app_manifests(&httpbin.base_url()))
        .await
        .expect("apply app objects");
    let controller = Controller::start(
        &work,
        "controller",
        ControllerOptions {
            kubeconfig: controller_kubeconfig,
            lease_duration_secs: 3,
            namespaces: Vec::new(),
            extra_args: Vec::new(),
        },
    )
    .await
    .expect("controller starts");
    let prometheus = Prometheus::start(
        &work,
        &[
            Target {
                job: "tollgate-proxy".into(),
                address: proxy.metrics_addr(),
            },
            Target {
                job: "tollgate-controller".into(),
                address: controller.admin_addr(),
            },
        ],
    )
    .await
    .unwrap_or_else(|e| panic!("Prometheus starts: {e}\n{}", work.all_logs()));

    // The first token: the credential is served (the controller pushed the config).
    let first = wait_until(RELOAD * 4, "a token from the proxy", || async {
        let r = token(&proxy, "client", "secret").await;
        match r.json()["access_token"].as_str() {
            Some(t) if r.status == 200 => Ok(t.to_owned()),
            _ => Err(r.describe()),
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", work.all_logs()));
    // Whatever the wait above cost (refusals, 404s), counting starts from here.
    let metrics_url = proxy.metrics_url("/metrics");
    let before = samples(&scrape(&metrics_url).await);
    let at = |series: &str| before.get(series).copied().unwrap_or(0.0);

    // The traffic: a token issued, a wrong secret, an authenticated call, a refused call, and
    // wrong secrets for another client id until the brute-force guard refuses (429).
    let issued = token(&proxy, "client", "secret").await;
    assert_eq!(issued.status, 200, "{}", issued.describe());
    let wrong = token(&proxy, "client", "not-the-secret").await;
    // Kong's answer to credentials in the form: 400 invalid_client.
    assert_eq!(wrong.status, 400, "{}", wrong.describe());
    assert_eq!(wrong.json()["error"], "invalid_client");
    let ok = call(&proxy, Some(&first)).await;
    assert_eq!(ok.status, 200, "{}", ok.describe());
    let refused = call(&proxy, None).await;
    assert_eq!(refused.status, 401, "{}", refused.describe());
    let (mut invalid_client, mut throttled) = (1.0, 0.0);
    for _ in 0..40 {
        let guess = token(&proxy, "intruder", "guess").await;
        match guess.status.as_u16() {
            400 if guess.json()["error"] == "invalid_client" => invalid_client += 1.0,
            429 => {
                throttled += 1.0;
                break;
            }
            _ => panic!("a guess: {}", guess.describe()),
        }
    }
    assert_eq!(throttled, 1.0, "the brute-force guard never refused");
    let token_attempts = 1.0 + invalid_client + throttled;

    // Prometheus reports exactly what that traffic added.
    let expected: Vec<(String, f64)> = vec![
        (
            "tollgate_tokens_issued_total".into(),
            at("tollgate_tokens_issued_total") + 1.0,
        ),
        (
            r#"tollgate_tokens_refused_total{reason="invalid_client"}"#.into(),
            at(r#"tollgate_tokens_refused_total{reason="invalid_client"}"#) + invalid_client,
        ),
        (
            r#"tollgate_tokens_refused_total{reason="throttled"}"#.into(),
            at(r#"tollgate_tokens_refused_total{reason="throttled"}"#) + throttled,
        ),
        (
            "tollgate_brute_force_refusals_total".into(),
            at("tollgate_brute_force_refusals_total") + throttled,
        ),
        (
            format!(r#"tollgate_requests_total{{route="{API_ROUTE}",status="2xx"}}"#),
            at(&format!(
                r#"tollgate_requests_total{{route="{API_ROUTE}",status="2xx"}}"#
            )) + 1.0,
        ),
        (
            format!(r#"tollgate_requests_total{{route="{API_ROUTE}",status="4xx"}}"#),
            at(&format!(
                r#"tollgate_requests_total{{route="{API_ROUTE}",status="4xx"}}"#
            )) + 1.0,
        ),
        (
            format!(r#"tollgate_request_duration_seconds_count{{route="{API_ROUTE}"}}"#),
            at(&format!(
                r#"tollgate_request_duration_seconds_count{{route="{API_ROUTE}"}}"#
            )) + 2.0,
        ),
        (
            format!(r#"tollgate_upstream_duration_seconds_count{{route="{API_ROUTE}"}}"#),
            at(&format!(
                r#"tollgate_upstream_duration_seconds_count{{route="{API_ROUTE}"}}"#
            )) + 1.0,
        ),
        (
            format!(r#"tollgate_request_duration_seconds_count{{route="{TOKEN_ROUTE}"}}"#),
            at(&format!(
                r#"tollgate_request_duration_seconds_count{{route="{TOKEN_ROUTE}"}}"#
            )) + token_attempts,
        ),
        (
            r#"tollgate_token_verifications_total{result="ok"}"#.into(),
            at(r#"tollgate_token_verifications_total{result="ok"}"#) + 1.0,
        ),
        (
            r#"tollgate_token_verifications_total{result="missing"}"#.into(),
            at(r#"tollgate_token_verifications_total{result="missing"}"#) + 1.0,
        ),
        (
            format!(
                r#"tollgate_consumer_requests_total{{consumer="{APP_NAMESPACE}/jane",status="2xx"}}"#
            ),
            at(&format!(
                r#"tollgate_consumer_requests_total{{consumer="{APP_NAMESPACE}/jane",status="2xx"}}"#
            )) + 1.0,
        ),
    ];
    // The proxy's own exposition agrees first (nothing else sends traffic now).
    let after = samples(&scrape(&metrics_url).await);
    for (series, value) in &expected {
        assert_eq!(after.get(series), Some(value), "{series} in the exposition");
    }
    for (series, value) in &expected {
        let expr = with_job(series, "tollgate-proxy");
        prometheus
            .wait_for_value(SCRAPED, &expr, *value)
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", prometheus.log()));
    }
    // Config generation and age: the proxy applied a config, a moment ago.
    let generation = prometheus
        .value(r#"tollgate_config_generation{job="tollgate-proxy"}"#)
        .await
        .expect("tollgate_config_generation");
    assert!(generation >= 1.0, "generation {generation}");
    let age = prometheus
        .value(r#"time() - tollgate_config_last_update_timestamp_seconds{job="tollgate-proxy"}"#)
        .await
        .expect("config age");
    assert!((0.0..3600.0).contains(&age), "config age {age}");

    // The controller: its passes were timed, its queue is exported, the proxy is in sync.
    let controller_text = scrape(&controller.admin_url("/metrics")).await;
    let passes = samples(&controller_text)
        .get("tollgate_controller_reconcile_duration_seconds_count")
        .copied()
        .unwrap_or(0.0);
    assert!(passes >= 1.0, "{controller_text}");
    wait_until(SCRAPED, "Prometheus to see the controller's reconcile passes", || async {
        let count = prometheus
            .value(r#"tollgate_controller_reconcile_duration_seconds_count{job="tollgate-controller"}"#)
            .await?;
        let reconciles = prometheus
            .value(r#"tollgate_controller_reconciles_total{job="tollgate-controller"}"#)
            .await?;
        if count >= passes && count == reconciles {
            Ok(())
        } else {
            Err(format!("{count} timed passes, {reconciles} passes"))
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", prometheus.log()));
    prometheus
        .value(r#"tollgate_controller_queue_depth{job="tollgate-controller"}"#)
        .await
        .expect("the queue depth is scraped");
    prometheus
        .wait_for_value(
            SCRAPED,
            &format!(
                r#"tollgate_controller_proxy_in_sync{{job="tollgate-controller",proxy="{}"}}"#,
                proxy.admin_addr()
            ),
            1.0,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", controller.log()));
    let up = prometheus.targets_up().await.expect("up");
    assert!(
        up.iter().filter(|(_, v)| *v == 1.0).count() == 2,
        "both targets up: {up:?}"
    );

    // Both expositions pass promtool's checks (format and lint).
    let proxy_text = scrape(&metrics_url).await;
    promtool_check_metrics(&proxy_text).unwrap_or_else(|e| panic!("proxy: {e}\n{proxy_text}"));
    promtool_check_metrics(&controller_text)
        .unwrap_or_else(|e| panic!("controller: {e}\n{controller_text}"));

    // The dashboard: every query parses in this Prometheus and names only exported metrics.
    let mut exported = metric_names(&proxy_text);
    exported.extend(metric_names(&controller_text));
    let path = repo_root().join("charts/tollgate/dashboards/tollgate.json");
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .expect("the dashboard is JSON");
    let queries = dashboard_queries(&dashboard);
    assert!(queries.len() >= 10, "{queries:?}");
    for query in &queries {
        let names = tollgate_names(query);
        assert!(!names.is_empty(), "{query} names no tollgate metric");
        for name in &names {
            assert!(
                exported.contains(name),
                "{query} names {name}, which neither endpoint exports ({exported:?})"
            );
        }
        prometheus
            .query(query)
            .await
            .unwrap_or_else(|e| panic!("the dashboard's query does not run: {e}"));
    }
    // Most panels show something once a few scrapes hold this traffic (a 5xx ratio, say, has
    // nothing to show).
    let answered = wait_until(SCRAPED, "most dashboard queries to return data", || async {
        let mut answered = 0;
        for query in &queries {
            let data = prometheus.query(query).await?;
            if data["result"].as_array().is_some_and(|r| !r.is_empty()) {
                answered += 1;
            }
        }
        if answered * 4 >= queries.len() * 3 {
            Ok(answered)
        } else {
            Err(format!("{answered} of {} queries with data", queries.len()))
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", prometheus.log()));
    println!(
        "dashboard: {} queries parse, {answered} with data",
        queries.len()
    );
    drop(prometheus);
    drop(controller);
    drop(proxy);
    drop(httpbin);
    drop(emulator);
}

/// `series` (`name` or `name{labels}`) restricted to scrape job `job`.
fn with_job(series: &str, job: &str) -> String {
    match series.strip_suffix('}') {
        Some(open) => format!(r#"{open},job="{job}"}}"#),
        None => format!(r#"{series}{{job="{job}"}}"#),
    }
}
