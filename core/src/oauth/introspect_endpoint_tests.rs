use super::*;
use crate::fixtures;
use crate::ids::uuid_bytes;
use crate::token::{Binding, namespace_binding, plugin_binding};

#[test]
fn a_token_is_active_only_where_the_plugin_would_accept_it() {
    let s = fixtures::snapshot();
    let index = SnapshotIndex::new(&s);
    // The fixture's first plugin is its oauth2 plugin.
    let plugin = &s.plugins[0];
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

    let active = answer(Some(Ok(claims(here, demo.epoch(), 8200))));
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
        ("expired", Some(Ok(claims(here, demo.epoch(), 1500)))),
        (
            "older secret",
            Some(Ok(claims(here, demo.epoch() ^ 1, 8200))),
        ),
        (
            "another plugin's",
            Some(Ok(claims(other_plugin, demo.epoch(), 8200))),
        ),
        (
            "another namespace's",
            Some(Ok(claims(other_namespace, demo.epoch(), 8200))),
        ),
        ("not a token", Some(Err(TokenError::Malformed))),
        ("too long to try", None),
    ] {
        assert_eq!(answer(opened), inactive, "{case}");
    }

    // A global token of the plugin's namespace: active where global credentials are on.
    let global = Binding::Global(namespace_binding("default"));
    assert_eq!(
        answer(Some(Ok(claims(global, demo.epoch(), 8200))))["active"],
        true
    );
    let mut local_only = plugin.clone();
    if let crate::snapshot::PluginConfig::OAuth2(c) = &mut local_only.config {
        c.global_credentials = false;
    }
    let body = introspection_response(
        &local_only,
        Some(Ok(claims(global, demo.epoch(), 8200))),
        &index,
        2000,
    );
    assert_eq!(body, br#"{"active":false}"#);
}

#[test]
fn the_path_ends_with_oauth2_introspect() {
    assert!(is_introspection_endpoint("/api/oauth2/introspect"));
    assert!(is_introspection_endpoint("/oauth2/introspect/"));
    assert!(!is_introspection_endpoint("/oauth2/introspection"));
    assert!(!is_introspection_endpoint("/oauth2/token"));
}
