#![allow(clippy::type_complexity)] // table-driven cases are tuples

use super::*;
use crate::fixtures;
use crate::oauth::SnapshotIndex;

fn forged() -> HeaderMap {
    let mut h = HeaderMap::new();
    for name in &IDENTITY_HEADERS {
        h.append(name.clone(), HeaderValue::from_static("forged"));
        h.append(name.clone(), HeaderValue::from_static("forged-again"));
    }
    // Case does not matter to HeaderMap; a client's "X-Consumer-ID" lands under the same name.
    h.append(
        HeaderName::from_bytes(b"X-Consumer-ID").expect("name"),
        HeaderValue::from_static("forged-upper"),
    );
    h.insert("x-other", HeaderValue::from_static("kept"));
    h
}

fn values(h: &HeaderMap, name: &HeaderName) -> Vec<String> {
    h.get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap_or("?").to_string())
        .collect()
}

#[test]
fn without_identity_every_forged_header_is_removed() {
    let mut h = forged();
    apply_identity(&mut h, None);
    for name in &IDENTITY_HEADERS {
        assert!(values(&h, name).is_empty(), "{name}");
    }
    assert_eq!(values(&h, &HeaderName::from_static("x-other")), ["kept"]);
}

#[test]
fn an_identity_sets_exactly_its_headers() {
    let snapshot = fixtures::snapshot();
    let index = SnapshotIndex::new(&snapshot);
    let consumer = index.consumer(&fixtures::jane_id()).expect("jane");
    let credential = index
        .credential_by_client_id("client")
        .map(|e| &e.credential);
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
        let mut h = forged();
        apply_identity(&mut h, Some(&identity));
        for header in &IDENTITY_HEADERS {
            let expected: Vec<String> = want
                .iter()
                .filter(|(n, _)| n == header)
                .map(|(_, v)| v.to_string())
                .collect();
            assert_eq!(values(&h, header), expected, "{name}: {header}");
        }
    }
}

#[test]
fn identities_from_authenticate_use_precomputed_values_with_the_same_result() {
    use crate::token::{Binding, Claims};
    let snapshot = fixtures::snapshot();
    let index = SnapshotIndex::new(&snapshot);
    let demo = index.credential_by_client_id("client").expect("demo");
    let claims = Claims {
        credential_id: crate::ids::uuid_bytes(&demo.credential.id).expect("uuid"),
        epoch: demo.epoch,
        issued_at: 0,
        expires_at: 0,
        binding: Binding::Global,
        scope: "read".into(),
    };
    let plugin = &snapshot.plugins[0];
    let fast = crate::oauth::authenticate(plugin, Some(Ok(claims)), &index, 1).expect("valid");
    assert!(fast.consumer_values.is_some() && fast.client_id_value.is_some());
    let slow = Identity::new(fast.consumer, fast.credential, fast.scope.clone(), false);
    let (mut a, mut b) = (forged(), forged());
    apply_identity(&mut a, Some(&fast));
    apply_identity(&mut b, Some(&slow));
    assert_eq!(a, b);
    assert_eq!(values(&a, &X_CREDENTIAL_IDENTIFIER), ["client"]);
}
