//! The OData configuration store and module settings, driven by JSON requests from `d365fo_config`.
//!
//! Persisted data lives in `store` (one JSON file per user). Temporary configurations and a temporary active
//! selection (`"temporary": true`) live only in this process: the core is loaded once per PowerShell process,
//! so they last for the session and never touch the file.
//!
//! Operations (request → answer on D365FO_OK; errors use the codes of the header):
//! - `{"op":"add","name":..,"tenant"?,"url"?,"systemurl"?,"clientid"?,"clientsecret"?,"temporary"?:bool,"force"?:bool}`
//!   → the configuration object. `systemurl` defaults to `url`; trailing slashes are removed from both.
//!   ALREADY_EXISTS when the name exists (case-insensitively) and force is not set; INVALID_REQUEST for an empty
//!   name or one with a wildcard character.
//! - `{"op":"list","show_secret"?:bool,"migration_hint"?:bool}` → `{"configurations":[config..]}`, sorted by
//!   name; with migration_hint and no configurations at all, also `"psframework":{"count":n,"names":[..],"sources":[..]}`
//!   when d365fo.integrations has persisted configurations.
//! - `{"op":"get","name":..,"show_secret"?:bool}` → the configuration object; NOT_FOUND.
//! - `{"op":"get_active","show_secret"?:bool}` → the active configuration object; NOT_FOUND when none is active
//!   (or the active name no longer exists).
//! - `{"op":"set_active","name":..,"temporary"?:bool}` → the configuration object; INVALID_REQUEST for a
//!   wildcard, NOT_FOUND for an unknown name.
//! - `{"op":"get_settings"}` → `{"authority","endpoint_version","client_id","no_browser"}`: the stored values,
//!   null where nothing is stored.
//! - `{"op":"set_settings","authority"?,"endpoint_version"?,"client_id"?,"no_browser"?:bool,"reset"?:[names]}`
//!   → the stored values as get_settings. Names in reset: authority, endpoint_version, client_id, no_browser.
//! - `{"op":"effective_settings"}` → `{"settings":[{"name","value","source":"environment"|"stored"|"default",
//!   "environment_variable","default"}..]}`.
//! - `{"op":"psframework_scan","path"?:..,"show_secret"?:bool}` → `{"configurations":[config..],"active":name|null,
//!   "sources":[..],"problems":[..]}` (d365fo.integrations' persisted configurations; read only).
//! - `{"op":"import_psframework","path"?:..,"names"?:[..],"force"?:bool}` → `{"imported":[config..],
//!   "skipped":[name..],"active_set":name|null}`; copies into our store (never changes theirs); existing names are
//!   skipped unless force; their active name becomes ours when we have none.
//! - `{"op":"store_info"}` → `{"path","lock_path","dir","schema_version","exists"}`.
//!
//! A configuration object is `{"name","tenant","url","systemurl","clientid","clientsecret","temporary","active"}`;
//! absent values are null; `clientsecret` is `"********"` when a secret is set unless show_secret is true.

use crate::error::{Code, CoreError, CoreResult};
use crate::psframework;
use crate::store::{SettingsData, Store, StoreData, StoredConfig, StoredSecret, same_name};
use serde_json::{Map, Value, json};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

/// What a secret is replaced with wherever it is shown without being asked for.
pub const SECRET_MASK: &str = "********";

/// Default authority base URL.
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
/// Default endpoint version (d365fo.integrations signs in against the v1 endpoints).
pub const DEFAULT_ENDPOINT_VERSION: &str = "v1";
/// Default client id of the interactive flow: the Azure PowerShell public client.
pub const DEFAULT_CLIENT_ID: &str = "1950a258-227b-4e31-a9cf-717495945fc2";

/// Module settings saved in the store; environment variables override them (see `flow`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoredSettings {
    pub authority: Option<String>,
    pub endpoint_version: Option<String>,
    pub client_id: Option<String>,
    pub no_browser: Option<bool>,
}

/// The settings saved in the store, read now (so a change applies to the next sign-in).
/// A store that cannot be read yields no stored settings; the flow then uses environment and defaults.
pub fn stored_settings() -> StoredSettings {
    match Store::locate().and_then(|s| s.read()) {
        Ok(data) => StoredSettings {
            authority: data.settings.authority,
            endpoint_version: data.settings.endpoint_version,
            client_id: data.settings.client_id,
            no_browser: data.settings.no_browser,
        },
        Err(_) => StoredSettings::default(),
    }
}

/// Configurations and the active selection that exist only in this process.
struct Session {
    configs: Vec<SessionConfig>,
    active: Option<String>,
}

#[derive(Clone)]
struct SessionConfig {
    fields: Fields,
    secret: Option<String>,
}

/// The non-secret fields of a configuration.
#[derive(Clone, Default, Debug, PartialEq)]
struct Fields {
    name: String,
    tenant: Option<String>,
    url: Option<String>,
    systemurl: Option<String>,
    clientid: Option<String>,
}

enum Secret {
    None,
    Clear(String),
    Stored(StoredSecret),
}

/// One configuration as the caller sees it (persisted or temporary).
struct View {
    fields: Fields,
    secret: Secret,
    temporary: bool,
}

impl View {
    fn to_json(&self, show_secret: bool, active: Option<&str>) -> CoreResult<Value> {
        let secret = match (&self.secret, show_secret) {
            (Secret::None, _) => Value::Null,
            (_, false) => json!(SECRET_MASK),
            (Secret::Clear(s), true) => json!(s),
            (Secret::Stored(s), true) => json!(s.reveal().map_err(|e| CoreError::new(e.code, format!("{} (configuration '{}')", e.message, self.fields.name)))?),
        };
        let f = &self.fields;
        Ok(json!({
            "name": f.name,
            "tenant": f.tenant,
            "url": f.url,
            "systemurl": f.systemurl,
            "clientid": f.clientid,
            "clientsecret": secret,
            "temporary": self.temporary,
            "active": active.is_some_and(|a| same_name(a, &f.name)),
        }))
    }
}

fn session() -> MutexGuard<'static, Session> {
    static SESSION: Mutex<Session> = Mutex::new(Session { configs: Vec::new(), active: None });
    // A poisoned lock only means an earlier request panicked; the data is still consistent enough to use.
    SESSION.lock().unwrap_or_else(|p| p.into_inner())
}

/// Handles one `{"op": ...}` request and returns the answer as JSON.
pub fn handle_request(request_json: &str) -> CoreResult<String> {
    let req: Value = serde_json::from_str(request_json).map_err(|e| CoreError::invalid(format!("request is not JSON: {e}")))?;
    if !req.is_object() {
        return Err(CoreError::invalid("request is not a JSON object"));
    }
    let answer = match req.get("op").and_then(Value::as_str) {
        Some("test_panic") if std::env::var("D365FO_TEST_HOOKS").as_deref() == Ok("1") => {
            panic!("forced panic (D365FO_TEST_HOOKS)")
        }
        Some("add") => add(&req)?,
        Some("list") => list(&req)?,
        Some("get") => get(&req)?,
        Some("get_active") => get_active(&req)?,
        Some("set_active") => set_active(&req)?,
        Some("get_settings") => settings_json(&Store::locate()?.read()?.settings),
        Some("set_settings") => set_settings(&req)?,
        Some("effective_settings") => effective_settings_json(),
        Some("psframework_scan") => psframework_scan(&req)?,
        Some("import_psframework") => import_psframework(&req)?,
        Some("store_info") => store_info()?,
        Some(op) => return Err(CoreError::invalid(format!("unknown configuration operation '{op}'"))),
        None => return Err(CoreError::invalid("request has no \"op\"")),
    };
    Ok(answer.to_string())
}

fn opt_str(req: &Value, key: &str) -> CoreResult<Option<String>> {
    match req.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(CoreError::invalid(format!("\"{key}\" must be a string"))),
    }
}

fn flag(req: &Value, key: &str) -> CoreResult<bool> {
    match req.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(CoreError::invalid(format!("\"{key}\" must be true or false"))),
    }
}

fn required_name(req: &Value) -> CoreResult<String> {
    opt_str(req, "name")?.filter(|n| !n.trim().is_empty()).ok_or_else(|| CoreError::invalid("The name of the OData configuration is missing."))
}

fn has_wildcard(name: &str) -> bool {
    name.contains(['*', '?', '[', ']'])
}

const WILDCARD_MESSAGE: &str = "The name cannot contain wildcard character.";

fn trim_slashes(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim_end_matches('/').to_string()).filter(|s| !s.is_empty())
}

fn stored_fields(c: &StoredConfig) -> Fields {
    Fields { name: c.name.clone(), tenant: c.tenant.clone(), url: c.url.clone(), systemurl: c.systemurl.clone(), clientid: c.clientid.clone() }
}

/// Persisted configurations overlaid by this session's temporary ones, sorted by name.
fn all_views(data: &StoreData, s: &Session) -> Vec<View> {
    let mut views: Vec<View> = data
        .configurations
        .iter()
        .filter(|c| !s.configs.iter().any(|t| same_name(&t.fields.name, &c.name)))
        .map(|c| View {
            fields: stored_fields(c),
            secret: c.clientsecret.clone().map_or(Secret::None, Secret::Stored),
            temporary: false,
        })
        .collect();
    views.extend(s.configs.iter().map(|t| View {
        fields: t.fields.clone(),
        secret: t.secret.clone().map_or(Secret::None, Secret::Clear),
        temporary: true,
    }));
    views.sort_by_key(|v| v.fields.name.to_lowercase());
    views
}

fn active_name(data: &StoreData, s: &Session) -> Option<String> {
    s.active.clone().or_else(|| data.active.clone())
}

fn exists_message(name: &str) -> String {
    format!("An OData configuration with {name} as name already exists. If you want to overwrite the current configuration, please supply the -Force parameter.")
}

fn add(req: &Value) -> CoreResult<Value> {
    let name = required_name(req)?;
    if has_wildcard(&name) {
        return Err(CoreError::invalid(WILDCARD_MESSAGE));
    }
    let url = trim_slashes(opt_str(req, "url")?);
    let systemurl = trim_slashes(opt_str(req, "systemurl")?).or_else(|| url.clone());
    let fields = Fields { name: name.clone(), tenant: opt_str(req, "tenant")?, url, systemurl, clientid: opt_str(req, "clientid")? };
    let secret = opt_str(req, "clientsecret")?;
    let temporary = flag(req, "temporary")?;
    let force = flag(req, "force")?;
    let store = Store::locate()?;

    let mut s = session();
    if !force && s.configs.iter().any(|t| same_name(&t.fields.name, &name)) {
        return Err(CoreError::new(Code::AlreadyExists, exists_message(&name)));
    }
    let view = if temporary {
        if !force && store.read()?.find(&name).is_some() {
            return Err(CoreError::new(Code::AlreadyExists, exists_message(&name)));
        }
        s.configs.retain(|t| !same_name(&t.fields.name, &name));
        s.configs.push(SessionConfig { fields: fields.clone(), secret: secret.clone() });
        View { fields, secret: secret.map_or(Secret::None, Secret::Clear), temporary: true }
    } else {
        let stored_secret = secret.as_deref().map(StoredSecret::protect).transpose()?;
        let record = StoredConfig {
            name: fields.name.clone(),
            tenant: fields.tenant.clone(),
            url: fields.url.clone(),
            systemurl: fields.systemurl.clone(),
            clientid: fields.clientid.clone(),
            clientsecret: stored_secret,
        };
        store.update(|data| {
            if !force && data.find(&name).is_some() {
                return Err(CoreError::new(Code::AlreadyExists, exists_message(&name)));
            }
            data.upsert(record);
            Ok(())
        })?;
        // Persisting a name replaces this session's temporary one, as Set-PSFConfig + Register-PSFConfig would.
        s.configs.retain(|t| !same_name(&t.fields.name, &name));
        View { fields, secret: secret.map_or(Secret::None, Secret::Clear), temporary: false }
    };
    let data = store.read().unwrap_or_default();
    view.to_json(false, active_name(&data, &s).as_deref())
}

fn list(req: &Value) -> CoreResult<Value> {
    let show = flag(req, "show_secret")?;
    let data = Store::locate()?.read()?;
    let s = session();
    let active = active_name(&data, &s);
    let views = all_views(&data, &s);
    let configs = views.iter().map(|v| v.to_json(show, active.as_deref())).collect::<CoreResult<Vec<_>>>()?;
    let mut answer = json!({ "configurations": configs });
    if configs_empty(&answer) && flag(req, "migration_hint")? {
        let found = psframework::scan(None);
        if !found.configs.is_empty() {
            answer["psframework"] = json!({
                "count": found.configs.len(),
                "names": found.configs.iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
                "sources": found.sources,
            });
        }
    }
    Ok(answer)
}

fn configs_empty(answer: &Value) -> bool {
    answer["configurations"].as_array().is_none_or(Vec::is_empty)
}

fn get(req: &Value) -> CoreResult<Value> {
    let name = required_name(req)?;
    let data = Store::locate()?.read()?;
    let s = session();
    let active = active_name(&data, &s);
    all_views(&data, &s)
        .into_iter()
        .find(|v| same_name(&v.fields.name, &name))
        .ok_or_else(|| CoreError::new(Code::NotFound, format!("No OData configuration named '{name}' exists.")))?
        .to_json(flag(req, "show_secret")?, active.as_deref())
}

fn get_active(req: &Value) -> CoreResult<Value> {
    let data = Store::locate()?.read()?;
    let s = session();
    let Some(active) = active_name(&data, &s) else {
        return Err(CoreError::new(Code::NotFound, "It looks like there isn't configured an active OData configuration."));
    };
    all_views(&data, &s)
        .into_iter()
        .find(|v| same_name(&v.fields.name, &active))
        .ok_or_else(|| {
            CoreError::new(
                Code::NotFound,
                format!("The active OData configuration '{active}' does not exist (any more). Choose another one with Set-D365ActiveODataConfig."),
            )
        })?
        .to_json(flag(req, "show_secret")?, Some(&active))
}

fn set_active(req: &Value) -> CoreResult<Value> {
    let name = required_name(req)?;
    if has_wildcard(&name) {
        return Err(CoreError::invalid(WILDCARD_MESSAGE));
    }
    let temporary = flag(req, "temporary")?;
    let store = Store::locate()?;
    let mut s = session();
    let not_found = || CoreError::new(Code::NotFound, "An OData configuration with that name doesn't exists.");
    let view = if temporary {
        let data = store.read()?;
        let view = all_views(&data, &s).into_iter().find(|v| same_name(&v.fields.name, &name)).ok_or_else(not_found)?;
        s.active = Some(view.fields.name.clone());
        view
    } else {
        let temp = s.configs.iter().find(|t| same_name(&t.fields.name, &name)).cloned();
        let chosen = store.update(|data| {
            let canonical = match (&temp, data.find(&name)) {
                (Some(t), _) => t.fields.name.clone(),
                (None, Some(c)) => c.name.clone(),
                (None, None) => return Err(not_found()),
            };
            data.active = Some(canonical.clone());
            Ok(canonical)
        })?;
        // A persisted choice replaces a temporary one in this session, as in d365fo.integrations.
        s.active = None;
        let data = store.read()?;
        all_views(&data, &s).into_iter().find(|v| same_name(&v.fields.name, &chosen)).ok_or_else(not_found)?
    };
    let active = view.fields.name.clone();
    view.to_json(false, Some(&active))
}

fn settings_json(s: &SettingsData) -> Value {
    json!({
        "authority": s.authority,
        "endpoint_version": s.endpoint_version,
        "client_id": s.client_id,
        "no_browser": s.no_browser,
    })
}

const SETTING_NAMES: [&str; 4] = ["authority", "endpoint_version", "client_id", "no_browser"];

/// Checks an authority base URL: https, or plain http only to a loopback host; returns it without trailing slashes.
pub fn validate_authority(value: &str) -> CoreResult<String> {
    let v = value.trim().trim_end_matches('/');
    let lower = v.to_ascii_lowercase();
    let rest = if let Some(r) = lower.strip_prefix("https://") {
        r
    } else if let Some(r) = lower.strip_prefix("http://") {
        let host = host_of(r);
        if !(host == "localhost" || host == "[::1]" || host.starts_with("127.")) {
            return Err(CoreError::invalid(format!(
                "The authority '{value}' uses plain http to a host that is not this machine; use https (plain http is only allowed to 127.0.0.1, localhost or [::1])."
            )));
        }
        r
    } else {
        return Err(CoreError::invalid(format!("The authority '{value}' is not an absolute https URL, e.g. {DEFAULT_AUTHORITY}.")));
    };
    if host_of(rest).is_empty() || v.chars().any(|c| c.is_whitespace() || c.is_control()) || rest.contains(['?', '#']) {
        return Err(CoreError::invalid(format!("The authority '{value}' is not a valid base URL (scheme and host, optionally a port and path; no query)")));
    }
    Ok(v.to_string())
}

fn host_of(after_scheme: &str) -> &str {
    let authority = after_scheme.split('/').next().unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or("");
    if authority.starts_with('[') {
        return authority.split_inclusive(']').next().unwrap_or("");
    }
    authority.split(':').next().unwrap_or("")
}

fn set_settings(req: &Value) -> CoreResult<Value> {
    let authority = opt_str(req, "authority")?.map(|a| validate_authority(&a)).transpose()?;
    let endpoint_version = match opt_str(req, "endpoint_version")? {
        Some(v) if v.eq_ignore_ascii_case("v1") || v.eq_ignore_ascii_case("v2") => Some(v.to_ascii_lowercase()),
        Some(v) => return Err(CoreError::invalid(format!("The endpoint version '{v}' is not supported; use v1 or v2."))),
        None => None,
    };
    let client_id = match opt_str(req, "client_id")? {
        Some(c) if c.len() > 256 || c.chars().any(|ch| ch.is_whitespace() || ch.is_control()) => {
            return Err(CoreError::invalid("The client id must be a single word without spaces (an application id such as a GUID)."));
        }
        other => other,
    };
    let no_browser = match req.get("no_browser") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return Err(CoreError::invalid("\"no_browser\" must be true or false")),
    };
    let mut reset: Vec<String> = Vec::new();
    match req.get("reset") {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) => {
            for n in a {
                let n = n.as_str().map(str::to_ascii_lowercase).unwrap_or_default();
                if !SETTING_NAMES.contains(&n.as_str()) {
                    return Err(CoreError::invalid(format!("Unknown setting '{n}' to reset; known: {}.", SETTING_NAMES.join(", "))));
                }
                reset.push(n);
            }
        }
        Some(_) => return Err(CoreError::invalid("\"reset\" must be an array of setting names")),
    }
    let store = Store::locate()?;
    let settings = store.update(|data| {
        let s = &mut data.settings;
        for n in &reset {
            match n.as_str() {
                "authority" => s.authority = None,
                "endpoint_version" => s.endpoint_version = None,
                "client_id" => s.client_id = None,
                _ => s.no_browser = None,
            }
        }
        if authority.is_some() {
            s.authority = authority;
        }
        if endpoint_version.is_some() {
            s.endpoint_version = endpoint_version;
        }
        if client_id.is_some() {
            s.client_id = client_id;
        }
        if no_browser.is_some() {
            s.no_browser = no_browser;
        }
        Ok(s.clone())
    })?;
    Ok(settings_json(&settings))
}

/// How the environment spells a boolean setting; None when it is not a boolean word.
pub fn parse_bool_word(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

fn effective_settings_json() -> Value {
    let stored = stored_settings();
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let entry = |name: &str, var: &str, stored: Option<Value>, default: Value| -> Value {
        let (value, source) = match (env(var), stored) {
            (Some(v), _) if name == "no_browser" => (parse_bool_word(&v).map_or(json!(v), |b| json!(b)), "environment"),
            (Some(v), _) => (json!(v), "environment"),
            (None, Some(s)) => (s, "stored"),
            (None, None) => (default.clone(), "default"),
        };
        json!({ "name": name, "value": value, "source": source, "environment_variable": var, "default": default })
    };
    json!({ "settings": [
        entry("authority", "D365FO_AUTHORITY", stored.authority.map(Value::from), json!(DEFAULT_AUTHORITY)),
        entry("endpoint_version", "D365FO_ENDPOINT_VERSION", stored.endpoint_version.map(Value::from), json!(DEFAULT_ENDPOINT_VERSION)),
        entry("client_id", "D365FO_CLIENT_ID", stored.client_id.map(Value::from), json!(DEFAULT_CLIENT_ID)),
        entry("no_browser", "D365FO_NO_BROWSER", stored.no_browser.map(Value::from), json!(false)),
    ]})
}

fn legacy_view(c: &psframework::LegacyConfig) -> View {
    View {
        fields: Fields {
            name: c.name.clone(),
            tenant: c.tenant.clone(),
            url: c.url.clone(),
            systemurl: c.systemurl.clone(),
            clientid: c.clientid.clone(),
        },
        secret: c.clientsecret.clone().map_or(Secret::None, Secret::Clear),
        temporary: false,
    }
}

fn scan_path(req: &Value) -> CoreResult<Option<PathBuf>> {
    let path = opt_str(req, "path")?.map(PathBuf::from);
    if let Some(p) = &path {
        if !p.exists() {
            return Err(CoreError::new(Code::NotFound, format!("The path '{}' does not exist.", p.display())));
        }
    }
    Ok(path)
}

fn psframework_scan(req: &Value) -> CoreResult<Value> {
    let path = scan_path(req)?;
    let show = flag(req, "show_secret")?;
    let found = psframework::scan(path.as_deref());
    let configs = found.configs.iter().map(|c| legacy_view(c).to_json(show, found.active.as_deref())).collect::<CoreResult<Vec<_>>>()?;
    Ok(json!({ "configurations": configs, "active": found.active, "sources": found.sources, "problems": found.problems }))
}

fn import_psframework(req: &Value) -> CoreResult<Value> {
    let path = scan_path(req)?;
    let force = flag(req, "force")?;
    let wanted: Option<Vec<String>> = match req.get("names") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) => Some(a.iter().filter_map(Value::as_str).map(str::to_string).collect()),
        Some(_) => return Err(CoreError::invalid("\"names\" must be an array of configuration names")),
    };
    let found = psframework::scan(path.as_deref());
    let chosen: Vec<&psframework::LegacyConfig> =
        found.configs.iter().filter(|c| wanted.as_ref().is_none_or(|w| w.iter().any(|n| same_name(n, &c.name)))).collect();
    let mut records = Vec::new();
    for c in &chosen {
        records.push(StoredConfig {
            name: c.name.clone(),
            tenant: c.tenant.clone(),
            url: trim_slashes(c.url.clone()),
            systemurl: trim_slashes(c.systemurl.clone()).or_else(|| trim_slashes(c.url.clone())),
            clientid: c.clientid.clone(),
            clientsecret: c.clientsecret.as_deref().map(StoredSecret::protect).transpose()?,
        });
    }
    let store = Store::locate()?;
    let (imported, skipped, active_set) = store.update(|data| {
        let mut imported = Vec::new();
        let mut skipped = Vec::new();
        for r in records {
            if !force && data.find(&r.name).is_some() {
                skipped.push(r.name.clone());
                continue;
            }
            imported.push(r.name.clone());
            data.upsert(r);
        }
        let mut active_set = None;
        if data.active.is_none() {
            if let Some(a) = &found.active {
                if let Some(c) = imported.iter().find(|n| same_name(n, a)) {
                    data.active = Some(c.clone());
                    active_set = Some(c.clone());
                }
            }
        }
        Ok((imported, skipped, active_set))
    })?;
    let data = store.read()?;
    let s = session();
    let active = active_name(&data, &s);
    let views = all_views(&data, &s);
    let imported_json = imported
        .iter()
        .filter_map(|n| views.iter().find(|v| same_name(&v.fields.name, n) && !v.temporary))
        .map(|v| v.to_json(false, active.as_deref()))
        .collect::<CoreResult<Vec<_>>>()?;
    Ok(json!({ "imported": imported_json, "skipped": skipped, "active_set": active_set, "sources": found.sources }))
}

fn store_info() -> CoreResult<Value> {
    let store = Store::locate()?;
    let mut m = Map::new();
    m.insert("path".into(), json!(store.file_path().display().to_string()));
    m.insert("lock_path".into(), json!(store.lock_path().display().to_string()));
    m.insert("dir".into(), json!(store.dir().display().to_string()));
    m.insert("schema_version".into(), json!(crate::store::SCHEMA_VERSION));
    m.insert("exists".into(), json!(store.file_path().exists()));
    Ok(Value::Object(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authority_must_be_https_or_loopback_http() {
        assert_eq!(validate_authority("https://login.microsoftonline.com/").unwrap(), "https://login.microsoftonline.com");
        assert_eq!(validate_authority("http://127.0.0.1:8080").unwrap(), "http://127.0.0.1:8080");
        assert!(validate_authority("http://[::1]:9/x").is_ok());
        assert!(validate_authority("http://evil.example.com").is_err());
        assert!(validate_authority("http://localhost.evil.com").is_err());
        assert!(validate_authority("ftp://x").is_err());
        assert!(validate_authority("https://").is_err());
        assert!(validate_authority("https://a b").is_err());
    }

    #[test]
    fn bool_words() {
        assert_eq!(parse_bool_word("TRUE"), Some(true));
        assert_eq!(parse_bool_word("0"), Some(false));
        assert_eq!(parse_bool_word("maybe"), None);
    }
}
