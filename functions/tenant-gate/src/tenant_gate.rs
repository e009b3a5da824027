//! The per-tenant Durable Object (`TenantGate`): the tenant's hot state and its request
//! counts, answered in one round trip per request (see `tenantry_edge::tenant_state`).
//!
//! Hot state (tenant row, hostnames, custom roles, plan limits with overrides) is read
//! from D1 on first use and kept in memory until a writer invalidates it; a generation
//! number keeps a load that raced an invalidation from being cached. Counts (the plan's
//! per-minute limit and the month's API calls) are exact because one object serialises
//! its tenant's requests; the month's count is written to D1 (`usage_counters`, metric
//! `api_calls`) by an alarm a few seconds after it changes, so D1 sees one write per
//! flush interval rather than one per request.

use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use tenantry_core::auth::mfa::{is_multi_factor, stored_amr};
use tenantry_core::auth::session::{MemberState, session_live};
use tenantry_core::calendar::month_key;
use tenantry_core::limits::{Limit, Limits};
use tenantry_core::ratelimit::{SlidingWindow, WindowState};
use tenantry_core::rbac::CustomRole;
use tenantry_core::settings::REQUIRE_MFA_SETTING;
use tenantry_core::tenant::{Tenant, admit};
use tenantry_edge::db::{PlatformDb, TENANT_COLUMNS, TenantDb, int, rows, text};
use tenantry_edge::tenant_state::{AdmitAnswer, AdmitRequest, HotState, MAX_HOT_ROWS};
use worker::{DurableObject, Env, Request, Response, Result, State, durable_object};

/// The `usage_counters` metric of the month's API calls.
pub const API_CALLS_METRIC: &str = "api_calls";

/// How long hot state is kept without a reload: every writer invalidates it, and this
/// bounds how long a change made around the API (an operator's SQL, a failed
/// invalidation) can go unseen.
const HOT_STATE_MAX_AGE_MS: u64 = 60_000;

/// Seconds between a counted request and the flush of the month's count to D1, unless
/// `USAGE_FLUSH_SECS` says otherwise.
const DEFAULT_FLUSH_SECS: i64 = 30;

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
pub struct TenantGate {
    state: State,
    env: Env,
    counters: RefCell<Option<Counters>>,
    alarm_pending: Cell<bool>,
    flush_after_ms: i64,
    /// When it was loaded (ms) and what: `None` inside for no such tenant.
    hot: RefCell<Option<(u64, Option<HotState>)>>,
    generation: Cell<u64>,
    /// Members of sign-in sessions seen since the hot state was loaded, by account id;
    /// dropped with it (on invalidation, at reload) and when full.
    members: RefCell<HashMap<String, MemberState>>,
}

/// Most members cached at once (every cache is bounded).
const MAX_CACHED_MEMBERS: usize = 10_000;

#[derive(Deserialize)]
struct MemberRow {
    role: Option<String>,
    status: String,
    session_created_at: Option<i64>,
    session_expires_at: Option<i64>,
    session_revoked_at: Option<i64>,
    session_amr: Option<String>,
}

#[derive(Deserialize)]
struct OverrideRow {
    quota: String,
    value: f64,
}

#[derive(Deserialize)]
struct RoleRow {
    name: String,
    permissions: String,
}

#[derive(Deserialize)]
struct SettingRow {
    value: String,
}

#[derive(Deserialize)]
struct HostnameRow {
    hostname: String,
}

fn internal_error(problem: tenantry_core::Problem) -> worker::Error {
    worker::Error::RustError(problem.detail)
}

impl TenantGate {
    /// The tenant's hot state and whether it was just read: from memory when it is
    /// younger than [`HOT_STATE_MAX_AGE_MS`] (and `reload` is false), else from D1 in one
    /// batch.
    async fn hot_state(
        &self,
        tenant_id: &str,
        now_ms: u64,
        reload: bool,
    ) -> Result<(Option<HotState>, bool)> {
        if !reload
            && let Some((loaded_at, hot)) = self.hot.borrow().clone()
            && now_ms.saturating_sub(loaded_at) < HOT_STATE_MAX_AGE_MS
        {
            return Ok((hot, false));
        }
        let generation = self.generation.get();
        let loaded = self.load_hot_state(tenant_id).await?;
        // An invalidation that arrived during the load may describe a change the load
        // did not see: answer this request with it, but do not keep it.
        if self.generation.get() == generation {
            *self.hot.borrow_mut() = Some((now_ms, loaded.clone()));
            self.members.borrow_mut().clear();
        }
        Ok((loaded, true))
    }

    /// An account's membership of the tenant, its status and its session's, as D1 has
    /// them; cached until the next invalidation or reload. A platform operator's is read
    /// every time: its suspension or logout invalidates the objects of the tenants it is a
    /// member of, and it acts on others too.
    async fn member(
        &self,
        tenant_id: &str,
        user_id: &str,
        session: &str,
        platform_operator: bool,
        now: i64,
    ) -> Result<MemberState> {
        let key = format!("{user_id}/{session}");
        if !platform_operator && let Some(known) = self.members.borrow().get(&key) {
            return Ok(known.clone());
        }
        let generation = self.generation.get();
        let db = self.env.d1("DB")?;
        let row: Option<MemberRow> = PlatformDb(&db)
            .first(
                "SELECT m.role, u.status, s.created_at AS session_created_at, s.expires_at AS session_expires_at, s.revoked_at AS session_revoked_at, s.amr AS session_amr \
                 FROM users u LEFT JOIN memberships m ON m.user_id = u.id AND m.tenant_id = ?1 \
                 LEFT JOIN sessions s ON s.id = ?3 AND s.user_id = u.id WHERE u.id = ?2",
                &[text(tenant_id), text(user_id), text(session)],
            )
            .await
            .map_err(internal_error)?;
        let state = match row {
            Some(row) => MemberState {
                role: row.role,
                active: row.status == "active",
                session_live: match (row.session_created_at, row.session_expires_at) {
                    (Some(created), Some(expires)) => {
                        session_live(created, expires, row.session_revoked_at.is_some(), now)
                    }
                    _ => false,
                },
                multi_factor: row
                    .session_amr
                    .is_some_and(|amr| is_multi_factor(&stored_amr(&amr))),
            },
            None => MemberState {
                role: None,
                active: false,
                session_live: false,
                multi_factor: false,
            },
        };
        if !platform_operator && self.generation.get() == generation {
            let mut members = self.members.borrow_mut();
            if members.len() >= MAX_CACHED_MEMBERS {
                members.clear();
            }
            members.insert(key, state.clone());
        }
        Ok(state)
    }

    async fn load_hot_state(&self, tenant_id: &str) -> Result<Option<HotState>> {
        let db = self.env.d1("DB")?;
        let scoped = TenantDb::new(&db, tenant_id);
        let statements = vec![
            PlatformDb(&db).statement(
                &format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = ?1"),
                &[text(tenant_id)],
            ),
            scoped.statement(
                "SELECT hostname FROM tenant_hostnames WHERE tenant_id = ?1 ORDER BY hostname LIMIT ?2",
                &[int(MAX_HOT_ROWS as i64)],
            ),
            scoped.statement(
                "SELECT name, permissions FROM custom_roles WHERE tenant_id = ?1 ORDER BY name LIMIT ?2",
                &[int(MAX_HOT_ROWS as i64)],
            ),
            scoped.statement(
                "SELECT quota, value FROM limit_overrides WHERE tenant_id = ?1",
                &[],
            ),
            scoped.statement(
                "SELECT value FROM settings WHERE tenant_id = ?1 AND key = ?2",
                &[text(REQUIRE_MFA_SETTING)],
            ),
        ]
        .into_iter()
        .collect::<tenantry_edge::Outcome<Vec<_>>>()
        .map_err(internal_error)?;
        let results = PlatformDb(&db)
            .read_batch(statements)
            .await
            .map_err(internal_error)?;
        let Some(tenant) = rows::<Tenant>(&results[0])
            .map_err(internal_error)?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        let hostnames = rows::<HostnameRow>(&results[1])
            .map_err(internal_error)?
            .into_iter()
            .map(|r| r.hostname)
            .collect();
        let custom_roles = rows::<RoleRow>(&results[2])
            .map_err(internal_error)?
            .into_iter()
            .map(|r| {
                Ok(CustomRole {
                    permissions: serde_json::from_str(&r.permissions).map_err(|_| {
                        worker::Error::RustError(format!(
                            "custom role {} has unreadable permissions",
                            r.name
                        ))
                    })?,
                    name: r.name,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let overrides = rows::<OverrideRow>(&results[3]).map_err(internal_error)?;
        let require_mfa = rows::<SettingRow>(&results[4])
            .map_err(internal_error)?
            .first()
            .is_some_and(|row| row.value == "true");
        let overrides = tenantry_core::limits::parse_overrides(
            overrides.iter().map(|r| (r.quota.as_str(), r.value as i64)),
        )
        .map_err(|e| worker::Error::RustError(format!("stored limit overrides: {e}")))?;
        Ok(Some(HotState {
            limits: Limits::for_tenant(tenant.plan, &overrides),
            tenant,
            hostnames,
            custom_roles,
            require_mfa,
        }))
    }

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

impl TenantGate {
    /// Admits and counts one request: nothing is counted for a stale name, a tenant
    /// that does not exist or a request `tenantry_core::tenant::admit` refuses.
    async fn answer(&self, ask: AdmitRequest) -> Result<AdmitAnswer> {
        let named_by = |state: &Option<HotState>| {
            state
                .as_ref()
                .is_some_and(|s| ask.names.iter().all(|key| s.is_named_by(key)))
        };
        let (mut state, fresh) = self.hot_state(&ask.tenant_id, ask.now_ms, false).await?;
        if !fresh && !ask.names.is_empty() && !named_by(&state) {
            // The gateway read these names in D1 (or remembered them): a change this object
            // has not been told of yet is worth one reload before it answers "stale".
            state = self.hot_state(&ask.tenant_id, ask.now_ms, true).await?.0;
        }
        let refused = |state: Option<HotState>, stale: bool| AdmitAnswer {
            state,
            stale,
            rate: None,
            month_exhausted: false,
            month_calls: 0,
            member: None,
        };
        let Some(state) = state else {
            return Ok(refused(None, !ask.names.is_empty()));
        };
        if !ask.names.iter().all(|key| state.is_named_by(key)) {
            return Ok(refused(Some(state), true));
        }
        let member = match (&ask.member, &ask.session) {
            (Some(user_id), Some(session)) => Some(
                self.member(
                    &ask.tenant_id,
                    user_id,
                    session,
                    ask.platform_operator,
                    (ask.now_ms / 1000) as i64,
                )
                .await?,
            ),
            _ => None,
        };
        let may_act = ask.may_act
            && member.as_ref().is_none_or(|m| {
                m.refusal(ask.platform_operator, state.require_mfa)
                    .is_none()
            });
        if admit(&state.tenant, may_act).is_err() {
            return Ok(AdmitAnswer {
                member,
                ..refused(Some(state), false)
            });
        }
        let mut counters = self.load().await?;
        counters.tenant_id.clone_from(&ask.tenant_id);
        let month = month_key((ask.now_ms / 1000) as i64);
        if counters.month != month {
            // The last month's tail is left for the alarm: no D1 write on this path.
            if counters.month_calls > counters.flushed_calls {
                counters.previous_month = Some((counters.month.clone(), counters.month_calls));
            }
            counters.month = month;
            counters.month_calls = 0;
            counters.flushed_calls = 0;
        }
        let limits = state.limits;
        let month_exhausted = !limits.api_calls_per_month.allows(counters.month_calls, 1);
        let per_minute = match limits.requests_per_minute {
            Limit::Max(n) => u32::try_from(n).unwrap_or(u32::MAX),
            Limit::Unlimited => u32::MAX,
        };
        let policy = SlidingWindow::per_minute(per_minute);
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
        Ok(AdmitAnswer {
            state: Some(state),
            stale: false,
            rate: Some(decision),
            month_exhausted,
            month_calls,
            member,
        })
    }
}

impl DurableObject for TenantGate {
    fn new(state: State, env: Env) -> Self {
        let flush_secs = env
            .var("USAGE_FLUSH_SECS")
            .ok()
            .and_then(|v| v.to_string().parse::<i64>().ok())
            .filter(|s| *s > 0)
            .unwrap_or(DEFAULT_FLUSH_SECS);
        TenantGate {
            state,
            env,
            counters: RefCell::new(None),
            alarm_pending: Cell::new(false),
            flush_after_ms: flush_secs * 1000,
            hot: RefCell::new(None),
            generation: Cell::new(0),
            members: RefCell::new(HashMap::new()),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        match req.path().as_str() {
            "/admit" => {
                let ask: AdmitRequest = req.json().await?;
                Response::from_json(&self.answer(ask).await?)
            }
            "/invalidate" => {
                self.generation.set(self.generation.get() + 1);
                *self.hot.borrow_mut() = None;
                self.members.borrow_mut().clear();
                Ok(Response::empty()?.with_status(204))
            }
            _ => Response::error("no such operation", 404),
        }
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
