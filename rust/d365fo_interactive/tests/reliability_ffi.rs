//! The C ABI under misuse and faults, beyond tests/ffi.rs: a panic forced inside the flow, every NULL a host
//! could pass, stale handles, a cancel before the start, and error paths of real flows. Short on purpose:
//! build.ps1 -Task Test also runs this binary under valgrind memcheck.

use fake_authority::{FakeAuthority, Options};
use serde_json::{Value, json};
use std::ffi::{CStr, CString, c_char, c_void};
use std::ptr;
use std::sync::Mutex;

use d365fo_interactive as _;

type EventCb = Option<unsafe extern "C" fn(*mut c_void, *const c_char)>;

unsafe extern "C" {
    fn d365fo_string_free(s: *mut c_char);
    fn d365fo_cancel_new(out_handle: *mut u64) -> i32;
    fn d365fo_cancel_request(handle: u64) -> i32;
    fn d365fo_cancel_free(handle: u64) -> i32;
    fn d365fo_device_flow(request_json: *const c_char, cancel: u64, cb: EventCb, userdata: *mut c_void, out_json: *mut *mut c_char) -> i32;
    fn d365fo_config(request_json: *const c_char, out_json: *mut *mut c_char) -> i32;
}

const OK: i32 = 0;
const NULL_PARAMETER: i32 = 1;
const INVALID_REQUEST: i32 = 3;
const CANCELLED: i32 = 4;
const NETWORK_ERROR: i32 = 9;
const PROTOCOL_ERROR: i32 = 10;
const INVALID_HANDLE: i32 = 14;
const PANIC: i32 = 99;

/// Tests here set D365FO_TEST_HOOKS; run them one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn take(p: *mut c_char) -> Value {
    assert!(!p.is_null(), "out_json was written");
    // SAFETY: a NUL-terminated string from the library, freed exactly once below.
    let s = unsafe { CStr::from_ptr(p) }.to_str().expect("UTF-8").to_string();
    unsafe { d365fo_string_free(p) };
    serde_json::from_str(&s).expect("out_json is JSON")
}

fn flow(request: &str, cancel: u64, cb: EventCb, userdata: *mut c_void) -> (i32, Value) {
    let req = CString::new(request).unwrap();
    let mut out: *mut c_char = ptr::null_mut();
    // SAFETY: valid pointers for the duration of the call.
    let rc = unsafe { d365fo_device_flow(req.as_ptr(), cancel, cb, userdata, &mut out) };
    (rc, take(out))
}

unsafe extern "C" fn collect(userdata: *mut c_void, event: *const c_char) {
    // SAFETY: userdata is the &mut Vec<String> the test passes; event is valid during the call.
    let events = unsafe { &mut *(userdata as *mut Vec<String>) };
    events.push(unsafe { CStr::from_ptr(event) }.to_str().unwrap().to_string());
}

fn request(authority: &str, tenant: &str) -> String {
    json!({"tenant": tenant, "url": "https://contoso.operations.dynamics.com", "timeout_secs": 30, "authority": authority,
        "no_browser": true, "no_clipboard": true, "http_timeout_secs": 5})
    .to_string()
}

fn start() -> FakeAuthority {
    FakeAuthority::start(Options { interval: 1, ..Options::default() }).expect("fake authority")
}

#[test]
fn a_panic_forced_inside_the_flow_is_code_99_with_an_error_json_and_the_next_flow_works() {
    let _g = serial();
    let fa = start();
    let mut h = 0u64;
    assert_eq!(unsafe { d365fo_cancel_new(&mut h) }, OK);
    // SAFETY: tests in this file run one at a time (SERIAL), so nothing reads the environment meanwhile.
    unsafe { std::env::set_var("D365FO_TEST_HOOKS", "1") };
    let mut events: Vec<String> = Vec::new();
    let (rc, e) = flow(&request(&fa.base_url(), "panic.hook.test"), h, Some(collect), &mut events as *mut _ as *mut c_void);
    unsafe { std::env::remove_var("D365FO_TEST_HOOKS") };
    assert_eq!(rc, PANIC);
    assert_eq!((e["code"].as_i64(), e["kind"].as_str()), (Some(99), Some("panic")));
    assert!(e["message"].as_str().unwrap().contains("internal error in the native core"), "{e}");
    assert!(fa.log().is_empty(), "the hook fires before anything is sent");
    assert!(events.is_empty());
    // The handle is still usable and freed once; the library still works.
    assert_eq!(unsafe { d365fo_cancel_request(h) }, OK);
    assert_eq!(unsafe { d365fo_cancel_free(h) }, OK);
    let (rc, token) = flow(&request(&fa.base_url(), "contoso"), 0, None, ptr::null_mut());
    assert_eq!(rc, OK, "{token}");
    // Without the switch the tenant is an ordinary one.
    let (rc, token) = flow(&request(&fa.base_url(), "panic.hook.test"), 0, None, ptr::null_mut());
    assert_eq!(rc, OK, "{token}");
}

#[test]
fn every_null_a_host_could_pass_is_an_error_code_not_a_crash() {
    let _g = serial();
    // Everything NULL at once.
    assert_eq!(unsafe { d365fo_device_flow(ptr::null(), 0, None, ptr::null_mut(), ptr::null_mut()) }, NULL_PARAMETER);
    assert_eq!(unsafe { d365fo_config(ptr::null(), ptr::null_mut()) }, NULL_PARAMETER);
    assert_eq!(unsafe { d365fo_cancel_new(ptr::null_mut()) }, NULL_PARAMETER);
    unsafe { d365fo_string_free(ptr::null_mut()) };
    // A valid request with NULL out_json still returns its code, and nothing is leaked (valgrind checks).
    assert_eq!(unsafe { d365fo_config(c"{\"op\":\"no-such-op\"}".as_ptr(), ptr::null_mut()) }, INVALID_REQUEST);
    assert_eq!(unsafe { d365fo_config(c"[]".as_ptr(), ptr::null_mut()) }, INVALID_REQUEST);
    assert_eq!(unsafe { d365fo_config(c"".as_ptr(), ptr::null_mut()) }, INVALID_REQUEST);
    // Userdata without a callback is ignored.
    let mut dummy = 0u8;
    let mut out: *mut c_char = ptr::null_mut();
    let rc = unsafe { d365fo_device_flow(c"{\"tenant\":\"a/b\",\"url\":\"https://x\"}".as_ptr(), 0, None, &mut dummy as *mut u8 as *mut c_void, &mut out) };
    assert_eq!(rc, INVALID_REQUEST);
    assert_eq!(take(out)["kind"], "invalid_request");
}

#[test]
fn stale_unknown_and_reused_handles_are_refused_before_anything_is_sent() {
    let _g = serial();
    let fa = start();
    let (mut a, mut b) = (0u64, 0u64);
    assert_eq!(unsafe { d365fo_cancel_new(&mut a) }, OK);
    assert_eq!(unsafe { d365fo_cancel_new(&mut b) }, OK);
    assert_ne!(a, b, "each handle is new");
    assert_eq!(unsafe { d365fo_cancel_free(a) }, OK);
    for stale in [a, 0xdead_beef, u64::MAX] {
        let (rc, e) = flow(&request(&fa.base_url(), "contoso"), stale, None, ptr::null_mut());
        assert_eq!(rc, INVALID_HANDLE, "{stale}");
        assert_eq!(e["kind"], "invalid_handle");
        assert_eq!(unsafe { d365fo_cancel_request(stale) }, INVALID_HANDLE);
        assert_eq!(unsafe { d365fo_cancel_free(stale) }, INVALID_HANDLE);
    }
    assert!(fa.log().is_empty(), "no request with a bad handle: {:?}", fa.log());
    assert_eq!(unsafe { d365fo_cancel_free(b) }, OK);
}

#[test]
fn a_handle_cancelled_before_the_start_sends_nothing() {
    let _g = serial();
    let fa = start();
    let mut h = 0u64;
    assert_eq!(unsafe { d365fo_cancel_new(&mut h) }, OK);
    assert_eq!(unsafe { d365fo_cancel_request(h) }, OK);
    let (rc, e) = flow(&request(&fa.base_url(), "contoso"), h, None, ptr::null_mut());
    assert_eq!(rc, CANCELLED);
    assert_eq!(e["message"], "the sign-in was cancelled");
    assert!(fa.log().is_empty());
    assert_eq!(unsafe { d365fo_cancel_free(h) }, OK);
}

#[test]
fn faulty_answers_through_the_abi_give_error_json_without_secrets() {
    let _g = serial();
    let fa = start();
    for (tenant, code, words) in [
        ("dc-reset.scenario.test", NETWORK_ERROR, "broke"),
        ("dc-malformed-json.scenario.test", PROTOCOL_ERROR, "not valid JSON"),
        ("missing-fields.scenario.test", PROTOCOL_ERROR, "no access_token"),
        ("redirect-other-host.scenario.test", PROTOCOL_ERROR, "redirects are not followed"),
        ("invalid-utf8.scenario.test", PROTOCOL_ERROR, "not valid UTF-8"),
    ] {
        let mut events: Vec<String> = Vec::new();
        let (rc, e) = flow(&request(&fa.base_url(), tenant), 0, Some(collect), &mut events as *mut _ as *mut c_void);
        assert_eq!(rc, code, "{tenant}: {e}");
        assert!(e["message"].as_str().unwrap().contains(words), "{tenant}: {e}");
        let all = format!("{e}{}", events.join(""));
        for s in fa.signins() {
            assert!(!all.contains(s["device_code"].as_str().unwrap()), "{tenant}: the device code leaked");
        }
    }
}
