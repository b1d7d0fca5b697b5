use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::*;
use crate::fixtures;
use crate::ids::uuid_bytes;
use crate::snapshot::{OAuth2Config, Snapshot};
use crate::token::{Binding, plugin_binding};

fn form<'a>(body: &'a str) -> TokenRequestView<'a> {
    TokenRequestView {
        method: "POST",
        https: true,
        content_type: Some("application/x-www-form-urlencoded"),
        body: body.as_bytes(),
        ..Default::default()
    }
}

fn auth(s: &Snapshot) -> (&Plugin, &OAuth2Config) {
    let plugin = &s.plugins[0];
    match &plugin.config {
        crate::snapshot::PluginConfig::OAuth2(c) => (plugin, c),
        crate::snapshot::PluginConfig::OpenIdConnect(_)
        | crate::snapshot::PluginConfig::RateLimiting(_) => panic!("the fixture's first plugin"),
    }
}

#[test]
fn the_path_ends_with_oauth2_revoke() {
    assert!(is_revocation_endpoint("/api/oauth2/revoke"));
    assert!(is_revocation_endpoint("/oauth2/revoke/"));
    assert!(!is_revocation_endpoint("/oauth2/revoked"));
    assert!(!is_revocation_endpoint("/oauth2/token"));
}

#[test]
fn a_request_needs_post_https_a_token_and_a_client_and_keeps_the_hint() {
    let s = fixtures::snapshot();
    let (_, config) = auth(&s);
    let basic = format!("Basic {}", STANDARD.encode("client:secret")).into_bytes();
    let ok = parse_revocation_request(
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
        let refused = parse_revocation_request(config, &view).expect_err(case);
        assert_eq!((refused.status, refused.error), (status, error), "{case}");
        assert!(refused.token_endpoint, "{case}: no-store headers");
    }
}

#[test]
fn a_confidential_client_needs_its_secret_and_a_public_client_its_id() {
    let s = fixtures::snapshot();
    let (_, config) = auth(&s);
    let request = |body: &str| parse_revocation_request(config, &form(body)).expect("valid");
    let confidential = &s.credentials[0];
    let public = &s.credentials[1];
    let with_secret = request("token=t&client_id=client&client_secret=secret");
    assert!(authorize_revoking_client(&with_secret, Some(confidential), true).is_ok());
    let refused =
        authorize_revoking_client(&with_secret, Some(confidential), false).expect_err("wrong");
    assert_eq!((refused.status, refused.error), (400, "invalid_client"));
    let refused = authorize_revoking_client(&with_secret, None, false).expect_err("unknown");
    assert_eq!((refused.status, refused.error), (400, "invalid_client"));
    let id_only = request("token=t&client_id=client");
    assert!(authorize_revoking_client(&id_only, Some(confidential), false).is_err());
    let public_id_only = request("token=t&client_id=public-client");
    assert!(authorize_revoking_client(&public_id_only, Some(public), false).is_ok());
}

#[test]
fn only_a_live_token_of_the_caller_is_revoked_and_another_clients_is_refused() {
    let s = fixtures::snapshot();
    let index = SnapshotIndex::new(&s);
    let (plugin, _) = auth(&s);
    let demo = index
        .credential_by_client_id("default", "client")
        .expect("demo");
    let here = Binding::Plugin(plugin_binding(&plugin.id, &plugin.incarnation));
    let claims = |binding: Binding, epoch: u64, expires_at: u64| Claims {
        credential_id: uuid_bytes(&demo.credential.id).expect("uuid"),
        epoch,
        issued_at: 1000,
        expires_at,
        binding,
        scope: String::new(),
        authenticated_userid: String::new(),
    };
    let caller = &s.credentials[0];
    let other = &s.credentials[1];
    let decide = |who: &Credential, opened| revocation_decision(plugin, who, opened, &index, 2000);

    assert_eq!(
        decide(caller, Some(Ok((claims(here, demo.epoch, 8200), [9; 16])))),
        Ok(Revocation::Revoke {
            id: RevokedId::token([9; 16]),
            expires_at: 8200
        })
    );
    let refused = decide(other, Some(Ok((claims(here, demo.epoch, 8200), [9; 16]))))
        .expect_err("another client's token");
    assert_eq!(
        (refused.status, refused.error),
        (400, "unauthorized_client")
    );
    let other_plugin = Binding::Plugin(plugin_binding("default/other", ""));
    for (case, opened) in [
        (
            "expired",
            Some(Ok((claims(here, demo.epoch, 1500), [9; 16]))),
        ),
        (
            "older secret",
            Some(Ok((claims(here, demo.epoch ^ 1, 8200), [9; 16]))),
        ),
        (
            "another plugin's",
            Some(Ok((claims(other_plugin, demo.epoch, 8200), [9; 16]))),
        ),
        ("not a token", Some(Err(TokenError::Malformed))),
        ("too long to try", None),
    ] {
        // Unknown tokens are not an error (RFC 7009 §2.2), whoever asks.
        assert_eq!(
            decide(caller, opened.clone()),
            Ok(Revocation::Nothing),
            "{case}"
        );
        assert_eq!(decide(other, opened), Ok(Revocation::Nothing), "{case}");
    }
}

#[test]
fn a_full_store_is_a_503_the_client_may_retry() {
    let error = store_full();
    assert_eq!(
        (error.status, error.error),
        (503, "temporarily_unavailable")
    );
    assert!(error.token_endpoint);
}
