//! The one place a request's identity headers are decided: the client's copies, in any spelling,
//! are removed and the caller's are set.

use http::{HeaderMap, HeaderName};
use tollgate_core::oauth::{self, Identity};

use crate::upstream::Added;

/// Removes every header the client sent that only the gateway may set (core's
/// [`oauth::is_identity_header`]: any ASCII case, `_` for `-`, any `X-Consumer-*`,
/// `X-Authenticated-*` or `X-Anonymous-*` name), then sets the caller's identity headers in
/// `added`. `None`: no caller (an open route, or a refused one): nothing is set.
///
/// `added` is written after the request's own headers have been through hop-by-hop processing
/// (the inline client writes it beside them, hyper's path inserts it last), so a client's
/// `Connection` header can never nominate an identity header away.
pub fn set_identity(headers: &mut HeaderMap, identity: Option<&Identity<'_>>, added: &mut Added) {
    strip_identity(headers);
    if let Some(identity) = identity {
        oauth::identity_headers(identity, |name, value| added.push(name, value));
    }
}

fn forged(name: &HeaderName) -> bool {
    oauth::is_identity_header(name.as_str().as_bytes())
}

/// One pass over the names; allocates only when a client actually sent an identity header.
fn strip_identity(headers: &mut HeaderMap) {
    if !headers.keys().any(forged) {
        return;
    }
    let names: Vec<HeaderName> = headers.keys().filter(|n| forged(n)).cloned().collect();
    for name in names {
        headers.remove(&name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn every_spelling_of_an_identity_header_is_removed_and_nothing_else() {
        let mut headers = HeaderMap::new();
        for name in [
            "x-consumer-whatever",
            "X-Authenticated-Userid",
            "x-anonymous-consumer",
            "X-Credential-Identifier",
            "X_Consumer_Username",
            "x-consumer_id",
            "x-consumerish",
            "authorization",
        ] {
            let name = HeaderName::from_bytes(name.as_bytes()).expect("name");
            headers.append(name, HeaderValue::from_static("v"));
        }
        let mut added = Added::default();
        set_identity(&mut headers, None, &mut added);
        let mut left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(left, ["authorization", "x-consumerish"]);
        assert_eq!(added.iter().count(), 0);
    }
}
