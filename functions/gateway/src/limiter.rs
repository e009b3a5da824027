//! The per-tenant Durable Object: the plan's per-minute rate limit and the month's API
//! calls. One object per tenant serialises its storage calls, so counts are exact
//! under concurrency.

use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use tenantry_core::ratelimit::{SlidingWindow, WindowState};
use worker::{DurableObject, Env, Request, Response, Result, State, durable_object};

/// What the gateway asks the object.
#[derive(Serialize, Deserialize)]
pub struct LimitRequest {
    /// Requests per minute of the tenant's plan.
    pub limit: u32,
    /// The gateway's clock, in milliseconds.
    pub now_ms: u64,
    /// `YYYY-MM`, for the month's call counter.
    pub month: String,
    /// Whether to count the request (false: only report the state).
    pub count: bool,
}

/// What the object answers.
#[derive(Serialize, Deserialize)]
pub struct LimitAnswer {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// Requests per window.
    pub limit: u32,
    /// Requests left now.
    pub remaining: u32,
    /// Seconds until the window ends.
    pub reset_secs: u64,
    /// When refused, milliseconds until a request would be allowed.
    pub retry_after_ms: Option<u64>,
    /// API calls counted this month.
    pub month_calls: u64,
}

/// The object's counters, kept in memory after the first load: storage is written on
/// every counted request but read only when the object starts.
#[derive(Clone, Default, Serialize, Deserialize)]
struct Counters {
    window: WindowState,
    month: String,
    month_calls: u64,
}

#[durable_object]
pub struct TenantLimiter {
    state: State,
    counters: RefCell<Option<Counters>>,
}

impl DurableObject for TenantLimiter {
    fn new(state: State, _env: Env) -> Self {
        TenantLimiter {
            state,
            counters: RefCell::new(None),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let ask: LimitRequest = req.json().await?;
        let storage = self.state.storage();
        let cached = self.counters.borrow().clone();
        let mut counters = match cached {
            Some(c) => c,
            None => storage
                .get::<Counters>("counters")
                .await?
                .unwrap_or_default(),
        };
        if counters.month != ask.month {
            counters.month = ask.month.clone();
            counters.month_calls = 0;
        }
        let policy = SlidingWindow::per_minute(ask.limit);
        let mut decision = if ask.count {
            policy.check(&mut counters.window, ask.now_ms)
        } else {
            let mut probe = counters.window;
            policy.check(&mut probe, ask.now_ms)
        };
        if !ask.count {
            decision.allowed = true;
        }
        if ask.count && decision.allowed {
            counters.month_calls += 1;
        }
        let month_calls = counters.month_calls;
        // The cache is updated before the next await, so a request delivered while the
        // write is in flight already sees this one counted.
        *self.counters.borrow_mut() = Some(counters.clone());
        if ask.count && decision.allowed {
            storage.put("counters", counters).await?;
        }
        Response::from_json(&LimitAnswer {
            allowed: decision.allowed,
            limit: decision.limit,
            remaining: decision.remaining(),
            reset_secs: decision.reset_secs,
            retry_after_ms: decision.retry_after_ms,
            month_calls,
        })
    }
}
