//! Stable object ids for objects that have no `metadata.uid` (standalone mode).
//!
//! An id is a UUIDv5 under a fixed Tollgate namespace of `"<Kind>/<namespace>/<name>"`, so the
//! same object always gets the same id across restarts and machines.

use uuid::Uuid;

/// The fixed namespace UUID under which Tollgate derives its UUIDv5 ids.
/// Chosen once at random; never change it, or every standalone id would change.
pub const TOLLGATE_NAMESPACE: Uuid = Uuid::from_u128(0x5c1f_7b0e_3a6d_5e59_9c2b_8d4a_1f6e_0b37);

fn object_id(kind: &str, namespace: &str, name: &str) -> String {
    let key = format!("{kind}/{namespace}/{name}");
    Uuid::new_v5(&TOLLGATE_NAMESPACE, key.as_bytes())
        .hyphenated()
        .to_string()
}

/// Id of a Consumer: UUIDv5 of `"Consumer/<ns>/<name>"`. This is the `X-Consumer-Id` value in
/// standalone mode.
pub fn consumer_id(namespace: &str, name: &str) -> String {
    object_id("Consumer", namespace, name)
}

/// Id of an OAuth2Credential: UUIDv5 of `"OAuth2Credential/<ns>/<name>"`. Tokens carry it.
pub fn credential_id(namespace: &str, name: &str) -> String {
    object_id("OAuth2Credential", namespace, name)
}

/// The 16 bytes of a UUID string (any form `uuid` accepts), as carried in tokens.
pub fn uuid_bytes(id: &str) -> Option<[u8; 16]> {
    Uuid::parse_str(id).ok().map(|u| *u.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_version_5_uuids() {
        let a = consumer_id("default", "jane");
        assert_eq!(a, consumer_id("default", "jane"));
        let parsed = Uuid::parse_str(&a).expect("a uuid");
        assert_eq!(parsed.get_version_num(), 5);
        assert_eq!(a.len(), 36);
    }

    #[test]
    fn ids_differ_by_kind_namespace_and_name() {
        let ids = [
            consumer_id("default", "jane"),
            credential_id("default", "jane"),
            consumer_id("other", "jane"),
            consumer_id("default", "john"),
            // "a/b" + "c" must not collide with "a" + "b/c" in a way that matters: both are
            // namespaced names and Kubernetes forbids "/" in them, but the ids still differ.
            consumer_id("default/x", "y"),
        ];
        for (i, a) in ids.iter().enumerate() {
            for b in &ids[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn id_of_known_input_never_changes() {
        // Pinned: changing the namespace or key format would change every standalone id.
        let expected = Uuid::new_v5(&TOLLGATE_NAMESPACE, b"Consumer/default/jane").to_string();
        assert_eq!(consumer_id("default", "jane"), expected);
    }

    #[test]
    fn uuid_bytes_round_trip_and_reject_garbage() {
        let id = credential_id("default", "demo");
        let bytes = uuid_bytes(&id).expect("parses");
        assert_eq!(Uuid::from_bytes(bytes).to_string(), id);
        assert_eq!(uuid_bytes("not-a-uuid"), None);
        assert_eq!(uuid_bytes(""), None);
    }
}
