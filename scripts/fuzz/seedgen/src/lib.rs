//! What the fuzz targets and the seed writer share: the quickstart snapshot (one key ring for
//! every token), and the byte encoding of a token request the `token_request` target decodes.
#![forbid(unsafe_code)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tollgate_core::ids::{consumer_id, credential_id};
use tollgate_core::oauth::{ForwardedProto, TokenRequestView};
use tollgate_core::secret::{deterministic_salt, hash_sha256};
use tollgate_core::snapshot::{
    Backend, BearerTokenParamType, ClientType, Consumer, Credential, OAuth2Config,
    OpenIdConnectConfig, Plugin, PluginConfig, Route, SNAPSHOT_FORMAT, SigningKey, Snapshot,
};
use tollgate_core::token::KeyRing;

pub const GLOBAL_PLUGIN: &str = "default/auth";
pub const BOUND_PLUGIN: &str = "default/bound";
pub const OIDC_PLUGIN: &str = "default/oidc";
/// The clock the targets verify at (unix seconds).
pub const NOW: u64 = 1_800_000_000;

pub fn oauth2(global: bool) -> OAuth2Config {
    OAuth2Config {
        enable_client_credentials: true,
        global_credentials: global,
        token_expiration: 7200,
        scopes: vec!["read".into(), "write".into()],
        mandatory_scope: false,
        hide_credentials: false,
        accept_http_if_already_terminated: true,
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
        realm: Some("api".into()),
    }
}

fn route(id: &str, path: &str, plugin: &str) -> Route {
    Route {
        id: id.into(),
        hosts: vec!["api.example.com".into(), "*.example.org".into()],
        paths: vec![path.into()],
        methods: vec!["GET".into(), "POST".into()],
        strip_path: true,
        plugins: vec![plugin.into()],
        backend: Some(Backend {
            scheme: "http".into(),
            path: "/base".into(),
            host_header: Some("upstream.local".into()),
            endpoints: vec!["127.0.0.1:8080".into(), "[::1]:8081".into()],
            connect_timeout_ms: 1000,
            read_timeout_ms: 5000,
        }),
        ..Route::default()
    }
}

/// Consumer jane, confidential credential `client`/`secret` (SHA-256 verifier), public client
/// `public-client`, a global and a bound oauth2 plugin, an openid-connect plugin, three routes.
pub fn snapshot() -> Snapshot {
    let jane = consumer_id("default", "jane");
    let demo = credential_id("default", "demo");
    Snapshot {
        certificates: Vec::new(),
        format: SNAPSHOT_FORMAT,
        signing_keys: vec![
            SigningKey {
                id: "k2026-01-01".into(),
                secret_b64: STANDARD.encode([42u8; 32]),
            },
            SigningKey {
                id: "k2026-06-01".into(),
                secret_b64: STANDARD.encode([43u8; 48]),
            },
        ],
        active_key: "k2026-06-01".into(),
        consumers: vec![Consumer {
            id: jane.clone(),
            object: "default/jane".into(),
            username: "jane".into(),
            custom_id: Some("jane-custom".into()),
        }],
        credentials: vec![
            Credential {
                id: demo.clone(),
                object: "default/demo".into(),
                consumer_id: jane.clone(),
                name: "demo".into(),
                client_id: "client".into(),
                client_type: ClientType::Confidential,
                secret_verifier: Some(hash_sha256(b"secret", &deterministic_salt(&demo))),
                redirect_uris: vec!["https://app.example.com/cb".into()],
                previous_secrets: Vec::new(),
                tokens_survive_rotation: false,
                incarnation: String::new(),
            },
            Credential {
                id: credential_id("default", "pub"),
                object: "default/pub".into(),
                consumer_id: jane,
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
                id: GLOBAL_PLUGIN.into(),
                incarnation: String::new(),
                accept_namespaces: tollgate_core::snapshot::AcceptNamespaces::Same,
                config: PluginConfig::OAuth2(oauth2(true)),
            },
            Plugin {
                id: BOUND_PLUGIN.into(),
                incarnation: String::new(),
                accept_namespaces: tollgate_core::snapshot::AcceptNamespaces::Same,
                config: PluginConfig::OAuth2(oauth2(false)),
            },
            Plugin {
                id: OIDC_PLUGIN.into(),
                incarnation: String::new(),
                accept_namespaces: tollgate_core::snapshot::AcceptNamespaces::Same,
                config: PluginConfig::OpenIdConnect(OpenIdConnectConfig {
                    bearer_token_param_type: vec![
                        BearerTokenParamType::Header,
                        BearerTokenParamType::Query,
                    ],
                    hide_credentials: true,
                    anonymous: None,
                    realm: None,
                    ..OpenIdConnectConfig::default()
                }),
            },
        ],
        routes: vec![
            route("default/api", "/api", OIDC_PLUGIN),
            route("default/auth", "/auth", GLOBAL_PLUGIN),
            route("default/bound", "/bound", BOUND_PLUGIN),
        ],
    }
}

/// The key ring of [`snapshot`].
pub fn ring(snapshot: &Snapshot) -> Option<KeyRing> {
    KeyRing::new(&snapshot.signing_keys, &snapshot.active_key).ok()
}

pub fn plugin<'s>(snapshot: &'s Snapshot, id: &str) -> Option<&'s Plugin> {
    snapshot.plugins.iter().find(|p| p.id == id)
}

/// The parts of a token request, owned. Encoded as: one flags byte (bit 0 HTTPS, bits 1-2
/// `X-Forwarded-Proto`, bits 3-5 the method, bit 6 a query is present, bit 7 an
/// authorization header is present), then query, content type and authorization separated by
/// NUL bytes (none of them can hold a NUL on the wire), then the body (any bytes).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RequestParts {
    pub method: &'static str,
    pub https: bool,
    pub forwarded_proto: u8,
    pub query: Option<Vec<u8>>,
    pub content_type: Option<Vec<u8>>,
    pub authorization: Option<Vec<u8>>,
    pub body: Vec<u8>,
}

pub const METHODS: [&str; 8] = ["POST", "GET", "PUT", "post", "HEAD", "OPTIONS", "PATCH", ""];

impl RequestParts {
    pub fn decode(data: &[u8]) -> Self {
        let Some((&flags, rest)) = data.split_first() else {
            return Self::default();
        };
        let mut fields = rest.splitn(4, |&b| b == 0);
        let query = fields.next().unwrap_or_default().to_vec();
        let content_type = fields.next().unwrap_or_default().to_vec();
        let authorization = fields.next().unwrap_or_default().to_vec();
        let body = fields.next().unwrap_or_default().to_vec();
        Self {
            method: METHODS[usize::from((flags >> 3) & 7)],
            https: flags & 1 == 1,
            forwarded_proto: (flags >> 1) & 3,
            query: (flags & 0x40 != 0).then_some(query),
            content_type: (!content_type.is_empty()).then_some(content_type),
            authorization: (flags & 0x80 != 0).then_some(authorization),
            body,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let method = METHODS.iter().position(|m| *m == self.method).unwrap_or(0) as u8;
        let flags = u8::from(self.https)
            | (self.forwarded_proto & 3) << 1
            | method << 3
            | u8::from(self.query.is_some()) << 6
            | u8::from(self.authorization.is_some()) << 7;
        let mut out = vec![flags];
        for field in [&self.query, &self.content_type, &self.authorization] {
            out.extend_from_slice(field.as_deref().unwrap_or_default());
            out.push(0);
        }
        out.extend_from_slice(&self.body);
        out
    }

    /// The view the proxy would build. The query and content type are headers or URI parts, so
    /// they only reach the core as text; non-UTF-8 ones are dropped, as the proxy drops them.
    pub fn view(&self) -> TokenRequestView<'_> {
        fn text(v: &Option<Vec<u8>>) -> Option<&str> {
            v.as_deref().and_then(|b| std::str::from_utf8(b).ok())
        }
        TokenRequestView {
            method: self.method,
            https: self.https,
            forwarded_proto: match self.forwarded_proto {
                1 => ForwardedProto::Https,
                2 => ForwardedProto::Multiple,
                _ => ForwardedProto::Absent,
            },
            query: text(&self.query),
            content_type: text(&self.content_type),
            authorization: self.authorization.as_deref(),
            body: &self.body,
        }
    }
}
