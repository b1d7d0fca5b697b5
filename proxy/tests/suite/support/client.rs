//! Minimal clients: HTTP/1.1 over TCP, HTTP/1.1 or HTTP/2 over TLS (tokio-rustls, trusting
//! only the proxy's certificate), and raw bytes for malformed requests.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub type Reply = Response<Bytes>;

pub fn json(reply: &Reply) -> serde_json::Value {
    serde_json::from_slice(reply.body())
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(reply.body())))
}

async fn collect(response: Response<hyper::body::Incoming>) -> Reply {
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.expect("response body").to_bytes();
    Response::from_parts(parts, bytes)
}

/// Sends one request over a fresh HTTP/1.1 connection.
pub async fn send(addr: SocketAddr, request: Request<Full<Bytes>>) -> Reply {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    collect(sender.send_request(request).await.expect("send")).await
}

fn tls_config(cert_pem: &[u8], alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut &cert_pem[..]) {
        roots.add(cert.expect("cert")).expect("root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// Sends one request over TLS to `localhost`; HTTP/2 when `h2`, else HTTP/1.1.
pub async fn send_tls(
    addr: SocketAddr,
    cert_pem: &[u8],
    h2: bool,
    request: Request<Full<Bytes>>,
) -> Reply {
    let alpn: &[&[u8]] = if h2 { &[b"h2"] } else { &[b"http/1.1"] };
    let connector = tokio_rustls::TlsConnector::from(tls_config(cert_pem, alpn));
    let stream = TcpStream::connect(addr).await.expect("connect");
    let name = ServerName::try_from("localhost").expect("name");
    let tls = connector
        .connect(name, stream)
        .await
        .expect("TLS handshake");
    assert_eq!(
        tls.get_ref().1.alpn_protocol(),
        Some(alpn[0]),
        "negotiated ALPN"
    );
    if h2 {
        let (mut sender, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
                .await
                .expect("h2 handshake");
        tokio::spawn(conn);
        collect(sender.send_request(request).await.expect("send")).await
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .expect("handshake");
        tokio::spawn(conn);
        collect(sender.send_request(request).await.expect("send")).await
    }
}

/// Writes raw bytes and reads until the server closes or `limit` bytes arrived.
pub async fn raw(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(bytes).await.expect("write");
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                if out.len() > 64 * 1024 {
                    break;
                }
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn get(uri: &str) -> http::request::Builder {
    Request::builder().method("GET").uri(uri)
}

pub fn empty() -> Full<Bytes> {
    Full::new(Bytes::new())
}

pub fn form(body: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .method("POST")
        .uri("/auth/oauth2/token")
        .header("host", "localhost")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("request")
}
