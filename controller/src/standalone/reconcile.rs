//! One standalone reconcile: the objects of the manifests directory → a snapshot, logging each
//! problem once when it appears and once when it is resolved.

use tollgate_core::address::AddressPolicy;
use tollgate_core::snapshot::Snapshot;

use std::collections::BTreeSet;

use super::dir::{ManifestDir, signing_keys_secret};
use std::sync::Arc;

use super::incarnations::Incarnations;
use crate::jwks::{self, JwksCache};
use crate::translate::report::ProblemLog;
use crate::translate::{Problem, SecretHasher, ServiceEndpoints, SigningKeys, keys, translate};

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
        let mut objects = dir.objects();
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
        let mut translation = translate(
            &objects,
            &ServiceEndpoints::new(),
            &self.policy,
            &keys,
            &mut self.hasher,
        );
        let credentials: BTreeSet<String> = objects
            .credentials
            .iter()
            .map(|c| {
                format!(
                    "{}/{}",
                    c.namespace
                        .as_deref()
                        .unwrap_or(crate::translate::DEFAULT_NAMESPACE),
                    c.name
                )
            })
            .collect();
        let path = |m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
            format!(
                "{}/{}",
                m.namespace
                    .as_deref()
                    .unwrap_or(crate::translate::DEFAULT_NAMESPACE),
                m.name.as_deref().unwrap_or_default()
            )
        };
        let plugins: BTreeSet<String> = objects.plugins.iter().map(|p| path(&p.metadata)).collect();
        self.incarnations
            .stamp(&mut translation.snapshot, &credentials, &plugins);
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
}
