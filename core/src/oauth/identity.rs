//! The identity headers the upstream receives, set or removed on every request.

use http::{HeaderName, HeaderValue};

use super::Identity;

pub const X_CONSUMER_ID: HeaderName = HeaderName::from_static("x-consumer-id");
pub const X_CONSUMER_CUSTOM_ID: HeaderName = HeaderName::from_static("x-consumer-custom-id");
pub const X_CONSUMER_USERNAME: HeaderName = HeaderName::from_static("x-consumer-username");
pub const X_CREDENTIAL_IDENTIFIER: HeaderName = HeaderName::from_static("x-credential-identifier");
pub const X_AUTHENTICATED_SCOPE: HeaderName = HeaderName::from_static("x-authenticated-scope");
pub const X_AUTHENTICATED_USERID: HeaderName = HeaderName::from_static("x-authenticated-userid");
pub const X_ANONYMOUS_CONSUMER: HeaderName = HeaderName::from_static("x-anonymous-consumer");
pub const X_CONSUMER_GROUPS: HeaderName = HeaderName::from_static("x-consumer-groups");

/// Every identity header the gateway sets; a client-sent copy of any of them, in any spelling
/// ([`is_identity_header`]), never reaches the upstream.
pub const IDENTITY_HEADERS: [HeaderName; 8] = [
    X_CONSUMER_ID,
    X_CONSUMER_CUSTOM_ID,
    X_CONSUMER_USERNAME,
    X_CONSUMER_GROUPS,
    X_CREDENTIAL_IDENTIFIER,
    X_AUTHENTICATED_SCOPE,
    X_AUTHENTICATED_USERID,
    X_ANONYMOUS_CONSUMER,
];

/// Prefixes of header names only the gateway may set: a client's `X-Consumer-*`,
/// `X-Authenticated-*` or `X-Anonymous-*` header never reaches an upstream, whatever follows.
const IDENTITY_PREFIXES: [&[u8]; 3] = [b"x-consumer-", b"x-authenticated-", b"x-anonymous-"];

/// Whether a header named `name` (as a client spelled it) is one only the gateway may set: any
/// of [`IDENTITY_HEADERS`] or a name with an identity prefix, compared as CGI, WSGI and Rack
/// servers compare them — ASCII case ignored and `_` taken for `-` — so that `X_Consumer_Username`
/// or `x-consumer_id`, which those servers read as the real header, count too.
pub fn is_identity_header(name: &[u8]) -> bool {
    // Every protected name starts with `x-`: one comparison settles almost every header.
    if !starts_as(name, b"x-") {
        return false;
    }
    IDENTITY_PREFIXES.iter().any(|p| starts_as(name, p))
        || IDENTITY_HEADERS
            .iter()
            .any(|h| same_header_name(name, h.as_str().as_bytes()))
}

/// Whether two header names are the same to a CGI, WSGI or Rack server: equal but for ASCII
/// case and `_` in place of `-`.
pub fn same_header_name(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && starts_as(a, b)
}

/// Whether `name` starts with `prefix`, ignoring ASCII case and taking `_` for `-`.
fn starts_as(name: &[u8], prefix: &[u8]) -> bool {
    let fold = |c: u8| {
        if c == b'_' {
            b'-'
        } else {
            c.to_ascii_lowercase()
        }
    };
    name.len() >= prefix.len() && name.iter().zip(prefix).all(|(&a, &b)| fold(a) == fold(b))
}

/// Calls `emit` with each identity header `identity` defines, in a fixed order: the consumer's
/// id, username and custom id (when there is a consumer); for a credential its `client_id`
/// (`X-Credential-Identifier`; for an external token its `client_id` or `azp` claim); an external
/// token's `sub` (`X-Authenticated-Userid`); the granted scope (space-separated); for the
/// anonymous consumer `X-Anonymous-Consumer: true`.
/// A value that is not a valid header value (validation refuses those) is left out rather than
/// sent mangled. The proxy strips the client's copies first (one place:
/// `proxy/src/pipeline/identity.rs`).
pub fn identity_headers(identity: &Identity<'_>, mut emit: impl FnMut(HeaderName, HeaderValue)) {
    let mut set = |name: HeaderName, precomputed: Option<&HeaderValue>, value: Option<&str>| {
        let value = match precomputed {
            Some(v) => Some(v.clone()),
            None => value.and_then(|v| HeaderValue::from_str(v).ok()),
        };
        if let Some(v) = value {
            emit(name, v);
        }
    };
    if let Some(consumer) = identity.consumer {
        let [id, username, custom_id] = match identity.consumer_values {
            Some([a, b, c]) => [a.as_ref(), b.as_ref(), c.as_ref()],
            None => [None, None, None],
        };
        set(X_CONSUMER_ID, id, Some(&consumer.id));
        set(X_CONSUMER_USERNAME, username, Some(&consumer.username));
        set(
            X_CONSUMER_CUSTOM_ID,
            custom_id,
            consumer.custom_id.as_deref(),
        );
        if !consumer.groups.is_empty() {
            // Kong's spelling: comma and space.
            set(X_CONSUMER_GROUPS, None, Some(&consumer.groups.join(", ")));
        }
    }
    if let Some(credential) = identity.credential {
        set(
            X_CREDENTIAL_IDENTIFIER,
            identity.client_id_value,
            Some(&credential.client_id),
        );
    } else if let Some(client_id) = &identity.token_client_id {
        set(X_CREDENTIAL_IDENTIFIER, None, Some(client_id));
    }
    set(X_AUTHENTICATED_USERID, None, identity.subject.as_deref());
    set(X_AUTHENTICATED_SCOPE, None, identity.scope.as_deref());
    if identity.anonymous {
        set(
            X_ANONYMOUS_CONSUMER,
            Some(&HeaderValue::from_static("true")),
            None,
        );
    }
}

#[cfg(test)]
#[path = "identity_tests.rs"]
mod tests;
