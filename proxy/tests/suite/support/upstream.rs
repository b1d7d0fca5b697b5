//! A tiny upstream that echoes what it received as JSON:
//! `{"method", "uri", "headers": {name: [values]}, "body"}`. `/hang…` never answers.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::json;
use tokio::net::TcpListener;

async fn echo(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    if request.uri().path().starts_with("/hang") {
        std::future::pending::<()>().await;
    }
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in &parts.headers {
        headers
            .entry(name.as_str().to_owned())
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    let echoed = json!({
        "method": parts.method.as_str(),
        "uri": parts.uri.to_string(),
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
    });
    let mut response = Response::new(Full::new(Bytes::from(echoed.to_string())));
    response.headers_mut().insert(
        "content-type",
        http::HeaderValue::from_static("application/json"),
    );
    response.headers_mut().insert(
        "connection",
        http::HeaderValue::from_static("keep-alive, x-upstream-hop"),
    );
    response.headers_mut().insert(
        "x-upstream-hop",
        http::HeaderValue::from_static("must not reach the client"),
    );
    Ok(response)
}

/// Starts the echo upstream on an ephemeral loopback port; it runs until the test ends.
pub async fn start() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind upstream");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service_fn(echo))
                    .await;
            });
        }
    });
    addr
}

/// An address where nothing listens (bound, then closed).
pub async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    addr
}

/// An echo upstream whose answers wait for the test: `arrived` is notified when a request
/// comes in, and each request waits for one `release` permit before it is answered.
pub async fn start_gated() -> (
    SocketAddr,
    std::sync::Arc<tokio::sync::Notify>,
    std::sync::Arc<tokio::sync::Semaphore>,
) {
    use std::sync::Arc;
    let arrived = Arc::new(tokio::sync::Notify::new());
    let release = Arc::new(tokio::sync::Semaphore::new(0));
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind upstream");
    let addr = listener.local_addr().expect("addr");
    let (a, r) = (arrived.clone(), release.clone());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (a, r) = (a.clone(), r.clone());
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let (a, r) = (a.clone(), r.clone());
                    async move {
                        a.notify_one();
                        if let Ok(permit) = r.acquire().await {
                            permit.forget();
                        }
                        echo(request).await
                    }
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, arrived, release)
}

/// The echo upstream behind TLS with a self-signed certificate for `localhost`; returns its
/// address and the path of its certificate (to trust it).
pub async fn start_tls() -> (SocketAddr, std::path::PathBuf) {
    let dir = super::temp_dir("upstream-tls");
    let (cert, key) = (dir.join("up.crt"), dir.join("up.key"));
    tollgate_proxy::tls::write_self_signed(&cert, &key).expect("certificate");
    let config = tollgate_proxy::tls::server_config(
        tollgate_proxy::tls::load_pem_files(&cert, &key).expect("load"),
    )
    .expect("config");
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind upstream");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service_fn(echo))
                    .await;
            });
        }
    });
    (addr, cert)
}
