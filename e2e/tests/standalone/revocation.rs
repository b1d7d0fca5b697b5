//! RFC 7009 revocation through the shipped binary: a revoked token (opaque or JWT) is refused
//! on both server paths (the HTTP/1 fast path and hyper's HTTP/2) and is inactive at
//! introspection, while the client's other tokens stay valid; the revocation survives a restart
//! (the state directory keeps the store) and leaves the store once the token has expired.

use std::time::Duration;

use http::Method;
use tollgate_e2e::client::Response;
use tollgate_e2e::fixture::{Quickstart, Variant, access_token_of, assert_invalid_token};
use tollgate_e2e::quickstart;
use tollgate_e2e::wait::{RELOAD, wait_until};

/// An oauth2 plugin issuing global tokens that live 3 seconds, on `/short`.
const SHORT_LIVED: &str = "
apiVersion: tollgate.dev/v1alpha1
kind: AuthPlugin
metadata: {name: oauth2-short}
spec:
  type: oauth2
  oauth2: {enableClientCredentials: true, globalCredentials: true, tokenExpiration: 3}
---
apiVersion: tollgate.dev/v1alpha1
kind: GatewayRoute
metadata: {name: short-auth}
spec:
  paths: [/short]
  plugins: [oauth2-short]
";

const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

fn client_params() -> String {
    format!(
        "client_id={}&client_secret={}",
        quickstart::CLIENT_ID,
        quickstart::CLIENT_SECRET
    )
}

async fn post(qs: &Quickstart, path: &str, body: String) -> Response {
    qs.client
        .send(
            Method::POST,
            &qs.gateway.https_url(path),
            &[FORM],
            bytes::Bytes::from(body),
        )
        .await
        .expect("request completes")
}

async fn token_at(qs: &Quickstart, prefix: &str) -> String {
    let body = format!("grant_type=client_credentials&{}", client_params());
    let response = post(qs, &format!("{prefix}/oauth2/token"), body).await;
    assert_eq!(response.status, 200, "{}", response.describe());
    access_token_of(&response)
}

async fn revoke(qs: &Quickstart, prefix: &str, token: &str) -> Response {
    let body = format!(
        "token={token}&token_type_hint=access_token&{}",
        client_params()
    );
    post(qs, &format!("{prefix}/oauth2/revoke"), body).await
}

async fn active(qs: &Quickstart, token: &str) -> serde_json::Value {
    let body = format!("token={token}&{}", client_params());
    let answer = post(qs, "/auth/oauth2/introspect", body).await;
    assert_eq!(answer.status, 200, "{}", answer.describe());
    answer.json()["active"].clone()
}

/// The protected route over HTTP/2 (hyper's server path; plain HTTP/1 is the fast path).
async fn call_upstream_h2(qs: &Quickstart, token: &str) -> Response {
    let auth = format!("Bearer {token}");
    qs.client
        .clone()
        .http2()
        .send(
            Method::GET,
            &qs.gateway.https_url(&qs.upstream_path()),
            &[("authorization", auth.as_str())],
            bytes::Bytes::new(),
        )
        .await
        .expect("request completes")
}

/// `tollgate_revocations` on the admin port's metrics.
async fn revocations_held(qs: &Quickstart) -> Option<u64> {
    let metrics = qs
        .client
        .get(&qs.gateway.admin_url("/metrics"))
        .await
        .ok()?;
    metrics
        .text()
        .lines()
        .find_map(|line| line.strip_prefix("tollgate_revocations "))
        .and_then(|v| v.trim().parse().ok())
}

async fn assert_refused_on_both_paths(qs: &Quickstart, token: &str) {
    assert_invalid_token(&qs.call_upstream(Some(token)).await);
    let h2 = call_upstream_h2(qs, token).await;
    assert_eq!(h2.version, http::Version::HTTP_2);
    assert_invalid_token(&h2);
}

async fn assert_accepted_on_both_paths(qs: &Quickstart, token: &str) {
    let h1 = qs.call_upstream(Some(token)).await;
    assert_eq!(h1.status, 200, "{}", h1.describe());
    let h2 = call_upstream_h2(qs, token).await;
    assert_eq!(h2.status, 200, "{}", h2.describe());
}

#[tokio::test]
async fn a_revoked_token_is_refused_everywhere_survives_a_restart_and_leaves_with_its_expiry() {
    let mut qs = Quickstart::start_variant(
        "revocation",
        Variant {
            extra_manifests: &[
                ("05-jwt.yaml", super::JWT_PLUGIN),
                ("06-short.yaml", SHORT_LIVED),
            ],
            ..Variant::default()
        },
    )
    .await;
    let token = qs.access_token().await;
    let kept = qs.access_token().await;
    let jwt = token_at(&qs, "/jwt").await;
    assert_accepted_on_both_paths(&qs, &token).await;
    assert_accepted_on_both_paths(&qs, &jwt).await;
    assert_eq!(revocations_held(&qs).await, Some(0));

    // Bad requests get the token endpoint's errors, and revoke nothing.
    let url = "/auth/oauth2/revoke";
    let no_token = post(&qs, url, client_params()).await;
    assert_eq!(no_token.status, 400, "{}", no_token.describe());
    assert_eq!(no_token.json()["error"], "invalid_request");
    let wrong_secret = post(
        &qs,
        url,
        format!(
            "token={token}&client_id={}&client_secret=wrong",
            quickstart::CLIENT_ID
        ),
    )
    .await;
    assert_eq!(wrong_secret.status, 400, "{}", wrong_secret.describe());
    assert_eq!(wrong_secret.json()["error"], "invalid_client");
    let anonymous = post(&qs, url, format!("token={token}")).await;
    assert_eq!(anonymous.json()["error"], "invalid_client");
    let get = qs
        .client
        .get(&qs.gateway.https_url(url))
        .await
        .expect("request completes");
    assert_eq!(get.status, 405, "{}", get.describe());
    assert_accepted_on_both_paths(&qs, &token).await;

    // Unknown tokens are not an error (RFC 7009 §2.2).
    let unknown = revoke(&qs, "/auth", "not-a-token-of-this-gateway").await;
    assert_eq!(unknown.status, 200, "{}", unknown.describe());

    let revoked = revoke(&qs, "/auth", &token).await;
    assert_eq!(revoked.status, 200, "{}", revoked.describe());
    assert!(revoked.body.is_empty(), "{}", revoked.describe());
    assert_eq!(revoked.header("cache-control"), Some("no-store"));
    assert_refused_on_both_paths(&qs, &token).await;
    assert_eq!(active(&qs, &token).await, false);
    assert_eq!(active(&qs, &kept).await, true);
    assert_accepted_on_both_paths(&qs, &kept).await;
    // Revoking twice is fine.
    assert_eq!(revoke(&qs, "/auth", &token).await.status, 200);

    // A JWT access token, revoked at its own plugin's endpoint.
    let revoked = revoke(&qs, "/jwt", &jwt).await;
    assert_eq!(revoked.status, 200, "{}", revoked.describe());
    assert_refused_on_both_paths(&qs, &jwt).await;
    assert_eq!(active(&qs, &jwt).await, false);
    assert_eq!(revocations_held(&qs).await, Some(2));

    // The state directory holds both before the restart (written within moments).
    let file = qs.gateway.state_dir().join("revocations");
    wait_until(RELOAD, "the revocations to be written", || async {
        match std::fs::metadata(&file) {
            Ok(m) if m.len() == 1 + 2 * 25 => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await
    .expect("written");
    qs.restart().await;
    assert_refused_on_both_paths(&qs, &token).await;
    assert_refused_on_both_paths(&qs, &jwt).await;
    assert_eq!(active(&qs, &token).await, false);
    assert_accepted_on_both_paths(&qs, &kept).await;
    assert_eq!(revocations_held(&qs).await, Some(2));

    // A token living 3 s: revoked, then its entry leaves the store once it has expired.
    let short = token_at(&qs, "/short").await;
    assert_eq!(revoke(&qs, "/short", &short).await.status, 200);
    assert_invalid_token(&qs.call_upstream(Some(&short)).await);
    assert_eq!(revocations_held(&qs).await, Some(3));
    wait_until(
        Duration::from_secs(20),
        "the expired token's entry to leave",
        || async {
            match revocations_held(&qs).await {
                Some(2) => Ok(()),
                other => Err(format!("{other:?} held")),
            }
        },
    )
    .await
    .expect("the entry expires with its token");
    assert_invalid_token(&qs.call_upstream(Some(&short)).await);
}
