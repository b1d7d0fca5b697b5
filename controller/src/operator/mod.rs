//! The operator, `tollgate-controller run`: watches the cluster, translates every object into one
//! proxy snapshot, pushes it to every proxy replica, and reports status — see `reconcile` for the
//! pipeline, `stores` for what is cached (Secrets only with the `tollgate.dev/secret` label),
//! `pusher` for the config channel, `lease` for high availability.
//!
//! Only the replica holding the Lease pushes and writes status; the others keep their caches warm
//! and take over when the Lease expires (or at once, when the leader releases it on shutdown).
//! Nothing is translated or pushed before every cache has synced: an empty snapshot is an outage.

pub mod certificate_secrets;
pub mod client_secrets;
pub mod crd_check;
pub mod endpoints;
pub mod gateway_status;
pub mod generated_secrets;
pub mod health;
pub mod lease;
pub mod metrics;
#[cfg(test)]
mod mock_api;
pub mod plan;
pub mod programmed;
pub mod push_client;
pub mod pusher;
pub mod reconcile;
pub mod revocations;
pub mod status;
pub mod status_writer;
pub mod stores;
pub mod verifier_store;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tollgate_core::address::{AddressPolicy, Cidr};

use self::lease::{Elector, Leadership, LeaseConfig};
use self::metrics::ControllerMetrics;
use self::plan::NamespacedName;
use self::push_client::PushClient;
use self::pusher::{PushSettings, Pusher};
use self::reconcile::{ConfigTls, Pipeline, Settings};
use self::revocations::RevocationHub;
use self::status_writer::StatusWriter;
use self::stores::{Scope, WatchPlan};
use self::verifier_store::VerifierStore;
use crate::translate::{HashPool, hash_pool};

/// Flags of `tollgate-controller run` (docs/CONTRACTS.md).
#[derive(Clone, Debug, clap::Args)]
pub struct RunArgs {
    /// Watch only these namespaces (comma-separated); all namespaces when absent.
    #[arg(long, value_delimiter = ',', env = "TOLLGATE_NAMESPACES")]
    pub namespaces: Vec<String>,
    /// The proxies' headless config Service (`namespace/name`); its EndpointSlices list every
    /// proxy replica, ready or not.
    #[arg(long, env = "TOLLGATE_PROXY_SERVICE")]
    pub proxy_service: NamespacedName,
    /// The proxies' traffic Service (`namespace/name`) whose address Tollgate's Ingresses get in
    /// `status.loadBalancer.ingress`: its own `status.loadBalancer.ingress` when it has one, else
    /// its `spec.externalIPs`, else its cluster IP (Kong Ingress Controller's
    /// `--publish-service`); Tollgate's Gateways get the same in `status.addresses`. Unset:
    /// neither is written. The chart sets it to its proxy Service.
    #[arg(long, env = "TOLLGATE_PUBLISH_SERVICE")]
    pub publish_service: Option<NamespacedName>,
    /// Secret (`namespace/name`, labelled `tollgate.dev/secret: config-token`) whose key `token`
    /// authenticates config pushes.
    #[arg(long, env = "TOLLGATE_CONFIG_TOKEN_SECRET")]
    pub config_token_secret: NamespacedName,
    /// Secret (`namespace/name`, labelled `tollgate.dev/secret: signing-keys`) with the token
    /// signing keys.
    #[arg(long, env = "TOLLGATE_SIGNING_KEY_SECRET")]
    pub signing_key_secret: NamespacedName,
    /// Name prefix of the Secrets (`NAME-0` … `NAME-15`, in the config-token Secret's namespace)
    /// where client-secret verifiers are kept between runs, sealed to their client Secrets.
    #[arg(
        long,
        env = "TOLLGATE_VERIFIER_CACHE_SECRET",
        default_value = "tollgate-verifier-cache"
    )]
    pub verifier_cache_secret: String,
    /// Name of the Secret (in the config-token Secret's namespace) where the revocations made
    /// at the proxies (RFC 7009) are kept until the tokens they name expire.
    #[arg(
        long,
        env = "TOLLGATE_REVOCATIONS_SECRET",
        default_value = "tollgate-revocations"
    )]
    pub revocations_secret: String,
    /// The class of objects this controller serves: those annotated `tollgate.dev/class: NAME`,
    /// and those without the annotation when NAME is the default `tollgate`. Two installs in one
    /// cluster each take a class and never touch the other's objects.
    #[arg(long, env = "TOLLGATE_CLASS", default_value = DEFAULT_CLASS)]
    pub class: String,
    /// The field manager of every server-side apply (statuses, kept verifiers, created Secrets);
    /// one per install, so two installs never take each other's fields.
    #[arg(long, default_value = status::FIELD_MANAGER)]
    pub field_manager: String,
    /// While the installed CRDs lack fields this controller uses, or the Gateway API CRDs are
    /// not installed, check them again this often.
    #[arg(long, default_value_t = 30)]
    pub crd_recheck_secs: u64,
    /// Serve the Gateway API (GatewayClasses whose controllerName is
    /// `tollgate.dev/gateway-controller`, their Gateways, HTTPRoutes and ReferenceGrants) once its
    /// CRDs are installed; `false` never watches them (no RBAC on them needed).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, env = "TOLLGATE_GATEWAY_API")]
    pub gateway_api: bool,
    /// Create the config-token Secret (`--config-token-secret`) with a fresh random token when
    /// it does not exist; an existing one is never changed. The chart sets this, so rendering
    /// the chart again (`helm template`, GitOps) never regenerates the token.
    #[arg(long, default_value_t = false)]
    pub create_config_token_secret: bool,
    /// Create the signing-keys Secret (`--signing-key-secret`) with one fresh key when it does
    /// not exist; an existing one is never changed.
    #[arg(long, default_value_t = false)]
    pub create_signing_keys_secret: bool,
    /// Write a random client secret (32 bytes, base64url) into the Secret key an OAuth2Credential
    /// with `generateSecret: true` names when that key is absent, creating the Secret (labelled,
    /// owned by the credential, in its namespace) when it does not exist. Needs `create` and
    /// `patch` on Secrets where credentials live (the chart's `clientSecrets.generate`).
    #[arg(long, default_value_t = false)]
    pub generate_client_secrets: bool,
    /// Secret (`namespace/name`, labelled `tollgate.dev/secret: config-tls`) whose `ca.crt`, or
    /// else `tls.crt`, the proxies' config-channel certificate must chain to. Pushes then use
    /// HTTPS and nothing is pushed while the Secret is missing.
    #[arg(
        long,
        env = "TOLLGATE_CONFIG_TLS_SECRET",
        required_unless_present = "config_channel_plaintext"
    )]
    pub config_tls_secret: Option<NamespacedName>,
    /// The name the proxies' config-channel certificate must be valid for (pods are reached by
    /// address); default `<proxy service>.<namespace>.svc`.
    #[arg(long)]
    pub config_tls_server_name: Option<String>,
    /// Create the config-channel certificate Secret (`--config-tls-secret`), a self-signed
    /// certificate for the server name, when it does not exist; an existing one is never changed.
    #[arg(long, default_value_t = false)]
    pub create_config_tls_secret: bool,
    /// Push over plain HTTP (whoever reads pod traffic then reads the signing keys and the
    /// token): for local experiments only.
    #[arg(long, default_value_t = false, conflicts_with = "config_tls_secret")]
    pub config_channel_plaintext: bool,
    /// Threads hashing client secrets (argon2id, 19 MiB each while busy); one fewer than the
    /// cores when absent.
    #[arg(long, env = "TOLLGATE_HASH_THREADS")]
    pub hash_threads: Option<usize>,
    /// Health, readiness and metrics.
    #[arg(long, default_value = "[::]:8100")]
    pub admin_addr: SocketAddr,
    /// Name of the leader-election Lease.
    #[arg(long, default_value = "tollgate-controller")]
    pub lease_name: String,
    /// Namespace of the Lease; defaults to the proxy Service's namespace.
    #[arg(long, env = "POD_NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// A follower takes over after the Lease went this long without renewal.
    #[arg(long, default_value_t = 15)]
    pub lease_duration_secs: u64,
    /// Interval of Lease renewals and follower checks.
    #[arg(long, default_value_t = 2)]
    pub lease_retry_secs: u64,
    /// How long changes settle before a reconcile pass.
    #[arg(long, default_value_t = 200)]
    pub debounce_ms: u64,
    /// Status writes per second at most, on average (0: unbounded); the rest wait for a later
    /// pass, so thousands of changed objects cannot flood the API server.
    #[arg(long, default_value_t = 20.0)]
    pub status_writes_per_second: f64,
    /// Status writes at once, before the per-second rate applies.
    #[arg(long, default_value_t = 100.0)]
    pub status_write_burst: f64,
    /// How often each proxy is asked for its hash (a restarted replica gets its config back).
    #[arg(long, default_value_t = 3)]
    pub push_recheck_secs: u64,
    /// How often the keys of the openid-connect plugins' external issuers are fetched again
    /// (earlier when a proxy meets a token signed by a key it lacks).
    #[arg(long, default_value_t = 300)]
    pub jwks_refresh_secs: u64,
    /// Timeout of one config-channel request.
    #[arg(long, default_value_t = 10)]
    pub push_timeout_secs: u64,
    /// The proxies' `--backend-allow-cidr` (give both binaries the same lists; the Helm chart
    /// does): a GatewayRoute whose backend URL is a literal address the proxies would refuse is
    /// not accepted (`BackendAddressRefused`), and refused Service endpoints are left out.
    #[arg(long = "backend-allow-cidr", value_name = "CIDR", value_delimiter = ',',
          value_parser = clap::value_parser!(Cidr))]
    pub backend_allow_cidrs: Vec<Cidr>,
    /// The proxies' `--backend-deny-cidr`.
    #[arg(long = "backend-deny-cidr", value_name = "CIDR", value_delimiter = ',',
          value_parser = clap::value_parser!(Cidr))]
    pub backend_deny_cidrs: Vec<Cidr>,
}

/// The class of objects without a `tollgate.dev/class` annotation.
pub const DEFAULT_CLASS: &str = "tollgate";
/// The annotation naming the controller class that serves an object.
pub const CLASS_ANNOTATION: &str = "tollgate.dev/class";

/// The `User-Agent` of every API request (audit logs and RBAC checks filter on it).
pub const USER_AGENT: &str = concat!("tollgate-controller/", env!("CARGO_PKG_VERSION"));

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no Kubernetes client configuration (in-cluster or KUBECONFIG): {0}")]
    Config(#[from] kube::config::InferConfigError),
    #[error("building the Kubernetes client: {0}")]
    Client(#[from] kube::Error),
    #[error(transparent)]
    Health(#[from] health::Error),
    #[error("starting the hashing threads: {0}")]
    HashThreads(#[source] std::io::Error),
    #[error("a cache stopped before it synced")]
    CacheSync,
    #[error("installing the signal handler: {0}")]
    Signal(#[source] std::io::Error),
}

/// `--config-tls-server-name`, else `<proxy service>.<namespace>.svc`.
fn config_tls_server_name(args: &RunArgs) -> String {
    args.config_tls_server_name.clone().unwrap_or_else(|| {
        format!(
            "{}.{}.svc",
            args.proxy_service.name, args.proxy_service.namespace
        )
    })
}

/// Checks the installed CRDs (see [`crd_check`]) until they carry every field, then marks the
/// controller ready. Only fields known to be missing hold readiness back: a check that cannot
/// run (the schema document unreadable) is logged and passes.
async fn crds_up_to_date(client: kube::Client, metrics: Arc<ControllerMetrics>, recheck: Duration) {
    metrics.watch_started(crd_check::CHECK_NAME);
    loop {
        match crd_check::check(&client).await {
            Ok(missing) if missing.is_empty() => break,
            Ok(missing) => {
                let line = crd_check::describe(&missing);
                tracing::error!(problem = %line, "not ready");
                metrics.watch_failed(crd_check::CHECK_NAME, line);
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot compare the installed CRDs with this controller's; going on");
                break;
            }
        }
        tokio::time::sleep(recheck).await;
    }
    metrics.watch_synced(crd_check::CHECK_NAME);
    metrics.set_ready(true);
}

/// The Gateway API resources the API server does not serve (empty: all are), asking until it
/// answers; `None` when stopped first. The caches cannot sync without the API server either, so
/// waiting here delays nothing, and a first snapshot never leaves HTTPRoutes out for a failed
/// discovery request.
async fn gateway_api_missing(
    client: &kube::Client,
    stop: impl std::future::Future<Output = ()>,
) -> Option<Vec<&'static str>> {
    tokio::pin!(stop);
    let mut delay = Duration::from_millis(250);
    loop {
        match stores::gateway_api_served(client).await {
            Ok(missing) => return Some(missing),
            Err(e) => {
                tracing::warn!(error = %e, "cannot tell whether the Gateway API CRDs are installed; asking again");
            }
        }
        tokio::select! {
            () = &mut stop => return None,
            () = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

/// Looks for the Gateway API CRDs every `recheck`; once they are all served, starts their
/// watches (the pipeline reads them once they have listed) and wakes the loop.
async fn watch_for_gateway_api(
    client: kube::Client,
    plan: WatchPlan,
    changed: Arc<Notify>,
    metrics: Arc<ControllerMetrics>,
    cell: Arc<std::sync::OnceLock<stores::GatewayStores>>,
    recheck: Duration,
) {
    loop {
        tokio::time::sleep(recheck).await;
        match stores::gateway_api_served(&client).await {
            Ok(missing) if missing.is_empty() => break,
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "looking for the Gateway API CRDs"),
        }
    }
    tracing::info!(
        "the Gateway API CRDs are installed: watching GatewayClasses, Gateways, HTTPRoutes and ReferenceGrants"
    );
    let (gateway, tasks) = stores::start_gateway_api(&client, &plan, &changed, &metrics);
    let _ = cell.set(gateway);
    changed.notify_one();
    // The watches run as long as this task: aborting it at shutdown stops them.
    let _watches = AbortOnDrop(tasks);
    std::future::pending::<()>().await;
}

/// Aborts its tasks when dropped.
struct AbortOnDrop(Vec<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// Runs the operator until SIGTERM or Ctrl-C.
pub async fn run(args: RunArgs) -> Result<(), Error> {
    let client = client().await?;
    let metrics = Arc::new(ControllerMetrics::new());
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = move |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let health = health::bind(
        args.admin_addr,
        Arc::clone(&metrics),
        stopped(stop_rx.clone()),
    )
    .await?;
    let health = tokio::spawn(health);
    let config_tls = args
        .config_tls_secret
        .clone()
        .map(|secret| (secret, config_tls_server_name(&args)));
    ensure_generated_secrets(&client, &args, config_tls.as_ref()).await;
    let signals = tokio::spawn(shutdown_signal(stop_tx));

    let plan = watch_plan(&args);
    let changed = Arc::new(Notify::new());
    let (stores, mut watch_tasks) = stores::start(&client, &plan, &changed, &metrics);
    let recheck = Duration::from_secs(args.crd_recheck_secs.max(1));
    if args.gateway_api {
        let Some(missing) = gateway_api_missing(&client, stopped(stop_rx.clone())).await else {
            return Ok(());
        };
        if missing.is_empty() {
            let (gateway, tasks) = stores::start_gateway_api(&client, &plan, &changed, &metrics);
            let _ = stores.gateway.set(gateway);
            watch_tasks.extend(tasks);
        } else {
            tracing::warn!(
                missing = %missing.join(", "),
                recheck_secs = recheck.as_secs(),
                "the Gateway API CRDs are not installed: Gateways and HTTPRoutes are served once they are (install them from the Gateway API release, standard-install.yaml)"
            );
            watch_tasks.push(tokio::spawn(watch_for_gateway_api(
                client.clone(),
                plan.clone(),
                Arc::clone(&changed),
                Arc::clone(&metrics),
                Arc::clone(&stores.gateway),
                recheck,
            )));
        }
    }
    tracing::info!(scope = ?plan.scope, proxy_service = %args.proxy_service, "waiting for every cache to sync");
    tokio::select! {
        synced = stores.wait_until_ready() => synced.map_err(|_| Error::CacheSync)?,
        () = stopped(stop_rx.clone()) => return Ok(()),
    }
    tracing::info!("caches synced");
    // Ready once the installed CRDs also carry every field this controller uses; an older CRD
    // (Helm never upgrades crds/) keeps it unready, saying what to run, until it is upgraded.
    let crd_check = tokio::spawn(crds_up_to_date(
        client.clone(),
        Arc::clone(&metrics),
        recheck,
    ));

    let identity = lease::default_identity();
    let lease_config = LeaseConfig {
        name: args.lease_name.clone(),
        namespace: args
            .lease_namespace
            .clone()
            .unwrap_or_else(|| args.proxy_service.namespace.clone()),
        identity: identity.clone(),
        duration: Duration::from_secs(args.lease_duration_secs.max(1)),
    };
    let (leader_tx, leader_rx) = watch::channel(false);
    let leadership = Arc::new(Leadership::default());
    let rounds = Election {
        every: Duration::from_secs(args.lease_retry_secs.max(1)),
        deadline: lease::renew_deadline(lease_config.duration),
        leader: leader_tx,
        leadership: Arc::clone(&leadership),
        metrics: Arc::clone(&metrics),
    };
    let elector = Elector::new(client.clone(), lease_config);
    let election = tokio::spawn(elect(elector, rounds, stopped(stop_rx.clone())));

    let push_settings = PushSettings {
        recheck: Duration::from_secs(args.push_recheck_secs.max(1)),
        ..PushSettings::default()
    };
    let push_timeout = Duration::from_secs(args.push_timeout_secs.max(1));
    let push_client = if config_tls.is_some() {
        PushClient::tls(push_timeout)
    } else {
        PushClient::new(push_timeout)
    };
    let pusher = Pusher::new(
        push_client.clone(),
        push_settings,
        Arc::clone(&changed),
        Arc::clone(&metrics),
    )
    .with_leadership(leadership);
    let revocations = RevocationHub::new(Some(revocations::SecretAt {
        api: kube::Api::namespaced(client.clone(), &args.config_token_secret.namespace),
        at: NamespacedName {
            namespace: args.config_token_secret.namespace.clone(),
            name: args.revocations_secret.clone(),
        },
        field_manager: args.field_manager.clone(),
    }));
    let keep_revocations = tokio::spawn(Arc::clone(&revocations).keep(stopped(stop_rx.clone())));
    let pusher = pusher.with_revocations(revocations);
    let settings = settings(&args, config_tls, push_client);
    let hash_pool = {
        let changed = Arc::clone(&changed);
        HashPool::new(
            args.hash_threads.unwrap_or_else(hash_pool::default_threads),
            move || changed.notify_one(),
        )
        .map_err(Error::HashThreads)?
    };
    let verifier_store = VerifierStore::new(
        client.clone(),
        NamespacedName {
            namespace: args.config_token_secret.namespace.clone(),
            name: args.verifier_cache_secret.clone(),
        },
        args.field_manager.clone(),
    );
    let pipeline = Pipeline::new(
        settings,
        stores,
        pusher,
        StatusWriter::new(client, identity)
            .with_rate(args.status_writes_per_second, args.status_write_burst)
            .with_field_manager(args.field_manager.clone()),
        Arc::clone(&metrics),
    )
    .with_hashing(Arc::new(hash_pool), Some(verifier_store));
    // The external issuers' keys, fetched beside the loop (followers too: a take-over then
    // finds them ready).
    let jwks_cache = crate::jwks::JwksCache::new();
    let jwks_wake = Arc::new(Notify::new());
    let jwks_task = tokio::spawn(crate::jwks::run(
        Arc::clone(&jwks_cache),
        crate::jwks::FetchSettings {
            refresh: Duration::from_secs(args.jwks_refresh_secs.max(10)),
            ..crate::jwks::FetchSettings::default()
        },
        Arc::clone(&jwks_wake),
        Arc::clone(&changed),
        stopped(stop_rx.clone()),
    ));
    let pipeline = pipeline.with_jwks(jwks_cache, jwks_wake);
    pipeline.run(changed, leader_rx, stopped(stop_rx)).await;
    jwks_task.abort();
    keep_revocations.abort();

    // The pipeline stopped pushing; now give the Lease up so a follower takes over at once.
    if let Ok(mut elector) = election.await
        && let Err(e) = elector.release().await
    {
        tracing::warn!(error = %e, "releasing the Lease failed; a follower takes over when it expires");
    }
    crd_check.abort();
    for task in watch_tasks {
        task.abort();
    }
    let _ = health.await;
    signals.abort();
    tracing::info!("stopped");
    Ok(())
}

/// A client from the in-cluster configuration or KUBECONFIG, identifying itself as [`USER_AGENT`].
async fn client() -> Result<kube::Client, Error> {
    let mut config = kube::Config::infer().await?;
    config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_static(USER_AGENT),
    ));
    Ok(kube::Client::try_from(config)?)
}

/// Election rounds every `every` until `stop`; returns the elector so the caller can release.
/// What the election loop drives.
struct Election {
    /// Between two rounds.
    every: Duration,
    /// The longest one round may take, and how long a renewal keeps this replica leading.
    deadline: Duration,
    leader: watch::Sender<bool>,
    leadership: Arc<Leadership>,
    metrics: Arc<ControllerMetrics>,
}

/// Election rounds until `stop`. Each round is bounded by the renew deadline: a Lease request
/// that hangs steps this replica down instead of leaving it "leader" on a stale renewal. The
/// pushes follow [`Leadership`], which lapses on its own at the deadline, so a replica that
/// could not run this loop (paused, starved) stops pushing too. Every completed round is
/// recorded for liveness (`/healthz`).
async fn elect(
    mut elector: Elector,
    rounds: Election,
    stop: impl std::future::Future<Output = ()>,
) -> Elector {
    tokio::pin!(stop);
    let mut ticker = tokio::time::interval(rounds.every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = &mut stop => break,
            _ = ticker.tick() => {}
        }
        let was = elector.is_leader();
        let started = tokio::time::Instant::now();
        let is = match tokio::time::timeout(rounds.deadline, elector.tick(started)).await {
            Ok(Ok(is)) => is,
            Ok(Err(e)) => {
                tracing::warn!(identity = %elector.identity(), error = %e, "leader election round failed");
                false
            }
            Err(_) => {
                tracing::warn!(identity = %elector.identity(), deadline_ms = u64::try_from(rounds.deadline.as_millis()).unwrap_or(u64::MAX), "leader election round timed out");
                elector.step_down();
                false
            }
        };
        if is {
            rounds
                .leadership
                .grant(started + rounds.deadline, elector.epoch());
        } else {
            rounds.leadership.revoke();
        }
        rounds.metrics.election_round();
        if was && !is {
            tracing::warn!(identity = %elector.identity(), "lost the leader Lease; stopping pushes and status writes");
        }
        rounds.leader.send_if_modified(|current| {
            let changed = *current != is;
            *current = is;
            changed
        });
    }
    rounds.leadership.revoke();
    rounds.leader.send_replace(false);
    elector
}

async fn shutdown_signal(stop: watch::Sender<bool>) -> Result<(), Error> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(Error::Signal)?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("shutting down");
    stop.send_replace(true);
    Ok(())
}

/// Creates the Secrets the controller generates (config token, signing keys, config channel
/// TLS) when they are missing and wanted; never changes an existing one.
async fn ensure_generated_secrets(
    client: &kube::Client,
    args: &RunArgs,
    config_tls: Option<&(NamespacedName, String)>,
) {
    let mut generated = vec![
        (
            args.create_config_token_secret,
            &args.config_token_secret,
            generated_secrets::Generated::ConfigToken,
        ),
        (
            args.create_signing_keys_secret,
            &args.signing_key_secret,
            generated_secrets::Generated::SigningKeys,
        ),
    ];
    if let Some((secret, server_name)) = config_tls {
        generated.push((
            args.create_config_tls_secret,
            secret,
            generated_secrets::Generated::ConfigTls {
                server_name: server_name.clone(),
            },
        ));
    }
    for (wanted, secret, what) in generated {
        if wanted
            && let Err(e) =
                generated_secrets::ensure(client, secret, &what, &args.field_manager).await
        {
            // Not fatal: the controller then reports the missing Secret as before (no push).
            tracing::error!(error = %e, "cannot create a missing Secret");
        }
    }
}

/// What the controller watches: its namespaces, plus the generated Secrets' namespaces and the
/// proxy Service's.
fn watch_plan(args: &RunArgs) -> WatchPlan {
    let scope = if args.namespaces.is_empty() {
        Scope::All
    } else {
        Scope::Namespaces(args.namespaces.iter().cloned().collect())
    };
    let mut extra_secret_namespaces = BTreeSet::from([
        args.config_token_secret.namespace.clone(),
        args.signing_key_secret.namespace.clone(),
    ]);
    if let Some(secret) = &args.config_tls_secret {
        extra_secret_namespaces.insert(secret.namespace.clone());
    } else {
        tracing::warn!(
            "the config channel is plain HTTP (--config-channel-plaintext): whoever reads pod traffic reads the signing keys"
        );
    }
    WatchPlan {
        scope,
        extra_secret_namespaces,
        proxy_namespace: args.proxy_service.namespace.clone(),
        proxy_service: args.proxy_service.name.clone(),
        publish_service: args.publish_service.clone(),
    }
}

/// The pipeline's settings from the command line.
fn settings(
    args: &RunArgs,
    config_tls: Option<(NamespacedName, String)>,
    push_client: PushClient,
) -> Settings {
    Settings {
        proxy_service: args.proxy_service.clone(),
        config_token_secret: args.config_token_secret.clone(),
        signing_key_secret: args.signing_key_secret.clone(),
        debounce: Duration::from_millis(args.debounce_ms),
        class: args.class.clone(),
        config_tls: config_tls.map(|(secret, server_name)| ConfigTls {
            secret,
            server_name,
            client: push_client,
        }),
        backend_policy: AddressPolicy::cluster()
            .allow(args.backend_allow_cidrs.iter().copied())
            .deny(args.backend_deny_cidrs.iter().copied()),
        generate_client_secrets: args.generate_client_secrets,
        publish_service: args.publish_service.clone(),
    }
}
