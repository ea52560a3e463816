//! Cancellation tokens: set from any thread, waited on without busy loops.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// A cancellation flag with a condition variable, so a waiting flow wakes the moment it is cancelled.
#[derive(Default)]
pub struct CancelToken {
    cancelled: Mutex<bool>,
    wake: Condvar,
}

impl CancelToken {
    pub fn new() -> Arc<Self> {
        Arc::new(CancelToken::default())
    }

    /// Requests cancellation; idempotent and safe from any thread.
    pub fn cancel(&self) {
        let mut c = self.cancelled.lock().unwrap_or_else(|p| p.into_inner());
        *c = true;
        self.wake.notify_all();
    }

    pub fn is_cancelled(&self) -> bool {
        *self.cancelled.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Blocks until `deadline` or until cancelled; returns true when cancelled.
    pub fn wait_until(&self, deadline: Instant) -> bool {
        let mut c = self.cancelled.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if *c {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            c = self.wake.wait_timeout(c, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    /// Blocks for `d` or until cancelled; returns true when cancelled.
    pub fn wait_for(&self, d: Duration) -> bool {
        self.wait_until(Instant::now() + d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    #[test]
    fn cancel_from_another_thread_wakes_a_waiter_at_once() {
        let t = CancelToken::new();
        let t2 = t.clone();
        let started = Instant::now();
        let h = thread::spawn(move || t2.wait_for(Duration::from_secs(30)));
        thread::sleep(Duration::from_millis(50));
        t.cancel();
        assert!(h.join().unwrap());
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn wait_without_cancel_returns_false_after_the_deadline() {
        let t = CancelToken::new();
        assert!(!t.wait_for(Duration::from_millis(20)));
        assert!(!t.is_cancelled());
    }
}
