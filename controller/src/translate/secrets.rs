//! The Secrets objects name, indexed by namespace/name, with `stringData` applied over `data`
//! as the API server does on write; and which of them a translation may read ([`SecretAccess`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;

use super::DEFAULT_NAMESPACE;
use super::index::NameIndex;
use super::problem::reason;
use crate::resources::SECRET_LABEL;

/// Which Secrets a credential's `clientSecretRef` or a plugin's Secret reference may name: the
/// label is the user's opt-in for credential material. (A Gateway listener's `certificateRefs`
/// and an Ingress's `spec.tls` read any Secret given to the translation, and in a cluster the
/// unlabelled ones the operator read one by one, [`CertificateReads`]: the object names it, and
/// cross-namespace references need a ReferenceGrant.)
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum SecretAccess {
    /// Only Secrets labelled `tollgate.dev/secret` (the operator caches no other); whether a
    /// named Secret exists without the label is not known.
    #[default]
    Labelled,
    /// Only labelled Secrets; these (`namespace/name`) exist without the label, so naming one
    /// is `SecretNotLabelled`, with the fix, rather than `SecretNotFound`.
    LabelledKnowing(BTreeSet<String>),
    /// Every Secret given, whatever its labels: standalone mode, where the directory is the
    /// user's whole configuration.
    Named,
}

/// Certificate Secrets (named by Gateway listeners or Ingress `spec.tls`) that exist without the
/// `tollgate.dev/secret` label, as the operator read them one by one (a `get` each), by
/// `namespace/name`. Only their `kubernetes.io/tls` keys are kept.
#[derive(Clone, Debug, Default)]
pub struct CertificateReads {
    /// Those read.
    pub read: BTreeMap<String, Arc<Secret>>,
    /// Those that could not be read: the message, naming the fix (`SecretNotReadable`).
    pub unreadable: BTreeMap<String, String>,
}

/// The Secrets a translation reads, by namespace and name.
pub(crate) struct SecretIndex<'a> {
    index: NameIndex<'a, &'a Secret>,
    access: &'a SecretAccess,
}

impl<'a> SecretIndex<'a> {
    pub(crate) fn get(&self, namespace: &str, name: &str) -> Option<&&'a Secret> {
        self.index.get(namespace, name)
    }

    /// The reason and message of a named Secret that [`Self::get`] does not have.
    pub(crate) fn missing(&self, namespace: &str, name: &str) -> (&'static str, String) {
        match self.access {
            SecretAccess::Named => (
                reason::SECRET_NOT_FOUND,
                format!("Secret {name} does not exist in namespace {namespace}"),
            ),
            SecretAccess::LabelledKnowing(unlabelled)
                if unlabelled.contains(&format!("{namespace}/{name}")) =>
            {
                (
                    reason::SECRET_NOT_LABELLED,
                    format!(
                        "Secret {name} exists in namespace {namespace} without the label \
                         {SECRET_LABEL}, and Tollgate reads only labelled Secrets: add the label \
                         to Secret {name} (kubectl label secret -n {namespace} {name} \
                         {SECRET_LABEL}=credential)"
                    ),
                )
            }
            SecretAccess::LabelledKnowing(_) => (
                reason::SECRET_NOT_FOUND,
                format!("Secret {name} does not exist in namespace {namespace}"),
            ),
            SecretAccess::Labelled => (
                reason::SECRET_NOT_FOUND,
                format!(
                    "Secret {name} does not exist in namespace {namespace} or lacks the label \
                     {SECRET_LABEL}"
                ),
            ),
        }
    }
}

/// The Secrets `access` lets objects name: those carrying the `tollgate.dev/secret` label, or
/// (standalone mode) every one given.
pub(crate) fn index<'a>(secrets: &'a [Arc<Secret>], access: &'a SecretAccess) -> SecretIndex<'a> {
    let mut index = NameIndex::default();
    let every = *access == SecretAccess::Named;
    for secret in secrets.iter().filter(|s| every || is_labelled(s)) {
        // As `ObjectName::of` names it, borrowed.
        let meta = &secret.metadata;
        let namespace = meta
            .namespace
            .as_deref()
            .filter(|ns| !ns.is_empty())
            .unwrap_or(DEFAULT_NAMESPACE);
        let name = meta
            .name
            .as_deref()
            .or(meta.generate_name.as_deref())
            .unwrap_or_default();
        index.insert(namespace, name, secret.as_ref());
    }
    SecretIndex { index, access }
}

pub(crate) fn is_labelled(secret: &Secret) -> bool {
    secret
        .metadata
        .labels
        .as_ref()
        .is_some_and(|labels| labels.contains_key(SECRET_LABEL))
}

/// The value of `key`, from `stringData` first, then `data`.
pub(crate) fn value<'a>(secret: &'a Secret, key: &str) -> Option<&'a [u8]> {
    if let Some(v) = secret.string_data.as_ref().and_then(|d| d.get(key)) {
        return Some(v.as_bytes());
    }
    secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| b.0.as_slice())
}

/// Every key/value of a Secret, `stringData` over `data`.
pub fn decoded_data(secret: &Secret) -> BTreeMap<String, Vec<u8>> {
    let mut out: BTreeMap<String, Vec<u8>> = secret
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.0.clone()))
        .collect();
    for (k, v) in secret.string_data.iter().flatten() {
        out.insert(k.clone(), v.clone().into_bytes());
    }
    out
}
