//! Fixtures of the cluster-less operator suite (`tests/cluster.rs`): the Kubernetes API emulator
//! (`e2e/emulator/`, Python), the real `kubectl`, the real `tollgate-controller run`, and the manifests
//! that stand in for the Helm chart (a namespace, the config-token and signing-keys Secrets, a
//! headless Service with one EndpointSlice per proxy process listing its loopback admin address —
//! which is how the controller discovers proxies without pods).
//!
//! The same scenarios can run against a real cluster with the chart installed (the kind tier):
//! set `TOLLGATE_E2E_KUBECONFIG` to its kubeconfig, `TOLLGATE_E2E_PROXY` to the proxy's
//! `HOST:HTTP_PORT[,HOST:HTTPS_PORT]` (HTTPS defaults to the same host on 8443) and
//! `TOLLGATE_E2E_UPSTREAM` to an httpbin URL as the proxies see it. Scenarios that stop local
//! processes are skipped there.
//!
//! With `TOLLGATE_E2E_APISERVER=real` the local processes talk to the real kube-apiserver (and an
//! embedded etcd; e2e/apiserver/, binary from `scripts/apiserver.sh build` or
//! `TOLLGATE_APISERVER_BIN`) instead of the emulator, as the admin user; see e2e/emulator/README.md
//! for what differs.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use base64::Engine as _;

use crate::client::Client;
use crate::paths::{binary, python, repo_root};
use crate::ports::free_port;
use crate::process::Process;
use crate::wait::{Attempt, STARTUP, wait_until, wait_until_or_fail};
use crate::workdir::WorkDir;

/// Namespace of the system objects (config Service, token and key Secrets, Lease).
pub const SYSTEM_NAMESPACE: &str = "tollgate-system";
/// Namespace of the application objects (consumer, credential, plugins, routes).
pub const APP_NAMESPACE: &str = "shop";
/// The proxies' headless config Service.
pub const PROXY_SERVICE: &str = "tollgate-proxy-config";
pub const CONFIG_TOKEN_SECRET: &str = "tollgate-config-token";
/// The config channel's certificate, as the chart's controller would create it.
pub const CONFIG_TLS_SECRET: &str = "tollgate-config-tls";
pub const SIGNING_KEYS_SECRET: &str = "tollgate-signing-keys";
pub const LEASE_NAME: &str = "tollgate-controller";
/// The controller binary.
pub const CONTROLLER_BIN: &str = "tollgate-controller";
/// What the controller's API requests carry as `User-Agent` (see `operator::USER_AGENT`).
pub const CONTROLLER_USER_AGENT: &str = "tollgate-controller/";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Harness(#[from] crate::Error),
    #[error("`kubectl {args}` failed ({status}): {stderr}")]
    Kubectl {
        args: String,
        status: String,
        stderr: String,
    },
    #[error("running {what}: {source}")]
    Run {
        what: String,
        source: std::io::Error,
    },
    #[error("unexpected output of {what}: {reason}")]
    Output { what: String, reason: String },
}

/// The API emulator on a free loopback port, with a kubeconfig and an audit log in the work dir.
/// Its objects are kept in a state file, so [`Emulator::restart`] brings them back.
pub struct Emulator {
    process: Process,
    kubeconfig: PathBuf,
    audit_log: PathBuf,
    state: PathBuf,
    log_file: PathBuf,
    port: u16,
    /// `Some(data dir)` when the backend is the real kube-apiserver (see [`real_apiserver`]).
    real: Option<PathBuf>,
}

/// `TOLLGATE_E2E_APISERVER=real`: the suite's cluster is the real kube-apiserver with an embedded
/// etcd (e2e/apiserver/, built by `scripts/apiserver.sh build`) instead of the Python emulator.
pub fn real_apiserver() -> bool {
    std::env::var("TOLLGATE_E2E_APISERVER").is_ok_and(|v| v == "real")
}

/// How long the real kube-apiserver may take to print its READY line.
const REAL_STARTUP: Duration = Duration::from_secs(180);

/// The cached kube-apiserver-local binary: `TOLLGATE_APISERVER_BIN`, else `scripts/apiserver.sh build`.
fn real_apiserver_binary() -> Result<PathBuf, Error> {
    if let Some(path) = std::env::var_os("TOLLGATE_APISERVER_BIN") {
        return Ok(PathBuf::from(path));
    }
    let script = repo_root().join("scripts/apiserver.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg("build")
        .stderr(Stdio::inherit())
        .output()
        .map_err(|source| Error::Run {
            what: format!("{} build", script.display()),
            source,
        })?;
    let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() || path.is_empty() {
        return Err(Error::Output {
            what: "scripts/apiserver.sh build".to_owned(),
            reason: format!("status {}, stdout {path:?}", out.status),
        });
    }
    Ok(PathBuf::from(path))
}

impl Emulator {
    pub async fn start(work: &WorkDir) -> Result<Self, Error> {
        if real_apiserver() {
            return Self::start_real(work).await;
        }
        let dir = work.subdir("emulator")?;
        let kubeconfig = dir.join("kubeconfig");
        let audit_log = dir.join("audit.jsonl");
        let state = dir.join("state.json");
        let log_file = work.log_file("emulator");
        let port = free_port()?;
        let process = Self::launch(port, &kubeconfig, &audit_log, &state, &log_file).await?;
        Ok(Self {
            process,
            kubeconfig,
            audit_log,
            state,
            log_file,
            port,
            real: None,
        })
    }

    async fn start_real(work: &WorkDir) -> Result<Self, Error> {
        let dir = work.subdir("apiserver")?;
        let kubeconfig = dir.join("kubeconfig");
        let audit_log = dir.join("audit.jsonl");
        let log_file = work.log_file("apiserver");
        let port = free_port()?;
        let policy = dir.join("audit-policy.yaml");
        std::fs::write(
            &policy,
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n",
        )
        .map_err(|source| Error::Run {
            what: format!("writing {}", policy.display()),
            source,
        })?;
        // The port was free when picked, but another process on the machine may bind it first:
        // a start refused that way is tried again on another port (restarts keep theirs).
        let mut port = port;
        let mut attempt = 1;
        let process = loop {
            match Self::launch_real(&dir, port, &audit_log, &log_file).await {
                Err(e) if attempt < 4 && e.to_string().contains("address already in use") => {
                    attempt += 1;
                    port = free_port()?;
                }
                other => break other?,
            }
        };
        Ok(Self {
            process,
            kubeconfig,
            audit_log,
            state: dir.clone(),
            log_file,
            port,
            real: Some(dir),
        })
    }

    /// Starts kube-apiserver-local on `port` with its data in `dir` (etcd's data and the PKI are
    /// kept across restarts) and waits, bounded, for the READY line it prints once /readyz is ok.
    async fn launch_real(
        dir: &Path,
        port: u16,
        audit_log: &Path,
        log_file: &Path,
    ) -> Result<Process, Error> {
        let bin = real_apiserver_binary()?;
        // stdout (the READY line) and stderr share the log, which restarts append to: only what
        // follows the current end counts.
        let offset = std::fs::metadata(log_file).map_or(0, |m| m.len() as usize);
        let log = log_file.to_path_buf();
        let mut command = Command::new(bin);
        command
            .arg("--data-dir")
            .arg(dir)
            .args(["--port", &port.to_string(), "--"])
            .arg(format!("--audit-log-path={}", audit_log.display()))
            .arg(format!(
                "--audit-policy-file={}",
                dir.join("audit-policy.yaml").display()
            ))
            .arg("--audit-log-format=json");
        let mut process = Process::spawn("apiserver", command, log_file)?;
        wait_until_or_fail(REAL_STARTUP, "kube-apiserver to print READY", || {
            let running = process.ensure_running();
            let log = log.clone();
            async move {
                running.map_err(Attempt::Failed)?;
                let out = std::fs::read(&log).unwrap_or_default();
                let out = String::from_utf8_lossy(out.get(offset..).unwrap_or_default());
                if out.lines().any(|l| l.starts_with("READY ")) {
                    Ok(())
                } else {
                    Err(Attempt::NotYet("no READY line yet".to_owned()))
                }
            }
        })
        .await?;
        Ok(process)
    }

    /// The kubeconfig the controller runs with. Against the emulator, its admin one. Against the
    /// real server, the chart (`helm template`, release namespace `tollgate-system`) is applied and
    /// the controller gets a token of the chart's own ServiceAccount, so a rule the chart lacks
    /// is a real 403.
    pub async fn controller_kubeconfig(&self, kubectl: &Kubectl) -> Result<PathBuf, Error> {
        self.controller_kubeconfig_watching(kubectl, &[], &[]).await
    }

    /// [`Emulator::controller_kubeconfig`] with the chart's namespaced RBAC when `namespaces` is
    /// not empty (`watchNamespaces`: a Role and RoleBinding in each, nothing cluster-wide); the
    /// namespaces are created first. `values` are more chart values (`--set key=value`), for
    /// rules a chart option adds (`clientSecrets.generate=true`).
    pub async fn controller_kubeconfig_watching(
        &self,
        kubectl: &Kubectl,
        namespaces: &[&str],
        values: &[&str],
    ) -> Result<PathBuf, Error> {
        let Some(dir) = &self.real else {
            return Ok(self.kubeconfig.clone());
        };
        let chart = repo_root().join("charts/tollgate");
        let helm = repo_root().join(".tools/bin/helm");
        let mut helm_args = vec!["template".to_owned(), "tollgate".to_owned()];
        helm_args.push(chart.display().to_string());
        helm_args.extend(["-n".to_owned(), SYSTEM_NAMESPACE.to_owned()]);
        for value in values {
            helm_args.extend(["--set".to_owned(), (*value).to_owned()]);
        }
        if !namespaces.is_empty() {
            helm_args.push("--set".to_owned());
            helm_args.push(format!("watchNamespaces={{{}}}", namespaces.join(",")));
            for ns in namespaces {
                kubectl
                    .apply(&format!(
                        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"
                    ))
                    .await?;
            }
        }
        let out = Command::new(&helm)
            .args(&helm_args)
            .output()
            .map_err(|source| Error::Run {
                what: format!("{} template", helm.display()),
                source,
            })?;
        if !out.status.success() {
            return Err(Error::Output {
                what: "helm template".to_owned(),
                reason: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        kubectl
            .apply(&format!(
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {SYSTEM_NAMESPACE}\n"
            ))
            .await?;
        // Every rendered object names its namespace (the release's, or a watched one).
        kubectl
            .run(
                &["apply", "-f", "-"],
                Some(&String::from_utf8_lossy(&out.stdout)),
            )
            .await?;
        let token = kubectl
            .run(
                &[
                    "create",
                    "token",
                    "tollgate-controller",
                    "-n",
                    SYSTEM_NAMESPACE,
                    "--duration=2h",
                ],
                None,
            )
            .await?;
        let config = dir.join("controller.kubeconfig");
        std::fs::copy(&self.kubeconfig, &config).map_err(|source| Error::Run {
            what: format!("copying {}", self.kubeconfig.display()),
            source,
        })?;
        let sa = Kubectl::new(&config);
        sa.run(
            &[
                "config",
                "set-credentials",
                "tollgate-controller",
                &format!("--token={}", token.trim()),
            ],
            None,
        )
        .await?;
        sa.run(
            &[
                "config",
                "set-context",
                "--current",
                "--user=tollgate-controller",
            ],
            None,
        )
        .await?;
        Ok(config)
    }

    /// The kubeconfig [`Emulator::controller_kubeconfig`] wrote (the admin one on the emulator).
    pub fn written_controller_kubeconfig(&self) -> PathBuf {
        match &self.real {
            Some(dir) => dir.join("controller.kubeconfig"),
            None => self.kubeconfig.clone(),
        }
    }

    /// Whether this is the real kube-apiserver rather than the emulator.
    pub fn is_real(&self) -> bool {
        self.real.is_some()
    }

    async fn launch(
        port: u16,
        kubeconfig: &Path,
        audit_log: &Path,
        state: &Path,
        log_file: &Path,
    ) -> Result<Process, Error> {
        let _ = std::fs::remove_file(kubeconfig);
        let mut command = Command::new(python()?);
        command
            .args(["-m", "emulator", "--port", &port.to_string()])
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .arg("--audit-log")
            .arg(audit_log)
            .arg("--state")
            .arg(state)
            // `python -m emulator` runs from the directory that holds the package (e2e/)
            .current_dir(repo_root().join("e2e"));
        let mut process = Process::spawn("emulator", command, log_file)?;
        let client = Client::plain()?;
        let url = format!("http://127.0.0.1:{port}/version");
        let config = kubeconfig.to_path_buf();
        wait_until(STARTUP, "the API emulator to answer /version", || {
            let running = process.ensure_running();
            let (client, url, config) = (client.clone(), url.clone(), config.clone());
            async move {
                running.map_err(|e| e.to_string())?;
                if !config.is_file() {
                    return Err("no kubeconfig yet".to_owned());
                }
                match client.get(&url).await {
                    Ok(r) if r.status == 200 => Ok(()),
                    Ok(r) => Err(format!("status {}", r.status)),
                    Err(e) => Err(e.to_string()),
                }
            }
        })
        .await?;
        Ok(process)
    }

    /// Stops the emulator (SIGTERM; it saves its objects) and starts it again on the same port
    /// with the same objects, as an API server restart looks to its clients.
    pub async fn restart(&mut self) -> Result<(), Error> {
        if let Some(dir) = self.real.clone() {
            self.process.terminate(Duration::from_secs(60)).await;
            self.process =
                Self::launch_real(&dir, self.port, &self.audit_log, &self.log_file).await?;
            return Ok(());
        }
        self.process.terminate(Duration::from_secs(10)).await;
        self.process = Self::launch(
            self.port,
            &self.kubeconfig,
            &self.audit_log,
            &self.state,
            &self.log_file,
        )
        .await?;
        Ok(())
    }

    /// Sends `signal` (`STOP`, `CONT`) to the API server process (the emulator, or the real
    /// kube-apiserver with its etcd).
    pub fn signal(&self, signal: &str) -> Result<(), Error> {
        Ok(self.process.signal(signal)?)
    }

    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    pub fn audit_log(&self) -> &Path {
        &self.audit_log
    }

    pub fn log(&self) -> String {
        self.process.log()
    }
}

/// The real `kubectl` against one kubeconfig.
#[derive(Clone, Debug)]
pub struct Kubectl {
    bin: PathBuf,
    kubeconfig: PathBuf,
}

/// `kubectl`: `KUBECTL`, else `<repo>/.tools/bin/kubectl` (scripts/tools.sh), else `/usr/bin/kubectl`,
/// else whatever `PATH` has.
pub fn kubectl_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("KUBECTL") {
        return PathBuf::from(path);
    }
    [
        repo_root().join(".tools/bin/kubectl"),
        PathBuf::from("/usr/bin/kubectl"),
    ]
    .into_iter()
    .find(|p| p.is_file())
    .unwrap_or_else(|| PathBuf::from("kubectl"))
}

impl Kubectl {
    pub fn new(kubeconfig: &Path) -> Self {
        Self {
            bin: kubectl_binary(),
            kubeconfig: kubeconfig.to_path_buf(),
        }
    }

    /// Runs kubectl (on a blocking thread, so the test's runtime keeps serving its other tasks)
    /// and returns its output whatever the exit status.
    pub async fn output(&self, args: &[&str], stdin: Option<&str>) -> Result<Output, Error> {
        let mut command = Command::new(&self.bin);
        command
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let input = stdin.map(str::to_owned);
        let what = format!("kubectl {}", args.join(" "));
        let run = move || -> std::io::Result<Output> {
            let mut child = command.spawn()?;
            if let (Some(text), Some(mut pipe)) = (input, child.stdin.take()) {
                pipe.write_all(text.as_bytes())?;
            }
            child.wait_with_output()
        };
        tokio::task::spawn_blocking(run)
            .await
            .map_err(|e| Error::Run {
                what: what.clone(),
                source: std::io::Error::other(e),
            })?
            .map_err(|source| Error::Run { what, source })
    }

    /// Runs kubectl and fails unless it exits 0; returns stdout.
    pub async fn run(&self, args: &[&str], stdin: Option<&str>) -> Result<String, Error> {
        let out = self.output(args, stdin).await?;
        if !out.status.success() {
            return Err(Error::Kubectl {
                args: args.join(" "),
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `kubectl apply -f -` with `yaml`.
    pub async fn apply(&self, yaml: &str) -> Result<String, Error> {
        self.run(&["apply", "-f", "-"], Some(yaml)).await
    }

    /// `kubectl apply -f PATH` (a file or a directory).
    pub async fn apply_path(&self, path: &Path) -> Result<String, Error> {
        let path = path.to_string_lossy().into_owned();
        let out = self.run(&["apply", "-f", &path], None).await?;
        // The real API server serves a new CRD's resource only once it is Established; the
        // emulator serves it at once.
        if real_apiserver() && out.contains("customresourcedefinition") {
            self.run(
                &[
                    "wait",
                    "--for=condition=Established",
                    "crd",
                    "--all",
                    "--timeout=60s",
                ],
                None,
            )
            .await?;
        }
        Ok(out)
    }

    /// Installs the Gateway API's CRDs the controller reads ([`gateway_api_crd_files`]) by
    /// server-side apply (the HTTPRoute CRD is too large for kubectl's annotation), and waits
    /// until they are Established.
    pub async fn install_gateway_api(&self) -> Result<(), Error> {
        for file in gateway_api_crd_files()? {
            let path = file.to_string_lossy().into_owned();
            self.run(&["apply", "--server-side", "-f", &path], None)
                .await?;
        }
        for kind in GATEWAY_API_KINDS {
            let crd = format!("crd/{kind}.gateway.networking.k8s.io");
            self.run(
                &["wait", "--for=condition=Established", &crd, "--timeout=60s"],
                None,
            )
            .await?;
        }
        Ok(())
    }

    /// `kubectl get -o json`.
    pub async fn get_json(
        &self,
        resource: &str,
        namespace: &str,
    ) -> Result<serde_json::Value, Error> {
        let out = self
            .run(&["get", resource, "-n", namespace, "-o", "json"], None)
            .await?;
        serde_json::from_str(&out).map_err(|e| Error::Output {
            what: format!("kubectl get {resource}"),
            reason: e.to_string(),
        })
    }

    /// `kubectl wait --for=FOR RESOURCE -n NS --timeout=...`.
    pub async fn wait_for(
        &self,
        resource: &str,
        namespace: &str,
        condition: &str,
        timeout: Duration,
    ) -> Result<String, Error> {
        let timeout = format!("--timeout={}s", timeout.as_secs().max(1));
        let condition = format!("--for={condition}");
        self.run(
            &["wait", &condition, resource, "-n", namespace, &timeout],
            None,
        )
        .await
    }
}

/// The Gateway API kinds the controller reads (plural resource names).
pub const GATEWAY_API_KINDS: [&str; 4] = [
    "gatewayclasses",
    "gateways",
    "httproutes",
    "referencegrants",
];

/// The CRD files of [`GATEWAY_API_KINDS`] (standard channel, v1.5.1), from the Go module
/// `sigs.k8s.io/gateway-api` as a user's machine gets them (`scripts/gateway-api-crds.sh`: `go
/// mod download`, verified against the checksum database); fetched once per test process, or
/// taken from `TOLLGATE_GATEWAY_API_CRDS` (the directory that script printed: the `realapi` step
/// fetches them before entering a network namespace without a route to the module proxy).
pub fn gateway_api_crd_files() -> Result<Vec<PathBuf>, Error> {
    static DIR: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    let dir = DIR.get_or_init(|| {
        if let Some(dir) = std::env::var_os("TOLLGATE_GATEWAY_API_CRDS") {
            return Ok(PathBuf::from(dir));
        }
        let script = repo_root().join("scripts/gateway-api-crds.sh");
        let out = Command::new("bash")
            .arg(&script)
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| format!("running {}: {e}", script.display()))?;
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && dir.is_dir() {
            Ok(dir)
        } else {
            Err(format!(
                "{} failed ({}): {}",
                script.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    });
    let dir = dir.as_ref().map_err(|reason| Error::Output {
        what: "scripts/gateway-api-crds.sh (needs Go and the Go module proxy once)".to_owned(),
        reason: reason.clone(),
    })?;
    Ok(GATEWAY_API_KINDS
        .iter()
        .map(|kind| dir.join(format!("gateway.networking.k8s.io_{kind}.yaml")))
        .collect())
}

/// Flags of one controller process.
#[derive(Clone, Debug)]
pub struct ControllerOptions {
    pub kubeconfig: PathBuf,
    /// Seconds a follower waits on an unrenewed Lease (short, so take-over tests are quick).
    pub lease_duration_secs: u64,
    /// `--namespaces`; empty watches every namespace.
    pub namespaces: Vec<String>,
    /// Further flags, as given.
    pub extra_args: Vec<String>,
}

/// `tollgate-controller run` as a fixture; ready once `/readyz` answers (caches synced).
pub struct Controller {
    name: String,
    options: ControllerOptions,
    admin_port: u16,
    log_file: PathBuf,
    process: Option<Process>,
}

impl Controller {
    pub async fn start(
        work: &WorkDir,
        name: &str,
        options: ControllerOptions,
    ) -> Result<Self, Error> {
        let mut controller = Self {
            name: name.to_owned(),
            options,
            admin_port: free_port()?,
            log_file: work.log_file(name),
            process: None,
        };
        controller.launch().await?;
        Ok(controller)
    }

    /// Starts the controller without waiting for it to become ready (for tests of a controller
    /// that cannot sync).
    pub fn spawn(work: &WorkDir, name: &str, options: ControllerOptions) -> Result<Self, Error> {
        let mut controller = Self {
            name: name.to_owned(),
            options,
            admin_port: free_port()?,
            log_file: work.log_file(name),
            process: None,
        };
        controller.process = Some(controller.spawn_process()?);
        Ok(controller)
    }

    async fn launch(&mut self) -> Result<(), Error> {
        let mut process = self.spawn_process()?;
        let url = self.admin_url("/readyz");
        let what = format!("{} to sync its caches", self.name);
        process.wait_answering(STARTUP, &what, &url).await?;
        self.process = Some(process);
        Ok(())
    }

    fn spawn_process(&self) -> Result<Process, Error> {
        let mut command = Command::new(binary(CONTROLLER_BIN)?);
        command
            .arg("run")
            .arg(format!(
                "--proxy-service={SYSTEM_NAMESPACE}/{PROXY_SERVICE}"
            ))
            .arg(format!(
                "--config-token-secret={SYSTEM_NAMESPACE}/{CONFIG_TOKEN_SECRET}"
            ))
            .arg(format!(
                "--signing-key-secret={SYSTEM_NAMESPACE}/{SIGNING_KEYS_SECRET}"
            ))
            .arg(format!(
                "--config-tls-secret={SYSTEM_NAMESPACE}/{CONFIG_TLS_SECRET}"
            ))
            .arg(format!("--admin-addr=127.0.0.1:{}", self.admin_port))
            .arg(format!("--lease-name={LEASE_NAME}"))
            .arg(format!("--lease-namespace={SYSTEM_NAMESPACE}"))
            .arg(format!(
                "--lease-duration-secs={}",
                self.options.lease_duration_secs
            ))
            .args([
                "--lease-retry-secs=1",
                "--push-recheck-secs=1",
                "--debounce-ms=100",
            ])
            .arg(format!(
                "--backend-allow-cidr={}",
                crate::proxy::LOOPBACK_BACKENDS
            ))
            .env("KUBECONFIG", &self.options.kubeconfig)
            .env("POD_NAME", &self.name)
            .env_remove("POD_NAMESPACE")
            .env(
                "RUST_LOG",
                std::env::var("TOLLGATE_E2E_LOG").unwrap_or_else(|_| "info".to_owned()),
            );
        command.args(&self.options.extra_args);
        if !self.options.namespaces.is_empty() {
            command.arg(format!(
                "--namespaces={}",
                self.options.namespaces.join(",")
            ));
        }
        Ok(Process::spawn(&self.name, command, &self.log_file)?)
    }

    /// Sends `signal` (`STOP`, `CONT`) to the controller process.
    pub fn signal(&self, signal: &str) -> Result<(), Error> {
        match &self.process {
            Some(process) => Ok(process.signal(signal)?),
            None => Ok(()),
        }
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.admin_port)
    }

    /// `host:port` of the admin port (health and `/metrics`).
    pub fn admin_addr(&self) -> String {
        format!("127.0.0.1:{}", self.admin_port)
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics(&self) -> Result<String, Error> {
        let response = Client::plain()?.get(&self.admin_url("/metrics")).await?;
        Ok(response.text())
    }

    /// Whether this replica reports holding the Lease.
    pub async fn is_leader(&self) -> bool {
        self.metrics().await.is_ok_and(|m| {
            m.lines()
                .any(|l| l.trim() == "tollgate_controller_leader 1")
        })
    }

    /// Graceful stop (SIGTERM: the leader releases the Lease).
    pub async fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.terminate(Duration::from_secs(10)).await;
        }
    }

    /// Crash (SIGKILL: the Lease is left to expire).
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
        }
    }

    pub async fn restart(&mut self) -> Result<(), Error> {
        self.stop().await;
        self.launch().await
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_file).unwrap_or_default()
    }
}

/// What the Helm chart would create: the system namespace, the config-token, signing-keys and
/// config-channel certificate Secrets (labelled), the proxies' headless config Service and,
/// standing in for pods, one EndpointSlice per proxy process listing its loopback admin address.
pub fn system_manifests(
    proxy_admin_addrs: &[String],
    config_token: &str,
    signing_key: &[u8],
) -> String {
    let key_b64 = base64::engine::general_purpose::STANDARD.encode(signing_key);
    let b64 = |pem: &str| base64::engine::general_purpose::STANDARD.encode(pem);
    let (tls_crt, tls_key) = crate::proxy::config_tls();
    let (tls_crt, tls_key) = (b64(tls_crt), b64(tls_key));
    let mut out = format!(
        r#"apiVersion: v1
kind: Namespace
metadata:
  name: {SYSTEM_NAMESPACE}
---
apiVersion: v1
kind: Secret
metadata:
  name: {CONFIG_TOKEN_SECRET}
  namespace: {SYSTEM_NAMESPACE}
  labels:
    tollgate.dev/secret: config-token
stringData:
  token: "{config_token}"
---
apiVersion: v1
kind: Secret
metadata:
  name: {SIGNING_KEYS_SECRET}
  namespace: {SYSTEM_NAMESPACE}
  labels:
    tollgate.dev/secret: signing-keys
data:
  k2026-01-01: {key_b64}
---
apiVersion: v1
kind: Secret
metadata:
  name: {CONFIG_TLS_SECRET}
  namespace: {SYSTEM_NAMESPACE}
  labels:
    tollgate.dev/secret: config-tls
type: kubernetes.io/tls
data:
  tls.crt: {tls_crt}
  tls.key: {tls_key}
---
apiVersion: v1
kind: Service
metadata:
  name: {PROXY_SERVICE}
  namespace: {SYSTEM_NAMESPACE}
spec:
  clusterIP: None
  publishNotReadyAddresses: true
  selector:
    app.kubernetes.io/component: proxy
  ports:
    - name: admin
      port: 8100
"#
    );
    for (i, addr) in proxy_admin_addrs.iter().enumerate() {
        let (host, port) = addr.rsplit_once(':').unwrap_or((addr.as_str(), "8100"));
        out.push_str(&format!(
            r#"---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: {PROXY_SERVICE}-{i}
  namespace: {SYSTEM_NAMESPACE}
  labels:
    kubernetes.io/service-name: {PROXY_SERVICE}
addressType: IPv4
ports:
  - name: admin
    port: {port}
    protocol: TCP
endpoints:
  - addresses: ["{host}"]
    conditions:
      ready: false
"#
        ));
    }
    out
}

/// The application objects of the quickstart's token flow: Secret, Consumer `jane`, credential
/// `demo` (`client`/`secret`, hashed), plugin `oauth2` on route `auth`, plugin `oidc` on route
/// `httpbin` to `upstream`.
pub fn app_manifests(upstream: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Namespace
metadata:
  name: {APP_NAMESPACE}
---
apiVersion: v1
kind: Secret
metadata:
  name: demo-client-secret
  namespace: {APP_NAMESPACE}
  labels:
    tollgate.dev/secret: credential
stringData:
  client_secret: secret
---
apiVersion: tollgate.dev/v1alpha1
kind: Consumer
metadata:
  name: jane
  namespace: {APP_NAMESPACE}
spec:
  username: jane
---
apiVersion: tollgate.dev/v1alpha1
kind: OAuth2Credential
metadata:
  name: demo
  namespace: {APP_NAMESPACE}
spec:
  consumerRef:
    name: jane
  name: demo
  clientId: client
  clientSecretRef:
    name: demo-client-secret
    key: client_secret
  hashSecret: true
---
apiVersion: tollgate.dev/v1alpha1
kind: AuthPlugin
metadata:
  name: oauth2
  namespace: {APP_NAMESPACE}
spec:
  type: oauth2
  oauth2:
    enableClientCredentials: true
    globalCredentials: true
---
apiVersion: tollgate.dev/v1alpha1
kind: GatewayRoute
metadata:
  name: auth
  namespace: {APP_NAMESPACE}
spec:
  paths: ["/auth"]
  plugins: ["oauth2"]
---
apiVersion: tollgate.dev/v1alpha1
kind: AuthPlugin
metadata:
  name: oidc
  namespace: {APP_NAMESPACE}
spec:
  type: openid-connect
  openidConnect:
    authMethods: ["kong_oauth2"]
    bearerTokenParamType: ["header"]
---
apiVersion: tollgate.dev/v1alpha1
kind: GatewayRoute
metadata:
  name: httpbin
  namespace: {APP_NAMESPACE}
spec:
  paths: ["/"]
  plugins: ["oidc"]
  backend:
    url: {upstream}
"#
    )
}

/// A cluster from outside (the kind tier): kubeconfig, proxy addresses and upstream URL.
#[derive(Clone, Debug)]
pub struct External {
    pub kubeconfig: PathBuf,
    pub http_addr: String,
    pub https_addr: String,
    pub upstream: String,
}

impl External {
    /// From `TOLLGATE_E2E_KUBECONFIG`, `TOLLGATE_E2E_PROXY` and `TOLLGATE_E2E_UPSTREAM`; `None`
    /// when the first two are not both set.
    pub fn from_env() -> Option<Self> {
        let kubeconfig = PathBuf::from(std::env::var_os("TOLLGATE_E2E_KUBECONFIG")?);
        let proxy = std::env::var("TOLLGATE_E2E_PROXY").ok()?;
        let (http_addr, https_addr) = match proxy.split_once(',') {
            Some((http, https)) => (http.trim().to_owned(), https.trim().to_owned()),
            None => {
                let host = proxy.rsplit_once(':').map_or(proxy.as_str(), |(h, _)| h);
                (proxy.clone(), format!("{host}:8443"))
            }
        };
        let upstream = std::env::var("TOLLGATE_E2E_UPSTREAM")
            .unwrap_or_else(|_| format!("http://httpbin.{APP_NAMESPACE}.svc.cluster.local:8000"));
        Some(Self {
            kubeconfig,
            http_addr,
            https_addr,
            upstream,
        })
    }
}

/// One status write of the controller, as the API server's audit log records it.
#[derive(Clone, Debug, PartialEq)]
pub struct StatusWrite {
    /// When the server received it, in seconds (the epoch of both logs).
    pub at: f64,
    /// `consumers`, `oauth2credentials`, ...
    pub resource: String,
    pub namespace: String,
    pub name: String,
}

/// The controller's writes to `/status` (patch or update, any answer) in an audit log: the
/// emulator's (one line per request, `ts`) or the real server's (`--audit-log-format=json`,
/// the `ResponseComplete` stage, `requestReceivedTimestamp`), in the order received.
pub fn status_writes(audit_log: &str) -> Vec<StatusWrite> {
    let mut writes: Vec<StatusWrite> = audit_log
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|r| {
            r["userAgent"]
                .as_str()
                .is_some_and(|ua| ua.starts_with(CONTROLLER_USER_AGENT))
                && matches!(r["verb"].as_str(), Some("patch" | "update"))
                && r["stage"].as_str().is_none_or(|s| s == "ResponseComplete")
        })
        .filter_map(|r| {
            let field = |name: &str| {
                r.get(name)
                    .or_else(|| r["objectRef"].get(name))
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_owned)
            };
            if field("subresource").as_deref() != Some("status") {
                return None;
            }
            let at = match r["ts"].as_f64() {
                Some(ts) => ts,
                None => rfc3339_seconds(r["requestReceivedTimestamp"].as_str()?)?,
            };
            Some(StatusWrite {
                at,
                resource: field("resource")?,
                namespace: field("namespace").unwrap_or_default(),
                name: field("name")?,
            })
        })
        .collect();
    writes.sort_by(|a, b| a.at.total_cmp(&b.at));
    writes
}

/// `2026-01-02T03:04:05.123456Z` as seconds since the Unix epoch (UTC only, as audit logs are).
fn rfc3339_seconds(text: &str) -> Option<f64> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut ymd = date.splitn(3, '-').map(str::parse::<i64>);
    let (y, m, d) = (ymd.next()?.ok()?, ymd.next()?.ok()?, ymd.next()?.ok()?);
    let mut hms = time.splitn(3, ':');
    let (h, min) = (
        hms.next()?.parse::<i64>().ok()?,
        hms.next()?.parse::<i64>().ok()?,
    );
    let s = hms.next()?.parse::<f64>().ok()?;
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    #[allow(clippy::cast_precision_loss)]
    let whole = (days * 86_400 + h * 3600 + min * 60) as f64;
    Some(whole + s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_manifests_list_one_endpoint_slice_per_proxy() {
        let yaml = system_manifests(
            &["127.0.0.1:4001".into(), "127.0.0.1:4002".into()],
            "tok",
            &[7u8; 32],
        );
        assert_eq!(yaml.matches("kind: EndpointSlice").count(), 2);
        assert!(yaml.contains("port: 4001") && yaml.contains("port: 4002"));
        assert!(yaml.contains("tollgate.dev/secret: signing-keys"));
        for doc in yaml.split("\n---\n") {
            let parsed: serde_json::Value = serde_saphyr::from_str(doc).expect("valid YAML");
            assert!(parsed.get("kind").is_some(), "{doc}");
        }
    }

    #[test]
    fn app_manifests_point_the_upstream_route_at_the_given_url() {
        let yaml = app_manifests("http://127.0.0.1:9999");
        assert!(yaml.contains("url: http://127.0.0.1:9999"));
        assert_eq!(yaml.matches("\n---\n").count(), 7);
    }

    #[test]
    fn status_writes_are_read_from_both_audit_log_formats() {
        let emulator = r#"{"ts": 1767225600.5, "method": "PATCH", "path": "/x", "user": "u", "userAgent": "tollgate-controller/0.1.0", "verb": "patch", "apiGroup": "tollgate.dev", "resource": "consumers", "subresource": "status", "namespace": "shop", "name": "jane", "code": 200}
{"ts": 1767225600.1, "userAgent": "kubectl/v1.34", "verb": "patch", "resource": "consumers", "subresource": "status", "namespace": "shop", "name": "jane"}
{"ts": 1767225600.2, "userAgent": "tollgate-controller/0.1.0", "verb": "patch", "resource": "consumers", "namespace": "shop", "name": "jane"}"#;
        let real = r#"{"kind":"Event","stage":"RequestReceived","verb":"patch","userAgent":"tollgate-controller/0.1.0","objectRef":{"resource":"gatewayroutes","namespace":"shop","name":"auth","subresource":"status"},"requestReceivedTimestamp":"2026-01-01T00:00:00.250000Z"}
{"kind":"Event","stage":"ResponseComplete","verb":"patch","userAgent":"tollgate-controller/0.1.0","objectRef":{"resource":"gatewayroutes","namespace":"shop","name":"auth","subresource":"status"},"requestReceivedTimestamp":"2026-01-01T00:00:00.250000Z"}"#;
        let writes = status_writes(&format!("{emulator}\n{real}"));
        assert_eq!(
            writes,
            [
                StatusWrite {
                    at: 1_767_225_600.25,
                    resource: "gatewayroutes".into(),
                    namespace: "shop".into(),
                    name: "auth".into(),
                },
                StatusWrite {
                    at: 1_767_225_600.5,
                    resource: "consumers".into(),
                    namespace: "shop".into(),
                    name: "jane".into(),
                },
            ]
        );
    }
}
