//! Client secret rotation: previous secrets accepted until an instant, tokens that survive a new
//! secret, and the messages of `generateSecret`.

use std::sync::Arc;

use k8s_openapi::jiff::{SignedDuration, Timestamp};

use super::*;
use crate::resources::oauth2_credential::PreviousClientSecret;

fn rfc3339(offset_secs: i64) -> String {
    (Timestamp::now() + SignedDuration::from_secs(offset_secs)).to_string()
}

fn previous(name: &str, valid_until: String) -> PreviousClientSecret {
    PreviousClientSecret {
        secret_ref: SecretKeyRef {
            name: name.into(),
            key: "client_secret".into(),
        },
        valid_until,
    }
}

/// The quickstart rotated: `demo-client-secret-v2` is current, the quickstart's Secret is the
/// previous one until `valid_until`.
fn rotated(valid_until: String) -> Objects {
    let mut objects = quickstart();
    objects.secrets.push(Arc::new(secret(
        "demo-client-secret-v2",
        "client_secret",
        "the-new-secret",
    )));
    edit_credential(&mut objects, |c| {
        c.spec.client_secret_ref = Some(SecretKeyRef {
            name: "demo-client-secret-v2".into(),
            key: "client_secret".into(),
        });
        c.spec.previous_client_secrets = vec![previous("demo-client-secret", valid_until.clone())];
    });
    objects
}

#[test]
fn a_previous_secret_is_served_beside_the_new_one_until_its_instant() {
    let before = run(&quickstart());
    let old_verifier = before.snapshot.credentials[0].secret_verifier.clone();
    let t = run(&rotated(rfc3339(600)));
    assert_eq!(t.problems, vec![]);
    let c = &t.snapshot.credentials[0];
    assert_ne!(c.secret_verifier, old_verifier, "the new secret is current");
    assert_eq!(c.previous_secrets.len(), 1);
    let p = &c.previous_secrets[0];
    let now = u64::try_from(Timestamp::now().as_second()).expect("after 1970");
    assert!(
        p.valid_until > now + 590 && p.valid_until <= now + 600,
        "{p:?}"
    );
    assert!(
        p.verifier.starts_with("$sha256$"),
        "a verifier, never the value"
    );
    assert!(!String::from_utf8_lossy(&t.snapshot.to_json()).contains(PLAINTEXT));
    tollgate_core::validate::validate(&t.snapshot).expect("valid");
}

#[test]
fn a_previous_secret_past_its_instant_or_without_its_secret_is_left_out_quietly() {
    let t = run(&rotated(rfc3339(-1)));
    assert_eq!(t.problems, vec![]);
    assert_eq!(served(&t), all_quickstart_objects());
    assert!(t.snapshot.credentials[0].previous_secrets.is_empty());

    // Deleting the old Secret ends the grace at once; the credential stays served.
    let mut objects = rotated(rfc3339(600));
    objects
        .secrets
        .retain(|s| s.metadata.name.as_deref() != Some("demo-client-secret"));
    let t = run(&objects);
    assert_eq!(t.problems, vec![]);
    assert!(t.snapshot.credentials[0].previous_secrets.is_empty());
}

#[test]
fn an_unreadable_instant_or_previous_secrets_of_a_public_client_are_refused() {
    let t = run(&rotated("next tuesday".into()));
    assert_eq!(t.problems.len(), 1, "{:?}", t.problems);
    assert_eq!(t.problems[0].reason, reason::INVALID_CREDENTIAL);
    assert!(
        t.problems[0].message.contains("RFC 3339"),
        "{}",
        t.problems[0].message
    );
    assert!(t.snapshot.credentials.is_empty());

    let mut objects = quickstart();
    edit_credential(&mut objects, |c| {
        c.spec.client_type = ClientType::Public;
        c.spec.client_secret_ref = None;
        c.spec.previous_client_secrets = vec![previous("demo-client-secret", rfc3339(600))];
    });
    let t = run(&objects);
    assert!(
        t.problems
            .iter()
            .any(|p| p.message.contains("remove previousClientSecrets")),
        "{:?}",
        t.problems
    );
    assert!(t.snapshot.credentials.is_empty());

    let mut objects = rotated(rfc3339(600));
    edit_credential(&mut objects, |c| {
        let one = c.spec.previous_client_secrets[0].clone();
        c.spec.previous_client_secrets = vec![one; 4];
    });
    let t = run(&objects);
    assert!(
        t.problems[0].message.contains("more than 3"),
        "{:?}",
        t.problems
    );
}

/// The quickstart with the Secret's `uid` and `resourceVersion` set, as the API server does.
fn versioned(rv: &str, value: &str, survive: bool) -> Objects {
    let mut objects = quickstart();
    let mut s = secret("demo-client-secret", "client_secret", value);
    s.metadata.uid = Some("0b7e1c55-1f1a-4c3e-9d0e-5a4c2b1d0e9f".into());
    s.metadata.resource_version = Some(rv.into());
    objects.secrets = vec![Arc::new(s)];
    edit_credential(&mut objects, |c| c.spec.tokens_survive_rotation = survive);
    objects
}

#[test]
fn tokens_survive_a_new_secret_only_when_asked() {
    let epoch = |objects: &Objects| {
        let t = run(objects);
        assert_eq!(t.problems, vec![]);
        t.snapshot.credentials[0].epoch()
    };
    // By default any edit of the Secret, even one back to the same value, revokes.
    let a = epoch(&versioned("1", "first", false));
    assert_ne!(a, epoch(&versioned("2", "first", false)));
    assert_ne!(a, epoch(&versioned("2", "second", false)));
    // Surviving: the epoch depends neither on the value nor on the Secret's version.
    let s = epoch(&versioned("1", "first", true));
    assert_eq!(s, epoch(&versioned("2", "second", true)));
    assert_ne!(s, a, "switching the mode revokes");
    let t = run(&versioned("2", "second", true));
    assert!(t.snapshot.credentials[0].tokens_survive_rotation);
    assert_eq!(t.snapshot.credentials[0].incarnation, "");
}

#[test]
fn the_old_secret_moving_to_a_previous_slot_is_not_hashed_again() {
    let hashed = |mut objects: Objects| {
        edit_credential(&mut objects, |c| c.spec.hash_secret = true);
        objects
    };
    let mut hasher = SecretHasher::new();
    let policy = AddressPolicy::standalone();
    let services = ServiceEndpoints::new();
    let first = translate(
        &hashed(quickstart()),
        &services,
        &policy,
        &keys(),
        &mut hasher,
    );
    assert_eq!(hasher.computed(), 1);
    let old = first.snapshot.credentials[0].secret_verifier.clone();
    let objects = hashed(rotated(rfc3339(600)));
    let t = translate(&objects, &services, &policy, &keys(), &mut hasher);
    assert_eq!(t.problems, vec![]);
    assert_eq!(hasher.computed(), 2, "only the new secret was hashed");
    let c = &t.snapshot.credentials[0];
    assert_eq!(Some(c.previous_secrets[0].verifier.clone()), old);
    assert_ne!(c.secret_verifier, old);
    // The next round keeps both from the memo.
    translate(&objects, &services, &policy, &keys(), &mut hasher);
    assert_eq!(hasher.computed(), 2);
}

#[test]
fn a_missing_secret_with_generate_secret_says_who_writes_it() {
    let mut objects = quickstart();
    objects.secrets.clear();
    edit_credential(&mut objects, |c| c.spec.generate_secret = true);
    let t = run(&objects);
    assert_eq!(t.problems[0].reason, reason::SECRET_NOT_FOUND);
    let message = &t.problems[0].message;
    assert!(
        message.contains("generateSecret") && message.contains("standalone mode"),
        "{message}"
    );
    objects.secrets = vec![Arc::new(secret("demo-client-secret", "other", "x"))];
    let t = run(&objects);
    assert_eq!(t.problems[0].reason, reason::SECRET_KEY_NOT_FOUND);
    assert!(t.problems[0].message.contains("generateSecret"));
}

#[test]
fn while_the_new_secret_is_hashed_the_previous_one_keeps_the_client_served() {
    let hashed = |mut objects: Objects| {
        edit_credential(&mut objects, |c| {
            c.spec.hash_secret = true;
            c.spec.tokens_survive_rotation = true;
        });
        objects
    };
    let pool = Arc::new(super::super::HashPool::new(1, || {}).expect("pool"));
    let mut hasher = SecretHasher::with_pool(Arc::clone(&pool));
    let policy = AddressPolicy::standalone();
    let services = ServiceEndpoints::new();
    let objects = hashed(quickstart());
    let mut t = translate(&objects, &services, &policy, &keys(), &mut hasher);
    while !t.problems.is_empty() {
        assert!(pool.wait_idle(std::time::Duration::from_secs(30)));
        t = translate(&objects, &services, &policy, &keys(), &mut hasher);
    }
    let old = t.snapshot.credentials[0].secret_verifier.clone();
    let epoch = t.snapshot.credentials[0].epoch();

    // Rotated: the new secret goes to the pool, the old one serves meanwhile, without a problem.
    let objects = hashed(rotated(rfc3339(600)));
    let during = translate(&objects, &services, &policy, &keys(), &mut hasher);
    assert_eq!(during.problems, vec![]);
    assert_eq!(hasher.pending(), 1);
    let c = &during.snapshot.credentials[0];
    assert_eq!(c.secret_verifier, old);
    assert!(c.previous_secrets.is_empty());
    assert_eq!(c.epoch(), epoch);

    assert!(pool.wait_idle(std::time::Duration::from_secs(30)));
    let after = translate(&objects, &services, &policy, &keys(), &mut hasher);
    assert_eq!(hasher.pending(), 0);
    let c = &after.snapshot.credentials[0];
    assert_ne!(c.secret_verifier, old);
    assert_eq!(Some(c.previous_secrets[0].verifier.clone()), old);
    assert_eq!(c.epoch(), epoch, "tokens survive");
}
