//! Labelled Secrets, indexed by namespace/name, with `stringData` applied over `data` as the API
//! server does on write.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;

use super::DEFAULT_NAMESPACE;
use super::index::NameIndex;
use crate::resources::SECRET_LABEL;

pub(crate) type SecretIndex<'a> = NameIndex<'a, &'a Secret>;

/// Secrets carrying the `tollgate.dev/secret` label; the others are invisible to Tollgate (the
/// operator never caches them, and standalone mode follows the same rule).
pub(crate) fn index(secrets: &[Arc<Secret>]) -> SecretIndex<'_> {
    let mut index = NameIndex::default();
    for secret in secrets.iter().filter(|s| is_labelled(s)) {
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
    index
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
