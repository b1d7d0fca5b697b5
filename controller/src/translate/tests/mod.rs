//! Table-driven tests of the translation: every problem kind, and the dependency rules. This
//! file holds the fixture builders (the quickstart's objects, valid) and the tests split by topic.

mod address_policy;
mod dependencies;
mod gateway_api;
mod ingress;
mod problems;
mod rate_limit;
mod rotation;
mod snapshot;
mod tenancy;
mod validity;

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::*;
use crate::resources::auth_plugin::{
    AuthMethod, BearerTokenParamType as SpecParamType, OAuth2Settings, OpenIdConnectSettings,
    PluginType,
};
use crate::resources::consumer::ConsumerSpec;
use crate::resources::gateway_route::Backend;
use crate::resources::oauth2_credential::{ClientType, LocalObjectRef, SecretKeyRef};
use crate::resources::{AuthPluginSpec, GatewayRouteSpec, OAuth2CredentialSpec, SECRET_LABEL};
use tollgate_core::address::AddressPolicy;

// ---- builders ----

/// The client secret of the fixtures; it must never appear in a problem or a snapshot.
pub(super) const PLAINTEXT: &str = "s3cr3t-plaintext";

pub(super) fn consumer(name: &str) -> Consumer {
    Consumer::new(name, ConsumerSpec::default())
}

pub(super) fn secret(name: &str, key: &str, value: &str) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(BTreeMap::from([(SECRET_LABEL.into(), "credential".into())])),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([(
            key.into(),
            ByteString(value.as_bytes().to_vec()),
        )])),
        ..Secret::default()
    }
}

pub(super) fn credential(
    name: &str,
    consumer: &str,
    client_id: &str,
    secret: &str,
) -> OAuth2Credential {
    OAuth2Credential::new(
        name,
        OAuth2CredentialSpec {
            scopes: None,
            consumer_ref: LocalObjectRef {
                name: consumer.into(),
            },
            name: None,
            client_id: client_id.into(),
            client_secret_ref: Some(SecretKeyRef {
                name: secret.into(),
                key: "client_secret".into(),
            }),
            hash_secret: false,
            redirect_uris: vec![],
            client_type: ClientType::Confidential,
            previous_client_secrets: vec![],
            tokens_survive_rotation: false,
            generate_secret: false,
        },
    )
}

pub(super) fn oauth2_settings() -> OAuth2Settings {
    OAuth2Settings {
        enable_client_credentials: true,
        global_credentials: true,
        token_expiration: 7200,
        scopes: vec![],
        mandatory_scope: false,
        hide_credentials: false,
        accept_http_if_already_terminated: false,
        token_format: Default::default(),
        enable_password_grant: false,
        provision_key_secret_ref: None,
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

pub(super) fn oidc_settings() -> OpenIdConnectSettings {
    OpenIdConnectSettings {
        auth_methods: vec![AuthMethod::KongOAuth2],
        bearer_token_param_type: vec![SpecParamType::Header],
        hide_credentials: false,
        anonymous: None,
        realm: None,
        ..OpenIdConnectSettings::default()
    }
}

pub(super) fn oauth2_plugin(name: &str) -> AuthPlugin {
    AuthPlugin::new(
        name,
        AuthPluginSpec {
            acl: None,
            type_: PluginType::OAuth2,
            oauth2: Some(oauth2_settings()),
            openid_connect: None,
            rate_limiting: None,
            allowed_namespaces: None,
        },
    )
}

pub(super) fn oidc_plugin(name: &str) -> AuthPlugin {
    AuthPlugin::new(
        name,
        AuthPluginSpec {
            acl: None,
            type_: PluginType::OpenIdConnect,
            oauth2: None,
            openid_connect: Some(oidc_settings()),
            rate_limiting: None,
            allowed_namespaces: None,
        },
    )
}

/// A `rate-limiting` AuthPlugin allowing `minute` requests a minute per consumer.
pub(super) fn rate_limit_plugin(name: &str, minute: i64) -> AuthPlugin {
    AuthPlugin::new(
        name,
        AuthPluginSpec {
            acl: None,
            type_: PluginType::RateLimiting,
            oauth2: None,
            openid_connect: None,
            rate_limiting: Some(crate::resources::auth_plugin::RateLimitingSettings {
                minute: Some(minute),
                ..Default::default()
            }),
            allowed_namespaces: None,
        },
    )
}

pub(super) fn url_backend(url: &str) -> Backend {
    Backend {
        service: None,
        url: Some(url.into()),
        connect_timeout_ms: 60_000,
        read_timeout_ms: 60_000,
        preserve_host: false,
    }
}

pub(super) fn route(
    name: &str,
    path: &str,
    plugin: &str,
    backend: Option<Backend>,
) -> GatewayRoute {
    GatewayRoute::new(
        name,
        GatewayRouteSpec {
            paths: vec![path.into()],
            strip_path: true,
            plugins: vec![plugin.into()],
            backend,
            ..GatewayRouteSpec::default()
        },
    )
}

/// The objects of the quickstart (`examples/quickstart/`): every object valid.
pub(super) fn quickstart() -> Objects {
    Objects {
        consumers: vec![Arc::new(consumer("jane"))],
        credentials: vec![Arc::new(credential(
            "demo",
            "jane",
            "client",
            "demo-client-secret",
        ))],
        plugins: vec![
            Arc::new(oauth2_plugin("oauth2")),
            Arc::new(oidc_plugin("oidc")),
        ],
        routes: vec![
            Arc::new(route("auth", "/auth", "oauth2", None)),
            Arc::new(route(
                "httpbin",
                "/",
                "oidc",
                Some(url_backend("http://127.0.0.1:8080")),
            )),
        ],
        secrets: vec![Arc::new(secret(
            "demo-client-secret",
            "client_secret",
            PLAINTEXT,
        ))],
        secret_access: Default::default(),
        certificate_reads: Default::default(),
        namespaces: vec![],
        issuers: Default::default(),
        proxy_replicas: 1,
        gateway: Default::default(),
        ingress: Default::default(),
    }
}

pub(super) fn keys() -> SigningKeys {
    SigningKeys::single("k1", &[9u8; 32]).expect("valid key")
}

pub(super) fn run(objects: &Objects) -> Translation {
    run_with(objects, &ServiceEndpoints::new())
}

/// Translates with standalone mode's address policy (the fixtures' backend is the quickstart's
/// `http://127.0.0.1:8080`).
pub(super) fn run_with(objects: &Objects, services: &ServiceEndpoints) -> Translation {
    run_with_policy(objects, services, &AddressPolicy::standalone())
}

pub(super) fn run_with_policy(
    objects: &Objects,
    services: &ServiceEndpoints,
    policy: &AddressPolicy,
) -> Translation {
    translate(objects, services, policy, &keys(), &mut SecretHasher::new())
}

/// `kind/name` of every object in the snapshot.
pub(super) fn served(t: &Translation) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    out.extend(
        t.snapshot
            .consumers
            .iter()
            .map(|c| format!("Consumer/{}", c.object)),
    );
    out.extend(
        t.snapshot
            .credentials
            .iter()
            .map(|c| format!("OAuth2Credential/{}", c.object)),
    );
    out.extend(
        t.snapshot
            .plugins
            .iter()
            .map(|p| format!("AuthPlugin/{}", p.id)),
    );
    out.extend(
        t.snapshot
            .routes
            .iter()
            .map(|r| format!("GatewayRoute/{}", r.id)),
    );
    out.sort();
    out
}

pub(super) fn all_quickstart_objects() -> Vec<&'static str> {
    vec![
        "AuthPlugin/default/oauth2",
        "AuthPlugin/default/oidc",
        "Consumer/default/jane",
        "GatewayRoute/default/auth",
        "GatewayRoute/default/httpbin",
        "OAuth2Credential/default/demo",
    ]
}

pub(super) fn edit_plugin(objects: &mut Objects, name: &str, edit: impl Fn(&mut AuthPlugin)) {
    for p in &mut objects.plugins {
        if p.metadata.name.as_deref() == Some(name) {
            edit(Arc::make_mut(p));
        }
    }
}

pub(super) fn edit_route(objects: &mut Objects, name: &str, edit: impl Fn(&mut GatewayRoute)) {
    for r in &mut objects.routes {
        if r.metadata.name.as_deref() == Some(name) {
            edit(Arc::make_mut(r));
        }
    }
}

pub(super) fn edit_credential(objects: &mut Objects, edit: impl Fn(&mut OAuth2Credential)) {
    for c in &mut objects.credentials {
        edit(Arc::make_mut(c));
    }
}
