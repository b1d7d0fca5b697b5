use super::*;

const LIMIT: usize = 32 * 1024;

fn parse(text: &[u8]) -> (Parsed, BytesMut) {
    let mut buf = BytesMut::from(text);
    let parsed = parse_head(&mut buf, LIMIT, &mut Vec::new());
    (parsed, buf)
}

fn parsed(text: &str) -> Option<Head> {
    match parse(text.as_bytes()).0 {
        Parsed::Complete(head) => Some(head),
        _ => None,
    }
}

#[test]
fn a_complete_head_is_split_off_and_what_follows_stays_buffered() {
    let cases: [(&[u8], &[u8]); 3] = [
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b""),
        (b"GET / HTTP/1.1\nHost: x\n\n", b""),
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /next", b"GET /next"),
    ];
    for (bytes, rest) in cases {
        let (parsed, buf) = parse(bytes);
        assert!(matches!(parsed, Parsed::Complete(_)), "{parsed:?}");
        assert_eq!(&buf[..], rest, "{}", String::from_utf8_lossy(bytes));
    }
    for partial in [
        &b"GET / HTTP/1.1\r\nHost: x\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: x\r\n\r",
        b"GE",
    ] {
        let (parsed, buf) = parse(partial);
        assert!(matches!(parsed, Parsed::Partial), "{parsed:?}");
        assert_eq!(&buf[..], partial, "a partial head is left in place");
    }
}

#[test]
fn a_head_over_the_limit_is_left_whole_for_hyper() {
    let text = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(LIMIT));
    let (parsed, buf) = parse(text.as_bytes());
    assert!(matches!(parsed, Parsed::Unusual), "{parsed:?}");
    assert_eq!(buf.len(), text.len());
}

#[test]
fn ordinary_heads_are_parsed_with_their_keep_alive_and_length() {
    let head =
        parsed("GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-Two: 1\r\nX-Two: 2\r\n\r\n").expect("fast");
    assert_eq!(head.request.method(), Method::GET);
    assert_eq!(head.request.uri(), "/a?b=1");
    assert_eq!(head.request.version(), Version::HTTP_11);
    assert_eq!(head.request.headers()["host"], "x");
    assert_eq!(head.request.headers().get_all("x-two").iter().count(), 2);
    assert!(head.keep_alive);
    assert_eq!(head.content_length, 0);

    let cases = [
        ("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", false, 0),
        ("GET / HTTP/1.0\r\n\r\n", false, 0),
        ("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true, 0),
        ("POST / HTTP/1.1\r\nContent-Length: 12\r\n\r\n", true, 12),
        ("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", true, 0),
    ];
    for (text, keep_alive, length) in cases {
        let head = parsed(text).expect(text);
        assert_eq!(head.keep_alive, keep_alive, "{text}");
        assert_eq!(head.content_length, length, "{text}");
    }
}

#[test]
fn every_unusual_head_is_left_to_hyper() {
    let many: String = (0..=MAX_FIELDS).map(|i| format!("X-{i}: v\r\n")).collect();
    let many = format!("GET / HTTP/1.1\r\n{many}\r\n");
    let big = format!(
        "POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
        MAX_BODY + 1
    );
    let cases: Vec<(&str, &str)> = vec![
        (
            "chunked",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
        ),
        (
            "CL and TE",
            "POST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n",
        ),
        (
            "two lengths",
            "POST / HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 4\r\n\r\n",
        ),
        (
            "length list",
            "POST / HTTP/1.1\r\nContent-Length: 0, 4\r\n\r\n",
        ),
        (
            "signed length",
            "POST / HTTP/1.1\r\nContent-Length: +4\r\n\r\n",
        ),
        (
            "hex length",
            "POST / HTTP/1.1\r\nContent-Length: 0x4\r\n\r\n",
        ),
        (
            "empty length",
            "POST / HTTP/1.1\r\nContent-Length: \r\n\r\n",
        ),
        ("large body", &big),
        (
            "expect",
            "POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n",
        ),
        (
            "upgrade",
            "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        ),
        (
            "connection upgrade",
            "GET / HTTP/1.1\r\nConnection: keep-alive, upgrade\r\n\r\n",
        ),
        ("connect", "CONNECT example.com:443 HTTP/1.1\r\n\r\n"),
        ("h2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
        ("space before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n"),
        ("obs-fold", "GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n"),
        ("NUL in a value", "GET / HTTP/1.1\r\nX-A: a\0b\r\n\r\n"),
        ("bad method", "G(T / HTTP/1.1\r\n\r\n"),
        ("too many fields", &many),
    ];
    for (case, text) in cases {
        let (parsed, buf) = parse(text.as_bytes());
        assert!(matches!(parsed, Parsed::Unusual), "{case}: {parsed:?}");
        assert_eq!(&buf[..], text.as_bytes(), "{case}: hyper gets every byte");
    }
}

#[test]
fn header_values_share_the_head_buffer() {
    let mut buf = BytesMut::from(&b"GET / HTTP/1.1\r\nX-Long: abcdefghijklmnop\r\n\r\n"[..]);
    let range = buf.as_ptr_range();
    let Parsed::Complete(head) = parse_head(&mut buf, LIMIT, &mut Vec::new()) else {
        panic!("not parsed");
    };
    let value = head.request.headers()["x-long"].as_bytes();
    assert!(range.contains(&value.as_ptr()), "the value was copied");
}

#[tokio::test]
async fn a_rewound_stream_yields_its_prefix_then_the_rest() {
    let (mut client, server) = tokio::io::duplex(64);
    client.write_all(b" world").await.expect("write");
    drop(client);
    let mut rewound = Rewind::new(Bytes::from_static(b"hello"), server);
    let mut all = String::new();
    rewound.read_to_string(&mut all).await.expect("read");
    assert_eq!(all, "hello world");
}

async fn written(response: Response<ProxyBody>, reply: Reply) -> (String, bool) {
    let (mut client, mut server) = tokio::io::duplex(1 << 20);
    let mut out = Vec::new();
    let keep = write_response(&mut server, &mut out, response, reply).await;
    drop(server);
    let mut text = String::new();
    client.read_to_string(&mut text).await.expect("read");
    (text, keep)
}

const KEEP_11: Reply = Reply {
    head_request: false,
    version: Version::HTTP_11,
    keep_alive: true,
};

fn response(status: u16, headers: &[(&str, &str)], body: ProxyBody) -> Response<ProxyBody> {
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(status).expect("status");
    for (name, value) in headers {
        response.headers_mut().append(
            HeaderName::from_bytes(name.as_bytes()).expect("name"),
            HeaderValue::from_str(value).expect("value"),
        );
    }
    response
}

#[tokio::test]
async fn a_known_length_body_follows_its_head_with_a_date() {
    let (text, keep) = written(
        response(
            200,
            &[("content-type", "text/plain")],
            ProxyBody::full("hi"),
        ),
        KEEP_11,
    )
    .await;
    assert!(keep);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("\r\ncontent-length: 2\r\n"), "{text}");
    assert!(text.contains("\r\ndate: "), "{text}");
    assert!(!text.contains("connection"), "{text}");
    assert!(text.ends_with("\r\n\r\nhi"), "{text}");
}

#[tokio::test]
async fn an_http10_keep_alive_client_is_told_the_connection_stays_open() {
    // (Chunked and close-delimited bodies of unknown length are covered over real sockets in
    // tests/h1.rs: only a streamed upstream body has no exact size.)
    let (text, keep) = written(
        response(200, &[], ProxyBody::Empty),
        Reply {
            version: Version::HTTP_10,
            ..KEEP_11
        },
    )
    .await;
    assert!(keep, "{text}");
    assert!(text.contains("\r\ncontent-length: 0\r\n"), "{text}");
    assert!(text.contains("\r\nconnection: keep-alive\r\n"), "{text}");
}

#[tokio::test]
async fn a_connection_close_response_ends_the_connection_once() {
    let (text, keep) = written(
        response(400, &[("connection", "close")], ProxyBody::full("{}")),
        KEEP_11,
    )
    .await;
    assert!(!keep);
    assert_eq!(text.matches("connection: close").count(), 1, "{text}");
}

#[tokio::test]
async fn head_and_bodiless_statuses_send_no_body_but_keep_their_length() {
    let (text, keep) = written(
        response(200, &[("content-length", "5")], ProxyBody::full("hello")),
        Reply {
            head_request: true,
            ..KEEP_11
        },
    )
    .await;
    assert!(keep);
    assert!(text.contains("\r\ncontent-length: 5\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\n"), "{text}");
    assert!(!text.contains("hello"), "{text}");
    let (text, _) = written(response(304, &[], ProxyBody::Empty), KEEP_11).await;
    assert!(!text.contains("content-length"), "{text}");
    assert!(!text.contains("transfer-encoding"), "{text}");
}

#[tokio::test]
async fn a_body_that_disagrees_with_its_length_closes_the_connection() {
    let (text, keep) = written(
        response(200, &[("content-length", "10")], ProxyBody::full("short")),
        KEEP_11,
    )
    .await;
    assert!(!keep, "{text}");
    let (_, keep) = written(
        response(200, &[("content-length", "2")], ProxyBody::full("longer")),
        KEEP_11,
    )
    .await;
    assert!(!keep);
}

#[tokio::test]
async fn transfer_encoding_from_a_handler_is_replaced_by_the_proxys_own_framing() {
    let (text, _) = written(
        response(
            200,
            &[("transfer-encoding", "chunked")],
            ProxyBody::full("ok"),
        ),
        KEEP_11,
    )
    .await;
    assert!(!text.contains("transfer-encoding"), "{text}");
    assert!(text.contains("content-length: 2"), "{text}");
}

#[test]
fn lengths_are_plain_decimal_within_the_fast_path_limit() {
    assert_eq!(parse_length(b"0"), Some(0));
    assert_eq!(parse_length(b"65536"), Some(MAX_BODY));
    for bad in [
        &b""[..],
        b"65537",
        b"1 ",
        b"-1",
        b"+1",
        b"0x1",
        b"9999999999",
    ] {
        assert_eq!(parse_length(bad), None, "{}", String::from_utf8_lossy(bad));
    }
}
