//! `OAuth2Credential`: an OAuth 2.0 application of a consumer (Kong's `oauth2_credentials`).
//! The client secret lives in a Secret, never in the resource.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::status::ObjectStatus;

/// An OAuth 2.0 client (Kong's oauth2 application) owned by a Consumer. Its `clientId` is
/// unique within its namespace; its secret is read from a labelled Secret and only a verifier of it
/// (argon2id or salted SHA-256) ever reaches the proxies. Deleting the credential, or changing the
/// secret, revokes every token issued to it.
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[kube(
    group = "tollgate.dev",
    version = "v1alpha1",
    kind = "OAuth2Credential",
    plural = "oauth2credentials",
    namespaced,
    status = "ObjectStatus",
    shortname = "tgcred",
    category = "tollgate",
    doc = "An OAuth 2.0 client of a Consumer (Kong's oauth2 application); the secret lives in a Secret.",
    printcolumn(name = "Client-Id", type_ = "string", json_path = ".spec.clientId"),
    printcolumn(
        name = "Consumer",
        type_ = "string",
        json_path = ".spec.consumerRef.name"
    ),
    printcolumn(
        name = "Type",
        type_ = "string",
        json_path = ".spec.clientType",
        priority = "1"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Programmed")].status"#,
        description = "Every proxy replica accepts this client"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.clientType == 'public' || has(self.clientSecretRef)").message("a confidential client needs clientSecretRef"))]
#[x_kube(validation = Rule::new("self.clientType != 'public' || !has(self.clientSecretRef)").message("a public client has no secret: remove clientSecretRef"))]
pub struct OAuth2CredentialSpec {
    /// The Consumer (same namespace) this client authenticates as.
    pub consumer_ref: LocalObjectRef,
    /// The application name (Kong's `name`). Defaults to `metadata.name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub name: Option<String>,
    /// The OAuth 2.0 `client_id`, unique within the namespace (another namespace may use the same
    /// one: each oauth2 plugin looks in its own namespace first); also sent upstream as
    /// `X-Credential-Identifier`.
    #[schemars(length(min = 1, max = 256), regex(pattern = r"^[\x21-\x7e]+$"))]
    pub client_id: String,
    /// Where the client secret is: a key of a Secret in the same namespace. The Secret must carry
    /// the label `tollgate.dev/secret: credential`. A value that already is a PHC verifier
    /// (`$argon2id$...`, Kong's `$pbkdf2-sha512$...`, `$sha256$...`) is used as is, which lets
    /// hashed secrets migrate from Kong. Required for confidential clients, forbidden for public.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_ref: Option<SecretKeyRef>,
    /// Store only an argon2id verifier of the secret (true), or a salted SHA-256 compared in
    /// constant time (false). Defaults to true, unlike Kong (false): the plaintext never leaves
    /// the controller either way, and argon2id keeps a leaked snapshot useless to an attacker.
    #[serde(default = "default_true")]
    pub hash_secret: bool,
    /// Redirect URIs of the application, absolute and without a fragment: where the
    /// authorization code grant may send a code. A request's `redirect_uri` must equal one of
    /// them exactly (no prefix or pattern matching); without one, the first is used. A client
    /// without redirect URIs cannot use the authorization code grant.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(min = 1, max = 2048)))]
    pub redirect_uris: Vec<String>,
    /// The scopes this client may be granted, a subset of its plugin's (asking for another is
    /// `invalid_scope`); absent: any scope the plugin allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64), inner(length(min = 1, max = 128)))]
    pub scopes: Option<Vec<String>>,
    /// `confidential` (authenticates with a secret) or `public` (no secret).
    #[serde(default)]
    pub client_type: ClientType,
}

/// A reference to an object in the same namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LocalObjectRef {
    /// `metadata.name` of the object.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// A key of a Secret in the same namespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SecretKeyRef {
    /// `metadata.name` of the Secret.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// The key inside the Secret's `data` (or `stringData`). Defaults to `client_secret`.
    #[serde(default = "default_secret_key")]
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// Whether the client authenticates with a secret.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ClientType {
    /// Authenticates with `client_secret` (body or HTTP Basic).
    #[default]
    Confidential,
    /// Has no secret and must not send one.
    Public,
}

fn default_true() -> bool {
    true
}

fn default_secret_key() -> String {
    "client_secret".to_owned()
}
