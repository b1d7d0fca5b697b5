//! The manifests directory: every `*.yaml` / `*.yml` file in it, re-read when its content hash
//! changes. A file is read (and hashed) only when its size, modification time or inode changed,
//! or when its last reading came so soon after its modification that another write within the
//! file system's time resolution could have kept the same modification time. A file that fails to parse is reported once (file and line) and
//! the last good objects read from it stay in use until it is fixed or removed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use super::manifests::{self, Manifest, ParseError};
use crate::resources::{SECRET_LABEL, SECRET_LABEL_SIGNING_KEYS};
use crate::translate::{ObjectsOf, SlimObjects};

/// Failure to read the directory itself (a file that cannot be read is logged and skipped).
#[derive(Debug, thiserror::Error)]
#[error("reading manifests directory {path}: {source}")]
pub struct ReadDirError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

#[derive(Debug)]
struct FileState {
    /// What `stat` said just before the file was last read, when that reading can be trusted
    /// to have seen the content of that modification (see [`Stamp::trusted`]).
    stamp: Option<Stamp>,
    /// The length of the content last read.
    len: u64,
    hash: [u8; 32],
    /// The objects of the last version of the file that parsed.
    objects: Vec<Manifest>,
    /// The error of the current content, when it does not parse.
    error: Option<ParseError>,
}

/// What one scan found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ScanReport {
    /// Whether the set of objects in use changed.
    pub changed: bool,
    /// Files whose new content failed to parse in this scan: `(file, error)`.
    pub new_errors: Vec<(PathBuf, ParseError)>,
}

/// The manifests directory and what was last read from it.
#[derive(Debug)]
pub struct ManifestDir {
    dir: PathBuf,
    files: BTreeMap<PathBuf, FileState>,
}

impl ManifestDir {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            files: BTreeMap::new(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Re-reads the directory: new, changed and removed files. Cheap when nothing changed (one
    /// `stat` per file; a read and a SHA-256 for a file modified just before its last reading).
    pub fn scan(&mut self) -> Result<ScanReport, ReadDirError> {
        let mut report = ScanReport::default();
        let entries = std::fs::read_dir(&self.dir).map_err(|source| ReadDirError {
            path: self.dir.clone(),
            source,
        })?;
        let mut seen = BTreeSet::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if !is_manifest_file(&path) {
                continue;
            }
            let stamp = Stamp::of(&path);
            if stamp.is_some() && self.files.get(&path).is_some_and(|f| f.stamp == stamp) {
                seen.insert(path);
                continue;
            }
            let len = stamp.as_ref().map(|s| s.len);
            let stamp = stamp.filter(|s| s.trusted(SystemTime::now()));
            // A file read before, of the same length, is hashed first as a stream: when only
            // its stamp changed (or could not be trusted), a large file is not held in memory
            // again beside its objects.
            if let Some(file) = self.files.get_mut(&path)
                && len == Some(file.len)
                && hash_file(&path).is_ok_and(|hash| hash == file.hash)
            {
                file.stamp = stamp;
                seen.insert(path);
                continue;
            }
            let content = match std::fs::read(&path) {
                Ok(content) => content,
                Err(err) => {
                    tracing::warn!(file = %path.display(), error = %err, "cannot read manifest file; keeping its last good objects");
                    seen.insert(path);
                    continue;
                }
            };
            seen.insert(path.clone());
            let hash: [u8; 32] = Sha256::digest(&content).into();
            if let Some(file) = self.files.get_mut(&path)
                && file.hash == hash
            {
                file.stamp = stamp;
                continue;
            }
            let parsed = std::str::from_utf8(&content)
                .map_err(|_| ParseError {
                    line: 1,
                    message: "the file is not UTF-8".into(),
                })
                .and_then(manifests::parse);
            match parsed {
                Ok(objects) => {
                    self.files.insert(
                        path,
                        FileState {
                            stamp,
                            len: content.len() as u64,
                            hash,
                            objects,
                            error: None,
                        },
                    );
                    report.changed = true;
                }
                Err(error) => {
                    report.new_errors.push((path.clone(), error.clone()));
                    let objects = self
                        .files
                        .remove(&path)
                        .map(|f| f.objects)
                        .unwrap_or_default();
                    self.files.insert(
                        path,
                        FileState {
                            stamp,
                            len: content.len() as u64,
                            hash,
                            objects,
                            error: Some(error),
                        },
                    );
                }
            }
        }
        let before = self.files.len();
        self.files.retain(|path, _| seen.contains(path));
        report.changed |= self.files.len() != before;
        Ok(report)
    }

    /// Files whose current content does not parse.
    pub fn errors(&self) -> impl Iterator<Item = (&Path, &ParseError)> {
        self.files
            .iter()
            .filter_map(|(p, f)| f.error.as_ref().map(|e| (p.as_path(), e)))
    }

    /// Every object in use, sorted by kind, namespace and name; when two files define the same
    /// object, the file that sorts last wins (a warning names both).
    pub fn manifests(&self) -> Vec<&Manifest> {
        // Keyed by borrowed (kind, namespace, name): no string is built per object. One sort of
        // a list, in file order among equal keys, rather than a tree built object by object.
        let mut keyed: Vec<((&str, &str, &str), &Path, &Manifest)> =
            Vec::with_capacity(self.files.values().map(|f| f.objects.len()).sum());
        for (path, file) in &self.files {
            for m in &file.objects {
                let (namespace, name) = m.namespace_and_name();
                let key = (
                    m.kind(),
                    namespace.unwrap_or(crate::translate::DEFAULT_NAMESPACE),
                    name.unwrap_or_default(),
                );
                keyed.push((key, path, m));
            }
        }
        // Stable: of equal keys the later file comes later.
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<&Manifest> = Vec::with_capacity(keyed.len());
        let mut last: Option<((&str, &str, &str), &Path)> = None;
        for (key, path, m) in keyed {
            if let Some((previous_key, previous)) = last
                && previous_key == key
                && let Some(kept) = out.last_mut()
            {
                tracing::warn!(object = %m.key(), first = %previous.display(), second = %path.display(), "object defined twice; the second definition wins");
                *kept = m;
            } else {
                out.push(m);
            }
            last = Some((key, path));
        }
        out
    }

    /// The objects to translate (shared with the files' objects, not copied).
    pub fn objects(&self) -> SlimObjects {
        Self::objects_of(&self.manifests())
    }

    /// [`Self::objects`] and [`Self::services`], from one pass over the files.
    pub fn objects_and_services(&self) -> (SlimObjects, crate::translate::ServiceEndpoints) {
        let manifests = self.manifests();
        (Self::objects_of(&manifests), Self::services_of(&manifests))
    }

    fn objects_of(manifests: &[&Manifest]) -> SlimObjects {
        // One process serves: a limit divided by the replicas is the whole limit.
        // The directory is the user's whole configuration: a Secret an object names is read
        // whatever its labels.
        let mut objects = SlimObjects {
            proxy_replicas: 1,
            secret_access: crate::translate::secrets::SecretAccess::Named,
            ..SlimObjects::default()
        };
        for &m in manifests {
            match m {
                Manifest::Consumer(o) => objects.consumers.push(Arc::clone(o)),
                Manifest::OAuth2Credential(o) => objects.credentials.push(Arc::clone(o)),
                Manifest::AuthPlugin(o) => objects.plugins.push(Arc::clone(o)),
                Manifest::GatewayRoute(o) => objects.routes.push(Arc::clone(o)),
                Manifest::Secret(o) => objects.secrets.push(Arc::clone(o)),
                Manifest::Namespace(o) => objects.namespaces.push(Arc::clone(o)),
                Manifest::GatewayClass(o) => objects.gateway.classes.push(Arc::clone(o)),
                Manifest::Gateway(o) => objects.gateway.gateways.push(Arc::clone(o)),
                Manifest::HTTPRoute(o) => objects.gateway.routes.push(Arc::clone(o)),
                Manifest::ReferenceGrant(o) => objects.gateway.grants.push(Arc::clone(o)),
                Manifest::Ingress(o) => objects.ingress.ingresses.push(Arc::clone(o)),
                Manifest::IngressClass(o) => objects.ingress.classes.push(Arc::clone(o)),
                // Ingress backends may name a Service port by name.
                Manifest::Service(o) => objects.ingress.services.push(Arc::clone(o)),
                Manifest::EndpointSlice(_) => {}
            }
        }
        objects
    }
}

impl ManifestDir {
    /// The endpoints of the Services of the directory: a selector-less Service with its
    /// EndpointSlices (label `kubernetes.io/service-name`), or an `ExternalName` Service.
    pub fn services(&self) -> crate::translate::ServiceEndpoints {
        Self::services_of(&self.manifests())
    }

    fn services_of(manifests: &[&Manifest]) -> crate::translate::ServiceEndpoints {
        let (mut services, mut slices) = (Vec::new(), Vec::new());
        for &m in manifests {
            match m {
                Manifest::Service(o) => services.push(Arc::clone(o)),
                Manifest::EndpointSlice(o) => slices.push(Arc::clone(o)),
                _ => {}
            }
        }
        crate::operator::endpoints::backend_endpoints(&services, &slices)
    }
}

/// The SHA-256 of a file's content, read in pieces.
fn hash_file(path: &Path) -> std::io::Result<[u8; 32]> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(hasher.finalize().into())
}

/// The signing-keys Secret among `objects` (label `tollgate.dev/secret: signing-keys`); the
/// first by namespace/name when several exist.
pub fn signing_keys_secret<C, K>(
    objects: &ObjectsOf<C, K>,
) -> Option<&k8s_openapi::api::core::v1::Secret> {
    objects.secrets.iter().map(Arc::as_ref).find(|s| {
        s.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(SECRET_LABEL))
            .is_some_and(|v| v == SECRET_LABEL_SIGNING_KEYS)
    })
}

/// A file's size, modification time and inode: when all three are unchanged since a trusted
/// reading, the content is taken as unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: SystemTime,
    inode: u64,
}

impl Stamp {
    /// How long after its modification a file must be read for the reading to be trusted:
    /// another write within the file system's time resolution (a clock tick of a few
    /// milliseconds; whole seconds on some file systems) would leave the same stamp.
    const FINE: Duration = Duration::from_millis(100);
    const COARSE: Duration = Duration::from_secs(2);

    fn of(path: &Path) -> Option<Self> {
        let meta = std::fs::metadata(path).ok()?;
        Some(Self {
            len: meta.len(),
            modified: meta.modified().ok()?,
            inode: inode(&meta),
        })
    }

    /// Whether a reading started at `read_at` is late enough after the modification. A
    /// modification time in whole seconds suggests a coarse file system.
    fn trusted(self, read_at: SystemTime) -> bool {
        let whole_seconds = self
            .modified
            .duration_since(SystemTime::UNIX_EPOCH)
            .is_ok_and(|t| t.subsec_nanos() == 0);
        let margin = if whole_seconds {
            Self::COARSE
        } else {
            Self::FINE
        };
        read_at
            .duration_since(self.modified)
            .is_ok_and(|age| age >= margin)
    }
}

#[cfg(unix)]
fn inode(meta: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(meta)
}

#[cfg(not(unix))]
fn inode(_: &std::fs::Metadata) -> u64 {
    0
}

fn is_manifest_file(path: &Path) -> bool {
    let hidden = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_none_or(|n| n.starts_with('.'));
    let yaml = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e == "yaml" || e == "yml");
    !hidden && yaml && path.is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::standalone::temp_dir::TempDir;

    fn consumer(name: &str) -> String {
        format!("apiVersion: tollgate.dev/v1alpha1\nkind: Consumer\nmetadata: {{name: {name}}}\n")
    }

    fn names(dir: &ManifestDir) -> Vec<String> {
        dir.manifests().iter().map(|m| m.key()).collect()
    }

    #[test]
    fn only_yaml_files_are_read_and_an_unchanged_directory_reports_no_change() {
        let tmp = TempDir::new("dir", "read");
        tmp.write("a.yaml", &consumer("a"));
        tmp.write("b.yml", &consumer("b"));
        tmp.write("c.txt", &consumer("c"));
        tmp.write(".d.yaml", &consumer("d"));
        let mut dir = ManifestDir::new(&tmp.0);
        assert!(dir.scan().expect("scan").changed);
        assert_eq!(names(&dir), ["Consumer/default/a", "Consumer/default/b"]);
        assert_eq!(dir.scan().expect("scan"), ScanReport::default());
    }

    #[test]
    fn a_broken_file_keeps_its_last_good_objects_and_reports_its_line() {
        let tmp = TempDir::new("dir", "broken");
        tmp.write("a.yaml", &consumer("a"));
        tmp.write("b.yaml", &consumer("b"));
        let mut dir = ManifestDir::new(&tmp.0);
        dir.scan().expect("scan");
        tmp.write("a.yaml", &format!("{}---\nkind: a: b\n", consumer("a2")));
        let report = dir.scan().expect("scan");
        assert!(!report.changed);
        assert_eq!(report.new_errors.len(), 1);
        assert_eq!(report.new_errors[0].1.line, 5);
        assert_eq!(names(&dir), ["Consumer/default/a", "Consumer/default/b"]);
        assert_eq!(
            dir.scan().expect("scan"),
            ScanReport::default(),
            "reported once"
        );
        tmp.write("a.yaml", &consumer("a3"));
        assert!(dir.scan().expect("scan").changed);
        assert_eq!(names(&dir), ["Consumer/default/a3", "Consumer/default/b"]);
        assert_eq!(dir.errors().count(), 0);
    }

    #[test]
    fn a_file_is_read_again_only_when_its_stamp_changed_or_was_too_fresh_to_trust() {
        let tmp = TempDir::new("dir", "stamp");
        tmp.write("a.yaml", &consumer("a"));
        let path = tmp.0.join("a.yaml");
        let past = SystemTime::now() - Duration::from_secs(60);
        let set_modified = |when: SystemTime| {
            std::fs::File::options()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_modified(when))
                .expect("set mtime");
        };
        set_modified(past);
        let mut dir = ManifestDir::new(&tmp.0);
        assert!(dir.scan().expect("scan").changed);
        // The same size, modification time and inode: taken as unchanged, not read.
        std::fs::write(&path, consumer("b")).expect("rewrite in place");
        set_modified(past);
        assert_eq!(dir.scan().expect("scan"), ScanReport::default());
        assert_eq!(names(&dir), ["Consumer/default/a"]);
        // A new modification time: read.
        set_modified(past + Duration::from_secs(1));
        assert!(dir.scan().expect("scan").changed);
        assert_eq!(names(&dir), ["Consumer/default/b"]);
        // Modified just now: read on every scan until a reading comes late enough after it.
        std::fs::write(&path, consumer("c")).expect("write");
        assert!(dir.scan().expect("scan").changed);
        std::fs::write(&path, consumer("d")).expect("write");
        assert!(dir.scan().expect("scan").changed);
        assert_eq!(names(&dir), ["Consumer/default/d"]);
    }

    #[test]
    fn an_object_defined_twice_is_taken_from_the_file_that_sorts_last_and_the_later_document() {
        let tmp = TempDir::new("dir", "twice");
        let with_user =
            |name: &str, user: &str| format!("{}spec: {{username: {user}}}\n", consumer(name));
        tmp.write(
            "a.yaml",
            &format!("{}---\n{}", with_user("x", "from-a"), consumer("y")),
        );
        tmp.write(
            "b.yaml",
            &format!(
                "{}---\n{}---\n{}",
                with_user("x", "from-b-first"),
                with_user("x", "from-b-last"),
                consumer("w")
            ),
        );
        let mut dir = ManifestDir::new(&tmp.0);
        dir.scan().expect("scan");
        assert_eq!(
            names(&dir),
            [
                "Consumer/default/w",
                "Consumer/default/x",
                "Consumer/default/y"
            ]
        );
        let objects = dir.objects();
        let x = objects.consumers.iter().find(|c| c.name == "x").expect("x");
        assert_eq!(x.spec.username.as_deref(), Some("from-b-last"));
    }

    #[test]
    fn removing_a_file_removes_its_objects() {
        let tmp = TempDir::new("dir", "remove");
        tmp.write("a.yaml", &consumer("a"));
        tmp.write("b.yaml", &consumer("b"));
        let mut dir = ManifestDir::new(&tmp.0);
        dir.scan().expect("scan");
        std::fs::remove_file(tmp.0.join("a.yaml")).expect("remove");
        assert!(dir.scan().expect("scan").changed);
        assert_eq!(names(&dir), ["Consumer/default/b"]);
    }

    #[test]
    fn the_signing_keys_secret_is_found_by_its_label() {
        let tmp = TempDir::new("dir", "keys");
        tmp.write(
            "keys.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: keys\n  labels: {tollgate.dev/secret: signing-keys}\nstringData:\n  k1: '0123456789abcdef0123456789abcdef'\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: other\n  labels: {tollgate.dev/secret: credential}\n",
        );
        let mut dir = ManifestDir::new(&tmp.0);
        dir.scan().expect("scan");
        let objects = dir.objects();
        let secret = signing_keys_secret(&objects).expect("found");
        assert_eq!(secret.metadata.name.as_deref(), Some("keys"));
    }
}
