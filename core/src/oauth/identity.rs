//! The identity headers the upstream receives, set or removed on every request.

use http::{HeaderMap, HeaderName, HeaderValue};

use super::Identity;

pub const X_CONSUMER_ID: HeaderName = HeaderName::from_static("x-consumer-id");
pub const X_CONSUMER_CUSTOM_ID: HeaderName = HeaderName::from_static("x-consumer-custom-id");
pub const X_CONSUMER_USERNAME: HeaderName = HeaderName::from_static("x-consumer-username");
pub const X_CREDENTIAL_IDENTIFIER: HeaderName = HeaderName::from_static("x-credential-identifier");
pub const X_AUTHENTICATED_SCOPE: HeaderName = HeaderName::from_static("x-authenticated-scope");
pub const X_AUTHENTICATED_USERID: HeaderName = HeaderName::from_static("x-authenticated-userid");
pub const X_ANONYMOUS_CONSUMER: HeaderName = HeaderName::from_static("x-anonymous-consumer");

/// Every identity header; a client-sent copy of any of them never reaches the upstream.
pub const IDENTITY_HEADERS: [HeaderName; 7] = [
    X_CONSUMER_ID,
    X_CONSUMER_CUSTOM_ID,
    X_CONSUMER_USERNAME,
    X_CREDENTIAL_IDENTIFIER,
    X_AUTHENTICATED_SCOPE,
    X_AUTHENTICATED_USERID,
    X_ANONYMOUS_CONSUMER,
];

/// Removes every occurrence of every identity header (any case, repeated), then sets the ones
/// `identity` defines: the consumer's id, username and custom id; for a credential its
/// `client_id` (`X-Credential-Identifier`) and the granted scope (space-separated); for the
/// anonymous consumer `X-Anonymous-Consumer: true` and no credential or scope.
/// Call on every request of every route, protected or not. A value that is not a valid header
/// value (validation refuses those) is left out rather than sent mangled.
pub fn apply_identity(headers: &mut HeaderMap, identity: Option<&Identity<'_>>) {
    for name in &IDENTITY_HEADERS {
        // `remove` drops every value of the name; names are case-insensitive in `HeaderMap`.
        headers.remove(name);
    }
    if let Some(identity) = identity {
        add_identity(headers, identity);
    }
}

/// Sets the identity headers of `identity` on a map the caller knows holds none of
/// [`IDENTITY_HEADERS`] (what [`apply_identity`] does after its removals, without a hashed
/// lookup per absent name).
fn add_identity(headers: &mut HeaderMap, identity: &Identity<'_>) {
    identity_headers(identity, |name, value| {
        headers.insert(name, value);
    });
}

/// Calls `emit` with each identity header `identity` defines, in a fixed order (for callers
/// that write headers somewhere other than a `HeaderMap`, such as straight into a request's
/// bytes).
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
    let consumer = identity.consumer;
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
    if let Some(credential) = identity.credential {
        set(
            X_CREDENTIAL_IDENTIFIER,
            identity.client_id_value,
            Some(&credential.client_id),
        );
    }
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
