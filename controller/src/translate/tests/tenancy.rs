//! Namespaces as tenant boundaries and incarnations, as the translation builds them.

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::json;
use tollgate_core::snapshot::AcceptNamespaces;

use super::gateway_api::{class, condition, gateway, object};
use super::*;
use crate::resources::auth_plugin::{
    AllowedNamespaces, FromNamespaces, NamespaceSelector, SelectorOperator, SelectorRequirement,
};
use crate::resources::gateway_api::HTTPRoute;
use crate::translate::gateway_api::gw;

fn namespace(name: &str, labels: &[(&str, &str)]) -> Arc<Namespace> {
    Arc::new(Namespace {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| ((*k).into(), (*v).into()))
                    .collect(),
            ),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    })
}

fn accepted(
    objects: &Objects,
    allowed: Option<AllowedNamespaces>,
) -> Result<AcceptNamespaces, String> {
    let mut objects = objects.clone();
    Arc::make_mut(&mut objects.plugins[0])
        .spec
        .allowed_namespaces = allowed;
    let t = run(&objects);
    match t.snapshot.plugins.iter().find(|p| p.id == "default/oauth2") {
        Some(p) => Ok(p.accept_namespaces.clone()),
        None => Err(format!("{:?}", t.problems)),
    }
}

#[test]
fn allowed_namespaces_resolve_same_all_and_a_selector_over_namespace_labels() {
    let mut objects = quickstart();
    objects.namespaces = vec![
        namespace("default", &[("tenant", "shop")]),
        namespace("team-a", &[("tenant", "shop"), ("tier", "gold")]),
        namespace("team-b", &[("tenant", "shop")]),
        namespace("team-c", &[("tenant", "bank")]),
    ];
    assert_eq!(accepted(&objects, None), Ok(AcceptNamespaces::Same));
    let from = |from, selector| Some(AllowedNamespaces { from, selector });
    assert_eq!(
        accepted(&objects, from(FromNamespaces::All, None)),
        Ok(AcceptNamespaces::All)
    );
    let shop = NamespaceSelector {
        match_labels: BTreeMap::from([("tenant".into(), "shop".into())]),
        match_expressions: vec![SelectorRequirement {
            key: "tier".into(),
            operator: SelectorOperator::DoesNotExist,
            values: vec![],
        }],
    };
    // The plugin's own namespace is implied, not listed.
    assert_eq!(
        accepted(&objects, from(FromNamespaces::Selector, Some(shop))),
        Ok(AcceptNamespaces::Listed(vec!["team-b".into()]))
    );
    let bad = NamespaceSelector {
        match_expressions: vec![SelectorRequirement {
            key: "tier".into(),
            operator: SelectorOperator::In,
            values: vec![],
        }],
        ..NamespaceSelector::default()
    };
    let refused = accepted(&objects, from(FromNamespaces::Selector, Some(bad))).expect_err("bad");
    assert!(refused.contains("needs values"), "{refused}");
    let missing =
        accepted(&objects, from(FromNamespaces::Selector, None)).expect_err("no selector");
    assert!(missing.contains("selector exactly when"), "{missing}");
}

#[test]
fn incarnations_come_from_the_plugins_uid_and_the_secrets_uid_and_resource_version() {
    let mut objects = quickstart();
    let plugin = Arc::make_mut(&mut objects.plugins[0]);
    plugin.metadata.uid = Some("plugin-uid-1".into());
    let secret = Arc::make_mut(&mut objects.secrets[0]);
    secret.metadata.uid = Some("secret-uid".into());
    secret.metadata.resource_version = Some("41".into());
    let t = run(&objects);
    let plugin = t.snapshot.plugins.iter().find(|p| p.id == "default/oauth2");
    assert_eq!(plugin.map(|p| p.incarnation.as_str()), Some("plugin-uid-1"));
    assert_eq!(t.snapshot.credentials[0].incarnation, "secret-uid/41");
    // The same value written again is another installation of it.
    Arc::make_mut(&mut objects.secrets[0])
        .metadata
        .resource_version = Some("97".into());
    let again = run(&objects);
    assert_eq!(again.snapshot.credentials[0].incarnation, "secret-uid/97");
    assert_eq!(
        again.snapshot.credentials[0].secret_verifier,
        t.snapshot.credentials[0].secret_verifier
    );
}

#[test]
fn a_route_of_another_namespace_cannot_take_the_token_endpoint_of_an_older_one() {
    let mut objects = quickstart();
    let mut steal = route("steal", "/auth/oauth2", "oauth2", None);
    steal.metadata.namespace = Some("team-b".into());
    steal.spec.plugins.clear();
    objects.routes.push(Arc::new(steal));
    let t = run(&objects);
    let conflicts: Vec<(&str, &str)> = t
        .problems
        .iter()
        .filter(|p| p.reason == reason::ROUTE_CONFLICT)
        .map(|p| (p.namespace.as_str(), p.name.as_str()))
        .collect();
    assert_eq!(conflicts, [("team-b", "steal")]);
    assert!(t.snapshot.routes.iter().all(|r| r.id != "team-b/steal"));
    assert!(t.snapshot.routes.iter().any(|r| r.id == "default/auth"));
}

// ---- every route kind through one check ----

fn created(at: &str) -> Time {
    Time(at.parse().expect("a time"))
}

/// HTTPRoute `ns/name` created at `created` (RFC 3339), attached to `default/gw`.
fn aged_http_route(ns: &str, name: &str, created: &str, spec: serde_json::Value) -> Arc<HTTPRoute> {
    let mut spec = spec;
    spec["parentRefs"] = json!([{"name": "gw", "namespace": "default"}]);
    object(json!({
        "metadata": {"name": name, "namespace": ns, "generation": 3,
                     "creationTimestamp": created},
        "spec": spec
    }))
}

/// The quickstart (its GatewayRoutes `default/auth` at `/auth` with the oauth2 plugin and
/// `default/httpbin` at `/` without hosts), our class, and Gateway `default/gw` with one HTTP
/// listener without hostname admitting every namespace.
fn shared_gateway(routes: Vec<Arc<HTTPRoute>>) -> Objects {
    let mut objects = quickstart();
    for route in &mut objects.routes {
        Arc::make_mut(route).metadata.creation_timestamp = Some(created("2025-06-01T00:00:00Z"));
    }
    objects.gateway.classes = vec![class("tollgate", "tollgate.dev/gateway-controller")];
    objects.gateway.gateways = vec![gateway(
        "default",
        json!([{"name": "http", "protocol": "HTTP", "port": 80,
                "allowedRoutes": {"namespaces": {"from": "All"}}}]),
    )];
    objects.gateway.routes = routes;
    objects
}

fn conflicts(t: &Translation) -> Vec<(Kind, String)> {
    t.problems
        .iter()
        .filter(|p| p.reason == reason::ROUTE_CONFLICT)
        .map(|p| (p.kind, format!("{}/{}", p.namespace, p.name)))
        .collect()
}

fn served_ids(t: &Translation) -> Vec<&str> {
    t.snapshot.routes.iter().map(|r| r.id.as_str()).collect()
}

/// A's oauth2 HTTPRoute at `/a` (token endpoint `/a/oauth2/token`), on `api.example.com`.
fn a_token_route() -> Arc<HTTPRoute> {
    aged_http_route(
        "team-a",
        "token",
        "2026-01-01T00:00:00Z",
        json!({"hostnames": ["api.example.com"],
               "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/a"}}],
                          "filters": [{"type": "ExtensionRef", "extensionRef":
                              {"group": "tollgate.dev", "kind": "AuthPlugin", "name": "oauth2"}}]}]}),
    )
}

#[test]
fn an_http_route_of_another_namespace_cannot_take_an_older_token_endpoint_by_any_match() {
    // A's plugin lives in A's namespace.
    let mut plugin = oauth2_plugin("oauth2");
    plugin.metadata.namespace = Some("team-a".into());
    let b_matches = [
        json!({"path": {"type": "Exact", "value": "/a/oauth2/token"}}),
        json!({"path": {"type": "PathPrefix", "value": "/a/oauth2"}}),
        json!({"path": {"type": "PathPrefix", "value": "/a"},
               "headers": [{"name": "x-tenant", "value": "b"}]}),
        json!({"path": {"type": "PathPrefix", "value": "/a"},
               "queryParams": [{"name": "v", "value": "1"}]}),
        json!({"path": {"type": "Exact", "value": "/a/oauth2/token"}, "method": "POST"}),
    ];
    for b_match in b_matches {
        let steal = aged_http_route(
            "team-b",
            "steal",
            "2026-01-02T00:00:00Z",
            json!({"hostnames": ["api.example.com"],
                   "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/b"}}]},
                             {"matches": [b_match.clone()]}]}),
        );
        let own = aged_http_route(
            "team-b",
            "own",
            "2026-01-03T00:00:00Z",
            json!({"hostnames": ["api.example.com"],
                   "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/b/own"}},
                                          {"path": {"type": "Exact", "value": "/ab/oauth2/token"}}]}]}),
        );
        let mut objects = shared_gateway(vec![steal, a_token_route(), own]);
        objects.plugins.push(Arc::new(plugin.clone()));
        let t = run(&objects);
        assert_eq!(
            conflicts(&t),
            [(Kind::HTTPRoute, "team-b/steal".to_owned())],
            "{b_match}"
        );
        let ids = served_ids(&t);
        // The whole route is left out, its harmless rule too.
        assert!(
            ids.iter()
                .all(|id| !id.starts_with("httproute/team-b/steal/")),
            "{b_match}: {ids:?}"
        );
        assert!(ids.contains(&"httproute/team-a/token/0/0"), "{ids:?}");
        assert!(ids.contains(&"httproute/team-b/own/0/0"), "{ids:?}");
        assert!(ids.contains(&"httproute/team-b/own/0/1"), "{ids:?}");
        let (accepted, why) = condition(&t.gateway_status, "team-b/steal", gw::ACCEPTED);
        assert_eq!((accepted, why), (false, gw::ROUTE_CONFLICT), "{b_match}");
        let message = &t
            .gateway_status
            .route_condition("team-b/steal", 0, gw::ACCEPTED)
            .expect("condition")
            .message;
        assert!(message.contains("HTTPRoute team-a/token"), "{message}");
        assert_eq!(
            condition(&t.gateway_status, "team-b/own", gw::ACCEPTED),
            (true, gw::ACCEPTED)
        );
        assert_eq!(
            condition(&t.gateway_status, "team-a/token", gw::ACCEPTED),
            (true, gw::ACCEPTED)
        );
        // Attachment is parentRefs and allowedRoutes alone: the refused route still counts.
        assert_eq!(
            t.gateway_status.gateways["default/gw"].listeners[0].attached_routes,
            3
        );
    }
}

#[test]
fn gateway_routes_and_http_routes_are_checked_against_each_other() {
    // B's HTTPRoute without hostnames (the listener has none) takes the token endpoint of the
    // quickstart's GatewayRoute `default/auth`: refused.
    let steal = aged_http_route(
        "team-b",
        "steal",
        "2026-01-02T00:00:00Z",
        json!({"rules": [{"matches": [{"path": {"type": "Exact", "value": "/auth/oauth2/token"}}]}]}),
    );
    // The same in A's own namespace nests freely.
    let inner = aged_http_route(
        "default",
        "inner",
        "2026-01-02T00:00:00Z",
        json!({"rules": [{"matches": [{"path": {"type": "Exact", "value": "/auth/oauth2/token"}}]}]}),
    );
    let t = run(&shared_gateway(vec![steal, inner]));
    assert_eq!(
        conflicts(&t),
        [(Kind::HTTPRoute, "team-b/steal".to_owned())]
    );
    assert!(served_ids(&t).contains(&"default/auth"));
    assert!(served_ids(&t).contains(&"httproute/default/inner/0/0"));
    assert_eq!(
        condition(&t.gateway_status, "team-b/steal", gw::ACCEPTED),
        (false, gw::ROUTE_CONFLICT)
    );

    // A GatewayRoute of B under A's older protected HTTPRoute: the GatewayRoute is refused.
    let mut plugin = oauth2_plugin("oauth2");
    plugin.metadata.namespace = Some("team-a".into());
    let token = aged_http_route(
        "team-a",
        "token",
        "2026-01-01T00:00:00Z",
        json!({"rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/a"}}],
                          "filters": [{"type": "ExtensionRef", "extensionRef":
                              {"group": "tollgate.dev", "kind": "AuthPlugin", "name": "oauth2"}}]}]}),
    );
    let mut objects = shared_gateway(vec![token]);
    // Without the quickstart's catch-all protected route, which A's route would conflict with.
    objects.routes.clear();
    objects.plugins.push(Arc::new(plugin));
    let mut grab = route("grab", "/a/oauth2", "oauth2", None);
    grab.metadata.namespace = Some("team-b".into());
    grab.metadata.creation_timestamp = Some(created("2026-01-05T00:00:00Z"));
    grab.spec.plugins.clear();
    objects.routes.push(Arc::new(grab));
    let t = run(&objects);
    assert_eq!(
        conflicts(&t),
        [(Kind::GatewayRoute, "team-b/grab".to_owned())]
    );
    assert!(served_ids(&t).contains(&"httproute/team-a/token/0/0"));
    let problem = t
        .problems
        .iter()
        .find(|p| p.reason == reason::ROUTE_CONFLICT)
        .expect("the conflict");
    assert!(
        problem.message.contains("HTTPRoute team-a/token"),
        "{}",
        problem.message
    );
}
