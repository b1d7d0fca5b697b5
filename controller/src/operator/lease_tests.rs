use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use super::*;
use crate::operator::mock_api::{MockApi, mock_client, status_error};

const PATH: &str = "/apis/coordination.k8s.io/v1/namespaces/tollgate/leases/tollgate-controller";

fn config(identity: &str) -> LeaseConfig {
    LeaseConfig {
        name: "tollgate-controller".into(),
        namespace: "tollgate".into(),
        identity: identity.into(),
        duration: Duration::from_secs(15),
    }
}

fn lease(holder: Option<&str>, rv: &str, transitions: i32) -> Value {
    json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "tollgate-controller", "namespace": "tollgate", "resourceVersion": rv},
        "spec": {
            "holderIdentity": holder, "leaseDurationSeconds": 15, "leaseTransitions": transitions,
            "renewTime": "2026-01-01T00:00:00.000000Z", "acquireTime": "2026-01-01T00:00:00.000000Z"
        }
    })
}

/// Runs one election round against a script of answers; fails instead of hanging when the
/// elector makes a request the script does not expect.
async fn round<F>(elector: &mut Elector, now: Instant, script: F) -> Result<bool, Error>
where
    F: std::future::Future<Output = ()>,
{
    let (result, ()) = tokio::time::timeout(Duration::from_secs(5), async {
        tokio::join!(elector.tick(now), script)
    })
    .await
    .expect("the round made only the expected requests");
    result
}

async fn expect_get(api: &mut MockApi, status: u16, body: Value) {
    let seen = api.answer(status, body).await;
    assert_eq!(seen.method, "GET");
    assert_eq!(seen.uri, PATH);
}

#[tokio::test]
async fn a_missing_lease_is_created_with_this_replica_as_holder() {
    let (client, mut api) = mock_client();
    let mut elector = Elector::new(client, config("me"));
    let leader = round(&mut elector, Instant::now(), async {
        expect_get(&mut api, 404, status_error(404, "NotFound")).await;
        let seen = api.answer(201, lease(Some("me"), "1", 0)).await;
        assert_eq!(seen.method, "POST");
        assert!(
            seen.uri
                .starts_with("/apis/coordination.k8s.io/v1/namespaces/tollgate/leases")
        );
        assert_eq!(seen.body["spec"]["holderIdentity"], "me");
        assert_eq!(seen.body["spec"]["leaseDurationSeconds"], 15);
    })
    .await
    .expect("round");
    assert!(leader);
    assert!(elector.is_leader());
}

#[tokio::test]
async fn losing_the_creation_race_means_following() {
    let (client, mut api) = mock_client();
    let mut elector = Elector::new(client, config("me"));
    let leader = round(&mut elector, Instant::now(), async {
        expect_get(&mut api, 404, status_error(404, "NotFound")).await;
        api.answer(409, status_error(409, "AlreadyExists")).await;
    })
    .await
    .expect("a conflict is not an error");
    assert!(!leader);
}

#[tokio::test]
async fn the_holder_renews_with_optimistic_concurrency() {
    let (client, mut api) = mock_client();
    let mut elector = Elector::new(client, config("me"));
    let leader = round(&mut elector, Instant::now(), async {
        expect_get(&mut api, 200, lease(Some("me"), "7", 2)).await;
        let seen = api.answer(200, lease(Some("me"), "8", 2)).await;
        assert_eq!(seen.method, "PUT");
        assert_eq!(seen.uri.trim_end_matches('?'), PATH);
        assert_eq!(
            seen.body["metadata"]["resourceVersion"], "7",
            "the write is conditional"
        );
        assert_eq!(seen.body["spec"]["holderIdentity"], "me");
        assert_eq!(
            seen.body["spec"]["leaseTransitions"], 2,
            "a renewal is no transition"
        );
        assert_ne!(
            seen.body["spec"]["renewTime"],
            "2026-01-01T00:00:00.000000Z"
        );
    })
    .await
    .expect("round");
    assert!(leader);
}

#[tokio::test]
async fn a_failed_renewal_steps_down() {
    let (client, mut api) = mock_client();
    let mut elector = Elector::new(client, config("me"));
    let t0 = Instant::now();
    round(&mut elector, t0, async {
        expect_get(&mut api, 200, lease(Some("me"), "7", 0)).await;
        api.answer(200, lease(Some("me"), "8", 0)).await;
    })
    .await
    .expect("round");
    assert!(elector.is_leader());
    let leader = round(&mut elector, t0 + Duration::from_secs(2), async {
        expect_get(&mut api, 200, lease(Some("me"), "8", 0)).await;
        api.answer(409, status_error(409, "Conflict")).await;
    })
    .await
    .expect("round");
    assert!(!leader);
    assert!(!elector.is_leader());
}

#[tokio::test]
async fn a_live_lease_held_by_another_replica_is_not_taken() {
    let (client, mut api) = mock_client();
    let mut elector = Elector::new(client, config("me"));
    let t0 = Instant::now();
    for (offset, rv) in [(0, "5"), (10, "5"), (20, "6"), (30, "6")] {
        // The other replica renews (rv 5 -> 6) before 15 s pass unchanged.
        let leader = round(&mut elector, t0 + Duration::from_secs(offset), async {
            expect_get(&mut api, 200, lease(Some("other"), rv, 0)).await;
        })
        .await
        .expect("round");
        assert!(!leader, "at +{offset}s");
    }
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_and_counts_a_transition() {
    let (client, mut api) = mock_client();
    let mut elector = Elector::new(client, config("me"));
    let t0 = Instant::now();
    let leader = round(&mut elector, t0, async {
        expect_get(&mut api, 200, lease(Some("other"), "5", 3)).await;
    })
    .await
    .expect("round");
    assert!(!leader);
    let leader = round(&mut elector, t0 + Duration::from_secs(16), async {
        expect_get(&mut api, 200, lease(Some("other"), "5", 3)).await;
        let seen = api.answer(200, lease(Some("me"), "9", 4)).await;
        assert_eq!(seen.method, "PUT");
        assert_eq!(seen.body["metadata"]["resourceVersion"], "5");
        assert_eq!(seen.body["spec"]["holderIdentity"], "me");
        assert_eq!(seen.body["spec"]["leaseTransitions"], 4);
    })
    .await
    .expect("round");
    assert!(leader);
}

#[tokio::test]
async fn a_released_lease_is_taken_at_once() {
    let (client, mut api) = mock_client();
    let mut elector = Elector::new(client, config("me"));
    let leader = round(&mut elector, Instant::now(), async {
        expect_get(&mut api, 200, lease(None, "5", 1)).await;
        let seen = api.answer(200, lease(Some("me"), "6", 2)).await;
        assert_eq!(seen.method, "PUT");
        assert_eq!(seen.body["spec"]["holderIdentity"], "me");
    })
    .await
    .expect("round");
    assert!(leader);
}

#[tokio::test]
async fn releasing_clears_the_holder_so_a_follower_need_not_wait() {
    let (client, mut api) = mock_client();
    let mut elector = Elector::new(client, config("me"));
    round(&mut elector, Instant::now(), async {
        expect_get(&mut api, 200, lease(Some("me"), "7", 0)).await;
        api.answer(200, lease(Some("me"), "8", 0)).await;
    })
    .await
    .expect("round");
    let (result, ()) = tokio::join!(elector.release(), async {
        expect_get(&mut api, 200, lease(Some("me"), "8", 0)).await;
        let seen = api.answer(200, lease(None, "9", 0)).await;
        assert_eq!(seen.method, "PUT");
        assert!(seen.body["spec"]["holderIdentity"].is_null());
    });
    result.expect("release");
    assert!(!elector.is_leader());
}

#[test]
fn the_decision_table_matches_client_go() {
    let held = |holder: Option<&str>| -> Lease {
        serde_json::from_value(lease(holder, "1", 0)).expect("lease")
    };
    let d = Duration::from_secs(15);
    let table = [
        (None, Duration::ZERO, Action::Create),
        (
            Some(held(Some("me"))),
            Duration::from_secs(100),
            Action::Renew,
        ),
        (Some(held(None)), Duration::ZERO, Action::TakeOver),
        (
            Some(held(Some("other"))),
            Duration::from_secs(14),
            Action::Follow,
        ),
        (
            Some(held(Some("other"))),
            Duration::from_secs(16),
            Action::TakeOver,
        ),
    ];
    for (lease, unchanged_for, want) in table {
        assert_eq!(decide(lease.as_ref(), "me", unchanged_for, d), want);
    }
}

#[test]
fn leadership_lapses_at_its_deadline_and_carries_the_epoch() {
    let t0 = Instant::now();
    let leadership = Leadership::default();
    assert_eq!(leadership.current(t0), None);
    leadership.grant(t0 + Duration::from_secs(10), 3);
    assert_eq!(leadership.current(t0), Some(3));
    assert_eq!(leadership.current(t0 + Duration::from_secs(9)), Some(3));
    assert_eq!(
        leadership.current(t0 + Duration::from_secs(10)),
        None,
        "a leader that did not renew in time stops pushing"
    );
    leadership.grant(t0 + Duration::from_secs(10), 3);
    leadership.revoke();
    assert_eq!(leadership.current(t0), None);
    assert_eq!(
        renew_deadline(Duration::from_secs(15)),
        Duration::from_secs(10)
    );
    assert!(renew_deadline(Duration::from_secs(3)) < Duration::from_secs(3));
}
