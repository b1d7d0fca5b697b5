//! The operator's health endpoint (`--admin-addr`; not the proxy's admin port, which also
//! carries the config channel): `/healthz` (the process runs and its leader election loop makes
//! progress), `/readyz`
//! (every cache synced; a follower is ready too, so it can take over), `/metrics` (Prometheus).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use super::metrics::ControllerMetrics;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("binding the admin address {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Liveness: each election round is bounded by the renew deadline (at most 10 s by default) and
/// rounds run every few seconds, so a loop quiet for this long is stuck and the process should
/// be restarted.
pub const ELECTION_STUCK: std::time::Duration = std::time::Duration::from_secs(60);

/// Why `/readyz` is 503: every watch that has not listed yet, and its last error (a missing
/// CRD, or the verb and resource RBAC refused).
fn not_ready(metrics: &ControllerMetrics) -> String {
    let mut body = String::from("caches not synced\n");
    for (watch, error) in metrics.unsynced_watches() {
        body.push_str(&format!(
            "waiting for {watch}: {}\n",
            error.as_deref().unwrap_or("not listed yet")
        ));
    }
    body
}

/// Answers one admin request (a plain function: testable without a socket).
pub fn respond(metrics: &ControllerMetrics, method: &Method, path: &str) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match (method, path) {
        (&Method::GET | &Method::HEAD, "/healthz") => match metrics.since_election_round() {
            Some(quiet) if quiet > ELECTION_STUCK => (
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                format!(
                    "the leader election loop has completed no round for {}s\n",
                    quiet.as_secs()
                ),
            ),
            _ => (StatusCode::OK, "text/plain", "ok\n".to_owned()),
        },
        (&Method::GET | &Method::HEAD, "/readyz") if metrics.is_ready() => {
            (StatusCode::OK, "text/plain", "ready\n".to_owned())
        }
        (&Method::GET | &Method::HEAD, "/readyz") => (
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            not_ready(metrics),
        ),
        (&Method::GET | &Method::HEAD, "/metrics") => (
            StatusCode::OK,
            "text/plain; version=0.0.4",
            metrics.render(),
        ),
        (_, "/healthz" | "/readyz" | "/metrics") => (
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "method not allowed\n".to_owned(),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found\n".to_owned(),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = header::HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

/// Binds `addr` (so a port conflict fails start-up) and returns the serving future.
pub async fn bind(
    addr: SocketAddr,
    metrics: Arc<ControllerMetrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<impl Future<Output = ()> + Send, Error> {
    // Dual-stack for `[::]`, with the proxy's fallback to IPv4 on a host without IPv6.
    let listener = tollgate_proxy::listen(addr, 128)
        .map_err(|e| Error::Bind {
            addr,
            source: std::io::Error::other(e.to_string()),
        })
        .and_then(|l| TcpListener::from_std(l).map_err(|source| Error::Bind { addr, source }))?;
    tracing::info!(%addr, "admin endpoint listening");
    Ok(async move {
        tokio::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                () = &mut shutdown => return,
                accepted = listener.accept() => accepted,
            };
            let Ok((stream, _)) = accepted else { continue };
            let metrics = Arc::clone(&metrics);
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let response = respond(&metrics, req.method(), req.uri().path());
                    async move { Ok::<_, Infallible>(response) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_follows_cache_sync_and_health_is_always_ok() {
        let m = ControllerMetrics::new();
        let table = [
            (false, "/healthz", StatusCode::OK),
            (false, "/readyz", StatusCode::SERVICE_UNAVAILABLE),
            (true, "/readyz", StatusCode::OK),
            (true, "/metrics", StatusCode::OK),
            (true, "/nope", StatusCode::NOT_FOUND),
        ];
        for (ready, path, want) in table {
            m.set_ready(ready);
            assert_eq!(
                respond(&m, &Method::GET, path).status(),
                want,
                "{path} ready={ready}"
            );
        }
        assert_eq!(
            respond(&m, &Method::POST, "/metrics").status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
    }

    #[tokio::test]
    async fn readyz_names_each_watch_not_synced_and_why() {
        use http_body_util::BodyExt as _;
        let m = ControllerMetrics::new();
        m.watch_started("consumers.tollgate.dev in all namespaces");
        m.watch_started("secrets in all namespaces");
        m.watch_failed(
            "secrets in all namespaces",
            "forbidden (403): RBAC does not let the controller list secrets".into(),
        );
        m.watch_synced("consumers.tollgate.dev in all namespaces");
        let reply = respond(&m, &Method::GET, "/readyz");
        assert_eq!(reply.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = reply.into_body().collect().await.expect("body").to_bytes();
        let body = String::from_utf8_lossy(&body);
        assert!(
            body.contains("waiting for secrets in all namespaces: forbidden (403)"),
            "{body}"
        );
        assert!(
            !body.contains("consumers"),
            "a synced watch is not listed: {body}"
        );
    }
}
