//! What the introspection (RFC 7662) and revocation (RFC 7009) endpoints share: a client
//! authenticates as at the token endpoint and presents one token. The endpoints differ only in
//! whether a public client may ask ([`PublicClients`]) and in what they answer
//! ([`super::introspect_endpoint`], [`super::revoke_endpoint`]).

use super::token_endpoint::{
    ClientAuthMethod, TokenRequestView, authenticated_params, invalid_client,
};
use super::{OAuthError, invalid_request, token_error};
use crate::snapshot::{ClientType, Credential, OAuth2Config};

/// A syntactically valid request presenting a token. `Debug` prints neither the secret nor the
/// token.
#[derive(Clone, PartialEq, Eq)]
pub struct PresentedToken {
    pub client_id: String,
    client_secret: Option<String>,
    pub auth_method: ClientAuthMethod,
    token: String,
    /// `token_type_hint` as sent (`access_token`, `refresh_token`, or anything: RFC 7009 §2.1
    /// and RFC 7662 §2.1 let the server search every type whatever the hint says, and this one
    /// does).
    pub hint: Option<String>,
}

impl std::fmt::Debug for PresentedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresentedToken")
            .field("client_id", &self.client_id)
            .field("auth_method", &self.auth_method)
            .field("hint", &self.hint)
            .finish_non_exhaustive()
    }
}

impl PresentedToken {
    /// The presented client secret, to verify against the credential's verifier.
    pub fn client_secret(&self) -> Option<&[u8]> {
        self.client_secret.as_deref().map(str::as_bytes)
    }

    /// The token presented.
    pub fn token(&self) -> &str {
        &self.token
    }
}

/// Checks everything that needs no credential, as the token endpoint does (405 for another
/// method than `POST`, HTTPS, a bounded form or JSON body, no secret in the query, one client
/// authentication method), then: a `token` parameter (400 `invalid_request` "Missing token
/// parameter") and a client id (400 `invalid_client`, or 401 with a Basic challenge).
pub fn parse_presented_token(
    config: &OAuth2Config,
    req: &TokenRequestView<'_>,
) -> Result<PresentedToken, OAuthError> {
    let (mut params, client_id, client_secret, auth_method) = authenticated_params(config, req)?;
    let Some(token) = params.take("token") else {
        return Err(invalid_request("Missing token parameter"));
    };
    let hint = params.take("token_type_hint");
    let Some(client_id) = client_id else {
        return Err(invalid_client(auth_method));
    };
    Ok(PresentedToken {
        client_id,
        client_secret,
        auth_method,
        token,
        hint,
    })
}

/// Whether a public client (which has no secret) may present a token at an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PublicClients {
    /// Known by its client id alone (revocation: it can only present tokens it holds).
    Accepted,
    /// Refused with 400 `unauthorized_client` and this description (introspection).
    Refused(&'static str),
}

/// A confidential client must present its secret, and it must match (`secret_ok`); a public
/// client as `public` says. No credential, or a confidential client without the right secret →
/// `invalid_client` (401 with a Basic challenge after Basic, else 400, as at the token
/// endpoint).
pub fn authorize_presenting_client(
    req: &PresentedToken,
    credential: Option<&Credential>,
    secret_ok: bool,
    public: PublicClients,
) -> Result<(), OAuthError> {
    let Some(credential) = credential else {
        return Err(invalid_client(req.auth_method));
    };
    match (credential.client_type, public) {
        (ClientType::Public, PublicClients::Accepted) => Ok(()),
        (ClientType::Public, PublicClients::Refused(description)) => {
            Err(token_error(400, "unauthorized_client", description))
        }
        (ClientType::Confidential, _) if req.client_secret.is_some() && secret_ok => Ok(()),
        (ClientType::Confidential, _) => Err(invalid_client(req.auth_method)),
    }
}

#[cfg(test)]
#[path = "presented_token_tests.rs"]
mod tests;
