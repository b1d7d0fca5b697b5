//! Responses the proxy produces itself, with Kong's texts. Bodies of the fixed ones are static,
//! so producing them allocates nothing but the response head.
//!
//! Generic over the body type (any `B: From<Bytes>`; the proxy's is `upstream::ProxyBody`), so
//! this module depends on no other module of the crate.

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use http::{Response, StatusCode};
use tollgate_core::oauth::OAuthError;

pub const JSON: HeaderValue = HeaderValue::from_static("application/json; charset=utf-8");

pub const NO_ROUTE: &str = r#"{"message":"no Route matched with those values"}"#;
pub const NO_SERVICE: &str = r#"{"message":"no Service found with those values"}"#;
pub const NO_HEALTHY_UPSTREAM: &str = r#"{"message":"no healthy upstream"}"#;
pub const BAD_UPSTREAM: &str =
    r#"{"message":"An invalid response was received from the upstream server"}"#;
pub const UPSTREAM_TIMEOUT: &str = r#"{"message":"The upstream server is timing out"}"#;
pub const BAD_REQUEST: &str = r#"{"message":"Bad request"}"#;
pub const TOO_LARGE: &str = r#"{"message":"Request size limit exceeded"}"#;
pub const BODY_TIMEOUT: &str = r#"{"message":"The request body did not arrive in time"}"#;
pub const BUSY: &str = r#"{"message":"The server is busy; retry later"}"#;
/// A Gateway API route's request reached an invalid backend reference (or all weights are 0).
pub const INVALID_BACKEND: &str = r#"{"message":"The route's backend is invalid"}"#;
pub const INTERNAL: &str = r#"{"message":"An unexpected error occurred"}"#;

/// A JSON response with a static body.
pub fn static_json<B: From<Bytes>>(status: StatusCode, body: &'static str) -> Response<B> {
    json_bytes(status, Bytes::from_static(body.as_bytes()))
}

/// A JSON response with the given serialized body.
pub fn json_bytes<B: From<Bytes>>(status: StatusCode, body: Bytes) -> Response<B> {
    let len = body.len();
    let mut response = Response::new(B::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, JSON);
    headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
    response
}

/// A JSON response serializing `value`.
pub fn json_value<B: From<Bytes>>(status: StatusCode, value: &serde_json::Value) -> Response<B> {
    match serde_json::to_vec(value) {
        Ok(bytes) => json_bytes(status, Bytes::from(bytes)),
        Err(_) => static_json(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL),
    }
}

/// A JSON response `{"message": message}`.
pub fn message<B: From<Bytes>>(status: StatusCode, message: &str) -> Response<B> {
    json_value(status, &serde_json::json!({ "message": message }))
}

pub fn no_route<B: From<Bytes>>() -> Response<B> {
    static_json(StatusCode::NOT_FOUND, NO_ROUTE)
}

pub fn bad_request<B: From<Bytes>>() -> Response<B> {
    static_json(StatusCode::BAD_REQUEST, BAD_REQUEST)
}

/// A 400 that also closes an HTTP/1 connection: after a framing problem (a malformed body,
/// duplicate `Host`) the bytes that follow cannot be trusted as a next request.
pub fn bad_request_close<B: From<Bytes>>() -> Response<B> {
    let mut response = bad_request();
    response
        .headers_mut()
        .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    response
}

pub fn too_large<B: From<Bytes>>() -> Response<B> {
    static_json(StatusCode::PAYLOAD_TOO_LARGE, TOO_LARGE)
}

/// 408 for a body that did not arrive in time; the connection is closed (the rest of the body
/// may still come).
pub fn body_timeout<B: From<Bytes>>() -> Response<B> {
    let mut response = static_json(StatusCode::REQUEST_TIMEOUT, BODY_TIMEOUT);
    response
        .headers_mut()
        .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// 503 while too many bodies are being read at once.
pub fn busy<B: From<Bytes>>() -> Response<B> {
    let mut response = static_json(StatusCode::SERVICE_UNAVAILABLE, BUSY);
    response
        .headers_mut()
        .insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// An RFC 6749 / RFC 6750 error response.
pub fn oauth_error<B: From<Bytes>>(error: &OAuthError) -> Response<B> {
    let body = error.body();
    let mut response = Response::new(B::from(Bytes::from(body)));
    *response.status_mut() = StatusCode::from_u16(error.status).unwrap_or(StatusCode::UNAUTHORIZED);
    let headers = response.headers_mut();
    for (name, value) in error.headers() {
        if let Some(name) = name {
            headers.insert(name, value);
        }
    }
    if !headers.contains_key(CONTENT_TYPE) {
        headers.insert(CONTENT_TYPE, JSON);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_bodies_are_valid_json_with_a_message() {
        for body in [
            NO_ROUTE,
            NO_SERVICE,
            NO_HEALTHY_UPSTREAM,
            BAD_UPSTREAM,
            UPSTREAM_TIMEOUT,
            BAD_REQUEST,
            TOO_LARGE,
            INTERNAL,
        ] {
            let value: serde_json::Value = serde_json::from_str(body).expect(body);
            assert!(value["message"].is_string(), "{body}");
        }
    }

    #[test]
    fn a_static_response_carries_json_content_type_and_length() {
        let response = no_route::<Bytes>();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.headers()[CONTENT_TYPE], JSON);
        assert_eq!(
            response.headers()[CONTENT_LENGTH],
            NO_ROUTE.len().to_string()
        );
    }
}
