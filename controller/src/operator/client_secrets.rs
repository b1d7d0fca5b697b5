//! Generated client secrets (`OAuth2Credential` `generateSecret: true`, opt-in twice: on the
//! credential, and `--generate-client-secrets` on the controller, which the chart's
//! `clientSecrets.generate` sets together with the RBAC it needs).
//!
//! For a confidential credential whose `clientSecretRef` names a key that is absent, the leader
//! writes 32 random bytes (base64url, no padding: 43 characters) there:
//! - the Secret does not exist: it is created (`create`, never an apply that could merge into an
//!   existing object) in the credential's own namespace, labelled `tollgate.dev/secret:
//!   credential` and owned by the credential (deleting the credential deletes it);
//! - the labelled Secret exists without the key: the key is added by server-side apply under a
//!   manager of its own, not forced, so a key another manager owns is never overwritten;
//! - a Secret of that name exists without the label: left alone (it is not Tollgate's to
//!   change); the credential's condition already says the Secret lacks the label.
//!
//! Either way the Secret gets the annotation [`GENERATED_ANNOTATION`] naming the key, which the
//! credential's `SecretGenerated` condition is read from (so it survives restarts). The value is
//! never logged, and never leaves the controller except in that write.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client, Resource, ResourceExt};

use crate::resources::oauth2_credential::ClientType;
use crate::resources::{OAuth2Credential, SECRET_LABEL};
use crate::translate::secrets;

/// On a Secret: the key the controller generated a client secret into.
pub const GENERATED_ANNOTATION: &str = "tollgate.dev/generated-secret";

/// What generating one credential's secret did.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to do: not asked, or the key already holds a value.
    Nothing,
    /// Created the Secret with the key.
    Created,
    /// Added the key to the existing labelled Secret.
    Added,
    /// The write was refused (the message names why and the fix); tried again when the
    /// credential or the Secret changes.
    Refused(String),
}

/// The Secret and key a credential wants generated, if it asks and is confidential.
fn wanted(credential: &OAuth2Credential) -> Option<(&str, &str)> {
    let spec = &credential.spec;
    if !spec.generate_secret || spec.client_type != ClientType::Confidential {
        return None;
    }
    let r = spec.client_secret_ref.as_ref()?;
    Some((r.name.as_str(), r.key.as_str()))
}

/// 32 random bytes, base64url without padding.
fn random_secret() -> Result<String, String> {
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::getrandom(bytes.as_mut()).map_err(|e| e.to_string())?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes.as_ref()))
}

/// The message of the credential's `SecretGenerated` condition, when its Secret (from the
/// labelled Secrets the controller caches) carries the annotation for its key.
pub fn generated_note(credential: &OAuth2Credential, secrets: &[Arc<Secret>]) -> Option<String> {
    let (name, key) = wanted(credential)?;
    let namespace = credential.namespace()?;
    let secret = secrets.iter().find(|s| {
        s.metadata.namespace.as_deref() == Some(namespace.as_str())
            && s.metadata.name.as_deref() == Some(name)
    })?;
    let annotated = secret.annotations().get(GENERATED_ANNOTATION)?;
    (annotated == key && secrets::value(secret, key).is_some()).then(|| {
        format!("the controller generated the client secret into key {key:?} of Secret {name}")
    })
}

/// Generates the secret of `credential` when it asks for one and its key is absent. `secrets`
/// are the labelled Secrets the controller caches.
pub async fn generate(
    client: &Client,
    credential: &OAuth2Credential,
    secrets: &[Arc<Secret>],
    field_manager: &str,
) -> Outcome {
    let Some((name, key)) = wanted(credential) else {
        return Outcome::Nothing;
    };
    let Some(namespace) = credential.namespace() else {
        return Outcome::Nothing;
    };
    let cached = secrets.iter().find(|s| {
        s.metadata.namespace.as_deref() == Some(namespace.as_str())
            && s.metadata.name.as_deref() == Some(name)
    });
    if cached.is_some_and(|s| secrets::value(s, key).is_some()) {
        return Outcome::Nothing;
    }
    // Only a client-secret Secret takes a generated key: never the signing keys or another
    // Secret of Tollgate's that a credential happens to name.
    if let Some(label) = cached.and_then(|s| s.labels().get(SECRET_LABEL))
        && label != "credential"
    {
        return Outcome::Refused(format!(
            "Secret {name} is labelled {SECRET_LABEL}: {label}, not credential; name a Secret of \
             its own in clientSecretRef"
        ));
    }
    let value = match random_secret() {
        Ok(value) => value,
        Err(e) => return Outcome::Refused(format!("no randomness: {e}")),
    };
    let api: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let object = Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(namespace.clone()),
            labels: Some(BTreeMap::from([(
                SECRET_LABEL.to_owned(),
                "credential".to_owned(),
            )])),
            annotations: Some(BTreeMap::from([(
                GENERATED_ANNOTATION.to_owned(),
                key.to_owned(),
            )])),
            owner_references: cached.is_none().then(|| owner(credential)).flatten(),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([(
            key.to_owned(),
            ByteString(value.into_bytes()),
        )])),
        ..Secret::default()
    };
    let at = format!("{namespace}/{name}");
    let result = if cached.is_some() {
        let manager = format!("{field_manager}-client-secret");
        api.patch(name, &PatchParams::apply(&manager), &Patch::Apply(&object))
            .await
            .map(|_| Outcome::Added)
    } else {
        api.create(&PostParams::default(), &object)
            .await
            .map(|_| Outcome::Created)
    };
    match result {
        Ok(outcome) => {
            tracing::info!(secret = %at, key, credential = %credential.name_any(), "generated a client secret");
            outcome
        }
        Err(kube::Error::Api(status)) if status.code == 409 => Outcome::Refused(format!(
            "Secret {name} exists without the label {SECRET_LABEL} (or another writer owns key \
             {key:?}); label it, or remove the key's other owner, and the controller fills it"
        )),
        Err(kube::Error::Api(status)) if status.code == 403 => Outcome::Refused(format!(
            "the controller may not write Secrets in namespace {namespace}: install the chart \
             with clientSecrets.generate=true ({})",
            status.message
        )),
        Err(e) => Outcome::Refused(format!("writing Secret {name}: {e}")),
    }
}

/// An owner reference to the credential (deleting it deletes the generated Secret).
fn owner(credential: &OAuth2Credential) -> Option<Vec<OwnerReference>> {
    let uid = credential.uid()?;
    Some(vec![OwnerReference {
        api_version: OAuth2Credential::api_version(&()).into_owned(),
        kind: OAuth2Credential::kind(&()).into_owned(),
        name: credential.name_any(),
        uid,
        controller: Some(true),
        block_owner_deletion: None,
    }])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operator::mock_api::{mock_client, status_error};
    use crate::resources::OAuth2CredentialSpec;
    use crate::resources::oauth2_credential::{LocalObjectRef, SecretKeyRef};

    fn credential(generate: bool) -> OAuth2Credential {
        let mut c = OAuth2Credential::new(
            "app",
            OAuth2CredentialSpec {
                consumer_ref: LocalObjectRef {
                    name: "jane".into(),
                },
                name: None,
                client_id: "app".into(),
                client_secret_ref: Some(SecretKeyRef {
                    name: "app-secret".into(),
                    key: "client_secret".into(),
                }),
                hash_secret: true,
                redirect_uris: vec![],
                scopes: None,
                client_type: ClientType::Confidential,
                previous_client_secrets: vec![],
                tokens_survive_rotation: false,
                generate_secret: generate,
            },
        );
        c.metadata.namespace = Some("team-a".into());
        c.metadata.uid = Some("5b0d1c7e-0000-4000-8000-000000000001".into());
        c
    }

    fn labelled(data: &[(&str, &str)]) -> Arc<Secret> {
        Arc::new(Secret {
            metadata: ObjectMeta {
                name: Some("app-secret".into()),
                namespace: Some("team-a".into()),
                labels: Some(BTreeMap::from([(SECRET_LABEL.into(), "credential".into())])),
                ..ObjectMeta::default()
            },
            data: Some(
                data.iter()
                    .map(|(k, v)| ((*k).to_owned(), ByteString(v.as_bytes().to_vec())))
                    .collect(),
            ),
            ..Secret::default()
        })
    }

    #[tokio::test]
    async fn a_missing_secret_is_created_in_the_credentials_namespace_owned_by_it() {
        let (client, mut api) = mock_client();
        let task =
            tokio::spawn(async move { generate(&client, &credential(true), &[], "tg").await });
        let created = api
            .answer_with(|_, _| serde_json::json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "app-secret"}}))
            .await;
        assert_eq!(created.method, "POST");
        assert!(
            created.uri.starts_with("/api/v1/namespaces/team-a/secrets"),
            "{}",
            created.uri
        );
        let meta = &created.body["metadata"];
        assert_eq!(meta["labels"][SECRET_LABEL], "credential");
        assert_eq!(meta["annotations"][GENERATED_ANNOTATION], "client_secret");
        assert_eq!(meta["ownerReferences"][0]["kind"], "OAuth2Credential");
        assert_eq!(meta["ownerReferences"][0]["name"], "app");
        let value = created.body["data"]["client_secret"]
            .as_str()
            .expect("data");
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(value)
            .expect("base64 data");
        assert_eq!(decoded.len(), 43, "32 bytes in base64url");
        assert!(
            decoded
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
        );
        assert_eq!(task.await.expect("task"), Outcome::Created);
    }

    #[tokio::test]
    async fn a_labelled_secret_without_the_key_gets_it_by_an_unforced_apply() {
        let (client, mut api) = mock_client();
        let secrets = vec![labelled(&[("other", "x")])];
        let task =
            tokio::spawn(async move { generate(&client, &credential(true), &secrets, "tg").await });
        let apply = api
            .answer_with(|_, _| serde_json::json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "app-secret"}}))
            .await;
        assert_eq!(apply.method, "PATCH");
        assert!(
            apply.uri.contains("fieldManager=tg-client-secret") && !apply.uri.contains("force"),
            "{}",
            apply.uri
        );
        assert!(apply.body["metadata"]["ownerReferences"].is_null());
        assert!(apply.body["data"]["client_secret"].is_string());
        assert_eq!(task.await.expect("task"), Outcome::Added);
    }

    #[tokio::test]
    async fn nothing_is_written_when_not_asked_or_already_there_and_a_refusal_names_the_fix() {
        let (client, mut api) = mock_client();
        let present = vec![labelled(&[("client_secret", "chosen")])];
        assert_eq!(
            generate(&client, &credential(false), &[], "tg").await,
            Outcome::Nothing
        );
        assert_eq!(
            generate(&client, &credential(true), &present, "tg").await,
            Outcome::Nothing
        );
        let task =
            tokio::spawn(async move { generate(&client, &credential(true), &[], "tg").await });
        api.answer(403, status_error(403, "Forbidden")).await;
        let Outcome::Refused(message) = task.await.expect("task") else {
            panic!("refused")
        };
        assert!(message.contains("clientSecrets.generate=true"), "{message}");
    }

    #[tokio::test]
    async fn a_secret_labelled_for_something_else_is_never_written() {
        let (client, _api) = mock_client();
        let mut keys = (*labelled(&[("k2026-01-01", "key material")])).clone();
        keys.metadata
            .labels
            .as_mut()
            .expect("labels")
            .insert(SECRET_LABEL.into(), "signing-keys".into());
        let outcome = generate(&client, &credential(true), &[Arc::new(keys)], "tg").await;
        let Outcome::Refused(message) = outcome else {
            panic!("refused: {outcome:?}")
        };
        assert!(message.contains("signing-keys"), "{message}");
    }

    #[test]
    fn the_condition_is_read_from_the_annotation_and_generated_values_differ() {
        let mut secret = (*labelled(&[("client_secret", "v")])).clone();
        assert_eq!(
            generated_note(&credential(true), &[Arc::new(secret.clone())]),
            None
        );
        secret.metadata.annotations = Some(BTreeMap::from([(
            GENERATED_ANNOTATION.into(),
            "client_secret".into(),
        )]));
        let note = generated_note(&credential(true), &[Arc::new(secret)]).expect("note");
        assert!(
            note.contains("app-secret") && !note.contains("\"v\""),
            "{note}"
        );
        assert_ne!(
            random_secret().expect("random"),
            random_secret().expect("random")
        );
    }
}
