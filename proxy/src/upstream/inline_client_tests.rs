use std::sync::atomic::{AtomicUsize, Ordering};

use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;
use crate::upstream::body::ProxyBody;

fn head_of(text: &str, head_request: bool) -> Result<Option<Head>, InlineError> {
    let mut buf = BytesMut::from(text.as_bytes());
    parse_head(&mut buf, head_request, false)
}

#[test]
fn response_heads_are_framed_as_rfc_9112_says() {
    // (response head, HEAD request, framing, keep-alive)
    let cases = [
        (
            "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n",
            false,
            Framing::Length(5),
            true,
        ),
        (
            "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            false,
            Framing::Empty,
            true,
        ),
        (
            "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n",
            true,
            Framing::Empty,
            true,
        ),
        (
            "HTTP/1.1 204 No Content\r\n\r\n",
            false,
            Framing::Empty,
            true,
        ),
        (
            "HTTP/1.1 304 Not Modified\r\ncontent-length: 9\r\n\r\n",
            false,
            Framing::Empty,
            true,
        ),
        (
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
            false,
            Framing::Chunked,
            true,
        ),
        (
            "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\ncontent-length: 3\r\n\r\n",
            false,
            Framing::Chunked,
            true,
        ),
        (
            "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n",
            false,
            Framing::UntilClose,
            false,
        ),
        ("HTTP/1.1 200 OK\r\n\r\n", false, Framing::UntilClose, false),
        (
            "HTTP/1.1 200 OK\r\nconnection: Close\r\ncontent-length: 1\r\n\r\n",
            false,
            Framing::Length(1),
            false,
        ),
        (
            "HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\n",
            false,
            Framing::Length(1),
            false,
        ),
        (
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n",
            false,
            Framing::Length(2),
            true,
        ),
    ];
    for (text, head_request, framing, keep_alive) in cases {
        let head = head_of(text, head_request)
            .expect("parses")
            .expect("complete");
        assert_eq!(head.framing, framing, "{text:?}");
        assert_eq!(head.keep_alive, keep_alive, "{text:?}");
    }
}

#[test]
fn malformed_or_partial_heads_are_told_apart() {
    assert!(matches!(
        head_of("HTTP/1.1 200 OK\r\ncontent-le", false),
        Ok(None)
    ));
    for bad in [
        "HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\n",
        "HTTP/1.1 200 OK\r\ncontent-length: five\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\n\r\n",
        "NOT HTTP\r\n\r\n",
    ] {
        assert!(head_of(bad, false).is_err(), "{bad:?}");
    }
}

#[test]
fn verbatim_heads_keep_every_end_to_end_line_and_drop_hop_by_hop_ones() {
    let text = "HTTP/1.1 200 OK\r\nServer: up\r\nConnection: keep-alive, X-Hop\r\n\
                X-Hop: secret\r\nKeep-Alive: timeout=5\r\nDate: Fri, 27 Nov 2026 00:00:00 GMT\r\n\
                Set-Cookie: a=1\r\nset-cookie: b=2\r\nContent-Length: 2\r\n\r\nok";
    let mut buf = BytesMut::from(text.as_bytes());
    let head = parse_head(&mut buf, false, true)
        .expect("parses")
        .expect("complete");
    assert!(head.headers.is_empty());
    let verbatim = head.verbatim.expect("verbatim lines");
    assert_eq!(
        String::from_utf8_lossy(&verbatim.lines),
        "Server: up\r\nDate: Fri, 27 Nov 2026 00:00:00 GMT\r\nSet-Cookie: a=1\r\n\
         set-cookie: b=2\r\nContent-Length: 2\r\n"
    );
    assert_eq!(verbatim.content_length, Some(2));
    assert!(verbatim.has_date);
    assert_eq!(head.framing, Framing::Length(2));
    assert!(head.keep_alive);
    assert_eq!(&buf[..], b"ok", "the head was consumed, the body left");

    let mut buf = BytesMut::from(
        &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"[..],
    );
    let head = parse_head(&mut buf, false, true)
        .expect("parses")
        .expect("complete");
    let verbatim = head.verbatim.expect("verbatim lines");
    assert!(verbatim.lines.is_empty(), "{:?}", verbatim.lines);
    assert_eq!(verbatim.content_length, None);
    assert!(!verbatim.has_date);
    assert_eq!(head.framing, Framing::Chunked);
    assert!(!head.keep_alive);
}

#[test]
fn header_values_keep_their_bytes_and_names_their_order() {
    let head = head_of(
        "HTTP/1.1 201 Created\r\nx-a: 1\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\ncontent-length: 0\r\n\r\n",
        false,
    )
    .expect("parses")
    .expect("complete");
    assert_eq!(head.status, StatusCode::CREATED);
    assert_eq!(head.headers["x-a"], "1");
    let cookies: Vec<_> = head.headers.get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
}

#[test]
fn request_heads_are_written_in_origin_form_with_every_header() {
    let request = Request::builder()
        .method(Method::GET)
        .uri("/a/b?c=d")
        .header("host", "backend:80")
        .header("x-forwarded-for", "192.0.2.1")
        .body(ProxyBody::Empty)
        .expect("request");
    assert_eq!(
        String::from_utf8(encode_head(&request, &Added::default())).expect("utf-8"),
        "GET /a/b?c=d HTTP/1.1\r\nhost: backend:80\r\nx-forwarded-for: 192.0.2.1\r\n\r\n"
    );
}

/// An upstream that reads one request head per response and answers with the next canned
/// response of its connection; after its last one it closes the connection. Returns its
/// authority and the count of connections accepted.
async fn scripted(per_connection: Vec<&'static str>) -> (Authority, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let responses = per_connection.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                for response in responses {
                    // Wait for a full request head.
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        let mut chunk = [0u8; 1024];
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buf.clear();
                    if stream.write_all(response.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let authority = Authority::try_from(addr.to_string()).expect("authority");
    (authority, accepted)
}

fn get(authority: &Authority) -> Request<ProxyBody> {
    Request::builder()
        .uri("/x")
        .header(http::header::HOST, authority.as_str())
        .body(ProxyBody::Empty)
        .expect("request")
}

async fn fetch(
    idle: &Arc<IdleStack<InlineConn>>,
    authority: &Authority,
) -> Result<(StatusCode, String), String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let response: Response<ProxyBody> = exchange(
        idle,
        Dial {
            authority,
            policy: &AddressPolicy::standalone(),
            timeout: Duration::from_secs(5),
        },
        deadline,
        &get(authority),
        &Added::default(),
        false,
    )
    .await
    .map_err(|e| e.to_string())?;
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}

#[tokio::test]
async fn keep_alive_responses_reuse_one_connection() {
    let ok = "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello";
    let (authority, accepted) = scripted(vec![ok, ok, ok]).await;
    let idle = Arc::new(IdleStack::default());
    for _ in 0..3 {
        assert_eq!(
            fetch(&idle, &authority).await,
            Ok((StatusCode::OK, "hello".into()))
        );
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    assert_eq!(idle.len(), 1);
}

#[tokio::test]
async fn chunked_bodies_are_decoded_and_the_connection_reused() {
    let chunked = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\
                   5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: t\r\n\r\n";
    let (authority, accepted) = scripted(vec![chunked, chunked]).await;
    let idle = Arc::new(IdleStack::default());
    for _ in 0..2 {
        assert_eq!(
            fetch(&idle, &authority).await,
            Ok((StatusCode::OK, "hello world".into()))
        );
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_reused_connection_the_upstream_closed_is_retried_on_a_new_one() {
    // Each connection answers once, with keep-alive, then closes without saying so.
    let (authority, accepted) =
        scripted(vec!["HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"]).await;
    let idle = Arc::new(IdleStack::default());
    assert_eq!(
        fetch(&idle, &authority).await,
        Ok((StatusCode::OK, "ok".into()))
    );
    assert_eq!(idle.len(), 1, "the first connection looked reusable");
    // The upstream closed it meanwhile: the request is retried on a new connection.
    assert_eq!(
        fetch(&idle, &authority).await,
        Ok((StatusCode::OK, "ok".into()))
    );
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_body_cut_short_is_an_error_and_its_connection_is_not_reused() {
    let (authority, _) = scripted(vec!["HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort"]).await;
    let idle = Arc::new(IdleStack::default());
    let result = fetch(&idle, &authority).await;
    assert!(result.is_err(), "{result:?}");
    assert_eq!(idle.len(), 0);
}

#[tokio::test]
async fn an_upstream_that_never_answers_times_out_at_the_deadline() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let authority =
        Authority::try_from(listener.local_addr().expect("addr").to_string()).expect("authority");
    // Accepts (the kernel does) but never reads or answers.
    let idle = Arc::new(IdleStack::default());
    let deadline = Instant::now() + Duration::from_millis(50);
    let result = exchange::<_, ProxyBody>(
        &idle,
        Dial {
            authority: &authority,
            policy: &AddressPolicy::standalone(),
            timeout: Duration::from_secs(5),
        },
        deadline,
        &get(&authority),
        &Added::default(),
        false,
    )
    .await;
    assert!(matches!(result, Err(InlineError::TimedOut)), "{result:?}");
    drop(listener);
}

#[tokio::test]
async fn bodies_delimited_by_close_are_read_to_the_end() {
    let (authority, _) = scripted(vec!["HTTP/1.1 200 OK\r\n\r\nuntil the end"]).await;
    let idle = Arc::new(IdleStack::default());
    assert_eq!(
        fetch(&idle, &authority).await,
        Ok((StatusCode::OK, "until the end".into()))
    );
    assert_eq!(idle.len(), 0);
}

#[test]
fn verbatim_fields_are_replaced_by_the_gateways_lines_only_when_the_head_was_kept_verbatim() {
    let text = "HTTP/1.1 200 OK\r\nServer: up\r\nX-Limit: 999\r\nContent-Length: 2\r\n\r\nok";
    let mut buf = BytesMut::from(text.as_bytes());
    let head = parse_head(&mut buf, false, true)
        .expect("parses")
        .expect("complete");
    let mut verbatim = head.verbatim.expect("verbatim lines");
    verbatim.drop_fields(|name| name.eq_ignore_ascii_case(b"x-limit"));
    verbatim.lines.extend_from_slice(b"x-limit: 3\r\n");
    assert_eq!(
        String::from_utf8_lossy(&verbatim.lines),
        "Server: up\r\nContent-Length: 2\r\nx-limit: 3\r\n"
    );
}

#[test]
fn verbatim_fields_the_gateway_sets_itself_are_dropped_and_the_rest_kept_byte_for_byte() {
    let text = "HTTP/1.1 200 OK\r\nServer: up\r\nX-RateLimit-Limit-Minute: 999\r\n\
                x-ratelimit-remaining-minute: 1\r\nContent-Length: 2\r\n\r\nok";
    let mut buf = BytesMut::from(text.as_bytes());
    let head = parse_head(&mut buf, false, true)
        .expect("parses")
        .expect("complete");
    let mut verbatim = head.verbatim.expect("verbatim lines");
    let untouched = verbatim.clone();
    verbatim.drop_fields(|name| name.eq_ignore_ascii_case(b"x-nothing"));
    assert_eq!(verbatim, untouched, "nothing named: nothing changes");
    verbatim
        .drop_fields(|name| name.len() > 12 && name[..12].eq_ignore_ascii_case(b"x-ratelimit-"));
    assert_eq!(
        String::from_utf8_lossy(&verbatim.lines),
        "Server: up\r\nContent-Length: 2\r\n"
    );
    assert_eq!(verbatim.content_length, Some(2));
}
