//! The public keys of the external issuers the openid-connect plugins' `bearer` method trusts,
//! fetched off the request path and shipped in the snapshot, so a proxy never calls a provider
//! while serving.
//!
//! For each issuer: OpenID discovery (`<issuer>/.well-known/openid-configuration`, or RFC 8414
//! authorization server metadata when that answers a 4xx status, as a Tollgate `oauth2` route serves;
//! the document's `issuer` must equal the configured one exactly), then its `jwks_uri`. Keys are refreshed every
//! [`FetchSettings::refresh`]; a failed fetch keeps the last good keys (a provider that is down
//! does not stop tokens signed with known keys) and is retried sooner. A token naming an unknown
//! `kid` (reported by the proxies) asks for an early refresh, at most once per
//! [`FetchSettings::min_interval`] per issuer.
//!
//! Only `https://` issuers and key URLs are fetched, except on a loopback address (local
//! providers, tests) or where the plugin opts in (`allowHttpIssuer`). Every response is bounded
//! in size and time.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Empty, Limited};
use tokio::net::TcpStream;
use tollgate_core::jwt::{Jwk, MAX_KEYS, key_problem};

/// Largest discovery document or JWKS read.
const MAX_BODY: usize = 256 * 1024;

/// When keys are fetched.
#[derive(Clone, Copy, Debug)]
pub struct FetchSettings {
    /// Keys are fetched again this often.
    pub refresh: Duration,
    /// After a failed fetch, the next try comes this soon.
    pub retry: Duration,
    /// An early refresh (unknown `kid`) comes at most this often per issuer.
    pub min_interval: Duration,
    /// Time for one HTTP exchange.
    pub timeout: Duration,
}

impl Default for FetchSettings {
    fn default() -> Self {
        Self {
            refresh: Duration::from_secs(300),
            retry: Duration::from_secs(15),
            min_interval: Duration::from_secs(10),
            timeout: Duration::from_secs(10),
        }
    }
}

/// What translation sees of an issuer: its usable keys, or why there are none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IssuerKeys {
    Keys(Vec<Jwk>),
    /// Not fetched yet.
    Pending,
    /// Never fetched successfully: the last error.
    Failed(String),
}

/// One issuer as fetched.
#[derive(Debug)]
struct Entry {
    /// Allowed to be `http://` (the plugin opted in).
    allow_http: bool,
    keys: Option<Vec<Jwk>>,
    error: Option<String>,
    last_attempt: Option<Instant>,
    due: Instant,
}

/// The issuers wanted and their keys. Shared by the reconcile loop (reads, marks wanted) and
/// the fetch task.
#[derive(Debug, Default)]
pub struct JwksCache {
    entries: std::sync::Mutex<BTreeMap<String, Entry>>,
}

impl JwksCache {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The issuers the plugins name now (with whether each may be `http://`); others are
    /// forgotten. Returns whether one is new (worth fetching at once).
    pub fn want(&self, issuers: &BTreeMap<String, bool>) -> bool {
        let mut entries = self.lock();
        entries.retain(|issuer, _| issuers.contains_key(issuer));
        let mut new = false;
        for (issuer, &allow_http) in issuers {
            let entry = entries.entry(issuer.clone()).or_insert_with(|| {
                new = true;
                Entry {
                    allow_http,
                    keys: None,
                    error: None,
                    last_attempt: None,
                    due: Instant::now(),
                }
            });
            entry.allow_http = allow_http;
        }
        new
    }

    /// An issuer's keys lacked a token's `kid`: fetch them early (rate-limited).
    pub fn refresh_soon(&self, issuer: &str, settings: &FetchSettings) {
        let mut entries = self.lock();
        if let Some(entry) = entries.get_mut(issuer) {
            let earliest = entry
                .last_attempt
                .map_or_else(Instant::now, |at| at + settings.min_interval);
            entry.due = entry.due.min(earliest.max(Instant::now()));
        }
    }

    /// Every wanted issuer's keys as translation sees them.
    pub fn snapshot(&self) -> BTreeMap<String, IssuerKeys> {
        self.lock()
            .iter()
            .map(|(issuer, e)| {
                let keys = match (&e.keys, &e.error) {
                    (Some(keys), _) => IssuerKeys::Keys(keys.clone()),
                    (None, Some(error)) => IssuerKeys::Failed(error.clone()),
                    (None, None) => IssuerKeys::Pending,
                };
                (issuer.clone(), keys)
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Fetches every issuer that is due; returns whether any issuer's keys changed, and when
    /// the next one is due.
    pub async fn fetch_due(&self, settings: &FetchSettings) -> (bool, Option<Instant>) {
        let now = Instant::now();
        let due: Vec<(String, bool)> = self
            .lock()
            .iter()
            .filter(|(_, e)| e.due <= now)
            .map(|(issuer, e)| (issuer.clone(), e.allow_http))
            .collect();
        let mut changed = false;
        for (issuer, allow_http) in due {
            let result = fetch_keys(&issuer, allow_http, settings.timeout).await;
            let mut entries = self.lock();
            let Some(entry) = entries.get_mut(&issuer) else {
                continue;
            };
            entry.last_attempt = Some(Instant::now());
            match result {
                Ok(keys) => {
                    if entry.keys.as_ref() != Some(&keys) {
                        tracing::info!(%issuer, keys = keys.len(), "fetched the issuer's keys");
                        changed = true;
                    }
                    entry.keys = Some(keys);
                    entry.error = None;
                    entry.due = Instant::now() + settings.refresh;
                }
                Err(error) => {
                    tracing::warn!(%issuer, %error, kept = entry.keys.is_some(), "cannot fetch the issuer's keys; keeping the last good ones");
                    changed |= entry.keys.is_none() && entry.error.as_deref() != Some(&error);
                    entry.error = Some(error);
                    entry.due = Instant::now() + settings.retry;
                }
            }
        }
        let next = self.lock().values().map(|e| e.due).min();
        (changed, next)
    }
}

/// Whether `uri` may be fetched: `https`, or `http` on a loopback host (or when allowed).
pub fn fetchable(uri: &Uri, allow_http: bool) -> Result<(), String> {
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") if allow_http || is_loopback(uri.host().unwrap_or_default()) => Ok(()),
        Some("http") => Err(format!(
            "{uri} is plain http on a non-loopback host (set allowHttpIssuer to accept it)"
        )),
        _ => Err(format!("{uri} is not an http(s) URL")),
    }
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Discovery, then the JWKS; the usable keys (at least one).
pub async fn fetch_keys(
    issuer: &str,
    allow_http: bool,
    timeout: Duration,
) -> Result<Vec<Jwk>, String> {
    let discovery = discover(issuer, allow_http, timeout).await?;
    if discovery.get("issuer").and_then(|v| v.as_str()) != Some(issuer) {
        return Err(format!(
            "the discovery document names another issuer ({:?})",
            discovery.get("issuer")
        ));
    }
    let jwks_uri = discovery
        .get("jwks_uri")
        .and_then(|v| v.as_str())
        .ok_or("the discovery document has no jwks_uri")?
        .to_owned();
    let jwks: serde_json::Value = get_json(&jwks_uri, allow_http, timeout).await?;
    let keys: Vec<Jwk> = jwks
        .get("keys")
        .and_then(|k| k.as_array())
        .ok_or("the JWKS has no keys array")?
        .iter()
        .filter_map(|k| serde_json::from_value::<Jwk>(k.clone()).ok())
        .filter(|k| key_problem(k).is_none())
        .take(MAX_KEYS)
        .collect();
    if keys.is_empty() {
        return Err(
            "the JWKS holds no usable key (RSA, EC P-256 or Ed25519 for signatures)".into(),
        );
    }
    Ok(keys)
}

/// The issuer's metadata: OpenID discovery (`<issuer>/.well-known/openid-configuration`), or,
/// when that answers a 4xx status (404, or 401 where a Tollgate `oauth2` route guards every
/// path it does not serve), RFC 8414's `<issuer>/.well-known/oauth-authorization-server` (the
/// form a Tollgate `oauth2` route serves) and then, for an issuer with a path, RFC 8414's
/// path-inserted `<origin>/.well-known/oauth-authorization-server<path>` (RFC 8414 §5: clients
/// may try several). Every candidate gets the same checks and bounds.
async fn discover(
    issuer: &str,
    allow_http: bool,
    timeout: Duration,
) -> Result<serde_json::Value, String> {
    let base = issuer.trim_end_matches('/');
    let mut candidates = vec![
        format!("{base}/.well-known/openid-configuration"),
        format!("{base}/.well-known/oauth-authorization-server"),
    ];
    if let Ok(uri) = base.parse::<Uri>() {
        let path = uri.path().trim_end_matches('/');
        if let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority())
            && !path.is_empty()
        {
            candidates.push(format!(
                "{scheme}://{authority}/.well-known/oauth-authorization-server{path}"
            ));
        }
    }
    let mut last = String::new();
    for url in &candidates {
        match fetch_json(url, allow_http, timeout).await? {
            Ok(document) => return Ok(document),
            Err(status) => last = format!("{url} answered {status}"),
        }
    }
    Err(last)
}

async fn get_json(
    url: &str,
    allow_http: bool,
    timeout: Duration,
) -> Result<serde_json::Value, String> {
    fetch_json(url, allow_http, timeout)
        .await?
        .map_err(|status| format!("{url} answered {status}"))
}

/// GETs `url` as JSON; `Ok(Err(status))`: it answered a 4xx status (the document is not
/// served there).
async fn fetch_json(
    url: &str,
    allow_http: bool,
    timeout: Duration,
) -> Result<Result<serde_json::Value, StatusCode>, String> {
    let uri: Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
    fetchable(&uri, allow_http)?;
    let host = uri
        .host()
        .ok_or_else(|| format!("{url} has no host"))?
        .to_owned();
    let tls = uri.scheme_str() == Some("https");
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let authority = uri
        .authority()
        .map(|a| a.as_str().to_owned())
        .unwrap_or_else(|| host.clone());
    let path = uri
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
    let request = Request::get(path)
        .header(header::HOST, authority)
        .header(header::ACCEPT, "application/json")
        .header(
            header::USER_AGENT,
            concat!("tollgate-controller/", env!("CARGO_PKG_VERSION")),
        )
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let exchange = async {
        let connect_host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let tcp = TcpStream::connect((connect_host.as_str(), port))
            .await
            .map_err(|e| format!("connecting to {host}:{port}: {e}"))?;
        let response = if tls {
            let name = rustls::pki_types::ServerName::try_from(connect_host.clone())
                .map_err(|e| format!("{host}: {e}"))?;
            let stream = tokio_rustls::TlsConnector::from(tollgate_proxy::client_tls())
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS with {host}: {e}"))?;
            send(stream, request).await?
        } else {
            send(tcp, request).await?
        };
        if response.status().is_client_error() {
            return Ok(Err(response.status()));
        }
        if response.status() != StatusCode::OK {
            return Err(format!("{url} answered {}", response.status()));
        }
        let body = Limited::new(response.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| format!("reading {url}: {e}"))?
            .to_bytes();
        serde_json::from_slice(&body)
            .map(Ok)
            .map_err(|e| format!("{url} is not JSON: {e}"))
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| format!("{url} did not answer within {timeout:?}"))?
}

async fn send<IO>(
    io: IO,
    request: Request<Empty<Bytes>>,
) -> Result<http::Response<hyper::body::Incoming>, String>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())
}

/// The issuers the plugins of `objects` name, with whether each may be plain http.
pub fn wanted_issuers(plugins: &[Arc<crate::resources::AuthPlugin>]) -> BTreeMap<String, bool> {
    let mut out = BTreeMap::new();
    for plugin in plugins {
        if let Some(oidc) = &plugin.spec.openid_connect
            && let Some(issuer) = &oidc.issuer
        {
            let allow = out.entry(issuer.clone()).or_insert(false);
            *allow |= oidc.allow_http_issuer;
        }
    }
    out
}

/// The issuers of the plugins the proxies asked keys for (`jwksWanted`).
pub fn issuers_of(
    plugin_ids: &BTreeSet<String>,
    plugins: &[Arc<crate::resources::AuthPlugin>],
) -> BTreeSet<String> {
    plugins
        .iter()
        .filter(|p| {
            let id = format!(
                "{}/{}",
                p.metadata
                    .namespace
                    .as_deref()
                    .unwrap_or(crate::translate::DEFAULT_NAMESPACE),
                p.metadata.name.as_deref().unwrap_or_default()
            );
            plugin_ids.contains(&id)
        })
        .filter_map(|p| p.spec.openid_connect.as_ref()?.issuer.clone())
        .collect()
}

/// Fetches due issuers until `stop` resolves: at each issuer's due time, and at once when
/// `wake` is notified (a new issuer, an early refresh); notifies `changed` when keys changed.
pub async fn run(
    cache: Arc<JwksCache>,
    settings: FetchSettings,
    wake: Arc<tokio::sync::Notify>,
    changed: Arc<tokio::sync::Notify>,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    loop {
        let (keys_changed, next) = cache.fetch_due(&settings).await;
        if keys_changed {
            changed.notify_one();
        }
        let sleep = async {
            match next {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = &mut stop => return,
            () = wake.notified() => {}
            () = sleep => {}
        }
    }
}
