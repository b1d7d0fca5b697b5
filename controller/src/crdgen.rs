//! Renders the CustomResourceDefinitions of [`crate::resources`] as YAML, one file per CRD,
//! named `<plural>.<group>.yaml`. `crds/` holds the output; a test fails when it drifts.

use std::path::{Path, PathBuf};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

use crate::resources::{AuthPlugin, Consumer, GatewayRoute, OAuth2Credential};

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

/// Writes every CRD into `dir` (created if missing); returns the paths written.
pub fn write_all(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    render()?
        .into_iter()
        .map(|(name, yaml)| {
            let path = dir.join(name);
            std::fs::write(&path, yaml).map_err(|source| Error::Write {
                path: path.clone(),
                source,
            })?;
            Ok(path)
        })
        .collect()
}
