//! Hop-by-hop header fields (RFC 9110 §7.6.1): removed in both directions, with every field the
//! `Connection` header names.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Hop-by-hop headers (RFC 9110 §7.6.1), removed in both directions in addition to those the
/// `Connection` header lists.
/// A `static`, not a `const`: a `const` array of `HeaderName`s would be built and dropped at
/// every use.
static HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    KEEP_ALIVE,
    PROXY_CONNECTION,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Whether `name` (any case, as read off the wire) is one of [`HOP_BY_HOP`].
pub fn is_hop_by_hop(name: &[u8]) -> bool {
    HOP_BY_HOP
        .iter()
        .any(|h| h.as_str().as_bytes().eq_ignore_ascii_case(name))
}

/// Index of `name` in [`HOP_BY_HOP`] (a string match: cheaper than nine `HeaderName`
/// comparisons).
fn hop_by_hop_index(name: &HeaderName) -> Option<usize> {
    Some(match name.as_str() {
        "connection" => 0,
        "keep-alive" => 1,
        "proxy-connection" => 2,
        "proxy-authenticate" => 3,
        "proxy-authorization" => 4,
        "te" => 5,
        "trailer" => 6,
        "transfer-encoding" => 7,
        "upgrade" => 8,
        _ => return None,
    })
}

/// Bit `i` set: `HOP_BY_HOP[i]` is present.
fn hop_by_hop_present(headers: &HeaderMap) -> u16 {
    let mut present = 0u16;
    for name in headers.keys() {
        if let Some(i) = hop_by_hop_index(name) {
            present |= 1 << i;
        }
    }
    present
}

/// Removes hop-by-hop headers, including every header the `Connection` header names.
/// One pass over the names present; removes only what is there; allocates only when
/// `Connection` names a header beyond the usual `close`/`keep-alive`/`upgrade`/`te`.
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let present = hop_by_hop_present(headers);
    if present == 0 {
        return;
    }
    // HOP_BY_HOP[0] is `Connection`.
    if present & 1 != 0 {
        remove_connection_listed(headers);
    }
    for (i, name) in HOP_BY_HOP.iter().enumerate() {
        if present & (1 << i) != 0 {
            headers.remove(name);
        }
    }
}

fn remove_connection_listed(headers: &mut HeaderMap) {
    let listed_extra = |v: &HeaderValue| {
        v.to_str().is_ok_and(|v| {
            v.split(',').any(|name| {
                let name = name.trim();
                !name.is_empty()
                    && !["close", "keep-alive", "upgrade", "te"]
                        .iter()
                        .any(|known| name.eq_ignore_ascii_case(known))
            })
        })
    };
    let mut values = headers.get_all(header::CONNECTION).iter();
    let first = values.next();
    let multiple = values.next().is_some();
    if !(multiple || first.is_some_and(listed_extra)) {
        return;
    }
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in listed {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hop_by_hop_index_matches_the_list() {
        for (i, name) in HOP_BY_HOP.iter().enumerate() {
            assert_eq!(hop_by_hop_index(name), Some(i), "{name}");
        }
        assert_eq!(hop_by_hop_index(&header::HOST), None);
    }
}
