//! Authorization server metadata (RFC 8414) of an `oauth2` plugin, served at
//! `<prefix>/.well-known/oauth-authorization-server` on any route carrying the plugin, where
//! `<prefix>/oauth2/token` is its token endpoint.
//!
//! The issuer is `<scheme>://<host><prefix>`. RFC 8414 §3 would place the document at
//! `/.well-known/oauth-authorization-server<prefix>` (the well-known segment first); a route
//! owns only the paths under its prefix, so the document is served under the prefix, as other
//! path-based gateways do, and clients are given its URL.

use crate::snapshot::{OAuth2Config, Pkce, TokenFormat};
use crate::validate::is_valid_host;

/// The well-known suffix the document is served at.
pub const METADATA_SUFFIX: &str = "/.well-known/oauth-authorization-server";
/// The suffix the JWT access tokens' public keys are served at (`tokenFormat: jwt`).
pub const JWKS_SUFFIX: &str = "/.well-known/jwks.json";

/// The prefix of a token endpoint path: `/auth` for `/auth/oauth2/token` (or with a trailing
/// slash); `None` for any other path.
pub fn token_endpoint_prefix(path: &str) -> Option<&str> {
    let path = path.strip_suffix('/').unwrap_or(path);
    path.strip_suffix("/oauth2/token")
}

/// The prefix of a metadata request's (normalized) path: `Some("/auth")` for
/// `/auth/.well-known/oauth-authorization-server`, `Some("")` at the root; `None` for any other
/// path.
pub fn metadata_prefix(path: &str) -> Option<&str> {
    path.strip_suffix(METADATA_SUFFIX)
}

/// The issuer identifier for a request at `host` (the route's host when it names one, else the
/// request's `Host` without its port when it is a valid host name) under `prefix`; `None` for
/// a host that is not a host name (nothing reflected from a hostile `Host`).
pub fn issuer(https: bool, host: &str, port: Option<u16>, prefix: &str) -> Option<String> {
    if host.starts_with('*') || !is_valid_host(host) {
        return None;
    }
    let scheme = if https { "https" } else { "http" };
    let port = match (https, port) {
        (true, Some(443)) | (false, Some(80)) | (_, None) => String::new(),
        (_, Some(port)) => format!(":{port}"),
    };
    Some(format!("{scheme}://{host}{port}{prefix}"))
}

/// The metadata document (RFC 8414 §2): the endpoints, grants and client authentication
/// methods this plugin actually serves.
pub fn metadata_document(config: &OAuth2Config, issuer: &str) -> Vec<u8> {
    let mut grants = Vec::new();
    if config.enable_client_credentials {
        grants.push("client_credentials");
    }
    if config.enable_password_grant {
        grants.push("password");
    }
    if config.enable_authorization_code {
        grants.push("authorization_code");
    }
    let auth_methods = ["client_secret_basic", "client_secret_post"];
    // Public clients redeem their codes with their client id alone (and PKCE).
    let mut token_auth_methods = auth_methods.to_vec();
    if config.enable_authorization_code {
        token_auth_methods.push("none");
    }
    let mut body = serde_json::Map::new();
    body.insert("issuer".into(), issuer.into());
    body.insert(
        "token_endpoint".into(),
        format!("{issuer}/oauth2/token").into(),
    );
    body.insert(
        "introspection_endpoint".into(),
        format!("{issuer}/oauth2/introspect").into(),
    );
    body.insert(
        "revocation_endpoint".into(),
        format!("{issuer}/oauth2/revoke").into(),
    );
    body.insert("grant_types_supported".into(), grants.into());
    if config.enable_authorization_code {
        // Kong's API-driven endpoint: the application's backend posts to it with the
        // provision key; it shows no page to the user.
        body.insert(
            "authorization_endpoint".into(),
            format!("{issuer}/oauth2/authorize").into(),
        );
        body.insert("response_types_supported".into(), vec!["code"].into());
        let methods = match config.pkce {
            Pkce::Strict => vec!["S256"],
            Pkce::Lax | Pkce::None => vec!["S256", "plain"],
        };
        body.insert("code_challenge_methods_supported".into(), methods.into());
    } else {
        // REQUIRED by RFC 8414 even without an authorization endpoint: none is served.
        body.insert("response_types_supported".into(), Vec::<&str>::new().into());
    }
    body.insert(
        "token_endpoint_auth_methods_supported".into(),
        token_auth_methods.into(),
    );
    body.insert(
        "introspection_endpoint_auth_methods_supported".into(),
        auth_methods.as_slice().into(),
    );
    body.insert(
        "revocation_endpoint_auth_methods_supported".into(),
        auth_methods.as_slice().into(),
    );
    if !config.scopes.is_empty() {
        body.insert("scopes_supported".into(), config.scopes.clone().into());
    }
    if config.token_format == TokenFormat::Jwt {
        body.insert("jwks_uri".into(), format!("{issuer}{JWKS_SUFFIX}").into());
    }
    serde_json::to_vec(&body).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> OAuth2Config {
        OAuth2Config {
            enable_client_credentials: true,
            global_credentials: false,
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
            anonymous: None,
            auth_header_name: "authorization".into(),
            realm: None,
        }
    }

    #[test]
    fn the_prefix_is_what_precedes_the_well_known_suffix() {
        assert_eq!(
            metadata_prefix("/auth/.well-known/oauth-authorization-server"),
            Some("/auth")
        );
        assert_eq!(
            metadata_prefix("/.well-known/oauth-authorization-server"),
            Some("")
        );
        assert_eq!(
            metadata_prefix("/auth/.well-known/openid-configuration"),
            None
        );
        assert_eq!(
            metadata_prefix("/auth/.well-known/oauth-authorization-server/x"),
            None
        );
    }

    #[test]
    fn a_token_endpoint_prefix_is_what_precedes_oauth2_token() {
        assert_eq!(token_endpoint_prefix("/auth/oauth2/token"), Some("/auth"));
        assert_eq!(token_endpoint_prefix("/auth/oauth2/token/"), Some("/auth"));
        assert_eq!(token_endpoint_prefix("/oauth2/token"), Some(""));
        assert_eq!(token_endpoint_prefix("/auth/oauth2/tokens"), None);
    }

    #[test]
    fn the_issuer_keeps_a_non_default_port_and_refuses_a_hostile_host() {
        assert_eq!(
            issuer(true, "api.example.com", Some(443), "/auth").as_deref(),
            Some("https://api.example.com/auth")
        );
        assert_eq!(
            issuer(true, "localhost", Some(8443), "/auth").as_deref(),
            Some("https://localhost:8443/auth")
        );
        assert_eq!(
            issuer(false, "localhost", Some(80), "").as_deref(),
            Some("http://localhost")
        );
        assert_eq!(issuer(true, "evil.com/x?", None, "/auth"), None);
        assert_eq!(issuer(true, "a b", None, "/auth"), None);
        assert_eq!(issuer(true, "", None, "/auth"), None);
        assert_eq!(issuer(true, "*.example.com", None, "/auth"), None);
    }

    #[test]
    fn the_document_lists_what_the_plugin_serves() {
        let doc: serde_json::Value =
            serde_json::from_slice(&metadata_document(&config(), "https://gw/auth")).expect("json");
        assert_eq!(doc["issuer"], "https://gw/auth");
        assert_eq!(doc["token_endpoint"], "https://gw/auth/oauth2/token");
        assert_eq!(
            doc["introspection_endpoint"],
            "https://gw/auth/oauth2/introspect"
        );
        assert_eq!(doc["revocation_endpoint"], "https://gw/auth/oauth2/revoke");
        assert_eq!(
            doc["revocation_endpoint_auth_methods_supported"],
            serde_json::json!(["client_secret_basic", "client_secret_post"])
        );
        assert_eq!(
            doc["grant_types_supported"],
            serde_json::json!(["client_credentials"])
        );
        assert_eq!(doc["response_types_supported"], serde_json::json!([]));
        assert_eq!(
            doc["scopes_supported"],
            serde_json::json!(["read", "write"])
        );

        let mut off = config();
        off.enable_client_credentials = false;
        off.scopes.clear();
        let doc: serde_json::Value =
            serde_json::from_slice(&metadata_document(&off, "https://gw")).expect("json");
        assert_eq!(doc["grant_types_supported"], serde_json::json!([]));
        assert!(doc.get("scopes_supported").is_none());
        assert!(
            doc.get("jwks_uri").is_none(),
            "opaque tokens: no keys to publish"
        );

        assert!(doc.get("authorization_endpoint").is_none());
        assert!(doc.get("code_challenge_methods_supported").is_none());
        assert_eq!(
            doc["token_endpoint_auth_methods_supported"],
            serde_json::json!(["client_secret_basic", "client_secret_post"])
        );

        let mut code = config();
        code.enable_authorization_code = true;
        let doc: serde_json::Value =
            serde_json::from_slice(&metadata_document(&code, "https://gw/auth")).expect("json");
        assert_eq!(
            doc["authorization_endpoint"],
            "https://gw/auth/oauth2/authorize"
        );
        assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
        assert_eq!(
            doc["grant_types_supported"],
            serde_json::json!(["client_credentials", "authorization_code"])
        );
        assert_eq!(
            doc["code_challenge_methods_supported"],
            serde_json::json!(["S256", "plain"])
        );
        assert_eq!(
            doc["token_endpoint_auth_methods_supported"],
            serde_json::json!(["client_secret_basic", "client_secret_post", "none"])
        );
        code.pkce = Pkce::Strict;
        let doc: serde_json::Value =
            serde_json::from_slice(&metadata_document(&code, "https://gw/auth")).expect("json");
        assert_eq!(
            doc["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );

        let mut jwt = config();
        jwt.token_format = TokenFormat::Jwt;
        let doc: serde_json::Value =
            serde_json::from_slice(&metadata_document(&jwt, "https://gw")).expect("json");
        assert_eq!(doc["jwks_uri"], "https://gw/.well-known/jwks.json");
    }
}
