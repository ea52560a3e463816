//! Crosses the C ABI for every exported function, through the C symbol names as a host would.

use fake_authority::{FakeAuthority, Options};
use serde_json::{Value, json};
use std::ffi::{CStr, CString, c_char, c_void};
use std::ptr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

// Link the library; the functions below are then resolved by their C names.
use d365fo_interactive as _;

type EventCb = Option<unsafe extern "C" fn(*mut c_void, *const c_char)>;

unsafe extern "C" {
    fn d365fo_abi_version() -> u32;
    fn d365fo_version() -> *const c_char;
    fn d365fo_string_free(s: *mut c_char);
    fn d365fo_cancel_new(out_handle: *mut u64) -> i32;
    fn d365fo_cancel_request(handle: u64) -> i32;
    fn d365fo_cancel_free(handle: u64) -> i32;
    fn d365fo_device_flow(request_json: *const c_char, cancel: u64, cb: EventCb, userdata: *mut c_void, out_json: *mut *mut c_char) -> i32;
    fn d365fo_config(request_json: *const c_char, out_json: *mut *mut c_char) -> i32;
}

const OK: i32 = 0;
const NULL_PARAMETER: i32 = 1;
const INVALID_UTF8: i32 = 2;
const INVALID_REQUEST: i32 = 3;
const CANCELLED: i32 = 4;
const INVALID_HANDLE: i32 = 14;
const PANIC: i32 = 99;

/// Tests here change the environment (D365FO_TEST_HOOKS); run them one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// Takes ownership of a library string: copies it and frees it with d365fo_string_free.
fn take(p: *mut c_char) -> String {
    assert!(!p.is_null(), "out_json was written");
    // SAFETY: a NUL-terminated string from the library, freed exactly once below.
    let s = unsafe { CStr::from_ptr(p) }.to_str().expect("UTF-8").to_string();
    unsafe { d365fo_string_free(p) };
    s
}

fn flow(request: &CStr, cancel: u64, cb: EventCb, userdata: *mut c_void) -> (i32, Value) {
    let mut out: *mut c_char = ptr::null_mut();
    // SAFETY: valid pointers for the duration of the call.
    let rc = unsafe { d365fo_device_flow(request.as_ptr(), cancel, cb, userdata, &mut out) };
    (rc, serde_json::from_str(&take(out)).expect("out_json is JSON"))
}

unsafe extern "C" fn collect(userdata: *mut c_void, event: *const c_char) {
    // SAFETY: userdata is the &mut Vec<String> passed by the test; event is valid during the call.
    let events = unsafe { &mut *(userdata as *mut Vec<(String, std::thread::ThreadId)>) };
    let text = unsafe { CStr::from_ptr(event) }.to_str().unwrap().to_string();
    events.push((text, std::thread::current().id()));
}

#[test]
fn abi_version_and_version() {
    let _g = serial();
    assert_eq!(unsafe { d365fo_abi_version() }, d365fo_interactive::ABI_VERSION);
    let v = unsafe { CStr::from_ptr(d365fo_version()) }.to_str().unwrap();
    assert_eq!(v, env!("CARGO_PKG_VERSION"));
}

#[test]
fn string_free_accepts_null() {
    let _g = serial();
    unsafe { d365fo_string_free(ptr::null_mut()) };
}

#[test]
fn cancel_handles_new_request_free_and_misuse() {
    let _g = serial();
    assert_eq!(unsafe { d365fo_cancel_new(ptr::null_mut()) }, NULL_PARAMETER);
    let mut h = 0u64;
    assert_eq!(unsafe { d365fo_cancel_new(&mut h) }, OK);
    assert_ne!(h, 0);
    assert_eq!(unsafe { d365fo_cancel_request(h) }, OK);
    assert_eq!(unsafe { d365fo_cancel_request(h) }, OK, "idempotent");
    assert_eq!(unsafe { d365fo_cancel_free(h) }, OK);
    assert_eq!(unsafe { d365fo_cancel_free(h) }, INVALID_HANDLE, "freed twice");
    assert_eq!(unsafe { d365fo_cancel_request(h) }, INVALID_HANDLE, "freed");
    assert_eq!(unsafe { d365fo_cancel_request(0) }, INVALID_HANDLE);
    assert_eq!(unsafe { d365fo_cancel_free(u64::MAX) }, INVALID_HANDLE);
}

#[test]
fn device_flow_refuses_null_and_bad_input() {
    let _g = serial();
    let mut out: *mut c_char = ptr::null_mut();
    let rc = unsafe { d365fo_device_flow(ptr::null(), 0, None, ptr::null_mut(), &mut out) };
    assert_eq!(rc, NULL_PARAMETER);
    let e: Value = serde_json::from_str(&take(out)).unwrap();
    assert_eq!((e["code"].as_i64(), e["kind"].as_str()), (Some(1), Some("null_parameter")));

    let req = CString::new(r#"{"tenant":"a/b","url":"https://x"}"#).unwrap();
    let rc = unsafe { d365fo_device_flow(req.as_ptr(), 0, None, ptr::null_mut(), ptr::null_mut()) };
    assert_eq!(rc, INVALID_REQUEST, "NULL out_json is allowed; the code still comes back");

    let bad = [b'{', 0xff, 0xfe, b'}', 0];
    let mut out: *mut c_char = ptr::null_mut();
    let rc = unsafe { d365fo_device_flow(bad.as_ptr() as *const c_char, 0, None, ptr::null_mut(), &mut out) };
    assert_eq!(rc, INVALID_UTF8);
    assert_eq!(serde_json::from_str::<Value>(&take(out)).unwrap()["kind"], "invalid_utf8");

    let (rc, e) = flow(&req, 0, None, ptr::null_mut());
    assert_eq!(rc, INVALID_REQUEST);
    assert!(e["message"].as_str().unwrap().contains("tenant"));

    let (rc, e) = flow(c"{\"tenant\":\"t\",\"url\":\"https://x\"}", 987_654_321, None, ptr::null_mut());
    assert_eq!(rc, INVALID_HANDLE);
    assert_eq!(e["kind"], "invalid_handle");
}

#[test]
fn config_refuses_null_and_bad_utf8() {
    let _g = serial();
    let mut out: *mut c_char = ptr::null_mut();
    assert_eq!(unsafe { d365fo_config(ptr::null(), &mut out) }, NULL_PARAMETER);
    assert_eq!(serde_json::from_str::<Value>(&take(out)).unwrap()["code"], 1);
    assert_eq!(unsafe { d365fo_config(ptr::null(), ptr::null_mut()) }, NULL_PARAMETER);
    let bad = [0xc3u8, 0x28, 0];
    let mut out: *mut c_char = ptr::null_mut();
    assert_eq!(unsafe { d365fo_config(bad.as_ptr() as *const c_char, &mut out) }, INVALID_UTF8);
    take(out);
}

#[test]
fn a_panic_inside_the_core_becomes_code_99_and_an_error_json() {
    let _g = serial();
    // SAFETY: tests in this file run one at a time (SERIAL), so nothing reads the environment meanwhile.
    unsafe { std::env::set_var("D365FO_TEST_HOOKS", "1") };
    let mut out: *mut c_char = ptr::null_mut();
    let rc = unsafe { d365fo_config(c"{\"op\":\"test_panic\"}".as_ptr(), &mut out) };
    unsafe { std::env::remove_var("D365FO_TEST_HOOKS") };
    assert_eq!(rc, PANIC);
    let e: Value = serde_json::from_str(&take(out)).unwrap();
    assert_eq!((e["code"].as_i64(), e["kind"].as_str()), (Some(99), Some("panic")));
    // Without the switch the hook is just an unknown operation.
    let mut out: *mut c_char = ptr::null_mut();
    assert_eq!(unsafe { d365fo_config(c"{\"op\":\"test_panic\"}".as_ptr(), &mut out) }, INVALID_REQUEST);
    take(out);
}

#[test]
fn a_full_sign_in_through_the_abi_with_events_on_the_calling_thread() {
    let _g = serial();
    let fa = FakeAuthority::start(Options { interval: 1, ..Options::default() }).unwrap();
    let req = json!({"tenant": "contoso", "url": "https://x.dynamics.com", "timeout_secs": 30, "authority": fa.base_url(),
        "endpoint_version": "v2", "no_browser": true, "no_clipboard": true});
    let req = CString::new(req.to_string()).unwrap();
    let mut h = 0u64;
    assert_eq!(unsafe { d365fo_cancel_new(&mut h) }, OK);
    let mut events: Vec<(String, std::thread::ThreadId)> = Vec::new();
    let (rc, token) = flow(&req, h, Some(collect), &mut events as *mut _ as *mut c_void);
    assert_eq!(unsafe { d365fo_cancel_free(h) }, OK);
    assert_eq!(rc, OK, "{token}");
    assert_eq!(token["access_token"], fa.signins()[0]["access_token"]);
    assert!(token["expires_in"].is_u64());
    let me = std::thread::current().id();
    assert!(events.iter().all(|(_, t)| *t == me), "every callback ran on the calling thread");
    let kinds: Vec<String> = events.iter().map(|(e, _)| serde_json::from_str::<Value>(e).unwrap()["event"].as_str().unwrap().to_string()).collect();
    for k in ["code_issued", "clipboard", "browser", "tick", "log"] {
        assert!(kinds.iter().any(|x| x == k), "{k} in {kinds:?}");
    }
    let all: String = events.iter().map(|(e, _)| e.as_str()).collect();
    assert!(!all.contains(fa.signins()[0]["device_code"].as_str().unwrap()));
    assert!(!all.contains(token["access_token"].as_str().unwrap()));
}

#[test]
fn cancel_through_the_abi_from_another_thread() {
    let _g = serial();
    let fa = FakeAuthority::start(Options { interval: 1, scenario: fake_authority::Scenario::parse("manual").unwrap(), ..Options::default() }).unwrap();
    let req = CString::new(json!({"tenant": "contoso", "url": "https://x", "authority": fa.base_url(), "no_browser": true, "no_clipboard": true}).to_string()).unwrap();
    let mut h = 0u64;
    assert_eq!(unsafe { d365fo_cancel_new(&mut h) }, OK);
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1200));
        let at = Instant::now();
        assert_eq!(unsafe { d365fo_cancel_request(h) }, OK);
        at
    });
    let (rc, e) = flow(&req, h, None, ptr::null_mut());
    let returned = Instant::now();
    let cancelled_at = t.join().unwrap();
    assert_eq!(rc, CANCELLED);
    assert_eq!(e["kind"], "cancelled");
    assert!(returned.duration_since(cancelled_at) < Duration::from_millis(200));
    assert_eq!(unsafe { d365fo_cancel_free(h) }, OK);
}
