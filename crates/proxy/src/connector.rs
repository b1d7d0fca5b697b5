//! The upstream connector: TCP for `http` backends, TCP + rustls (ring, HTTP/1.1, the system's
//! CA bundle, SNI = the endpoint host) for `https` backends.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use http::Uri;
use http::uri::Scheme;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Where the system keeps its CA bundle (Debian/Ubuntu, RHEL/Fedora, Alpine, openSUSE).
const CA_BUNDLES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
    "/etc/ssl/ca-bundle.pem",
];

fn load_roots() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    let explicit = std::env::var("SSL_CERT_FILE").ok();
    let paths = explicit.iter().map(String::as_str).chain(CA_BUNDLES);
    for path in paths {
        let Ok(pem) = std::fs::read(path) else {
            continue;
        };
        let mut reader = pem.as_slice();
        let certs: Vec<_> = rustls_pemfile::certs(&mut reader)
            .filter_map(Result::ok)
            .collect();
        let (added, _) = roots.add_parsable_certificates(certs);
        if added > 0 {
            break;
        }
    }
    if roots.is_empty() {
        tracing::warn!("no CA bundle found: https backends will fail verification");
    }
    roots
}

/// The client TLS configuration, built once per process.
pub fn client_tls() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let builder = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions();
            let mut config = match builder {
                Ok(b) => b.with_root_certificates(load_roots()).with_no_client_auth(),
                Err(_) => rustls::ClientConfig::builder()
                    .with_root_certificates(load_roots())
                    .with_no_client_auth(),
            };
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Arc::new(config)
        })
        .clone()
}

/// Connects plain TCP or TLS depending on the URI scheme.
#[derive(Clone)]
pub struct Connector {
    http: HttpConnector,
    tls: TlsConnector,
}

impl Connector {
    pub fn new(mut http: HttpConnector, tls: Arc<rustls::ClientConfig>) -> Self {
        http.enforce_http(false);
        Self {
            http,
            tls: TlsConnector::from(tls),
        }
    }
}

impl tower_service::Service<Uri> for Connector {
    type Response = MaybeTls;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<MaybeTls, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        tower_service::Service::<Uri>::poll_ready(&mut self.http, cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let https = uri.scheme() == Some(&Scheme::HTTPS);
        let host = uri
            .host()
            .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_owned());
        let connecting = tower_service::Service::<Uri>::call(&mut self.http, uri);
        let tls = self.tls.clone();
        Box::pin(async move {
            let tcp = connecting.await?;
            if !https {
                return Ok(MaybeTls::Plain(tcp));
            }
            let host = host.ok_or("https backend without a host")?;
            let name = ServerName::try_from(host)?;
            let stream = tls.connect(name, tcp.into_inner()).await?;
            Ok(MaybeTls::Tls(Box::new(TokioIo::new(stream))))
        })
    }
}

/// A plain or TLS upstream connection.
pub enum MaybeTls {
    Plain(TokioIo<TcpStream>),
    Tls(Box<TokioIo<TlsStream<TcpStream>>>),
}

impl Connection for MaybeTls {
    fn connected(&self) -> Connected {
        match self {
            Self::Plain(tcp) => tcp.connected(),
            Self::Tls(tls) => tls.inner().get_ref().0.connected(),
        }
    }
}

impl Read for MaybeTls {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
        }
    }
}

impl Write for MaybeTls {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(&mut **s).poll_shutdown(cx),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(s) => s.is_write_vectored(),
            Self::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Self::Tls(s) => Pin::new(&mut **s).poll_write_vectored(cx, bufs),
        }
    }
}
