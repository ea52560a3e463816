//! What a careless or hostile host and a faulty authority can do at the C ABI: NULLs, stale handles,
//! cancels before the start, garbage answers. Each ends in an error code and JSON, never a crash or a leak
//! (this binary also runs under valgrind, see build.ps1).

mod common;

use common::*;
use fake_authority::{FakeAuthority, Options};
use std::ffi::{c_char, c_void};
use std::ptr;

fn start() -> FakeAuthority {
    FakeAuthority::start(Options { interval: 1, ..Options::default() }).expect("fake authority")
}

#[test]
fn every_null_a_host_could_pass_is_an_error_code_not_a_crash() {
    let _g = serial();
    assert_eq!(unsafe { d365fo_call(ptr::null(), 0, None, ptr::null_mut(), ptr::null_mut()) }, NULL_PARAMETER);
    assert_eq!(unsafe { d365fo_cancel_new(ptr::null_mut()) }, NULL_PARAMETER);
    unsafe { d365fo_string_free(ptr::null_mut()) };
    // A valid request with NULL out_json still returns its code, and nothing is leaked (valgrind checks).
    assert_eq!(unsafe { d365fo_call(c"{\"op\":\"no-such-op\"}".as_ptr(), 0, None, ptr::null_mut(), ptr::null_mut(),) }, INVALID_REQUEST);
    assert_eq!(unsafe { d365fo_call(c"{\"op\":\"environment\"}".as_ptr(), 0, None, ptr::null_mut(), ptr::null_mut(),) }, OK);
    // Userdata without a callback is ignored.
    let mut dummy = 0u8;
    let mut out: *mut c_char = ptr::null_mut();
    let req = c"{\"op\":\"sign_in\",\"tenant\":\"a/b\",\"url\":\"https://x\"}";
    let rc = unsafe { d365fo_call(req.as_ptr(), 0, None, &mut dummy as *mut u8 as *mut c_void, &mut out) };
    assert_eq!(rc, INVALID_REQUEST);
    assert!(take(out).contains("invalid_request"));
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
        let (rc, e) = call(&sign_in_request(&fa.base_url(), "contoso"), stale, None, ptr::null_mut());
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
    let (rc, e) = call(&sign_in_request(&fa.base_url(), "contoso"), h, None, ptr::null_mut());
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
        let mut events: Vec<(String, std::thread::ThreadId)> = Vec::new();
        let (rc, e) = call(&sign_in_request(&fa.base_url(), tenant), 0, Some(collect), &mut events as *mut _ as *mut c_void);
        assert_eq!(rc, code, "{tenant}: {e}");
        assert!(e["message"].as_str().unwrap().contains(words), "{tenant}: {e}");
        let all = format!("{e}{}", events.iter().map(|(t, _)| t.as_str()).collect::<String>());
        fa.clear_log();
        // Faults at the token stage come after a device code was issued: that code must not leak.
        let signins: Vec<_> = fa.signins().into_iter().filter(|s| s["tenant"] == tenant).collect();
        assert_eq!(signins.is_empty(), tenant.starts_with("dc-"), "{tenant}: {signins:?}");
        for s in signins {
            assert!(!all.contains(s["device_code"].as_str().unwrap()), "{tenant}: the device code leaked");
        }
    }
}
