//! Ingress in standalone mode, through the shipped binary and the real httpbin: the quickstart's
//! token flow on Ingresses (the `tollgate.dev/plugins` annotation naming an `oauth2` AuthPlugin
//! serving `<prefix>/oauth2/token`, and an `openid-connect` one guarding the rest), on both
//! server paths; Kubernetes' precedence (exact host before wildcard, Exact before Prefix,
//! element-wise prefixes, a wildcard host matching one label); the client's `Host` reaching the
//! backend unless annotated otherwise; an Ingress of another class ignored, and a classless one served only
//! once our IngressClass is the default; a missing AuthPlugin failing closed. httpbin is reached
//! through a selector-less Service and its EndpointSlice, as a cluster points a Service at an
//! outside address.
//!
//! The quickstart's Consumer, credential and AuthPlugins are kept; its GatewayRoutes are removed,
//! so every answer here comes from an Ingress.

use tollgate_e2e::fixture::echoed_headers;

use super::support::{Fixture, HOST, NOT_YET};

/// Our IngressClass and another controller's.
const CLASSES: &str = "\
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: tollgate}
spec: {controller: tollgate.dev/ingress-controller}
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: nginx}
spec: {controller: k8s.io/ingress-nginx}
";

/// The quickstart's flow on Ingresses: tokens at `/auth/oauth2/token`, httpbin behind the
/// openid-connect plugin for every other path (its Service port by name).
const TOKEN_FLOW: &str = "\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: auth
  annotations: {tollgate.dev/plugins: oauth2}
spec:
  ingressClassName: tollgate
  rules:
  - host: api.example.test
    http:
      paths:
      - {path: /auth, pathType: Prefix, backend: {service: {name: httpbin, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: httpbin
  annotations: {tollgate.dev/plugins: oidc}
spec:
  ingressClassName: tollgate
  rules:
  - host: api.example.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: httpbin, port: {name: http}}}}
";

/// The shared fixture serving [`CLASSES`] and `extra`.
async fn start(name: &str, args: &[&str], extra: &[(&str, &str)]) -> Fixture {
    let mut files = vec![("classes.yaml", CLASSES)];
    files.extend_from_slice(extra);
    Fixture::start(name, args, &files).await
}

async fn the_token_flow_runs_on_ingresses(name: &str, args: &[&str]) {
    let fx = start(name, args, &[("ingresses.yaml", TOKEN_FLOW)]).await;
    // Another host is not one of the rules' hosts, and no rule is host-less.
    fx.assert_token_flow().await;
}

#[tokio::test]
async fn the_token_flow_runs_on_ingresses_on_the_fast_path() {
    the_token_flow_runs_on_ingresses("ingress-token-fast", &[]).await;
}

#[tokio::test]
async fn the_token_flow_runs_on_ingresses_on_the_hyper_path() {
    the_token_flow_runs_on_ingresses("ingress-token-hyper", &["--http1-fast-path", "false"]).await;
}

/// Open paths (httpbin answers 200) and paths guarded by the openid-connect plugin (401 without
/// a token): which one answers shows which one matched.
const PRECEDENCE: &str = "\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: open}
spec:
  ingressClassName: tollgate
  rules:
  - host: '*.example.test'
    http:
      paths:
      - {path: /anything, pathType: Prefix, backend: {service: {name: httpbin, port: {number: 80}}}}
      - {path: /anything/private/deeper, pathType: Prefix, backend: {service: {name: httpbin, port: {number: 80}}}}
  - host: api.example.test
    http:
      paths:
      - {path: /anything/exact, pathType: Prefix, backend: {service: {name: httpbin, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: guarded
  annotations: {tollgate.dev/plugins: oidc}
spec:
  ingressClassName: tollgate
  rules:
  - host: api.example.test
    http:
      paths:
      - {path: /anything/exact, pathType: Exact, backend: {service: {name: httpbin, port: {number: 80}}}}
      - {path: /anything/private/, pathType: Prefix, backend: {service: {name: httpbin, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: own-host
  annotations: {tollgate.dev/preserve-host: 'false'}
spec:
  ingressClassName: tollgate
  rules:
  - host: own.example.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: httpbin, port: {number: 80}}}}
";

async fn kubernetes_precedence_decides_between_ingresses(name: &str, args: &[&str]) {
    let fx = start(name, args, &[("ingresses.yaml", PRECEDENCE)]).await;
    for (host, path, status) in [
        // Exact before a Prefix of the same path; an Exact path is not a prefix.
        (HOST, "/anything/exact", 401),
        (HOST, "/anything/exact/below", 200),
        // Prefixes are element-wise, a trailing `/` ignored.
        (HOST, "/anything/private", 401),
        (HOST, "/anything/private/x", 401),
        (HOST, "/anything/privatex", 200),
        // The exact host wins over a wildcard with a longer prefix.
        (HOST, "/anything/private/deeper", 401),
        ("www.example.test", "/anything/private/deeper", 200),
        ("www.example.test", "/anything/private", 200),
        // A host the exact rules lack falls to the wildcard; no rule matches another domain.
        (HOST, "/anything", 200),
        ("other.test", "/anything", 404),
        // An Ingress wildcard matches exactly one label (Kubernetes' rule).
        ("www.example.test", "/anything", 200),
        ("deeper.www.example.test", "/anything", 404),
    ] {
        let r = fx.get(host, path).await;
        assert_eq!(r.status, status, "GET {host}{path}: {}", r.describe());
    }
    // The backend sees the client's Host (port as sent), unless the Ingress is annotated
    // `tollgate.dev/preserve-host: "false"`.
    let own = format!("127.0.0.1:{}", fx.httpbin.port());
    for (host, want) in [
        ("www.example.test", "www.example.test"),
        ("WWW.example.test:8000", "WWW.example.test:8000"),
        ("own.example.test", own.as_str()),
    ] {
        let r = fx.get(host, "/anything/host").await;
        assert_eq!(r.status, 200, "GET {host}/anything/host: {}", r.describe());
        let seen = echoed_headers(&r.json());
        assert_eq!(
            seen.get("host").map(String::as_str),
            Some(want),
            "{host}: {seen:?}"
        );
    }
}

#[tokio::test]
async fn kubernetes_precedence_decides_between_ingresses_on_the_fast_path() {
    kubernetes_precedence_decides_between_ingresses("ingress-precedence-fast", &[]).await;
}

#[tokio::test]
async fn kubernetes_precedence_decides_between_ingresses_on_the_hyper_path() {
    kubernetes_precedence_decides_between_ingresses(
        "ingress-precedence-hyper",
        &["--http1-fast-path", "false"],
    )
    .await;
}

/// An Ingress of another controller's class and one without a class.
const OTHER_CLASSES: &str = "\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: theirs}
spec:
  ingressClassName: nginx
  rules:
  - host: theirs.example.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: httpbin, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: classless}
spec:
  rules:
  - host: classless.example.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: httpbin, port: {number: 80}}}}
";

#[tokio::test]
async fn an_ingress_of_another_class_is_ignored_and_a_classless_one_needs_our_default_class() {
    let fx = start("ingress-classes", &[], &[("ingresses.yaml", OTHER_CLASSES)]).await;
    assert_eq!(fx.get("theirs.example.test", "/anything").await.status, 404);
    assert_eq!(
        fx.get("classless.example.test", "/anything").await.status,
        404
    );
    // Not ours: no problem is reported for them either.
    let log = fx.log();
    assert!(!log.contains("object left out"), "{log}");

    let default_class = CLASSES.replacen(
        "metadata: {name: tollgate}",
        "metadata:\n  name: tollgate\n  annotations: {ingressclass.kubernetes.io/is-default-class: 'true'}",
        1,
    );
    fx.manifests
        .write_file("classes.yaml", &default_class)
        .expect("default class");
    fx.wait_status("classless.example.test", "/anything", 200)
        .await;
    assert_eq!(fx.get("theirs.example.test", "/anything").await.status, 404);
}

/// An Ingress naming an AuthPlugin that does not exist, beside an open Ingress of a shorter
/// prefix.
const MISSING_PLUGIN: &str = "\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: open}
spec:
  ingressClassName: tollgate
  rules:
  - host: api.example.test
    http:
      paths:
      - {path: /anything, pathType: Prefix, backend: {service: {name: httpbin, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: guarded-later
  annotations: {tollgate.dev/plugins: not-yet}
spec:
  ingressClassName: tollgate
  rules:
  - host: api.example.test
    http:
      paths:
      - {path: /anything/private, pathType: Prefix, backend: {service: {name: httpbin, port: {number: 80}}}}
";

#[tokio::test]
async fn an_ingress_whose_auth_plugin_is_missing_answers_500_until_the_plugin_exists() {
    let fx = start(
        "ingress-missing-plugin",
        &[],
        &[("ingresses.yaml", MISSING_PLUGIN)],
    )
    .await;
    // Fail closed: never served unprotected, and never by the open Ingress's shorter prefix.
    let private = fx.get(HOST, "/anything/private").await;
    assert_eq!(private.status, 500, "{}", private.describe());
    assert_eq!(fx.get(HOST, "/anything/public").await.status, 200);
    let log = fx.log();
    assert!(
        log.contains("PluginNotFound")
            && log.contains("guarded-later")
            && log.contains("AuthPlugin not-yet does not exist"),
        "{log}"
    );
    fx.manifests
        .write_file("plugin.yaml", NOT_YET)
        .expect("plugin");
    fx.wait_status(HOST, "/anything/private", 401).await;
}
