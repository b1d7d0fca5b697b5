//! Status shared by every Tollgate resource: `observedGeneration` and the `Accepted`,
//! `ResolvedRefs` and `Programmed` conditions (a list map keyed by `type`, as Gateway API does).

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Condition type: the object's own fields are valid and it does not conflict with another object.
pub const CONDITION_ACCEPTED: &str = "Accepted";
/// Condition type: every object this one refers to (Secret, Consumer, AuthPlugin, Service) exists
/// and is usable.
pub const CONDITION_RESOLVED_REFS: &str = "ResolvedRefs";
/// Condition type: every proxy replica serves a configuration that contains this object. The
/// Ready printer column shows this condition's status.
pub const CONDITION_PROGRAMMED: &str = "Programmed";

/// The status of every Tollgate resource.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectStatus {
    /// The `metadata.generation` the conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Accepted` (the object is valid), `ResolvedRefs` (its references resolve) and
    /// `Programmed` (every proxy replica serves it), at most one of each type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
}

/// One observation of the object's state, in the shape of `metav1.Condition`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Accepted`, `ResolvedRefs` or `Programmed`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: ConditionStatus,
    /// A CamelCase reason a user can act on, such as `SecretNotFound` or `DuplicateClientId`.
    pub reason: String,
    /// A human-readable explanation; never contains secret material.
    #[serde(default)]
    pub message: String,
    /// When the status last changed (RFC 3339).
    #[schemars(extend("format" = "date-time"))]
    pub last_transition_time: String,
    /// The `metadata.generation` this condition was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// The status of a condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

/// `jsonPath` of the Ready printer column: the status of the `Programmed` condition.
pub const READY_COLUMN_PATH: &str = r#".status.conditions[?(@.type=="Programmed")].status"#;
