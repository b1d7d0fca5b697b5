//! The fixture of the Gateway API, Ingress and HTTPS-listener tests: httpbin, the quickstart's
//! manifests without (some of) its GatewayRoutes, httpbin as the selector-less Service `httpbin`
//! (port 80, named `http`) with its EndpointSlice, as a cluster points a Service at an outside
//! address, and standalone mode serving them.

use http::Method;
use tollgate_e2e::client::{Client, Response};
use tollgate_e2e::fixture::{access_token_of, assert_echoed_path, assert_status, echoed_headers};
use tollgate_e2e::gateway::Standalone;
use tollgate_e2e::httpbin::Httpbin;
use tollgate_e2e::manifests::Manifests;
use tollgate_e2e::quickstart;
use tollgate_e2e::wait::{RELOAD, wait_for_status};
use tollgate_e2e::workdir::WorkDir;

/// The Host of the quickstart flow's routes.
pub(super) const HOST: &str = "api.example.test";

/// The AuthPlugin `not-yet`, which the missing-plugin tests add once its absence is seen.
pub(super) const NOT_YET: &str = "\
apiVersion: tollgate.dev/v1alpha1
kind: AuthPlugin
metadata: {name: not-yet}
spec:
  type: openid-connect
  openidConnect: {authMethods: [kong_oauth2]}
";

/// A selector-less Service `name` (port `port`, named `http`) and its EndpointSlice pointing at
/// `127.0.0.1:target`.
pub(super) fn loopback_service(name: &str, port: u16, target: u16) -> String {
    format!(
        "\
apiVersion: v1
kind: Service
metadata: {{name: {name}}}
spec:
  ports: [{{name: http, port: {port}, targetPort: {target}}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: {name}-1
  labels: {{kubernetes.io/service-name: {name}}}
addressType: IPv4
ports: [{{name: http, port: {target}}}]
endpoints: [{{addresses: [127.0.0.1]}}]
"
    )
}

/// httpbin and the manifests, before standalone mode starts: to edit them first.
pub(super) struct Setup {
    work: WorkDir,
    httpbin: Httpbin,
    pub(super) manifests: Manifests,
}

impl Setup {
    /// Starts httpbin (echoing `tag`, if any: [`Httpbin::start_tagged`]) and copies the
    /// quickstart's manifests without its GatewayRoutes named `removed`, plus httpbin as the
    /// Service `httpbin`.
    pub(super) async fn new(name: &str, removed: &[&str], tag: Option<&str>) -> Self {
        let work = WorkDir::new(name).expect("work dir");
        let httpbin = match tag {
            Some(tag) => Httpbin::start_tagged(&work, tag).await,
            None => Httpbin::start(&work).await,
        }
        .expect("httpbin starts");
        let dir = work.subdir("manifests").expect("manifests dir");
        let manifests = Manifests::copy_quickstart(&dir, &httpbin.base_url()).expect("copy");
        for route in removed {
            manifests
                .remove_object("GatewayRoute", route)
                .expect("remove a quickstart route");
        }
        manifests
            .write_file(
                "httpbin-service.yaml",
                &loopback_service("httpbin", 80, httpbin.port()),
            )
            .expect("httpbin Service");
        Setup {
            work,
            httpbin,
            manifests,
        }
    }

    /// Writes `files` (name, text) beside the manifests and starts standalone mode with `args`.
    pub(super) async fn start(self, args: &[&str], files: &[(&str, &str)]) -> Fixture {
        for (file, text) in files {
            self.manifests.write_file(file, text).expect("manifest");
        }
        let gateway = Standalone::start_with_args(&self.work, self.manifests.dir(), args)
            .await
            .expect("standalone mode starts");
        let client = gateway.client().expect("client");
        Fixture {
            gateway,
            httpbin: self.httpbin,
            manifests: self.manifests,
            client,
            _work: self.work,
        }
    }
}

/// Standalone mode serving the manifests of a [`Setup`], and httpbin.
pub(super) struct Fixture {
    pub(super) gateway: Standalone,
    pub(super) httpbin: Httpbin,
    pub(super) manifests: Manifests,
    pub(super) client: Client,
    _work: WorkDir,
}

impl Fixture {
    /// The quickstart's manifests without its GatewayRoutes, plus httpbin's Service and `files`,
    /// served by standalone mode with `args`.
    pub(super) async fn start(name: &str, args: &[&str], files: &[(&str, &str)]) -> Self {
        Self::start_tagged(name, args, files, None).await
    }

    /// [`Fixture::start`]; with a `tag`, the httpbin echoes it ([`Httpbin::start_tagged`]).
    pub(super) async fn start_tagged(
        name: &str,
        args: &[&str],
        files: &[(&str, &str)],
        tag: Option<&str>,
    ) -> Self {
        Setup::new(name, &["auth", "httpbin"], tag)
            .await
            .start(args, files)
            .await
    }

    /// `method path` over plain HTTP with `Host: host` and more headers.
    pub(super) async fn http(
        &self,
        method: Method,
        host: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Response {
        let mut all = vec![("host", host)];
        all.extend_from_slice(headers);
        self.client
            .send(
                method,
                &self.gateway.http_url(path),
                &all,
                bytes::Bytes::new(),
            )
            .await
            .expect("request completes")
    }

    pub(super) async fn get(&self, host: &str, path: &str) -> Response {
        self.http(Method::GET, host, path, &[]).await
    }

    /// A client-credentials token from `https://<HOST>/auth/oauth2/token`.
    pub(super) async fn token(&self) -> Response {
        let body = format!(
            "grant_type=client_credentials&client_id={}&client_secret={}",
            quickstart::CLIENT_ID,
            quickstart::CLIENT_SECRET
        );
        self.client
            .send(
                Method::POST,
                &self.gateway.https_url("/auth/oauth2/token"),
                &[
                    ("host", HOST),
                    ("content-type", "application/x-www-form-urlencoded"),
                ],
                bytes::Bytes::from(body),
            )
            .await
            .expect("token request completes")
    }

    /// Asserts the quickstart's flow on [`HOST`]: refused without a token, a client-credentials
    /// token, httpbin reached with the consumer's headers; and `www.example.test` not routed.
    pub(super) async fn assert_token_flow(&self) {
        let refused = self.get(HOST, "/anything").await;
        assert_status(&refused, 401, "refused");

        let token = self.token().await;
        assert_status(&token, 200, "token");
        let auth = format!("Bearer {}", access_token_of(&token));
        let headers = [("authorization", auth.as_str())];
        let upstream = self.http(Method::GET, HOST, "/anything/x", &headers).await;
        let seen = echoed_headers(&assert_echoed_path(&upstream, "/anything/x"));
        assert_eq!(
            seen.get("x-consumer-username").map(String::as_str),
            Some(quickstart::USERNAME)
        );
        assert_eq!(
            seen.get("x-credential-identifier").map(String::as_str),
            Some(quickstart::CLIENT_ID)
        );

        let other = self
            .http(Method::GET, "www.example.test", "/anything", &headers)
            .await;
        assert_status(&other, 404, "other");
    }

    pub(super) fn log(&self) -> String {
        tollgate_e2e::fixture::strip_ansi(&self.gateway.log())
    }

    /// Waits until `GET host path` answers `status`.
    pub(super) async fn wait_status(&self, host: &str, path: &str, status: u16) {
        wait_for_status(
            RELOAD,
            &format!("GET {host}{path} to answer {status}"),
            status,
            || async move { self.get(host, path).await },
        )
        .await
        .expect("the change is served");
    }
}
