//! A panic inside the core is an error code and JSON at the C ABI, never a crash, and the library works on.
//! Needs the `test-hooks` feature (never in the shipped library): `cargo test --features test-hooks`.

mod common;

use common::*;
use fake_authority::{FakeAuthority, Options};
use std::ffi::c_void;
use std::ptr;

#[test]
fn a_forced_panic_is_code_99_with_an_error_json_and_the_next_call_works() {
    let _g = serial();
    let fa = FakeAuthority::start(Options { interval: 1, ..Options::default() }).expect("fake authority");
    let mut h = 0u64;
    assert_eq!(unsafe { d365fo_cancel_new(&mut h) }, OK);
    let mut events: Vec<(String, std::thread::ThreadId)> = Vec::new();
    let (rc, e) = call(r#"{"op":"test_panic"}"#, h, Some(collect), &mut events as *mut _ as *mut c_void);
    assert_eq!(rc, PANIC);
    assert_eq!((e["code"].as_i64(), e["kind"].as_str()), (Some(99), Some("panic")));
    assert!(e["message"].as_str().unwrap().contains("internal error in the native core"), "{e}");
    assert!(events.is_empty());
    // The handle is still usable and freed once; the library still works.
    assert_eq!(unsafe { d365fo_cancel_request(h) }, OK);
    assert_eq!(unsafe { d365fo_cancel_free(h) }, OK);
    let (rc, token) = call(&sign_in_request(&fa.base_url(), "contoso"), 0, None, ptr::null_mut());
    assert_eq!(rc, OK, "{token}");
}

#[test]
fn a_panic_in_the_middle_of_a_sign_in_is_code_99_after_the_code_was_shown_and_the_next_sign_in_works() {
    let _g = serial();
    let fa = FakeAuthority::start(Options { interval: 1, ..Options::default() }).expect("fake authority");
    let mut events: Vec<(String, std::thread::ThreadId)> = Vec::new();
    let (rc, e) =
        call(&sign_in_request(&fa.base_url(), "panic-after-code.hook.test"), 0, Some(collect), &mut events as *mut _ as *mut c_void);
    assert_eq!(rc, PANIC, "{e}");
    assert!(events.iter().any(|(ev, _)| ev.contains("\"code_issued\"")), "{events:?}");
    let (rc, e) = call(&sign_in_request(&fa.base_url(), "panic.hook.test"), 0, None, ptr::null_mut());
    assert_eq!(rc, PANIC, "{e}");
    // Only the first reached the authority; the library still signs in.
    let (rc, token) = call(&sign_in_request(&fa.base_url(), "contoso"), 0, None, ptr::null_mut());
    assert_eq!(rc, OK, "{token}");
}
