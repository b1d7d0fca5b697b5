//! Client secret rotation through the shipped binary: a new Secret becomes current while the
//! old one stays accepted until `validUntil`, then is refused without any further edit (the
//! proxy checks the instant); tokens issued under the old secret survive or not according to
//! `tokensSurviveRotation`.

use std::time::Duration;

use serde_json::json;
use tollgate_e2e::client::Response;
use tollgate_e2e::fixture::{Quickstart, access_token_of, assert_invalid_token};
use tollgate_e2e::quickstart;
use tollgate_e2e::wait::{RELOAD, unix_now, wait_for_status, wait_until};

const NEW_SECRET: &str = "the-rotated-client-secret";

/// `unix` seconds as RFC 3339 UTC (`2026-01-31T12:00:00Z`).
fn rfc3339(unix: u64) -> String {
    let (days, secs) = (unix / 86_400, unix % 86_400);
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = i64::try_from(days).expect("days") + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3_600,
        secs / 60 % 60,
        secs % 60
    )
}

#[test]
fn rfc3339_formats_known_instants() {
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    assert_eq!(rfc3339(1_767_225_599), "2025-12-31T23:59:59Z");
}

/// The quickstart credential's document name and its Secret's name and key.
fn credential_and_secret(qs: &Quickstart) -> (String, String, String) {
    let credential = qs
        .manifests
        .credential_by_client_id(quickstart::CLIENT_ID)
        .expect("credential");
    let r = &credential.value["spec"]["clientSecretRef"];
    (
        credential.name().to_owned(),
        r["name"].as_str().expect("secret name").to_owned(),
        r["key"].as_str().expect("secret key").to_owned(),
    )
}

/// Writes a second Secret and makes it current, the first one previous until `valid_until`.
fn rotate(qs: &Quickstart, valid_until: u64) {
    let (credential, secret, key) = credential_and_secret(qs);
    let new_secret = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {secret}-v2\n  labels:\n    \
         tollgate.dev/secret: credential\nstringData:\n  {key}: {NEW_SECRET}\n"
    );
    qs.manifests
        .write_file("rotated-secret.yaml", &new_secret)
        .expect("write the new Secret");
    qs.manifests
        .edit_object("OAuth2Credential", &credential, |c| {
            c["spec"]["clientSecretRef"] = json!({"name": format!("{secret}-v2"), "key": key});
            c["spec"]["previousClientSecrets"] = json!([{
                "secretRef": {"name": secret, "key": key},
                "validUntil": rfc3339(valid_until),
            }]);
        })
        .expect("rotate the credential");
}

async fn accepted(qs: &Quickstart, secret: &str, what: &str) -> Response {
    wait_for_status(RELOAD, what, 200, || async {
        qs.request_token(secret).await
    })
    .await
    .expect(what)
}

#[tokio::test]
async fn with_tokens_surviving_both_secrets_work_during_the_grace_and_the_old_is_refused_after() {
    let qs = Quickstart::start("rotation-survive").await;
    let (credential, _, _) = credential_and_secret(&qs);
    // Opting in is itself a change of how tokens are bound: it revokes the tokens before it.
    let before_opt_in = qs.access_token().await;
    qs.manifests
        .edit_object("OAuth2Credential", &credential, |c| {
            c["spec"]["tokensSurviveRotation"] = json!(true);
        })
        .expect("opt in");
    wait_for_status(RELOAD, "the opt-in to apply", 401, || async {
        qs.call_upstream(Some(&before_opt_in)).await
    })
    .await
    .expect("opt-in applied");
    let issued_before = qs.access_token().await;

    let valid_until = unix_now() + 12;
    rotate(&qs, valid_until);
    let renewed = accepted(&qs, NEW_SECRET, "the new secret to be accepted").await;
    let new_token = access_token_of(&renewed);
    assert_eq!(qs.call_upstream(Some(&new_token)).await.status, 200);
    let survived = qs.call_upstream(Some(&issued_before)).await;
    assert_eq!(survived.status, 200, "{}", survived.describe());

    // The old secret keeps getting tokens until the instant, and is refused from then on,
    // without any edit: each poll either gets a token (before) or the refusal (after).
    let refused = wait_until(
        Duration::from_secs(12) + RELOAD,
        "the old secret to be refused after validUntil",
        || async {
            let r = qs.request_token(quickstart::CLIENT_SECRET).await;
            let answered_at = unix_now();
            if r.status == 200 {
                return Err(format!("still accepted at {answered_at}"));
            }
            Ok((r, answered_at))
        },
    )
    .await
    .expect("old secret refused");
    let (refusal, answered_at) = refused;
    assert_eq!(
        refusal.json()["error"],
        "invalid_client",
        "{}",
        refusal.describe()
    );
    assert!(
        answered_at >= valid_until,
        "the old secret was refused at {answered_at}, before its validUntil {valid_until}"
    );
    // Tokens issued under the old secret still open the route; the new secret still works.
    assert_eq!(qs.call_upstream(Some(&issued_before)).await.status, 200);
    assert_eq!(qs.request_token(NEW_SECRET).await.status, 200);
}

#[tokio::test]
async fn by_default_a_rotation_revokes_older_tokens_but_the_old_secret_still_gets_new_ones() {
    let qs = Quickstart::start("rotation-revoke").await;
    let issued_before = qs.access_token().await;
    rotate(&qs, unix_now() + 3_600);
    accepted(&qs, NEW_SECRET, "the new secret to be accepted").await;
    assert_invalid_token(&qs.call_upstream(Some(&issued_before)).await);
    // A client that has not switched yet keeps working: the old secret gets fresh tokens,
    // which open the route.
    let old_client = qs.request_token(quickstart::CLIENT_SECRET).await;
    assert_eq!(old_client.status, 200, "{}", old_client.describe());
    let fresh = access_token_of(&old_client);
    assert_eq!(qs.call_upstream(Some(&fresh)).await.status, 200);
    // Deleting the old Secret ends the grace at once.
    let (_, secret, _) = credential_and_secret(&qs);
    let old_name = secret.trim_end_matches("-v2").to_owned();
    qs.manifests
        .remove_object("Secret", &old_name)
        .expect("delete the old Secret");
    let refused = wait_until(RELOAD, "the deleted old secret to be refused", || async {
        let r = qs.request_token(quickstart::CLIENT_SECRET).await;
        if r.status == 200 {
            Err(r.describe())
        } else {
            Ok(r)
        }
    })
    .await
    .expect("old secret refused");
    assert_eq!(refused.json()["error"], "invalid_client");
    assert_eq!(qs.request_token(NEW_SECRET).await.status, 200);
}
