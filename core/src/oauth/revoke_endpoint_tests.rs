use super::*;
use crate::fixtures;
use crate::ids::uuid_bytes;
use crate::token::{Binding, plugin_binding};

#[test]
fn the_path_ends_with_oauth2_revoke() {
    assert!(is_revocation_endpoint("/api/oauth2/revoke"));
    assert!(is_revocation_endpoint("/oauth2/revoke/"));
    assert!(!is_revocation_endpoint("/oauth2/revoked"));
    assert!(!is_revocation_endpoint("/oauth2/token"));
}

#[test]
fn only_a_live_token_of_the_caller_is_revoked_and_another_clients_is_refused() {
    let s = fixtures::snapshot();
    let index = SnapshotIndex::new(&s);
    // The fixture's first plugin is its oauth2 plugin.
    let plugin = &s.plugins[0];
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
        decide(
            caller,
            Some(Ok((claims(here, demo.epoch(), 8200), [9; 16])))
        ),
        Ok(Revocation::Revoke {
            id: RevokedId::token([9; 16]),
            expires_at: 8200
        })
    );
    let refused = decide(other, Some(Ok((claims(here, demo.epoch(), 8200), [9; 16]))))
        .expect_err("another client's token");
    assert_eq!(
        (refused.status, refused.error),
        (400, "unauthorized_client")
    );
    let other_plugin = Binding::Plugin(plugin_binding("default/other", ""));
    for (case, opened) in [
        (
            "expired",
            Some(Ok((claims(here, demo.epoch(), 1500), [9; 16]))),
        ),
        (
            "older secret",
            Some(Ok((claims(here, demo.epoch() ^ 1, 8200), [9; 16]))),
        ),
        (
            "another plugin's",
            Some(Ok((claims(other_plugin, demo.epoch(), 8200), [9; 16]))),
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
