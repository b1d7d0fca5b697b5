use super::*;

fn line<'a>(method: &'a str, target: &'a str) -> Line<'a> {
    Line {
        // 2026-12-05T14:30:01.000250Z
        time: UNIX_EPOCH + Duration::from_micros(1_796_481_001_000_250),
        client: "127.0.0.1".parse().expect("ip"),
        method,
        target,
        version: Version::HTTP_11,
        status: 200,
        bytes: Some(604),
        total: Duration::from_micros(1234),
        upstream: Some(Duration::from_micros(980)),
        route: Some("default/httpbin"),
        consumer_id: Some(b"1236cd0d-981a-5dca-af4b-ecc368b92279"),
        consumer: Some(b"jane"),
        request_id: Some(b"6f1c3a52-44b1-4c7e-9a0f-2b8d1e5c7a90"),
        trace_id: Some(b"4bf92f3577b34da6a3ce929d0e0e4736"),
    }
}

fn text(line: &Line<'_>) -> String {
    let mut out = Vec::new();
    format_text(&mut out, line);
    String::from_utf8(out).expect("utf-8")
}

fn json(line: &Line<'_>) -> serde_json::Value {
    let mut out = Vec::new();
    format_json(&mut out, line);
    assert_eq!(out.last(), Some(&b'\n'));
    assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1, "one line");
    serde_json::from_slice(&out).expect("a JSON object")
}

#[test]
fn a_text_line_names_every_field() {
    let get = "GET";
    assert_eq!(
        text(&line(get, "/anything?x=1")),
        "2026-12-05T14:30:01.000250Z  INFO access: client=127.0.0.1 method=GET \
         path=\"/anything?x=1\" protocol=HTTP/1.1 status=200 bytes=604 duration_ms=1.234 \
         upstream_ms=0.980 route=default/httpbin consumer_id=1236cd0d-981a-5dca-af4b-ecc368b92279 \
         consumer=jane request_id=6f1c3a52-44b1-4c7e-9a0f-2b8d1e5c7a90 \
         trace_id=4bf92f3577b34da6a3ce929d0e0e4736\n"
    );
}

#[test]
fn a_json_line_is_one_object_with_every_field() {
    let get = "GET";
    let value = json(&line(get, "/anything?x=1"));
    assert_eq!(
        value,
        serde_json::json!({
            "timestamp": "2026-12-05T14:30:01.000250Z",
            "level": "INFO",
            "target": "access",
            "client": "127.0.0.1",
            "method": "GET",
            "path": "/anything?x=1",
            "protocol": "HTTP/1.1",
            "status": 200,
            "bytes": 604,
            "duration_ms": 1.234,
            "upstream_ms": 0.98,
            "route": "default/httpbin",
            "consumer_id": "1236cd0d-981a-5dca-af4b-ecc368b92279",
            "consumer": "jane",
            "request_id": "6f1c3a52-44b1-4c7e-9a0f-2b8d1e5c7a90",
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        })
    );
}

#[test]
fn absent_values_are_a_dash_in_text_and_null_in_json() {
    let get = "GET";
    let mut refused = line(get, "/nowhere");
    refused.status = 404;
    refused.bytes = None;
    refused.upstream = None;
    refused.route = None;
    refused.consumer_id = None;
    refused.consumer = None;
    let text = text(&refused);
    assert!(
        text.contains(
            "status=404 bytes=- duration_ms=1.234 upstream_ms=- route=- consumer_id=- consumer=-"
        ),
        "{text}"
    );
    let value = json(&refused);
    for key in ["bytes", "upstream_ms", "route", "consumer_id", "consumer"] {
        assert!(value[key].is_null(), "{key}: {value}");
    }
}

#[test]
fn credential_like_query_values_are_redacted_and_others_kept() {
    let get = "GET";
    let cases = [
        (
            "/a?access_token=abc.def&x=1",
            "/a?access_token=REDACTED&x=1",
        ),
        (
            "/a?x=1&client_secret=s3cr3t",
            "/a?x=1&client_secret=REDACTED",
        ),
        ("/cb?code=xyz&state=ok", "/cb?code=REDACTED&state=ok"),
        (
            "/t?code_verifier=v&provision_key=k&code_challenge=c",
            "/t?code_verifier=REDACTED&provision_key=REDACTED&code_challenge=c",
        ),
        (
            "/a?Refresh_Token=r&token=t&id_token=i",
            "/a?Refresh_Token=REDACTED&token=REDACTED&id_token=REDACTED",
        ),
        (
            "/a?password=p&PWD=q&api_key=k&apiKey=k2&key=k3",
            "/a?password=REDACTED&PWD=REDACTED&api_key=REDACTED&apiKey=REDACTED&key=REDACTED",
        ),
        ("/a?access%5Ftoken=abc", "/a?access%5Ftoken=REDACTED"),
        (
            "/s3?X-Amz-Signature=f00&X-Amz-Credential=c&X-Amz-Date=d",
            "/s3?X-Amz-Signature=REDACTED&X-Amz-Credential=REDACTED&X-Amz-Date=d",
        ),
        (
            "/a?session_token=x&sig=y&assertion=z",
            "/a?session_token=REDACTED&sig=REDACTED&assertion=REDACTED",
        ),
        (
            "/a?page=2&sort=name&keyword=rust",
            "/a?page=2&sort=name&keyword=rust",
        ),
        ("/a?token", "/a?token"),
        ("/a?&&=x&", "/a?&&=x&"),
        ("/plain/path", "/plain/path"),
    ];
    for (target, logged) in cases {
        let value = json(&line(get, target));
        assert_eq!(value["path"], logged, "{target}");
        let text = text(&line(get, target));
        assert!(text.contains(&format!("path=\"{logged}\"")), "{text}");
    }
}

#[test]
fn a_long_target_is_cut_and_a_cut_secret_is_still_redacted() {
    let get = "GET";
    let long = format!("/a?x={}", "y".repeat(5000));
    let value = json(&line(get, &long));
    let path = value["path"].as_str().expect("path");
    assert!(
        path.len() <= MAX_TARGET + 3 && path.ends_with("..."),
        "{}",
        path.len()
    );

    let secret_cut = format!("/{}?access_token", "p".repeat(MAX_TARGET - 16));
    let secret_cut = format!("{secret_cut}=abcdefghijklmnopqrstuvwxyz");
    let value = json(&line(get, &secret_cut));
    let path = value["path"].as_str().expect("path");
    assert!(!path.contains("abc"), "{path}");
}

#[test]
fn odd_bytes_are_escaped_in_both_formats() {
    let get = "GET";
    let mut odd = line(get, "/a\"b\\c");
    odd.consumer = Some(b"j\"a ne\n\xff");
    odd.route = Some("ns/r=1");
    let value = json(&odd);
    assert_eq!(value["path"], "/a\"b\\c");
    assert_eq!(value["consumer"], "j\"a ne\n\u{ff}");
    let text = text(&odd);
    assert!(text.contains(r#"path="/a\"b\\c""#), "{text}");
    assert!(text.contains(r#"consumer="j\"a ne\x0a\xff""#), "{text}");
    assert!(text.contains(r#"route="ns/r=1""#), "{text}");
    assert_eq!(text.matches('\n').count(), 1, "{text}");
}

#[test]
fn the_civil_date_is_right_across_leap_years_and_centuries() {
    for (secs, expected) in [
        (0, "1970-01-01T00:00:00"),
        (951_782_400, "2000-02-29T00:00:00"),
        (1_709_251_199, "2024-02-29T23:59:59"),
        (4_107_542_400, "2100-03-01T00:00:00"),
    ] {
        assert_eq!(std::str::from_utf8(&civil(secs)).expect("ascii"), expected);
    }
}

fn memory_log(format: LogFormat) -> (Arc<AccessLog>, Arc<Mutex<Vec<u8>>>, Arc<AtomicU64>) {
    let memory = Arc::new(Mutex::new(Vec::new()));
    let dropped = Arc::new(AtomicU64::new(0));
    let log = AccessLog::start_with(format, Out::Memory(memory.clone()), dropped.clone())
        .expect("writer");
    (log, memory, dropped)
}

fn json_lines(written: &[u8]) -> Vec<serde_json::Value> {
    written
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("whole JSON line"))
        .collect()
}

#[test]
fn lines_from_several_workers_reach_the_writer_whole_and_close_flushes_them() {
    let (log, memory, dropped) = memory_log(LogFormat::Json);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let worker = log.worker();
            std::thread::spawn(move || {
                let get = "GET";
                for i in 0..500 {
                    let target = format!("/t{t}/{i}");
                    worker.write(&line(get, &target));
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("thread");
    }
    log.close();
    let lines = json_lines(&memory.lock().expect("memory"));
    assert_eq!(lines.len(), 2000);
    // Each worker's lines keep their order.
    for t in 0..4 {
        let paths: Vec<String> = lines
            .iter()
            .filter_map(|l| l["path"].as_str())
            .filter(|p| p.starts_with(&format!("/t{t}/")))
            .map(str::to_owned)
            .collect();
        let expected: Vec<String> = (0..500).map(|i| format!("/t{t}/{i}")).collect();
        assert_eq!(paths, expected);
    }
    assert_eq!(dropped.load(Ordering::Relaxed), 0);
}

#[test]
fn a_quiet_worker_s_line_is_written_within_the_flush_interval() {
    let (log, memory, _) = memory_log(LogFormat::Json);
    let worker = log.worker();
    worker.write(&line("GET", "/quiet"));
    // Waits on the condition (bounded): the writer's timer, not a close, writes the line.
    let deadline = std::time::Instant::now() + FLUSH_INTERVAL * 50;
    loop {
        let lines = json_lines(&memory.lock().expect("memory"));
        if lines.len() == 1 {
            assert_eq!(lines[0]["path"], "/quiet");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the line was not written by the writer's timer"
        );
        std::thread::yield_now();
    }
    log.close();
}

#[test]
fn lines_beyond_a_worker_s_bound_are_dropped_and_counted_not_waited_for() {
    let log = AccessLog::stalled(LogFormat::Text);
    let worker = log.worker();
    let other = log.worker();
    let target = "/x".repeat(MAX_TARGET / 2);
    let get = "GET";
    let mut written = 0;
    // Every write returns at once although nothing takes the lines.
    for _ in 0..(2 * MAX_PENDING / 1000) {
        worker.write(&line(get, &target));
        written += 1;
    }
    let pending = worker.sink.lock().bytes.len();
    assert!(pending <= MAX_PENDING + 4 * MAX_TARGET, "{pending}");
    assert!(
        pending >= MAX_PENDING,
        "lines were kept up to the bound: {pending}"
    );
    assert!(worker.dropped() > 0, "lines over the bound were counted");
    let kept = worker
        .sink
        .lock()
        .bytes
        .iter()
        .filter(|&&b| b == b'\n')
        .count();
    assert_eq!(kept as u64 + worker.dropped(), written);
    // Another worker's buffer has its own bound: its line is kept.
    other.write(&line(get, "/other"));
    assert_eq!(other.dropped(), 0);
    assert!(!other.sink.lock().bytes.is_empty());
    log.close();
}

#[test]
fn the_writer_adds_dropped_lines_to_the_metric() {
    let (log, _memory, dropped) = memory_log(LogFormat::Text);
    let worker = log.worker();
    // As if the worker's buffer had filled while stdout was blocked.
    worker.sink.lock().dropped = 7;
    log.close();
    assert_eq!(dropped.load(Ordering::Relaxed), 7);
    assert_eq!(worker.dropped(), 0, "collected by the writer");
}

#[test]
fn ipv4_and_ipv6_clients_are_written_as_display_writes_them() {
    for addr in [
        "127.0.0.1",
        "0.0.0.0",
        "255.255.255.255",
        "10.20.3.4",
        "::1",
        "2001:db8::7",
        "::ffff:1.2.3.4",
    ] {
        let ip: IpAddr = addr.parse().expect("ip");
        let mut out = Vec::new();
        put_addr(&mut out, ip);
        assert_eq!(String::from_utf8(out).expect("ascii"), ip.to_string());
    }
}
