//! The running server: binding, the request log, routing each request to Entra's endpoints, the
//! device-login page or a test hook.

use crate::endpoints;
use crate::fault::SlowAnswers;
use crate::page;
use crate::protocol::{self, Version};
use crate::respond::{send_error, send_html, send_json, send_text};
use crate::state::{Options, SignInState, State, lock, normalize_code};
use crate::tls;
use crate::util::{self, epoch_ms};
use serde_json::{Map, Value, json};
use std::io::{self, Read};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;
use tiny_http::{Method, Request, Server};

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
            slow: SlowAnswers::default(),
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
        self.state.signins_json()
    }

    /// Approves the pending sign-in with this user code (as the page's "Sign in").
    pub fn approve(&self, user_code: &str) -> bool {
        self.state.set_state(user_code, SignInState::Approved)
    }

    /// Declines the pending sign-in with this user code (as the page's "Deny").
    pub fn decline(&self, user_code: &str) -> bool {
        self.state.set_state(user_code, SignInState::Declined)
    }

    /// The `trickle` and `endless-body` answers (as `GET /_test/slow-answers`): `in_progress`, and for each
    /// finished one how many bytes went out and whether it ended `complete`, `client-gone` or `time-limit`.
    pub fn slow_answers(&self) -> Value {
        self.state.slow.json()
    }

    /// Revokes the refresh tokens of the sign-in with this user code, or of every sign-in with `None` (as
    /// `POST /_test/revoke`); their refreshes get `invalid_grant` AADSTS50173 from then on. Returns how many
    /// sign-ins were revoked.
    pub fn revoke(&self, user_code: Option<&str>) -> usize {
        self.state.revoke(user_code)
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
        (Route::DeviceCode { tenant, version }, Method::Post) => endpoints::device_code(state, rq, &tenant, version, &field),
        (Route::Token { tenant, version }, Method::Post) => endpoints::token(state, rq, &tenant, version, &field, received),
        (Route::DeviceCode { .. } | Route::Token { .. }, _) => {
            send_error(&state.base_url, rq, &protocol::method_not_allowed(method.as_str()))
        }
        (Route::Other, _) => other(state, rq, &method, &path, &query, &field),
    }
}

/// The device-login page and the test hooks.
fn other(state: &State, rq: Request, method: &Method, path: &str, query: &str, field: endpoints::Field) {
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
            if state.set_state(&code, to) {
                let shown = normalize_code(&code);
                let outcome =
                    if deny { page::Outcome::Declined { user_code: &shown } } else { page::Outcome::SignedIn { user_code: &shown } };
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
        (Method::Get, "/_test/signins") => send_json(rq, 200, &Value::Array(state.signins_json())),
        (Method::Post, "/_test/approve") | (Method::Post, "/_test/decline") => {
            let code = field("user_code").or_else(|| qfield("user_code")).unwrap_or_default();
            let to = if path.ends_with("approve") { SignInState::Approved } else { SignInState::Declined };
            if state.set_state(&code, to) {
                let at = epoch_ms();
                send_json(rq, 200, &json!({"ok": true, "user_code": normalize_code(&code), "epoch_ms": at}));
            } else {
                send_json(rq, 404, &json!({"ok": false, "reason": "no pending sign-in with that user code"}));
            }
        }
        (Method::Get, "/_test/slow-answers") => send_json(rq, 200, &state.slow.json()),
        (Method::Post, "/_test/revoke") => {
            let code = field("user_code").or_else(|| qfield("user_code")).filter(|c| !c.is_empty());
            let n = state.revoke(code.as_deref());
            if code.is_some() && n == 0 {
                send_json(rq, 404, &json!({"ok": false, "reason": "no sign-in with that user code"}));
            } else {
                send_json(rq, 200, &json!({"ok": true, "revoked": n, "epoch_ms": epoch_ms()}));
            }
        }
        _ => send_text(rq, 404, "Not Found"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;
    use std::io::Write;

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
