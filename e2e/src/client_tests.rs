//! Tests of the client: URL handling, TLS trust, HTTP/2, closed connections.
use super::*;

#[test]
fn urls_are_split_into_what_is_dialled_and_what_is_sent() {
    let cases = [
        (
            "https://localhost:8443/auth/oauth2/token",
            true,
            "localhost",
            "127.0.0.1:8443",
            "/auth/oauth2/token",
        ),
        (
            "http://127.0.0.1:8000/anything?a=1",
            false,
            "127.0.0.1",
            "127.0.0.1:8000",
            "/anything?a=1",
        ),
        ("http://[::1]:9/", false, "::1", "[::1]:9", "/"),
        (
            "https://example.test",
            true,
            "example.test",
            "example.test:443",
            "/",
        ),
    ];
    for (url, https, host, connect, path) in cases {
        let t = Target::parse(url).expect(url);
        assert_eq!(
            (
                t.https,
                t.host.as_str(),
                t.connect.as_str(),
                t.path_and_query.as_str()
            ),
            (https, host, connect, path),
            "{url}"
        );
    }
}

#[test]
fn urls_without_an_http_scheme_are_refused() {
    for url in ["ftp://localhost/", "/relative", "localhost:80"] {
        assert!(Target::parse(url).is_err(), "{url}");
    }
}

/// A TLS server with a self-signed certificate for `localhost` that answers every request
/// with its HTTP version; returns its port and the certificate PEM.
async fn tls_server() -> (u16, String) {
    use hyper::service::service_fn;
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    let cert_pem = generated.cert.pem();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(generated.key_pair.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![generated.cert.der().clone()], key)
        .expect("server config");
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = service_fn(|req: Request<hyper::body::Incoming>| async move {
                    let body = format!("{:?} {}", req.version(), req.uri().path());
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from(
                        body,
                    ))))
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (port, cert_pem)
}

#[tokio::test]
async fn https_works_over_http1_and_http2_when_the_self_signed_certificate_is_trusted() {
    let (port, pem) = tls_server().await;
    let certs = rustls_pemfile::certs(&mut pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .expect("pem");
    let client = Client::trusting(certs).expect("client");
    let url = format!("https://localhost:{port}/hello");
    let h1 = client.get(&url).await.expect("http/1.1");
    assert_eq!(
        (h1.status, h1.text()),
        (StatusCode::OK, "HTTP/1.1 /hello".to_owned())
    );
    let h2 = client.clone().http2().get(&url).await.expect("h2");
    assert_eq!(
        (h2.version, h2.text()),
        (Version::HTTP_2, "HTTP/2.0 /hello".to_owned())
    );
}

#[tokio::test]
async fn https_fails_when_the_certificate_is_not_trusted() {
    let (port, _) = tls_server().await;
    let err = Client::plain()
        .expect("client")
        .get(&format!("https://localhost:{port}/"))
        .await
        .expect_err("untrusted");
    assert!(matches!(err, Error::Tls(_)), "{err}");
}

#[tokio::test]
async fn a_server_that_closes_without_answering_gives_an_error_naming_the_closed_connection() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            drop(tcp);
        }
    });
    let err = Client::plain()
        .expect("client")
        .get(&format!("http://127.0.0.1:{port}/"))
        .await
        .expect_err("no response");
    let text = err.to_string();
    assert!(
        text.contains("closed") || text.contains("canceled") || text.contains("reset"),
        "{text}"
    );
    assert!(matches!(err, Error::Http { .. }), "{err:?}");
}
