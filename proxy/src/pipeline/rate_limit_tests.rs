use std::net::{Ipv4Addr, Ipv6Addr};

use http::header::CONTENT_TYPE;
use tollgate_core::snapshot::{AcceptNamespaces, ClientType, Consumer, Credential};

use super::*;

const NOW: u64 = 1_796_565_600 + 30;

fn plugin(id: &str, incarnation: &str, config: RateLimitingConfig) -> Plugin {
    Plugin {
        id: id.into(),
        incarnation: incarnation.into(),
        accept_namespaces: AcceptNamespaces::Same,
        acl: None,
        config: PluginConfig::RateLimiting(config),
    }
}

fn minute(limit: u64, limit_by: LimitBy) -> RateLimitingConfig {
    RateLimitingConfig {
        minute: Some(limit),
        limit_by,
        ..RateLimitingConfig::default()
    }
}

fn consumer(id: &str) -> Consumer {
    Consumer {
        id: id.into(),
        object: format!("default/{id}"),
        username: id.into(),
        custom_id: None,
        groups: Vec::new(),
    }
}

fn credential(id: &str, consumer: &str) -> Credential {
    Credential {
        id: id.into(),
        object: format!("default/{id}"),
        consumer_id: consumer.into(),
        name: id.into(),
        client_id: id.into(),
        client_type: ClientType::Public,
        secret_verifier: None,
        redirect_uris: Vec::new(),
        previous_secrets: Vec::new(),
        tokens_survive_rotation: false,
        incarnation: String::new(),
        scopes: None,
    }
}

const JANE: &str = "6f1c2a9e-0d5b-4c1e-9a57-8d1f2b3c4d5e";
const JOHN: &str = "0b7e4f7a-5a1d-4f3c-8e2b-1c9d8e7f6a5b";
const CRED_A: &str = "a3c1e6b2-7d4f-4b8a-9c0e-2f1d3b5a7c9e";
const CRED_B: &str = "c5e7a9b1-3d2f-4e6a-8b0c-9d1e2f3a4b5c";
const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));

fn status_of(result: &Result<Quota<'_>, Refused<'_>>) -> StatusCode {
    match result {
        Ok(_) => StatusCode::OK,
        Err(refused) => refused.response().status(),
    }
}

#[test]
fn a_consumer_exhausting_its_limit_gets_kongs_429_and_another_consumer_does_not() {
    let registry = Registry::default();
    let limit = registry
        .compile(&plugin("default/rl", "", minute(2, LimitBy::Consumer)))
        .expect("a rate limit");
    let (jane, john) = (consumer(JANE), consumer(JOHN));
    let as_jane = Identity::new(&jane, None, None, false);
    let as_john = Identity::new(&john, None, None, false);
    for _ in 0..2 {
        assert_eq!(
            status_of(&limit.check(Some(&as_jane), CLIENT, NOW)),
            StatusCode::OK
        );
    }
    let Err(refused) = limit.check(Some(&as_jane), CLIENT, NOW) else {
        panic!("the third request of the minute is refused");
    };
    let refused = refused.response();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let headers = refused.headers();
    assert_eq!(headers[CONTENT_TYPE], respond::JSON);
    assert_eq!(headers[RETRY_AFTER], "30");
    assert_eq!(headers["ratelimit-limit"], "2");
    assert_eq!(headers["ratelimit-remaining"], "0");
    assert_eq!(headers["ratelimit-reset"], "30");
    assert_eq!(headers["x-ratelimit-limit-minute"], "2");
    assert_eq!(headers["x-ratelimit-remaining-minute"], "0");
    assert!(!headers.contains_key("x-ratelimit-limit-second"));
    // Same address, other consumer: its own window.
    assert_eq!(
        status_of(&limit.check(Some(&as_john), CLIENT, NOW)),
        StatusCode::OK
    );
}

#[test]
fn the_429_body_is_kongs_message() {
    let body: serde_json::Value = serde_json::from_str(RATE_LIMITED).expect("json");
    assert_eq!(
        body,
        serde_json::json!({"message": "API rate limit exceeded"})
    );
}

#[test]
fn without_a_consumer_the_limit_falls_back_to_the_client_address() {
    let registry = Registry::default();
    let limit = registry
        .compile(&plugin("default/rl", "", minute(1, LimitBy::Consumer)))
        .expect("a rate limit");
    let other = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 8));
    assert_eq!(status_of(&limit.check(None, CLIENT, NOW)), StatusCode::OK);
    assert_eq!(
        status_of(&limit.check(None, CLIENT, NOW)),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(status_of(&limit.check(None, other, NOW)), StatusCode::OK);
    // An IPv4-mapped IPv6 peer is the same client as its IPv4 spelling.
    let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 8).to_ipv6_mapped());
    assert_eq!(
        status_of(&limit.check(None, mapped, NOW)),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[test]
fn limit_by_picks_the_consumer_then_the_credential_then_the_address() {
    let (jane, a, b) = (
        consumer(JANE),
        credential(CRED_A, JANE),
        credential(CRED_B, JANE),
    );
    let via_a = Identity::new(&jane, Some(&a), None, false);
    let via_b = Identity::new(&jane, Some(&b), None, false);
    let other = IpAddr::V6(Ipv6Addr::LOCALHOST);
    // By consumer: both credentials of jane share one key, whatever the address.
    assert_eq!(
        key_of(LimitBy::Consumer, Some(&via_a), CLIENT),
        key_of(LimitBy::Consumer, Some(&via_b), other)
    );
    // By credential: each has its own.
    assert_ne!(
        key_of(LimitBy::Credential, Some(&via_a), CLIENT),
        key_of(LimitBy::Credential, Some(&via_b), CLIENT)
    );
    // By address: the identity does not matter.
    assert_eq!(
        key_of(LimitBy::Ip, Some(&via_a), CLIENT),
        key_of(LimitBy::Ip, None, CLIENT)
    );
    // The anonymous consumer (no credential) under limit_by credential: the address.
    let anonymous = Identity::new(&jane, None, None, true);
    assert_eq!(
        key_of(LimitBy::Credential, Some(&anonymous), CLIENT),
        key_of(LimitBy::Ip, None, CLIENT)
    );
    // A consumer and a credential with the same id never share a key.
    let same_as_consumer = credential(JANE, JANE);
    let by_credential = Identity::new(&jane, Some(&same_as_consumer), None, false);
    assert_ne!(
        key_of(LimitBy::Consumer, Some(&by_credential), CLIENT),
        key_of(LimitBy::Credential, Some(&by_credential), CLIENT)
    );
}

#[test]
fn ids_that_are_not_uuids_are_told_apart_too() {
    let (x, y) = (consumer("x"), consumer("y"));
    let (as_x, as_y) = (
        Identity::new(&x, None, None, false),
        Identity::new(&y, None, None, false),
    );
    assert_ne!(
        key_of(LimitBy::Consumer, Some(&as_x), CLIENT),
        key_of(LimitBy::Consumer, Some(&as_y), CLIENT)
    );
}

#[test]
fn the_address_of_a_trusted_proxys_client_is_the_last_forwarded_entry() {
    let peer = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let mut headers = HeaderMap::new();
    headers.append(
        "x-forwarded-for",
        HeaderValue::from_static("203.0.113.9, 198.51.100.4"),
    );
    assert_eq!(
        client_ip(peer, true, &headers),
        "198.51.100.4".parse::<IpAddr>().expect("ip")
    );
    assert_eq!(
        client_ip(peer, false, &headers),
        peer,
        "untrusted: the peer"
    );
    headers.insert(
        "x-forwarded-for",
        HeaderValue::from_static("not-an-address"),
    );
    assert_eq!(client_ip(peer, true, &headers), peer);
    headers.insert(
        "x-forwarded-for",
        HeaderValue::from_static("[2001:db8::1]:443"),
    );
    assert_eq!(
        client_ip(peer, true, &headers),
        "2001:db8::1".parse::<IpAddr>().expect("ip")
    );
}

#[test]
fn admitted_responses_get_the_headers_replacing_the_upstreams_and_hidden_ones_get_none() {
    let registry = Registry::default();
    let config = RateLimitingConfig {
        second: Some(5),
        minute: Some(10),
        ..RateLimitingConfig::default()
    };
    let limit = registry
        .compile(&plugin("default/rl", "", config.clone()))
        .expect("a rate limit");
    let quota = limit.check(None, CLIENT, NOW).expect("admitted");
    let mut response = Response::new(ProxyBody::Empty);
    response
        .headers_mut()
        .insert("x-ratelimit-limit-minute", HeaderValue::from_static("999"));
    response
        .headers_mut()
        .insert("x-ratelimit-limit-day", HeaderValue::from_static("7"));
    quota.apply(&mut response);
    let headers = response.headers();
    assert_eq!(headers["x-ratelimit-limit-second"], "5");
    assert_eq!(headers["x-ratelimit-remaining-second"], "4");
    assert_eq!(headers["x-ratelimit-limit-minute"], "10");
    assert_eq!(
        headers.get_all("x-ratelimit-limit-minute").iter().count(),
        1
    );
    assert_eq!(headers["x-ratelimit-remaining-minute"], "9");
    assert_eq!(headers["ratelimit-limit"], "5");
    assert_eq!(headers["ratelimit-remaining"], "4");
    assert_eq!(headers["ratelimit-reset"], "1");
    assert_eq!(headers["x-ratelimit-limit-day"], "7", "not a field of ours");
    assert!(!headers.contains_key(RETRY_AFTER));

    let hidden = registry
        .compile(&plugin(
            "default/hidden",
            "",
            RateLimitingConfig {
                hide_client_headers: true,
                minute: Some(1),
                ..RateLimitingConfig::default()
            },
        ))
        .expect("a rate limit");
    let quota = hidden.check(None, CLIENT, NOW).expect("admitted");
    let mut response = Response::new(ProxyBody::Empty);
    quota.apply(&mut response);
    assert!(response.headers().is_empty());
    let Err(refused) = hidden.check(None, CLIENT, NOW) else {
        panic!("refused");
    };
    let refused = refused.response();
    let names: Vec<&str> = refused.headers().keys().map(HeaderName::as_str).collect();
    assert_eq!(names, ["content-type", "content-length", "retry-after"]);
}

#[test]
fn the_fields_a_limit_sets_are_recognised_in_any_case_and_no_others() {
    let registry = Registry::default();
    let limit = registry
        .compile(&plugin("default/rl", "", minute(3, LimitBy::Ip)))
        .expect("a rate limit");
    for name in [
        "RateLimit-Limit",
        "ratelimit-remaining",
        "RATELIMIT-RESET",
        "X-RateLimit-Limit-Minute",
        "x-ratelimit-remaining-minute",
    ] {
        assert!(limit.sets(name.as_bytes()), "{name}");
    }
    for name in [
        "x-ratelimit-limit-second",
        "x-ratelimit-limit-day",
        "ratelimit-policy",
        "retry-after",
        "content-length",
        "ratelimit-",
    ] {
        assert!(!limit.sets(name.as_bytes()), "{name}");
    }
}

#[test]
fn counters_survive_a_new_snapshot_but_not_a_recreated_plugin() {
    let registry = Registry::default();
    let config = minute(1, LimitBy::Ip);
    let first = registry
        .compile(&plugin("default/rl", "uid-1", config.clone()))
        .expect("a rate limit");
    assert_eq!(status_of(&first.check(None, CLIENT, NOW)), StatusCode::OK);
    // The next snapshot, compiled while the first is still served, with a changed limit.
    let again = registry
        .compile(&plugin("default/rl", "uid-1", minute(1, LimitBy::Ip)))
        .expect("a rate limit");
    assert_eq!(
        status_of(&again.check(None, CLIENT, NOW)),
        StatusCode::TOO_MANY_REQUESTS
    );
    // Deleted and created again: a new incarnation starts afresh.
    let recreated = registry
        .compile(&plugin("default/rl", "uid-2", config))
        .expect("a rate limit");
    assert_eq!(
        status_of(&recreated.check(None, CLIENT, NOW)),
        StatusCode::OK
    );
    // Tables no snapshot holds any more are forgotten.
    drop((first, again, recreated));
    let _ = registry.counters(&plugin("default/other", "", minute(1, LimitBy::Ip)));
    let tables = registry.tables.lock().expect("lock");
    assert_eq!(tables.len(), 1, "{:?}", tables.keys().collect::<Vec<_>>());
}

#[test]
fn an_attacker_rotating_addresses_cannot_grow_a_table_past_its_bound() {
    let registry = Registry::default();
    let limit = registry
        .compile(&plugin("default/rl", "", minute(5, LimitBy::Ip)))
        .expect("a rate limit");
    let victim = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));
    for _ in 0..5 {
        assert_eq!(status_of(&limit.check(None, victim, NOW)), StatusCode::OK);
    }
    for i in 0..(MAX_KEYS as u32 * 3) {
        let address = IpAddr::V6(Ipv6Addr::from(0x2001_0db8_u128 << 96 | u128::from(i)));
        let _ = limit.check(None, address, NOW);
        if i % 4096 == 0 {
            assert!(limit.counters.len() <= MAX_KEYS);
        }
    }
    assert!(limit.counters.len() <= MAX_KEYS);
    println!(
        "RATE-LIMIT table after {} addresses: {} identities (bound {MAX_KEYS})",
        MAX_KEYS * 3,
        limit.counters.len()
    );
}

#[test]
fn expired_identities_are_forgotten_before_recent_ones() {
    let counters = Counters::default();
    let limits = Limits::new(None, Some(3), None);
    let key = |kind: u8, i: u32| {
        let mut key = [kind; 17];
        key[13..].copy_from_slice(&i.to_be_bytes());
        key
    };
    // Two tables' worth of identities from two minutes ago: every shard is full.
    for i in 0..(MAX_KEYS as u32 * 2) {
        counters.admit(key(3, i), &limits, NOW - 120);
    }
    // One identity exhausts its minute now; then half a table of new identities arrives.
    let victim = key(1, 0);
    for _ in 0..3 {
        assert!(counters.admit(victim, &limits, NOW).allowed);
    }
    for i in 0..(MAX_KEYS as u32 / 2) {
        counters.admit(key(2, i), &limits, NOW);
    }
    // Room was made from the expired identities: the victim's window still holds.
    assert!(!counters.admit(victim, &limits, NOW).allowed);
    assert!(counters.len() <= MAX_KEYS);
}

#[test]
fn numbers_are_header_values_with_or_without_the_static_table() {
    for n in [
        0,
        1,
        9,
        10,
        42,
        99,
        100,
        999,
        1000,
        4321,
        9999,
        10_000,
        123_456,
        u64::MAX,
    ] {
        assert_eq!(number(n), n.to_string().as_str(), "{n}");
    }
}

#[test]
fn period_names_are_kongs() {
    let (limit, remaining) = period_names(Period::Minute);
    assert_eq!(limit, "x-ratelimit-limit-minute");
    assert_eq!(remaining, "x-ratelimit-remaining-minute");
    assert_eq!(period_names(Period::Second).0, "x-ratelimit-limit-second");
    assert_eq!(period_names(Period::Hour).1, "x-ratelimit-remaining-hour");
}

/// What a rate limit adds to a request, printed (no timing assertion). For meaningful numbers
/// run it optimized:
/// `cargo test --release -p tollgate-proxy --lib rate_limit_cost -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement: run it optimized, with --ignored --nocapture"]
fn rate_limit_cost_per_request() {
    use std::time::Instant;
    const N: u32 = 1_000_000;
    let registry = Registry::default();
    let limit = registry
        .compile(&plugin(
            "default/bench",
            "",
            RateLimitingConfig {
                second: Some(1_000_000_000),
                hour: Some(1_000_000_000),
                ..RateLimitingConfig::default()
            },
        ))
        .expect("a rate limit");
    let jane = consumer(JANE);
    let identity = Identity::new(&jane, None, None, false);
    #[derive(Clone, Copy)]
    enum Headers {
        None,
        HeaderMap,
        Lines,
    }
    let run = |threads: usize, headers: Headers| {
        let start = Instant::now();
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    let mut lines = Vec::with_capacity(512);
                    for _ in 0..N {
                        let now = crate::shared::clock::unix_now();
                        let quota = limit.check(Some(&identity), CLIENT, now).expect("admitted");
                        match headers {
                            Headers::None => {}
                            Headers::HeaderMap => {
                                let mut response = Response::new(ProxyBody::Empty);
                                quota.apply(&mut response);
                                std::hint::black_box(response);
                            }
                            Headers::Lines => {
                                lines.clear();
                                lines.extend_from_slice(b"server: up\r\ncontent-length: 2\r\n");
                                limit.write_lines(&quota.decision, &mut lines);
                                std::hint::black_box(&lines);
                            }
                        }
                    }
                });
            }
        });
        start.elapsed().as_nanos() as f64 / f64::from(N)
    };
    for (what, headers) in [
        ("count only", Headers::None),
        (
            "count + headers in a HeaderMap (hyper's path)",
            Headers::HeaderMap,
        ),
        (
            "count + header lines (the HTTP/1 fast path)",
            Headers::Lines,
        ),
    ] {
        println!(
            "RATE-LIMIT-COST {what}: {:.0} ns/request on one thread, {:.0} ns on each of two threads counting one consumer",
            run(1, headers),
            run(2, headers)
        );
    }
}

#[test]
fn the_fast_paths_lines_carry_exactly_the_fields_of_the_header_map_in_order() {
    let registry = Registry::default();
    let limit = registry
        .compile(&plugin(
            "default/rl",
            "",
            RateLimitingConfig {
                second: Some(5),
                hour: Some(123_456),
                ..RateLimitingConfig::default()
            },
        ))
        .expect("a rate limit");
    let Ok(quota) = limit.check(None, CLIENT, NOW) else {
        panic!("admitted");
    };
    let mut headers = HeaderMap::new();
    limit.put_headers(&quota.decision, &mut headers);
    let from_map: String = headers
        .iter()
        .map(|(name, value)| format!("{}: {}\r\n", name, value.to_str().expect("ascii")))
        .collect();
    let mut lines = Vec::new();
    limit.write_lines(&quota.decision, &mut lines);
    assert_eq!(String::from_utf8(lines).expect("ascii"), from_map);
    assert!(
        from_map.starts_with("x-ratelimit-limit-second: 5\r\n"),
        "{from_map}"
    );
    assert!(
        from_map.contains("x-ratelimit-remaining-hour: 123455\r\n"),
        "{from_map}"
    );
    for name in headers.keys() {
        assert!(limit.sets(name.as_str().as_bytes()), "{name}");
    }
}
