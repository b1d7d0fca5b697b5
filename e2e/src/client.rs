//! An HTTP client over real sockets: HTTP/1.1 or HTTP/2, plain or TLS (tokio-rustls with the
//! ring provider), trusting exactly the certificates it is given. One connection per request,
//! so each exchange is independent of the previous one.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri, Version, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;

use crate::Error;

/// A response read to its end.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Response {
    /// The first value of header `name`, if it is valid text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Every value of header `name`.
    pub fn header_all(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON, or `Value::Null` when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// A one-line description for assertion messages.
    pub fn describe(&self) -> String {
        format!("{} {:?} {}", self.status, self.headers, self.text())
    }
}

#[derive(Clone)]
pub struct Client {
    tls: Arc<rustls::ClientConfig>,
    http2: bool,
    timeout: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("http2", &self.http2)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client that trusts the given DER certificates (and nothing else) for HTTPS.
    pub fn trusting(certs: Vec<CertificateDer<'static>>) -> Result<Self, Error> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in certs {
            roots.add(cert).map_err(|e| Error::Tls(e.to_string()))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Tls(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Client {
            tls: Arc::new(config),
            http2: false,
            timeout: Duration::from_secs(15),
        })
    }

    /// A client for plain HTTP only (HTTPS requests fail certificate verification).
    pub fn plain() -> Result<Self, Error> {
        Self::trusting(Vec::new())
    }

    /// A client that trusts the PEM certificates in `path`.
    pub fn trusting_pem_file(path: &Path) -> Result<Self, Error> {
        Self::trusting(read_pem_certs(path)?)
    }

    /// Speak HTTP/2: negotiated with ALPN over TLS, prior knowledge over plain TCP.
    pub fn http2(mut self) -> Self {
        self.http2 = true;
        let mut config = (*self.tls).clone();
        config.alpn_protocols = vec![b"h2".to_vec()];
        self.tls = Arc::new(config);
        self
    }

    pub async fn get(&self, url: &str) -> Result<Response, Error> {
        self.send(Method::GET, url, &[], Bytes::new()).await
    }

    /// POST an `application/x-www-form-urlencoded` body.
    pub async fn post_form(&self, url: &str, fields: &[(&str, &str)]) -> Result<Response, Error> {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let headers = [("content-type", "application/x-www-form-urlencoded")];
        self.send(Method::POST, url, &headers, Bytes::from(body))
            .await
    }

    /// POST an `application/json` body.
    pub async fn post_json(&self, url: &str, value: &serde_json::Value) -> Result<Response, Error> {
        let headers = [("content-type", "application/json")];
        self.send(Method::POST, url, &headers, Bytes::from(value.to_string()))
            .await
    }

    /// Sends one request on a new connection and reads the whole response.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<Response, Error> {
        let exchange = self.exchange(method, url, headers, body);
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| Error::Http {
                url: url.to_owned(),
                reason: format!("no complete response within {:?}", self.timeout),
            })?
    }

    async fn exchange(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<Response, Error> {
        let target = Target::parse(url)?;
        let http_err = |reason: String| Error::Http {
            url: url.to_owned(),
            reason,
        };
        let mut builder = Request::builder().method(method);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let tcp = TcpStream::connect(&target.connect)
            .await
            .map_err(|source| Error::Connect {
                addr: target.connect.clone(),
                source,
            })?;
        if target.https {
            let name = ServerName::try_from(target.host.clone())
                .map_err(|e| Error::Tls(format!("server name {}: {e}", target.host)))?;
            let tls = tokio_rustls::TlsConnector::from(self.tls.clone())
                .connect(name, tcp)
                .await
                .map_err(|e| Error::Tls(format!("handshake with {}: {e}", target.connect)))?;
            let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
            round_trip(TokioIo::new(tls), h2, builder, &target, body)
                .await
                .map_err(http_err)
        } else {
            round_trip(TokioIo::new(tcp), self.http2, builder, &target, body)
                .await
                .map_err(http_err)
        }
    }
}

async fn round_trip<T>(
    io: TokioIo<T>,
    h2: bool,
    builder: http::request::Builder,
    target: &Target,
    body: Bytes,
) -> Result<Response, String>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let request = if h2 {
        builder.uri(target.uri.clone()).version(Version::HTTP_2)
    } else {
        let host = HeaderValue::from_str(&target.authority).map_err(|e| e.to_string())?;
        let mut builder = builder.uri(target.path_and_query.as_str());
        if builder
            .headers_ref()
            .is_some_and(|h| !h.contains_key(header::HOST))
        {
            builder = builder.header(header::HOST, host);
        }
        builder
    }
    .body(Full::new(body))
    .map_err(|e| format!("building the request: {e}"))?;

    let response = if h2 {
        let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .map_err(|e| format!("HTTP/2 handshake: {}", chain(&e)))?;
        tokio::spawn(conn);
        sender.send_request(request).await
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| format!("HTTP/1.1 handshake: {}", chain(&e)))?;
        tokio::spawn(conn);
        sender.send_request(request).await
    }
    .map_err(|e| format!("sending: {}", chain(&e)))?;

    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| format!("reading the body: {}", chain(&e)))?
        .to_bytes();
    Ok(Response {
        status: parts.status,
        version: parts.version,
        headers: parts.headers,
        body,
    })
}

/// An error and its sources, `outer: inner: ...` (hyper's own message is often terse, such as
/// "operation was canceled", and the cause is in the source).
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    if let Some(hyper_err) = err.downcast_ref::<hyper::Error>() {
        let kind = [
            (hyper_err.is_canceled(), "canceled before sent"),
            (
                hyper_err.is_incomplete_message(),
                "connection closed before a complete response",
            ),
            (hyper_err.is_closed(), "connection closed"),
        ];
        if let Some((_, what)) = kind.iter().find(|(is, _)| *is) {
            text.push_str(&format!(" [{what}]"));
        }
    }
    text
}

/// Where a URL points. `localhost` is always dialled as `127.0.0.1` (the listeners bind IPv4
/// loopback), while TLS still verifies the name in the URL.
struct Target {
    https: bool,
    host: String,
    authority: String,
    connect: String,
    path_and_query: String,
    uri: Uri,
}

impl Target {
    fn parse(url: &str) -> Result<Self, Error> {
        let bad = |reason: &str| Error::Url {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let uri: Uri = url.parse().map_err(|_| bad("does not parse"))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(bad("scheme must be http or https")),
        };
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        let host = authority.host().trim_matches(['[', ']']).to_owned();
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        let dial = if host == "localhost" {
            "127.0.0.1"
        } else {
            host.as_str()
        };
        let connect = if dial.contains(':') {
            format!("[{dial}]:{port}")
        } else {
            format!("{dial}:{port}")
        };
        let path_and_query = uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
        Ok(Target {
            https,
            authority: authority.as_str().to_owned(),
            host,
            connect,
            path_and_query,
            uri,
        })
    }
}

/// Reads every certificate from a PEM file.
pub fn read_pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let pem = std::fs::read(path).map_err(|e| Error::io("reading a certificate", path, e))?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::io("parsing a certificate", path, e))?;
    if certs.is_empty() {
        return Err(Error::NoCertificate(path.to_owned()));
    }
    Ok(certs)
}

/// The first PEM file in `dir` (searched two levels deep, sorted by name) that holds a
/// certificate: where standalone mode keeps the self-signed certificate it generated.
pub fn find_pem_certificate(dir: &Path) -> Result<std::path::PathBuf, Error> {
    fn walk(dir: &Path, depth: u32, out: &mut Vec<std::path::PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() && depth > 0 {
                walk(&path, depth - 1, out);
            } else if path.is_file() {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, 2, &mut files);
    files.sort();
    files
        .into_iter()
        .find(|path| {
            std::fs::read(path).is_ok_and(|bytes| {
                bytes
                    .windows(b"BEGIN CERTIFICATE".len())
                    .any(|w| w == b"BEGIN CERTIFICATE")
            })
        })
        .ok_or_else(|| Error::NoCertificate(dir.to_owned()))
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
