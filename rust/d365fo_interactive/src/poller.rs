//! The device flow's decisions, as a small state machine with no I/O and no sleeping: given the time and
//! each poll's outcome, it says what to do next (wait until an instant, poll now, or stop with a result).
//! RFC 8628 §3.5: poll no faster than `interval`; `slow_down` adds 5 s to this and every later interval;
//! transient failures (429, 5xx, broken connections) are retried with backoff a bounded number of times.
//! One deadline ends it all: the earlier of the caller's `-Timeout` and the code's expiry.

use crate::error::{Code, CoreError};
use crate::wire::{TokenReply, TokenSet};
use std::time::{Duration, Instant};

/// Consecutive transient failures after which the flow gives up.
pub const MAX_CONSECUTIVE_FAILURES: u32 = 5;
/// RFC 8628 §3.5: slow_down adds five seconds to this and every later interval.
pub const SLOW_DOWN_STEP_SECS: u64 = 5;
/// Retry-After values above this are not honoured (the deadline ends the flow anyway).
const MAX_RETRY_AFTER_SECS: u64 = 600;

/// Which limit ends the wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadlineKind {
    /// The caller's -Timeout, in seconds.
    Timeout(u64),
    /// The code's own lifetime (expires_in), in seconds.
    CodeExpiry(u64),
}

/// What the driver does next.
#[derive(Debug)]
pub enum Action {
    /// Nothing to do before this instant (the driver may wake earlier, e.g. for progress, and ask again).
    WaitUntil(Instant),
    /// Send a poll now.
    Poll,
    /// The flow is over.
    Done(Result<Box<TokenSet>, CoreError>),
}

/// The outcome of one poll, as the driver saw it.
#[derive(Debug)]
pub enum PollOutcome {
    /// The authority answered (classified by `wire`).
    Reply(TokenReply),
    /// No answer; `transient` when another try may help (refused, reset, timed out).
    NoAnswer { error: CoreError, transient: bool },
}

/// The polling state of one sign-in.
#[derive(Debug)]
pub struct Poller {
    interval: Duration,
    next_poll: Instant,
    deadline: Instant,
    kind: DeadlineKind,
    failures: u32,
    finished: Option<Result<Box<TokenSet>, CoreError>>,
}

impl Poller {
    /// Starts waiting at `now`: the first poll comes one interval later (RFC 8628 §3.4); the deadline is the
    /// earlier of `timeout_secs` from now and the code's expiry (`expires_in` after `issued_at`).
    pub fn new(now: Instant, issued_at: Instant, interval_secs: u64, timeout_secs: u64, expires_in: u64) -> Poller {
        let timeout_deadline = now + Duration::from_secs(timeout_secs);
        let expiry_deadline = issued_at + Duration::from_secs(expires_in);
        let (deadline, kind) = if timeout_deadline < expiry_deadline {
            (timeout_deadline, DeadlineKind::Timeout(timeout_secs))
        } else {
            (expiry_deadline, DeadlineKind::CodeExpiry(expires_in))
        };
        let interval = Duration::from_secs(interval_secs.max(1));
        Poller { interval, next_poll: now + interval, deadline, kind, failures: 0, finished: None }
    }

    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    pub fn deadline_kind(&self) -> DeadlineKind {
        self.kind
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// The error when the deadline passes without a sign-in.
    pub fn ending(&self) -> CoreError {
        match self.kind {
            DeadlineKind::Timeout(s) => CoreError::new(Code::TimedOut, format!("the sign-in timed out after {} (-Timeout)", seconds(s))),
            DeadlineKind::CodeExpiry(s) => {
                CoreError::new(Code::CodeExpired, format!("the code expired after {} without a sign-in", seconds(s)))
                    .with("source", "client")
            }
        }
    }

    /// What to do at `now`.
    pub fn next_action(&mut self, now: Instant) -> Action {
        if let Some(r) = self.finished.take() {
            return Action::Done(r);
        }
        if now >= self.deadline {
            return Action::Done(Err(self.ending()));
        }
        if now >= self.next_poll { Action::Poll } else { Action::WaitUntil(self.next_poll.min(self.deadline)) }
    }

    /// Takes in the outcome of the poll that ended at `now`; returns a note for the log when the pace changed.
    pub fn observe(&mut self, now: Instant, outcome: PollOutcome) -> Option<String> {
        let (error, retry_after) = match outcome {
            PollOutcome::Reply(TokenReply::Token(t)) => {
                self.finished = Some(Ok(t));
                return None;
            }
            PollOutcome::Reply(TokenReply::Pending) => {
                self.failures = 0;
                self.next_poll = now + self.interval;
                return None;
            }
            PollOutcome::Reply(TokenReply::SlowDown) => {
                self.failures = 0;
                self.interval += Duration::from_secs(SLOW_DOWN_STEP_SECS);
                self.next_poll = now + self.interval;
                return Some(format!("the authority asked to slow down; polling every {} s from now on", self.interval.as_secs()));
            }
            PollOutcome::Reply(TokenReply::Declined(e)) => {
                self.finished = Some(Err(e.to_core(
                    Code::Declined,
                    format!("the sign-in was declined at the sign-in page (the authority said: {})", e.summary()),
                )));
                return None;
            }
            PollOutcome::Reply(TokenReply::Expired(e)) => {
                let err = e.to_core(
                    Code::CodeExpired,
                    format!("the code expired before the sign-in was completed (the authority said: {})", e.summary()),
                );
                self.finished = Some(Err(err.with("source", "authority")));
                return None;
            }
            PollOutcome::Reply(TokenReply::Fatal(e)) | PollOutcome::NoAnswer { error: e, transient: false } => {
                self.finished = Some(Err(e));
                return None;
            }
            PollOutcome::Reply(TokenReply::Transient { error, retry_after }) => (error, retry_after),
            PollOutcome::NoAnswer { error, transient: true } => (error, None),
        };
        if now >= self.deadline {
            // A request cut short by the deadline is the deadline's doing, not the network's.
            return None;
        }
        self.failures += 1;
        if self.failures >= MAX_CONSECUTIVE_FAILURES {
            let mut e = error;
            e.message = format!("{} (gave up after {} failed attempts in a row)", e.message, self.failures);
            self.finished = Some(Err(e));
            return None;
        }
        let wait = retry_wait(self.interval.as_secs(), self.failures, retry_after);
        self.next_poll = now + Duration::from_secs(wait);
        Some(format!("{}; trying again in {wait} s (attempt {} of {MAX_CONSECUTIVE_FAILURES})", error.message, self.failures + 1))
    }
}

/// The wait after the n-th consecutive transient failure: the interval, doubled per failure up to four
/// times the interval, and never shorter than the server's Retry-After (capped at 10 minutes).
pub fn retry_wait(interval: u64, failures: u32, retry_after: Option<u64>) -> u64 {
    let factor = 1u64 << failures.saturating_sub(1).min(2);
    interval.saturating_mul(factor).max(retry_after.unwrap_or(0).min(MAX_RETRY_AFTER_SECS))
}

/// "1 second", "5 seconds".
fn seconds(n: u64) -> String {
    if n == 1 { "1 second".to_string() } else { format!("{n} seconds") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::OAuthError;
    use serde_json::Map;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn token() -> TokenReply {
        TokenReply::Token(Box::new(TokenSet {
            response: Map::new(),
            access_token: "a".into(),
            refresh_token: None,
            lifetime_secs: 60,
            notes: vec![],
        }))
    }

    fn oauth(e: &str) -> OAuthError {
        OAuthError { error: e.into(), description: Some("AADSTS1: x".into()), aadsts: Some("AADSTS1".into()), http_status: 400 }
    }

    fn transient() -> PollOutcome {
        PollOutcome::Reply(TokenReply::Transient { error: CoreError::new(Code::ProtocolError, "HTTP 503"), retry_after: None })
    }

    #[test]
    fn the_first_poll_waits_one_interval_then_each_pending_waits_again() {
        let t0 = Instant::now();
        let mut p = Poller::new(t0, t0, 5, 300, 900);
        assert!(matches!(p.next_action(t0), Action::WaitUntil(t) if t == t0 + secs(5)));
        assert!(matches!(p.next_action(t0 + secs(5)), Action::Poll));
        assert!(p.observe(t0 + secs(5), PollOutcome::Reply(TokenReply::Pending)).is_none());
        assert!(matches!(p.next_action(t0 + secs(6)), Action::WaitUntil(t) if t == t0 + secs(10)));
        p.observe(t0 + secs(10), PollOutcome::Reply(token()));
        assert!(matches!(p.next_action(t0 + secs(10)), Action::Done(Ok(_))));
    }

    #[test]
    fn slow_down_adds_five_seconds_to_every_later_wait() {
        let t0 = Instant::now();
        let mut p = Poller::new(t0, t0, 5, 300, 900);
        let note = p.observe(t0 + secs(5), PollOutcome::Reply(TokenReply::SlowDown)).unwrap();
        assert!(note.contains("every 10 s"), "{note}");
        assert!(matches!(p.next_action(t0 + secs(5)), Action::WaitUntil(t) if t == t0 + secs(15)));
        p.observe(t0 + secs(15), PollOutcome::Reply(TokenReply::SlowDown));
        assert_eq!(p.interval(), secs(15));
        p.observe(t0 + secs(30), PollOutcome::Reply(TokenReply::Pending));
        assert!(matches!(p.next_action(t0 + secs(30)), Action::WaitUntil(t) if t == t0 + secs(45)));
    }

    #[test]
    fn the_deadline_is_the_earlier_of_timeout_and_expiry() {
        let t0 = Instant::now();
        let p = Poller::new(t0, t0, 5, 300, 900);
        assert_eq!((p.deadline(), p.deadline_kind()), (t0 + secs(300), DeadlineKind::Timeout(300)));
        assert_eq!(p.ending().code, Code::TimedOut);
        // The code was issued 100 s before the wait began: it expires at 900 s after issue.
        let p = Poller::new(t0 + secs(100), t0, 5, 1000, 900);
        assert_eq!((p.deadline(), p.deadline_kind()), (t0 + secs(900), DeadlineKind::CodeExpiry(900)));
        assert_eq!(p.ending().code, Code::CodeExpired);
        // One second is said as such.
        let one = Poller::new(t0, t0, 5, 1, 900).ending().message;
        assert!(one.contains("after 1 second (") && !one.contains("seconds"), "{one}");
        assert!(p.ending().message.contains("after 900 seconds"), "{}", p.ending().message);
        let mut p = Poller::new(t0, t0, 5, 12, 900);
        assert!(matches!(p.next_action(t0 + secs(12)), Action::Done(Err(e)) if e.code == Code::TimedOut));
        // Waits never go past the deadline.
        let mut p = Poller::new(t0, t0, 60, 12, 900);
        assert!(matches!(p.next_action(t0), Action::WaitUntil(t) if t == t0 + secs(12)));
    }

    #[test]
    fn endings_from_the_authority() {
        let t0 = Instant::now();
        for (reply, code) in [
            (TokenReply::Declined(oauth("authorization_declined")), Code::Declined),
            (TokenReply::Expired(oauth("expired_token")), Code::CodeExpired),
            (TokenReply::Fatal(CoreError::new(Code::AuthorityError, "refused")), Code::AuthorityError),
        ] {
            let mut p = Poller::new(t0, t0, 1, 300, 900);
            p.observe(t0 + secs(1), PollOutcome::Reply(reply));
            match p.next_action(t0 + secs(1)) {
                Action::Done(Err(e)) => assert_eq!(e.code, code),
                other => panic!("{other:?}"),
            }
        }
        let mut p = Poller::new(t0, t0, 1, 300, 900);
        p.observe(t0 + secs(1), PollOutcome::NoAnswer { error: CoreError::new(Code::NetworkError, "tls"), transient: false });
        assert!(matches!(p.next_action(t0 + secs(1)), Action::Done(Err(e)) if e.code == Code::NetworkError));
    }

    #[test]
    fn transient_failures_back_off_and_give_up_after_five_in_a_row() {
        let t0 = Instant::now();
        let mut p = Poller::new(t0, t0, 2, 3000, 3000);
        let mut now = t0 + secs(2);
        let mut waits = vec![];
        for _ in 0..4 {
            assert!(p.observe(now, transient()).unwrap().contains("trying again"));
            let Action::WaitUntil(t) = p.next_action(now) else { panic!() };
            waits.push((t - now).as_secs());
            now = t;
        }
        assert_eq!(waits, vec![2, 4, 8, 8]);
        p.observe(now, transient());
        match p.next_action(now) {
            Action::Done(Err(e)) => assert!(e.message.contains("gave up after 5"), "{}", e.message),
            other => panic!("{other:?}"),
        }
        // A pending answer in between resets the count.
        let mut p = Poller::new(t0, t0, 1, 3000, 3000);
        for i in 0..20 {
            let outcome = if i % 4 == 3 { PollOutcome::Reply(TokenReply::Pending) } else { transient() };
            p.observe(t0 + secs(i), outcome);
            assert!(!matches!(p.next_action(t0 + secs(i)), Action::Done(_)));
        }
    }

    #[test]
    fn retry_after_is_honoured_but_bounded() {
        assert_eq!(retry_wait(5, 1, None), 5);
        assert_eq!(retry_wait(5, 2, None), 10);
        assert_eq!(retry_wait(5, 3, None), 20);
        assert_eq!(retry_wait(5, 9, None), 20);
        assert_eq!(retry_wait(5, 1, Some(30)), 30);
        assert_eq!(retry_wait(5, 1, Some(100_000)), 600);
        assert_eq!(retry_wait(u64::MAX, 3, None), u64::MAX);
    }

    #[test]
    fn a_request_cut_short_by_the_deadline_ends_with_the_deadline_not_a_network_error() {
        let t0 = Instant::now();
        let mut p = Poller::new(t0, t0, 1, 10, 900);
        p.observe(t0 + secs(10), PollOutcome::NoAnswer { error: CoreError::new(Code::NetworkError, "timed out"), transient: true });
        assert!(matches!(p.next_action(t0 + secs(10)), Action::Done(Err(e)) if e.code == Code::TimedOut));
    }
}
