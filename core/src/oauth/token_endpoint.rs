//! The token endpoint (`POST …/oauth2/token`, client credentials grant).
//!
//! The proxy calls, in order:
//! 1. [`parse_token_request`]: every check that needs no credential (method, HTTPS, body, client
//!    authentication syntax, grant type, scope);
//! 2. looks the credential up by `client_id` and verifies the secret against its verifier
//!    (expensive: off the request threads);
//! 3. [`authorize_client`] with the lookup result and the verification outcome;
//! 4. issues a token and answers with [`token_response`].
//!
//! Every response, errors included, carries [`super::TOKEN_ENDPOINT_HEADERS`].

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};

use super::code::{CodeClaims, check_verifier, redirect_uri_hash};
use super::params::{Params, form_decode, media_type, parse_form, parse_json, printable};
use super::{
    CredentialEntry, MAX_QUERY_LEN, MAX_TOKEN_BODY_LEN, OAuthError, TOKEN_ENDPOINT_HEADERS,
    bearer_challenge, invalid_request, token_error,
};
use crate::secret::Verifier;
use crate::snapshot::{ClientType, Credential, OAuth2Config, Plugin};
use crate::token::{Binding, Claims, MAX_SCOPE_LEN, namespace_binding, plugin_binding};

/// What the request's `X-Forwarded-Proto` says, **as seen from a trusted peer**. The proxy
/// reports [`ForwardedProto::Absent`] when the peer is not trusted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ForwardedProto {
    /// No header, another value than `https`, or an untrusted peer.
    #[default]
    Absent,
    /// Exactly one `X-Forwarded-Proto: https` (case-insensitive) from a trusted peer.
    Https,
    /// More than one `X-Forwarded-Proto` header from a trusted peer.
    Multiple,
}

/// The parts of a token request the checks read.
#[derive(Clone, Copy, Default)]
pub struct TokenRequestView<'a> {
    pub method: &'a str,
    /// Whether the request arrived over TLS on this proxy.
    pub https: bool,
    pub forwarded_proto: ForwardedProto,
    /// Raw query string, without `?`.
    pub query: Option<&'a str>,
    /// The `Content-Type` header value.
    pub content_type: Option<&'a str>,
    /// The value of the plugin's `auth_header_name` header (default `authorization`).
    pub authorization: Option<&'a [u8]>,
    /// The request body (at most [`super::MAX_TOKEN_BODY_LEN`] bytes are accepted).
    pub body: &'a [u8],
}

impl std::fmt::Debug for TokenRequestView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRequestView")
            .field("method", &self.method)
            .field("https", &self.https)
            .field("forwarded_proto", &self.forwarded_proto)
            .field("content_type", &self.content_type)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantType {
    ClientCredentials,
    /// Kong's password grant: no user password, but the plugin's provision key and the
    /// `authenticated_userid` the application vouches for.
    Password,
    /// A code from the authorization endpoint (`enableAuthorizationCode`), with PKCE.
    AuthorizationCode,
    /// A refresh token issued with an access token of the password or authorization code
    /// grant (see [`super::refresh`]).
    RefreshToken,
}

/// How the client authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuthMethod {
    /// HTTP Basic (`client_secret_basic`): failures are 401 with a Basic challenge.
    Basic,
    /// `client_id` and `client_secret` in the body (`client_secret_post`).
    Body,
    /// Only `client_id` in the body (public clients).
    ClientIdOnly,
}

/// A syntactically valid token request. `Debug` never prints the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenRequest {
    pub client_id: String,
    client_secret: Option<String>,
    pub auth_method: ClientAuthMethod,
    pub grant_type: GrantType,
    /// The requested (and allowed) scopes, space-separated; `None` when none were requested.
    pub scope: Option<String>,
    /// The `state` parameter, echoed in the response.
    pub state: Option<String>,
    /// The end user the application vouches for (`authenticated_userid`).
    pub authenticated_userid: Option<String>,
    provision_key: Option<String>,
    /// The authorization code (`grant_type=authorization_code`).
    code: Option<String>,
    /// The `redirect_uri` the code was sent to (`grant_type=authorization_code`).
    pub redirect_uri: Option<String>,
    /// The PKCE `code_verifier` (`grant_type=authorization_code`).
    code_verifier: Option<String>,
    /// The refresh token (`grant_type=refresh_token`).
    refresh_token: Option<String>,
}

impl std::fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRequest")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("auth_method", &self.auth_method)
            .field("grant_type", &self.grant_type)
            .field("scope", &self.scope)
            .field("authenticated_userid", &self.authenticated_userid)
            .field("code", &self.code.as_ref().map(|_| "<redacted>"))
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

impl TokenRequest {
    /// The presented secret, to verify against the credential's verifier.
    pub fn client_secret(&self) -> Option<&[u8]> {
        self.client_secret.as_deref().map(str::as_bytes)
    }

    /// The authorization code presented (`grant_type=authorization_code`).
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// The PKCE verifier presented (`grant_type=authorization_code`).
    pub fn code_verifier(&self) -> Option<&str> {
        self.code_verifier.as_deref()
    }

    /// The refresh token presented (`grant_type=refresh_token`).
    pub fn refresh_token(&self) -> Option<&str> {
        self.refresh_token.as_deref()
    }
}

/// A successful token response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

impl TokenResponse {
    /// Every header of the response ([`super::TOKEN_ENDPOINT_HEADERS`]).
    pub fn headers(&self) -> HeaderMap {
        let mut h = HeaderMap::with_capacity(TOKEN_ENDPOINT_HEADERS.len());
        for (name, value) in TOKEN_ENDPOINT_HEADERS {
            h.insert(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        h
    }
}

const INVALID_CLIENT: &str = "Invalid client authentication";
/// The challenge of a 401 `invalid_client` after HTTP Basic (Kong's realm).
pub const BASIC_CHALLENGE: &str = "Basic realm=\"OAuth2.0\"";

/// `invalid_client`: 401 with a Basic challenge when the client used HTTP Basic (RFC 6749 §5.2
/// MUST), else 400. Unlike Kong, an *unknown* client sent with Basic also gets the 401.
pub fn invalid_client(method: ClientAuthMethod) -> OAuthError {
    match method {
        ClientAuthMethod::Basic => OAuthError {
            www_authenticate: Some(BASIC_CHALLENGE.to_string()),
            ..token_error(401, "invalid_client", INVALID_CLIENT)
        },
        _ => token_error(400, "invalid_client", INVALID_CLIENT),
    }
}

/// HTTP Basic client credentials (RFC 6749 §2.3.1 and Appendix B: both parts are
/// form-url-decoded after base64; Kong skips that decoding). `Ok(None)` when the header is not
/// Basic; `Err` (401 `invalid_client`) when it is Basic but malformed.
fn basic_credentials(header: &[u8]) -> Result<Option<(String, String)>, OAuthError> {
    let bad = || invalid_client(ClientAuthMethod::Basic);
    let Some(scheme) = header.get(..5) else {
        return Ok(None);
    };
    let rest = &header[5..];
    // `Basic` followed by nothing or whitespace is Basic; `Basicx` is another scheme.
    if !scheme.eq_ignore_ascii_case(b"basic")
        || rest.first().is_some_and(|b| !b.is_ascii_whitespace())
    {
        return Ok(None);
    }
    let rest = std::str::from_utf8(rest).map_err(|_| bad())?;
    let decoded = STANDARD
        .decode(rest.trim())
        .or_else(|_| STANDARD_NO_PAD.decode(rest.trim()))
        .map_err(|_| bad())?;
    let colon = decoded.iter().position(|&b| b == b':').ok_or_else(bad)?;
    let id = form_decode(&decoded[..colon]).ok_or_else(bad)?;
    let secret = form_decode(&decoded[colon + 1..]).ok_or_else(bad)?;
    if id.is_empty() {
        return Err(bad());
    }
    Ok(Some((id, secret)))
}

/// The HTTPS rule (Kong `check_https`): TLS on this proxy, or, with
/// `accept_http_if_already_terminated`, exactly one `X-Forwarded-Proto: https` from a trusted
/// peer.
pub(crate) fn check_https(
    config: &OAuth2Config,
    req: &TokenRequestView<'_>,
) -> Result<(), OAuthError> {
    if req.https {
        return Ok(());
    }
    let denied = |d: &str| token_error(400, "access_denied", d);
    if !config.accept_http_if_already_terminated {
        return Err(denied("You must use HTTPS"));
    }
    match req.forwarded_proto {
        ForwardedProto::Https => Ok(()),
        ForwardedProto::Multiple => Err(denied("Only one X-Forwarded-Proto header allowed")),
        ForwardedProto::Absent => Err(denied("You must use HTTPS")),
    }
}

/// Checks everything that needs no credential, in this order:
/// 1. method is POST, else 405 `invalid_method` (+ `WWW-Authenticate: Bearer …`, as Kong);
/// 2. HTTPS (see `accept_http_if_already_terminated`), else 400 `access_denied`;
/// 3. the body is empty, form-encoded or a JSON object of strings, UTF-8, within
///    [`super::MAX_TOKEN_BODY_LEN`], else 400 `invalid_request`;
/// 4. no parameter is repeated across query and body (RFC 6749 §3.2), else `invalid_request`;
/// 5. no `client_secret` in the query string (RFC 6749 §2.3.1; Kong accepts it), else
///    `invalid_request`;
/// 6. HTTP Basic credentials are well-formed, else 401 `invalid_client` + Basic challenge;
/// 7. Basic is not combined with body credentials (RFC 6749 §2.3: one method), else
///    `invalid_request`;
/// 8. `grant_type` present (`invalid_request`) and enabled (`unsupported_grant_type`
///    "Invalid grant_type"; only `client_credentials` exists here);
/// 9. a client id was sent, else 400 `invalid_client`;
/// 10. every requested scope is allowed (`invalid_scope` "'wot' is an invalid scope": Kong
///     writes `"wot"`, but RFC 6749 §5.2 forbids `"` in `error_description`), and a
///     scope is present when `mandatory_scope` (`invalid_scope` "You must specify a scope").
pub fn parse_token_request(
    config: &OAuth2Config,
    req: &TokenRequestView<'_>,
) -> Result<TokenRequest, OAuthError> {
    let (mut params, client_id, client_secret, auth_method) = authenticated_params(config, req)?;

    let grant_type = match params.get("grant_type") {
        None => return Err(invalid_request("Missing grant_type parameter")),
        Some("client_credentials") if config.enable_client_credentials => {
            GrantType::ClientCredentials
        }
        Some("password") if config.enable_password_grant => GrantType::Password,
        Some("authorization_code") if config.enable_authorization_code => {
            GrantType::AuthorizationCode
        }
        Some("refresh_token") if issues_refresh_tokens(config) => GrantType::RefreshToken,
        Some(_) => {
            return Err(token_error(
                400,
                "unsupported_grant_type",
                "Invalid grant_type",
            ));
        }
    };
    let Some(client_id) = client_id else {
        return Err(invalid_client(auth_method));
    };

    // An authorization code carries the scope granted at the authorization endpoint, a
    // refresh token the scope of its first grant (Kong ignores a `scope` sent with it).
    let scope = match grant_type {
        GrantType::AuthorizationCode | GrantType::RefreshToken => None,
        _ => granted_scope(config, params.get("scope"))?,
    };
    Ok(TokenRequest {
        client_id,
        client_secret,
        auth_method,
        grant_type,
        scope,
        state: params.take("state"),
        authenticated_userid: params.take("authenticated_userid"),
        provision_key: params.take("provision_key"),
        code: params.take("code"),
        redirect_uri: params.take("redirect_uri"),
        code_verifier: params.take("code_verifier"),
        refresh_token: params.take("refresh_token"),
    })
}

/// Only `POST` reaches the token endpoint: 405 `invalid_method` otherwise, with the challenge.
pub(crate) fn check_method(
    config: &OAuth2Config,
    req: &TokenRequestView<'_>,
) -> Result<(), OAuthError> {
    if req.method != "POST" {
        let description = format!(
            "The HTTP method {} is invalid for the token endpoint",
            printable(req.method)
        );
        return Err(OAuthError {
            www_authenticate: Some(bearer_challenge(
                config.realm.as_deref(),
                Some(("invalid_method", &description)),
            )),
            ..token_error(405, "invalid_method", description)
        });
    }
    Ok(())
}

/// The request's parameters from the query string and the form or JSON body: bounded, no
/// `client_secret` in the query, empty values dropped, none repeated.
pub(crate) fn collect_params(req: &TokenRequestView<'_>) -> Result<Params, OAuthError> {
    let mut raw = Vec::new();
    let query = req.query.unwrap_or("");
    if query.len() > MAX_QUERY_LEN {
        return Err(invalid_request("The query string is too long"));
    }
    parse_form(query.as_bytes(), &mut raw)?;
    if raw
        .iter()
        .any(|(n, v)| n == "client_secret" && !v.is_empty())
    {
        return Err(invalid_request(
            "client_secret must not be sent in the query string",
        ));
    }
    if req.body.len() > MAX_TOKEN_BODY_LEN {
        return Err(invalid_request("The request body is too large"));
    }
    if !req.body.is_empty() {
        match media_type(req.content_type.unwrap_or("")).as_str() {
            "application/x-www-form-urlencoded" => parse_form(req.body, &mut raw)?,
            "application/json" => parse_json(req.body, &mut raw)?,
            _ => {
                return Err(invalid_request(
                    "Content-Type must be application/x-www-form-urlencoded or application/json",
                ));
            }
        }
    }
    raw.retain(|(_, v)| !v.is_empty());
    for (i, (name, _)) in raw.iter().enumerate() {
        if raw[..i].iter().any(|(n, _)| n == name) {
            return Err(invalid_request(format!(
                "Parameter {} is repeated",
                printable(name)
            )));
        }
    }
    Ok(Params(raw))
}

/// Steps 1 to 7 of [`parse_token_request`], which every endpoint a client authenticates at
/// shares: the request's parameters without the client's credentials, then the client id and
/// secret it sent and how.
pub(crate) fn authenticated_params(
    config: &OAuth2Config,
    req: &TokenRequestView<'_>,
) -> Result<(Params, Option<String>, Option<String>, ClientAuthMethod), OAuthError> {
    check_method(config, req)?;
    check_https(config, req)?;
    let mut params = collect_params(req)?;
    let (client_id, client_secret, auth_method) = client_authentication(req, &mut params)?;
    Ok((params, client_id, client_secret, auth_method))
}

/// Who the client says it is: HTTP Basic or body parameters (never both), and how.
pub(crate) fn client_authentication(
    req: &TokenRequestView<'_>,
    params: &mut Params,
) -> Result<(Option<String>, Option<String>, ClientAuthMethod), OAuthError> {
    let basic = match req.authorization {
        Some(header) => basic_credentials(header)?,
        None => None,
    };
    let body_id = params.take("client_id");
    let body_secret = params.take("client_secret");
    Ok(match (basic, body_id, body_secret) {
        (Some(_), _, Some(_)) => {
            return Err(invalid_request(
                "Only one client authentication method may be used",
            ));
        }
        (Some((id, _)), Some(body_id), None) if body_id != id => {
            return Err(invalid_request(
                "client_id does not match the Authorization header",
            ));
        }
        (Some((id, secret)), _, None) => (Some(id), Some(secret), ClientAuthMethod::Basic),
        (None, id, Some(secret)) => (id, Some(secret), ClientAuthMethod::Body),
        (None, id, None) => (id, None, ClientAuthMethod::ClientIdOnly),
    })
}

/// The scopes the client itself may be granted (OAuth2Credential `spec.scopes`), checked once
/// the client authenticated: another scope is `invalid_scope`, worded as the plugin's check.
pub fn check_credential_scope(
    request: &TokenRequest,
    credential: &Credential,
) -> Result<(), OAuthError> {
    let Some(allowed) = &credential.scopes else {
        return Ok(());
    };
    for scope in request.scope.as_deref().unwrap_or("").split(' ') {
        if !scope.is_empty() && !allowed.iter().any(|a| a == scope) {
            return Err(token_error(
                400,
                "invalid_scope",
                format!("'{}' is an invalid scope", printable(scope)),
            ));
        }
    }
    Ok(())
}

/// Kong `retrieve_scope`: space-separated, each in `config.scopes`, duplicates dropped.
pub(crate) fn granted_scope(
    config: &OAuth2Config,
    requested: Option<&str>,
) -> Result<Option<String>, OAuthError> {
    let mut granted: Vec<&str> = Vec::new();
    for scope in requested.unwrap_or("").split(' ').filter(|s| !s.is_empty()) {
        if !config.scopes.iter().any(|allowed| allowed == scope) {
            return Err(token_error(
                400,
                "invalid_scope",
                format!("'{}' is an invalid scope", printable(scope)),
            ));
        }
        if !granted.contains(&scope) {
            granted.push(scope);
        }
    }
    if granted.is_empty() {
        return if config.mandatory_scope {
            Err(token_error(
                400,
                "invalid_scope",
                "You must specify a scope",
            ))
        } else {
            Ok(None)
        };
    }
    let joined = granted.join(" ");
    if joined.len() > MAX_SCOPE_LEN {
        return Err(token_error(
            400,
            "invalid_scope",
            "The requested scope is too long",
        ));
    }
    Ok(Some(joined))
}

/// The verification the proxy must run before [`authorize_client`]: the credential's verifier
/// and the presented secret, when the credential is confidential and a secret was presented.
/// `None`: nothing to verify (pass `secret_ok = false`).
pub fn secret_check<'a>(
    req: &'a TokenRequest,
    entry: CredentialEntry<'a>,
) -> Option<(&'a Verifier, &'a [u8])> {
    if entry.credential.client_type != ClientType::Confidential {
        return None;
    }
    Some((entry.verifier()?.as_ref(), req.client_secret()?))
}

/// Decides client authentication once the proxy has looked up the credential by `client_id`
/// (`None`: unknown) and verified the presented secret (`secret_ok`), in this order:
/// 1. unknown client → `invalid_client` (401 + Basic challenge after Basic, else 400);
/// 2. public client with a secret → 400 `invalid_request` "client_secret is disallowed for
///    public clients";
/// 3. public client → 400 `unauthorized_client` for the client credentials grant (it needs a
///    confidential client, RFC 6749 §4.4); the password and authorization code grants take
///    public clients by their client id alone;
/// 4. confidential client without a secret, or a wrong secret → `invalid_client`.
pub fn authorize_client(
    req: &TokenRequest,
    credential: Option<&Credential>,
    secret_ok: bool,
) -> Result<(), OAuthError> {
    let Some(credential) = credential else {
        return Err(invalid_client(req.auth_method));
    };
    match credential.client_type {
        ClientType::Public if req.client_secret.is_some() => Err(invalid_request(
            "client_secret is disallowed for public clients",
        )),
        ClientType::Public
            if matches!(
                req.grant_type,
                GrantType::Password | GrantType::AuthorizationCode | GrantType::RefreshToken
            ) =>
        {
            Ok(())
        }
        ClientType::Public => Err(token_error(
            400,
            "unauthorized_client",
            "Public clients cannot use the client_credentials grant",
        )),
        ClientType::Confidential if req.client_secret.is_some() && secret_ok => Ok(()),
        ClientType::Confidential => Err(invalid_client(req.auth_method)),
    }
}

/// Kong's provision key rules, checked once the client is known (so a wrong key counts as a
/// failed attempt at the brute-force guard):
/// - the password grant needs the plugin's provision key (`invalid_provision_key` "Invalid
///   provision_key") and an `authenticated_userid` (`invalid_authenticated_userid` "Missing
///   authenticated_userid parameter");
/// - the client credentials grant needs the key only when it names an `authenticated_userid`;
/// - an `authenticated_userid` is at most [`crate::token::MAX_USERID_LEN`] bytes of printable
///   ASCII (it becomes the `X-Authenticated-Userid` header), else `invalid_authenticated_userid`.
///
/// The key is compared by its SHA-256, in constant time.
pub fn check_provision(config: &OAuth2Config, req: &TokenRequest) -> Result<(), OAuthError> {
    if matches!(
        req.grant_type,
        GrantType::AuthorizationCode | GrantType::RefreshToken
    ) {
        // The key was presented at the authorization endpoint or the first grant; the code or
        // refresh token carries the user.
        return Ok(());
    }
    let key_needed = req.grant_type == GrantType::Password || req.authenticated_userid.is_some();
    if key_needed && !provision_key_matches(config, req.provision_key.as_deref()) {
        return Err(token_error(
            400,
            "invalid_provision_key",
            "Invalid provision_key",
        ));
    }
    let invalid_userid = |d: &str| token_error(400, "invalid_authenticated_userid", d);
    match &req.authenticated_userid {
        None if req.grant_type == GrantType::Password => {
            Err(invalid_userid("Missing authenticated_userid parameter"))
        }
        Some(id)
            if id.len() > crate::token::MAX_USERID_LEN
                || !id.bytes().all(|b| (0x20..0x7f).contains(&b)) =>
        {
            Err(invalid_userid(
                "authenticated_userid must be at most 255 printable ASCII characters",
            ))
        }
        _ => Ok(()),
    }
}

pub(crate) fn provision_key_matches(config: &OAuth2Config, presented: Option<&str>) -> bool {
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    let (Some(want), Some(presented)) = (config.provision_key_sha256.as_deref(), presented) else {
        return false;
    };
    let got = crate::snapshot::hex(&Sha256::digest(presented.as_bytes()));
    got.as_bytes().ct_eq(want.as_bytes()).into()
}

/// Redeems an authorization code (`grant_type=authorization_code`) for the authenticated
/// client `credential` (UUID bytes `credential_id`, current secret epoch `epoch`) at `plugin`,
/// once `opened` is [`CodeClaims::open`] of the presented code. In this order:
/// 1. the client has redirect URIs, else `invalid_client` (Kong);
/// 2. the `redirect_uri` (default: the client's first) is one of them, else `invalid_request`
///    "Invalid redirect_uri that does not match with any redirect_uri created with the
///    application" (Kong);
/// 3. a code was sent, opens with the ring, was issued by this plugin to this client under its
///    current secret, has not expired, and was sent to this `redirect_uri`; else `invalid_grant`
///    "Invalid code" (RFC 6749 §5.2; Kong answers `invalid_request` for an unknown code);
/// 4. PKCE ([`super::code::check_verifier`]).
///
/// Single use is the caller's: record [`CodeClaims::id`] and refuse a code seen before.
#[allow(clippy::too_many_arguments)]
pub fn check_code(
    config: &OAuth2Config,
    plugin: &Plugin,
    req: &TokenRequest,
    credential: &Credential,
    credential_id: [u8; 16],
    epoch: u64,
    opened: Option<Result<CodeClaims, crate::token::TokenError>>,
    now: u64,
) -> Result<CodeClaims, OAuthError> {
    let Some(first) = credential.redirect_uris.first() else {
        return Err(invalid_client(req.auth_method));
    };
    let redirect_uri = req.redirect_uri.as_deref().unwrap_or(first);
    if !credential.redirect_uris.iter().any(|r| r == redirect_uri) {
        return Err(invalid_request(
            "Invalid redirect_uri that does not match with any redirect_uri created with the application",
        ));
    }
    let invalid_code = || token_error(400, "invalid_grant", "Invalid code");
    let Some(Ok(code)) = opened else {
        return Err(invalid_code());
    };
    let valid = code.plugin == plugin_binding(&plugin.id, &plugin.incarnation)
        && code.credential_id == credential_id
        && code.epoch == epoch
        && !code.is_expired(now)
        && code.redirect_uri_hash == redirect_uri_hash(redirect_uri);
    if !valid {
        return Err(invalid_code());
    }
    check_verifier(
        config,
        credential.client_type,
        &code,
        req.code_verifier.as_deref(),
    )?;
    Ok(code)
}

/// Whether a plugin issues refresh tokens ([`super::refresh`]): Kong issues them with the access
/// tokens of the password and authorization code grants, never when access tokens do not expire.
pub fn issues_refresh_tokens(config: &OAuth2Config) -> bool {
    config.token_expiration != 0
        && (config.enable_password_grant || config.enable_authorization_code)
}

/// The claims of a token issued by `plugin` to a credential at `now` (unix seconds): global to
/// the plugin's namespace or bound to the plugin, expiring after `token_expiration` (0: never).
pub fn claims_for(
    plugin: &Plugin,
    config: &OAuth2Config,
    credential_id: [u8; 16],
    epoch: u64,
    scope: Option<&str>,
    authenticated_userid: Option<&str>,
    now: u64,
) -> Claims {
    Claims {
        credential_id,
        epoch,
        issued_at: now,
        expires_at: if config.token_expiration == 0 {
            0
        } else {
            now.saturating_add(config.token_expiration)
        },
        binding: if config.global_credentials {
            Binding::Global(namespace_binding(plugin.namespace()))
        } else {
            Binding::Plugin(plugin_binding(&plugin.id, &plugin.incarnation))
        },
        scope: scope.unwrap_or("").to_string(),
        authenticated_userid: authenticated_userid.unwrap_or("").to_string(),
    }
}

/// The 200 response: `{"access_token", "token_type": "bearer", "expires_in"?, "refresh_token"?,
/// "scope"?, "state"?}`. `expires_in` is omitted when `token_expiration` is 0; `scope` is
/// returned when one was granted (RFC 6749 §5.1; Kong never returns it); `refresh_token` only
/// for the grants that issue one (never client credentials: RFC 6749 §4.4.3).
pub fn token_response(
    config: &OAuth2Config,
    access_token: &str,
    refresh_token: Option<&str>,
    granted_scope: Option<&str>,
    state: Option<&str>,
) -> TokenResponse {
    let mut body = serde_json::Map::new();
    body.insert("access_token".into(), access_token.into());
    body.insert("token_type".into(), "bearer".into());
    if let Some(refresh_token) = refresh_token {
        body.insert("refresh_token".into(), refresh_token.into());
    }
    if config.token_expiration != 0 {
        body.insert("expires_in".into(), config.token_expiration.into());
    }
    if let Some(scope) = granted_scope.filter(|s| !s.is_empty()) {
        body.insert("scope".into(), scope.into());
    }
    if let Some(state) = state {
        body.insert("state".into(), state.into());
    }
    TokenResponse {
        status: 200,
        body: serde_json::to_vec(&body).unwrap_or_default(),
    }
}

#[cfg(test)]
#[path = "token_endpoint_tests.rs"]
mod tests;
