//! Identity headers a client must not forge: detected and stripped before a request goes on.

use http::HeaderMap;
use tollgate_core::oauth::{self, Identity};

use crate::upstream::Added;

/// Removes identity headers the client sent and sets the caller's: on the request when the
/// client sent some (so core removes every exact one first), else beside it in `added`.
/// `None`: no caller (an open route): the client's identity headers are removed, none is set.
pub fn set_identity(headers: &mut HeaderMap, identity: Option<&Identity<'_>>, added: &mut Added) {
    if has_identity_headers(headers) {
        strip_identity(headers);
        oauth::apply_identity(headers, identity);
    } else if let Some(identity) = identity {
        // None to remove: the identity headers travel with the proxy's own.
        oauth::identity_headers(identity, |name, value| added.push(name, value));
    }
}

/// Prefixes of header names only the proxy may set: a client-sent `X-Consumer-*`,
/// `X-Authenticated-*` or `X-Anonymous-*` header never reaches an upstream, whatever follows the
/// prefix (core's [`oauth::apply_identity`] then removes and sets the exact identity headers).
const IDENTITY_PREFIXES: [&str; 3] = ["x-consumer-", "x-authenticated-", "x-anonymous-"];

/// Whether the client sent any identity header: one with an identity prefix or one of core's
/// [`oauth::IDENTITY_HEADERS`]. Without one, stripping and core's removal are no-ops (one pass
/// over the names instead of a hashed lookup per identity header).
fn has_identity_headers(headers: &http::HeaderMap) -> bool {
    headers.keys().any(|name| {
        let text = name.as_str();
        IDENTITY_PREFIXES.iter().any(|p| text.starts_with(p))
            || IDENTITY_HEADERS.iter().any(|h| h == name)
    })
}

/// Core's list as a `static` (a `const` array of names is built and dropped at every use).
static IDENTITY_HEADERS: [http::HeaderName; 7] = oauth::IDENTITY_HEADERS;

/// Removes every header with an identity prefix. One pass over the names; allocates only when
/// a client actually sent one.
fn strip_identity(headers: &mut http::HeaderMap) {
    let forged = |name: &http::HeaderName| {
        let name = name.as_str();
        IDENTITY_PREFIXES.iter().any(|p| name.starts_with(p))
    };
    if !headers.keys().any(forged) {
        return;
    }
    let names: Vec<http::HeaderName> = headers.keys().filter(|n| forged(n)).cloned().collect();
    for name in names {
        headers.remove(&name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_headers_are_detected_by_prefix_or_exact_name_in_any_case() {
        let cases = [
            (vec![], false),
            (vec!["host", "authorization"], false),
            (vec!["x-consumer-whatever"], true),
            (vec!["X-Authenticated-Userid"], true),
            (vec!["x-anonymous-consumer"], true),
            (vec!["X-Credential-Identifier"], true),
            (vec!["x-consumerish"], false),
        ];
        for (names, expected) in cases {
            let mut headers = http::HeaderMap::new();
            for name in &names {
                let name = http::HeaderName::from_bytes(name.as_bytes()).expect("name");
                headers.insert(name, http::HeaderValue::from_static("v"));
            }
            assert_eq!(has_identity_headers(&headers), expected, "{names:?}");
        }
    }
}
