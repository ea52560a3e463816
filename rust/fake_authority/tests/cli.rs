//! The program: usage text, scenario list, the READY line and --exit-on-stdin-eof, in both modes.

mod common;
use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_fake_authority");

fn output(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Starts the program with stdin piped and returns it with the URL from its first line.
fn spawn(args: &[&str]) -> (Child, String) {
    let mut child = Command::new(BIN).args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.strip_prefix("READY ").unwrap_or_else(|| panic!("first line: {line:?}")).trim().to_string();
    assert!(url.starts_with("http://127.0.0.1:") && line.ends_with('\n'), "{line:?}");
    (child, url)
}

fn port_of(url: &str) -> u16 {
    url.rsplit(':').next().unwrap().parse().unwrap()
}

/// Closes stdin and checks the program exits by itself, successfully.
fn exits_on_stdin_eof(mut child: Child) {
    drop(child.stdin.take());
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            return;
        }
        if Instant::now() > until {
            let _ = child.kill();
            panic!("still running 10 s after stdin closed");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn usage_lists_the_new_flags_and_modes() {
    let usage = output(&["--help"]);
    for flag in ["--token-lifetime", "--proxy", "--map-host HOST=IP:PORT", "--require-auth USER:PASS", "--exit-on-stdin-eof", "--tls-cert"]
    {
        assert!(usage.contains(flag), "usage lacks {flag}:\n{usage}");
    }
}

#[test]
fn the_scenario_list_has_the_new_scenarios() {
    let list = output(&["--list-scenarios"]);
    let names: Vec<&str> = list.lines().collect();
    for n in [
        "trickle",
        "dc-trickle",
        "endless-body",
        "refresh-invalid-grant",
        "refresh-interaction-required",
        "replay-gcm-v1-devicecode",
        "replay-qna-v2-authorization-pending",
    ] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
}

#[test]
fn bad_values_are_refused_with_the_usage() {
    for args in [
        &["--token-lifetime", "0"][..],
        &["--proxy", "--map-host", "nohost"],
        &["--proxy", "--require-auth", "nocolon"],
        &["--proxy", "--interval", "3"],
    ] {
        let out = Command::new(BIN).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("usage:"), "{args:?}");
    }
}

#[test]
fn the_authority_reports_ready_honours_token_lifetime_and_exits_when_stdin_closes() {
    let (child, url) = spawn(&["--token-lifetime", "30", "--interval", "1", "--no-loop-detection", "--exit-on-stdin-eof"]);
    let port = port_of(&url);
    let dc = post(port, "/contoso/oauth2/v2.0/devicecode", &format!("client_id={CLIENT}&scope=x")).json();
    let form = format!("grant_type={}&client_id={CLIENT}&device_code={}", enc(URN), enc(dc["device_code"].as_str().unwrap()));
    assert_eq!(post(port, "/contoso/oauth2/v2.0/token", &form).json()["error"], "authorization_pending");
    assert_eq!(post(port, "/contoso/oauth2/v2.0/token", &form).json()["expires_in"], 30);
    exits_on_stdin_eof(child);
}

#[test]
fn the_proxy_mode_reports_ready_maps_requires_auth_and_exits_when_stdin_closes() {
    let fa = start(quick());
    let map = format!("login.test.invalid=127.0.0.1:{}", fa.port());
    let (child, url) = spawn(&["--proxy", "--map-host", &map, "--require-auth", "u:p", "--exit-on-stdin-eof"]);
    let port = port_of(&url);
    let ask = |auth: &str| {
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(c, "CONNECT login.test.invalid:443 HTTP/1.1\r\nHost: login.test.invalid:443\r\n{auth}\r\n").unwrap();
        let mut first = [0u8; 12];
        c.read_exact(&mut first).unwrap();
        String::from_utf8_lossy(&first).into_owned()
    };
    assert_eq!(ask(""), "HTTP/1.1 407");
    assert_eq!(ask("Proxy-Authorization: Basic dTpw\r\n"), "HTTP/1.1 200");
    let log = get(port, "/_proxy/log").json();
    assert_eq!(log.as_array().unwrap().len(), 2, "{log}");
    assert_eq!(log[1]["routed_to"], format!("127.0.0.1:{}", fa.port()));
    exits_on_stdin_eof(child);
}
