//! Turning an opened token into an [`Identity`], or an RFC 6750 error.

use std::collections::HashMap;

use http::HeaderValue;

use super::{OAuthError, bearer_challenge};
use crate::ids::uuid_bytes;
use crate::secret::{Verifier, token_epoch};
use crate::snapshot::{Consumer, Credential, Plugin, PluginConfig, Snapshot};
use crate::token::{Binding, Claims, TokenError, plugin_binding};

/// A credential with what the hot path needs precomputed.
#[derive(Debug, Clone)]
pub struct CredentialEntry {
    pub credential: Credential,
    /// `client_id` as an `X-Credential-Identifier` value (`None` if not a valid header value).
    pub(crate) client_id_value: Option<HeaderValue>,
    /// [`crate::secret::token_epoch`] of its verifier.
    pub epoch: u64,
    /// The parsed verifier; `None` for public clients (or an unparsable verifier, which
    /// validation refuses).
    pub verifier: Option<Verifier>,
}

/// A consumer with its identity header values built once per snapshot, so applying an identity
/// to a request copies reference-counted values instead of allocating.
#[derive(Debug, Clone)]
pub(crate) struct ConsumerEntry {
    pub(crate) consumer: Consumer,
    /// `X-Consumer-Id`, `X-Consumer-Username`, `X-Consumer-Custom-Id` values.
    pub(crate) values: [Option<HeaderValue>; 3],
}

fn header_value(value: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(value).ok()
}

/// Lookups over a snapshot, built once per snapshot.
#[derive(Debug, Clone, Default)]
pub struct SnapshotIndex {
    consumers: HashMap<String, ConsumerEntry>,
    credentials: HashMap<[u8; 16], CredentialEntry>,
    by_client_id: HashMap<String, [u8; 16]>,
    plugins: HashMap<String, Plugin>,
}

impl SnapshotIndex {
    /// Indexes a snapshot (meant for a validated one: credentials whose id is not a UUID are
    /// left out, since no token can name them).
    pub fn new(snapshot: &Snapshot) -> Self {
        let mut index = SnapshotIndex::default();
        for consumer in &snapshot.consumers {
            let values = [
                header_value(&consumer.id),
                header_value(&consumer.username),
                consumer.custom_id.as_deref().and_then(header_value),
            ];
            index.consumers.insert(
                consumer.id.clone(),
                ConsumerEntry {
                    consumer: consumer.clone(),
                    values,
                },
            );
        }
        for credential in &snapshot.credentials {
            let Some(id) = uuid_bytes(&credential.id) else {
                continue;
            };
            let verifier = credential.secret_verifier.as_deref();
            index.by_client_id.insert(credential.client_id.clone(), id);
            index.credentials.insert(
                id,
                CredentialEntry {
                    epoch: token_epoch(verifier),
                    verifier: verifier.and_then(|v| Verifier::parse(v).ok()),
                    client_id_value: header_value(&credential.client_id),
                    credential: credential.clone(),
                },
            );
        }
        for plugin in &snapshot.plugins {
            index.plugins.insert(plugin.id.clone(), plugin.clone());
        }
        index
    }
    pub fn consumer(&self, id: &str) -> Option<&Consumer> {
        self.consumers.get(id).map(|e| &e.consumer)
    }
    pub fn credential(&self, id: &[u8; 16]) -> Option<&CredentialEntry> {
        self.credentials.get(id)
    }
    pub fn credential_by_client_id(&self, client_id: &str) -> Option<&CredentialEntry> {
        self.by_client_id
            .get(client_id)
            .and_then(|id| self.credentials.get(id))
    }
    pub fn plugin(&self, id: &str) -> Option<&Plugin> {
        self.plugins.get(id)
    }
}

/// Who a request is, for the identity headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity<'a> {
    pub consumer: &'a Consumer,
    /// `None` for the anonymous consumer.
    pub credential: Option<&'a Credential>,
    /// Granted scopes, space-separated; `None` when none.
    pub scope: Option<String>,
    /// The plugin's `anonymous` consumer stood in after a failure.
    pub anonymous: bool,
    /// Header values precomputed by the index (`None`: computed on use).
    pub(crate) consumer_values: Option<&'a [Option<HeaderValue>; 3]>,
    pub(crate) client_id_value: Option<&'a HeaderValue>,
}

impl<'a> Identity<'a> {
    /// An identity built outside [`authenticate`] (header values are computed on use).
    pub fn new(
        consumer: &'a Consumer,
        credential: Option<&'a Credential>,
        scope: Option<String>,
        anonymous: bool,
    ) -> Self {
        Identity {
            consumer,
            credential,
            scope,
            anonymous,
            consumer_values: None,
            client_id_value: None,
        }
    }
}

/// "The access token is missing" (401 `invalid_request`, `WWW-Authenticate: Bearer` with only
/// the realm: RFC 6750 §3 says no error code when the request had no credentials).
pub const TOKEN_MISSING: &str = "The access token is missing";
/// "The access token is invalid or has expired" (401 `invalid_token`).
pub const TOKEN_INVALID: &str = "The access token is invalid or has expired";
/// Kong's text for a global token at an `oauth2` plugin without `global_credentials`.
pub const TOKEN_GLOBAL: &str =
    "The access token is global, but the current plugin is configured without 'global_credentials'";

fn unauthorized(realm: Option<&str>, error: &'static str, description: &str) -> OAuthError {
    let challenge = if error == "invalid_request" {
        bearer_challenge(realm, None)
    } else {
        bearer_challenge(realm, Some((error, description)))
    };
    OAuthError {
        status: 401,
        error,
        description: description.to_string(),
        www_authenticate: Some(challenge),
        token_endpoint: false,
    }
}

/// Decides a request at a verifying plugin. `opened` is `None` when no token was found, else the
/// result of [`crate::token::KeyRing::open`]; `now` is unix seconds.
///
/// - no token → 401 `invalid_request` [`TOKEN_MISSING`];
/// - a token that does not open, has expired, names an unknown credential (deleted), carries an
///   old secret epoch (rotated), whose consumer is gone, or is bound to another plugin → 401
///   `invalid_token` [`TOKEN_INVALID`];
/// - a global token at an `oauth2` plugin without `global_credentials` → 401 `invalid_token`
///   [`TOKEN_GLOBAL`] (Kong's text); an `openid-connect` plugin accepts global tokens only;
/// - with `anonymous` set, every failure becomes the anonymous consumer's identity instead
///   (500 when that consumer does not exist, as Kong; validation prevents it).
pub fn authenticate<'i>(
    plugin: &Plugin,
    opened: Option<Result<Claims, TokenError>>,
    index: &'i SnapshotIndex,
    now: u64,
) -> Result<Identity<'i>, OAuthError> {
    let (realm, anonymous) = match &plugin.config {
        PluginConfig::OAuth2(c) => (c.realm.as_deref(), c.anonymous.as_deref()),
        PluginConfig::OpenIdConnect(c) => (c.realm.as_deref(), c.anonymous.as_deref()),
    };
    let result = match opened {
        None => Err(unauthorized(realm, "invalid_request", TOKEN_MISSING)),
        Some(Err(_)) => Err(unauthorized(realm, "invalid_token", TOKEN_INVALID)),
        Some(Ok(claims)) => check_claims(plugin, claims, index, now)
            .map_err(|description| unauthorized(realm, "invalid_token", description)),
    };
    match (result, anonymous) {
        (Ok(identity), _) => Ok(identity),
        (Err(e), None) => Err(e),
        (Err(_), Some(anonymous)) => match index.consumers.get(anonymous) {
            Some(entry) => Ok(Identity {
                consumer_values: Some(&entry.values),
                ..Identity::new(&entry.consumer, None, None, true)
            }),
            None => Err(OAuthError {
                status: 500,
                error: "server_error",
                description: format!(
                    "anonymous consumer {anonymous} is configured but doesn't exist"
                ),
                www_authenticate: None,
                token_endpoint: false,
            }),
        },
    }
}

fn check_claims<'i>(
    plugin: &Plugin,
    claims: Claims,
    index: &'i SnapshotIndex,
    now: u64,
) -> Result<Identity<'i>, &'static str> {
    if claims.is_expired(now) {
        return Err(TOKEN_INVALID);
    }
    let accepted = match (&plugin.config, claims.binding) {
        (_, Binding::Plugin(bound)) => bound == plugin_binding(&plugin.id),
        (PluginConfig::OAuth2(c), Binding::Global) if !c.global_credentials => {
            return Err(TOKEN_GLOBAL);
        }
        (_, Binding::Global) => true,
    };
    // An openid-connect plugin never issues, so no token is bound to it: only global ones pass.
    if !accepted {
        return Err(TOKEN_INVALID);
    }
    let entry = index
        .credential(&claims.credential_id)
        .ok_or(TOKEN_INVALID)?;
    if entry.epoch != claims.epoch {
        return Err(TOKEN_INVALID);
    }
    let consumer = index
        .consumers
        .get(&entry.credential.consumer_id)
        .ok_or(TOKEN_INVALID)?;
    Ok(Identity {
        consumer_values: Some(&consumer.values),
        client_id_value: entry.client_id_value.as_ref(),
        ..Identity::new(
            &consumer.consumer,
            Some(&entry.credential),
            (!claims.scope.is_empty()).then_some(claims.scope),
            false,
        )
    })
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
