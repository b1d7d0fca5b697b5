//! Gateway API translation and status, after the semantics of the Gateway API conformance suite's
//! HTTPRoute cases (matching, path-match order, hostname intersection, header modifiers,
//! redirects, rewrites, weights, cross-namespace references, observedGeneration), written anew.

use serde_json::{Value, json};
use tollgate_core::snapshot::{
    HeaderMatch, ListenerPort, MatchKind, PathModifier, QueryParamMatch, Route, RouteFilter,
};

use super::*;
use crate::resources::gateway_api::{Gateway, GatewayClass, HTTPRoute, ReferenceGrant};
use crate::translate::gateway_api::{GatewayApiStatus, gw, intersect, parse_duration};

pub(super) fn object<T: serde::de::DeserializeOwned>(value: Value) -> Arc<T> {
    Arc::new(serde_json::from_value(value).expect("a valid object"))
}

pub(super) fn class(name: &str, controller: &str) -> Arc<GatewayClass> {
    object(json!({"metadata": {"name": name}, "spec": {"controllerName": controller}}))
}

/// Gateway `ns/gw` of class `tollgate` with these listeners.
pub(super) fn gateway(ns: &str, listeners: Value) -> Arc<Gateway> {
    object(json!({
        "metadata": {"name": "gw", "namespace": ns, "generation": 2},
        "spec": {"gatewayClassName": "tollgate", "listeners": listeners}
    }))
}

fn http_route(ns: &str, name: &str, spec: Value) -> Arc<HTTPRoute> {
    object(json!({
        "metadata": {"name": name, "namespace": ns, "generation": 7},
        "spec": spec
    }))
}

fn service(ns: &str, name: &str, port: i32, endpoint: &str) -> (ServiceKey, Vec<String>) {
    (
        ServiceKey {
            namespace: ns.into(),
            name: name.into(),
            port,
        },
        vec![endpoint.into()],
    )
}

/// The quickstart's plugins (`default/oauth2`, `default/oidc`), our class, one Gateway in
/// `default` with an HTTP listener for `*.example.com` open to all namespaces, and `routes`.
fn objects(routes: Vec<Arc<HTTPRoute>>) -> Objects {
    let mut objects = quickstart();
    objects.routes.clear();
    objects.gateway.classes = vec![class("tollgate", "tollgate.dev/gateway-controller")];
    objects.gateway.gateways = vec![gateway(
        "default",
        json!([{"name": "http", "protocol": "HTTP", "port": 80, "hostname": "*.example.com",
                "allowedRoutes": {"namespaces": {"from": "All"}}}]),
    )];
    objects.gateway.routes = routes;
    objects
}

/// A TLS Secret `ns/name` of type `type_` holding a fresh self-signed certificate for `names`.
pub(super) fn tls_secret(name: &str, ns: &str, type_: &str, names: &[&str]) -> Arc<Secret> {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let generated = rcgen::generate_simple_self_signed(names).expect("generate");
    object(
        json!({"metadata": {"name": name, "namespace": ns}, "type": type_,
                  "stringData": {"tls.crt": generated.cert.pem(),
                                 "tls.key": generated.key_pair.serialize_pem()}}),
    )
}

fn listener_condition<'a>(
    status: &'a GatewayApiStatus,
    gateway: &str,
    listener: &str,
    type_: &str,
) -> &'a crate::translate::gateway_api::Cond {
    status.gateways[gateway]
        .listeners
        .iter()
        .find(|l| l.name == listener)
        .unwrap_or_else(|| panic!("listener {listener}"))
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .unwrap_or_else(|| panic!("{listener} has {type_}"))
}

fn services() -> ServiceEndpoints {
    ServiceEndpoints::from([
        service("default", "web", 80, "10.0.0.1:8080"),
        service("other", "api", 8080, "10.0.0.2:9000"),
    ])
}

fn translate_gw(objects: &Objects) -> Translation {
    run_with(objects, &services())
}

fn routes_of<'a>(t: &'a Translation, name: &str) -> Vec<&'a Route> {
    let prefix = format!("httproute/default/{name}/");
    t.snapshot
        .routes
        .iter()
        .filter(|r| r.id.starts_with(&prefix))
        .collect()
}

pub(super) fn condition<'a>(
    status: &'a GatewayApiStatus,
    route: &str,
    type_: &str,
) -> (bool, &'a str) {
    let c = status
        .route_condition(route, 0, type_)
        .unwrap_or_else(|| panic!("{route} has {type_}"));
    (c.status, c.reason)
}

#[test]
fn only_classes_naming_our_controller_are_accepted_and_their_gateways_served() {
    let mut objects = objects(vec![]);
    objects
        .gateway
        .classes
        .push(class("other", "example.com/another-controller"));
    let mut foreign = (*gateway(
        "default",
        json!([{"name": "http", "protocol": "HTTP", "port": 80}]),
    ))
    .clone();
    foreign.metadata.name = Some("foreign".into());
    foreign.spec.gateway_class_name = "other".into();
    objects.gateway.gateways.push(Arc::new(foreign));
    let t = translate_gw(&objects);
    let status = &t.gateway_status;
    assert_eq!(status.classes.keys().collect::<Vec<_>>(), ["tollgate"]);
    assert!(status.classes["tollgate"][0].status);
    assert_eq!(status.gateways.keys().collect::<Vec<_>>(), ["default/gw"]);
    let gw_status = &status.gateways["default/gw"];
    let accepted = &gw_status.conditions[0];
    assert_eq!((accepted.type_, accepted.status), (gw::ACCEPTED, true));
    assert_eq!(accepted.observed_generation, Some(2));
    assert!(
        gw_status
            .conditions
            .iter()
            .any(|c| c.type_ == gw::PROGRAMMED && c.status)
    );
    assert_eq!(gw_status.listeners[0].supported_kinds[0].kind, "HTTPRoute");
}

#[test]
fn a_route_gets_the_intersection_of_its_hostnames_and_the_listeners() {
    let t = translate_gw(&objects(vec![http_route(
        "default",
        "r",
        json!({"parentRefs": [{"name": "gw"}],
               "hostnames": ["a.example.com", "*.b.example.com", "other.org", "*.com"],
               "rules": [{"backendRefs": [{"name": "web", "port": 80}]}]}),
    )]));
    let routes = routes_of(&t, "r");
    assert_eq!(routes.len(), 1);
    // `*.com` is wider than the listener's `*.example.com`: the listener's is kept.
    assert_eq!(
        routes[0].hosts,
        ["*.b.example.com", "*.example.com", "a.example.com"]
    );
    assert_eq!(
        condition(&t.gateway_status, "default/r", gw::ACCEPTED),
        (true, gw::ACCEPTED)
    );
    assert_eq!(
        t.gateway_status.gateways["default/gw"].listeners[0].attached_routes,
        1
    );
}

#[test]
fn hostname_intersection_follows_the_gateway_api() {
    assert_eq!(intersect(None, None), Some(None));
    assert_eq!(
        intersect(Some("*.example.com"), None),
        Some(Some("*.example.com".into()))
    );
    assert_eq!(intersect(None, Some("a.org")), Some(Some("a.org".into())));
    assert_eq!(
        intersect(Some("*.example.com"), Some("a.b.example.com")),
        Some(Some("a.b.example.com".into()))
    );
    assert_eq!(
        intersect(Some("a.example.com"), Some("*.example.com")),
        Some(Some("a.example.com".into()))
    );
    assert_eq!(intersect(Some("*.example.com"), Some("example.com")), None);
    assert_eq!(
        intersect(Some("a.example.com"), Some("b.example.com")),
        None
    );
}

#[test]
fn a_route_sharing_no_hostname_with_a_listener_is_not_accepted() {
    let t = translate_gw(&objects(vec![http_route(
        "default",
        "r",
        json!({"parentRefs": [{"name": "gw"}], "hostnames": ["other.org"],
               "rules": [{"backendRefs": [{"name": "web", "port": 80}]}]}),
    )]));
    assert!(routes_of(&t, "r").is_empty());
    assert_eq!(
        condition(&t.gateway_status, "default/r", gw::ACCEPTED),
        (false, gw::NO_MATCHING_LISTENER_HOSTNAME)
    );
    assert_eq!(
        t.gateway_status.gateways["default/gw"].listeners[0].attached_routes,
        0
    );
    assert!(!t.includes(Kind::HTTPRoute, "default", "r"));
}

#[test]
fn allowed_routes_same_refuses_another_namespace_and_a_selector_admits_by_label() {
    let mut objects = objects(vec![
        http_route(
            "team-a",
            "r",
            json!({"parentRefs": [{"name": "gw", "namespace": "default"}], "rules": [{}]}),
        ),
        http_route(
            "default",
            "own",
            json!({"parentRefs": [{"name": "gw"}], "rules": [{}]}),
        ),
    ]);
    objects.gateway.gateways = vec![gateway(
        "default",
        json!([{"name": "http", "protocol": "HTTP", "port": 80}]),
    )];
    let t = run(&objects);
    let status = &t.gateway_status;
    assert_eq!(
        condition(status, "team-a/r", gw::ACCEPTED),
        (false, gw::NOT_ALLOWED_BY_LISTENERS)
    );
    assert_eq!(
        condition(status, "default/own", gw::ACCEPTED),
        (true, gw::ACCEPTED)
    );

    objects.gateway.gateways = vec![gateway(
        "default",
        json!([{"name": "http", "protocol": "HTTP", "port": 80,
                "allowedRoutes": {"namespaces": {"from": "Selector",
                    "selector": {"matchLabels": {"gateway-access": "yes"}}}}}]),
    )];
    let t = run(&objects);
    assert_eq!(
        condition(&t.gateway_status, "team-a/r", gw::ACCEPTED),
        (false, gw::NOT_ALLOWED_BY_LISTENERS)
    );
    objects.namespaces = vec![Arc::new(
        serde_json::from_value(json!({
            "metadata": {"name": "team-a", "labels": {"gateway-access": "yes"}}
        }))
        .expect("namespace"),
    )];
    let t = run(&objects);
    assert_eq!(
        condition(&t.gateway_status, "team-a/r", gw::ACCEPTED),
        (true, gw::ACCEPTED)
    );
    // The Gateway's own namespace is not selected by the label.
    assert_eq!(
        condition(&t.gateway_status, "default/own", gw::ACCEPTED),
        (false, gw::NOT_ALLOWED_BY_LISTENERS)
    );
}

#[test]
fn a_parent_ref_naming_no_listener_or_no_gateway_is_no_matching_parent() {
    let t = translate_gw(&objects(vec![
        http_route(
            "default",
            "section",
            json!({"parentRefs": [{"name": "gw", "sectionName": "nope"}], "rules": [{}]}),
        ),
        http_route(
            "default",
            "port",
            json!({"parentRefs": [{"name": "gw", "port": 8080}], "rules": [{}]}),
        ),
        http_route(
            "default",
            "missing",
            json!({"parentRefs": [{"name": "absent"}], "rules": [{}]}),
        ),
        http_route(
            "default",
            "ok",
            json!({"parentRefs": [{"name": "gw", "sectionName": "http", "port": 80}], "rules": [{}]}),
        ),
    ]));
    let status = &t.gateway_status;
    for name in ["section", "port", "missing"] {
        assert_eq!(
            condition(status, &format!("default/{name}"), gw::ACCEPTED),
            (false, gw::NO_MATCHING_PARENT),
            "{name}"
        );
    }
    assert_eq!(
        condition(status, "default/ok", gw::ACCEPTED),
        (true, gw::ACCEPTED)
    );
}

#[test]
fn a_route_of_another_controllers_gateway_gets_no_status() {
    let mut objects = objects(vec![http_route(
        "default",
        "theirs",
        json!({"parentRefs": [{"name": "foreign"}], "rules": [{}]}),
    )]);
    let mut foreign = (*gateway(
        "default",
        json!([{"name": "http", "protocol": "HTTP", "port": 80}]),
    ))
    .clone();
    foreign.metadata.name = Some("foreign".into());
    foreign.spec.gateway_class_name = "other".into();
    objects.gateway.gateways.push(Arc::new(foreign));
    let t = translate_gw(&objects);
    assert!(!t.gateway_status.routes.contains_key("default/theirs"));
    assert!(routes_of(&t, "theirs").is_empty());
}

#[test]
fn matches_become_core_routes_with_exact_paths_prefixes_headers_queries_and_methods() {
    let t = translate_gw(&objects(vec![http_route(
        "default",
        "m",
        json!({"parentRefs": [{"name": "gw"}],
               "rules": [{"matches": [
                   {"path": {"type": "Exact", "value": "/exact"}},
                   {"path": {"type": "PathPrefix", "value": "/prefix/"},
                    "headers": [{"name": "X-Version", "value": "2"}, {"name": "x-version", "value": "3"},
                                {"type": "RegularExpression", "name": "x-re", "value": "^a+$"}],
                    "queryParams": [{"name": "q", "value": "1"}, {"name": "Q", "value": "2"}],
                    "method": "post"}
               ], "backendRefs": [{"name": "web", "port": 80}]},
               {"backendRefs": [{"name": "web", "port": 80}]}]}),
    )]));
    let routes = routes_of(&t, "m");
    let ids: Vec<&str> = routes.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "httproute/default/m/0/0",
            "httproute/default/m/0/1",
            "httproute/default/m/1/0"
        ]
    );
    assert_eq!(routes[0].exact_paths, ["/exact"]);
    assert!(routes[0].paths.is_empty());
    // A trailing slash of a prefix is ignored; of equivalent header names the first counts.
    assert_eq!(routes[1].paths, ["/prefix"]);
    assert_eq!(routes[1].methods, ["POST"]);
    assert_eq!(
        routes[1].headers,
        [
            HeaderMatch {
                name: "x-version".into(),
                value: "2".into(),
                kind: MatchKind::Exact
            },
            HeaderMatch {
                name: "x-re".into(),
                value: "^a+$".into(),
                kind: MatchKind::RegularExpression
            },
        ]
    );
    // Query parameter names are case-sensitive: `q` and `Q` both count.
    assert_eq!(
        routes[1].query_params,
        [
            QueryParamMatch {
                name: "q".into(),
                value: "1".into(),
                kind: MatchKind::Exact
            },
            QueryParamMatch {
                name: "Q".into(),
                value: "2".into(),
                kind: MatchKind::Exact
            },
        ]
    );
    // A rule without matches matches every path.
    assert_eq!(routes[2].paths, ["/"]);
    assert!(
        !routes[0].strip_path,
        "the Gateway API forwards the path unchanged"
    );
    assert!(routes[0].rank < routes[1].rank && routes[1].rank < routes[2].rank);
}

#[test]
fn rank_orders_routes_by_creation_time_then_namespace_and_name() {
    let mut older = (*http_route(
        "default",
        "zz-older",
        json!({"parentRefs": [{"name": "gw"}], "rules": [{}]}),
    ))
    .clone();
    older.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        "2026-01-01T00:00:00Z".parse().expect("time"),
    ));
    let mut newer = (*http_route(
        "default",
        "aa-newer",
        json!({"parentRefs": [{"name": "gw"}], "rules": [{}]}),
    ))
    .clone();
    newer.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        "2026-02-01T00:00:00Z".parse().expect("time"),
    ));
    let t = translate_gw(&objects(vec![Arc::new(newer), Arc::new(older)]));
    let rank = |name: &str| routes_of(&t, name)[0].rank;
    assert!(rank("zz-older") < rank("aa-newer"));
}

#[test]
fn backend_refs_carry_weights_and_an_unresolved_one_answers_500_with_its_reason() {
    let t = translate_gw(&objects(vec![
        http_route(
            "default",
            "w",
            json!({"parentRefs": [{"name": "gw"}], "rules": [{"backendRefs": [
                {"name": "web", "port": 80, "weight": 3},
                {"name": "missing", "port": 80, "weight": 1}
            ]}]}),
        ),
        http_route(
            "default",
            "kind",
            json!({"parentRefs": [{"name": "gw"}], "rules": [{"backendRefs": [
                {"group": "example.com", "kind": "Bucket", "name": "b"}
            ]}]}),
        ),
    ]));
    let route = routes_of(&t, "w")[0];
    assert_eq!(route.backends.len(), 2);
    assert_eq!(route.backends[0].weight, 3);
    assert_eq!(
        route.backends[0]
            .backend
            .as_ref()
            .map(|b| b.endpoints.clone()),
        Some(vec!["10.0.0.1:8080".to_string()])
    );
    assert_eq!(
        (
            route.backends[1].weight,
            route.backends[1].backend.is_none()
        ),
        (1, true)
    );
    assert_eq!(
        condition(&t.gateway_status, "default/w", gw::RESOLVED_REFS),
        (false, gw::BACKEND_NOT_FOUND)
    );
    // A route with an unresolved backendRef is still accepted (and served, 500 for that share).
    assert_eq!(
        condition(&t.gateway_status, "default/w", gw::ACCEPTED),
        (true, gw::ACCEPTED)
    );
    assert_eq!(
        condition(&t.gateway_status, "default/kind", gw::RESOLVED_REFS),
        (false, gw::INVALID_KIND)
    );
}

#[test]
fn a_cross_namespace_backend_needs_a_reference_grant() {
    let route = http_route(
        "default",
        "x",
        json!({"parentRefs": [{"name": "gw"}], "rules": [{"backendRefs": [
            {"name": "api", "namespace": "other", "port": 8080}
        ]}]}),
    );
    let mut objects = objects(vec![route]);
    let t = translate_gw(&objects);
    assert_eq!(
        condition(&t.gateway_status, "default/x", gw::RESOLVED_REFS),
        (false, gw::REF_NOT_PERMITTED)
    );
    assert!(routes_of(&t, "x")[0].backends[0].backend.is_none());

    let grant = |from_ns: &str, name: Option<&str>| -> Arc<ReferenceGrant> {
        object(
            json!({"metadata": {"name": "g", "namespace": "other"}, "spec": {
            "from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": from_ns}],
            "to": [{"group": "", "kind": "Service", "name": name}]}}),
        )
    };
    // A grant for another namespace, or another Service, does not allow it.
    objects.gateway.grants = vec![grant("elsewhere", None), grant("default", Some("not-api"))];
    let t = translate_gw(&objects);
    assert_eq!(
        condition(&t.gateway_status, "default/x", gw::RESOLVED_REFS),
        (false, gw::REF_NOT_PERMITTED)
    );

    objects.gateway.grants = vec![grant("default", Some("api"))];
    let t = translate_gw(&objects);
    assert_eq!(
        condition(&t.gateway_status, "default/x", gw::RESOLVED_REFS),
        (true, gw::RESOLVED_REFS)
    );
    assert_eq!(
        routes_of(&t, "x")[0].backends[0]
            .backend
            .as_ref()
            .map(|b| b.endpoints.clone()),
        Some(vec!["10.0.0.2:9000".to_string()])
    );
}

#[test]
fn extension_refs_and_the_annotation_attach_auth_plugins_and_a_missing_one_fails_closed() {
    let mut annotated = (*http_route(
        "default",
        "ann",
        json!({"parentRefs": [{"name": "gw"}], "rules": [
            {"matches": [{"path": {"value": "/auth"}}]}
        ]}),
    ))
    .clone();
    annotated.metadata.annotations = Some(BTreeMap::from([(
        "tollgate.dev/plugins".to_owned(),
        "oauth2".to_owned(),
    )]));
    let t = translate_gw(&objects(vec![
        Arc::new(annotated),
        http_route(
            "default",
            "ext",
            json!({"parentRefs": [{"name": "gw"}], "rules": [
                {"matches": [{"path": {"value": "/api"}}],
                 "filters": [{"type": "ExtensionRef", "extensionRef": {"group": "tollgate.dev", "kind": "AuthPlugin", "name": "oidc"}}],
                 "backendRefs": [{"name": "web", "port": 80}]},
                {"matches": [{"path": {"value": "/broken"}}],
                 "filters": [{"type": "ExtensionRef", "extensionRef": {"group": "tollgate.dev", "kind": "AuthPlugin", "name": "nope"}},
                             {"type": "RequestHeaderModifier", "requestHeaderModifier": {"add": [{"name": "x-a", "value": "1"}]}}],
                 "backendRefs": [{"name": "web", "port": 80}]}
            ]}),
        ),
    ]));
    assert_eq!(routes_of(&t, "ann")[0].plugins, ["default/oauth2"]);
    assert!(
        routes_of(&t, "ann")[0].backends.is_empty(),
        "a rule without backendRefs serves its plugin's endpoints"
    );
    let ext = routes_of(&t, "ext");
    assert_eq!(ext[0].plugins, ["default/oidc"]);
    // The broken rule is kept, with no plugin, no filter and no backend: 500, never unprotected.
    assert_eq!(ext[1].paths, ["/broken"]);
    assert!(ext[1].plugins.is_empty() && ext[1].filters.is_empty());
    assert_eq!(ext[1].backends.len(), 1);
    assert!(ext[1].backends[0].backend.is_none());
    assert_eq!(
        condition(&t.gateway_status, "default/ext", gw::RESOLVED_REFS),
        (false, gw::PLUGIN_NOT_FOUND)
    );
    assert!(
        t.problems
            .iter()
            .any(|p| p.kind == Kind::HTTPRoute && p.name == "ext" && p.message.contains("nope")),
        "{:?}",
        t.problems
    );
}

#[test]
fn filters_translate_in_order_and_an_unsupported_one_refuses_the_route() {
    let t = translate_gw(&objects(vec![
        http_route(
            "default",
            "f",
            json!({"parentRefs": [{"name": "gw"}], "rules": [
                {"matches": [{"path": {"value": "/old"}}],
                 "filters": [
                    {"type": "RequestHeaderModifier", "requestHeaderModifier": {"set": [{"name": "x-s", "value": "1"}], "remove": ["x-r"]}},
                    {"type": "URLRewrite", "urlRewrite": {"hostname": "new.example", "path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/new"}}},
                    {"type": "ResponseHeaderModifier", "responseHeaderModifier": {"add": [{"name": "x-resp", "value": "y"}]}}
                 ],
                 "backendRefs": [{"name": "web", "port": 80}]},
                {"matches": [{"path": {"value": "/moved"}}],
                 "filters": [{"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "port": 8443, "statusCode": 301,
                              "path": {"type": "ReplaceFullPath", "replaceFullPath": "/here"}}}]}
            ]}),
        ),
        http_route(
            "default",
            "mirror",
            json!({"parentRefs": [{"name": "gw"}], "rules": [
                {"filters": [{"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "web", "port": 80}}}]}
            ]}),
        ),
    ]));
    let f = routes_of(&t, "f");
    assert_eq!(f[0].filters.len(), 3);
    assert!(
        matches!(&f[0].filters[0], RouteFilter::RequestHeaderModifier { set, remove, .. } if set[0].name == "x-s" && remove == &["x-r"])
    );
    assert!(
        matches!(&f[0].filters[1], RouteFilter::UrlRewrite { hostname: Some(h), path: Some(PathModifier::ReplacePrefixMatch(p)) } if h == "new.example" && p == "/new")
    );
    assert!(
        matches!(&f[0].filters[2], RouteFilter::ResponseHeaderModifier { add, .. } if add[0].value == "y")
    );
    assert_eq!(
        f[1].filters,
        [RouteFilter::RequestRedirect {
            scheme: Some("https".into()),
            hostname: None,
            path: Some(PathModifier::ReplaceFullPath("/here".into())),
            port: Some(8443),
            status_code: 301,
        }]
    );
    assert!(routes_of(&t, "mirror").is_empty());
    assert_eq!(
        condition(&t.gateway_status, "default/mirror", gw::ACCEPTED),
        (false, gw::UNSUPPORTED_VALUE)
    );
    // One bad route never blocks another.
    assert_eq!(
        condition(&t.gateway_status, "default/f", gw::ACCEPTED),
        (true, gw::ACCEPTED)
    );
}

#[test]
fn http_routes_keep_the_clients_host_unless_annotated_false_and_a_bad_value_is_refused() {
    let annotated = |name: &str, value: Option<&str>| -> Arc<HTTPRoute> {
        let annotations =
            value.map_or_else(|| json!({}), |v| json!({"tollgate.dev/preserve-host": v}));
        object(json!({
            "metadata": {"name": name, "namespace": "default", "generation": 3,
                         "annotations": annotations},
            "spec": {"parentRefs": [{"name": "gw"}], "hostnames": [format!("{name}.example.com")],
                     "rules": [{"backendRefs": [{"name": "web", "port": 80}]}]}
        }))
    };
    let t = translate_gw(&objects(vec![
        annotated("kept", None),
        annotated("on", Some("TRUE")),
        annotated("off", Some("false")),
        annotated("bad", Some("yes please")),
    ]));
    let preserve = |name: &str| -> Vec<bool> {
        routes_of(&t, name)
            .iter()
            .map(|r| r.preserve_host)
            .collect()
    };
    assert_eq!(preserve("kept"), [true]);
    assert_eq!(preserve("on"), [true]);
    assert_eq!(preserve("off"), [false]);
    assert!(routes_of(&t, "bad").is_empty());
    assert_eq!(
        condition(&t.gateway_status, "default/bad", gw::ACCEPTED),
        (false, gw::UNSUPPORTED_VALUE)
    );
    let problem = t
        .problems
        .iter()
        .find(|p| p.name == "bad")
        .expect("the bad route's problem");
    assert_eq!(problem.kind, Kind::HTTPRoute);
    assert!(
        problem.message.contains("tollgate.dev/preserve-host"),
        "{}",
        problem.message
    );
    for name in ["kept", "on", "off"] {
        assert_eq!(
            condition(&t.gateway_status, &format!("default/{name}"), gw::ACCEPTED),
            (true, gw::ACCEPTED),
            "{name}"
        );
    }
    // Gateway API wildcards keep matching one or more labels.
    let t = translate_gw(&objects(vec![http_route(
        "default",
        "wild",
        json!({"parentRefs": [{"name": "gw"}],
               "rules": [{"backendRefs": [{"name": "web", "port": 80}]}]}),
    )]));
    let wild = routes_of(&t, "wild");
    assert_eq!(wild[0].hosts, ["*.example.com"]);
    assert!(!wild[0].single_label_wildcard);
    let table = tollgate_core::routing::RouteTable::new(&t.snapshot.routes);
    let found = table.find(Some("a.b.example.com"), "GET", "/");
    assert_eq!(
        found.map(|m| m.route.id.as_str()),
        Some("httproute/default/wild/0/0")
    );
}

#[test]
fn a_filter_touching_an_identity_header_is_left_out_by_validation_with_a_problem() {
    let t = translate_gw(&objects(vec![http_route(
        "default",
        "spoof",
        json!({"parentRefs": [{"name": "gw"}], "rules": [
            {"filters": [{"type": "RequestHeaderModifier", "requestHeaderModifier": {"set": [{"name": "X-Consumer-Username", "value": "admin"}]}}],
             "backendRefs": [{"name": "web", "port": 80}]}
        ]}),
    )]));
    assert!(routes_of(&t, "spoof").is_empty());
    assert!(
        t.problems.iter().any(|p| p.kind == Kind::HTTPRoute
            && p.name == "spoof"
            && p.reason == reason::INVALID_CONFIGURATION),
        "{:?}",
        t.problems
    );
    // The rest (the quickstart's plugins) is still served.
    assert_eq!(t.snapshot.plugins.len(), 2);
}

#[test]
fn timeouts_are_read_as_gateway_api_durations() {
    assert_eq!(parse_duration("10s"), Some(10_000));
    assert_eq!(parse_duration("1h2m3s4ms"), Some(3_723_004));
    assert_eq!(parse_duration("500ms"), Some(500));
    assert_eq!(parse_duration("0s"), Some(0));
    assert_eq!(parse_duration("1.5s"), None);
    assert_eq!(parse_duration("123456s"), None);
    assert_eq!(parse_duration(""), None);
    let t = translate_gw(&objects(vec![http_route(
        "default",
        "t",
        json!({"parentRefs": [{"name": "gw"}], "rules": [
            {"timeouts": {"request": "10s", "backendRequest": "2s"}, "backendRefs": [{"name": "web", "port": 80}]},
            {"timeouts": {"request": "0s"}, "backendRefs": [{"name": "web", "port": 80}]}
        ]}),
    )]));
    let routes = routes_of(&t, "t");
    assert_eq!(
        (
            routes[0].request_timeout_ms,
            routes[0].backend_request_timeout_ms
        ),
        (Some(10_000), Some(2_000))
    );
    // `0s` disables the timeout.
    assert_eq!(routes[1].request_timeout_ms, None);
}

#[test]
fn observed_generation_is_the_routes_generation_on_every_condition() {
    let t = translate_gw(&objects(vec![http_route(
        "default",
        "g",
        json!({"parentRefs": [{"name": "gw"}], "rules": [{}]}),
    )]));
    let parents = &t.gateway_status.routes["default/g"];
    assert_eq!(parents.len(), 1);
    assert!(
        parents[0]
            .conditions
            .iter()
            .all(|c| c.observed_generation == Some(7))
    );
    assert_eq!(parents[0].parent_ref.name, "gw");
}

#[test]
fn an_https_listener_needs_a_tls_secret_and_a_grant_for_another_namespaces() {
    let tls = |name: &str, ns: &str, type_: &str| tls_secret(name, ns, type_, &["gw.example.com"]);
    let mut objects = objects(vec![http_route(
        "default",
        "r",
        json!({"parentRefs": [{"name": "gw", "sectionName": "https"}], "rules": [{}]}),
    )]);
    let listeners = |secret_ns: Option<&str>| {
        json!([{"name": "https", "protocol": "HTTPS", "port": 443,
                "tls": {"certificateRefs": [{"name": "cert", "namespace": secret_ns}]}}])
    };
    objects.gateway.gateways = vec![gateway("default", listeners(None))];
    // Not a kubernetes.io/tls Secret (and unlabelled Secrets are read when named).
    objects.secrets.push(tls("cert", "default", "Opaque"));
    let t = run(&objects);
    let listener = &t.gateway_status.gateways["default/gw"].listeners[0];
    let resolved = listener
        .conditions
        .iter()
        .find(|c| c.type_ == gw::RESOLVED_REFS)
        .expect("ResolvedRefs");
    assert_eq!(
        (resolved.status, resolved.reason),
        (false, gw::INVALID_CERTIFICATE_REF)
    );
    assert_eq!(
        condition(&t.gateway_status, "default/r", gw::ACCEPTED),
        (false, gw::NO_MATCHING_PARENT)
    );

    objects.secrets.pop();
    objects
        .secrets
        .push(tls("cert", "default", "kubernetes.io/tls"));
    let t = run(&objects);
    assert_eq!(
        condition(&t.gateway_status, "default/r", gw::ACCEPTED),
        (true, gw::ACCEPTED)
    );

    objects.secrets.pop();
    objects
        .secrets
        .push(tls("cert", "certs", "kubernetes.io/tls"));
    objects.gateway.gateways = vec![gateway("default", listeners(Some("certs")))];
    let t = run(&objects);
    let listener = &t.gateway_status.gateways["default/gw"].listeners[0];
    let resolved = listener
        .conditions
        .iter()
        .find(|c| c.type_ == gw::RESOLVED_REFS)
        .expect("ResolvedRefs");
    assert_eq!(
        (resolved.status, resolved.reason),
        (false, gw::REF_NOT_PERMITTED)
    );
    objects.gateway.grants = vec![object(
        json!({"metadata": {"name": "g", "namespace": "certs"}, "spec": {
        "from": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": "default"}],
        "to": [{"group": "", "kind": "Secret"}]}}),
    )];
    let t = run(&objects);
    assert_eq!(
        condition(&t.gateway_status, "default/r", gw::ACCEPTED),
        (true, gw::ACCEPTED)
    );
}

#[test]
fn an_unsupported_listener_protocol_attaches_nothing_and_the_gateway_says_so() {
    let mut objects = objects(vec![]);
    objects.gateway.gateways = vec![gateway(
        "default",
        json!([{"name": "tcp", "protocol": "TCP", "port": 9000}]),
    )];
    let t = run(&objects);
    let status = &t.gateway_status.gateways["default/gw"];
    let accepted = &status.conditions[0];
    assert_eq!(
        (accepted.status, accepted.reason),
        (false, gw::LISTENERS_NOT_VALID)
    );
    let listener = &status.listeners[0].conditions[0];
    assert_eq!(
        (listener.status, listener.reason),
        (false, gw::UNSUPPORTED_PROTOCOL)
    );
}

#[test]
fn the_snapshot_with_http_routes_passes_the_proxys_validation() {
    let t = translate_gw(&objects(vec![http_route(
        "default",
        "v",
        json!({"parentRefs": [{"name": "gw"}], "rules": [
            {"matches": [{"path": {"value": "/a"}, "headers": [{"name": "x", "value": "1"}]}],
             "backendRefs": [{"name": "web", "port": 80, "weight": 1}, {"name": "web", "port": 80, "weight": 0}]}
        ]}),
    )]));
    assert!(tollgate_core::validate::check(&t.snapshot).is_empty());
    assert_eq!(routes_of(&t, "v").len(), 1);
    assert!(t.problems.is_empty(), "{:?}", t.problems);
}

#[test]
fn https_listeners_serve_their_certificates_by_name_and_a_broken_one_only_fails_its_listener() {
    let mut objects = objects(vec![
        http_route(
            "default",
            "plain",
            json!({"parentRefs": [{"name": "gw", "sectionName": "http"}], "rules": [{}]}),
        ),
        http_route(
            "default",
            "secure",
            json!({"parentRefs": [{"name": "gw", "sectionName": "a"}], "rules": [{}]}),
        ),
        http_route(
            "default",
            "both",
            json!({"parentRefs": [{"name": "gw", "sectionName": "http"},
                                  {"name": "gw", "sectionName": "b"}], "rules": [{}]}),
        ),
    ]);
    let https = |name: &str, hostname: Option<&str>, refs: &[&str]| {
        let refs: Vec<Value> = refs.iter().map(|r| json!({"name": r})).collect();
        json!({"name": name, "protocol": "HTTPS", "port": 443, "hostname": hostname,
               "tls": {"mode": "Terminate", "certificateRefs": refs}})
    };
    objects.gateway.gateways = vec![gateway(
        "default",
        json!([
            {"name": "http", "protocol": "HTTP", "port": 80},
            https("a", Some("a.example.com"), &["cert-a"]),
            https("b", Some("*.b.example.com"), &["cert-b"]),
            https("names", None, &["cert-c", "cert-d"]),
            https("broken", Some("broken.example.com"), &["cert-broken"]),
        ]),
    )];
    let broken = {
        let good = tls_secret(
            "cert-broken",
            "default",
            "kubernetes.io/tls",
            &["broken.example.com"],
        );
        let other = tls_secret("x", "default", "kubernetes.io/tls", &["broken.example.com"]);
        let mut secret = (*good).clone();
        let data = secret.string_data.as_mut().expect("stringData");
        data.insert(
            "tls.key".into(),
            other.string_data.as_ref().expect("data")["tls.key"].clone(),
        );
        Arc::new(secret)
    };
    objects.secrets.extend([
        tls_secret("cert-a", "default", "kubernetes.io/tls", &["a.example.com"]),
        tls_secret(
            "cert-b",
            "default",
            "kubernetes.io/tls",
            &["*.b.example.com"],
        ),
        tls_secret("cert-c", "default", "kubernetes.io/tls", &["c.example.com"]),
        tls_secret(
            "cert-d",
            "default",
            "kubernetes.io/tls",
            &["d.example.com", "*.d.example.com"],
        ),
        broken,
    ]);
    let t = run(&objects);
    let served: Vec<(&str, Vec<&str>)> = t
        .snapshot
        .certificates
        .iter()
        .map(|c| {
            (
                c.source.as_str(),
                c.hosts.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        served,
        [
            ("Secret default/cert-a", vec!["a.example.com"]),
            ("Secret default/cert-b", vec!["*.b.example.com"]),
            ("Secret default/cert-c", vec!["c.example.com"]),
            (
                "Secret default/cert-d",
                vec!["*.d.example.com", "d.example.com"]
            ),
        ]
    );
    let status = &t.gateway_status;
    for listener in ["http", "a", "b", "names"] {
        let programmed = listener_condition(status, "default/gw", listener, gw::PROGRAMMED);
        assert!(programmed.status, "{listener}: {programmed:?}");
    }
    let resolved = listener_condition(status, "default/gw", "broken", gw::RESOLVED_REFS);
    assert_eq!(
        (resolved.status, resolved.reason),
        (false, gw::INVALID_CERTIFICATE_REF)
    );
    assert!(
        resolved
            .message
            .contains("does not belong to the leaf certificate"),
        "{}",
        resolved.message
    );
    assert!(!listener_condition(status, "default/gw", "broken", gw::PROGRAMMED).status);
    assert!(
        t.problems.iter().any(|p| p.kind == Kind::Gateway
            && p.reason == gw::INVALID_CERTIFICATE_REF
            && p.message.starts_with("listener broken:")),
        "{:?}",
        t.problems
    );
    assert!(
        t.problems
            .iter()
            .all(|p| !p.message.contains("PRIVATE KEY"))
    );

    // Routes are bound to the port of the listeners they attach through.
    let bound = |name: &str| routes_of(&t, name)[0].listener;
    assert_eq!(bound("plain"), Some(ListenerPort::Http));
    assert_eq!(bound("secure"), Some(ListenerPort::Https));
    assert_eq!(bound("both"), None);
    assert!(tollgate_core::validate::check(&t.snapshot).is_empty());
}

#[test]
fn a_name_another_gateway_serves_first_is_a_hostname_conflict_and_the_first_keeps_it() {
    let mut objects = objects(vec![]);
    let listeners = json!([{"name": "https", "protocol": "HTTPS", "port": 443,
        "hostname": "a.example.com", "tls": {"certificateRefs": [{"name": "cert"}]}}]);
    let first = gateway("default", listeners.clone());
    let mut second = (*gateway("team", listeners)).clone();
    second.metadata.name = Some("later".into());
    objects.gateway.gateways = vec![Arc::new(second), first];
    objects.secrets.extend([
        tls_secret("cert", "default", "kubernetes.io/tls", &["a.example.com"]),
        tls_secret("cert", "team", "kubernetes.io/tls", &["a.example.com"]),
    ]);
    let t = run(&objects);
    let served: Vec<&str> = t
        .snapshot
        .certificates
        .iter()
        .map(|c| c.source.as_str())
        .collect();
    assert_eq!(served, ["Secret default/cert"]);
    let conflicted = listener_condition(&t.gateway_status, "team/later", "https", gw::CONFLICTED);
    assert_eq!(
        (conflicted.status, conflicted.reason),
        (true, gw::HOSTNAME_CONFLICT)
    );
    let first = listener_condition(&t.gateway_status, "default/gw", "https", gw::CONFLICTED);
    assert!(!first.status);
}

#[test]
fn a_tls_secret_without_the_label_is_read_when_a_listener_names_it_and_refused_to_a_credential() {
    let mut objects = quickstart();
    let mut unlabelled = (*objects.secrets[0]).clone();
    unlabelled.metadata.labels = None;
    objects.secrets = vec![Arc::new(unlabelled)];
    objects.secret_access = crate::translate::secrets::SecretAccess::LabelledKnowing(
        ["default/demo-client-secret".to_owned()].into(),
    );
    let t = run(&objects);
    let problem = t
        .problems
        .iter()
        .find(|p| p.kind == Kind::OAuth2Credential)
        .expect("the credential is left out");
    assert_eq!(problem.reason, reason::SECRET_NOT_LABELLED);
    assert!(
        problem
            .message
            .contains("add the label to Secret demo-client-secret"),
        "{}",
        problem.message
    );
    objects.secret_access = crate::translate::secrets::SecretAccess::Named;
    let t = run(&objects);
    assert!(
        t.problems.iter().all(|p| p.kind != Kind::OAuth2Credential),
        "standalone mode reads a named Secret whatever its labels: {:?}",
        t.problems
    );
}

#[test]
fn a_certificate_secret_a_cluster_holds_without_the_label_names_the_fix() {
    let mut objects = objects(vec![]);
    objects.gateway.gateways = vec![gateway(
        "default",
        json!([{"name": "https", "protocol": "HTTPS", "port": 443,
                "tls": {"certificateRefs": [{"name": "cert"}]}}]),
    )];
    objects.secret_access =
        crate::translate::secrets::SecretAccess::LabelledKnowing(["default/cert".into()].into());
    let t = run(&objects);
    let resolved = listener_condition(&t.gateway_status, "default/gw", "https", gw::RESOLVED_REFS);
    assert_eq!(
        (resolved.status, resolved.reason),
        (false, gw::INVALID_CERTIFICATE_REF)
    );
    assert!(
        resolved
            .message
            .contains("kubectl label secret -n default cert tollgate.dev/secret=certificate"),
        "{}",
        resolved.message
    );
}

/// HTTPRouteObservedGenerationBump: an edit bumps `metadata.generation`; every condition of the
/// next translation carries the new generation, and the edited rules are the ones served.
#[test]
fn an_edit_bumps_observed_generation_on_every_condition_and_is_served() {
    let at = |generation: i64, prefix: &str| -> Arc<HTTPRoute> {
        object(json!({
            "metadata": {"name": "bump", "namespace": "default", "generation": generation},
            "spec": {"parentRefs": [{"name": "gw"}], "rules": [{
                "matches": [{"path": {"type": "PathPrefix", "value": prefix}}],
                "backendRefs": [{"name": "web", "port": 80}]
            }]}
        }))
    };
    for (generation, prefix) in [(1, "/before"), (2, "/after")] {
        let t = translate_gw(&objects(vec![at(generation, prefix)]));
        let parents = &t.gateway_status.routes["default/bump"];
        assert_eq!(parents.len(), 1);
        assert!(
            parents[0]
                .conditions
                .iter()
                .all(|c| c.observed_generation == Some(generation)),
            "{:?}",
            parents[0].conditions
        );
        assert_eq!(
            condition(&t.gateway_status, "default/bump", gw::ACCEPTED),
            (true, gw::ACCEPTED)
        );
        assert_eq!(routes_of(&t, "bump")[0].paths, vec![prefix.to_string()]);
    }
}

/// HTTPRouteDisallowedKind: a listener whose `allowedRoutes.kinds` leaves out HTTPRoute takes
/// none; the route is not accepted (`NotAllowedByListeners`) and not served.
#[test]
fn a_listener_whose_kinds_leave_out_http_route_refuses_it() {
    let mut objects = objects(vec![http_route(
        "default",
        "kind",
        json!({"parentRefs": [{"name": "gw"}], "rules": [{"backendRefs": [{"name": "web", "port": 80}]}]}),
    )]);
    objects.gateway.gateways = vec![gateway(
        "default",
        json!([{"name": "http", "protocol": "HTTP", "port": 80, "hostname": "*.example.com",
                "allowedRoutes": {"namespaces": {"from": "All"},
                                  "kinds": [{"group": "gateway.networking.k8s.io", "kind": "GRPCRoute"}]}}]),
    )];
    let t = translate_gw(&objects);
    assert_eq!(
        condition(&t.gateway_status, "default/kind", gw::ACCEPTED),
        (false, gw::NOT_ALLOWED_BY_LISTENERS)
    );
    assert!(routes_of(&t, "kind").is_empty());
}

/// HTTPRoutePartiallyInvalidViaInvalidReferenceGrant: a grant naming another Service leaves the
/// route accepted with `ResolvedRefs` false (`RefNotPermitted`); its refused backend answers 500
/// while its other rule keeps its backend.
#[test]
fn a_grant_for_another_service_leaves_the_route_accepted_with_its_ref_unresolved() {
    let mut objects = objects(vec![http_route(
        "default",
        "partial",
        json!({"parentRefs": [{"name": "gw"}], "rules": [
            {"matches": [{"path": {"type": "PathPrefix", "value": "/local"}}],
             "backendRefs": [{"name": "web", "port": 80}]},
            {"matches": [{"path": {"type": "PathPrefix", "value": "/remote"}}],
             "backendRefs": [{"name": "api", "namespace": "other", "port": 8080}]}
        ]}),
    )]);
    objects.gateway.grants = vec![object(json!({
        "metadata": {"name": "g", "namespace": "other"},
        "spec": {
            "from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "default"}],
            "to": [{"group": "", "kind": "Service", "name": "not-api"}]
        }
    }))];
    let t = translate_gw(&objects);
    assert_eq!(
        condition(&t.gateway_status, "default/partial", gw::ACCEPTED),
        (true, gw::ACCEPTED)
    );
    assert_eq!(
        condition(&t.gateway_status, "default/partial", gw::RESOLVED_REFS),
        (false, gw::REF_NOT_PERMITTED)
    );
    let routes = routes_of(&t, "partial");
    let by_path = |p: &str| {
        routes
            .iter()
            .find(|r| r.paths == vec![p.to_string()])
            .unwrap_or_else(|| panic!("a route for {p}"))
    };
    assert!(by_path("/local").backends[0].backend.is_some());
    assert!(by_path("/remote").backends[0].backend.is_none());
}

/// In a cluster: a listener's certificate Secret without the label is served from the operator's
/// read of it, and one the operator could not read is `SecretNotReadable` with the fix, while the
/// Gateway's other listeners serve.
#[test]
fn an_unlabelled_certificate_secret_read_by_name_is_served_and_an_unreadable_one_names_the_fix() {
    let mut objects = objects(vec![]);
    objects.gateway.gateways = vec![gateway(
        "default",
        json!([{"name": "https", "protocol": "HTTPS", "port": 443, "hostname": "a.example.com",
                "tls": {"certificateRefs": [{"name": "cert"}]}},
               {"name": "locked", "protocol": "HTTPS", "port": 443, "hostname": "b.example.com",
                "tls": {"certificateRefs": [{"name": "locked"}]}},
               {"name": "http", "protocol": "HTTP", "port": 80}]),
    )];
    objects.secret_access = crate::translate::secrets::SecretAccess::LabelledKnowing(
        ["default/cert".into(), "default/locked".into()].into(),
    );
    objects.certificate_reads.read.insert(
        "default/cert".into(),
        tls_secret("cert", "default", "kubernetes.io/tls", &["a.example.com"]),
    );
    objects.certificate_reads.unreadable.insert(
        "default/locked".into(),
        "reading it was refused (403): grant the controller get on secrets".into(),
    );
    let names = crate::translate::certificates::named_certificate_secrets(
        &objects.gateway,
        &objects.ingress,
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["default/cert", "default/locked"]
    );
    let t = run(&objects);
    let served: Vec<(&str, &[String])> = t
        .snapshot
        .certificates
        .iter()
        .map(|c| (c.source.as_str(), c.hosts.as_slice()))
        .collect();
    assert_eq!(
        served,
        [("Secret default/cert", &["a.example.com".to_owned()][..])]
    );
    let ok = listener_condition(&t.gateway_status, "default/gw", "https", gw::RESOLVED_REFS);
    assert!(ok.status, "{}", ok.message);
    let locked = listener_condition(&t.gateway_status, "default/gw", "locked", gw::RESOLVED_REFS);
    assert_eq!(
        (locked.status, locked.reason),
        (false, reason::SECRET_NOT_READABLE)
    );
    assert!(
        locked
            .message
            .contains("grant the controller get on secrets")
    );
    let http = listener_condition(&t.gateway_status, "default/gw", "http", gw::PROGRAMMED);
    assert!(http.status);
    let problem = t
        .problems
        .iter()
        .find(|p| p.kind == Kind::Gateway)
        .expect("the Gateway has an Event");
    assert_eq!(problem.reason, reason::SECRET_NOT_READABLE);
}

/// Only references the Gateway may make are read: another namespace's Secret needs a
/// ReferenceGrant; other classes' Gateways and non-Secret kinds name nothing.
#[test]
fn named_certificate_secrets_follow_the_reference_rules() {
    let mut objects = objects(vec![]);
    let mut other = (*gateway(
        "default",
        json!([{"name": "https", "protocol": "HTTPS", "port": 443,
                "tls": {"certificateRefs": [{"name": "theirs"}]}}]),
    ))
    .clone();
    other.metadata.name = Some("other".into());
    other.spec.gateway_class_name = "someone-else".into();
    objects.gateway.gateways = vec![
        gateway(
            "default",
            json!([{"name": "https", "protocol": "HTTPS", "port": 443,
                    "tls": {"certificateRefs": [
                        {"name": "own"},
                        {"name": "granted", "namespace": "certs"},
                        {"name": "refused", "namespace": "vault"},
                        {"name": "map", "kind": "ConfigMap"}]}}]),
        ),
        Arc::new(other),
    ];
    objects.gateway.grants = vec![object(json!({
        "metadata": {"name": "to-certs", "namespace": "certs"},
        "spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": "Gateway",
                           "namespace": "default"}],
                 "to": [{"group": "", "kind": "Secret"}]}
    }))];
    let names = crate::translate::certificates::named_certificate_secrets(
        &objects.gateway,
        &objects.ingress,
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["certs/granted", "default/own"]
    );
}
