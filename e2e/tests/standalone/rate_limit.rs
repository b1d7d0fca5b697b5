//! Rate limits through the shipped binary, on both server paths (the HTTP/1 fast path with
//! the inline upstream client, and hyper's server for every request), with the real httpbin
//! upstream: Kong's headers on admitted responses (replacing an upstream's own), its 429 with
//! `Retry-After` once a consumer's hour is spent, another consumer unaffected, and the client
//! address counted where no authentication plugin names a consumer.
//!
//! The limits are per hour, and a run that crosses the top of an hour (its windows restart) is
//! run again rather than failed: nothing here depends on timing.

use http::Method;
use tollgate_e2e::client::Response;
use tollgate_e2e::fixture::{Quickstart, Variant, access_token_of};
use tollgate_e2e::quickstart;

/// A second consumer with its own client, a per-consumer limit of 3 an hour listed before the
/// route's authentication plugin, and an open route limited by client address.
const LIMITS: &str = "\
apiVersion: tollgate.dev/v1alpha1
kind: Consumer
metadata:
  name: john
spec:
  username: john
---
apiVersion: v1
kind: Secret
metadata:
  name: john-secret
  labels:
    tollgate.dev/secret: credential
stringData:
  client_secret: john-secret-value
---
apiVersion: tollgate.dev/v1alpha1
kind: OAuth2Credential
metadata:
  name: john-app
spec:
  consumerRef:
    name: john
  name: john-app
  clientId: john-client
  clientSecretRef:
    name: john-secret
    key: client_secret
  hashSecret: false
---
apiVersion: tollgate.dev/v1alpha1
kind: AuthPlugin
metadata:
  name: per-consumer
spec:
  type: rate-limiting
  rateLimiting:
    hour: 3
    limitBy: consumer
---
apiVersion: tollgate.dev/v1alpha1
kind: GatewayRoute
metadata:
  name: limited
spec:
  paths: [/limited]
  plugins: [per-consumer, oidc]
  backend:
    url: UPSTREAM
---
apiVersion: tollgate.dev/v1alpha1
kind: AuthPlugin
metadata:
  name: per-address
spec:
  type: rate-limiting
  rateLimiting:
    hour: 2
---
apiVersion: tollgate.dev/v1alpha1
kind: GatewayRoute
metadata:
  name: open-limited
spec:
  paths: [/open-limited]
  plugins: [per-address]
  backend:
    url: UPSTREAM
";

fn server_path(fast_path: bool) -> [&'static str; 2] {
    [
        "--http1-fast-path",
        if fast_path { "true" } else { "false" },
    ]
}

/// What one response showed of the limit.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    status: u16,
    limit_hour: Option<String>,
    remaining_hour: Option<String>,
    limit: Option<String>,
    remaining: Option<String>,
    retry_after: bool,
    reset_in_range: bool,
    message: Option<String>,
}

fn seen(response: &Response) -> Seen {
    // Every value of a field, joined: an upstream's copy beside the gateway's would show.
    let header = |name: &str| {
        let all = response.header_all(name);
        (!all.is_empty()).then(|| all.join(","))
    };
    let reset_in_range = response
        .header("ratelimit-reset")
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|s| (1..=3600).contains(&s));
    Seen {
        status: response.status.as_u16(),
        limit_hour: header("x-ratelimit-limit-hour"),
        remaining_hour: header("x-ratelimit-remaining-hour"),
        limit: header("ratelimit-limit"),
        remaining: header("ratelimit-remaining"),
        retry_after: response.headers.contains_key("retry-after"),
        reset_in_range,
        message: response.json()["message"].as_str().map(str::to_owned),
    }
}

fn admitted(limit: &str, remaining: &str) -> Seen {
    Seen {
        status: 200,
        limit_hour: Some(limit.into()),
        remaining_hour: Some(remaining.into()),
        limit: Some(limit.into()),
        remaining: Some(remaining.into()),
        retry_after: false,
        reset_in_range: true,
        message: None,
    }
}

fn refused(limit: &str) -> Seen {
    Seen {
        status: 429,
        limit_hour: Some(limit.into()),
        remaining_hour: Some("0".into()),
        limit: Some(limit.into()),
        remaining: Some("0".into()),
        retry_after: true,
        reset_in_range: true,
        message: Some("API rate limit exceeded".into()),
    }
}

fn hour_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 3600)
}

async fn token(qs: &Quickstart, client_id: &str, secret: &str) -> String {
    let response = qs
        .client
        .post_form(
            &qs.gateway.token_url(),
            &[
                ("client_id", client_id),
                ("client_secret", secret),
                ("grant_type", "client_credentials"),
            ],
        )
        .await
        .expect("token request");
    assert_eq!(response.status, 200, "{}", response.describe());
    access_token_of(&response)
}

async fn get(qs: &Quickstart, path: &str, token: Option<&str>) -> Response {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("authorization", a)])
        .unwrap_or_default();
    qs.client
        .send(
            Method::GET,
            &qs.gateway.http_url(path),
            &headers,
            bytes::Bytes::new(),
        )
        .await
        .expect("request completes")
}

/// One run against a fresh gateway: jane spends her hour, john still has his, the open route
/// counts this client's address.
async fn scenario(fast_path: bool) -> (Vec<Seen>, Vec<Seen>, Vec<Seen>, Response) {
    let qs = Quickstart::start_variant(
        &format!("rate-limit-{fast_path}"),
        Variant {
            gateway_args: &server_path(fast_path),
            extra_manifests: &[("50-limits.yaml", LIMITS)],
            ..Variant::default()
        },
    )
    .await;
    let jane = token(&qs, quickstart::CLIENT_ID, quickstart::CLIENT_SECRET).await;
    let john = token(&qs, "john-client", "john-secret-value").await;
    // A request without a token is refused by the authentication plugin and not counted.
    let anonymous = get(&qs, "/limited/anything", None).await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.describe());
    assert!(anonymous.header("x-ratelimit-limit-hour").is_none());
    // httpbin answers with the headers it is asked for: the gateway's replace the upstream's.
    let mut jane_seen = vec![seen(
        &get(
            &qs,
            "/limited/response-headers?X-RateLimit-Limit-Hour=999",
            Some(&jane),
        )
        .await,
    )];
    for _ in 0..3 {
        jane_seen.push(seen(&get(&qs, "/limited/anything", Some(&jane)).await));
    }
    let john_seen = vec![seen(&get(&qs, "/limited/anything", Some(&john)).await)];
    let mut open_seen = Vec::new();
    for _ in 0..3 {
        open_seen.push(seen(&get(&qs, "/open-limited/anything", None).await));
    }
    let upstream_view = get(&qs, "/limited/anything", Some(&john)).await;
    (jane_seen, john_seen, open_seen, upstream_view)
}

#[tokio::test]
async fn a_consumer_over_its_limit_gets_kongs_429_on_both_server_paths_and_others_are_unaffected() {
    for fast_path in [true, false] {
        let (jane, john, open, upstream_view) = loop {
            let hour = hour_now();
            let run = scenario(fast_path).await;
            if hour_now() == hour {
                break run;
            }
        };
        assert_eq!(
            jane,
            [
                admitted("3", "2"),
                admitted("3", "1"),
                admitted("3", "0"),
                refused("3"),
            ],
            "fast path {fast_path}: jane"
        );
        assert_eq!(john, [admitted("3", "2")], "fast path {fast_path}: john");
        assert_eq!(
            open,
            [admitted("2", "1"), admitted("2", "0"), refused("2")],
            "fast path {fast_path}: the client address"
        );
        // The upstream saw john's identity; the limit's headers are the gateway's answer only.
        assert_eq!(upstream_view.status, 200, "{}", upstream_view.describe());
        let body = upstream_view.json();
        assert_eq!(body["headers"]["X-Consumer-Username"], "john", "{body}");
        assert_eq!(
            upstream_view.header_all("x-ratelimit-limit-hour"),
            ["3"],
            "one field, the gateway's"
        );
    }
}
