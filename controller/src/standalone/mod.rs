//! Standalone mode: `tollgate-controller standalone --manifests DIR`. Reads the manifests a user
//! would `kubectl apply` from DIR, translates them and serves them with the proxy in the same
//! process; polls DIR so that a change is served within about a second.

pub mod dir;
pub mod incarnations;
pub mod manifests;
mod plain_yaml;
pub mod reconcile;
pub mod state_dir;

#[cfg(test)]
mod temp_dir;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use tollgate_proxy::{ProxyOptions, ProxyState};

use dir::ManifestDir;
use incarnations::Incarnations;
use reconcile::DirReconciler;
use state_dir::StateDir;

use crate::translate::{HashPool, SecretHasher, verifier_cache};

/// How often DIR is polled: one `stat` per file, a file read and hashed only when its stamp
/// changed (see [`dir`]); no extra dependency, no file-system events to miss.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(100);

#[derive(Clone, Debug)]
pub struct StandaloneOptions {
    pub manifests: PathBuf,
    pub state_dir: PathBuf,
    pub poll_interval: Duration,
    /// Threads hashing client secrets (argon2id) in the background.
    pub hash_threads: usize,
    pub proxy: ProxyOptions,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    StateDir(#[from] state_dir::Error),
    #[error("incarnations: {0}")]
    Incarnations(incarnations::Error),
    #[error(transparent)]
    ReadManifests(#[from] dir::ReadDirError),
    #[error("proxy: {0}")]
    Proxy(#[from] tollgate_proxy::Error),
    /// A task panicked: the process must exit non-zero, not as if it had stopped cleanly.
    #[error("standalone mode crashed: {0}")]
    Crashed(String),
    #[error("starting the hashing threads: {0}")]
    HashThreads(#[source] std::io::Error),
}

/// Runs standalone mode until `shutdown` resolves.
pub async fn run(
    options: StandaloneOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    start(options, shutdown).await?.wait().await
}

/// What a running standalone mode reports after every scan of DIR.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Scans of DIR completed (the first one happens before the listeners open).
    pub scans: u64,
    /// Hash of the configuration served ("" before the first one).
    pub hash: String,
    /// Client-secret verifiers computed since start (argon2id or SHA-256).
    pub verifiers_hashed: u64,
    /// Verifiers taken from the state directory instead of hashing again.
    pub verifiers_kept: u64,
}

/// A running standalone mode: its bound addresses, and its progress.
#[derive(Debug)]
pub struct Running {
    pub http_addr: Option<SocketAddr>,
    pub https_addr: Option<SocketAddr>,
    pub admin_addr: Option<SocketAddr>,
    /// Where the HTTPS certificate is (the self-signed one in the state directory by default).
    pub tls_cert: Option<PathBuf>,
    pub progress: watch::Receiver<Progress>,
    task: JoinHandle<Result<(), Error>>,
}

impl Running {
    /// Waits until standalone mode stops (after the shutdown future resolved and in-flight
    /// requests drained).
    pub async fn wait(self) -> Result<(), Error> {
        match self.task.await {
            Ok(result) => result,
            Err(join) => Err(Error::Crashed(join.to_string())),
        }
    }
}

/// Reads DIR, applies the first configuration, binds the listeners and starts serving and
/// watching; returns once the listeners are bound.
pub async fn start(
    mut options: StandaloneOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Running, Error> {
    let state_dir = StateDir::open(&options.state_dir)?;
    if options.proxy.tls_cert.is_none() && options.proxy.https_addr.is_some() {
        let (cert, key) = state_dir.self_signed_tls()?;
        options.proxy.tls_cert = Some(cert);
        options.proxy.tls_key = Some(key);
    }
    let mut dir = ManifestDir::new(&options.manifests);
    let hashed = Arc::new(Notify::new());
    let pool = {
        let hashed = Arc::clone(&hashed);
        Arc::new(
            HashPool::new(options.hash_threads, move || hashed.notify_one())
                .map_err(Error::HashThreads)?,
        )
    };
    let mut hasher = SecretHasher::with_pool(Arc::clone(&pool));
    load_verifier_cache(&state_dir, &mut hasher);
    // Literal backend addresses are judged as the in-process proxy will judge them, its
    // configured listeners included (their real ports are known only once bound: an ephemeral
    // port is left to the proxy's own check).
    let listeners = [
        options.proxy.http_addr,
        options.proxy.https_addr,
        options.proxy.admin_addr,
    ];
    let policy = options
        .proxy
        .backend_policy
        .clone()
        .own_listeners(listeners.into_iter().flatten());
    let incarnations = load_incarnations(&state_dir)?;
    let jwks_cache = crate::jwks::JwksCache::new();
    let jwks_wake = Arc::new(Notify::new());
    let keys_fetched = Arc::new(Notify::new());
    let mut reconciler =
        DirReconciler::with_hasher(state_dir.signing_keys()?, hasher, incarnations)
            .with_policy(policy)
            .with_jwks(Arc::clone(&jwks_cache), Arc::clone(&jwks_wake));
    let proxy = Arc::new(ProxyState::new());
    load_revocations(&state_dir, &proxy);

    scan(&mut dir)?;
    // The first configuration waits for every client secret to be hashed (kept verifiers make
    // this quick after the first run): serving without some credentials would refuse clients
    // that are configured.
    let started = std::time::Instant::now();
    let mut outcome = reconciler.reconcile(&dir);
    let waiting = reconciler.pending();
    if waiting > 0 {
        tracing::info!(
            secrets = waiting,
            threads = options.hash_threads,
            "hashing client secrets before serving"
        );
    }
    while reconciler.pending() > 0 {
        // Translate again only once the pool is idle: every pass translates everything.
        blocking(|| while !pool.wait_idle(Duration::from_secs(1)) {});
        outcome = reconciler.reconcile(&dir);
    }
    if waiting > 0 {
        tracing::info!(
            secrets = waiting,
            elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "client secrets hashed"
        );
    }
    apply_outcome(&proxy, outcome);
    keep_verifiers(&state_dir, &mut reconciler);
    keep_incarnations(&state_dir, &mut reconciler);
    let (progress_tx, progress) = watch::channel(Progress {
        scans: 1,
        hash: proxy.hash(),
        verifiers_hashed: reconciler.hasher().computed(),
        verifiers_kept: reconciler.hasher().from_cache(),
    });

    let bound = tollgate_proxy::bind(options.proxy.clone()).await?;
    let (http_addr, https_addr, admin_addr) =
        (bound.http_addr(), bound.https_addr(), bound.admin_addr());
    tracing::info!(
        manifests = %options.manifests.display(),
        http = ?http_addr, https = ?https_addr, admin = ?admin_addr,
        "standalone mode serving"
    );
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let mut jwks_stop = stop_rx.clone();
    tokio::spawn(crate::jwks::run(
        Arc::clone(&jwks_cache),
        crate::jwks::FetchSettings::default(),
        Arc::clone(&jwks_wake),
        Arc::clone(&keys_fetched),
        async move {
            let _ = jwks_stop.wait_for(|stop| *stop).await;
        },
    ));
    tokio::spawn(keep_revocations(
        state_dir.clone(),
        Arc::clone(&proxy),
        stop_rx.clone(),
    ));
    let mut serve_stop = stop_rx.clone();
    let server = tokio::spawn(bound.serve(proxy.clone(), async move {
        let _ = serve_stop.wait_for(|stop| *stop).await;
    }));
    let watcher = Watcher {
        dir,
        reconciler,
        state_dir,
        hashed,
        keys_fetched,
        jwks: jwks_cache,
        jwks_wake,
        _pool: pool,
        proxy,
        progress: progress_tx,
        interval: options.poll_interval,
    };
    let task = tokio::spawn(async move {
        watcher.run(stop_rx).await;
        match server.await {
            Ok(result) => result.map_err(Error::from),
            Err(join) => Err(Error::Crashed(format!("the proxy task: {join}"))),
        }
    });
    Ok(Running {
        http_addr,
        https_addr,
        admin_addr,
        tls_cert: options.proxy.tls_cert.clone(),
        progress,
        task,
    })
}

/// Polls DIR and applies every change.
struct Watcher {
    dir: ManifestDir,
    reconciler: DirReconciler,
    state_dir: StateDir,
    /// Woken when background hashes complete.
    hashed: Arc<Notify>,
    /// Woken when an issuer's keys were fetched.
    keys_fetched: Arc<Notify>,
    jwks: Arc<crate::jwks::JwksCache>,
    jwks_wake: Arc<Notify>,
    _pool: Arc<HashPool>,
    proxy: Arc<ProxyState>,
    progress: watch::Sender<Progress>,
    interval: Duration,
}

impl Watcher {
    async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut read_error = false;
        loop {
            let hashed = tokio::select! {
                _ = stop.wait_for(|stop| *stop) => break,
                _ = ticker.tick() => false,
                () = self.hashed.notified() => true,
                () = self.keys_fetched.notified() => true,
            };
            // The in-process proxy met tokens signed by keys it lacks: fetch them early.
            let asked: std::collections::BTreeSet<String> =
                self.proxy.jwks_wanted().into_iter().collect();
            if !asked.is_empty() {
                let plugins = self.dir.objects().plugins;
                for issuer in crate::jwks::issuers_of(&asked, &plugins) {
                    self.jwks
                        .refresh_soon(&issuer, &crate::jwks::FetchSettings::default());
                    self.jwks_wake.notify_one();
                }
            }
            // Reading a large directory is CPU-bound too.
            match blocking(|| scan(&mut self.dir)) {
                Ok(changed) => {
                    read_error = false;
                    if changed || hashed {
                        // Translation of a large directory is CPU-bound: keep it off the
                        // runtime's other tasks.
                        blocking(|| apply(&self.proxy, &mut self.reconciler, &self.dir));
                        keep_incarnations(&self.state_dir, &mut self.reconciler);
                        if self.reconciler.pending() == 0 {
                            keep_verifiers(&self.state_dir, &mut self.reconciler);
                        }
                    }
                }
                Err(err) => {
                    if !read_error {
                        tracing::error!(error = %err, "cannot read the manifests directory; serving the last configuration");
                        read_error = true;
                    }
                }
            }
            let hash = self.proxy.hash();
            let (hashed, kept) = (
                self.reconciler.hasher().computed(),
                self.reconciler.hasher().from_cache(),
            );
            self.progress.send_modify(|p| {
                p.scans += 1;
                p.hash = hash;
                p.verifiers_hashed = hashed;
                p.verifiers_kept = kept;
            });
        }
    }
}

/// Runs CPU-bound work off the async scheduler where the runtime allows it.
fn blocking<T>(work: impl FnOnce() -> T) -> T {
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if multi_thread {
        tokio::task::block_in_place(work)
    } else {
        work()
    }
}

/// Scans DIR, logs new parse errors; whether the objects in use changed.
fn scan(dir: &mut ManifestDir) -> Result<bool, dir::ReadDirError> {
    let report = dir.scan()?;
    for (file, error) in &report.new_errors {
        tracing::error!(
            file = %file.display(), line = error.line,
            "{}:{}: {}; the last good objects of this file stay in use",
            file.display(), error.line, error.message
        );
    }
    Ok(report.changed)
}

/// Reads the verifiers a previous run kept; a damaged file only costs hashing again.
fn load_verifier_cache(state_dir: &StateDir, hasher: &mut SecretHasher) {
    match state_dir.read_verifier_cache() {
        Ok(None) => {}
        Ok(Some(bytes)) => match hasher.load_cache(&bytes) {
            Ok(count) => tracing::debug!(verifiers = count, "read the kept verifiers"),
            Err(err) => {
                tracing::warn!(error = %err, "ignoring the kept verifiers; client secrets are hashed again");
            }
        },
        Err(err) => {
            tracing::warn!(error = %err, "cannot read the kept verifiers; client secrets are hashed again");
        }
    }
}

/// Reads the incarnation counters a previous run wrote; without them (or with a damaged file)
/// counting starts again under a new id, which revokes every earlier token rather than reviving
/// one.
fn load_incarnations(state_dir: &StateDir) -> Result<Incarnations, Error> {
    let loaded = match state_dir.read_incarnations() {
        Ok(None) => None,
        Ok(Some(bytes)) => match Incarnations::load(&bytes) {
            Ok(loaded) => Some(loaded),
            Err(err) => {
                tracing::warn!(error = %err, "starting new incarnations; tokens issued before are no longer accepted");
                None
            }
        },
        Err(err) => {
            tracing::warn!(error = %err, "cannot read the incarnations; tokens issued before are no longer accepted");
            None
        }
    };
    match loaded {
        Some(loaded) => Ok(loaded),
        None => Incarnations::new().map_err(Error::Incarnations),
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Puts the revocations of a previous run back into the proxy's store. An unreadable file is
/// reported and left in place (the next write replaces it): tokens it named are accepted again
/// until they expire, which the warning says.
fn load_revocations(state_dir: &StateDir, proxy: &ProxyState) {
    let entries = match state_dir.read_revocations() {
        Ok(None) => return,
        Ok(Some(bytes)) => match tollgate_core::revocation::decode(&bytes) {
            Ok(entries) => entries,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the kept revocations; tokens revoked before are accepted again until they expire");
                return;
            }
        },
        Err(err) => {
            tracing::warn!(error = %err, "cannot read the kept revocations; tokens revoked before are accepted again until they expire");
            return;
        }
    };
    let now = unix_now();
    match proxy.revocations().merge(entries, now) {
        Ok(kept) => tracing::info!(revocations = kept, "revocations kept from the previous run"),
        Err(err) => tracing::warn!(error = %err, "not every kept revocation fits the store"),
    }
}

/// Writes the revocation store to the state directory whenever it changes (within
/// milliseconds of a revocation), and once more at shutdown.
async fn keep_revocations(
    state_dir: StateDir,
    proxy: Arc<ProxyState>,
    mut stop: watch::Receiver<bool>,
) {
    let mut changes = proxy.revocations().subscribe();
    loop {
        let stopping = tokio::select! {
            changed = changes.changed() => changed.is_err(),
            _ = stop.wait_for(|stop| *stop) => true,
        };
        let now = unix_now();
        let bytes = tollgate_core::revocation::encode(&proxy.revocations().live(now));
        let dir = state_dir.clone();
        let written = tokio::task::spawn_blocking(move || dir.write_revocations(&bytes)).await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "cannot keep the revocations; a restart forgets those made since the last write")
            }
            Err(err) => tracing::warn!(error = %err, "cannot keep the revocations"),
        }
        if stopping {
            return;
        }
    }
}

/// Writes the incarnation counters, when they changed. Until they are written, a restart would
/// start new incarnations (revoking tokens), never revive old ones.
fn keep_incarnations(state_dir: &StateDir, reconciler: &mut DirReconciler) {
    let Some(bytes) = reconciler.incarnations().take_changed() else {
        return;
    };
    if let Err(err) = state_dir.write_incarnations(&bytes) {
        tracing::warn!(error = %err, "cannot keep the incarnations; a restart revokes tokens issued until then");
        reconciler.incarnations().unwritten();
    }
}

/// Writes the verifiers to keep, when they changed.
fn keep_verifiers(state_dir: &StateDir, reconciler: &mut DirReconciler) {
    let Some(entries) = reconciler.hasher().take_cache() else {
        return;
    };
    if let Err(err) = state_dir.write_verifier_cache(&verifier_cache::encode(&entries)) {
        tracing::warn!(error = %err, "cannot keep the verifiers; the next start hashes client secrets again");
        reconciler.hasher().cache_unwritten();
    }
}

/// Translates DIR and applies the snapshot when it changed.
fn apply(proxy: &ProxyState, reconciler: &mut DirReconciler, dir: &ManifestDir) {
    apply_outcome(proxy, reconciler.reconcile(dir));
}

/// Applies a snapshot when it differs from the one served (`ProxyState::apply` hashes it and
/// does nothing when the hash is the one served; hashing it here too would cost as much again).
/// A snapshot the translation checked is not validated again.
fn apply_outcome(proxy: &ProxyState, outcome: reconcile::Outcome) {
    let Some(snapshot) = outcome.snapshot else {
        return;
    };
    let served = proxy.hash();
    let counts = (
        snapshot.consumers.len(),
        snapshot.credentials.len(),
        snapshot.plugins.len(),
        snapshot.routes.len(),
    );
    let applied = if outcome.checked {
        proxy.apply_checked(snapshot)
    } else {
        proxy.apply(snapshot)
    };
    match applied {
        Ok(hash) if hash == served => {}
        Ok(hash) => tracing::info!(
            %hash, consumers = counts.0, credentials = counts.1, plugins = counts.2, routes = counts.3,
            "configuration applied"
        ),
        Err(errors) => tracing::error!(
            errors = ?errors,
            "the proxy refused the configuration; serving the previous one"
        ),
    }
}
