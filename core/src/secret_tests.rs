use super::*;

/// Made with Python's `hashlib.pbkdf2_hmac("sha512", b"secret", bytes(range(16)), i, l)`: an
/// independent implementation, in Kong's PHC layout (standard base64, no padding).
const KONG_PBKDF2: &str = "$pbkdf2-sha512$i=10000,l=32$AAECAwQFBgcICQoLDA0ODw$s1qOkFay1DbcR0sablkjBgtOqf1IcoQVkkK1uzR9LdU";
const PBKDF2_OTHER_PARAMS: &str = "$pbkdf2-sha512$i=1000,l=64$AAECAwQFBgcICQoLDA0ODw$8ltlLe5cI6KNrWOmMFkTi2iE7fEXJKJJR9lhjd/xSn68+xOqzv2h20C4IDv/enqlx8f6AaRHE+6XnvHKXKhAjA";
/// `hashlib.sha256(bytes(range(16)) + b"secret")`.
const SHA256_VECTOR: &str =
    "$sha256$AAECAwQFBgcICQoLDA0ODw$Z1V8DYYXnEUZnwlthbeusrizS/QjxAO6UX9yvMWRPEw";

#[test]
fn verifiers_made_elsewhere_accept_the_secret_and_nothing_else() {
    for verifier in [KONG_PBKDF2, PBKDF2_OTHER_PARAMS, SHA256_VECTOR] {
        let v = Verifier::parse(verifier).expect(verifier);
        assert!(v.verify(b"secret"), "{verifier}");
        for wrong in [&b""[..], b"Secret", b"secret ", b"secre", b"secret\0x"] {
            assert!(!v.verify(wrong), "{verifier} accepted {wrong:?}");
        }
    }
    // PBKDF2-HMAC zero-pads short keys, so `secret\0` equals `secret` there (inherent to HMAC,
    // as in Kong); the SHA-256 verifier has no such equivalence.
    let sha = Verifier::parse(SHA256_VECTOR).expect("parses");
    assert!(!sha.verify(b"secret\0"));
}

#[test]
fn argon2id_hash_round_trips_and_is_a_standard_phc_string() {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    let salt = deterministic_salt("0b5b1f2e-0000-5000-8000-000000000001");
    let phc = hash_argon2id(b"secret", &salt).expect("hashes");
    assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
    let v = Verifier::parse(&phc).expect("parses");
    assert!(v.is_expensive());
    assert!(v.verify(b"secret"));
    assert!(!v.verify(b"secreT"));
    // The argon2 crate's own PHC parser and verifier agree (independent encoding check).
    let parsed = PasswordHash::new(&phc).expect("standard PHC");
    assert!(
        argon2::Argon2::default()
            .verify_password(b"secret", &parsed)
            .is_ok()
    );
}

#[test]
fn same_secret_and_credential_give_the_same_verifier() {
    let salt = deterministic_salt("cred-a");
    assert_eq!(salt, deterministic_salt("cred-a"));
    assert_ne!(salt, deterministic_salt("cred-b"));
    assert_eq!(hash_sha256(b"s", &salt), hash_sha256(b"s", &salt));
    assert_ne!(hash_sha256(b"s", &salt), hash_sha256(b"t", &salt));
    let v = Verifier::parse(&hash_sha256(b"s", &salt)).expect("parses");
    assert!(!v.is_expensive());
    assert!(v.verify(b"s") && !v.verify(b"t"));
}

#[test]
fn malformed_or_unbounded_verifiers_are_refused() {
    let cases: &[(&str, SecretError)] = &[
        ("", SecretError::UnknownFormat),
        ("secret", SecretError::UnknownFormat),
        ("$bcrypt$x$y", SecretError::UnknownFormat),
        (
            "$sha256$AAECAwQFBgcICQoLDA0ODw",
            SecretError::Malformed("field count"),
        ),
        (
            "$sha256$AAECAwQFBgcICQoLDA0ODw$AAAA",
            SecretError::Malformed("hash must be 32 bytes"),
        ),
        (
            "$sha256$!!!$Z1V8DYYXnEUZnwlthbeusrizS/QjxAO6UX9yvMWRPEw",
            SecretError::Malformed("salt"),
        ),
        (
            "$pbkdf2-sha512$i=0,l=32$AAECAwQFBgcICQoLDA0ODw$s1qOkFay1DbcR0sablkjBgtOqf1IcoQVkkK1uzR9LdU",
            SecretError::OutOfBounds("iterations"),
        ),
        (
            "$pbkdf2-sha512$i=99999999,l=32$AAECAwQFBgcICQoLDA0ODw$s1qOkFay1DbcR0sablkjBgtOqf1IcoQVkkK1uzR9LdU",
            SecretError::OutOfBounds("iterations"),
        ),
        (
            "$pbkdf2-sha512$i=10000,l=16$AAECAwQFBgcICQoLDA0ODw$s1qOkFay1DbcR0sablkjBgtOqf1IcoQVkkK1uzR9LdU",
            SecretError::Malformed("hash length does not match l="),
        ),
        (
            "$pbkdf2-sha512$i=10000$AAECAwQFBgcICQoLDA0ODw$s1qOkFay1DbcR0sablkjBgtOqf1IcoQVkkK1uzR9LdU",
            SecretError::Malformed("missing parameter"),
        ),
        (
            "$pbkdf2-sha512$i=1,i=2,l=32$AAECAwQFBgcICQoLDA0ODw$s1qOkFay1DbcR0sablkjBgtOqf1IcoQVkkK1uzR9LdU",
            SecretError::Malformed("parameters"),
        ),
        (
            "$argon2id$v=19$m=4194304,t=2,p=1$AAECAwQFBgcICQoLDA0ODw$s1qOkFay1DbcR0sablkjBgtOqf1IcoQVkkK1uzR9LdU",
            SecretError::OutOfBounds("argon2 parameters"),
        ),
        (
            "$argon2id$v=19$m=65536,t=4,p=1$AAECAwQFBgcICQoLDA0ODw$s1qOkFay1DbcR0sablkjBgtOqf1IcoQVkkK1uzR9LdU",
            SecretError::OutOfBounds("argon2 parameters"),
        ),
        (
            "$argon2id$v=19$m=19456,t=5,p=1$AAECAwQFBgcICQoLDA0ODw$s1qOkFay1DbcR0sablkjBgtOqf1IcoQVkkK1uzR9LdU",
            SecretError::OutOfBounds("argon2 parameters"),
        ),
        (
            "$argon2id$v=19$m=19456,t=2,p=8$AAECAwQFBgcICQoLDA0ODw$s1qOkFay1DbcR0sablkjBgtOqf1IcoQVkkK1uzR9LdU",
            SecretError::OutOfBounds("argon2 parameters"),
        ),
        (
            "$pbkdf2-sha512$i=250001,l=32$AAECAwQFBgcICQoLDA0ODw$s1qOkFay1DbcR0sablkjBgtOqf1IcoQVkkK1uzR9LdU",
            SecretError::OutOfBounds("iterations"),
        ),
        (
            "$argon2id$v=18$m=19456,t=2,p=1$AAECAwQFBgcICQoLDA0ODw$s1qOkFay1DbcR0sablkjBgtOqf1IcoQVkkK1uzR9LdU",
            SecretError::Malformed("version"),
        ),
        (
            "$argon2id$v=19$m=19456,t=2,x=1$AAECAwQFBgcICQoLDA0ODw$s1qOkFay1DbcR0sablkjBgtOqf1IcoQVkkK1uzR9LdU",
            SecretError::Malformed("unknown parameter"),
        ),
        (
            "$argon2id$v=19$m=19456,t=2,p=1$AAAA$s1qOkFay1DbcR0sablkjBgtOqf1IcoQVkkK1uzR9LdU",
            SecretError::OutOfBounds("salt"),
        ),
    ];
    for (input, want) in cases {
        assert_eq!(Verifier::parse(input).as_ref().err(), Some(want), "{input}");
        assert!(!looks_like_verifier(input));
    }
    assert_eq!(
        Verifier::parse(&"$".repeat(MAX_VERIFIER_LEN + 1)),
        Err(SecretError::TooLong)
    );
}

#[test]
fn looks_like_verifier_tells_hashes_from_plaintext() {
    assert!(looks_like_verifier(KONG_PBKDF2));
    assert!(looks_like_verifier(SHA256_VECTOR));
    assert!(!looks_like_verifier("secret"));
    assert!(!looks_like_verifier("$not$a$hash"));
}

#[test]
fn debug_output_never_shows_hash_or_salt() {
    for verifier in [KONG_PBKDF2, SHA256_VECTOR] {
        let shown = format!("{:?}", Verifier::parse(verifier).expect("parses"));
        assert!(
            !shown.contains("AAECAwQF") && !shown.contains("s1qO") && !shown.contains("Z1V8"),
            "{shown}"
        );
        assert!(!shown.contains("[0, 1, 2"), "{shown}");
    }
}

#[test]
fn token_epoch_changes_with_the_verifier_the_consumer_and_the_incarnation() {
    let a = token_epoch(Some(KONG_PBKDF2), "consumer-1", "uid/1");
    assert_eq!(a, token_epoch(Some(KONG_PBKDF2), "consumer-1", "uid/1"));
    // Rotated secret, credential moved to another consumer, the same secret installed again.
    assert_ne!(a, token_epoch(Some(SHA256_VECTOR), "consumer-1", "uid/1"));
    assert_ne!(a, token_epoch(Some(KONG_PBKDF2), "consumer-2", "uid/1"));
    assert_ne!(a, token_epoch(Some(KONG_PBKDF2), "consumer-1", "uid/7"));
    // Fields are length-prefixed: moving bytes from one field to the next changes the epoch.
    assert_ne!(token_epoch(None, "ab", "c"), token_epoch(None, "a", "bc"));
    assert_ne!(token_epoch(None, "c", ""), token_epoch(Some(""), "c", ""));
}

#[test]
fn parse_never_panics_on_random_input() {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let alphabet = b"$=,0123456789mtpilv argon2idpbkdf2-sha512sha256AZaz+/";
    for _ in 0..20_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let len = (state % 64) as usize;
        let s: String = (0..len)
            .map(|i| alphabet[((state >> (i % 8 * 8)) as usize + i * 7) % alphabet.len()] as char)
            .collect();
        if let Ok(v) = Verifier::parse(&s) {
            assert_eq!(
                Verifier::parse(&s),
                Ok(v),
                "parse is deterministic for {s:?}"
            );
        }
    }
    // Bytes that are not UTF-8 cannot reach parse (it takes &str); odd UTF-8 is fine.
    assert!(Verifier::parse("$sha256$\u{1F600}$\u{1F600}").is_err());
}

#[test]
fn argon2id_verifiers_with_different_parameters_verify_in_turn_on_one_thread() {
    // Two verifiers whose parameters differ (so the thread's reused argon2 memory is used at two
    // sizes, and dirty from the other), checked alternately on the same thread.
    let big = hash_argon2id(b"first secret", &deterministic_salt("big")).expect("hashes");
    let small = argon2id_with_fresh_memory(b"password", b"somesalt", 64, 1, 2);
    let big = Verifier::parse(&big).expect("parses");
    let small = Verifier::parse(&small).expect("parses");
    for _ in 0..2 {
        assert!(big.verify(b"first secret"));
        assert!(!big.verify(b"second secret"));
        assert!(small.verify(b"password"));
        assert!(!small.verify(b"first secret"));
    }
}

/// An argon2id verifier made by the argon2 crate with memory of its own (not this module's
/// reused memory).
fn argon2id_with_fresh_memory(secret: &[u8], salt: &[u8], m_kib: u32, t: u32, p: u32) -> String {
    let params = Params::new(m_kib, t, p, Some(32)).expect("params");
    let mut out = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(secret, salt, &mut out)
        .expect("hashes");
    format!(
        "$argon2id$v=19$m={m_kib},t={t},p={p}${}${}",
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(out)
    )
}

#[test]
fn tokens_that_survive_rotation_keep_their_epoch_across_a_new_secret() {
    let mut c = crate::fixtures::snapshot().credentials[0].clone();
    let bound = c.epoch();
    assert_eq!(
        bound,
        token_epoch(c.secret_verifier.as_deref(), &c.consumer_id, &c.incarnation)
    );
    c.secret_verifier = Some(SHA256_VECTOR.into());
    let rotated = c.epoch();
    assert_ne!(bound, rotated, "by default a new secret revokes");
    c.tokens_survive_rotation = true;
    let surviving = c.epoch();
    assert!(
        surviving != bound && surviving != rotated,
        "switching modes revokes too"
    );
    c.secret_verifier = Some(KONG_PBKDF2.into());
    assert_eq!(c.epoch(), surviving, "a new secret keeps the tokens");
    c.consumer_id = "another".into();
    assert_ne!(c.epoch(), surviving, "another consumer still revokes");
    // The marker is never a verifier, so it cannot equal the epoch of a real one.
    assert!(!looks_like_verifier(ROTATION_SAFE_EPOCH));
}

#[test]
fn a_previous_secret_is_valid_strictly_before_its_instant() {
    let p = crate::snapshot::PreviousSecret {
        verifier: SHA256_VECTOR.into(),
        valid_until: 1_000,
    };
    assert!(p.is_valid_at(0) && p.is_valid_at(999));
    assert!(!p.is_valid_at(1_000) && !p.is_valid_at(5_000));
}
