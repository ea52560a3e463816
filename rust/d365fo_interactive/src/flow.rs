//! One device code sign-in (RFC 8628 against Entra ID v1 and v2), and the refresh grant: ask for a code,
//! show it, copy it, open the browser, then let the `Poller` decide when to poll until it says the flow is
//! over. Everything the flow needs arrives as values (`Plan`) and seams (`Context`: clock, transport,
//! cancellation, events), so tests drive it with a fake clock and a real or scripted server.

use crate::cancel::CancelToken;
use crate::clock::Clock;
use crate::desktop::{self, Desktop};
use crate::error::{Code, CoreError, CoreResult};
use crate::http::{self, Outcome, Transport};
use crate::poller::{Action, DeadlineKind, PollOutcome, Poller};
use crate::protocol::Event;
use crate::settings::{SignInSettings, Source};
use crate::validate::EndpointVersion;
use crate::wire::{self, DeviceCode, OAuthError, RefreshReply, TokenSet};
use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::time::Duration;

/// Test builds only (feature `test-hooks`): sign-ins to these tenants panic inside the core, before anything
/// is sent, or right after the code was shown.
#[cfg(feature = "test-hooks")]
pub const PANIC_BEFORE_SENDING: &str = "panic.hook.test";
#[cfg(feature = "test-hooks")]
pub const PANIC_AFTER_CODE: &str = "panic-after-code.hook.test";

/// Everything one sign-in needs, resolved and checked.
#[derive(Debug, Clone)]
pub struct Plan {
    pub tenant: String,
    /// The resource (environment URL) without a trailing '/'.
    pub resource: String,
    /// The caller's -Timeout.
    pub timeout_secs: u64,
    pub settings: SignInSettings,
    pub desktop: Desktop,
    pub no_clipboard: bool,
}

impl Plan {
    /// The authority's host (and port), for messages.
    pub fn host(&self) -> String {
        self.settings.authority_url.host_port()
    }

    fn endpoint_base(&self) -> String {
        match self.settings.endpoint {
            EndpointVersion::V1 => format!("{}/{}/oauth2", self.settings.authority, self.tenant),
            EndpointVersion::V2 => {
                format!("{}/{}/oauth2/v2.0", self.settings.authority, self.tenant)
            }
        }
    }

    pub fn devicecode_url(&self) -> String {
        format!("{}/devicecode", self.endpoint_base())
    }

    pub fn token_url(&self) -> String {
        format!("{}/token", self.endpoint_base())
    }

    /// v2 asks for the environment's default scope, plus offline_access for a refresh token.
    pub fn scope(&self) -> String {
        format!("{}/.default offline_access", self.resource)
    }

    /// What the token is for, as the endpoint version names it (`resource` or `scope`).
    fn target(&self) -> (&'static str, String) {
        match self.settings.endpoint {
            EndpointVersion::V1 => ("resource", self.resource.clone()),
            EndpointVersion::V2 => ("scope", self.scope()),
        }
    }

    pub fn devicecode_form(&self) -> Vec<(&'static str, String)> {
        vec![("client_id", self.settings.client_id.clone()), self.target()]
    }

    /// Each poll: the documented grant type; the device code goes as both `device_code` and `code` (v1 reads
    /// `code`, v2 reads `device_code`; MSAL sends both for the same reason); v1 repeats the resource.
    pub fn token_form(&self, device_code: &str) -> Vec<(&'static str, String)> {
        let mut form = vec![
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code".to_string()),
            ("client_id", self.settings.client_id.clone()),
            ("device_code", device_code.to_string()),
            ("code", device_code.to_string()),
        ];
        if self.settings.endpoint == EndpointVersion::V1 {
            form.push(("resource", self.resource.clone()));
        }
        form
    }

    /// The refresh grant (v1: `resource`; v2: `scope`).
    pub fn refresh_form(&self, refresh_token: &str) -> Vec<(&'static str, String)> {
        vec![
            ("grant_type", "refresh_token".to_string()),
            ("client_id", self.settings.client_id.clone()),
            ("refresh_token", refresh_token.to_string()),
            self.target(),
        ]
    }
}

/// The seams of a running sign-in.
pub struct Context<'a> {
    pub clock: &'a dyn Clock,
    pub transport: Arc<dyn Transport>,
    pub cancel: &'a CancelToken,
    pub emit: &'a mut dyn FnMut(Event),
}

impl Context<'_> {
    fn log(&mut self, message: impl Into<String>) {
        (self.emit)(Event::Log { message: message.into() });
    }
}

fn cancelled() -> CoreError {
    CoreError::new(Code::Cancelled, "the sign-in was cancelled")
}

/// Runs a whole device code sign-in and returns the checked token answer.
pub fn device_flow(plan: &Plan, ctx: &mut Context) -> CoreResult<TokenSet> {
    if ctx.cancel.is_cancelled() {
        return Err(cancelled());
    }
    let host = plan.host();
    let s = &plan.settings;
    if let Some(message) = crate::page::authority_notice(&s.authority_url, &s.authority) {
        // This machine's authority (the bundled test authority, a developer's) is said on the host; any other
        // that is not Microsoft's is a warning.
        (ctx.emit)(if s.authority_url.is_loopback() { Event::Notice { message } } else { Event::Warning { message } });
    }
    ctx.log(format!("requesting a device code from {} (endpoint {}, client id {})", plan.devicecode_url(), s.endpoint.name(), s.client_id));
    let deadline = ctx.clock.now() + s.http_timeout.min(Duration::from_secs(plan.timeout_secs));
    let reply = match http::post_bounded(&ctx.transport, &plan.devicecode_url(), plan.devicecode_form(), ctx.cancel, deadline) {
        Outcome::Cancelled => return Err(cancelled()),
        Outcome::DeadlineReached => {
            return Err(http::TransportError::Timeout("no answer in time".into()).to_core(&host));
        }
        Outcome::Failed(e) => return Err(e.to_core(&host)),
        Outcome::Reply(r) => r,
    };
    let mut dc = wire::parse_device_code(&reply, &host)?;
    let page_refused = crate::page::judge(&s.authority_url, &dc.verification_url).err();
    if page_refused.is_some() {
        // Neither shown, opened, nor repeated through the authority's own instruction (which names it).
        dc.verification_url.clear();
        dc.message.clear();
    }
    let issued_at = ctx.clock.now();
    for note in &dc.notes {
        ctx.log(note.clone());
    }
    let poller = Poller::new(issued_at, issued_at, dc.interval, plan.timeout_secs, dc.expires_in);
    let (wait_secs, wait_ends_by) = match poller.deadline_kind() {
        DeadlineKind::Timeout(t) => (t, "timeout"),
        DeadlineKind::CodeExpiry(e) => (e, "expiry"),
    };
    (ctx.emit)(Event::CodeIssued {
        user_code: dc.user_code.clone(),
        verification_url: dc.verification_url.clone(),
        page_refused: page_refused.clone(),
        message: dc.message.clone(),
        expires_in: dc.expires_in,
        interval: dc.interval,
        wait_secs,
        wait_ends_by,
    });
    #[cfg(feature = "test-hooks")]
    if plan.tenant == PANIC_AFTER_CODE {
        panic!("forced panic (test-hooks build)");
    }
    let mut browser = if page_refused.is_some() {
        (ctx.emit)(Event::Browser { ok: false, skipped: true, reason: Some("the sign-in page the authority named was refused".into()) });
        None
    } else {
        start_browser(plan, &dc, ctx)
    };
    copy_code(plan, &dc, ctx);
    if ctx.cancel.is_cancelled() {
        return Err(cancelled());
    }
    ctx.log(format!("waiting for the sign-in: polling every {} s for up to {wait_secs} s", dc.interval));
    let result = poll_until_done(plan, &dc, poller, ctx, &mut browser);
    report_browser(&mut browser, ctx);
    if result.is_ok() {
        ctx.log("signed in");
    }
    result
}

fn start_browser(plan: &Plan, dc: &DeviceCode, ctx: &mut Context) -> Option<Receiver<Result<(), String>>> {
    if plan.settings.no_browser {
        let reason = match plan.settings.no_browser_source {
            Source::Request => "it was turned off for this call".to_string(),
            Source::Environment => "D365FO_NO_BROWSER is set".to_string(),
            Source::Stored | Source::Default => "the NoBrowser setting is on (see Get-D365ODataInteractiveSetting)".to_string(),
        };
        (ctx.emit)(Event::Browser { ok: false, skipped: true, reason: Some(reason) });
        return None;
    }
    if let Some(reason) = plan.desktop.browser_skip_reason() {
        (ctx.emit)(Event::Browser { ok: false, skipped: true, reason: Some(reason) });
        return None;
    }
    Some(desktop::open_browser(&dc.verification_url))
}

fn copy_code(plan: &Plan, dc: &DeviceCode, ctx: &mut Context) {
    let outcome = if plan.no_clipboard {
        Err("it was turned off for this call".to_string())
    } else {
        desktop::copy_to_clipboard(&dc.user_code, &plan.desktop, ctx.cancel)
    };
    match outcome {
        Ok(()) => (ctx.emit)(Event::Clipboard { ok: true, reason: None }),
        Err(reason) => (ctx.emit)(Event::Clipboard { ok: false, reason: Some(reason) }),
    }
}

/// Drives the poller: waits (ticking about once a second), polls when it says so, until it is done.
fn poll_until_done(
    plan: &Plan,
    dc: &DeviceCode,
    mut poller: Poller,
    ctx: &mut Context,
    browser: &mut Option<Receiver<Result<(), String>>>,
) -> CoreResult<TokenSet> {
    let host = plan.host();
    let start = ctx.clock.now();
    let seconds_total = ceil_secs(poller.deadline().saturating_duration_since(start));
    let mut next_tick = start;
    loop {
        report_browser(browser, ctx);
        let now = ctx.clock.now();
        if now >= next_tick {
            let seconds_left = ceil_secs(poller.deadline().saturating_duration_since(now));
            (ctx.emit)(Event::Tick { seconds_left, seconds_total });
            while next_tick <= now {
                next_tick += Duration::from_secs(1);
            }
        }
        match poller.next_action(now) {
            Action::Done(result) => return result.map(|t| *t),
            Action::WaitUntil(until) => {
                if ctx.clock.wait_until(until.min(next_tick), ctx.cancel) {
                    return Err(cancelled());
                }
            }
            Action::Poll => {
                let deadline = (now + plan.settings.http_timeout).min(poller.deadline());
                let outcome =
                    match http::post_bounded(&ctx.transport, &plan.token_url(), plan.token_form(&dc.device_code), ctx.cancel, deadline) {
                        Outcome::Cancelled => return Err(cancelled()),
                        Outcome::Reply(r) => PollOutcome::Reply(wire::classify_token_reply(&r, &host, &[&dc.device_code])),
                        Outcome::Failed(e) => PollOutcome::NoAnswer { error: e.to_core(&host), transient: e.is_transient() },
                        Outcome::DeadlineReached => PollOutcome::NoAnswer {
                            error: http::TransportError::Timeout("no answer in time".into()).to_core(&host),
                            transient: true,
                        },
                    };
                if let PollOutcome::Reply(wire::TokenReply::Token(t)) = &outcome {
                    for note in &t.notes {
                        ctx.log(note.clone());
                    }
                }
                if let Some(note) = poller.observe(ctx.clock.now(), outcome) {
                    ctx.log(note);
                }
            }
        }
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// Reports the browser's outcome once it is known (it opens on its own thread).
fn report_browser(browser: &mut Option<Receiver<Result<(), String>>>, ctx: &mut Context) {
    let Some(rx) = browser else { return };
    let outcome = match rx.try_recv() {
        Ok(r) => r,
        Err(std::sync::mpsc::TryRecvError::Empty) => return,
        Err(std::sync::mpsc::TryRecvError::Disconnected) => Err("the browser could not be started".into()),
    };
    match outcome {
        Ok(()) => (ctx.emit)(Event::Browser { ok: true, skipped: false, reason: None }),
        Err(reason) => (ctx.emit)(Event::Browser { ok: false, skipped: false, reason: Some(reason) }),
    }
    *browser = None;
}

/// How a refresh grant ended.
pub enum Refresh {
    Renewed(TokenSet),
    /// The authority said no (the refresh token expired, was revoked, or needs interaction).
    Refused(OAuthError),
    /// The authority could not be asked or answered garbage.
    Failed(CoreError),
}

/// Renews a token with the refresh grant, within the per-request bound and the caller's -Timeout.
pub fn refresh(plan: &Plan, refresh_token: &str, ctx: &mut Context) -> CoreResult<Refresh> {
    let host = plan.host();
    ctx.log(format!("renewing the session's token at {} (refresh grant)", plan.token_url()));
    let deadline = ctx.clock.now() + plan.settings.http_timeout.min(Duration::from_secs(plan.timeout_secs));
    let reply = match http::post_bounded(&ctx.transport, &plan.token_url(), plan.refresh_form(refresh_token), ctx.cancel, deadline) {
        Outcome::Cancelled => return Err(cancelled()),
        Outcome::DeadlineReached => {
            return Ok(Refresh::Failed(http::TransportError::Timeout("no answer in time".into()).to_core(&host)));
        }
        Outcome::Failed(e) => return Ok(Refresh::Failed(e.to_core(&host))),
        Outcome::Reply(r) => r,
    };
    Ok(match wire::classify_refresh_reply(&reply, &host, &[refresh_token]) {
        RefreshReply::Token(t) => {
            for note in &t.notes {
                ctx.log(note.clone());
            }
            Refresh::Renewed(*t)
        }
        RefreshReply::Refused(e) => Refresh::Refused(e),
        RefreshReply::Failed(e) => Refresh::Failed(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FakeClock;
    use crate::http::{Abort, HttpReply, TransportError};
    use crate::settings::{self, Inputs};
    use std::collections::{BTreeMap, VecDeque};
    use std::sync::Mutex;
    use std::time::Instant;

    /// One request as the scripted authority saw it: the URL and the form.
    type Seen = (String, Vec<(&'static str, String)>);

    /// A scripted authority: answers in order, records each request's URL and form.
    struct Script {
        answers: Mutex<VecDeque<Result<HttpReply, TransportError>>>,
        seen: Mutex<Vec<Seen>>,
    }

    impl Script {
        fn new(answers: Vec<Result<HttpReply, TransportError>>) -> Arc<Self> {
            Arc::new(Script { answers: Mutex::new(answers.into()), seen: Mutex::new(Vec::new()) })
        }
    }

    impl Transport for Script {
        fn post_form(
            &self,
            url: &str,
            form: &[(&'static str, String)],
            _deadline: Instant,
            _abort: &Arc<Abort>,
        ) -> Result<HttpReply, TransportError> {
            self.seen.lock().unwrap().push((url.to_string(), form.to_vec()));
            self.answers.lock().unwrap().pop_front().unwrap_or(Err(TransportError::Other("script ran out".into())))
        }
    }

    fn ok(status: u16, body: &str) -> Result<HttpReply, TransportError> {
        Ok(HttpReply { status, content_type: Some("application/json".into()), body: body.as_bytes().to_vec(), ..Default::default() })
    }

    fn code(interval: u64, expires: u64) -> Result<HttpReply, TransportError> {
        ok(
            200,
            &format!(
                r#"{{"user_code":"UC123","device_code":"SECRET-DEVICE-CODE","verification_url":"https://microsoft.com/devicelogin","expires_in":"{expires}","interval":"{interval}","message":"m"}}"#
            ),
        )
    }

    fn oauth(status: u16, error: &str) -> Result<HttpReply, TransportError> {
        ok(status, &format!(r#"{{"error":"{error}","error_description":"AADSTS70016: text\r\nTrace ID: x","error_codes":[70016]}}"#))
    }

    const TOKEN: &str = r#"{"token_type":"Bearer","expires_in":"3599","access_token":"AT.AT.AT","refresh_token":"RT"}"#;

    fn plan(endpoint: &str, timeout_secs: u64) -> Plan {
        let request: BTreeMap<&'static str, String> = [
            ("authority", "https://login.example".to_string()),
            ("endpoint_version", endpoint.to_string()),
            ("no_browser", "true".to_string()),
        ]
        .into();
        let settings = settings::resolve_sign_in(&Inputs { request: &request, env: &|_| None, stored: &|_| None }).unwrap();
        Plan { tenant: "t".into(), resource: "https://x".into(), timeout_secs, settings, desktop: Desktop::default(), no_clipboard: true }
    }

    fn run(plan: &Plan, script: &Arc<Script>, clock: &FakeClock) -> (CoreResult<TokenSet>, Vec<Event>) {
        let mut events = Vec::new();
        let cancel = CancelToken::new();
        let mut emit = |e: Event| events.push(e);
        let mut ctx = Context { clock, transport: script.clone(), cancel: &cancel, emit: &mut emit };
        let r = device_flow(plan, &mut ctx);
        (r, events)
    }

    fn code_with_page(page: &str) -> Result<HttpReply, TransportError> {
        let body = serde_json::json!({"user_code":"UC123","device_code":"SECRET-DEVICE-CODE","verification_uri":page,"expires_in":900,"interval":5,
            "message":format!("To sign in, open {page} and enter UC123")});
        ok(200, &body.to_string())
    }

    #[test]
    fn a_page_the_rules_refuse_is_neither_shown_nor_opened_and_the_code_still_is() {
        let hostile = "https://microsoft.com.devicelogin.attacker.example/x?a=1&calc.exe&echo|whoami";
        for (authority, page) in [
            ("https://login.example", hostile),
            ("https://login.microsoftonline.com", hostile),
            ("https://login.microsoftonline.com", "https://login.example/device"),
        ] {
            let script = Script::new(vec![code_with_page(page), ok(200, TOKEN)]);
            let mut p = plan("v2", 300);
            let request: BTreeMap<&'static str, String> =
                [("authority", authority.to_string()), ("endpoint_version", "v2".to_string()), ("no_browser", "false".to_string())].into();
            p.settings = settings::resolve_sign_in(&Inputs { request: &request, env: &|_| None, stored: &|_| None }).unwrap();
            // A desktop with $BROWSER set: the browser would be launched if the page were allowed.
            p.desktop = Desktop { display: Some(":0|".into()), browser_command: true };
            let (r, events) = run(&p, &script, &FakeClock::new());
            assert!(r.is_ok(), "{authority} {page}");
            let issued = events.iter().find_map(|e| match e {
                Event::CodeIssued { user_code, verification_url, page_refused, message, .. } => {
                    Some((user_code, verification_url, page_refused, message))
                }
                _ => None,
            });
            let (user_code, url, refused, message) = issued.unwrap();
            assert_eq!(user_code, "UC123");
            assert!(url.is_empty() && message.is_empty() && refused.is_some(), "{authority} {page}: {url} {refused:?} {message}");
            assert!(
                events.iter().any(|e| matches!(e, Event::Browser { ok: false, skipped: true, reason: Some(r) } if r.contains("refused"))),
                "{events:?}"
            );
            let all = format!("{events:?}");
            assert!(!all.contains("attacker") && !all.contains("login.example/device"), "{all}");
        }
    }

    #[test]
    fn polls_at_the_interval_and_returns_the_token() {
        let script = Script::new(vec![code(5, 900), oauth(400, "authorization_pending"), ok(200, TOKEN)]);
        let clock = FakeClock::new();
        let (r, events) = run(&plan("v1", 300), &script, &clock);
        let t = r.unwrap();
        assert_eq!((t.access_token.as_str(), t.refresh_token.as_deref(), t.lifetime_secs), ("AT.AT.AT", Some("RT"), 3599));
        assert_eq!(clock.elapsed(), Duration::from_secs(10));
        let seen = script.seen.lock().unwrap();
        assert_eq!(seen[0].0, "https://login.example/t/oauth2/devicecode");
        assert_eq!(seen[1].0, "https://login.example/t/oauth2/token");
        assert!(seen[1].1.contains(&("resource", "https://x".to_string())));
        match &events[0] {
            Event::Warning { message } => assert!(message.contains("https://login.example") && message.contains("not Microsoft's")),
            other => panic!("{other:?}"),
        }
        match &events[1] {
            Event::Log { message } => assert!(message.contains("requesting a device code")),
            other => panic!("{other:?}"),
        }
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::CodeIssued { user_code, wait_secs: 300, wait_ends_by: "timeout", .. } if user_code == "UC123"))
        );
        assert!(events.iter().any(|e| matches!(e, Event::Browser { skipped: true, .. })));
        assert!(events.iter().any(|e| matches!(e, Event::Clipboard { ok: false, .. })));
        let text = serde_json::to_string(&events).unwrap();
        assert!(!text.contains("SECRET-DEVICE-CODE") && !text.contains("AT.AT.AT"));
    }

    #[test]
    fn v2_forms_use_scope_and_the_documented_grant_type() {
        let p = plan("v2", 300);
        assert_eq!(p.devicecode_url(), "https://login.example/t/oauth2/v2.0/devicecode");
        assert_eq!(p.devicecode_form()[1], ("scope", "https://x/.default offline_access".to_string()));
        let f = p.token_form("DC");
        assert!(f.contains(&("grant_type", "urn:ietf:params:oauth:grant-type:device_code".to_string())));
        assert!(!f.iter().any(|(k, _)| *k == "resource"));
        let r = p.refresh_form("RT");
        assert_eq!(r[0], ("grant_type", "refresh_token".to_string()));
        assert_eq!(r[3], ("scope", "https://x/.default offline_access".to_string()));
        assert_eq!(plan("v1", 1).refresh_form("RT")[3], ("resource", "https://x".to_string()));
    }

    #[test]
    fn the_wait_ends_at_the_code_expiry_when_that_comes_first() {
        let script = Script::new(vec![code(5, 12), oauth(400, "authorization_pending"), oauth(400, "authorization_pending")]);
        let clock = FakeClock::new();
        let (r, events) = run(&plan("v1", 300), &script, &clock);
        let e = r.unwrap_err();
        assert_eq!(e.code, Code::CodeExpired);
        assert!(events.iter().any(|e| matches!(e, Event::CodeIssued { wait_secs: 12, wait_ends_by: "expiry", .. })));
        assert_eq!(clock.elapsed(), Duration::from_secs(12));
    }

    #[test]
    fn a_device_code_error_stops_before_any_poll() {
        let script = Script::new(vec![oauth(400, "invalid_client")]);
        let (r, _) = run(&plan("v1", 300), &script, &FakeClock::new());
        assert_eq!(r.unwrap_err().code, Code::AuthorityError);
        assert_eq!(script.seen.lock().unwrap().len(), 1);
    }

    #[test]
    fn refresh_outcomes() {
        let p = plan("v1", 300);
        let clock = FakeClock::new();
        let cancel = CancelToken::new();
        let mut sink = |_e: Event| {};
        for (answer, want) in [
            (ok(200, TOKEN), "renewed"),
            (oauth(400, "invalid_grant"), "refused"),
            (Err(TransportError::Connect("refused".into())), "failed"),
        ] {
            let script = Script::new(vec![answer]);
            let mut ctx = Context { clock: &clock, transport: script.clone(), cancel: &cancel, emit: &mut sink };
            let got = match refresh(&p, "OLD-RT", &mut ctx).unwrap() {
                Refresh::Renewed(_) => "renewed",
                Refresh::Refused(_) => "refused",
                Refresh::Failed(_) => "failed",
            };
            assert_eq!(got, want);
            assert!(script.seen.lock().unwrap()[0].1.contains(&("refresh_token", "OLD-RT".to_string())));
        }
    }
}
