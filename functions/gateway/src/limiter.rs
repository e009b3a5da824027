//! The per-tenant Durable Object: the plan's per-minute rate limit and the month's API
//! calls. One object per tenant serialises its requests, so both counts are exact under
//! concurrency. The month's count is written to D1 (`usage_counters`, metric
//! `api_calls`) by an alarm a few seconds after it changes, so D1 sees one write per
//! flush interval rather than one per request.

use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell};
use tenantry_core::limits::Limit;
use tenantry_core::ratelimit::{SlidingWindow, WindowState};
use tenantry_edge::db::{TenantDb, int, text};
use worker::{DurableObject, Env, Request, Response, Result, State, durable_object};

/// The `usage_counters` metric of the month's API calls.
pub const API_CALLS_METRIC: &str = "api_calls";

/// Seconds between a counted request and the flush of the month's count to D1, unless
/// `USAGE_FLUSH_SECS` says otherwise.
const DEFAULT_FLUSH_SECS: i64 = 30;

/// What the gateway asks the object.
#[derive(Serialize, Deserialize)]
pub struct LimitRequest {
    /// The tenant the object counts for (the object's name).
    pub tenant_id: String,
    /// Requests per minute of the tenant's plan.
    pub limit: u32,
    /// API calls allowed this month.
    pub month_calls_limit: Limit,
    /// The gateway's clock, in milliseconds.
    pub now_ms: u64,
    /// `YYYY-MM`, for the month's call counter.
    pub month: String,
}

/// What the object answers.
#[derive(Serialize, Deserialize)]
pub struct LimitAnswer {
    /// Whether the request may proceed (and was counted).
    pub allowed: bool,
    /// Refused because the month's API calls are used up (not the per-minute limit).
    pub month_exhausted: bool,
    /// Requests per window.
    pub limit: u32,
    /// Requests left now.
    pub remaining: u32,
    /// Seconds until the window ends.
    pub reset_secs: u64,
    /// When rate-limited, milliseconds until a request would be allowed.
    pub retry_after_ms: Option<u64>,
    /// API calls counted this month.
    pub month_calls: u64,
}

/// The object's counters, kept in memory after the first load: storage is written on
/// every counted request but read only when the object starts.
#[derive(Clone, Default, Serialize, Deserialize)]
struct Counters {
    tenant_id: String,
    window: WindowState,
    month: String,
    month_calls: u64,
    /// The month's count D1 already holds.
    flushed_calls: u64,
    /// The previous month's final count when D1 does not hold it yet.
    previous_month: Option<(String, u64)>,
}

#[durable_object]
pub struct TenantLimiter {
    state: State,
    env: Env,
    counters: RefCell<Option<Counters>>,
    alarm_pending: Cell<bool>,
    flush_after_ms: i64,
}

impl TenantLimiter {
    /// The counters, read from storage once per object lifetime and cached after.
    async fn load(&self) -> Result<Counters> {
        if let Some(cached) = self.counters.borrow().clone() {
            return Ok(cached);
        }
        let storage = self.state.storage();
        self.alarm_pending.set(storage.get_alarm().await?.is_some());
        let stored = storage
            .get::<Counters>("counters")
            .await?
            .unwrap_or_default();
        *self.counters.borrow_mut() = Some(stored.clone());
        Ok(stored)
    }

    /// Writes a month's count to D1. `MAX` keeps a late or repeated flush from lowering it.
    async fn flush(&self, tenant_id: &str, month: &str, calls: u64) -> Result<()> {
        let db = self.env.d1("DB")?;
        TenantDb::new(&db, tenant_id)
            .run(
                "INSERT INTO usage_counters (tenant_id, metric, period, value) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (tenant_id, metric, period) DO UPDATE SET value = MAX(value, excluded.value)",
                &[text(API_CALLS_METRIC), text(month), int(calls as i64)],
            )
            .await
            .map_err(|p| worker::Error::RustError(p.detail))?;
        Ok(())
    }

    async fn schedule_flush(&self) -> Result<()> {
        if !self.alarm_pending.get() {
            self.alarm_pending.set(true);
            self.state.storage().set_alarm(self.flush_after_ms).await?;
        }
        Ok(())
    }
}

impl DurableObject for TenantLimiter {
    fn new(state: State, env: Env) -> Self {
        let flush_secs = env
            .var("USAGE_FLUSH_SECS")
            .ok()
            .and_then(|v| v.to_string().parse::<i64>().ok())
            .filter(|s| *s > 0)
            .unwrap_or(DEFAULT_FLUSH_SECS);
        TenantLimiter {
            state,
            env,
            counters: RefCell::new(None),
            alarm_pending: Cell::new(false),
            flush_after_ms: flush_secs * 1000,
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let ask: LimitRequest = req.json().await?;
        let mut counters = self.load().await?;
        counters.tenant_id.clone_from(&ask.tenant_id);
        if counters.month != ask.month {
            // The last month's tail is left for the alarm: no D1 write on this path.
            if counters.month_calls > counters.flushed_calls {
                counters.previous_month = Some((counters.month.clone(), counters.month_calls));
            }
            counters.month.clone_from(&ask.month);
            counters.month_calls = 0;
            counters.flushed_calls = 0;
        }
        let month_exhausted = !ask.month_calls_limit.allows(counters.month_calls, 1);
        let policy = SlidingWindow::per_minute(ask.limit);
        let mut decision = if month_exhausted {
            let mut probe = counters.window;
            policy.check(&mut probe, ask.now_ms)
        } else {
            policy.check(&mut counters.window, ask.now_ms)
        };
        let counted = decision.allowed && !month_exhausted;
        if counted {
            counters.month_calls += 1;
        } else {
            decision.allowed = false;
        }
        let month_calls = counters.month_calls;
        // The cache is updated before the next await, so a request delivered while the
        // write is in flight already sees this one counted.
        *self.counters.borrow_mut() = Some(counters.clone());
        if counted {
            self.state.storage().put("counters", counters).await?;
            self.schedule_flush().await?;
        }
        Response::from_json(&LimitAnswer {
            allowed: decision.allowed,
            month_exhausted,
            limit: decision.limit,
            remaining: decision.remaining(),
            reset_secs: decision.reset_secs,
            retry_after_ms: decision.retry_after_ms,
            month_calls,
        })
    }

    async fn alarm(&self) -> Result<Response> {
        self.alarm_pending.set(false);
        let counters = self.load().await?;
        if counters.tenant_id.is_empty() {
            return Response::empty();
        }
        if let Some((month, calls)) = &counters.previous_month {
            self.flush(&counters.tenant_id, month, *calls).await?;
        }
        if counters.month_calls > counters.flushed_calls {
            self.flush(&counters.tenant_id, &counters.month, counters.month_calls)
                .await?;
        }
        // Requests counted during the writes (the cache has them) stay unflushed and
        // bring the next alarm.
        let mut latest = self.load().await?;
        if latest.previous_month == counters.previous_month {
            latest.previous_month = None;
        }
        if latest.month == counters.month {
            latest.flushed_calls = latest.flushed_calls.max(counters.month_calls);
        }
        let more = latest.month_calls > latest.flushed_calls || latest.previous_month.is_some();
        *self.counters.borrow_mut() = Some(latest.clone());
        self.state.storage().put("counters", latest).await?;
        if more {
            self.schedule_flush().await?;
        }
        Response::empty()
    }
}
