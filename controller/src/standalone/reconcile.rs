//! One standalone reconcile: the objects of the manifests directory → a snapshot, logging each
//! problem once when it appears and once when it is resolved.

use tollgate_core::address::AddressPolicy;
use tollgate_core::snapshot::Snapshot;

use std::cell::OnceCell;
use std::collections::HashSet;

use super::dir::{ManifestDir, signing_keys_secret};
use std::sync::Arc;

use super::incarnations::Incarnations;
use crate::jwks::{self, JwksCache};
use crate::translate::report::ProblemLog;
use crate::translate::{DEFAULT_NAMESPACE, Problem, SecretHasher, SigningKeys, keys, translate};

/// An object's namespace as translation names it: the default one when it has none.
fn namespace_or_default(namespace: Option<&str>) -> &str {
    namespace
        .filter(|ns| !ns.is_empty())
        .unwrap_or(DEFAULT_NAMESPACE)
}

/// `namespace/name` → (namespace, name).
fn split_path(path: &str) -> (&str, &str) {
    path.split_once('/').unwrap_or((DEFAULT_NAMESPACE, path))
}

/// Standalone mode's reconciler: the manifests directory → a snapshot, with the translation
/// state kept between reconciles (the operator's counterpart is `operator::reconcile::Pipeline`).
#[derive(Debug)]
pub struct DirReconciler {
    hasher: SecretHasher,
    /// The signing key of the state directory, used when DIR has no signing-keys Secret.
    fallback_keys: SigningKeys,
    /// Problems and signing-key errors already logged (the same log lines as the operator).
    problem_log: ProblemLog,
    /// Incarnations of credentials and plugins, which the manifests cannot give.
    incarnations: Incarnations,
    /// The backend address policy literal backend addresses are judged by.
    policy: AddressPolicy,
    /// The external issuers' keys, and what wakes their fetch task.
    jwks: Arc<JwksCache>,
    jwks_wake: Arc<tokio::sync::Notify>,
}

/// The result of one reconcile.
#[derive(Debug)]
pub struct Outcome {
    /// `None` when no snapshot can be built (an invalid signing-keys Secret): keep serving the
    /// previous one.
    pub snapshot: Option<Snapshot>,
    /// Whether the snapshot passed core validation as it is (the translation checked it, and
    /// stamping incarnations changes nothing validation reads): apply it with
    /// `ProxyState::apply_checked`.
    pub checked: bool,
    /// Problems that appeared in this reconcile.
    pub new_problems: Vec<Problem>,
    /// Problems of the previous reconcile that are gone.
    pub resolved: Vec<Problem>,
}

impl DirReconciler {
    /// A reconciler hashing inline, with fresh incarnations (tests).
    #[cfg(test)]
    pub fn new(fallback_keys: SigningKeys) -> Self {
        let incarnations = Incarnations::new().expect("randomness");
        Self::with_hasher(fallback_keys, SecretHasher::new(), incarnations)
    }

    pub fn with_hasher(
        fallback_keys: SigningKeys,
        hasher: SecretHasher,
        incarnations: Incarnations,
    ) -> Self {
        Self {
            hasher,
            fallback_keys,
            problem_log: ProblemLog::default(),
            incarnations,
            policy: AddressPolicy::standalone(),
            jwks: JwksCache::new(),
            jwks_wake: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// Reads the external issuers' keys from `cache`, waking `wake` when a new issuer appears.
    #[must_use]
    pub fn with_jwks(mut self, cache: Arc<JwksCache>, wake: Arc<tokio::sync::Notify>) -> Self {
        self.jwks = cache;
        self.jwks_wake = wake;
        self
    }

    /// The incarnation counters, to write them when they changed.
    pub fn incarnations(&mut self) -> &mut Incarnations {
        &mut self.incarnations
    }

    /// Judges literal backend addresses by `policy` (standalone mode's defaults otherwise).
    #[must_use]
    pub fn with_policy(mut self, policy: AddressPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Client secrets still being hashed (their credentials are not served yet).
    pub fn pending(&self) -> usize {
        self.hasher.pending()
    }

    /// The hasher, to load and take the kept verifiers.
    pub fn hasher(&mut self) -> &mut SecretHasher {
        &mut self.hasher
    }

    pub fn reconcile(&mut self, dir: &ManifestDir) -> Outcome {
        let (mut objects, services) = dir.objects_and_services();
        if self.jwks.want(&jwks::wanted_issuers(&objects.plugins)) {
            self.jwks_wake.notify_one();
        }
        objects.issuers = self.jwks.snapshot();
        let keys = match signing_keys_secret(&objects) {
            None => Ok(self.fallback_keys.clone()),
            Some(secret) => keys::from_secret(secret),
        };
        let keys = match keys {
            Ok(keys) => {
                self.problem_log.keys_usable();
                keys
            }
            Err(error) => {
                self.problem_log.keys_unusable(&error);
                return Outcome {
                    snapshot: None,
                    checked: false,
                    new_problems: Vec::new(),
                    resolved: Vec::new(),
                };
            }
        };
        let mut translation = translate(&objects, &services, &self.policy, &keys, &mut self.hasher);
        // Asked only about objects with a record that are not in the snapshot: the sets are
        // built then, and borrow the objects' names.
        let credentials = OnceCell::new();
        let credential_exists = |object: &str| {
            // Looked up with keys that live shorter than the set's.
            let set: &HashSet<(&str, &str)> = credentials.get_or_init(|| {
                objects
                    .credentials
                    .iter()
                    .map(|c| {
                        (
                            namespace_or_default(c.namespace.as_deref()),
                            c.name.as_str(),
                        )
                    })
                    .collect()
            });
            set.contains(&split_path(object))
        };
        let plugins = OnceCell::new();
        let plugin_exists = |id: &str| {
            let set: &HashSet<(&str, &str)> = plugins.get_or_init(|| {
                objects
                    .plugins
                    .iter()
                    .map(|p| {
                        (
                            namespace_or_default(p.metadata.namespace.as_deref()),
                            p.metadata.name.as_deref().unwrap_or_default(),
                        )
                    })
                    .collect()
            });
            set.contains(&split_path(id))
        };
        self.incarnations
            .stamp(&mut translation.snapshot, credential_exists, plugin_exists);
        let changes = self.problem_log.update(translation.problems);
        Outcome {
            snapshot: Some(translation.snapshot),
            checked: translation.checked,
            new_problems: changes.new,
            resolved: changes.resolved,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::standalone::temp_dir::TempDir;

    const ORPHAN: &str = "apiVersion: tollgate.dev/v1alpha1\nkind: OAuth2Credential\nmetadata: {name: orphan}\nspec:\n  consumerRef: {name: nobody}\n  clientId: c\n  clientType: public\n";

    fn keys() -> SigningKeys {
        SigningKeys::single("fallback", &[3u8; 32]).expect("key")
    }

    #[test]
    fn a_problem_is_reported_once_when_it_appears_and_once_when_it_is_resolved() {
        let tmp = TempDir::new("rec", "once");
        std::fs::write(tmp.0.join("a.yaml"), ORPHAN).expect("write");
        let mut dir = ManifestDir::new(&tmp.0);
        dir.scan().expect("scan");
        let mut reconciler = DirReconciler::new(keys());
        let first = reconciler.reconcile(&dir);
        assert_eq!(first.new_problems.len(), 1);
        assert_eq!(first.new_problems[0].name, "orphan");
        let again = reconciler.reconcile(&dir);
        assert!(again.new_problems.is_empty() && again.resolved.is_empty());
        std::fs::remove_file(tmp.0.join("a.yaml")).expect("remove");
        dir.scan().expect("scan");
        let fixed = reconciler.reconcile(&dir);
        assert_eq!(fixed.resolved.len(), 1);
        assert!(fixed.snapshot.is_some());
    }

    #[test]
    fn signing_keys_come_from_the_directory_else_from_the_state_directory() {
        let tmp = TempDir::new("rec", "keys");
        let mut dir = ManifestDir::new(&tmp.0);
        dir.scan().expect("scan");
        let mut reconciler = DirReconciler::new(keys());
        let snapshot = reconciler.reconcile(&dir).snapshot.expect("snapshot");
        assert_eq!(snapshot.active_key, "fallback");

        std::fs::write(
            tmp.0.join("keys.yaml"),
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: keys\n  labels: {tollgate.dev/secret: signing-keys}\nstringData:\n  k2026-01-01: '0123456789abcdef0123456789abcdef'\n  k2026-06-01: 'fedcba9876543210fedcba9876543210'\n",
        )
        .expect("write");
        dir.scan().expect("scan");
        let snapshot = reconciler.reconcile(&dir).snapshot.expect("snapshot");
        assert_eq!(snapshot.active_key, "k2026-06-01");
        assert_eq!(snapshot.signing_keys.len(), 2);
    }

    #[test]
    fn an_invalid_signing_keys_secret_builds_no_snapshot() {
        let tmp = TempDir::new("rec", "badkeys");
        std::fs::write(
            tmp.0.join("keys.yaml"),
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: keys\n  labels: {tollgate.dev/secret: signing-keys}\nstringData:\n  k1: too-short\n",
        )
        .expect("write");
        let mut dir = ManifestDir::new(&tmp.0);
        dir.scan().expect("scan");
        let outcome = DirReconciler::new(keys()).reconcile(&dir);
        assert!(
            outcome.snapshot.is_none(),
            "keep serving the previous configuration"
        );
    }

    /// A Gateway, an HTTPRoute with two backendRefs, and the Services they name: one
    /// selector-less with its EndpointSlice (kind and apiVersion after other keys, an unknown
    /// field), one ExternalName.
    const GATEWAY_API: &str = "\
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: tollgate}
spec: {controllerName: tollgate.dev/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: tollgate
  listeners:
  - {name: http, protocol: HTTP, port: 80, hostname: api.example.com}
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: HTTPRoute
metadata: {name: web}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /v1}}]
    backendRefs:
    - {name: local, port: 80, weight: 9}
    - {name: outside, port: 443, weight: 1}
    sessionPersistence: {sessionName: unknown-to-tollgate}
---
apiVersion: v1
kind: Service
metadata: {name: local}
spec:
  ports: [{name: http, port: 80, targetPort: 8080}]
---
metadata:
  name: local-1
  labels: {kubernetes.io/service-name: local}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints:
- addresses: [192.0.2.10]
- addresses: [192.0.2.11]
  conditions: {ready: false}
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
---
apiVersion: v1
kind: Service
metadata: {name: outside}
spec:
  type: ExternalName
  externalName: api.partner.example.
  ports: [{port: 443}]
";

    #[test]
    fn http_routes_resolve_backend_refs_through_service_and_endpoint_slice_manifests() {
        let tmp = TempDir::new("rec", "gateway-api");
        std::fs::write(tmp.0.join("gw.yaml"), GATEWAY_API).expect("write");
        let mut dir = ManifestDir::new(&tmp.0);
        dir.scan().expect("scan");
        let mut reconciler = DirReconciler::new(keys());
        let outcome = reconciler.reconcile(&dir);
        assert!(
            outcome.new_problems.is_empty(),
            "{:?}",
            outcome.new_problems
        );
        let snapshot = outcome.snapshot.expect("snapshot");
        let route = snapshot
            .routes
            .iter()
            .find(|r| r.id == "httproute/default/web/0/0")
            .expect("the HTTPRoute's match is served");
        assert_eq!(route.hosts, ["api.example.com"]);
        assert_eq!(route.paths, ["/v1"]);
        let endpoints: Vec<(u32, Vec<String>)> = route
            .backends
            .iter()
            .map(|b| {
                (
                    b.weight,
                    b.backend
                        .as_ref()
                        .map(|b| b.endpoints.clone())
                        .unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            endpoints,
            [
                (9, vec!["192.0.2.10:8080".to_owned()]),
                (1, vec!["api.partner.example:443".to_owned()]),
            ]
        );
    }

    #[test]
    fn a_missing_service_is_reported_once_as_an_http_route_problem() {
        let tmp = TempDir::new("rec", "gateway-api-missing");
        let without_services = GATEWAY_API
            .split("---\napiVersion: v1\nkind: Service")
            .next()
            .unwrap_or_default();
        std::fs::write(tmp.0.join("gw.yaml"), without_services).expect("write");
        let mut dir = ManifestDir::new(&tmp.0);
        dir.scan().expect("scan");
        let mut reconciler = DirReconciler::new(keys());
        let outcome = reconciler.reconcile(&dir);
        let problems: Vec<(String, &str)> = outcome
            .new_problems
            .iter()
            .map(|p| (format!("{}/{}", p.kind, p.name), p.reason))
            .collect();
        assert_eq!(problems, [("HTTPRoute/web".to_owned(), "BackendNotFound")]);
        // Served all the same: each share of the traffic answers 500.
        let snapshot = outcome.snapshot.expect("snapshot");
        assert!(
            snapshot
                .routes
                .iter()
                .any(|r| r.id == "httproute/default/web/0/0")
        );
        assert!(reconciler.reconcile(&dir).new_problems.is_empty());
    }

    /// The snapshot of `examples/<name>`, which reconciles without a problem.
    fn example_snapshot(name: &str) -> Snapshot {
        let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../examples")
            .join(name);
        let mut dir = ManifestDir::new(&examples);
        dir.scan().expect("scan");
        let outcome = DirReconciler::new(keys()).reconcile(&dir);
        assert!(
            outcome.new_problems.is_empty(),
            "{:?}",
            outcome.new_problems
        );
        outcome.snapshot.expect("snapshot")
    }

    #[test]
    fn the_gateway_api_example_is_served_without_problems() {
        let snapshot = example_snapshot("gateway-api");
        let ids: Vec<&str> = snapshot.routes.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "httproute/default/auth/0/0",
                "httproute/default/httpbin/0/0"
            ]
        );
        assert_eq!(snapshot.routes[0].plugins, ["default/oauth2"]);
        assert_eq!(snapshot.routes[1].plugins, ["default/oidc"]);
        assert_eq!(
            snapshot.routes[1].backends[0]
                .backend
                .as_ref()
                .map(|b| b.endpoints.clone()),
            Some(vec!["127.0.0.1:8080".to_owned()])
        );
    }

    #[test]
    fn the_ingress_example_is_served_without_problems() {
        let snapshot = example_snapshot("ingress");
        let routes: Vec<(&str, &[String], &[String])> = snapshot
            .routes
            .iter()
            .map(|r| (r.id.as_str(), r.paths.as_slice(), r.plugins.as_slice()))
            .collect();
        assert_eq!(
            routes,
            [
                (
                    "ingress/default/auth/0/0",
                    &["/auth".to_owned()][..],
                    &["default/oauth2".to_owned()][..]
                ),
                (
                    "ingress/default/httpbin/0/0",
                    &["/".to_owned()][..],
                    &["default/oidc".to_owned()][..]
                ),
            ]
        );
        // The port named `http` of the Service `httpbin`, through its EndpointSlice.
        assert_eq!(
            snapshot.routes[1].backends[0]
                .backend
                .as_ref()
                .map(|b| b.endpoints.clone()),
            Some(vec!["127.0.0.1:8080".to_owned()])
        );
    }
}
