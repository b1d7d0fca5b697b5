//! Single use of authorization codes across replicas: a code redeemed at one proxy is refused by
//! the other once its id has travelled through the revocation store. A revocation made at the
//! same proxy right after the exchange travels behind it (one proxy's ids are paged out in
//! order), so once the other proxy refuses that revoked token, it must refuse the code too. The
//! time from the exchange's answer to that refusal bounds the window in which a replay at the
//! other proxy could still succeed; it is measured and printed.

use std::time::{Duration, Instant};

use tollgate_e2e::cluster::APP_NAMESPACE;

use super::{ALL_OBJECTS, Env};

const ROUNDS: usize = 6;
pub(super) const PROVISION_KEY: &str = "0123456789abcdef0123456789abcdef";
pub(super) const VERIFIER: &str = "dBjftJeZ4CVP-mJ92K27uhbUJU1p1r_wW1gFWFOEjXk";
/// BASE64URL(SHA-256) of [`VERIFIER`].
const S256: &str = "ngF5GsXcbwljx6u133FFr3Xht9xooA_DuaX_3QwODtc";

impl Env {
    /// A code for the public client `spa` from `gateway`'s authorization endpoint.
    pub(super) async fn spa_code(&self, gateway: usize) -> String {
        let g = &self.gateways[gateway];
        let fields = [
            ("provision_key", PROVISION_KEY),
            ("authenticated_userid", "alice"),
            ("client_id", "spa"),
            ("response_type", "code"),
            ("code_challenge", S256),
            ("code_challenge_method", "S256"),
        ];
        let response = g
            .client
            .post_form(&format!("{}/code/oauth2/authorize", g.https), &fields)
            .await
            .unwrap_or_else(|e| panic!("authorization at {}: {e}", g.name));
        assert_eq!(response.status, 200, "{}", response.describe());
        let uri = response.json()["redirect_uri"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let query = uri.split_once('?').map_or("", |(_, q)| q).to_owned();
        form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("no code in {uri}"))
    }

    /// Exchanges `code` at `gateway`: the status and the `error` of a refusal.
    async fn exchange(&self, gateway: usize, code: &str) -> (u16, String) {
        let g = &self.gateways[gateway];
        let fields = [
            ("grant_type", "authorization_code"),
            ("client_id", "spa"),
            ("code", code),
            ("code_verifier", VERIFIER),
        ];
        let response = g
            .client
            .post_form(&format!("{}/code/oauth2/token", g.https), &fields)
            .await
            .unwrap_or_else(|e| panic!("code exchange at {}: {e}", g.name));
        let error = response.json()["error"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        (response.status.as_u16(), error)
    }
}

/// The public client `spa` and the `code` plugin (authorization code with PKCE) on `/code`.
pub(super) fn code_objects() -> String {
    format!(
        r#"apiVersion: v1
kind: Secret
metadata:
  name: code-provision
  namespace: {APP_NAMESPACE}
  labels: {{tollgate.dev/secret: credential}}
stringData: {{provision_key: {PROVISION_KEY}}}
---
apiVersion: tollgate.dev/v1alpha1
kind: OAuth2Credential
metadata: {{name: spa, namespace: {APP_NAMESPACE}}}
spec:
  consumerRef: {{name: jane}}
  clientId: spa
  clientType: public
  redirectUris: ['https://app.example/cb']
---
apiVersion: tollgate.dev/v1alpha1
kind: AuthPlugin
metadata: {{name: code, namespace: {APP_NAMESPACE}}}
spec:
  type: oauth2
  oauth2:
    enableAuthorizationCode: true
    globalCredentials: true
    provisionKeySecretRef: {{name: code-provision, key: provision_key}}
---
apiVersion: tollgate.dev/v1alpha1
kind: GatewayRoute
metadata: {{name: code, namespace: {APP_NAMESPACE}}}
spec: {{paths: [/code], plugins: [code]}}
"#
    )
}

#[tokio::test]
async fn a_code_redeemed_at_one_proxy_is_refused_by_the_other_once_its_id_has_arrived() {
    let env = Env::start("cluster-authorization-code").await;
    env.wait_programmed(&ALL_OBJECTS).await;
    let objects = code_objects();
    env.kubectl
        .apply(&objects)
        .await
        .expect("apply the code plugin");
    env.wait_programmed(&[
        "oauth2credentials/spa",
        "authplugins/code",
        "gatewayroutes/code",
    ])
    .await;

    let mut took = Vec::new();
    for round in 0..ROUNDS {
        let (here, there) = if round % 2 == 0 { (0, 1) } else { (1, 0) };
        let code = env.spa_code(here).await;
        let marker = env.demo_token(here).await;
        assert_eq!(env.exchange(here, &code).await.0, 200, "round {round}");
        let exchanged = Instant::now();
        // At once where it was redeemed.
        assert_eq!(
            env.exchange(here, &code).await,
            (400, "invalid_grant".to_owned()),
            "round {round}"
        );
        assert_eq!(env.revoke(here, &marker).await, 200, "round {round}");
        env.until_refused(there, &marker).await;
        took.push(exchanged.elapsed());
        assert_eq!(
            env.exchange(there, &code).await,
            (400, "invalid_grant".to_owned()),
            "round {round}: the other proxy redeemed a spent code"
        );
    }
    took.sort();
    let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
    println!(
        "authorization code replay window (first exchange answered → its id known to the other proxy, bounded from above), {ROUNDS} rounds: min {:.1} ms, median {:.1} ms, max {:.1} ms",
        ms(&took[0]),
        ms(&took[ROUNDS / 2]),
        ms(&took[ROUNDS - 1])
    );
}
