//! The harness's error type: each variant names what failed.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what} ({path}): {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "binary `{name}` not found in {searched:?}; build it first (`cargo build --workspace --bins`, which scripts/test.sh runs) or set TOLLGATE_BIN_DIR"
    )]
    BinaryNotFound {
        name: String,
        searched: Vec<PathBuf>,
    },
    #[error(
        "python interpreter not found at {0}; run scripts/test.sh once (it creates .venv) or set TOLLGATE_PYTHON"
    )]
    PythonNotFound(PathBuf),
    #[error(
        "the OpenID provider's packages are not installed in {0}; run scripts/test.sh once (step oidc runs `npm ci` there)"
    )]
    OidcProviderNotInstalled(PathBuf),
    #[error("starting {name}: {source}")]
    Spawn {
        name: String,
        source: std::io::Error,
    },
    #[error("{name} exited early with {status}; its log:\n{log}")]
    ExitedEarly {
        name: String,
        status: String,
        log: String,
    },
    #[error("timed out after {seconds:.1}s waiting for {what}; last observation: {last}")]
    Timeout {
        what: String,
        seconds: f64,
        last: String,
    },
    #[error("invalid URL {url}: {reason}")]
    Url { url: String, reason: String },
    #[error("connecting to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(String),
    #[error("HTTP exchange with {url}: {reason}")]
    Http { url: String, reason: String },
    #[error("no PEM certificate found in {0}")]
    NoCertificate(PathBuf),
    #[error("YAML in {path}: {reason}")]
    Yaml { path: PathBuf, reason: String },
    #[error("no fresh loopback port after 64 attempts")]
    NoFreePort,
    #[error("manifests: {0}")]
    Manifest(String),
    #[error("{0} is not running (no process to signal)")]
    NotRunning(String),
    #[error("{name} is not installed: {hint}")]
    ToolNotFound { name: String, hint: String },
    #[error("{what} failed:\n{output}")]
    Check { what: String, output: String },
}

impl Error {
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            what,
            path: path.into(),
            source,
        }
    }
}
