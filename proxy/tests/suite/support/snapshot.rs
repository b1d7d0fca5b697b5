//! Snapshot builders with the quickstart's objects. Shared by the integration tests (as
//! `support::*`) and the crate's own unit tests (as `crate::fixtures`, through `#[path]` in
//! `src/lib.rs`), so it uses nothing of `tollgate_proxy`.

use std::net::SocketAddr;

use base64::Engine as _;
use tollgate_core::snapshot::{
    Backend, BearerTokenParamType, ClientType, Consumer, Credential, OAuth2Config,
    OpenIdConnectConfig, Plugin, PluginConfig, Route, SNAPSHOT_FORMAT, SigningKey, Snapshot,
};

pub const JANE_ID: &str = "6f1c1d8e-4d3a-5b7e-9a61-0c2f4b8d9e10";
pub const DEMO_CREDENTIAL_ID: &str = "0b7d5e2a-1c3f-5a4b-8d6e-9f0a1b2c3d4e";

/// A snapshot builder with the quickstart's objects: consumer `jane`, credential `demo`
/// (`client`/`secret`), route `auth` (`/auth`, oauth2 plugin) and, with [`Self::upstream`], a
/// route `api` (`/`, openid-connect plugin) to a backend.
#[derive(Clone, Debug)]
pub struct SnapshotBuilder {
    pub snapshot: Snapshot,
}

pub fn key(id: &str, byte: u8) -> SigningKey {
    SigningKey {
        id: id.to_owned(),
        secret_b64: base64::engine::general_purpose::STANDARD.encode([byte; 32]),
    }
}

pub fn oauth2_config() -> OAuth2Config {
    OAuth2Config {
        enable_client_credentials: true,
        global_credentials: true,
        token_expiration: 7200,
        scopes: Vec::new(),
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
        auth_header_name: "authorization".to_owned(),
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

pub fn backend(endpoints: &[SocketAddr]) -> Backend {
    Backend {
        scheme: "http".to_owned(),
        path: String::new(),
        host_header: None,
        endpoints: endpoints.iter().map(ToString::to_string).collect(),
        connect_timeout_ms: 1000,
        read_timeout_ms: 2000,
    }
}

pub fn route(id: &str, paths: &[&str], plugin: Option<&str>, backend: Option<Backend>) -> Route {
    Route {
        id: id.to_owned(),
        hosts: Vec::new(),
        paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        methods: Vec::new(),
        strip_path: true,
        plugins: plugin.map(|p| vec![p.to_owned()]).unwrap_or_default(),
        backend,
        ..Route::default()
    }
}

impl SnapshotBuilder {
    /// Consumer jane, credential demo (plain `$sha256$` verifier), route `auth`.
    pub fn quickstart() -> Self {
        let salt = tollgate_core::secret::deterministic_salt(DEMO_CREDENTIAL_ID);
        let verifier = tollgate_core::secret::hash_sha256(b"secret", &salt);
        Self {
            snapshot: Snapshot {
                certificates: Vec::new(),
                format: SNAPSHOT_FORMAT,
                signing_keys: vec![key("k1", 7)],
                active_key: "k1".to_owned(),
                consumers: vec![Consumer {
                    groups: Vec::new(),
                    id: JANE_ID.to_owned(),
                    object: "default/jane".to_owned(),
                    username: "jane".to_owned(),
                    custom_id: None,
                }],
                credentials: vec![Credential {
                    scopes: None,
                    id: DEMO_CREDENTIAL_ID.to_owned(),
                    object: "default/demo".to_owned(),
                    consumer_id: JANE_ID.to_owned(),
                    name: "demo".to_owned(),
                    client_id: "client".to_owned(),
                    client_type: ClientType::Confidential,
                    secret_verifier: Some(verifier),
                    redirect_uris: Vec::new(),
                    previous_secrets: Vec::new(),
                    tokens_survive_rotation: false,
                    incarnation: String::new(),
                }],
                plugins: vec![Plugin {
                    acl: None,
                    id: "default/oauth2".to_owned(),
                    incarnation: String::new(),
                    accept_namespaces: tollgate_core::snapshot::AcceptNamespaces::Same,
                    config: PluginConfig::OAuth2(oauth2_config()),
                }],
                routes: vec![route(
                    "default/auth",
                    &["/auth"],
                    Some("default/oauth2"),
                    None,
                )],
            },
        }
    }

    /// Adds the `openid-connect` plugin and a protected route `/` to `upstream`.
    pub fn upstream(mut self, upstream: SocketAddr) -> Self {
        self.snapshot.plugins.push(Plugin {
            id: "default/oidc".to_owned(),
            incarnation: String::new(),
            accept_namespaces: tollgate_core::snapshot::AcceptNamespaces::Same,
            acl: None,
            config: PluginConfig::OpenIdConnect(oidc_config()),
        });
        self.snapshot.routes.push(route(
            "default/api",
            &["/"],
            Some("default/oidc"),
            Some(backend(&[upstream])),
        ));
        self
    }

    /// Adds an unprotected route.
    pub fn open_route(mut self, id: &str, path: &str, backend: Option<Backend>) -> Self {
        self.snapshot.routes.push(route(id, &[path], None, backend));
        self
    }

    /// Replaces the credential's verifier with an argon2id one for `secret`.
    pub fn argon2_secret(mut self, secret: &str) -> Self {
        let salt = tollgate_core::secret::deterministic_salt(DEMO_CREDENTIAL_ID);
        let verifier =
            tollgate_core::secret::hash_argon2id(secret.as_bytes(), &salt).expect("argon2id");
        self.snapshot.credentials[0].secret_verifier = Some(verifier);
        self
    }

    pub fn with(mut self, edit: impl FnOnce(&mut Snapshot)) -> Self {
        edit(&mut self.snapshot);
        self
    }

    pub fn build(mut self) -> Snapshot {
        self.snapshot.routes.sort_by(|a, b| a.id.cmp(&b.id));
        self.snapshot.plugins.sort_by(|a, b| a.id.cmp(&b.id));
        self.snapshot
    }
}
