//! The time seam of the polling loop: the real clock waits on the cancellation token; the fake clock
//! jumps to each deadline at once, so tests can run a 900-second sign-in in milliseconds.

use crate::cancel::CancelToken;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, now (token lifetimes and expiry times are wall-clock facts).
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Reads the time and waits until a deadline (or until cancelled).
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> Instant;
    /// Blocks until `deadline` or until `cancel` is set; returns true when cancelled.
    fn wait_until(&self, deadline: Instant, cancel: &CancelToken) -> bool;
}

/// Wall-clock time; waits sleep on the cancellation token's condition variable (no busy loop).
pub struct RealClock;

impl Clock for RealClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn wait_until(&self, deadline: Instant, cancel: &CancelToken) -> bool {
        cancel.wait_until(deadline)
    }
}

/// A clock for tests: time stands still except when the flow waits, and then it jumps to the deadline.
/// Every wait is recorded as the time (since the clock was made) at which it ended.
pub struct FakeClock {
    start: Instant,
    state: Mutex<Duration>,
    waits: Mutex<Vec<Duration>>,
}

impl Default for FakeClock {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeClock {
    pub fn new() -> Self {
        FakeClock { start: Instant::now(), state: Mutex::new(Duration::ZERO), waits: Mutex::new(Vec::new()) }
    }

    /// Fake time elapsed since the clock was made.
    pub fn elapsed(&self) -> Duration {
        *self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The fake times at which each wait ended, in order.
    pub fn wait_ends(&self) -> Vec<Duration> {
        self.waits.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Moves fake time forward (as if work took `d`).
    pub fn advance(&self, d: Duration) {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) += d;
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Instant {
        self.start + self.elapsed()
    }

    fn wait_until(&self, deadline: Instant, cancel: &CancelToken) -> bool {
        if cancel.is_cancelled() {
            return true;
        }
        let target = deadline.saturating_duration_since(self.start);
        let mut now = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if target > *now {
            *now = target;
        }
        self.waits.lock().unwrap_or_else(|p| p.into_inner()).push(*now);
        cancel.is_cancelled()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fake_clock_jumps_to_the_deadline_and_records_it() {
        let c = FakeClock::new();
        let t = CancelToken::new();
        let d = c.now() + Duration::from_secs(900);
        assert!(!c.wait_until(d, &t));
        assert_eq!(c.elapsed(), Duration::from_secs(900));
        assert_eq!(c.wait_ends(), vec![Duration::from_secs(900)]);
        // a deadline in the past does not move time backwards
        assert!(!c.wait_until(d - Duration::from_secs(5), &t));
        assert_eq!(c.elapsed(), Duration::from_secs(900));
    }

    #[test]
    fn fake_clock_reports_cancellation() {
        let c = FakeClock::new();
        let t = CancelToken::new();
        t.cancel();
        assert!(c.wait_until(c.now() + Duration::from_secs(1), &t));
    }

    #[test]
    fn real_clock_waits_until_the_deadline() {
        let t = CancelToken::new();
        let start = Instant::now();
        assert!(!RealClock.wait_until(start + Duration::from_millis(30), &t));
        assert!(start.elapsed() >= Duration::from_millis(30));
    }
}
