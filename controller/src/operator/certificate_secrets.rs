//! Certificate Secrets without the `tollgate.dev/secret` label, read one by one.
//!
//! The operator caches only labelled Secrets (a label selector on the watch) and the metadata of
//! every Secret (names, labels, resourceVersion; no data). cert-manager makes its Secrets without
//! the label, so a Secret a Gateway listener's `certificateRefs` or an Ingress's `spec.tls` names
//! that exists without it is read with a `get` of that one Secret, and kept here by
//! `namespace/name` with its resourceVersion:
//!
//! - it is read again only when the metadata watch shows another resourceVersion (a rotation:
//!   the watch event wakes the reconcile loop, which calls [`CertificateSecrets::refresh`]);
//! - it is dropped once no listener or Ingress names it, once it is deleted, and once it carries
//!   the label (the labelled watch has it then);
//! - only its `kubernetes.io/tls` keys (`tls.crt`, `tls.key`, `ca.crt`) and type are kept, and
//!   only for Secrets of that type; key material is never logged;
//! - `get`s run 8 at a time, each bounded by [`GET_TIMEOUT`];
//! - at most [`MAX_CERTIFICATE_SECRETS`] are held (as many certificates as a snapshot serves):
//!   names beyond are `SecretNotReadable`, saying so;
//! - a `get` refused (403: RBAC narrowed) or failing makes the naming listener or Ingress
//!   `SecretNotReadable`, naming the fix, and is tried again with backoff (from
//!   [`RETRY_FIRST`], doubling up to [`RETRY_MAX`]) or at once when the Secret changes.
//!
//! Credentials' `clientSecretRef` and plugin Secrets are not read this way: the label is the
//! user's opt-in for credential material.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::PartialObjectMeta;
use tokio::time::Instant;

use crate::resources::SECRET_LABEL;
use crate::translate::certificates::TLS_SECRET_TYPE;
use crate::translate::secrets::CertificateReads;

/// The most certificate Secrets read and held: as many as a snapshot serves certificates.
pub const MAX_CERTIFICATE_SECRETS: usize = tollgate_core::certificate::MAX_CERTIFICATES;
/// The first retry of a failed `get`.
pub const RETRY_FIRST: Duration = Duration::from_secs(1);
/// The longest wait between retries of a failed `get`.
pub const RETRY_MAX: Duration = Duration::from_secs(300);
/// How many `get`s run at once (a first pass may read many).
const CONCURRENT_GETS: usize = 8;
/// How long one `get` may take.
pub const GET_TIMEOUT: Duration = Duration::from_secs(10);

/// The keys of a `kubernetes.io/tls` Secret that are kept.
const TLS_KEYS: [&str; 3] = ["tls.crt", "tls.key", "ca.crt"];

/// Why a `get` did not return the Secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GetError {
    /// 403: the controller may not `get` Secrets there.
    Forbidden,
    /// Anything else (a timeout, a 5xx, a transport error): the text, which names no key material.
    Failed(String),
}

/// Reads one Secret by name (`Ok(None)`: it does not exist).
pub trait SecretGetter {
    fn get(
        &self,
        namespace: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<Secret>, GetError>> + Send;
}

impl SecretGetter for kube::Client {
    async fn get(&self, namespace: &str, name: &str) -> Result<Option<Secret>, GetError> {
        let api: kube::Api<Secret> = kube::Api::namespaced(self.clone(), namespace);
        match tokio::time::timeout(GET_TIMEOUT, api.get_opt(name)).await {
            Err(_) => Err(GetError::Failed(format!(
                "no answer within {}s",
                GET_TIMEOUT.as_secs()
            ))),
            Ok(Ok(found)) => Ok(found),
            Ok(Err(kube::Error::Api(status))) if status.code == 403 => Err(GetError::Forbidden),
            Ok(Err(kube::Error::Api(status))) => Err(GetError::Failed(format!(
                "{} {}",
                status.code, status.reason
            ))),
            Ok(Err(e)) => Err(GetError::Failed(e.to_string())),
        }
    }
}

#[derive(Debug)]
enum State {
    /// Read: the Secret, trimmed to its TLS keys.
    Read(Arc<Secret>),
    /// Not read: why, how many times in a row, and when to try again.
    Failed {
        message: String,
        failures: u32,
        retry_at: Instant,
    },
}

#[derive(Debug)]
struct Entry {
    /// The resourceVersion read (or the metadata watch's, when the read failed).
    version: String,
    state: State,
}

/// The certificate Secrets read by name, by `namespace/name`.
#[derive(Debug, Default)]
pub struct CertificateSecrets {
    entries: BTreeMap<String, Entry>,
    gets: u64,
}

impl CertificateSecrets {
    /// How many `get`s were made since start (for tests and metrics).
    pub fn gets(&self) -> u64 {
        self.gets
    }

    /// How many Secrets are held (read or failed).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Brings the cache up to date for the Secrets `named` (`namespace/name`, from
    /// [`crate::translate::certificates::named_certificate_secrets`]) given every Secret's
    /// metadata: reads those that exist without the label and are not held at their current
    /// resourceVersion (or whose retry is due), drops the rest. Returns what the translation
    /// reads, and when a failed read is due again (the caller wakes then).
    pub async fn refresh(
        &mut self,
        named: &BTreeSet<String>,
        metadata: &[Arc<PartialObjectMeta<Secret>>],
        getter: &impl SecretGetter,
        now: Instant,
    ) -> (CertificateReads, Option<Duration>) {
        // Named Secrets that exist without the label, with their resourceVersion.
        let mut wanted: BTreeMap<&str, &str> = BTreeMap::new();
        for meta in metadata {
            let m = &meta.metadata;
            if m.labels
                .as_ref()
                .is_some_and(|l| l.contains_key(SECRET_LABEL))
            {
                continue;
            }
            let (Some(namespace), Some(name)) = (m.namespace.as_deref(), m.name.as_deref()) else {
                continue;
            };
            if let Some(key) = named.get(&format!("{namespace}/{name}")) {
                wanted.insert(key.as_str(), m.resource_version.as_deref().unwrap_or(""));
            }
        }
        let mut over = Vec::new();
        if wanted.len() > MAX_CERTIFICATE_SECRETS {
            over = wanted
                .keys()
                .skip(MAX_CERTIFICATE_SECRETS)
                .map(|k| (*k).to_owned())
                .collect();
            for key in &over {
                wanted.remove(key.as_str());
            }
        }
        self.entries
            .retain(|key, _| wanted.contains_key(key.as_str()));
        let due: Vec<(&str, &str)> = wanted
            .iter()
            .map(|(&key, &version)| (key, version))
            .filter(|(key, version)| match self.entries.get(*key) {
                None => true,
                Some(Entry {
                    version: held,
                    state: State::Read(_),
                }) => held != version,
                Some(Entry {
                    version: held,
                    state: State::Failed { retry_at, .. },
                }) => held != version || *retry_at <= now,
            })
            .collect();
        self.gets += due.len() as u64;
        let results: Vec<_> = futures::stream::iter(due)
            .map(|(key, version)| async move {
                let (namespace, name) = key.split_once('/').unwrap_or(("", key));
                (key, version, getter.get(namespace, name).await)
            })
            .buffer_unordered(CONCURRENT_GETS)
            .collect()
            .await;
        for (key, version, result) in results {
            let (namespace, name) = key.split_once('/').unwrap_or(("", key));
            let failures = match self.entries.get(key) {
                Some(Entry {
                    version: held,
                    state: State::Failed { failures, .. },
                }) if held == version => *failures,
                _ => 0,
            };
            let entry = match result {
                Ok(Some(secret)) => Entry {
                    version: secret
                        .metadata
                        .resource_version
                        .clone()
                        .unwrap_or_else(|| version.to_owned()),
                    state: State::Read(Arc::new(trimmed(secret))),
                },
                Ok(None) => {
                    // Deleted since the watch saw it: the watch's next event says so.
                    self.entries.remove(key);
                    continue;
                }
                Err(e) => {
                    let failures = failures.saturating_add(1);
                    let message = unreadable_message(namespace, name, &e);
                    match &e {
                        GetError::Forbidden => {
                            tracing::warn!(secret = %key, "cannot read the certificate Secret: forbidden (403)");
                        }
                        GetError::Failed(why) => {
                            tracing::warn!(secret = %key, error = %why, "cannot read the certificate Secret");
                        }
                    }
                    Entry {
                        version: version.to_owned(),
                        state: State::Failed {
                            message,
                            failures,
                            retry_at: now + backoff(failures),
                        },
                    }
                }
            };
            self.entries.insert(key.to_owned(), entry);
        }
        let mut reads = CertificateReads::default();
        let mut next: Option<Instant> = None;
        for (key, entry) in &self.entries {
            match &entry.state {
                State::Read(secret) => {
                    reads.read.insert(key.clone(), Arc::clone(secret));
                }
                State::Failed {
                    message, retry_at, ..
                } => {
                    reads.unreadable.insert(key.clone(), message.clone());
                    next = Some(next.map_or(*retry_at, |n| n.min(*retry_at)));
                }
            }
        }
        for key in over {
            let (namespace, name) = key.split_once('/').unwrap_or(("", &key));
            reads.unreadable.insert(
                key.clone(),
                format!(
                    "Secret {key} exists without the label {SECRET_LABEL}, and more than \
                     {MAX_CERTIFICATE_SECRETS} such certificate Secrets are named, which is as \
                     many as Tollgate reads by name: label it (kubectl label secret -n \
                     {namespace} {name} {SECRET_LABEL}=certificate)"
                ),
            );
        }
        (reads, next.map(|at| at.saturating_duration_since(now)))
    }
}

/// The wait before the retry that follows `failures` failed reads in a row.
fn backoff(failures: u32) -> Duration {
    RETRY_FIRST
        .saturating_mul(1 << failures.saturating_sub(1).min(16))
        .min(RETRY_MAX)
}

fn unreadable_message(namespace: &str, name: &str, e: &GetError) -> String {
    let label = format!("kubectl label secret -n {namespace} {name} {SECRET_LABEL}=certificate");
    match e {
        GetError::Forbidden => format!(
            "Secret {namespace}/{name} exists without the label {SECRET_LABEL}, and reading it \
             was refused (403): grant the controller get on secrets in namespace {namespace}, \
             or label it ({label})"
        ),
        GetError::Failed(why) => format!(
            "Secret {namespace}/{name} exists without the label {SECRET_LABEL}, and reading it \
             failed ({why}); tried again with backoff. Labelling it ({label}) lets the \
             controller's watch read it instead"
        ),
    }
}

/// The Secret as kept: name, namespace, resourceVersion, type, and for a `kubernetes.io/tls`
/// Secret its TLS keys (no other data, no annotations, no managed fields).
fn trimmed(secret: Secret) -> Secret {
    let tls = secret.type_.as_deref() == Some(TLS_SECRET_TYPE);
    // The API server never returns `stringData`.
    let data = secret.data.filter(|_| tls).map(|m| {
        m.into_iter()
            .filter(|(k, _)| TLS_KEYS.contains(&k.as_str()))
            .collect::<BTreeMap<_, _>>()
    });
    Secret {
        metadata: ObjectMeta {
            name: secret.metadata.name,
            namespace: secret.metadata.namespace,
            resource_version: secret.metadata.resource_version,
            uid: secret.metadata.uid,
            ..ObjectMeta::default()
        },
        data,
        string_data: None,
        type_: secret.type_,
        immutable: None,
    }
}

#[cfg(test)]
#[path = "certificate_secrets_tests.rs"]
mod tests;
