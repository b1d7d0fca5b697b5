//! JWT access tokens of an external issuer (RFC 7519, RFC 9068), for the `bearer` auth method of
//! the openid-connect plugin.
//!
//! The issuer's public keys arrive in the snapshot (the controller fetched its JWKS, off the
//! request path), so verifying is pure: parse the three parts, pick the key by `kid`, check the
//! signature with `ring`, then `iss`, `aud`, `exp` and `nbf`. Only asymmetric algorithms are
//! accepted — RS256, PS256, ES256 and EdDSA (Ed25519) — each only with a key of its own type:
//! `alg: none` and every HMAC algorithm are refused, so a public key can never be used as an HMAC
//! secret. Nothing here panics on any input.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde::{Deserialize, Serialize};

/// Longest token accepted, in bytes.
pub const MAX_JWT_LEN: usize = 8192;
/// Clock skew allowed on `exp` and `nbf`, in seconds.
pub const DEFAULT_LEEWAY_SECS: u64 = 30;
/// Most keys a JWKS may hold.
pub const MAX_KEYS: usize = 32;

/// A public JSON Web Key (RFC 7517) as the snapshot carries it. Unknown members of a provider's
/// JWKS (`x5c`, `x5t`, ...) are ignored when reading one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    pub kty: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
}

/// The signature algorithms accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alg {
    Rs256,
    Ps256,
    Es256,
    EdDsa,
}

impl Alg {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "RS256" => Some(Self::Rs256),
            "PS256" => Some(Self::Ps256),
            "ES256" => Some(Self::Es256),
            "EdDSA" => Some(Self::EdDsa),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum PublicKey {
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// Uncompressed point: `04 || x || y`.
    P256(Vec<u8>),
    Ed25519(Vec<u8>),
}

impl PublicKey {
    fn accepts(&self, alg: Alg) -> bool {
        matches!(
            (self, alg),
            (Self::Rsa { .. }, Alg::Rs256 | Alg::Ps256)
                | (Self::P256(_), Alg::Es256)
                | (Self::Ed25519(_), Alg::EdDsa)
        )
    }

    fn verify(&self, alg: Alg, message: &[u8], sig: &[u8]) -> bool {
        match (self, alg) {
            (Self::Rsa { n, e }, Alg::Rs256 | Alg::Ps256) => {
                let params = if alg == Alg::Rs256 {
                    &signature::RSA_PKCS1_2048_8192_SHA256
                } else {
                    &signature::RSA_PSS_2048_8192_SHA256
                };
                RsaPublicKeyComponents { n, e }
                    .verify(params, message, sig)
                    .is_ok()
            }
            (Self::P256(point), Alg::Es256) => {
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                    .verify(message, sig)
                    .is_ok()
            }
            (Self::Ed25519(x), Alg::EdDsa) => UnparsedPublicKey::new(&signature::ED25519, x)
                .verify(message, sig)
                .is_ok(),
            _ => false,
        }
    }
}

fn b64(field: Option<&String>) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(field?.as_bytes()).ok()
}

/// Why a JWK cannot be used.
pub fn key_problem(jwk: &Jwk) -> Option<String> {
    parse_key(jwk).err()
}

fn parse_key(jwk: &Jwk) -> Result<(Option<Alg>, PublicKey), String> {
    let alg = match jwk.alg.as_deref() {
        None => None,
        Some(name) => {
            Some(Alg::parse(name).ok_or_else(|| format!("algorithm {name:?} is not accepted"))?)
        }
    };
    if jwk.use_.as_deref().is_some_and(|u| u != "sig") {
        return Err("the key is not for signatures (use)".into());
    }
    let key = match (jwk.kty.as_str(), jwk.crv.as_deref()) {
        ("RSA", _) => {
            let n = b64(jwk.n.as_ref()).ok_or("RSA key without a base64url n")?;
            let e = b64(jwk.e.as_ref()).ok_or("RSA key without a base64url e")?;
            let bits = n.iter().skip_while(|b| **b == 0).count() * 8;
            if bits < 2048 {
                return Err(format!(
                    "RSA key of {bits} bits; at least 2048 are required"
                ));
            }
            PublicKey::Rsa { n, e }
        }
        ("EC", Some("P-256")) => {
            let x = b64(jwk.x.as_ref()).filter(|v| v.len() == 32);
            let y = b64(jwk.y.as_ref()).filter(|v| v.len() == 32);
            let (Some(x), Some(y)) = (x, y) else {
                return Err("P-256 key without 32-byte x and y".into());
            };
            let mut point = Vec::with_capacity(65);
            point.push(4);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            PublicKey::P256(point)
        }
        ("OKP", Some("Ed25519")) => {
            let x = b64(jwk.x.as_ref())
                .filter(|v| v.len() == 32)
                .ok_or("Ed25519 key without a 32-byte x")?;
            PublicKey::Ed25519(x)
        }
        (kty, crv) => {
            return Err(format!(
                "key type {kty:?}{} is not accepted (RSA, EC P-256, OKP Ed25519)",
                crv.map(|c| format!(" curve {c:?}")).unwrap_or_default()
            ));
        }
    };
    if let Some(alg) = alg
        && !key.accepts(alg)
    {
        return Err("the key's alg does not match its type".into());
    }
    Ok((alg, key))
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct KeyEntry {
    kid: Option<String>,
    alg: Option<Alg>,
    key: PublicKey,
}

/// An issuer's usable public keys. Keys that cannot be used are left out (the controller
/// reports them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JwtKeys {
    keys: Vec<KeyEntry>,
}

impl JwtKeys {
    pub fn new(jwks: &[Jwk]) -> Self {
        let keys = jwks
            .iter()
            .take(MAX_KEYS)
            .filter_map(|jwk| {
                let (alg, key) = parse_key(jwk).ok()?;
                Some(KeyEntry {
                    kid: jwk.kid.clone(),
                    alg,
                    key,
                })
            })
            .collect();
        Self { keys }
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key for a token's `kid` and `alg`: by `kid` when the token names one; without one,
    /// the only key that can verify `alg`.
    fn find(&self, kid: Option<&str>, alg: Alg) -> Result<&PublicKey, JwtError> {
        let usable = |k: &&KeyEntry| k.key.accepts(alg) && k.alg.is_none_or(|a| a == alg);
        match kid {
            Some(kid) => {
                let entry = self
                    .keys
                    .iter()
                    .find(|k| k.kid.as_deref() == Some(kid))
                    .ok_or(JwtError::UnknownKey)?;
                if usable(&entry) {
                    Ok(&entry.key)
                } else {
                    Err(JwtError::AlgorithmMismatch)
                }
            }
            None => {
                let mut candidates = self.keys.iter().filter(usable);
                match (candidates.next(), candidates.next()) {
                    (Some(only), None) => Ok(&only.key),
                    (None, _) => Err(JwtError::UnknownKey),
                    (Some(_), Some(_)) => Err(JwtError::AmbiguousKey),
                }
            }
        }
    }
}

/// Why a token was refused. [`JwtError::UnknownKey`] is the one that may mean the issuer rotated
/// its keys (worth a JWKS refresh).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("the token is longer than {MAX_JWT_LEN} bytes")]
    TooLong,
    #[error("the token is not a JWS in compact form")]
    Malformed,
    #[error("the token's algorithm is not accepted")]
    Algorithm,
    #[error("no key of the issuer has the token's kid")]
    UnknownKey,
    #[error("the token has no kid and several keys could verify it")]
    AmbiguousKey,
    #[error("the key named by the token is not for its algorithm")]
    AlgorithmMismatch,
    #[error("the signature does not verify")]
    Signature,
    #[error("the token is not an access token (typ)")]
    Type,
    #[error("the token is from another issuer")]
    Issuer,
    #[error("the token is for another audience")]
    Audience,
    #[error("the token has no exp")]
    NoExpiry,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token has been revoked")]
    Revoked,
}

/// What a verified token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwtClaims {
    pub sub: Option<String>,
    /// Granted scopes, space-separated (`scope`, or RFC 9068's and Entra's `scp` array).
    pub scope: Option<String>,
    pub exp: u64,
    /// Every string-valued claim (and string members of array claims, joined by spaces) for the
    /// consumer mapping: `client_id`, `sub`, `azp`, and whatever the issuer adds.
    pub strings: BTreeMap<String, String>,
}

impl JwtClaims {
    pub fn claim(&self, name: &str) -> Option<&str> {
        self.strings.get(name).map(String::as_str)
    }
}

/// What a token must satisfy besides its signature.
#[derive(Clone, Copy, Debug)]
pub struct JwtPolicy<'a> {
    /// `iss`, compared exactly.
    pub issuer: &'a str,
    /// `aud` must contain one of these; empty: `aud` is not checked.
    pub audiences: &'a [String],
    pub leeway: u64,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

/// Verifies `token` with `keys` under `policy` at `now` (unix seconds).
pub fn verify(
    keys: &JwtKeys,
    policy: &JwtPolicy<'_>,
    token: &str,
    now: u64,
) -> Result<JwtClaims, JwtError> {
    if token.len() > MAX_JWT_LEN {
        return Err(JwtError::TooLong);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let decode = |part: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| JwtError::Malformed)
    };
    let header: Header = serde_json::from_slice(&decode(h)?).map_err(|_| JwtError::Malformed)?;
    // No extension this verifier does not understand may be required of it (RFC 7515 §4.1.11).
    if header.crit.is_some() {
        return Err(JwtError::Malformed);
    }
    let alg = Alg::parse(&header.alg).ok_or(JwtError::Algorithm)?;
    if let Some(typ) = header.typ.as_deref() {
        let typ = typ.to_ascii_lowercase();
        if !matches!(typ.as_str(), "jwt" | "at+jwt" | "application/at+jwt") {
            return Err(JwtError::Type);
        }
    }
    let key = keys.find(header.kid.as_deref(), alg)?;
    let signature = decode(s)?;
    let signed = &token.as_bytes()[..h.len() + 1 + p.len()];
    if !key.verify(alg, signed, &signature) {
        return Err(JwtError::Signature);
    }
    let payload: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&decode(p)?).map_err(|_| JwtError::Malformed)?;
    check_claims(&payload, policy, now)?;
    Ok(claims_of(&payload))
}

fn number(payload: &serde_json::Map<String, serde_json::Value>, name: &str) -> Option<u64> {
    let value = payload.get(name)?;
    value
        .as_u64()
        .or_else(|| value.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
}

fn check_claims(
    payload: &serde_json::Map<String, serde_json::Value>,
    policy: &JwtPolicy<'_>,
    now: u64,
) -> Result<(), JwtError> {
    if payload.get("iss").and_then(|v| v.as_str()) != Some(policy.issuer) {
        return Err(JwtError::Issuer);
    }
    if !policy.audiences.is_empty() {
        let matches = |a: &str| policy.audiences.iter().any(|want| want == a);
        let ok = match payload.get("aud") {
            Some(serde_json::Value::String(a)) => matches(a),
            Some(serde_json::Value::Array(list)) => {
                list.iter().filter_map(|v| v.as_str()).any(matches)
            }
            _ => false,
        };
        if !ok {
            return Err(JwtError::Audience);
        }
    }
    let exp = number(payload, "exp").ok_or(JwtError::NoExpiry)?;
    if now >= exp.saturating_add(policy.leeway) {
        return Err(JwtError::Expired);
    }
    if let Some(nbf) = number(payload, "nbf")
        && now.saturating_add(policy.leeway) < nbf
    {
        return Err(JwtError::NotYetValid);
    }
    Ok(())
}

/// The claims of a token as the mapping reads them, from its JSON members (a JWT's payload, or an
/// RFC 7662 introspection response).
pub fn claims_of(payload: &serde_json::Map<String, serde_json::Value>) -> JwtClaims {
    let mut strings = BTreeMap::new();
    for (name, value) in payload {
        match value {
            serde_json::Value::String(s) => {
                strings.insert(name.clone(), s.clone());
            }
            serde_json::Value::Array(list) => {
                let joined: Vec<&str> = list.iter().filter_map(|v| v.as_str()).collect();
                if !joined.is_empty() {
                    strings.insert(name.clone(), joined.join(" "));
                }
            }
            _ => {}
        }
    }
    let scope = strings
        .get("scope")
        .or_else(|| strings.get("scp"))
        .filter(|s| !s.is_empty())
        .cloned();
    JwtClaims {
        sub: strings.get("sub").cloned(),
        scope,
        exp: number(payload, "exp").unwrap_or(0),
        strings,
    }
}

#[cfg(test)]
#[path = "jwt_tests.rs"]
pub(crate) mod tests;
