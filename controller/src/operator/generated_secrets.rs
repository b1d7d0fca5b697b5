//! The config-channel token, signing-keys and config-channel certificate Secrets, created by the
//! controller when they do not exist and never overwritten.
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
    #[error("generating a certificate: {0}")]
    Certificate(String),
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Generated {
    /// `token`: 64 hex characters (32 random bytes).
    ConfigToken,
    /// One key `k<YYYY-MM-DD>` of 32 random bytes.
    SigningKeys,
    /// `tls.crt` and `tls.key` (type `kubernetes.io/tls`): a self-signed ECDSA P-256 certificate
    /// for this DNS name, which the proxies serve the config channel with and the controller
    /// trusts.
    ConfigTls { server_name: String },
}

impl Generated {
    fn label(&self) -> &'static str {
        match self {
            Self::ConfigToken => "config-token",
            Self::SigningKeys => "signing-keys",
            Self::ConfigTls { .. } => "config-tls",
        }
    }

    fn secret_type(&self) -> &'static str {
        match self {
            Self::ConfigTls { .. } => "kubernetes.io/tls",
            _ => "Opaque",
        }
    }

    fn data(&self) -> Result<BTreeMap<String, ByteString>, Error> {
        let mut bytes = [0u8; 32];
        getrandom::getrandom(&mut bytes).map_err(|e| Error::Random(e.to_string()))?;
        Ok(match self {
            Self::ConfigTls { server_name } => {
                let generated = rcgen::generate_simple_self_signed(vec![server_name.clone()])
                    .map_err(|e| Error::Certificate(e.to_string()))?;
                BTreeMap::from([
                    (
                        "tls.crt".to_owned(),
                        ByteString(generated.cert.pem().into_bytes()),
                    ),
                    (
                        "tls.key".to_owned(),
                        ByteString(generated.key_pair.serialize_pem().into_bytes()),
                    ),
                ])
            }
            Self::ConfigToken => {
                let hex = tollgate_core::snapshot::hex(&bytes);
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
    what: &Generated,
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
        type_: Some(what.secret_type().to_owned()),
        data: Some(what.data()?),
        ..Secret::default()
    };
    // Server-side apply, not forced: `create` is then authorized by name (the chart grants it
    // for these two names only), and a field another manager owns is a conflict, never a
    // silent overwrite. The manager is this process's own: when two replicas start together and
    // both find the Secret missing, the second apply sets the same field to another random
    // value, which the API server refuses as a conflict instead of replacing the first
    // replica's content (under one shared manager it would be an update).
    let manager = creating_manager(field_manager)?;
    match api
        .patch(
            &secret.name,
            &PatchParams::apply(&manager),
            &Patch::Apply(&object),
        )
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 409 => {
            tracing::info!(secret = %name, kind = what.label(), "another replica created the Secret first; left as it is");
            return Ok(false);
        }
        Err(source) => {
            return Err(Error::Create {
                secret: name.clone(),
                source,
            });
        }
    }
    tracing::info!(secret = %name, kind = what.label(), "created the missing Secret with fresh random content");
    Ok(true)
}

/// `<field manager>-create-<8 random hex digits>`: one per process (at most 128 characters, as
/// the API server requires).
fn creating_manager(field_manager: &str) -> Result<String, Error> {
    let mut bytes = [0u8; 4];
    getrandom::getrandom(&mut bytes).map_err(|e| Error::Random(e.to_string()))?;
    let suffix = tollgate_core::snapshot::hex(&bytes);
    let base: String = field_manager.chars().take(128 - 16).collect();
    Ok(format!("{base}-create-{suffix}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operator::mock_api::{mock_client, status_error};

    fn secret_name() -> NamespacedName {
        NamespacedName {
            namespace: "tollgate-system".to_owned(),
            name: "tg-config-token".to_owned(),
        }
    }

    #[tokio::test]
    async fn a_missing_secret_is_created_under_a_manager_of_this_process() {
        let (client, mut api) = mock_client();
        let task = tokio::spawn(async move {
            ensure(
                &client,
                &secret_name(),
                &Generated::ConfigToken,
                "tg-tollgate",
            )
            .await
        });
        let get = api.answer(404, status_error(404, "NotFound")).await;
        assert_eq!(get.method, "GET");
        let apply = api
            .answer_with(|_, _| serde_json::json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tg-config-token"}}))
            .await;
        assert_eq!(apply.method, "PATCH");
        assert!(
            apply.uri.contains("fieldManager=tg-tollgate-create-") && !apply.uri.contains("force"),
            "{}",
            apply.uri
        );
        assert_eq!(
            apply.body["metadata"]["labels"][SECRET_LABEL],
            "config-token"
        );
        assert!(task.await.expect("task").expect("created"));
    }

    /// Two replicas found the Secret missing; the other one's apply came first, so this one's
    /// (another random value for a field the other manager owns) is a conflict: left alone.
    #[tokio::test]
    async fn a_conflict_with_another_replicas_creation_leaves_its_content() {
        let (client, mut api) = mock_client();
        let task = tokio::spawn(async move {
            ensure(
                &client,
                &secret_name(),
                &Generated::SigningKeys,
                "tg-tollgate",
            )
            .await
        });
        api.answer(404, status_error(404, "NotFound")).await;
        let apply = api.answer(409, status_error(409, "Conflict")).await;
        assert_eq!(apply.method, "PATCH");
        assert!(!task.await.expect("task").expect("not an error"));
    }

    #[test]
    fn the_creating_manager_is_per_process_and_bounded() {
        let a = creating_manager("tg-tollgate").expect("random");
        let b = creating_manager("tg-tollgate").expect("random");
        assert!(a.starts_with("tg-tollgate-create-") && a.len() == "tg-tollgate-create-".len() + 8);
        assert_ne!(a, b);
        assert!(creating_manager(&"m".repeat(300)).expect("random").len() <= 128);
    }

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
