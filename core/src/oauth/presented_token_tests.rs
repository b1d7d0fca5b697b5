use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::*;
use crate::fixtures::{self, form};
use crate::oauth::{introspect_endpoint, revoke_endpoint};
use crate::snapshot::{PluginConfig, Snapshot};

fn config(s: &Snapshot) -> &OAuth2Config {
    match &s.plugins[0].config {
        PluginConfig::OAuth2(c) => c,
        PluginConfig::OpenIdConnect(_) | PluginConfig::RateLimiting(_) => {
            panic!("the fixture's first plugin")
        }
    }
}

#[test]
fn a_request_needs_post_https_a_token_and_a_client_and_keeps_the_hint() {
    let s = fixtures::snapshot();
    let config = config(&s);
    let basic = format!("Basic {}", STANDARD.encode("client:secret")).into_bytes();
    let ok = parse_presented_token(
        config,
        &TokenRequestView {
            authorization: Some(&basic),
            ..form("token=abc&token_type_hint=refresh_token")
        },
    )
    .expect("valid");
    assert_eq!(ok.client_id, "client");
    assert_eq!(ok.client_secret(), Some(&b"secret"[..]));
    assert_eq!(ok.auth_method, ClientAuthMethod::Basic);
    assert_eq!(ok.token(), "abc");
    assert_eq!(ok.hint.as_deref(), Some("refresh_token"));
    let printed = format!("{ok:?}");
    assert!(
        !printed.contains("secret\"") && !printed.contains("abc"),
        "{printed}"
    );

    // (case, request, status, error)
    let cases = [
        (
            "GET",
            TokenRequestView {
                method: "GET",
                ..form("")
            },
            405,
            "invalid_method",
        ),
        (
            "plain http",
            TokenRequestView {
                https: false,
                ..form("token=abc&client_id=client&client_secret=secret")
            },
            400,
            "access_denied",
        ),
        (
            "no token",
            form("client_id=client&client_secret=secret"),
            400,
            "invalid_request",
        ),
        ("no client", form("token=abc"), 400, "invalid_client"),
        (
            "secret in the query",
            TokenRequestView {
                query: Some("client_secret=secret"),
                ..form("token=abc&client_id=client")
            },
            400,
            "invalid_request",
        ),
        (
            "repeated token",
            form("token=a&token=b&client_id=client&client_secret=secret"),
            400,
            "invalid_request",
        ),
    ];
    for (case, view, status, error) in cases {
        let refused = parse_presented_token(config, &view).expect_err(case);
        assert_eq!((refused.status, refused.error), (status, error), "{case}");
        assert!(refused.token_endpoint, "{case}: no-store headers");
    }
}

/// The client authentication of both endpoints: a confidential client needs its secret, an
/// unknown one is refused, a public client as each endpoint says.
#[test]
fn client_authentication_of_the_introspection_and_revocation_endpoints() {
    let s = fixtures::snapshot();
    let config = config(&s);
    let confidential = &s.credentials[0];
    let public = &s.credentials[1];
    let basic = format!("Basic {}", STANDARD.encode("client:guess")).into_bytes();
    let with_secret = "token=t&client_id=client&client_secret=secret";
    let introspect = introspect_endpoint::PUBLIC_CLIENTS;
    let revoke = revoke_endpoint::PUBLIC_CLIENTS;
    // (case, request, credential, secret matched, endpoint, status and error when refused)
    let cases: &[(&str, TokenRequestView<'_>, Option<&Credential>, bool, PublicClients, Option<(u16, &str)>)] = &[
        ("with its secret", form(with_secret), Some(confidential), true, introspect, None),
        ("with its secret", form(with_secret), Some(confidential), true, revoke, None),
        ("a wrong secret", form(with_secret), Some(confidential), false, introspect, Some((400, "invalid_client"))),
        ("a wrong secret", form(with_secret), Some(confidential), false, revoke, Some((400, "invalid_client"))),
        (
            "a wrong secret in Basic",
            TokenRequestView { authorization: Some(&basic), ..form("token=t") },
            Some(confidential),
            false,
            revoke,
            Some((401, "invalid_client")),
        ),
        ("an unknown client", form(with_secret), None, false, introspect, Some((400, "invalid_client"))),
        ("an unknown client", form(with_secret), None, false, revoke, Some((400, "invalid_client"))),
        ("no secret", form("token=t&client_id=client"), Some(confidential), false, introspect, Some((400, "invalid_client"))),
        ("no secret", form("token=t&client_id=client"), Some(confidential), false, revoke, Some((400, "invalid_client"))),
        ("a public client", form("token=t&client_id=public-client"), Some(public), false, introspect, Some((400, "unauthorized_client"))),
        ("a public client", form("token=t&client_id=public-client"), Some(public), false, revoke, None),
    ];
    for (case, view, credential, secret_ok, endpoint, refused) in cases {
        let what = format!("{case} ({endpoint:?})");
        let request = parse_presented_token(config, view).expect("valid");
        let decided = authorize_presenting_client(&request, *credential, *secret_ok, *endpoint);
        match (decided, refused) {
            (Ok(()), None) => {}
            (Err(error), Some((status, code))) => {
                assert_eq!((error.status, error.error), (*status, *code), "{what}");
                assert_eq!(error.www_authenticate.is_some(), *status == 401, "{what}");
            }
            (other, _) => panic!("{what}: {other:?}, expected refusal {refused:?}"),
        }
    }
}
