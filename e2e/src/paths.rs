//! Where things are: the repository, the binaries under test, the Python interpreter.

use std::path::{Path, PathBuf};

use crate::Error;

/// The repository root (the parent of this crate).
pub fn repo_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map_or_else(|| manifest_dir.to_path_buf(), Path::to_path_buf)
}

/// Directories searched for binaries, in order: `TOLLGATE_BIN_DIR`, then the profile directory
/// of the running test executable (`target/<profile>/deps/<test>` → `target/<profile>`), then
/// `target/debug` and `target/release` under `CARGO_TARGET_DIR` or the repository.
pub fn bin_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os("TOLLGATE_BIN_DIR") {
        dirs.push(PathBuf::from(dir));
    }
    if let Ok(exe) = std::env::current_exe()
        && let Some(deps) = exe.parent()
    {
        if deps.file_name().is_some_and(|n| n == "deps") {
            if let Some(profile) = deps.parent() {
                dirs.push(profile.to_path_buf());
            }
        } else {
            dirs.push(deps.to_path_buf());
        }
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    dirs.push(target.join("debug"));
    dirs.push(target.join("release"));
    dirs.dedup();
    dirs
}

/// The path of binary `name`, from the first directory of [`bin_dirs`] that has it.
pub fn binary(name: &str) -> Result<PathBuf, Error> {
    let searched = bin_dirs();
    searched
        .iter()
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
        .ok_or_else(|| Error::BinaryNotFound {
            name: name.to_owned(),
            searched,
        })
}

/// The Python interpreter with httpbin and gunicorn: `TOLLGATE_PYTHON`, else `<repo>/.venv`.
pub fn python() -> Result<PathBuf, Error> {
    let path = std::env::var_os("TOLLGATE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv").join("bin").join("python"));
    if path.exists() {
        Ok(path)
    } else {
        Err(Error::PythonNotFound(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_root_holds_the_workspace_manifest() {
        assert!(repo_root().join("Cargo.toml").is_file());
        assert!(repo_root().join("e2e").join("Cargo.toml").is_file());
    }

    #[test]
    fn the_test_executables_profile_directory_is_searched_for_binaries() {
        let dirs = bin_dirs();
        let exe = std::env::current_exe().expect("current exe");
        let profile = exe
            .parent()
            .and_then(Path::parent)
            .expect("target/<profile>");
        assert!(dirs.iter().any(|d| d == profile), "{dirs:?}");
    }

    #[test]
    fn a_missing_binary_is_reported_with_the_directories_searched() {
        let err = binary("no-such-tollgate-binary").expect_err("missing");
        let text = err.to_string();
        assert!(text.contains("no-such-tollgate-binary"), "{text}");
        assert!(text.contains("TOLLGATE_BIN_DIR"), "{text}");
    }
}
