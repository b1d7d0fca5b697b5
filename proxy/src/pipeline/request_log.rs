//! What [`super::handle`] does for every request before and after the pipeline: the request id
//! and trace context ([`super::request_ids`]), `X-Request-Id` on the response, and the access
//! log line ([`super::access_log`]) with what the pipeline learned on the way ([`Facts`]).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use http::header::{CONTENT_LENGTH, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use hyper::body::Body;

use super::access_log::Line;
use super::context::{Ctx, Held};
use super::request_ids::{self, Ids, X_REQUEST_ID};
use crate::upstream::{Added, ProxyBody};

/// What the pipeline learns about a request for its log line; filled only while the access
/// log is on.
#[derive(Debug, Default)]
pub struct Facts {
    pub wanted: bool,
    /// The snapshot the route is in (this worker's handle: no shared count touched) and its
    /// index.
    pub route: Option<(Arc<Held>, usize)>,
    pub consumer_id: Option<HeaderValue>,
    pub consumer: Option<HeaderValue>,
    /// From sending to the upstream until its response head.
    pub upstream: Option<Duration>,
}

impl Facts {
    /// Notes the caller's identity from the headers set for the upstream.
    pub fn note_identity(&mut self, added: &Added) {
        if !self.wanted {
            return;
        }
        for (name, value) in added.iter() {
            if name == tollgate_core::oauth::identity::X_CONSUMER_ID {
                self.consumer_id = Some(value.clone());
            } else if name == tollgate_core::oauth::identity::X_CONSUMER_USERNAME {
                self.consumer = Some(value.clone());
            }
        }
    }
}

/// A request being served, for its log line.
pub struct RequestLog {
    start: Instant,
    ids: Ids,
    /// Method, target and version as the client sent them (only while the log is on).
    request: Option<(Method, Uri, Version)>,
    pub facts: Facts,
}

/// Sets the request's ids and notes what its log line needs before the pipeline changes it.
pub fn begin(ctx: &Ctx, request: &mut Request<ProxyBody>, start: Instant) -> RequestLog {
    let ids = request_ids::apply(request.headers_mut(), ctx.peer.trusted);
    let wanted = ctx.local.access_log.is_some();
    RequestLog {
        start,
        ids,
        request: wanted.then(|| {
            (
                request.method().clone(),
                request.uri().clone(),
                request.version(),
            )
        }),
        facts: Facts {
            wanted,
            ..Facts::default()
        },
    }
}

impl RequestLog {
    /// Sets `X-Request-Id` on the response and writes the access log line.
    pub fn finish(self, ctx: &Ctx, response: &mut Response<ProxyBody>) {
        let RequestLog {
            start,
            ids,
            request,
            facts,
        } = self;
        if let (Some(log), Some((method, uri, version))) = (&ctx.local.access_log, &request) {
            let route = facts
                .route
                .as_ref()
                .and_then(|(held, index)| held.routes.get(*index))
                .map(|entry| &*entry.id);
            let target = uri
                .path_and_query()
                .map_or_else(|| uri.path(), |pq| pq.as_str());
            log.write(&Line {
                time: SystemTime::now(),
                client: ctx.peer_ip,
                method: method.as_str(),
                target,
                version: *version,
                status: response.status().as_u16(),
                bytes: body_bytes(method, response),
                total: start.elapsed(),
                upstream: facts.upstream,
                route,
                consumer_id: facts.consumer_id.as_ref().map(HeaderValue::as_bytes),
                consumer: facts.consumer.as_ref().map(HeaderValue::as_bytes),
                request_id: Some(ids.request_id.as_bytes()),
                trace_id: Some(&ids.trace_id),
            });
        }
        response
            .headers_mut()
            .insert(X_REQUEST_ID.clone(), ids.request_id);
    }
}

/// The response body's length as the response declares it: its exact size, else its
/// `Content-Length`; 0 for `HEAD`, 204 and 304; `None` for a streamed body of unknown length.
fn body_bytes(method: &Method, response: &Response<ProxyBody>) -> Option<u64> {
    let status = response.status();
    if method == Method::HEAD
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
        || status.is_informational()
    {
        return Some(0);
    }
    if let Some(n) = response.body().declared_length() {
        return Some(n);
    }
    if let Some(n) = response.body().size_hint().exact() {
        return Some(n);
    }
    response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// A request the HTTP/1 parser refused before the pipeline saw it (hyper answered 400, 414 or
/// 431 itself): logged with the status it sent, without method, target or ids.
pub fn parser_refusal(ctx: &Ctx, status: u16) {
    let Some(log) = &ctx.local.access_log else {
        return;
    };
    log.write(&Line {
        time: SystemTime::now(),
        client: ctx.peer_ip,
        method: "-",
        target: "",
        version: Version::HTTP_11,
        status,
        bytes: Some(0),
        total: Duration::ZERO,
        upstream: None,
        route: None,
        consumer_id: None,
        consumer: None,
        request_id: None,
        trace_id: None,
    });
}
