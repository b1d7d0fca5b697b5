//! `tollgate-proxy` as a test fixture (for the operator suite): free loopback ports, a config
//! token file, a certificate generated for `localhost` and handed to it, the config channel's
//! certificate ([`config_tls`], one for every proxy, as the chart's Secret is), liveness awaited
//! on the metrics port. Readiness needs a config, so it is awaited separately
//! ([`Proxy::wait_ready`]).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use tollgate_core::config_channel::{self, ConfigStatus};

use crate::Error;
use crate::client::{Client, Response};
use crate::paths::binary;
use crate::ports::free_port;
use crate::process::Process;
use crate::wait::STARTUP;
use crate::workdir::WorkDir;

pub const PROXY_BIN: &str = "tollgate-proxy";
/// The allow-list the harness gives `tollgate-proxy` and `tollgate-controller run`: the test
/// upstreams listen on loopback (or on an address of a private network namespace).
pub const LOOPBACK_BACKENDS: &str = "127.0.0.0/8,::1/128";

/// The name the config channel's certificate is for: the proxies' config Service's DNS name, as
/// the controller checks it (`crate::cluster::PROXY_SERVICE` in `crate::cluster::SYSTEM_NAMESPACE`).
pub const CONFIG_TLS_SERVER_NAME: &str = "tollgate-proxy-config.tollgate-system.svc";

/// The config channel's certificate and key (PEM), generated once per test process for
/// [`CONFIG_TLS_SERVER_NAME`] and the addresses tests reach the admin port at.
pub fn config_tls() -> &'static (String, String) {
    static PAIR: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    PAIR.get_or_init(|| {
        let names = vec![
            CONFIG_TLS_SERVER_NAME.to_owned(),
            "127.0.0.1".to_owned(),
            admin_host(),
        ];
        match rcgen::generate_simple_self_signed(names) {
            Ok(generated) => (generated.cert.pem(), generated.key_pair.serialize_pem()),
            Err(e) => panic!("generating the config channel certificate: {e}"),
        }
    })
}

#[derive(Debug)]
pub struct Proxy {
    name: String,
    cert: PathBuf,
    key: PathBuf,
    config_cert: PathBuf,
    config_key: PathBuf,
    token_file: PathBuf,
    log_file: PathBuf,
    http_port: u16,
    https_port: u16,
    admin_port: u16,
    metrics_port: u16,
    process: Option<Process>,
    config_token: String,
    extra_args: Vec<String>,
}

impl Proxy {
    /// Starts `tollgate-proxy` named `name` (used for its log and files) accepting config pushes
    /// with `config_token`, and waits until `/healthz` answers.
    pub async fn start(work: &WorkDir, name: &str, config_token: &str) -> Result<Self, Error> {
        Self::start_with(work, name, config_token, &[]).await
    }

    /// [`Proxy::start`] with further flags (e.g. `--metrics-per-consumer`).
    pub async fn start_with(
        work: &WorkDir,
        name: &str,
        config_token: &str,
        extra_args: &[&str],
    ) -> Result<Self, Error> {
        let dir = work.subdir(name)?;
        let (cert, key) = (dir.join("tls.crt"), dir.join("tls.key"));
        write_certificate(&cert, &key)?;
        let token_file = dir.join("config-token");
        std::fs::write(&token_file, config_token)
            .map_err(|e| Error::io("writing the config token", &token_file, e))?;
        let (config_cert, config_key) = (dir.join("config-tls.crt"), dir.join("config-tls.key"));
        let (cert_pem, key_pem) = config_tls();
        std::fs::write(&config_cert, cert_pem)
            .map_err(|e| Error::io("writing a certificate", &config_cert, e))?;
        write_private(&config_key, key_pem)?;
        let mut proxy = Proxy {
            name: name.to_owned(),
            cert,
            key,
            config_cert,
            config_key,
            token_file,
            log_file: work.log_file(name),
            http_port: free_port()?,
            https_port: free_port()?,
            admin_port: free_port()?,
            metrics_port: free_port()?,
            process: None,
            config_token: config_token.to_owned(),
            extra_args: extra_args.iter().map(|a| (*a).to_owned()).collect(),
        };
        // A port handed out a moment ago can be taken before the proxy binds it; then start
        // again on fresh ports.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match proxy.launch().await {
                Err(err) if attempt < 3 && crate::process::lost_a_port_race(&err) => {
                    proxy.http_port = free_port()?;
                    proxy.https_port = free_port()?;
                    proxy.admin_port = free_port()?;
                    proxy.metrics_port = free_port()?;
                }
                other => return other.map(|()| proxy),
            }
        }
    }

    async fn launch(&mut self) -> Result<(), Error> {
        let mut command = Command::new(binary(PROXY_BIN)?);
        command
            .args(["--http-addr", &format!("127.0.0.1:{}", self.http_port)])
            .args(["--https-addr", &format!("127.0.0.1:{}", self.https_port)])
            .args([
                "--admin-addr",
                &format!("{}:{}", admin_host(), self.admin_port),
            ])
            .arg("--tls-cert")
            .arg(&self.cert)
            .arg("--tls-key")
            .arg(&self.key)
            .args([
                "--metrics-addr",
                &format!("127.0.0.1:{}", self.metrics_port),
            ])
            .arg("--config-tls-cert")
            .arg(&self.config_cert)
            .arg("--config-tls-key")
            .arg(&self.config_key)
            .arg("--config-token-file")
            .arg(&self.token_file)
            // The test upstreams listen on loopback, which tollgate-proxy refuses by default.
            .args(["--backend-allow-cidr", LOOPBACK_BACKENDS])
            .args(["--log-format", "text"])
            .args(&self.extra_args)
            .env(
                "RUST_LOG",
                std::env::var("TOLLGATE_E2E_LOG").unwrap_or_else(|_| "info".to_owned()),
            );
        self.process = Some(Process::spawn(&self.name, command, &self.log_file)?);
        self.wait_admin("/healthz").await
    }

    /// Waits until `/readyz` answers 200 (the proxy holds a config).
    pub async fn wait_ready(&mut self) -> Result<(), Error> {
        self.wait_admin("/readyz").await
    }

    async fn wait_admin(&mut self, path: &str) -> Result<(), Error> {
        let url = self.metrics_url(path);
        let what = format!("{} to answer {path}", self.name);
        let Some(process) = self.process.as_mut() else {
            return Ok(());
        };
        process.wait_answering(STARTUP, &what, &url).await
    }

    /// Stops the proxy gracefully and starts it again on the same ports.
    pub async fn restart(&mut self) -> Result<(), Error> {
        self.stop().await;
        self.launch().await
    }

    pub async fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.terminate(Duration::from_secs(10)).await;
        }
    }

    /// `POST /config` with the right bearer token and `snapshot` as the body.
    pub async fn push_config(&self, snapshot: &[u8]) -> Result<Response, Error> {
        let auth = format!("Bearer {}", self.config_token);
        self.config_client()?
            .send(
                Method::POST,
                &self.config_url(),
                &[
                    ("authorization", &auth),
                    ("content-type", "application/json"),
                ],
                Bytes::copy_from_slice(snapshot),
            )
            .await
    }

    /// Writes a new config token into the proxy's token file, as the kubelet does when the
    /// Secret changes; the proxy is not told.
    pub fn rotate_token_file(&self, token: &str) -> Result<(), Error> {
        std::fs::write(&self.token_file, token)
            .map_err(|e| Error::io("writing the config token", &self.token_file, e))
    }

    /// The hash of the config the proxy holds (`GET /config`, with the token), empty when it
    /// holds none.
    pub async fn config_hash(&self) -> Result<String, Error> {
        self.config_hash_with(&self.config_token).await
    }

    /// [`Self::config_hash`] presenting `token`.
    pub async fn config_hash_with(&self, token: &str) -> Result<String, Error> {
        let url = self.config_url();
        let auth = format!("Bearer {token}");
        let response = self
            .config_client()?
            .send(Method::GET, &url, &[("authorization", &auth)], Bytes::new())
            .await?;
        if response.status != 200 {
            return Err(Error::Http {
                url,
                reason: response.describe(),
            });
        }
        let status: ConfigStatus =
            serde_json::from_slice(&response.body).map_err(|e| Error::Http {
                url,
                reason: format!("{e} in {}", response.describe()),
            })?;
        Ok(status.hash)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_file).unwrap_or_default()
    }

    pub fn http_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.http_port)
    }

    pub fn https_url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.https_port)
    }

    /// `host:port` of the metrics port (what a Prometheus scrapes).
    pub fn metrics_addr(&self) -> String {
        format!("127.0.0.1:{}", self.metrics_port)
    }

    /// `/healthz`, `/readyz` and `/metrics`, on the metrics port.
    pub fn metrics_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.metrics_port)
    }

    /// The config channel (HTTPS, on the admin port).
    pub fn config_url(&self) -> String {
        format!(
            "https://{}:{}{}",
            admin_host(),
            self.admin_port,
            config_channel::PATH
        )
    }

    /// The admin port over plain HTTP, which the proxy must refuse.
    pub fn plain_config_url(&self) -> String {
        format!(
            "http://{}:{}{}",
            admin_host(),
            self.admin_port,
            config_channel::PATH
        )
    }

    /// A client trusting the config channel's certificate.
    pub fn config_client(&self) -> Result<Client, Error> {
        Client::trusting_pem_file(&self.config_cert)
    }

    /// `<admin host>:<admin port>`, the address a controller pushes to (see [`admin_host`]).
    pub fn admin_addr(&self) -> String {
        format!("{}:{}", admin_host(), self.admin_port)
    }

    pub fn http_addr(&self) -> String {
        format!("127.0.0.1:{}", self.http_port)
    }

    /// A client trusting this proxy's certificate.
    pub fn client(&self) -> Result<Client, Error> {
        Client::trusting_pem_file(&self.cert)
    }
}

/// Writes a self-signed certificate for `localhost` and `127.0.0.1` (key file mode 0600).
pub fn write_certificate(cert: &std::path::Path, key: &std::path::Path) -> Result<(), Error> {
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let generated =
        rcgen::generate_simple_self_signed(names).map_err(|e| Error::Tls(e.to_string()))?;
    std::fs::write(cert, generated.cert.pem())
        .map_err(|e| Error::io("writing a certificate", cert, e))?;
    write_private(key, &generated.key_pair.serialize_pem())
}

/// Writes a private key file (mode 0600).
fn write_private(key: &std::path::Path, pem: &str) -> Result<(), Error> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(key)
        .map_err(|e| Error::io("writing a private key", key, e))?;
    file.write_all(pem.as_bytes())
        .map_err(|e| Error::io("writing a private key", key, e))
}

/// The address the proxies' admin listeners bind, which the EndpointSlices list: `127.0.0.1`
/// against the emulator; against the real API server, which rejects loopback endpoint addresses
/// ("may not be in the loopback range"), `TOLLGATE_E2E_HOST_IP` or else the host's first
/// non-loopback IPv4 address (`hostname -I`).
pub fn admin_host() -> String {
    if !crate::cluster::real_apiserver() {
        return "127.0.0.1".to_owned();
    }
    if let Ok(ip) = std::env::var("TOLLGATE_E2E_HOST_IP") {
        return ip;
    }
    std::process::Command::new("hostname")
        .arg("-I")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .find(|a| {
                    a.parse::<std::net::Ipv4Addr>()
                        .is_ok_and(|ip| !ip.is_loopback())
                })
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "127.0.0.1".to_owned())
}
