//! End to end, operator mode without a cluster: the Kubernetes API emulator on loopback, the real
//! `kubectl` applying `crds/` and the manifests, the real `tollgate-controller run`, two real
//! `tollgate-proxy` processes (discovered through the EndpointSlices of a headless Service that
//! list their loopback admin addresses) and a real httpbin upstream.
//!
//! With `TOLLGATE_E2E_KUBECONFIG` and `TOLLGATE_E2E_PROXY` set, the scenarios run against that
//! cluster instead (the kind tier; see `tollgate_e2e::cluster`), and those that stop local
//! processes are skipped.
//!
//! Needs the binaries (`cargo build --workspace --bins`), the project `.venv` with httpbin,
//! gunicorn and the emulator's requirements, and kubectl; `scripts/test.sh` provides all three.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::Method;
use serde_json::Value;
use tollgate_e2e::client::{Client, Response};
use tollgate_e2e::cluster::{
    APP_NAMESPACE, CONTROLLER_USER_AGENT, Controller, ControllerOptions, Emulator, External,
    Kubectl, SYSTEM_NAMESPACE, StatusWrite, app_manifests, status_writes, system_manifests,
};
use tollgate_e2e::httpbin::Httpbin;
use tollgate_e2e::paths::{python, repo_root};
use tollgate_e2e::proxy::Proxy;
use tollgate_e2e::wait::{RELOAD, wait_for_status, wait_until};
use tollgate_e2e::workdir::WorkDir;

#[path = "cluster/authorization_code.rs"]
mod authorization_code;
#[path = "cluster/gateway_api.rs"]
mod gateway_api;
#[path = "cluster/ingress.rs"]
mod ingress;
#[path = "cluster/refresh_tokens.rs"]
mod refresh_tokens;
#[path = "cluster/revocation.rs"]
mod revocation;

const CONFIG_TOKEN: &str = "e2e-config-token-0123456789";
const SIGNING_KEY: [u8; 32] = *b"e2e-signing-key-0123456789abcdef";
/// Deadline for status conditions (translation, push to both proxies, status write).
const PROGRAMMED: Duration = Duration::from_secs(60);
/// Lease duration of the test controllers: a crashed leader is replaced within seconds.
const LEASE_SECS: u64 = 3;
/// How long a follower may take to lead once the leader is gone or frozen.
const TAKEOVER: Duration = Duration::from_secs(LEASE_SECS * 5 + 10);

/// One proxy's public side.
struct Gateway {
    name: String,
    http: String,
    https: String,
    client: Client,
}

/// Everything local: fields drop in order, so processes stop before the work dir prints logs.
struct Local {
    controllers: Vec<Controller>,
    proxies: Vec<Proxy>,
    httpbin: Httpbin,
    emulator: Emulator,
}

struct Env {
    local: Option<Local>,
    gateways: Vec<Gateway>,
    kubectl: Kubectl,
    work: WorkDir,
}

impl Env {
    /// A local emulator + proxies + controller (or the external cluster), with the CRDs, the
    /// system objects and the application objects applied.
    async fn start(name: &str) -> Env {
        Self::start_watching(name, &[]).await
    }

    /// Like [`Env::start`], the controller limited to `namespaces` (all when empty).
    async fn start_watching(name: &str, namespaces: &[&str]) -> Env {
        Self::start_with(name, namespaces, Vec::new()).await
    }

    /// Like [`Env::start_watching`], the controller started with further flags.
    async fn start_with(name: &str, namespaces: &[&str], controller_args: Vec<String>) -> Env {
        Self::start_full(name, namespaces, controller_args, false).await
    }

    /// Like [`Env::start`], with the Gateway API CRDs installed before the controller starts.
    async fn start_gateway_api(name: &str) -> Env {
        Self::start_full(name, &[], Vec::new(), true).await
    }

    async fn start_full(
        name: &str,
        namespaces: &[&str],
        controller_args: Vec<String>,
        gateway_api: bool,
    ) -> Env {
        let work = WorkDir::new(name).expect("work dir");
        if let Some(ext) = External::from_env() {
            let kubectl = Kubectl::new(&ext.kubeconfig);
            kubectl
                .apply(&app_manifests(&ext.upstream))
                .await
                .expect("apply app objects");
            let client = match std::env::var_os("TOLLGATE_E2E_CA") {
                Some(ca) => Client::trusting_pem_file(&PathBuf::from(ca)).expect("CA"),
                None => Client::plain().expect("client"),
            };
            let gateway = Gateway {
                name: "external".into(),
                http: format!("http://{}", ext.http_addr),
                https: format!("https://{}", ext.https_addr),
                client,
            };
            return Env {
                local: None,
                gateways: vec![gateway],
                kubectl,
                work,
            };
        }
        let emulator = Emulator::start(&work).await.expect("API emulator starts");
        let kubectl = Kubectl::new(emulator.kubeconfig());
        kubectl
            .apply_path(&repo_root().join("crds"))
            .await
            .expect("kubectl apply -f crds/");
        if gateway_api {
            kubectl
                .install_gateway_api()
                .await
                .expect("install the Gateway API CRDs");
        }
        let httpbin = Httpbin::start(&work).await.expect("httpbin starts");
        let mut proxies = Vec::new();
        for name in ["proxy-a", "proxy-b"] {
            proxies.push(
                Proxy::start(&work, name, CONFIG_TOKEN)
                    .await
                    .expect("proxy starts"),
            );
        }
        let admin: Vec<String> = proxies.iter().map(Proxy::admin_addr).collect();
        // On the real API server, the chart's RBAC is enforced: cluster-wide, or the namespaced
        // variant (a Role per watched namespace) when the controller watches some namespaces,
        // with the Secret writes of `clientSecrets.generate` when the controller generates
        // client secrets.
        let values: &[&str] = if controller_args
            .iter()
            .any(|a| a == "--generate-client-secrets")
        {
            &["clientSecrets.generate=true"]
        } else {
            &[]
        };
        let controller_kubeconfig = emulator
            .controller_kubeconfig_watching(&kubectl, namespaces, values)
            .await
            .expect("the controller's kubeconfig");
        kubectl
            .apply(&system_manifests(&admin, CONFIG_TOKEN, &SIGNING_KEY))
            .await
            .expect("apply system objects");
        kubectl
            .apply(&app_manifests(&httpbin.base_url()))
            .await
            .expect("apply app objects");
        let options = ControllerOptions {
            kubeconfig: controller_kubeconfig,
            lease_duration_secs: LEASE_SECS,
            namespaces: namespaces.iter().map(|n| (*n).to_owned()).collect(),
            extra_args: controller_args,
        };
        let controller = Controller::start(&work, "controller-1", options)
            .await
            .expect("controller starts");
        let gateways = proxies
            .iter()
            .enumerate()
            .map(|(i, p)| Gateway {
                name: format!("proxy-{i}"),
                http: p.http_url(""),
                https: p.https_url(""),
                client: p.client().expect("client trusting the proxy"),
            })
            .collect();
        Env {
            local: Some(Local {
                controllers: vec![controller],
                proxies,
                httpbin,
                emulator,
            }),
            gateways,
            kubectl,
            work,
        }
    }

    /// httpbin's port: the local one's, or 80 (an external environment's Service port).
    fn httpbin_port(&self) -> u16 {
        self.local.as_ref().map_or(80, |l| l.httpbin.port())
    }

    /// `None`, saying the test is skipped because it `needs` local processes, for an external
    /// environment.
    fn local_only(self, needs: &str) -> Option<Self> {
        if self.local.is_none() {
            eprintln!("skipped: {needs}");
            return None;
        }
        Some(self)
    }

    fn local(&mut self) -> &mut Local {
        self.local.as_mut().expect("a local environment")
    }

    /// Waits until every listed object (`kind/name` in the app namespace) is `Programmed`.
    async fn wait_programmed(&self, objects: &[&str]) {
        for object in objects {
            self.kubectl
                .wait_for(object, APP_NAMESPACE, "condition=Programmed", PROGRAMMED)
                .await
                .unwrap_or_else(|e| panic!("{object} Programmed: {e}\n{}", self.work.all_logs()));
        }
    }

    async fn token(&self, gateway: usize, client_id: &str, secret: &str) -> Response {
        let g = &self.gateways[gateway];
        let fields = [
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
        ];
        g.client
            .post_form(&format!("{}/auth/oauth2/token", g.https), &fields)
            .await
            .unwrap_or_else(|e| panic!("token request to {}: {e}", g.name))
    }

    /// Waits until `check` holds for `resource` in `namespace`; the object then.
    async fn until_object(
        &self,
        resource: &str,
        namespace: &str,
        what: &str,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let check = &check;
        wait_until(PROGRAMMED, &format!("{resource}: {what}"), || async move {
            let o = self
                .kubectl
                .get_json(resource, namespace)
                .await
                .map_err(|e| e.to_string())?;
            if check(&o) {
                Ok(o)
            } else {
                Err(o["status"].to_string())
            }
        })
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", self.work.all_logs()))
    }

    /// Waits until `resource` (`kind/name`) in `namespace` has the condition `type_` with
    /// `status` (`"True"` or `"False"`) and `reason`; the object then.
    async fn expect_condition(
        &self,
        resource: &str,
        namespace: &str,
        type_: &str,
        status: &str,
        reason: &str,
    ) -> Value {
        self.until_object(
            resource,
            namespace,
            &format!("{type_}={status} ({reason})"),
            |o| {
                let c = condition_of(&o["status"], type_);
                c["status"] == status && c["reason"] == reason
            },
        )
        .await
    }

    /// Waits until a Warning Event with `reason` regards the `kind` object `name` of the app
    /// namespace.
    async fn expect_warning(&self, kind: &str, name: &str, reason: &str) {
        let what = format!("a {reason} Event regarding {kind} {name}");
        wait_until(PROGRAMMED, &what, || async {
            let events = self
                .kubectl
                .get_json("events.events.k8s.io", APP_NAMESPACE)
                .await
                .map_err(|e| e.to_string())?;
            let found = events["items"].as_array().is_some_and(|items| {
                items.iter().any(|e| {
                    e["regarding"]["kind"] == kind
                        && e["regarding"]["name"] == name
                        && e["reason"] == reason
                        && e["type"] == "Warning"
                })
            });
            if found {
                Ok(())
            } else {
                Err(events.to_string())
            }
        })
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", self.work.all_logs()));
    }

    /// Deletes the demo credential (which revokes its tokens).
    async fn delete_demo_credential(&self) {
        self.kubectl
            .run(
                &["delete", "oauth2credentials/demo", "-n", APP_NAMESPACE],
                None,
            )
            .await
            .expect("delete the demo credential");
    }

    /// Waits until local controller `index` leads (a lost leader's Lease expires first).
    async fn until_leader(&self, index: usize, what: &str) {
        let controller = &self.local.as_ref().expect("local").controllers[index];
        wait_until(TAKEOVER, what, || async {
            if controller.is_leader().await {
                Ok(())
            } else {
                Err("not leader yet".to_owned())
            }
        })
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", self.work.all_logs()));
    }

    /// Waits until `GET path` with the bearer `token` answers `status` at proxy `gateway` (a
    /// failed request is tried again); that answer.
    async fn until_bearer_status(
        &self,
        gateway: usize,
        path: &str,
        token: &str,
        status: u16,
    ) -> Response {
        let g = &self.gateways[gateway];
        let url = format!("{}{path}", g.http);
        let auth = format!("Bearer {token}");
        let what = format!("{path} to answer {status} at {}", g.name);
        wait_until(RELOAD, &what, || async {
            let r = g
                .client
                .send(
                    Method::GET,
                    &url,
                    &[("authorization", &auth)],
                    Default::default(),
                )
                .await
                .map_err(|e| e.to_string())?;
            if r.status == status {
                Ok(r)
            } else {
                Err(r.describe())
            }
        })
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", self.work.all_logs()))
    }

    /// Revokes the access token `token` of the demo client at proxy `gateway`: the status.
    async fn revoke(&self, gateway: usize, token: &str) -> u16 {
        let g = &self.gateways[gateway];
        let fields = [
            ("token", token),
            ("token_type_hint", "access_token"),
            ("client_id", "client"),
            ("client_secret", "secret"),
        ];
        let response = g
            .client
            .post_form(&format!("{}/auth/oauth2/revoke", g.https), &fields)
            .await
            .unwrap_or_else(|e| panic!("revocation at {}: {e}", g.name));
        response.status.as_u16()
    }

    /// Waits (polling every 5 ms, at most `RELOAD`) until `gateway` refuses `token`; how long.
    async fn until_refused(&self, gateway: usize, token: &str) -> Duration {
        let started = Instant::now();
        loop {
            let status = self.call(gateway, token).await.status.as_u16();
            if status == 401 {
                return started.elapsed();
            }
            assert_eq!(status, 200, "neither accepted nor refused");
            assert!(
                started.elapsed() < RELOAD,
                "{} still accepts a revoked token\n{}",
                self.gateways[gateway].name,
                self.work.all_logs()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Waits, proxy by proxy, until `request(g)` answers `status` at proxy `g`; the last proxy's
    /// answer. On timeout, panics with every log.
    async fn on_every_proxy<F, Fut>(
        &self,
        timeout: Duration,
        what: &str,
        status: u16,
        request: F,
    ) -> Response
    where
        F: Fn(usize) -> Fut,
        Fut: Future<Output = Response>,
    {
        let mut last = None;
        for g in 0..self.gateways.len() {
            let what = format!("{what} at {}", self.gateways[g].name);
            let answer = wait_for_status(timeout, &what, status, || request(g))
                .await
                .unwrap_or_else(|e| panic!("{e}\n{}", self.work.all_logs()));
            last = Some(answer);
        }
        last.expect("at least one proxy")
    }

    /// A token for the demo credential from `gateway`, once it is served there.
    async fn demo_token(&self, gateway: usize) -> String {
        let what = format!("a token from {}", self.gateways[gateway].name);
        wait_until(RELOAD, &what, || async {
            let r = self.token(gateway, "client", "secret").await;
            match r.json()["access_token"].as_str() {
                Some(t) if r.status == 200 => Ok(t.to_owned()),
                _ => Err(r.describe()),
            }
        })
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", self.work.all_logs()))
    }

    async fn call(&self, gateway: usize, token: &str) -> Response {
        let g = &self.gateways[gateway];
        let auth = format!("Bearer {token}");
        g.client
            .send(
                Method::GET,
                &format!("{}/anything", g.http),
                &[("authorization", &auth)],
                Default::default(),
            )
            .await
            .unwrap_or_else(|e| panic!("upstream call through {}: {e}", g.name))
    }
}

fn echoed_headers(body: &Value) -> BTreeMap<String, String> {
    body["headers"]
        .as_object()
        .map(|h| {
            h.iter()
                .map(|(k, v)| {
                    (
                        k.to_ascii_lowercase(),
                        v.as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The condition `type_` in `status.conditions` (or in `conditions` of a `status.parents`
/// entry), or null.
fn condition_of<'a>(status: &'a Value, type_: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_))
        .unwrap_or(&Value::Null)
}

/// The condition `type_` of `object`; panics when it has none.
fn condition<'a>(object: &'a Value, type_: &str) -> &'a Value {
    let found = condition_of(&object["status"], type_);
    assert!(!found.is_null(), "no {type_} condition in {object}");
    found
}

const ALL_OBJECTS: [&str; 6] = [
    "consumers/jane",
    "oauth2credentials/demo",
    "authplugins/oauth2",
    "authplugins/oidc",
    "gatewayroutes/auth",
    "gatewayroutes/httpbin",
];

#[tokio::test]
async fn a_token_issued_by_one_proxy_is_accepted_by_the_other_once_everything_is_programmed() {
    let env = Env::start("cluster-token-flow").await;
    env.wait_programmed(&ALL_OBJECTS).await;
    let last = env.gateways.len() - 1;
    let token = env.demo_token(0).await;
    let response = env.call(last, &token).await;
    assert_eq!(response.status, 200, "{}", response.describe());
    let seen = echoed_headers(&response.json());
    assert_eq!(seen.get("authorization"), Some(&format!("Bearer {token}")));
    assert_eq!(
        seen.get("x-consumer-username").map(String::as_str),
        Some("jane")
    );
    let consumer = env
        .kubectl
        .get_json("consumers/jane", APP_NAMESPACE)
        .await
        .expect("get consumer");
    assert_eq!(
        seen.get("x-consumer-id").map(String::as_str),
        consumer["metadata"]["uid"].as_str(),
        "X-Consumer-Id is the Consumer's uid"
    );
    let other = env.demo_token(last).await;
    assert_eq!(env.call(0, &other).await.status, 200);

    for object in ALL_OBJECTS {
        let o = env
            .kubectl
            .get_json(object, APP_NAMESPACE)
            .await
            .expect("get");
        assert_eq!(
            o["status"]["observedGeneration"], o["metadata"]["generation"],
            "{object}"
        );
        for type_ in ["Accepted", "ResolvedRefs", "Programmed"] {
            assert_eq!(condition(&o, type_)["status"], "True", "{object} {type_}");
        }
    }
    if let Some(local) = env.local.as_ref() {
        let metrics = local.controllers[0]
            .metrics()
            .await
            .expect("controller metrics");
        for proxy in &local.proxies {
            let line = format!(
                "tollgate_controller_proxy_in_sync{{proxy=\"{}\"}} 1",
                proxy.admin_addr()
            );
            assert!(metrics.contains(&line), "{line} in\n{metrics}");
        }
        assert!(
            metrics.contains("tollgate_controller_leader 1"),
            "{metrics}"
        );
        assert!(
            metrics.contains("tollgate_controller_snapshot_objects 6"),
            "{metrics}"
        );
    }
    let table = env
        .kubectl
        .run(&["get", "gatewayroutes", "-n", APP_NAMESPACE], None)
        .await
        .expect("kubectl get");
    assert!(table.contains("READY"), "{table}");
    assert!(table.lines().skip(1).all(|l| l.contains("True")), "{table}");
}

#[tokio::test]
async fn a_credential_whose_secret_is_missing_or_unlabelled_says_which_while_the_rest_works() {
    let env = Env::start("cluster-missing-secret").await;
    env.wait_programmed(&ALL_OBJECTS).await;
    let orphan = format!(
        r#"apiVersion: tollgate.dev/v1alpha1
kind: OAuth2Credential
metadata:
  name: orphan
  namespace: {APP_NAMESPACE}
spec:
  consumerRef: {{name: jane}}
  clientId: orphan-client
  clientSecretRef: {{name: no-such-secret, key: client_secret}}
"#
    );
    env.kubectl.apply(&orphan).await.expect("apply orphan");
    let o = env
        .expect_condition(
            "oauth2credentials/orphan",
            APP_NAMESPACE,
            "ResolvedRefs",
            "False",
            "SecretNotFound",
        )
        .await;
    assert_eq!(condition(&o, "Programmed")["status"], "False", "{o}");
    assert_eq!(condition(&o, "Accepted")["status"], "True", "{o}");
    env.expect_warning("OAuth2Credential", "orphan", "SecretNotFound")
        .await;
    let refused = env.token(0, "orphan-client", "anything").await;
    assert_eq!(refused.status, 400, "{}", refused.describe());

    // Created without the label: a reason of its own, naming the fix.
    let secret = |labels: &str| {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: no-such-secret, namespace: \
             {APP_NAMESPACE}{labels}}}\nstringData: {{client_secret: orphan-secret}}\n"
        )
    };
    env.kubectl
        .apply(&secret(""))
        .await
        .expect("apply the unlabelled Secret");
    let o = env
        .expect_condition(
            "oauth2credentials/orphan",
            APP_NAMESPACE,
            "ResolvedRefs",
            "False",
            "SecretNotLabelled",
        )
        .await;
    let message = condition(&o, "ResolvedRefs")["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.contains(&format!(
            "kubectl label secret -n {APP_NAMESPACE} no-such-secret tollgate.dev/secret=credential"
        )),
        "{message}"
    );
    // Labelled as the message says: served.
    env.kubectl
        .apply(&secret(", labels: {tollgate.dev/secret: credential}"))
        .await
        .expect("label the Secret");
    env.kubectl
        .wait_for(
            "oauth2credentials/orphan",
            APP_NAMESPACE,
            "condition=Programmed=true",
            PROGRAMMED,
        )
        .await
        .unwrap_or_else(|e| panic!("orphan Programmed: {e}\n{}", env.work.all_logs()));
    let served = env.token(0, "orphan-client", "orphan-secret").await;
    assert_eq!(served.status, 200, "{}", served.describe());

    env.wait_programmed(&ALL_OBJECTS).await;
    let token = env.demo_token(0).await;
    assert_eq!(env.call(env.gateways.len() - 1, &token).await.status, 200);
}

#[tokio::test]
async fn deleting_a_credential_revokes_its_tokens_on_every_proxy() {
    let env = Env::start("cluster-revoke").await;
    env.wait_programmed(&ALL_OBJECTS).await;
    let token = env.demo_token(0).await;
    for g in 0..env.gateways.len() {
        assert_eq!(env.call(g, &token).await.status, 200);
    }
    env.delete_demo_credential().await;
    env.on_every_proxy(RELOAD, "the token to be refused", 401, |g| {
        env.call(g, &token)
    })
    .await;
}

#[tokio::test]
async fn a_restarted_proxy_gets_its_config_back_without_a_controller_restart() {
    let Some(mut env) = Env::start("cluster-proxy-restart")
        .await
        .local_only("needs local proxy processes")
    else {
        return;
    };
    env.wait_programmed(&ALL_OBJECTS).await;
    let token = env.demo_token(0).await;
    let proxy = &mut env.local().proxies[1];
    proxy.restart().await.expect("the proxy restarts");
    proxy
        .wait_ready()
        .await
        .expect("the restarted proxy receives its config again and becomes ready");
    let response = env.call(1, &token).await;
    assert_eq!(response.status, 200, "{}", response.describe());
}

/// Calls the upstream route through every proxy in a loop until told to stop; counts outcomes.
fn client_loop(
    env: &Env,
    token: String,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<(u64, Vec<String>)> {
    let targets: Vec<(Client, String)> = env
        .gateways
        .iter()
        .map(|g| (g.client.clone(), format!("{}/anything", g.http)))
        .collect();
    let ok = Arc::new(AtomicU64::new(0));
    tokio::spawn(async move {
        let mut failures = Vec::new();
        let auth = format!("Bearer {token}");
        while !stop.load(Ordering::Relaxed) {
            for (client, url) in &targets {
                match client
                    .send(
                        Method::GET,
                        url,
                        &[("authorization", &auth)],
                        Default::default(),
                    )
                    .await
                {
                    Ok(r) if r.status == 200 => {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(r) => failures.push(format!("{url}: {}", r.status)),
                    Err(e) => failures.push(format!("{url}: {e}")),
                }
            }
        }
        (ok.load(Ordering::Relaxed), failures)
    })
}

#[tokio::test]
async fn controller_restarts_and_a_leader_crash_drop_no_request() {
    let Some(mut env) = Env::start("cluster-controller-restart")
        .await
        .local_only("needs local controller processes")
    else {
        return;
    };
    env.wait_programmed(&ALL_OBJECTS).await;
    let token = env.demo_token(0).await;
    let stop = Arc::new(AtomicBool::new(false));
    let requests = client_loop(&env, token.clone(), Arc::clone(&stop));

    // A second replica follows while the first leads.
    let kubeconfig = env.local().emulator.written_controller_kubeconfig();
    let options = ControllerOptions {
        kubeconfig,
        lease_duration_secs: LEASE_SECS,
        namespaces: vec![],
        extra_args: Vec::new(),
    };
    let follower = Controller::start(&env.work, "controller-2", options)
        .await
        .expect("second controller");
    env.local().controllers.push(follower);
    assert!(
        env.local().controllers[0].is_leader().await,
        "the first controller leads"
    );
    assert!(
        !env.local().controllers[1].is_leader().await,
        "the second one follows"
    );

    // A graceful restart releases the Lease: the follower takes over at its next round.
    env.local().controllers[0]
        .restart()
        .await
        .expect("graceful restart");
    // Then the leader crashes: the other replica takes over once the Lease expires.
    let local = env.local();
    let leader = wait_until(TAKEOVER, "one replica to lead", || async {
        for (i, c) in local.controllers.iter().enumerate() {
            if c.is_leader().await {
                return Ok(i);
            }
        }
        Err("no leader".to_owned())
    })
    .await
    .expect("a leader after the graceful restart");
    local.controllers[leader].kill();
    env.until_leader(1 - leader, "the surviving replica to lead")
        .await;

    // The new leader serves changes: deleting the credential revokes the token everywhere.
    env.delete_demo_credential().await;
    stop.store(true, Ordering::Relaxed);
    let (ok, failures) = requests.await.expect("client loop");
    assert!(
        failures.is_empty(),
        "requests failed across the restarts: {failures:?}"
    );
    assert!(ok >= 4, "the loop ran ({ok} requests)");
    env.on_every_proxy(RELOAD, "the new leader's push", 401, |g| {
        env.call(g, &token)
    })
    .await;
}

#[tokio::test]
async fn hashed_secrets_are_kept_sealed_in_the_controller_namespace_and_a_restart_hashes_none() {
    let Some(mut env) = Env::start("cluster-kept-verifiers")
        .await
        .local_only("needs local controller processes")
    else {
        return;
    };
    env.wait_programmed(&ALL_OBJECTS).await;
    let token = env.demo_token(0).await;

    // The leader keeps the demo credential's argon2id verifier, sealed, in its own namespace.
    let kept = wait_until(RELOAD, "the verifier cache Secrets", || async {
        let list = env
            .kubectl
            .run(
                &[
                    "get",
                    "secrets",
                    "-n",
                    SYSTEM_NAMESPACE,
                    "-l",
                    "tollgate.dev/secret=verifier-cache",
                    "-o",
                    "json",
                ],
                None,
            )
            .await
            .map_err(|e| e.to_string())?;
        let list: Value = serde_json::from_str(&list).map_err(|e| e.to_string())?;
        let shards: Vec<Vec<u8>> = list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["data"]["verifiers"].as_str())
            .filter_map(|b| STANDARD.decode(b).ok())
            .collect();
        if shards.iter().any(|s| s.len() > 5) {
            Ok(shards)
        } else {
            Err(format!("no cache entry yet: {list}"))
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", env.work.all_logs()));
    for shard in &kept {
        let text = String::from_utf8_lossy(shard);
        assert!(!text.contains("argon2id"), "a verifier is stored in clear");
    }

    // A restarted controller takes the verifier from there instead of hashing again, and the
    // token issued before still works.
    env.local().controllers[0]
        .restart()
        .await
        .expect("controller restart");
    let controller = &env.local.as_ref().expect("local").controllers[0];
    wait_until(
        RELOAD,
        "the restarted controller's first snapshot",
        || async {
            let log = controller.log();
            match log
                .lines()
                .filter(|l| l.contains("first snapshot published"))
                .find(|l| l.contains("verifiers_kept=1"))
            {
                Some(line) if line.contains("verifiers_hashed=0") => Ok(()),
                Some(line) => Err(format!("hashed again: {line}")),
                None => Err("not yet".to_owned()),
            }
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", env.work.all_logs()));
    for g in 0..env.gateways.len() {
        let r = env.call(g, &token).await;
        assert_eq!(r.status, 200, "{}", r.describe());
    }
}

#[tokio::test]
async fn a_controller_limited_to_some_namespaces_ignores_the_others() {
    let Some(env) = Env::start_watching("cluster-namespaces", &[APP_NAMESPACE])
        .await
        .local_only("the external controller's namespaces are the chart's")
    else {
        return;
    };
    env.wait_programmed(&ALL_OBJECTS).await;
    let elsewhere = app_manifests("http://127.0.0.1:9")
        .replace(
            &format!("namespace: {APP_NAMESPACE}"),
            "namespace: elsewhere",
        )
        .replace(&format!("name: {APP_NAMESPACE}"), "name: elsewhere")
        .replace("clientId: client", "clientId: elsewhere-client");
    env.kubectl
        .apply(&elsewhere)
        .await
        .expect("apply objects in another namespace");
    // A change in the watched namespace, applied after, is served...
    let consumer = format!(
        "apiVersion: tollgate.dev/v1alpha1\nkind: Consumer\nmetadata: {{name: later, namespace: {APP_NAMESPACE}}}\nspec: {{}}\n"
    );
    env.kubectl.apply(&consumer).await.expect("apply");
    env.wait_programmed(&["consumers/later"]).await;
    // ...while the other namespace's objects get no status and its client no token.
    let other = env
        .kubectl
        .get_json("oauth2credentials/demo", "elsewhere")
        .await
        .expect("get");
    assert!(other.get("status").is_none_or(Value::is_null), "{other}");
    let refused = env.token(0, "elsewhere-client", "secret").await;
    assert_eq!(refused.status, 400, "{}", refused.describe());
}

/// The Service `name` in `namespace` on port 80 (named `http`) whose EndpointSlice lists httpbin
/// (at `target_port`) as `ready`.
fn httpbin_service(name: &str, namespace: &str, target_port: u16, ready: bool) -> String {
    let host = tollgate_e2e::proxy::admin_host();
    format!(
        r#"apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  ports: [{{name: http, port: 80, targetPort: {target_port}}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: {name}-1
  namespace: {namespace}
  labels: {{kubernetes.io/service-name: {name}}}
addressType: IPv4
ports: [{{name: http, port: {target_port}, protocol: TCP}}]
endpoints:
  - addresses: ["{host}"]
    conditions: {{ready: {ready}}}
"#
    )
}

/// The Service `echo` (see [`httpbin_service`]) and the GatewayRoute `echo` to it.
fn echo_route(target_port: u16, ready: bool) -> String {
    let service = httpbin_service("echo", APP_NAMESPACE, target_port, ready);
    format!(
        r#"{service}---
apiVersion: tollgate.dev/v1alpha1
kind: GatewayRoute
metadata: {{name: echo, namespace: {APP_NAMESPACE}}}
spec:
  paths: ["/echo"]
  plugins: ["oidc"]
  backend:
    service: {{name: echo, port: 80}}
"#
    )
}

#[tokio::test]
async fn a_service_backend_follows_the_ready_endpoints_of_its_endpoint_slices() {
    let Some(mut env) = Env::start("cluster-service-backend")
        .await
        .local_only("needs the local httpbin")
    else {
        return;
    };
    env.wait_programmed(&ALL_OBJECTS).await;
    let port = env.local().httpbin.port();
    env.kubectl
        .apply(&echo_route(port, true))
        .await
        .expect("apply service");
    env.wait_programmed(&["gatewayroutes/echo"]).await;
    let token = env.demo_token(0).await;
    let call = |status: u16| env.until_bearer_status(1, "/echo/anything", &token, status);
    let through = call(200).await;
    assert_eq!(
        through.json()["url"]
            .as_str()
            .map(|u| u.ends_with("/anything")),
        Some(true),
        "{}",
        through.describe()
    );
    // The endpoint stops being ready: the proxy stops using it.
    env.kubectl
        .apply(&echo_route(port, false))
        .await
        .expect("endpoint not ready");
    call(503).await;
    env.kubectl
        .apply(&echo_route(port, true))
        .await
        .expect("endpoint ready again");
    call(200).await;
}

#[tokio::test]
async fn an_invalid_resource_is_rejected_by_the_schema() {
    let work = WorkDir::new("cluster-schema").expect("work dir");
    let (kubectl, _emulator) = match External::from_env() {
        Some(ext) => (Kubectl::new(&ext.kubeconfig), None),
        None => {
            let emulator = Emulator::start(&work).await.expect("API emulator starts");
            let kubectl = Kubectl::new(emulator.kubeconfig());
            kubectl
                .apply_path(&repo_root().join("crds"))
                .await
                .expect("apply CRDs");
            (kubectl, Some(emulator))
        }
    };
    kubectl
        .apply(&format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {APP_NAMESPACE}\n"
        ))
        .await
        .expect("namespace");
    let invalid = [
        (
            "a wrong type",
            "kind: GatewayRoute\nmetadata: {name: bad-type}\nspec: {stripPath: maybe}",
            "stripPath",
        ),
        (
            "a value outside the enum",
            "kind: AuthPlugin\nmetadata: {name: bad-enum}\nspec: {type: basic-auth}",
            "type",
        ),
        (
            "a missing required field",
            "kind: OAuth2Credential\nmetadata: {name: bad-required}\nspec: {consumerRef: {name: jane}}",
            "clientId",
        ),
    ];
    for (what, doc, field) in invalid {
        let yaml = format!("apiVersion: tollgate.dev/v1alpha1\n{doc}\n").replace(
            "metadata: {",
            &format!("metadata: {{namespace: {APP_NAMESPACE}, "),
        );
        let out = kubectl
            .output(&["apply", "-f", "-"], Some(&yaml))
            .await
            .expect("kubectl runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{what} was accepted:\n{yaml}");
        assert!(
            stderr.contains(field),
            "{what}: the error names {field}: {stderr}"
        );
    }
    let valid = format!(
        "apiVersion: tollgate.dev/v1alpha1\nkind: Consumer\nmetadata: {{name: fine, namespace: {APP_NAMESPACE}}}\nspec: {{}}\n"
    );
    kubectl
        .apply(&valid)
        .await
        .expect("a valid object is accepted");
}

#[tokio::test]
async fn every_api_request_of_the_controller_is_allowed_by_the_chart_rbac() {
    let env = Env::start_gateway_api("cluster-rbac").await;
    let Some(local) = env.local.as_ref() else {
        eprintln!("skipped: the audit log is the emulator's");
        return;
    };
    env.wait_programmed(&ALL_OBJECTS).await;
    // The Gateway API kinds too: watched, their statuses written, a Warning Event.
    gateway_api::exercise_gateway_api(&env).await;
    // A problem too, so Warning Events are among the requests.
    env.kubectl
        .run(
            &["delete", "secret/demo-client-secret", "-n", APP_NAMESPACE],
            None,
        )
        .await
        .expect("delete the client secret");
    env.kubectl
        .wait_for(
            "oauth2credentials/demo",
            APP_NAMESPACE,
            "condition=ResolvedRefs=false",
            PROGRAMMED,
        )
        .await
        .expect("SecretNotFound reported");
    let audit = local.emulator.audit_log();
    let log = std::fs::read_to_string(audit).expect("audit log");
    assert!(
        log.lines().any(|l| l.contains(CONTROLLER_USER_AGENT)),
        "the audit log records the controller's requests"
    );
    let chart = repo_root().join("charts/tollgate");
    assert!(
        chart.is_dir(),
        "the Helm chart is missing: nothing to check the recorded requests against"
    );
    let checker = repo_root().join("scripts/rbac_check.py");
    let out = std::process::Command::new(python().expect("python"))
        .arg(&checker)
        .arg(&chart)
        .arg(audit)
        .args([
            "--user-agent",
            CONTROLLER_USER_AGENT,
            "--release-namespace",
            SYSTEM_NAMESPACE,
        ])
        .env(
            "PATH",
            format!(
                "{}:{}",
                repo_root().join(".tools/bin").display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .output()
        .expect("rbac_check.py runs");
    assert!(
        out.status.success(),
        "requests the chart's RBAC does not allow:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What a readiness-aware load generator saw (a replica gets traffic while its `/readyz` is 200).
#[derive(Default)]
struct LoadTally {
    ok: AtomicU64,
    /// Connections refused: nothing was sent; the request went to the other replica.
    rerouted: AtomicU64,
    failures: std::sync::Mutex<Vec<String>>,
}

#[tokio::test]
async fn a_proxy_restarted_under_load_serves_again_only_with_its_config_and_loses_no_request_or_token()
 {
    let Some(mut env) = Env::start("cluster-proxy-restart-under-load")
        .await
        .local_only("needs local proxy processes")
    else {
        return;
    };
    env.wait_programmed(&ALL_OBJECTS).await;
    let token = env.demo_token(0).await;
    let held = env.local().proxies[0].config_hash().await.expect("hash");
    assert!(!held.is_empty());
    let admin: Vec<(String, String)> = env
        .local()
        .proxies
        .iter()
        .map(|p| (p.metrics_url("/readyz"), p.config_url()))
        .collect();
    let config_client = env.local().proxies[0]
        .config_client()
        .expect("config channel client");
    let config_auth = format!("Bearer {CONFIG_TOKEN}");
    let targets: Arc<Vec<(Client, String, AtomicBool)>> = Arc::new(
        env.gateways
            .iter()
            .map(|g| {
                (
                    g.client.clone(),
                    format!("{}/anything", g.http),
                    AtomicBool::new(true),
                )
            })
            .collect(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(LoadTally::default());
    let plain = Client::plain().expect("client");

    // The load balancer's view, refreshed every few milliseconds. It also checks the contract:
    // a replica that says it is ready holds the config.
    let watcher = {
        let (targets, stop, plain, held) =
            (targets.clone(), stop.clone(), plain.clone(), held.clone());
        let (config_client, config_auth) = (config_client.clone(), config_auth.clone());
        tokio::spawn(async move {
            let mut violations = Vec::new();
            let mut tick = tokio::time::interval(Duration::from_millis(5));
            while !stop.load(Ordering::Acquire) {
                tick.tick().await;
                for ((ready_url, config_url), (_, _, routable)) in admin.iter().zip(targets.iter())
                {
                    let ready = matches!(plain.get(ready_url).await, Ok(r) if r.status == 200);
                    if ready {
                        let hash = config_client
                            .send(
                                Method::GET,
                                config_url,
                                &[("authorization", &config_auth)],
                                Default::default(),
                            )
                            .await
                            .map(|r| r.json()["hash"].as_str().unwrap_or_default().to_owned());
                        if hash.as_deref().ok() != Some(held.as_str()) {
                            violations.push(format!("{ready_url} ready with config {hash:?}"));
                        }
                    }
                    routable.store(ready, Ordering::Release);
                }
            }
            violations
        })
    };
    let auth = format!("Bearer {token}");
    let workers: Vec<_> = (0..4usize)
        .map(|w| {
            let (targets, stop, tally, auth) =
                (targets.clone(), stop.clone(), tally.clone(), auth.clone());
            tokio::spawn(async move {
                let mut turn = w;
                while !stop.load(Ordering::Acquire) {
                    turn += 1;
                    let mut outcome = Err("no ready replica".to_owned());
                    for attempt in 0..targets.len() {
                        let (client, url, routable) = &targets[(turn + attempt) % targets.len()];
                        if !routable.load(Ordering::Acquire) {
                            continue;
                        }
                        match client
                            .send(
                                Method::GET,
                                url,
                                &[("authorization", &auth)],
                                Default::default(),
                            )
                            .await
                        {
                            Ok(r) if r.status == 200 => {
                                outcome = Ok(());
                                break;
                            }
                            Err(tollgate_e2e::Error::Connect { .. }) => {
                                tally.rerouted.fetch_add(1, Ordering::AcqRel);
                            }
                            Ok(r) => {
                                outcome = Err(format!("{url}: {}", r.status));
                                break;
                            }
                            Err(e) => {
                                outcome = Err(format!("{url}: {e}"));
                                break;
                            }
                        }
                    }
                    match outcome {
                        Ok(()) => {
                            tally.ok.fetch_add(1, Ordering::AcqRel);
                        }
                        Err(e) => tally
                            .failures
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(e),
                    }
                }
            })
        })
        .collect();
    let served = |n: u64| {
        let tally = tally.clone();
        move || {
            let ok = tally.ok.load(Ordering::Acquire);
            async move {
                if ok >= n {
                    Ok(())
                } else {
                    Err(format!("{ok} requests served"))
                }
            }
        }
    };
    wait_until(RELOAD, "load to be running", served(50))
        .await
        .expect("load");

    // Restart proxy B under load: it comes back without a config, is not ready until the
    // controller pushes it again, then serves the token issued before the restart.
    let proxy = &mut env.local().proxies[1];
    proxy.restart().await.expect("the proxy restarts");
    proxy
        .wait_ready()
        .await
        .expect("the restarted proxy gets its config back and becomes ready");
    let before = tally.ok.load(Ordering::Acquire);
    wait_until(
        RELOAD,
        "load to go on across both proxies",
        served(before + 100),
    )
    .await
    .expect("load after");
    stop.store(true, Ordering::Release);
    for worker in workers {
        worker.await.expect("join");
    }
    let violations = watcher.await.expect("join");
    let failures = tally
        .failures
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let (ok, rerouted) = (
        tally.ok.load(Ordering::Acquire),
        tally.rerouted.load(Ordering::Acquire),
    );
    println!(
        "FAULT proxy-restart requests={} failed={} rerouted_after_refused_connect={rerouted}",
        ok + failures.len() as u64,
        failures.len()
    );
    assert!(violations.is_empty(), "{violations:#?}");
    assert!(
        failures.is_empty(),
        "{} of {} requests failed: {failures:#?}",
        failures.len(),
        ok + failures.len() as u64
    );
    let response = env.call(1, &token).await;
    assert_eq!(
        response.status,
        200,
        "the token issued before the restart: {}",
        response.describe()
    );
}

#[tokio::test]
async fn after_the_api_emulator_restarts_the_watches_recover_and_a_later_change_reaches_every_proxy()
 {
    let Some(mut env) = Env::start("cluster-emulator-restart")
        .await
        .local_only("needs a local API emulator")
    else {
        return;
    };
    env.wait_programmed(&ALL_OBJECTS).await;
    let token = env.demo_token(0).await;
    env.local()
        .emulator
        .restart()
        .await
        .expect("the emulator restarts with its objects");
    // The proxies kept their config across the API server's absence.
    for g in 0..env.gateways.len() {
        assert_eq!(
            env.call(g, &token).await.status,
            200,
            "{}",
            env.gateways[g].name
        );
    }
    // A change made after the restart reaches both proxies: the controller's watches recovered.
    env.delete_demo_credential().await;
    env.on_every_proxy(PROGRAMMED, "the revoked token to be refused", 401, |g| {
        env.call(g, &token)
    })
    .await;
    println!(
        "FAULT emulator-restart requests={} failed=0",
        2 * env.gateways.len()
    );
}

/// A controller that cannot sync a cache (here: a CRD not installed) is not ready, and its
/// `/readyz` names the watch and what to do rather than only "not synced".
#[tokio::test]
async fn readyz_names_the_watch_that_cannot_sync_and_why() {
    if External::from_env().is_some() {
        eprintln!("skipped: the external cluster has every CRD");
        return;
    }
    let work = WorkDir::new("cluster-missing-crd").expect("work dir");
    let emulator = Emulator::start(&work).await.expect("API server starts");
    let kubectl = Kubectl::new(emulator.kubeconfig());
    for crd in [
        "consumers.tollgate.dev.yaml",
        "oauth2credentials.tollgate.dev.yaml",
        "gatewayroutes.tollgate.dev.yaml",
    ] {
        kubectl
            .apply_path(&repo_root().join("crds").join(crd))
            .await
            .expect("apply a CRD");
    }
    let kubeconfig = emulator
        .controller_kubeconfig(&kubectl)
        .await
        .expect("the controller's kubeconfig");
    let options = ControllerOptions {
        kubeconfig,
        lease_duration_secs: LEASE_SECS,
        namespaces: Vec::new(),
        extra_args: Vec::new(),
    };
    let controller = Controller::spawn(&work, "controller-no-crd", options).expect("spawn");
    let client = Client::plain().expect("client");
    let url = controller.admin_url("/readyz");
    let body = wait_until(RELOAD, "/readyz to name the missing CRD", || {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let reply = client.get(&url).await.map_err(|e| e.to_string())?;
            let text = reply.text();
            // Every other watch syncs; only the missing one stays listed.
            if reply.status == 503
                && text.contains("waiting for authplugins.tollgate.dev in all namespaces")
                && text.contains("CRD")
                && !text.contains("consumers.tollgate.dev")
            {
                Ok(text)
            } else {
                Err(format!("{} {text}", reply.status))
            }
        }
    })
    .await
    .expect("the missing CRD is named");
    assert!(body.contains("not found (404)"), "{body}");
    assert!(
        controller.log().contains("authplugins.tollgate.dev"),
        "the log names the watch"
    );
}

/// The chart leaves the config token and the signing keys to the controller, which creates
/// them once when they are missing and never changes them: a restart (or any number of
/// re-rendered manifests) keeps the token the proxies hold and the keys issued tokens need.
#[tokio::test]
async fn the_controller_creates_missing_generated_secrets_once_and_never_changes_them() {
    if External::from_env().is_some() {
        eprintln!("skipped: the external cluster's Secrets are the chart's");
        return;
    }
    let work = WorkDir::new("cluster-generated-secrets").expect("work dir");
    let emulator = Emulator::start(&work).await.expect("API server starts");
    let kubectl = Kubectl::new(emulator.kubeconfig());
    kubectl
        .apply_path(&repo_root().join("crds"))
        .await
        .expect("kubectl apply -f crds/");
    let kubeconfig = emulator
        .controller_kubeconfig(&kubectl)
        .await
        .expect("the controller's kubeconfig");
    // The system objects without their two Secrets.
    let system: String = system_manifests(&[], "unused", &[1u8; 32])
        .split("\n---\n")
        .filter(|doc| !doc.contains("kind: Secret"))
        .collect::<Vec<_>>()
        .join("\n---\n");
    kubectl.apply(&system).await.expect("apply system objects");
    let options = ControllerOptions {
        kubeconfig,
        lease_duration_secs: LEASE_SECS,
        namespaces: Vec::new(),
        extra_args: vec![
            "--create-config-token-secret".into(),
            "--create-signing-keys-secret".into(),
        ],
    };
    let mut controller = Controller::spawn(&work, "controller-secrets", options).expect("spawn");
    let read = |name: &'static str| {
        let kubectl = &kubectl;
        async move {
            kubectl
                .get_json(&format!("secrets/{name}"), SYSTEM_NAMESPACE)
                .await
                .map_err(|e| e.to_string())
        }
    };
    let token = wait_until(RELOAD, "the config-token Secret", || {
        read("tollgate-config-token")
    })
    .await
    .expect("created");
    let keys = wait_until(RELOAD, "the signing-keys Secret", || {
        read("tollgate-signing-keys")
    })
    .await
    .expect("created");
    assert_eq!(
        token["metadata"]["labels"]["tollgate.dev/secret"],
        "config-token"
    );
    assert_eq!(
        keys["metadata"]["labels"]["tollgate.dev/secret"],
        "signing-keys"
    );
    let token_b64 = token["data"]["token"].as_str().expect("token").to_owned();
    assert_eq!(STANDARD.decode(&token_b64).expect("base64").len(), 64);
    let (kid, key) = keys["data"]
        .as_object()
        .and_then(|d| d.iter().next())
        .expect("one key");
    assert!(kid.starts_with('k'), "{kid}");
    assert_eq!(
        STANDARD
            .decode(key.as_str().expect("key"))
            .expect("base64")
            .len(),
        32
    );

    controller.stop().await;
    let mut again = Controller::spawn(
        &work,
        "controller-secrets-2",
        ControllerOptions {
            kubeconfig: emulator.written_controller_kubeconfig(),
            lease_duration_secs: LEASE_SECS,
            namespaces: Vec::new(),
            extra_args: vec![
                "--create-config-token-secret".into(),
                "--create-signing-keys-secret".into(),
            ],
        },
    )
    .expect("spawn");
    let client = Client::plain().expect("client");
    let url = again.admin_url("/healthz");
    wait_until(RELOAD, "the second controller to run", || {
        let (client, url) = (client.clone(), url.clone());
        async move {
            match client.get(&url).await {
                Ok(r) if r.status == 200 => Ok(()),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await
    .expect("running");
    // Its start-up check is done once it has synced its caches (or at the latest, it has
    // logged); either way the Secrets hold what the first controller wrote.
    wait_until(
        RELOAD,
        "the second controller to finish its start-up",
        || async {
            if again.log().contains("caches synced")
                || again.log().contains("waiting for every cache")
            {
                Ok(())
            } else {
                Err("not yet".to_owned())
            }
        },
    )
    .await
    .expect("started");
    let token_after = read("tollgate-config-token").await.expect("read");
    let keys_after = read("tollgate-signing-keys").await.expect("read");
    assert_eq!(
        token_after["data"]["token"].as_str(),
        Some(token_b64.as_str())
    );
    assert_eq!(keys_after["data"], keys["data"]);
    assert!(
        !again.log().contains("created the missing Secret"),
        "{}",
        again.log()
    );
    again.stop().await;
}

/// An installed CRD older than the controller (Helm never upgrades `crds/`) keeps the
/// controller unready, naming the missing fields and the command to run; once the CRD is
/// upgraded the controller becomes ready by itself.
#[tokio::test]
async fn an_outdated_crd_keeps_the_controller_unready_until_it_is_upgraded() {
    if External::from_env().is_some() {
        eprintln!("skipped: the external cluster's CRDs are the chart's");
        return;
    }
    let work = WorkDir::new("cluster-outdated-crd").expect("work dir");
    let emulator = Emulator::start(&work).await.expect("API server starts");
    let kubectl = Kubectl::new(emulator.kubeconfig());
    let crds = repo_root().join("crds");
    for crd in [
        "consumers.tollgate.dev.yaml",
        "gatewayroutes.tollgate.dev.yaml",
        "authplugins.tollgate.dev.yaml",
    ] {
        kubectl
            .apply_path(&crds.join(crd))
            .await
            .expect("apply a CRD");
    }
    // The credential CRD of an "older release": without status.observedGeneration.
    let text =
        std::fs::read_to_string(crds.join("oauth2credentials.tollgate.dev.yaml")).expect("read");
    let mut old: Value = serde_saphyr::from_str(&text).expect("CRD YAML");
    old.pointer_mut("/spec/versions/0/schema/openAPIV3Schema/properties/status/properties")
        .and_then(Value::as_object_mut)
        .expect("status properties")
        .remove("observedGeneration")
        .expect("the field exists today");
    kubectl
        .apply(&old.to_string())
        .await
        .expect("apply the older CRD");
    kubectl
        .run(
            &[
                "wait",
                "--for=condition=Established",
                "crd",
                "--all",
                "--timeout=60s",
            ],
            None,
        )
        .await
        .expect("CRDs established");
    let options = ControllerOptions {
        kubeconfig: emulator
            .controller_kubeconfig(&kubectl)
            .await
            .expect("the controller's kubeconfig"),
        lease_duration_secs: LEASE_SECS,
        namespaces: Vec::new(),
        extra_args: vec!["--crd-recheck-secs=1".into()],
    };
    let controller = Controller::spawn(&work, "controller-old-crd", options).expect("spawn");
    let client = Client::plain().expect("client");
    let url = controller.admin_url("/readyz");
    let readyz = || {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let reply = client.get(&url).await.map_err(|e| e.to_string())?;
            Ok::<_, String>((reply.status.as_u16(), reply.text()))
        }
    };
    let body = wait_until(RELOAD, "/readyz to name the outdated CRD", || async {
        match readyz().await? {
            (503, text) if text.contains("OAuth2Credential lacks status.observedGeneration") => {
                Ok(text)
            }
            (status, text) => Err(format!("{status} {text}")),
        }
    })
    .await
    .expect("the outdated CRD is named");
    assert!(body.contains("kubectl apply --server-side"), "{body}");
    assert!(
        controller.log().contains("OAuth2Credential lacks"),
        "the log says it too"
    );

    kubectl.apply_path(&crds).await.expect("upgrade the CRDs");
    wait_until(
        Duration::from_secs(60),
        "the controller to become ready",
        || async {
            match readyz().await? {
                (200, _) => Ok(()),
                (status, text) => Err(format!("{status} {text}")),
            }
        },
    )
    .await
    .expect("ready once the CRDs are upgraded");
}

/// Freezing the leader (SIGSTOP) hands the lead to the follower; when the old leader resumes it
/// pushes nothing — its leadership lapsed at the renew deadline, and proxies refuse an older
/// leader epoch — so a credential the new leader revoked stays revoked. Freezing the API server
/// makes the leader step down within the renew deadline; a replica leads again once it resumes.
#[tokio::test]
async fn a_frozen_leader_or_api_server_never_brings_back_an_older_configuration() {
    let Some(mut env) = Env::start("cluster-frozen-leader")
        .await
        .local_only("needs local controller and API server processes")
    else {
        return;
    };
    env.wait_programmed(&ALL_OBJECTS).await;
    let token = env.demo_token(0).await;
    let options = ControllerOptions {
        kubeconfig: env.local().emulator.written_controller_kubeconfig(),
        lease_duration_secs: LEASE_SECS,
        namespaces: vec![],
        extra_args: Vec::new(),
    };
    let follower = Controller::start(&env.work, "controller-2", options)
        .await
        .expect("second controller");
    env.local().controllers.push(follower);
    assert!(
        env.local().controllers[0].is_leader().await,
        "the first controller leads"
    );

    env.local().controllers[0]
        .signal("STOP")
        .expect("freeze the leader");
    env.until_leader(1, "the follower to take over").await;
    let local = env.local.as_ref().expect("local");
    env.delete_demo_credential().await;
    env.on_every_proxy(RELOAD, "the new leader's revocation", 401, |g| {
        env.call(g, &token)
    })
    .await;
    let held: Vec<String> = {
        let mut hashes = Vec::new();
        for p in &local.proxies {
            hashes.push(p.config_hash().await.expect("hash"));
        }
        hashes
    };

    local.controllers[0]
        .signal("CONT")
        .expect("resume the old leader");
    wait_until(RELOAD, "the resumed replica to know it follows", || async {
        let metrics = local.controllers[0]
            .metrics()
            .await
            .map_err(|e| e.to_string())?;
        if metrics
            .lines()
            .any(|l| l.trim() == "tollgate_controller_leader 0")
        {
            Ok(())
        } else {
            Err("still says it leads".to_owned())
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", env.work.all_logs()));
    // It has run its election round since resuming; the proxies still hold the new leader's
    // configuration and refuse the revoked credential's token.
    for (i, p) in local.proxies.iter().enumerate() {
        assert_eq!(
            p.config_hash().await.expect("hash"),
            held[i],
            "proxy {i} was reconfigured"
        );
        assert_eq!(
            env.call(i, &token).await.status,
            401,
            "the revoked token is back on {i}"
        );
    }
    println!(
        "FAULT frozen-leader old-leader-resumed=follower revoked-token=401 proxies-unchanged=true"
    );

    // The API server freezes: the leader's renewals hang and it steps down within the deadline.
    local
        .emulator
        .signal("STOP")
        .expect("freeze the API server");
    let frozen_at = std::time::Instant::now();
    wait_until(TAKEOVER, "the leader to step down", || async {
        let mut leaders = 0;
        for c in &local.controllers {
            leaders += usize::from(c.is_leader().await);
        }
        if leaders == 0 {
            Ok(())
        } else {
            Err(format!("{leaders} leader(s)"))
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", env.work.all_logs()));
    let stepped_down = frozen_at.elapsed();
    local
        .emulator
        .signal("CONT")
        .expect("resume the API server");
    wait_until(TAKEOVER, "a replica to lead again", || async {
        for c in &local.controllers {
            if c.is_leader().await {
                return Ok(());
            }
        }
        Err("no leader".to_owned())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", env.work.all_logs()));
    println!("FAULT frozen-apiserver stepped-down-after={stepped_down:?} led-again=true");
}

/// Applies the marker route with path `/marker-N` and waits until that generation is
/// `Programmed`. The reconcile loop runs one pass at a time, so once it is, every pass that
/// began before the change has finished, status writes included.
async fn settle_with_marker(env: &Env, n: u32) {
    env.kubectl
        .apply(&format!(
            "apiVersion: tollgate.dev/v1alpha1\nkind: GatewayRoute\nmetadata:\n  name: marker\n  \
             namespace: {APP_NAMESPACE}\nspec:\n  paths: [\"/marker-{n}\"]\n"
        ))
        .await
        .expect("apply the marker route");
    wait_until(
        PROGRAMMED,
        "the marker route's generation to be Programmed",
        || async {
            let o = env
                .kubectl
                .get_json("gatewayroutes/marker", APP_NAMESPACE)
                .await
                .map_err(|e| e.to_string())?;
            let programmed = o["status"]["conditions"]
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["type"] == "Programmed"))
                .is_some_and(|c| c["status"] == "True");
            if programmed && o["status"]["observedGeneration"] == o["metadata"]["generation"] {
                Ok(())
            } else {
                Err(o["status"].to_string())
            }
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", env.work.all_logs()));
}

/// The resourceVersion of every object of [`ALL_OBJECTS`].
async fn resource_versions(env: &Env) -> BTreeMap<&'static str, String> {
    let mut versions = BTreeMap::new();
    for object in ALL_OBJECTS {
        let o = env
            .kubectl
            .get_json(object, APP_NAMESPACE)
            .await
            .expect("get");
        let version = o["metadata"]["resourceVersion"].as_str().expect("rv");
        versions.insert(object, version.to_owned());
    }
    versions
}

/// Scaling the proxies up or down, or replacing one, rewrites no status: messages carry no
/// replica counts, and a replica holding no configuration yet (a new pod not yet pushed to, or
/// not listening yet) serves no traffic, so it does not turn served objects Pending and back.
/// Shown from the API server's side: no status write of those objects in its audit log, and
/// their resourceVersions unchanged.
#[tokio::test]
async fn scaling_or_replacing_proxies_rewrites_no_status() {
    let Some(mut env) = Env::start("cluster-scale-proxies")
        .await
        .local_only("needs local proxy processes and the API server's audit log")
    else {
        return;
    };
    env.wait_programmed(&ALL_OBJECTS).await;
    settle_with_marker(&env, 1).await;
    let before = resource_versions(&env).await;
    let audit = env.local().emulator.audit_log().to_path_buf();
    let audit_offset = std::fs::metadata(&audit).expect("audit log").len() as usize;

    // A replaced replica: same address, back without configuration.
    let held = env.local().proxies[0]
        .config_hash()
        .await
        .expect("proxy-a's hash");
    env.local().proxies[1]
        .restart()
        .await
        .expect("proxy-b restarts");
    env.local().proxies[1]
        .wait_ready()
        .await
        .expect("proxy-b gets its configuration back");

    // Scale up by a replica listed before it listens (a pod still starting): the controller
    // cannot reach it at first, then it starts and receives the configuration.
    let work = &env.work;
    let mut third = Proxy::start(work, "proxy-c", CONFIG_TOKEN)
        .await
        .expect("proxy-c starts");
    third.stop().await;
    let mut admin: Vec<String> = env
        .local
        .as_ref()
        .expect("local")
        .proxies
        .iter()
        .map(Proxy::admin_addr)
        .collect();
    admin.push(third.admin_addr());
    env.kubectl
        .apply(&system_manifests(&admin, CONFIG_TOKEN, &SIGNING_KEY))
        .await
        .expect("list a third proxy replica");
    let controller = &env.local.as_ref().expect("local").controllers[0];
    let failed = format!(
        "tollgate_controller_push_failures_total{{proxy=\"{}\"}}",
        third.admin_addr()
    );
    wait_until(
        RELOAD,
        "a failed push to the replica not yet listening",
        || async {
            let metrics = controller.metrics().await.map_err(|e| e.to_string())?;
            match metrics.lines().find(|l| l.starts_with(&failed)) {
                Some(line) if !line.ends_with(" 0") => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await
    .expect("the controller tried the third replica");
    third.restart().await.expect("proxy-c starts listening");
    third
        .wait_ready()
        .await
        .expect("proxy-c receives the configuration");
    assert_eq!(third.config_hash().await.expect("hash"), held);

    // Scale down again.
    env.kubectl
        .run(
            &[
                "delete",
                "endpointslice",
                "tollgate-proxy-config-2",
                "-n",
                SYSTEM_NAMESPACE,
            ],
            None,
        )
        .await
        .expect("delete the third replica's EndpointSlice");
    third.stop().await;

    settle_with_marker(&env, 2).await;
    let log = std::fs::read_to_string(&audit).expect("audit log");
    let others: Vec<StatusWrite> = status_writes(log.get(audit_offset..).unwrap_or_default())
        .into_iter()
        .filter(|w| w.name != "marker")
        .collect();
    assert!(others.is_empty(), "status writes: {others:?}");
    let marker = status_writes(log.get(audit_offset..).unwrap_or_default());
    assert!(
        !marker.is_empty(),
        "the marker's own status writes are in the audit log"
    );
    assert_eq!(resource_versions(&env).await, before);
    for object in ALL_OBJECTS {
        let o = env
            .kubectl
            .get_json(object, APP_NAMESPACE)
            .await
            .expect("get");
        assert_eq!(condition(&o, "Programmed")["status"], "True", "{object}");
    }
}

/// With `--status-writes-per-second 3 --status-write-burst 3`, a change to 24 objects at once
/// reaches the API server at that rate, and every object still gets its status. In the audit
/// log, no run of writes holds more than the token bucket allows: burst + rate x (time between
/// the first and the last) + 1. The one is the first write's token, taken before the server
/// saw it; no other slack is needed because status writes are sequential (each is taken after
/// the previous one was answered, and the server's timestamp of a write lies between its token
/// and the next write's token).
#[tokio::test]
async fn status_writes_never_exceed_the_configured_rate() {
    const RATE: f64 = 3.0;
    const BURST: f64 = 3.0;
    const CONSUMERS: usize = 24;
    let Some(env) = Env::start_with(
        "cluster-status-rate",
        &[],
        vec![
            format!("--status-writes-per-second={RATE}"),
            format!("--status-write-burst={BURST}"),
        ],
    )
    .await
    .local_only("needs the API server's audit log") else {
        return;
    };
    env.wait_programmed(&ALL_OBJECTS).await;
    let manifests: Vec<String> = (0..CONSUMERS)
        .map(|i| {
            format!(
                "apiVersion: tollgate.dev/v1alpha1\nkind: Consumer\nmetadata:\n  name: rate-{i}\n  \
                 namespace: {APP_NAMESPACE}\nspec:\n  username: rate-{i}\n"
            )
        })
        .collect();
    env.kubectl
        .apply(&manifests.join("---\n"))
        .await
        .expect("apply the consumers");
    env.kubectl
        .run(
            &[
                "wait",
                "--for=condition=Programmed",
                "consumers",
                "--all",
                "-n",
                APP_NAMESPACE,
                &format!("--timeout={}s", PROGRAMMED.as_secs()),
            ],
            None,
        )
        .await
        .unwrap_or_else(|e| panic!("every consumer Programmed: {e}\n{}", env.work.all_logs()));
    let log = std::fs::read_to_string(env.local.as_ref().expect("local").emulator.audit_log())
        .expect("audit log");
    let writes = status_writes(&log);
    let rated = writes
        .iter()
        .filter(|w| w.name.starts_with("rate-"))
        .count();
    assert!(rated >= CONSUMERS, "{rated} writes to the new consumers");
    let mut worst = (0usize, 0.0f64);
    for (i, first) in writes.iter().enumerate() {
        for (j, last) in writes.iter().enumerate().skip(i) {
            let count = j - i + 1;
            let window = last.at - first.at;
            #[allow(clippy::cast_precision_loss)]
            let over = count as f64 - (BURST + 1.0 + RATE * window);
            assert!(
                over <= 1e-6,
                "{count} status writes within {window:.3} s (rate {RATE}/s, burst {BURST}): {:?}",
                &writes[i..=j]
            );
            if count > worst.0 && window < 1.0 {
                worst = (count, window);
            }
        }
    }
    let span = writes.last().expect("writes").at - writes.first().expect("writes").at;
    eprintln!(
        "RATE status-writes={} span={span:.1}s most-within-1s={} (bucket {RATE}/s burst {BURST})",
        writes.len(),
        worst.0
    );
}

/// A watch RBAC refuses keeps the controller unready, and `/readyz` and the log name the verb
/// and resource of the 403. The emulator authorizes every request, so this runs on the real
/// API server tier, where the chart's RBAC (one rule taken away here) is enforced.
#[tokio::test]
async fn readyz_names_the_verb_and_resource_rbac_refuses() {
    if External::from_env().is_some() {
        eprintln!("skipped: the external cluster's RBAC is the chart's");
        return;
    }
    let work = WorkDir::new("cluster-forbidden-watch").expect("work dir");
    let emulator = Emulator::start(&work).await.expect("API server starts");
    if !emulator.is_real() {
        eprintln!("skipped: the emulator enforces no RBAC (TOLLGATE_E2E_APISERVER=real runs it)");
        return;
    }
    let kubectl = Kubectl::new(emulator.kubeconfig());
    kubectl
        .apply_path(&repo_root().join("crds"))
        .await
        .expect("kubectl apply -f crds/");
    let kubeconfig = emulator
        .controller_kubeconfig(&kubectl)
        .await
        .expect("the controller's kubeconfig");
    let role = kubectl
        .get_json("clusterrole/tollgate-controller", SYSTEM_NAMESPACE)
        .await
        .expect("the chart's ClusterRole");
    assert_eq!(
        role["rules"][0]["resources"],
        serde_json::json!([
            "consumers",
            "oauth2credentials",
            "gatewayroutes",
            "authplugins"
        ]),
        "the first rule grants reading the Tollgate resources"
    );
    kubectl
        .run(
            &[
                "patch",
                "clusterrole",
                "tollgate-controller",
                "--type=json",
                "-p",
                r#"[{"op":"replace","path":"/rules/0/resources","value":["consumers","oauth2credentials","gatewayroutes"]}]"#,
            ],
            None,
        )
        .await
        .expect("take authplugins out of the ClusterRole");
    let options = ControllerOptions {
        kubeconfig,
        lease_duration_secs: LEASE_SECS,
        namespaces: Vec::new(),
        extra_args: Vec::new(),
    };
    let controller = Controller::spawn(&work, "controller-forbidden", options).expect("spawn");
    let client = Client::plain().expect("client");
    let url = controller.admin_url("/readyz");
    let expected = "waiting for authplugins.tollgate.dev in all namespaces: forbidden (403): \
                    RBAC does not let the controller list authplugins.tollgate.dev";
    let body = wait_until(RELOAD, "/readyz to name the refused watch", || {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let reply = client.get(&url).await.map_err(|e| e.to_string())?;
            let text = reply.text();
            // Only the refused watch stays listed.
            if reply.status == 503 && text.contains(expected) && !text.contains("consumers.") {
                Ok(text)
            } else {
                Err(format!("{} {text}", reply.status))
            }
        }
    })
    .await
    .expect("the refused watch is named");
    assert!(body.contains("grant get, list and watch"), "{body}");
    let log = controller.log();
    assert!(
        log.contains("forbidden (403)") && log.contains("list authplugins.tollgate.dev"),
        "the log names the verb and resource:\n{log}"
    );
}

/// A rate limit divided by the two proxy replicas, beside the route's authentication plugin;
/// a rate limit Kong would refuse reports it on its own status and in an Event, and the rest
/// stays served.
#[tokio::test]
async fn a_rate_limit_divided_by_the_replicas_is_enforced_per_proxy_and_a_bad_one_is_reported() {
    let env = Env::start("cluster-rate-limit").await;
    env.wait_programmed(&ALL_OBJECTS).await;
    let httpbin = env
        .kubectl
        .get_json("gatewayroutes/httpbin", APP_NAMESPACE)
        .await
        .expect("get route");
    let upstream = httpbin["spec"]["backend"]["url"]
        .as_str()
        .expect("the quickstart route's url")
        .to_owned();
    let limits = format!(
        r#"apiVersion: tollgate.dev/v1alpha1
kind: AuthPlugin
metadata:
  name: limit
  namespace: {APP_NAMESPACE}
spec:
  type: rate-limiting
  rateLimiting:
    hour: 2
    divideByReplicas: true
---
apiVersion: tollgate.dev/v1alpha1
kind: GatewayRoute
metadata:
  name: limited
  namespace: {APP_NAMESPACE}
spec:
  paths: [/limited]
  plugins: [limit, oidc]
  backend:
    url: {upstream}
---
apiVersion: tollgate.dev/v1alpha1
kind: AuthPlugin
metadata:
  name: bad-limit
  namespace: {APP_NAMESPACE}
spec:
  type: rate-limiting
  rateLimiting:
    minute: 10
    hour: 5
"#
    );
    env.kubectl.apply(&limits).await.expect("apply the limits");
    env.wait_programmed(&["authplugins/limit", "gatewayroutes/limited"])
        .await;
    let bad = env
        .expect_condition(
            "authplugins/bad-limit",
            APP_NAMESPACE,
            "Accepted",
            "False",
            "InvalidPlugin",
        )
        .await;
    let accepted = condition(&bad, "Accepted");
    assert!(
        accepted["message"]
            .as_str()
            .is_some_and(|m| m
                .contains("the limit for hour(5) cannot be lower than the limit for minute(10)")),
        "{bad}"
    );
    env.expect_warning("AuthPlugin", "bad-limit", "InvalidPlugin")
        .await;

    // Two replicas: each allows 2 / 2 = 1 request an hour of jane. A run across the top of an
    // hour sees its windows restart, so it is run again rather than failed.
    let token = env.demo_token(0).await;
    let limited = |gateway: usize| {
        let g = &env.gateways[gateway];
        let auth = format!("Bearer {token}");
        let url = format!("{}/limited/anything", g.http);
        async move {
            let r = g
                .client
                .send(
                    Method::GET,
                    &url,
                    &[("authorization", &auth)],
                    Default::default(),
                )
                .await
                .unwrap_or_else(|e| panic!("limited call through {}: {e}", g.name));
            (
                r.status.as_u16(),
                r.header("x-ratelimit-limit-hour").map(str::to_owned),
                r.header("x-ratelimit-remaining-hour").map(str::to_owned),
            )
        }
    };
    let hour = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() / 3600)
    };
    let last = env.gateways.len() - 1;
    let seen = loop {
        let start = hour();
        let seen = vec![limited(0).await, limited(0).await, limited(last).await];
        if hour() == start {
            break seen;
        }
    };
    let one = Some("1".to_owned());
    let zero = Some("0".to_owned());
    if env.gateways.len() > 1 {
        assert_eq!(
            seen,
            [
                (200, one.clone(), zero.clone()),
                (429, one.clone(), zero.clone()),
                (200, one, zero),
            ],
            "per-replica counters, each a half of the limit"
        );
    }
    // Everything else is still served.
    env.wait_programmed(&ALL_OBJECTS).await;
    assert_eq!(env.call(last, &token).await.status, 200);
}

/// `generateSecret: true` with `--generate-client-secrets`: the controller creates the missing
/// Secret in the credential's namespace (labelled, owned by the credential, 32 random bytes in
/// base64url), says so in a `SecretGenerated` condition, and the client gets tokens with it on
/// every proxy.
#[tokio::test]
async fn a_generated_client_secret_is_written_reported_and_served() {
    let env = Env::start_with(
        "cluster-generated-secret",
        &[],
        vec!["--generate-client-secrets".to_owned()],
    )
    .await;
    env.wait_programmed(&ALL_OBJECTS).await;
    let credential = format!(
        r#"apiVersion: tollgate.dev/v1alpha1
kind: OAuth2Credential
metadata:
  name: generated
  namespace: {APP_NAMESPACE}
spec:
  consumerRef: {{name: jane}}
  clientId: generated-client
  clientSecretRef: {{name: generated-secret, key: client_secret}}
  generateSecret: true
"#
    );
    env.kubectl.apply(&credential).await.expect("apply");
    let object = env
        .expect_condition(
            "oauth2credentials/generated",
            APP_NAMESPACE,
            "SecretGenerated",
            "True",
            "Generated",
        )
        .await;
    env.wait_programmed(&["oauth2credentials/generated"]).await;
    let generated = condition(&object, "SecretGenerated");
    let secret = env
        .kubectl
        .get_json("secrets/generated-secret", APP_NAMESPACE)
        .await
        .expect("get the Secret");
    assert_eq!(
        secret["metadata"]["labels"]["tollgate.dev/secret"],
        "credential"
    );
    let owner = &secret["metadata"]["ownerReferences"][0];
    assert_eq!(owner["kind"], "OAuth2Credential", "{secret}");
    assert_eq!(owner["uid"], object["metadata"]["uid"], "{secret}");
    let value = STANDARD
        .decode(secret["data"]["client_secret"].as_str().expect("data"))
        .expect("base64");
    let value = String::from_utf8(value).expect("base64url text");
    assert_eq!(value.len(), 43, "32 random bytes");
    assert!(
        value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    assert!(
        !env.work.all_logs().contains(&value),
        "the generated secret is never logged"
    );
    assert!(
        !generated["message"]
            .as_str()
            .unwrap_or_default()
            .contains(&value)
    );
    // A Secret Tollgate keeps for something else is never written, and the credential says so.
    let foreign = format!(
        r#"apiVersion: v1
kind: Secret
metadata:
  name: foreign
  namespace: {APP_NAMESPACE}
  labels: {{tollgate.dev/secret: signing-keys}}
stringData:
  k2026-01-01: not-a-client-secret-but-long-enough-0123456789
---
apiVersion: tollgate.dev/v1alpha1
kind: OAuth2Credential
metadata:
  name: foreign-cred
  namespace: {APP_NAMESPACE}
spec:
  consumerRef: {{name: jane}}
  clientId: foreign-client
  clientSecretRef: {{name: foreign, key: client_secret}}
  generateSecret: true
"#
    );
    env.kubectl.apply(&foreign).await.expect("apply");
    env.expect_condition(
        "oauth2credentials/foreign-cred",
        APP_NAMESPACE,
        "SecretGenerated",
        "False",
        "GenerationRefused",
    )
    .await;
    let untouched = env
        .kubectl
        .get_json("secrets/foreign", APP_NAMESPACE)
        .await
        .expect("get the foreign Secret");
    assert!(untouched["data"]["client_secret"].is_null(), "{untouched}");

    // Every request of the controller, the Secret writes included, is one the chart grants
    // with clientSecrets.generate.
    if let Some(local) = env.local.as_ref() {
        let tools = format!(
            "{}:{}",
            repo_root().join(".tools/bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let rendered = std::process::Command::new("helm")
            .args(["template", "tollgate"])
            .arg(repo_root().join("charts/tollgate"))
            .args([
                "-n",
                SYSTEM_NAMESPACE,
                "--set",
                "clientSecrets.generate=true",
            ])
            .env("PATH", &tools)
            .output()
            .expect("helm template runs");
        assert!(
            rendered.status.success(),
            "{}",
            String::from_utf8_lossy(&rendered.stderr)
        );
        let manifest = env.work.path().join("rendered-generate.yaml");
        std::fs::write(&manifest, &rendered.stdout).expect("write the rendered chart");
        let out = std::process::Command::new(python().expect("python"))
            .arg(repo_root().join("scripts/rbac_check.py"))
            .arg(&manifest)
            .arg(local.emulator.audit_log())
            .args([
                "--user-agent",
                CONTROLLER_USER_AGENT,
                "--release-namespace",
                SYSTEM_NAMESPACE,
            ])
            .output()
            .expect("rbac_check.py runs");
        assert!(
            out.status.success(),
            "requests the chart's RBAC does not allow:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    env.on_every_proxy(RELOAD, "a token with the generated secret", 200, |g| {
        env.token(g, "generated-client", &value)
    })
    .await;
}

/// A rotation in the cluster: the new Secret becomes current, the old one stays accepted on
/// every proxy until `validUntil`, and with `tokensSurviveRotation` a token issued before keeps
/// opening the route.
#[tokio::test]
async fn a_rotation_with_a_grace_keeps_both_secrets_and_earlier_tokens_on_every_proxy() {
    let env = Env::start("cluster-rotation").await;
    env.wait_programmed(&ALL_OBJECTS).await;
    env.kubectl
        .run(
            &[
                "patch",
                "oauth2credentials/demo",
                "-n",
                APP_NAMESPACE,
                "--type",
                "merge",
                "-p",
                r#"{"spec":{"tokensSurviveRotation":true}}"#,
            ],
            None,
        )
        .await
        .expect("opt in");
    // Opting in revokes the tokens before it: wait until a token issued now is the one kept.
    let before = env.demo_token(0).await;
    wait_until(PROGRAMMED, "the opt-in on every proxy", || async {
        for g in 0..env.gateways.len() {
            let r = env.call(g, &before).await;
            if r.status != 401 {
                return Err(format!("{}: {}", env.gateways[g].name, r.describe()));
            }
        }
        Ok(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", env.work.all_logs()));
    let issued_before = env.demo_token(0).await;

    let rotated = format!(
        r#"apiVersion: v1
kind: Secret
metadata:
  name: demo-client-secret-v2
  namespace: {APP_NAMESPACE}
  labels: {{tollgate.dev/secret: credential}}
stringData:
  client_secret: rotated-secret
"#
    );
    env.kubectl.apply(&rotated).await.expect("new Secret");
    let patch = r#"{"spec":{"clientSecretRef":{"name":"demo-client-secret-v2","key":"client_secret"},
        "previousClientSecrets":[{"secretRef":{"name":"demo-client-secret","key":"client_secret"},
        "validUntil":"2099-01-01T00:00:00Z"}]}}"#;
    env.kubectl
        .run(
            &[
                "patch",
                "oauth2credentials/demo",
                "-n",
                APP_NAMESPACE,
                "--type",
                "merge",
                "-p",
                patch,
            ],
            None,
        )
        .await
        .expect("rotate");
    for g in 0..env.gateways.len() {
        let what = format!("the new secret on {}", env.gateways[g].name);
        wait_for_status(PROGRAMMED, &what, 200, || async {
            env.token(g, "client", "rotated-secret").await
        })
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", env.work.all_logs()));
        let old = env.token(g, "client", "secret").await;
        assert_eq!(old.status, 200, "{}", old.describe());
        let kept = env.call(g, &issued_before).await;
        assert_eq!(kept.status, 200, "{}", kept.describe());
    }
}
