//! A test's manifests directory: the quickstart copied verbatim (only the upstream address
//! rewritten), then edited the way a user would edit files: whole files rewritten atomically.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::Error;
use crate::paths::repo_root;

/// The upstream address the quickstart manifests point at (where `scripts/quickstart.sh` starts
/// httpbin).
pub const QUICKSTART_UPSTREAMS: [&str; 2] = ["http://127.0.0.1:8080", "http://localhost:8080"];

/// A fresh self-signed certificate for `names`: (certificate PEM, key PEM).
pub fn self_signed(names: &[&str]) -> (String, String) {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    // rcgen fails only on names it cannot encode; tests pass plain DNS names.
    let generated = rcgen::generate_simple_self_signed(names).unwrap_or_else(|e| panic!("{e}"));
    (generated.cert.pem(), generated.key_pair.serialize_pem())
}

/// A `kubernetes.io/tls` Secret manifest named `name` (no label, no namespace: `default`), as
/// `kubectl create secret tls` or cert-manager would write it.
pub fn tls_secret(name: &str, (cert, key): &(String, String)) -> String {
    let indent = |pem: &str| {
        pem.lines()
            .map(|l| format!("    {l}\n"))
            .collect::<String>()
    };
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}}}\ntype: kubernetes.io/tls\n\
         stringData:\n  tls.crt: |\n{}  tls.key: |\n{}",
        indent(cert),
        indent(key)
    )
}

/// One YAML document of one file.
#[derive(Debug, Clone)]
pub struct Doc {
    pub file: PathBuf,
    pub index: usize,
    pub value: Value,
}

impl Doc {
    pub fn kind(&self) -> &str {
        self.value["kind"].as_str().unwrap_or_default()
    }

    pub fn name(&self) -> &str {
        self.value["metadata"]["name"].as_str().unwrap_or_default()
    }
}

#[derive(Debug, Clone)]
pub struct Manifests {
    dir: PathBuf,
}

impl Manifests {
    /// Copies every file of `examples/quickstart/` into `dest`, replacing the quickstart's
    /// upstream address with `upstream` (e.g. `http://127.0.0.1:41234`). Fails when no file
    /// mentioned the quickstart upstream, so a changed example cannot silently point the tests
    /// at port 8080.
    pub fn copy_quickstart(dest: &Path, upstream: &str) -> Result<Self, Error> {
        let src = repo_root().join("examples").join("quickstart");
        let entries =
            std::fs::read_dir(&src).map_err(|e| Error::io("listing the quickstart", &src, e))?;
        let mut replaced = 0;
        for entry in entries.flatten() {
            let path = entry.path();
            if !path.is_file() {
                continue;
            }
            let text = std::fs::read_to_string(&path)
                .map_err(|e| Error::io("reading a quickstart manifest", &path, e))?;
            let mut out = text.clone();
            for from in QUICKSTART_UPSTREAMS {
                replaced += out.matches(from).count();
                out = out.replace(from, upstream);
            }
            let target = dest.join(entry.file_name());
            std::fs::write(&target, out)
                .map_err(|e| Error::io("writing a manifest", &target, e))?;
        }
        if replaced == 0 {
            return Err(Error::Manifest(format!(
                "no quickstart manifest in {} mentions {QUICKSTART_UPSTREAMS:?}",
                src.display()
            )));
        }
        Ok(Manifests {
            dir: dest.to_owned(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every document of every `*.yaml` / `*.yml` file, files sorted by name. Files that do
    /// not parse are skipped (a broken file is one of the scenarios).
    pub fn docs(&self) -> Result<Vec<Doc>, Error> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map_err(|e| Error::io("listing manifests", &self.dir, e))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| is_yaml(p))
            .collect();
        files.sort();
        let mut docs = Vec::new();
        for file in files {
            let Ok(values) = read_docs(&file) else {
                continue;
            };
            for (index, value) in values.into_iter().enumerate() {
                docs.push(Doc {
                    file: file.clone(),
                    index,
                    value,
                });
            }
        }
        Ok(docs)
    }

    /// The document of kind `kind` named `name`.
    pub fn find(&self, kind: &str, name: &str) -> Result<Doc, Error> {
        self.docs()?
            .into_iter()
            .find(|d| d.kind() == kind && d.name() == name)
            .ok_or_else(|| Error::Manifest(format!("no {kind} named {name}")))
    }

    /// The OAuth2Credential whose `spec.clientId` is `client_id`.
    pub fn credential_by_client_id(&self, client_id: &str) -> Result<Doc, Error> {
        self.docs()?
            .into_iter()
            .find(|d| d.kind() == "OAuth2Credential" && d.value["spec"]["clientId"] == client_id)
            .ok_or_else(|| {
                Error::Manifest(format!("no OAuth2Credential with clientId {client_id}"))
            })
    }

    /// The path to request so that the upstream route forwards to httpbin's `/anything`: the
    /// first path of the first GatewayRoute with a backend, joined with `/anything`.
    pub fn upstream_path(&self, suffix: &str) -> Result<String, Error> {
        let route = self
            .docs()?
            .into_iter()
            .find(|d| d.kind() == "GatewayRoute" && !d.value["spec"]["backend"].is_null())
            .ok_or_else(|| Error::Manifest("no GatewayRoute with a backend".to_owned()))?;
        let prefix = route.value["spec"]["paths"][0].as_str().unwrap_or("/");
        Ok(format!("{}{suffix}", prefix.trim_end_matches('/')))
    }

    /// Sets `stringData.<key>` of Secret `name` to `value` (dropping `data.<key>`), rewriting
    /// its file atomically.
    pub fn set_secret_value(&self, name: &str, key: &str, value: &str) -> Result<(), Error> {
        let doc = self.find("Secret", name)?;
        self.rewrite(&doc.file, |docs| {
            let secret = &mut docs[doc.index];
            if let Some(data) = secret.get_mut("data").and_then(Value::as_object_mut) {
                data.remove(key);
            }
            if !secret["stringData"].is_object() {
                secret["stringData"] = Value::Object(serde_json::Map::new());
            }
            secret["stringData"][key] = Value::String(value.to_owned());
        })
    }

    /// Edits the object of kind `kind` named `name` in place, rewriting its file atomically.
    pub fn edit_object(
        &self,
        kind: &str,
        name: &str,
        edit: impl FnOnce(&mut Value),
    ) -> Result<(), Error> {
        let doc = self.find(kind, name)?;
        self.rewrite(&doc.file, |docs| edit(&mut docs[doc.index]))
    }

    /// Removes the object of kind `kind` named `name`: its file is deleted when it held only
    /// that object, otherwise rewritten without it.
    pub fn remove_object(&self, kind: &str, name: &str) -> Result<(), Error> {
        let doc = self.find(kind, name)?;
        let count = read_docs(&doc.file)?.len();
        if count == 1 {
            return std::fs::remove_file(&doc.file)
                .map_err(|e| Error::io("deleting a manifest", &doc.file, e));
        }
        self.rewrite(&doc.file, |docs| {
            docs.remove(doc.index);
        })
    }

    /// Writes `text` to `<dir>/<name>` atomically (temp file + rename).
    pub fn write_file(&self, name: &str, text: &str) -> Result<PathBuf, Error> {
        let target = self.dir.join(name);
        let temp = self.dir.join(format!(".{name}.tmp"));
        std::fs::write(&temp, text).map_err(|e| Error::io("writing a manifest", &temp, e))?;
        std::fs::rename(&temp, &target)
            .map_err(|e| Error::io("renaming a manifest", &target, e))?;
        Ok(target)
    }

    pub fn read_file(&self, name: &str) -> Result<String, Error> {
        let path = self.dir.join(name);
        std::fs::read_to_string(&path).map_err(|e| Error::io("reading a manifest", &path, e))
    }

    fn rewrite(&self, file: &Path, edit: impl FnOnce(&mut Vec<Value>)) -> Result<(), Error> {
        let mut docs = read_docs(file)?;
        edit(&mut docs);
        let mut text = String::new();
        for doc in &docs {
            text.push_str("---\n");
            text.push_str(&serde_saphyr::to_string(doc).map_err(|e| Error::Yaml {
                path: file.to_owned(),
                reason: e.to_string(),
            })?);
        }
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| Error::Manifest(format!("odd file name {}", file.display())))?;
        self.write_file(name, &text).map(drop)
    }
}

fn is_yaml(path: &Path) -> bool {
    let ext = path.extension().and_then(|e| e.to_str());
    path.is_file() && matches!(ext, Some("yaml" | "yml"))
}

/// The non-empty documents of a multi-document YAML file.
pub fn read_docs(file: &Path) -> Result<Vec<Value>, Error> {
    let text =
        std::fs::read_to_string(file).map_err(|e| Error::io("reading a manifest", file, e))?;
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).map_err(|e| Error::Yaml {
        path: file.to_owned(),
        reason: e.to_string(),
    })?;
    Ok(docs.into_iter().filter(|doc| !doc.is_null()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workdir::WorkDir;

    fn fixture(dir: &WorkDir) -> Manifests {
        let manifests = Manifests {
            dir: dir.subdir("m").expect("dir"),
        };
        let two = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  k: c2VjcmV0\n---\n\
                   kind: Consumer\nmetadata:\n  name: jane\n";
        let route = "kind: GatewayRoute\nmetadata:\n  name: up\nspec:\n  paths: [/api/]\n  \
                     backend:\n    url: http://127.0.0.1:9\n";
        manifests.write_file("a.yaml", two).expect("write");
        manifests.write_file("b.yml", route).expect("write");
        manifests
            .write_file("notes.txt", "kind: Ignored")
            .expect("write");
        manifests
    }

    #[test]
    fn documents_of_every_yaml_file_are_read_and_other_files_ignored() {
        let dir = WorkDir::new("manifests-read").expect("work dir");
        let m = fixture(&dir);
        let kinds: Vec<String> = m
            .docs()
            .expect("docs")
            .iter()
            .map(|d| d.kind().to_owned())
            .collect();
        assert_eq!(kinds, ["Secret", "Consumer", "GatewayRoute"]);
        assert_eq!(m.upstream_path("/anything").expect("path"), "/api/anything");
    }

    #[test]
    fn a_file_that_does_not_parse_is_skipped_and_the_others_still_read() {
        let dir = WorkDir::new("manifests-broken").expect("work dir");
        let m = fixture(&dir);
        m.write_file("c.yaml", "kind: [unclosed\n").expect("write");
        assert_eq!(m.docs().expect("docs").len(), 3);
        assert!(read_docs(&m.dir().join("c.yaml")).is_err());
    }

    #[test]
    fn a_secret_edit_replaces_the_encoded_value_with_string_data() {
        let dir = WorkDir::new("manifests-secret").expect("work dir");
        let m = fixture(&dir);
        m.set_secret_value("s", "k", "new-secret").expect("edit");
        let secret = m.find("Secret", "s").expect("secret");
        assert_eq!(secret.value["stringData"]["k"], "new-secret");
        assert!(secret.value["data"].get("k").is_none());
        assert_eq!(m.find("Consumer", "jane").expect("kept").index, 1);
    }

    #[test]
    fn removing_an_object_keeps_its_neighbours_and_deletes_emptied_files() {
        let dir = WorkDir::new("manifests-remove").expect("work dir");
        let m = fixture(&dir);
        m.remove_object("Consumer", "jane").expect("remove");
        assert!(m.find("Consumer", "jane").is_err());
        assert!(m.find("Secret", "s").is_ok());
        m.remove_object("GatewayRoute", "up").expect("remove");
        assert!(!m.dir().join("b.yml").exists());
    }
}
