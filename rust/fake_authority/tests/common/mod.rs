//! Plain HTTP/1.1 over std's TcpStream, so the tests see exactly the bytes the server writes (no client
//! library smoothing anything over).
#![allow(dead_code)] // each test binary uses a different part of this

use fake_authority::{FakeAuthority, Options};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One answer: the status, the head (status line and headers, as sent) and the body bytes.
pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", self.head, self.text()))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// Splits a whole answer read until the server closed the connection.
pub fn parse_reply(raw: &[u8]) -> Reply {
    let split =
        raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or_else(|| panic!("no end of head in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status in {head}"));
    Reply { status, head, body: raw[split + 4..].to_vec() }
}

/// Sends `request` (already formed) and reads the answer until the server closes the connection.
pub fn exchange(port: u16, request: &[u8]) -> Reply {
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    c.write_all(request).unwrap();
    let mut raw = Vec::new();
    c.read_to_end(&mut raw).unwrap();
    parse_reply(&raw)
}

pub fn post_request(path: &str, form: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
        form.len()
    )
    .into_bytes()
}

pub fn post(port: u16, path: &str, form: &str) -> Reply {
    exchange(port, &post_request(path, form))
}

pub fn get(port: u16, path: &str) -> Reply {
    exchange(port, format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").as_bytes())
}

/// Percent-encodes a form value (everything but unreserved characters).
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub const CLIENT: &str = "11111111-2222-3333-4444-555555555555";
pub const RESOURCE: &str = "https://contoso.operations.dynamics.com";
pub const URN: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A server that never refuses a quick poll, so tests need not wait out the interval.
pub fn quick() -> Options {
    Options { loop_detection: false, interval: 1, ..Options::default() }
}

pub fn start(opts: Options) -> FakeAuthority {
    FakeAuthority::start(opts).unwrap()
}

/// Asks for a device code at `tenant` on v1 or v2 and returns the answer.
pub fn device_code(fa: &FakeAuthority, tenant: &str, version: &str) -> Reply {
    match version {
        "v1" => post(fa.port(), &format!("/{tenant}/oauth2/devicecode"), &format!("client_id={CLIENT}&resource={}", enc(RESOURCE))),
        _ => post(
            fa.port(),
            &format!("/{tenant}/oauth2/v2.0/devicecode"),
            &format!("client_id={CLIENT}&scope={}", enc(&format!("{RESOURCE}/.default offline_access openid profile"))),
        ),
    }
}

/// One device-code poll with the documented grant.
pub fn poll(fa: &FakeAuthority, tenant: &str, version: &str, device_code: &str) -> Reply {
    match version {
        "v1" => post(
            fa.port(),
            &format!("/{tenant}/oauth2/token"),
            &format!("grant_type={}&client_id={CLIENT}&code={}&resource={}", enc(URN), enc(device_code), enc(RESOURCE)),
        ),
        _ => post(
            fa.port(),
            &format!("/{tenant}/oauth2/v2.0/token"),
            &format!("grant_type={}&client_id={CLIENT}&device_code={}", enc(URN), enc(device_code)),
        ),
    }
}

/// Runs a whole sign-in (device code, then polls until a token) and returns the token answer.
pub fn sign_in(fa: &FakeAuthority, tenant: &str, version: &str) -> Value {
    let dc = device_code(fa, tenant, version).json();
    let code = dc["device_code"].as_str().unwrap().to_string();
    for _ in 0..10 {
        let r = poll(fa, tenant, version, &code);
        if r.status == 200 {
            return r.json();
        }
        assert_eq!(r.json()["error"], "authorization_pending", "{}", r.text());
    }
    panic!("no token after 10 polls");
}

/// Decodes unpadded base64url (a JWT part).
pub fn base64url_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'-' => 62,
        b'_' => 63,
        _ => panic!("not base64url: {c}"),
    };
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes() {
        acc = acc << 6 | u32::from(val(c));
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// The payload of a JWT as JSON.
pub fn jwt_payload(token: &str) -> Value {
    serde_json::from_slice(&base64url_decode(token.split('.').nth(1).expect("three parts"))).unwrap()
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// A refresh on v1 (`resource`) or v2 (`scope`, when given).
pub fn refresh(fa: &FakeAuthority, tenant: &str, version: &str, refresh_token: &str, scope_or_resource: Option<&str>) -> Reply {
    let mut form = format!("grant_type=refresh_token&client_id={CLIENT}&refresh_token={}", enc(refresh_token));
    let path = match version {
        "v1" => {
            form.push_str(&format!("&resource={}", enc(scope_or_resource.unwrap_or(RESOURCE))));
            format!("/{tenant}/oauth2/token")
        }
        _ => {
            if let Some(s) = scope_or_resource {
                form.push_str(&format!("&scope={}", enc(s)));
            }
            format!("/{tenant}/oauth2/v2.0/token")
        }
    };
    post(fa.port(), &path, &form)
}
