//! The inline HTTP/1.1 upstream client: the fast path for the common proxied request.
//!
//! hyper's client runs each upstream connection as its own task and hands every request and
//! response across channels; on a proxy whose requests are small that machinery costs more
//! than the parsing. For a `GET` or `HEAD` without a body to a plain `http` backend, this
//! module writes the request head itself on a pooled `TcpStream`, parses the response head
//! with `httparse` in the request's own task, and streams the response body straight from the
//! socket ([`InlineBody`]: `Content-Length`, chunked, or until close). The connection returns to
//! the worker's idle stack for its endpoint ([`IdleStack`]) once the body has been read to its
//! end. Everything else (bodies, other methods, `https` backends) goes through hyper
//! ([`super::pool`]); [`super::forward`] decides which client sends a request.
//!
//! Generic over the proxy's body type: [`exchange`] reads any request's head and returns the
//! caller's body type, made from an [`InlineBody`].
//!
//! Both methods are idempotent, so a request whose reused connection turns out to have been
//! closed by the upstream before any response byte arrived is retried on another connection.

use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::uri::Authority;
use http::{Method, Request, Response, StatusCode, Version};
use hyper::body::{Body, Frame, SizeHint};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};
use tollgate_core::address::AddressPolicy;

use super::added::Added;
use super::connector;
use super::error::{BodyError, InlineError};
use super::hop_by_hop::is_hop_by_hop;
use super::idle::{IdleStack, Reusable};
use crate::shared::fields::tokens;

/// Largest response head accepted.
pub const MAX_HEAD: usize = 64 * 1024;
/// Most response header fields accepted.
const MAX_HEADERS: usize = 100;
/// Read buffer growth step.
const READ_CHUNK: usize = 16 * 1024;

/// One idle-able upstream connection with its read buffer and its deadline timer (reset for
/// each exchange: re-arming a registered timer is much cheaper than a new one per request).
pub struct InlineConn {
    stream: TcpStream,
    buf: BytesMut,
    timer: Pin<Box<Sleep>>,
}

impl InlineConn {
    async fn connect(dial: Dial<'_>, deadline: Instant) -> Result<Self, InlineError> {
        let stream = connector::connect_tcp(dial.authority, 80, dial.timeout, dial.policy).await?;
        Ok(Self {
            stream,
            buf: BytesMut::with_capacity(READ_CHUNK),
            timer: Box::pin(tokio::time::sleep_until(deadline)),
        })
    }

    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<Result<usize, InlineError>> {
        if self.buf.capacity() - self.buf.len() < 1024 {
            self.buf.reserve(READ_CHUNK);
        }
        loop {
            ready!(self.stream.poll_read_ready(cx))?;
            match self.stream.try_read_buf(&mut self.buf) {
                Ok(n) => return Poll::Ready(Ok(n)),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e.into())),
            }
        }
    }
}

/// A connection found closed is dropped when read from, never while idle.
impl Reusable for InlineConn {
    #[inline]
    fn is_closed(&self) -> bool {
        false
    }
}

/// The request head as sent: request line in origin form, the proxy's own headers (`Host`
/// first), then every header of the request.
pub fn encode_head<R>(request: &Request<R>, added: &Added) -> Vec<u8> {
    let target = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let lines = || {
        added
            .iter()
            .map(|(n, v)| (n, v))
            .chain(request.headers().iter())
    };
    let mut size = request.method().as_str().len() + target.len() + 16;
    for (name, value) in lines() {
        size += name.as_str().len() + value.len() + 4;
    }
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(request.method().as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in lines() {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// How the response body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
}

struct Head {
    status: StatusCode,
    version: Version,
    headers: HeaderMap,
    /// The header lines as the client gets them, when the caller asked for them verbatim.
    verbatim: Option<VerbatimHead>,
    framing: Framing,
    keep_alive: bool,
}

/// An upstream response head's header lines, passed to an HTTP/1 client byte for byte except
/// the hop-by-hop fields (and those `Connection` names), which are left out. Building no
/// `HeaderMap` for a response that is only relayed saves hashing every name twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerbatimHead {
    /// `name: value\r\n` lines.
    pub lines: Vec<u8>,
    /// The `Content-Length` the lines carry, if any.
    pub content_length: Option<u64>,
    /// Whether the lines carry a `Date`.
    pub has_date: bool,
}

impl VerbatimHead {
    /// Leaves out the lines of every field `drop` names; the lines are copied only when one is
    /// dropped. Never for `Content-Length` or `Date`, which the head's facts describe.
    pub fn drop_fields(&mut self, drop: impl Fn(&[u8]) -> bool) {
        fn name_of(line: &[u8]) -> &[u8] {
            let end = line.iter().position(|&b| b == b':').unwrap_or(line.len());
            &line[..end]
        }
        let mut lines = self.lines.split_inclusive(|&b| b == b'\n');
        if !lines.any(|line| drop(name_of(line))) {
            return;
        }
        let kept: Vec<u8> = self
            .lines
            .split_inclusive(|&b| b == b'\n')
            .filter(|line| !drop(name_of(line)))
            .flatten()
            .copied()
            .collect();
        self.lines = kept;
    }
}

/// What the fields of a head say about framing and connection reuse.
#[derive(Debug, Default)]
struct Facts<'a> {
    /// The last `Transfer-Encoding` field's value.
    transfer_encoding: Option<&'a [u8]>,
    content_length: Option<u64>,
    close: bool,
    /// `Connection` names a field beyond `close`/`keep-alive`.
    lists_fields: bool,
    has_date: bool,
}

fn facts<'a>(fields: &[httparse::Header<'a>]) -> Result<Facts<'a>, InlineError> {
    let mut facts = Facts::default();
    for field in fields {
        let name = field.name.as_bytes();
        if name.eq_ignore_ascii_case(b"transfer-encoding") {
            facts.transfer_encoding = Some(field.value);
        } else if name.eq_ignore_ascii_case(b"content-length") {
            for part in field.value.split(|&b| b == b',') {
                let n = std::str::from_utf8(part.trim_ascii())
                    .ok()
                    .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|t| t.parse::<u64>().ok())
                    .ok_or(InlineError::Malformed("content-length"))?;
                if facts.content_length.is_some_and(|l| l != n) {
                    return Err(InlineError::Malformed("conflicting content-length"));
                }
                facts.content_length = Some(n);
            }
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in tokens(field.value) {
                if token.eq_ignore_ascii_case(b"close") {
                    facts.close = true;
                } else if !token.eq_ignore_ascii_case(b"keep-alive") {
                    facts.lists_fields = true;
                }
            }
        } else if name.eq_ignore_ascii_case(b"date") {
            facts.has_date = true;
        }
    }
    Ok(facts)
}

/// Whether a `Connection` field of `fields` names `name`.
fn listed_by_connection(fields: &[httparse::Header<'_>], name: &[u8]) -> bool {
    fields
        .iter()
        .filter(|f| f.name.eq_ignore_ascii_case("connection"))
        .flat_map(|f| tokens(f.value))
        .any(|t| t.eq_ignore_ascii_case(name))
}

/// Spare capacity of verbatim lines, for fields added to them later.
const VERBATIM_SPARE: usize = 256;

fn verbatim_lines(fields: &[httparse::Header<'_>], facts: &Facts<'_>, len: usize) -> VerbatimHead {
    // Room for the fields a plugin adds (a rate limit's seven lines take about 200 bytes), so
    // that adding them does not move the lines.
    let mut lines = Vec::with_capacity(len + VERBATIM_SPARE);
    for field in fields {
        let name = field.name.as_bytes();
        // The proxy states its own `X-Request-Id`, as hyper's path does by replacing it.
        if is_hop_by_hop(name)
            || name.eq_ignore_ascii_case(b"x-request-id")
            || (facts.lists_fields && listed_by_connection(fields, name))
        {
            continue;
        }
        lines.extend_from_slice(name);
        lines.extend_from_slice(b": ");
        lines.extend_from_slice(field.value);
        lines.extend_from_slice(b"\r\n");
    }
    VerbatimHead {
        lines,
        content_length: facts.content_length,
        has_date: facts.has_date,
    }
}

/// Parses a complete response head at the start of `buf`: `Ok(None)` when more bytes are
/// needed; 1xx responses are consumed and skipped. With `verbatim`, the header lines are kept
/// as [`VerbatimHead`] and `headers` stays empty.
fn parse_head(
    buf: &mut BytesMut,
    head_request: bool,
    verbatim: bool,
) -> Result<Option<Head>, InlineError> {
    loop {
        // Uninitialized slots: zeroing 100 headers per response costs more than parsing.
        let mut fields = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut []);
        let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
            &mut response,
            buf,
            &mut fields,
        );
        let len = match parsed {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(InlineError::Malformed("unparsable head")),
        };
        let Some(status) = final_status(response.code)? else {
            buf.advance(len);
            continue;
        };
        let version = match response.version {
            Some(1) => Version::HTTP_11,
            _ => Version::HTTP_10,
        };
        let facts = facts(response.headers)?;
        let framing = framing(status, head_request, &facts);
        let keep_alive =
            version == Version::HTTP_11 && framing != Framing::UntilClose && !facts.close;
        let (headers, verbatim) = if verbatim {
            let lines = verbatim_lines(response.headers, &facts, len);
            buf.advance(len);
            (HeaderMap::new(), Some(lines))
        } else {
            let spans = value_spans(response.headers, buf.as_ptr() as usize)?;
            (header_map(buf.split_to(len).freeze(), spans)?, None)
        };
        return Ok(Some(Head {
            status,
            version,
            headers,
            verbatim,
            framing,
            keep_alive,
        }));
    }
}

/// The status of a parsed head; `None` for an informational one (1xx), which is skipped.
#[inline]
fn final_status(code: Option<u16>) -> Result<Option<StatusCode>, InlineError> {
    let code = code.unwrap_or(0);
    let status = StatusCode::from_u16(code).map_err(|_| InlineError::Malformed("bad status"))?;
    if !status.is_informational() {
        return Ok(Some(status));
    }
    if code == 101 {
        return Err(InlineError::Malformed("unexpected protocol switch"));
    }
    Ok(None)
}

/// Each field's name, with its value's offset and length in the head that starts at `base`, so
/// the values can share the head's bytes once it is frozen.
#[inline]
fn value_spans(
    fields: &[httparse::Header<'_>],
    base: usize,
) -> Result<Vec<(HeaderName, usize, usize)>, InlineError> {
    let mut spans = Vec::with_capacity(fields.len());
    for field in fields {
        let name = HeaderName::from_bytes(field.name.as_bytes())
            .map_err(|_| InlineError::Malformed("bad header name"))?;
        let start = field.value.as_ptr() as usize - base;
        spans.push((name, start, field.value.len()));
    }
    Ok(spans)
}

/// The header map of a frozen `head`, its values slices of it.
#[inline]
fn header_map(
    head: Bytes,
    spans: Vec<(HeaderName, usize, usize)>,
) -> Result<HeaderMap, InlineError> {
    let mut headers = HeaderMap::with_capacity(spans.len());
    for (name, start, len) in spans {
        let value = HeaderValue::from_maybe_shared(head.slice(start..start + len))
            .map_err(|_| InlineError::Malformed("bad header value"))?;
        headers.append(name, value);
    }
    Ok(headers)
}

fn framing(status: StatusCode, head_request: bool, facts: &Facts<'_>) -> Framing {
    if head_request || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
        return Framing::Empty;
    }
    if let Some(te) = facts.transfer_encoding {
        let chunked_last = te
            .rsplit(|&b| b == b',')
            .next()
            .is_some_and(|c| c.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        return if chunked_last {
            Framing::Chunked
        } else {
            Framing::UntilClose
        };
    }
    match facts.content_length {
        Some(0) => Framing::Empty,
        Some(n) => Framing::Length(n),
        None => Framing::UntilClose,
    }
}

/// Where and how a new upstream connection is opened: to `authority`, within `timeout`, to an
/// address `policy` allows.
#[derive(Clone, Copy)]
pub struct Dial<'a> {
    pub authority: &'a Authority,
    pub policy: &'a AddressPolicy,
    pub timeout: Duration,
}

/// Sends a bodiless `GET` or `HEAD` request on an idle connection of `idle` (or a new one,
/// opened as `dial` says) and returns the response once its head has arrived, by `deadline`;
/// its body is a `B` made from the [`InlineBody`].
pub async fn exchange<R, B: From<InlineBody>>(
    idle: &Arc<IdleStack<InlineConn>>,
    dial: Dial<'_>,
    deadline: Instant,
    request: &Request<R>,
    added: &Added,
    verbatim: bool,
) -> Result<Response<B>, InlineError> {
    let head_request = request.method() == Method::HEAD;
    let bytes = encode_head(request, added);
    loop {
        let (mut conn, reused) = match idle.pop() {
            Some(conn) => (conn, true),
            None => {
                let connecting = InlineConn::connect(dial, deadline);
                (Box::pin(connecting).await?, false)
            }
        };
        conn.timer.as_mut().reset(deadline);
        let result = {
            let InlineConn { stream, buf, timer } = &mut conn;
            tokio::select! {
                biased;
                result = send_and_read_head(stream, buf, &bytes, head_request, verbatim) => result,
                () = timer.as_mut() => Err(InlineError::TimedOut),
            }
        };
        match result {
            Ok(head) => return Ok(respond(head, conn, idle.clone())),
            // A reused connection the upstream had closed; nothing was answered: try another.
            Err(InlineError::ClosedBeforeResponse | InlineError::Io(_)) if reused => {}
            Err(e) => return Err(e),
        }
    }
}

async fn send_and_read_head(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    bytes: &[u8],
    head_request: bool,
    verbatim: bool,
) -> Result<Head, InlineError> {
    stream.write_all(bytes).await?;
    loop {
        if !buf.is_empty()
            && let Some(head) = parse_head(buf, head_request, verbatim)?
        {
            return Ok(head);
        }
        if buf.len() >= MAX_HEAD {
            return Err(InlineError::Malformed("head too large"));
        }
        if buf.capacity() - buf.len() < 1024 {
            buf.reserve(READ_CHUNK);
        }
        if stream.read_buf(buf).await? == 0 {
            return Err(if buf.is_empty() {
                InlineError::ClosedBeforeResponse
            } else {
                InlineError::Malformed("truncated head")
            });
        }
    }
}

fn respond<B: From<InlineBody>>(
    head: Head,
    conn: InlineConn,
    idle: Arc<IdleStack<InlineConn>>,
) -> Response<B> {
    let state = match head.framing {
        Framing::Empty => State::Done,
        Framing::Length(n) => State::Length(n),
        Framing::Chunked => State::Chunked(Chunk::Size),
        Framing::UntilClose => State::UntilClose,
    };
    let mut body = InlineBody {
        conn: Some(conn),
        idle,
        state,
        keep_alive: head.keep_alive,
        verbatim: head.verbatim,
    };
    if body.state == State::Done {
        body.release();
    }
    let mut response = Response::new(B::from(body));
    *response.status_mut() = head.status;
    *response.version_mut() = head.version;
    *response.headers_mut() = head.headers;
    response
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Expecting a chunk-size line.
    Size,
    /// Inside chunk data with this many bytes left.
    Data(u64),
    /// Expecting the CRLF after chunk data.
    DataEnd,
    /// Reading trailer lines until an empty one.
    Trailers,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Length(u64),
    Chunked(Chunk),
    UntilClose,
    Done,
}

/// A response body read from the upstream socket; hands the connection back at its end.
pub struct InlineBody {
    conn: Option<InlineConn>,
    idle: Arc<IdleStack<InlineConn>>,
    state: State,
    keep_alive: bool,
    verbatim: Option<VerbatimHead>,
}

impl std::fmt::Debug for InlineBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InlineBody")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// Position of the first CRLF in `buf`.
fn line_end(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

impl InlineBody {
    /// The response's header lines, when they were kept verbatim (taken once).
    pub fn take_verbatim(&mut self) -> Option<VerbatimHead> {
        self.verbatim.take()
    }

    /// The `Content-Length` of a response head kept verbatim.
    pub fn declared_length(&self) -> Option<u64> {
        self.verbatim.as_ref().and_then(|v| v.content_length)
    }

    /// Replaces fields of the verbatim lines, if any (see [`VerbatimHead::drop_fields`]; `add`
    /// appends lines); `false` when the head was not kept verbatim.
    pub fn replace_verbatim_fields(
        &mut self,
        drop: impl Fn(&[u8]) -> bool,
        add: impl FnOnce(&mut Vec<u8>),
    ) -> bool {
        let Some(head) = self.verbatim.as_mut() else {
            return false;
        };
        head.drop_fields(drop);
        add(&mut head.lines);
        true
    }

    /// Whether the body is complete and carries no verbatim head: the response needs no body.
    pub fn is_spent(&self) -> bool {
        self.state == State::Done && self.verbatim.is_none()
    }

    /// The body is complete: the connection goes back to the pool when reusable and clean.
    fn release(&mut self) {
        self.state = State::Done;
        if let Some(conn) = self.conn.take()
            && self.keep_alive
            && conn.buf.is_empty()
        {
            self.idle.put(conn);
        }
    }

    /// Makes progress with the buffered bytes: a data frame, the end, or `None` (need more).
    fn step(&mut self) -> Result<Option<Option<Bytes>>, InlineError> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(Some(None));
        };
        let buf = &mut conn.buf;
        loop {
            let next = match self.state {
                State::Done => return Ok(Some(None)),
                State::Length(left) | State::Chunked(Chunk::Data(left)) => {
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    let data = take_data(&mut self.state, left, buf);
                    if self.state == State::Length(0) {
                        self.release();
                    }
                    return Ok(Some(Some(data)));
                }
                State::UntilClose => {
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    return Ok(Some(Some(buf.split().freeze())));
                }
                State::Chunked(Chunk::Size) => chunk_size_line(buf)?,
                State::Chunked(Chunk::DataEnd) => chunk_data_end(buf)?,
                State::Chunked(Chunk::Trailers) => trailer_line(buf)?,
            };
            match next {
                None => return Ok(None),
                Some(State::Done) => {
                    self.release();
                    return Ok(Some(None));
                }
                Some(next) => self.state = next,
            }
        }
    }
}

/// Takes up to `left` buffered bytes of a `Content-Length` body or a chunk, and moves `state`
/// on by what was taken.
#[inline]
fn take_data(state: &mut State, left: u64, buf: &mut BytesMut) -> Bytes {
    let n = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
    let data = buf.split_to(n).freeze();
    let left = left - n as u64;
    *state = match *state {
        State::Length(_) => State::Length(left),
        _ if left == 0 => State::Chunked(Chunk::DataEnd),
        _ => State::Chunked(Chunk::Data(left)),
    };
    data
}

/// A chunk-size line (extensions ignored): the chunk's data next, or the trailers after the
/// last chunk. `None`: the line is not complete yet.
#[inline]
fn chunk_size_line(buf: &mut BytesMut) -> Result<Option<State>, InlineError> {
    let Some(end) = line_end(buf) else {
        return too_long(buf);
    };
    let line = &buf[..end];
    let digits = line.split(|&b| b == b';').next().unwrap_or_default();
    let text = std::str::from_utf8(digits).map_err(|_| InlineError::Malformed("chunk size"))?;
    let size =
        u64::from_str_radix(text.trim(), 16).map_err(|_| InlineError::Malformed("chunk size"))?;
    buf.advance(end + 2);
    Ok(Some(State::Chunked(if size == 0 {
        Chunk::Trailers
    } else {
        Chunk::Data(size)
    })))
}

/// The CRLF that ends a chunk's data.
#[inline]
fn chunk_data_end(buf: &mut BytesMut) -> Result<Option<State>, InlineError> {
    if buf.len() < 2 {
        return Ok(None);
    }
    if &buf[..2] != b"\r\n" {
        return Err(InlineError::Malformed("chunk end"));
    }
    buf.advance(2);
    Ok(Some(State::Chunked(Chunk::Size)))
}

/// A trailer line, dropped (as hyper's server would for an HTTP/1 client); the empty one ends
/// the body.
#[inline]
fn trailer_line(buf: &mut BytesMut) -> Result<Option<State>, InlineError> {
    let Some(end) = line_end(buf) else {
        return too_long(buf);
    };
    buf.advance(end + 2);
    Ok(Some(if end == 0 {
        State::Done
    } else {
        State::Chunked(Chunk::Trailers)
    }))
}

fn too_long<T>(buf: &BytesMut) -> Result<Option<T>, InlineError> {
    if buf.len() > MAX_HEAD {
        Err(InlineError::Malformed("chunk line too long"))
    } else {
        Ok(None)
    }
}

impl Body for InlineBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        loop {
            match this.step() {
                Ok(Some(Some(data))) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                Ok(Some(None)) => return Poll::Ready(None),
                Ok(None) => {}
                Err(e) => {
                    this.conn = None;
                    this.state = State::Done;
                    return Poll::Ready(Some(Err(e.into())));
                }
            }
            let Some(conn) = this.conn.as_mut() else {
                return Poll::Ready(None);
            };
            match ready!(conn.poll_fill(cx)) {
                Ok(0) if this.state == State::UntilClose => {
                    this.conn = None;
                    this.state = State::Done;
                    return Poll::Ready(None);
                }
                Ok(0) => {
                    this.conn = None;
                    this.state = State::Done;
                    return Poll::Ready(Some(Err(InlineError::Truncated.into())));
                }
                Ok(_) => {}
                Err(e) => {
                    this.conn = None;
                    this.state = State::Done;
                    return Poll::Ready(Some(Err(e.into())));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.state == State::Done
    }

    fn size_hint(&self) -> SizeHint {
        match self.state {
            State::Length(n) => SizeHint::with_exact(n),
            State::Done => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}

#[cfg(test)]
#[path = "inline_client_tests.rs"]
mod tests;
