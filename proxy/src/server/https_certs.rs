//! The HTTPS listener's certificates: a default one (`--tls-cert`/`--tls-key`, or a generated
//! self-signed one) and any number served by SNI (`--tls-sni-dir`), each followed on disk.
//!
//! **SNI.** Every pair in the SNI directory serves the DNS names of its certificate's subject
//! alternative names: exact names, and `*.example.com` for one label under `example.com`. A
//! pair is a subdirectory holding `tls.crt` and `tls.key` (a mounted `kubernetes.io/tls`
//! Secret) or two files `NAME.crt` and `NAME.key`; names starting with `.` are skipped (the
//! kubelet's `..data`). A client naming no server, or a name no pair covers, gets the default
//! certificate. When two pairs claim a name, the first in path order keeps it (logged).
//!
//! **Reload.** Once a second a task compares each file's identity (device, inode, size and
//! modification time, read through symlinks, so a Secret volume's `..data` symlink swap is seen
//! as well as a file written in place) and the directory's list of pairs with what was loaded.
//! A changed pair is loaded again; when it loads (certificate and key parse, the key matches
//! the certificate) it is used for every new handshake; established connections keep theirs.
//! When it does not (unreadable, half written, mismatched) a warning names it and the last good
//! version keeps serving; it is tried again when its files change again. Handshakes read the
//! current set through one atomic load and never wait for a reload.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::pipeline::ProxyState;
use crate::tls;

/// How often the files are looked at.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// What identifies a version of a file.
type FileStamp = Option<(u64, u64, u64, SystemTime)>;

fn file_stamp(path: &Path) -> FileStamp {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.dev(), meta.ino(), meta.len(), meta.modified().ok()?))
}

/// A certificate and key file pair.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pair {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Pair {
    fn stamp(&self) -> [FileStamp; 2] {
        [file_stamp(&self.cert), file_stamp(&self.key)]
    }
}

/// The pairs of an SNI directory, in path order.
pub fn pairs_in(dir: &Path) -> std::io::Result<Vec<Pair>> {
    let mut pairs = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            let pair = Pair {
                cert: path.join("tls.crt"),
                key: path.join("tls.key"),
            };
            if pair.cert.is_file() && pair.key.is_file() {
                pairs.push(pair);
            }
        } else if let Some(stem) = name.strip_suffix(".crt") {
            let key = dir.join(format!("{stem}.key"));
            if key.is_file() {
                pairs.push(Pair { cert: path, key });
            }
        }
    }
    pairs.sort();
    Ok(pairs)
}

/// A loaded pair: the key rustls signs with and the names it serves.
#[derive(Debug, Clone)]
struct Loaded {
    stamp: [FileStamp; 2],
    key: Arc<CertifiedKey>,
    names: Vec<String>,
}

/// Loads a pair: certificate chain and key parse, and the key is the certificate's.
fn load(pair: &Pair) -> Result<Loaded, tls::Error> {
    let stamp = pair.stamp();
    let files = tls::load_pem_files(&pair.cert, &pair.key)?;
    let names = dns_names(&files.chain[0]);
    let provider = rustls::crypto::ring::default_provider();
    let key = CertifiedKey::from_der(files.chain, files.key, &provider)?;
    Ok(Loaded {
        stamp,
        key: Arc::new(key),
        names,
    })
}

/// The DNS names (lower case, wildcards as `*.example.com`) of a certificate's subject
/// alternative names.
fn dns_names(cert: &rustls::pki_types::CertificateDer<'_>) -> Vec<String> {
    match webpki::EndEntityCert::try_from(cert) {
        Ok(parsed) => parsed
            .valid_dns_names()
            .map(|n| n.trim_end_matches('.').to_ascii_lowercase())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// What handshakes choose from.
#[derive(Debug)]
struct Resolved {
    default: Arc<CertifiedKey>,
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// `example.com` for a certificate of `*.example.com`.
    wildcard: HashMap<String, Arc<CertifiedKey>>,
}

impl Resolved {
    fn pick(&self, name: Option<&str>) -> Arc<CertifiedKey> {
        let Some(name) = name else {
            return self.default.clone();
        };
        let lower;
        let name = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            lower = name.to_ascii_lowercase();
            lower.as_str()
        } else {
            name
        };
        if let Some(key) = self.exact.get(name) {
            return key.clone();
        }
        if let Some((_, parent)) = name.split_once('.')
            && let Some(key) = self.wildcard.get(parent)
        {
            return key.clone();
        }
        self.default.clone()
    }
}

/// What the reload task keeps: the sources and what was last loaded from each.
#[derive(Debug)]
struct Sources {
    /// `None`: a generated certificate, never reloaded.
    default_pair: Option<Pair>,
    default: Loaded,
    sni_dir: Option<PathBuf>,
    sni: Vec<(Pair, Loaded)>,
    /// Versions that failed to load, so each is reported once.
    failed: HashMap<Pair, [FileStamp; 2]>,
}

/// The HTTPS listener's certificates (see the module doc); rustls asks it at every handshake.
#[derive(Debug)]
pub struct HttpsCerts {
    current: ArcSwap<Resolved>,
    sources: Mutex<Sources>,
    /// The state whose snapshot's certificates come first, once serving.
    snapshot: OnceLock<Arc<ProxyState>>,
}

impl ResolvesServerCert for HttpsCerts {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.pick(client_hello.server_name()))
    }
}

impl HttpsCerts {
    /// Loads the default pair (or generates a certificate) and every pair of `sni_dir`; any
    /// that does not load is an error at start.
    pub fn load(default_pair: Option<Pair>, sni_dir: Option<&Path>) -> Result<Self, tls::Error> {
        let default = match &default_pair {
            Some(pair) => load(pair)?,
            None => {
                let generated = tls::self_signed()?;
                let provider = rustls::crypto::ring::default_provider();
                let key = CertifiedKey::from_der(generated.chain, generated.key, &provider)?;
                Loaded {
                    stamp: [None, None],
                    key: Arc::new(key),
                    names: Vec::new(),
                }
            }
        };
        let mut sni = Vec::new();
        if let Some(dir) = sni_dir {
            let pairs = pairs_in(dir).map_err(|source| tls::Error::Read {
                path: dir.to_owned(),
                source,
            })?;
            for pair in pairs {
                let loaded = load(&pair)?;
                if loaded.names.is_empty() {
                    tracing::warn!(cert = %pair.cert.display(), "this certificate names no DNS name: it is never chosen by SNI");
                }
                sni.push((pair, loaded));
            }
        }
        let sources = Sources {
            default_pair,
            default,
            sni_dir: sni_dir.map(Path::to_owned),
            sni,
            failed: HashMap::new(),
        };
        let resolved = resolve(&sources, true);
        Ok(Self {
            current: ArcSwap::from_pointee(resolved),
            sources: Mutex::new(sources),
            snapshot: OnceLock::new(),
        })
    }

    /// The certificate for a handshake naming `name`: the snapshot's for that name, else the
    /// files' (SNI pairs, then the default).
    fn pick(&self, name: Option<&str>) -> Arc<CertifiedKey> {
        if let Some(name) = name
            && let Some(state) = self.snapshot.get()
            && let Some(key) = state.served_certificate(name)
        {
            return key;
        }
        self.current.load().pick(name)
    }

    /// Serves the certificates of `state`'s snapshot first (see the module doc); the first call
    /// wins.
    pub fn follow_snapshot(&self, state: Arc<ProxyState>) {
        let _ = self.snapshot.set(state);
    }

    /// Whether anything can change on disk (a configured pair or an SNI directory).
    pub fn follows_files(&self) -> bool {
        let sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        sources.default_pair.is_some() || sources.sni_dir.is_some()
    }

    /// Loads what changed since the last check; `true` when the served set changed.
    pub fn check(&self) -> bool {
        let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        let sources = &mut *sources;
        let mut changed = false;
        if let Some(pair) = sources.default_pair.clone()
            && pair.stamp() != sources.default.stamp
            && let Some(loaded) = reload(&pair, &mut sources.failed)
        {
            tracing::info!(cert = %pair.cert.display(), "HTTPS certificate changed; new connections get the new one");
            sources.default = loaded;
            changed = true;
        }
        if let Some(dir) = sources.sni_dir.clone() {
            changed |= check_dir(&dir, sources);
        }
        if changed {
            self.current.store(Arc::new(resolve(sources, false)));
        }
        changed
    }

    /// Checks every [`CHECK_INTERVAL`] until `stop` turns true.
    pub async fn watch(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(CHECK_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
            let certs = self.clone();
            // File reads and key parsing off the runtime's threads.
            let _ = tokio::task::spawn_blocking(move || certs.check()).await;
        }
    }
}

/// Loads `pair` again; `None` (reported once per version) when it does not load.
fn reload(pair: &Pair, failed: &mut HashMap<Pair, [FileStamp; 2]>) -> Option<Loaded> {
    let stamp = pair.stamp();
    if failed.get(pair) == Some(&stamp) {
        return None;
    }
    match load(pair) {
        Ok(loaded) => {
            failed.remove(pair);
            Some(loaded)
        }
        Err(e) => {
            tracing::warn!(cert = %pair.cert.display(), key = %pair.key.display(), error = %e, "cannot load the changed certificate; the one in use keeps serving");
            failed.insert(pair.clone(), stamp);
            None
        }
    }
}

/// Follows the SNI directory: pairs added, changed or removed; `true` when the set changed.
fn check_dir(dir: &Path, sources: &mut Sources) -> bool {
    let pairs = match pairs_in(dir) {
        Ok(pairs) => pairs,
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot read the SNI certificate directory; the certificates in use keep serving");
            return false;
        }
    };
    let mut changed = false;
    let before = sources.sni.len();
    sources.sni.retain(|(pair, _)| {
        let kept = pairs.contains(pair);
        if !kept {
            tracing::info!(cert = %pair.cert.display(), "SNI certificate removed");
        }
        kept
    });
    changed |= sources.sni.len() != before;
    for pair in pairs {
        let index = sources.sni.iter().position(|(p, _)| *p == pair);
        let current = index.map(|i| &sources.sni[i].1);
        if current.is_some_and(|loaded| loaded.stamp == pair.stamp()) {
            continue;
        }
        let Some(loaded) = reload(&pair, &mut sources.failed) else {
            continue;
        };
        tracing::info!(cert = %pair.cert.display(), names = ?loaded.names, "SNI certificate loaded");
        match index {
            Some(i) => sources.sni[i].1 = loaded,
            None => sources.sni.push((pair, loaded)),
        }
        changed = true;
    }
    sources.sni.sort_by(|a, b| a.0.cmp(&b.0));
    changed
}

/// The lookup tables of `sources`; `report` logs names claimed twice.
fn resolve(sources: &Sources, report: bool) -> Resolved {
    let mut resolved = Resolved {
        default: sources.default.key.clone(),
        exact: HashMap::new(),
        wildcard: HashMap::new(),
    };
    for (pair, loaded) in &sources.sni {
        for name in &loaded.names {
            let (table, key) = match name.strip_prefix("*.") {
                Some(parent) => (&mut resolved.wildcard, parent),
                None => (&mut resolved.exact, name.as_str()),
            };
            if table.contains_key(key) {
                if report {
                    tracing::warn!(name, cert = %pair.cert.display(), "another SNI certificate already serves this name; this one is not used for it");
                }
                continue;
            }
            table.insert(key.to_owned(), loaded.key.clone());
        }
    }
    resolved
}

#[cfg(test)]
#[path = "https_certs_tests.rs"]
mod tests;
