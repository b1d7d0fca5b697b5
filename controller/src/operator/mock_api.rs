//! A mocked Kubernetes API server for reconcile tests (tower-test, as kube-rs's controller-rs
//! example does): the test answers each request the client makes, in order, and sees its body.

use http::{Request, Response};
use http_body_util::BodyExt;
use kube::Client;
use kube::client::Body;
use serde_json::Value;
use tower_test::mock::{self, Handle};

/// One request the client made.
pub struct Seen {
    pub method: String,
    /// Path and query.
    pub uri: String,
    pub content_type: Option<String>,
    pub body: Value,
}

pub struct MockApi {
    handle: Handle<Request<Body>, Response<Body>>,
}

/// A client talking to a fresh mock, and the mock's handle.
pub fn mock_client() -> (Client, MockApi) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    (Client::new(service, "default"), MockApi { handle })
}

impl MockApi {
    /// Waits for the next request, answers it with `status` and `response`, returns what it saw.
    pub async fn answer(&mut self, status: u16, response: Value) -> Seen {
        self.respond(|_, _| (status, response)).await
    }

    /// Like [`MockApi::answer`] with a 200 whose body `reply` picks from the method and URI.
    pub async fn answer_with(&mut self, reply: impl FnOnce(&str, &str) -> Value) -> Seen {
        self.respond(|method, uri| (200, reply(method, uri))).await
    }

    /// Like [`MockApi::answer`] with the status and body `reply` picks from the method and URI.
    pub async fn respond_with(&mut self, reply: impl FnOnce(&str, &str) -> (u16, Value)) -> Seen {
        self.respond(reply).await
    }

    async fn respond(&mut self, reply: impl FnOnce(&str, &str) -> (u16, Value)) -> Seen {
        let (request, send) = self
            .handle
            .next_request()
            .await
            .expect("the client made a request");
        let method = request.method().to_string();
        let uri = request.uri().to_string();
        let content_type = request
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let (status, response) = reply(&method, &uri);
        let bytes = request
            .into_body()
            .collect()
            .await
            .expect("request body")
            .to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("request body is JSON")
        };
        let reply = Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Body::from(serde_json::to_vec(&response).expect("json")))
            .expect("response");
        send.send_response(reply);
        Seen {
            method,
            uri,
            content_type,
            body,
        }
    }
}

/// A Kubernetes `Status` error body.
pub fn status_error(code: u16, reason: &str) -> Value {
    serde_json::json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": reason, "reason": reason, "code": code,
    })
}
