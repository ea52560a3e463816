//! The device code sign-in (RFC 8628 against Entra ID v1 and v2): ask for a code, show it, copy it,
//! open the browser, then poll the token endpoint no faster than the server allows until the user
//! signs in, declines, the code expires, the caller's timeout passes, or the caller cancels.
//!
//! Time goes through the `Clock` seam and HTTP through the `Transport` seam, so tests can run the
//! loop with a fake clock (as oauth2-rs does with its sleep function) and a real or scripted server.

use crate::cancel::CancelToken;
use crate::clock::{Clock, RealClock};
use crate::desktop;
use crate::error::{Code, CoreError, CoreResult};
use crate::http::{self, Transport, UreqTransport};
use crate::settings::{self, FlowSettings};
use crate::wire::{self, DeviceCode, TokenReply};
use serde_json::json;
use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

/// Consecutive transient failures (429, 5xx, broken connections) after which the flow gives up.
pub const MAX_CONSECUTIVE_FAILURES: u32 = 5;
/// RFC 8628 §3.5: slow_down adds five seconds to this and every later interval.
pub const SLOW_DOWN_STEP_SECS: u64 = 5;
/// With D365FO_TEST_HOOKS=1, a sign-in to this tenant panics inside the flow (tests of the panic boundary).
pub const PANIC_HOOK_TENANT: &str = "panic.hook.test";
/// Retry-After values above this are not honoured (the deadline ends the flow anyway).
const MAX_RETRY_AFTER_SECS: u64 = 600;

/// Runs the whole flow described by `request_json`, emitting events; returns the token response JSON.
pub fn run_device_flow(request_json: &str, cancel: &CancelToken, emit: &mut dyn FnMut(&str)) -> CoreResult<String> {
    run_device_flow_with(request_json, cancel, emit, &RealClock, None)
}

/// `run_device_flow` with its seams: the clock, and a transport (None: the real HTTP client).
pub fn run_device_flow_with(
    request_json: &str,
    cancel: &CancelToken,
    emit: &mut dyn FnMut(&str),
    clock: &dyn Clock,
    transport: Option<Arc<dyn Transport>>,
) -> CoreResult<String> {
    let env = settings::process_env;
    let stored = crate::config::stored_settings();
    let settings = settings::resolve(request_json, &env, &stored)?;
    if settings.tenant == PANIC_HOOK_TENANT && env("D365FO_TEST_HOOKS").as_deref() == Some("1") {
        // Test-only: proves a panic in the flow surfaces as an error at the boundary, not a crash.
        panic!("forced panic in the flow (D365FO_TEST_HOOKS)");
    }
    let mut events = Events { emit };
    let transport: Arc<dyn Transport> = match transport {
        Some(t) => t,
        None => {
            let (t, proxy) = UreqTransport::new(&settings, &env)?;
            if let Some(p) = proxy {
                events.log(&format!("using the proxy {} for {}", proxy_for_log(&p), settings.authority_url.host_port()));
            }
            Arc::new(t)
        }
    };
    let flow = Flow { settings: &settings, transport, clock, cancel, host: settings.authority_url.host_port() };
    flow.run(&mut events, &env)
}

/// The proxy without credentials, for the log.
fn proxy_for_log(p: &str) -> String {
    match p.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{}", rest.rsplit('@').next().unwrap_or(rest)),
        None => p.rsplit('@').next().unwrap_or(p).to_string(),
    }
}

struct Events<'a> {
    emit: &'a mut dyn FnMut(&str),
}

impl Events<'_> {
    fn send(&mut self, v: serde_json::Value) {
        (self.emit)(&v.to_string());
    }

    fn log(&mut self, message: &str) {
        self.send(json!({"event": "log", "message": message}));
    }
}

fn cancelled() -> CoreError {
    CoreError::new(Code::Cancelled, "the sign-in was cancelled")
}

struct Flow<'a> {
    settings: &'a FlowSettings,
    transport: Arc<dyn Transport>,
    clock: &'a dyn Clock,
    cancel: &'a CancelToken,
    host: String,
}

impl Flow<'_> {
    /// The longest one request may take before the flow stops waiting for it.
    fn request_limit(&self) -> Duration {
        self.settings.http_timeout + Duration::from_secs(5)
    }

    fn run(&self, ev: &mut Events, env: &dyn Fn(&str) -> Option<String>) -> CoreResult<String> {
        let s = self.settings;
        if self.cancel.is_cancelled() {
            return Err(cancelled());
        }
        ev.log(&format!(
            "requesting a device code from {} (endpoint {}, client id {})",
            s.devicecode_url(),
            s.endpoint.name(),
            s.client_id
        ));
        let reply = match http::post_cancellable(&self.transport, &s.devicecode_url(), s.devicecode_form(), self.cancel, self.request_limit()) {
            None => return Err(cancelled()),
            Some(Err(e)) => return Err(e.to_core(&self.host)),
            Some(Ok(r)) => r,
        };
        let dc = wire::parse_device_code(&reply, &self.host)?;
        let issued_at = self.clock.now();
        ev.send(json!({
            "event": "code_issued",
            "user_code": dc.user_code,
            "verification_url": dc.verification_url,
            "message": dc.message,
            "expires_in": dc.expires_in,
            "interval": dc.interval,
        }));
        for note in &dc.notes {
            ev.log(note);
        }

        let mut browser = self.start_browser(&dc, ev, env);
        self.copy_code(&dc, ev, env);
        if self.cancel.is_cancelled() {
            return Err(cancelled());
        }
        let result = self.poll_until_token(&dc, issued_at, ev, &mut browser);
        drain_browser(&mut browser, ev);
        result
    }

    fn start_browser(&self, dc: &DeviceCode, ev: &mut Events, env: &dyn Fn(&str) -> Option<String>) -> Option<Receiver<Result<(), String>>> {
        if self.settings.no_browser {
            let reason = match self.settings.no_browser_source {
                "request" => "disabled by the caller".to_string(),
                src => format!("disabled ({src})"),
            };
            ev.send(json!({"event": "browser", "ok": false, "skipped": true, "reason": reason}));
            return None;
        }
        if let Some(reason) = desktop::browser_skip_reason(env) {
            ev.send(json!({"event": "browser", "ok": false, "skipped": true, "reason": reason}));
            return None;
        }
        Some(desktop::open_browser(&dc.verification_url))
    }

    fn copy_code(&self, dc: &DeviceCode, ev: &mut Events, env: &dyn Fn(&str) -> Option<String>) {
        if self.settings.no_clipboard {
            ev.send(json!({"event": "clipboard", "ok": false, "reason": "disabled"}));
            return;
        }
        match desktop::copy_to_clipboard(&dc.user_code, env, self.cancel) {
            Ok(()) => ev.send(json!({"event": "clipboard", "ok": true})),
            Err(reason) => ev.send(json!({"event": "clipboard", "ok": false, "reason": reason})),
        }
    }

    /// Polls per RFC 8628 until an ending; every wait goes through the clock and ends at once on cancel.
    fn poll_until_token(
        &self,
        dc: &DeviceCode,
        issued_at: Instant,
        ev: &mut Events,
        browser: &mut Option<Receiver<Result<(), String>>>,
    ) -> CoreResult<String> {
        let s = self.settings;
        let start = self.clock.now();
        let timeout_deadline = start + Duration::from_secs(s.timeout_secs);
        let expiry_deadline = issued_at + Duration::from_secs(dc.expires_in);
        let timed_out_first = timeout_deadline < expiry_deadline;
        let deadline = if timed_out_first { timeout_deadline } else { expiry_deadline };
        let ending = || {
            if timed_out_first {
                CoreError::new(Code::TimedOut, format!("the sign-in timed out after {} seconds (-Timeout)", s.timeout_secs))
            } else {
                CoreError::new(Code::CodeExpired, format!("the device code expired after {} seconds", dc.expires_in))
            }
        };
        let seconds_total = ceil_secs(deadline.saturating_duration_since(start));
        let token_url = s.token_url();
        let secrets = [dc.device_code.as_str()];

        let mut interval = dc.interval;
        let mut next_poll = start + Duration::from_secs(interval);
        let mut next_tick = start;
        let mut failures = 0u32;
        ev.log(&format!(
            "waiting for the sign-in: polling every {interval} s for up to {seconds_total} s (code expires in {} s)",
            dc.expires_in
        ));

        loop {
            // Wait for the next poll, ticking once a second and watching for the browser's outcome.
            loop {
                drain_browser(browser, ev);
                let now = self.clock.now();
                if now >= next_tick {
                    let left = ceil_secs(deadline.saturating_duration_since(now));
                    ev.send(json!({"event": "tick", "seconds_left": left, "seconds_total": seconds_total}));
                    while next_tick <= now {
                        next_tick += Duration::from_secs(1);
                    }
                }
                if now >= deadline {
                    return Err(ending());
                }
                if now >= next_poll {
                    break;
                }
                if self.clock.wait_until(next_poll.min(next_tick).min(deadline), self.cancel) {
                    return Err(cancelled());
                }
            }

            let reply = http::post_cancellable(&self.transport, &token_url, s.token_form(&dc.device_code), self.cancel, self.request_limit());
            let after = self.clock.now();
            let transient = match reply {
                None => return Err(cancelled()),
                Some(Err(e)) if e.is_transient() => TransientFailure { error: e.to_core(&self.host), retry_after: None },
                Some(Err(e)) => return Err(e.to_core(&self.host)),
                Some(Ok(r)) => match wire::classify_token_reply(&r, &self.host, &secrets) {
                    TokenReply::Token(t) => {
                        ev.log("signed in");
                        return Ok(t);
                    }
                    TokenReply::Pending => {
                        failures = 0;
                        next_poll = after + Duration::from_secs(interval);
                        continue;
                    }
                    TokenReply::SlowDown => {
                        failures = 0;
                        interval += SLOW_DOWN_STEP_SECS;
                        ev.log(&format!("the authority asked to slow down; polling every {interval} s from now on"));
                        next_poll = after + Duration::from_secs(interval);
                        continue;
                    }
                    TokenReply::Declined(e) => {
                        return Err(e.to_core(Code::Declined, format!("the sign-in was declined ({})", e.summary())));
                    }
                    TokenReply::Expired(e) => {
                        return Err(e.to_core(
                            Code::CodeExpired,
                            format!("the code expired before the sign-in was completed ({})", e.summary()),
                        ));
                    }
                    TokenReply::Transient { error, retry_after } => TransientFailure { error, retry_after },
                    TokenReply::Fatal(e) => return Err(e),
                },
            };
            failures += 1;
            if failures >= MAX_CONSECUTIVE_FAILURES {
                let mut e = transient.error;
                e.message = format!("{} (gave up after {failures} failed attempts in a row)", e.message);
                return Err(e);
            }
            let wait = retry_wait(interval, failures, transient.retry_after);
            ev.log(&format!(
                "{}; trying again in {wait} s (attempt {} of {MAX_CONSECUTIVE_FAILURES})",
                transient.error.message,
                failures + 1
            ));
            next_poll = after + Duration::from_secs(wait);
        }
    }
}

struct TransientFailure {
    error: CoreError,
    retry_after: Option<u64>,
}

/// The wait after the n-th consecutive transient failure: the interval, doubled per failure up to
/// four times the interval, and never shorter than the server's Retry-After (capped at 10 minutes).
pub fn retry_wait(interval: u64, failures: u32, retry_after: Option<u64>) -> u64 {
    let factor = 1u64 << failures.saturating_sub(1).min(2);
    let backoff = interval.saturating_mul(factor);
    backoff.max(retry_after.unwrap_or(0).min(MAX_RETRY_AFTER_SECS))
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

fn drain_browser(browser: &mut Option<Receiver<Result<(), String>>>, ev: &mut Events) {
    let Some(rx) = browser else { return };
    let outcome = match rx.try_recv() {
        Ok(r) => r,
        Err(std::sync::mpsc::TryRecvError::Empty) => return,
        Err(std::sync::mpsc::TryRecvError::Disconnected) => Err("the browser thread ended without an answer".into()),
    };
    match outcome {
        Ok(()) => ev.send(json!({"event": "browser", "ok": true, "skipped": false})),
        Err(reason) => ev.send(json!({"event": "browser", "ok": false, "skipped": false, "reason": reason})),
    }
    *browser = None;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FakeClock;
    use crate::http::{HttpReply, TransportError};
    use serde_json::Value;
    use std::collections::VecDeque;
    use std::sync::Mutex;

    /// A scripted authority: answers in order, records each request's form and the fake time.
    struct Script {
        answers: Mutex<VecDeque<Result<HttpReply, TransportError>>>,
        seen: Mutex<Vec<(String, Vec<(&'static str, String)>)>>,
    }

    impl Script {
        fn new(answers: Vec<Result<HttpReply, TransportError>>) -> Arc<Self> {
            Arc::new(Script { answers: Mutex::new(answers.into()), seen: Mutex::new(Vec::new()) })
        }
    }

    impl Transport for Script {
        fn post_form(&self, url: &str, form: &[(&'static str, String)]) -> Result<HttpReply, TransportError> {
            self.seen.lock().unwrap().push((url.to_string(), form.to_vec()));
            self.answers.lock().unwrap().pop_front().unwrap_or(Err(TransportError::Other("script ran out".into())))
        }
    }

    fn ok(status: u16, body: &str) -> Result<HttpReply, TransportError> {
        Ok(HttpReply { status, content_type: Some("application/json".into()), body: body.as_bytes().to_vec(), ..Default::default() })
    }

    fn code(interval: u64, expires: u64) -> Result<HttpReply, TransportError> {
        ok(200, &format!(r#"{{"user_code":"UC123","device_code":"SECRET-DEVICE-CODE","verification_url":"https://microsoft.com/devicelogin","expires_in":"{expires}","interval":"{interval}","message":"m"}}"#))
    }

    fn oauth(status: u16, error: &str) -> Result<HttpReply, TransportError> {
        ok(status, &format!(r#"{{"error":"{error}","error_description":"AADSTS70016: text\r\nTrace ID: x","error_codes":[70016]}}"#))
    }

    const TOKEN: &str = r#"{"token_type":"Bearer","expires_in":"3599","access_token":"AT.AT.AT","refresh_token":"RT"}"#;
    const REQ: &str = r#"{"tenant":"t","url":"https://x","timeout_secs":300,"authority":"http://127.0.0.1:1","no_browser":true,"no_clipboard":true}"#;

    fn run(req: &str, script: &Arc<Script>, clock: &FakeClock) -> (CoreResult<String>, Vec<Value>) {
        let cancel = CancelToken::new();
        let mut events = Vec::new();
        let t: Arc<dyn Transport> = script.clone();
        let r = run_device_flow_with(req, &cancel, &mut |e| events.push(serde_json::from_str(e).unwrap()), clock, Some(t));
        (r, events)
    }

    fn poll_times(events: &[Value]) -> usize {
        events.iter().filter(|e| e["event"] == "tick").count()
    }

    #[test]
    fn waits_the_interval_before_each_poll_and_returns_the_token_unchanged() {
        let s = Script::new(vec![code(5, 900), oauth(400, "authorization_pending"), oauth(400, "authorization_pending"), ok(200, TOKEN)]);
        let clock = FakeClock::new();
        let (r, events) = run(REQ, &s, &clock);
        assert_eq!(r.unwrap(), TOKEN);
        assert_eq!(clock.elapsed(), Duration::from_secs(15), "three polls, each after a 5 s wait");
        let kinds: Vec<&str> = events.iter().map(|e| e["event"].as_str().unwrap()).filter(|k| *k != "log").collect();
        assert_eq!(kinds[..4], ["code_issued", "browser", "clipboard", "tick"]);
        assert!(events.iter().any(|e| e["event"] == "browser" && e["skipped"] == true && e["reason"] == "disabled by the caller"));
        assert!(events.iter().any(|e| e["event"] == "clipboard" && e["ok"] == false && e["reason"] == "disabled"));
        assert!(events.iter().any(|e| e["event"] == "code_issued" && e["user_code"] == "UC123" && e["expires_in"] == 900 && e["interval"] == 5));
        assert!(poll_times(&events) >= 15);
        let text = serde_json::to_string(&events).unwrap();
        assert!(!text.contains("SECRET-DEVICE-CODE") && !text.contains("AT.AT.AT"));
    }

    #[test]
    fn slow_down_adds_five_seconds_to_this_and_every_later_wait() {
        let s = Script::new(vec![
            code(2, 900),
            oauth(400, "slow_down"),
            oauth(400, "authorization_pending"),
            oauth(400, "slow_down"),
            oauth(400, "authorization_pending"),
            ok(200, TOKEN),
        ]);
        let clock = FakeClock::new();
        let (r, _) = run(REQ, &s, &clock);
        assert!(r.is_ok());
        // polls at 2, then +7 = 9, +7 = 16, +12 = 28, +12 = 40
        assert_eq!(clock.elapsed(), Duration::from_secs(40));
    }

    #[test]
    fn missing_interval_means_five_seconds() {
        let s = Script::new(vec![
            ok(200, r#"{"user_code":"U","device_code":"D123","verification_uri":"https://x/y","expires_in":900}"#),
            ok(200, TOKEN),
        ]);
        let clock = FakeClock::new();
        let (r, events) = run(REQ, &s, &clock);
        assert!(r.is_ok());
        assert_eq!(clock.elapsed(), Duration::from_secs(5));
        assert!(events.iter().any(|e| e["event"] == "log" && e["message"].as_str().unwrap().contains("no interval")));
    }

    #[test]
    fn timeout_and_expiry_have_their_own_words() {
        let s = Script::new(vec![code(5, 900)].into_iter().chain((0..100).map(|_| oauth(400, "authorization_pending"))).collect());
        let clock = FakeClock::new();
        let (r, _) = run(&REQ.replace("300", "12"), &s, &clock);
        let e = r.unwrap_err();
        assert_eq!(e.code, Code::TimedOut);
        assert_eq!(e.message, "the sign-in timed out after 12 seconds (-Timeout)");
        assert_eq!(clock.elapsed(), Duration::from_secs(12));
        assert_eq!(s.seen.lock().unwrap().len(), 3, "code + polls at 5 and 10");

        let s = Script::new(vec![code(5, 20)].into_iter().chain((0..100).map(|_| oauth(400, "authorization_pending"))).collect());
        let clock = FakeClock::new();
        let (r, events) = run(REQ, &s, &clock);
        let e = r.unwrap_err();
        assert_eq!(e.code, Code::CodeExpired);
        assert_eq!(e.message, "the device code expired after 20 seconds");
        let ticks: Vec<&Value> = events.iter().filter(|e| e["event"] == "tick").collect();
        assert_eq!(ticks[0]["seconds_total"], 20);
        assert_eq!(ticks[0]["seconds_left"], 20);
        assert_eq!(ticks.last().unwrap()["seconds_left"], 0);
    }

    #[test]
    fn declined_and_server_expiry_stop_with_their_messages() {
        for (err, want, words) in [
            ("authorization_declined", Code::Declined, "the sign-in was declined"),
            ("access_denied", Code::Declined, "the sign-in was declined"),
            ("expired_token", Code::CodeExpired, "the code expired"),
            ("code_expired", Code::CodeExpired, "the code expired"),
        ] {
            let s = Script::new(vec![code(1, 900), oauth(400, err)]);
            let (r, _) = run(REQ, &s, &FakeClock::new());
            let e = r.unwrap_err();
            assert_eq!(e.code, want, "{err}");
            assert!(e.message.contains(words), "{}", e.message);
            assert_eq!(e.details["error"], err);
            assert_eq!(e.details["aadsts"], "AADSTS70016");
        }
    }

    #[test]
    fn transient_failures_are_retried_with_backoff_and_retry_after() {
        let mut throttled = HttpReply { status: 429, retry_after: Some(30), body: b"slow".to_vec(), ..Default::default() };
        throttled.content_type = Some("text/plain".into());
        let s = Script::new(vec![
            code(5, 900),
            Err(TransportError::Broken("reset".into())),
            ok(503, "Service Unavailable"),
            Ok(throttled),
            ok(200, TOKEN),
        ]);
        let clock = FakeClock::new();
        let (r, events) = run(REQ, &s, &clock);
        assert!(r.is_ok());
        // 5 (first wait) + 5 (after 1st failure) + 10 (after 2nd) + 30 (Retry-After beats 20) = 50
        assert_eq!(clock.elapsed(), Duration::from_secs(50));
        assert!(events.iter().any(|e| e["event"] == "log" && e["message"].as_str().unwrap().contains("trying again in 30 s")));
    }

    #[test]
    fn too_many_transient_failures_end_the_flow() {
        let s = Script::new(vec![code(1, 900)].into_iter().chain((0..10).map(|_| ok(503, "<html><title>Down</title></html>"))).collect());
        let (r, _) = run(REQ, &s, &FakeClock::new());
        let e = r.unwrap_err();
        assert_eq!(e.code, Code::ProtocolError);
        assert!(e.message.contains("HTML page") && e.message.contains("gave up after 5"), "{}", e.message);
        assert_eq!(s.seen.lock().unwrap().len(), 6);
    }

    #[test]
    fn other_errors_stop_at_once_with_the_authority_error() {
        let s = Script::new(vec![code(1, 900), oauth(401, "invalid_client")]);
        let (r, _) = run(REQ, &s, &FakeClock::new());
        let e = r.unwrap_err();
        assert_eq!(e.code, Code::AuthorityError);
        assert_eq!(e.details["http_status"], 401);
        let tls = Script::new(vec![code(1, 900), Err(TransportError::Tls("invalid peer certificate: UnknownIssuer".into()))]);
        let (r, _) = run(REQ, &tls, &FakeClock::new());
        assert_eq!(r.unwrap_err().code, Code::NetworkError);
    }

    #[test]
    fn token_polls_carry_the_device_code_twice() {
        let s = Script::new(vec![code(1, 900), ok(200, TOKEN)]);
        let (r, _) = run(REQ, &s, &FakeClock::new());
        assert!(r.is_ok());
        let seen = s.seen.lock().unwrap();
        assert!(seen[0].0.ends_with("/t/oauth2/devicecode"));
        assert!(seen[1].0.ends_with("/t/oauth2/token"));
        let form = &seen[1].1;
        for (k, v) in [("device_code", "SECRET-DEVICE-CODE"), ("code", "SECRET-DEVICE-CODE"), ("resource", "https://x")] {
            assert!(form.iter().any(|(n, val)| *n == k && val == v), "{k}");
        }
    }

    #[test]
    fn validation_errors_send_nothing() {
        let s = Script::new(vec![]);
        let (r, events) = run(r#"{"tenant":"a/b","url":"https://x"}"#, &s, &FakeClock::new());
        assert_eq!(r.unwrap_err().code, Code::InvalidRequest);
        assert!(events.is_empty());
        assert!(s.seen.lock().unwrap().is_empty());
    }

    #[test]
    fn cancel_before_start_sends_nothing() {
        let s = Script::new(vec![code(1, 900)]);
        let cancel = CancelToken::new();
        cancel.cancel();
        let t: Arc<dyn Transport> = s.clone();
        let r = run_device_flow_with(REQ, &cancel, &mut |_| {}, &FakeClock::new(), Some(t));
        assert_eq!(r.unwrap_err().code, Code::Cancelled);
        assert!(s.seen.lock().unwrap().is_empty());
    }

    #[test]
    fn retry_wait_doubles_up_to_four_times_and_honours_retry_after() {
        assert_eq!([1, 2, 3, 4, 5].map(|n| retry_wait(5, n, None)), [5, 10, 20, 20, 20]);
        assert_eq!(retry_wait(5, 1, Some(2)), 5);
        assert_eq!(retry_wait(5, 1, Some(60)), 60);
        assert_eq!(retry_wait(5, 1, Some(100_000)), 600);
    }

    #[test]
    fn proxy_credentials_stay_out_of_the_log() {
        assert_eq!(proxy_for_log("http://user:pw@proxy:3128"), "http://proxy:3128");
        assert_eq!(proxy_for_log("proxy:3128"), "proxy:3128");
    }
}
