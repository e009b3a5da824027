//! Failed sign-in throttling: after [`MAX_FAILURES`] failures within [`WINDOW_SECS`], a
//! key (an account's address or a client's address) is refused until the oldest of
//! them leaves the window. The shell keeps one log per key where it is exact (a Durable
//! Object per key) and answers the same whether or not the account exists.
//!
//! An attempt counts as a failure from the moment it is let through ([`FailureLog::begin`],
//! before the password is hashed) and is forgiven when it succeeds: so that any number of
//! concurrent guesses still gets at most [`MAX_FAILURES`] through.

use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

/// Failures tolerated within the window.
pub const MAX_FAILURES: usize = 5;
/// The window, in seconds.
pub const WINDOW_SECS: i64 = 15 * 60;

/// The recent failures of one key, times in seconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureLog {
    times: Vec<i64>,
}

impl FailureLog {
    fn prune(&mut self, now: i64) {
        self.times.retain(|t| *t > now - WINDOW_SECS);
    }

    /// Seconds until another attempt is allowed, `None` when one is allowed now.
    pub fn retry_after(&mut self, now: i64) -> Option<i64> {
        self.prune(now);
        if self.times.len() < MAX_FAILURES {
            return None;
        }
        let oldest = self.times.iter().min().copied().unwrap_or(now);
        Some((oldest + WINDOW_SECS - now).max(1))
    }

    /// Lets an attempt through, counted as a failure until [`FailureLog::forgive`]n, or
    /// answers the seconds to wait.
    pub fn begin(&mut self, now: i64) -> Result<(), i64> {
        match self.retry_after(now) {
            Some(wait) => Err(wait),
            None => {
                self.record(now);
                Ok(())
            }
        }
    }

    /// Takes back the newest attempt: it succeeded.
    pub fn forgive(&mut self) {
        if let Some(newest) = self.times.iter().enumerate().max_by_key(|(_, t)| **t) {
            let at = newest.0;
            self.times.remove(at);
        }
    }

    /// Records a failure at `now`; the log never holds more than the window needs.
    pub fn record(&mut self, now: i64) {
        self.prune(now);
        self.times.push(now);
        if self.times.len() > MAX_FAILURES {
            self.times.sort_unstable();
            self.times.remove(0);
        }
    }

    /// Takes back the attempt let through at `at` (one of them): it succeeded. Where
    /// attempts overlap (separate processes), the newest may be someone else's guess.
    pub fn forgive_at(&mut self, at: i64) {
        if let Some(index) = self.times.iter().position(|t| *t == at) {
            self.times.remove(index);
        }
    }

    /// Forgets every failure (a successful sign-in of the account).
    pub fn clear(&mut self) {
        self.times.clear();
    }

    /// Whether the log holds nothing (so its storage can be deleted).
    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn five_failures_in_fifteen_minutes_lock_until_the_oldest_expires() {
        let mut log = FailureLog::default();
        for t in 0..4 {
            log.record(1000 + t * 60);
            assert_eq!(log.retry_after(1000 + t * 60), None);
        }
        log.record(1300);
        assert_eq!(log.retry_after(1300), Some(600));
        assert_eq!(log.retry_after(1899), Some(1));
        assert_eq!(log.retry_after(1900), None, "the oldest left the window");
        log.clear();
        assert!(log.is_empty());
    }

    #[test]
    fn concurrent_attempts_are_counted_before_they_are_decided() {
        let mut log = FailureLog::default();
        // Ten guesses arriving together: five get through, whatever their outcome.
        let through = (0..10).filter(|_| log.begin(100).is_ok()).count();
        assert_eq!(through, MAX_FAILURES);
        // A success takes its attempt back.
        let mut log = FailureLog::default();
        for _ in 0..4 {
            log.begin(100).unwrap();
        }
        log.forgive();
        assert_eq!(log.begin(101), Ok(()));
        assert_eq!(log.begin(102), Ok(()));
        assert!(log.begin(103).is_err());
    }

    #[test]
    fn failures_spread_over_more_than_the_window_never_lock() {
        let mut log = FailureLog::default();
        for t in 0..50 {
            log.record(t * 230);
            assert_eq!(log.retry_after(t * 230), None, "at {t}");
        }
    }
}
