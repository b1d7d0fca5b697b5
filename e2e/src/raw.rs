//! Hand-written HTTP/1.1 over plain TCP, for requests a well-behaved client library will not
//! send: header names in any letter case, the same header repeated, odd framing.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::Error;

/// A response as read off the wire.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    /// Header names as sent, in order.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked when sent chunked.
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Builds a request: `head` is the request line, each of `headers` is sent exactly as given
/// (`Connection: close` and `Content-Length` are added), then `body`.
pub fn build_request(head: &str, host: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{head}\r\nHost: {host}\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// Sends `request` to `addr` (`host:port`), reads until the server closes, parses the response.
pub async fn raw_http1(addr: &str, request: &[u8]) -> Result<RawResponse, Error> {
    let http_err = |reason: String| Error::Http {
        url: addr.to_owned(),
        reason,
    };
    let exchange = async {
        let mut stream = TcpStream::connect(addr)
            .await
            .map_err(|source| Error::Connect {
                addr: addr.to_owned(),
                source,
            })?;
        stream
            .write_all(request)
            .await
            .map_err(|e| http_err(format!("writing: {e}")))?;
        let mut bytes = Vec::new();
        stream
            .read_to_end(&mut bytes)
            .await
            .map_err(|e| http_err(format!("reading: {e}")))?;
        if request.starts_with(b"HEAD ") {
            parse_head_response(&bytes).map_err(http_err)
        } else {
            parse_response(&bytes).map_err(http_err)
        }
    };
    tokio::time::timeout(Duration::from_secs(15), exchange)
        .await
        .map_err(|_| http_err("no complete response within 15s".to_owned()))?
}

/// Parses the response to a `HEAD` request: a head and nothing after it, whatever its
/// `Content-Length` says (RFC 9110 §9.3.2); bytes after the head are an error.
pub fn parse_head_response(bytes: &[u8]) -> Result<RawResponse, String> {
    let (status, headers, rest) = parse_head(bytes)?;
    if !rest.is_empty() {
        return Err(format!(
            "a HEAD response carried {} bytes after its head",
            rest.len()
        ));
    }
    Ok(RawResponse {
        status,
        headers,
        body: Vec::new(),
    })
}

/// Parses one HTTP/1.1 response (head, then a body framed by chunking, Content-Length or EOF).
pub fn parse_response(bytes: &[u8]) -> Result<RawResponse, String> {
    let (status, headers, rest) = parse_head(bytes)?;
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let body = if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        dechunk(rest)?
    } else if let Some(len) = find("content-length").and_then(|v| v.parse::<usize>().ok()) {
        rest.get(..len)
            .ok_or_else(|| format!("body shorter than Content-Length {len}"))?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok(RawResponse {
        status,
        headers,
        body,
    })
}

/// A response head's status and headers, and the bytes after it.
type Head<'a> = (u16, Vec<(String, String)>, &'a [u8]);

fn parse_head(bytes: &[u8]) -> Result<Head<'_>, String> {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no end of head in {} bytes", bytes.len()))?;
    let head = std::str::from_utf8(&bytes[..end]).map_err(|e| format!("head: {e}"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Ok((status, headers, &bytes[end + 4..]))
}

fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("unterminated chunk size")?;
        let size_text = std::str::from_utf8(&rest[..line_end]).map_err(|e| e.to_string())?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|e| format!("chunk size {size_text:?}: {e}"))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        let chunk = rest.get(..size).ok_or("truncated chunk")?;
        body.extend_from_slice(chunk);
        rest = rest.get(size + 2..).ok_or("truncated chunk end")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_parsed_whatever_their_framing() {
        let cases: [(&[u8], u16, &[u8]); 3] = [
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
                200,
                b"hello",
            ),
            (
                b"HTTP/1.1 401 Unauthorized\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
                401,
                b"abcde",
            ),
            (b"HTTP/1.0 502 Bad Gateway\r\n\r\nuntil eof", 502, b"until eof"),
        ];
        for (wire, status, body) in cases {
            let parsed = parse_response(wire).expect("parses");
            assert_eq!((parsed.status, parsed.body.as_slice()), (status, body));
        }
    }

    #[test]
    fn requests_keep_header_spelling_and_repeats() {
        let bytes = build_request(
            "GET /x HTTP/1.1",
            "h",
            &[("X-CONSUMER-ID", "a"), ("x-consumer-id", "b")],
            b"",
        );
        let text = String::from_utf8(bytes).expect("ascii");
        assert!(
            text.contains("X-CONSUMER-ID: a\r\nx-consumer-id: b\r\n"),
            "{text}"
        );
        assert!(text.ends_with("Connection: close\r\n\r\n"), "{text}");
    }

    #[test]
    fn a_head_response_has_no_body_whatever_its_content_length() {
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
        let parsed = parse_head_response(head).expect("parses");
        assert_eq!((parsed.status, parsed.body.len()), (200, 0));
        let with_body = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        assert!(parse_head_response(with_body).is_err());
    }

    #[test]
    fn a_response_without_a_head_end_is_an_error() {
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n").is_err());
    }
}
