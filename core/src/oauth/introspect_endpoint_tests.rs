use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::*;
use crate::fixtures;
use crate::ids::uuid_bytes;
use crate::snapshot::Snapshot;
use crate::token::{Binding, namespace_binding, plugin_binding};

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
fn a_request_needs_post_https_a_token_and_a_client() {
    let s = fixtures::snapshot();
    let (_, config) = auth(&s);
    let basic = format!("Basic {}", STANDARD.encode("client:secret")).into_bytes();
    let ok = parse_introspection_request(
        config,
        &TokenRequestView {
            authorization: Some(&basic),
            ..form("token=abc&token_type_hint=access_token")
        },
    )
    .expect("valid");
    assert_eq!(ok.client_id, "client");
    assert_eq!(ok.client_secret(), Some(&b"secret"[..]));
    assert_eq!(ok.auth_method, ClientAuthMethod::Basic);
    assert_eq!(ok.token(), "abc");
    let printed = format!("{ok:?}");
    assert!(
        !printed.contains("secret") && !printed.contains("abc"),
        "{printed}"
    );

    // (case, request, status, error, description)
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
        let refused = parse_introspection_request(config, &view).expect_err(case);
        assert_eq!((refused.status, refused.error), (status, error), "{case}");
        assert!(refused.token_endpoint, "{case}: no-store headers");
    }
}

#[test]
fn only_a_confidential_client_with_its_secret_may_introspect() {
    let s = fixtures::snapshot();
    let (_, config) = auth(&s);
    let request = |body: &str| parse_introspection_request(config, &form(body)).expect("valid");
    let confidential = &s.credentials[0];
    let public = &s.credentials[1];
    let with_secret = request("token=t&client_id=client&client_secret=secret");
    assert!(authorize_introspecting_client(&with_secret, Some(confidential), true).is_ok());
    let refused = authorize_introspecting_client(&with_secret, Some(confidential), false)
        .expect_err("wrong secret");
    assert_eq!((refused.status, refused.error), (400, "invalid_client"));
    let refused =
        authorize_introspecting_client(&with_secret, None, false).expect_err("unknown client");
    assert_eq!((refused.status, refused.error), (400, "invalid_client"));
    let id_only = request("token=t&client_id=public-client");
    let refused =
        authorize_introspecting_client(&id_only, Some(public), false).expect_err("public");
    assert_eq!(
        (refused.status, refused.error),
        (400, "unauthorized_client")
    );
}

#[test]
fn a_token_is_active_only_where_the_plugin_would_accept_it() {
    let s = fixtures::snapshot();
    let index = SnapshotIndex::new(&s);
    let (plugin, _) = auth(&s);
    let demo = index
        .credential_by_client_id("default", "client")
        .expect("demo");
    let claims = |binding: Binding, epoch: u64, expires_at: u64| Claims {
        credential_id: uuid_bytes(&demo.credential.id).expect("uuid"),
        epoch,
        issued_at: 1000,
        expires_at,
        binding,
        scope: "read".into(),
        authenticated_userid: String::new(),
    };
    let here = Binding::Plugin(plugin_binding(&plugin.id, &plugin.incarnation));
    let answer = |opened| -> serde_json::Value {
        serde_json::from_slice(&introspection_response(plugin, opened, &index, 2000)).expect("json")
    };

    let active = answer(Some(Ok(claims(here, demo.epoch, 8200))));
    assert_eq!(
        active,
        serde_json::json!({
            "active": true, "scope": "read", "client_id": "client", "username": "jane",
            "token_type": "bearer", "exp": 8200, "iat": 1000,
        })
    );
    let inactive = serde_json::json!({ "active": false });
    let other_plugin = Binding::Plugin(plugin_binding("default/other", ""));
    let other_namespace = Binding::Global(namespace_binding("tenant-b"));
    for (case, opened) in [
        ("expired", Some(Ok(claims(here, demo.epoch, 1500)))),
        ("older secret", Some(Ok(claims(here, demo.epoch ^ 1, 8200)))),
        (
            "another plugin's",
            Some(Ok(claims(other_plugin, demo.epoch, 8200))),
        ),
        (
            "another namespace's",
            Some(Ok(claims(other_namespace, demo.epoch, 8200))),
        ),
        ("not a token", Some(Err(TokenError::Malformed))),
        ("too long to try", None),
    ] {
        assert_eq!(answer(opened), inactive, "{case}");
    }

    // A global token of the plugin's namespace: active where global credentials are on.
    let global = Binding::Global(namespace_binding("default"));
    assert_eq!(
        answer(Some(Ok(claims(global, demo.epoch, 8200))))["active"],
        true
    );
    let mut local_only = plugin.clone();
    if let crate::snapshot::PluginConfig::OAuth2(c) = &mut local_only.config {
        c.global_credentials = false;
    }
    let body = introspection_response(
        &local_only,
        Some(Ok(claims(global, demo.epoch, 8200))),
        &index,
        2000,
    );
    assert_eq!(body, br#"{"active":false}"#);
}
