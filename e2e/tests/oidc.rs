//! End to end, an external identity provider: the real `oidc-provider` (OpenID Certified, run
//! by Node on loopback) issues JWT access tokens, and standalone mode's openid-connect plugin with
//! the `bearer` method accepts them, maps them to a Consumer and refuses every forged or unfit
//! one; its keys are fetched through discovery, a rotation is picked up without a restart, and a
//! provider that is down does not stop tokens signed with known keys.
//!
//! Needs what the standalone tests need, plus Node and `npm ci` in `e2e/oidc-provider` (the
//! `oidc` step of scripts/test.sh).

use std::time::Duration;

use http::Method;
use serde_json::json;
use tollgate_e2e::client::Response;
use tollgate_e2e::fixture::{Quickstart, Variant, assert_invalid_token, echoed_headers};
use tollgate_e2e::oidc::{CLIENT_ID, OidcProvider, RESOURCE};
use tollgate_e2e::wait::wait_for_status;
use tollgate_e2e::workdir::WorkDir;

/// Keys are fetched early for an unknown `kid` at most every ten seconds, and the manifests are
/// polled every second: a rotation is served within this.
const KEYS: Duration = Duration::from_secs(40);

/// The plugins and routes of the test: `/orders` accepts the provider's JWTs for the API's
/// audience, mapped by `client_id` to a Consumer; `/orders-write` also requires `orders:write`.
const MANIFESTS: &str = "
apiVersion: tollgate.dev/v1alpha1
kind: Consumer
metadata: {name: orders-service}
spec: {username: tollgate-test, groups: [billing]}
---
apiVersion: tollgate.dev/v1alpha1
kind: AuthPlugin
metadata: {name: external}
spec:
  type: openid-connect
  openidConnect:
    authMethods: [bearer]
    issuer: ISSUER
    audienceRequired: [RESOURCE]
    consumerClaim: [client_id]
---
apiVersion: tollgate.dev/v1alpha1
kind: AuthPlugin
metadata: {name: external-write}
spec:
  type: openid-connect
  openidConnect:
    authMethods: [bearer]
    issuer: ISSUER
    audienceRequired: [RESOURCE]
    consumerClaim: [client_id]
    scopesRequired: [orders:write]
---
apiVersion: v1
kind: Secret
metadata: {name: introspector, labels: {tollgate.dev/secret: credential}}
stringData: {client_secret: INTROSPECTOR_SECRET}
---
apiVersion: tollgate.dev/v1alpha1
kind: AuthPlugin
metadata: {name: introspected}
spec:
  type: openid-connect
  openidConnect:
    authMethods: [introspection]
    introspectionEndpoint: ISSUER/token/introspection
    introspectionClientId: INTROSPECTOR_ID
    introspectionClientSecretRef: {name: introspector, key: client_secret}
    consumerClaim: [client_id]
---
apiVersion: tollgate.dev/v1alpha1
kind: GatewayRoute
metadata: {name: opaque}
spec:
  paths: [/opaque]
  plugins: [introspected]
  backend: {url: UPSTREAM/anything}
---
apiVersion: tollgate.dev/v1alpha1
kind: GatewayRoute
metadata: {name: orders}
spec:
  paths: [/orders]
  plugins: [external]
  backend: {url: UPSTREAM/anything}
---
apiVersion: tollgate.dev/v1alpha1
kind: GatewayRoute
metadata: {name: orders-write}
spec:
  paths: [/orders-write]
  plugins: [external-write]
  backend: {url: UPSTREAM/anything}
";

struct Env {
    qs: Quickstart,
    provider: OidcProvider,
    _work: WorkDir,
}

async fn start(name: &str) -> Env {
    let work = WorkDir::new(&format!("{name}-idp")).expect("work dir");
    let provider = OidcProvider::start(&work)
        .await
        .expect("the provider starts");
    let (introspector_id, introspector_secret) = provider.introspector();
    let manifests = MANIFESTS
        .replace("ISSUER", &provider.issuer())
        .replace("RESOURCE", RESOURCE)
        .replace("INTROSPECTOR_ID", introspector_id)
        .replace("INTROSPECTOR_SECRET", introspector_secret);
    let qs = Quickstart::start_variant(
        name,
        Variant {
            extra_manifests: &[("oidc.yaml", &manifests)],
            ..Variant::default()
        },
    )
    .await;
    let env = Env {
        qs,
        provider,
        _work: work,
    };
    // The plugin is served once the provider's keys are fetched.
    let token = env.jwt("orders:read").await;
    wait_for_status(
        KEYS,
        "the bearer route to accept the provider's token",
        200,
        || async { env.call("/orders", &token).await },
    )
    .await
    .expect("served");
    env
}

impl Env {
    async fn jwt(&self, scope: &str) -> String {
        self.provider
            .token(scope, Some(RESOURCE))
            .await
            .expect("a token from the provider")
    }

    async fn call(&self, path: &str, token: &str) -> Response {
        let auth = format!("Bearer {token}");
        self.qs
            .client
            .send(
                Method::GET,
                &self.qs.gateway.http_url(path),
                &[("authorization", &auth)],
                bytes::Bytes::new(),
            )
            .await
            .expect("request completes")
    }

    /// The signing key the provider uses for ES256 now (the first in its file).
    fn es256_kid(&self) -> String {
        self.provider
            .key_ids()
            .expect("keys")
            .into_iter()
            .find(|(_, alg)| alg == "ES256")
            .map(|(kid, _)| kid)
            .expect("an ES256 key")
    }
}

#[tokio::test]
async fn jwt_access_tokens_of_a_real_provider_reach_the_upstream_as_their_consumer() {
    let env = start("oidc-accept").await;
    let response = env.call("/orders", &env.jwt("orders:read").await).await;
    assert_eq!(response.status, 200, "{}", response.describe());
    let seen = echoed_headers(&response.json());
    assert_eq!(
        seen.get("x-consumer-username").map(String::as_str),
        Some("tollgate-test")
    );
    assert_eq!(
        seen.get("x-authenticated-userid").map(String::as_str),
        Some(CLIENT_ID)
    );
    assert_eq!(
        seen.get("x-credential-identifier").map(String::as_str),
        Some(CLIENT_ID)
    );
    assert_eq!(
        seen.get("x-authenticated-scope").map(String::as_str),
        Some("orders:read")
    );
    assert_eq!(
        seen.get("x-consumer-groups").map(String::as_str),
        Some("billing")
    );
    // The provider's opaque tokens are not JWTs: the bearer method refuses them.
    let opaque = env
        .provider
        .token("orders:read", None)
        .await
        .expect("opaque");
    assert_invalid_token(&env.call("/orders", &opaque).await);
    // And the quickstart's own flow still works beside it.
    let own = env.qs.access_token().await;
    assert_eq!(env.qs.call_upstream(Some(&own)).await.status, 200);
    assert_invalid_token(&env.call("/orders", &own).await);
}

#[tokio::test]
async fn forged_expired_and_misdirected_tokens_are_refused_with_rfc_6750_errors() {
    let env = start("oidc-hostile").await;
    let kid = env.es256_kid();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let issuer = env.provider.issuer();
    let claims = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut p = json!({"iss": issuer, "aud": RESOURCE, "sub": CLIENT_ID, "client_id": CLIENT_ID,
                           "scope": "orders:read", "iat": now, "exp": now + 300});
        f(&mut p);
        p
    };
    let header = json!({"alg": "ES256", "typ": "at+jwt", "kid": kid});
    let sign = |h: &serde_json::Value, p: serde_json::Value| {
        env.provider
            .sign(&kid, h, &p)
            .expect("signed by the provider's key")
    };
    // A control: the provider's key signing a well-formed token is accepted.
    let good = sign(&header, claims(&|_| {}));
    assert_eq!(env.call("/orders", &good).await.status, 200);
    let tampered = {
        let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
        use base64::Engine as _;
        let forged = claims(&|p| p["client_id"] = json!("someone-else"));
        parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(forged.to_string());
        parts.join(".")
    };
    let cases = [
        (
            "expired",
            sign(&header, claims(&|p| p["exp"] = json!(now - 120))),
        ),
        (
            "not yet valid",
            sign(&header, claims(&|p| p["nbf"] = json!(now + 600))),
        ),
        (
            "another audience",
            sign(
                &header,
                claims(&|p| p["aud"] = json!("https://other.example")),
            ),
        ),
        (
            "another issuer",
            sign(&header, claims(&|p| p["iss"] = json!("http://127.0.0.1:1"))),
        ),
        (
            "no exp",
            sign(
                &header,
                claims(&|p| {
                    p.as_object_mut().map(|o| o.remove("exp"));
                }),
            ),
        ),
        (
            "unknown kid",
            sign(
                &json!({"alg": "ES256", "kid": "not-a-provider-key"}),
                claims(&|_| {}),
            ),
        ),
        (
            "alg none",
            env.provider
                .sign("none", &json!({"alg": "none"}), &claims(&|_| {}))
                .expect("unsigned"),
        ),
        ("tampered claims", tampered),
        (
            "a consumer that does not exist",
            sign(&header, claims(&|p| p["client_id"] = json!("nobody"))),
        ),
    ];
    for (what, token) in cases {
        let response = env.call("/orders", &token).await;
        assert_eq!(response.status, 401, "{what}: {}", response.describe());
        assert_invalid_token(&response);
    }
}

#[tokio::test]
async fn a_route_requiring_a_scope_answers_403_insufficient_scope_without_it() {
    let env = start("oidc-scopes").await;
    let read_only = env.jwt("orders:read").await;
    let response = env.call("/orders-write", &read_only).await;
    assert_eq!(response.status, 403, "{}", response.describe());
    assert_eq!(response.json()["error"], "insufficient_scope");
    let challenge = response.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.contains(r#"error="insufficient_scope""#)
            && challenge.contains(r#"scope="orders:write""#),
        "{challenge}"
    );
    let both = env.jwt("orders:read orders:write").await;
    assert_eq!(env.call("/orders-write", &both).await.status, 200);
}

#[tokio::test]
async fn a_key_rotation_is_picked_up_and_a_provider_that_is_down_keeps_known_keys_working() {
    let mut env = start("oidc-rotation").await;
    let before = env.jwt("orders:read").await;
    // New keys first, old ones kept (a verify-only phase): tokens of both are accepted, the new
    // key once the proxy's unknown kid made the controller fetch the keys again.
    env.provider.rotate_keys(false).await.expect("rotate");
    let after = env.jwt("orders:read").await;
    wait_for_status(
        KEYS,
        "a token of the new key to be accepted",
        200,
        || async { env.call("/orders", &after).await },
    )
    .await
    .expect("the rotated key is fetched without a restart");
    assert_eq!(
        env.call("/orders", &before).await.status,
        200,
        "old key still listed"
    );

    // The provider goes down: tokens of keys already fetched keep working; a token naming a key
    // no one has seen fails closed.
    env.provider.stop().await;
    assert_eq!(env.call("/orders", &after).await.status, 200);
    let kid_unknown = {
        let issuer = env.provider.issuer();
        let kid = env.es256_kid();
        let payload = json!({"iss": issuer, "aud": RESOURCE, "client_id": CLIENT_ID,
                             "exp": 4_000_000_000u64});
        env.provider
            .sign(
                &kid,
                &json!({"alg": "ES256", "kid": "rotated-later"}),
                &payload,
            )
            .expect("signed")
    };
    assert_invalid_token(&env.call("/orders", &kid_unknown).await);
    assert_eq!(
        env.call("/orders", &after).await.status,
        200,
        "still served after the refusal"
    );
}

#[tokio::test]
async fn opaque_tokens_are_introspected_at_the_provider_cached_and_refused_when_it_cannot_answer() {
    let mut env = start("oidc-introspection").await;
    let opaque = env
        .provider
        .token("orders:read", None)
        .await
        .expect("opaque token");
    let response = env.call("/opaque", &opaque).await;
    assert_eq!(response.status, 200, "{}", response.describe());
    let seen = echoed_headers(&response.json());
    assert_eq!(
        seen.get("x-consumer-username").map(String::as_str),
        Some("tollgate-test")
    );
    assert_eq!(
        seen.get("x-authenticated-scope").map(String::as_str),
        Some("orders:read")
    );
    // A token the provider does not know is inactive: refused.
    assert_invalid_token(&env.call("/opaque", "not-a-token-the-provider-issued").await);
    // The provider goes down: the token it vouched for is answered from the cache; a token it
    // was never asked about is refused (fail closed).
    let unseen = env
        .provider
        .token("orders:read", None)
        .await
        .expect("another opaque token");
    env.provider.stop().await;
    assert_eq!(env.call("/opaque", &opaque).await.status, 200);
    assert_invalid_token(&env.call("/opaque", &unseen).await);
    let log = env.qs.gateway_log();
    assert!(log.contains("token introspection failed"), "{log}");
    assert!(!log.contains(&unseen), "a token was logged");
}
