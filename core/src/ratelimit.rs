//! Per-tenant rate limiting: a sliding-window counter, time passed in.
//!
//! It keeps a small serialisable state so a Durable Object can persist it, and it
//! answers with a [`RateDecision`] that carries the values of the `RateLimit`,
//! `RateLimit-Policy` (IETF httpapi ratelimit-headers) and `Retry-After` headers.
//! Arithmetic is integral: the same inputs give the same answer everywhere.

use alloc::string::String;
use serde::{Deserialize, Serialize};

/// The name of the policy in the headers.
pub const POLICY_NAME: &str = "tenant";

/// The answer to one request; serialisable so a Durable Object can hand it back whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateDecision {
    /// Whether the request may proceed (and was counted).
    pub allowed: bool,
    /// Requests allowed per window.
    pub limit: u32,
    /// Window length in seconds.
    pub window_secs: u64,
    /// Seconds until the current window ends.
    pub reset_secs: u64,
    /// When refused: milliseconds until a request would be allowed.
    pub retry_after_ms: Option<u64>,
    /// Capacity left, scaled by `unit`; divided only when a header asks for it, so a
    /// decision costs no division.
    headroom: u64,
    unit: u64,
}

impl RateDecision {
    /// Requests still allowed now.
    pub fn remaining(&self) -> u32 {
        u32::try_from(self.headroom / self.unit.max(1)).unwrap_or(u32::MAX)
    }

    /// `RateLimit-Policy`, e.g. `"tenant";q=100;w=60`.
    pub fn policy_header(&self) -> String {
        alloc::format!("\"{POLICY_NAME}\";q={};w={}", self.limit, self.window_secs)
    }

    /// `RateLimit`, e.g. `"tenant";r=42;t=18`.
    pub fn ratelimit_header(&self) -> String {
        alloc::format!(
            "\"{POLICY_NAME}\";r={};t={}",
            self.remaining(),
            self.reset_secs
        )
    }

    /// `Retry-After` in whole seconds, rounded up, at least 1.
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after_ms.map(|ms| ms.div_ceil(1000).max(1))
    }
}

/// A sliding-window counter: the previous window's count weighs in proportion to how
/// much of it still overlaps the last `window_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlidingWindow {
    /// Requests per window.
    pub limit: u32,
    /// Window length in milliseconds.
    pub window_ms: u64,
}

/// The state of one key of a [`SlidingWindow`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowState {
    /// Start of the current window, a multiple of the window length.
    pub window_start_ms: u64,
    /// Requests counted in the current window.
    pub current: u32,
    /// Requests counted in the previous window.
    pub previous: u32,
}

impl SlidingWindow {
    /// `limit` requests per minute.
    pub const fn per_minute(limit: u32) -> Self {
        SlidingWindow {
            limit,
            window_ms: 60_000,
        }
    }

    /// Windows are capped at 2^32 ms (about 50 days) so that every product below fits
    /// in a u64; saturation then only ever happens above the capacity, where it
    /// cannot change a decision.
    fn window(&self) -> u64 {
        self.window_ms.clamp(1, u64::from(u32::MAX))
    }

    fn roll(&self, state: &mut WindowState, now_ms: u64, window: u64) {
        if now_ms.wrapping_sub(state.window_start_ms) < window || now_ms < state.window_start_ms {
            // Same window (the common case, no division), or a clock that went
            // backwards: never undo counted requests.
            return;
        }
        let start = now_ms - now_ms % window;
        state.previous = if start - state.window_start_ms == window {
            state.current
        } else {
            0
        };
        state.current = 0;
        state.window_start_ms = start;
    }

    /// The weighted count scaled by the window: previous × overlap + current × window.
    fn scaled_count(previous: u32, current: u32, window: u64, elapsed: u64) -> u64 {
        u64::from(previous)
            .saturating_mul(window - elapsed)
            .saturating_add(u64::from(current).saturating_mul(window))
    }

    /// Milliseconds from `elapsed` into the window until one more request fits.
    fn wait_ms(&self, state: &WindowState, window: u64, elapsed: u64) -> u64 {
        let limit = u64::from(self.limit);
        if limit == 0 {
            return window - elapsed;
        }
        let (current, previous) = (u64::from(state.current), u64::from(state.previous));
        // In this window: previous * (W - e') <= (limit - current - 1) * W.
        if current < limit && previous > 0 {
            let room = (limit - current - 1).saturating_mul(window) / previous;
            let at = window.saturating_sub(room);
            if at < window {
                return at.saturating_sub(elapsed).max(1);
            }
        }
        // In the next window the current count becomes the previous one.
        let at_next = (limit - 1)
            .saturating_mul(window)
            .checked_div(current)
            .map_or(0, |room| window.saturating_sub(room));
        window - elapsed + at_next
    }

    /// Decides one request at `now_ms` and counts it when allowed.
    pub fn check(&self, state: &mut WindowState, now_ms: u64) -> RateDecision {
        let window = self.window();
        self.roll(state, now_ms, window);
        let elapsed = now_ms.saturating_sub(state.window_start_ms).min(window - 1);
        let capacity = u64::from(self.limit) * window;
        let with_one_more = Self::scaled_count(
            state.previous,
            state.current.saturating_add(1),
            window,
            elapsed,
        );
        let allowed = with_one_more <= capacity;
        let retry_after_ms = if allowed {
            state.current += 1;
            None
        } else {
            Some(self.wait_ms(state, window, elapsed))
        };
        let used = Self::scaled_count(state.previous, state.current, window, elapsed);
        RateDecision {
            allowed,
            limit: self.limit,
            window_secs: window.div_ceil(1000),
            reset_secs: (window - elapsed).div_ceil(1000),
            retry_after_ms,
            headroom: capacity.saturating_sub(used),
            unit: window,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const MINUTE: u64 = 60_000;

    #[test]
    fn exactly_the_limit_passes_in_a_fresh_window() {
        let policy = SlidingWindow::per_minute(20);
        let mut state = WindowState::default();
        let t0 = 10 * MINUTE;
        let allowed = (0..60)
            .filter(|_| policy.check(&mut state, t0).allowed)
            .count();
        assert_eq!(allowed, 20);
        let denied = policy.check(&mut state, t0);
        assert!(!denied.allowed);
        assert_eq!(denied.remaining(), 0);
        assert_eq!(denied.ratelimit_header(), "\"tenant\";r=0;t=60");
        assert_eq!(denied.policy_header(), "\"tenant\";q=20;w=60");
    }

    #[test]
    fn window_edges_are_exact() {
        let policy = SlidingWindow::per_minute(10);
        let mut state = WindowState::default();
        let start = 5 * MINUTE;
        for _ in 0..10 {
            assert!(policy.check(&mut state, start + MINUTE - 1).allowed);
        }
        // Last millisecond of the window: full.
        assert!(!policy.check(&mut state, start + MINUTE - 1).allowed);
        // First millisecond of the next: the previous 10 weigh (60000-0)/60000 = all.
        assert!(!policy.check(&mut state, start + MINUTE).allowed);
        // Once 1/10 of the window has passed, one request's worth of weight is gone.
        assert!(!policy.check(&mut state, start + MINUTE + 5_999).allowed);
        assert!(policy.check(&mut state, start + MINUTE + 6_000).allowed);
        // Two windows later nothing of the old count remains.
        let mut fresh = state;
        let decision = policy.check(&mut fresh, start + 3 * MINUTE);
        assert!(decision.allowed);
        assert_eq!(decision.remaining(), 9);
    }

    #[test]
    fn retry_after_is_rounded_up_and_at_least_one_second() {
        let policy = SlidingWindow::per_minute(2);
        let mut state = WindowState::default();
        let t = 7 * MINUTE + 59_500;
        policy.check(&mut state, t);
        policy.check(&mut state, t);
        let denied = policy.check(&mut state, t);
        // Next window, prev = 2: need 2 * (W - e) + W <= 2W, so e >= W/2: 500 + 30000 ms.
        assert_eq!(denied.retry_after_ms, Some(30_500));
        assert_eq!(denied.retry_after_secs(), Some(31));
    }

    #[test]
    fn a_clock_going_backwards_never_refunds() {
        let policy = SlidingWindow::per_minute(1);
        let mut state = WindowState::default();
        assert!(policy.check(&mut state, 2 * MINUTE).allowed);
        assert!(!policy.check(&mut state, MINUTE).allowed);
    }

    #[test]
    fn zero_limit_refuses_everything() {
        let mut state = WindowState::default();
        assert!(!SlidingWindow::per_minute(0).check(&mut state, 0).allowed);
    }

    #[test]
    fn state_survives_serialisation() {
        let policy = SlidingWindow::per_minute(3);
        let mut state = WindowState::default();
        policy.check(&mut state, MINUTE);
        let json = serde_json::to_string(&state).unwrap();
        let mut restored: WindowState = serde_json::from_str(&json).unwrap();
        assert_eq!(policy.check(&mut restored, MINUTE).remaining(), 1);
    }

    proptest! {
        /// Waiting exactly `retry_after_ms` is enough, and one millisecond less is not.
        #[test]
        fn retry_after_is_exact(limit in 1u32..50, burst in 0u32..120, offset in 0u64..MINUTE, pause in 0u64..MINUTE) {
            let policy = SlidingWindow::per_minute(limit);
            let mut state = WindowState::default();
            let t0 = 100 * MINUTE + offset;
            for i in 0..burst {
                policy.check(&mut state, t0 + u64::from(i) * pause / u64::from(burst.max(1)));
            }
            let now = t0 + pause;
            let mut probe = state;
            let decision = policy.check(&mut probe, now);
            if let Some(wait) = decision.retry_after_ms {
                let mut later = state;
                prop_assert!(policy.check(&mut later, now + wait).allowed, "allowed after {wait}");
                if wait > 1 {
                    let mut earlier = state;
                    prop_assert!(!policy.check(&mut earlier, now + wait - 1).allowed, "denied before {wait}");
                }
            }
        }

        /// Over any minute-aligned window, no more than the limit passes.
        #[test]
        fn never_more_than_the_limit_per_window(limit in 1u32..30, times in proptest::collection::vec(0u64..3 * MINUTE, 0..200)) {
            let policy = SlidingWindow::per_minute(limit);
            let mut state = WindowState::default();
            let mut sorted = times;
            sorted.sort_unstable();
            let mut per_window = [0u32; 3];
            for t in sorted {
                if policy.check(&mut state, t).allowed {
                    per_window[(t / MINUTE) as usize] += 1;
                }
            }
            prop_assert!(per_window.iter().all(|&n| n <= limit));
        }

    }
}
