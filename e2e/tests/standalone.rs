//! End to end, standalone mode: the real `tollgate-controller standalone` binary serving the
//! quickstart manifests (copied to a temp dir, upstream pointed at a real httpbin), driven over
//! real sockets. Each test starts its own gateway, so tests that edit manifests or restart the
//! gateway cannot disturb the others.
//!
//! Needs the binaries built (`cargo build --workspace --bins`) and httpbin + gunicorn in
//! `.venv` (or `TOLLGATE_PYTHON`); `scripts/test.sh` does both.

use http::Method;
use tollgate_e2e::fixture::{
    Quickstart, Variant, access_token_of, assert_invalid_token, echoed_headers, tamper,
};
use tollgate_e2e::quickstart;
use tollgate_e2e::raw::{build_request, raw_http1};
use tollgate_e2e::wait::{RELOAD, wait_for_status, wait_until};

#[path = "standalone/authorization_code.rs"]
mod authorization_code;

#[path = "standalone/gateway_api.rs"]
mod gateway_api;
#[path = "standalone/gateway_conformance.rs"]
mod gateway_conformance;

#[path = "standalone/https_listeners.rs"]
mod https_listeners;
#[path = "standalone/ingress.rs"]
mod ingress;

#[path = "standalone/own_jwt.rs"]
mod own_jwt;
#[path = "standalone/rate_limit.rs"]
mod rate_limit;
#[path = "standalone/revocation.rs"]
mod revocation;
#[path = "standalone/rotation.rs"]
mod rotation;
#[path = "standalone/support.rs"]
mod support;

#[tokio::test]
async fn a_token_from_a_form_over_https_reaches_the_upstream_with_the_consumer_headers() {
    let qs = Quickstart::start("token-form").await;
    let response = qs.request_token(quickstart::CLIENT_SECRET).await;
    assert_eq!(response.status, 200, "{}", response.describe());
    assert_eq!(response.header("cache-control"), Some("no-store"));
    assert_eq!(response.header("pragma"), Some("no-cache"));
    let body = response.json();
    assert!(
        body["token_type"]
            .as_str()
            .is_some_and(|t| t.eq_ignore_ascii_case("bearer"))
    );
    assert_eq!(body["expires_in"], 7200, "{body}");
    assert!(body.get("refresh_token").is_none(), "{body}");
    let token = access_token_of(&response);

    let upstream = qs.call_upstream(Some(&token)).await;
    assert_eq!(upstream.status, 200, "{}", upstream.describe());
    let seen = echoed_headers(&upstream.json());
    assert_eq!(seen.get("authorization"), Some(&format!("Bearer {token}")));
    let consumer_id = seen
        .get("x-consumer-id")
        .expect("X-Consumer-Id reached the upstream");
    assert!(uuid::Uuid::parse_str(consumer_id).is_ok(), "{consumer_id}");
    assert_eq!(consumer_id, &qs.expected_consumer_id());
    assert_eq!(
        seen.get("x-consumer-username").map(String::as_str),
        Some(quickstart::USERNAME)
    );
    assert_eq!(
        seen.get("x-credential-identifier").map(String::as_str),
        Some(quickstart::CLIENT_ID)
    );
}

#[tokio::test]
async fn a_token_from_a_json_body_over_http2_is_accepted_by_the_upstream_route() {
    let qs = Quickstart::start("token-json-h2").await;
    let body = serde_json::json!({
        "client_id": quickstart::CLIENT_ID,
        "client_secret": quickstart::CLIENT_SECRET,
        "grant_type": "client_credentials",
    });
    let h2 = qs.client.clone().http2();
    let response = h2
        .post_json(&qs.gateway.token_url(), &body)
        .await
        .expect("token request");
    assert_eq!(response.version, http::Version::HTTP_2);
    assert_eq!(response.status, 200, "{}", response.describe());
    let token = access_token_of(&response);
    let upstream = qs.call_upstream(Some(&token)).await;
    assert_eq!(upstream.status, 200, "{}", upstream.describe());
    let seen = echoed_headers(&upstream.json());
    assert_eq!(
        seen.get("x-consumer-username").map(String::as_str),
        Some("jane")
    );
}

#[tokio::test]
async fn forged_identity_headers_in_any_case_and_repeated_never_reach_the_upstream() {
    let qs = Quickstart::start("forged-headers").await;
    let token = qs.access_token().await;
    let auth = format!("Bearer {token}");
    let forged = [
        ("X-Consumer-Id", "00000000-0000-0000-0000-000000000000"),
        ("x-consumer-id", "forged-again"),
        ("X-CONSUMER-USERNAME", "admin"),
        ("x-Consumer-Username", "root"),
        ("X-Consumer-Custom-Id", "evil"),
        ("X-Credential-Identifier", "someone-else"),
        ("x-anonymous-consumer", "true"),
        ("X-Authenticated-Scope", "admin"),
        ("x-authenticated-userid", "root"),
        ("Authorization", auth.as_str()),
    ];
    let request = build_request(
        &format!("GET {} HTTP/1.1", qs.upstream_path()),
        &qs.gateway.http_addr(),
        &forged,
        b"",
    );
    let response = raw_http1(&qs.gateway.http_addr(), &request)
        .await
        .expect("raw request");
    assert_eq!(response.status, 200, "{}", response.text());
    let seen = echoed_headers(&response.json());
    assert_eq!(
        seen.get("x-consumer-id"),
        Some(&qs.expected_consumer_id()),
        "{seen:?}"
    );
    assert_eq!(
        seen.get("x-consumer-username").map(String::as_str),
        Some("jane"),
        "{seen:?}"
    );
    assert_eq!(
        seen.get("x-credential-identifier").map(String::as_str),
        Some(quickstart::CLIENT_ID),
        "{seen:?}"
    );
    let custom_id = qs
        .manifests
        .find("Consumer", quickstart::CONSUMER)
        .expect("jane")
        .value["spec"]["customId"]
        .as_str()
        .map(str::to_owned);
    assert_eq!(
        seen.get("x-consumer-custom-id"),
        custom_id.as_ref(),
        "{seen:?}"
    );
    for removed in [
        "x-anonymous-consumer",
        "x-authenticated-scope",
        "x-authenticated-userid",
    ] {
        assert!(
            !seen.contains_key(removed),
            "{removed} reached the upstream: {seen:?}"
        );
    }

    // Without a token the forged headers are refused along with the request.
    let no_token = build_request(
        &format!("GET {} HTTP/1.1", qs.upstream_path()),
        &qs.gateway.http_addr(),
        &forged[..forged.len() - 1],
        b"",
    );
    let refused = raw_http1(&qs.gateway.http_addr(), &no_token)
        .await
        .expect("raw request");
    assert_eq!(refused.status, 401, "{}", refused.text());
}

#[tokio::test]
async fn a_tampered_token_is_refused_with_invalid_token() {
    let qs = Quickstart::start("tampered").await;
    let token = qs.access_token().await;
    let tampered = tamper(&token);
    assert_ne!(tampered, token);
    assert_invalid_token(&qs.call_upstream(Some(&tampered)).await);
    let truncated = &token[..token.len() - 4];
    assert_invalid_token(&qs.call_upstream(Some(truncated)).await);
    // The genuine token still works, so the refusals above were about the tampering.
    assert_eq!(qs.call_upstream(Some(&token)).await.status, 200);
}

#[tokio::test]
async fn a_request_without_a_token_gets_401_with_a_bearer_challenge_and_no_error_code() {
    let qs = Quickstart::start("missing-token").await;
    let response = qs.call_upstream(None).await;
    assert_eq!(response.status, 401, "{}", response.describe());
    let challenge = response.header("www-authenticate").unwrap_or_default();
    assert!(challenge.starts_with("Bearer"), "{}", response.describe());
    assert!(!challenge.contains("error="), "RFC 6750 §3: {challenge}");
}

#[tokio::test]
async fn the_token_endpoint_refuses_plain_http_with_access_denied() {
    let qs = Quickstart::start("plain-http-token").await;
    let response = qs
        .client
        .post_form(
            &qs.gateway.http_url(quickstart::TOKEN_PATH),
            &[
                ("client_id", quickstart::CLIENT_ID),
                ("client_secret", quickstart::CLIENT_SECRET),
                ("grant_type", "client_credentials"),
            ],
        )
        .await
        .expect("request completes");
    assert_eq!(response.status, 400, "{}", response.describe());
    let body = response.json();
    assert_eq!(body["error"], "access_denied", "{body}");
    assert_eq!(body["error_description"], "You must use HTTPS", "{body}");
    assert!(body.get("access_token").is_none());
    // And GET on the HTTPS endpoint is not a way around POST.
    let get = qs
        .client
        .send(
            Method::GET,
            &qs.gateway.token_url(),
            &[],
            bytes::Bytes::new(),
        )
        .await
        .expect("GET completes");
    assert_eq!(get.status, 405, "{}", get.describe());
    assert_eq!(get.json()["error"], "invalid_method");
}

#[tokio::test]
async fn a_token_stays_valid_after_the_gateway_restarts_with_the_same_state_dir() {
    let mut qs = Quickstart::start("restart").await;
    let token = qs.access_token().await;
    assert_eq!(qs.call_upstream(Some(&token)).await.status, 200);
    qs.restart().await;
    let after = qs.call_upstream(Some(&token)).await;
    assert_eq!(after.status, 200, "{}", after.describe());
    let seen = echoed_headers(&after.json());
    assert_eq!(seen.get("x-consumer-id"), Some(&qs.expected_consumer_id()));
}

#[tokio::test]
async fn editing_the_secret_makes_the_old_secret_fail_and_revokes_older_tokens() {
    let qs = Quickstart::start("rotate-secret").await;
    let old_token = qs.access_token().await;
    let credential = qs
        .manifests
        .credential_by_client_id(quickstart::CLIENT_ID)
        .expect("credential");
    let secret_ref = &credential.value["spec"]["clientSecretRef"];
    let (name, key) = (
        secret_ref["name"].as_str().expect("secret name"),
        secret_ref["key"].as_str().expect("secret key"),
    );
    qs.manifests
        .set_secret_value(name, key, "a-brand-new-secret")
        .expect("edit the Secret");

    let refused = wait_until(RELOAD, "the old secret to be refused", || async {
        let r = qs.request_token(quickstart::CLIENT_SECRET).await;
        if r.status == 200 {
            Err(r.describe())
        } else {
            Ok(r)
        }
    })
    .await
    .expect("old secret refused");
    assert_eq!(
        refused.json()["error"],
        "invalid_client",
        "{}",
        refused.describe()
    );
    assert_invalid_token(&qs.call_upstream(Some(&old_token)).await);

    // The old secret stops working as soon as the credential leaves the configuration; the new
    // one works once its verifier is hashed (in the background), which can take a moment more.
    let renewed = wait_for_status(RELOAD, "the new secret to be accepted", 200, || async {
        qs.request_token("a-brand-new-secret").await
    })
    .await
    .expect("new secret accepted");
    let new_token = access_token_of(&renewed);
    assert_eq!(qs.call_upstream(Some(&new_token)).await.status, 200);

    // Back to the first secret (A → B → A): it gets tokens again, but the tokens issued under
    // its first installation stay revoked, also across a restart.
    qs.manifests
        .set_secret_value(name, key, quickstart::CLIENT_SECRET)
        .expect("set the first secret back");
    wait_for_status(
        RELOAD,
        "the first secret to be accepted again",
        200,
        || async { qs.request_token(quickstart::CLIENT_SECRET).await },
    )
    .await
    .expect("first secret accepted again");
    assert_invalid_token(&qs.call_upstream(Some(&old_token)).await);
    assert_invalid_token(&qs.call_upstream(Some(&new_token)).await);
    let mut qs = qs;
    qs.restart().await;
    assert_invalid_token(&qs.call_upstream(Some(&old_token)).await);
}

#[tokio::test]
async fn deleting_the_credential_manifest_revokes_its_tokens() {
    let qs = Quickstart::start("delete-credential").await;
    let token = qs.access_token().await;
    assert_eq!(qs.call_upstream(Some(&token)).await.status, 200);
    let credential = qs
        .manifests
        .credential_by_client_id(quickstart::CLIENT_ID)
        .expect("credential");
    let written = serde_yaml_text(&credential.value);
    qs.manifests
        .remove_object("OAuth2Credential", credential.name())
        .expect("delete the credential");

    let refused = wait_for_status(
        RELOAD,
        "the credential's token to be refused",
        401,
        || async { qs.call_upstream(Some(&token)).await },
    )
    .await
    .expect("token revoked");
    assert_invalid_token(&refused);
    let token_request = qs.request_token(quickstart::CLIENT_SECRET).await;
    assert_eq!(
        token_request.json()["error"],
        "invalid_client",
        "{}",
        token_request.describe()
    );

    // Written again under the same name, with the same secret: a new credential to the gateway,
    // so the deleted one's token stays refused.
    qs.manifests
        .write_file("credential-again.yaml", &written)
        .expect("write the credential again");
    wait_for_status(RELOAD, "the credential to be served again", 200, || async {
        qs.request_token(quickstart::CLIENT_SECRET).await
    })
    .await
    .expect("credential served again");
    assert_invalid_token(&qs.call_upstream(Some(&token)).await);
}

/// A manifest document as text (JSON is YAML).
fn serde_yaml_text(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

#[tokio::test]
async fn a_broken_manifest_is_reported_by_file_and_line_and_everything_else_stays_served() {
    let qs = Quickstart::start("broken-manifest").await;
    let token = qs.access_token().await;

    // A new file that does not parse: the log names it and the line of the error.
    let broken = "apiVersion: tollgate.dev/v1alpha1\nkind: Consumer\nmetadata:\n  name: broken\n  labels: [unclosed\nspec: {}\n";
    let expected_line = yaml_error_line(broken);
    qs.manifests
        .write_file("zz-broken.yaml", broken)
        .expect("write");
    let line = wait_until(RELOAD, "the log to name zz-broken.yaml", || async {
        let log = qs.gateway_log();
        log.lines()
            .find(|l| l.contains("zz-broken.yaml"))
            .map(str::to_owned)
            .ok_or_else(|| "not yet".to_owned())
    })
    .await
    .expect("broken file reported");
    assert!(
        line.contains(&format!("line {expected_line}"))
            || line.contains(&format!(":{expected_line}:"))
            || line.contains(&format!("line={expected_line}")),
        "the log line does not give line {expected_line}: {line}"
    );
    assert_eq!(qs.call_upstream(Some(&token)).await.status, 200);
    let fresh = qs.access_token().await;
    assert_eq!(qs.call_upstream(Some(&fresh)).await.status, 200);

    // Breaking the credential's own file keeps its last good objects served.
    let credential = qs
        .manifests
        .credential_by_client_id(quickstart::CLIENT_ID)
        .expect("credential");
    let file_name = credential
        .file
        .file_name()
        .and_then(|n| n.to_str())
        .expect("file name")
        .to_owned();
    let original = qs.manifests.read_file(&file_name).expect("read");
    let mentions = || qs.gateway_log().matches(file_name.as_str()).count();
    let before = mentions();
    qs.manifests
        .write_file(&file_name, &format!("{original}\n---\nkind: [unclosed\n"))
        .expect("corrupt");
    wait_until(RELOAD, "the log to name the corrupted file", || async {
        let now = mentions();
        if now > before {
            Ok(())
        } else {
            Err(format!("{file_name} named {now} times, as before"))
        }
    })
    .await
    .expect("corrupted file reported");
    assert_eq!(qs.call_upstream(Some(&token)).await.status, 200);
    let still = qs.request_token(quickstart::CLIENT_SECRET).await;
    assert_eq!(still.status, 200, "{}", still.describe());
}

/// A route whose backend the proxy would refuse (`http://a!b/`) is left out with a reason, and
/// never freezes the configuration: a route added after it is served.
#[tokio::test]
async fn a_route_the_proxy_would_refuse_is_left_out_and_later_changes_still_apply() {
    let qs = Quickstart::start("refused-route").await;
    let route = |name: &str, path: &str, url: &str| {
        format!(
            "apiVersion: tollgate.dev/v1alpha1\nkind: GatewayRoute\nmetadata:\n  name: {name}\n\
             spec:\n  paths: [{path}]\n  backend:\n    url: \"{url}\"\n"
        )
    };
    qs.manifests
        .write_file("zz-bad-route.yaml", &route("bad", "/bad", "http://a!b/"))
        .expect("write");
    wait_until(RELOAD, "the log to give the bad route's reason", || async {
        let log = qs.gateway_log();
        log.lines()
            .find(|l| l.contains("default/bad") && l.contains("InvalidConfiguration"))
            .map(str::to_owned)
            .ok_or_else(|| "not yet".to_owned())
    })
    .await
    .expect("the bad route is reported");

    let upstream = qs.httpbin.base_url();
    qs.manifests
        .write_file("zz-later-route.yaml", &route("later", "/later", &upstream))
        .expect("write");
    let url = qs.gateway.http_url("/later/anything");
    let served = wait_until(RELOAD, "the later route to be served", || async {
        match qs.client.get(&url).await {
            Ok(r) if r.status == 200 => Ok(r),
            Ok(r) => Err(format!("status {}", r.status)),
            Err(e) => Err(e.to_string()),
        }
    })
    .await
    .expect("a route added after the bad one is served");
    assert_eq!(served.status, 200);
    let bad = qs
        .client
        .get(&qs.gateway.http_url("/bad/x"))
        .await
        .expect("answer");
    assert_ne!(bad.status, 200, "the bad route is not served");
    let token = qs.access_token().await;
    assert_eq!(qs.call_upstream(Some(&token)).await.status, 200);
}

/// The 1-based line the YAML parser reports for the first error in `text`.
fn yaml_error_line(text: &str) -> usize {
    let err = serde_saphyr::from_multiple::<serde_json::Value>(text)
        .expect_err("the text is broken YAML");
    let line = err.location().expect("a location").line();
    usize::try_from(line).expect("a line number")
}

/// One token-endpoint request of the table below.
struct TokenCase {
    name: &'static str,
    method: Method,
    /// Appended to the token endpoint's path.
    query: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
    status: u16,
    /// The `error` member, or `None` for a success.
    error: Option<&'static str>,
    /// The start of `WWW-Authenticate`, when one is required.
    challenge: Option<&'static str>,
}

const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");
const JSON: (&str, &str) = ("content-type", "application/json");
/// `client:secret` and `client:wrong`.
const BASIC_GOOD: (&str, &str) = ("authorization", "Basic Y2xpZW50OnNlY3JldA==");
const BASIC_BAD: (&str, &str) = ("authorization", "Basic Y2xpZW50Ondyb25n");
const CC: &str = "grant_type=client_credentials";
const GOOD_BODY: &str = "client_id=client&client_secret=secret&grant_type=client_credentials";

#[rustfmt::skip]
const TOKEN_CASES: &[TokenCase] = &[
    TokenCase { name: "form body", method: Method::POST, query: "", headers: &[FORM], body: GOOD_BODY, status: 200, error: None, challenge: None },
    TokenCase { name: "JSON body", method: Method::POST, query: "", headers: &[JSON], body: r#"{"client_id":"client","client_secret":"secret","grant_type":"client_credentials"}"#, status: 200, error: None, challenge: None },
    TokenCase { name: "HTTP Basic", method: Method::POST, query: "", headers: &[FORM, BASIC_GOOD], body: CC, status: 200, error: None, challenge: None },
    TokenCase { name: "GET", method: Method::GET, query: "", headers: &[], body: "", status: 405, error: Some("invalid_method"), challenge: Some("Bearer") },
    TokenCase { name: "wrong secret in the body", method: Method::POST, query: "", headers: &[FORM], body: "client_id=client&client_secret=wrong&grant_type=client_credentials", status: 400, error: Some("invalid_client"), challenge: None },
    TokenCase { name: "wrong secret with HTTP Basic", method: Method::POST, query: "", headers: &[FORM, BASIC_BAD], body: CC, status: 401, error: Some("invalid_client"), challenge: Some("Basic realm=\"OAuth2.0\"") },
    TokenCase { name: "unknown client_id", method: Method::POST, query: "", headers: &[FORM], body: "client_id=nobody&client_secret=secret&grant_type=client_credentials", status: 400, error: Some("invalid_client"), challenge: None },
    TokenCase { name: "no client authentication", method: Method::POST, query: "", headers: &[FORM], body: CC, status: 400, error: Some("invalid_client"), challenge: None },
    TokenCase { name: "missing grant_type", method: Method::POST, query: "", headers: &[FORM], body: "client_id=client&client_secret=secret", status: 400, error: Some("invalid_request"), challenge: None },
    TokenCase { name: "password grant", method: Method::POST, query: "", headers: &[FORM], body: "client_id=client&client_secret=secret&grant_type=password", status: 400, error: Some("unsupported_grant_type"), challenge: None },
    TokenCase { name: "scope not allowed", method: Method::POST, query: "", headers: &[FORM], body: "client_id=client&client_secret=secret&grant_type=client_credentials&scope=admin", status: 400, error: Some("invalid_scope"), challenge: None },
    TokenCase { name: "credentials in the query string", method: Method::POST, query: "?client_id=client&client_secret=secret", headers: &[FORM], body: CC, status: 400, error: Some("invalid_request"), challenge: None },
    TokenCase { name: "Basic and body credentials at once", method: Method::POST, query: "", headers: &[FORM, BASIC_GOOD], body: GOOD_BODY, status: 400, error: Some("invalid_request"), challenge: None },
    TokenCase { name: "repeated parameter", method: Method::POST, query: "", headers: &[FORM], body: "client_id=client&client_secret=secret&grant_type=client_credentials&grant_type=client_credentials", status: 400, error: Some("invalid_request"), challenge: None },
    TokenCase { name: "unsupported content type", method: Method::POST, query: "", headers: &[("content-type", "text/plain")], body: GOOD_BODY, status: 400, error: Some("invalid_request"), challenge: None },
    TokenCase { name: "malformed JSON", method: Method::POST, query: "", headers: &[JSON], body: r#"{"client_id":"#, status: 400, error: Some("invalid_request"), challenge: None },
];

#[tokio::test]
async fn the_token_endpoint_answers_every_case_of_the_readme_table() {
    let qs = Quickstart::start("token-endpoint-table").await;
    let mut failures = Vec::new();
    for case in TOKEN_CASES {
        let url = format!("{}{}", qs.gateway.token_url(), case.query);
        let response = qs
            .client
            .send(
                case.method.clone(),
                &url,
                case.headers,
                bytes::Bytes::from_static(case.body.as_bytes()),
            )
            .await
            .expect("request completes");
        let body = response.json();
        let challenge = response.header("www-authenticate");
        let ok = response.status == case.status
            && match case.error {
                Some(error) => body["error"] == error && body.get("access_token").is_none(),
                None => body["access_token"].as_str().is_some_and(|t| !t.is_empty()),
            }
            && case
                .challenge
                .is_none_or(|want| challenge.is_some_and(|got| got.starts_with(want)))
            && response.header("cache-control") == Some("no-store");
        if !ok {
            failures.push(format!("{}: {}", case.name, response.describe()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Tenant `team-b` of the namespace-boundary test: its own consumer, a credential with the
/// quickstart's client id (another secret), an oauth2 plugin issuing global tokens and a
/// protected route, on its own host; and a host-less route trying to sit under the quickstart's
/// token endpoint.
const TEAM_B: &str = "
apiVersion: v1
kind: Secret
metadata: {name: b-secret, namespace: team-b, labels: {tollgate.dev/secret: credential}}
stringData: {client_secret: team-b-secret}
---
apiVersion: tollgate.dev/v1alpha1
kind: Consumer
metadata: {name: bob, namespace: team-b}
spec: {username: jane}
---
apiVersion: tollgate.dev/v1alpha1
kind: OAuth2Credential
metadata: {name: b-app, namespace: team-b}
spec:
  consumerRef: {name: bob}
  clientId: client
  clientSecretRef: {name: b-secret, key: client_secret}
  hashSecret: false
---
apiVersion: tollgate.dev/v1alpha1
kind: AuthPlugin
metadata: {name: b-oauth2, namespace: team-b}
spec:
  type: oauth2
  oauth2: {enableClientCredentials: true, globalCredentials: true}
---
apiVersion: tollgate.dev/v1alpha1
kind: GatewayRoute
metadata: {name: b-api, namespace: team-b}
spec:
  hosts: [b.example.test]
  paths: [/]
  plugins: [b-oauth2]
  backend: {url: UPSTREAM}
---
apiVersion: tollgate.dev/v1alpha1
kind: GatewayRoute
metadata: {name: b-steal, namespace: team-b}
spec:
  paths: [/auth/oauth2]
  backend: {url: UPSTREAM}
";

#[tokio::test]
async fn a_namespace_is_a_tenant_boundary_for_client_ids_tokens_and_token_endpoints() {
    let qs = Quickstart::start_variant(
        "tenants",
        Variant {
            extra_manifests: &[("team-b.yaml", TEAM_B)],
            ..Variant::default()
        },
    )
    .await;
    let b_token_url = qs.gateway.https_url("/oauth2/token");
    let b_host = [("host", "b.example.test")];
    let b_token = |secret: &'static str| {
        let body = format!("grant_type=client_credentials&client_id=client&client_secret={secret}");
        let (client, url) = (&qs.client, b_token_url.clone());
        async move {
            client
                .send(
                    Method::POST,
                    &url,
                    &[
                        b_host[0],
                        ("content-type", "application/x-www-form-urlencoded"),
                    ],
                    bytes::Bytes::from(body),
                )
                .await
                .expect("token request completes")
        }
    };
    // The same client id in two namespaces: each plugin finds its own namespace's credential.
    let b = b_token("team-b-secret").await;
    assert_eq!(b.status, 200, "{}", b.describe());
    let b_access = access_token_of(&b);
    assert_eq!(
        b_token(quickstart::CLIENT_SECRET).await.json()["error"],
        "invalid_client"
    );
    let refused = qs.request_token("team-b-secret").await;
    assert_eq!(
        refused.json()["error"],
        "invalid_client",
        "{}",
        refused.describe()
    );
    let own = qs.access_token().await;

    // A global token of team-b is not accepted by the default namespace's plugin, and the other
    // way round; each works at home.
    assert_invalid_token(&qs.call_upstream(Some(&b_access)).await);
    let at_b = |token: String| {
        let url = qs.gateway.http_url("/anything");
        let client = &qs.client;
        async move {
            let auth = format!("Bearer {token}");
            client
                .send(
                    Method::GET,
                    &url,
                    &[b_host[0], ("authorization", &auth)],
                    bytes::Bytes::new(),
                )
                .await
                .expect("request completes")
        }
    };
    let home = at_b(b_access.clone()).await;
    assert_eq!(home.status, 200, "{}", home.describe());
    // Both tenants may call a consumer "jane": the consumer id tells them apart.
    let seen = echoed_headers(&home.json());
    assert_eq!(
        seen.get("x-consumer-username").map(String::as_str),
        Some("jane")
    );
    assert_ne!(seen.get("x-consumer-id"), Some(&qs.expected_consumer_id()));
    assert_invalid_token(&at_b(own.clone()).await);
    assert_eq!(qs.call_upstream(Some(&own)).await.status, 200);

    // team-b's route under the quickstart's token endpoint is refused: token requests still reach
    // the default namespace's endpoint, never team-b's upstream.
    let token = qs.request_token(quickstart::CLIENT_SECRET).await;
    assert_eq!(token.status, 200, "{}", token.describe());
    assert!(
        token.json()["access_token"].is_string(),
        "{}",
        token.describe()
    );
}

/// The backend address policy in standalone mode: loopback upstreams are served (the
/// quickstart's httpbin), a literal link-local backend is left out with
/// `BackendAddressRefused`, and a name resolving to the gateway's own admin port is refused at
/// connect time with a 502 and a warn line naming the route.
#[tokio::test]
async fn link_local_and_the_gateways_own_admin_port_are_refused_as_backends() {
    let qs = Quickstart::start("address-policy").await;
    let admin_port = qs
        .gateway
        .admin_url("/")
        .rsplit_once(':')
        .and_then(|(_, rest)| rest.trim_end_matches('/').parse::<u16>().ok())
        .expect("admin port");
    let route = |name: &str, path: &str, url: &str| {
        format!(
            "apiVersion: tollgate.dev/v1alpha1\nkind: GatewayRoute\nmetadata:\n  name: {name}\n\
             spec:\n  paths: [{path}]\n  backend:\n    url: \"{url}\"\n"
        )
    };
    let manifests = [
        route("metadata", "/metadata", "http://169.254.169.254/latest"),
        route(
            "admin-loop",
            "/admin-loop",
            &format!("http://localhost:{admin_port}"),
        ),
    ]
    .join("---\n");
    qs.manifests
        .write_file("zz-address-policy.yaml", &manifests)
        .expect("write");
    wait_until(RELOAD, "the log to refuse the metadata route", || async {
        let log = qs.gateway_log();
        log.lines()
            .find(|l| l.contains("name=metadata") && l.contains("BackendAddressRefused"))
            .map(str::to_owned)
            .ok_or_else(|| "not yet".to_owned())
    })
    .await
    .expect("the link-local backend is reported");

    let url = qs.gateway.http_url("/admin-loop/metrics");
    let refused = wait_until(RELOAD, "the admin-loop route to answer 502", || async {
        match qs.client.get(&url).await {
            Ok(r) if r.status == 502 => Ok(r),
            Ok(r) => Err(format!("status {}", r.status)),
            Err(e) => Err(e.to_string()),
        }
    })
    .await
    .expect("a backend on the gateway's own admin port is refused");
    assert!(
        refused
            .text()
            .contains("An invalid response was received from the upstream server"),
        "{}",
        refused.describe()
    );
    let log = qs.gateway_log();
    assert!(
        log.lines().any(|l| l.contains("backend address refused")
            && l.contains("default/admin-loop")
            && l.contains("WARN")),
        "{log}"
    );
    let token = qs.access_token().await;
    assert_eq!(qs.call_upstream(Some(&token)).await.status, 200);
}

/// The RFC 8414 metadata, the token endpoint and RFC 7662 introspection, driven by a real OAuth
/// client library (Python's authlib, which also validates the metadata by its own rules).
#[tokio::test]
async fn a_real_oauth_client_discovers_the_endpoints_gets_a_token_and_introspects_it() {
    let qs = Quickstart::start("authlib-client").await;
    let metadata_url = qs
        .gateway
        .https_url("/auth/.well-known/oauth-authorization-server");
    let seen = run_oauth_client(&qs, &metadata_url).await;
    let issuer = qs.gateway.https_url("/auth");
    assert_eq!(seen["metadata"]["issuer"], issuer.as_str(), "{seen}");
    assert_eq!(
        seen["metadata"]["token_endpoint"],
        format!("{issuer}/oauth2/token"),
        "{seen}"
    );
    assert_eq!(
        seen["metadata"]["grant_types_supported"],
        serde_json::json!(["client_credentials"])
    );
    assert_eq!(
        seen["metadata"]["response_types_supported"],
        serde_json::json!([])
    );
    assert_eq!(seen["expires_in"], 7200, "{seen}");
    let introspected = &seen["introspected"];
    assert_eq!(introspected["active"], true, "{seen}");
    assert_eq!(introspected["client_id"], quickstart::CLIENT_ID, "{seen}");
    assert_eq!(introspected["username"], quickstart::USERNAME, "{seen}");
    let (iat, exp) = (
        introspected["iat"].as_u64().expect("iat"),
        introspected["exp"].as_u64().expect("exp"),
    );
    assert_eq!(exp - iat, 7200, "{seen}");
    assert_eq!(
        seen["introspected_unknown"],
        serde_json::json!({"active": false})
    );
    // authlib's revoke_token (RFC 7009) at the endpoint the metadata names.
    assert_eq!(
        seen["metadata"]["revocation_endpoint"],
        format!("{issuer}/oauth2/revoke"),
        "{seen}"
    );
    assert_eq!(seen["revoked_status"], 200, "{seen}");
    assert_eq!(
        seen["introspected_after_revocation"],
        serde_json::json!({"active": false}),
        "{seen}"
    );
}

/// Introspection needs a confidential client's own secret, says nothing more than `active:
/// false` about tokens it does not accept, and the metadata reflects no hostile `Host`.
#[tokio::test]
async fn introspection_refuses_unauthenticated_callers_and_metadata_refuses_a_hostile_host() {
    let qs = Quickstart::start("introspection-refusals").await;
    let token = qs.access_token().await;
    let url = qs.gateway.https_url("/auth/oauth2/introspect");
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let post = |body: String| {
        let (client, url) = (&qs.client, &url);
        async move {
            client
                .send(Method::POST, url, &form, bytes::Bytes::from(body))
                .await
                .expect("request completes")
        }
    };
    let client = format!(
        "client_id={}&client_secret={}",
        quickstart::CLIENT_ID,
        quickstart::CLIENT_SECRET
    );

    let answer = post(format!("token={token}&{client}")).await;
    assert_eq!(answer.status, 200, "{}", answer.describe());
    assert_eq!(answer.json()["active"], true, "{}", answer.describe());
    assert_eq!(answer.header("cache-control"), Some("no-store"));

    let tampered = post(format!("token={}&{client}", tamper(&token))).await;
    assert_eq!(tampered.json(), serde_json::json!({"active": false}));

    let anonymous = post(format!("token={token}")).await;
    assert_eq!(anonymous.status, 400, "{}", anonymous.describe());
    assert_eq!(anonymous.json()["error"], "invalid_client");
    assert!(anonymous.json().get("active").is_none());

    let wrong = post(format!(
        "token={token}&client_id={}&client_secret=wrong",
        quickstart::CLIENT_ID
    ))
    .await;
    assert_eq!(wrong.status, 400, "{}", wrong.describe());
    assert_eq!(wrong.json()["error"], "invalid_client");

    let missing = post(client.clone()).await;
    assert_eq!(missing.status, 400, "{}", missing.describe());
    assert_eq!(missing.json()["error"], "invalid_request");

    // Over plain HTTP, where the Host header is exactly what the client sends.
    let metadata = qs
        .gateway
        .http_url("/auth/.well-known/oauth-authorization-server");
    for (host, status) in [("evil.example/x?", 400), ("gw.example.test:9443", 200)] {
        let response = qs
            .client
            .send(
                Method::GET,
                &metadata,
                &[("host", host)],
                bytes::Bytes::new(),
            )
            .await
            .expect("request completes");
        assert_eq!(response.status, status, "{host}: {}", response.describe());
        if status == 200 {
            assert_eq!(
                response.json()["issuer"],
                "http://gw.example.test:9443/auth"
            );
        }
    }
    let posted = qs
        .client
        .send(Method::POST, &metadata, &[], bytes::Bytes::new())
        .await
        .expect("request completes");
    assert_eq!(posted.status, 405, "{}", posted.describe());
    assert_eq!(posted.header("allow"), Some("GET"));
}

/// A second oauth2 plugin of the quickstart's namespace issuing JWT access tokens, on `/jwt`.
const JWT_PLUGIN: &str = "
apiVersion: tollgate.dev/v1alpha1
kind: AuthPlugin
metadata: {name: oauth2-jwt}
spec:
  type: oauth2
  oauth2: {enableClientCredentials: true, globalCredentials: true, tokenFormat: jwt}
---
apiVersion: tollgate.dev/v1alpha1
kind: GatewayRoute
metadata: {name: jwt-auth}
spec:
  paths: [/jwt]
  plugins: [oauth2-jwt]
";

/// `tokenFormat: jwt`: the token is an RFC 9068 JWT that a real library (authlib) verifies with
/// the keys the route publishes, the gateway's own routes accept it as they accept opaque
/// tokens, and a changed secret revokes it as it revokes them.
#[tokio::test]
async fn a_jwt_access_token_verifies_with_the_published_keys_and_opens_the_protected_route() {
    let qs = Quickstart::start_variant(
        "jwt-access-tokens",
        Variant {
            extra_manifests: &[("05-jwt.yaml", JWT_PLUGIN)],
            ..Variant::default()
        },
    )
    .await;
    let metadata_url = qs
        .gateway
        .https_url("/jwt/.well-known/oauth-authorization-server");
    let seen = run_oauth_client(&qs, &metadata_url).await;
    let issuer = qs.gateway.https_url("/jwt");
    assert_eq!(
        seen["metadata"]["jwks_uri"],
        format!("{issuer}/.well-known/jwks.json"),
        "{seen}"
    );
    let jwt = &seen["jwt"];
    assert_eq!(jwt["header"]["typ"], "at+jwt", "{seen}");
    assert_eq!(jwt["header"]["alg"], "EdDSA", "{seen}");
    assert_eq!(jwt["claims"]["iss"], issuer.as_str(), "{seen}");
    assert_eq!(jwt["claims"]["client_id"], quickstart::CLIENT_ID, "{seen}");
    assert_eq!(jwt["claims"]["sub"], quickstart::CLIENT_ID, "{seen}");
    assert!(jwt["claims"]["jti"].as_str().is_some_and(|j| j.len() == 32));
    assert_eq!(seen["introspected"]["active"], true, "{seen}");

    // The protected route (openid-connect, kong_oauth2) accepts the JWT.
    let token = {
        let body = format!(
            "grant_type=client_credentials&client_id={}&client_secret={}",
            quickstart::CLIENT_ID,
            quickstart::CLIENT_SECRET
        );
        let response = qs
            .client
            .send(
                Method::POST,
                &qs.gateway.https_url("/jwt/oauth2/token"),
                &[("content-type", "application/x-www-form-urlencoded")],
                bytes::Bytes::from(body),
            )
            .await
            .expect("request completes");
        assert_eq!(response.status, 200, "{}", response.describe());
        access_token_of(&response)
    };
    assert_eq!(token.matches('.').count(), 2, "{token}");
    let upstream = qs.call_upstream(Some(&token)).await;
    assert_eq!(upstream.status, 200, "{}", upstream.describe());
    let headers = echoed_headers(&upstream.json());
    assert_eq!(
        headers.get("x-consumer-username").map(String::as_str),
        Some(quickstart::USERNAME)
    );
    let forged = format!("{}x", &token[..token.len() - 1]);
    assert_invalid_token(&qs.call_upstream(Some(&forged)).await);

    // A new client secret revokes the JWT, as it revokes opaque tokens.
    let credential = qs
        .manifests
        .credential_by_client_id(quickstart::CLIENT_ID)
        .expect("credential");
    let secret_ref = &credential.value["spec"]["clientSecretRef"];
    qs.manifests
        .set_secret_value(
            secret_ref["name"].as_str().expect("secret name"),
            secret_ref["key"].as_str().expect("secret key"),
            "another-secret",
        )
        .expect("edit the Secret");
    wait_for_status(
        RELOAD,
        "the JWT to be refused after the secret changed",
        401,
        || async { qs.call_upstream(Some(&token)).await },
    )
    .await
    .expect("JWT refused");
}

/// Runs e2e/clients/oauth_client.py (authlib) against `metadata_url` with the quickstart's
/// client; what it saw, as JSON.
async fn run_oauth_client(qs: &Quickstart, metadata_url: &str) -> serde_json::Value {
    let ca = gateway_ca(qs);
    let args = [
        metadata_url,
        &ca,
        quickstart::CLIENT_ID,
        quickstart::CLIENT_SECRET,
    ];
    oauth_client(qs, args.map(str::to_owned).to_vec()).await
}

/// The path of the gateway's TLS certificate, which the Python clients trust.
fn gateway_ca(qs: &Quickstart) -> String {
    qs.gateway
        .certificate_path()
        .expect("the gateway's certificate")
        .display()
        .to_string()
}

/// Runs e2e/clients/oauth_client.py (authlib) with `args`; what it saw, as JSON.
async fn oauth_client(qs: &Quickstart, args: Vec<String>) -> serde_json::Value {
    let script = tollgate_e2e::paths::repo_root().join("e2e/clients/oauth_client.py");
    let python = tollgate_e2e::paths::python().expect("python");
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

/// An oauth2 plugin of the quickstart's namespace with Kong's password grant, on `/pw`.
const PASSWORD_PLUGIN: &str = "
apiVersion: v1
kind: Secret
metadata: {name: pw-provision, labels: {tollgate.dev/secret: credential}}
stringData: {provision_key: 0123456789abcdef0123456789abcdef}
---
apiVersion: tollgate.dev/v1alpha1
kind: AuthPlugin
metadata: {name: oauth2-pw}
spec:
  type: oauth2
  oauth2:
    enablePasswordGrant: true
    globalCredentials: true
    provisionKeySecretRef: {name: pw-provision, key: provision_key}
---
apiVersion: tollgate.dev/v1alpha1
kind: GatewayRoute
metadata: {name: pw-auth}
spec:
  paths: [/pw]
  plugins: [oauth2-pw]
";

/// Kong's password grant: the application presents the provision key and the user it vouches
/// for; the upstream then sees `X-Authenticated-Userid`, and introspection names the user.
#[tokio::test]
async fn the_password_grant_carries_the_authenticated_user_to_the_upstream() {
    let qs = Quickstart::start_variant(
        "password-grant",
        Variant {
            extra_manifests: &[("05-password.yaml", PASSWORD_PLUGIN)],
            ..Variant::default()
        },
    )
    .await;
    let client = format!(
        "client_id={}&client_secret={}",
        quickstart::CLIENT_ID,
        quickstart::CLIENT_SECRET
    );
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let post = |path: &'static str, body: String| {
        let (qs, form) = (&qs, &form);
        async move {
            qs.client
                .send(
                    Method::POST,
                    &qs.gateway.https_url(path),
                    form,
                    bytes::Bytes::from(body),
                )
                .await
                .expect("request completes")
        }
    };
    let key = "provision_key=0123456789abcdef0123456789abcdef";
    for (case, body, error) in [
        (
            "wrong key",
            format!("grant_type=password&{client}&provision_key=guess&authenticated_userid=alice"),
            "invalid_provision_key",
        ),
        (
            "no user",
            format!("grant_type=password&{client}&{key}"),
            "invalid_authenticated_userid",
        ),
        (
            "grant not enabled on the quickstart's plugin",
            format!("grant_type=password&{client}&{key}&authenticated_userid=alice"),
            "unsupported_grant_type",
        ),
    ] {
        let path = if case.starts_with("grant not") {
            "/auth/oauth2/token"
        } else {
            "/pw/oauth2/token"
        };
        let refused = post(path, body).await;
        assert_eq!(refused.status, 400, "{case}: {}", refused.describe());
        assert_eq!(
            refused.json()["error"],
            error,
            "{case}: {}",
            refused.describe()
        );
    }

    let issued = post(
        "/pw/oauth2/token",
        format!("grant_type=password&{client}&{key}&authenticated_userid=alice"),
    )
    .await;
    assert_eq!(issued.status, 200, "{}", issued.describe());
    let token = access_token_of(&issued);
    let upstream = qs.call_upstream(Some(&token)).await;
    assert_eq!(upstream.status, 200, "{}", upstream.describe());
    let seen = echoed_headers(&upstream.json());
    assert_eq!(
        seen.get("x-authenticated-userid").map(String::as_str),
        Some("alice")
    );
    assert_eq!(
        seen.get("x-consumer-username").map(String::as_str),
        Some(quickstart::USERNAME)
    );
    let introspected = post("/pw/oauth2/introspect", format!("token={token}&{client}")).await;
    assert_eq!(
        introspected.json()["sub"],
        "alice",
        "{}",
        introspected.describe()
    );

    // A client credentials token names no user.
    let plain = qs.access_token().await;
    let seen = echoed_headers(&qs.call_upstream(Some(&plain)).await.json());
    assert!(!seen.contains_key("x-authenticated-userid"), "{seen:?}");
}
