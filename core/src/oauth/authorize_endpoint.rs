//! Kong's API-driven authorization endpoint (`POST …/oauth2/authorize`), the first half of the
//! authorization code grant (RFC 6749 §4.1) with PKCE (RFC 7636).
//!
//! The gateway shows no login page. The application's backend authenticates the user itself,
//! then posts the plugin's `provision_key`, the `authenticated_userid` it vouches for and the
//! client's `client_id`, `response_type=code`, `redirect_uri`, `scope`, `state` and
//! `code_challenge(_method)`; the answer is `{"redirect_uri": "<uri>?code=…&state=…"}`, where the
//! backend sends the user's browser.
//!
//! The proxy calls, in order: [`parse_authorize_request`] (everything that needs no credential),
//! looks up the credential by `client_id`, [`authorize`], seals the code
//! ([`super::code::CodeClaims`]) and answers [`code_response`]. Every answer carries the token
//! endpoint's no-store headers.
//!
//! Errors (Kong's codes and texts, status 400): the method, HTTPS, the body, the provision key,
//! the user and an unknown client are answered as a plain error body; once the client is known,
//! an error is answered as `{"redirect_uri": "<registered uri>?error=…&error_description=…&state=…"}`
//! so the backend can send the user back to the client with it.

use super::code::{Challenge, check_challenge};
use super::params::printable;
use super::token_endpoint::{
    TokenRequestView, check_https, check_method, collect_params, granted_scope, invalid_client,
    provision_key_matches,
};
use super::{ClientAuthMethod, OAuthError, token_error};
use crate::snapshot::{Credential, OAuth2Config};

/// Whether a (normalized) path is an authorization endpoint: it ends with `/oauth2/authorize`
/// or `/oauth2/authorize/`, under any route carrying the plugin (as the token endpoint).
pub fn is_authorize_endpoint(path: &str) -> bool {
    path.ends_with("/oauth2/authorize") || path.ends_with("/oauth2/authorize/")
}

/// A request that passed the checks needing no credential. Holds no secret (the provision key
/// was checked and dropped).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthorizeRequest {
    pub client_id: Option<String>,
    pub authenticated_userid: String,
    pub response_type: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
}

/// Checks everything that needs no credential, in this order (Kong's):
/// 1. method is POST, else 405 `invalid_method`;
/// 2. HTTPS (see `accept_http_if_already_terminated`), else 400 `access_denied`;
/// 3. the parameters (query and body) parse as at the token endpoint, else `invalid_request`;
/// 4. the plugin's provision key, else `invalid_provision_key` "Invalid provision_key"
///    (compared by its SHA-256 in constant time);
/// 5. an `authenticated_userid`, else `invalid_authenticated_userid` "Missing
///    authenticated_userid parameter"; at most 255 printable ASCII characters (it becomes a
///    header), else the same code.
pub fn parse_authorize_request(
    config: &OAuth2Config,
    req: &TokenRequestView<'_>,
) -> Result<AuthorizeRequest, OAuthError> {
    check_method(config, req).map_err(|e| OAuthError {
        description: e
            .description
            .replace("token endpoint", "authorize endpoint"),
        www_authenticate: e
            .www_authenticate
            .map(|w| w.replace("token endpoint", "authorize endpoint")),
        ..e
    })?;
    check_https(config, req)?;
    let mut params = collect_params(req)?;
    if !provision_key_matches(config, params.get("provision_key")) {
        return Err(token_error(
            400,
            "invalid_provision_key",
            "Invalid provision_key",
        ));
    }
    let invalid_userid = |d: &str| token_error(400, "invalid_authenticated_userid", d);
    let user = params
        .take("authenticated_userid")
        .filter(|u| !u.trim().is_empty())
        .ok_or_else(|| invalid_userid("Missing authenticated_userid parameter"))?;
    if user.len() > crate::token::MAX_USERID_LEN || !user.bytes().all(|b| (0x20..0x7f).contains(&b))
    {
        return Err(invalid_userid(
            "authenticated_userid must be at most 255 printable ASCII characters",
        ));
    }
    Ok(AuthorizeRequest {
        client_id: params.take("client_id"),
        authenticated_userid: user,
        response_type: params.take("response_type"),
        redirect_uri: params.take("redirect_uri"),
        scope: params.take("scope"),
        state: params.take("state"),
        code_challenge: params.take("code_challenge"),
        code_challenge_method: params.take("code_challenge_method"),
    })
}

/// What the code will carry, once [`authorize`] agreed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authorized {
    /// The redirect URI the code goes to: the one asked for, or the client's first.
    pub redirect_uri: String,
    /// Granted scopes, space-separated; `None` when none.
    pub scope: Option<String>,
    pub challenge: Option<Challenge>,
}

/// A refusal once the client is known: sent to its (first registered) redirect URI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redirected {
    pub redirect_uri: String,
    pub error: OAuthError,
}

/// Why [`authorize`] refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Answered as a plain error body (unknown client).
    Plain(OAuthError),
    /// Answered as `{"redirect_uri": "…?error=…"}` ([`error_response`]).
    Redirect(Redirected),
}

/// Decides the request once the proxy looked the client up (`None`: unknown), in this order:
/// 1. an unknown client, or one without redirect URIs: plain 400 `invalid_client` "Invalid
///    client authentication" (Kong);
/// 2. the `redirect_uri` (default: the client's first) must equal one of the client's
///    `redirectUris` exactly, else `invalid_request` "Invalid redirect_uri that does not match
///    with any redirect_uri created with the application", sent to the client's first URI;
/// 3. `response_type=code` with the grant enabled, else `unsupported_response_type` "Invalid
///    response_type";
/// 4. the scope, as at the token endpoint (the plugin's `scopes`, `mandatoryScope`, then the
///    client's own `scopes`), else `invalid_scope`;
/// 5. PKCE ([`check_challenge`]), else `invalid_request`.
///
/// From 2 on, a refusal is sent to the redirect URI, with the `state`.
pub fn authorize(
    config: &OAuth2Config,
    req: &AuthorizeRequest,
    credential: Option<&Credential>,
) -> Result<Authorized, Refused> {
    let Some((credential, first)) =
        credential.and_then(|c| c.redirect_uris.first().map(|first| (c, first)))
    else {
        return Err(Refused::Plain(invalid_client(
            ClientAuthMethod::ClientIdOnly,
        )));
    };
    let redirect = |error: OAuthError, to: &str| {
        Refused::Redirect(Redirected {
            redirect_uri: to.to_owned(),
            error,
        })
    };
    let redirect_uri = req.redirect_uri.as_deref().unwrap_or(first);
    if !credential.redirect_uris.iter().any(|r| r == redirect_uri) {
        let error = super::invalid_request(
            "Invalid redirect_uri that does not match with any redirect_uri created with the application",
        );
        return Err(redirect(error, first));
    }
    if !(config.enable_authorization_code && req.response_type.as_deref() == Some("code")) {
        let error = token_error(400, "unsupported_response_type", "Invalid response_type");
        return Err(redirect(error, redirect_uri));
    }
    let scope =
        granted_scope(config, req.scope.as_deref()).map_err(|e| redirect(e, redirect_uri))?;
    if let Some(allowed) = &credential.scopes {
        let refused = scope
            .as_deref()
            .unwrap_or("")
            .split(' ')
            .find(|s| !s.is_empty() && !allowed.iter().any(|a| a == s));
        if let Some(refused) = refused {
            let error = token_error(
                400,
                "invalid_scope",
                format!("'{}' is an invalid scope", printable(refused)),
            );
            return Err(redirect(error, redirect_uri));
        }
    }
    let challenge = check_challenge(
        config,
        credential.client_type,
        req.code_challenge.as_deref(),
        req.code_challenge_method.as_deref(),
    )
    .map_err(|e| redirect(e, redirect_uri))?;
    Ok(Authorized {
        redirect_uri: redirect_uri.to_owned(),
        scope,
        challenge,
    })
}

/// An answer of the authorization endpoint: status and JSON body (with the token endpoint's
/// headers, [`super::TOKEN_ENDPOINT_HEADERS`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthorizeResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

/// `uri` with `params` added to its query (form-encoded, after any query it has).
fn with_query(uri: &str, params: &[(&str, &str)]) -> String {
    let mut added = form_urlencoded::Serializer::new(String::new());
    for (name, value) in params {
        added.append_pair(name, value);
    }
    let added = added.finish();
    let separator = match uri.split_once('?') {
        None => "?",
        Some((_, "")) => "",
        Some(_) => "&",
    };
    format!("{uri}{separator}{added}")
}

fn redirect_body(status: u16, redirect_uri: String) -> AuthorizeResponse {
    AuthorizeResponse {
        status,
        body: serde_json::to_vec(&serde_json::json!({ "redirect_uri": redirect_uri }))
            .unwrap_or_default(),
    }
}

/// 200 `{"redirect_uri": "<uri>?code=<code>[&state=<state>]"}`.
pub fn code_response(redirect_uri: &str, code: &str, state: Option<&str>) -> AuthorizeResponse {
    let mut params = vec![("code", code)];
    if let Some(state) = state {
        params.push(("state", state));
    }
    redirect_body(200, with_query(redirect_uri, &params))
}

/// 400 `{"redirect_uri": "<uri>?error=…&error_description=…[&state=…]"}`.
pub fn error_response(refused: &Redirected, state: Option<&str>) -> AuthorizeResponse {
    let mut params = vec![
        ("error", refused.error.error),
        ("error_description", refused.error.description.as_str()),
    ];
    if let Some(state) = state {
        params.push(("state", state));
    }
    redirect_body(
        refused.error.status,
        with_query(&refused.redirect_uri, &params),
    )
}

#[cfg(test)]
#[path = "authorize_endpoint_tests.rs"]
mod tests;
