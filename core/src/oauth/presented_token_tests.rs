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

type Refusal = Option<(u16, &'static str)>;
/// (case, request, credential, secret matched, refusal at introspection, at revocation)
type Case<'a> = (
    &'a str,
    &'a TokenRequestView<'a>,
    Option<&'a Credential>,
    bool,
    Refusal,
    Refusal,
);

/// The client authentication of both endpoints: a confidential client needs its secret, an
/// unknown one is refused, a public client as each endpoint says.
#[test]
fn client_authentication_of_the_introspection_and_revocation_endpoints() {
    let s = fixtures::snapshot();
    let config = config(&s);
    let (confidential, public) = (&s.credentials[0], &s.credentials[1]);
    let basic = format!("Basic {}", STANDARD.encode("client:guess")).into_bytes();
    let with_secret = form("token=t&client_id=client&client_secret=secret");
    let id_only = form("token=t&client_id=client");
    let public_id = form("token=t&client_id=public-client");
    let basic_guess = TokenRequestView {
        authorization: Some(&basic),
        ..form("token=t")
    };
    let ok = None;
    let invalid = Some((400, "invalid_client"));
    let unauthorized = Some((400, "unauthorized_client"));
    let cases: [Case<'_>; 6] = [
        (
            "with its secret",
            &with_secret,
            Some(confidential),
            true,
            ok,
            ok,
        ),
        (
            "a wrong secret",
            &with_secret,
            Some(confidential),
            false,
            invalid,
            invalid,
        ),
        (
            "a wrong secret in Basic",
            &basic_guess,
            Some(confidential),
            false,
            Some((401, "invalid_client")),
            Some((401, "invalid_client")),
        ),
        (
            "an unknown client",
            &with_secret,
            None,
            false,
            invalid,
            invalid,
        ),
        (
            "no secret",
            &id_only,
            Some(confidential),
            false,
            invalid,
            invalid,
        ),
        (
            "a public client",
            &public_id,
            Some(public),
            false,
            unauthorized,
            ok,
        ),
    ];
    for (case, view, credential, secret_ok, at_introspection, at_revocation) in cases {
        let request = parse_presented_token(config, view).expect("valid");
        for (endpoint, refusal) in [
            (introspect_endpoint::PUBLIC_CLIENTS, at_introspection),
            (revoke_endpoint::PUBLIC_CLIENTS, at_revocation),
        ] {
            let what = format!("{case} ({endpoint:?})");
            match (
                authorize_presenting_client(&request, credential, secret_ok, endpoint),
                refusal,
            ) {
                (Ok(()), None) => {}
                (Err(error), Some((status, code))) => {
                    assert_eq!((error.status, error.error), (status, code), "{what}");
                    assert_eq!(error.www_authenticate.is_some(), status == 401, "{what}");
                }
                (other, _) => panic!("{what}: {other:?}, expected refusal {refusal:?}"),
            }
        }
    }
}
