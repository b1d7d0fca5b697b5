//! Fixtures of the proxy's hostile-input suites: a tagged upstream that records every request
//! it receives, a raw HTTP/1.1 exchange with a parsed response, and a case counter.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What an upstream received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub uri: String,
}

/// An upstream answering `{"upstream": tag, "uri": …, "headers": {name: [values]}}` and
/// remembering every request.
#[derive(Clone)]
pub struct Recorder {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Recorder {
    pub async fn start(tag: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind upstream");
        let addr = listener.local_addr().expect("addr");
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let log = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let log = log.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let log = log.clone();
                        async move { Ok::<_, Infallible>(answer(tag, &log, request).await) }
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, seen }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("log").clone()
    }

    pub fn uris(&self) -> Vec<String> {
        self.seen().into_iter().map(|s| s.uri).collect()
    }
}

async fn answer(
    tag: &str,
    log: &Mutex<Vec<Seen>>,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    log.lock().expect("log").push(Seen {
        uri: parts.uri.to_string(),
    });
    let mut grouped = serde_json::Map::new();
    for (name, value) in headers {
        let entry = grouped.entry(name).or_insert_with(|| json!([]));
        if let Some(list) = entry.as_array_mut() {
            list.push(value.into());
        }
    }
    let echoed = json!({
        "upstream": tag,
        "uri": parts.uri.to_string(),
        "headers": grouped,
        "body": String::from_utf8_lossy(&body),
    });
    let mut response = Response::new(Full::new(Bytes::from(echoed.to_string())));
    response.headers_mut().insert(
        "content-type",
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// A response read off the wire.
#[derive(Debug, Clone)]
pub struct RawReply {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl RawReply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.split("\r\n").skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Writes `request` and reads until the proxy closes the connection (bounded by `limit`).
/// `status` is 0 when the proxy closed without answering.
pub async fn exchange(addr: SocketAddr, request: &[u8], limit: Duration) -> RawReply {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    // A proxy that refuses early may close before every byte is written: that is fine.
    let _ = stream.write_all(request).await;
    let mut bytes = Vec::new();
    let read = async {
        let mut buf = [0u8; 8192];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => bytes.extend_from_slice(&buf[..n]),
            }
        }
    };
    let closed = tokio::time::timeout(limit, read).await.is_ok();
    assert!(closed, "the proxy kept the connection open past {limit:?}");
    parse(&bytes)
}

fn parse(bytes: &[u8]) -> RawReply {
    let text = String::from_utf8_lossy(bytes);
    let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
        return RawReply {
            status: 0,
            head: text.into_owned(),
            body: Vec::new(),
        };
    };
    let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let rest = &bytes[end + 4..];
    let mut reply = RawReply {
        status,
        head,
        body: rest.to_vec(),
    };
    if reply
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        reply.body = dechunk(rest);
    } else if let Some(len) = reply
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        reply.body = rest[..len.min(rest.len())].to_vec();
    }
    reply
}

fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&rest[..line_end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok())
            .unwrap_or(0);
        rest = &rest[line_end + 2..];
        if size == 0 || rest.len() < size {
            break;
        }
        body.extend_from_slice(&rest[..size]);
        rest = rest.get(size + 2..).unwrap_or_default();
    }
    body
}

/// Counts hostile cases per category; prints `HOSTILE-CASES <category> <n>` when dropped.
pub struct Tally {
    category: &'static str,
    cases: usize,
}

impl Tally {
    pub fn new(category: &'static str) -> Self {
        Self { category, cases: 0 }
    }
    pub fn case(&mut self) {
        self.cases += 1;
    }
    pub fn add(&mut self, n: usize) {
        self.cases += n;
    }
}

impl Drop for Tally {
    fn drop(&mut self) {
        println!("HOSTILE-CASES {} {}", self.category, self.cases);
    }
}
