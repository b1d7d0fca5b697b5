//! The Gateway API in operator mode, on the API emulator and on the real kube-apiserver with the
//! Gateway API's own CRDs (v1.5.1, from its Go module): the seed's token flow on HTTPRoutes (a
//! client-credentials token at `/auth/oauth2/token` through the `tollgate.dev/plugins`
//! annotation, then the openid-connect-guarded route, named by an `ExtensionRef` filter, with
//! the consumer's headers at httpbin), the status the controller writes (GatewayClass `Accepted`,
//! Gateway `Programmed` with `attachedRoutes`, HTTPRoute `status.parents` with each reason, other
//! controllers' entries kept, `observedGeneration` following the spec), one bad HTTPRoute never
//! blocking a good one, the Gateway's `status.addresses` from the publish Service (its cluster
//! IP, then its load balancer's), the CRDs installed after the controller started, a controller
//! limited to some namespaces (on the real API server, with the chart's namespaced RBAC), and
//! certificate Secrets written as cert-manager does (no `tollgate.dev/secret` label) for a
//! listener and an Ingress, served by SNI and followed through a renewal.

use http::Method;
use serde_json::{Value, json};
use tollgate_e2e::certs::{der_of, served_leaf};
use tollgate_e2e::client::Response;
use tollgate_e2e::cluster::APP_NAMESPACE;
use tollgate_e2e::wait::{RELOAD, wait_until};

use super::{ALL_OBJECTS, Env, condition_of, echoed_headers, httpbin_service};

/// The host every route of the token flow serves.
const HOST: &str = "api.example.test";
const CONTROLLER_NAME: &str = "tollgate.dev/gateway-controller";

/// Our GatewayClass, a `kubernetes.io/tls` Secret for the HTTPS listener (labelled, so read
/// through the labelled watch; an unlabelled one is read by name, see
/// [`certificate_secrets_without_the_label_are_served_by_sni_and_followed_when_renewed`]), a Gateway with an HTTP and an HTTPS listener for
/// `*.example.test` taking routes of the namespaces `from` says, and httpbin as the Service
/// `httpbin` (port 80) whose EndpointSlice lists it.
fn gateway(env: &Env, from: &str) -> String {
    let (crt, key) = tollgate_e2e::proxy::config_tls();
    let indent = |pem: &str| pem.trim().replace('\n', "\n    ");
    let service = httpbin_service("httpbin", APP_NAMESPACE, env.httpbin_port(), true);
    format!(
        r#"apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {{name: tollgate}}
spec: {{controllerName: {CONTROLLER_NAME}}}
---
apiVersion: v1
kind: Secret
metadata:
  name: gateway-cert
  namespace: {APP_NAMESPACE}
  labels: {{tollgate.dev/secret: listener-tls}}
type: kubernetes.io/tls
stringData:
  tls.crt: |
    {crt}
  tls.key: |
    {key}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: gateway, namespace: {APP_NAMESPACE}}}
spec:
  gatewayClassName: tollgate
  listeners:
  - name: http
    protocol: HTTP
    port: 80
    hostname: '*.example.test'
    allowedRoutes: {{namespaces: {{from: {from}}}}}
  - name: https
    protocol: HTTPS
    port: 443
    hostname: '*.example.test'
    tls: {{certificateRefs: [{{name: gateway-cert}}]}}
    allowedRoutes: {{namespaces: {{from: {from}}}}}
---
{service}"#,
        crt = indent(crt),
        key = indent(key),
    )
}

/// The seed's flow on HTTPRoutes: tokens at `/auth/oauth2/token` (the annotation names the
/// `oauth2` AuthPlugin), httpbin behind the `oidc` one (an `ExtensionRef` filter) elsewhere.
fn token_flow(extra_hostname: &str) -> String {
    format!(
        r#"apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: auth
  namespace: {APP_NAMESPACE}
  annotations: {{tollgate.dev/plugins: oauth2}}
spec:
  parentRefs: [{{name: gateway}}]
  hostnames: [{HOST}]
  rules:
  - matches: [{{path: {{type: PathPrefix, value: /auth}}}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: httpbin, namespace: {APP_NAMESPACE}}}
spec:
  parentRefs: [{{name: gateway}}]
  hostnames: [{HOST}{extra_hostname}]
  rules:
  - filters:
    - type: ExtensionRef
      extensionRef: {{group: tollgate.dev, kind: AuthPlugin, name: oidc}}
    backendRefs: [{{name: httpbin, port: 80}}]
"#
    )
}

/// One route: `name` in `namespace` for `host`, attached to the Gateway, with more rule fields.
fn route(namespace: &str, name: &str, host: &str, rule: &str) -> String {
    format!(
        r#"apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  parentRefs: [{{name: gateway, namespace: {APP_NAMESPACE}}}]
  hostnames: [{host}]
  rules:
  - {rule}
"#
    )
}

impl Env {
    /// `GET path` with `Host: host` (and `headers`) through proxy `gateway`, over plain HTTP.
    async fn get_host(
        &self,
        gateway: usize,
        host: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Response {
        let g = &self.gateways[gateway];
        let mut all = vec![("host", host)];
        all.extend_from_slice(headers);
        g.client
            .send(
                Method::GET,
                &format!("{}{path}", g.http),
                &all,
                Default::default(),
            )
            .await
            .unwrap_or_else(|e| panic!("GET {host}{path} through {}: {e}", g.name))
    }

    /// Waits until `GET host path` answers `status` on every proxy; the last answer.
    async fn until_status(
        &self,
        host: &str,
        path: &str,
        headers: &[(&str, &str)],
        status: u16,
    ) -> Response {
        let what = format!("GET {host}{path} to answer {status}");
        self.on_every_proxy(RELOAD, &what, status, |g| {
            self.get_host(g, host, path, headers)
        })
        .await
    }

    /// A client-credentials token from `https://<HOST>/auth/oauth2/token` at `gateway`, once
    /// it is served there.
    async fn route_token(&self, gateway: usize) -> String {
        let g = &self.gateways[gateway];
        let body = "grant_type=client_credentials&client_id=client&client_secret=secret";
        let what = format!("a token from {HOST}/auth/oauth2/token at {}", g.name);
        wait_until(RELOAD, &what, || async {
            let r = g
                .client
                .send(
                    Method::POST,
                    &format!("{}/auth/oauth2/token", g.https),
                    &[
                        ("host", HOST),
                        ("content-type", "application/x-www-form-urlencoded"),
                    ],
                    bytes::Bytes::from_static(body.as_bytes()),
                )
                .await
                .map_err(|e| e.to_string())?;
            match r.json()["access_token"].as_str() {
                Some(t) if r.status == 200 => Ok(t.to_owned()),
                _ => Err(r.describe()),
            }
        })
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", self.work.all_logs()))
    }

    /// A token from proxy `gateway` once the HTTPRoute token flow is served by every proxy and
    /// its route `httpbin` is Accepted.
    async fn until_token_flow(&self, gateway: usize) -> String {
        let token = self.route_token(gateway).await;
        let auth = format!("Bearer {token}");
        self.until_status(HOST, "/anything", &[("authorization", &auth)], 200)
            .await;
        self.until_route(APP_NAMESPACE, "httpbin", "Accepted", "True", "Accepted")
            .await;
        token
    }

    async fn object(&self, resource: &str, namespace: &str) -> Value {
        self.kubectl
            .get_json(resource, namespace)
            .await
            .unwrap_or_else(|e| panic!("get {resource}: {e}"))
    }

    /// Waits until the HTTPRoute's entry of ours for its first parentRef has `type_` with
    /// `status` and `reason`, for the route's current generation; the route then.
    async fn until_route(
        &self,
        namespace: &str,
        name: &str,
        type_: &str,
        status: &str,
        reason: &str,
    ) -> Value {
        let resource = format!("httproutes.gateway.networking.k8s.io/{name}");
        self.until_object(
            &resource,
            namespace,
            &format!("{type_}={status} ({reason})"),
            |o| {
                our_parent(o).is_some_and(|p| {
                    let c = parent_condition(p, type_);
                    c["status"] == status
                        && c["reason"] == reason
                        && c["observedGeneration"] == o["metadata"]["generation"]
                })
            },
        )
        .await
    }
}

/// The first `status.parents` entry our controller wrote.
fn our_parent(route: &Value) -> Option<&Value> {
    route["status"]["parents"]
        .as_array()?
        .iter()
        .find(|p| p["controllerName"] == CONTROLLER_NAME)
}

fn parent_condition<'a>(parent: &'a Value, type_: &str) -> &'a Value {
    parent["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_))
        .unwrap_or(&Value::Null)
}

#[tokio::test]
async fn the_seed_token_flow_runs_on_http_routes_and_the_controller_writes_their_status() {
    let Some(mut env) = Env::start_gateway_api("cluster-gateway-api-token-flow")
        .await
        .local_only("needs the local httpbin behind a Service")
    else {
        return;
    };
    env.wait_programmed(&ALL_OBJECTS).await;
    env.kubectl
        .apply(&gateway(&env, "Same"))
        .await
        .expect("apply the Gateway");
    let applied = std::time::Instant::now();
    env.kubectl
        .apply(&token_flow(""))
        .await
        .expect("apply the HTTPRoutes");

    // The token flow, on both proxies, with the consumer's headers at the upstream.
    let token = env.route_token(0).await;
    let auth = format!("Bearer {token}");
    let through = env
        .until_status(HOST, "/anything", &[("authorization", &auth)], 200)
        .await;
    // A figure, not a bound: from `kubectl apply` to the route served by both proxies.
    eprintln!(
        "GATEWAY-API-FIGURE: HTTPRoutes served by both proxies {} ms after kubectl apply",
        applied.elapsed().as_millis()
    );
    let seen = echoed_headers(&through.json());
    assert_eq!(
        seen.get("x-consumer-username").map(String::as_str),
        Some("jane")
    );
    assert_eq!(
        seen.get("x-credential-identifier").map(String::as_str),
        Some("client")
    );
    let other = env.route_token(1).await;
    let r = env
        .get_host(
            0,
            HOST,
            "/anything",
            &[("authorization", &format!("Bearer {other}"))],
        )
        .await;
    assert_eq!(
        r.status,
        200,
        "a token of one proxy works at the other: {}",
        r.describe()
    );
    let r = env.get_host(1, HOST, "/anything", &[]).await;
    assert_eq!(r.status, 401, "{}", r.describe());

    // Status, as the Gateway API specifies it.
    let class = env
        .expect_condition(
            "gatewayclasses.gateway.networking.k8s.io/tollgate",
            APP_NAMESPACE,
            "Accepted",
            "True",
            "Accepted",
        )
        .await;
    assert_eq!(
        condition_of(&class["status"], "Accepted")["observedGeneration"],
        class["metadata"]["generation"]
    );
    let gw = env
        .expect_condition(
            "gateways.gateway.networking.k8s.io/gateway",
            APP_NAMESPACE,
            "Programmed",
            "True",
            "Programmed",
        )
        .await;
    assert_eq!(
        condition_of(&gw["status"], "Accepted")["status"],
        "True",
        "{gw}"
    );
    let listeners = gw["status"]["listeners"].as_array().expect("listeners");
    assert_eq!(listeners.len(), 2, "{gw}");
    for listener in listeners {
        assert_eq!(listener["attachedRoutes"], 2, "{listener}");
        assert_eq!(
            listener["supportedKinds"][0]["kind"], "HTTPRoute",
            "{listener}"
        );
        for type_ in ["Accepted", "ResolvedRefs", "Programmed"] {
            assert_eq!(
                condition_of(listener, type_)["status"],
                "True",
                "{type_}: {listener}"
            );
        }
    }
    for name in ["auth", "httpbin"] {
        let route = env
            .until_route(APP_NAMESPACE, name, "Accepted", "True", "Accepted")
            .await;
        let parent = our_parent(&route).expect("our entry");
        assert_eq!(parent["parentRef"]["name"], "gateway");
        assert_eq!(
            parent_condition(parent, "ResolvedRefs")["status"],
            "True",
            "{route}"
        );
    }

    // Another controller's entry stays when ours is rewritten; observedGeneration follows a
    // spec update.
    let theirs = json!({
        "parentRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "elsewhere"},
        "controllerName": "example.com/other-controller",
        "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted", "message": "",
                        "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1}],
    });
    let patch = json!([{"op": "add", "path": "/status/parents/-", "value": theirs}]).to_string();
    env.kubectl
        .run(
            &[
                "patch",
                "httproutes.gateway.networking.k8s.io/httpbin",
                "-n",
                APP_NAMESPACE,
                "--subresource=status",
                "--type=json",
                "-p",
                &patch,
            ],
            None,
        )
        .await
        .expect("another controller writes its entry");
    let before = env
        .object(
            "httproutes.gateway.networking.k8s.io/httpbin",
            APP_NAMESPACE,
        )
        .await;
    let generation = before["metadata"]["generation"]
        .as_i64()
        .expect("generation");
    env.kubectl
        .apply(&token_flow(", www.example.test"))
        .await
        .expect("a spec update");
    let after = env
        .until_object(
            "httproutes.gateway.networking.k8s.io/httpbin",
            APP_NAMESPACE,
            "a newer observedGeneration",
            |o| {
                our_parent(o).is_some_and(|p| {
                    parent_condition(p, "Accepted")["observedGeneration"].as_i64()
                        > Some(generation)
                })
            },
        )
        .await;
    assert!(
        after["metadata"]["generation"].as_i64() > Some(generation),
        "the update raised the generation: {after}"
    );
    let parents = after["status"]["parents"].as_array().expect("parents");
    assert_eq!(parents.len(), 2, "ours and theirs: {after}");
    assert!(
        parents
            .iter()
            .any(|p| p["controllerName"] == "example.com/other-controller"
                && p["parentRef"]["name"] == "elsewhere"),
        "{after}"
    );
    let r = env
        .until_status(
            "www.example.test",
            "/anything",
            &[("authorization", &auth)],
            200,
        )
        .await;
    assert_eq!(r.status, 200);

    // A restarted controller (a new leader remembering nothing) finds every status current
    // and rewrites none: what the API server stores, defaults included, compares equal.
    super::settle_with_marker(&env, 1).await;
    let before = gateway_api_versions(&env).await;
    env.local().controllers[0]
        .restart()
        .await
        .expect("the controller restarts");
    super::settle_with_marker(&env, 2).await;
    assert_eq!(
        gateway_api_versions(&env).await,
        before,
        "no Gateway API status rewritten by the new leader"
    );
}

/// The resourceVersions of the token flow's GatewayClass, Gateway and HTTPRoutes.
async fn gateway_api_versions(env: &Env) -> Vec<String> {
    let mut versions = Vec::new();
    for object in [
        "gatewayclasses.gateway.networking.k8s.io/tollgate",
        "gateways.gateway.networking.k8s.io/gateway",
        "httproutes.gateway.networking.k8s.io/auth",
        "httproutes.gateway.networking.k8s.io/httpbin",
    ] {
        let o = env.object(object, APP_NAMESPACE).await;
        versions.push(format!(
            "{object}@{}",
            o["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or_default()
        ));
    }
    versions
}

#[tokio::test]
async fn each_http_route_problem_is_reported_with_its_reason_and_never_blocks_a_good_route() {
    let Some(env) = Env::start_gateway_api("cluster-gateway-api-problems")
        .await
        .local_only("needs the local httpbin behind a Service")
    else {
        return;
    };
    env.wait_programmed(&ALL_OBJECTS).await;
    // Without the catch-all GatewayRoute, a request no HTTPRoute takes finds no route at all.
    env.kubectl
        .run(
            &["delete", "gatewayroutes/httpbin", "-n", APP_NAMESPACE],
            None,
        )
        .await
        .expect("delete the catch-all GatewayRoute");
    env.kubectl
        .apply(&gateway(&env, "Same"))
        .await
        .expect("apply the Gateway");
    let backend = "backendRefs: [{name: httpbin, port: 80}]";
    let manifests = [
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: elsewhere}\n".to_owned(),
        // The listeners take routes of the Gateway's namespace only.
        route("elsewhere", "foreign", "foreign.example.test", backend),
        // A Service of another namespace, without a ReferenceGrant there (yet).
        route(
            APP_NAMESPACE,
            "cross",
            "cross.example.test",
            "backendRefs: [{name: httpbin, namespace: elsewhere, port: 80}]",
        ),
        route(
            APP_NAMESPACE,
            "missing",
            "missing.example.test",
            "backendRefs: [{name: nope, port: 80}]",
        ),
        route(
            APP_NAMESPACE,
            "ghost",
            "ghost.example.test",
            "filters: [{type: ExtensionRef, extensionRef: {group: tollgate.dev, kind: AuthPlugin, name: ghost}}]\n    backendRefs: [{name: httpbin, port: 80}]",
        ),
        route(APP_NAMESPACE, "good", "good.example.test", backend),
    ];
    env.kubectl
        .apply(&manifests.join("---\n"))
        .await
        .expect("apply the routes");
    // The good route is served while the others are refused.
    let r = env
        .until_status("good.example.test", "/get", &[], 200)
        .await;
    assert_eq!(
        r.json()["url"].as_str().map(|u| u.ends_with("/get")),
        Some(true),
        "{}",
        r.describe()
    );
    env.until_route(APP_NAMESPACE, "good", "Accepted", "True", "Accepted")
        .await;
    env.until_route(
        APP_NAMESPACE,
        "good",
        "ResolvedRefs",
        "True",
        "ResolvedRefs",
    )
    .await;

    let foreign = env
        .until_route(
            "elsewhere",
            "foreign",
            "Accepted",
            "False",
            "NotAllowedByListeners",
        )
        .await;
    assert_eq!(
        our_parent(&foreign).expect("entry")["parentRef"]["namespace"],
        APP_NAMESPACE
    );
    env.until_route(
        APP_NAMESPACE,
        "cross",
        "ResolvedRefs",
        "False",
        "RefNotPermitted",
    )
    .await;
    env.until_route(
        APP_NAMESPACE,
        "missing",
        "ResolvedRefs",
        "False",
        "BackendNotFound",
    )
    .await;
    let ghost = env
        .until_route(
            APP_NAMESPACE,
            "ghost",
            "ResolvedRefs",
            "False",
            "PluginNotFound",
        )
        .await;
    let message = parent_condition(our_parent(&ghost).expect("entry"), "ResolvedRefs")["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(message.contains("ghost"), "{message}");
    // Not served: a missing plugin answers 500 rather than reaching the backend unprotected;
    // a route no listener takes answers as no route (404), and neither does an unresolved
    // backend reach anything.
    env.until_status("ghost.example.test", "/get", &[], 500)
        .await;
    env.until_status("missing.example.test", "/get", &[], 500)
        .await;
    env.until_status("cross.example.test", "/get", &[], 500)
        .await;
    env.until_status("foreign.example.test", "/get", &[], 404)
        .await;

    // A Warning Event names the problem.
    env.expect_warning("HTTPRoute", "ghost", "PluginNotFound")
        .await;

    // The grant allows the cross-namespace backend: resolved and served.
    let service = httpbin_service("httpbin", "elsewhere", env.httpbin_port(), true);
    env.kubectl
        .apply(&format!(
            r#"{service}---
apiVersion: gateway.networking.k8s.io/v1
kind: ReferenceGrant
metadata: {{name: shop-routes, namespace: elsewhere}}
spec:
  from: [{{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: {APP_NAMESPACE}}}]
  to: [{{group: "", kind: Service}}]
"#
        ))
        .await
        .expect("apply the grant");
    env.until_route(
        APP_NAMESPACE,
        "cross",
        "ResolvedRefs",
        "True",
        "ResolvedRefs",
    )
    .await;
    env.until_status("cross.example.test", "/get", &[], 200)
        .await;
    // The good route never stopped being served.
    let r = env.get_host(1, "good.example.test", "/get", &[]).await;
    assert_eq!(r.status, 200, "{}", r.describe());
}

#[tokio::test]
async fn gateway_api_crds_installed_after_the_controller_started_are_picked_up_without_a_restart() {
    let env = Env::start_with(
        "cluster-gateway-api-late-crds",
        &[],
        vec!["--crd-recheck-secs=1".to_owned()],
    )
    .await;
    let Some(local) = env.local.as_ref() else {
        eprintln!("skipped: installs the Gateway API CRDs itself");
        return;
    };
    // Without the CRDs everything else is served.
    env.wait_programmed(&ALL_OBJECTS).await;
    let token = env.demo_token(0).await;
    assert_eq!(env.call(1, &token).await.status, 200);
    let log = local.controllers[0].log();
    assert_eq!(
        log.matches("the Gateway API CRDs are not installed")
            .count(),
        1,
        "said once:\n{log}"
    );

    env.kubectl
        .install_gateway_api()
        .await
        .expect("install the Gateway API CRDs");
    env.kubectl
        .apply(&gateway(&env, "Same"))
        .await
        .expect("apply the Gateway");
    env.kubectl
        .apply(&token_flow(""))
        .await
        .expect("apply the HTTPRoutes");
    env.until_token_flow(1).await;
    let log = local.controllers[0].log();
    assert!(log.contains("the Gateway API CRDs are installed"), "{log}");
}

/// The proxy Service whose addresses Gateways get (`--publish-service`): a ClusterIP Service
/// until a load balancer is reported in its status.
const PUBLISH_SERVICE: &str = "tollgate-proxy";

/// Gateway `status.addresses` entries, as `[type, value]` pairs.
fn addresses_of(gateway: &Value) -> Vec<(String, String)> {
    gateway["status"]["addresses"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            (
                a["type"].as_str().unwrap_or_default().to_owned(),
                a["value"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_gateway_reports_the_publish_services_addresses_and_follows_its_load_balancer() {
    use tollgate_e2e::cluster::SYSTEM_NAMESPACE;
    let env = Env::start_full(
        "cluster-gateway-api-addresses",
        &[],
        vec![format!(
            "--publish-service={SYSTEM_NAMESPACE}/{PUBLISH_SERVICE}"
        )],
        true,
    )
    .await;
    if env.local.is_none() {
        eprintln!("skipped: needs the controller's --publish-service");
        return;
    }
    env.wait_programmed(&ALL_OBJECTS).await;
    env.kubectl
        .apply(&format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: {PUBLISH_SERVICE}, namespace: {SYSTEM_NAMESPACE}}}\nspec:\n  type: LoadBalancer\n  ports: [{{name: http, port: 80, targetPort: 8000}}]\n"
        ))
        .await
        .expect("apply the publish Service");
    env.kubectl
        .apply(&gateway(&env, "Same"))
        .await
        .expect("apply the Gateway");
    let service = env
        .object(&format!("services/{PUBLISH_SERVICE}"), SYSTEM_NAMESPACE)
        .await;
    let cluster_ip = service["spec"]["clusterIP"]
        .as_str()
        .expect("the API server allocates a cluster IP")
        .to_owned();
    let resource = "gateways.gateway.networking.k8s.io/gateway";
    let want = vec![("IPAddress".to_owned(), cluster_ip.clone())];
    let gw = env
        .until_object(resource, APP_NAMESPACE, "addresses: the cluster IP", |o| {
            addresses_of(o) == want && condition_of(&o["status"], "Programmed")["status"] == "True"
        })
        .await;
    assert_eq!(
        condition_of(&gw["status"], "Accepted")["status"],
        "True",
        "{gw}"
    );

    // A load balancer's addresses replace it: an IP and a host name (documentation
    // addresses: nothing is sent there).
    let patch = json!({"status": {"loadBalancer": {"ingress": [
        {"ip": "192.0.2.20"}, {"hostname": "lb.example.test"}]}}})
    .to_string();
    env.kubectl
        .run(
            &[
                "patch",
                &format!("services/{PUBLISH_SERVICE}"),
                "-n",
                SYSTEM_NAMESPACE,
                "--subresource=status",
                "--type=merge",
                "-p",
                &patch,
            ],
            None,
        )
        .await
        .expect("a load balancer is reported");
    let want = vec![
        ("IPAddress".to_owned(), "192.0.2.20".to_owned()),
        ("Hostname".to_owned(), "lb.example.test".to_owned()),
    ];
    let gw = env
        .until_object(
            resource,
            APP_NAMESPACE,
            "addresses: the load balancer's",
            |o| addresses_of(o) == want,
        )
        .await;
    // Programmed is unchanged by the addresses.
    assert_eq!(
        condition_of(&gw["status"], "Programmed")["status"],
        "True",
        "{gw}"
    );
    assert!(
        !addresses_of(&gw).iter().any(|(_, v)| *v == cluster_ip),
        "{gw}"
    );

    // The publish Service goes away: the Gateway no longer reports its old addresses.
    env.kubectl
        .run(
            &[
                "delete",
                &format!("services/{PUBLISH_SERVICE}"),
                "-n",
                SYSTEM_NAMESPACE,
            ],
            None,
        )
        .await
        .expect("delete the publish Service");
    let gw = env
        .until_object(resource, APP_NAMESPACE, "addresses: none", |o| {
            addresses_of(o).is_empty()
        })
        .await;
    assert_eq!(
        condition_of(&gw["status"], "Programmed")["status"],
        "True",
        "{gw}"
    );
}

/// A Gateway and an HTTPRoute naming a missing AuthPlugin, for the RBAC check: the controller
/// reads every Gateway API kind, writes each status and a Warning Event.
pub(super) async fn exercise_gateway_api(env: &Env) {
    env.kubectl
        .apply(&gateway(env, "Same"))
        .await
        .expect("apply the Gateway");
    env.kubectl
        .apply(&route(
            APP_NAMESPACE,
            "ghost",
            "ghost.example.test",
            "filters: [{type: ExtensionRef, extensionRef: {group: tollgate.dev, kind: AuthPlugin, name: ghost}}]\n    backendRefs: [{name: httpbin, port: 80}]",
        ))
        .await
        .expect("apply the route");
    env.until_route(
        APP_NAMESPACE,
        "ghost",
        "ResolvedRefs",
        "False",
        "PluginNotFound",
    )
    .await;
    env.expect_condition(
        "gateways.gateway.networking.k8s.io/gateway",
        APP_NAMESPACE,
        "Programmed",
        "True",
        "Programmed",
    )
    .await;
    env.expect_condition(
        "gatewayclasses.gateway.networking.k8s.io/tollgate",
        APP_NAMESPACE,
        "Accepted",
        "True",
        "Accepted",
    )
    .await;
}

#[tokio::test]
async fn a_controller_limited_to_some_namespaces_serves_their_http_routes_and_no_others() {
    // On the real API server this runs with the chart's namespaced RBAC: Roles in the watched
    // namespace, and only GatewayClasses read cluster-wide.
    let Some(env) = Env::start_full(
        "cluster-gateway-api-namespaced",
        &[APP_NAMESPACE],
        Vec::new(),
        true,
    )
    .await
    .local_only("the external controller's namespaces are the chart's") else {
        return;
    };
    env.wait_programmed(&ALL_OBJECTS).await;
    env.kubectl
        .apply(&gateway(&env, "All"))
        .await
        .expect("apply the Gateway");
    env.kubectl
        .apply(&token_flow(""))
        .await
        .expect("apply the HTTPRoutes");
    let other = [
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: elsewhere}\n".to_owned(),
        route(
            "elsewhere",
            "unwatched",
            "unwatched.example.test",
            "backendRefs: [{name: httpbin, port: 80}]",
        ),
    ];
    env.kubectl
        .apply(&other.join("---\n"))
        .await
        .expect("apply a route in an unwatched namespace");
    let token = env.until_token_flow(0).await;
    env.expect_condition(
        "gatewayclasses.gateway.networking.k8s.io/tollgate",
        APP_NAMESPACE,
        "Accepted",
        "True",
        "Accepted",
    )
    .await;
    // A marker change in the watched namespace, made after, is served...
    env.kubectl
        .apply(&token_flow(", later.example.test"))
        .await
        .expect("update a watched route");
    env.until_status(
        "later.example.test",
        "/anything",
        &[("authorization", &format!("Bearer {token}"))],
        200,
    )
    .await;
    // ...while the route of the unwatched namespace is neither served nor given a status.
    let r = env.get_host(0, "unwatched.example.test", "/get", &[]).await;
    assert_ne!(r.status, 200, "{}", r.describe());
    let unwatched = env
        .object(
            "httproutes.gateway.networking.k8s.io/unwatched",
            "elsewhere",
        )
        .await;
    assert!(
        unwatched["status"]["parents"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "{unwatched}"
    );
}

/// A `kubernetes.io/tls` Secret as cert-manager writes it: its annotations, base64 `data`, and
/// no `tollgate.dev/secret` label.
fn cert_manager_secret(name: &str, (crt, key): &(String, String)) -> String {
    use base64::Engine as _;
    let b64 = |pem: &str| base64::engine::general_purpose::STANDARD.encode(pem);
    format!(
        r#"apiVersion: v1
kind: Secret
metadata:
  name: {name}
  namespace: {APP_NAMESPACE}
  annotations:
    cert-manager.io/certificate-name: {name}
    cert-manager.io/issuer-name: example-issuer
    cert-manager.io/issuer-kind: ClusterIssuer
type: kubernetes.io/tls
data:
  tls.crt: {crt}
  tls.key: {key}
  ca.crt: ""
"#,
        crt = b64(crt),
        key = b64(key),
    )
}

/// Our GatewayClass and IngressClass, a Gateway whose HTTPS listener for `site.example.test`
/// names the Secret `site-cert`, and an Ingress whose `spec.tls` names `shop-cert` for
/// `shop.example.test` (its backend a selector-less Service: no request is sent to it).
fn certificate_objects() -> String {
    let host = tollgate_e2e::proxy::admin_host();
    format!(
        r#"apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {{name: tollgate}}
spec: {{controllerName: {CONTROLLER_NAME}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: sites, namespace: {APP_NAMESPACE}}}
spec:
  gatewayClassName: tollgate
  listeners:
  - name: site
    protocol: HTTPS
    port: 443
    hostname: site.example.test
    tls: {{certificateRefs: [{{name: site-cert}}]}}
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {{name: tollgate}}
spec: {{controller: tollgate.dev/ingress-controller}}
---
apiVersion: v1
kind: Service
metadata: {{name: shop, namespace: {APP_NAMESPACE}}}
spec:
  ports: [{{name: http, port: 80, targetPort: 9}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: shop-1
  namespace: {APP_NAMESPACE}
  labels: {{kubernetes.io/service-name: shop}}
addressType: IPv4
ports: [{{name: http, port: 9, protocol: TCP}}]
endpoints: [{{addresses: ["{host}"], conditions: {{ready: true}}}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: shop, namespace: {APP_NAMESPACE}}}
spec:
  ingressClassName: tollgate
  tls: [{{hosts: [shop.example.test], secretName: shop-cert}}]
  rules:
  - host: shop.example.test
    http:
      paths:
      - {{path: /shop, pathType: Prefix, backend: {{service: {{name: shop, port: {{number: 80}}}}}}}}
"#
    )
}

impl Env {
    /// Waits until every proxy presents `want` (DER) for the server name `name`.
    async fn until_served(&self, name: &str, want: &[u8], what: &str) {
        for g in &self.gateways {
            let addr = g
                .https
                .strip_prefix("https://")
                .unwrap_or(&g.https)
                .trim_end_matches('/');
            wait_until(RELOAD, &format!("{}: {what}", g.name), || async {
                match served_leaf(addr, name).await {
                    Ok(leaf) if leaf == want => Ok(()),
                    Ok(_) => Err(format!("another certificate for {name}")),
                    Err(e) => Err(e),
                }
            })
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", self.work.all_logs()));
        }
    }
}

/// Certificates as cert-manager makes them (no `tollgate.dev/secret` label): a Gateway HTTPS
/// listener's and an Ingress's `spec.tls` Secret are read by name and served by SNI over real
/// TLS; replacing the Secret's data (a renewal) serves the new leaf.
#[tokio::test]
async fn certificate_secrets_without_the_label_are_served_by_sni_and_followed_when_renewed() {
    let env = Env::start_gateway_api("cluster-gateway-api-unlabelled-certificates").await;
    env.wait_programmed(&ALL_OBJECTS).await;
    let site = tollgate_e2e::manifests::self_signed(&["site.example.test"]);
    let shop = tollgate_e2e::manifests::self_signed(&["shop.example.test"]);
    env.kubectl
        .apply(&format!(
            "{}---\n{}---\n{}",
            cert_manager_secret("site-cert", &site),
            cert_manager_secret("shop-cert", &shop),
            certificate_objects()
        ))
        .await
        .expect("apply the certificates, the Gateway and the Ingress");

    env.until_served(
        "site.example.test",
        &der_of(&site.0),
        "the listener's unlabelled Secret",
    )
    .await;
    env.until_served(
        "shop.example.test",
        &der_of(&shop.0),
        "the Ingress's unlabelled Secret",
    )
    .await;
    let gw = env
        .until_object(
            "gateways.gateway.networking.k8s.io/sites",
            APP_NAMESPACE,
            "the listener resolves its certificate",
            |o| {
                o["status"]["listeners"][0]["conditions"]
                    .as_array()
                    .is_some_and(|cs| {
                        cs.iter()
                            .any(|c| c["type"] == "ResolvedRefs" && c["status"] == "True")
                    })
            },
        )
        .await;
    assert_eq!(gw["status"]["listeners"][0]["name"], "site", "{gw}");
    let secret = env
        .kubectl
        .get_json("secrets/site-cert", APP_NAMESPACE)
        .await
        .expect("the Secret");
    assert!(
        secret["metadata"]["labels"]
            .get("tollgate.dev/secret")
            .is_none(),
        "the Secret is served as cert-manager left it: {}",
        secret["metadata"]
    );

    // Renewal: cert-manager replaces the data; the new leaf is served.
    let renewed = tollgate_e2e::manifests::self_signed(&["site.example.test"]);
    env.kubectl
        .apply(&cert_manager_secret("site-cert", &renewed))
        .await
        .expect("renew the certificate");
    env.until_served(
        "site.example.test",
        &der_of(&renewed.0),
        "the renewed certificate",
    )
    .await;
    env.until_served(
        "shop.example.test",
        &der_of(&shop.0),
        "the Ingress's certificate, unchanged",
    )
    .await;
}
