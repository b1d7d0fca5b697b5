//! Test fixtures: a snapshot shaped like `examples/quickstart/`, built with small helpers.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::ids::{consumer_id, credential_id};
use crate::secret::{deterministic_salt, hash_sha256};
use crate::snapshot::*;

pub const KEY_ID: &str = "k2026-01-01";

pub fn jane_id() -> String {
    consumer_id("default", "jane")
}

pub fn demo_id() -> String {
    credential_id("default", "demo")
}

pub fn oauth2_config() -> OAuth2Config {
    OAuth2Config {
        enable_client_credentials: true,
        global_credentials: true,
        token_expiration: 7200,
        scopes: vec!["read".into(), "write".into()],
        mandatory_scope: false,
        hide_credentials: false,
        accept_http_if_already_terminated: false,
        token_format: Default::default(),
        enable_password_grant: false,
        provision_key_sha256: None,
        enable_authorization_code: false,
        pkce: Default::default(),
        authorization_code_ttl: 60,
        refresh_token_ttl: 1_209_600,
        reuse_refresh_token: false,
        anonymous: None,
        auth_header_name: "authorization".into(),
        realm: None,
    }
}

pub fn oidc_config() -> OpenIdConnectConfig {
    OpenIdConnectConfig {
        bearer_token_param_type: vec![BearerTokenParamType::Header],
        hide_credentials: false,
        anonymous: None,
        realm: None,
        ..OpenIdConnectConfig::default()
    }
}

pub fn route(id: &str, path: &str, plugin: Option<&str>) -> Route {
    Route {
        id: id.into(),
        hosts: vec![],
        paths: vec![path.into()],
        methods: vec![],
        strip_path: true,
        plugins: plugin.into_iter().map(String::from).collect(),
        backend: Some(Backend {
            scheme: "http".into(),
            path: String::new(),
            host_header: None,
            endpoints: vec!["127.0.0.1:8080".into()],
            connect_timeout_ms: 1000,
            read_timeout_ms: 5000,
        }),
        ..Route::default()
    }
}

/// A `rate-limiting` plugin `id` with `minute` requests a minute (by consumer).
pub fn rate_limit(id: &str, minute: Option<u64>) -> Plugin {
    Plugin {
        acl: None,
        id: id.into(),
        incarnation: String::new(),
        accept_namespaces: crate::snapshot::AcceptNamespaces::Same,
        config: PluginConfig::RateLimiting(crate::snapshot::RateLimitingConfig {
            minute,
            ..Default::default()
        }),
    }
}

/// Consumer `jane`; confidential credential `demo` (`client`/`secret`, SHA-256 verifier so
/// tests stay fast); public credential `pub` (`public-client`); plugins `default/auth`
/// (oauth2, global) and `default/oidc`; routes `default/auth` and `default/upstream`.
pub fn snapshot() -> Snapshot {
    let demo = demo_id();
    Snapshot {
        certificates: Vec::new(),
        format: SNAPSHOT_FORMAT,
        signing_keys: vec![SigningKey {
            id: KEY_ID.into(),
            secret_b64: STANDARD.encode([42u8; 32]),
        }],
        active_key: KEY_ID.into(),
        consumers: vec![Consumer {
            groups: Vec::new(),
            id: jane_id(),
            object: "default/jane".into(),
            username: "jane".into(),
            custom_id: Some("jane-custom".into()),
        }],
        credentials: vec![
            Credential {
                scopes: None,
                id: demo.clone(),
                object: "default/demo".into(),
                consumer_id: jane_id(),
                name: "demo".into(),
                client_id: "client".into(),
                client_type: ClientType::Confidential,
                secret_verifier: Some(hash_sha256(b"secret", &deterministic_salt(&demo))),
                redirect_uris: vec![],
                previous_secrets: Vec::new(),
                tokens_survive_rotation: false,
                incarnation: String::new(),
            },
            Credential {
                scopes: None,
                id: credential_id("default", "pub"),
                object: "default/pub".into(),
                consumer_id: jane_id(),
                name: "pub".into(),
                client_id: "public-client".into(),
                client_type: ClientType::Public,
                secret_verifier: None,
                redirect_uris: vec![],
                previous_secrets: Vec::new(),
                tokens_survive_rotation: false,
                incarnation: String::new(),
            },
        ],
        plugins: vec![
            Plugin {
                acl: None,
                id: "default/auth".into(),
                incarnation: String::new(),
                accept_namespaces: crate::snapshot::AcceptNamespaces::Same,
                config: PluginConfig::OAuth2(oauth2_config()),
            },
            Plugin {
                acl: None,
                id: "default/oidc".into(),
                incarnation: String::new(),
                accept_namespaces: crate::snapshot::AcceptNamespaces::Same,
                config: PluginConfig::OpenIdConnect(oidc_config()),
            },
        ],
        routes: vec![
            route("default/auth", "/auth", Some("default/auth")),
            route("default/upstream", "/", Some("default/oidc")),
        ],
    }
}

/// A `POST` over HTTPS with a form `body`, as the token endpoint and its siblings parse it.
pub fn form(body: &str) -> crate::oauth::TokenRequestView<'_> {
    crate::oauth::TokenRequestView {
        method: "POST",
        https: true,
        content_type: Some("application/x-www-form-urlencoded"),
        body: body.as_bytes(),
        ..Default::default()
    }
}
