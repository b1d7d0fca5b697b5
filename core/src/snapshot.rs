//! The proxy snapshot: the complete configuration one proxy serves, and the wire format of the
//! config channel (JSON). The controller (or standalone mode) builds it from custom resources;
//! the proxy validates it fully before swapping it in.
//!
//! Invariants a valid snapshot satisfies (checked by [`crate::validate`]):
//! - every id is unique within its list; lists are sorted by id, so equal content gives an equal
//!   [`Snapshot::content_hash`];
//! - every reference resolves (credential → consumer, route → plugins, plugin → anonymous consumer);
//! - `client_id`s are unique within a namespace (the namespace of a credential or plugin is the
//!   part of its `object`/`id` before the `/`);
//! - the active signing key is listed and every key is at least 32 bytes;
//! - no plaintext client secret appears anywhere: credentials carry only a verifier string;
//! - every served certificate parses and its key is its leaf's; a server name is served by at
//!   most one certificate (private keys travel in the snapshot: [`KeyPem`] never prints one).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Version of the snapshot wire format. The proxy refuses snapshots of another version.
pub const SNAPSHOT_FORMAT: u32 = 1;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Snapshot {
    pub format: u32,
    /// Keys that sign (encrypt and authenticate) access tokens. Tokens carry the key id, so a
    /// token signed by any listed key verifies; only `active_key` signs new tokens.
    pub signing_keys: Vec<SigningKey>,
    /// Id of the key in `signing_keys` that signs new tokens.
    pub active_key: String,
    pub consumers: Vec<Consumer>,
    pub credentials: Vec<Credential>,
    pub plugins: Vec<Plugin>,
    pub routes: Vec<Route>,
    /// Certificates the HTTPS listener serves by SNI (Gateway HTTPS listeners, Ingress `tls`),
    /// sorted by `source`; a name none of them answers gets the proxy's own certificate. Left
    /// out of the JSON when empty, so a snapshot without any serializes (and hashes) as before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<ServedCertificate>,
}

impl Snapshot {
    /// Canonical serialization: the bytes pushed over the config channel.
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing plain structs of strings, numbers and vectors cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// SHA-256 (lower-case hex) of the canonical serialization. Equal snapshots have equal
    /// hashes, so a pusher can skip unchanged pushes and detect a replica holding another config.
    ///
    /// The canonical bytes are streamed into the hash, never buffered: a snapshot of 100,000
    /// credentials serializes to about 40 MB.
    pub fn content_hash(&self) -> String {
        use std::io::Write as _;
        let mut writer = std::io::BufWriter::with_capacity(64 * 1024, HashWriter(Sha256::new()));
        // Writing into a hasher cannot fail, and neither can serializing these types; on the
        // impossible error the hash would differ from the pusher's, which only costs a re-push.
        let _ = serde_json::to_writer(&mut writer, self);
        let _ = writer.flush();
        let (HashWriter(hasher), _) = writer.into_parts();
        hex(&hasher.finalize())
    }
}

/// An `io::Write` that feeds SHA-256.
struct HashWriter(Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Lower-case hex encoding.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    out
}

/// A token signing key. `Debug` never prints the key material.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SigningKey {
    /// Key id, carried in every token it signs (1..=64 bytes of `[A-Za-z0-9._-]`).
    pub id: String,
    /// Key material, standard base64 on the wire; at least 32 bytes once decoded.
    pub secret_b64: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("id", &self.id)
            .field("secret_b64", &"<redacted>")
            .finish()
    }
}

/// A certificate the HTTPS listener serves to clients naming one of `hosts` (TLS SNI). Checked
/// by [`crate::certificate::parse`] in validation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServedCertificate {
    /// The server names it answers: lower-case DNS names, or `*.suffix` for every name under
    /// `suffix` (any number of labels, as a Gateway listener hostname); at most
    /// [`crate::certificate::MAX_CERTIFICATE_HOSTS`], none claimed by another certificate.
    pub hosts: Vec<String>,
    /// PEM `CERTIFICATE` blocks, the leaf first (a Secret's `tls.crt`).
    pub chain_pem: String,
    /// The leaf's PEM private key (a Secret's `tls.key`).
    pub key_pem: KeyPem,
    /// Where it comes from, for messages (`Secret <namespace>/<name>`); unique in a snapshot.
    pub source: String,
}

/// A PEM private key. `Debug` never prints it, and the memory is wiped when it is dropped.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyPem(String);

impl KeyPem {
    pub fn new(pem: String) -> Self {
        Self(pem)
    }

    /// The PEM text, for the one place that parses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for KeyPem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyPem(<redacted>)")
    }
}

impl Drop for KeyPem {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Consumer {
    /// The `X-Consumer-Id` value: the Consumer's `metadata.uid`, or in standalone mode a UUIDv5
    /// of `namespace/name` (see [`crate::ids`]).
    pub id: String,
    /// `namespace/name` of the Consumer object, for logs and metrics.
    pub object: String,
    /// The `X-Consumer-Username` value.
    pub username: String,
    /// The `X-Consumer-Custom-Id` value, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_id: Option<String>,
    /// The groups the consumer belongs to (Kong's ACL groups), sorted; sent upstream as
    /// `X-Consumer-Groups` and matched by a plugin's [`Acl`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientType {
    #[default]
    Confidential,
    Public,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Credential {
    /// A UUID: the OAuth2Credential's `metadata.uid`, or a UUIDv5 of `namespace/name`. Tokens
    /// carry it, so deleting the credential revokes its tokens.
    pub id: String,
    /// `namespace/name` of the OAuth2Credential object, for logs and metrics.
    pub object: String,
    /// Id of the owning consumer (must be in `Snapshot::consumers`).
    pub consumer_id: String,
    /// The application name (`spec.name`).
    pub name: String,
    /// The OAuth 2.0 `client_id`; unique across the snapshot. Also the `X-Credential-Identifier`.
    pub client_id: String,
    pub client_type: ClientType,
    /// Verifier of the client secret, never the plaintext. One of:
    /// `$argon2id$v=19$m=..,t=..,p=..$<salt>$<hash>` (hashSecret: true),
    /// `$pbkdf2-sha512$i=..,l=..$<salt>$<hash>` (Kong's format, accepted for migration),
    /// `$sha256$<salt>$<hash>` (hashSecret: false: salted SHA-256, compared in constant time).
    /// `None` only for public clients, which have no secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_verifier: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redirect_uris: Vec<String>,
    /// Earlier secrets of a rotation (`previousClientSecrets`), each accepted beside
    /// `secret_verifier` until its instant; at most [`MAX_PREVIOUS_SECRETS`]. The proxy checks
    /// the instant itself, so an old secret is refused on time without a new snapshot.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous_secrets: Vec<PreviousSecret>,
    /// Tokens outlive a change of the secret (`tokensSurviveRotation`): the token epoch then
    /// leaves the verifier out ([`Credential::epoch`]). False: changing the secret revokes every
    /// token issued under it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub tokens_survive_rotation: bool,
    /// What makes this installation of the secret distinct from every earlier one, so that a
    /// secret rotated back to an old value (A → B → A) or a consumer changed and changed back
    /// does not bring back old tokens: the client Secret's `uid` and `resourceVersion` (operator),
    /// or a counter kept in the state directory (standalone). Tokens carry
    /// [`crate::secret::token_epoch`] of it, the verifier and the consumer id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub incarnation: String,
    /// The scopes this client may be granted (on top of the plugin's); `None`: any of the
    /// plugin's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
}

impl Credential {
    /// The namespace of the OAuth2Credential object.
    pub fn namespace(&self) -> &str {
        namespace_of(&self.object)
    }

    /// The token epoch tokens of this credential carry: [`crate::secret::token_epoch`] of its
    /// verifier, consumer and incarnation; with `tokens_survive_rotation`, of a fixed marker in
    /// place of the verifier, so a new secret keeps the tokens (the incarnation then must not
    /// change with the secret either).
    pub fn epoch(&self) -> u64 {
        let verifier = if self.tokens_survive_rotation {
            Some(crate::secret::ROTATION_SAFE_EPOCH)
        } else {
            self.secret_verifier.as_deref()
        };
        crate::secret::token_epoch(verifier, &self.consumer_id, &self.incarnation)
    }
}

/// At most this many previous secrets per credential: a wrong secret is checked against each
/// (argon2id: ~20 ms apiece), so the list stays short.
pub const MAX_PREVIOUS_SECRETS: usize = 3;

/// An earlier client secret still accepted during a rotation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PreviousSecret {
    /// Its verifier (same formats as [`Credential::secret_verifier`]).
    pub verifier: String,
    /// Accepted while the clock (seconds since the Unix epoch) is below this.
    pub valid_until: u64,
}

impl PreviousSecret {
    /// Whether it is still accepted at `now` (seconds since the Unix epoch).
    pub fn is_valid_at(&self, now: u64) -> bool {
        now < self.valid_until
    }
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_false(b: &bool) -> bool {
    !*b
}

/// The namespace part of a `namespace/name` id.
pub fn namespace_of(object: &str) -> &str {
    object.split_once('/').map_or("", |(ns, _)| ns)
}

/// Which namespaces' credentials and tokens a plugin accepts besides its own (AuthPlugin
/// `spec.allowedNamespaces`, resolved by the controller: a selector becomes the list of
/// namespaces it matches).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "from", content = "namespaces")]
pub enum AcceptNamespaces {
    /// Only the plugin's own namespace (the default).
    #[default]
    Same,
    /// Every namespace.
    All,
    /// The plugin's own namespace and these.
    Listed(Vec<String>),
}

impl AcceptNamespaces {
    pub fn is_same(&self) -> bool {
        matches!(self, Self::Same)
    }

    /// Whether a plugin of namespace `own` accepts `namespace`.
    pub fn accepts(&self, own: &str, namespace: &str) -> bool {
        namespace == own
            || match self {
                Self::Same => false,
                Self::All => true,
                Self::Listed(list) => list.iter().any(|n| n == namespace),
            }
    }
}

/// A plugin instance (an AuthPlugin object).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Plugin {
    /// `namespace/name` of the AuthPlugin object. Non-global tokens are bound to it and to its
    /// `incarnation`.
    pub id: String,
    /// What makes this plugin distinct from an earlier one of the same name: its `metadata.uid`
    /// (operator) or a counter kept in the state directory (standalone). Deleting a plugin and
    /// creating one of the same name does not bring back the old one's tokens.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub incarnation: String,
    /// Namespaces whose credentials may get tokens here (oauth2) and whose global tokens are
    /// accepted here, besides the plugin's own.
    #[serde(default, skip_serializing_if = "AcceptNamespaces::is_same")]
    pub accept_namespaces: AcceptNamespaces,
    /// Which consumers' groups may pass once authenticated (Kong's `acl` plugin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<Acl>,
    pub config: PluginConfig,
}

/// Kong's `acl` plugin: a consumer passes when it is in one of `allow` (if any is listed) and in
/// none of `deny`; otherwise `403 {"message": "You cannot consume this service"}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Acl {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
}

impl Acl {
    /// Whether a consumer in `groups` passes.
    pub fn admits(&self, groups: &[String]) -> bool {
        let member = |list: &[String]| list.iter().any(|g| groups.contains(g));
        (self.allow.is_empty() || member(&self.allow)) && !member(&self.deny)
    }
}

impl Plugin {
    /// The namespace of the AuthPlugin object.
    pub fn namespace(&self) -> &str {
        namespace_of(&self.id)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum PluginConfig {
    /// Kong's `oauth2` plugin: issues tokens at `<route path>/oauth2/token` and verifies them on
    /// every other request of the route.
    #[serde(rename = "oauth2")]
    OAuth2(OAuth2Config),
    /// Kong's `openid-connect` plugin restricted to `auth_methods: [kong_oauth2]`: verifies tokens
    /// issued by an `oauth2` plugin.
    #[serde(rename = "openid-connect")]
    OpenIdConnect(OpenIdConnectConfig),
    /// Kong's `rate-limiting` plugin with the `local` policy: fixed windows counted by each
    /// proxy replica (see [`crate::ratelimit`]).
    #[serde(rename = "rate-limiting")]
    RateLimiting(RateLimitingConfig),
}

impl PluginConfig {
    /// Whether this plugin authenticates (Kong's `oauth2` and `openid-connect`). A route takes at
    /// most one, and it runs before any other plugin of the route, whatever the order written:
    /// Kong's priorities (openid-connect 1050, oauth2 1004) are above rate-limiting's (910).
    pub fn is_auth(&self) -> bool {
        matches!(self, Self::OAuth2(_) | Self::OpenIdConnect(_))
    }

    /// Kong's name of the plugin.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::OAuth2(_) => "oauth2",
            Self::OpenIdConnect(_) => "openid-connect",
            Self::RateLimiting(_) => "rate-limiting",
        }
    }
}

/// Kong's `rate-limiting` plugin, `policy: local`: at most `second`, `minute` and `hour`
/// requests per fixed window (aligned to the UTC second, minute and hour), counted per
/// `limit_by` identity by each proxy replica on its own.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateLimitingConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub second: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minute: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hour: Option<u64>,
    /// Whom a limit counts: the consumer (the default), the credential or the client address.
    /// Without a consumer or credential, the client address (as Kong falls back).
    #[serde(default)]
    pub limit_by: LimitBy,
    /// Send no `RateLimit-*` / `X-RateLimit-*` headers (`Retry-After` on a 429 still is).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hide_client_headers: bool,
    /// Divide every limit by this many proxy replicas, rounded up (the controller writes the
    /// replica count it sees when the plugin asks for it); `None`: each replica enforces the
    /// whole limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub divide_by: Option<u32>,
}

/// What a rate limit counts by (Kong's `limit_by`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LimitBy {
    /// The authenticated consumer (the anonymous consumer included), else the credential, else
    /// the client address.
    #[default]
    Consumer,
    /// The credential (OAuth2Credential) of the token, else the client address.
    Credential,
    /// The client address: the peer's, or from a trusted proxy the last `X-Forwarded-For` entry.
    Ip,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OAuth2Config {
    pub enable_client_credentials: bool,
    /// Tokens are not bound to this plugin and are accepted by every verifier that accepts
    /// global tokens; a non-global token is accepted only by the plugin that issued it.
    pub global_credentials: bool,
    /// Token lifetime in seconds; 0 means tokens never expire and no `expires_in` is returned.
    pub token_expiration: u64,
    /// Allowed scopes (space-separated in requests).
    #[serde(default)]
    pub scopes: Vec<String>,
    pub mandatory_scope: bool,
    /// Remove the token from the request before it reaches the upstream.
    pub hide_credentials: bool,
    /// Accept plain HTTP at the token endpoint when a trusted peer sent `X-Forwarded-Proto: https`.
    pub accept_http_if_already_terminated: bool,
    /// Consumer id used when authentication fails ("logical OR"); `None` means refuse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anonymous: Option<String>,
    /// Header carrying the bearer token and Basic client credentials (lower case).
    pub auth_header_name: String,
    /// `realm` attribute of `WWW-Authenticate`, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm: Option<String>,
    /// What the token endpoint issues.
    #[serde(default)]
    pub token_format: TokenFormat,
    /// Kong's password grant: the application, having authenticated the user itself, asks for
    /// a token on the user's behalf with the plugin's provision key and `authenticated_userid`.
    #[serde(default)]
    pub enable_password_grant: bool,
    /// SHA-256 (hex) of the plugin's provision key, which the password grant, and the client
    /// credentials grant when it names an `authenticated_userid`, must present. Never the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provision_key_sha256: Option<String>,
    /// Kong's authorization code grant: the application's backend, having authenticated the
    /// user, posts to `…/oauth2/authorize` with the provision key and gets a short-lived code
    /// for the client to exchange at the token endpoint.
    #[serde(default)]
    pub enable_authorization_code: bool,
    /// When the authorization code grant requires PKCE (RFC 7636).
    #[serde(default)]
    pub pkce: Pkce,
    /// Lifetime of an authorization code, in seconds.
    #[serde(default = "default_authorization_code_ttl")]
    pub authorization_code_ttl: u64,
    /// Lifetime of a refresh token in seconds (Kong's `refresh_token_ttl`); 0: never expires.
    #[serde(default = "default_refresh_token_ttl")]
    pub refresh_token_ttl: u64,
    /// Kong's `reuse_refresh_token`: a refresh token is not rotated and keeps working until it
    /// expires (no reuse detection).
    #[serde(default)]
    pub reuse_refresh_token: bool,
}

/// Kong's `refresh_token_ttl` default: 14 days.
pub const DEFAULT_REFRESH_TOKEN_TTL: u64 = 1_209_600;

fn default_refresh_token_ttl() -> u64 {
    DEFAULT_REFRESH_TOKEN_TTL
}

/// Default lifetime of an authorization code, in seconds.
pub const DEFAULT_AUTHORIZATION_CODE_TTL: u64 = 60;
/// Longest lifetime of an authorization code, in seconds (RFC 6749 §4.1.2: at most 10 minutes).
pub const MAX_AUTHORIZATION_CODE_TTL: u64 = 600;

fn default_authorization_code_ttl() -> u64 {
    DEFAULT_AUTHORIZATION_CODE_TTL
}

/// Kong's `pkce` setting for the authorization code grant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pkce {
    /// PKCE is optional for every client; a code issued with a challenge is still checked.
    /// Public clients must use PKCE all the same (they have no secret to protect their codes).
    None,
    /// Public clients must use PKCE, confidential ones may; `S256` or `plain`.
    #[default]
    Lax,
    /// Every client must use PKCE, with `S256` only.
    Strict,
}

/// The format of the access tokens an oauth2 plugin issues. Its routes accept both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenFormat {
    /// Encrypted, readable by no one but the gateway ([`crate::token`]).
    #[default]
    Opaque,
    /// Signed JWTs (RFC 9068) that upstreams can verify with the route's JWKS
    /// ([`crate::access_jwt`]).
    Jwt,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BearerTokenParamType {
    /// `Authorization: Bearer`, and Kong's `access-token` / `x-access-token` headers.
    Header,
    /// `access_token` query parameter.
    Query,
    /// `access_token` in a form-encoded body.
    Body,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OpenIdConnectConfig {
    /// Where a token may come from.
    pub bearer_token_param_type: Vec<BearerTokenParamType>,
    pub hide_credentials: bool,
    /// Consumer id used when authentication fails; `None` means refuse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anonymous: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm: Option<String>,
    /// Kong's `auth_methods`, tried in this order.
    #[serde(default = "kong_oauth2_only")]
    pub auth_methods: Vec<AuthMethod>,
    /// The external issuer of the `bearer` method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer: Option<Box<BearerConfig>>,
    /// The provider's RFC 7662 endpoint of the `introspection` method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection: Option<Box<IntrospectionConfig>>,
    /// Scopes every accepted token must carry (all of them); missing ones get 403
    /// `insufficient_scope`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes_required: Vec<String>,
}

fn kong_oauth2_only() -> Vec<AuthMethod> {
    vec![AuthMethod::KongOauth2]
}

impl Default for OpenIdConnectConfig {
    /// Kong's defaults: `kong_oauth2` tokens from the `Authorization` header.
    fn default() -> Self {
        Self {
            bearer_token_param_type: vec![BearerTokenParamType::Header],
            hide_credentials: false,
            anonymous: None,
            realm: None,
            auth_methods: kong_oauth2_only(),
            bearer: None,
            introspection: None,
            scopes_required: Vec::new(),
        }
    }
}

/// An openid-connect auth method (Kong's names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AuthMethod {
    /// Tokens issued by an `oauth2` plugin of this gateway.
    #[serde(rename = "kong_oauth2")]
    KongOauth2,
    /// JWT access tokens of an external issuer, verified with its published keys.
    #[serde(rename = "bearer")]
    Bearer,
    /// Tokens the provider vouches for at its RFC 7662 introspection endpoint.
    #[serde(rename = "introspection")]
    Introspection,
}

/// The `introspection` method: where to ask, as whom, and how an active token names a Consumer.
/// `Debug` never prints the client secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IntrospectionConfig {
    /// The provider's introspection endpoint (`https://`, or `http://` on loopback).
    pub endpoint: String,
    /// The gateway's client at the provider (HTTP Basic).
    pub client_id: String,
    pub client_secret: String,
    /// As [`BearerConfig::consumer_claim`], over the introspection response's members.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consumer_claim: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consumer_by: Vec<ConsumerBy>,
    #[serde(default)]
    pub consumer_optional: bool,
}

impl std::fmt::Debug for IntrospectionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntrospectionConfig")
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// How a claim of an external token names a Consumer (Kong's `consumer_by`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ConsumerBy {
    Username,
    CustomId,
    /// The Consumer's id (its uid).
    Id,
}

/// The `bearer` method's issuer, with its keys as the controller last fetched them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BearerConfig {
    /// `iss` of accepted tokens, exactly.
    pub issuer: String,
    /// The issuer's public keys (its JWKS).
    pub jwks: Vec<crate::jwt::Jwk>,
    /// `aud` must contain one of these (empty: not checked).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audience_required: Vec<String>,
    /// Claims naming the Consumer, tried in order (Kong's `consumer_claim`); empty: no mapping.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consumer_claim: Vec<String>,
    /// What the claim's value is matched against, in order (Kong's `consumer_by`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consumer_by: Vec<ConsumerBy>,
    /// Accept a token whose claim names no Consumer (the upstream gets its subject and scopes).
    #[serde(default)]
    pub consumer_optional: bool,
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    pub leeway: u64,
}

/// One route of the table: a GatewayRoute, one match of an HTTPRoute rule, or one path of an
/// Ingress rule. A request matches when its host, path, method, headers and query parameters all
/// match; among matching routes the most specific wins (see [`crate::routing`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Route {
    /// `namespace/name` of the GatewayRoute object; `httproute/<ns>/<name>/<rule>/<match>` for a
    /// match of an HTTPRoute rule.
    pub id: String,
    /// Host names (exact, or a leading `*.` wildcard); empty matches any host.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Path prefixes, each starting with `/`; empty matches every path (unless `exact_paths` is
    /// set).
    #[serde(default)]
    pub paths: Vec<String>,
    /// Whole paths matched exactly (normalized, as `paths`); an exact match ranks above every
    /// prefix. A route with both matches either.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exact_paths: Vec<String>,
    /// Upper-case method names; empty matches every method.
    #[serde(default)]
    pub methods: Vec<String>,
    /// Request headers that must all match (at most [`MAX_ROUTE_MATCHES`]); names are
    /// case-insensitive. Of several entries naming the same header only the first counts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<HeaderMatch>,
    /// Query parameters that must all match (at most [`MAX_ROUTE_MATCHES`]); names are
    /// case-sensitive. Of several entries naming the same parameter only the first counts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub query_params: Vec<QueryParamMatch>,
    /// Remove the matched path prefix before forwarding (Kong's `strip_path`).
    #[serde(default)]
    pub strip_path: bool,
    /// Ids of the plugins of this route: at most one authentication plugin (`oauth2`,
    /// `openid-connect`) and at most one `rate-limiting`, in any order; the authentication
    /// plugin always runs first.
    #[serde(default)]
    pub plugins: Vec<String>,
    /// Gateway API filters, applied in order (request modifiers and rewrites before the request
    /// is forwarded, response modifiers to the upstream's response). A redirect answers without
    /// a backend.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<RouteFilter>,
    /// Where matched requests go; `None` serves only the plugins' own endpoints (503 otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<Backend>,
    /// Weighted backends (Gateway API `backendRefs`); when non-empty they replace `backend`
    /// (which must then be `None`), one chosen per request in proportion to its weight. An
    /// invalid backend (`backend: None`) answers 500 when chosen, as does a list whose weights
    /// are all 0.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backends: Vec<WeightedBackend>,
    /// The whole request's time limit in milliseconds (Gateway API `timeouts.request`): 504
    /// when exceeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_timeout_ms: Option<u64>,
    /// Time limit of one request to the backend, until its response head, in milliseconds
    /// (Gateway API `timeouts.backendRequest`); at most `request_timeout_ms`. 504 when exceeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_request_timeout_ms: Option<u64>,
    /// Final tie-break between routes equal in every other respect (lower wins), set by the
    /// translator after the Gateway API precedence: creation time, then `namespace/name`, then
    /// rule and match index. GatewayRoutes keep 0 and are ordered by id.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rank: u64,
    /// The proxy port the route is served on: `Http` (the plain port) or `Https` (the TLS
    /// port); `None` on both. An HTTPRoute attached only through HTTP listeners is not served
    /// on the HTTPS port, and the reverse; a request on the other port matches as if the route
    /// did not exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener: Option<ListenerPort>,
    /// Send the client's `Host` (with its port as sent; HTTP/2's `:authority`) upstream instead
    /// of the backend's `host_header` or endpoint (Kong's `preserve_host`). A `UrlRewrite`
    /// filter's `hostname` still wins. HTTPRoutes and Ingresses preserve it unless annotated
    /// `tollgate.dev/preserve-host: "false"`; GatewayRoutes only with `backend.preserveHost`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub preserve_host: bool,
    /// A `*.` wildcard in `hosts` matches exactly one label (`*.foo.com` matches `bar.foo.com`,
    /// not `baz.bar.foo.com`), as the Kubernetes Ingress specifies; `false` (the Gateway API's
    /// rule, and GatewayRoutes'): one or more labels.
    #[serde(default, skip_serializing_if = "is_false")]
    pub single_label_wildcard: bool,
}

/// One of the proxy's two traffic ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ListenerPort {
    /// The plain HTTP port (8000).
    Http,
    /// The HTTPS port (8443).
    Https,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Most header or query parameter matches a route may have (the Gateway API's limit), and most
/// entries in each list of a header modifier.
pub const MAX_ROUTE_MATCHES: usize = 16;
/// Most weighted backends of a route (the Gateway API's limit of `backendRefs`).
pub const MAX_ROUTE_BACKENDS: usize = 16;

/// How a header or query parameter value is matched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MatchKind {
    /// The whole value, byte for byte.
    #[default]
    Exact,
    /// A regular expression (RE2 syntax, the `regex` crate) that must match the whole value.
    RegularExpression,
}

impl MatchKind {
    pub fn is_exact(&self) -> bool {
        matches!(self, Self::Exact)
    }
}

/// A request header condition; `name` is compared case-insensitively. A header sent several
/// times matches on its values joined with `,` (RFC 9110 §5.3).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HeaderMatch {
    pub name: String,
    pub value: String,
    #[serde(default, skip_serializing_if = "MatchKind::is_exact")]
    pub kind: MatchKind,
}

/// A query parameter condition; `name` is compared exactly (case-sensitively) with the
/// percent-decoded parameter name, `value` with the decoded value of its first occurrence.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QueryParamMatch {
    pub name: String,
    pub value: String,
    #[serde(default, skip_serializing_if = "MatchKind::is_exact")]
    pub kind: MatchKind,
}

/// A header name and value of a header modifier.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HeaderValue {
    pub name: String,
    pub value: String,
}

/// A Gateway API HTTPRoute filter. Identity headers (the consumer headers the gateway sets) can
/// never be set, added or removed by one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all_fields = "camelCase", deny_unknown_fields)]
pub enum RouteFilter {
    /// Changes the request's headers before it is forwarded: `set` replaces (or adds), `add`
    /// appends a value, `remove` deletes (names case-insensitive).
    RequestHeaderModifier {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        set: Vec<HeaderValue>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        add: Vec<HeaderValue>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        remove: Vec<String>,
    },
    /// The same on the upstream's response.
    ResponseHeaderModifier {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        set: Vec<HeaderValue>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        add: Vec<HeaderValue>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        remove: Vec<String>,
    },
    /// Answers with a redirect (no backend is contacted). `Location` keeps what is not given
    /// from the request: scheme, host, port (dropped when it is the scheme's default) and path.
    RequestRedirect {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scheme: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hostname: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<PathModifier>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        port: Option<u16>,
        /// 301 or 302 (also 303, 307, 308).
        status_code: u16,
    },
    /// Rewrites the upstream request's `Host` and path.
    UrlRewrite {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hostname: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<PathModifier>,
    },
}

/// How a redirect or rewrite changes the path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value")]
pub enum PathModifier {
    /// The whole path becomes this one.
    ReplaceFullPath(String),
    /// The matched path prefix is replaced by this one (the rest of the path is kept).
    ReplacePrefixMatch(String),
}

/// One of a route's weighted backends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WeightedBackend {
    /// Relative weight (0 never chosen); at most 1,000,000.
    pub weight: u32,
    /// `None`: an invalid backendRef (missing Service, refused reference...); requests it gets
    /// are answered 500.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<Backend>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Backend {
    /// `http` or `https`.
    pub scheme: String,
    /// Path prefixed to the upstream path ("" or starting with `/`), as Kong does with a
    /// service path.
    #[serde(default)]
    pub path: String,
    /// Host header sent upstream; `None` sends the endpoint's `host[:port]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_header: Option<String>,
    /// `host:port` endpoints balanced round robin; empty means no ready endpoint (503).
    pub endpoints: Vec<String>,
    /// Timeouts in milliseconds.
    pub connect_timeout_ms: u64,
    pub read_timeout_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    #[test]
    fn content_hash_is_the_sha256_of_the_canonical_json() {
        let snapshot = fixtures::snapshot();
        assert_eq!(
            snapshot.content_hash(),
            hex(&Sha256::digest(snapshot.to_json()))
        );
    }
}
