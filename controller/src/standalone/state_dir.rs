//! The state directory of standalone mode (`--state-dir`, default `.tollgate-state`): the
//! generated signing key (so tokens survive restarts), the self-signed TLS certificate, the kept
//! verifiers and incarnations, and the revocation store (so revocations survive restarts).

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::translate::{KeysError, SigningKeys};

/// File holding the generated signing key (standard base64 of 32 random bytes).
pub const SIGNING_KEY_FILE: &str = "signing-key";
/// Key id of the generated signing key.
pub const GENERATED_KEY_ID: &str = "standalone";
/// Self-signed certificate and key files.
pub const TLS_CERT_FILE: &str = "tls.crt";
pub const TLS_KEY_FILE: &str = "tls.key";
/// Sealed argon2id verifiers of the client secrets, so a restart does not hash them again
/// (see `translate::verifier_cache`).
pub const VERIFIER_CACHE_FILE: &str = "verifier-cache";
/// Incarnation counters of credentials and plugins (see `standalone::incarnations`).
pub const INCARNATIONS_FILE: &str = "incarnations.json";
/// The revocation store (`tollgate_core::revocation::encode`): revoked token ids with their
/// expiries, so a revocation survives restarts.
pub const REVOCATIONS_FILE: &str = "revocations";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("state directory {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("generating a signing key: {0}")]
    Random(getrandom::Error),
    #[error("{path} does not hold a base64 signing key of at least 32 bytes")]
    BadKeyFile { path: PathBuf },
    #[error("signing key: {0}")]
    Keys(#[from] KeysError),
    #[error("self-signed certificate: {0}")]
    Tls(#[from] tollgate_proxy::tls::Error),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The state directory, created (mode 0700) if missing.
#[derive(Clone, Debug)]
pub struct StateDir {
    dir: PathBuf,
}

impl StateDir {
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, Error> {
        let dir = dir.into();
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(&dir).map_err(io(&dir))?;
        Ok(Self { dir })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The generated signing key: read from the state directory, or generated once and stored
    /// there with mode 0600.
    pub fn signing_keys(&self) -> Result<SigningKeys, Error> {
        let path = self.dir.join(SIGNING_KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let material = STANDARD
                    .decode(text.trim())
                    .map_err(|_| Error::BadKeyFile { path: path.clone() })?;
                Ok(SigningKeys::single(GENERATED_KEY_ID, &material)
                    .map_err(|_| Error::BadKeyFile { path })?)
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let mut material = [0u8; 32];
                getrandom::getrandom(&mut material).map_err(Error::Random)?;
                write_private(&path, STANDARD.encode(material).as_bytes())?;
                tracing::info!(file = %path.display(), "generated a signing key; tokens survive restarts while this file is kept");
                Ok(SigningKeys::single(GENERATED_KEY_ID, &material)?)
            }
            Err(err) => Err(Error::Io { path, source: err }),
        }
    }

    /// Paths of the self-signed certificate and key, generated once.
    pub fn self_signed_tls(&self) -> Result<(PathBuf, PathBuf), Error> {
        let cert = self.dir.join(TLS_CERT_FILE);
        let key = self.dir.join(TLS_KEY_FILE);
        if !(cert.is_file() && key.is_file()) {
            tollgate_proxy::tls::write_self_signed(&cert, &key)?;
            tracing::info!(cert = %cert.display(), "generated a self-signed TLS certificate (trust it with curl --cacert)");
        }
        Ok((cert, key))
    }
}

impl StateDir {
    /// The kept verifiers of a previous run (`None` when there are none yet).
    pub fn read_verifier_cache(&self) -> Result<Option<Vec<u8>>, Error> {
        self.read_optional(VERIFIER_CACHE_FILE)
    }

    fn read_optional(&self, file: &str) -> Result<Option<Vec<u8>>, Error> {
        let path = self.dir.join(file);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(Error::Io { path, source }),
        }
    }

    /// Replaces the kept verifiers (mode 0600, atomically).
    pub fn write_verifier_cache(&self, bytes: &[u8]) -> Result<(), Error> {
        write_private(&self.dir.join(VERIFIER_CACHE_FILE), bytes)
    }

    /// The incarnation counters of a previous run (`None` when there are none yet).
    pub fn read_incarnations(&self) -> Result<Option<Vec<u8>>, Error> {
        self.read_optional(INCARNATIONS_FILE)
    }

    /// The revocation store of a previous run (`None` when there is none yet).
    pub fn read_revocations(&self) -> Result<Option<Vec<u8>>, Error> {
        self.read_optional(REVOCATIONS_FILE)
    }

    /// Replaces the revocation store (mode 0600, atomically).
    pub fn write_revocations(&self, bytes: &[u8]) -> Result<(), Error> {
        write_private(&self.dir.join(REVOCATIONS_FILE), bytes)
    }

    /// Replaces the incarnation counters (mode 0600, atomically).
    pub fn write_incarnations(&self, bytes: &[u8]) -> Result<(), Error> {
        write_private(&self.dir.join(INCARNATIONS_FILE), bytes)
    }
}

/// Writes a file readable only by its owner, atomically (temporary file, then rename).
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp).map_err(io(&tmp))?;
    file.write_all(bytes).map_err(io(&tmp))?;
    file.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let path =
            std::env::temp_dir().join(format!("tollgate-state-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        path
    }

    #[test]
    fn the_generated_signing_key_is_kept_private_and_reused() {
        let path = temp("key");
        let state = StateDir::open(&path).expect("open");
        let first = state.signing_keys().expect("generate");
        let second = StateDir::open(&path)
            .expect("reopen")
            .signing_keys()
            .expect("read");
        assert_eq!(first, second);
        assert_eq!(first.active(), GENERATED_KEY_ID);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path.join(SIGNING_KEY_FILE))
                .expect("metadata")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(&path).expect("cleanup");
    }

    #[test]
    fn a_corrupt_key_file_is_an_error_not_a_new_key() {
        let path = temp("corrupt");
        let state = StateDir::open(&path).expect("open");
        std::fs::write(path.join(SIGNING_KEY_FILE), "c2hvcnQ=").expect("write");
        assert!(matches!(
            state.signing_keys(),
            Err(Error::BadKeyFile { .. })
        ));
        std::fs::remove_dir_all(&path).expect("cleanup");
    }
}
