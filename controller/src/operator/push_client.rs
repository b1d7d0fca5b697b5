//! The client side of the config channel (docs/CONTRACTS.md, admin port): `GET /config` to learn
//! a proxy's hash, `POST /config` with the full snapshot and the bearer token when it differs.
//! The token and the reply bodies are `tollgate_core::config_channel`'s, which the proxy writes.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tollgate_core::config_channel::{self, Applied, ConfigStatus, ConfigToken, Message, Rejected};

/// Largest response body read from a proxy (hash or error list).
const MAX_RESPONSE_BYTES: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("building the request: {0}")]
    BuildRequest(#[from] http::Error),
    #[error("connecting to the proxy or sending: {0}")]
    Send(#[from] hyper_util::client::legacy::Error),
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

/// Talks to proxies' admin ports over plain HTTP (the headless Service's pod addresses).
#[derive(Clone)]
pub struct PushClient {
    http: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
}

impl PushClient {
    pub fn new(timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(timeout));
        connector.set_nodelay(true);
        Self {
            http: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(30))
                .build(connector),
            timeout,
        }
    }

    /// The hash the proxy at `addr` (`host:port`) holds; empty when it holds none.
    pub async fn current_hash(&self, addr: &str) -> Result<String, Error> {
        let request = Request::builder()
            .method(Method::GET)
            .uri(format!("http://{addr}{}", config_channel::PATH))
            .body(Full::new(Bytes::new()))?;
        let (status, body) = self.send(request).await?;
        if status != StatusCode::OK {
            return Err(Error::Status(status.as_u16()));
        }
        Ok(serde_json::from_slice::<ConfigStatus>(&body)?.hash)
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
            .uri(format!("http://{addr}{}", config_channel::PATH))
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::AUTHORIZATION, token.authorization());
        if let Some(epoch) = epoch {
            request = request.header(config_channel::LEADER_EPOCH_HEADER, epoch.to_string());
        }
        let request = request.body(Full::new(snapshot))?;
        let (status, body) = self.send(request).await?;
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

    async fn send(&self, request: Request<Full<Bytes>>) -> Result<(StatusCode, Bytes), Error> {
        let exchange = async {
            let response = self.http.request(request).await?;
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
