//! The config-channel token and signing-keys Secrets, created by the controller when they do
//! not exist and never overwritten.
//!
//! A chart that generates them at render time (Helm's `lookup`) regenerates them on every render
//! where `lookup` sees no cluster: `helm template`, Argo CD, Flux. Each render would then change
//! the token behind the proxies' backs and the signing keys behind every issued token. The
//! controller creates them once instead, in the cluster, from the process's own randomness; the
//! manifests never carry them, so re-applying the manifests changes nothing.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};

use super::plan::NamespacedName;
use crate::resources::SECRET_LABEL;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no randomness from the operating system: {0}")]
    Random(String),
    #[error("reading Secret {secret}: {source}")]
    Get {
        secret: String,
        #[source]
        source: kube::Error,
    },
    #[error("creating Secret {secret}: {source}")]
    Create {
        secret: String,
        #[source]
        source: kube::Error,
    },
}

/// Which Secret: its label value and how to fill it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Generated {
    /// `token`: 64 hex characters (32 random bytes).
    ConfigToken,
    /// One key `k<YYYY-MM-DD>` of 32 random bytes.
    SigningKeys,
}

impl Generated {
    fn label(self) -> &'static str {
        match self {
            Self::ConfigToken => "config-token",
            Self::SigningKeys => "signing-keys",
        }
    }

    fn data(self) -> Result<BTreeMap<String, ByteString>, Error> {
        let mut bytes = [0u8; 32];
        getrandom::getrandom(&mut bytes).map_err(|e| Error::Random(e.to_string()))?;
        Ok(match self {
            Self::ConfigToken => {
                let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                BTreeMap::from([("token".to_owned(), ByteString(hex.into_bytes()))])
            }
            Self::SigningKeys => {
                let id = format!("k{}", Timestamp::now().strftime("%Y-%m-%d"));
                BTreeMap::from([(id, ByteString(bytes.to_vec()))])
            }
        })
    }
}

/// Creates `secret` with fresh random content when it does not exist; leaves an existing one
/// alone, whatever it holds. Returns whether it was created.
pub async fn ensure(
    client: &Client,
    secret: &NamespacedName,
    what: Generated,
    field_manager: &str,
) -> Result<bool, Error> {
    let api: Api<Secret> = Api::namespaced(client.clone(), &secret.namespace);
    let name = secret.to_string();
    if api
        .get_opt(&secret.name)
        .await
        .map_err(|source| Error::Get {
            secret: name.clone(),
            source,
        })?
        .is_some()
    {
        return Ok(false);
    }
    let object = Secret {
        metadata: ObjectMeta {
            name: Some(secret.name.clone()),
            namespace: Some(secret.namespace.clone()),
            labels: Some(BTreeMap::from([(
                SECRET_LABEL.to_owned(),
                what.label().to_owned(),
            )])),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".to_owned()),
        data: Some(what.data()?),
        ..Secret::default()
    };
    // Server-side apply, not forced: `create` is then authorized by name (the chart grants it
    // for these two names only), and a field another manager owns is a conflict, never a
    // silent overwrite.
    api.patch(
        &secret.name,
        &PatchParams::apply(field_manager),
        &Patch::Apply(&object),
    )
    .await
    .map_err(|source| Error::Create {
        secret: name.clone(),
        source,
    })?;
    tracing::info!(secret = %name, kind = what.label(), "created the missing Secret with fresh random content");
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_contents_are_random_and_well_formed() {
        let a = Generated::ConfigToken.data().expect("random");
        let b = Generated::ConfigToken.data().expect("random");
        assert_ne!(a, b);
        let token = String::from_utf8(a["token"].0.clone()).expect("utf-8");
        assert_eq!(token.len(), 64);
        assert!(token.bytes().all(|c| c.is_ascii_hexdigit()));
        let keys = Generated::SigningKeys.data().expect("random");
        let (id, value) = keys.iter().next().expect("one key");
        assert!(tollgate_core::token::is_valid_key_id(id), "{id}");
        assert!(id.starts_with("k2") && id.len() == 11, "{id}");
        assert_eq!(value.0.len(), 32);
    }
}
