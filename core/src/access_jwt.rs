//! JWT access tokens (RFC 9068) issued by an `oauth2` plugin with `tokenFormat: jwt`.
//!
//! A JWT is `base64url(header).base64url(payload).base64url(signature)`, signed EdDSA (Ed25519)
//! with a key derived from a signing key of the ring: the seed is HMAC-SHA256(key material,
//! [`JWT_KEY_LABEL`]), so the ring's rotation applies as it is (the active key signs, every
//! listed key verifies) and the raw Secret bytes are never a signing key.
//!
//! The payload carries RFC 9068's claims (`iss`, `sub` (the authenticated user id, else the
//! client id: no resource owner in the client credentials grant), `aud` (the issuer), `client_id`, `scope`, `jti`, `exp`, `iat`) for
//! upstreams that verify the token themselves with the JWKS, and a private claim `tg`: the same
//! claims as an opaque token of the ring (encrypted), which the gateway opens to check the
//! credential, its secret epoch and the plugin binding exactly as for opaque tokens. So a JWT is
//! revoked as an opaque token is, and nothing in it is readable that the standard claims do not
//! already say.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use serde::Deserialize;
use sha2::Sha256;

/// Domain label for deriving Ed25519 seeds from signing-key material.
pub const JWT_KEY_LABEL: &[u8] = b"tollgate access-token ed25519 seed v1";
/// Longest JWT access token accepted, in characters.
pub const MAX_JWT_LEN: usize = 4096;
/// The header every JWT access token carries (but its `kid`).
const TYP: &str = "at+jwt";

/// The Ed25519 key of one signing key.
pub(crate) struct JwtKey {
    pair: Ed25519KeyPair,
}

impl JwtKey {
    /// The key derived from `material` (already decoded and length-checked).
    pub(crate) fn derive(material: &[u8]) -> Option<Self> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(material).ok()?;
        mac.update(JWT_KEY_LABEL);
        let seed: [u8; 32] = mac.finalize().into_bytes().into();
        let pair = Ed25519KeyPair::from_seed_unchecked(&seed).ok()?;
        Some(JwtKey { pair })
    }

    /// The public JWK of this key, `kid` included.
    pub(crate) fn jwk(&self, kid: &str) -> serde_json::Value {
        serde_json::json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "alg": "EdDSA",
            "use": "sig",
            "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(self.pair.public_key().as_ref()),
        })
    }

    fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&ED25519, self.pair.public_key().as_ref())
            .verify(message, signature)
            .is_ok()
    }
}

/// Why a JWT access token is refused (the token module maps these to its errors).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    TooLong,
    Encoding,
    Malformed,
    UnknownKey,
    BadSignature,
}

/// The grant's claims a JWT states in the clear.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stated<'a> {
    pub scope: &'a str,
    pub issued_at: u64,
    /// 0: never expires (no `exp`).
    pub expires_at: u64,
    /// The authenticated user id; empty when none.
    pub user: &'a str,
}

/// What a JWT access token says beyond the gateway's own claims.
#[derive(Clone, Copy, Debug)]
pub struct JwtFields<'a> {
    /// `iss` and `aud`: the authorization server's issuer identifier (see
    /// [`crate::oauth::metadata::issuer`]).
    pub issuer: &'a str,
    /// `client_id` and `sub`.
    pub client_id: &'a str,
    /// `jti`: unique per token (the caller draws it).
    pub jti: &'a str,
}

/// Signs a JWT stating `claims` with `key` (id `kid`); `sealed` is the opaque token of the
/// same grant, carried as the private claim `tg`.
pub(crate) fn sign(
    key: &JwtKey,
    kid: &str,
    claims: &Stated<'_>,
    fields: &JwtFields<'_>,
    sealed: &str,
) -> String {
    let header = serde_json::json!({ "alg": "EdDSA", "typ": TYP, "kid": kid });
    let mut payload = serde_json::Map::new();
    payload.insert("iss".into(), fields.issuer.into());
    // RFC 9068 §2.2: the resource owner, else the client (no resource owner in the grant).
    let subject = if claims.user.is_empty() {
        fields.client_id
    } else {
        claims.user
    };
    payload.insert("sub".into(), subject.into());
    payload.insert("aud".into(), fields.issuer.into());
    payload.insert("client_id".into(), fields.client_id.into());
    if !claims.scope.is_empty() {
        payload.insert("scope".into(), claims.scope.into());
    }
    payload.insert("jti".into(), fields.jti.into());
    payload.insert("iat".into(), claims.issued_at.into());
    if claims.expires_at != 0 {
        payload.insert("exp".into(), claims.expires_at.into());
    }
    payload.insert("tg".into(), sealed.into());
    let mut jwt = String::with_capacity(512 + sealed.len());
    URL_SAFE_NO_PAD.encode_string(header.to_string(), &mut jwt);
    jwt.push('.');
    URL_SAFE_NO_PAD.encode_string(serde_json::Value::Object(payload).to_string(), &mut jwt);
    let signature = key.pair.sign(jwt.as_bytes());
    jwt.push('.');
    URL_SAFE_NO_PAD.encode_string(signature.as_ref(), &mut jwt);
    jwt
}

#[derive(Deserialize)]
struct Header<'a> {
    alg: &'a str,
    #[serde(default)]
    typ: Option<&'a str>,
    kid: &'a str,
}

#[derive(Deserialize)]
struct Payload {
    tg: String,
    #[serde(default)]
    iat: Option<u64>,
    #[serde(default)]
    exp: Option<u64>,
}

/// Checks a JWT access token's form and signature, with the key `key_of(kid)` names, and
/// returns its sealed claims (the `tg` claim) and its `iat`/`exp`, which the caller compares
/// with the opened claims. Refuses any `alg` but `EdDSA`, any `typ` but `at+jwt`, and a token
/// longer than [`MAX_JWT_LEN`]. Never panics.
pub(crate) fn verify<'k>(
    token: &str,
    key_of: impl Fn(&str) -> Option<&'k JwtKey>,
) -> Result<(String, Option<u64>, Option<u64>), Refusal> {
    if token.len() > MAX_JWT_LEN {
        return Err(Refusal::TooLong);
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Refusal::Malformed);
    };
    let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|_| Refusal::Encoding);
    let header_bytes = decode(header)?;
    let parsed: Header<'_> =
        serde_json::from_slice(&header_bytes).map_err(|_| Refusal::Malformed)?;
    if parsed.alg != "EdDSA" || parsed.typ.is_some_and(|t| !t.eq_ignore_ascii_case(TYP)) {
        return Err(Refusal::Malformed);
    }
    let key = key_of(parsed.kid).ok_or(Refusal::UnknownKey)?;
    let signed_len = header.len() + 1 + payload.len();
    let signature = decode(signature)?;
    if !key.verifies(&token.as_bytes()[..signed_len], &signature) {
        return Err(Refusal::BadSignature);
    }
    let payload: Payload =
        serde_json::from_slice(&decode(payload)?).map_err(|_| Refusal::Malformed)?;
    Ok((payload.tg, payload.iat, payload.exp))
}
