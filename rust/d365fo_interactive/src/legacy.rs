//! The store of d365fo.interactive 0.1 (its own `config.json`), carried over once into the shared store
//! without loss: every configuration the shared store does not already have by name, the active choice when
//! the shared store has none, and each setting not already set. The old file is then renamed to
//! `config.json.migrated-<UTC time>` and kept, so nothing is ever deleted.
//!
//! Each configuration enters as Add-D365ODataConfig would store it: the SystemUrl filled from the Url when it
//! had none, and never a plain http SystemUrl to another machine (left out, with a note). No message repeats a
//! value of the old file: a file that cannot be read is described by line and column only, since serde's own
//! text quotes the value it choked on (a client secret, for one).

use crate::dpapi;
use crate::error::CoreResult;
use crate::psf::{self, Entries, NewValue, Stored};
use crate::settings;
use crate::store::{Change, Store, utc_stamp};
use crate::text::printable;
use crate::validate;
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Deserialize)]
struct OldStore {
    #[serde(default)]
    active: Option<String>,
    #[serde(default)]
    configurations: Vec<OldConfig>,
    #[serde(default)]
    settings: OldSettings,
}

#[derive(Debug, Deserialize)]
struct OldConfig {
    name: String,
    tenant: Option<String>,
    url: Option<String>,
    systemurl: Option<String>,
    clientid: Option<String>,
    clientsecret: Option<OldSecret>,
}

#[derive(Debug, Deserialize)]
struct OldSecret {
    protection: String,
    value: String,
}

#[derive(Debug, Default, Deserialize)]
struct OldSettings {
    authority: Option<String>,
    endpoint_version: Option<String>,
    client_id: Option<String>,
    no_browser: Option<bool>,
}

impl OldSecret {
    fn reveal(&self) -> Result<String, String> {
        match self.protection.as_str() {
            "none" => Ok(self.value.clone()),
            "dpapi-user" => {
                let blob = from_hex(&self.value).ok_or("it is damaged")?;
                match dpapi::unprotect(&blob) {
                    Some(Ok(bytes)) => String::from_utf8(bytes).map_err(|_| "it is not text".to_string()),
                    Some(Err(e)) => Err(format!("it could not be decrypted ({e})")),
                    None => Err("it is protected with Windows DPAPI".into()),
                }
            }
            other => Err(format!("it uses an unknown protection '{}'", printable(other))),
        }
    }
}

fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// Where version 0.1 kept its store.
pub fn old_file(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let var = |n: &str| env(n).filter(|v| !v.trim().is_empty());
    let dir = if let Some(d) = var("D365FO_CONFIG_DIR") {
        PathBuf::from(d)
    } else if cfg!(windows) {
        PathBuf::from(var("APPDATA")?).join("d365fo.interactive")
    } else if cfg!(target_os = "macos") {
        PathBuf::from(var("HOME")?).join("Library").join("Application Support").join("d365fo.interactive")
    } else {
        let base = var("XDG_CONFIG_HOME")
            .filter(|x| x.starts_with('/'))
            .map(PathBuf::from)
            .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".config")))?;
        base.join("d365fo.interactive")
    };
    Some(dir.join("config.json"))
}

fn odata_key(name: &str, property: &str) -> String {
    crate::configs::key(name, property)
}

/// Why the old file could not be read, without quoting any of its text.
fn unreadable(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match e.classify() {
        Category::Io => "it could not be read".to_string(),
        Category::Syntax | Category::Eof => format!("it is not valid JSON: line {}, column {}", e.line(), e.column()),
        Category::Data => format!("it is not laid out as version 0.1 wrote it: line {}, column {}", e.line(), e.column()),
    }
}

/// The SystemUrl to carry over: the old one when it passes today's check, else the Url when it may be called
/// (https, or http to this machine), as Add-D365ODataConfig does; or why there is none.
fn carried_system_url(c: &OldConfig) -> Result<Option<String>, String> {
    let url = c.url.as_deref().filter(|u| !u.is_empty());
    match c.systemurl.as_deref().filter(|u| !u.is_empty()) {
        Some(s) => validate::system_url(s).map(Some).map_err(|e| e.message),
        None => match url {
            None => Ok(None),
            Some(u) => validate::system_url_from_url(u).map(|()| Some(u.to_string())).map_err(|e| e.message),
        },
    }
}

/// Carries the old store over into `store`, if there is one; returns what people should be told.
pub fn migrate(store: &Store, env: &dyn Fn(&str) -> Option<String>) -> CoreResult<Vec<String>> {
    let Some(path) = old_file(env).filter(|p| p.is_file()) else { return Ok(Vec::new()) };
    let old: OldStore =
        match std::fs::read(&path).map_err(|e| e.to_string()).and_then(|b| serde_json::from_slice(&b).map_err(|e| unreadable(&e))) {
            Ok(o) => o,
            Err(why) => {
                return Ok(vec![format!(
                    "The configuration file of an earlier d365fo.interactive, '{}', could not be read ({why}); it was left where it is.",
                    path.display()
                )]);
            }
        };
    let mut notes = Vec::new();
    let mut unprotected = Vec::new();
    let moved = store.update(|entries: &Entries| {
        let mut changes: Vec<Change> = Vec::new();
        let mut moved = Vec::new();
        let (existing, _) = crate::configs::read_all(entries);
        for c in &old.configurations {
            if existing.iter().any(|e| crate::configs::same_name(&e.name, &c.name)) {
                notes.push(format!(
                    "'{}' already exists in the shared store; the earlier version's copy stays in the renamed file.",
                    printable(&c.name)
                ));
                continue;
            }
            let mut set = |prop: &str, v: &Option<String>| {
                if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
                    changes.push((odata_key(&c.name, prop), Some(NewValue::Text(v.clone()))));
                }
            };
            set("name", &Some(c.name.clone()));
            set("tenant", &c.tenant);
            set("url", &c.url);
            match carried_system_url(c) {
                Ok(system_url) => set("systemurl", &system_url),
                Err(why) => notes.push(format!(
                    "'{}' was carried over without a SystemUrl: {why} (Add-D365ODataConfig -Name '{}' -SystemUrl https://… -Force sets one).",
                    printable(&c.name),
                    printable(&c.name)
                )),
            }
            set("clientid", &c.clientid);
            match c.clientsecret.as_ref().map(|s| (s.protection != "none", s.reveal())) {
                Some((protected, Ok(secret))) => {
                    set("clientsecret", &Some(secret));
                    if protected {
                        unprotected.push(printable(&c.name));
                    }
                }
                Some((_, Err(why))) => notes.push(format!("The client secret of '{}' was not carried over: {why}.", printable(&c.name))),
                None => {}
            }
            moved.push(printable(&c.name));
        }
        if let Some(active) = &old.active
            && psf::lookup(entries, crate::configs::ACTIVE_KEY).and_then(Stored::text).is_none_or(str::is_empty)
        {
            changes.push((crate::configs::ACTIVE_KEY.to_string(), Some(NewValue::Text(active.clone()))));
        }
        let s = &old.settings;
        for (setting, value) in [
            (settings::AUTHORITY, s.authority.clone().map(NewValue::Text)),
            (settings::ENDPOINT_VERSION, s.endpoint_version.clone().map(NewValue::Text)),
            (settings::CLIENT_ID, s.client_id.clone().map(NewValue::Text)),
            (settings::NO_BROWSER, s.no_browser.map(NewValue::Bool)),
        ] {
            if let Some(v) = value
                && psf::lookup(entries, setting.stored_key).is_none()
            {
                changes.push((setting.stored_key.to_string(), Some(v)));
            }
        }
        Ok((changes, moved))
    })?;
    let kept = path.with_file_name(format!("config.json.migrated-{}", utc_stamp(std::time::SystemTime::now())));
    let renamed = std::fs::rename(&path, &kept).is_ok();
    let mut out = vec![format!(
        "Moved {} OData configuration(s){} from the earlier d365fo.interactive store '{}' into the store shared with d365fo.integrations ({}).{}",
        moved.len(),
        if moved.is_empty() { String::new() } else { format!(" ({})", moved.join(", ")) },
        path.display(),
        store.describe(),
        if renamed {
            format!(" The old file is kept as '{}'.", kept.display())
        } else {
            " The old file could not be renamed and stays in place.".to_string()
        }
    )];
    if !unprotected.is_empty() {
        out.push(format!(
            "The client secret of {} was protected with Windows DPAPI by the earlier version; it is now stored as d365fo.integrations stores client secrets: as plain text in the shared store, readable by anyone who can read your account's files (or registry).",
            unprotected.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", ")
        ));
    }
    out.extend(notes);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn an_old_store_moves_over_once_without_loss() {
        let home = fake_authority::scratch::tempdir();
        let xdg = home.path().join("cfg");
        let old_dir = xdg.join("d365fo.interactive");
        std::fs::create_dir_all(&old_dir).unwrap();
        std::fs::write(
            old_dir.join("config.json"),
            r#"{"schema_version":1,"active":"UAT","configurations":[
                {"name":"UAT","tenant":"contoso.onmicrosoft.com","url":"https://uat.example.com","systemurl":"https://uat.example.com","clientsecret":{"protection":"none","value":"s3cret"}},
                {"name":"Prod","url":"https://prod.example.com"}],
               "settings":{"endpoint_version":"v2","no_browser":true}}"#,
        )
        .unwrap();
        // A store of the test's own on every platform (Windows: a registry key, removed with `home`), and the old
        // store where this platform keeps it (Windows: APPDATA).
        let vars: HashMap<String, String> = [
            ("XDG_CONFIG_HOME".to_string(), xdg.display().to_string()),
            ("APPDATA".to_string(), xdg.display().to_string()),
            ("D365FO_CONFIG_REGISTRY_KEY".to_string(), home.registry_key()),
        ]
        .into();
        let env = move |k: &str| vars.get(k).cloned();
        let store = Store::locate(&env).unwrap();
        // The shared store already has Prod (made with d365fo.integrations): theirs wins, ours stays in the old file.
        store.update(|_| Ok((vec![(odata_key("Prod", "name"), Some(NewValue::Text("Prod".into())))], ()))).unwrap();
        let notes = migrate(&store, &env).unwrap();
        assert!(notes[0].contains("Moved 1 OData configuration(s) (UAT)"), "{notes:?}");
        assert!(notes.iter().any(|n| n.contains("'Prod' already exists")), "{notes:?}");
        let e = store.read().unwrap();
        assert_eq!(psf::lookup(&e, "d365fo.integrations.odata.uat.clientsecret"), Some(&Stored::Text("s3cret".into())));
        assert_eq!(psf::lookup(&e, crate::configs::ACTIVE_KEY), Some(&Stored::Text("UAT".into())));
        assert_eq!(psf::lookup(&e, "d365fo.interactive.endpointversion"), Some(&Stored::Text("v2".into())));
        assert_eq!(psf::lookup(&e, "d365fo.interactive.nobrowser"), Some(&Stored::Text("true".into())));
        assert!(!old_dir.join("config.json").exists());
        let kept: Vec<_> = std::fs::read_dir(&old_dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().to_string()).collect();
        assert!(kept.iter().any(|n| n.starts_with("config.json.migrated-")), "{kept:?}");
        // Nothing to do the second time.
        assert!(migrate(&store, &env).unwrap().is_empty());
    }

    /// An old store at `json` and a shared store of the test's own; returns the notes of the carry-over, the
    /// shared store and the folder (kept alive by the caller).
    fn carry_over(json: &str) -> (Vec<String>, Store, fake_authority::scratch::TempDir) {
        let home = fake_authority::scratch::tempdir();
        let xdg = home.path().join("cfg");
        let old_dir = xdg.join("d365fo.interactive");
        std::fs::create_dir_all(&old_dir).unwrap();
        std::fs::write(old_dir.join("config.json"), json).unwrap();
        let vars: HashMap<String, String> = [
            ("XDG_CONFIG_HOME".to_string(), xdg.display().to_string()),
            ("APPDATA".to_string(), xdg.display().to_string()),
            ("D365FO_CONFIG_REGISTRY_KEY".to_string(), home.registry_key()),
        ]
        .into();
        let env = move |k: &str| vars.get(k).cloned();
        let store = Store::locate(&env).unwrap();
        let notes = migrate(&store, &env).unwrap();
        (notes, store, home)
    }

    #[test]
    fn an_unreadable_old_store_is_described_without_quoting_its_values() {
        let secret = "Q~TopSecret.Value_1234567890abcdefXYZ";
        for json in [
            format!(r#"{{"configurations":[{{"name":"UAT","clientsecret":"{secret}"}}]}}"#),
            format!(r#"{{"configurations":[{{"name":"UAT","clientsecret":{{"protection":"none","value":"{secret}"}},}}]"#),
            format!(r#"{{"configurations":[{{"name":"UAT","clientsecret":{{"protection":"none","value":"{secret}"}}}}], "active": 5}}"#),
        ] {
            let (notes, store, _home) = carry_over(&json);
            assert_eq!(notes.len(), 1, "{notes:?}");
            assert!(notes[0].contains("could not be read") && notes[0].contains("line 1, column"), "{}", notes[0]);
            assert!(!notes.iter().any(|n| n.contains("TopSecret")), "{notes:?}");
            assert!(store.read().unwrap().is_empty());
        }
    }

    #[test]
    fn the_system_url_is_filled_from_the_url_and_never_plain_http_to_another_machine() {
        let (notes, store, _home) = carry_over(
            r#"{"configurations":[
                {"name":"Filled","url":"https://filled.example.com"},
                {"name":"Own","url":"https://own.example.com","systemurl":"https://own-api.example.com"},
                {"name":"PlainUrl","url":"http://plain.example.com"},
                {"name":"PlainSys","url":"https://ps.example.com","systemurl":"http://ps.example.com"},
                {"name":"Local","url":"http://127.0.0.1:9"}]}"#,
        );
        let e = store.read().unwrap();
        let sys = |n: &str| psf::lookup(&e, &odata_key(n, "systemurl")).and_then(Stored::text).map(str::to_string);
        assert_eq!(sys("Filled").as_deref(), Some("https://filled.example.com"));
        assert_eq!(sys("Own").as_deref(), Some("https://own-api.example.com"));
        assert_eq!(sys("Local").as_deref(), Some("http://127.0.0.1:9"));
        assert_eq!((sys("PlainUrl"), sys("PlainSys")), (None, None));
        assert!(notes[0].contains("Moved 5 OData configuration(s)"), "{notes:?}");
        for n in ["PlainUrl", "PlainSys"] {
            assert!(notes.iter().any(|t| t.contains(&format!("'{n}' was carried over without a SystemUrl"))), "{notes:?}");
        }
        assert!(!notes.iter().any(|t| t.contains("DPAPI")), "no protected secret, no word about it: {notes:?}");
    }

    /// DPAPI exists on Windows only (run there and under Wine): a protected secret carried over is said to be
    /// stored as d365fo.integrations stores it.
    #[cfg(windows)]
    #[test]
    fn the_notice_says_that_protected_secrets_are_now_stored_as_d365fo_integrations_stores_them() {
        let blob = dpapi::protect(b"Q~Protected").unwrap().unwrap();
        let hex: String = blob.iter().map(|b| format!("{b:02x}")).collect();
        let (notes, store, _home) = carry_over(&format!(
            r#"{{"configurations":[{{"name":"UAT","url":"https://uat.example.com","clientsecret":{{"protection":"dpapi-user","value":"{hex}"}}}}]}}"#
        ));
        let e = store.read().unwrap();
        assert_eq!(psf::lookup(&e, &odata_key("UAT", "clientsecret")), Some(&Stored::Text("Q~Protected".into())));
        assert!(
            notes.iter().any(|n| n.contains("'UAT'") && n.contains("DPAPI") && n.contains("as d365fo.integrations stores")),
            "{notes:?}"
        );
        assert!(!notes.iter().any(|n| n.contains("Q~Protected")), "{notes:?}");
    }
}
