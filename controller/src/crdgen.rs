//! Renders the CustomResourceDefinitions of [`crate::resources`] as YAML, one file per CRD,
//! named `<plural>.<group>.yaml`. The `crdgen` binary writes them into [`OUTPUT_DIRS`]; the one
//! drift check, `controller/tests/crds.rs`, fails when a directory differs from [`render`].

use std::path::{Path, PathBuf};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

use crate::resources::{AuthPlugin, Consumer, GatewayRoute, OAuth2Credential};

/// Where the generated files live, relative to the repository root: the top-level `crds/`
/// (`kubectl apply -f crds/`) and the Helm chart's.
pub const OUTPUT_DIRS: [&str; 2] = ["crds", "charts/tollgate/crds"];

/// First line of every generated file.
pub const HEADER: &str = "# Generated from controller/src/resources by `cargo run -p tollgate-controller --bin crdgen`; do not edit.\n";

/// Failure to render or write the CRDs.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("serializing CRD {name}: {source}")]
    Serialize {
        name: String,
        source: serde_saphyr::ser::Error,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Every CRD Tollgate defines.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        Consumer::crd(),
        OAuth2Credential::crd(),
        AuthPlugin::crd(),
        GatewayRoute::crd(),
    ]
}

/// `(file name, YAML)` of every CRD, sorted by file name.
pub fn render() -> Result<Vec<(String, String)>, Error> {
    let mut files = crds()
        .into_iter()
        .map(|crd| {
            let name = crd.metadata.name.clone().unwrap_or_default();
            let yaml = serde_saphyr::to_string(&crd).map_err(|source| Error::Serialize {
                name: name.clone(),
                source,
            })?;
            Ok((format!("{name}.yaml"), format!("{HEADER}{yaml}")))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    files.sort();
    Ok(files)
}

/// Writes every CRD into `dir` (created if missing) and removes the generated files of CRDs that
/// no longer exist; returns the paths written.
pub fn write_all(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let write_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(write_error(dir))?;
    let files = render()?;
    let stale = std::fs::read_dir(dir)
        .map_err(write_error(dir))?
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(GENERATED_SUFFIX) && !files.iter().any(|(f, _)| f == name));
    for name in stale {
        let path = dir.join(name);
        std::fs::remove_file(&path).map_err(write_error(&path))?;
    }
    files
        .into_iter()
        .map(|(name, yaml)| {
            let path = dir.join(name);
            std::fs::write(&path, yaml).map_err(write_error(&path))?;
            Ok(path)
        })
        .collect()
}

/// How the name of every generated file ends (the API group).
const GENERATED_SUFFIX: &str = ".tollgate.dev.yaml";
