//! The upstream connector: TCP for `http` backends, TCP + rustls (ring, HTTP/1.1, the system's
//! CA bundle, SNI = the endpoint host) for `https` backends. Every address a backend host
//! resolves to is judged by the backend address policy ([`AddressPolicy`]) before it is
//! connected to, and the connection once open, so a DNS name cannot lead the proxy to an address
//! the policy refuses; both upstream clients open their connections here.

use std::io;
use std::net::SocketAddr;
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
use tollgate_core::address::{AddressPolicy, Refusal};

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
    #[error("{authority} resolves to {address}, {refusal}: refused by the backend address policy")]
    Refused {
        authority: String,
        address: SocketAddr,
        refusal: Refusal,
    },
}

impl ConnectError {
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::TimedOut { .. })
            || matches!(self, Self::Tcp { source, .. } | Self::Tls { source, .. }
                if source.kind() == io::ErrorKind::TimedOut)
    }
}

/// Opens a TCP connection (`TCP_NODELAY`) to `authority` within `timeout`. Names are resolved
/// with the system resolver; each resolved address the policy allows is tried in turn. When
/// every address is refused, the error is [`ConnectError::Refused`] naming the first.
pub async fn connect_tcp(
    authority: &Authority,
    default_port: u16,
    timeout: Duration,
    policy: &AddressPolicy,
) -> Result<TcpStream, ConnectError> {
    let named = || authority.as_str().to_owned();
    match tokio::time::timeout(timeout, connect_allowed(authority, default_port, policy)).await {
        Ok(Ok(tcp)) => {
            let _ = tcp.set_nodelay(true);
            Ok(tcp)
        }
        Ok(Err(Failure::Io(source))) => Err(ConnectError::Tcp {
            authority: named(),
            source,
        }),
        Ok(Err(Failure::Refused(address, refusal))) => Err(ConnectError::Refused {
            authority: named(),
            address,
            refusal,
        }),
        Err(_) => Err(ConnectError::TimedOut { authority: named() }),
    }
}

enum Failure {
    Io(io::Error),
    Refused(SocketAddr, Refusal),
}

async fn connect_allowed(
    authority: &Authority,
    default_port: u16,
    policy: &AddressPolicy,
) -> Result<TcpStream, Failure> {
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = authority.port_u16().unwrap_or(default_port);
    // A literal address is parsed without the resolver; a name goes to the system resolver
    // (which also reads `2130706433` or `0x7f.1` as IPv4: the addresses are judged, not names).
    let addrs = tokio::net::lookup_host((host, port))
        .await
        .map_err(Failure::Io)?;
    let mut refused = None;
    let mut last_error = None;
    for addr in addrs {
        if let Err(refusal) = policy.judge(addr) {
            tracing::debug!(host, %addr, reason = refusal.as_str(), "skipping a refused backend address");
            refused.get_or_insert((addr, refusal));
            continue;
        }
        let tcp = match TcpStream::connect(addr).await {
            Ok(tcp) => tcp,
            Err(e) => {
                last_error = Some(e);
                continue;
            }
        };
        // The connection stayed on this host (one of its own addresses, which only the kernel
        // knows): it must not be one of the proxy's listeners.
        if let (Ok(local), Ok(peer)) = (tcp.local_addr(), tcp.peer_addr())
            && let Err(refusal) = policy.judge_connected(local, peer)
        {
            refused.get_or_insert((peer, refusal));
            continue;
        }
        return Ok(tcp);
    }
    match (last_error, refused) {
        (Some(e), _) => Err(Failure::Io(e)),
        (None, Some((addr, refusal))) => Err(Failure::Refused(addr, refusal)),
        (None, None) => Err(Failure::Io(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{host} resolved to no address"),
        ))),
    }
}

/// [`connect_tcp`], then a TLS session (SNI = the host) for `https` backends.
pub async fn connect(
    authority: &Authority,
    https: bool,
    timeout: Duration,
    tls: &TlsConnector,
    policy: &AddressPolicy,
) -> Result<MaybeTls, ConnectError> {
    let tcp = connect_tcp(authority, if https { 443 } else { 80 }, timeout, policy).await?;
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
