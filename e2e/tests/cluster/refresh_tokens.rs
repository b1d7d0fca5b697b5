//! Refresh tokens across replicas: a refresh token rotated at one proxy is spent at the other
//! once its id has travelled through the revocation store; presenting it there revokes its
//! family, and the family's newest refresh token is then refused at the first proxy too. Each
//! step waits for the store to carry a marker (a revoked access token made after the step at the
//! same proxy, which travels behind it) rather than for a time.

use serde_json::Value;

use super::authorization_code::{VERIFIER, code_objects};
use super::{ALL_OBJECTS, Env};

impl Env {
    /// A token response from `gateway`'s code plugin: an authorization code exchanged, or a
    /// refresh token presented (`grant` and its fields).
    async fn code_plugin_token(&self, gateway: usize, fields: &[(&str, &str)]) -> (u16, Value) {
        let g = &self.gateways[gateway];
        let response = g
            .client
            .post_form(&format!("{}/code/oauth2/token", g.https), fields)
            .await
            .unwrap_or_else(|e| panic!("token request at {}: {e}", g.name));
        (response.status.as_u16(), response.json())
    }

    async fn refresh(&self, gateway: usize, refresh_token: &str) -> (u16, Value) {
        let fields = [
            ("grant_type", "refresh_token"),
            ("client_id", "spa"),
            ("refresh_token", refresh_token),
        ];
        self.code_plugin_token(gateway, &fields).await
    }

    /// Waits until what `gateway` stored so far has reached `other`: a marker token revoked at
    /// `gateway` now is refused at `other`.
    async fn store_carried(&self, gateway: usize, other: usize) {
        let marker = self.demo_token(gateway).await;
        assert_eq!(self.revoke(gateway, &marker).await, 200);
        self.until_refused(other, &marker).await;
    }
}

fn refresh_token_of(body: &Value) -> String {
    body["refresh_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no refresh_token in {body}"))
        .to_owned()
}

#[tokio::test]
async fn a_refresh_token_rotated_at_one_proxy_is_reuse_at_the_other_and_revokes_its_family() {
    let env = Env::start("cluster-refresh-tokens").await;
    env.wait_programmed(&ALL_OBJECTS).await;
    env.kubectl
        .apply(&code_objects())
        .await
        .expect("apply the code plugin");
    env.wait_programmed(&[
        "oauth2credentials/spa",
        "authplugins/code",
        "gatewayroutes/code",
    ])
    .await;

    let code = env.spa_code(0).await;
    let fields = [
        ("grant_type", "authorization_code"),
        ("client_id", "spa"),
        ("code", code.as_str()),
        ("code_verifier", VERIFIER),
    ];
    let (status, issued) = env.code_plugin_token(0, &fields).await;
    assert_eq!(status, 200, "{issued}");
    let first = refresh_token_of(&issued);

    // Rotated at proxy 0: a new refresh token of the same family.
    let (status, rotated) = env.refresh(0, &first).await;
    assert_eq!(status, 200, "{rotated}");
    let second = refresh_token_of(&rotated);
    assert_ne!(first, second, "rotation gives a new refresh token");

    // Once proxy 1 knows the first is spent, presenting it there is reuse.
    env.store_carried(0, 1).await;
    let (status, reused) = env.refresh(1, &first).await;
    assert_eq!(status, 400, "{reused}");
    assert_eq!(reused["error"], "invalid_request", "{reused}");
    assert_eq!(
        reused["error_description"], "Invalid refresh_token",
        "{reused}"
    );

    // The family's revocation, made at proxy 1, reaches proxy 0: the newest token is refused.
    env.store_carried(1, 0).await;
    let (status, refused) = env.refresh(0, &second).await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(
        refused["error_description"], "Invalid refresh_token",
        "{refused}"
    );
}
