//! Where the operator keeps client-secret verifiers between runs: [`SHARDS`] Secrets
//! `<name>-0` … `<name>-15` in the controller's namespace (beside the config-token and
//! signing-keys Secrets, which already grant more than a verifier would), labelled
//! `tollgate.dev/secret: verifier-cache` so the Secret cache of the controller sees them. Every
//! entry is sealed to its client Secret's uid and value (`translate::verifier_cache`).
//!
//! Read once, before the first translation; written by the leader when the set of verifiers
//! changed and nothing is being hashed (or at most every [`WRITE_EVERY_WHILE_HASHING`] during a
//! long flood), one server-side apply per shard whose bytes changed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};

use super::plan::NamespacedName;
use crate::resources::SECRET_LABEL;
use crate::translate::SecretHasher;
use crate::translate::verifier_cache::{self, Entries};

/// Secrets the verifiers are spread over (about 140 bytes per credential: 16 shards hold
/// roughly 100,000 credentials under the API's 1 MiB object limit).
pub const SHARDS: usize = 16;
/// The value of the `tollgate.dev/secret` label on the cache Secrets.
pub const LABEL_VALUE: &str = "verifier-cache";
/// The data key holding a shard.
pub const DATA_KEY: &str = "verifiers";
/// During a long run of hashing, the cache is still written this often.
pub const WRITE_EVERY_WHILE_HASHING: Duration = Duration::from_secs(30);

pub struct VerifierStore {
    /// Server-side apply's field manager (one per install).
    field_manager: String,
    api: Api<Secret>,
    at: NamespacedName,
    /// Bytes of each shard as last read or written.
    written: Vec<Option<Vec<u8>>>,
    loaded: bool,
    last_write: Option<Instant>,
}

impl std::fmt::Debug for VerifierStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifierStore")
            .field("at", &self.at)
            .finish_non_exhaustive()
    }
}

impl VerifierStore {
    /// Shards named `<at.name>-<i>` in `at.namespace`.
    pub fn new(client: Client, at: NamespacedName, field_manager: String) -> Self {
        Self {
            api: Api::namespaced(client, &at.namespace),
            at,
            field_manager,
            written: vec![None; SHARDS],
            loaded: false,
            last_write: None,
        }
    }

    fn shard_name(&self, shard: usize) -> String {
        format!("{}-{shard}", self.at.name)
    }

    /// Loads the shards found among the cached Secrets into `hasher`, once.
    pub fn load(&mut self, secrets: &[Arc<Secret>], hasher: &mut SecretHasher) {
        if self.loaded {
            return;
        }
        self.loaded = true;
        let mut count = 0;
        for shard in 0..SHARDS {
            let name = self.shard_name(shard);
            let Some(secret) = secrets.iter().find(|s| {
                s.metadata.namespace.as_deref() == Some(self.at.namespace.as_str())
                    && s.metadata.name.as_deref() == Some(name.as_str())
            }) else {
                continue;
            };
            let Some(bytes) = secret.data.as_ref().and_then(|d| d.get(DATA_KEY)) else {
                continue;
            };
            match hasher.load_cache(&bytes.0) {
                Ok(n) => {
                    count += n;
                    self.written[shard] = Some(bytes.0.clone());
                }
                Err(err) => {
                    tracing::warn!(secret = %name, error = %err, "ignoring a damaged verifier cache shard; its client secrets are hashed again");
                }
            }
        }
        tracing::info!(verifiers = count, secret = %self.at, "read the kept verifiers");
    }

    /// Whether a write is due: the verifiers changed and nothing is being hashed, or hashing has
    /// gone on for a while since the last write.
    pub fn due(&self, pending: usize) -> bool {
        pending == 0
            || self
                .last_write
                .is_none_or(|at| at.elapsed() >= WRITE_EVERY_WHILE_HASHING)
    }

    /// Writes the shards whose content changed; how many were written.
    pub async fn write(&mut self, entries: &Entries) -> Result<usize, kube::Error> {
        self.last_write = Some(Instant::now());
        let shards = verifier_cache::encode_shards(entries, SHARDS);
        let params = PatchParams::apply(&self.field_manager).force();
        let mut written = 0;
        for (shard, bytes) in shards.into_iter().enumerate() {
            if self.written[shard].as_ref() == Some(&bytes) {
                continue;
            }
            let name = self.shard_name(shard);
            let body = Secret {
                metadata: kube::api::ObjectMeta {
                    name: Some(name.clone()),
                    namespace: Some(self.at.namespace.clone()),
                    labels: Some(BTreeMap::from([(
                        SECRET_LABEL.to_owned(),
                        LABEL_VALUE.to_owned(),
                    )])),
                    ..Default::default()
                },
                type_: Some("Opaque".to_owned()),
                data: Some(BTreeMap::from([(
                    DATA_KEY.to_owned(),
                    ByteString(bytes.clone()),
                )])),
                ..Default::default()
            };
            let mut body = serde_json::to_value(&body).map_err(kube::Error::SerdeError)?;
            if let Some(object) = body.as_object_mut() {
                object.insert("apiVersion".into(), "v1".into());
                object.insert("kind".into(), "Secret".into());
            }
            self.api.patch(&name, &params, &Patch::Apply(&body)).await?;
            self.written[shard] = Some(bytes);
            written += 1;
        }
        Ok(written)
    }
}
