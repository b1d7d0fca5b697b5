//! Hostile tokens against the verifier: every one is refused with 401 `invalid_token` (never a
//! 500, never a panic), exactly as the proxy decides (`KeyRing::open` then `authenticate`).

use crate::hostile_support;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hostile_support::*;
use http::{HeaderMap, HeaderValue};
use tollgate_core::oauth::{ParamSource, RequestView, TOKEN_GLOBAL, TokenSource, extract_token};
use tollgate_core::snapshot::BearerTokenParamType;
use tollgate_core::token::MAX_TOKEN_LEN;

#[test]
fn the_untampered_token_is_accepted_so_the_refusals_below_mean_something() {
    let snapshot = snapshot();
    let token = issue(&snapshot, GLOBAL_PLUGIN, NOW, 1);
    for at in [GLOBAL_PLUGIN, OIDC_PLUGIN] {
        assert_eq!(
            verify(&snapshot, at, &token, NOW + 10).as_deref(),
            Ok("jane"),
            "{at}"
        );
    }
    let bound = issue(&snapshot, BOUND_PLUGIN, NOW, 2);
    assert_eq!(
        verify(&snapshot, BOUND_PLUGIN, &bound, NOW).as_deref(),
        Ok("jane")
    );
}

#[test]
fn a_token_with_any_character_replaced_is_refused() {
    let mut tally = Tally::new("tokens");
    let snapshot = snapshot();
    let token = issue(&snapshot, GLOBAL_PLUGIN, NOW, 3);
    let alphabet = b"Aa0_-zZ9";
    for (i, original) in token.bytes().enumerate() {
        for &replacement in alphabet.iter().filter(|&&c| c != original).take(2) {
            let mut bytes = token.clone().into_bytes();
            bytes[i] = replacement;
            let tampered = String::from_utf8(bytes).expect("ascii");
            assert_invalid_token(
                &verify(&snapshot, GLOBAL_PLUGIN, &tampered, NOW),
                &format!("char {i}"),
            );
            tally.case();
        }
    }
}

#[test]
fn a_token_with_any_bit_of_its_decoded_bytes_flipped_is_refused() {
    let mut tally = Tally::new("tokens");
    let snapshot = snapshot();
    let raw = URL_SAFE_NO_PAD
        .decode(issue(&snapshot, GLOBAL_PLUGIN, NOW, 4))
        .expect("base64url");
    for i in 0..raw.len() {
        for bit in [0x01u8, 0x80] {
            let mut bytes = raw.clone();
            bytes[i] ^= bit;
            let tampered = URL_SAFE_NO_PAD.encode(&bytes);
            assert_invalid_token(
                &verify(&snapshot, GLOBAL_PLUGIN, &tampered, NOW),
                &format!("byte {i} ^ {bit:#x}"),
            );
            tally.case();
        }
    }
}

#[test]
fn a_token_truncated_at_any_length_or_extended_is_refused() {
    let mut tally = Tally::new("tokens");
    let snapshot = snapshot();
    let token = issue(&snapshot, GLOBAL_PLUGIN, NOW, 5);
    for len in 0..token.len() {
        assert_invalid_token(
            &verify(&snapshot, GLOBAL_PLUGIN, &token[..len], NOW),
            &format!("first {len}"),
        );
        assert_invalid_token(
            &verify(&snapshot, GLOBAL_PLUGIN, &token[len + 1..], NOW),
            &format!("from {len}"),
        );
        tally.add(2);
    }
    let raw = URL_SAFE_NO_PAD.decode(&token).expect("base64url");
    for extra in [&b"\0"[..], b"A", &[0u8; 16]] {
        let longer = URL_SAFE_NO_PAD.encode([raw.as_slice(), extra].concat());
        assert_invalid_token(
            &verify(&snapshot, GLOBAL_PLUGIN, &longer, NOW),
            "trailing bytes",
        );
        tally.case();
    }
}

#[test]
fn tokens_from_unknown_forged_or_retired_keys_are_refused() {
    let mut tally = Tally::new("tokens");
    let snapshot = snapshot();

    // Same key id, other material: a forgery.
    let mut forger = snapshot.clone();
    forger.signing_keys = vec![key(KEY_ID, 43)];
    let forged = issue(&forger, GLOBAL_PLUGIN, NOW, 6);
    assert_invalid_token(
        &verify(&snapshot, GLOBAL_PLUGIN, &forged, NOW),
        "forged with the same key id",
    );

    // A key id the proxy never had.
    let mut stranger = snapshot.clone();
    stranger.signing_keys = vec![key("k-unknown", 42)];
    stranger.active_key = "k-unknown".into();
    let unknown = issue(&stranger, GLOBAL_PLUGIN, NOW, 7);
    assert_invalid_token(
        &verify(&snapshot, GLOBAL_PLUGIN, &unknown, NOW),
        "unknown key id",
    );

    // Rotation: while the old key is listed its tokens verify; once retired they do not.
    let old = issue(&snapshot, GLOBAL_PLUGIN, NOW, 8);
    let mut rotated = snapshot.clone();
    rotated.signing_keys.push(key("k2026-06-01", 44));
    rotated.active_key = "k2026-06-01".into();
    assert_eq!(
        verify(&rotated, GLOBAL_PLUGIN, &old, NOW).as_deref(),
        Ok("jane"),
        "old key still listed"
    );
    let mut retired = rotated.clone();
    retired.signing_keys.retain(|k| k.id != KEY_ID);
    assert_invalid_token(&verify(&retired, GLOBAL_PLUGIN, &old, NOW), "retired key");

    // A key id spelled differently (case, padding) is another key.
    let raw = URL_SAFE_NO_PAD.decode(&old).expect("base64url");
    let mut upper = raw.clone();
    upper[2..2 + KEY_ID.len()].make_ascii_uppercase();
    assert_invalid_token(
        &verify(
            &snapshot,
            GLOBAL_PLUGIN,
            &URL_SAFE_NO_PAD.encode(&upper),
            NOW,
        ),
        "kid case",
    );
    let mut version = raw;
    version[0] = tollgate_core::token::TOKEN_VERSION + 1;
    assert_invalid_token(
        &verify(
            &snapshot,
            GLOBAL_PLUGIN,
            &URL_SAFE_NO_PAD.encode(&version),
            NOW,
        ),
        "version 2",
    );
    tally.add(6);
}

#[test]
fn expired_tokens_are_refused_from_the_second_they_expire() {
    let mut tally = Tally::new("tokens");
    let snapshot = snapshot();
    let token = issue(&snapshot, GLOBAL_PLUGIN, NOW, 9);
    assert!(
        verify(&snapshot, GLOBAL_PLUGIN, &token, NOW + 7199).is_ok(),
        "one second before expiry"
    );
    for now in [NOW + 7200, NOW + 7201, NOW + 86_400 * 365, u64::MAX] {
        assert_invalid_token(
            &verify(&snapshot, GLOBAL_PLUGIN, &token, now),
            &format!("at {now}"),
        );
        tally.case();
    }
}

#[test]
fn tokens_of_a_deleted_credential_or_consumer_or_a_rotated_secret_are_refused() {
    let mut tally = Tally::new("tokens");
    let snapshot = snapshot();
    let token = issue(&snapshot, GLOBAL_PLUGIN, NOW, 10);

    let mut deleted = snapshot.clone();
    deleted.credentials.clear();
    assert_invalid_token(
        &verify(&deleted, GLOBAL_PLUGIN, &token, NOW),
        "credential deleted",
    );

    let mut rotated = snapshot.clone();
    rotated.credentials[0].secret_verifier = Some(demo_verifier("new-secret"));
    assert_invalid_token(
        &verify(&rotated, GLOBAL_PLUGIN, &token, NOW),
        "secret rotated",
    );

    let mut recreated = snapshot.clone();
    recreated.credentials[0].id = tollgate_core::ids::credential_id("default", "demo-2");
    assert_invalid_token(
        &verify(&recreated, GLOBAL_PLUGIN, &token, NOW),
        "credential re-created under a new id",
    );

    let mut orphaned = snapshot.clone();
    orphaned.consumers.clear();
    assert_invalid_token(
        &verify(&orphaned, GLOBAL_PLUGIN, &token, NOW),
        "consumer deleted",
    );
    tally.add(4);
}

#[test]
fn a_non_global_token_is_refused_by_every_plugin_but_its_issuer() {
    let mut tally = Tally::new("tokens");
    let snapshot = snapshot();
    let bound = issue(&snapshot, BOUND_PLUGIN, NOW, 11);
    for at in [OTHER_BOUND_PLUGIN, GLOBAL_PLUGIN, OIDC_PLUGIN] {
        assert_invalid_token(
            &verify(&snapshot, at, &bound, NOW),
            &format!("bound token at {at}"),
        );
        tally.case();
    }
    // And a global token at an oauth2 plugin without global_credentials, with Kong's text.
    let global = issue(&snapshot, GLOBAL_PLUGIN, NOW, 12);
    let result = verify(&snapshot, BOUND_PLUGIN, &global, NOW);
    assert_invalid_token(&result, "global token at a bound plugin");
    assert_eq!(
        result.err().map(|e| e.description),
        Some(TOKEN_GLOBAL.to_owned())
    );
    tally.case();
}

#[test]
fn empty_huge_non_ascii_and_malformed_tokens_are_refused_without_panicking() {
    let mut tally = Tally::new("tokens");
    let snapshot = snapshot();
    let valid = issue(&snapshot, GLOBAL_PLUGIN, NOW, 13);
    let long_valid_prefix = format!("{valid}{}", "A".repeat(MAX_TOKEN_LEN));
    let cases: Vec<String> = vec![
        String::new(),
        " ".into(),
        "A".into(),
        "AQ".into(),
        "=".into(),
        "null".into(),
        "Bearer".into(),
        format!("{valid}="),
        format!("{valid}=="),
        format!(" {valid}"),
        format!("{valid}\t"),
        format!("{valid}.{valid}"),
        valid.replace('-', "+").replace('_', "/"),
        "A".repeat(MAX_TOKEN_LEN),
        "A".repeat(MAX_TOKEN_LEN + 1),
        "A".repeat(1 << 20),
        long_valid_prefix,
        "é".repeat(100),
        "\u{1F600}".into(),
        format!("{valid}\u{00A0}"),
        "\u{202E}".repeat(10),
        "%41%42".into(),
        "\0\0\0".into(),
        "AQ".repeat(300),
        URL_SAFE_NO_PAD.encode([1u8, 255]),
        URL_SAFE_NO_PAD.encode([1u8, 11]),
        URL_SAFE_NO_PAD.encode([[1u8, 11].as_slice(), KEY_ID.as_bytes()].concat()),
        URL_SAFE_NO_PAD.encode([[1u8, 0].as_slice(), &[0u8; 80]].concat()),
    ];
    for (i, token) in cases.iter().enumerate().filter(|(_, t)| **t != valid) {
        assert_invalid_token(
            &verify(&snapshot, GLOBAL_PLUGIN, token, NOW),
            &format!("case {i} ({} chars)", token.len()),
        );
        tally.case();
    }
}

#[test]
fn a_malformed_bearer_header_is_an_invalid_token_not_a_missing_one() {
    let mut tally = Tally::new("tokens");
    let snapshot = snapshot();
    let types = [BearerTokenParamType::Header];
    let sources = [
        (
            "openid-connect",
            ParamSource::OpenIdConnect { types: &types },
        ),
        (
            "oauth2",
            ParamSource::OAuth2 {
                auth_header_name: "authorization",
            },
        ),
    ];
    // Header values a client can send that are not visible ASCII: obs-text bytes (UTF-8 é,
    // an emoji, Latin-1) and a lone high byte.
    let values: [&[u8]; 4] = [
        b"Bearer \xc3\xa9\xc3\xa9",
        b"Bearer \xf0\x9f\x98\x80",
        b"Bearer caf\xe9",
        b"Bearer \x80",
    ];
    for (name, source) in sources {
        for value in values {
            let mut headers = HeaderMap::new();
            headers.insert(
                "authorization",
                HeaderValue::from_bytes(value).expect("obs-text is a valid header value"),
            );
            let view = RequestView {
                method: "GET",
                headers: &headers,
                query: None,
                body: None,
            };
            let found = extract_token(source, &view);
            let case = format!("{name}: {}", String::from_utf8_lossy(value));
            let TokenSource::Found { token, .. } = found else {
                panic!(
                    "{case}: reported as missing, so the client gets `invalid_request` instead of `invalid_token`"
                );
            };
            assert_invalid_token(&verify(&snapshot, GLOBAL_PLUGIN, &token, NOW), &case);
            tally.case();
        }
    }
}
