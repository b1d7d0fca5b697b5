//! A temporary directory for standalone-mode tests, removed when dropped.

use std::path::PathBuf;

pub struct TempDir(pub PathBuf);

impl TempDir {
    /// An empty directory `tollgate-{kind}-{name}-{pid}` under the system's temp dir (left over
    /// from an earlier run: emptied first).
    pub fn new(kind: &str, name: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("tollgate-{kind}-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("temp dir");
        Self(path)
    }

    /// Writes `content` to `file`, a path relative to the directory.
    pub fn write(&self, file: &str, content: &str) {
        std::fs::write(self.0.join(file), content).expect("write");
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
