//! The gateway Worker: the only public Worker. It resolves the tenant, authenticates,
//! authorizes and rate-limits every `/v1/` request with `tenantry-core`, then serves the
//! tenant, admin, mail and relay APIs from D1.

mod admin;
mod export;
mod forward;
mod integrations;
mod limiter;
mod mail;
mod people;
mod relay;
mod relay_keys;
mod reseal;
mod scoped;

use serde::Deserialize;
use tenantry_core::auth::Principal;
use tenantry_core::limits::{Limits, Plan, Quota, QuotaExceeded};
use tenantry_core::rbac::{CustomRole, Decision, Required, authorize};
use tenantry_core::tenant::{
    RequestFacts, Tenant, TenantKey, TenantResolver, TenantStatus, strip_tenant_path,
};
use tenantry_core::{ErrorCode, Problem};
use tenantry_edge::config::Config;
use tenantry_edge::db::{PlatformDb, TenantDb, rows, text};
use tenantry_edge::{Outcome, audit, http, now_millis, now_secs};
use worker::{D1Database, Env, Method, Request, Response, event};

pub use limiter::TenantLimiter;

/// A request after authentication.
pub struct Ctx {
    pub env: Env,
    pub db: D1Database,
    pub config: Config,
    pub request_id: String,
    pub now: i64,
    pub principal: Option<Principal>,
}

/// A request after tenant resolution, authorization and rate limiting.
pub struct TenantCtx<'a> {
    pub ctx: &'a Ctx,
    pub tenant: Tenant,
    pub resolved_by: &'static str,
    pub principal: &'a Principal,
    pub db: TenantDb<'a>,
    pub custom_roles: Vec<CustomRole>,
    pub limits: Limits,
}

impl TenantCtx<'_> {
    /// 403 `forbidden` naming the missing permission, unless allowed.
    pub fn require(&self, required: Required<'_>) -> Outcome<()> {
        match authorize(
            self.principal,
            &self.tenant.id,
            &required,
            &self.custom_roles,
        ) {
            Decision::Allow => Ok(()),
            Decision::Deny { missing } => Err(Problem::new(
                ErrorCode::Forbidden,
                format!("missing permission {missing}"),
            )
            .with("permission", missing)),
        }
    }

    /// 403 unless this request's principal may grant `role` (the core's grant rule: no
    /// principal grants more than it holds; only an owner grants `owner`); 400 for a
    /// role the tenant does not have.
    pub fn may_grant(&self, role: &str) -> Outcome<()> {
        tenantry_core::rbac::may_grant_role(
            self.principal,
            &self.tenant.id,
            role,
            &self.custom_roles,
        )
        .map_err(Problem::from)
    }

    /// The audit entry of a change by this request's principal; it goes in the same D1
    /// batch as the change. `before` and `after` must not hold secrets.
    pub fn audit(
        &self,
        action: &str,
        resource: &str,
        resource_id: Option<&str>,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
    ) -> Outcome<worker::D1PreparedStatement> {
        let entry = audit::Entry {
            actor: &self.principal.subject,
            action,
            resource,
            resource_id,
            before,
            after,
        };
        audit::statement(&self.db, entry, &self.ctx.request_id, self.ctx.now)
    }

    /// The limits of the tenant's plan with its overrides.
    pub fn limits(&self) -> Limits {
        self.limits
    }
}

#[derive(Deserialize)]
struct OverrideRow {
    quota: String,
    value: f64,
}

fn overrides_statement(db: &TenantDb<'_>) -> Outcome<worker::D1PreparedStatement> {
    db.statement(
        "SELECT quota, value FROM limit_overrides WHERE tenant_id = ?1",
        &[],
    )
}

fn limits_from(plan: Plan, rows: &[OverrideRow]) -> Outcome<Limits> {
    let overrides = tenantry_core::limits::parse_overrides(
        rows.iter().map(|r| (r.quota.as_str(), r.value as i64)),
    )
    .map_err(tenantry_edge::internal)?;
    Ok(Limits::for_tenant(plan, &overrides))
}

#[derive(Deserialize)]
struct RoleRow {
    name: String,
    permissions: String,
}

fn roles_statement(db: &TenantDb<'_>) -> Outcome<worker::D1PreparedStatement> {
    db.statement(
        "SELECT name, permissions FROM custom_roles WHERE tenant_id = ?1",
        &[],
    )
}

fn roles_from(rows: Vec<RoleRow>) -> Vec<CustomRole> {
    rows.into_iter()
        .filter_map(|r| {
            Some(CustomRole {
                name: r.name,
                permissions: serde_json::from_str(&r.permissions).ok()?,
            })
        })
        .collect()
}

#[derive(Deserialize)]
pub(crate) struct TenantRow {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub plan: String,
    pub status: String,
}

impl TenantRow {
    pub fn into_tenant(self) -> Outcome<Tenant> {
        Ok(Tenant {
            plan: Plan::parse(&self.plan)
                .ok_or_else(|| tenantry_edge::internal("stored plan is unknown"))?,
            status: TenantStatus::parse(&self.status)
                .ok_or_else(|| tenantry_edge::internal("stored status is unknown"))?,
            id: self.id,
            slug: self.slug,
            name: self.name,
        })
    }
}

const TENANT_COLUMNS: &str = "id, slug, name, plan, status";

fn tenant_statement(db: &D1Database, key: &TenantKey) -> Outcome<worker::D1PreparedStatement> {
    let platform = PlatformDb(db);
    match key {
        TenantKey::Id(id) => platform.statement(&format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = ?1"), &[text(id)]),
        TenantKey::Slug(slug) => platform.statement(&format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE slug = ?1"), &[text(slug.as_str())]),
        TenantKey::Hostname(host) => platform.statement(
            &format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = (SELECT tenant_id FROM tenant_hostnames WHERE hostname = ?1)"),
            &[text(host.as_str())],
        ),
    }
}

/// Resolves, authorizes the principal's membership and rate-limits.
async fn enter_tenant<'a>(
    ctx: &'a Ctx,
    req: &Request,
    principal: &'a Principal,
) -> Outcome<(TenantCtx<'a>, limiter::LimitAnswer)> {
    let url = req.url().map_err(tenantry_edge::internal)?;
    let header = |name: &str| req.headers().get(name).ok().flatten();
    let host = header("host");
    let tenant_header = header("x-tenant");
    let tenant_id_header = header("x-tenant-id");
    let tenant_query = http::query_param(&url, "tenant");
    let facts = RequestFacts {
        host: host.as_deref(),
        path: url.path(),
        tenant_header: tenant_header.as_deref(),
        tenant_id_header: tenant_id_header.as_deref(),
        tenant_query: tenant_query.as_deref(),
    };
    let resolver = TenantResolver::new(ctx.config.platform_domain.clone());
    let named = resolver.named(&facts, Some(principal))?;
    // One D1 round trip: every tenant the request names and, for the principal's home
    // tenant (nearly always the one resolved), its custom roles and limit overrides.
    let mut keys: Vec<&TenantKey> = Vec::new();
    for source in &named {
        if !keys.contains(&&source.key) {
            keys.push(&source.key);
        }
    }
    let mut statements = keys
        .iter()
        .map(|key| tenant_statement(&ctx.db, key))
        .collect::<Outcome<Vec<_>>>()?;
    let home = principal.home_tenant.as_deref();
    if let Some(home) = home {
        let home_db = TenantDb::new(&ctx.db, home);
        statements.push(roles_statement(&home_db)?);
        statements.push(overrides_statement(&home_db)?);
    }
    let results = PlatformDb(&ctx.db).read_batch(statements).await?;
    let mut loaded: Vec<(&TenantKey, Tenant)> = Vec::new();
    for (key, result) in keys.iter().zip(&results) {
        if let Some(row) = rows::<TenantRow>(result)?.into_iter().next() {
            loaded.push((key, row.into_tenant()?));
        }
    }
    let resolution = resolver.decide(&named, Some(principal), |key| {
        loaded.iter().find(|(k, _)| *k == key).map(|(_, t)| t)
    })?;
    let db = TenantDb::new(&ctx.db, &resolution.tenant.id);
    let (role_rows, override_rows): (Vec<RoleRow>, Vec<OverrideRow>) =
        if home == Some(resolution.tenant.id.as_str()) {
            (rows(&results[keys.len()])?, rows(&results[keys.len() + 1])?)
        } else {
            let more = PlatformDb(&ctx.db)
                .read_batch(vec![roles_statement(&db)?, overrides_statement(&db)?])
                .await?;
            (rows(&more[0])?, rows(&more[1])?)
        };
    let custom_roles = roles_from(role_rows);
    let limits = limits_from(resolution.tenant.plan, &override_rows)?;
    let answer = rate_limit(ctx, &resolution.tenant.id, &limits).await?;
    let tenant_ctx = TenantCtx {
        ctx,
        resolved_by: resolution.resolved_by.as_str(),
        tenant: resolution.tenant,
        principal,
        db,
        custom_roles,
        limits,
    };
    if answer.month_exhausted {
        return Err(QuotaExceeded {
            quota: Quota::ApiCallsPerMonth,
            current: answer.month_calls,
            limit: limits.api_calls_per_month,
            requested: 1,
        }
        .to_problem());
    }
    if !answer.allowed {
        let retry = answer.retry_after_ms.unwrap_or(1000).div_ceil(1000).max(1);
        return Err(Problem::new(
            ErrorCode::RateLimited,
            format!("{} requests per minute", answer.limit),
        )
        .with("retry_after", retry)
        .with("limit", answer.limit)
        .with("reset", answer.reset_secs));
    }
    Ok((tenant_ctx, answer))
}

/// Asks the tenant's Durable Object to count the request against the per-minute limit
/// and the month's API calls.
async fn rate_limit(ctx: &Ctx, tenant_id: &str, limits: &Limits) -> Outcome<limiter::LimitAnswer> {
    let per_minute = match limits.requests_per_minute {
        tenantry_core::limits::Limit::Max(n) => u32::try_from(n).unwrap_or(u32::MAX),
        tenantry_core::limits::Limit::Unlimited => u32::MAX,
    };
    let ask = limiter::LimitRequest {
        tenant_id: tenant_id.to_owned(),
        limit: per_minute,
        month_calls_limit: limits.api_calls_per_month,
        now_ms: now_millis(),
        month: month(ctx.now),
    };
    let stub = ctx
        .env
        .durable_object("LIMITER")
        .and_then(|ns| ns.get_by_name(tenant_id))
        .map_err(tenantry_edge::internal)?;
    let mut init = worker::RequestInit::new();
    init.with_method(Method::Post).with_body(Some(
        serde_json::to_string(&ask)
            .map_err(tenantry_edge::internal)?
            .into(),
    ));
    let request =
        Request::new_with_init("https://limiter/check", &init).map_err(tenantry_edge::internal)?;
    let mut response = stub
        .fetch_with_request(request)
        .await
        .map_err(tenantry_edge::internal)?;
    response.json().await.map_err(tenantry_edge::internal)
}

/// `YYYY-MM` in UTC.
pub(crate) fn month(now: i64) -> String {
    let date = js_sys_date(now);
    format!("{:04}-{:02}", date.0, date.1)
}

fn js_sys_date(now: i64) -> (u32, u32, u32) {
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64((now * 1000) as f64));
    (
        d.get_utc_full_year(),
        d.get_utc_month() + 1,
        d.get_utc_date(),
    )
}

fn rate_headers(response: &mut Response, answer: &limiter::LimitAnswer) -> worker::Result<()> {
    let headers = response.headers_mut();
    headers.set(
        "ratelimit-policy",
        &format!(
            "\"{}\";q={};w=60",
            tenantry_core::ratelimit::POLICY_NAME,
            answer.limit
        ),
    )?;
    headers.set(
        "ratelimit",
        &format!(
            "\"{}\";r={};t={}",
            tenantry_core::ratelimit::POLICY_NAME,
            answer.remaining,
            answer.reset_secs
        ),
    )?;
    Ok(())
}

async fn route(req: Request, ctx: &Ctx) -> Outcome<Response> {
    let url = req.url().map_err(tenantry_edge::internal)?;
    let raw_path = url.path().to_string();
    let path = strip_tenant_path(&raw_path).unwrap_or(raw_path);
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let method = req.method();
    match segments.as_slice() {
        ["healthz"] => return http::json(200, &serde_json::json!({"status": "ok"})),
        ["webhook", "whatsapp", _] => return forward::webhook(ctx, req, "WHATSAPP").await,
        ["webhook", "stripe"] => return forward::webhook(ctx, req, "STRIPE").await,
        ["v1", "admin", rest @ ..] => {
            let principal = tenantry_edge::auth::require(ctx.principal.clone())?;
            if !principal.is_superadmin() {
                return Err(Problem::new(
                    ErrorCode::Forbidden,
                    "missing permission platform:admin",
                )
                .with("permission", "platform:admin"));
            }
            let rest: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
            return admin::route(req, ctx, &method, &rest).await;
        }
        ["v1", "relay", rest @ ..] => {
            let principal = tenantry_edge::auth::require(ctx.principal.clone())?;
            let rest: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
            return relay::route(req, ctx, &principal, &method, &rest).await;
        }
        ["v1", ..] => {}
        _ => return Err(http::not_found("route")),
    }
    let principal = tenantry_edge::auth::require(ctx.principal.clone())?;
    let (tenant_ctx, answer) = enter_tenant(ctx, &req, &principal).await?;
    let mut response = match &segments[1..] {
        ["crm", rest @ ..] => forward::crm(&tenant_ctx, req, &rest.join("/")).await?,
        rest => {
            let rest: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
            scoped::route(req, &tenant_ctx, &method, &rest, &answer).await?
        }
    };
    rate_headers(&mut response, &answer).map_err(tenantry_edge::internal)?;
    Ok(response)
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: worker::Context) -> worker::Result<Response> {
    let request_id = http::request_id(&req);
    let outcome = async {
        let db = env
            .d1("DB")
            .map_err(|_| Problem::new(ErrorCode::Misconfigured, "the D1 binding DB is missing"))?;
        let config = Config::load(&env)?;
        let now = now_secs();
        // Only the API authenticates: /healthz and the webhooks (signed by their senders)
        // answer the same whatever Authorization header comes along.
        let api = req.path().starts_with("/v1/");
        let authorization = req
            .headers()
            .get("authorization")
            .ok()
            .flatten()
            .filter(|_| api);
        let principal =
            tenantry_edge::auth::authenticate(authorization.as_deref(), &config, &db, now).await?;
        let ctx = Ctx {
            env,
            db,
            config,
            request_id: request_id.clone(),
            now,
            principal,
        };
        route(req, &ctx).await
    }
    .await;
    let outcome = match outcome {
        Err(problem) if problem.code == ErrorCode::RateLimited => {
            rate_limited(&problem, &request_id).map_err(tenantry_edge::internal)
        }
        other => other,
    };
    http::respond(outcome, &request_id)
}

/// The 429 problem with `Retry-After` and the `RateLimit` headers its members carry.
fn rate_limited(problem: &Problem, request_id: &str) -> worker::Result<Response> {
    let member = |name: &str| {
        problem
            .extensions
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.to_string())
            .unwrap_or_default()
    };
    let policy = tenantry_core::ratelimit::POLICY_NAME;
    let mut response = http::problem(problem, request_id)?;
    let headers = response.headers_mut();
    headers.set("retry-after", &member("retry_after"))?;
    headers.set(
        "ratelimit-policy",
        &format!("\"{policy}\";q={};w=60", member("limit")),
    )?;
    headers.set(
        "ratelimit",
        &format!("\"{policy}\";r=0;t={}", member("reset")),
    )?;
    Ok(response)
}
