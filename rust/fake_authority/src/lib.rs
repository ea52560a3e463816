//! A local stand-in for Microsoft Entra ID's device code endpoints (v1 and v2), for tests and the demo.
//! A real HTTP server (tiny_http) on 127.0.0.1 that writes Entra's JSON from the documented shapes.
//! Not shipped in the module.
//!
//! # Endpoints
//! - `POST /{tenant}/oauth2/devicecode` (v1: `client_id`, `resource`) and `POST /{tenant}/oauth2/v2.0/devicecode`
//!   (v2: `client_id`, `scope`). v1 answers `verification_url` with numbers as strings, v2 `verification_uri`
//!   with integers. The verification URL is this server's `/devicelogin` page.
//! - `POST /{tenant}/oauth2/token` (v1: `grant_type` = `device_code` or the urn, `client_id`, `code` or
//!   `device_code`, `resource`) and `POST /{tenant}/oauth2/v2.0/token` (v2: the urn, `client_id`, `device_code`
//!   or `code`). Errors carry `error`, `error_description` ("AADSTSnnnnn: …\r\nTrace ID: …\r\nCorrelation ID: …
//!   \r\nTimestamp: …"), `error_codes`, `timestamp`, `trace_id`, `correlation_id`, `error_uri`; JSON answers carry
//!   `Cache-Control: no-store, no-cache`, `Pragma: no-cache`, `Expires: -1`,
//!   `Content-Type: application/json; charset=utf-8`.
//! - `GET /devicelogin[?otc=CODE]`: a page where a person types the code (filled in from `otc`, the link in
//!   `verification_uri_complete`) and clicks "Sign in" or "Deny"
//!   (`POST /devicelogin` with `user_code` and `action=approve|deny`). A wrong code shows an error there.
//! - Test hooks: `GET /_test/log` (JSON array of requests received, `/_test/*` excluded: `method`, `path`,
//!   `query`, `ms` since start, `epoch_ms` (wall clock, ms since the Unix epoch), `form` object, `endpoint` devicecode|token|devicelogin|other, `tenant`,
//!   `version`), `POST /_test/clear-log`, `GET /_test/signins` (each sign-in: `user_code`, `device_code`,
//!   `tenant`, `version`, `scenario`, `client_id`, `resource`, `state`, `polls`, and once issued
//!   `access_token`, `refresh_token`, `id_token`), `POST /_test/approve` and `POST /_test/decline`
//!   (form or query `user_code`; 200 `{"ok":true,"user_code":..,"epoch_ms":..}` with the wall-clock instant
//!   the state changed, or 404).
//!
//! # Polling rules
//! Each sign-in starts pending. A poll earlier than the interval (plus 5 s per `slow_down` sent) after the
//! previous poll (or after the code was issued), with 200 ms of grace, gets `invalid_request` AADSTS50196
//! (loop detection; `Options::loop_detection`, CLI `--no-loop-detection`). After `expires_in` seconds polls
//! get `expired_token` AADSTS70020 (v2) or `code_expired` AADSTS70019 (v1). A decline answers
//! `authorization_declined` (v2) or `access_denied` (v1); the AADSTS code used for it (65004) is a stand-in.
//! Approval: by the page or `/_test/approve`; in the scenario `approve` also after `approve_after_polls`
//! pending polls (default 1: the first poll is pending, the second succeeds) and/or `approve_after_secs`;
//! in every scenario after `auto_approve_secs`. A redeemed code gets `invalid_grant` AADSTS54005.
//!
//! # Scenarios
//! One per sign-in: the tenant `NAME.scenario.test` selects scenario NAME for that sign-in (e.g.
//! `decline.scenario.test`, `dc-html-error.scenario.test`); any other tenant uses the server's default
//! (`Options::scenario`, CLI `--scenario`, default `approve`). An unknown NAME answers the device code
//! request with 400 `invalid_request` AADSTS90002 (tenant not found). `_` and `-` are the same in names.
//! - `approve`, `manual` (approved only by the page, `/_test/approve` or `auto_approve_secs`)
//! - `decline`, `expire`, `slow-down`, `loop-detected` (AADSTS50196), `invalid-client` (401 AADSTS7000218):
//!   the answer to the first poll; `slow-down` then continues as `approve`.
//! - `devicecode-error-200`: the device code endpoint answers 200 with `invalid_client` AADSTS700016.
//! - Faults, at the first token poll, or at the device code request with the prefix `dc-`:
//!   `transient-503` (503, then as `approve`), `transient-429` (429 with `Retry-After: retry_after`),
//!   `reset` (headers and part of the body, then the connection is shut), `endless-body` (a body that
//!   trickles a byte every 250 ms for up to 2 minutes), `huge-body` (a 50 MB JSON body), `invalid-utf8`,
//!   `malformed-json` (a truncated object), `missing-fields` (token: no `access_token`; dc: no `user_code`),
//!   `wrong-types` (token: `access_token` a number; dc: `interval` "five"), `redirect-other-host`
//!   (302 to https://login.evil.example), `redirect-http` (307 to http://login.microsoftonline.com),
//!   (`--redirect-to URL` points both at URL instead), `transient-503-retry-after` (503 with
//!   `Retry-After: retry_after`), `transient-429-no-retry-after` (429 without Retry-After), `html-error`
//!   (502 HTML page; at the token stage on every poll), `slow-response` (every answer at that stage after
//!   `delay_secs`), `extra-fields` (token: extra members in the token response; dc: extra members in the
//!   device code response).
//! - `always-503`: every poll answers 503.

pub mod entra;
mod page;
pub mod tls;
pub mod util;

use entra::{Tokens, Version, error_body};
use serde_json::{Map, Value, json};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tiny_http::{Header, Method, Request, Response, Server, StatusCode};

/// Tenants ending in this select a scenario per sign-in.
pub const SCENARIO_DOMAIN: &str = ".scenario.test";
/// Grace for loop detection (timer granularity).
const LOOP_GRACE: Duration = Duration::from_millis(200);

/// Server settings (the CLI flags map onto these one to one).
#[derive(Debug, Clone)]
pub struct Options {
    /// 0: a free port.
    pub port: u16,
    pub interval: u64,
    pub expires_in: u64,
    pub scenario: Scenario,
    pub approve_after_polls: Option<u32>,
    pub approve_after_secs: Option<f64>,
    pub auto_approve_secs: Option<f64>,
    /// Starts the signature part of each access token and the body of each refresh token.
    pub token_prefix: String,
    pub loop_detection: bool,
    /// Retry-After for `transient-429`.
    pub retry_after: u64,
    /// Delay for `slow-response`.
    pub delay_secs: f64,
    /// One line per request on stderr.
    pub verbose: bool,
    /// Serve HTTPS with this PEM certificate chain and key (`--tls-cert`, `--tls-key`) instead of plain http.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Scheme and host the redirect scenarios point at instead of their defaults (`--redirect-to`), e.g. a
    /// local listener that proves the client never follows them.
    pub redirect_to: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            port: 0,
            interval: 5,
            expires_in: 900,
            scenario: Scenario { kind: Kind::Approve, stage: Stage::Token },
            approve_after_polls: None,
            approve_after_secs: None,
            auto_approve_secs: None,
            token_prefix: "fake".into(),
            loop_detection: true,
            retry_after: 3,
            delay_secs: 3.0,
            verbose: false,
            tls: None,
            redirect_to: None,
        }
    }
}

/// Where a fault strikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    DeviceCode,
    Token,
}

/// What a sign-in does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Approve,
    Manual,
    Decline,
    Expire,
    SlowDown,
    LoopDetected,
    InvalidClient,
    DeviceCodeError200,
    Transient503,
    Transient429,
    Transient503RetryAfter,
    Transient429NoRetryAfter,
    Always503,
    Reset,
    SlowResponse,
    EndlessBody,
    HugeBody,
    InvalidUtf8,
    MalformedJson,
    HtmlError,
    MissingFields,
    ExtraFields,
    WrongTypes,
    RedirectOtherHost,
    RedirectHttp,
}

/// (name, kind, may be prefixed with `dc-`)
const KINDS: &[(&str, Kind, bool)] = &[
    ("approve", Kind::Approve, false),
    ("manual", Kind::Manual, false),
    ("decline", Kind::Decline, false),
    ("expire", Kind::Expire, false),
    ("slow-down", Kind::SlowDown, false),
    ("loop-detected", Kind::LoopDetected, false),
    ("invalid-client", Kind::InvalidClient, false),
    ("devicecode-error-200", Kind::DeviceCodeError200, false),
    ("transient-503", Kind::Transient503, true),
    ("transient-429", Kind::Transient429, true),
    ("transient-503-retry-after", Kind::Transient503RetryAfter, true),
    ("transient-429-no-retry-after", Kind::Transient429NoRetryAfter, true),
    ("always-503", Kind::Always503, false),
    ("reset", Kind::Reset, true),
    ("slow-response", Kind::SlowResponse, true),
    ("endless-body", Kind::EndlessBody, true),
    ("huge-body", Kind::HugeBody, true),
    ("invalid-utf8", Kind::InvalidUtf8, true),
    ("malformed-json", Kind::MalformedJson, true),
    ("html-error", Kind::HtmlError, true),
    ("missing-fields", Kind::MissingFields, true),
    ("extra-fields", Kind::ExtraFields, true),
    ("wrong-types", Kind::WrongTypes, true),
    ("redirect-other-host", Kind::RedirectOtherHost, true),
    ("redirect-http", Kind::RedirectHttp, true),
];

/// A scenario: what happens, and (for faults) where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scenario {
    pub kind: Kind,
    pub stage: Stage,
}

impl Scenario {
    /// Parses `name` or `dc-name` (case-insensitive, `_` = `-`).
    pub fn parse(name: &str) -> Option<Scenario> {
        let n = name.trim().to_ascii_lowercase().replace('_', "-");
        let (stage, base) = match n.strip_prefix("dc-") {
            Some(rest) => (Stage::DeviceCode, rest.to_string()),
            None => (Stage::Token, n),
        };
        KINDS
            .iter()
            .find(|(k, _, _)| *k == base)
            .filter(|(_, _, dc_ok)| stage == Stage::Token || *dc_ok)
            .map(|(_, kind, _)| Scenario { kind: *kind, stage })
    }

    pub fn name(&self) -> String {
        let base = KINDS.iter().find(|(_, k, _)| *k == self.kind).map(|(n, _, _)| *n).unwrap_or("?");
        match self.stage {
            Stage::DeviceCode => format!("dc-{base}"),
            Stage::Token => base.to_string(),
        }
    }

    /// Every accepted scenario name.
    pub fn all_names() -> Vec<String> {
        let mut v: Vec<String> = KINDS.iter().map(|(n, _, _)| n.to_string()).collect();
        v.extend(KINDS.iter().filter(|(_, _, dc)| *dc).map(|(n, _, _)| format!("dc-{n}")));
        v
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SignInState {
    Pending,
    Approved,
    Declined,
    Expired,
    Redeemed,
}

impl SignInState {
    fn name(self) -> &'static str {
        match self {
            SignInState::Pending => "pending",
            SignInState::Approved => "approved",
            SignInState::Declined => "declined",
            SignInState::Expired => "expired",
            SignInState::Redeemed => "redeemed",
        }
    }
}

struct SignIn {
    user_code: String,
    device_code: String,
    tenant: String,
    version: Version,
    client_id: String,
    resource: String,
    scenario: Scenario,
    issued: Instant,
    last_seen: Instant,
    required_interval: u64,
    polls: u32,
    state: SignInState,
    tokens: Option<Tokens>,
}

struct State {
    opts: Options,
    base_url: String,
    local_port: u16,
    start: Instant,
    log: Mutex<Vec<Value>>,
    signins: Mutex<Vec<SignIn>>,
}

/// A running fake authority; stops when dropped.
pub struct FakeAuthority {
    state: Arc<State>,
    server: Arc<Server>,
    thread: Option<JoinHandle<()>>,
    /// The TLS listener in front of the server, when serving HTTPS.
    tls: Option<tls::TlsFront>,
}

impl FakeAuthority {
    /// Binds 127.0.0.1 (`opts.port`, 0 for any free port) and serves on background threads.
    /// With `opts.tls`, HTTPS on `opts.port` in front of plain HTTP on an internal loopback port.
    pub fn start(opts: Options) -> io::Result<FakeAuthority> {
        let tls_config = match &opts.tls {
            Some((cert, key)) => Some(tls::server_config(cert, key)?),
            None => None,
        };
        let plain_port = if tls_config.is_some() { 0 } else { opts.port };
        let server = Server::http(("127.0.0.1", plain_port)).map_err(io::Error::other)?;
        let port = server.server_addr().to_ip().map(|a| a.port()).ok_or_else(|| io::Error::other("no IP address"))?;
        let tls = match tls_config {
            Some(c) => Some(tls::TlsFront::start(opts.port, port, c)?),
            None => None,
        };
        let base_url = match &tls {
            Some(t) => format!("https://127.0.0.1:{}", t.port()),
            None => format!("http://127.0.0.1:{port}"),
        };
        let state = Arc::new(State {
            base_url,
            local_port: port,
            opts,
            start: Instant::now(),
            log: Mutex::new(Vec::new()),
            signins: Mutex::new(Vec::new()),
        });
        let server = Arc::new(server);
        let thread = std::thread::Builder::new().name("fake-authority".into()).spawn({
            let server = Arc::clone(&server);
            let state = Arc::clone(&state);
            move || {
                for rq in server.incoming_requests() {
                    let state = Arc::clone(&state);
                    let _ = std::thread::Builder::new().name("fake-authority-request".into()).spawn(move || handle(&state, rq));
                }
            }
        })?;
        Ok(FakeAuthority { state, server, thread: Some(thread), tls })
    }

    /// `http://127.0.0.1:PORT` (`https://` with TLS), the value for D365FO_AUTHORITY.
    pub fn base_url(&self) -> String {
        self.state.base_url.clone()
    }

    pub fn port(&self) -> u16 {
        self.tls.as_ref().map_or(self.state.local_port, tls::TlsFront::port)
    }

    /// The requests received so far (as `GET /_test/log`).
    pub fn log(&self) -> Vec<Value> {
        lock(&self.state.log).clone()
    }

    pub fn clear_log(&self) {
        lock(&self.state.log).clear();
    }

    /// The sign-ins so far (as `GET /_test/signins`).
    pub fn signins(&self) -> Vec<Value> {
        signins_json(&self.state)
    }

    /// Approves the pending sign-in with this user code (as the page's "Sign in").
    pub fn approve(&self, user_code: &str) -> bool {
        set_state(&self.state, user_code, SignInState::Approved)
    }

    /// Declines the pending sign-in with this user code (as the page's "Deny").
    pub fn decline(&self, user_code: &str) -> bool {
        set_state(&self.state, user_code, SignInState::Declined)
    }

    /// Blocks until the server stops (never, unless the process ends it).
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for FakeAuthority {
    fn drop(&mut self) {
        self.tls.take();
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn normalize_code(c: &str) -> String {
    c.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect()
}

fn set_state(state: &State, user_code: &str, to: SignInState) -> bool {
    let wanted = normalize_code(user_code);
    if wanted.is_empty() {
        return false;
    }
    let now = Instant::now();
    let mut all = lock(&state.signins);
    match all.iter_mut().find(|s| {
        s.user_code == wanted && s.state == SignInState::Pending && now < s.issued + Duration::from_secs(state.opts.expires_in)
    }) {
        Some(s) => {
            s.state = to;
            true
        }
        None => false,
    }
}

fn signins_json(state: &State) -> Vec<Value> {
    lock(&state.signins)
        .iter()
        .map(|s| {
            let mut v = json!({
                "user_code": s.user_code, "device_code": s.device_code, "tenant": s.tenant,
                "version": s.version.name(), "scenario": s.scenario.name(), "client_id": s.client_id,
                "resource": s.resource, "state": s.state.name(), "polls": s.polls,
                "issued_ms": s.issued.saturating_duration_since(state.start).as_millis() as u64,
            });
            if let Some(t) = &s.tokens {
                v["access_token"] = json!(t.access_token);
                v["refresh_token"] = json!(t.refresh_token);
                v["id_token"] = json!(t.id_token);
            }
            v
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Responses

fn header(k: &str, v: &str) -> Header {
    Header::from_bytes(k.as_bytes(), v.as_bytes()).expect("static header")
}

fn json_headers() -> Vec<Header> {
    vec![
        header("Content-Type", "application/json; charset=utf-8"),
        header("Cache-Control", "no-store, no-cache"),
        header("Pragma", "no-cache"),
        header("Expires", "-1"),
        header("x-ms-request-id", &util::guid()),
    ]
}

fn bytes_response(status: u16, headers: Vec<Header>, body: Vec<u8>) -> Response<io::Cursor<Vec<u8>>> {
    let len = body.len();
    Response::new(StatusCode(status), headers, io::Cursor::new(body), Some(len), None)
}

fn send_json(rq: Request, status: u16, v: &Value) {
    let _ = rq.respond(bytes_response(status, json_headers(), v.to_string().into_bytes()));
}

fn send_html(rq: Request, status: u16, html: String) {
    let h = vec![header("Content-Type", "text/html; charset=utf-8"), header("Cache-Control", "no-store")];
    let _ = rq.respond(bytes_response(status, h, html.into_bytes()));
}

fn send_error(state: &State, rq: Request, status: u16, error: &str, aadsts: Option<u32>, text: &str) {
    send_json(rq, status, &error_body(&state.base_url, error, aadsts, text));
}

/// Writes raw bytes on the connection (for answers tiny_http would refuse to form).
fn raw_writer(rq: Request) -> Box<dyn Write + Send> {
    rq.into_writer()
}

fn raw_head(status: &str, content_length: usize) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json; charset=utf-8\r\nCache-Control: no-store, no-cache\r\nContent-Length: {content_length}\r\n\r\n"
    )
    .into_bytes()
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

#[cfg(not(unix))]
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
fn send_fault(state: &State, rq: Request, kind: Kind, stage: Stage, version: Version) {
    let peer = rq.remote_addr().copied();
    match kind {
        Kind::Transient503 | Kind::Always503 => {
            let h = vec![header("Content-Type", "text/plain; charset=utf-8")];
            let _ = rq.respond(bytes_response(503, h, b"Service Unavailable".to_vec()));
        }
        Kind::Transient429 => {
            let h = vec![header("Content-Type", "text/plain; charset=utf-8"), header("Retry-After", &state.opts.retry_after.to_string())];
            let _ = rq.respond(bytes_response(429, h, b"Too Many Requests".to_vec()));
        }
        Kind::Transient429NoRetryAfter => {
            let h = vec![header("Content-Type", "text/plain; charset=utf-8")];
            let _ = rq.respond(bytes_response(429, h, b"Too Many Requests".to_vec()));
        }
        Kind::Transient503RetryAfter => {
            let h = vec![header("Content-Type", "text/plain; charset=utf-8"), header("Retry-After", &state.opts.retry_after.to_string())];
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
            let shut = peer.is_some_and(|p| shut_connection(state.local_port, p));
            if !shut {
                // No socket access here: end the answer with bytes that are not HTTP at all instead.
                let _ = w.write_all(&[0u8; 4096]);
                let _ = w.flush();
            }
        }
        Kind::EndlessBody => {
            let mut w = raw_writer(rq);
            if w.write_all(&raw_head("200 OK", 10_000_000)).is_err() || w.write_all(br#"{"access_token":""#).is_err() {
                return;
            }
            let _ = w.flush();
            let until = Instant::now() + Duration::from_secs(120);
            while Instant::now() < until {
                std::thread::sleep(Duration::from_millis(250));
                if w.write_all(b"A").and_then(|_| w.flush()).is_err() {
                    return;
                }
            }
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
                Stage::DeviceCode => json!({"device_code": "DAQABAAEAAAmissing", "verification_uri": format!("{}/devicelogin", state.base_url), "expires_in": 900, "interval": 5}),
            };
            send_json(rq, 200, &v);
        }
        Kind::WrongTypes => {
            let v = match stage {
                Stage::Token => json!({"token_type": "Bearer", "access_token": 12345, "expires_in": {"seconds": 3599}}),
                Stage::DeviceCode => json!({"user_code": "ABCDEFGHJ", "device_code": "DAQABAAEAAAwrong", "verification_uri": format!("{}/devicelogin", state.base_url), "expires_in": true, "interval": "five"}),
            };
            send_json(rq, 200, &v);
        }
        Kind::RedirectOtherHost | Kind::RedirectHttp => {
            let path = rq.url().to_string();
            let (status, default_base) =
                if kind == Kind::RedirectOtherHost { (302, "https://login.evil.example") } else { (307, "http://login.microsoftonline.com") };
            let base = state.opts.redirect_to.as_deref().unwrap_or(default_base).trim_end_matches('/');
            let location = format!("{base}{path}");
            let h = vec![header("Location", &location), header("Content-Type", "text/html; charset=utf-8")];
            let _ = rq.respond(bytes_response(status, h, b"<html><body>Moved</body></html>".to_vec()));
        }
        _ => send_error(state, rq, 500, "server_error", Some(50000), &format!("fault {kind:?} has no answer at this stage ({})", version.name())),
    }
}

fn is_fault(kind: Kind) -> bool {
    KINDS.iter().any(|(_, k, dc)| *k == kind && *dc) || kind == Kind::Always503
}

// ---------------------------------------------------------------------------------------------
// Routing

enum Route {
    DeviceCode { tenant: String, version: Version },
    Token { tenant: String, version: Version },
    Other,
}

fn route_of(path: &str) -> Route {
    let segs: Vec<&str> = path.split('/').collect();
    match segs.as_slice() {
        ["", tenant, "oauth2", "devicecode"] => Route::DeviceCode { tenant: tenant.to_string(), version: Version::V1 },
        ["", tenant, "oauth2", "v2.0", "devicecode"] => Route::DeviceCode { tenant: tenant.to_string(), version: Version::V2 },
        ["", tenant, "oauth2", "token"] => Route::Token { tenant: tenant.to_string(), version: Version::V1 },
        ["", tenant, "oauth2", "v2.0", "token"] => Route::Token { tenant: tenant.to_string(), version: Version::V2 },
        _ => Route::Other,
    }
}

/// Wall-clock milliseconds since the Unix epoch (comparable with other processes' clocks on this machine).
fn epoch_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn handle(state: &State, mut rq: Request) {
    let received = Instant::now();
    let received_epoch_ms = epoch_ms();
    let method = rq.method().clone();
    let url = rq.url().to_string();
    let (path, query) = url.split_once('?').map(|(p, q)| (p.to_string(), q.to_string())).unwrap_or((url.clone(), String::new()));
    let mut body = Vec::new();
    let _ = rq.as_reader().take(1024 * 1024).read_to_end(&mut body);
    let form: Vec<(String, String)> = if method == Method::Post { util::parse_form(&String::from_utf8_lossy(&body)) } else { Vec::new() };
    let field = |name: &str| form.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let route = route_of(&path);

    if !path.starts_with("/_test/") {
        let (endpoint, tenant, version) = match &route {
            Route::DeviceCode { tenant, version } => ("devicecode", Some(tenant.clone()), Some(version.name())),
            Route::Token { tenant, version } => ("token", Some(tenant.clone()), Some(version.name())),
            Route::Other if path == "/devicelogin" => ("devicelogin", None, None),
            Route::Other => ("other", None, None),
        };
        let form_obj: Map<String, Value> = form.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        let entry = json!({
            "method": method.as_str(), "path": path, "query": query,
            "ms": received.saturating_duration_since(state.start).as_millis() as u64,
            "epoch_ms": received_epoch_ms,
            "form": form_obj, "endpoint": endpoint, "tenant": tenant, "version": version,
        });
        if state.opts.verbose {
            eprintln!("fake_authority: {} {} ({} ms)", method.as_str(), path, entry["ms"]);
        }
        lock(&state.log).push(entry);
    }

    match (route, &method) {
        (Route::DeviceCode { tenant, version }, Method::Post) => device_code(state, rq, &tenant, version, &field),
        (Route::Token { tenant, version }, Method::Post) => token(state, rq, &tenant, version, &field, received),
        (Route::DeviceCode { .. } | Route::Token { .. }, _) => {
            send_error(state, rq, 405, "invalid_request", Some(900561), "The endpoint only accepts POST requests.")
        }
        (Route::Other, _) => other(state, rq, &method, &path, &query, &field),
    }
}

fn other(state: &State, rq: Request, method: &Method, path: &str, query: &str, field: &dyn Fn(&str) -> Option<String>) {
    let qfield = |name: &str| util::parse_form(query).into_iter().rev().find(|(k, _)| k == name).map(|(_, v)| v);
    match (method, path) {
        (Method::Get, "/") | (Method::Get, "/devicelogin") => {
            let code = qfield("otc").unwrap_or_default();
            send_html(rq, 200, page::render(page::Outcome::Form { code: &code }))
        }
        (Method::Post, "/devicelogin") => {
            let code = field("user_code").unwrap_or_default();
            let deny = field("action").as_deref() == Some("deny");
            let to = if deny { SignInState::Declined } else { SignInState::Approved };
            if set_state(state, &code, to) {
                let shown = normalize_code(&code);
                let outcome = if deny { page::Outcome::Declined { user_code: &shown } } else { page::Outcome::SignedIn { user_code: &shown } };
                send_html(rq, 200, page::render(outcome));
            } else {
                send_html(rq, 400, page::render(page::Outcome::WrongCode(&code)));
            }
        }
        (Method::Get, "/_test/log") => send_json(rq, 200, &Value::Array(lock(&state.log).clone())),
        (Method::Post, "/_test/clear-log") => {
            lock(&state.log).clear();
            send_json(rq, 200, &json!({"ok": true}));
        }
        (Method::Get, "/_test/signins") => send_json(rq, 200, &Value::Array(signins_json(state))),
        (Method::Post, "/_test/approve") | (Method::Post, "/_test/decline") => {
            let code = field("user_code").or_else(|| qfield("user_code")).unwrap_or_default();
            let to = if path.ends_with("approve") { SignInState::Approved } else { SignInState::Declined };
            if set_state(state, &code, to) {
                let at = epoch_ms();
                send_json(rq, 200, &json!({"ok": true, "user_code": normalize_code(&code), "epoch_ms": at}));
            } else {
                send_json(rq, 404, &json!({"ok": false, "reason": "no pending sign-in with that user code"}));
            }
        }
        _ => {
            let _ = rq.respond(bytes_response(404, vec![header("Content-Type", "text/plain; charset=utf-8")], b"Not Found".to_vec()));
        }
    }
}

fn scenario_for(state: &State, tenant: &str) -> Result<Scenario, String> {
    let t = tenant.to_ascii_lowercase();
    match t.strip_suffix(SCENARIO_DOMAIN) {
        Some(name) => Scenario::parse(name).ok_or_else(|| name.to_string()),
        None => Ok(state.opts.scenario),
    }
}

fn missing_parameter(state: &State, rq: Request, name: &str) {
    send_error(state, rq, 400, "invalid_request", Some(900144), &format!("The request body must contain the following parameter: '{name}'."));
}

fn device_code(state: &State, rq: Request, tenant: &str, version: Version, field: &dyn Fn(&str) -> Option<String>) {
    let scenario = match scenario_for(state, tenant) {
        Ok(s) => s,
        Err(_) => {
            let text = format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.");
            return send_error(state, rq, 400, "invalid_request", Some(90002), &text);
        }
    };
    let Some(client_id) = field("client_id").filter(|c| !c.is_empty()) else { return missing_parameter(state, rq, "client_id") };
    let resource = match version {
        Version::V1 => match field("resource").filter(|r| !r.is_empty()) {
            Some(r) => r,
            None => return missing_parameter(state, rq, "resource"),
        },
        Version::V2 => match field("scope").filter(|s| !s.is_empty()) {
            Some(s) => entra::resource_of_scope(&s),
            None => return missing_parameter(state, rq, "scope"),
        },
    };
    if scenario.stage == Stage::DeviceCode {
        match scenario.kind {
            Kind::SlowResponse => std::thread::sleep(Duration::from_secs_f64(state.opts.delay_secs)),
            Kind::ExtraFields => {}
            k => return send_fault(state, rq, k, Stage::DeviceCode, version),
        }
    }
    if scenario.kind == Kind::DeviceCodeError200 {
        let text = format!("Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.");
        return send_error(state, rq, 200, "invalid_client", Some(700016), &text);
    }
    let now = Instant::now();
    let user_code = util::user_code();
    let device_code = format!("DAQABIQEAAAD{}", util::base64url(&util::random_bytes(60)));
    lock(&state.signins).push(SignIn {
        user_code: user_code.clone(),
        device_code: device_code.clone(),
        tenant: tenant.to_string(),
        version,
        client_id,
        resource,
        scenario,
        issued: now,
        last_seen: now,
        required_interval: state.opts.interval,
        polls: 0,
        state: SignInState::Pending,
        tokens: None,
    });
    let verification = format!("{}/devicelogin", state.base_url);
    let mut body = entra::device_code_body(version, &user_code, &device_code, &verification, state.opts.expires_in, state.opts.interval);
    if scenario.kind == Kind::ExtraFields && scenario.stage == Stage::DeviceCode {
        body["verification_uri_complete"] = json!(format!("{verification}?otc={user_code}"));
        body["x_fake_extra"] = json!({"nested": [1, "two", null]});
    }
    send_json(rq, 200, &body);
}

/// What to answer a poll with, decided under the lock and sent after it.
enum Answer {
    Error(u16, &'static str, Option<u32>, String),
    Fault(Kind),
    Token(Value),
}

fn token(state: &State, rq: Request, tenant: &str, version: Version, field: &dyn Fn(&str) -> Option<String>, received: Instant) {
    let grant = field("grant_type").unwrap_or_default();
    let urn = "urn:ietf:params:oauth:grant-type:device_code";
    let grant_ok = match version {
        Version::V1 => grant == urn || grant == "device_code",
        Version::V2 => grant == urn,
    };
    if grant.is_empty() {
        return missing_parameter(state, rq, "grant_type");
    }
    if !grant_ok {
        return send_error(state, rq, 400, "unsupported_grant_type", Some(70003), &format!("The app requested an unsupported grant type '{grant}'."));
    }
    let Some(client_id) = field("client_id").filter(|c| !c.is_empty()) else { return missing_parameter(state, rq, "client_id") };
    let code = match version {
        Version::V1 => field("code").or_else(|| field("device_code")),
        Version::V2 => field("device_code").or_else(|| field("code")),
    };
    let Some(code) = code.filter(|c| !c.is_empty()) else {
        return missing_parameter(state, rq, if version == Version::V1 { "code" } else { "device_code" });
    };
    if version == Version::V1 && field("resource").is_none_or(|r| r.is_empty()) {
        return missing_parameter(state, rq, "resource");
    }

    let opts = &state.opts;
    let (answer, delay) = {
        let mut all = lock(&state.signins);
        let Some(si) = all.iter_mut().find(|s| s.device_code == code) else {
            drop(all);
            return send_error(state, rq, 400, "invalid_grant", Some(70000), "The provided value for the input parameter 'device_code' is not valid.");
        };
        if si.tenant != tenant || si.client_id != client_id || si.version != version {
            drop(all);
            return send_error(state, rq, 400, "invalid_grant", Some(70000), "The provided value for the input parameter 'device_code' is not valid. It was issued for another tenant, client or endpoint.");
        }
        si.polls += 1;
        let poll = si.polls;
        let since = received.saturating_duration_since(si.last_seen);
        si.last_seen = received;
        let sc = si.scenario;
        let token_fault = sc.stage == Stage::Token && is_fault(sc.kind) && sc.kind != Kind::ExtraFields && sc.kind != Kind::SlowResponse;
        let delay = (sc.stage == Stage::Token && sc.kind == Kind::SlowResponse).then(|| Duration::from_secs_f64(opts.delay_secs));
        let expired = received >= si.issued + Duration::from_secs(opts.expires_in);
        let expired_answer = || match version {
            Version::V2 => Answer::Error(400, "expired_token", Some(70020), "The provided value for the input parameter 'device_code' is not valid. This device code has expired.".into()),
            Version::V1 => Answer::Error(400, "code_expired", Some(70019), "Verification code expired.".into()),
        };
        let declined_answer = || match version {
            Version::V2 => Answer::Error(400, "authorization_declined", Some(65004), "The user declined the sign-in on the device login page.".into()),
            Version::V1 => Answer::Error(400, "access_denied", Some(65004), "The user declined the sign-in on the device login page.".into()),
        };
        let pending = || Answer::Error(400, "authorization_pending", Some(70016), "OAuth 2.0 device flow error. Authorization is pending. Continue polling.".into());
        let loop_answer = || Answer::Error(400, "invalid_request", Some(50196), "The server terminated an operation because it encountered a client request loop. Please contact your app vendor.".into());

        let answer = if opts.loop_detection && since + LOOP_GRACE < Duration::from_secs(si.required_interval) && si.state != SignInState::Redeemed {
            loop_answer()
        } else if si.state == SignInState::Redeemed {
            Answer::Error(400, "invalid_grant", Some(54005), "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.".into())
        } else if expired || si.state == SignInState::Expired {
            si.state = SignInState::Expired;
            expired_answer()
        } else if si.state == SignInState::Declined {
            declined_answer()
        } else if poll == 1 && sc.kind == Kind::Decline {
            si.state = SignInState::Declined;
            declined_answer()
        } else if poll == 1 && sc.kind == Kind::Expire {
            si.state = SignInState::Expired;
            expired_answer()
        } else if poll == 1 && sc.kind == Kind::SlowDown {
            si.required_interval += 5;
            Answer::Error(400, "slow_down", None, "The client is polling too often; wait 5 seconds longer before each poll (local test authority).".into())
        } else if poll == 1 && sc.kind == Kind::LoopDetected {
            loop_answer()
        } else if poll == 1 && sc.kind == Kind::InvalidClient {
            Answer::Error(401, "invalid_client", Some(7000218), "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.".into())
        } else if token_fault && (poll == 1 || matches!(sc.kind, Kind::Always503 | Kind::HtmlError)) {
            Answer::Fault(sc.kind)
        } else {
            let elapsed = received.saturating_duration_since(si.issued).as_secs_f64();
            let by_polls = match (opts.approve_after_polls, opts.approve_after_secs) {
                (Some(n), _) => poll > n,
                (None, None) => poll > 1,
                (None, Some(_)) => false,
            };
            let by_secs = opts.approve_after_secs.is_some_and(|t| elapsed >= t);
            let auto = opts.auto_approve_secs.is_some_and(|t| elapsed >= t);
            let approved = si.state == SignInState::Approved || auto || (sc.kind != Kind::Manual && (by_polls || by_secs));
            if approved {
                let tokens = entra::make_tokens(&opts.token_prefix, &si.tenant, &si.client_id, &si.resource);
                let mut body = entra::token_body(version, &tokens, &si.resource);
                if sc.kind == Kind::ExtraFields && sc.stage == Stage::Token {
                    body["x_fake_extra"] = json!({"nested": [1, "two", null], "flag": true});
                    body["client_info"] = json!(util::base64url(br#"{"uid":"local","utid":"test"}"#));
                }
                si.tokens = Some(tokens);
                si.state = SignInState::Redeemed;
                Answer::Token(body)
            } else {
                pending()
            }
        };
        (answer, delay)
    };
    if let Some(d) = delay {
        std::thread::sleep(d);
    }
    match answer {
        Answer::Error(status, error, aadsts, text) => send_error(state, rq, status, error, aadsts, &text),
        Answer::Fault(kind) => send_fault(state, rq, kind, Stage::Token, version),
        Answer::Token(body) => send_json(rq, 200, &body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_names_round_trip() {
        for n in Scenario::all_names() {
            let s = Scenario::parse(&n).unwrap_or_else(|| panic!("{n}"));
            assert_eq!(s.name(), n);
        }
        assert_eq!(Scenario::parse("SLOW_DOWN").unwrap().kind, Kind::SlowDown);
        assert!(Scenario::parse("dc-decline").is_none());
        assert!(Scenario::parse("nope").is_none());
    }

    /// Sends one HTTP/1.1 request with a form body and returns the whole answer (status line to body).
    fn raw_post(port: u16, path: &str, body: &str) -> String {
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(c, "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
        let mut answer = String::new();
        c.read_to_string(&mut answer).unwrap();
        answer
    }

    #[test]
    fn log_and_approve_carry_wall_clock_epoch_ms() {
        let fa = FakeAuthority::start(Options { scenario: Scenario::parse("manual").unwrap(), ..Options::default() }).unwrap();
        let before = epoch_ms();
        let dc = raw_post(fa.port(), "/contoso/oauth2/devicecode", "client_id=c&resource=https%3A%2F%2Fr.example");
        assert!(dc.starts_with("HTTP/1.1 200"), "{dc}");
        let after = epoch_ms();
        let at = fa.log()[0]["epoch_ms"].as_u64().unwrap();
        assert!(before <= at && at <= after, "{before} <= {at} <= {after}");
        let code = fa.signins()[0]["user_code"].as_str().unwrap().to_string();
        let ok = raw_post(fa.port(), "/_test/approve", &format!("user_code={code}"));
        let body: Value = serde_json::from_str(ok.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        let approved = body["epoch_ms"].as_u64().unwrap();
        assert!(after <= approved && approved <= epoch_ms(), "{body}");
    }

    #[test]
    fn routes() {
        assert!(matches!(route_of("/t/oauth2/devicecode"), Route::DeviceCode { version: Version::V1, .. }));
        assert!(matches!(route_of("/t/oauth2/v2.0/token"), Route::Token { version: Version::V2, .. }));
        assert!(matches!(route_of("/t/oauth2/v2.0/other"), Route::Other));
    }
}
