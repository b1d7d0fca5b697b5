//! Ingress translation: which Ingresses are ours, paths and hosts as Kubernetes matches them
//! (checked through the core's route table), backends by port number and name, the default
//! backend, plugins by annotation and failing closed, `spec.tls` recorded.

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use serde_json::{Value, json};
use tollgate_core::routing::RouteTable;

use super::*;
use crate::translate::ingress::IngressTls;

fn object<T: serde::de::DeserializeOwned>(value: Value) -> Arc<T> {
    Arc::new(serde_json::from_value(value).expect("a valid object"))
}

fn class(name: &str, controller: &str, default: bool) -> Arc<IngressClass> {
    let annotations = if default {
        json!({"ingressclass.kubernetes.io/is-default-class": "true"})
    } else {
        json!({})
    };
    object(json!({
        "metadata": {"name": name, "annotations": annotations},
        "spec": {"controller": controller}
    }))
}

/// Ingress `default/<name>` with these annotations and spec.
fn ingress(name: &str, annotations: Value, spec: Value) -> Arc<Ingress> {
    object(json!({
        "metadata": {"name": name, "namespace": "default", "annotations": annotations},
        "spec": spec
    }))
}

/// A path of a rule to the Service `web` port 80.
fn path(path: &str, path_type: &str) -> Value {
    json!({"path": path, "pathType": path_type,
           "backend": {"service": {"name": "web", "port": {"number": 80}}}})
}

/// The quickstart's plugins, the class `tollgate` (ours) and `nginx` (another controller's),
/// and the Service `web` (port 80, named `http`).
fn objects(ingresses: Vec<Arc<Ingress>>) -> Objects {
    let mut objects = quickstart();
    objects.routes.clear();
    objects.ingress.classes = vec![
        class("tollgate", "tollgate.dev/ingress-controller", false),
        class("nginx", "k8s.io/ingress-nginx", true),
    ];
    objects.ingress.services = vec![object::<Service>(json!({
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]}
    }))];
    objects.ingress.ingresses = ingresses;
    objects
}

fn services() -> ServiceEndpoints {
    ServiceEndpoints::from([(
        ServiceKey {
            namespace: "default".into(),
            name: "web".into(),
            port: 80,
        },
        vec!["10.0.0.1:8080".into()],
    )])
}

fn run_ingress(objects: &Objects) -> Translation {
    run_with(objects, &services())
}

fn ids(t: &Translation) -> Vec<&str> {
    t.snapshot.routes.iter().map(|r| r.id.as_str()).collect()
}

/// The id of the route the core picks for `GET host path`.
fn pick(table: &RouteTable, host: &str, path: &str) -> Option<String> {
    table
        .find(Some(host), "GET", path)
        .map(|m| m.route.id.clone())
}

#[test]
fn only_ingresses_of_our_class_are_served_and_a_classless_one_only_by_the_default_class() {
    let spec = |class: Option<&str>| {
        let mut spec = json!({"rules": [{"http": {"paths": [path("/", "Prefix")]}}]});
        if let Some(class) = class {
            spec["ingressClassName"] = json!(class);
        }
        spec
    };
    let mut objects = objects(vec![
        ingress("ours", json!({}), spec(Some("tollgate"))),
        ingress("theirs", json!({}), spec(Some("nginx"))),
        ingress("unknown-class", json!({}), spec(Some("missing"))),
        ingress("classless", json!({}), spec(None)),
        ingress(
            "legacy",
            json!({"kubernetes.io/ingress.class": "tollgate"}),
            spec(None),
        ),
    ]);
    let t = run_ingress(&objects);
    assert!(t.problems.is_empty(), "{:?}", t.problems);
    assert_eq!(
        ids(&t),
        ["ingress/default/legacy/0/0", "ingress/default/ours/0/0"]
    );
    assert_eq!(
        t.ingress.ours.iter().collect::<Vec<_>>(),
        ["default/legacy", "default/ours"]
    );

    // Our class as the default class takes the classless Ingress too (nginx's is another
    // controller's default, which is not ours to serve).
    objects.ingress.classes[0] = class("tollgate", "tollgate.dev/ingress-controller", true);
    let t = run_ingress(&objects);
    assert_eq!(
        ids(&t),
        [
            "ingress/default/classless/0/0",
            "ingress/default/legacy/0/0",
            "ingress/default/ours/0/0"
        ]
    );
}

#[test]
fn path_types_hosts_and_backends_become_core_routes() {
    let objects = objects(vec![ingress(
        "shop",
        json!({}),
        json!({
            "ingressClassName": "tollgate",
            "rules": [
                {"host": "Shop.Example.com", "http": {"paths": [
                    path("/cart", "Exact"),
                    path("/api/", "Prefix"),
                    path("/legacy", "ImplementationSpecific"),
                    {"path": "/named", "pathType": "Prefix",
                     "backend": {"service": {"name": "web", "port": {"name": "http"}}}},
                ]}},
                {"host": "*.example.com", "http": {"paths": [path("/", "Prefix")]}},
            ]
        }),
    )]);
    let t = run_ingress(&objects);
    assert!(t.problems.is_empty(), "{:?}", t.problems);
    let routes = &t.snapshot.routes;
    let by_id = |id: &str| {
        routes
            .iter()
            .find(|r| r.id == id)
            .unwrap_or_else(|| panic!("{id} in {:?}", ids(&t)))
    };
    let cart = by_id("ingress/default/shop/0/0");
    assert_eq!(cart.hosts, ["shop.example.com"]);
    assert_eq!(cart.exact_paths, ["/cart"]);
    assert!(cart.paths.is_empty());
    // A trailing `/` of a prefix is ignored, as Kubernetes specifies.
    assert_eq!(by_id("ingress/default/shop/0/1").paths, ["/api"]);
    assert_eq!(by_id("ingress/default/shop/0/2").paths, ["/legacy"]);
    let named = by_id("ingress/default/shop/0/3");
    let endpoints = |r: &tollgate_core::snapshot::Route| {
        r.backends
            .iter()
            .map(|b| b.backend.as_ref().map(|b| b.endpoints.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(endpoints(named), [Some(vec!["10.0.0.1:8080".to_owned()])]);
    assert_eq!(endpoints(cart), endpoints(named));
    let wildcard = by_id("ingress/default/shop/1/0");
    assert_eq!(wildcard.hosts, ["*.example.com"]);
    assert_eq!(wildcard.paths, ["/"]);
    assert!(cart.rank < wildcard.rank);
}

#[test]
fn precedence_is_kubernetes_exact_host_then_exact_path_then_longest_prefix() {
    let objects = objects(vec![
        ingress(
            "wide",
            json!({}),
            json!({"ingressClassName": "tollgate", "rules": [
                {"host": "*.example.com", "http": {"paths": [path("/foo/bar", "Prefix")]}},
                {"http": {"paths": [path("/", "Prefix")]}},
            ]}),
        ),
        ingress(
            "narrow",
            json!({}),
            json!({"ingressClassName": "tollgate", "rules": [
                {"host": "api.example.com", "http": {"paths": [
                    path("/foo", "Prefix"),
                    path("/foo/exact", "Exact"),
                    path("/foo/exact", "Prefix"),
                ]}},
            ]}),
        ),
    ]);
    let t = run_ingress(&objects);
    assert!(t.problems.is_empty(), "{:?}", t.problems);
    let table = RouteTable::new(&t.snapshot.routes);
    for (host, path, want) in [
        // The exact host wins over a wildcard with a longer prefix.
        ("api.example.com", "/foo/bar", "ingress/default/narrow/0/0"),
        ("api.example.com", "/foo", "ingress/default/narrow/0/0"),
        // Exact before a prefix of the same path; the prefix takes what is below it.
        (
            "api.example.com",
            "/foo/exact",
            "ingress/default/narrow/0/1",
        ),
        (
            "api.example.com",
            "/foo/exact/x",
            "ingress/default/narrow/0/2",
        ),
        // Element-wise: /foo does not match /foobar, which falls to the host-less rule.
        ("api.example.com", "/foobar", "ingress/default/wide/1/0"),
        (
            "www.example.com",
            "/foo/bar/baz",
            "ingress/default/wide/0/0",
        ),
        ("www.example.com", "/foo/barbaz", "ingress/default/wide/1/0"),
        ("other.test", "/foo", "ingress/default/wide/1/0"),
    ] {
        assert_eq!(
            pick(&table, host, path).as_deref(),
            Some(want),
            "GET {host}{path}"
        );
    }
}

#[test]
fn the_default_backend_takes_only_what_no_rule_matches() {
    let mut objects = objects(vec![ingress(
        "site",
        json!({}),
        json!({"ingressClassName": "tollgate",
        "defaultBackend": {"service": {"name": "web", "port": {"number": 80}}},
        "rules": [
            {"host": "api.example.com", "http": {"paths": [path("/v1", "Prefix")]}},
            {"host": "static.example.com"},
        ]}),
    )]);
    // Another Ingress's host-less catch-all of the same prefix still wins over it.
    objects.ingress.ingresses.push(ingress(
        "catch-all",
        json!({}),
        json!({"ingressClassName": "tollgate",
               "rules": [{"http": {"paths": [path("/", "Prefix")]}}]}),
    ));
    let t = run_ingress(&objects);
    assert!(t.problems.is_empty(), "{:?}", t.problems);
    let table = RouteTable::new(&t.snapshot.routes);
    assert_eq!(
        pick(&table, "api.example.com", "/v1/x").as_deref(),
        Some("ingress/default/site/0/0")
    );
    // A rule without paths sends its host to the default backend.
    assert_eq!(
        pick(&table, "static.example.com", "/x").as_deref(),
        Some("ingress/default/site/1/0")
    );
    assert_eq!(
        pick(&table, "api.example.com", "/v2").as_deref(),
        Some("ingress/default/catch-all/0/0")
    );
    objects.ingress.ingresses.pop();
    let t = run_ingress(&objects);
    let table = RouteTable::new(&t.snapshot.routes);
    assert_eq!(
        pick(&table, "api.example.com", "/v2").as_deref(),
        Some("ingress/default/site/default")
    );
    let default = t
        .snapshot
        .routes
        .iter()
        .find(|r| r.id == "ingress/default/site/default")
        .expect("default backend route");
    assert!(default.hosts.is_empty());
    assert_eq!(default.paths, ["/"]);
}

#[test]
fn the_plugins_annotation_guards_every_path_and_an_oauth2_plugin_serves_its_token_endpoint() {
    let objects = objects(vec![
        ingress(
            "auth",
            json!({"tollgate.dev/plugins": "oauth2"}),
            json!({"ingressClassName": "tollgate", "rules": [
                {"host": "api.example.com", "http": {"paths": [path("/auth", "Prefix")]}}]}),
        ),
        ingress(
            "api",
            json!({"tollgate.dev/plugins": "oidc"}),
            json!({"ingressClassName": "tollgate", "rules": [
                {"host": "api.example.com", "http": {"paths": [
                    path("/", "Prefix"), path("/status", "Exact")]}}]}),
        ),
    ]);
    let t = run_ingress(&objects);
    assert!(t.problems.is_empty(), "{:?}", t.problems);
    for r in &t.snapshot.routes {
        let want = if r.id.starts_with("ingress/default/auth/") {
            "default/oauth2"
        } else {
            "default/oidc"
        };
        assert_eq!(r.plugins, [want], "{}", r.id);
    }
    // The token endpoint is under the oauth2 route's prefix.
    let table = RouteTable::new(&t.snapshot.routes);
    assert_eq!(
        pick(&table, "api.example.com", "/auth/oauth2/token").as_deref(),
        Some("ingress/default/auth/0/0")
    );
}

#[test]
fn a_missing_plugin_fails_closed_on_every_path_and_says_so() {
    let objects = objects(vec![ingress(
        "guarded",
        json!({"tollgate.dev/plugins": "oidc, not-yet"}),
        json!({"ingressClassName": "tollgate",
               "defaultBackend": {"service": {"name": "web", "port": {"number": 80}}},
               "rules": [{"http": {"paths": [path("/private", "Prefix"), path("/x", "Exact")]}}]}),
    )]);
    let t = run_ingress(&objects);
    let problems: Vec<(Kind, &str, &str)> = t
        .problems
        .iter()
        .map(|p| (p.kind, p.name.as_str(), p.reason))
        .collect();
    assert_eq!(problems, [(Kind::Ingress, "guarded", "PluginNotFound")]);
    assert!(t.problems[0].message.contains("not-yet"));
    // Served, but every path answers 500: no plugin and no backend, never the Service.
    assert_eq!(t.snapshot.routes.len(), 3);
    for r in &t.snapshot.routes {
        assert!(r.plugins.is_empty(), "{}", r.id);
        assert!(r.backend.is_none(), "{}", r.id);
        assert_eq!(r.backends.len(), 1, "{}", r.id);
        assert!(r.backends[0].backend.is_none(), "{}", r.id);
    }
}

#[test]
fn two_authentication_plugins_fail_closed() {
    let objects = objects(vec![ingress(
        "both",
        json!({"tollgate.dev/plugins": "oauth2,oidc"}),
        json!({"ingressClassName": "tollgate",
               "rules": [{"http": {"paths": [path("/", "Prefix")]}}]}),
    )]);
    let t = run_ingress(&objects);
    assert_eq!(t.problems.len(), 1, "{:?}", t.problems);
    assert_eq!(t.problems[0].reason, "TooManyPlugins");
    assert!(t.snapshot.routes[0].backends[0].backend.is_none());
}

#[test]
fn an_unknown_service_or_port_answers_500_on_its_path_only() {
    let objects = objects(vec![ingress(
        "mixed",
        json!({}),
        json!({"ingressClassName": "tollgate", "rules": [{"http": {"paths": [
            path("/ok", "Prefix"),
            {"path": "/gone", "pathType": "Prefix",
             "backend": {"service": {"name": "gone", "port": {"number": 80}}}},
            {"path": "/badport", "pathType": "Prefix",
             "backend": {"service": {"name": "web", "port": {"name": "grpc"}}}},
            {"path": "/bucket", "pathType": "Prefix",
             "backend": {"resource": {"apiGroup": "k8s.example.com", "kind": "Bucket", "name": "b"}}},
        ]}}]}),
    )]);
    let t = run_ingress(&objects);
    let reasons: Vec<&str> = t.problems.iter().map(|p| p.reason).collect();
    assert_eq!(
        reasons,
        ["InvalidBackend", "ServiceNotFound", "ServiceNotFound"],
        "{:?}",
        t.problems
    );
    assert!(t.problems.iter().all(|p| p.kind == Kind::Ingress));
    let resolved: Vec<bool> = t
        .snapshot
        .routes
        .iter()
        .map(|r| r.backends[0].backend.is_some())
        .collect();
    assert_eq!(resolved, [true, false, false, false]);
}

#[test]
fn an_invalid_path_or_host_leaves_the_ingress_out_with_a_problem() {
    for (spec, reason) in [
        (
            json!({"ingressClassName": "tollgate", "rules": [{"http": {"paths": [
                path("relative", "Prefix")]}}]}),
            "InvalidPath",
        ),
        (
            json!({"ingressClassName": "tollgate", "rules": [{"http": {"paths": [
                path("/a", "Regex")]}}]}),
            "InvalidPath",
        ),
        (
            json!({"ingressClassName": "tollgate", "rules": [{"host": "bad host",
                "http": {"paths": [path("/a", "Prefix")]}}]}),
            "InvalidHost",
        ),
        (json!({"ingressClassName": "tollgate"}), "InvalidBackend"),
    ] {
        let objects = objects(vec![ingress("bad", json!({}), spec.clone())]);
        let t = run_ingress(&objects);
        assert!(t.snapshot.routes.is_empty(), "{spec}");
        assert_eq!(t.problems.len(), 1, "{spec}: {:?}", t.problems);
        assert_eq!(t.problems[0].reason, reason, "{spec}");
        assert!(!t.includes(Kind::Ingress, "default", "bad"));
        // Still ours: its status is the proxy's.
        assert!(t.ingress.ours.contains("default/bad"));
    }
}

#[test]
fn ingress_routes_keep_the_clients_host_unless_annotated_false_and_a_bad_value_is_refused() {
    let spec = |host: &str| {
        json!({"ingressClassName": "tollgate", "rules": [{"host": host,
            "http": {"paths": [path("/", "Prefix")]}}],
            "defaultBackend": {"service": {"name": "web", "port": {"number": 80}}}})
    };
    let objects = objects(vec![
        ingress("kept", json!({}), spec("kept.example.com")),
        ingress(
            "off",
            json!({"tollgate.dev/preserve-host": "false"}),
            spec("off.example.com"),
        ),
        ingress(
            "on",
            json!({"tollgate.dev/preserve-host": "true"}),
            spec("on.example.com"),
        ),
        ingress(
            "bad",
            json!({"tollgate.dev/preserve-host": "maybe"}),
            spec("bad.example.com"),
        ),
    ]);
    let t = run_ingress(&objects);
    let preserve = |id: &str| {
        t.snapshot
            .routes
            .iter()
            .find(|r| r.id == id)
            .map(|r| r.preserve_host)
    };
    assert_eq!(preserve("ingress/default/kept/0/0"), Some(true));
    assert_eq!(preserve("ingress/default/kept/default"), Some(true));
    assert_eq!(preserve("ingress/default/off/0/0"), Some(false));
    assert_eq!(preserve("ingress/default/off/default"), Some(false));
    assert_eq!(preserve("ingress/default/on/0/0"), Some(true));
    // The bad one alone is left out, with a problem naming the annotation.
    assert!(!t.includes(Kind::Ingress, "default", "bad"));
    assert!(t.includes(Kind::Ingress, "default", "kept"));
    assert_eq!(t.problems.len(), 1, "{:?}", t.problems);
    assert_eq!(t.problems[0].name, "bad");
    assert_eq!(t.problems[0].reason, "InvalidAnnotation");
    assert!(
        t.problems[0].message.contains("tollgate.dev/preserve-host"),
        "{}",
        t.problems[0].message
    );
}

#[test]
fn an_ingress_wildcard_host_matches_exactly_one_label() {
    let objects = objects(vec![ingress(
        "wild",
        json!({}),
        json!({"ingressClassName": "tollgate", "rules": [
            {"host": "*.foo.com", "http": {"paths": [path("/", "Prefix")]}},
            {"host": "exact.foo.com", "http": {"paths": [path("/", "Prefix")]}}]}),
    )]);
    let t = run_ingress(&objects);
    let wild = t
        .snapshot
        .routes
        .iter()
        .find(|r| r.id == "ingress/default/wild/0/0")
        .expect("wildcard route");
    assert!(wild.single_label_wildcard);
    let exact = t
        .snapshot
        .routes
        .iter()
        .find(|r| r.id == "ingress/default/wild/1/0")
        .expect("exact route");
    assert!(!exact.single_label_wildcard, "only wildcard hosts carry it");
    let table = RouteTable::new(&t.snapshot.routes);
    let wild_id = Some("ingress/default/wild/0/0".to_owned());
    assert_eq!(pick(&table, "bar.foo.com", "/x"), wild_id);
    assert_eq!(pick(&table, "BAR.foo.com:8000", "/x"), wild_id);
    assert_eq!(pick(&table, "baz.bar.foo.com", "/x"), None);
    assert_eq!(pick(&table, "foo.com", "/x"), None);
}

#[test]
fn tls_entries_of_served_ingresses_are_recorded() {
    let objects = objects(vec![ingress(
        "secure",
        json!({}),
        json!({"ingressClassName": "tollgate",
               "tls": [{"hosts": ["API.example.com"], "secretName": "api-cert"}, {}],
               "rules": [{"http": {"paths": [path("/", "Prefix")]}}]}),
    )]);
    let t = run_ingress(&objects);
    assert_eq!(
        t.ingress.tls,
        [
            IngressTls {
                namespace: "default".into(),
                ingress: "secure".into(),
                secret_name: None,
                hosts: vec![],
            },
            IngressTls {
                namespace: "default".into(),
                ingress: "secure".into(),
                secret_name: Some("api-cert".into()),
                hosts: vec!["api.example.com".into()],
            },
        ]
    );
}

#[test]
fn ingress_routes_pass_the_proxys_validation_with_the_other_kinds() {
    let mut objects = objects(vec![ingress(
        "api",
        json!({"tollgate.dev/plugins": "oidc"}),
        json!({"ingressClassName": "tollgate",
               "rules": [{"host": "api.example.com", "http": {"paths": [path("/", "Prefix")]}}]}),
    )]);
    objects.routes = quickstart().routes;
    let t = run_ingress(&objects);
    assert!(t.checked, "{:?}", t.problems);
    assert!(tollgate_core::validate::validate(&t.snapshot).is_ok());
    assert_eq!(t.snapshot.routes.len(), 3);
}

#[test]
fn an_ingress_of_another_namespace_never_takes_a_protected_routes_requests() {
    let mut objects = objects(vec![
        object(json!({
            "metadata": {"name": "steal", "namespace": "team"},
            "spec": {"ingressClassName": "tollgate",
                     "rules": [{"http": {"paths": [path("/auth/oauth2/token", "Exact")]}}]}
        })),
        object(json!({
            "metadata": {"name": "own", "namespace": "team"},
            "spec": {"ingressClassName": "tollgate",
                     "rules": [{"host": "team.example.com", "http": {"paths": [path("/", "Prefix")]}}]}
        })),
    ]);
    // The quickstart's GatewayRoute `default/auth`: the oauth2 plugin at /auth.
    objects.routes = quickstart().routes;
    let t = run_ingress(&objects);
    let conflicts: Vec<(Kind, &str, &str)> = t
        .problems
        .iter()
        .filter(|p| p.reason == reason::ROUTE_CONFLICT)
        .map(|p| (p.kind, p.namespace.as_str(), p.name.as_str()))
        .collect();
    assert_eq!(conflicts, [(Kind::Ingress, "team", "steal")]);
    assert!(t.snapshot.routes.iter().any(|r| r.id == "default/auth"));
    assert!(
        t.snapshot
            .routes
            .iter()
            .all(|r| !r.id.contains("team/steal"))
    );
    assert!(t.snapshot.routes.iter().any(|r| r.id.contains("team/own")));
}

#[test]
fn tls_secrets_of_an_ingress_are_served_by_sni_and_a_bad_one_is_its_problem_only() {
    let tls_ingress = |name: &str, secret: &str, host: &str| {
        object::<Ingress>(json!({
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"ingressClassName": "tollgate",
                     "tls": [{"hosts": [host], "secretName": secret}],
                     "rules": [{"host": host, "http": {"paths": [path(&format!("/{name}"), "Prefix")]}}]}
        }))
    };
    let mut objects = objects(vec![
        tls_ingress("secure", "api-cert", "api.example.com"),
        tls_ingress("missing", "no-such-secret", "b.example.com"),
        tls_ingress("opaque", "not-tls", "c.example.com"),
    ]);
    objects.secrets.push(super::gateway_api::tls_secret(
        "api-cert",
        "default",
        "kubernetes.io/tls",
        &["*.example.com"],
    ));
    objects.secrets.push(super::gateway_api::tls_secret(
        "not-tls",
        "default",
        "Opaque",
        &["c.example.com"],
    ));
    let t = run_ingress(&objects);
    let served: Vec<(&str, &[String])> = t
        .snapshot
        .certificates
        .iter()
        .map(|c| (c.source.as_str(), c.hosts.as_slice()))
        .collect();
    assert_eq!(
        served,
        [(
            "Secret default/api-cert",
            &["api.example.com".to_owned()][..]
        )]
    );
    let mut problems: Vec<(Kind, &str, &str)> = t
        .problems
        .iter()
        .map(|p| (p.kind, p.name.as_str(), p.reason))
        .collect();
    problems.sort();
    assert_eq!(
        problems,
        [
            (Kind::Ingress, "missing", reason::SECRET_NOT_FOUND),
            (Kind::Ingress, "opaque", reason::INVALID_SECRET),
        ]
    );
    // Their routes keep serving (over the default certificate).
    for name in ["secure", "missing", "opaque"] {
        assert!(
            t.snapshot.routes.iter().any(|r| r.id.contains(name)),
            "{name}: {:?}",
            ids(&t)
        );
    }
    assert!(tollgate_core::validate::validate(&t.snapshot).is_ok());
}

/// In a cluster: an Ingress's TLS Secret without the label is served from the operator's read of
/// it; one the operator could not read is `SecretNotReadable` on that Ingress only.
#[test]
fn an_ingress_tls_secret_read_by_name_is_served_and_an_unreadable_one_is_its_problem() {
    let tls_ingress = |name: &str, secret: &str, host: &str| {
        object::<Ingress>(json!({
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"ingressClassName": "tollgate",
                     "tls": [{"hosts": [host], "secretName": secret}],
                     "rules": [{"host": host, "http": {"paths": [path(&format!("/{name}"), "Prefix")]}}]}
        }))
    };
    let mut objects = objects(vec![
        tls_ingress("managed", "cert-manager-cert", "api.example.com"),
        tls_ingress("locked", "locked-cert", "b.example.com"),
        tls_ingress("unread", "unread-cert", "c.example.com"),
    ]);
    let names = crate::translate::certificates::named_certificate_secrets(
        &objects.gateway,
        &objects.ingress,
    );
    assert!(
        [
            "default/cert-manager-cert",
            "default/locked-cert",
            "default/unread-cert"
        ]
        .iter()
        .all(|n| names.contains(*n)),
        "{names:?}"
    );
    objects.secret_access = crate::translate::secrets::SecretAccess::LabelledKnowing(
        [
            "default/cert-manager-cert",
            "default/locked-cert",
            "default/unread-cert",
        ]
        .map(str::to_owned)
        .into(),
    );
    objects.certificate_reads.read.insert(
        "default/cert-manager-cert".into(),
        super::gateway_api::tls_secret(
            "cert-manager-cert",
            "default",
            "kubernetes.io/tls",
            &["api.example.com"],
        ),
    );
    objects.certificate_reads.unreadable.insert(
        "default/locked-cert".into(),
        "Secret default/locked-cert: grant the controller get on secrets".into(),
    );
    let t = run_ingress(&objects);
    let served: Vec<&str> = t
        .snapshot
        .certificates
        .iter()
        .map(|c| c.source.as_str())
        .collect();
    assert_eq!(served, ["Secret default/cert-manager-cert"]);
    let mut problems: Vec<(&str, &str)> = t
        .problems
        .iter()
        .filter(|p| p.kind == Kind::Ingress)
        .map(|p| (p.name.as_str(), p.reason))
        .collect();
    problems.sort();
    assert_eq!(
        problems,
        [
            ("locked", reason::SECRET_NOT_READABLE),
            ("unread", reason::SECRET_NOT_LABELLED),
        ]
    );
    let locked = t
        .problems
        .iter()
        .find(|p| p.name == "locked")
        .expect("locked");
    assert!(
        locked
            .message
            .contains("grant the controller get on secrets")
    );
    let unread = t
        .problems
        .iter()
        .find(|p| p.name == "unread")
        .expect("unread");
    assert!(
        unread.message.contains(
            "kubectl label secret -n default unread-cert tollgate.dev/secret=certificate"
        ),
        "{}",
        unread.message
    );
    for name in ["managed", "locked", "unread"] {
        assert!(t.snapshot.routes.iter().any(|r| r.id.contains(name)));
    }
}
