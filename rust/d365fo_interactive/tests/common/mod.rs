//! What the C ABI tests share: the functions as a host declares them, calling helpers, and an isolated
//! environment (a private store folder, no `D365FO_*` variables of the developer's).
#![allow(dead_code)]

use serde_json::Value;
use std::ffi::{CStr, CString, c_char, c_void};
use std::ptr;
use std::sync::{Mutex, MutexGuard, Once};

// Link the library; the functions below are then resolved by their C names.
use d365fo_interactive as _;

pub type EventCb = Option<unsafe extern "C" fn(*mut c_void, *const c_char)>;

unsafe extern "C" {
    pub fn d365fo_abi_version() -> u32;
    pub fn d365fo_version() -> *const c_char;
    pub fn d365fo_string_free(s: *mut c_char);
    pub fn d365fo_cancel_new(out_handle: *mut u64) -> i32;
    pub fn d365fo_cancel_request(handle: u64) -> i32;
    pub fn d365fo_cancel_free(handle: u64) -> i32;
    pub fn d365fo_call(request_json: *const c_char, cancel: u64, cb: EventCb, userdata: *mut c_void, out_json: *mut *mut c_char) -> i32;
}

pub const OK: i32 = 0;
pub const NULL_PARAMETER: i32 = 1;
pub const INVALID_UTF8: i32 = 2;
pub const INVALID_REQUEST: i32 = 3;
pub const CANCELLED: i32 = 4;
pub const NETWORK_ERROR: i32 = 9;
pub const PROTOCOL_ERROR: i32 = 10;
pub const INVALID_HANDLE: i32 = 14;
pub const PANIC: i32 = 99;

/// Tests in one binary share the process (environment, session); run them one at a time.
pub fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    let g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    isolate();
    g
}

/// Points the store at a private folder and removes every D365FO_* variable, once per test binary.
fn isolate() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let dir = std::env::temp_dir().join(format!("d365fo-abi-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let names: Vec<String> = std::env::vars().map(|(k, _)| k).filter(|k| k.starts_with("D365FO_")).collect();
        // SAFETY: called under the SERIAL lock before any test of this binary runs its body.
        unsafe {
            for k in names {
                std::env::remove_var(k);
            }
            std::env::set_var("XDG_CONFIG_HOME", &dir);
            std::env::set_var("HOME", &dir);
            // Windows: the store is a registry key of this run's own, and the 0.1 store is looked for in APPDATA.
            std::env::set_var("D365FO_CONFIG_REGISTRY_KEY", format!(r"Software\d365fo.interactive.tests\abi-{}", std::process::id()));
            std::env::set_var("APPDATA", &dir);
            std::env::remove_var("DISPLAY");
            std::env::remove_var("WAYLAND_DISPLAY");
            std::env::remove_var("BROWSER");
        }
    });
}

/// Takes ownership of a library string: copies it and frees it with d365fo_string_free.
pub fn take(p: *mut c_char) -> String {
    assert!(!p.is_null(), "out_json was written");
    // SAFETY: a NUL-terminated string from the library, freed exactly once below.
    let s = unsafe { CStr::from_ptr(p) }.to_str().expect("UTF-8").to_string();
    unsafe { d365fo_string_free(p) };
    s
}

/// Calls d365fo_call with a request and returns the code and the answer or error as JSON.
pub fn call(request: &str, cancel: u64, cb: EventCb, userdata: *mut c_void) -> (i32, Value) {
    let req = CString::new(request).unwrap();
    let mut out: *mut c_char = ptr::null_mut();
    // SAFETY: valid pointers for the duration of the call.
    let rc = unsafe { d365fo_call(req.as_ptr(), cancel, cb, userdata, &mut out) };
    (rc, serde_json::from_str(&take(out)).expect("out_json is JSON"))
}

/// An event callback that appends each event's JSON and the thread it ran on to a `Vec<(String, ThreadId)>`.
pub unsafe extern "C" fn collect(userdata: *mut c_void, event: *const c_char) {
    // SAFETY: userdata is the &mut Vec passed by the test; event is valid during the call.
    let events = unsafe { &mut *(userdata as *mut Vec<(String, std::thread::ThreadId)>) };
    let text = unsafe { CStr::from_ptr(event) }.to_str().unwrap().to_string();
    events.push((text, std::thread::current().id()));
}

/// A sign-in request against a fake authority.
pub fn sign_in_request(authority: &str, tenant: &str) -> String {
    serde_json::json!({"op": "sign_in", "force": true, "tenant": tenant, "url": "https://contoso.operations.dynamics.com", "timeout_secs": 30,
        "authority": authority, "no_browser": true, "no_clipboard": true, "http_timeout_secs": 5})
    .to_string()
}
