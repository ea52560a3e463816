//! Crosses the C ABI for every exported function, through the C symbol names as a host would.

mod common;

use common::*;
use fake_authority::{FakeAuthority, Options, Scenario};
use serde_json::{Value, json};
use std::ffi::{CStr, c_char, c_void};
use std::ptr;
use std::time::{Duration, Instant};

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
fn call_refuses_null_bad_utf8_and_unknown_operations() {
    let _g = serial();
    let mut out: *mut c_char = ptr::null_mut();
    let rc = unsafe { d365fo_call(ptr::null(), 0, None, ptr::null_mut(), &mut out) };
    assert_eq!(rc, NULL_PARAMETER);
    let e: Value = serde_json::from_str(&take(out)).unwrap();
    assert_eq!((e["code"].as_i64(), e["kind"].as_str()), (Some(1), Some("null_parameter")));

    let bad = [b'{', 0xff, 0xfe, b'}', 0];
    let mut out: *mut c_char = ptr::null_mut();
    let rc = unsafe { d365fo_call(bad.as_ptr() as *const c_char, 0, None, ptr::null_mut(), &mut out) };
    assert_eq!(rc, INVALID_UTF8);
    assert_eq!(serde_json::from_str::<Value>(&take(out)).unwrap()["kind"], "invalid_utf8");

    for req in [r#"{"op":"no_such_op"}"#, "[]", "", r#"{"tenant":"t"}"#, r#"{"op":"sign_in","tenant":5}"#] {
        let (rc, e) = call(req, 0, None, ptr::null_mut());
        assert_eq!(rc, INVALID_REQUEST, "{req}");
        assert!(e["message"].as_str().unwrap().starts_with("the request is not valid"), "{e}");
    }
    // The test-only operation exists only with the cargo feature test-hooks (build.ps1's cargo test enables it;
    // Package.Tests.ps1 checks that the shipped library has none).
    let expected = if cfg!(feature = "test-hooks") { PANIC } else { INVALID_REQUEST };
    assert_eq!(call(r#"{"op":"test_panic"}"#, 0, None, ptr::null_mut()).0, expected);

    let req = json!({"op": "sign_in", "tenant": "a/b", "url": "https://x"}).to_string();
    let (rc, e) = call(&req, 0, None, ptr::null_mut());
    assert_eq!(rc, INVALID_REQUEST);
    assert!(e["message"].as_str().unwrap().contains("tenant"));
    let c = std::ffi::CString::new(req.clone()).unwrap();
    let rc = unsafe { d365fo_call(c.as_ptr(), 0, None, ptr::null_mut(), ptr::null_mut()) };
    assert_eq!(rc, INVALID_REQUEST, "NULL out_json is allowed; the code still comes back");

    let (rc, e) = call(&req, 987_654_321, None, ptr::null_mut());
    assert_eq!(rc, INVALID_HANDLE);
    assert_eq!(e["kind"], "invalid_handle");
}

#[test]
fn every_operation_answers_through_the_abi() {
    let _g = serial();
    let (rc, env) = call(r#"{"op":"environment"}"#, 0, None, ptr::null_mut());
    assert_eq!(rc, OK);
    assert!(env["names"].as_array().unwrap().iter().any(|n| n == "D365FO_AUTHORITY"));
    let (rc, info) = call(r#"{"op":"store_info"}"#, 0, None, ptr::null_mut());
    assert_eq!(rc, OK);
    // The store common::isolate gave this binary: a folder's file on Linux and macOS, a key of its own on Windows.
    if cfg!(windows) {
        assert_eq!(info["kind"], "registry", "{info}");
        assert!(info["location"].as_str().unwrap().starts_with(r"HKCU\Software\d365fo.interactive.tests\abi-"), "{info}");
    } else {
        assert!(info["location"].as_str().unwrap().ends_with("psf_config.json"), "{info}");
    }
    let (rc, s) = call(r#"{"op":"settings_get"}"#, 0, None, ptr::null_mut());
    assert_eq!(rc, OK);
    assert_eq!(s["settings"].as_array().unwrap().len(), 5);
    let (rc, s) = call(r#"{"op":"settings_set","values":{"NoBrowser":true},"reset":["ClientId"]}"#, 0, None, ptr::null_mut());
    assert_eq!(rc, OK, "{s}");
    assert_eq!(s["changes"][0]["full_name"], "d365fo.interactive.clientid");
    let (rc, c) = call(
        r#"{"op":"config_add","name":"Abi","url":"https://abi.example.com","tenant":"contoso.onmicrosoft.com"}"#,
        0,
        None,
        ptr::null_mut(),
    );
    assert_eq!(rc, OK, "{c}");
    let (rc, c) = call(r#"{"op":"config_set_active","name":"abi"}"#, 0, None, ptr::null_mut());
    assert_eq!((rc, c["configs"][0]["name"].as_str()), (OK, Some("Abi")));
    let (rc, c) = call(r#"{"op":"config_active"}"#, 0, None, ptr::null_mut());
    assert_eq!((rc, c["url"].as_str()), (OK, Some("https://abi.example.com")));
    let (rc, c) = call(r#"{"op":"config_list"}"#, 0, None, ptr::null_mut());
    assert_eq!((rc, c["configs"].as_array().map(Vec::len)), (OK, Some(1)));
    let (rc, e) = call(r#"{"op":"config_scan","path":"/no/such/path"}"#, 0, None, ptr::null_mut());
    assert_eq!((rc, e["kind"].as_str()), (12, Some("not_found")));
    let (rc, e) = call(r#"{"op":"config_import","path":"/no/such/path"}"#, 0, None, ptr::null_mut());
    assert_eq!(rc, 12, "{e}");
    let (rc, l) = call(r#"{"op":"session_lookup","bearer":"Bearer nothing"}"#, 0, None, ptr::null_mut());
    assert_eq!((rc, l["session"].clone()), (OK, Value::Null));
    let (rc, e) = call(r#"{"op":"session_token","session":424242}"#, 0, None, ptr::null_mut());
    assert_eq!((rc, e["kind"].as_str()), (12, Some("not_found")));
}

#[test]
fn a_full_sign_in_through_the_abi_with_events_on_the_calling_thread_then_reuse() {
    let _g = serial();
    let fa = FakeAuthority::start(Options { interval: 1, ..Options::default() }).unwrap();
    let req = sign_in_request(&fa.base_url(), "contoso");
    let mut h = 0u64;
    assert_eq!(unsafe { d365fo_cancel_new(&mut h) }, OK);
    let mut events: Vec<(String, std::thread::ThreadId)> = Vec::new();
    let (rc, token) = call(&req, h, Some(collect), &mut events as *mut _ as *mut c_void);
    assert_eq!(unsafe { d365fo_cancel_free(h) }, OK);
    assert_eq!(rc, OK, "{token}");
    assert_eq!(token["source"], "device_code");
    assert_eq!(token["access_token"], fa.signins()[0]["access_token"]);
    assert_eq!(token["who"], "test.user@local-test-authority.invalid");
    assert!(token["response"]["expires_in"].is_string(), "v1 keeps its strings in the raw response");
    // The refresh and id tokens the authority issued never cross the ABI.
    let issued = fa.signins()[0].clone();
    let answer_text = token.to_string();
    for k in ["refresh_token", "id_token"] {
        assert!(token["response"].get(k).is_none(), "{k} in {answer_text}");
        if let Some(secret) = issued[k].as_str() {
            assert!(!answer_text.contains(secret), "{k} in the answer");
        }
    }
    assert!(issued["refresh_token"].is_string(), "the authority did issue a refresh token");
    let me = std::thread::current().id();
    assert!(events.iter().all(|(_, t)| *t == me), "every callback ran on the calling thread");
    let kinds: Vec<String> =
        events.iter().map(|(e, _)| serde_json::from_str::<Value>(e).unwrap()["event"].as_str().unwrap().to_string()).collect();
    for k in ["code_issued", "clipboard", "browser", "tick", "log"] {
        assert!(kinds.iter().any(|x| x == k), "{k} in {kinds:?}");
    }
    let all: String = events.iter().map(|(e, _)| e.as_str()).collect();
    assert!(!all.contains(fa.signins()[0]["device_code"].as_str().unwrap()));
    assert!(!all.contains(token["access_token"].as_str().unwrap()));
    assert!(!all.contains(fa.signins()[0]["refresh_token"].as_str().unwrap()));

    // The same sign-in without force: the session's token, nothing sent.
    let before = fa.log().len();
    let again = req.replace("\"force\":true", "\"force\":false");
    let (rc, reused) = call(&again, 0, None, ptr::null_mut());
    assert_eq!((rc, reused["source"].as_str()), (OK, Some("cache")));
    assert_eq!(reused["access_token"], token["access_token"]);
    assert_eq!(fa.log().len(), before, "reuse sends nothing");
    let bearer = format!("Bearer {}", token["access_token"].as_str().unwrap());
    let (rc, l) = call(&json!({"op":"session_lookup","bearer": bearer}).to_string(), 0, None, ptr::null_mut());
    assert_eq!((rc, l["session"].clone()), (OK, token["session"].clone()));
    let (rc, t) = call(&json!({"op":"session_token","session": token["session"]}).to_string(), 0, None, ptr::null_mut());
    assert_eq!((rc, t["access_token"].clone()), (OK, token["access_token"].clone()));
}

#[test]
fn environment_set_changes_what_the_core_reads_and_refuses_other_names() {
    let _g = serial();
    // What the process had before (build.ps1 sets the timeout to a non-default value; valgrind sets LD_PRELOAD).
    let (preload, timeout) = (std::env::var_os("LD_PRELOAD"), std::env::var("D365FO_HTTP_TIMEOUT_SECS").ok());
    let setting = |s: &Value| s["settings"].as_array().unwrap().iter().find(|r| r["name"] == "HttpTimeoutSeconds").cloned().unwrap();
    let (rc, a) = call(r#"{"op":"environment_set","values":{"D365FO_HTTP_TIMEOUT_SECS":"17"}}"#, 0, None, ptr::null_mut());
    assert_eq!((rc, a["changed"].clone()), (OK, json!(["D365FO_HTTP_TIMEOUT_SECS"])), "{a}");
    assert_eq!(std::env::var("D365FO_HTTP_TIMEOUT_SECS").as_deref(), Ok("17"));
    let (_, s) = call(r#"{"op":"settings_get"}"#, 0, None, ptr::null_mut());
    assert_eq!((setting(&s)["value"].clone(), setting(&s)["source"].clone()), (json!(17), json!("environment")), "{s}");
    // The same value again changes nothing.
    let (rc, a) = call(r#"{"op":"environment_set","values":{"D365FO_HTTP_TIMEOUT_SECS":"17"}}"#, 0, None, ptr::null_mut());
    assert_eq!((rc, a["changed"].clone()), (OK, json!([])));
    let (rc, a) = call(r#"{"op":"environment_set","values":{"D365FO_HTTP_TIMEOUT_SECS":null}}"#, 0, None, ptr::null_mut());
    assert_eq!((rc, a["changed"].clone()), (OK, json!(["D365FO_HTTP_TIMEOUT_SECS"])));
    assert!(std::env::var_os("D365FO_HTTP_TIMEOUT_SECS").is_none());
    let (_, s) = call(r#"{"op":"settings_get"}"#, 0, None, ptr::null_mut());
    assert_ne!(setting(&s)["source"], "environment");
    // Only the core's own variables; a refused request changes none of them.
    let (rc, e) =
        call(r#"{"op":"environment_set","values":{"D365FO_HTTP_TIMEOUT_SECS":"9","LD_PRELOAD":"/tmp/x.so"}}"#, 0, None, ptr::null_mut());
    assert_eq!(rc, INVALID_REQUEST, "{e}");
    assert!(e["message"].as_str().unwrap().contains("LD_PRELOAD"));
    assert_eq!(std::env::var_os("LD_PRELOAD"), preload, "a refused request changed LD_PRELOAD");
    assert!(std::env::var_os("D365FO_HTTP_TIMEOUT_SECS").is_none(), "a refused request changed the timeout");
    let (rc, _) =
        call(&json!({"op":"environment_set","values":{"D365FO_HTTP_TIMEOUT_SECS": timeout}}).to_string(), 0, None, ptr::null_mut());
    assert_eq!(rc, OK);
}

#[test]
fn session_clear_forgets_the_sessions_tokens() {
    let _g = serial();
    let fa = FakeAuthority::start(Options { interval: 1, ..Options::default() }).unwrap();
    let (rc, token) = call(&sign_in_request(&fa.base_url(), "clear-me"), 0, None, ptr::null_mut());
    assert_eq!(rc, OK, "{token}");
    let (rc, t) = call(&json!({"op":"session_token","session": token["session"]}).to_string(), 0, None, ptr::null_mut());
    assert_eq!((rc, t["access_token"].clone()), (OK, token["access_token"].clone()));
    let (rc, _) = call(r#"{"op":"session_clear"}"#, 0, None, ptr::null_mut());
    assert_eq!(rc, OK);
    let (rc, e) = call(&json!({"op":"session_token","session": token["session"]}).to_string(), 0, None, ptr::null_mut());
    assert_eq!((rc, e["kind"].as_str()), (12, Some("not_found")), "{e}");
    let bearer = format!("Bearer {}", token["access_token"].as_str().unwrap());
    let (_, l) = call(&json!({"op":"session_lookup","bearer": bearer}).to_string(), 0, None, ptr::null_mut());
    assert_eq!(l["session"], Value::Null);
}

#[test]
fn cancel_through_the_abi_from_another_thread() {
    let _g = serial();
    let fa = FakeAuthority::start(Options { interval: 1, scenario: Scenario::parse("manual").unwrap(), ..Options::default() }).unwrap();
    let req = sign_in_request(&fa.base_url(), "contoso");
    let mut h = 0u64;
    assert_eq!(unsafe { d365fo_cancel_new(&mut h) }, OK);
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1200));
        let at = Instant::now();
        assert_eq!(unsafe { d365fo_cancel_request(h) }, OK);
        at
    });
    let (rc, e) = call(&req, h, None, ptr::null_mut());
    let returned = Instant::now();
    let cancelled_at = t.join().unwrap();
    assert_eq!(rc, CANCELLED);
    assert_eq!(e["kind"], "cancelled");
    assert!(returned.duration_since(cancelled_at) < Duration::from_millis(200));
    assert_eq!(unsafe { d365fo_cancel_free(h) }, OK);
}
