//! Whether the installed CRDs carry every field this controller reads and writes.
//!
//! Helm installs `crds/` once and never upgrades it, so after a chart upgrade that adds a field the
//! cluster can hold an older CRD: the API server then prunes the new fields from objects and
//! rejects status writes that carry them. At start (and again every `--crd-recheck-secs` until it passes)
//! the controller compares the schemas the API server publishes (OpenAPI v3 of
//! `tollgate.dev/v1alpha1`, readable by any authenticated client, no RBAC rule needed) with the
//! schemas of its own types (`crate::crdgen::crds`). A field missing from the cluster makes the
//! controller not ready, with a log line and a `/readyz` entry that say which fields and the
//! command to run.

use std::collections::BTreeSet;

use kube::Client;
use serde_json::Value;

/// The name of the check in `/readyz` (beside the watches).
pub const CHECK_NAME: &str = "installed CRD schemas";

/// What to run when a CRD is older than the controller.
pub const UPGRADE_COMMAND: &str = "kubectl apply --server-side --force-conflicts -f crds/ \
     (Helm never upgrades a chart's crds/: apply the chart's crds/ directory of this version)";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading the published OpenAPI schema of {group_version}: {source}")]
    Fetch {
        group_version: String,
        #[source]
        source: kube::Error,
    },
}

/// The fields of one kind the controller has and the cluster lacks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Missing {
    pub kind: String,
    pub fields: Vec<String>,
}

/// Every `spec`/`status` field path of a schema (`spec.clientId`, `status.conditions[].type`).
pub fn field_paths(schema: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for top in ["spec", "status"] {
            if let Some(s) = props.get(top) {
                walk(s, top, &mut out);
            }
        }
    }
    out
}

fn walk(schema: &Value, at: &str, out: &mut BTreeSet<String>) {
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, sub) in props {
            let path = format!("{at}.{name}");
            out.insert(path.clone());
            walk(sub, &path, out);
        }
    }
    if let Some(items) = schema.get("items") {
        walk(items, &format!("{at}[]"), out);
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        for sub in schema
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            walk(sub, at, out);
        }
    }
}

/// The fields each of this controller's kinds has and `published` (an OpenAPI v3 document of
/// the group-version) lacks. A kind absent from the document is skipped: its watch reports the
/// missing CRD.
pub fn compare(published: &Value) -> Vec<Missing> {
    let schemas = published
        .pointer("/components/schemas")
        .and_then(Value::as_object);
    let mut missing = Vec::new();
    for crd in crate::crdgen::crds() {
        let kind = crd.spec.names.kind.clone();
        let reversed: Vec<&str> = crd.spec.group.split('.').rev().collect();
        for version in &crd.spec.versions {
            let key = format!("{}.{}.{kind}", reversed.join("."), version.name);
            let Some(installed) = schemas.and_then(|s| s.get(&key)) else {
                continue;
            };
            let Some(ours) = version
                .schema
                .as_ref()
                .and_then(|s| s.open_api_v3_schema.as_ref())
                .and_then(|s| serde_json::to_value(s).ok())
            else {
                continue;
            };
            let have = field_paths(installed);
            let fields: Vec<String> = field_paths(&ours).difference(&have).cloned().collect();
            if !fields.is_empty() {
                missing.push(Missing {
                    kind: kind.clone(),
                    fields,
                });
            }
        }
    }
    missing
}

/// Fetches the published schemas of the controller's group-version and compares them.
pub async fn check(client: &Client) -> Result<Vec<Missing>, Error> {
    let crds = crate::crdgen::crds();
    let Some(first) = crds.first() else {
        return Ok(Vec::new());
    };
    let group_version = format!(
        "{}/{}",
        first.spec.group,
        first
            .spec
            .versions
            .first()
            .map(|v| v.name.as_str())
            .unwrap_or("v1alpha1")
    );
    let request = http::Request::get(format!("/openapi/v3/apis/{group_version}"))
        .body(Vec::new())
        .map_err(|e| Error::Fetch {
            group_version: group_version.clone(),
            source: kube::Error::HttpError(e),
        })?;
    match client.request::<Value>(request).await {
        Ok(doc) => Ok(compare(&doc)),
        // Not served at all: no CRD of the group is installed; the watches say so.
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(Vec::new()),
        Err(source) => Err(Error::Fetch {
            group_version,
            source,
        }),
    }
}

/// One line for the log and `/readyz`.
pub fn describe(missing: &[Missing]) -> String {
    let kinds: Vec<String> = missing
        .iter()
        .map(|m| format!("{} lacks {}", m.kind, m.fields.join(", ")))
        .collect();
    format!(
        "the installed CRDs are older than this controller ({}); run: {UPGRADE_COMMAND}",
        kinds.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn published(drop_status_field: bool) -> Value {
        let mut schemas = serde_json::Map::new();
        for crd in crate::crdgen::crds() {
            let version = &crd.spec.versions[0];
            let mut schema = serde_json::to_value(
                version
                    .schema
                    .as_ref()
                    .and_then(|s| s.open_api_v3_schema.as_ref()),
            )
            .expect("schema");
            if drop_status_field && crd.spec.names.kind == "OAuth2Credential" {
                let status = schema
                    .pointer_mut("/properties/status/properties")
                    .and_then(Value::as_object_mut)
                    .expect("status properties");
                status.remove("observedGeneration");
            }
            let reversed: Vec<&str> = crd.spec.group.split('.').rev().collect();
            schemas.insert(
                format!(
                    "{}.{}.{}",
                    reversed.join("."),
                    version.name,
                    crd.spec.names.kind
                ),
                schema,
            );
        }
        json!({"components": {"schemas": schemas}})
    }

    #[test]
    fn the_generated_crds_are_complete_and_an_older_one_is_named_with_its_missing_fields() {
        assert_eq!(compare(&published(false)), Vec::new());
        let missing = compare(&published(true));
        assert_eq!(missing.len(), 1, "{missing:?}");
        assert_eq!(missing[0].kind, "OAuth2Credential");
        assert_eq!(missing[0].fields, ["status.observedGeneration"]);
        let line = describe(&missing);
        assert!(
            line.contains("OAuth2Credential lacks status.observedGeneration"),
            "{line}"
        );
        assert!(line.contains("kubectl apply --server-side"), "{line}");
        // A kind the cluster does not serve is left to its watch.
        assert_eq!(compare(&json!({"components": {"schemas": {}}})), Vec::new());
    }

    #[test]
    fn field_paths_follow_properties_items_and_compositions() {
        let schema = json!({"properties": {
            "spec": {"properties": {"a": {"type": "string"},
                                    "list": {"items": {"properties": {"b": {}}}}}},
            "status": {"allOf": [{"properties": {"c": {}}}]},
            "metadata": {"properties": {"name": {}}}
        }});
        let paths: Vec<String> = field_paths(&schema).into_iter().collect();
        assert_eq!(paths, ["spec.a", "spec.list", "spec.list[].b", "status.c"]);
    }
}
