#![allow(clippy::type_complexity)] // table-driven cases are tuples

use super::*;
use crate::fixtures::{self, form};
use crate::oauth::{JSON_CONTENT_TYPE, SnapshotIndex};

fn basic(id: &str, secret: &str) -> Vec<u8> {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}"))).into_bytes()
}

const CC: &str = "grant_type=client_credentials";

/// (case, config change, request, status, error, description, WWW-Authenticate)
#[test]
fn every_request_error_has_its_status_code_and_text() {
    let basic_ok = basic("client", "secret");
    let basic_plus = b"Basic Y2xpZW50Og==".to_vec(); // "client:" (empty secret), valid
    type Case<'a> = (
        &'a str,
        fn(&mut OAuth2Config),
        TokenRequestView<'a>,
        u16,
        &'a str,
        &'a str,
        Option<&'a str>,
    );
    let none: fn(&mut OAuth2Config) = |_| {};
    let cases: Vec<Case<'_>> = vec![
        (
            "GET",
            none,
            TokenRequestView {
                method: "GET",
                ..form("")
            },
            405,
            "invalid_method",
            "The HTTP method GET is invalid for the token endpoint",
            Some(
                "Bearer error=\"invalid_method\", error_description=\"The HTTP method GET is invalid for the token endpoint\"",
            ),
        ),
        (
            "GET with realm",
            |c| c.realm = Some("api".into()),
            TokenRequestView {
                method: "PUT",
                ..form("")
            },
            405,
            "invalid_method",
            "The HTTP method PUT is invalid for the token endpoint",
            Some(
                "Bearer realm=\"api\", error=\"invalid_method\", error_description=\"The HTTP method PUT is invalid for the token endpoint\"",
            ),
        ),
        (
            "plain http",
            none,
            TokenRequestView {
                https: false,
                ..form(CC)
            },
            400,
            "access_denied",
            "You must use HTTPS",
            None,
        ),
        (
            "forwarded https without opt-in",
            none,
            TokenRequestView {
                https: false,
                forwarded_proto: ForwardedProto::Https,
                ..form(CC)
            },
            400,
            "access_denied",
            "You must use HTTPS",
            None,
        ),
        (
            "opt-in without header",
            |c| c.accept_http_if_already_terminated = true,
            TokenRequestView {
                https: false,
                ..form(CC)
            },
            400,
            "access_denied",
            "You must use HTTPS",
            None,
        ),
        (
            "opt-in multiple headers",
            |c| c.accept_http_if_already_terminated = true,
            TokenRequestView {
                https: false,
                forwarded_proto: ForwardedProto::Multiple,
                ..form(CC)
            },
            400,
            "access_denied",
            "Only one X-Forwarded-Proto header allowed",
            None,
        ),
        (
            "secret in query",
            none,
            TokenRequestView {
                query: Some("client_secret=secret"),
                ..form("grant_type=client_credentials&client_id=client")
            },
            400,
            "invalid_request",
            "client_secret must not be sent in the query string",
            None,
        ),
        (
            "xml body",
            none,
            TokenRequestView {
                content_type: Some("text/xml"),
                ..form("<x/>")
            },
            400,
            "invalid_request",
            "Content-Type must be application/x-www-form-urlencoded or application/json",
            None,
        ),
        (
            "body without content type",
            none,
            TokenRequestView {
                content_type: None,
                ..form(CC)
            },
            400,
            "invalid_request",
            "Content-Type must be application/x-www-form-urlencoded or application/json",
            None,
        ),
        (
            "non utf-8 form",
            none,
            form("grant_type=client_credentials&client_id=%FF"),
            400,
            "invalid_request",
            "Parameters must be UTF-8",
            None,
        ),
        (
            "repeated",
            none,
            form(
                "grant_type=client_credentials&grant_type=client_credentials&client_id=client&client_secret=secret",
            ),
            400,
            "invalid_request",
            "Parameter grant_type is repeated",
            None,
        ),
        (
            "repeated across query and body",
            none,
            TokenRequestView {
                query: Some("grant_type=client_credentials"),
                ..form("grant_type=client_credentials&client_id=client&client_secret=secret")
            },
            400,
            "invalid_request",
            "Parameter grant_type is repeated",
            None,
        ),
        (
            "json not an object",
            none,
            TokenRequestView {
                content_type: Some("application/json"),
                ..form("[1]")
            },
            400,
            "invalid_request",
            "The request body must be a JSON object of string parameters",
            None,
        ),
        (
            "json not string",
            none,
            TokenRequestView {
                content_type: Some("application/json"),
                ..form(r#"{"grant_type":"client_credentials","scope":["read"]}"#)
            },
            400,
            "invalid_request",
            "scope must be a string",
            None,
        ),
        (
            "json repeated",
            none,
            TokenRequestView {
                content_type: Some("application/json"),
                ..form(r#"{"grant_type":"client_credentials","grant_type":"x"}"#)
            },
            400,
            "invalid_request",
            "Parameter grant_type is repeated",
            None,
        ),
        (
            "basic not base64",
            none,
            TokenRequestView {
                authorization: Some(b"Basic %%%"),
                ..form(CC)
            },
            401,
            "invalid_client",
            "Invalid client authentication",
            Some("Basic realm=\"OAuth2.0\""),
        ),
        (
            "basic without credentials",
            none,
            TokenRequestView {
                authorization: Some(b"Basic"),
                ..form(CC)
            },
            401,
            "invalid_client",
            "Invalid client authentication",
            Some("Basic realm=\"OAuth2.0\""),
        ),
        (
            "scope echoed within the RFC alphabet",
            none,
            form(
                "grant_type=client_credentials&client_id=client&client_secret=secret&scope=%22x%5C%C3%A9",
            ),
            400,
            "invalid_scope",
            "'?x??' is an invalid scope",
            None,
        ),
        (
            "basic without colon",
            none,
            TokenRequestView {
                authorization: Some(b"Basic Y2xpZW50"),
                ..form(CC)
            },
            401,
            "invalid_client",
            "Invalid client authentication",
            Some("Basic realm=\"OAuth2.0\""),
        ),
        (
            "basic and body secret",
            none,
            TokenRequestView {
                authorization: Some(&basic_ok),
                ..form("grant_type=client_credentials&client_secret=secret")
            },
            400,
            "invalid_request",
            "Only one client authentication method may be used",
            None,
        ),
        (
            "basic and other body id",
            none,
            TokenRequestView {
                authorization: Some(&basic_plus),
                ..form("grant_type=client_credentials&client_id=other")
            },
            400,
            "invalid_request",
            "client_id does not match the Authorization header",
            None,
        ),
        (
            "no grant type",
            none,
            form("client_id=client&client_secret=secret"),
            400,
            "invalid_request",
            "Missing grant_type parameter",
            None,
        ),
        (
            "empty grant type is omitted",
            none,
            form("grant_type=&client_id=client&client_secret=secret"),
            400,
            "invalid_request",
            "Missing grant_type parameter",
            None,
        ),
        (
            "unknown grant",
            none,
            form("grant_type=password&client_id=client&client_secret=secret"),
            400,
            "unsupported_grant_type",
            "Invalid grant_type",
            None,
        ),
        (
            "grant not enabled",
            |c| c.enable_client_credentials = false,
            form("grant_type=client_credentials&client_id=client&client_secret=secret"),
            400,
            "unsupported_grant_type",
            "Invalid grant_type",
            None,
        ),
        (
            "no client",
            none,
            form(CC),
            400,
            "invalid_client",
            "Invalid client authentication",
            None,
        ),
        (
            "bad scope",
            none,
            form(
                "grant_type=client_credentials&client_id=client&client_secret=secret&scope=read%20wot",
            ),
            400,
            "invalid_scope",
            "'wot' is an invalid scope",
            None,
        ),
        (
            "mandatory scope",
            |c| c.mandatory_scope = true,
            form("grant_type=client_credentials&client_id=client&client_secret=secret"),
            400,
            "invalid_scope",
            "You must specify a scope",
            None,
        ),
    ];
    for (name, change, view, status, error, description, challenge) in cases {
        let mut config = fixtures::oauth2_config();
        change(&mut config);
        let e = parse_token_request(&config, &view).expect_err(name);
        assert_eq!(
            (e.status, e.error, e.description.as_str()),
            (status, error, description),
            "{name}"
        );
        assert_eq!(e.www_authenticate.as_deref(), challenge, "{name}");
        assert!(e.token_endpoint, "{name}");
        let headers = e.headers();
        assert_eq!(
            headers.get("cache-control").map(|v| v.as_bytes()),
            Some(&b"no-store"[..]),
            "{name}"
        );
        assert_eq!(
            headers.get("pragma").map(|v| v.as_bytes()),
            Some(&b"no-cache"[..]),
            "{name}"
        );
        let body: serde_json::Value = serde_json::from_slice(&e.body()).expect("json");
        assert_eq!(body["error"], error, "{name}");
        assert_eq!(body["error_description"], description, "{name}");
    }
}

#[test]
fn valid_requests_parse_from_every_client_authentication_form() {
    let basic_ok = basic("client", "secret");
    let basic_encoded = format!("Basic {}", STANDARD.encode("a%2Bb+c:s%3Ac%20x+y")).into_bytes();
    let cases: Vec<(
        &str,
        TokenRequestView<'_>,
        &str,
        Option<&[u8]>,
        ClientAuthMethod,
    )> = vec![
        (
            "form",
            form("grant_type=client_credentials&client_id=client&client_secret=secret"),
            "client",
            Some(b"secret"),
            ClientAuthMethod::Body,
        ),
        (
            "json",
            TokenRequestView {
                content_type: Some("application/json; charset=utf-8"),
                ..form(
                    r#"{"grant_type":"client_credentials","client_id":"client","client_secret":"secret"}"#,
                )
            },
            "client",
            Some(b"secret"),
            ClientAuthMethod::Body,
        ),
        (
            "basic",
            TokenRequestView {
                authorization: Some(&basic_ok),
                ..form(CC)
            },
            "client",
            Some(b"secret"),
            ClientAuthMethod::Basic,
        ),
        (
            "basic with same body id",
            TokenRequestView {
                authorization: Some(&basic_ok),
                ..form("grant_type=client_credentials&client_id=client")
            },
            "client",
            Some(b"secret"),
            ClientAuthMethod::Basic,
        ),
        (
            "basic form-decoded (RFC 6749 App. B)",
            TokenRequestView {
                authorization: Some(&basic_encoded),
                ..form(CC)
            },
            "a+b c",
            Some(b"s:c x y"),
            ClientAuthMethod::Basic,
        ),
        (
            "bearer header ignored",
            TokenRequestView {
                authorization: Some(b"Bearer x"),
                ..form("grant_type=client_credentials&client_id=client&client_secret=secret")
            },
            "client",
            Some(b"secret"),
            ClientAuthMethod::Body,
        ),
        (
            "client id only",
            form("grant_type=client_credentials&client_id=public-client"),
            "public-client",
            None,
            ClientAuthMethod::ClientIdOnly,
        ),
        (
            "grant type in query (Kong merges)",
            TokenRequestView {
                query: Some("grant_type=client_credentials"),
                ..form("client_id=client&client_secret=secret")
            },
            "client",
            Some(b"secret"),
            ClientAuthMethod::Body,
        ),
        (
            "no body, basic, query grant",
            TokenRequestView {
                query: Some("grant_type=client_credentials"),
                content_type: None,
                authorization: Some(&basic_ok),
                ..form("")
            },
            "client",
            Some(b"secret"),
            ClientAuthMethod::Basic,
        ),
        (
            "trusted forwarded https",
            TokenRequestView {
                https: false,
                forwarded_proto: ForwardedProto::Https,
                ..form("grant_type=client_credentials&client_id=client&client_secret=secret")
            },
            "client",
            Some(b"secret"),
            ClientAuthMethod::Body,
        ),
    ];
    for (name, view, id, secret, method) in cases {
        let mut config = fixtures::oauth2_config();
        config.accept_http_if_already_terminated = true;
        let req = parse_token_request(&config, &view).expect(name);
        assert_eq!(req.client_id, id, "{name}");
        assert_eq!(req.client_secret(), secret, "{name}");
        assert_eq!(req.auth_method, method, "{name}");
        assert_eq!(req.grant_type, GrantType::ClientCredentials, "{name}");
    }
}

#[test]
fn scope_and_state_are_kept() {
    let config = fixtures::oauth2_config();
    let req = parse_token_request(&config, &form("grant_type=client_credentials&client_id=client&client_secret=secret&scope=write++read%20write&state=xyz")).expect("valid");
    assert_eq!(req.scope.as_deref(), Some("write read"));
    assert_eq!(req.state.as_deref(), Some("xyz"));
    let req = parse_token_request(
        &config,
        &form("grant_type=client_credentials&client_id=client&client_secret=secret"),
    )
    .expect("valid");
    assert_eq!((req.scope, req.state), (None, None));
}

#[test]
fn debug_of_a_token_request_hides_the_secret() {
    let req = parse_token_request(
        &fixtures::oauth2_config(),
        &form("grant_type=client_credentials&client_id=client&client_secret=hunter2"),
    )
    .expect("valid");
    let shown = format!("{req:?}");
    assert!(
        !shown.contains("hunter2") && shown.contains("<redacted>"),
        "{shown}"
    );
}

#[test]
fn client_authorization_decides_each_case() {
    let snapshot = fixtures::snapshot();
    let index = SnapshotIndex::new(&snapshot);
    let config = fixtures::oauth2_config();
    let body = |s: &'static str| parse_token_request(&config, &form(s)).expect(s);
    let basic_ok = basic("client", "secret");
    let via_basic = parse_token_request(
        &config,
        &TokenRequestView {
            authorization: Some(&basic_ok),
            ..form(CC)
        },
    )
    .expect("basic");
    let demo = index
        .credential_by_client_id("default", "client")
        .map(|e| e.credential);
    let public = index
        .credential_by_client_id("default", "public-client")
        .map(|e| e.credential);
    let cases: Vec<(
        &str,
        TokenRequest,
        Option<&Credential>,
        bool,
        Option<(u16, &str, &str, Option<&str>)>,
    )> = vec![
        (
            "ok",
            body("grant_type=client_credentials&client_id=client&client_secret=secret"),
            demo,
            true,
            None,
        ),
        (
            "wrong secret",
            body("grant_type=client_credentials&client_id=client&client_secret=nope"),
            demo,
            false,
            Some((400, "invalid_client", "Invalid client authentication", None)),
        ),
        (
            "wrong secret via basic",
            via_basic.clone(),
            demo,
            false,
            Some((
                401,
                "invalid_client",
                "Invalid client authentication",
                Some("Basic realm=\"OAuth2.0\""),
            )),
        ),
        (
            "unknown client via basic (RFC over Kong)",
            via_basic,
            None,
            false,
            Some((
                401,
                "invalid_client",
                "Invalid client authentication",
                Some("Basic realm=\"OAuth2.0\""),
            )),
        ),
        (
            "unknown client",
            body("grant_type=client_credentials&client_id=ghost&client_secret=x"),
            None,
            false,
            Some((400, "invalid_client", "Invalid client authentication", None)),
        ),
        (
            "confidential without secret",
            body("grant_type=client_credentials&client_id=client"),
            demo,
            true,
            Some((400, "invalid_client", "Invalid client authentication", None)),
        ),
        (
            "public with secret",
            body("grant_type=client_credentials&client_id=public-client&client_secret=x"),
            public,
            false,
            Some((
                400,
                "invalid_request",
                "client_secret is disallowed for public clients",
                None,
            )),
        ),
        (
            "public client credentials",
            body("grant_type=client_credentials&client_id=public-client"),
            public,
            false,
            Some((
                400,
                "unauthorized_client",
                "Public clients cannot use the client_credentials grant",
                None,
            )),
        ),
    ];
    for (name, req, credential, secret_ok, want) in cases {
        let got = authorize_client(&req, credential, secret_ok)
            .err()
            .map(|e| (e.status, e.error, e.description, e.www_authenticate));
        let want = want.map(|(s, e, d, w)| (s, e, d.to_string(), w.map(String::from)));
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn secret_check_runs_only_for_confidential_clients_with_a_secret() {
    let snapshot = fixtures::snapshot();
    let index = SnapshotIndex::new(&snapshot);
    let config = fixtures::oauth2_config();
    let demo = index
        .credential_by_client_id("default", "client")
        .expect("demo");
    let public = index
        .credential_by_client_id("default", "public-client")
        .expect("pub");
    let with = parse_token_request(
        &config,
        &form("grant_type=client_credentials&client_id=client&client_secret=secret"),
    )
    .expect("ok");
    let without = parse_token_request(
        &config,
        &form("grant_type=client_credentials&client_id=client"),
    )
    .expect("ok");
    let (verifier, secret) = secret_check(&with, demo).expect("check");
    assert!(verifier.verify(secret));
    assert!(secret_check(&without, demo).is_none());
    assert!(secret_check(&with, public).is_none());
}

#[test]
fn success_body_follows_kong_and_rfc_6749() {
    let mut config = fixtures::oauth2_config();
    let r = token_response(&config, "tok", None, None, None);
    assert_eq!(r.status, 200);
    let body: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    assert_eq!(
        body,
        serde_json::json!({"access_token": "tok", "token_type": "bearer", "expires_in": 7200})
    );
    let h = r.headers();
    assert_eq!(
        h.get("cache-control").map(|v| v.as_bytes()),
        Some(&b"no-store"[..])
    );
    assert_eq!(
        h.get("pragma").map(|v| v.as_bytes()),
        Some(&b"no-cache"[..])
    );
    assert_eq!(
        h.get("content-type").map(|v| v.as_bytes()),
        Some(JSON_CONTENT_TYPE.as_bytes())
    );

    config.token_expiration = 0;
    let r = token_response(&config, "tok", None, Some("read"), Some("s1"));
    let body: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    assert_eq!(
        body,
        serde_json::json!({"access_token": "tok", "token_type": "bearer", "scope": "read", "state": "s1"})
    );
}

#[test]
fn claims_follow_expiration_and_global_credentials() {
    let mut config = fixtures::oauth2_config();
    let plugin = crate::snapshot::Plugin {
        acl: None,
        id: "default/auth".into(),
        incarnation: "uid-1".into(),
        accept_namespaces: crate::snapshot::AcceptNamespaces::Same,
        config: crate::snapshot::PluginConfig::OAuth2(config.clone()),
    };
    let c = claims_for(&plugin, &config, [1; 16], 9, Some("read"), None, 1000);
    assert_eq!(
        (
            c.issued_at,
            c.expires_at,
            c.binding,
            c.scope.as_str(),
            c.epoch
        ),
        (
            1000,
            8200,
            Binding::Global(crate::token::namespace_binding("default")),
            "read",
            9
        )
    );
    config.global_credentials = false;
    config.token_expiration = 0;
    let c = claims_for(&plugin, &config, [1; 16], 9, None, None, 1000);
    assert_eq!(
        (c.expires_at, c.binding, c.scope.as_str()),
        (
            0,
            Binding::Plugin(plugin_binding("default/auth", "uid-1")),
            ""
        )
    );
    // Another incarnation of the plugin (deleted and created again under the same name) binds
    // to another id.
    assert_ne!(
        plugin_binding("default/auth", "uid-1"),
        plugin_binding("default/auth", "uid-2")
    );
}

#[test]
fn token_endpoint_paths_are_recognised() {
    for (path, want) in [
        ("/auth/oauth2/token", true),
        ("/auth/oauth2/token/", true),
        ("/oauth2/token", true),
        ("/auth/oauth2/tokens", false),
        ("/auth/oauth2/token/x", false),
        ("/auth/xoauth2/token", false),
        ("/auth", false),
    ] {
        assert_eq!(crate::oauth::is_token_endpoint(path), want, "{path}");
    }
}

#[test]
fn parser_never_panics_on_random_bodies() {
    let config = fixtures::oauth2_config();
    let mut state: u64 = 0xdead_beef_cafe_f00d;
    let alphabet = b"=&%+{}[]\":,grant_typeclient_idsecretscope\xff\x00 ";
    let mut errors = 0;
    for round in 0..10_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let len = (state % 80) as usize;
        let body: Vec<u8> = (0..len)
            .map(|i| alphabet[((state >> (i % 8 * 8)) as usize + i) % alphabet.len()])
            .collect();
        let content_type = if round % 2 == 0 {
            "application/json"
        } else {
            "application/x-www-form-urlencoded"
        };
        let auth: Vec<u8> = [&b"Basic "[..], &body[..body.len().min(12)]].concat();
        let view = TokenRequestView {
            content_type: Some(content_type),
            body: &body,
            authorization: Some(&auth),
            ..form("")
        };
        if let Err(e) = parse_token_request(&config, &view) {
            assert!((400..=405).contains(&e.status));
            errors += 1;
        }
    }
    assert!(errors > 0);
}

#[test]
fn a_credential_limited_to_some_scopes_gets_invalid_scope_for_others() {
    let snapshot = fixtures::snapshot();
    let mut credential = snapshot.credentials[0].clone();
    let request = |scope: Option<&str>| TokenRequest {
        scope: scope.map(str::to_owned),
        ..parse_token_request(
            &fixtures::oauth2_config(),
            &TokenRequestView {
                method: "POST",
                https: true,
                content_type: Some("application/x-www-form-urlencoded"),
                body: b"grant_type=client_credentials&client_id=client&client_secret=secret",
                ..TokenRequestView::default()
            },
        )
        .expect("parse")
    };
    assert!(check_credential_scope(&request(Some("read write")), &credential).is_ok());
    credential.scopes = Some(vec!["read".into()]);
    assert!(check_credential_scope(&request(Some("read")), &credential).is_ok());
    assert!(check_credential_scope(&request(None), &credential).is_ok());
    let refused = check_credential_scope(&request(Some("read write")), &credential)
        .expect_err("write is not this client's");
    assert_eq!((refused.status, refused.error), (400, "invalid_scope"));
    assert_eq!(refused.description, "'write' is an invalid scope");
}

fn password_config() -> OAuth2Config {
    use sha2::Digest as _;
    let digest = crate::snapshot::hex(&sha2::Sha256::digest(
        b"a-provision-key-of-thirty-two-chars",
    ));
    OAuth2Config {
        enable_password_grant: true,
        provision_key_sha256: Some(digest),
        ..fixtures::oauth2_config()
    }
}

#[test]
fn the_password_grant_needs_the_provision_key_and_a_user() {
    const KEY: &str = "provision_key=a-provision-key-of-thirty-two-chars";
    let config = password_config();
    let off = fixtures::oauth2_config();
    let parse = |config: &OAuth2Config, body: &str| parse_token_request(config, &form(body));

    let refused = parse(&off, "grant_type=password&client_id=client").expect_err("disabled");
    assert_eq!(refused.error, "unsupported_grant_type");

    // (case, body, the error check_provision answers, or None)
    let cases = [
        (
            "all there",
            format!("grant_type=password&client_id=c&{KEY}&authenticated_userid=u1"),
            None,
        ),
        (
            "no key",
            "grant_type=password&client_id=c&authenticated_userid=u1".to_owned(),
            Some("invalid_provision_key"),
        ),
        (
            "wrong key",
            "grant_type=password&client_id=c&provision_key=nope&authenticated_userid=u1".to_owned(),
            Some("invalid_provision_key"),
        ),
        (
            "no user",
            format!("grant_type=password&client_id=c&{KEY}"),
            Some("invalid_authenticated_userid"),
        ),
        (
            "user with a control character",
            format!("grant_type=password&client_id=c&{KEY}&authenticated_userid=a%0Ab"),
            Some("invalid_authenticated_userid"),
        ),
        (
            "client credentials",
            "grant_type=client_credentials&client_id=c".to_owned(),
            None,
        ),
        (
            "client credentials naming a user",
            "grant_type=client_credentials&client_id=c&authenticated_userid=u1".to_owned(),
            Some("invalid_provision_key"),
        ),
        (
            "client credentials with key and user",
            format!("grant_type=client_credentials&client_id=c&{KEY}&authenticated_userid=u1"),
            None,
        ),
    ];
    for (case, body, want) in cases {
        let request = parse(&config, &body).expect(case);
        let got = check_provision(&config, &request)
            .err()
            .map(|e| (e.status, e.error));
        assert_eq!(got, want.map(|e| (400, e)), "{case}");
    }
    let request = parse(
        &config,
        &format!("grant_type=password&client_id=c&{KEY}&authenticated_userid=u1"),
    )
    .expect("valid");
    assert_eq!(request.authenticated_userid.as_deref(), Some("u1"));
    let printed = format!("{request:?}");
    assert!(!printed.contains("provision"), "{printed}");
}

#[test]
fn a_public_client_may_use_the_password_grant_but_not_client_credentials() {
    let config = password_config();
    let snapshot = fixtures::snapshot();
    let public = &snapshot.credentials[1];
    let password = parse_token_request(
        &config,
        &form("grant_type=password&client_id=public-client&authenticated_userid=u1"),
    )
    .expect("valid");
    assert!(authorize_client(&password, Some(public), false).is_ok());
    let cc = parse_token_request(
        &config,
        &form("grant_type=client_credentials&client_id=public-client"),
    )
    .expect("valid");
    assert_eq!(
        authorize_client(&cc, Some(public), false)
            .expect_err("public")
            .error,
        "unauthorized_client"
    );
}
