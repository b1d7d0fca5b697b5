//! The config channel: `GET /config` (the hash held) and `POST /config` (a snapshot pushed by
//! the controller, with its bearer token). See docs/CONTRACTS.md "Admin port".

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{AUTHORIZATION, HeaderValue, WWW_AUTHENTICATE};
use http::{Request, Response, StatusCode};
use tollgate_core::config_channel::{self, Applied, ConfigStatus, ConfigToken, Message};
use tollgate_core::snapshot::Snapshot;

use crate::pipeline::ProxyState;
use crate::shared::body_limit::{BodyBudget, ReadError, read_bounded};
use crate::shared::respond;
use crate::upstream::ProxyBody;

/// What the admin port needs besides the state: the config channel's settings.
#[derive(Clone, Debug)]
pub struct AdminOptions {
    pub config_token: Option<Arc<TokenSource>>,
    pub max_config_bytes: usize,
    /// Deadlines of a push's body (one push is read at a time, so its budget is the size limit).
    pub push_body: BodyBudget,
}

/// The longest config-token file read.
const MAX_TOKEN_FILE: u64 = 4096;
/// A token file is read again at most this often (only when a push presents another token).
const RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// The config token, and the file it came from: a push presenting another token makes the
/// proxy read the file again (at most once per [`RELOAD_INTERVAL`]), so a token rotated in its
/// Secret (kubelet updates the mounted file) is taken without a restart, and a proxy never
/// falls out of reach of its controller after a re-render regenerated the token.
#[derive(Debug)]
pub struct TokenSource {
    current: Mutex<ConfigToken>,
    file: Option<PathBuf>,
    last_read: Mutex<Option<Instant>>,
}

impl TokenSource {
    /// `token`, read from `file` when there is one (which is then followed).
    pub fn new(token: ConfigToken, file: Option<PathBuf>) -> Self {
        Self {
            current: Mutex::new(token),
            file,
            last_read: Mutex::new(Some(Instant::now())),
        }
    }

    fn current(&self) -> ConfigToken {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether `presented` is `Bearer <token>` of the current token, or of the token file's
    /// new content (constant-time comparisons: [`ConfigToken::authorizes`]).
    pub fn authorizes(&self, presented: &[u8]) -> bool {
        if self.current().authorizes(presented) {
            return true;
        }
        self.reload()
            .is_some_and(|token| token.authorizes(presented))
    }

    /// Reads the file again when it may have changed and enough time has passed.
    fn reload(&self) -> Option<ConfigToken> {
        let path = self.file.as_ref()?;
        {
            let mut last = self.last_read.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            if last.is_some_and(|at| now.duration_since(at) < RELOAD_INTERVAL) {
                return None;
            }
            *last = Some(now);
        }
        match read_token(path) {
            Ok(Some(token)) => {
                let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
                if !current.authorizes(token.authorization().as_bytes()) {
                    tracing::info!(path = %path.display(), "config token file changed; using the new token");
                    *current = token.clone();
                }
                Some(token)
            }
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read the config token file; keeping the token held");
                None
            }
        }
    }
}

fn read_token(path: &Path) -> std::io::Result<Option<ConfigToken>> {
    use std::io::Read as _;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_TOKEN_FILE)
        .read_to_string(&mut text)?;
    Ok(ConfigToken::new(&text))
}

/// A reply of the config channel's wire format ([`config_channel`]).
pub(super) fn reply<T: serde::Serialize>(status: StatusCode, body: &T) -> Response<ProxyBody> {
    match serde_json::to_vec(body) {
        Ok(bytes) => respond::json_bytes(status, Bytes::from(bytes)),
        Err(_) => respond::static_json(StatusCode::INTERNAL_SERVER_ERROR, respond::INTERNAL),
    }
}

pub(super) fn message(status: StatusCode, message: &str) -> Response<ProxyBody> {
    reply(
        status,
        &Message {
            message: message.to_owned(),
        },
    )
}

/// Whether `presented` is `Bearer <token>` ([`TokenSource::authorizes`]: constant time).
pub(super) fn authorized(expected: &TokenSource, presented: Option<&HeaderValue>) -> bool {
    presented.is_some_and(|value| expected.authorizes(value.as_bytes()))
}

/// 401 with a `Bearer` challenge.
pub(super) fn unauthorized() -> Response<ProxyBody> {
    let mut response = message(StatusCode::UNAUTHORIZED, "missing or invalid config token");
    response
        .headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// `GET /config`: the hash held, for the holder of the config token (when there is one: a proxy
/// without pushes tells nothing secret).
pub fn config_status<B>(
    state: &ProxyState,
    options: &AdminOptions,
    request: &Request<B>,
) -> Response<ProxyBody> {
    if let Some(expected) = &options.config_token
        && !authorized(expected, request.headers().get(AUTHORIZATION))
    {
        return unauthorized();
    }
    reply(
        StatusCode::OK,
        &ConfigStatus {
            hash: state.hash(),
            updated_at: state.updated_at(),
            jwks_wanted: state.jwks_wanted(),
        },
    )
}

/// `POST /config`.
pub async fn push_config<B>(
    state: &Arc<ProxyState>,
    options: &AdminOptions,
    request: Request<B>,
) -> Response<ProxyBody>
where
    B: hyper::body::Body<Data = Bytes, Error = hyper::Error> + Unpin,
{
    let Some(expected) = &options.config_token else {
        return message(
            StatusCode::FORBIDDEN,
            "config pushes are disabled on this proxy",
        );
    };
    if !authorized(expected, request.headers().get(AUTHORIZATION)) {
        return unauthorized();
    }
    let epoch = match request.headers().get(config_channel::LEADER_EPOCH_HEADER) {
        None => 0,
        Some(value) => match value.to_str().ok().and_then(|v| v.parse::<u64>().ok()) {
            Some(epoch) => epoch,
            None => return message(StatusCode::BAD_REQUEST, "the leader epoch is not a number"),
        },
    };
    let _one_push_at_a_time = state.push_lock.lock().await;
    let newest = state.leader_epoch();
    if epoch < newest {
        tracing::warn!(epoch, newest, "refused a push from an older leader");
        return message(
            StatusCode::CONFLICT,
            &format!("configuration from an older leader (epoch {epoch} < {newest})"),
        );
    }
    let bytes = match read_bounded(
        request.into_body(),
        options.max_config_bytes,
        &options.push_body,
        std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
    )
    .await
    {
        Ok(bytes) => bytes,
        Err(ReadError::TooLarge { limit }) => {
            return message(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("snapshot larger than {limit} bytes"),
            );
        }
        Err(ReadError::Read(_) | ReadError::Busy) => {
            return message(StatusCode::BAD_REQUEST, "could not read the request body");
        }
        Err(ReadError::Timeout) => {
            return message(
                StatusCode::REQUEST_TIMEOUT,
                "the snapshot did not arrive in time",
            );
        }
    };
    match decode_and_apply(state, bytes).await {
        Ok(Ok(hash)) => {
            state.saw_leader_epoch(epoch);
            tracing::info!(%hash, epoch, "config applied");
            reply(StatusCode::OK, &Applied { hash })
        }
        Ok(Err(Rejected::Undecodable(e))) => reply(
            StatusCode::BAD_REQUEST,
            &config_channel::Rejected {
                errors: vec![format!(
                    "snapshot is not valid JSON of the expected shape: {e}"
                )],
            },
        ),
        Ok(Err(Rejected::Invalid(errors))) => {
            tracing::warn!(problems = errors.len(), "config rejected");
            reply(
                StatusCode::BAD_REQUEST,
                &config_channel::Rejected { errors },
            )
        }
        Err(_) => message(
            StatusCode::INTERNAL_SERVER_ERROR,
            "applying the config failed",
        ),
    }
}

/// Decodes and applies a pushed snapshot. Decoding tens of megabytes takes a while: it runs off
/// the async workers, together with the apply, and the body is freed as soon as it is decoded
/// (the compiled snapshot takes over the decoded strings, so the body, the decoded snapshot and
/// the indexes are never all alive). `Err`: the blocking task failed.
async fn decode_and_apply(
    state: &Arc<ProxyState>,
    bytes: Bytes,
) -> Result<Result<String, Rejected>, tokio::task::JoinError> {
    let applying = state.clone();
    tokio::task::spawn_blocking(move || {
        let decoded = serde_json::from_slice::<Snapshot>(&bytes);
        drop(bytes);
        match decoded {
            Ok(snapshot) => applying.apply(snapshot).map_err(Rejected::Invalid),
            Err(e) => {
                applying.metrics().config_rejected();
                Err(Rejected::Undecodable(e))
            }
        }
    })
    .await
}

/// Why a pushed snapshot was refused.
enum Rejected {
    /// Not JSON of the snapshot's shape.
    Undecodable(serde_json::Error),
    /// Every problem validation and compiling found.
    Invalid(Vec<String>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_config_token_is_accepted_only_when_it_matches() {
        let expected = TokenSource::new(ConfigToken::new("s3cret").expect("token"), None);
        // The rules themselves are tested with `ConfigToken::authorizes` in tollgate-core.
        let cases = [
            (Some("Bearer s3cret"), true),
            (Some("bearer s3cret"), true),
            (Some("Bearer s3cret "), true),
            (Some("Bearer s3cre"), false),
            (Some("Bearer s3crets"), false),
            (Some("Basic s3cret"), false),
            (Some("Bearer"), false),
            (None, false),
        ];
        for (header, expected_ok) in cases {
            let value = header.map(HeaderValue::from_static);
            assert_eq!(
                authorized(&expected, value.as_ref()),
                expected_ok,
                "{header:?}"
            );
        }
    }

    #[test]
    fn a_changed_token_file_is_followed_without_a_restart() {
        let dir = std::env::temp_dir().join(format!("tollgate-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("token");
        std::fs::write(&path, "first\n").expect("write");
        let source = TokenSource::new(
            ConfigToken::new("first").expect("token"),
            Some(path.clone()),
        );
        assert!(source.authorizes(b"Bearer first"));
        std::fs::write(&path, "second\n").expect("write");
        // Read again only once the interval has passed since the last read.
        *source.last_read.lock().expect("lock") = Some(Instant::now() - RELOAD_INTERVAL * 2);
        assert!(
            source.authorizes(b"Bearer second"),
            "the new token is taken"
        );
        assert!(!source.authorizes(b"Bearer first"), "the old one is not");
        assert!(!source.authorizes(b"Bearer third"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
