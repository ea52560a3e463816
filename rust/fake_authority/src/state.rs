//! The server's settings and memory: the options it was started with, the request log, and every sign-in
//! with its state. The endpoints change it; the test hooks read it.

use crate::fault::SlowAnswers;
use crate::protocol::{Tokens, Version};
use crate::scenario::Scenario;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

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
    /// Lifetime of every access token issued, by the device flow and by refreshes (`expires_in`,
    /// `ext_expires_in`, `expires_on` and the JWT's `exp`; `--token-lifetime`). Short values make a client
    /// refresh soon.
    pub token_lifetime_secs: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            port: 0,
            interval: 5,
            expires_in: 900,
            scenario: Scenario::default(),
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
            token_lifetime_secs: 3599,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInState {
    Pending,
    Approved,
    Declined,
    Expired,
    Redeemed,
}

impl SignInState {
    pub fn name(self) -> &'static str {
        match self {
            SignInState::Pending => "pending",
            SignInState::Approved => "approved",
            SignInState::Declined => "declined",
            SignInState::Expired => "expired",
            SignInState::Redeemed => "redeemed",
        }
    }
}

pub struct SignIn {
    pub user_code: String,
    pub device_code: String,
    pub tenant: String,
    pub version: Version,
    pub client_id: String,
    pub resource: String,
    pub scenario: Scenario,
    pub issued: Instant,
    pub last_seen: Instant,
    pub required_interval: u64,
    /// Seconds from `issued` until polls get the expiry error (the server's `expires_in`, or what a replayed
    /// device code answer told the client).
    pub expires_in: u64,
    pub polls: u32,
    pub state: SignInState,
    /// The latest tokens issued to this sign-in (by the device flow, then by each refresh).
    pub tokens: Option<Tokens>,
    /// Every refresh token issued to this sign-in. Entra does not revoke a refresh token when it is used
    /// ("Refresh tokens aren't revoked when used to acquire new access tokens", v2-oauth2-auth-code-flow.md),
    /// so all of them stay redeemable until `/_test/revoke`.
    pub refresh_tokens: Vec<String>,
    /// Refreshes answered with new tokens, and refreshes refused.
    pub refreshes: u32,
    pub refresh_refusals: u32,
    /// Set by `/_test/revoke`: every refresh of this sign-in is refused from then on.
    pub revoked: bool,
}

pub struct State {
    pub opts: Options,
    pub base_url: String,
    pub local_port: u16,
    pub start: Instant,
    pub log: Mutex<Vec<Value>>,
    pub signins: Mutex<Vec<SignIn>>,
    /// The `trickle` and `endless-body` answers, running and finished (`/_test/slow-answers`).
    pub slow: SlowAnswers,
}

/// A poisoned lock only means a request thread panicked; the data is still the best there is.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// User codes compare without separators and case, as people type them.
pub fn normalize_code(c: &str) -> String {
    c.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect()
}

impl State {
    /// Moves the pending, unexpired sign-in with this user code to `to`; false when there is none.
    pub fn set_state(&self, user_code: &str, to: SignInState) -> bool {
        let wanted = normalize_code(user_code);
        if wanted.is_empty() {
            return false;
        }
        let now = Instant::now();
        let mut all = lock(&self.signins);
        // Newest first: replays of one recorded answer register the same user code more than once.
        match all
            .iter_mut()
            .rev()
            .find(|s| s.user_code == wanted && s.state == SignInState::Pending && now < s.issued + Duration::from_secs(s.expires_in))
        {
            Some(s) => {
                s.state = to;
                true
            }
            None => false,
        }
    }

    /// Marks the sign-ins with this user code (every sign-in when `None`) as revoked; returns how many.
    pub fn revoke(&self, user_code: Option<&str>) -> usize {
        let wanted = user_code.map(normalize_code);
        let mut all = lock(&self.signins);
        let mut n = 0;
        for s in all.iter_mut().filter(|s| wanted.as_ref().is_none_or(|w| &s.user_code == w)) {
            s.revoked = true;
            n += 1;
        }
        n
    }

    /// The sign-ins as `/_test/signins` shows them.
    pub fn signins_json(&self) -> Vec<Value> {
        lock(&self.signins)
            .iter()
            .map(|s| {
                let mut v = json!({
                    "user_code": s.user_code, "device_code": s.device_code, "tenant": s.tenant,
                    "version": s.version.name(), "scenario": s.scenario.name(), "client_id": s.client_id,
                    "resource": s.resource, "state": s.state.name(), "polls": s.polls,
                    "refreshes": s.refreshes, "refresh_refusals": s.refresh_refusals, "revoked": s.revoked,
                    "issued_ms": s.issued.saturating_duration_since(self.start).as_millis() as u64,
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
}
