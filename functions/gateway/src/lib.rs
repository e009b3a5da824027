//! The gateway Worker: the only public Worker. It finds the route in the edge's routing
//! table, authenticates, resolves the tenant and admits and counts the request in the
//! tenant's Durable Object, all with `tenantry-core`'s decisions, then hands the request
//! to the Worker of its concern (people, records, mail, CRM, platform admin, relay,
//! webhooks) over a service binding with a signed context. It serves only `/healthz`
//! and `GET /v1/tenant` itself.

mod forward;
mod hints;

use serde::Deserialize;
use tenantry_core::auth::{Principal, PrincipalKind};
use tenantry_core::internal::TenantEntry;
use tenantry_core::limits::{Quota, QuotaExceeded};
use tenantry_core::ratelimit::RateDecision;
use tenantry_core::rbac::Required;
use tenantry_core::tenant::{Named, RequestFacts, ResolvedBy, Tenant, TenantKey, TenantResolver};
use tenantry_core::{ErrorCode, Problem};
use tenantry_edge::config::Config;
use tenantry_edge::db::{PlatformDb, TENANT_COLUMNS, rows, text};
use tenantry_edge::routes::{self, Access, Matched, Route, Service};
use tenantry_edge::tenant_state::{self, AdmitRequest, HotState};
use tenantry_edge::{Outcome, http, now_millis, now_secs};
use worker::{D1Database, Env, Request, Response, event};

/// A request after authentication.
pub struct Ctx {
    pub env: Env,
    pub db: D1Database,
    pub config: Config,
    pub request_id: String,
    pub now: i64,
    pub principal: Option<Principal>,
}

/// A request's way into its tenant.
enum Entry {
    /// Admitted and counted.
    Admitted(Box<TenantEntry>),
    /// Over the per-minute limit.
    Limited(RateDecision),
}

/// The tenant a request means, before its Durable Object is asked.
struct Target {
    tenant_id: String,
    /// The slugs and hostnames that named it, for the object to confirm.
    names: Vec<TenantKey>,
}

#[derive(Deserialize)]
struct IdRow {
    id: String,
}

/// The tenant `key` (a slug or a hostname) names: from this isolate's hints unless
/// `fresh`, else from D1.
async fn tenant_id_of(ctx: &Ctx, key: &TenantKey, fresh: bool) -> Outcome<Option<String>> {
    if !fresh && let Some(id) = hints::hint(key) {
        return Ok(Some(id));
    }
    let (sql, name) = match key {
        TenantKey::Id(id) => return Ok(Some(id.clone())),
        TenantKey::Slug(slug) => ("SELECT id FROM tenants WHERE slug = ?1", slug.as_str()),
        TenantKey::Hostname(host) => (
            "SELECT tenant_id AS id FROM tenant_hostnames WHERE hostname = ?1",
            host.as_str(),
        ),
    };
    let row: Option<IdRow> = PlatformDb(&ctx.db).first(sql, &[text(name)]).await?;
    if let Some(row) = &row {
        hints::remember(key, &row.id);
    }
    Ok(row.map(|r| r.id))
}

/// The one tenant the request's names agree on and its principal may act on, with no
/// D1 read when hints know the names. Anything else (names that disagree or name
/// nothing, a principal of another tenant) is decided by the core over the tenants
/// loaded from D1, which never touches a tenant's Durable Object.
async fn target(
    ctx: &Ctx,
    resolver: &TenantResolver,
    named: &[Named],
    principal: &Principal,
    fresh: bool,
) -> Outcome<Target> {
    let mut ids: Vec<String> = Vec::new();
    let mut names = Vec::new();
    let mut unknown = false;
    for source in named.iter().filter(|n| n.by != ResolvedBy::Token) {
        match tenant_id_of(ctx, &source.key, fresh).await? {
            Some(id) => {
                if !ids.contains(&id) {
                    ids.push(id);
                }
                if !matches!(source.key, TenantKey::Id(_)) {
                    names.push(source.key.clone());
                }
            }
            // An unregistered hostname names nothing (it may be the platform's own).
            None if matches!(source.key, TenantKey::Hostname(_)) => {}
            None => unknown = true,
        }
    }
    let home = principal.home_tenant.clone();
    let single = match ids.len() {
        0 => home,
        1 => ids.pop(),
        _ => None,
    };
    if !unknown
        && let Some(tenant_id) = single
        && principal.may_act_on(&tenant_id)
    {
        return Ok(Target { tenant_id, names });
    }
    let resolution = decide_from_d1(ctx, resolver, named, principal).await?;
    Ok(Target {
        tenant_id: resolution,
        names,
    })
}

/// The core's decision over every named tenant as D1 has it: the error to answer, or
/// (when the hints were wrong) the tenant id.
async fn decide_from_d1(
    ctx: &Ctx,
    resolver: &TenantResolver,
    named: &[Named],
    principal: &Principal,
) -> Outcome<String> {
    let mut keys: Vec<&TenantKey> = Vec::new();
    for source in named {
        if !keys.contains(&&source.key) {
            keys.push(&source.key);
        }
    }
    let platform = PlatformDb(&ctx.db);
    let statements = keys
        .iter()
        .map(|key| match key {
            TenantKey::Id(id) => platform.statement(&format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = ?1"), &[text(id)]),
            TenantKey::Slug(slug) => platform.statement(&format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE slug = ?1"), &[text(slug.as_str())]),
            TenantKey::Hostname(host) => platform.statement(
                &format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = (SELECT tenant_id FROM tenant_hostnames WHERE hostname = ?1)"),
                &[text(host.as_str())],
            ),
        })
        .collect::<Outcome<Vec<_>>>()?;
    let results = if statements.is_empty() {
        Vec::new()
    } else {
        platform.read_batch(statements).await?
    };
    let mut loaded: Vec<(&TenantKey, Tenant)> = Vec::new();
    for (key, result) in keys.iter().zip(&results) {
        if let Some(tenant) = rows::<Tenant>(result)?.into_iter().next() {
            loaded.push((key, tenant));
        }
    }
    let resolution = resolver.decide(named, Some(principal), |key| {
        loaded.iter().find(|(k, _)| *k == key).map(|(_, t)| t)
    })?;
    Ok(resolution.tenant.id)
}

/// Resolves the tenant, checks the principal's membership and the tenant's status, and
/// counts the request: one round trip to the tenant's Durable Object, no D1 read when
/// the request names its tenant by id, token or a known slug or hostname.
async fn enter_tenant(ctx: &Ctx, req: &Request, principal: &Principal) -> Outcome<Entry> {
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
    let mut fresh = false;
    let answer = loop {
        let target = target(ctx, &resolver, &named, principal, fresh).await?;
        let ask = AdmitRequest {
            tenant_id: target.tenant_id.clone(),
            names: target.names.clone(),
            may_act: principal.may_act_on(&target.tenant_id),
            member: principal
                .session
                .as_ref()
                .map(|_| principal.subject.clone()),
            session: principal.session.clone(),
            platform_operator: principal.is_superadmin(),
            now_ms: now_millis(),
        };
        let answer = tenant_state::admit(&ctx.env, &target.tenant_id, &ask).await?;
        if answer.stale && !fresh {
            target.names.iter().for_each(hints::forget);
            fresh = true;
            continue;
        }
        if answer.stale {
            // D1, read just now, and the object, reloaded just now, still disagree: a
            // change is in flight. The core decides over D1; if D1 admits, ask for a retry.
            decide_from_d1(ctx, &resolver, &named, principal).await?;
            return Err(Problem::new(
                ErrorCode::Conflict,
                "the tenant changed during the request; retry it",
            ));
        }
        break answer;
    };
    let require_mfa = answer.state.as_ref().is_some_and(|s| s.require_mfa);
    let current_role = match &answer.member {
        Some(member) => {
            if let Some(refused) = member.refusal(principal.is_superadmin(), require_mfa) {
                return Err(refused);
            }
            // An operator acts with its platform role, and its membership if it has one.
            member.current_role().map(str::to_string)
        }
        None => None,
    };
    let state: Option<&HotState> = answer.state.as_ref();
    let resolution = resolver.decide(&named, Some(principal), |key| {
        state.filter(|s| s.is_named_by(key)).map(|s| &s.tenant)
    })?;
    let (Some(state), Some(rate)) = (answer.state, answer.rate) else {
        return Err(tenantry_edge::internal(
            "the tenant object did not admit a request the resolver admits",
        ));
    };
    if answer.month_exhausted {
        return Err(QuotaExceeded {
            quota: Quota::ApiCallsPerMonth,
            current: answer.month_calls,
            limit: state.limits.api_calls_per_month,
            requested: 1,
        }
        .into());
    }
    if !rate.allowed {
        return Ok(Entry::Limited(rate));
    }
    let mut principal = principal.narrowed_to(&resolution.tenant.id);
    if let Some(role) = current_role {
        principal
            .memberships
            .iter_mut()
            .for_each(|m| m.role.clone_from(&role));
    }
    Ok(Entry::Admitted(Box::new(TenantEntry {
        principal,
        resolved_by: resolution.resolved_by,
        tenant: resolution.tenant,
        custom_roles: state.custom_roles,
        limits: state.limits,
        rate,
        month_calls: answer.month_calls,
    })))
}

/// 429 `rate_limited` with `Retry-After` and the `RateLimit` headers.
fn rate_limited(rate: &RateDecision, request_id: &str) -> worker::Result<Response> {
    let retry_after = rate.retry_after_secs().unwrap_or(1);
    let problem = Problem::new(
        ErrorCode::RateLimited,
        format!("{} requests per minute", rate.limit),
    )
    .with("retry_after", retry_after)
    .with("limit", rate.limit)
    .with("reset", rate.reset_secs);
    let mut response = http::problem(&problem, request_id)?;
    response
        .headers_mut()
        .set("retry-after", &retry_after.to_string())?;
    rate_headers(&mut response, rate)?;
    Ok(response)
}

fn rate_headers(response: &mut Response, rate: &RateDecision) -> worker::Result<()> {
    let headers = response.headers_mut();
    headers.set("ratelimit-policy", &rate.policy_header())?;
    headers.set("ratelimit", &rate.ratelimit_header())?;
    Ok(())
}

/// 403 `forbidden` naming the missing permission, unless the entry's principal holds it.
fn require(entry: &TenantEntry, required: Required<'_>) -> Outcome<()> {
    tenantry_edge::tenant_ctx::require(
        &entry.principal,
        &entry.tenant.id,
        &entry.custom_roles,
        required,
    )
}

/// 403 unless the principal is a platform superadmin.
fn require_superadmin(principal: &Principal) -> Outcome<()> {
    if principal.is_superadmin() {
        Ok(())
    } else {
        Err(
            Problem::new(ErrorCode::Forbidden, "missing permission platform:admin")
                .with("permission", "platform:admin"),
        )
    }
}

/// What the gateway does with a request once it has decided to serve it.
enum Plan {
    Healthz,
    /// `GET /v1/tenant`, answered here.
    TenantInfo(Box<TenantEntry>),
    /// Over the tenant's per-minute limit: 429.
    Limited(RateDecision),
    /// Hand the request to the Worker of its concern.
    Forward {
        service: Service,
        tenant_id: Option<String>,
        entry: Option<Box<TenantEntry>>,
    },
}

/// Everything decided before the request's body is touched: authentication, the
/// platform checks, the tenant's admission and the route's permission. An error here
/// is answered after the body is drained.
async fn decide(req: &Request, ctx: &mut Ctx, m: &Matched<'_>) -> Outcome<Plan> {
    let forward = |service: Service| Plan::Forward {
        service,
        tenant_id: None,
        entry: None,
    };
    let access = m.route.access();
    if access == Access::Public {
        return Ok(match m.route {
            Route::Healthz => Plan::Healthz,
            route => forward(route.service()),
        });
    }
    let authorization = req.headers().get("authorization").ok().flatten();
    ctx.principal =
        tenantry_edge::auth::authenticate(authorization.as_deref(), &ctx.config, &ctx.db, ctx.now)
            .await?;
    let principal = tenantry_edge::auth::require(ctx.principal.clone())?;
    match access {
        Access::Public => Err(routes::misrouted()),
        Access::Superadmin => {
            require_superadmin(&principal)?;
            tenantry_edge::auth::check_session(&ctx.db, &principal, ctx.now).await?;
            Ok(forward(m.route.service()))
        }
        Access::User => {
            if principal.kind != PrincipalKind::User {
                return Err(Problem::new(
                    ErrorCode::Forbidden,
                    "this route takes a signed-in person's access token",
                ));
            }
            tenantry_edge::auth::check_session(&ctx.db, &principal, ctx.now).await?;
            Ok(forward(m.route.service()))
        }
        Access::Relay => {
            principal.relay_scope().ok_or_else(|| {
                Problem::new(
                    ErrorCode::Forbidden,
                    "the relay API takes a platform relay key (rk_...)",
                )
            })?;
            // The relay API or the proofs Worker, as the routing table says.
            Ok(forward(m.route.service()))
        }
        Access::Tenant => {
            let entry = match enter_tenant(ctx, req, &principal).await? {
                Entry::Admitted(entry) => entry,
                Entry::Limited(rate) => return Ok(Plan::Limited(rate)),
            };
            match m.route {
                Route::GetTenant => {
                    require(&entry, Required::new("tenant", "read"))?;
                    Ok(Plan::TenantInfo(entry))
                }
                Route::Crm => {
                    let plan = tenantry_core::crm::plan(req.method().as_ref(), m.param(0))?;
                    require(&entry, Required::new(plan.permission.0, plan.permission.1))?;
                    Ok(Plan::Forward {
                        service: Service::Crm,
                        tenant_id: Some(entry.tenant.id.clone()),
                        entry: Some(entry),
                    })
                }
                route => Ok(Plan::Forward {
                    service: route.service(),
                    tenant_id: None,
                    entry: Some(entry),
                }),
            }
        }
    }
}

/// Carries out a plan; a tenant request's response gets the `RateLimit` headers.
async fn execute(mut req: Request, ctx: &Ctx, plan: Plan) -> Outcome<Response> {
    match plan {
        Plan::Healthz => http::json(200, &serde_json::json!({"status": "ok"})),
        Plan::Limited(rate) => {
            http::drain(&mut req).await;
            rate_limited(&rate, &ctx.request_id).map_err(tenantry_edge::internal)
        }
        Plan::TenantInfo(entry) => {
            let tenant = &entry.tenant;
            let mut response = http::json(
                200,
                &serde_json::json!({"id": tenant.id, "slug": tenant.slug, "name": tenant.name,
                    "plan": tenant.plan, "status": tenant.status, "resolved_by": entry.resolved_by,
                    // What the console may offer; every request is still authorized on its own.
                    "role": entry.principal.role_in(&tenant.id),
                    "permissions": tenantry_core::rbac::held_grants(&entry.principal, &tenant.id, &entry.custom_roles)}),
            )?;
            rate_headers(&mut response, &entry.rate).map_err(tenantry_edge::internal)?;
            Ok(response)
        }
        Plan::Forward {
            service,
            tenant_id,
            entry,
        } => {
            let rate = entry.as_ref().map(|e| e.rate);
            // The CRM tenant context carries only the tenant id: its Worker needs no more.
            let entry = if service == Service::Crm { None } else { entry };
            let mut response =
                forward::to(ctx, req, service, tenant_id.as_deref(), entry.map(|e| *e)).await?;
            if let Some(rate) = rate {
                rate_headers(&mut response, &rate).map_err(tenantry_edge::internal)?;
            }
            Ok(response)
        }
    }
}

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, _ctx: worker::Context) -> worker::Result<Response> {
    let request_id = http::request_id(&req);
    let decided = async {
        let path = routes::routed_path(req.path());
        // The table answers 404 and 405 before any credential, D1 or Durable Object work.
        let matched = routes::find(&req.method(), &path)?;
        let db = env
            .d1("DB")
            .map_err(|_| Problem::new(ErrorCode::Misconfigured, "the D1 binding DB is missing"))?;
        let mut ctx = Ctx {
            config: Config::load(&env)?,
            env,
            db,
            request_id: request_id.clone(),
            now: now_secs(),
            principal: None,
        };
        let plan = decide(&req, &mut ctx, &matched).await?;
        Ok((ctx, plan))
    }
    .await;
    let outcome = match decided {
        Ok((ctx, plan)) => execute(req, &ctx, plan).await,
        Err(problem) => {
            http::drain(&mut req).await;
            Err(problem)
        }
    };
    http::respond(outcome, &request_id)
}
