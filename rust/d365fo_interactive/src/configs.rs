//! OData configurations, as d365fo.integrations keeps them: in the shared store (`store`), under the names
//! `d365fo.integrations.odata.<lower-case name>.<property>` (name, tenant, url, systemurl, clientid,
//! clientsecret) and `d365fo.integrations.active.odata.config.name`, plus this session's temporary ones
//! (`-Temporary`), which live in this process only, as PSFramework keeps them in memory.
//!
//! Behaviour follows the original: names compare without regard to case; `Add -Force` changes only the
//! values given (a missing SystemUrl takes the Url); the client secret is stored and returned as is.
//! Unlike the original, every value is checked when it enters (the same checks as at sign-in).

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

/// Configuration names compare without regard to case.
pub fn same_name(a: &str, b: &str) -> bool {
    a.to_lowercase() == b.to_lowercase()
}

fn key(name: &str, prop: &str) -> String {
    format!("{ODATA_PREFIX}{}.{prop}", name.to_lowercase())
}

/// The configurations in a set of stored values, in the order first seen, and the active name.
pub fn read_all(entries: &Entries) -> (Vec<Fields>, Option<String>) {
    let mut by_key: BTreeMap<String, (usize, Fields)> = BTreeMap::new();
    let mut active = None;
    for (i, (full, value)) in entries.iter().enumerate() {
        let lower = full.to_lowercase();
        if lower == ACTIVE_KEY {
            active = value.text().map(str::to_string).filter(|v| !v.is_empty());
            continue;
        }
        let Some(rest) = lower.strip_prefix(ODATA_PREFIX) else { continue };
        let Some((name_key, prop)) = rest.rsplit_once('.') else { continue };
        if name_key.is_empty() || !PROPERTIES.contains(&prop) {
            continue;
        }
        let entry = by_key.entry(name_key.to_string()).or_insert_with(|| (i, Fields::default()));
        let text = value.text().map(str::to_string).filter(|v| !v.is_empty());
        match prop {
            "name" => entry.1.name = text.unwrap_or_default(),
            p => entry.1.set(p, text),
        }
    }
    let mut found: Vec<(usize, Fields)> = by_key
        .into_iter()
        // d365fo.integrations lists only configurations that have a .name value.
        .filter(|(_, (_, f))| !f.name.is_empty())
        .map(|(k, (i, mut f))| {
            if !same_name(&f.name, &k) {
                f.name = k;
            }
            (i, f)
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
    all.sort_by_key(|c| c.name.to_lowercase());
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

/// Add-D365ODataConfig: every value checked first; nothing is stored when one is refused.
/// The values of a configuration as they enter (Add-D365ODataConfig, Import-D365ODataConfig), checked by the
/// validators the sign-in uses and normalized; without a SystemUrl, the Url is also where the data commands
/// call, as in d365fo.integrations.
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
    Ok(Fields { systemurl: checked_fields.systemurl.clone().or_else(|| checked_fields.url.clone()), ..checked_fields })
}

pub fn add(store: &Store, req: &ConfigAddRequest) -> CoreResult<ConfigChange> {
    let given = check_fields(&Fields {
        name: req.name.clone(),
        tenant: req.tenant.clone(),
        url: req.url.clone(),
        systemurl: req.systemurl.clone(),
        clientid: req.clientid.clone(),
        clientsecret: req.clientsecret.clone(),
    })?;
    let name = given.name.clone();
    let mut changes: Vec<Change> = vec![(key(&name, "name"), Some(NewValue::Text(name.clone())))];
    for prop in &PROPERTIES[1..] {
        if let Some(v) = given.get(prop) {
            changes.push((key(&name, prop), Some(NewValue::Text(v.clone()))));
        }
    }

    let mut s = session();
    let entries = store.read()?;
    let (stored, _) = read_all(&entries);
    let existing =
        s.configs.iter().find(|t| same_name(&t.name, &name)).or_else(|| stored.iter().find(|f| same_name(&f.name, &name))).cloned();
    if existing.is_some() && !req.force {
        return Err(CoreError::new(Code::AlreadyExists, exists_message(&name)));
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
                    let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("").to_lowercase();
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
                    file.entries().into_iter().filter(|(n, _)| n.to_lowercase().starts_with("d365fo.integrations.")).collect();
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
    for f in chosen {
        if existing.iter().any(|e| same_name(&e.name, &f.name)) && !force {
            skipped.push(f.name.clone());
            continue;
        }
        // The same checks as Add-D365ODataConfig: what the sign-in would refuse does not enter the store.
        let f = match check_fields(f) {
            Ok(f) => f,
            Err(e) => {
                refused.push(Refused { name: crate::text::printable(&f.name), reason: e.message });
                continue;
            }
        };
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
}
