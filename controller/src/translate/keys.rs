//! Signing keys from a signing-keys Secret (`tollgate.dev/secret: signing-keys`): each `data` key
//! is a key id, each value at least 32 random bytes; the id that sorts last signs.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use k8s_openapi::api::core::v1::Secret;
use tollgate_core::snapshot::SigningKey;
use tollgate_core::token::{MIN_KEY_LEN, is_valid_key_id};

/// Why a signing-keys Secret cannot be used. Messages name key ids, never key material.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeysError {
    #[error("the signing-keys Secret has no keys")]
    Empty,
    #[error("signing key id {0:?} is not 1 to 64 characters of [A-Za-z0-9._-]")]
    InvalidId(String),
    #[error("signing key {id:?} has {len} bytes; at least {MIN_KEY_LEN} are required")]
    TooShort { id: String, len: usize },
}

/// Why the signing keys of a mode cannot be used: the one error (and, through
/// [`super::report::ProblemLog`], the one log line) of both modes. `secret` is `namespace/name`.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum SigningKeysError {
    #[error(
        "signing-keys Secret {secret} not found (it must carry the label tollgate.dev/secret: signing-keys)"
    )]
    NotFound { secret: String },
    #[error("signing-keys Secret {secret}: {source}")]
    Invalid {
        secret: String,
        #[source]
        source: KeysError,
    },
}

impl SigningKeysError {
    /// `namespace/name` of the Secret.
    pub fn secret(&self) -> &str {
        match self {
            Self::NotFound { secret } | Self::Invalid { secret, .. } => secret,
        }
    }
}

/// The signing keys of a signing-keys Secret (its decoded `data`, `stringData` applied): the one
/// loader of both modes.
pub fn from_secret(secret: &Secret) -> Result<SigningKeys, SigningKeysError> {
    SigningKeys::from_secret_data(&super::secrets::decoded_data(secret)).map_err(|source| {
        SigningKeysError::Invalid {
            secret: super::ObjectName::of(secret).path(),
            source,
        }
    })
}

/// Validated signing keys, ready for a snapshot. `Debug` never prints key material.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKeys {
    keys: Vec<SigningKey>,
    active: String,
}

impl fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
        f.debug_struct("SigningKeys")
            .field("ids", &ids)
            .field("active", &self.active)
            .finish()
    }
}

impl SigningKeys {
    /// From the decoded `data` of a signing-keys Secret (key id → key bytes).
    pub fn from_secret_data(data: &BTreeMap<String, Vec<u8>>) -> Result<Self, KeysError> {
        let mut keys = Vec::with_capacity(data.len());
        for (id, material) in data {
            if !is_valid_key_id(id) {
                return Err(KeysError::InvalidId(id.clone()));
            }
            if material.len() < MIN_KEY_LEN {
                return Err(KeysError::TooShort {
                    id: id.clone(),
                    len: material.len(),
                });
            }
            keys.push(SigningKey {
                id: id.clone(),
                secret_b64: STANDARD.encode(material),
            });
        }
        // BTreeMap iteration is sorted, so the last key is the newest by name.
        let active = keys.last().map(|k| k.id.clone()).ok_or(KeysError::Empty)?;
        Ok(Self { keys, active })
    }

    /// One key (standalone mode's generated key).
    pub fn single(id: &str, material: &[u8]) -> Result<Self, KeysError> {
        Self::from_secret_data(&BTreeMap::from([(id.to_owned(), material.to_vec())]))
    }

    /// Id of the key that signs new tokens.
    pub fn active(&self) -> &str {
        &self.active
    }

    /// Ids of every key, sorted.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.id.as_str())
    }

    pub(crate) fn to_snapshot(&self) -> (Vec<SigningKey>, String) {
        (self.keys.clone(), self.active.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(entries: &[(&str, usize)]) -> BTreeMap<String, Vec<u8>> {
        entries
            .iter()
            .map(|(id, len)| ((*id).to_owned(), vec![7u8; *len]))
            .collect()
    }

    #[test]
    fn the_key_id_that_sorts_last_signs() {
        let keys =
            SigningKeys::from_secret_data(&data(&[("k2026-11-27", 32), ("k2025-01-01", 48)]))
                .expect("valid");
        assert_eq!(keys.active(), "k2026-11-27");
        assert_eq!(
            keys.ids().collect::<Vec<_>>(),
            ["k2025-01-01", "k2026-11-27"]
        );
    }

    #[test]
    fn invalid_signing_key_secrets_are_refused() {
        let cases = [
            ("no keys", BTreeMap::new(), KeysError::Empty),
            (
                "bad id",
                data(&[("bad id", 32)]),
                KeysError::InvalidId("bad id".into()),
            ),
            (
                "short key",
                data(&[("k1", 31)]),
                KeysError::TooShort {
                    id: "k1".into(),
                    len: 31,
                },
            ),
        ];
        for (case, input, expected) in cases {
            assert_eq!(
                SigningKeys::from_secret_data(&input),
                Err(expected),
                "{case}"
            );
        }
    }

    #[test]
    fn debug_output_names_ids_but_not_material() {
        let keys = SigningKeys::single("k1", &[0xAB; 32]).expect("valid");
        let debug = format!("{keys:?}");
        assert!(debug.contains("k1"));
        assert!(!debug.contains(&STANDARD.encode([0xABu8; 32])));
    }
}
