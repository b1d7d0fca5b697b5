use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::operator::mock_api::{MockApi, mock_client};
use crate::operator::status::{ProblemCondition, REASON_PENDING};

const NOW: &str = "2026-01-01T00:00:00Z";

fn credential(status: Option<Value>) -> OAuth2Credential {
    serde_json::from_value(json!({
        "apiVersion": "tollgate.dev/v1alpha1", "kind": "OAuth2Credential",
        "metadata": {"name": "demo", "namespace": "shop", "uid": "u-1", "generation": 4},
        "spec": {"consumerRef": {"name": "jane"}, "clientId": "client",
                 "clientSecretRef": {"name": "demo-secret", "key": "client_secret"}},
        "status": status,
    }))
    .expect("credential")
}

fn problem(condition: ProblemCondition, reason: &str) -> ObjectProblem {
    ObjectProblem {
        condition,
        reason: reason.to_owned(),
        message: format!("{reason}: see spec"),
    }
}

/// Runs `sync` against a script of answers, failing instead of hanging on unexpected requests.
async fn run_sync<F: std::future::Future<Output = ()>>(
    writer: &mut StatusWriter,
    object: &OAuth2Credential,
    problems: &[ObjectProblem],
    programming: &Programming,
    script: F,
) -> bool {
    let metrics = ControllerMetrics::new();
    let (result, ()) = tokio::time::timeout(Duration::from_secs(5), async {
        tokio::join!(
            writer.sync(object, problems, programming, None, NOW, &metrics),
            script
        )
    })
    .await
    .expect("only the expected requests");
    result.expect("sync")
}

async fn expect_status_apply(api: &mut MockApi) -> Value {
    let reply = serde_json::to_value(credential(None)).expect("json");
    let seen = api.answer(200, reply).await;
    assert_eq!(seen.method, "PATCH");
    assert!(
        seen.uri.starts_with(
            "/apis/tollgate.dev/v1alpha1/namespaces/shop/oauth2credentials/demo/status?"
        ),
        "{}",
        seen.uri
    );
    assert!(
        seen.uri.contains("fieldManager=tollgate-controller"),
        "{}",
        seen.uri
    );
    assert!(seen.uri.contains("force=true"), "{}", seen.uri);
    assert_eq!(
        seen.content_type.as_deref(),
        Some("application/apply-patch+yaml")
    );
    seen.body
}

async fn expect_event(api: &mut MockApi, type_: &str, reason: &str) {
    let reply = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e", "namespace": "shop"}, "eventTime": null});
    let seen = api.answer(201, reply).await;
    assert_eq!(seen.method, "POST");
    assert!(
        seen.uri
            .starts_with("/apis/events.k8s.io/v1/namespaces/shop/events"),
        "{}",
        seen.uri
    );
    assert_eq!(seen.body["type"], type_);
    assert_eq!(seen.body["reason"], reason);
    assert_eq!(seen.body["regarding"]["name"], "demo");
}

fn condition<'a>(body: &'a Value, type_: &str) -> &'a Value {
    body["status"]["conditions"]
        .as_array()
        .expect("conditions")
        .iter()
        .find(|c| c["type"] == type_)
        .expect("condition")
}

#[tokio::test]
async fn each_problem_kind_is_applied_as_status_with_a_warning_event() {
    use ProblemCondition::{Accepted, ResolvedRefs};
    let table = [
        (ResolvedRefs, "SecretNotFound", "True", "False"),
        (ResolvedRefs, "SecretKeyNotFound", "True", "False"),
        (ResolvedRefs, "ConsumerNotFound", "True", "False"),
        (ResolvedRefs, "PluginNotFound", "True", "False"),
        (Accepted, "DuplicateClientId", "False", "True"),
        (Accepted, "InvalidPath", "False", "True"),
    ];
    for (which, reason, accepted, resolved) in table {
        let (client, mut api) = mock_client();
        let mut writer = StatusWriter::new(client, "test".into());
        let object = credential(None);
        let wrote = run_sync(
            &mut writer,
            &object,
            &[problem(which, reason)],
            &Programming::Programmed,
            async {
                let body = expect_status_apply(&mut api).await;
                assert_eq!(body["apiVersion"], "tollgate.dev/v1alpha1");
                assert_eq!(body["kind"], "OAuth2Credential");
                assert_eq!(body["status"]["observedGeneration"], 4);
                assert_eq!(condition(&body, "Accepted")["status"], accepted, "{reason}");
                assert_eq!(
                    condition(&body, "ResolvedRefs")["status"],
                    resolved,
                    "{reason}"
                );
                let programmed = condition(&body, "Programmed");
                assert_eq!(programmed["status"], "False");
                assert_eq!(programmed["reason"], reason);
                assert_eq!(programmed["lastTransitionTime"], NOW);
                expect_event(&mut api, "Warning", reason).await;
            },
        )
        .await;
        assert!(wrote, "{reason}");
    }
}

#[tokio::test]
async fn a_served_object_becomes_programmed_with_a_normal_event() {
    let (client, mut api) = mock_client();
    let mut writer = StatusWriter::new(client, "test".into());
    let wrote = run_sync(
        &mut writer,
        &credential(None),
        &[],
        &Programming::Programmed,
        async {
            let body = expect_status_apply(&mut api).await;
            assert_eq!(condition(&body, "Programmed")["status"], "True");
            assert_eq!(condition(&body, "Accepted")["reason"], "Accepted");
            expect_event(&mut api, "Normal", "Programmed").await;
        },
    )
    .await;
    assert!(wrote);
}

#[tokio::test]
async fn pending_is_written_without_an_event() {
    let (client, mut api) = mock_client();
    let mut writer = StatusWriter::new(client, "test".into());
    let pending = Programming::Pending("1 of 2 proxy replicas acknowledged".into());
    let wrote = run_sync(&mut writer, &credential(None), &[], &pending, async {
        let body = expect_status_apply(&mut api).await;
        assert_eq!(condition(&body, "Programmed")["reason"], REASON_PENDING);
    })
    .await;
    assert!(wrote);
}

#[tokio::test]
async fn an_unchanged_status_is_not_written_again() {
    let programming = Programming::Programmed;
    let current = desired_status(Some(4), &[], &programming, None, "2025-12-31T00:00:00Z");
    let object = credential(Some(serde_json::to_value(&current).expect("status")));
    let (client, _api) = mock_client();
    let mut writer = StatusWriter::new(client, "test".into());
    let wrote = run_sync(&mut writer, &object, &[], &programming, async {}).await;
    assert!(!wrote, "only the timestamp would differ");
}

#[tokio::test]
async fn a_status_just_written_is_not_repeated_before_the_store_catches_up() {
    let (client, mut api) = mock_client();
    let mut writer = StatusWriter::new(client, "test".into());
    let object = credential(None);
    let problems = [problem(ProblemCondition::ResolvedRefs, "SecretNotFound")];
    let programming = Programming::Programmed;
    let first = run_sync(&mut writer, &object, &problems, &programming, async {
        expect_status_apply(&mut api).await;
        expect_event(&mut api, "Warning", "SecretNotFound").await;
    })
    .await;
    assert!(first);
    // The store still shows no status: nothing is written and no Event repeated.
    let second = run_sync(&mut writer, &object, &problems, &programming, async {}).await;
    assert!(!second);
}

#[tokio::test]
async fn writes_beyond_the_rate_are_put_off_and_reported_not_queued() {
    let (client, mut api) = mock_client();
    // Two at once, then about one per 100 s: the third write in a row is put off.
    let mut writer = StatusWriter::new(client, "test".into()).with_rate(0.01, 2.0);
    let pending = Programming::Pending("waiting".into());
    let object = |uid: &str| {
        let mut c = credential(None);
        c.metadata.uid = Some(uid.to_owned());
        c
    };
    for uid in ["u-1", "u-2"] {
        let wrote = run_sync(&mut writer, &object(uid), &[], &pending, async {
            expect_status_apply(&mut api).await;
        })
        .await;
        assert!(wrote, "{uid} is within the burst");
    }
    assert_eq!(writer.take_deferred(), None);
    let wrote = run_sync(&mut writer, &object("u-3"), &[], &pending, async {}).await;
    assert!(!wrote, "a third write at once exceeds the burst");
    let delay = writer
        .take_deferred()
        .expect("a deferred write is reported");
    assert!(delay >= Duration::from_secs(50), "{delay:?}");
    assert_eq!(writer.take_deferred(), None, "reported once");
}
