//! `Consumer`: an API client identity, Kong's consumer. Its id is the `X-Consumer-Id` the
//! upstream receives.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::status::ObjectStatus;

/// A consumer of the APIs behind Tollgate (Kong's consumer). The upstream receives its id
/// (`metadata.uid`) as `X-Consumer-Id`, its username as `X-Consumer-Username` and its custom id
/// as `X-Consumer-Custom-Id`.
#[derive(
    CustomResource, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema,
)]
#[kube(
    group = "tollgate.dev",
    version = "v1alpha1",
    kind = "Consumer",
    plural = "consumers",
    namespaced,
    status = "ObjectStatus",
    shortname = "tgconsumer",
    category = "tollgate",
    doc = "An API client identity (Kong's consumer): sent upstream as X-Consumer-Id/-Username/-Custom-Id.",
    printcolumn(
        name = "Username",
        type_ = "string",
        json_path = ".spec.username",
        description = "X-Consumer-Username (empty: metadata.name)"
    ),
    printcolumn(
        name = "Custom-Id",
        type_ = "string",
        json_path = ".spec.customId",
        priority = "1"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Programmed")].status"#,
        description = "Every proxy replica serves this consumer"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerSpec {
    /// The `X-Consumer-Username` sent upstream. Defaults to `metadata.name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub username: Option<String>,
    /// An id from another system (Kong's `custom_id`), sent upstream as `X-Consumer-Custom-Id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub custom_id: Option<String>,
    /// Groups the consumer belongs to (Kong's ACL groups): sent upstream as
    /// `X-Consumer-Groups` and matched by the `acl` of AuthPlugins. Visible ASCII without commas.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 64),
        inner(
            length(min = 1, max = 128),
            regex(pattern = r"^[\x21-\x2b\x2d-\x7e]+$")
        )
    )]
    pub groups: Vec<String>,
}
