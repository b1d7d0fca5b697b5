//! Kong's authorization code grant with PKCE through the shipped binary, on both server paths
//! (the HTTP/1 fast path and hyper's server for every request): a real client library
//! (Python's authlib) completes the flow as a web application does, the token reaches httpbin
//! with the user, every refusal has Kong's status and body, and a spent code stays spent across a
//! restart (the revocation store in the state directory).

use http::Method;
use tollgate_e2e::client::Response;
use tollgate_e2e::fixture::{Quickstart, Variant, access_token_of, echoed_headers};
use tollgate_e2e::quickstart;
use tollgate_e2e::wait::wait_until;

const PROVISION_KEY: &str = "0123456789abcdef0123456789abcdef";
const CALLBACK: &str = "https://app.example/cb";
const SPA_CALLBACK: &str = "http://127.0.0.1:9/spa/callback";

/// Three oauth2 plugins of the quickstart's namespace with the authorization code grant:
/// `/code` (`pkce: lax`), `/strict` (`pkce: strict`) and `/brief` (codes live 1 s); a
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
    let ca = qs
        .gateway
        .certificate_path()
        .expect("the gateway's certificate");
    let script = tollgate_e2e::paths::repo_root().join("e2e/clients/oauth_client.py");
    let python = tollgate_e2e::paths::python().expect("python");
    let metadata_url = qs
        .gateway
        .https_url(&format!("{prefix}/.well-known/oauth-authorization-server"));
    let args: Vec<String> = vec![
        "authorization-code".into(),
        metadata_url,
        ca.display().to_string(),
        client.0.into(),
        client.1.into(),
        redirect_uri.into(),
        PROVISION_KEY.into(),
        user.into(),
        "read write".into(),
    ];
    // Every request of the script has a 10 s timeout, so it ends on its own.
    let run = move || {
        std::process::Command::new(python)
            .arg(script)
            .args(args)
            .output()
    };
    let output = tokio::task::spawn_blocking(run)
        .await
        .expect("the client's thread")
        .expect("the client runs");
    assert!(
        output.status.success(),
        "authlib client failed: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        qs.gateway_log()
    );
    serde_json::from_slice(&output.stdout).expect("json")
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

            let access_token = token["access_token"].as_str().expect("access token");
            let upstream = qs.call_upstream(Some(access_token)).await;
            assert_eq!(upstream.status, 200, "{what}: {}", upstream.describe());
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
    assert_eq!(issued.status, 200, "{}", issued.describe());
    let query = redirect_query(&issued);
    assert_eq!(param(&query, "state"), Some("s1"));
    param(&query, "code").expect("a code").to_owned()
}

fn exchange_body(code: &str, extra: &str) -> String {
    format!(
        "grant_type=authorization_code&client_id=web&client_secret=web-secret&code={code}{extra}"
    )
}

fn assert_error(response: &Response, status: u16, error: &str, description: &str, what: &str) {
    assert_eq!(response.status, status, "{what}: {}", response.describe());
    assert_eq!(
        response.json(),
        serde_json::json!({"error": error, "error_description": description}),
        "{what}"
    );
    assert_eq!(
        response.header("cache-control"),
        Some("no-store"),
        "{what}: {}",
        response.describe()
    );
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
        assert_error(
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
        let what = at("unknown client");
        assert_error(
            &refused,
            400,
            "invalid_client",
            "Invalid client authentication",
            &what,
        );
        let refused = post(&qs, "/code/oauth2/authorize", "response_type=code").await;
        let what = at("no provision key");
        assert_error(
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
            assert_eq!(refused.status, 400, "{what}: {}", refused.describe());
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
        assert_error(&refused, 400, "invalid_request", description, &what);
        let wrong = format!("&code_verifier={}", "w".repeat(43));
        let refused = post(&qs, token_at, &exchange_body(&strict, &wrong)).await;
        assert_error(
            &refused,
            400,
            "invalid_grant",
            "Invalid code",
            &at("wrong verifier"),
        );
        let right = format!("&code_verifier={VERIFIER}");
        let issued = post(&qs, token_at, &exchange_body(&strict, &right)).await;
        assert_eq!(issued.status, 200, "{}", issued.describe());
        let token = access_token_of(&issued);
        let upstream = qs.call_upstream(Some(&token)).await;
        assert_eq!(upstream.status, 200, "{}", upstream.describe());
        let refused = post(&qs, token_at, &exchange_body(&strict, &right)).await;
        assert_error(
            &refused,
            400,
            "invalid_grant",
            "Invalid code",
            &at("used twice"),
        );

        // A code is redeemed only at the plugin that issued it, to the client it names.
        let lax = code(&qs, "/code", "").await;
        let refused = post(&qs, token_at, &exchange_body(&lax, &right)).await;
        assert_error(
            &refused,
            400,
            "invalid_grant",
            "Invalid code",
            &at("another plugin's"),
        );
        let refused = post(&qs, "/code/oauth2/token", &exchange_body("not-a-code", "")).await;
        assert_error(
            &refused,
            400,
            "invalid_grant",
            "Invalid code",
            &at("not a code"),
        );
        let refused = post(
            &qs,
            "/code/oauth2/token",
            &exchange_body(&lax, "").replace("client_secret=web-secret", "client_secret=guess"),
        )
        .await;
        let what = at("wrong secret");
        assert_error(
            &refused,
            400,
            "invalid_client",
            "Invalid client authentication",
            &what,
        );
        let issued = post(&qs, "/code/oauth2/token", &exchange_body(&lax, "")).await;
        assert_eq!(issued.status, 200, "{}", issued.describe());

        // An expired code: `/brief` codes live one second; wait until the clock has passed it.
        let brief = code(&qs, "/brief", "").await;
        let issued_by = unix_now();
        wait_until(
            std::time::Duration::from_secs(10),
            "the brief code's lifetime to pass",
            || async move {
                if unix_now() > issued_by + 1 {
                    Ok(())
                } else {
                    Err("not yet".to_owned())
                }
            },
        )
        .await
        .expect("the clock moves");
        let refused = post(&qs, "/brief/oauth2/token", &exchange_body(&brief, "")).await;
        assert_error(
            &refused,
            400,
            "invalid_grant",
            "Invalid code",
            &at("expired"),
        );
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
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
    assert_eq!(issued.status, 200, "{}", issued.describe());
    qs.restart().await;
    let refused = post(&qs, "/code/oauth2/token", &exchange_body(&spent, "")).await;
    assert_error(
        &refused,
        400,
        "invalid_grant",
        "Invalid code",
        "spent before the restart",
    );
    let issued = post(&qs, "/code/oauth2/token", &exchange_body(&kept, "")).await;
    assert_eq!(issued.status, 200, "{}", issued.describe());
}
