//! `tollgate-controller standalone` as a test fixture: free loopback ports, a state directory in
//! the test's work dir, readiness awaited on the admin port, restarts on the same ports and state.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::client::{Client, find_pem_certificate};
use crate::paths::binary;
use crate::ports::free_port;
use crate::process::Process;
use crate::wait::STARTUP;
use crate::workdir::WorkDir;
use crate::{Error, quickstart};

pub const CONTROLLER_BIN: &str = "tollgate-controller";

#[derive(Debug)]
pub struct Standalone {
    manifests: PathBuf,
    state_dir: PathBuf,
    log_file: PathBuf,
    http_port: u16,
    https_port: u16,
    admin_port: u16,
    process: Option<Process>,
    starts: u32,
    /// Options added to every start (e.g. `--http1-fast-path false`).
    extra_args: Vec<String>,
    /// Environment variables set on every later start (see [`Standalone::set_env`]).
    extra_env: Vec<(String, String)>,
}

impl Standalone {
    /// Starts standalone mode on `manifests` with its state under `work`, and waits until the
    /// admin port reports ready.
    pub async fn start(work: &WorkDir, manifests: &Path) -> Result<Self, Error> {
        Self::start_with_args(work, manifests, &[]).await
    }

    /// [`Standalone::start`] with more command-line options, kept for restarts.
    pub async fn start_with_args(
        work: &WorkDir,
        manifests: &Path,
        args: &[&str],
    ) -> Result<Self, Error> {
        let mut gateway = Standalone {
            manifests: manifests.to_owned(),
            state_dir: work.subdir("state")?,
            log_file: work.log_file("tollgate-standalone"),
            http_port: free_port()?,
            https_port: free_port()?,
            admin_port: free_port()?,
            process: None,
            starts: 0,
            extra_args: args.iter().map(|a| (*a).to_owned()).collect(),
            extra_env: Vec::new(),
        };
        // A port handed out a moment ago can be taken by another process before the gateway
        // binds it; then start again on fresh ports.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match gateway.launch().await {
                Err(err) if attempt < 3 && crate::process::lost_a_port_race(&err) => {
                    gateway.http_port = free_port()?;
                    gateway.https_port = free_port()?;
                    gateway.admin_port = free_port()?;
                }
                other => return other.map(|()| gateway),
            }
        }
    }

    async fn launch(&mut self) -> Result<(), Error> {
        self.starts += 1;
        let mut command = Command::new(binary(CONTROLLER_BIN)?);
        command
            .arg("standalone")
            .arg("--manifests")
            .arg(&self.manifests)
            .arg("--state-dir")
            .arg(&self.state_dir)
            .args(["--http-addr", &format!("127.0.0.1:{}", self.http_port)])
            .args(["--https-addr", &format!("127.0.0.1:{}", self.https_port)])
            .args(["--admin-addr", &format!("127.0.0.1:{}", self.admin_port)]);
        // Text logs unless the test chose a format.
        if !self.extra_args.iter().any(|a| a == "--log-format") {
            command.args(["--log-format", "text"]);
        }
        command.envs(self.extra_env.iter().map(|(k, v)| (k, v)));
        command.args(&self.extra_args).env(
            "RUST_LOG",
            std::env::var("TOLLGATE_E2E_LOG").unwrap_or_else(|_| "info".to_owned()),
        );
        let name = format!("tollgate-controller standalone (start {})", self.starts);
        self.process = Some(Process::spawn(&name, command, &self.log_file)?);
        self.wait_ready().await
    }

    async fn wait_ready(&mut self) -> Result<(), Error> {
        let url = self.admin_url("/readyz");
        let Some(process) = self.process.as_mut() else {
            return Ok(());
        };
        process
            .wait_answering(STARTUP, "standalone mode to report ready", &url)
            .await
    }

    /// Stops the process (SIGTERM, then SIGKILL after a grace period) and starts it again on
    /// the same ports, manifests and state directory.
    pub async fn restart(&mut self) -> Result<(), Error> {
        self.stop().await;
        self.launch().await
    }

    /// Stops the process gracefully; it stays stopped until [`Standalone::restart`].
    pub async fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.terminate(Duration::from_secs(10)).await;
        }
    }

    /// `Err` with the log when the process has died.
    pub fn ensure_running(&mut self) -> Result<(), Error> {
        match self.process.as_mut() {
            Some(p) => p.ensure_running(),
            None => Err(Error::ExitedEarly {
                name: CONTROLLER_BIN.to_owned(),
                status: "stopped by the test".to_owned(),
                log: self.log(),
            }),
        }
    }

    /// The log of every start so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_file).unwrap_or_default()
    }

    /// The gateway process's id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().and_then(Process::pid)
    }

    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    pub fn http_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.http_port)
    }

    /// An HTTPS URL naming `localhost`, which the self-signed certificate covers.
    pub fn https_url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.https_port)
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.admin_port)
    }

    /// `127.0.0.1:<http port>`, for raw requests.
    pub fn http_addr(&self) -> String {
        format!("127.0.0.1:{}", self.http_port)
    }

    /// `127.0.0.1:<https port>`, for TLS clients choosing their own server name.
    pub fn https_addr(&self) -> String {
        format!("127.0.0.1:{}", self.https_port)
    }

    /// The URL of the quickstart's token endpoint over HTTPS.
    pub fn token_url(&self) -> String {
        self.https_url(quickstart::TOKEN_PATH)
    }

    /// The PEM file standalone mode wrote its self-signed certificate to.
    /// Sets `key` to `value` in the environment of the next starts (e.g. `SSL_CERT_FILE`, for
    /// the gateway to trust its own certificate when it fetches from itself).
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.extra_env.push((key.to_owned(), value.to_owned()));
    }

    pub fn certificate_path(&self) -> Result<PathBuf, Error> {
        find_pem_certificate(&self.state_dir)
    }

    /// A client trusting the certificate standalone mode generated (and nothing else).
    pub fn client(&self) -> Result<Client, Error> {
        Client::trusting_pem_file(&self.certificate_path()?)
    }
}
