//! Self-contained, opaque access tokens.
//!
//! A token is URL-safe base64 (no padding) of
//! `version (1) || kid_len (1) || kid || nonce (24) || ciphertext || tag (16)`, where the
//! ciphertext is XChaCha20-Poly1305 over the encoded [`Claims`] with the header bytes
//! (`version || kid_len || kid`) as associated data. The AEAD key of each signing key is
//! HMAC-SHA256(key material, [`KEY_LABEL`]), so the raw Secret bytes are never used directly.
//!
//! Any replica holding the same keys accepts the token, it survives restarts, and nothing in it is
//! readable without a key. Revocation comes from the claims: the credential id must still exist
//! and the secret epoch must still match (see [`crate::oauth::authenticate`]).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::AeadInPlace;
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::access_jwt::{self, JwtFields, JwtKey, Refusal, Stated};
use crate::snapshot::SigningKey;
use crate::wire::{Malformed, Reader, Writer};

/// Token format version (first byte). Version 3 adds the authenticated user id; version 2 tokens
/// (the same claims without it) are still opened.
pub const TOKEN_VERSION: u8 = 3;
/// The previous version, still opened.
const TOKEN_VERSION_2: u8 = 2;
/// Longest authenticated user id a token can carry, in bytes.
pub const MAX_USERID_LEN: usize = 255;
/// Longest token accepted by [`KeyRing::open`], in characters.
pub const MAX_TOKEN_LEN: usize = 1024;
/// Longest scope string a token can carry, in bytes.
pub const MAX_SCOPE_LEN: usize = 600;
/// Key ids: 1..=64 bytes of `[A-Za-z0-9._-]`.
pub const MAX_KEY_ID_LEN: usize = 64;
/// Minimum signing key length in bytes.
pub const MIN_KEY_LEN: usize = 32;
/// Domain label for deriving AEAD keys from signing-key material.
pub const KEY_LABEL: &[u8] = b"tollgate access-token aead key v1";
/// Domain label for the AEAD key of authorization codes: a code never opens as a token, nor a
/// token as a code.
pub const CODE_KEY_LABEL: &[u8] = b"tollgate authorization-code aead key v1";
/// Version byte of a sealed authorization code.
const CODE_VERSION: u8 = 0x43;
/// Version byte of a sealed refresh token (same AEAD key as codes; the version byte is
/// authenticated, so a code never opens as a refresh token nor one as a code).
const REFRESH_VERSION: u8 = 0x52;

const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Fixed part of the encoded claims (all but the scope).
const CLAIMS_FIXED_LEN: usize = 16 + 8 + 8 + 8 + 1 + 8 + 2;

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("token is longer than {MAX_TOKEN_LEN} characters")]
    TooLong,
    #[error("token is not URL-safe base64")]
    Encoding,
    #[error("token is truncated or malformed")]
    Malformed,
    #[error("token format version is not supported")]
    Version,
    #[error("token was signed by an unknown key")]
    UnknownKey,
    #[error("token failed authentication")]
    BadTag,
    /// Opened fine, but its id is in the revocation store (set by the caller that consulted it).
    #[error("token was revoked")]
    Revoked,
    #[error("scope is longer than {MAX_SCOPE_LEN} bytes")]
    ScopeTooLong,
    #[error("authenticated user id is longer than {MAX_USERID_LEN} bytes")]
    UserIdTooLong,
    #[error("signing key {0:?}: invalid key id")]
    KeyId(String),
    #[error("signing key {0:?}: material is not base64 of at least {MIN_KEY_LEN} bytes")]
    KeyMaterial(String),
    #[error("signing key {0:?} is listed twice")]
    DuplicateKey(String),
    #[error("active signing key {0:?} is not listed")]
    NoActiveKey(String),
}

/// What a token is valid for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Binding {
    /// Issued by an oauth2 plugin with `global_credentials` in a namespace
    /// ([`namespace_binding`] of it): accepted by the plugins of that namespace that accept
    /// global tokens, and by those of other namespaces that accept this one.
    Global([u8; 8]),
    /// Bound to the plugin that issued it ([`plugin_binding`] of its id and incarnation).
    Plugin([u8; 8]),
}

/// The claims a token carries, all opaque to the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    /// UUID bytes of the credential (see [`crate::ids::uuid_bytes`]).
    pub credential_id: [u8; 16],
    /// [`crate::secret::token_epoch`] of the credential's verifier at issue time.
    pub epoch: u64,
    /// Unix seconds.
    pub issued_at: u64,
    /// Unix seconds; 0 = never expires.
    pub expires_at: u64,
    pub binding: Binding,
    /// Granted scopes, space-separated; empty when none.
    pub scope: String,
    /// The end user the client acts for (Kong's `authenticated_userid`, sent by the
    /// application with the plugin's provision key); empty when none.
    pub authenticated_userid: String,
}

impl Claims {
    /// Whether the token has expired at `now` (unix seconds). `expires_at == 0` never expires.
    pub fn is_expired(&self, now: u64) -> bool {
        self.expires_at != 0 && now >= self.expires_at
    }
}

fn binding(label: &[u8], fields: &[&str]) -> [u8; 8] {
    let mut h = Sha256::new();
    h.update(label);
    for field in fields {
        h.update(u64::try_from(field.len()).unwrap_or(u64::MAX).to_be_bytes());
        h.update(field.as_bytes());
    }
    let digest: [u8; 32] = h.finalize().into();
    let mut out = [0u8; 8];
    out.copy_from_slice(&digest[..8]);
    out
}

/// The binding id of a plugin: the first 8 bytes of SHA-256 of a domain-separated plugin id
/// (`namespace/name`) and incarnation (its uid), so a plugin deleted and created again under the
/// same name does not accept its predecessor's tokens.
pub fn plugin_binding(plugin_id: &str, incarnation: &str) -> [u8; 8] {
    binding(b"tollgate plugin binding v2\0", &[plugin_id, incarnation])
}

/// The binding id of a global token issued in `namespace`.
pub fn namespace_binding(namespace: &str) -> [u8; 8] {
    binding(b"tollgate namespace binding v1\0", &[namespace])
}

/// Whether `id` is a valid key id: 1..=64 bytes of `[A-Za-z0-9._-]`.
pub fn is_valid_key_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_KEY_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Decodes signing-key material (standard base64, padding optional) and checks its length.
pub fn decode_key_material(secret_b64: &str) -> Option<Vec<u8>> {
    let bytes = STANDARD.decode(secret_b64).ok().or_else(|| {
        base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(secret_b64)
            .ok()
    })?;
    (bytes.len() >= MIN_KEY_LEN).then_some(bytes)
}

struct RingKey {
    id: String,
    cipher: XChaCha20Poly1305,
    /// Seals and opens authorization codes.
    code_cipher: XChaCha20Poly1305,
    /// Signs and verifies JWT access tokens.
    jwt: JwtKey,
}

/// The signing keys of a snapshot: the active key issues, every listed key opens.
/// `Debug` prints only key ids.
pub struct KeyRing {
    keys: Vec<RingKey>,
    active: usize,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field(
                "keys",
                &self.keys.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(),
            )
            .field("active", &self.active_key_id())
            .finish()
    }
}

fn derive_cipher(material: &[u8], label: &[u8]) -> Option<XChaCha20Poly1305> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(material).ok()?;
    mac.update(label);
    let key: [u8; 32] = mac.finalize().into_bytes().into();
    XChaCha20Poly1305::new_from_slice(&key).ok()
}

impl KeyRing {
    /// Builds the ring; fails when a key id or key is invalid, an id repeats, or `active` is not
    /// listed.
    pub fn new(keys: &[SigningKey], active: &str) -> Result<Self, TokenError> {
        let mut ring = Vec::with_capacity(keys.len());
        for key in keys {
            if !is_valid_key_id(&key.id) {
                return Err(TokenError::KeyId(key.id.clone()));
            }
            if ring.iter().any(|k: &RingKey| k.id == key.id) {
                return Err(TokenError::DuplicateKey(key.id.clone()));
            }
            let material = decode_key_material(&key.secret_b64)
                .ok_or_else(|| TokenError::KeyMaterial(key.id.clone()))?;
            let cipher = derive_cipher(&material, KEY_LABEL)
                .ok_or_else(|| TokenError::KeyMaterial(key.id.clone()))?;
            let code_cipher = derive_cipher(&material, CODE_KEY_LABEL)
                .ok_or_else(|| TokenError::KeyMaterial(key.id.clone()))?;
            let jwt =
                JwtKey::derive(&material).ok_or_else(|| TokenError::KeyMaterial(key.id.clone()))?;
            ring.push(RingKey {
                id: key.id.clone(),
                cipher,
                code_cipher,
                jwt,
            });
        }
        let active = ring
            .iter()
            .position(|k| k.id == active)
            .ok_or_else(|| TokenError::NoActiveKey(active.to_string()))?;
        Ok(KeyRing { keys: ring, active })
    }

    /// Id of the key that issues new tokens.
    pub fn active_key_id(&self) -> &str {
        self.keys.get(self.active).map_or("", |k| k.id.as_str())
    }

    /// Issues a token for `claims` with the active key. `nonce` must be fresh random bytes (the
    /// caller owns the randomness, keeping this crate free of IO).
    pub fn issue(&self, claims: &Claims, nonce: [u8; 24]) -> Result<String, TokenError> {
        let key = self.keys.get(self.active).ok_or(TokenError::UnknownKey)?;
        let kid = key.id.as_bytes();
        let kid_len = u8::try_from(kid.len()).map_err(|_| TokenError::KeyId(key.id.clone()))?;

        let mut w = Writer::with_capacity(
            2 + kid.len()
                + NONCE_LEN
                + CLAIMS_FIXED_LEN
                + claims.scope.len()
                + 1
                + claims.authenticated_userid.len()
                + TAG_LEN,
        );
        w.u8(TOKEN_VERSION).u8(kid_len).bytes(kid);
        let header_len = w.len();
        w.bytes(&nonce);
        let body_start = w.len();
        w.bytes(&claims.credential_id)
            .u64(claims.epoch)
            .u64(claims.issued_at)
            .u64(claims.expires_at);
        match claims.binding {
            Binding::Global(ns) => w.u8(0).bytes(&ns),
            Binding::Plugin(id) => w.u8(1).bytes(&id),
        };
        // The scope is checked before the user id, as a caller sees it.
        w.text16(&claims.scope, MAX_SCOPE_LEN)
            .map_err(|_| TokenError::ScopeTooLong)?;
        w.text8(&claims.authenticated_userid)
            .map_err(|_| TokenError::UserIdTooLong)?;
        let mut raw = w.into_inner();

        let (head, body) = raw.split_at_mut(body_start);
        let tag = key
            .cipher
            .encrypt_in_place_detached(XNonce::from_slice(&nonce), &head[..header_len], body)
            .map_err(|_| TokenError::Malformed)?;
        raw.extend_from_slice(&tag);
        Ok(URL_SAFE_NO_PAD.encode(raw))
    }

    /// Issues a JWT access token (RFC 9068) for `claims`, signed by the active key; it carries
    /// the opaque token of the same claims (see [`crate::access_jwt`]).
    pub fn issue_jwt(
        &self,
        claims: &Claims,
        nonce: [u8; 24],
        fields: &JwtFields<'_>,
    ) -> Result<String, TokenError> {
        let sealed = self.issue(claims, nonce)?;
        let key = self.keys.get(self.active).ok_or(TokenError::UnknownKey)?;
        let stated = Stated {
            scope: &claims.scope,
            issued_at: claims.issued_at,
            expires_at: claims.expires_at,
            user: &claims.authenticated_userid,
        };
        Ok(access_jwt::sign(
            &key.jwt, &key.id, &stated, fields, &sealed,
        ))
    }

    /// The public keys JWT access tokens are verified with, as a JWK Set (RFC 7517): every key
    /// of the ring, the active one first.
    pub fn jwks(&self) -> Vec<u8> {
        let order =
            std::iter::once(self.active).chain((0..self.keys.len()).filter(|&i| i != self.active));
        let keys: Vec<serde_json::Value> = order
            .filter_map(|i| self.keys.get(i))
            .map(|k| k.jwt.jwk(&k.id))
            .collect();
        serde_json::to_vec(&serde_json::json!({ "keys": keys })).unwrap_or_default()
    }

    /// Opens a token of either format: a JWT (three dot-separated parts) is checked by its
    /// signature, then its sealed claims are opened as an opaque token and must agree with its
    /// `iat` and `exp`; anything else is opened as an opaque token (see [`Self::open_opaque`]).
    pub fn open(&self, token: &str) -> Result<Claims, TokenError> {
        self.open_with_id(token).map(|(claims, _)| claims)
    }

    /// [`Self::open`], with the token's id ([`crate::revocation::token_id`]: the same for an
    /// opaque token and the JWT carrying it), which revocations name.
    pub fn open_with_id(&self, token: &str) -> Result<(Claims, [u8; 16]), TokenError> {
        if !token.contains('.') {
            return self.open_opaque_with_id(token);
        }
        let key_of = |kid: &str| self.keys.iter().find(|k| k.id == kid).map(|k| &k.jwt);
        let (sealed, iat, exp) =
            access_jwt::verify(token, key_of).map_err(|refusal| match refusal {
                Refusal::TooLong => TokenError::TooLong,
                Refusal::Encoding => TokenError::Encoding,
                Refusal::Malformed => TokenError::Malformed,
                Refusal::UnknownKey => TokenError::UnknownKey,
                Refusal::BadSignature => TokenError::BadTag,
            })?;
        let (claims, id) = self.open_opaque_with_id(&sealed)?;
        let exp_agrees = match exp {
            Some(exp) => exp == claims.expires_at,
            None => claims.expires_at == 0,
        };
        if iat != Some(claims.issued_at) || !exp_agrees {
            return Err(TokenError::Malformed);
        }
        Ok((claims, id))
    }

    /// Seals `plaintext` (an encoded authorization code, see [`crate::oauth::code`]) with the
    /// active key's code key: URL-safe base64 of
    /// `0x43 || kid_len || kid || nonce (24) || ciphertext || tag (16)`.
    pub fn seal_code(&self, plaintext: &[u8], nonce: [u8; 24]) -> Result<String, TokenError> {
        self.seal_record(CODE_VERSION, plaintext, nonce)
    }

    /// Seals an encoded refresh token (see [`crate::oauth::refresh`]) as [`Self::seal_code`]
    /// does, under its own version byte `0x52`.
    pub fn seal_refresh(&self, plaintext: &[u8], nonce: [u8; 24]) -> Result<String, TokenError> {
        self.seal_record(REFRESH_VERSION, plaintext, nonce)
    }

    /// Opens a refresh token sealed by [`Self::seal_refresh`]; as [`Self::open_code`].
    pub fn open_refresh(&self, token: &str, max_len: usize) -> Result<Vec<u8>, TokenError> {
        self.open_record(REFRESH_VERSION, token, max_len)
    }

    fn seal_record(
        &self,
        version: u8,
        plaintext: &[u8],
        nonce: [u8; 24],
    ) -> Result<String, TokenError> {
        let key = self.keys.get(self.active).ok_or(TokenError::UnknownKey)?;
        let kid = key.id.as_bytes();
        let kid_len = u8::try_from(kid.len()).map_err(|_| TokenError::KeyId(key.id.clone()))?;
        let mut raw = Vec::with_capacity(2 + kid.len() + NONCE_LEN + plaintext.len() + TAG_LEN);
        raw.push(version);
        raw.push(kid_len);
        raw.extend_from_slice(kid);
        let header_len = raw.len();
        raw.extend_from_slice(&nonce);
        let body_start = raw.len();
        raw.extend_from_slice(plaintext);
        let (head, body) = raw.split_at_mut(body_start);
        let tag = key
            .code_cipher
            .encrypt_in_place_detached(XNonce::from_slice(&nonce), &head[..header_len], body)
            .map_err(|_| TokenError::Malformed)?;
        raw.extend_from_slice(&tag);
        Ok(URL_SAFE_NO_PAD.encode(raw))
    }

    /// Opens a code sealed by [`Self::seal_code`] with any listed key: its plaintext. At most
    /// `max_len` characters; charset, version, key id and tag are checked. Never panics.
    pub fn open_code(&self, code: &str, max_len: usize) -> Result<Vec<u8>, TokenError> {
        self.open_record(CODE_VERSION, code, max_len)
    }

    fn open_record(&self, want: u8, code: &str, max_len: usize) -> Result<Vec<u8>, TokenError> {
        if code.len() > max_len {
            return Err(TokenError::TooLong);
        }
        if !code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(TokenError::Encoding);
        }
        let mut raw = URL_SAFE_NO_PAD
            .decode(code)
            .map_err(|_| TokenError::Encoding)?;
        let (&version, rest) = raw.split_first().ok_or(TokenError::Malformed)?;
        if version != want {
            return Err(TokenError::Version);
        }
        let (&kid_len, rest) = rest.split_first().ok_or(TokenError::Malformed)?;
        let kid = rest
            .get(..usize::from(kid_len))
            .ok_or(TokenError::Malformed)?;
        let header_len = 2 + usize::from(kid_len);
        if raw.len() < header_len + NONCE_LEN + TAG_LEN {
            return Err(TokenError::Malformed);
        }
        let key = self
            .keys
            .iter()
            .find(|k| k.id.as_bytes() == kid)
            .ok_or(TokenError::UnknownKey)?;
        let body_start = header_len + NONCE_LEN;
        let tag_start = raw.len() - TAG_LEN;
        let (before_tag, tag) = raw.split_at_mut(tag_start);
        let (head, body) = before_tag.split_at_mut(body_start);
        let (header, nonce) = head.split_at(header_len);
        key.code_cipher
            .decrypt_in_place_detached(XNonce::from_slice(nonce), header, body, (&*tag).into())
            .map_err(|_| TokenError::BadTag)?;
        Ok(body.to_vec())
    }

    /// Opens an opaque token: checks length and charset before decoding, then the key id, then
    /// the tag, then decodes the claims exactly (no trailing bytes). Never panics. Does not
    /// check expiry or revocation; see [`crate::oauth::authenticate`].
    pub fn open_opaque(&self, token: &str) -> Result<Claims, TokenError> {
        self.open_opaque_with_id(token).map(|(claims, _)| claims)
    }

    fn open_opaque_with_id(&self, token: &str) -> Result<(Claims, [u8; 16]), TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::TooLong);
        }
        if !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(TokenError::Encoding);
        }
        let mut raw = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| TokenError::Encoding)?;
        let (&version, rest) = raw.split_first().ok_or(TokenError::Malformed)?;
        if version != TOKEN_VERSION && version != TOKEN_VERSION_2 {
            return Err(TokenError::Version);
        }
        let (&kid_len, rest) = rest.split_first().ok_or(TokenError::Malformed)?;
        let kid = rest
            .get(..usize::from(kid_len))
            .ok_or(TokenError::Malformed)?;
        let header_len = 2 + usize::from(kid_len);
        if raw.len() < header_len + NONCE_LEN + CLAIMS_FIXED_LEN + TAG_LEN {
            return Err(TokenError::Malformed);
        }
        let key = self
            .keys
            .iter()
            .find(|k| k.id.as_bytes() == kid)
            .ok_or(TokenError::UnknownKey)?;
        let body_start = header_len + NONCE_LEN;
        let tag_start = raw.len() - TAG_LEN;
        let (before_tag, tag) = raw.split_at_mut(tag_start);
        let (head, body) = before_tag.split_at_mut(body_start);
        let (header, nonce) = head.split_at(header_len);
        key.cipher
            .decrypt_in_place_detached(XNonce::from_slice(nonce), header, body, (&*tag).into())
            .map_err(|_| TokenError::BadTag)?;
        let nonce: &[u8; NONCE_LEN] = nonce.try_into().map_err(|_| TokenError::Malformed)?;
        let id = crate::revocation::token_id(nonce);
        Ok((decode_claims(body, version)?, id))
    }
}

impl From<Malformed> for TokenError {
    fn from(_: Malformed) -> Self {
        TokenError::Malformed
    }
}

fn decode_claims(body: &[u8], version: u8) -> Result<Claims, TokenError> {
    let mut r = Reader::new(body);
    let credential_id = r.array()?;
    let epoch = r.u64()?;
    let issued_at = r.u64()?;
    let expires_at = r.u64()?;
    let binding = match r.u8()? {
        0 => Binding::Global(r.array()?),
        1 => Binding::Plugin(r.array()?),
        _ => return Err(TokenError::Malformed),
    };
    // Only the length prefix bounds the scope here.
    let scope = r.text16(usize::MAX)?;
    let authenticated_userid = if version == TOKEN_VERSION_2 {
        String::new()
    } else {
        r.text8()?
    };
    r.finish()?;
    Ok(Claims {
        credential_id,
        epoch,
        issued_at,
        expires_at,
        binding,
        scope,
        authenticated_userid,
    })
}

#[cfg(test)]
#[path = "token_tests.rs"]
mod tests;
