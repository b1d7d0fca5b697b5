//! Rate-limiting AuthPlugins: translated with Kong's names, combined with the route's
//! authentication plugin, divided by the proxy replicas when asked, refused when invalid.

use std::sync::Arc;

use tollgate_core::snapshot::{LimitBy as SnapshotLimitBy, PluginConfig, RateLimitingConfig};

use super::*;
use crate::resources::auth_plugin::{LimitBy, RateLimitingSettings};

fn with_limit(settings: RateLimitingSettings, replicas: usize) -> Objects {
    let mut objects = quickstart();
    let mut limit = rate_limit_plugin("limit", 1);
    limit.spec.rate_limiting = Some(settings);
    objects.plugins.push(Arc::new(limit));
    edit_route(&mut objects, "httpbin", |r| {
        r.spec.plugins = vec!["limit".into(), "oidc".into()]
    });
    objects.proxy_replicas = replicas;
    objects
}

fn limit_config(t: &Translation) -> Option<&RateLimitingConfig> {
    t.snapshot
        .plugins
        .iter()
        .find(|p| p.id == "default/limit")
        .and_then(|p| match &p.config {
            PluginConfig::RateLimiting(c) => Some(c),
            _ => None,
        })
}

#[test]
fn a_rate_limit_and_an_authentication_plugin_share_a_route_in_the_order_written() {
    let settings = RateLimitingSettings {
        second: Some(5),
        minute: Some(100),
        hour: Some(1000),
        limit_by: LimitBy::Credential,
        hide_client_headers: true,
        ..Default::default()
    };
    let t = run(&with_limit(settings, 3));
    assert!(t.problems.is_empty(), "{:?}", t.problems);
    let route = t
        .snapshot
        .routes
        .iter()
        .find(|r| r.id == "default/httpbin")
        .expect("route served");
    assert_eq!(route.plugins, ["default/limit", "default/oidc"]);
    assert_eq!(
        limit_config(&t),
        Some(&RateLimitingConfig {
            second: Some(5),
            minute: Some(100),
            hour: Some(1000),
            limit_by: SnapshotLimitBy::Credential,
            hide_client_headers: true,
            divide_by: None,
        }),
        "not divided unless asked, whatever the replicas"
    );
}

#[test]
fn divide_by_replicas_carries_the_proxy_replica_count_seen() {
    let settings = RateLimitingSettings {
        minute: Some(10),
        divide_by_replicas: true,
        ..Default::default()
    };
    for (replicas, divide_by) in [(3, 3), (1, 1), (0, 1)] {
        let t = run(&with_limit(settings.clone(), replicas));
        assert!(t.problems.is_empty(), "{:?}", t.problems);
        assert_eq!(
            limit_config(&t).and_then(|c| c.divide_by),
            Some(divide_by),
            "{replicas} replicas"
        );
    }
}

#[test]
fn a_rate_limit_with_an_acl_or_the_wrong_block_is_refused_with_a_reason() {
    let mut objects = with_limit(
        RateLimitingSettings {
            minute: Some(10),
            ..Default::default()
        },
        1,
    );
    for p in &mut objects.plugins {
        if p.metadata.name.as_deref() == Some("limit") {
            Arc::make_mut(p).spec.acl = Some(Default::default());
        }
    }
    let t = run(&objects);
    let got: Vec<(&str, &str)> = t
        .problems
        .iter()
        .map(|p| (p.name.as_str(), p.reason))
        .collect();
    assert_eq!(
        got,
        [
            ("limit", reason::INVALID_PLUGIN),
            ("httpbin", reason::PLUGIN_NOT_ACCEPTED)
        ]
    );
    assert!(
        t.problems[0].message.contains("acl"),
        "{}",
        t.problems[0].message
    );

    let mut objects = quickstart();
    let mut wrong = rate_limit_plugin("limit", 1);
    wrong.spec.oauth2 = Some(oauth2_settings());
    objects.plugins.push(Arc::new(wrong));
    let t = run(&objects);
    let got: Vec<(&str, &str)> = t
        .problems
        .iter()
        .map(|p| (p.name.as_str(), p.reason))
        .collect();
    assert_eq!(got, [("limit", reason::PLUGIN_TYPE_MISMATCH)]);
    assert!(
        t.problems[0].message.contains("rateLimiting"),
        "{}",
        t.problems[0].message
    );
}

#[test]
fn a_rate_limit_alone_may_guard_a_route() {
    let mut objects = quickstart();
    objects
        .plugins
        .push(Arc::new(rate_limit_plugin("limit", 1)));
    edit_route(&mut objects, "httpbin", |r| {
        r.spec.plugins = vec!["limit".into()]
    });
    let t = run(&objects);
    assert!(t.problems.is_empty(), "{:?}", t.problems);
}

#[test]
fn two_rate_limits_or_one_listed_twice_leave_the_route_out_and_the_plugins_served() {
    for list in [vec!["a", "oidc", "b"], vec!["a", "oidc", "a"]] {
        let mut objects = quickstart();
        objects.plugins.push(Arc::new(rate_limit_plugin("a", 10)));
        objects.plugins.push(Arc::new(rate_limit_plugin("b", 10)));
        edit_route(&mut objects, "httpbin", |r| {
            r.spec.plugins = list.iter().map(|n| (*n).to_owned()).collect()
        });
        let t = run(&objects);
        let got: Vec<(&str, &str)> = t
            .problems
            .iter()
            .map(|p| (p.name.as_str(), p.reason))
            .collect();
        assert_eq!(got, [("httpbin", reason::TOO_MANY_PLUGINS)], "{list:?}");
        assert!(t.snapshot.routes.iter().all(|r| r.id != "default/httpbin"));
        assert_eq!(t.snapshot.plugins.len(), 4, "{list:?}");
    }
}
