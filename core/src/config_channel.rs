//! The config channel between the operator and the proxies' admin port (docs/CONTRACTS.md,
//! "Admin port"): the paths, the bearer token and every reply body. The request body of
//! `POST /config` is a [`crate::snapshot::Snapshot`]. The proxy writes these types and the
//! operator reads them, so the two sides cannot drift apart.
//!
//! | request | status | body |
//! | --- | --- | --- |
//! | `GET /config` | 200 | [`ConfigStatus`] |
//! | `POST /config` (bearer [`ConfigToken`], snapshot JSON) | 200 | [`Applied`] |
//! | | 400 | [`Rejected`]: the snapshot is invalid, nothing changed |
//! | | 401, 403, 413, ... | [`Message`] |

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The path of the config channel on the admin port.
pub const PATH: &str = "/config";

/// Header of a push carrying the pushing leader's epoch (the Lease's `leaseTransitions`, which
/// grows with every hand-over). A proxy refuses (409) a push whose epoch is lower than one it
/// already applied, so a leader that lost its Lease without knowing it (paused, partitioned)
/// cannot bring back an older configuration. Absent: epoch 0.
pub const LEADER_EPOCH_HEADER: &str = "x-tollgate-leader-epoch";

/// `200` reply of `GET /config`: the snapshot the proxy holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigStatus {
    /// Content hash of the snapshot held (lowercase SHA-256 hex); empty when none is held.
    #[serde(default)]
    pub hash: String,
    /// Unix seconds when it was applied; `null` when none is held.
    #[serde(rename = "updatedAt", default)]
    pub updated_at: Option<u64>,
    /// Plugins (`namespace/name`) whose issuer's keys lacked the `kid` of a token presented
    /// since this snapshot was applied: the controller fetches that issuer's keys again.
    #[serde(rename = "jwksWanted", default, skip_serializing_if = "Vec::is_empty")]
    pub jwks_wanted: Vec<String>,
}

/// `200` reply of `POST /config`: the snapshot was applied (or was already held).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// Content hash of the snapshot the proxy now holds.
    #[serde(default)]
    pub hash: String,
}

/// `400` reply of `POST /config`: every problem found; the proxy keeps what it held.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    #[serde(default)]
    pub errors: Vec<String>,
}

/// Any other refusal of the admin port (401, 403, 404, 405, 413, 500).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    #[serde(default)]
    pub message: String,
}

/// The bearer token shared by the operator and the proxies, which authenticates
/// `POST /config`. It never shows in `Debug` output, and every comparison takes constant time.
#[derive(Clone)]
pub struct ConfigToken(String);

impl ConfigToken {
    /// The token trimmed of surrounding whitespace (a file or Secret often ends with a newline);
    /// `None` when nothing is left.
    pub fn new(token: &str) -> Option<Self> {
        let token = token.trim();
        (!token.is_empty()).then(|| Self(token.to_owned()))
    }

    /// The `Authorization` header value that presents this token.
    pub fn authorization(&self) -> String {
        format!("Bearer {}", self.0)
    }

    /// Whether an `Authorization` header value is `Bearer <this token>` (scheme in any case,
    /// surrounding whitespace ignored). Compared in constant time over SHA-256 digests, so
    /// neither the content nor the length of the token leaks through timing.
    pub fn authorizes(&self, authorization: &[u8]) -> bool {
        let Some(scheme) = authorization.get(..7) else {
            return false;
        };
        if !scheme.eq_ignore_ascii_case(b"bearer ") {
            return false;
        }
        same_secret(authorization[7..].trim_ascii(), self.0.as_bytes())
    }
}

fn same_secret(a: &[u8], b: &[u8]) -> bool {
    bool::from(
        Sha256::digest(a)
            .as_slice()
            .ct_eq(Sha256::digest(b).as_slice()),
    )
}

impl PartialEq for ConfigToken {
    fn eq(&self, other: &Self) -> bool {
        same_secret(self.0.as_bytes(), other.0.as_bytes())
    }
}

impl Eq for ConfigToken {}

impl fmt::Debug for ConfigToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConfigToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_trimmed_and_empty_ones_are_none() {
        let token = ConfigToken::new(" s3cret\n").expect("token");
        assert_eq!(token.authorization(), "Bearer s3cret");
        assert_eq!(Some(token), ConfigToken::new("s3cret"));
        assert!(ConfigToken::new("  \n").is_none());
    }

    #[test]
    fn debug_output_never_shows_the_token() {
        let token = ConfigToken::new("s3cret").expect("token");
        let debug = format!("{token:?} {:?}", Some(&token));
        assert!(!debug.contains("s3cret"), "{debug}");
    }

    #[test]
    fn only_the_bearer_header_of_the_same_token_authorizes() {
        let token = ConfigToken::new("s3cret").expect("token");
        let cases = [
            ("Bearer s3cret", true),
            ("bearer s3cret", true),
            ("BEARER  s3cret ", true),
            ("Bearer s3cre", false),
            ("Bearer s3crets", false),
            ("Basic s3cret", false),
            ("Bearer", false),
            ("", false),
        ];
        for (header, expected) in cases {
            assert_eq!(token.authorizes(header.as_bytes()), expected, "{header:?}");
        }
        assert!(token.authorizes(token.authorization().as_bytes()));
    }

    #[test]
    fn replies_have_the_documented_shape() {
        let status = ConfigStatus {
            hash: "ab".into(),
            updated_at: Some(7),
            jwks_wanted: Vec::new(),
        };
        assert_eq!(
            serde_json::to_string(&status).expect("json"),
            r#"{"hash":"ab","updatedAt":7}"#
        );
        assert_eq!(
            serde_json::from_str::<ConfigStatus>(r#"{"hash":"","updatedAt":null}"#).expect("json"),
            ConfigStatus::default()
        );
        assert_eq!(
            serde_json::to_string(&Applied { hash: "ab".into() }).expect("json"),
            r#"{"hash":"ab"}"#
        );
        assert_eq!(
            serde_json::to_string(&Rejected {
                errors: vec!["x".into()]
            })
            .expect("json"),
            r#"{"errors":["x"]}"#
        );
        assert_eq!(
            serde_json::to_string(&Message {
                message: "m".into()
            })
            .expect("json"),
            r#"{"message":"m"}"#
        );
    }
}
