//! The access log: one line per request on stdout, written after the response head is ready,
//! on both request paths (the HTTP/1 fast path and hyper's), refused requests included.
//!
//! What a line holds: time, client address (the connection's peer), method, request target with
//! the values of credential-like query parameters replaced by `REDACTED` ([`is_secret_param`]),
//! protocol, status, response body bytes, total and upstream time, route, consumer id and
//! username, request id and trace id. Never a header value other than those ids, never a body.
//! `--log-format json` gives one JSON object per line (`"target":"access"`), otherwise a
//! `key=value` line in the text format of the other logs.
//!
//! Cost on the serving threads: each worker formats its lines straight into a buffer of its own
//! ([`WorkerLog`]), under a lock that only that worker and, once per flush, the writer take, so
//! no lock or cache line is shared by the workers on the hot path and nothing is allocated once
//! the buffer has grown. Only a writer thread of its own touches stdout: every
//! [`FLUSH_INTERVAL`] (sooner when a worker's buffer passes [`WAKE_AT`] bytes) it swaps each
//! worker's buffer for an empty one and writes it whole, one write per worker, so a slow or
//! blocked stdout never holds up a request. Lines keep their order within a worker; lines of
//! different workers written in the same interval can come out of time order. Each worker's
//! buffer is bounded ([`MAX_PENDING`] bytes): once it holds that much, new lines are dropped and
//! counted, and the writer adds the count to `tollgate_access_log_dropped_lines_total` and
//! reports it in a warning once stdout takes lines again. At shutdown, after the workers have
//! drained, [`AccessLog::close`] writes what is left.

use std::cell::RefCell;
use std::io::Write;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::Version;

use crate::logging::LogFormat;

/// How long a line waits for the writer at most (while its worker's buffer is under
/// [`WAKE_AT`]).
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(100);
/// Bytes waiting in one worker's buffer that wake the writer early.
pub const WAKE_AT: usize = 128 * 1024;
/// Bytes waiting in one worker's buffer beyond which its new lines are dropped (a line started
/// below the bound is kept whole, so a buffer holds at most this plus one line).
pub const MAX_PENDING: usize = 2 * 1024 * 1024;
/// Longest request target written; longer ones are cut and end with `...`.
pub const MAX_TARGET: usize = 2048;

/// Where lines go: stdout, or (tests) a shared buffer.
enum Out {
    Stdout,
    #[cfg(test)]
    Memory(Arc<Mutex<Vec<u8>>>),
}

/// One worker's lines waiting for the writer.
#[derive(Debug, Default)]
struct Pending {
    bytes: Vec<u8>,
    /// Lines dropped since the writer last looked.
    dropped: u64,
}

#[derive(Debug, Default)]
struct Sink {
    pending: Mutex<Pending>,
}

impl Sink {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct Shared {
    /// Every worker's buffer (a worker registers once, when it starts).
    sinks: Mutex<Vec<Arc<Sink>>>,
    /// Set when a worker's buffer passed [`WAKE_AT`] or at close; the writer waits on it.
    woken: Mutex<bool>,
    wake: Condvar,
    stop: AtomicBool,
    /// Lines dropped in all, for the metrics.
    dropped_total: Arc<AtomicU64>,
}

impl Shared {
    fn wake(&self) {
        *self.woken.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.wake.notify_one();
    }
}

/// The access log of a running proxy: its workers' buffers and the writer thread.
pub struct AccessLog {
    format: LogFormat,
    shared: Arc<Shared>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessLog")
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

/// One worker's handle on the access log: lines go into this worker's own buffer.
pub struct WorkerLog {
    format: LogFormat,
    sink: Arc<Sink>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for WorkerLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerLog")
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl AccessLog {
    /// Starts the writer thread, writing to stdout; lines dropped are added to `dropped_total`.
    pub fn start(format: LogFormat, dropped_total: Arc<AtomicU64>) -> std::io::Result<Arc<Self>> {
        Self::start_with(format, Out::Stdout, dropped_total)
    }

    fn shared(dropped_total: Arc<AtomicU64>) -> Arc<Shared> {
        Arc::new(Shared {
            sinks: Mutex::new(Vec::new()),
            woken: Mutex::new(false),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
            dropped_total,
        })
    }

    /// A log whose writer never runs, as if stdout had stopped taking lines (tests).
    #[cfg(test)]
    fn stalled(format: LogFormat) -> Arc<Self> {
        Arc::new(Self {
            format,
            shared: Self::shared(Arc::default()),
            writer: Mutex::new(None),
        })
    }

    fn start_with(
        format: LogFormat,
        out: Out,
        dropped_total: Arc<AtomicU64>,
    ) -> std::io::Result<Arc<Self>> {
        let shared = Self::shared(dropped_total);
        let writer = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("tollgate-access-log".to_owned())
                .spawn(move || write_loop(&shared, out))?
        };
        Ok(Arc::new(Self {
            format,
            shared,
            writer: Mutex::new(Some(writer)),
        }))
    }

    /// A buffer for one worker (each worker takes one when it starts and keeps it).
    pub fn worker(&self) -> WorkerLog {
        let sink = Arc::new(Sink {
            pending: Mutex::new(Pending {
                bytes: Vec::with_capacity(16 * 1024),
                dropped: 0,
            }),
        });
        self.shared
            .sinks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(sink.clone());
        WorkerLog {
            format: self.format,
            sink,
            shared: self.shared.clone(),
        }
    }

    /// Writes what is queued and stops the writer (at shutdown, after the workers drained).
    pub fn close(&self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.wake();
        let writer = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(writer) = writer {
            let _ = writer.join();
        }
    }
}

impl WorkerLog {
    /// Formats `line` into this worker's buffer; never waits for stdout.
    pub fn write(&self, line: &Line<'_>) {
        let mut pending = self.sink.lock();
        let before = pending.bytes.len();
        if before >= MAX_PENDING {
            pending.dropped += 1;
            return;
        }
        match self.format {
            LogFormat::Json => format_json(&mut pending.bytes, line),
            LogFormat::Text => format_text(&mut pending.bytes, line),
        }
        let wake = before < WAKE_AT && pending.bytes.len() >= WAKE_AT;
        drop(pending);
        if wake {
            self.shared.wake();
        }
    }

    /// Lines this worker dropped that the writer has not collected yet (tests).
    #[cfg(test)]
    fn dropped(&self) -> u64 {
        self.sink.lock().dropped
    }
}

fn write_loop(shared: &Shared, out: Out) {
    let mut batch: Vec<u8> = Vec::with_capacity(64 * 1024);
    loop {
        {
            let mut woken = shared.woken.lock().unwrap_or_else(|e| e.into_inner());
            if !*woken && !shared.stop.load(Ordering::Acquire) {
                woken = shared
                    .wake
                    .wait_timeout(woken, FLUSH_INTERVAL)
                    .map_or_else(|e| e.into_inner().0, |(guard, _)| guard);
            }
            *woken = false;
        }
        // Read before the sweep: lines written before the stop are in the buffers by then.
        let stopping = shared.stop.load(Ordering::Acquire);
        let sinks: Vec<Arc<Sink>> = shared
            .sinks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut dropped = 0;
        for sink in &sinks {
            {
                let mut pending = sink.lock();
                std::mem::swap(&mut pending.bytes, &mut batch);
                dropped += std::mem::take(&mut pending.dropped);
            }
            if !batch.is_empty() {
                match &out {
                    Out::Stdout => {
                        let mut stdout = std::io::stdout().lock();
                        let _ = stdout.write_all(&batch).and_then(|()| stdout.flush());
                    }
                    #[cfg(test)]
                    Out::Memory(memory) => memory
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .extend_from_slice(&batch),
                }
            }
            // Keep a buffer's worth of capacity, not a flood's.
            batch.clear();
            batch.shrink_to(WAKE_AT * 2);
        }
        if dropped > 0 {
            shared.dropped_total.fetch_add(dropped, Ordering::Relaxed);
            tracing::warn!(
                dropped,
                "access log lines dropped: stdout did not keep up with the requests"
            );
        }
        if stopping {
            return;
        }
    }
}

/// One request, as the log line tells it.
#[derive(Debug, Clone)]
pub struct Line<'a> {
    pub time: SystemTime,
    pub client: IpAddr,
    /// `-` when the request could not be parsed.
    pub method: &'a str,
    /// The request target as the client sent it (path and query).
    pub target: &'a str,
    pub version: Version,
    pub status: u16,
    /// Response body bytes, when the response declares them.
    pub bytes: Option<u64>,
    pub total: Duration,
    /// From sending to the upstream until its response head; `None` when not forwarded.
    pub upstream: Option<Duration>,
    pub route: Option<&'a str>,
    pub consumer_id: Option<&'a [u8]>,
    pub consumer: Option<&'a [u8]>,
    pub request_id: Option<&'a [u8]>,
    pub trace_id: Option<&'a [u8]>,
}

/// Query parameter names whose values are credentials or secrets (compared without case,
/// after percent-decoding): the OAuth 2.0 and OpenID Connect ones, passwords, API keys,
/// signatures of signed URLs, and any name containing `token`, `secret`, `password`,
/// `passwd`, `apikey` or `api_key`, or ending in `key` or `signature`.
pub fn is_secret_param(raw_name: &[u8]) -> bool {
    let mut name = [0u8; 64];
    let Some(len) = percent_decode_lower(raw_name, &mut name) else {
        // A 64-byte parameter name is odd enough to redact.
        return true;
    };
    let name = &name[..len];
    const EXACT: [&[u8]; 14] = [
        b"code",
        b"pwd",
        b"pass",
        b"key",
        b"sig",
        b"auth",
        b"authorization",
        b"assertion",
        b"client_assertion",
        b"jwt",
        b"session",
        b"sessionid",
        b"otp",
        b"x-amz-credential",
    ];
    const CONTAINS: [&[u8]; 6] = [
        b"token",
        b"secret",
        b"password",
        b"passwd",
        b"apikey",
        b"api_key",
    ];
    const ENDS: [&[u8]; 4] = [b"key", b"signature", b"credential", b"verifier"];
    EXACT.contains(&name)
        || CONTAINS
            .iter()
            .any(|c| name.windows(c.len()).any(|w| w == *c))
        || ENDS.iter().any(|e| name.ends_with(e))
}

/// Percent-decodes and lower-cases `raw` (`+` as space) into `out`; `None` when it does not
/// fit.
fn percent_decode_lower(raw: &[u8], out: &mut [u8; 64]) -> Option<usize> {
    let mut len = 0;
    let mut i = 0;
    while i < raw.len() {
        let byte = match raw[i] {
            b'%' => match (hex(raw.get(i + 1)), hex(raw.get(i + 2))) {
                (Some(h), Some(l)) => {
                    i += 2;
                    h << 4 | l
                }
                _ => b'%',
            },
            b'+' => b' ',
            b => b,
        };
        *out.get_mut(len)? = byte.to_ascii_lowercase();
        len += 1;
        i += 1;
    }
    Some(len)
}

fn hex(b: Option<&u8>) -> Option<u8> {
    match *b? {
        b @ b'0'..=b'9' => Some(b - b'0'),
        b @ b'a'..=b'f' => Some(b - b'a' + 10),
        b @ b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Calls `emit` with the target's pieces, secret query values replaced by `REDACTED`, cut at
/// [`MAX_TARGET`] bytes (then `...`).
fn redacted_target(target: &str, mut emit: impl FnMut(&[u8])) {
    let bytes = target.as_bytes();
    let cut = bytes.len() > MAX_TARGET;
    let bytes = &bytes[..bytes.len().min(MAX_TARGET)];
    let (path, query) = match bytes.iter().position(|&b| b == b'?') {
        Some(q) => (&bytes[..q], Some(&bytes[q + 1..])),
        None => (bytes, None),
    };
    emit(path);
    if let Some(query) = query {
        emit(b"?");
        for (i, pair) in query.split(|&b| b == b'&').enumerate() {
            if i > 0 {
                emit(b"&");
            }
            match pair.iter().position(|&b| b == b'=') {
                Some(eq) if is_secret_param(&pair[..eq]) => {
                    emit(&pair[..=eq]);
                    emit(b"REDACTED");
                }
                // A bare name is no value; but a cut pair may be the start of a secret.
                None if cut && is_secret_param(pair) => emit(b"REDACTED"),
                _ => emit(pair),
            }
        }
    }
    if cut {
        emit(b"...");
    }
}

/// `2026-12-05T14:30:01.123456Z`, with the part up to the seconds formatted at most once a
/// second per thread.
fn put_time(out: &mut Vec<u8>, time: SystemTime) {
    thread_local! {
        static CACHED: RefCell<(u64, [u8; 19])> = const { RefCell::new((u64::MAX, [0; 19])) };
    }
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    CACHED.with_borrow_mut(|(at, text)| {
        if *at != secs {
            *at = secs;
            *text = civil(secs);
        }
        out.extend_from_slice(text);
    });
    out.push(b'.');
    put_padded(out, u64::from(since.subsec_micros()), 6);
    out.push(b'Z');
}

/// `YYYY-MM-DDTHH:MM:SS` of a Unix time (UTC; Howard Hinnant's days-to-civil).
fn civil(secs: u64) -> [u8; 19] {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut text = Vec::with_capacity(19);
    put_padded(&mut text, year.clamp(0, 9999) as u64, 4);
    text.push(b'-');
    put_padded(&mut text, month as u64, 2);
    text.push(b'-');
    put_padded(&mut text, day as u64, 2);
    text.push(b'T');
    put_padded(&mut text, rem / 3600, 2);
    text.push(b':');
    put_padded(&mut text, rem % 3600 / 60, 2);
    text.push(b':');
    put_padded(&mut text, rem % 60, 2);
    let mut out = [0u8; 19];
    out.copy_from_slice(&text);
    out
}

fn put_padded(out: &mut Vec<u8>, n: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut n = n;
    let mut i = digits.len();
    while n > 0 {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    let start = (digits.len() - width).min(i);
    out.extend_from_slice(&digits[start..]);
}

fn put_u64(out: &mut Vec<u8>, n: u64) {
    put_padded(out, n, 1);
}

/// Milliseconds with three decimals.
fn put_millis(out: &mut Vec<u8>, d: Duration) {
    let micros = d.as_micros().min(u128::from(u64::MAX)) as u64;
    put_u64(out, micros / 1000);
    out.push(b'.');
    put_padded(out, micros % 1000, 3);
}

fn version_str(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_11 => "HTTP/1.1",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP",
    }
}

/// Bytes that go into a line as they are: printable ASCII other than `"`, `\\` and `=`
/// (`=` only matters to the text format, which quotes a value holding one).
const PLAIN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = b' ' + 1;
    while b <= b'~' {
        table[b as usize] = b != b'"' && b != b'\\' && b != b'=';
        b += 1;
    }
    table
};

/// Bytes a quoted value (JSON string or quoted text value) holds as they are: printable ASCII
/// and space, other than `"` and `\\`.
const QUOTABLE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = b' ';
    while b <= b'~' {
        table[b as usize] = b != b'"' && b != b'\\';
        b += 1;
    }
    table
};

fn all_in(table: &[bool; 256], bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| table[usize::from(b)])
}

/// A JSON string's contents: `"`, `\\` and control characters escaped, other bytes as they are
/// when the whole is UTF-8, else each byte of 0x80 and above as `\\u00XX`.
fn put_json_str(out: &mut Vec<u8>, bytes: &[u8]) {
    // The usual value (ids, paths, names) is printable ASCII: one copy.
    if all_in(&QUOTABLE, bytes) {
        out.extend_from_slice(bytes);
        return;
    }
    let utf8 = std::str::from_utf8(bytes).is_ok();
    for &b in bytes {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..0x20 | 0x7f => put_unicode_escape(out, b),
            0x80.. if !utf8 => put_unicode_escape(out, b),
            _ => out.push(b),
        }
    }
}

fn put_unicode_escape(out: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(b"\\u00");
    out.push(HEX[usize::from(b >> 4)]);
    out.push(HEX[usize::from(b & 0xf)]);
}

/// A text value: as it is when it needs no quotes, else quoted with `"`, `\\` and bytes
/// outside printable ASCII escaped (`\\xNN`).
fn put_text_value(out: &mut Vec<u8>, bytes: &[u8]) {
    if !bytes.is_empty() && all_in(&PLAIN, bytes) {
        out.extend_from_slice(bytes);
        return;
    }
    out.push(b'"');
    put_text_escaped(out, bytes);
    out.push(b'"');
}

fn put_text_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    if all_in(&QUOTABLE, bytes) {
        out.extend_from_slice(bytes);
        return;
    }
    for &b in bytes {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b' '..=b'~' => out.push(b),
            _ => {
                out.extend_from_slice(b"\\x");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
        }
    }
}

/// An address as `Display` writes it; IPv4 without the formatting machinery.
fn put_addr(out: &mut Vec<u8>, addr: IpAddr) {
    match addr {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                put_u64(out, u64::from(octet));
            }
        }
        IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

/// One value of a line, written by each format in its own way.
enum Field<'a> {
    Addr(IpAddr),
    /// Bytes from the request or the route, quoted and escaped as each format needs.
    Text(&'a [u8]),
    /// The request target, with secret query values redacted.
    Target(&'a str),
    Word(&'static str),
    Number(u64),
    Millis(Duration),
    Missing,
}

/// The fields of a line after its time, in the order both formats write them.
fn fields<'a>(line: &Line<'a>) -> [(&'static str, Field<'a>); 13] {
    let text = |value: Option<&'a [u8]>| value.map_or(Field::Missing, Field::Text);
    [
        ("client", Field::Addr(line.client)),
        ("method", Field::Text(line.method.as_bytes())),
        ("path", Field::Target(line.target)),
        ("protocol", Field::Word(version_str(line.version))),
        ("status", Field::Number(u64::from(line.status))),
        ("bytes", line.bytes.map_or(Field::Missing, Field::Number)),
        ("duration_ms", Field::Millis(line.total)),
        (
            "upstream_ms",
            line.upstream.map_or(Field::Missing, Field::Millis),
        ),
        ("route", text(line.route.map(str::as_bytes))),
        ("consumer_id", text(line.consumer_id)),
        ("consumer", text(line.consumer)),
        ("request_id", text(line.request_id)),
        ("trace_id", text(line.trace_id)),
    ]
}

/// `{"timestamp":"…","level":"INFO","target":"access",…}` and a newline; absent values are
/// `null`.
pub fn format_json(out: &mut Vec<u8>, line: &Line<'_>) {
    out.extend_from_slice(b"{\"timestamp\":\"");
    put_time(out, line.time);
    out.extend_from_slice(b"\",\"level\":\"INFO\",\"target\":\"access\"");
    for (key, field) in fields(line) {
        out.extend_from_slice(b",\"");
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\":");
        match field {
            Field::Addr(addr) => {
                out.push(b'"');
                put_addr(out, addr);
                out.push(b'"');
            }
            Field::Text(bytes) => {
                out.push(b'"');
                put_json_str(out, bytes);
                out.push(b'"');
            }
            Field::Target(target) => {
                out.push(b'"');
                redacted_target(target, |piece| put_json_str(out, piece));
                out.push(b'"');
            }
            Field::Word(word) => {
                out.push(b'"');
                out.extend_from_slice(word.as_bytes());
                out.push(b'"');
            }
            Field::Number(n) => put_u64(out, n),
            Field::Millis(d) => put_millis(out, d),
            Field::Missing => out.extend_from_slice(b"null"),
        }
    }
    out.extend_from_slice(b"}\n");
}

/// `<time>  INFO access: client=… method=… path=\"…\" …` and a newline; absent values are `-`.
pub fn format_text(out: &mut Vec<u8>, line: &Line<'_>) {
    put_time(out, line.time);
    out.extend_from_slice(b"  INFO access:");
    for (key, field) in fields(line) {
        out.push(b' ');
        out.extend_from_slice(key.as_bytes());
        out.push(b'=');
        match field {
            Field::Addr(addr) => put_addr(out, addr),
            Field::Text(bytes) => put_text_value(out, bytes),
            Field::Target(target) => {
                out.push(b'"');
                redacted_target(target, |piece| put_text_escaped(out, piece));
                out.push(b'"');
            }
            Field::Word(word) => out.extend_from_slice(word.as_bytes()),
            Field::Number(n) => put_u64(out, n),
            Field::Millis(d) => put_millis(out, d),
            Field::Missing => out.push(b'-'),
        }
    }
    out.push(b'\n');
}

#[cfg(test)]
#[path = "access_log_tests.rs"]
mod tests;
