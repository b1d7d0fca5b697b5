//! The TLS handshake of an accepted HTTPS connection.

use std::time::Duration;

use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// A connection whose TLS handshake completed, and whether the client chose HTTP/2 (ALPN
/// `h2`).
pub struct Accepted {
    pub stream: TlsStream<TcpStream>,
    pub h2: bool,
}

/// Completes the handshake within `timeout`; `None` (logged at debug) when it fails or times
/// out.
pub async fn accept(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
    timeout: Duration,
) -> Option<Accepted> {
    let stream = match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "TLS handshake failed");
            return None;
        }
        Err(_) => {
            tracing::debug!("TLS handshake timed out");
            return None;
        }
    };
    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
    Some(Accepted { stream, h2 })
}
