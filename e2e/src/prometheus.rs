//! A real Prometheus (Debian's `prometheus` package, or `TOLLGATE_PROMETHEUS_BIN`) scraping the
//! gateway's metrics endpoints on loopback, with its own config and data directory in the work
//! dir, and `promtool` (`TOLLGATE_PROMTOOL_BIN`) to lint an exposition.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::Error;
use crate::client::Client;
use crate::ports::free_port;
use crate::process::Process;
use crate::wait::{STARTUP, wait_until};
use crate::workdir::WorkDir;

/// How often the test Prometheus scrapes (its shortest sensible interval: the tests wait for
/// series, so a short one keeps them quick).
pub const SCRAPE_INTERVAL: &str = "1s";

/// `name` from `env` when set, else from `PATH` (`/usr/bin` on Debian).
fn tool(env: &str, name: &str) -> Result<PathBuf, Error> {
    if let Some(path) = std::env::var_os(env) {
        return Ok(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| Error::ToolNotFound {
            name: name.to_owned(),
            hint: format!("apt-get install prometheus (or set {env})"),
        })
}

/// One scrape job: its name and the `host:port` of the endpoint serving `/metrics`.
#[derive(Clone, Debug)]
pub struct Target {
    pub job: String,
    pub address: String,
}

/// A running Prometheus; killed on drop.
#[derive(Debug)]
pub struct Prometheus {
    process: Process,
    port: u16,
    client: Client,
}

impl Prometheus {
    /// Starts Prometheus scraping `targets` every [`SCRAPE_INTERVAL`] and waits until it is
    /// ready to answer queries.
    pub async fn start(work: &WorkDir, targets: &[Target]) -> Result<Self, Error> {
        let bin = tool("TOLLGATE_PROMETHEUS_BIN", "prometheus")?;
        let dir = work.subdir("prometheus")?;
        let config = dir.join("prometheus.yml");
        let mut yaml = format!(
            "global:\n  scrape_interval: {SCRAPE_INTERVAL}\n  scrape_timeout: {SCRAPE_INTERVAL}\n  evaluation_interval: {SCRAPE_INTERVAL}\nscrape_configs:\n"
        );
        for target in targets {
            yaml.push_str(&format!(
                "  - job_name: {job:?}\n    static_configs:\n      - targets: [{address:?}]\n",
                job = target.job,
                address = target.address
            ));
        }
        std::fs::write(&config, yaml)
            .map_err(|e| Error::io("writing the Prometheus config", &config, e))?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let port = free_port()?;
            let mut command = Command::new(&bin);
            command
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--log.level=warn");
            let process = Process::spawn("prometheus", command, &work.log_file("prometheus"))?;
            let mut prometheus = Prometheus {
                process,
                port,
                client: Client::plain()?,
            };
            match prometheus.wait_ready().await {
                Err(Error::ExitedEarly { log, .. })
                    if attempt < 3 && log.contains("address already in use") => {}
                other => return other.map(|()| prometheus),
            }
        }
    }

    async fn wait_ready(&mut self) -> Result<(), Error> {
        let url = self.url("/-/ready");
        let client = self.client.clone();
        let process = &mut self.process;
        wait_until(STARTUP, "Prometheus to be ready", || {
            let running = process.ensure_running();
            let client = client.clone();
            let url = url.clone();
            async move {
                running.map_err(|e| e.to_string())?;
                match client.get(&url).await {
                    Ok(r) if r.status == 200 => Ok(()),
                    Ok(r) => Err(r.describe()),
                    Err(e) => Err(e.to_string()),
                }
            }
        })
        .await
        .map_err(|timeout| match self.process.ensure_running() {
            Err(exited) => exited,
            Ok(()) => timeout,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// `GET /api/v1/query?query=EXPR`: the `data` of a successful answer, else the error
    /// Prometheus gave (a query that does not parse is a 400 with `errorType: bad_data`).
    pub async fn query(&self, expr: &str) -> Result<Value, String> {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("query", expr)
            .finish();
        let response = self
            .client
            .get(&self.url(&format!("/api/v1/query?{query}")))
            .await
            .map_err(|e| e.to_string())?;
        let body = response.json();
        if response.status == 200 && body["status"] == "success" {
            Ok(body["data"].clone())
        } else {
            Err(format!("{expr}: {}", response.describe()))
        }
    }

    /// The value of the one sample `expr` selects (`Err` while there is none, or several).
    pub async fn value(&self, expr: &str) -> Result<f64, String> {
        let data = self.query(expr).await?;
        let samples = data["result"].as_array().cloned().unwrap_or_default();
        match samples.as_slice() {
            [sample] => sample["value"][1]
                .as_str()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{expr}: no number in {sample}")),
            _ => Err(format!("{expr}: {} samples: {data}", samples.len())),
        }
    }

    /// Waits until `expr` has exactly the value `expected` in Prometheus.
    pub async fn wait_for_value(
        &self,
        timeout: Duration,
        expr: &str,
        expected: f64,
    ) -> Result<(), Error> {
        wait_until(
            timeout,
            &format!("Prometheus to report {expr} = {expected}"),
            || async {
                let value = self.value(expr).await?;
                if value == expected {
                    Ok(())
                } else {
                    Err(format!("{expr} = {value}"))
                }
            },
        )
        .await
    }

    /// The health of each scrape target (`up`), by job, as Prometheus last saw it.
    pub async fn targets_up(&self) -> Result<Vec<(String, f64)>, String> {
        let data = self.query("up").await?;
        Ok(data["result"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| {
                let job = s["metric"]["job"].as_str().unwrap_or_default().to_owned();
                let up = s["value"][1]
                    .as_str()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0.0);
                (job, up)
            })
            .collect())
    }

    pub fn log(&self) -> String {
        self.process.log()
    }
}

/// `promtool check metrics` on an exposition: `Ok` when it passes (its lint included), else
/// promtool's complaints.
pub fn promtool_check_metrics(exposition: &str) -> Result<(), Error> {
    let bin = tool("TOLLGATE_PROMTOOL_BIN", "promtool")?;
    let run = |source| Error::Spawn {
        name: "promtool".to_owned(),
        source,
    };
    let mut child = Command::new(bin)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(run)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(exposition.as_bytes()).map_err(run)?;
    }
    let out = child.wait_with_output().map_err(run)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Check {
            what: "promtool check metrics".to_owned(),
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        })
    }
}

/// The metric names of an exposition (`# TYPE` lines, plus the `_bucket`, `_sum` and `_count`
/// series of histograms): what a query may name.
pub fn metric_names(exposition: &str) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    for line in exposition.lines() {
        let mut words = line.split_whitespace();
        if let (Some("#"), Some("TYPE"), Some(name), Some(kind)) =
            (words.next(), words.next(), words.next(), words.next())
        {
            names.insert(name.to_owned());
            if kind == "histogram" {
                for suffix in ["_bucket", "_sum", "_count"] {
                    names.insert(format!("{name}{suffix}"));
                }
            }
        }
    }
    names
}
