//! Per-object problems: why an object was left out of the snapshot. The operator turns them into
//! status conditions and Events; standalone mode logs them.

use std::fmt;

/// The kinds of object a problem can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Consumer,
    OAuth2Credential,
    AuthPlugin,
    GatewayRoute,
    Secret,
    GatewayClass,
    Gateway,
    HTTPRoute,
    Ingress,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Consumer => "Consumer",
            Self::OAuth2Credential => "OAuth2Credential",
            Self::AuthPlugin => "AuthPlugin",
            Self::GatewayRoute => "GatewayRoute",
            Self::Secret => "Secret",
            Self::GatewayClass => "GatewayClass",
            Self::Gateway => "Gateway",
            Self::HTTPRoute => "HTTPRoute",
            Self::Ingress => "Ingress",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which status condition a problem makes `False`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProblemCondition {
    /// The object itself is invalid, or conflicts with another object.
    Accepted,
    /// Something the object refers to is missing or unusable.
    ResolvedRefs,
}

impl ProblemCondition {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => crate::resources::status::CONDITION_ACCEPTED,
            Self::ResolvedRefs => crate::resources::status::CONDITION_RESOLVED_REFS,
        }
    }
}

/// A reason an object is not in the snapshot. Every object left out has at least one problem;
/// an object without problems is in the snapshot. Messages never contain secret material.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Problem {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
    pub condition: ProblemCondition,
    /// One of the constants in [`reason`].
    pub reason: &'static str,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}/{}: {} ({}): {}",
            self.kind,
            self.namespace,
            self.name,
            self.reason,
            self.condition.as_str(),
            self.message
        )
    }
}

/// Reasons, CamelCase as Kubernetes condition reasons are.
pub mod reason {
    /// The referenced Secret does not exist (or, when Tollgate cannot tell, lacks the
    /// `tollgate.dev/secret` label).
    pub const SECRET_NOT_FOUND: &str = "SecretNotFound";
    /// The referenced Secret exists without the `tollgate.dev/secret` label, so Tollgate in a
    /// cluster does not read it; the message names the fix.
    pub const SECRET_NOT_LABELLED: &str = "SecretNotLabelled";
    /// A certificate Secret exists without the `tollgate.dev/secret` label and the operator's
    /// `get` of it was refused (RBAC) or failed; the message names the fix (grant `get` on
    /// Secrets, or label it). Tried again with backoff.
    pub const SECRET_NOT_READABLE: &str = "SecretNotReadable";
    /// The Secret exists but has no such key.
    pub const SECRET_KEY_NOT_FOUND: &str = "SecretKeyNotFound";
    /// The Secret value is empty, or could not be hashed.
    pub const INVALID_SECRET: &str = "InvalidSecret";
    /// The client secret is being hashed (argon2id, in the background); the credential is served
    /// as soon as its verifier is ready.
    pub const SECRET_HASHING: &str = "SecretHashing";
    /// The referenced Consumer does not exist.
    pub const CONSUMER_NOT_FOUND: &str = "ConsumerNotFound";
    /// The referenced Consumer exists but is itself not accepted.
    pub const CONSUMER_NOT_ACCEPTED: &str = "ConsumerNotAccepted";
    /// Another, older credential has the same `clientId`.
    pub const DUPLICATE_CLIENT_ID: &str = "DuplicateClientId";
    /// The credential's own fields are inconsistent (secret of a public client, bad redirect URI).
    pub const INVALID_CREDENTIAL: &str = "InvalidCredential";
    /// The consumer's username or custom id cannot be sent as a header value.
    pub const INVALID_CONSUMER: &str = "InvalidConsumer";
    /// A route names an AuthPlugin that does not exist.
    pub const PLUGIN_NOT_FOUND: &str = "PluginNotFound";
    /// A route names an AuthPlugin that exists but is not accepted; the route is not served.
    pub const PLUGIN_NOT_ACCEPTED: &str = "PluginNotAccepted";
    /// An AuthPlugin's settings block does not match its `type`.
    pub const PLUGIN_TYPE_MISMATCH: &str = "PluginTypeMismatch";
    /// An AuthPlugin's settings are invalid (no grant enabled, mandatoryScope without scopes, ...).
    pub const INVALID_PLUGIN: &str = "InvalidPlugin";
    /// A route names two authentication plugins, two rate-limiting plugins, or one plugin twice.
    pub const TOO_MANY_PLUGINS: &str = "TooManyPlugins";
    /// An AuthPlugin's `anonymous` Consumer does not exist or is not accepted.
    pub const ANONYMOUS_CONSUMER_NOT_FOUND: &str = "AnonymousConsumerNotFound";
    /// An annotation's value is not one the annotation takes (the message names it).
    pub const INVALID_ANNOTATION: &str = "InvalidAnnotation";
    /// A route path is not an absolute, normalizable path.
    pub const INVALID_PATH: &str = "InvalidPath";
    /// A route host is not a host name or `*.` wildcard.
    pub const INVALID_HOST: &str = "InvalidHost";
    /// A route method is not an upper-case HTTP method token.
    pub const INVALID_METHOD: &str = "InvalidMethod";
    /// A route backend sets neither or both of `service` and `url`, or an unusable URL.
    pub const INVALID_BACKEND: &str = "InvalidBackend";
    /// A route's backend Service (or that port of it) is unknown.
    pub const SERVICE_NOT_FOUND: &str = "ServiceNotFound";
    /// A route's backend URL names a literal address the backend address policy refuses
    /// (loopback, link-local, unspecified, a deny-listed block, the proxy's own port).
    pub const BACKEND_ADDRESS_REFUSED: &str = "BackendAddressRefused";
    /// The object translated into configuration the proxy refuses (its validation, which the
    /// controller runs on every snapshot before pushing it); the object is left out so that the
    /// rest is served. The message says which rule.
    pub const INVALID_CONFIGURATION: &str = "InvalidConfiguration";
    /// A route would take requests of another namespace's protected route, or another
    /// namespace's route would take its protected requests; the older keeps them.
    pub const ROUTE_CONFLICT: &str = "RouteConflict";
    /// The keys of an openid-connect plugin's issuer are not fetched (yet, or it fails).
    pub const ISSUER_UNAVAILABLE: &str = "IssuerUnavailable";
}
