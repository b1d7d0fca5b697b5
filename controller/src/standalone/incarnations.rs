//! Incarnations of credentials and plugins in standalone mode, so that revoked tokens stay
//! revoked.
//!
//! A token names its credential (by id) and carries an epoch of the credential's verifier,
//! consumer and incarnation; a plugin-bound token carries a binding of the plugin's id and
//! incarnation. In the operator the incarnations come from the API server (a Secret's `uid` and
//! `resourceVersion`, a plugin's `uid`), which never repeat. Manifests have neither, and their
//! ids are derived from names, so without more a secret rotated A → B → A, or a plugin deleted and
//! written again under the same name, would accept the tokens issued before.
//!
//! This keeps, in the state directory, a counter per credential and plugin (by `namespace/name`):
//! it goes up when a credential's verifier (unless its tokens survive rotation) or consumer
//! changes, or it switches between the two modes, and when an object comes back
//! after it was gone from the manifests. An object that exists but is left out of the snapshot
//! (its secret being hashed, or invalid) keeps its counter. The counters are prefixed by a random
//! id drawn when the file is first written; a lost or damaged file draws a new one, which revokes
//! every token issued before (never revives one).
//!
//! Format: JSON `{"version": 1, "id": "<hex>", "records": {"credential:ns/name": {"fingerprint":
//! "<hex>", "count": 3, "present": true}, ...}}`. No secret and no verifier is stored: the
//! fingerprint is the first 8 bytes of SHA-256 of the verifier and the consumer id.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use tollgate_core::secret::ROTATION_SAFE_EPOCH;
use tollgate_core::snapshot::{Snapshot, hex};

const VERSION: u32 = 1;

/// The first 8 bytes of SHA-256 of what a credential's incarnation depends on; `None` for a
/// plugin (its incarnation changes only when it comes back). Written as 16 hex digits, or "".
type Fingerprint = Option<[u8; 8]>;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Record {
    #[serde(with = "fingerprint_text")]
    fingerprint: Fingerprint,
    count: u64,
    present: bool,
    /// The [`Incarnations::stamp`] that last saw the object in the snapshot (not written).
    #[serde(skip)]
    stamped: u64,
}

/// The counters, loaded from and written to the state directory. Records are keyed by
/// `credential:namespace/name` and `plugin:namespace/name`; the file lists them sorted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incarnations {
    id: String,
    records: HashMap<String, Record>,
    /// Counts calls of [`Self::stamp`].
    round: u64,
    dirty: bool,
}

/// The file as written.
#[derive(Serialize)]
struct FileOut<'a> {
    version: u32,
    id: &'a str,
    records: SortedRecords<'a>,
}

/// The records, written in key order so that equal counters give equal bytes.
struct SortedRecords<'a>(&'a HashMap<String, Record>);

impl Serialize for SortedRecords<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut sorted: Vec<(&String, &Record)> = self.0.iter().collect();
        sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
        serializer.collect_map(sorted)
    }
}

/// The file as read.
#[derive(Deserialize)]
struct FileIn {
    version: u32,
    id: String,
    records: HashMap<String, Record>,
}

mod fingerprint_text {
    use super::{Deserialize, Deserializer, Fingerprint, Serializer, hex};

    pub(super) fn serialize<S: Serializer>(print: &Fingerprint, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&print.map(|p| hex(&p)).unwrap_or_default())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Fingerprint, D::Error> {
        let text = String::deserialize(d)?;
        if text.is_empty() {
            return Ok(None);
        }
        let digit = |c: u8| {
            char::from(c)
                .to_digit(16)
                .and_then(|d| u8::try_from(d).ok())
        };
        let mut print = [0u8; 8];
        let bytes = text.as_bytes();
        if bytes.len() != 16 {
            return Err(serde::de::Error::custom("a fingerprint is 16 hex digits"));
        }
        for (i, out) in print.iter_mut().enumerate() {
            match (digit(bytes[2 * i]), digit(bytes[2 * i + 1])) {
                (Some(high), Some(low)) => *out = high << 4 | low,
                _ => return Err(serde::de::Error::custom("a fingerprint is 16 hex digits")),
            }
        }
        Ok(Some(print))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the incarnations file is damaged: {0}")]
    Format(String),
    #[error("no randomness for a new incarnations id: {0}")]
    Random(getrandom::Error),
}

fn fingerprint(fields: &[&str]) -> [u8; 8] {
    let mut h = Sha256::new();
    for field in fields {
        h.update(u64::try_from(field.len()).unwrap_or(u64::MAX).to_be_bytes());
        h.update(field.as_bytes());
    }
    let digest: [u8; 32] = h.finalize().into();
    let mut print = [0u8; 8];
    print.copy_from_slice(&digest[..8]);
    print
}

impl Incarnations {
    /// Fresh counters under a new random id (written on the first [`Self::take_changed`]).
    pub fn new() -> Result<Self, Error> {
        let mut id = [0u8; 8];
        getrandom::getrandom(&mut id).map_err(Error::Random)?;
        Ok(Self {
            id: hex(&id),
            records: HashMap::new(),
            round: 0,
            dirty: true,
        })
    }

    /// Counters a previous run wrote.
    pub fn load(bytes: &[u8]) -> Result<Self, Error> {
        let loaded: FileIn =
            serde_json::from_slice(bytes).map_err(|e| Error::Format(e.to_string()))?;
        if loaded.version != VERSION || loaded.id.len() != 16 {
            return Err(Error::Format(format!(
                "version {} with id {:?}",
                loaded.version, loaded.id
            )));
        }
        Ok(Self {
            id: loaded.id,
            records: loaded.records,
            round: 0,
            dirty: false,
        })
    }

    /// Sets the incarnation of every credential and plugin of `snapshot`. `credential_exists`
    /// and `plugin_exists` say whether an OAuth2Credential or AuthPlugin (by `namespace/name`)
    /// is in the manifests, in the snapshot or not: only those gone from the manifests count as
    /// deleted. They are asked only about objects that had a record and are not in `snapshot`.
    pub fn stamp(
        &mut self,
        snapshot: &mut Snapshot,
        credential_exists: impl Fn(&str) -> bool,
        plugin_exists: impl Fn(&str) -> bool,
    ) {
        self.round += 1;
        let mut key = String::with_capacity(64);
        for c in &mut snapshot.credentials {
            // Tokens that survive rotation keep their incarnation when the secret changes.
            let verifier = if c.tokens_survive_rotation {
                ROTATION_SAFE_EPOCH
            } else {
                c.secret_verifier.as_deref().unwrap_or("")
            };
            let print = fingerprint(&[verifier, &c.consumer_id]);
            key.clear();
            key.push_str("credential:");
            key.push_str(&c.object);
            c.incarnation = self.incarnation(&key, Some(print));
        }
        for p in &mut snapshot.plugins {
            key.clear();
            key.push_str("plugin:");
            key.push_str(&p.id);
            p.incarnation = self.incarnation(&key, None);
        }
        let round = self.round;
        for (key, record) in &mut self.records {
            if !record.present || record.stamped == round {
                continue;
            }
            let exists = match key.split_once(':') {
                Some(("credential", object)) => credential_exists(object),
                Some(("plugin", id)) => plugin_exists(id),
                _ => false,
            };
            if !exists {
                record.present = false;
                self.dirty = true;
            }
        }
    }

    /// The incarnation of the object recorded under `key`, now with fingerprint `print`.
    fn incarnation(&mut self, key: &str, print: Fingerprint) -> String {
        let round = self.round;
        let count = match self.records.get_mut(key) {
            Some(record) => {
                record.stamped = round;
                if record.count == 0 || !record.present || record.fingerprint != print {
                    record.count = record.count.saturating_add(1);
                    record.present = true;
                    record.fingerprint = print;
                    self.dirty = true;
                }
                record.count
            }
            None => {
                self.records.insert(
                    key.to_owned(),
                    Record {
                        fingerprint: print,
                        count: 1,
                        present: true,
                        stamped: round,
                    },
                );
                self.dirty = true;
                1
            }
        };
        let mut incarnation = String::with_capacity(self.id.len() + 8);
        let _ = write!(incarnation, "{}.{count}", self.id);
        incarnation
    }

    /// The bytes to write when something changed since the last call.
    pub fn take_changed(&mut self) -> Option<Vec<u8>> {
        if !self.dirty {
            return None;
        }
        self.dirty = false;
        serde_json::to_vec(&FileOut {
            version: VERSION,
            id: &self.id,
            records: SortedRecords(&self.records),
        })
        .ok()
    }

    /// The last [`Self::take_changed`] could not be written: offer it again next time.
    pub fn unwritten(&mut self) {
        self.dirty = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_core::snapshot::{
        AcceptNamespaces, ClientType, Credential, OpenIdConnectConfig, Plugin, PluginConfig,
    };

    fn names(list: &[&str]) -> impl Fn(&str) -> bool + use<> {
        let names: Vec<String> = list.iter().map(|s| (*s).to_owned()).collect();
        move |name| names.iter().any(|n| n == name)
    }

    /// The incarnation of the fixture's first credential and plugin after a stamp.
    fn stamp(
        inc: &mut Incarnations,
        verifier: &str,
        consumer: &str,
        present: bool,
    ) -> (String, String) {
        stamp_mode(inc, verifier, consumer, present, false)
    }

    /// [`stamp`], with the credential's tokens surviving rotation or not.
    fn stamp_mode(
        inc: &mut Incarnations,
        verifier: &str,
        consumer: &str,
        present: bool,
        survive: bool,
    ) -> (String, String) {
        let mut snapshot = Snapshot {
            certificates: Vec::new(),
            credentials: vec![Credential {
                scopes: None,
                id: "00000000-0000-5000-8000-000000000001".into(),
                object: "team-a/app".into(),
                consumer_id: consumer.into(),
                name: "app".into(),
                client_id: "app".into(),
                client_type: ClientType::Confidential,
                secret_verifier: Some(verifier.into()),
                redirect_uris: Vec::new(),
                previous_secrets: Vec::new(),
                tokens_survive_rotation: survive,
                incarnation: String::new(),
            }],
            plugins: vec![Plugin {
                acl: None,
                id: "team-a/auth".into(),
                incarnation: String::new(),
                accept_namespaces: AcceptNamespaces::Same,
                config: PluginConfig::OpenIdConnect(OpenIdConnectConfig {
                    bearer_token_param_type: Vec::new(),
                    hide_credentials: false,
                    anonymous: None,
                    realm: None,
                    ..OpenIdConnectConfig::default()
                }),
            }],
            ..Snapshot::default()
        };
        let (object, plugin) = (
            snapshot.credentials[0].object.clone(),
            snapshot.plugins[0].id.clone(),
        );
        if !present {
            inc.stamp(&mut Snapshot::default(), names(&[]), names(&[]));
            return (String::new(), String::new());
        }
        inc.stamp(&mut snapshot, names(&[&object]), names(&[&plugin]));
        (
            snapshot.credentials[0].incarnation.clone(),
            snapshot.plugins[0].incarnation.clone(),
        )
    }

    #[test]
    fn a_secret_set_back_to_an_old_value_is_a_new_incarnation() {
        let mut inc = Incarnations::new().expect("random");
        let a = stamp(&mut inc, "$v$a", "c1", true).0;
        assert_eq!(stamp(&mut inc, "$v$a", "c1", true).0, a, "unchanged: same");
        let b = stamp(&mut inc, "$v$b", "c1", true).0;
        let a_again = stamp(&mut inc, "$v$a", "c1", true).0;
        assert!(a != b && a_again != a && a_again != b, "{a} {b} {a_again}");
        // Moved to another consumer and back.
        let moved = stamp(&mut inc, "$v$a", "c2", true).0;
        assert!(moved != a_again && stamp(&mut inc, "$v$a", "c1", true).0 != a_again);
    }

    #[test]
    fn tokens_that_survive_rotation_keep_the_incarnation_across_a_new_secret() {
        let mut inc = Incarnations::new().expect("random");
        let a = stamp_mode(&mut inc, "$v$a", "c1", true, true).0;
        assert_eq!(stamp_mode(&mut inc, "$v$b", "c1", true, true).0, a);
        assert_eq!(stamp_mode(&mut inc, "$v$a", "c1", true, true).0, a);
        // Another consumer still revokes, and so does switching the mode off.
        let moved = stamp_mode(&mut inc, "$v$a", "c2", true, true).0;
        assert_ne!(moved, a);
        assert_ne!(stamp_mode(&mut inc, "$v$a", "c2", true, false).0, moved);
    }

    #[test]
    fn an_object_deleted_and_written_again_is_a_new_incarnation_and_counters_survive_a_restart() {
        let mut inc = Incarnations::new().expect("random");
        let (credential, plugin) = stamp(&mut inc, "$v$a", "c1", true);
        let bytes = inc.take_changed().expect("changed");
        assert!(inc.take_changed().is_none(), "nothing new");
        let mut restarted = Incarnations::load(&bytes).expect("load");
        assert_eq!(
            stamp(&mut restarted, "$v$a", "c1", true),
            (credential.clone(), plugin.clone()),
            "a restart changes nothing"
        );
        stamp(&mut restarted, "$v$a", "c1", false);
        let (c2, p2) = stamp(&mut restarted, "$v$a", "c1", true);
        assert!(c2 != credential && p2 != plugin);
    }

    #[test]
    fn an_object_left_out_of_the_snapshot_but_still_in_the_manifests_keeps_its_counter() {
        let mut inc = Incarnations::new().expect("random");
        let (credential, plugin) = stamp(&mut inc, "$v$a", "c1", true);
        // Left out (its secret being hashed, say), but its manifest is still there.
        inc.stamp(
            &mut Snapshot::default(),
            names(&["team-a/app"]),
            names(&["team-a/auth"]),
        );
        assert_eq!(stamp(&mut inc, "$v$a", "c1", true), (credential, plugin));
    }

    #[test]
    fn the_file_lists_records_in_order_and_a_damaged_fingerprint_is_refused() {
        let mut inc = Incarnations::new().expect("random");
        stamp(&mut inc, "$v$a", "c1", true);
        let text = String::from_utf8(inc.take_changed().expect("bytes")).expect("utf8");
        let (credential, plugin) = (
            text.find("credential:team-a/app").expect("credential"),
            text.find("plugin:team-a/auth").expect("plugin"),
        );
        assert!(credential < plugin, "{text}");
        assert!(
            text.contains(r#""fingerprint":"""#),
            "a plugin's is empty: {text}"
        );
        let loaded = Incarnations::load(text.as_bytes()).expect("load");
        let counters = |i: &Incarnations| {
            let mut counters: Vec<_> = i
                .records
                .iter()
                .map(|(k, r)| (k.clone(), r.fingerprint, r.count, r.present))
                .collect();
            counters.sort();
            counters
        };
        assert_eq!(counters(&loaded), counters(&inc));
        let damaged = text.replacen(r#""fingerprint":"""#, r#""fingerprint":"zz""#, 1);
        assert!(matches!(
            Incarnations::load(damaged.as_bytes()),
            Err(Error::Format(_))
        ));
    }

    #[test]
    fn a_lost_file_revokes_rather_than_revives() {
        let mut first = Incarnations::new().expect("random");
        let a = stamp(&mut first, "$v$a", "c1", true).0;
        let mut second = Incarnations::new().expect("random");
        assert_ne!(stamp(&mut second, "$v$a", "c1", true).0, a);
        assert!(Incarnations::load(b"{not json").is_err());
        let text = String::from_utf8(first.take_changed().expect("bytes")).expect("utf8");
        assert!(!text.contains("$v$a"), "no verifier in the file: {text}");
    }
}
