//! The pure middle of a reconcile pass: cached objects → the translation (`crate::translate`) →
//! the snapshot to push, what it contains, the config token and the proxy replicas. No IO here.

use std::collections::BTreeSet;
use std::sync::Arc;

use bytes::Bytes;
use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::ResourceExt;
use tollgate_core::address::AddressPolicy;
use tollgate_core::config_channel::ConfigToken;

use super::endpoints::{backend_endpoints, proxy_targets};
use super::programmed::{Contents, ObjectKey};
use super::pusher::Desired;
use crate::translate::secrets::decoded_data;
use crate::translate::{
    Kind, Objects, SecretHasher, SigningKeys, SigningKeysError, Translation, keys, translate,
};

/// The key of the config-token Secret that holds the token.
pub const CONFIG_TOKEN_KEY: &str = "token";

/// `namespace/name` of an object the operator is pointed at by a flag.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NamespacedName {
    pub namespace: String,
    pub name: String,
}

impl std::str::FromStr for NamespacedName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once('/') {
            Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
                Ok(Self {
                    namespace: ns.to_owned(),
                    name: name.to_owned(),
                })
            }
            _ => Err(format!("expected namespace/name, got {s:?}")),
        }
    }
}

impl std::fmt::Display for NamespacedName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    SigningKeys(#[from] SigningKeysError),
}

/// Everything the pass reads, copied out of the stores (cheap `Arc`s).
pub struct Inputs {
    pub objects: Objects,
    pub services: Vec<Arc<Service>>,
    pub slices: Vec<Arc<EndpointSlice>>,
    pub proxy_slices: Vec<Arc<EndpointSlice>>,
}

/// What the pass produced.
pub struct Plan {
    pub translation: Translation,
    pub desired: Arc<Desired>,
    /// The objects the snapshot serves, with their generations.
    pub contents: Contents,
    /// `None` when the config-token Secret or its key is missing: nothing can be pushed.
    pub config_token: Option<ConfigToken>,
    pub targets: BTreeSet<String>,
}

fn find_secret<'a>(secrets: &'a [Arc<Secret>], at: &NamespacedName) -> Option<&'a Secret> {
    secrets
        .iter()
        .find(|s| {
            s.namespace().as_deref() == Some(at.namespace.as_str()) && s.name_any() == at.name
        })
        .map(AsRef::as_ref)
}

/// The config-channel token from its Secret (key `token`), trimmed of surrounding whitespace.
pub fn config_token(secrets: &[Arc<Secret>], at: &NamespacedName) -> Option<ConfigToken> {
    let data = decoded_data(find_secret(secrets, at)?);
    ConfigToken::new(std::str::from_utf8(data.get(CONFIG_TOKEN_KEY)?).ok()?)
}

/// The PEM certificates a config channel must chain to, from its Secret: `ca.crt` when present
/// and not empty, else `tls.crt` (a self-signed certificate trusts itself).
pub fn config_tls_roots(secrets: &[Arc<Secret>], at: &NamespacedName) -> Option<Vec<u8>> {
    let data = decoded_data(find_secret(secrets, at)?);
    ["ca.crt", "tls.crt"]
        .into_iter()
        .find_map(|key| data.get(key).filter(|pem| !pem.is_empty()))
        .map(|pem| pem.to_vec())
}

/// The signing keys from their Secret.
pub fn signing_keys(
    secrets: &[Arc<Secret>],
    at: &NamespacedName,
) -> Result<SigningKeys, SigningKeysError> {
    let secret = find_secret(secrets, at).ok_or_else(|| SigningKeysError::NotFound {
        secret: at.to_string(),
    })?;
    keys::from_secret(secret)
}

/// The objects the translation kept, with their generations.
pub fn contents(objects: &Objects, translation: &Translation) -> Contents {
    let mut out = Contents::new();
    let mut add = |kind: Kind, meta: &kube::api::ObjectMeta| {
        let ns = meta.namespace.clone().unwrap_or_default();
        let name = meta.name.clone().unwrap_or_default();
        if translation.includes(kind, &ns, &name) {
            out.insert(
                ObjectKey::new(kind, &ns, &name),
                meta.generation.unwrap_or(0),
            );
        }
    };
    objects
        .consumers
        .iter()
        .for_each(|o| add(Kind::Consumer, &o.metadata));
    objects
        .credentials
        .iter()
        .for_each(|o| add(Kind::OAuth2Credential, &o.metadata));
    objects
        .plugins
        .iter()
        .for_each(|o| add(Kind::AuthPlugin, &o.metadata));
    objects
        .routes
        .iter()
        .for_each(|o| add(Kind::GatewayRoute, &o.metadata));
    // A Gateway is in the snapshot at the generation its status was computed from once it is
    // programmed (some listener valid), whatever problems its other listeners have.
    for (at, report) in &translation.gateway_status.gateways {
        let programmed = report
            .conditions
            .iter()
            .find(|c| c.type_ == crate::translate::gateway_api::gw::PROGRAMMED && c.status);
        if let (Some(c), Some((ns, name))) = (programmed, at.split_once('/')) {
            out.insert(
                ObjectKey::new(Kind::Gateway, ns, name),
                c.observed_generation.unwrap_or(0),
            );
        }
    }
    out
}

/// The whole pure pass. Hashing new client secrets (argon2id) makes it CPU-bound: run it on a
/// blocking thread.
pub fn build(
    inputs: &Inputs,
    token_secret: &NamespacedName,
    keys_secret: &NamespacedName,
    policy: &AddressPolicy,
    hasher: &mut SecretHasher,
) -> Result<Plan, Error> {
    let keys = signing_keys(&inputs.objects.secrets, keys_secret)?;
    let services = backend_endpoints(&inputs.services, &inputs.slices);
    let translation = translate(&inputs.objects, &services, policy, &keys, hasher);
    let body = Bytes::from(translation.snapshot.to_json());
    let hash = translation.snapshot.content_hash();
    Ok(Plan {
        contents: contents(&inputs.objects, &translation),
        desired: Arc::new(Desired { hash, body }),
        config_token: config_token(&inputs.objects.secrets, token_secret),
        targets: proxy_targets(&inputs.proxy_slices),
        translation,
    })
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
