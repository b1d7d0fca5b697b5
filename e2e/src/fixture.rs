//! What the standalone and hostile scenarios share: one fixture (httpbin + manifests + gateway)
//! per test, the requests of the quickstart flow, and assertions on their answers.

use std::collections::BTreeMap;

use crate::client::{Client, Response};
use crate::gateway::Standalone;
use crate::httpbin::Httpbin;
use crate::manifests::Manifests;
use crate::quickstart;
use crate::workdir::WorkDir;
use http::Method;
use serde_json::Value;

/// A running quickstart: httpbin, the manifests pointing at it, standalone mode serving them.
/// Fields drop in order: the gateway and httpbin stop before the work dir prints logs.
pub struct Quickstart {
    pub gateway: Standalone,
    pub httpbin: Httpbin,
    pub manifests: Manifests,
    pub client: Client,
    pub _work: WorkDir,
}

/// How a [`Quickstart`] differs from the plain one.
#[derive(Debug, Default, Clone, Copy)]
pub struct Variant<'a> {
    /// Options added to `tollgate-controller standalone`.
    pub gateway_args: &'a [&'a str],
    /// Options added to httpbin's gunicorn.
    pub httpbin_args: &'a [&'a str],
    /// Manifests written beside the quickstart's before the gateway starts: file name and
    /// text, where `UPSTREAM` stands for httpbin's base URL.
    pub extra_manifests: &'a [(&'a str, &'a str)],
}

impl Quickstart {
    pub async fn start(name: &str) -> Self {
        Self::start_variant(name, Variant::default()).await
    }

    /// [`Quickstart::start`] with other options or more manifests.
    pub async fn start_variant(name: &str, variant: Variant<'_>) -> Self {
        let work = WorkDir::new(name).expect("work dir");
        let httpbin = Httpbin::start_with_args(&work, variant.httpbin_args)
            .await
            .expect("httpbin starts");
        let dir = work.subdir("manifests").expect("manifests dir");
        let manifests = Manifests::copy_quickstart(&dir, &httpbin.base_url()).expect("copy");
        for (file, text) in variant.extra_manifests {
            manifests
                .write_file(file, &text.replace("UPSTREAM", &httpbin.base_url()))
                .expect("extra manifest");
        }
        let gateway = Standalone::start_with_args(&work, manifests.dir(), variant.gateway_args)
            .await
            .expect("standalone mode starts and reports ready");
        let client = gateway
            .client()
            .expect("client trusting the gateway certificate");
        Quickstart {
            gateway,
            httpbin,
            manifests,
            client,
            _work: work,
        }
    }

    /// Restarts the gateway (same ports and state dir) and trusts its certificate again.
    pub async fn restart(&mut self) {
        self.gateway.restart().await.expect("gateway restarts");
        self.client = self.gateway.client().expect("client after restart");
    }

    /// `POST /auth/oauth2/token` over HTTPS with a form body.
    pub async fn request_token(&self, secret: &str) -> Response {
        self.client
            .post_form(
                &self.gateway.token_url(),
                &[
                    ("client_id", quickstart::CLIENT_ID),
                    ("client_secret", secret),
                    ("grant_type", "client_credentials"),
                ],
            )
            .await
            .expect("token request completes")
    }

    /// A fresh access token for the quickstart credential (asserts the 200).
    pub async fn access_token(&self) -> String {
        let response = self.request_token(quickstart::CLIENT_SECRET).await;
        assert_eq!(response.status, 200, "{}", response.describe());
        access_token_of(&response)
    }

    /// `GET <upstream route>/anything` over plain HTTP, with `Authorization: Bearer <token>`.
    pub async fn call_upstream(&self, token: Option<&str>) -> Response {
        let url = self.upstream_url();
        let auth = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| vec![("authorization", a)])
            .unwrap_or_default();
        self.client
            .send(Method::GET, &url, &headers, bytes::Bytes::new())
            .await
            .expect("upstream request completes")
    }

    pub fn upstream_path(&self) -> String {
        self.manifests
            .upstream_path("/anything")
            .expect("an upstream route")
    }

    pub fn upstream_url(&self) -> String {
        self.gateway.http_url(&self.upstream_path())
    }

    /// The quickstart consumer's expected `X-Consumer-Id` (UUIDv5 of its namespace and name).
    pub fn expected_consumer_id(&self) -> String {
        let consumer = self
            .manifests
            .find("Consumer", quickstart::CONSUMER)
            .expect("consumer jane");
        let namespace = consumer.value["metadata"]["namespace"]
            .as_str()
            .unwrap_or(quickstart::NAMESPACE);
        tollgate_core::ids::consumer_id(namespace, quickstart::CONSUMER)
    }

    /// The log of the gateway with ANSI colour codes removed.
    pub fn gateway_log(&self) -> String {
        strip_ansi(&self.gateway.log())
    }
}

pub fn access_token_of(response: &Response) -> String {
    json_text(response, "access_token")
}

/// The request headers httpbin's `/anything` echoed, keyed by lower-case name.
pub fn echoed_headers(body: &Value) -> BTreeMap<String, String> {
    body["headers"]
        .as_object()
        .map(|headers| {
            headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.to_ascii_lowercase(),
                        v.as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `token` with one character in the middle replaced by a different base64url character.
pub fn tamper(token: &str) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    let middle = chars.len() / 2;
    chars[middle] = if chars[middle] == 'A' { 'g' } else { 'A' };
    chars.into_iter().collect()
}

pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ ... final byte in @..~
            if chars.next() == Some('[') {
                for d in chars.by_ref() {
                    if ('@'..='~').contains(&d) {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Asserts an RFC 6750 `invalid_token` refusal.
pub fn assert_invalid_token(response: &Response) {
    assert_eq!(response.status, 401, "{}", response.describe());
    assert_eq!(
        response.json()["error"],
        "invalid_token",
        "{}",
        response.describe()
    );
    let challenge = response.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.starts_with("Bearer") && challenge.contains("error=\"invalid_token\""),
        "{}",
        response.describe()
    );
}

/// Asserts `response` has `status`, naming `what` and the whole answer otherwise.
pub fn assert_status(response: &Response, status: u16, what: &str) {
    assert_eq!(response.status, status, "{what}: {}", response.describe());
}

/// Asserts an OAuth 2.0 error answer in Kong's body (`error`, `error_description`, nothing
/// else) with `status` and the token endpoint's `Cache-Control: no-store`.
pub fn assert_oauth_error(
    response: &Response,
    status: u16,
    error: &str,
    description: &str,
    what: &str,
) {
    assert_status(response, status, what);
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

/// The text of the JSON answer's `field` (panics naming the answer when it has none).
pub fn json_text(response: &Response, field: &str) -> String {
    response.json()[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field} in {}", response.describe()))
        .to_owned()
}

/// Asserts httpbin answered 200 for a request whose path (as forwarded) ends with `path`; its
/// echo.
pub fn assert_echoed_path(response: &Response, path: &str) -> Value {
    assert_status(response, 200, path);
    let body = response.json();
    assert!(
        body["url"].as_str().is_some_and(|u| u.ends_with(path)),
        "forwarded as {}, not ending with {path}",
        body["url"]
    );
    body
}

/// Asserts some line of `log` holds every one of `words` (a problem line names the reason and
/// the object).
pub fn assert_logged(log: &str, words: &[&str]) {
    assert!(
        log.lines()
            .any(|line| words.iter().all(|w| line.contains(w))),
        "no log line with {words:?}:\n{log}"
    );
}
