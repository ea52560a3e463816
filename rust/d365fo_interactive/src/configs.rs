//! OData configurations, as d365fo.integrations keeps them: in the shared store (`store`), under the names
//! `d365fo.integrations.odata.<lower-case name>.<property>` (name, tenant, url, systemurl, clientid,
//! clientsecret) and `d365fo.integrations.active.odata.config.name`, plus this session's temporary ones
//! (`-Temporary`), which live in this process only, as PSFramework keeps them in memory.
//!
//! Behaviour follows the original: names compare without regard to case; `Add -Force` changes only the
//! values given (a SystemUrl that was the Url follows a new Url; one set on its own stays); the client secret
//! is stored and returned as is. Unlike the original, every value is checked when it enters (the same checks
//! as at sign-in), a new name may not contain a dot, and no plaintext http SystemUrl to another machine is
//! stored, whether given or taken from the Url.
//!
//! Keys are lower-cased as d365fo.integrations does it: PowerShell's `$Name.ToLower()`, in the culture of the
//! command that asks (the cmdlet names its casing in each request, see [`Casing`]): character by character,
//! without the final-sigma rule; U+0130 'İ' kept only in the invariant culture; 'I' to 'ı' in the Turkic ones.
//! Names given and names found in the store are compared after that same lower-casing, everywhere.

use crate::error::{Code, CoreError, CoreResult};
use crate::protocol::{Config, ConfigAddRequest, ConfigChange, Refused, ScanAnswer, StoreChange};
use crate::psf::{self, Entries, NewValue, PsfFile, Stored};
use crate::store::{Change, Store};
use crate::text::printable;
use crate::validate;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

pub const ODATA_PREFIX: &str = "d365fo.integrations.odata.";
pub const ACTIVE_KEY: &str = "d365fo.integrations.active.odata.config.name";
const PROPERTIES: [&str; 6] = ["name", "tenant", "url", "systemurl", "clientid", "clientsecret"];

/// The fields of one configuration (all optional but the name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields {
    pub name: String,
    pub tenant: Option<String>,
    pub url: Option<String>,
    pub systemurl: Option<String>,
    pub clientid: Option<String>,
    pub clientsecret: Option<String>,
}

impl Fields {
    fn get(&self, prop: &str) -> Option<&String> {
        match prop {
            "tenant" => self.tenant.as_ref(),
            "url" => self.url.as_ref(),
            "systemurl" => self.systemurl.as_ref(),
            "clientid" => self.clientid.as_ref(),
            "clientsecret" => self.clientsecret.as_ref(),
            _ => None,
        }
    }

    fn set(&mut self, prop: &str, v: Option<String>) {
        match prop {
            "tenant" => self.tenant = v,
            "url" => self.url = v,
            "systemurl" => self.systemurl = v,
            "clientid" => self.clientid = v,
            "clientsecret" => self.clientsecret = v,
            _ => {}
        }
    }

    fn to_config(&self, temporary: bool, active: Option<&str>) -> Config {
        Config {
            name: self.name.clone(),
            tenant: self.tenant.clone(),
            url: self.url.clone(),
            systemurl: self.systemurl.clone(),
            clientid: self.clientid.clone(),
            clientsecret: self.clientsecret.clone(),
            temporary,
            active: active.is_some_and(|a| same_name(a, &self.name)),
        }
    }
}

pub use crate::psf::lower_invariant;

/// How `String.ToLower()` lower-cases in the culture of the PowerShell thread that sent the request (.NET on
/// ICU, as checked beside pwsh in tests/pester/Interop.Tests.ps1): the invariant culture keeps 'İ' (U+0130);
/// every other culture maps it to 'i'; the Turkic ones (tr, az) also map 'I' to 'ı' (U+0131). Everything
/// else is the same simple, character-by-character mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Casing {
    #[default]
    Invariant,
    Culture,
    Turkic,
}

thread_local! {
    static CASING: std::cell::Cell<Casing> = const { std::cell::Cell::new(Casing::Invariant) };
}

/// Runs `f` with names lower-cased as `casing` does (one request's culture), then puts the previous back.
pub fn with_casing<T>(casing: Casing, f: impl FnOnce() -> T) -> T {
    struct Restore(Casing);
    impl Drop for Restore {
        fn drop(&mut self) {
            CASING.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(CASING.with(|c| c.replace(casing)));
    f()
}

/// A name lower-cased as d365fo.integrations' `$Name.ToLower()` does it in the request's culture.
pub fn lower_name(name: &str) -> String {
    let casing = CASING.with(std::cell::Cell::get);
    name.chars()
        .map(|c| match (casing, c) {
            (Casing::Turkic, 'I') => "ı".to_string(),
            (Casing::Culture | Casing::Turkic, '\u{130}') => "i".to_string(),
            _ => lower_invariant(c.encode_utf8(&mut [0; 4])),
        })
        .collect()
}

/// A name as configurations are told apart: lower-cased as [`lower_name`] does, and a final sigma written
/// by another lower-casing ('ς') the same letter as 'σ'.
pub fn folded(name: &str) -> String {
    lower_name(name).replace('ς', "σ")
}

/// Configuration names compare without regard to case (the request's culture's lower case, see [`folded`]).
pub fn same_name(a: &str, b: &str) -> bool {
    folded(a) == folded(b)
}

/// The stored key of a configuration's property, as d365fo.integrations names it in the request's culture.
pub fn key(name: &str, prop: &str) -> String {
    format!("{ODATA_PREFIX}{}.{prop}", lower_name(name))
}

/// Two URLs are the same address (one trailing '/' and the case of scheme and host aside).
fn same_url(a: &str, b: &str) -> bool {
    let norm = |u: &str| {
        let u = u.strip_suffix('/').unwrap_or(u);
        match validate::parse_http_url(u) {
            Ok(p) => format!("{}://{}{}", p.scheme, p.host_port(), p.rest),
            Err(_) => u.to_string(),
        }
    };
    norm(a) == norm(b)
}

/// The configurations in a set of stored values, in the order first seen, and the active name.
pub fn read_all(entries: &Entries) -> (Vec<Fields>, Option<String>) {
    let mut by_key: BTreeMap<String, (usize, Fields)> = BTreeMap::new();
    let mut named: BTreeMap<String, String> = BTreeMap::new();
    let mut active = None;
    for (i, (full, value)) in entries.iter().enumerate() {
        let lower = lower_invariant(full);
        if lower == ACTIVE_KEY {
            active = value.text().map(str::to_string).filter(|v| !v.is_empty());
            continue;
        }
        let Some(rest) = lower.strip_prefix(ODATA_PREFIX) else { continue };
        let Some((name_key, prop)) = rest.rsplit_once('.') else { continue };
        if name_key.is_empty() || !PROPERTIES.contains(&prop) {
            continue;
        }
        // Keys written by another lower-casing (a final 'ς') belong to the same configuration.
        let entry = by_key.entry(folded(name_key)).or_insert_with(|| (i, Fields { name: name_key.to_string(), ..Fields::default() }));
        let text = value.text().map(str::to_string).filter(|v| !v.is_empty());
        if prop == "name" {
            named.insert(folded(name_key), text.unwrap_or_default());
        } else {
            entry.1.set(prop, text);
        }
    }
    let mut found: Vec<(usize, Fields)> = by_key
        .into_iter()
        // d365fo.integrations lists only configurations that have a .name value.
        .filter_map(|(k, (i, mut f))| {
            let name = named.get(&k).filter(|n| !n.is_empty())?;
            // The key decides which configuration it is; a .name value that disagrees is not shown.
            if same_name(name, &f.name) {
                f.name = name.clone();
            }
            Some((i, f))
        })
        .collect();
    found.sort_by_key(|(i, _)| *i);
    (found.into_iter().map(|(_, f)| f).collect(), active)
}

/// This session's temporary configurations and active choice.
struct Session {
    configs: Vec<Fields>,
    active: Option<String>,
}

fn session() -> MutexGuard<'static, Session> {
    static SESSION: Mutex<Session> = Mutex::new(Session { configs: Vec::new(), active: None });
    SESSION.lock().unwrap_or_else(|p| p.into_inner())
}

/// Forgets this session's temporary configurations (tests).
pub fn clear_session() {
    let mut s = session();
    s.configs.clear();
    s.active = None;
}

/// Persisted configurations overlaid by this session's temporary ones, sorted by name; and the active name.
fn view(entries: &Entries, s: &Session) -> (Vec<Config>, Option<String>) {
    let (stored, stored_active) = read_all(entries);
    let active = s.active.clone().or(stored_active);
    let mut all: Vec<Config> = stored
        .iter()
        .filter(|f| !s.configs.iter().any(|t| same_name(&t.name, &f.name)))
        .map(|f| f.to_config(false, active.as_deref()))
        .collect();
    all.extend(s.configs.iter().map(|f| f.to_config(true, active.as_deref())));
    all.sort_by_key(|c| folded(&c.name));
    (all, active)
}

/// Every configuration.
pub fn list(store: &Store) -> CoreResult<Vec<Config>> {
    let entries = store.read()?;
    Ok(view(&entries, &session()).0)
}

/// The active configuration.
pub fn active(store: &Store) -> CoreResult<Config> {
    let entries = store.read()?;
    let (all, active) = view(&entries, &session());
    let Some(name) = active else {
        return Err(CoreError::new(Code::NotFound, "It looks like there isn't configured an active OData configuration."));
    };
    all.into_iter().find(|c| same_name(&c.name, &name)).ok_or_else(|| {
        CoreError::new(
            Code::NotFound,
            format!(
                "The active OData configuration '{}' does not exist (any more). Choose another one with Set-D365ActiveODataConfig.",
                printable(&name)
            ),
        )
    })
}

fn checked(v: &Option<String>, check: impl Fn(&str) -> CoreResult<String>) -> CoreResult<Option<String>> {
    match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => check(s).map(Some),
    }
}

fn exists_message(name: &str) -> String {
    format!(
        "An OData configuration with {} as name already exists. If you want to overwrite the current configuration, please supply the -Force parameter.",
        printable(name)
    )
}

/// The values of a configuration as they enter (Add-D365ODataConfig, Import-D365ODataConfig), checked by the
/// validators the sign-in uses and normalized (the SystemUrl as given; see `system_url_after`).
fn check_fields(f: &Fields) -> CoreResult<Fields> {
    let checked_fields = Fields {
        name: validate::config_name(&f.name)?,
        tenant: checked(&f.tenant, validate::tenant)?,
        url: checked(&f.url, validate::resource_url)?,
        systemurl: checked(&f.systemurl, validate::system_url)?,
        clientid: checked(&f.clientid, |s| validate::client_id(s, "-ClientId"))?,
        clientsecret: match f.clientsecret.as_deref().filter(|s| !s.is_empty()) {
            Some(s) if s.chars().any(char::is_control) => {
                return Err(CoreError::invalid("The client secret contains control characters; give it as one line of text."));
            }
            other => other.map(str::to_string),
        },
    };
    Ok(checked_fields)
}

/// The SystemUrl to write for checked values `given` over the configuration `existing` (None: a new one, or
/// one replaced as a whole): the one given; else, when a Url is given, the Url, as in d365fo.integrations,
/// unless `existing` has a SystemUrl of its own (one that differs from its Url), which stays; else none
/// (nothing to write). A Url taken as SystemUrl is held to the SystemUrl's rule: no plain http to another
/// machine, since the data commands call it with the token.
pub fn system_url_after(given: &Fields, existing: Option<&Fields>) -> CoreResult<Option<String>> {
    if let Some(s) = &given.systemurl {
        return Ok(Some(s.clone()));
    }
    let Some(url) = &given.url else { return Ok(None) };
    if let Some(e) = existing
        && let Some(own) = &e.systemurl
        && !e.url.as_deref().is_some_and(|old| same_url(old, own))
    {
        return Ok(None);
    }
    validate::system_url_from_url(url)?;
    Ok(Some(url.clone()))
}

pub fn add(store: &Store, req: &ConfigAddRequest) -> CoreResult<ConfigChange> {
    validate::new_config_name(&req.name)?;
    let mut given = check_fields(&Fields {
        name: req.name.clone(),
        tenant: req.tenant.clone(),
        url: req.url.clone(),
        systemurl: req.systemurl.clone(),
        clientid: req.clientid.clone(),
        clientsecret: req.clientsecret.clone(),
    })?;
    let name = given.name.clone();
    let mut s = session();
    let entries = store.read()?;
    let (stored, _) = read_all(&entries);
    let existing =
        s.configs.iter().find(|t| same_name(&t.name, &name)).or_else(|| stored.iter().find(|f| same_name(&f.name, &name))).cloned();
    if existing.is_some() && !req.force {
        return Err(CoreError::new(Code::AlreadyExists, exists_message(&name)));
    }
    given.systemurl = system_url_after(&given, existing.as_ref())?;
    let mut changes: Vec<Change> = vec![(key(&name, "name"), Some(NewValue::Text(name.clone())))];
    for prop in &PROPERTIES[1..] {
        if let Some(v) = given.get(prop) {
            changes.push((key(&name, prop), Some(NewValue::Text(v.clone()))));
        }
    }
    // The configuration after the change: the existing values, overlaid by those given.
    let mut after = existing.unwrap_or_default();
    after.name = name.clone();
    for prop in &PROPERTIES[1..] {
        if let Some(v) = given.get(prop) {
            after.set(prop, Some(v.clone()));
        }
    }
    let mirrored: Vec<StoreChange> = changes
        .iter()
        .map(|(k, v)| StoreChange { full_name: k.clone(), value: v.as_ref().map_or(serde_json::Value::Null, NewValue::to_json) })
        .collect();
    let active_changed = view(&entries, &s).1.is_some_and(|a| same_name(&a, &name));
    if !req.dry_run {
        if req.temporary {
            s.configs.retain(|t| !same_name(&t.name, &name));
            s.configs.push(after.clone());
        } else {
            store.update(|_| Ok((changes, ())))?;
            // Persisting a name replaces this session's temporary one, as Set-PSFConfig + Register-PSFConfig would.
            s.configs.retain(|t| !same_name(&t.name, &name));
        }
    }
    let entries = if req.dry_run || req.temporary { entries } else { store.read()? };
    let active = view(&entries, &s).1;
    Ok(ConfigChange {
        configs: vec![after.to_config(req.temporary, active.as_deref())],
        changes: mirrored,
        skipped: vec![],
        refused: vec![],
        temporary: req.temporary,
        dry_run: req.dry_run,
        active_changed,
        notes: vec![],
    })
}

/// Set-D365ActiveODataConfig.
pub fn set_active(store: &Store, name: &str, temporary: bool, dry_run: bool) -> CoreResult<ConfigChange> {
    let name = validate::config_name(name)?;
    let mut s = session();
    let entries = store.read()?;
    let (all, _) = view(&entries, &s);
    let chosen = all
        .into_iter()
        .find(|c| same_name(&c.name, &name))
        .ok_or_else(|| CoreError::new(Code::NotFound, "An OData configuration with that name doesn't exists."))?;
    let canonical = chosen.name.clone();
    let changes: Vec<Change> = vec![(ACTIVE_KEY.to_string(), Some(NewValue::Text(canonical.clone())))];
    let mirrored = vec![StoreChange { full_name: ACTIVE_KEY.to_string(), value: serde_json::json!(canonical) }];
    if !dry_run {
        if temporary {
            s.active = Some(canonical.clone());
        } else {
            store.update(|_| Ok((changes, ())))?;
            // A persisted choice replaces a temporary one in this session, as in d365fo.integrations.
            s.active = None;
        }
    }
    Ok(ConfigChange {
        configs: vec![Config { active: true, ..chosen }],
        changes: mirrored,
        skipped: vec![],
        refused: vec![],
        temporary,
        dry_run,
        active_changed: true,
        notes: vec![],
    })
}

/// The PSFramework configuration files at `path`: the file, or a folder's `psf_config_*.json` then
/// `psf_config.json` (PSFramework's order; the last one read wins).
fn files_at(path: &Path) -> CoreResult<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    if !path.is_dir() {
        return Err(CoreError::new(Code::NotFound, format!("The path '{}' does not exist.", path.display())));
    }
    let mut extra: Vec<PathBuf> = std::fs::read_dir(path)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("").to_ascii_lowercase();
                    n.starts_with("psf_config_") && n.ends_with(".json")
                })
                .collect()
        })
        .unwrap_or_default();
    extra.sort();
    let main = path.join("psf_config.json");
    if main.is_file() {
        extra.push(main);
    }
    Ok(extra)
}

/// The configurations in another PSFramework configuration file or folder (read only).
pub fn scan(path: &Path) -> CoreResult<ScanAnswer> {
    let mut entries: Entries = Vec::new();
    let mut sources = Vec::new();
    let mut problems = Vec::new();
    for f in files_at(path)? {
        match std::fs::read(&f).map_err(|e| e.to_string()).and_then(|b| PsfFile::parse(&b)) {
            Ok(file) => {
                let ours: Entries =
                    file.entries().into_iter().filter(|(n, _)| n.to_ascii_lowercase().starts_with("d365fo.integrations.")).collect();
                if !ours.is_empty() {
                    sources.push(f.display().to_string());
                }
                entries.extend(ours);
            }
            Err(why) => problems.push(format!("{}: {why}", f.display())),
        }
    }
    let (found, active) = read_all(&entries);
    let configs = found.iter().map(|f| f.to_config(false, active.as_deref())).collect();
    Ok(ScanAnswer { configs, active, sources, problems })
}

/// Copies configurations from another PSFramework configuration file or folder into the store. Existing
/// names are left alone unless `force`; the source's active choice becomes ours when we have none.
pub fn import(store: &Store, path: &Path, names: Option<&[String]>, force: bool, dry_run: bool) -> CoreResult<ConfigChange> {
    let found = scan(path)?;
    let (source, _) = {
        let mut entries: Entries = Vec::new();
        for f in files_at(path)? {
            if let Ok(file) = std::fs::read(&f).map_err(|e| e.to_string()).and_then(|b| PsfFile::parse(&b)) {
                entries.extend(file.entries());
            }
        }
        read_all(&entries)
    };
    let chosen: Vec<&Fields> = source.iter().filter(|f| names.is_none_or(|w| w.iter().any(|n| same_name(n, &f.name)))).collect();
    let entries = store.read()?;
    let (existing, active) = read_all(&entries);
    let mut changes: Vec<Change> = Vec::new();
    let mut skipped = Vec::new();
    let mut refused = Vec::new();
    let mut imported = Vec::new();
    let mut notes = Vec::new();
    for f in chosen {
        if existing.iter().any(|e| same_name(&e.name, &f.name)) && !force {
            skipped.push(f.name.clone());
            continue;
        }
        // The same checks as Add-D365ODataConfig: what the sign-in would refuse does not enter the store. The
        // configuration replaces ours as a whole, so its SystemUrl is its own or its Url.
        let f = match check_fields(f).and_then(|mut c| {
            c.systemurl = system_url_after(&c, None)?;
            Ok(c)
        }) {
            Ok(f) => f,
            Err(e) => {
                refused.push(Refused { name: crate::text::printable(&f.name), reason: e.message });
                continue;
            }
        };
        if let Some(note) = other_host_note(&f) {
            notes.push(note);
        }
        let f = &f;
        changes.push((key(&f.name, "name"), Some(NewValue::Text(f.name.clone()))));
        for prop in &PROPERTIES[1..] {
            changes.push((key(&f.name, prop), f.get(prop).map(|v| NewValue::Text(v.clone()))));
        }
        imported.push(f.clone());
    }
    let mut active_changed = false;
    if active.is_none()
        && let Some(a) = found.active.as_ref().and_then(|a| imported.iter().find(|f| same_name(&f.name, a)))
    {
        changes.push((ACTIVE_KEY.to_string(), Some(NewValue::Text(a.name.clone()))));
        active_changed = true;
        notes.push(format!(
            "'{}' becomes the active OData configuration, as it is in '{}' (none was active in the store shared with d365fo.integrations); choose another one with Set-D365ActiveODataConfig.",
            printable(&a.name),
            path.display()
        ));
    }
    let mirrored = changes
        .iter()
        .map(|(k, v)| StoreChange { full_name: k.clone(), value: v.as_ref().map_or(serde_json::Value::Null, NewValue::to_json) })
        .collect();
    if !dry_run && !changes.is_empty() {
        store.update(|_| Ok((changes, ())))?;
    }
    let now_active = if active_changed { found.active.clone() } else { active };
    Ok(ConfigChange {
        configs: imported.iter().map(|f| f.to_config(false, now_active.as_deref())).collect(),
        changes: mirrored,
        skipped,
        refused,
        temporary: false,
        dry_run,
        active_changed,
        notes,
    })
}

/// For an imported configuration whose SystemUrl is on another host than its Url: the warning to give, as the
/// data commands then send the token to that other host.
fn other_host_note(f: &Fields) -> Option<String> {
    let host = |u: &Option<String>| u.as_deref().and_then(|u| validate::parse_http_url(u).ok()).map(|p| p.host);
    let (url_host, system_host) = (host(&f.url)?, host(&f.systemurl)?);
    (url_host != system_host).then(|| {
        format!(
            "The OData configuration '{}' has its SystemUrl on another host ({}) than its Url ({}): the data commands send the token to {}. Check that this is the environment you expect.",
            printable(&f.name),
            printable(&system_host),
            printable(&url_host),
            printable(&system_host)
        )
    })
}

/// The value stored for a setting's key, as text (settings live in the same store).
pub fn stored_text(entries: &Entries, full_name: &str) -> Option<String> {
    psf::lookup(entries, full_name).and_then(Stored::text).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (fake_authority::scratch::TempDir, Store) {
        let dir = fake_authority::scratch::tempdir();
        let s = Store::File(dir.path().join("psf_config.json"));
        (dir, s)
    }

    fn add_req(name: &str) -> ConfigAddRequest {
        ConfigAddRequest { name: name.into(), ..Default::default() }
    }

    /// The session overlay is process-wide; these tests run one at a time.
    fn serial() -> MutexGuard<'static, ()> {
        static LOCK: Mutex<()> = Mutex::new(());
        let g = LOCK.lock().unwrap_or_else(|p| p.into_inner());
        clear_session();
        g
    }

    #[test]
    fn add_checks_every_value_and_stores_nothing_when_one_is_refused() {
        let _g = serial();
        let (_d, s) = store();
        for (field, value, word) in [
            ("tenant", "a b", "tenant"),
            ("url", "not a url", "Url"),
            ("systemurl", "ftp://x", "SystemUrl"),
            ("systemurl", "http://remote.example.com", "plain http"),
            ("clientid", "abc", "GUID"),
        ] {
            let mut r = add_req("UAT");
            match field {
                "tenant" => r.tenant = Some(value.into()),
                "url" => r.url = Some(value.into()),
                "systemurl" => r.systemurl = Some(value.into()),
                _ => r.clientid = Some(value.into()),
            }
            let e = add(&s, &r).unwrap_err();
            assert!(e.code == Code::InvalidRequest && e.message.contains(word), "{field}: {}", e.message);
        }
        assert!(s.read().unwrap().is_empty());
        assert!(list(&s).unwrap().is_empty());
    }

    #[test]
    fn add_force_changes_only_the_values_given_and_keeps_the_secret_in_clear() {
        let _g = serial();
        let (_d, s) = store();
        let mut r = add_req("UAT");
        r.tenant = Some("contoso.onmicrosoft.com".into());
        r.url = Some("https://uat.example.com/".into());
        r.clientsecret = Some("s3cr\"et".into());
        let c = add(&s, &r).unwrap();
        assert_eq!(c.configs[0].systemurl.as_deref(), Some("https://uat.example.com"));
        let e = add(&s, &add_req("uat")).unwrap_err();
        assert_eq!(e.code, Code::AlreadyExists);
        let mut f = add_req("UAT");
        f.force = true;
        f.systemurl = Some("https://sys.example.com".into());
        add(&s, &f).unwrap();
        let got = list(&s).unwrap();
        assert_eq!(got.len(), 1);
        let g = &got[0];
        assert_eq!(
            (g.tenant.as_deref(), g.url.as_deref(), g.systemurl.as_deref(), g.clientsecret.as_deref()),
            (Some("contoso.onmicrosoft.com"), Some("https://uat.example.com"), Some("https://sys.example.com"), Some("s3cr\"et"))
        );
        let entries = s.read().unwrap();
        assert_eq!(stored_text(&entries, "d365fo.integrations.odata.uat.clientsecret").as_deref(), Some("s3cr\"et"));
    }

    #[test]
    fn temporary_configurations_and_active_choices_stay_in_the_session() {
        let _g = serial();
        let (_d, s) = store();
        let mut r = add_req("Temp");
        r.url = Some("https://t.example.com".into());
        r.temporary = true;
        add(&s, &r).unwrap();
        assert!(s.read().unwrap().is_empty());
        set_active(&s, "temp", true, false).unwrap();
        let a = active(&s).unwrap();
        assert!(a.temporary && a.active && a.name == "Temp");
        clear_session();
        assert_eq!(active(&s).unwrap_err().code, Code::NotFound);
    }

    #[test]
    fn set_active_persists_the_canonical_name_and_refuses_unknown_or_wildcard_names() {
        let _g = serial();
        let (_d, s) = store();
        let mut r = add_req("UAT");
        r.url = Some("https://uat.example.com".into());
        add(&s, &r).unwrap();
        assert_eq!(set_active(&s, "nope", false, false).unwrap_err().code, Code::NotFound);
        assert!(set_active(&s, "U*", false, false).unwrap_err().message.contains("wildcard"));
        let dry = set_active(&s, "uat", false, true).unwrap();
        assert!(dry.dry_run && stored_text(&s.read().unwrap(), ACTIVE_KEY).is_none());
        set_active(&s, "uat", false, false).unwrap();
        assert_eq!(stored_text(&s.read().unwrap(), ACTIVE_KEY).as_deref(), Some("UAT"));
        assert_eq!(active(&s).unwrap().name, "UAT");
    }

    #[test]
    fn reads_what_d365fo_integrations_wrote() {
        let _g = serial();
        let (d, s) = store();
        std::fs::write(
            d.path().join("psf_config.json"),
            r#"[{"FullName":"d365fo.integrations.odata.uat.url","Value":"https://uat.example.com/","Version":1,"Type":6,"Style":"default"},
                {"FullName":"d365fo.integrations.odata.uat.name","Value":"UAT","Version":1,"Type":6,"Style":"default"},
                {"FullName":"d365fo.integrations.odata.uat.enableexception","Value":"H4sI","Version":1,"Type":12,"Style":"default"},
                {"FullName":"d365fo.integrations.odata.noname.url","Value":"https://x","Version":1,"Type":6,"Style":"default"},
                {"FullName":"d365fo.integrations.active.odata.config.name","Value":"UAT","Version":1,"Type":6,"Style":"default"}]"#,
        )
        .unwrap();
        let all = list(&s).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!((all[0].name.as_str(), all[0].url.as_deref(), all[0].active), ("UAT", Some("https://uat.example.com/"), true));
        // Our change keeps their items (the serialized switch included).
        set_active(&s, "UAT", false, false).unwrap();
        let text = std::fs::read_to_string(d.path().join("psf_config.json")).unwrap();
        assert!(text.contains("H4sI") && text.contains("noname"));
    }

    #[test]
    fn import_copies_from_another_file_and_skips_existing_names_unless_forced() {
        let _g = serial();
        let (d, s) = store();
        let other = d.path().join("other");
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(
            other.join("psf_config.json"),
            r#"[{"FullName":"d365fo.integrations.odata.a.name","Value":"A","Version":1,"Type":6,"Style":"default"},
                {"FullName":"d365fo.integrations.odata.a.tenant","Value":"t.example.com","Version":1,"Type":6,"Style":"default"},
                {"FullName":"d365fo.integrations.odata.b.name","Value":"B","Version":1,"Type":6,"Style":"default"},
                {"FullName":"d365fo.integrations.active.odata.config.name","Value":"b","Version":1,"Type":6,"Style":"default"}]"#,
        )
        .unwrap();
        let mut r = add_req("B");
        r.url = Some("https://b.example.com".into());
        add(&s, &r).unwrap();
        let scan_answer = scan(&other).unwrap();
        assert_eq!(scan_answer.configs.len(), 2);
        let c = import(&s, &other, None, false, false).unwrap();
        assert_eq!((c.configs.len(), c.skipped.clone()), (1, vec!["B".to_string()]));
        assert_eq!(list(&s).unwrap().len(), 2);
        assert!(stored_text(&s.read().unwrap(), ACTIVE_KEY).is_none(), "B was skipped, so its active choice is not taken");
        import(&s, &other, Some(&["b".to_string()]), true, false).unwrap();
        assert_eq!(stored_text(&s.read().unwrap(), ACTIVE_KEY).as_deref(), Some("B"));
        assert_eq!(scan(&d.path().join("missing")).unwrap_err().code, Code::NotFound);
    }

    #[test]
    fn import_checks_values_as_add_does_and_fills_the_system_url_from_the_url() {
        let _g = serial();
        let (d, s) = store();
        let other = d.path().join("other");
        std::fs::create_dir_all(&other).unwrap();
        let item = |k: &str, v: &str| {
            format!(r#"{{"FullName":"d365fo.integrations.odata.{k}","Value":"{v}","Version":1,"Type":6,"Style":"default"}}"#)
        };
        let items = [
            item("good.name", "Good"),
            item("good.url", "https://good.example.com/"),
            item("badurl.name", "BadUrl"),
            item("badurl.url", "not a url"),
            item("badtenant.name", "BadTenant"),
            item("badtenant.tenant", "a b"),
            item("badclient.name", "BadClient"),
            item("badclient.clientid", "cid"),
        ];
        std::fs::write(other.join("psf_config.json"), format!("[{}]", items.join(","))).unwrap();
        let c = import(&s, &other, None, false, false).unwrap();
        let names: Vec<&str> = c.configs.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["Good"]);
        let refused: Vec<&str> = c.refused.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(refused, ["BadUrl", "BadTenant", "BadClient"]);
        assert!(c.refused[0].reason.contains("not an absolute http(s) URL"), "{}", c.refused[0].reason);
        let stored = list(&s).unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(
            (stored[0].url.as_deref(), stored[0].systemurl.as_deref()),
            (Some("https://good.example.com"), Some("https://good.example.com"))
        );
    }

    fn psf_item(full: &str, value: &str) -> String {
        format!(r#"{{"FullName":"{full}","Value":"{value}","Version":1,"Type":6,"Style":"default"}}"#)
    }

    #[test]
    fn a_new_name_with_a_dot_is_refused_but_dotted_names_made_elsewhere_list_and_load() {
        let _g = serial();
        let (d, s) = store();
        let mut r = add_req("uat.v2");
        r.url = Some("https://uat2.example.com".into());
        r.clientsecret = Some("TOPSECRET".into());
        for temporary in [false, true] {
            r.temporary = temporary;
            let e = add(&s, &r).unwrap_err();
            assert!(e.code == Code::InvalidRequest && e.message.contains("contains a dot"), "{}", e.message);
        }
        assert!(s.read().unwrap().is_empty() && list(&s).unwrap().is_empty());
        std::fs::write(
            d.path().join("psf_config.json"),
            format!(
                "[{}]",
                [
                    psf_item("d365fo.integrations.odata.uat.name", "UAT"),
                    psf_item("d365fo.integrations.odata.uat.url", "https://uat.example.com"),
                    psf_item("d365fo.integrations.odata.uat.v2.name", "UAT.v2"),
                    psf_item("d365fo.integrations.odata.uat.v2.url", "https://uat2.example.com"),
                ]
                .join(",")
            ),
        )
        .unwrap();
        let all = list(&s).unwrap();
        let got: Vec<(&str, Option<&str>)> = all.iter().map(|c| (c.name.as_str(), c.url.as_deref())).collect();
        assert_eq!(got, [("UAT", Some("https://uat.example.com")), ("UAT.v2", Some("https://uat2.example.com"))]);
        set_active(&s, "uat.V2", false, false).unwrap();
        assert_eq!(active(&s).unwrap().url.as_deref(), Some("https://uat2.example.com"));
    }

    #[test]
    fn no_plain_http_system_url_to_another_machine_is_stored_given_or_taken_from_the_url() {
        let _g = serial();
        let (d, s) = store();
        // Taken from the Url: refused, for saved and temporary ones, asking for -SystemUrl https://.
        for temporary in [false, true] {
            let mut r = add_req("Remote");
            r.url = Some("http://contoso.operations.dynamics.com".into());
            r.temporary = temporary;
            let e = add(&s, &r).unwrap_err();
            assert!(e.code == Code::InvalidRequest && e.message.contains("-SystemUrl https://"), "{}", e.message);
        }
        assert!(s.read().unwrap().is_empty() && list(&s).unwrap().is_empty());
        // An http Url with an https SystemUrl, and an http Url to this machine, are fine.
        let mut r = add_req("Talent");
        r.url = Some("http://hr.talent.dynamics.com".into());
        r.systemurl = Some("https://contoso.hr.talent.dynamics.com".into());
        add(&s, &r).unwrap();
        let mut r = add_req("Local");
        r.url = Some("http://127.0.0.1:8080".into());
        assert_eq!(add(&s, &r).unwrap().configs[0].systemurl.as_deref(), Some("http://127.0.0.1:8080"));
        // -Force with a new http Url over a SystemUrl that was the Url: refused too, nothing changed.
        let mut r = add_req("Derived");
        r.url = Some("https://derived.example.com".into());
        add(&s, &r).unwrap();
        let before = std::fs::read(d.path().join("psf_config.json")).unwrap();
        let mut f = add_req("Derived");
        f.url = Some("http://derived.example.com".into());
        f.force = true;
        assert!(add(&s, &f).unwrap_err().message.contains("-SystemUrl https://"));
        assert_eq!(std::fs::read(d.path().join("psf_config.json")).unwrap(), before);
        // Import: the same rule.
        let other = d.path().join("other");
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(
            other.join("psf_config.json"),
            format!(
                "[{},{}]",
                psf_item("d365fo.integrations.odata.plain.name", "Plain"),
                psf_item("d365fo.integrations.odata.plain.url", "http://plain.example.com")
            ),
        )
        .unwrap();
        let c = import(&s, &other, None, false, false).unwrap();
        assert!(c.configs.is_empty() && c.refused.len() == 1 && c.refused[0].reason.contains("-SystemUrl https://"), "{c:?}");
        assert!(
            !list(&s).unwrap().iter().any(|c| c.systemurl.as_deref().is_some_and(|u| u.starts_with("http://") && !u.contains("127.0.0.1")))
        );
    }

    #[test]
    fn force_moves_the_system_url_with_a_new_url_only_when_it_was_the_url() {
        let _g = serial();
        let (_d, s) = store();
        let mut r = add_req("Dist");
        r.url = Some("https://dist.example.com".into());
        r.systemurl = Some("https://dist-api.example.com".into());
        add(&s, &r).unwrap();
        let mut r = add_req("Same");
        r.url = Some("https://same.example.com/".into());
        add(&s, &r).unwrap();
        for name in ["Dist", "Same"] {
            let mut f = add_req(name);
            f.url = Some(format!("https://{}2.example.com", name.to_lowercase()));
            f.force = true;
            let c = add(&s, &f).unwrap();
            let wrote_system_url = c.changes.iter().any(|ch| ch.full_name.ends_with(".systemurl"));
            assert_eq!(wrote_system_url, name == "Same", "{name}: {:?}", c.changes);
        }
        let all = list(&s).unwrap();
        let got: Vec<(&str, Option<&str>, Option<&str>)> =
            all.iter().map(|c| (c.name.as_str(), c.url.as_deref(), c.systemurl.as_deref())).collect();
        assert_eq!(
            got,
            [
                ("Dist", Some("https://dist2.example.com"), Some("https://dist-api.example.com")),
                ("Same", Some("https://same2.example.com"), Some("https://same2.example.com")),
            ]
        );
    }

    #[test]
    fn keys_are_lower_cased_as_dotnet_lower_cases_them() {
        assert_eq!(lower_invariant("ΣΟΦΙΑΣ"), "σοφιασ");
        assert_eq!(lower_invariant("ΟΔΟΣ"), "οδοσ");
        assert_eq!(lower_invariant("İstanbul"), "İstanbul");
        assert_eq!(lower_invariant("ÄÖÜ Ǆ ẞ"), "äöü ǆ ß");
        assert_eq!(key("ΟΔΟΣ", "url"), "d365fo.integrations.odata.οδοσ.url");
        let _g = serial();
        let (d, s) = store();
        // Made by d365fo.integrations (ΣΟΦΙΑΣ) and by an earlier lower-casing with a final sigma (ΟΔΟΣ).
        std::fs::write(
            d.path().join("psf_config.json"),
            format!(
                "[{}]",
                [
                    psf_item("d365fo.integrations.odata.σοφιασ.name", "ΣΟΦΙΑΣ"),
                    psf_item("d365fo.integrations.odata.σοφιασ.url", "https://sofias.example.com"),
                    psf_item("d365fo.integrations.odata.οδος.name", "ΟΔΟΣ"),
                    psf_item("d365fo.integrations.odata.οδος.url", "https://odos.example.com"),
                ]
                .join(",")
            ),
        )
        .unwrap();
        let names: Vec<String> = list(&s).unwrap().into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["ΟΔΟΣ", "ΣΟΦΙΑΣ"]);
        set_active(&s, "ΣΟΦΙΑΣ", false, false).unwrap();
        assert_eq!(active(&s).unwrap().url.as_deref(), Some("https://sofias.example.com"));
        set_active(&s, "οδοσ", false, false).unwrap();
        assert_eq!(active(&s).unwrap().name, "ΟΔΟΣ");
        let mut r = add_req("İstanbul");
        r.url = Some("https://ist.example.com".into());
        let c = add(&s, &r).unwrap();
        assert!(c.changes.iter().all(|ch| ch.full_name.starts_with("d365fo.integrations.odata.İstanbul.")), "{:?}", c.changes);
    }

    #[test]
    fn keys_follow_the_culture_of_the_request_as_to_lower_does() {
        let lower = |c: Casing| with_casing(c, || lower_name("INVOICE İstanbul ΟΔΟΣ"));
        assert_eq!(lower(Casing::Invariant), "invoice İstanbul οδοσ");
        assert_eq!(lower(Casing::Culture), "invoice istanbul οδοσ");
        assert_eq!(lower(Casing::Turkic), "ınvoıce istanbul οδοσ");
        assert_eq!(with_casing(Casing::Turkic, || key("Istanbul", "url")), "d365fo.integrations.odata.ıstanbul.url");
        assert_eq!(lower_name("I"), "i", "the casing is the request's only");
        let _g = serial();
        let (d, s) = store();
        // Made by d365fo.integrations under tr-TR: the key is the Turkish lower case, the .name as typed.
        std::fs::write(
            d.path().join("psf_config.json"),
            format!(
                "[{}]",
                [
                    psf_item("d365fo.integrations.odata.ınvoıce.name", "INVOICE"),
                    psf_item("d365fo.integrations.odata.ınvoıce.url", "https://invoice.example.com"),
                ]
                .join(",")
            ),
        )
        .unwrap();
        with_casing(Casing::Turkic, || {
            let names: Vec<String> = list(&s).unwrap().into_iter().map(|c| c.name).collect();
            assert_eq!(names, ["INVOICE"], "the .name value agrees with its key in this culture");
            set_active(&s, "INVOICE", false, false).unwrap();
            assert_eq!(active(&s).unwrap().url.as_deref(), Some("https://invoice.example.com"));
            let mut r = add_req("Istanbul");
            r.url = Some("https://ist.example.com".into());
            let c = add(&s, &r).unwrap();
            assert!(c.changes.iter().all(|ch| ch.full_name.starts_with("d365fo.integrations.odata.ıstanbul.")), "{:?}", c.changes);
        });
        // The invariant culture's INVOICE is another key ('invoice'), as for the original in that culture.
        assert!(set_active(&s, "INVOICE", false, false).is_err());
    }

    #[test]
    fn import_says_when_a_system_url_is_on_another_host_and_when_it_takes_the_active_choice() {
        let _g = serial();
        let (d, s) = store();
        let other = d.path().join("other");
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(
            other.join("psf_config.json"),
            format!(
                "[{}]",
                [
                    psf_item("d365fo.integrations.odata.far.name", "Far"),
                    psf_item("d365fo.integrations.odata.far.url", "https://uat.example.com"),
                    psf_item("d365fo.integrations.odata.far.systemurl", "https://collector.example.net"),
                    psf_item("d365fo.integrations.odata.near.name", "Near"),
                    psf_item("d365fo.integrations.odata.near.url", "https://near.example.com"),
                    psf_item("d365fo.integrations.active.odata.config.name", "Far"),
                ]
                .join(",")
            ),
        )
        .unwrap();
        let plan = import(&s, &other, None, false, true).unwrap();
        assert_eq!(plan.notes.len(), 2, "{:?}", plan.notes);
        assert!(
            plan.notes[0].contains("'Far'") && plan.notes[0].contains("collector.example.net") && plan.notes[0].contains("uat.example.com")
        );
        assert!(plan.notes[1].contains("'Far' becomes the active OData configuration"), "{}", plan.notes[1]);
        assert!(s.read().unwrap().is_empty(), "a dry run changes nothing");
        let done = import(&s, &other, None, false, false).unwrap();
        assert!(done.active_changed && done.notes.len() == 2);
        // With an active choice of our own, nothing is taken over and nothing said about it.
        let again = import(&s, &other, None, true, false).unwrap();
        assert!(!again.active_changed && again.notes.len() == 1, "{:?}", again.notes);
    }
}
