//! Request ids and W3C trace context, decided once per request before routing, the same on
//! both request paths.
//!
//! - `X-Request-Id`: a client's value is kept only when the peer is a trusted proxy
//!   (`--trusted-proxies`) and the value is 1 to [`MAX_REQUEST_ID`] visible ASCII characters
//!   other than `"` and `\`; otherwise the proxy generates one (a random UUID, version 4). It is
//!   sent upstream and back to the client, and written in the access log.
//! - `traceparent` (W3C Trace Context level 1): a valid one is propagated with its trace id and
//!   flags and a new parent id, since the proxy is a participant of the trace (a hop of its
//!   own, as a traced proxy would record a span); `tracestate` then travels on untouched. A
//!   missing, repeated or malformed one is replaced by a new trace (random trace id and parent
//!   id, flags `01`: sampled, so that upstreams sampling on their parent's decision, the
//!   OpenTelemetry SDKs' default, record it), and any `tracestate` is dropped with it.
//!
//! Ids come from a per-thread generator (wyrand) seeded from the operating system, so no
//! request makes a system call or takes a lock for them.

use std::cell::Cell;

use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub static TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
pub static TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// Longest client `X-Request-Id` kept (Heroku's router keeps up to 200 characters too).
pub const MAX_REQUEST_ID: usize = 200;

/// What the access log needs of a request's ids.
#[derive(Debug, Clone)]
pub struct Ids {
    pub request_id: HeaderValue,
    /// The trace id sent upstream, 32 lowercase hex digits.
    pub trace_id: [u8; 32],
}

/// Sets `X-Request-Id` and `traceparent` on a request's headers (see the module doc); returns
/// the ids, whose request id also goes on the response.
pub fn apply(headers: &mut HeaderMap, trusted: bool) -> Ids {
    let request_id = match headers.get(&X_REQUEST_ID) {
        Some(value)
            if trusted
                && acceptable_request_id(value.as_bytes())
                && headers.get_all(&X_REQUEST_ID).iter().nth(1).is_none() =>
        {
            value.clone()
        }
        _ => {
            let id = new_request_id();
            headers.insert(X_REQUEST_ID.clone(), id.clone());
            id
        }
    };
    let mut parents = headers.get_all(&TRACEPARENT).iter();
    let incoming = match (parents.next(), parents.next()) {
        (Some(one), None) => parse_traceparent(one.as_bytes()),
        _ => None,
    };
    let (trace_id, flags) = match incoming {
        Some(parent) => (parent.trace_id, parent.flags),
        None => {
            headers.remove(&TRACESTATE);
            (hex16(random_nonzero(), random_nonzero()), *b"01")
        }
    };
    let span = hex8(random_nonzero());
    let mut value = [0u8; 55];
    value[..3].copy_from_slice(b"00-");
    value[3..35].copy_from_slice(&trace_id);
    value[35] = b'-';
    value[36..52].copy_from_slice(&span);
    value[52] = b'-';
    value[53..].copy_from_slice(&flags);
    if let Ok(value) = HeaderValue::from_bytes(&value) {
        headers.insert(TRACEPARENT.clone(), value);
    }
    Ids {
        request_id,
        trace_id,
    }
}

/// Whether a client's request id is kept (it is also written into log lines as it is).
fn acceptable_request_id(value: &[u8]) -> bool {
    !value.is_empty()
        && value.len() <= MAX_REQUEST_ID
        && value
            .iter()
            .all(|&b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
}

/// A parsed `traceparent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: [u8; 32],
    pub parent_id: [u8; 16],
    pub flags: [u8; 2],
}

/// Parses a `traceparent` value (W3C Trace Context §3.2): version 00 exactly 55 characters; a
/// later version at least that, with a `-` after the flags when longer; version `ff`, upper
/// case hex, an all-zero trace id or parent id are invalid. A later version's flags are
/// reduced to the sampled bit, the one this version defines.
pub fn parse_traceparent(value: &[u8]) -> Option<TraceParent> {
    let lower_hex = |s: &[u8]| s.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if value.len() < 55 || !lower_hex(&value[..2]) || &value[..2] == b"ff" {
        return None;
    }
    let v00 = &value[..2] == b"00";
    if (v00 && value.len() != 55) || (!v00 && value.len() > 55 && value[55] != b'-') {
        return None;
    }
    if value[2] != b'-' || value[35] != b'-' || value[52] != b'-' {
        return None;
    }
    let (trace, parent, flags) = (&value[3..35], &value[36..52], &value[53..55]);
    if !lower_hex(trace) || !lower_hex(parent) || !lower_hex(flags) {
        return None;
    }
    if trace.iter().all(|&b| b == b'0') || parent.iter().all(|&b| b == b'0') {
        return None;
    }
    let mut parsed = TraceParent {
        trace_id: [0; 32],
        parent_id: [0; 16],
        flags: [0; 2],
    };
    parsed.trace_id.copy_from_slice(trace);
    parsed.parent_id.copy_from_slice(parent);
    parsed.flags.copy_from_slice(flags);
    if !v00 {
        let sampled = (hex_value(flags[1]) & 1) != 0;
        parsed.flags = if sampled { *b"01" } else { *b"00" };
    }
    Some(parsed)
}

fn hex_value(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => 0,
    }
}

/// A new request id: a random UUID (version 4) in its usual text form.
pub fn new_request_id() -> HeaderValue {
    let (a, b) = (random(), random());
    let a = (a & !0xf000) | 0x4000; // version 4
    let b = (b & !(0b11 << 62)) | (0b10 << 62); // RFC 9562 variant
    let hex = hex16(a, b);
    let mut text = [0u8; 36];
    let mut at = 0;
    for (i, &digit) in hex.iter().enumerate() {
        if matches!(i, 8 | 12 | 16 | 20) {
            text[at] = b'-';
            at += 1;
        }
        text[at] = digit;
        at += 1;
    }
    HeaderValue::from_bytes(&text).unwrap_or(HeaderValue::from_static("-"))
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex8(n: u64) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (i, byte) in n.to_be_bytes().iter().enumerate() {
        out[2 * i] = HEX[usize::from(byte >> 4)];
        out[2 * i + 1] = HEX[usize::from(byte & 0xf)];
    }
    out
}

fn hex16(a: u64, b: u64) -> [u8; 32] {
    let mut out = [0u8; 32];
    out[..16].copy_from_slice(&hex8(a));
    out[16..].copy_from_slice(&hex8(b));
    out
}

thread_local! {
    static STATE: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    let mut bytes = [0u8; 8];
    if getrandom::getrandom(&mut bytes).is_err() {
        // No OS randomness: the time and the thread still make ids distinct.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let thread = std::thread::current().id();
        let mut hasher = std::hash::DefaultHasher::new();
        std::hash::Hash::hash(&(nanos, thread), &mut hasher);
        return std::hash::Hasher::finish(&hasher);
    }
    u64::from_le_bytes(bytes)
}

/// wyrand: 64 random bits from the thread's state.
fn random() -> u64 {
    STATE.with(|state| {
        let s = state.get().wrapping_add(0xa076_1d64_78bd_642f);
        state.set(s);
        let t = u128::from(s) * u128::from(s ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) as u64) ^ (t as u64)
    })
}

fn random_nonzero() -> u64 {
    loop {
        let n = random();
        if n != 0 {
            return n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).expect("name"),
                HeaderValue::from_str(value).expect("value"),
            );
        }
        map
    }

    fn traceparent(map: &HeaderMap) -> TraceParent {
        let values: Vec<_> = map.get_all(&TRACEPARENT).iter().collect();
        assert_eq!(values.len(), 1, "one traceparent");
        parse_traceparent(values[0].as_bytes()).expect("the proxy's traceparent is valid")
    }

    #[test]
    fn a_generated_request_id_is_a_version_4_uuid_and_ids_differ() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let id = new_request_id();
            let text = id.to_str().expect("ascii");
            assert_eq!(text.len(), 36, "{text}");
            assert_eq!(&text[14..15], "4", "{text}");
            assert!(matches!(&text[19..20], "8" | "9" | "a" | "b"), "{text}");
            assert!(seen.insert(text.to_owned()), "duplicate {text}");
        }
    }

    #[test]
    fn a_clients_request_id_is_kept_only_from_a_trusted_peer() {
        let mut map = headers(&[("x-request-id", "abc-123")]);
        let ids = apply(&mut map, true);
        assert_eq!(ids.request_id, "abc-123");
        assert_eq!(map.get(&X_REQUEST_ID).expect("kept"), "abc-123");

        let mut map = headers(&[("x-request-id", "abc-123")]);
        let ids = apply(&mut map, false);
        assert_ne!(ids.request_id, "abc-123");
        assert_eq!(map.get_all(&X_REQUEST_ID).iter().count(), 1);
        assert_eq!(map.get(&X_REQUEST_ID).expect("set"), &ids.request_id);
    }

    #[test]
    fn an_unusable_request_id_from_a_trusted_peer_is_replaced() {
        let long = "a".repeat(MAX_REQUEST_ID + 1);
        for bad in ["", "has space", "quote\"d", "back\\slash", long.as_str()] {
            let mut map = headers(&[("x-request-id", bad)]);
            let ids = apply(&mut map, true);
            assert_ne!(ids.request_id.as_bytes(), bad.as_bytes(), "{bad:?}");
            assert_eq!(ids.request_id.len(), 36, "{bad:?}");
        }
        let mut map = headers(&[("x-request-id", "one"), ("x-request-id", "two")]);
        let ids = apply(&mut map, true);
        assert_eq!(ids.request_id.len(), 36, "two ids: a new one");
        assert_eq!(map.get_all(&X_REQUEST_ID).iter().count(), 1);
    }

    #[test]
    fn a_valid_traceparent_keeps_its_trace_id_and_flags_with_a_new_parent_id() {
        let mut map = headers(&[("traceparent", VALID), ("tracestate", "vendor=1")]);
        let ids = apply(&mut map, false);
        let sent = traceparent(&map);
        assert_eq!(&sent.trace_id, b"4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(ids.trace_id, sent.trace_id);
        assert_ne!(&sent.parent_id, b"00f067aa0ba902b7");
        assert_eq!(&sent.flags, b"01");
        assert_eq!(map.get(&TRACESTATE).expect("kept"), "vendor=1");

        let unsampled = VALID.replace("-01", "-00");
        let mut map = headers(&[("traceparent", unsampled.as_str())]);
        apply(&mut map, false);
        assert_eq!(&traceparent(&map).flags, b"00");
    }

    #[test]
    fn a_missing_or_malformed_traceparent_starts_a_new_sampled_trace_and_drops_tracestate() {
        let cases = [
            None,
            Some("garbage"),
            Some("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"),
            Some("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"),
            Some("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"),
            Some("00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            Some("00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01"),
        ];
        let mut traces = std::collections::HashSet::new();
        for case in cases {
            let mut pairs = vec![("tracestate", "vendor=1")];
            if let Some(value) = case {
                pairs.push(("traceparent", value));
            }
            let mut map = headers(&pairs);
            let ids = apply(&mut map, true);
            let sent = traceparent(&map);
            assert_ne!(
                &sent.trace_id, b"4bf92f3577b34da6a3ce929d0e0e4736",
                "{case:?}"
            );
            assert_eq!(&sent.flags, b"01", "{case:?}");
            assert_eq!(ids.trace_id, sent.trace_id);
            assert!(map.get(&TRACESTATE).is_none(), "{case:?}");
            assert!(traces.insert(sent.trace_id), "a new trace each time");
        }
        let mut map = headers(&[("traceparent", VALID), ("traceparent", VALID)]);
        apply(&mut map, false);
        assert_ne!(
            &traceparent(&map).trace_id,
            b"4bf92f3577b34da6a3ce929d0e0e4736",
            "two traceparents: a new trace"
        );
    }

    #[test]
    fn a_later_version_is_read_as_far_as_version_00_goes_and_sent_as_00() {
        let later = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09-what-comes-next";
        let parsed = parse_traceparent(later.as_bytes()).expect("parsed");
        assert_eq!(&parsed.flags, b"01");
        let mut map = headers(&[("traceparent", later)]);
        apply(&mut map, false);
        let sent = map.get(&TRACEPARENT).expect("set").to_str().expect("ascii");
        assert!(
            sent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
            "{sent}"
        );
        assert_eq!(sent.len(), 55);
        assert!(
            parse_traceparent(b"cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x")
                .is_none()
        );
    }
}
