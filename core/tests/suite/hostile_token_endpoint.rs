//! Hostile token requests: duplicate parameters, two authentication methods at once, malformed
//! Basic values, non-UTF-8, oversized bodies, wrong content types, credentials in the query
//! string. Each gets its RFC 6749 §5.2 error (never a 500, never a panic), through the same
//! sequence the proxy runs: parse, look up, verify the secret, authorize.

use crate::hostile_support;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hostile_support::*;
use tollgate_core::oauth::token_endpoint::BASIC_CHALLENGE;
use tollgate_core::oauth::{
    ForwardedProto, MAX_TOKEN_BODY_LEN, OAuthError, SnapshotIndex, TokenRequestView,
    authorize_client, parse_token_request, secret_check,
};
use tollgate_core::snapshot::{OAuth2Config, PluginConfig};

const FORM: &str = "application/x-www-form-urlencoded";
const JSON: &str = "application/json";

fn config() -> OAuth2Config {
    let snapshot = snapshot();
    match &plugin(&snapshot, GLOBAL_PLUGIN).config {
        PluginConfig::OAuth2(c) => c.clone(),
        PluginConfig::OpenIdConnect(_) | PluginConfig::RateLimiting(_) => {
            unreachable!("the global plugin is oauth2")
        }
    }
}

/// The whole decision for one request, as the proxy makes it.
fn decide(view: &TokenRequestView<'_>) -> Result<(), OAuthError> {
    let snapshot = snapshot();
    let index = SnapshotIndex::new(&snapshot);
    let request = parse_token_request(&config(), view)?;
    let entry = index.credential_for_plugin(&request.client_id, plugin(&snapshot, GLOBAL_PLUGIN));
    let secret_ok = entry
        .and_then(|e| secret_check(&request, e))
        .is_some_and(|(verifier, presented)| verifier.verify(presented));
    authorize_client(&request, entry.map(|e| e.credential), secret_ok)
}

fn view<'a>(content_type: Option<&'a str>, body: &'a [u8]) -> TokenRequestView<'a> {
    TokenRequestView {
        method: "POST",
        https: true,
        content_type,
        body,
        ..Default::default()
    }
}

fn basic(raw: &str) -> Vec<u8> {
    format!("Basic {}", STANDARD.encode(raw)).into_bytes()
}

/// Asserts the refusal: status, RFC 6749 error code, the Basic challenge exactly when the
/// client used Basic and failed, and the token endpoint's no-store headers.
fn assert_refused(result: Result<(), OAuthError>, status: u16, error: &str, case: &str) {
    let e = match result {
        Ok(()) => panic!("{case}: accepted"),
        Err(e) => e,
    };
    assert_eq!((e.status, e.error), (status, error), "{case}: {e:?}");
    assert!(e.token_endpoint, "{case}: no-store headers");
    assert!(e.status < 500, "{case}");
    if status == 401 {
        assert_eq!(
            e.www_authenticate.as_deref(),
            Some(BASIC_CHALLENGE),
            "{case}"
        );
    }
    let body: serde_json::Value = serde_json::from_slice(&e.body()).expect("JSON error body");
    assert_eq!(body["error"], error, "{case}");
    let description = body["error_description"].as_str().unwrap_or_default();
    // RFC 6749 §5.2 allows %x20-21 / %x23-5B / %x5D-7E; Kong's own texts quote the scope
    // (`"wot" is an invalid scope`), so `"` is tolerated here. Control characters, non-ASCII
    // and client bytes echoed raw never are.
    assert!(
        description.bytes().all(|b| (0x20..=0x7e).contains(&b)),
        "{case}: error_description outside printable ASCII: {description:?}"
    );
}

#[test]
fn the_plain_request_succeeds_so_the_refusals_below_mean_something() {
    let body = b"grant_type=client_credentials&client_id=client&client_secret=secret";
    assert_eq!(decide(&view(Some(FORM), body)), Ok(()));
    let header = basic("client:secret");
    let with_basic = TokenRequestView {
        authorization: Some(&header),
        ..view(Some(FORM), b"grant_type=client_credentials")
    };
    assert_eq!(decide(&with_basic), Ok(()));
}

#[test]
fn duplicate_parameters_are_invalid_requests() {
    let mut tally = Tally::new("token-endpoint");
    let bodies: [&[u8]; 6] = [
        b"grant_type=client_credentials&grant_type=client_credentials&client_id=client&client_secret=secret",
        b"grant_type=client_credentials&client_id=client&client_id=client&client_secret=secret",
        b"grant_type=client_credentials&client_id=client&client_secret=secret&client_secret=secret",
        b"grant_type=client_credentials&client_id=client&client_secret=secret&client_secret=other",
        b"grant_type=client_credentials&client_id=client&client_secret=secret&scope=read&scope=write",
        b"grant%5Ftype=client_credentials&grant_type=client_credentials&client_id=client&client_secret=secret",
    ];
    for body in bodies {
        assert_refused(
            decide(&view(Some(FORM), body)),
            400,
            "invalid_request",
            &String::from_utf8_lossy(body),
        );
        tally.case();
    }
    let json = br#"{"grant_type":"client_credentials","client_id":"client","client_secret":"secret","client_id":"client"}"#;
    assert_refused(
        decide(&view(Some(JSON), json)),
        400,
        "invalid_request",
        "JSON duplicate",
    );
    // The same parameter in the query and the body.
    let body = b"grant_type=client_credentials&client_id=client&client_secret=secret";
    let split = TokenRequestView {
        query: Some("grant_type=client_credentials"),
        ..view(Some(FORM), body)
    };
    assert_refused(decide(&split), 400, "invalid_request", "query and body");
    tally.add(2);
}

#[test]
fn basic_and_body_credentials_together_are_refused() {
    let mut tally = Tally::new("token-endpoint");
    let header = basic("client:secret");
    let other = basic("other:secret");
    let cases: [(&[u8], &[u8], u16, &str); 4] = [
        (
            &header,
            b"grant_type=client_credentials&client_id=client&client_secret=secret",
            400,
            "invalid_request",
        ),
        (
            &header,
            b"grant_type=client_credentials&client_secret=secret",
            400,
            "invalid_request",
        ),
        (
            &header,
            b"grant_type=client_credentials&client_id=someone-else",
            400,
            "invalid_request",
        ),
        (
            &other,
            b"grant_type=client_credentials&client_id=client",
            400,
            "invalid_request",
        ),
    ];
    for (authorization, body, status, error) in cases {
        let request = TokenRequestView {
            authorization: Some(authorization),
            ..view(Some(FORM), body)
        };
        assert_refused(
            decide(&request),
            status,
            error,
            &String::from_utf8_lossy(body),
        );
        tally.case();
    }
}

#[test]
fn malformed_or_wrong_basic_credentials_get_401_with_a_basic_challenge() {
    let mut tally = Tally::new("token-endpoint");
    let headers: Vec<Vec<u8>> = vec![
        b"Basic".to_vec(),
        b"Basic ".to_vec(),
        b"Basic !!!!".to_vec(),
        b"Basic Y2xpZW50".to_vec(), // "client" without a colon
        basic(":secret"),           // empty client id
        basic("client:wrong"),      // wrong secret
        basic("client:"),           // empty secret
        basic("nobody:secret"),     // unknown client
        basic("client%3Asecret:x"), // colon encoded inside the id
        basic("client:secret\0"),   // NUL appended to the secret
        basic("client:%FF"),        // secret not UTF-8 once form-decoded
        [
            b"Basic ".as_slice(),
            &STANDARD.encode([0xffu8, b':', 0xfe]).into_bytes(),
        ]
        .concat(),
        b"Basic \xff\xfe".to_vec(),         // header not UTF-8
        b"bAsIc Y2xpZW50Ondyb25n".to_vec(), // "client:wrong", scheme in odd case
        format!("Basic {}", "A".repeat(20_000)).into_bytes(),
    ];
    for header in &headers {
        let request = TokenRequestView {
            authorization: Some(header),
            ..view(Some(FORM), b"grant_type=client_credentials")
        };
        assert_refused(
            decide(&request),
            401,
            "invalid_client",
            &String::from_utf8_lossy(&header[..header.len().min(40)]),
        );
        tally.case();
    }
    // Not Basic at all: no client authentication, so 400 invalid_client without a challenge.
    for header in [
        &b"Bearer abc"[..],
        b"Digest x",
        b"Basicx Y2xpZW50OnNlY3JldA==",
    ] {
        let request = TokenRequestView {
            authorization: Some(header),
            ..view(Some(FORM), b"grant_type=client_credentials")
        };
        assert_refused(
            decide(&request),
            400,
            "invalid_client",
            &String::from_utf8_lossy(header),
        );
        tally.case();
    }
}

#[test]
fn non_utf8_parameters_are_invalid_requests() {
    let mut tally = Tally::new("token-endpoint");
    let bodies: [&[u8]; 5] = [
        b"grant_type=client_credentials&client_id=client&client_secret=%FF",
        b"grant_type=client_credentials&client_id=%C3%28&client_secret=secret",
        b"grant_type=client_credentials&client_id=client&client_secret=\xff\xfe",
        b"grant_type=client_credentials&%ED%A0%80=1&client_id=client&client_secret=secret",
        b"grant_type=client_credentials&client_id=client&client_secret=secret&state=%F0%9F",
    ];
    for body in bodies {
        assert_refused(
            decide(&view(Some(FORM), body)),
            400,
            "invalid_request",
            &String::from_utf8_lossy(body),
        );
        tally.case();
    }
    let json = b"{\"grant_type\":\"client_credentials\",\"client_id\":\"\xff\"}";
    assert_refused(
        decide(&view(Some(JSON), json)),
        400,
        "invalid_request",
        "JSON not UTF-8",
    );
    let query = TokenRequestView {
        query: Some("x=%FF"),
        ..view(Some(FORM), b"grant_type=client_credentials")
    };
    assert_refused(decide(&query), 400, "invalid_request", "query not UTF-8");
    tally.add(2);
}

#[test]
fn bodies_over_the_limit_or_with_too_many_parameters_are_invalid_requests() {
    let mut tally = Tally::new("token-endpoint");
    let huge = format!(
        "grant_type=client_credentials&client_id=client&client_secret=secret&pad={}",
        "x".repeat(MAX_TOKEN_BODY_LEN)
    );
    assert_refused(
        decide(&view(Some(FORM), huge.as_bytes())),
        400,
        "invalid_request",
        "huge form",
    );
    let many: String =
        (0..200).map(|i| format!("p{i}=1&")).collect::<String>() + "grant_type=client_credentials";
    assert_refused(
        decide(&view(Some(FORM), many.as_bytes())),
        400,
        "invalid_request",
        "200 parameters",
    );
    let many_json = format!(
        "{{{}\"grant_type\":\"client_credentials\"}}",
        (0..200)
            .map(|i| format!("\"p{i}\":\"1\","))
            .collect::<String>()
    );
    assert_refused(
        decide(&view(Some(JSON), many_json.as_bytes())),
        400,
        "invalid_request",
        "200 JSON members",
    );
    let long_query = format!("pad={}", "x".repeat(64 * 1024));
    let query = TokenRequestView {
        query: Some(&long_query),
        ..view(Some(FORM), b"grant_type=client_credentials")
    };
    assert_refused(decide(&query), 400, "invalid_request", "64 KiB query");
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert_refused(
        decide(&view(Some(JSON), deep.as_bytes())),
        400,
        "invalid_request",
        "deeply nested JSON",
    );
    let long_scope = format!(
        "grant_type=client_credentials&client_id=client&client_secret=secret&scope={}",
        "read ".repeat(3000)
    );
    assert_eq!(
        decide(&view(Some(FORM), long_scope.as_bytes())),
        Ok(()),
        "repeated scopes collapse to one"
    );
    tally.add(6);
}

#[test]
fn wrong_content_types_and_non_object_json_are_invalid_requests() {
    let mut tally = Tally::new("token-endpoint");
    let form = b"grant_type=client_credentials&client_id=client&client_secret=secret".as_slice();
    let json =
        br#"{"grant_type":"client_credentials","client_id":"client","client_secret":"secret"}"#
            .as_slice();
    let cases: [(Option<&str>, &[u8]); 14] = [
        (None, form),
        (Some("text/plain"), form),
        (Some("multipart/form-data; boundary=x"), form),
        (Some("application/x-www-form-urlencodedx"), form),
        (Some("application/jsonp"), json),
        (Some("application/xml"), b"<grant_type>client_credentials</grant_type>"),
        (Some(""), form),
        (Some(";"), form),
        (Some(JSON), form),
        (Some(JSON), b"[\"grant_type\",\"client_credentials\"]"),
        (Some(JSON), b"\"grant_type=client_credentials\""),
        (Some(JSON), br#"{"grant_type":"client_credentials","client_id":{"$ne":""},"client_secret":"x"}"#),
        (Some(JSON), br#"{"grant_type":["client_credentials"],"client_id":"client","client_secret":"secret"}"#),
        (Some(JSON), br#"{"grant_type":"client_credentials","client_id":"client","client_secret":"secret""#),
    ];
    for (content_type, body) in cases {
        assert_refused(
            decide(&view(content_type, body)),
            400,
            "invalid_request",
            &format!("{content_type:?} {}", String::from_utf8_lossy(body)),
        );
        tally.case();
    }
    // The media type is case-insensitive and parameters are allowed: these succeed.
    for content_type in [
        "Application/X-WWW-Form-Urlencoded; charset=utf-8",
        "APPLICATION/JSON;charset=UTF-8",
    ] {
        let body = if content_type.to_ascii_lowercase().contains("json") {
            json
        } else {
            form
        };
        assert_eq!(
            decide(&view(Some(content_type), body)),
            Ok(()),
            "{content_type}"
        );
    }
}

#[test]
fn credentials_in_the_query_string_are_refused() {
    let mut tally = Tally::new("token-endpoint");
    let queries = [
        "client_secret=secret",
        "client_id=client&client_secret=secret",
        "client_id=client&client_secret=secret&grant_type=client_credentials",
        "client%5Fsecret=secret",
        "client_secret=wrong",
    ];
    for query in queries {
        let request = TokenRequestView {
            query: Some(query),
            ..view(
                Some(FORM),
                b"grant_type=client_credentials&client_id=client",
            )
        };
        assert_refused(decide(&request), 400, "invalid_request", query);
        tally.case();
    }
    // Everything in the query, empty body: still refused.
    let request = TokenRequestView {
        query: Some("grant_type=client_credentials&client_id=client&client_secret=secret"),
        ..view(None, b"")
    };
    assert_refused(decide(&request), 400, "invalid_request", "query only");
    tally.case();
}

#[test]
fn wrong_grants_methods_schemes_and_secrets_get_their_own_errors() {
    let mut tally = Tally::new("token-endpoint");
    let with = |body: &'static [u8]| view(Some(FORM), body);
    let cases: Vec<(&str, TokenRequestView<'static>, u16, &str)> = vec![
        ("no grant", with(b"client_id=client&client_secret=secret"), 400, "invalid_request"),
        ("password grant", with(b"grant_type=password&client_id=client&client_secret=secret"), 400, "unsupported_grant_type"),
        ("grant in odd case", with(b"grant_type=Client_Credentials&client_id=client&client_secret=secret"), 400, "unsupported_grant_type"),
        ("grant with NUL", with(b"grant_type=client_credentials%00&client_id=client&client_secret=secret"), 400, "unsupported_grant_type"),
        ("no client", with(b"grant_type=client_credentials"), 400, "invalid_client"),
        ("unknown client", with(b"grant_type=client_credentials&client_id=nobody&client_secret=secret"), 400, "invalid_client"),
        ("wrong secret", with(b"grant_type=client_credentials&client_id=client&client_secret=secreT"), 400, "invalid_client"),
        ("secret prefix", with(b"grant_type=client_credentials&client_id=client&client_secret=secre"), 400, "invalid_client"),
        ("secret plus", with(b"grant_type=client_credentials&client_id=client&client_secret=secret+"), 400, "invalid_client"),
        ("client id case", with(b"grant_type=client_credentials&client_id=CLIENT&client_secret=secret"), 400, "invalid_client"),
        ("client id only", with(b"grant_type=client_credentials&client_id=client"), 400, "invalid_client"),
        ("unknown scope", with(b"grant_type=client_credentials&client_id=client&client_secret=secret&scope=admin"), 400, "invalid_scope"),
        ("scope with tab", with(b"grant_type=client_credentials&client_id=client&client_secret=secret&scope=read%09write"), 400, "invalid_scope"),
        ("GET", TokenRequestView { method: "GET", ..with(b"") }, 405, "invalid_method"),
        ("lower-case post", TokenRequestView { method: "post", ..with(b"") }, 405, "invalid_method"),
        ("plain HTTP", TokenRequestView { https: false, ..with(b"grant_type=client_credentials") }, 400, "access_denied"),
        (
            "plain HTTP claiming https",
            TokenRequestView { https: false, forwarded_proto: ForwardedProto::Https, ..with(b"grant_type=client_credentials") },
            400,
            "access_denied",
        ),
    ];
    for (case, request, status, error) in cases {
        assert_refused(decide(&request), status, error, case);
        tally.case();
    }
}
