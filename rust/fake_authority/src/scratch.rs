//! A folder of a test's own under the system's temporary folder, removed when dropped: what tests used the
//! `tempfile` crate for, without its Windows-only dependencies (Debian's archive has none of them).

use std::path::{Path, PathBuf};

/// A new empty folder, `<temp>/d365fo-test-<pid>-<random>`; removed with its content on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new() -> std::io::Result<TempDir> {
        let base = std::env::temp_dir();
        loop {
            let path = base.join(format!("d365fo-test-{}-{:016x}", std::process::id(), crate::util::random_u64()));
            // create_dir (not create_dir_all) fails on a name that exists, so two tests never share one.
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(TempDir { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keeps the folder after the value is gone (for a server that reads files from it later); the caller
    /// removes it.
    pub fn keep(self) -> PathBuf {
        let path = self.path.clone();
        std::mem::forget(self);
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// `TempDir::new()`, panicking with the reason (for tests).
pub fn tempdir() -> TempDir {
    TempDir::new().unwrap_or_else(|e| panic!("could not create a temporary folder under {}: {e}", std::env::temp_dir().display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_folder_is_new_and_gone_after_drop_unless_kept() {
        let a = tempdir();
        let b = tempdir();
        assert_ne!(a.path(), b.path());
        assert!(a.path().is_dir() && std::fs::read_dir(a.path()).unwrap().next().is_none());
        std::fs::create_dir_all(a.path().join("x/y")).unwrap();
        std::fs::write(a.path().join("x/y/z"), b"1").unwrap();
        let gone = a.path().to_path_buf();
        drop(a);
        assert!(!gone.exists());
        let kept = b.keep();
        assert!(kept.is_dir());
        std::fs::remove_dir_all(&kept).unwrap();
    }
}
