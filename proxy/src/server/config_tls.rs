//! TLS of the config channel: the certificate and key files given with `--config-tls-cert` and
//! `--config-tls-key`, read again when they change (a renewed Secret's files are swapped in by
//! the kubelet), so a rotated certificate needs no restart. A change is looked for at most once
//! a second, when a connection arrives; files that do not load (half written, mismatched) leave
//! the last good certificate in use.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use crate::tls;

/// How often the files are looked at, at most.
const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// What identifies a version of the files: their modification times and sizes.
type Stamp = Option<[(SystemTime, u64); 2]>;

fn stamp(cert: &Path, key: &Path) -> Stamp {
    let of = |path: &Path| {
        let meta = std::fs::metadata(path).ok()?;
        Some((meta.modified().ok()?, meta.len()))
    };
    Some([of(cert)?, of(key)?])
}

fn load(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, tls::Error> {
    let config = tls::server_config(tls::load_pem_files(cert, key)?)?;
    let mut config = (*config).clone();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

struct Current {
    acceptor: TlsAcceptor,
    stamp: Stamp,
    checked: Instant,
}

/// The config channel's certificate, followed on disk.
pub struct ReloadingTls {
    cert: PathBuf,
    key: PathBuf,
    current: Mutex<Current>,
}

impl std::fmt::Debug for ReloadingTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadingTls")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl ReloadingTls {
    /// Loads the files; fails when they do not hold a certificate and its key.
    pub fn load(cert: &Path, key: &Path) -> Result<Self, tls::Error> {
        let stamp = stamp(cert, key);
        let config = load(cert, key)?;
        Ok(Self {
            cert: cert.to_owned(),
            key: key.to_owned(),
            current: Mutex::new(Current {
                acceptor: TlsAcceptor::from(config),
                stamp,
                checked: Instant::now(),
            }),
        })
    }

    /// The acceptor for a new connection, with the files read again first when they changed.
    pub fn acceptor(&self) -> TlsAcceptor {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if current.checked.elapsed() >= CHECK_INTERVAL {
            current.checked = Instant::now();
            let now = stamp(&self.cert, &self.key);
            if now != current.stamp {
                match load(&self.cert, &self.key) {
                    Ok(config) => {
                        tracing::info!(cert = %self.cert.display(), "config channel certificate changed; using the new one");
                        current.acceptor = TlsAcceptor::from(config);
                        current.stamp = now;
                    }
                    Err(e) => {
                        // Not remembered as seen: tried again at the next check.
                        tracing::warn!(cert = %self.cert.display(), error = %e, "cannot load the changed config channel certificate; keeping the one in use");
                    }
                }
            }
        }
        current.acceptor.clone()
    }
}
