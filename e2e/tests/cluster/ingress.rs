//! Ingress in operator mode, on the API emulator and on the real API server (whose RBAC is the
//! chart's): the quickstart's token flow on Ingresses of the class `tollgate` through both
//! proxies, `status.loadBalancer` written from the publish Service (and again when its address
//! changes), and a missing AuthPlugin told by an Event on its Ingress while its path fails
//! closed.

use serde_json::{Value, json};
use tollgate_e2e::cluster::{APP_NAMESPACE, SYSTEM_NAMESPACE};
use tollgate_e2e::wait::wait_until;

use super::{ALL_OBJECTS, Env, PROGRAMMED, echoed_headers, httpbin_service};

/// The proxy Service whose address Ingresses get (`--publish-service`).
const PUBLISH_SERVICE: &str = "tollgate-proxy";

/// The publish Service with this external IP (documentation addresses: nothing is sent there).
fn publish_service(external_ip: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Service
metadata: {{name: {PUBLISH_SERVICE}, namespace: {SYSTEM_NAMESPACE}}}
spec:
  externalIPs: ["{external_ip}"]
  ports: [{{name: http, port: 80, targetPort: 8000}}]
"#
    )
}

/// Our IngressClass, httpbin as the Service `httpbin` (port 80 named `http`, one ready
/// endpoint), the quickstart's two routes as Ingresses, and an Ingress naming a missing plugin.
fn ingresses(target_port: u16) -> String {
    let service = httpbin_service("httpbin", APP_NAMESPACE, target_port, true);
    format!(
        r#"apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {{name: tollgate}}
spec: {{controller: tollgate.dev/ingress-controller}}
---
{service}---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: auth
  namespace: {APP_NAMESPACE}
  annotations: {{tollgate.dev/plugins: oauth2}}
spec:
  ingressClassName: tollgate
  rules:
  - http:
      paths:
      - {{path: /auth, pathType: Prefix, backend: {{service: {{name: httpbin, port: {{number: 80}}}}}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: httpbin
  namespace: {APP_NAMESPACE}
  annotations: {{tollgate.dev/plugins: oidc}}
spec:
  ingressClassName: tollgate
  rules:
  - http:
      paths:
      - {{path: /, pathType: Prefix, backend: {{service: {{name: httpbin, port: {{name: http}}}}}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: guarded
  namespace: {APP_NAMESPACE}
  annotations: {{tollgate.dev/plugins: not-yet}}
spec:
  ingressClassName: tollgate
  rules:
  - http:
      paths:
      - {{path: /anything/private, pathType: Prefix, backend: {{service: {{name: httpbin, port: {{number: 80}}}}}}}}
"#
    )
}

impl Env {
    /// Waits until the Ingress `name` has `status.loadBalancer.ingress` equal to `want`.
    async fn wait_load_balancer(&self, name: &str, want: &Value) {
        let what = format!("Ingress {name} status.loadBalancer.ingress {want}");
        wait_until(PROGRAMMED, &what, || async {
            let ingress = self
                .kubectl
                .get_json(
                    &format!("ingresses.networking.k8s.io/{name}"),
                    APP_NAMESPACE,
                )
                .await
                .map_err(|e| e.to_string())?;
            let got = &ingress["status"]["loadBalancer"]["ingress"];
            if got == want {
                Ok(())
            } else {
                Err(format!("{got}"))
            }
        })
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", self.work.all_logs()));
    }
}

#[tokio::test]
async fn the_token_flow_runs_on_ingresses_and_their_status_is_the_publish_services_address() {
    let Some(mut env) = Env::start_with(
        "cluster-ingress",
        &[],
        vec![format!(
            "--publish-service={SYSTEM_NAMESPACE}/{PUBLISH_SERVICE}"
        )],
    )
    .await
    .local_only("needs the local httpbin and the controller's --publish-service") else {
        return;
    };
    env.wait_programmed(&ALL_OBJECTS).await;
    // Every answer from here on comes from an Ingress.
    env.kubectl
        .run(
            &[
                "delete",
                "gatewayroutes.tollgate.dev",
                "auth",
                "httpbin",
                "-n",
                APP_NAMESPACE,
            ],
            None,
        )
        .await
        .expect("delete the quickstart's GatewayRoutes");
    let port = env.local().httpbin.port();
    env.kubectl
        .apply(&publish_service("192.0.2.10"))
        .await
        .expect("apply the publish Service");
    env.kubectl
        .apply(&ingresses(port))
        .await
        .expect("apply the Ingresses");

    // A token from one proxy (at the oauth2 Ingress's /auth/oauth2/token), accepted by the other.
    let token = env.demo_token(0).await;
    let last = env.gateways.len() - 1;
    env.until_bearer_status(last, "/anything/x", &token, 200)
        .await;
    let response = env.call(last, &token).await;
    assert_eq!(response.status, 200, "{}", response.describe());
    let seen = echoed_headers(&response.json());
    assert_eq!(
        seen.get("x-consumer-username").map(String::as_str),
        Some("jane")
    );
    assert_eq!(
        seen.get("x-credential-identifier").map(String::as_str),
        Some("client")
    );
    // Without a token the oidc Ingress refuses; the Ingress naming a missing plugin fails
    // closed even with one.
    env.until_bearer_status(0, "/anything", "not-a-token", 401)
        .await;
    env.until_bearer_status(0, "/anything/private", &token, 500)
        .await;

    for name in ["auth", "httpbin", "guarded"] {
        env.wait_load_balancer(name, &json!([{"ip": "192.0.2.10"}]))
            .await;
    }
    // Another address: written again.
    env.kubectl
        .apply(&publish_service("192.0.2.11"))
        .await
        .expect("change the publish Service");
    env.wait_load_balancer("httpbin", &json!([{"ip": "192.0.2.11"}]))
        .await;

    env.expect_warning("Ingress", "guarded", "PluginNotFound")
        .await;
}
