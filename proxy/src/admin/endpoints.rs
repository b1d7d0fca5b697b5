//! The admin port (8100): health, readiness, metrics ([`super::metrics`]), and the config
//! channel ([`super::config_channel`]). See docs/CONTRACTS.md "Admin port".

use std::sync::Arc;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, StatusCode};

use super::config_channel::{self, AdminOptions};
use super::metrics;
use super::revocation_channel;
use crate::pipeline::ProxyState;
use crate::shared::respond::message;
use crate::upstream::ProxyBody;
use tollgate_core::config_channel as wire;
use tollgate_core::revocation;

fn text(status: StatusCode, body: &'static str) -> Response<ProxyBody> {
    let mut response = Response::new(ProxyBody::full(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Which endpoints a listener serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoints {
    /// Health, readiness, metrics and the config channel (standalone mode's admin port, or a
    /// proxy without a metrics listener of its own).
    All,
    /// The config channel only (`tollgate-proxy`'s admin port).
    ConfigChannel,
    /// Health, readiness and metrics only (`tollgate-proxy`'s metrics port).
    Health,
}

/// Serves one admin request.
pub async fn handle<B>(
    state: &Arc<ProxyState>,
    options: &AdminOptions,
    endpoints: Endpoints,
    request: Request<B>,
) -> Response<ProxyBody>
where
    B: hyper::body::Body<Data = Bytes, Error = hyper::Error> + Unpin,
{
    let path = request.uri().path();
    let served = match endpoints {
        Endpoints::All => true,
        Endpoints::ConfigChannel => path == wire::PATH || path == revocation::PATH,
        Endpoints::Health => path != wire::PATH && path != revocation::PATH,
    };
    if !served {
        return message(StatusCode::NOT_FOUND, "not found");
    }
    match (request.method(), path) {
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
        (&Method::GET, wire::PATH) => config_channel::config_status(state, options, &request),
        (&Method::POST, wire::PATH) => config_channel::push_config(state, options, request).await,
        (&Method::GET, revocation::PATH) => {
            revocation_channel::page(state, options, &request).await
        }
        (&Method::POST, revocation::PATH) => {
            revocation_channel::push(state, options, request).await
        }
        (_, "/healthz" | "/readyz" | "/metrics" | wire::PATH | revocation::PATH) => {
            message(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        }
        _ => message(StatusCode::NOT_FOUND, "not found"),
    }
}
