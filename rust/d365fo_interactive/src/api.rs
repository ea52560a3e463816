//! The ABI's one entry (`d365fo_call`): parses a typed request, resolves what it needs from the environment
//! and the store (the only place that reads either), runs it, and answers with typed JSON.
//!
//! `handle_with` takes the environment and the seams (clock, transport) as arguments, so tests run every
//! operation with the environment they choose, whatever `D365FO_*` variables the developer has set.

use crate::cancel::CancelToken;
use crate::clock::{Clock, RealClock};
use crate::configs;
use crate::desktop::Desktop;
use crate::error::{Code, CoreError, CoreResult};
use crate::flow::{Context, Plan};
use crate::http::{self, HttpOptions, Transport, UreqTransport};
use crate::protocol::{ConfigAddRequest, ConfigChange, Event, Request, SettingsAnswer, SignInRequest, StoreChange, TokenAnswer};
use crate::psf::{Entries, NewValue};
use crate::session;
use crate::settings::{self, Inputs};
use crate::store::{Change, Store};
use crate::validate;
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// What an operation may read and use besides its request.
pub struct Seams<'a> {
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub clock: &'a dyn Clock,
    /// None: the real HTTP client.
    pub transport: Option<Arc<dyn Transport>>,
}

/// The process environment.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Runs one request with the real environment, clock and network.
pub fn handle(request_json: &str, cancel: &CancelToken, emit: &mut dyn FnMut(Event)) -> CoreResult<String> {
    handle_with(request_json, cancel, emit, &Seams { env: &process_env, clock: &RealClock, transport: None })
}

fn answer(v: impl Serialize) -> CoreResult<String> {
    serde_json::to_string(&v).map_err(|e| CoreError::new(Code::Panic, format!("the answer could not be written as JSON: {e}")))
}

/// Runs one request with the given seams.
pub fn handle_with(request_json: &str, cancel: &CancelToken, emit: &mut dyn FnMut(Event), seams: &Seams) -> CoreResult<String> {
    let request: Request = serde_json::from_str(request_json).map_err(|e| CoreError::invalid(format!("the request is not valid: {e}")))?;
    // The culture whose lower case makes and finds configuration keys, as the original's `ToLower()` (a field
    // of every request; absent: invariant).
    #[derive(serde::Deserialize)]
    struct Culture {
        #[serde(default)]
        casing: configs::Casing,
    }
    let casing =
        serde_json::from_str::<Culture>(request_json).map_err(|e| CoreError::invalid(format!("the request is not valid: {e}")))?.casing;
    crate::store::take_notes();
    let out = configs::with_casing(casing, || dispatch(request, cancel, emit, seams));
    // What the store raised on the way (a repaired file, a temporary file that could not be removed).
    for n in crate::store::take_notes() {
        emit(if n.verbose { Event::Log { message: n.message } } else { Event::Notice { message: n.message } });
    }
    out
}

fn dispatch(request: Request, cancel: &CancelToken, emit: &mut dyn FnMut(Event), seams: &Seams) -> CoreResult<String> {
    let env = seams.env;
    match request {
        Request::SignIn(r) => answer(sign_in(&r, cancel, emit, seams)?),
        Request::SessionLookup { bearer } => answer(json!({ "session": session::lookup_bearer(&bearer) })),
        Request::SessionToken { session, min_valid_secs, system_proxy } => {
            let make = |plan: &Plan| -> CoreResult<Arc<dyn Transport>> {
                match &seams.transport {
                    Some(t) => Ok(Arc::clone(t)),
                    None => real_transport(plan, system_proxy.as_deref(), env),
                }
            };
            let min = min_valid_secs.unwrap_or(session::REUSE_MIN_SECS);
            answer(session::token_for(session, min, seams.clock, cancel, emit, &make)?)
        }
        Request::SettingsGet => {
            let store = open_store(env, emit)?;
            let entries = store.read()?;
            answer(SettingsAnswer { settings: report(&entries, env), changes: vec![] })
        }
        Request::SettingsSet { values, reset } => answer(settings_set(&values, &reset, env, emit)?),
        Request::ConfigList => answer(json!({ "configs": configs::list(&open_store(env, emit)?)? })),
        Request::ConfigActive => answer(configs::active(&open_store(env, emit)?)?),
        Request::ConfigAdd(r) => answer(config_add(&r, env, emit)?),
        Request::ConfigSetActive { name, temporary, dry_run } => {
            answer(configs::set_active(&open_store(env, emit)?, &name, temporary, dry_run)?)
        }
        Request::ConfigScan { path } => answer(configs::scan(&PathBuf::from(path))?),
        Request::ConfigImport { path, names, force, dry_run } => {
            answer(configs::import(&open_store(env, emit)?, &PathBuf::from(path), names.as_deref(), force, dry_run)?)
        }
        Request::StoreInfo => {
            let store = Store::locate(env)?;
            answer(
                json!({ "location": store.describe(), "kind": match store { Store::File(_) => "file", Store::Registry(_) => "registry" } }),
            )
        }
        Request::Environment => answer(json!({ "names": settings::ENVIRONMENT })),
        Request::EnvironmentSet { values } => answer(json!({ "changed": environment_set(&values)? })),
        Request::SessionClear => {
            session::clear();
            answer(json!({}))
        }
        #[cfg(feature = "test-hooks")]
        Request::TestPanic => panic!("forced panic (test-hooks build)"),
    }
}

/// Makes the process environment hold `values` for the variables the core reads, changing only those that
/// differ; returns the names changed. Every name is checked before anything changes.
fn environment_set(values: &BTreeMap<String, Option<String>>) -> CoreResult<Vec<String>> {
    if let Some(name) = values.keys().find(|n| !settings::ENVIRONMENT.contains(&n.as_str())) {
        return Err(CoreError::invalid(format!(
            "the core does not read the environment variable '{}'; only its own are handed over",
            crate::text::printable(name)
        )));
    }
    if let Some((name, _)) = values.iter().find(|(_, v)| v.as_deref().is_some_and(|v| v.contains('\0'))) {
        return Err(CoreError::invalid(format!("the value of {name} holds a NUL character")));
    }
    let mut changed = Vec::new();
    for (name, wanted) in values {
        let now = std::env::var_os(name);
        if now.as_deref() == wanted.as_deref().map(std::ffi::OsStr::new) {
            continue;
        }
        // SAFETY: set_var and remove_var take the standard library's environment write lock, and every read
        // of the environment in the core (std::env::var, through `process_env` and the crates it uses: the
        // browser launcher, the clipboard, TLS roots) takes its read lock, so no Rust thread of this process
        // reads while the value changes. The cmdlets no longer call libc's setenv themselves (they did, under a
        // lock of their own that the core's threads did not take).
        unsafe {
            match wanted {
                Some(v) => std::env::set_var(name, v),
                None => std::env::remove_var(name),
            }
        }
        changed.push(name.clone());
    }
    Ok(changed)
}

/// The store, with an earlier version's own store carried over into it the first time in this process.
fn open_store(env: &dyn Fn(&str) -> Option<String>, emit: &mut dyn FnMut(Event)) -> CoreResult<Store> {
    let store = Store::locate(env)?;
    static MIGRATED: Mutex<Vec<Store>> = Mutex::new(Vec::new());
    let mut done = MIGRATED.lock().unwrap_or_else(|p| p.into_inner());
    if !done.contains(&store) {
        match crate::legacy::migrate(&store, env) {
            Ok(notes) => notes.into_iter().for_each(|message| emit(Event::Notice { message })),
            Err(e) => {
                emit(Event::Notice { message: format!("The earlier version's configurations could not be carried over: {}", e.message) })
            }
        }
        done.push(store.clone());
    }
    Ok(store)
}

fn report(entries: &Entries, env: &dyn Fn(&str) -> Option<String>) -> Vec<settings::Report> {
    let none = BTreeMap::new();
    settings::report(&Inputs { request: &none, env, stored: &|k| configs::stored_text(entries, k) })
}

fn settings_set(
    values: &BTreeMap<String, serde_json::Value>,
    reset: &[String],
    env: &dyn Fn(&str) -> Option<String>,
    emit: &mut dyn FnMut(Event),
) -> CoreResult<SettingsAnswer> {
    let mut changes: Vec<Change> = Vec::new();
    for name in reset {
        let s = settings::find(name).ok_or_else(|| unknown_setting(name))?;
        changes.push((s.stored_key.to_string(), None));
    }
    for (name, value) in values {
        let s = settings::find(name).ok_or_else(|| unknown_setting(name))?;
        let checked = settings::check_json(s, value, &format!("-{}", s.name))?;
        let stored = match checked {
            settings::Checked::Flag(b) => NewValue::Bool(b),
            // Bounded by the setting's validator (1..600 s), so it fits PSFramework's Int.
            settings::Checked::Seconds(n) => NewValue::Int(i32::try_from(n).unwrap_or(i32::MAX)),
            other => NewValue::Text(other.to_stored_text()),
        };
        changes.push((s.stored_key.to_string(), Some(stored)));
    }
    let mirrored: Vec<StoreChange> = changes
        .iter()
        .map(|(k, v)| StoreChange { full_name: k.clone(), value: v.as_ref().map_or(serde_json::Value::Null, NewValue::to_json) })
        .collect();
    let store = open_store(env, emit)?;
    store.update(|_| Ok((changes, ())))?;
    Ok(SettingsAnswer { settings: report(&store.read()?, env), changes: mirrored })
}

fn unknown_setting(name: &str) -> CoreError {
    let known: Vec<&str> = settings::TABLE.iter().map(|s| s.name).collect();
    CoreError::invalid(format!("There is no setting '{}'; the settings are {}.", crate::text::printable(name), known.join(", ")))
}

fn config_add(r: &ConfigAddRequest, env: &dyn Fn(&str) -> Option<String>, emit: &mut dyn FnMut(Event)) -> CoreResult<ConfigChange> {
    configs::add(&open_store(env, emit)?, r)
}

/// The real HTTP client for a plan, with the proxy chosen for its authority.
fn real_transport(plan: &Plan, system_proxy: Option<&str>, env: &dyn Fn(&str) -> Option<String>) -> CoreResult<Arc<dyn Transport>> {
    let proxy = http::choose_proxy(&plan.settings.authority_url, system_proxy, env)?;
    let options = HttpOptions { proxy, timeout: plan.settings.http_timeout, connect_timeout: plan.settings.connect_timeout };
    Ok(Arc::new(UreqTransport::new(&options)?))
}

/// Resolves what a sign-in needs: tenant and Url from the parameters or else the active configuration,
/// the settings, the desktop. Nothing is sent when this fails.
pub fn plan_sign_in(r: &SignInRequest, env: &dyn Fn(&str) -> Option<String>, emit: &mut dyn FnMut(Event)) -> CoreResult<Plan> {
    let given = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    let (mut tenant, mut url) = (given(&r.tenant), given(&r.url));
    // The store may be unreadable; a sign-in with tenant and Url given must still work.
    let (entries, active) = match open_store(env, emit).and_then(|s| Ok((s.read()?, configs::active(&s).ok()))) {
        Ok(found) => found,
        Err(e) => {
            emit(Event::Log { message: format!("the configuration store could not be read, so no stored settings apply: {}", e.message) });
            (Vec::new(), None)
        }
    };
    if (tenant.is_none() || url.is_none())
        && let Some(c) = &active
    {
        let mut used = Vec::new();
        if tenant.is_none() {
            tenant = c.tenant.clone();
            used.push("Tenant");
        }
        if url.is_none() {
            url = c.url.clone();
            used.push("Url");
        }
        emit(Event::Log { message: format!("using the active OData configuration '{}' for {}", c.name, used.join(" and ")) });
    }
    let Some(url) = url else {
        return Err(CoreError::new(
            Code::UrlMissing,
            "It seems that you didn't supply a valid value for the Url parameter. You need specify the Url parameter or add a configuration with the Add-D365ODataConfig cmdlet.",
        ));
    };
    let Some(tenant) = tenant else {
        return Err(CoreError::new(
            Code::TenantMissing,
            "It seems that you didn't supply a valid value for the Tenant parameter. You need specify the Tenant parameter or add a configuration with the Add-D365ODataConfig cmdlet.",
        ));
    };
    if url.ends_with('/') {
        emit(Event::Log { message: "the Url ends with '/', which Entra ID does not want in a resource; it is left out".into() });
    }
    let tenant = validate::tenant(&tenant)?;
    let resource = validate::resource_url(&url)?;
    let timeout_secs = validate::timeout_secs(r.timeout_secs)?;
    let mut overrides: BTreeMap<&'static str, String> = BTreeMap::new();
    for (key, v) in [
        (settings::AUTHORITY.key, r.authority.clone()),
        (settings::ENDPOINT_VERSION.key, r.endpoint_version.clone()),
        (settings::CLIENT_ID.key, r.client_id.clone()),
        (settings::NO_BROWSER.key, r.no_browser.map(|b| b.to_string())),
        (settings::HTTP_TIMEOUT.key, r.http_timeout_secs.map(|n| n.to_string())),
    ] {
        if let Some(v) = v {
            overrides.insert(key, v);
        }
    }
    let settings = settings::resolve_sign_in(&Inputs { request: &overrides, env, stored: &|k| configs::stored_text(&entries, k) })?;
    Ok(Plan { tenant, resource, timeout_secs, settings, desktop: Desktop::from_env(env), no_clipboard: r.no_clipboard })
}

fn sign_in(r: &SignInRequest, cancel: &CancelToken, emit: &mut dyn FnMut(Event), seams: &Seams) -> CoreResult<TokenAnswer> {
    let plan = plan_sign_in(r, seams.env, emit)?;
    #[cfg(feature = "test-hooks")]
    if plan.tenant == crate::flow::PANIC_BEFORE_SENDING {
        panic!("forced panic (test-hooks build)");
    }
    let transport = match seams.transport.clone() {
        Some(t) => t,
        None => {
            let proxy = http::choose_proxy(&plan.settings.authority_url, r.system_proxy.as_deref(), seams.env)?;
            if let Some(p) = &proxy {
                emit(Event::Log { message: format!("using the proxy {} for {}", http::proxy_for_log(p), plan.host()) });
            }
            real_transport(&plan, r.system_proxy.as_deref(), seams.env)?
        }
    };
    let mut ctx = Context { clock: seams.clock, transport, cancel, emit };
    session::sign_in(&plan, r.force, &mut ctx)
}
