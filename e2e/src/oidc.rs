//! A real OpenID Provider for the tests: the OpenID Certified `oidc-provider` package (npm,
//! pinned in `e2e/oidc-provider/package-lock.json`), run by Node on a free loopback port with
//! `e2e/oidc-provider/server.mjs`. Its issuer is `http://127.0.0.1:<port>`.
//!
//! The provider's signing keys live in a file of the work dir (`keys.mjs`), so a restart keeps
//! them, a rotation adds or replaces them, and tests can sign hostile tokens with the provider's
//! own keys (expired, wrong audience, `alg: none`, ...).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use http::Method;

use crate::client::Client;
use crate::ports::free_port;
use crate::process::Process;
use crate::wait::{STARTUP, wait_until};
use crate::workdir::WorkDir;
use crate::{Error, paths};

/// The client of the client-credentials grant.
pub const CLIENT_ID: &str = "tollgate-test";
/// The client allowed to introspect.
pub const INTROSPECTOR_ID: &str = "tollgate-introspector";
/// The resource (audience) whose tokens are JWTs.
pub const RESOURCE: &str = "https://api.example.test";

fn dir() -> PathBuf {
    paths::repo_root().join("e2e").join("oidc-provider")
}

#[derive(Debug)]
pub struct OidcProvider {
    port: u16,
    keys_file: PathBuf,
    log_file: PathBuf,
    process: Option<Process>,
    client_secret: String,
    introspector_secret: String,
}

impl OidcProvider {
    /// Starts the provider and waits until its discovery document answers.
    pub async fn start(work: &WorkDir) -> Result<Self, Error> {
        if !dir().join("node_modules").join("oidc-provider").exists() {
            return Err(Error::OidcProviderNotInstalled(dir()));
        }
        let mut provider = OidcProvider {
            port: free_port()?,
            keys_file: work.path().join("oidc-keys.json"),
            log_file: work.log_file("oidc-provider"),
            process: None,
            client_secret: "client-secret-for-tests".to_owned(),
            introspector_secret: "introspector-secret-for-tests".to_owned(),
        };
        node(&["keys.mjs", "ensure", &path_str(&provider.keys_file)])?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match provider.launch().await {
                Err(err) if attempt < 3 && crate::process::lost_a_port_race(&err) => {
                    provider.port = free_port()?;
                }
                other => return other.map(|()| provider),
            }
        }
    }

    async fn launch(&mut self) -> Result<(), Error> {
        let mut command = Command::new("node");
        command
            .arg("server.mjs")
            .current_dir(dir())
            .env("PORT", self.port.to_string())
            .env("KEYS_FILE", &self.keys_file)
            .env("CLIENT_SECRET", &self.client_secret)
            .env("INTROSPECTOR_SECRET", &self.introspector_secret);
        self.process = Some(Process::spawn("oidc-provider", command, &self.log_file)?);
        let client = Client::plain()?;
        let url = format!("{}/.well-known/openid-configuration", self.issuer());
        let Some(process) = self.process.as_mut() else {
            return Ok(());
        };
        wait_until(STARTUP, "the OpenID provider's discovery document", || {
            let running = process.ensure_running();
            let (client, url) = (client.clone(), url.clone());
            async move {
                running.map_err(|e| e.to_string())?;
                match client.get(&url).await {
                    Ok(r) if r.status == 200 => Ok(()),
                    Ok(r) => Err(format!("status {}", r.status)),
                    Err(e) => Err(e.to_string()),
                }
            }
        })
        .await
    }

    /// `http://127.0.0.1:<port>`.
    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops the provider (the keys file stays).
    pub async fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.terminate(Duration::from_secs(5)).await;
        }
    }

    /// Starts it again on the same port with the keys of its file.
    pub async fn restart(&mut self) -> Result<(), Error> {
        self.stop().await;
        self.launch().await
    }

    /// New signing keys, first in the provider's JWKS (it signs with them from now on); with
    /// `drop_old` the previous ones are gone. Restarts the provider.
    pub async fn rotate_keys(&mut self, drop_old: bool) -> Result<(), Error> {
        let mut args = vec!["keys.mjs", "rotate"];
        let file = path_str(&self.keys_file);
        args.push(&file);
        if drop_old {
            args.push("drop");
        }
        node(&args)?;
        self.restart().await
    }

    /// The key ids of the provider's keys file, in order (the first of each alg signs).
    pub fn key_ids(&self) -> Result<Vec<(String, String)>, Error> {
        let text = std::fs::read_to_string(&self.keys_file)
            .map_err(|e| Error::io("reading the provider's keys", &self.keys_file, e))?;
        let jwks: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| Error::Manifest(e.to_string()))?;
        Ok(jwks["keys"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|k| {
                (
                    k["kid"].as_str().unwrap_or_default().to_owned(),
                    k["alg"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect())
    }

    /// A JWS of `header` and `payload` signed with the provider's key `kid` (`none`: unsigned),
    /// whatever they claim.
    pub fn sign(
        &self,
        kid: &str,
        header: &serde_json::Value,
        payload: &serde_json::Value,
    ) -> Result<String, Error> {
        node(&[
            "keys.mjs",
            "sign",
            &path_str(&self.keys_file),
            kid,
            &header.to_string(),
            &payload.to_string(),
        ])
    }

    /// A client-credentials access token for `scope`; a JWT for `resource`, else opaque.
    pub async fn token(&self, scope: &str, resource: Option<&str>) -> Result<String, Error> {
        let mut body = format!("grant_type=client_credentials&scope={}", urlencode(scope));
        if let Some(resource) = resource {
            body.push_str(&format!("&resource={}", urlencode(resource)));
        }
        let url = format!("{}/token", self.issuer());
        let basic = basic(CLIENT_ID, &self.client_secret);
        let response = Client::plain()?
            .send(
                Method::POST,
                &url,
                &[
                    ("authorization", &basic),
                    ("content-type", "application/x-www-form-urlencoded"),
                ],
                Bytes::from(body),
            )
            .await?;
        if response.status != 200 {
            return Err(Error::Http {
                url,
                reason: response.describe(),
            });
        }
        Ok(response.json()["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// The introspecting client's id and secret.
    pub fn introspector(&self) -> (&str, &str) {
        (INTROSPECTOR_ID, &self.introspector_secret)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_file).unwrap_or_default()
    }
}

fn path_str(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

fn basic(id: &str, secret: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs `node ARGS` in the provider's directory; its stdout.
fn node(args: &[&str]) -> Result<String, Error> {
    let output = Command::new("node")
        .args(args)
        .current_dir(dir())
        .output()
        .map_err(|source| Error::Spawn {
            name: "node".to_owned(),
            source,
        })?;
    if !output.status.success() {
        return Err(Error::ExitedEarly {
            name: format!("node {}", args.first().copied().unwrap_or_default()),
            status: output.status.to_string(),
            log: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
