//! A per-test temporary directory that prints the children's logs when the test fails.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use crate::Error;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A temporary directory for one test: `<tmp>/tollgate-e2e-<pid>-<n>-<name>`. Processes started
/// through it log into `logs/`. On drop, when the thread is panicking (the test failed), every
/// log is printed to stderr and the directory is kept; otherwise it is removed, unless
/// `TOLLGATE_KEEP_TMP` is set.
#[derive(Debug)]
pub struct WorkDir {
    path: PathBuf,
    logs: Arc<Mutex<Vec<PathBuf>>>,
}

impl WorkDir {
    pub fn new(name: &str) -> Result<Self, Error> {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let safe: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let path =
            std::env::temp_dir().join(format!("tollgate-e2e-{}-{n}-{safe}", std::process::id()));
        if path.exists() {
            std::fs::remove_dir_all(&path)
                .map_err(|e| Error::io("clearing an old work dir", &path, e))?;
        }
        std::fs::create_dir_all(path.join("logs"))
            .map_err(|e| Error::io("creating the work dir", &path, e))?;
        Ok(WorkDir {
            path,
            logs: Arc::new(Mutex::new(Vec::new())),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates (if needed) and returns the sub-directory `name`.
    pub fn subdir(&self, name: &str) -> Result<PathBuf, Error> {
        let dir = self.path.join(name);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("creating a directory", &dir, e))?;
        Ok(dir)
    }

    /// The log file for a process called `name`, registered for printing on failure.
    pub fn log_file(&self, name: &str) -> PathBuf {
        let path = self.path.join("logs").join(format!("{name}.log"));
        let mut logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        if !logs.contains(&path) {
            logs.push(path.clone());
        }
        path
    }

    /// Every registered log, each under a header line.
    pub fn all_logs(&self) -> String {
        let logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        for path in logs.iter() {
            let text = std::fs::read_to_string(path).unwrap_or_else(|e| format!("({e})\n"));
            out.push_str(&format!("===== {} =====\n{text}\n", path.display()));
        }
        out
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "\n----- test failed; logs of its processes (kept in {}) -----\n{}",
                self.path.display(),
                self.all_logs()
            );
        } else if std::env::var_os("TOLLGATE_KEEP_TMP").is_none() {
            // Best effort: a leftover temp dir is harmless.
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passing_test_removes_its_work_dir() {
        let path = {
            let dir = WorkDir::new("removed").expect("work dir");
            std::fs::write(dir.log_file("x"), "hello").expect("write log");
            assert!(dir.all_logs().contains("hello"));
            dir.path().to_path_buf()
        };
        if std::env::var_os("TOLLGATE_KEEP_TMP").is_none() {
            assert!(!path.exists());
        }
    }

    #[test]
    fn work_dirs_of_one_run_are_distinct() {
        let a = WorkDir::new("same name").expect("a");
        let b = WorkDir::new("same name").expect("b");
        assert_ne!(a.path(), b.path());
        assert!(a.path().join("logs").is_dir());
    }
}
