//! Certificates for the HTTPS tests, shared by the end-to-end suites and the proxy's own unit
//! tests (a dev-dependency of `tollgate-proxy`): self-signed pairs, and a Secret volume written
//! the way the kubelet writes one.

use std::path::{Path, PathBuf};

/// A new self-signed certificate for `names`: (certificate PEM, key PEM).
pub fn generate(names: &[&str]) -> (String, String) {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let generated = rcgen::generate_simple_self_signed(names).expect("generate");
    (generated.cert.pem(), generated.key_pair.serialize_pem())
}

/// The DER of the first certificate in `pem`.
pub fn der_of(pem: &str) -> Vec<u8> {
    rustls_pemfile::certs(&mut pem.as_bytes())
        .next()
        .expect("a certificate")
        .expect("pem")
        .to_vec()
}

/// A Secret volume as the kubelet writes it: `tls.crt -> ..data/tls.crt`, `..data ->
/// ..<version>`, a new version written beside the old one and `..data` swapped by a rename.
#[derive(Debug)]
pub struct SecretVolume {
    dir: PathBuf,
    version: u32,
}

impl SecretVolume {
    /// A volume in `dir` holding `pair` (certificate PEM, key PEM).
    pub fn new(dir: &Path, pair: &(String, String)) -> Self {
        std::fs::create_dir_all(dir).expect("volume");
        let mut volume = SecretVolume {
            dir: dir.to_owned(),
            version: 0,
        };
        volume.update(pair);
        for file in ["tls.crt", "tls.key"] {
            std::os::unix::fs::symlink(format!("..data/{file}"), dir.join(file)).expect("link");
        }
        volume
    }

    /// Writes `pair` as a new version and swaps `..data` to it in one rename.
    pub fn update(&mut self, (cert, key): &(String, String)) {
        self.version += 1;
        let name = format!("..2026_12_05_v{}", self.version);
        let target = self.dir.join(&name);
        std::fs::create_dir_all(&target).expect("version dir");
        std::fs::write(target.join("tls.crt"), cert).expect("cert");
        std::fs::write(target.join("tls.key"), key).expect("key");
        let tmp = self.dir.join("..data_tmp");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&name, &tmp).expect("tmp link");
        std::fs::rename(&tmp, self.dir.join("..data")).expect("swap");
    }

    /// `tls.crt` of the volume (a link through `..data`).
    pub fn cert(&self) -> PathBuf {
        self.dir.join("tls.crt")
    }

    /// `tls.key` of the volume.
    pub fn key(&self) -> PathBuf {
        self.dir.join("tls.key")
    }
}

/// A client configuration that accepts any server certificate (the handshake's signature is
/// still checked): for asking which certificate a server presents for a name, including names
/// it does not cover. `alpn` is offered as given.
pub fn any_certificate_config(alpn: &[&[u8]]) -> rustls::ClientConfig {
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use std::sync::Arc;

    #[derive(Debug)]
    struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);
    impl ServerCertVerifier for AnyCertificate {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            let algorithms = &self.0.signature_verification_algorithms;
            rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
        }
        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            let algorithms = &self.0.signature_verification_algorithms;
            rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("the ring provider supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}

/// The leaf certificate (DER) a TLS server at `addr` presents for the server name `name` (an IP
/// address sends no SNI).
pub async fn served_leaf(addr: &str, name: &str) -> Result<Vec<u8>, String> {
    let connector =
        tokio_rustls::TlsConnector::from(std::sync::Arc::new(any_certificate_config(&[])));
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let server_name =
        rustls::pki_types::ServerName::try_from(name.to_owned()).map_err(|e| e.to_string())?;
    let tls = connector
        .connect(server_name, stream)
        .await
        .map_err(|e| e.to_string())?;
    tls.get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.to_vec())
        .ok_or_else(|| "no certificate".to_owned())
}
