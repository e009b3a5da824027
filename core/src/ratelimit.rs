//! Per-tenant rate limiting: a sliding-window counter and GCRA, time passed in.
//!
//! Both keep a small serialisable state so a Durable Object can persist it, and both
//! answer with a [`RateDecision`] that carries the values of the `RateLimit`,
//! `RateLimit-Policy` (IETF httpapi ratelimit-headers) and `Retry-After` headers.
//! Arithmetic is integral: the same inputs give the same answer everywhere.

use alloc::string::String;
use core::hash::Hash;
use hashbrown::HashMap;
use serde::{Deserialize, Serialize};

/// The name of the policy in the headers.
pub const POLICY_NAME: &str = "tenant";

/// The answer to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// The generic cell rate algorithm: requests are spaced `window / limit` apart on
/// average, with bursts of up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gcra {
    /// Requests per window, sustained.
    pub limit: u32,
    /// Window length in milliseconds.
    pub window_ms: u64,
    /// Requests allowed back to back.
    pub burst: u32,
}

/// The state of one key of a [`Gcra`]: the theoretical arrival time in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcraState {
    /// Theoretical arrival time of the next request, in microseconds.
    pub tat_us: u64,
}

impl Gcra {
    fn emission_interval_us(&self) -> u64 {
        (self.window_ms * 1000) / u64::from(self.limit.max(1))
    }

    /// Decides one request at `now_ms` and counts it when allowed.
    pub fn check(&self, state: &mut GcraState, now_ms: u64) -> RateDecision {
        let now = now_ms.saturating_mul(1000);
        let interval = self.emission_interval_us();
        let burst_span = interval.saturating_mul(u64::from(self.burst));
        let tat = state.tat_us.max(now);
        let new_tat = tat.saturating_add(interval);
        let allow_at = new_tat.saturating_sub(burst_span);
        let allowed = self.limit > 0 && self.burst > 0 && now >= allow_at;
        if allowed {
            state.tat_us = new_tat;
        }
        let backlog = state.tat_us.max(now) - now;
        RateDecision {
            allowed,
            limit: self.limit,
            window_secs: self.window_ms.div_ceil(1000),
            reset_secs: backlog.div_ceil(1_000_000),
            retry_after_ms: (!allowed).then(|| (allow_at - now).div_ceil(1000).max(1)),
            headroom: burst_span.saturating_sub(backlog),
            unit: interval.max(1),
        }
    }
}

/// A sliding-window limiter over many keys, for shells that keep several tenants in one
/// place (the relay, tests, benchmarks).
#[derive(Debug, Clone)]
pub struct KeyedLimiter<K> {
    policy: SlidingWindow,
    states: HashMap<K, WindowState>,
}

impl<K: Hash + Eq> KeyedLimiter<K> {
    /// An empty limiter with one policy for every key.
    pub fn new(policy: SlidingWindow) -> Self {
        KeyedLimiter {
            policy,
            states: HashMap::new(),
        }
    }

    /// Decides one request of `key` at `now_ms`.
    pub fn check(&mut self, key: K, now_ms: u64) -> RateDecision {
        let state = self.states.entry(key).or_default();
        self.policy.check(state, now_ms)
    }

    /// Forgets keys idle for two windows: their state would be all zeros anyway.
    pub fn evict_idle(&mut self, now_ms: u64) {
        let horizon = now_ms.saturating_sub(2 * self.policy.window_ms);
        self.states.retain(|_, s| s.window_start_ms >= horizon);
    }

    /// Keys currently tracked.
    pub fn len(&self) -> usize {
        self.states.len()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
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
        let mut g = GcraState::default();
        let gcra = Gcra {
            limit: 0,
            window_ms: MINUTE,
            burst: 0,
        };
        assert!(!gcra.check(&mut g, 0).allowed);
    }

    #[test]
    fn gcra_allows_the_burst_then_spaces_requests() {
        let gcra = Gcra {
            limit: 60,
            window_ms: MINUTE,
            burst: 5,
        };
        let mut state = GcraState::default();
        let t = 1_000_000;
        let allowed = (0..10)
            .filter(|_| gcra.check(&mut state, t).allowed)
            .count();
        assert_eq!(allowed, 5);
        let denied = gcra.check(&mut state, t);
        assert_eq!(denied.retry_after_ms, Some(1_000));
        assert!(!gcra.check(&mut state, t + 999).allowed);
        assert!(gcra.check(&mut state, t + 1_000).allowed);
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

    #[test]
    fn keyed_limiter_isolates_keys_and_evicts() {
        let mut limiter = KeyedLimiter::new(SlidingWindow::per_minute(1));
        assert!(limiter.check("paris", MINUTE).allowed);
        assert!(!limiter.check("paris", MINUTE).allowed);
        assert!(limiter.check("lyon", MINUTE).allowed);
        limiter.evict_idle(4 * MINUTE);
        assert!(limiter.is_empty());
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

        #[test]
        fn gcra_never_exceeds_burst_plus_rate(limit in 1u32..100, burst in 1u32..20, times in proptest::collection::vec(0u64..MINUTE, 0..300)) {
            let gcra = Gcra { limit, window_ms: MINUTE, burst };
            let mut state = GcraState::default();
            let mut sorted = times;
            sorted.sort_unstable();
            let allowed = sorted.iter().filter(|&&t| gcra.check(&mut state, t).allowed).count() as u64;
            prop_assert!(allowed <= u64::from(burst) + u64::from(limit));
        }
    }
}
