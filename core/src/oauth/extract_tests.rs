#![allow(clippy::type_complexity)] // table-driven cases are tuples

use super::*;
use http::HeaderValue;

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).expect("name"),
            HeaderValue::from_str(v).expect("value"),
        );
    }
    h
}

const OAUTH2: ParamSource<'static> = ParamSource::OAuth2 {
    auth_header_name: "authorization",
};
const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");
const JSON: (&str, &str) = ("content-type", "application/json");

fn found(token: &str, location: TokenLocation) -> TokenSource {
    TokenSource::Found {
        token: token.into(),
        location,
    }
}

#[test]
fn oauth2_plugin_finds_tokens_where_kong_does() {
    let auth = || TokenLocation::Header(AUTHORIZATION);
    let cases: Vec<(
        &str,
        &str,
        Vec<(&str, &str)>,
        Option<&str>,
        Option<&str>,
        TokenSource,
    )> = vec![
        (
            "bearer",
            "GET",
            vec![("authorization", "Bearer abc")],
            None,
            None,
            found("abc", auth()),
        ),
        (
            "bearer any case",
            "GET",
            vec![("authorization", "bEaReR abc")],
            None,
            None,
            found("abc", auth()),
        ),
        (
            "token scheme",
            "GET",
            vec![("authorization", "Token abc")],
            None,
            None,
            found("abc", auth()),
        ),
        (
            "other scheme is the whole value",
            "GET",
            vec![("authorization", "Basic abc")],
            None,
            None,
            found("Basic abc", auth()),
        ),
        (
            "three parts is the whole value",
            "GET",
            vec![("authorization", "Bearer a b")],
            None,
            None,
            found("Bearer a b", auth()),
        ),
        (
            "bare value",
            "GET",
            vec![("authorization", "abc")],
            None,
            None,
            found("abc", auth()),
        ),
        (
            "header wins over query",
            "GET",
            vec![("authorization", "Bearer h")],
            Some("access_token=q"),
            None,
            found("h", auth()),
        ),
        (
            "query",
            "GET",
            vec![],
            Some("a=1&access_token=q%2Dx"),
            None,
            found("q-x", TokenLocation::Query),
        ),
        (
            "empty query value is missing",
            "GET",
            vec![],
            Some("access_token="),
            None,
            TokenSource::Missing,
        ),
        (
            "form body on POST",
            "POST",
            vec![FORM],
            None,
            Some("access_token=b"),
            found("b", TokenLocation::FormBody),
        ),
        (
            "json body on PATCH",
            "PATCH",
            vec![JSON],
            None,
            Some(r#"{"access_token":"j"}"#),
            found("j", TokenLocation::JsonBody),
        ),
        (
            "body ignored on GET",
            "GET",
            vec![FORM],
            None,
            Some("access_token=b"),
            TokenSource::Missing,
        ),
        (
            "body ignored for text",
            "POST",
            vec![("content-type", "text/plain")],
            None,
            Some("access_token=b"),
            TokenSource::Missing,
        ),
        ("nothing", "GET", vec![], None, None, TokenSource::Missing),
    ];
    for (name, method, hs, query, body, want) in cases {
        let h = headers(&hs);
        let req = RequestView {
            method,
            headers: &h,
            query,
            body: body.map(str::as_bytes),
        };
        assert_eq!(extract_token(OAUTH2, &req), want, "{name}");
    }
}

#[test]
fn oauth2_plugin_reads_its_configured_header() {
    let h = headers(&[
        ("x-token", "Bearer custom"),
        ("authorization", "Bearer other"),
    ]);
    let req = RequestView {
        method: "GET",
        headers: &h,
        query: None,
        body: None,
    };
    let got = extract_token(
        ParamSource::OAuth2 {
            auth_header_name: "x-token",
        },
        &req,
    );
    assert_eq!(
        got,
        found(
            "custom",
            TokenLocation::Header(HeaderName::from_static("x-token"))
        )
    );
}

#[test]
fn openid_connect_plugin_honours_bearer_token_param_type() {
    use BearerTokenParamType::*;
    let cases: Vec<(
        &str,
        Vec<BearerTokenParamType>,
        &str,
        Vec<(&str, &str)>,
        Option<&str>,
        Option<&str>,
        TokenSource,
    )> = vec![
        (
            "authorization",
            vec![Header],
            "GET",
            vec![("authorization", "bearer abc")],
            None,
            None,
            found("abc", TokenLocation::Header(AUTHORIZATION)),
        ),
        (
            "basic is not a token",
            vec![Header],
            "GET",
            vec![("authorization", "Basic abc")],
            None,
            None,
            TokenSource::Missing,
        ),
        (
            "access-token header",
            vec![Header],
            "GET",
            vec![("access-token", "abc")],
            None,
            None,
            found("abc", TokenLocation::Header(ACCESS_TOKEN_HEADER)),
        ),
        (
            "x-access-token header",
            vec![Header],
            "GET",
            vec![("x-access-token", "Bearer abc")],
            None,
            None,
            found("abc", TokenLocation::Header(X_ACCESS_TOKEN_HEADER)),
        ),
        (
            "query not allowed",
            vec![Header],
            "GET",
            vec![],
            Some("access_token=q"),
            None,
            TokenSource::Missing,
        ),
        (
            "query allowed",
            vec![Query],
            "GET",
            vec![("authorization", "Bearer h")],
            Some("access_token=q"),
            None,
            found("q", TokenLocation::Query),
        ),
        (
            "order follows config",
            vec![Query, Header],
            "GET",
            vec![("authorization", "Bearer h")],
            Some("access_token=q"),
            None,
            found("q", TokenLocation::Query),
        ),
        (
            "body",
            vec![Body],
            "DELETE",
            vec![FORM],
            None,
            Some("access_token=b"),
            found("b", TokenLocation::FormBody),
        ),
        (
            "body not on GET",
            vec![Body],
            "GET",
            vec![FORM],
            None,
            Some("access_token=b"),
            TokenSource::Missing,
        ),
        (
            "body must be a form",
            vec![Body],
            "POST",
            vec![JSON],
            None,
            Some(r#"{"access_token":"j"}"#),
            TokenSource::Missing,
        ),
    ];
    for (name, types, method, hs, query, body, want) in cases {
        let h = headers(&hs);
        let req = RequestView {
            method,
            headers: &h,
            query,
            body: body.map(str::as_bytes),
        };
        assert_eq!(
            extract_token(ParamSource::OpenIdConnect { types: &types }, &req),
            want,
            "{name}"
        );
    }
}

#[test]
fn body_is_needed_only_when_it_can_hold_the_token() {
    let oidc_body = [BearerTokenParamType::Header, BearerTokenParamType::Body];
    let oidc_header = [BearerTokenParamType::Header];
    let cases: Vec<(
        &str,
        ParamSource<'_>,
        &str,
        Vec<(&str, &str)>,
        Option<&str>,
        bool,
    )> = vec![
        ("oauth2 form post", OAUTH2, "POST", vec![FORM], None, true),
        ("oauth2 json put", OAUTH2, "PUT", vec![JSON], None, true),
        (
            "oauth2 header present",
            OAUTH2,
            "POST",
            vec![FORM, ("authorization", "Bearer x")],
            None,
            false,
        ),
        (
            "oauth2 query present",
            OAUTH2,
            "POST",
            vec![FORM],
            Some("access_token=x"),
            false,
        ),
        ("oauth2 get", OAUTH2, "GET", vec![FORM], None, false),
        (
            "oauth2 octet stream",
            OAUTH2,
            "POST",
            vec![("content-type", "application/octet-stream")],
            None,
            false,
        ),
        (
            "oidc body allowed",
            ParamSource::OpenIdConnect { types: &oidc_body },
            "POST",
            vec![FORM],
            None,
            true,
        ),
        (
            "oidc header only",
            ParamSource::OpenIdConnect {
                types: &oidc_header,
            },
            "POST",
            vec![FORM],
            None,
            false,
        ),
    ];
    for (name, source, method, hs, query, want) in cases {
        let h = headers(&hs);
        let req = RequestView {
            method,
            headers: &h,
            query,
            body: None,
        };
        assert_eq!(needs_body(source, &req), want, "{name}");
    }
}

#[test]
fn hide_credentials_removes_the_token_and_nothing_else() {
    assert_eq!(
        remove_query_param("a=1&access_token=x&b=%20", "access_token").as_deref(),
        Some("a=1&b=%20")
    );
    assert_eq!(
        remove_query_param("access_token=x&access_token=y", "access_token"),
        None
    );
    assert_eq!(
        remove_query_param("access%5Ftoken=x&c", "access_token").as_deref(),
        Some("c")
    );
    assert_eq!(
        remove_form_param(b"access_token=x&b=2", "access_token"),
        b"b=2".to_vec()
    );
    let json = remove_json_param(br#"{"access_token":"x","b":2}"#, "access_token");
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&json).expect("json"),
        serde_json::json!({"b": 2})
    );
    assert_eq!(
        remove_json_param(b"not json", "access_token"),
        b"not json".to_vec()
    );

    let mut h = headers(&[
        ("authorization", "Bearer a"),
        ("authorization", "Bearer b"),
        ("x", "1"),
    ]);
    let mut query = Some("access_token=x&k=v".to_string());
    let mut body = Some(b"access_token=x&f=1".to_vec());
    hide_credentials(
        &TokenLocation::Header(AUTHORIZATION),
        &mut h,
        &mut query,
        &mut body,
    );
    assert!(h.get(AUTHORIZATION).is_none());
    assert_eq!(h.get("x").map(|v| v.as_bytes()), Some(&b"1"[..]));
    hide_credentials(&TokenLocation::Query, &mut h, &mut query, &mut body);
    assert_eq!(query.as_deref(), Some("k=v"));
    hide_credentials(&TokenLocation::FormBody, &mut h, &mut query, &mut body);
    assert_eq!(body.as_deref(), Some(&b"f=1"[..]));
}

#[test]
fn debug_of_a_found_token_hides_it() {
    let shown = format!("{:?}", found("s3cr3t-token", TokenLocation::Query));
    assert!(
        !shown.contains("s3cr3t") && shown.contains("Query"),
        "{shown}"
    );
}
