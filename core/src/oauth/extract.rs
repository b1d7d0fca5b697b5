//! Where a request's access token comes from, per plugin, and `hide_credentials`.

use std::borrow::Cow;

use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, HeaderValue};

use super::{MAX_QUERY_LEN, MAX_VERIFY_BODY_LEN};
use crate::snapshot::{BearerTokenParamType, PluginConfig};

/// Where a plugin looks for tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamSource<'a> {
    /// Kong `oauth2`: the `auth_header_name` header, else `access_token` in the query, else in a
    /// form or JSON body of POST/PUT/PATCH.
    OAuth2 { auth_header_name: &'a str },
    /// Kong `openid-connect` `bearer_token_param_type`.
    OpenIdConnect { types: &'a [BearerTokenParamType] },
}

impl<'a> ParamSource<'a> {
    pub fn of(config: &'a PluginConfig) -> Self {
        match config {
            PluginConfig::OAuth2(c) => ParamSource::OAuth2 {
                auth_header_name: &c.auth_header_name,
            },
            PluginConfig::OpenIdConnect(c) => ParamSource::OpenIdConnect {
                types: &c.bearer_token_param_type,
            },
            // Not an authentication plugin: it looks nowhere.
            PluginConfig::RateLimiting(_) => ParamSource::OpenIdConnect { types: &[] },
        }
    }
}

/// The parts of a request token extraction reads.
#[derive(Clone, Copy, Debug)]
pub struct RequestView<'a> {
    pub method: &'a str,
    pub headers: &'a HeaderMap,
    /// Raw query string, without `?`.
    pub query: Option<&'a str>,
    /// The buffered body, when [`needs_body`] asked for it.
    pub body: Option<&'a [u8]>,
}

/// Where a token was found (for `hide_credentials`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenLocation {
    Header(HeaderName),
    Query,
    FormBody,
    JsonBody,
}

/// The result of looking for a token. `Debug` never prints the token.
#[derive(Clone, PartialEq, Eq)]
pub enum TokenSource {
    Missing,
    Found {
        token: String,
        location: TokenLocation,
    },
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenSource::Missing => f.write_str("Missing"),
            TokenSource::Found { location, .. } => f
                .debug_struct("Found")
                .field("token", &"<redacted>")
                .field("location", location)
                .finish(),
        }
    }
}

/// The parameter carrying a token in query strings and bodies.
pub const ACCESS_TOKEN_PARAM: &str = "access_token";
const ACCESS_TOKEN_HEADER: HeaderName = HeaderName::from_static("access-token");
const X_ACCESS_TOKEN_HEADER: HeaderName = HeaderName::from_static("x-access-token");

/// A token found without touching the body, borrowed when possible.
type Located<'r> = (Cow<'r, str>, TokenLocation);

fn is_body_method(method: &str) -> bool {
    matches!(method, "POST" | "PUT" | "PATCH")
}

fn media_type(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    Some(value.split(';').next().unwrap_or("").trim())
}

fn is_form(headers: &HeaderMap) -> bool {
    media_type(headers).is_some_and(|m| m.eq_ignore_ascii_case("application/x-www-form-urlencoded"))
}

fn is_json(headers: &HeaderMap) -> bool {
    media_type(headers).is_some_and(|m| m.eq_ignore_ascii_case("application/json"))
}

/// Kong `parse_access_token` header rule: exactly two whitespace-separated parts with scheme
/// `bearer` or `token` (any case) give the second part; anything else is the whole value (which
/// then fails verification).
fn oauth2_header_token(value: &HeaderValue) -> Cow<'_, str> {
    let text = match value.to_str() {
        Ok(t) => t,
        Err(_) => return Cow::Owned(String::from_utf8_lossy(value.as_bytes()).into_owned()),
    };
    let mut parts = text.split_ascii_whitespace();
    match (parts.next(), parts.next(), parts.next()) {
        (Some(scheme), Some(token), None)
            if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token") =>
        {
            Cow::Borrowed(token)
        }
        _ => Cow::Borrowed(text),
    }
}

/// Header bytes as text: borrowed when visible ASCII, else lossily decoded (such a value is
/// never a valid token, but it is a token that was *sent*: `invalid_token`, not "missing").
fn header_text(value: &HeaderValue) -> Cow<'_, str> {
    match value.to_str() {
        Ok(t) => Cow::Borrowed(t.trim()),
        Err(_) => Cow::Owned(String::from_utf8_lossy(value.as_bytes()).trim().to_string()),
    }
}

/// `Authorization: Bearer <token>` (scheme any case); `None` for another scheme.
fn bearer_header_token(value: &HeaderValue) -> Option<Cow<'_, str>> {
    match header_text(value) {
        Cow::Borrowed(text) => {
            let (scheme, token) = text.split_once(|c: char| c.is_ascii_whitespace())?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| Cow::Borrowed(token.trim()))
        }
        Cow::Owned(text) => {
            let (scheme, token) = text.split_once(|c: char| c.is_ascii_whitespace())?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| Cow::Owned(token.trim().to_string()))
        }
    }
}

fn query_token<'r>(query: Option<&'r str>) -> Option<Cow<'r, str>> {
    let query = query.filter(|q| q.len() <= MAX_QUERY_LEN)?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(name, value)| name == ACCESS_TOKEN_PARAM && !value.is_empty())
        .map(|(_, value)| value)
}

fn form_token(body: &[u8]) -> Option<String> {
    if body.len() > MAX_VERIFY_BODY_LEN {
        return None;
    }
    form_urlencoded::parse(body)
        .find(|(name, value)| name == ACCESS_TOKEN_PARAM && !value.is_empty())
        .map(|(_, value)| value.into_owned())
}

fn json_token(body: &[u8]) -> Option<String> {
    if body.len() > MAX_VERIFY_BODY_LEN {
        return None;
    }
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    match value.get(ACCESS_TOKEN_PARAM)? {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// Looks in the headers and the query string, in the plugin's order.
fn locate_without_body<'r>(source: ParamSource<'_>, req: &RequestView<'r>) -> Option<Located<'r>> {
    match source {
        ParamSource::OAuth2 { auth_header_name } => {
            if let Some(value) = req.headers.get(auth_header_name) {
                let name =
                    HeaderName::from_bytes(auth_header_name.as_bytes()).unwrap_or(AUTHORIZATION);
                return Some((oauth2_header_token(value), TokenLocation::Header(name)));
            }
            query_token(req.query).map(|t| (t, TokenLocation::Query))
        }
        ParamSource::OpenIdConnect { types } => types.iter().find_map(|t| match t {
            BearerTokenParamType::Header => req
                .headers
                .get(AUTHORIZATION)
                .and_then(bearer_header_token)
                .map(|t| (t, TokenLocation::Header(AUTHORIZATION)))
                .or_else(|| {
                    [ACCESS_TOKEN_HEADER, X_ACCESS_TOKEN_HEADER]
                        .into_iter()
                        .find_map(|name| {
                            let value = bearer_token_or_whole(req.headers.get(&name)?);
                            (!value.is_empty()).then(|| (value, TokenLocation::Header(name)))
                        })
                }),
            BearerTokenParamType::Query => {
                query_token(req.query).map(|t| (t, TokenLocation::Query))
            }
            BearerTokenParamType::Body => None,
        }),
    }
}

/// `Bearer <token>` gives the token; any other value is the token itself.
fn bearer_token_or_whole(value: &HeaderValue) -> Cow<'_, str> {
    bearer_header_token(value).unwrap_or_else(|| header_text(value))
}

/// Which body format this plugin would read a token from for this request, if any.
fn body_kind(source: ParamSource<'_>, req: &RequestView<'_>) -> Option<TokenLocation> {
    match source {
        ParamSource::OAuth2 { .. } if is_body_method(req.method) => {
            if is_form(req.headers) {
                Some(TokenLocation::FormBody)
            } else if is_json(req.headers) {
                Some(TokenLocation::JsonBody)
            } else {
                None
            }
        }
        ParamSource::OpenIdConnect { types }
            if types.contains(&BearerTokenParamType::Body)
                && !matches!(req.method, "GET" | "HEAD")
                && is_form(req.headers) =>
        {
            Some(TokenLocation::FormBody)
        }
        _ => None,
    }
}

/// Looks for the token where the plugin allows it:
/// - `oauth2` (Kong): the `auth_header_name` header (see Kong's two-part rule), else
///   `access_token` in the query, else in a form or JSON body of POST/PUT/PATCH;
/// - `openid-connect` (`bearer_token_param_type`, in the configured order): `header` =
///   `Authorization: Bearer`, then `access-token`, `x-access-token`; `query` = `access_token`;
///   `body` = form-encoded `access_token` on methods other than GET/HEAD.
///
/// The body is only read when `req.body` is `Some` (see [`needs_body`]).
pub fn extract_token(source: ParamSource<'_>, req: &RequestView<'_>) -> TokenSource {
    if let Some((token, location)) = locate_without_body(source, req) {
        return TokenSource::Found {
            token: token.into_owned(),
            location,
        };
    }
    let (Some(body), Some(kind)) = (req.body, body_kind(source, req)) else {
        return TokenSource::Missing;
    };
    let token = match kind {
        TokenLocation::FormBody => form_token(body),
        TokenLocation::JsonBody => json_token(body),
        _ => None,
    };
    match token {
        Some(token) => TokenSource::Found {
            token,
            location: kind,
        },
        None => TokenSource::Missing,
    }
}

/// Whether the proxy must buffer the body before calling [`extract_token`]: no token in the
/// headers or query, and the body is a place this plugin looks for one (by method and
/// `Content-Type`). `req.body` is ignored.
pub fn needs_body(source: ParamSource<'_>, req: &RequestView<'_>) -> bool {
    body_kind(source, req).is_some() && locate_without_body(source, req).is_none()
}

fn component_name(piece: &[u8]) -> Cow<'_, str> {
    let name = piece.split(|&b| b == b'=').next().unwrap_or(&[]);
    form_urlencoded::parse(name)
        .next()
        .map(|(n, _)| n)
        .unwrap_or(Cow::Borrowed(""))
}

/// The query string without any `name` parameter (other parameters keep their exact encoding);
/// `None` when nothing remains.
pub fn remove_query_param(query: &str, name: &str) -> Option<String> {
    let kept: Vec<&str> = query
        .split('&')
        .filter(|piece| !piece.is_empty() && component_name(piece.as_bytes()) != name)
        .collect();
    (!kept.is_empty()).then(|| kept.join("&"))
}

/// A form-encoded body without any `name` parameter (other parameters keep their encoding).
pub fn remove_form_param(body: &[u8], name: &str) -> Vec<u8> {
    let kept: Vec<&[u8]> = body
        .split(|&b| b == b'&')
        .filter(|piece| !piece.is_empty() && component_name(piece) != name)
        .collect();
    kept.join(&b'&')
}

/// A JSON object body without its `name` member; the body unchanged when it is not an object.
pub fn remove_json_param(body: &[u8], name: &str) -> Vec<u8> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(mut map)) => {
            map.remove(name);
            serde_json::to_vec(&map).unwrap_or_else(|_| body.to_vec())
        }
        _ => body.to_vec(),
    }
}

/// Removes the token from where it was found (`hide_credentials`): the header (every
/// occurrence), or `access_token` from the query or the body. The proxy must recompute
/// `Content-Length` when the body changed.
pub fn hide_credentials(
    location: &TokenLocation,
    headers: &mut HeaderMap,
    query: &mut Option<String>,
    body: &mut Option<Vec<u8>>,
) {
    match location {
        TokenLocation::Header(name) => {
            headers.remove(name);
        }
        TokenLocation::Query => {
            *query = query
                .as_deref()
                .and_then(|q| remove_query_param(q, ACCESS_TOKEN_PARAM));
        }
        TokenLocation::FormBody => {
            if let Some(b) = body.as_mut() {
                *b = remove_form_param(b, ACCESS_TOKEN_PARAM);
            }
        }
        TokenLocation::JsonBody => {
            if let Some(b) = body.as_mut() {
                *b = remove_json_param(b, ACCESS_TOKEN_PARAM);
            }
        }
    }
}

#[cfg(test)]
#[path = "extract_tests.rs"]
mod tests;
