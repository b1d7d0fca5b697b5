//! The admin port (8100): health, readiness, metrics, and the config channel.
//! See docs/CONTRACTS.md "Admin port".

use std::sync::Arc;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, WWW_AUTHENTICATE};
use http::{Method, Request, Response, StatusCode};
use tollgate_core::config_channel::{self, Applied, ConfigStatus, ConfigToken, Message};
use tollgate_core::snapshot::Snapshot;

use crate::body::{self, ProxyBody};
use crate::respond;
use crate::state::ProxyState;

/// What the admin handler needs besides the state.
#[derive(Clone, Debug)]
pub struct AdminOptions {
    pub config_token: Option<ConfigToken>,
    pub max_config_bytes: usize,
}

fn text(status: StatusCode, body: &'static str) -> Response<ProxyBody> {
    let mut response = Response::new(ProxyBody::full(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
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

fn config_status(state: &ProxyState) -> Response<ProxyBody> {
    reply(
        StatusCode::OK,
        &ConfigStatus {
            hash: state.hash(),
            updated_at: state.updated_at(),
        },
    )
}

/// Serves one admin request.
pub async fn handle<B>(
    state: &Arc<ProxyState>,
    options: &AdminOptions,
    request: Request<B>,
) -> Response<ProxyBody>
where
    B: hyper::body::Body<Data = Bytes, Error = hyper::Error> + Unpin,
{
    match (request.method(), request.uri().path()) {
        (&Method::GET | &Method::HEAD, "/healthz") => text(StatusCode::OK, "ok\n"),
        (&Method::GET | &Method::HEAD, "/readyz") => {
            if state.is_ready() {
                text(StatusCode::OK, "ready\n")
            } else if state.is_shutting_down() {
                text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n")
            } else {
                text(StatusCode::SERVICE_UNAVAILABLE, "no config yet\n")
            }
        }
        (&Method::GET, "/metrics") => {
            let mut response =
                Response::new(ProxyBody::full(state.metrics().render(&state.hash())));
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            response
        }
        (&Method::GET, config_channel::PATH) => config_status(state),
        (&Method::POST, config_channel::PATH) => push_config(state, options, request).await,
        (_, "/healthz" | "/readyz" | "/metrics" | config_channel::PATH) => {
            message(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        }
        _ => message(StatusCode::NOT_FOUND, "not found"),
    }
}

async fn push_config<B>(
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
    let bytes = match body::read_bounded(request.into_body(), options.max_config_bytes).await {
        Ok(bytes) => bytes,
        Err(body::ReadError::TooLarge { limit }) => {
            return message(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("snapshot larger than {limit} bytes"),
            );
        }
        Err(body::ReadError::Read(_)) => {
            return message(StatusCode::BAD_REQUEST, "could not read the request body");
        }
    };
    // Decoding tens of megabytes takes a while: do it off the async workers, together with the
    // apply, and free the body as soon as it is decoded (the compiled snapshot takes over the
    // decoded strings, so the body, the decoded snapshot and the indexes are never all alive).
    let applying = state.clone();
    let result = tokio::task::spawn_blocking(move || {
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
    .await;
    match result {
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
