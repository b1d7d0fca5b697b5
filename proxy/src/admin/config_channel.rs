//! The config channel: `GET /config` (the hash held) and `POST /config` (a snapshot pushed by
//! the controller, with its bearer token). See docs/CONTRACTS.md "Admin port".

use std::sync::Arc;

use bytes::Bytes;
use http::header::{AUTHORIZATION, HeaderValue, WWW_AUTHENTICATE};
use http::{Request, Response, StatusCode};
use tollgate_core::config_channel::{self, Applied, ConfigStatus, ConfigToken, Message};
use tollgate_core::snapshot::Snapshot;

use crate::pipeline::ProxyState;
use crate::shared::body_limit::{ReadError, read_bounded};
use crate::shared::respond;
use crate::upstream::ProxyBody;

/// What the admin port needs besides the state: the config channel's settings.
#[derive(Clone, Debug)]
pub struct AdminOptions {
    pub config_token: Option<ConfigToken>,
    pub max_config_bytes: usize,
}

/// A reply of the config channel's wire format ([`config_channel`]).
fn reply<T: serde::Serialize>(status: StatusCode, body: &T) -> Response<ProxyBody> {
    match serde_json::to_vec(body) {
        Ok(bytes) => respond::json_bytes(status, Bytes::from(bytes)),
        Err(_) => respond::static_json(StatusCode::INTERNAL_SERVER_ERROR, respond::INTERNAL),
    }
}

fn message(status: StatusCode, message: &str) -> Response<ProxyBody> {
    reply(
        status,
        &Message {
            message: message.to_owned(),
        },
    )
}

/// Whether `presented` is `Bearer <token>` ([`ConfigToken::authorizes`]: constant time).
fn authorized(expected: &ConfigToken, presented: Option<&HeaderValue>) -> bool {
    presented.is_some_and(|value| expected.authorizes(value.as_bytes()))
}

/// `GET /config`.
pub fn config_status(state: &ProxyState) -> Response<ProxyBody> {
    reply(
        StatusCode::OK,
        &ConfigStatus {
            hash: state.hash(),
            updated_at: state.updated_at(),
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
        let mut response = message(StatusCode::UNAUTHORIZED, "missing or invalid config token");
        response
            .headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    }
    let bytes = match read_bounded(request.into_body(), options.max_config_bytes).await {
        Ok(bytes) => bytes,
        Err(ReadError::TooLarge { limit }) => {
            return message(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("snapshot larger than {limit} bytes"),
            );
        }
        Err(ReadError::Read(_)) => {
            return message(StatusCode::BAD_REQUEST, "could not read the request body");
        }
    };
    match decode_and_apply(state, bytes).await {
        Ok(Ok(hash)) => {
            tracing::info!(%hash, "config applied");
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
        let expected = ConfigToken::new("s3cret").expect("token");
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
}
