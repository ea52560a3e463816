//! A folder of a test's own under the system's temporary folder, removed when dropped: what tests used the
//! `tempfile` crate for, without its Windows-only dependencies (Debian's archive has none of them). Each also
//! names a registry key of its own under HKCU (removed with it on Windows), so a test gives the core a store
//! of its own on every platform with `store_var`.

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

    /// A registry key of this folder's own, under HKCU (the Windows store of a test): never PSFramework's.
    pub fn registry_key(&self) -> String {
        format!(r"Software\d365fo.interactive.tests\{}", self.path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default())
    }

    /// The environment that gives the core a store of this test's own: `XDG_CONFIG_HOME` (Linux, macOS) is the
    /// folder, `D365FO_CONFIG_REGISTRY_KEY` (Windows) its key; `None` for any other name.
    pub fn store_var(&self, name: &str) -> Option<String> {
        match name {
            "XDG_CONFIG_HOME" => Some(self.path.display().to_string()),
            "D365FO_CONFIG_REGISTRY_KEY" => Some(self.registry_key()),
            _ => None,
        }
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
        #[cfg(windows)]
        registry::delete_tree(&self.registry_key());
    }
}

#[cfg(windows)]
mod registry {
    /// The SDK's `(HKEY)(ULONG_PTR)((LONG)0x80000001)`: the 32-bit value sign-extended to the pointer's width.
    const HKEY_CURRENT_USER: isize = 0x8000_0001_u32 as i32 as isize;

    #[link(name = "advapi32")]
    unsafe extern "system" {
        fn RegDeleteTreeW(key: *mut std::ffi::c_void, sub_key: *const u16) -> i32;
    }

    /// Removes HKCU\`key` with everything below it; nothing when it does not exist.
    pub fn delete_tree(key: &str) {
        let wide: Vec<u16> = key.encode_utf16().chain(Some(0)).collect();
        // SAFETY: a NUL-terminated path under the predefined HKCU handle.
        unsafe { RegDeleteTreeW(HKEY_CURRENT_USER as *mut std::ffi::c_void, wide.as_ptr()) };
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
        assert!(b.registry_key().starts_with(r"Software\d365fo.interactive.tests\d365fo-test-"));
        assert_ne!(b.registry_key(), tempdir().registry_key());
        assert_eq!(b.store_var("XDG_CONFIG_HOME").as_deref(), Some(b.path().display().to_string().as_str()));
        assert_eq!(b.store_var("D365FO_CONFIG_REGISTRY_KEY"), Some(b.registry_key()));
        assert_eq!(b.store_var("HOME"), None);
        let kept = b.keep();
        assert!(kept.is_dir());
        std::fs::remove_dir_all(&kept).unwrap();
    }
}
