//! OAuth 2.0 decisions, as pure functions the proxy calls:
//! - [`token_endpoint`]: `POST …/oauth2/token` (client credentials, password and authorization
//!   code grants), RFC 6749;
//! - [`authorize_endpoint`]: Kong's API-driven `POST …/oauth2/authorize`, which issues
//!   authorization codes; [`code`]: the sealed codes, PKCE (RFC 7636) and single use;
//! - [`introspect_endpoint`]: `POST …/oauth2/introspect` (RFC 7662) for the gateway's own tokens;
//! - [`revoke_endpoint`]: `POST …/oauth2/revoke` (RFC 7009); [`presented_token`]: the request
//!   and client authentication both of them share;
//! - [`metadata`]: the authorization server metadata document (RFC 8414);
//! - [`extract`]: where a request's access token comes from (per plugin), `hide_credentials`;
//! - [`verify`]: turning an opened token into an [`Identity`] or an RFC 6750 error;
//! - [`identity`]: the upstream identity headers, set or removed on every request.
//!
//! Kong's texts and statuses are kept wherever a client would notice; where Kong breaks an RFC
//! the RFC wins and the doc comment of the function says so.

pub mod authorize_endpoint;
pub mod code;
pub mod extract;
pub mod identity;
pub mod introspect_endpoint;
pub mod metadata;
mod params;
pub mod presented_token;
pub mod refresh;
pub mod revoke_endpoint;
pub mod token_endpoint;
pub mod verify;

pub use extract::{
    ParamSource, RequestView, TokenLocation, TokenSource, extract_token, hide_credentials,
    needs_body, remove_form_param, remove_json_param, remove_query_param,
};
pub use identity::{IDENTITY_HEADERS, identity_headers, is_identity_header, same_header_name};
pub use token_endpoint::{
    ClientAuthMethod, ForwardedProto, GrantType, TokenRequest, TokenRequestView, TokenResponse,
    authorize_client, claims_for, parse_token_request, secret_check, token_response,
};
pub use verify::{
    CredentialEntry, Identity, Openers, SnapshotIndex, TOKEN_GLOBAL, TOKEN_INVALID, TOKEN_MISSING,
    authenticate, authenticate_presented,
};

use http::HeaderMap;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue, PRAGMA, WWW_AUTHENTICATE};

/// Longest body the token endpoint parses, in bytes.
pub const MAX_TOKEN_BODY_LEN: usize = 16 * 1024;
/// Longest query string parsed, in bytes.
pub const MAX_QUERY_LEN: usize = 8 * 1024;
/// Longest form/JSON body searched for an `access_token`, in bytes.
pub const MAX_VERIFY_BODY_LEN: usize = 64 * 1024;

/// `application/json; charset=utf-8`, the content type of every body produced here.
pub const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// Headers every token-endpoint response carries, errors included (RFC 6749 §5.1).
pub const TOKEN_ENDPOINT_HEADERS: [(&str, &str); 3] = [
    ("content-type", JSON_CONTENT_TYPE),
    ("cache-control", "no-store"),
    ("pragma", "no-cache"),
];

/// Whether a (normalized) path is a token endpoint: it ends with `/oauth2/token` or
/// `/oauth2/token/` (Kong matches the suffix under any route carrying the plugin).
pub fn is_token_endpoint(path: &str) -> bool {
    path.ends_with("/oauth2/token") || path.ends_with("/oauth2/token/")
}

/// An OAuth 2.0 error response (RFC 6749 §5.2 at the token endpoint, RFC 6750 §3 elsewhere).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthError {
    pub status: u16,
    /// The `error` code, e.g. `invalid_client`.
    pub error: &'static str,
    /// The `error_description` text.
    pub description: String,
    /// The `WWW-Authenticate` value, when the response carries one.
    pub www_authenticate: Option<String>,
    /// Whether this is a token-endpoint response (adds `Cache-Control: no-store`,
    /// `Pragma: no-cache`).
    pub token_endpoint: bool,
}

impl OAuthError {
    /// `{"error": …, "error_description": …}` as JSON bytes; Kong's `{"message": …}` for an
    /// error without a code (the ACL's refusal).
    pub fn body(&self) -> Vec<u8> {
        let body = if self.error.is_empty() {
            serde_json::json!({ "message": self.description })
        } else {
            serde_json::json!({
                "error": self.error,
                "error_description": self.description,
            })
        };
        serde_json::to_vec(&body).unwrap_or_default()
    }

    /// Every header of the response: content type, `WWW-Authenticate` when set, and the
    /// no-store headers at the token endpoint.
    pub fn headers(&self) -> HeaderMap {
        let mut h = HeaderMap::with_capacity(4);
        h.insert(CONTENT_TYPE, HeaderValue::from_static(JSON_CONTENT_TYPE));
        if let Some(v) = self
            .www_authenticate
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            h.insert(WWW_AUTHENTICATE, v);
        }
        if self.token_endpoint {
            h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            h.insert(PRAGMA, HeaderValue::from_static("no-cache"));
        }
        h
    }
}

/// An error answered by the token endpoint (with its no-store headers) and no `WWW-Authenticate`
/// (a caller needing one sets it).
pub(crate) fn token_error(
    status: u16,
    error: &'static str,
    description: impl Into<String>,
) -> OAuthError {
    OAuthError {
        status,
        error,
        description: description.into(),
        www_authenticate: None,
        token_endpoint: true,
    }
}

/// 400 `invalid_request` at the token endpoint.
pub(crate) fn invalid_request(description: impl Into<String>) -> OAuthError {
    token_error(400, "invalid_request", description)
}

/// Quotes a value for an auth-param (`"` and `\` escaped; control characters dropped).
pub(crate) fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `Bearer [realm="…", ]error="…", error_description="…"` (RFC 6750 §3). With no error:
/// `Bearer` or `Bearer realm="…"`.
pub(crate) fn bearer_challenge(realm: Option<&str>, error: Option<(&str, &str)>) -> String {
    let mut params = Vec::new();
    if let Some(realm) = realm {
        params.push(format!("realm={}", quote(realm)));
    }
    if let Some((error, description)) = error {
        params.push(format!("error={}", quote(error)));
        params.push(format!("error_description={}", quote(description)));
    }
    if params.is_empty() {
        "Bearer".to_string()
    } else {
        format!("Bearer {}", params.join(", "))
    }
}
