use super::*;
use crate::fixtures;
use crate::snapshot::SigningKey;

fn ring(keys: &[(&str, u8)], active: &str) -> KeyRing {
    use base64::engine::general_purpose::STANDARD;
    let keys: Vec<SigningKey> = keys
        .iter()
        .map(|(id, byte)| SigningKey {
            id: (*id).into(),
            secret_b64: STANDARD.encode([*byte; 32]),
        })
        .collect();
    KeyRing::new(&keys, active).expect("ring")
}

fn claims() -> CodeClaims {
    CodeClaims {
        id: [7; 16],
        plugin: [1; 8],
        credential_id: [2; 16],
        epoch: 99,
        issued_at: 1_000,
        expires_at: 1_060,
        redirect_uri_hash: redirect_uri_hash("https://app.example/cb"),
        scope: "read write".into(),
        authenticated_userid: "alice".into(),
        challenge: Some(Challenge {
            method: ChallengeMethod::S256,
            value: "ngF5GsXcbwljx6u133FFr3Xht9xooA_DuaX_3QwODtc".into(),
        }),
    }
}

#[test]
fn a_sealed_code_opens_to_the_same_claims_and_reveals_none_of_them() {
    let ring = ring(&[("k1", 1)], "k1");
    let code = claims().seal(&ring, [5; 24]).expect("sealed");
    assert!(code.len() < 300, "short enough for a URL: {}", code.len());
    assert!(!code.contains("alice") && !code.contains("read"));
    assert_eq!(CodeClaims::open(&ring, &code), Ok(claims()));

    let mut plain = claims();
    plain.challenge = Some(Challenge {
        method: ChallengeMethod::Plain,
        value: "a".repeat(128),
    });
    plain.scope.clear();
    plain.authenticated_userid = "u".repeat(255);
    let code = plain.seal(&ring, [6; 24]).expect("sealed");
    assert_eq!(CodeClaims::open(&ring, &code), Ok(plain.clone()));
    plain.challenge = None;
    let code = plain.seal(&ring, [6; 24]).expect("sealed");
    assert_eq!(CodeClaims::open(&ring, &code), Ok(plain));
}

#[test]
fn a_code_and_an_access_token_never_open_as_each_other() {
    let ring = ring(&[("k1", 1)], "k1");
    let code = claims().seal(&ring, [5; 24]).expect("sealed");
    assert!(ring.open(&code).is_err(), "a code is not an access token");
    let token_claims = crate::token::Claims {
        credential_id: [2; 16],
        epoch: 99,
        issued_at: 1_000,
        expires_at: 0,
        binding: crate::token::Binding::Plugin([1; 8]),
        scope: String::new(),
        authenticated_userid: String::new(),
    };
    let token = ring.issue(&token_claims, [5; 24]).expect("token");
    assert_eq!(
        CodeClaims::open(&ring, &token),
        Err(TokenError::Version),
        "a token is not a code"
    );
}

#[test]
fn a_changed_unknown_or_oversized_code_is_refused() {
    let ring1 = ring(&[("k1", 1)], "k1");
    let code = claims().seal(&ring1, [5; 24]).expect("sealed");
    // Every single-character change is caught (the tag covers header, nonce and body).
    for i in 0..code.len() {
        let mut bytes = code.clone().into_bytes();
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let changed = String::from_utf8(bytes).expect("ascii");
        if changed != code {
            assert!(CodeClaims::open(&ring1, &changed).is_err(), "position {i}");
        }
    }
    assert!(CodeClaims::open(&ring1, &code[..code.len() - 1]).is_err());
    assert_eq!(
        CodeClaims::open(&ring1, "not a code!"),
        Err(TokenError::Encoding)
    );
    assert_eq!(
        CodeClaims::open(&ring1, &"A".repeat(MAX_CODE_LEN + 1)),
        Err(TokenError::TooLong)
    );
    assert_eq!(CodeClaims::open(&ring1, ""), Err(TokenError::Malformed));
    // Another gateway's keys, even under the same key id, open nothing.
    let other = ring(&[("k1", 9)], "k1");
    assert_eq!(CodeClaims::open(&other, &code), Err(TokenError::BadTag));
    let unknown = ring(&[("k2", 1)], "k2");
    assert_eq!(
        CodeClaims::open(&unknown, &code),
        Err(TokenError::UnknownKey)
    );
    // A key rotated out of the active role still opens its codes while it is listed.
    let rotated = ring(&[("k2", 2), ("k1", 1)], "k2");
    assert_eq!(CodeClaims::open(&rotated, &code), Ok(claims()));
}

fn config(pkce: Pkce) -> OAuth2Config {
    OAuth2Config {
        enable_authorization_code: true,
        pkce,
        ..fixtures::oauth2_config()
    }
}

const VERIFIER: &str = "dBjftJeZ4CVP-mJ92K27uhbUJU1p1r_wW1gFWFOEjXk";
/// BASE64URL(SHA-256) of [`VERIFIER`].
const S256: &str = "ngF5GsXcbwljx6u133FFr3Xht9xooA_DuaX_3QwODtc";

#[test]
fn the_challenge_rules_follow_the_pkce_mode_and_the_client_type() {
    use ClientType::{Confidential, Public};
    let s256 = || {
        Some(Challenge {
            method: ChallengeMethod::S256,
            value: S256.into(),
        })
    };
    let plain = || {
        Some(Challenge {
            method: ChallengeMethod::Plain,
            value: VERIFIER.into(),
        })
    };
    type Case<'a> = (
        Pkce,
        ClientType,
        Option<&'a str>,
        Option<&'a str>,
        Result<Option<Challenge>, &'a str>,
    );
    let spaced = "a b".repeat(20);
    let cases: Vec<Case<'_>> = vec![
        (Pkce::Lax, Confidential, None, None, Ok(None)),
        (Pkce::None, Confidential, None, None, Ok(None)),
        (
            Pkce::Strict,
            Confidential,
            None,
            None,
            Err("code_challenge is required for confidential clients"),
        ),
        (
            Pkce::Lax,
            Public,
            None,
            None,
            Err("code_challenge is required for public clients"),
        ),
        (
            Pkce::None,
            Public,
            None,
            None,
            Err("code_challenge is required for public clients"),
        ),
        (Pkce::Strict, Public, Some(S256), Some("S256"), Ok(s256())),
        (
            Pkce::Lax,
            Confidential,
            Some(S256),
            Some("S256"),
            Ok(s256()),
        ),
        (
            Pkce::Lax,
            Public,
            Some(VERIFIER),
            Some("plain"),
            Ok(plain()),
        ),
        // RFC 7636 §4.3: no method means plain.
        (Pkce::Lax, Public, Some(VERIFIER), None, Ok(plain())),
        (
            Pkce::Strict,
            Confidential,
            Some(VERIFIER),
            Some("plain"),
            Err("code_challenge_method is not supported, must be S256"),
        ),
        (
            Pkce::Strict,
            Confidential,
            Some(S256),
            None,
            Err("code_challenge_method is not supported, must be S256"),
        ),
        (
            Pkce::Lax,
            Public,
            Some(S256),
            Some("S512"),
            Err("code_challenge_method is not supported, must be S256"),
        ),
        (
            Pkce::Lax,
            Public,
            None,
            Some("S256"),
            Err("code_challenge is required when code_challenge_method is present"),
        ),
        (
            Pkce::Lax,
            Public,
            Some("short"),
            Some("S256"),
            Err(
                "code_challenge must be 43 to 128 characters of A-Z, a-z, 0-9, '-', '.', '_' and '~'",
            ),
        ),
        (
            Pkce::Lax,
            Public,
            Some(&spaced),
            Some("plain"),
            Err(
                "code_challenge must be 43 to 128 characters of A-Z, a-z, 0-9, '-', '.', '_' and '~'",
            ),
        ),
    ];
    for (i, (pkce, client, challenge, method, want)) in cases.into_iter().enumerate() {
        let got = check_challenge(&config(pkce), client, challenge, method);
        match want {
            Ok(want) => assert_eq!(got, Ok(want), "case {i}"),
            Err(description) => {
                let error = got.expect_err(description);
                assert_eq!(
                    (error.status, error.error, error.description.as_str()),
                    (400, "invalid_request", description),
                    "case {i}"
                );
            }
        }
    }
}

#[test]
fn the_verifier_must_match_the_challenge_of_the_code() {
    use ClientType::{Confidential, Public};
    let with = |challenge: Option<Challenge>| CodeClaims {
        challenge,
        ..claims()
    };
    let s256 = with(Some(Challenge {
        method: ChallengeMethod::S256,
        value: S256.into(),
    }));
    let plain = with(Some(Challenge {
        method: ChallengeMethod::Plain,
        value: VERIFIER.into(),
    }));
    let none = with(None);
    let lax = config(Pkce::Lax);
    let strict = config(Pkce::Strict);
    let other = "x".repeat(43);
    type Case<'a> = (
        &'a OAuth2Config,
        ClientType,
        &'a CodeClaims,
        Option<&'a str>,
        Option<(&'a str, &'a str)>,
    );
    let cases: Vec<Case<'_>> = vec![
        (&lax, Public, &s256, Some(VERIFIER), None),
        (&strict, Confidential, &s256, Some(VERIFIER), None),
        (&lax, Confidential, &plain, Some(VERIFIER), None),
        (&lax, Confidential, &none, None, None),
        (
            &lax,
            Public,
            &s256,
            None,
            Some((
                "invalid_request",
                "code_verifier is required for PKCE authorization requests",
            )),
        ),
        (
            &lax,
            Confidential,
            &s256,
            None,
            Some((
                "invalid_request",
                "code_verifier is required for PKCE authorization requests",
            )),
        ),
        (
            &lax,
            Public,
            &s256,
            Some("too-short"),
            Some((
                "invalid_request",
                "code_verifier must be between 43 and 128 characters",
            )),
        ),
        (
            &lax,
            Public,
            &s256,
            Some(&other),
            Some(("invalid_grant", "Invalid code")),
        ),
        // A plain challenge is not the S256 of the verifier, and the other way round.
        (
            &lax,
            Public,
            &plain,
            Some(&other),
            Some(("invalid_grant", "Invalid code")),
        ),
        // A verifier for a code issued without a challenge: a downgrade, refused.
        (
            &lax,
            Confidential,
            &none,
            Some(VERIFIER),
            Some(("invalid_grant", "Invalid code")),
        ),
        // The mode became strict after the code was issued without a challenge.
        (
            &strict,
            Confidential,
            &none,
            None,
            Some((
                "invalid_request",
                "code_verifier is required for PKCE authorization requests",
            )),
        ),
    ];
    for (i, (config, client, code, verifier, want)) in cases.into_iter().enumerate() {
        let got = check_verifier(config, client, code, verifier);
        match want {
            None => assert_eq!(got, Ok(()), "case {i}"),
            Some((error, description)) => {
                let refused = got.expect_err(description);
                assert_eq!(
                    (refused.status, refused.error, refused.description.as_str()),
                    (400, error, description),
                    "case {i}"
                );
            }
        }
    }
}

/// Codes sealed (key `k1` of bytes 1, nonce of bytes 5) before the codes, refresh tokens and
/// access tokens shared one field writer and reader: the format must never move, or codes in
/// flight stop opening.
const PINNED_S256: &str = "QwJrMQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBf2X8HUyNKy2w3s0bLABBzt_5z5PYFoMkI0du-x7gEgqDvrSYVEbfp9X1rqKCgTmQXn75QlbmNxkNhMJxbwV2VsbERnlm_51_u17Ty1_t0g6OXq4_hL6A8fxV24F9LAlvqiUphrRiH0OQxDQdrCWvQNGvkbKckg1wCqNgSlXz_iBhoKx-MwQxT5u6X3ZNz786_nBWovTpIeFiifS4L9YNg";
const PINNED_WITHOUT_CHALLENGE: &str = "QwJrMQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBf2X8HUyNKy2w3s0bLABBzt_5z5PYFoMkI0du-x7gEgqDvrSYVEbfp9X1rqKCgTmQXn75QlbmNxkNhMJxbwV2VsbERnlm_51_u17Ty1_t0g6OXq4_hL6A8fxV24F9LAlvqiUpPIGw10aQQ4RguUZtupSo-4";

#[test]
fn a_code_sealed_by_an_earlier_version_opens_and_the_same_claims_seal_the_same() {
    let ring = ring(&[("k1", 1)], "k1");
    let mut plain = claims();
    plain.challenge = None;
    for (claims, pinned) in [(claims(), PINNED_S256), (plain, PINNED_WITHOUT_CHALLENGE)] {
        assert_eq!(claims.seal(&ring, [5; 24]).as_deref(), Ok(pinned));
        assert_eq!(CodeClaims::open(&ring, pinned), Ok(claims));
    }
}
