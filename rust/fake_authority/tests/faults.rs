//! The `trickle` fault: status line, headers and body one byte per 200 ms, and the server stops writing as
//! soon as the client goes away.

mod common;
use common::*;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Reads `n` bytes one read at a time and returns them with the instant each read returned.
fn read_timed(c: &mut TcpStream, n: usize) -> Vec<(Vec<u8>, Instant)> {
    let mut out = Vec::new();
    let mut got = 0;
    let mut buf = [0u8; 256];
    while got < n {
        let k = c.read(&mut buf).unwrap();
        assert!(k > 0, "the server closed the connection after {got} bytes");
        out.push((buf[..k].to_vec(), Instant::now()));
        got += k;
    }
    out
}

/// Checks the first bytes arrive one per read, about 200 ms apart, and start `expected`.
fn assert_trickles(c: &mut TcpStream, expected: &[u8]) {
    let reads = read_timed(c, expected.len());
    let bytes: Vec<u8> = reads.iter().flat_map(|(b, _)| b.clone()).collect();
    assert_eq!(&bytes[..expected.len()], expected);
    // One byte per read: nothing was written ahead of its tick (allow one read that caught two on a busy machine).
    let multi = reads.iter().filter(|(b, _)| b.len() > 1).count();
    assert!(multi <= 1, "bytes arrived together: {:?}", reads.iter().map(|(b, _)| b.len()).collect::<Vec<_>>());
    let span = reads.last().unwrap().1 - reads[0].1;
    let ticks = (expected.len() - 1) as u32;
    assert!(span >= Duration::from_millis(200) * ticks * 8 / 10, "{ticks} ticks took only {span:?}");
    assert!(span <= Duration::from_millis(200) * ticks * 3, "{ticks} ticks took {span:?}");
}

/// Waits (up to `within`) until no slow answer is being written, and returns the last finished one.
fn wait_until_stopped(fa: &fake_authority::FakeAuthority, within: Duration) -> Value {
    let until = Instant::now() + within;
    loop {
        let s = fa.slow_answers();
        if s["in_progress"] == 0 && !s["finished"].as_array().unwrap().is_empty() {
            return s["finished"].as_array().unwrap().last().unwrap().clone();
        }
        assert!(Instant::now() < until, "the server still writes {within:?} after the client left: {s}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn trickle_sends_the_token_answer_one_byte_per_tick_and_stops_when_the_client_leaves() {
    let fa = start(quick());
    let dc = device_code(&fa, "trickle.scenario.test", "v2").json();
    let code = dc["device_code"].as_str().unwrap();
    let form = format!("grant_type={}&client_id={CLIENT}&device_code={}", enc(URN), enc(code));
    let mut c = TcpStream::connect(("127.0.0.1", fa.port())).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(&post_request("/trickle.scenario.test/oauth2/v2.0/token", &form)).unwrap();

    // The status line itself trickles: a deadline on the whole request is what catches this.
    assert_trickles(&mut c, b"HTTP/1.1 400");
    assert_eq!(fa.slow_answers()["in_progress"], 1);
    drop(c);

    // A write fails at most a tick or two after the close; the thread must stop right there.
    let last = wait_until_stopped(&fa, Duration::from_millis(1500));
    assert_eq!(
        (last["kind"].as_str(), last["stage"].as_str(), last["ended"].as_str()),
        (Some("trickle"), Some("token"), Some("client-gone")),
        "{last}"
    );
    let (sent, total) = (last["bytes_sent"].as_u64().unwrap(), last["bytes_total"].as_u64().unwrap());
    assert!((12..20).contains(&sent) && total > 300, "sent {sent} of {total}: {last}");

    // The poll counted and the sign-in continues: the next poll gets the token.
    let next = poll(&fa, "trickle.scenario.test", "v2", code);
    assert_eq!(next.status, 200, "{}", next.text());
}

#[test]
fn dc_trickle_registers_the_sign_in_then_trickles_the_device_code_answer() {
    let fa = start(quick());
    let form = format!("client_id={CLIENT}&resource={}", enc(RESOURCE));
    let mut c = TcpStream::connect(("127.0.0.1", fa.port())).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(&post_request("/dc-trickle.scenario.test/oauth2/devicecode", &form)).unwrap();
    assert_trickles(&mut c, b"HTTP/1");
    // The sign-in exists while its answer is still on the way.
    let signins = fa.signins();
    assert_eq!((signins.len(), signins[0]["scenario"].as_str()), (1, Some("dc-trickle")), "{signins:?}");
    drop(c);
    let last = wait_until_stopped(&fa, Duration::from_millis(1500));
    assert_eq!((last["stage"].as_str(), last["ended"].as_str()), (Some("devicecode"), Some("client-gone")), "{last}");
}

#[test]
fn the_slow_answers_hook_reports_the_same_as_the_library() {
    let fa = start(quick());
    let hook = get(fa.port(), "/_test/slow-answers").json();
    assert_eq!(hook, serde_json::json!({"in_progress": 0, "finished": []}));
    assert_eq!(hook, fa.slow_answers());
}
