//! Turning an opened token into an [`Identity`], or an RFC 6750 error.

use std::collections::HashMap;
use std::sync::Arc;

use http::HeaderValue;

use super::{OAuthError, bearer_challenge};
use crate::ids::uuid_bytes;
use crate::jwt::{JwtClaims, JwtError, JwtKeys, JwtPolicy};
use crate::secret::Verifier;
use crate::snapshot::{
    AuthMethod, BearerConfig, Consumer, ConsumerBy, Credential, Plugin, PluginConfig, Snapshot,
    namespace_of,
};
use crate::token::{Binding, Claims, TokenError, namespace_binding, plugin_binding};

/// What the hot path needs of a credential, precomputed. Kept in a list beside the snapshot's
/// credentials (same positions), so that the snapshot's list is taken over as it is: building
/// a list of credentials with these fields in it held both lists at once, about 30 MiB at
/// 100,000 credentials.
#[derive(Debug, Clone)]
struct Precomputed {
    /// `client_id` as an `X-Credential-Identifier` value (`None` if not a valid header value).
    client_id_value: Option<HeaderValue>,
    /// [`Credential::epoch`]: what its tokens must carry.
    epoch: u64,
    /// Its previous secrets: until when each is accepted, its verifier text and parsed form.
    previous: Vec<(u64, String, Arc<Verifier>)>,
    /// The parsed verifier, shareable with a verification thread; `None` for public clients (or
    /// an unparsable verifier, which validation refuses).
    verifier: Option<Arc<Verifier>>,
    /// Position of its consumer in [`SnapshotIndex`]'s consumers (`None`: no such consumer).
    consumer: Option<u32>,
}

/// A credential of a [`SnapshotIndex`] with what the hot path needs precomputed.
#[derive(Debug, Clone, Copy)]
pub struct CredentialEntry<'a> {
    pub credential: &'a Credential,
    pre: &'a Precomputed,
}

impl<'a> CredentialEntry<'a> {
    /// [`Credential::epoch`]: what its tokens must carry.
    pub fn epoch(&self) -> u64 {
        self.pre.epoch
    }
    /// Its previous secrets: until when each is accepted, its verifier text and parsed form.
    pub fn previous(&self) -> &'a [(u64, String, Arc<Verifier>)] {
        &self.pre.previous
    }
    /// The parsed verifier; `None` for public clients.
    pub fn verifier(&self) -> Option<&'a Arc<Verifier>> {
        self.pre.verifier.as_ref()
    }
    pub(crate) fn client_id_value(&self) -> Option<&'a HeaderValue> {
        self.pre.client_id_value.as_ref()
    }
}

/// A consumer with its identity header values, built once per snapshot, so applying an
/// identity to a request copies reference-counted values instead of allocating.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConsumerEntry<'a> {
    pub(crate) consumer: &'a Consumer,
    /// `X-Consumer-Id`, `X-Consumer-Username`, `X-Consumer-Custom-Id` values.
    pub(crate) values: &'a [Option<HeaderValue>; 3],
}

fn header_value(value: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(value).ok()
}

/// Sorts `items` (stably) by `order` and keeps, of equal ones, the one that came last (as
/// inserting them one by one into a map would).
fn sort_keep_last<T>(items: &mut Vec<T>, order: impl Fn(&T, &T) -> std::cmp::Ordering) {
    items.sort_by(&order);
    items.dedup_by(|later, kept| {
        let same = order(later, kept).is_eq();
        if same {
            std::mem::swap(later, kept);
        }
        same
    });
}

/// What a consumer is found by besides its id: its username or custom id.
type ConsumerKey = fn(&Consumer) -> Option<&str>;

/// The positions of the `consumers` that have a `key`, sorted by (namespace, key); of equal
/// ones the first (by id) is kept.
fn positions_by(consumers: &[Consumer], key: ConsumerKey) -> Vec<u32> {
    // The keys are gathered once: looking them up in each comparison cost more than the sort.
    let mut keyed: Vec<((&str, &str), u32)> = (0u32..)
        .zip(consumers)
        .filter_map(|(i, c)| Some(((namespace_of(&c.object), key(c)?), i)))
        .collect();
    // Stable: equal keys stay in id order, and `dedup_by` keeps the first of them.
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    keyed.dedup_by(|later, kept| later.0 == kept.0);
    keyed.into_iter().map(|(_, i)| i).collect()
}

/// Lookups over a snapshot, built once per snapshot. Holds each consumer and credential once
/// (no string is stored twice as a map key): consumers sorted by id, credentials in a list
/// reached by UUID through a map of positions and by `client_id` through a list of positions
/// sorted by (`client_id`, namespace); a credential knows its consumer's position, so the hot
/// path does no string lookup. The snapshot's lists are kept as they came, with what the hot
/// path needs of each item in a list beside them at the same positions.
#[derive(Debug, Clone, Default)]
pub struct SnapshotIndex {
    /// Sorted by `id`, ids unique.
    consumers: Vec<Consumer>,
    /// The identity header values of `consumers[i]` at `consumer_values[i]`.
    consumer_values: Vec<[Option<HeaderValue>; 3]>,
    credentials: Vec<Credential>,
    /// What the hot path needs of `credentials[i]` at `precomputed[i]`.
    precomputed: Vec<Precomputed>,
    /// Position in `credentials` by credential UUID bytes.
    by_id: HashMap<[u8; 16], u32>,
    /// Positions in `credentials`, sorted by (`client_id`, namespace), unique within a namespace.
    by_client_id: Vec<u32>,
    plugins: HashMap<String, Plugin>,
    /// The usable keys of each plugin with a `bearer` issuer, by plugin id.
    bearer_keys: HashMap<String, JwtKeys>,
    /// Consumer positions sorted by (namespace, username) and by (namespace, custom id), for
    /// mapping external tokens to Consumers; of equal keys only the first consumer (by id) is
    /// kept. Positions rather than a map of copied strings: 4 bytes a consumer.
    by_username: Vec<u32>,
    by_custom_id: Vec<u32>,
}

impl SnapshotIndex {
    /// Indexes a snapshot (meant for a validated one: credentials whose id is not a UUID are
    /// left out, since no token can name them).
    pub fn new(snapshot: &Snapshot) -> Self {
        Self::from_parts(
            snapshot.consumers.clone(),
            snapshot.credentials.clone(),
            snapshot.plugins.clone(),
        )
    }

    /// [`Self::new`] over a snapshot's lists, taken over rather than copied.
    pub fn from_parts(
        consumers: Vec<Consumer>,
        credentials: Vec<Credential>,
        plugins: Vec<Plugin>,
    ) -> Self {
        let mut consumers = consumers;
        sort_keep_last(&mut consumers, |a, b| a.id.cmp(&b.id));
        consumers.shrink_to_fit();
        let consumer_values: Vec<[Option<HeaderValue>; 3]> = consumers
            .iter()
            .map(|consumer| {
                [
                    header_value(&consumer.id),
                    header_value(&consumer.username),
                    consumer.custom_id.as_deref().and_then(header_value),
                ]
            })
            .collect();

        // A credential whose id is not a UUID cannot be named by a token: left out (in place).
        let mut credentials = credentials;
        credentials.retain(|c| uuid_bytes(&c.id).is_some());
        credentials.truncate(u32::MAX as usize);
        credentials.shrink_to_fit();
        let mut by_id = HashMap::with_capacity(credentials.len());
        let precomputed: Vec<Precomputed> = {
            // Positions by consumer id, for this build only (cheaper than a binary search each).
            let consumer_at: HashMap<&str, u32> = (0u32..)
                .zip(&consumers)
                .map(|(i, c)| (c.id.as_str(), i))
                .collect();
            (0u32..)
                .zip(&credentials)
                .map(|(position, credential)| {
                    if let Some(id) = uuid_bytes(&credential.id) {
                        by_id.insert(id, position);
                    }
                    let verifier = credential.secret_verifier.as_deref();
                    Precomputed {
                        epoch: credential.epoch(),
                        verifier: verifier.and_then(|v| Verifier::parse(v).ok().map(Arc::new)),
                        previous: credential
                            .previous_secrets
                            .iter()
                            .filter_map(|p| {
                                let parsed = Verifier::parse(&p.verifier).ok()?;
                                Some((p.valid_until, p.verifier.clone(), Arc::new(parsed)))
                            })
                            .collect(),
                        client_id_value: header_value(&credential.client_id),
                        consumer: consumer_at.get(credential.consumer_id.as_str()).copied(),
                    }
                })
                .collect()
        };
        let mut by_client_id: Vec<(&str, &str, u32)> = (0u32..)
            .zip(&credentials)
            .map(|(i, c)| (c.client_id.as_str(), c.namespace(), i))
            .collect();
        sort_keep_last(&mut by_client_id, |a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        let by_client_id = by_client_id.into_iter().map(|(_, _, i)| i).collect();

        let bearer_keys = plugins
            .iter()
            .filter_map(|p| match &p.config {
                PluginConfig::OpenIdConnect(c) => {
                    let bearer = c.bearer.as_deref()?;
                    Some((p.id.clone(), JwtKeys::new(&bearer.jwks)))
                }
                PluginConfig::OAuth2(_) | PluginConfig::RateLimiting(_) => None,
            })
            .collect();
        let by_username = positions_by(&consumers, |c| Some(c.username.as_str()));
        let by_custom_id = positions_by(&consumers, |c| c.custom_id.as_deref());
        SnapshotIndex {
            consumers,
            consumer_values,
            credentials,
            precomputed,
            by_id,
            by_client_id,
            plugins: plugins.into_iter().map(|p| (p.id.clone(), p)).collect(),
            bearer_keys,
            by_username,
            by_custom_id,
        }
    }

    fn consumer_at(&self, position: u32) -> Option<ConsumerEntry<'_>> {
        let position = position as usize;
        Some(ConsumerEntry {
            consumer: self.consumers.get(position)?,
            values: self.consumer_values.get(position)?,
        })
    }
    fn consumer_entry(&self, id: &str) -> Option<ConsumerEntry<'_>> {
        let position = self
            .consumers
            .binary_search_by(|c| c.id.as_str().cmp(id))
            .ok()?;
        self.consumer_at(u32::try_from(position).ok()?)
    }
    pub fn consumer(&self, id: &str) -> Option<&Consumer> {
        self.consumer_entry(id).map(|e| e.consumer)
    }
    fn credential_at(&self, position: u32) -> Option<CredentialEntry<'_>> {
        let position = position as usize;
        Some(CredentialEntry {
            credential: self.credentials.get(position)?,
            pre: self.precomputed.get(position)?,
        })
    }
    pub fn credential(&self, id: &[u8; 16]) -> Option<CredentialEntry<'_>> {
        self.by_id.get(id).and_then(|&i| self.credential_at(i))
    }
    /// Every credential with this `client_id` (one per namespace at most).
    fn credentials_by_client_id<'s, 'c>(
        &'s self,
        client_id: &'c str,
    ) -> impl Iterator<Item = CredentialEntry<'s>> + use<'s, 'c> {
        let credentials = &self.credentials;
        let key = move |i: &u32| {
            credentials
                .get(*i as usize)
                .map_or("", |c| c.client_id.as_str())
        };
        let start = self.by_client_id.partition_point(|i| key(i) < client_id);
        self.by_client_id[start..]
            .iter()
            .take_while(move |i| key(i) == client_id)
            .filter_map(move |&i| self.credential_at(i))
    }

    /// The credential `client_id` names at `plugin`: the one of the plugin's namespace, else the
    /// only one of the other namespaces the plugin accepts. `None` when there is none, or when
    /// two accepted namespaces other than the plugin's own hold the client id (ambiguous: the
    /// request is refused rather than given to either).
    pub fn credential_for_plugin(
        &self,
        client_id: &str,
        plugin: &Plugin,
    ) -> Option<CredentialEntry<'_>> {
        let own = plugin.namespace();
        let mut other = None;
        for entry in self.credentials_by_client_id(client_id) {
            let namespace = entry.credential.namespace();
            if namespace == own {
                return Some(entry);
            }
            if plugin.accept_namespaces.accepts(own, namespace) {
                if other.is_some() {
                    return None;
                }
                other = Some(entry);
            }
        }
        other
    }

    /// The credential with this `client_id` in `namespace`.
    pub fn credential_by_client_id(
        &self,
        namespace: &str,
        client_id: &str,
    ) -> Option<CredentialEntry<'_>> {
        self.credentials_by_client_id(client_id)
            .find(|e| e.credential.namespace() == namespace)
    }
    pub fn plugin(&self, id: &str) -> Option<&Plugin> {
        self.plugins.get(id)
    }

    /// The usable keys of a plugin's `bearer` issuer.
    pub fn bearer_keys(&self, plugin_id: &str) -> Option<&JwtKeys> {
        self.bearer_keys.get(plugin_id)
    }

    /// The Consumer of `namespace` that `value` names by `by`.
    fn consumer_named(
        &self,
        namespace: &str,
        by: ConsumerBy,
        value: &str,
    ) -> Option<ConsumerEntry<'_>> {
        let (positions, key): (&[u32], ConsumerKey) = match by {
            ConsumerBy::Id => {
                return self
                    .consumer_entry(value)
                    .filter(|e| namespace_of(&e.consumer.object) == namespace);
            }
            ConsumerBy::Username => (&self.by_username, |c| Some(c.username.as_str())),
            ConsumerBy::CustomId => (&self.by_custom_id, |c| c.custom_id.as_deref()),
        };
        let key_at = |i: &u32| {
            self.consumers
                .get(*i as usize)
                .and_then(|c| Some((namespace_of(&c.object), key(c)?)))
        };
        let wanted = Some((namespace, value));
        let at = positions.partition_point(|i| key_at(i) < wanted);
        positions
            .get(at)
            .filter(|i| key_at(i) == wanted)
            .and_then(|&i| self.consumer_at(i))
    }
}

/// Who a request is, for the identity headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity<'a> {
    /// `None` for an external token that names no Consumer (`consumerOptional`).
    pub consumer: Option<&'a Consumer>,
    /// `None` for the anonymous consumer and for external tokens.
    pub credential: Option<&'a Credential>,
    /// The end user: an external token's `sub`, or the `authenticated_userid` of one of the
    /// gateway's tokens (`X-Authenticated-Userid`).
    pub subject: Option<String>,
    /// An external token's `client_id` (or `azp`) claim (`X-Credential-Identifier`).
    pub token_client_id: Option<String>,
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
            consumer: Some(consumer),
            credential,
            subject: None,
            token_client_id: None,
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
    let realm = realm_of(plugin);
    let result = match opened {
        None => Err(unauthorized(realm, "invalid_request", TOKEN_MISSING)),
        Some(Err(_)) => Err(unauthorized(realm, "invalid_token", TOKEN_INVALID)),
        Some(Ok(claims)) => check_claims(plugin, claims, index, now)
            .map_err(|description| unauthorized(realm, "invalid_token", description)),
    };
    check_acl(plugin, finish(plugin, result, index)?)
}

fn realm_of(plugin: &Plugin) -> Option<&str> {
    match &plugin.config {
        PluginConfig::OAuth2(c) => c.realm.as_deref(),
        PluginConfig::OpenIdConnect(c) => c.realm.as_deref(),
        PluginConfig::RateLimiting(_) => None,
    }
}

/// What opens a presented token for each auth method; the proxy passes its caches.
pub struct Openers<'f> {
    /// [`crate::token::KeyRing::open`] of a token issued by an oauth2 plugin.
    pub kong: &'f mut dyn FnMut(&str) -> Result<Claims, TokenError>,
    /// [`crate::jwt::verify`] of an external JWT.
    pub jwt: &'f mut dyn FnMut(&str, &JwtKeys, &JwtPolicy<'_>) -> Result<JwtClaims, JwtError>,
    /// What the provider's introspection said of the token (the proxy asks before deciding):
    /// `Some(claims)` for an active token, `None` for an inactive or unknown one, or when the
    /// provider could not be asked (fail closed).
    pub introspected: &'f mut dyn FnMut(&str) -> Option<JwtClaims>,
}

/// Decides a request at a verifying plugin, trying its auth methods in order (Kong's
/// `auth_methods`; an oauth2 plugin has only `kong_oauth2`): `token` is the presented token,
/// `None` when there is none.
///
/// - `kong_oauth2`: as [`authenticate`];
/// - `bearer`: a JWT of the plugin's issuer, verified with its keys, mapped to a Consumer of the
///   plugin's namespace through `consumer_claim` × `consumer_by` (a token naming no Consumer is
///   refused unless `consumer_optional`);
/// - a token no method accepts → 401 `invalid_token` [`TOKEN_INVALID`], or the anonymous
///   consumer when one is set;
/// - an accepted token without every scope of `scopes_required` → 403 `insufficient_scope`
///   (RFC 6750 §3.1), never the anonymous consumer.
pub fn authenticate_presented<'i>(
    plugin: &Plugin,
    token: Option<&str>,
    index: &'i SnapshotIndex,
    now: u64,
    openers: Openers<'_>,
) -> Result<Identity<'i>, OAuthError> {
    let realm = realm_of(plugin);
    let result = match token {
        None => Err(unauthorized(realm, "invalid_request", TOKEN_MISSING)),
        Some(token) => try_methods(plugin, token, index, now, openers)
            .map_err(|description| unauthorized(realm, "invalid_token", description)),
    };
    let identity = finish(plugin, result, index)?;
    let identity = check_scopes(plugin, identity)?;
    check_acl(plugin, identity)
}

/// Kong's `acl` plugin: the message of its refusal.
pub const ACL_REFUSED: &str = "You cannot consume this service";

/// A plugin's `acl`: the consumer's groups must pass it (no consumer: refused).
fn check_acl<'i>(plugin: &Plugin, identity: Identity<'i>) -> Result<Identity<'i>, OAuthError> {
    let Some(acl) = &plugin.acl else {
        return Ok(identity);
    };
    if identity.consumer.is_some_and(|c| acl.admits(&c.groups)) {
        return Ok(identity);
    }
    Err(OAuthError {
        status: 403,
        error: "",
        description: ACL_REFUSED.to_owned(),
        www_authenticate: None,
        token_endpoint: false,
    })
}

fn try_methods<'i>(
    plugin: &Plugin,
    token: &str,
    index: &'i SnapshotIndex,
    now: u64,
    openers: Openers<'_>,
) -> Result<Identity<'i>, &'static str> {
    const ONLY_KONG: &[AuthMethod] = &[AuthMethod::KongOauth2];
    let (methods, bearer, introspection) = match &plugin.config {
        PluginConfig::OAuth2(_) => (ONLY_KONG, None, None),
        // Not an authentication plugin: no method, so every token is refused.
        PluginConfig::RateLimiting(_) => (&[][..], None, None),
        PluginConfig::OpenIdConnect(c) => (
            c.auth_methods.as_slice(),
            c.bearer.as_deref(),
            c.introspection.as_deref(),
        ),
    };
    // A JWT has two dots; the gateway's opaque tokens have none. The bearer method skips
    // opaque tokens; kong_oauth2 opens both (the gateway's own JWTs, `tokenFormat: jwt`), and
    // refuses an external JWT at once by its unknown key id.
    let is_jwt = token.bytes().filter(|b| *b == b'.').count() == 2;
    let mut refused = TOKEN_INVALID;
    for method in methods {
        let outcome = match (method, bearer) {
            (AuthMethod::KongOauth2, _) => match (openers.kong)(token) {
                Ok(claims) => check_claims(plugin, claims, index, now),
                Err(_) => Err(TOKEN_INVALID),
            },
            (AuthMethod::Bearer, Some(bearer)) if is_jwt => {
                let Some(keys) = index.bearer_keys(&plugin.id) else {
                    continue;
                };
                let policy = JwtPolicy {
                    issuer: &bearer.issuer,
                    audiences: &bearer.audience_required,
                    leeway: bearer.leeway,
                };
                match (openers.jwt)(token, keys, &policy) {
                    Ok(claims) => {
                        mapped_identity(plugin, &Mapping::of_bearer(bearer), claims, index)
                    }
                    Err(_) => Err(TOKEN_INVALID),
                }
            }
            (AuthMethod::Introspection, _) => {
                match (introspection, (openers.introspected)(token)) {
                    (Some(config), Some(claims)) => {
                        mapped_identity(plugin, &Mapping::of_introspection(config), claims, index)
                    }
                    _ => Err(TOKEN_INVALID),
                }
            }
            _ => continue,
        };
        match outcome {
            Ok(identity) => return Ok(identity),
            Err(description) => refused = description,
        }
    }
    Err(refused)
}

/// How an external token names its Consumer (Kong's `consumer_claim`, `consumer_by`,
/// `consumer_optional`), for the `bearer` and `introspection` methods alike.
struct Mapping<'c> {
    claims: &'c [String],
    by: &'c [ConsumerBy],
    optional: bool,
}

impl<'c> Mapping<'c> {
    fn of_bearer(c: &'c BearerConfig) -> Self {
        Self {
            claims: &c.consumer_claim,
            by: &c.consumer_by,
            optional: c.consumer_optional,
        }
    }

    fn of_introspection(c: &'c crate::snapshot::IntrospectionConfig) -> Self {
        Self {
            claims: &c.consumer_claim,
            by: &c.consumer_by,
            optional: c.consumer_optional,
        }
    }
}

/// The Consumer an external token (verified or introspected) names, or none when the mapping
/// is optional.
fn mapped_identity<'i>(
    plugin: &Plugin,
    mapping: &Mapping<'_>,
    claims: JwtClaims,
    index: &'i SnapshotIndex,
) -> Result<Identity<'i>, &'static str> {
    let namespace = plugin.namespace();
    const DEFAULT_BY: &[ConsumerBy] = &[ConsumerBy::Username, ConsumerBy::CustomId];
    let by = if mapping.by.is_empty() {
        DEFAULT_BY
    } else {
        mapping.by
    };
    let consumer = mapping.claims.iter().find_map(|claim| {
        let value = claims.claim(claim)?;
        by.iter()
            .find_map(|&by| index.consumer_named(namespace, by, value))
    });
    if consumer.is_none() && !mapping.optional {
        return Err(TOKEN_INVALID);
    }
    let token_client_id = claims
        .claim("client_id")
        .or_else(|| claims.claim("azp"))
        .map(str::to_owned);
    Ok(Identity {
        consumer: consumer.map(|e| e.consumer),
        credential: None,
        subject: claims.sub.clone(),
        token_client_id,
        scope: claims.scope,
        anonymous: false,
        consumer_values: consumer.map(|e| e.values),
        client_id_value: None,
    })
}

/// RFC 6750 §3.1: an accepted token without every required scope is a 403.
fn check_scopes<'i>(plugin: &Plugin, identity: Identity<'i>) -> Result<Identity<'i>, OAuthError> {
    let PluginConfig::OpenIdConnect(config) = &plugin.config else {
        return Ok(identity);
    };
    if config.scopes_required.is_empty() {
        return Ok(identity);
    }
    let granted: Vec<&str> = identity
        .scope
        .as_deref()
        .map(|s| s.split(' ').collect())
        .unwrap_or_default();
    if config
        .scopes_required
        .iter()
        .all(|want| granted.contains(&want.as_str()))
    {
        return Ok(identity);
    }
    let required = config.scopes_required.join(" ");
    let description = "The access token does not carry the scopes this route requires";
    let mut challenge = bearer_challenge(
        config.realm.as_deref(),
        Some(("insufficient_scope", description)),
    );
    challenge.push_str(&format!(", scope=\"{required}\""));
    Err(OAuthError {
        status: 403,
        error: "insufficient_scope",
        description: description.to_owned(),
        www_authenticate: Some(challenge),
        token_endpoint: false,
    })
}

/// With `anonymous` set, a refusal becomes the anonymous consumer's identity.
fn finish<'i>(
    plugin: &Plugin,
    result: Result<Identity<'i>, OAuthError>,
    index: &'i SnapshotIndex,
) -> Result<Identity<'i>, OAuthError> {
    let anonymous = match &plugin.config {
        PluginConfig::OAuth2(c) => c.anonymous.as_deref(),
        PluginConfig::OpenIdConnect(c) => c.anonymous.as_deref(),
        PluginConfig::RateLimiting(_) => None,
    };
    match (result, anonymous) {
        (Ok(identity), _) => Ok(identity),
        (Err(e), None) => Err(e),
        (Err(_), Some(anonymous)) => match index.consumer_entry(anonymous) {
            Some(entry) => Ok(Identity {
                consumer_values: Some(entry.values),
                ..Identity::new(entry.consumer, None, None, true)
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

pub(crate) fn check_claims<'i>(
    plugin: &Plugin,
    claims: Claims,
    index: &'i SnapshotIndex,
    now: u64,
) -> Result<Identity<'i>, &'static str> {
    if claims.is_expired(now) {
        return Err(TOKEN_INVALID);
    }
    let accepted = match (&plugin.config, claims.binding) {
        (_, Binding::Plugin(bound)) => bound == plugin_binding(&plugin.id, &plugin.incarnation),
        (PluginConfig::OAuth2(c), Binding::Global(_)) if !c.global_credentials => {
            return Err(TOKEN_GLOBAL);
        }
        (_, Binding::Global(issued_in)) => accepts_global(plugin, issued_in),
    };
    // An openid-connect plugin never issues, so no token is bound to it: only global ones pass,
    // and only those issued in a namespace the plugin accepts.
    if !accepted {
        return Err(TOKEN_INVALID);
    }
    let entry = index
        .credential(&claims.credential_id)
        .ok_or(TOKEN_INVALID)?;
    if entry.epoch() != claims.epoch {
        return Err(TOKEN_INVALID);
    }
    let consumer = entry
        .pre
        .consumer
        .and_then(|i| index.consumer_at(i))
        .ok_or(TOKEN_INVALID)?;
    let subject = (!claims.authenticated_userid.is_empty()).then_some(claims.authenticated_userid);
    Ok(Identity {
        consumer_values: Some(consumer.values),
        client_id_value: entry.client_id_value(),
        subject,
        ..Identity::new(
            consumer.consumer,
            Some(entry.credential),
            (!claims.scope.is_empty()).then_some(claims.scope),
            false,
        )
    })
}

/// Whether `plugin` accepts a global token issued in the namespace whose binding is `issued_in`:
/// its own namespace, or one its `accept_namespaces` lists (or all).
fn accepts_global(plugin: &Plugin, issued_in: [u8; 8]) -> bool {
    use crate::snapshot::AcceptNamespaces;
    issued_in == namespace_binding(plugin.namespace())
        || match &plugin.accept_namespaces {
            AcceptNamespaces::Same => false,
            AcceptNamespaces::All => true,
            AcceptNamespaces::Listed(list) => {
                list.iter().any(|ns| namespace_binding(ns) == issued_in)
            }
        }
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
