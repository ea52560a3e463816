//! The C ABI (see include/d365fo_interactive.h for the contract). Every exported body runs inside
//! `boundary`, so no panic ever unwinds into the host; every pointer is checked before use.

use crate::cancel::CancelToken;
use crate::error::{Code, CoreError};
use crate::protocol::Event;
use std::collections::HashMap;
use std::ffi::{CStr, CString, c_char, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once, OnceLock};

/// Callback for flow events: userdata first, then a NUL-terminated UTF-8 JSON object.
pub type EventCallback = Option<unsafe extern "C" fn(userdata: *mut c_void, event_json: *const c_char)>;

static VERSION: &CStr = match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
    Ok(v) => v,
    Err(_) => panic!("version string"),
};

thread_local! {
    /// How deep this thread is inside exported functions (the panic hook stays quiet only there).
    static INSIDE: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Runs `f`, turning a panic into `on_panic`. A panic inside the boundary is caught and reported as a
/// result code, so the host's stderr is left alone (unless D365FO_DEBUG_PANICS is set); panics elsewhere in
/// the process (the host's own threads, tests) keep the default hook.
fn boundary<T>(on_panic: T, f: impl FnOnce() -> T) -> T {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if INSIDE.with(|d| d.get()) == 0 || std::env::var_os("D365FO_DEBUG_PANICS").is_some() {
                default(info);
            }
        }));
    });
    INSIDE.with(|d| d.set(d.get() + 1));
    let r = catch_unwind(AssertUnwindSafe(f));
    INSIDE.with(|d| d.set(d.get() - 1));
    r.unwrap_or(on_panic)
}

/// Reads a required NUL-terminated UTF-8 input string.
///
/// # Safety
/// `p` must be NULL or point to a NUL-terminated string valid for the call.
unsafe fn input_str<'a>(p: *const c_char, what: &str) -> Result<&'a str, CoreError> {
    if p.is_null() {
        return Err(CoreError::new(Code::NullParameter, format!("{what} is NULL")));
    }
    // SAFETY: non-NULL and NUL-terminated per the caller's contract.
    unsafe { CStr::from_ptr(p) }.to_str().map_err(|_| CoreError::new(Code::InvalidUtf8, format!("{what} is not valid UTF-8")))
}

/// Hands a Rust string to the caller; interior NULs (impossible in JSON output) are dropped defensively.
fn output_string(s: String) -> *mut c_char {
    let bytes: Vec<u8> = s.into_bytes().into_iter().filter(|b| *b != 0).collect();
    CString::new(bytes).map(CString::into_raw).unwrap_or(std::ptr::null_mut())
}

/// Writes `result` into `out` (when non-NULL) and returns its code.
///
/// # Safety
/// `out` must be NULL or valid for one pointer write.
unsafe fn finish(result: Result<String, CoreError>, out: *mut *mut c_char) -> i32 {
    let (code, text) = match result {
        Ok(s) => (Code::Ok, s),
        Err(e) => (e.code, e.to_json()),
    };
    if !out.is_null() {
        // SAFETY: checked non-NULL; the caller provides space for one pointer.
        unsafe { *out = output_string(text) };
    }
    code as i32
}

fn panic_json() -> String {
    CoreError::new(Code::Panic, "internal error in the native core (a bug); nothing was saved or sent after it").to_json()
}

#[unsafe(no_mangle)]
pub extern "C" fn d365fo_abi_version() -> u32 {
    crate::ABI_VERSION
}

#[unsafe(no_mangle)]
pub extern "C" fn d365fo_version() -> *const c_char {
    VERSION.as_ptr()
}

/// # Safety
/// `s` must be NULL or a string returned by this library and not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn d365fo_string_free(s: *mut c_char) {
    boundary((), || {
        if !s.is_null() {
            // SAFETY: produced by CString::into_raw in output_string, freed once per the contract.
            drop(unsafe { CString::from_raw(s) });
        }
    })
}

fn cancel_registry() -> &'static Mutex<HashMap<u64, Arc<CancelToken>>> {
    static REG: OnceLock<Mutex<HashMap<u64, Arc<CancelToken>>>> = OnceLock::new();
    REG.get_or_init(|| Mutex::new(HashMap::new()))
}

static NEXT_HANDLE: AtomicU64 = AtomicU64::new(1);

fn lookup_cancel(handle: u64) -> Option<Arc<CancelToken>> {
    cancel_registry().lock().unwrap_or_else(|p| p.into_inner()).get(&handle).cloned()
}

/// # Safety
/// `out_handle` must be NULL or valid for one u64 write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn d365fo_cancel_new(out_handle: *mut u64) -> i32 {
    boundary(Code::Panic as i32, || {
        if out_handle.is_null() {
            return Code::NullParameter as i32;
        }
        let id = NEXT_HANDLE.fetch_add(1, Ordering::Relaxed);
        cancel_registry().lock().unwrap_or_else(|p| p.into_inner()).insert(id, CancelToken::new());
        // SAFETY: checked non-NULL.
        unsafe { *out_handle = id };
        Code::Ok as i32
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn d365fo_cancel_request(handle: u64) -> i32 {
    boundary(Code::Panic as i32, || match lookup_cancel(handle) {
        Some(t) => {
            t.cancel();
            Code::Ok as i32
        }
        None => Code::InvalidHandle as i32,
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn d365fo_cancel_free(handle: u64) -> i32 {
    boundary(Code::Panic as i32, || match cancel_registry().lock().unwrap_or_else(|p| p.into_inner()).remove(&handle) {
        Some(_) => Code::Ok as i32,
        None => Code::InvalidHandle as i32,
    })
}

/// # Safety
/// `request_json` must be NULL or NUL-terminated; `out_json` NULL or valid for one pointer write;
/// `cb`, when given, must be callable with `userdata` for the duration of the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn d365fo_call(
    request_json: *const c_char,
    cancel: u64,
    cb: EventCallback,
    userdata: *mut c_void,
    out_json: *mut *mut c_char,
) -> i32 {
    let code = boundary(None, || {
        let result = (|| {
            // SAFETY: per this function's contract.
            let request = unsafe { input_str(request_json, "request_json") }?;
            let token = if cancel == 0 {
                CancelToken::new()
            } else {
                lookup_cancel(cancel).ok_or_else(|| CoreError::new(Code::InvalidHandle, "unknown cancellation handle"))?
            };
            let mut emit = |event: Event| {
                let Some(f) = cb else { return };
                if let Ok(c) = serde_json::to_string(&event).map_err(|_| ()).and_then(|j| CString::new(j).map_err(|_| ())) {
                    // SAFETY: the caller guarantees cb/userdata are valid during this call.
                    unsafe { f(userdata, c.as_ptr()) };
                }
            };
            crate::api::handle(request, &token, &mut emit)
        })();
        // SAFETY: per this function's contract.
        Some(unsafe { finish(result, out_json) })
    });
    code.unwrap_or_else(|| {
        if !out_json.is_null() {
            // SAFETY: per this function's contract.
            unsafe { *out_json = output_string(panic_json()) };
        }
        Code::Panic as i32
    })
}
