use super::*;
use base64::engine::general_purpose::STANDARD;

fn key(id: &str, byte: u8) -> SigningKey {
    SigningKey {
        id: id.to_string(),
        secret_b64: STANDARD.encode([byte; 32]),
    }
}

fn claims() -> Claims {
    Claims {
        credential_id: [7; 16],
        epoch: 0x0102_0304_0506_0708,
        issued_at: 1_700_000_000,
        expires_at: 1_700_007_200,
        binding: Binding::Plugin(plugin_binding("default/auth", "")),
        scope: "read write".to_string(),
        authenticated_userid: String::new(),
    }
}

fn ring() -> KeyRing {
    KeyRing::new(
        &[key("k2026-01-01", 1), key("k2026-02-01", 2)],
        "k2026-02-01",
    )
    .expect("valid ring")
}

#[test]
fn issued_tokens_open_to_the_same_claims() {
    let ring = ring();
    for c in [
        claims(),
        Claims {
            binding: Binding::Global(crate::token::namespace_binding("default")),
            scope: String::new(),
            expires_at: 0,
            ..claims()
        },
        Claims {
            scope: "s".repeat(MAX_SCOPE_LEN),
            ..claims()
        },
    ] {
        let token = ring.issue(&c, [9; 24]).expect("issues");
        assert!(token.len() <= MAX_TOKEN_LEN, "{}", token.len());
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(ring.open(&token), Ok(c));
    }
}

#[test]
fn tokens_reveal_nothing_readable() {
    let token = ring().issue(&claims(), [9; 24]).expect("issues");
    let raw = URL_SAFE_NO_PAD.decode(&token).expect("base64");
    let haystack = String::from_utf8_lossy(&raw);
    assert!(!haystack.contains("read write"));
    assert!(!raw.windows(16).any(|w| w == [7; 16]));
}

#[test]
fn any_listed_key_opens_and_only_the_active_key_issues() {
    let old = KeyRing::new(&[key("k2026-01-01", 1)], "k2026-01-01").expect("ring");
    let old_token = old.issue(&claims(), [1; 24]).expect("issues");
    let rotated = ring();
    assert_eq!(rotated.active_key_id(), "k2026-02-01");
    assert_eq!(rotated.open(&old_token), Ok(claims()));
    let new_token = rotated.issue(&claims(), [1; 24]).expect("issues");
    assert_eq!(old.open(&new_token), Err(TokenError::UnknownKey));
}

#[test]
fn same_key_id_with_other_material_fails_authentication() {
    let a = KeyRing::new(&[key("k", 1)], "k").expect("ring");
    let b = KeyRing::new(&[key("k", 2)], "k").expect("ring");
    let token = a.issue(&claims(), [3; 24]).expect("issues");
    assert_eq!(b.open(&token), Err(TokenError::BadTag));
}

#[test]
fn tampered_truncated_or_extended_tokens_are_refused() {
    let ring = ring();
    let token = ring.issue(&claims(), [5; 24]).expect("issues");
    let raw = URL_SAFE_NO_PAD.decode(&token).expect("base64");
    // Flip every byte in turn: each must fail (header bytes change the key id or version).
    for i in 0..raw.len() {
        let mut t = raw.clone();
        t[i] ^= 0x01;
        assert!(
            ring.open(&URL_SAFE_NO_PAD.encode(&t)).is_err(),
            "flipped byte {i}"
        );
    }
    for cut in 0..raw.len() {
        assert!(
            ring.open(&URL_SAFE_NO_PAD.encode(&raw[..cut])).is_err(),
            "truncated to {cut}"
        );
    }
    let mut longer = raw.clone();
    longer.push(0);
    assert!(ring.open(&URL_SAFE_NO_PAD.encode(&longer)).is_err());
}

#[test]
fn malformed_inputs_give_precise_errors() {
    let ring = ring();
    let cases: &[(&str, TokenError)] = &[
        ("", TokenError::Malformed),
        ("a b", TokenError::Encoding),
        ("abc+/", TokenError::Encoding),
        ("abc=", TokenError::Encoding),
        ("A", TokenError::Encoding),
        ("BAA", TokenError::Version),
        // Version 1 tokens (before namespaces and incarnations) are no longer accepted.
        ("AQA", TokenError::Version),
        ("Ag", TokenError::Malformed),
    ];
    for (input, want) in cases {
        assert_eq!(ring.open(input).as_ref().err(), Some(want), "{input:?}");
    }
    assert_eq!(
        ring.open(&"A".repeat(MAX_TOKEN_LEN + 1)),
        Err(TokenError::TooLong)
    );
}

#[test]
fn open_never_panics_on_random_input() {
    let ring = ring();
    let valid = URL_SAFE_NO_PAD
        .decode(ring.issue(&claims(), [8; 24]).expect("issues"))
        .expect("b64");
    let mut state: u64 = 0x1234_5678_9abc_def1;
    let mut opened = 0;
    for round in 0..20_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let mut bytes = if round % 2 == 0 {
            valid.clone()
        } else {
            Vec::new()
        };
        let len = (state % 200) as usize;
        bytes.truncate(len);
        for i in 0..(state % 5) as usize {
            let pos = (state >> (i * 8)) as usize % (bytes.len() + 1);
            bytes.insert(pos, (state >> (i * 5)) as u8);
        }
        if ring.open(&URL_SAFE_NO_PAD.encode(&bytes)).is_ok() {
            opened += 1;
        }
    }
    // Only untouched full-length copies of the valid token may open (random bytes never do).
    assert!(opened <= 20_000 / 2);
}

#[test]
fn key_ring_refuses_bad_keys() {
    let cases: Vec<(Vec<SigningKey>, &str, TokenError)> = vec![
        (
            vec![key("bad id", 1)],
            "bad id",
            TokenError::KeyId("bad id".into()),
        ),
        (vec![key("", 1)], "", TokenError::KeyId(String::new())),
        (
            vec![key(&"k".repeat(65), 1)],
            "k",
            TokenError::KeyId("k".repeat(65)),
        ),
        (
            vec![SigningKey {
                id: "short".into(),
                secret_b64: STANDARD.encode([1; 31]),
            }],
            "short",
            TokenError::KeyMaterial("short".into()),
        ),
        (
            vec![SigningKey {
                id: "nb64".into(),
                secret_b64: "!!!".into(),
            }],
            "nb64",
            TokenError::KeyMaterial("nb64".into()),
        ),
        (
            vec![key("a", 1), key("a", 2)],
            "a",
            TokenError::DuplicateKey("a".into()),
        ),
        (vec![key("a", 1)], "b", TokenError::NoActiveKey("b".into())),
    ];
    for (keys, active, want) in cases {
        assert_eq!(
            KeyRing::new(&keys, active).err(),
            Some(want.clone()),
            "{want}"
        );
    }
}

#[test]
fn debug_of_key_ring_shows_only_key_ids() {
    let shown = format!("{:?}", ring());
    assert!(shown.contains("k2026-01-01"));
    assert!(!shown.contains(&STANDARD.encode([1u8; 32])));
}

#[test]
fn oversized_scope_is_refused_at_issue() {
    let c = Claims {
        scope: "s".repeat(MAX_SCOPE_LEN + 1),
        ..claims()
    };
    assert_eq!(ring().issue(&c, [0; 24]), Err(TokenError::ScopeTooLong));
}

#[test]
fn expiry_zero_never_expires() {
    let c = Claims {
        expires_at: 0,
        ..claims()
    };
    assert!(!c.is_expired(u64::MAX));
    let c = claims();
    assert!(!c.is_expired(c.expires_at - 1));
    assert!(c.is_expired(c.expires_at));
}

#[test]
fn plugin_bindings_differ_per_plugin() {
    assert_eq!(plugin_binding("ns/a", ""), plugin_binding("ns/a", ""));
    assert_ne!(plugin_binding("ns/a", ""), plugin_binding("ns/b", ""));
}

/// Cost of issuing and opening a token. Run with
/// `cargo test -p tollgate-core --release -- --ignored --nocapture token_cost`.
#[test]
#[ignore]
fn token_cost_is_printed() {
    let ring = ring();
    let c = claims();
    let n: u32 = 200_000;
    let start = std::time::Instant::now();
    let mut last = String::new();
    for i in 0..n {
        let mut nonce = [0u8; 24];
        nonce[..4].copy_from_slice(&i.to_be_bytes());
        last = ring.issue(&c, nonce).expect("issues");
    }
    let issue = start.elapsed() / n;
    let start = std::time::Instant::now();
    let mut ok = 0u32;
    for _ in 0..n {
        ok += u32::from(ring.open(&last).is_ok());
    }
    let open = start.elapsed() / n;
    // Peer measured in the same run (the machine is shared, so absolute numbers drift): an
    // HMAC-SHA256 over the same number of bytes, the floor any token check is measured against.
    use hmac::{Hmac, Mac};
    let raw = URL_SAFE_NO_PAD.decode(&last).expect("b64");
    let start = std::time::Instant::now();
    let mut acc = 0u8;
    for _ in 0..n {
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&[1u8; 32]).expect("key");
        mac.update(&raw);
        acc ^= mac.finalize().into_bytes()[0];
    }
    let hmac = start.elapsed() / n;
    println!(
        "token issue: {} ns/op, open: {} ns/op, length {} chars; HMAC-SHA256 of the same bytes: {} ns/op (open/HMAC = {:.1}x) [{acc}]",
        issue.as_nanos(),
        open.as_nanos(),
        last.len(),
        hmac.as_nanos(),
        open.as_nanos() as f64 / hmac.as_nanos().max(1) as f64
    );
    assert_eq!(ok, n);
}

fn jwt_fields() -> crate::access_jwt::JwtFields<'static> {
    crate::access_jwt::JwtFields {
        issuer: "https://gw.example/auth",
        client_id: "client",
        jti: "0123456789abcdef",
    }
}

fn jwt_parts(token: &str) -> (serde_json::Value, serde_json::Value) {
    let mut parts = token.split('.');
    let mut json = || {
        let part = parts.next().expect("part");
        serde_json::from_slice::<serde_json::Value>(&URL_SAFE_NO_PAD.decode(part).expect("b64"))
            .expect("json")
    };
    (json(), json())
}

#[test]
fn jwt_access_tokens_carry_rfc_9068_claims_and_open_to_the_same_claims() {
    let ring = ring();
    let token = ring
        .issue_jwt(&claims(), [9; 24], &jwt_fields())
        .expect("issues");
    let (header, payload) = jwt_parts(&token);
    assert_eq!(
        header,
        serde_json::json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "k2026-02-01"})
    );
    assert_eq!(payload["iss"], "https://gw.example/auth");
    assert_eq!(payload["aud"], "https://gw.example/auth");
    assert_eq!(payload["sub"], "client");
    assert_eq!(payload["client_id"], "client");
    assert_eq!(payload["scope"], "read write");
    assert_eq!(payload["jti"], "0123456789abcdef");
    assert_eq!(payload["iat"], 1_700_000_000u64);
    assert_eq!(payload["exp"], 1_700_007_200u64);
    assert_eq!(ring.open(&token), Ok(claims()));

    // A token that never expires has no exp, and still opens.
    let forever = Claims {
        expires_at: 0,
        scope: String::new(),
        ..claims()
    };
    let token = ring
        .issue_jwt(&forever, [9; 24], &jwt_fields())
        .expect("issues");
    let (_, payload) = jwt_parts(&token);
    assert!(payload.get("exp").is_none() && payload.get("scope").is_none());
    assert_eq!(ring.open(&token), Ok(forever));
}

#[test]
fn a_jwt_with_any_part_changed_or_another_alg_is_refused() {
    let ring = ring();
    let token = ring
        .issue_jwt(&claims(), [9; 24], &jwt_fields())
        .expect("issues");
    let parts: Vec<&str> = token.split('.').collect();
    let encode = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let (header, mut payload) = jwt_parts(&token);
    payload["scope"] = "admin".into();
    let mut later = payload.clone();
    later["scope"] = "read write".into();
    later["exp"] = 1_900_000_000u64.into();
    let cases = [
        (
            "payload changed",
            format!("{}.{}.{}", parts[0], encode(payload), parts[2]),
        ),
        (
            "alg none",
            format!(
                "{}.{}.",
                encode(serde_json::json!({"alg": "none", "typ": "at+jwt", "kid": "k2026-02-01"})),
                parts[1]
            ),
        ),
        (
            "HMAC",
            format!(
                "{}.{}.{}",
                encode(serde_json::json!({"alg": "HS256", "typ": "at+jwt", "kid": "k2026-02-01"})),
                parts[1],
                parts[2]
            ),
        ),
        (
            "another typ",
            format!(
                "{}.{}.{}",
                encode(serde_json::json!({"alg": "EdDSA", "typ": "JWT", "kid": "k2026-02-01"})),
                parts[1],
                parts[2]
            ),
        ),
        (
            "signature cut",
            format!("{}.{}.{}", parts[0], parts[1], &parts[2][..20]),
        ),
        ("four parts", format!("{token}.x")),
        (
            "extended exp",
            format!("{}.{}.{}", parts[0], encode(later), parts[2]),
        ),
    ];
    for (case, forged) in cases {
        assert!(ring.open(&forged).is_err(), "{case}");
    }
    let unknown_kid = format!(
        "{}.{}.{}",
        encode(serde_json::json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "other"})),
        parts[1],
        parts[2]
    );
    assert_eq!(ring.open(&unknown_kid), Err(TokenError::UnknownKey));
    let _ = header;
}

#[test]
fn a_rotated_out_key_still_verifies_its_jwts_until_it_leaves_the_ring() {
    let old = KeyRing::new(&[key("k1", 1)], "k1").expect("ring");
    let token = old
        .issue_jwt(&claims(), [9; 24], &jwt_fields())
        .expect("issues");
    let rotated = KeyRing::new(&[key("k1", 1), key("k2", 2)], "k2").expect("ring");
    assert_eq!(rotated.open(&token), Ok(claims()));
    let (header, _) = jwt_parts(
        &rotated
            .issue_jwt(&claims(), [9; 24], &jwt_fields())
            .expect("issues"),
    );
    assert_eq!(header["kid"], "k2");
    let jwks: serde_json::Value = serde_json::from_slice(&rotated.jwks()).expect("json");
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().expect("kid"))
        .collect();
    assert_eq!(kids, ["k2", "k1"], "the active key first");
    assert_eq!(jwks["keys"][0]["kty"], "OKP");
    assert_eq!(jwks["keys"][0]["crv"], "Ed25519");
    let gone = KeyRing::new(&[key("k2", 2)], "k2").expect("ring");
    assert_eq!(gone.open(&token), Err(TokenError::UnknownKey));
    // The same key id with other material: the signature fails.
    let impostor = KeyRing::new(&[key("k1", 3)], "k1").expect("ring");
    assert_eq!(impostor.open(&token), Err(TokenError::BadTag));
}

#[test]
fn a_token_carries_the_authenticated_user_and_version_2_tokens_still_open() {
    let ring = ring();
    let with_user = Claims {
        authenticated_userid: "user-42@example".into(),
        ..claims()
    };
    let token = ring.issue(&with_user, [9; 24]).expect("issues");
    assert_eq!(ring.open(&token), Ok(with_user.clone()));
    let too_long = Claims {
        authenticated_userid: "u".repeat(MAX_USERID_LEN + 1),
        ..claims()
    };
    assert_eq!(
        ring.issue(&too_long, [9; 24]),
        Err(TokenError::UserIdTooLong)
    );

    // A version 2 token (before the user id) opens, with no user.
    let material = [2u8; 32];
    let cipher = derive_cipher(&material, KEY_LABEL).expect("cipher");
    let c = claims();
    let kid = b"k2026-02-01";
    let mut raw = vec![2, u8::try_from(kid.len()).expect("short")];
    raw.extend_from_slice(kid);
    let header_len = raw.len();
    raw.extend_from_slice(&[5; 24]);
    let body_start = raw.len();
    raw.extend_from_slice(&c.credential_id);
    raw.extend_from_slice(&c.epoch.to_be_bytes());
    raw.extend_from_slice(&c.issued_at.to_be_bytes());
    raw.extend_from_slice(&c.expires_at.to_be_bytes());
    let Binding::Plugin(id) = c.binding else {
        panic!("the fixture is plugin-bound")
    };
    raw.push(1);
    raw.extend_from_slice(&id);
    raw.extend_from_slice(&u16::try_from(c.scope.len()).expect("short").to_be_bytes());
    raw.extend_from_slice(c.scope.as_bytes());
    let (head, body) = raw.split_at_mut(body_start);
    let tag = cipher
        .encrypt_in_place_detached(XNonce::from_slice(&[5; 24]), &head[..header_len], body)
        .expect("encrypts");
    raw.extend_from_slice(&tag);
    assert_eq!(ring.open(&URL_SAFE_NO_PAD.encode(&raw)), Ok(c));
}

#[test]
fn a_token_and_the_jwt_carrying_it_share_one_id_drawn_from_the_nonce() {
    let ring = ring();
    let opaque = ring.issue(&claims(), [9; 24]).expect("issues");
    let jwt = ring
        .issue_jwt(&claims(), [9; 24], &jwt_fields())
        .expect("issues");
    let expected = crate::revocation::token_id(&[9; 24]);
    assert_eq!(ring.open_with_id(&opaque), Ok((claims(), expected)));
    assert_eq!(ring.open_with_id(&jwt), Ok((claims(), expected)));
    let another = ring.issue(&claims(), [8; 24]).expect("issues");
    assert_ne!(ring.open_with_id(&another).expect("opens").1, expected);
}

/// Access tokens issued (key `k2026-02-01` of bytes 2, nonce of bytes 9) before the codes,
/// refresh tokens and access tokens shared one field writer and reader: the format must never
/// move, or every token out there stops verifying.
const PINNED_PLUGIN: &str = "AwtrMjAyNi0wMi0wMQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCcxW7Py4jiHb-W3mO25mfipjE1qCmop8JzM6S1c87uRbqgnGgQQ8RoSOD9h2iE8mxPSDVi5FXAdEFjzNfS96yJ9Fdbti0vLTQDy7gxyo9w";
const PINNED_GLOBAL_WITH_USER: &str = "AwtrMjAyNi0wMi0wMQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCcxW7Py4jiHb-W3mO25mfipjE1qCmop8JzM6S1c87uRbqgnGgQQ8RoSP5kuKkwwoRUuDVi5FXAdEFjzNfS9_F0pNzP_1QurEpcjN00cN3O0xljJ-";

#[test]
fn a_token_issued_by_an_earlier_version_opens_and_the_same_claims_issue_the_same() {
    let ring = ring();
    let global = Claims {
        binding: Binding::Global(namespace_binding("default")),
        authenticated_userid: "alice".into(),
        ..claims()
    };
    for (claims, pinned) in [(claims(), PINNED_PLUGIN), (global, PINNED_GLOBAL_WITH_USER)] {
        assert_eq!(ring.issue(&claims, [9; 24]).as_deref(), Ok(pinned));
        assert_eq!(ring.open(pinned), Ok(claims));
    }
}
