//! Fixtures shared by the core hostile-input suites: the quickstart snapshot, a key ring and
//! index over it, a token issued the way the proxy issues one, and a case counter whose totals
//! the suites print (`cargo test -p tollgate-core --test suite -- --nocapture`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tollgate_core::ids::{consumer_id, credential_id, uuid_bytes};
use tollgate_core::oauth::{OAuthError, SnapshotIndex, claims_for};
use tollgate_core::secret::{deterministic_salt, hash_sha256, token_epoch};
use tollgate_core::snapshot::{
    BearerTokenParamType, ClientType, Consumer, Credential, OAuth2Config, OpenIdConnectConfig,
    Plugin, PluginConfig, SNAPSHOT_FORMAT, SigningKey, Snapshot,
};
use tollgate_core::token::KeyRing;

pub const KEY_ID: &str = "k2026-01-01";
pub const NOW: u64 = 1_800_000_000;
pub const GLOBAL_PLUGIN: &str = "default/auth";
pub const BOUND_PLUGIN: &str = "default/bound";
pub const OTHER_BOUND_PLUGIN: &str = "default/other-bound";
pub const OIDC_PLUGIN: &str = "default/oidc";

pub fn key(id: &str, byte: u8) -> SigningKey {
    SigningKey {
        id: id.to_owned(),
        secret_b64: STANDARD.encode([byte; 32]),
    }
}

pub fn oauth2(global: bool) -> OAuth2Config {
    OAuth2Config {
        enable_client_credentials: true,
        global_credentials: global,
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

pub fn oidc() -> OpenIdConnectConfig {
    OpenIdConnectConfig {
        bearer_token_param_type: vec![BearerTokenParamType::Header],
        hide_credentials: false,
        anonymous: None,
        realm: None,
        ..OpenIdConnectConfig::default()
    }
}

pub fn demo_id() -> String {
    credential_id("default", "demo")
}

pub fn demo_verifier(secret: &str) -> String {
    hash_sha256(secret.as_bytes(), &deterministic_salt(&demo_id()))
}

/// Consumer jane; confidential credential `demo` (`client`/`secret`); a global oauth2 plugin,
/// two bound oauth2 plugins and an openid-connect plugin. No routes: the core never needs them.
pub fn snapshot() -> Snapshot {
    let jane = consumer_id("default", "jane");
    Snapshot {
        certificates: Vec::new(),
        format: SNAPSHOT_FORMAT,
        signing_keys: vec![key(KEY_ID, 42)],
        active_key: KEY_ID.into(),
        consumers: vec![Consumer {
            groups: Vec::new(),
            id: jane.clone(),
            object: "default/jane".into(),
            username: "jane".into(),
            custom_id: None,
        }],
        credentials: vec![Credential {
            scopes: None,
            id: demo_id(),
            object: "default/demo".into(),
            consumer_id: jane,
            name: "demo".into(),
            client_id: "client".into(),
            client_type: ClientType::Confidential,
            secret_verifier: Some(demo_verifier("secret")),
            redirect_uris: vec![],
            previous_secrets: Vec::new(),
            tokens_survive_rotation: false,
            incarnation: String::new(),
        }],
        plugins: vec![
            Plugin {
                acl: None,
                id: GLOBAL_PLUGIN.into(),
                incarnation: String::new(),
                accept_namespaces: tollgate_core::snapshot::AcceptNamespaces::Same,
                config: PluginConfig::OAuth2(oauth2(true)),
            },
            Plugin {
                acl: None,
                id: BOUND_PLUGIN.into(),
                incarnation: String::new(),
                accept_namespaces: tollgate_core::snapshot::AcceptNamespaces::Same,
                config: PluginConfig::OAuth2(oauth2(false)),
            },
            Plugin {
                acl: None,
                id: OTHER_BOUND_PLUGIN.into(),
                incarnation: String::new(),
                accept_namespaces: tollgate_core::snapshot::AcceptNamespaces::Same,
                config: PluginConfig::OAuth2(oauth2(false)),
            },
            Plugin {
                acl: None,
                id: OIDC_PLUGIN.into(),
                incarnation: String::new(),
                accept_namespaces: tollgate_core::snapshot::AcceptNamespaces::Same,
                config: PluginConfig::OpenIdConnect(oidc()),
            },
        ],
        routes: vec![],
    }
}

pub fn ring(snapshot: &Snapshot) -> KeyRing {
    KeyRing::new(&snapshot.signing_keys, &snapshot.active_key).expect("valid key ring")
}

pub fn plugin<'s>(snapshot: &'s Snapshot, id: &str) -> &'s Plugin {
    snapshot
        .plugins
        .iter()
        .find(|p| p.id == id)
        .expect("plugin in snapshot")
}

/// A token for `demo` issued by plugin `issuer` at `issued_at`, exactly as the proxy mints one.
pub fn issue(snapshot: &Snapshot, issuer: &str, issued_at: u64, nonce: u8) -> String {
    let issuing = plugin(snapshot, issuer);
    let PluginConfig::OAuth2(config) = &issuing.config else {
        panic!("{issuer} is not an oauth2 plugin");
    };
    let credential = &snapshot.credentials[0];
    let claims = claims_for(
        issuing,
        config,
        uuid_bytes(&credential.id).expect("uuid"),
        token_epoch(
            credential.secret_verifier.as_deref(),
            &credential.consumer_id,
            &credential.incarnation,
        ),
        Some("read"),
        None,
        issued_at,
    );
    ring(snapshot).issue(&claims, [nonce; 24]).expect("issue")
}

/// Verifies `token` at plugin `at` exactly as the proxy does: open with the ring, then decide.
pub fn verify(snapshot: &Snapshot, at: &str, token: &str, now: u64) -> Result<String, OAuthError> {
    let index = SnapshotIndex::new(snapshot);
    let ring = ring(snapshot);
    tollgate_core::oauth::authenticate(plugin(snapshot, at), Some(ring.open(token)), &index, now)
        .map(|identity| {
            identity
                .consumer
                .map(|c| c.username.clone())
                .unwrap_or_default()
        })
}

/// Asserts an RFC 6750 `invalid_token` refusal: 401, the error code, and a Bearer challenge
/// naming it. Never a 500.
pub fn assert_invalid_token(result: &Result<String, OAuthError>, case: &str) {
    let error = match result {
        Ok(user) => panic!("{case}: accepted as {user}"),
        Err(e) => e,
    };
    assert_eq!(
        (error.status, error.error),
        (401, "invalid_token"),
        "{case}: {error:?}"
    );
    let challenge = error.www_authenticate.as_deref().unwrap_or_default();
    assert!(
        challenge.starts_with("Bearer") && challenge.contains("error=\"invalid_token\""),
        "{case}: challenge {challenge:?}"
    );
}

/// Counts hostile cases per category and prints the totals when dropped.
pub struct Tally {
    category: &'static str,
    cases: usize,
}

impl Tally {
    pub fn new(category: &'static str) -> Self {
        Self { category, cases: 0 }
    }
    pub fn case(&mut self) {
        self.cases += 1;
    }
    pub fn add(&mut self, n: usize) {
        self.cases += n;
    }
}

impl Drop for Tally {
    fn drop(&mut self) {
        println!("HOSTILE-CASES {} {}", self.category, self.cases);
    }
}
