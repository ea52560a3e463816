//! Where the configuration store is and how it is read and changed. The store is PSFramework's persisted
//! user configuration (see `psf`), so d365fo.integrations and this module share one set of OData
//! configurations, in both directions, across sessions:
//! - Linux and macOS: `$XDG_CONFIG_HOME/PowerShell/PSFramework/psf_config.json` (else `~/.config/...`), the
//!   file PSFramework writes for `Register-PSFConfig -Scope UserDefault` on PowerShell 7 there.
//! - Windows: the registry key `HKCU\SOFTWARE\Microsoft\WindowsPowerShell\PSFramework\Config\Default`, where
//!   PSFramework writes UserDefault on Windows PowerShell 5.1 and PowerShell 7 alike.
//! - `D365FO_CONFIG_FILE` points the store at a file of that format instead (any platform);
//!   `D365FO_CONFIG_REGISTRY_KEY` at another key under HKCU (Windows; tests give each run a key of its own).
//!
//! A change is a read-modify-write under this module's lock file (`.d365fo.interactive.lock` beside the
//! file), written to a temporary file in the same folder and renamed over the store, so concurrent sessions
//! of this module lose nothing and a crash leaves the old or the new file. PSFramework itself writes the
//! file in place without a lock; reading again right before writing keeps that window small, and a file
//! caught half-written is read again after a moment instead of being taken as empty. A file that stays
//! unreadable is reported and never overwritten (other modules' settings live there too).

use crate::error::{Code, CoreError, CoreResult};
use crate::psf::{Entries, NewValue, PsfFile};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

const FILE_NAME: &str = "psf_config.json";
const LOCK_NAME: &str = ".d365fo.interactive.lock";
/// Temporary files of this module's writes: `.psf_config.json.<pid>.d365fo-tmp`.
const TMP_PREFIX: &str = ".psf_config.json.";
const TMP_SUFFIX: &str = ".d365fo-tmp";
/// PSFramework's user-default registry key (Windows).
pub const REGISTRY_KEY: &str = r"SOFTWARE\Microsoft\WindowsPowerShell\PSFramework\Config\Default";

/// One change: set a value, or remove it (`None`).
pub type Change = (String, Option<NewValue>);

/// The store of the current user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Store {
    File(PathBuf),
    /// A registry key under HKCU (Windows only): PSFramework's user-default key unless
    /// `D365FO_CONFIG_REGISTRY_KEY` names another.
    Registry(String),
}

impl Store {
    /// The current user's store, from the environment the caller read.
    pub fn locate(env: &dyn Fn(&str) -> Option<String>) -> CoreResult<Store> {
        let var = |n: &str| env(n).filter(|v| !v.trim().is_empty());
        if let Some(f) = var("D365FO_CONFIG_FILE") {
            return Ok(Store::File(PathBuf::from(f)));
        }
        if cfg!(windows) {
            let key = var("D365FO_CONFIG_REGISTRY_KEY").map(|k| k.trim().trim_start_matches(r"HKCU\").trim_matches('\\').to_string());
            return Ok(Store::Registry(key.unwrap_or_else(|| REGISTRY_KEY.to_string())));
        }
        // PSFramework's FileUserLocal: $Env:XDG_CONFIG_HOME, else $HOME/.config, then PowerShell/PSFramework.
        let base = var("XDG_CONFIG_HOME").map(PathBuf::from).or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".config")));
        base.map(|b| Store::File(b.join("PowerShell").join("PSFramework").join(FILE_NAME))).ok_or_else(|| {
            CoreError::new(Code::StoreError, "The configuration store has no folder: neither XDG_CONFIG_HOME nor HOME is set.")
        })
    }

    /// Where it is, for people.
    pub fn describe(&self) -> String {
        match self {
            Store::File(p) => p.display().to_string(),
            Store::Registry(key) => format!(r"HKCU\{key}"),
        }
    }

    /// Every value in the store. A missing file or key is an empty store.
    pub fn read(&self) -> CoreResult<Entries> {
        match self {
            Store::File(path) => Ok(read_file(path)?.entries()),
            Store::Registry(key) => registry::read(key),
        }
    }

    /// Reads, lets `change` decide what to set and remove, and writes that back, all under one lock. When
    /// `change` fails, or changes nothing, nothing is written.
    pub fn update<R>(&self, change: impl FnOnce(&Entries) -> CoreResult<(Vec<Change>, R)>) -> CoreResult<R> {
        match self {
            Store::File(path) => update_file(path, change),
            Store::Registry(key) => {
                let entries = registry::read(key)?;
                let (changes, result) = change(&entries)?;
                registry::write(key, &changes)?;
                Ok(result)
            }
        }
    }
}

fn store_error(what: &str, path: &Path, e: impl std::fmt::Display) -> CoreError {
    CoreError::new(Code::StoreError, format!("The configuration store could not {what} '{}': {e}", path.display()))
}

/// Reads the file; a file caught half-written by another writer is read again a few times first.
fn read_file(path: &Path) -> CoreResult<PsfFile> {
    let mut last = String::new();
    for attempt in 0..4 {
        if attempt > 0 {
            std::thread::sleep(Duration::from_millis(60));
        }
        let bytes = match fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(PsfFile::default()),
            Err(e) => return Err(store_error("read", path, e)),
        };
        match PsfFile::parse(&bytes) {
            Ok(f) => return Ok(f),
            Err(why) => last = why,
        }
    }
    Err(CoreError::new(
        Code::StoreError,
        format!(
            "The configuration store '{}' (PSFramework's configuration file) could not be read: {last}. It was left unchanged; repair it, or move it aside to start a new one.",
            path.display()
        ),
    ))
}

fn update_file<R>(path: &Path, change: impl FnOnce(&Entries) -> CoreResult<(Vec<Change>, R)>) -> CoreResult<R> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
    if !dir.exists() {
        create_private_dir(&dir).map_err(|e| store_error("create the folder", &dir, e))?;
    }
    let lock_path = dir.join(LOCK_NAME);
    let lock_file = open_private(&lock_path, false).map_err(|e| store_error("open the lock file", &lock_path, e))?;
    // An exclusive lock (flock on Unix, LockFileEx on Windows), released when lock_file is closed at the end.
    lock_file.lock().map_err(|e| store_error("lock", &lock_path, e))?;
    remove_stale_temporaries(&dir);
    let mut file = read_file(path)?;
    let (changes, result) = change(&file.entries())?;
    if changes.is_empty() {
        return Ok(result);
    }
    for (name, value) in &changes {
        match value {
            Some(v) => file.set(name, v),
            None => file.remove(name),
        }
    }
    write_atomically(path, &dir, &file.to_bytes())?;
    Ok(result)
}

/// Temporary files left by a write that was killed halfway: nobody else writes files of that name, and the
/// lock is held, so any that exist now are stale.
fn remove_stale_temporaries(dir: &Path) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for entry in rd.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with(TMP_PREFIX) && name.ends_with(TMP_SUFFIX) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Temporary file in the same folder, flushed to disk, renamed over the store; the caller holds the lock.
fn write_atomically(path: &Path, dir: &Path, bytes: &[u8]) -> CoreResult<()> {
    let tmp = dir.join(format!("{TMP_PREFIX}{}{TMP_SUFFIX}", std::process::id()));
    let written = (|| -> std::io::Result<()> {
        let mut f = open_private(&tmp, true)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        sync_dir(dir);
        Ok(())
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(store_error("write", path, e));
    }
    Ok(())
}

/// Opens (creating when missing) a file only the owner may read; `truncate` for the temporary file.
/// Client secrets are stored in clear, as d365fo.integrations stores them; owner-only is the least we do.
fn open_private(path: &Path, truncate: bool) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.read(true).write(true).create(true).truncate(truncate);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
}

/// Makes the rename durable (Unix); best effort.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// `YYYYMMDDTHHMMSSZ` in UTC.
pub fn utc_stamp(t: std::time::SystemTime) -> String {
    let secs = t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Gregorian date of a day count since 1970-01-01 (proleptic calendar, 400-year eras).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y, m, d)
}

#[cfg(not(windows))]
mod registry {
    use super::Change;
    use crate::error::{Code, CoreError, CoreResult};
    use crate::psf::Entries;

    pub fn read(_key: &str) -> CoreResult<Entries> {
        Err(CoreError::new(Code::StoreError, "the registry store exists only on Windows"))
    }

    pub fn write(_key: &str, _changes: &[Change]) -> CoreResult<()> {
        Err(CoreError::new(Code::StoreError, "the registry store exists only on Windows"))
    }
}

#[cfg(windows)]
mod registry {
    //! PSFramework's user-default registry values, read and written with advapi32. Hand-declared Win32
    //! signatures from the documented API; compiled and run only on Windows: UNVERIFIED on this project's
    //! machines (Linux).
    use super::Change;
    use crate::error::{Code, CoreError, CoreResult};
    use crate::psf::{Entries, parse_registry_data};
    use std::ffi::c_void;

    type Hkey = *mut c_void;
    const HKEY_CURRENT_USER: usize = 0x8000_0001;
    const KEY_READ: u32 = 0x20019;
    const KEY_WRITE: u32 = 0x20006;
    const REG_SZ: u32 = 1;
    const ERROR_SUCCESS: i32 = 0;
    const ERROR_FILE_NOT_FOUND: i32 = 2;
    const ERROR_MORE_DATA: i32 = 234;
    const ERROR_NO_MORE_ITEMS: i32 = 259;

    #[link(name = "advapi32")]
    unsafe extern "system" {
        fn RegOpenKeyExW(key: Hkey, sub_key: *const u16, options: u32, desired: u32, result: *mut Hkey) -> i32;
        fn RegCreateKeyExW(
            key: Hkey,
            sub_key: *const u16,
            reserved: u32,
            class: *const u16,
            options: u32,
            desired: u32,
            security: *const c_void,
            result: *mut Hkey,
            disposition: *mut u32,
        ) -> i32;
        fn RegEnumValueW(
            key: Hkey,
            index: u32,
            name: *mut u16,
            name_len: *mut u32,
            reserved: *mut u32,
            ty: *mut u32,
            data: *mut u8,
            data_len: *mut u32,
        ) -> i32;
        fn RegSetValueExW(key: Hkey, name: *const u16, reserved: u32, ty: u32, data: *const u8, data_len: u32) -> i32;
        fn RegDeleteValueW(key: Hkey, name: *const u16) -> i32;
        fn RegCloseKey(key: Hkey) -> i32;
        #[cfg(test)]
        fn RegDeleteTreeW(key: Hkey, sub_key: *const u16) -> i32;
    }

    /// Removes a key with its values and subkeys (tests clean up their own keys).
    #[cfg(test)]
    pub fn delete_tree(key_path: &str) {
        let path = wide(key_path);
        // SAFETY: path is NUL-terminated.
        unsafe { RegDeleteTreeW(HKEY_CURRENT_USER as Hkey, path.as_ptr()) };
    }

    fn wide(s: &str) -> Vec<u16> {
        s.encode_utf16().chain(Some(0)).collect()
    }

    fn failed(key: &str, what: &str, rc: i32) -> CoreError {
        CoreError::new(Code::StoreError, format!(r"The configuration store HKCU\{key} could not {what} (Windows error {rc})."))
    }

    pub fn read(key_path: &str) -> CoreResult<Entries> {
        let path = wide(key_path);
        let mut key: Hkey = std::ptr::null_mut();
        // SAFETY: path is NUL-terminated; key receives a handle closed below.
        let rc = unsafe { RegOpenKeyExW(HKEY_CURRENT_USER as Hkey, path.as_ptr(), 0, KEY_READ, &mut key) };
        if rc == ERROR_FILE_NOT_FOUND {
            return Ok(Vec::new());
        }
        if rc != ERROR_SUCCESS {
            return Err(failed(key_path, "be opened", rc));
        }
        let mut out = Vec::new();
        let mut index = 0u32;
        let mut data: Vec<u8> = vec![0; 4096];
        loop {
            let mut name = vec![0u16; 16_384];
            let mut name_len = name.len() as u32;
            let mut ty = 0u32;
            let mut data_len = data.len() as u32;
            // SAFETY: buffers and their lengths are valid for the call.
            let rc = unsafe {
                RegEnumValueW(key, index, name.as_mut_ptr(), &mut name_len, std::ptr::null_mut(), &mut ty, data.as_mut_ptr(), &mut data_len)
            };
            if rc == ERROR_MORE_DATA {
                data.resize(data_len as usize + 2, 0);
                continue;
            }
            if rc != ERROR_SUCCESS {
                let _ = rc == ERROR_NO_MORE_ITEMS;
                break;
            }
            index += 1;
            if ty != REG_SZ {
                continue;
            }
            let full = String::from_utf16_lossy(&name[..name_len as usize]);
            let units: Vec<u16> =
                data[..data_len as usize].chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).take_while(|u| *u != 0).collect();
            out.push((full, parse_registry_data(&String::from_utf16_lossy(&units))));
        }
        // SAFETY: key was opened above.
        unsafe { RegCloseKey(key) };
        Ok(out)
    }

    pub fn write(key_path: &str, changes: &[Change]) -> CoreResult<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let path = wide(key_path);
        let mut key: Hkey = std::ptr::null_mut();
        let mut disposition = 0u32;
        // SAFETY: path is NUL-terminated; key receives a handle closed below.
        let rc = unsafe {
            RegCreateKeyExW(
                HKEY_CURRENT_USER as Hkey,
                path.as_ptr(),
                0,
                std::ptr::null(),
                0,
                KEY_WRITE,
                std::ptr::null(),
                &mut key,
                &mut disposition,
            )
        };
        if rc != ERROR_SUCCESS {
            return Err(failed(key_path, "be created", rc));
        }
        let mut result = Ok(());
        for (name, value) in changes {
            let wname = wide(name);
            let rc = match value {
                Some(v) => {
                    let data = wide(&v.registry_data());
                    // SAFETY: data is a NUL-terminated UTF-16 buffer of the given byte length.
                    unsafe { RegSetValueExW(key, wname.as_ptr(), 0, REG_SZ, data.as_ptr() as *const u8, (data.len() * 2) as u32) }
                }
                // SAFETY: wname is NUL-terminated.
                None => match unsafe { RegDeleteValueW(key, wname.as_ptr()) } {
                    ERROR_FILE_NOT_FOUND => ERROR_SUCCESS,
                    other => other,
                },
            };
            if rc != ERROR_SUCCESS {
                result = Err(failed(key_path, "be written", rc));
                break;
            }
        }
        // SAFETY: key was opened above.
        unsafe { RegCloseKey(key) };
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::psf::Stored;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn stamps_are_utc_calendar_dates() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(951_782_400 + 3_723); // 2000-02-29 01:02:03
        assert_eq!(utc_stamp(t), "20000229T010203Z");
        assert_eq!(utc_stamp(std::time::UNIX_EPOCH), "19700101T000000Z");
    }

    #[cfg(not(windows))]
    #[test]
    fn the_store_is_where_psframework_keeps_user_settings() {
        assert_eq!(
            Store::locate(&env_of(&[("XDG_CONFIG_HOME", "/x"), ("HOME", "/h")])).unwrap(),
            Store::File("/x/PowerShell/PSFramework/psf_config.json".into())
        );
        assert_eq!(
            Store::locate(&env_of(&[("HOME", "/h")])).unwrap(),
            Store::File("/h/.config/PowerShell/PSFramework/psf_config.json".into())
        );
        assert_eq!(Store::locate(&env_of(&[("D365FO_CONFIG_FILE", "/f.json"), ("HOME", "/h")])).unwrap(), Store::File("/f.json".into()));
        assert!(Store::locate(&env_of(&[])).is_err());
    }

    #[cfg(windows)]
    #[test]
    fn on_windows_the_store_is_psframeworks_key_unless_a_file_or_another_key_is_named() {
        assert_eq!(Store::locate(&env_of(&[("APPDATA", r"C:\a"), ("HOME", r"C:\h")])).unwrap(), Store::Registry(REGISTRY_KEY.into()));
        assert_eq!(
            Store::locate(&env_of(&[("D365FO_CONFIG_REGISTRY_KEY", r"HKCU\Software\t\k\")])).unwrap(),
            Store::Registry(r"Software\t\k".into())
        );
        assert_eq!(
            Store::locate(&env_of(&[("D365FO_CONFIG_FILE", r"C:\f.json"), ("D365FO_CONFIG_REGISTRY_KEY", "x")])).unwrap(),
            Store::File(r"C:\f.json".into())
        );
        assert_eq!(Store::Registry(r"Software\t".into()).describe(), r"HKCU\Software\t");
    }

    #[cfg(windows)]
    #[test]
    fn a_registry_store_of_its_own_is_read_and_written_and_the_real_key_is_left_alone() {
        let real = Store::Registry(REGISTRY_KEY.into());
        let before = real.read().unwrap();
        let key = format!(r"Software\d365fo.interactive.tests\store-{}-{:x}", std::process::id(), fake_authority::util::random_u64());
        let store = Store::Registry(key.clone());
        assert!(store.read().unwrap().is_empty(), "a key that does not exist is an empty store");
        let url = "d365fo.integrations.odata.wintest.url";
        store
            .update(|_| {
                Ok((
                    vec![(url.to_string(), Some(NewValue::Text("https://x.example".into()))), ("a.n".to_string(), Some(NewValue::Int(5)))],
                    (),
                ))
            })
            .unwrap();
        let entries = store.read().unwrap();
        assert_eq!(crate::psf::lookup(&entries, url), Some(&Stored::Text("https://x.example".into())));
        assert_eq!(crate::psf::lookup(&entries, "a.n"), Some(&Stored::Text("5".into())));
        store.update(|_| Ok((vec![("a.n".to_string(), None)], ()))).unwrap();
        assert_eq!(store.read().unwrap().len(), 1);
        registry::delete_tree(&key);
        assert!(store.read().unwrap().is_empty());
        assert_eq!(real.read().unwrap(), before, "the real PSFramework key changed");
    }

    #[test]
    fn updates_write_atomically_and_clean_up_after_a_crashed_writer() {
        let dir = fake_authority::scratch::tempdir();
        let path = dir.path().join("PowerShell/PSFramework/psf_config.json");
        let store = Store::File(path.clone());
        assert!(store.read().unwrap().is_empty());
        let stale = path.parent().map(|p| p.join(".psf_config.json.999999.d365fo-tmp"));
        store.update(|_| Ok((vec![("a.b".to_string(), Some(NewValue::Text("1".into())))], ()))).unwrap();
        std::fs::write(stale.as_ref().unwrap(), b"half").unwrap();
        store
            .update(|e| {
                assert_eq!(crate::psf::lookup(e, "A.B"), Some(&Stored::Text("1".into())));
                Ok((vec![("a.b".to_string(), None), ("c.d".to_string(), Some(NewValue::Bool(true)))], ()))
            })
            .unwrap();
        assert!(!stale.unwrap().exists(), "a stale temporary file was left");
        let entries = store.read().unwrap();
        assert_eq!(entries, vec![("c.d".to_string(), Stored::Text("true".into()))]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
            assert_eq!(std::fs::metadata(path.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
        }
    }

    #[test]
    fn a_failed_change_writes_nothing_and_an_unreadable_file_is_never_overwritten() {
        let dir = fake_authority::scratch::tempdir();
        let path = dir.path().join("psf_config.json");
        let store = Store::File(path.clone());
        let e = store.update::<()>(|_| Err(CoreError::invalid("no"))).unwrap_err();
        assert_eq!(e.code, Code::InvalidRequest);
        assert!(!path.exists());
        std::fs::write(&path, b"[{\"FullName\": ").unwrap();
        let e = store.update(|_| Ok((vec![("a".to_string(), Some(NewValue::Text("x".into())))], ()))).unwrap_err();
        assert!(e.code == Code::StoreError && e.message.contains("left unchanged"), "{}", e.message);
        assert_eq!(std::fs::read(&path).unwrap(), b"[{\"FullName\": ");
    }

    #[test]
    fn concurrent_writers_lose_nothing() {
        let dir = fake_authority::scratch::tempdir();
        let path = dir.path().join("psf_config.json");
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let store = Store::File(path.clone());
                std::thread::spawn(move || {
                    for i in 0..10 {
                        store.update(|_| Ok((vec![(format!("k.{t}.{i}"), Some(NewValue::Text(i.to_string())))], ()))).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(Store::File(path).read().unwrap().len(), 80);
    }
}
