use super::*;
use crate::fixtures;
use crate::oauth::code::CodeClaims;
use crate::oauth::token_endpoint::{GrantType, TokenRequestView, parse_token_request};
use crate::snapshot::{AcceptNamespaces, PluginConfig, SigningKey};

fn ring(keys: &[(&str, u8)], active: &str) -> KeyRing {
    use base64::Engine as _;
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

fn config() -> OAuth2Config {
    OAuth2Config {
        enable_password_grant: true,
        ..fixtures::oauth2_config()
    }
}

fn plugin(incarnation: &str) -> Plugin {
    Plugin {
        acl: None,
        id: "default/auth".into(),
        incarnation: incarnation.into(),
        accept_namespaces: AcceptNamespaces::Same,
        config: PluginConfig::OAuth2(config()),
    }
}

fn first() -> RefreshClaims {
    RefreshClaims::first(
        &plugin("uid-1"),
        &config(),
        [2; 16],
        99,
        Some("read write"),
        Some("alice"),
        1_000,
        [7; 16],
    )
}

#[test]
fn a_sealed_refresh_token_opens_to_the_same_claims_and_reveals_none_of_them() {
    let ring = ring(&[("k1", 1)], "k1");
    let claims = first();
    assert_eq!(claims.family, claims.id, "the first token names its family");
    assert_eq!(claims.expires_at, 1_000 + DEFAULT_REFRESH_TOKEN_TTL);
    let token = claims.seal(&ring, [5; 24]).expect("sealed");
    assert!(!token.contains("alice") && !token.contains("read"));
    assert_eq!(RefreshClaims::open(&ring, &token), Ok(claims.clone()));

    let mut long = claims;
    long.scope = "s".repeat(MAX_SCOPE_LEN);
    long.authenticated_userid = "u".repeat(255);
    let token = long.seal(&ring, [6; 24]).expect("sealed");
    assert!(token.len() <= MAX_REFRESH_TOKEN_LEN, "{}", token.len());
    assert_eq!(RefreshClaims::open(&ring, &token), Ok(long.clone()));
    long.scope.push('s');
    assert_eq!(long.seal(&ring, [6; 24]), Err(TokenError::ScopeTooLong));
}

#[test]
fn a_refresh_token_a_code_and_an_access_token_never_open_as_each_other() {
    let ring = ring(&[("k1", 1)], "k1");
    let refresh = first().seal(&ring, [5; 24]).expect("sealed");
    assert!(ring.open(&refresh).is_err(), "not an access token");
    assert_eq!(
        CodeClaims::open(&ring, &refresh).err(),
        Some(TokenError::Version),
        "not a code"
    );
    let code = ring.seal_code(b"anything", [5; 24]).expect("code");
    assert_eq!(
        RefreshClaims::open(&ring, &code),
        Err(TokenError::Version),
        "a code is not a refresh token"
    );
}

#[test]
fn a_changed_unknown_or_oversized_refresh_token_is_refused() {
    let ring1 = ring(&[("k1", 1)], "k1");
    let token = first().seal(&ring1, [5; 24]).expect("sealed");
    for i in 0..token.len() {
        let mut bytes = token.clone().into_bytes();
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let changed = String::from_utf8(bytes).expect("ascii");
        if changed != token {
            assert!(
                RefreshClaims::open(&ring1, &changed).is_err(),
                "position {i}"
            );
        }
    }
    let other = ring(&[("k1", 2)], "k1");
    assert_eq!(
        RefreshClaims::open(&other, &token),
        Err(TokenError::BadTag),
        "same kid, other material"
    );
    let rotated = ring(&[("k2", 3), ("k1", 1)], "k2");
    assert!(
        RefreshClaims::open(&rotated, &token).is_ok(),
        "a listed key still opens it"
    );
    assert_eq!(
        RefreshClaims::open(&ring1, &"A".repeat(MAX_REFRESH_TOKEN_LEN + 1)),
        Err(TokenError::TooLong)
    );
    assert!(RefreshClaims::open(&ring1, "not a token!").is_err());
}

#[test]
fn rotation_keeps_the_family_and_grant_and_gives_a_new_id_and_lifetime() {
    let config = config();
    let first = first();
    let next = first.rotated(&config, 5_000, [8; 16]);
    assert_eq!(next.id, [8; 16]);
    assert_eq!(next.family, first.family);
    assert_eq!(next.generation, 1);
    assert_eq!(
        (next.issued_at, next.expires_at),
        (5_000, 5_000 + DEFAULT_REFRESH_TOKEN_TTL)
    );
    assert_eq!(
        (
            &next.scope,
            &next.authenticated_userid,
            next.credential_id,
            next.epoch
        ),
        (
            &first.scope,
            &first.authenticated_userid,
            first.credential_id,
            first.epoch
        )
    );
    assert_ne!(next.used_id(), first.used_id());
    assert_eq!(next.family_id(), first.family_id());
    assert_eq!(first.family_id(), RevokedId::family([7; 16]));
    assert_ne!(
        first.used_id(),
        RevokedId::token(crate::revocation::token_id(&[7; 24])),
        "a spent refresh token's id is not an access token's"
    );
}

#[test]
fn a_revoked_family_outlives_its_newest_token() {
    let mut config = config();
    let first = first();
    // The newest token of the family could have been issued just now.
    assert_eq!(
        family_expiry(&config, &first, 2_000),
        2_000 + DEFAULT_REFRESH_TOKEN_TTL
    );
    // A shorter TTL today does not shorten what an older token was given.
    config.refresh_token_ttl = 10;
    assert_eq!(family_expiry(&config, &first, 2_000), first.expires_at);
    // Refresh tokens that never expire: the family stays revoked for ever.
    config.refresh_token_ttl = 0;
    assert_eq!(family_expiry(&config, &first, 2_000), 0);
    let never = RefreshClaims::first(
        &plugin("uid-1"),
        &config,
        [2; 16],
        99,
        None,
        None,
        1_000,
        [9; 16],
    );
    assert_eq!(never.expires_at, 0);
    assert!(!never.is_expired(u64::MAX));
}

#[test]
fn check_refresh_refuses_with_kongs_errors() {
    let ring = ring(&[("k1", 1)], "k1");
    let plugin1 = plugin("uid-1");
    let claims = first();
    let token = claims.seal(&ring, [5; 24]).expect("sealed");
    let open = || Some(RefreshClaims::open(&ring, &token));
    let check = |plugin: &Plugin, cred: [u8; 16], epoch: u64, opened, now| {
        check_refresh(plugin, ClientAuthMethod::Body, cred, epoch, opened, now)
    };
    assert_eq!(
        check(&plugin1, [2; 16], 99, open(), 1_001),
        Ok(claims.clone())
    );

    let invalid = |r: Result<RefreshClaims, OAuthError>| {
        let e = r.expect_err("refused");
        (e.status, e.error, e.description)
    };
    let want = (400, "invalid_request", "Invalid refresh_token".to_string());
    assert_eq!(
        invalid(check(&plugin1, [2; 16], 99, None, 1_001)),
        want,
        "missing"
    );
    assert_eq!(
        invalid(check(
            &plugin1,
            [2; 16],
            99,
            Some(RefreshClaims::open(&ring, "garbage")),
            1_001
        )),
        want,
        "not a token"
    );
    assert_eq!(
        invalid(check(&plugin1, [2; 16], 99, open(), claims.expires_at)),
        want,
        "expired"
    );
    assert_eq!(
        invalid(check(&plugin("uid-2"), [2; 16], 99, open(), 1_001)),
        want,
        "another incarnation of the plugin"
    );
    assert_eq!(
        invalid(check(&plugin1, [2; 16], 100, open(), 1_001)),
        want,
        "the client's secret changed"
    );
    assert_eq!(
        invalid(check(&plugin1, [3; 16], 99, open(), 1_001)),
        (
            400,
            "invalid_client",
            "Invalid client authentication".to_string()
        ),
        "another client's token"
    );
    let basic = check_refresh(
        &plugin1,
        ClientAuthMethod::Basic,
        [3; 16],
        99,
        open(),
        1_001,
    )
    .expect_err("refused");
    assert_eq!(basic.status, 401, "after Basic, invalid_client is a 401");
}

#[test]
fn the_refresh_grant_is_offered_only_with_a_grant_that_issues_refresh_tokens() {
    let view = |body: &'static str| TokenRequestView {
        method: "POST",
        https: true,
        content_type: Some("application/x-www-form-urlencoded"),
        body: body.as_bytes(),
        ..Default::default()
    };
    let body = "grant_type=refresh_token&client_id=c&refresh_token=abc&scope=nope";
    let parsed = parse_token_request(&config(), &view(body)).expect("parsed");
    assert_eq!(parsed.grant_type, GrantType::RefreshToken);
    assert_eq!(parsed.refresh_token(), Some("abc"));
    assert_eq!(parsed.scope, None, "the scope of the first grant is kept");
    assert!(!format!("{parsed:?}").contains("abc"), "Debug hides it");

    let mut config = config();
    assert!(issues_refresh_tokens(&config));
    config.token_expiration = 0;
    assert!(!issues_refresh_tokens(&config), "tokens that never expire");
    let refused = parse_token_request(&config, &view(body)).expect_err("refused");
    assert_eq!(
        (refused.status, refused.error),
        (400, "unsupported_grant_type")
    );
    let cc_only = fixtures::oauth2_config();
    assert!(
        !issues_refresh_tokens(&cc_only),
        "client credentials never get a refresh token"
    );
}

#[test]
fn revoking_a_refresh_token_revokes_its_family_for_its_own_client_only() {
    let ring = ring(&[("k1", 1)], "k1");
    let claims = first();
    let token = claims.seal(&ring, [5; 24]).expect("sealed");
    let open = || RefreshClaims::open(&ring, &token);
    let config = config();
    assert_eq!(
        revocation_of(&config, &plugin("uid-1"), [2; 16], open(), 1_001),
        Ok(Some((
            claims.family_id(),
            family_expiry(&config, &claims, 1_001)
        )))
    );
    let other = revocation_of(&config, &plugin("uid-1"), [3; 16], open(), 1_001)
        .expect_err("another client's");
    assert_eq!((other.status, other.error), (400, "unauthorized_client"));
    assert_eq!(
        revocation_of(&config, &plugin("uid-2"), [2; 16], open(), 1_001),
        Ok(None),
        "another plugin's"
    );
    assert_eq!(
        revocation_of(
            &config,
            &plugin("uid-1"),
            [2; 16],
            open(),
            claims.expires_at
        ),
        Ok(None),
        "expired"
    );
    assert_eq!(
        revocation_of(
            &config,
            &plugin("uid-1"),
            [2; 16],
            RefreshClaims::open(&ring, "nope"),
            1_001
        ),
        Ok(None),
        "not a refresh token"
    );
}

/// A refresh token sealed (key `k1` of bytes 1, nonce of bytes 5) before the codes, refresh
/// tokens and access tokens shared one field writer and reader: the format must never move, or
/// every refresh token out there stops opening.
const PINNED: &str = "UgJrMQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBfKY_3o9O6O5zHQ7Y78OCDR54ThJZlwKlogYvul-hU0vDfrTZwuZwbVhld0PCAbkIHv55wtZmt2ONBELx7wV3X84a2Dy4BdwARyzBwhTeReGOWK2S3OUUdXiWjoXg7g9ss6QyFjcinF7VSH7-l39fIlbWD58TJ4";

#[test]
fn a_refresh_token_sealed_by_an_earlier_version_opens_and_the_same_claims_seal_the_same() {
    let ring = ring(&[("k1", 1)], "k1");
    let mut claims = first().rotated(&config(), 2_000, [8; 16]);
    claims.generation = 0x0102_0304;
    assert_eq!(claims.seal(&ring, [5; 24]).as_deref(), Ok(PINNED));
    assert_eq!(RefreshClaims::open(&ring, PINNED), Ok(claims));
}
