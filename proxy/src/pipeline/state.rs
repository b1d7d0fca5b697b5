//! The proxy's state: the current compiled snapshot behind an `ArcSwap`, swapped atomically
//! after full validation. A request loads the `Arc` once and keeps it to the end, so in-flight
//! requests finish on the snapshot they started with.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwapOption;

use crate::shared::body_limit::BodyBudget;
use http::HeaderValue;
use http::uri::Scheme;
use rustls::sign::CertifiedKey;
use tollgate_core::certificate::SniTable;
use tollgate_core::oauth::SnapshotIndex;
use tollgate_core::routing::RouteIndex;
use tollgate_core::secret::Verifier;
use tollgate_core::snapshot::{
    Backend, Credential, Plugin, PluginConfig, Route, SNAPSHOT_FORMAT, ServedCertificate, Snapshot,
};
use tollgate_core::token::KeyRing;

use super::brute_force::BruteForce;
use super::filters::RouteExtras;
use super::metrics::{ProxyMetrics, RouteCounters};
use super::rate_limit::{RateLimit, Registry};
use super::secret_check::SecretVerifier;
use crate::options::SecretCheckLimits;
use crate::shared::clock::unix_now;
use crate::upstream::{Endpoint, Target};

/// A route with everything the hot path needs resolved.
#[derive(Debug)]
pub struct RouteEntry {
    pub id: Arc<str>,
    pub counters: Arc<RouteCounters>,
    /// The authentication plugin, when the route has one.
    pub plugin: Option<Arc<Plugin>>,
    /// The rate limit, when the route has one (it runs after the authentication plugin).
    pub limit: Option<Arc<RateLimit>>,
    /// Where matched requests go; `None` for a route without backend.
    pub target: Option<Arc<Target>>,
    /// The Gateway API filters, weighted backends and timeouts, when the route has any.
    pub extras: Option<Box<RouteExtras>>,
}

/// A snapshot compiled for serving: the indexes are built once here, never per request.
#[derive(Debug)]
pub struct Compiled {
    pub hash: String,
    /// Distinct per applied snapshot of this process (caches tied to a snapshot check it).
    pub generation: u64,
    pub updated_at: u64,
    pub table: RouteIndex,
    /// Parallel to the snapshot's routes (the route table's indexes).
    pub routes: Vec<RouteEntry>,
    pub index: SnapshotIndex,
    pub keys: KeyRing,
    /// The snapshot's certificates by server name, parsed once here (handshakes only look up).
    pub certificates: SniTable<Arc<CertifiedKey>>,
}

/// The shared state of one proxy.
pub struct ProxyState {
    current: ArcSwapOption<Compiled>,
    shutting_down: AtomicBool,
    applies: AtomicU64,
    generations: AtomicU64,
    /// The highest leader epoch of an applied push (see
    /// `tollgate_core::config_channel::LEADER_EPOCH_HEADER`).
    leader_epoch: AtomicU64,
    /// One push at a time, so the epoch check and the apply it allows are one step.
    pub(crate) push_lock: tokio::sync::Mutex<()>,
    pub(crate) metrics: Arc<ProxyMetrics>,
    pub(crate) secret_check: SecretVerifier,
    pub(crate) brute_force: BruteForce,
    /// Plugins whose issuer's keys lacked a token's `kid` since the snapshot was applied: the
    /// controller reads them from `GET /config` and fetches those keys again (rate-limited on
    /// its side). Bounded by the number of plugins.
    jwks_unknown: std::sync::Mutex<std::collections::BTreeSet<String>>,
    /// What bodies the gateway reads itself may hold and take (set from the options at bind).
    body_budget: arc_swap::ArcSwap<BodyBudget>,
    /// The providers' answers about opaque tokens (the `introspection` method).
    pub(crate) introspection: super::introspection::IntrospectionCache,
    /// The rate-limiting plugins' counters, kept across snapshots.
    rate_limits: Registry,
    /// The revoked token ids (RFC 7009) and other one-shot ids, kept across snapshots.
    revocations: super::revocations::Revocations,
}

impl std::fmt::Debug for ProxyState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyState")
            .field("hash", &self.hash())
            .field("shutting_down", &self.is_shutting_down())
            .finish_non_exhaustive()
    }
}

impl Default for ProxyState {
    fn default() -> Self {
        Self::with_secret_limits(SecretCheckLimits::default())
    }
}

impl ProxyState {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_secret_limits(limits: SecretCheckLimits) -> Self {
        let metrics = Arc::new(ProxyMetrics::default());
        Self {
            current: ArcSwapOption::const_empty(),
            shutting_down: AtomicBool::new(false),
            applies: AtomicU64::new(0),
            generations: AtomicU64::new(0),
            leader_epoch: AtomicU64::new(0),
            push_lock: tokio::sync::Mutex::new(()),
            secret_check: SecretVerifier::new(limits, metrics.clone()),
            brute_force: BruteForce::default(),
            metrics,
            jwks_unknown: std::sync::Mutex::new(std::collections::BTreeSet::new()),
            introspection: super::introspection::IntrospectionCache::default(),
            rate_limits: Registry::default(),
            revocations: super::revocations::Revocations::default(),
            body_budget: arc_swap::ArcSwap::from_pointee(BodyBudget::new(
                crate::options::DEFAULT_BODY_BUDGET_BYTES,
                crate::options::DEFAULT_MAX_BODY_READS,
                std::time::Duration::from_secs(crate::options::DEFAULT_BODY_TIMEOUT_SECS),
                std::time::Duration::from_secs(crate::options::DEFAULT_BODY_TIMEOUT_SECS * 4),
            )),
        }
    }

    /// The budget and deadlines of bodies the gateway reads itself.
    pub(crate) fn body_budget(&self) -> Arc<BodyBudget> {
        self.body_budget.load_full()
    }

    /// Sets them (at bind, from the options).
    pub(crate) fn set_body_budget(&self, budget: BodyBudget) {
        self.body_budget.store(Arc::new(budget));
    }

    /// The revocation store (see [`super::revocations`]).
    pub fn revocations(&self) -> &super::revocations::Revocations {
        &self.revocations
    }

    /// A token of `plugin_id`'s issuer named a key the snapshot does not hold.
    pub(crate) fn jwks_unknown_key(&self, plugin_id: &str) {
        let mut unknown = self.jwks_unknown.lock().unwrap_or_else(|e| e.into_inner());
        if !unknown.contains(plugin_id) && unknown.len() < 4096 {
            unknown.insert(plugin_id.to_owned());
        }
    }

    /// The plugins whose issuer's keys should be fetched again (see [`Self::jwks_unknown_key`]).
    pub fn jwks_wanted(&self) -> Vec<String> {
        let unknown = self.jwks_unknown.lock().unwrap_or_else(|e| e.into_inner());
        unknown.iter().cloned().collect()
    }

    /// The highest leader epoch of an applied push.
    pub fn leader_epoch(&self) -> u64 {
        self.leader_epoch.load(Ordering::Acquire)
    }

    /// Records that a push of `epoch` was applied (the highest one wins).
    pub fn saw_leader_epoch(&self, epoch: u64) {
        self.leader_epoch.fetch_max(epoch, Ordering::AcqRel);
    }

    /// The snapshot being served, borrowed without touching its reference count (see
    /// [`super::context::WorkerLocal::snapshot`]).
    pub(crate) fn current_guard(&self) -> arc_swap::Guard<Option<Arc<Compiled>>> {
        self.current.load()
    }

    /// Hash of the snapshot being served ("" before the first one).
    pub fn hash(&self) -> String {
        self.current
            .load()
            .as_ref()
            .map(|c| c.hash.clone())
            .unwrap_or_default()
    }

    /// Unix seconds of the last applied snapshot.
    pub fn updated_at(&self) -> Option<u64> {
        self.current.load().as_ref().map(|c| c.updated_at)
    }

    /// Ready: holds a snapshot and is not shutting down.
    pub fn is_ready(&self) -> bool {
        !self.is_shutting_down() && self.current.load().is_some()
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// Marks the proxy as shutting down (`/readyz` answers 503 from now on).
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::Release);
    }

    /// The token endpoint's per-client brute-force guard.
    #[cfg(test)]
    pub(crate) fn brute_force(&self) -> &BruteForce {
        &self.brute_force
    }

    /// Requests counted per consumer too (`--metrics-per-consumer`; at most
    /// [`super::metrics::MAX_CONSUMER_SERIES`] consumers get series of their own).
    pub fn set_per_consumer_metrics(&self, enabled: bool) {
        self.metrics.set_per_consumer(enabled);
    }

    pub(crate) fn metrics(&self) -> &ProxyMetrics {
        &self.metrics
    }

    /// The certificate the current snapshot serves for the TLS server name `server_name`
    /// (exact name, then the longest wildcard), if any: one atomic load and two map lookups.
    pub(crate) fn served_certificate(&self, server_name: &str) -> Option<Arc<CertifiedKey>> {
        let current = self.current.load();
        current.as_ref()?.certificates.pick(server_name).cloned()
    }

    /// Snapshots applied so far (a held hash re-applied does not count).
    pub fn applies(&self) -> u64 {
        self.applies.load(Ordering::Acquire)
    }

    /// Validates `snapshot` fully (core validation, then everything compiling finds) and swaps
    /// it in atomically. A snapshot with the hash already held is accepted without work. On
    /// error nothing changes.
    pub fn apply(&self, snapshot: Snapshot) -> Result<String, Vec<String>> {
        self.swap_in(snapshot, CoreValidation::Run)
    }

    /// [`Self::apply`] for a snapshot that passed `tollgate_core::validate::check` without a
    /// problem in this same process (standalone mode's translation checks every snapshot it
    /// builds): core validation is not run a second time; everything compiling itself checks
    /// still is. A snapshot from outside the process goes through [`Self::apply`].
    pub fn apply_checked(&self, snapshot: Snapshot) -> Result<String, Vec<String>> {
        debug_assert!(
            tollgate_core::validate::validate(&snapshot).is_ok(),
            "apply_checked given a snapshot that fails core validation"
        );
        self.swap_in(snapshot, CoreValidation::Done)
    }

    fn swap_in(
        &self,
        snapshot: Snapshot,
        validation: CoreValidation,
    ) -> Result<String, Vec<String>> {
        // The content hash and the checks that only read the snapshot run side by side.
        let (hash, found) = std::thread::scope(|scope| {
            let snapshot = &snapshot;
            match std::thread::Builder::new()
                .name("snapshot-hash".into())
                .spawn_scoped(scope, || snapshot.content_hash())
            {
                Ok(hashing) => {
                    let found = precheck(snapshot, validation);
                    let hash = hashing
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                    (hash, found)
                }
                Err(_) => (snapshot.content_hash(), precheck(snapshot, validation)),
            }
        });
        if self.current.load().as_ref().is_some_and(|c| c.hash == hash) {
            return Ok(hash);
        }
        let generation = self.generations.fetch_add(1, Ordering::AcqRel) + 1;
        let served = Served {
            metrics: &self.metrics,
            rate_limits: &self.rate_limits,
        };
        let compiled = match compile(snapshot, found, hash.clone(), generation, served) {
            Ok(compiled) => compiled,
            Err(errors) => {
                self.metrics.config_rejected();
                return Err(errors);
            }
        };
        let updated_at = compiled.updated_at;
        let compiled = Arc::new(compiled);
        self.current.store(Some(compiled.clone()));
        // Consumers that left the config free their per-consumer series.
        self.metrics
            .retain_consumers(|id| compiled.index.consumer(id).is_some());
        // The new snapshot carries the keys fetched since: ask again only if they still lack one.
        self.jwks_unknown
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.applies.fetch_add(1, Ordering::AcqRel);
        self.metrics.config_applied(updated_at, generation);
        Ok(hash)
    }
}

/// Whether a snapshot still needs core validation before it is compiled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CoreValidation {
    /// From outside the process (the config channel): validate it.
    Run,
    /// Checked without a problem by the translation that built it, in this process.
    Done,
}

/// The problems found by reading the snapshot alone.
#[derive(Debug, Default)]
struct Prechecked {
    /// Its format, and core validation unless it was done.
    core: Vec<String>,
    /// What the proxy needs of every credential.
    credentials: Vec<String>,
}

fn precheck(snapshot: &Snapshot, validation: CoreValidation) -> Prechecked {
    let mut found = Prechecked::default();
    if snapshot.format != SNAPSHOT_FORMAT {
        found.core.push(format!(
            "snapshot format {} is not supported (expected {SNAPSHOT_FORMAT})",
            snapshot.format
        ));
        return found;
    }
    if validation == CoreValidation::Run
        && let Err(problems) = tollgate_core::validate::validate(snapshot)
    {
        found.core.extend(problems);
    }
    check_credentials(&snapshot.credentials, &mut found.credentials);
    found
}

/// What a compiled snapshot shares with the ones before it: the counters.
#[derive(Clone, Copy)]
pub struct Served<'a> {
    pub metrics: &'a ProxyMetrics,
    pub rate_limits: &'a Registry,
}

/// Builds every index of a snapshot, or every problem found (starting with those [`precheck`]
/// found). The snapshot's lists are taken over by the indexes, not copied: at 100,000
/// credentials a copy is about 60 MiB.
fn compile(
    snapshot: Snapshot,
    found: Prechecked,
    hash: String,
    generation: u64,
    served: Served<'_>,
) -> Result<Compiled, Vec<String>> {
    let mut errors = found.core;
    if snapshot.format != SNAPSHOT_FORMAT {
        return Err(errors);
    }
    let keys = KeyRing::new(&snapshot.signing_keys, &snapshot.active_key)
        .map_err(|e| errors.push(format!("signing keys: {e}")))
        .ok();

    let plugins: HashMap<&str, Arc<Plugin>> = snapshot
        .plugins
        .iter()
        .map(|p| (p.id.as_str(), Arc::new(p.clone())))
        .collect();

    errors.extend(found.credentials);
    let routes = snapshot
        .routes
        .iter()
        .map(|route| compile_route(route, &plugins, served, &mut errors))
        .collect();
    drop(plugins);
    let certificates = compile_certificates(&snapshot.certificates, &mut errors);
    match keys {
        Some(keys) if errors.is_empty() => Ok(Compiled {
            hash,
            generation,
            updated_at: unix_now(),
            table: RouteIndex::from_routes(snapshot.routes),
            routes,
            index: SnapshotIndex::from_parts(
                snapshot.consumers,
                snapshot.credentials,
                snapshot.plugins,
            ),
            keys,
            certificates,
        }),
        _ => Err(errors),
    }
}

/// The served certificates by host name (each parsed once; core validation has checked them,
/// unless the snapshot comes from a translation in this process that did).
fn compile_certificates(
    certificates: &[ServedCertificate],
    errors: &mut Vec<String>,
) -> SniTable<Arc<CertifiedKey>> {
    let mut table = SniTable::default();
    for certificate in certificates {
        match tollgate_core::certificate::parse(
            &certificate.chain_pem,
            certificate.key_pem.expose(),
        ) {
            Ok(parsed) => {
                for host in &certificate.hosts {
                    table.insert(host, parsed.key.clone());
                }
            }
            Err(e) => errors.push(format!("certificate {:?}: {e}", certificate.source)),
        }
    }
    table
}

/// What the proxy needs of every credential beyond core's validation: a UUID id (tokens carry
/// its bytes) and a verifier it can parse.
fn check_credentials(credentials: &[Credential], errors: &mut Vec<String>) {
    for credential in credentials {
        if tollgate_core::ids::uuid_bytes(&credential.id).is_none() {
            errors.push(format!(
                "credential {}: id {:?} is not a UUID",
                credential.object, credential.id
            ));
            continue;
        }
        if let Some(Err(e)) = credential.secret_verifier.as_deref().map(Verifier::parse) {
            errors.push(format!(
                "credential {}: secret verifier: {e}",
                credential.object
            ));
        }
        for previous in &credential.previous_secrets {
            if let Err(e) = Verifier::parse(&previous.verifier) {
                errors.push(format!(
                    "credential {}: previous secret verifier: {e}",
                    credential.object
                ));
            }
        }
    }
}

/// A route's entry: its plugins resolved, its backend compiled, its counters; problems go to
/// `errors`.
fn compile_route(
    route: &Route,
    plugins: &HashMap<&str, Arc<Plugin>>,
    served: Served<'_>,
    errors: &mut Vec<String>,
) -> RouteEntry {
    let mut plugin = None;
    let mut limit = None;
    for id in &route.plugins {
        match plugins.get(id.as_str()) {
            Some(p) if p.config.is_auth() => plugin = Some(p.clone()),
            Some(p) => limit = served.rate_limits.compile(p),
            None => errors.push(format!("route {}: unknown plugin {id:?}", route.id)),
        }
    }
    if let Some(plugin) = &plugin
        && let PluginConfig::OAuth2(c) = &plugin.config
        && c.auth_header_name.parse::<http::HeaderName>().is_err()
    {
        errors.push(format!(
            "plugin {}: authHeaderName {:?} is not a header name",
            plugin.id, c.auth_header_name
        ));
    }
    let target = match &route.backend {
        Some(backend) => match compile_backend(backend) {
            Ok(t) => Some(Arc::new(t)),
            Err(e) => {
                errors.push(format!("route {}: backend: {e}", route.id));
                None
            }
        },
        None => None,
    };
    let extras = RouteExtras::compile(route, compile_backend).unwrap_or_else(|e| {
        errors.push(format!("route {}: {e}", route.id));
        None
    });
    RouteEntry {
        id: Arc::from(route.id.as_str()),
        counters: served.metrics.route(&route.id),
        plugin,
        limit,
        target,
        extras,
    }
}

fn compile_backend(backend: &Backend) -> Result<Target, String> {
    let scheme = match backend.scheme.as_str() {
        "http" => Scheme::HTTP,
        "https" => Scheme::HTTPS,
        other => {
            return Err(format!(
                "scheme {other:?} is not supported (use http or https)"
            ));
        }
    };
    let mut endpoints = Vec::with_capacity(backend.endpoints.len());
    for endpoint in &backend.endpoints {
        endpoints.push(
            Endpoint::parse(endpoint)
                .ok_or_else(|| format!("endpoint {endpoint:?} is not host:port"))?,
        );
    }
    let host_header = match &backend.host_header {
        Some(h) => {
            Some(HeaderValue::from_str(h).map_err(|_| format!("host header {h:?} is not valid"))?)
        }
        None => None,
    };
    if !(backend.path.is_empty() || backend.path.starts_with('/')) {
        return Err(format!(
            "path {:?} must be empty or start with '/'",
            backend.path
        ));
    }
    Ok(Target::new(
        scheme,
        endpoints,
        host_header,
        backend.path.clone(),
        Duration::from_millis(backend.connect_timeout_ms.max(1)),
        Duration::from_millis(backend.read_timeout_ms.max(1)),
    ))
}
