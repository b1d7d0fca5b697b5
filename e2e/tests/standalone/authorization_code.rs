//! Kong's authorization code grant with PKCE through the shipped binary, on both server paths
//! (the HTTP/1 fast path and hyper's server for every request): a real client library
//! (Python's authlib) completes the flow as a web application does, the token reaches httpbin
//! with the user, every refusal has Kong's status and body, and a spent code stays spent across a
//! restart (the revocation store in the state directory).

use http::Method;
use tollgate_e2e::client::Response;
use tollgate_e2e::fixture::{
    Quickstart, Variant, access_token_of, assert_oauth_error, assert_status, echoed_headers,
    json_text,
};
use tollgate_e2e::quickstart;
use tollgate_e2e::wait::{clock_past, unix_now};

const PROVISION_KEY: &str = "0123456789abcdef0123456789abcdef";
const CALLBACK: &str = "https://app.example/cb";
const SPA_CALLBACK: &str = "http://127.0.0.1:9/spa/callback";

/// Five oauth2 plugins of the quickstart's namespace with the authorization code grant:
/// `/code` (`pkce: lax`), `/strict` (`pkce: strict`), `/brief` (codes live 1 s), `/reuse`
/// (`reuseRefreshToken`) and `/short` (refresh tokens live 1 s); a
/// confidential client `web` and a public client `spa` of the quickstart's consumer.
const CODE_PLUGINS: &str = "
apiVersion: v1
kind: Secret
metadata: {name: code-provision, labels: {tollgate.dev/secret: credential}}
stringData: {provision_key: 0123456789abcdef0123456789abcdef, web: web-secret}
---
apiVersion: tollgate.dev/v1alpha1
kind: OAuth2Credential
metadata: {name: web}
spec:
  consumerRef: {name: jane}
  clientId: web
  clientSecretRef: {name: code-provision, key: web}
  hashSecret: false
  redirectUris: [https://app.example/cb, https://app.example/other]
---
apiVersion: tollgate.dev/v1alpha1
kind: OAuth2Credential
metadata: {name: spa}
spec:
  consumerRef: {name: jane}
  clientId: spa
  clientType: public
  redirectUris: ['http://127.0.0.1:9/spa/callback']
---
apiVersion: tollgate.dev/v1alpha1
kind: AuthPlugin
metadata: {name: oauth2-code}
spec:
  type: oauth2
  oauth2:
    enableAuthorizationCode: true
    globalCredentials: true
    scopes: [read, write]
    provisionKeySecretRef: {name: code-provision, key: provision_key}
---
apiVersion: tollgate.dev/v1alpha1
kind: AuthPlugin
metadata: {name: oauth2-strict}
spec:
  type: oauth2
  oauth2:
    enableAuthorizationCode: true
    globalCredentials: true
    pkce: strict
    provisionKeySecretRef: {name: code-provision, key: provision_key}
---
apiVersion: tollgate.dev/v1alpha1
kind: AuthPlugin
metadata: {name: oauth2-brief}
spec:
  type: oauth2
  oauth2:
    enableAuthorizationCode: true
    globalCredentials: true
    authorizationCodeTtl: 1
    provisionKeySecretRef: {name: code-provision, key: provision_key}
---
apiVersion: tollgate.dev/v1alpha1
kind: AuthPlugin
metadata: {name: oauth2-reuse}
spec:
  type: oauth2
  oauth2:
    enableAuthorizationCode: true
    globalCredentials: true
    reuseRefreshToken: true
    provisionKeySecretRef: {name: code-provision, key: provision_key}
---
apiVersion: tollgate.dev/v1alpha1
kind: AuthPlugin
metadata: {name: oauth2-short}
spec:
  type: oauth2
  oauth2:
    enableAuthorizationCode: true
    globalCredentials: true
    refreshTokenTtl: 1
    provisionKeySecretRef: {name: code-provision, key: provision_key}
---
apiVersion: tollgate.dev/v1alpha1
kind: GatewayRoute
metadata: {name: reuse}
spec: {paths: [/reuse], plugins: [oauth2-reuse]}
---
apiVersion: tollgate.dev/v1alpha1
kind: GatewayRoute
metadata: {name: short}
spec: {paths: [/short], plugins: [oauth2-short]}
---
apiVersion: tollgate.dev/v1alpha1
kind: GatewayRoute
metadata: {name: code}
spec: {paths: [/code], plugins: [oauth2-code]}
---
apiVersion: tollgate.dev/v1alpha1
kind: GatewayRoute
metadata: {name: strict}
spec: {paths: [/strict], plugins: [oauth2-strict]}
---
apiVersion: tollgate.dev/v1alpha1
kind: GatewayRoute
metadata: {name: brief}
spec: {paths: [/brief], plugins: [oauth2-brief]}
";

async fn start(name: &str, fast_path: bool) -> Quickstart {
    let args = [
        "--http1-fast-path",
        if fast_path { "true" } else { "false" },
    ];
    Quickstart::start_variant(
        &format!("{name}-{fast_path}"),
        Variant {
            gateway_args: &args,
            extra_manifests: &[("05-code.yaml", CODE_PLUGINS)],
            ..Variant::default()
        },
    )
    .await
}

/// A form `POST` over HTTPS.
async fn post(qs: &Quickstart, path: &str, body: &str) -> Response {
    qs.client
        .send(
            Method::POST,
            &qs.gateway.https_url(path),
            &[("content-type", "application/x-www-form-urlencoded")],
            bytes::Bytes::from(body.to_owned()),
        )
        .await
        .expect("request completes")
}

/// The query of the `redirect_uri` an authorization endpoint answered, as pairs.
fn redirect_query(response: &Response) -> Vec<(String, String)> {
    let json = response.json();
    let uri = json["redirect_uri"]
        .as_str()
        .unwrap_or_else(|| panic!("a redirect_uri: {}", response.describe()));
    let query = uri.split_once('?').map_or("", |(_, q)| q);
    form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Runs e2e/clients/oauth_client.py's authorization code flow (authlib) at `prefix`.
async fn run_code_client(
    qs: &Quickstart,
    prefix: &str,
    client: (&str, &str),
    redirect_uri: &str,
    user: &str,
) -> serde_json::Value {
    let metadata_url = qs
        .gateway
        .https_url(&format!("{prefix}/.well-known/oauth-authorization-server"));
    let args: Vec<String> = vec![
        "authorization-code".into(),
        metadata_url,
        super::gateway_ca(qs),
        client.0.into(),
        client.1.into(),
        redirect_uri.into(),
        PROVISION_KEY.into(),
        user.into(),
        "read write".into(),
    ];
    super::oauth_client(qs, args).await
}

/// authlib builds the authorization request (state, S256 challenge), the application's backend
/// posts it with the provision key, the client exchanges the code with its verifier; the token
/// reaches httpbin with the user and the scope; the same code presented again is refused. For
/// a confidential and a public client, on both server paths.
#[tokio::test]
async fn a_real_client_completes_the_authorization_code_grant_with_pkce_on_both_server_paths() {
    for fast_path in [true, false] {
        let qs = start("authorization-code", fast_path).await;
        for (client, redirect_uri, user) in [
            (("web", "web-secret"), CALLBACK, "alice"),
            (("spa", "-"), SPA_CALLBACK, "bob"),
        ] {
            let what = format!("fast path {fast_path}, client {}", client.0);
            let seen = run_code_client(&qs, "/code", client, redirect_uri, user).await;
            let issuer = qs.gateway.https_url("/code");
            let metadata = &seen["metadata"];
            assert_eq!(
                metadata["authorization_endpoint"],
                format!("{issuer}/oauth2/authorize"),
                "{what}: {seen}"
            );
            assert_eq!(
                metadata["response_types_supported"],
                serde_json::json!(["code"])
            );
            assert_eq!(
                metadata["code_challenge_methods_supported"],
                serde_json::json!(["S256", "plain"])
            );
            let asked = &seen["authorization_request"];
            assert_eq!(asked["code_challenge_method"], "S256", "{what}: {seen}");
            assert_eq!(asked["response_type"], "code", "{what}: {seen}");
            let callback = seen["callback"].as_str().expect("callback");
            assert!(
                callback.starts_with(&format!("{redirect_uri}?code=")),
                "{what}: {callback}"
            );
            assert_eq!(seen["state_matches"], true, "{what}: {seen}");
            let token = &seen["token"];
            assert_eq!(token["token_type"], "bearer", "{what}: {seen}");
            assert_eq!(token["scope"], "read write", "{what}: {seen}");
            assert_eq!(
                seen["replay"],
                serde_json::json!({"error": "invalid_grant", "error_description": "Invalid code"}),
                "{what}: the code is single use"
            );
            // authlib's refresh: a rotation, then reuse of the spent token revokes the family.
            let first_refresh = token["refresh_token"].as_str().expect("a refresh token");
            let refresh = &seen["refresh"];
            let rotated = &refresh["rotated"];
            assert_eq!(rotated["token_type"], "bearer", "{what}: {seen}");
            assert_eq!(rotated["scope"], "read write", "{what}: {seen}");
            let newest = rotated["refresh_token"].as_str().expect("rotated");
            assert_ne!(newest, first_refresh, "{what}: a new refresh token");
            let invalid = serde_json::json!({
                "error": "invalid_request", "error_description": "Invalid refresh_token"
            });
            assert_eq!(refresh["reuse"], invalid, "{what}: the spent token");
            assert_eq!(
                refresh["newest_after_reuse"], invalid,
                "{what}: the family is revoked"
            );
            let refreshed = rotated["access_token"].as_str().expect("access token");
            let upstream = qs.call_upstream(Some(refreshed)).await;
            assert_status(&upstream, 200, &what);
            assert_eq!(
                echoed_headers(&upstream.json())
                    .get("x-authenticated-userid")
                    .map(String::as_str),
                Some(user),
                "{what}: the refreshed token keeps the user"
            );

            let access_token = token["access_token"].as_str().expect("access token");
            let upstream = qs.call_upstream(Some(access_token)).await;
            assert_status(&upstream, 200, &what);
            let headers = echoed_headers(&upstream.json());
            assert_eq!(
                headers.get("x-authenticated-userid").map(String::as_str),
                Some(user),
                "{what}: {headers:?}"
            );
            assert_eq!(
                headers.get("x-authenticated-scope").map(String::as_str),
                Some("read write"),
                "{what}: {headers:?}"
            );
            assert_eq!(
                headers.get("x-credential-identifier").map(String::as_str),
                Some(client.0),
                "{what}: {headers:?}"
            );
            assert_eq!(
                headers.get("x-consumer-username").map(String::as_str),
                Some(quickstart::USERNAME),
                "{what}: {headers:?}"
            );
        }
    }
}

const VERIFIER: &str = "dBjftJeZ4CVP-mJ92K27uhbUJU1p1r_wW1gFWFOEjXk";
/// BASE64URL(SHA-256) of [`VERIFIER`].
const S256: &str = "ngF5GsXcbwljx6u133FFr3Xht9xooA_DuaX_3QwODtc";

/// The backend's authorization request for the confidential client `web`, plus `extra`.
fn authorize_body(extra: &str) -> String {
    format!(
        "provision_key={PROVISION_KEY}&authenticated_userid=alice&client_id=web\
         &response_type=code&state=s1{extra}"
    )
}

/// A code from `prefix`'s authorization endpoint for `web`, with `extra` parameters.
async fn code(qs: &Quickstart, prefix: &str, extra: &str) -> String {
    let issued = post(
        qs,
        &format!("{prefix}/oauth2/authorize"),
        &authorize_body(extra),
    )
    .await;
    assert_status(&issued, 200, "issued");
    let query = redirect_query(&issued);
    assert_eq!(param(&query, "state"), Some("s1"));
    param(&query, "code").expect("a code").to_owned()
}

fn exchange_body(code: &str, extra: &str) -> String {
    format!(
        "grant_type=authorization_code&client_id=web&client_secret=web-secret&code={code}{extra}"
    )
}

/// Kong's refusal of a code: expired, spent, another plugin's or client's, or not a code.
fn assert_invalid_code(response: &Response, what: &str) {
    assert_oauth_error(response, 400, "invalid_grant", "Invalid code", what);
}

/// Kong's refusal of a client that does not authenticate.
fn assert_invalid_client(response: &Response, what: &str) {
    let description = "Invalid client authentication";
    assert_oauth_error(response, 400, "invalid_client", description, what);
}

/// Kong's refusal of a refresh token (it says `invalid_request`, not `invalid_grant`).
fn assert_invalid_refresh_token(response: &Response, what: &str) {
    let description = "Invalid refresh_token";
    assert_oauth_error(response, 400, "invalid_request", description, what);
}

/// Every refusal of the authorization endpoint and of the code exchange, with Kong's status and
/// body, on both server paths: a wrong provision key and an unknown client (plain errors), a
/// redirect URI that is not registered (the error goes to the first registered one), `plain`
/// and no challenge under `pkce: strict`, a missing or wrong verifier (neither spends the
/// code), a code used twice, an expired code, a code of another plugin.
#[tokio::test]
async fn the_authorization_endpoint_and_the_code_exchange_refuse_with_kongs_errors() {
    for fast_path in [true, false] {
        let qs = start("authorization-code-errors", fast_path).await;
        let at = |what: &str| format!("fast path {fast_path}: {what}");

        let refused = post(
            &qs,
            "/code/oauth2/authorize",
            &authorize_body("").replace(PROVISION_KEY, "guess"),
        )
        .await;
        let what = at("wrong provision key");
        assert_oauth_error(
            &refused,
            400,
            "invalid_provision_key",
            "Invalid provision_key",
            &what,
        );
        let refused = post(
            &qs,
            "/code/oauth2/authorize",
            &authorize_body("").replace("client_id=web", "client_id=nobody"),
        )
        .await;
        assert_invalid_client(&refused, &at("unknown client"));
        let refused = post(&qs, "/code/oauth2/authorize", "response_type=code").await;
        let what = at("no provision key");
        assert_oauth_error(
            &refused,
            400,
            "invalid_provision_key",
            "Invalid provision_key",
            &what,
        );

        // Once the client is known, an error goes to its redirect URI, with the state.
        for (prefix, extra, to, description) in [
            (
                "/code",
                "&redirect_uri=https%3A%2F%2Fevil.example%2Fcb",
                CALLBACK,
                "Invalid redirect_uri that does not match with any redirect_uri created with the application",
            ),
            (
                "/code",
                "&redirect_uri=https%3A%2F%2Fapp.example%2Fcb%2F",
                CALLBACK,
                "Invalid redirect_uri that does not match with any redirect_uri created with the application",
            ),
            (
                "/strict",
                &format!("&code_challenge={VERIFIER}&code_challenge_method=plain"),
                CALLBACK,
                "code_challenge_method is not supported, must be S256",
            ),
            (
                "/strict",
                "&redirect_uri=https%3A%2F%2Fapp.example%2Fother",
                "https://app.example/other",
                "code_challenge is required for confidential clients",
            ),
        ] {
            let what = at(&format!("{prefix} {extra}"));
            let refused = post(
                &qs,
                &format!("{prefix}/oauth2/authorize"),
                &authorize_body(extra),
            )
            .await;
            assert_status(&refused, 400, &what);
            let uri = refused.json()["redirect_uri"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            assert!(uri.starts_with(&format!("{to}?")), "{what}: {uri}");
            let query = redirect_query(&refused);
            assert_eq!(param(&query, "error"), Some("invalid_request"), "{what}");
            assert_eq!(
                param(&query, "error_description"),
                Some(description),
                "{what}"
            );
            assert_eq!(param(&query, "state"), Some("s1"), "{what}");
            assert_eq!(param(&query, "code"), None, "{what}");
        }

        // Strict PKCE: no verifier, a wrong one, then the right one; then the code is spent.
        let strict = code(
            &qs,
            "/strict",
            &format!("&code_challenge={S256}&code_challenge_method=S256"),
        )
        .await;
        let token_at = "/strict/oauth2/token";
        let refused = post(&qs, token_at, &exchange_body(&strict, "")).await;
        let what = at("no verifier");
        let description = "code_verifier is required for PKCE authorization requests";
        assert_oauth_error(&refused, 400, "invalid_request", description, &what);
        let wrong = format!("&code_verifier={}", "w".repeat(43));
        let refused = post(&qs, token_at, &exchange_body(&strict, &wrong)).await;
        assert_invalid_code(&refused, &at("wrong verifier"));
        let right = format!("&code_verifier={VERIFIER}");
        let issued = post(&qs, token_at, &exchange_body(&strict, &right)).await;
        assert_status(&issued, 200, "issued");
        let token = access_token_of(&issued);
        let upstream = qs.call_upstream(Some(&token)).await;
        assert_status(&upstream, 200, "upstream");
        let refused = post(&qs, token_at, &exchange_body(&strict, &right)).await;
        assert_invalid_code(&refused, &at("used twice"));

        // A code is redeemed only at the plugin that issued it, to the client it names.
        let lax = code(&qs, "/code", "").await;
        let refused = post(&qs, token_at, &exchange_body(&lax, &right)).await;
        assert_invalid_code(&refused, &at("another plugin's"));
        let refused = post(&qs, "/code/oauth2/token", &exchange_body("not-a-code", "")).await;
        assert_invalid_code(&refused, &at("not a code"));
        let refused = post(
            &qs,
            "/code/oauth2/token",
            &exchange_body(&lax, "").replace("client_secret=web-secret", "client_secret=guess"),
        )
        .await;
        assert_invalid_client(&refused, &at("wrong secret"));
        let issued = post(&qs, "/code/oauth2/token", &exchange_body(&lax, "")).await;
        assert_status(&issued, 200, "issued");

        // An expired code: `/brief` codes live one second; wait until the clock has passed it.
        let brief = code(&qs, "/brief", "").await;
        clock_past(unix_now() + 1).await;
        let refused = post(&qs, "/brief/oauth2/token", &exchange_body(&brief, "")).await;
        assert_invalid_code(&refused, &at("expired"));
    }
}

/// Standalone mode keeps the revocation store, redeemed codes included, in its state directory:
/// a code spent before a restart stays spent after it, while an unspent one of the same run
/// still works (the keys are kept too).
#[tokio::test]
async fn a_code_spent_before_a_restart_stays_spent_after_it() {
    let mut qs = start("authorization-code-restart", true).await;
    let spent = code(&qs, "/code", "").await;
    let kept = code(&qs, "/code", "").await;
    let issued = post(&qs, "/code/oauth2/token", &exchange_body(&spent, "")).await;
    assert_status(&issued, 200, "issued");
    qs.restart().await;
    let refused = post(&qs, "/code/oauth2/token", &exchange_body(&spent, "")).await;
    assert_invalid_code(&refused, "spent before the restart");
    let issued = post(&qs, "/code/oauth2/token", &exchange_body(&kept, "")).await;
    assert_status(&issued, 200, "issued");
}

/// A refresh request for `web` (or `client`'s own authentication) at `prefix`.
async fn refresh_at(qs: &Quickstart, prefix: &str, client: &str, refresh_token: &str) -> Response {
    post(
        qs,
        &format!("{prefix}/oauth2/token"),
        &format!("grant_type=refresh_token&{client}&refresh_token={refresh_token}"),
    )
    .await
}

const WEB: &str = "client_id=web&client_secret=web-secret";

/// The refresh token a code exchange at `prefix` answered, with its access token.
async fn exchanged(qs: &Quickstart, prefix: &str) -> (String, String) {
    let code = code(qs, prefix, "").await;
    let issued = post(
        qs,
        &format!("{prefix}/oauth2/token"),
        &exchange_body(&code, ""),
    )
    .await;
    assert_status(&issued, 200, "issued");
    (
        access_token_of(&issued),
        json_text(&issued, "refresh_token"),
    )
}

/// The refresh token grant by hand, on both server paths: a rotation answers Kong's body and a
/// new refresh token; another client, a wrong secret, no token and a made-up one are refused
/// with Kong's errors (and spend nothing); the spent token presented again revokes its family,
/// so the newest token is refused too; a token works only at the plugin that issued it;
/// a refresh token revoked at `…/oauth2/revoke` is refused; `reuseRefreshToken` answers the same
/// token each time; an expired token is refused; client credentials get no refresh token.
#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_its_family() {
    for fast_path in [true, false] {
        let qs = start("refresh", fast_path).await;
        let at = |what: &str| format!("fast path {fast_path}: {what}");

        let (_, first) = exchanged(&qs, "/code").await;
        let rotated = refresh_at(&qs, "/code", WEB, &first).await;
        assert_status(&rotated, 200, "rotated");
        assert_eq!(rotated.header("cache-control"), Some("no-store"));
        let body = rotated.json();
        let mut keys: Vec<&str> = body
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["access_token", "expires_in", "refresh_token", "token_type"],
            "{}",
            at("Kong's fields")
        );
        assert_eq!(body["token_type"], "bearer");
        assert_eq!(body["expires_in"], 7200);
        let second = json_text(&rotated, "refresh_token");
        assert_ne!(second, first, "{}", at("rotated"));
        let access = access_token_of(&rotated);
        let upstream = qs.call_upstream(Some(&access)).await;
        assert_status(&upstream, 200, "upstream");

        // Refusals that spend nothing.
        let refused = refresh_at(&qs, "/code", "client_id=spa", &second).await;
        assert_invalid_client(&refused, &at("another client"));
        let refused = refresh_at(&qs, "/code", "client_id=web&client_secret=guess", &second).await;
        assert_invalid_client(&refused, &at("a wrong secret"));
        let refused = refresh_at(&qs, "/code", WEB, "made-up").await;
        assert_invalid_refresh_token(&refused, &at("made up"));
        let refused = post(
            &qs,
            "/code/oauth2/token",
            &format!("grant_type=refresh_token&{WEB}"),
        )
        .await;
        assert_invalid_refresh_token(&refused, &at("no token"));
        let refused = refresh_at(&qs, "/reuse", WEB, &second).await;
        assert_invalid_refresh_token(&refused, &at("another plugin"));

        // The second token still works (nothing above spent it); its successor is the newest.
        let third = refresh_at(&qs, "/code", WEB, &second).await;
        assert_status(&third, 200, "the second token's rotation");
        let third = json_text(&third, "refresh_token");

        // Reuse: the spent first token comes back. The family is revoked: the newest too.
        let refused = refresh_at(&qs, "/code", WEB, &first).await;
        assert_invalid_refresh_token(&refused, &at("reuse"));
        let refused = refresh_at(&qs, "/code", WEB, &third).await;
        assert_invalid_refresh_token(&refused, &at("newest after reuse"));
        // Another family of the same client is untouched.
        let (_, other) = exchanged(&qs, "/code").await;
        let fine = refresh_at(&qs, "/code", WEB, &other).await;
        assert_status(&fine, 200, &at("fine"));
        // RFC 7009: revoking a refresh token revokes its family.
        let other = json_text(&fine, "refresh_token");
        let revoked = post(
            &qs,
            "/code/oauth2/revoke",
            &format!("{WEB}&token={other}&token_type_hint=refresh_token"),
        )
        .await;
        assert_status(&revoked, 200, &at("revoked"));
        let refused = refresh_at(&qs, "/code", WEB, &other).await;
        assert_invalid_refresh_token(&refused, &at("revoked"));

        // reuseRefreshToken: the same token, every time.
        let (_, kept) = exchanged(&qs, "/reuse").await;
        for round in 0..2 {
            let again = refresh_at(&qs, "/reuse", WEB, &kept).await;
            assert_status(&again, 200, "reuseRefreshToken");
            assert_eq!(
                again.json()["refresh_token"].as_str(),
                Some(kept.as_str()),
                "{}",
                at(&format!("round {round}"))
            );
        }

        // Expiry: `/short` refresh tokens live one second; wait until the clock has passed it.
        let (_, short) = exchanged(&qs, "/short").await;
        clock_past(unix_now() + 1).await;
        let refused = refresh_at(&qs, "/short", WEB, &short).await;
        assert_invalid_refresh_token(&refused, &at("expired"));

        // Client credentials: no refresh token (RFC 6749 §4.4.3).
        let cc = qs.request_token(quickstart::CLIENT_SECRET).await;
        assert_status(&cc, 200, "client credentials");
        assert!(
            cc.json().get("refresh_token").is_none(),
            "{}",
            cc.describe()
        );
    }
}
