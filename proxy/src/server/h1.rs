//! The HTTP/1 server fast path.
//!
//! hyper's server hands every request through its dispatcher state machine, a service future
//! and a body channel; on a proxy whose requests are small that machinery costs more than the
//! request's own work. For the requests a gateway mostly sees (HTTP/1.0 or 1.1, no body or a
//! small `Content-Length` body, no `Transfer-Encoding`, `Expect` or `Upgrade`), this module
//! reads the head into the connection's buffer, parses it with `httparse` in place (header
//! values share the buffer's bytes), calls [`pipeline::handle`] in the connection's own task and
//! writes the response head together with the first body bytes in one write.
//!
//! Anything else is handed to hyper with the bytes already read ([`Outcome::Fallback`], a
//! [`Rewind`] stream): heads that do not parse, oversized heads, more than [`MAX_FIELDS`]
//! fields, chunked or large bodies, `Expect: 100-continue`, upgrades, `CONNECT`, and HTTP/2's
//! prior-knowledge preface. So every framing question this path does not answer exactly as
//! hyper would is still answered by hyper, with hyper's statuses (400, 414, 431, ...).
//!
//! Deadlines, with one timer per connection that is re-armed only when it fires: a client has
//! the head timeout to send its first request head, and again for every head once its first
//! bytes have arrived; an idle keep-alive connection is closed after [`IDLE_TIMEOUT`]. On
//! shutdown ([`Stop`]) idle connections close at once and busy ones after their response,
//! which then carries `Connection: close`.

use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::{Duration, SystemTime};

use bytes::{Buf, Bytes, BytesMut};
use http::header::{
    CONNECTION, CONTENT_LENGTH, DATE, EXPECT, HeaderMap, HeaderName, HeaderValue,
    TRANSFER_ENCODING, UPGRADE,
};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use hyper::body::Body;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::pipeline::{self, Ctx};
use crate::shared::fields::tokens;
use crate::upstream::{BodyError, ProxyBody};

/// Most header fields a fast-path head may have (hyper takes the rest, up to its own 100).
pub const MAX_FIELDS: usize = 64;
/// Fields the pipeline may insert into a request's map, reserved when the map is built.
const PIPELINE_FIELDS: usize = 4;
/// Largest request body read on the fast path (larger ones are streamed by hyper).
pub const MAX_BODY: usize = 64 * 1024;
/// How long an idle keep-alive connection is kept (Kong's `keepalive_timeout` is 60 s).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Read buffer growth step.
const READ_CHUNK: usize = 8 * 1024;
/// Response bodies up to this size are copied behind the head and sent in the same write.
const INLINE_BODY: usize = 16 * 1024;

/// A worker's shutdown signal for its fast-path connections (one per worker thread, so
/// waiting on it never contends with another core).
#[derive(Debug, Default)]
pub struct Stop {
    stopping: AtomicBool,
    notify: Notify,
}

impl Stop {
    /// Idle connections close now; busy ones after their current response.
    pub fn trigger(&self) {
        self.stopping.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }

    fn is_set(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }
}

/// The limits of a fast-path connection.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest head; a larger one goes to hyper, which answers 431.
    pub max_head: usize,
    /// Time to send a request head (see the module doc).
    pub head_timeout: Duration,
}

/// How a connection left the fast path.
pub enum Outcome<S> {
    /// Closed: by the client, a deadline, shutdown, `Connection: close` or an I/O error.
    Done,
    /// The next request is not a fast-path one: hyper serves the rest of the connection,
    /// starting with the bytes already read.
    Fallback(Rewind<S>),
}

/// A stream that first yields bytes already read from it.
#[derive(Debug)]
pub struct Rewind<S> {
    prefix: Bytes,
    inner: S,
}

impl<S> Rewind<S> {
    pub fn new(prefix: Bytes, inner: S) -> Self {
        Self { prefix, inner }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.prefix.is_empty() {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(&this.prefix[..n]);
            this.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// A fast-path request head.
#[derive(Debug)]
pub struct Head {
    pub request: Request<ProxyBody>,
    /// The declared body length (0 without `Content-Length`).
    pub content_length: usize,
    /// Whether the client keeps the connection open after this exchange.
    pub keep_alive: bool,
}

/// What the start of the buffer holds. Returned once per request and matched at once, so
/// the head is not boxed.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Parsed {
    /// A fast-path head, now split off the buffer.
    Complete(Head),
    /// An incomplete head: read more.
    Partial,
    /// Not a fast-path request (hyper decides what it is); the buffer is untouched.
    Unusual,
}

/// A header name with the position of its value in the head.
pub type Field = (HeaderName, usize, usize);

/// Parses the head at the start of `buf` in one pass (no separate search for its end); on
/// success the head is split off and its bytes are shared by the URI and the header values.
/// `fields` is scratch space kept by the connection.
pub fn parse_head(buf: &mut BytesMut, max_head: usize, fields: &mut Vec<Field>) -> Parsed {
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_FIELDS];
    let mut parsed = httparse::Request::new(&mut []);
    let len = match httparse::ParserConfig::default().parse_request_with_uninit_headers(
        &mut parsed,
        buf,
        &mut slots,
    ) {
        Ok(httparse::Status::Complete(len)) if len <= max_head => len,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        // Too large (hyper answers 431), too many fields, or malformed.
        _ => return Parsed::Unusual,
    };
    let Some(facts) = head_facts(&parsed, buf.as_ptr() as usize, fields) else {
        return Parsed::Unusual;
    };
    let head = buf.split_to(len).freeze();
    let Ok(uri) = Uri::from_maybe_shared(head.slice(facts.path.0..facts.path.1)) else {
        return Parsed::Unusual;
    };
    // Room for the fields the pipeline inserts (`X-Request-Id`, `traceparent`), so that
    // inserting them does not grow and rehash the map.
    let mut headers = HeaderMap::with_capacity(fields.len() + PIPELINE_FIELDS);
    for (name, start, end) in fields.drain(..) {
        match HeaderValue::from_maybe_shared(head.slice(start..end)) {
            Ok(value) => {
                headers.append(name, value);
            }
            // httparse admits exactly what `HeaderValue` does; never taken.
            Err(_) => return Parsed::Unusual,
        }
    }
    let mut request = Request::new(ProxyBody::Empty);
    *request.method_mut() = facts.method;
    *request.uri_mut() = uri;
    *request.version_mut() = facts.version;
    *request.headers_mut() = headers;
    Parsed::Complete(Head {
        request,
        content_length: facts.content_length,
        keep_alive: facts.keep_alive,
    })
}

/// What the request line and fields of a parsed head say.
struct HeadFacts {
    method: Method,
    version: Version,
    /// The request target's position in the head.
    path: (usize, usize),
    content_length: usize,
    keep_alive: bool,
}

/// Checks a parsed head for the fast path and records its fields' positions (relative to
/// `base`) in `fields`; `None` for a head hyper must see.
fn head_facts(
    parsed: &httparse::Request<'_, '_>,
    base: usize,
    fields: &mut Vec<Field>,
) -> Option<HeadFacts> {
    let span = |s: &[u8]| {
        let start = s.as_ptr() as usize - base;
        (start, start + s.len())
    };
    let method = Method::from_bytes(parsed.method?.as_bytes()).ok()?;
    if method == Method::CONNECT {
        return None;
    }
    let version = match parsed.version? {
        1 => Version::HTTP_11,
        0 => Version::HTTP_10,
        _ => return None,
    };
    let path = span(parsed.path?.as_bytes());
    fields.clear();
    let mut content_length = None;
    let (mut close, mut keep_alive) = (false, false);
    for field in parsed.headers.iter() {
        let name = HeaderName::from_bytes(field.name.as_bytes()).ok()?;
        if name == CONTENT_LENGTH {
            if content_length.is_some() {
                return None;
            }
            content_length = Some(parse_length(field.value)?);
        } else if name == TRANSFER_ENCODING || name == EXPECT || name == UPGRADE {
            return None;
        } else if name == CONNECTION {
            for token in std::str::from_utf8(field.value).ok()?.split(',') {
                let token = token.trim();
                if token.eq_ignore_ascii_case("close") {
                    close = true;
                } else if token.eq_ignore_ascii_case("keep-alive") {
                    keep_alive = true;
                } else if token.eq_ignore_ascii_case("upgrade") {
                    return None;
                }
            }
        }
        let (start, end) = span(field.value);
        fields.push((name, start, end));
    }
    Some(HeadFacts {
        method,
        version,
        path,
        content_length: content_length.unwrap_or(0),
        keep_alive: !close && (version == Version::HTTP_11 || keep_alive),
    })
}

/// A `Content-Length` value: decimal digits only (RFC 9110 §8.6), at most [`MAX_BODY`] on
/// this path.
fn parse_length(value: &[u8]) -> Option<usize> {
    if value.is_empty() || value.len() > 9 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = value
        .iter()
        .fold(0usize, |n, d| n * 10 + usize::from(d - b'0'));
    (n <= MAX_BODY).then_some(n)
}

/// Where a connection is in waiting for bytes, for its deadline.
#[derive(Clone, Copy)]
enum Waiting {
    /// For a first request head, or a keep-alive one (idle), since this instant.
    Head { since: Instant, first: bool },
    /// For the rest of a head or body whose first bytes were seen at this instant.
    Rest(Instant),
}

impl Waiting {
    /// Waiting for a request head from now on.
    fn head(first: bool) -> Self {
        Waiting::Head {
            since: Instant::now(),
            first,
        }
    }
}

struct Conn<'a, S> {
    io: S,
    buf: BytesMut,
    out: Vec<u8>,
    timer: Pin<Box<tokio::time::Sleep>>,
    limits: &'a Limits,
}

/// A read did not deliver bytes: the connection closed or failed, a deadline passed, or the
/// worker is shutting down.
struct Closed;

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<'_, S> {
    /// Reads more bytes, within the deadline `waiting` implies; stops early on shutdown when
    /// `stopped` is given (only while idle).
    async fn fill(
        &mut self,
        waiting: Waiting,
        mut stopped: Option<Pin<&mut tokio::sync::futures::Notified<'_>>>,
    ) -> Result<(), Closed> {
        if self.buf.capacity() - self.buf.len() < 1024 {
            self.buf.reserve(READ_CHUNK);
        }
        loop {
            let read = tokio::select! {
                biased;
                read = self.io.read_buf(&mut self.buf) => read,
                () = self.timer.as_mut() => {
                    let deadline = match waiting {
                        Waiting::Head { since, first: true } | Waiting::Rest(since) => {
                            since + self.limits.head_timeout
                        }
                        Waiting::Head { since, first: false } => since + IDLE_TIMEOUT,
                    };
                    if Instant::now() >= deadline {
                        tracing::debug!("request head or idle deadline passed; closing");
                        return Err(Closed);
                    }
                    self.timer.as_mut().reset(deadline);
                    continue;
                }
                () = async {
                    match stopped.as_mut() {
                        Some(s) => s.as_mut().await,
                        None => std::future::pending().await,
                    }
                } => return Err(Closed),
            };
            return match read {
                Ok(0) | Err(_) => Err(Closed),
                Ok(_) => Ok(()),
            };
        }
    }

    /// Hands the connection to hyper with every byte not yet consumed.
    fn fallback(self, ctx: &Ctx) -> Outcome<S> {
        // hyper builds every response head from a `HeaderMap`.
        ctx.verbatim_heads.store(false, Ordering::Relaxed);
        Outcome::Fallback(Rewind::new(self.buf.freeze(), self.io))
    }
}

/// Serves requests on `io` until the connection ends or a request needs hyper.
pub async fn serve<S>(io: S, ctx: &Ctx, limits: &Limits, stop: &Stop) -> Outcome<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut conn = Conn::new(io, limits);
    let mut fields: Vec<Field> = Vec::with_capacity(16);
    // Registered before the flag is read, so a trigger in between is not missed.
    let stopped = stop.notify.notified();
    tokio::pin!(stopped);
    stopped.as_mut().enable();
    ctx.verbatim_heads.store(true, Ordering::Relaxed);
    let mut first = true;
    loop {
        if stop.is_set() && conn.buf.is_empty() {
            return Outcome::Done;
        }
        let mut waiting = Waiting::head(first);
        // Parsed in place: the head is not moved through a helper's future.
        let mut head = loop {
            if !conn.buf.is_empty() {
                match parse_head(&mut conn.buf, limits.max_head, &mut fields) {
                    Parsed::Complete(head) => break head,
                    Parsed::Unusual => return conn.fallback(ctx),
                    // Over the limit and still incomplete: hyper answers 431.
                    Parsed::Partial if conn.buf.len() > limits.max_head => {
                        return conn.fallback(ctx);
                    }
                    Parsed::Partial => {}
                }
            }
            let Ok(()) = conn.fill_head(&mut waiting, stopped.as_mut()).await else {
                return Outcome::Done;
            };
        };
        first = false;
        if head.content_length > 0 {
            let Ok(body) = conn.read_body(head.content_length).await else {
                return Outcome::Done;
            };
            *head.request.body_mut() = ProxyBody::full(body);
        }
        let request = head.request;
        let (head_request, version) = (request.method() == Method::HEAD, request.version());
        let response = pipeline::handle(ctx, request).await;
        let reply = Reply {
            head_request,
            version,
            keep_alive: head.keep_alive && !stop.is_set(),
        };
        if !write_response(&mut conn.io, &mut conn.out, response, reply).await {
            let _ = conn.io.shutdown().await;
            return Outcome::Done;
        }
    }
}

impl<'a, S: AsyncRead + AsyncWrite + Unpin> Conn<'a, S> {
    fn new(io: S, limits: &'a Limits) -> Self {
        Conn {
            io,
            buf: BytesMut::with_capacity(READ_CHUNK),
            out: Vec::with_capacity(1024),
            timer: Box::pin(tokio::time::sleep(limits.head_timeout)),
            limits,
        }
    }

    /// Reads more of a request head, within the head (or idle) deadline `waiting` sets; once
    /// a head's first bytes have arrived its own deadline starts. `stopped` ends the wait while
    /// no byte of a head has arrived.
    async fn fill_head(
        &mut self,
        waiting: &mut Waiting,
        stopped: Pin<&mut tokio::sync::futures::Notified<'_>>,
    ) -> Result<(), Closed> {
        let idle = self.buf.is_empty();
        if !idle && matches!(waiting, Waiting::Head { .. }) {
            *waiting = Waiting::Rest(Instant::now());
        }
        self.fill(*waiting, idle.then_some(stopped)).await
    }

    /// Reads a `Content-Length` body of `len` bytes (at most [`MAX_BODY`]), within the head
    /// timeout from its first read.
    async fn read_body(&mut self, len: usize) -> Result<Bytes, Closed> {
        let started = Waiting::Rest(Instant::now());
        while self.buf.len() < len {
            self.fill(started, None).await?;
        }
        Ok(self.buf.split_to(len).freeze())
    }
}

/// What the response must honour of its request.
#[derive(Debug, Clone, Copy)]
struct Reply {
    head_request: bool,
    version: Version,
    keep_alive: bool,
}

/// How the response body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    None,
    Length(u64),
    Chunked,
    Close,
}

/// What a written response head says about the body and the connection.
#[derive(Debug, Clone, Copy)]
struct Framed {
    framing: Framing,
    keep_alive: bool,
}

/// Writes `response`: the head ([`encode_head`]), then the body streamed as the head frames
/// it; `true` when the connection stays open for another request.
async fn write_response<S: AsyncWrite + Unpin>(
    io: &mut S,
    out: &mut Vec<u8>,
    response: Response<ProxyBody>,
    reply: Reply,
) -> bool {
    let (parts, mut body) = response.into_parts();
    let framed = encode_head(out, &parts, &mut body, reply);
    let framing = framed.framing;
    if framing == Framing::None || framing == Framing::Length(0) {
        drop(body);
        return io.write_all(out).await.is_ok() && framed.keep_alive;
    }
    let mut sent: u64 = 0;
    loop {
        let data = match std::future::poll_fn(|cx| poll_data(&mut body, cx)).await {
            Ok(Some(data)) => data,
            Ok(None) => break,
            Err(e) => {
                // The response cannot be completed: the client must see it cut short.
                tracing::debug!(error = %e, "response body failed");
                let _ = io.write_all(out).await;
                return false;
            }
        };
        sent += data.len() as u64;
        if let Framing::Length(n) = framing
            && sent > n
        {
            tracing::debug!("response body longer than its Content-Length");
            let _ = io.write_all(out).await;
            return false;
        }
        if framing == Framing::Chunked {
            out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
        }
        if out.len() + data.len() <= INLINE_BODY {
            out.extend_from_slice(&data);
        } else {
            if io.write_all(out).await.is_err() || io.write_all(&data).await.is_err() {
                return false;
            }
            out.clear();
        }
        if framing == Framing::Chunked {
            out.extend_from_slice(b"\r\n");
        }
        if body.is_end_stream() {
            break;
        }
        // More is coming, perhaps slowly: what is ready goes out now.
        if io.write_all(out).await.is_err() {
            return false;
        }
        out.clear();
    }
    if framing == Framing::Chunked {
        out.extend_from_slice(b"0\r\n\r\n");
    }
    io.write_all(out).await.is_ok() && stays_open(framed, sent)
}

/// Writes the response head into `out` (cleared first): status line, the response's fields
/// except those the proxy states itself, framing, `Date`, `Connection`.
fn encode_head(
    out: &mut Vec<u8>,
    parts: &http::response::Parts,
    body: &mut ProxyBody,
    reply: Reply,
) -> Framed {
    out.clear();
    let status = parts.status;
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    let mut fields = Fields::default();
    if let ProxyBody::Inline(inline) = body
        && let Some(verbatim) = inline.take_verbatim()
    {
        out.extend_from_slice(&verbatim.lines);
        fields.declared = verbatim.content_length;
        fields.has_date = verbatim.has_date;
    }
    put_fields(out, &parts.headers, &mut fields);
    let mut keep_alive = reply.keep_alive && !fields.close;
    let bodiless = reply.head_request
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let framing = if bodiless {
        Framing::None
    } else if let Some(n) = fields.declared {
        Framing::Length(n)
    } else if let Some(n) = body.size_hint().exact() {
        put_header(out, b"content-length", n.to_string().as_bytes());
        Framing::Length(n)
    } else if reply.version == Version::HTTP_11 {
        put_header(out, b"transfer-encoding", b"chunked");
        Framing::Chunked
    } else {
        keep_alive = false;
        Framing::Close
    };
    if !fields.has_date {
        put_date(out);
    }
    if !keep_alive {
        put_header(out, b"connection", b"close");
    } else if reply.version == Version::HTTP_10 {
        put_header(out, b"connection", b"keep-alive");
    }
    out.extend_from_slice(b"\r\n");
    Framed {
        framing,
        keep_alive,
    }
}

/// What the fields written so far say.
#[derive(Debug, Default)]
struct Fields {
    /// The `Content-Length` written.
    declared: Option<u64>,
    has_date: bool,
    /// A `Connection` field said `close`.
    close: bool,
}

/// Writes `headers` except `Connection` (the proxy states its own decision), a second or
/// unparsable `Content-Length` (it would make the framing ambiguous) and `Transfer-Encoding`.
fn put_fields(out: &mut Vec<u8>, headers: &HeaderMap, fields: &mut Fields) {
    for (name, value) in headers {
        if name == CONNECTION {
            if tokens(value.as_bytes()).any(|t| t.eq_ignore_ascii_case(b"close")) {
                fields.close = true;
            }
            continue;
        }
        if name == CONTENT_LENGTH {
            match std::str::from_utf8(value.as_bytes())
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
            {
                Some(n) if fields.declared.is_none() => fields.declared = Some(n),
                _ => continue,
            }
        } else if name == TRANSFER_ENCODING {
            continue;
        } else if name == DATE {
            fields.has_date = true;
        }
        put_header(out, name.as_str().as_bytes(), value.as_bytes());
    }
}

/// Polls `body` for its next data frame that is not empty (trailers and empty frames are
/// skipped); `Ok(None)` at its end.
fn poll_data(body: &mut ProxyBody, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>, BodyError>> {
    loop {
        match ready!(Pin::new(&mut *body).poll_frame(cx)) {
            None => return Poll::Ready(Ok(None)),
            Some(Err(e)) => return Poll::Ready(Err(e)),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data()
                    && !data.is_empty()
                {
                    return Poll::Ready(Ok(Some(data)));
                }
            }
        }
    }
}

/// Whether the connection stays open after a body of `sent` bytes was written in full.
fn stays_open(framed: Framed, sent: u64) -> bool {
    match framed.framing {
        Framing::Length(n) if sent != n => {
            tracing::debug!("response body shorter than its Content-Length");
            false
        }
        Framing::Close => false,
        _ => framed.keep_alive,
    }
}

fn put_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Appends a `date` header, formatted at most once a second per thread.
fn put_date(out: &mut Vec<u8>) {
    thread_local! {
        static CACHED: std::cell::RefCell<(u64, String)> =
            const { std::cell::RefCell::new((u64::MAX, String::new())) };
    }
    let now = SystemTime::now();
    let secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    CACHED.with_borrow_mut(|(at, text)| {
        if *at != secs {
            *at = secs;
            *text = httpdate::fmt_http_date(now);
        }
        put_header(out, b"date", text.as_bytes());
    });
}

#[cfg(test)]
#[path = "h1_tests.rs"]
mod tests;
