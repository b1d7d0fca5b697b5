//! The admin port (8100): health, readiness, metrics ([`super::metrics`]), and the config
//! channel ([`super::config_channel`]). See docs/CONTRACTS.md "Admin port".

use std::sync::Arc;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, StatusCode};

use super::config_channel::{self, AdminOptions};
use super::metrics;
use crate::pipeline::ProxyState;
use crate::shared::respond::message;
use crate::upstream::ProxyBody;
use tollgate_core::config_channel as wire;

fn text(status: StatusCode, body: &'static str) -> Response<ProxyBody> {
    let mut response = Response::new(ProxyBody::full(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
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
        (&Method::GET, "/metrics") => metrics::endpoint(state),
        (&Method::GET, wire::PATH) => config_channel::config_status(state),
        (&Method::POST, wire::PATH) => config_channel::push_config(state, options, request).await,
        (_, "/healthz" | "/readyz" | "/metrics" | wire::PATH) => {
            message(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        }
        _ => message(StatusCode::NOT_FOUND, "not found"),
    }
}
