//! The backend address policy in translation: a backend URL naming a literal address the policy
//! refuses leaves only its route out (`BackendAddressRefused`, condition `ResolvedRefs`); a
//! refused Service endpoint is dropped from its route, which stays served.

use std::sync::Arc;

use tollgate_core::address::{AddressPolicy, Cidr, Mode};

use super::*;
use crate::resources::gateway_route::ServiceBackend;

fn cidrs(list: &[&str]) -> Vec<Cidr> {
    list.iter().map(|c| c.parse().expect(c)).collect()
}

/// The quickstart with one more open route, `extra`, to `url`.
fn with_extra_route(url: &str) -> Objects {
    let mut objects = quickstart();
    objects.routes.push(Arc::new(route(
        "extra",
        "/extra",
        "oidc",
        Some(url_backend(url)),
    )));
    objects
}

fn problems_of(t: &Translation) -> Vec<(&str, &str, ProblemCondition)> {
    t.problems
        .iter()
        .map(|p| (p.name.as_str(), p.reason, p.condition))
        .collect()
}

#[test]
fn a_literal_refused_address_leaves_only_its_route_out() {
    let cluster = AddressPolicy::cluster().allow(cidrs(&["127.0.0.0/8"]));
    let cases: &[(&str, &AddressPolicy)] = &[
        ("http://169.254.169.254/latest/meta-data", &cluster),
        ("http://[::ffff:169.254.169.254]/", &cluster),
        ("http://2852039166/", &cluster),
        ("http://0251.0376.0251.0376/", &cluster),
        ("http://[fe80::1]:8080", &cluster),
        ("http://0.0.0.0:8080", &cluster),
        ("http://[::]:8080", &cluster),
        ("https://[::1]:443/x", &cluster),
        ("http://[::ffff:0.0.0.0]:80", &cluster),
    ];
    for (url, policy) in cases {
        let t = run_with_policy(&with_extra_route(url), &ServiceEndpoints::new(), policy);
        assert_eq!(
            problems_of(&t),
            [(
                "extra",
                reason::BACKEND_ADDRESS_REFUSED,
                ProblemCondition::ResolvedRefs
            )],
            "{url}"
        );
        assert_eq!(
            served(&t),
            all_quickstart_objects(),
            "{url}: the rest is served"
        );
        let message = &t.problems[0].message;
        assert!(
            message.contains(url) && message.contains("refuses"),
            "{message}"
        );
    }
}

#[test]
fn cluster_mode_refuses_the_quickstarts_loopback_upstream_and_standalone_mode_serves_it() {
    let objects = quickstart();
    let t = run_with_policy(
        &objects,
        &ServiceEndpoints::new(),
        &AddressPolicy::cluster(),
    );
    assert_eq!(
        problems_of(&t),
        [(
            "httpbin",
            reason::BACKEND_ADDRESS_REFUSED,
            ProblemCondition::ResolvedRefs
        )]
    );
    assert!(
        t.problems[0]
            .message
            .contains("127.0.0.1:8080, a loopback address")
            && t.problems[0].message.contains("--backend-allow-cidr"),
        "{}",
        t.problems[0].message
    );
    let standalone = run_with_policy(
        &objects,
        &ServiceEndpoints::new(),
        &AddressPolicy::standalone(),
    );
    assert_eq!(standalone.problems, vec![]);
    let allowed = AddressPolicy::cluster().allow(cidrs(&["127.0.0.1/32"]));
    assert_eq!(
        run_with_policy(&objects, &ServiceEndpoints::new(), &allowed).problems,
        vec![]
    );
}

#[test]
fn names_and_allowed_addresses_are_left_to_the_proxy() {
    for url in [
        "http://localhost:8080",
        "http://metadata.google.internal/",
        "http://10.0.0.1:8080",
        "http://[2001:db8::1]:8080",
    ] {
        let t = run_with_policy(
            &with_extra_route(url),
            &ServiceEndpoints::new(),
            &AddressPolicy::cluster().allow(cidrs(&["127.0.0.0/8"])),
        );
        assert_eq!(t.problems, vec![], "{url}");
    }
}

#[test]
fn the_standalone_proxys_own_listeners_and_deny_listed_blocks_are_refused() {
    let policy = AddressPolicy::new(Mode::Standalone)
        .deny(cidrs(&["10.0.0.0/8"]))
        .own_listeners(["127.0.0.1:8100".parse().expect("addr")]);
    for (url, why) in [
        ("http://127.0.0.1:8100/metrics", "own listening port 8100"),
        ("http://localhost.:8100", ""),
        ("http://10.1.2.3", "deny-list entry 10.0.0.0/8"),
    ] {
        let t = run_with_policy(&with_extra_route(url), &ServiceEndpoints::new(), &policy);
        if why.is_empty() {
            // A name: judged by the proxy once resolved.
            assert_eq!(t.problems, vec![], "{url}");
        } else {
            assert_eq!(t.problems.len(), 1, "{url}");
            assert!(
                t.problems[0].message.contains(why),
                "{}",
                t.problems[0].message
            );
        }
    }
}

#[test]
fn refused_service_endpoints_are_dropped_and_the_route_stays_served() {
    let mut objects = quickstart();
    edit_route(&mut objects, "httpbin", |r| {
        r.spec.backend = Some(Backend {
            service: Some(ServiceBackend {
                name: "httpbin".into(),
                port: 80,
            }),
            url: None,
            connect_timeout_ms: 1000,
            read_timeout_ms: 2000,
            preserve_host: false,
        });
    });
    let services = ServiceEndpoints::from([(
        ServiceKey {
            namespace: "default".into(),
            name: "httpbin".into(),
            port: 80,
        },
        vec![
            "10.0.0.1:8080".into(),
            "127.0.0.1:8080".into(),
            "169.254.169.254:80".into(),
            "[::1]:8080".into(),
            "[fd00::1]:8080".into(),
        ],
    )]);
    let t = run_with_policy(&objects, &services, &AddressPolicy::cluster());
    assert_eq!(t.problems, vec![]);
    let backend = t.snapshot.routes[1].backend.as_ref().expect("backend");
    assert_eq!(backend.endpoints, ["10.0.0.1:8080", "[fd00::1]:8080"]);
    let refused: Vec<(&str, &str, &str)> = t
        .refused_endpoints
        .iter()
        .map(|e| (e.name.as_str(), e.endpoint.as_str(), e.reason.as_str()))
        .collect();
    assert_eq!(
        refused,
        [
            ("httpbin", "127.0.0.1:8080", "a loopback address"),
            ("httpbin", "169.254.169.254:80", "a link-local address"),
            ("httpbin", "[::1]:8080", "a loopback address"),
        ]
    );
    // Every endpoint refused: the route is served and answers 503 (no healthy upstream).
    let only_refused = ServiceEndpoints::from([(
        ServiceKey {
            namespace: "default".into(),
            name: "httpbin".into(),
            port: 80,
        },
        vec!["127.0.0.1:8080".into()],
    )]);
    let t = run_with_policy(&objects, &only_refused, &AddressPolicy::cluster());
    assert_eq!(t.problems, vec![]);
    let backend = t.snapshot.routes[1].backend.as_ref().expect("backend");
    assert!(backend.endpoints.is_empty());
}

#[test]
fn a_refused_endpoint_is_logged_once_while_it_stays_refused() {
    let refused = |endpoint: &str| RefusedEndpoint {
        namespace: "default".into(),
        name: "httpbin".into(),
        endpoint: endpoint.into(),
        reason: "a loopback address".into(),
    };
    let mut log = report::ProblemLog::default();
    let first = [refused("127.0.0.1:8080")];
    assert_eq!(log.refused_endpoints(&first), first.to_vec());
    assert_eq!(log.refused_endpoints(&first), vec![]);
    let second = [refused("127.0.0.1:8080"), refused("[::1]:8080")];
    assert_eq!(log.refused_endpoints(&second), vec![refused("[::1]:8080")]);
    assert_eq!(log.refused_endpoints(&[]), vec![]);
    assert_eq!(log.refused_endpoints(&first), first.to_vec());
}
