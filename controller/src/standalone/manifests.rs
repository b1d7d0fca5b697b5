//! Parsing of manifest files: the same YAML a user would `kubectl apply` (our resources and core
//! `Secret`s), several documents per file, objects without a namespace in `default`. Other kinds
//! are ignored. Errors carry the 1-based line where the offending document (or token) is.
//!
//! A document is deserialized straight into its typed object, with no generic YAML value in
//! between: `apiVersion` and `kind` are read first (they lead nearly every manifest), then the
//! rest of the same mapping goes to the object's own deserializer. A document whose `apiVersion`
//! or `kind` comes after other keys is read twice: once for them, once into its object.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Namespace, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use kube::api::ObjectMeta;
use serde::Deserialize;
use serde::de::value::{
    MapAccessDeserializer, MapDeserializer, StrDeserializer, StringDeserializer,
};
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess,
    Visitor,
};
use serde_saphyr::MessageFormatter as _;

use super::plain_yaml;
use crate::resources::gateway_api::{self, Gateway, GatewayClass, HTTPRoute, ReferenceGrant};
use crate::resources::{
    AuthPlugin, ConsumerSpec, GatewayRoute, OAuth2CredentialSpec, ObjectStatus,
};
use crate::translate::{DEFAULT_NAMESPACE, Slim};

const OUR_API_VERSION: &str = "tollgate.dev/v1alpha1";
/// The Gateway API's previous version, still served by its CRDs (same fields).
const GATEWAY_API_V1BETA1: &str = "gateway.networking.k8s.io/v1beta1";

/// One object read from a manifest file, shared with the objects handed to translation.
/// Consumers and credentials, which a directory may hold by the hundred thousand, are kept
/// [`Slim`]: only what translation reads of their metadata. `Debug` never prints a Secret's
/// data.
#[derive(Clone)]
pub enum Manifest {
    Consumer(Arc<Slim<ConsumerSpec>>),
    OAuth2Credential(Arc<Slim<OAuth2CredentialSpec>>),
    AuthPlugin(Arc<AuthPlugin>),
    GatewayRoute(Arc<GatewayRoute>),
    Secret(Arc<Secret>),
    /// Namespaces, for their labels (AuthPlugin `allowedNamespaces` selectors).
    Namespace(Arc<Namespace>),
    GatewayClass(Arc<GatewayClass>),
    Gateway(Arc<Gateway>),
    HTTPRoute(Arc<HTTPRoute>),
    ReferenceGrant(Arc<ReferenceGrant>),
    /// Services and EndpointSlices, where backendRefs and `backend.service` resolve.
    Service(Arc<Service>),
    EndpointSlice(Arc<EndpointSlice>),
    /// `networking.k8s.io/v1` Ingresses and IngressClasses.
    Ingress(Arc<Ingress>),
    IngressClass(Arc<IngressClass>),
}

impl std::fmt::Debug for Manifest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Consumer(o) => o.fmt(f),
            Self::OAuth2Credential(o) => o.fmt(f),
            Self::AuthPlugin(o) => o.fmt(f),
            Self::GatewayRoute(o) => o.fmt(f),
            Self::Secret(_) => write!(f, "Secret({}, <data redacted>)", self.key()),
            Self::Namespace(o) => o.fmt(f),
            Self::GatewayClass(o) => o.fmt(f),
            Self::Gateway(o) => o.fmt(f),
            Self::HTTPRoute(o) => o.fmt(f),
            Self::ReferenceGrant(o) => o.fmt(f),
            Self::Service(o) => o.fmt(f),
            Self::EndpointSlice(o) => o.fmt(f),
            Self::Ingress(o) => o.fmt(f),
            Self::IngressClass(o) => o.fmt(f),
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
            Self::Namespace(_) => "Namespace",
            Self::GatewayClass(_) => "GatewayClass",
            Self::Gateway(_) => "Gateway",
            Self::HTTPRoute(_) => "HTTPRoute",
            Self::ReferenceGrant(_) => "ReferenceGrant",
            Self::Service(_) => "Service",
            Self::EndpointSlice(_) => "EndpointSlice",
            Self::Ingress(_) => "Ingress",
            Self::IngressClass(_) => "IngressClass",
        }
    }

    /// `metadata.namespace` and `metadata.name`.
    pub fn namespace_and_name(&self) -> (Option<&str>, Option<&str>) {
        let meta = match self {
            Self::Consumer(o) => return (o.namespace.as_deref(), Some(&o.name)),
            Self::OAuth2Credential(o) => return (o.namespace.as_deref(), Some(&o.name)),
            Self::AuthPlugin(o) => &o.metadata,
            Self::GatewayRoute(o) => &o.metadata,
            Self::Secret(o) => &o.metadata,
            Self::Namespace(o) => &o.metadata,
            Self::GatewayClass(o) => &o.metadata,
            Self::Gateway(o) => &o.metadata,
            Self::HTTPRoute(o) => &o.metadata,
            Self::ReferenceGrant(o) => &o.metadata,
            Self::Service(o) => &o.metadata,
            Self::EndpointSlice(o) => &o.metadata,
            Self::Ingress(o) => &o.metadata,
            Self::IngressClass(o) => &o.metadata,
        };
        (meta.namespace.as_deref(), meta.name.as_deref())
    }

    /// `Kind/namespace/name`, unique per object.
    pub fn key(&self) -> String {
        let (namespace, name) = self.namespace_and_name();
        format!(
            "{}/{}/{}",
            self.kind(),
            namespace.unwrap_or(DEFAULT_NAMESPACE),
            name.unwrap_or_default()
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
/// half-read file never replaces the last good version of it. A large file's documents are
/// read by several threads, each taking a contiguous share of them.
pub fn parse(content: &str) -> Result<Vec<Manifest>, ParseError> {
    let threads = if content.len() < PARALLEL_FROM_BYTES {
        1
    } else {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    };
    parse_with_threads(content, threads.min(MAX_THREADS))
}

/// Below this size a file is read by one thread.
const PARALLEL_FROM_BYTES: usize = 1 << 20;
const MAX_THREADS: usize = 8;

fn parse_with_threads(content: &str, threads: usize) -> Result<Vec<Manifest>, ParseError> {
    if threads <= 1 {
        return parse_documents(documents(content), true);
    }
    let docs: Vec<Document<'_>> = documents(content).collect();
    let share = content.len().div_ceil(threads);
    let mut chunks = Vec::with_capacity(threads);
    let (mut start, mut bytes) = (0, 0);
    for (index, doc) in docs.iter().enumerate() {
        bytes += doc.text.len();
        if bytes >= share {
            chunks.push(&docs[start..=index]);
            (start, bytes) = (index + 1, 0);
        }
    }
    if start < docs.len() {
        chunks.push(&docs[start..]);
    }
    let results: Vec<Result<Vec<Manifest>, ParseError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .iter()
            .map(|&chunk| {
                std::thread::Builder::new()
                    .name("manifests".into())
                    .spawn_scoped(scope, move || parse_documents(chunk.iter(), true))
                    .map_err(|_| chunk)
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| match handle {
                Ok(handle) => handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                // No thread to be had: read that share here.
                Err(chunk) => parse_documents(chunk.iter(), true),
            })
            .collect()
    });
    // The shares are in file order, and each stops at its own first error: the first error
    // met here is the file's first.
    let mut out = Vec::new();
    for objects in results {
        out.extend(objects?);
    }
    Ok(out)
}

/// Reads `docs`; with `plain`, documents of the plain subset of YAML by `plain_yaml` (the full
/// parser reads the others).
fn parse_documents<'a, D>(
    docs: impl Iterator<Item = D>,
    plain: bool,
) -> Result<Vec<Manifest>, ParseError>
where
    D: std::borrow::Borrow<Document<'a>>,
{
    let mut out = Vec::new();
    for doc in docs {
        parse_document(doc.borrow(), &mut out, plain)?;
    }
    Ok(out)
}

/// A YAML document (a slice of the file) and the 1-based line it starts on.
struct Document<'a> {
    text: &'a str,
    first_line: usize,
}

/// Splits a YAML stream at `---` and `...` lines, remembering where each document starts so
/// that error lines refer to the file. The documents borrow from `content`.
fn documents(content: &str) -> Documents<'_> {
    Documents {
        content,
        pos: 0,
        lines: 0,
        start: 0,
        first_line: 1,
        finished: false,
    }
}

struct Documents<'a> {
    content: &'a str,
    /// Byte offset of the next line to look at, and how many lines came before it.
    pos: usize,
    lines: usize,
    /// Byte offset and 1-based first line of the current document.
    start: usize,
    first_line: usize,
    finished: bool,
}

impl<'a> Iterator for Documents<'a> {
    type Item = Document<'a>;

    fn next(&mut self) -> Option<Document<'a>> {
        if self.finished {
            return None;
        }
        while self.pos < self.content.len() {
            let rest = &self.content[self.pos..];
            let raw = &rest[..rest.find('\n').map_or(rest.len(), |i| i + 1)];
            let line_start = self.pos;
            self.pos += raw.len();
            self.lines += 1;
            let line = raw.strip_suffix('\n').unwrap_or(raw);
            let line = line.strip_suffix('\r').unwrap_or(line);
            let is_start = line == "---" || line.starts_with("--- ") || line.starts_with("---\t");
            let is_end = line == "..." || line.starts_with("... ");
            if !is_start && !is_end {
                continue;
            }
            let doc = Document {
                text: &self.content[self.start..line_start],
                first_line: self.first_line,
            };
            self.start = self.pos;
            self.first_line = self.lines + 1;
            if is_start {
                // Content after `--- ` on the same line belongs to the new document, which then
                // starts on this line.
                let after = line[3..].trim_start();
                if !after.is_empty() && !after.starts_with('#') {
                    self.start = line_start + (line.len() - after.len());
                    self.first_line = self.lines;
                }
            }
            return Some(doc);
        }
        self.finished = true;
        Some(Document {
            text: &self.content[self.start..],
            first_line: self.first_line,
        })
    }
}

/// How manifests are read: local files of the operator, so no size budget (a Secret or a List
/// may hold any number of entries); alias expansion stays limited by the parser's defaults, and
/// errors carry no snippet of the text (it could be a Secret's value).
fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: None,
        with_snippet: false,
    }
}

fn parse_document(
    doc: &Document<'_>,
    out: &mut Vec<Manifest>,
    plain: bool,
) -> Result<(), ParseError> {
    let start = out.len();
    let mut reader = Reader {
        plain,
        first_line: doc.first_line,
        out,
        failure: None,
        typed: None,
        reread: false,
    };
    let head = reader.read(doc.text, None)?;
    if reader.reread {
        // Some object had other keys before its apiVersion and kind: now that every object's
        // head is known, read the document again, straight into the objects.
        reader.out.truncate(start);
        reader.read(doc.text, Some(&head))?;
    }
    Ok(())
}

/// `apiVersion` and `kind` of an object (empty when absent or not a string), and the heads of
/// its `items`, in case it is a `List`.
#[derive(Debug, Default)]
struct Head {
    api_version: String,
    kind: String,
    items: Vec<Head>,
}

/// State of one document's reading.
struct Reader<'o> {
    /// Whether documents of the plain subset of YAML are read by `plain_yaml`.
    plain: bool,
    first_line: usize,
    out: &'o mut Vec<Manifest>,
    /// Why the reading stopped, when it was this module's decision.
    failure: Option<ParseError>,
    /// The kind being deserialized into its type, while that runs.
    typed: Option<&'static str>,
    /// Whether an object's head came too late to read the object in one pass.
    reread: bool,
}

impl Reader<'_> {
    /// Reads `text`, a document; with `known`, the heads of its objects are those of a first
    /// reading. Returns the heads found.
    fn read(&mut self, text: &str, known: Option<&Head>) -> Result<Head, ParseError> {
        // Most documents are in the plain subset of YAML, read several times faster by
        // `plain_yaml`; whatever it leaves (or any error) is read again by the full parser.
        if let Some(node) = plain_yaml::parse(text).filter(|_| self.plain) {
            let (start, reread) = (self.out.len(), self.reread);
            let read = ObjectSeed {
                reader: &mut *self,
                known,
                item: false,
            }
            .deserialize(plain_yaml::NodeDeserializer(node));
            match read {
                Ok(head) => return Ok(head),
                Err(plain_yaml::Refused) => {
                    self.out.truncate(start);
                    self.failure = None;
                    self.typed = None;
                    self.reread = reread;
                }
            }
        }
        let result =
            serde_saphyr::with_deserializer_from_str_with_options(text, yaml_options(), |de| {
                ObjectSeed {
                    reader: &mut *self,
                    known,
                    item: false,
                }
                .deserialize(de)
            });
        result.map_err(|error| {
            // Errors of the text come first, as if the document had been parsed before being
            // read: an object can fail on a value whose YAML is broken further on.
            if !is_syntax_error(error.without_snippet())
                && let Err(syntax) =
                    serde_saphyr::from_str_with_options::<IgnoredAny>(text, yaml_options())
                && is_syntax_error(syntax.without_snippet())
            {
                self.failure = None;
                self.typed = None;
                return self.error(&syntax);
            }
            self.error(&error)
        })
    }

    /// Stops the reading with `message`, reported at the document's first line.
    fn fail<E: de::Error>(&mut self, message: String) -> E {
        let error = E::custom(&message);
        self.failure.get_or_insert(ParseError {
            line: self.first_line,
            message,
        });
        error
    }

    /// The error to report for a failed reading.
    fn error(&mut self, error: &serde_saphyr::Error) -> ParseError {
        let error = error.without_snippet();
        let first_line = self.first_line;
        let line = |e: &serde_saphyr::Error| {
            e.location().map_or(first_line, |l| {
                first_line + usize::try_from(l.line()).unwrap_or(1).saturating_sub(1)
            })
        };
        let message = serde_saphyr::UserMessageFormatter.format_message(error);
        if is_syntax_error(error) {
            return ParseError {
                line: line(error),
                message: format!("invalid YAML: {message}"),
            };
        }
        if let Some(failure) = self.failure.take() {
            return failure;
        }
        match self.typed.take() {
            Some("Secret") => ParseError {
                line: self.first_line,
                message: "invalid Secret: data values must be base64 strings and stringData values strings"
                    .into(),
            },
            Some(kind) => ParseError {
                line: self.first_line,
                message: if error.location().is_some() {
                    format!("invalid {kind}: {message} (line {})", line(error))
                } else {
                    format!("invalid {kind}: {message}")
                },
            },
            None => ParseError {
                line: line(error),
                message: format!("invalid YAML: {message}"),
            },
        }
    }

    /// Reads the object whose mapping is `map`: at once when its head comes first (or is
    /// `known`), otherwise only its head, and the document is read again.
    fn object<'de, A: MapAccess<'de>>(
        &mut self,
        mut map: A,
        known: Option<&Head>,
    ) -> Result<Head, A::Error> {
        if let Some(head) = known {
            self.dispatch(head, map, Some(&head.items))?;
            return Ok(Head::default());
        }
        let mut head = Head::default();
        let (mut api_version, mut kind) = (None, None);
        while api_version.is_none() || kind.is_none() {
            match map.next_key::<Key>()? {
                Some(Key::ApiVersion) => api_version = Some(map.next_value::<Text>()?.0),
                Some(Key::Kind) => kind = Some(map.next_value::<Text>()?.0),
                Some(key) => {
                    // Another key first: note the head (and the items' heads), read later.
                    self.reread = true;
                    let mut key = Some(key);
                    loop {
                        match key {
                            Some(Key::ApiVersion) => {
                                api_version = Some(map.next_value::<Text>()?.0);
                            }
                            Some(Key::Kind) => kind = Some(map.next_value::<Text>()?.0),
                            Some(Key::Items) => head.items = map.next_value::<ScannedItems>()?.0,
                            Some(Key::Other) => {
                                map.next_value::<IgnoredAny>()?;
                            }
                            None => break,
                        }
                        key = map.next_key::<Key>()?;
                    }
                    head.api_version = api_version.unwrap_or_default();
                    head.kind = kind.unwrap_or_default();
                    return Ok(head);
                }
                None => break,
            }
        }
        head.api_version = api_version.unwrap_or_default();
        head.kind = kind.unwrap_or_default();
        let first = [
            ("apiVersion", head.api_version.clone()),
            ("kind", head.kind.clone()),
        ];
        head.items = self.dispatch(&head, Prefixed::new(first, map), None)?;
        Ok(head)
    }

    /// Reads the object of head `head` from `map` (the whole mapping, or its rest after
    /// `apiVersion` and `kind`). Returns the heads of a `List`'s items.
    fn dispatch<'de, A: MapAccess<'de>>(
        &mut self,
        head: &Head,
        mut map: A,
        known_items: Option<&[Head]>,
    ) -> Result<Vec<Head>, A::Error> {
        let (api_version, kind) = (head.api_version.as_str(), head.kind.as_str());
        if kind.is_empty() || api_version.is_empty() {
            return Err(self.fail("a manifest needs apiVersion and kind".into()));
        }
        if api_version == "v1" && kind == "List" {
            let mut heads = Vec::new();
            while let Some(key) = map.next_key::<Key>()? {
                if key == Key::Items {
                    heads = map.next_value_seed(ItemsSeed {
                        reader: &mut *self,
                        known: known_items,
                    })?;
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            return Ok(heads);
        }
        let ours = matches!(
            kind,
            "Consumer" | "OAuth2Credential" | "AuthPlugin" | "GatewayRoute"
        );
        if ours && api_version != OUR_API_VERSION {
            return Err(self.fail(format!(
                "{kind} must have apiVersion {OUR_API_VERSION}, not {api_version}"
            )));
        }
        let manifest = match (api_version, kind) {
            (_, "Consumer") => Manifest::Consumer(Arc::new(self.typed("Consumer", map)?)),
            (_, "OAuth2Credential") => {
                Manifest::OAuth2Credential(Arc::new(self.typed("OAuth2Credential", map)?))
            }
            (_, "AuthPlugin") => Manifest::AuthPlugin(Arc::new(self.typed("AuthPlugin", map)?)),
            (_, "GatewayRoute") => {
                Manifest::GatewayRoute(Arc::new(self.typed("GatewayRoute", map)?))
            }
            ("v1", "Secret") => {
                // Its errors never quote values (a bad base64 value would otherwise leak).
                self.typed = Some("Secret");
                let mut secret = Secret::deserialize(MapAccessDeserializer::new(map))?;
                self.typed = None;
                self.named(&mut secret.metadata, kind)?;
                Manifest::Secret(Arc::new(secret))
            }
            ("v1", "Namespace") => {
                let mut namespace = Namespace::deserialize(MapAccessDeserializer::new(map))?;
                self.named(&mut namespace.metadata, kind)?;
                // Cluster-scoped: whatever namespace a manifest gives it is not its own.
                namespace.metadata.namespace = None;
                Manifest::Namespace(Arc::new(namespace))
            }
            (
                gateway_api::API_VERSION | GATEWAY_API_V1BETA1,
                "GatewayClass" | "Gateway" | "HTTPRoute" | "ReferenceGrant",
            ) => {
                // The Gateway API's own kinds: fields Tollgate does not read are ignored, as
                // the API server (with the Gateway API's CRDs) would store them.
                let de = MapAccessDeserializer::new(map);
                match kind {
                    "GatewayClass" => {
                        let mut class: GatewayClass = self.named_foreign("GatewayClass", de)?;
                        // Cluster-scoped.
                        class.metadata.namespace = None;
                        Manifest::GatewayClass(Arc::new(class))
                    }
                    "Gateway" => Manifest::Gateway(Arc::new(self.named_foreign("Gateway", de)?)),
                    "HTTPRoute" => {
                        Manifest::HTTPRoute(Arc::new(self.named_foreign("HTTPRoute", de)?))
                    }
                    _ => Manifest::ReferenceGrant(Arc::new(
                        self.named_foreign("ReferenceGrant", de)?,
                    )),
                }
            }
            ("v1", "Service") => Manifest::Service(Arc::new(
                self.named_foreign("Service", MapAccessDeserializer::new(map))?,
            )),
            ("discovery.k8s.io/v1", "EndpointSlice") => Manifest::EndpointSlice(Arc::new(
                self.named_foreign("EndpointSlice", MapAccessDeserializer::new(map))?,
            )),
            ("networking.k8s.io/v1", "Ingress") => Manifest::Ingress(Arc::new(
                self.named_foreign("Ingress", MapAccessDeserializer::new(map))?,
            )),
            ("networking.k8s.io/v1", "IngressClass") => {
                let mut class: IngressClass =
                    self.named_foreign("IngressClass", MapAccessDeserializer::new(map))?;
                // Cluster-scoped.
                class.metadata.namespace = None;
                Manifest::IngressClass(Arc::new(class))
            }
            _ => {
                tracing::debug!(%api_version, %kind, line = self.first_line, "ignoring a manifest of another kind");
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                return Ok(Vec::new());
            }
        };
        self.out.push(manifest);
        Ok(Vec::new())
    }

    /// One of our resources. Unknown fields are refused, as `kubectl apply` (strict field
    /// validation) would refuse them, so a typo such as `globalCredential` is never silently
    /// ignored. A missing `spec` is read as `spec: {}`, so that its defaults apply.
    fn typed<'de, T: Resource, A: MapAccess<'de>>(
        &mut self,
        kind: &'static str,
        map: A,
    ) -> Result<T, A::Error> {
        let mut unknown = Vec::new();
        self.typed = Some(kind);
        let object: Object<T::Spec> =
            serde_ignored::deserialize(MapAccessDeserializer::new(map), |path| {
                let path = field_path(&path);
                let read_elsewhere = path == "apiVersion" || path == "kind";
                let status = path == "status" || path.starts_with("status.");
                if !read_elsewhere && !status {
                    unknown.push(path);
                }
            })?;
        self.typed = None;
        if !unknown.is_empty() {
            return Err(self.fail(format!(
                "invalid {kind}: unknown field(s) {}",
                unknown.join(", ")
            )));
        }
        let spec = match object.spec {
            Some(spec) => spec,
            None => T::Spec::deserialize(MapDeserializer::<_, de::value::Error>::new(
                std::iter::empty::<(&str, ())>(),
            ))
            .map_err(|e| self.fail(format!("invalid {kind}: spec: {e}")))?,
        };
        let mut metadata = object.metadata;
        self.named(&mut metadata, kind)?;
        Ok(T::assemble(metadata, spec, object.status))
    }

    /// An object of a kind that is not ours, read with its own type (unknown fields ignored).
    fn foreign<'de, T: DeserializeOwned, D: Deserializer<'de>>(
        &mut self,
        kind: &'static str,
        de: D,
    ) -> Result<T, D::Error> {
        self.typed = Some(kind);
        let object = serde_ignored::deserialize(de, |_| {})?;
        self.typed = None;
        Ok(object)
    }

    /// [`Self::foreign`], named and namespaced as [`Self::named`] does.
    fn named_foreign<'de, T, D>(&mut self, kind: &'static str, de: D) -> Result<T, D::Error>
    where
        T: DeserializeOwned + kube::Resource,
        D: Deserializer<'de>,
    {
        let mut object: T = self.foreign(kind, de)?;
        self.named(object.meta_mut(), kind)?;
        Ok(object)
    }

    /// Checks that the object has a name, and puts it in the default namespace if it has none.
    fn named<E: de::Error>(&mut self, meta: &mut ObjectMeta, kind: &str) -> Result<(), E> {
        if meta.name.as_deref().is_none_or(str::is_empty) {
            return Err(self.fail(format!("{kind} needs metadata.name")));
        }
        if meta.namespace.as_deref().is_none_or(str::is_empty) {
            meta.namespace = Some(DEFAULT_NAMESPACE.to_owned());
        }
        Ok(())
    }
}

/// Errors of the YAML text itself (its syntax, duplicate keys, unknown aliases) rather than of
/// what it holds, reported at their own line.
fn is_syntax_error(error: &serde_saphyr::Error) -> bool {
    match error {
        serde_saphyr::Error::ExternalMessage { source, .. } => {
            matches!(**source, serde_saphyr::ExternalMessageSource::Parser(_))
        }
        serde_saphyr::Error::Eof { .. }
        | serde_saphyr::Error::DuplicateMappingKey { .. }
        | serde_saphyr::Error::UnknownAnchor { .. }
        | serde_saphyr::Error::IndentationError { .. }
        | serde_saphyr::Error::AliasError { .. } => true,
        _ => false,
    }
}

/// A path reported by `serde_ignored` as kubectl names fields: `spec.oauth2.scopes`,
/// `spec.paths[0]`.
fn field_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", field_path(parent)),
        Path::Map { parent, key } => {
            let parent = field_path(parent);
            if parent.is_empty() {
                key.clone()
            } else {
                format!("{parent}.{key}")
            }
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => field_path(parent),
    }
}

/// Our resources, read as [`Object`]s.
trait Resource: Sized {
    type Spec: DeserializeOwned;
    fn assemble(metadata: ObjectMeta, spec: Self::Spec, status: Option<ObjectStatus>) -> Self;
}

macro_rules! resources {
    ($($resource:ident: $spec:ident),* $(,)?) => {$(
        impl Resource for $resource {
            type Spec = crate::resources::$spec;
            fn assemble(metadata: ObjectMeta, spec: Self::Spec, status: Option<ObjectStatus>) -> Self {
                Self { metadata, spec, status }
            }
        }
    )*};
}

resources!(AuthPlugin: AuthPluginSpec, GatewayRoute: GatewayRouteSpec);

/// Consumers and credentials: their status and the metadata translation does not read are
/// dropped once read (and checked) like the rest.
impl<S: DeserializeOwned> Resource for Slim<S> {
    type Spec = S;
    fn assemble(metadata: ObjectMeta, spec: S, _status: Option<ObjectStatus>) -> Self {
        Slim::new(metadata, spec)
    }
}

/// One of our resources as written in a manifest; `apiVersion` and `kind` were read before.
#[derive(Deserialize)]
struct Object<S> {
    metadata: ObjectMeta,
    spec: Option<S>,
    status: Option<ObjectStatus>,
}

/// The `visit_*` methods of a visitor for the scalars it takes as "anything else": each yields
/// `$other`.
macro_rules! other_scalars {
    ($other:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($other)
        }
    };
}

/// The `visit_*` methods of a seed for the scalars it refuses (with `self.refuse()`).
macro_rules! refused_scalars {
    () => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Err(self.refuse())
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Err(self.refuse())
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Err(self.refuse())
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Err(self.refuse())
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Err(self.refuse())
        }
    };
}

fn skip_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

fn skip_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

/// The keys the reading looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Key {
    ApiVersion,
    Kind,
    Items,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
                Ok(match key {
                    "apiVersion" => Key::ApiVersion,
                    "kind" => Key::Kind,
                    "items" => Key::Items,
                    _ => Key::Other,
                })
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Key, A::Error> {
                skip_seq(seq).map(|()| Key::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Key, A::Error> {
                skip_map(map).map(|()| Key::Other)
            }
            other_scalars!(Key::Other);
        }
        deserializer.deserialize_any(KeyVisitor)
    }
}

/// A string value, or "" for any other value.
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Text, E> {
                Ok(Text(value.to_owned()))
            }
            fn visit_string<E: de::Error>(self, value: String) -> Result<Text, E> {
                Ok(Text(value))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Text, A::Error> {
                skip_seq(seq).map(|()| Text(String::new()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Text, A::Error> {
                skip_map(map).map(|()| Text(String::new()))
            }
            other_scalars!(Text(String::new()));
        }
        deserializer.deserialize_any(TextVisitor)
    }
}

/// The head of any value, for a mapping whose kind is not known yet: a mapping's own, and
/// its items' if it has a sequence of `items` (it may be a `List`); empty for anything else.
struct ScannedHead(Head);

impl<'de> Deserialize<'de> for ScannedHead {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HeadVisitor;
        impl<'de> Visitor<'de> for HeadVisitor {
            type Value = ScannedHead;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ScannedHead, A::Error> {
                let mut head = Head::default();
                while let Some(key) = map.next_key::<Key>()? {
                    match key {
                        Key::ApiVersion => head.api_version = map.next_value::<Text>()?.0,
                        Key::Kind => head.kind = map.next_value::<Text>()?.0,
                        Key::Items => head.items = map.next_value::<ScannedItems>()?.0,
                        Key::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(ScannedHead(head))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<ScannedHead, E> {
                Ok(ScannedHead(Head::default()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<ScannedHead, A::Error> {
                skip_seq(seq).map(|()| ScannedHead(Head::default()))
            }
            other_scalars!(ScannedHead(Head::default()));
        }
        deserializer.deserialize_any(HeadVisitor)
    }
}

/// The heads of a sequence's items (see [`ScannedHead`]); none for anything else.
struct ScannedItems(Vec<Head>);

impl<'de> Deserialize<'de> for ScannedItems {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ItemsVisitor;
        impl<'de> Visitor<'de> for ItemsVisitor {
            type Value = ScannedItems;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ScannedItems, A::Error> {
                let mut heads = Vec::new();
                while let Some(head) = seq.next_element::<ScannedHead>()? {
                    heads.push(head.0);
                }
                Ok(ScannedItems(heads))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ScannedItems, A::Error> {
                skip_map(map).map(|()| ScannedItems(Vec::new()))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<ScannedItems, E> {
                Ok(ScannedItems(Vec::new()))
            }
            other_scalars!(ScannedItems(Vec::new()));
        }
        deserializer.deserialize_any(ItemsVisitor)
    }
}

/// A mapping whose first entries were already read: they are replayed, then the rest follows.
struct Prefixed<A> {
    first: std::array::IntoIter<(&'static str, String), 2>,
    value: Option<String>,
    rest: A,
}

impl<A> Prefixed<A> {
    fn new(first: [(&'static str, String); 2], rest: A) -> Self {
        Self {
            first: first.into_iter(),
            value: None,
            rest,
        }
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Prefixed<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        match self.first.next() {
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(StrDeserializer::new(key)).map(Some)
            }
            None => self.rest.next_key_seed(seed),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        match self.value.take() {
            Some(value) => seed.deserialize(StringDeserializer::new(value)),
            None => self.rest.next_value_seed(seed),
        }
    }
}

/// An object: the document (`item` false), which may also be empty, or an item of a `List`.
struct ObjectSeed<'r, 'o, 'h> {
    reader: &'r mut Reader<'o>,
    known: Option<&'h Head>,
    item: bool,
}

impl ObjectSeed<'_, '_, '_> {
    fn refuse<E: de::Error>(self) -> E {
        self.reader.fail(
            if self.item {
                "every List item must be a mapping"
            } else {
                "a manifest must be a mapping (apiVersion, kind, ...)"
            }
            .into(),
        )
    }
}

impl<'de> DeserializeSeed<'de> for ObjectSeed<'_, '_, '_> {
    type Value = Head;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Head, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ObjectSeed<'_, '_, '_> {
    type Value = Head;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a manifest")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Head, A::Error> {
        self.reader.object(map, self.known)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Head, E> {
        if self.item {
            Err(self.refuse())
        } else {
            Ok(Head::default())
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Head, A::Error> {
        Err(self.refuse())
    }

    refused_scalars!();
}

/// A `List`'s items, read as the document's objects are.
struct ItemsSeed<'r, 'o, 'h> {
    reader: &'r mut Reader<'o>,
    known: Option<&'h [Head]>,
}

impl ItemsSeed<'_, '_, '_> {
    fn refuse<E: de::Error>(self) -> E {
        self.reader.fail("List items must be a sequence".into())
    }
}

impl<'de> DeserializeSeed<'de> for ItemsSeed<'_, '_, '_> {
    type Value = Vec<Head>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Vec<Head>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ItemsSeed<'_, '_, '_> {
    type Value = Vec<Head>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a sequence of manifests")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Head>, A::Error> {
        let mut heads = Vec::new();
        loop {
            let seed = ObjectSeed {
                reader: &mut *self.reader,
                // A second reading knows every item's head (an empty one fails, as it should).
                known: self
                    .known
                    .map(|known| known.get(heads.len()).unwrap_or(&NO_HEAD)),
                item: true,
            };
            match seq.next_element_seed(seed)? {
                Some(head) => heads.push(head),
                None => return Ok(heads),
            }
        }
    }

    fn visit_unit<E: de::Error>(self) -> Result<Vec<Head>, E> {
        Ok(Vec::new())
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Vec<Head>, A::Error> {
        Err(self.refuse())
    }

    refused_scalars!();
}

static NO_HEAD: Head = Head {
    api_version: String::new(),
    kind: String::new(),
    items: Vec::new(),
};

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
            (
                "duplicate key",
                "apiVersion: v1\nkind: ConfigMap\n---\napiVersion: tollgate.dev/v1alpha1\nkind: Consumer\nmetadata: {name: a}\nmetadata: {name: b}\n",
                7,
            ),
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

    #[test]
    fn objects_whose_apiversion_and_kind_come_last_are_read_and_checked_too() {
        let yaml = "\
metadata: {name: late}
kind: Consumer
apiVersion: tollgate.dev/v1alpha1
---
apiVersion: v1
items:
- metadata: {name: first}
  spec: {username: one}
  kind: Consumer
  apiVersion: tollgate.dev/v1alpha1
- {apiVersion: tollgate.dev/v1alpha1, kind: Consumer, metadata: {name: second}}
kind: List
---
apiVersion: tollgate.dev/v1alpha1
kind: Consumer
metadata: {name: early}
";
        let objects = parse(yaml).expect("valid");
        let keys: Vec<String> = objects.iter().map(Manifest::key).collect();
        assert_eq!(
            keys,
            [
                "Consumer/default/late",
                "Consumer/default/first",
                "Consumer/default/second",
                "Consumer/default/early"
            ]
        );
        let Manifest::Consumer(first) = &objects[1] else {
            panic!("expected a Consumer");
        };
        assert_eq!(first.spec.username.as_deref(), Some("one"));
        let typo = "spec:\n  type: oauth2\n  oauth2: {enableClientCredentials: true, globalCredential: true}\nmetadata: {name: p}\napiVersion: tollgate.dev/v1alpha1\nkind: AuthPlugin\n";
        let err = parse(typo).expect_err("typo");
        assert!(
            err.message.contains("spec.oauth2.globalCredential"),
            "{err}"
        );
        let wrong = "kind: Consumer\nmetadata: {name: x}\napiVersion: tollgate.dev/v1\n";
        assert_eq!(parse(wrong).expect_err("wrong api version").line, 1);
    }

    #[test]
    fn a_yaml_error_wins_over_a_type_error_before_it_and_is_reported_at_its_own_line() {
        let yaml = "apiVersion: tollgate.dev/v1alpha1\nkind: Consumer\nmetadata:\n  name: broken\n  labels: [unclosed\nspec: {}\n";
        let err = parse(yaml).expect_err("broken");
        assert!(err.message.starts_with("invalid YAML: "), "{err}");
        assert_eq!(err.line, 6, "{err}");
    }

    #[test]
    fn a_type_error_is_reported_at_its_document_and_names_the_line_of_the_value() {
        let yaml = "apiVersion: v1\nkind: ConfigMap\n---\napiVersion: tollgate.dev/v1alpha1\nkind: GatewayRoute\nmetadata: {name: r}\nspec:\n  paths: 5\n";
        let err = parse(yaml).expect_err("paths must be a sequence");
        assert_eq!(err.line, 4, "{err}");
        assert!(err.message.starts_with("invalid GatewayRoute: "), "{err}");
        assert!(err.message.ends_with("(line 8)"), "{err}");
    }

    #[test]
    fn unknown_fields_inside_sequences_are_named_with_their_index() {
        let yaml = "apiVersion: tollgate.dev/v1alpha1\nkind: Consumer\nmetadata:\n  name: c\n  ownerReferences:\n  - {apiVersion: v1, kind: X, name: n, uid: u, bogus: 1}\n";
        let err = parse(yaml).expect_err("unknown field");
        assert!(
            err.message
                .ends_with("unknown field(s) metadata.ownerReferences[0].bogus"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_spec_is_read_as_an_empty_one() {
        let yaml = "apiVersion: tollgate.dev/v1alpha1\nkind: Consumer\nmetadata: {name: c}\n";
        let objects = parse(yaml).expect("valid");
        let Manifest::Consumer(consumer) = &objects[0] else {
            panic!("expected a Consumer");
        };
        assert_eq!(consumer.spec, crate::resources::ConsumerSpec::default());
        let yaml =
            "apiVersion: tollgate.dev/v1alpha1\nkind: OAuth2Credential\nmetadata: {name: c}\n";
        let err = parse(yaml).expect_err("consumerRef is required");
        assert!(err.message.contains("consumerRef"), "{err}");
    }

    #[test]
    fn a_secret_with_broken_yaml_is_reported_without_its_values() {
        let yaml = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {k: \"hunter2\n";
        let err = parse(yaml).expect_err("unclosed quote");
        assert_eq!(err.line, 4, "{err}");
        assert!(!err.message.contains("hunter2"), "{err}");
    }

    #[test]
    fn separators_may_carry_content_and_lines_may_end_in_crlf() {
        let yaml = "apiVersion: v1\r\nkind: ConfigMap\r\n---\r\napiVersion: tollgate.dev/v1alpha1\r\nkind: Consumer\r\nmetadata: {name: a}\r\n--- {apiVersion: tollgate.dev/v1alpha1, kind: Consumer, metadata: {name: b}}\n...\n--- # comment\nkind: a: b\n";
        let err = parse(yaml).expect_err("last document broken");
        assert_eq!(err.line, 10, "{err}");
        let yaml = yaml.rsplit_once("--- # comment").expect("split").0;
        let keys: Vec<String> = parse(yaml)
            .expect("valid")
            .iter()
            .map(Manifest::key)
            .collect();
        assert_eq!(keys, ["Consumer/default/a", "Consumer/default/b"]);
    }

    #[test]
    fn a_big_secret_is_not_refused_for_its_size() {
        let mut yaml =
            String::from("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData:\n");
        for i in 0..150_000 {
            yaml.push_str(&format!("  k{i}: v{i}\n"));
        }
        let objects = parse(&yaml).expect("valid");
        let Manifest::Secret(secret) = &objects[0] else {
            panic!("expected a Secret");
        };
        assert_eq!(secret.string_data.as_ref().map(|d| d.len()), Some(150_000));
    }

    /// Everything read from `yaml`, Secrets' data included, as text.
    fn read_back(objects: &[Manifest]) -> String {
        objects
            .iter()
            .map(|m| match m {
                Manifest::Secret(s) => format!(
                    "{:?} {:?} {:?}",
                    s.metadata,
                    s.type_,
                    crate::translate::secrets::decoded_data(s)
                ),
                other => format!("{other:?}"),
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn documents_of_the_plain_subset_read_as_the_full_parser_reads_them() {
        let yaml = "\
apiVersion: v1
kind: Secret
metadata:
  name: s
  namespace: bench
  labels:
    tollgate.dev/secret: credential
stringData:
  s0: \"secret-0\"
  s1: 'secret-1'
  s2: plain-2
  n: 5000
data:
  d: c2VjcmV0
---
apiVersion: tollgate.dev/v1alpha1
kind: Consumer
metadata:
  name: c0
  namespace: bench
  labels: {team: a, tier: '1'}
  annotations:
    note: http://example.com:80/x
spec:
  username: c0
  customId: \"0042\"
---
# a comment line
apiVersion: tollgate.dev/v1alpha1
kind: OAuth2Credential
metadata:
  name: k0
spec:
  consumerRef: {name: c0}
  name: k0
  clientId: scale-client-0
  clientSecretRef: {name: s, key: s0}
  hashSecret: false
  redirectUris:
  - https://app.example/cb
---
apiVersion: tollgate.dev/v1alpha1
kind: AuthPlugin
metadata: {name: oidc}
spec:
  type: openid-connect
  openidConnect:
    authMethods: [kong_oauth2]
    bearerTokenParamType: [header]
---
apiVersion: tollgate.dev/v1alpha1
kind: GatewayRoute
metadata:
  name: r0
spec:
  hosts: [h0.example]
  paths: [/scale-0]
  plugins: [oidc]
  stripPath: false
  backend:
    url: http://127.0.0.1:8080
    connectTimeoutMs: 5000
    readTimeoutMs: 60000
status: {conditions: []}
---
kind: Consumer
metadata: {name: late}
apiVersion: tollgate.dev/v1alpha1
---
apiVersion: v1
kind: List
items:
- apiVersion: tollgate.dev/v1alpha1
  kind: Consumer
  metadata: {name: listed}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: other}
data: {a: b}
";
        for doc in yaml.split("---\n") {
            assert!(plain_yaml::parse(doc).is_some(), "not in the subset: {doc}");
        }
        let fast = parse_documents(documents(yaml), true).expect("valid");
        let full = parse_documents(documents(yaml), false).expect("valid");
        assert_eq!(fast.len(), 7);
        assert_eq!(read_back(&fast), read_back(&full));
    }

    #[test]
    fn errors_are_those_of_the_full_parser_for_documents_of_the_plain_subset_too() {
        let cases = [
            "apiVersion: tollgate.dev/v1alpha1\nkind: Consumer\nmetadata:\n  name: c\n  lables: {a: b}\n",
            "apiVersion: tollgate.dev/v1alpha1\nkind: GatewayRoute\nmetadata: {name: r}\nspec:\n  paths: 5\n",
            "apiVersion: tollgate.dev/v1alpha1\nkind: OAuth2Credential\nmetadata: {name: c}\n",
            "apiVersion: tollgate.dev/v1\nkind: Consumer\nmetadata: {name: x}\n",
            "apiVersion: tollgate.dev/v1alpha1\nkind: Consumer\nmetadata: {}\n",
            "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata:\n  k: not-base64-hunter2\n",
            "apiVersion: tollgate.dev/v1alpha1\nkind: GatewayRoute\nmetadata: {name: r}\nspec:\n  paths: [/x]\n  stripPath: maybe\n  backend: {url: 'http://a'}\n",
            "apiVersion: tollgate.dev/v1alpha1\nkind: Consumer\nmetadata:\n  name: ~\n",
        ];
        for yaml in cases {
            assert!(
                plain_yaml::parse(yaml).is_some(),
                "not in the subset: {yaml}"
            );
            let fast = parse_documents(documents(yaml), true).expect_err(yaml);
            let full = parse_documents(documents(yaml), false).expect_err(yaml);
            assert_eq!(fast, full, "{yaml}");
        }
    }

    #[test]
    fn a_file_read_by_several_threads_yields_its_objects_in_order_and_its_first_error() {
        let consumers: String = (0..20)
            .map(|i| format!("apiVersion: tollgate.dev/v1alpha1\nkind: Consumer\nmetadata: {{name: c{i}}}\n---\n"))
            .collect();
        let keys =
            |objects: Vec<Manifest>| -> Vec<String> { objects.iter().map(Manifest::key).collect() };
        let one = keys(parse_with_threads(&consumers, 1).expect("valid"));
        assert_eq!(one.len(), 20);
        for threads in [2, 3, 7, 40] {
            assert_eq!(
                keys(parse_with_threads(&consumers, threads).expect("valid")),
                one
            );
        }
        // Documents 6 and 16 are broken (at lines 24 and 65): the first is reported.
        let broken = consumers
            .replace("name: c5}", "name: c5}\nspec: a: b")
            .replace("name: c15}", "name: c15}\nspec: a: b");
        for threads in [1, 2, 3, 7, 40] {
            let err = parse_with_threads(&broken, threads).expect_err("broken");
            assert_eq!(err.line, 24, "{threads} threads: {err}");
        }
    }
}
