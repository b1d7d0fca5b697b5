//! Authorization codes without a database, and PKCE (RFC 7636).
//!
//! A code is its own record: [`CodeClaims`] sealed with the snapshot's signing keys
//! ([`crate::token::KeyRing::seal_code`], an AEAD key of its own, so a code never opens as an
//! access token nor a token as a code). It names the plugin that issued it, the client and its
//! secret epoch, the user, the granted scope, a hash of the redirect URI, the PKCE challenge, its
//! expiry and a random id. Any replica holding the keys redeems it; nobody else can read or forge
//! one.
//!
//! Single use is the one piece of state: the proxy records the id of every code it redeems in
//! the revocation store ([`crate::revocation`], kind [`crate::revocation::Kind::Code`]) until
//! the code expires, and refuses an id already there.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{OAuthError, invalid_request, token_error};
use crate::snapshot::{ClientType, OAuth2Config, Pkce};
use crate::token::{KeyRing, MAX_SCOPE_LEN, TokenError};
use crate::wire::{Reader, Writer};

/// Longest code accepted at the token endpoint, in characters.
pub const MAX_CODE_LEN: usize = 2048;
/// Shortest and longest PKCE code verifier and challenge (RFC 7636 §4.1, §4.2).
pub const MIN_PKCE_LEN: usize = 43;
pub const MAX_PKCE_LEN: usize = 128;

/// How a PKCE challenge was derived from its verifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChallengeMethod {
    /// The challenge is the verifier.
    Plain,
    /// The challenge is BASE64URL(SHA-256(verifier)).
    S256,
}

impl ChallengeMethod {
    fn tag(self) -> u8 {
        match self {
            ChallengeMethod::Plain => 1,
            ChallengeMethod::S256 => 2,
        }
    }
}

/// The PKCE challenge an authorization request carried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    pub method: ChallengeMethod,
    /// 43 to 128 characters of RFC 7636's unreserved alphabet.
    pub value: String,
}

/// What a code carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeClaims {
    /// Random; what single use is recorded under.
    pub id: [u8; 16],
    /// [`crate::token::plugin_binding`] of the issuing plugin: a code is redeemed only there.
    pub plugin: [u8; 8],
    /// UUID bytes of the client's credential.
    pub credential_id: [u8; 16],
    /// The credential's secret epoch when the code was issued: a rotated secret voids it.
    pub epoch: u64,
    /// Unix seconds.
    pub issued_at: u64,
    /// Unix seconds.
    pub expires_at: u64,
    /// [`redirect_uri_hash`] of the redirect URI the code was sent to.
    pub redirect_uri_hash: [u8; 16],
    /// Granted scopes, space-separated; empty when none.
    pub scope: String,
    pub authenticated_userid: String,
    pub challenge: Option<Challenge>,
}

impl CodeClaims {
    /// Whether the code has expired at `now` (unix seconds).
    pub fn is_expired(&self, now: u64) -> bool {
        now >= self.expires_at
    }

    fn encode(&self) -> Result<Vec<u8>, TokenError> {
        let mut w = Writer::with_capacity(100 + self.scope.len() + self.authenticated_userid.len());
        w.bytes(&self.id)
            .bytes(&self.plugin)
            .bytes(&self.credential_id)
            .u64(self.epoch)
            .u64(self.issued_at)
            .u64(self.expires_at)
            .bytes(&self.redirect_uri_hash);
        w.text16(&self.scope, MAX_SCOPE_LEN)
            .map_err(|_| TokenError::ScopeTooLong)?;
        w.text8(&self.authenticated_userid)
            .map_err(|_| TokenError::UserIdTooLong)?;
        match &self.challenge {
            None => {
                w.u8(0);
            }
            Some(c) => {
                w.u8(c.method.tag())
                    .text8(&c.value)
                    .map_err(|_| TokenError::Malformed)?;
            }
        }
        Ok(w.into_inner())
    }

    fn decode(bytes: &[u8]) -> Result<Self, TokenError> {
        let mut r = Reader::new(bytes);
        let id = r.array()?;
        let plugin = r.array()?;
        let credential_id = r.array()?;
        let epoch = r.u64()?;
        let issued_at = r.u64()?;
        let expires_at = r.u64()?;
        let redirect_uri_hash = r.array()?;
        // Only the length prefix bounds the scope here.
        let scope = r.text16(usize::MAX)?;
        let authenticated_userid = r.text8()?;
        let challenge = match r.u8()? {
            0 => None,
            tag @ (1 | 2) => Some(Challenge {
                method: if tag == 1 {
                    ChallengeMethod::Plain
                } else {
                    ChallengeMethod::S256
                },
                value: r.text8()?,
            }),
            _ => return Err(TokenError::Malformed),
        };
        r.finish()?;
        Ok(CodeClaims {
            id,
            plugin,
            credential_id,
            epoch,
            issued_at,
            expires_at,
            redirect_uri_hash,
            scope,
            authenticated_userid,
            challenge,
        })
    }

    /// Seals the claims with the ring's active key. `nonce` must be fresh random bytes.
    pub fn seal(&self, ring: &KeyRing, nonce: [u8; 24]) -> Result<String, TokenError> {
        ring.seal_code(&self.encode()?, nonce)
    }

    /// Opens a code sealed by [`Self::seal`] with any key of the ring. Does not check expiry,
    /// binding or single use (see [`crate::oauth::token_endpoint::check_code`]).
    pub fn open(ring: &KeyRing, code: &str) -> Result<Self, TokenError> {
        Self::decode(&ring.open_code(code, MAX_CODE_LEN)?)
    }
}

/// 16 bytes naming a redirect URI (SHA-256 under a label, truncated): codes carry this, not the
/// URI, which keeps them short.
pub fn redirect_uri_hash(uri: &str) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update(b"tollgate redirect uri v1\0");
    h.update(uri.as_bytes());
    let digest: [u8; 32] = h.finalize().into();
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

/// Whether `value` is 43 to 128 characters of RFC 7636's alphabet (`A-Z a-z 0-9 - . _ ~`).
fn is_pkce_text(value: &str) -> bool {
    (MIN_PKCE_LEN..=MAX_PKCE_LEN).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Whether a client must present a PKCE challenge: public clients always (they have no secret
/// to protect their codes: RFC 9700 §2.1.1, OAuth 2.1), confidential ones under `pkce: strict`.
pub fn requires_pkce(config: &OAuth2Config, client_type: ClientType) -> bool {
    client_type == ClientType::Public || config.pkce == Pkce::Strict
}

/// The authorization request's PKCE parameters, checked (RFC 7636 §4.3, Kong's texts):
/// - a method without a challenge: `invalid_request` "code_challenge is required when
///   code_challenge_method is present";
/// - a method other than `S256` and `plain`, or `plain` under `pkce: strict`: "code_challenge_method
///   is not supported, must be S256" (Kong takes only `S256` in every mode; a missing method is
///   `plain`, as RFC 7636 says, where Kong assumes `S256`);
/// - a challenge outside 43..=128 characters of the unreserved alphabet: `invalid_request`;
/// - no challenge from a client that needs one ([`requires_pkce`]): "code_challenge is
///   required for public clients" (or confidential).
pub fn check_challenge(
    config: &OAuth2Config,
    client_type: ClientType,
    challenge: Option<&str>,
    method: Option<&str>,
) -> Result<Option<Challenge>, OAuthError> {
    let Some(value) = challenge else {
        if method.is_some() {
            return Err(invalid_request(
                "code_challenge is required when code_challenge_method is present",
            ));
        }
        if requires_pkce(config, client_type) {
            let kind = match client_type {
                ClientType::Public => "public",
                ClientType::Confidential => "confidential",
            };
            return Err(invalid_request(format!(
                "code_challenge is required for {kind} clients"
            )));
        }
        return Ok(None);
    };
    let method = match method.unwrap_or("plain") {
        "S256" => ChallengeMethod::S256,
        "plain" if config.pkce != Pkce::Strict => ChallengeMethod::Plain,
        _ => {
            return Err(invalid_request(
                "code_challenge_method is not supported, must be S256",
            ));
        }
    };
    if !is_pkce_text(value) {
        return Err(invalid_request(
            "code_challenge must be 43 to 128 characters of A-Z, a-z, 0-9, '-', '.', '_' and '~'",
        ));
    }
    Ok(Some(Challenge {
        method,
        value: value.to_owned(),
    }))
}

/// The token request's `code_verifier` against the code's challenge (Kong's texts):
/// - a code issued with a challenge, or to a client that needs PKCE, needs a verifier:
///   `invalid_request` "code_verifier is required for PKCE authorization requests";
/// - a verifier outside 43..=128 characters of the alphabet: `invalid_request` "code_verifier
///   must be between 43 and 128 characters";
/// - a verifier that does not match, a code without a challenge where one is needed, or a
///   verifier sent for a code issued without a challenge (a PKCE downgrade, RFC 9700 §2.1.1):
///   `invalid_grant` "Invalid code".
///
/// The comparison is in constant time.
pub fn check_verifier(
    config: &OAuth2Config,
    client_type: ClientType,
    code: &CodeClaims,
    verifier: Option<&str>,
) -> Result<(), OAuthError> {
    let invalid_code = || token_error(400, "invalid_grant", "Invalid code");
    let needed = code.challenge.is_some() || requires_pkce(config, client_type);
    let Some(verifier) = verifier else {
        if needed {
            return Err(invalid_request(
                "code_verifier is required for PKCE authorization requests",
            ));
        }
        return Ok(());
    };
    if !is_pkce_text(verifier) {
        return Err(invalid_request(
            "code_verifier must be between 43 and 128 characters",
        ));
    }
    let Some(challenge) = &code.challenge else {
        return Err(invalid_code());
    };
    let derived = match challenge.method {
        ChallengeMethod::Plain => verifier.to_owned(),
        ChallengeMethod::S256 => URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())),
    };
    if bool::from(derived.as_bytes().ct_eq(challenge.value.as_bytes())) {
        Ok(())
    } else {
        Err(invalid_code())
    }
}

#[cfg(test)]
#[path = "code_tests.rs"]
mod tests;
