//! AuthPlugins → snapshot plugins, re-checking the schema rules (standalone mode has no API
//! server) and resolving `anonymous` to a consumer id.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Namespace;
use tollgate_core::snapshot::{
    self, AcceptNamespaces, DEFAULT_AUTHORIZATION_CODE_TTL, MAX_AUTHORIZATION_CODE_TTL,
    OAuth2Config, OpenIdConnectConfig, Pkce, PluginConfig, RateLimitingConfig, TokenFormat,
};

use super::consumers::{ConsumerLookup, Consumers};
use super::index::OwnedNameIndex;
use super::problem::{Kind, ProblemCondition, reason};
use super::secrets::SecretIndex;
use super::{ObjectName, Problems, is_header_safe};
use crate::jwks::IssuerKeys;
use crate::resources::AuthPlugin;
use crate::resources::auth_plugin::{
    AllowedNamespaces, AuthMethod, BearerTokenParamType, ConsumerBy, FromNamespaces, LimitBy,
    OAuth2Settings, OpenIdConnectSettings, Pkce as SpecPkce, PluginType, RateLimitingSettings,
    TokenFormat as SpecTokenFormat,
};

/// The plugins of one translation: which exist, and which are accepted.
#[derive(Default)]
pub(crate) struct Plugins {
    existing: OwnedNameIndex<()>,
    accepted: OwnedNameIndex<snapshot::Plugin>,
}

pub(crate) enum PluginLookup<'a> {
    Accepted(&'a snapshot::Plugin),
    NotAccepted,
    NotFound,
}

impl Plugins {
    /// The AuthPlugin `name` in `namespace`.
    pub(crate) fn lookup(&self, namespace: &str, name: &str) -> PluginLookup<'_> {
        match self.accepted.get(namespace, name) {
            Some(plugin) => PluginLookup::Accepted(plugin),
            None if self.existing.contains(namespace, name) => PluginLookup::NotAccepted,
            None => PluginLookup::NotFound,
        }
    }

    pub(crate) fn into_snapshot(self) -> Vec<snapshot::Plugin> {
        self.accepted.into_values().collect()
    }
}

/// A problem found in one plugin.
struct Found {
    condition: ProblemCondition,
    reason: &'static str,
    message: String,
}

fn invalid(message: impl Into<String>) -> Found {
    Found {
        condition: ProblemCondition::Accepted,
        reason: reason::INVALID_PLUGIN,
        message: message.into(),
    }
}

/// What plugins are translated with besides themselves.
pub(crate) struct Context<'a> {
    pub consumers: &'a Consumers<'a>,
    pub namespaces: &'a [Arc<Namespace>],
    pub issuers: &'a BTreeMap<String, IssuerKeys>,
    pub secrets: &'a SecretIndex<'a>,
    /// The proxy replicas a `divideByReplicas` limit is divided by (at least 1).
    pub proxy_replicas: u32,
}

pub(crate) fn translate(
    objects: &[Arc<AuthPlugin>],
    cx: &Context<'_>,
    problems: &mut Problems,
) -> Plugins {
    let mut out = Plugins::default();
    for obj in objects {
        let at = ObjectName::of(obj.as_ref());
        out.existing.insert(&at.namespace, &at.name, ());
        let accepted = accept_namespaces(obj.spec.allowed_namespaces.as_ref(), &at, cx.namespaces);
        match (config(obj, &at, cx), accepted) {
            (Ok(config), Ok(accept_namespaces)) => {
                let plugin = snapshot::Plugin {
                    acl: obj.spec.acl.as_ref().map(|acl| snapshot::Acl {
                        allow: acl.allow.clone(),
                        deny: acl.deny.clone(),
                    }),
                    id: at.path(),
                    incarnation: obj.metadata.uid.clone().unwrap_or_default(),
                    accept_namespaces,
                    config,
                };
                out.accepted.insert(&at.namespace, &at.name, plugin);
            }
            (config, accepted) => {
                let found = config.err().into_iter().flatten().chain(accepted.err());
                for f in found {
                    problems.push(Kind::AuthPlugin, &at, f.condition, f.reason, f.message);
                }
            }
        }
    }
    out
}

/// `allowedNamespaces` resolved into the namespaces it names now: a selector becomes the sorted
/// list of the namespaces whose labels match (the plugin's own is always accepted).
fn accept_namespaces(
    allowed: Option<&AllowedNamespaces>,
    at: &ObjectName,
    namespaces: &[Arc<Namespace>],
) -> Result<AcceptNamespaces, Found> {
    let Some(allowed) = allowed else {
        return Ok(AcceptNamespaces::Same);
    };
    match (allowed.from, &allowed.selector) {
        (FromNamespaces::Same, None) => Ok(AcceptNamespaces::Same),
        (FromNamespaces::All, None) => Ok(AcceptNamespaces::All),
        (FromNamespaces::Selector, Some(selector)) => {
            if let Some(problem) = selector.problem() {
                return Err(invalid(format!("allowedNamespaces: {problem}")));
            }
            let empty = std::collections::BTreeMap::new();
            let mut names: Vec<String> = namespaces
                .iter()
                .filter_map(|ns| {
                    let name = ns.metadata.name.as_deref()?;
                    let labels = ns.metadata.labels.as_ref().unwrap_or(&empty);
                    (name != at.namespace && selector.matches(labels)).then(|| name.to_owned())
                })
                .collect();
            names.sort();
            names.dedup();
            Ok(AcceptNamespaces::Listed(names))
        }
        _ => Err(invalid(
            "allowedNamespaces: set selector exactly when from is Selector",
        )),
    }
}

fn config(obj: &AuthPlugin, at: &ObjectName, cx: &Context<'_>) -> Result<PluginConfig, Vec<Found>> {
    let spec = &obj.spec;
    let (consumers, issuers, secrets) = (cx.consumers, cx.issuers, cx.secrets);
    match (
        spec.type_,
        &spec.oauth2,
        &spec.openid_connect,
        &spec.rate_limiting,
    ) {
        (PluginType::OAuth2, Some(settings), None, None) => {
            oauth2(settings, at, consumers, secrets).map(PluginConfig::OAuth2)
        }
        (PluginType::OpenIdConnect, None, Some(settings), None) => {
            openid_connect(settings, at, consumers, issuers, secrets)
                .map(PluginConfig::OpenIdConnect)
        }
        (PluginType::RateLimiting, None, None, Some(settings)) => {
            rate_limiting(obj, settings, cx.proxy_replicas).map(PluginConfig::RateLimiting)
        }
        (kind, _, _, _) => {
            let block = match kind {
                PluginType::OAuth2 => "oauth2",
                PluginType::OpenIdConnect => "openidConnect",
                PluginType::RateLimiting => "rateLimiting",
            };
            Err(vec![Found {
                condition: ProblemCondition::Accepted,
                reason: reason::PLUGIN_TYPE_MISMATCH,
                message: format!(
                    "type {} needs the {block} block and no other settings block",
                    kind.as_str()
                ),
            }])
        }
    }
}

/// A `rate-limiting` plugin: Kong's checks (core's), and the limits divided by the replicas
/// when asked.
fn rate_limiting(
    obj: &AuthPlugin,
    s: &RateLimitingSettings,
    proxy_replicas: u32,
) -> Result<RateLimitingConfig, Vec<Found>> {
    let mut found = Vec::new();
    if obj.spec.acl.is_some() || obj.spec.allowed_namespaces.is_some() {
        found.push(invalid(
            "acl and allowedNamespaces apply to oauth2 and openid-connect only",
        ));
    }
    let mut limit = |name: &str, value: Option<i64>| {
        value.and_then(|v| match u64::try_from(v) {
            Ok(v) => Some(v),
            Err(_) => {
                found.push(invalid(format!("{name} must be greater than 0")));
                None
            }
        })
    };
    let config = RateLimitingConfig {
        second: limit("second", s.second),
        minute: limit("minute", s.minute),
        hour: limit("hour", s.hour),
        limit_by: match s.limit_by {
            LimitBy::Consumer => snapshot::LimitBy::Consumer,
            LimitBy::Credential => snapshot::LimitBy::Credential,
            LimitBy::Ip => snapshot::LimitBy::Ip,
        },
        hide_client_headers: s.hide_client_headers,
        divide_by: s.divide_by_replicas.then_some(proxy_replicas.max(1)),
    };
    found.extend(
        tollgate_core::ratelimit::problems(&config)
            .into_iter()
            .map(invalid),
    );
    if found.is_empty() {
        Ok(config)
    } else {
        Err(found)
    }
}

fn oauth2(
    s: &OAuth2Settings,
    at: &ObjectName,
    consumers: &Consumers,
    secrets: &SecretIndex<'_>,
) -> Result<OAuth2Config, Vec<Found>> {
    let mut found = Vec::new();
    if !s.enable_client_credentials && !s.enable_password_grant && !s.enable_authorization_code {
        found.push(invalid(
            "enable at least one grant: enableClientCredentials, enablePasswordGrant or enableAuthorizationCode",
        ));
    }
    let authorization_code_ttl = u64::try_from(s.authorization_code_ttl)
        .ok()
        .filter(|ttl| (1..=MAX_AUTHORIZATION_CODE_TTL).contains(ttl))
        .unwrap_or_else(|| {
            found.push(invalid(format!(
                "authorizationCodeTtl must be 1 to {MAX_AUTHORIZATION_CODE_TTL} seconds"
            )));
            DEFAULT_AUTHORIZATION_CODE_TTL
        });
    let provision_key_sha256 = provision_key(s, at, secrets, &mut found);
    if s.mandatory_scope && s.scopes.is_empty() {
        found.push(invalid("mandatoryScope requires scopes"));
    }
    if let Some(bad) = s.scopes.iter().find(|scope| !is_scope_token(scope)) {
        found.push(invalid(format!(
            "scope {bad:?} must be visible ASCII without spaces, quotes or backslashes"
        )));
    }
    let refresh_token_ttl = u64::try_from(s.refresh_token_ttl).unwrap_or_else(|_| {
        found.push(invalid("refreshTokenTtl must not be negative"));
        0
    });
    let token_expiration = u64::try_from(s.token_expiration).unwrap_or_else(|_| {
        found.push(invalid("tokenExpiration must not be negative"));
        0
    });
    if !is_token(&s.auth_header_name) {
        found.push(invalid(format!(
            "authHeaderName {:?} is not an HTTP header name",
            s.auth_header_name
        )));
    }
    check_realm(s.realm.as_deref(), &mut found);
    let anonymous = anonymous(s.anonymous.as_deref(), at, consumers, &mut found);
    if !found.is_empty() {
        return Err(found);
    }
    Ok(OAuth2Config {
        enable_client_credentials: s.enable_client_credentials,
        global_credentials: s.global_credentials,
        token_expiration,
        scopes: s.scopes.clone(),
        mandatory_scope: s.mandatory_scope,
        hide_credentials: s.hide_credentials,
        accept_http_if_already_terminated: s.accept_http_if_already_terminated,
        anonymous,
        auth_header_name: s.auth_header_name.to_ascii_lowercase(),
        realm: s.realm.clone(),
        token_format: match s.token_format {
            SpecTokenFormat::Opaque => TokenFormat::Opaque,
            SpecTokenFormat::Jwt => TokenFormat::Jwt,
        },
        enable_password_grant: s.enable_password_grant,
        provision_key_sha256,
        enable_authorization_code: s.enable_authorization_code,
        pkce: match s.pkce {
            SpecPkce::None => Pkce::None,
            SpecPkce::Lax => Pkce::Lax,
            SpecPkce::Strict => Pkce::Strict,
        },
        authorization_code_ttl,
        refresh_token_ttl,
        reuse_refresh_token: s.reuse_refresh_token,
    })
}

/// Shortest provision key accepted, in bytes.
const MIN_PROVISION_KEY_LEN: usize = 32;

/// The SHA-256 (hex) of the plugin's provision key, read from its Secret; `None` without a
/// reference (a problem is found when the password grant needs one, or the Secret is missing).
fn provision_key(
    s: &OAuth2Settings,
    at: &ObjectName,
    secrets: &SecretIndex<'_>,
    found: &mut Vec<Found>,
) -> Option<String> {
    use sha2::{Digest, Sha256};
    let Some(secret_ref) = &s.provision_key_secret_ref else {
        if s.enable_password_grant {
            found.push(invalid(
                "enablePasswordGrant requires provisionKeySecretRef",
            ));
        }
        if s.enable_authorization_code {
            found.push(invalid(
                "enableAuthorizationCode requires provisionKeySecretRef",
            ));
        }
        return None;
    };
    let Some(secret) = secrets.get(&at.namespace, &secret_ref.name) else {
        let (reason, message) = secrets.missing(&at.namespace, &secret_ref.name);
        found.push(Found {
            condition: ProblemCondition::ResolvedRefs,
            reason,
            message: format!("the provision key: {message}"),
        });
        return None;
    };
    let value = super::secrets::value(secret, &secret_ref.key)
        .and_then(|v| std::str::from_utf8(v).ok())
        .map(str::trim);
    match value {
        Some(key) if key.len() >= MIN_PROVISION_KEY_LEN => Some(tollgate_core::snapshot::hex(
            &Sha256::digest(key.as_bytes()),
        )),
        Some(_) => {
            found.push(Found {
                condition: ProblemCondition::ResolvedRefs,
                reason: reason::INVALID_SECRET,
                message: format!(
                    "the provision key in Secret {} key {:?} is shorter than {MIN_PROVISION_KEY_LEN} characters",
                    secret_ref.name, secret_ref.key
                ),
            });
            None
        }
        None => {
            found.push(Found {
                condition: ProblemCondition::ResolvedRefs,
                reason: reason::SECRET_NOT_FOUND,
                message: format!(
                    "the provision key: Secret {} has no key {:?}",
                    secret_ref.name, secret_ref.key
                ),
            });
            None
        }
    }
}

fn openid_connect(
    s: &OpenIdConnectSettings,
    at: &ObjectName,
    consumers: &Consumers,
    issuers: &BTreeMap<String, IssuerKeys>,
    secrets: &SecretIndex<'_>,
) -> Result<OpenIdConnectConfig, Vec<Found>> {
    let mut found = Vec::new();
    let mut auth_methods: Vec<snapshot::AuthMethod> = Vec::new();
    for method in &s.auth_methods {
        let method = match method {
            AuthMethod::KongOAuth2 => snapshot::AuthMethod::KongOauth2,
            AuthMethod::Bearer => snapshot::AuthMethod::Bearer,
            AuthMethod::Introspection => snapshot::AuthMethod::Introspection,
        };
        if !auth_methods.contains(&method) {
            auth_methods.push(method);
        }
    }
    if auth_methods.is_empty() {
        found.push(invalid("authMethods must name at least one method"));
    }
    let bearer = bearer(s, &auth_methods, issuers, &mut found);
    let introspection = introspection(s, &auth_methods, at, secrets, &mut found);
    for scope in &s.scopes_required {
        if !is_scope_token(scope) {
            found.push(invalid(format!(
                "required scope {scope:?} must be visible ASCII without spaces, quotes or backslashes"
            )));
        }
    }
    let mut param_types: Vec<snapshot::BearerTokenParamType> = s
        .bearer_token_param_type
        .iter()
        .map(|t| match t {
            BearerTokenParamType::Header => snapshot::BearerTokenParamType::Header,
            BearerTokenParamType::Query => snapshot::BearerTokenParamType::Query,
            BearerTokenParamType::Body => snapshot::BearerTokenParamType::Body,
        })
        .collect();
    param_types.sort();
    param_types.dedup();
    if param_types.is_empty() {
        found.push(invalid("bearerTokenParamType must name at least one place"));
    }
    check_realm(s.realm.as_deref(), &mut found);
    let anonymous = anonymous(s.anonymous.as_deref(), at, consumers, &mut found);
    if !found.is_empty() {
        return Err(found);
    }
    Ok(OpenIdConnectConfig {
        bearer_token_param_type: param_types,
        hide_credentials: s.hide_credentials,
        anonymous,
        realm: s.realm.clone(),
        auth_methods,
        bearer,
        introspection,
        scopes_required: s.scopes_required.clone(),
    })
}

fn consumer_by(s: &OpenIdConnectSettings) -> Vec<snapshot::ConsumerBy> {
    s.consumer_by
        .iter()
        .map(|by| match by {
            ConsumerBy::Username => snapshot::ConsumerBy::Username,
            ConsumerBy::CustomId => snapshot::ConsumerBy::CustomId,
            ConsumerBy::Id => snapshot::ConsumerBy::Id,
        })
        .collect()
}

/// The `introspection` method's endpoint and client, the secret read from its Secret.
fn introspection(
    s: &OpenIdConnectSettings,
    methods: &[snapshot::AuthMethod],
    at: &ObjectName,
    secrets: &SecretIndex<'_>,
    found: &mut Vec<Found>,
) -> Option<Box<snapshot::IntrospectionConfig>> {
    let wanted = methods.contains(&snapshot::AuthMethod::Introspection);
    let (Some(endpoint), Some(client_id), Some(secret_ref)) = (
        &s.introspection_endpoint,
        &s.introspection_client_id,
        &s.introspection_client_secret_ref,
    ) else {
        if wanted {
            found.push(invalid(
                "the introspection method needs introspectionEndpoint, introspectionClientId and introspectionClientSecretRef",
            ));
        }
        return None;
    };
    if !wanted {
        found.push(invalid(
            "introspection is configured but authMethods does not list introspection",
        ));
        return None;
    }
    match endpoint.parse::<http::Uri>() {
        Ok(uri) => {
            if let Err(why) = crate::jwks::fetchable(&uri, s.allow_http_issuer) {
                found.push(invalid(format!("introspectionEndpoint {why}")));
                return None;
            }
        }
        Err(e) => {
            found.push(invalid(format!("introspectionEndpoint is not a URL: {e}")));
            return None;
        }
    }
    let Some(secret) = secrets.get(&at.namespace, &secret_ref.name) else {
        let (reason, message) = secrets.missing(&at.namespace, &secret_ref.name);
        found.push(Found {
            condition: ProblemCondition::ResolvedRefs,
            reason,
            message: format!("the introspection client secret: {message}"),
        });
        return None;
    };
    let secret = super::secrets::value(secret, &secret_ref.key)
        .and_then(|v| std::str::from_utf8(v).ok())
        .map(str::trim)
        .filter(|v| !v.is_empty());
    let Some(client_secret) = secret else {
        found.push(Found {
            condition: ProblemCondition::ResolvedRefs,
            reason: reason::SECRET_NOT_FOUND,
            message: format!(
                "the introspection client secret: Secret {} has no non-empty key {:?}",
                secret_ref.name, secret_ref.key
            ),
        });
        return None;
    };
    Some(Box::new(snapshot::IntrospectionConfig {
        endpoint: endpoint.clone(),
        client_id: client_id.clone(),
        client_secret: client_secret.to_owned(),
        consumer_claim: s.consumer_claim.clone(),
        consumer_by: consumer_by(s),
        consumer_optional: s.consumer_optional,
    }))
}

/// The `bearer` method's issuer with its keys; a problem while they are not there (the plugin
/// is then left out, and its routes with it: fail closed).
fn bearer(
    s: &OpenIdConnectSettings,
    methods: &[snapshot::AuthMethod],
    issuers: &BTreeMap<String, IssuerKeys>,
    found: &mut Vec<Found>,
) -> Option<Box<snapshot::BearerConfig>> {
    let Some(issuer) = &s.issuer else {
        if methods.contains(&snapshot::AuthMethod::Bearer) {
            found.push(invalid("the bearer auth method needs an issuer"));
        }
        return None;
    };
    if !methods.contains(&snapshot::AuthMethod::Bearer) {
        found.push(invalid(
            "an issuer is set but authMethods does not list bearer",
        ));
        return None;
    }
    match issuer.parse::<http::Uri>() {
        Ok(uri) => {
            if let Err(why) = crate::jwks::fetchable(&uri, s.allow_http_issuer) {
                found.push(invalid(format!("issuer {why}")));
                return None;
            }
        }
        Err(e) => {
            found.push(invalid(format!("issuer {issuer:?} is not a URL: {e}")));
            return None;
        }
    }
    let jwks = match issuers.get(issuer) {
        Some(IssuerKeys::Keys(keys)) => keys.clone(),
        Some(IssuerKeys::Failed(error)) => {
            found.push(Found {
                condition: ProblemCondition::ResolvedRefs,
                reason: reason::ISSUER_UNAVAILABLE,
                message: format!("the issuer's keys could not be fetched: {error}"),
            });
            return None;
        }
        Some(IssuerKeys::Pending) | None => {
            found.push(Found {
                condition: ProblemCondition::ResolvedRefs,
                reason: reason::ISSUER_UNAVAILABLE,
                message: "the issuer's keys are being fetched; the plugin is served once they are"
                    .into(),
            });
            return None;
        }
    };
    Some(Box::new(snapshot::BearerConfig {
        issuer: issuer.clone(),
        jwks,
        audience_required: s.audience_required.clone(),
        consumer_claim: s.consumer_claim.clone(),
        consumer_by: consumer_by(s),
        consumer_optional: s.consumer_optional,
        leeway: tollgate_core::jwt::DEFAULT_LEEWAY_SECS,
    }))
}

fn check_realm(realm: Option<&str>, found: &mut Vec<Found>) {
    if let Some(realm) = realm
        && (!is_header_safe(realm) || realm.contains(['"', '\\']))
    {
        found.push(invalid(
            "realm must be visible ASCII without quotes or backslashes",
        ));
    }
}

/// Resolves `anonymous` (a Consumer name in the plugin's namespace) to a consumer id.
fn anonymous(
    name: Option<&str>,
    at: &ObjectName,
    consumers: &Consumers,
    found: &mut Vec<Found>,
) -> Option<String> {
    let name = name?;
    let problem = match consumers.lookup(&at.namespace, name) {
        ConsumerLookup::Accepted(consumer) => return Some(consumer.id.clone()),
        ConsumerLookup::NotAccepted => format!("anonymous Consumer {name} is not accepted"),
        ConsumerLookup::NotFound => format!(
            "anonymous Consumer {name} does not exist in namespace {}",
            at.namespace
        ),
    };
    found.push(Found {
        condition: ProblemCondition::ResolvedRefs,
        reason: reason::ANONYMOUS_CONSUMER_NOT_FOUND,
        message: problem,
    });
    None
}

/// RFC 7230 `token` (header names).
pub(crate) fn is_token(value: &str) -> bool {
    !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// RFC 6749 §3.3 `scope-token`: %x21 / %x23-5B / %x5D-7E.
fn is_scope_token(value: &str) -> bool {
    !value.is_empty()
        && value
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}
