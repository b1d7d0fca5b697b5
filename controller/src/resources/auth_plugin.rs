//! `AuthPlugin`: Kong's `oauth2` plugin (mints and verifies tokens), its `openid-connect`
//! plugin (verifies them, and external issuers' tokens), or its `rate-limiting` plugin (local
//! policy) on the same routes.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::status::ObjectStatus;

/// Kong's default token lifetime in seconds.
pub const DEFAULT_TOKEN_EXPIRATION: i64 = 7200;

/// A plugin that GatewayRoutes refer to by name. `type: oauth2` issues tokens at
/// `<route path>/oauth2/token` and verifies them; `type: openid-connect` verifies tokens issued by
/// an `oauth2` plugin (Kong's `auth_methods: [kong_oauth2]`); `type: rate-limiting` limits how
/// often each consumer, credential or client address may call the route (Kong's local policy),
/// after the route's authentication plugin.
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[kube(
    group = "tollgate.dev",
    version = "v1alpha1",
    kind = "AuthPlugin",
    plural = "authplugins",
    namespaced,
    status = "ObjectStatus",
    shortname = "tgplugin",
    category = "tollgate",
    doc = "A plugin of GatewayRoutes: Kong's oauth2 (mints and verifies tokens), openid-connect (verifies them) or rate-limiting (local policy).",
    printcolumn(name = "Type", type_ = "string", json_path = ".spec.type"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Programmed")].status"#,
        description = "Every proxy replica serves this plugin"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.type == 'oauth2' ? (has(self.oauth2) && !has(self.openidConnect) && !has(self.rateLimiting)) : self.type == 'openid-connect' ? (has(self.openidConnect) && !has(self.oauth2) && !has(self.rateLimiting)) : (has(self.rateLimiting) && !has(self.oauth2) && !has(self.openidConnect))").message("set exactly the block matching type: oauth2 for type oauth2, openidConnect for type openid-connect, rateLimiting for type rate-limiting"))]
#[x_kube(validation = Rule::new("self.type != 'rate-limiting' || (!has(self.acl) && !has(self.allowedNamespaces))").message("acl and allowedNamespaces apply to oauth2 and openid-connect only"))]
pub struct AuthPluginSpec {
    /// Which Kong plugin this is: `oauth2`, `openid-connect` or `rate-limiting`.
    #[serde(rename = "type")]
    pub type_: PluginType,
    /// Settings of an `oauth2` plugin; set exactly when `type` is `oauth2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<OAuth2Settings>,
    /// Settings of an `openid-connect` plugin; set exactly when `type` is `openid-connect`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openid_connect: Option<OpenIdConnectSettings>,
    /// Settings of a `rate-limiting` plugin; set exactly when `type` is `rate-limiting`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limiting: Option<RateLimitingSettings>,
    /// Namespaces whose credentials may get tokens at this plugin (oauth2) and whose global
    /// tokens it accepts, besides its own. The default is the plugin's namespace only: a
    /// namespace is a tenant boundary. Tokens cross it only when both sides opt in: the issuing
    /// oauth2 plugin with `globalCredentials`, the accepting plugin with this field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_namespaces: Option<AllowedNamespaces>,
    /// Kong's `acl` plugin on the routes of this plugin: once authenticated, a consumer passes
    /// when it is in one of `allow` (when any is listed) and in none of `deny`; others get
    /// `403 {"message": "You cannot consume this service"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<AclSpec>,
}

/// Groups allowed and denied (Consumer `spec.groups`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AclSpec {
    /// A consumer must be in one of these (when any is listed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(min = 1, max = 128)))]
    pub allow: Vec<String>,
    /// A consumer in one of these is refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(min = 1, max = 128)))]
    pub deny: Vec<String>,
}

/// Which namespaces a plugin accepts credentials and tokens from, in the Gateway API's
/// `allowedRoutes.namespaces` shape.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.from == 'Selector' ? has(self.selector) : !has(self.selector)").message("set selector exactly when from is Selector"))]
pub struct AllowedNamespaces {
    /// `Same` (the plugin's namespace only, the default), `All`, or `Selector`.
    #[serde(default)]
    pub from: FromNamespaces,
    /// With `from: Selector`: the namespaces whose labels match (besides the plugin's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<NamespaceSelector>,
}

/// Where a plugin accepts credentials and tokens from, besides its own namespace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum FromNamespaces {
    #[default]
    Same,
    All,
    Selector,
}

/// A label selector over Namespaces (Kubernetes' `LabelSelector`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceSelector {
    /// Labels a namespace must carry, each with this value.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 32))]
    pub match_labels: std::collections::BTreeMap<String, String>,
    /// Requirements on a namespace's labels, all of which must hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub match_expressions: Vec<SelectorRequirement>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SelectorRequirement {
    /// The label key.
    #[schemars(length(min = 1, max = 317))]
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    pub operator: SelectorOperator,
    /// The values for `In` and `NotIn` (none for `Exists` and `DoesNotExist`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(max = 63)))]
    pub values: Vec<String>,
}

/// How a selector requirement compares a label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SelectorOperator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

impl NamespaceSelector {
    /// Whether a namespace with these labels matches (every label and every expression).
    pub fn matches(&self, labels: &std::collections::BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|e| {
                let value = labels.get(&e.key);
                match e.operator {
                    SelectorOperator::In => value.is_some_and(|v| e.values.contains(v)),
                    SelectorOperator::NotIn => value.is_none_or(|v| !e.values.contains(v)),
                    SelectorOperator::Exists => value.is_some(),
                    SelectorOperator::DoesNotExist => value.is_none(),
                }
            })
    }

    /// Kubernetes refuses a selector with an `In`/`NotIn` without values or an
    /// `Exists`/`DoesNotExist` with some: the problem, if any.
    pub fn problem(&self) -> Option<String> {
        self.match_expressions.iter().find_map(|e| {
            let needs_values = matches!(e.operator, SelectorOperator::In | SelectorOperator::NotIn);
            (needs_values == e.values.is_empty()).then(|| {
                format!(
                    "selector expression on {:?}: {:?} {}",
                    e.key,
                    e.operator,
                    if needs_values {
                        "needs values"
                    } else {
                        "takes no values"
                    }
                )
            })
        })
    }
}

/// Kong's plugin names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum PluginType {
    /// Kong's `oauth2` plugin: token endpoint plus verification.
    #[serde(rename = "oauth2")]
    OAuth2,
    /// Kong's `openid-connect` plugin with `auth_methods: [kong_oauth2]`: verification only.
    #[serde(rename = "openid-connect")]
    OpenIdConnect,
    /// Kong's `rate-limiting` plugin, local policy.
    #[serde(rename = "rate-limiting")]
    RateLimiting,
}

impl PluginType {
    /// Kong's name of the plugin.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OAuth2 => "oauth2",
            Self::OpenIdConnect => "openid-connect",
            Self::RateLimiting => "rate-limiting",
        }
    }
}

/// Settings of Kong's `rate-limiting` plugin (same names, camelCase), `policy: local`: each
/// proxy replica counts in its own memory, in fixed windows aligned to the UTC second, minute
/// and hour. A request over a limit gets `429 {"message": "API rate limit exceeded"}` with
/// `Retry-After`; others get `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` and
/// `X-RateLimit-Limit-<Period>`, `X-RateLimit-Remaining-<Period>`. Kong's day, month and year
/// windows are not offered: a quota that long needs counters shared and kept across restarts.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.second) || has(self.minute) || has(self.hour)").message("set at least one of second, minute or hour"))]
pub struct RateLimitingSettings {
    /// Requests allowed per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1_000_000_000))]
    pub second: Option<i64>,
    /// Requests allowed per minute (not below `second`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1_000_000_000))]
    pub minute: Option<i64>,
    /// Requests allowed per hour (not below `minute` or `second`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1_000_000_000))]
    pub hour: Option<i64>,
    /// Whom a limit counts: `consumer` (the default: the authenticated Consumer, the anonymous
    /// one included), `credential` (the OAuth2Credential of the token) or `ip` (the client
    /// address; behind a trusted proxy, the last `X-Forwarded-For` entry). Without a consumer or
    /// credential, the client address, as Kong falls back.
    #[serde(default)]
    pub limit_by: LimitBy,
    /// Kong's `policy`; only `local` (counters in each proxy replica) is implemented.
    #[serde(default)]
    pub policy: RateLimitPolicy,
    /// Send no `RateLimit-*` and `X-RateLimit-*` headers (a 429 still has `Retry-After`).
    #[serde(default)]
    pub hide_client_headers: bool,
    /// Divide each limit by the number of proxy replicas (rounded up), so that the replicas
    /// together allow about the configured rate when the load balancer spreads a client's
    /// requests evenly. Off: each replica allows the whole limit.
    #[serde(default)]
    pub divide_by_replicas: bool,
}

/// What a rate limit counts by (Kong's `limit_by`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LimitBy {
    #[default]
    Consumer,
    Credential,
    Ip,
}

/// Kong's rate-limiting `policy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RateLimitPolicy {
    /// Counters in each proxy replica's memory.
    #[default]
    Local,
}

/// Settings of Kong's `oauth2` plugin (same names, camelCase).
#[derive(KubeSchema, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.enableClientCredentials || self.enablePasswordGrant || self.enableAuthorizationCode").message("enable at least one grant: enableClientCredentials, enablePasswordGrant or enableAuthorizationCode"))]
#[x_kube(validation = Rule::new("!self.enablePasswordGrant || has(self.provisionKeySecretRef)").message("enablePasswordGrant requires provisionKeySecretRef"))]
#[x_kube(validation = Rule::new("!self.enableAuthorizationCode || has(self.provisionKeySecretRef)").message("enableAuthorizationCode requires provisionKeySecretRef"))]
#[x_kube(validation = Rule::new("!self.mandatoryScope || (has(self.scopes) && size(self.scopes) > 0)").message("mandatoryScope requires scopes"))]
pub struct OAuth2Settings {
    /// Enable the client-credentials grant (at least one grant must be enabled, as in Kong).
    #[serde(default)]
    pub enable_client_credentials: bool,
    /// Enable Kong's password grant: the application authenticates the user itself, then asks
    /// for a token on the user's behalf with `grant_type=password`, the plugin's provision key
    /// and `authenticated_userid` (no user password reaches the gateway). OAuth 2.1 drops this
    /// grant; prefer others for new applications.
    #[serde(default)]
    pub enable_password_grant: bool,
    /// Enable Kong's authorization code grant. The gateway shows no login page: the
    /// application's backend authenticates the user, then posts to `<route path>/oauth2/authorize`
    /// with the provision key, `authenticated_userid`, `client_id`, `response_type=code`,
    /// `redirect_uri` (one of the client's `redirectUris`), `scope`, `state` and the PKCE
    /// `code_challenge`; the answer is `{"redirect_uri": "...?code=...&state=..."}`. The client
    /// exchanges the code at the token endpoint (`grant_type=authorization_code`, with its
    /// `code_verifier`). Codes are single use and expire after `authorizationCodeTtl`.
    #[serde(default)]
    pub enable_authorization_code: bool,
    /// When the authorization code grant needs PKCE (Kong's `pkce`): `lax` (the default):
    /// public clients must, confidential ones may, with `S256` or `plain`; `strict`: every
    /// client must, with `S256` only; `none`: PKCE is optional, except that public clients
    /// must use it all the same (unlike Kong). A code issued with a challenge always needs its
    /// verifier.
    #[serde(default)]
    pub pkce: Pkce,
    /// Lifetime of an authorization code in seconds (Kong: 300). A redeemed code's id is kept
    /// in the revocation store until the code expires, so short codes keep the store small.
    #[serde(default = "default_authorization_code_ttl")]
    #[schemars(range(min = 1, max = 600))]
    pub authorization_code_ttl: i64,
    /// Lifetime of a refresh token in seconds (Kong's `refresh_token_ttl`; default 14 days, 0:
    /// never expires). Refresh tokens come with the access tokens of the password and
    /// authorization code grants (not client credentials), when `tokenExpiration` is not 0.
    #[serde(default = "default_refresh_token_ttl")]
    #[schemars(range(min = 0))]
    pub refresh_token_ttl: i64,
    /// Kong's `reuse_refresh_token`: a refresh token is not rotated and keeps working until it
    /// expires. Off (the default), every use returns a new refresh token and the old one is
    /// spent; presenting a spent one revokes its whole family.
    #[serde(default)]
    pub reuse_refresh_token: bool,
    /// The Secret (labelled `tollgate.dev/secret`, same namespace) holding the plugin's
    /// provision key, at least 32 characters: what the password grant, and the client
    /// credentials grant when it names an `authenticated_userid`, must present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provision_key_secret_ref: Option<crate::resources::oauth2_credential::SecretKeyRef>,
    /// Tokens are not bound to this plugin: every verifier accepts them (Kong's
    /// `global_credentials`). A non-global token is accepted only by the plugin that issued it.
    #[serde(default)]
    pub global_credentials: bool,
    /// Token lifetime in seconds; 0 means tokens never expire and no `expires_in` is returned.
    #[serde(default = "default_token_expiration")]
    #[schemars(range(min = 0, max = 315_360_000))]
    pub token_expiration: i64,
    /// Scopes a client may request (space-separated `scope` parameter).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(min = 1, max = 128)))]
    pub scopes: Vec<String>,
    /// Refuse token requests without a `scope` (`invalid_scope`); requires `scopes`.
    #[serde(default)]
    pub mandatory_scope: bool,
    /// Remove the token from the request before it reaches the upstream.
    #[serde(default)]
    pub hide_credentials: bool,
    /// Accept plain HTTP at the token endpoint when a trusted proxy sent
    /// `X-Forwarded-Proto: https` (TLS terminated in front of Tollgate).
    #[serde(default)]
    pub accept_http_if_already_terminated: bool,
    /// Name of a Consumer (same namespace) used when authentication fails, instead of refusing
    /// the request ("logical OR"). The upstream then sees `X-Anonymous-Consumer: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub anonymous: Option<String>,
    /// Header carrying the bearer token and HTTP Basic client credentials.
    #[serde(default = "default_auth_header_name")]
    #[schemars(
        length(min = 1, max = 256),
        regex(pattern = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
    )]
    pub auth_header_name: String,
    /// `realm` attribute of `WWW-Authenticate` in 401 responses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub realm: Option<String>,
    /// What the token endpoint issues: `opaque` tokens (encrypted; only the gateway reads them)
    /// or `jwt` access tokens (RFC 9068, signed EdDSA, verifiable by upstreams with the keys at
    /// `<route path>/.well-known/jwks.json`). Routes of the plugin accept both.
    #[serde(default)]
    pub token_format: TokenFormat,
}

/// Settings of Kong's `openid-connect` plugin: verifies tokens of an `oauth2` plugin
/// (`kong_oauth2`) and JWT access tokens of an external identity provider (`bearer`).
#[derive(KubeSchema, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!self.authMethods.exists(m, m == 'bearer') || has(self.issuer)").message("the bearer auth method needs an issuer"))]
pub struct OpenIdConnectSettings {
    /// Authentication methods, tried in this order: `kong_oauth2` (tokens issued by an `oauth2`
    /// plugin of this gateway) and `bearer` (JWT access tokens of `issuer`).
    #[serde(default = "default_auth_methods")]
    #[schemars(length(min = 1, max = 8))]
    pub auth_methods: Vec<AuthMethod>,
    /// The external identity provider of the `bearer` method (its `iss`, exactly). Its keys are
    /// found through OpenID discovery (`<issuer>/.well-known/openid-configuration`) or, when that
    /// answers a 4xx status, RFC 8414 authorization server metadata
    /// (`<issuer>/.well-known/oauth-authorization-server`, as a Tollgate `oauth2` route serves
    /// it, then the path-inserted form), and fetched by the controller, never by the proxies
    /// while serving. `https://`, or `http://` on a loopback address (or with
    /// `allowHttpIssuer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub issuer: Option<String>,
    /// Accept an `http://` issuer on a non-loopback host (keys fetched in cleartext).
    #[serde(default)]
    pub allow_http_issuer: bool,
    /// A token's `aud` must contain one of these (Kong's `audience_required`); empty: any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16), inner(length(min = 1, max = 512)))]
    pub audience_required: Vec<String>,
    /// Claims of the token naming its Consumer, tried in order (Kong's `consumer_claim`, e.g.
    /// `[client_id]`, `[sub]`, `[azp]`); empty: tokens are not mapped to Consumers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8), inner(length(min = 1, max = 128)))]
    pub consumer_claim: Vec<String>,
    /// What a claim's value is matched with, in order: `username`, `customId` or `id` (Kong's
    /// `consumer_by`; default `[username, customId]`). Only Consumers of the plugin's namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 3))]
    pub consumer_by: Vec<ConsumerBy>,
    /// Accept a valid token that names no Consumer; the upstream then gets
    /// `X-Authenticated-Userid` (its `sub`) and `X-Authenticated-Scope` only.
    #[serde(default)]
    pub consumer_optional: bool,
    /// The provider's RFC 7662 introspection endpoint, for the `introspection` method (opaque
    /// tokens): `https://`, or `http://` on loopback (or with `allowHttpIssuer`). The proxies ask
    /// it about each new token and cache the answer (an active token until its `exp`, at most
    /// 5 minutes; an inactive one 10 seconds); when it cannot be asked, the token is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub introspection_endpoint: Option<String>,
    /// The gateway's client id at the provider, for introspection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub introspection_client_id: Option<String>,
    /// The Secret (labelled `tollgate.dev/secret`, same namespace) holding that client's secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection_client_secret_ref: Option<crate::resources::oauth2_credential::SecretKeyRef>,
    /// Scopes every token must carry on this plugin's routes (all of them); a token without one
    /// gets `403 insufficient_scope`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(min = 1, max = 128)))]
    pub scopes_required: Vec<String>,
    /// Where a token may come from: `header` (`Authorization: Bearer`, `access-token`,
    /// `x-access-token`), `query` or `body` (`access_token`). Defaults to `[header]`, the RFC 6750
    /// recommendation; Kong defaults to all three.
    #[serde(default = "default_param_types")]
    #[schemars(length(min = 1, max = 3))]
    pub bearer_token_param_type: Vec<BearerTokenParamType>,
    /// Remove the token from the request before it reaches the upstream.
    #[serde(default)]
    pub hide_credentials: bool,
    /// Name of a Consumer (same namespace) used when authentication fails, instead of refusing
    /// the request. The upstream then sees `X-Anonymous-Consumer: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub anonymous: Option<String>,
    /// `realm` attribute of `WWW-Authenticate` in 401 responses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub realm: Option<String>,
}

/// An OpenID Connect authentication method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum AuthMethod {
    /// Verify tokens issued by a Tollgate (Kong) `oauth2` plugin.
    #[serde(rename = "kong_oauth2")]
    KongOAuth2,
    /// Verify JWT access tokens of the external `issuer`.
    #[serde(rename = "bearer")]
    Bearer,
    /// Ask the provider's `introspectionEndpoint` about opaque tokens (RFC 7662).
    #[serde(rename = "introspection")]
    Introspection,
}

/// How a token's claim names a Consumer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ConsumerBy {
    Username,
    CustomId,
    Id,
}

/// Where a bearer token may be sent.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum BearerTokenParamType {
    /// `Authorization: Bearer <token>`, or the `access-token` / `x-access-token` headers.
    Header,
    /// The `access_token` query parameter (discouraged by RFC 6750).
    Query,
    /// `access_token` in a form-encoded body.
    Body,
}

fn default_token_expiration() -> i64 {
    DEFAULT_TOKEN_EXPIRATION
}

fn default_auth_header_name() -> String {
    "authorization".to_owned()
}

fn default_auth_methods() -> Vec<AuthMethod> {
    vec![AuthMethod::KongOAuth2]
}

impl Default for OpenIdConnectSettings {
    /// What an empty `openidConnect: {}` reads as.
    fn default() -> Self {
        Self {
            auth_methods: default_auth_methods(),
            issuer: None,
            allow_http_issuer: false,
            audience_required: Vec::new(),
            consumer_claim: Vec::new(),
            consumer_by: Vec::new(),
            consumer_optional: false,
            introspection_endpoint: None,
            introspection_client_id: None,
            introspection_client_secret_ref: None,
            scopes_required: Vec::new(),
            bearer_token_param_type: default_param_types(),
            hide_credentials: false,
            anonymous: None,
            realm: None,
        }
    }
}

fn default_param_types() -> Vec<BearerTokenParamType> {
    vec![BearerTokenParamType::Header]
}

fn default_authorization_code_ttl() -> i64 {
    60
}

fn default_refresh_token_ttl() -> i64 {
    1_209_600
}

/// When the authorization code grant needs PKCE.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Pkce {
    /// Optional for confidential clients; public clients must still use it.
    None,
    /// Public clients must use PKCE, confidential clients may (`S256` or `plain`).
    #[default]
    Lax,
    /// Every client must use PKCE, with `S256`.
    Strict,
}

/// The format of an oauth2 plugin's access tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TokenFormat {
    /// Encrypted tokens only the gateway reads (the default).
    #[default]
    Opaque,
    /// Signed JWT access tokens (RFC 9068).
    Jwt,
}
