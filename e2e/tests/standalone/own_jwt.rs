//! The gateway as an issuer for its own resource routes: an `oauth2` plugin with
//! `tokenFormat: jwt` on `/jwt`, and an openid-connect plugin whose `bearer` method trusts that
//! route's issuer URL. The controller discovers the issuer through the route's RFC 8414 metadata
//! (it serves no OpenID discovery document), the bearer route accepts the gateway's JWT on both
//! server paths, refuses a tampered one, and refuses the JWT once it is revoked at `/jwt`.

use std::time::Duration;

use http::Method;
use tollgate_e2e::client::Response;
use tollgate_e2e::fixture::{Quickstart, Variant, access_token_of, assert_invalid_token, tamper};
use tollgate_e2e::quickstart;
use tollgate_e2e::wait::wait_for_status;

/// The bearer plugin's route is served once the controller has fetched the issuer's keys.
const KEYS: Duration = Duration::from_secs(40);

/// The bearer route; `ISSUER` is the `/jwt` route's issuer URL.
const BEARER: &str = "
apiVersion: tollgate.dev/v1alpha1
kind: AuthPlugin
metadata: {name: own-issuer}
spec:
  type: openid-connect
  openidConnect:
    authMethods: [bearer]
    issuer: ISSUER
    consumerOptional: true
---
apiVersion: tollgate.dev/v1alpha1
kind: GatewayRoute
metadata: {name: own-bearer}
spec:
  paths: [/own]
  plugins: [own-issuer]
  backend: {url: UPSTREAM/anything}
";

const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

fn client_params() -> String {
    format!(
        "client_id={}&client_secret={}",
        quickstart::CLIENT_ID,
        quickstart::CLIENT_SECRET
    )
}

async fn post(qs: &Quickstart, url: &str, body: String) -> Response {
    qs.client
        .send(Method::POST, url, &[FORM], bytes::Bytes::from(body))
        .await
        .expect("request completes")
}

/// `/own` over plain HTTP/1 (the fast path).
async fn call_h1(qs: &Quickstart, token: &str) -> Response {
    let auth = format!("Bearer {token}");
    qs.client
        .send(
            Method::GET,
            &qs.gateway.http_url("/own"),
            &[("authorization", auth.as_str())],
            bytes::Bytes::new(),
        )
        .await
        .expect("request completes")
}

/// `/own` over HTTP/2 (hyper's server path).
async fn call_h2(qs: &Quickstart, token: &str) -> Response {
    let auth = format!("Bearer {token}");
    let response = qs
        .client
        .clone()
        .http2()
        .send(
            Method::GET,
            &qs.gateway.https_url("/own"),
            &[("authorization", auth.as_str())],
            bytes::Bytes::new(),
        )
        .await
        .expect("request completes");
    assert_eq!(response.version, http::Version::HTTP_2);
    response
}

#[tokio::test]
async fn the_bearer_method_verifies_the_gateways_own_jwts_and_honours_their_revocation() {
    let mut qs = Quickstart::start_variant(
        "own-jwt",
        Variant {
            extra_manifests: &[("05-jwt.yaml", super::JWT_PLUGIN)],
            ..Variant::default()
        },
    )
    .await;
    // The issuer is the HTTPS URL (the token endpoint refuses plain HTTP): the gateway fetches
    // its own metadata and keys over TLS, trusting the certificate it generated.
    let certificate = qs.gateway.certificate_path().expect("certificate");
    qs.gateway
        .set_env("SSL_CERT_FILE", &certificate.to_string_lossy());
    qs.restart().await;
    let issuer = qs.gateway.https_url("/jwt");
    // The issuer serves RFC 8414 metadata only (the route guards every other path): discovery
    // must fall back to it.
    let openid = qs
        .client
        .get(&format!("{issuer}/.well-known/openid-configuration"))
        .await
        .expect("request completes");
    assert_eq!(openid.status, 401, "{}", openid.describe());
    qs.manifests
        .write_file(
            "06-bearer.yaml",
            &BEARER
                .replace("ISSUER", &issuer)
                .replace("UPSTREAM", &qs.httpbin.base_url()),
        )
        .expect("bearer manifest");

    let grant = post(
        &qs,
        &format!("{issuer}/oauth2/token"),
        format!("grant_type=client_credentials&{}", client_params()),
    )
    .await;
    assert_eq!(grant.status, 200, "{}", grant.describe());
    let jwt = access_token_of(&grant);
    assert_eq!(jwt.matches('.').count(), 2, "{jwt}");
    let kept = access_token_of(
        &post(
            &qs,
            &format!("{issuer}/oauth2/token"),
            format!("grant_type=client_credentials&{}", client_params()),
        )
        .await,
    );

    wait_for_status(
        KEYS,
        "the bearer route to accept the gateway's JWT",
        200,
        || async { call_h1(&qs, &jwt).await },
    )
    .await
    .expect("accepted");
    let h2 = call_h2(&qs, &jwt).await;
    assert_eq!(h2.status, 200, "{}", h2.describe());
    assert_eq!(
        h2.json()["url"].as_str().map(|u| u.contains("/anything")),
        Some(true),
        "{}",
        h2.describe()
    );

    // A tampered JWT is refused on both paths.
    let tampered = tamper(&jwt);
    assert_invalid_token(&call_h1(&qs, &tampered).await);
    assert_invalid_token(&call_h2(&qs, &tampered).await);

    // Revoked at the issuing route, the JWT is refused on the bearer route too; the client's
    // other JWT stays valid.
    let revoked = post(
        &qs,
        &format!("{issuer}/oauth2/revoke"),
        format!("token={jwt}&{}", client_params()),
    )
    .await;
    assert_eq!(revoked.status, 200, "{}", revoked.describe());
    assert_invalid_token(&call_h1(&qs, &jwt).await);
    assert_invalid_token(&call_h2(&qs, &jwt).await);
    assert_eq!(call_h1(&qs, &kept).await.status, 200);
    assert_eq!(call_h2(&qs, &kept).await.status, 200);
}
