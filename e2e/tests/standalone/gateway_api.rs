//! The Gateway API in standalone mode, through the shipped binary and the real httpbin: the
//! quickstart's token flow on HTTPRoutes (an `oauth2` AuthPlugin named by the
//! `tollgate.dev/plugins` annotation serving `<prefix>/oauth2/token`, an `openid-connect` one
//! named by an `ExtensionRef` filter guarding another rule), on both server paths; matching
//! precedence; hostname intersection; ReferenceGrant allowing and refusing; a listener's
//! `allowedRoutes` refusing a namespace; the client's `Host` reaching an HTTPRoute's backend
//! (and a GatewayRoute's only when its backend asks). httpbin is reached through a selector-less Service and
//! its EndpointSlice, as a cluster points a Service at an outside address.
//!
//! The quickstart's Consumer, credential and AuthPlugins are kept; its GatewayRoutes are removed,
//! so every answer here comes from an HTTPRoute.

use http::Method;
use tollgate_e2e::fixture::{
    access_token_of, assert_echoed_path, assert_logged, assert_status, echoed_headers,
};
use tollgate_e2e::manifests::{self_signed, tls_secret};

use super::support::{Fixture, HOST, NOT_YET};

/// Our GatewayClass and a Gateway with an HTTP and an HTTPS listener for `*.example.test` taking
/// routes of every namespace (its certificate Secret `gateway-cert` is written beside).
const GATEWAY: &str = "\
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: tollgate}
spec: {controllerName: tollgate.dev/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gateway}
spec:
  gatewayClassName: tollgate
  listeners:
  - name: http
    protocol: HTTP
    port: 80
    hostname: '*.example.test'
    allowedRoutes: {namespaces: {from: All}}
  - name: https
    protocol: HTTPS
    port: 443
    hostname: '*.example.test'
    tls: {certificateRefs: [{name: gateway-cert}]}
    allowedRoutes: {namespaces: {from: All}}
";

/// The quickstart's flow on HTTPRoutes: tokens at `/auth/oauth2/token`, httpbin behind the
/// openid-connect plugin for every other path.
const TOKEN_FLOW: &str = "\
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: auth
  annotations: {tollgate.dev/plugins: oauth2}
spec:
  parentRefs: [{name: gateway}]
  hostnames: [api.example.test]
  rules:
  - matches: [{path: {type: PathPrefix, value: /auth}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: httpbin}
spec:
  parentRefs: [{name: gateway}]
  hostnames: [api.example.test]
  rules:
  - filters:
    - type: ExtensionRef
      extensionRef: {group: tollgate.dev, kind: AuthPlugin, name: oidc}
    backendRefs: [{name: httpbin, port: 80}]
";

/// `gateway` (our class and a Gateway) and the Gateway's certificate Secret `gateway-cert`.
fn with_certificate(gateway: &str) -> String {
    let certificate = tls_secret("gateway-cert", &self_signed(&["*.example.test"]));
    format!("{gateway}---\n{certificate}")
}

/// The shared fixture serving [`GATEWAY`] and `extra`.
pub(super) async fn start(name: &str, args: &[&str], extra: &[(&str, &str)]) -> Fixture {
    start_tagged(name, args, extra, None).await
}

/// [`start`]; with a `tag`, the httpbin echoes it ([`Httpbin::start_tagged`]).
///
/// [`Httpbin::start_tagged`]: tollgate_e2e::httpbin::Httpbin::start_tagged
pub(super) async fn start_tagged(
    name: &str,
    args: &[&str],
    extra: &[(&str, &str)],
    tag: Option<&str>,
) -> Fixture {
    let gateway = with_certificate(GATEWAY);
    let mut files = vec![("gateway.yaml", gateway.as_str())];
    files.extend_from_slice(extra);
    Fixture::start_tagged(name, args, &files, tag).await
}

async fn the_token_flow_runs_on_http_routes(name: &str, args: &[&str]) {
    let fx = start(name, args, &[("routes.yaml", TOKEN_FLOW)]).await;
    // Another host of the listener is not one of the routes' hostnames.
    fx.assert_token_flow().await;
}

#[tokio::test]
async fn the_token_flow_runs_on_http_routes_on_the_fast_path() {
    the_token_flow_runs_on_http_routes("gateway-api-token-fast", &[]).await;
}

#[tokio::test]
async fn the_token_flow_runs_on_http_routes_on_the_hyper_path() {
    the_token_flow_runs_on_http_routes("gateway-api-token-hyper", &["--http1-fast-path", "false"])
        .await;
}

/// An open prefix route and more specific ones guarded by the openid-connect plugin (401 without
/// a token): which one answers shows which one matched.
const PRECEDENCE: &str = "\
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: open}
spec:
  parentRefs: [{name: gateway}]
  hostnames: [api.example.test]
  rules:
  - matches: [{path: {type: PathPrefix, value: /anything}}]
    backendRefs: [{name: httpbin, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: guarded}
spec:
  parentRefs: [{name: gateway}]
  hostnames: [api.example.test]
  rules:
  - matches:
    - {path: {type: Exact, value: /anything/exact}}
    - {path: {type: PathPrefix, value: /anything}, headers: [{name: x-variant, value: guarded}]}
    - {path: {type: PathPrefix, value: /anything}, queryParams: [{name: variant, value: guarded}]}
    - {path: {type: PathPrefix, value: /anything}, method: DELETE}
    filters:
    - type: ExtensionRef
      extensionRef: {group: tollgate.dev, kind: AuthPlugin, name: oidc}
    backendRefs: [{name: httpbin, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: elsewhere}
spec:
  parentRefs: [{name: gateway}]
  hostnames: [other.test]
  rules:
  - backendRefs: [{name: httpbin, port: 80}]
";

#[tokio::test]
async fn matching_precedence_and_hostname_intersection_on_http_routes() {
    let fx = start(
        "gateway-api-precedence",
        &[],
        &[("routes.yaml", PRECEDENCE)],
    )
    .await;
    for (path, status) in [
        ("/anything", 200),
        ("/anything/exact", 401),
        ("/anything/exact/below", 200),
        ("/anything/exactly", 200),
        ("/anything?variant=guarded", 401),
        ("/anything?variant=other", 200),
    ] {
        let r = fx.get(HOST, path).await;
        assert_status(&r, status, &format!("GET {path}"));
    }
    let header = fx
        .http(Method::GET, HOST, "/anything", &[("x-variant", "guarded")])
        .await;
    assert_status(&header, 401, "header");
    let delete = fx.http(Method::DELETE, HOST, "/anything", &[]).await;
    assert_status(&delete, 401, "delete");
    // `other.test` is outside the listener's `*.example.test`: the route is not accepted.
    let outside = fx.get("other.test", "/anything").await;
    assert_status(&outside, 404, "outside");
    assert_logged(&fx.log(), &["NoMatchingListenerHostname", "elsewhere"]);
}

/// A route of namespace `team` sending to the Service `httpbin` of `default`.
const CROSS_NAMESPACE: &str = "\
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: team-route, namespace: team}
spec:
  parentRefs: [{name: gateway, namespace: default}]
  hostnames: [team.example.test]
  rules:
  - backendRefs: [{name: httpbin, namespace: default, port: 80}]
";

const GRANT: &str = "\
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: team-to-httpbin, namespace: default}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: team}]
  to: [{group: '', kind: Service, name: httpbin}]
";

#[tokio::test]
async fn a_reference_grant_allows_a_cross_namespace_backend_and_its_absence_refuses_it() {
    let fx = start("gateway-api-grant", &[], &[("team.yaml", CROSS_NAMESPACE)]).await;
    // Refused: the rule is served, and its backend answers 500 (the Gateway API's rule).
    let refused = fx.get("team.example.test", "/anything").await;
    assert_status(&refused, 500, "refused");
    assert_logged(&fx.log(), &["RefNotPermitted"]);

    fx.manifests.write_file("grant.yaml", GRANT).expect("grant");
    fx.wait_status("team.example.test", "/anything", 200).await;

    std::fs::remove_file(fx.manifests.dir().join("grant.yaml")).expect("remove the grant");
    fx.wait_status("team.example.test", "/anything", 500).await;
}

#[tokio::test]
async fn allowed_routes_refuses_a_namespace_the_listener_does_not_admit() {
    let same_only = GATEWAY.replace("{namespaces: {from: All}}", "{namespaces: {from: Same}}");
    let fx = start(
        "gateway-api-allowed",
        &[],
        &[("team.yaml", CROSS_NAMESPACE), ("grant.yaml", GRANT)],
    )
    .await;
    fx.wait_status("team.example.test", "/anything", 200).await;
    fx.manifests
        .write_file("gateway.yaml", &with_certificate(&same_only))
        .expect("gateway");
    fx.wait_status("team.example.test", "/anything", 404).await;
    assert_logged(&fx.log(), &["NotAllowedByListeners", "team-route"]);
}

/// Each filter, and weights: a quarter of the traffic goes to a backendRef naming no Service.
const FILTERS: &str = "\
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: filters}
spec:
  parentRefs: [{name: gateway}]
  hostnames: [api.example.test]
  rules:
  - matches: [{path: {type: PathPrefix, value: /anything/modified}}]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        add: [{name: x-added, value: 'yes'}]
        set: [{name: x-set, value: replaced}]
        remove: [x-dropped]
    - type: ResponseHeaderModifier
      responseHeaderModifier: {set: [{name: x-response, value: from-the-gateway}]}
    backendRefs: [{name: httpbin, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /old}}]
    filters:
    - type: URLRewrite
      urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /anything/new}}
    backendRefs: [{name: httpbin, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /moved}}]
    filters:
    - type: RequestRedirect
      requestRedirect: {scheme: https, hostname: www.example.test, statusCode: 301}
  - matches: [{path: {type: PathPrefix, value: /anything/split}}]
    backendRefs:
    - {name: httpbin, port: 80, weight: 3}
    - {name: no-such-service, port: 80, weight: 1}
";

async fn filters_apply_through_an_http_route(name: &str, args: &[&str]) {
    let fx = start(name, args, &[("routes.yaml", FILTERS)]).await;
    let modified = fx
        .http(
            Method::GET,
            HOST,
            "/anything/modified",
            &[("x-set", "original"), ("x-dropped", "gone")],
        )
        .await;
    assert_status(&modified, 200, "modified");
    assert_eq!(modified.header("x-response"), Some("from-the-gateway"));
    let seen = echoed_headers(&modified.json());
    assert_eq!(seen.get("x-added").map(String::as_str), Some("yes"));
    assert_eq!(seen.get("x-set").map(String::as_str), Some("replaced"));
    assert!(!seen.contains_key("x-dropped"), "{seen:?}");

    let rewritten = fx.get(HOST, "/old/page").await;
    assert_echoed_path(&rewritten, "/anything/new/page");

    let moved = fx.get(HOST, "/moved/here").await;
    assert_status(&moved, 301, "moved");
    assert_eq!(
        moved.header("location"),
        Some("https://www.example.test/moved/here")
    );
}

/// HTTPRoutes keeping the client's `Host` (the default), one annotated not to, one with a
/// value the annotation does not take, and two GatewayRoutes: Kong's default (the backend's
/// `host:port`) and one whose backend sets `preserveHost`.
const HOSTS: &str = "\
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: kept}
spec:
  parentRefs: [{name: gateway}]
  hostnames: [kept.example.test]
  rules:
  - backendRefs: [{name: httpbin, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: own
  annotations: {tollgate.dev/preserve-host: 'false'}
spec:
  parentRefs: [{name: gateway}]
  hostnames: [own.example.test]
  rules:
  - backendRefs: [{name: httpbin, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: bad-annotation
  annotations: {tollgate.dev/preserve-host: maybe}
spec:
  parentRefs: [{name: gateway}]
  hostnames: [bad.example.test]
  rules:
  - backendRefs: [{name: httpbin, port: 80}]
---
apiVersion: tollgate.dev/v1alpha1
kind: GatewayRoute
metadata: {name: direct}
spec:
  hosts: [direct.example.test]
  paths: [/]
  stripPath: false
  backend: {url: 'http://127.0.0.1:UPSTREAM_PORT'}
---
apiVersion: tollgate.dev/v1alpha1
kind: GatewayRoute
metadata: {name: direct-kept}
spec:
  hosts: [direct-kept.example.test]
  paths: [/]
  stripPath: false
  backend: {url: 'http://127.0.0.1:UPSTREAM_PORT', preserveHost: true}
";

async fn the_client_host_reaches_http_routes_backends(name: &str, args: &[&str]) {
    let fx = start(name, args, &[]).await;
    let port = fx.httpbin.port();
    fx.manifests
        .write_file(
            "hosts.yaml",
            &HOSTS.replace("UPSTREAM_PORT", &port.to_string()),
        )
        .expect("host manifests");
    fx.wait_status("direct-kept.example.test", "/headers", 200)
        .await;
    let own = format!("127.0.0.1:{port}");
    for (host, want) in [
        ("kept.example.test", "kept.example.test"),
        // The port as the client sent it, and its spelling.
        ("Kept.Example.test:8000", "Kept.Example.test:8000"),
        ("own.example.test", own.as_str()),
        ("direct.example.test", own.as_str()),
        ("direct-kept.example.test", "direct-kept.example.test"),
    ] {
        let r = fx.get(host, "/headers").await;
        assert_status(&r, 200, host);
        let seen = echoed_headers(&r.json());
        assert_eq!(
            seen.get("host").map(String::as_str),
            Some(want),
            "{host}: {seen:?}"
        );
    }
    // A value the annotation does not take: that route alone is not served, and says why.
    let bad = fx.get("bad.example.test", "/headers").await;
    assert_status(&bad, 404, "bad annotation");
    assert_logged(
        &fx.log(),
        &[
            "name=bad-annotation ",
            "UnsupportedValue",
            "tollgate.dev/preserve-host",
        ],
    );
}

#[tokio::test]
async fn the_client_host_reaches_http_routes_backends_on_the_fast_path() {
    the_client_host_reaches_http_routes_backends("gateway-api-host-fast", &[]).await;
}

#[tokio::test]
async fn the_client_host_reaches_http_routes_backends_on_the_hyper_path() {
    the_client_host_reaches_http_routes_backends(
        "gateway-api-host-hyper",
        &["--http1-fast-path", "false"],
    )
    .await;
}

#[tokio::test]
async fn filters_apply_through_an_http_route_on_the_fast_path() {
    filters_apply_through_an_http_route("gateway-api-filters-fast", &[]).await;
}

#[tokio::test]
async fn filters_apply_through_an_http_route_on_the_hyper_path() {
    filters_apply_through_an_http_route(
        "gateway-api-filters-hyper",
        &["--http1-fast-path", "false"],
    )
    .await;
}

#[tokio::test]
async fn weights_split_the_traffic_within_ten_percent_over_a_thousand_requests() {
    let fx = start("gateway-api-weights", &[], &[("routes.yaml", FILTERS)]).await;
    let (mut served, mut unresolved) = (0, 0);
    for _ in 0..1000 {
        match fx.get(HOST, "/anything/split").await.status.as_u16() {
            200 => served += 1,
            500 => unresolved += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    println!("weights 3:1 over 1000 requests: {served} served, {unresolved} answered 500");
    assert!(
        (650..=850).contains(&served),
        "{served} of 1000 for weight 3 of 4"
    );
    assert_eq!(served + unresolved, 1000);
}

/// A rule naming an AuthPlugin that does not exist, under an open rule of a shorter prefix.
const MISSING_PLUGIN: &str = "\
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: guarded-later}
spec:
  parentRefs: [{name: gateway}]
  hostnames: [api.example.test]
  rules:
  - matches: [{path: {type: PathPrefix, value: /anything}}]
    backendRefs: [{name: httpbin, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /anything/private}}]
    filters:
    - type: ExtensionRef
      extensionRef: {group: tollgate.dev, kind: AuthPlugin, name: not-yet}
    backendRefs: [{name: httpbin, port: 80}]
";

#[tokio::test]
async fn a_rule_whose_auth_plugin_is_missing_answers_500_until_the_plugin_exists() {
    let fx = start(
        "gateway-api-missing-plugin",
        &[],
        &[("routes.yaml", MISSING_PLUGIN)],
    )
    .await;
    // Fail closed: never served unprotected, and never by the open rule's shorter prefix.
    let private = fx.get(HOST, "/anything/private").await;
    assert_status(&private, 500, "private");
    assert_eq!(fx.get(HOST, "/anything/public").await.status, 200);
    assert_logged(&fx.log(), &["PluginNotFound", "guarded-later"]);
    fx.manifests
        .write_file("plugin.yaml", NOT_YET)
        .expect("plugin");
    fx.wait_status(HOST, "/anything/private", 401).await;
}

/// Namespace `team` shares the Gateway (`allowedRoutes: All`) with `default`, whose `auth` route
/// serves the token endpoint at `/auth/oauth2/token` on `api.example.test`: `steal` would take
/// that exact path (and show httpbin every client secret sent there); `own` is on the team's
/// own host. Both reach httpbin through the ReferenceGrant.
const INTERCEPTION: &str = "\
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: steal, namespace: team}
spec:
  parentRefs: [{name: gateway, namespace: default}]
  hostnames: [api.example.test]
  rules:
  - matches: [{path: {type: Exact, value: /auth/oauth2/token}, method: POST}]
    backendRefs: [{name: httpbin, namespace: default, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: own, namespace: team}
spec:
  parentRefs: [{name: gateway, namespace: default}]
  hostnames: [team.example.test]
  rules:
  - backendRefs: [{name: httpbin, namespace: default, port: 80}]
";

#[tokio::test]
async fn a_route_of_another_namespace_cannot_take_the_token_endpoint_of_a_shared_gateway() {
    let fx = start(
        "gateway-api-tenancy",
        &[],
        &[
            ("routes.yaml", TOKEN_FLOW),
            ("grant.yaml", GRANT),
            ("team.yaml", INTERCEPTION),
        ],
    )
    .await;
    // A's endpoint answers A's client (httpbin would answer 404 at this path).
    let token = fx.token().await;
    assert_status(&token, 200, "token");
    let token = access_token_of(&token);
    let upstream = fx
        .http(
            Method::GET,
            HOST,
            "/anything",
            &[("authorization", &format!("Bearer {token}"))],
        )
        .await;
    assert_status(&upstream, 200, "upstream");
    // The team's route that takes nothing of another namespace is served.
    let own = fx.get("team.example.test", "/anything/team").await;
    assert_echoed_path(&own, "/anything/team");
    assert_logged(&fx.log(), &["RouteConflict", "steal"]);
}
