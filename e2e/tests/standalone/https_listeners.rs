//! Gateway HTTPS listeners in standalone mode, through the shipped binary: certificates from
//! `kubernetes.io/tls` Secrets (without the `tollgate.dev/secret` label, as cert-manager writes
//! them) served by SNI to real TLS clients, the state directory's certificate for any other
//! name; routes attached through an HTTP listener only are absent on the HTTPS port and the
//! reverse; a broken certificate Secret fails its own listener while the others keep serving;
//! and the credential's client Secret, unlabelled too, still read because it is named.

use std::sync::Arc;

use bytes::Bytes;
use http::Method;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tollgate_e2e::certs::{any_certificate_config, der_of};
use tollgate_e2e::client::{Response, read_pem_certs};
use tollgate_e2e::manifests::{self_signed as generate, tls_secret};
use tollgate_e2e::quickstart;
use tollgate_e2e::wait::{RELOAD, wait_until};

use super::support::{Fixture, Setup};

/// Our class; Gateway `edge` with an HTTP listener, an HTTPS listener without hostname naming
/// two certificate Secrets (each serves its certificate's names), and an HTTPS listener whose
/// Secret's key is another certificate's; the HTTPRoutes `plain` (through the HTTP listener
/// only) and `secure` (through the HTTPS one only) to the shared fixture's Service `httpbin`.
const GATEWAY: &str = "\
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: tollgate}
spec: {controllerName: tollgate.dev/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  gatewayClassName: tollgate
  listeners:
  - {name: http, protocol: HTTP, port: 80}
  - name: https
    protocol: HTTPS
    port: 443
    tls:
      mode: Terminate
      certificateRefs: [{name: cert-a}, {name: cert-b}]
  - name: broken
    protocol: HTTPS
    port: 443
    hostname: broken.example.test
    tls: {certificateRefs: [{name: cert-broken}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: plain}
spec:
  parentRefs: [{name: edge, sectionName: http}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /plain}}]
    filters:
    - type: URLRewrite
      urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /anything/plain}}
    backendRefs: [{name: httpbin, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: secure}
spec:
  parentRefs: [{name: edge, sectionName: https}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /secure}}]
    filters:
    - type: URLRewrite
      urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /anything/secure}}
    backendRefs: [{name: httpbin, port: 80}]
";

/// A client configuration trusting exactly `pem` (and checking the server name against it).
fn trusting(pem: &str) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_bytes()) {
        roots.add(cert.expect("pem")).expect("root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// A TLS handshake naming `name`: the server's leaf certificate (DER) and the stream.
async fn handshake(
    addr: &str,
    name: &str,
    config: rustls::ClientConfig,
) -> Result<(Vec<u8>, tokio_rustls::client::TlsStream<TcpStream>), String> {
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let server_name = ServerName::try_from(name.to_owned()).map_err(|e| e.to_string())?;
    let tls = connector
        .connect(server_name, stream)
        .await
        .map_err(|e| e.to_string())?;
    let leaf = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.to_vec())
        .ok_or("no certificate")?;
    Ok((leaf, tls))
}

/// `GET path` with `Host: name` over a TLS connection whose server name is `name`, verified
/// against `pem`: the status.
async fn get_verified(addr: &str, name: &str, pem: &str, path: &str) -> u16 {
    let (_, tls) = handshake(addr, name, trusting(pem))
        .await
        .expect("the certificate verifies for its name");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .expect("HTTP handshake");
    tokio::spawn(conn);
    let request = http::Request::get(path)
        .header("host", name)
        .body(Full::new(Bytes::new()))
        .expect("request");
    let response = sender.send_request(request).await.expect("response");
    let status = response.status().as_u16();
    let _ = response.into_body().collect().await;
    status
}

/// The shared fixture serving [`GATEWAY`] and its certificate Secrets.
struct Listeners {
    fx: Fixture,
    cert_a: (String, String),
    cert_b: (String, String),
}

impl Listeners {
    async fn start(name: &str, args: &[&str]) -> Self {
        // The token route stays; the catch-all upstream route would answer every path.
        let setup = Setup::new(name, &["httpbin"], None).await;
        // The client secret without the label: standalone mode reads it because it is named.
        setup
            .manifests
            .edit_object("Secret", "demo-client-secret", |secret| {
                if let Some(meta) = secret["metadata"].as_object_mut() {
                    meta.remove("labels");
                }
            })
            .expect("unlabel the client secret");
        let cert_a = generate(&["a.example.test"]);
        let cert_b = generate(&["b.example.test", "*.b.example.test"]);
        let broken = (generate(&["broken.example.test"]).0, cert_a.1.clone());
        let text = [
            GATEWAY.to_owned(),
            tls_secret("cert-a", &cert_a),
            tls_secret("cert-b", &cert_b),
            tls_secret("cert-broken", &broken),
        ]
        .join("---\n");
        let fx = setup.start(args, &[("gateway.yaml", &text)]).await;
        let listeners = Listeners { fx, cert_a, cert_b };
        let plain = listeners.http("/plain").await;
        assert_eq!(plain.status, 200, "{}", plain.describe());
        listeners
    }

    async fn http(&self, path: &str) -> Response {
        self.send(&self.fx.gateway.http_url(path)).await
    }

    /// Over HTTPS to `localhost` (the state directory's certificate), `Host: a.example.test`.
    async fn https(&self, path: &str) -> Response {
        self.send(&self.fx.gateway.https_url(path)).await
    }

    async fn send(&self, url: &str) -> Response {
        wait_until(RELOAD, &format!("GET {url}"), || async move {
            self.fx
                .client
                .send(
                    Method::GET,
                    url,
                    &[("host", "a.example.test")],
                    Bytes::new(),
                )
                .await
                .map_err(|e| e.to_string())
        })
        .await
        .expect("request completes")
    }
}

async fn https_listeners_serve_by_name(name: &str, args: &[&str]) {
    let listeners = Listeners::start(name, args).await;
    let fx = &listeners.fx;
    let addr = fx.gateway.https_addr();

    // Each name gets its certificate; any other name the state directory's.
    let default_pem = std::fs::read_to_string(fx.gateway.certificate_path().expect("cert path"))
        .expect("read the default certificate");
    let default = read_pem_certs(&fx.gateway.certificate_path().expect("cert path"))
        .expect("default certificate")[0]
        .to_vec();
    assert_eq!(default, der_of(&default_pem));
    let cases = [
        ("a.example.test", der_of(&listeners.cert_a.0)),
        ("b.example.test", der_of(&listeners.cert_b.0)),
        ("x.b.example.test", der_of(&listeners.cert_b.0)),
        ("unknown.example.test", default.clone()),
        ("broken.example.test", default.clone()),
    ];
    for (server_name, want) in cases {
        let (leaf, _) = handshake(&addr, server_name, any_certificate_config(&[]))
            .await
            .expect("handshake");
        assert!(leaf == want, "the certificate served for {server_name}");
    }
    // Real clients that trust only the Secret's certificate verify it for its names.
    assert_eq!(
        get_verified(&addr, "a.example.test", &listeners.cert_a.0, "/secure").await,
        200
    );
    assert_eq!(
        get_verified(&addr, "x.b.example.test", &listeners.cert_b.0, "/secure/y").await,
        200
    );
    assert!(
        handshake(&addr, "a.example.test", trusting(&listeners.cert_b.0))
            .await
            .is_err(),
        "another Secret's certificate does not verify for a.example.test"
    );

    // A route of the HTTP listener only is absent on the HTTPS port, and the reverse.
    let cases = [
        ("http", "/plain", 200, "/anything/plain"),
        ("http", "/secure", 404, ""),
        ("https", "/secure/x", 200, "/anything/secure/x"),
        ("https", "/plain", 404, ""),
    ];
    for (port, path, status, upstream_path) in cases {
        let response = if port == "http" {
            listeners.http(path).await
        } else {
            listeners.https(path).await
        };
        assert_eq!(
            response.status,
            status,
            "{port} {path}: {}",
            response.describe()
        );
        if status == 200 {
            let url = response.json()["url"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            assert!(url.ends_with(upstream_path), "{port} {path}: {url}");
        }
    }

    // The broken Secret fails its listener only, and says why without its key.
    let log = fx.log();
    let line = log
        .lines()
        .find(|l| l.contains("InvalidCertificateRef") && l.contains("listener broken"))
        .unwrap_or_else(|| panic!("the broken listener is reported:\n{log}"));
    assert!(
        line.contains("does not belong to the leaf certificate"),
        "{line}"
    );
    assert!(!log.contains("PRIVATE KEY"), "no key material in the log");

    // The unlabelled client Secret is read: the token endpoint answers with a token.
    let body = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}",
        quickstart::CLIENT_ID,
        quickstart::CLIENT_SECRET
    );
    let token = fx
        .client
        .send(
            Method::POST,
            &fx.gateway.token_url(),
            &[("content-type", "application/x-www-form-urlencoded")],
            Bytes::from(body),
        )
        .await
        .expect("token request completes");
    assert_eq!(token.status, 200, "{}", token.describe());
}

#[tokio::test]
async fn https_listeners_serve_their_secrets_certificates_by_name_on_the_fast_path() {
    https_listeners_serve_by_name("https-listeners-fast", &[]).await;
}

#[tokio::test]
async fn https_listeners_serve_their_secrets_certificates_by_name_on_hypers_path() {
    https_listeners_serve_by_name("https-listeners-hyper", &["--http1-fast-path", "false"]).await;
}
