//! RFC 7009 revocation across replicas: a token revoked at one proxy is refused by the other
//! once the controller has learnt it (long poll) and passed it on (light push); the time from
//! the revoke's answer to the other replica's first refusal is measured and printed. The set
//! survives a proxy restart (pushed before its config) and a controller restart (kept in a
//! Secret in the controller's namespace).

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tollgate_e2e::cluster::SYSTEM_NAMESPACE;
use tollgate_e2e::wait::{RELOAD, wait_until};

use super::{ALL_OBJECTS, Env};

/// How many revocations are timed.
const ROUNDS: usize = 10;

impl Env {
    async fn introspect(&self, gateway: usize, token: &str) -> serde_json::Value {
        let g = &self.gateways[gateway];
        let fields = [
            ("token", token),
            ("client_id", "client"),
            ("client_secret", "secret"),
        ];
        let response = g
            .client
            .post_form(&format!("{}/auth/oauth2/introspect", g.https), &fields)
            .await
            .unwrap_or_else(|e| panic!("introspection at {}: {e}", g.name));
        response.json()
    }

    /// The entries of the revocations Secret.
    async fn kept_revocations(&self) -> Result<usize, String> {
        let secret = self
            .kubectl
            .get_json("secret/tollgate-revocations", SYSTEM_NAMESPACE)
            .await
            .map_err(|e| e.to_string())?;
        let data = secret["data"]["revocations"]
            .as_str()
            .ok_or("no data yet")?;
        let bytes = STANDARD.decode(data).map_err(|e| e.to_string())?;
        Ok((bytes.len() - 1) / 25)
    }
}

#[tokio::test]
async fn a_token_revoked_at_one_proxy_is_refused_by_the_other_and_stays_revoked_across_restarts() {
    let Some(mut env) = Env::start("cluster-revocation")
        .await
        .local_only("needs two local proxy processes and a local controller")
    else {
        return;
    };
    env.wait_programmed(&ALL_OBJECTS).await;
    let kept = env.demo_token(0).await;
    let mut revoked = Vec::new();
    let mut took = Vec::new();
    for round in 0..ROUNDS {
        // Alternate the replica revoking.
        let (here, there) = if round % 2 == 0 { (0, 1) } else { (1, 0) };
        let token = env.demo_token(here).await;
        assert_eq!(env.call(there, &token).await.status, 200);
        assert_eq!(env.revoke(here, &token).await, 200);
        // At once where it was revoked.
        assert_eq!(env.call(here, &token).await.status, 401);
        took.push(env.until_refused(there, &token).await);
        assert_eq!(env.introspect(there, &token).await["active"], false);
        revoked.push(token);
    }
    assert_eq!(env.call(0, &kept).await.status, 200);
    assert_eq!(env.call(1, &kept).await.status, 200);
    took.sort();
    let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
    println!(
        "revocation propagation (revoke answered → refused by the other proxy), {ROUNDS} rounds: min {:.1} ms, median {:.1} ms, max {:.1} ms (target < 2000 ms)",
        ms(&took[0]),
        ms(&took[ROUNDS / 2]),
        ms(&took[ROUNDS - 1])
    );

    wait_until(
        RELOAD,
        "the revocations Secret to hold every revocation",
        || {
            let env = &env;
            async move {
                match env.kept_revocations().await {
                    Ok(n) if n == ROUNDS => Ok(()),
                    other => Err(format!("{other:?}")),
                }
            }
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", env.work.all_logs()));

    // A restarted proxy gets the set before its config: refused as soon as it is ready.
    let proxy = &mut env.local().proxies[1];
    proxy.restart().await.expect("the proxy restarts");
    proxy.wait_ready().await.expect("ready again");
    for token in &revoked {
        assert_eq!(env.call(1, token).await.status, 401);
    }
    assert_eq!(env.call(1, &kept).await.status, 200);

    // A restarted controller reads the Secret: a proxy restarted after it gets the set back
    // from there (nothing else holds it then).
    let local = env.local();
    local.controllers[0]
        .restart()
        .await
        .expect("the controller restarts");
    let proxy = &mut env.local().proxies[0];
    proxy.restart().await.expect("the proxy restarts");
    proxy.wait_ready().await.expect("ready again");
    for token in &revoked {
        assert_eq!(env.call(0, token).await.status, 401);
    }
    assert_eq!(env.call(0, &kept).await.status, 200);
}
