use super::*;
use crate::fixtures;
use crate::oauth::code::{ChallengeMethod, CodeClaims, redirect_uri_hash};
use crate::oauth::token_endpoint::{check_code, parse_token_request};
use crate::oauth::{GrantType, authorize_client};
use crate::snapshot::{ClientType, Pkce, Plugin, PluginConfig};
use crate::token::{KeyRing, plugin_binding};

const KEY: &str = "a-provision-key-of-thirty-two-chars";
const CB: &str = "https://app.example/cb";
const CB2: &str = "https://app.example/other?x=1";
const VERIFIER: &str = "dBjftJeZ4CVP-mJ92K27uhbUJU1p1r_wW1gFWFOEjXk";
const S256: &str = "ngF5GsXcbwljx6u133FFr3Xht9xooA_DuaX_3QwODtc";

fn config() -> OAuth2Config {
    use sha2::Digest as _;
    OAuth2Config {
        enable_authorization_code: true,
        provision_key_sha256: Some(crate::snapshot::hex(&sha2::Sha256::digest(KEY))),
        ..fixtures::oauth2_config()
    }
}

fn form(body: &str) -> TokenRequestView<'_> {
    TokenRequestView {
        method: "POST",
        https: true,
        content_type: Some("application/x-www-form-urlencoded"),
        body: body.as_bytes(),
        ..Default::default()
    }
}

fn credential(client_type: ClientType) -> Credential {
    let snapshot = fixtures::snapshot();
    let mut credential = snapshot.credentials[match client_type {
        ClientType::Confidential => 0,
        ClientType::Public => 1,
    }]
    .clone();
    credential.redirect_uris = vec![CB.into(), CB2.into()];
    credential
}

fn parsed(body: &str) -> AuthorizeRequest {
    parse_authorize_request(&config(), &form(body)).expect("parses")
}

fn query_of(body: &[u8]) -> Vec<(String, String)> {
    let json: serde_json::Value = serde_json::from_slice(body).expect("json");
    let uri = json["redirect_uri"].as_str().expect("redirect_uri");
    let query = uri.split_once('?').expect("a query").1;
    form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[test]
fn the_checks_before_the_client_answer_plain_errors_in_kongs_order() {
    let user = "authenticated_userid=alice";
    let key = format!("provision_key={KEY}");
    type Case<'a> = (&'a str, TokenRequestView<'a>, u16, &'a str, &'a str);
    let body_no_key = format!("{user}&client_id=client&response_type=code");
    let body_wrong_key = format!("provision_key=guess&{user}&client_id=client");
    let body_no_user = format!("{key}&client_id=client&response_type=code");
    let body_blank_user = format!("{key}&authenticated_userid=+&client_id=client");
    let body_control = format!("{key}&authenticated_userid=a%0Ab&client_id=client");
    let body_ok = format!("{key}&{user}&client_id=client");
    let cases: Vec<Case<'_>> = vec![
        (
            "GET",
            TokenRequestView {
                method: "GET",
                ..form("")
            },
            405,
            "invalid_method",
            "The HTTP method GET is invalid for the authorize endpoint",
        ),
        (
            "plain http",
            TokenRequestView {
                https: false,
                ..form(&body_ok)
            },
            400,
            "access_denied",
            "You must use HTTPS",
        ),
        (
            "no key",
            form(&body_no_key),
            400,
            "invalid_provision_key",
            "Invalid provision_key",
        ),
        (
            "wrong key",
            form(&body_wrong_key),
            400,
            "invalid_provision_key",
            "Invalid provision_key",
        ),
        (
            "no user",
            form(&body_no_user),
            400,
            "invalid_authenticated_userid",
            "Missing authenticated_userid parameter",
        ),
        (
            "blank user",
            form(&body_blank_user),
            400,
            "invalid_authenticated_userid",
            "Missing authenticated_userid parameter",
        ),
        (
            "user with a control character",
            form(&body_control),
            400,
            "invalid_authenticated_userid",
            "authenticated_userid must be at most 255 printable ASCII characters",
        ),
    ];
    for (case, view, status, error, description) in cases {
        let refused = parse_authorize_request(&config(), &view).expect_err(case);
        assert_eq!(
            (refused.status, refused.error, refused.description.as_str()),
            (status, error, description),
            "{case}"
        );
    }
    let ok = parse_authorize_request(&config(), &form(&body_ok)).expect("accepted");
    assert_eq!(ok.authenticated_userid, "alice");
    assert_eq!(ok.client_id.as_deref(), Some("client"));
    // Without a provision key configured, nothing matches (not even an empty key).
    let mut keyless = config();
    keyless.provision_key_sha256 = None;
    assert!(parse_authorize_request(&keyless, &form(&body_ok)).is_err());
}

#[test]
fn an_unknown_client_is_a_plain_error_and_later_ones_go_to_the_redirect_uri() {
    let key = format!("provision_key={KEY}&authenticated_userid=alice");
    let confidential = credential(ClientType::Confidential);
    let refused = authorize(&config(), &parsed(&format!("{key}&client_id=nobody")), None)
        .expect_err("unknown client");
    let Refused::Plain(error) = refused else {
        panic!("plain: {refused:?}")
    };
    assert_eq!(
        (error.status, error.error, error.description.as_str()),
        (400, "invalid_client", "Invalid client authentication")
    );
    let mut no_uris = confidential.clone();
    no_uris.redirect_uris.clear();
    assert!(matches!(
        authorize(&config(), &parsed(&key), Some(&no_uris)),
        Err(Refused::Plain(_))
    ));

    // (case, pkce, body, sent to, error, description)
    type Case<'a> = (&'a str, Pkce, String, &'a str, &'a str, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (
            "another redirect uri: sent to the first registered",
            Pkce::Lax,
            format!("{key}&response_type=code&redirect_uri=https%3A%2F%2Fevil.example%2F"),
            CB,
            "invalid_request",
            "Invalid redirect_uri that does not match with any redirect_uri created with the application",
        ),
        (
            "a registered uri with another query",
            Pkce::Lax,
            format!("{key}&response_type=code&redirect_uri=https%3A%2F%2Fapp.example%2Fcb%3Fx%3D1"),
            CB,
            "invalid_request",
            "Invalid redirect_uri that does not match with any redirect_uri created with the application",
        ),
        (
            "no response type",
            Pkce::Lax,
            format!("{key}&redirect_uri=https%3A%2F%2Fapp.example%2Fother%3Fx%3D1"),
            CB2,
            "unsupported_response_type",
            "Invalid response_type",
        ),
        (
            "implicit grant",
            Pkce::Lax,
            format!("{key}&response_type=token"),
            CB,
            "unsupported_response_type",
            "Invalid response_type",
        ),
        (
            "unknown scope",
            Pkce::Lax,
            format!("{key}&response_type=code&scope=read+admin"),
            CB,
            "invalid_scope",
            "'admin' is an invalid scope",
        ),
        (
            "plain challenge in strict mode",
            Pkce::Strict,
            format!(
                "{key}&response_type=code&code_challenge={VERIFIER}&code_challenge_method=plain"
            ),
            CB,
            "invalid_request",
            "code_challenge_method is not supported, must be S256",
        ),
    ];
    for (case, pkce, body, to, error, description) in cases {
        let config = OAuth2Config { pkce, ..config() };
        let refused = authorize(&config, &parsed(&body), Some(&confidential)).expect_err(case);
        let Refused::Redirect(redirected) = refused else {
            panic!("{case}: redirected: {refused:?}")
        };
        assert_eq!(redirected.redirect_uri, to, "{case}");
        let response = error_response(&redirected, Some("xyz"));
        assert_eq!(response.status, 400, "{case}");
        let json: serde_json::Value = serde_json::from_slice(&response.body).expect("json");
        let uri = json["redirect_uri"].as_str().expect("uri");
        assert!(uri.starts_with(to), "{case}: {uri}");
        assert_eq!(
            query_of(&response.body)
                .into_iter()
                .filter(|(k, _)| k != "x")
                .collect::<Vec<_>>(),
            vec![
                ("error".to_owned(), error.to_owned()),
                ("error_description".to_owned(), description.to_owned()),
                ("state".to_owned(), "xyz".to_owned()),
            ],
            "{case}"
        );
    }

    // The client's own scopes narrow the plugin's.
    let mut narrow = confidential.clone();
    narrow.scopes = Some(vec!["read".into()]);
    let refused = authorize(
        &config(),
        &parsed(&format!("{key}&response_type=code&scope=write")),
        Some(&narrow),
    );
    assert!(matches!(refused, Err(Refused::Redirect(r)) if r.error.error == "invalid_scope"));
    // A public client needs a challenge even with pkce: none.
    let mut none = config();
    none.pkce = Pkce::None;
    let refused = authorize(
        &none,
        &parsed(&format!("{key}&response_type=code")),
        Some(&credential(ClientType::Public)),
    );
    assert!(
        matches!(refused, Err(Refused::Redirect(r)) if r.error.description == "code_challenge is required for public clients")
    );
    // The grant turned off: no code is issued.
    let mut off = config();
    off.enable_authorization_code = false;
    let refused = authorize(
        &off,
        &parsed(&format!("{key}&response_type=code")),
        Some(&confidential),
    );
    assert!(
        matches!(refused, Err(Refused::Redirect(r)) if r.error.error == "unsupported_response_type")
    );
}

#[test]
fn a_code_response_keeps_the_redirect_uris_query_and_encodes_state() {
    let response = code_response(CB2, "abc-_", Some("a b&c=d"));
    assert_eq!(response.status, 200);
    let json: serde_json::Value = serde_json::from_slice(&response.body).expect("json");
    assert_eq!(
        json["redirect_uri"],
        "https://app.example/other?x=1&code=abc-_&state=a+b%26c%3Dd"
    );
    let response = code_response(CB, "abc", None);
    let json: serde_json::Value = serde_json::from_slice(&response.body).expect("json");
    assert_eq!(json["redirect_uri"], "https://app.example/cb?code=abc");
}

fn plugin() -> Plugin {
    Plugin {
        acl: None,
        id: "default/auth".into(),
        incarnation: "uid-1".into(),
        accept_namespaces: crate::snapshot::AcceptNamespaces::Same,
        config: PluginConfig::OAuth2(config()),
    }
}

fn ring() -> KeyRing {
    let snapshot = fixtures::snapshot();
    KeyRing::new(&snapshot.signing_keys, &snapshot.active_key).expect("ring")
}

/// A code as the proxy seals it for `authorized`, issued at 1000 for 60 s.
fn seal(authorized: &Authorized, user: &str, id: [u8; 16]) -> String {
    CodeClaims {
        id,
        plugin: plugin_binding("default/auth", "uid-1"),
        credential_id: [3; 16],
        epoch: 77,
        issued_at: 1_000,
        expires_at: 1_060,
        redirect_uri_hash: redirect_uri_hash(&authorized.redirect_uri),
        scope: authorized.scope.clone().unwrap_or_default(),
        authenticated_userid: user.into(),
        challenge: authorized.challenge.clone(),
    }
    .seal(&ring(), [id[0]; 24])
    .expect("sealed")
}

#[test]
fn a_public_client_redeems_its_code_once_with_the_verifier_and_nothing_else_passes() {
    let public = credential(ClientType::Public);
    let asked = parsed(&format!(
        "provision_key={KEY}&authenticated_userid=alice&client_id=public-client&response_type=code\
         &scope=read&redirect_uri=https%3A%2F%2Fapp.example%2Fother%3Fx%3D1\
         &code_challenge={S256}&code_challenge_method=S256&state=s1"
    ));
    let authorized = authorize(&config(), &asked, Some(&public)).expect("authorized");
    assert_eq!(authorized.redirect_uri, CB2);
    assert_eq!(authorized.scope.as_deref(), Some("read"));
    assert_eq!(
        authorized.challenge.as_ref().map(|c| c.method),
        Some(ChallengeMethod::S256)
    );
    let code = seal(&authorized, "alice", [1; 16]);

    let redeem = |body: &str, at: u64| {
        let request = parse_token_request(&config(), &form(body))?;
        assert_eq!(request.grant_type, GrantType::AuthorizationCode);
        authorize_client(&request, Some(&public), false)?;
        let opened = request.code().map(|c| CodeClaims::open(&ring(), c));
        check_code(
            &config(),
            &plugin(),
            &request,
            &public,
            [3; 16],
            77,
            opened,
            at,
        )
    };
    let cb2 = "redirect_uri=https%3A%2F%2Fapp.example%2Fother%3Fx%3D1";
    let good = format!(
        "grant_type=authorization_code&client_id=public-client&code={code}&{cb2}&code_verifier={VERIFIER}"
    );
    let redeemed = redeem(&good, 1_010).expect("redeemed");
    assert_eq!(redeemed.authenticated_userid, "alice");
    assert_eq!(redeemed.scope, "read");
    assert_eq!(redeemed.id, [1; 16]);

    let wrong_verifier = "x".repeat(43);
    let cases: Vec<(&str, String, u64, &str, &str)> = vec![
        (
            "expired",
            good.clone(),
            1_060,
            "invalid_grant",
            "Invalid code",
        ),
        (
            "no verifier",
            format!("grant_type=authorization_code&client_id=public-client&code={code}&{cb2}"),
            1_010,
            "invalid_request",
            "code_verifier is required for PKCE authorization requests",
        ),
        (
            "wrong verifier",
            format!(
                "grant_type=authorization_code&client_id=public-client&code={code}&{cb2}&code_verifier={wrong_verifier}"
            ),
            1_010,
            "invalid_grant",
            "Invalid code",
        ),
        (
            "another registered redirect uri than the code's",
            format!(
                "grant_type=authorization_code&client_id=public-client&code={code}&code_verifier={VERIFIER}"
            ),
            1_010,
            "invalid_grant",
            "Invalid code",
        ),
        (
            "an unregistered redirect uri",
            format!(
                "grant_type=authorization_code&client_id=public-client&code={code}&redirect_uri=https%3A%2F%2Fevil&code_verifier={VERIFIER}"
            ),
            1_010,
            "invalid_request",
            "Invalid redirect_uri that does not match with any redirect_uri created with the application",
        ),
        (
            "no code",
            format!(
                "grant_type=authorization_code&client_id=public-client&{cb2}&code_verifier={VERIFIER}"
            ),
            1_010,
            "invalid_grant",
            "Invalid code",
        ),
        (
            "a code that is not one",
            format!(
                "grant_type=authorization_code&client_id=public-client&code=abc&{cb2}&code_verifier={VERIFIER}"
            ),
            1_010,
            "invalid_grant",
            "Invalid code",
        ),
    ];
    for (case, body, at, error, description) in cases {
        let refused = redeem(&body, at).expect_err(case);
        assert_eq!(
            (refused.status, refused.error, refused.description.as_str()),
            (400, error, description),
            "{case}"
        );
    }

    // The same code for another client, plugin or secret epoch is refused.
    let request = parse_token_request(&config(), &form(&good)).expect("parses");
    let open = || Some(CodeClaims::open(&ring(), request.code().expect("code")));
    let other_plugin = Plugin {
        incarnation: "uid-2".into(),
        ..plugin()
    };
    for (case, plugin, id, epoch) in [
        ("another client", plugin(), [4; 16], 77),
        ("the plugin recreated", other_plugin, [3; 16], 77),
        ("a rotated secret", plugin(), [3; 16], 78),
    ] {
        let refused = check_code(
            &config(),
            &plugin,
            &request,
            &public,
            id,
            epoch,
            open(),
            1_010,
        )
        .expect_err(case);
        assert_eq!(refused.error, "invalid_grant", "{case}");
    }
}

#[test]
fn a_confidential_client_needs_its_secret_and_the_grant_enabled() {
    let confidential = credential(ClientType::Confidential);
    let body = "grant_type=authorization_code&client_id=client&code=abc";
    let request = parse_token_request(&config(), &form(body)).expect("parses");
    let refused = authorize_client(&request, Some(&confidential), false).expect_err("no secret");
    assert_eq!(refused.error, "invalid_client");
    let mut off = config();
    off.enable_authorization_code = false;
    let refused = parse_token_request(&off, &form(body)).expect_err("grant off");
    assert_eq!(
        (refused.error, refused.description.as_str()),
        ("unsupported_grant_type", "Invalid grant_type")
    );
    // mandatoryScope does not apply at the token endpoint: the code carries the scope.
    let mut mandatory = config();
    mandatory.mandatory_scope = true;
    let request = parse_token_request(&mandatory, &form(body)).expect("no scope needed");
    assert_eq!(request.scope, None);
    assert!(!format!("{request:?}").contains("abc"), "{request:?}");

    // Without PKCE (lax), a confidential client's code needs no verifier.
    let asked = parsed(&format!(
        "provision_key={KEY}&authenticated_userid=bob&client_id=client&response_type=code"
    ));
    let authorized = authorize(&config(), &asked, Some(&confidential)).expect("authorized");
    assert_eq!(authorized.redirect_uri, CB);
    assert_eq!(authorized.challenge, None);
    let code = seal(&authorized, "bob", [2; 16]);
    let body =
        format!("grant_type=authorization_code&client_id=client&client_secret=secret&code={code}");
    let request = parse_token_request(&config(), &form(&body)).expect("parses");
    authorize_client(&request, Some(&confidential), true).expect("secret ok");
    let opened = Some(CodeClaims::open(&ring(), &code));
    let redeemed = check_code(
        &config(),
        &plugin(),
        &request,
        &confidential,
        [3; 16],
        77,
        opened,
        1_001,
    )
    .expect("redeemed");
    assert_eq!(redeemed.authenticated_userid, "bob");
}
