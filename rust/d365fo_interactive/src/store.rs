//! The persisted configuration store: one JSON file per user, read and rewritten whole under a file lock.
//!
//! Location: `$D365FO_CONFIG_DIR` when set, else the platform's per-user configuration folder plus
//! `d365fo.interactive` (Linux `$XDG_CONFIG_HOME` or `~/.config`, macOS `~/Library/Application Support`,
//! Windows `%APPDATA%`). The folder holds `config.json` and `config.lock`.
//!
//! Every access takes an exclusive lock on `config.lock` (fd-lock) and every change is a read-modify-write
//! under that lock, written to a temporary file in the same folder, flushed to disk and renamed over
//! `config.json`; so two processes changing the store at once lose nothing and a crash leaves the old or
//! the new file, never half of one. On Unix the folder is 0700 and the file 0600. On Windows client secrets
//! are protected with DPAPI for the current user (see `dpapi`).
//!
//! A file that cannot be parsed is never silently replaced: the first access that finds it renames it aside to
//! `config.json.corrupt-<UTC timestamp>` and reports STORE_ERROR naming both files; from then on the store is
//! empty until the next change writes a new file. A file with a newer schema version is left untouched and
//! every access reports STORE_ERROR (an older module must not rewrite what it does not understand).

use crate::dpapi;
use crate::error::{Code, CoreError, CoreResult};
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The schema this build reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

const FILE_NAME: &str = "config.json";
const LOCK_NAME: &str = "config.lock";
const FOLDER_NAME: &str = "d365fo.interactive";

/// One OData configuration, with its secret still in its stored (possibly protected) form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredConfig {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systemurl: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clientid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clientsecret: Option<StoredSecret>,
}

/// A client secret as kept in the file: `{"protection":"none","value":".."}` or, on Windows,
/// `{"protection":"dpapi-user","value":"<hex of the DPAPI blob>"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredSecret {
    pub protection: String,
    pub value: String,
}

impl StoredSecret {
    /// Protects `plain` as well as this platform allows (DPAPI on Windows, the 0600 file elsewhere).
    pub fn protect(plain: &str) -> CoreResult<StoredSecret> {
        match dpapi::protect(plain.as_bytes()) {
            Some(Ok(blob)) => Ok(StoredSecret { protection: "dpapi-user".into(), value: to_hex(&blob) }),
            Some(Err(e)) => Err(CoreError::new(Code::StoreError, format!("the client secret could not be protected with DPAPI: {e}"))),
            None => Ok(StoredSecret { protection: "none".into(), value: plain.to_string() }),
        }
    }

    /// The secret in clear, or an error when it was protected for another user or machine.
    pub fn reveal(&self) -> CoreResult<String> {
        match self.protection.as_str() {
            "none" => Ok(self.value.clone()),
            "dpapi-user" => {
                let blob = from_hex(&self.value)
                    .ok_or_else(|| CoreError::new(Code::StoreError, "a stored client secret is damaged (bad hex)"))?;
                match dpapi::unprotect(&blob) {
                    Some(Ok(bytes)) => String::from_utf8(bytes)
                        .map_err(|_| CoreError::new(Code::StoreError, "a stored client secret is not UTF-8 after DPAPI decryption")),
                    Some(Err(e)) => Err(CoreError::new(
                        Code::StoreError,
                        format!("a stored client secret could not be decrypted with DPAPI (it was saved by another user or on another machine?): {e}"),
                    )),
                    None => Err(CoreError::new(Code::StoreError, "a stored client secret is protected with Windows DPAPI and cannot be read on this platform")),
                }
            }
            other => Err(CoreError::new(Code::StoreError, format!("a stored client secret uses an unknown protection '{other}'"))),
        }
    }
}

/// Module settings kept in the file (environment variables override them at sign-in).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SettingsData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_browser: Option<bool>,
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoreData {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<String>,
    #[serde(default)]
    pub configurations: Vec<StoredConfig>,
    #[serde(default)]
    pub settings: SettingsData,
}

impl Default for StoreData {
    fn default() -> Self {
        StoreData { schema_version: SCHEMA_VERSION, active: None, configurations: Vec::new(), settings: SettingsData::default() }
    }
}

impl StoreData {
    /// The configuration with this name (names compare case-insensitively, as in d365fo.integrations).
    pub fn find(&self, name: &str) -> Option<&StoredConfig> {
        self.configurations.iter().find(|c| same_name(&c.name, name))
    }

    /// Adds or replaces (by name) a configuration, keeping the list sorted by name.
    pub fn upsert(&mut self, config: StoredConfig) {
        self.configurations.retain(|c| !same_name(&c.name, &config.name));
        self.configurations.push(config);
        self.configurations.sort_by_key(|c| c.name.to_lowercase());
    }
}

/// Configuration names compare without regard to case.
pub fn same_name(a: &str, b: &str) -> bool {
    a.to_lowercase() == b.to_lowercase()
}

/// The store in one folder.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// The store of the current user (or of `$D365FO_CONFIG_DIR`).
    pub fn locate() -> CoreResult<Store> {
        Ok(Store { dir: default_dir()? })
    }

    /// A store in an explicit folder (tests).
    pub fn at(dir: impl Into<PathBuf>) -> Store {
        Store { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn file_path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    pub fn lock_path(&self) -> PathBuf {
        self.dir.join(LOCK_NAME)
    }

    /// Reads the store under the lock. A missing folder or file is an empty store (nothing is created).
    pub fn read(&self) -> CoreResult<StoreData> {
        if !self.file_path().exists() {
            return Ok(StoreData::default());
        }
        self.with_lock(|| self.load())
    }

    /// Reads, lets `change` modify, and writes back atomically, all under one exclusive lock.
    /// When `change` fails nothing is written.
    pub fn update<R>(&self, change: impl FnOnce(&mut StoreData) -> CoreResult<R>) -> CoreResult<R> {
        self.ensure_dir()?;
        self.with_lock(|| {
            let mut data = self.load()?;
            let result = change(&mut data)?;
            data.schema_version = SCHEMA_VERSION;
            self.write_atomically(&data)?;
            Ok(result)
        })
    }

    fn with_lock<R>(&self, body: impl FnOnce() -> CoreResult<R>) -> CoreResult<R> {
        let lock_path = self.lock_path();
        let file = open_private(&lock_path, false).map_err(|e| self.io_error("open the lock file", &lock_path, e))?;
        let mut lock = fd_lock::RwLock::new(file);
        let _guard = lock.write().map_err(|e| self.io_error("lock", &lock_path, e))?;
        body()
    }

    /// Loads the file; the caller holds the lock.
    fn load(&self) -> CoreResult<StoreData> {
        let path = self.file_path();
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(StoreData::default()),
            Err(e) => return Err(self.io_error("read", &path, e)),
        };
        let value: serde_json::Value = match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(e) => return Err(self.set_aside(&format!("it is not valid JSON ({e})"))),
        };
        let version = value.get("schema_version").and_then(serde_json::Value::as_u64);
        match version {
            Some(v) if v > SCHEMA_VERSION as u64 => {
                return Err(CoreError::new(
                    Code::StoreError,
                    format!(
                        "The configuration store '{}' has schema version {v}, written by a newer version of d365fo.interactive; this version understands version {SCHEMA_VERSION} and leaves the file unchanged. Update the module.",
                        path.display()
                    ),
                ));
            }
            Some(_) => {}
            None => return Err(self.set_aside("it has no schema_version")),
        }
        serde_json::from_value::<StoreData>(value).map_err(|e| self.set_aside(&format!("its content does not have the expected shape ({e})")))
    }

    /// Renames a corrupt file aside and returns the error that says so; the caller holds the lock.
    fn set_aside(&self, why: &str) -> CoreError {
        let path = self.file_path();
        let stamp = utc_stamp(std::time::SystemTime::now());
        let mut backup = self.dir.join(format!("{FILE_NAME}.corrupt-{stamp}"));
        let mut n = 1;
        while backup.exists() {
            n += 1;
            backup = self.dir.join(format!("{FILE_NAME}.corrupt-{stamp}-{n}"));
        }
        match fs::rename(&path, &backup) {
            Ok(()) => CoreError::new(
                Code::StoreError,
                format!(
                    "The configuration store '{}' could not be read: {why}. It has been kept aside as '{}' (nothing in it was changed or deleted). Until the next change the store is empty; the next change starts a new file.",
                    path.display(),
                    backup.display()
                ),
            ),
            Err(e) => CoreError::new(
                Code::StoreError,
                format!(
                    "The configuration store '{}' could not be read: {why}. It could not be moved aside ({e}); repair or remove it yourself.",
                    path.display()
                ),
            ),
        }
    }

    fn ensure_dir(&self) -> CoreResult<()> {
        if !self.dir.exists() {
            create_private_dir(&self.dir).map_err(|e| self.io_error("create the folder", &self.dir, e))?;
        }
        restrict_dir(&self.dir).map_err(|e| self.io_error("restrict the permissions of", &self.dir, e))
    }

    /// Temporary file in the same folder, flushed to disk, renamed over the store; the caller holds the lock.
    fn write_atomically(&self, data: &StoreData) -> CoreResult<()> {
        let path = self.file_path();
        let tmp = self.dir.join(format!(".{FILE_NAME}.{}.tmp", std::process::id()));
        let text = serde_json::to_string_pretty(data).map_err(|e| CoreError::new(Code::StoreError, format!("the store could not be serialized: {e}")))?;
        let written = (|| -> std::io::Result<()> {
            let mut f = open_private(&tmp, true)?;
            f.write_all(text.as_bytes())?;
            f.write_all(b"\n")?;
            f.sync_all()?;
            drop(f);
            fs::rename(&tmp, &path)?;
            sync_dir(&self.dir);
            Ok(())
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(self.io_error("write", &path, e));
        }
        Ok(())
    }

    fn io_error(&self, what: &str, path: &Path, e: std::io::Error) -> CoreError {
        CoreError::new(Code::StoreError, format!("The configuration store could not {what} '{}': {e}", path.display()))
    }
}

/// The folder of the current user's store.
pub fn default_dir() -> CoreResult<PathBuf> {
    if let Some(d) = non_empty_env("D365FO_CONFIG_DIR") {
        return Ok(PathBuf::from(d));
    }
    platform_config_base()
        .map(|b| b.join(FOLDER_NAME))
        .ok_or_else(|| CoreError::new(Code::StoreError, "The configuration store has no folder: neither the platform configuration folder nor HOME is known (set D365FO_CONFIG_DIR)."))
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

#[cfg(windows)]
fn platform_config_base() -> Option<PathBuf> {
    non_empty_env("APPDATA").map(PathBuf::from)
}

#[cfg(target_os = "macos")]
fn platform_config_base() -> Option<PathBuf> {
    non_empty_env("HOME").map(|h| PathBuf::from(h).join("Library").join("Application Support"))
}

#[cfg(all(unix, not(target_os = "macos")))]
fn platform_config_base() -> Option<PathBuf> {
    // XDG: only an absolute $XDG_CONFIG_HOME counts.
    match non_empty_env("XDG_CONFIG_HOME") {
        Some(x) if Path::new(&x).is_absolute() => Some(PathBuf::from(x)),
        _ => non_empty_env("HOME").map(|h| PathBuf::from(h).join(".config")),
    }
}

/// Opens (creating when missing) a file only the owner may read; `truncate` for the temporary file.
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

#[cfg(unix)]
fn restrict_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(dir)?.permissions().mode() & 0o777;
    if mode != 0o700 { fs::set_permissions(dir, fs::Permissions::from_mode(0o700)) } else { Ok(()) }
}

#[cfg(not(unix))]
fn restrict_dir(_dir: &Path) -> std::io::Result<()> {
    // %APPDATA% is already private to the user on Windows.
    Ok(())
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

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_utc_calendar_dates() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(951_782_400 + 3_723); // 2000-02-29 01:02:03
        assert_eq!(utc_stamp(t), "20000229T010203Z");
        assert_eq!(utc_stamp(std::time::UNIX_EPOCH), "19700101T000000Z");
    }

    #[test]
    fn hex_round_trips_and_refuses_garbage() {
        assert_eq!(from_hex(&to_hex(&[0, 1, 254, 255])).unwrap(), vec![0, 1, 254, 255]);
        assert!(from_hex("abc").is_none());
        assert!(from_hex("zz").is_none());
    }
}
