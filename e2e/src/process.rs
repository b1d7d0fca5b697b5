//! Child processes that never outlive their test.
//!
//! Each child runs in its own process group (so a server's workers go with it), with stdout and
//! stderr appended to one log file. Dropping a [`Process`] kills the whole group and reaps it.

use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::Error;
use crate::client::Client;
use crate::wait::{Attempt, wait_until, wait_until_or_fail};

#[derive(Debug)]
pub struct Process {
    name: String,
    child: Option<Child>,
    log_path: PathBuf,
}

impl Process {
    /// Starts `command` with its output appended to `log_path`.
    pub fn spawn(name: &str, mut command: Command, log_path: &Path) -> Result<Self, Error> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path)
            .map_err(|e| Error::io("opening a log file", log_path, e))?;
        let log_err = log
            .try_clone()
            .map_err(|e| Error::io("opening a log file", log_path, e))?;
        command
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .process_group(0);
        let child = command.spawn().map_err(|source| Error::Spawn {
            name: name.to_owned(),
            source,
        })?;
        Ok(Process {
            name: name.to_owned(),
            child: Some(child),
            log_path: log_path.to_owned(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Sends `signal` (`STOP`, `CONT`, ...) to the process with `kill -s` (fault tests freeze
    /// and resume processes).
    pub fn signal(&self, signal: &str) -> Result<(), Error> {
        let pid = self
            .pid()
            .ok_or_else(|| Error::NotRunning(self.name.clone()))?;
        let status = std::process::Command::new("kill")
            .args(["-s", signal, &pid.to_string()])
            .status()
            .map_err(|e| Error::io("running kill", "kill", e))?;
        if status.success() {
            Ok(())
        } else {
            Err(Error::NotRunning(self.name.clone()))
        }
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The log so far (empty when unreadable).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The exit status, if the child has exited.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// `Err(ExitedEarly)` (with the log) when the child is no longer running.
    pub fn ensure_running(&mut self) -> Result<(), Error> {
        match self.exit_status() {
            None if self.child.is_some() => Ok(()),
            status => Err(Error::ExitedEarly {
                name: self.name.clone(),
                status: status.map_or_else(|| "already stopped".to_owned(), |s| s.to_string()),
                log: self.log(),
            }),
        }
    }

    /// Waits up to `timeout` until `GET url` answers 200 while the child runs: `Err(ExitedEarly)`
    /// (with the log) when the child exits first, else the timeout with the last answer.
    pub async fn wait_answering(
        &mut self,
        timeout: Duration,
        what: &str,
        url: &str,
    ) -> Result<(), Error> {
        let client = Client::plain()?;
        wait_until_or_fail(timeout, what, || {
            let running = self.ensure_running();
            let (client, url) = (client.clone(), url.to_owned());
            async move {
                running.map_err(Attempt::Failed)?;
                match client.get(&url).await {
                    Ok(r) if r.status == 200 => Ok(()),
                    Ok(r) => Err(Attempt::NotYet(format!("{} {}", r.status, r.text()))),
                    Err(e) => Err(Attempt::NotYet(e.to_string())),
                }
            }
        })
        .await
    }

    /// Sends SIGTERM to the child's process group and waits up to `grace` for the child to
    /// exit; kills the group if it has not. Returns the exit status.
    pub async fn terminate(&mut self, grace: Duration) -> Option<ExitStatus> {
        let pid = self.pid()?;
        signal_group(pid, "TERM");
        let exited = wait_until(grace, "the process to exit after SIGTERM", || {
            let status = self.exit_status();
            async move { status.ok_or_else(|| "still running".to_owned()) }
        })
        .await
        .ok();
        let status = exited.or_else(|| self.kill());
        self.child = None;
        status
    }

    /// Kills the child's process group (SIGKILL) and reaps the child.
    pub fn kill(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        signal_group(child.id(), "KILL");
        // If the group signal could not be sent, at least the child itself goes.
        let _ = child.kill();
        child.wait().ok()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether `err` says a child exited because an address it was to listen on was taken (the
/// small race between [`crate::ports::free_port`] and the child's bind).
pub fn lost_a_port_race(err: &Error) -> bool {
    match err {
        Error::ExitedEarly { log, .. } => {
            log.contains("Address already in use") || log.contains("Connection in use")
        }
        _ => false,
    }
}

/// Sends `signal` to the process group `pgid` (the child's pid, as it leads its own group).
fn signal_group(pgid: u32, signal: &str) {
    // `kill` from procps; failure (group already gone) is fine.
    let _ = Command::new("kill")
        .args(["-s", signal, "--", &format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workdir::WorkDir;

    #[tokio::test]
    async fn a_child_logs_to_its_file_and_is_gone_after_terminate() {
        let dir = WorkDir::new("process-terminate").expect("work dir");
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo started; exec sleep 60"]);
        let mut process = Process::spawn("sleeper", cmd, &dir.log_file("sleeper")).expect("spawn");
        process.ensure_running().expect("running");
        wait_until(Duration::from_secs(5), "the log line", || {
            let log = process.log();
            async move { log.contains("started").then_some(()).ok_or(log) }
        })
        .await
        .expect("logged");
        let status = process.terminate(Duration::from_secs(5)).await;
        assert!(status.is_some_and(|s| !s.success()));
        assert!(process.ensure_running().is_err());
    }

    #[test]
    fn only_an_early_exit_over_a_taken_address_counts_as_a_lost_port_race() {
        let exited = |log: &str| Error::ExitedEarly {
            name: "x".to_owned(),
            status: "exit status: 1".to_owned(),
            log: log.to_owned(),
        };
        let cases = [
            (
                exited("binding 127.0.0.1:1: Address already in use (os error 98)"),
                true,
            ),
            (exited("[ERROR] Connection in use: ('127.0.0.1', 1)"), true),
            (exited("invalid flag --nope"), false),
            (Error::NoFreePort, false),
        ];
        for (err, lost) in cases {
            assert_eq!(lost_a_port_race(&err), lost, "{err}");
        }
    }

    #[tokio::test]
    async fn a_child_that_exits_is_reported_with_its_log() {
        let dir = WorkDir::new("process-exit").expect("work dir");
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo bad flag >&2; exit 3"]);
        let mut process = Process::spawn("failing", cmd, &dir.log_file("failing")).expect("spawn");
        let err = wait_until(Duration::from_secs(5), "the exit", || {
            let result = process.ensure_running();
            async move {
                match result {
                    Err(e) => Ok(e),
                    Ok(()) => Err("running".to_owned()),
                }
            }
        })
        .await
        .expect("exits");
        let text = err.to_string();
        assert!(
            text.contains("failing") && text.contains("bad flag"),
            "{text}"
        );
    }
}
