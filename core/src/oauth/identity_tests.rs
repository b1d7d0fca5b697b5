#![allow(clippy::type_complexity)] // table-driven cases are tuples

use super::*;
use crate::fixtures;
use crate::oauth::SnapshotIndex;

/// The headers `identity` defines, in the order they are emitted.
fn emitted(identity: &Identity<'_>) -> Vec<(HeaderName, String)> {
    let mut out = Vec::new();
    identity_headers(identity, |name, value| {
        out.push((name, value.to_str().unwrap_or("?").to_owned()));
    });
    out
}

#[test]
fn identity_names_are_recognised_in_every_spelling_a_cgi_server_merges() {
    for name in [
        "x-consumer-id",
        "X-Consumer-ID",
        "X_Consumer_Username",
        "x-consumer_id",
        "X_CONSUMER_CUSTOM_ID",
        "x-credential-identifier",
        "X_Credential_Identifier",
        "x-authenticated-userid",
        "X_Authenticated_Scope",
        "x-anonymous-consumer",
        "X_Anonymous_Consumer",
        "x-consumer-whatever",
        "x_consumer_anything",
    ] {
        assert!(is_identity_header(name.as_bytes()), "{name}");
    }
    for name in [
        "",
        "x",
        "x-",
        "x-consumer",
        "x-consumerish",
        "x-credential",
        "x-credential-identifiers",
        "consumer-id",
        "xx-consumer-id",
        "host",
        "authorization",
    ] {
        assert!(!is_identity_header(name.as_bytes()), "{name}");
    }
    for name in &IDENTITY_HEADERS {
        assert!(is_identity_header(name.as_str().as_bytes()), "{name}");
    }
}

#[test]
fn an_identity_sets_exactly_its_headers() {
    let snapshot = fixtures::snapshot();
    let index = SnapshotIndex::new(&snapshot);
    let consumer = index.consumer(&fixtures::jane_id()).expect("jane");
    let credential = index
        .credential_by_client_id("default", "client")
        .map(|e| e.credential);
    let cases: Vec<(&str, Identity<'_>, Vec<(HeaderName, &str)>)> = vec![
        (
            "credential with scope",
            Identity::new(consumer, credential, Some("read write".into()), false),
            vec![
                (X_CONSUMER_ID, consumer.id.as_str()),
                (X_CONSUMER_USERNAME, "jane"),
                (X_CONSUMER_CUSTOM_ID, "jane-custom"),
                (X_CREDENTIAL_IDENTIFIER, "client"),
                (X_AUTHENTICATED_SCOPE, "read write"),
            ],
        ),
        (
            "anonymous",
            Identity::new(consumer, None, None, true),
            vec![
                (X_CONSUMER_ID, consumer.id.as_str()),
                (X_CONSUMER_USERNAME, "jane"),
                (X_CONSUMER_CUSTOM_ID, "jane-custom"),
                (X_ANONYMOUS_CONSUMER, "true"),
            ],
        ),
    ];
    for (name, identity, want) in cases {
        let want: Vec<(HeaderName, String)> =
            want.into_iter().map(|(n, v)| (n, v.to_owned())).collect();
        assert_eq!(emitted(&identity), want, "{name}");
    }
}

#[test]
fn identities_from_authenticate_use_precomputed_values_with_the_same_result() {
    use crate::token::{Binding, Claims};
    let snapshot = fixtures::snapshot();
    let index = SnapshotIndex::new(&snapshot);
    let demo = index
        .credential_by_client_id("default", "client")
        .expect("demo");
    let claims = Claims {
        credential_id: crate::ids::uuid_bytes(&demo.credential.id).expect("uuid"),
        epoch: demo.epoch(),
        issued_at: 0,
        expires_at: 0,
        binding: Binding::Global(crate::token::namespace_binding("default")),
        scope: "read".into(),
        authenticated_userid: String::new(),
    };
    let plugin = &snapshot.plugins[0];
    let fast = crate::oauth::authenticate(plugin, Some(Ok(claims)), &index, 1).expect("valid");
    assert!(fast.consumer_values.is_some() && fast.client_id_value.is_some());
    let slow = Identity::new(
        fast.consumer.expect("consumer"),
        fast.credential,
        fast.scope.clone(),
        false,
    );
    let (a, b) = (emitted(&fast), emitted(&slow));
    assert_eq!(a, b);
    assert!(
        a.contains(&(X_CREDENTIAL_IDENTIFIER, "client".to_owned())),
        "{a:?}"
    );
}
