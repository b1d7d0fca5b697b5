//! The one reconcile pipeline: any store change → short debounce → gather → translate (pure, on a
//! blocking thread) → snapshot → push → status.
//!
//! Why one global loop rather than a kube-runtime `Controller` per kind: the product is a single
//! snapshot that depends on every object at once (a Secret change alters a credential, a consumer
//! deletion drops its credentials, two credentials conflict on a client id), and every proxy must
//! receive the whole of it. Per-object reconcilers would each rebuild the same global snapshot
//! and race to push it; one loop (as the Kong Ingress Controller's synchronizer does) translates
//! once per batch of changes, pushes once, and then derives every object's status from the same
//! translation. Bursts (a `kubectl apply -f dir/`) coalesce in the debounce window.

use std::sync::Arc;
use std::time::Duration;

use kube::{Resource, ResourceExt};
use tokio::sync::{Notify, watch};
use tollgate_core::address::AddressPolicy;

use super::client_secrets;
use super::metrics::{ControllerMetrics, ReconcileOutcome};
use super::plan::{self, Inputs, NamespacedName, Plan};
use super::programmed::{History, ObjectKey};
use super::push_client::{ChannelTrust, PushClient};
use super::pusher::Pusher;
use super::status::{ObjectProblem, Programming, rfc3339_now};
use super::status_writer::{Owned, StatusWriter};
use super::stores::Stores;
use super::verifier_store::VerifierStore;
use crate::jwks::{self, JwksCache};
use crate::translate::report::ProblemLog;
use crate::translate::{HashPool, Objects, SecretHasher};

/// Snapshots remembered for `Programmed` decisions.
const HISTORY: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Plan(#[from] plan::Error),
    #[error("the translation task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error("{0} status writes failed")]
    Status(usize),
}

/// What the loop is pointed at.
#[derive(Clone, Debug)]
pub struct Settings {
    pub proxy_service: NamespacedName,
    pub config_token_secret: NamespacedName,
    pub signing_key_secret: NamespacedName,
    pub debounce: Duration,
    /// The controller class served (see `--class`).
    pub class: String,
    /// The proxies' backend address policy (`--backend-allow-cidr`, `--backend-deny-cidr`):
    /// a route whose backend URL is a literal address it refuses is not accepted.
    pub backend_policy: AddressPolicy,
    /// Where the config channel's certificate comes from; `None`: plain HTTP.
    pub config_tls: Option<ConfigTls>,
    /// Write generated client secrets (`--generate-client-secrets`).
    pub generate_client_secrets: bool,
    /// The Service whose addresses Ingresses and Gateways get (`--publish-service`); `None`:
    /// Ingress `status.loadBalancer` and Gateway `status.addresses` are not written.
    pub publish_service: Option<NamespacedName>,
}

/// The config channel's certificate: its Secret, the name it is checked for, and the client
/// that trusts it.
#[derive(Clone)]
pub struct ConfigTls {
    pub secret: NamespacedName,
    pub server_name: String,
    pub client: PushClient,
}

impl std::fmt::Debug for ConfigTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigTls")
            .field("secret", &self.secret)
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl ConfigTls {
    /// Trusts the Secret's `ca.crt` (or `tls.crt`) as it is now; logs when that changes.
    fn follow(&self, secrets: &[Arc<k8s_openapi::api::core::v1::Secret>]) {
        let trust = plan::config_tls_roots(secrets, &self.secret)
            .and_then(|pem| ChannelTrust::new(&pem, &self.server_name));
        let missing = trust.is_none();
        if self.client.set_trust(trust) {
            if missing {
                tracing::error!(secret = %self.secret, "the config channel certificate Secret is missing, unlabelled (tollgate.dev/secret) or holds no certificate; not pushing");
            } else {
                tracing::info!(secret = %self.secret, server_name = %self.server_name, "trusting the config channel certificate");
            }
        }
    }
}

/// The operator's reconcile pipeline: one loop for the whole cluster (standalone mode's
/// counterpart is `standalone::reconcile::DirReconciler`).
pub struct Pipeline {
    settings: Settings,
    stores: Stores,
    pusher: Pusher,
    writer: StatusWriter,
    history: History,
    hasher: Option<SecretHasher>,
    /// Background hashing (none in tests: they hash inline).
    pool: Option<Arc<HashPool>>,
    verifier_store: Option<VerifierStore>,
    /// Whether a snapshot was published since start (the first waits for pending hashes).
    published: bool,
    /// Whether a pass has translated since start (and so submitted every secret to hash).
    translated: bool,
    waiting_logged: bool,
    metrics: Arc<ControllerMetrics>,
    /// Problems and signing-key errors already logged (the same log lines as standalone mode).
    problem_log: ProblemLog,
    last_hash: Option<String>,
    was_leader: bool,
    token_missing_logged: bool,
    /// Set when status writes were put off for the write rate: when to pass again.
    status_retry: Option<Duration>,
    /// Whether the missing publish Service was logged (once while it stays missing).
    publish_missing_logged: bool,
    /// The external issuers' keys, and what wakes their fetch task.
    jwks: Arc<JwksCache>,
    jwks_wake: Arc<Notify>,
    /// Credentials whose generated secret was refused, by uid: the state (credential and
    /// Secret versions) it was refused in, so it is tried again only after a change.
    /// The refusal's message is the credential's `SecretGenerated: False` condition.
    secret_refusals: std::collections::HashMap<String, (String, String)>,
    /// GatewayClasses naming our controller that another install (`--class`) serves: their
    /// Gateways' HTTPRoute status entries are that install's.
    other_classes: std::collections::BTreeSet<String>,
    /// Certificate Secrets without the label, read one by one (listeners and Ingresses name
    /// them).
    certificate_secrets: super::certificate_secrets::CertificateSecrets,
    /// When a failed certificate Secret read is due again: another pass then.
    certificate_retry: Option<Duration>,
}

impl Pipeline {
    pub fn new(
        settings: Settings,
        stores: Stores,
        pusher: Pusher,
        writer: StatusWriter,
        metrics: Arc<ControllerMetrics>,
    ) -> Self {
        Self {
            settings,
            stores,
            pusher,
            writer,
            history: History::new(HISTORY),
            hasher: Some(SecretHasher::new()),
            pool: None,
            verifier_store: None,
            published: false,
            translated: false,
            waiting_logged: false,
            metrics,
            problem_log: ProblemLog::default(),
            last_hash: None,
            was_leader: false,
            token_missing_logged: false,
            status_retry: None,
            publish_missing_logged: false,
            jwks: JwksCache::new(),
            jwks_wake: Arc::new(Notify::new()),
            secret_refusals: std::collections::HashMap::new(),
            other_classes: std::collections::BTreeSet::new(),
            certificate_secrets: super::certificate_secrets::CertificateSecrets::default(),
            certificate_retry: None,
        }
    }

    /// Reads the external issuers' keys from `cache`, waking `wake` when a new issuer is named
    /// or a proxy met an unknown key.
    #[must_use]
    pub fn with_jwks(mut self, cache: Arc<JwksCache>, wake: Arc<Notify>) -> Self {
        self.jwks = cache;
        self.jwks_wake = wake;
        self
    }

    /// Hashes client secrets on `pool` (credentials whose secret is being hashed are left out
    /// until their verifier is ready; the first push waits for all of them) and keeps the
    /// verifiers in `store` between runs.
    #[must_use]
    pub fn with_hashing(mut self, pool: Arc<HashPool>, store: Option<VerifierStore>) -> Self {
        self.hasher = Some(SecretHasher::with_pool(Arc::clone(&pool)));
        self.pool = Some(pool);
        self.verifier_store = store;
        self
    }

    /// Runs passes until `stop` resolves: one per batch of changes (store events, pusher
    /// acknowledgements, leadership changes), and retries failed passes with backoff.
    pub async fn run(
        mut self,
        changed: Arc<Notify>,
        mut leader: watch::Receiver<bool>,
        stop: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(stop);
        let mut failures: u32 = 0;
        let mut retry: Option<Duration> = Some(Duration::ZERO);
        loop {
            let retry_sleep = async {
                match retry {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = &mut stop => break,
                () = changed.notified() => {}
                // The election task ends only on shutdown.
                changed = leader.changed() => if changed.is_err() { break },
                () = retry_sleep => {}
            }
            // Debounce: let a burst of events settle, bounded so a constant trickle cannot starve.
            let deadline = tokio::time::Instant::now() + self.settings.debounce * 5;
            loop {
                tokio::select! {
                    () = changed.notified() => if tokio::time::Instant::now() >= deadline { break },
                    () = tokio::time::sleep(self.settings.debounce) => break,
                }
            }
            let is_leader = *leader.borrow_and_update();
            self.metrics.events_taken();
            let started = std::time::Instant::now();
            let span = tracing::info_span!("reconcile", leader = is_leader);
            // Shutdown does not wait for a long pass (thousands of status writes): every write
            // is idempotent, and the next leader starts over.
            let result = tokio::select! {
                result = tracing::Instrument::instrument(self.pass(is_leader), span) => result,
                () = &mut stop => break,
            };
            self.metrics.reconcile_took(started.elapsed());
            self.metrics.reconciled(if result.is_ok() {
                ReconcileOutcome::Ok
            } else {
                ReconcileOutcome::Error
            });
            retry = match result {
                Ok(()) => {
                    failures = 0;
                    match (self.status_retry.take(), self.certificate_retry.take()) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    }
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let delay = Duration::from_millis(500u64.saturating_mul(1 << failures.min(6)))
                        .min(Duration::from_secs(30));
                    tracing::error!(error = %e, retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX), "reconcile failed");
                    Some(delay)
                }
            };
        }
        self.pusher.stop();
    }

    fn inputs(&mut self) -> Inputs {
        let class = self.settings.class.as_str();
        let plugins = of_class(self.stores.plugins.state(), class);
        let mut wake = self.jwks.want(&jwks::wanted_issuers(&plugins));
        let asked = self.pusher.take_jwks_wanted();
        for issuer in jwks::issuers_of(&asked, &plugins) {
            self.jwks
                .refresh_soon(&issuer, &jwks::FetchSettings::default());
            wake = true;
        }
        if wake {
            self.jwks_wake.notify_one();
        }
        let mut gateway = self.stores.gateway_objects();
        // GatewayClasses follow `--class` (their annotation) like every Tollgate kind; Gateways
        // and HTTPRoutes follow their class.
        let (mine, others): (Vec<_>, Vec<_>) = gateway
            .classes
            .into_iter()
            .partition(|c| in_class(&c.metadata, class));
        gateway.classes = mine;
        self.other_classes = others
            .iter()
            .filter(|c| c.spec.controller_name == crate::resources::gateway_api::CONTROLLER_NAME)
            .map(|c| c.name_any())
            .collect();
        Inputs {
            objects: Objects {
                consumers: of_class(self.stores.consumers.state(), class),
                credentials: of_class(self.stores.credentials.state(), class),
                plugins,
                routes: of_class(self.stores.routes.state(), class),
                secrets: self.stores.secrets.state(),
                secret_access: unlabelled_secrets(&self.stores.secret_names.state()),
                // Read by `read_certificate_secrets`.
                certificate_reads: crate::translate::secrets::CertificateReads::default(),
                namespaces: self.stores.namespaces.state(),
                issuers: self.jwks.snapshot(),
                proxy_replicas: super::endpoints::proxy_targets(&self.stores.proxy_slices.state())
                    .len(),
                gateway,
                // The IngressClass says which install serves an Ingress: its `tollgate.dev/class`
                // annotation (none: the default install's).
                ingress: crate::translate::ingress::IngressObjects {
                    classes: of_class(self.stores.ingress_classes.state(), class),
                    ingresses: self.stores.ingresses.state(),
                    services: self.stores.services.state(),
                },
            },
            services: self.stores.services.state(),
            slices: self.stores.slices.state(),
            proxy_slices: self.stores.proxy_slices.state(),
        }
    }

    /// One pass. Followers translate too (cheap, keeps the hasher memo warm for a take-over) but
    /// neither push nor write status.
    async fn pass(&mut self, leader: bool) -> Result<(), Error> {
        if leader != self.was_leader {
            self.was_leader = leader;
            self.metrics.set_leader(leader);
            if !leader {
                self.pusher.stop();
                self.writer.forget();
            }
        }
        if !self.published
            && self.translated
            && self.pool.as_ref().is_some_and(|pool| pool.in_flight() > 0)
        {
            // Before the first push, translating again while secrets are still being hashed
            // only burns CPU (every object, every wake-up): the pool wakes the loop when done.
            return Ok(());
        }
        self.translated = true;
        let mut inputs = self.inputs();
        self.read_certificate_secrets(&mut inputs).await;
        let mut hasher = match (self.hasher.take(), &self.pool) {
            (Some(hasher), _) => hasher,
            (None, Some(pool)) => SecretHasher::with_pool(Arc::clone(pool)),
            (None, None) => SecretHasher::new(),
        };
        if let Some(store) = &mut self.verifier_store {
            store.load(&inputs.objects.secrets, &mut hasher);
        }
        let token_secret = self.settings.config_token_secret.clone();
        let keys_secret = self.settings.signing_key_secret.clone();
        let policy = self.settings.backend_policy.clone();
        let (built, hasher, inputs) = tokio::task::spawn_blocking(move || {
            let built = plan::build(&inputs, &token_secret, &keys_secret, &policy, &mut hasher);
            (built, hasher, inputs)
        })
        .await?;
        let pending = hasher.pending();
        self.metrics.set_secrets_hashing(pending);
        self.hasher = Some(hasher);
        let plan = match built {
            Ok(plan) => {
                self.problem_log.keys_usable();
                plan
            }
            Err(plan::Error::SigningKeys(e)) => {
                self.problem_log.keys_unusable(&e);
                return Err(plan::Error::SigningKeys(e).into());
            }
        };
        self.observe(&plan);
        if !leader {
            return Ok(());
        }
        if self.settings.generate_client_secrets {
            self.generate_client_secrets(&inputs.objects).await;
        }
        if pending > 0 && !self.published {
            // Pushing now would refuse clients that are configured: wait for their verifiers
            // (each completion wakes the loop).
            if !self.waiting_logged {
                tracing::info!(
                    secrets = pending,
                    "hashing client secrets before the first push"
                );
                self.waiting_logged = true;
            }
            return Ok(());
        }
        if let Some(tls) = &self.settings.config_tls {
            tls.follow(&inputs.objects.secrets);
        }
        if plan.config_token.is_none() && !self.token_missing_logged {
            tracing::error!(secret = %self.settings.config_token_secret, "config-token Secret or its `token` key is missing (it must carry the label tollgate.dev/secret); not pushing");
        }
        self.token_missing_logged = plan.config_token.is_none();
        self.pusher.set_targets(&plan.targets);
        self.pusher
            .publish(Arc::clone(&plan.desired), plan.config_token.clone());
        if !self.published {
            if let Some(hasher) = &self.hasher {
                tracing::info!(
                    verifiers_kept = hasher.from_cache(),
                    verifiers_hashed = hasher.computed(),
                    "first snapshot published"
                );
            }
            self.published = true;
        }
        self.keep_verifiers(pending).await;
        self.write_statuses(&inputs.objects, &plan).await
    }

    /// Reads the certificate Secrets listeners and Ingresses name that exist without the label
    /// (one `get` each, again only on a new resourceVersion or a due retry) into `inputs`.
    async fn read_certificate_secrets(&mut self, inputs: &mut Inputs) {
        let objects = &inputs.objects;
        let named = crate::translate::certificates::named_certificate_secrets(
            &objects.gateway,
            &objects.ingress,
        );
        let metadata = self.stores.secret_names.state();
        let client = self.writer.client().clone();
        let (reads, retry) = self
            .certificate_secrets
            .refresh(&named, &metadata, &client, tokio::time::Instant::now())
            .await;
        self.certificate_retry = retry;
        inputs.objects.certificate_reads = reads;
    }

    /// Writes the generated client secrets credentials ask for (leader only). The Secret watch
    /// brings each written one back, and the next pass serves it. A refused write is logged
    /// once, and tried again when the credential or its Secret changes.
    async fn generate_client_secrets(&mut self, objects: &Objects) {
        let mut live = std::collections::HashSet::new();
        for credential in &objects.credentials {
            if !credential.spec.generate_secret || credential.meta().deletion_timestamp.is_some() {
                continue;
            }
            let Some(uid) = credential.meta().uid.clone() else {
                continue;
            };
            let secret_version = credential
                .spec
                .client_secret_ref
                .as_ref()
                .and_then(|r| {
                    objects.secrets.iter().find(|s| {
                        s.metadata.namespace == credential.metadata.namespace
                            && s.metadata.name.as_deref() == Some(r.name.as_str())
                    })
                })
                .and_then(|s| s.metadata.resource_version.clone());
            let state = format!(
                "{}/{}",
                credential.meta().resource_version.as_deref().unwrap_or(""),
                secret_version.as_deref().unwrap_or("")
            );
            live.insert(uid.clone());
            if self
                .secret_refusals
                .get(&uid)
                .is_some_and(|(refused_in, _)| *refused_in == state)
            {
                continue;
            }
            let outcome = client_secrets::generate(
                self.writer.client(),
                credential,
                &objects.secrets,
                self.writer.field_manager(),
            )
            .await;
            if let client_secrets::Outcome::Refused(message) = outcome {
                tracing::warn!(credential = %format!("{}/{}", credential.namespace().unwrap_or_default(), credential.name_any()), %message, "cannot generate the client secret");
                self.secret_refusals.insert(uid, (state, message));
            } else {
                self.secret_refusals.remove(&uid);
            }
        }
        self.secret_refusals.retain(|uid, _| live.contains(uid));
    }

    /// Writes the verifiers to keep when they changed (leader only; a failure is retried with the
    /// next change and never fails the pass).
    async fn keep_verifiers(&mut self, pending: usize) {
        let (Some(store), Some(hasher)) = (&mut self.verifier_store, &mut self.hasher) else {
            return;
        };
        if !store.due(pending) {
            return;
        }
        let Some(entries) = hasher.take_cache() else {
            return;
        };
        match store.write(&entries).await {
            Ok(0) => {}
            Ok(shards) => {
                tracing::debug!(verifiers = entries.len(), shards, "kept the verifiers");
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot keep the verifiers; a restart hashes the client secrets again");
                hasher.cache_unwritten();
            }
        }
    }

    /// Logs problems and snapshot changes once, records the snapshot for `Programmed`.
    fn observe(&mut self, plan: &Plan) {
        self.problem_log
            .update(plan.translation.problems.iter().cloned());
        self.problem_log
            .refused_endpoints(&plan.translation.refused_endpoints);
        let objects = plan.contents.len();
        self.metrics.snapshot_built(
            plan.desired.body.len(),
            objects,
            plan.translation.problems.len(),
        );
        if self.last_hash.as_deref() != Some(plan.desired.hash.as_str()) {
            tracing::info!(hash = %plan.desired.hash, bytes = plan.desired.body.len(), objects, "new snapshot");
            self.last_hash = Some(plan.desired.hash.clone());
        }
        self.history
            .record(&plan.desired.hash, plan.contents.clone());
    }

    async fn write_statuses(&mut self, objects: &Objects, plan: &Plan) -> Result<(), Error> {
        let acks = self.pusher.acks();
        if plan.targets.iter().any(|t| !acks.contains_key(t)) {
            // Some replica has not answered its first check yet; its acknowledgement wakes the
            // next pass. Writing now would flip served objects to Pending for nothing.
            return Ok(());
        }
        let acked = serving_replicas(
            plan.targets
                .iter()
                .map(|t| acks.get(t).cloned().flatten())
                .collect(),
        );
        let proxy_service = self.settings.proxy_service.clone();
        let ctx = StatusContext {
            plan,
            secrets: &objects.secrets,
            acked: &acked,
            proxy_service: &proxy_service,
            now: rfc3339_now(),
        };
        let mut failures = 0;
        failures += self.sync_all(&objects.consumers, &ctx).await;
        failures += self.sync_all(&objects.credentials, &ctx).await;
        failures += self.sync_all(&objects.plugins, &ctx).await;
        failures += self.sync_all(&objects.routes, &ctx).await;
        failures += self.sync_gateway_api(objects, &ctx).await;
        failures += self.sync_ingresses(objects, plan).await;
        let gateway = &objects.gateway;
        let live: std::collections::HashSet<String> =
            (objects.consumers.iter().map(|o| o.metadata.uid.clone()))
                .chain(objects.credentials.iter().map(|o| o.metadata.uid.clone()))
                .chain(objects.plugins.iter().map(|o| o.metadata.uid.clone()))
                .chain(objects.routes.iter().map(|o| o.metadata.uid.clone()))
                .chain(gateway.classes.iter().map(|o| o.metadata.uid.clone()))
                .chain(gateway.gateways.iter().map(|o| o.metadata.uid.clone()))
                .chain(gateway.routes.iter().map(|o| o.metadata.uid.clone()))
                .chain(
                    objects
                        .ingress
                        .ingresses
                        .iter()
                        .map(|o| o.metadata.uid.clone()),
                )
                .flatten()
                .collect();
        self.writer.retain_live(&live);
        if let Some(delay) = self.writer.take_deferred() {
            // Writes put off for the rate: another pass once it allows a batch.
            self.status_retry = Some(delay.max(self.settings.debounce));
        }
        if failures > 0 {
            return Err(Error::Status(failures));
        }
        Ok(())
    }

    /// Writes the Gateway API statuses the translation computed: our GatewayClasses, our
    /// Gateways (`Programmed` once every proxy replica acknowledged them), and our entries of
    /// every HTTPRoute's `status.parents`. Returns the number of failed writes.
    async fn sync_gateway_api(&mut self, objects: &Objects, ctx: &StatusContext<'_>) -> usize {
        use crate::translate::gateway_api::gw;
        let status = &ctx.plan.translation.gateway_status;
        let mut failures = 0;
        for class in &objects.gateway.classes {
            let Some(conds) = status.classes.get(&class.name_any()) else {
                continue;
            };
            if class.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let build = |previous: Option<&serde_json::Value>| {
                super::gateway_status::class_status(conds, previous, &ctx.now)
            };
            if let Err(e) = self
                .writer
                .sync_gateway_kind(class.as_ref(), build, &self.metrics)
                .await
            {
                tracing::warn!(error = %e, "status write failed");
                failures += 1;
            }
        }
        // `status.addresses`: the publish Service's, as Ingresses get them.
        let addresses = match &self.settings.publish_service {
            Some(_) => self
                .stores
                .publish_service
                .state()
                .first()
                .map(|service| {
                    super::gateway_status::gateway_addresses(
                        &super::status_writer::published_addresses(service),
                    )
                })
                .unwrap_or_default(),
            None => Vec::new(),
        };
        for gateway in &objects.gateway.gateways {
            let ns = gateway.namespace().unwrap_or_default();
            let name = gateway.name_any();
            let Some(report) = status.gateways.get(&format!("{ns}/{name}")) else {
                continue;
            };
            if gateway.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let key = ObjectKey::new(crate::translate::Kind::Gateway, &ns, &name);
            let programmed =
                self.history
                    .programmed(&key, gateway.metadata.generation.unwrap_or(0), ctx.acked);
            let build = |previous: Option<&serde_json::Value>| {
                super::gateway_status::gateway_status(
                    report, programmed, &addresses, previous, &ctx.now,
                )
            };
            if let Err(e) = self
                .writer
                .sync_gateway_kind(gateway.as_ref(), build, &self.metrics)
                .await
            {
                tracing::warn!(error = %e, "status write failed");
                failures += 1;
            }
        }
        // Which install writes a route's entry for a parent: the one serving the Gateway's class;
        // for a Gateway that does not exist, the default class.
        let gateway_classes: std::collections::HashMap<String, String> = objects
            .gateway
            .gateways
            .iter()
            .map(|g| {
                (
                    format!("{}/{}", g.namespace().unwrap_or_default(), g.name_any()),
                    g.spec.gateway_class_name.clone(),
                )
            })
            .collect();
        let default_class = self.settings.class == super::DEFAULT_CLASS;
        let other_classes = self.other_classes.clone();
        for route in &objects.gateway.routes {
            if route.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let ns = route.namespace().unwrap_or_default();
            let name = route.name_any();
            let mine = |p: &crate::resources::gateway_api::ParentRef| {
                let key = format!("{}/{}", p.namespace.as_deref().unwrap_or(&ns), p.name);
                match gateway_classes.get(&key) {
                    Some(class) => !other_classes.contains(class),
                    None => default_class,
                }
            };
            let invalid = ctx.plan.translation.problems.iter().find(|p| {
                p.kind == crate::translate::Kind::HTTPRoute
                    && p.namespace == ns
                    && p.name == name
                    && p.reason == crate::translate::reason::INVALID_CONFIGURATION
            });
            let reports: Vec<_> = status
                .routes
                .get(&format!("{ns}/{name}"))
                .into_iter()
                .flatten()
                .filter(|r| mine(&r.parent_ref))
                .cloned()
                .map(|mut r| {
                    // Left out by the proxies' own validation: not accepted after all.
                    if let Some(problem) = invalid {
                        for c in &mut r.conditions {
                            if c.type_ == gw::ACCEPTED {
                                c.status = false;
                                c.reason = crate::translate::reason::INVALID_CONFIGURATION;
                                c.message.clone_from(&problem.message);
                            }
                        }
                    }
                    r
                })
                .collect();
            if let Err(e) = self
                .writer
                .sync_route(route.as_ref(), &reports, &mine, &ctx.now, &self.metrics)
                .await
            {
                tracing::warn!(error = %e, "status write failed");
                failures += 1;
            }
        }
        failures
    }

    /// The Ingresses of Tollgate's classes: `status.loadBalancer` from the publish Service (when
    /// set and found), and an Event per problem.
    async fn sync_ingresses(&mut self, objects: &Objects, plan: &Plan) -> usize {
        let publish = self.stores.publish_service.state();
        let addresses = match (&self.settings.publish_service, publish.first()) {
            (Some(_), Some(service)) => Some(super::status_writer::published_addresses(service)),
            (Some(at), None) => {
                if !self.publish_missing_logged {
                    tracing::warn!(service = %at, "the publish Service does not exist; Ingress status.loadBalancer is not written");
                    self.publish_missing_logged = true;
                }
                None
            }
            (None, _) => None,
        };
        if !publish.is_empty() {
            self.publish_missing_logged = false;
        }
        let mut failures = 0;
        for ingress in &objects.ingress.ingresses {
            if ingress.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let ns = ingress.namespace().unwrap_or_default();
            let name = ingress.name_any();
            if !plan
                .translation
                .ingress
                .ours
                .contains(&format!("{ns}/{name}"))
            {
                continue;
            }
            let problems: Vec<&crate::translate::Problem> = plan
                .translation
                .problems
                .iter()
                .filter(|p| {
                    p.kind == crate::translate::Kind::Ingress && p.namespace == ns && p.name == name
                })
                .collect();
            if let Err(e) = self
                .writer
                .sync_ingress(ingress, addresses.as_deref(), &problems, &self.metrics)
                .await
            {
                tracing::warn!(error = %e, "status write failed");
                failures += 1;
            }
        }
        failures
    }

    async fn sync_all<K: Owned>(&mut self, objects: &[Arc<K>], ctx: &StatusContext<'_>) -> usize {
        let mut failures = 0;
        for object in objects {
            if object.meta().deletion_timestamp.is_some() {
                continue;
            }
            let (problems, programming) = ctx.verdict(object.as_ref(), &self.history);
            let refused = object
                .meta()
                .uid
                .as_ref()
                .and_then(|uid| self.secret_refusals.get(uid))
                .map(|(_, message)| (false, message.clone()));
            let generated = object
                .generated_note(ctx.secrets)
                .map(|note| (true, note))
                .or(refused);
            if let Err(e) = self
                .writer
                .sync(
                    object.as_ref(),
                    &problems,
                    &programming,
                    generated.as_ref().map(|(done, m)| (*done, m.as_str())),
                    &ctx.now,
                    &self.metrics,
                )
                .await
            {
                tracing::warn!(error = %e, "status write failed");
                failures += 1;
            }
        }
        failures
    }
}

/// The acknowledgements `Programmed` is decided on. A replica holding no configuration (a new
/// or replaced pod before its first push, or one not reached yet) is not ready and serves no
/// traffic, so it does not count while another replica holds a snapshot: otherwise every scale
/// up or pod replacement would flip every object to Pending and back, two status writes each.
/// When no replica holds anything, all of them count (everything is Pending).
fn serving_replicas(acked: Vec<Option<String>>) -> Vec<Option<String>> {
    if acked.iter().any(Option::is_some) {
        acked.into_iter().filter(Option::is_some).collect()
    } else {
        acked
    }
}

/// The objects of `class`: annotated `tollgate.dev/class: <class>`, or without the annotation
/// when `class` is the default. Others belong to another install: not translated, no status.
/// What credentials and plugins may name: labelled Secrets, and which others exist (from the
/// metadata-only watch), so that naming one of those is `SecretNotLabelled`. (Certificate
/// Secrets a listener or an Ingress names are read even without the label:
/// [`super::certificate_secrets`].)
fn unlabelled_secrets(
    names: &[Arc<kube::core::PartialObjectMeta<k8s_openapi::api::core::v1::Secret>>],
) -> crate::translate::secrets::SecretAccess {
    let unlabelled = names
        .iter()
        .filter(|m| {
            m.metadata
                .labels
                .as_ref()
                .is_none_or(|l| !l.contains_key(crate::resources::SECRET_LABEL))
        })
        .filter_map(|m| {
            Some(format!(
                "{}/{}",
                m.metadata.namespace.as_deref()?,
                m.metadata.name.as_deref()?
            ))
        })
        .collect();
    crate::translate::secrets::SecretAccess::LabelledKnowing(unlabelled)
}

fn of_class<K: kube::Resource>(objects: Vec<Arc<K>>, class: &str) -> Vec<Arc<K>> {
    objects
        .into_iter()
        .filter(|o| in_class(o.meta(), class))
        .collect()
}

/// Whether an object belongs to `class` (see [`of_class`]).
fn in_class(meta: &kube::api::ObjectMeta, class: &str) -> bool {
    let annotated = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(super::CLASS_ANNOTATION));
    match annotated {
        Some(c) => c == class,
        None => class == super::DEFAULT_CLASS,
    }
}

struct StatusContext<'a> {
    plan: &'a Plan,
    /// The cached labelled Secrets (for `SecretGenerated`).
    secrets: &'a [Arc<k8s_openapi::api::core::v1::Secret>],
    acked: &'a [Option<String>],
    proxy_service: &'a NamespacedName,
    now: String,
}

impl StatusContext<'_> {
    /// The problems of one object and whether the proxies serve it.
    fn verdict<K: Owned>(
        &self,
        object: &K,
        history: &History,
    ) -> (Vec<ObjectProblem>, Programming) {
        let ns = object.meta().namespace.clone().unwrap_or_default();
        let name = object.meta().name.clone().unwrap_or_default();
        let problems: Vec<ObjectProblem> = self
            .plan
            .translation
            .problems
            .iter()
            .filter(|p| p.kind == K::KIND && p.namespace == ns && p.name == name)
            .map(|p| ObjectProblem {
                condition: p.condition,
                reason: p.reason.to_owned(),
                message: p.message.clone(),
            })
            .collect();
        let key = ObjectKey::new(K::KIND, &ns, &name);
        let generation = object.meta().generation.unwrap_or(0);
        let programming = if history.programmed(&key, generation, self.acked) {
            Programming::Programmed
        } else if self.acked.is_empty() {
            Programming::Pending(format!(
                "no proxy replica found behind Service {}",
                self.proxy_service
            ))
        } else {
            // A constant message: progress counts would rewrite every status on each ack.
            Programming::Pending(
                "waiting for every proxy replica to acknowledge a snapshot with this generation"
                    .to_owned(),
            )
        };
        (problems, programming)
    }
}

#[cfg(test)]
#[path = "reconcile_tests.rs"]
mod tests;
