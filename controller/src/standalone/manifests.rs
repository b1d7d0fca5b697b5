//! Parsing of manifest files: the same YAML a user would `kubectl apply` (our resources and core
//! `Secret`s), several documents per file, objects without a namespace in `default`. Other kinds
//! are ignored. Errors carry the 1-based line where the offending document (or token) is.

use k8s_openapi::api::core::v1::Secret;
use kube::api::ObjectMeta;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_yaml::{Mapping, Value};

use crate::resources::{AuthPlugin, Consumer, GatewayRoute, OAuth2Credential};
use crate::translate::DEFAULT_NAMESPACE;

const OUR_API_VERSION: &str = "tollgate.dev/v1alpha1";

/// One object read from a manifest file. `Debug` never prints a Secret's data.
#[derive(Clone)]
pub enum Manifest {
    Consumer(Consumer),
    OAuth2Credential(OAuth2Credential),
    AuthPlugin(AuthPlugin),
    GatewayRoute(GatewayRoute),
    Secret(Secret),
}

impl std::fmt::Debug for Manifest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Consumer(o) => o.fmt(f),
            Self::OAuth2Credential(o) => o.fmt(f),
            Self::AuthPlugin(o) => o.fmt(f),
            Self::GatewayRoute(o) => o.fmt(f),
            Self::Secret(_) => write!(f, "Secret({}, <data redacted>)", self.key()),
        }
    }
}

impl Manifest {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Consumer(_) => "Consumer",
            Self::OAuth2Credential(_) => "OAuth2Credential",
            Self::AuthPlugin(_) => "AuthPlugin",
            Self::GatewayRoute(_) => "GatewayRoute",
            Self::Secret(_) => "Secret",
        }
    }

    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            Self::Consumer(o) => &o.metadata,
            Self::OAuth2Credential(o) => &o.metadata,
            Self::AuthPlugin(o) => &o.metadata,
            Self::GatewayRoute(o) => &o.metadata,
            Self::Secret(o) => &o.metadata,
        }
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        match self {
            Self::Consumer(o) => &mut o.metadata,
            Self::OAuth2Credential(o) => &mut o.metadata,
            Self::AuthPlugin(o) => &mut o.metadata,
            Self::GatewayRoute(o) => &mut o.metadata,
            Self::Secret(o) => &mut o.metadata,
        }
    }

    /// `Kind/namespace/name`, unique per object.
    pub fn key(&self) -> String {
        let meta = self.metadata();
        format!(
            "{}/{}/{}",
            self.kind(),
            meta.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE),
            meta.name.as_deref().unwrap_or_default()
        )
    }
}

/// A document that could not be read. Never contains Secret values (serde messages name fields
/// and types, and Secret documents are reported without the parser's message).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// 1-based line in the file.
    pub line: usize,
    pub message: String,
}

/// Every object of a file, in order. Fails on the first document that cannot be read, so a
/// half-read file never replaces the last good version of it.
pub fn parse(content: &str) -> Result<Vec<Manifest>, ParseError> {
    let mut out = Vec::new();
    for doc in documents(content) {
        parse_document(&doc, &mut out)?;
    }
    Ok(out)
}

/// A YAML document and the 1-based line it starts on.
struct Document {
    text: String,
    first_line: usize,
}

/// Splits a YAML stream at `---` and `...` lines, remembering where each document starts so
/// that error lines refer to the file.
fn documents(content: &str) -> Vec<Document> {
    let mut docs = Vec::new();
    let mut current = Document {
        text: String::new(),
        first_line: 1,
    };
    for (index, line) in content.lines().enumerate() {
        let is_start = line == "---" || line.starts_with("--- ") || line.starts_with("---\t");
        let is_end = line == "..." || line.starts_with("... ");
        if is_start || is_end {
            docs.push(std::mem::replace(
                &mut current,
                Document {
                    text: String::new(),
                    first_line: index + 2,
                },
            ));
            if is_start {
                // Content after `--- ` on the same line belongs to the new document; keep line
                // numbers aligned by starting it on this line.
                let rest = line[3..].trim_start();
                if !rest.is_empty() && !rest.starts_with('#') {
                    current.first_line = index + 1;
                    current.text.push_str(rest);
                    current.text.push('\n');
                }
            }
            continue;
        }
        current.text.push_str(line);
        current.text.push('\n');
    }
    docs.push(current);
    docs
}

fn parse_document(doc: &Document, out: &mut Vec<Manifest>) -> Result<(), ParseError> {
    let at = |line: usize, message: String| ParseError {
        line: doc.first_line + line.saturating_sub(1),
        message,
    };
    let value: Value = serde_yaml::from_str(&doc.text).map_err(|e| {
        let line = e.location().map_or(1, |l| l.line());
        at(line, format!("invalid YAML: {e}"))
    })?;
    match value {
        Value::Null => Ok(()),
        Value::Mapping(map) => parse_object(map, doc, out),
        _ => Err(at(
            1,
            "a manifest must be a mapping (apiVersion, kind, ...)".into(),
        )),
    }
}

fn parse_object(
    mut map: Mapping,
    doc: &Document,
    out: &mut Vec<Manifest>,
) -> Result<(), ParseError> {
    let err = |message: String| ParseError {
        line: doc.first_line,
        message,
    };
    let api_version = map
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let kind = map
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if kind.is_empty() || api_version.is_empty() {
        return Err(err("a manifest needs apiVersion and kind".into()));
    }
    if api_version == "v1" && kind == "List" {
        let items = match map.remove("items") {
            Some(Value::Sequence(items)) => items,
            None | Some(Value::Null) => Vec::new(),
            Some(_) => return Err(err("List items must be a sequence".into())),
        };
        for item in items {
            match item {
                Value::Mapping(m) => parse_object(m, doc, out)?,
                _ => return Err(err("every List item must be a mapping".into())),
            }
        }
        return Ok(());
    }
    let ours = matches!(
        kind.as_str(),
        "Consumer" | "OAuth2Credential" | "AuthPlugin" | "GatewayRoute"
    );
    if ours && api_version != OUR_API_VERSION {
        return Err(err(format!(
            "{kind} must have apiVersion {OUR_API_VERSION}, not {api_version}"
        )));
    }
    if ours && !map.contains_key("spec") {
        map.insert("spec".into(), Value::Mapping(Mapping::new()));
    }
    let value = Value::Mapping(map);
    let mut manifest = match (api_version.as_str(), kind.as_str()) {
        (_, "Consumer") => Manifest::Consumer(typed(value, &kind, doc)?),
        (_, "OAuth2Credential") => Manifest::OAuth2Credential(typed(value, &kind, doc)?),
        (_, "AuthPlugin") => Manifest::AuthPlugin(typed(value, &kind, doc)?),
        (_, "GatewayRoute") => Manifest::GatewayRoute(typed(value, &kind, doc)?),
        ("v1", "Secret") => Manifest::Secret(secret(value, doc)?),
        _ => {
            tracing::debug!(%api_version, %kind, line = doc.first_line, "ignoring a manifest of another kind");
            return Ok(());
        }
    };
    let meta = manifest.metadata_mut();
    if meta.name.as_deref().is_none_or(str::is_empty) {
        return Err(err(format!("{kind} needs metadata.name")));
    }
    if meta.namespace.as_deref().is_none_or(str::is_empty) {
        meta.namespace = Some(DEFAULT_NAMESPACE.to_owned());
    }
    out.push(manifest);
    Ok(())
}

/// One of our resources. Unknown fields are refused, as `kubectl apply` (strict field
/// validation) would refuse them, so a typo such as `globalCredential` is never silently ignored.
fn typed<T: DeserializeOwned + Serialize>(
    value: Value,
    kind: &str,
    doc: &Document,
) -> Result<T, ParseError> {
    let err = |message: String| ParseError {
        line: doc.first_line,
        message,
    };
    let object: T =
        serde_yaml::from_value(value.clone()).map_err(|e| err(format!("invalid {kind}: {e}")))?;
    let known = serde_yaml::to_value(&object).map_err(|e| err(format!("invalid {kind}: {e}")))?;
    let mut unknown = Vec::new();
    unknown_fields(&value, &known, "", &mut unknown);
    unknown.retain(|path| path != "status" && !path.starts_with("status."));
    if !unknown.is_empty() {
        return Err(err(format!(
            "invalid {kind}: unknown field(s) {}",
            unknown.join(", ")
        )));
    }
    Ok(object)
}

/// Paths of keys present in `input` but absent from `known` (the object serialized back),
/// ignoring keys whose value is empty (null, `[]`, `{}`), which serialization may omit.
fn unknown_fields(input: &Value, known: &Value, at: &str, out: &mut Vec<String>) {
    let (Value::Mapping(input), Value::Mapping(known)) = (input, known) else {
        return;
    };
    for (key, value) in input {
        let name = key
            .as_str()
            .map_or_else(|| format!("{key:?}"), str::to_owned);
        let path = if at.is_empty() {
            name
        } else {
            format!("{at}.{name}")
        };
        match known.get(key) {
            Some(sub) => unknown_fields(value, sub, &path, out),
            None if is_empty(value) => {}
            None => out.push(path),
        }
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Sequence(s) => s.is_empty(),
        Value::Mapping(m) => m.is_empty(),
        _ => false,
    }
}

/// A Secret; its parse errors never quote values (a bad base64 value would otherwise leak).
fn secret(value: Value, doc: &Document) -> Result<Secret, ParseError> {
    serde_yaml::from_value(value).map_err(|_| ParseError {
        line: doc.first_line,
        message: "invalid Secret: data values must be base64 strings and stringData values strings"
            .into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_multi_document_file_yields_every_known_object_with_default_namespaces() {
        let yaml = "\
# comment
apiVersion: tollgate.dev/v1alpha1
kind: Consumer
metadata:
  name: jane
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: ignored
---
apiVersion: v1
kind: Secret
metadata:
  name: s
  namespace: team-a
  labels:
    tollgate.dev/secret: credential
stringData:
  client_secret: secret
data:
  other: c2VjcmV0
---
";
        let objects = parse(yaml).expect("valid");
        let keys: Vec<String> = objects.iter().map(Manifest::key).collect();
        assert_eq!(keys, ["Consumer/default/jane", "Secret/team-a/s"]);
        let Manifest::Secret(secret) = &objects[1] else {
            panic!("expected a Secret");
        };
        let data = crate::translate::secrets::decoded_data(secret);
        assert_eq!(
            data.get("client_secret").map(Vec::as_slice),
            Some(&b"secret"[..])
        );
        assert_eq!(data.get("other").map(Vec::as_slice), Some(&b"secret"[..]));
    }

    #[test]
    fn spec_defaults_apply_as_the_api_server_would() {
        let yaml = "\
apiVersion: tollgate.dev/v1alpha1
kind: GatewayRoute
metadata: {name: r}
spec:
  paths: [/x]
  backend: {url: 'http://127.0.0.1:1'}
";
        let objects = parse(yaml).expect("valid");
        let Manifest::GatewayRoute(route) = &objects[0] else {
            panic!("expected a GatewayRoute");
        };
        assert!(route.spec.strip_path);
        let backend = route.spec.backend.as_ref().expect("backend");
        assert_eq!(backend.read_timeout_ms, 60_000);
    }

    #[test]
    fn errors_name_the_line_of_the_broken_document() {
        let cases = [
            (
                "syntax error in the second document",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: a: b\n",
                6,
            ),
            (
                "missing required field",
                "apiVersion: v1\nkind: ConfigMap\n---\n\napiVersion: tollgate.dev/v1alpha1\nkind: OAuth2Credential\nmetadata: {name: x}\nspec: {}\n",
                4,
            ),
            (
                "wrong api version",
                "apiVersion: tollgate.dev/v1\nkind: Consumer\nmetadata: {name: x}\n",
                1,
            ),
            (
                "missing name",
                "---\napiVersion: tollgate.dev/v1alpha1\nkind: Consumer\nmetadata: {}\n",
                2,
            ),
            ("not a mapping", "- a\n- b\n", 1),
        ];
        for (case, yaml, line) in cases {
            let err = parse(yaml).expect_err(case);
            assert_eq!(err.line, line, "{case}: {err}");
        }
    }

    #[test]
    fn debug_output_of_a_secret_manifest_hides_its_data() {
        let yaml = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {k: hunter2}\n";
        let objects = parse(yaml).expect("valid");
        let debug = format!("{objects:?}");
        assert!(debug.contains("Secret/default/s"), "{debug}");
        assert!(!debug.contains("hunter2"), "{debug}");
    }

    #[test]
    fn a_bad_secret_is_reported_without_its_values() {
        let yaml = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata:\n  k: 'not base64 hunter2!'\n";
        let err = parse(yaml).expect_err("bad base64");
        assert!(!err.message.contains("hunter2"), "{err}");
    }

    #[test]
    fn unknown_fields_are_refused_as_kubectl_would_but_explicit_empty_values_are_not() {
        let typo = "apiVersion: tollgate.dev/v1alpha1\nkind: AuthPlugin\nmetadata: {name: p}\nspec:\n  type: oauth2\n  oauth2:\n    enableClientCredentials: true\n    globalCredential: true\n";
        let err = parse(typo).expect_err("typo");
        assert!(
            err.message.contains("spec.oauth2.globalCredential"),
            "{err}"
        );
        let label_typo = "apiVersion: tollgate.dev/v1alpha1\nkind: Consumer\nmetadata:\n  name: c\n  lables: {a: b}\n";
        assert!(
            parse(label_typo)
                .expect_err("typo")
                .message
                .contains("metadata.lables")
        );
        let explicit = "apiVersion: tollgate.dev/v1alpha1\nkind: GatewayRoute\nmetadata: {name: r, labels: {}}\nspec:\n  hosts: []\n  paths: [/]\n  backend: {url: 'http://a', service: null}\nstatus: {conditions: []}\n";
        assert_eq!(parse(explicit).expect("valid").len(), 1);
    }

    #[test]
    fn a_list_of_objects_is_read() {
        let yaml = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: tollgate.dev/v1alpha1\n  kind: Consumer\n  metadata: {name: a}\n- apiVersion: tollgate.dev/v1alpha1\n  kind: Consumer\n  metadata: {name: b}\n";
        assert_eq!(parse(yaml).expect("valid").len(), 2);
    }
}
