use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::PartialObjectMeta;
use serde_json::json;
use tokio::time::Instant;

use super::*;

/// Secrets as an API server holds them; answers `get`s and counts them.
#[derive(Default)]
struct FakeApi {
    held: Mutex<BTreeMap<String, Result<Secret, GetError>>>,
    asked: Mutex<Vec<String>>,
}

impl FakeApi {
    fn put(&self, key: &str, answer: Result<Secret, GetError>) {
        self.held
            .lock()
            .expect("lock")
            .insert(key.to_owned(), answer);
    }

    fn asked(&self) -> Vec<String> {
        std::mem::take(&mut *self.asked.lock().expect("lock"))
    }
}

impl SecretGetter for FakeApi {
    async fn get(&self, namespace: &str, name: &str) -> Result<Option<Secret>, GetError> {
        let key = format!("{namespace}/{name}");
        self.asked.lock().expect("lock").push(key.clone());
        match self.held.lock().expect("lock").get(&key) {
            None => Ok(None),
            Some(Ok(secret)) => Ok(Some(secret.clone())),
            Some(Err(e)) => Err(e.clone()),
        }
    }
}

fn tls(key: &str, version: &str, crt: &str) -> Secret {
    let (namespace, name) = key.split_once('/').expect("ns/name");
    Secret {
        metadata: ObjectMeta {
            namespace: Some(namespace.into()),
            name: Some(name.into()),
            resource_version: Some(version.into()),
            annotations: Some(BTreeMap::from([(
                "cert-manager.io/certificate-name".to_owned(),
                name.to_owned(),
            )])),
            ..ObjectMeta::default()
        },
        type_: Some(TLS_SECRET_TYPE.into()),
        data: Some(BTreeMap::from([
            ("tls.crt".into(), ByteString(crt.as_bytes().to_vec())),
            ("tls.key".into(), ByteString(b"key".to_vec())),
            ("other".into(), ByteString(b"not kept".to_vec())),
        ])),
        ..Secret::default()
    }
}

fn meta(key: &str, version: &str, labelled: bool) -> Arc<PartialObjectMeta<Secret>> {
    let (namespace, name) = key.split_once('/').expect("ns/name");
    let labels = if labelled {
        json!({"tollgate.dev/secret": "certificate"})
    } else {
        json!({"app": "web"})
    };
    Arc::new(
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "PartialObjectMetadata",
            "metadata": {"namespace": namespace, "name": name, "resourceVersion": version,
                         "labels": labels}
        }))
        .expect("metadata"),
    )
}

fn named(keys: &[&str]) -> BTreeSet<String> {
    keys.iter().map(|k| (*k).to_owned()).collect()
}

fn crt(reads: &crate::translate::secrets::CertificateReads, key: &str) -> Vec<u8> {
    reads.read[key].data.as_ref().expect("data")["tls.crt"]
        .0
        .clone()
}

#[tokio::test]
async fn a_named_unlabelled_secret_is_read_once_and_again_only_on_a_new_resource_version() {
    let api = FakeApi::default();
    api.put("web/site", Ok(tls("web/site", "5", "first")));
    let mut cache = CertificateSecrets::default();
    let names = named(&["web/site"]);
    let now = Instant::now();

    let (reads, retry) = cache
        .refresh(&names, &[meta("web/site", "5", false)], &api, now)
        .await;
    assert_eq!(api.asked(), ["web/site"]);
    assert_eq!(crt(&reads, "web/site"), b"first");
    assert_eq!(retry, None);
    let kept = &reads.read["web/site"];
    assert!(!kept.data.as_ref().expect("data").contains_key("other"));
    assert_eq!(kept.metadata.annotations, None);

    // Other passes (other objects changed): nothing is read again.
    for _ in 0..3 {
        let (reads, _) = cache
            .refresh(&names, &[meta("web/site", "5", false)], &api, now)
            .await;
        assert_eq!(crt(&reads, "web/site"), b"first");
    }
    assert!(api.asked().is_empty(), "read again at the same version");

    // Rotation: the watch shows a new resourceVersion.
    api.put("web/site", Ok(tls("web/site", "9", "second")));
    let (reads, _) = cache
        .refresh(&names, &[meta("web/site", "9", false)], &api, now)
        .await;
    assert_eq!(api.asked(), ["web/site"]);
    assert_eq!(crt(&reads, "web/site"), b"second");
    assert_eq!(cache.gets(), 2);
}

#[tokio::test]
async fn entries_are_dropped_when_unnamed_deleted_or_labelled_and_others_are_never_read() {
    let api = FakeApi::default();
    for key in ["web/a", "web/b", "web/c", "web/unnamed"] {
        api.put(key, Ok(tls(key, "1", key)));
    }
    let mut cache = CertificateSecrets::default();
    let now = Instant::now();
    let all = [
        meta("web/a", "1", false),
        meta("web/b", "1", false),
        meta("web/c", "1", false),
        meta("web/unnamed", "1", false),
        meta("web/labelled", "1", true),
    ];
    let (reads, _) = cache
        .refresh(
            &named(&["web/a", "web/b", "web/c", "web/labelled", "web/missing"]),
            &all,
            &api,
            now,
        )
        .await;
    let mut asked = api.asked();
    asked.sort();
    assert_eq!(
        asked,
        ["web/a", "web/b", "web/c"],
        "only named, unlabelled, existing"
    );
    assert_eq!(reads.read.len(), 3);
    assert_eq!(cache.len(), 3);

    // a: no longer named; b: deleted; c: labelled now (the labelled watch has it).
    let (reads, _) = cache
        .refresh(
            &named(&["web/b", "web/c"]),
            &[meta("web/a", "1", false), meta("web/c", "2", true)],
            &api,
            now,
        )
        .await;
    assert!(reads.read.is_empty() && reads.unreadable.is_empty());
    assert!(cache.is_empty());
    assert!(api.asked().is_empty());
}

#[tokio::test]
async fn a_refused_read_names_the_fix_and_is_retried_with_backoff_not_hot_looped() {
    let api = FakeApi::default();
    api.put("web/site", Err(GetError::Forbidden));
    let mut cache = CertificateSecrets::default();
    let names = named(&["web/site"]);
    let metadata = [meta("web/site", "5", false)];
    let start = Instant::now();

    let (reads, retry) = cache.refresh(&names, &metadata, &api, start).await;
    assert_eq!(api.asked().len(), 1);
    let message = &reads.unreadable["web/site"];
    assert!(message.contains("refused (403)"), "{message}");
    assert!(message.contains("grant the controller get on secrets in namespace web"));
    assert!(message.contains("kubectl label secret -n web site tollgate.dev/secret=certificate"));
    assert_eq!(retry, Some(RETRY_FIRST));

    // Passes before the retry is due read nothing.
    let (_, retry) = cache
        .refresh(&names, &metadata, &api, start + RETRY_FIRST / 2)
        .await;
    assert!(api.asked().is_empty());
    assert_eq!(retry, Some(RETRY_FIRST / 2));

    // Due: read again, failing again doubles the wait; the waits are bounded.
    let mut at = start + RETRY_FIRST;
    let mut waits = Vec::new();
    for _ in 0..12 {
        let (_, retry) = cache.refresh(&names, &metadata, &api, at).await;
        assert_eq!(api.asked().len(), 1);
        let wait = retry.expect("a retry");
        waits.push(wait);
        at += wait;
    }
    assert_eq!(waits[0], RETRY_FIRST * 2);
    assert_eq!(waits[1], RETRY_FIRST * 4);
    assert_eq!(*waits.last().expect("waits"), RETRY_MAX);

    // RBAC granted (or the Secret changed): read at the next due retry, and served.
    api.put("web/site", Ok(tls("web/site", "5", "now")));
    let (reads, retry) = cache.refresh(&names, &metadata, &api, at).await;
    assert_eq!(crt(&reads, "web/site"), b"now");
    assert!(reads.unreadable.is_empty());
    assert_eq!(retry, None);

    // A failure on another version resets the backoff: a change is read at once.
    api.put(
        "web/site",
        Err(GetError::Failed("503 Service Unavailable".into())),
    );
    let (reads, retry) = cache
        .refresh(&names, &[meta("web/site", "6", false)], &api, at)
        .await;
    assert!(reads.unreadable["web/site"].contains("503 Service Unavailable"));
    assert_eq!(retry, Some(RETRY_FIRST));
}

#[tokio::test]
async fn an_opaque_secret_keeps_no_data_and_names_beyond_the_bound_are_not_read() {
    let api = FakeApi::default();
    let mut opaque = tls("web/opaque", "1", "x");
    opaque.type_ = Some("Opaque".into());
    api.put("web/opaque", Ok(opaque));
    let mut cache = CertificateSecrets::default();
    let (reads, _) = cache
        .refresh(
            &named(&["web/opaque"]),
            &[meta("web/opaque", "1", false)],
            &api,
            Instant::now(),
        )
        .await;
    let kept = &reads.read["web/opaque"];
    assert_eq!(kept.data, None);
    assert_eq!(kept.type_.as_deref(), Some("Opaque"));

    let keys: Vec<String> = (0..=MAX_CERTIFICATE_SECRETS)
        .map(|i| format!("web/s{i:05}"))
        .collect();
    for key in &keys {
        api.put(key, Ok(tls(key, "1", key)));
    }
    let metadata: Vec<_> = keys.iter().map(|k| meta(k, "1", false)).collect();
    let names: BTreeSet<String> = keys.iter().cloned().collect();
    let mut cache = CertificateSecrets::default();
    let (reads, _) = cache.refresh(&names, &metadata, &api, Instant::now()).await;
    assert_eq!(cache.len(), MAX_CERTIFICATE_SECRETS);
    assert_eq!(reads.read.len(), MAX_CERTIFICATE_SECRETS);
    let last = keys.last().expect("keys");
    assert!(!api.asked().contains(last));
    assert!(
        reads.unreadable[last].contains("label it"),
        "{}",
        reads.unreadable[last]
    );
}
