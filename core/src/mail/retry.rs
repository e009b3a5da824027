//! When the outbound queue tries a deferred recipient again, and when it gives up.

use serde::{Deserialize, Serialize};

/// Exponential backoff: the first retry after `first_retry_secs`, each wait doubling up
/// to `max_retry_secs`, and no attempt after `give_up_after_secs` from queueing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetrySchedule {
    /// The wait after the first failure.
    pub first_retry_secs: u64,
    /// The longest wait between two attempts.
    pub max_retry_secs: u64,
    /// How long after queueing a message is given up (and bounced).
    pub give_up_after_secs: u64,
}

impl Default for RetrySchedule {
    /// 5 minutes, doubling to 4 hours, for 5 days (what senders expect of an MTA).
    fn default() -> Self {
        RetrySchedule {
            first_retry_secs: 300,
            max_retry_secs: 4 * 3600,
            give_up_after_secs: 5 * 86_400,
        }
    }
}

/// What to do after a temporary failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextAttempt {
    /// Try again at this time (seconds since the epoch).
    At(i64),
    /// The message has been queued too long: bounce it.
    GiveUp,
}

impl RetrySchedule {
    /// The wait after `failures` temporary failures (the first is 1).
    pub fn delay(&self, failures: u32) -> u64 {
        let doublings = failures.saturating_sub(1).min(63);
        self.first_retry_secs
            .saturating_mul(1u64 << doublings)
            .min(self.max_retry_secs)
    }

    /// After the `failures`-th temporary failure at `now` of a message queued at
    /// `queued_at`: the next attempt, or give up. The last attempt is made at the
    /// deadline itself rather than skipped.
    pub fn after_failure(&self, failures: u32, queued_at: i64, now: i64) -> NextAttempt {
        let deadline =
            queued_at.saturating_add(i64::try_from(self.give_up_after_secs).unwrap_or(i64::MAX));
        if now >= deadline {
            return NextAttempt::GiveUp;
        }
        let delay = i64::try_from(self.delay(failures)).unwrap_or(i64::MAX);
        NextAttempt::At(now.saturating_add(delay).min(deadline))
    }
}

/// How a remote server's reply to a recipient or message ends that recipient's attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// `2xx`: delivered; never sent again.
    Delivered,
    /// `4xx` or no answer: try again later.
    Temporary,
    /// `5xx`: bounce now.
    Permanent,
}

impl AttemptOutcome {
    /// From an SMTP reply code.
    pub fn from_code(code: u16) -> Self {
        match code {
            200..=299 => AttemptOutcome::Delivered,
            500..=599 => AttemptOutcome::Permanent,
            _ => AttemptOutcome::Temporary,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn five_minutes_doubling_to_four_hours() {
        let s = RetrySchedule::default();
        let waits: alloc::vec::Vec<u64> = (1..=8).map(|n| s.delay(n)).collect();
        assert_eq!(waits, [300, 600, 1200, 2400, 4800, 9600, 14400, 14400]);
        assert_eq!(s.delay(u32::MAX), 14400);
    }

    #[test]
    fn gives_up_after_five_days_with_a_last_try_at_the_deadline() {
        let s = RetrySchedule::default();
        let queued = 1_000_000;
        assert_eq!(
            s.after_failure(1, queued, queued),
            NextAttempt::At(queued + 300)
        );
        let almost = queued + 5 * 86_400 - 60;
        assert_eq!(
            s.after_failure(30, queued, almost),
            NextAttempt::At(queued + 5 * 86_400)
        );
        assert_eq!(
            s.after_failure(31, queued, queued + 5 * 86_400),
            NextAttempt::GiveUp
        );
    }

    #[test]
    fn reply_codes() {
        assert_eq!(AttemptOutcome::from_code(250), AttemptOutcome::Delivered);
        assert_eq!(AttemptOutcome::from_code(451), AttemptOutcome::Temporary);
        assert_eq!(AttemptOutcome::from_code(421), AttemptOutcome::Temporary);
        assert_eq!(AttemptOutcome::from_code(550), AttemptOutcome::Permanent);
    }

    proptest! {
        #[test]
        fn never_past_the_deadline_and_never_backwards(
            failures in 1u32..100, queued in 0i64..2_000_000_000, elapsed in 0i64..600_000
        ) {
            let s = RetrySchedule::default();
            let now = queued + elapsed;
            match s.after_failure(failures, queued, now) {
                NextAttempt::At(at) => {
                    prop_assert!(at > now);
                    prop_assert!(at <= queued + 5 * 86_400);
                }
                NextAttempt::GiveUp => prop_assert!(now >= queued + 5 * 86_400),
            }
        }
    }
}
