//! The openid-connect plugin's `introspection` method: the proxy asks the provider's RFC 7662
//! endpoint whether an opaque token is active, as the gateway's own client (HTTP Basic), before
//! deciding. Answers are cached per token and plugin: an active token until its `exp` (at most
//! [`ACTIVE_MAX`]), an inactive one for [`INACTIVE`]. When the provider cannot be asked, or
//! answers anything but a JSON object, the token is refused (fail closed) and nothing is cached.
//! The endpoint is reached under the backend address policy, with the backends' CAs.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http::{Request, Uri, header};
use http_body_util::{BodyExt, Full, Limited};
use sha2::{Digest, Sha256};
use tollgate_core::jwt::{JwtClaims, claims_of};
use tollgate_core::snapshot::IntrospectionConfig;

use crate::shared::clock::unix_now;
use crate::upstream::Upstreams;

/// An active token is asked about again after this at most.
pub const ACTIVE_MAX: Duration = Duration::from_secs(300);
/// An inactive (or unknown) token is asked about again after this.
pub const INACTIVE: Duration = Duration::from_secs(10);
/// Time for one exchange with the provider.
const TIMEOUT: Duration = Duration::from_secs(5);
/// Answers kept; the cache starts over beyond.
const CAPACITY: usize = 16_384;
/// Largest answer read.
const MAX_ANSWER: usize = 64 * 1024;

type Key = [u8; 32];

/// The provider's answers, shared by the workers.
#[derive(Debug, Default)]
pub struct IntrospectionCache {
    entries: Mutex<HashMap<Key, (Instant, Option<JwtClaims>)>>,
}

fn key(plugin_id: &str, token: &str) -> Key {
    let mut h = Sha256::new();
    h.update(plugin_id.as_bytes());
    h.update([0]);
    h.update(token.as_bytes());
    h.finalize().into()
}

impl IntrospectionCache {
    /// The cached answer for `token` at `plugin_id`: `Some(Some(claims))` active, `Some(None)`
    /// inactive, `None` not known (or expired).
    pub fn get(&self, plugin_id: &str, token: &str) -> Option<Option<JwtClaims>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let (until, answer) = entries.get(&key(plugin_id, token))?;
        if Instant::now() >= *until {
            return None;
        }
        if let Some(claims) = answer
            && claims.exp != 0
            && unix_now() >= claims.exp
        {
            return None;
        }
        Some(answer.clone())
    }

    fn put(&self, plugin_id: &str, token: &str, answer: Option<JwtClaims>) {
        let ttl = match &answer {
            None => INACTIVE,
            Some(claims) if claims.exp != 0 => {
                Duration::from_secs(claims.exp.saturating_sub(unix_now())).min(ACTIVE_MAX)
            }
            Some(_) => ACTIVE_MAX,
        };
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(key(plugin_id, token), (Instant::now() + ttl, answer));
    }
}

/// Asks the provider about `token` unless the answer is cached, and caches it.
pub async fn prefetch(
    cache: &IntrospectionCache,
    upstreams: &Upstreams,
    plugin_id: &str,
    config: &IntrospectionConfig,
    token: &str,
) {
    if cache.get(plugin_id, token).is_some() {
        return;
    }
    match ask(upstreams, config, token).await {
        Ok(answer) => cache.put(plugin_id, token, answer),
        Err(reason) => {
            tracing::warn!(plugin = plugin_id, endpoint = %config.endpoint, %reason, "token introspection failed; the token is refused");
        }
    }
}

/// One exchange: `Ok(Some(claims))` active, `Ok(None)` inactive.
async fn ask(
    upstreams: &Upstreams,
    config: &IntrospectionConfig,
    token: &str,
) -> Result<Option<JwtClaims>, String> {
    let uri: Uri = config.endpoint.parse().map_err(|e| format!("{e}"))?;
    let https = uri.scheme_str() == Some("https");
    let authority = uri.authority().ok_or("the endpoint has no host")?.clone();
    let path = uri
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
    let form = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    // RFC 6749 §2.3.1: the client id and secret are form-encoded before Basic.
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        form(&config.client_id),
        form(&config.client_secret)
    ));
    let body = format!("token={}&token_type_hint=access_token", form(token));
    let request = Request::post(path)
        .header(header::HOST, authority.as_str())
        .header(header::AUTHORIZATION, format!("Basic {basic}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let exchange = async {
        let io = upstreams
            .connect_once(&authority, https, TIMEOUT)
            .await
            .map_err(|e| e.to_string())?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("the endpoint answered {}", response.status()));
        }
        let bytes = Limited::new(response.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        let answer: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| format!("not JSON: {e}"))?;
        let members = answer.as_object().ok_or("not a JSON object")?;
        Ok(
            if members.get("active") == Some(&serde_json::Value::Bool(true)) {
                Some(claims_of(members))
            } else {
                None
            },
        )
    };
    tokio::time::timeout(TIMEOUT, exchange)
        .await
        .map_err(|_| format!("no answer within {TIMEOUT:?}"))?
}
