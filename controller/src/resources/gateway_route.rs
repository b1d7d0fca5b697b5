//! `GatewayRoute`: which requests the proxy matches, which AuthPlugin guards them and where they
//! go (Kong's route + service).

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::status::ObjectStatus;

/// Kong's default upstream connect and read timeout, in milliseconds.
pub const DEFAULT_TIMEOUT_MS: i64 = 60_000;

/// A route: requests matching `hosts`, `paths` (prefix) and `methods` pass the AuthPlugins in
/// `plugins` and then go to `backend`. A route whose plugin is missing or invalid is not served at
/// all (never unprotected, never unlimited).
#[derive(
    CustomResource, KubeSchema, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize,
)]
#[kube(
    group = "tollgate.dev",
    version = "v1alpha1",
    kind = "GatewayRoute",
    plural = "gatewayroutes",
    namespaced,
    status = "ObjectStatus",
    shortname = "tgroute",
    category = "tollgate",
    doc = "A route (Kong's route and service): matching requests pass its AuthPlugins, then go to its backend.",
    printcolumn(
        name = "Hosts",
        type_ = "string",
        json_path = ".spec.hosts",
        priority = "1"
    ),
    printcolumn(name = "Paths", type_ = "string", json_path = ".spec.paths"),
    printcolumn(name = "Plugins", type_ = "string", json_path = ".spec.plugins"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Programmed")].status"#,
        description = "Every proxy replica serves this route"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct GatewayRouteSpec {
    /// Host names to match: exact (`api.example.com`) or a leading wildcard (`*.example.com`).
    /// Empty matches every host.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(min = 1, max = 253)))]
    pub hosts: Vec<String>,
    /// Path prefixes to match, each starting with `/`; the longest matching prefix across all
    /// routes wins. Empty matches every path.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(min = 1, max = 1024)))]
    #[x_kube(validation = Rule::new("self.all(p, p.startsWith('/'))").message("every path must start with /"))]
    pub paths: Vec<String>,
    /// HTTP methods to match (upper case). Empty matches every method.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16), inner(regex(pattern = r"^[A-Z]{1,32}$")))]
    pub methods: Vec<String>,
    /// Remove the matched path prefix before forwarding, as Kong's `strip_path` does.
    #[serde(default = "default_true")]
    pub strip_path: bool,
    /// Names of AuthPlugins (same namespace) of this route: at most one authentication plugin
    /// (`oauth2` or `openid-connect`) and at most one `rate-limiting`, in any order. The
    /// authentication plugin always runs first, as Kong's plugin priorities order them
    /// (openid-connect 1050, oauth2 1004, rate-limiting 910), so a limit can count per consumer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 2), inner(length(min = 1, max = 253)))]
    pub plugins: Vec<String>,
    /// Where matched requests go. Without a backend the route serves only its plugins' own
    /// endpoints (such as `<path>/oauth2/token`) and answers 503 otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<Backend>,
}

/// The upstream of a route: exactly one of `service` or `url`.
#[derive(KubeSchema, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.service) != has(self.url)").message("set exactly one of service or url"))]
pub struct Backend {
    /// A Service in the same namespace; requests are balanced over its ready endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceBackend>,
    /// An absolute `http://` or `https://` URL (external, or standalone mode). A path in it is
    /// prefixed to the upstream path, as Kong does with a service path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048), regex(pattern = r"^https?://[^\s?#]+$"))]
    pub url: Option<String>,
    /// Upstream connect timeout in milliseconds (Kong's default: 60000).
    #[serde(default = "default_timeout_ms")]
    #[schemars(range(min = 1, max = 86_400_000))]
    pub connect_timeout_ms: i64,
    /// Upstream read timeout in milliseconds (Kong's default: 60000).
    #[serde(default = "default_timeout_ms")]
    #[schemars(range(min = 1, max = 86_400_000))]
    pub read_timeout_ms: i64,
    /// Send the client's `Host` header upstream (port as sent) instead of the Service's or
    /// URL's `host:port`, as Kong's route `preserve_host` does. Default `false`, as in Kong.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub preserve_host: bool,
}

/// A Service port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ServiceBackend {
    /// `metadata.name` of the Service (same namespace).
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// The Service port number.
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
}

fn default_true() -> bool {
    true
}

fn default_timeout_ms() -> i64 {
    DEFAULT_TIMEOUT_MS
}
