//! Revocations across proxy replicas (RFC 7009, `…/oauth2/revoke`).
//!
//! A proxy applies a revocation at once and keeps it in its own store. The leader learns it by
//! long-polling every replica's admin port (`GET /revocations?after=<seq>`, with the config token
//! over the config channel's TLS): a held poll returns as soon as a revocation is made there.
//! It merges what it learns into one [`RevocationHub`], and pushes the merged set to every
//! replica (`POST /revocations`, merged by the proxy without compiling a snapshot). A replica
//! seen with a new instance id (it restarted) gets the whole set at once.
//!
//! The merged set is kept in one Secret in the controller's namespace (`--revocations-secret`,
//! key [`DATA_KEY`], `tollgate_core::revocation::encode`: 25 bytes an entry, at most
//! `tollgate_core::revocation::CAPACITY` entries, so under 600 KB), written after every change
//! and read again whenever this replica takes the lead. Entries leave with the tokens they
//! name. A Secret rather than a status: the set is no object's state, is written by one leader,
//! and its size stays far under the API's 1 MiB limit.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{Patch, PatchParams};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tollgate_core::config_channel::ConfigToken;
use tollgate_core::revocation::{self, Entry, RevocationPush, RevocationStore};

use super::plan::NamespacedName;
use super::push_client::PushClient;
use super::pusher::Backoff;

/// The data key of the revocations Secret.
pub const DATA_KEY: &str = "revocations";
/// How long a proxy holds a revocation poll with nothing to say.
pub const POLL_WAIT: Duration = Duration::from_secs(20);

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Where the merged set is kept.
#[derive(Clone)]
pub struct SecretAt {
    pub api: Api<Secret>,
    pub at: NamespacedName,
    pub field_manager: String,
}

/// The leader's merged revocation set.
pub struct RevocationHub {
    store: Mutex<RevocationStore>,
    /// Bumped whenever the set gains an entry.
    version: watch::Sender<u64>,
    secret: Option<SecretAt>,
    /// Whether the Secret was read since this replica took the lead.
    loaded: tokio::sync::Mutex<bool>,
    /// The bytes last read from or written to the Secret.
    written: Mutex<Option<Vec<u8>>>,
}

impl RevocationHub {
    /// A hub kept in `secret` (`None`: in memory only, for tests).
    pub fn new(secret: Option<SecretAt>) -> Arc<Self> {
        Arc::new(Self {
            store: Mutex::new(RevocationStore::default()),
            version: watch::channel(0).0,
            secret,
            loaded: tokio::sync::Mutex::new(false),
            written: Mutex::new(None),
        })
    }

    fn store(&self) -> std::sync::MutexGuard<'_, RevocationStore> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds `entries`; wakes every replica's pusher when something was new.
    pub fn merge(&self, entries: Vec<Entry>) -> usize {
        let added = match self.store().merge(entries, unix_now()) {
            Ok(added) => added,
            Err(full) => {
                tracing::error!(error = %full, "the merged revocation set is full; some revocations reach only the replica they were made on");
                1
            }
        };
        if added > 0 {
            self.version.send_modify(|v| *v += 1);
        }
        added
    }

    /// The whole live set as a `POST /revocations` body.
    pub fn push_body(&self) -> Bytes {
        let entries = {
            let mut store = self.store();
            store.purge(unix_now());
            store.live(unix_now())
        };
        Bytes::from(serde_json::to_vec(&RevocationPush { entries }).unwrap_or_default())
    }

    /// Reads the Secret once after this replica took the lead (a failed read is tried again by
    /// the next caller).
    pub async fn load_if_needed(&self) {
        let mut loaded = self.loaded.lock().await;
        if *loaded {
            return;
        }
        let Some(secret) = &self.secret else {
            *loaded = true;
            return;
        };
        match secret.api.get_opt(&secret.at.name).await {
            Ok(found) => {
                *loaded = true;
                let bytes = found
                    .and_then(|s| s.data)
                    .and_then(|mut d| d.remove(DATA_KEY))
                    .map(|b| b.0);
                let Some(bytes) = bytes else { return };
                match revocation::decode(&bytes) {
                    Ok(entries) => {
                        let count = entries.len();
                        self.merge(entries);
                        *self.written.lock().unwrap_or_else(|e| e.into_inner()) = Some(bytes);
                        tracing::info!(revocations = count, secret = %secret.at, "read the kept revocations");
                    }
                    Err(err) => {
                        tracing::warn!(secret = %secret.at, error = %err, "ignoring damaged kept revocations; the next write replaces them");
                    }
                }
            }
            Err(err) => {
                tracing::warn!(secret = %secret.at, error = %err, "cannot read the kept revocations yet; trying again");
            }
        }
    }

    /// This replica lost the lead: read the Secret again when it takes it back.
    pub fn unload(&self) {
        if let Ok(mut loaded) = self.loaded.try_lock() {
            *loaded = false;
        }
    }

    /// Writes the Secret after every change (until `stop`), retrying failed writes.
    pub async fn keep(self: Arc<Self>, stop: impl std::future::Future<Output = ()>) {
        let Some(secret) = self.secret.clone() else {
            return;
        };
        tokio::pin!(stop);
        let mut changes = self.version.subscribe();
        let params = PatchParams::apply(&secret.field_manager).force();
        let mut failures = 0u32;
        loop {
            let bytes = {
                let mut store = self.store();
                store.purge(unix_now());
                revocation::encode(&store.live(unix_now()))
            };
            let same = self
                .written
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_ref()
                == Some(&bytes);
            let mut retry = None;
            if !same && *self.loaded.lock().await {
                let body = Secret {
                    metadata: kube::api::ObjectMeta {
                        name: Some(secret.at.name.clone()),
                        namespace: Some(secret.at.namespace.clone()),
                        labels: Some(BTreeMap::from([(
                            "app.kubernetes.io/managed-by".to_owned(),
                            "tollgate".to_owned(),
                        )])),
                        ..Default::default()
                    },
                    data: Some(BTreeMap::from([(
                        DATA_KEY.to_owned(),
                        ByteString(bytes.clone()),
                    )])),
                    ..Default::default()
                };
                match secret
                    .api
                    .patch(&secret.at.name, &params, &Patch::Apply(&body))
                    .await
                {
                    Ok(_) => {
                        failures = 0;
                        *self.written.lock().unwrap_or_else(|e| e.into_inner()) = Some(bytes);
                    }
                    Err(err) => {
                        failures = failures.saturating_add(1);
                        tracing::warn!(secret = %secret.at, error = %err, "cannot keep the revocations; retrying");
                        retry = Some(
                            Backoff {
                                base: Duration::from_millis(500),
                                max: Duration::from_secs(30),
                            }
                            .delay(failures, 0),
                        );
                    }
                }
            }
            tokio::select! {
                () = &mut stop => return,
                changed = changes.changed() => if changed.is_err() { return },
                () = tokio::time::sleep(retry.unwrap_or(Duration::from_secs(3600))) => {}
            }
        }
    }
}

/// Keeps one replica in the revocation exchange: long-polls its revocations into the hub, and
/// pushes the hub's set to it whenever the set grew or the replica restarted. Runs until
/// aborted (the replica left, or this replica lost the lead).
pub async fn exchange(
    addr: String,
    client: PushClient,
    mut token: watch::Receiver<Option<ConfigToken>>,
    hub: Arc<RevocationHub>,
    backoff: Backoff,
) {
    let poller = client.with_timeout(POLL_WAIT + Duration::from_secs(10));
    let restarted = Arc::new(Notify::new());
    let poll = poll(&addr, &poller, token.clone(), &hub, &restarted, backoff);
    let push = async {
        let mut versions = hub.version.subscribe();
        let mut pushed: Option<u64> = None;
        let mut failures = 0u32;
        loop {
            let current = *versions.borrow_and_update();
            let held = token.borrow_and_update().clone();
            let mut wait = None;
            if let Some(held) = held
                && pushed != Some(current)
            {
                let started = Instant::now();
                match client.push_revocations(&addr, &held, hub.push_body()).await {
                    Ok(()) => {
                        tracing::debug!(proxy = %addr, took_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX), "revocations pushed");
                        pushed = Some(current);
                        failures = 0;
                    }
                    Err(err) => {
                        failures = failures.saturating_add(1);
                        tracing::warn!(proxy = %addr, error = %err, "pushing revocations failed");
                        wait = Some(backoff.delay(failures, 0));
                    }
                }
            }
            tokio::select! {
                changed = versions.changed() => if changed.is_err() { return },
                changed = token.changed() => if changed.is_err() { return },
                () = restarted.notified() => pushed = None,
                () = tokio::time::sleep(wait.unwrap_or(Duration::from_secs(3600))) => {}
            }
        }
    };
    tokio::join!(poll, push);
}

async fn poll(
    addr: &str,
    client: &PushClient,
    mut token: watch::Receiver<Option<ConfigToken>>,
    hub: &RevocationHub,
    restarted: &Notify,
    backoff: Backoff,
) {
    let mut instance: Option<String> = None;
    let mut after = 0;
    let mut failures = 0u32;
    loop {
        let Some(held) = token.borrow_and_update().clone() else {
            if token.changed().await.is_err() {
                return;
            }
            continue;
        };
        hub.load_if_needed().await;
        match client.revocations_page(addr, &held, after, POLL_WAIT).await {
            Ok(page) => {
                failures = 0;
                if instance.as_deref() != Some(page.instance.as_str()) {
                    // First contact, or the replica restarted: its numbering starts again, and
                    // it needs the whole set.
                    if instance.is_some() {
                        tracing::info!(proxy = %addr, "proxy replica restarted; sending it every revocation");
                    }
                    instance = Some(page.instance);
                    after = 0;
                    restarted.notify_one();
                    continue;
                }
                after = page.seq;
                if !page.entries.is_empty() {
                    let added = hub.merge(page.entries);
                    tracing::info!(proxy = %addr, added, "revocations learnt from a proxy replica");
                }
            }
            Err(err) => {
                failures = failures.saturating_add(1);
                let delay = backoff.delay(failures, 0);
                tracing::debug!(proxy = %addr, error = %err, "revocation poll failed");
                tokio::time::sleep(delay).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_core::revocation::RevokedId;

    #[tokio::test]
    async fn only_new_entries_wake_the_pushers_and_the_push_carries_the_whole_live_set() {
        let hub = RevocationHub::new(None);
        let mut versions = hub.version.subscribe();
        let entry = |n: u8, exp: u64| Entry {
            id: RevokedId::token([n; 16]),
            exp,
        };
        assert_eq!(hub.merge(vec![entry(1, 0), entry(2, u64::MAX)]), 2);
        assert!(versions.has_changed().expect("open"));
        versions.borrow_and_update();
        // Already known, or already expired: nothing to push.
        assert_eq!(hub.merge(vec![entry(1, 0), entry(3, 1)]), 0);
        assert!(!versions.has_changed().expect("open"));
        let pushed: RevocationPush = serde_json::from_slice(&hub.push_body()).expect("json");
        assert_eq!(pushed.entries, [entry(1, 0), entry(2, u64::MAX)]);
        // Without a Secret, loading is immediate and keeping does nothing.
        hub.load_if_needed().await;
        assert!(*hub.loaded.lock().await);
    }
}
