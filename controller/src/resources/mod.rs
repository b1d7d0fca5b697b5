//! The custom resources (group `tollgate.dev`, version `v1alpha1`), one per file.

// kube's `printcolumn(name = .., type_ = ..)` attributes repeat keys by design.
#![allow(clippy::duplicated_attributes)]

pub mod auth_plugin;
pub mod consumer;
pub mod gateway_api;
pub mod gateway_route;
pub mod oauth2_credential;
pub mod status;

pub use auth_plugin::{AuthPlugin, AuthPluginSpec};
pub use consumer::{Consumer, ConsumerSpec};
pub use gateway_route::{GatewayRoute, GatewayRouteSpec};
pub use oauth2_credential::{OAuth2Credential, OAuth2CredentialSpec};
pub use status::{Condition, ConditionStatus, ObjectStatus};

/// API group of every Tollgate resource.
pub const GROUP: &str = "tollgate.dev";
/// Label a Secret must carry for Tollgate to read it (value: `credential`, `signing-keys` or
/// `config-token`).
pub const SECRET_LABEL: &str = "tollgate.dev/secret";
/// [`SECRET_LABEL`] value of a signing-keys Secret.
pub const SECRET_LABEL_SIGNING_KEYS: &str = "signing-keys";
/// [`SECRET_LABEL`] value of a client-secret Secret.
pub const SECRET_LABEL_CREDENTIAL: &str = "credential";
