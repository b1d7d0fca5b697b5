//! End to end, what an operator relies on: the access log, request ids and trace context, and
//! the HTTPS certificates (reloaded when their files change, chosen by SNI). The real
//! `tollgate-controller standalone` and `tollgate-proxy` binaries, a real httpbin echoing what it
//! received, real TLS clients. Request-level behaviour is checked on both request paths: the
//! HTTP/1 fast path and hyper's (`--http1-fast-path false`).

use std::time::Duration;

use http::Method;
use serde_json::Value;
use tollgate_e2e::fixture::{Quickstart, Variant, echoed_headers};
use tollgate_e2e::quickstart;
use tollgate_e2e::raw::{build_request, raw_http1};
use tollgate_e2e::wait::wait_until;

/// How long an access log line may take to reach the log (the writer flushes every 100 ms).
const LOG_WAIT: Duration = Duration::from_secs(10);

/// The access log lines of a gateway log, as JSON objects whatever the format: JSON lines
/// parsed as they are, text lines (`… INFO access: k=v k="quoted v" …`) turned into objects of
/// strings.
fn access_lines(log: &str) -> Vec<Value> {
    log.lines()
        .filter_map(|line| {
            if line.starts_with('{') {
                let value: Value = serde_json::from_str(line).ok()?;
                return (value["target"] == "access").then_some(value);
            }
            let (_, fields) = line.split_once(" INFO access: ")?;
            Some(Value::Object(parse_text_fields(fields)))
        })
        .collect()
}

/// `k=v k="quoted \"v\""` into a map of strings (`-` stays `-`).
fn parse_text_fields(text: &str) -> serde_json::Map<String, Value> {
    let mut map = serde_json::Map::new();
    let mut rest = text;
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim().to_owned();
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &quoted[end.min(quoted.len())..])
        } else {
            let end = after.find(' ').unwrap_or(after.len());
            (after[..end].to_owned(), &after[end..])
        };
        map.insert(key, Value::String(value));
        rest = next;
    }
    map
}

/// A field as text, whichever format wrote it (`null` and `-` both as `None`).
fn field(line: &Value, key: &str) -> Option<String> {
    match &line[key] {
        Value::String(s) if s == "-" => None,
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// Asserts fields of an access line: `None` for a field that is absent (`-` or `null`).
#[track_caller]
fn expect_fields(what: &str, line: &Value, expected: &[(&str, Option<&str>)]) {
    for (key, want) in expected {
        assert_eq!(
            field(line, key).as_deref(),
            *want,
            "{what}: {key} in {line}"
        );
    }
}

/// Waits for the access line of the request with id `request_id`.
async fn line_of(qs: &Quickstart, request_id: &str) -> Value {
    wait_until(
        LOG_WAIT,
        &format!("the access line of {request_id}"),
        || {
            let log = qs.gateway_log();
            let id = request_id.to_owned();
            async move {
                access_lines(&log)
                    .into_iter()
                    .find(|line| field(line, "request_id").as_deref() == Some(id.as_str()))
                    .ok_or_else(|| "not logged yet".to_owned())
            }
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", qs.gateway_log()))
}

fn server_path(fast_path: bool) -> &'static str {
    if fast_path { "true" } else { "false" }
}

/// Every request gets one access line, on both request paths and in both formats: a token
/// request, a forwarded one (consumer, route, upstream time, bytes, a secret query value
/// redacted), a refused one (401), one refused before routing (400) and one hyper's parser
/// refuses itself (431). No token or secret is ever written.
#[tokio::test]
async fn every_request_gets_one_access_log_line_on_both_paths_and_in_both_formats() {
    for (fast_path, format) in [
        (true, "text"),
        (true, "json"),
        (false, "text"),
        (false, "json"),
    ] {
        let what = format!("fast path {fast_path}, {format}");
        let args = [
            "--http1-fast-path",
            server_path(fast_path),
            "--log-format",
            format,
        ];
        let qs = Quickstart::start_variant(
            &format!("access-log-{fast_path}-{format}"),
            Variant {
                gateway_args: &args,
                ..Variant::default()
            },
        )
        .await;

        let token_response = qs.request_token(quickstart::CLIENT_SECRET).await;
        assert_eq!(
            token_response.status,
            200,
            "{what}: {}",
            token_response.describe()
        );
        let token = tollgate_e2e::fixture::access_token_of(&token_response);
        let token_id = token_response
            .header("x-request-id")
            .expect("id")
            .to_owned();

        let url = format!(
            "{}?client_secret=hunter2&page=2&access_token={token}",
            qs.upstream_url()
        );
        let auth = format!("Bearer {token}");
        let forwarded = qs
            .client
            .send(
                Method::GET,
                &url,
                &[("authorization", &auth)],
                bytes::Bytes::new(),
            )
            .await
            .expect("upstream call");
        assert_eq!(forwarded.status, 200, "{what}: {}", forwarded.describe());
        let forwarded_id = forwarded.header("x-request-id").expect("id").to_owned();

        let refused = qs.call_upstream(None).await;
        assert_eq!(refused.status, 401, "{what}");
        let refused_id = refused.header("x-request-id").expect("id").to_owned();

        let bad = qs
            .client
            .get(&qs.gateway.http_url("/a%2Fb"))
            .await
            .expect("bad path");
        assert_eq!(bad.status, 400, "{what}: {}", bad.describe());
        let bad_id = bad.header("x-request-id").expect("id").to_owned();

        let big = "x".repeat(40 * 1024);
        let oversized = build_request(
            "GET /anything HTTP/1.1",
            &qs.gateway.http_addr(),
            &[("x-big", &big)],
            b"",
        );
        let oversized = raw_http1(&qs.gateway.http_addr(), &oversized)
            .await
            .expect("oversized head answered");
        assert_eq!(oversized.status, 431, "{what}");

        let line = line_of(&qs, &token_id).await;
        expect_fields(
            &what,
            &line,
            &[
                ("method", Some("POST")),
                ("path", Some(quickstart::TOKEN_PATH)),
                ("status", Some("200")),
                ("route", Some("default/auth")),
                ("protocol", Some("HTTP/1.1")),
                (
                    "bytes",
                    Some(token_response.body.len().to_string().as_str()),
                ),
                ("upstream_ms", None),
            ],
        );

        let line = line_of(&qs, &forwarded_id).await;
        let expected_path = format!(
            "{}?client_secret=REDACTED&page=2&access_token=REDACTED",
            qs.upstream_path()
        );
        expect_fields(
            &what,
            &line,
            &[
                ("path", Some(expected_path.as_str())),
                ("status", Some("200")),
                ("route", Some("default/httpbin")),
                ("consumer_id", Some(qs.expected_consumer_id().as_str())),
                ("consumer", Some(quickstart::USERNAME)),
                ("client", Some("127.0.0.1")),
                ("bytes", Some(forwarded.body.len().to_string().as_str())),
            ],
        );
        let total: f64 = field(&line, "duration_ms")
            .expect("total")
            .parse()
            .expect("ms");
        let upstream: f64 = field(&line, "upstream_ms")
            .expect("upstream time")
            .parse()
            .expect("ms");
        assert!(upstream > 0.0 && upstream <= total, "{what}: {line}");
        let trace = field(&line, "trace_id").expect("trace id");
        let sent = echoed_headers(&forwarded.json());
        assert!(
            sent.get("traceparent").is_some_and(|t| t.contains(&trace)),
            "{what}: {line} {sent:?}"
        );

        let line = line_of(&qs, &refused_id).await;
        expect_fields(
            &what,
            &line,
            &[
                ("status", Some("401")),
                ("consumer", None),
                ("upstream_ms", None),
            ],
        );

        let line = line_of(&qs, &bad_id).await;
        expect_fields(&what, &line, &[("status", Some("400")), ("route", None)]);

        let parser = wait_until(LOG_WAIT, "the 431 line", || {
            let log = qs.gateway_log();
            async move {
                access_lines(&log)
                    .into_iter()
                    .find(|l| field(l, "status").as_deref() == Some("431"))
                    .ok_or_else(|| "not logged yet".to_owned())
            }
        })
        .await
        .expect("hyper's 431 is logged");
        assert_eq!(field(&parser, "method"), None, "{what}: {parser}");

        let log = qs.gateway_log();
        let lines = access_lines(&log);
        assert_eq!(lines.len(), 5, "{what}: one line per request\n{log}");
        assert!(!log.contains(&token), "{what}: a token was logged\n{log}");
        assert!(
            !log.contains("hunter2"),
            "{what}: a secret was logged\n{log}"
        );
        assert!(
            !log.contains("client_secret=secret"),
            "{what}: the token request's body was logged\n{log}"
        );
    }
}

#[tokio::test]
async fn access_log_off_writes_no_line_and_still_sets_request_ids() {
    let qs = Quickstart::start_variant(
        "access-log-off",
        Variant {
            gateway_args: &["--access-log", "off"],
            ..Variant::default()
        },
    )
    .await;
    let token = qs.access_token().await;
    let response = qs.call_upstream(Some(&token)).await;
    assert_eq!(response.status, 200);
    let id = response
        .header("x-request-id")
        .expect("request id")
        .to_owned();
    // Stopped, the gateway has written all it ever will.
    let mut qs = qs;
    qs.gateway.stop().await;
    let log = qs.gateway_log();
    assert!(log.contains("stopped"), "{log}");
    assert!(access_lines(&log).is_empty(), "{log}");
    assert!(!log.contains(&id), "{log}");
}

/// Which request id the upstream and the client see, and which trace context the upstream
/// gets, for one gateway.
async fn check_request_ids(qs: &Quickstart, trusted: bool, what: &str) {
    let token = qs.access_token().await;
    let auth = format!("Bearer {token}");
    // httpbin hides X-Request-Id (with the other "environment" headers) unless asked.
    let url = format!("{}?show_env=1", qs.upstream_url());
    let call = |headers: Vec<(&'static str, String)>| {
        let auth = auth.clone();
        let url = url.clone();
        async move {
            let mut all: Vec<(&str, &str)> = vec![("authorization", auth.as_str())];
            all.extend(headers.iter().map(|(n, v)| (*n, v.as_str())));
            qs.client
                .send(Method::GET, &url, &all, bytes::Bytes::new())
                .await
                .expect("upstream call")
        }
    };

    // No id, no trace: both generated, the same id upstream and back.
    let response = call(vec![]).await;
    assert_eq!(response.status, 200, "{what}");
    let sent = echoed_headers(&response.json());
    let id = response.header("x-request-id").expect("id").to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{what}: {id}");
    assert_eq!(response.header_all("x-request-id").len(), 1, "{what}");
    assert_eq!(sent.get("x-request-id"), Some(&id), "{what}: {sent:?}");
    let traceparent = sent.get("traceparent").expect("traceparent created");
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{what}: {traceparent}");
    assert_eq!(
        (parts[0], parts[1].len(), parts[2].len(), parts[3]),
        ("00", 32, 16, "01")
    );

    // Another request: another id and another trace.
    let again = call(vec![]).await;
    let again_sent = echoed_headers(&again.json());
    assert_ne!(again.header("x-request-id"), Some(id.as_str()), "{what}");
    assert_ne!(again_sent.get("traceparent"), Some(traceparent), "{what}");

    // The client's id: kept from a trusted proxy only.
    let response = call(vec![("x-request-id", "client-chosen-42".to_owned())]).await;
    let sent = echoed_headers(&response.json());
    let kept = response.header("x-request-id") == Some("client-chosen-42");
    assert_eq!(kept, trusted, "{what}: {}", response.describe());
    assert_eq!(
        sent.get("x-request-id").map(String::as_str),
        response.header("x-request-id"),
        "{what}: the upstream sees the id the client gets back"
    );

    // A valid traceparent: same trace and flags, a new parent id; tracestate kept.
    let incoming = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";
    let response = call(vec![
        ("traceparent", incoming.to_owned()),
        ("tracestate", "congo=t61rcWkgMzE".to_owned()),
    ])
    .await;
    let sent = echoed_headers(&response.json());
    let forwarded = sent.get("traceparent").expect("traceparent");
    assert!(
        forwarded.starts_with("00-0af7651916cd43dd8448eb211c80319c-") && forwarded.ends_with("-00"),
        "{what}: {forwarded}"
    );
    assert!(
        !forwarded.contains("b7ad6b7169203331"),
        "{what}: a new parent id: {forwarded}"
    );
    assert_eq!(
        sent.get("tracestate").map(String::as_str),
        Some("congo=t61rcWkgMzE")
    );

    // A malformed one: a new trace, tracestate dropped.
    let response = call(vec![
        (
            "traceparent",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01".to_owned(),
        ),
        ("tracestate", "congo=t61rcWkgMzE".to_owned()),
    ])
    .await;
    let sent = echoed_headers(&response.json());
    let forwarded = sent.get("traceparent").expect("traceparent");
    assert!(
        !forwarded.to_ascii_lowercase().contains("0af7651916cd43dd"),
        "{what}: {forwarded}"
    );
    assert_eq!(sent.get("tracestate"), None, "{what}: {sent:?}");

    // A refused request gets an id too.
    let refused = qs.call_upstream(None).await;
    assert_eq!(refused.status, 401);
    assert!(refused.header("x-request-id").is_some(), "{what}");
}

#[tokio::test]
async fn request_ids_and_traceparent_reach_the_upstream_on_both_paths() {
    for fast_path in [true, false] {
        for trusted in [false, true] {
            let mut args = vec!["--http1-fast-path", server_path(fast_path)];
            if trusted {
                args.extend(["--trusted-proxies", "127.0.0.1/32"]);
            }
            let qs = Quickstart::start_variant(
                &format!("request-ids-{fast_path}-{trusted}"),
                Variant {
                    gateway_args: &args,
                    ..Variant::default()
                },
            )
            .await;
            check_request_ids(
                &qs,
                trusted,
                &format!("fast path {fast_path}, trusted {trusted}"),
            )
            .await;
        }
    }
}

mod certificates {
    use std::path::Path;
    use std::sync::Arc;
    use std::time::Duration;

    use bytes::Bytes;
    use http_body_util::{BodyExt, Empty};
    use hyper_util::rt::TokioIo;
    use rustls::pki_types::ServerName;
    use tokio::net::TcpStream;
    use tokio_rustls::TlsConnector;
    use tollgate_e2e::certs::{SecretVolume, any_certificate_config, der_of, generate};
    use tollgate_e2e::gateway::Standalone;
    use tollgate_e2e::httpbin::Httpbin;
    use tollgate_e2e::manifests::Manifests;
    use tollgate_e2e::wait::wait_until;
    use tollgate_e2e::workdir::WorkDir;

    /// How long a certificate change may take to be served (checked every second).
    const RELOAD_WAIT: Duration = Duration::from_secs(15);

    fn any_certificate_client() -> TlsConnector {
        TlsConnector::from(Arc::new(any_certificate_config(&[b"http/1.1"])))
    }

    /// An HTTP/1.1 connection over TLS, kept open, and the certificate it was served.
    struct Connection {
        sender: hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
        served: Vec<u8>,
    }

    /// Connects to `addr` asking for `name` (an IP address sends no SNI).
    async fn connect(addr: &str, name: &str) -> Connection {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let server_name = ServerName::try_from(name.to_owned()).expect("server name");
        let tls = any_certificate_client()
            .connect(server_name, tcp)
            .await
            .expect("TLS handshake");
        let served = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .expect("a certificate")
            .to_vec();
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .expect("HTTP/1.1");
        tokio::spawn(conn);
        Connection { sender, served }
    }

    impl Connection {
        /// `GET /auth` on this connection: the status.
        async fn get(&mut self) -> u16 {
            let request = http::Request::get("/auth/anything")
                .header("host", "localhost")
                .body(Empty::<Bytes>::new())
                .expect("request");
            let response = self.sender.send_request(request).await.expect("response");
            let status = response.status().as_u16();
            response.into_body().collect().await.expect("body");
            status
        }
    }

    /// Which certificate a new connection asking for `name` gets.
    async fn served_for(addr: &str, name: &str) -> Vec<u8> {
        connect(addr, name).await.served
    }

    /// Waits until a new connection asking for `name` gets `expected`.
    async fn wait_served(gateway: &Standalone, name: &str, expected: &[u8], what: &str) {
        let addr = gateway.https_addr();
        wait_until(RELOAD_WAIT, what, || {
            let addr = addr.clone();
            let name = name.to_owned();
            let expected = expected.to_vec();
            async move {
                if served_for(&addr, &name).await == expected {
                    Ok(())
                } else {
                    Err("the previous certificate is still served".to_owned())
                }
            }
        })
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", gateway.log()));
    }

    /// curl, validating against `ca` only, reaching `name` on the gateway's HTTPS port.
    fn curl_status(gateway: &Standalone, name: &str, ca: &Path) -> Result<String, String> {
        let port = gateway
            .https_addr()
            .rsplit(':')
            .next()
            .expect("port")
            .to_owned();
        let output = std::process::Command::new("curl")
            .args([
                "-sS",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--max-time",
                "10",
            ])
            .arg("--cacert")
            .arg(ca)
            .args(["--resolve", &format!("{name}:{port}:127.0.0.1")])
            .arg(format!("https://{name}:{port}/auth/anything"))
            .output()
            .map_err(|e| format!("curl: {e}"))?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    }

    #[tokio::test]
    async fn certificates_are_chosen_by_sni_and_reloaded_without_dropping_connections() {
        let work = WorkDir::new("certificates").expect("work dir");
        let httpbin = Httpbin::start(&work).await.expect("httpbin");
        let manifests_dir = work.subdir("manifests").expect("dir");
        let manifests =
            Manifests::copy_quickstart(&manifests_dir, &httpbin.base_url()).expect("copy");
        let certs = work.subdir("certs").expect("certs dir");
        let first = generate(&["localhost"]);
        let mut default = SecretVolume::new(&certs.join("default"), &first);
        let sni = certs.join("sni");
        let a = generate(&["a.test"]);
        let mut a_volume = SecretVolume::new(&sni.join("a"), &a);
        let wild = generate(&["*.b.test"]);
        std::fs::write(sni.join("b.crt"), &wild.0).expect("cert");
        std::fs::write(sni.join("b.key"), &wild.1).expect("key");
        let a_ca = certs.join("a-ca.pem");
        std::fs::write(&a_ca, &a.0).expect("ca");

        let default_cert = default.cert().display().to_string();
        let default_key = default.key().display().to_string();
        let sni_dir = sni.display().to_string();
        let gateway = Standalone::start_with_args(
            &work,
            manifests.dir(),
            &[
                "--tls-cert",
                &default_cert,
                "--tls-key",
                &default_key,
                "--tls-sni-dir",
                &sni_dir,
            ],
        )
        .await
        .expect("standalone mode starts");
        let addr = gateway.https_addr();

        // SNI picks the certificate; no SNI or an unknown name gets the default one.
        assert_eq!(served_for(&addr, "localhost").await, der_of(&first.0));
        assert_eq!(served_for(&addr, "a.test").await, der_of(&a.0));
        assert_eq!(served_for(&addr, "x.b.test").await, der_of(&wild.0));
        assert_eq!(served_for(&addr, "unknown.test").await, der_of(&first.0));
        assert_eq!(
            served_for(&addr, "127.0.0.1").await,
            der_of(&first.0),
            "no SNI"
        );
        // A validating client: curl trusting only a.test's certificate reaches a.test.
        assert_eq!(curl_status(&gateway, "a.test", &a_ca).as_deref(), Ok("401"));
        assert!(
            curl_status(&gateway, "c.test", &a_ca).is_err(),
            "another name does not get a.test's certificate"
        );

        // An open keep-alive connection, served the first certificate.
        let mut old = connect(&addr, "localhost").await;
        assert_eq!(old.served, der_of(&first.0));
        assert_eq!(old.get().await, 401);

        // The kubelet swaps the Secret volume: new connections get the new certificate, the
        // old connection keeps working.
        let second = generate(&["localhost"]);
        default.update(&second);
        wait_served(
            &gateway,
            "localhost",
            &der_of(&second.0),
            "the renewed default",
        )
        .await;
        assert_eq!(
            old.get().await,
            401,
            "the established connection still serves"
        );

        let a2 = generate(&["a.test"]);
        a_volume.update(&a2);
        wait_served(&gateway, "a.test", &der_of(&a2.0), "the renewed a.test").await;

        // A bad new pair (another certificate's key): logged, the last good one keeps serving.
        let third = generate(&["localhost"]);
        default.update(&(third.0.clone(), generate(&["localhost"]).1));
        wait_until(RELOAD_WAIT, "the bad pair to be reported", || {
            let log = gateway.log();
            async move {
                if log.contains("cannot load the changed certificate") {
                    Ok(())
                } else {
                    Err("not reported yet".to_owned())
                }
            }
        })
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", gateway.log()));
        assert_eq!(served_for(&addr, "localhost").await, der_of(&second.0));
        assert_eq!(old.get().await, 401);
        let log = gateway.log();
        assert!(!log.contains("PRIVATE KEY"), "{log}");
        drop(httpbin);
    }
}
