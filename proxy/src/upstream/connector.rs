//! The upstream connector: TCP for `http` backends, TCP + rustls (ring, HTTP/1.1, the system's
//! CA bundle, SNI = the endpoint host) for `https` backends.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use http::uri::Authority;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

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

/// Why an upstream connection could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("connecting to {authority}: {source}")]
    Tcp {
        authority: String,
        source: io::Error,
    },
    #[error("connecting to {authority}: timed out")]
    TimedOut { authority: String },
    #[error("TLS with {authority}: {source}")]
    Tls {
        authority: String,
        source: io::Error,
    },
    #[error("{authority} is not a valid TLS server name")]
    ServerName { authority: String },
}

impl ConnectError {
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::TimedOut { .. })
            || matches!(self, Self::Tcp { source, .. } | Self::Tls { source, .. }
                if source.kind() == io::ErrorKind::TimedOut)
    }
}

/// Opens a TCP connection (`TCP_NODELAY`) to `authority` within `timeout`. Names are resolved
/// with the system resolver; each address is tried in turn.
pub async fn connect_tcp(
    authority: &Authority,
    default_port: u16,
    timeout: Duration,
) -> Result<TcpStream, ConnectError> {
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = authority.port_u16().unwrap_or(default_port);
    let named = || authority.as_str().to_owned();
    let tcp = match tokio::time::timeout(timeout, TcpStream::connect((host, port))).await {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(source)) => {
            return Err(ConnectError::Tcp {
                authority: named(),
                source,
            });
        }
        Err(_) => return Err(ConnectError::TimedOut { authority: named() }),
    };
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}

/// [`connect_tcp`], then a TLS session (SNI = the host) for `https` backends.
pub async fn connect(
    authority: &Authority,
    https: bool,
    timeout: Duration,
    tls: &TlsConnector,
) -> Result<MaybeTls, ConnectError> {
    let tcp = connect_tcp(authority, if https { 443 } else { 80 }, timeout).await?;
    if !https {
        return Ok(MaybeTls::Plain(TokioIo::new(tcp)));
    }
    let named = || authority.as_str().to_owned();
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let name = ServerName::try_from(host.to_owned())
        .map_err(|_| ConnectError::ServerName { authority: named() })?;
    let stream = tls
        .connect(name, tcp)
        .await
        .map_err(|source| ConnectError::Tls {
            authority: named(),
            source,
        })?;
    Ok(MaybeTls::Tls(Box::new(TokioIo::new(stream))))
}

/// A plain or TLS upstream connection.
pub enum MaybeTls {
    Plain(TokioIo<TcpStream>),
    Tls(Box<TokioIo<TlsStream<TcpStream>>>),
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
