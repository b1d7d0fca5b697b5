//! A route's Gateway API parts compiled for serving: its filters (header modifiers, redirect,
//! URL rewrite), its weighted backends and its timeouts. Built once per snapshot; a route
//! without them carries nothing and pays nothing per request.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::header::{HOST, LOCATION};
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use tollgate_core::routing::{self, RedirectFrom, RouteMatch};
use tollgate_core::snapshot::{self, PathModifier, Route, RouteFilter};

use crate::shared::respond;
use crate::upstream::{Added, ProxyBody, Target};

/// Header changes of a `RequestHeaderModifier` or `ResponseHeaderModifier`, parsed.
#[derive(Debug, Default)]
pub struct HeaderOps {
    set: Vec<(HeaderName, HeaderValue)>,
    add: Vec<(HeaderName, HeaderValue)>,
    remove: Vec<HeaderName>,
}

impl HeaderOps {
    fn compile(
        set: &[snapshot::HeaderValue],
        add: &[snapshot::HeaderValue],
        remove: &[String],
    ) -> Result<Self, String> {
        let pair = |h: &snapshot::HeaderValue| {
            let name = HeaderName::from_bytes(h.name.as_bytes())
                .map_err(|_| format!("{:?} is not a header name", h.name))?;
            let value = HeaderValue::from_str(&h.value)
                .map_err(|_| format!("the value of {:?} is not a header value", h.name))?;
            Ok::<_, String>((name, value))
        };
        Ok(Self {
            set: set.iter().map(pair).collect::<Result<_, _>>()?,
            add: add.iter().map(pair).collect::<Result<_, _>>()?,
            remove: remove
                .iter()
                .map(|n| {
                    HeaderName::from_bytes(n.as_bytes())
                        .map_err(|_| format!("{n:?} is not a header name"))
                })
                .collect::<Result<_, _>>()?,
        })
    }

    /// Applies the changes in the Gateway API's order: set (replacing every field of the
    /// name), add (appending a field), remove.
    pub fn apply(&self, headers: &mut HeaderMap) {
        for (name, value) in &self.set {
            headers.insert(name.clone(), value.clone());
        }
        for (name, value) in &self.add {
            headers.append(name.clone(), value.clone());
        }
        for name in &self.remove {
            headers.remove(name);
        }
    }
}

/// A `RequestRedirect` filter.
#[derive(Debug)]
pub struct Redirect {
    scheme: Option<String>,
    hostname: Option<String>,
    port: Option<u16>,
    path: Option<PathModifier>,
    status: StatusCode,
}

/// A `URLRewrite` filter.
#[derive(Debug)]
pub struct Rewrite {
    host: Option<HeaderValue>,
    path: Option<PathModifier>,
}

/// The weighted backends of a route: one is picked per request in proportion to its weight;
/// `None` stands for an invalid backend reference (500 when picked).
#[derive(Debug)]
pub struct Weighted {
    weights: Vec<u32>,
    targets: Vec<Option<Arc<Target>>>,
    next: AtomicU64,
}

/// What a pick of [`Weighted`] gave.
pub enum Picked<'a> {
    Target(&'a Arc<Target>),
    /// An invalid backend, or every weight 0: the Gateway API's 500.
    Invalid,
}

impl Weighted {
    pub fn pick(&self) -> Picked<'_> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        match routing::weighted_pick(self.weights.iter().copied(), n)
            .and_then(|i| self.targets.get(i))
        {
            Some(Some(target)) => Picked::Target(target),
            _ => Picked::Invalid,
        }
    }
}

/// A route's Gateway API parts; `None` in a [`super::state::RouteEntry`] for a route with none.
#[derive(Debug, Default)]
pub struct RouteExtras {
    pub request_headers: Option<HeaderOps>,
    pub response_headers: Option<HeaderOps>,
    pub redirect: Option<Redirect>,
    pub rewrite: Option<Rewrite>,
    pub weighted: Option<Weighted>,
    /// Gateway API `timeouts.request`: the whole exchange up to the response head.
    pub request_timeout: Option<Duration>,
    /// Gateway API `timeouts.backendRequest`: the backend exchange up to the response head.
    pub backend_timeout: Option<Duration>,
}

impl RouteExtras {
    /// The route's extras, or `None` when it has none; problems name the route.
    pub fn compile(
        route: &Route,
        compile_backend: impl Fn(&snapshot::Backend) -> Result<Target, String>,
    ) -> Result<Option<Box<Self>>, String> {
        if route.filters.is_empty()
            && route.backends.is_empty()
            && route.request_timeout_ms.is_none()
            && route.backend_request_timeout_ms.is_none()
        {
            return Ok(None);
        }
        let mut extras = Self {
            request_timeout: route.request_timeout_ms.map(Duration::from_millis),
            backend_timeout: route.backend_request_timeout_ms.map(Duration::from_millis),
            ..Self::default()
        };
        for filter in &route.filters {
            match filter {
                RouteFilter::RequestHeaderModifier { set, add, remove } => {
                    extras.request_headers = Some(HeaderOps::compile(set, add, remove)?);
                }
                RouteFilter::ResponseHeaderModifier { set, add, remove } => {
                    extras.response_headers = Some(HeaderOps::compile(set, add, remove)?);
                }
                RouteFilter::RequestRedirect {
                    scheme,
                    hostname,
                    path,
                    port,
                    status_code,
                } => {
                    extras.redirect = Some(Redirect {
                        scheme: scheme.clone(),
                        hostname: hostname.clone(),
                        port: *port,
                        path: path.clone(),
                        status: StatusCode::from_u16(*status_code)
                            .ok()
                            .filter(StatusCode::is_redirection)
                            .ok_or_else(|| format!("redirect status {status_code} is invalid"))?,
                    });
                }
                RouteFilter::UrlRewrite { hostname, path } => {
                    let host = match hostname {
                        Some(h) => Some(
                            HeaderValue::from_str(h)
                                .map_err(|_| format!("rewrite hostname {h:?} is invalid"))?,
                        ),
                        None => None,
                    };
                    extras.rewrite = Some(Rewrite {
                        host,
                        path: path.clone(),
                    });
                }
            }
        }
        if !route.backends.is_empty() {
            let mut targets = Vec::with_capacity(route.backends.len());
            for (i, wb) in route.backends.iter().enumerate() {
                targets.push(match &wb.backend {
                    Some(b) => Some(Arc::new(
                        compile_backend(b).map_err(|e| format!("backend {i}: {e}"))?,
                    )),
                    None => None,
                });
            }
            extras.weighted = Some(Weighted {
                weights: route.backends.iter().map(|b| b.weight).collect(),
                targets,
                next: AtomicU64::new(0),
            });
        }
        Ok(Some(Box::new(extras)))
    }
}

/// The answer of a `RequestRedirect` filter: no body, `Location` built from the request.
pub fn redirect_response(
    redirect: &Redirect,
    https: bool,
    headers: &HeaderMap,
    uri: &http::Uri,
    matched: &RouteMatch<'_>,
    path: &str,
) -> Response<ProxyBody> {
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.authority().map(http::uri::Authority::as_str));
    let from = RedirectFrom {
        scheme: if https { "https" } else { "http" },
        host,
        path,
        matched_prefix: matched.matched_prefix,
        query: uri.query(),
    };
    let location = routing::redirect_location(
        redirect.scheme.as_deref(),
        redirect.hostname.as_deref(),
        redirect.port,
        redirect.path.as_ref(),
        &from,
    );
    let Ok(location) = HeaderValue::from_str(&location) else {
        return respond::bad_request();
    };
    let mut response = Response::new(ProxyBody::Empty);
    *response.status_mut() = redirect.status;
    response.headers_mut().insert(LOCATION, location);
    response
        .headers_mut()
        .insert(http::header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    response
}

/// The path a URL rewrite makes of the normalized request path, if it changes it.
pub fn rewritten_path(rewrite: &Rewrite, matched: &RouteMatch<'_>, path: &str) -> Option<String> {
    rewrite
        .path
        .as_ref()
        .map(|m| routing::modified_path(m, matched.matched_prefix, path))
}

/// The `Host` a URL rewrite sends upstream instead of the backend's, replacing the one
/// [`crate::upstream::prepare_request`] put in `added`.
pub fn rewrite_host(rewrite: &Rewrite, added: &mut Added) {
    if let Some(host) = &rewrite.host {
        added.replace(HOST, host.clone());
    }
}
