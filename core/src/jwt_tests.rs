use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256,
    RSA_PSS_SHA256, RsaKeyPair,
};
use serde_json::json;

use super::*;

/// A 2048-bit RSA test key (PKCS#8 DER, base64); ring cannot generate RSA keys.
const RSA_PKCS8: &str = "MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQC16was/epxk6REVeZsmXGY4zrFqzieDQ740B9oqEP89XMNUciCiYhhdzrhm202KjfTyLY1wDYu0BOdscnta3Ux2Lys9SqqcOyqHsDYp/fgS/8NNtdSLHckolMvvztx5Tyiu5jwBY80+cxAPVlpOo2tkrFXutL38cWJxn1a0Vnos30bJLGdld/rDlqGVOX9m+HIeZnvLMfvyyqt+6VdnyMl1vSnZLwNi1D/LtnSXZaQy2jqGHOXdgEK9TSqoGEo/jSTQHXvfuJrohtDCCXitI/D4EfUDjV1PmejAcVqIA3IobtzK81mJ8xUY3vZbhLkz2/q7udhFbWncFsHzXEvlfoHAgMBAAECggEAEcXlUD0Qd3SKuHMXVjsu5NZ9FUx99WcQ3uXfzlxIztZ2HUeFCkfV5LEpi1rMMoixDUZkkt91YQvK1tMaB3xCUL08QGjwIwMcWXSJYmwVT2XCry+mnWx4XsJjKTI1jxJBOHmRNBCppe3VHYjritiBzgLxGOvzlO4bNAjfPLe2YSxkMhqAcHM4IGdE1Qqfstqeg02cOEstaNruGt/HXT6fv4dKVo+pvmgEpNC3BoIlWE+78lpSDhOs1bzRaV7hzgJwlFjgfbsjRbwFeZgOo7bjXCjX0HceetSQJ1dA3vk2SwjJVfD73TCPx6erG1bikGHhXSn0hMgFY/8zO3gJGgs+PQKBgQD0tzq5W7dH4ojvFhUClbK43OtyhOswRvAEL2TbruGtBuKQVBmX3YjIAQPlwNekVgGEpNzmCuPnRtoBSat5DugorTv6ErZ4oG/wRzsultw4+gFrhhgJWbe9LQdxStGn4oG9RSh6nh+oJKt+3Crqo428jvLeCom1V0RgJiXgr7oPxQKBgQC+Tn7a/7SuxYqq/cMS7rLKC5U1vT5b6wbJNdUhdMQm7gxQNPXR/OHOv6XU//vwmUbn8Eyur2mpfhkJIvWDQDnjFcjnQdpbx0QVveFOwpCTEQ69i7ryh0NnJ4yztf1Swe5flmaRNPCc7J39QWtNp4HGlsrZ180oqUg0e4dvk9fTWwKBgCZit2tr34v/FMusAw+su6QTwzrrbpjcB7ogVQnAnNWvRsqs5nbT4Si+QAZCAZFdjE9qLNxIyQb2LiwVijgrBm+a/NV1Kfox8F0YT0g3kcO+M4rSNeMBl7is34X93nUfKoqt1nOlagHN/rifgHvdu9Xf9mit7nvrfGY4lahw6BahAoGANVEWl1KWk3SCwh8wXQiFDLgsCI9JfkUddJfha2skXWfKCVqdGETKGrt0wXUqZ6D5zZd0VGiOqM7MQtQJhskirq12yNuZSqdMOu8kxYUbLijUQWR5buNYjfj1oY+2Nk5g82TWvY3gb4aXSNHgNzRb1oB+uoOMVfz/XrzRGACKsgsCgYBTOqxabELxJ47HSYVkw1Omg2c18hRnjNudDuSZuPAYLV+q90rw449xGDOsaxIpTAoFYKy0IlkzN5vxK0+UmHpyo5dHI9vRFGzPt7r/HDsHe/YvjHy8us+LpQUJc11Lp8QNTlwWkGEdz4nm7NJohVp8jIInlgzEo4FsAtKD0VplXQ==";

const ISSUER: &str = "https://id.example.test";
const NOW: u64 = 1_800_000_000;

pub(crate) enum Signer {
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
    Rsa(RsaKeyPair),
}

fn b64u(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl Signer {
    pub(crate) fn ec() -> Self {
        let rng = SystemRandom::new();
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("ec");
        Self::Ec(
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
                .expect("ec"),
        )
    }
    fn ed() -> Self {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("ed");
        Self::Ed(Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("ed"))
    }
    fn rsa() -> Self {
        let der = base64::engine::general_purpose::STANDARD
            .decode(RSA_PKCS8)
            .expect("base64");
        Self::Rsa(RsaKeyPair::from_pkcs8(&der).expect("rsa"))
    }

    pub(crate) fn jwk(&self, kid: &str) -> Jwk {
        let kid = Some(kid.to_owned());
        match self {
            Self::Ec(k) => {
                let point = k.public_key().as_ref();
                Jwk {
                    kty: "EC".into(),
                    kid,
                    crv: Some("P-256".into()),
                    x: Some(b64u(&point[1..33])),
                    y: Some(b64u(&point[33..65])),
                    ..Jwk::default()
                }
            }
            Self::Ed(k) => Jwk {
                kty: "OKP".into(),
                kid,
                crv: Some("Ed25519".into()),
                x: Some(b64u(k.public_key().as_ref())),
                ..Jwk::default()
            },
            Self::Rsa(k) => {
                let parts = RsaPublicKeyComponents::<Vec<u8>>::from(k.public());
                Jwk {
                    kty: "RSA".into(),
                    kid,
                    n: Some(b64u(&parts.n)),
                    e: Some(b64u(&parts.e)),
                    ..Jwk::default()
                }
            }
        }
    }

    fn sign(&self, alg: &str, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match self {
            Self::Ec(k) => k.sign(&rng, message).expect("sign").as_ref().to_vec(),
            Self::Ed(k) => k.sign(message).as_ref().to_vec(),
            Self::Rsa(k) => {
                let mut sig = vec![0u8; k.public().modulus_len()];
                let padding: &dyn ring::signature::RsaEncoding = if alg == "PS256" {
                    &RSA_PSS_SHA256
                } else {
                    &RSA_PKCS1_SHA256
                };
                k.sign(padding, &rng, message, &mut sig).expect("sign");
                sig
            }
        }
    }
}

pub(crate) fn token(
    signer: &Signer,
    header: serde_json::Value,
    payload: serde_json::Value,
) -> String {
    let alg = header["alg"].as_str().unwrap_or("").to_owned();
    let signed = format!(
        "{}.{}",
        b64u(header.to_string().as_bytes()),
        b64u(payload.to_string().as_bytes())
    );
    let sig = signer.sign(&alg, signed.as_bytes());
    format!("{signed}.{}", b64u(&sig))
}

fn payload() -> serde_json::Value {
    json!({"iss": ISSUER, "aud": "https://api.example.test", "sub": "svc-1", "client_id": "app-1",
           "scope": "orders:read orders:write", "exp": NOW + 300, "iat": NOW - 10})
}

fn audiences() -> Vec<String> {
    vec!["https://api.example.test".into()]
}

fn check(keys: &JwtKeys, token: &str) -> Result<JwtClaims, JwtError> {
    let audiences = audiences();
    let policy = JwtPolicy {
        issuer: ISSUER,
        audiences: &audiences,
        leeway: DEFAULT_LEEWAY_SECS,
    };
    verify(keys, &policy, token, NOW)
}

#[test]
fn tokens_of_each_accepted_algorithm_verify_with_their_key() {
    let cases = [
        ("ES256", Signer::ec()),
        ("EdDSA", Signer::ed()),
        ("RS256", Signer::rsa()),
        ("PS256", Signer::rsa()),
    ];
    for (alg, signer) in cases {
        let keys = JwtKeys::new(&[signer.jwk("k1")]);
        let t = token(
            &signer,
            json!({"alg": alg, "kid": "k1", "typ": "at+jwt"}),
            payload(),
        );
        let claims = check(&keys, &t).unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(claims.sub.as_deref(), Some("svc-1"), "{alg}");
        assert_eq!(claims.claim("client_id"), Some("app-1"));
        assert_eq!(claims.scope.as_deref(), Some("orders:read orders:write"));
        assert_eq!(claims.exp, NOW + 300);
    }
}

#[test]
fn every_forged_or_unfit_token_is_refused_with_its_reason() {
    let ec = Signer::ec();
    let other = Signer::ec();
    let ed = Signer::ed();
    let keys = JwtKeys::new(&[ec.jwk("ec"), ed.jwk("ed")]);
    let good = |p: serde_json::Value| token(&ec, json!({"alg": "ES256", "kid": "ec"}), p);
    let with = |k: &str, v: serde_json::Value| {
        let mut p = payload();
        p[k] = v;
        p
    };
    let without = |k: &str| {
        let mut p = payload();
        p.as_object_mut().map(|o| o.remove(k));
        p
    };
    let unsigned = format!(
        "{}.{}.",
        b64u(br#"{"alg":"none"}"#),
        b64u(payload().to_string().as_bytes())
    );
    let hmac = {
        let signed = format!(
            "{}.{}",
            b64u(br#"{"alg":"HS256","kid":"ec"}"#),
            b64u(payload().to_string().as_bytes())
        );
        format!("{signed}.{}", b64u(&[0u8; 32]))
    };
    let tampered = {
        let t = good(payload());
        let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
        parts[1] = b64u(with("sub", json!("admin")).to_string().as_bytes());
        parts.join(".")
    };
    let cases: Vec<(&str, String, JwtError)> = vec![
        ("alg none", unsigned, JwtError::Algorithm),
        ("HMAC with the public key", hmac, JwtError::Algorithm),
        ("tampered payload", tampered, JwtError::Signature),
        (
            "signed by another key with a known kid",
            token(&other, json!({"alg": "ES256", "kid": "ec"}), payload()),
            JwtError::Signature,
        ),
        (
            "unknown kid",
            token(&other, json!({"alg": "ES256", "kid": "new"}), payload()),
            JwtError::UnknownKey,
        ),
        (
            "kid of a key of another type",
            token(&ec, json!({"alg": "EdDSA", "kid": "ec"}), payload()),
            JwtError::AlgorithmMismatch,
        ),
        (
            "wrong issuer",
            good(with("iss", json!("https://evil.example"))),
            JwtError::Issuer,
        ),
        (
            "issuer with a trailing slash",
            good(with("iss", json!(format!("{ISSUER}/")))),
            JwtError::Issuer,
        ),
        (
            "wrong audience",
            good(with("aud", json!("https://other.example"))),
            JwtError::Audience,
        ),
        ("no audience", good(without("aud")), JwtError::Audience),
        (
            "expired beyond the leeway",
            good(with("exp", json!(NOW - DEFAULT_LEEWAY_SECS))),
            JwtError::Expired,
        ),
        ("no exp", good(without("exp")), JwtError::NoExpiry),
        (
            "not yet valid",
            good(with("nbf", json!(NOW + 120))),
            JwtError::NotYetValid,
        ),
        (
            "an ID token",
            token(
                &ec,
                json!({"alg": "ES256", "kid": "ec", "typ": "id_token+jwt"}),
                payload(),
            ),
            JwtError::Type,
        ),
        (
            "a critical extension",
            token(
                &ec,
                json!({"alg": "ES256", "kid": "ec", "crit": ["b64"]}),
                payload(),
            ),
            JwtError::Malformed,
        ),
        (
            "four parts",
            format!("{}.x", good(payload())),
            JwtError::Malformed,
        ),
        ("not base64url", "a+b.c.d".to_owned(), JwtError::Malformed),
        ("too long", "a".repeat(MAX_JWT_LEN + 1), JwtError::TooLong),
    ];
    for (what, t, want) in cases {
        assert_eq!(check(&keys, &t), Err(want), "{what}");
    }
    // Inside the leeway, with an audience list, and without kid when one key fits: accepted.
    assert!(check(&keys, &good(with("exp", json!(NOW - 5)))).is_ok());
    assert!(
        check(
            &keys,
            &good(with("aud", json!(["x", "https://api.example.test"])))
        )
        .is_ok()
    );
    assert!(check(&keys, &token(&ec, json!({"alg": "ES256"}), payload())).is_ok());
}

#[test]
fn a_token_without_kid_is_refused_when_several_keys_could_verify_it() {
    let (a, b) = (Signer::ec(), Signer::ec());
    let keys = JwtKeys::new(&[a.jwk("a"), b.jwk("b")]);
    let t = token(&a, json!({"alg": "ES256"}), payload());
    assert_eq!(check(&keys, &t), Err(JwtError::AmbiguousKey));
}

#[test]
fn unusable_keys_are_named_and_left_out() {
    let ec = Signer::ec().jwk("ec");
    let cases = [
        (
            "short RSA",
            Jwk {
                kty: "RSA".into(),
                n: Some(b64u(&[0xff; 128])),
                e: Some(b64u(&[1, 0, 1])),
                ..Jwk::default()
            },
            "at least 2048",
        ),
        (
            "P-384",
            Jwk {
                crv: Some("P-384".into()),
                ..ec.clone()
            },
            "not accepted",
        ),
        (
            "encryption key",
            Jwk {
                use_: Some("enc".into()),
                ..ec.clone()
            },
            "not for signatures",
        ),
        (
            "HMAC alg on an EC key",
            Jwk {
                alg: Some("HS256".into()),
                ..ec.clone()
            },
            "not accepted",
        ),
        (
            "RS256 alg on an EC key",
            Jwk {
                alg: Some("RS256".into()),
                ..ec.clone()
            },
            "does not match",
        ),
        (
            "symmetric key",
            Jwk {
                kty: "oct".into(),
                ..Jwk::default()
            },
            "not accepted",
        ),
    ];
    for (what, jwk, says) in cases {
        let problem = key_problem(&jwk).unwrap_or_default();
        assert!(problem.contains(says), "{what}: {problem:?}");
        assert!(JwtKeys::new(&[jwk]).is_empty(), "{what}");
    }
    assert_eq!(key_problem(&ec), None);
}

#[test]
fn an_scp_array_is_read_as_the_scope_and_array_claims_join() {
    let ec = Signer::ec();
    let keys = JwtKeys::new(&[ec.jwk("ec")]);
    let mut p = payload();
    p.as_object_mut().map(|o| o.remove("scope"));
    p["scp"] = json!(["a", "b"]);
    p["groups"] = json!(["billing", "ops"]);
    let claims = check(&keys, &token(&ec, json!({"alg": "ES256", "kid": "ec"}), p)).expect("ok");
    assert_eq!(claims.scope.as_deref(), Some("a b"));
    assert_eq!(claims.claim("groups"), Some("billing ops"));
}
