//! A real httpbin upstream (from PyPI), served by gunicorn on a free loopback port.

use std::process::Command;
use std::time::Duration;

use crate::paths::python;
use crate::ports::free_port;
use crate::process::Process;
use crate::wait::STARTUP;
use crate::workdir::WorkDir;
use crate::{Error, paths};

/// The request header a tagged httpbin ([`Httpbin::start_tagged`]) adds to what it echoes.
pub const BACKEND_TAG: &str = "x-tollgate-e2e-backend";

#[derive(Debug)]
pub struct Httpbin {
    port: u16,
    process: Process,
}

impl Httpbin {
    /// Starts httpbin (`python -m gunicorn httpbin:app`) and waits until it answers `/get`.
    pub async fn start(work: &WorkDir) -> Result<Self, Error> {
        Self::start_with_args(work, &[]).await
    }

    /// [`Httpbin::start`], every request it serves carrying the header [`BACKEND_TAG`] with
    /// `tag` (added by a gunicorn `pre_request` hook, so httpbin echoes it): tells apart several
    /// httpbins behind one route whatever `Host` the proxy sends them.
    pub async fn start_tagged(work: &WorkDir, tag: &str) -> Result<Self, Error> {
        assert!(
            tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'),
            "a plain tag"
        );
        let config = work.path().join(format!("httpbin-{tag}.conf.py"));
        let hook = format!(
            "def pre_request(worker, req):\n    req.headers.append(({:?}, {tag:?}))\n",
            BACKEND_TAG.to_ascii_uppercase()
        );
        std::fs::write(&config, hook).map_err(|source| Error::Io {
            what: "writing the httpbin config",
            path: config.clone(),
            source,
        })?;
        let config = config.to_string_lossy().into_owned();
        Self::start_with_args(work, &["-c", &config]).await
    }

    /// [`Httpbin::start`] with more gunicorn options (e.g. `--header-map dangerous`: a credulous
    /// WSGI server that reads `X_Consumer_Id` as `X-Consumer-Id`, as CGI servers do).
    pub async fn start_with_args(work: &WorkDir, args: &[&str]) -> Result<Self, Error> {
        // Another process may take the port before gunicorn binds it; then try a fresh one.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match Self::start_on(work, free_port()?, args).await {
                Err(err) if attempt < 3 && crate::process::lost_a_port_race(&err) => {}
                other => return other,
            }
        }
    }

    async fn start_on(work: &WorkDir, port: u16, args: &[&str]) -> Result<Self, Error> {
        let mut command = Command::new(python()?);
        command
            .args(["-m", "gunicorn", "--no-control-socket", "--workers", "2"])
            .args(args)
            .args(["--bind", &format!("{}:{port}", crate::proxy::admin_host())])
            .args(["--access-logfile", "-", "httpbin:app"])
            .current_dir(paths::repo_root());
        let process = Process::spawn("httpbin", command, &work.log_file("httpbin"))?;
        let mut httpbin = Httpbin { port, process };
        httpbin.wait_ready().await?;
        Ok(httpbin)
    }

    async fn wait_ready(&mut self) -> Result<(), Error> {
        let url = self.url("/get");
        self.process
            .wait_answering(STARTUP, "httpbin to answer /get", &url)
            .await
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://{}:{}", crate::proxy::admin_host(), self.port)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    /// Stops httpbin (SIGTERM, then SIGKILL after `grace`).
    pub async fn stop(&mut self, grace: Duration) {
        self.process.terminate(grace).await;
    }
}
