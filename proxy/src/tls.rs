//! TLS for the HTTPS listener: rustls with the `ring` provider, ALPN `h2` and `http/1.1`, a
//! configured PEM certificate and key used as given, or a self-signed certificate for
//! `localhost`, `127.0.0.1`, `::1` and this machine's host name.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: PathBuf },
    #[error("{path} holds no PEM private key")]
    NoPrivateKey { path: PathBuf },
    #[error("generating a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("building the TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// A certificate chain and its private key, in DER. `Debug` never prints the key.
pub struct CertifiedKey {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl std::fmt::Debug for CertifiedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertifiedKey")
            .field("chain_len", &self.chain.len())
            .field("key", &"<redacted>")
            .finish()
    }
}

/// The names a generated certificate is valid for.
pub(crate) fn self_signed_names() -> Vec<String> {
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if let Some(host) = host_name()
        && !names.contains(&host)
    {
        names.push(host);
    }
    names
}

fn host_name() -> Option<String> {
    let from_env = std::env::var("HOSTNAME").ok();
    let name = from_env.or_else(|| std::fs::read_to_string("/etc/hostname").ok())?;
    let name = name.trim();
    let valid = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    valid.then(|| name.to_ascii_lowercase())
}

/// Generates a self-signed certificate; returns `(certificate PEM, private key PEM)`.
pub(crate) fn generate_self_signed_pem() -> Result<(String, String), Error> {
    let generated = rcgen::generate_simple_self_signed(self_signed_names())?;
    Ok((generated.cert.pem(), generated.key_pair.serialize_pem()))
}

/// Generates a self-signed certificate and writes it to `cert_path` and `key_path` (the key
/// file is created with mode 0600), so that `curl --cacert <cert_path>` trusts the listener.
pub fn write_self_signed(cert_path: &Path, key_path: &Path) -> Result<(), Error> {
    let (cert_pem, key_pem) = generate_self_signed_pem()?;
    write_private(key_path, key_pem.as_bytes())?;
    std::fs::write(cert_path, cert_pem).map_err(|source| Error::Write {
        path: cert_path.to_owned(),
        source,
    })
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let wrap = |source| Error::Write {
        path: path.to_owned(),
        source,
    };
    let mut file = options.open(path).map_err(wrap)?;
    file.write_all(bytes).map_err(wrap)
}

/// Loads a PEM certificate chain and private key from files.
pub fn load_pem_files(cert_path: &Path, key_path: &Path) -> Result<CertifiedKey, Error> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })
    };
    let cert_pem = read(cert_path)?;
    let key_pem = read(key_path)?;
    let chain = rustls_pemfile::certs(&mut BufReader::new(cert_pem.as_slice()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| Error::Read {
            path: cert_path.to_owned(),
            source,
        })?;
    if chain.is_empty() {
        return Err(Error::NoCertificate {
            path: cert_path.to_owned(),
        });
    }
    let key = rustls_pemfile::private_key(&mut BufReader::new(key_pem.as_slice()))
        .map_err(|source| Error::Read {
            path: key_path.to_owned(),
            source,
        })?
        .ok_or_else(|| Error::NoPrivateKey {
            path: key_path.to_owned(),
        })?;
    Ok(CertifiedKey { chain, key })
}

/// Generates an in-memory self-signed certificate.
pub(crate) fn self_signed() -> Result<CertifiedKey, Error> {
    let generated = rcgen::generate_simple_self_signed(self_signed_names())?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(generated.key_pair.serialize_der()));
    Ok(CertifiedKey {
        chain: vec![generated.cert.der().clone()],
        key,
    })
}

/// The rustls server configuration of the HTTPS listener.
pub fn server_config(certified: CertifiedKey) -> Result<Arc<ServerConfig>, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certified.chain, certified.key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The rustls server configuration of the HTTPS listener, its certificate chosen per handshake
/// by `resolver` (SNI, reloaded files).
pub(crate) fn server_config_with_resolver(
    resolver: Arc<dyn rustls::server::ResolvesServerCert>,
) -> Result<Arc<ServerConfig>, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A client configuration trusting exactly the CAs in a PEM bundle (for `https` backends with a
/// private CA).
pub(crate) fn client_config_from_ca_file(path: &Path) -> Result<Arc<rustls::ClientConfig>, Error> {
    let pem = std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        let cert = cert.map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
        roots.add(cert)?;
    }
    if roots.is_empty() {
        return Err(Error::NoCertificate {
            path: path.to_owned(),
        });
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_certificate_names_localhost_and_loopback() {
        let names = self_signed_names();
        assert!(names.iter().any(|n| n == "localhost"));
        assert!(names.iter().any(|n| n == "127.0.0.1"));
    }

    #[test]
    fn written_self_signed_pair_loads_back_and_builds_a_config_with_alpn() {
        let dir = std::env::temp_dir().join(format!("tollgate-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let (cert, key) = (dir.join("tls.crt"), dir.join("tls.key"));
        write_self_signed(&cert, &key).expect("write");
        let loaded = load_pem_files(&cert, &key).expect("load");
        assert_eq!(loaded.chain.len(), 1);
        assert!(!format!("{loaded:?}").contains("BEGIN"));
        let config = server_config(loaded).expect("config");
        assert_eq!(
            config.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn a_key_file_without_a_key_is_refused() {
        let dir = std::env::temp_dir().join(format!("tollgate-tls-nokey-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let (cert, key) = (dir.join("tls.crt"), dir.join("tls.key"));
        write_self_signed(&cert, &key).expect("write");
        std::fs::write(&key, "not a key").expect("overwrite");
        let err = load_pem_files(&cert, &key).expect_err("no key");
        assert!(matches!(err, Error::NoPrivateKey { .. }), "{err}");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
