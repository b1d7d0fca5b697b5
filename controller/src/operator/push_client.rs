//! The client side of the config channel (docs/CONTRACTS.md, admin port): `GET /config` to learn
//! a proxy's hash, `POST /config` with the full snapshot and the bearer token when it differs;
//! and of the revocation channel beside it (`GET /revocations`, long-polled, and
//! `POST /revocations`).
//! The token and the reply bodies are `tollgate_core::config_channel`'s, which the proxy writes.
//!
//! With a [`ChannelTrust`] every exchange is HTTPS: the proxy must present a certificate the
//! trust's roots sign for the trust's server name (the proxies' config Service's DNS name: pods
//! are reached by address, so the name checked is that one, not the address). One connection
//! per exchange: a handshake every few seconds per proxy costs nothing, and nothing is pooled.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tollgate_core::config_channel::{self, Applied, ConfigStatus, ConfigToken, Message, Rejected};
use tollgate_core::revocation::{self, RevocationPage};

/// Largest response body read from a proxy (hash or error list).
const MAX_RESPONSE_BYTES: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("building the request: {0}")]
    BuildRequest(#[from] http::Error),
    #[error("connecting to the proxy: {0}")]
    Connect(std::io::Error),
    #[error("TLS with the proxy: {0}")]
    Tls(std::io::Error),
    #[error("sending to the proxy: {0}")]
    Send(#[from] hyper::Error),
    #[error("no config channel certificate to trust yet (its Secret is missing or has no tls.crt)")]
    NoTrust,
    #[error("reading the response: {0}")]
    ReadBody(String),
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("the proxy refused the config token (401)")]
    Unauthorized,
    #[error("the proxy rejected the snapshot ({status}): {}", reasons.join("; "))]
    Rejected { status: u16, reasons: Vec<String> },
    #[error("a newer leader configures this proxy: {0}")]
    Superseded(String),
    #[error("unexpected status {0}")]
    Status(u16),
    #[error("unexpected response body: {0}")]
    Decode(#[from] serde_json::Error),
}

impl Error {
    /// The proxy refused the snapshot itself (400/413), not the attempt to push it.
    pub fn is_rejection(&self) -> bool {
        matches!(self, Error::Rejected { .. })
    }
}

/// The certificates a proxy's config channel must chain to, and the name it must be valid for.
#[derive(Clone)]
pub struct ChannelTrust {
    config: Arc<rustls::ClientConfig>,
    server_name: ServerName<'static>,
    /// The certificates it was built from, to tell whether a Secret change changed them.
    roots: Vec<CertificateDer<'static>>,
}

impl std::fmt::Debug for ChannelTrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelTrust")
            .field("server_name", &self.server_name)
            .field("roots", &self.roots.len())
            .finish()
    }
}

impl ChannelTrust {
    /// Trusts `roots` (PEM certificates: a CA, or the proxies' self-signed certificate itself)
    /// for `server_name`. `None` when the PEM holds no usable certificate.
    pub fn new(roots_pem: &[u8], server_name: &str) -> Option<Self> {
        let roots: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut &roots_pem[..])
            .collect::<Result<_, _>>()
            .ok()?;
        let mut store = rustls::RootCertStore::empty();
        let (added, _) = store.add_parsable_certificates(roots.iter().cloned());
        if added == 0 {
            return None;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .ok()?
            .with_root_certificates(store)
            .with_no_client_auth();
        Some(Self {
            config: Arc::new(config),
            server_name: ServerName::try_from(server_name.to_owned()).ok()?,
            roots,
        })
    }

    /// Whether this trust is built from the same certificates and name as `other`.
    pub fn same_as(&self, other: &Self) -> bool {
        self.roots == other.roots && self.server_name == other.server_name
    }
}

/// How the config channel is secured.
#[derive(Clone, Debug)]
enum Security {
    /// Plain HTTP (`--config-channel-plaintext`).
    Plaintext,
    /// HTTPS; `None` until the certificate to trust is known (nothing is sent before).
    Tls(Option<ChannelTrust>),
}

/// Talks to proxies' admin ports (the headless Service's pod addresses).
#[derive(Clone)]
pub struct PushClient {
    security: Arc<RwLock<Security>>,
    timeout: Duration,
}

impl PushClient {
    /// A client speaking plain HTTP.
    pub fn new(timeout: Duration) -> Self {
        Self {
            security: Arc::new(RwLock::new(Security::Plaintext)),
            timeout,
        }
    }

    /// A client speaking only HTTPS, once [`Self::set_trust`] gave it a certificate to trust.
    pub fn tls(timeout: Duration) -> Self {
        Self {
            security: Arc::new(RwLock::new(Security::Tls(None))),
            timeout,
        }
    }

    /// Trusts `trust` from now on (every clone of this client); `None` stops every exchange
    /// (never falls back to plain HTTP). Returns whether it changed.
    pub fn set_trust(&self, trust: Option<ChannelTrust>) -> bool {
        let mut security = self.security.write().unwrap_or_else(|e| e.into_inner());
        let Security::Tls(current) = &mut *security else {
            return false;
        };
        let changed = match (&*current, &trust) {
            (Some(a), Some(b)) => !a.same_as(b),
            (None, None) => false,
            _ => true,
        };
        *current = trust;
        changed
    }

    /// A client sharing this one's trust (and its later changes), with another timeout: the
    /// revocation long poll is held longer than any config exchange may take.
    pub fn with_timeout(&self, timeout: Duration) -> Self {
        Self {
            security: Arc::clone(&self.security),
            timeout,
        }
    }

    /// `GET /revocations?after=<after>&wait=<wait>`: the ids revoked at the proxy since `after`,
    /// held by the proxy up to `wait` while there are none.
    pub async fn revocations_page(
        &self,
        addr: &str,
        token: &ConfigToken,
        after: u64,
        wait: Duration,
    ) -> Result<RevocationPage, Error> {
        let request = Request::builder()
            .method(Method::GET)
            .uri(format!(
                "{}://{addr}{}?after={after}&wait={}",
                self.scheme(),
                revocation::PATH,
                wait.as_secs()
            ))
            .header(header::AUTHORIZATION, token.authorization())
            .body(Full::new(Bytes::new()))?;
        let (status, body) = self.send(addr, request).await?;
        match status {
            StatusCode::OK => Ok(serde_json::from_slice::<RevocationPage>(&body)?),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(Error::Unauthorized),
            other => Err(Error::Status(other.as_u16())),
        }
    }

    /// `POST /revocations` with `body` (a `RevocationPush`): the proxy merges it at once.
    pub async fn push_revocations(
        &self,
        addr: &str,
        token: &ConfigToken,
        body: Bytes,
    ) -> Result<(), Error> {
        let request = Request::builder()
            .method(Method::POST)
            .uri(format!("{}://{addr}{}", self.scheme(), revocation::PATH))
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::AUTHORIZATION, token.authorization())
            .body(Full::new(body))?;
        let (status, _) = self.send(addr, request).await?;
        match status {
            StatusCode::OK => Ok(()),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(Error::Unauthorized),
            other => Err(Error::Status(other.as_u16())),
        }
    }

    /// Whether exchanges use TLS.
    pub fn is_tls(&self) -> bool {
        matches!(
            *self.security.read().unwrap_or_else(|e| e.into_inner()),
            Security::Tls(_)
        )
    }

    fn scheme(&self) -> &'static str {
        if self.is_tls() { "https" } else { "http" }
    }

    /// The hash the proxy at `addr` (`host:port`) holds; empty when it holds none. Asking needs
    /// the config token too.
    pub async fn current_hash(&self, addr: &str, token: &ConfigToken) -> Result<String, Error> {
        Ok(self.current_status(addr, token).await?.hash)
    }

    /// What the proxy at `addr` reports: its hash, and the plugins whose issuer keys it lacks.
    pub async fn current_status(
        &self,
        addr: &str,
        token: &ConfigToken,
    ) -> Result<ConfigStatus, Error> {
        let request = Request::builder()
            .method(Method::GET)
            .uri(format!(
                "{}://{addr}{}",
                self.scheme(),
                config_channel::PATH
            ))
            .header(header::AUTHORIZATION, token.authorization())
            .body(Full::new(Bytes::new()))?;
        let (status, body) = self.send(addr, request).await?;
        match status {
            StatusCode::OK => {}
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => return Err(Error::Unauthorized),
            other => return Err(Error::Status(other.as_u16())),
        }
        Ok(serde_json::from_slice::<ConfigStatus>(&body)?)
    }

    /// Pushes `snapshot` to the proxy at `addr`, stamped with the leader `epoch` when there is
    /// one; returns the hash the proxy now holds.
    pub async fn push(
        &self,
        addr: &str,
        snapshot: Bytes,
        token: &ConfigToken,
        epoch: Option<u64>,
    ) -> Result<String, Error> {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(format!(
                "{}://{addr}{}",
                self.scheme(),
                config_channel::PATH
            ))
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::AUTHORIZATION, token.authorization());
        if let Some(epoch) = epoch {
            request = request.header(config_channel::LEADER_EPOCH_HEADER, epoch.to_string());
        }
        let request = request.body(Full::new(snapshot))?;
        let (status, body) = self.send(addr, request).await?;
        match status {
            StatusCode::OK | StatusCode::CREATED => {
                Ok(serde_json::from_slice::<Applied>(&body)?.hash)
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(Error::Unauthorized),
            StatusCode::CONFLICT => Err(Error::Superseded(
                serde_json::from_slice::<Message>(&body)
                    .map(|m| m.message)
                    .unwrap_or_default(),
            )),
            StatusCode::BAD_REQUEST | StatusCode::PAYLOAD_TOO_LARGE => {
                // 400 lists every problem (`Rejected`); 413 says why in one `Message`.
                let reasons = serde_json::from_slice::<Rejected>(&body)
                    .ok()
                    .filter(|r| !r.errors.is_empty())
                    .map(|r| r.errors)
                    .or_else(|| {
                        serde_json::from_slice::<Message>(&body)
                            .ok()
                            .filter(|m| !m.message.is_empty())
                            .map(|m| vec![m.message])
                    })
                    .unwrap_or_else(|| {
                        vec![String::from_utf8_lossy(&body).chars().take(512).collect()]
                    });
                Err(Error::Rejected {
                    status: status.as_u16(),
                    reasons,
                })
            }
            other => Err(Error::Status(other.as_u16())),
        }
    }

    async fn send(
        &self,
        addr: &str,
        mut request: Request<Full<Bytes>>,
    ) -> Result<(StatusCode, Bytes), Error> {
        let security = self
            .security
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Ok(host) = header::HeaderValue::from_str(addr) {
            request.headers_mut().insert(header::HOST, host);
        }
        let exchange = async {
            let tcp = TcpStream::connect(addr).await.map_err(Error::Connect)?;
            let _ = tcp.set_nodelay(true);
            let response = match security {
                Security::Plaintext => exchange(tcp, request).await?,
                Security::Tls(None) => return Err(Error::NoTrust),
                Security::Tls(Some(trust)) => {
                    let connector = tokio_rustls::TlsConnector::from(trust.config.clone());
                    let tls = connector
                        .connect(trust.server_name.clone(), tcp)
                        .await
                        .map_err(Error::Tls)?;
                    exchange(tls, request).await?
                }
            };
            let status = response.status();
            let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|e| Error::ReadBody(e.to_string()))?
                .to_bytes();
            Ok::<_, Error>((status, body))
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| Error::Timeout(self.timeout))?
    }
}

/// One HTTP/1.1 exchange on `io`; the connection closes once the response is read.
async fn exchange<IO>(
    io: IO,
    request: Request<Full<Bytes>>,
) -> Result<http::Response<hyper::body::Incoming>, Error>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender.send_request(request).await?)
}
