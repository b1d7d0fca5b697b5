//! Certificates and listener bindings of the snapshot, through the real proxy: the HTTPS
//! listener answers each TLS server name with the snapshot's certificate for it (exact name,
//! then the longest wildcard) and falls back to its file certificate; a snapshot with an
//! unusable certificate is refused whole; a route bound to one port is absent on the other, on
//! the HTTP/1 fast path, hyper's path and HTTP/2 alike.

use crate::hostile_support::Recorder;
use crate::support;

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use support::client::{self, Reply, json};
use support::{RunningProxy, SnapshotBuilder, backend};
use tokio::net::TcpStream;
use tollgate_core::snapshot::{KeyPem, ListenerPort, Route, ServedCertificate, Snapshot};

/// A self-signed certificate for `names`: (certificate PEM, key PEM).
fn generate(names: &[&str]) -> (String, String) {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let generated = rcgen::generate_simple_self_signed(names).expect("generate");
    (generated.cert.pem(), generated.key_pair.serialize_pem())
}

fn served(source: &str, hosts: &[&str], (chain, key): &(String, String)) -> ServedCertificate {
    ServedCertificate {
        hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
        chain_pem: chain.clone(),
        key_pem: KeyPem::new(key.clone()),
        source: source.into(),
    }
}

fn der_of(pem: &[u8]) -> Vec<u8> {
    rustls_pemfile::certs(&mut &pem[..])
        .next()
        .expect("a certificate")
        .expect("pem")
        .to_vec()
}

/// Accepts any server certificate: the test compares the leaf itself.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The leaf certificate (DER) the proxy presents to a client naming `name` (the handshake
/// proves the server holds its key).
async fn leaf_for(addr: SocketAddr, name: &str) -> Vec<u8> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let stream = TcpStream::connect(addr).await.expect("connect");
    let server_name = ServerName::try_from(name.to_owned()).expect("name");
    let tls = connector
        .connect(server_name, stream)
        .await
        .expect("TLS handshake");
    tls.get_ref().1.peer_certificates().expect("a certificate")[0].to_vec()
}

#[tokio::test]
async fn each_server_name_gets_its_certificate_and_others_the_default() {
    let exact = generate(&["a.example.test"]);
    let wide = generate(&["*.example.test"]);
    let narrow = generate(&["*.b.example.test"]);
    let snapshot = SnapshotBuilder::quickstart()
        .with(|s| {
            s.certificates = vec![
                served("Secret web/a", &["a.example.test"], &exact),
                served("Secret web/b", &["*.b.example.test"], &narrow),
                served("Secret web/wide", &["*.example.test"], &wide),
            ];
        })
        .build();
    let proxy = RunningProxy::start(Some(snapshot)).await;
    let default = der_of(&proxy.cert_pem);
    let cases = [
        ("a.example.test", der_of(exact.0.as_bytes()), "exact"),
        ("A.Example.Test", der_of(exact.0.as_bytes()), "any case"),
        (
            "x.b.example.test",
            der_of(narrow.0.as_bytes()),
            "longest wildcard",
        ),
        (
            "y.x.b.example.test",
            der_of(narrow.0.as_bytes()),
            "several labels",
        ),
        (
            "c.example.test",
            der_of(wide.0.as_bytes()),
            "shorter wildcard",
        ),
        ("example.test", default.clone(), "a wildcard needs a label"),
        ("localhost", default.clone(), "the file certificate"),
    ];
    for (name, want, what) in cases {
        assert!(leaf_for(proxy.https, name).await == want, "{what}: {name}");
    }

    // A new snapshot's certificates serve new handshakes.
    let renewed = generate(&["a.example.test"]);
    let snapshot = SnapshotBuilder::quickstart()
        .with(|s| s.certificates = vec![served("Secret web/a", &["a.example.test"], &renewed)])
        .build();
    proxy.state.apply(snapshot).expect("renewed");
    assert!(leaf_for(proxy.https, "a.example.test").await == der_of(renewed.0.as_bytes()));
    assert!(leaf_for(proxy.https, "c.example.test").await == default);
    proxy.stop().await;
}

#[tokio::test]
async fn a_snapshot_with_an_unusable_certificate_changes_nothing() {
    let good = generate(&["a.example.test"]);
    let snapshot = SnapshotBuilder::quickstart()
        .with(|s| s.certificates = vec![served("Secret web/a", &["a.example.test"], &good)])
        .build();
    let proxy = RunningProxy::start(Some(snapshot)).await;
    let mismatched = (generate(&["b.example.test"]).0, good.1.clone());
    let bad = SnapshotBuilder::quickstart()
        .with(|s| {
            s.certificates = vec![
                served(
                    "Secret web/a",
                    &["a.example.test"],
                    &generate(&["a.example.test"]),
                ),
                served("Secret web/b", &["b.example.test"], &mismatched),
            ];
        })
        .build();
    let errors = proxy.state.apply(bad).expect_err("refused");
    assert!(
        errors
            .iter()
            .any(|e| e.contains("Secret web/b") && e.contains("does not belong")),
        "{errors:?}"
    );
    assert!(
        errors.iter().all(|e| !e.contains("PRIVATE")),
        "no key material in errors: {errors:?}"
    );
    assert!(
        leaf_for(proxy.https, "a.example.test").await == der_of(good.0.as_bytes()),
        "the snapshot before keeps serving"
    );
    proxy.stop().await;
}

fn bound(id: &str, path: &str, listener: Option<ListenerPort>, upstream: SocketAddr) -> Route {
    Route {
        id: format!("httproute/gw/{id}"),
        paths: vec![path.into()],
        backend: Some(backend(&[upstream])),
        listener,
        ..Route::default()
    }
}

fn tag(reply: &Reply) -> String {
    if reply.status() == http::StatusCode::OK {
        json(reply)["upstream"].as_str().unwrap_or("?").to_owned()
    } else {
        reply.status().as_u16().to_string()
    }
}

#[tokio::test]
async fn a_route_bound_to_one_port_is_absent_on_the_other_on_every_path() {
    let (plain, secure, both) = (
        Recorder::start("plain").await,
        Recorder::start("secure").await,
        Recorder::start("both").await,
    );
    let routes = vec![
        bound("plain", "/app", Some(ListenerPort::Http), plain.addr),
        bound(
            "secure",
            "/app/secure",
            Some(ListenerPort::Https),
            secure.addr,
        ),
        bound(
            "secure-only",
            "/tls-only",
            Some(ListenerPort::Https),
            secure.addr,
        ),
        bound("both", "/shared", None, both.addr),
    ];
    let request = |path: &str| {
        client::get(path)
            .header("host", "gw.example.com")
            .body(client::empty())
            .expect("request")
    };
    for fast_path in [true, false] {
        let snapshot: Snapshot = SnapshotBuilder::quickstart()
            .with(|s| s.routes.extend(routes.clone()))
            .build();
        let proxy =
            RunningProxy::start_with(Some(snapshot), |o| o.http1_fast_path = fast_path).await;
        let plain_cases = [
            ("/app/x", "plain"),
            ("/app/secure/x", "plain"),
            ("/tls-only", "404"),
            ("/shared", "both"),
        ];
        for (path, want) in plain_cases {
            let reply = client::send(proxy.http, request(path)).await;
            assert_eq!(tag(&reply), want, "HTTP, fast path {fast_path}: {path}");
        }
        let tls_cases = [
            ("/app/x", "404"),
            ("/app/secure/x", "secure"),
            ("/tls-only", "secure"),
            ("/shared", "both"),
        ];
        for h2 in [false, true] {
            for (path, want) in tls_cases {
                let reply = client::send_tls(proxy.https, &proxy.cert_pem, h2, request(path)).await;
                assert_eq!(
                    tag(&reply),
                    want,
                    "HTTPS, h2 {h2}, fast path {fast_path}: {path}"
                );
            }
        }
        proxy.stop().await;
    }
}
