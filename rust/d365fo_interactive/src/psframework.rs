//! Read-only access to the OData configurations that d365fo.integrations persisted through PSFramework,
//! so they can be imported. Nothing here ever writes to PSFramework's files or registry.
//!
//! Facts taken from PSFramework's public source (PowershellFrameworkCollective/psframework):
//! - `Register-PSFConfig -Scope UserDefault` (what d365fo.integrations calls) writes to the registry key
//!   `HKCU\SOFTWARE\Microsoft\WindowsPowerShell\PSFramework\Config\Default` on Windows: one value per setting,
//!   named by the setting's full name, its data type-qualified, e.g. `String:https://uat.example.com`.
//! - On Linux and macOS (no registry) UserDefault becomes FileUserLocal: the file `psf_config.json` in
//!   `$XDG_CONFIG_HOME/PowerShell/PSFramework/` (else `~/.config/PowerShell/PSFramework/`); files named
//!   `psf_config_*.json` there are read too, before `psf_config.json`. On Windows the same file scope lives in
//!   `%LOCALAPPDATA%\PowerShell\PSFramework\Config\` (`WindowsPowerShell` for Windows PowerShell 5.1).
//! - The file is `ConvertTo-Json` of items `{"Version":1,"FullName":..,"Value":..,"Type":6,"Style":"default"}`
//!   (Type is the ConfigurationValueType enum, String = 6), or `{"Version":1,"FullName":..,"Data":..}` for simple
//!   exports; one item is written as an object rather than an array; Windows PowerShell adds a UTF-8 BOM.
//! - d365fo.integrations names its settings `d365fo.integrations.odata.<lower-case name>.<property>` with the
//!   properties name, tenant, url, systemurl, clientid, clientsecret, and the active one
//!   `d365fo.integrations.active.odata.config.name`.

use crate::store::same_name;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const PREFIX: &str = "d365fo.integrations.odata.";
const ACTIVE: &str = "d365fo.integrations.active.odata.config.name";
const PROPERTIES: [&str; 6] = ["name", "tenant", "url", "systemurl", "clientid", "clientsecret"];

/// A configuration found in PSFramework's persisted settings (secret in clear: it is stored so there).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LegacyConfig {
    pub name: String,
    pub tenant: Option<String>,
    pub url: Option<String>,
    pub systemurl: Option<String>,
    pub clientid: Option<String>,
    pub clientsecret: Option<String>,
}

/// What a scan found, and where it looked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Found {
    pub configs: Vec<LegacyConfig>,
    pub active: Option<String>,
    /// Every file or registry key that held at least one setting.
    pub sources: Vec<String>,
    /// Problems reading a source (unreadable file, bad JSON); the scan goes on without it.
    pub problems: Vec<String>,
}

/// Scans the current user's PSFramework locations, or only `path` (a file, or a folder holding psf_config*.json).
pub fn scan(path: Option<&Path>) -> Found {
    let mut settings: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut found = Found::default();
    match path {
        Some(p) if p.is_dir() => read_folder(p, &mut settings, &mut found),
        Some(p) => read_file(p, &mut settings, &mut found),
        None => {
            #[cfg(windows)]
            registry::read_user_default(&mut settings, &mut found);
            for folder in default_folders() {
                read_folder(&folder, &mut settings, &mut found);
            }
        }
    }
    assemble(settings, found)
}

/// PSFramework's FileUserLocal folders for this user.
pub fn default_folders() -> Vec<PathBuf> {
    #[cfg(windows)]
    {
        let base = std::env::var_os("LOCALAPPDATA").map(PathBuf::from);
        base.map(|b| {
            vec![
                b.join("WindowsPowerShell").join("PSFramework").join("Config"),
                b.join("PowerShell").join("PSFramework").join("Config"),
            ]
        })
        .unwrap_or_default()
    }
    #[cfg(not(windows))]
    {
        let base = std::env::var("XDG_CONFIG_HOME")
            .ok()
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")));
        base.map(|b| vec![b.join("PowerShell").join("PSFramework")]).unwrap_or_default()
    }
}

fn read_folder(folder: &Path, settings: &mut BTreeMap<String, Option<String>>, found: &mut Found) {
    // psf_config_*.json first, psf_config.json last (it wins), as PSFramework reads them.
    let mut extra: Vec<PathBuf> = std::fs::read_dir(folder)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("").to_lowercase();
                    n.starts_with("psf_config_") && n.ends_with(".json")
                })
                .collect()
        })
        .unwrap_or_default();
    extra.sort();
    for f in extra {
        read_file(&f, settings, found);
    }
    let main = folder.join("psf_config.json");
    if main.exists() {
        read_file(&main, settings, found);
    }
}

fn read_file(file: &Path, settings: &mut BTreeMap<String, Option<String>>, found: &mut Found) {
    let text = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) => {
            found.problems.push(format!("{}: {e}", file.display()));
            return;
        }
    };
    match parse_file(&text) {
        Ok(items) => {
            let mut any = false;
            for (k, v) in items {
                if is_ours(&k) {
                    settings.insert(k, v);
                    any = true;
                }
            }
            if any {
                found.sources.push(file.display().to_string());
            }
        }
        Err(e) => found.problems.push(format!("{}: {e}", file.display())),
    }
}

fn is_ours(full_name: &str) -> bool {
    full_name.starts_with(PREFIX) || full_name == ACTIVE
}

/// Parses a PSFramework configuration file into (lower-case full name, string value) pairs.
/// Values that are not strings (numbers, booleans) become their text; serialized objects are skipped.
pub fn parse_file(bytes: &[u8]) -> Result<Vec<(String, Option<String>)>, String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())?;
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let json: Value = serde_json::from_str(text).map_err(|e| format!("not JSON ({e})"))?;
    let items: Vec<Value> = match json {
        Value::Array(a) => a,
        o @ Value::Object(_) => vec![o],
        _ => return Err("neither a JSON object nor an array".into()),
    };
    let mut out = Vec::new();
    for item in items {
        let Some(full_name) = item.get("FullName").and_then(Value::as_str) else { continue };
        let version = item.get("Version").and_then(Value::as_i64);
        let style = item.get("Style").and_then(Value::as_str).unwrap_or("");
        let value = if version == Some(1) && (style.is_empty() || style.eq_ignore_ascii_case("simple")) {
            plain_text(item.get("Data"))
        } else {
            typed_text(item.get("Value"), item.get("Type"))
        };
        if let Some(v) = value {
            out.push((full_name.to_lowercase(), v));
        }
    }
    Ok(out)
}

/// A simple-style value as text; `Some(None)` for null.
fn plain_text(v: Option<&Value>) -> Option<Option<String>> {
    match v {
        None | Some(Value::Null) => Some(None),
        Some(Value::String(s)) => Some(Some(s.clone())),
        Some(Value::Bool(b)) => Some(Some(b.to_string())),
        Some(Value::Number(n)) => Some(Some(n.to_string())),
        Some(_) => None,
    }
}

/// A persisted value of a ConfigurationValueType (number or name) as text.
fn typed_text(value: Option<&Value>, ty: Option<&Value>) -> Option<Option<String>> {
    let ty = match ty {
        Some(Value::Number(n)) => match n.as_i64() {
            Some(1) => "null",
            Some(2) => "bool",
            Some(3) => "int",
            Some(4) => "double",
            Some(5) => "long",
            Some(6) => "string",
            _ => return None,
        }
        .to_string(),
        Some(Value::String(s)) => s.to_lowercase(),
        _ => "string".to_string(),
    };
    let text = value.and_then(Value::as_str).map(str::to_string);
    match ty.as_str() {
        "null" => Some(None),
        "string" | "bool" | "int" | "double" | "long" => Some(text),
        _ => None,
    }
}

/// Parses a registry value's type-qualified data (`String:value`).
pub fn parse_registry_data(data: &str) -> Option<Option<String>> {
    let (ty, value) = data.split_once(':')?;
    match ty.to_lowercase().as_str() {
        "null" => Some(None),
        "string" | "bool" | "int" | "double" | "long" => Some(Some(value.to_string())),
        _ => None,
    }
}

/// Groups `d365fo.integrations.odata.<name>.<property>` settings into configurations.
fn assemble(settings: BTreeMap<String, Option<String>>, mut found: Found) -> Found {
    let mut by_key: BTreeMap<String, LegacyConfig> = BTreeMap::new();
    for (full, value) in settings {
        if full == ACTIVE {
            found.active = value.filter(|v| !v.is_empty());
            continue;
        }
        let rest = &full[PREFIX.len()..];
        let Some((key, prop)) = rest.rsplit_once('.') else { continue };
        if key.is_empty() || !PROPERTIES.contains(&prop) {
            continue;
        }
        let c = by_key.entry(key.to_string()).or_default();
        let value = value.filter(|v| !v.is_empty());
        match prop {
            "name" => c.name = value.unwrap_or_default(),
            "tenant" => c.tenant = value,
            "url" => c.url = value,
            "systemurl" => c.systemurl = value,
            "clientid" => c.clientid = value,
            "clientsecret" => c.clientsecret = value,
            _ => {}
        }
    }
    for (key, mut c) in by_key {
        // d365fo.integrations lists only configurations that have a .name setting.
        if c.name.is_empty() {
            continue;
        }
        if !same_name(&c.name, &key) {
            c.name = key;
        }
        found.configs.push(c);
    }
    found
}

#[cfg(windows)]
mod registry {
    //! Reads HKCU\SOFTWARE\Microsoft\WindowsPowerShell\PSFramework\Config\Default with advapi32.
    //! Hand-declared Win32 signatures; compiled and run only on Windows: UNVERIFIED here.
    use super::{Found, is_ours, parse_registry_data};
    use std::collections::BTreeMap;
    use std::ffi::c_void;

    type Hkey = *mut c_void;
    const HKEY_CURRENT_USER: usize = 0x8000_0001;
    const KEY_READ: u32 = 0x20019;
    const REG_SZ: u32 = 1;
    const ERROR_SUCCESS: i32 = 0;
    const ERROR_MORE_DATA: i32 = 234;
    const ERROR_NO_MORE_ITEMS: i32 = 259;
    const KEY_PATH: &str = r"SOFTWARE\Microsoft\WindowsPowerShell\PSFramework\Config\Default";

    #[link(name = "advapi32")]
    unsafe extern "system" {
        fn RegOpenKeyExW(key: Hkey, sub_key: *const u16, options: u32, desired: u32, result: *mut Hkey) -> i32;
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
        fn RegCloseKey(key: Hkey) -> i32;
    }

    pub fn read_user_default(settings: &mut BTreeMap<String, Option<String>>, found: &mut Found) {
        let path: Vec<u16> = KEY_PATH.encode_utf16().chain(Some(0)).collect();
        let mut key: Hkey = std::ptr::null_mut();
        // SAFETY: path is NUL-terminated; key receives a handle closed below.
        let rc = unsafe { RegOpenKeyExW(HKEY_CURRENT_USER as Hkey, path.as_ptr(), 0, KEY_READ, &mut key) };
        if rc != ERROR_SUCCESS {
            return;
        }
        let mut any = false;
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
            if rc == ERROR_NO_MORE_ITEMS || rc != ERROR_SUCCESS {
                break;
            }
            index += 1;
            if ty != REG_SZ {
                continue;
            }
            let full = String::from_utf16_lossy(&name[..name_len as usize]).to_lowercase();
            if !is_ours(&full) {
                continue;
            }
            let units: Vec<u16> = data[..data_len as usize].chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).take_while(|u| *u != 0).collect();
            if let Some(v) = parse_registry_data(&String::from_utf16_lossy(&units)) {
                settings.insert(full, v);
                any = true;
            }
        }
        // SAFETY: key was opened above.
        unsafe { RegCloseKey(key) };
        if any {
            found.sources.push(format!(r"HKCU\{KEY_PATH}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_default_and_simple_items_and_a_single_object() {
        let text = br#"[{"Version":1,"FullName":"d365fo.integrations.odata.uat.name","Value":"UAT","Type":6,"Style":"default"},
            {"Version":1,"FullName":"d365fo.integrations.odata.uat.url","Data":"https://x"}]"#;
        let items = parse_file(text).unwrap();
        assert_eq!(items[0], ("d365fo.integrations.odata.uat.name".into(), Some("UAT".into())));
        assert_eq!(items[1], ("d365fo.integrations.odata.uat.url".into(), Some("https://x".into())));
        let one = b"\xEF\xBB\xBF{\"Version\":1,\"FullName\":\"A.B\",\"Value\":\"v\",\"Type\":\"String\",\"Style\":\"default\"}";
        assert_eq!(parse_file(one).unwrap(), vec![("a.b".to_string(), Some("v".to_string()))]);
    }

    #[test]
    fn skips_serialized_objects_and_reads_registry_data() {
        let text = br#"{"Version":1,"FullName":"x.y","Value":"H4sIAAAA","Type":12,"Style":"default"}"#;
        assert!(parse_file(text).unwrap().is_empty());
        assert_eq!(parse_registry_data("String:a:b"), Some(Some("a:b".into())));
        assert_eq!(parse_registry_data("Object:xyz"), None);
        assert_eq!(parse_registry_data("nocolon"), None);
    }
}
