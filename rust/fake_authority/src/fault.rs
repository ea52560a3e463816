//! The fault answers: what the wire looks like when something between the client and Entra goes wrong
//! (5xx, 429, cut connections, bodies that never end or are not JSON, redirects). None of these is Entra's
//! protocol; they exist so the client's handling of a broken network or gateway can be tested.

use crate::protocol::{self, Stage, Version};
use crate::respond::{bytes_response, header, json_headers, raw_head, raw_writer, send_error, send_json};
use crate::scenario::Kind;
use crate::util::epoch_ms;
use serde_json::{Value, json};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tiny_http::{Request, Response, StatusCode};

/// `trickle` writes one byte of the answer per tick...
pub const TRICKLE_TICK: Duration = Duration::from_millis(200);
/// ...for at most this long, then stops writing (the answer is then incomplete).
pub const TRICKLE_LIMIT: Duration = Duration::from_secs(180);
/// `endless-body` writes one byte of body per tick for at most this long.
const ENDLESS_TICK: Duration = Duration::from_millis(250);
const ENDLESS_LIMIT: Duration = Duration::from_secs(120);

/// The answers that take their time (`trickle`, `endless-body`): how many are being written now and how each
/// one ended, so a test can see that the server stopped as soon as the client went away.
#[derive(Default)]
pub struct SlowAnswers {
    in_progress: AtomicUsize,
    finished: Mutex<Vec<Value>>,
}

impl SlowAnswers {
    /// `{"in_progress": N, "finished": [{"kind", "stage", "bytes_sent", "bytes_total", "ended", "ms", "epoch_ms"}]}`
    /// where `ended` is `complete`, `client-gone` (a write failed) or `time-limit`.
    pub fn json(&self) -> Value {
        let finished = self.finished.lock().unwrap_or_else(|p| p.into_inner()).clone();
        json!({"in_progress": self.in_progress.load(Ordering::SeqCst), "finished": finished})
    }

    fn begin(&self, kind: &'static str, stage: Stage, bytes_total: Option<usize>) -> SlowAnswer<'_> {
        self.in_progress.fetch_add(1, Ordering::SeqCst);
        SlowAnswer { log: self, kind, stage, bytes_total, bytes_sent: 0, started: Instant::now() }
    }
}

/// One slow answer being written; recorded in `SlowAnswers` when it ends.
struct SlowAnswer<'a> {
    log: &'a SlowAnswers,
    kind: &'static str,
    stage: Stage,
    bytes_total: Option<usize>,
    bytes_sent: usize,
    started: Instant,
}

impl SlowAnswer<'_> {
    fn end(self, ended: &'static str) {
        let entry = json!({
            "kind": self.kind,
            "stage": match self.stage { Stage::DeviceCode => "devicecode", Stage::Token => "token" },
            "bytes_sent": self.bytes_sent,
            "bytes_total": self.bytes_total,
            "ended": ended,
            "ms": self.started.elapsed().as_millis() as u64,
            "epoch_ms": epoch_ms(),
        });
        self.log.finished.lock().unwrap_or_else(|p| p.into_inner()).push(entry);
        self.log.in_progress.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A whole HTTP/1.1 answer as bytes: status line, Entra's JSON headers, the body. `Connection: close`
/// because the connection is handed over to the trickle and not reused.
fn whole_answer(status: u16, body: &[u8]) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        _ => "Unknown",
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json; charset=utf-8\r\nCache-Control: no-store, no-cache\r\nPragma: no-cache\r\nExpires: -1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// Sends a whole answer (status line, headers and body) one byte per `TRICKLE_TICK` for at most
/// `TRICKLE_LIMIT`, so a client's deadline for the whole request is tested, not only its body timeout. The
/// first failed write (the client went away) ends it at once.
pub fn trickle(ctx: &FaultContext, rq: Request, status: u16, body: &[u8], stage: Stage) {
    let answer = whole_answer(status, body);
    let mut slow = ctx.slow.begin("trickle", stage, Some(answer.len()));
    let mut w = raw_writer(rq);
    for (i, byte) in answer.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(TRICKLE_TICK);
        }
        if slow.started.elapsed() >= TRICKLE_LIMIT {
            return slow.end("time-limit");
        }
        if w.write_all(&[*byte]).and_then(|_| w.flush()).is_err() {
            return slow.end("client-gone");
        }
        slow.bytes_sent += 1;
    }
    slow.end("complete")
}

/// What a fault answer needs to know about the server it is sent from.
pub struct FaultContext<'a> {
    pub base_url: &'a str,
    /// The plain-HTTP port tiny_http listens on (the connection to shut for `reset`).
    pub local_port: u16,
    /// Retry-After for the 429/503 variants that send it.
    pub retry_after: u64,
    /// Scheme and host the redirect faults point at instead of their defaults.
    pub redirect_to: Option<&'a str>,
    pub slow: &'a SlowAnswers,
}

/// Shuts the server side of the connection from `peer` (so the client sees it end mid-body).
#[cfg(unix)]
fn shut_connection(local_port: u16, peer: SocketAddr) -> bool {
    use std::mem::{size_of, zeroed};
    fn addr_of(ss: &libc::sockaddr_storage) -> Option<SocketAddr> {
        if i32::from(ss.ss_family) != libc::AF_INET {
            return None;
        }
        // SAFETY: the family says this storage holds a sockaddr_in.
        let sin = unsafe { &*(ss as *const libc::sockaddr_storage as *const libc::sockaddr_in) };
        Some(SocketAddr::from((std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)), u16::from_be(sin.sin_port))))
    }
    for fd in 3..4096 {
        // SAFETY: zeroed sockaddr_storage is valid; the calls only write within the given length.
        unsafe {
            let mut peer_ss: libc::sockaddr_storage = zeroed();
            let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            if libc::getpeername(fd, &mut peer_ss as *mut _ as *mut libc::sockaddr, &mut len) != 0 {
                continue;
            }
            if addr_of(&peer_ss) != Some(peer) {
                continue;
            }
            let mut local_ss: libc::sockaddr_storage = zeroed();
            let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            if libc::getsockname(fd, &mut local_ss as *mut _ as *mut libc::sockaddr, &mut len) != 0 {
                continue;
            }
            if addr_of(&local_ss).map(|a| a.port()) != Some(local_port) {
                continue;
            }
            return libc::shutdown(fd, libc::SHUT_RDWR) == 0;
        }
    }
    false
}

/// The same on Windows: socket handles are kernel handles (multiples of 4), so each is asked for its peer.
#[cfg(windows)]
fn shut_connection(local_port: u16, peer: SocketAddr) -> bool {
    #[repr(C)]
    struct SockaddrIn {
        family: u16,
        port: u16,
        addr: u32,
        zero: [u8; 8],
    }
    #[link(name = "ws2_32")]
    unsafe extern "system" {
        fn getpeername(s: usize, name: *mut SockaddrIn, len: *mut i32) -> i32;
        fn getsockname(s: usize, name: *mut SockaddrIn, len: *mut i32) -> i32;
        fn shutdown(s: usize, how: i32) -> i32;
    }
    const AF_INET: u16 = 2;
    const SD_BOTH: i32 = 2;
    let addr_of = |a: &SockaddrIn| {
        (a.family == AF_INET).then(|| SocketAddr::from((std::net::Ipv4Addr::from(u32::from_be(a.addr)), u16::from_be(a.port))))
    };
    for handle in (4..0x1_0000usize).step_by(4) {
        let mut a = SockaddrIn { family: 0, port: 0, addr: 0, zero: [0; 8] };
        let mut len = std::mem::size_of::<SockaddrIn>() as i32;
        // SAFETY: a handle that is not a socket makes these calls fail (WSAENOTSOCK); buffers are valid.
        unsafe {
            if getpeername(handle, &mut a, &mut len) != 0 || addr_of(&a) != Some(peer) {
                continue;
            }
            let mut l = SockaddrIn { family: 0, port: 0, addr: 0, zero: [0; 8] };
            let mut len = std::mem::size_of::<SockaddrIn>() as i32;
            if getsockname(handle, &mut l, &mut len) != 0 || addr_of(&l).map(|a| a.port()) != Some(local_port) {
                continue;
            }
            return shutdown(handle, SD_BOTH) == 0;
        }
    }
    false
}

#[cfg(not(any(unix, windows)))]
fn shut_connection(_local_port: u16, _peer: SocketAddr) -> bool {
    false
}

/// A reader that produces a large JSON-looking body without holding it in memory.
struct HugeBody {
    prefix: &'static [u8],
    remaining: usize,
    sent_prefix: bool,
}

impl Read for HugeBody {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.sent_prefix {
            self.sent_prefix = true;
            let n = self.prefix.len().min(buf.len());
            buf[..n].copy_from_slice(&self.prefix[..n]);
            return Ok(n);
        }
        let n = self.remaining.min(buf.len());
        buf[..n].fill(b'A');
        self.remaining -= n;
        Ok(n)
    }
}

/// Sends one of the fault answers; `stage` shapes the body to look like that endpoint's.
pub fn send_fault(ctx: &FaultContext, rq: Request, kind: Kind, stage: Stage, version: Version) {
    let peer = rq.remote_addr().copied();
    match kind {
        Kind::Transient503 | Kind::Always503 => {
            let h = vec![header("Content-Type", "text/plain; charset=utf-8")];
            let _ = rq.respond(bytes_response(503, h, b"Service Unavailable".to_vec()));
        }
        Kind::Transient429 => {
            let h = vec![header("Content-Type", "text/plain; charset=utf-8"), header("Retry-After", &ctx.retry_after.to_string())];
            let _ = rq.respond(bytes_response(429, h, b"Too Many Requests".to_vec()));
        }
        Kind::Transient429NoRetryAfter => {
            let h = vec![header("Content-Type", "text/plain; charset=utf-8")];
            let _ = rq.respond(bytes_response(429, h, b"Too Many Requests".to_vec()));
        }
        Kind::Transient503RetryAfter => {
            let h = vec![header("Content-Type", "text/plain; charset=utf-8"), header("Retry-After", &ctx.retry_after.to_string())];
            let _ = rq.respond(bytes_response(503, h, b"Service Unavailable".to_vec()));
        }
        Kind::HtmlError => {
            let html = "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1><p>The gateway did not get a response from the upstream server.</p></body></html>";
            let h = vec![header("Content-Type", "text/html; charset=utf-8")];
            let _ = rq.respond(bytes_response(502, h, html.as_bytes().to_vec()));
        }
        Kind::Reset => {
            let partial = br#"{"token_type":"Bearer","access_token":"eyJ0eXAiOiJKV1Qi"#;
            let mut w = raw_writer(rq);
            let _ = w.write_all(&raw_head("200 OK", 4096));
            let _ = w.write_all(partial);
            let _ = w.flush();
            let shut = peer.is_some_and(|p| shut_connection(ctx.local_port, p));
            if !shut {
                // No socket access here: end the answer with bytes that are not HTTP at all instead.
                let _ = w.write_all(&[0u8; 4096]);
                let _ = w.flush();
            }
        }
        Kind::EndlessBody => {
            let head = raw_head("200 OK", 10_000_000);
            let prefix = br#"{"access_token":""#;
            let mut slow = ctx.slow.begin("endless-body", stage, None);
            let mut w = raw_writer(rq);
            if w.write_all(&head).and_then(|_| w.write_all(prefix)).and_then(|_| w.flush()).is_err() {
                return slow.end("client-gone");
            }
            slow.bytes_sent = head.len() + prefix.len();
            while slow.started.elapsed() < ENDLESS_LIMIT {
                std::thread::sleep(ENDLESS_TICK);
                if w.write_all(b"A").and_then(|_| w.flush()).is_err() {
                    return slow.end("client-gone");
                }
                slow.bytes_sent += 1;
            }
            slow.end("time-limit")
        }
        // The device code endpoint trickles its own (real) answer; at the token stage the first poll's answer
        // is the true one for that moment: the sign-in is still pending.
        Kind::Trickle if stage == Stage::Token => {
            let body = protocol::authorization_pending().body(ctx.base_url).to_string();
            trickle(ctx, rq, 400, body.as_bytes(), stage)
        }
        Kind::HugeBody => {
            let size = 50 * 1024 * 1024;
            let body = HugeBody { prefix: br#"{"token_type":"Bearer","access_token":""#, remaining: size, sent_prefix: false };
            let len = size + 40;
            let _ = rq.respond(Response::new(StatusCode(200), json_headers(), body.chain(&b"\"}"[..]).take(len as u64), None, None));
        }
        Kind::InvalidUtf8 => {
            let mut body = br#"{"token_type":"Bearer","access_token":"abc"#.to_vec();
            body.extend_from_slice(&[0xff, 0xfe, 0xc3, 0x28]);
            body.extend_from_slice(br#""}"#);
            let _ = rq.respond(bytes_response(200, json_headers(), body));
        }
        Kind::MalformedJson => {
            let body = match stage {
                Stage::Token => br#"{"token_type":"Bearer","access_token":"eyJ0eXAiOiJKV1QiLCJhbGciOi"#.to_vec(),
                Stage::DeviceCode => br#"{"user_code":"ABCD","device_code":"DAQABAAEAAA"#.to_vec(),
            };
            let _ = rq.respond(bytes_response(200, json_headers(), body));
        }
        Kind::MissingFields => {
            let v = match stage {
                Stage::Token => json!({"token_type": "Bearer", "expires_in": 3599}),
                Stage::DeviceCode => {
                    json!({"device_code": "DAQABAAEAAAmissing", "verification_uri": format!("{}/devicelogin", ctx.base_url), "expires_in": 900, "interval": 5})
                }
            };
            send_json(rq, 200, &v);
        }
        Kind::WrongTypes => {
            let v = match stage {
                Stage::Token => {
                    json!({"token_type": "Bearer", "access_token": 12345, "expires_in": {"seconds": 3599}})
                }
                Stage::DeviceCode => {
                    json!({"user_code": "ABCDEFGHJ", "device_code": "DAQABAAEAAAwrong", "verification_uri": format!("{}/devicelogin", ctx.base_url), "expires_in": true, "interval": "five"})
                }
            };
            send_json(rq, 200, &v);
        }
        Kind::RedirectOtherHost | Kind::RedirectHttp => {
            let path = rq.url().to_string();
            let (status, default_base) = if kind == Kind::RedirectOtherHost {
                (302, "https://login.evil.example")
            } else {
                (307, "http://login.microsoftonline.com")
            };
            let base = ctx.redirect_to.unwrap_or(default_base).trim_end_matches('/');
            let location = format!("{base}{path}");
            let h = vec![header("Location", &location), header("Content-Type", "text/html; charset=utf-8")];
            let _ = rq.respond(bytes_response(status, h, b"<html><body>Moved</body></html>".to_vec()));
        }
        _ => {
            let message = format!("fault {kind:?} has no answer at this stage ({})", version.name());
            send_error(ctx.base_url, rq, &protocol::fake_internal_error(message))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trickled_answer_is_a_whole_http_answer() {
        let body = br#"{"error":"authorization_pending"}"#;
        let a = String::from_utf8(whole_answer(400, body)).unwrap();
        let (head, rest) = a.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{head}");
        assert!(head.contains(&format!("\r\nContent-Length: {}", body.len())), "{head}");
        assert!(head.contains("\r\nContent-Type: application/json; charset=utf-8"), "{head}");
        assert_eq!(rest.as_bytes(), body);
    }
}
