//! The HTTP/1 fast path (`proxy/src/server/h1.rs`) over real sockets: pipelining, keep-alive
//! rules of HTTP/1.0 and 1.1, request bodies, handing a connection to hyper mid-way, relaying
//! chunked and close-delimited upstream bodies, shutdown of idle connections, and the same
//! answers with the fast path switched off.

use crate::hostile_support;
use crate::support;

use std::net::SocketAddr;
use std::time::Duration;

use hostile_support::Recorder;
use support::{RunningProxy, SnapshotBuilder, backend};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How long an exchange may take before the test calls the proxy stuck.
const LIMIT: Duration = Duration::from_secs(10);

async fn start(fast: bool) -> (RunningProxy, Recorder) {
    let upstream = Recorder::start("open").await;
    let snapshot = SnapshotBuilder::quickstart()
        .open_route("default/open", "/open", Some(backend(&[upstream.addr])))
        .build();
    let proxy = RunningProxy::start_with(Some(snapshot), |o| o.http1_fast_path = fast).await;
    (proxy, upstream)
}

/// Writes `bytes` on a new connection and reads until the proxy closes it.
async fn converse(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(bytes).await.expect("write");
    read_to_close(&mut stream).await
}

async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut all = Vec::new();
    tokio::time::timeout(LIMIT, stream.read_to_end(&mut all))
        .await
        .expect("the proxy kept the connection open")
        .expect("read");
    String::from_utf8_lossy(&all).into_owned()
}

/// Reads one response whose body is `Content-Length` delimited; returns its head and body.
async fn read_one(stream: &mut TcpStream) -> (String, String) {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&bytes[..end]).to_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .and_then(|v| v.trim().parse().ok())
                .expect("content-length");
            if bytes.len() >= end + 4 + length {
                let body = String::from_utf8_lossy(&bytes[end + 4..end + 4 + length]);
                return (head, body.into_owned());
            }
        }
        let n = tokio::time::timeout(LIMIT, stream.read(&mut buf))
            .await
            .expect("response in time")
            .expect("read");
        assert!(
            n > 0,
            "closed mid-response: {}",
            String::from_utf8_lossy(&bytes)
        );
        bytes.extend_from_slice(&buf[..n]);
    }
}

/// The status lines in `text` (a body without a final newline runs into the next one).
fn statuses(text: &str) -> Vec<&str> {
    text.match_indices("HTTP/1.")
        .filter_map(|(i, _)| text[i..].split("\r\n").next())
        .collect()
}

/// `text` with every run of digits replaced by `N` (ports differ between proxies).
/// `text` with the values of the generated `traceparent` and `X-Request-Id` (random on each
/// request) replaced by `ID`.
fn without_generated_ids(text: &str) -> String {
    let mut out = text.to_owned();
    for field in ["\"traceparent\":[\"", "\"x-request-id\":[\""] {
        if let Some(start) = out.find(field).map(|i| i + field.len())
            && let Some(len) = out[start..].find('"')
        {
            out.replace_range(start..start + len, "ID");
        }
    }
    out
}

fn without_numbers(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            if !out.ends_with('N') {
                out.push('N');
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order_on_one_connection() {
    for fast in [true, false] {
        let (proxy, upstream) = start(fast).await;
        let text = converse(
            proxy.http,
            b"GET /open/1 HTTP/1.1\r\nHost: x\r\n\r\nGET /open/2 HTTP/1.1\r\nHost: x\r\n\r\n\
              GET /open/3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert_eq!(statuses(&text).len(), 3, "fast={fast}: {text}");
        assert_eq!(upstream.uris(), ["/1", "/2", "/3"], "fast={fast}");
        let first = text.find("\"/1\"").expect("/1 answered");
        let third = text.find("\"/3\"").expect("/3 answered");
        assert!(first < third, "fast={fast}: out of order: {text}");
    }
}

#[tokio::test]
async fn a_chunked_request_after_fast_ones_is_served_by_hyper_on_the_same_connection() {
    let (proxy, upstream) = start(true).await;
    let text = converse(
        proxy.http,
        b"GET /open/a HTTP/1.1\r\nHost: x\r\n\r\n\
          POST /open/b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n\
          POST /open/c HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
    )
    .await;
    let statuses = statuses(&text);
    assert_eq!(statuses, ["HTTP/1.1 200 OK"; 3], "{text}");
    assert_eq!(upstream.uris(), ["/a", "/b", "/c"]);
    assert!(text.contains(r#""body":"hello""#), "{text}");
    assert!(text.contains(r#""body":"abc""#), "{text}");
}

#[tokio::test]
async fn a_small_body_is_forwarded_whole_with_its_length() {
    let (proxy, upstream) = start(true).await;
    let mut stream = TcpStream::connect(proxy.http).await.expect("connect");
    // The body arrives in a later write than the head.
    stream
        .write_all(b"PUT /open/put HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello")
        .await
        .expect("write");
    stream.flush().await.expect("flush");
    tokio::task::yield_now().await;
    stream.write_all(b" world").await.expect("write");
    let (head, body) = read_one(&mut stream).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let echoed: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(echoed["body"], "hello world");
    assert_eq!(echoed["headers"]["content-length"][0], "11");
    assert_eq!(upstream.uris(), ["/put"]);
}

#[tokio::test]
async fn http10_clients_get_keep_alive_only_when_they_ask_for_it() {
    let (proxy, _upstream) = start(true).await;
    let text = converse(proxy.http, b"GET /open/x HTTP/1.0\r\nHost: x\r\n\r\n").await;
    assert_eq!(statuses(&text).len(), 1, "{text}");
    assert!(text.to_lowercase().contains("connection: close"), "{text}");

    let mut stream = TcpStream::connect(proxy.http).await.expect("connect");
    for _ in 0..2 {
        stream
            .write_all(b"GET /open/k HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
            .await
            .expect("write");
        let (head, _) = read_one(&mut stream).await;
        assert!(head.contains("connection: keep-alive"), "{head}");
    }
}

/// An upstream that answers every request with `response` (then closes when `close`).
async fn scripted_upstream(response: &'static [u8], close: bool) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let Ok(n) = stream.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                        seen.drain(..end + 4);
                        if stream.write_all(response).await.is_err() || close {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

async fn start_scripted(response: &'static [u8], close: bool) -> RunningProxy {
    let upstream = scripted_upstream(response, close).await;
    let snapshot = SnapshotBuilder::quickstart()
        .open_route("default/open", "/open", Some(backend(&[upstream])))
        .build();
    RunningProxy::start(Some(snapshot)).await
}

#[tokio::test]
async fn a_chunked_upstream_body_is_relayed_chunked_to_http11_and_until_close_to_http10() {
    let proxy = start_scripted(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        false,
    )
    .await;
    let text = converse(
        proxy.http,
        b"GET /open/c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    let lower = text.to_lowercase();
    assert!(lower.contains("transfer-encoding: chunked"), "{text}");
    assert!(!lower.contains("content-length"), "{text}");
    let body = &text[text.find("\r\n\r\n").expect("head") + 4..];
    assert_eq!(dechunk(body), "hello world", "{text}");

    let text = converse(proxy.http, b"GET /open/c HTTP/1.0\r\nHost: x\r\n\r\n").await;
    assert!(!text.to_lowercase().contains("transfer-encoding"), "{text}");
    assert!(text.ends_with("\r\n\r\nhello world"), "{text}");
}

#[tokio::test]
async fn a_close_delimited_upstream_body_is_relayed_whole() {
    let proxy = start_scripted(
        b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end",
        true,
    )
    .await;
    let text = converse(
        proxy.http,
        b"GET /open/e HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    let body = &text[text.find("\r\n\r\n").expect("head") + 4..];
    assert_eq!(dechunk(body), "until the end", "{text}");
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").expect("chunk size line");
        let size = usize::from_str_radix(size.trim(), 16).expect("hex size");
        if size == 0 {
            return out;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].strip_prefix("\r\n").expect("chunk end");
    }
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_at_shutdown_and_serve_returns() {
    let (mut proxy, _upstream) = start(true).await;
    let mut stream = TcpStream::connect(proxy.http).await.expect("connect");
    stream
        .write_all(b"GET /open/idle HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let (head, _) = read_one(&mut stream).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    proxy.begin_stop();
    let rest = read_to_close(&mut stream).await;
    assert!(rest.is_empty(), "unexpected bytes: {rest}");
    let finished = proxy.finished.take().expect("serve task");
    tokio::time::timeout(LIMIT, finished)
        .await
        .expect("serve returned")
        .expect("join")
        .expect("serve ok");
}

#[tokio::test]
async fn the_fast_path_and_hyper_give_the_same_statuses_and_bodies() {
    let requests: [&[u8]; 5] = [
        b"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /open/../../etc HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /open/q?a=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"HEAD /open/h HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /open/d HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
    ];
    let mut answers: Vec<Vec<(String, String)>> = Vec::new();
    for fast in [true, false] {
        let (proxy, _upstream) = start(fast).await;
        let mut mode = Vec::new();
        for request in requests {
            let text = converse(proxy.http, request).await;
            let status = statuses(&text)
                .first()
                .map(|s| (*s).to_owned())
                .unwrap_or_default();
            let body = text
                .split_once("\r\n\r\n")
                .map(|(_, b)| without_numbers(&without_generated_ids(b)))
                .unwrap_or_default();
            mode.push((status, body));
        }
        answers.push(mode);
    }
    assert_eq!(answers[0], answers[1]);
    let statuses: Vec<&str> = answers[0].iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        statuses,
        [
            "HTTP/1.1 404 Not Found",
            "HTTP/1.1 400 Bad Request",
            "HTTP/1.1 200 OK",
            "HTTP/1.1 200 OK",
            "HTTP/1.1 400 Bad Request"
        ]
    );
}

/// `tollgate_worker_connections` per worker, from the metrics text.
fn worker_connections(metrics: &str) -> Vec<u64> {
    metrics
        .lines()
        .filter(|l| l.starts_with("tollgate_worker_connections{"))
        .map(|l| {
            l.rsplit(' ')
                .next()
                .and_then(|v| v.parse().ok())
                .expect("a gauge value")
        })
        .collect()
}

/// 64 keep-alive connections opened at once (a client filling its pool) end up spread over the
/// two workers, whichever worker the accept queue woke, on both request paths.
#[tokio::test]
async fn a_burst_of_keep_alive_connections_is_spread_over_the_workers() {
    const CONNECTIONS: u64 = 64;
    for fast in [true, false] {
        let (proxy, _upstream) = start(fast).await;
        let addr = proxy.http;
        let connecting = (0..CONNECTIONS).map(|_| TcpStream::connect(addr));
        let mut streams: Vec<TcpStream> = futures::future::join_all(connecting)
            .await
            .into_iter()
            .map(|s| s.expect("connect"))
            .collect();
        for stream in &mut streams {
            stream
                .write_all(b"GET /open HTTP/1.1\r\nHost: example.test\r\n\r\n")
                .await
                .expect("write");
        }
        for stream in &mut streams {
            let (head, _) = read_one(stream).await;
            assert!(head.starts_with("http/1.1 200"), "fast={fast}: {head}");
        }
        // Every connection has been answered, so each is counted against the worker serving it.
        let per_worker = worker_connections(&proxy.metrics().await);
        assert_eq!(per_worker.len(), 2, "fast={fast}: one gauge per worker");
        assert_eq!(per_worker.iter().sum::<u64>(), CONNECTIONS, "fast={fast}");
        for open in &per_worker {
            assert!(
                open.abs_diff(CONNECTIONS / 2) <= 4,
                "fast={fast}: connections per worker {per_worker:?}"
            );
        }
        drop(streams);
        proxy.stop().await;
    }
}
