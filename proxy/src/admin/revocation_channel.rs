//! The revocation channel beside the config channel (docs/CONTRACTS.md, "Admin port"), both
//! with the config token:
//! - `GET /revocations?after=<seq>&wait=<seconds>`: the ids revoked at this proxy after
//!   sequence number `after` ([`RevocationPage`]), held up to `wait` seconds (at most 30) while
//!   there are none; the controller long-polls it;
//! - `POST /revocations` ([`RevocationPush`]): ids revoked elsewhere, merged at once (no
//!   snapshot is compiled).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::{Request, Response, StatusCode};
use tollgate_core::revocation::{CAPACITY, RevocationPush};

use super::config_channel::{AdminOptions, authorized, message, reply, unauthorized};
use crate::pipeline::ProxyState;
use crate::shared::body_limit::{ReadError, read_bounded};
use crate::shared::clock::unix_now;
use crate::upstream::ProxyBody;

/// Largest `POST /revocations` body: a full store in JSON (about 60 bytes an entry).
const MAX_PUSH_BYTES: usize = CAPACITY * 64 + 1024;

/// `GET /revocations`.
pub async fn page<B>(
    state: &Arc<ProxyState>,
    options: &AdminOptions,
    request: &Request<B>,
) -> Response<ProxyBody> {
    let Some(expected) = &options.config_token else {
        return message(
            StatusCode::FORBIDDEN,
            "the revocation channel is disabled on this proxy",
        );
    };
    if !authorized(expected, request.headers().get(AUTHORIZATION)) {
        return unauthorized();
    }
    let mut after = 0;
    let mut wait = 0;
    for (name, value) in form_urlencoded::parse(request.uri().query().unwrap_or("").as_bytes()) {
        let Ok(number) = value.parse::<u64>() else {
            return message(StatusCode::BAD_REQUEST, "after and wait are numbers");
        };
        match &*name {
            "after" => after = number,
            "wait" => wait = number,
            _ => {}
        }
    }
    let page = state
        .revocations()
        .wait_page(after, Duration::from_secs(wait), unix_now)
        .await;
    reply(StatusCode::OK, &page)
}

/// `POST /revocations`.
pub async fn push<B>(
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
            "the revocation channel is disabled on this proxy",
        );
    };
    if !authorized(expected, request.headers().get(AUTHORIZATION)) {
        return unauthorized();
    }
    let bytes = match read_bounded(
        request.into_body(),
        MAX_PUSH_BYTES,
        &options.push_body,
        std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
    )
    .await
    {
        Ok(bytes) => bytes,
        Err(ReadError::TooLarge { limit }) => {
            return message(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("revocations larger than {limit} bytes"),
            );
        }
        Err(ReadError::Timeout) => {
            return message(
                StatusCode::REQUEST_TIMEOUT,
                "the revocations did not arrive in time",
            );
        }
        Err(ReadError::Read(_) | ReadError::Busy) => {
            return message(StatusCode::BAD_REQUEST, "could not read the request body");
        }
    };
    let pushed = match serde_json::from_slice::<RevocationPush>(&bytes) {
        Ok(pushed) if pushed.entries.len() <= CAPACITY => pushed,
        Ok(_) => {
            return message(
                StatusCode::BAD_REQUEST,
                "more revocations than a store holds",
            );
        }
        Err(e) => {
            return message(
                StatusCode::BAD_REQUEST,
                &format!("revocations are not JSON of the expected shape: {e}"),
            );
        }
    };
    let revocations = state.revocations();
    match revocations.merge(pushed.entries, unix_now()) {
        Ok(added) => message(
            StatusCode::OK,
            &format!("{added} new; {} held", revocations.len()),
        ),
        Err(full) => {
            tracing::warn!(error = %full, "pushed revocations did not all fit");
            message(StatusCode::INSUFFICIENT_STORAGE, &full.to_string())
        }
    }
}
